/* Seeing inside a running program (docs/debugging.md): what each task
 * waits on, who awaits whom (the tree, cycles flagged), stacks unwound
 * from the saved registers (libunwind and frame pointers), creation
 * sites, debug mode's reports (a task never awaited, a slow step), the
 * report on a signal, and errors. The functions whose names the checks
 * look for are exported (the test links with -rdynamic, so dladdr names
 * them too) and never inlined. */
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include "corio/combine.h"
#include "corio/debug.h"
#include "corio/queue.h"
#include "corio/sync.h"
#include "coro/backtrace.h"
#include "coro/symbol.h"
#include "task/task_internal.h"
#include "task_check.h"
#include "task_test.h"

/* Keeps calls from being tail calls, so each function keeps its frame. */
volatile int dump_test_sink;

/* A frame of its own, under its own name (no clone, no inlining). */
#if defined(__GNUC__) && !defined(__clang__)
#define OWN_FRAME __attribute__((noinline, noclone))
#else
#define OWN_FRAME __attribute__((noinline))
#endif

/* Whether stacks can be walked here: libunwind, or frame pointers in
 * every frame (sanitizer builds, aarch64). */
#if CORIO_TEST_FRAME_POINTERS
#define CAN_UNWIND 1
#else
#define CAN_UNWIND (corio__unwinder_default() == CORIO__UNWIND_LIBUNWIND)
#endif

/* Exported (the test links with -rdynamic): their names are checked. */
corio_task *spawn_named(const char *name, corio_task_fn fn, void *arg);
int sleeps(void *arg, void **result);
int awaits(void *arg, void **result);
int small_stack_reports(void *arg, void **result);
int gathers_two(void *arg, void **result);
int owns_group_and_sleeps(void *arg, void **result);
int in_cycle(void *arg, void **result);
int closes_group(void *arg, void **result);
int dump_test_inner(double seconds);
int dump_test_middle(double seconds);
int dump_test_body(void *arg, void **result);
corio_task *dump_test_spawner(void);
corio_future *dump_test_gather_starter(void);
corio_task *dump_test_forgetter(corio_task_fn fn);
int dump_test_slowpoke(void *arg, void **result);
int dump_test_slow_callback(void *arg);
int dump_test_runs_main(void);

/* ---- what the visitor says, kept by task name ---------------------------- */

struct seen {
  char name[32], state[16], kind[32], detail[200], where[200], body[64];
  char created[200];
  char awaiting[8][32];
  size_t n_awaiting, n_frames;
  int cancelling, cancel_pending;
};

static struct {
  struct seen tasks[48];
  size_t n;
} seen;

static void copy(char *to, size_t size, const char *from) {
  snprintf(to, size, "%s", from ? from : "");
}

static int record(const corio_task_info *info, void *arg) {
  struct seen *s;

  (void)arg;
  if (seen.n == sizeof seen.tasks / sizeof seen.tasks[0])
    return 0;
  s = &seen.tasks[seen.n++];
  memset(s, 0, sizeof *s);
  copy(s->name, sizeof s->name, info->name);
  copy(s->state, sizeof s->state, info->state_name);
  copy(s->kind, sizeof s->kind, info->wait_kind);
  copy(s->detail, sizeof s->detail, info->wait_detail);
  copy(s->where, sizeof s->where, info->where);
  copy(s->body, sizeof s->body, info->body_name);
  copy(s->created, sizeof s->created, info->created_at_name);
  for (size_t i = 0; i < info->n_awaiting && i < 8; i++)
    copy(s->awaiting[i], sizeof s->awaiting[i],
         corio_task_name(info->awaiting[i]));
  s->n_awaiting = info->n_awaiting;
  s->n_frames = info->n_frames;
  s->cancelling = info->cancelling;
  s->cancel_pending = info->cancel_pending;
  return 0;
}

static const struct seen *find(const char *name) {
  for (size_t i = 0; i < seen.n; i++)
    if (strcmp(seen.tasks[i].name, name) == 0)
      return &seen.tasks[i];
  print_error("no task named %s was visited\n", name);
  fail();
  return NULL;
}

static int starts_with(const char *s, const char *prefix) {
  return strncmp(s, prefix, strlen(prefix)) == 0;
}

static void assert_starts_with(const char *s, const char *prefix) {
  if (!starts_with(s, prefix)) {
    print_error("\"%s\" does not start with \"%s\"\n", s, prefix);
    fail();
  }
}

static void assert_contains(const char *s, const char *part) {
  if (!strstr(s, part)) {
    print_error("\"%s\" does not contain \"%s\"\n", s, part);
    fail();
  }
}

static void assert_awaits(const struct seen *s, const char *name) {
  for (size_t i = 0; i < s->n_awaiting && i < 8; i++)
    if (strcmp(s->awaiting[i], name) == 0)
      return;
  print_error("%s does not await %s\n", s->name, name);
  fail();
}

OWN_FRAME corio_task *spawn_named(const char *name, corio_task_fn fn,
                                  void *arg) {
  corio_task *t = NULL;

  CHECK_EQ(corio_spawn_ex(&t, fn, arg, &(corio_spawn_options){.name = name}),
           0);
  return t;
}

static void yield_n(int n) {
  for (int i = 0; i < n; i++)
    CHECK_EQ(corio_sleep(0), 0);
}

/* Cancels each task, then waits for it: the clean-up of every test. */
static void cancel_and_join(corio_task **tasks, size_t n) {
  for (size_t i = 0; i < n; i++)
    (void)corio_task_cancel(tasks[i], NULL);
  for (size_t i = 0; i < n; i++) {
    (void)corio_await(tasks[i], NULL);
    corio_task_unref(tasks[i]);
  }
}

/* ---- what each wait says ------------------------------------------------- */

static corio_lock held = CORIO_LOCK_INIT, cond_lock = CORIO_LOCK_INIT;
static corio_event never_set = CORIO_EVENT_INIT, soon_set = CORIO_EVENT_INIT;
static corio_condition cond;
static corio_semaphore empty_sem;
static corio_barrier barrier;
static corio_queue empty_queue, full_queue;
static corio_task *sleeper_task;

