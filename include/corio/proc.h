/* Subprocesses: asyncio.subprocess for C. See docs/proc.md.
 *
 * A child is started with posix_spawn (no fork), watched through a pidfd
 * registered in the spawning loop (no SIGCHLD handler, never
 * waitpid(-1)), and reaped by corio as soon as it exits, so no child of
 * corio's ever stays a zombie. Its pipes are corio streams: stdin a write
 * stream, stdout and stderr read streams, with the stream API of net.h.
 *
 * Every call that may suspend must run in a task; it returns 0, a negative
 * errno, -ECANCELED, or one of corio's codes. Where a failure has more to
 * say (which program could not be run) the message goes with the calling
 * task's error (corio_fail_message). */
#ifndef CORIO_PROC_H
#define CORIO_PROC_H

#include <stddef.h>
#include <sys/types.h>

#include "corio/export.h"
#include "corio/loop.h"
#include "corio/net.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct corio_process corio_process;

/* What one of the child's fds 0, 1, 2 is connected to. */
enum corio_proc_stdio_mode {
  CORIO_PROC_INHERIT = 0, /* the parent's own fd (asyncio's None) */
  CORIO_PROC_PIPE,        /* a pipe to the parent, as a corio stream */
  CORIO_PROC_DEVNULL,     /* /dev/null */
  CORIO_PROC_FD,          /* the fd given in corio_proc_stdio.fd */
  CORIO_PROC_STDOUT       /* stderr only: wherever stdout goes */
};

typedef struct corio_proc_stdio {
  int mode; /* enum corio_proc_stdio_mode */
  int fd;   /* with CORIO_PROC_FD: the parent's fd (not taken over) */
} corio_proc_stdio;

/* Flags of corio_proc_options. */
enum {
  /* env adds to (and overrides) the parent's environment instead of
   * replacing it; an entry "NAME" without '=' removes NAME. */
  CORIO_PROC_ENV_EXTEND = 1 << 0,
  CORIO_PROC_NEW_SESSION = 1 << 1,       /* setsid() (start_new_session) */
  CORIO_PROC_NEW_PROCESS_GROUP = 1 << 2, /* setpgid(0, 0) (process_group=0) */
  CORIO_PROC_KEEP_FDS = 1 << 3,          /* close_fds=False */
  CORIO_PROC_SET_UMASK = 1 << 4          /* apply options.umask */
};

/* Zeroed options are asyncio's defaults: every stdio inherited, the
 * parent's cwd and environment, every fd above 2 closed in the child. */
typedef struct corio_proc_options {
  /* Indexed by the child's fd: stdio[0] is stdin, [1] stdout, [2] stderr. */
  corio_proc_stdio stdio[3];
  /* The program to run instead of argv[0] (Popen's executable); argv[0]
   * is then only the name the child sees. */
  const char *executable;
  const char *cwd;        /* NULL: the parent's */
  const char *const *env; /* NULL-terminated "NAME=value"s; NULL: inherit */
  unsigned flags;
  mode_t umask;        /* with CORIO_PROC_SET_UMASK */
  const int *pass_fds; /* fds (each >= 3) the child keeps, same numbers */
  size_t npass_fds;
  size_t limit; /* the read limit of the stdout/stderr streams;
                   0: CORIO_STREAM_DEFAULT_LIMIT */
} corio_proc_options;

/* asyncio.create_subprocess_exec(*argv): runs argv[0] with the
 * NULL-terminated argv, no shell. A program without '/' is searched in
 * the PATH of the child's environment, as Popen does. Does not
 * suspend, but must be called in a task (or on the loop's thread: it uses
 * the current loop). Errors:
 * - -EINVAL: NULL argv or out, an empty argv, a bad stdio mode, an fd < 0
 *   with CORIO_PROC_FD, STDOUT for other than stderr, a pass_fds entry
 *   below 3;
 * - -EBADF: a CORIO_PROC_FD fd or a pass_fds entry that is not open;
 * - -ENOENT, -EACCES, -ENOEXEC...: the program could not be run (message:
 *   the path and the reason), -ENOTDIR/-ENOENT for a bad cwd;
 * - -EMFILE, -ENOMEM, -EAGAIN, CORIO_ENOLOOP.
 * Nothing is left behind on failure: no pipe, no child. */
