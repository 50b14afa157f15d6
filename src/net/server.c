/* Servers: listening sockets, the accept loop, one handler task per
 * connection, and the closing rules of asyncio 3.12 (wait_closed waits for
 * the handlers). */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/str.h"
#include "core/sys_fd.h"
#include "core/sys_net.h"
#include "loop/ext.h"
#include "net/address.h"
#include "net/server_internal.h"
#include "net/stream_internal.h"
#include "net/tls_internal.h"

/* Connections taken per readiness event of a listener: enough to drain a
 * burst in few iterations, few enough that serving goes on meanwhile. */
enum { ACCEPT_BATCH = 64 };
/* asyncio's backoff when out of fds. */
#define ACCEPT_RETRY_DELAY 0.1

static void server_free(corio_server *srv) {
  corio_loop *loop = srv->loop;

  if (srv->backoff) {
    corio_handle_cancel(srv->backoff);
    corio_handle_unref(srv->backoff);
  }

  if (srv->held)
    corio__free(srv->held, srv->held_cap * sizeof *srv->held);
  if (srv->unix_path)
    corio__free(srv->unix_path, srv->unix_path_size);
  if (srv->conn.tls)
    corio_tls_context_unref(srv->conn.tls);
  corio__free(srv, sizeof *srv);
  corio__loop_mem_unref(loop);
}

corio_server *corio_server_ref(corio_server *server) {
  if (server)
    server->refs++;
  return server;
}

/* The memory goes once nobody holds the server and no handler runs. */
static void maybe_free(corio_server *srv) {
  if (srv->refs == 0 && srv->nclients == 0 && srv->accepts_armed == 0)
    server_free(srv);
}

void corio__server_maybe_free(corio_server *srv) { maybe_free(srv); }

/* refs counts the user's references (and the calls that wait on the
 * server); running handlers are counted by nclients. So the last user
 * reference closes the server even while handlers run, as documented. */
void corio_server_unref(corio_server *server) {
  if (!server || --server->refs > 0)
    return;
  corio__server_close_listeners(server);
  maybe_free(server);
}

/* ---- handlers ------------------------------------------------------------ */

static void unlink_client(corio_server *srv, corio_stream *s) {
  if (s->client_prev)
    s->client_prev->client_next = s->client_next;
  else if (srv->clients == s)
    srv->clients = s->client_next;
  if (s->client_next)
    s->client_next->client_prev = s->client_prev;
  s->client_prev = s->client_next = NULL;
  s->server = NULL;
  srv->nclients--;
}

/* A connection's handler is over (or never ran): the stream is closed,
 * or aborted, and the server lets it go. */
static void client_done(corio_server *srv, corio_stream *s, int abort) {
  unlink_client(srv, s);
  (void)(abort ? corio_stream_abort(s) : corio_stream_close(s));
  corio_stream_unref(s);
  if (srv->nclients == 0)
    corio__waitq_wake_all(&srv->closers, 0);
}

static int client_main(void *arg, void **result) {
  corio_stream *s = arg;
  corio_server *srv = s->server;
  int rc;

  (void)result;
  s->handler_started = 1;
  /* A TLS connection shakes hands first; one that fails never reaches the
   * handler (its error goes to the loop's exception handler). */
  if (srv->conn.tls &&
      (rc = corio__tls_begin(s, srv->conn.tls, NULL,
                             srv->conn.tls_handshake_timeout,
                             srv->conn.tls_shutdown_timeout)) < 0) {
    client_done(srv, s, 1);
    maybe_free(srv);
    return rc;
  }
  rc = srv->handler(s, srv->arg);
  client_done(srv, s, 0);
  maybe_free(srv);
  return rc;
}

