/* An independent peer: Python's asyncio streams (python3 from Debian),
 * against a corio server and as a server for a corio client. Lines, a
 * 1 MiB body both ways (backpressure on both sides), half-close and
 * close, all on 127.0.0.1. The Python side asserts what it receives and
 * prints "ok"; its stdout reaches the test through a pipe read as a corio
 * stream. Skipped, saying so, where python3 cannot be started. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>

#include "python_peer.h"

enum { BIG = 1 << 20 };

/* A client of the corio server: 100 lines, upper-cased back; a 1 MiB
 * body echoed; write_eof, and the server says "bye" and closes. */
static const char client_script[] =
    "import asyncio, sys\n"
    "async def main(port):\n"
    "    r, w = await asyncio.open_connection('127.0.0.1', port)\n"
    "    for i in range(100):\n"
    "        w.write(b'line %d\\n' % i)\n"
    "    await w.drain()\n"
    "    for i in range(100):\n"
    "        got = await r.readline()\n"
    "        assert got == b'LINE %d\\n' % i, got\n"
    "    big = bytes(range(256)) * 4096\n"
    "    w.write(b'%d\\n' % len(big))\n"
    "    w.write(big)\n"
    "    await w.drain()\n"
    "    assert await r.readexactly(len(big)) == big\n"
    "    w.write_eof()\n"
    "    assert await r.read() == b'bye\\n'\n"
    "    w.close()\n"
    "    await w.wait_closed()\n"
    "    print('ok', flush=True)\n"
    "asyncio.run(main(int(sys.argv[1])))\n";

/* A server for the corio client: a line comes back reversed; "size N"
 * is followed by N bytes that come back; EOF closes. Prints its port,
 * then "ok" once a client has been served whole. */
static const char server_script[] =
    "import asyncio\n"
    "async def handle(r, w):\n"
    "    while True:\n"
    "        line = await r.readline()\n"
    "        if not line:\n"
    "            break\n"
    "        if line.startswith(b'size '):\n"
    "            w.write(await r.readexactly(int(line[5:])))\n"
    "        else:\n"
    "            w.write(line[-2::-1] + b'\\n')\n"
    "        await w.drain()\n"
    "    w.close()\n"
    "    await w.wait_closed()\n"
    "    print('ok', flush=True)\n"
    "async def main():\n"
    "    srv = await asyncio.start_server(handle, '127.0.0.1', 0)\n"
    "    print(srv.sockets[0].getsockname()[1], flush=True)\n"
    "    async with srv:\n"
    "        await srv.serve_forever()\n"
    "asyncio.run(main())\n";

/* ---- Python client, corio server ---------------------------------------- */

static int upper_echo(corio_stream *s, void *arg) {
  static char buf[64 * 1024];
  char line[64];
  size_t n;
  int rc;

  (void)arg;
  while ((rc = corio_stream_readline(s, line, sizeof line - 1, &n)) == 0 &&
         n > 0) {
    if (line[0] >= '0' && line[0] <= '9') {
      size_t left = strtoul(line, NULL, 10);

      while (left > 0 && rc == 0) {
        rc = corio_stream_read(s, buf, left < sizeof buf ? left : sizeof buf,
                               &n);
        if (rc == 0 && n == 0)
          rc = CORIO_EINCOMPLETEREAD;
        if (rc == 0)
          rc = corio_stream_write_all(s, buf, n);
        left -= n;
      }
    } else {
      for (size_t i = 0; i < n; i++)
        if (line[i] >= 'a' && line[i] <= 'z')
          line[i] = (char)(line[i] - 'a' + 'A');
      rc = corio_stream_write(s, line, n);
    }
    if (rc < 0)
      return rc;
  }
  if (rc < 0)
    return rc;
  return corio_stream_write_all(s, "bye\n", 4);
}

static int python_client_body(void *arg, void **result) {
  struct python py;
  corio_server *srv;
  char port[16], out[16] = {0};
  size_t n;

  (void)arg, (void)result;
  CHECK_EQ(corio_start_server(upper_echo, NULL, "127.0.0.1", 0, NULL, &srv), 0);
  snprintf(port, sizeof port, "%d", corio_server_port(srv));
  CHECK_EQ(python_start(&py, client_script, port), 0);
  CHECK_EQ(corio_stream_read_all(py.out, out, sizeof out - 1, &n), 0);
  CHECK_STR(out, "ok\n");
  CHECK_EQ(python_wait(&py), 0);
  CHECK_EQ(corio_server_close(srv), 0);
  CHECK_EQ(corio_server_wait_closed(srv), 0);
  corio_server_unref(srv);
  return 0;
}

static void test_python_client(void **state) {
  (void)state;
  if (!have_python()) {
    print_message("[  SKIPPED ] python3 with asyncio cannot be started\n");
    skip();
  }
  assert_int_equal(corio_run(python_client_body, NULL, NULL), 0);
  assert_checks_passed();
}

/* ---- corio client, Python server ---------------------------------------- */

static int python_server_body(void *arg, void **result) {
  char *big = malloc(BIG), *back = malloc(BIG);
  char line[32] = {0}, out[8] = {0};
  struct python py;
  corio_stream *s;
  size_t n;

  (void)arg, (void)result;
  for (size_t i = 0; i < BIG; i++)
    big[i] = (char)(i * 31 + i / 977);
  CHECK_EQ(python_start(&py, server_script, NULL), 0);
  CHECK_EQ(corio_stream_readline(py.out, line, sizeof line - 1, &n), 0);
  CHECK_TRUE(n > 1);
  CHECK_EQ(corio_open_connection("127.0.0.1", atoi(line), &s), 0);
  CHECK_EQ(corio_stream_write_all(s, "abc\n", 4), 0);
  memset(line, 0, sizeof line);
  CHECK_EQ(corio_stream_readline(s, line, sizeof line - 1, &n), 0);
  CHECK_STR(line, "cba\n");
  snprintf(line, sizeof line, "size %d\n", BIG);
  CHECK_EQ(corio_stream_write(s, line, strlen(line)), 0);
  CHECK_EQ(corio_stream_write_all(s, big, BIG), 0);
  CHECK_EQ(corio_stream_readexactly(s, back, BIG, &n), 0);
  CHECK_TRUE(memcmp(back, big, BIG) == 0);
  /* Half-close: the server sees EOF, closes, and the client reads EOF. */
  CHECK_EQ(corio_stream_write_eof(s), 0);
  CHECK_EQ(corio_stream_read(s, line, sizeof line, &n), 0);
  CHECK_EQ(n, 0);
  CHECK_EQ(corio_stream_readline(py.out, out, sizeof out - 1, &n), 0);
  CHECK_STR(out, "ok\n");
  corio_stream_unref(s);
  kill(py.pid, SIGTERM);
  CHECK_TRUE(WIFSIGNALED(python_wait(&py)));
  free(big);
  free(back);
  return 0;
}

static void test_python_server(void **state) {
  (void)state;
  if (!have_python()) {
    print_message("[  SKIPPED ] python3 with asyncio cannot be started\n");
    skip();
  }
  assert_int_equal(corio_run(python_server_body, NULL, NULL), 0);
  assert_checks_passed();
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup(test_python_client, reset_checks),
      cmocka_unit_test_setup(test_python_server, reset_checks),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
