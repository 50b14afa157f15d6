/* What the network server examples (echo_server.c, http_hello.c) share:
 * their command line, serving on one loop or on a loop per thread, and a
 * graceful stop on SIGINT or SIGTERM.
 *
 *   PROGRAM [--host H] [--port P] [--loops N] [program's own flags]
 *
 * --host: the address to listen on (default 127.0.0.1); --port: 0 picks
 * a free port; --loops: N loops, each on a thread of its own;
 * --batch-writes on: CORIO_NET_BATCH_WRITES on every connection (on an
 * io_uring loop, CORIO_POLLER=io_uring, writes go out with the loop's
 * next submission instead of a send each).
 *
 * One loop (N = 1): corio_run's main task starts the server, installs
 * SIGINT/SIGTERM handlers on its loop and serves forever
 * (corio_server_serve_forever). A signal closes the server and its
 * clients' streams (what they have buffered is still sent): every handler
 * sees EOF and returns, and serve_forever returns once they all have.
 *
 * A loop per thread (N > 1): corio_loop_group_start runs the same main on
 * N loops, each with its own listener on the same port
 * (CORIO_NET_REUSE_PORT: the kernel spreads the connections over them).
 * The group's threads block every signal; the main thread blocks SIGINT
 * and SIGTERM too and takes them with sigwait, then calls
 * corio_loop_group_stop, which cancels every loop's main task: each then
 * closes its server and its clients and waits for its handlers, as above.
 * With --port 0 the port is chosen once, by binding a SO_REUSEPORT socket
 * that never listens, so that every loop gets the same one.
 *
 * When every loop listens, one line goes to stdout (flushed), for scripts
 * to wait for: "listening on 127.0.0.1:PORT". The exit status is 0 after
 * a stop by signal, 1 after an error (reported on stderr). */
#ifndef CORIO_EXAMPLE_NET_SERVE_H
#define CORIO_EXAMPLE_NET_SERVE_H

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <corio/coro.h>
#include <corio/future.h>
#include <corio/loop.h>
#include <corio/net.h>
#include <corio/task.h>
#include <corio/thread.h>

/* What a program puts in. */
typedef struct net_serve_program {
  const char *name;             /* for messages */
  corio_stream_handler handler; /* runs once per connection */
  /* Its own flags: returns 1 if it took `flag` (with its value), 0 if it
   * does not know it, -1 if the value is bad. May be NULL. */
  int (*option)(const char *flag, const char *value);
  /* On each loop's thread, in its main task, before its server starts:
   * sets *state, the handler's arg. May be NULL (the arg is then NULL). */
  int (*loop_start)(void **state);
  /* After the loop's server has closed and every handler has returned. */
  void (*loop_stop)(void *state);
} net_serve_program;

typedef struct net_serve {
  const net_serve_program *program;
  const char *host;
  int port;
  unsigned loops;
  unsigned conn_flags;     /* --batch-writes */
  corio_loop_group *group; /* with loops > 1 */
  atomic_uint listening;   /* loops whose server has started */
  atomic_int failed;       /* a loop could not start */
} net_serve;

static inline void net_serve_usage(const char *name) {
  fprintf(stderr,
          "usage: %s [--host H] [--port P] [--loops N] [--batch-writes on|off] "
          "(see the source's "
          "first comment for the program's own flags)\n",
          name);
}