CORIO_API int corio_create_subprocess_exec(const char *const *argv,
                                           const corio_proc_options *options,
                                           corio_process **out);
/* asyncio.create_subprocess_shell(cmd): /bin/sh -c cmd. */
CORIO_API int corio_create_subprocess_shell(const char *cmd,
                                            const corio_proc_options *options,
                                            corio_process **out);

CORIO_API corio_process *corio_process_ref(corio_process *p);
/* Drops a reference. With the last one the pipes are closed (what was
 * written to stdin is still sent), but a child still running is not
 * killed: corio keeps watching it and reaps it when it exits. When the
 * loop closes, children still running are reported to its exception
 * handler, killed (SIGKILL) and reaped, as asyncio's transports do. */
CORIO_API void corio_process_unref(corio_process *p);

CORIO_API pid_t corio_process_pid(const corio_process *p);
/* asyncio's returncode: 1 with *code set once the child has exited (its
 * exit status, or minus the number of the signal that killed it); 0 while
 * it runs. */
CORIO_API int corio_process_returncode(const corio_process *p, int *code);

/* The pipes (borrowed: the process holds them; NULL where the stdio was
 * not CORIO_PROC_PIPE). stdin is a write-only stream (corio_stream_close
 * sends EOF to the child), stdout and stderr read-only. */
CORIO_API corio_stream *corio_process_stdin(const corio_process *p);
CORIO_API corio_stream *corio_process_stdout(const corio_process *p);
CORIO_API corio_stream *corio_process_stderr(const corio_process *p);

/* Waits for the child to exit; *code (may be NULL) gets the returncode.
 * Several tasks may wait at once. Cancelled: the child keeps running and
 * stays owned (-ECANCELED). As asyncio warns: with stdout/stderr piped and
 * nobody reading them, a child writing a lot blocks on a full pipe and
 * never exits; use communicate. */
CORIO_API int corio_process_wait(corio_process *p, int *code);

/* Bytes collected by communicate; data is NUL-terminated (not counted in
 * len) and freed with corio_proc_output_free. */
typedef struct corio_proc_output {
  char *data;
  size_t len;
  size_t _size; /* corio's: the allocation's size */
} corio_proc_output;
CORIO_API void corio_proc_output_free(corio_proc_output *o);

/* asyncio's communicate(input): writes input (len bytes; none with NULL)
 * to stdin and closes it, reads stdout and stderr to EOF, all at once so
 * that neither side can block the other, then waits for the exit. out and
 * err (may be NULL when the stream is not piped; their bytes are then
 * discarded) are filled on success; *code as wait's. A child that closes
 * its stdin early (EPIPE) is not an error, as in asyncio. Errors: -EINVAL
 * (input for a child without a stdin pipe), -ECANCELED (what was read so
 * far is dropped, stdin stays open; the child keeps running and stays
 * owned), -ENOMEM, the streams' errors. */
CORIO_API int corio_process_communicate(corio_process *p, const void *input,
                                        size_t len, corio_proc_output *out,
                                        corio_proc_output *err, int *code);

/* Signals the child through its pidfd (without pidfds: by pid, under the
 * lock the watcher reaps with), so that a recycled pid is never hit.
 * After the child was reaped: -ESRCH (ProcessLookupError). */
CORIO_API int corio_process_send_signal(corio_process *p, int sig);
CORIO_API int corio_process_terminate(corio_process *p); /* SIGTERM */
CORIO_API int corio_process_kill(corio_process *p);      /* SIGKILL */

#ifdef __cplusplus
}
#endif

#endif
