/* corio built without TLS (CORIO_TLS=OFF): the TLS API exists and says
 * so (-ENOTSUP), and the stream hooks are never reached (no stream has
 * TLS state). */
#include <errno.h>

#include "corio/task.h"
#include "net/tls_internal.h"

static int not_built(void) {
  return corio_fail(-ENOTSUP, "corio was built without TLS (CORIO_TLS=OFF)");
}

int corio_tls_context_new(corio_tls_role role, corio_tls_context **out) {
  (void)role;
  if (out)
    *out = NULL;
  return not_built();
}

corio_tls_context *corio_tls_context_ref(corio_tls_context *ctx) { return ctx; }

void corio_tls_context_unref(corio_tls_context *ctx) { (void)ctx; }

int corio_tls_context_load_cert_chain(corio_tls_context *ctx,
                                      const char *certfile,
                                      const char *keyfile) {
  (void)ctx, (void)certfile, (void)keyfile;
  return -ENOTSUP;
}

int corio_tls_context_load_verify_locations(corio_tls_context *ctx,
                                            const char *cafile,
                                            const char *capath) {
  (void)ctx, (void)cafile, (void)capath;
  return -ENOTSUP;
}

int corio_tls_context_set_default_verify_paths(corio_tls_context *ctx) {
  (void)ctx;
  return -ENOTSUP;
}

int corio_tls_context_set_verify(corio_tls_context *ctx,
                                 corio_tls_verify mode) {
  (void)ctx, (void)mode;
  return -ENOTSUP;
}

int corio_tls_context_set_check_hostname(corio_tls_context *ctx, int on) {
  (void)ctx, (void)on;
  return -ENOTSUP;
}

int corio_tls_context_set_alpn_protocols(corio_tls_context *ctx,
                                         const char *const *protocols,
                                         size_t n) {
  (void)ctx, (void)protocols, (void)n;
  return -ENOTSUP;
}

int corio_tls_context_set_minimum_version(corio_tls_context *ctx, int version) {
  (void)ctx, (void)version;
  return -ENOTSUP;
}

int corio_tls_context_set_maximum_version(corio_tls_context *ctx, int version) {
  (void)ctx, (void)version;
  return -ENOTSUP;
}

void *corio_tls_context_ssl_ctx(corio_tls_context *ctx) {
  (void)ctx;
  return NULL;
}

int corio_stream_start_tls(corio_stream *stream, corio_tls_context *ctx,
                           const corio_tls_options *options) {
  (void)stream, (void)ctx, (void)options;
  return not_built();
}

int corio_stream_is_tls(const corio_stream *stream) {
  (void)stream;
  return 0;
}

const char *corio_stream_tls_alpn(const corio_stream *stream) {
  (void)stream;
  return NULL;
}

const char *corio_stream_tls_version(const corio_stream *stream) {
  (void)stream;
  return NULL;
}

const char *corio_stream_tls_cipher(const corio_stream *stream) {
  (void)stream;
  return NULL;
}

void *corio_stream_tls_peer_certificate(const corio_stream *stream) {
  (void)stream;
  return NULL;
}

int corio_stream_tls_peer_subject(const corio_stream *stream, char *buf,
                                  size_t size) {
  (void)stream;
  if (buf && size)
    buf[0] = 0;
  return -ENOTSUP;
}

void *corio_stream_tls_ssl(const corio_stream *stream) {
  (void)stream;
  return NULL;
}

/* ---- the hooks: unreachable without TLS state ---------------------------- */

int corio__tls_begin(corio_stream *s, corio_tls_context *ctx,
                     const char *hostname, double handshake_timeout,
                     double shutdown_timeout) {
  (void)s, (void)ctx, (void)hostname, (void)handshake_timeout,
      (void)shutdown_timeout;
  return not_built();
}

int corio__tls_check_options(const corio_tls_context *ctx, corio_tls_role role,
                             double handshake_timeout,
                             double shutdown_timeout) {
  (void)ctx, (void)role, (void)handshake_timeout, (void)shutdown_timeout;
  return not_built();
}

int corio__tls_on_readable(corio_stream *s) {
  (void)s;
  return 0;
}

void corio__tls_received(corio_stream *s, const char *data, size_t n) {
  (void)s, (void)data, (void)n;
}

int corio__tls_writev(corio_stream *s, const struct iovec *iov, int iovcnt) {
  (void)s, (void)iov, (void)iovcnt;
  return -ENOTSUP;
}

int corio__tls_shutdown(corio_stream *s) {
  (void)s;
  return 0;
}

int corio__tls_may_close(const corio_stream *s) {
  (void)s;
  return 1;
}

void corio__tls_closed(corio_stream *s) { (void)s; }

void corio__tls_free(corio_stream *s) { s->tls = NULL; }

void corio__tls_report(const corio_stream *s) { (void)s; }
