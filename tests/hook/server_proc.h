/* Real servers for the hook tests (redis-server, PostgreSQL): started as
 * child processes with their output in a log file, waited for until they
 * answer, stopped and reaped. Every wait is bounded, and a server that
 * cannot start leaves a sentence in `why` for the test to print before it
 * skips. Used outside corio tasks only, so the hooks never see these
 * calls.
 *
 * Below those, the pieces that the library cases (hiredis, libpq, OpenSSL)
 * share: checks inside tasks, the probe that the hooks reach a library,
 * running n tasks, polling the server until it reports a count, and the
 * cancellation and timeout-scope cases around a call that never returns
 * by itself. */
#ifndef CORIO_TESTS_HOOK_SERVER_PROC_H
#define CORIO_TESTS_HOOK_SERVER_PROC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "corio/task.h"

/* An int through a task's void * argument, and back. */
#define PTR_ARG(i) ((void *)(intptr_t)(i))
#define INT_ARG(p) ((int)(intptr_t)(p))

typedef struct server_proc {
  pid_t pid;     /* -1 when not running */
  char log[160]; /* the child's stdout and stderr ("" : /dev/null) */
  char why[512]; /* why it could not start, or how it ended */
} server_proc;

typedef struct server_proc_options {
  const char *dir; /* working directory (NULL: the test's) */
  const char *log; /* stdout and stderr go here, appended (NULL: nowhere) */
  int as_user;     /* run as uid/gid below (needs root) */
  uid_t uid;
  gid_t gid;
  char *const *env; /*       "NAME=value" entries put before the test's
                             environment (NULL-terminated; may be NULL) */
} server_proc_options;

/* Starts path (an absolute path) with argv. 0, or -1 with why set (the
 * program is missing: errno-like text from the child's failed exec shows
 * up as an early exit in server_proc_wait_ready). The child dies with the
 * test (PR_SET_PDEATHSIG), so a crashed test leaves no server behind. */
int server_proc_start(server_proc *p, const char *path, char *const argv[],
                      const server_proc_options *o);

/* 1 while the child runs; 0 once it has exited (reaped: why says how). */
int server_proc_running(server_proc *p);

/* Calls ready(ctx) until it returns 1, for at most `seconds`: 0 then;
 * -1 (why set, the child stopped) if it exited or never became ready. */
int server_proc_wait_ready(server_proc *p, int (*ready)(void *ctx), void *ctx,
                           double seconds);

/* Sends sig, waits up to 20 s for the child to exit, then SIGKILLs it;
 * reaps it either way. Nothing happens when it is not running. */
void server_proc_stop(server_proc *p, int sig);

/* Runs a program to completion (initdb): its exit status (0..255), or -1
 * with why set (could not start, killed by a signal, or still running
 * after `seconds`, then killed). */
int server_proc_run(server_proc *p, const char *path, char *const argv[],
                    const server_proc_options *o, double seconds);

/* The last non-empty line of the child's log, or "" (for skip messages). */
void server_proc_last_log_line(const server_proc *p, char *buf, size_t size);

/* rm -rf dir (a directory the test made). 0 or -1. */
int server_proc_remove_tree(const char *dir);

/* Sleeps for ms milliseconds (outside tasks: a plain nanosleep). */
void server_proc_pause_ms(int ms);

/* CLOCK_MONOTONIC in seconds. */
double server_proc_now_seconds(void);

/* Checks inside tasks, where a cmocka assertion would longjmp off the
 * task's stack: the first failure is kept (printf-style text with the
 * place), and the test asserts there was none once the loop is done. */
