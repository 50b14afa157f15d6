/* communicate(input): feeding stdin and draining stdout and stderr run as
 * tasks of their own, so that a child blocked writing one pipe while we
 * write to another cannot deadlock either side. */
#include <errno.h>
#include <string.h>

#include "core/alloc.h"
#include "corio/combine.h"
#include "proc/proc_internal.h"

typedef struct feed_job {
  corio_stream *stream;
  const void *input;
  size_t len;
} feed_job;

typedef struct collect_job {
  corio_stream *stream;
  corio_proc_output *into; /* NULL: the bytes are dropped */
} collect_job;

void corio_proc_output_free(corio_proc_output *o) {
  if (!o)
    return;
  if (o->data)
    corio__free(o->data, o->_size);
  o->data = NULL;
  o->len = o->_size = 0;
}

static int append(corio_proc_output *o, const void *data, size_t len) {
  if (o->len + len + 1 > o->_size) {
    size_t size = o->_size ? o->_size : 4096;
    char *grown;

    while (size < o->len + len + 1) {
      if (size > ((size_t)-1) / 2)
        return -ENOMEM;
      size *= 2;
    }
    grown = corio__alloc(size);
    if (!grown)
      return -ENOMEM;
    if (o->len)
      memcpy(grown, o->data, o->len);
    if (o->data)
      corio__free(o->data, o->_size);
    o->data = grown;
    o->_size = size;
  }
  memcpy(o->data + o->len, data, len);
  o->len += len;
  o->data[o->len] = '\0';
  return 0;
}

static int feed_stdin(void *arg, void **result) {
  feed_job *job = arg;
  int rc = 0;

  (void)result;
  if (job->len)
    rc = corio_stream_write_all(job->stream, job->input, job->len);
  /* A child that exits or closes its stdin without reading it all is
   * no error, as in asyncio. */
  if (rc == -EPIPE || rc == -ECONNRESET)
    rc = 0;
  /* Cancelled: stdin stays open, so that the rest can still be sent (as
   * asyncio, which closes it only once everything was written). */
  if (rc != -ECANCELED)
    (void)corio_stream_close(job->stream);
  return rc;
}

static int collect(void *arg, void **result) {
  collect_job *job = arg;

  (void)result;
  for (;;) {
    const void *data;
    size_t len;
    int rc = corio_stream_peek(job->stream, 0, &data, &len);

    if (rc < 0)
      return rc;
    if (len == 0)
      return 0; /* EOF */
    if (job->into && (rc = append(job->into, data, len)) < 0)
      return rc;
    (void)corio_stream_consume(job->stream, len);
  }
}

int corio_process_communicate(corio_process *p, const void *input, size_t len,
                              corio_proc_output *out, corio_proc_output *err,
                              int *code) {
  feed_job feed;
  collect_job collect_out, collect_err;
  corio_proc_output got[2] = {{0}, {0}};
  corio_awaitable jobs[3];
  corio_outcome outcomes[3];
  size_t n = 0;
  int rc;

  if (!p || (input && len && !p->pipes[0]))
    return -EINVAL;
  if (p->pipes[0]) {
    feed = (feed_job){p->pipes[0], input, input ? len : 0};
    jobs[n++] = CORIO_AWAIT_FN(feed_stdin, &feed);
  }
  if (p->pipes[1]) {
    collect_out = (collect_job){p->pipes[1], out ? &got[0] : NULL};
    jobs[n++] = CORIO_AWAIT_FN(collect, &collect_out);
  }
  if (p->pipes[2]) {
    collect_err = (collect_job){p->pipes[2], err ? &got[1] : NULL};
    jobs[n++] = CORIO_AWAIT_FN(collect, &collect_err);
  }
  corio_process_ref(p);
  /* Every job is waited for, even after one failed: they use this
   * frame. */
  rc = corio_gather(jobs, n, outcomes, CORIO_GATHER_RETURN_EXCEPTIONS);
  for (size_t i = 0; i < n && rc == 0; i++)
    rc = outcomes[i].error;
  corio_outcomes_clear(outcomes, n);
  if (rc == 0)
    rc = corio_process_wait(p, code);
  corio_process_unref(p);
  if (rc < 0) {
    corio_proc_output_free(&got[0]);
    corio_proc_output_free(&got[1]);
    return rc;
  }
  /* Never a NULL data for the caller to print. */
  for (int i = 0; i < 2; i++)
    if (!got[i].data && (rc = append(&got[i], "", 0)) < 0) {
      corio_proc_output_free(&got[0]);
      corio_proc_output_free(&got[1]);
      return rc;
    }
  if (out)
    *out = got[0];
  else
    corio_proc_output_free(&got[0]);
  if (err)
    *err = got[1];
  else
    corio_proc_output_free(&got[1]);
  return 0;
}
