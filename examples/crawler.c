/* An asynchronous crawler with a limit: the C twin of seed 002's crawler,
 * with real pages instead of its sleeps, fetched as seed 001's aiohttp
 * example does (all at once with gather), and at most LIMIT at a time, as
 * seed 003 bounds concurrency with a semaphore.
 *
 *   sem = asyncio.Semaphore(3)
 *
 *   async def crawl_page(url):
 *       print('crawling {}'.format(url))
 *       async with sem:
 *           reader, writer = await asyncio.open_connection(host, port)
 *           writer.write(f'GET /{url} HTTP/1.0\r\nHost: {host}\r\n\r\n'
 *                        .encode())
 *           status = await reader.readline()       # HTTP/1.0 200 OK
 *           ...headers, up to the blank line: Content-Length...
 *           body = await reader.readexactly(length)
 *           writer.close()
 *           await writer.wait_closed()
 *       return status, body
 *
 *   async def main(urls):
 *       pages = await asyncio.gather(*(crawl_page(url) for url in urls))
 *       for url, (status, body) in zip(urls, pages):
 *           print('OK {}: ...'.format(url))
 *
 *   asyncio.run(main(['url_1', 'url_2', ..., 'url_8']))
 *
 * The pages come from a small HTTP server the program starts on 127.0.0.1
 * and a port the kernel picks.
 *
 * Making the limit visible without timing. The server holds each request
 * until a whole batch has come in: LIMIT requests, or, for the last batch,
 * all that are left. So the crawler must really have LIMIT fetches under
 * way at once, or the server waits (up to HOLD_TIMEOUT, then it fails the
 * run); and it cannot have more, or the server sees more than LIMIT
 * requests in flight. The server counts the requests it has read and not
 * yet answered; the crawler counts the tasks inside `async with sem`. Both
 * maxima are printed, and are LIMIT on every run, however the machine is
 * loaded.
 *
 * Determinism. The "crawling" lines come from the tasks' first steps, which
 * run in the order gather started them, before any fetch can complete. The
 * order in which the fetches of one batch complete depends on the kernel,
 * so the results are printed after the gather, in URL order, as seed 001
 * prints its contents. Which batch serves each page does not depend on
 * timing: the semaphore hands its permits out in FIFO order, and a batch
 * is answered only once it is complete, so pages 1-3 make the first batch,
 * 4-6 the second, 7-8 the last. The server writes the batch into an
 * X-Batch header, which the crawler prints. */
#include <stdlib.h>
#include <string.h>

#include <corio/net.h>
#include <corio/sync.h>

#include "example.h"

#define EXAMPLE "crawler"
#define HOST "127.0.0.1"
#define N_PAGES 8
#define LIMIT 3
/* How long the server waits for a batch to fill before it gives up: far
 * longer than any run takes, loaded or under Valgrind, and shorter than
 * ctest's 30 s, so that a crawler that never has LIMIT fetches under way
 * fails with a report instead of hanging. */
#define HOLD_TIMEOUT 20.0

/* ---- the server ---------------------------------------------------------- */

struct server_state {
  corio_condition cond; /* its lock guards the counts */
  int arrived;          /* requests read */
  int released;         /* requests let through: whole batches */
  int batches;          /* batches let through */
  int in_flight;        /* read, not yet answered */
  int max_in_flight;
  int handler_rc; /* a handler's failure, reported on stderr */
};

struct hold {
  struct server_state *s;
  int index; /* the request's rank in arrival order, from 0 */
};

static int batch_released(void *arg) {
  struct hold *h = arg;

  return h->index < h->s->released;
}

static int handler_fail(struct server_state *s, const char *call, int rc) {
  s->handler_rc = example_task_fail(EXAMPLE, call, rc);
  return s->handler_rc;
}

/* Counts the request in, lets its batch through once it is complete, and
 * waits until its own batch is let through; returns the batch (from 1) or
 * a negative code. */
