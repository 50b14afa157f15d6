/* Datagram endpoints: asyncio's loop.create_datagram_endpoint as tasks
 * instead of protocol callbacks. See docs/udp.md.
 *
 * An endpoint owns its reads (DESIGN.md §7): whenever the socket is
 * readable the loop receives a batch (recvmmsg) into the endpoint's
 * bounded receive queue, and recv/recvfrom take datagrams from that queue.
 * A datagram that finds the queue full is dropped and counted
 * (corio_datagram_drops): memory never grows with the sender's rate. A
 * receiver that is cancelled loses nothing.
 *
 * send/sendto never suspend: a datagram goes to the kernel at once, and
 * only one the kernel refuses for lack of buffer space (EAGAIN) is queued,
 * to leave in order with sendmmsg once the socket is writable. drain
 * waits while that queue is above its high-water mark. */
#ifndef CORIO_UDP_H
#define CORIO_UDP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "corio/error.h"
#include "corio/export.h"
#include "corio/loop.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct corio_datagram corio_datagram;

/* Defaults of corio_datagram_options (0 selects them). */
#define CORIO_DATAGRAM_DEFAULT_QUEUE 1024 /* datagrams */
#define CORIO_DATAGRAM_DEFAULT_QUEUE_BYTES ((size_t)1024 * 1024)
/* Larger than any UDP payload, so nothing is truncated by default. */
#define CORIO_DATAGRAM_DEFAULT_MAX_SIZE ((size_t)65536)
#define CORIO_DATAGRAM_DEFAULT_HIGH_WATER ((size_t)64 * 1024)
#define CORIO_DATAGRAM_DEFAULT_LOW_WATER ((size_t)16 * 1024)

enum {
  CORIO_DATAGRAM_REUSE_ADDRESS = 1 << 0, /* SO_REUSEADDR */
  CORIO_DATAGRAM_REUSE_PORT = 1 << 1,    /* SO_REUSEPORT (reuse_port) */
  /* SO_BROADCAST (allow_broadcast). As asyncio, a remote address then
   * does not connect the socket: sends go to it by default, and datagrams
   * from any host are received (answers to a broadcast come from each
   * host's own address). */
  CORIO_DATAGRAM_BROADCAST = 1 << 2
};

/* Zeroed options are the defaults. */
typedef struct corio_datagram_options {
  /* AF_UNSPEC (0): the addresses' own; AF_INET, AF_INET6; AF_UNIX only
   * through corio_datagram_open_unix. Needed when no address is given. */
  int family;
  unsigned flags;     /* CORIO_DATAGRAM_* */
  size_t queue_size;  /* receive queue bound in datagrams */
  size_t queue_bytes; /* receive queue bound in bytes (payload + ~32 each) */
  /* The largest datagram received whole; a larger one arrives cut to this
   * size and is counted in corio_datagram_truncated. */
  size_t max_size;
} corio_datagram_options;

/* create_datagram_endpoint(local_addr=(local_host, local_port),
 * remote_addr=(remote_host, remote_port)). local_host NULL: not bound
 * (the kernel picks an address at the first send); "" binds the wildcard.
 * remote_host NULL: not connected (use sendto/recvfrom); else the socket
 * is connected (send/recv; ICMP errors are reported), or with
 * CORIO_DATAGRAM_BROADCAST only sends to it by default. Names are resolved
 * with corio_getaddrinfo (numeric ones at once, without a thread); each
 * remote address is tried with a local one of the same family until one
 * works. With neither address, options->family must say the family.
 * Must run in a task. Errors: -EINVAL, CORIO_ENOTASK, CORIO_EAI*, the
 * first socket/bind/connect error. */
CORIO_API int
corio_create_datagram_endpoint(const char *local_host, int local_port,
                               const char *remote_host, int remote_port,
                               const corio_datagram_options *options,
                               corio_datagram **out);
/* The same from socket addresses (either may be NULL, not both unless
 * options->family is set). Does not suspend: call it from a task or the
 * loop's thread with `loop` (NULL: the current loop). */
CORIO_API int corio_datagram_open_addr(
    corio_loop *loop, const struct sockaddr *local, socklen_t local_len,
    const struct sockaddr *remote, socklen_t remote_len,
    const corio_datagram_options *options, corio_datagram **out);
/* A Unix datagram socket bound to local_path and/or connected to
 * remote_path ('@': abstract name). A client that wants answers must be
 * bound too (Unix datagrams from an unbound socket have no return
 * address). A bound path is removed when the endpoint closes. */
CORIO_API int corio_datagram_open_unix(corio_loop *loop, const char *local_path,
                                       const char *remote_path,
                                       const corio_datagram_options *options,
                                       corio_datagram **out);
/* create_datagram_endpoint(sock=fd): fd must be a SOCK_DGRAM socket
 * (else -EPROTOTYPE); connected if it has a peer. The endpoint owns fd
 * from then on, also when the call fails. */
