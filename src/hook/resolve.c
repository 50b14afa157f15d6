/* getaddrinfo, getnameinfo, gethostbyname(_r): glibc's resolver blocks
 * inside libc where no hook reaches, so inside a task the real call runs
 * on the loop's executor (corio_run_in_executor) while the task waits.
 * The job owns copies of its inputs and its outputs, with two references
 * (the task's and the executor's): a cancelled task returns at once and
 * the job, finishing later, frees what nobody will read. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "corio/future.h"
#include "corio/thread.h"
#include <unistd.h>

#include "hook/hook_internal.h"

enum job_kind { JOB_ADDRINFO, JOB_NAMEINFO, JOB_HOSTBYNAME };

typedef struct resolve_job {
  atomic_int refs;
  enum job_kind kind;
  char *host, *service; /* inputs (getaddrinfo, gethostbyname) */
  int has_hints;
  struct addrinfo hints;
  struct sockaddr_storage addr; /* getnameinfo's input */
  socklen_t addr_len;
  int flags;
  socklen_t host_len, service_len;
  char *host_out, *service_out; /* getnameinfo's outputs */
  struct addrinfo *res;         /* getaddrinfo's output */
  struct hostent *hostent;      /* gethostbyname's, deep-copied */
  int rc, err;                  /* the call's return and errno/h_errno */
} resolve_job;

static void job_unref(resolve_job *job) {
  if (atomic_fetch_sub(&job->refs, 1) != 1)
    return;
  if (job->res)
    freeaddrinfo(job->res);
  free(job->hostent);
  free(job->host);
  free(job->service);
  free(job->host_out);
  free(job->service_out);
  free(job);
}

static void job_release(void *arg) { job_unref(arg); }

/* The room pack_hostent needs for h in a caller's buffer (alignment
 * slack included). */
static size_t hostent_size(const struct hostent *h, size_t *names,
                           size_t *addrs) {
  size_t size = strlen(h->h_name) + 1 + sizeof(char *);

  for (*names = 0; h->h_aliases && h->h_aliases[*names]; ++*names)
    size += strlen(h->h_aliases[*names]) + 1;
  for (*addrs = 0; h->h_addr_list && h->h_addr_list[*addrs]; ++*addrs)
    size += (size_t)h->h_length;
  return size + (*names + *addrs + 2) * sizeof(char *);
}

/* h into out, its lists and strings into buf (gethostbyname_r's
 * layout). 0, or ERANGE if buf is too small. */
static int pack_hostent(const struct hostent *h, struct hostent *out, char *buf,
                        size_t len) {
  size_t names, addrs, pad;
  char *p, **list;

  if (hostent_size(h, &names, &addrs) > len)
    return ERANGE;
  pad = (sizeof(char *) - (uintptr_t)buf % sizeof(char *)) % sizeof(char *);
  list = (char **)(buf + pad);
  p = (char *)(list + names + addrs + 2);
  *out = *h;
  out->h_aliases = list;
  for (size_t i = 0; i < names; i++) {
    list[i] = strcpy(p, h->h_aliases[i]);
    p += strlen(p) + 1;
  }
  list[names] = NULL;
  out->h_addr_list = list + names + 1;
  for (size_t i = 0; i < addrs; i++) {
    out->h_addr_list[i] = memcpy(p, h->h_addr_list[i], (size_t)h->h_length);
    p += h->h_length;
  }
  out->h_addr_list[addrs] = NULL;
  out->h_name = strcpy(p, h->h_name);
  return 0;
}

/* A hostent in one block, so it outlives the worker's buffer. */
static struct hostent *copy_hostent(const struct hostent *h) {
  size_t names, addrs, len = hostent_size(h, &names, &addrs);
  struct hostent *copy = malloc(sizeof *copy + len);

  if (copy && pack_hostent(h, copy, (char *)(copy + 1), len) != 0) {
    free(copy);
    copy = NULL;
  }
  return copy;
}

