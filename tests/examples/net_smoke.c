/* The smoke test of the server examples (echo_server, http_hello), which
 * run until a signal and so cannot be output-checked as the others are:
 *
 *   net_smoke echo|http COMMAND [ARGS...]
 *
 * starts COMMAND ARGS --port 0 (COMMAND may be a runner such as valgrind
 * followed by the program), waits for its "listening on HOST:PORT" line,
 * talks to it over loopback, checks every answer, then sends SIGTERM while
 * one client is still connected: that client must see the connection
 * closed, and the server must exit with status 0. Nothing here waits for
 * a time to pass: each step waits for the server's own output or answer.
 * A watchdog (WATCHDOG_S, far above any run, Valgrind's included) only
 * turns a hang into a failure, killing the server.
 *
 * echo: a short message, then 1 MiB written while the echo is read
 * (the server's write buffer and drain). http: two pipelined requests
 * and a HEAD on one connection, a request with a body, "Connection:
 * close" (answered, then closed), HTTP/1.0 (closed), a malformed request
 * (400, then closed), a request split across writes. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define WATCHDOG_S 300
#define BIG ((size_t)1 << 20)

static pid_t server = -1;

static void fail(const char *fmt, ...) {
  va_list ap;

  va_start(ap, fmt);
  fprintf(stderr, "net_smoke: ");
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, "\n");
  va_end(ap);
  if (server > 0)
    kill(server, SIGKILL);
  exit(1);
}

static void on_alarm(int sig) {
  (void)sig;
  if (server > 0)
    kill(server, SIGKILL);
  _exit(1);
}

/* Waits until fd is ready for events (the watchdog bounds it). */
static void wait_fd(int fd, short events) {
  struct pollfd p = {fd, events, 0};

  while (poll(&p, 1, -1) < 0)
    if (errno != EINTR)
      fail("poll: %s", strerror(errno));
}

/* Starts the server with stdout on a pipe; returns the pipe's read end. */
static int start(char **command, int n) {
  char **args = calloc((size_t)n + 3, sizeof *args);
  int out[2];

  if (!args || pipe(out) != 0)
    fail("pipe: %s", strerror(errno));
  memcpy(args, command, (size_t)n * sizeof *args);
  args[n] = "--port";
  args[n + 1] = "0";
  server = fork();
  if (server < 0)
    fail("fork: %s", strerror(errno));
  if (server == 0) {
    dup2(out[1], STDOUT_FILENO);
    close(out[0]);
    close(out[1]);
    execvp(args[0], args);
    perror(args[0]);
    _exit(127);
  }
  close(out[1]);
  free(args);
  return out[0];
}

/* Reads the server's stdout up to its "listening on ...:PORT" line. */
static int wait_listening(int fd) {
  char buf[4096];
  size_t len = 0;
  ssize_t n;
  char *line, *nl, *colon;

  for (;;) {
    buf[len] = 0;
    line = strstr(buf, "listening on ");
    if (line && (nl = strchr(line, '\n'))) {
      *nl = 0;
      colon = strrchr(line, ':');
      if (!colon || atoi(colon + 1) <= 0)
        fail("bad line: %s", line);
      printf("server: %s\n", line);
      return atoi(colon + 1);
    }
    if (len == sizeof buf - 1)
      fail("no listening line in: %s", buf);
    n = read(fd, buf + len, sizeof buf - 1 - len);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      fail("the server exited before listening");
    len += (size_t)n;
  }
}

static int dial(int port) {
  struct sockaddr_in sa = {0};
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

  sa.sin_family = AF_INET;
  sa.sin_port = htons((unsigned short)port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0)
    fail("connect to port %d: %s", port, strerror(errno));
  return fd;
}

static void send_all(int fd, const void *data, size_t len) {
  const char *p = data;

  while (len) {
    ssize_t n = write(fd, p, len);

    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      fail("write: %s", strerror(errno));
    p += n;
    len -= (size_t)n;
  }
}

/* Reads until `want` bytes are in buf (or EOF, when until_eof); returns
 * the count. */
