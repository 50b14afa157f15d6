/* The hooks' state per fd: a dense table indexed by fd number, in chunks
 * allocated on first use that never move, so the hot path (a read on a
 * ready socket) finds its entry with two loads and no lock. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/time.h>

#include "core/raw.h"
#include "hook/hook_internal.h"

#define CHUNK_BITS 10
#define CHUNK_SIZE (1u << CHUNK_BITS)
#define MAX_CHUNKS 4096 /* fds below 4M */

static _Atomic(hook_fd *) chunks[MAX_CHUNKS];
pthread_mutex_t corio__hook_lock = PTHREAD_MUTEX_INITIALIZER;

hook_fd *corio__hook_fd_peek(int fd) {
  unsigned i = (unsigned)fd >> CHUNK_BITS;
  hook_fd *chunk;

  if (fd < 0 || i >= MAX_CHUNKS)
    return NULL;
  chunk = atomic_load_explicit(&chunks[i], memory_order_acquire);
  return chunk ? &chunk[(unsigned)fd & (CHUNK_SIZE - 1)] : NULL;
}

hook_fd *corio__hook_fd(int fd) {
  unsigned i = (unsigned)fd >> CHUNK_BITS;
  hook_fd *chunk, *fresh, *e = corio__hook_fd_peek(fd);

  if (e || fd < 0 || i >= MAX_CHUNKS)
    return e;
  /* calloc is not hooked; the table lives as long as the process. */
  if (!(fresh = calloc(CHUNK_SIZE, sizeof *fresh)))
    return NULL;
  for (unsigned j = 0; j < CHUNK_SIZE; j++)
    fresh[j].fd = (int)((i << CHUNK_BITS) | j);
  chunk = NULL;
  if (!atomic_compare_exchange_strong(&chunks[i], &chunk, fresh))
    free(fresh); /* another thread won; chunk is theirs */
  else
    chunk = fresh;
  return &chunk[(unsigned)fd & (CHUNK_SIZE - 1)];
}

int corio__hook_fd_number(const hook_fd *e) { return e->fd; }

static enum hook_fd_kind kind_of_mode(mode_t mode) {
  switch (mode & S_IFMT) {
  case S_IFSOCK:
    return HOOK_FD_SOCKET;
  case S_IFIFO:
    return HOOK_FD_PIPE;
  case S_IFREG:
  case S_IFDIR:
  case S_IFBLK:
    return HOOK_FD_PASS; /* always "ready": waiting means nothing */
  default:
    return HOOK_FD_OTHER; /* tty, eventfd, timerfd, epoll... */
  }
}

/* SO_RCVTIMEO or SO_SNDTIMEO as the kernel has it, in ns (0: none). */
static int64_t kernel_timeout_ns(int fd, int name) {
  struct timeval tv = {0, 0};
  socklen_t len = sizeof tv;

  if (corio__raw_getsockopt(fd, SOL_SOCKET, name, &tv, &len) < 0 ||
      tv.tv_sec < 0 || tv.tv_usec < 0)
    return 0;
  return (int64_t)tv.tv_sec * 1000000000 + (int64_t)tv.tv_usec * 1000;
}

void corio__hook_fd_read_timeouts(int fd, hook_fd *e) {
  atomic_store(&e->recv_timeout_ns, kernel_timeout_ns(fd, SO_RCVTIMEO));
  atomic_store(&e->send_timeout_ns, kernel_timeout_ns(fd, SO_SNDTIMEO));
}

static int is_datagram(int fd, mode_t mode) {
  int type = 0;
  socklen_t len = sizeof type;

  return S_ISSOCK(mode) &&
         corio__raw_getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0 &&
         type != SOCK_STREAM;
}

/* First sight of an fd the hooks did not create (inherited, opened by
 * open(), made by a library): what it is and what the user set. */
static void classify(int fd, hook_fd *e) {
  struct stat st;
  int fl;

  pthread_mutex_lock(&corio__hook_lock);
  if (atomic_load_explicit(&e->kind, memory_order_relaxed) == HOOK_FD_UNKNOWN) {
    if (syscall(SYS_fstat, fd, &st) < 0 ||
        (fl = corio__raw_fcntl(fd, F_GETFL, 0)) < 0) {
      pthread_mutex_unlock(&corio__hook_lock);
      return; /* not open: the real call will say EBADF */
    }
    atomic_store(&e->user_nonblock, (fl & O_NONBLOCK) != 0);
    atomic_store(&e->ours_nonblock, 0);
    atomic_store(&e->created, 0);
    atomic_store(&e->datagram, is_datagram(fd, st.st_mode));
    /* Not the timeouts of the file that had this number before: an
     * inherited socket's are the kernel's, anything else has none. */
    if (S_ISSOCK(st.st_mode)) {
      corio__hook_fd_read_timeouts(fd, e);
    } else {
      atomic_store(&e->recv_timeout_ns, 0);
      atomic_store(&e->send_timeout_ns, 0);
    }
    atomic_store(&e->kind, kind_of_mode(st.st_mode));
  }
  pthread_mutex_unlock(&corio__hook_lock);
}