int sleeps(void *arg, void **result) {
  (void)arg;
  (void)result;
  return corio_sleep(100);
}

int awaits(void *arg, void **result) {
  (void)result;
  return corio_await((corio_task *)arg, NULL);
}

static int locks(void *arg, void **result) {
  int rc = corio_lock_acquire(arg);

  (void)result;
  if (rc == 0)
    corio_lock_release(arg);
  return rc;
}

static int waits_event(void *arg, void **result) {
  (void)result;
  return corio_event_wait(arg);
}

static int waits_condition(void *arg, void **result) {
  int rc = corio_lock_acquire(&cond_lock);

  (void)arg;
  (void)result;
  if (rc < 0)
    return rc;
  rc = corio_condition_wait(&cond);
  corio_lock_release(&cond_lock);
  return rc;
}

static int acquires(void *arg, void **result) {
  (void)arg;
  (void)result;
  return corio_semaphore_acquire(&empty_sem);
}

static int waits_barrier(void *arg, void **result) {
  (void)arg;
  (void)result;
  return corio_barrier_wait(&barrier, NULL);
}

static int gets(void *arg, void **result) {
  (void)arg;
  return corio_queue_get(&empty_queue, result);
}

static int puts_one(void *arg, void **result) {
  (void)arg;
  (void)result;
  return corio_queue_put(&full_queue, &full_queue);
}

static int gathers(void *arg, void **result) {
  corio_awaitable children[2] = {{.fn = sleeps}, {.fn = sleeps}};

  (void)arg;
  (void)result;
  return corio_gather(children, 2, NULL, 0);
}

static int waits_first(void *arg, void **result) {
  corio_future *f = corio_task_future(sleeper_task);

  (void)arg;
  (void)result;
  return corio_wait(&f, 1, 100, CORIO_FIRST_COMPLETED, NULL, NULL, NULL, NULL);
}

static int waits_for(void *arg, void **result) {
  (void)arg;
  return corio_wait_for(corio_task_future(sleeper_task), 100, result);
}

static int shields(void *arg, void **result) {
  corio_future *outer;
  int rc = corio_shield(corio_task_future(sleeper_task), &outer);

  (void)arg;
  if (rc < 0)
    return rc;
  rc = corio_future_await(outer, result);
  corio_future_unref(outer);
  return rc;
}

int closes_group(void *arg, void **result) {
  corio_taskgroup *g;
  int rc = corio_taskgroup_open(&g);

  (void)arg;
  (void)result;
  if (rc < 0)
    return rc;
  rc = corio_taskgroup_spawn_ex(g, NULL, sleeps, NULL,
                                &(corio_spawn_options){.name = "group-child"});
  rc = corio_taskgroup_close(g, rc);
  corio_taskgroup_free(g);
  return rc;
}

static int visit_all_waits(void *arg, void **result) {
  corio_task *t[20];
  size_t n = 0;
  int rc;

  (void)arg;
  (void)result;
  corio_condition_init(&cond, &cond_lock);
  CHECK_EQ(corio_semaphore_init(&empty_sem, 0), 0);
  CHECK_EQ(corio_barrier_init(&barrier, 2), 0);
  CHECK_EQ(corio_queue_init(&empty_queue, CORIO_QUEUE_FIFO, 0), 0);
  CHECK_EQ(corio_queue_init(&full_queue, CORIO_QUEUE_FIFO, 1), 0);
  CHECK_EQ(corio_queue_put_nowait(&full_queue, &full_queue), 0);
  CHECK_EQ(corio_lock_acquire(&held), 0);
  t[n++] = sleeper_task = spawn_named("sleeper", sleeps, NULL);
  t[n++] = spawn_named("awaiter", awaits, sleeper_task);
  t[n++] = spawn_named("locker", locks, &held);
  t[n++] = spawn_named("event-waiter", waits_event, &never_set);
  t[n++] = spawn_named("woken", waits_event, &soon_set);
  t[n++] = spawn_named("cond-waiter", waits_condition, NULL);
  t[n++] = spawn_named("sem-waiter", acquires, NULL);
  t[n++] = spawn_named("barrier-waiter", waits_barrier, NULL);
  t[n++] = spawn_named("getter", gets, NULL);
  t[n++] = spawn_named("putter", puts_one, NULL);
  t[n++] = spawn_named("gatherer", gathers, NULL);
  t[n++] = spawn_named("waiter", waits_first, NULL);
  t[n++] = spawn_named("wait-forer", waits_for, NULL);
  t[n++] = spawn_named("shielder", shields, NULL);
  t[n++] = spawn_named("group-owner", closes_group, NULL);
  t[n++] = spawn_named("cancelled", sleeps, NULL);
  /* Every task, and the gather's and the group's children, reach their
   * waits within a few iterations. */
  yield_n(4);
  t[n++] = spawn_named("not-started", sleeps, NULL);
  corio_event_set(&soon_set);
  (void)corio_task_cancel(t[15], "stop");
  seen.n = 0;
  rc = corio_visit_tasks(NULL, 0, record, NULL);
  CHECK_EQ(rc, 0);
  cancel_and_join(t, n);
  corio_lock_release(&held);
  CHECK_EQ(corio_queue_destroy(&empty_queue), 0);
  CHECK_EQ(corio_queue_destroy(&full_queue), 0);
  return 0;
}

