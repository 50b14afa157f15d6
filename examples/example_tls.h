/* A certificate for the TLS examples (https_head, tls_echo): a fresh EC
 * P-256 key and a self-signed certificate for localhost and 127.0.0.1,
 * written into a new mkdtemp directory. The server loads it as its chain;
 * the client trusts exactly it (load_verify_locations), so verification,
 * the hostname check and SNI are all on, with no network and no system CA.
 * Made with OpenSSL's API (corio's TLS is OpenSSL underneath). */
#ifndef CORIO_EXAMPLE_TLS_H
#define CORIO_EXAMPLE_TLS_H

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

struct example_cert {
  char dir[64];
  char cert[96]; /* the certificate (PEM) */
  char key[96];  /* its key (PEM) */
};

static int example_cert_ext(X509 *cert, int nid, const char *value) {
  X509V3_CTX v3;
  X509_EXTENSION *ext;
  int ok;

  X509V3_set_ctx_nodb(&v3);
  X509V3_set_ctx(&v3, cert, cert, NULL, NULL, 0);
  ext = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
  if (!ext)
    return 0;
  ok = X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
  return ok;
}

static int example_cert_write(const struct example_cert *c, X509 *cert,
                              EVP_PKEY *key) {
  FILE *f = fopen(c->cert, "w");
  int ok;

  if (!f)
    return 0;
  ok = PEM_write_X509(f, cert);
  ok = fclose(f) == 0 && ok;
  if (!ok || !(f = fopen(c->key, "w")))
    return 0;
  ok = PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL);
  return fclose(f) == 0 && ok;
}

/* 0, or -1. */
static int example_cert_make(struct example_cert *c) {
  EVP_PKEY *key = EVP_EC_gen("P-256");
  X509 *cert = X509_new();
  X509_NAME *name;
  int ok = 0;

  memset(c, 0, sizeof *c);
  snprintf(c->dir, sizeof c->dir, "/tmp/corio-example-XXXXXX");
  if (!key || !cert || !mkdtemp(c->dir))
    goto done;
  snprintf(c->cert, sizeof c->cert, "%s/cert.pem", c->dir);
  snprintf(c->key, sizeof c->key, "%s/key.pem", c->dir);
  X509_set_version(cert, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
  X509_gmtime_adj(X509_getm_notBefore(cert), -60);
  X509_gmtime_adj(X509_getm_notAfter(cert), 86400);
  X509_set_pubkey(cert, key);
  name = X509_get_subject_name(cert);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             (const unsigned char *)"localhost", -1, -1, 0);
  X509_set_issuer_name(cert, name);
  ok = example_cert_ext(cert, NID_basic_constraints, "critical,CA:TRUE") &&
       example_cert_ext(cert, NID_subject_alt_name,
                        "DNS:localhost,IP:127.0.0.1") &&
       X509_sign(cert, key, EVP_sha256()) && example_cert_write(c, cert, key);
done:
  X509_free(cert);
  EVP_PKEY_free(key);
  return ok ? 0 : -1;
}

static void example_cert_remove(struct example_cert *c) {
  if (c->cert[0])
    unlink(c->cert);
  if (c->key[0])
    unlink(c->key);
  if (c->dir[0] && !strchr(c->dir, 'X'))
    rmdir(c->dir);
}

#endif
