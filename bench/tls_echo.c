/* TLS echo throughput and handshakes per second: corio's TLS server
 * against `openssl s_server`, both driven by the same client (this
 * program's, a corio TLS client in a process of its own).
 *
 *   build/release/bench/tls_echo [seconds_per_figure]
 *
 * Each server runs in a child pinned to one CPU (the last this process may
 * use; the client takes another where there is one), with a fresh EC
 * P-256 certificate, TLS 1.3 and OpenSSL's default cipher order. Figures:
 *
 *   tls_echo_4k_c1_corio / _s_server      4 KiB messages, one connection
 *   tls_echo_4k_c100_corio                4 KiB messages, 100 connections
 *   tls_echo_4k_writev64_c1_corio        the same 4 KiB sent as one writev
 *                                         of 64 buffers of 64 bytes (which
 *                                         corio coalesces into one record)
 *   tls_handshakes_corio / _s_server      full handshakes one after another
 *                                         (connect, handshake, one byte
 *                                         there and back, close)
 *   ..._ratio_vs_s_server                 corio / s_server
 *   ktls_ulp_available                    1 if setsockopt(TCP_ULP, "tls")
 *                                         works here, else 0
 *
 * `openssl s_server` serves one connection at a time, so it is measured
 * only where that is fair: one connection, and handshakes in sequence.
 * Its echo is `-rev` (each line comes back reversed: the same bytes
 * count), so messages are 4095 bytes and a newline. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <corio/combine.h>
#include <corio/net.h>
#include <corio/task.h>
#include <corio/tls.h>

#include "bench.h"

#ifndef TCP_ULP
#define TCP_ULP 31
#endif

enum { MSG = 4096, MANY = 100 };

static double seconds = 2.0;
/* The client's 4 KiB message leaves in this many buffers of one writev. */
static int write_pieces = 1;
static char dir[64], cert_path[96], key_path[96];

/* ---- the certificate ----------------------------------------------------- */

static int make_cert(void) {
  EVP_PKEY *key = EVP_EC_gen("P-256");
  X509 *cert = X509_new();
  X509V3_CTX v3;
  X509_EXTENSION *ext;
  FILE *f;
  int ok = 0;

  snprintf(dir, sizeof dir, "/tmp/corio-tls-bench-XXXXXX");
  if (!key || !cert || !mkdtemp(dir))
    goto done;
  snprintf(cert_path, sizeof cert_path, "%s/cert.pem", dir);
  snprintf(key_path, sizeof key_path, "%s/key.pem", dir);
  X509_set_version(cert, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
  X509_gmtime_adj(X509_getm_notBefore(cert), -60);
  X509_gmtime_adj(X509_getm_notAfter(cert), 86400);
  X509_set_pubkey(cert, key);
  X509_NAME_add_entry_by_txt(X509_get_subject_name(cert), "CN", MBSTRING_ASC,
                             (const unsigned char *)"localhost", -1, -1, 0);
  X509_set_issuer_name(cert, X509_get_subject_name(cert));
  X509V3_set_ctx_nodb(&v3);
  X509V3_set_ctx(&v3, cert, cert, NULL, NULL, 0);
  ext = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name,
                            "DNS:localhost,IP:127.0.0.1");
  if (!ext || !X509_add_ext(cert, ext, -1) ||
      !X509_sign(cert, key, EVP_sha256())) {
    X509_EXTENSION_free(ext);
    goto done;
  }
  X509_EXTENSION_free(ext);
  if ((f = fopen(cert_path, "w"))) {
    ok = PEM_write_X509(f, cert);
    ok = fclose(f) == 0 && ok;
  }
  if (ok && (f = fopen(key_path, "w"))) {
    ok = PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL);
    ok = fclose(f) == 0 && ok;
  } else {
    ok = 0;
  }
done:
  X509_free(cert);
  EVP_PKEY_free(key);
  return ok ? 0 : -1;
}

static void remove_cert(void) {
  unlink(cert_path);
  unlink(key_path);
  rmdir(dir);
}

