/* A TLS stream: OpenSSL over a BIO of corio's own, so the loop owns the
 * fd and OpenSSL never blocks. The socket's bytes (ciphertext) land in
 * `cin` on the readable callback; SSL_read turns them into plaintext in
 * the stream's `in`, where the read calls of stream_read.c find them, so
 * a cancelled reader loses nothing. SSL_write's records go through the
 * plain send path (straight to the socket when nothing is queued), so
 * drain and the water marks count ciphertext. The handshake runs in the
 * task that asked for it, waiting as a reader does. */
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "core/alloc.h"
#include "core/fault.h"
#include "core/sys_net.h"
#include "corio/combine.h"
#include "corio/task.h"
#include "net/tls_internal.h"

/* Room for one whole record and then some: after each pump what is left
 * in cin is less than a record, so a read always has space. */
enum { CIN_CAP = 40 * 1024 };

enum tls_state {
  TLS_HANDSHAKE, /* the handshake runs */
  TLS_OPEN,      /* application data flows */
  TLS_SHUTDOWN,  /* close_notify sent, waiting for the peer's */
  TLS_DONE       /* the fd is closed */
};

typedef struct corio__tls {
  SSL *ssl;
  corio_tls_context *ctx;
  enum tls_state state;
  unsigned raw_eof : 1;   /* the socket read EOF */
  unsigned peer_done : 1; /* close_notify or EOF seen while shutting down */
  char *cin;              /* ciphertext from the socket, [cin_pos, +cin_len) */
  size_t cin_pos, cin_len, cin_cap;
  double shutdown_timeout;
  corio_handle *shutdown_timer;
  char alpn[256];
  char message[256]; /* the last failure's text, for the reader */
} corio__tls;

/* ---- the BIO ------------------------------------------------------------- */

static BIO_METHOD *bio_method;
static pthread_once_t bio_once = PTHREAD_ONCE_INIT;

static int bio_write(BIO *bio, const char *data, int len) {
  corio_stream *s = BIO_get_data(bio);

  BIO_clear_retry_flags(bio);
  if (s->closed || s->error || len < 0)
    return -1;
  /* Everything is taken: what the kernel refuses waits in `out`. */
  if (corio__stream_send_raw(s, data, (size_t)len) < 0)
    return -1;
  return len;
}

static int bio_read(BIO *bio, char *buf, int len) {
  corio_stream *s = BIO_get_data(bio);
  corio__tls *t = s->tls;
  size_t n;

  BIO_clear_retry_flags(bio);
  if (len <= 0)
    return 0;
  if (t->cin_len == 0) {
    if (t->raw_eof || s->closed)
      return 0; /* EOF */
    BIO_set_retry_read(bio);
    return -1;
  }
  n = t->cin_len < (size_t)len ? t->cin_len : (size_t)len;
  memcpy(buf, t->cin + t->cin_pos, n);
  t->cin_pos += n;
  t->cin_len -= n;
  if (t->cin_len == 0)
    t->cin_pos = 0;
  return (int)n;
}

static long bio_ctrl(BIO *bio, int cmd, long num, void *ptr) {
  (void)bio, (void)num, (void)ptr;
  return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

static int bio_create(BIO *bio) {
  BIO_set_init(bio, 1);
  return 1;
}

static void make_bio_method(void) {
  BIO_METHOD *m =
      BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "corio stream");

  if (!m)
    return;
  if (!BIO_meth_set_write(m, bio_write) || !BIO_meth_set_read(m, bio_read) ||
      !BIO_meth_set_ctrl(m, bio_ctrl) || !BIO_meth_set_create(m, bio_create)) {
    BIO_meth_free(m);
    return;
  }
  bio_method = m;
}

/* ---- failures ------------------------------------------------------------ */

/* Records the failure of an SSL call as the stream's (message included)
 * and returns its code. */
static int ssl_failure(corio_stream *s, int ret, int generic) {
  corio__tls *t = s->tls;
  int err = SSL_get_error(t->ssl, ret);

  if (s->error) {
    /* The socket failed under the BIO: that is the cause. */
    ERR_clear_error();
    return s->error;
  }
  if (s->closed) {
    ERR_clear_error();
    return CORIO_ESTREAMCLOSED; /* aborted meanwhile */
  }
  return corio__tls_error(t->ssl, err, generic, t->message, sizeof t->message);
}

