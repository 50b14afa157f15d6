/* c10k: the soak. Corio echo servers hold N concurrent TCP connections,
 * every connection exchanges M messages whose every byte is checked, and
 * the servers' memory per connection is measured.
 *
 *   c10k [--connections N] [--processes P] [--messages M] [--size S]
 *        [--stall SECONDS] [--label NAME] [--inject corrupt|drop|duplicate]
 *
 * Defaults: N 19000, P 1, M 20, S 128, stall 60, label c10k. The process
 * started is a coordinator that never touches corio; it forks:
 *
 *   - P servers, each a corio loop (corio_run) with an echo server on
 *     127.0.0.1 at one shared port (CORIO_NET_REUSE_PORT: the kernel
 *     spreads the connections over the P listeners). The handler echoes
 *     with peek/write/consume and drains when the client falls behind;
 *   - P clients in plain epoll, no corio, so that the bytes are checked
 *     by code independent of what is tested. Client p opens its share of
 *     the N connections from 127.<salt>.0.<2 + i / 10000> (bound with
 *     IP_BIND_ADDRESS_NO_PORT, so the port is picked per 4-tuple at
 *     connect and the ~28,000 ephemeral ports of one source address do
 *     not run out), at most CONNECT_WINDOW connects in flight.
 *
 * The phases, each a command from the coordinator over a socketpair:
 * connect every connection (all are then open at once: the coordinator
 * waits until the servers have accepted every one); exchange (on every
 * connection, message m of 1..S bytes goes out once the echo of m - 1 is
 * back, whole and right); finish (each client half-closes, the server
 * sees EOF and closes, the client must then read EOF with no byte more).
 *
 * Message m of connection i is a byte pattern of i and m (its length
 * too), so a byte lost, duplicated, reordered, corrupted or delivered to
 * the wrong connection shows as an error. Errors are counted, never
 * retried: connects that fail, messages wrong or never echoed (stalled
 * STALL seconds with no progress anywhere), bytes after the last echo,
 * connections whose handler ended on an error. The exit status is 0 only
 * with 0 errors and every message echoed. --inject makes one server
 * misbehave on purpose (one byte changed, one echo short by a byte, one
 * echo sent twice), to show that the check catches it.
 *
 * Server memory: VmRSS of each server from /proc/<pid>/status, summed,
 * when listening (before), with every connection accepted and idle
 * (connected), and after the exchange with every connection still open.
 *
 * Each process holds one fd per connection and a few more, under
 * RLIMIT_NOFILE (raised to its hard limit; 20,000 on the machine this
 * was written on); a server's share under SO_REUSEPORT varies a little
 * (hash of the 4-tuple), so each must fit N / P plus a margin. A count
 * that does not fit is refused, except when c10k runs with no arguments
 * (`make bench`): the count is then lowered to fit, with a note. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <corio/net.h>
#include <corio/task.h>

#include "bench.h"

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

#define MAX_PROCESSES 64
/* fds a process needs besides its connections. */
#define SPARE_FDS 64
/* Connections per client source address: well under the ephemeral range
 * (32768..60999 by default), so TIME_WAIT leftovers never exhaust it. */
#define CONNS_PER_SOURCE 10000
/* Connects in flight per client: below the listen backlog. */
#define CONNECT_WINDOW 512
#define BACKLOG 4096
/* Bound on each wait of the coordinator for a child's answer. */
#define CTL_TIMEOUT_MS (600 * 1000)

enum inject { INJECT_NONE, INJECT_CORRUPT, INJECT_DROP, INJECT_DUPLICATE };

typedef struct settings {
  long conns;
  int processes;
  long messages;
  int size; /* largest message */
  int stall_s;
  const char *label;
  int salt; /* source addresses are 127.<salt>.0.x */
  int inject;
} settings;

/* ---- the byte pattern ------------------------------------------------- */

static uint32_t mix(uint32_t conn, uint32_t msg) {
  uint32_t x = conn * 2654435761u ^ (msg + 1) * 2246822519u;

  x ^= x >> 15;
  x *= 2246822519u;
  x ^= x >> 13;
  return x;
}