static int hold_request(struct server_state *s) {
  struct hold h = {s, 0};
  corio_timeout scope;
  int rc, batch, left, want;

  rc = corio_lock_acquire(corio_condition_lock(&s->cond));
  if (rc < 0)
    return rc;
  h.index = s->arrived++;
  batch = s->batches + 1;
  if (++s->in_flight > s->max_in_flight)
    s->max_in_flight = s->in_flight;
  left = N_PAGES - s->released;
  want = left < LIMIT ? left : LIMIT;
  if (s->arrived - s->released == want) {
    s->released = s->arrived;
    s->batches++;
    rc = corio_condition_notify_all(&s->cond);
  }
  if (rc == 0)
    rc = corio_timeout_enter(&scope, HOLD_TIMEOUT);
  if (rc == 0) {
    rc = corio_condition_wait_for(&s->cond, batch_released, &h);
    rc = corio_timeout_exit(&scope, rc);
  }
  s->in_flight--;
  if (rc == -ETIMEDOUT)
    fprintf(stderr,
            "%s: the server held batch %d for %g s: %d requests came "
            "(of %d)\n",
            EXAMPLE, batch, HOLD_TIMEOUT, s->arrived - s->released, want);
  /* wait_for returns with the lock held, but for CORIO_ECLOSED. */
  if (rc != CORIO_ECLOSED)
    (void)corio_lock_release(corio_condition_lock(&s->cond));
  return rc < 0 ? rc : batch;
}

/* The server's handler: GET /url_<n>, answered with a short page once its
 * batch is complete. The server closes the connection when it returns. */
static int handle_get(corio_stream *stream, void *arg) {
  struct server_state *s = arg;
  char line[256], response[256];
  size_t n;
  int rc, page, batch, body_len, len;

  rc = corio_stream_readline(stream, line, sizeof line - 1, &n);
  if (rc < 0)
    return handler_fail(s, "server readline", rc);
  line[n] = '\0';
  if (sscanf(line, "GET /url_%d HTTP/1.0", &page) != 1)
    return handler_fail(s, "server: a request that is not GET /url_<n>",
                        -EPROTO);
  /* The headers, up to the blank line. */
  while (rc == 0 && n > 2)
    rc = corio_stream_readline(stream, line, sizeof line, &n);
  if (rc < 0)
    return handler_fail(s, "server readline", rc);
  batch = hold_request(s);
  if (batch < 0)
    return handler_fail(s, "server: holding the request", batch);
  body_len = snprintf(line, sizeof line, "page %d of %d", page, N_PAGES);
  len = snprintf(response, sizeof response,
                 "HTTP/1.0 200 OK\r\n"
                 "Content-Type: text/plain\r\n"
                 "Content-Length: %d\r\n"
                 "X-Batch: %d\r\n"
                 "\r\n"
                 "%s",
                 body_len, batch, line);
  rc = corio_stream_write_all(stream, response, (size_t)len);
  return rc < 0 ? handler_fail(s, "server write_all", rc) : 0;
}

/* ---- the crawler --------------------------------------------------------- */

struct crawl {
  corio_semaphore sem;
  int port;
  int active, max_active; /* tasks inside `async with sem` */
};

struct page {
  struct crawl *c;
  int n; /* url_<n> */
  char status[64];
  int batch;
  char body[64];
  size_t length;
};

/* Reads the status line and the headers; sets page's status, batch and
 * length. */
static int read_head(corio_stream *stream, struct page *p) {
  char line[256];
  size_t n;
  long length = -1;
  int rc;

  rc = corio_stream_readline(stream, p->status, sizeof p->status - 1, &n);
  if (rc < 0)
    return rc;
  p->status[n] = '\0';
  p->status[strcspn(p->status, "\r\n")] = '\0';
  for (;;) {
    rc = corio_stream_readline(stream, line, sizeof line - 1, &n);
    if (rc < 0)
      return rc;
    if (n <= 2)
      break; /* the blank line, or EOF */
    line[n] = '\0';
    if (strncmp(line, "Content-Length: ", 16) == 0)
      length = strtol(line + 16, NULL, 10);
    else if (strncmp(line, "X-Batch: ", 9) == 0)
      p->batch = atoi(line + 9);
  }
  if (length < 0 || (size_t)length >= sizeof p->body)
    return -EPROTO;
  p->length = (size_t)length;
  return 0;
}

/* GET /url_<n>, within the semaphore's limit. */
static int fetch(struct page *p) {
  corio_stream *stream;
  char request[128];
  size_t n;
  int rc, len;

  rc = corio_open_connection(HOST, p->c->port, &stream);
  if (rc < 0)
    return example_task_fail(EXAMPLE, "corio_open_connection", rc);
  len = snprintf(request, sizeof request,
                 "GET /url_%d HTTP/1.0\r\nHost: " HOST "\r\n\r\n", p->n);
  rc = corio_stream_write(stream, request, (size_t)len);
  if (rc == 0)
    rc = read_head(stream, p);
  if (rc == 0)
    rc = corio_stream_readexactly(stream, p->body, p->length, &n);
  if (rc < 0) {
    corio_stream_unref(stream);
    return example_task_fail(EXAMPLE, "GET", rc);
  }
  p->body[n] = '\0';
  rc = corio_stream_close(stream);
  if (rc == 0)
    rc = corio_stream_wait_closed(stream);
  corio_stream_unref(stream);
  return rc < 0 ? example_task_fail(EXAMPLE, "close/wait_closed", rc) : 0;
}

