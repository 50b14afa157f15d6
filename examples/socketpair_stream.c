/* A stream over a socket made elsewhere: the C twin of seed 001's last
 * streams example (Python's "Register an open socket to wait for data
 * using streams").
 *
 *   async def wait_for_data():
 *       loop = asyncio.get_running_loop()
 *       rsock, wsock = socket.socketpair()
 *       reader, writer = await asyncio.open_connection(sock=rsock)
 *       loop.call_soon(wsock.send, 'abc'.encode())
 *       data = await reader.read(100)
 *       print("Received:", data.decode())
 *       writer.close()
 *       await writer.wait_closed()
 *       wsock.close()
 *
 *   asyncio.run(wait_for_data())
 *
 * corio_stream_open_fd is open_connection(sock=...): the stream takes the
 * socket over (and closes it), and the loop fills the stream's buffer
 * whenever it is readable. The other end stays a plain socket, written
 * with send() from a loop callback, as the seed's wsock.send. The three
 * bytes leave in one send on a Unix stream socket, so the one read gets
 * them all. */
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <corio/net.h>

#include "example.h"

#define EXAMPLE "socketpair_stream"

struct writer_end {
  int wsock;
  int send_rc; /* send()'s error, if it failed */
};

/* wsock.send(b'abc'), from the loop. A failed send closes wsock, so that
 * the read sees the end of the stream instead of waiting forever. */
static int send_abc(void *arg) {
  struct writer_end *w = arg;
  ssize_t n = send(w->wsock, "abc", 3, MSG_NOSIGNAL);

  if (n == 3)
    return 0;
  w->send_rc = n < 0 ? -errno : -EIO;
  close(w->wsock);
  w->wsock = -1;
  return 0;
}

static int wait_for_data(struct writer_end *w) {
  corio_stream *stream;
  char data[100];
  size_t n;
  int rc, sv[2];

  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
    return example_task_fail(EXAMPLE, "socketpair", -errno);
  w->wsock = sv[1];
  /* open_connection(sock=rsock): the stream owns sv[0] from here on. */
  rc = corio_stream_open_fd(NULL, sv[0], NULL, &stream);
  if (rc < 0)
    return example_task_fail(EXAMPLE, "corio_stream_open_fd", rc);
  rc = corio_loop_call_soon(corio_loop_running(), send_abc, w, NULL);
  if (rc < 0) {
    corio_stream_unref(stream);
    return example_task_fail(EXAMPLE, "corio_loop_call_soon", rc);
  }
  rc = corio_stream_read(stream, data, sizeof data, &n);
  if (rc == 0 && w->send_rc < 0)
    rc = w->send_rc;
  if (rc < 0) {
    corio_stream_unref(stream);
    return example_task_fail(EXAMPLE, "send/corio_stream_read", rc);
  }
  printf("Received: %.*s\n", (int)n, data);
  rc = corio_stream_close(stream);
  if (rc == 0)
    rc = corio_stream_wait_closed(stream);
  corio_stream_unref(stream);
  return rc < 0 ? example_task_fail(EXAMPLE, "close/wait_closed", rc) : 0;
}

static int pair_main(void *arg, void **result) {
  struct writer_end w = {-1, 0};
  int rc;

  (void)arg;
  (void)result;
  rc = wait_for_data(&w);
  /* wsock.close() */
  if (w.wsock >= 0 && close(w.wsock) < 0 && rc == 0)
    rc = example_task_fail(EXAMPLE, "close", -errno);
  return rc;
}

int example_socketpair_stream(void) {
  return example_run(EXAMPLE, pair_main, ">>> asyncio.run(wait_for_data())");
}

#ifdef EXAMPLE_STANDALONE
EXAMPLE_MAIN(example_socketpair_stream)
#endif
