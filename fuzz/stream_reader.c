/* libFuzzer harness: the stream reader against a model.
 *
 * The input is a script. Its bytes pick operations (send a chunk, send
 * EOF, read, readexactly, readline, readuntil with one or two separators,
 * read_all, set_limit, peek and consume) and their arguments, and the
 * chunks' bytes themselves. A real corio stream runs it: the stream owns
 * one end of a Unix socketpair, the harness writes the other end, so the
 * bytes arrive through the loop's own reading path with the chunk
 * boundaries the script chose.
 *
 * Beside it runs a model: a plain reimplementation of asyncio's
 * StreamReader (its readuntil search, LimitOverrunError and
 * IncompleteReadError, readline's dropping of an overlong line) with the
 * codes docs/net.md maps them to, and corio's flow control: a buffer
 * above twice the limit pauses the reading (unless a reader waits), taking
 * bytes back down to the limit resumes it, and a waiting reader resumes
 * it too. While paused, chunks pile up in the socket and arrive as one.
 * Every call's code, count and bytes must match the model's, and so must
 * the bytes left buffered; a mismatch aborts with both sides printed.
 *
 * A read that must wait gets its bytes from a feeder task, which sends
 * the script's next chunks one at a time (as the model pulled them
 * forward), each once the previous one was taken in, and EOF when the
 * script has no more: every read completes. Total data is kept under the
 * stream's smallest read room (4 KiB), so one recv takes in whatever the
 * socket holds, as the model assumes. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <corio/error.h>
#include <corio/loop.h>
#include <corio/net.h>
#include <corio/task.h>

#include "fuzz.h"

enum {
  MAX_DATA = 4000, /* bytes sent per input: under one recv's room */
  MAX_OPS = 256,
  MAX_STEPS = MAX_OPS + 2,
  OUT_CAP = MAX_DATA + 64,
  /* Loop iterations to wait for bytes sent to arrive: they are on the
   * socket at once, so this only bounds a broken run. */
  MAX_YIELDS = 2000,
  FORCE_POLL_YIELDS = 130,
};

enum op_kind {
  OP_FEED,
  OP_EOF,
  OP_READ,
  OP_READEXACTLY,
  OP_READLINE,
  OP_READUNTIL,
  OP_READ_ALL,
  OP_SET_LIMIT,
  OP_PEEK,
  OP_READ_BIG,
  OP_KINDS
};

static const char *const op_names[] = {
    "feed",      "eof",      "read",      "readexactly", "readline",
    "readuntil", "read_all", "set_limit", "peek",        "read(big)"};

typedef struct op {
  enum op_kind kind;
  size_t n;    /* read size, cap, limit or peek's `have` */
  size_t arg2; /* peek: what to consume (mod buffered + 2) */
  const uint8_t *data;
  size_t len; /* FEED: the chunk */
  corio_bytes seps[2];
  size_t nseps;
  int used; /* a chunk or EOF already sent for an earlier wait */
} op;

/* ---- the model ----------------------------------------------------------- */

typedef struct model {
  uint8_t buf[MAX_DATA];
  size_t len;
  uint8_t sock[MAX_DATA]; /* sent, not yet taken in by the stream */
  size_t sock_len;
  int eof_sent, eof_seen;
  int reading; /* the stream takes in what arrives */
  size_t limit;
} model;

/* What a waiting read needs next, for the feeder. */
enum step_kind { STEP_SOCKET, STEP_EOF_SOCKET, STEP_SEND, STEP_SEND_EOF };

typedef struct step {
  enum step_kind kind;
  const uint8_t *data;
  size_t len;
  size_t buffered_after; /* model buffer length once it arrived */
} step;

typedef struct read_result {
  int rc;
  size_t nread;
  uint8_t out[OUT_CAP];
  size_t out_len; /* bytes copied out (the peek view included) */
} read_result;

