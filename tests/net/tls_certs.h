/* Certificates for the TLS tests, made at test time with OpenSSL's API
 * into a fresh mkdtemp directory: a CA, a server certificate for
 * localhost and 127.0.0.1 signed by it, a client certificate, an expired
 * one, one for another host, and a self-signed one. EC P-256 keys (one
 * for the CA, one shared by the leaves) keep it fast under Valgrind. */
#ifndef CORIO_TESTS_NET_TLS_CERTS_H
#define CORIO_TESTS_NET_TLS_CERTS_H

typedef struct tls_certs {
  char dir[64];
  char ca[128];          /* the CA's certificate */
  char key[128];         /* the leaves' key */
  char server[128];      /* CN=localhost, SAN localhost, 127.0.0.1, ::1 */
  char client[128];      /* CN=client, clientAuth */
  char expired[128];     /* localhost, expired yesterday */
  char wrong_host[128];  /* CN=other.example, SAN other.example */
  char self_signed[128]; /* localhost, signed by its own key */
} tls_certs;

/* 0, or -1 (with a message on stderr). */
int tls_certs_make(tls_certs *c);
/* Removes the files and the directory. */
void tls_certs_remove(tls_certs *c);

#endif