static void test_each_wait_is_named(void **state) {
  const struct seen *s;

  (void)state;
  assert_int_equal(run_main(visit_all_waits, NULL), 0);
  assert_checks_passed();
  s = find("sleeper");
  assert_string_equal(s->state, "waiting");
  assert_string_equal(s->kind, "sleep");
  assert_contains(s->detail, " s left");
  assert_string_equal(s->body, "sleeps");
  s = find("awaiter");
  assert_string_equal(s->kind, "task");
  assert_string_equal(s->detail, "sleeper");
  assert_awaits(s, "sleeper");
  assert_int_equal(s->n_awaiting, 1);
  s = find("locker");
  assert_string_equal(s->kind, "lock");
  assert_string_equal(s->detail, "held, 1 waiting");
  assert_string_equal(find("event-waiter")->kind, "event");
  assert_string_equal(find("event-waiter")->detail, "not set, 1 waiting");
  s = find("woken");
  assert_string_equal(s->state, "ready");
  assert_string_equal(s->kind, ""); /* woken: no longer waiting */
  assert_string_equal(find("cond-waiter")->kind, "condition");
  assert_string_equal(find("sem-waiter")->kind, "semaphore");
  assert_string_equal(find("sem-waiter")->detail, "value 0, 1 waiting");
  assert_string_equal(find("barrier-waiter")->kind, "barrier");
  assert_string_equal(find("barrier-waiter")->detail,
                      "1 of 2 parties, filling");
  assert_string_equal(find("getter")->kind, "queue get");
  assert_string_equal(find("getter")->detail, "0 items, 0 unfinished");
  assert_string_equal(find("putter")->kind, "queue put");
  assert_string_equal(find("putter")->detail, "1 of 1 items, 1 unfinished");
  s = find("gatherer");
  assert_string_equal(s->kind, "gather");
  assert_string_equal(s->detail, "2 children, 0 done");
  assert_int_equal(s->n_awaiting, 2);
  s = find("waiter");
  assert_string_equal(s->kind, "wait");
  assert_starts_with(s->detail, "1 futures, 0 done, until first completed, ");
  assert_awaits(s, "sleeper");
  s = find("wait-forer");
  assert_string_equal(s->kind, "wait_for");
  assert_contains(s->detail, " s left for sleeper");
  assert_awaits(s, "sleeper");
  s = find("shielder");
  assert_string_equal(s->kind, "shield");
  assert_awaits(s, "sleeper");
  s = find("group-owner");
  assert_string_equal(s->kind, "taskgroup");
  assert_string_equal(s->detail, "1 of 1 children running");
  assert_awaits(s, "group-child");
  assert_int_equal(s->n_awaiting, 1);
  s = find("cancelled");
  assert_string_equal(s->state, "ready");
  assert_int_equal(s->cancelling, 1);
  assert_int_equal(s->cancel_pending, 1);
  assert_string_equal(find("not-started")->state, "not started");
  /* The task that visited was running; tasks made inside corio were
   * spawned there too, and say where. */
  assert_string_equal(seen.tasks[0].state, "running");
  assert_starts_with(find("group-child")->created, "closes_group+");
  assert_starts_with(find("awaiter")->created, "spawn_named+");
}

/* ---- the await tree ------------------------------------------------------ */

struct text {
  char buf[16384];
  size_t len;
};

static int append(const char *text, size_t len, void *arg) {
  struct text *t = arg;

  if (t->len + len >= sizeof t->buf)
    return -ENOBUFS;
  memcpy(t->buf + t->len, text, len);
  t->len += len;
  t->buf[t->len] = 0;
  return 0;
}

static struct text tree_text;
static corio_task *cycle_peer[2];

int in_cycle(void *arg, void **result) {
  int i = (int)(intptr_t)arg;

  (void)result;
  return corio_await(cycle_peer[1 - i], NULL);
}

int gathers_two(void *arg, void **result) {
  corio_task **pair = arg;
  corio_awaitable children[2] = {CORIO_AWAIT_TASK(pair[0]),
                                 CORIO_AWAIT_TASK(pair[1])};

  (void)result;
  return corio_gather(children, 2, NULL, 0);
}

int owns_group_and_sleeps(void *arg, void **result) {
  corio_taskgroup *g;
  int rc = corio_taskgroup_open(&g);

  (void)arg;
  (void)result;
  if (rc < 0)
    return rc;
  (void)corio_taskgroup_spawn_ex(g, NULL, sleeps, NULL,
                                 &(corio_spawn_options){.name = "g1"});
  (void)corio_taskgroup_spawn_ex(g, NULL, sleeps, NULL,
                                 &(corio_spawn_options){.name = "g2"});
  /* Not in close: the children belong under it all the same. */
  rc = corio_sleep(100);
  rc = corio_taskgroup_close(g, rc);
  corio_taskgroup_free(g);
  return rc;
}

static int build_tree(void *arg, void **result) {
  corio_task *t[8], *pair[2];
  size_t n = 0;

  (void)arg;
  (void)result;
  t[n++] = pair[0] = spawn_named("left", sleeps, NULL);
  t[n++] = spawn_named("deep", sleeps, NULL);
  t[n++] = pair[1] = spawn_named("right", awaits, t[1]);
  t[n++] = spawn_named("root", gathers_two, pair);
  t[n++] = spawn_named("owner", owns_group_and_sleeps, NULL);
  t[n++] = cycle_peer[0] = spawn_named("x", in_cycle, (void *)0);
  t[n++] = cycle_peer[1] = spawn_named("y", in_cycle, (void *)1);
  yield_n(3);
  tree_text.len = 0;
  CHECK_EQ(corio_debug_report(NULL, CORIO_REPORT_TREE, append, &tree_text), 0);
  cancel_and_join(t, n);
  return 0;
}

/* The line of the tree that starts with prefix; fails if there is none. */
static size_t line_of(const char *prefix) {
  const char *p = tree_text.buf;
  size_t line = 0;

  while (*p) {
    if (starts_with(p, prefix))
      return line;
    p = strchr(p, '\n');
    if (!p)
      break;
    p++;
    line++;
  }
  print_error("no line starts with \"%s\" in:\n%s", prefix, tree_text.buf);
  fail();
  return 0;
}