void hook_test_failed_at(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
#define HOOK_CHECK(cond, ...)                                                  \
  ((cond) ? 1 : (hook_test_failed_at(__FILE__, __LINE__, __VA_ARGS__), 0))
/* The first failure's text, or NULL; reset forgets it. */
const char *hook_test_failure(void);
void hook_test_reset(void);

/* In a task: whether its blocking calls suspend it (HOOK_CHECK). Every
 * task checks this first: without it a waiting task would block the
 * thread and the test would sit out its patience instead of failing. */
int hook_test_active_here(void);

/* Whether the hooks reach a library's own calls: runs call(ctx) (one
 * blocking call into the library, e.g. a query that waits 50 ms on the
 * server) in a task next to another task that counts while it waits. 1 if
 * the other task ran while call was inside the library (its blocking
 * call suspended the task), 0 if not (it blocked the thread: the library's
 * calls bypass the hooks), or corio_run's error. Deterministic both ways.
 * The verdict is kept for hook_test_begin_case, under the name `what`
 * ("a BLPOP inside libhiredis"); call reports a failure of its own (the
 * server's error, not a verdict on the hooks) with hook_probe_failed. */
int hook_probe(const char *what, void (*call)(void *ctx), void *ctx);
void hook_probe_failed(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

/* For main: corio_hook_enable, then hook_probe(what, call, ctx). 0, or -1
 * (said on stderr) when the hooks are not linked in. */
int hook_test_enable(const char *what, void (*call)(void *ctx), void *ctx);

/* First in every case (cmocka): fails it at once when the probe found that
 * the hooks do not reach the library (its waits would block the thread
 * until the patience ran out) or the probe's call failed; then forgets
 * earlier HOOK_CHECK failures. */
void hook_test_begin_case(void);

/* cmocka: fails the case with the first HOOK_CHECK failure, if any. */
void hook_test_assert_no_failure(void);

/* Runs fn(PTR_ARG(0)) .. fn(PTR_ARG(n - 1)) as tasks gathered on a new loop
 * (corio_run): its return, or -ENOMEM. With patience > 0 the gather runs
 * in a timeout scope of that many seconds. Outside tasks. */
int hook_test_run_tasks(corio_task_fn fn, int n, double patience);

/* cmocka, a whole case: hook_test_begin_case, hook_test_run_tasks (which
 * must return 0), hook_test_assert_no_failure. */
void hook_test_run_case(corio_task_fn fn, int n, double patience);

/* In a task: calls count(ctx) (a figure the server reports, < 0 on error
 * with the failure recorded) until it gives `want`, with a 2 ms hooked
 * sleep between calls so that the other tasks run, for at most `patience`
 * seconds of loop time. 0, or -1 (count failed, or the patience ran out);
 * *most is the largest figure seen (-1: none). */
int hook_test_wait_for_count(long (*count)(void *ctx), void *ctx, long want,
                             long *most, double patience);

/* The cancellation and timeout-scope cases: a blocking call into the
 * library that only a cancellation ends, and what corio reported. */
typedef struct hook_test_stuck {
  double scope_seconds; /* > 0: the call runs in a timeout scope this
                           long; 0: the test cancels the task */
  int next_suspension;  /* the task's next corio call after the call */
  int scope_exit;       /* corio_timeout_exit's return (with a scope) */
  int after_scope;      /* a corio call after the scope */
} hook_test_stuck;

/* In a task: call(ctx) (which makes the blocking call and records what the
 * library reported), then one corio suspension. With s->scope_seconds both
 * run in a timeout scope and one more suspension follows it. Returns
 * next_suspension without a scope (so a cancelled task ends cancelled),
 * else 0 or corio_timeout_enter's error. */
int hook_test_stuck_call(hook_test_stuck *s, void (*call)(void *ctx),
                         void *ctx);

/* In a task: spawns fn(arg), calls blocked(task, ctx) to wait until the
 * task is blocked inside the library (1; 0 when it gave up, the failure
 * recorded), cancels the task, awaits it and checks (HOOK_CHECK) that it
 * ended cancelled with -ECANCELED. 0, or corio_spawn's error. */
int hook_test_cancel_blocked(corio_task_fn fn, void *arg,
                             int (*blocked)(corio_task *task, void *ctx),
                             void *ctx);

/* cmocka: the stuck call's cancellation stayed pending after the library
 * returned (next_suspension -ECANCELED); with a scope, the scope turned it
 * into -ETIMEDOUT and took it back (the next call succeeded). */
void hook_test_assert_stuck(const hook_test_stuck *s);

#endif