static size_t message_len(const settings *s, uint32_t conn, uint32_t msg) {
  return 1 + mix(conn, msg) % (uint32_t)s->size;
}

static uint8_t pattern_byte(uint32_t key, size_t j) {
  return (uint8_t)((key >> (8 * (j & 3))) + (j >> 2) * 37);
}

/* ---- control lines ----------------------------------------------------- */

static int write_line(int fd, const char *line) {
  size_t len = strlen(line);

  while (len) {
    ssize_t n = write(fd, line, len);

    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return -1;
    line += n;
    len -= (size_t)n;
  }
  return 0;
}

/* One line (without its newline) into buf, within timeout_ms; -1 on EOF,
 * error or timeout. Byte by byte: the lines are few and short. */
static int read_line(int fd, char *buf, size_t cap, int timeout_ms) {
  size_t len = 0;

  for (;;) {
    struct pollfd pfd = {fd, POLLIN, 0};
    int rc = poll(&pfd, 1, timeout_ms);
    char c;
    ssize_t n;

    if (rc < 0 && errno == EINTR)
      continue;
    if (rc <= 0)
      return -1;
    n = read(fd, &c, 1);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return -1;
    if (c == '\n')
      break;
    if (len + 1 < cap)
      buf[len++] = c;
  }
  buf[len] = 0;
  return 0;
}

/* ---- the server (a child, corio) --------------------------------------- */

typedef struct server_state {
  int ctl;
  int inject; /* enum inject: the first server's 10th connection */
  long accepted;
  long conn_errors; /* handlers that ended on an error, not on EOF */
} server_state;

/* --inject: one wrong echo, on the 3rd read of the connection. */
static int echo_wrong(corio_stream *s, int inject, const void *data,
                      size_t len) {
  uint8_t copy[65536];

  if (inject == INJECT_DUPLICATE)
    (void)corio_stream_write(s, data, len);
  if (inject == INJECT_DROP)
    len--; /* the read was not empty */
  len = len < sizeof copy ? len : sizeof copy;
  memcpy(copy, data, len);
  if (inject == INJECT_CORRUPT && len)
    copy[len / 2] ^= 0x20;
  return corio_stream_write(s, copy, len);
}

static int echo_handler(corio_stream *s, void *arg) {
  server_state *st = arg;
  int inject = ++st->accepted == 10 ? st->inject : INJECT_NONE, reads = 0;
  const void *data;
  size_t len;
  int rc;

  for (;;) {
    rc = corio_stream_peek(s, 0, &data, &len);
    if (rc < 0 || len == 0)
      break;
    if (inject && ++reads == 3)
      rc = echo_wrong(s, inject, data, len);
    else
      rc = corio_stream_write(s, data, len);
    (void)corio_stream_consume(s, len);
    if (rc < 0)
      break;
    /* The client never sends ahead, so this rarely waits. */
    if (corio_stream_write_buffer_size(s) && (rc = corio_stream_drain(s)) < 0)
      break;
  }
  if (rc < 0 && rc != -ECANCELED)
    st->conn_errors++;
  return rc == -ECANCELED ? rc : 0;
}

static int ctl_reply(corio_stream *ctl, const char *line) {
  return corio_stream_write(ctl, line, strlen(line));
}