void corio__tls_report(const corio_stream *s) {
  if (s->tls && s->tls->message[0])
    (void)corio_fail(s->error, "%s", s->tls->message);
}

/* A failure on the readable path: the connection goes, the reader is
 * told (with the message). */
static void fail_stream(corio_stream *s, int code) {
  corio__stream_lost(s, code);
}

/* ---- reading ------------------------------------------------------------- */

/* Decrypts everything cin holds into `in`. Stops at a record that is not
 * whole yet; marks EOF on close_notify or on the socket's EOF (a ragged
 * EOF counts as EOF for application data, as asyncio's). */
static void pump(corio_stream *s) {
  corio__tls *t = s->tls;
  stream_buf *b = &s->in;

  for (;;) {
    size_t n = 0;
    int ret, err;

    if (corio__stream_read_room(s) < 0) {
      fail_stream(s, -ENOMEM);
      return;
    }
    ERR_clear_error();
    ret = SSL_read_ex(t->ssl, b->data + b->pos + b->len,
                      b->cap - b->pos - b->len, &n);
    if (ret == 1) {
      b->len += n;
      continue;
    }
    err = SSL_get_error(t->ssl, ret);
    if (err == SSL_ERROR_WANT_READ)
      break;
    if (err == SSL_ERROR_ZERO_RETURN ||
        (t->raw_eof && t->cin_len == 0 &&
         ERR_GET_REASON(ERR_peek_error()) ==
             SSL_R_UNEXPECTED_EOF_WHILE_READING)) {
      ERR_clear_error();
      s->eof = 1;
      corio__stream_stop_reading(s);
      break;
    }
    if (t->raw_eof && err == SSL_ERROR_SYSCALL && ERR_peek_error() == 0) {
      s->eof = 1;
      corio__stream_stop_reading(s);
      break;
    }
    fail_stream(s, ssl_failure(s, ret, CORIO_ETLS));
    return;
  }
  if (b->len == 0 && b->data)
    corio__stream_release_in(s);
}

/* While shutting down: application data is dropped, the peer's
 * close_notify (or EOF, or an error) ends the wait. */
static void pump_shutdown(corio_stream *s) {
  corio__tls *t = s->tls;
  char sink[4096];

  for (;;) {
    size_t n;
    int ret;

    ERR_clear_error();
    ret = SSL_read_ex(t->ssl, sink, sizeof sink, &n);
    if (ret == 1)
      continue;
    if (SSL_get_error(t->ssl, ret) != SSL_ERROR_WANT_READ || t->raw_eof)
      t->peer_done = 1;
    ERR_clear_error();
    break;
  }
  if (t->peer_done) {
    corio__stream_stop_reading(s);
    if (corio__stream_pending(s) == 0)
      corio__stream_force_close(s);
  }
}

/* Room for `need` more bytes of ciphertext at the end of cin. A read
 * from the socket asks for little and takes what fits; bytes that came
 * through the io_uring path have left the kernel already, so cin grows
 * for them (reading pauses above the limit, which bounds it). */
static int cin_room(corio__tls *t, size_t need) {
  size_t cap;
  char *bigger;

  if (!t->cin) {
    cap = need > CIN_CAP ? need : CIN_CAP;
    if (!(t->cin = corio__alloc(cap)))
      return -ENOMEM;
    t->cin_cap = cap;
    t->cin_pos = t->cin_len = 0;
  }
  if (t->cin_pos && (t->cin_pos + t->cin_len > t->cin_cap / 2 ||
                     t->cin_cap - t->cin_pos - t->cin_len < need)) {
    memmove(t->cin, t->cin + t->cin_pos, t->cin_len);
    t->cin_pos = 0;
  }
  if (t->cin_cap - t->cin_len >= need)
    return 0;
  cap = t->cin_cap * 2 > t->cin_len + need ? t->cin_cap * 2 : t->cin_len + need;
  if (!(bigger = corio__alloc(cap)))
    return -ENOMEM;
  memcpy(bigger, t->cin, t->cin_len);
  corio__free(t->cin, t->cin_cap);
  t->cin = bigger;
  t->cin_cap = cap;
  return 0;
}

