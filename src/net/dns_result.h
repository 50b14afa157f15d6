/* Results of corio_getaddrinfo in the layout glibc's getaddrinfo gives its
 * own: each node one malloc() block with its address after it, the
 * canonical name a block of its own. So corio_freeaddrinfo, and glibc's
 * freeaddrinfo, free a chain made by either resolver (dns.c). They are
 * malloc'd, not corio's allocator's: the user frees them with free(). */
#ifndef CORIO_NET_DNS_RESULT_H
#define CORIO_NET_DNS_RESULT_H

#include <netdb.h>
#include <sys/socket.h>

/* A node with a copy of addr (len bytes) and of canon (may be NULL);
 * NULL when out of memory (a fault point: CORIO__FAULT_ALLOC). */
struct addrinfo *corio__addrinfo_node(int family, int socktype, int protocol,
                                      const struct sockaddr *addr,
                                      socklen_t len, const char *canon);

/* A copy of a chain in that layout (for C libraries whose own layout
 * differs): 0 or -ENOMEM (nothing left allocated). */
int corio__addrinfo_copy(const struct addrinfo *src, struct addrinfo **out);

#endif
