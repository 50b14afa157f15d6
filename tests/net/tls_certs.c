/* See tls_certs.h. */
#include "tls_certs.h"

#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static EVP_PKEY *new_key(void) { return EVP_EC_gen("P-256"); }

static int add_ext(X509 *cert, X509 *issuer, int nid, const char *value) {
  X509V3_CTX v3;
  X509_EXTENSION *ext;
  int ok;

  X509V3_set_ctx_nodb(&v3);
  X509V3_set_ctx(&v3, issuer, cert, NULL, NULL, 0);
  ext = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
  if (!ext)
    return 0;
  ok = X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
  return ok;
}

/* A certificate for key, valid from `from` to `to` seconds from now,
 * signed by issuer_key (issuer NULL: self-signed). */
static X509 *make_cert(EVP_PKEY *key, const char *cn, const char *san,
                       X509 *issuer, EVP_PKEY *issuer_key, long from, long to,
                       int is_ca, long serial) {
  X509 *cert = X509_new();
  X509_NAME *name;

  if (!cert)
    return NULL;
  X509_set_version(cert, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert), serial);
  X509_gmtime_adj(X509_getm_notBefore(cert), from);
  X509_gmtime_adj(X509_getm_notAfter(cert), to);
  X509_set_pubkey(cert, key);
  name = X509_get_subject_name(cert);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             (const unsigned char *)cn, -1, -1, 0);
  X509_set_issuer_name(cert, issuer ? X509_get_subject_name(issuer) : name);
  if (is_ca) {
    if (!add_ext(cert, cert, NID_basic_constraints, "critical,CA:TRUE") ||
        !add_ext(cert, cert, NID_key_usage, "critical,keyCertSign,cRLSign") ||
        !add_ext(cert, cert, NID_subject_key_identifier, "hash"))
      goto fail;
  } else {
    if (!add_ext(cert, issuer ? issuer : cert, NID_basic_constraints,
                 "CA:FALSE") ||
        (san &&
         !add_ext(cert, issuer ? issuer : cert, NID_subject_alt_name, san)) ||
        !add_ext(cert, issuer ? issuer : cert, NID_ext_key_usage,
                 "serverAuth,clientAuth"))
      goto fail;
  }
  if (!X509_sign(cert, issuer_key, EVP_sha256()))
    goto fail;
  return cert;
fail:
  X509_free(cert);
  return NULL;
}

static int write_cert(const char *path, X509 *cert) {
  FILE *f = fopen(path, "w");
  int ok;

  if (!f)
    return 0;
  ok = PEM_write_X509(f, cert);
  return fclose(f) == 0 && ok;
}

static int write_key(const char *path, EVP_PKEY *key) {
  FILE *f = fopen(path, "w");
  int ok;

  if (!f)
    return 0;
  ok = PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL);
  return fclose(f) == 0 && ok;
}

static void set_path(char *buf, size_t size, const char *dir,
                     const char *name) {
  snprintf(buf, size, "%s/%s", dir, name);
}

int tls_certs_make(tls_certs *c) {
  static const char *localhost = "DNS:localhost,IP:127.0.0.1,IP:::1";
  EVP_PKEY *ca_key = NULL, *key = NULL;
  X509 *ca = NULL, *certs[5] = {0};
  int ok = 0;

  memset(c, 0, sizeof *c);
  snprintf(c->dir, sizeof c->dir, "/tmp/corio-tls-XXXXXX");
  if (!mkdtemp(c->dir)) {
    perror("mkdtemp");
    c->dir[0] = 0;
    return -1;
  }
  set_path(c->ca, sizeof c->ca, c->dir, "ca.pem");
  set_path(c->key, sizeof c->key, c->dir, "key.pem");
  set_path(c->server, sizeof c->server, c->dir, "server.pem");
  set_path(c->client, sizeof c->client, c->dir, "client.pem");
  set_path(c->expired, sizeof c->expired, c->dir, "expired.pem");
  set_path(c->wrong_host, sizeof c->wrong_host, c->dir, "wrong_host.pem");
  set_path(c->self_signed, sizeof c->self_signed, c->dir, "self_signed.pem");
  ca_key = new_key();
  key = new_key();
  if (!ca_key || !key)
    goto done;
  ca = make_cert(ca_key, "corio test CA", NULL, NULL, ca_key, -3600,
                 86400L * 30, 1, 1);
  if (!ca)
    goto done;
  certs[0] = make_cert(key, "localhost", localhost, ca, ca_key, -3600,
                       86400L * 30, 0, 2);
  certs[1] = make_cert(key, "client", "DNS:client", ca, ca_key, -3600,
                       86400L * 30, 0, 3);
  certs[2] = make_cert(key, "localhost", localhost, ca, ca_key, -86400L * 30,
                       -86400L, 0, 4);
  certs[3] = make_cert(key, "other.example", "DNS:other.example", ca, ca_key,
                       -3600, 86400L * 30, 0, 5);
  certs[4] = make_cert(key, "localhost", localhost, NULL, key, -3600,
                       86400L * 30, 0, 6);
  for (int i = 0; i < 5; i++)
    if (!certs[i])
      goto done;
  ok = write_cert(c->ca, ca) && write_key(c->key, key) &&
       write_cert(c->server, certs[0]) && write_cert(c->client, certs[1]) &&
       write_cert(c->expired, certs[2]) &&
       write_cert(c->wrong_host, certs[3]) &&
       write_cert(c->self_signed, certs[4]);
done:
  for (int i = 0; i < 5; i++)
    X509_free(certs[i]);
  X509_free(ca);
  EVP_PKEY_free(key);
  EVP_PKEY_free(ca_key);
  if (!ok) {
    fprintf(stderr, "tls_certs: could not make the test certificates\n");
    tls_certs_remove(c);
    return -1;
  }
  return 0;
}

void tls_certs_remove(tls_certs *c) {
  const char *files[] = {c->ca,      c->key,        c->server,     c->client,
                         c->expired, c->wrong_host, c->self_signed};

  if (!c->dir[0])
    return;
  for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
    if (files[i][0])
      unlink(files[i]);
  rmdir(c->dir);
  c->dir[0] = 0;
}
