/* The examples, one function each, so that each can be built as its own
 * program (with EXAMPLE_STANDALONE defined, which adds its main) and the
 * demo can run them all in turn. Each returns 0, or 1 after reporting a
 * failed call on stderr. */
#ifndef CORIO_EXAMPLE_H
#define CORIO_EXAMPLE_H

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <corio/combine.h>
#include <corio/context.h>
#include <corio/coro.h>
#include <corio/future.h>
#include <corio/loop.h>
#include <corio/net.h>
#include <corio/task.h>
#include <corio/thread.h>

/* greenlet: task 1 and task 2 switch to each other (seed 000). */
int example_greenlet_pingpong(void);
/* Generators: next(), send(), throw() and a return value (seed 004). */
int example_generator(void);
/* `yield from`: a generator that delegates to another (seed 004). */
int example_yield_from(void);
/* The event loop: call_soon, call_later, call_at, a cancelled handle, an
 * exception handler and stop (seed 001's event loop, with callbacks). */
int example_loop_timers(void);
/* The select loop: a reader callback echoes lines written into a pipe by
 * a timer callback (seed 004's I/O event loop). */
int example_select_loop(void);
/* Hello world: print, sleep, print, in a task run by corio_run (seed 001). */
int example_hello_world(void);
int example_loop_factory(void);
/* say_after awaited in turn, then run as two tasks at once (seed 001). */
int example_say_after(void);
/* Task names: given, default, read and changed, and current_task (seed
 * 001). */
int example_named_task(void);
/* A request id in a context variable: copy_context, Context.run, one value
 * per task, and undoing a set with its token (seed 001's contextvars). */
int example_request_id(void);
/* Cancelling a task: caught and passed on, a message, cancelling() and
 * uncancel(), a task that carries on (seed 001's cancellation). */
int example_task_cancel(void);
/* Fire and forget: tasks nobody awaits, what corio_run does with those
 * still pending, and "Task was destroyed but it is pending" (seed 004). */
int example_fire_and_forget(void);
/* Lock, event, condition, semaphore, bounded semaphore and barrier (seed
 * 001's synchronisation primitives). */
int example_sync_primitives(void);
/* Two producers and two consumers sharing a queue, then the consumers
 * cancelled (seed 002). */
int example_producer_consumer(void);
/* Three workers take 20 random sleeps from a queue; join waits for all
 * (seed 003's asyncio.Queue example). */
int example_worker_pool(void);
/* gather, wait_for, wait and as_completed: seed 000's factorials, eternity,
 * work_1/work_2 and nested main_work programs. */
int example_gather_wait(void);
/* gather with results and with errors, return_exceptions, and a cancelled
 * child (seed 001's gather examples, seed 002's exception + timeout). */
int example_gather_errors(void);
/* Task groups: three children, a failing child that cancels its siblings,
 * and a group terminated on purpose (seed 001's TaskGroup). */
int example_taskgroup(void);
/* shield: a protected task that goes on when its shield is cancelled or
 * times out (seed 001's shield example). */
int example_shield(void);
/* Timeout scopes: timeout, timeout(None) rescheduled, timeout_at, and
 * wait_for (seed 001's task timeouts). */
int example_timeouts(void);
/* wait with a timeout, as_completed, and as_completed with a timeout (seed
 * 001's "waiting for tasks"). */
int example_wait_as_completed(void);
/* to_thread: a blocking function on a pool thread while the loop sleeps,
 * one unit in all, with main's context variable seen there (seed 001). */
int example_to_thread(void);
/* Three blocking calls of 1, 3 and 2 units gathered through to_thread
 * finish in 3 units, in the order A, C, B (seed 001). */
int example_to_thread_gather(void);
/* A loop run_forever in a background thread: run_coroutine_threadsafe, a
 * result in time, a timeout and a cancellation, then stop and join (seed
 * 001's complete example). */
int example_threadsafe_loop(void);
/* The TCP echo server and client of seed 001, in one program on
 * 127.0.0.1 and a port the kernel picks. */
int example_tcp_echo(void);
/* Seed 001's HTTP header fetcher (open_connection, HEAD, readline),
 * against a small HTTP server the example starts itself. */
