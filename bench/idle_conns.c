/* idle_conns: the memory an idle keep-alive connection costs a corio
 * server (target: at most 8 KiB each).
 *
 *   idle_conns [CONNECTIONS]     (default 10000, or $IDLE_CONNS)
 *
 * This process is the server: corio_run, corio_start_server on loopback,
 * and a keep-alive handler that answers each request ("\r\n\r\n"-ended,
 * parsed in place with corio_stream_peek/consume) and waits for the next.
 * A forked child, which never touches corio, is the client: it opens the
 * connections with plain blocking sockets and makes one request on each,
 * so every connection's handler task has run (its stack is in use, its
 * stream has read and written) and is back waiting in its read. The two
 * talk over a socketpair (a corio stream on the server's side): the port
 * goes to the child, "ready" comes back once every connection has had its
 * answer. The server's VmRSS (/proc/self/status) is read before the child
 * connects and again then, with every connection idle:
 *
 *   idle_conns: 10000 connections
 *   idle_conn_rss_per_conn: N bytes
 *
 * Each process needs an fd per connection and a few more: RLIMIT_NOFILE's
 * soft limit is raised to the hard one, and the count is lowered (with a
 * note on stderr) if even that is too small. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <corio/coro.h>
#include <corio/net.h>
#include <corio/task.h>

#include "bench.h"

#define DEFAULT_CONNS 10000
/* fds each process needs besides its connections. */
#define SPARE_FDS 32