static void model_take(model *m, read_result *r, size_t n, int copy) {
  if (copy) {
    memcpy(r->out, m->buf, n);
    r->out_len = n;
  }
  memmove(m->buf, m->buf + n, m->len - n);
  m->len -= n;
  /* Taking bytes resumes a paused reading once at or below the limit. */
  if (!m->reading && !m->eof_seen && m->len <= m->limit)
    m->reading = 1;
}

/* The loop takes in what the socket holds, with no reader waiting. */
static void model_settle(model *m) {
  while (m->reading) {
    if (m->sock_len) {
      memcpy(m->buf + m->len, m->sock, m->sock_len);
      m->len += m->sock_len;
      m->sock_len = 0;
      /* Paused above twice the limit, as asyncio: a read may then
       * return fewer bytes than were sent. */
      if (m->len > m->limit && m->len - m->limit > m->limit)
        m->reading = 0;
    } else if (m->eof_sent && !m->eof_seen) {
      m->eof_seen = 1;
      m->reading = 0;
    } else {
      break;
    }
  }
}

/* readuntil's state across waits: where the next search starts. */
typedef struct until_state {
  size_t offset;
} until_state;

/* asyncio 3.13's readuntil over seps: 1 done (r filled), 0 must wait. */
static int model_readuntil(model *m, const op *o, until_state *st,
                           read_result *r) {
  size_t min_len = SIZE_MAX, max_len = 0, start = 0, end = 0;
  int found = 0;

  for (size_t i = 0; i < o->nseps; i++) {
    if (o->seps[i].len < min_len)
      min_len = o->seps[i].len;
    if (o->seps[i].len > max_len)
      max_len = o->seps[i].len;
  }
  if (m->len - st->offset >= min_len) {
    for (size_t i = 0; i < o->nseps; i++) {
      const uint8_t *sep = o->seps[i].data;
      size_t sl = o->seps[i].len;

      for (size_t at = st->offset; at + sl <= m->len; at++) {
        if (memcmp(m->buf + at, sep, sl) == 0) {
          if (!found || at + sl < end) {
            start = at;
            end = at + sl;
            found = 1;
          }
          break;
        }
      }
    }
    if (!found) {
      st->offset = m->len + 1 > max_len ? m->len + 1 - max_len : 0;
      if (st->offset > m->limit) {
        r->rc = CORIO_ELIMITOVERRUN;
        r->nread = st->offset;
        return 1;
      }
    }
  }
  if (found) {
    if (start > m->limit) {
      r->rc = CORIO_ELIMITOVERRUN;
      r->nread = start;
    } else if (end > o->n) {
      r->rc = -ENOBUFS;
      r->nread = end;
    } else {
      r->rc = 0;
      r->nread = end;
      model_take(m, r, end, 1);
    }
    return 1;
  }
  if (m->eof_seen) {
    if (m->len > o->n) {
      r->rc = -ENOBUFS;
      r->nread = m->len;
    } else {
      r->rc = CORIO_EINCOMPLETEREAD;
      r->nread = m->len;
      model_take(m, r, m->len, 1);
    }
    return 1;
  }
  return 0;
}

