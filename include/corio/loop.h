/* The event loop: ready queue, timers, fd readiness, cross-thread wake-ups
 * and signals, with asyncio's semantics. See docs/loop.md. */
#ifndef CORIO_LOOP_H
#define CORIO_LOOP_H

#include <stdint.h>

#include "corio/error.h"
#include "corio/export.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct corio_loop corio_loop;
typedef struct corio_handle corio_handle;

/* A callback. Returning a negative code reports an error to the loop's
 * exception handler (the C form of a callback raising); the loop goes on. */
typedef int (*corio_callback)(void *arg);

/* ---- life cycle ---------------------------------------------------------- */

/* Creates a loop (reference count 1). The backend is epoll, or what the
 * environment names: CORIO_POLLER=poll, =epoll or =io_uring (falling back
 * to epoll where the kernel refuses io_uring). CORIO_DEBUG=1 turns debug
 * mode on. Errors: -EINVAL (NULL), -ENOMEM, a syscall's -errno. */
CORIO_API int corio_loop_create(corio_loop **out);

/* The I/O backend of a loop (docs/loop.md, "Backends"). */
typedef enum corio_loop_backend {
  CORIO_LOOP_BACKEND_DEFAULT = 0, /* CORIO_POLLER's choice, else epoll */
  CORIO_LOOP_BACKEND_EPOLL,
  CORIO_LOOP_BACKEND_POLL,
  CORIO_LOOP_BACKEND_IO_URING,
} corio_loop_backend;

/* corio_loop_options.flags: fail rather than fall back to epoll when the
 * backend asked for cannot be set up (the kernel's error comes back:
 * -ENOSYS or -EPERM where io_uring is missing or forbidden, -EOPNOTSUPP
 * where it lacks what corio needs, as before Linux 5.11). */
#define CORIO_LOOP_NO_FALLBACK 1u

typedef struct corio_loop_options {
  corio_loop_backend backend;
  unsigned flags;
} corio_loop_options;

/* corio_loop_create with options (NULL: the defaults). -EINVAL for an
 * unknown backend or flag. */
CORIO_API int corio_loop_create_with(corio_loop **out,
                                     const corio_loop_options *options);

/* "epoll", "poll" or "io_uring": the backend the loop runs on (after any
 * fall back); NULL for NULL. */
CORIO_API const char *corio_loop_backend_name(const corio_loop *loop);

/* Reference counting: the loop's memory goes when the last reference does;
 * the last unref of a loop not closed yet closes it first. */
CORIO_API corio_loop *corio_loop_ref(corio_loop *loop);
CORIO_API void corio_loop_unref(corio_loop *loop);

/* Runs until corio_loop_stop(). Returns 0 once stopped, -EINVAL (NULL),
 * CORIO_ELOOPCLOSED, CORIO_ELOOPRUNNING (this loop, or another loop on this
 * thread, is running), or the poller's error if waiting for I/O failed
 * (after finishing that iteration; the loop can be run again). */
CORIO_API int corio_loop_run_forever(corio_loop *loop);

/* Asks the loop to stop: the current iteration finishes (callbacks already
 * ready run), then run_forever returns. Before run_forever, the next run
 * does one iteration and returns, as in asyncio. */
CORIO_API int corio_loop_stop(corio_loop *loop);
/* corio_loop_stop as a callback, for `call_soon_threadsafe(loop,
 * corio_loop_stop_cb, loop)` and timers: arg is the loop. */
CORIO_API int corio_loop_stop_cb(void *loop);

/* Releases the poller, the wake-up fd and signal handlers; callbacks still
 * scheduled are dropped. Refused while running (CORIO_ELOOPRUNNING);
 * closing a closed loop does nothing (0). */
CORIO_API int corio_loop_close(corio_loop *loop);

CORIO_API int corio_loop_is_running(const corio_loop *loop);
CORIO_API int corio_loop_is_closed(const corio_loop *loop);

/* The loop running on this thread, or NULL. */
CORIO_API corio_loop *corio_loop_running(void);
/* The thread's current loop: the running one, else the one set with
 * corio_loop_set_current (not referenced by the thread), else NULL. */
CORIO_API corio_loop *corio_loop_current(void);
CORIO_API void corio_loop_set_current(corio_loop *loop);

/* ---- clock --------------------------------------------------------------- */

/* The loop's clock: CLOCK_MONOTONIC, in seconds and in nanoseconds. */
CORIO_API double corio_loop_time(const corio_loop *loop);
CORIO_API int64_t corio_loop_time_ns(const corio_loop *loop);

/* ---- callbacks and timers ------------------------------------------------ */

/* Schedules cb(arg) for the next iteration, in FIFO order. If handle is
 * not NULL it receives a reference to a handle that can cancel the call
 * (release it with corio_handle_unref). Errors: -EINVAL (NULL loop or cb),
 * CORIO_ELOOPCLOSED, -ENOMEM. */
CORIO_API int corio_loop_call_soon(corio_loop *loop, corio_callback cb,
                                   void *arg, corio_handle **handle);

/* cb(arg) after delay seconds, or at the loop time `when`. Equal deadlines
 * run in the order they were scheduled. Errors as call_soon, and -EINVAL
 * for a negative, NaN or infinite delay or time. */
CORIO_API int corio_loop_call_later(corio_loop *loop, double delay,
                                    corio_callback cb, void *arg,
                                    corio_handle **handle);
CORIO_API int corio_loop_call_at(corio_loop *loop, double when,
                                 corio_callback cb, void *arg,
                                 corio_handle **handle);