static void test_await_tree(void **state) {
  size_t root, cycle;

  (void)state;
  assert_int_equal(run_main(build_tree, NULL), 0);
  assert_checks_passed();
  /* root awaits its gather's children; right awaits deep. */
  root = line_of("\u2514\u2500\u2500 root (gathers_two) waiting on gather: "
                 "2 children, 0 done");
  assert_int_equal(line_of("    \u251c\u2500\u2500 left (sleeps) waiting on "
                           "sleep: "),
                   root + 1);
  assert_int_equal(line_of("    \u2514\u2500\u2500 right (awaits) waiting on "
                           "task: deep"),
                   root + 2);
  assert_int_equal(line_of("        \u2514\u2500\u2500 deep (sleeps)"),
                   root + 3);
  /* A group's children are under their owner even outside close. */
  assert_int_equal(line_of("    \u251c\u2500\u2500 g1 (sleeps)"),
                   line_of("\u2514\u2500\u2500 owner (owns_group_and_sleeps) "
                           "waiting on sleep") +
                       1);
  assert_int_equal(line_of("    \u2514\u2500\u2500 g2 (sleeps)"),
                   line_of("    \u251c\u2500\u2500 g1") + 1);
  /* x and y await each other: no root leads to them. */
  cycle = line_of("(tasks awaiting each other in a cycle)");
  assert_int_equal(line_of("\u2514\u2500\u2500 x (in_cycle) waiting on task: "
                           "y"),
                   cycle + 1);
  assert_int_equal(line_of("    \u2514\u2500\u2500 y (in_cycle) waiting on "
                           "task: x"),
                   cycle + 2);
  assert_int_equal(line_of("        \u2514\u2500\u2500 x (cycle: it awaits a "
                           "task that awaits it)"),
                   cycle + 3);
}

/* ---- stacks -------------------------------------------------------------- */

OWN_FRAME int dump_test_inner(double seconds) {
  int rc = corio_sleep(seconds);

  return rc + dump_test_sink;
}

OWN_FRAME int dump_test_middle(double seconds) {
  int rc = dump_test_inner(seconds);

  return rc + dump_test_sink;
}

OWN_FRAME int dump_test_body(void *arg, void **result) {
  int rc = dump_test_middle(100);

  (void)arg;
  (void)result;
  return rc + dump_test_sink;
}

/* The position of the first frame named name, or -1. */
static int frame_named(const corio__frame *frames, int n, const char *name) {
  for (int i = 0; i < n; i++) {
    corio__symbol sym;

    if (corio__symbolize(frames[i].pc, 1, &sym) && strcmp(sym.name, name) == 0)
      return i;
  }
  return -1;
}

static struct {
  int libunwind, fp; /* frames found, or a negative code */
  int lu_inner, lu_middle, lu_body, lu_top_is_corio;
  int fp_inner, fp_middle, fp_body;
  int public_n;
  void *public_top;
  uintptr_t resume_pc;
} stacks;

static int unwind_both(void *arg, void **result) {
  corio__frame frames[CORIO_DEBUG_MAX_FRAMES];
  corio__coro_view view;
  corio__ctx_regs regs;
  void *pcs[CORIO_DEBUG_MAX_FRAMES];
  corio_task *t = spawn_named("deep-stack", dump_test_body, NULL);
  corio__symbol top;
  int n;

  (void)arg;
  (void)result;
  yield_n(2);
  CHECK_EQ(corio__coro_inspect(t->coro, &view), 0);
  CHECK_TRUE(view.ctx != NULL);
  CHECK_EQ(corio__ctx_saved_regs(view.ctx, &regs), 0);
  stacks.resume_pc = regs.pc;
  n = stacks.libunwind = corio__coro_backtrace(t->coro, CORIO__UNWIND_LIBUNWIND,
                                               frames, CORIO_DEBUG_MAX_FRAMES);
  if (n > 0) {
    stacks.lu_inner = frame_named(frames, n, "dump_test_inner");
    stacks.lu_middle = frame_named(frames, n, "dump_test_middle");
    stacks.lu_body = frame_named(frames, n, "dump_test_body");
    stacks.lu_top_is_corio = corio__symbolize(frames[0].pc, 1, &top) &&
                             starts_with(top.name, "corio_");
  }
  n = stacks.fp = corio__coro_backtrace(t->coro, CORIO__UNWIND_FRAME_POINTERS,
                                        frames, CORIO_DEBUG_MAX_FRAMES);
  if (n > 0) {
    stacks.fp_inner = frame_named(frames, n, "dump_test_inner");
    stacks.fp_middle = frame_named(frames, n, "dump_test_middle");
    stacks.fp_body = frame_named(frames, n, "dump_test_body");
    CHECK_EQ(frames[0].pc, stacks.resume_pc);
  }
  stacks.public_n = corio_task_backtrace(t, pcs, CORIO_DEBUG_MAX_FRAMES);
  stacks.public_top = stacks.public_n > 0 ? pcs[0] : NULL;
  seen.n = 0;
  CHECK_EQ(corio_visit_tasks(NULL, CORIO_VISIT_BACKTRACES, record, NULL), 0);
  cancel_and_join(&t, 1);
  CHECK_EQ(corio_task_backtrace(t, pcs, 4), CORIO_EDEAD);
  return 0;
}

static void assert_in_order(int inner, int middle, int body) {
  assert_true(inner >= 0);
  assert_true(middle == inner + 1);
  assert_true(body == middle + 1);
}

static void test_stacks(void **state) {
  const struct seen *s;

  (void)state;
  assert_int_equal(run_main(unwind_both, NULL), 0);
  assert_checks_passed();
  if (stacks.libunwind == -ENOTSUP) {
    print_message("libunwind not available: its walk is not checked\n");
  } else {
    assert_true(stacks.libunwind > 3);
    assert_true(stacks.lu_top_is_corio);
    assert_in_order(stacks.lu_inner, stacks.lu_middle, stacks.lu_body);
  }
  assert_true(stacks.fp >= 1);
#if CORIO_TEST_FRAME_POINTERS
  /* Every frame keeps its frame pointer in this build. */
  assert_in_order(stacks.fp_inner, stacks.fp_middle, stacks.fp_body);
#endif
  assert_true(stacks.public_n >= 1);
  assert_ptr_equal(stacks.public_top, (void *)stacks.resume_pc);
  s = find("deep-stack");
  assert_true(s->n_frames >= 1);
  if (CAN_UNWIND)
    assert_starts_with(s->where, "dump_test_inner+");
}

/* ---- creation sites ------------------------------------------------------ */

OWN_FRAME corio_task *dump_test_spawner(void) {
  corio_task *t = NULL;

  CHECK_EQ(corio_spawn(&t, sleeps, NULL), 0);
  return dump_test_sink ? NULL : t;
}

OWN_FRAME corio_future *dump_test_gather_starter(void) {
  corio_awaitable child = {.fn = sleeps};
  corio_future *f = NULL;

  CHECK_EQ(corio_gather_start(&f, &child, 1, 0), 0);
  return dump_test_sink ? NULL : f;
}