static int server_main(void *arg, void **result) {
  server_state *st = arg;
  corio_server_options options = {0};
  corio_server *server = NULL;
  corio_stream *ctl = NULL;
  char line[128];
  size_t n;
  int rc;

  (void)result;
  rc = corio_stream_open_fd(NULL, st->ctl, NULL, &ctl);
  st->ctl = -1; /* the stream's now */
  if (rc < 0)
    return rc;
  options.backlog = BACKLOG;
  options.family = AF_INET;
  options.flags = CORIO_NET_REUSE_PORT;
  for (;;) {
    if ((rc = corio_stream_readline(ctl, line, sizeof line - 1, &n)) < 0)
      break;
    if (n == 0) { /* the coordinator went away */
      rc = -EPIPE;
      break;
    }
    line[n] = 0;
    if (strncmp(line, "listen ", 7) == 0 && !server) {
      rc = corio_start_server(echo_handler, st, "127.0.0.1", atoi(line + 7),
                              &options, &server);
      snprintf(line, sizeof line, "port %d\n",
               rc < 0 ? rc : corio_server_port(server));
      rc = ctl_reply(ctl, line);
    } else if (strcmp(line, "count\n") == 0) {
      snprintf(line, sizeof line, "count %ld %zu\n", st->accepted,
               server ? corio_server_clients(server) : 0);
      rc = ctl_reply(ctl, line);
    } else if (strcmp(line, "quit\n") == 0) {
      break;
    } else {
      rc = ctl_reply(ctl, "error\n");
    }
    if (rc < 0)
      break;
  }
  if (server) {
    (void)corio_server_close(server);
    (void)corio_server_abort_clients(server);
    (void)corio_server_wait_closed(server);
    corio_server_unref(server);
  }
  snprintf(line, sizeof line, "stats %ld %ld\n", st->accepted, st->conn_errors);
  if (ctl_reply(ctl, line) == 0)
    (void)corio_stream_drain(ctl);
  corio_stream_unref(ctl);
  return rc < 0 ? rc : 0;
}

static void server_child(int ctl, int inject) {
  server_state st = {ctl, inject, 0, 0};
  char message[256];
  int rc = corio_run_ex(server_main, &st, NULL, message, sizeof message);

  if (rc < 0) {
    fprintf(stderr, "c10k server: %s%s%s\n", corio_strerror(rc),
            *message ? ": " : "", message);
    _exit(1);
  }
  _exit(0);
}

/* ---- the client (a child, plain epoll) --------------------------------- */

enum conn_state { CONNECTING, IDLE, EXCHANGING, EXCHANGED, CLOSING, DONE };

typedef struct conn {
  int fd;
  uint32_t index; /* global connection number */
  uint32_t msg;   /* message on the way */
  uint32_t key;   /* mix(index, msg) */
  uint32_t len;   /* its length */
  uint32_t sent;  /* bytes of it written */
  uint32_t got;   /* bytes of its echo read and checked */
  uint8_t state;
  uint8_t failed;
} conn;

typedef struct client {
  const settings *s;
  conn *conns;
  long count;
  long first; /* global index of conns[0] */
  int port;
  int ep;
  /* results */
  long connect_failures;
  long messages_ok;
  long corrupt; /* messages whose echo differed */
  long lost;    /* messages never (fully) echoed */
  long extra;   /* connections with bytes after their last echo */
  long resets;  /* connections lost mid-exchange */
} client;

static void client_fail(const char *what) {
  perror(what);
  _exit(1);
}

static void source_address(const client *c, long global,
                           struct sockaddr_in *sa) {
  memset(sa, 0, sizeof *sa);
  sa->sin_family = AF_INET;
  sa->sin_addr.s_addr = htonl((127u << 24) | ((uint32_t)c->s->salt << 16) |
                              (uint32_t)(2 + global / CONNS_PER_SOURCE));
}

static int epoll_set(client *c, conn *k, int op, uint32_t events) {
  struct epoll_event ev = {0};

  ev.events = events;
  ev.data.ptr = k;
  return epoll_ctl(c->ep, op, k->fd, &ev);
}

