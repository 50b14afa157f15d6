/* An independent peer: Python's asyncio datagram endpoints (python3 from
 * Debian). A Python UDP echo server for a corio client, and a Python
 * client of a corio echo server, on 127.0.0.1. The Python side asserts
 * what it receives and prints "ok"; its stdout reaches the test through a
 * pipe read as a corio stream. Skipped, saying so, where python3 cannot
 * be started. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include "python_peer.h"
#include "test_udp.h"

enum { COUNT = 50 };

/* Echoes each datagram reversed; "bye" ends it. Prints its port, then
 * "ok" with the count of datagrams it answered. */
static const char server_script[] =
    "import asyncio\n"
    "class Echo(asyncio.DatagramProtocol):\n"
    "    def __init__(self, done):\n"
    "        self.done, self.n = done, 0\n"
    "    def connection_made(self, t):\n"
    "        self.t = t\n"
    "    def datagram_received(self, data, addr):\n"
    "        if data == b'bye':\n"
    "            self.done.set_result(self.n)\n"
    "            return\n"
    "        self.n += 1\n"
    "        self.t.sendto(data[::-1], addr)\n"
    "async def main():\n"
    "    loop = asyncio.get_running_loop()\n"
    "    done = loop.create_future()\n"
    "    t, p = await loop.create_datagram_endpoint(lambda: Echo(done),\n"
    "        local_addr=('127.0.0.1', 0))\n"
    "    print(t.get_extra_info('sockname')[1], flush=True)\n"
    "    n = await asyncio.wait_for(done, 60)\n"
    "    t.close()\n"
    "    print('ok', n, flush=True)\n"
    "asyncio.run(main())\n";

/* Sends COUNT datagrams to the corio server and checks each answer
 * (upper-cased), one at a time, then "bye". */
static const char client_script[] =
    "import asyncio, sys\n"
    "class Client(asyncio.DatagramProtocol):\n"
    "    def __init__(self):\n"
    "        self.q = asyncio.Queue()\n"
    "    def datagram_received(self, data, addr):\n"
    "        self.q.put_nowait(data)\n"
    "async def main(port):\n"
    "    loop = asyncio.get_running_loop()\n"
    "    t, p = await loop.create_datagram_endpoint(Client,\n"
    "        remote_addr=('127.0.0.1', port))\n"
    "    for i in range(50):\n"
    "        t.sendto(b'python %d' % i)\n"
    "        got = await asyncio.wait_for(p.q.get(), 60)\n"
    "        assert got == b'PYTHON %d' % i, got\n"
    "    t.sendto(b'bye')\n"
    "    t.close()\n"
    "    print('ok', flush=True)\n"
    "asyncio.run(main(int(sys.argv[1])))\n";

/* Runs body in a loop where python3 can be started (skips, saying why,
 * where it cannot); no fd may be left behind. */
static void run_with_python(corio_task_fn body) {
  int before = open_fds();

  if (!have_python()) {
    print_message("[  SKIPPED ] python3 with asyncio cannot be started\n");
    skip();
  }
  reset_checks(NULL);
  assert_int_equal(corio_run(body, NULL, NULL), 0);
  assert_checks_passed();
  assert_int_equal(open_fds(), before);
}

/* ---- corio client, Python server ---------------------------------------- */

static int python_server_body(void *arg, void **result) {
  struct python py;
  corio_datagram *c;
  char line[32] = {0}, msg[32], want[32], buf[64];
  size_t n;

  (void)arg, (void)result;
  CHECK_EQ(python_start(&py, server_script, NULL), 0);
  if (failed.line)
    return 0;
  CHECK_EQ(corio_stream_readline(py.out, line, sizeof line - 1, &n), 0);
  CHECK_TRUE(atoi(line) > 0);
  CHECK_EQ(corio_create_datagram_endpoint(NULL, 0, "127.0.0.1", atoi(line),
                                          NULL, &c),
           0);
  if (failed.line) {
    kill(py.pid, SIGKILL);
    (void)python_wait(&py);
    return 0;
  }
  for (int i = 0; i < COUNT && !failed.line; i++) {
    int len = snprintf(msg, sizeof msg, "corio %d", i);

    for (int j = 0; j < len; j++)
      want[j] = msg[len - 1 - j];
    want[len] = 0;
    CHECK_EQ(corio_datagram_send(c, msg, (size_t)len), 0);
    CHECK_EQ(corio_datagram_recv(c, buf, sizeof buf - 1, &n), 0);
    buf[n] = 0;
    CHECK_STR(buf, want);
  }
  CHECK_EQ(corio_datagram_send(c, "bye", 3), 0);
  memset(line, 0, sizeof line);
  CHECK_EQ(corio_stream_readline(py.out, line, sizeof line - 1, &n), 0);
  CHECK_STR(line, "ok 50\n");
  CHECK_EQ(python_wait(&py), 0);
  corio_datagram_unref(c);
  return 0;
}

static void test_python_server(void **state) {
  (void)state;
  run_with_python(python_server_body);
}

/* ---- Python client, corio server ---------------------------------------- */

static int python_client_body(void *arg, void **result) {
  struct sockaddr_storage ss, from;
  struct python py;
  corio_datagram *srv;
  corio_timeout guard;
  char port[16], out[16] = {0}, buf[64];
  size_t n;
  int answered = 0, rc;

  (void)arg, (void)result;
  CHECK_EQ(udp_bound(AF_INET, NULL, &srv), 0);
  if (failed.line)
    return 0;
  udp_name(srv, &ss);
  snprintf(port, sizeof port, "%d", port_of_addr(&ss));
  CHECK_EQ(python_start(&py, client_script, port), 0);
  if (failed.line) {
    corio_datagram_unref(srv);
    return 0;
  }
  /* Only against a hang: a Python client that fails says nothing more. */
  CHECK_EQ(corio_timeout_enter(&guard, 120), 0);
  for (;;) {
    socklen_t len = sizeof from;

    rc = corio_datagram_recvfrom(srv, buf, sizeof buf, &n,
                                 (struct sockaddr *)&from, &len);
    if (rc < 0 || (n == 3 && memcmp(buf, "bye", 3) == 0))
      break;
    upper_case(buf, n);
    rc = corio_datagram_sendto(srv, buf, n, (struct sockaddr *)&from, len);
    if (rc < 0)
      break;
    answered++;
  }
  rc = corio_timeout_exit(&guard, rc);
  if (rc < 0)
    kill(py.pid, SIGKILL);
  CHECK_EQ(rc, 0);
  CHECK_EQ(answered, COUNT);
  CHECK_EQ(corio_stream_read_all(py.out, out, sizeof out - 1, &n), 0);
  CHECK_STR(out, "ok\n");
  CHECK_EQ(python_wait(&py), 0);
  corio_datagram_unref(srv);
  return 0;
}

static void test_python_client(void **state) {
  (void)state;
  run_with_python(python_client_body);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_python_server),
      cmocka_unit_test(test_python_client),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
