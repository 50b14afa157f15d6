/* Reports of a loop's tasks as text: a table (a line per task), the await
 * tree (asyncio's pstree: who awaits whom, cycles flagged) and each task's
 * stack. All are built on one snapshot of the tasks (inspect.c). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/str.h"
#include "corio/coro.h"
#include "task/inspect.h"

typedef struct report {
  corio__inspector *in;
  unsigned parts;
  corio_debug_writer write;
  void *arg;
  int error; /* the writer's first error: nothing more is written */
} report;

static void emit(report *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void emit(report *r, const char *fmt, ...) {
  char line[1024];
  va_list ap;
  int n;

  if (r->error)
    return;
  va_start(ap, fmt);
  n = vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  if (n < 0)
    return;
  if ((size_t)n >= sizeof line) {
    /* Cut, but still a line. */
    n = (int)sizeof line - 1;
    line[n - 1] = '\n';
  }
  r->error = r->write(line, (size_t)n, r->arg);
}

static unsigned visit_flags(unsigned parts) {
  return parts & (CORIO_REPORT_LOCATIONS | CORIO_REPORT_BACKTRACES)
             ? CORIO_VISIT_BACKTRACES
             : 0;
}

/* "sleep: 0.250 s left", "-" when not waiting. */
static void format_wait(const corio_task_info *info, char *buf, size_t len) {
  if (!info->wait_kind)
    snprintf(buf, len, "-");
  else if (info->wait_detail && info->wait_detail[0])
    snprintf(buf, len, "%s: %s", info->wait_kind, info->wait_detail);
  else
    snprintf(buf, len, "%s", info->wait_kind);
}

/* ---- the table ----------------------------------------------------------- */

static void table(report *r) {
  size_t n = corio__inspect_count(r->in);
  int locations = (r->parts & CORIO_REPORT_LOCATIONS) != 0;

  emit(r, "%-20s %-11s %-6s %-44s%s\n", "TASK", "STATE", "CANCEL", "WAITS ON",
       locations ? " WHERE" : "");
  for (size_t i = 0; i < n; i++) {
    corio_task_info info;
    char wait[256], cancel[16];

    (void)corio__inspect_info(r->in, i, &info);
    format_wait(&info, wait, sizeof wait);
    snprintf(cancel, sizeof cancel, "%d%s", info.cancelling,
             info.cancel_pending ? "*" : "");
    emit(r, "%-20.20s %-11s %-6s %-44.44s%s%s\n", info.name, info.state_name,
         cancel, wait, locations ? " " : "",
         locations && info.where ? info.where : "");
  }
}

/* ---- backtraces ---------------------------------------------------------- */

static void backtraces(report *r) {
  size_t n = corio__inspect_count(r->in);

  for (size_t i = 0; i < n; i++) {
    corio_task_info info;
    char wait[256];

    (void)corio__inspect_info(r->in, i, &info);
    format_wait(&info, wait, sizeof wait);
    emit(r, "\n%s (%s) %s%s%s\n", info.name,
         info.body_name ? info.body_name : "?", info.state_name,
         info.wait_kind ? " on " : "", info.wait_kind ? wait : "");
    if (info.created_at_name)
      emit(r, "    spawned at %s\n", info.created_at_name);
    if (info.cancelling || info.cancel_pending)
      emit(r, "    cancelling %d%s\n", info.cancelling,
           info.cancel_pending ? ", a request not delivered yet" : "");
    for (size_t k = 0; k < info.n_frames; k++) {
      const corio_frame_info *f = &info.frames[k];
      const char *slash = f->object ? strrchr(f->object, '/') : NULL;
      char offset[24] = "";

      if (f->function)
        snprintf(offset, sizeof offset, "+0x%zx", f->offset);
      emit(r, "    #%-2zu %p %s%s (%s)\n", k, f->pc,
           f->function ? f->function : "??", offset,
           slash       ? slash + 1
           : f->object ? f->object
                       : "?");
    }
    if (info.n_frames == 0 && info.state != CORIO_TASK_NOT_STARTED)
      emit(r, "    (no stack to show)\n");
  }
}

/* ---- the await tree ------------------------------------------------------ */

/* Who awaits whom, as indices of the snapshot. */
typedef struct tree {
  size_t n;
  size_t *first, *count; /* node i's children: edges[first[i]...] */
  size_t *edges;
  size_t n_edges, edges_cap;
  unsigned *indegree;
  uint8_t *printed, *on_path;
  struct order {
    const corio_task *task;
    size_t index;
  } * by_address; /* sorted, to find a task's index */
  /* The path being printed, root first: print_tree's own stack, on the
   * heap, so a report fits a small task stack. */
  struct level {
    size_t node, next; /* next: the index of its next child to print */
    size_t prefix_len; /* the prefix's length before this node's part */
  } * path;
} tree;

/* Deep enough for any real chain of awaits; deeper ones are cut. */
enum { TREE_MAX_DEPTH = 48 };

static int by_address(const void *a, const void *b) {
  const struct order *x = a, *y = b;

  return x->task < y->task ? -1 : x->task > y->task;
}

static size_t index_of(const tree *tr, const corio_task *t) {
  struct order key = {.task = t};
  const struct order *hit =
      bsearch(&key, tr->by_address, tr->n, sizeof key, by_address);

  return hit ? hit->index : SIZE_MAX;
}

static void tree_free(tree *tr) {
  size_t n = tr->n;

  corio__free(tr->first, n * sizeof *tr->first);
  corio__free(tr->count, n * sizeof *tr->count);
  corio__free(tr->indegree, n * sizeof *tr->indegree);
  corio__free(tr->printed, n);
  corio__free(tr->on_path, n);
  corio__free(tr->by_address, n * sizeof *tr->by_address);
  corio__free(tr->edges, tr->edges_cap * sizeof *tr->edges);
  corio__free(tr->path, (TREE_MAX_DEPTH + 1) * sizeof *tr->path);
}

static int tree_alloc(tree *tr, corio__inspector *in) {
  size_t n = corio__inspect_count(in);

  tr->n = n;
  if (n == 0)
    return 0;
  tr->first = corio__calloc(n * sizeof *tr->first);
  tr->count = corio__calloc(n * sizeof *tr->count);
  tr->indegree = corio__calloc(n * sizeof *tr->indegree);
  tr->printed = corio__calloc(n);
  tr->on_path = corio__calloc(n);
  tr->by_address = corio__calloc(n * sizeof *tr->by_address);
  tr->path = corio__alloc((TREE_MAX_DEPTH + 1) * sizeof *tr->path);
  if (!tr->first || !tr->count || !tr->indegree || !tr->printed ||
      !tr->on_path || !tr->by_address || !tr->path)
    return -ENOMEM;
  return 0;
}

/* A task whose edges could not all be listed (or stored) keeps those that
 * were: the tree goes on without the rest (docs/debugging.md). */
static int tree_build(tree *tr, corio__inspector *in) {
  int rc = tree_alloc(tr, in);

  if (rc < 0 || tr->n == 0)
    return rc;
  for (size_t i = 0; i < tr->n; i++)
    tr->by_address[i] = (struct order){corio__inspect_task(in, i), i};
  qsort(tr->by_address, tr->n, sizeof *tr->by_address, by_address);
  for (size_t i = 0; i < tr->n; i++) {
    corio_task *const *awaiting;
    size_t n_awaiting;

    (void)corio__inspect_awaited(in, i, &awaiting, &n_awaiting);
    tr->first[i] = tr->n_edges;
    for (size_t k = 0; k < n_awaiting; k++) {
      size_t child = index_of(tr, awaiting[k]);

      if (child == SIZE_MAX)
        continue;
      if (tr->n_edges == tr->edges_cap &&
          corio__grow_array((void **)&tr->edges, &tr->edges_cap,
                            sizeof *tr->edges, tr->n_edges + 1, 16) < 0)
        break;
      tr->edges[tr->n_edges++] = child;
      tr->count[i]++;
      tr->indegree[child]++;
    }
  }
  return 0;
}

static void node_label(report *r, size_t i, char *buf, size_t len) {
  corio_task_info info;
  char wait[256];
  size_t used = 0;

  (void)corio__inspect_info(r->in, i, &info);
  format_wait(&info, wait, sizeof wait);
  buf[0] = 0;
  corio__appendf(buf, len, &used, "%s (%s) %s%s%s", info.name,
                 info.body_name ? info.body_name : "?", info.state_name,
                 info.wait_kind ? " on " : "", info.wait_kind ? wait : "");
  if (info.cancelling > 0)
    corio__appendf(buf, len, &used, ", cancelling %d", info.cancelling);
  if (info.where)
    corio__appendf(buf, len, &used, " at %s", info.where);
}

/* Prints node i's line; 1 if its children are to follow. */
static int print_line(report *r, tree *tr, size_t i, const char *prefix,
                      size_t depth, int last) {
  const char *branch = last ? "\u2514\u2500\u2500 " : "\u251c\u2500\u2500 ";
  char label[640];

  if (tr->on_path[i] || tr->printed[i]) {
    emit(r, "%s%s%s %s\n", prefix, branch,
         corio_task_name(corio__inspect_task(r->in, i)),
         tr->on_path[i] ? "(cycle: it awaits a task that awaits it)"
                        : "(shown above)");
    return 0;
  }
  node_label(r, i, label, sizeof label);
  emit(r, "%s%s%s\n", prefix, branch, label);
  tr->printed[i] = 1;
  if (tr->count[i] == 0)
    return 0;
  if (depth >= TREE_MAX_DEPTH) {
    emit(r, "%s    \u2514\u2500\u2500 ... (deeper awaits cut)\n", prefix);
    return 0;
  }
  return 1;
}

/* Goes down into node i, whose line was printed: "|   " is 6 bytes in
 * UTF-8, and the prefix buffer holds every level. */
static void enter(tree *tr, size_t *top, size_t i, char *prefix, int last) {
  size_t plen = strlen(prefix);

  tr->path[(*top)++] = (struct level){.node = i, .prefix_len = plen};
  tr->on_path[i] = 1;
  strcpy(prefix + plen, last ? "    " : "\u2502   ");
}

/* The subtree under root, depth first, without recursion. */
static void print_tree(report *r, tree *tr, size_t root, char *prefix) {
  size_t top = 0;

  if (print_line(r, tr, root, prefix, 0, 1))
    enter(tr, &top, root, prefix, 1);
  while (top > 0) {
    struct level *l = &tr->path[top - 1];
    size_t child;
    int last;

    if (l->next == tr->count[l->node]) {
      prefix[l->prefix_len] = 0;
      tr->on_path[l->node] = 0;
      top--;
      continue;
    }
    child = tr->edges[tr->first[l->node] + l->next++];
    last = l->next == tr->count[l->node];
    if (print_line(r, tr, child, prefix, top, last))
      enter(tr, &top, child, prefix, last);
  }
}

static int await_tree(report *r) {
  tree tr = {0};
  char prefix[TREE_MAX_DEPTH * 6 + 8] = "";
  int rc;

  rc = tree_build(&tr, r->in);
  if (rc < 0) {
    tree_free(&tr);
    return rc;
  }
  for (size_t i = 0; i < tr.n; i++)
    if (tr.indegree[i] == 0)
      print_tree(r, &tr, i, prefix);
  /* What is left is awaited only from within cycles. */
  for (size_t i = 0; i < tr.n; i++) {
    if (tr.printed[i])
      continue;
    emit(r, "(tasks awaiting each other in a cycle)\n");
    print_tree(r, &tr, i, prefix);
  }
  tree_free(&tr);
  return 0;
}

/* ---- reports ------------------------------------------------------------- */

static int report_now(corio_loop *loop, unsigned parts,
                      corio_debug_writer write, void *arg,
                      const void *caller_pc) {
  report r = {.parts = parts, .write = write, .arg = arg};
  size_t n;
  int rc;

  rc = corio__inspect_open(loop, visit_flags(parts), caller_pc, &r.in);
  if (rc < 0)
    return rc;
  n = corio__inspect_count(r.in);
  emit(&r, "corio: %zu task%s on loop %p\n", n, n == 1 ? "" : "s",
       (void *)corio__inspect_loop(r.in));
  if (parts & CORIO_REPORT_TABLE)
    table(&r);
  if ((parts & CORIO_REPORT_TREE) && n > 0) {
    if (parts & CORIO_REPORT_TABLE)
      emit(&r, "\n");
    rc = await_tree(&r);
  }
  if (parts & CORIO_REPORT_BACKTRACES)
    backtraces(&r);
  corio__inspect_close(r.in);
  return rc < 0 ? rc : r.error;
}

/* A report from a coroutine with a stack this small runs on a scratch
 * coroutine with the default stack: libunwind's step alone takes several
 * KiB, and a report's lines and names some more (docs/debugging.md). */
#define REPORT_STACK_NEED ((size_t)64 * 1024)

struct report_call {
  corio_loop *loop;
  unsigned parts;
  corio_debug_writer write;
  void *arg;
  const void *caller_pc;
  int rc;
};

static void *report_on_scratch(void *arg) {
  struct report_call *c = arg;

  c->rc = report_now(c->loop, c->parts, c->write, c->arg, c->caller_pc);
  return NULL;
}

static int report_at(corio_loop *loop, unsigned parts, corio_debug_writer write,
                     void *arg, const void *caller_pc) {
  corio_coro *self = corio_coro_current();
  struct report_call call = {loop, parts, write, arg, caller_pc, 0};
  corio_coro *scratch;
  int rc;

  if (!write)
    return -EINVAL;
  if (!self || corio_coro_stack_size(self) >= REPORT_STACK_NEED)
    return report_now(loop, parts, write, arg, caller_pc);
  rc = corio_coro_create(&scratch, report_on_scratch, &call,
                         CORIO_CORO_STACK_DEFAULT);
  if (rc < 0)
    return rc;
  rc = corio_coro_resume(scratch, NULL, NULL);
  (void)corio_coro_destroy(scratch);
  return rc == CORIO_CORO_RETURNED ? call.rc : rc < 0 ? rc : -EINVAL;
}

int corio_debug_report(corio_loop *loop, unsigned parts,
                       corio_debug_writer write, void *arg) {
  return report_at(loop, parts, write, arg, __builtin_return_address(0));
}

static int write_file(const char *text, size_t len, void *arg) {
  return fwrite(text, 1, len, arg) == len ? 0 : -EIO;
}

int corio_dump_tasks(corio_loop *loop, FILE *out) {
  int rc;

  if (!out)
    return -EINVAL;
  rc = report_at(loop,
                 CORIO_REPORT_TABLE | CORIO_REPORT_LOCATIONS |
                     CORIO_REPORT_BACKTRACES,
                 write_file, out, __builtin_return_address(0));
  fflush(out);
  return rc;
}

int corio_dump_task_tree(corio_loop *loop, FILE *out) {
  int rc;

  if (!out)
    return -EINVAL;
  rc = report_at(loop, CORIO_REPORT_TREE | CORIO_REPORT_LOCATIONS, write_file,
                 out, __builtin_return_address(0));
  fflush(out);
  return rc;
}