/* Parses the command line into s; returns 0, or -1 after a message. */
static inline int net_serve_parse(net_serve *s, int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    const char *flag = argv[i], *value = i + 1 < argc ? argv[i + 1] : NULL;
    char *end;
    long n;
    int took;

    if (!value) {
      net_serve_usage(s->program->name);
      return -1;
    }
    i++;
    if (strcmp(flag, "--host") == 0) {
      s->host = value;
      continue;
    }
    if (strcmp(flag, "--batch-writes") == 0) {
      if (strcmp(value, "on") != 0 && strcmp(value, "off") != 0) {
        fprintf(stderr, "%s: bad %s %s\n", s->program->name, flag, value);
        return -1;
      }
      s->conn_flags = value[1] == 'n' ? CORIO_NET_BATCH_WRITES : 0;
      continue;
    }
    if (strcmp(flag, "--port") == 0 || strcmp(flag, "--loops") == 0) {
      n = strtol(value, &end, 10);
      if (*end || end == value || n < 0 || n > 65535 ||
          (flag[2] == 'l' && (n < 1 || n > (long)CORIO_LOOP_GROUP_MAX))) {
        fprintf(stderr, "%s: bad %s %s\n", s->program->name, flag, value);
        return -1;
      }
      if (flag[2] == 'p')
        s->port = (int)n;
      else
        s->loops = (unsigned)n;
      continue;
    }
    took = s->program->option ? s->program->option(flag, value) : 0;
    if (took == 0)
      net_serve_usage(s->program->name);
    else if (took < 0)
      fprintf(stderr, "%s: bad %s %s\n", s->program->name, flag, value);
    if (took <= 0)
      return -1;
  }
  return 0;
}

/* "listening on ADDRESS", once the last loop listens. */
static inline void net_serve_listening(net_serve *s, corio_server *server) {
  struct sockaddr_storage addr;
  socklen_t len = sizeof addr;
  char text[128];
  int fd;

  if (atomic_fetch_add(&s->listening, 1) + 1 != s->loops)
    return;
  if (corio_server_sockets(server, &fd, 1) == 0 ||
      getsockname(fd, (struct sockaddr *)&addr, &len) != 0) {
    printf("listening on %s:%d\n", s->host, corio_server_port(server));
  } else {
    corio_format_address((struct sockaddr *)&addr, len, text, sizeof text);
    printf("listening on %s\n", text);
  }
  fflush(stdout);
}

/* Stops listening and closes every client's stream, so that
 * serve_forever returns once the handlers have. In a task of its own, so
 * that the handlers it wakes run from the ready queue, after it. */
static inline int net_serve_stop(void *arg, void **result) {
  corio_server *server = arg;

  (void)result;
  (void)corio_server_close(server);
  (void)corio_server_close_clients(server);
  corio_server_unref(server);
  return 0;
}

/* SIGINT or SIGTERM on the one loop. */
static inline int net_serve_on_signal(void *arg) {
  corio_server *server = corio_server_ref(arg);
  int rc = corio_spawn(NULL, net_serve_stop, server);

  if (rc < 0)
    corio_server_unref(server);
  return rc;
}

/* Waits until the task is cancelled (corio_loop_group_stop). */
static inline int net_serve_until_cancelled(void) {
  corio_future *never;
  int rc = corio_future_create(corio_loop_running(), &never);

  if (rc < 0)
    return rc;
  rc = corio_future_await(never, NULL);
  corio_future_unref(never);
  return rc;
}

/* Serves on one loop with the one-loop rules (signals handled here). */
static inline int net_serve_one(corio_server *server) {
  corio_loop *loop = corio_loop_running();
  int rc;

  if ((rc = corio_loop_add_signal_handler(loop, SIGINT, net_serve_on_signal,
                                          server)) < 0 ||
      (rc = corio_loop_add_signal_handler(loop, SIGTERM, net_serve_on_signal,
                                          server)) < 0)
    return rc;
  rc = corio_server_serve_forever(server);
  (void)corio_loop_remove_signal_handler(loop, SIGINT);
  (void)corio_loop_remove_signal_handler(loop, SIGTERM);
  return rc;
}

/* Serves on a loop of the group until the group is stopped. */
static inline int net_serve_grouped(corio_server *server) {
  int rc = net_serve_until_cancelled();

  if (rc != -ECANCELED)
    return rc;
  (void)corio_server_close(server);
  (void)corio_server_close_clients(server);
  return corio_server_wait_closed(server);
}

