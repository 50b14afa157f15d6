/* The select loop: the C twin of seed 004's "I/O event loop", where the
 * loop waits in select() until a file is readable and then runs whoever
 * waits on it. Here a pipe stands for the file, a timer callback writes a
 * line into it every 10 ms, and a reader callback echoes what arrives:
 *
 *   r, w = os.pipe()
 *   os.set_blocking(r, False)
 *   def write_next():
 *       os.write(w, chunks.pop(0))
 *       if chunks: loop.call_later(0.01, write_next)
 *       else: os.close(w)
 *   def on_readable():
 *       data = os.read(r, 64)
 *       if not data:                      # end of file
 *           loop.remove_reader(r); os.close(r); loop.stop()
 *       else: echo each complete line
 *   loop.add_reader(r, on_readable)
 *   loop.call_later(0.01, write_next)
 *   loop.run_forever()
 *
 * corio_loop_add_reader is asyncio's add_reader: the callback runs in
 * every iteration while the fd is readable (level-triggered), until it is
 * removed, which it may do from inside itself. End of file counts as
 * readable: read() then returns 0, and the reader removes itself before
 * closing the fd, as the poller must not watch a closed fd.
 *
 * Between the writes the loop has nothing ready and waits in the poller
 * (epoll_wait, or poll(2) with CORIO_POLLER=poll), as the seed's loop
 * waits in select().
 *
 * The output is the same on every run, however slow the machine: a write
 * happens in a timer callback, the reader runs in the next iteration, and
 * there the loop runs I/O callbacks before expired timers, so every echo
 * comes right after its write. Each write is one line or two, shorter
 * than the read buffer and than PIPE_BUF, so one read gets it whole. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "example.h"

#define EXAMPLE "select_loop"
#define WRITE_INTERVAL_NS ((int64_t)10 * 1000 * 1000)

/* What the writer writes, one chunk per timer callback; the last chunk
 * holds two lines, which arrive in one read. */
static const char *const chunks[] = {
    "hello\n",
    "from the\n",
    "select loop\n",
    "two lines\nin one write\n",
};
#define N_CHUNKS (sizeof chunks / sizeof chunks[0])

struct echo {
  corio_loop *loop;
  int r, w;          /* the pipe's ends; -1 once closed */
  size_t next_chunk; /* the writer's next chunk */
  char line[64];     /* the reader's partial line */
  size_t line_len;
  int lines, bytes; /* what the reader echoed */
  int failed;       /* a callback failed (reported on stderr) */
};

/* Prints each line of chunk with `prefix`. */
static void print_lines(const char *prefix, const char *chunk, size_t len) {
  while (len > 0) {
    const char *nl = memchr(chunk, '\n', len);
    size_t n = nl ? (size_t)(nl - chunk) : len;

    printf("%s%.*s\n", prefix, (int)n, chunk);
    n += nl != NULL;
    chunk += n;
    len -= n;
  }
}

static int fail(struct echo *e, const char *call, int rc) {
  e->failed = example_fail(EXAMPLE, call, rc);
  /* A callback that fails stops the example: nothing else would. */
  corio_loop_stop(e->loop);
  return rc;
}

/* The timer callback: writes the next chunk, then either schedules itself
 * again or closes the write end, which the reader sees as end of file. */
static int write_next(void *arg) {
  struct echo *e = arg;
  const char *chunk = chunks[e->next_chunk++];
  size_t len = strlen(chunk);
  ssize_t n = write(e->w, chunk, len);
  int rc;

  if (n < 0)
    return fail(e, "write", -errno);
  if ((size_t)n != len)
    return fail(e, "write (short)", -EIO);
  print_lines("writer: ", chunk, len);
  if (e->next_chunk < N_CHUNKS) {
    rc = corio_loop_call_later_ns(e->loop, WRITE_INTERVAL_NS, write_next, e,
                                  NULL);
    return rc < 0 ? fail(e, "corio_loop_call_later_ns", rc) : 0;
  }
  puts("writer: closes its end");
  rc = close(e->w);
  e->w = -1;
  return rc != 0 ? fail(e, "close", -errno) : 0;
}

