/* sleep, usleep, nanosleep, clock_nanosleep: inside a task, corio_sleep.
 * A cancelled sleep ends early with ECANCELED (and what was left, where
 * the call reports it); the task's cancellation stays pending. */
#include <errno.h>
#include <stdint.h>

#include <unistd.h>

#include "hook/hook_internal.h"

/* Sleeps ns on the task's loop; 0 or -1 with errno. *left_ns gets what
 * was not slept. */
static int task_sleep(corio_task *t, int64_t ns, int64_t *left_ns) {
  int64_t end = corio__hook_deadline(t, ns > 0 ? ns : 1);
  int rc = corio_sleep_ns(ns);

  *left_ns = 0;
  if (rc == 0)
    return 0;
  if (end != HOOK_NO_DEADLINE) {
    *left_ns = end - corio_loop_time_ns(corio_task_loop(t));
    if (*left_ns < 0)
      *left_ns = 0;
  }
  return corio__hook_fail(t, rc);
}

static int64_t timespec_ns(const struct timespec *ts) {
  if (ts->tv_sec >= INT64_MAX / 1000000000 - 1)
    return INT64_MAX;
  return (int64_t)ts->tv_sec * 1000000000 + ts->tv_nsec;
}

static void set_timespec(struct timespec *ts, int64_t ns) {
  ts->tv_sec = (time_t)(ns / 1000000000);
  ts->tv_nsec = (long)(ns % 1000000000);
}

int nanosleep(const struct timespec *req, struct timespec *rem) {
  corio_task *t = corio__hook_task();
  int64_t left;

  if (!t || !req)
    return REAL(nanosleep)(req, rem);
  if (req->tv_sec < 0 || req->tv_nsec < 0 || req->tv_nsec >= 1000000000) {
    errno = EINVAL;
    return -1;
  }
  if (task_sleep(t, timespec_ns(req), &left) == 0)
    return 0;
  if (rem)
    set_timespec(rem, left);
  return -1;
}

int clock_nanosleep(clockid_t clock, int flags, const struct timespec *req,
                    struct timespec *rem) {
  corio_task *t = corio__hook_task();
  struct timespec now;
  int64_t ns, left;

  if (!t || !req)
    return REAL(clock_nanosleep)(clock, flags, req, rem);
  if (req->tv_sec < 0 || req->tv_nsec < 0 || req->tv_nsec >= 1000000000)
    return EINVAL;
  ns = timespec_ns(req);
  if (flags & TIMER_ABSTIME) {
    /* An absolute time on clock: how far it is now. */
    if (clock_gettime(clock, &now) < 0)
      return errno;
    ns -= timespec_ns(&now);
    if (ns <= 0)
      return 0;
  }
  if (task_sleep(t, ns, &left) == 0)
    return 0;
  if (rem && !(flags & TIMER_ABSTIME))
    set_timespec(rem, left);
  return errno;
}

unsigned sleep(unsigned seconds) {
  corio_task *t = corio__hook_task();
  int64_t left;

  if (!t)
    return REAL(sleep)(seconds);
  if (task_sleep(t, (int64_t)seconds * 1000000000, &left) == 0)
    return 0;
  return (unsigned)((left + 999999999) / 1000000000);
}

int usleep(useconds_t us) {
  corio_task *t = corio__hook_task();
  int64_t left;

  if (!t)
    return REAL(usleep)(us);
  return task_sleep(t, (int64_t)us * 1000, &left);
}
