/* Monkey patching: the C twin of seed 000's gevent example, in which
 * monkey.patch_all() makes time.sleep cooperative.
 *
 *   from gevent import monkey
 *   import gevent
 *   import time
 *   def task_1(name):
 *       for i in range(5):
 *           print(name, i)
 *           time.sleep(1)  # the greenlet switches while it sleeps
 *   def task_2(name):
 *       for i in range(3):
 *           print(name, i)
 *           time.sleep(1)
 *   if __name__ == "__main__":
 *       monkey.patch_all()
 *       gevent.joinall([
 *           gevent.spawn(task_1, "task_1"),
 *           gevent.spawn(task_2, "task_2")])
 *       print("the main thread!")
 *
 * corio_hook_enable() is monkey.patch_all(): with libcorio_hook linked,
 * the C library's blocking calls made inside a task suspend the task
 * instead of blocking the thread. The tasks below call plain nanosleep(),
 * and, as gevent's urllib example does, fetch a page over HTTP with plain
 * blocking socket(), connect(), write() and read(). The page comes from a
 * small server started in the same program, as a corio server on the same
 * loop: a blocking read() that really blocked the thread would wait for
 * an answer the server could never send.
 *
 * Then the same tasks run once more with each one opted out of the hooks
 * (corio_hook_task_set(task, 0), gevent without patch_all): each sleep
 * blocks the thread, so task_1 runs to its end before task_2 starts. That
 * run only sleeps: a fetch from a task that blocks the loop's thread would
 * wait forever for the server on that loop.
 *
 * Timing and the order of the lines. time.sleep(1) becomes a sleep of
 * 0.1 s (SLEEP_NS), to keep the demo fast. Each task sleeps until
 * deadlines counted from its own start (nanosleep for what is left), so
 * lateness does not add up; and task_2 starts half a sleep after task_1,
 * so that with the hooks task_1 prints at 0, 1, 2... sleeps and task_2 at
 * 0.5, 1.5, 2.5: the lines alternate as gevent's do, whatever the loop's
 * lateness, as long as a fetch on loopback takes less than a sleep and a
 * half. The fetches print nothing as they happen; main prints what they
 * got once both tasks are done. No time is printed. A warm-up fetch from
 * main, before the tasks start, runs the code paths once, so that the
 * first timed fetch does not pay for the first run of each (which is
 * slow under Valgrind).
 *
 * The example leaves the hooks as it found them (off in the demo), so that
 * what runs after it is unchanged. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <corio/hook.h>
#include <corio/net.h>

#include "example.h"

#define EXAMPLE "monkey_patch"
#define SLEEP_NS ((int64_t)100 * 1000 * 1000)
#define TASK_1_ROUNDS 5
#define TASK_2_ROUNDS 3

int example_monkey_patch(void);

/* ---- the server: a corio server on the same loop ------------------------ */

/* The handler: reads the request up to its blank line and answers with
 * the path as the page. The server closes the connection when it
 * returns (HTTP/1.0). */
static int handle_page(corio_stream *stream, void *arg) {
  char line[256], path[128] = "", head[256];
  size_t n;
  int rc, len;

  (void)arg;
  for (;;) {
    rc = corio_stream_readline(stream, line, sizeof line - 1, &n);
    if (rc < 0)
      return example_task_fail(EXAMPLE, "server readline", rc);
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
      n--;
    if (n == 0)
      break; /* the blank line that ends the request (or EOF) */
    line[n] = '\0';
    if (!path[0] && sscanf(line, "GET %127s HTTP/1.0", path) != 1)
      return example_task_fail(EXAMPLE, "server: a GET request", -EPROTO);
  }
  len = snprintf(head, sizeof head,
                 "HTTP/1.0 200 OK\r\n"
                 "Content-Length: %zu\r\n"
                 "Connection: close\r\n"
                 "\r\n",
                 strlen(path));
  rc = corio_stream_write(stream, head, (size_t)len);
  if (rc == 0)
    rc = corio_stream_write(stream, path, strlen(path));
  if (rc == 0)
    rc = corio_stream_drain(stream);
  return rc < 0 ? example_task_fail(EXAMPLE, "server write/drain", rc) : 0;
}

