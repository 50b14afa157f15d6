/* The read calls: each looks at the bytes the connection has buffered,
 * takes them only once its condition is met, and otherwise waits for the
 * read side to change. Nothing is consumed before a call succeeds (or
 * fails with EOF), so cancelling a read at its suspension loses nothing. */
#include <errno.h>
#include <limits.h>
#include <string.h>

#include "net/stream_internal.h"
#include "net/tls_internal.h"

static const char *buffered(const corio_stream *s) {
  return s->in.data ? s->in.data + s->in.pos : NULL;
}

static void take(corio_stream *s, void *buf, size_t n) {
  if (n && buf)
    memcpy(buf, buffered(s), n);
  s->in.pos += n;
  s->in.len -= n;
  corio__stream_consumed(s);
}

/* The error the connection was lost to (0: none), with its message (a
 * TLS stream's reason, which may have come while nobody was reading). */
static int lost_error(const corio_stream *s) {
  if (s->error)
    corio__tls_report(s);
  return s->error;
}

static void set_count(size_t *nread, size_t n) {
  if (nread)
    *nread = n;
}

/* Another task waits in a read: what is buffered is its, even what would
 * satisfy this call (asyncio refuses a second reader too). */
static int other_reader(const corio_stream *s) { return s->reader != NULL; }

/* The checks read, readexactly and read_all start with. */
static int start_read(const corio_stream *s, const void *buf, size_t n,
                      size_t *nread) {
  set_count(nread, 0);
  if (!s || (!buf && n))
    return -EINVAL;
  return other_reader(s) ? CORIO_EREADBUSY : 0;
}

/* Takes n bytes into buf and says how many. */
static void take_counted(corio_stream *s, void *buf, size_t n, size_t *nread) {
  take(s, buf, n);
  set_count(nread, n);
}

int corio_stream_read(corio_stream *stream, void *buf, size_t n,
                      size_t *nread) {
  int rc;

  if ((rc = start_read(stream, buf, n, nread)) < 0 || n == 0)
    return rc;
  for (;;) {
    if (stream->in.len) {
      take_counted(stream, buf, n < stream->in.len ? n : stream->in.len, nread);
      return 0;
    }
    if (corio__stream_read_ended(stream))
      return lost_error(stream); /* 0: EOF */
    if ((rc = corio__stream_wait_readable(stream)) < 0)
      return rc;
  }
}

int corio_stream_readexactly(corio_stream *stream, void *buf, size_t n,
                             size_t *nread) {
  int rc;

  if ((rc = start_read(stream, buf, n, nread)) < 0)
    return rc;
  for (;;) {
    if (stream->in.len >= n) {
      take_counted(stream, buf, n, nread);
      return 0;
    }
    if (corio__stream_read_ended(stream)) {
      if (stream->error)
        return lost_error(stream); /* the bytes stay for a later read */
      take_counted(stream, buf, stream->in.len, nread);
      return CORIO_EINCOMPLETEREAD;
    }
    if ((rc = corio__stream_wait_readable(stream)) < 0)
      return rc;
  }
}

int corio_stream_read_all(corio_stream *stream, void *buf, size_t cap,
                          size_t *nread) {
  int rc;

  if ((rc = start_read(stream, buf, cap, nread)) < 0)
    return rc;
  for (;;) {
    if (stream->in.len > cap) {
      set_count(nread, stream->in.len);
      return -ENOBUFS;
    }
    if (corio__stream_read_ended(stream)) {
      if (stream->error)
        return lost_error(stream);
      take_counted(stream, buf, stream->in.len, nread);
      return 0;
    }
    if ((rc = corio__stream_wait_readable(stream)) < 0)
      return rc;
  }
}

/* Python 3.13's search: from `offset`, the earliest end of any separator.
 * Returns 1 with the match found, else 0 with *offset moved to where the
 * next search must start (a separator may straddle the data to come). */
static int find_separator(const corio_stream *s, const corio_bytes *seps,
                          size_t nseps, size_t min_len, size_t max_len,
                          size_t *offset, size_t *match_start,
                          size_t *match_end) {
  const char *data = buffered(s);
  size_t len = s->in.len;
  int found = 0;

  if (*offset > len || len - *offset < min_len)
    return 0;
  for (size_t i = 0; i < nseps; i++) {
    const char *p =
        memmem(data + *offset, len - *offset, seps[i].data, seps[i].len);
    size_t start, end;

    if (!p)
      continue;
    start = (size_t)(p - data);
    end = start + seps[i].len;
    if (!found || end < *match_end) {
      *match_start = start;
      *match_end = end;
      found = 1;
    }
  }
  if (!found)
    *offset = len + 1 > max_len ? len + 1 - max_len : 0;
  return found;
}

