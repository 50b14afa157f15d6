/* A datagram endpoint's state, shared by datagram.c (its life, receive
 * and send paths) and datagram_open.c (making sockets). The endpoint owns
 * its reads (DESIGN.md §7): on_readable receives batches into `in`, and
 * the receive calls take from it, so a cancelled receiver loses nothing. */
#ifndef CORIO_NET_DATAGRAM_INTERNAL_H
#define CORIO_NET_DATAGRAM_INTERNAL_H

#include <stdint.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "corio/udp.h"
#include "net/datagram_ring.h"
#include "net/net_loop.h"
#include "sync/waitq.h"
#include "task/wait.h"

/* Datagrams one recvmmsg or sendmmsg call takes at most. */
#define CORIO__DATAGRAM_BATCH 32

struct corio_datagram {
  corio_loop *loop;
  corio__net_loop *net;
  int refs;
  int fd;
  int family;
  /* An error the socket reported (negative), for a receive: after the
   * error_before datagrams that were queued when it came (asyncio had
   * delivered those before calling error_received), once. One at a time:
   * a later one, while it waits, is not kept (the kernel's sk_err keeps
   * one too). */
  int error;
  size_t error_before;

  unsigned connected : 1; /* the socket is connected to peer */
  /* peer is the destination of every send: connected, or allow_broadcast's
   * remote address (asyncio does not connect then, so that answers from
   * any host arrive). */
  unsigned default_dest : 1;
  unsigned reading : 1;      /* the reader watcher is installed */
  unsigned writing : 1;      /* the writer watcher is installed */
  unsigned closing : 1;      /* close or abort was called */
  unsigned closed : 1;       /* the fd is closed */
  unsigned write_paused : 1; /* above the high-water mark until at low */
  unsigned closing_ref : 1;  /* holds a reference until the fd closes */
  unsigned owns_path : 1;    /* unlink bound_path on close if still ours */
  unsigned sends_lost : 1;   /* closed with datagrams still queued to send */

  corio__dgram_ring in; /* received, capacity queue_bytes */
  size_t queue_size;    /* bound of in.count */
  size_t max_size;
  uint64_t drops, truncated;
  corio__wait *reader; /* the task waiting in a receive, if any */

  corio__dgram_ring out; /* what the kernel refused with EAGAIN */
  size_t high_water, low_water;
  sync_waitq drainers;
  sync_waitq closers;

  struct sockaddr_storage peer; /* default_dest: where sends go */
  socklen_t peer_len;
  struct sockaddr_un bound_path; /* owns_path: the file to remove */
  dev_t path_dev;
  ino_t path_ino;

  /* The loop's list of open endpoints (net_loop.c). */
  struct corio_datagram *prev, *next;
};

/* Wraps fd (owned from now on, closed on failure too): a datagram socket
 * of `family`, connected to its peer if `connected`. */
int corio__datagram_new(corio_loop *loop, int fd, int family, int connected,
                        const corio_datagram_options *options,
                        corio_datagram **out);
/* Makes addr the destination of every send of an unconnected endpoint
 * (allow_broadcast with a remote address): 0, or -EINVAL. */
int corio__datagram_set_destination(corio_datagram *d,
                                    const struct sockaddr *addr, socklen_t len);
/* -EINVAL for options that cannot work (max_size above 1 MiB, a queue
 * smaller than one datagram, unknown flags). */
int corio__datagram_check_options(const corio_datagram_options *options);
/* Closes the fd now: the send queue dropped, every waiter woken. */
void corio__datagram_force_close(corio_datagram *d);

#endif
