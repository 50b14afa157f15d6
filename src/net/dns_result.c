/* corio_getaddrinfo's results in glibc's layout (see dns_result.h). */
#include "net/dns_result.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/fault.h"
#include "corio/net.h"

/* malloc, failing where a fault walk says so (the result cannot come from
 * corio's allocator: its user frees it with free()). */
static void *result_alloc(size_t size) {
  if (corio__fault_hit(CORIO__FAULT_ALLOC))
    return NULL;
  return malloc(size);
}

struct addrinfo *corio__addrinfo_node(int family, int socktype, int protocol,
                                      const struct sockaddr *addr,
                                      socklen_t len, const char *canon) {
  struct addrinfo *ai = result_alloc(sizeof *ai + len);

  if (!ai)
    return NULL;
  memset(ai, 0, sizeof *ai);
  ai->ai_family = family;
  ai->ai_socktype = socktype;
  ai->ai_protocol = protocol;
  ai->ai_addrlen = len;
  ai->ai_addr = (struct sockaddr *)(ai + 1);
  memcpy(ai->ai_addr, addr, len);
  if (canon) {
    size_t n = strlen(canon) + 1;

    ai->ai_canonname = result_alloc(n);
    if (!ai->ai_canonname) {
      free(ai);
      return NULL;
    }
    memcpy(ai->ai_canonname, canon, n);
  }
  return ai;
}

int corio__addrinfo_copy(const struct addrinfo *src, struct addrinfo **out) {
  struct addrinfo *head = NULL, **tail = &head;

  for (; src; src = src->ai_next) {
    struct addrinfo *ai =
        corio__addrinfo_node(src->ai_family, src->ai_socktype, src->ai_protocol,
                             src->ai_addr, src->ai_addrlen, src->ai_canonname);

    if (!ai) {
      corio_freeaddrinfo(head);
      *out = NULL;
      return -ENOMEM;
    }
    ai->ai_flags = src->ai_flags;
    *tail = ai;
    tail = &ai->ai_next;
  }
  *out = head;
  return 0;
}

/* glibc's freeaddrinfo, which this layout is made for. */
void corio_freeaddrinfo(struct addrinfo *res) {
  while (res) {
    struct addrinfo *next = res->ai_next;

    free(res->ai_canonname);
    free(res);
    res = next;
  }
}