int corio_stream_readuntil_any(corio_stream *stream, const corio_bytes *seps,
                               size_t nseps, void *buf, size_t cap,
                               size_t *nread) {
  size_t min_len = (size_t)-1, max_len = 0, offset = 0;
  size_t match_start = 0, match_end = 0;
  int rc;

  set_count(nread, 0);
  if (!stream || !seps || nseps == 0 || (!buf && cap))
    return -EINVAL;
  if (other_reader(stream))
    return CORIO_EREADBUSY;
  for (size_t i = 0; i < nseps; i++) {
    if (!seps[i].data || seps[i].len == 0)
      return -EINVAL; /* asyncio: a separator must not be empty */
    if (seps[i].len < min_len)
      min_len = seps[i].len;
    if (seps[i].len > max_len)
      max_len = seps[i].len;
  }
  for (;;) {
    if (find_separator(stream, seps, nseps, min_len, max_len, &offset,
                       &match_start, &match_end))
      break;
    if (offset > stream->limit) {
      set_count(nread, offset);
      return CORIO_ELIMITOVERRUN;
    }
    if (corio__stream_read_ended(stream)) {
      size_t got = stream->in.len;

      if (stream->error)
        return lost_error(stream);
      if (got > cap) { /* the rest does not fit: nothing taken */
        set_count(nread, got);
        return -ENOBUFS;
      }
      take_counted(stream, buf, got, nread);
      return CORIO_EINCOMPLETEREAD;
    }
    if ((rc = corio__stream_wait_readable(stream)) < 0)
      return rc;
  }
  if (match_start > stream->limit) {
    set_count(nread, match_start);
    return CORIO_ELIMITOVERRUN;
  }
  if (match_end > cap) {
    set_count(nread, match_end);
    return -ENOBUFS;
  }
  take_counted(stream, buf, match_end, nread);
  return 0;
}

int corio_stream_readuntil(corio_stream *stream, const void *sep,
                           size_t sep_len, void *buf, size_t cap,
                           size_t *nread) {
  corio_bytes one = {sep, sep_len};

  return corio_stream_readuntil_any(stream, &one, 1, buf, cap, nread);
}

int corio_stream_readline(corio_stream *stream, void *buf, size_t cap,
                          size_t *nread) {
  corio_bytes nl = {"\n", 1};
  size_t n = 0;
  int rc = corio_stream_readuntil_any(stream, &nl, 1, buf, cap, &n);

  set_count(nread, n);
  if (rc == CORIO_EINCOMPLETEREAD)
    return 0; /* the last line, without its newline (0 bytes: EOF) */
  if (rc == CORIO_ELIMITOVERRUN) {
    /* asyncio drops the overlong line: up to its newline if that was
     * seen, else everything buffered. */
    if (n < stream->in.len && buffered(stream)[n] == '\n')
      take(stream, NULL, n + 1);
    else
      take(stream, NULL, stream->in.len);
    set_count(nread, 0);
  }
  return rc;
}

int corio_stream_peek(corio_stream *stream, size_t have, const void **data,
                      size_t *len) {
  int rc;

  if (len)
    *len = 0;
  if (!stream || !data || !len)
    return -EINVAL;
  *data = NULL;
  if (other_reader(stream))
    return CORIO_EREADBUSY;
  if (have >= stream->limit)
    return CORIO_ELIMITOVERRUN;
  for (;;) {
    if (stream->in.len > have || corio__stream_read_ended(stream)) {
      if (stream->in.len <= have && stream->error)
        return lost_error(stream);
      *data = stream->in.len ? buffered(stream) : NULL;
      *len = stream->in.len;
      return 0;
    }
    if ((rc = corio__stream_wait_readable(stream)) < 0)
      return rc;
  }
}

int corio_stream_consume(corio_stream *stream, size_t n) {
  if (!stream || n > stream->in.len)
    return -EINVAL;
  if (other_reader(stream))
    return CORIO_EREADBUSY;
  take(stream, NULL, n);
  return 0;
}

size_t corio_stream_buffered(const corio_stream *stream) {
  return stream ? stream->in.len : 0;
}

int corio_stream_at_eof(const corio_stream *stream) {
  return stream && stream->in.len == 0 && stream->eof;
}

size_t corio_stream_limit(const corio_stream *stream) {
  return stream ? stream->limit : 0;
}

int corio_stream_set_limit(corio_stream *stream, size_t limit) {
  if (!stream)
    return -EINVAL;
  stream->limit = limit ? limit : CORIO_STREAM_DEFAULT_LIMIT;
  corio__stream_consumed(stream);
  return 0;
}
