/* TCP echo client and server: the C twin of the two programs of seed 001's
 * asyncio streams section (Python's "TCP echo client and server"), run as
 * one program: the server listens, and the client talks to it.
 *
 *   async def handle_echo(reader, writer):
 *       data = await reader.read(100)
 *       message = data.decode()
 *       addr = writer.get_extra_info('peername')
 *       print(f"Received {message!r} from {addr!r}")
 *       print(f"Send: {message!r}")
 *       writer.write(data)
 *       await writer.drain()
 *       print("Close the connection")
 *       writer.close()
 *       await writer.wait_closed()
 *
 *   async def main():
 *       server = await asyncio.start_server(handle_echo, '127.0.0.1', 8888)
 *       addrs = ', '.join(str(sock.getsockname()) for sock in server.sockets)
 *       print(f'Serving on {addrs}')
 *       async with server:
 *           await server.serve_forever()
 *
 *   async def tcp_echo_client(message):
 *       reader, writer = await asyncio.open_connection('127.0.0.1', 8888)
 *       print(f'Send: {message!r}')
 *       writer.write(message.encode())
 *       await writer.drain()
 *       data = await reader.read(100)
 *       print(f'Received: {data.decode()!r}')
 *       print('Close the connection')
 *       writer.close()
 *       await writer.wait_closed()
 *
 * In C, asyncio's (reader, writer) pair is one corio_stream. The server
 * listens on port 0, so the kernel picks a free port (corio_server_port),
 * and runs serve_forever in a task of its own; main runs the client, then
 * cancels that task, which closes the server and waits for its handlers,
 * as leaving `async with server` does.
 *
 * Determinism. Ports are not printed: the server's is whatever the kernel
 * picked, the client's an ephemeral one. The program checks them instead
 * (each listening socket is bound to corio_server_port, and the peer the
 * handler sees is the client's own address) and prints placeholders. The
 * order of the lines is fixed by the data, not by timing: the handler's
 * read returns only once the client has written, and the client's read
 * only once the handler has written; between its write and its "Close the
 * connection" the handler does not suspend (drain returns at once while
 * the write buffer is below its high-water mark, as asyncio's). Lines are
 * marked "server:" and "client:", which the two Python programs, each in
 * its own terminal, do not need. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include <corio/net.h>

#include "example.h"

#define EXAMPLE "tcp_echo"
#define HOST "127.0.0.1"

struct echo {
  int client_port; /* the client's own port, once connected */
  int handler_rc;  /* the handler's failure, reported on stderr */
};

static int handler_fail(struct echo *e, const char *call, int rc) {
  e->handler_rc = example_task_fail(EXAMPLE, call, rc);
  return e->handler_rc;
}

/* handle_echo, run by the server as a task for each connection. */
static int handle_echo(corio_stream *stream, void *arg) {
  struct echo *e = arg;
  struct sockaddr_storage peer;
  socklen_t len = sizeof peer;
  char data[100];
  size_t n;
  int rc;

  rc = corio_stream_read(stream, data, sizeof data, &n);
  if (rc < 0)
    return handler_fail(e, "corio_stream_read", rc);
  /* writer.get_extra_info('peername'): the client's address. */
  rc = corio_stream_peername(stream, (struct sockaddr *)&peer, &len);
  if (rc < 0)
    return handler_fail(e, "corio_stream_peername", rc);
  if (example_loopback_port(&peer) != e->client_port) {
    fprintf(stderr, "%s: the peer is not the client\n", EXAMPLE);
    return handler_fail(e, "corio_stream_peername", -EPROTO);
  }
  printf("server: Received '%.*s' from ('" HOST "', <the client's port>)\n",
         (int)n, data);
  printf("server: Send: '%.*s'\n", (int)n, data);
  rc = corio_stream_write(stream, data, n);
  if (rc == 0)
    rc = corio_stream_drain(stream);
  if (rc < 0)
    return handler_fail(e, "corio_stream_write/drain", rc);
  puts("server: Close the connection");
  rc = corio_stream_close(stream);
  if (rc == 0)
    rc = corio_stream_wait_closed(stream);
  return rc < 0 ? handler_fail(e, "corio_stream_close/wait_closed", rc) : 0;
}