void corio__server_start_client(corio_server *srv, int fd, int family) {
  corio_spawn_options opts = {0};
  corio_stream *s;
  int rc;

  if (corio__stream_new(srv->loop, fd, family, &srv->conn, &s) < 0)
    return; /* the fd is closed: the peer sees the connection drop */
  s->server = srv;
  s->client_next = srv->clients;
  if (srv->clients)
    srv->clients->client_prev = s;
  srv->clients = s;
  srv->nclients++;
  opts.loop = srv->loop;
  opts.stack_size = srv->stack_size;
  /* The handler starts now, in this callback, up to its first read: one
   * loop iteration sooner. Its body may end inside the spawn and let the
   * stream go: a reference is held across. A task that could not start
   * (no task, or no stack for it: it fails without running its body)
   * leaves the cleanup to here. The caller (the accept callback) holds
   * the server. */
  opts.eager = 1;
  s->refs++;
  rc = corio_spawn_ex(NULL, client_main, s, &opts);
  if (rc < 0 || !s->handler_started)
    client_done(srv, s, 1);
  corio_stream_unref(s);
}

/* ---- accepting ----------------------------------------------------------- */

static int on_acceptable(void *arg);

static void report(corio_server *srv, const char *message, int error) {
  corio_loop_error e = {0};

  e.message = message;
  e.error = error;
  corio_loop_call_exception_handler(srv->loop, &e);
}

static int set_serving(corio_server *srv, int on) {
  int rc = 0;

  if (srv->ring)
    return corio__server_uring_serving(srv, on);
  for (int i = 0; i < srv->nlisteners; i++) {
    corio__listener *l = &srv->listeners[i];

    if (on)
      rc = corio_loop_add_reader(srv->loop, l->fd, on_acceptable, l);
    else
      (void)corio_loop_remove_reader(srv->loop, l->fd);
    if (rc < 0) {
      while (i-- > 0)
        (void)corio_loop_remove_reader(srv->loop, srv->listeners[i].fd);
      return rc;
    }
  }
  return 0;
}

static int resume_accepting(void *arg) {
  corio_server *srv = arg;

  corio_handle_unref(srv->backoff);
  srv->backoff = NULL;
  srv->accept_paused = 0;
  if (srv->serving && !srv->closed) {
    (void)set_serving(srv, 1);
    corio__server_uring_release_held(srv, 1);
  }
  return 0;
}

/* Out of fds (or kernel memory): accepting again at once would spin, so
 * the listeners rest for a moment while connections close. */
static void pause_accepting(corio_server *srv, int error) {
  if (!srv->fd_shortage_logged) {
    srv->fd_shortage_logged = 1;
    report(srv, "socket.accept() out of system resource", error);
    if (srv->closed) /* by the exception handler */
      return;
  }
  (void)set_serving(srv, 0);
  srv->accept_paused = 1;
  if (corio_loop_call_later(srv->loop, ACCEPT_RETRY_DELAY, resume_accepting,
                            srv, &srv->backoff) < 0) {
    srv->backoff = NULL;
    srv->accept_paused = 0;
    (void)set_serving(srv, 1);
  }
}

/* The peer gave up before it was accepted, or a network error is pending
 * on the new connection: the next one may be fine. */
static int is_transient(int error) {
  return error == -ECONNABORTED || error == -EPROTO || error == -ENETDOWN ||
         error == -ENOPROTOOPT || error == -EHOSTDOWN || error == -ENONET ||
         error == -EHOSTUNREACH || error == -EOPNOTSUPP ||
         error == -ENETUNREACH || error == -EPERM;
}

int corio__server_accept_failed(corio_server *srv, int error) {
  if (is_transient(error))
    return 1;
  if (error == -EMFILE || error == -ENFILE || error == -ENOBUFS ||
      error == -ENOMEM) {
    pause_accepting(srv, error);
    return 0;
  }
  report(srv, "error while accepting a connection", error);
  return 1;
}

/* Handlers start eagerly in here and may close, stop or drop the server:
 * it is held across the batch, and the batch stops with the serving. */
static int on_acceptable(void *arg) {
  corio__listener *l = arg;
  corio_server *srv = l->server;
  int family = l->family;

  srv->refs++;
  for (int i = 0; i < ACCEPT_BATCH; i++) {
    int fd;

    if (srv->closed || !srv->serving || srv->accept_paused)
      break;
    fd = corio__sys_accept(l->fd, NULL, NULL);
    if (fd >= 0) {
      corio__server_start_client(srv, fd, family);
      continue;
    }
    if (fd == -EAGAIN || fd == -EWOULDBLOCK)
      break;
    if (is_transient(fd))
      continue;
    (void)corio__server_accept_failed(srv, fd);
    break;
  }
  corio_server_unref(srv);
  return 0;
}

