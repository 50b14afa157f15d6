/* The c-ares resolver on the loop (dns_ares.c), as dns.c calls it once a
 * lookup needs a name service and the loop has chosen c-ares. */
#ifndef CORIO_NET_DNS_ARES_H
#define CORIO_NET_DNS_ARES_H

#include <netdb.h>
#include <sys/socket.h>

#include "corio/loop.h"

/* Whether loop resolves with c-ares (made on the first call when the
 * environment asks for it: CORIO_RESOLVER=ares). */
int corio__ares_selected(corio_loop *loop);

/* corio_getaddrinfo and corio_getnameinfo through c-ares, from a task on
 * loop; same contract (arguments already checked, messages set).
 * getnameinfo's addr is AF_INET or AF_INET6 (c-ares knows no other). */
int corio__ares_getaddrinfo(corio_loop *loop, const char *host,
                            const char *service, const struct addrinfo *hints,
                            struct addrinfo **res);
int corio__ares_getnameinfo(corio_loop *loop, const struct sockaddr *addr,
                            socklen_t len, char *host, size_t host_len,
                            char *service, size_t service_len, int flags);

#endif