/* The same with nanoseconds: a delay >= 0, or a time on corio_loop_time_ns. */
CORIO_API int corio_loop_call_later_ns(corio_loop *loop, int64_t delay_ns,
                                       corio_callback cb, void *arg,
                                       corio_handle **handle);
CORIO_API int corio_loop_call_at_ns(corio_loop *loop, int64_t when_ns,
                                    corio_callback cb, void *arg,
                                    corio_handle **handle);

/* From any thread: schedules cb(arg) on the loop and wakes it if it is
 * waiting in the poller. Errors: -EINVAL, CORIO_ELOOPCLOSED (also when
 * the loop is closing concurrently), -ENOMEM. */
CORIO_API int corio_loop_call_soon_threadsafe(corio_loop *loop,
                                              corio_callback cb, void *arg);

/* Cancels the call: it will not run. Cancelling twice, or after it ran, is
 * harmless. Loop thread only. */
CORIO_API void corio_handle_cancel(corio_handle *handle);
CORIO_API int corio_handle_cancelled(const corio_handle *handle);
/* The loop time (seconds) of a timer handle; 0 for a call_soon handle. */
CORIO_API double corio_handle_when(const corio_handle *handle);
/* The same in nanoseconds on corio_loop_time_ns, exact. */
CORIO_API int64_t corio_handle_when_ns(const corio_handle *handle);
/* A handle reference keeps the handle's memory (part of its loop's) but
 * not the loop open: the loop's last reference closes it all the same. An
 * unref without a matching reference is ignored. */
CORIO_API corio_handle *corio_handle_ref(corio_handle *handle);
CORIO_API void corio_handle_unref(corio_handle *handle);

/* ---- file descriptors ---------------------------------------------------- */

/* Runs cb(arg) in every iteration while fd is readable (writable), until
 * removed; adding again replaces the callback. A callback may remove its
 * own watcher. Errors: -EINVAL (NULL, fd < 0, the loop's own fds), -EBADF
 * (not an open fd), -EPERM (a regular file or directory: always ready,
 * so never watched, with either poller), CORIO_ELOOPCLOSED, -ENOMEM. */
CORIO_API int corio_loop_add_reader(corio_loop *loop, int fd, corio_callback cb,
                                    void *arg);
CORIO_API int corio_loop_add_writer(corio_loop *loop, int fd, corio_callback cb,
                                    void *arg);
/* Returns 1 if a watcher was removed, 0 if there was none; negative on
 * bad input. Remove before closing the fd. */
CORIO_API int corio_loop_remove_reader(corio_loop *loop, int fd);
CORIO_API int corio_loop_remove_writer(corio_loop *loop, int fd);

/* ---- signals ------------------------------------------------------------- */

/* Runs cb(arg) on the loop's thread, as an ordinary callback, each time
 * signal signum arrives; adding again replaces it. The previous disposition
 * comes back on removal and on close. One loop per signal at a time.
 * Errors: -EINVAL (bad or uncatchable signal: SIGKILL, SIGSTOP), -EBUSY
 * (another loop handles it), CORIO_ELOOPCLOSED, a syscall's -errno. */
CORIO_API int corio_loop_add_signal_handler(corio_loop *loop, int signum,
                                            corio_callback cb, void *arg);
/* Returns 1 if a handler was removed, 0 if there was none. */
CORIO_API int corio_loop_remove_signal_handler(corio_loop *loop, int signum);

/* ---- errors from callbacks ----------------------------------------------- */

/* What the exception handler is told, as asyncio's context dict; valid
 * during the call only. Fields that do not apply are 0/NULL. */
typedef struct corio_loop_error {
  /* asyncio's text: "Exception in callback", "Task exception was never
   * retrieved", "Future exception was never retrieved", "Task was
   * destroyed but it is pending!", ... */
  const char *message;
  int error;                 /* the negative code, 0 if none */
  const char *error_message; /* the error's own message (corio_fail,
                                corio_future_set_error), if any */
  corio_callback callback;   /* the callback that failed, if any */
  void *callback_arg;
  struct corio_future *future; /* the future concerned (a task's own) */
  struct corio_task *task;     /* the task concerned */
  const char *task_name;       /* its name ("Task-3") */
} corio_loop_error;

typedef void (*corio_exception_handler)(corio_loop *loop,
                                        const corio_loop_error *error,
                                        void *arg);

/* NULL restores the default, which logs to stderr. */
CORIO_API void corio_loop_set_exception_handler(corio_loop *loop,
                                                corio_exception_handler h,
                                                void *arg);
CORIO_API corio_exception_handler
corio_loop_get_exception_handler(const corio_loop *loop, void **arg);
CORIO_API void corio_loop_default_exception_handler(corio_loop *loop,
                                                    const corio_loop_error *e,
                                                    void *arg);
/* Reports an error through the loop's handler, as a failing callback
 * does. */
CORIO_API void corio_loop_call_exception_handler(corio_loop *loop,
                                                 const corio_loop_error *e);

/* ---- debug mode ---------------------------------------------------------- */

/* Debug mode warns (through the exception handler) about callbacks that
 * run longer than the slow-callback threshold (default 0.1 s), and refuses
 * calls from a thread other than the one running the loop (CORIO_ETHREAD). */
CORIO_API void corio_loop_set_debug(corio_loop *loop, int enabled);
CORIO_API int corio_loop_get_debug(const corio_loop *loop);
CORIO_API int corio_loop_set_slow_callback_duration(corio_loop *loop,
                                                    double seconds);
CORIO_API double corio_loop_get_slow_callback_duration(const corio_loop *loop);

#ifdef __cplusplus
}
#endif
#endif
