/* Name resolution: glibc's getaddrinfo and getnameinfo on the loop's
 * default executor, as asyncio's loop.getaddrinfo and loop.getnameinfo,
 * or c-ares on the loop when the loop chose it (dns_ares.c). A lookup
 * that needs no name service (a numeric host and service) is done at once
 * on the loop's thread: it cannot block.
 *
 * A lookup on the executor works on a request of its own (copies of the
 * arguments, and the answer) that the task and the pool thread share.
 * A task cancelled meanwhile stops waiting but leaves the job alone (a
 * lookup cannot be interrupted anyway). Whichever side lets go last, the
 * task or the job (its release hook: after it ran, or once it never
 * will, e.g. dropped with a closing loop), frees the request and the
 * resolver's answer. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "corio/net.h"
#include "corio/thread.h"
#include "net/address.h"
#include "net/dns_ares.h"
#include "net/dns_result.h"
#include "task/hook_support.h"
#include "task/task_internal.h"
#include "task/wait.h"

/* ---- error codes --------------------------------------------------------- */

static int gai_code(int eai, int sys_errno) {
  switch (eai) {
  case 0:
    return 0;
  case EAI_NONAME:
    return CORIO_EAINONAME;
  case EAI_AGAIN:
    return CORIO_EAIAGAIN;
  case EAI_FAIL:
    return CORIO_EAIFAIL;
#ifdef EAI_NODATA
  case EAI_NODATA:
    return CORIO_EAINODATA;
#endif
#ifdef EAI_ADDRFAMILY
  case EAI_ADDRFAMILY:
#endif
  case EAI_FAMILY:
    return CORIO_EAIFAMILY;
  case EAI_SERVICE:
  case EAI_SOCKTYPE:
    return CORIO_EAISERVICE;
  case EAI_MEMORY:
    return -ENOMEM;
  /* Bad flags and a buffer too small are the caller's input, not the
   * name's: the codes the rest of corio gives them. */
  case EAI_BADFLAGS:
    return -EINVAL;
#ifdef EAI_OVERFLOW
  case EAI_OVERFLOW:
    return -ENOBUFS;
#endif
  case EAI_SYSTEM:
    return sys_errno > 0 ? -sys_errno : CORIO_EAIOTHER;
  default:
    return CORIO_EAIOTHER;
  }
}

/* EAI_SYSTEM means "see errno": right after the call, errno is its cause. */
int corio_gai_error(int eai) {
  return gai_code(eai, eai == EAI_SYSTEM ? errno : 0);
}

/* The resolver's text (errno's for EAI_SYSTEM) after what was looked up,
 * as the calling task's message. */
static int fail_lookup(int eai, int sys_errno, const char *what) {
  int code = gai_code(eai, sys_errno);
  const char *text = eai == EAI_SYSTEM && sys_errno > 0
                         ? corio_strerror(-sys_errno)
                         : gai_strerror(eai);

  return corio_fail(code, "%s: %s", what, text);
}

/* ---- a lookup on the executor -------------------------------------------- */

enum request_phase {
  REQUEST_WAITING,  /* the task waits for the answer */
  REQUEST_DONE,     /* the job is gone: it ran, or never will */
  REQUEST_ABANDONED /* the task has let go */
};

typedef struct dns_request {
  atomic_int phase; /* enum request_phase */
  /* On the pool thread: the lookup itself, which sets eai and sys_errno
   * (errno, for EAI_SYSTEM). */
  void (*lookup)(struct dns_request *req);
  /* Frees the request and the answer in it (on either thread). */
  void (*free)(struct dns_request *req);
  int eai;
  int sys_errno;
} dns_request;

static int run_lookup(void *arg, void **result) {
  dns_request *req = arg;

  req->lookup(req);
  *result = NULL;
  return 0;
}

/* The job is gone (ran, or never will): the request is freed now if the
 * task has let go. */
static void release_lookup(void *arg) {
  dns_request *req = arg;

  if (atomic_exchange(&req->phase, REQUEST_DONE) == REQUEST_ABANDONED)
    req->free(req);
}

/* The task lets go: the request is freed now if the job is gone, else
 * when it goes. */
static void abandon(dns_request *req) {
  if (atomic_exchange(&req->phase, REQUEST_ABANDONED) == REQUEST_DONE)
    req->free(req);
}

