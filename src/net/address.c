/* Socket addresses: their text form in messages and for users
 * (corio_format_address), Unix socket names, and the lookup that connect
 * and start_server share. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "corio/net.h"
#include "net/address.h"

/* Where sun_path starts: a Unix address no longer than this is unnamed. */
#define UNIX_PATH_OFFSET offsetof(struct sockaddr_un, sun_path)

static void format_inet(const struct sockaddr_in *sin, char *buf, size_t size) {
  char host[INET_ADDRSTRLEN];

  inet_ntop(AF_INET, &sin->sin_addr, host, sizeof host);
  snprintf(buf, size, "%s:%u", host, (unsigned)ntohs(sin->sin_port));
}

/* The scope is shown as its interface index: naming the interface would
 * take a syscall. */
static void format_inet6(const struct sockaddr_in6 *sin6, char *buf,
                         size_t size) {
  char host[INET6_ADDRSTRLEN];
  unsigned port = ntohs(sin6->sin6_port);

  inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof host);
  if (sin6->sin6_scope_id)
    snprintf(buf, size, "[%s%%%u]:%u", host, (unsigned)sin6->sin6_scope_id,
             port);
  else
    snprintf(buf, size, "[%s]:%u", host, port);
}

/* A path ends at its NUL (or at len). An abstract name is every byte
 * after the leading NUL, NULs included: as in /proc/net/unix, each NUL is
 * shown as '@'. */
static void format_unix(const struct sockaddr_un *sun, socklen_t len, char *buf,
                        size_t size) {
  size_t n = len - UNIX_PATH_OFFSET, out = 0;

  if (n > sizeof sun->sun_path)
    n = sizeof sun->sun_path;
  if (n > 0 && sun->sun_path[0] != '\0') {
    snprintf(buf, size, "%.*s", (int)strnlen(sun->sun_path, n), sun->sun_path);
    return;
  }
  for (size_t i = 0; i < n && out + 1 < size; i++)
    buf[out++] = sun->sun_path[i] == '\0' ? '@' : sun->sun_path[i];
  buf[out] = '\0';
}

char *corio_format_address(const struct sockaddr *addr, socklen_t len,
                           char *buf, size_t size) {
  if (!buf || size == 0)
    return buf;
  if (!addr || len < (socklen_t)sizeof addr->sa_family) {
    snprintf(buf, size, "?");
    return buf;
  }
  if (addr->sa_family == AF_INET &&
      len >= (socklen_t)sizeof(struct sockaddr_in))
    format_inet((const struct sockaddr_in *)(const void *)addr, buf, size);
  else if (addr->sa_family == AF_INET6 &&
           len >= (socklen_t)sizeof(struct sockaddr_in6))
    format_inet6((const struct sockaddr_in6 *)(const void *)addr, buf, size);
  else if (addr->sa_family == AF_UNIX && len >= (socklen_t)UNIX_PATH_OFFSET)
    format_unix((const struct sockaddr_un *)(const void *)addr, len, buf, size);
  else
    snprintf(buf, size, "?");
  return buf;
}

int corio__net_unix_address(const char *path, struct sockaddr_un *sa,
                            socklen_t *len) {
  size_t n;

  if (!path || !path[0] || !sa || !len)
    return -EINVAL;
  n = strlen(path);
  memset(sa, 0, sizeof *sa);
  sa->sun_family = AF_UNIX;
  if (path[0] == '@') {
    /* The '@' becomes the leading NUL, and the name is exactly the rest:
     * a NUL after it would be part of the name. */
    if (n > sizeof sa->sun_path)
      return -ENAMETOOLONG;
    memcpy(sa->sun_path + 1, path + 1, n - 1);
    *len = (socklen_t)(UNIX_PATH_OFFSET + n);
    return 0;
  }
  /* Room for the NUL too, so that sun_path can be read as a string
   * (unlinking a server's socket file). */
  if (n >= sizeof sa->sun_path)
    return -ENAMETOOLONG;
  memcpy(sa->sun_path, path, n + 1);
  *len = (socklen_t)(UNIX_PATH_OFFSET + n + 1);
  return 0;
}

int corio__net_resolve(const char *host, int port, int family, int passive,
                       struct addrinfo **res) {
  struct addrinfo hints;
  char service[8];

  if (!res || port < 0 || port > 65535)
    return -EINVAL;
  if (host && !host[0])
    host = NULL;
  /* No AI_ADDRCONFIG, as asyncio: it ignores loopback, so a host with
   * nothing but loopback configured could not connect to itself. */
  memset(&hints, 0, sizeof hints);
  hints.ai_family = family;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0);
  snprintf(service, sizeof service, "%d", port);
  /* corio_getaddrinfo converts a numeric host without the executor. */
  return corio_getaddrinfo(host, service, &hints, res);
}