static size_t recv_some(int fd, char *buf, size_t cap, size_t want,
                        int until_eof) {
  size_t len = 0;

  while (until_eof ? len < cap : len < want) {
    ssize_t n;

    wait_fd(fd, POLLIN);
    n = read(fd, buf + len, cap - len);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0 && errno == ECONNRESET && until_eof)
      break;
    if (n < 0)
      fail("read: %s", strerror(errno));
    if (n == 0)
      break;
    len += (size_t)n;
  }
  return len;
}

/* The server closes the connection: EOF (after anything still to come). */
static void expect_eof(int fd, const char *what) {
  char buf[4096];
  size_t n = recv_some(fd, buf, sizeof buf, 0, 1);

  if (n != 0)
    fail("%s: %zu more bytes before EOF", what, n);
}

/* ---- echo ---------------------------------------------------------------- */

static void echo_short(int fd) {
  static const char msg[] = "hello, corio\n";
  char buf[sizeof msg];

  send_all(fd, msg, sizeof msg - 1);
  if (recv_some(fd, buf, sizeof buf, sizeof msg - 1, 0) != sizeof msg - 1 ||
      memcmp(buf, msg, sizeof msg - 1) != 0)
    fail("echo: short message not echoed");
}

/* 1 MiB out while its echo comes in: the server must keep up with a
 * client that reads slower than it writes, without losing a byte. */
static void echo_big(int port) {
  char *out = malloc(BIG), *in = malloc(BIG);
  size_t sent = 0, got = 0;
  int fd = dial(port);

  if (!out || !in)
    fail("out of memory");
  for (size_t i = 0; i < BIG; i++)
    out[i] = (char)(i * 7 + i / 251);
  while (got < BIG) {
    struct pollfd p = {fd, (short)(POLLIN | (sent < BIG ? POLLOUT : 0)), 0};
    ssize_t n;

    if (poll(&p, 1, -1) < 0 && errno != EINTR)
      fail("poll: %s", strerror(errno));
    if ((p.revents & POLLOUT) && sent < BIG) {
      n = write(fd, out + sent, BIG - sent < 65536 ? BIG - sent : 65536);
      if (n < 0 && errno != EINTR && errno != EAGAIN)
        fail("write: %s", strerror(errno));
      if (n > 0)
        sent += (size_t)n;
    }
    if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
      n = read(fd, in + got, BIG - got);
      if (n <= 0)
        fail("echo: connection lost after %zu bytes", got);
      got += (size_t)n;
    }
  }
  if (memcmp(in, out, BIG) != 0)
    fail("echo: 1 MiB came back different");
  close(fd);
  free(out);
  free(in);
}

/* Returns a connection left open across the stop. */
static int smoke_echo(int port) {
  int idle = dial(port);

  echo_short(idle);
  echo_big(port);
  printf("echo: ok\n");
  return idle;
}

/* ---- http ---------------------------------------------------------------- */

#define HELLO "Hello, World!"

/* Checks n answers of `status` in buf[0..len) (with bodies unless head);
 * returns the offset after them. */
static size_t check_answers(const char *buf, size_t len, int n,
                            const char *status, const char *body, int head_last,
                            int close) {
  size_t off = 0;

  for (int i = 0; i < n; i++) {
    const char *p = buf + off, *end;
    int head = head_last && i == n - 1;

    if (len - off < strlen(status) || memcmp(p, status, strlen(status)) != 0)
      fail("http: answer %d does not start with %s: %.*s", i, status,
           (int)(len - off), p);
    end = memmem(p, len - off, "\r\n\r\n", 4);
    if (!end)
      fail("http: answer %d has no end of headers", i);
    if (!memmem(p, (size_t)(end - p), "\r\nServer: corio\r\n", 17) ||
        !memmem(p, (size_t)(end - p), "\r\nDate: ", 8) ||
        !memmem(p, (size_t)(end - p), "\r\nContent-Type: text/plain\r\n", 28))
      fail("http: answer %d lacks a header: %.*s", i, (int)(end - p), p);
    if (close !=
        (memmem(p, (size_t)(end - p), "\r\nConnection: close", 19) != NULL))
      fail("http: answer %d: Connection: close %s", i,
           close ? "missing" : "unexpected");
    end += 4;
    if (!head) {
      if ((size_t)(buf + len - end) < strlen(body) ||
          memcmp(end, body, strlen(body)) != 0)
        fail("http: answer %d: wrong body", i);
      end += strlen(body);
    }
    off = (size_t)(end - buf);
  }
  return off;
}