static void job_done(corio_future *fut, void *arg) {
  (void)fut;
  corio__wait_wake(arg, 0, 1);
}

static void job_detach(corio__wait *w) {
  (void)corio__future_remove_callback(w->data, job_done, w);
}

/* Waits until fut is done. Unlike corio_future_await, a cancellation of
 * the task is not passed on to the job: it stays the task's own. */
static int wait_job(corio_future *fut, const corio__wait_kind *kind,
                    const void *object) {
  corio__wait w = {.detach = job_detach,
                   .task = corio__wait_self(),
                   .kind = kind,
                   .object = object};
  int rc;

  if (corio_future_done(fut))
    return 0;
  w.data = fut;
  rc = corio__future_add_callback(fut, job_done, &w);
  if (rc < 0)
    return rc;
  return corio__wait_suspend(&w);
}

/* Runs req's lookup on the default executor and waits for it. 0: the
 * answer is in req, which the caller reads, then lets go with abandon().
 * An error: req is no longer the caller's. */
static int resolve_on_executor(dns_request *req, const corio__wait_kind *kind) {
  corio_future *fut;
  int rc;

  corio_job_options options = {.release = release_lookup};

  atomic_init(&req->phase, REQUEST_WAITING);
  rc = corio_run_in_executor_ex(NULL, NULL, run_lookup, req, &options, &fut);
  if (rc < 0) {
    req->free(req); /* never submitted */
    return rc;
  }
  rc = wait_job(fut, kind, req);
  if (rc == 0 && corio_future_cancelled(fut)) {
    /* Only a shutdown that cancels pending jobs cancels the job while
     * this task still waits (the loop closes its tasks before its jobs):
     * the lookup never ran, and never will. */
    corio_future_unref(fut);
    abandon(req);
    return -ECANCELED;
  }
  corio_future_unref(fut);
  if (rc < 0) {
    abandon(req); /* cancelled, or the loop is closing */
    return rc;
  }
  /* The answer was written before the job's outcome was posted. */
  return 0;
}

/* ---- getaddrinfo --------------------------------------------------------- */

typedef struct gai_request {
  dns_request base; /* first: run_lookup sees a dns_request */
  size_t size;      /* of this block, strings included */
  int has_hints;
  struct addrinfo hints;      /* the four fields the resolver reads */
  const char *host, *service; /* copies in strings[], or NULL */
  struct addrinfo *res;       /* the answer, until handed over */
  char strings[];
} gai_request;

static void gai_lookup(dns_request *base) {
  gai_request *req = (gai_request *)base;

  req->res = NULL;
  base->eai = getaddrinfo(req->host, req->service,
                          req->has_hints ? &req->hints : NULL, &req->res);
  base->sys_errno = base->eai == EAI_SYSTEM ? errno : 0;
}

static void gai_free(dns_request *base) {
  gai_request *req = (gai_request *)base;

  if (req->res)
    freeaddrinfo(req->res);
  corio__free(req, req->size);
}

static const char *copy_string(char **to, const char *s) {
  char *copy = *to;
  size_t n;

  if (!s)
    return NULL;
  n = strlen(s) + 1;
  memcpy(copy, s, n);
  *to += n;
  return copy;
}

/* Only the fields getaddrinfo reads: POSIX wants the others zero. */
static void copy_hints(struct addrinfo *to, const struct addrinfo *hints) {
  memset(to, 0, sizeof *to);
  to->ai_flags = hints->ai_flags;
  to->ai_family = hints->ai_family;
  to->ai_socktype = hints->ai_socktype;
  to->ai_protocol = hints->ai_protocol;
}

static gai_request *gai_request_new(const char *host, const char *service,
                                    const struct addrinfo *hints) {
  size_t size = sizeof(gai_request) + (host ? strlen(host) + 1 : 0) +
                (service ? strlen(service) + 1 : 0);
  gai_request *req = corio__calloc(size);
  char *strings;

  if (!req)
    return NULL;
  req->base.lookup = gai_lookup;
  req->base.free = gai_free;
  req->size = size;
  strings = req->strings;
  req->host = copy_string(&strings, host);
  req->service = copy_string(&strings, service);
  req->has_hints = hints != NULL;
  if (hints)
    copy_hints(&req->hints, hints);
  return req;
}

