/* The hook layer's internals: the C library's own functions behind each
 * hook (real.c), the per-fd table (fd_table.c), and how a hooked call
 * waits for an fd, a deadline or a cancellation (fd_wait.c). */
#ifndef CORIO_HOOK_INTERNAL_H
#define CORIO_HOOK_INTERNAL_H

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <time.h>

#include "core/fault.h"
#include "corio/loop.h"
#include "corio/task.h"
#include "task/hook_support.h"
#include "task/wait.h"

/* ---- the C library's functions (real.c) ---------------------------------- */

typedef struct corio__hook_real {
  ssize_t (*read)(int, void *, size_t);
  ssize_t (*write)(int, const void *, size_t);
  ssize_t (*readv)(int, const struct iovec *, int);
  ssize_t (*writev)(int, const struct iovec *, int);
  ssize_t (*pread)(int, void *, size_t, off_t);
  ssize_t (*pwrite)(int, const void *, size_t, off_t);
  ssize_t (*recv)(int, void *, size_t, int);
  ssize_t (*send)(int, const void *, size_t, int);
  ssize_t (*recvfrom)(int, void *, size_t, int, struct sockaddr *, socklen_t *);
  ssize_t (*sendto)(int, const void *, size_t, int, const struct sockaddr *,
                    socklen_t);
  ssize_t (*recvmsg)(int, struct msghdr *, int);
  ssize_t (*sendmsg)(int, const struct msghdr *, int);
  int (*connect)(int, const struct sockaddr *, socklen_t);
  int (*accept)(int, struct sockaddr *, socklen_t *);
  int (*accept4)(int, struct sockaddr *, socklen_t *, int);
  int (*poll)(struct pollfd *, nfds_t, int);
  int (*ppoll)(struct pollfd *, nfds_t, const struct timespec *,
               const sigset_t *);
  int (*select)(int, fd_set *, fd_set *, fd_set *, struct timeval *);
  int (*pselect)(int, fd_set *, fd_set *, fd_set *, const struct timespec *,
                 const sigset_t *);
  int (*close)(int);
  int (*close_range)(unsigned, unsigned, int);
  int (*fclose)(FILE *);
  int (*dup)(int);
  int (*dup2)(int, int);
  int (*dup3)(int, int, int);
  int (*fcntl)(int, int, ...);
  int (*ioctl)(int, unsigned long, ...);
  int (*setsockopt)(int, int, int, const void *, socklen_t);
  int (*getsockopt)(int, int, int, void *, socklen_t *);
  int (*socket)(int, int, int);
  int (*socketpair)(int, int, int, int[2]);
  int (*pipe)(int[2]);
  int (*pipe2)(int[2], int);
  unsigned (*sleep)(unsigned);
  int (*usleep)(useconds_t);
  int (*nanosleep)(const struct timespec *, struct timespec *);
  int (*clock_nanosleep)(clockid_t, int, const struct timespec *,
                         struct timespec *);
  int (*getaddrinfo)(const char *, const char *, const struct addrinfo *,
                     struct addrinfo **);
  int (*getnameinfo)(const struct sockaddr *, socklen_t, char *, socklen_t,
                     char *, socklen_t, int);
  struct hostent *(*gethostbyname)(const char *);
  int (*gethostbyname_r)(const char *, struct hostent *, char *, size_t,
                         struct hostent **, int *);
  pid_t (*fork)(void);
} corio__hook_real;

extern corio__hook_real corio__real;
extern atomic_int corio__real_ready;

/* Finds every real function (dlsym(RTLD_NEXT), else a raw syscall for a
 * static program). Idempotent; the constructor calls it, and so does the
 * first hook to run before the constructor did. */
void corio__hook_real_init(void);

/* Loads the layer (src/hook/hook.c): the real functions, and libcorio
 * told that the hooks exist. Idempotent. Every hook's path reaches it,
 * which also makes a static link pull in its constructor. */
void corio__hook_load(void);