/* The main task of every loop. */
static inline int net_serve_main(void *arg, void **result) {
  net_serve *s = arg;
  const net_serve_program *p = s->program;
  corio_server_options options = {0};
  corio_server *server = NULL;
  void *state = NULL;
  int rc;

  (void)result;
  options.backlog = 4096; /* as the anchor servers */
  options.flags = (s->loops > 1 ? CORIO_NET_REUSE_PORT : 0) | s->conn_flags;
  if (p->loop_start && (rc = p->loop_start(&state)) < 0) {
    fprintf(stderr, "%s: starting a loop: %s\n", p->name, corio_strerror(rc));
    goto failed;
  }
  rc = corio_start_server(p->handler, state, s->host, s->port, &options,
                          &server);
  if (rc < 0) {
    fprintf(stderr, "%s: cannot listen on %s:%d: %s\n", p->name, s->host,
            s->port, corio_strerror(rc));
    goto failed;
  }
  net_serve_listening(s, server);
  rc = s->loops > 1 ? net_serve_grouped(server) : net_serve_one(server);
  corio_server_unref(server);
  if (p->loop_stop)
    p->loop_stop(state);
  return rc;

failed:
  if (p->loop_stop && state)
    p->loop_stop(state);
  if (s->loops > 1) {
    /* Wake the main thread's sigwait, which then stops the group. */
    atomic_store(&s->failed, 1);
    (void)kill(getpid(), SIGTERM);
  }
  return rc;
}

/* With --port 0 and several loops: a free port for all of them, held by a
 * bound SO_REUSEPORT socket that never listens (returned in *holder). */
static inline int net_serve_pick_port(net_serve *s, int *holder) {
  struct addrinfo hints = {0}, *ai = NULL;
  struct sockaddr_storage addr;
  socklen_t len = sizeof addr;
  int one = 1, fd = -1, rc;

  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  if ((rc = getaddrinfo(s->host, "0", &hints, &ai)) != 0) {
    fprintf(stderr, "%s: %s: %s\n", s->program->name, s->host,
            gai_strerror(rc));
    return -1;
  }
  fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0 ||
      setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
      setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0 ||
      bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 ||
      getsockname(fd, (struct sockaddr *)&addr, &len) != 0) {
    perror(s->program->name);
    if (fd >= 0)
      close(fd);
    freeaddrinfo(ai);
    return -1;
  }
  freeaddrinfo(ai);
  s->port = ntohs(addr.ss_family == AF_INET6
                      ? ((struct sockaddr_in6 *)&addr)->sin6_port
                      : ((struct sockaddr_in *)&addr)->sin_port);
  *holder = fd;
  return 0;
}

/* N loops on N threads; the main thread waits for SIGINT or SIGTERM. */
static inline int net_serve_group(net_serve *s) {
  sigset_t set;
  int holder = -1, signo, rc;

  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  /* Before the threads start, so that none of them (and no thread they
   * start) takes the signals: they go to sigwait. */
  pthread_sigmask(SIG_BLOCK, &set, NULL);
  if (s->port == 0 && net_serve_pick_port(s, &holder) < 0)
    return 1;
  rc = corio_loop_group_start(s->loops, net_serve_main, s, &s->group);
  if (rc < 0) {
    fprintf(stderr, "%s: corio_loop_group_start: %s\n", s->program->name,
            corio_strerror(rc));
    if (holder >= 0)
      close(holder);
    return 1;
  }
  while (sigwait(&set, &signo) != 0)
    ;
  (void)corio_loop_group_stop(s->group);
  rc = corio_loop_group_join(s->group);
  if (holder >= 0)
    close(holder);
  if (rc < 0 && !atomic_load(&s->failed))
    fprintf(stderr, "%s: %s\n", s->program->name, corio_strerror(rc));
  return rc < 0 || atomic_load(&s->failed) ? 1 : 0;
}

/* The program's main: parse, serve until a signal, exit status. */
static inline int net_serve_run(const net_serve_program *program, int argc,
                                char **argv) {
  net_serve s = {program, "127.0.0.1", 8000, 1, 0, NULL, 0, 0};
  int rc;

  if (net_serve_parse(&s, argc, argv) < 0)
    return 2;
  if (s.loops > 1) {
    rc = net_serve_group(&s);
  } else {
    rc = corio_run(net_serve_main, &s, NULL);
    /* A failure to start was reported already. */
    if (rc < 0 && atomic_load(&s.listening))
      fprintf(stderr, "%s: %s\n", program->name, corio_strerror(rc));
    rc = rc < 0 ? 1 : 0;
  }
  corio_coro_pool_trim();
  return rc;
}

#endif