hook_fd *corio__hook_fd_waitable(int fd) {
  hook_fd *e = corio__hook_fd(fd);
  unsigned kind;

  if (!e)
    return NULL;
  kind = atomic_load_explicit(&e->kind, memory_order_relaxed);
  if (kind == HOOK_FD_UNKNOWN) {
    classify(fd, e);
    kind = atomic_load_explicit(&e->kind, memory_order_relaxed);
  }
  if (kind == HOOK_FD_UNKNOWN || kind == HOOK_FD_PASS ||
      atomic_load_explicit(&e->user_nonblock, memory_order_relaxed))
    return NULL;
  return e;
}

void corio__hook_fd_created(int fd, enum hook_fd_kind kind, int nonblock) {
  hook_fd *e = corio__hook_fd(fd);

  if (!e)
    return;
  pthread_mutex_lock(&corio__hook_lock);
  /* A new file at this number: a watch kept for the old one is stale. */
  atomic_fetch_add(&e->gen, 1);
  atomic_store(&e->datagram,
               kind == HOOK_FD_SOCKET && is_datagram(fd, S_IFSOCK));
  atomic_store(&e->user_nonblock, nonblock != 0);
  atomic_store(&e->ours_nonblock, 0);
  atomic_store(&e->created, 1);
  atomic_store(&e->recv_timeout_ns, 0);
  atomic_store(&e->send_timeout_ns, 0);
  atomic_store(&e->kind, kind);
  pthread_mutex_unlock(&corio__hook_lock);
}

int corio__hook_fd_make_nonblocking(int fd, hook_fd *e) {
  int fl;

  if (atomic_load_explicit(&e->ours_nonblock, memory_order_relaxed))
    return 0;
  fl = corio__raw_fcntl(fd, F_GETFL, 0);
  if (fl < 0)
    return -errno;
  if (!(fl & O_NONBLOCK) &&
      corio__raw_fcntl(fd, F_SETFL, (long)(fl | O_NONBLOCK)) < 0)
    return -errno;
  atomic_store(&e->ours_nonblock, 1);
  return 0;
}

hook_fd *corio__hook_fd_prepare(int fd) {
  hook_fd *e = corio__hook_fd_waitable(fd);
  unsigned kind;

  if (!e)
    return NULL;
  kind = atomic_load_explicit(&e->kind, memory_order_relaxed);
  /* A tty or other device may be shared with other processes (the
   * shell's terminal): its flags stay as they are, and the hooks wait for
   * readiness before the real call instead. */
  if ((kind == HOOK_FD_SOCKET || kind == HOOK_FD_PIPE) &&
      atomic_load_explicit(&e->created, memory_order_relaxed) &&
      corio__hook_fd_make_nonblocking(fd, e) < 0)
    return NULL;
  return e;
}

hook_fd *corio__hook_fd_blocking(int fd, corio_task **task) {
  hook_fd *e;

  if ((*task = corio__hook_task()) != NULL)
    return corio__hook_fd_prepare(fd);
  /* Outside a task: a socket or pipe the user wants blocking may be
   * non-blocking underneath (made so by a task's wait, perhaps through a
   * dup that shares the open file): the call is tried, and on EAGAIN the
   * thread waits in the real poll, as the kernel would have. A truly
   * blocking fd just blocks in the call: nothing more is done. */
  e = corio__hook_fd_peek(fd);
  if (!e || atomic_load_explicit(&e->user_nonblock, memory_order_relaxed))
    return NULL;
  switch (atomic_load_explicit(&e->kind, memory_order_relaxed)) {
  case HOOK_FD_SOCKET:
  case HOOK_FD_PIPE:
    return e;
  default:
    return NULL;
  }
}

void corio__hook_fd_closing_range(unsigned first, unsigned last) {
  for (unsigned i = first >> CHUNK_BITS;
       i < MAX_CHUNKS && i <= last >> CHUNK_BITS; i++) {
    hook_fd *chunk = atomic_load_explicit(&chunks[i], memory_order_acquire);

    if (!chunk)
      continue;
    for (unsigned j = 0; j < CHUNK_SIZE; j++) {
      unsigned fd = (i << CHUNK_BITS) | j;

      if (fd < first || fd > last || fd > INT_MAX)
        continue;
      if (atomic_load_explicit(&chunk[j].kind, memory_order_relaxed) !=
              HOOK_FD_UNKNOWN ||
          chunk[j].loop)
        corio__hook_fd_closing((int)fd);
    }
  }
}