static int is_numeric_host(const char *host) {
  unsigned char addr[sizeof(struct in6_addr)];

  return inet_pton(AF_INET, host, addr) == 1 ||
         inet_pton(AF_INET6, host, addr) == 1;
}

/* Whether getaddrinfo can answer without a name service: a host that is
 * absent or numeric, and a service that is absent or numeric. A canonical
 * name is looked up unless the host must be numeric. */
static int needs_no_lookup(const char *host, const char *service,
                           const struct addrinfo *hints) {
  int flags = hints ? hints->ai_flags : 0;
  int host_ok = !host || (flags & AI_NUMERICHOST) ||
                (!(flags & AI_CANONNAME) && is_numeric_host(host));
  int service_ok = !service || (flags & AI_NUMERICSERV) ||
                   (service[0] && !service[strspn(service, "0123456789")]);

  return host_ok && service_ok;
}

/* What was looked up, for the message: "host", "host, service s" or
 * "service s". */
static int fail_getaddrinfo(int eai, int sys_errno, const char *host,
                            const char *service) {
  char what[320];

  if (host && service)
    snprintf(what, sizeof what, "%s, service %s", host, service);
  else if (host)
    snprintf(what, sizeof what, "%s", host);
  else
    snprintf(what, sizeof what, "service %s", service);
  return fail_lookup(eai, sys_errno, what);
}

/* Results are freed with corio_freeaddrinfo, whose layout is glibc's: a
 * C library that lays out its own differently has them copied. */
static int own_layout(struct addrinfo **res) {
#ifdef __GLIBC__
  (void)res;
  return 0;
#else
  struct addrinfo *copy;
  int rc = corio__addrinfo_copy(*res, &copy);

  freeaddrinfo(*res);
  *res = copy;
  return rc;
#endif
}

static int getaddrinfo_now(const char *host, const char *service,
                           const struct addrinfo *hints,
                           struct addrinfo **res) {
  struct addrinfo numeric;
  int eai;

  /* glibc's flags for NULL hints, as the executor's call would use. */
  memset(&numeric, 0, sizeof numeric);
  numeric.ai_flags = AI_V4MAPPED | AI_ADDRCONFIG;
  if (hints)
    copy_hints(&numeric, hints);
  /* The flags make sure the resolver asks nobody. */
  numeric.ai_flags |= AI_NUMERICHOST | AI_NUMERICSERV;
  corio__hook_bypass_begin(); /* numeric: nothing to wait for */
  eai = getaddrinfo(host, service, &numeric, res);
  corio__hook_bypass_end();
  if (eai != 0) {
    int sys_errno = eai == EAI_SYSTEM ? errno : 0;

    *res = NULL;
    return fail_getaddrinfo(eai, sys_errno, host, service);
  }
  return own_layout(res);
}

/* For dumps: what a task waiting on a lookup waits on (task/wait.h). */
static void describe_gai(const void *object, char *buf, size_t len) {
  const gai_request *req = object;

  snprintf(buf, len, "%s%s%s", req->host ? req->host : "",
           req->host && req->service ? ", service " : "",
           req->service ? req->service : "");
}

static const corio__wait_kind getaddrinfo_kind = {.name = "getaddrinfo",
                                                  .describe = describe_gai};

int corio_getaddrinfo(const char *host, const char *service,
                      const struct addrinfo *hints, struct addrinfo **res) {
  gai_request *req;
  int rc;

  if (!res)
    return -EINVAL;
  *res = NULL;
  if (!host && !service)
    return -EINVAL;
  if (!corio__wait_self())
    return CORIO_ENOTASK;
  if (needs_no_lookup(host, service, hints))
    return getaddrinfo_now(host, service, hints, res);
  /* A service alone is looked up in /etc/services: the executor's. */
  if (host && corio__ares_selected(corio_loop_current()))
    return corio__ares_getaddrinfo(corio_loop_current(), host, service, hints,
                                   res);
  req = gai_request_new(host, service, hints);
  if (!req)
    return -ENOMEM;
  rc = resolve_on_executor(&req->base, &getaddrinfo_kind);
  if (rc < 0)
    return rc;
  if (req->base.eai != 0) {
    rc = fail_getaddrinfo(req->base.eai, req->base.sys_errno, host, service);
  } else {
    *res = req->res;
    req->res = NULL;
    rc = own_layout(res);
  }
  abandon(&req->base); /* the answer was handed over */
  return rc;
}