/* ---- listening ----------------------------------------------------------- */

static int port_of(const struct sockaddr *sa) {
  if (sa->sa_family == AF_INET)
    return ntohs(((const struct sockaddr_in *)sa)->sin_port);
  if (sa->sa_family == AF_INET6)
    return ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
  return 0;
}

static void set_port(struct sockaddr *sa, int port) {
  if (sa->sa_family == AF_INET)
    ((struct sockaddr_in *)sa)->sin_port = htons((uint16_t)port);
  else if (sa->sa_family == AF_INET6)
    ((struct sockaddr_in6 *)sa)->sin6_port = htons((uint16_t)port);
}

static int listen_on(corio_server *srv, const struct sockaddr *addr,
                     socklen_t len, int backlog, unsigned flags) {
  corio__listener *l = &srv->listeners[srv->nlisteners];
  int fd, rc;

  fd = corio__sys_socket(addr->sa_family, SOCK_STREAM, 0);
  if (fd < 0)
    return fd;
  if (addr->sa_family != AF_UNIX) {
    if (!(flags & CORIO_NET_NO_REUSE_ADDRESS))
      (void)corio__sys_setsockopt_int(fd, SOL_SOCKET, SO_REUSEADDR, 1);
    if ((flags & CORIO_NET_REUSE_PORT) &&
        (rc = corio__sys_setsockopt_int(fd, SOL_SOCKET, SO_REUSEPORT, 1)) < 0)
      goto fail;
    /* Each family on its own socket, so the v6 one leaves v4 alone; or
     * one socket for both (whatever net.ipv6.bindv6only says). */
    if (addr->sa_family == AF_INET6)
      (void)corio__sys_setsockopt_int(fd, IPPROTO_IPV6, IPV6_V6ONLY,
                                      !(flags & CORIO_NET_NO_DUALSTACK));
  }
  if ((rc = corio__sys_bind(fd, addr, len)) < 0 ||
      (rc = corio__sys_listen(fd, backlog)) < 0)
    goto fail;
  l->server = srv;
  l->fd = fd;
  l->family = addr->sa_family;
  srv->nlisteners++;
  return 0;
fail:
  corio__sys_close(fd);
  return rc;
}

static int has_v6_wildcard(const struct addrinfo *res) {
  for (; res; res = res->ai_next)
    if (res->ai_family == AF_INET6 &&
        IN6_IS_ADDR_UNSPECIFIED(
            &((const struct sockaddr_in6 *)res->ai_addr)->sin6_addr))
      return 1;
  return 0;
}

static int server_new(corio_stream_handler handler, void *arg,
                      const corio_server_options *options, corio_server **out) {
  corio_loop *loop;
  corio__net_loop *net;
  corio_server *srv;
  int rc;

  if (!handler || !out)
    return -EINVAL;
  *out = NULL;
  if (options && options->backlog < 0)
    return -EINVAL;
  if (options && options->tls &&
      (rc = corio__tls_check_options(options->tls, CORIO_TLS_SERVER,
                                     options->tls_handshake_timeout,
                                     options->tls_shutdown_timeout)) < 0)
    return rc;
  if (!corio__wait_self())
    return CORIO_ENOTASK;
  loop = corio_loop_running();
  if ((rc = corio__net_loop_get(loop, &net)) < 0)
    return rc;
  srv = corio__calloc(sizeof *srv);
  if (!srv)
    return -ENOMEM;
  srv->loop = loop;
  srv->net = net;
  srv->refs = 1;
  srv->handler = handler;
  srv->arg = arg;
  if (options) {
    srv->conn.limit = options->limit;
    srv->conn.flags = options->flags;
    srv->stack_size = options->stack_size;
    srv->conn.tls = corio_tls_context_ref(options->tls);
    srv->conn.tls_handshake_timeout = options->tls_handshake_timeout;
    srv->conn.tls_shutdown_timeout = options->tls_shutdown_timeout;
  }
  corio__loop_mem_ref(loop);
  *out = srv;
  return 0;
}

