/* TLS over OpenSSL for corio streams (docs/tls.md). A TLS stream is a
 * corio_stream: the read, write, drain and close calls of corio/net.h work
 * on it unchanged. A context (client or server) holds the certificates,
 * the verification rules and ALPN; connect and server options take one
 * (corio_connect_options.tls, corio_server_options.tls), and
 * corio_stream_start_tls upgrades a stream that is already open.
 *
 * Built without TLS (CORIO_TLS=OFF) every call here returns -ENOTSUP
 * (the queries: 0 or NULL), and so does a connect or server given a
 * context. */
#ifndef CORIO_TLS_H
#define CORIO_TLS_H

#include <stddef.h>

#include "corio/export.h"
#include "corio/net.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct corio_tls_context corio_tls_context;

/* The side of the handshake a context is for. */
typedef enum corio_tls_role {
  CORIO_TLS_CLIENT = 0,
  CORIO_TLS_SERVER = 1
} corio_tls_role;

/* Verification of the peer's certificate (Python's ssl.CERT_*). */
typedef enum corio_tls_verify {
  CORIO_TLS_VERIFY_NONE = 0,     /* not asked for (server) or not checked */
  CORIO_TLS_VERIFY_OPTIONAL = 1, /* checked if the peer sends one */
  CORIO_TLS_VERIFY_REQUIRED = 2  /* the peer must send one that verifies */
} corio_tls_verify;

/* Protocol versions, as on the wire. */
enum { CORIO_TLS_VERSION_1_2 = 0x0303, CORIO_TLS_VERSION_1_3 = 0x0304 };

/* A new context. Client defaults (Python's create_default_context):
 * VERIFY_REQUIRED, hostname check on, TLS 1.2 at least, and the system's
 * CA store, loaded at the first connection unless CAs were loaded before
 * (load_verify_locations: those only, as Python's cafile=). Server defaults:
 * VERIFY_NONE, TLS 1.2 at least. Renegotiation is off. Errors: -EINVAL,
 * -ENOMEM, CORIO_ETLS (OpenSSL failed; message). */
CORIO_API int corio_tls_context_new(corio_tls_role role,
                                    corio_tls_context **out);
CORIO_API corio_tls_context *corio_tls_context_ref(corio_tls_context *ctx);
CORIO_API void corio_tls_context_unref(corio_tls_context *ctx);

/* The certificate chain and its private key, PEM files (keyfile NULL: in
 * certfile). Errors: -EINVAL, CORIO_ETLS with OpenSSL's reason. */
CORIO_API int corio_tls_context_load_cert_chain(corio_tls_context *ctx,
                                                const char *certfile,
                                                const char *keyfile);
/* Trusted CAs: a PEM file, a hashed directory, or both (one may be NULL). */
CORIO_API int corio_tls_context_load_verify_locations(corio_tls_context *ctx,
                                                      const char *cafile,
                                                      const char *capath);
/* The system's CA store, now (also next to load_verify_locations' CAs). */
CORIO_API int
corio_tls_context_set_default_verify_paths(corio_tls_context *ctx);
CORIO_API int corio_tls_context_set_verify(corio_tls_context *ctx,
                                           corio_tls_verify mode);
/* Client: check the certificate against server_hostname (on by default).
 * Turning it on needs a verify mode other than NONE (-EINVAL). */
CORIO_API int corio_tls_context_set_check_hostname(corio_tls_context *ctx,
                                                   int on);
/* ALPN: a client offers these, in order; a server picks the first of its
 * own list that the client offers (none in common: no protocol, the
 * handshake goes on, as Python's). Each 1..255 bytes, and at most 65533
 * bytes in all counting a length byte per name (what the extension holds):
 * else -EINVAL. n 0 clears. */
CORIO_API int corio_tls_context_set_alpn_protocols(corio_tls_context *ctx,
                                                   const char *const *protocols,
                                                   size_t n);
/* CORIO_TLS_VERSION_1_2 or _1_3 (0: OpenSSL's lowest). */
CORIO_API int corio_tls_context_set_minimum_version(corio_tls_context *ctx,
                                                    int version);
CORIO_API int corio_tls_context_set_maximum_version(corio_tls_context *ctx,
                                                    int version);
/* The escape hatch: the context's SSL_CTX * (change it before the first
 * connection uses the context). */
CORIO_API void *corio_tls_context_ssl_ctx(corio_tls_context *ctx);

/* ---- upgrading a stream --------------------------------------------------
 * asyncio 3.11's StreamWriter.start_tls: a TLS handshake over an open
 * stream (client or server side, as ctx says). Bytes the stream has
 * buffered but nothing has read yet are taken as the peer's first TLS
 * bytes, so read exactly what precedes the handshake. Bytes still queued
 * for writing go first, in the clear. Errors: -EINVAL (already TLS, a
 * stream that is not a socket, a negative or NaN timeout, a client
 * context that checks the hostname and no server_hostname: the stream is
 * left as it was), CORIO_ESTREAMCLOSED, CORIO_EREADBUSY, then the
 * handshake's; on a handshake failure (-ETIMEDOUT and -ECANCELED
 * included) the stream is aborted. */
typedef struct corio_tls_options {
  const char *server_hostname; /* client: SNI and the check */
  double handshake_timeout;    /* 0: 60 s; CORIO_NO_TIMEOUT: none */
  double shutdown_timeout;     /* 0: 30 s; CORIO_NO_TIMEOUT: none */
} corio_tls_options;

CORIO_API int corio_stream_start_tls(corio_stream *stream,
                                     corio_tls_context *ctx,
                                     const corio_tls_options *options);

/* ---- get_extra_info ------------------------------------------------------
 * On a stream that is not TLS (or no longer open) these give 0/NULL. */
CORIO_API int corio_stream_is_tls(const corio_stream *stream);
/* "h2", or NULL: none negotiated. Valid while the stream is. */
CORIO_API const char *corio_stream_tls_alpn(const corio_stream *stream);
/* "TLSv1.3" */
CORIO_API const char *corio_stream_tls_version(const corio_stream *stream);
/* "TLS_AES_256_GCM_SHA384" */
CORIO_API const char *corio_stream_tls_cipher(const corio_stream *stream);
/* The peer's certificate as an X509 * (borrowed; NULL: none). */
CORIO_API void *corio_stream_tls_peer_certificate(const corio_stream *stream);
/* Its subject, one line ("CN=localhost"), into buf. Errors: -EINVAL,
 * -ENOENT (no certificate), -ENOBUFS (does not fit). */
CORIO_API int corio_stream_tls_peer_subject(const corio_stream *stream,
                                            char *buf, size_t size);
/* The SSL * (asyncio's get_extra_info('ssl_object')). */
CORIO_API void *corio_stream_tls_ssl(const corio_stream *stream);

#ifdef __cplusplus
}
#endif

#endif
