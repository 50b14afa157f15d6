/* A server's state, shared with net_loop.c (whose close hook stops every
 * server of a closing loop). */
#ifndef CORIO_NET_SERVER_INTERNAL_H
#define CORIO_NET_SERVER_INTERNAL_H

#include <sys/types.h>

#include "corio/net.h"
#include "loop/uring.h"
#include "net/net_loop.h"
#include "sync/waitq.h"

/* Listening sockets of one server at most (one per resolved address). */
enum { CORIO__SERVER_MAX_LISTENERS = 16 };

/* io_uring loops: a connection accepted after serving stopped. */
typedef struct corio__held_conn {
  int fd;
  int family;
} corio__held_conn;

typedef struct corio__listener {
  struct corio_server *server;
  int fd;
  int family; /* of the connections it accepts */
  /* io_uring loops: the multishot accept (server_uring.c). */
  corio__uring_op accept_op;
  unsigned accept_armed : 1;
  unsigned accept_cancelled : 1;
} corio__listener;

struct corio_server {
  corio_loop *loop;
  corio__net_loop *net;
  int refs;
  corio_stream_handler handler;
  void *arg;
  corio_connect_options conn; /* what each accepted stream gets */
  size_t stack_size;

  corio__listener listeners[CORIO__SERVER_MAX_LISTENERS];
  int nlisteners;
  int port;
  unsigned serving : 1;
  unsigned closed : 1;        /* the listening sockets are closed */
  unsigned accept_paused : 1; /* out of fds: waiting for backoff */
  unsigned fd_shortage_logged : 1;
  corio__uring *ring; /* io_uring loops: accepts are ops on it */
  int accepts_armed;  /* multishot accepts whose last CQE has not come */
  /* Connections those accepts took after serving stopped: handed to
   * handlers when it resumes, closed with the server (server_uring.c). */
  corio__held_conn *held;
  size_t nheld, held_cap;
  corio_handle *backoff;

  /* A Unix server's socket file, removed on close if it is still ours. */
  char *unix_path;
  size_t unix_path_size;
  dev_t unix_dev;
  ino_t unix_ino;

  corio_stream *clients; /* accepted connections whose handler runs */
  size_t nclients;
  sync_waitq closers; /* wait_closed */
  sync_waitq forever; /* serve_forever */

  /* The loop's list of servers not yet closed (net_loop.c). */
  struct corio_server *prev, *next;
};

/* Stops listening and closes the listening sockets (corio_server_close). */
void corio__server_close_listeners(struct corio_server *server);

/* server.c, for server_uring.c: a new connection's stream and handler
 * (fd owned); the accept errors' handling; freeing once unused. */
void corio__server_start_client(struct corio_server *srv, int fd, int family);
/* 1 if accepting goes on after error (transient, or reported), 0 if it
 * paused (out of fds). */
int corio__server_accept_failed(struct corio_server *srv, int error);
void corio__server_maybe_free(struct corio_server *srv);

/* server_uring.c: accepting with multishot accept ops. */
/* Whether this loop's listeners use them (sets srv->ring). */
void corio__server_uring_attach(struct corio_server *srv);
/* Starts (on) or cancels (off) every listener's op. */
int corio__server_uring_serving(struct corio_server *srv, int on);
/* The held connections: their handlers started while serving (serve),
 * or closed (the server closes). */
void corio__server_uring_release_held(struct corio_server *srv, int serve);

#endif