/* The listeners are open: register, and serve unless told not to. */
static int server_ready(corio_server *srv, unsigned flags, corio_server **out) {
  int rc;

  corio__net_loop_add_server(srv->net, srv);
  corio__server_uring_attach(srv);
  if (!(flags & CORIO_NET_NO_START) &&
      (rc = corio_server_start_serving(srv)) < 0) {
    corio_server_unref(srv);
    return rc;
  }
  *out = srv;
  return 0;
}

static void close_listener_fds(corio_server *srv) {
  for (int i = 0; i < srv->nlisteners; i++)
    corio__sys_close(srv->listeners[i].fd);
  srv->nlisteners = 0;
}

/* Port 0 with several listeners: the first one's free port may be taken
 * for another address; the whole set is tried again on a new port. */
enum { PORT_ZERO_ATTEMPTS = 16 };

/* Listens on every address of res. Returns 0, or the error with the
 * failing address in *failed_at (the listeners opened are left open). */
static int listen_all(corio_server *srv, const struct addrinfo *res, int port,
                      const corio_server_options *options,
                      const struct addrinfo **failed_at) {
  int skip_v4_wildcard =
      (options->flags & CORIO_NET_NO_DUALSTACK) && has_v6_wildcard(res);
  int rc;

  srv->port = port;
  for (const struct addrinfo *ai = res; ai; ai = ai->ai_next) {
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;

    if (srv->nlisteners == CORIO__SERVER_MAX_LISTENERS)
      break;
    if (ai->ai_addrlen > sizeof ss)
      continue;
    /* One dual-stack socket: the IPv6 wildcard takes IPv4 as well. */
    if (skip_v4_wildcard && ai->ai_family == AF_INET &&
        ((const struct sockaddr_in *)ai->ai_addr)->sin_addr.s_addr ==
            htonl(INADDR_ANY))
      continue;
    memcpy(&ss, ai->ai_addr, ai->ai_addrlen);
    /* Port 0: every listener on the port the first one was given. */
    set_port((struct sockaddr *)&ss, srv->port);
    rc = listen_on(srv, (struct sockaddr *)&ss, ai->ai_addrlen,
                   options->backlog ? options->backlog : 100, options->flags);
    if (rc < 0) {
      *failed_at = ai;
      return rc;
    }
    if (srv->port == 0 && getsockname(srv->listeners[srv->nlisteners - 1].fd,
                                      (struct sockaddr *)&ss, &len) == 0)
      srv->port = port_of((struct sockaddr *)&ss);
  }
  return 0;
}

int corio_start_server(corio_stream_handler handler, void *arg,
                       const char *host, int port,
                       const corio_server_options *options,
                       corio_server **out) {
  static const corio_server_options defaults;
  const struct addrinfo *failed_at = NULL;
  struct addrinfo *res = NULL;
  corio_server *srv;
  char addr[128];
  int rc;

  if (!options)
    options = &defaults;
  if ((rc = server_new(handler, arg, options, &srv)) < 0)
    return rc;
  rc = corio__net_resolve(host, port, options->family, 1, &res);
  if (rc < 0)
    goto fail;
  for (int attempt = 1;; attempt++) {
    rc = listen_all(srv, res, port, options, &failed_at);
    if (rc != -EADDRINUSE || port != 0 || srv->nlisteners == 0 ||
        attempt == PORT_ZERO_ATTEMPTS)
      break;
    close_listener_fds(srv);
  }
  if (rc < 0) {
    struct sockaddr_storage ss;

    memcpy(&ss, failed_at->ai_addr, failed_at->ai_addrlen);
    set_port((struct sockaddr *)&ss, srv->port);
    corio_format_address((struct sockaddr *)&ss, failed_at->ai_addrlen, addr,
                         sizeof addr);
    (void)corio_fail(rc, "could not bind on address %s: %s", addr,
                     corio_strerror(rc));
    corio_freeaddrinfo(res);
    goto fail;
  }
  corio_freeaddrinfo(res);
  return server_ready(srv, options->flags, out);
fail:
  close_listener_fds(srv);
  server_free(srv);
  return rc;
}