/* n bytes of ciphertext were added to cin (0: the socket's EOF). */
static void took_ciphertext(corio_stream *s, size_t n) {
  corio__tls *t = s->tls;
  size_t before = s->in.len;

  if (n == 0) {
    t->raw_eof = 1;
    corio__stream_stop_reading(s);
  }
  t->cin_len += n;
  switch (t->state) {
  case TLS_HANDSHAKE:
    corio__stream_wake_reader(s, 1); /* the handshake's task drives */
    return;
  case TLS_SHUTDOWN:
    pump_shutdown(s);
    return;
  case TLS_OPEN:
    break;
  default:
    return;
  }
  pump(s);
  if (s->closed) /* failed: force_close woke the reader */
    return;
  /* Pause above twice the limit, unless a reader waits for more. */
  if (corio__stream_above_read_mark(s) && !s->reader)
    corio__stream_stop_reading(s);
  if (s->in.len > before || s->eof)
    corio__stream_wake_reader(s, 1);
}

int corio__tls_on_readable(corio_stream *s) {
  corio__tls *t = s->tls;
  ssize_t n;

  if (s->closed || !s->reading)
    return 0;
  if (cin_room(t, 1) < 0) {
    fail_stream(s, -ENOMEM);
    return 0;
  }
  n = corio__sys_recv(s->fd, t->cin + t->cin_pos + t->cin_len,
                      t->cin_cap - t->cin_pos - t->cin_len);
  if (n == -EAGAIN || n == -EWOULDBLOCK)
    return 0;
  if (n < 0) {
    fail_stream(s, (int)n);
    return 0;
  }
  took_ciphertext(s, (size_t)n);
  return 0;
}

void corio__tls_received(corio_stream *s, const char *data, size_t n) {
  corio__tls *t = s->tls;

  if (s->closed || (n == 0 && t->raw_eof))
    return;
  if (n && cin_room(t, n) < 0) {
    fail_stream(s, -ENOMEM);
    return;
  }
  if (n)
    memcpy(t->cin + t->cin_pos + t->cin_len, data, n);
  took_ciphertext(s, n);
}

/* ---- writing ------------------------------------------------------------- */

/* One SSL_write of the whole buffer (the BIO takes everything). A
 * failure loses the connection: 0 or its code, message attached. */
static int write_records(corio_stream *s, const void *data, size_t len) {
  corio__tls *t = s->tls;
  size_t done = 0;
  int ret, rc;

  ERR_clear_error();
  ret = SSL_write_ex(t->ssl, data, len, &done);
  if (ret == 1)
    return 0;
  rc = ssl_failure(s, ret, CORIO_ETLS);
  if (!s->closed)
    corio__stream_lost(s, rc);
  if (t->message[0])
    (void)corio_fail(rc, "%s", t->message);
  return rc;
}

/* Buffers shorter than a full record are copied together first, into a
 * buffer of the loop's pool, so that many small buffers make a few full
 * records (and sends) instead of one record each. Larger ones are
 * encrypted where they are. */
enum { RECORD_MAX = 16384, STAGE_CAP = CORIO__NET_READ_CHUNK };

int corio__tls_writev(corio_stream *s, const struct iovec *iov, int iovcnt) {
  corio__tls *t = s->tls;
  char *stage = NULL;
  size_t staged = 0;
  int rc = 0;

  if (t->state != TLS_OPEN)
    return t->state == TLS_HANDSHAKE ? -ENOTCONN : CORIO_ESTREAMCLOSED;
  if (iovcnt == 1)
    return write_records(s, iov[0].iov_base, iov[0].iov_len);
  for (int i = 0; i < iovcnt && rc == 0; i++) {
    size_t len = iov[i].iov_len;

    if (len == 0)
      continue;
    /* No staging buffer to be had: each buffer on its own, as is. */
    if (len < RECORD_MAX && !stage)
      stage = corio__net_buffer_take(s->net);
    if (len < RECORD_MAX && stage) {
      if (staged + len > STAGE_CAP) {
        rc = write_records(s, stage, staged);
        staged = 0;
        if (rc < 0)
          break;
      }
      memcpy(stage + staged, iov[i].iov_base, len);
      staged += len;
      continue;
    }
    if (staged) {
      rc = write_records(s, stage, staged);
      staged = 0;
      if (rc < 0)
        break;
    }
    rc = write_records(s, iov[i].iov_base, len);
  }
  if (rc == 0 && staged)
    rc = write_records(s, stage, staged);
  if (stage)
    corio__net_buffer_give(s->net, stage);
  return rc;
}

