/* The program tests/hook/check_preload.sh runs with and without
 * LD_PRELOAD=libcorio_hook.so. It is linked with libcorio.so only and
 * never calls corio_hook_*: whatever becomes cooperative here was made so
 * by the preloaded library alone.
 *
 * Four tasks on one loop, spawned in this order:
 *   W: nanosleep 300 ms, then writes a byte into each of three pipes;
 *   A, B, C: usleep 200 ms, then a blocking read() of one byte from their
 *            own pipe (W writes it).
 * Each task logs its steps in memory; main prints the log once the loop
 * is done, then a verdict drawn from the order of the steps alone:
 *   sequential: each task's steps come together (no task started before
 *     the one before it ended): the blocking calls blocked the thread. W
 *     runs first, so the readers find their byte there and nothing hangs.
 *   overlapped: every task started sleeping before any woke, and every
 *     reader called read() before W wrote, so each read() suspended its
 *     task until W, a task on the same thread, wrote the byte.
 *   mixed: anything else.
 * W also writes a line to stdout from its task ("W: ..."), before the
 * log; the script checks that a pipe it shares with the target is not
 * left non-blocking. Then the time the loop took, in ms. Sequentially it
 * is at least the sum of the sleeps (SEQUENTIAL_MIN_MS: a sleep never
 * ends early), which the script checks; it asserts no upper bound.
 *
 * Exit status 0 when every call worked (whatever the verdict), 1 if one
 * failed (said on stderr). */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <corio.h>

#define READERS 3
#define WRITER_SLEEP_MS 300
#define READER_SLEEP_MS 200
#define SEQUENTIAL_MIN_MS (WRITER_SLEEP_MS + READERS * READER_SLEEP_MS)
#define MAX_EVENTS 32

/* What a task did, in order. */
enum step { SLEEPS, WOKE, READS, GOT, WRITES, WROTE };
static const char *const step_names[] = {"sleeps", "woke",   "reads",
                                         "got",    "writes", "wrote"};

struct event {
  int task; /* 0: W, 1..READERS: A, B, C */
  enum step step;
};

static struct event events[MAX_EVENTS];
static int n_events;
static int pipes[READERS][2];
static int failed;

static char task_letter(int task) {
  return task == 0 ? 'W' : (char)('A' + task - 1);
}

static void log_step(int task, enum step step) {
  if (n_events < MAX_EVENTS)
    events[n_events++] = (struct event){task, step};
}

static int fail(int task, const char *call, int err) {
  fprintf(stderr, "preload_target: %c: %s: %s\n", task_letter(task), call,
          strerror(err));
  failed = 1;
  return -err;
}

/* W: sleeps, then gives each reader its byte. */
static int writer(void *arg, void **result) {
  struct timespec ts = {0, (long)WRITER_SLEEP_MS * 1000000};
  int i;

  (void)arg;
  (void)result;
  log_step(0, SLEEPS);
  while (nanosleep(&ts, &ts) != 0)
    if (errno != EINTR)
      return fail(0, "nanosleep", errno);
  log_step(0, WOKE);
  log_step(0, WRITES);
  for (i = 0; i < READERS; i++)
    if (write(pipes[i][1], "x", 1) != 1)
      return fail(0, "write", errno);
  log_step(0, WROTE);
  /* A write to stdout from a task: hooked, it must leave the stdout it
   * shares with other processes (a pipe, in the script) as it found it. */
  if (write(1, "W: a line written from a task\n", 30) != 30)
    return fail(0, "write to stdout", errno);
  return 0;
}

/* A, B or C: sleeps, then waits for its byte. */
static int reader(void *arg, void **result) {
  int task = (int)(intptr_t)arg;
  char byte;
  ssize_t n;

  (void)result;
  log_step(task, SLEEPS);
  if (usleep((useconds_t)READER_SLEEP_MS * 1000) != 0)
    return fail(task, "usleep", errno);
  log_step(task, WOKE);
  log_step(task, READS);
  while ((n = read(pipes[task - 1][0], &byte, 1)) < 0 && errno == EINTR)
    ;
  if (n != 1)
    return fail(task, "read", n < 0 ? errno : EPROTO);
  log_step(task, GOT);
  return 0;
}

static int main_task(void *arg, void **result) {
  corio_task *tasks[1 + READERS] = {NULL};
  int i, rc;

  (void)arg;
  (void)result;
  for (i = 0; i <= READERS; i++) {
    rc = i == 0 ? corio_spawn(&tasks[i], writer, NULL)
                : corio_spawn(&tasks[i], reader, (void *)(intptr_t)i);
    if (rc < 0) {
      fprintf(stderr, "preload_target: corio_spawn: %s\n", corio_strerror(rc));
      failed = 1;
      break;
    }
  }
  for (i = 0; i <= READERS && tasks[i]; i++) {
    (void)corio_task_await(tasks[i], NULL); /* failures are logged */
    corio_task_unref(tasks[i]);
  }
  return 0;
}

/* Where task's first step and last step are in the log (-1: none). */
static void span_of(int task, int *first, int *last) {
  int i;

  *first = *last = -1;
  for (i = 0; i < n_events; i++) {
    if (events[i].task != task)
      continue;
    if (*first < 0)
      *first = i;
    *last = i;
  }
}

/* Index of the first event of task at step, or -1. */
static int index_of(int task, enum step step) {
  int i;

  for (i = 0; i < n_events; i++)
    if (events[i].task == task && events[i].step == step)
      return i;
  return -1;
}

static int is_sequential(void) {
  int task, first, last, i;

  for (task = 0; task <= READERS; task++) {
    span_of(task, &first, &last);
    if (first < 0)
      return 0;
    for (i = first; i <= last; i++)
      if (events[i].task != task)
        return 0;
  }
  return 1;
}

static int is_overlapped(void) {
  int task, last_sleep = -1, first_woke = n_events, writes, at;

  for (task = 0; task <= READERS; task++) {
    at = index_of(task, SLEEPS);
    if (at < 0)
      return 0;
    last_sleep = at > last_sleep ? at : last_sleep;
    at = index_of(task, WOKE);
    if (at < 0)
      return 0;
    first_woke = at < first_woke ? at : first_woke;
  }
  if (last_sleep > first_woke)
    return 0;
  writes = index_of(0, WRITES);
  for (task = 1; task <= READERS; task++) {
    at = index_of(task, READS);
    if (at < 0 || writes < 0 || at > writes || index_of(task, GOT) < writes)
      return 0;
  }
  return 1;
}

static int64_t now_ms(void) {
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int main(void) {
  int64_t start, elapsed;
  int i, rc;

  for (i = 0; i < READERS; i++) {
    if (pipe(pipes[i]) != 0) {
      perror("preload_target: pipe");
      return 1;
    }
  }
  start = now_ms();
  rc = corio_run(main_task, NULL, NULL);
  elapsed = now_ms() - start;
  if (rc < 0) {
    fprintf(stderr, "preload_target: corio_run: %s\n", corio_strerror(rc));
    return 1;
  }
  for (i = 0; i < n_events; i++)
    printf("%c %s\n", task_letter(events[i].task), step_names[events[i].step]);
  printf("verdict: %s\n", is_sequential()   ? "sequential"
                          : is_overlapped() ? "overlapped"
                                            : "mixed");
  printf("elapsed_ms: %lld\n", (long long)elapsed);
  printf("sequential_min_ms: %d\n", SEQUENTIAL_MIN_MS);
  for (i = 0; i < READERS; i++) {
    close(pipes[i][0]);
    close(pipes[i][1]);
  }
  corio_coro_pool_trim();
  return failed;
}