/* A socket file nobody accepts on is stale; a live one is in use. */
static int clear_stale_socket(const char *path, const struct sockaddr_un *sa,
                              socklen_t len) {
  struct stat st;
  int fd, rc;

  if (lstat(path, &st) != 0)
    return errno == ENOENT ? 0 : -errno;
  if (!S_ISSOCK(st.st_mode))
    return -EADDRINUSE;
  fd = corio__sys_socket(AF_UNIX, SOCK_STREAM, 0);
  if (fd < 0)
    return fd;
  rc = corio__sys_connect(fd, (const struct sockaddr *)sa, len);
  corio__sys_close(fd);
  if (rc != -ECONNREFUSED)
    return -EADDRINUSE;
  return unlink(path) == 0 || errno == ENOENT ? 0 : -errno;
}

int corio_start_unix_server(corio_stream_handler handler, void *arg,
                            const char *path,
                            const corio_server_options *options,
                            corio_server **out) {
  static const corio_server_options defaults;
  struct sockaddr_un sa;
  corio_server *srv;
  socklen_t len;
  int rc;

  if (!options)
    options = &defaults;
  if ((rc = corio__net_unix_address(path, &sa, &len)) < 0)
    return rc;
  if ((rc = server_new(handler, arg, options, &srv)) < 0)
    return rc;
  if (path[0] != '@' && (rc = clear_stale_socket(path, &sa, len)) < 0)
    goto fail;
  rc = listen_on(srv, (struct sockaddr *)&sa, len,
                 options->backlog ? options->backlog : 100, options->flags);
  if (rc < 0)
    goto fail;
  if (path[0] != '@') {
    struct stat st;

    srv->unix_path_size = strlen(path) + 1;
    srv->unix_path = corio__alloc(srv->unix_path_size);
    if (!srv->unix_path) {
      rc = -ENOMEM;
      (void)unlink(path);
      goto fail;
    }
    memcpy(srv->unix_path, path, srv->unix_path_size);
    if (stat(path, &st) == 0) {
      srv->unix_dev = st.st_dev;
      srv->unix_ino = st.st_ino;
    }
  }
  return server_ready(srv, options->flags, out);
fail:
  (void)corio_fail(rc, "could not listen on %s: %s", path, corio_strerror(rc));
  close_listener_fds(srv);
  server_free(srv);
  return rc;
}

/* ---- serving and closing ------------------------------------------------- */

int corio_server_start_serving(corio_server *server) {
  int rc;

  if (!server)
    return -EINVAL;
  if (server->closed)
    return CORIO_ESERVERCLOSED;
  if (server->serving)
    return 0;
  if (!server->accept_paused && (rc = set_serving(server, 1)) < 0)
    return rc;
  server->serving = 1;
  corio__server_uring_release_held(server, 1);
  return 0;
}

int corio_server_stop_serving(corio_server *server) {
  if (!server)
    return -EINVAL;
  if (server->closed)
    return CORIO_ESERVERCLOSED;
  if (server->serving && !server->accept_paused)
    (void)set_serving(server, 0);
  server->serving = 0;
  return 0;
}

int corio_server_is_serving(const corio_server *server) {
  return server && server->serving;
}

void corio__server_close_listeners(corio_server *srv) {
  struct stat st;

  if (srv->closed)
    return;
  srv->closed = 1;
  if (srv->serving && !srv->accept_paused)
    (void)set_serving(srv, 0);
  srv->serving = 0;
  if (srv->backoff) {
    corio_handle_cancel(srv->backoff);
    corio_handle_unref(srv->backoff);
    srv->backoff = NULL;
  }
  close_listener_fds(srv);
  corio__server_uring_release_held(srv, 0);
  /* Only our own file: another server may have replaced it since. */
  if (srv->unix_path && stat(srv->unix_path, &st) == 0 &&
      st.st_dev == srv->unix_dev && st.st_ino == srv->unix_ino)
    (void)unlink(srv->unix_path);
  corio__net_loop_remove_server(srv->net, srv);
  corio__waitq_wake_all(&srv->forever, 0);
  corio__waitq_wake_all(&srv->closers, 0);
}

int corio_server_close(corio_server *server) {
  if (!server)
    return -EINVAL;
  corio__server_close_listeners(server);
  return 0;
}

