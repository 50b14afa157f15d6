/* TLS contexts: an SSL_CTX with corio's defaults (Python's
 * create_default_context for clients), shared by reference between the
 * connections that use it. */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <string.h>

#include <openssl/err.h>

#include "core/alloc.h"
#include "core/fault.h"
#include "net/tls_internal.h"

/* The most bytes of protocol names (with their length bytes) ALPN's
 * extension can carry. */
enum { ALPN_LIST_MAX = 65535 - 2 };

int corio_tls_context_new(corio_tls_role role, corio_tls_context **out) {
  corio_tls_context *ctx;
  SSL_CTX *ssl_ctx = NULL;

  if (!out)
    return -EINVAL;
  *out = NULL;
  if (role != CORIO_TLS_CLIENT && role != CORIO_TLS_SERVER)
    return -EINVAL;
  ctx = corio__calloc(sizeof *ctx);
  if (!ctx)
    return -ENOMEM;
  ERR_clear_error();
  if (corio__fault_hit(CORIO__FAULT_TLS) ||
      !(ssl_ctx = SSL_CTX_new(role == CORIO_TLS_CLIENT ? TLS_client_method()
                                                       : TLS_server_method())))
    goto fail;
  ctx->refs = 1;
  ctx->role = role;
  ctx->ssl_ctx = ssl_ctx;
  SSL_CTX_set_options(ssl_ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
                                   SSL_OP_CIPHER_SERVER_PREFERENCE);
  if (!SSL_CTX_set_min_proto_version(ssl_ctx, TLS1_2_VERSION))
    goto fail;
  if (role == CORIO_TLS_CLIENT) {
    ctx->verify = CORIO_TLS_VERIFY_REQUIRED;
    ctx->check_hostname = 1;
    SSL_CTX_set_verify(ssl_ctx, SSL_VERIFY_PEER, NULL);
  } else {
    ctx->verify = CORIO_TLS_VERIFY_NONE;
    SSL_CTX_set_verify(ssl_ctx, SSL_VERIFY_NONE, NULL);
  }
  *out = ctx;
  return 0;
fail:
  if (ssl_ctx)
    SSL_CTX_free(ssl_ctx);
  corio__free(ctx, sizeof *ctx);
  return corio__tls_fail("SSL_CTX_new");
}

corio_tls_context *corio_tls_context_ref(corio_tls_context *ctx) {
  if (ctx)
    ctx->refs++;
  return ctx;
}

void corio_tls_context_unref(corio_tls_context *ctx) {
  if (!ctx || --ctx->refs > 0)
    return;
  SSL_CTX_free(ctx->ssl_ctx);
  if (ctx->alpn)
    corio__free(ctx->alpn, ctx->alpn_len);
  corio__free(ctx, sizeof *ctx);
}

int corio_tls_context_load_cert_chain(corio_tls_context *ctx,
                                      const char *certfile,
                                      const char *keyfile) {
  if (!ctx || !certfile)
    return -EINVAL;
  if (!keyfile)
    keyfile = certfile;
  ERR_clear_error();
  if (SSL_CTX_use_certificate_chain_file(ctx->ssl_ctx, certfile) != 1)
    return corio__tls_fail(certfile);
  if (SSL_CTX_use_PrivateKey_file(ctx->ssl_ctx, keyfile, SSL_FILETYPE_PEM) != 1)
    return corio__tls_fail(keyfile);
  if (SSL_CTX_check_private_key(ctx->ssl_ctx) != 1)
    return corio__tls_fail(keyfile);
  return 0;
}

int corio_tls_context_load_verify_locations(corio_tls_context *ctx,
                                            const char *cafile,
                                            const char *capath) {
  if (!ctx || (!cafile && !capath))
    return -EINVAL;
  ERR_clear_error();
  if (SSL_CTX_load_verify_locations(ctx->ssl_ctx, cafile, capath) != 1)
    return corio__tls_fail(cafile ? cafile : capath);
  ctx->cas_loaded = 1;
  return 0;
}

int corio_tls_context_set_default_verify_paths(corio_tls_context *ctx) {
  if (!ctx)
    return -EINVAL;
  ERR_clear_error();
  if (SSL_CTX_set_default_verify_paths(ctx->ssl_ctx) != 1)
    return corio__tls_fail("the system's CA store");
  ctx->cas_loaded = 1;
  return 0;
}

/* Contexts may be shared by loops on several threads: the store is
 * loaded once. */
static pthread_mutex_t prepare_lock = PTHREAD_MUTEX_INITIALIZER;

int corio__tls_context_prepare(corio_tls_context *ctx) {
  int rc = 0;

  if (ctx->cas_loaded || ctx->role != CORIO_TLS_CLIENT ||
      ctx->verify == CORIO_TLS_VERIFY_NONE)
    return 0;
  pthread_mutex_lock(&prepare_lock);
  if (!ctx->cas_loaded) {
    ERR_clear_error();
    if (SSL_CTX_set_default_verify_paths(ctx->ssl_ctx) == 1)
      ctx->cas_loaded = 1;
    else
      rc = corio__tls_fail("the system's CA store");
  }
  pthread_mutex_unlock(&prepare_lock);
  return rc;
}

