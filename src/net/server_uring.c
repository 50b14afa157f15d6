/* A server on an io_uring loop: one multishot accept per listener, each
 * CQE a new connection (or an accept error, handled as the readiness
 * path handles it). Ops are cancelled when serving stops; the server's
 * memory stays until their last CQEs (accepts_armed), the listening fds
 * close right after the cancel requests went in. */
#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>

#include "core/alloc.h"
#include "core/compiler.h"
#include "core/fault.h"
#include "core/sys_fd.h"
#include "net/server_internal.h"

#if defined(__linux__) && defined(CORIO_HAVE_IO_URING)

#include <linux/io_uring.h>

static void accept_done(corio__uring_op *op, int res, unsigned flags);

static int wanted(const corio_server *srv) {
  return srv->serving && !srv->closed && !srv->accept_paused;
}

void corio__server_uring_attach(corio_server *srv) {
  corio__uring *ring = corio__loop_uring(srv->loop);

  if (!ring || !(corio__uring_caps(ring) & CORIO__URING_ACCEPT_MULTISHOT))
    return;
  srv->ring = ring;
  for (int i = 0; i < srv->nlisteners; i++)
    srv->listeners[i].accept_op.done = accept_done;
}

static int arm_accept(corio_server *srv, corio__listener *l) {
  int err = 0;
  struct io_uring_sqe *sqe = corio__uring_prep(srv->ring, IORING_OP_ACCEPT,
                                               l->fd, &l->accept_op, &err);

  if (!sqe)
    return err;
  sqe->ioprio = IORING_ACCEPT_MULTISHOT;
  sqe->accept_flags = SOCK_NONBLOCK | SOCK_CLOEXEC;
  l->accept_armed = 1;
  l->accept_cancelled = 0;
  srv->accepts_armed++;
  return 0;
}

int corio__server_uring_serving(corio_server *srv, int on) {
  for (int i = 0; i < srv->nlisteners; i++) {
    corio__listener *l = &srv->listeners[i];
    int rc;

    if (on) {
      /* Still in flight, being cancelled: its last CQE arms it again. */
      if (!l->accept_armed && (rc = arm_accept(srv, l)) < 0) {
        (void)corio__server_uring_serving(srv, 0);
        return rc;
      }
    } else if (l->accept_armed &&
               corio__uring_withdraw(srv->ring, &l->accept_op)) {
      /* Not in the kernel yet: taken back before the fd may close. */
      l->accept_armed = 0;
      l->accept_cancelled = 0;
      srv->accepts_armed--;
    } else if (l->accept_armed && !l->accept_cancelled &&
               corio__uring_cancel(srv->ring, &l->accept_op) == 0) {
      l->accept_cancelled = 1;
    }
  }
  /* Submitted now: the listening fds may close right after. */
  if (!on)
    (void)corio__uring_flush(srv->ring);
  return 0;
}

/* A connection the kernel accepted after serving stopped or paused (the
 * cancellation had not reached it): it cannot go back to the backlog,
 * so it waits here until serving resumes. No room: dropped, as by a full
 * backlog. */
static void hold(corio_server *srv, int fd, int family) {
  if (corio__grow_array((void **)&srv->held, &srv->held_cap, sizeof *srv->held,
                        srv->nheld + 1, 8) < 0) {
    corio__sys_close(fd);
    return;
  }
  srv->held[srv->nheld].fd = fd;
  srv->held[srv->nheld].family = family;
  srv->nheld++;
}

void corio__server_uring_release_held(corio_server *srv, int serve) {
  if (!srv->nheld)
    return;
  if (!serve) {
    for (size_t i = 0; i < srv->nheld; i++)
      corio__sys_close(srv->held[i].fd);
    srv->nheld = 0;
    return;
  }
  /* Handlers start eagerly and may stop serving again, or drop the
   * server: one at a time, the server held. */
  srv->refs++;
  while (srv->nheld && wanted(srv)) {
    corio__held_conn c = srv->held[0];

    memmove(srv->held, srv->held + 1, --srv->nheld * sizeof *srv->held);
    corio__server_start_client(srv, c.fd, c.family);
  }
  corio_server_unref(srv);
}

static void accept_done(corio__uring_op *op, int res, unsigned flags) {
  corio__listener *l = corio__container_of(op, corio__listener, accept_op);
  corio_server *srv = l->server;
  int last = !(flags & IORING_CQE_F_MORE);

  /* The fault seam of the readiness path's accept, so that the same
   * walks run here: the error is what corio__sys_accept injects, and the
   * connection waits for the accepting to resume, as it would in the
   * backlog. */
  if (res >= 0 && corio__fault_hit(CORIO__FAULT_ACCEPT)) {
    hold(srv, res, l->family);
    res = -EMFILE;
  }
  /* Handlers start eagerly in here and may close, stop or drop the
   * server; accepts_armed keeps its memory. */
  if (res >= 0) {
    if (wanted(srv))
      corio__server_start_client(srv, res, l->family);
    else if (!srv->closed)
      hold(srv, res, l->family);
    else
      corio__sys_close(res);
  } else if (res != -ECANCELED && wanted(srv)) {
    (void)corio__server_accept_failed(srv, res);
  }
  if (!last)
    return;
  l->accept_armed = 0;
  l->accept_cancelled = 0;
  srv->accepts_armed--;
  if (wanted(srv) && arm_accept(srv, l) < 0)
    (void)corio__server_accept_failed(srv, -ENOMEM);
  corio__server_maybe_free(srv);
}

#else

void corio__server_uring_attach(corio_server *srv) { (void)srv; }

int corio__server_uring_serving(corio_server *srv, int on) {
  (void)srv, (void)on;
  return -ENOSYS;
}

void corio__server_uring_release_held(corio_server *srv, int serve) {
  (void)srv, (void)serve;
}

#endif