static int spawn_from_known_places(void *arg, void **result) {
  corio_task *t = dump_test_spawner();
  corio_future *g = dump_test_gather_starter();

  (void)arg;
  (void)result;
  seen.n = 0;
  CHECK_EQ(corio_visit_tasks(NULL, 0, record, NULL), 0);
  (void)corio_future_cancel(g, NULL);
  (void)corio_await(g, NULL);
  corio_future_unref(g);
  cancel_and_join(&t, 1);
  return 0;
}

static void test_creation_sites(void **state) {
  (void)state;
  assert_int_equal(run_main(spawn_from_known_places, NULL), 0);
  assert_checks_passed();
  assert_int_equal(seen.n, 3);
  /* The main task: spawned where the test called corio_run (run_main,
   * or the test where that is inlined), not inside corio. */
  assert_true(seen.tasks[0].created[0] != 0);
  assert_true(strncmp(seen.tasks[0].created, "corio_", 6) != 0);
  assert_starts_with(seen.tasks[1].created, "dump_test_spawner+");
  assert_starts_with(seen.tasks[2].created, "dump_test_gather_starter+");
}

/* ---- debug mode: tasks nobody awaited ------------------------------------ */

static struct reports reports;
static char all_reports[8192];

static void capture(corio_loop *loop, const corio_loop_error *e, void *arg) {
  size_t n = strlen(all_reports);

  capture_report(loop, e, arg);
  snprintf(all_reports + n, sizeof all_reports - n, "%s\n", e->message);
}

static int returns_fast(void *arg, void **result) {
  *result = arg;
  return 0;
}

static int fails_fast(void *arg, void **result) {
  (void)arg;
  (void)result;
  return -EIO;
}

OWN_FRAME corio_task *dump_test_forgetter(corio_task_fn fn) {
  corio_task *t = NULL;

  CHECK_EQ(corio_spawn(&t, fn, NULL), 0);
  return dump_test_sink ? NULL : t;
}

/* Lets t finish, then drops it. */
static void finish_and_drop(corio_task *t, int read) {
  while (!corio_task_done(t))
    CHECK_EQ(corio_sleep(0), 0);
  if (read)
    (void)corio_task_result(t, NULL);
  corio_task_unref(t);
}

static int never_awaited(void *debug, void **result) {
  corio_loop *loop = corio_task_loop(corio_current_task());
  corio_task *t;
  int before;

  (void)result;
  corio_loop_set_debug(loop, debug != NULL);
  /* Only these reports: a step made slow by a loaded machine is not. */
  CHECK_EQ(corio_loop_set_slow_callback_duration(loop, 1e6), 0);
  corio_loop_set_exception_handler(loop, capture, &reports);
  /* Forgotten: reported when dropped, with its creation site. */
  finish_and_drop(dump_test_forgetter(returns_fast), 0);
  before = reports.count;
  /* Read, awaited, cancelled, detached, or failed (reported as such):
   * none of these is a task nobody awaited. */
  finish_and_drop(dump_test_forgetter(returns_fast), 1);
  t = dump_test_forgetter(returns_fast);
  CHECK_EQ(corio_await(t, NULL), 0);
  corio_task_unref(t);
  t = dump_test_forgetter(sleeps);
  (void)corio_task_cancel(t, NULL);
  finish_and_drop(t, 0);
  CHECK_EQ(corio_spawn(NULL, returns_fast, NULL), 0);
  yield_n(2);
  CHECK_EQ(reports.count, before);
  finish_and_drop(dump_test_forgetter(fails_fast), 0);
  CHECK_EQ(reports.count, before + 1);
  corio_loop_set_debug(loop, 0);
  return 0;
}

static void test_never_awaited(void **state) {
  (void)state;
  memset(&reports, 0, sizeof reports);
  all_reports[0] = 0;
  assert_int_equal(run_main(never_awaited, "debug"), 0);
  assert_checks_passed();
  assert_int_equal(reports.count, 2);
  assert_starts_with(all_reports,
                     "Task was never awaited or joined: its result was "
                     "never read (spawned at dump_test_forgetter+");
  assert_string_equal(reports.last, "Task exception was never retrieved");
  /* Outside debug mode only the failure is reported. */
  memset(&reports, 0, sizeof reports);
  all_reports[0] = 0;
  assert_int_equal(run_main(never_awaited, NULL), 0);
  assert_checks_passed();
  assert_int_equal(reports.count, 1);
  assert_string_equal(reports.last, "Task exception was never retrieved");
}

/* ---- debug mode: slow callbacks ------------------------------------------ */

static void spin(double seconds) {
  double until = wall_s() + seconds;

  while (wall_s() < until)
    ;
}

OWN_FRAME int dump_test_slowpoke(void *arg, void **result) {
  int rc = corio_sleep(0.001);

  (void)arg;
  (void)result;
  if (rc < 0)
    return rc;
  spin(0.1); /* twice the threshold: slow however fast the machine */
  rc = corio_sleep(0.001);
  return rc + dump_test_sink;
}

OWN_FRAME int dump_test_slow_callback(void *arg) {
  (void)arg;
  spin(0.1);
  return dump_test_sink;
}

static int slow_steps(void *arg, void **result) {
  corio_loop *loop = corio_task_loop(corio_current_task());
  corio_task *t;

  (void)arg;
  (void)result;
  corio_loop_set_debug(loop, 1);
  CHECK_EQ(corio_loop_set_slow_callback_duration(loop, 0.05), 0);
  corio_loop_set_exception_handler(loop, capture, &reports);
  t = spawn_named("slowpoke", dump_test_slowpoke, NULL);
  CHECK_EQ(corio_await(t, NULL), 0);
  corio_task_unref(t);
  CHECK_EQ(corio_loop_call_soon(loop, dump_test_slow_callback, NULL, NULL), 0);
  yield_n(2);
  corio_loop_set_debug(loop, 0);
  return 0;
}