static int start_connect(client *c, conn *k) {
  struct sockaddr_in src, dst = {0};
  int on = 1;

  k->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (k->fd < 0)
    return -errno;
  source_address(c, k->index, &src);
  dst.sin_family = AF_INET;
  dst.sin_port = htons((uint16_t)c->port);
  dst.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  (void)setsockopt(k->fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &on, sizeof on);
  (void)setsockopt(k->fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
  if (bind(k->fd, (struct sockaddr *)&src, sizeof src) != 0 ||
      (connect(k->fd, (struct sockaddr *)&dst, sizeof dst) != 0 &&
       errno != EINPROGRESS) ||
      epoll_set(c, k, EPOLL_CTL_ADD, EPOLLOUT) != 0) {
    int rc = -errno;

    close(k->fd);
    k->fd = -1;
    return rc;
  }
  k->state = CONNECTING;
  return 0;
}

/* A connection out of the run: its remaining messages count as lost. */
static void conn_drop(client *c, conn *k) {
  if (k->state == EXCHANGING)
    c->lost += (long)(c->s->messages - k->msg);
  k->failed = 1;
  k->state = DONE;
  if (k->fd >= 0) {
    close(k->fd); /* also leaves the epoll set */
    k->fd = -1;
  }
}

/* Connects every connection, CONNECT_WINDOW at a time. */
static void client_connect(client *c) {
  struct epoll_event evs[256];
  long next = 0, pending = 0;

  while (next < c->count || pending) {
    int n;

    while (next < c->count && pending < CONNECT_WINDOW) {
      conn *k = &c->conns[next++];

      if (start_connect(c, k) == 0) {
        pending++;
      } else {
        c->connect_failures++;
        k->failed = 1;
        k->state = DONE;
      }
    }
    n = epoll_wait(c->ep, evs, 256, 1000 * c->s->stall_s);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0) /* nothing connects any more: count what is left */
      break;
    for (int i = 0; i < n; i++) {
      conn *k = evs[i].data.ptr;
      int err = 0;
      socklen_t len = sizeof err;

      if (k->state != CONNECTING)
        continue;
      pending--;
      if (getsockopt(k->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err ||
          epoll_set(c, k, EPOLL_CTL_MOD, EPOLLIN) != 0) {
        c->connect_failures++;
        conn_drop(c, k);
        continue;
      }
      k->state = IDLE;
    }
  }
  for (long i = 0; i < c->count; i++)
    if (c->conns[i].state == CONNECTING) {
      c->connect_failures++;
      conn_drop(c, &c->conns[i]);
    }
}

static void message_start(client *c, conn *k) {
  k->key = mix(k->index, k->msg);
  k->len = (uint32_t)message_len(c->s, k->index, k->msg);
  k->sent = 0;
  k->got = 0;
}

/* Writes what the kernel takes of the message; waits for EPOLLOUT if it
 * did not take it all (rare: the messages are small). */
static int message_send(client *c, conn *k) {
  uint8_t buf[65536];
  size_t len = k->len - k->sent;
  ssize_t n;

  for (size_t j = 0; j < len; j++)
    buf[j] = pattern_byte(k->key, k->sent + j);
  n = send(k->fd, buf, len, MSG_NOSIGNAL);
  if (n < 0 && errno != EAGAIN)
    return -1;
  if (n > 0)
    k->sent += (uint32_t)n;
  return epoll_set(c, k, EPOLL_CTL_MOD,
                   k->sent < k->len ? EPOLLIN | EPOLLOUT : EPOLLIN);
}

/* Reads what is there of the echo, checking each byte; starts the next
 * message once the echo is whole. Reads no further than the message, so
 * bytes beyond it are compared with the next one. */
static void message_receive(client *c, conn *k) {
  uint8_t buf[65536];

  for (;;) {
    size_t want = k->len - k->got;
    ssize_t n = read(k->fd, buf, want);

    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0 && errno == EAGAIN)
      return;
    if (n <= 0) { /* EOF or reset before the echo was back */
      c->resets++;
      conn_drop(c, k);
      return;
    }
    for (ssize_t j = 0; j < n; j++)
      if (buf[j] != pattern_byte(k->key, k->got + (size_t)j)) {
        c->corrupt++;
        k->msg++; /* this one counts as corrupt, the rest as lost */
        conn_drop(c, k);
        return;
      }
    k->got += (uint32_t)n;
    if (k->got < k->len)
      continue;
    c->messages_ok++;
    if (++k->msg == c->s->messages) {
      k->state = EXCHANGED;
      (void)epoll_set(c, k, EPOLL_CTL_MOD, 0);
      return;
    }
    message_start(c, k);
    if (message_send(c, k) != 0) {
      c->resets++;
      conn_drop(c, k);
    }
    return;
  }
}

/* Runs every connection until state `until`, or until nothing moved for
 * the stall time; stragglers are dropped (their messages count as lost). */