static int tcp_echo_client(struct echo *e, int port, const char *message) {
  struct sockaddr_storage self;
  socklen_t len = sizeof self;
  corio_stream *stream;
  char data[100];
  size_t n;
  int rc;

  rc = corio_open_connection(HOST, port, &stream);
  if (rc < 0)
    return example_task_fail(EXAMPLE, "corio_open_connection", rc);
  /* The handler checks its peer against this: the client's own address. */
  rc = corio_stream_sockname(stream, (struct sockaddr *)&self, &len);
  if (rc < 0 || (e->client_port = example_loopback_port(&self)) <= 0) {
    corio_stream_unref(stream);
    return example_task_fail(EXAMPLE, "corio_stream_sockname",
                             rc < 0 ? rc : -EPROTO);
  }
  printf("client: Send: '%s'\n", message);
  rc = corio_stream_write(stream, message, strlen(message));
  if (rc == 0)
    rc = corio_stream_drain(stream);
  if (rc == 0)
    rc = corio_stream_read(stream, data, sizeof data, &n);
  if (rc < 0) {
    corio_stream_unref(stream);
    return example_task_fail(EXAMPLE, "write/drain/read", rc);
  }
  printf("client: Received: '%.*s'\n", (int)n, data);
  puts("client: Close the connection");
  rc = corio_stream_close(stream);
  if (rc == 0)
    rc = corio_stream_wait_closed(stream);
  corio_stream_unref(stream);
  return rc < 0 ? example_task_fail(EXAMPLE, "close/wait_closed", rc) : 0;
}

/* print(f'Serving on {addrs}'), with each listening socket checked to be
 * on HOST and corio_server_port. */
static int print_serving(corio_server *server, int port) {
  int fds[4];
  size_t i, n = corio_server_sockets(server, fds, 4);

  if (port <= 0 || n == 0 || n > 4)
    return example_task_fail(EXAMPLE, "corio_server_port/sockets", -EPROTO);
  printf("Serving on ");
  for (i = 0; i < n; i++) {
    struct sockaddr_storage addr;
    socklen_t len = sizeof addr;

    if (getsockname(fds[i], (struct sockaddr *)&addr, &len) < 0)
      return example_task_fail(EXAMPLE, "getsockname", -errno);
    if (example_loopback_port(&addr) != port)
      return example_task_fail(EXAMPLE, "corio_server_sockets", -EPROTO);
    printf("%s('" HOST "', <port>)", i ? ", " : "");
  }
  printf("\n");
  return 0;
}

static int serve_forever(void *arg, void **result) {
  (void)result;
  return corio_server_serve_forever(arg);
}

static int echo_main(void *arg, void **result) {
  struct echo e = {0, 0};
  corio_server *server;
  corio_task *serving;
  int rc, serve_rc;

  (void)arg;
  (void)result;
  rc = corio_start_server(handle_echo, &e, HOST, 0, NULL, &server);
  if (rc < 0)
    return example_task_fail(EXAMPLE, "corio_start_server", rc);
  rc = print_serving(server, corio_server_port(server));
  if (rc == 0) {
    rc = corio_spawn(&serving, serve_forever, server);
    if (rc < 0)
      (void)example_task_fail(EXAMPLE, "corio_spawn", rc);
  }
  if (rc < 0) {
    corio_server_unref(server);
    return rc;
  }
  rc = tcp_echo_client(&e, corio_server_port(server), "Hello World!");
  /* Leaving `async with server`: serve_forever, cancelled, closes the
   * server and waits until every handler has returned. */
  (void)corio_task_cancel(serving, NULL);
  serve_rc = corio_await(serving, NULL);
  corio_task_unref(serving);
  corio_server_unref(server);
  if (rc < 0)
    return rc;
  if (serve_rc != -ECANCELED)
    return example_task_unexpected(EXAMPLE, "serve_forever", serve_rc,
                                   -ECANCELED);
  if (e.handler_rc < 0)
    return e.handler_rc;
  puts("server closed");
  return 0;
}

int example_tcp_echo(void) {
  return example_run(EXAMPLE, echo_main,
                     ">>> asyncio.run(main())  # the server, then "
                     "tcp_echo_client('Hello World!')");
}

#ifdef EXAMPLE_STANDALONE
EXAMPLE_MAIN(example_tcp_echo)
#endif
