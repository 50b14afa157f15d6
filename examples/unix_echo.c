/* The echo client and server over a Unix socket: seed 001's TCP echo pair
 * (see tcp_echo.c) moved to asyncio's start_unix_server and
 * open_unix_connection, which the seed lists next to them.
 *
 *   async def handle_echo(reader, writer):       # as over TCP
 *       data = await reader.read(100)
 *       addr = writer.get_extra_info('peername')  # '' : the client is
 *       ...                                       # an unnamed socket
 *
 *   async def main(path):
 *       server = await asyncio.start_unix_server(handle_echo, path)
 *       print(f'Serving on {server.sockets[0].getsockname()!r}')
 *       async with server:
 *           await tcp_echo_client(path, 'Hello World!')  # over path
 *
 * It runs twice: on a socket file in a new temporary directory (mkdtemp
 * under /tmp; the server removes the file when it closes, the program the
 * directory), and on a name in Linux's abstract namespace, which corio
 * writes with a leading '@' for the NUL byte and which vanishes with its
 * socket. Both names change from run to run and are printed as
 * placeholders; the program checks the real ones (the listening socket's
 * own name, the name the client is connected to).
 *
 * The order of the lines is fixed by the data, as in tcp_echo.c: each
 * side's read returns only once the other side has written, and the
 * handler does not suspend between its write and "Close the connection". */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <corio/net.h>

#include "example.h"

#define EXAMPLE "unix_echo"

struct echo {
  const char *path;  /* the server's name, '@' for the abstract namespace */
  const char *shown; /* what is printed for it */
  int handler_rc;    /* the handler's failure, reported on stderr */
};

/* Whether addr (len bytes) is the name `path` ('@': abstract), or, with
 * path NULL, an unnamed socket. */
static int is_name(const struct sockaddr_un *addr, socklen_t len,
                   const char *path) {
  size_t off = offsetof(struct sockaddr_un, sun_path), n;

  if (addr->sun_family != AF_UNIX || len < off)
    return 0;
  n = (size_t)len - off;
  if (!path)
    return n == 0;
  if (path[0] == '@')
    return n == strlen(path) && addr->sun_path[0] == '\0' &&
           memcmp(addr->sun_path + 1, path + 1, n - 1) == 0;
  /* A path name: NUL-terminated, the NUL counted or not. */
  return n >= strlen(path) && strncmp(addr->sun_path, path, n) == 0 &&
         strlen(path) == strnlen(addr->sun_path, n);
}

static int handler_fail(struct echo *e, const char *call, int rc) {
  e->handler_rc = example_task_fail(EXAMPLE, call, rc);
  return e->handler_rc;
}

static int handle_echo(corio_stream *stream, void *arg) {
  struct echo *e = arg;
  struct sockaddr_un peer;
  socklen_t len = sizeof peer;
  char data[100];
  size_t n;
  int rc;

  rc = corio_stream_read(stream, data, sizeof data, &n);
  if (rc < 0)
    return handler_fail(e, "corio_stream_read", rc);
  rc = corio_stream_peername(stream, (struct sockaddr *)&peer, &len);
  if (rc < 0)
    return handler_fail(e, "corio_stream_peername", rc);
  if (!is_name(&peer, len, NULL))
    return handler_fail(e, "corio_stream_peername (not unnamed)", -EPROTO);
  printf("server: Received '%.*s' from ''\n", (int)n, data);
  printf("server: Send: '%.*s'\n", (int)n, data);
  rc = corio_stream_write(stream, data, n);
  if (rc == 0)
    rc = corio_stream_drain(stream);
  if (rc < 0)
    return handler_fail(e, "corio_stream_write/drain", rc);
  puts("server: Close the connection");
  rc = corio_stream_close(stream);
  if (rc == 0)
    rc = corio_stream_wait_closed(stream);
  return rc < 0 ? handler_fail(e, "corio_stream_close/wait_closed", rc) : 0;
}

