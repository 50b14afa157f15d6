/* The debug endpoint: a Unix socket (the abstract name "@corio-<pid>" by
 * default) on which a loop answers each connection with a report of its
 * tasks. tools/corio-ps asks. The request is one line: "tasks" (the
 * table), "tree" (the await tree), "stacks" (the backtraces) or "all"
 * (an empty line too); the answer is the text, then the connection
 * closes. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/sys_net.h"
#include "corio/combine.h"
#include "corio/debug.h"
#include "net/stream_internal.h"

/* A peer that sends nothing is dropped after this long. */
#define REQUEST_TIMEOUT_S 5.0

static unsigned parts_for(const char *request) {
  if (strcmp(request, "tasks") == 0)
    return CORIO_REPORT_TABLE | CORIO_REPORT_LOCATIONS;
  if (strcmp(request, "tree") == 0)
    return CORIO_REPORT_TREE | CORIO_REPORT_LOCATIONS;
  if (strcmp(request, "stacks") == 0)
    return CORIO_REPORT_BACKTRACES;
  if (strcmp(request, "all") == 0 || request[0] == 0)
    return CORIO_REPORT_ALL;
  return 0;
}

/* The report is written in parts: each time this much is buffered, the
 * handler waits for the peer to take it (drain), so a report of many
 * tasks is never held in memory whole. Suspending between lines is safe:
 * the report's snapshot holds a reference to every task it shows, and
 * reads each task's state afresh (docs/debugging.md). The handler task
 * has the default stack, so the report runs on it, not on a scratch
 * coroutine (where a writer must not suspend). */
#define DRAIN_EVERY ((size_t)64 * 1024)

struct report_out {
  corio_stream *stream;
  size_t since_drain; /* bytes written since the last drain */
};

static int write_stream(const char *text, size_t len, void *arg) {
  struct report_out *out = arg;
  int rc = corio_stream_write(out->stream, text, len);

  if (rc < 0)
    return rc;
  out->since_drain += len;
  if (out->since_drain < DRAIN_EVERY)
    return 0;
  out->since_drain = 0;
  return corio_stream_drain(out->stream);
}

/* Names, stacks and addresses are for the program's own user (or root)
 * only: an abstract socket has no file permissions to keep others out. */
static int peer_allowed(corio_stream *s) {
  uid_t uid;

  return corio__sys_peer_uid(corio_stream_fd(s), &uid) == 0 &&
         (uid == geteuid() || uid == 0);
}

static int read_request(corio_stream *s, char *line, size_t cap) {
  corio_timeout scope;
  size_t n = 0;
  int rc = corio_timeout_enter(&scope, REQUEST_TIMEOUT_S);

  if (rc < 0)
    return rc;
  rc = corio_stream_readline(s, line, cap - 1, &n);
  rc = corio_timeout_exit(&scope, rc);
  if (rc < 0)
    return rc;
  while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
    n--;
  line[n] = 0;
  return 0;
}

/* A peer that went away is not the program's error. */
static int quietly(int rc) {
  return rc < 0 && rc != -EPIPE && rc != -ECONNRESET ? rc : 0;
}

static int answer(corio_stream *s, void *arg) {
  static const char help[] =
      "unknown request: ask for tasks, tree, stacks or all\n";
  struct report_out out = {.stream = s};
  char line[64];
  unsigned parts;
  int rc;

  (void)arg;
  (void)corio_task_set_name(corio_current_task(), "corio-debug");
  if (!peer_allowed(s))
    return 0; /* closed without a word */
  rc = read_request(s, line, sizeof line);
  /* A request no valid one is as long as gets the help; a peer that is
   * silent, resets or breaks off is closed on without a word: neither is
   * the program's error (nor worth a "Task exception was never
   * retrieved"). Only a cancellation (the server closing) goes on. */
  if (rc == -ECANCELED || rc == CORIO_ECLOSED)
    return rc;
  if (rc == -ENOBUFS || rc == CORIO_ELIMITOVERRUN)
    return quietly(corio_stream_write_all(s, help, sizeof help - 1));
  if (rc < 0)
    return 0;
  parts = parts_for(line);
  if (parts == 0)
    return quietly(corio_stream_write_all(s, help, sizeof help - 1));
  rc = corio_debug_report(corio_stream_loop(s), parts, write_stream, &out);
  if (rc == 0)
    rc = corio_stream_drain(s);
  return quietly(rc);
}

/* -EADDRINUSE is also what a squatter gets us: any process may bind an
 * abstract name first (corio-ps checks the peer's pid for this reason). */
int corio_debug_serve(const char *name, corio_server **out) {
  char fallback[64];

  if (!name) {
    snprintf(fallback, sizeof fallback, "@corio-%ld", (long)getpid());
    name = fallback;
  }
  return corio_start_unix_server(answer, NULL, name, NULL, out);
}
