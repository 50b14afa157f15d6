/* close, dup*, fcntl, ioctl(FIONBIO) and setsockopt: keep the fd table
 * true to what the user asked for. The kernel's O_NONBLOCK may be the
 * hooks' own; F_GETFL shows exactly the user's choice, never theirs. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <sys/ioctl.h>
#include <sys/time.h>

#include <unistd.h>

#include "hook/hook_internal.h"

int close(int fd) {
  corio__hook_fd_closing(fd);
  return REAL(close)(fd);
}

/* fclose and close_range close fds inside the C library, where close is
 * not called by name: the table must hear of them all the same. */
int fclose(FILE *f) {
  int fd = f ? fileno(f) : -1;

  if (fd >= 0)
    corio__hook_fd_closing(fd);
  return REAL(fclose)(f);
}

int close_range(unsigned first, unsigned last, int flags) {
  /* Only fds that left the table's "unknown" state need telling; the
   * table is walked, not the (possibly huge) range. CLOSE_RANGE_CLOEXEC
   * closes nothing now. */
  if (!(flags & CLOSE_RANGE_CLOEXEC))
    corio__hook_fd_closing_range(first, last);
  return REAL(close_range)(first, last, flags);
}

/* new_fd shares old_fd's open file, so its flags and kind. */
static void copy_entry(int old_fd, int new_fd) {
  hook_fd *from = corio__hook_fd(old_fd), *to = corio__hook_fd(new_fd);

  if (!from || !to)
    return;
  pthread_mutex_lock(&corio__hook_lock);
  atomic_store(&to->user_nonblock, atomic_load(&from->user_nonblock));
  atomic_store(&to->ours_nonblock, atomic_load(&from->ours_nonblock));
  atomic_store(&to->created, atomic_load(&from->created));
  atomic_store(&to->datagram, atomic_load(&from->datagram));
  atomic_store(&to->recv_timeout_ns, atomic_load(&from->recv_timeout_ns));
  atomic_store(&to->send_timeout_ns, atomic_load(&from->send_timeout_ns));
  atomic_store(&to->kind, atomic_load(&from->kind));
  pthread_mutex_unlock(&corio__hook_lock);
}

int dup(int fd) {
  int copy = REAL(dup)(fd);

  if (copy >= 0)
    copy_entry(fd, copy);
  return copy;
}

int dup3(int old_fd, int new_fd, int flags) {
  int rc;

  /* new_fd is closed by the call only if old_fd is open. */
  if (old_fd != new_fd && REAL(fcntl)(old_fd, F_GETFD) >= 0)
    corio__hook_fd_closing(new_fd);
  rc = REAL(dup3)(old_fd, new_fd, flags);
  if (rc >= 0)
    copy_entry(old_fd, rc);
  return rc;
}

int dup2(int old_fd, int new_fd) {
  int rc;

  if (old_fd == new_fd)
    return REAL(dup2)(old_fd, new_fd);
  if (REAL(fcntl)(old_fd, F_GETFD) >= 0)
    corio__hook_fd_closing(new_fd);
  rc = REAL(dup2)(old_fd, new_fd);
  if (rc >= 0)
    copy_entry(old_fd, rc);
  return rc;
}

/* Whether the kernel's O_NONBLOCK on fd must stay set when its user
 * clears it: the hooks set it, on this number or on another that shares
 * the open file (a dup made before the wait, whose entry cannot know).
 * So: a socket or pipe the hooks created whose flag is set although this
 * number's user never set it. The hooks give it blocking semantics. */
static int hooks_keep_nonblock(int fd, hook_fd *e) {
  unsigned kind;
  int fl;

  if (!e)
    return 0;
  if (atomic_load(&e->ours_nonblock))
    return 1;
  kind = atomic_load(&e->kind);
  if (!atomic_load(&e->created) || atomic_load(&e->user_nonblock) ||
      (kind != HOOK_FD_SOCKET && kind != HOOK_FD_PIPE))
    return 0;
  fl = REAL(fcntl)(fd, F_GETFL);
  return fl >= 0 && (fl & O_NONBLOCK);
}

