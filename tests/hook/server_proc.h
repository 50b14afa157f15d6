/* Real servers for the hook tests (redis-server, PostgreSQL): started as
 * child processes with their output in a log file, waited for until they
 * answer, stopped and reaped. Every wait is bounded, and a server that
 * cannot start leaves a sentence in `why` for the test to print before it
 * skips. Used outside corio tasks only, so the hooks never see these
 * calls. */
#ifndef CORIO_TESTS_HOOK_SERVER_PROC_H
#define CORIO_TESTS_HOOK_SERVER_PROC_H

#include <stddef.h>
#include <sys/types.h>

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

/* A TCP port of 127.0.0.1 free right now (another process may take it
 * before the server binds it: callers retry on a new one), or -1. */
int server_proc_free_tcp_port(void);

/* rm -rf dir (a directory the test made). 0 or -1. */
int server_proc_remove_tree(const char *dir);

/* Sleeps for ms milliseconds (outside tasks: a plain nanosleep). */
void server_proc_pause_ms(int ms);

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

/* Whether the hooks reach a library's own calls: runs call(ctx) (one
 * blocking call into the library, e.g. a query that waits 50 ms on the
 * server) in a task next to another task that counts while it waits. 1 if
 * the other task ran while call was inside the library (its blocking
 * call suspended the task), 0 if not (it blocked the thread: the library's
 * calls bypass the hooks), or corio_run's error. Deterministic both ways;
 * the tests check it first so that hooks that do not reach the library
 * fail them at once instead of blocking until the test's timeout. */
int hook_probe(void (*call)(void *ctx), void *ctx);

#endif
