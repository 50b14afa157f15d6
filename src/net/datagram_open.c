/* Making datagram endpoints: a socket with its options, bound and/or
 * connected, from names (resolved as connect does), socket addresses, Unix
 * paths or a socket the user hands over. */
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/sys_fd.h"
#include "core/sys_net.h"
#include "corio/net.h"
#include "net/address.h"
#include "net/datagram_internal.h"

static int check_out(corio_datagram **out, corio_loop **loop) {
  if (!out)
    return -EINVAL;
  *out = NULL;
  if (!*loop)
    *loop = corio_loop_current();
  return *loop ? 0 : CORIO_ENOLOOP;
}

static int set_options(int fd, unsigned flags) {
  int rc = 0;

  if (flags & CORIO_DATAGRAM_REUSE_ADDRESS)
    rc = corio__sys_setsockopt_int(fd, SOL_SOCKET, SO_REUSEADDR, 1);
  if (rc == 0 && (flags & CORIO_DATAGRAM_REUSE_PORT))
    rc = corio__sys_setsockopt_int(fd, SOL_SOCKET, SO_REUSEPORT, 1);
  if (rc == 0 && (flags & CORIO_DATAGRAM_BROADCAST))
    rc = corio__sys_setsockopt_int(fd, SOL_SOCKET, SO_BROADCAST, 1);
  return rc;
}

/* asyncio's allow_broadcast with a remote address does not connect: the
 * remote is only where sends go, and answers come from any host (a
 * broadcast's answers come from each host's own address, which a
 * connected socket would filter out). */
static int connects(const corio_datagram_options *o) {
  return !(o->flags & CORIO_DATAGRAM_BROADCAST);
}

/* A socket of family with the options, bound to local and connected to
 * remote (either may be NULL; see connects): the fd, or a negative errno
 * (nothing left open). */
static int make_socket(int family, const corio_datagram_options *o,
                       const struct sockaddr *local, socklen_t local_len,
                       const struct sockaddr *remote, socklen_t remote_len) {
  int fd = corio__sys_socket(family, SOCK_DGRAM, 0), rc;

  if (fd < 0)
    return fd;
  rc = set_options(fd, o->flags);
  if (rc == 0 && local)
    rc = corio__sys_bind(fd, local, local_len);
  /* A datagram connect only sets the peer: it completes at once. */
  if (rc == 0 && remote && connects(o))
    rc = corio__sys_connect(fd, remote, remote_len);
  if (rc < 0) {
    corio__sys_close(fd);
    return rc;
  }
  return fd;
}

/* The endpoint over fd, connected to remote or sending to it by default
 * (see connects). */
static int endpoint_new(corio_loop *loop, int fd, int family,
                        const struct sockaddr *remote, socklen_t remote_len,
                        const corio_datagram_options *o, corio_datagram **out) {
  int rc = corio__datagram_new(loop, fd, family, remote && connects(o), o, out);

  if (rc == 0 && remote && !connects(o))
    (void)corio__datagram_set_destination(*out, remote, remote_len);
  return rc;
}

static int family_of(const struct sockaddr *local,
                     const struct sockaddr *remote,
                     const corio_datagram_options *o) {
  int family = local    ? local->sa_family
               : remote ? remote->sa_family
                        : o->family;

  if (local && remote && local->sa_family != remote->sa_family)
    return -1;
  if (o->family != AF_UNSPEC && family != o->family)
    return -1;
  return family;
}

int corio_datagram_open_addr(corio_loop *loop, const struct sockaddr *local,
                             socklen_t local_len, const struct sockaddr *remote,
                             socklen_t remote_len,
                             const corio_datagram_options *options,
                             corio_datagram **out) {
  static const corio_datagram_options defaults;
  int rc, fd, family;

  if ((rc = check_out(out, &loop)) < 0)
    return rc;
  if (!options)
    options = &defaults;
  if ((local && local_len <= 0) ||
      (remote && (remote_len <= 0 ||
                  remote_len > (socklen_t)sizeof(struct sockaddr_storage))))
    return -EINVAL;
  family = family_of(local, remote, options);
  if (family != AF_INET && family != AF_INET6 && family != AF_UNIX)
    return -EINVAL;
  if ((rc = corio__datagram_check_options(options)) < 0)
    return rc;
  fd = make_socket(family, options, local, local_len, remote, remote_len);
  if (fd < 0)
    return fd;
  return endpoint_new(loop, fd, family, remote, remote_len, options, out);
}

/* ---- by name ------------------------------------------------------------- */

static int resolve(const char *host, int port, int family, int passive,
                   struct addrinfo **res) {
  struct addrinfo hints;
  char service[8];

  if (port < 0 || port > 65535)
    return -EINVAL;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = family;
  hints.ai_socktype = SOCK_DGRAM;
  hints.ai_protocol = IPPROTO_UDP;
  hints.ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0);
  snprintf(service, sizeof service, "%d", port);
  /* A numeric host is converted at once, without the executor. */
  return corio_getaddrinfo(host && *host ? host : NULL, service, &hints, res);
}

/* The first local address of family, or NULL. */
static const struct addrinfo *local_for(const struct addrinfo *locals,
                                        int family) {
  for (; locals; locals = locals->ai_next)
    if (locals->ai_family == family)
      return locals;
  return NULL;
}

/* asyncio's pairing: each remote address with a local one of its family
 * (or each local one alone), the first socket that works wins; *chosen is
 * its remote address. */
