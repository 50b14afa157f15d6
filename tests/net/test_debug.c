/* What tasks waiting in the net and thread layers say they wait on (a
 * stream's read, drain and close with the fd and peer, a server, an
 * executor job), and the debug endpoint: corio_debug_serve answered over
 * its Unix socket, by a corio client and by tools/corio-ps. */
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>

#include "corio/debug.h"
#include "corio/sync.h"
#include "corio/thread.h"
#include "net_test.h"

/* Exported (the test links with -rdynamic): its name is checked. */
int dump_test_blocking_job(void *arg, void **result);

struct seen {
  char name[32], kind[32], detail[200];
};

static struct {
  struct seen tasks[32];
  size_t n;
} seen;

static int record(const corio_task_info *info, void *arg) {
  struct seen *s = &seen.tasks[seen.n];

  (void)arg;
  if (seen.n + 1 >= sizeof seen.tasks / sizeof seen.tasks[0])
    return 0;
  seen.n++;
  snprintf(s->name, sizeof s->name, "%s", info->name);
  snprintf(s->kind, sizeof s->kind, "%s",
           info->wait_kind ? info->wait_kind : "");
  snprintf(s->detail, sizeof s->detail, "%s", info->wait_detail);
  return 0;
}

/* The first task waiting on kind, or NULL. */
static const struct seen *waiting_on(const char *kind) {
  for (size_t i = 0; i < seen.n; i++)
    if (strcmp(seen.tasks[i].kind, kind) == 0)
      return &seen.tasks[i];
  print_error("no task waits on %s\n", kind);
  fail();
  return NULL;
}

static void assert_contains(const char *s, const char *part) {
  if (!strstr(s, part)) {
    print_error("\"%s\" does not contain \"%s\"\n", s, part);
    fail();
  }
}

/* ---- the scene ----------------------------------------------------------- */

static corio_event release_handlers = CORIO_EVENT_INIT;

/* The first connection's handler waits to read; the second's never reads,
 * so its client's writes pile up. */
static int handler(corio_stream *s, void *arg) {
  int *connections = arg;
  char buf[64];
  size_t n;

  if ((*connections)++ == 0)
    return corio_stream_read(s, buf, sizeof buf, &n);
  return corio_event_wait(&release_handlers);
}

static int serves_forever(void *arg, void **result) {
  (void)result;
  return corio_server_serve_forever(arg);
}

static int drains(void *arg, void **result) {
  (void)result;
  return corio_stream_drain(arg);
}

static int waits_closed(void *arg, void **result) {
  (void)result;
  return corio_stream_wait_closed(arg);
}

int dump_test_blocking_job(void *arg, void **result) {
  char c;

  (void)result;
  return read(*(int *)arg, &c, 1) == 1 ? 0 : -EIO;
}

static int runs_job(void *arg, void **result) {
  return corio_to_thread(dump_test_blocking_job, arg, result);
}

/* ---- asking the debug endpoint ------------------------------------------- */

static char socket_name[64];
static char client_answer[16384], unknown_answer[256];
static char ps_tree[16384], ps_default[16384];

/* A corio client: the request, then everything up to EOF. */
static int ask(const char *request, char *answer, size_t cap) {
  corio_stream *s;
  size_t n = 0;
  int rc = corio_open_unix_connection(socket_name, NULL, &s);

  if (rc < 0)
    return rc;
  rc = corio_stream_write_all(s, request, strlen(request));
  if (rc == 0)
    rc = corio_stream_read_all(s, answer, cap - 1, &n);
  answer[n] = 0;
  corio_stream_close(s);
  corio_stream_unref(s);
  return rc;
}

struct command {
  char line[256];
  char *out;
  size_t cap;
};

/* On a pool thread: the program's output, like a user in a shell. */
static int run_command(void *arg, void **result) {
  struct command *c = arg;
  FILE *p = popen(c->line, "r");
  size_t n;

  (void)result;
  if (!p)
    return -errno;
  n = fread(c->out, 1, c->cap - 1, p);
  c->out[n] = 0;
  return pclose(p) == 0 ? 0 : -EIO;
}

static int corio_ps(const char *args, char *out, size_t cap) {
  struct command c = {.out = out, .cap = cap};

  snprintf(c.line, sizeof c.line, "%s %s", CORIO_PS_PATH, args);
  return corio_to_thread(run_command, &c, NULL);
}

/* ---- the test ------------------------------------------------------------ */

static corio_task *spawn_named(const char *name, corio_task_fn fn, void *arg) {
  corio_task *t = NULL;

  CHECK_EQ(corio_spawn_ex(&t, fn, arg, &(corio_spawn_options){.name = name}),
           0);
  return t;
}

