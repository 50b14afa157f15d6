#include "net/net_loop.h"

#include <errno.h>

#include "core/alloc.h"
#include "loop/ext.h"
#include "net/datagram_internal.h"
#include "net/server_internal.h"
#include "net/stream_internal.h"

static void close_all(corio_loop *loop, void *data) {
  corio__net_loop *net = data;

  (void)loop;
  /* No fd may outlive its loop: servers stop listening, streams close at
   * once (their memory stays with their owners' references). */
  while (net->servers)
    corio__server_close_listeners(net->servers);
  while (net->streams)
    corio__stream_force_close(net->streams);
  while (net->datagrams)
    corio__datagram_force_close(net->datagrams);
}

static void free_state(void *data) {
  corio__net_loop *net = data;

  while (net->cached)
    corio__free(net->buffers[--net->cached], CORIO__NET_READ_CHUNK);
  if (net->datagram_scratch)
    corio__free(net->datagram_scratch, net->datagram_scratch_size);
  corio__free(net, sizeof *net);
}

static const corio__loop_ext_ops net_ext_ops = {
    .close = close_all,
    .free = free_state,
};

int corio__net_loop_get(corio_loop *loop, corio__net_loop **out) {
  void *data = NULL;
  int rc = corio__loop_ext_get_or_make(
      loop, CORIO__LOOP_EXT_NET, sizeof(corio__net_loop), &net_ext_ops, &data);

  if (rc < 0)
    return rc;
  *out = data;
  (*out)->loop = loop;
  return 0;
}

void corio__net_loop_add_stream(corio__net_loop *net, corio_stream *s) {
  s->prev = NULL;
  s->next = net->streams;
  if (net->streams)
    net->streams->prev = s;
  net->streams = s;
}

void corio__net_loop_remove_stream(corio__net_loop *net, corio_stream *s) {
  if (s->prev)
    s->prev->next = s->next;
  else if (net->streams == s)
    net->streams = s->next;
  if (s->next)
    s->next->prev = s->prev;
  s->prev = s->next = NULL;
}

void corio__net_loop_add_server(corio__net_loop *net, corio_server *server) {
  server->prev = NULL;
  server->next = net->servers;
  if (net->servers)
    net->servers->prev = server;
  net->servers = server;
}

void corio__net_loop_remove_server(corio__net_loop *net, corio_server *server) {
  if (server->prev)
    server->prev->next = server->next;
  else if (net->servers == server)
    net->servers = server->next;
  if (server->next)
    server->next->prev = server->prev;
  server->prev = server->next = NULL;
}

void corio__net_loop_add_datagram(corio__net_loop *net, corio_datagram *d) {
  d->prev = NULL;
  d->next = net->datagrams;
  if (net->datagrams)
    net->datagrams->prev = d;
  net->datagrams = d;
}

void corio__net_loop_remove_datagram(corio__net_loop *net, corio_datagram *d) {
  if (d->prev)
    d->prev->next = d->next;
  else if (net->datagrams == d)
    net->datagrams = d->next;
  if (d->next)
    d->next->prev = d->prev;
  d->prev = d->next = NULL;
}

char *corio__net_buffer_take(corio__net_loop *net) {
  if (net->cached)
    return net->buffers[--net->cached];
  return corio__alloc(CORIO__NET_READ_CHUNK);
}

void corio__net_buffer_give(corio__net_loop *net, char *buf) {
  if (net->cached < sizeof net->buffers / sizeof net->buffers[0])
    net->buffers[net->cached++] = buf;
  else
    corio__free(buf, CORIO__NET_READ_CHUNK);
}
