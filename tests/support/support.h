/* Shared helpers for corio's tests: leak accounting and fault walks. */
#ifndef CORIO_TEST_SUPPORT_H
#define CORIO_TEST_SUPPORT_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/fault.h"

/* What corio holds right now, once empty pooled slabs are released:
 * allocations not freed and bytes mapped. */
typedef struct corio_test_usage {
  long allocations;
  long mapped_bytes;
} corio_test_usage;

corio_test_usage corio_test_usage_now(void);

/* Releases pooled memory (empty stack slabs) so usage can be compared. */
void corio_test_release_pools(void);

/* Asserts that usage is back to `before` once pools are released. */
void corio_test_assert_no_leak(corio_test_usage before);

/* Runs op() once per call it makes at `point`, failing the 1st, 2nd, ...
 * call in turn, until op() gets through a run with nothing failing. After
 * each injected failure, `check` judges op's return code (a negative code,
 * or 0 where the failure is tolerated) and usage must be as it was.
 * Returns the number of points walked. */
typedef int (*corio_test_op)(void *ctx);
long corio_test_fault_walk(enum corio__fault_point point, corio_test_op op,
                           void *ctx, void (*check)(int rc));

/* Checks for corio_test_fault_walk: every injected failure is an error;
 * or an error, or tolerated (a copy of a message dropped, advice refused). */
void corio_test_negative(int rc);
void corio_test_negative_or_tolerated(int rc);

/* Open fds of this process: a failure path that forgets to close one
 * shows as a difference. */
int corio_test_open_fds(void);

/* A loopback port that was free a moment ago for `type` (SOCK_STREAM or
 * SOCK_DGRAM), for a server a test starts; -1 if none could be had. The
 * port may be taken before the server binds it: callers retry. */
int corio_test_free_port(int type);

/* The backend a loop made with the defaults runs on ("epoll", "poll",
 * "io_uring": what CORIO_POLLER asks for, after any fall back), for
 * fault walks over backend syscalls. Found once, on a thread of its own
 * (a ring's teardown would interrupt this thread's next wait). */
const char *corio_test_backend(void);

/* 0 where io_uring loops can be made (CORIO_LOOP_NO_FALLBACK), else the
 * kernel's refusal. Found once, on a thread of its own, as above. */
int corio_test_uring_refused(void);

/* Under Valgrind some tests (forking crash tests) are skipped. */
int corio_test_under_valgrind(void);

#define CORIO_INT(p) ((intptr_t)(p))
#define CORIO_PTR(i) ((void *)(intptr_t)(i))

#endif