/* ---- closing ------------------------------------------------------------- */

static int on_shutdown_timeout(void *arg) {
  corio_stream *s = arg;

  corio_handle_unref(s->tls->shutdown_timer);
  s->tls->shutdown_timer = NULL;
  /* The peer did not answer (or does not read): close at once. */
  corio__stream_force_close(s);
  return 0;
}

int corio__tls_shutdown(corio_stream *s) {
  corio__tls *t = s->tls;

  if (t->state != TLS_OPEN || s->error || s->closed) {
    if (t->state != TLS_DONE)
      t->state = TLS_SHUTDOWN;
    t->peer_done = 1;
    return 0;
  }
  t->state = TLS_SHUTDOWN;
  ERR_clear_error();
  (void)SSL_shutdown(t->ssl); /* queues close_notify */
  ERR_clear_error();
  if (s->closed)
    return 0;
  if (s->eof || t->raw_eof) {
    t->peer_done = 1;
    return 0;
  }
  if (!isinf(t->shutdown_timeout) &&
      corio_loop_call_later(s->loop, t->shutdown_timeout, on_shutdown_timeout,
                            s, &t->shutdown_timer) < 0) {
    t->shutdown_timer = NULL;
    t->peer_done = 1; /* no timer, no waiting */
    return 0;
  }
  if (corio__stream_start_reading(s) < 0) {
    t->peer_done = 1;
    return 0;
  }
  /* What arrived already may hold the close_notify. */
  if (t->cin_len)
    pump_shutdown(s);
  return 1;
}

int corio__tls_may_close(const corio_stream *s) {
  return s->tls->state != TLS_SHUTDOWN || s->tls->peer_done;
}

void corio__tls_closed(corio_stream *s) {
  corio__tls *t = s->tls;

  t->state = TLS_DONE;
  if (t->shutdown_timer) {
    corio_handle_cancel(t->shutdown_timer);
    corio_handle_unref(t->shutdown_timer);
    t->shutdown_timer = NULL;
  }
  if (t->cin) {
    corio__free(t->cin, t->cin_cap);
    t->cin = NULL;
    t->cin_len = t->cin_pos = 0;
  }
}

void corio__tls_free(corio_stream *s) {
  corio__tls *t = s->tls;

  if (t->shutdown_timer) {
    corio_handle_cancel(t->shutdown_timer);
    corio_handle_unref(t->shutdown_timer);
  }
  if (t->cin)
    corio__free(t->cin, t->cin_cap);
  if (t->ssl)
    SSL_free(t->ssl); /* and its BIO */
  if (t->ctx)
    corio_tls_context_unref(t->ctx);
  corio__free(t, sizeof *t);
  s->tls = NULL;
}

/* ---- the handshake ------------------------------------------------------- */

static int is_ip_address(const char *host) {
  unsigned char buf[16];

  return inet_pton(AF_INET, host, buf) == 1 ||
         inet_pton(AF_INET6, host, buf) == 1;
}