/* The user set (or cleared) O_NONBLOCK: recorded. keep: the kernel's
 * flag stayed set for the hooks, which now own it. */
static void user_sets_nonblock(int fd, int on, int keep) {
  hook_fd *e = corio__hook_fd(fd);

  if (!e)
    return;
  atomic_store(&e->user_nonblock, on != 0);
  if (on)
    atomic_store(&e->ours_nonblock, 0); /* the user's now */
  else if (keep)
    atomic_store(&e->ours_nonblock, 1);
}

static int hooked_fcntl(int fd, int cmd, long arg) {
  hook_fd *e;
  int rc;

  switch (cmd) {
  case F_GETFL:
    rc = REAL(fcntl)(fd, cmd);
    e = corio__hook_fd_peek(fd);
    if (rc >= 0 && e && atomic_load(&e->ours_nonblock) &&
        !atomic_load(&e->user_nonblock))
      rc &= ~O_NONBLOCK;
    return rc;
  case F_SETFL: {
    /* The kernel first: a failure records nothing. */
    int keep =
        !(arg & O_NONBLOCK) && hooks_keep_nonblock(fd, corio__hook_fd(fd));

    rc = REAL(fcntl)(fd, cmd, keep ? arg | O_NONBLOCK : arg);
    if (rc == 0)
      user_sets_nonblock(fd, (arg & O_NONBLOCK) != 0, keep);
    return rc;
  }
  case F_DUPFD:
  case F_DUPFD_CLOEXEC:
    rc = REAL(fcntl)(fd, cmd, arg);
    if (rc >= 0)
      copy_entry(fd, rc);
    return rc;
  default:
    /* Every other command takes an int, a pointer or nothing; passing a
     * long (the register's full width) hands each its argument. */
    return REAL(fcntl)(fd, cmd, arg);
  }
}

int fcntl(int fd, int cmd, ...) {
  va_list ap;
  long arg;

  va_start(ap, cmd);
  arg = va_arg(ap, long);
  va_end(ap);
  return hooked_fcntl(fd, cmd, arg);
}

/* What glibc's headers call with _FILE_OFFSET_BITS=64. */
int fcntl64(int fd, int cmd, ...) __attribute__((alias("fcntl")));

int ioctl(int fd, unsigned long request, ...) {
  va_list ap;
  void *arg;
  int rc;

  va_start(ap, request);
  arg = va_arg(ap, void *);
  va_end(ap);
  if (request != FIONBIO || !arg)
    return REAL(ioctl)(fd, request, arg);
  {
    int on = *(const int *)arg != 0;
    int keep = !on && hooks_keep_nonblock(fd, corio__hook_fd(fd));
    int kernel_on = on || keep;

    rc = REAL(ioctl)(fd, request, &kernel_on);
    if (rc == 0)
      user_sets_nonblock(fd, on, keep);
  }
  return rc;
}

static int64_t timeval_ns(const struct timeval *tv) {
  if (tv->tv_sec < 0 || tv->tv_usec < 0)
    return 0;
  if (tv->tv_sec > INT64_MAX / 1000000000 - 1)
    return 0; /* effectively forever */
  return (int64_t)tv->tv_sec * 1000000000 + (int64_t)tv->tv_usec * 1000;
}

int setsockopt(int fd, int level, int name, const void *value, socklen_t len) {
  int rc = REAL(setsockopt)(fd, level, name, value, len);
  hook_fd *e;

  if (rc == 0 && level == SOL_SOCKET &&
      (name == SO_RCVTIMEO || name == SO_SNDTIMEO) && value &&
      len >= (socklen_t)sizeof(struct timeval) &&
      (e = corio__hook_fd(fd)) != NULL)
    atomic_store(name == SO_RCVTIMEO ? &e->recv_timeout_ns
                                     : &e->send_timeout_ns,
                 timeval_ns(value));
  return rc;
}
