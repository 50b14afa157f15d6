/* The program tests/gdb/check_gdb.sh debugs: tasks suspended in known
 * functions on two loops, then a stop at gdb_stop_here() where gdb has a
 * breakpoint. Run alone, it cancels everything and exits 0; with
 * GDB_TARGET_ABORT set in its environment, it aborts there instead.
 *
 *   loop 1 (main thread)        loop 2 (second thread)
 *   main         running         t2-main     awaits t2-sleeper
 *   sleeper      corio_sleep     t2-sleeper  corio_sleep
 *   awaiter      awaits sleeper
 *   lock-waiter  corio_lock_acquire (main holds the lock)
 *   queue-getter corio_queue_get
 *   Task-N       corio_event_wait (unnamed: it has a number)
 *   unstarted    spawned, never ran
 *
 * Each suspension is in a function of its own that is neither inlined
 * nor left by a tail call, so its frame is there for gdb to name. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include <corio.h>

#define NOINLINE __attribute__((noinline))

/* Small stacks keep the core dump small: gcore writes every page of a
 * stack slab, touched or not (a slab of default 256 KiB stacks is 64 MiB). */
#define STACK_SIZE (64 * 1024)

/* Stores keep the calls above them from becoming tail calls. */
static volatile int sink;

static corio_lock lock = CORIO_LOCK_INIT;
static corio_queue queue;
static corio_event event;
static corio_task *sleeper;

static _Atomic(corio_loop *) loop2;
static _Atomic(corio_task *) t2_sleeper;

/* gcore writes every mapping gdb can name, unreadable reservations
 * included, unless marked not to be dumped: malloc reserves 64 MiB per
 * thread arena, corio a guard page per stack (AddressSanitizer terabytes:
 * the test makes no core dump of a sanitizer build). None of it holds
 * data. */
static void dontdump_reservations(void) {
  FILE *maps = fopen("/proc/self/maps", "r");
  char line[512];

  if (!maps)
    return;
  while (fgets(line, sizeof line, maps)) {
    unsigned long lo, hi;
    char perms[8];

    if (sscanf(line, "%lx-%lx %7s", &lo, &hi, perms) == 3 && perms[0] == '-' &&
        perms[1] == '-' && perms[2] == '-')
      madvise((void *)lo, hi - lo, MADV_DONTDUMP);
  }
  fclose(maps);
}

/* gdb stops here, with every task where the table above says. */
NOINLINE void gdb_stop_here(void);
NOINLINE void gdb_stop_here(void) { __asm__ volatile("" ::: "memory"); }

static NOINLINE int gdb_sleep_forever(void) {
  int rc = corio_sleep(3600);

  sink = rc;
  return rc;
}

static NOINLINE int gdb_sleeper(void *arg, void **result) {
  int rc = gdb_sleep_forever();

  (void)arg, (void)result;
  sink = rc;
  return rc;
}

static NOINLINE int gdb_awaiter(void *arg, void **result) {
  int rc = corio_await(sleeper, NULL);

  (void)arg, (void)result;
  sink = rc;
  return rc;
}

static NOINLINE int gdb_lock_waiter(void *arg, void **result) {
  int rc = corio_lock_acquire(&lock);

  (void)arg, (void)result;
  sink = rc;
  if (rc == 0)
    corio_lock_release(&lock);
  return rc;
}

static NOINLINE int gdb_queue_getter(void *arg, void **result) {
  void *item = NULL;
  int rc = corio_queue_get(&queue, &item);

  (void)arg, (void)result;
  sink = rc;
  return rc;
}

static NOINLINE int gdb_event_waiter(void *arg, void **result) {
  int rc = corio_event_wait(&event);

  (void)arg, (void)result;
  sink = rc;
  return rc;
}

static NOINLINE int gdb_unstarted(void *arg, void **result) {
  (void)arg, (void)result;
  sink = 1;
  return 0;
}

static NOINLINE int gdb_t2_sleeper(void *arg, void **result) {
  int rc = corio_sleep(3600);

  (void)arg, (void)result;
  sink = rc;
  return rc;
}

static int spawn_named(corio_task **out, corio_task_fn fn, void *arg,
                       const char *name) {
  corio_spawn_options opts = {.name = name, .stack_size = STACK_SIZE};
  int rc = corio_spawn_ex(out, fn, arg, &opts);

  if (rc < 0)
    fprintf(stderr, "gdb_target: spawn %s: %s\n", name, corio_strerror(rc));
  return rc;
}

static int publish_loop2(void *arg) {
  (void)arg;
  atomic_store(&loop2, corio_loop_running());
  return 0;
}