/* The SSL object and its BIO, SNI and the hostname check. */
static int make_ssl(corio_stream *s, corio__tls *t, const char *hostname) {
  corio_tls_context *ctx = t->ctx;
  BIO *bio;
  int rc;

  if ((rc = corio__tls_context_prepare(ctx)) < 0)
    return rc;
  if (corio__fault_hit(CORIO__FAULT_TLS) || !(t->ssl = SSL_new(ctx->ssl_ctx)))
    return corio__tls_fail("SSL_new");
  pthread_once(&bio_once, make_bio_method);
  if (!bio_method || corio__fault_hit(CORIO__FAULT_TLS) ||
      !(bio = BIO_new(bio_method)))
    return corio__tls_fail("BIO_new");
  BIO_set_data(bio, s);
  SSL_set_bio(t->ssl, bio, bio);
  if (ctx->role == CORIO_TLS_SERVER) {
    SSL_set_accept_state(t->ssl);
    return 0;
  }
  SSL_set_connect_state(t->ssl);
  if (!hostname)
    return 0;
  if (is_ip_address(hostname)) {
    /* No SNI for an address (RFC 6066 §3); the check matches its IP. */
    if (ctx->check_hostname &&
        !X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(t->ssl), hostname))
      return corio__tls_fail("X509_VERIFY_PARAM_set1_ip_asc");
    return 0;
  }
  /* The macro casts the name to void * (OpenSSL only reads it). */
  if (!SSL_set_tlsext_host_name(t->ssl, (char *)(uintptr_t)hostname))
    return corio__tls_fail("SSL_set_tlsext_host_name");
  if (ctx->check_hostname && !SSL_set1_host(t->ssl, hostname))
    return corio__tls_fail("SSL_set1_host");
  return 0;
}

static int handshake_steps(corio_stream *s) {
  corio__tls *t = s->tls;

  for (;;) {
    int ret, err, rc;

    ERR_clear_error();
    ret = SSL_do_handshake(t->ssl);
    if (ret == 1)
      return 0;
    err = SSL_get_error(t->ssl, ret);
    if (err != SSL_ERROR_WANT_READ)
      return ssl_failure(s, ret, CORIO_ETLSHANDSHAKE);
    if (s->error)
      return s->error;
    /* Closed or closing (a server's close_clients) under the handshake. */
    if (s->closed || s->closing)
      return CORIO_ESTREAMCLOSED;
    if ((rc = corio__stream_wait_readable(s)) < 0)
      return rc;
  }
}

static void record_alpn(corio__tls *t) {
  const unsigned char *p = NULL;
  unsigned len = 0;

  SSL_get0_alpn_selected(t->ssl, &p, &len);
  if (p && len < sizeof t->alpn) {
    memcpy(t->alpn, p, len);
    t->alpn[len] = 0;
  }
}

static double timeout_or(double value, double fallback) {
  return value == 0 ? fallback : value;
}

int corio__tls_begin(corio_stream *s, corio_tls_context *ctx,
                     const char *hostname, double handshake_timeout,
                     double shutdown_timeout) {
  corio_timeout scope;
  corio__tls *t;
  int rc;

  handshake_timeout =
      timeout_or(handshake_timeout, CORIO__TLS_HANDSHAKE_TIMEOUT);
  shutdown_timeout = timeout_or(shutdown_timeout, CORIO__TLS_SHUTDOWN_TIMEOUT);
  if (!ctx || isnan(handshake_timeout) || handshake_timeout < 0 ||
      isnan(shutdown_timeout) || shutdown_timeout < 0 || s->tls)
    return -EINVAL;
  if (ctx->role == CORIO_TLS_CLIENT && ctx->check_hostname &&
      ctx->verify != CORIO_TLS_VERIFY_NONE && !hostname)
    return corio_fail(-EINVAL, "server_hostname is needed to check the "
                               "server's certificate");
  t = corio__calloc(sizeof *t);
  if (!t)
    return -ENOMEM;
  t->ctx = corio_tls_context_ref(ctx);
  t->shutdown_timeout = shutdown_timeout;
  t->state = TLS_HANDSHAKE;
  s->tls = t;
  s->can_write_eof = 0;
  if ((rc = make_ssl(s, t, hostname)) < 0)
    return rc;
  /* Bytes buffered but unread are the peer's first TLS bytes. */
  if (s->in.len) {
    if (s->in.len > CIN_CAP)
      return -EPROTO;
    if (cin_room(t, s->in.len) < 0)
      return -ENOMEM;
    memcpy(t->cin, s->in.data + s->in.pos, s->in.len);
    t->cin_len = s->in.len;
    s->in.pos += s->in.len;
    s->in.len = 0;
    corio__stream_release_in(s);
  }
  if (s->eof)
    t->raw_eof = 1;
  s->eof = 0;
  if (isinf(handshake_timeout)) {
    rc = handshake_steps(s);
  } else if ((rc = corio_timeout_enter(&scope, handshake_timeout)) == 0) {
    rc = corio_timeout_exit(&scope, handshake_steps(s));
  }
  if (rc == -ETIMEDOUT)
    snprintf(t->message, sizeof t->message,
             "TLS handshake timed out after %g s", handshake_timeout);
  if (rc < 0) {
    if (rc != -ECANCELED && t->message[0])
      (void)corio_fail(rc, "%s", t->message);
    return rc;
  }
  if (s->closed)
    return s->error ? s->error : CORIO_ESTREAMCLOSED;
  t->message[0] = 0;
  t->state = TLS_OPEN;
  record_alpn(t);
  /* Application data may have come with the last handshake bytes: still
   * in cin, or already in OpenSSL's buffer (read-ahead), where no socket
   * event would ever fetch it. */
  if (t->cin_len || t->raw_eof || SSL_has_pending(t->ssl))
    pump(s);
  if (s->error) {
    corio__tls_report(s);
    return s->error;
  }
  return 0;
}

