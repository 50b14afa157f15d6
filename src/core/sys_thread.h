/* Starting threads, behind a fault point like every other syscall. */
#ifndef CORIO_CORE_SYS_THREAD_H
#define CORIO_CORE_SYS_THREAD_H

#include <pthread.h>

/* pthread_create with every signal blocked in the new thread (signals are
 * the loop thread's business) and, if name is not NULL, its name set.
 * 0 or a negative errno (an injected failure is -EAGAIN). */
int corio__sys_thread_create(pthread_t *tid, void *(*fn)(void *), void *arg,
                             const char *name);

#endif
