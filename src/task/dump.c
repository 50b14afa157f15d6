/* Reports of a loop's tasks as text: a table (a line per task), the await
 * tree (asyncio's pstree: who awaits whom, cycles flagged) and each task's
 * stack. All are built on one snapshot of the tasks (inspect.c). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
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

      if (f->function)
        emit(r, "    #%-2zu %p %s+0x%zx (%s)\n", k, f->pc, f->function,
             f->offset,
             slash       ? slash + 1
             : f->object ? f->object
                         : "?");
      else
        emit(r, "    #%-2zu %p ?? (%s)\n", k, f->pc,
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
  if (!tr->first || !tr->count || !tr->indegree || !tr->printed ||
      !tr->on_path || !tr->by_address)
    return -ENOMEM;
  return 0;
}

static int tree_build(tree *tr, corio__inspector *in) {
  int rc = tree_alloc(tr, in);

  if (rc < 0 || tr->n == 0)
    return rc;
  for (size_t i = 0; i < tr->n; i++)
    tr->by_address[i] = (struct order){corio__inspect_task(in, i), i};
  qsort(tr->by_address, tr->n, sizeof *tr->by_address, by_address);
  for (size_t i = 0; i < tr->n; i++) {
    corio_task_info info;

    rc = corio__inspect_info(in, i, &info);
    if (rc < 0)
      return rc;
    tr->first[i] = tr->n_edges;
    for (size_t k = 0; k < info.n_awaiting; k++) {
      size_t child = index_of(tr, info.awaiting[k]);

      if (child == SIZE_MAX)
        continue;
      if (tr->n_edges == tr->edges_cap &&
          corio__grow_array((void **)&tr->edges, &tr->edges_cap,
                            sizeof *tr->edges, tr->n_edges + 1, 16) < 0)
        return -ENOMEM;
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
  int n;

  (void)corio__inspect_info(r->in, i, &info);
  format_wait(&info, wait, sizeof wait);
  n = snprintf(buf, len, "%s (%s) %s%s%s", info.name,
               info.body_name ? info.body_name : "?", info.state_name,
               info.wait_kind ? " on " : "", info.wait_kind ? wait : "");
  if (n >= 0 && (size_t)n < len && info.cancelling > 0)
    n += snprintf(buf + n, len - (size_t)n, ", cancelling %d", info.cancelling);
  if (n >= 0 && (size_t)n < len && info.where)
    snprintf(buf + n, len - (size_t)n, " at %s", info.where);
}

static void print_node(report *r, tree *tr, size_t i, char *prefix,
                       size_t depth, int last) {
  const char *branch = last ? "\u2514\u2500\u2500 " : "\u251c\u2500\u2500 ";
  size_t plen = strlen(prefix);
  char label[640];

  if (tr->on_path[i] || tr->printed[i]) {
    corio_task_info info;

    (void)corio__inspect_info(r->in, i, &info);
    emit(r, "%s%s%s %s\n", prefix, branch, info.name,
         tr->on_path[i] ? "(cycle: it awaits a task that awaits it)"
                        : "(shown above)");
    return;
  }
  node_label(r, i, label, sizeof label);
  emit(r, "%s%s%s\n", prefix, branch, label);
  tr->printed[i] = 1;
  if (tr->count[i] == 0)
    return;
  if (depth >= TREE_MAX_DEPTH) {
    emit(r, "%s    \u2514\u2500\u2500 ... (deeper awaits cut)\n", prefix);
    return;
  }
  tr->on_path[i] = 1;
  /* "|   " is 6 bytes in UTF-8: the prefix buffer holds every level. */
  strcpy(prefix + plen, last ? "    " : "\u2502   ");
  for (size_t k = 0; k < tr->count[i]; k++)
    print_node(r, tr, tr->edges[tr->first[i] + k], prefix, depth + 1,
               k + 1 == tr->count[i]);
  prefix[plen] = 0;
  tr->on_path[i] = 0;
}

static int await_tree(report *r) {
  tree tr = {0};
  char prefix[TREE_MAX_DEPTH * 6 + 8] = "";
  unsigned flags = visit_flags(r->parts);
  int rc;

  /* The edges need no stacks; the labels may. */
  corio__inspect_set_flags(r->in, 0);
  rc = tree_build(&tr, r->in);
  corio__inspect_set_flags(r->in, flags);
  if (rc < 0) {
    tree_free(&tr);
    return rc;
  }
  for (size_t i = 0; i < tr.n; i++)
    if (tr.indegree[i] == 0)
      print_node(r, &tr, i, prefix, 0, 1);
  /* What is left is awaited only from within cycles. */
  for (size_t i = 0; i < tr.n; i++) {
    if (tr.printed[i])
      continue;
    emit(r, "(tasks awaiting each other in a cycle)\n");
    print_node(r, &tr, i, prefix, 0, 1);
  }
  tree_free(&tr);
  return 0;
}

/* ---- reports ------------------------------------------------------------- */

static int report_at(corio_loop *loop, unsigned parts, corio_debug_writer write,
                     void *arg, const void *caller_pc) {
  report r = {.parts = parts, .write = write, .arg = arg};
  size_t n;
  int rc;

  if (!write)
    return -EINVAL;
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
