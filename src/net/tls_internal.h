/* TLS inside the net layer: what stream.c, connect.c and server.c call on
 * a stream whose `tls` is set, and the context's internals. OpenSSL never
 * sees the fd: a BIO over the stream's buffers carries the ciphertext
 * (tls_stream.c). Built with CORIO_TLS=OFF, tls_off.c gives the same
 * entry points (a stream's `tls` is then never set). */
#ifndef CORIO_NET_TLS_INTERNAL_H
#define CORIO_NET_TLS_INTERNAL_H

#include <stddef.h>
#include <sys/uio.h>

#include "corio/tls.h"
#include "net/stream_internal.h"

#define CORIO__TLS_HANDSHAKE_TIMEOUT 60.0 /* asyncio's */
#define CORIO__TLS_SHUTDOWN_TIMEOUT 30.0

/* Upgrades s (plain so far) and runs the handshake in the calling task:
 * 0, or the error with its message attached (corio_fail). On failure the
 * caller aborts the stream. hostname: SNI and the check (client side). */
int corio__tls_begin(corio_stream *s, corio_tls_context *ctx,
                     const char *hostname, double handshake_timeout,
                     double shutdown_timeout);
/* The TLS part of connect or server options, checked before anything
 * happens: 0, -EINVAL (a context of the other role, a negative or NaN
 * timeout), -ENOTSUP (built without TLS). */
int corio__tls_check_options(const corio_tls_context *ctx, corio_tls_role role,
                             double handshake_timeout, double shutdown_timeout);
/* The readable callback of a TLS stream (stream.c's on_readable defers
 * to it): ciphertext in, plaintext into s->in. */
int corio__tls_on_readable(corio_stream *s);
/* The same for ciphertext that came by the io_uring path (stream_uring.c)
 * rather than from a read here; n = 0 is the socket's EOF. */
void corio__tls_received(corio_stream *s, const char *data, size_t n);
/* write/writev of a TLS stream (after stream.c's checks). */
int corio__tls_writev(corio_stream *s, const struct iovec *iov, int iovcnt);
/* close on a TLS stream: sends close_notify and keeps reading for the
 * peer's. Returns 1 if the fd must wait for that (or the shutdown
 * timeout), 0 if it may close as a plain stream's does. */
int corio__tls_shutdown(corio_stream *s);
/* The write buffer is empty while closing: may the fd close now? */
int corio__tls_may_close(const corio_stream *s);
/* The fd closed (force_close): stop the shutdown timer. */
void corio__tls_closed(corio_stream *s);
/* The stream's memory goes. */
void corio__tls_free(corio_stream *s);
/* A reader woke to s->error: attach the TLS message to the task. */
void corio__tls_report(const corio_stream *s);

#ifdef CORIO_TLS_ENABLED
#include <openssl/ssl.h>

struct corio_tls_context {
  _Atomic int refs;
  corio_tls_role role;
  corio_tls_verify verify;
  int check_hostname;
  /* CAs were loaded (load_verify_locations), or the system's store was:
   * a client context with neither loads the system's at its first
   * connection (Python's create_default_context: cafile or the system's
   * store, not both; loading the store costs milliseconds). */
  _Atomic int cas_loaded;
  SSL_CTX *ssl_ctx;
  /* ALPN in wire format (length-prefixed), for a server's selection. */
  unsigned char *alpn;
  size_t alpn_len;
};

/* Before a context's first connection: its CAs in place. 0 or the error
 * (message attached). */
int corio__tls_context_prepare(corio_tls_context *ctx);

/* tls_error.c: the code and message of the failure on top of OpenSSL's
 * error queue (empties it). `generic` is the code when nothing more
 * precise applies (CORIO_ETLSHANDSHAKE, CORIO_ETLS). */
int corio__tls_error(SSL *ssl, int ssl_error, int generic, char *message,
                     size_t size);
/* The message for a failure outside a stream (loading files). */
int corio__tls_fail(const char *what);
#endif

#endif
