/* The net layer's state on one loop: its open streams and servers (the
 * loop's close hook closes them, so no fd outlives its loop) and a small
 * cache of read buffers, so that an idle connection holds none and a busy
 * one takes a warm one without calling the allocator. */
#ifndef CORIO_NET_NET_LOOP_H
#define CORIO_NET_NET_LOOP_H

#include <stddef.h>

#include "corio/net.h"

/* The size of a cached read buffer: one read takes up to this much. */
#define CORIO__NET_READ_CHUNK ((size_t)64 * 1024)

typedef struct corio__net_loop {
  corio_loop *loop;
  corio_stream *streams;            /* open streams */
  struct corio_server *servers;     /* servers not yet closed */
  struct corio_datagram *datagrams; /* open datagram endpoints */
  /* Where datagram endpoints receive a batch before queueing it (only
   * used inside one callback, so one per loop serves them all). */
  void *datagram_scratch;
  size_t datagram_scratch_size;
  unsigned cached;
  char *buffers[16];
} corio__net_loop;

/* The state of loop, created on first use: 0, -ENOMEM, CORIO_ELOOPCLOSED. */
int corio__net_loop_get(corio_loop *loop, corio__net_loop **out);

void corio__net_loop_add_stream(corio__net_loop *net, corio_stream *s);
void corio__net_loop_remove_stream(corio__net_loop *net, corio_stream *s);
void corio__net_loop_add_server(corio__net_loop *net,
                                struct corio_server *server);
void corio__net_loop_remove_server(corio__net_loop *net,
                                   struct corio_server *server);

void corio__net_loop_add_datagram(corio__net_loop *net,
                                  struct corio_datagram *d);
void corio__net_loop_remove_datagram(corio__net_loop *net,
                                     struct corio_datagram *d);

/* A read buffer of CORIO__NET_READ_CHUNK bytes, or NULL (-ENOMEM). */
char *corio__net_buffer_take(corio__net_loop *net);
void corio__net_buffer_give(corio__net_loop *net, char *buf);

#endif