/* ---- CPUs -----------------------------------------------------------------
 */

static int cpus[2] = {-1, -1}; /* the server's, the client's */

static void pick_cpus(void) {
  cpu_set_t set;
  int n = 0;

  if (sched_getaffinity(0, sizeof set, &set) != 0)
    return;
  for (int i = CPU_SETSIZE - 1; i >= 0 && n < 2; i--)
    if (CPU_ISSET(i, &set))
      cpus[n++] = i;
  if (n == 1)
    cpus[1] = cpus[0];
}

static void pin(int cpu) {
  cpu_set_t set;

  if (cpu < 0)
    return;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  (void)sched_setaffinity(0, sizeof set, &set);
}

/* ---- corio's server (in a child) ----------------------------------------- */

static int echo_handler(corio_stream *s, void *arg) {
  char buf[16384];
  size_t n;
  int rc;

  (void)arg;
  while ((rc = corio_stream_read(s, buf, sizeof buf, &n)) == 0 && n > 0)
    if ((rc = corio_stream_write_all(s, buf, n)) < 0)
      break;
  return 0;
}

static int server_main(void *arg, void **result) {
  int report_fd = *(int *)arg;
  corio_tls_context *ctx;
  corio_server_options o = {0};
  corio_server *srv;
  char line[32];
  int rc, len;

  (void)result;
  if ((rc = corio_tls_context_new(CORIO_TLS_SERVER, &ctx)) < 0 ||
      (rc = corio_tls_context_load_cert_chain(ctx, cert_path, key_path)) < 0)
    return rc;
  o.tls = ctx;
  o.backlog = 1024;
  if ((rc = corio_start_server(echo_handler, NULL, "127.0.0.1", 0, &o, &srv)) <
      0)
    return rc;
  len = snprintf(line, sizeof line, "ACCEPT 127.0.0.1:%d\n",
                 corio_server_port(srv));
  if (write(report_fd, line, (size_t)len) != len)
    return -EIO;
  close(report_fd);
  rc = corio_server_serve_forever(srv);
  corio_server_unref(srv);
  corio_tls_context_unref(ctx);
  return rc;
}

/* A port free now (s_server is given one: it prints its port only when
 * it also prints a line per connection, and a closed pipe would kill it). */
static int free_port(void) {
  struct sockaddr_in a = {.sin_family = AF_INET};
  socklen_t len = sizeof a;
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), port = -1;

  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
      getsockname(fd, (struct sockaddr *)&a, &len) == 0)
    port = ntohs(a.sin_port);
  if (fd >= 0)
    close(fd);
  return port;
}

/* Waits until something accepts on port (at most 5 s). */
static int wait_listening(int port) {
  struct sockaddr_in a = {.sin_family = AF_INET};

  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons((uint16_t)port);
  for (int i = 0; i < 500; i++) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), ok;

    ok = fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
    if (fd >= 0)
      close(fd);
    if (ok)
      return 0;
    usleep(10000);
  }
  return -1;
}

/* Starts a server child and finds its port: corio's child reports it on
 * a pipe ("ACCEPT 127.0.0.1:PORT"); s_server is given a free one. */
