/* Creating and connecting fds: socket, socketpair, pipe, pipe2, connect,
 * accept, accept4. Every new fd's entry starts over (its number may have
 * been another file's), inside a task or not. */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "hook/hook_internal.h"

int socket(int family, int type, int protocol) {
  int fd;

  if (corio__hook_fault(CORIO__FAULT_SOCKET, EMFILE))
    return -1;
  fd = REAL(socket)(family, type, protocol);

  if (fd >= 0)
    corio__hook_fd_created(fd, HOOK_FD_SOCKET, type & SOCK_NONBLOCK);
  return fd;
}

int socketpair(int family, int type, int protocol, int fds[2]) {
  int rc = REAL(socketpair)(family, type, protocol, fds);

  if (rc == 0) {
    corio__hook_fd_created(fds[0], HOOK_FD_SOCKET, type & SOCK_NONBLOCK);
    corio__hook_fd_created(fds[1], HOOK_FD_SOCKET, type & SOCK_NONBLOCK);
  }
  return rc;
}

int pipe2(int fds[2], int flags) {
  int rc = REAL(pipe2)(fds, flags);

  if (rc == 0) {
    corio__hook_fd_created(fds[0], HOOK_FD_PIPE, flags & O_NONBLOCK);
    corio__hook_fd_created(fds[1], HOOK_FD_PIPE, flags & O_NONBLOCK);
  }
  return rc;
}

int pipe(int fds[2]) {
  int rc = REAL(pipe)(fds);

  if (rc == 0) {
    corio__hook_fd_created(fds[0], HOOK_FD_PIPE, 0);
    corio__hook_fd_created(fds[1], HOOK_FD_PIPE, 0);
  }
  return rc;
}

/* The outcome of a connect that went on in the background. */
static int connect_outcome(int fd) {
  int err = 0;
  socklen_t len = sizeof err;

  if (REAL(getsockopt)(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
    return -1;
  if (err) {
    errno = err;
    return -1;
  }
  return 0;
}

/* Waits a millisecond: the task sleeps, a thread blocks. 0 or -errno. */
static int pause_a_millisecond(corio_task *t) {
  struct timespec ms = {0, 1000000};

  if (t)
    return corio_sleep_ns(1000000);
  return REAL(nanosleep)(&ms, NULL) < 0 ? -errno : 0;
}

int connect(int fd, const struct sockaddr *addr, socklen_t len) {
  corio_task *t;
  hook_fd *e = corio__hook_fd_blocking(fd, &t);
  int64_t deadline;
  int rc;

  if (!e)
    return REAL(connect)(fd, addr, len);
  if (corio__hook_fault(CORIO__FAULT_CONNECT, ECONNREFUSED))
    return -1;
  /* A socket being connected is this process's own, even one first seen
   * here: without O_NONBLOCK the real connect would block the thread. */
  if (t && corio__hook_fd_make_nonblocking(fd, e) < 0)
    return REAL(connect)(fd, addr, len);
  deadline = corio__hook_deadline_for(t, e, HOOK_OUT);
  while (REAL(connect)(fd, addr, len) < 0) {
    if (errno == EINPROGRESS) {
      /* A blocking connect waits up to SO_SNDTIMEO, then says
       * EINPROGRESS. */
      rc = corio__hook_wait(t, fd, e, HOOK_OUT, deadline);
      if (rc == -EAGAIN)
        rc = -EINPROGRESS;
      if (rc < 0)
        return corio__hook_fail(t, rc);
      return connect_outcome(fd);
    }
    if (errno != EAGAIN)
      return -1;
    /* A Unix listener's full backlog: nothing has started, and no event
     * says when there is room. The kernel's blocking connect waits and
     * tries again (EAGAIN at SO_SNDTIMEO); so does this, every
     * millisecond. */
    if (deadline != HOOK_NO_DEADLINE && corio__hook_deadline(t, 1) > deadline)
      return -1;
    if ((rc = pause_a_millisecond(t)) < 0)
      return corio__hook_fail(t, rc);
  }
  return 0;
}

/* Linux copies SO_RCVTIMEO / SO_SNDTIMEO from a listener to the sockets
 * it accepts: from the listener's entry when the hooks know it, else from
 * the kernel. */
static void inherit_timeouts(int listener, int conn) {
  hook_fd *from = corio__hook_fd(listener), *to = corio__hook_fd(conn);

  if (!to)
    return;
  if (!from || atomic_load(&from->kind) == HOOK_FD_UNKNOWN) {
    corio__hook_fd_read_timeouts(conn, to);
    return;
  }
  atomic_store(&to->recv_timeout_ns, atomic_load(&from->recv_timeout_ns));
  atomic_store(&to->send_timeout_ns, atomic_load(&from->send_timeout_ns));
}

int accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags) {
  corio_task *t;
  hook_fd *e = corio__hook_fd_blocking(fd, &t);
  int64_t deadline = -1;
  int c, rc;

  /* An inherited listener (socket activation) keeps its flags: the task
   * waits until it is readable, then accepts. */
  int foreign = t && e && !atomic_load(&e->ours_nonblock);

  if (e && corio__hook_fault(CORIO__FAULT_ACCEPT, EMFILE))
    return -1;
  for (;;) {
    if (foreign) {
      struct pollfd p = {.fd = fd, .events = POLLIN};

      if (REAL(poll)(&p, 1, 0) == 0) {
        if (deadline < 0)
          deadline = corio__hook_deadline_for(t, e, HOOK_IN);
        if ((rc = corio__hook_wait(t, fd, e, HOOK_IN, deadline)) < 0)
          return corio__hook_fail(t, rc);
        continue;
      }
    }
    c = REAL(accept4)(fd, addr, len, flags);
    if (c >= 0) {
      corio__hook_fd_created(c, HOOK_FD_SOCKET, flags & SOCK_NONBLOCK);
      inherit_timeouts(fd, c);
      return c;
    }
    if (!e || (errno != EAGAIN && errno != EWOULDBLOCK))
      return -1;
    if (deadline < 0)
      deadline = corio__hook_deadline_for(t, e, HOOK_IN);
    if ((rc = corio__hook_wait(t, fd, e, HOOK_IN, deadline)) < 0)
      return corio__hook_fail(t, rc);
  }
}

int accept(int fd, struct sockaddr *addr, socklen_t *len) {
  return accept4(fd, addr, len, 0);
}