/* Sends req, reads until `bytes` came (or EOF), checks n answers. */
static void ask(int fd, const char *req, int n, const char *status,
                const char *body, int head_last, int close) {
  char buf[8192];
  size_t len = 0;

  send_all(fd, req, strlen(req));
  for (;;) {
    char *p = buf;
    size_t left, found = 0;

    buf[len] = 0;
    /* Count complete answers so far. */
    for (left = len; found < (size_t)n;) {
      char *end = memmem(p, left, "\r\n\r\n", 4);
      size_t size;

      if (!end)
        break;
      size = (size_t)(end + 4 - p) +
             ((head_last && found == (size_t)n - 1) ? 0 : strlen(body));
      if (size > left)
        break;
      p += size;
      left -= size;
      found++;
    }
    if (found == (size_t)n)
      break;
    if (len == sizeof buf - 1)
      fail("http: answers too long");
    wait_fd(fd, POLLIN);
    {
      ssize_t r = read(fd, buf + len, sizeof buf - 1 - len);

      if (r < 0 && errno == EINTR)
        continue;
      if (r <= 0)
        fail("http: connection closed after %zu bytes: %s", len, buf);
      len += (size_t)r;
    }
  }
  if (check_answers(buf, len, n, status, body, head_last, close) != len)
    fail("http: more bytes than %d answers: %s", n, buf);
}

static int smoke_http(int port) {
  int keep = dial(port), fd;

  /* Pipelining: three requests in one write, three answers. */
  ask(keep,
      "GET / HTTP/1.1\r\nHost: a\r\n\r\n"
      "GET /x?y HTTP/1.1\r\nHost: a\r\nUser-Agent: smoke\r\n\r\n"
      "HEAD / HTTP/1.1\r\nhost: a\r\n\r\n",
      3, "HTTP/1.1 200 OK\r\n", HELLO, 1, 0);
  /* A body is read and skipped; a request in two writes. */
  ask(keep, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nabcde", 1,
      "HTTP/1.1 200 OK\r\n", HELLO, 0, 0);
  send_all(keep, "GET / HTTP/1.1\r\nHo", 18);
  ask(keep, "st: a\r\n\r\n", 1, "HTTP/1.1 200 OK\r\n", HELLO, 0, 0);

  fd = dial(port);
  ask(fd, "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", 1,
      "HTTP/1.1 200 OK\r\n", HELLO, 0, 1);
  expect_eof(fd, "http: Connection: close");
  close(fd);

  fd = dial(port);
  ask(fd, "GET / HTTP/1.0\r\n\r\n", 1, "HTTP/1.1 200 OK\r\n", HELLO, 0, 1);
  expect_eof(fd, "http: HTTP/1.0");
  close(fd);

  fd = dial(port);
  ask(fd, "NONSENSE\r\n\r\n", 1, "HTTP/1.1 400 Bad Request\r\n", "Bad Request",
      0, 1);
  expect_eof(fd, "http: malformed request");
  close(fd);
  printf("http: ok\n");
  return keep;
}

int main(int argc, char **argv) {
  int out, port, idle, status;

  if (argc < 3 || (strcmp(argv[1], "echo") != 0 && strcmp(argv[1], "http"))) {
    fprintf(stderr, "usage: net_smoke echo|http COMMAND [ARGS...]\n");
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  signal(SIGALRM, on_alarm);
  alarm(WATCHDOG_S);
  out = start(argv + 2, argc - 2);
  port = wait_listening(out);
  idle = argv[1][0] == 'e' ? smoke_echo(port) : smoke_http(port);

  /* The stop: the idle client sees its connection closed, the server
   * exits with 0. */
  if (kill(server, SIGTERM) != 0)
    fail("kill: %s", strerror(errno));
  expect_eof(idle, "after SIGTERM");
  while (waitpid(server, &status, 0) < 0)
    if (errno != EINTR)
      fail("waitpid: %s", strerror(errno));
  server = -1;
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    fail("the server ended with status %#x after SIGTERM", status);
  printf("stopped by SIGTERM: ok\n");
  return 0;
}