int example_http_head(void);
/* open_connection(sock=...): a stream over one end of a socketpair, the
 * other end written with send() from a loop callback (seed 001). */
int example_socketpair_stream(void);
/* The echo server and client over a Unix socket: a file in a temporary
 * directory, then an abstract name (seed 001's start_unix_server). */
int example_unix_echo(void);
/* Seed 002's crawler with real pages: gather, a semaphore bounding the
 * fetches to 3 at a time, and a server that makes the bound visible. */
int example_crawler(void);
/* Seed 001's HTTPS HEAD fetcher: open_connection with a TLS context,
 * against a local TLS server with a certificate the example makes. */
int example_https_head(void);
/* The TCP echo server and client of seed 001 over TLS. */
int example_tls_echo(void);
/* asyncio's UDP echo server and client (create_datagram_endpoint), with
 * tasks receiving instead of protocol callbacks. */
int example_udp_echo(void);
/* Seed 003's name probe on the c-ares resolver, against a dnsmasq the
 * example starts on loopback. */
int example_name_probe_ares(void);
/* probe(domain) over several names, printed as_completed: loop.getaddrinfo
 * on the default executor, answered by the machine itself (seed 003). */
int example_name_probe(void);
/* Seed 004's nested tasks printing their own await tree
 * (corio_debug_report, like python -m asyncio pstree). */
int example_task_tree(void);
/* Seed 001's create_subprocess_exec example: ls in a directory it makes,
 * stdout and stderr through communicate, and the return code. */
int example_subprocess_exec(void);
/* A shell pipeline, echo "Hello, World!" | grep World, through communicate;
 * then grep finding nothing, stderr, and a shell killed by a signal (seed
 * 001's create_subprocess_shell). */
int example_subprocess_shell(void);
/* A child's stdout read with readline, then its exit awaited: date(1) as
 * seed 001's datetime child. */
int example_subprocess_date(void);
/* An interactive python3 fed through its stdin with write and drain, its
 * answers read with readline, then stdin closed and the exit awaited
 * (seed 001). */
int example_subprocess_interact(void);
/* Shell commands gathered: each prints as it is done, or all print after
 * gather; the sleeps overlap (seed 001's gather of subprocesses). */
int example_subprocess_gather(void);

/* The task examples scale the seeds' seconds down to this unit, so that
 * the tests stay fast; they never print a clock time, only whole units
 * (see say_after.c). */
#define EXAMPLE_UNIT_NS ((int64_t)50 * 1000 * 1000)
#define EXAMPLE_UNIT ((double)EXAMPLE_UNIT_NS / 1e9)

/* The loop's clock (CLOCK_MONOTONIC, as corio_loop_time_ns), read on any
 * thread: pool threads and a loop's foreign threads have no running loop
 * to ask. */