static void client_drive(client *c, int until) {
  struct epoll_event evs[512];
  long busy = 0;

  for (long i = 0; i < c->count; i++)
    if (c->conns[i].state != DONE && c->conns[i].state != until)
      busy++;
  while (busy) {
    int n = epoll_wait(c->ep, evs, 512, 1000 * c->s->stall_s);

    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break;
    for (int i = 0; i < n; i++) {
      conn *k = evs[i].data.ptr;
      int before = k->state;

      if (k->state == EXCHANGING) {
        if ((evs[i].events & EPOLLOUT) && k->sent < k->len &&
            message_send(c, k) != 0) {
          c->resets++;
          conn_drop(c, k);
        } else if (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
          message_receive(c, k);
        }
      } else if (k->state == CLOSING) {
        char b[256];
        ssize_t got = read(k->fd, b, sizeof b);

        if (got > 0) { /* bytes after the last echo: duplicated */
          c->extra++;
          conn_drop(c, k);
        } else if (got == 0) {
          close(k->fd);
          k->fd = -1;
          k->state = DONE;
        } else if (errno != EAGAIN && errno != EINTR) {
          c->resets++;
          conn_drop(c, k);
        }
      }
      if (k->state != before && (k->state == until || k->state == DONE))
        busy--;
    }
  }
  for (long i = 0; i < c->count; i++) {
    conn *k = &c->conns[i];

    if (k->state == DONE || k->state == until)
      continue;
    if (k->state == CLOSING)
      c->resets++; /* no EOF from the server */
    conn_drop(c, k);
  }
}

static void client_exchange(client *c) {
  for (long i = 0; i < c->count; i++) {
    conn *k = &c->conns[i];

    if (k->state != IDLE)
      continue;
    k->state = EXCHANGING;
    k->msg = 0;
    message_start(c, k);
    if (message_send(c, k) != 0) {
      c->resets++;
      conn_drop(c, k);
    }
  }
  client_drive(c, EXCHANGED);
}

static void client_finish(client *c) {
  for (long i = 0; i < c->count; i++) {
    conn *k = &c->conns[i];

    if (k->state != EXCHANGED)
      continue;
    if (shutdown(k->fd, SHUT_WR) != 0 ||
        epoll_set(c, k, EPOLL_CTL_MOD, EPOLLIN) != 0) {
      c->resets++;
      conn_drop(c, k);
      continue;
    }
    k->state = CLOSING;
  }
  client_drive(c, DONE);
}

static void client_child(int ctl, const settings *s, long first, long count,
                         int port) {
  client c = {0};
  char line[256];

  c.s = s;
  c.first = first;
  c.count = count;
  c.port = port;
  c.conns = calloc((size_t)count, sizeof *c.conns);
  c.ep = epoll_create1(EPOLL_CLOEXEC);
  if (!c.conns || c.ep < 0)
    client_fail("c10k client: setup");
  for (long i = 0; i < count; i++) {
    c.conns[i].fd = -1;
    c.conns[i].index = (uint32_t)(first + i);
  }
  client_connect(&c);
  snprintf(line, sizeof line, "connected %ld\n", count - c.connect_failures);
  if (write_line(ctl, line) != 0 || read_line(ctl, line, sizeof line, -1) ||
      strcmp(line, "exchange") != 0)
    _exit(1);
  client_exchange(&c);
  snprintf(line, sizeof line, "exchanged %ld\n", c.messages_ok);
  if (write_line(ctl, line) != 0 || read_line(ctl, line, sizeof line, -1) ||
      strcmp(line, "finish") != 0)
    _exit(1);
  client_finish(&c);
  snprintf(line, sizeof line, "result %ld %ld %ld %ld %ld %ld\n",
           c.connect_failures, c.messages_ok, c.corrupt, c.lost, c.extra,
           c.resets);
  if (write_line(ctl, line) != 0)
    _exit(1);
  _exit(0);
}

/* ---- the coordinator --------------------------------------------------- */

typedef struct child {
  pid_t pid;
  int ctl;
} child;

static child servers[MAX_PROCESSES], clients[MAX_PROCESSES];
static int nservers, nclients;

static void kill_children(void) {
  for (int i = 0; i < nservers; i++)
    if (servers[i].pid > 0)
      kill(servers[i].pid, SIGKILL);
  for (int i = 0; i < nclients; i++)
    if (clients[i].pid > 0)
      kill(clients[i].pid, SIGKILL);
}

