/* The hook tests' HTTP server (see http_server.h): a loop group of one
 * loop whose main task listens and whose handler tasks answer. */
#include "http_server.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <corio/future.h>
#include <corio/loop.h>
#include <corio/net.h>
#include <corio/task.h>
#include <corio/thread.h>

/* The longest request head read; more is a bad request. */
#define HEAD_MAX 8192

static const char bad_request[] =
    "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n"
    "Connection: close\r\n\r\n";

/* A handler task, on the server loop's list while it runs, so that the
 * stop can cancel the ones sleeping out their delay (closing a stream
 * wakes its readers, not a sleeper). On the handler's stack. */
typedef struct handler {
  corio_task *task;
  struct handler *prev, *next;
} handler;

struct http_server {
  http_server_options options;
  char *answer;      /* the whole answer: head, then body */
  size_t answer_len; /* head + body */
  size_t head_len;   /* what a HEAD request gets */
  corio_loop_group *group;

  /* The start's handshake: the main task says once that it listens
   * (port) or why it cannot (start_rc, why). */
  pthread_mutex_t mutex;
  pthread_cond_t cond;
  int announced;
  int start_rc;
  const char *why;
  int port;

  atomic_long received, answered, connections;
  atomic_long waiting, max_waiting; /* requests in their delay */

  /* Server loop thread only: the running handlers. */
  handler handlers;
};

/* ---- requests ------------------------------------------------------------ */

typedef struct request {
  int head;  /* HEAD: no body in the answer */
  int close; /* the connection closes after the answer */
} request;

/* Does the header line [p, end) have this (lowercase) name? Then *value
 * points past the colon and its blanks. */
static int header_is(const char *p, const char *end, const char *name,
                     const char **value) {
  size_t len = strlen(name);

  if ((size_t)(end - p) <= len || p[len] != ':' ||
      strncasecmp(p, name, len) != 0)
    return 0;
  p += len + 1;
  while (p < end && (*p == ' ' || *p == '\t'))
    p++;
  *value = p;
  return 1;
}

/* Does [p, end) contain the word, in any case? */
static int contains(const char *p, const char *end, const char *word) {
  size_t len = strlen(word);

  for (; (size_t)(end - p) >= len; p++)
    if (strncasecmp(p, word, len) == 0)
      return 1;
  return 0;
}

/* The request line: "GET|HEAD SP target SP HTTP/1.x". */
static int parse_request_line(const char *p, const char *end, request *r) {
  const char *sp = memchr(p, ' ', (size_t)(end - p));
  size_t method = sp ? (size_t)(sp - p) : 0;

  if (!sp || !((method == 3 && memcmp(p, "GET", 3) == 0) ||
               (method == 4 && memcmp(p, "HEAD", 4) == 0)))
    return -1;
  r->head = method == 4;
  if (end - p < 9 || memcmp(end - 9, " HTTP/1.", 8) != 0 ||
      (end[-1] != '0' && end[-1] != '1') || end - 9 <= sp + 1)
    return -1;
  r->close = end[-1] == '0'; /* HTTP/1.0 closes unless it asks */
  return 0;
}

/* One head, NUL-terminated, ending in CRLF CRLF. 0, or -1 if bad. */
static int parse_request(const char *text, request *r) {
  const char *line = text, *eol, *value;

  memset(r, 0, sizeof *r);
  for (;;) {
    eol = strstr(line, "\r\n");
    if (!eol)
      return -1;
    if (eol == line)
      return line == text ? -1 : 0; /* the empty line ends the head */
    if (line == text) {
      if (parse_request_line(line, eol, r) < 0)
        return -1;
    } else if (header_is(line, eol, "connection", &value)) {
      if (contains(value, eol, "close"))
        r->close = 1;
      else if (contains(value, eol, "keep-alive"))
        r->close = 0;
    } else if (header_is(line, eol, "transfer-encoding", &value) ||
               (header_is(line, eol, "content-length", &value) &&
                !(eol - value == 1 && *value == '0'))) {
      return -1; /* a body: this server reads none */
    }
    line = eol + 2;
  }
}

/* ---- connections --------------------------------------------------------- */

/* A broken connection (the client gave up: a cancelled transfer) ends
 * the handler quietly; only a cancellation is passed on. */
static int handler_end(int rc) { return rc == -ECANCELED ? rc : 0; }

/* Sleeps the delay, counting the requests that wait at once. Only the
 * server's thread writes the counts. */
static int wait_delay(http_server *s) {
  long waiting = atomic_fetch_add(&s->waiting, 1) + 1;
  int rc;

  if (waiting > atomic_load(&s->max_waiting))
    atomic_store(&s->max_waiting, waiting);
  rc = s->options.delay > 0 ? corio_sleep(s->options.delay) : 0;
  atomic_fetch_sub(&s->waiting, 1);
  return rc;
}

static int serve_requests(http_server *s, corio_stream *stream) {
  char head[HEAD_MAX + 1];
  size_t n;
  request r;
  int rc;

  for (;;) {
    rc = corio_stream_readuntil(stream, "\r\n\r\n", 4, head, HEAD_MAX, &n);
    if (rc == -ENOBUFS || rc == CORIO_ELIMITOVERRUN)
      return handler_end(
          corio_stream_write(stream, bad_request, sizeof bad_request - 1));
    if (rc < 0) /* EOF between requests or mid-head, reset, cancel */
      return handler_end(rc);
    head[n] = '\0';
    if (parse_request(head, &r) < 0)
      return handler_end(
          corio_stream_write(stream, bad_request, sizeof bad_request - 1));
    atomic_fetch_add(&s->received, 1);
    if ((rc = wait_delay(s)) < 0)
      return handler_end(rc);
    /* Counted first: once written, the client may have the answer (and
     * ask for the count) before this thread runs again. */
    atomic_fetch_add(&s->answered, 1);
    rc = corio_stream_write(stream, s->answer,
                            r.head ? s->head_len : s->answer_len);
    if (rc < 0)
      return handler_end(rc);
    if (r.close)
      return 0; /* the server closes the stream once the answer is sent */
    if ((rc = corio_stream_drain(stream)) < 0)
      return handler_end(rc);
  }
}