static pid_t start_server(int use_openssl, int *port) {
  int fds[2];
  char buf[256], accept_arg[32];
  size_t used = 0;
  pid_t pid;

  *port = 0;
  if (use_openssl) {
    *port = free_port();
    snprintf(accept_arg, sizeof accept_arg, "127.0.0.1:%d", *port);
  }
  if (pipe2(fds, O_CLOEXEC) != 0)
    return -1;
  pid = fork();
  if (pid == 0) {
    pin(cpus[0]);
    if (use_openssl) {
      int devnull = open("/dev/null", O_RDWR);

      dup2(devnull, 0);
      dup2(devnull, 1);
      dup2(devnull, 2);
      execlp("openssl", "openssl", "s_server", "-accept", accept_arg, "-cert",
             cert_path, "-key", key_path, "-rev", "-quiet", (char *)NULL);
      _exit(127);
    }
    close(fds[0]);
    signal(SIGTERM, SIG_DFL);
    _exit(corio_run(server_main, &fds[1], NULL) < 0);
  }
  close(fds[1]);
  if (use_openssl) {
    close(fds[0]);
    if (pid > 0 && wait_listening(*port) < 0) {
      kill(pid, SIGTERM);
      waitpid(pid, NULL, 0);
      return -1;
    }
    return pid;
  }
  while (pid > 0 && used < sizeof buf - 1) {
    ssize_t n = read(fds[0], buf + used, sizeof buf - 1 - used);
    char *p;

    if (n <= 0)
      break;
    used += (size_t)n;
    buf[used] = 0;
    if ((p = strstr(buf, "ACCEPT 127.0.0.1:")) && strchr(p, '\n')) {
      *port = atoi(p + strlen("ACCEPT 127.0.0.1:"));
      break;
    }
  }
  close(fds[0]);
  if (*port <= 0 && pid > 0) {
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
    return -1;
  }
  return pid;
}

static void stop_server(pid_t pid) {
  kill(pid, SIGTERM);
  waitpid(pid, NULL, 0);
}

/* ---- the client ---------------------------------------------------------- */

struct load {
  corio_tls_context *ctx;
  int port;
  double until;
  long count;
  int error;
};

static int connect_tls(struct load *l, corio_stream **s) {
  corio_connect_options o = {0};

  o.tls = l->ctx;
  o.server_hostname = "localhost";
  return corio_open_connection_ex("127.0.0.1", l->port, &o, s);
}

/* One connection: 4 KiB out, 4 KiB back, until the deadline. */
static int echo_loop(void *arg, void **result) {
  struct load *l = arg;
  char msg[MSG], back[MSG];
  struct iovec iov[MSG / 64];
  corio_stream *s;
  size_t n;
  int rc;

  (void)result;
  memset(msg, 'a', sizeof msg);
  msg[MSG - 1] = '\n';
  for (int i = 0; i < write_pieces; i++) {
    iov[i].iov_base = msg + (size_t)i * (MSG / (size_t)write_pieces);
    iov[i].iov_len = MSG / (size_t)write_pieces;
  }
  if ((rc = connect_tls(l, &s)) < 0) {
    l->error = rc;
    return 0;
  }
  while (bench_now_s() < l->until) {
    rc = write_pieces > 1 ? corio_stream_writev(s, iov, write_pieces)
                          : corio_stream_write(s, msg, MSG);
    if (rc < 0 || (rc = corio_stream_readexactly(s, back, MSG, &n)) < 0) {
      l->error = rc;
      break;
    }
    l->count++;
  }
  corio_stream_unref(s);
  return 0;
}

static int echo_main(void *arg, void **result) {
  struct load *l = arg;
  int conns = l->error; /* the count, passed in */
  corio_task *tasks[MANY];

  (void)result;
  l->error = 0;
  l->until = bench_now_s() + seconds;
  for (int i = 0; i < conns; i++)
    if (corio_spawn(&tasks[i], echo_loop, l) < 0)
      return -ENOMEM;
  for (int i = 0; i < conns; i++) {
    (void)corio_task_await(tasks[i], NULL);
    corio_task_unref(tasks[i]);
  }
  return 0;
}

static int handshake_main(void *arg, void **result) {
  struct load *l = arg;
  double until = bench_now_s() + seconds;
  char back[2];
  size_t n;

  (void)result;
  while (bench_now_s() < until) {
    corio_stream *s;
    int rc;

    if ((rc = connect_tls(l, &s)) < 0) {
      l->error = rc;
      break;
    }
    /* One byte there and back: the server has finished its side too. */
    rc = corio_stream_write(s, "x\n", 2);
    if (rc == 0)
      rc = corio_stream_readexactly(s, back, 2, &n);
    corio_stream_abort(s);
    corio_stream_unref(s);
    if (rc < 0) {
      l->error = rc;
      break;
    }
    l->count++;
  }
  return 0;
}

