/* The program tests/task/check_backtrace_gdb.sh runs under gdb: a task
 * suspended three calls deep. It writes the task's saved registers as gdb
 * commands (argv[1]) and corio's backtrace of it, one function per line
 * (argv[2]), then stops with SIGTRAP, where gdb loads those registers and
 * unwinds the same stack its own way. Exit status 77: nothing to compare
 * (no libunwind, or an architecture this does not know). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>

#include "corio/debug.h"
#include "corio/task.h"
#include "coro/backtrace.h"
#include "coro/symbol.h"
#include "task/task_internal.h"

volatile int bt_target_sink;

int bt_target_inner(double seconds);
int bt_target_middle(double seconds);
int bt_target_body(void *arg, void **result);

__attribute__((noinline)) int bt_target_inner(double seconds) {
  int rc = corio_sleep(seconds);

  return rc + bt_target_sink;
}

__attribute__((noinline)) int bt_target_middle(double seconds) {
  int rc = bt_target_inner(seconds);

  return rc + bt_target_sink;
}

__attribute__((noinline)) int bt_target_body(void *arg, void **result) {
  int rc = bt_target_middle(100);

  (void)arg;
  (void)result;
  return rc + bt_target_sink;
}

static const char *const *paths;

static int write_files(corio_task *t) {
  corio__frame frames[CORIO_DEBUG_MAX_FRAMES];
  corio__coro_view view;
  corio__ctx_regs r;
  FILE *gdb, *ours;
  int n;

  if (corio__coro_inspect(t->coro, &view) < 0 || !view.ctx ||
      corio__ctx_saved_regs(view.ctx, &r) < 0)
    return 1;
  n = corio__coro_backtrace(t->coro, CORIO__UNWIND_LIBUNWIND, frames,
                            CORIO_DEBUG_MAX_FRAMES);
  if (n == -ENOTSUP)
    return 77;
  if (n <= 0 || !(gdb = fopen(paths[1], "w")))
    return 1;
#if defined(__x86_64__)
  fprintf(gdb,
          "set $rip = %#lx\nset $rsp = %#lx\nset $rbp = %#lx\n"
          "set $rbx = %#lx\nset $r12 = %#lx\nset $r13 = %#lx\n"
          "set $r14 = %#lx\nset $r15 = %#lx\n",
          (unsigned long)r.pc, (unsigned long)r.sp, (unsigned long)r.fp,
          (unsigned long)r.rbx, (unsigned long)r.r12, (unsigned long)r.r13,
          (unsigned long)r.r14, (unsigned long)r.r15);
#else
  fclose(gdb);
  return 77;
#endif
  fclose(gdb);
  if (!(ours = fopen(paths[2], "w")))
    return 1;
  for (int i = 0; i < n; i++) {
    corio__symbol sym;

    corio__symbolize(frames[i].pc, 1, &sym);
    fprintf(ours, "%s\n", sym.name[0] ? sym.name : "??");
  }
  fclose(ours);
  return 0;
}

static int main_task(void *arg, void **result) {
  corio_task *t;
  int rc;

  (void)arg;
  (void)result;
  rc = corio_spawn(&t, bt_target_body, NULL);
  if (rc < 0)
    return rc;
  rc = corio_sleep(0);
  if (rc == 0)
    rc = corio_sleep(0);
  if (rc == 0)
    rc = write_files(t);
  if (rc == 0)
    raise(SIGTRAP); /* gdb takes over here; it never resumes the program */
  (void)corio_task_cancel(t, NULL);
  (void)corio_await(t, NULL);
  corio_task_unref(t);
  return rc;
}

int main(int argc, char **argv) {
  int rc;

  if (argc != 3) {
    fprintf(stderr, "usage: backtrace_gdb_target GDB_COMMANDS OUR_FRAMES\n");
    return 2;
  }
  paths = (const char *const *)argv;
  rc = corio_run(main_task, NULL, NULL);
  return rc > 0 ? rc : rc < 0;
}