/* One evaluation of a read op on what is buffered: 1 done, 0 must wait. */
static int model_eval(model *m, const op *o, until_state *st, read_result *r) {
  static const uint8_t newline[1] = {'\n'};
  op line;

  switch (o->kind) {
  case OP_READ:
  case OP_READ_BIG:
    if (o->n == 0) {
      r->rc = 0;
      return 1;
    }
    if (m->len) {
      r->rc = 0;
      r->nread = o->n < m->len ? o->n : m->len;
      model_take(m, r, r->nread, 1);
      return 1;
    }
    if (m->eof_seen) {
      r->rc = 0;
      return 1;
    }
    return 0;
  case OP_READEXACTLY:
    if (m->len >= o->n) {
      r->rc = 0;
      r->nread = o->n;
      model_take(m, r, o->n, 1);
      return 1;
    }
    if (m->eof_seen) {
      r->rc = CORIO_EINCOMPLETEREAD;
      r->nread = m->len;
      model_take(m, r, m->len, 1);
      return 1;
    }
    return 0;
  case OP_READ_ALL:
    if (m->len > o->n) {
      r->rc = -ENOBUFS;
      r->nread = m->len;
      return 1;
    }
    if (m->eof_seen) {
      r->rc = 0;
      r->nread = m->len;
      model_take(m, r, m->len, 1);
      return 1;
    }
    return 0;
  case OP_READUNTIL:
    return model_readuntil(m, o, st, r);
  case OP_READLINE:
    line = *o;
    line.seps[0].data = newline;
    line.seps[0].len = 1;
    line.nseps = 1;
    if (!model_readuntil(m, &line, st, r))
      return 0;
    if (r->rc == CORIO_EINCOMPLETEREAD) {
      r->rc = 0; /* the last line, without its newline */
    } else if (r->rc == CORIO_ELIMITOVERRUN) {
      size_t at = r->nread;

      /* asyncio drops the line up to its newline, else all buffered */
      model_take(m, r, at < m->len && m->buf[at] == '\n' ? at + 1 : m->len, 0);
      r->nread = 0;
    }
    return 1;
  case OP_PEEK:
    if (o->n >= m->limit) {
      r->rc = CORIO_ELIMITOVERRUN;
      return 1;
    }
    if (m->len > o->n || m->eof_seen) {
      r->rc = 0;
      r->nread = m->len;
      memcpy(r->out, m->buf, m->len);
      r->out_len = m->len;
      return 1;
    }
    return 0;
  default:
    abort();
  }
}

/* Runs a read op on the model, pulling the script's next chunks (or EOF)
 * forward while it must wait; the steps say what the feeder must do. */
static void model_read(model *m, op *ops, size_t nops, size_t at,
                       size_t *total_sent, step *steps, size_t *nsteps,
                       read_result *r) {
  until_state st = {0};

  *nsteps = 0;
  memset(r, 0, sizeof *r);
  while (!model_eval(m, &ops[at], &st, r)) {
    step *s = &steps[(*nsteps)++];

    /* Waiting resumes the reading; with a reader waiting it never
     * pauses. */
    m->reading = 1;
    memset(s, 0, sizeof *s);
    if (m->sock_len) {
      s->kind = STEP_SOCKET;
      memcpy(m->buf + m->len, m->sock, m->sock_len);
      m->len += m->sock_len;
      m->sock_len = 0;
    } else if (m->eof_sent) {
      s->kind = STEP_EOF_SOCKET;
      m->eof_seen = 1;
      m->reading = 0;
    } else {
      size_t next = at + 1;

      while (next < nops && (ops[next].used || (ops[next].kind != OP_FEED &&
                                                ops[next].kind != OP_EOF)))
        next++;
      if (next < nops && ops[next].kind == OP_FEED &&
          *total_sent + ops[next].len <= MAX_DATA) {
        ops[next].used = 1;
        s->kind = STEP_SEND;
        s->data = ops[next].data;
        s->len = ops[next].len;
        *total_sent += s->len;
        memcpy(m->buf + m->len, s->data, s->len);
        m->len += s->len;
      } else {
        if (next < nops)
          ops[next].used = 1; /* an EOF op, or a chunk past MAX_DATA */
        s->kind = STEP_SEND_EOF;
        m->eof_sent = m->eof_seen = 1;
        m->reading = 0;
      }
    }
    s->buffered_after = m->len;
  }
}

/* ---- the script ---------------------------------------------------------- */

typedef struct cursor {
  const uint8_t *p;
  size_t left;
} cursor;

static int next_byte(cursor *c, uint8_t *b) {
  if (!c->left)
    return 0;
  *b = *c->p++;
  c->left--;
  return 1;
}