/* The real function `name`, found first if the constructor has not run
 * yet (another library's constructor may call a hook). */
#define REAL(name)                                                             \
  (*(atomic_load_explicit(&corio__real_ready, memory_order_acquire)            \
         ? corio__real.name                                                    \
         : (corio__hook_load(), corio__real.name)))

/* corio's fault seam (src/core/fault.h) for the calls the hooks handle,
 * as corio__sys_* has it for corio's own: tests make the Nth hooked
 * socket, connect, accept, receive or send fail with `err` (the same
 * errno corio__sys_* injects). Nonzero: fail the call, errno set. */
static inline int corio__hook_fault(enum corio__fault_point point, int err) {
  if (!corio__fault_hit(point))
    return 0;
  errno = err;
  return 1;
}

/* ---- the fd table (fd_table.c) --------------------------------------------
 */

enum {
  HOOK_IN = 1,  /* waits for readable */
  HOOK_OUT = 2, /* waits for writable */
};

/* What kind of file an fd is, as far as the hooks care. */
enum hook_fd_kind {
  HOOK_FD_UNKNOWN = 0, /* not looked at yet */
  HOOK_FD_PASS,        /* regular file, directory, block device: never waits */
  HOOK_FD_SOCKET,
  HOOK_FD_PIPE,  /* pipe or FIFO */
  HOOK_FD_OTHER, /* tty, eventfd, timerfd...: waits, flags left alone */
};

typedef struct hook_waiter hook_waiter;

typedef struct hook_fd {
  int fd;                     /* its number (the place in the table) */
  atomic_uint gen;            /* bumped by every close through the hooks */
  _Atomic unsigned char kind; /* enum hook_fd_kind */
  /* O_NONBLOCK as the user set it: such an fd passes through (EAGAIN is
   * theirs). F_GETFL reports exactly this. */
  _Atomic unsigned char user_nonblock;
  /* O_NONBLOCK set by the hooks behind the user's back. */
  _Atomic unsigned char ours_nonblock;
  /* Born through a hooked socket/accept/pipe: this process's own, so
   * its kernel O_NONBLOCK may be set for the hooks. An fd first seen
   * otherwise (inherited: a pipe shared with the shell) keeps its flags,
   * and a task waits for readiness before the real call instead. */
  _Atomic unsigned char created;
  /* A datagram socket: a send is one datagram, never continued. */
  _Atomic unsigned char datagram;
  /* SO_RCVTIMEO / SO_SNDTIMEO in ns; 0: none (the kernel's default). */
  _Atomic int64_t recv_timeout_ns, send_timeout_ns;
  /* The loop that watches it for its tasks (NULL: none); all its
   * waiters are tasks of that loop. A read watcher stays after its wait
   * (a later wait then costs no epoll_ctl) until it fires with nobody
   * waiting, the fd closes, or the loop closes: the loop keeps a list of
   * its entries (owned_prev/next) for that. */
  corio_loop *loop;
  struct hook_fd *owned_prev, *owned_next;
  hook_waiter *waiters;
  unsigned armed;     /* HOOK_IN | HOOK_OUT watched on loop */
  unsigned armed_gen; /* gen when armed: another file's watch if stale */
} hook_fd;

/* The entry of fd (allocated on first use; NULL for fd < 0 or out of
 * memory). Entries never move or go away. */
hook_fd *corio__hook_fd(int fd);
/* The entry of fd if its chunk exists, else NULL: for the paths that only
 * read state (a call outside any task, close, F_GETFL), which then never
 * allocate for an fd the hooks have not seen. */
hook_fd *corio__hook_fd_peek(int fd);
/* The fd number an entry is for. */
int corio__hook_fd_number(const hook_fd *e);
/* The entry of an fd the hooks should make a task wait on, classified on
 * first sight; NULL if the call must pass through (not a waitable kind,
 * or the user made it non-blocking). */