static int serve_connection(corio_stream *stream, void *arg) {
  http_server *s = arg;
  handler self = {corio_current_task(), &s->handlers, s->handlers.next};
  int rc;

  atomic_fetch_add(&s->connections, 1);
  self.next->prev = &self;
  s->handlers.next = &self;
  rc = serve_requests(s, stream);
  self.prev->next = self.next;
  self.next->prev = self.prev;
  return rc;
}

/* ---- the server loop ----------------------------------------------------- */

static void announce(http_server *s, int rc, int port, const char *why) {
  pthread_mutex_lock(&s->mutex);
  s->announced = 1;
  s->start_rc = rc;
  s->port = port;
  s->why = why;
  pthread_cond_signal(&s->cond);
  pthread_mutex_unlock(&s->mutex);
}

/* Until corio_loop_group_stop cancels the main task. */
static int until_cancelled(void) {
  corio_future *never;
  int rc = corio_future_create(corio_loop_running(), &never);

  if (rc < 0)
    return rc;
  rc = corio_future_await(never, NULL);
  corio_future_unref(never);
  return rc;
}

static int server_main(void *arg, void **result) {
  http_server *s = arg;
  corio_server_options options = {0};
  corio_server *server;
  int rc, closed;

  (void)result;
  options.backlog = 4096; /* a thousand clients connect at once */
  rc = corio_start_server(serve_connection, s, "127.0.0.1", 0, &options,
                          &server);
  if (rc < 0) {
    announce(s, rc, 0, "corio_start_server on 127.0.0.1");
    return rc;
  }
  announce(s, 0, corio_server_port(server), NULL);
  rc = until_cancelled();
  (void)corio_server_close(server);
  for (handler *h = s->handlers.next; h != &s->handlers; h = h->next)
    (void)corio_task_cancel(h->task, "http_server_stop");
  (void)corio_server_abort_clients(server);
  closed = corio_server_wait_closed(server);
  corio_server_unref(server);
  return rc == -ECANCELED ? closed : rc;
}

/* ---- start and stop ------------------------------------------------------ */

/* The answer, head and body, built once. */
static int build_answer(http_server *s) {
  char head[160];
  int len = snprintf(head, sizeof head,
                     "HTTP/1.1 200 OK\r\n"
                     "Content-Type: application/octet-stream\r\n"
                     "Content-Length: %zu\r\n\r\n",
                     s->options.body_size);

  if (len < 0 || (size_t)len >= sizeof head)
    return -EINVAL;
  s->head_len = (size_t)len;
  s->answer_len = s->head_len + s->options.body_size;
  s->answer = malloc(s->answer_len);
  if (!s->answer)
    return -ENOMEM;
  memcpy(s->answer, head, s->head_len);
  for (size_t i = 0; i < s->options.body_size; i++)
    s->answer[s->head_len + i] = (char)('a' + i % 26);
  return 0;
}

static void server_free(http_server *s) {
  pthread_cond_destroy(&s->cond);
  pthread_mutex_destroy(&s->mutex);
  free(s->answer);
  free(s);
}

int http_server_start(const http_server_options *options, http_server **out,
                      const char **why) {
  http_server *s;
  int rc;

  if (why)
    *why = NULL;
  if (!options || !out || !(options->delay >= 0))
    return -EINVAL;
  *out = NULL;
  if (!(s = calloc(1, sizeof *s)))
    return -ENOMEM;
  s->options = *options;
  s->handlers.prev = s->handlers.next = &s->handlers;
  pthread_mutex_init(&s->mutex, NULL);
  pthread_cond_init(&s->cond, NULL);
  if ((rc = build_answer(s)) < 0) {
    server_free(s);
    return rc;
  }
  rc = corio_loop_group_start(1, server_main, s, &s->group);
  if (rc < 0) {
    if (why)
      *why = "corio_loop_group_start";
    server_free(s);
    return rc;
  }
  pthread_mutex_lock(&s->mutex);
  while (!s->announced)
    pthread_cond_wait(&s->cond, &s->mutex);
  pthread_mutex_unlock(&s->mutex);
  if (s->start_rc < 0) {
    rc = s->start_rc;
    if (why)
      *why = s->why;
    (void)corio_loop_group_join(s->group);
    server_free(s);
    return rc;
  }
  *out = s;
  return 0;
}

int http_server_port(const http_server *server) { return server->port; }

long http_server_requests_received(const http_server *server) {
  return atomic_load(&server->received);
}

long http_server_requests_answered(const http_server *server) {
  return atomic_load(&server->answered);
}

long http_server_connections(const http_server *server) {
  return atomic_load(&server->connections);
}

long http_server_max_waiting(const http_server *server) {
  return atomic_load(&server->max_waiting);
}

int http_server_stop(http_server *server) {
  int rc;

  if (!server)
    return 0;
  (void)corio_loop_group_stop(server->group);
  rc = corio_loop_group_join(server->group);
  server_free(server);
  return rc;
}