/* ---- the client: plain blocking socket calls ---------------------------- */

/* write() until all of it has gone. Returns 0 or -errno. */
static int write_all(int fd, const char *data, size_t len) {
  while (len > 0) {
    ssize_t n = write(fd, data, len);

    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return -errno;
    data += n;
    len -= (size_t)n;
  }
  return 0;
}

/* GET path from 127.0.0.1:port with blocking calls, and checks that the
 * answer is "200 OK" with the path as the page. Returns 0, -errno, or
 * -EPROTO for another answer. */
static int fetch(int port, const char *path) {
  struct sockaddr_in sin = {.sin_family = AF_INET};
  char request[256], answer[1024];
  size_t got = 0;
  const char *body;
  int fd, rc = 0, len;

  sin.sin_port = htons((uint16_t)port);
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -errno;
  if (connect(fd, (struct sockaddr *)&sin, sizeof sin) != 0) {
    rc = -errno;
    close(fd);
    return rc;
  }
  len = snprintf(request, sizeof request,
                 "GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n", path);
  rc = write_all(fd, request, (size_t)len);
  /* Reads up to the end of the stream: the server closes after its
   * answer. */
  while (rc == 0 && got < sizeof answer - 1) {
    ssize_t n = read(fd, answer + got, sizeof answer - 1 - got);

    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      rc = -errno;
    else if (n == 0)
      break;
    else
      got += (size_t)n;
  }
  close(fd);
  if (rc < 0)
    return rc;
  answer[got] = '\0';
  body = strstr(answer, "\r\n\r\n");
  if (strncmp(answer, "HTTP/1.0 200 OK\r\n", 17) != 0 || !body ||
      strcmp(body + 4, path) != 0)
    return -EPROTO;
  return 0;
}

/* ---- the tasks ----------------------------------------------------------- */

/* Blocks (or, hooked, suspends) until when_ns on example_clock_ns, with
 * plain nanosleep for the time that is left: time.sleep. Returns 0 or
 * -errno (ECANCELED if the task was cancelled meanwhile). */
static int sleep_until(int64_t when_ns) {
  for (;;) {
    int64_t left = when_ns - example_clock_ns();
    struct timespec ts;

    if (left <= 0)
      return 0;
    ts.tv_sec = (time_t)(left / 1000000000);
    ts.tv_nsec = (long)(left % 1000000000);
    if (nanosleep(&ts, NULL) != 0 && errno != EINTR)
      return -errno;
  }
}

struct run;

/* task_1 or task_2. */
struct worker {
  const char *name;
  int rounds;
  int64_t offset_ns; /* when its first round is due, after its start */
  int fetched;       /* pages fetched, each checked */
  struct run *run;
};

/* One run of the two tasks. */
struct run {
  int hooked; /* fetch, and check that the hooks are active */
  int port;
  struct worker workers[2];
};

/* The gevent task: print, (fetch,) sleep, `rounds` times. */
static int worker_main(void *arg, void **result) {
  struct worker *w = arg;
  int64_t start = example_clock_ns() + w->offset_ns;
  char path[64];
  int i, rc;

  (void)result;
  if (corio_hook_active() != w->run->hooked)
    return example_task_fail(EXAMPLE, "corio_hook_active", -EPROTO);
  if ((rc = sleep_until(start)) < 0)
    return example_task_fail(EXAMPLE, "nanosleep", rc);
  for (i = 0; i < w->rounds; i++) {
    printf("%s %d\n", w->name, i);
    if (w->run->hooked) {
      snprintf(path, sizeof path, "/%s/%d", w->name, i);
      if ((rc = fetch(w->run->port, path)) < 0)
        return example_task_fail(EXAMPLE, "the blocking fetch", rc);
      w->fetched++;
    }
    if ((rc = sleep_until(start + (i + 1) * SLEEP_NS)) < 0)
      return example_task_fail(EXAMPLE, "nanosleep", rc);
  }
  return 0;
}