static void reap_children(void) {
  int status;

  for (int i = 0; i < nservers; i++)
    if (servers[i].pid > 0)
      while (waitpid(servers[i].pid, &status, 0) < 0 && errno == EINTR)
        ;
  for (int i = 0; i < nclients; i++)
    if (clients[i].pid > 0)
      while (waitpid(clients[i].pid, &status, 0) < 0 && errno == EINTR)
        ;
}

/* "c10k: what: detail", then every child is killed. */
static void die(const char *what, const char *detail) {
  fprintf(stderr, "c10k: %s: %s\n", what, detail);
  kill_children();
  reap_children();
  exit(1);
}

static long long rss_of(pid_t pid) {
  char path[64], line[256];
  long long kb = -1;
  FILE *f;

  snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
  if (!(f = fopen(path, "r")))
    return -1;
  while (fgets(line, sizeof line, f))
    if (strncmp(line, "VmRSS:", 6) == 0) {
      kb = strtoll(line + 6, NULL, 10);
      break;
    }
  fclose(f);
  return kb < 0 ? -1 : kb * 1024;
}

static long long servers_rss(void) {
  long long sum = 0;

  for (int i = 0; i < nservers; i++)
    sum += rss_of(servers[i].pid);
  return sum;
}

/* Forks a child with a control socketpair; returns the child's end in
 * the child (as *ctl) and 0, or the pid in the parent. */
static pid_t fork_child(child *ch, int *ctl) {
  int sv[2];
  pid_t pid;

  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
    die("socketpair", strerror(errno));
  fflush(stdout);
  fflush(stderr);
  pid = fork();
  if (pid < 0)
    die("fork", strerror(errno));
  if (pid == 0) {
    close(sv[0]);
    /* The other children's control ends are not ours. */
    for (int i = 0; i < nservers; i++)
      close(servers[i].ctl);
    for (int i = 0; i < nclients; i++)
      close(clients[i].ctl);
    *ctl = sv[1];
    return 0;
  }
  close(sv[1]);
  ch->pid = pid;
  ch->ctl = sv[0];
  return pid;
}

static void ask(child *ch, const char *command, char *answer, size_t cap) {
  if (command && write_line(ch->ctl, command) != 0)
    die("a child went away", command);
  if (read_line(ch->ctl, answer, cap, CTL_TIMEOUT_MS) != 0)
    die("no answer from a child", command ? command : "result");
}

/* Raises the fd limit to the hard one; returns the soft limit. */
static long fd_limit(void) {
  struct rlimit rl;

  if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
    return 1024;
  if (rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    (void)setrlimit(RLIMIT_NOFILE, &rl);
  }
  return rl.rlim_cur == RLIM_INFINITY ? 1L << 30 : (long)rl.rlim_cur;
}

/* The most connections one server held: each must stay under the fd
 * limit. */
static long max_per_server;

/* Accepted connections (and handlers still running) over every server. */
static void count_accepted(long *accepted, long *open) {
  char line[128];

  *accepted = *open = 0;
  for (int i = 0; i < nservers; i++) {
    long a = 0, o = 0;

    ask(&servers[i], "count\n", line, sizeof line);
    if (sscanf(line, "count %ld %ld", &a, &o) != 2)
      die("bad answer", line);
    *accepted += a;
    *open += o;
    if (o > max_per_server)
      max_per_server = o;
  }
}

/* Polls the servers until `done` holds; bounded by the stall time. */
static int wait_servers(const settings *s, long want_accepted, long want_open) {
  double end = bench_now_s() + s->stall_s;
  long accepted, open;

  for (;;) {
    count_accepted(&accepted, &open);
    if (accepted == want_accepted && (want_open < 0 || open == want_open))
      return 0;
    if (bench_now_s() > end) {
      fprintf(stderr, "c10k: servers accepted %ld (want %ld), %ld open\n",
              accepted, want_accepted, open);
      return -1;
    }
    usleep(10 * 1000);
  }
}

static void usage(void) {
  fprintf(stderr, "usage: c10k [--connections N] [--processes P] "
                  "[--messages M] [--size S] [--stall SECONDS] "
                  "[--label NAME] [--inject corrupt|drop|duplicate]\n");
  exit(2);
}