static inline int64_t example_clock_ns(void) {
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Whole units since start_ns on example_clock_ns, rounded down: a sleep,
 * blocking or not, never ends before its time, so an event due at n units
 * prints n unless it comes a whole unit late. */
static inline long long example_units_since(int64_t start_ns) {
  return (long long)((example_clock_ns() - start_ns) / EXAMPLE_UNIT_NS);
}

/* Blocks the calling thread for ns nanoseconds, as time.sleep() does: the
 * blocking call of the thread examples. A signal does not cut it short. */
static inline void example_block_ns(int64_t ns) {
  int64_t when = example_clock_ns() + ns;
  struct timespec ts = {(time_t)(when / 1000000000), (long)(when % 1000000000)};

  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
    ;
}

/* Warming up the loop's default executor. The thread examples time
 * blocking calls on pool threads in units; starting those threads, and
 * running the to_thread path the first time, is not what they time, and
 * under Valgrind (which translates code the first time it runs, and runs
 * one thread at a time) it takes longer than a unit. So their main calls
 * example_warm_pool(n) before its clock starts: n jobs that wait for one
 * another, which leaves the pool with n threads that have each run a job.
 * The jobs meet here; one that waits 5 s in vain gives up, so that a
 * failed submission cannot hang the example. */
typedef struct example_meeting {
  pthread_mutex_t lock;
  pthread_cond_t met;
  unsigned arrived, expected;
} example_meeting;

static inline int example_meet(void *arg, void **result) {
  example_meeting *m = arg;
  struct timespec limit;
  int rc = 0;

  (void)result;
  clock_gettime(CLOCK_REALTIME, &limit); /* the condition's clock */
  limit.tv_sec += 5;
  pthread_mutex_lock(&m->lock);
  m->arrived++;
  pthread_cond_broadcast(&m->met);
  while (m->arrived < m->expected && rc != ETIMEDOUT)
    rc = pthread_cond_timedwait(&m->met, &m->lock, &limit);
  pthread_mutex_unlock(&m->lock);
  return 0;
}

/* A gather child: example_meet on a pool thread. */
static inline int example_meet_on_thread(void *arg, void **result) {
  return corio_to_thread(example_meet, arg, result);
}

/* From a task: n (at most 4) jobs that meet on the default executor.
 * Returns 0, or the first error. */
static inline int example_warm_pool(unsigned n) {
  /* Static: a job may outlive a cancelled warm-up. */
  static example_meeting meeting = {PTHREAD_MUTEX_INITIALIZER,
                                    PTHREAD_COND_INITIALIZER, 0, 0};
  corio_awaitable children[4];
  corio_outcome outcomes[4];
  unsigned i;
  int rc;

  if (n == 0 || n > 4)
    return -EINVAL;
  pthread_mutex_lock(&meeting.lock);
  meeting.arrived = 0;
  meeting.expected = n;
  pthread_mutex_unlock(&meeting.lock);
  for (i = 0; i < n; i++)
    children[i] = CORIO_AWAIT_FN(example_meet_on_thread, &meeting);
  rc = corio_gather(children, n, outcomes, CORIO_GATHER_RETURN_EXCEPTIONS);
  for (i = 0; i < n && rc == 0; i++)
    rc = outcomes[i].error;
  corio_outcomes_clear(outcomes, n);
  return rc;
}

/* ---- the examples' schedule ------------------------------------------------
 * example_sleep_until_ns sleeps until a deadline on the loop's clock (where
 * corio_sleep takes a delay from now). Its sleepers share one schedule,
 * which wakes them an instant at a time: those due at the earliest
 * deadline, together, in the order they went to sleep; then it lets the
 * loop run EXAMPLE_SETTLE_ITERATIONS iterations before it even arms the
 * timer for the next deadline. So however late the loop gets to a
 * deadline, the tasks it wakes have run, gone back to sleep or ended, and
 * whoever awaited them has run too, before a later deadline can wake
 * anyone: an example whose order of events must not depend on the
 * machine's speed keeps its schedule with these deadlines. (Loop timers
 * of their own, which a loop that falls behind runs in one go, would not
 * do: a task due at 2 that would then sleep until 3 could be overtaken by
 * one due at 4, run in the same iteration.) Timers outside the schedule
 * (corio_sleep, timeouts) get no such guarantee. The state is per file:
 * one example runs at a time, on one loop at a time. */
#define EXAMPLE_SETTLE_ITERATIONS 16

typedef struct example_sleeper {
  int64_t when;
  corio_future *fut;
  int woken;
  struct example_sleeper *next;
} example_sleeper;

typedef struct example_schedule {
  corio_loop *loop;
  example_sleeper *head; /* by deadline, then in the order they came */
  corio_handle *timer;   /* armed for head->when, unless settling */
  int settling;          /* an instant was woken: the loop settles */
  int awake;             /* woken, not yet back from their sleep */
  intptr_t generation;   /* of the settling callbacks: older ones stop */
} example_schedule;

static inline example_schedule *example_the_schedule(void) {
  static example_schedule schedule;

  return &schedule;
}

static inline void example_schedule_disarm(example_schedule *s) {
  if (s->timer) {
    corio_handle_cancel(s->timer);
    corio_handle_unref(s->timer);
    s->timer = NULL;
  }
}

static inline int example_schedule_fire(void *arg);

/* Arms the loop's timer for the earliest deadline, unless settling. */
static inline int example_schedule_arm(example_schedule *s) {
  example_schedule_disarm(s);
  if (s->settling || !s->head)
    return 0;
  return corio_loop_call_at_ns(s->loop, s->head->when, example_schedule_fire, s,
                               &s->timer);
}

/* One settling iteration; arg is the generation and the iterations left,
 * packed. */
static inline int example_schedule_settle(void *arg) {
  example_schedule *s = example_the_schedule();
  intptr_t packed = (intptr_t)arg;
  intptr_t left = packed % 64;

  if (packed / 64 != s->generation)
    return 0; /* the schedule was started afresh meanwhile */
  if (left > 1)
    return corio_loop_call_soon(s->loop, example_schedule_settle,
                                (void *)(packed - 1), NULL);
  s->settling = 0;
  return example_schedule_arm(s);
}

/* The timer callback: wakes the sleepers due at the earliest deadline. */
static inline int example_schedule_fire(void *arg) {
  example_schedule *s = arg;
  int64_t when;
  int rc;

  corio_handle_unref(s->timer); /* it has fired */
  s->timer = NULL;
  if (!s->head)
    return 0;
  when = s->head->when;
  while (s->head && s->head->when == when) {
    example_sleeper *w = s->head;

    s->head = w->next;
    w->woken = 1;
    s->awake++;
    /* Not if its task was cancelled and has yet to run: it wakes with
     * -ECANCELED then. */
    if (!corio_future_done(w->fut)) {
      rc = corio_future_set_result(w->fut, NULL);
      if (rc < 0)
        return rc;
    }
  }
  s->settling = 1;
  s->generation++;
  return corio_loop_call_soon(
      s->loop, example_schedule_settle,
      (void *)(s->generation * 64 + EXAMPLE_SETTLE_ITERATIONS), NULL);
}

/* Takes w out of the schedule if it is there. */
static inline void example_schedule_remove(example_schedule *s,
                                           example_sleeper *w) {
  example_sleeper **p;

  for (p = &s->head; *p; p = &(*p)->next) {
    if (*p == w) {
      *p = w->next;
      if (p == &s->head)
        (void)example_schedule_arm(s);
      return;
    }
  }
}

/* From a task: sleeps until when_ns on the loop's clock, on the schedule.
 * Returns 0, or the error of the call that failed (-ECANCELED if the task
 * was cancelled meanwhile). */
static inline int example_sleep_until_ns(int64_t when_ns) {
  example_schedule *s = example_the_schedule();
  corio_loop *loop = corio_loop_running();
  example_sleeper me = {when_ns, NULL, 0, NULL}, **p;
  int rc;

  if (!loop)
    return CORIO_ENOTASK;
  if (s->loop != loop || (!s->head && s->awake == 0)) {
    /* Nothing is scheduled: start afresh (on this loop). */
    example_schedule_disarm(s);
    s->loop = loop;
    s->settling = 0;
    s->generation++;
  }
  rc = corio_future_create(loop, &me.fut);
  if (rc < 0)
    return rc;
  for (p = &s->head; *p && (*p)->when <= when_ns; p = &(*p)->next)
    ;
  me.next = *p;
  *p = &me;
  if (s->head == &me)
    rc = example_schedule_arm(s);
  if (rc == 0)
    rc = corio_future_await(me.fut, NULL);
  if (me.woken)
    s->awake--;
  else /* cancelled, or the loop is closing */
    example_schedule_remove(s, &me);
  corio_future_unref(me.fut);
  return rc;
}

/* ---- an output that does not depend on the machine's speed ---------------
 * The examples are tests: their output must be the same on a loaded
 * machine, where the loop may get to a due timer, or a thread to its
 * wake-up, tens of milliseconds (more than a unit) late. They keep to
 * these rules:
 * - Timed events keep the examples' schedule (example_sleep_until_ns,
 *   above), with deadlines from a common start: lateness does not add up,
 *   and whatever a deadline wakes, and whatever that wakes in turn, runs
 *   before a later deadline wakes anyone. Threads block until deadlines
 *   too (example_block_until_ns), and lines that threads print in a set
 *   order take turns.
 * - Timers outside the schedule (corio_sleep, the timeouts of wait,
 *   wait_for, as_completed and timeout scopes, a thread's wait for a
 *   result) promise less. A timeout or a cancel due before another
 *   deadline comes first, as it acts in its own callback; but something
 *   due before a timeout may come after it: a loop a unit behind runs
 *   both in one iteration, and the timeout acts first. So what a scenario
 *   needs to be still pending when a timeout, a cancel or the end of
 *   corio_run comes waits EXAMPLE_FOREVER, which no test run reaches, and
 *   a timeout that something must finish within is as far away.
 * - A time printed is the event's time on the schedule, in whole units
 *   since the start (example_due), never a reading of the clock; the
 *   clock is only checked not to be early, which no load can make it. */

/* Longer than any run of the example tests (ctest gives each 30 s). */
#define EXAMPLE_FOREVER 3600.0
#define EXAMPLE_FOREVER_NS ((int64_t)3600 * 1000000000)

/* Blocks the calling thread until when_ns on example_clock_ns, as
 * time.sleep() until a deadline: the blocking call of the thread examples
 * on their schedule. A signal does not cut it short. */
static inline void example_block_until_ns(int64_t when_ns) {
  struct timespec ts = {(time_t)(when_ns / 1000000000),
                        (long)(when_ns % 1000000000)};

  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
    ;
}

/* For an event due `units` after start_ns: returns units, to be printed as
 * its time, once it has checked that the clock has got there. A clock
 * that has not is a wake-up before its deadline, a bug that no load can
 * cause: reported on stderr, and the program exits with 1. */
static inline long long example_due(const char *example, int64_t start_ns,
                                    long long units) {
  int64_t early = start_ns + units * EXAMPLE_UNIT_NS - example_clock_ns();

  if (early > 0) {
    fflush(stdout);
    fprintf(stderr, "%s: an event due at t=%lld came %lld ns early\n", example,
            units, (long long)early);
    exit(1);
  }
  return units;
}

/* What a return code means, for reports: resume and throw return 0 for a
 * yield and CORIO_CORO_RETURNED for a return, which are not errors. */
static inline const char *example_describe(int rc) {
  if (rc == 0)
    return "success, or a value was yielded";
  if (rc == CORIO_CORO_RETURNED)
    return "the body returned";
  return corio_strerror(rc);
}

/* The symbolic name of a code, for output that must not depend on the
 * libc: glibc and musl word some strerror texts differently ("Connection
 * timed out" and "Operation timed out"), so the examples print the names
 * of the errno codes they use, and corio's own names. */
static inline const char *example_error_name(int rc) {
  const char *name = corio_err_name(rc);

  if (name)
    return name;
  switch (rc) {
  case 0:
    return "0";
  case -ECANCELED:
    return "-ECANCELED";
  case -ETIMEDOUT:
    return "-ETIMEDOUT";
  case -EINVAL:
    return "-EINVAL";
  case -EDOM:
    return "-EDOM";
  case -EIO:
    return "-EIO";
  case -ENOMEM:
    return "-ENOMEM";
  default:
    return "an errno code";
  }
}

/* Reports that `call` failed with rc in `example`, and returns 1 so that a
 * caller can `return example_fail(...)`. */
static inline int example_fail(const char *example, const char *call, int rc) {
  const char *name = corio_err_name(rc);

  fprintf(stderr, "%s: %s failed: %s%s%s%s\n", example, call,
          corio_strerror(rc), name ? " (" : "", name ? name : "",
          name ? ")" : "");
  return 1;
}

/* Reports that `call` returned rc where want was expected, and returns 1.
 * This is how a change in corio's behaviour shows up. */
static inline int example_unexpected(const char *example, const char *call,
                                     int rc, int want) {
  fprintf(stderr, "%s: %s returned %d (%s) instead of %d (%s)\n", example, call,
          rc, example_describe(rc), want, example_describe(want));
  return 1;
}

/* The same for a task's body, which finishes with a negative code instead:
 * `return example_task_fail(EXAMPLE, "corio_sleep", rc);` ends the task
 * with rc once it is reported. */
static inline int example_task_fail(const char *example, const char *call,
                                    int rc) {
  (void)example_fail(example, call, rc);
  return rc < 0 ? rc : -EPROTO;
}

/* For a task's body: reports rc where want was expected, and returns
 * -EPROTO for the task to finish with (the report says what went wrong). */
static inline int example_task_unexpected(const char *example, const char *call,
                                          int rc, int want) {
  (void)example_unexpected(example, call, rc, want);
  return -EPROTO;
}

/* Prints header, then runs main as corio_run's main task. Returns 0, or 1
 * after reporting that corio_run failed. */
static inline int example_run(const char *example, corio_task_fn main,
                              const char *header) {
  int rc;

  printf("%s\n", header);
  rc = corio_run(main, NULL, NULL);
  return rc < 0 ? example_fail(example, "corio_run", rc) : 0;
}

/* The same under title, shown the seeds' way: ">>> asyncio.run(main())". */
static inline int example_asyncio_run(const char *example, corio_task_fn main,
                                      const char *title) {
  printf("%s\n", title);
  return example_run(example, main, ">>> asyncio.run(main())");
}

/* Several such runs in turn; stops at the first that fails. */
typedef struct example_part {
  corio_task_fn main;
  const char *title;
} example_part;

static inline int example_asyncio_run_parts(const char *example,
                                            const example_part *parts,
                                            size_t n) {
  for (size_t i = 0; i < n; i++)
    if (example_asyncio_run(example, parts[i].main, parts[i].title))
      return 1;
  return 0;
}

/* The main of a standalone example: run it, then hand the cached stacks
 * back to the OS so that nothing is left at exit. */
#define EXAMPLE_MAIN(example)                                                  \
  int main(void) {                                                             \
    int failed = example();                                                    \
                                                                               \
    corio_coro_pool_trim();                                                    \
    return failed;                                                             \
  }

/* A UDP port on 127.0.0.1 that was free a moment ago (bound, read back,
 * released), for a peer that must be told its port before it starts; -1
 * if none could be had. */
static inline int example_unused_udp_port(void) {
  struct sockaddr_in sin = {.sin_family = AF_INET};
  socklen_t len = sizeof sin;
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), port = -1;

  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd >= 0 && bind(fd, (struct sockaddr *)&sin, sizeof sin) == 0 &&
      getsockname(fd, (struct sockaddr *)&sin, &len) == 0)
    port = ntohs(sin.sin_port);
  if (fd >= 0)
    close(fd);
  return port;
}