static void test_slow_callbacks_are_named(void **state) {
  (void)state;
  memset(&reports, 0, sizeof reports);
  all_reports[0] = 0;
  assert_int_equal(run_main(slow_steps, NULL), 0);
  assert_checks_passed();
  /* A loaded machine may make other callbacks slow too: only these two
   * are looked for. */
  assert_contains(all_reports, "executing slowpoke (dump_test_slowpoke, "
                               "resumed from sleep, now at ");
  if (CAN_UNWIND)
    assert_contains(all_reports, "now at dump_test_slowpoke+");
  assert_contains(all_reports, " waiting on sleep) took ");
  assert_contains(all_reports,
                  "executing callback dump_test_slow_callback+0x0 (");
}

/* ---- a report on a signal ------------------------------------------------ */

static int dump_on_signal(void *path, void **result) {
  corio_loop *loop = corio_task_loop(corio_current_task());
  corio_task *t = spawn_named("signal-sleeper", sleeps, NULL);
  int saved = dup(STDERR_FILENO);
  FILE *f = fopen(path, "w+");

  (void)result;
  CHECK_TRUE(saved >= 0 && f != NULL);
  if (saved < 0 || !f)
    return -EIO;
  CHECK_EQ(corio_debug_dump_on_signal(NULL, SIGUSR2), 0);
  yield_n(1);
  fflush(stderr);
  dup2(fileno(f), STDERR_FILENO);
  raise(SIGUSR2);
  /* The loop sees the signal when it polls: at the latest once nothing
   * else is ready. */
  for (int i = 0; i < 1000 && lseek(fileno(f), 0, SEEK_END) <= 0; i++)
    CHECK_EQ(corio_sleep(0.001), 0);
  fflush(stderr);
  dup2(saved, STDERR_FILENO);
  close(saved);
  fclose(f);
  CHECK_EQ(corio_loop_remove_signal_handler(loop, SIGUSR2), 1);
  cancel_and_join(&t, 1);
  return 0;
}

static void test_report_on_signal(void **state) {
  char path[] = "/tmp/corio-dump-XXXXXX", text[16384];
  int fd = mkstemp(path);
  ssize_t n;

  (void)state;
  assert_true(fd >= 0);
  close(fd);
  assert_int_equal(run_main(dump_on_signal, path), 0);
  assert_checks_passed();
  fd = open(path, O_RDONLY);
  assert_true(fd >= 0);
  n = read(fd, text, sizeof text - 1);
  close(fd);
  unlink(path);
  assert_true(n > 0);
  text[n] = 0;
  assert_starts_with(text, "corio: 2 tasks on loop ");
  assert_contains(text, "\nsignal-sleeper       waiting     0      sleep: ");
  assert_contains(text, "\u2514\u2500\u2500 signal-sleeper (sleeps) waiting on "
                        "sleep: ");
  assert_contains(text, "\nsignal-sleeper (sleeps) waiting on sleep: ");
  assert_contains(text, "    spawned at spawn_named+");
}

/* ---- errors -------------------------------------------------------------- */

static int stop_at_first(const corio_task_info *info, void *arg) {
  (void)info;
  ++*(int *)arg;
  return 7;
}

static int visit_from_thread_rc;

static void *visit_from_thread(void *loop) {
  int calls = 0;

  visit_from_thread_rc = corio_visit_tasks(loop, 0, stop_at_first, &calls);
  return NULL;
}

static int misuse(void *arg, void **result) {
  corio_loop *loop = corio_task_loop(corio_current_task());
  corio_task *t = spawn_named("misuse", returns_fast, NULL);
  pthread_t thread;
  int calls = 0;

  (void)arg;
  (void)result;
  CHECK_STR(corio_task_name(t), "misuse");
  CHECK_EQ(corio_visit_tasks(NULL, 0, NULL, NULL), -EINVAL);
  CHECK_EQ(corio_visit_tasks(NULL, 0, stop_at_first, &calls), 7);
  CHECK_EQ(calls, 1);
  CHECK_EQ(corio_dump_tasks(NULL, NULL), -EINVAL);
  CHECK_EQ(corio_dump_task_tree(NULL, NULL), -EINVAL);
  CHECK_EQ(corio_debug_report(NULL, CORIO_REPORT_ALL, NULL, NULL), -EINVAL);
  CHECK_EQ(corio_task_backtrace(NULL, NULL, 0), -EINVAL);
  /* Not started: no stack yet. */
  CHECK_EQ(corio_task_backtrace(t, (void *[1]){0}, 1), CORIO_EDEAD);
  CHECK_EQ(pthread_create(&thread, NULL, visit_from_thread, loop), 0);
  pthread_join(thread, NULL);
  CHECK_EQ(visit_from_thread_rc, CORIO_ETHREAD);
  CHECK_EQ(corio_await(t, NULL), 0);
  corio_task_unref(t);
  return 0;
}

static void test_errors(void **state) {
  corio_loop *loop;
  struct text out = {0};
  int calls = 0;

  (void)state;
  assert_int_equal(corio_visit_tasks(NULL, 0, stop_at_first, &calls),
                   CORIO_ENOLOOP);
  assert_int_equal(corio_debug_dump_on_signal(NULL, SIGUSR2), CORIO_ENOLOOP);
  assert_int_equal(run_main(misuse, NULL), 0);
  assert_checks_passed();
  /* A loop that never had a task. */
  assert_int_equal(corio_loop_create(&loop), 0);
  assert_int_equal(corio_visit_tasks(loop, 0, stop_at_first, &calls), 0);
  assert_int_equal(calls, 0);
  assert_int_equal(corio_debug_report(loop, CORIO_REPORT_ALL, append, &out), 0);
  assert_starts_with(out.buf, "corio: 0 tasks on loop ");
  corio_loop_unref(loop);
}

/* ---- the main task's creation site ----------------------------------------
 */

static char main_site[200];

static int notes_own_site(void *arg, void **result) {
  (void)arg;
  (void)result;
  seen.n = 0;
  CHECK_EQ(corio_visit_tasks(NULL, 0, record, NULL), 0);
  copy(main_site, sizeof main_site, seen.n ? seen.tasks[0].created : "");
  return 0;
}

/* corio_run's task was spawned by its caller, not inside corio (nor by
 * corio_runner_run_ex). */
