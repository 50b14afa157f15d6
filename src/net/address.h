/* The net layer's own helpers for socket addresses: Unix socket names and
 * the resolution that connect and start_server share. */
#ifndef CORIO_NET_ADDRESS_H
#define CORIO_NET_ADDRESS_H

#include <netdb.h>
#include <sys/socket.h>
#include <sys/un.h>

/* Fills *sa and *len for a Unix socket path. A leading '@' names an
 * abstract socket: sun_path starts with a NUL, and *len counts the name's
 * bytes exactly (no terminating NUL). A file path keeps its NUL. Errors:
 * -EINVAL (NULL or empty path, NULL sa or len), -ENAMETOOLONG. */
int corio__net_unix_address(const char *path, struct sockaddr_un *sa,
                            socklen_t *len);

/* The stream addresses of host and port, as open_connection and
 * start_server look them up: SOCK_STREAM, family AF_UNSPEC, AF_INET or
 * AF_INET6, no AI_ADDRCONFIG. A NULL or empty host with passive is the
 * wildcard addresses (AI_PASSIVE); without passive, loopback. A numeric
 * host is converted at once; a name goes through corio_getaddrinfo, so
 * the caller must be a task. *res is freed with corio_freeaddrinfo. Errors:
 * -EINVAL (NULL res, port outside 0..65535), corio_getaddrinfo's. */
int corio__net_resolve(const char *host, int port, int family, int passive,
                       struct addrinfo **res);

#endif
