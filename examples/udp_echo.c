/* UDP echo server and client: the C twin of asyncio's "UDP Echo Server"
 * and "UDP Echo Client" examples (loop.create_datagram_endpoint), run as
 * one program, with tasks instead of protocol callbacks:
 *
 *   class EchoServerProtocol:
 *       def connection_made(self, transport):
 *           self.transport = transport
 *       def datagram_received(self, data, addr):
 *           message = data.decode()
 *           print('Received %r from %s' % (message, addr))
 *           print('Send %r to %s' % (message, addr))
 *           self.transport.sendto(data, addr)
 *
 *   async def main():                       # the server
 *       print("Starting UDP server")
 *       transport, protocol = await loop.create_datagram_endpoint(
 *           lambda: EchoServerProtocol(), local_addr=('127.0.0.1', 9999))
 *       try:
 *           await asyncio.sleep(3600)
 *       finally:
 *           transport.close()
 *
 *   class EchoClientProtocol:
 *       def connection_made(self, transport):
 *           print('Send:', self.message)
 *           transport.sendto(self.message.encode())
 *       def datagram_received(self, data, addr):
 *           print("Received:", data.decode())
 *           print("Close the socket")
 *           self.transport.close()
 *       def error_received(self, exc):
 *           print('Error received:', exc)
 *       def connection_lost(self, exc):
 *           print("Connection closed")
 *
 *   transport, protocol = await loop.create_datagram_endpoint(
 *       lambda: EchoClientProtocol(message, on_con_lost),
 *       remote_addr=('127.0.0.1', 9999))
 *
 * datagram_received becomes a loop of corio_datagram_recvfrom in the
 * server's task; error_received is the error that receive returns. The
 * client then talks to a port nobody listens on: the kernel's ICMP "port
 * unreachable" comes back as -ECONNREFUSED (asyncio's error_received).
 *
 * Determinism. The server binds port 0 (the kernel picks a free one) and
 * the client's port is ephemeral: neither is printed, the program checks
 * them instead. The order of lines is fixed by the data: the server
 * prints only once the client's datagram is there, the client only once
 * the answer is. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <corio/udp.h>

#include "example.h"

#define EXAMPLE "udp_echo"
#define HOST "127.0.0.1"

struct server {
  corio_datagram *endpoint;
  int client_port; /* the client's own port, once it has one */
};

/* datagram_received, as a loop: until cancelled (asyncio.sleep(3600)
 * interrupted), then transport.close() in the `finally`. */
static int serve(void *arg, void **result) {
  struct server *s = arg;
  int rc;

  (void)result;
  for (;;) {
    struct sockaddr_storage addr;
    socklen_t len = sizeof addr;
    char data[100];
    size_t n;

    rc = corio_datagram_recvfrom(s->endpoint, data, sizeof data, &n,
                                 (struct sockaddr *)&addr, &len);
    if (rc < 0)
      break;
    if (example_loopback_port(&addr) != s->client_port) {
      rc = example_task_fail(EXAMPLE, "recvfrom: not the client", -EPROTO);
      break;
    }
    printf("server: Received '%.*s' from ('" HOST "', <the client's port>)\n",
           (int)n, data);
    printf("server: Send '%.*s' to ('" HOST "', <the client's port>)\n", (int)n,
           data);
    rc = corio_datagram_sendto(s->endpoint, data, n, (struct sockaddr *)&addr,
                               len);
    if (rc < 0) {
      (void)example_task_fail(EXAMPLE, "corio_datagram_sendto", rc);
      break;
    }
  }
  (void)corio_datagram_close(s->endpoint);
  return rc == -ECANCELED ? 0 : rc;
}