int corio_stream_start_tls(corio_stream *stream, corio_tls_context *ctx,
                           const corio_tls_options *options) {
  static const corio_tls_options defaults;
  int rc;

  if (!stream || !ctx)
    return -EINVAL;
  if (!options)
    options = &defaults;
  if (stream->tls || !stream->is_socket)
    return -EINVAL;
  if (!corio__wait_self())
    return CORIO_ENOTASK;
  if (stream->closing || stream->closed)
    return CORIO_ESTREAMCLOSED;
  if (stream->error)
    return stream->error;
  if (stream->reader)
    return CORIO_EREADBUSY;
  rc = corio__tls_begin(stream, ctx, options->server_hostname,
                        options->handshake_timeout, options->shutdown_timeout);
  /* Refused before the stream became TLS (bad options, no memory): it is
   * left as it was, still plain and usable. */
  if (rc < 0 && stream->tls) {
    stream->tls->state = TLS_DONE;
    (void)corio_stream_abort(stream);
  }
  return rc;
}

/* ---- get_extra_info ------------------------------------------------------ */

static SSL *ssl_of(const corio_stream *s) {
  return s && s->tls && s->tls->state != TLS_HANDSHAKE ? s->tls->ssl : NULL;
}

int corio_stream_is_tls(const corio_stream *stream) {
  return stream && stream->tls;
}

const char *corio_stream_tls_alpn(const corio_stream *stream) {
  return ssl_of(stream) && stream->tls->alpn[0] ? stream->tls->alpn : NULL;
}

const char *corio_stream_tls_version(const corio_stream *stream) {
  SSL *ssl = ssl_of(stream);

  return ssl ? SSL_get_version(ssl) : NULL;
}

const char *corio_stream_tls_cipher(const corio_stream *stream) {
  SSL *ssl = ssl_of(stream);

  return ssl ? SSL_get_cipher_name(ssl) : NULL;
}

void *corio_stream_tls_peer_certificate(const corio_stream *stream) {
  SSL *ssl = ssl_of(stream);

  return ssl ? SSL_get0_peer_certificate(ssl) : NULL;
}

int corio_stream_tls_peer_subject(const corio_stream *stream, char *buf,
                                  size_t size) {
  X509 *cert = corio_stream_tls_peer_certificate(stream);
  BIO *mem;
  char *text;
  long len;
  int rc = 0;

  if (!stream || !buf || size == 0)
    return -EINVAL;
  buf[0] = 0;
  if (!cert)
    return -ENOENT;
  if (corio__fault_hit(CORIO__FAULT_TLS) || !(mem = BIO_new(BIO_s_mem())))
    return -ENOMEM;
  (void)X509_NAME_print_ex(mem, X509_get_subject_name(cert), 0,
                           XN_FLAG_RFC2253);
  len = BIO_get_mem_data(mem, &text);
  if (len < 0 || (size_t)len >= size)
    rc = -ENOBUFS;
  else {
    memcpy(buf, text, (size_t)len);
    buf[len] = 0;
  }
  BIO_free(mem);
  return rc;
}

void *corio_stream_tls_ssl(const corio_stream *stream) {
  return stream && stream->tls ? stream->tls->ssl : NULL;
}