static int each_client(corio_server *srv, int (*fn)(corio_stream *)) {
  if (!srv)
    return -EINVAL;
  /* Closing does not unlink (the handler does when it returns); the next
   * one is read first all the same. */
  for (corio_stream *s = srv->clients, *next; s; s = next) {
    next = s->client_next;
    (void)fn(s);
  }
  return 0;
}

int corio_server_close_clients(corio_server *server) {
  return each_client(server, corio_stream_close);
}

int corio_server_abort_clients(corio_server *server) {
  return each_client(server, corio_stream_abort);
}

/* ---- waiting ------------------------------------------------------------- */

/* "on 127.0.0.1:8080 (+1 more), 3 clients", for dumps (task/wait.h). */
static void describe_server(const void *object, char *buf, size_t len) {
  const corio_server *srv = object;
  struct sockaddr_storage ss;
  socklen_t sl = sizeof ss;
  char addr[128] = "";
  size_t used = 0;

  if (len == 0)
    return;
  buf[0] = 0;
  if (corio_server_address(srv, 0, (struct sockaddr *)&ss, &sl) == 0)
    corio_format_address((struct sockaddr *)&ss, sl, addr, sizeof addr);
  if (srv->closed)
    corio__appendf(buf, len, &used, "closed");
  else if (srv->nlisteners > 1)
    corio__appendf(buf, len, &used, "on %s (+%d more)", addr,
                   srv->nlisteners - 1);
  else
    corio__appendf(buf, len, &used, "on %s", addr);
  corio__appendf(buf, len, &used, ", %zu clients", srv->nclients);
}

static const corio__wait_kind wait_closed_kind = {.name = "server wait_closed",
                                                  .describe = describe_server};
static const corio__wait_kind serve_forever_kind = {
    .name = "server serve_forever", .describe = describe_server};

int corio_server_wait_closed(corio_server *server) {
  corio_task *self = corio__wait_self();
  int rc = 0;

  if (!server)
    return -EINVAL;
  if (!self)
    return CORIO_ENOTASK;
  server->refs++;
  while (rc == 0 && !(server->closed && server->nclients == 0)) {
    sync_waiter waiter;

    rc = corio__waitq_wait_on(&server->closers, &waiter, self,
                              &wait_closed_kind, server);
  }
  corio_server_unref(server);
  return rc;
}

int corio_server_serve_forever(corio_server *server) {
  corio_task *self = corio__wait_self();
  int rc;

  if (!server)
    return -EINVAL;
  if (!self)
    return CORIO_ENOTASK;
  if (!corio__waitq_empty(&server->forever))
    return CORIO_EINVALSTATE; /* asyncio: already serving forever */
  if ((rc = corio_server_start_serving(server)) < 0)
    return rc;
  server->refs++;
  while (!server->closed) {
    sync_waiter waiter;

    rc = corio__waitq_wait_on(&server->forever, &waiter, self,
                              &serve_forever_kind, server);
    if (rc < 0)
      break;
  }
  /* Cancelled (or closed by someone else): close, wait for the handlers,
   * and report the cancellation. */
  corio__server_close_listeners(server);
  {
    int wait_rc = corio_server_wait_closed(server);

    if (rc == 0)
      rc = wait_rc;
  }
  corio_server_unref(server);
  return rc;
}

size_t corio_server_sockets(const corio_server *server, int *fds, size_t cap) {
  size_t n;

  if (!server)
    return 0;
  n = (size_t)server->nlisteners;
  for (size_t i = 0; i < n && i < cap && fds; i++)
    fds[i] = server->listeners[i].fd;
  return n;
}

int corio_server_address(const corio_server *server, size_t index,
                         struct sockaddr *addr, socklen_t *len) {
  if (!server || !addr || !len)
    return -EINVAL;
  if (index >= (size_t)server->nlisteners)
    return -ENOENT;
  return getsockname(server->listeners[index].fd, addr, len) == 0 ? 0 : -errno;
}

int corio_server_port(const corio_server *server) {
  return server ? server->port : 0;
}

size_t corio_server_clients(const corio_server *server) {
  return server ? server->nclients : 0;
}