/* On an executor thread: never a task, so the calls are glibc's. */
static int run_job(void *arg, void **result) {
  resolve_job *job = arg;
  struct hostent *h;

  (void)result;
  switch (job->kind) {
  case JOB_ADDRINFO:
    job->rc = REAL(getaddrinfo)(job->host, job->service,
                                job->has_hints ? &job->hints : NULL, &job->res);
    job->err = errno;
    break;
  case JOB_NAMEINFO:
    job->rc = REAL(getnameinfo)((struct sockaddr *)&job->addr, job->addr_len,
                                job->host_out, job->host_len, job->service_out,
                                job->service_len, job->flags);
    job->err = errno;
    break;
  case JOB_HOSTBYNAME: {
    /* Never the non-reentrant call: its static answer is shared by every
     * executor thread and may change while it is copied. */
    struct hostent he;
    size_t size = 1024;
    char *buf = NULL, *bigger;
    int rc;

    h = NULL;
    job->err = NO_RECOVERY;
    while ((bigger = realloc(buf, size)) != NULL) {
      buf = bigger;
      rc = REAL(gethostbyname_r)(job->host, &he, buf, size, &h, &job->err);
      if (rc != ERANGE || size >= 1024 * 1024)
        break;
      size *= 2;
    }
    job->hostent = h ? copy_hostent(h) : NULL;
    if (h && !job->hostent)
      job->err = NO_RECOVERY;
    free(buf);
    break;
  }
  }
  return 0;
}

static char *dup_or_null(const char *s, int *failed) {
  char *copy;

  if (!s)
    return NULL;
  if (!(copy = strdup(s)))
    *failed = 1;
  return copy;
}

static resolve_job *job_new(enum job_kind kind) {
  resolve_job *job = calloc(1, sizeof *job);

  if (job) {
    atomic_init(&job->refs, 1);
    job->kind = kind;
  }
  return job;
}

/* Runs job on the executor and waits. 0, or -errno (the job was not run
 * or its outcome is lost: -ECANCELED if the task was cancelled). */
static int run_on_executor(corio_task *t, resolve_job *job) {
  corio_job_options options = {.release = job_release};
  corio_future *fut;
  int rc;

  atomic_fetch_add(&job->refs, 1); /* the executor's */
  rc = corio_run_in_executor_ex(corio_task_loop(t), NULL, run_job, job,
                                &options, &fut);
  if (rc < 0) {
    atomic_fetch_sub(&job->refs, 1); /* never submitted */
    return rc;
  }
  rc = corio_future_await(fut, NULL);
  corio_future_unref(fut);
  return rc;
}

/* getaddrinfo's and getnameinfo's outcome: the call's own return code
 * with its errno, or EAI_SYSTEM with errno set when the job was lost (the
 * task cancelled: ECANCELED). */
static int run_job_outcome(corio_task *t, resolve_job *job) {
  int rc = run_on_executor(t, job);

  if (rc < 0) {
    (void)corio__hook_fail(t, rc);
    return EAI_SYSTEM;
  }
  errno = job->err;
  return job->rc;
}

int getaddrinfo(const char *host, const char *service,
                const struct addrinfo *hints, struct addrinfo **res) {
  corio_task *t = corio__hook_task();
  resolve_job *job;
  int failed = 0, rc;

  if (!t || !res)
    return REAL(getaddrinfo)(host, service, hints, res);
  if (!(job = job_new(JOB_ADDRINFO)))
    return EAI_MEMORY;
  job->host = dup_or_null(host, &failed);
  job->service = dup_or_null(service, &failed);
  if (hints) {
    job->has_hints = 1;
    job->hints.ai_flags = hints->ai_flags;
    job->hints.ai_family = hints->ai_family;
    job->hints.ai_socktype = hints->ai_socktype;
    job->hints.ai_protocol = hints->ai_protocol;
  }
  if (failed) {
    job_unref(job);
    return EAI_MEMORY;
  }
  if ((rc = run_job_outcome(t, job)) == 0) {
    *res = job->res;
    job->res = NULL; /* the caller's now */
  }
  job_unref(job);
  return rc;
}