/* EchoClientProtocol, as straight-line code. */
static int echo_client(struct server *s, int port, const char *message) {
  struct sockaddr_storage self;
  socklen_t len = sizeof self;
  corio_datagram *endpoint;
  char data[100];
  size_t n;
  int rc;

  rc = corio_create_datagram_endpoint(NULL, 0, HOST, port, NULL, &endpoint);
  if (rc < 0)
    return example_task_fail(EXAMPLE, "corio_create_datagram_endpoint", rc);
  /* Connected: the kernel gave the socket its address already. */
  rc = corio_datagram_sockname(endpoint, (struct sockaddr *)&self, &len);
  if (rc < 0 || (s->client_port = example_loopback_port(&self)) <= 0) {
    corio_datagram_unref(endpoint);
    return example_task_fail(EXAMPLE, "corio_datagram_sockname",
                             rc < 0 ? rc : -EPROTO);
  }
  printf("client: Send: %s\n", message);
  rc = corio_datagram_send(endpoint, message, strlen(message));
  if (rc == 0)
    rc = corio_datagram_recv(endpoint, data, sizeof data, &n);
  if (rc < 0) {
    corio_datagram_unref(endpoint);
    return example_task_fail(EXAMPLE, "send/recv", rc);
  }
  printf("client: Received: %.*s\n", (int)n, data);
  puts("client: Close the socket");
  rc = corio_datagram_close(endpoint);
  if (rc == 0)
    rc = corio_datagram_wait_closed(endpoint);
  corio_datagram_unref(endpoint);
  if (rc < 0)
    return example_task_fail(EXAMPLE, "close/wait_closed", rc);
  puts("client: Connection closed");
  return 0;
}

/* error_received: a connected client, nobody on the other side. */
static int refused_client(void) {
  corio_datagram *endpoint;
  char data[16];
  size_t n;
  int rc;

  rc = corio_create_datagram_endpoint(NULL, 0, HOST, example_unused_udp_port(),
                                      NULL, &endpoint);
  if (rc < 0)
    return example_task_fail(EXAMPLE, "corio_create_datagram_endpoint", rc);
  puts("client: Send: anyone there?");
  rc = corio_datagram_send(endpoint, "anyone there?", 13);
  if (rc == 0)
    rc = corio_datagram_recv(endpoint, data, sizeof data, &n);
  corio_datagram_unref(endpoint);
  if (rc != -ECONNREFUSED)
    return example_task_unexpected(EXAMPLE, "recv", rc, -ECONNREFUSED);
  puts("client: Error received: ECONNREFUSED (Connection refused)");
  return 0;
}

static int echo_main(void *arg, void **result) {
  struct server s = {NULL, -1};
  corio_task *serving;
  struct sockaddr_storage addr;
  socklen_t len = sizeof addr;
  int rc, serve_rc, port;

  (void)arg;
  (void)result;
  puts("Starting UDP server");
  rc = corio_create_datagram_endpoint(HOST, 0, NULL, 0, NULL, &s.endpoint);
  if (rc < 0)
    return example_task_fail(EXAMPLE, "corio_create_datagram_endpoint", rc);
  rc = corio_datagram_sockname(s.endpoint, (struct sockaddr *)&addr, &len);
  port = rc == 0 ? example_loopback_port(&addr) : -1;
  if (port <= 0)
    rc = example_task_fail(EXAMPLE, "corio_datagram_sockname", -EPROTO);
  if (rc == 0 && (rc = corio_spawn(&serving, serve, &s)) < 0)
    (void)example_task_fail(EXAMPLE, "corio_spawn", rc);
  if (rc < 0) {
    corio_datagram_unref(s.endpoint);
    return rc;
  }
  rc = echo_client(&s, port, "Hello World!");
  if (rc == 0)
    rc = refused_client();
  /* The hour of serving is cut short: the server's task is cancelled and
   * closes its endpoint. */
  (void)corio_task_cancel(serving, NULL);
  serve_rc = corio_await(serving, NULL);
  corio_task_unref(serving);
  if (rc == 0 && serve_rc == 0)
    rc = corio_datagram_wait_closed(s.endpoint);
  corio_datagram_unref(s.endpoint);
  if (rc < 0)
    return rc;
  if (serve_rc < 0)
    return serve_rc;
  puts("server closed");
  return 0;
}

int example_udp_echo(void) {
  return example_run(EXAMPLE, echo_main,
                     ">>> asyncio.run(main())  # the UDP server, then "
                     "the client with 'Hello World!'");
}

#ifdef EXAMPLE_STANDALONE
EXAMPLE_MAIN(example_udp_echo)
#endif
