/* A minimal HTTP/1.1 keep-alive server answering every request with
 * "Hello, World!": the "plaintext" server for load generators
 * (bench/net_http.sh runs wrk against it and against ../shared/bench's
 * http_uv). It runs until SIGINT or SIGTERM.
 *
 *   http_hello [--host H] [--port P] [--loops N]
 *
 * See net_serve.h for the flags, the loops and the stop.
 *
 * The handler parses straight from the stream's buffer, without copying:
 * corio_stream_peek points at everything the loop has read, every
 * complete request there is answered, and all those answers leave in one
 * write (pipelining: wrk and browsers send the next request before the
 * answer to the last one has come); corio_stream_consume then drops the
 * requests answered. A request cut in two by the network stays buffered,
 * and the next peek waits for more than those bytes.
 *
 * Every answer is
 *
 *   HTTP/1.1 200 OK
 *   Server: corio
 *   Date: <now, rendered once a second by a timer on each loop>
 *   Content-Type: text/plain
 *   Content-Length: 13
 *
 *   Hello, World!
 *
 * (no body for HEAD). The connection stays open unless the request says
 * "Connection: close" (or is HTTP/1.0 without "Connection: keep-alive"):
 * then the answer says "Connection: close" and the handler returns, and
 * the server closes the stream once the answer is sent. A malformed
 * request gets "400 Bad Request" and the connection closes: a bad request
 * line or header line, HTTP/1.1 without Host, a bad or repeated
 * Content-Length, a body above MAX_BODY, Transfer-Encoding (this server
 * takes no chunked bodies), or a request larger than the stream's 64 KiB
 * limit. A body within MAX_BODY is read and ignored. The parser is in
 * http_request.h (fuzz/http_request.c drives it with libFuzzer). */
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "http_request.h"
#include "net_serve.h"

#define EXAMPLE "http_hello"
/* Answers gathered before a write: a full buffer is written and refilled. */
#define OUT_CAP ((size_t)64 * 1024)
#define HELLO "Hello, World!"

/* One loop's state, the handlers' arg: the answers, rendered anew each
 * second, and the buffer where a handler gathers its answers. The loop's
 * tasks share the buffer: a handler fills it and writes it without
 * suspending in between (write never suspends). */
typedef struct http_loop {
  corio_handle *timer;
  char ok[256], ok_close[256], bad[256];
  size_t ok_len, ok_close_len, bad_len;
  size_t out_len;
  char out[OUT_CAP];
} http_loop;

/* ---- the answers --------------------------------------------------------- */

static size_t render(char *buf, size_t size, const char *status,
                     const char *date, const char *connection,
                     const char *body) {
  int n = snprintf(buf, size,
                   "HTTP/1.1 %s\r\nServer: corio\r\nDate: %s\r\n"
                   "Content-Type: text/plain\r\nContent-Length: %zu\r\n"
                   "%s\r\n%s",
                   status, date, strlen(body), connection, body);

  return n > 0 && (size_t)n < size ? (size_t)n : 0;
}

static void render_all(http_loop *h) {
  char date[64];
  time_t now = time(NULL);
  struct tm tm;

  gmtime_r(&now, &tm);
  strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
  h->ok_len = render(h->ok, sizeof h->ok, "200 OK", date, "", HELLO);
  h->ok_close_len = render(h->ok_close, sizeof h->ok_close, "200 OK", date,
                           "Connection: close\r\n", HELLO);
  h->bad_len = render(h->bad, sizeof h->bad, "400 Bad Request", date,
                      "Connection: close\r\n", "Bad Request");
}

/* Seconds until the next whole second of the wall clock, when the Date
 * changes. */
static double until_next_second(void) {
  struct timespec ts;

  clock_gettime(CLOCK_REALTIME, &ts);
  return 1.0 - (double)ts.tv_nsec * 1e-9 + 1e-4;
}

static int refresh_date(void *arg) {
  http_loop *h = arg;

  corio_handle_unref(h->timer); /* it has fired */
  h->timer = NULL;
  render_all(h);
  return corio_loop_call_later(corio_loop_running(), until_next_second(),
                               refresh_date, h, &h->timer);
}

static int loop_start(void **state) {
  http_loop *h = calloc(1, sizeof *h);
  int rc;

  if (!h)
    return -ENOMEM;
  render_all(h);
  rc = corio_loop_call_later(corio_loop_running(), until_next_second(),
                             refresh_date, h, &h->timer);
  if (rc < 0) {
    free(h);
    return rc;
  }
  *state = h;
  return 0;
}

static void loop_stop(void *state) {
  http_loop *h = state;

  if (h->timer) {
    corio_handle_cancel(h->timer);
    corio_handle_unref(h->timer);
  }
  free(h);
}

/* ---- the handler --------------------------------------------------------- */

static int flush(corio_stream *s, http_loop *h) {
  int rc = h->out_len ? corio_stream_write(s, h->out, h->out_len) : 0;

  h->out_len = 0;
  return rc;
}

static int answer(corio_stream *s, http_loop *h, const char *text, size_t len) {
  int rc;

  if (h->out_len + len > OUT_CAP && (rc = flush(s, h)) < 0)
    return rc;
  memcpy(h->out + h->out_len, text, len);
  h->out_len += len;
  return 0;
}

/* Answers every complete request in [data, data + len): returns the bytes
 * they took, or -1 when the connection is to close after the answers
 * (the answers are gathered in h->out). */
static long answer_all(corio_stream *s, http_loop *h, const char *data,
                       size_t len) {
  size_t off = 0;
  request r;
  long n;
  int rc;

  while (off < len && (n = parse_request(data + off, len - off, &r)) != 0) {
    if (n < 0) {
      (void)answer(s, h, h->bad, h->bad_len);
      return -1;
    }
    if (r.close)
      rc = answer(s, h, h->ok_close,
                  h->ok_close_len - (r.head ? strlen(HELLO) : 0));
    else
      rc = answer(s, h, h->ok, h->ok_len - (r.head ? strlen(HELLO) : 0));
    if (rc < 0 || r.close)
      return -1;
    off += (size_t)n;
  }
  return (long)off;
}

static int http(corio_stream *s, void *arg) {
  http_loop *h = arg;
  size_t have = 0; /* buffered bytes that hold no complete request */
  const void *data;
  size_t len;
  long used;
  int rc;

  for (;;) {
    rc = corio_stream_peek(s, have, &data, &len);
    if (rc == CORIO_ELIMITOVERRUN) { /* a request above the limit */
      (void)corio_stream_write(s, h->bad, h->bad_len);
      break;
    }
    if (rc < 0 || len <= have) /* a lost connection, or EOF */
      break;
    used = answer_all(s, h, data, len);
    if ((rc = flush(s, h)) < 0 || used < 0)
      break;
    (void)corio_stream_consume(s, (size_t)used);
    have = len - (size_t)used;
    /* Backpressure: a client that pipelines without reading. */
    if (corio_stream_write_buffer_size(s) != 0 &&
        (rc = corio_stream_drain(s)) < 0)
      break;
  }
  return rc == -ECANCELED ? rc : 0;
}

int main(int argc, char **argv) {
  static const net_serve_program program = {EXAMPLE, http, NULL, loop_start,
                                            loop_stop};

  return net_serve_run(&program, argc, argv);
}
