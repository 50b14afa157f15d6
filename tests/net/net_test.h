/* Helpers shared by the net tests: a stream over one end of a socketpair
 * whose other end the test drives with plain syscalls, so every byte,
 * EOF and reset arrives exactly when the test says; counting open fds for
 * leak checks. */
#ifndef CORIO_NET_TEST_H
#define CORIO_NET_TEST_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../task/task_check.h"
#include "corio/net.h"
#include "corio/task.h"

/* A stream on one end of a Unix socketpair; *peer gets the other end
 * (blocking, for the test to write to and read from). */
static inline int stream_pair(corio_stream **s, int *peer) {
  int sv[2], rc;

  *s = NULL;
  *peer = -1;
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
    return -errno;
  rc = corio_stream_open_fd(NULL, sv[0], NULL, s);
  if (rc < 0) {
    close(sv[1]);
    return rc;
  }
  *peer = sv[1];
  return 0;
}

static inline void peer_send(int peer, const char *text) {
  size_t len = strlen(text), done = 0;

  while (done < len) {
    ssize_t n = write(peer, text + done, len - done);
    if (n <= 0)
      return;
    done += (size_t)n;
  }
}

/* Lets the loop run n iterations (each readiness event reads once). */
static inline int yield_n(int n) {
  for (int i = 0; i < n; i++) {
    int rc = corio_sleep(0);
    if (rc < 0)
      return rc;
  }
  return 0;
}

/* Waits until the stream has buffered at least n bytes or its read side
 * ended, without consuming: deterministic, no timing. */
static inline int wait_buffered(corio_stream *s, size_t n) {
  const void *data;
  size_t len = 0, got;
  int rc;

  for (;;) {
    if ((rc = corio_stream_peek(s, len, &data, &got)) < 0)
      return rc;
    if (got >= n || got == len)
      return 0;
    len = got;
  }
}

/* Entries of a /proc directory (fds, threads), or -1. */
static inline int count_entries(const char *path) {
  DIR *d = opendir(path);
  struct dirent *e;
  int n = 0;

  if (!d)
    return -1;
  while ((e = readdir(d)))
    if (e->d_name[0] != '.')
      n++;
  closedir(d);
  return n;
}

static inline int open_fds(void) {
  return count_entries("/proc/self/fd") - 1; /* the directory's own */
}

#endif
