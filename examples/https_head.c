/* Fetching HTTPS headers: the TLS half of seed 001's "example 2" of
 * asyncio streams (http_head.c is the plain half), which prints the
 * headers of the URL given on the command line:
 *
 *   async def print_http_headers(url):
 *       url = urllib.parse.urlsplit(url)
 *       if url.scheme == 'https':
 *           reader, writer = await asyncio.open_connection(
 *               url.hostname, 443, ssl=True)
 *       ...
 *       writer.write(query.encode('latin-1'))
 *       while True:
 *           line = await reader.readline()
 *           if not line:
 *               break
 *           line = line.decode('latin1').rstrip()
 *           if line:
 *               print(f'HTTP header> {line}')
 *       writer.close()
 *       await writer.wait_closed()
 *
 * `ssl=True` is Python's default context: the server's certificate is
 * verified and must name the host. A test cannot reach a real HTTPS
 * site, so the program makes its own certificate (for localhost and
 * 127.0.0.1, example_tls.h), starts a TLS server with it on 127.0.0.1 and
 * a port the kernel picks, and fetches https://127.0.0.1:<port>/... with
 * a client context that trusts that one certificate: verification and
 * the hostname check (here an IP address) are on, as with ssl=True. The
 * reading loop is the plain example's, unchanged: a TLS stream is a
 * stream. The server prints the request it got ("server>") before it
 * answers; its Date is fixed; the port is printed as <port>. */
#include <stdlib.h>
#include <string.h>

#include <corio/net.h>
#include <corio/tls.h>

#include "example.h"
#include "example_tls.h"

#define EXAMPLE "https_head"

static const char response[] = "HTTP/1.0 200 OK\r\n"
                               "Server: corio-example/1.0\r\n"
                               "Date: Mon, 01 Jan 2024 00:00:00 GMT\r\n"
                               "Content-Type: text/html; charset=UTF-8\r\n"
                               "Content-Length: 1256\r\n"
                               "Connection: close\r\n"
                               "\r\n";

/* The server's handler: the handshake is done when it runs. */
static int handle_https(corio_stream *stream, void *arg) {
  int *failed = arg;
  int rc;

  rc = example_print_request(stream);
  if (rc < 0)
    return *failed = example_task_fail(EXAMPLE, "server readline", rc);
  rc = corio_stream_write_all(stream, response, strlen(response));
  return rc < 0 ? *failed = example_task_fail(EXAMPLE, "server write", rc) : 0;
}

/* open_connection(host, port, ssl=context): verified, SNI and hostname
 * from the URL. */
static int print_https_headers(const char *host, int port,
                               corio_tls_context *ctx) {
  corio_connect_options options = {0};
  corio_stream *stream;
  char query[256], subject[128];
  int rc, len;

  options.tls = ctx;
  rc = corio_open_connection_ex(host, port, &options, &stream);
  if (rc < 0) {
    const char *why = corio_fail_message(rc);

    fprintf(stderr, "%s: %s\n", EXAMPLE, why ? why : corio_strerror(rc));
    return example_task_fail(EXAMPLE, "corio_open_connection_ex", rc);
  }
  rc = corio_stream_tls_peer_subject(stream, subject, sizeof subject);
  if (rc < 0) {
    corio_stream_unref(stream);
    return example_task_fail(EXAMPLE, "corio_stream_tls_peer_subject", rc);
  }
  printf("connected: %s, certificate %s verified\n",
         corio_stream_tls_version(stream), subject);
  len = snprintf(query, sizeof query,
                 "HEAD /path/page.html HTTP/1.0\r\n"
                 "Host: %s\r\n"
                 "\r\n",
                 host);
  rc = corio_stream_write(stream, query, (size_t)len);
  /* The reading loop is the plain example's; close sends close_notify. */
  return example_print_headers(EXAMPLE, stream, rc);
}

static int head_main(void *arg, void **result) {
  struct example_cert *cert = arg;
  corio_tls_context *server_ctx = NULL, *client_ctx = NULL;
  corio_server_options options = {0};
  corio_server *server = NULL;
  int failed = 0, rc;

  (void)result;
  if ((rc = corio_tls_context_new(CORIO_TLS_SERVER, &server_ctx)) < 0 ||
      (rc = corio_tls_context_load_cert_chain(server_ctx, cert->cert,
                                              cert->key)) < 0 ||
      (rc = corio_tls_context_new(CORIO_TLS_CLIENT, &client_ctx)) < 0 ||
      (rc = corio_tls_context_load_verify_locations(client_ctx, cert->cert,
                                                    NULL)) < 0) {
    rc = example_task_fail(EXAMPLE, "TLS context", rc);
    goto done;
  }
  options.tls = server_ctx;
  rc = corio_start_server(handle_https, &failed, "127.0.0.1", 0, &options,
                          &server);
  if (rc < 0) {
    rc = example_task_fail(EXAMPLE, "corio_start_server", rc);
    goto done;
  }
  puts(">>> asyncio.run(print_http_headers("
       "'https://127.0.0.1:<port>/path/page.html'))");
  rc = print_https_headers("127.0.0.1", corio_server_port(server), client_ctx);
  if (rc == 0)
    rc = corio_server_close(server);
  if (rc == 0)
    rc = corio_server_wait_closed(server);
  if (rc == 0 && failed < 0)
    rc = failed;
done:
  corio_server_unref(server);
  corio_tls_context_unref(server_ctx);
  corio_tls_context_unref(client_ctx);
  return rc;
}

int example_https_head(void) {
  struct example_cert cert;
  int rc;

  if (example_cert_make(&cert) < 0) {
    example_cert_remove(&cert);
    fprintf(stderr, "%s: could not make a certificate\n", EXAMPLE);
    return 1;
  }
  rc = corio_run(head_main, &cert, NULL);
  example_cert_remove(&cert);
  return rc < 0 ? example_fail(EXAMPLE, "corio_run", rc) : 0;
}

#ifdef EXAMPLE_STANDALONE
EXAMPLE_MAIN(example_https_head)
#endif