static size_t parse_script(const uint8_t *data, size_t size, op *ops,
                           size_t *limit) {
  cursor c = {data, size};
  size_t n = 0;
  uint8_t b, k;

  *limit = 0;
  if (next_byte(&c, &b))
    *limit = b < 128 ? (size_t)b + 1 : 0; /* 0: the default */
  while (n < MAX_OPS && next_byte(&c, &k) && next_byte(&c, &b)) {
    op *o = &ops[n];

    memset(o, 0, sizeof *o);
    o->kind = (enum op_kind)(k % OP_KINDS);
    switch (o->kind) {
    case OP_FEED:
      o->len = 1 + b % 64;
      if (o->len > c.left)
        o->len = c.left;
      if (o->len == 0)
        return n;
      o->data = c.p;
      c.p += o->len;
      c.left -= o->len;
      break;
    case OP_READ:
    case OP_READEXACTLY:
    case OP_PEEK:
      o->n = b % 80;
      if (o->kind == OP_PEEK && !next_byte(&c, &k))
        return n;
      o->arg2 = k;
      break;
    case OP_READLINE:
      o->n = b < 200 ? b : OUT_CAP;
      break;
    case OP_READUNTIL:
      o->nseps = 1 + (b & 1);
      for (size_t i = 0; i < o->nseps; i++) {
        size_t len = 1 + (b >> (1 + 2 * i)) % 3;

        if (len > c.left)
          return n;
        o->seps[i].data = c.p;
        o->seps[i].len = len;
        c.p += len;
        c.left -= len;
      }
      if (!next_byte(&c, &b))
        return n;
      o->n = b < 200 ? b : OUT_CAP;
      break;
    case OP_READ_ALL:
      o->n = (size_t)b * 17;
      break;
    case OP_SET_LIMIT:
      o->n = b; /* 0: the default */
      break;
    case OP_READ_BIG:
      o->n = OUT_CAP;
      break;
    default:
      break;
    }
    n++;
  }
  return n;
}

/* ---- the run ------------------------------------------------------------- */

typedef struct run {
  const uint8_t *data;
  size_t size;
  corio_stream *stream;
  int peer;
  model m;
  op ops[MAX_OPS];
  size_t nops;
  size_t total_sent;
  /* the op in progress, for the feeder */
  size_t at;
  step steps[MAX_STEPS];
  size_t nsteps;
  int op_done;
  int real_rc; /* the op's code, once done */
} run;

static run *the_run; /* for the failure report */

static void dump_script(const run *r) {
  fprintf(stderr, "script (%zu ops):\n", r->nops);
  for (size_t i = 0; i < r->nops; i++)
    fprintf(stderr, "  %c%zu %s n=%zu len=%zu nseps=%zu\n",
            i == r->at ? '>' : ' ', i, op_names[r->ops[i].kind], r->ops[i].n,
            r->ops[i].len, r->ops[i].nseps);
}

static _Noreturn void mismatch(const char *what, long real, long want) {
  fprintf(stderr, "stream_reader: %s: corio %ld, model %ld\n", what, real,
          want);
  if (the_run)
    dump_script(the_run);
  abort();
}

static void check_eq(const char *what, long real, long want) {
  if (real != want)
    mismatch(what, real, want);
}

static void send_all(int fd, const uint8_t *p, size_t n) {
  while (n) {
    ssize_t k = send(fd, p, n, MSG_NOSIGNAL);

    if (k <= 0)
      mismatch("send to the stream's socket", k < 0 ? -errno : 0, (long)n);
    p += k;
    n -= (size_t)k;
  }
}

/* How wait_buffered knows it is done. */
enum wait_for {
  WAIT_SETTLED, /* no read in progress: the stream holds `want` bytes */
  WAIT_STEP,    /* a waiting read took a chunk in: holds `want`, not done */
  WAIT_DONE     /* the read in progress returned */
};

/* Waits (loop iterations) for what `until` says. */
static void wait_buffered(run *r, size_t want, enum wait_for until) {
  for (int i = 0; i < MAX_YIELDS; i++) {
    if (until == WAIT_DONE && r->op_done)
      return;
    if (until == WAIT_STEP && r->op_done)
      mismatch("read finished before the model's last chunk", r->real_rc, 0);
    if (until != WAIT_DONE && corio_stream_buffered(r->stream) == want)
      return;
    if (corio_sleep(0) < 0)
      mismatch("corio_sleep(0)", -1, 0);
  }
  mismatch(until == WAIT_DONE ? "read never finished" : "bytes never arrived",
           (long)corio_stream_buffered(r->stream), (long)want);
}