/* gevent.joinall([gevent.spawn(task_1, ...), gevent.spawn(task_2, ...)]),
 * then "the main thread!". Hooked or with both tasks opted out. */
static int join_all(struct run *run) {
  corio_task *tasks[2] = {NULL, NULL};
  int i, rc = 0, task_rc;

  for (i = 0; i < 2 && rc == 0; i++) {
    rc = corio_spawn(&tasks[i], worker_main, &run->workers[i]);
    /* Before its first step: the task never runs hooked. */
    if (rc == 0 && !run->hooked)
      rc = corio_hook_task_set(tasks[i], 0);
  }
  if (rc < 0)
    (void)example_task_fail(EXAMPLE, "corio_spawn/corio_hook_task_set", rc);
  for (i = 0; i < 2; i++) {
    if (!tasks[i])
      continue;
    if (rc < 0)
      (void)corio_task_cancel(tasks[i], NULL);
    task_rc = corio_task_await(tasks[i], NULL);
    if (rc == 0 && task_rc < 0)
      rc = task_rc; /* reported by the task */
    corio_task_unref(tasks[i]);
  }
  if (rc < 0)
    return rc;
  for (i = 0; i < 2 && run->hooked; i++)
    printf("%s fetched %d pages with blocking socket calls: all 200 OK\n",
           run->workers[i].name, run->workers[i].fetched);
  puts("the main thread!");
  return 0;
}

/* A run of task_1 and task_2, hooked or not. */
static void init_run(struct run *run, int hooked) {
  const struct worker task_1 = {"task_1", TASK_1_ROUNDS, 0, 0, run};
  const struct worker task_2 = {"task_2", TASK_2_ROUNDS, SLEEP_NS / 2, 0, run};

  run->hooked = hooked;
  run->port = 0;
  run->workers[0] = task_1;
  run->workers[1] = task_2;
}

static int monkey_main(void *arg, void **result) {
  struct run hooked, unhooked;
  corio_server *server;
  int rc, close_rc;

  (void)arg;
  (void)result;
  init_run(&hooked, 1);
  init_run(&unhooked, 0);
  rc = corio_start_server(handle_page, NULL, "127.0.0.1", 0, NULL, &server);
  if (rc < 0)
    return example_task_fail(EXAMPLE, "corio_start_server", rc);
  hooked.port = corio_server_port(server);
  /* The warm-up fetch (see the top of the file), hooked too. */
  rc = fetch(hooked.port, "/warm-up");
  if (rc < 0)
    (void)example_task_fail(EXAMPLE, "the warm-up fetch", rc);
  if (rc == 0) {
    puts(">>> monkey.patch_all()  # corio_hook_enable()");
    rc = join_all(&hooked);
  }
  if (rc == 0) {
    puts("\n>>> the same, each task opted out: corio_hook_task_set(task, 0)");
    rc = join_all(&unhooked);
  }
  close_rc = corio_server_close(server);
  if (close_rc == 0)
    close_rc = corio_server_wait_closed(server);
  corio_server_unref(server);
  if (rc == 0 && close_rc < 0)
    rc = example_task_fail(EXAMPLE, "corio_server_close/wait_closed", close_rc);
  return rc;
}

int example_monkey_patch(void) {
  int was_enabled = corio_hook_enabled(), rc;

  rc = corio_hook_enable();
  if (rc < 0)
    return example_fail(EXAMPLE, "corio_hook_enable", rc);
  rc = corio_run(monkey_main, NULL, NULL);
  /* As it was: what runs after the example is not hooked. */
  if (!was_enabled)
    (void)corio_hook_disable();
  return rc < 0 ? example_fail(EXAMPLE, "corio_run", rc) : 0;
}

#ifdef EXAMPLE_STANDALONE
EXAMPLE_MAIN(example_monkey_patch)
#endif