/* At end of file: watcher first, then the fd, then the loop. */
static int end_of_file(struct echo *e) {
  int rc;

  puts("reader: end of file");
  rc = corio_loop_remove_reader(e->loop, e->r);
  if (rc != 1)
    return fail(e, "corio_loop_remove_reader", rc < 0 ? rc : -ENOENT);
  puts("reader: removed itself (remove_reader returned 1), closes r, stops "
       "the loop");
  rc = close(e->r);
  e->r = -1;
  if (rc != 0)
    return fail(e, "close", -errno);
  return corio_loop_stop(e->loop);
}

/* The reader callback: runs while r is readable. */
static int on_readable(void *arg) {
  struct echo *e = arg;
  char buf[64];
  ssize_t n = read(e->r, buf, sizeof buf);

  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
    return 0; /* nothing after all: wait for the next iteration */
  if (n < 0)
    return fail(e, "read", -errno);
  if (n == 0)
    return end_of_file(e);
  e->bytes += (int)n;
  /* Lines are echoed whole; a partial one waits for the rest. */
  for (ssize_t i = 0; i < n; i++) {
    if (buf[i] != '\n') {
      if (e->line_len == sizeof e->line)
        return fail(e, "read (line too long)", -EMSGSIZE);
      e->line[e->line_len++] = buf[i];
      continue;
    }
    printf("echo: %.*s\n", (int)e->line_len, e->line);
    e->line_len = 0;
    e->lines++;
  }
  return 0;
}

static int run(struct echo *e) {
  int fds[2], rc;

  puts(">>> r, w = os.pipe(); os.set_blocking(r, False)");
  if (pipe2(fds, O_CLOEXEC) != 0)
    return example_fail(EXAMPLE, "pipe2", -errno);
  e->r = fds[0];
  e->w = fds[1];
  /* Only the read end is non-blocking: the writes are short and the
   * reader keeps up, so a blocking write could not wait anyway. */
  if (fcntl(e->r, F_SETFL, O_NONBLOCK) != 0)
    return example_fail(EXAMPLE, "fcntl", -errno);

  puts(">>> loop.add_reader(r, on_readable)");
  rc = corio_loop_add_reader(e->loop, e->r, on_readable, e);
  if (rc < 0)
    return example_fail(EXAMPLE, "corio_loop_add_reader", rc);
  puts(">>> loop.call_later(0.01, write_next)");
  rc =
      corio_loop_call_later_ns(e->loop, WRITE_INTERVAL_NS, write_next, e, NULL);
  if (rc < 0)
    return example_fail(EXAMPLE, "corio_loop_call_later_ns", rc);
  puts(">>> loop.run_forever()");
  rc = corio_loop_run_forever(e->loop);
  if (rc < 0)
    return example_fail(EXAMPLE, "corio_loop_run_forever", rc);
  if (e->failed)
    return 1;
  printf("echoed %d lines, %d bytes\n", e->lines, e->bytes);
  return 0;
}

int example_select_loop(void) {
  struct echo e = {.r = -1, .w = -1};
  int failed, rc;

  puts(">>> loop = asyncio.new_event_loop()");
  rc = corio_loop_create(&e.loop);
  if (rc < 0)
    return example_fail(EXAMPLE, "corio_loop_create", rc);
  failed = run(&e);
  /* After a failure the reader may still be watching r: remove it before
   * closing the fd. Closing the loop drops the timer if one is left. */
  if (e.r >= 0) {
    (void)corio_loop_remove_reader(e.loop, e.r);
    (void)close(e.r);
  }
  if (e.w >= 0)
    (void)close(e.w);
  corio_loop_unref(e.loop);
  return failed;
}

#ifdef EXAMPLE_STANDALONE
EXAMPLE_MAIN(example_select_loop)
#endif