/* The port of a sockaddr_in on 127.0.0.1, or -1 if it is not one: the
 * echo examples check addresses they cannot print (ephemeral ports). */
static inline int example_loopback_port(const struct sockaddr_storage *addr) {
  const struct sockaddr_in *sin = (const struct sockaddr_in *)addr;

  if (sin->sin_family != AF_INET ||
      sin->sin_addr.s_addr != htonl(INADDR_LOOPBACK))
    return -1;
  return ntohs(sin->sin_port);
}

/* ---- the HTTP HEAD examples (http_head.c, https_head.c) ---------------- */

/* The line without its trailing whitespace (str.rstrip()): its length. */
static inline size_t example_rstrip(const char *line, size_t n) {
  while (n > 0 && (line[n - 1] == '\r' || line[n - 1] == '\n' ||
                   line[n - 1] == ' ' || line[n - 1] == '\t'))
    n--;
  return n;
}

/* The server's side: reads the request's lines up to the blank one that
 * ends it (or EOF) and prints each as "server> <line>". */
static inline int example_print_request(corio_stream *stream) {
  char line[1024];
  size_t n;
  int rc;

  for (;;) {
    rc = corio_stream_readline(stream, line, sizeof line, &n);
    if (rc < 0)
      return rc;
    n = example_rstrip(line, n);
    if (n == 0)
      return 0;
    printf("server> %.*s\n", (int)n, line);
  }
}

