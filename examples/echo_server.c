/* An echo server: every byte a client sends comes back to it. A server for
 * load generators (bench/net_echo.sh runs it against ../shared/bench's
 * echo_bench), so it runs until SIGINT or SIGTERM.
 *
 *   echo_server [--host H] [--port P] [--loops N]
 *               [--mode peek|read] [--drain auto|always]
 *
 * See net_serve.h for the first three flags, the loops and the stop. Each
 * connection's handler, in asyncio's words:
 *
 *   async def handle(reader, writer):
 *       while data := await reader.read(65536):
 *           writer.write(data)
 *           await writer.drain()
 *
 * --mode peek (the default) echoes without copying: corio_stream_peek
 * points at the bytes the loop has read into the stream's buffer, write
 * hands them to the kernel, consume drops them. --mode read is the
 * handler above: corio_stream_read copies into a buffer first. That
 * buffer is one per thread, not one per connection: write never suspends
 * (what the kernel does not take is copied into the stream's write
 * buffer), so no other task can run between the read that fills it and
 * the write that empties it.
 *
 * Backpressure: a client that sends without reading its echoes makes the
 * write buffer grow; drain waits while it is above the high-water mark.
 * --drain always calls drain after every write (it returns at once when
 * the buffer is not paused); --drain auto (the default) calls it only
 * when something is buffered, which is never in the common case where the
 * kernel takes the whole echo at once. */
#include <string.h>

#include "net_serve.h"

#define EXAMPLE "echo_server"
#define CHUNK ((size_t)64 * 1024)

static int use_read;     /* --mode read */
static int drain_always; /* --drain always */

/* Waits while the client is not reading its echoes. */
static int respect_backpressure(corio_stream *s) {
  if (!drain_always && corio_stream_write_buffer_size(s) == 0)
    return 0;
  return corio_stream_drain(s);
}

/* peek, write, consume: no copy on our side. */
static int echo_peek(corio_stream *s, void *arg) {
  const void *data;
  size_t len;
  int rc;

  (void)arg;
  for (;;) {
    rc = corio_stream_peek(s, 0, &data, &len);
    if (rc < 0 || len == 0) /* a lost connection, or EOF */
      break;
    rc = corio_stream_write(s, data, len);
    (void)corio_stream_consume(s, len);
    if (rc < 0 || (rc = respect_backpressure(s)) < 0)
      break;
  }
  /* A client that goes away is no error of the server's. */
  return rc == -ECANCELED ? rc : 0;
}

/* read into a buffer, write it. */
static int echo_read(corio_stream *s, void *arg) {
  static _Thread_local char buf[CHUNK];
  size_t n;
  int rc;

  (void)arg;
  for (;;) {
    rc = corio_stream_read(s, buf, sizeof buf, &n);
    if (rc < 0 || n == 0)
      break;
    if ((rc = corio_stream_write(s, buf, n)) < 0 ||
        (rc = respect_backpressure(s)) < 0)
      break;
  }
  return rc == -ECANCELED ? rc : 0;
}

static int echo(corio_stream *s, void *arg) {
  return use_read ? echo_read(s, arg) : echo_peek(s, arg);
}

static int option(const char *flag, const char *value) {
  if (strcmp(flag, "--mode") == 0) {
    if (strcmp(value, "peek") != 0 && strcmp(value, "read") != 0)
      return -1;
    use_read = strcmp(value, "read") == 0;
    return 1;
  }
  if (strcmp(flag, "--drain") == 0) {
    if (strcmp(value, "auto") != 0 && strcmp(value, "always") != 0)
      return -1;
    drain_always = strcmp(value, "always") == 0;
    return 1;
  }
  return 0;
}

int main(int argc, char **argv) {
  static const net_serve_program program = {EXAMPLE, echo, option, NULL, NULL};

  return net_serve_run(&program, argc, argv);
}