int getnameinfo(const struct sockaddr *addr, socklen_t addr_len, char *host,
                socklen_t host_len, char *service, socklen_t service_len,
                int flags) {
  corio_task *t = corio__hook_task();
  resolve_job *job;
  int rc;

  if (!t || !addr || addr_len > (socklen_t)sizeof job->addr ||
      ((!host || !host_len || (flags & NI_NUMERICHOST)) &&
       (!service || !service_len || (flags & NI_NUMERICSERV))))
    return REAL(getnameinfo)(addr, addr_len, host, host_len, service,
                             service_len, flags); /* nothing to wait for */
  if (!(job = job_new(JOB_NAMEINFO)))
    return EAI_MEMORY;
  memcpy(&job->addr, addr, addr_len);
  job->addr_len = addr_len;
  job->flags = flags;
  job->host_len = host ? host_len : 0;
  job->service_len = service ? service_len : 0;
  if ((job->host_len && !(job->host_out = malloc(job->host_len))) ||
      (job->service_len && !(job->service_out = malloc(job->service_len)))) {
    job_unref(job);
    return EAI_MEMORY;
  }
  if ((rc = run_job_outcome(t, job)) == 0) {
    if (job->host_len)
      memcpy(host, job->host_out, job->host_len);
    if (job->service_len)
      memcpy(service, job->service_out, job->service_len);
  }
  job_unref(job);
  return rc;
}

int gethostbyname_r(const char *name, struct hostent *ret, char *buf,
                    size_t len, struct hostent **out, int *err) {
  corio_task *t = corio__hook_task();
  resolve_job *job;
  int rc;

  if (!t || !name)
    return REAL(gethostbyname_r)(name, ret, buf, len, out, err);
  if (!(job = job_new(JOB_HOSTBYNAME)) || !(job->host = strdup(name))) {
    if (job)
      job_unref(job);
    *out = NULL;
    *err = NO_RECOVERY;
    return ENOMEM;
  }
  *out = NULL;
  rc = run_on_executor(t, job);
  if (rc < 0) {
    (void)corio__hook_fail(t, rc);
    *err = NO_RECOVERY;
    rc = errno;
  } else if (!job->hostent) {
    *err = job->err;
    rc = 0; /* not found: *out NULL, the reason in *err */
  } else {
    /* Into the caller's buffer, as the real call does. */
    rc = pack_hostent(job->hostent, ret, buf, len);
    if (rc == 0)
      *out = ret;
    else
      *err = NETDB_INTERNAL;
  }
  job_unref(job);
  return rc;
}

/* gethostbyname's answer: one per thread, overwritten in place by the
 * thread's next call (never freed under a task that still reads it
 * across a suspension), and moved only when a bigger answer needs more
 * room, as glibc's static one. */
static _Thread_local struct hostent last_hostent;
static _Thread_local char *last_buf;
static _Thread_local size_t last_size;

struct hostent *gethostbyname(const char *name) {
  corio_task *t = corio__hook_task();
  struct hostent *h = NULL;
  int herr = NO_RECOVERY, rc;

  if (!t || !name)
    return REAL(gethostbyname)(name);
  for (;;) {
    if (!last_buf) {
      if (!(last_buf = malloc(1024)))
        break;
      last_size = 1024;
    }
    rc = gethostbyname_r(name, &last_hostent, last_buf, last_size, &h, &herr);
    if (rc != ERANGE || last_size >= 1024 * 1024)
      break;
    {
      char *bigger = realloc(last_buf, last_size * 2);

      if (!bigger)
        break;
      last_buf = bigger;
      last_size *= 2;
    }
  }
  h_errno = herr;
  return h;
}