static void parse(int argc, char **argv, settings *s) {
  s->conns = 19000;
  s->processes = 1;
  s->messages = 20;
  s->size = 128;
  s->stall_s = 60;
  s->label = "c10k";
  s->inject = INJECT_NONE;
  for (int i = 1; i < argc; i++) {
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;

    if (!v)
      usage();
    if (strcmp(argv[i], "--connections") == 0)
      s->conns = atol(v);
    else if (strcmp(argv[i], "--processes") == 0)
      s->processes = atoi(v);
    else if (strcmp(argv[i], "--messages") == 0)
      s->messages = atol(v);
    else if (strcmp(argv[i], "--size") == 0)
      s->size = atoi(v);
    else if (strcmp(argv[i], "--stall") == 0)
      s->stall_s = atoi(v);
    else if (strcmp(argv[i], "--label") == 0)
      s->label = v;
    else if (strcmp(argv[i], "--inject") == 0)
      s->inject = strcmp(v, "corrupt") == 0     ? INJECT_CORRUPT
                  : strcmp(v, "drop") == 0      ? INJECT_DROP
                  : strcmp(v, "duplicate") == 0 ? INJECT_DUPLICATE
                                                : -1;
    else
      usage();
    i++;
  }
  if (s->conns < 1 || s->processes < 1 || s->processes > MAX_PROCESSES ||
      s->messages < 1 || s->inject < 0 || s->size < 1 || s->size > 65536 ||
      s->stall_s < 1 || s->conns / CONNS_PER_SOURCE > 250)
    usage();
}

static void print_figure(const settings *s, const char *name, double value,
                         int decimals, const char *unit) {
  char full[128];

  snprintf(full, sizeof full, "%s_%s", s->label, name);
  bench_print(full, value, decimals, unit);
}