/* The seed's reading loop, once the query is written (rc: the write's
 * result): each line up to the end of the stream (an HTTP/1.0 server
 * closes after its answer, and HEAD has no body) is printed as "HTTP
 * header> <line>", but the blank one that ends the headers. Then the
 * stream is closed, waited for and released. */
static inline int example_print_headers(const char *example,
                                        corio_stream *stream, int rc) {
  char line[1024];
  size_t n;

  while (rc == 0) {
    rc = corio_stream_readline(stream, line, sizeof line, &n);
    if (rc < 0 || n == 0)
      break;
    n = example_rstrip(line, n);
    if (n > 0)
      printf("HTTP header> %.*s\n", (int)n, line);
  }
  if (rc < 0) {
    corio_stream_unref(stream);
    return example_task_fail(example, "write/readline", rc);
  }
  /* Ignore the body, close the socket (over TLS, close sends
   * close_notify and wait_closed returns once the server's has come, or
   * after the shutdown timeout). */
  rc = corio_stream_close(stream);
  if (rc == 0)
    rc = corio_stream_wait_closed(stream);
  corio_stream_unref(stream);
  return rc < 0 ? example_task_fail(example, "close/wait_closed", rc) : 0;
}

/* ---- the name probes (name_probe.c, name_probe_ares.c) ----------------- */