hook_fd *corio__hook_fd_waitable(int fd);
/* A new fd from a hooked socket/accept/pipe/dup: its state starts over.
 * kind is known; nonblock is what the creator asked for. */
void corio__hook_fd_created(int fd, enum hook_fd_kind kind, int nonblock);
/* e's SO_RCVTIMEO / SO_SNDTIMEO from the kernel's socket fd. */
void corio__hook_fd_read_timeouts(int fd, hook_fd *e);
/* Before the real close(fd) (or dup2 over it): tasks waiting on it fail
 * with EBADF, its watchers go, its state is forgotten. */
void corio__hook_fd_closing(int fd);
/* The same for every fd in [first, last] the table knows of. */
void corio__hook_fd_closing_range(unsigned first, unsigned last);
/* Makes the kernel's file non-blocking for a hooked wait, remembering the
 * user's own setting; 0 or -errno. */
int corio__hook_fd_make_nonblocking(int fd, hook_fd *e);

/* A hooked call on fd inside task: readies it for waiting (a socket or
 * pipe born through a hooked call becomes non-blocking in the kernel; an
 * inherited one keeps its flags). NULL: pass the call through. */
hook_fd *corio__hook_fd_prepare(int fd);
/* Entry point of every call that may block on fd: *task gets the task
 * the call acts for (NULL outside one). Returns the entry if the call
 * must be given blocking semantics by the hooks: inside a task, or
 * outside one on an fd that the hooks made non-blocking underneath (the
 * call then waits in the real poll, as the kernel would have). NULL: the
 * C library's call as it is. */
hook_fd *corio__hook_fd_blocking(int fd, corio_task **task);

/* The table's lock: classification, ownership by a loop, close. */
extern pthread_mutex_t corio__hook_lock;

/* ---- waiting (fd_wait.c) ----------------------------------------------------
 */

struct hook_waiter {
  hook_waiter *prev, *next;
  corio__wait *wait; /* shared by every waiter of one poll() */
  hook_fd *entry;
  int fd;
  unsigned gen;     /* entry->gen when it started */
  unsigned events;  /* HOOK_IN | HOOK_OUT */
  unsigned revents; /* set when woken by readiness */
};

/* No deadline. */
#define HOOK_NO_DEADLINE INT64_MAX

/* Suspends task until fd has `events` (HOOK_IN/HOOK_OUT), the loop time
 * deadline_ns passes, or the task is cancelled. Returns 0 (ready: retry
 * the call), -EAGAIN (deadline), -EBADF (closed meanwhile), -ECANCELED
 * (the cancellation is kept pending for the task's next suspension), or
 * another -errno. */
int corio__hook_wait_fd(corio_task *task, int fd, hook_fd *e, unsigned events,
                        int64_t deadline_ns);

/* Several fds at once (poll/select): waiters[i].fd/.entry/.events set by
 * the caller (entry NULL: not waitable, skipped). Returns as above; the
 * waiters' revents say which woke it. */
int corio__hook_wait_many(corio_task *task, hook_waiter *waiters, size_t n,
                          int64_t deadline_ns);

/* The task's loop time plus a relative timeout in ns (<= 0: none);
 * without a task, CLOCK_MONOTONIC's. */
int64_t corio__hook_deadline(corio_task *task, int64_t timeout_ns);
/* The deadline of a call waiting for event on e: SO_RCVTIMEO for
 * HOOK_IN, SO_SNDTIMEO for HOOK_OUT. */
int64_t corio__hook_deadline_for(corio_task *task, hook_fd *e, unsigned event);

/* corio__hook_wait_fd inside a task; outside, the real poll(2) (a signal
 * then gives -EINTR, as the blocking call would). */
int corio__hook_wait(corio_task *task, int fd, hook_fd *e, unsigned event,
                     int64_t deadline_ns);

/* Sets errno for a failed wait and returns -1 (the C library's way); a
 * cancellation stays pending for the task (task may be NULL). */
int corio__hook_fail(corio_task *task, int rc);

#endif