static int try_pairs(const struct addrinfo *locals,
                     const struct addrinfo *remotes,
                     const corio_datagram_options *o, int *family,
                     const struct addrinfo **chosen) {
  const struct addrinfo *ai = remotes ? remotes : locals;
  int first_error = 0;

  for (; ai; ai = ai->ai_next) {
    const struct addrinfo *local =
        remotes ? local_for(locals, ai->ai_family) : ai;
    int fd;

    if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6)
      continue;
    if (remotes && locals && !local)
      continue;
    fd =
        make_socket(ai->ai_family, o, local ? local->ai_addr : NULL,
                    local ? local->ai_addrlen : 0, remotes ? ai->ai_addr : NULL,
                    remotes ? ai->ai_addrlen : 0);
    if (fd >= 0) {
      *family = ai->ai_family;
      *chosen = remotes ? ai : NULL;
      return fd;
    }
    if (!first_error)
      first_error = fd;
  }
  /* No pair of the same family: asyncio's "could not bind to any
   * address" for mismatched families. */
  return first_error ? first_error : -EADDRNOTAVAIL;
}

int corio_create_datagram_endpoint(const char *local_host, int local_port,
                                   const char *remote_host, int remote_port,
                                   const corio_datagram_options *options,
                                   corio_datagram **out) {
  static const corio_datagram_options defaults;
  struct addrinfo *locals = NULL, *remotes = NULL;
  const struct addrinfo *remote = NULL;
  corio_loop *loop = NULL;
  int rc, fd, family = AF_UNSPEC;

  if ((rc = check_out(out, &loop)) < 0)
    return rc;
  if (!corio__wait_self())
    return CORIO_ENOTASK;
  if (!options)
    options = &defaults;
  if (options->family != AF_UNSPEC && options->family != AF_INET &&
      options->family != AF_INET6)
    return -EINVAL;
  if ((rc = corio__datagram_check_options(options)) < 0)
    return rc;
  if (!local_host && !remote_host)
    return corio_datagram_open_addr(loop, NULL, 0, NULL, 0, options, out);
  if (local_host &&
      (rc = resolve(local_host, local_port, options->family, 1, &locals)) < 0)
    return rc;
  if (remote_host && (rc = resolve(remote_host, remote_port, options->family, 0,
                                   &remotes)) < 0) {
    if (locals)
      corio_freeaddrinfo(locals);
    return rc;
  }
  fd = try_pairs(locals, remotes, options, &family, &remote);
  if (fd >= 0)
    rc = endpoint_new(loop, fd, family, remote ? remote->ai_addr : NULL,
                      remote ? remote->ai_addrlen : 0, options, out);
  if (locals)
    corio_freeaddrinfo(locals);
  if (remotes)
    corio_freeaddrinfo(remotes);
  return fd < 0 ? fd : rc;
}

/* ---- Unix datagram sockets ----------------------------------------------- */

/* asyncio removes a socket file left at the path before binding. */
static void remove_stale_socket(const struct sockaddr_un *sa) {
  struct stat st;

  if (sa->sun_path[0] && stat(sa->sun_path, &st) == 0 && S_ISSOCK(st.st_mode))
    (void)unlink(sa->sun_path);
}

int corio_datagram_open_unix(corio_loop *loop, const char *local_path,
                             const char *remote_path,
                             const corio_datagram_options *options,
                             corio_datagram **out) {
  corio_datagram_options opts = {0};
  struct sockaddr_un local, remote;
  socklen_t local_len = 0, remote_len = 0;
  struct stat st;
  int rc;

  if ((rc = check_out(out, &loop)) < 0)
    return rc;
  if (options)
    opts = *options;
  opts.family = AF_UNIX;
  if (local_path &&
      (rc = corio__net_unix_address(local_path, &local, &local_len)) < 0)
    return rc;
  if (remote_path &&
      (rc = corio__net_unix_address(remote_path, &remote, &remote_len)) < 0)
    return rc;
  if (local_path)
    remove_stale_socket(&local);
  rc = corio_datagram_open_addr(
      loop, local_path ? (struct sockaddr *)&local : NULL, local_len,
      remote_path ? (struct sockaddr *)&remote : NULL, remote_len, &opts, out);
  if (rc < 0 || !local_path || !local.sun_path[0])
    return rc;
  /* The file is this endpoint's: removed on close if still the same. */
  if (stat(local.sun_path, &st) == 0) {
    (*out)->bound_path = local;
    (*out)->path_dev = st.st_dev;
    (*out)->path_ino = st.st_ino;
    (*out)->owns_path = 1;
  }
  return 0;
}

/* ---- a socket handed over ------------------------------------------------ */

int corio_datagram_open_fd(corio_loop *loop, int fd,
                           const corio_datagram_options *options,
                           corio_datagram **out) {
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;
  int rc, type = 0, connected;
  socklen_t type_len = sizeof type;

  if (fd < 0)
    return -EINVAL;
  if ((rc = check_out(out, &loop)) < 0)
    goto fail;
  if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &type_len) != 0) {
    rc = -errno;
    goto fail;
  }
  if (type != SOCK_DGRAM) {
    rc = -EPROTOTYPE;
    goto fail;
  }
  if ((rc = corio__sys_set_nonblock_cloexec(fd)) < 0)
    goto fail;
  if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0) {
    rc = -errno;
    goto fail;
  }
  len = sizeof ss;
  connected = getpeername(fd, (struct sockaddr *)&ss, &len) == 0;
  /* getpeername changed ss only on success: the family is in it either
   * way. */
  return corio__datagram_new(loop, fd, ss.ss_family, connected, options, out);
fail:
  corio__sys_close(fd);
  return rc;
}
