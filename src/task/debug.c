/* The task layer's part of debug mode (corio_loop_set_debug, CORIO_DEBUG=1):
 * slow callbacks that are task steps are named with where the task went,
 * and a task freed with a result nobody read is reported with where it was
 * spawned. Also the report printed on a signal. */
#include <errno.h>
#include <stdio.h>

#include "core/str.h"
#include "corio/debug.h"
#include "coro/symbol.h"
#include "task/inspect.h"

void corio__task_report_never_awaited(corio_task *t) {
  char site[256], text[400];

  if (!corio_loop_get_debug(t->fut.ls->loop))
    return;
  if (t->created_at)
    corio__symbol_format((uintptr_t)t->created_at, 1, site, sizeof site);
  else
    snprintf(site, sizeof site, "an unknown place");
  snprintf(text, sizeof text,
           "Task was never awaited or joined: its result was never read "
           "(spawned at %s)",
           site);
  corio__report_future(&t->fut, text, 0, NULL);
}

/* ---- slow callbacks ------------------------------------------------------ */

/* Before a task's step: the step is named if it turns out slow. The task
 * is held, as the step may free it. */
void *corio__task_callback_begin(corio_loop *loop, void *data,
                                 corio_callback cb, void *arg) {
  task_loop_state *ls = data;
  corio_task *t = arg;

  (void)loop;
  if (!corio__task_is_step(cb))
    return NULL;
  /* Only the kind's name: the object of a wait that was woken may be
   * gone. */
  if (!t->coro)
    ls->step_resumed_from = "its start";
  else if (t->wait && t->wait->kind)
    ls->step_resumed_from = t->wait->kind->name;
  else
    ls->step_resumed_from = "a wait";
  corio__future_retain(&t->fut);
  return t;
}

/* "Task-3 (worker, resumed from sleep, now at worker+0x31 (prog) waiting
 * on sleep)". */
static void describe_step(task_loop_state *ls, corio_task *t, char *buf,
                          size_t len) {
  char body[160], where[256];
  corio__symbol sym;
  const char *now = "finished";
  size_t used = 0;

  if (len == 0)
    return;
  buf[0] = body[0] = 0;
  if (corio__symbolize((uintptr_t)t->fn, 0, &sym))
    snprintf(body, sizeof body, "%s, ", sym.name);
  corio__appendf(buf, len, &used, "%s (%sresumed from %s, ", corio_task_name(t),
                 body, ls->step_resumed_from);
  if (t->fut.state == FUTURE_PENDING) {
    corio__task_where(t, where, sizeof where);
    now = t->wait && t->wait->kind ? t->wait->kind->name : "a wait";
    corio__appendf(buf, len, &used, "now at %s waiting on %s)",
                   where[0] ? where : "?", now);
  } else {
    corio__appendf(buf, len, &used, "%s)", now);
  }
}

void corio__task_callback_end(corio_loop *loop, void *data, void *token,
                              char *buf, size_t len) {
  corio_task *t = token;

  (void)loop;
  if (buf && len > 0)
    describe_step(data, t, buf, len);
  corio__future_release(&t->fut);
}

/* ---- on a signal --------------------------------------------------------- */

static int write_stderr(const char *text, size_t len, void *arg) {
  (void)arg;
  return fwrite(text, 1, len, stderr) == len ? 0 : -EIO;
}

/* A loop callback, so the tasks are all suspended (the signal handler only
 * woke the loop). */
static int dump_now(void *arg) {
  int rc = corio_debug_report(arg, CORIO_REPORT_ALL, write_stderr, NULL);

  fflush(stderr);
  return rc;
}

int corio_debug_dump_on_signal(corio_loop *loop, int signum) {
  if (!loop)
    loop = corio_loop_current();
  if (!loop)
    return CORIO_ENOLOOP;
  return corio_loop_add_signal_handler(loop, signum, dump_now, loop);
}