static int scene(void *arg, void **result) {
  static char big[32 << 20]; /* more than loopback buffers take */
  corio_server *srv, *dbg, *dbg_default;
  corio_stream *reader_client, *flooder;
  corio_task *t[8];
  int connections = 0, job_pipe[2], port, rc;
  char args[96];
  size_t n = 0;

  (void)arg;
  (void)result;
  CHECK_EQ(pipe(job_pipe), 0);
  CHECK_EQ(
      corio_start_server(handler, &connections, "127.0.0.1", 0, NULL, &srv), 0);
  port = corio_server_port(srv);
  CHECK_EQ(corio_open_connection("127.0.0.1", port, &reader_client), 0);
  CHECK_EQ(corio_open_connection("127.0.0.1", port, &flooder), 0);
  CHECK_EQ(corio_stream_write(flooder, big, sizeof big), 0);
  /* Both handlers run before the named tasks start, whenever the backend
   * reports the accepts (io_uring: an iteration later than epoll). */
  for (int i = 0; i < 100000 && connections < 2; i++)
    (void)corio_sleep(0);
  CHECK_EQ(connections, 2);
  t[n++] = spawn_named("server-task", serves_forever, srv);
  t[n++] = spawn_named("drainer", drains, flooder);
  t[n++] = spawn_named("closer", waits_closed, reader_client);
  t[n++] = spawn_named("threader", runs_job, &job_pipe[0]);
  CHECK_EQ(yield_n(4), 0);
  CHECK_TRUE(corio_stream_write_buffer_size(flooder) > 64 * 1024);
  seen.n = 0;
  CHECK_EQ(corio_visit_tasks(NULL, 0, record, NULL), 0);
  CHECK_STR(seen.n ? seen.tasks[seen.n - 1].name : "", "threader");

  /* The endpoint: a corio client, then corio-ps, by name and by pid. */
  snprintf(socket_name, sizeof socket_name, "@corio-test-debug-%ld",
           (long)getpid());
  CHECK_EQ(corio_debug_serve(socket_name, &dbg), 0);
  CHECK_EQ(ask("tree\n", client_answer, sizeof client_answer), 0);
  CHECK_EQ(ask("bogus\n", unknown_answer, sizeof unknown_answer), 0);
  snprintf(args, sizeof args, "--socket %s --tree", socket_name);
  CHECK_EQ(corio_ps(args, ps_tree, sizeof ps_tree), 0);
  rc = corio_debug_serve(NULL, &dbg_default);
  CHECK_EQ(rc, 0);
  snprintf(args, sizeof args, "%ld", (long)getpid());
  CHECK_EQ(corio_ps(args, ps_default, sizeof ps_default), 0);

  /* Clean-up: the job returns, the handlers go, the servers close. */
  CHECK_EQ(write(job_pipe[1], "x", 1), 1);
  corio_event_set(&release_handlers);
  for (size_t i = 0; i < n; i++)
    (void)corio_task_cancel(t[i], NULL);
  corio_stream_abort(flooder);
  corio_stream_close(reader_client);
  for (size_t i = 0; i < n; i++) {
    (void)corio_await(t[i], NULL);
    corio_task_unref(t[i]);
  }
  corio_stream_unref(flooder);
  corio_stream_unref(reader_client);
  if (rc == 0) {
    corio_server_close(dbg_default);
    (void)corio_server_wait_closed(dbg_default);
    corio_server_unref(dbg_default);
  }
  corio_server_close(dbg);
  (void)corio_server_wait_closed(dbg);
  corio_server_unref(dbg);
  corio_server_close(srv);
  (void)corio_server_wait_closed(srv);
  corio_server_unref(srv);
  close(job_pipe[0]);
  close(job_pipe[1]);
  return 0;
}

static void test_net_waits_and_endpoint(void **state) {
  const struct seen *s;

  (void)state;
  assert_int_equal(corio_run(scene, NULL, NULL), 0);
  assert_checks_passed();
  s = waiting_on("stream read");
  assert_contains(s->detail, ", peer 127.0.0.1:");
  assert_contains(s->detail, ", 0 bytes buffered");
  s = waiting_on("stream drain");
  assert_string_equal(s->name, "drainer");
  assert_contains(s->detail, ", peer 127.0.0.1:");
  assert_contains(s->detail, " bytes to send");
  assert_string_equal(waiting_on("stream wait_closed")->name, "closer");
  s = waiting_on("server serve_forever");
  assert_string_equal(s->name, "server-task");
  assert_contains(s->detail, "on 127.0.0.1:");
  assert_contains(s->detail, ", 2 clients");
  s = waiting_on("executor job");
  assert_string_equal(s->name, "threader");
  assert_contains(s->detail, "dump_test_blocking_job+0x0");
  /* The endpoint's answers. */
  assert_contains(client_answer, "\u2514\u2500\u2500 server-task (");
  assert_contains(client_answer, "waiting on server serve_forever: on ");
  assert_contains(client_answer, "corio-debug (");
  assert_contains(unknown_answer, "unknown request");
  assert_contains(ps_tree, "\u2514\u2500\u2500 drainer (");
  assert_contains(ps_tree, " waiting on stream drain: fd ");
  assert_contains(ps_default, "TASK                 STATE       CANCEL WAITS");
  assert_contains(ps_default, "\nthreader             waiting     0      "
                              "executor job: dump_test_blocking_job+0x0");
}

/* ---- the endpoint's own errors and big answers ----------------------------
 */

static char loop_errors[4096];