static const char request[] = "GET / HTTP/1.1\r\nHost: idle\r\n\r\n";
static const char answer[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

/* ---- the client (the child) ---------------------------------------------- */

static void child_fail(const char *what) {
  perror(what);
  _exit(1);
}

static void child_write(int fd, const char *data, size_t len) {
  while (len) {
    ssize_t n = write(fd, data, len);

    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      child_fail("idle_conns client: write");
    data += n;
    len -= (size_t)n;
  }
}

/* Reads exactly len bytes. */
static void child_read(int fd, char *buf, size_t len) {
  while (len) {
    ssize_t n = read(fd, buf, len);

    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      child_fail("idle_conns client: read");
    buf += n;
    len -= (size_t)n;
  }
}

static void client(int ctl, long conns) {
  int *fds = calloc((size_t)conns, sizeof *fds);
  struct sockaddr_in sa = {0};
  char line[32] = {0}, buf[sizeof answer];
  ssize_t n;

  if (!fds)
    child_fail("idle_conns client: calloc");
  n = read(ctl, line, sizeof line - 1);
  if (n <= 0)
    child_fail("idle_conns client: reading the port");
  sa.sin_family = AF_INET;
  sa.sin_port = htons((unsigned short)atoi(line));
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  for (long i = 0; i < conns; i++) {
    fds[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fds[i] < 0)
      child_fail("idle_conns client: socket");
    if (connect(fds[i], (struct sockaddr *)&sa, sizeof sa) != 0)
      child_fail("idle_conns client: connect");
    child_write(fds[i], request, sizeof request - 1);
    child_read(fds[i], buf, sizeof answer - 1);
    if (memcmp(buf, answer, sizeof answer - 1) != 0) {
      fprintf(stderr, "idle_conns client: wrong answer\n");
      _exit(1);
    }
  }
  child_write(ctl, "ready\n", 6);
  /* Hold the connections until the server has measured (it closes ctl
   * or says "done"). */
  (void)read(ctl, line, sizeof line);
  for (long i = 0; i < conns; i++)
    close(fds[i]);
  _exit(0);
}

/* ---- the server (this process) ------------------------------------------- */

typedef struct server_state {
  long conns;
  int ctl; /* our end of the socketpair */
  long answered;
  double rss_before, rss_after;
} server_state;

/* Keep-alive: answer each complete request, wait for the next. */
static int handler(corio_stream *s, void *arg) {
  server_state *st = arg;
  size_t have = 0, len;
  const void *data;
  const char *end;
  int rc;

  for (;;) {
    rc = corio_stream_peek(s, have, &data, &len);
    if (rc < 0 || len <= have)
      break;
    end = memmem(data, len, "\r\n\r\n", 4);
    if (!end) {
      have = len;
      continue;
    }
    if ((rc = corio_stream_write(s, answer, sizeof answer - 1)) < 0)
      break;
    (void)corio_stream_consume(s, (size_t)(end + 4 - (const char *)data));
    have = 0;
    st->answered++;
  }
  return rc == -ECANCELED ? rc : 0;
}

static int server_main(void *arg, void **result) {
  server_state *st = arg;
  corio_server_options options = {0};
  corio_server *server = NULL;
  corio_stream *ctl = NULL;
  char line[32];
  size_t n;
  int rc;

  (void)result;
  options.backlog = 4096;
  rc = corio_start_server(handler, st, "127.0.0.1", 0, &options, &server);
  if (rc < 0)
    return corio_fail(rc, "corio_start_server");
  rc = corio_stream_open_fd(NULL, st->ctl, NULL, &ctl);
  st->ctl = -1; /* the stream's now */
  if (rc < 0)
    goto out;
  st->rss_before = (double)bench_status_bytes("VmRSS");
  snprintf(line, sizeof line, "%d\n", corio_server_port(server));
  if ((rc = corio_stream_write(ctl, line, strlen(line))) < 0 ||
      (rc = corio_stream_readline(ctl, line, sizeof line, &n)) < 0)
    goto out;
  if (n != 6 || memcmp(line, "ready\n", 6) != 0) {
    rc = corio_fail(-EPROTO, "the client failed");
    goto out;
  }
  /* Every connection has had its answer; its handler waits in a peek. */
  if ((long)corio_server_clients(server) != st->conns ||
      st->answered != st->conns) {
    rc = corio_fail(-EPROTO, "%zu connections, %ld answered",
                    corio_server_clients(server), st->answered);
    goto out;
  }
  st->rss_after = (double)bench_status_bytes("VmRSS");
  rc = corio_stream_write(ctl, "done\n", 5);
  (void)corio_stream_drain(ctl);

out:
  if (ctl)
    corio_stream_unref(ctl);
  (void)corio_server_close(server);
  (void)corio_server_abort_clients(server);
  (void)corio_server_wait_closed(server);
  corio_server_unref(server);
  return rc;
}

/* Raises the fd limit as far as it goes; returns how many connections fit
 * in it. */
static long fit_fd_limit(long conns) {
  struct rlimit rl;

  if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
    return conns;
  if (rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    (void)setrlimit(RLIMIT_NOFILE, &rl);
  }
  if (rl.rlim_cur != RLIM_INFINITY && (rlim_t)conns + SPARE_FDS > rl.rlim_cur) {
    long fit = (long)rl.rlim_cur - SPARE_FDS;

    fprintf(stderr, "# idle_conns: fd limit %llu: %ld connections, not %ld\n",
            (unsigned long long)rl.rlim_cur, fit, conns);
    return fit;
  }
  return conns;
}

int main(int argc, char **argv) {
  const char *env = getenv("IDLE_CONNS");
  server_state st = {0};
  char message[256];
  int ctl[2], status, rc;
  pid_t child;

  st.conns = argc > 1 ? atol(argv[1]) : env ? atol(env) : DEFAULT_CONNS;
  if (st.conns < 1) {
    fprintf(stderr, "usage: idle_conns [CONNECTIONS]\n");
    return 2;
  }
  st.conns = fit_fd_limit(st.conns);
  if (st.conns < 1)
    return 1;
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ctl) != 0) {
    perror("idle_conns: socketpair");
    return 1;
  }
  /* Before corio runs: the child never touches it. */
  fflush(stdout);
  child = fork();
  if (child < 0) {
    perror("idle_conns: fork");
    return 1;
  }
  if (child == 0) {
    close(ctl[0]);
    client(ctl[1], st.conns);
  }
  close(ctl[1]);
  st.ctl = ctl[0];
  rc = corio_run_ex(server_main, &st, NULL, message, sizeof message);
  if (st.ctl >= 0)
    close(st.ctl);
  if (rc < 0)
    kill(child, SIGKILL); /* it may wait for a port or a "done" */
  while (waitpid(child, &status, 0) < 0 && errno == EINTR)
    ;
  corio_coro_pool_trim();
  if (rc < 0) {
    fprintf(stderr, "idle_conns: %s%s%s\n", corio_strerror(rc),
            *message ? ": " : "", message);
    return 1;
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    fprintf(stderr, "idle_conns: the client failed\n");
    return 1;
  }
  bench_print("idle_conns", (double)st.conns, 0, "connections");
  bench_print("idle_conn_rss_per_conn",
              (st.rss_after - st.rss_before) / (double)st.conns, 0, "bytes");
  return 0;
}
