/* An independent peer: Python's asyncio datagram endpoints (python3 from
 * Debian). A Python UDP echo server for a corio client, and a Python
 * client of a corio echo server, on 127.0.0.1. The Python side asserts
 * what it receives and prints "ok"; its stdout reaches the test through a
 * pipe read as a corio stream. Skipped, saying so, where python3 cannot
 * be started. */
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>

#include "corio/thread.h"
#include "test_udp.h"

extern char **environ;

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

struct python {
  pid_t pid;
  corio_stream *out; /* its stdout */
};

/* Starts python3 -c script [arg] with its stdout on a pipe. */
static int python_start(struct python *py, const char *script,
                        const char *arg) {
  char name[] = "python3", flag[] = "-c";
  char *code = strdup(script), *extra = arg ? strdup(arg) : NULL;
  char *argv[] = {name, flag, code, extra, NULL};
  posix_spawn_file_actions_t fa;
  int fds[2], rc;

  if (!code || pipe2(fds, O_CLOEXEC) != 0) {
    free(code);
    free(extra);
    return -ENOMEM;
  }
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
  rc = posix_spawnp(&py->pid, "python3", &fa, NULL, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  free(code);
  free(extra);
  close(fds[1]);
  if (rc != 0) {
    close(fds[0]);
    return -rc;
  }
  return corio_stream_open_fd(NULL, fds[0], NULL, &py->out);
}

static int wait_child(void *arg, void **result) {
  struct python *py = arg;
  int status;

  while (waitpid(py->pid, &status, 0) < 0)
    if (errno != EINTR)
      return -errno;
  *result = (void *)(intptr_t)status;
  return 0;
}

/* Waits for the child on a pool thread and returns its exit status. */
static int python_wait(struct python *py) {
  void *status = NULL;
  int rc = corio_to_thread(wait_child, py, &status);

  corio_stream_unref(py->out);
  return rc < 0 ? rc : (int)(intptr_t)status;
}

static int have_python(void) {
  return system("python3 -c 'import asyncio' >/dev/null 2>&1") == 0;
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
  int before = open_fds();

  (void)state;
  if (!have_python()) {
    print_message("[  SKIPPED ] python3 with asyncio cannot be started\n");
    skip();
  }
  reset_checks(NULL);
  assert_int_equal(corio_run(python_server_body, NULL, NULL), 0);
  assert_checks_passed();
  assert_int_equal(open_fds(), before);
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
    for (size_t i = 0; i < n; i++)
      if (buf[i] >= 'a' && buf[i] <= 'z')
        buf[i] = (char)(buf[i] - 'a' + 'A');
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
  int before = open_fds();

  (void)state;
  if (!have_python()) {
    print_message("[  SKIPPED ] python3 with asyncio cannot be started\n");
    skip();
  }
  reset_checks(NULL);
  assert_int_equal(corio_run(python_client_body, NULL, NULL), 0);
  assert_checks_passed();
  assert_int_equal(open_fds(), before);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_python_server),
      cmocka_unit_test(test_python_client),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