/* One probe(domain) of seed 003. */
struct example_probe {
  char domain[16];
  int numeric_only;    /* AI_NUMERICHOST: answered without a name server */
  int error;           /* what corio_getaddrinfo returned */
  const char *example; /* whose failure it reports */
};

#define EXAMPLE_MAX_PROBES 32

/* socket.gaierror: one of the resolver's codes, "not found" to probe. */
static inline int example_is_resolver_error(int rc) {
  return rc <= CORIO_EAINONAME && rc >= CORIO_EAIOTHER;
}

/* probe(domain), as a task: its result is the probe; a resolver error is
 * an answer ("not found"), any other error fails the task. */
static inline int example_probe(void *arg, void **result) {
  struct example_probe *p = arg;
  struct addrinfo hints, *res = NULL;

  /* As Python's: any family, any socket type. */
  memset(&hints, 0, sizeof hints);
  hints.ai_flags = p->numeric_only ? AI_NUMERICHOST : 0;
  p->error = corio_getaddrinfo(p->domain, NULL, &hints, &res);
  if (res)
    corio_freeaddrinfo(res);
  if (p->error == -ECANCELED)
    return p->error;
  if (p->error < 0 && !example_is_resolver_error(p->error))
    return example_task_fail(p->example, "corio_getaddrinfo", p->error);
  *result = p;
  return 0;
}