static void capture_error(corio_loop *loop, const corio_loop_error *e,
                          void *arg) {
  size_t n = strlen(loop_errors);

  (void)loop;
  (void)arg;
  snprintf(loop_errors + n, sizeof loop_errors - n, "%s\n",
           e->message ? e->message : "?");
}

enum { MANY = 3000 };

static char squatted_answer[1024];
static char long_answer[256], broken_answer[16384];
static char big_answer[4 << 20];
static size_t big_lines;

static int sleeps_long(void *arg, void **result) {
  (void)arg;
  (void)result;
  return corio_sleep(100);
}

static int bad_requests_and_big_report(void *arg, void **result) {
  static char long_line[300];
  corio_server *dbg;
  corio_stream *s;
  corio_task **t = calloc(MANY, sizeof *t);

  (void)arg;
  (void)result;
  CHECK_TRUE(t != NULL);
  if (!t)
    return -ENOMEM;
  corio_loop_set_exception_handler(corio_task_loop(corio_current_task()),
                                   capture_error, NULL);
  snprintf(socket_name, sizeof socket_name, "@corio-test-debug2-%ld",
           (long)getpid());
  CHECK_EQ(corio_debug_serve(socket_name, &dbg), 0);
  /* A request line longer than any request (-ENOBUFS inside): the help. */
  memset(long_line, 'x', sizeof long_line - 2);
  long_line[sizeof long_line - 2] = '\n';
  CHECK_EQ(ask(long_line, long_answer, sizeof long_answer), 0);
  /* A peer that breaks off half-way through its line and goes. */
  CHECK_EQ(corio_open_unix_connection(socket_name, NULL, &s), 0);
  CHECK_EQ(corio_stream_write_all(s, "tas", 3), 0);
  corio_stream_abort(s);
  corio_stream_unref(s);
  /* A peer that connects and leaves without a word. */
  CHECK_EQ(corio_open_unix_connection(socket_name, NULL, &s), 0);
  corio_stream_abort(s);
  corio_stream_unref(s);
  CHECK_EQ(ask("tasks\n", broken_answer, sizeof broken_answer), 0);
  /* A report of many tasks: written in parts, drained as it goes. */
  for (int i = 0; i < MANY; i++)
    CHECK_EQ(
        corio_spawn_ex(&t[i], sleeps_long, NULL,
                       &(corio_spawn_options){.name = "a-task-with-a-long-name",
                                              .stack_size = 16 * 1024}),
        0);
  CHECK_EQ(yield_n(2), 0);
  CHECK_EQ(ask("tasks\n", big_answer, sizeof big_answer), 0);
  for (const char *p = big_answer; (p = strstr(p, "\na-task-with-a-long-"));
       p++)
    big_lines++;
  for (int i = 0; i < MANY; i++)
    (void)corio_task_cancel(t[i], NULL);
  for (int i = 0; i < MANY; i++) {
    (void)corio_await(t[i], NULL);
    corio_task_unref(t[i]);
  }
  free(t);
  /* Squatting another process's name (a child of ours that serves none;
   * its pid is ours alone, unlike the parent's, which the tests run in
   * parallel share): corio-ps asked for that pid finds this process and
   * refuses. */
  {
    char *const sleeper_argv[] = {"sleep", "60", NULL};
    corio_server *squat = NULL;
    char name[64], args[64];
    pid_t sleeper;
    int status;

    CHECK_EQ(posix_spawnp(&sleeper, "sleep", NULL, NULL, sleeper_argv, environ),
             0);
    snprintf(name, sizeof name, "@corio-%ld", (long)sleeper);
    CHECK_EQ(corio_debug_serve(name, &squat), 0);
    snprintf(args, sizeof args, "%ld 2>&1", (long)sleeper);
    if (squat) {
      CHECK_EQ(corio_ps(args, squatted_answer, sizeof squatted_answer), -EIO);
      corio_server_close(squat);
      (void)corio_server_wait_closed(squat);
      corio_server_unref(squat);
    }
    (void)kill(sleeper, SIGKILL);
    (void)waitpid(sleeper, &status, 0);
  }
  CHECK_EQ(yield_n(4), 0);
  corio_server_close(dbg);
  (void)corio_server_wait_closed(dbg);
  corio_server_unref(dbg);
  return 0;
}

static void test_endpoint_bad_requests_and_big_report(void **state) {
  (void)state;
  assert_int_equal(corio_run(bad_requests_and_big_report, NULL, NULL), 0);
  assert_checks_passed();
  assert_contains(long_answer, "unknown request");
  assert_contains(squatted_answer, "corio-ps: refusing to read @corio-");
  assert_true(strstr(squatted_answer, "TASK") == NULL);
  /* Every handler ended quietly: no error reached the loop. */
  assert_string_equal(loop_errors, "");
  assert_true(strlen(big_answer) > 256 * 1024);
  /* A line of the table for each task, and the handler's own. */
  assert_int_equal(big_lines, MANY);
  assert_contains(big_answer, "\ncorio-debug          running");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup(test_net_waits_and_endpoint, reset_checks),
      cmocka_unit_test_setup(test_endpoint_bad_requests_and_big_report,
                             reset_checks),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
