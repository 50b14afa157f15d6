/* What a task waiting on a stream waits on, for dumps (task/wait.h):
 * reading, draining, or the close, with the fd and the peer. */
#include <stdio.h>

#include "net/stream_internal.h"

/* "fd 7, peer 127.0.0.1:8080" (a socket), "fd 7" (a pipe). */
static int describe_fd(const corio_stream *s, char *buf, size_t len) {
  struct sockaddr_storage ss;
  socklen_t sl = sizeof ss;
  char addr[128];
  int n = snprintf(buf, len, "fd %d", s->fd);

  if (n < 0 || (size_t)n >= len || !s->is_socket || s->closed)
    return n;
  if (corio_stream_peername(s, (struct sockaddr *)&ss, &sl) == 0 && sl > 0 &&
      corio_format_address((struct sockaddr *)&ss, sl, addr, sizeof addr)[0])
    return n + snprintf(buf + n, len - (size_t)n, ", peer %s", addr);
  /* An accepted Unix connection's peer has no name: say where. */
  sl = sizeof ss;
  if (corio_stream_sockname(s, (struct sockaddr *)&ss, &sl) == 0 && sl > 0 &&
      corio_format_address((struct sockaddr *)&ss, sl, addr, sizeof addr)[0])
    return n + snprintf(buf + n, len - (size_t)n, ", on %s", addr);
  return n;
}

static void describe_read(const void *object, char *buf, size_t len) {
  const corio_stream *s = object;
  int n = describe_fd(s, buf, len);

  if (n >= 0 && (size_t)n < len)
    snprintf(buf + n, len - (size_t)n, ", %zu bytes buffered", s->in.len);
}

static void describe_drain(const void *object, char *buf, size_t len) {
  const corio_stream *s = object;
  int n = describe_fd(s, buf, len);

  if (n >= 0 && (size_t)n < len)
    snprintf(buf + n, len - (size_t)n, ", %zu bytes to send", s->out.len);
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