static double measure(int use_openssl, int conns, int handshakes,
                      corio_tls_context *ctx) {
  struct load l = {0};
  double start;
  pid_t pid = start_server(use_openssl, &l.port);

  if (pid < 0) {
    fprintf(stderr, "# %s: the server did not start\n",
            use_openssl ? "openssl s_server" : "corio");
    return 0;
  }
  l.ctx = ctx;
  l.error = conns;
  start = bench_now_s();
  (void)corio_run(handshakes ? handshake_main : echo_main, &l, NULL);
  stop_server(pid);
  if (l.error < 0)
    fprintf(stderr, "# %s: %s\n", use_openssl ? "s_server" : "corio",
            corio_strerror(l.error));
  return (double)l.count / (bench_now_s() - start);
}

/* ---- kTLS ---------------------------------------------------------------- */

static int ktls_available(void) {
  struct sockaddr_in a = {.sin_family = AF_INET};
  socklen_t len = sizeof a;
  int ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), ok = 0;

  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (ls >= 0 && c >= 0 && bind(ls, (struct sockaddr *)&a, sizeof a) == 0 &&
      listen(ls, 1) == 0 && getsockname(ls, (struct sockaddr *)&a, &len) == 0 &&
      connect(c, (struct sockaddr *)&a, sizeof a) == 0) {
    ok = setsockopt(c, IPPROTO_TCP, TCP_ULP, "tls", 3) == 0;
    if (!ok)
      fprintf(stderr, "# kTLS: setsockopt(TCP_ULP, \"tls\"): %s\n",
              strerror(errno));
  }
  if (ls >= 0)
    close(ls);
  if (c >= 0)
    close(c);
  return ok;
}

int main(int argc, char **argv) {
  corio_tls_context *ctx;
  double c1, c1_ref, c1_writev, c100, hs, hs_ref;

  if (argc > 1)
    seconds = atof(argv[1]);
  signal(SIGPIPE, SIG_IGN);
  if (make_cert() < 0) {
    fprintf(stderr, "tls_echo: could not make a certificate\n");
    return 1;
  }
  pick_cpus();
  pin(cpus[1]);
  fprintf(stderr, "# server on CPU %d, client on CPU %d, %.1f s per run\n",
          cpus[0], cpus[1], seconds);
  if (corio_tls_context_new(CORIO_TLS_CLIENT, &ctx) < 0 ||
      corio_tls_context_load_verify_locations(ctx, cert_path, NULL) < 0) {
    fprintf(stderr, "tls_echo: no client context\n");
    remove_cert();
    return 1;
  }
  c1 = measure(0, 1, 0, ctx);
  c1_ref = measure(1, 1, 0, ctx);
  write_pieces = MSG / 64;
  c1_writev = measure(0, 1, 0, ctx);
  write_pieces = 1;
  c100 = measure(0, MANY, 0, ctx);
  hs = measure(0, 1, 1, ctx);
  hs_ref = measure(1, 1, 1, ctx);
  bench_print("tls_echo_4k_c1_corio", c1, 0, "rt/s");
  bench_print("tls_echo_4k_c1_s_server", c1_ref, 0, "rt/s");
  bench_print("tls_echo_4k_c1_ratio_vs_s_server", c1_ref ? c1 / c1_ref : 0, 2,
              "x");
  bench_print("tls_echo_4k_writev64_c1_corio", c1_writev, 0, "rt/s");
  bench_print("tls_echo_4k_c100_corio", c100, 0, "rt/s");
  bench_print("tls_echo_4k_c100_corio_mib_per_s",
              c100 * 2 * MSG / (1024.0 * 1024.0), 1, "MiB/s");
  bench_print("tls_handshakes_corio", hs, 0, "/s");
  bench_print("tls_handshakes_s_server", hs_ref, 0, "/s");
  bench_print("tls_handshakes_ratio_vs_s_server", hs_ref ? hs / hs_ref : 0, 2,
              "x");
  bench_print("ktls_ulp_available", ktls_available(), 0, "");
  corio_tls_context_unref(ctx);
  remove_cert();
  return 0;
}
