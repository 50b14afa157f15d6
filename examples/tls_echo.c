/* TLS echo client and server: seed 001's "TCP echo client and server"
 * with ssl contexts, as asyncio writes it:
 *
 *   server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
 *   server_ctx.load_cert_chain('cert.pem', 'key.pem')
 *   server = await asyncio.start_server(handle_echo, '127.0.0.1', 8888,
 *                                       ssl=server_ctx)
 *   ...
 *   client_ctx = ssl.create_default_context(cafile='cert.pem')
 *   reader, writer = await asyncio.open_connection(
 *       '127.0.0.1', 8888, ssl=client_ctx, server_hostname='localhost')
 *
 * The handler and the client are tcp_echo's, unchanged but for the
 * contexts: a TLS stream is a stream. The certificate is made by the
 * program (example_tls.h, for localhost), so the client verifies the
 * server and checks the name it was given (SNI too). The handler also
 * prints what the handshake settled (version, ALPN), and the client
 * shows that write_eof does not exist over TLS (asyncio's can_write_eof
 * is False there). Ports are not printed; the order of the lines is
 * fixed by the data, as in tcp_echo. */
#include <string.h>

#include <corio/net.h>
#include <corio/tls.h>

#include "example.h"
#include "example_tls.h"

#define EXAMPLE "tls_echo"

struct tls_echo {
  struct example_cert cert;
  int handler_rc;
};

static int handle_echo(corio_stream *stream, void *arg) {
  struct tls_echo *e = arg;
  char data[100];
  size_t n;
  int rc;

  printf(
      "server: handshake done: %s, ALPN %s\n", corio_stream_tls_version(stream),
      corio_stream_tls_alpn(stream) ? corio_stream_tls_alpn(stream) : "none");
  rc = corio_stream_read(stream, data, sizeof data, &n);
  if (rc < 0)
    return e->handler_rc = example_task_fail(EXAMPLE, "server read", rc);
  printf("server: Received '%.*s'\n", (int)n, data);
  printf("server: Send: '%.*s'\n", (int)n, data);
  rc = corio_stream_write_all(stream, data, n);
  if (rc < 0)
    return e->handler_rc = example_task_fail(EXAMPLE, "server write", rc);
  puts("server: Close the connection");
  rc = corio_stream_close(stream);
  if (rc == 0)
    rc = corio_stream_wait_closed(stream);
  return rc < 0 ? e->handler_rc = example_task_fail(EXAMPLE, "server close", rc)
                : 0;
}

static int tls_echo_client(corio_tls_context *ctx, int port,
                           const char *message) {
  corio_connect_options options = {0};
  corio_stream *stream;
  char data[100];
  size_t n;
  int rc;

  options.tls = ctx;
  options.server_hostname = "localhost";
  rc = corio_open_connection_ex("127.0.0.1", port, &options, &stream);
  if (rc < 0)
    return example_task_fail(EXAMPLE, "corio_open_connection_ex", rc);
  printf("client: can_write_eof: %s, write_eof: %s\n",
         corio_stream_can_write_eof(stream) ? "True" : "False",
         corio_strerror(corio_stream_write_eof(stream)));
  printf("client: Send: '%s'\n", message);
  rc = corio_stream_write_all(stream, message, strlen(message));
  if (rc == 0)
    rc = corio_stream_read(stream, data, sizeof data, &n);
  if (rc < 0) {
    corio_stream_unref(stream);
    return example_task_fail(EXAMPLE, "write/read", rc);
  }
  printf("client: Received: '%.*s'\n", (int)n, data);
  /* The server's close_notify reads as EOF. */
  rc = corio_stream_read(stream, data, sizeof data, &n);
  if (rc == 0)
    printf("client: then EOF (%zu bytes)\n", n);
  puts("client: Close the connection");
  if (rc == 0)
    rc = corio_stream_close(stream);
  if (rc == 0)
    rc = corio_stream_wait_closed(stream);
  corio_stream_unref(stream);
  return rc < 0 ? example_task_fail(EXAMPLE, "read/close", rc) : 0;
}

static int echo_main(void *arg, void **result) {
  static const char *const alpn[] = {"echo/1"};
  struct tls_echo *e = arg;
  corio_tls_context *server_ctx = NULL, *client_ctx = NULL;
  corio_server_options options = {0};
  corio_server *server = NULL;
  int rc;

  (void)result;
  if ((rc = corio_tls_context_new(CORIO_TLS_SERVER, &server_ctx)) < 0 ||
      (rc = corio_tls_context_load_cert_chain(server_ctx, e->cert.cert,
                                              e->cert.key)) < 0 ||
      (rc = corio_tls_context_set_alpn_protocols(server_ctx, alpn, 1)) < 0 ||
      (rc = corio_tls_context_new(CORIO_TLS_CLIENT, &client_ctx)) < 0 ||
      (rc = corio_tls_context_load_verify_locations(client_ctx, e->cert.cert,
                                                    NULL)) < 0 ||
      (rc = corio_tls_context_set_alpn_protocols(client_ctx, alpn, 1)) < 0) {
    rc = example_task_fail(EXAMPLE, "TLS context", rc);
    goto done;
  }
  options.tls = server_ctx;
  rc = corio_start_server(handle_echo, e, "127.0.0.1", 0, &options, &server);
  if (rc < 0) {
    rc = example_task_fail(EXAMPLE, "corio_start_server", rc);
    goto done;
  }
  puts("Serving on ('127.0.0.1', <port>) with TLS");
  rc = tls_echo_client(client_ctx, corio_server_port(server), "Hello World!");
  if (rc == 0)
    rc = corio_server_close(server);
  if (rc == 0)
    rc = corio_server_wait_closed(server);
  if (rc == 0 && e->handler_rc < 0)
    rc = e->handler_rc;
  if (rc == 0)
    puts("server closed");
done:
  corio_server_unref(server);
  corio_tls_context_unref(server_ctx);
  corio_tls_context_unref(client_ctx);
  return rc;
}

int example_tls_echo(void) {
  struct tls_echo e;
  int rc;

  memset(&e, 0, sizeof e);
  if (example_cert_make(&e.cert) < 0) {
    example_cert_remove(&e.cert);
    fprintf(stderr, "%s: could not make a certificate\n", EXAMPLE);
    return 1;
  }
  puts(">>> asyncio.run(main())");
  rc = corio_run(echo_main, &e, NULL);
  example_cert_remove(&e.cert);
  return rc < 0 ? example_fail(EXAMPLE, "corio_run", rc) : 0;
}

#ifdef EXAMPLE_STANDALONE
EXAMPLE_MAIN(example_tls_echo)
#endif