OWN_FRAME int dump_test_runs_main(void) {
  int rc = corio_run(notes_own_site, NULL, NULL);

  return rc + dump_test_sink;
}

static void test_main_task_site(void **state) {
  (void)state;
  assert_int_equal(dump_test_runs_main(), 0);
  assert_checks_passed();
  assert_starts_with(main_site, "dump_test_runs_main+0x");
}

static int discard(const char *text, size_t len, void *arg);

/* ---- big reports ----------------------------------------------------------
 */

/* A report costs a pass over the tasks, not one per pair of them: each
 * waiter's "N waiting" is a count the queue keeps (not a walk over the
 * queue), a task's edges are deduplicated by sorting (not searched), and a
 * task's groups are found in an index made once (not by walking every
 * group). Quadratic, the report below takes minutes under ASan; linear, a
 * second or so. No timing is asserted: the test's time limit is the check. */
enum { BIG_WAITERS = 20000, BIG_CHILDREN = 2000 };

static corio_event big_event = CORIO_EVENT_INIT;

static int waits_big_event(void *arg, void **result) {
  (void)arg;
  (void)result;
  return corio_event_wait(&big_event);
}

/* Spawns the children, then waits for them in close: its edges come from
 * the wait and from the group index, each child listed once. */
static int owns_big_group(void *arg, void **result) {
  corio_taskgroup *g;
  int rc = corio_taskgroup_open(&g);

  (void)arg;
  (void)result;
  if (rc < 0)
    return rc;
  for (int i = 0; i < BIG_CHILDREN && rc == 0; i++)
    rc = corio_taskgroup_spawn_ex(
        g, NULL, waits_big_event, NULL,
        &(corio_spawn_options){.name = "child",
                               .stack_size = CORIO_CORO_STACK_MIN});
  rc = corio_taskgroup_close(g, rc);
  corio_taskgroup_free(g);
  return rc;
}

struct line_counts {
  char partial[1024];
  size_t partial_len;
  size_t on_event, children_in_tree, owner_lines, lines;
};

static int count_lines(const char *text, size_t len, void *arg) {
  struct line_counts *c = arg;

  /* emit writes whole lines. */
  CHECK_TRUE(len > 0 && text[len - 1] == '\n');
  if (len >= sizeof c->partial)
    return 0;
  memcpy(c->partial, text, len);
  c->partial[len] = 0;
  c->lines++;
  c->on_event += strstr(c->partial, "event: not set, 21999 waiting") != NULL;
  c->children_in_tree += strstr(c->partial, "\u2500\u2500 child (") != NULL;
  c->owner_lines += strstr(c->partial, "\u2500\u2500 big-owner (") != NULL;
  return 0;
}

static int big_report(void *arg, void **result) {
  corio_task **t = malloc((BIG_WAITERS + 1) * sizeof *t);
  struct line_counts counts = {0};

  (void)arg;
  (void)result;
  CHECK_TRUE(t != NULL);
  if (!t)
    return -ENOMEM;
  for (int i = 0; i < BIG_WAITERS; i++)
    CHECK_EQ(corio_spawn_ex(
                 &t[i], waits_big_event, NULL,
                 &(corio_spawn_options){.stack_size = CORIO_CORO_STACK_MIN}),
             0);
  t[BIG_WAITERS] = spawn_named("big-owner", owns_big_group, NULL);
  yield_n(4);
  /* One leaves the middle of the queue: the count follows. */
  CHECK_EQ(corio_task_cancel(t[BIG_WAITERS / 2], NULL), 1);
  yield_n(2);
  CHECK_EQ(corio_debug_report(NULL, CORIO_REPORT_TABLE, count_lines, &counts),
           0);
  /* 19,999 of the first lot and the 2,000 children. */
  CHECK_EQ(counts.on_event, BIG_WAITERS - 1 + BIG_CHILDREN);
  counts = (struct line_counts){0};
  CHECK_EQ(corio_debug_report(NULL, CORIO_REPORT_TREE, count_lines, &counts),
           0);
  /* Under their owner, each once, though both its wait (close) and the
   * group index lead to them. */
  CHECK_EQ(counts.children_in_tree, BIG_CHILDREN);
  CHECK_EQ(counts.owner_lines, 1);
  corio_event_set(&big_event);
  for (int i = 0; i <= BIG_WAITERS; i++) {
    (void)corio_await(t[i], NULL);
    corio_task_unref(t[i]);
  }
  corio_event_clear(&big_event);
  free(t);
  return 0;
}

static void test_big_report_is_linear(void **state) {
  (void)state;
  assert_int_equal(run_main(big_report, NULL), 0);
  assert_checks_passed();
}

/* ---- a report from a small stack ------------------------------------------
 */

/* A chain of awaits as deep as the tree shows, reported from a task on
 * the smallest stack: the tree is printed without recursion, and the
 * report (libunwind's steps included) runs on a scratch stack. */
enum { CHAIN = 50 };

static char small_stack_text[1 << 16];

int small_stack_reports(void *arg, void **result) {
  corio_task *chain[CHAIN];
  FILE *out = tmpfile();
  size_t got;

  (void)arg;
  (void)result;
  CHECK_TRUE(out != NULL);
  if (!out)
    return -EIO;
  chain[CHAIN - 1] = spawn_named("chain-end", sleeps, NULL);
  for (int i = CHAIN - 2; i >= 0; i--)
    chain[i] =
        spawn_named(i == 0 ? "chain-start" : "link", awaits, chain[i + 1]);
  yield_n(3);
  CHECK_EQ(corio_dump_task_tree(NULL, out), 0);
  CHECK_EQ(corio_dump_tasks(NULL, out), 0);
  CHECK_EQ(corio_debug_report(NULL, CORIO_REPORT_ALL, discard, NULL), 0);
  rewind(out);
  got = fread(small_stack_text, 1, sizeof small_stack_text - 1, out);
  small_stack_text[got] = 0;
  fclose(out);
  cancel_and_join(chain, CHAIN);
  return 0;
}