static int unix_echo_client(struct echo *e, const char *message) {
  struct sockaddr_un server;
  socklen_t len = sizeof server;
  corio_stream *stream;
  char data[100];
  size_t n;
  int rc;

  rc = corio_open_unix_connection(e->path, NULL, &stream);
  if (rc < 0)
    return example_task_fail(EXAMPLE, "corio_open_unix_connection", rc);
  rc = corio_stream_peername(stream, (struct sockaddr *)&server, &len);
  if (rc == 0 && !is_name(&server, len, e->path))
    rc = -EPROTO; /* connected to some other socket */
  if (rc < 0) {
    corio_stream_unref(stream);
    return example_task_fail(EXAMPLE, "corio_stream_peername", rc);
  }
  printf("client: Send: '%s'\n", message);
  rc = corio_stream_write(stream, message, strlen(message));
  if (rc == 0)
    rc = corio_stream_drain(stream);
  if (rc == 0)
    rc = corio_stream_read(stream, data, sizeof data, &n);
  if (rc < 0) {
    corio_stream_unref(stream);
    return example_task_fail(EXAMPLE, "write/drain/read", rc);
  }
  printf("client: Received: '%.*s'\n", (int)n, data);
  puts("client: Close the connection");
  rc = corio_stream_close(stream);
  if (rc == 0)
    rc = corio_stream_wait_closed(stream);
  corio_stream_unref(stream);
  return rc < 0 ? example_task_fail(EXAMPLE, "close/wait_closed", rc) : 0;
}

/* print(f'Serving on {server.sockets[0].getsockname()!r}'), checked. */
static int print_serving(struct echo *e, corio_server *server) {
  struct sockaddr_un addr;
  socklen_t len = sizeof addr;
  int fd;

  if (corio_server_sockets(server, &fd, 1) != 1)
    return example_task_fail(EXAMPLE, "corio_server_sockets", -EPROTO);
  if (getsockname(fd, (struct sockaddr *)&addr, &len) < 0)
    return example_task_fail(EXAMPLE, "getsockname", -errno);
  if (!is_name(&addr, len, e->path))
    return example_task_fail(EXAMPLE, "getsockname (another name)", -EPROTO);
  printf("Serving on '%s'\n", e->shown);
  return 0;
}

static int echo_main(void *arg, void **result) {
  struct echo *e = arg;
  corio_server *server;
  int rc, close_rc;

  (void)result;
  rc = corio_start_unix_server(handle_echo, e, e->path, NULL, &server);
  if (rc < 0)
    return example_task_fail(EXAMPLE, "corio_start_unix_server", rc);
  rc = print_serving(e, server);
  if (rc == 0)
    rc = unix_echo_client(e, "Hello World!");
  /* Leaving `async with server`: close, and wait for the handlers. */
  close_rc = corio_server_close(server);
  if (close_rc == 0)
    close_rc = corio_server_wait_closed(server);
  corio_server_unref(server);
  if (rc < 0)
    return rc;
  if (close_rc < 0)
    return example_task_fail(EXAMPLE, "corio_server_close/wait_closed",
                             close_rc);
  return e->handler_rc;
}

/* The run on a socket file: the directory is made before, and removed
 * after, the file the server leaves behind (there should be none). */
static int run_on_file(void) {
  char dir[] = "/tmp/corio-unix-echo-XXXXXX", path[sizeof dir + 16];
  struct echo e = {path, "<temporary directory>/echo.sock", 0};
  struct stat st;
  int rc, left;

  if (!mkdtemp(dir)) {
    fprintf(stderr, "%s: mkdtemp: %s\n", EXAMPLE, strerror(errno));
    return 1;
  }
  snprintf(path, sizeof path, "%s/echo.sock", dir);
  puts(">>> asyncio.run(main('<temporary directory>/echo.sock'))");
  rc = corio_run(echo_main, &e, NULL);
  left = stat(path, &st) == 0;
  if (left)
    (void)unlink(path);
  if (rmdir(dir) < 0 && rc == 0)
    rc = -errno;
  if (rc < 0)
    return example_fail(EXAMPLE, "corio_run", rc);
  printf("socket file left after the server closed: %s\n", left ? "yes" : "no");
  return 0;
}

static int run_on_abstract_name(void) {
  char name[64];
  struct echo e = {name, "@corio-unix-echo-<pid>", 0};
  int rc;

  /* The pid keeps two runs at once (of ctest -j) apart. */
  snprintf(name, sizeof name, "@corio-unix-echo-%ld", (long)getpid());
  puts(">>> asyncio.run(main('@corio-unix-echo-<pid>'))  # an abstract name");
  rc = corio_run(echo_main, &e, NULL);
  return rc < 0 ? example_fail(EXAMPLE, "corio_run", rc) : 0;
}

int example_unix_echo(void) { return run_on_file() || run_on_abstract_name(); }

#ifdef EXAMPLE_STANDALONE
EXAMPLE_MAIN(example_unix_echo)
#endif