static int feeder(void *arg, void **result) {
  run *r = arg;

  (void)result;
  for (size_t i = 0; i < r->nsteps; i++) {
    const step *s = &r->steps[i];
    int last = i + 1 == r->nsteps;

    if (s->kind == STEP_SEND)
      send_all(r->peer, s->data, s->len);
    else if (s->kind == STEP_SEND_EOF && shutdown(r->peer, SHUT_WR) < 0)
      mismatch("shutdown", -errno, 0);
    wait_buffered(r, s->buffered_after, last ? WAIT_DONE : WAIT_STEP);
  }
  return 0;
}

/* The bytes the stream holds must be the model's, and stay so. */
static void settle(run *r) {
  const void *view;
  size_t len;

  model_settle(&r->m);
  wait_buffered(r, r->m.len, WAIT_SETTLED);
  /* Bytes the model holds back in the socket (a paused stream) must stay
   * there: give the loop the chance to take them. A busy loop polls at
   * least once per 64 callbacks (src/loop/loop.c), each yield is one. */
  if (r->m.sock_len)
    for (int i = 0; i < FORCE_POLL_YIELDS; i++)
      (void)corio_sleep(0);
  check_eq("buffered after settling", (long)corio_stream_buffered(r->stream),
           (long)r->m.len);
  if (r->m.len && r->m.len - 1 < r->m.limit) {
    /* peek(len - 1) returns at once: compare the bytes themselves. */
    check_eq("peek", corio_stream_peek(r->stream, r->m.len - 1, &view, &len),
             0);
    check_eq("peek length", (long)len, (long)r->m.len);
    if (memcmp(view, r->m.buf, len) != 0)
      mismatch("buffered bytes differ", 1, 0);
  }
}

static int real_read(run *r, const op *o, read_result *got) {
  const void *view = NULL;
  size_t len = 0;

  memset(got, 0, sizeof *got);
  switch (o->kind) {
  case OP_READ:
  case OP_READ_BIG:
    got->rc = corio_stream_read(r->stream, got->out, o->n, &got->nread);
    got->out_len = got->rc == 0 ? got->nread : 0;
    break;
  case OP_READEXACTLY:
    got->rc = corio_stream_readexactly(r->stream, got->out, o->n, &got->nread);
    got->out_len = got->nread;
    break;
  case OP_READLINE:
    got->rc = corio_stream_readline(r->stream, got->out, o->n, &got->nread);
    got->out_len = got->rc == 0 ? got->nread : 0;
    break;
  case OP_READUNTIL:
    got->rc = corio_stream_readuntil_any(r->stream, o->seps, o->nseps, got->out,
                                         o->n, &got->nread);
    got->out_len =
        got->rc == 0 || got->rc == CORIO_EINCOMPLETEREAD ? got->nread : 0;
    break;
  case OP_READ_ALL:
    got->rc = corio_stream_read_all(r->stream, got->out, o->n, &got->nread);
    got->out_len = got->rc == 0 ? got->nread : 0;
    break;
  case OP_PEEK:
    got->rc = corio_stream_peek(r->stream, o->n, &view, &len);
    got->nread = len;
    if (got->rc == 0 && len) {
      memcpy(got->out, view, len);
      got->out_len = len;
    }
    break;
  default:
    abort();
  }
  return got->rc;
}