CORIO_API int corio_datagram_open_fd(corio_loop *loop, int fd,
                                     const corio_datagram_options *options,
                                     corio_datagram **out);

CORIO_API corio_datagram *corio_datagram_ref(corio_datagram *d);
/* The last reference closes the endpoint as corio_datagram_close does. */
CORIO_API void corio_datagram_unref(corio_datagram *d);

/* ---- receiving ------------------------------------------------------------
 * One task receives at a time: a second one while another waits gets
 * CORIO_EREADBUSY. A datagram larger than cap: -ENOBUFS, nothing taken,
 * *nread = its size (call again with a bigger buffer). An error the
 * socket reported (ICMP port unreachable on a connected socket:
 * -ECONNREFUSED; a queued send the kernel refused) is returned once, in
 * order: after the datagrams queued before it came; the endpoint stays
 * open.
 * After close: the queued datagrams, then CORIO_ESTREAMCLOSED. */
CORIO_API int corio_datagram_recv(corio_datagram *d, void *buf, size_t cap,
                                  size_t *nread);
/* The same with the sender's address in *addr (*addrlen: its size in, the
 * address's out; truncated as recvfrom(2) does). */
CORIO_API int corio_datagram_recvfrom(corio_datagram *d, void *buf, size_t cap,
                                      size_t *nread, struct sockaddr *addr,
                                      socklen_t *addrlen);
/* Datagrams waiting in the receive queue. */
CORIO_API size_t corio_datagram_queued(const corio_datagram *d);
/* Datagrams dropped because the receive queue was full. */
CORIO_API uint64_t corio_datagram_drops(const corio_datagram *d);
/* Datagrams that arrived larger than max_size (delivered cut). */
CORIO_API uint64_t corio_datagram_truncated(const corio_datagram *d);

/* ---- sending --------------------------------------------------------------
 * Never suspend. Errors: -EINVAL (also an address too short for its
 * family), -EMSGSIZE (too large for the socket: nothing sent),
 * CORIO_ESTREAMCLOSED (closing), -EDESTADDRREQ (send on an unconnected
 * endpoint), -EISCONN (sendto another address than a connected
 * endpoint's peer, or the broadcast remote: asyncio's ValueError), or the
 * kernel's error for this datagram (-ECONNREFUSED after an ICMP error,
 * -EAFNOSUPPORT or -EINVAL for an address of another family...). A datagram
 * that must queue behind others is checked as the kernel would check it now
 * (size, address), so these errors come from this call either way; only errors
 * the kernel finds later reach a receive. -ENOMEM: it could neither be sent nor
 * queued. */
CORIO_API int corio_datagram_send(corio_datagram *d, const void *data,
                                  size_t len);
CORIO_API int corio_datagram_sendto(corio_datagram *d, const void *data,
                                    size_t len, const struct sockaddr *addr,
                                    socklen_t addrlen);
/* Waits while the send queue is above the high-water mark (until it is at
 * or below the low-water mark). A cancelled drain leaves it queued.
 * CORIO_ESTREAMCLOSED once the endpoint was aborted (or its loop closed)
 * with datagrams still queued: they never left. */
CORIO_API int corio_datagram_drain(corio_datagram *d);
/* high 0: the defaults; low above high: -EINVAL. */
CORIO_API int corio_datagram_set_write_buffer_limits(corio_datagram *d,
                                                     size_t high, size_t low);
/* Bytes of the datagrams queued to send. */
CORIO_API size_t corio_datagram_write_buffer_size(const corio_datagram *d);

/* ---- closing --------------------------------------------------------------
 * close: no more sends, no more receiving (what is queued can still be
 * taken); the queued datagrams still leave (UDP never waits
 * on the peer: the kernel takes them as fast as the interface sends),
 * then the socket closes. abort: closes at once, the send queue dropped.
 * Both may be called again harmlessly. wait_closed waits until the
 * socket is closed. */
CORIO_API int corio_datagram_close(corio_datagram *d);
CORIO_API int corio_datagram_abort(corio_datagram *d);
CORIO_API int corio_datagram_is_closing(const corio_datagram *d);
CORIO_API int corio_datagram_wait_closed(corio_datagram *d);

/* ---- get_extra_info ------------------------------------------------------ */
CORIO_API int corio_datagram_fd(const corio_datagram *d); /* -1 once closed */
/* Errors: -EINVAL, CORIO_ESTREAMCLOSED, -ENOTCONN (peername of an
 * unconnected endpoint). */
CORIO_API int corio_datagram_sockname(const corio_datagram *d,
                                      struct sockaddr *addr, socklen_t *len);
CORIO_API int corio_datagram_peername(const corio_datagram *d,
                                      struct sockaddr *addr, socklen_t *len);
CORIO_API corio_loop *corio_datagram_loop(const corio_datagram *d);

#ifdef __cplusplus
}
#endif

#endif