/* ---- getnameinfo --------------------------------------------------------- */

typedef struct gni_request {
  dns_request base; /* first: run_lookup sees a dns_request */
  struct sockaddr_storage addr;
  socklen_t len;
  int flags;
  /* The caller's sizes, at most the buffers': glibc then reports a name
   * too long for the caller as it would in a direct call. */
  size_t host_len, service_len;
  char host[NI_MAXHOST];
  char service[NI_MAXSERV];
} gni_request;

static void gni_lookup(dns_request *base) {
  gni_request *req = (gni_request *)base;

  base->eai = getnameinfo((const struct sockaddr *)&req->addr, req->len,
                          req->host_len ? req->host : NULL, req->host_len,
                          req->service_len ? req->service : NULL,
                          req->service_len, req->flags);
  base->sys_errno = base->eai == EAI_SYSTEM ? errno : 0;
}

static void gni_free(dns_request *base) {
  corio__free(base, sizeof(gni_request));
}

static size_t at_most(size_t n, size_t max) { return n < max ? n : max; }

static int fail_getnameinfo(int eai, int sys_errno, const struct sockaddr *addr,
                            socklen_t len) {
  char what[160];

  return fail_lookup(eai, sys_errno,
                     corio_format_address(addr, len, what, sizeof what));
}

static void describe_gni(const void *object, char *buf, size_t len) {
  const gni_request *req = object;

  corio_format_address((const struct sockaddr *)&req->addr, req->len, buf, len);
}

static const corio__wait_kind getnameinfo_kind = {.name = "getnameinfo",
                                                  .describe = describe_gni};

int corio_getnameinfo(const struct sockaddr *addr, socklen_t len, char *host,
                      size_t host_len, char *service, size_t service_len,
                      int flags) {
  gni_request *req;
  int rc;

  /* As glibc: a buffer is asked for when it is there with room. */
  if (!host)
    host_len = 0;
  if (!service)
    service_len = 0;
  if (!addr || len < (socklen_t)sizeof addr->sa_family ||
      len > (socklen_t)sizeof(struct sockaddr_storage) ||
      (!host_len && !service_len))
    return -EINVAL;
  if (!corio__wait_self())
    return CORIO_ENOTASK;
  if ((!host_len || (flags & NI_NUMERICHOST)) &&
      (!service_len || (flags & NI_NUMERICSERV))) {
    int eai;

    corio__hook_bypass_begin(); /* numeric: nothing to wait for */
    eai = getnameinfo(addr, len, host, host_len, service, service_len, flags);
    corio__hook_bypass_end();

    return eai ? fail_getnameinfo(eai, eai == EAI_SYSTEM ? errno : 0, addr, len)
               : 0;
  }
  /* c-ares knows IP addresses only: other families (a Unix socket's
   * path) get glibc's answer, as with the system resolver. */
  if ((addr->sa_family == AF_INET || addr->sa_family == AF_INET6) &&
      corio__ares_selected(corio_loop_current()))
    return corio__ares_getnameinfo(corio_loop_current(), addr, len, host,
                                   host_len, service, service_len, flags);
  req = corio__calloc(sizeof *req);
  if (!req)
    return -ENOMEM;
  req->base.lookup = gni_lookup;
  req->base.free = gni_free;
  memcpy(&req->addr, addr, len);
  req->len = len;
  req->flags = flags;
  req->host_len = at_most(host_len, sizeof req->host);
  req->service_len = at_most(service_len, sizeof req->service);
  rc = resolve_on_executor(&req->base, &getnameinfo_kind);
  if (rc < 0)
    return rc;
  if (req->base.eai != 0) {
    rc = fail_getnameinfo(req->base.eai, req->base.sys_errno, addr, len);
  } else {
    if (host_len)
      memcpy(host, req->host, strlen(req->host) + 1);
    if (service_len)
      memcpy(service, req->service, strlen(req->service) + 1);
  }
  abandon(&req->base);
  return rc;
}
