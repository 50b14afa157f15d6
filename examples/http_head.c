/* Fetching HTTP headers: the C twin of seed 001's "example 2" of asyncio
 * streams, which prints the headers of the URL given on the command line.
 *
 *   async def print_http_headers(url):
 *       url = urllib.parse.urlsplit(url)
 *       if url.scheme == 'https':
 *           reader, writer = await asyncio.open_connection(
 *               url.hostname, 443, ssl=True)
 *       else:
 *           reader, writer = await asyncio.open_connection(
 *               url.hostname, 80)
 *       query = (
 *           f"HEAD {url.path or '/'} HTTP/1.0\r\n"
 *           f"Host: {url.hostname}\r\n"
 *           f"\r\n"
 *       )
 *       writer.write(query.encode('latin-1'))
 *       while True:
 *           line = await reader.readline()
 *           if not line:
 *               break
 *           line = line.decode('latin1').rstrip()
 *           if line:
 *               print(f'HTTP header> {line}')
 *       # Ignore the body, close the socket
 *       writer.close()
 *       await writer.wait_closed()
 *
 *   url = sys.argv[1]
 *   asyncio.run(print_http_headers(url))
 *
 * A test cannot depend on example.com, so the program starts its own
 * small HTTP server first, on 127.0.0.1 and a port the kernel picks, and
 * asks it for the headers of http://127.0.0.1:<port>/path/page.html. The
 * server answers every request with the same headers (its Date is fixed),
 * so the output is the same on every run. It prints the request it got,
 * marked "server>"; it does so before it answers, so its lines come before
 * the client's. The port is printed as <port>. Only http URLs are
 * handled: corio's net layer has no TLS yet.
 *
 * The seed's loop reads lines until readline returns nothing (the end of
 * the stream: an HTTP/1.0 server closes the connection after its answer,
 * and HEAD has no body), and prints each line but the blank one that ends
 * the headers. */
#include <stdlib.h>
#include <string.h>

#include <corio/net.h>

#include "example.h"

#define EXAMPLE "http_head"

/* The server's answer to every request (not const: an iovec points to
 * writable memory, though nothing writes through it). */
static char response_lines[][64] = {
    "HTTP/1.0 200 OK\r\n",
    "Server: corio-example/1.0\r\n",
    "Date: Mon, 01 Jan 2024 00:00:00 GMT\r\n",
    "Content-Type: text/html; charset=UTF-8\r\n",
    "Content-Length: 1256\r\n",
    "Last-Modified: Mon, 01 Jan 2024 00:00:00 GMT\r\n",
    "Connection: close\r\n",
    "\r\n",
};
#define N_RESPONSE_LINES (sizeof response_lines / sizeof response_lines[0])

/* The server's handler: reads the request's lines up to the blank one,
 * prints them, and answers. The server closes the connection when the
 * handler returns. arg: where a failure is recorded for main. */
static int handle_http(corio_stream *stream, void *arg) {
  int *failed = arg;
  struct iovec iov[N_RESPONSE_LINES];
  size_t i;
  int rc;

  rc = example_print_request(stream);
  if (rc < 0)
    return *failed = example_task_fail(EXAMPLE, "server readline", rc);
  /* writelines: the header lines leave in one writev. */
  for (i = 0; i < N_RESPONSE_LINES; i++) {
    iov[i].iov_base = response_lines[i];
    iov[i].iov_len = strlen(response_lines[i]);
  }
  rc = corio_stream_writev(stream, iov, (int)N_RESPONSE_LINES);
  if (rc == 0)
    rc = corio_stream_drain(stream);
  if (rc < 0)
    return *failed = example_task_fail(EXAMPLE, "server writev/drain", rc);
  return 0;
}

/* urllib.parse.urlsplit, as far as the example needs: http://host[:port]
 * followed by the path, if any. */
struct url {
  char scheme[8];
  char hostname[256];
  int port; /* -1: none given */
  const char *path;
};

static int urlsplit(const char *s, struct url *url) {
  const char *sep = strstr(s, "://"), *host, *end, *colon;
  size_t len;

  if (!sep || (size_t)(sep - s) >= sizeof url->scheme)
    return -EINVAL;
  memcpy(url->scheme, s, (size_t)(sep - s));
  url->scheme[sep - s] = '\0';
  host = sep + 3;
  end = host + strcspn(host, "/?#");
  colon = memchr(host, ':', (size_t)(end - host));
  len = (size_t)((colon ? colon : end) - host);
  if (len == 0 || len >= sizeof url->hostname)
    return -EINVAL;
  memcpy(url->hostname, host, len);
  url->hostname[len] = '\0';
  url->port = colon ? atoi(colon + 1) : -1;
  url->path = end;
  return 0;
}

static int print_http_headers(const char *s) {
  struct url url;
  corio_stream *stream;
  char query[1024];
  size_t path_len;
  int rc, len;

  rc = urlsplit(s, &url);
  if (rc < 0 || strcmp(url.scheme, "http") != 0)
    return example_task_fail(EXAMPLE, "urlsplit", rc < 0 ? rc : -EINVAL);
  rc = corio_open_connection(url.hostname, url.port < 0 ? 80 : url.port,
                             &stream);
  if (rc < 0)
    return example_task_fail(EXAMPLE, "corio_open_connection", rc);
  path_len = strcspn(url.path, "?#");
  len = snprintf(query, sizeof query,
                 "HEAD %.*s HTTP/1.0\r\n"
                 "Host: %s\r\n"
                 "\r\n",
                 path_len ? (int)path_len : 1, path_len ? url.path : "/",
                 url.hostname);
  rc = len > 0 && (size_t)len < sizeof query
           ? corio_stream_write(stream, query, (size_t)len)
           : -ENAMETOOLONG;
  return example_print_headers(EXAMPLE, stream, rc);
}

static int head_main(void *arg, void **result) {
  corio_server *server;
  char url[64];
  int failed = 0, rc, close_rc;

  (void)arg;
  (void)result;
  rc = corio_start_server(handle_http, &failed, "127.0.0.1", 0, NULL, &server);
  if (rc < 0)
    return example_task_fail(EXAMPLE, "corio_start_server", rc);
  if (corio_server_port(server) <= 0) {
    corio_server_unref(server);
    return example_task_fail(EXAMPLE, "corio_server_port", -EPROTO);
  }
  snprintf(url, sizeof url, "http://127.0.0.1:%d/path/page.html",
           corio_server_port(server));
  puts(">>> asyncio.run(print_http_headers("
       "'http://127.0.0.1:<port>/path/page.html'))");
  rc = print_http_headers(url);
  close_rc = corio_server_close(server);
  if (close_rc == 0)
    close_rc = corio_server_wait_closed(server);
  corio_server_unref(server);
  if (rc < 0 || failed < 0)
    return rc < 0 ? rc : failed;
  if (close_rc < 0)
    return example_task_fail(EXAMPLE, "corio_server_close/wait_closed",
                             close_rc);
  return 0;
}

int example_http_head(void) {
  int rc = corio_run(head_main, NULL, NULL);

  return rc < 0 ? example_fail(EXAMPLE, "corio_run", rc) : 0;
}

#ifdef EXAMPLE_STANDALONE
EXAMPLE_MAIN(example_http_head)
#endif
