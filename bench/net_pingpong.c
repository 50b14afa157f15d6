/* Streams in one process: C pairs of TCP loopback connections, a client
 * task and a server handler per pair, 64-byte messages ping-ponged for a
 * fixed number of round trips. Both sides are corio, on one loop and one
 * CPU, so the figure is corio's own cost per round trip (two reads and two
 * writes, four task switches) plus the kernel's loopback. Run under
 * `valgrind --tool=callgrind` it gives instructions per round trip that do
 * not depend on the machine's load.
 *
 *   net_pingpong [connections (100)] [round trips per connection (2000)] */
#include <errno.h>
#include <stdlib.h>

#include "bench.h"
#include "corio.h"

enum { MSG = 64 };

static int connections = 100;
static long trips = 2000;

static int echo(corio_stream *s, void *arg) {
  char buf[4096];
  size_t n;
  int rc;

  (void)arg;
  while ((rc = corio_stream_read(s, buf, sizeof buf, &n)) == 0 && n > 0)
    if ((rc = corio_stream_write(s, buf, n)) < 0)
      break;
  return rc == -ECONNRESET ? 0 : rc;
}

static int client(void *arg, void **result) {
  corio_stream *s;
  char msg[MSG], buf[MSG];
  int rc;

  (void)result;
  memset(msg, 'x', sizeof msg);
  if ((rc = corio_open_connection("127.0.0.1", *(int *)arg, &s)) < 0)
    return rc;
  for (long i = 0; i < trips && rc == 0; i++) {
    rc = corio_stream_write(s, msg, sizeof msg);
    if (rc == 0)
      rc = corio_stream_readexactly(s, buf, sizeof buf, NULL);
  }
  corio_stream_unref(s);
  return rc;
}

static int bench_main(void *arg, void **result) {
  corio_server *srv;
  corio_task **tasks = calloc((size_t)connections, sizeof *tasks);
  double t0, dt;
  int rc, port;

  (void)arg, (void)result;
  if ((rc = corio_start_server(echo, NULL, "127.0.0.1", 0, NULL, &srv)) < 0)
    return rc;
  port = corio_server_port(srv);
  t0 = bench_now_s();
  for (int i = 0; i < connections; i++)
    if ((rc = corio_spawn(&tasks[i], client, &port)) < 0)
      return rc;
  for (int i = 0; i < connections; i++) {
    int r = corio_task_await(tasks[i], NULL);
    if (r < 0 && rc == 0)
      rc = r;
    corio_task_unref(tasks[i]);
  }
  dt = bench_now_s() - t0;
  free(tasks);
  corio_server_close(srv);
  corio_server_wait_closed(srv);
  corio_server_unref(srv);
  if (rc < 0)
    return rc;
  bench_print("net_pingpong_connections", connections, 0, "");
  bench_print("net_pingpong_rt_per_s", (double)connections * (double)trips / dt,
              0, "rt/s");
  bench_print("net_pingpong_ns_per_rt",
              dt * 1e9 / ((double)connections * (double)trips), 1, "ns");
  return 0;
}

int main(int argc, char **argv) {
  int rc;

  if (argc > 1)
    connections = atoi(argv[1]);
  if (argc > 2)
    trips = atol(argv[2]);
  if (connections <= 0 || trips <= 0) {
    fprintf(stderr, "usage: net_pingpong [connections] [round trips]\n");
    return 2;
  }
  bench_pin_last_cpu();
  rc = corio_run(bench_main, NULL, NULL);
  if (rc < 0) {
    fprintf(stderr, "net_pingpong: %s\n", corio_strerror(rc));
    return 1;
  }
  return 0;
}
