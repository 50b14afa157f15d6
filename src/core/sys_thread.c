#include "core/sys_thread.h"

#include <errno.h>
#include <signal.h>

#include "core/fault.h"

int corio__sys_thread_create(pthread_t *tid, void *(*fn)(void *), void *arg,
                             const char *name) {
  sigset_t all, saved;
  int rc;

  if (corio__fault_hit(CORIO__FAULT_THREAD_CREATE))
    return -EAGAIN;
  /* The new thread inherits this mask. */
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &saved);
  rc = pthread_create(tid, NULL, fn, arg);
  pthread_sigmask(SIG_SETMASK, &saved, NULL);
  if (rc != 0)
    return -rc;
#if defined(__linux__)
  if (name)
    (void)pthread_setname_np(*tid, name); /* at most 15 characters */
#else
  (void)name;
#endif
  return 0;
}
