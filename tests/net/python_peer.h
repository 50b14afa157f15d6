/* A python3 child for the net tests that use Python as an independent
 * peer: started with `python3 -c script [arg]`, its stdout a corio stream
 * (where the script prints its port and its verdict), waited for on a
 * pool thread so the loop goes on. */
#ifndef CORIO_TESTS_NET_PYTHON_PEER_H
#define CORIO_TESTS_NET_PYTHON_PEER_H

#include <spawn.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/wait.h>

#include "corio/thread.h"
#include "net_test.h"

extern char **environ;

struct python {
  pid_t pid;
  corio_stream *out; /* its stdout */
};

/* Starts python3 -c script [arg] with its stdout on a pipe. */
static inline int python_start(struct python *py, const char *script,
                               const char *arg) {
  char name[] = "python3", flag[] = "-c";
  char *code = strdup(script), *extra = arg ? strdup(arg) : NULL;
  char *argv[] = {name, flag, code, extra, NULL};
  posix_spawn_file_actions_t fa;
  int fds[2], rc;

  if (!code || pipe2(fds, O_CLOEXEC) != 0) {
    free(code);
    free(extra);
    return -ENOMEM;
  }
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
  rc = posix_spawnp(&py->pid, "python3", &fa, NULL, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  free(code);
  free(extra);
  close(fds[1]);
  if (rc != 0) {
    close(fds[0]);
    return -rc;
  }
  return corio_stream_open_fd(NULL, fds[0], NULL, &py->out);
}

static inline int python_wait_child(void *arg, void **result) {
  struct python *py = arg;
  int status;

  while (waitpid(py->pid, &status, 0) < 0)
    if (errno != EINTR)
      return -errno;
  *result = (void *)(intptr_t)status;
  return 0;
}

/* Waits for the child on a pool thread (the loop goes on), drops its
 * stdout and returns its exit status. */
static inline int python_wait(struct python *py) {
  void *status = NULL;
  int rc = corio_to_thread(python_wait_child, py, &status);

  corio_stream_unref(py->out);
  return rc < 0 ? rc : (int)(intptr_t)status;
}

static inline int have_python(void) {
  return system("python3 -c 'import asyncio' >/dev/null 2>&1") == 0;
}

#endif