static inline void example_release_tasks(corio_task **tasks, size_t n) {
  for (size_t i = 0; i < n; i++)
    corio_task_unref(tasks[i]);
}

static inline int
example_print_as_completed(const char *example, corio_future *const *fs,
                           size_t n,
                           void (*print)(const struct example_probe *)) {
  corio_as_completed *it;
  corio_future *done;
  void *value;
  int rc;

  rc = corio_as_completed_start(&it, fs, n, CORIO_NO_TIMEOUT);
  if (rc < 0)
    return example_task_fail(example, "corio_as_completed_start", rc);
  while ((rc = corio_as_completed_next(it, &done)) == 0) {
    if ((rc = corio_future_result(done, &value)) < 0)
      break; /* the probe reported it */
    print(value);
  }
  corio_as_completed_free(it);
  if (rc != CORIO_AS_COMPLETED_END)
    return rc < 0 ? rc : -EPROTO;
  return 0;
}

/* main() of seed 003: a probe task for each of the n domains, all started
 * in the same loop iteration, and each printed by print as it finishes
 * (as_completed). */
static inline int
example_probe_all(const char *example, struct example_probe *probes, size_t n,
                  void (*print)(const struct example_probe *)) {
  corio_task *tasks[EXAMPLE_MAX_PROBES];
  corio_future *fs[EXAMPLE_MAX_PROBES];
  size_t i;
  int rc;

  if (n > EXAMPLE_MAX_PROBES)
    return example_task_fail(example, "example_probe_all", -EINVAL);
  for (i = 0; i < n; i++) {
    probes[i].example = example;
    rc = corio_spawn(&tasks[i], example_probe, &probes[i]);
    if (rc < 0) {
      example_release_tasks(tasks, i); /* corio_run cancels those started */
      return example_task_fail(example, "corio_spawn", rc);
    }
    fs[i] = corio_task_future(tasks[i]);
  }
  rc = example_print_as_completed(example, fs, n, print);
  example_release_tasks(tasks, n);
  return rc;
}

#endif