static int spawns_small_stack_reporter(void *arg, void **result) {
  corio_task *t;

  (void)arg;
  (void)result;
  CHECK_EQ(corio_spawn_ex(
               &t, small_stack_reports, NULL,
               &(corio_spawn_options){.name = "small-stack",
                                      .stack_size = CORIO_CORO_STACK_MIN}),
           0);
  CHECK_EQ(corio_await(t, NULL), 0);
  corio_task_unref(t);
  return 0;
}

static void test_report_from_small_stack(void **state) {
  (void)state;
  assert_int_equal(run_main(spawns_small_stack_reporter, NULL), 0);
  assert_checks_passed();
  assert_contains(small_stack_text, "chain-start (awaits) waiting on task");
  assert_contains(small_stack_text, "... (deeper awaits cut)");
  assert_contains(small_stack_text,
                  "small-stack (small_stack_reports) running");
}

/* ---- out of memory ------------------------------------------------------- */

static int discard(const char *text, size_t len, void *arg) {
  (void)text;
  (void)len;
  (void)arg;
  return 0;
}

static int report_under_faults(void *arg, void **result) {
  corio_task *t[3];

  (void)arg;
  (void)result;
  if (corio_spawn(&t[0], sleeps, NULL) < 0)
    return -ENOMEM;
  if (corio_spawn(&t[1], awaits, t[0]) < 0) {
    cancel_and_join(t, 1);
    return -ENOMEM;
  }
  if (corio_spawn(&t[2], gathers, NULL) < 0) {
    cancel_and_join(t, 2);
    return -ENOMEM;
  }
  (void)corio_sleep(0);
  (void)corio_sleep(0);
  /* The report fails cleanly, or does without what it could not get. */
  int rc = corio_debug_report(NULL, CORIO_REPORT_ALL, discard, NULL);
  cancel_and_join(t, 3);
  return rc;
}

static void test_out_of_memory(void **state) {
  (void)state;
  assert_true(walk_run(CORIO__FAULT_ALLOC, report_under_faults,
                       corio_test_negative_or_tolerated) > 0);
}

/* ---- what a visit leaves behind ------------------------------------------ */

static int yields_then_returns(void *arg, void **result) {
  (void)arg;
  (void)result;
  return corio_sleep(0);
}

struct held_visit {
  corio_task **cancel; /* the tasks it cancels */
  size_t n_cancel;
  int calls, done;
};

/* Shown first (tasks come in creation order), the visiting task cancels
 * the others and lets them all finish while the visit holds them (visit
 * may suspend); every later call shows a task done. */
static int finish_while_held(const corio_task_info *info, void *arg) {
  struct held_visit *v = arg;

  if (v->calls++ == 0) {
    CHECK_PTR(info->task, corio_current_task());
    for (size_t i = 0; i < v->n_cancel; i++)
      (void)corio_task_cancel(v->cancel[i], NULL);
    for (int i = 0; i < 100 && !corio_task_done(v->cancel[v->n_cancel - 1]);
         i++)
      CHECK_EQ(corio_sleep(0), 0);
    yield_n(4);
  } else {
    CHECK_STR(info->state_name, "done");
    CHECK_EQ(info->n_frames, 0);
    v->done += info->state == CORIO_TASK_DONE;
  }
  return 0;
}

static int visits_and_lets_go(void *arg, void **result) {
  corio_task *t[3];
  struct held_visit v = {.cancel = t, .n_cancel = 3};

  (void)arg;
  (void)result;
  t[0] = spawn_named("held-sleeper", sleeps, NULL);
  t[1] = spawn_named("held-awaiter", awaits, t[0]);
  t[2] = spawn_named("held-gatherer", gathers, NULL);
  yield_n(4);
  seen.n = 0;
  CHECK_EQ(corio_visit_tasks(NULL, 0, record, NULL), 0);
  CHECK_EQ(corio_visit_tasks(NULL, CORIO_VISIT_BACKTRACES, record, NULL), 0);
  CHECK_EQ(corio_debug_report(NULL, CORIO_REPORT_ALL, discard, NULL), 0);
  /* Not started when the visit takes it, finished during the visit, and
   * held by nobody else: the visit drops its last reference. */
  CHECK_EQ(corio_spawn(NULL, yields_then_returns, NULL), 0);
  CHECK_EQ(corio_visit_tasks(NULL, 0, finish_while_held, &v), 0);
  /* Itself, the three, the gather's two children and the detached one. */
  CHECK_EQ(v.calls, 7);
  CHECK_EQ(v.done, 6);
  cancel_and_join(t, 3);
  return 0;
}

/* Visits, reports, and tasks that finish while a visit holds them leave
 * no allocation, stack or fd behind once the loop is closed. */
static void test_visit_leaves_nothing(void **state) {
  corio_test_usage before;
  char name[128];
  int fds;

  (void)state;
  /* libunwind, started by the first name it gives, keeps a pipe open for
   * the process's life (x86-64: it checks addresses are readable by
   * writing them to it): started before counting. */
  (void)corio_debug_symbol((const void *)(uintptr_t)sleeps, name, sizeof name);
  fds = corio_test_open_fds();
  before = corio_test_usage_now();
  assert_int_equal(run_main(visits_and_lets_go, NULL), 0);
  assert_checks_passed();
  assert_int_equal(corio_test_open_fds(), fds);
  corio_test_assert_no_leak(before);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup(test_each_wait_is_named, reset_checks),
      cmocka_unit_test_setup(test_await_tree, reset_checks),
      cmocka_unit_test_setup(test_stacks, reset_checks),
      cmocka_unit_test_setup(test_creation_sites, reset_checks),
      cmocka_unit_test_setup(test_never_awaited, reset_checks),
      cmocka_unit_test_setup(test_slow_callbacks_are_named, reset_checks),
      cmocka_unit_test_setup(test_report_on_signal, reset_checks),
      cmocka_unit_test_setup(test_errors, reset_checks),
      cmocka_unit_test_setup(test_main_task_site, reset_checks),
      cmocka_unit_test_setup(test_big_report_is_linear, reset_checks),
      cmocka_unit_test_setup(test_report_from_small_stack, reset_checks),
      cmocka_unit_test(test_out_of_memory),
      cmocka_unit_test_setup(test_visit_leaves_nothing, reset_checks),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