/* crawl_page(url): a gather child. */
static int crawl_page(void *arg, void **result) {
  struct page *p = arg;
  struct crawl *c = p->c;
  int rc, release_rc;

  (void)result;
  printf("crawling url_%d\n", p->n);
  rc = corio_semaphore_acquire(&c->sem);
  if (rc < 0)
    return rc == -ECANCELED ? rc : example_task_fail(EXAMPLE, "acquire", rc);
  if (++c->active > c->max_active)
    c->max_active = c->active;
  rc = fetch(p);
  c->active--;
  release_rc = corio_semaphore_release(&c->sem);
  if (release_rc < 0 && rc == 0)
    rc = example_task_fail(EXAMPLE, "corio_semaphore_release", release_rc);
  return rc;
}

/* The gather, its outcomes checked; prints the pages in URL order. */
static int crawl_all(struct crawl *c) {
  struct page pages[N_PAGES];
  corio_awaitable children[N_PAGES];
  corio_outcome outcomes[N_PAGES];
  int i, rc;

  for (i = 0; i < N_PAGES; i++) {
    memset(&pages[i], 0, sizeof pages[i]);
    pages[i].c = c;
    pages[i].n = i + 1;
    children[i] = CORIO_AWAIT_FN(crawl_page, &pages[i]);
  }
  /* return_exceptions: the gather returns only once every child is done,
   * for they use the pages on this stack. */
  rc =
      corio_gather(children, N_PAGES, outcomes, CORIO_GATHER_RETURN_EXCEPTIONS);
  for (i = 0; i < N_PAGES && rc == 0; i++)
    rc = outcomes[i].error; /* each failure was reported by its child */
  corio_outcomes_clear(outcomes, N_PAGES);
  if (rc < 0)
    return rc == -ECANCELED ? rc : example_task_fail(EXAMPLE, "gather", rc);
  for (i = 0; i < N_PAGES; i++)
    printf("OK url_%d: %s, %zu bytes '%s', answered in batch %d\n", pages[i].n,
           pages[i].status, pages[i].length, pages[i].body, pages[i].batch);
  return 0;
}

static int crawler_main(void *arg, void **result) {
  struct server_state s;
  struct crawl c;
  corio_server *server;
  int rc, close_rc, destroy_rc;

  (void)arg;
  (void)result;
  memset(&s, 0, sizeof s);
  corio_condition_init(&s.cond, NULL);
  memset(&c, 0, sizeof c);
  rc = corio_semaphore_init(&c.sem, LIMIT);
  if (rc < 0)
    return example_task_fail(EXAMPLE, "corio_semaphore_init", rc);
  rc = corio_start_server(handle_get, &s, HOST, 0, NULL, &server);
  if (rc < 0)
    return example_task_fail(EXAMPLE, "corio_start_server", rc);
  c.port = corio_server_port(server);
  rc = c.port > 0 ? crawl_all(&c)
                  : example_task_fail(EXAMPLE, "corio_server_port", -EPROTO);
  /* The handlers use s: they are done before it goes. */
  close_rc = corio_server_close(server);
  if (close_rc == 0)
    close_rc = corio_server_wait_closed(server);
  corio_server_unref(server);
  destroy_rc = corio_semaphore_destroy(&c.sem);
  if (destroy_rc == 0)
    destroy_rc = corio_condition_destroy(&s.cond);
  if (rc < 0)
    return rc;
  if (s.handler_rc < 0)
    return s.handler_rc;
  if (close_rc < 0)
    return example_task_fail(EXAMPLE, "corio_server_close/wait_closed",
                             close_rc);
  if (destroy_rc < 0)
    return example_task_fail(EXAMPLE, "destroy", destroy_rc);
  printf("fetched %d pages, at most %d at a time\n", N_PAGES, LIMIT);
  printf("most fetches inside the semaphore at once: %d\n", c.max_active);
  printf("most requests in flight at the server: %d\n", s.max_in_flight);
  return 0;
}

int example_crawler(void) {
  return example_run(EXAMPLE, crawler_main,
                     ">>> asyncio.run(main(['url_1', ..., 'url_8']))"
                     "  # at most 3 at a time");
}

#ifdef EXAMPLE_STANDALONE
EXAMPLE_MAIN(example_crawler)
#endif
