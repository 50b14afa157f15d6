/* Networking: TCP and Unix streams (asyncio's reader/writer pair as one
 * object), servers, and name resolution. See docs/net.md.
 *
 * A stream owns its reads: the loop fills the stream's buffer whenever
 * the socket is readable (pausing while more than twice the limit is
 * buffered) and the read calls take bytes from that buffer. A read that
 * is cancelled, or that fails, therefore consumes nothing. Writes go to
 * the socket at once; only what the kernel did not take is buffered.
 *
 * Every call that may suspend must run in a task; it returns 0, a negative
 * errno, -ECANCELED, or one of corio's codes (corio_strerror names them).
 * Where a failure has more to say (which address, the resolver's text)
 * the message goes with the calling task's error, as corio_fail's does. */
#ifndef CORIO_NET_H
#define CORIO_NET_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "corio/error.h"
#include "corio/export.h"
#include "corio/loop.h"

#ifdef __cplusplus
extern "C" {
#endif

struct addrinfo;

typedef struct corio_stream corio_stream;
typedef struct corio_server corio_server;
struct corio_tls_context; /* corio/tls.h */

/* asyncio's defaults. */
#define CORIO_STREAM_DEFAULT_LIMIT ((size_t)64 * 1024)
#define CORIO_STREAM_DEFAULT_HIGH_WATER ((size_t)64 * 1024)
#define CORIO_STREAM_DEFAULT_LOW_WATER ((size_t)16 * 1024)
/* corio's own default for open_connection_ex (RFC 8305 recommends it). */
#define CORIO_HAPPY_EYEBALLS_DEFAULT_DELAY 0.25

/* Flags of the connect and server options. */
enum {
  CORIO_NET_NO_NODELAY = 1 << 0,       /* leave Nagle on (TCP_NODELAY is set) */
  CORIO_NET_KEEPALIVE = 1 << 1,        /* SO_KEEPALIVE on every connection */
  CORIO_NET_REUSE_PORT = 1 << 2,       /* server: SO_REUSEPORT */
  CORIO_NET_NO_REUSE_ADDRESS = 1 << 3, /* server: no SO_REUSEADDR */
  CORIO_NET_NO_START = 1 << 4,         /* server: start_serving=False */
  /* server: one IPv6 wildcard socket takes IPv4 too (IPV6_V6ONLY off)
   * instead of a socket per family */
  CORIO_NET_NO_DUALSTACK = 1 << 5,
  /* io_uring loops: a write with nothing pending is queued as a send op
   * that goes in with the loop's next submission, instead of a send(2)
   * at once. One syscall per loop iteration instead of one per write;
   * but write returns before the bytes reach the socket, which asyncio
   * code may assume (docs/loop.md, "The io_uring backend"). Ignored on
   * other backends. */
  CORIO_NET_BATCH_WRITES = 1 << 6
};

/* ---- connecting -----------------------------------------------------------
 * Zeroed options are corio's defaults. */
typedef struct corio_connect_options {
  size_t limit;   /* read limit; 0: CORIO_STREAM_DEFAULT_LIMIT */
  int family;     /* AF_UNSPEC (0), AF_INET or AF_INET6 */
  /* CORIO_NET_NO_NODELAY, CORIO_NET_KEEPALIVE, CORIO_NET_BATCH_WRITES */
  unsigned flags;
  /* Seconds before the next address is tried while one is still
   * connecting (RFC 8305). 0: CORIO_HAPPY_EYEBALLS_DEFAULT_DELAY;
   * CORIO_NO_TIMEOUT: one address after another (asyncio's default). */
  double happy_eyeballs_delay;
  /* Bind the socket here before connecting (asyncio's local_addr). */
  const struct sockaddr *local_addr;
  socklen_t local_addr_len;
  /* TLS (corio/tls.h, docs/tls.md): a client context makes the stream TLS;
   * the call returns once the handshake is done. */
  struct corio_tls_context *tls;
  /* For SNI and the hostname check; NULL: the host connected to (a Unix
   * connection with the check on needs one: -EINVAL). */
  const char *server_hostname;
  double tls_handshake_timeout; /* seconds; 0: 60, CORIO_NO_TIMEOUT: none */
  double tls_shutdown_timeout;  /* seconds; 0: 30, CORIO_NO_TIMEOUT: none */
} corio_connect_options;

/* asyncio.open_connection(host, port): resolves host (on the loop's
 * default executor unless it is a numeric address) and tries each address
 * in order until one connects. No happy eyeballs, as asyncio. Errors:
 * -EINVAL (NULL, port outside 0..65535), a CORIO_EAI* code (message: the
 * resolver's text), or the first address's connect error (message: every
 * address tried, with its error). A timeout scope around the call bounds
 * the whole connect. */
CORIO_API int corio_open_connection(const char *host, int port,
                                    corio_stream **out);
/* The same with options (NULL: zeroed, so happy eyeballs at 250 ms). */
CORIO_API int corio_open_connection_ex(const char *host, int port,
                                       const corio_connect_options *options,
                                       corio_stream **out);
/* asyncio.open_unix_connection(path). A path starting with '@' names an
 * abstract socket (the '@' stands for the leading NUL). */
CORIO_API int corio_open_unix_connection(const char *path,
                                         const corio_connect_options *options,
                                         corio_stream **out);
/* open_connection(sock=fd): wraps a connected stream socket (or any fd
 * that can be polled, such as a pipe) in a stream on the current loop.
 * A pipe's write end reads as EOF at once; writing to its read end is
 * -EBADF (the stream stays readable).
 * The stream owns fd from then on, also when the call fails. Does not
 * suspend; call it from a task or from the loop's thread with `loop`
 * (NULL: the current loop). */
CORIO_API int corio_stream_open_fd(corio_loop *loop, int fd,
                                   const corio_connect_options *options,
                                   corio_stream **out);

CORIO_API corio_stream *corio_stream_ref(corio_stream *stream);
/* Drops a reference. The last one closes the stream as corio_stream_close
 * does (what is buffered is still sent). */
CORIO_API void corio_stream_unref(corio_stream *stream);

/* ---- reading --------------------------------------------------------------
 * One task reads at a time: a second read while another task waits in one
 * returns CORIO_EREADBUSY. After the peer's EOF, buffered bytes are read
 * first, then reads return EOF. After a connection error (reset) buffered
 * bytes are read first, then the error is returned. */

/* Reads up to n bytes into buf, waiting for at least one: *nread is 0 at
 * EOF (and when n is 0). */
CORIO_API int corio_stream_read(corio_stream *stream, void *buf, size_t n,
                                size_t *nread);
/* Exactly n bytes. At EOF before that: CORIO_EINCOMPLETEREAD with the
 * bytes there were (consumed) in buf and their count in *nread. */
CORIO_API int corio_stream_readexactly(corio_stream *stream, void *buf,
                                       size_t n, size_t *nread);
/* Everything up to EOF into buf (asyncio's read(-1)). If more than cap
 * bytes arrive: -ENOBUFS, nothing consumed, *nread says how many are
 * buffered so far (read them with a bigger buffer). */
CORIO_API int corio_stream_read_all(corio_stream *stream, void *buf, size_t cap,
                                    size_t *nread);
/* Up to and including the separator, copied into buf. Errors:
 * - CORIO_ELIMITOVERRUN: the separator is not within the stream's limit;
 *   nothing is consumed, and *nread is the count asyncio calls `consumed`.
 * - CORIO_EINCOMPLETEREAD: EOF first; the rest is consumed into buf, its
 *   count in *nread (more than cap: -ENOBUFS, nothing consumed).
 * - -ENOBUFS: the chunk fits the limit but not cap; nothing consumed,
 *   *nread is the size needed. */
CORIO_API int corio_stream_readuntil(corio_stream *stream, const void *sep,
                                     size_t sep_len, void *buf, size_t cap,
                                     size_t *nread);
/* Several separators (Python 3.13): the shortest chunk that ends with any
 * of them. */
typedef struct corio_bytes {
  const void *data;
  size_t len;
} corio_bytes;
CORIO_API int corio_stream_readuntil_any(corio_stream *stream,
                                         const corio_bytes *seps, size_t nseps,
                                         void *buf, size_t cap, size_t *nread);
/* readuntil("\n") with asyncio's readline rules: at EOF the rest is the
 * last line (0 bytes: EOF); past the limit the line is dropped (up to and
 * including its newline if one was seen, else everything buffered) and
 * CORIO_ELIMITOVERRUN is returned. */
CORIO_API int corio_stream_readline(corio_stream *stream, void *buf, size_t cap,
                                    size_t *nread);

/* Zero-copy reading for parsers: waits until more than `have` bytes are
 * buffered (or EOF, or an error), then points *data at everything
 * buffered. The view stays valid until the next read or consume call on
 * the stream. `have` at or past the limit: CORIO_ELIMITOVERRUN. At EOF
 * with no more than `have`: 0 with *len == what is buffered. */
CORIO_API int corio_stream_peek(corio_stream *stream, size_t have,
                                const void **data, size_t *len);
/* Drops n buffered bytes (n above what is buffered: -EINVAL). */
CORIO_API int corio_stream_consume(corio_stream *stream, size_t n);

/* Bytes buffered now, and whether the peer's EOF was seen with nothing
 * left to read. */
CORIO_API size_t corio_stream_buffered(const corio_stream *stream);
CORIO_API int corio_stream_at_eof(const corio_stream *stream);
CORIO_API size_t corio_stream_limit(const corio_stream *stream);
/* 0 restores the default. */
CORIO_API int corio_stream_set_limit(corio_stream *stream, size_t limit);

/* ---- writing --------------------------------------------------------------
 * write and writev never block and never suspend: what the kernel does not
 * take at once is buffered. Errors: CORIO_ESTREAMCLOSED (closing),
 * CORIO_EWRITEEOF (after write_eof), or the connection's error (-EPIPE,
 * -ECONNRESET) once it was lost. */
CORIO_API int corio_stream_write(corio_stream *stream, const void *data,
                                 size_t len);
/* writelines: the buffers leave in one writev when nothing is queued. */
CORIO_API int corio_stream_writev(corio_stream *stream, const struct iovec *iov,
                                  int iovcnt);
/* The same over const buffers (corio_bytes, see readuntil_any). */
CORIO_API int corio_stream_writelines(corio_stream *stream,
                                      const corio_bytes *bufs, size_t n);
/* Waits while the write buffer is above the high-water mark (until it is
 * at or below the low-water mark). Several tasks may drain at once. On a
 * closing stream it yields once, then fails with -ECONNRESET if the
 * connection is gone. A cancelled drain leaves the data queued. */
CORIO_API int corio_stream_drain(corio_stream *stream);
/* write + drain: the backpressure-respecting way to send. */
CORIO_API int corio_stream_write_all(corio_stream *stream, const void *data,
                                     size_t len);
/* high 0: the defaults; low above high: -EINVAL. */
CORIO_API int corio_stream_set_write_buffer_limits(corio_stream *stream,
                                                   size_t high, size_t low);
CORIO_API size_t corio_stream_write_buffer_size(const corio_stream *stream);
/* Half-close: the peer reads EOF once the buffer is sent. */
CORIO_API int corio_stream_can_write_eof(const corio_stream *stream);
CORIO_API int corio_stream_write_eof(corio_stream *stream);

/* ---- closing --------------------------------------------------------------
 * close: no more writes; what is buffered is sent, then the socket is
 * closed. Reading stops, but buffered bytes can still be read. abort: the
 * socket is closed at once, the write buffer dropped. Both may be called
 * again harmlessly. wait_closed waits until the socket is closed. */
CORIO_API int corio_stream_close(corio_stream *stream);
CORIO_API int corio_stream_abort(corio_stream *stream);
CORIO_API int corio_stream_is_closing(const corio_stream *stream);
CORIO_API int corio_stream_wait_closed(corio_stream *stream);

/* ---- get_extra_info ------------------------------------------------------ */
/* The socket (-1 once closed). */
CORIO_API int corio_stream_fd(const corio_stream *stream);
/* getpeername/getsockname into *addr (*len: its size in, the address's
 * out). Errors: -EINVAL, CORIO_ESTREAMCLOSED, the syscall's. */
CORIO_API int corio_stream_peername(const corio_stream *stream,
                                    struct sockaddr *addr, socklen_t *len);
CORIO_API int corio_stream_sockname(const corio_stream *stream,
                                    struct sockaddr *addr, socklen_t *len);
CORIO_API int corio_stream_set_nodelay(corio_stream *stream, int on);
CORIO_API int corio_stream_set_keepalive(corio_stream *stream, int on);
CORIO_API corio_loop *corio_stream_loop(const corio_stream *stream);

/* ---- servers --------------------------------------------------------------
 * Each accepted connection runs handler(stream, arg) as its own task.
 * When the handler returns, the server closes the stream (what is buffered
 * is still sent) and drops its reference; the handler's return code is
 * the task's outcome (errors other than cancellation go to the loop's
 * exception handler, as asyncio reports a failed client_connected_cb). */
typedef int (*corio_stream_handler)(corio_stream *stream, void *arg);

typedef struct corio_server_options {
  size_t limit;      /* of each connection; 0: the default */
  int backlog;       /* 0: 100, as asyncio */
  int family;        /* AF_UNSPEC: every address of host */
  unsigned flags;    /* CORIO_NET_* */
  size_t stack_size; /* of handler tasks; 0: the default */
  /* TLS (corio/tls.h): a server context makes every connection TLS; the
   * handshake runs in the handler's task before the handler, and a
   * connection whose handshake fails never reaches the handler. */
  struct corio_tls_context *tls;
  double tls_handshake_timeout; /* seconds; 0: 60, CORIO_NO_TIMEOUT: none */
  double tls_shutdown_timeout;  /* seconds; 0: 30, CORIO_NO_TIMEOUT: none */
} corio_server_options;

/* asyncio.start_server: listens on every address host resolves to (NULL
 * or "": all interfaces, IPv4 and IPv6 on separate sockets). Port 0 picks
 * a free port, the same for every listener. Serving starts at once unless
 * CORIO_NET_NO_START. Must run in a task. */
CORIO_API int corio_start_server(corio_stream_handler handler, void *arg,
                                 const char *host, int port,
                                 const corio_server_options *options,
                                 corio_server **out);
/* A Unix socket server ('@' prefix: abstract name). A socket file left
 * by a dead server (nobody accepts on it) is replaced; a live one gives
 * -EADDRINUSE. The file is removed when the server closes. */
CORIO_API int corio_start_unix_server(corio_stream_handler handler, void *arg,
                                      const char *path,
                                      const corio_server_options *options,
                                      corio_server **out);
CORIO_API corio_server *corio_server_ref(corio_server *server);
/* The last reference closes the server (handlers keep running; the memory
 * goes when the last one returns). */
CORIO_API void corio_server_unref(corio_server *server);

CORIO_API int corio_server_start_serving(corio_server *server);
/* Stops accepting (connections wait in the backlog) until start_serving;
 * the sockets stay open. */
CORIO_API int corio_server_stop_serving(corio_server *server);
CORIO_API int corio_server_is_serving(const corio_server *server);
/* Starts serving and waits until cancelled; then closes the server, waits
 * for the handlers (wait_closed) and returns -ECANCELED. */
CORIO_API int corio_server_serve_forever(corio_server *server);
/* Stops listening and closes the listening sockets; connections already
 * accepted are left alone. */
CORIO_API int corio_server_close(corio_server *server);
/* Closes (close) or aborts every accepted connection still open. */
CORIO_API int corio_server_close_clients(corio_server *server);
CORIO_API int corio_server_abort_clients(corio_server *server);
/* Python 3.12: waits until the server is closed and every handler has
 * returned. */
CORIO_API int corio_server_wait_closed(corio_server *server);
/* Listening sockets: fills up to cap fds, returns how many there are. */
CORIO_API size_t corio_server_sockets(const corio_server *server, int *fds,
                                      size_t cap);
/* The address listener `index` is bound to (getsockname). Errors: -EINVAL,
 * -ENOENT (no such listener: out of range, or the server is closed). */
CORIO_API int corio_server_address(const corio_server *server, size_t index,
                                   struct sockaddr *addr, socklen_t *len);
/* The port the first listener is bound to (0 for a Unix server). */
CORIO_API int corio_server_port(const corio_server *server);
/* Accepted connections whose handler is still running. */
CORIO_API size_t corio_server_clients(const corio_server *server);

/* ---- names ----------------------------------------------------------------
 * Two resolvers, chosen per loop (docs/dns.md): the system's (the default:
 * glibc's getaddrinfo on the loop's default executor, which honours
 * nsswitch and /etc/hosts), or c-ares on the loop itself (no thread; when
 * corio was built with c-ares). Errors come back as CORIO_EAI* codes with
 * the resolver's text as the message. Numeric hosts and services are
 * converted at once with either. */

/* loop.getaddrinfo: *res is freed with corio_freeaddrinfo (with glibc,
 * freeaddrinfo works too, for either resolver). A cancelled call frees the
 * result the resolver returns later. */
CORIO_API int corio_getaddrinfo(const char *host, const char *service,
                                const struct addrinfo *hints,
                                struct addrinfo **res);
/* Frees a corio_getaddrinfo result (NULL: nothing). */
CORIO_API void corio_freeaddrinfo(struct addrinfo *res);

/* Which resolver a loop uses (corio_loop_resolver). */
enum corio_resolver_kind {
  CORIO_RESOLVER_SYSTEM = 0, /* getaddrinfo on the default executor */
  CORIO_RESOLVER_ARES = 1    /* c-ares, on the loop's thread */
};

/* corio_resolver_options.flags */
enum {
  /* Ask the servers only: not /etc/hosts (c-ares reads it first else). */
  CORIO_RESOLVER_NO_HOSTS_FILE = 1 << 0,
  /* Queries over TCP instead of UDP. */
  CORIO_RESOLVER_TCP = 1 << 1,
  /* Names as given: not the search domains of resolv.conf. */
  CORIO_RESOLVER_NO_SEARCH = 1 << 2,
  /* Addresses in the server's order, not RFC 6724's (which costs a
   * connected UDP socket per address to find its source address). */
  CORIO_RESOLVER_NO_SORT = 1 << 3
};

/* The c-ares resolver's settings; zeroed fields are the defaults. */
typedef struct corio_resolver_options {
  /* "127.0.0.1:5353,[::1]:53,10.0.0.1": servers to ask, in order
   * (NULL or "": those of /etc/resolv.conf). */
  const char *servers;
  double timeout; /* seconds per try; 0: c-ares's default (5 s) */
  int tries;      /* tries per server; 0: c-ares's default (4) */
  unsigned flags; /* CORIO_RESOLVER_* */
  /* Lookups c-ares works on at once (each one or two queries: A and
   * AAAA); more wait in line, in FIFO order, cancellable. A burst of
   * thousands of queries overflows a server's receive buffer, and each
   * query dropped costs a per-try timeout. 0: CORIO_RESOLVER_MAX_IN_FLIGHT;
   * INT_MAX: no limit. */
  int max_in_flight;
} corio_resolver_options;

/* The default of corio_resolver_options.max_in_flight: 128 queries at
 * most, which fit a Linux socket's default receive buffer (212992 bytes,
 * about 280 small datagrams) with room to spare. */
#define CORIO_RESOLVER_MAX_IN_FLIGHT 64

/* Whether corio was built with c-ares (1) or not (0). */
CORIO_API int corio_resolver_ares_available(void);
/* From now on, loop (NULL: the current loop) resolves with c-ares, set
 * up with options (NULL: zeroed); calling it again replaces the channel.
 * On the loop's thread. Errors: -ENOTSUP (no c-ares in this build),
 * -EINVAL (bad options: a server list c-ares cannot read, a negative
 * timeout, tries or max_in_flight), -EBUSY (c-ares lookups in flight or
 * waiting in line on the loop),
 * CORIO_ELOOPCLOSED, -ENOMEM, CORIO_EAIFAIL (c-ares could not start; its
 * text is the message when called in a task). */
CORIO_API int corio_loop_use_ares(corio_loop *loop,
                                  const corio_resolver_options *options);
/* Back to the system resolver (c-ares's channel is closed). Errors:
 * -EINVAL, -EBUSY (c-ares lookups in flight or waiting in line). */
CORIO_API int corio_loop_use_system_resolver(corio_loop *loop);
/* CORIO_RESOLVER_SYSTEM or CORIO_RESOLVER_ARES (-EINVAL: no loop). A loop
 * nobody chose for starts with the system resolver, or with c-ares and
 * zeroed options when the environment says CORIO_RESOLVER=ares (taken at
 * its first lookup; ignored without c-ares). */
CORIO_API int corio_loop_resolver(corio_loop *loop);
/* loop.getnameinfo into caller buffers (either may be NULL with size 0). */
CORIO_API int corio_getnameinfo(const struct sockaddr *addr, socklen_t len,
                                char *host, size_t host_len, char *service,
                                size_t service_len, int flags);
/* The corio code for a getaddrinfo EAI_* value (0 for 0). */
CORIO_API int corio_gai_error(int eai);
/* "127.0.0.1:8080", "[::1]:8080", "/path" or "@abstract" into buf
 * (always NUL-terminated when size > 0); returns buf. */
CORIO_API char *corio_format_address(const struct sockaddr *addr, socklen_t len,
                                     char *buf, size_t size);

#ifdef __cplusplus
}
#endif

#endif