int main(int argc, char **argv) {
  settings s;
  long limit, per_process, accepted, open, connected = 0, messages_ok = 0;
  long connect_failures = 0, corrupt = 0, lost = 0, extra = 0, resets = 0;
  long server_errors = 0, errors;
  long long rss_before, rss_connected, rss_exchanged;
  double t_connect0, t_connect, t_exchange0, t_exchange;
  char line[256];
  int port, ctl;

  parse(argc, argv, &s);
  s.salt = 1 + (int)(getpid() % 250);
  limit = fd_limit();
  per_process = (s.conns + s.processes - 1) / s.processes;
  /* A server's share under SO_REUSEPORT is N / P give or take a few
   * hundred: a 5 % margin when there are several. */
  /* Run with no arguments (`make bench`): fit the limit, as idle_conns. */
  if (argc == 1 && per_process + SPARE_FDS > limit && limit > 2 * SPARE_FDS) {
    fprintf(stderr, "# c10k: fd limit %ld: %ld connections, not %ld\n", limit,
            limit - SPARE_FDS, s.conns);
    s.conns = per_process = limit - SPARE_FDS;
  }
  if (per_process + (s.processes > 1 ? per_process / 20 : 0) + SPARE_FDS >
      limit) {
    fprintf(stderr,
            "c10k: %ld connections per process do not fit the fd limit "
            "(%ld): use more processes\n",
            per_process, limit);
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);

  /* Servers: the first picks the port, the others share it. */
  port = 0;
  for (int i = 0; i < s.processes; i++) {
    if (fork_child(&servers[nservers], &ctl) == 0)
      server_child(ctl, i == 0 ? s.inject : INJECT_NONE);
    nservers++;
    snprintf(line, sizeof line, "listen %d\n", port);
    ask(&servers[i], line, line, sizeof line);
    if (sscanf(line, "port %d", &port) != 1 || port <= 0)
      die("a server could not listen", line);
  }
  rss_before = servers_rss();

  /* Clients, each with its share of the connections. */
  t_connect0 = bench_now_s();
  for (int i = 0; i < s.processes; i++) {
    long first = s.conns * i / s.processes;
    long next = s.conns * (i + 1) / s.processes;

    if (fork_child(&clients[nclients], &ctl) == 0)
      client_child(ctl, &s, first, next - first, port);
    nclients++;
  }
  for (int i = 0; i < nclients; i++) {
    long n = 0;

    ask(&clients[i], NULL, line, sizeof line);
    if (sscanf(line, "connected %ld", &n) != 1)
      die("bad answer", line);
    connected += n;
  }
  /* Every connection is open at once once the servers have them all. */
  if (wait_servers(&s, connected, connected) != 0)
    die("connect", "the servers did not accept every connection");
  t_connect = bench_now_s() - t_connect0;
  rss_connected = servers_rss();

  t_exchange0 = bench_now_s();
  for (int i = 0; i < nclients; i++)
    if (write_line(clients[i].ctl, "exchange\n") != 0)
      die("a client went away", "");
  for (int i = 0; i < nclients; i++) {
    long n = 0;

    ask(&clients[i], NULL, line, sizeof line);
    if (sscanf(line, "exchanged %ld", &n) != 1)
      die("bad answer", line);
  }
  t_exchange = bench_now_s() - t_exchange0;
  rss_exchanged = servers_rss();
  count_accepted(&accepted, &open);

  for (int i = 0; i < nclients; i++)
    if (write_line(clients[i].ctl, "finish\n") != 0)
      die("a client went away", "");
  for (int i = 0; i < nclients; i++) {
    long f, m, c, l, x, r;

    ask(&clients[i], NULL, line, sizeof line);
    if (sscanf(line, "result %ld %ld %ld %ld %ld %ld", &f, &m, &c, &l, &x,
               &r) != 6)
      die("bad answer", line);
    connect_failures += f;
    messages_ok += m;
    corrupt += c;
    lost += l;
    extra += x;
    resets += r;
  }
  /* Every handler has seen its EOF and returned. */
  if (wait_servers(&s, accepted, 0) != 0)
    server_errors++;
  for (int i = 0; i < nservers; i++) {
    long a = 0, e = 0;

    ask(&servers[i], "quit\n", line, sizeof line);
    if (sscanf(line, "stats %ld %ld", &a, &e) != 2)
      die("bad answer", line);
    server_errors += e;
  }
  reap_children();

  errors = connect_failures + corrupt + lost + extra + resets + server_errors;
  if (messages_ok != s.conns * s.messages && errors == 0)
    errors = 1; /* cannot happen: every message is counted somewhere */
  print_figure(&s, "connections", (double)connected, 0, "");
  print_figure(&s, "server_processes", s.processes, 0, "");
  print_figure(&s, "client_processes", s.processes, 0, "");
  print_figure(&s, "max_conns_per_server", (double)max_per_server, 0, "");
  print_figure(&s, "fd_limit", (double)limit, 0, "");
  print_figure(&s, "messages", (double)messages_ok, 0, "");
  print_figure(&s, "messages_expected", (double)(s.conns * s.messages), 0, "");
  print_figure(&s, "errors", (double)errors, 0, "");
  print_figure(&s, "connect_failures", (double)connect_failures, 0, "");
  print_figure(&s, "corrupt", (double)corrupt, 0, "");
  print_figure(&s, "lost", (double)lost, 0, "");
  print_figure(&s, "extra_bytes", (double)extra, 0, "");
  print_figure(&s, "resets", (double)resets, 0, "");
  print_figure(&s, "server_errors", (double)server_errors, 0, "");
  print_figure(&s, "server_rss_before", (double)rss_before, 0, "bytes");
  print_figure(&s, "server_rss_connected", (double)rss_connected, 0, "bytes");
  print_figure(&s, "server_rss_exchanged", (double)rss_exchanged, 0, "bytes");
  print_figure(&s, "rss_per_conn",
               (double)(rss_connected - rss_before) / (double)s.conns, 0,
               "bytes");
  print_figure(&s, "rss_per_conn_exchanged",
               (double)(rss_exchanged - rss_before) / (double)s.conns, 0,
               "bytes");
  print_figure(&s, "connect_time", t_connect, 3, "s");
  print_figure(&s, "exchange_time", t_exchange, 3, "s");
  print_figure(&s, "exchange_rate", (double)messages_ok / t_exchange, 0,
               "msg/s");
  return errors ? 1 : 0;
}
