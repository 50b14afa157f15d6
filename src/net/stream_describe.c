/* What a task waiting on a stream waits on, for dumps (task/wait.h):
 * reading, draining, or the close, with the fd and the peer. */
#include <stdio.h>

#include "core/str.h"
#include "corio/tls.h"
#include "net/stream_internal.h"

/* "fd 7, peer 127.0.0.1:8080" (a socket), "fd 7" (a pipe). */
static size_t describe_fd(const corio_stream *s, char *buf, size_t len) {
  struct sockaddr_storage ss;
  socklen_t sl = sizeof ss;
  char addr[128];
  size_t used = 0;

  if (len == 0)
    return 0;
  buf[0] = 0;
  corio__appendf(buf, len, &used, "fd %d", s->fd);
  /* A TLS stream says so; one whose handshake runs says that. */
  if (s->tls)
    corio__appendf(buf, len, &used, ", %s",
                   corio_stream_tls_version(s) ? corio_stream_tls_version(s)
                                               : "TLS handshake");
  if (!s->is_socket || s->closed)
    return used;
  if (corio_stream_peername(s, (struct sockaddr *)&ss, &sl) == 0 && sl > 0 &&
      corio_format_address((struct sockaddr *)&ss, sl, addr, sizeof addr)[0]) {
    corio__appendf(buf, len, &used, ", peer %s", addr);
    return used;
  }
  /* An accepted Unix connection's peer has no name: say where. */
  sl = sizeof ss;
  if (corio_stream_sockname(s, (struct sockaddr *)&ss, &sl) == 0 && sl > 0 &&
      corio_format_address((struct sockaddr *)&ss, sl, addr, sizeof addr)[0])
    corio__appendf(buf, len, &used, ", on %s", addr);
  return used;
}

static void describe_read(const void *object, char *buf, size_t len) {
  const corio_stream *s = object;
  size_t used = describe_fd(s, buf, len);

  corio__appendf(buf, len, &used, ", %zu bytes buffered", s->in.len);
}

static void describe_drain(const void *object, char *buf, size_t len) {
  const corio_stream *s = object;
  size_t used = describe_fd(s, buf, len);

  corio__appendf(buf, len, &used, ", %zu bytes to send",
                 corio__stream_pending(s));
}

static void describe_plain(const void *object, char *buf, size_t len) {
  (void)describe_fd(object, buf, len);
}

const corio__wait_kind corio__stream_read_kind = {.name = "stream read",
                                                  .describe = describe_read};
const corio__wait_kind corio__stream_drain_kind = {.name = "stream drain",
                                                   .describe = describe_drain};
const corio__wait_kind corio__stream_closed_kind = {
    .name = "stream wait_closed", .describe = describe_plain};