int corio_tls_context_set_verify(corio_tls_context *ctx,
                                 corio_tls_verify mode) {
  int flags = SSL_VERIFY_NONE;

  if (!ctx || mode < CORIO_TLS_VERIFY_NONE || mode > CORIO_TLS_VERIFY_REQUIRED)
    return -EINVAL;
  /* Python's rule: the hostname check needs verification. */
  if (mode == CORIO_TLS_VERIFY_NONE && ctx->check_hostname)
    return -EINVAL;
  if (mode != CORIO_TLS_VERIFY_NONE)
    flags = SSL_VERIFY_PEER;
  if (mode == CORIO_TLS_VERIFY_REQUIRED && ctx->role == CORIO_TLS_SERVER)
    flags |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
  SSL_CTX_set_verify(ctx->ssl_ctx, flags, NULL);
  ctx->verify = mode;
  return 0;
}

int corio_tls_context_set_check_hostname(corio_tls_context *ctx, int on) {
  if (!ctx)
    return -EINVAL;
  if (on && ctx->verify == CORIO_TLS_VERIFY_NONE)
    return -EINVAL;
  ctx->check_hostname = on != 0;
  return 0;
}

/* A server picks its own first protocol that the client offers too (as
 * Python's); none in common: no ALPN, the handshake goes on. */
static int select_alpn(SSL *ssl, const unsigned char **out,
                       unsigned char *outlen, const unsigned char *in,
                       unsigned inlen, void *arg) {
  corio_tls_context *ctx = arg;
  unsigned char *chosen = NULL;

  (void)ssl;
  if (!ctx->alpn)
    return SSL_TLSEXT_ERR_NOACK;
  if (SSL_select_next_proto(&chosen, outlen, ctx->alpn, (unsigned)ctx->alpn_len,
                            in, inlen) != OPENSSL_NPN_NEGOTIATED)
    return SSL_TLSEXT_ERR_NOACK;
  *out = chosen;
  return SSL_TLSEXT_ERR_OK;
}

int corio_tls_context_set_alpn_protocols(corio_tls_context *ctx,
                                         const char *const *protocols,
                                         size_t n) {
  unsigned char *wire = NULL;
  size_t len = 0, pos = 0;

  if (!ctx || (n && !protocols))
    return -EINVAL;
  for (size_t i = 0; i < n; i++) {
    size_t one = protocols[i] ? strlen(protocols[i]) : 0;

    if (one == 0 || one > 255)
      return -EINVAL;
    len += 1 + one;
  }
  /* RFC 7301: the list sits in an extension of at most 2^16 - 1 bytes,
   * after its own 2-byte length. A longer one would fail every
   * handshake, so it is refused here. */
  if (len > ALPN_LIST_MAX)
    return -EINVAL;
  if (len && !(wire = corio__alloc(len)))
    return -ENOMEM;
  for (size_t i = 0; i < n; i++) {
    size_t one = strlen(protocols[i]);

    wire[pos++] = (unsigned char)one;
    memcpy(wire + pos, protocols[i], one);
    pos += one;
  }
  if (ctx->role == CORIO_TLS_CLIENT &&
      SSL_CTX_set_alpn_protos(ctx->ssl_ctx, wire, (unsigned)len) != 0) {
    if (wire)
      corio__free(wire, len);
    return corio__tls_fail("SSL_CTX_set_alpn_protos");
  }
  if (ctx->alpn)
    corio__free(ctx->alpn, ctx->alpn_len);
  ctx->alpn = wire;
  ctx->alpn_len = len;
  if (ctx->role == CORIO_TLS_SERVER)
    SSL_CTX_set_alpn_select_cb(ctx->ssl_ctx, wire ? select_alpn : NULL, ctx);
  return 0;
}

static int set_version(corio_tls_context *ctx, int version, int maximum) {
  int ok;

  if (!ctx || (version != 0 && version != CORIO_TLS_VERSION_1_2 &&
               version != CORIO_TLS_VERSION_1_3))
    return -EINVAL;
  ok = maximum ? SSL_CTX_set_max_proto_version(ctx->ssl_ctx, version)
               : SSL_CTX_set_min_proto_version(ctx->ssl_ctx, version);
  return ok ? 0 : corio__tls_fail("set_proto_version");
}

int corio_tls_context_set_minimum_version(corio_tls_context *ctx, int version) {
  return set_version(ctx, version, 0);
}

int corio_tls_context_set_maximum_version(corio_tls_context *ctx, int version) {
  return set_version(ctx, version, 1);
}

static int bad_timeout(double seconds) { return isnan(seconds) || seconds < 0; }

int corio__tls_check_options(const corio_tls_context *ctx, corio_tls_role role,
                             double handshake_timeout,
                             double shutdown_timeout) {
  if (ctx->role != role || bad_timeout(handshake_timeout) ||
      bad_timeout(shutdown_timeout))
    return -EINVAL;
  return 0;
}

void *corio_tls_context_ssl_ctx(corio_tls_context *ctx) {
  return ctx ? ctx->ssl_ctx : NULL;
}
