/* OpenSSL's failures as corio codes with OpenSSL's own words as the
 * message ("certificate verify failed: certificate has expired"). The
 * per-thread error queue is emptied each time, so one connection's error
 * never shows up in another's. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509.h>

#include "corio/task.h"
#include "net/tls_internal.h"

static int is_version_reason(int reason) {
  return reason == SSL_R_UNSUPPORTED_PROTOCOL ||
         reason == SSL_R_TLSV1_ALERT_PROTOCOL_VERSION ||
         reason == SSL_R_NO_PROTOCOLS_AVAILABLE ||
         reason == SSL_R_VERSION_TOO_LOW || reason == SSL_R_VERSION_TOO_HIGH ||
         reason == SSL_R_UNSUPPORTED_SSL_VERSION;
}

int corio__tls_error(SSL *ssl, int ssl_error, int generic, char *message,
                     size_t size) {
  unsigned long e = ERR_get_error(); /* the earliest: the cause */
  const char *reason = e ? ERR_reason_error_string(e) : NULL;
  int code = generic, r = e ? ERR_GET_REASON(e) : 0;

  ERR_clear_error();
  message[0] = 0;
  if (!e) {
    /* SSL_ERROR_SYSCALL without a queued error: the transport ended. */
    snprintf(message, size, "%s",
             ssl_error == SSL_ERROR_SYSCALL ? "connection closed by the peer"
                                            : "TLS failure");
    return ssl_error == SSL_ERROR_SYSCALL ? -ECONNRESET : generic;
  }
  if (!reason)
    reason = "unknown error";
  if (ERR_GET_LIB(e) == ERR_LIB_SSL) {
    if (r == SSL_R_CERTIFICATE_VERIFY_FAILED) {
      long v = SSL_get_verify_result(ssl);

      snprintf(message, size, "%s: %s", reason,
               X509_verify_cert_error_string(v));
      return CORIO_ETLSVERIFY;
    }
    if (r == SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE)
      code = CORIO_ETLSVERIFY;
    else if (is_version_reason(r))
      code = CORIO_ETLSVERSION;
    else if (r == SSL_R_UNEXPECTED_EOF_WHILE_READING)
      code = -ECONNRESET;
  } else if (ERR_GET_LIB(e) == ERR_LIB_SYS ||
             ERR_GET_REASON(e) == ERR_R_MALLOC_FAILURE) {
    code = ERR_GET_REASON(e) == ERR_R_MALLOC_FAILURE ? -ENOMEM : generic;
  }
  snprintf(message, size, "%s", reason);
  return code;
}

int corio__tls_fail(const char *what) {
  unsigned long e = ERR_get_error();
  const char *reason = e ? ERR_reason_error_string(e) : NULL;
  int code = CORIO_ETLS;

  if (e && ERR_GET_REASON(e) == ERR_R_MALLOC_FAILURE)
    code = -ENOMEM;
  else if (e && ERR_GET_LIB(e) == ERR_LIB_SYS && ERR_GET_REASON(e) > 0)
    code = -ERR_GET_REASON(e); /* errno: a file that cannot be opened */

  ERR_clear_error();
  return corio_fail(code, "%s: %s", what, reason ? reason : "failed");
}