static NOINLINE int gdb_t2_main(void *arg, void **result) {
  corio_task *t;
  int rc;

  (void)arg, (void)result;
  if ((rc = spawn_named(&t, gdb_t2_sleeper, NULL, "t2-sleeper")) < 0)
    return rc;
  rc = corio_sleep(0); /* the sleeper starts and suspends */
  if (rc == 0)
    rc = corio_sleep(0);
  atomic_store(&t2_sleeper, t);
  /* The first loop goes on once this task is suspended: in the next
   * iteration. */
  rc = corio_loop_call_soon(corio_loop_running(), publish_loop2, NULL, NULL);
  if (rc == 0)
    rc = corio_await(t, NULL);
  sink = rc;
  corio_task_unref(t);
  return rc == -ECANCELED ? 0 : rc;
}

/* corio_run, with the main task on a small stack too. */
static int run_main(corio_task_fn fn, const char *name) {
  corio_runner *runner;
  corio_task *t;
  int rc;

  if ((rc = corio_runner_create(&runner)) < 0)
    return rc;
  corio_spawn_options opts = {.loop = corio_runner_loop(runner),
                              .name = name,
                              .stack_size = STACK_SIZE};
  rc = corio_spawn_ex(&t, fn, NULL, &opts);
  if (rc == 0) {
    rc = corio_run_until_complete(opts.loop, corio_task_future(t), NULL);
    corio_task_unref(t);
  }
  corio_runner_close(runner);
  return rc;
}

static void *thread2(void *arg) {
  (void)arg;
  return (void *)(intptr_t)run_main(gdb_t2_main, "t2-main");
}

static int cancel_t2(void *arg) {
  (void)arg;
  corio_task_cancel(atomic_load(&t2_sleeper), NULL);
  return 0;
}

/* The tasks of the first loop, spawned in this order (unstarted last). */
static const struct {
  corio_task_fn fn;
  const char *name; /* NULL: unnamed, "Task-N" */
} specs[] = {
    {gdb_sleeper, "sleeper"},         {gdb_awaiter, "awaiter"},
    {gdb_lock_waiter, "lock-waiter"}, {gdb_queue_getter, "queue-getter"},
    {gdb_event_waiter, NULL},         {gdb_unstarted, "unstarted"},
};
#define NTASKS (sizeof specs / sizeof specs[0])

static NOINLINE int gdb_main(void *arg, void **result) {
  corio_task *tasks[NTASKS] = {NULL};
  pthread_t th;
  int rc;

  (void)arg, (void)result;
  if (corio_lock_acquire(&lock) < 0)
    return -EIO;
  for (size_t i = 0; i + 1 < NTASKS; i++)
    if ((rc = spawn_named(&tasks[i], specs[i].fn, NULL, specs[i].name)) < 0)
      return rc;
  sleeper = tasks[0];
  if ((rc = pthread_create(&th, NULL, thread2, NULL)) != 0)
    return -rc;
  /* Two iterations: each task starts and suspends. Then wait for the
   * second loop (at most 30 s). */
  corio_sleep(0);
  corio_sleep(0);
  for (int i = 0; i < 30000 && !atomic_load(&loop2); i++)
    corio_sleep(0.001);
  if (!atomic_load(&loop2)) {
    fprintf(stderr, "gdb_target: the second loop did not start\n");
    return -ETIMEDOUT;
  }
  rc = spawn_named(&tasks[NTASKS - 1], specs[NTASKS - 1].fn, NULL,
                   specs[NTASKS - 1].name);
  if (rc < 0)
    return rc;

  dontdump_reservations();
  gdb_stop_here();
  /* For a core dump made by the kernel (or by qemu-user). */
  if (getenv("GDB_TARGET_ABORT"))
    abort();

  /* Alone (or continued in gdb): everything ends. */
  corio_task_cancel(sleeper, NULL); /* and so the awaiter */
  corio_task_cancel(tasks[3], NULL);
  corio_lock_release(&lock);
  corio_event_set(&event);
  for (size_t i = 0; i < NTASKS; i++) {
    corio_await(tasks[i], NULL);
    corio_task_unref(tasks[i]);
  }
  corio_loop_call_soon_threadsafe(atomic_load(&loop2), cancel_t2, NULL);
  pthread_join(th, NULL);
  return 0;
}

int main(void) {
  int rc;

  setvbuf(stdout, NULL, _IONBF, 0);
  alarm(600); /* never left behind, whatever happens to gdb */
  if (corio_queue_init(&queue, CORIO_QUEUE_FIFO, 0) < 0)
    return 1;
  rc = run_main(gdb_main, "main");
  corio_queue_destroy(&queue);
  if (rc < 0) {
    fprintf(stderr, "gdb_target: %s\n", corio_strerror(rc));
    return 1;
  }
  puts("gdb_target: done");
  return 0;
}
