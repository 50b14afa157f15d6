/* corio error codes: 0 is success, a negative errno is a system error, and
 * corio's own conditions are negative codes in a range of their own
 * (-4000 .. -4099) so they never collide with errno values. */
#ifndef CORIO_ERROR_H
#define CORIO_ERROR_H

#include "corio/export.h"

#ifdef __cplusplus
extern "C" {
#endif

/* X(name, value, message) — one table generates the enum, the names and
 * the messages, so a code can never lack a description. */
#define CORIO_ERROR_MAP(X)                                                     \
  X(CORIO_EDEAD, -4000, "coroutine has finished")                              \
  X(CORIO_ERUNNING, -4001,                                                     \
    "coroutine is running or waiting on one it resumed")                       \
  X(CORIO_ENOTCORO, -4002, "not called from inside a coroutine")               \
  X(CORIO_ETHREAD, -4003, "object belongs to another thread")                  \
  X(CORIO_ECLOSED, -4004, "coroutine is being closed")                         \
  X(CORIO_ECLOSEIGNORED, -4005,                                                \
    "coroutine yielded instead of finishing on close")                         \
  X(CORIO_ELOOPCLOSED, -4010, "event loop is closed")                          \
  X(CORIO_ELOOPRUNNING, -4011, "an event loop is already running")             \
  X(CORIO_ENOLOOP, -4012, "no current event loop")                             \
  X(CORIO_ELOOPSTOPPED, -4013,                                                 \
    "event loop stopped before the future was done")                           \
  X(CORIO_EINVALSTATE, -4020, "invalid state")                                 \
  X(CORIO_ENOTASK, -4021, "not called from inside a task")                     \
  X(CORIO_EWRONGLOOP, -4022, "object belongs to another event loop")           \
  X(CORIO_ETASKGROUP, -4023, "children of a task group failed")                \
  X(CORIO_ETIMEOUTNOTENTERED, -4024, "timeout scope has not been entered")     \
  X(CORIO_ETIMEOUTENTERED, -4025, "timeout scope has already been entered")    \
  X(CORIO_ETIMEOUTEXPIRED, -4026, "timeout scope has expired")                 \
  X(CORIO_ETIMEOUTEXITED, -4027, "timeout scope has been exited")              \
  X(CORIO_ETASKGROUPSHUTDOWN, -4028, "task group is shutting down")            \
  X(CORIO_ETASKGROUPFINISHED, -4029, "task group is finished")                 \
  X(CORIO_ENOVALUE, -4030, "context variable has no value")                    \
  X(CORIO_ETOKENUSED, -4031, "context token has already been used")            \
  X(CORIO_ECONTEXTENTERED, -4032, "context is already entered")                \
  X(CORIO_ENOTLOCKED, -4040, "lock is not acquired")                           \
  X(CORIO_ETOOMANYRELEASES, -4041,                                             \
    "released or marked done more often than acquired or put")                 \
  X(CORIO_EBROKENBARRIER, -4042, "barrier is broken")                          \
  X(CORIO_EQUEUEEMPTY, -4050, "queue is empty")                                \
  X(CORIO_EQUEUEFULL, -4051, "queue is full")                                  \
  X(CORIO_EQUEUESHUTDOWN, -4052, "queue is shut down")                         \
  X(CORIO_EEXECUTORSHUTDOWN, -4060, "executor is shut down")                   \
  X(CORIO_EINCOMPLETEREAD, -4070, "incomplete read: end of stream first")      \
  X(CORIO_ELIMITOVERRUN, -4071, "separator not found within the limit")        \
  X(CORIO_ESTREAMCLOSED, -4072, "stream is closing or closed")                 \
  X(CORIO_EREADBUSY, -4073, "another task is already reading this stream")     \
  X(CORIO_EWRITEEOF, -4074, "cannot write after write_eof")                    \
  X(CORIO_ESERVERCLOSED, -4075, "server is closed")                            \
  X(CORIO_EAINONAME, -4080, "name or service not known")                       \
  X(CORIO_EAIAGAIN, -4081, "temporary failure in name resolution")             \
  X(CORIO_EAIFAIL, -4082, "non-recoverable failure in name resolution")        \
  X(CORIO_EAINODATA, -4083, "no address associated with hostname")             \
  X(CORIO_EAIFAMILY, -4084, "address family not supported")                    \
  X(CORIO_EAISERVICE, -4085, "service not supported for socket type")          \
  X(CORIO_EAIOTHER, -4086, "name resolution failed")                           \
  X(CORIO_ETLS, -4090, "TLS error")                                            \
  X(CORIO_ETLSHANDSHAKE, -4091, "TLS handshake failed")                        \
  X(CORIO_ETLSVERIFY, -4092, "TLS certificate verify failed")                  \
  X(CORIO_ETLSVERSION, -4093, "TLS protocol version not supported")

enum corio_error {
#define CORIO__ERROR_ENUM(name, value, msg) name = (value),
  CORIO_ERROR_MAP(CORIO__ERROR_ENUM)
#undef CORIO__ERROR_ENUM
};

/* A description of any code corio returns: corio's own codes and negative
 * errno values. Never NULL; the string is static. */
CORIO_API const char *corio_strerror(int err);

/* The symbolic name of one of corio's own codes ("CORIO_EDEAD"), or NULL
 * for any other value. */
CORIO_API const char *corio_err_name(int err);

#ifdef __cplusplus
}
#endif
#endif