static void do_read(run *r) {
  op *o = &r->ops[r->at];
  static read_result want, got;
  corio_task *feed = NULL;

  model_read(&r->m, r->ops, r->nops, r->at, &r->total_sent, r->steps,
             &r->nsteps, &want);
  r->op_done = 0;
  if (r->nsteps && corio_spawn(&feed, feeder, r) < 0)
    mismatch("corio_spawn", -1, 0);
  r->real_rc = real_read(r, o, &got);
  r->op_done = 1;
  if (feed) {
    check_eq("feeder", corio_task_await(feed, NULL), 0);
    corio_task_unref(feed);
  }
  check_eq("code", got.rc, want.rc);
  check_eq("count", (long)got.nread, (long)want.nread);
  check_eq("bytes out", (long)got.out_len, (long)want.out_len);
  if (memcmp(got.out, want.out, got.out_len) != 0)
    mismatch("bytes differ", 1, 0);
  if (o->kind == OP_PEEK && got.rc == 0) {
    /* consume: within what is buffered, or one past it (-EINVAL) */
    size_t n = o->arg2 % (r->m.len + 2);
    int rc = corio_stream_consume(r->stream, n);

    if (n > r->m.len) {
      check_eq("consume past the buffer", rc, -EINVAL);
    } else {
      check_eq("consume", rc, 0);
      model_take(&r->m, &want, n, 0);
    }
  }
}

static void do_op(run *r) {
  op *o = &r->ops[r->at];

  switch (o->kind) {
  case OP_FEED:
    if (o->used || r->m.eof_sent || r->total_sent + o->len > MAX_DATA)
      break;
    o->used = 1;
    r->total_sent += o->len;
    send_all(r->peer, o->data, o->len);
    memcpy(r->m.sock + r->m.sock_len, o->data, o->len);
    r->m.sock_len += o->len;
    break;
  case OP_EOF:
    if (o->used || r->m.eof_sent)
      break;
    o->used = 1;
    if (shutdown(r->peer, SHUT_WR) < 0)
      mismatch("shutdown", -errno, 0);
    r->m.eof_sent = 1;
    break;
  case OP_SET_LIMIT:
    check_eq("set_limit", corio_stream_set_limit(r->stream, o->n), 0);
    r->m.limit = o->n ? o->n : CORIO_STREAM_DEFAULT_LIMIT;
    if (!r->m.reading && !r->m.eof_seen && r->m.len <= r->m.limit)
      r->m.reading = 1;
    check_eq("limit", (long)corio_stream_limit(r->stream), (long)r->m.limit);
    break;
  default:
    do_read(r);
    break;
  }
  settle(r);
}

static int run_script(void *arg, void **result) {
  run *r = arg;
  corio_connect_options opts = {0};
  size_t limit, n;
  int sv[2];
  static uint8_t rest[MAX_DATA];

  (void)result;
  r->nops = parse_script(r->data, r->size, r->ops, &limit);
  memset(&r->m, 0, sizeof r->m);
  r->m.reading = 1;
  r->m.limit = limit ? limit : CORIO_STREAM_DEFAULT_LIMIT;
  r->total_sent = 0;
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
    mismatch("socketpair", -errno, 0);
  opts.limit = limit;
  check_eq("open_fd", corio_stream_open_fd(NULL, sv[0], &opts, &r->stream), 0);
  r->peer = sv[1];
  for (r->at = 0; r->at < r->nops; r->at++)
    do_op(r);
  /* Whatever is left arrives whole: no byte lost or doubled. */
  if (!r->m.eof_sent) {
    if (shutdown(r->peer, SHUT_WR) < 0)
      mismatch("shutdown", -errno, 0);
    r->m.eof_sent = 1;
  }
  check_eq("final read_all",
           corio_stream_read_all(r->stream, rest, sizeof rest, &n), 0);
  check_eq("final length", (long)n, (long)(r->m.len + r->m.sock_len));
  if (memcmp(rest, r->m.buf, r->m.len) != 0 ||
      memcmp(rest + r->m.len, r->m.sock, r->m.sock_len) != 0)
    mismatch("final bytes differ", 1, 0);
  check_eq("at_eof", corio_stream_at_eof(r->stream), 1);
  check_eq("close", corio_stream_close(r->stream), 0);
  check_eq("wait_closed", corio_stream_wait_closed(r->stream), 0);
  corio_stream_unref(r->stream);
  close(r->peer);
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static run r;
  int rc;

  r.data = data;
  r.size = size;
  the_run = &r;
  rc = corio_runner_run(fuzz_runner(), run_script, &r, NULL);
  if (rc != 0)
    mismatch("the script's task", rc, 0);
  the_run = NULL;
  return 0;
}
