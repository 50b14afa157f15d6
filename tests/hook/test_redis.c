/* hiredis's synchronous API, unmodified, in corio tasks with the hooks
 * enabled (docs/hook.md), against a real redis-server that the test starts
 * on a free port of 127.0.0.1 with no persistence, in a mkdtemp directory,
 * and stops after.
 *
 * Cases: 50 tasks each connecting and doing SET and GET of a 64 KiB value
 * and an INCR; 50 tasks all blocked in BLPOP on the server at once (the
 * server's own blocked_clients count says so) until one more task pushes,
 * which on one thread is only possible if each blocking read suspended
 * its task; a task cancelled while blocked in BLPOP (hiredis reports the
 * ECANCELED of the hooked read, the task ends cancelled, the server sees
 * the connection go); BLPOP inside a timeout scope (-ETIMEDOUT); a task
 * that opted out of the hooks still talks to redis, blocking.
 *
 * Without redis-server, or when it will not start, the program says why
 * and exits 77 (skipped). */
#include <errno.h>
#include <hiredis/hiredis.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "corio/hook.h"
#include "corio/task.h"
#include "server_proc.h"
#include "support.h"

#define CLIENTS 50
#define VALUE_SIZE (64 * 1024)
/* Bounds every wait for the server, so that broken hooks fail the test
 * instead of hanging it; never reached when things work. */
#define PATIENCE_SECONDS 60.0

static struct {
  server_proc proc;
  int port;
  char dir[64];
  char log[128];
} redis = {.proc = {.pid = -1}};

/* ---- the server ------------------------------------------------------------
 */

static int answers_ping(void *ctx) {
  struct timeval patience = {1, 0};
  redisContext *c;
  redisReply *r = NULL;
  int ok = 0;

  (void)ctx;
  c = redisConnectWithTimeout("127.0.0.1", redis.port, patience);
  if (c && !c->err)
    r = redisCommand(c, "PING");
  ok = r && r->type == REDIS_REPLY_STATUS && strcmp(r->str, "PONG") == 0;
  if (r)
    freeReplyObject(r);
  if (c)
    redisFree(c);
  return ok;
}

static const char *find_redis_server(void) {
  static const char *const places[] = {"/usr/bin/redis-server",
                                       "/usr/sbin/redis-server",
                                       "/usr/local/bin/redis-server"};

  for (size_t i = 0; i < sizeof places / sizeof places[0]; i++)
    if (access(places[i], X_OK) == 0)
      return places[i];
  return NULL;
}

/* Another process may take the free port before redis binds it: then
 * redis exits and the next attempt tries a new port. */
static int start_redis(void) {
  const char *path = find_redis_server();
  server_proc_options o = {0};
  char port[16];

  if (!path) {
    snprintf(redis.proc.why, sizeof redis.proc.why,
             "redis-server is not installed (apt-get install redis-server)");
    return -1;
  }
  snprintf(redis.dir, sizeof redis.dir, "/tmp/corio-redis-XXXXXX");
  if (!mkdtemp(redis.dir)) {
    snprintf(redis.proc.why, sizeof redis.proc.why, "mkdtemp: %s",
             strerror(errno));
    redis.dir[0] = 0;
    return -1;
  }
  snprintf(redis.log, sizeof redis.log, "%s/log", redis.dir);
  o.dir = redis.dir;
  o.log = redis.log;
  for (int attempt = 0; attempt < 5; attempt++) {
    char *argv[] = {"redis-server", "--port",    port,      "--bind",
                    "127.0.0.1",    "--save",    "",        "--appendonly",
                    "no",           "--dir",     redis.dir, "--daemonize",
                    "no",           "--logfile", "",        NULL};

    redis.port = corio_test_free_port(SOCK_STREAM);
    snprintf(port, sizeof port, "%d", redis.port);
    if (redis.port < 0 || server_proc_start(&redis.proc, path, argv, &o) != 0)
      return -1;
    if (server_proc_wait_ready(&redis.proc, answers_ping, NULL, 30) == 0)
      return 0;
  }
  return -1;
}

static void stop_redis(void) {
  server_proc_stop(&redis.proc, SIGTERM);
  if (redis.dir[0])
    server_proc_remove_tree(redis.dir);
  redis.dir[0] = 0;
}

/* ---- helpers ---------------------------------------------------------------
 */

/* A connection checked for errors (NULL after recording the failure). */
static redisContext *connect_checked(void) {
  redisContext *c = redisConnect("127.0.0.1", redis.port);

  if (!HOOK_CHECK(c && !c->err, "redisConnect: %s",
                  c ? c->errstr : "out of memory")) {
    if (c)
      redisFree(c);
    return NULL;
  }
  return c;
}

/* The server's "field:value" figure from INFO, or -1. */
static long info_field(redisContext *c, const char *section,
                       const char *field) {
  redisReply *r = redisCommand(c, "INFO %s", section);
  long value = -1;
  const char *at;
  size_t len = strlen(field);

  if (!HOOK_CHECK(r && r->type == REDIS_REPLY_STRING, "INFO %s: %s", section,
                  r ? "not a string" : c->errstr)) {
    if (r)
      freeReplyObject(r);
    return -1;
  }
  for (at = strstr(r->str, field); at; at = strstr(at + 1, field))
    if ((at == r->str || at[-1] == '\n') && at[len] == ':') {
      value = strtol(at + len + 1, NULL, 10);
      break;
    }
  freeReplyObject(r);
  return value;
}

static long blocked_clients(void *c) {
  return info_field(c, "clients", "blocked_clients");
}

/* Waits until INFO clients reports `want` blocked clients: 0, or -1 at the
 * end of the patience (with the most ever seen in *most). */
static int wait_blocked_clients(redisContext *c, long want, long *most) {
  return hook_test_wait_for_count(blocked_clients, c, want, most,
                                  PATIENCE_SECONDS);
}

/* One blocking call into libhiredis for hook_probe: a BLPOP that waits
 * 0.1 s on the server (decimal timeouts: redis 6 and later). */
static void blpop_briefly(void *ctx) {
  redisContext *c = redisConnect("127.0.0.1", redis.port);
  redisReply *r = NULL;

  (void)ctx;
  if (c && !c->err)
    r = redisCommand(c, "BLPOP corio:probe 0.1");
  if (!r || r->type == REDIS_REPLY_ERROR)
    hook_probe_failed("%s", r ? r->str : c ? c->errstr : "out of memory");
  if (r)
    freeReplyObject(r);
  if (c)
    redisFree(c);
}

/* ---- SET and GET from 50 tasks ---------------------------------------------
 */

static int counter_seen[CLIENTS];

static void fill_value(char *value, int seed) {
  for (int k = 0; k < VALUE_SIZE; k++)
    value[k] = (char)((seed * 131 + k * 7 + k / 251) & 0xff);
}

static void set_get(redisContext *c, int i, char *value, char *expected) {
  redisReply *r;

  fill_value(value, i);
  memcpy(expected, value, VALUE_SIZE);
  r = redisCommand(c, "SET corio:value:%d %b", i, value, (size_t)VALUE_SIZE);
  HOOK_CHECK(r && r->type == REDIS_REPLY_STATUS && strcmp(r->str, "OK") == 0,
             "SET %d: %s", i, r ? "unexpected reply" : c->errstr);
  if (r)
    freeReplyObject(r);
  /* Another task's value must not show up here: scribble over ours. */
  memset(value, 0, VALUE_SIZE);
  r = redisCommand(c, "GET corio:value:%d", i);
  HOOK_CHECK(r && r->type == REDIS_REPLY_STRING && r->len == VALUE_SIZE &&
                 memcmp(r->str, expected, VALUE_SIZE) == 0,
             "GET %d: %s", i, r ? "wrong value" : c->errstr);
  if (r)
    freeReplyObject(r);
  r = redisCommand(c, "INCR corio:counter");
  if (HOOK_CHECK(r && r->type == REDIS_REPLY_INTEGER && r->integer >= 1 &&
                     r->integer <= CLIENTS,
                 "INCR %d: %s", i, r ? "unexpected reply" : c->errstr))
    counter_seen[r->integer - 1]++;
  if (r)
    freeReplyObject(r);
}

static int set_get_client(void *arg, void **result) {
  char *value = malloc(VALUE_SIZE), *expected = malloc(VALUE_SIZE);
  redisContext *c;

  (void)result;
  if (HOOK_CHECK(value && expected, "out of memory") &&
      hook_test_active_here() && (c = connect_checked())) {
    set_get(c, INT_ARG(arg), value, expected);
    redisFree(c);
  }
  free(value);
  free(expected);
  return 0;
}

static void test_set_get_many(void **state) {
  (void)state;
  memset(counter_seen, 0, sizeof counter_seen);
  hook_test_run_case(set_get_client, CLIENTS, 0);
  /* Each INCR answered a different number: 50 increments, none lost. */
  for (int i = 0; i < CLIENTS; i++)
    assert_int_equal(counter_seen[i], 1);
}

/* ---- 50 tasks blocked in BLPOP at once -------------------------------------
 */

static struct {
  long most_blocked;
  int got[CLIENTS];
  int timeouts; /* BLPOPs that ran out of time and were sent again */
} blpop;

/* BLPOP with a timeout of one second, sent again while the pusher has not
 * pushed: a slow machine costs retries, never a failure, and broken hooks
 * end at the patience. */
static int blpop_waiter(void *arg, void **result) {
  int i = INT_ARG(arg);
  double give_up = corio_loop_time(NULL) + PATIENCE_SECONDS;
  redisContext *c;
  redisReply *r;
  char key[32], item[32];

  (void)result;
  if (!hook_test_active_here() || !(c = connect_checked()))
    return 0;
  snprintf(key, sizeof key, "corio:list:%d", i);
  snprintf(item, sizeof item, "item-%d", i);
  for (;;) {
    r = redisCommand(c, "BLPOP %s 1", key);
    if (!HOOK_CHECK(r, "BLPOP %d: %s", i, c->errstr))
      break;
    if (r->type == REDIS_REPLY_NIL && corio_loop_time(NULL) < give_up) {
      blpop.timeouts++;
      freeReplyObject(r);
      continue;
    }
    if (HOOK_CHECK(r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
                       strcmp(r->element[0]->str, key) == 0 &&
                       strcmp(r->element[1]->str, item) == 0,
                   "BLPOP %d: reply of type %d", i, r->type))
      blpop.got[i]++;
    freeReplyObject(r);
    break;
  }
  redisFree(c);
  return 0;
}

/* Waits until every waiter is blocked on the server, then pushes one item
 * to each list (pipelined). */
static int blpop_pusher(void *arg, void **result) {
  redisContext *c;
  redisReply *r;

  (void)arg, (void)result;
  if (!hook_test_active_here() || !(c = connect_checked()))
    return 0;
  HOOK_CHECK(wait_blocked_clients(c, CLIENTS, &blpop.most_blocked) == 0,
             "the server never had %d clients blocked at once (at most %ld)",
             CLIENTS, blpop.most_blocked);
  /* Pushed in any case, so the waiters finish. */
  for (int i = 0; i < CLIENTS; i++)
    redisAppendCommand(c, "LPUSH corio:list:%d item-%d", i, i);
  for (int i = 0; i < CLIENTS; i++) {
    r = NULL;
    if (!HOOK_CHECK(redisGetReply(c, (void **)&r) == REDIS_OK && r &&
                        r->type == REDIS_REPLY_INTEGER,
                    "LPUSH %d: %s", i, c->err ? c->errstr : "bad reply")) {
      if (r)
        freeReplyObject(r);
      break;
    }
    freeReplyObject(r);
  }
  redisFree(c);
  return 0;
}

static int blpop_task(void *arg, void **result) {
  int i = INT_ARG(arg);

  return i < CLIENTS ? blpop_waiter(arg, result) : blpop_pusher(arg, result);
}

static void test_all_blocked_at_once(void **state) {
  (void)state;
  memset(&blpop, 0, sizeof blpop);
  hook_test_run_case(blpop_task, CLIENTS + 1, 0);
  /* The server itself saw every waiter blocked at the same time: 50
   * blocking reads in flight on this one thread. */
  assert_int_equal(blpop.most_blocked, CLIENTS);
  for (int i = 0; i < CLIENTS; i++)
    assert_int_equal(blpop.got[i], 1);
  if (blpop.timeouts)
    print_message("(%d BLPOPs ran out of time and were sent again)\n",
                  blpop.timeouts);
}

/* ---- cancellation and timeout scopes ---------------------------------------
 */

static struct {
  hook_test_stuck task; /* what corio reported */
  int reply_was_null;
  int context_err;
  char errstr[128];
} stuck;

/* BLPOP on a list nobody pushes to, with no timeout: only a cancellation
 * (the test's or the timeout scope's) ends it. */
static void blpop_forever(void *ctx) {
  redisContext *c = ctx;
  redisReply *r = redisCommand(c, "BLPOP corio:never 0");

  stuck.reply_was_null = r == NULL;
  stuck.context_err = c->err;
  snprintf(stuck.errstr, sizeof stuck.errstr, "%s", c->errstr);
  if (r)
    freeReplyObject(r);
}

static int blpop_stuck(void *arg, void **result) {
  redisContext *c;
  int rc;

  (void)arg, (void)result;
  if (!hook_test_active_here() || !(c = connect_checked()))
    return 0;
  rc = hook_test_stuck_call(&stuck.task, blpop_forever, c);
  redisFree(c);
  return rc;
}

static int one_blocked_client(corio_task *task, void *monitor) {
  long most;

  (void)task;
  return HOOK_CHECK(wait_blocked_clients(monitor, 1, &most) == 0,
                    "the BLPOP never blocked on the server");
}

static int cancel_main(void *arg, void **result) {
  redisContext *monitor;
  long most;
  int rc;

  (void)arg, (void)result;
  if (!hook_test_active_here() || !(monitor = connect_checked()))
    return 0;
  rc = hook_test_cancel_blocked(blpop_stuck, NULL, one_blocked_client, monitor);
  /* The connection closed: the server has no blocked client left. */
  if (rc == 0)
    HOOK_CHECK(wait_blocked_clients(monitor, 0, &most) == 0,
               "the cancelled client is still blocked on the server");
  redisFree(monitor);
  return rc;
}

/* Runs main (the test cancels the task, or a timeout scope of
 * scope_seconds does) and checks what hiredis and corio made of it. */
static void run_stuck_case(corio_task_fn main, double scope_seconds) {
  hook_test_begin_case();
  memset(&stuck, 0, sizeof stuck);
  stuck.task.scope_seconds = scope_seconds;
  assert_int_equal(corio_run(main, NULL, NULL), 0);
  hook_test_assert_no_failure();
  /* hiredis saw its read fail with ECANCELED and reports an I/O error. */
  assert_int_equal(stuck.reply_was_null, 1);
  assert_int_equal(stuck.context_err, REDIS_ERR_IO);
  assert_string_equal(stuck.errstr, strerror(ECANCELED));
  hook_test_assert_stuck(&stuck.task);
}

static void test_cancel_in_blpop(void **state) {
  (void)state;
  run_stuck_case(cancel_main, 0);
}

static void test_timeout_scope_in_blpop(void **state) {
  (void)state;
  run_stuck_case(blpop_stuck, 0.2);
}

/* ---- a task that opted out -------------------------------------------------
 */

static int opted_out_main(void *arg, void **result) {
  redisContext *c;
  redisReply *r;

  (void)arg, (void)result;
  HOOK_CHECK(corio_hook_task_set(corio_current_task(), 0) == 0,
             "corio_hook_task_set failed");
  HOOK_CHECK(corio_hook_active() == 0, "hooks still active after opting out");
  if (!(c = connect_checked()))
    return 0;
  r = redisCommand(c, "ECHO %s", "blocking as before");
  HOOK_CHECK(r && r->type == REDIS_REPLY_STRING &&
                 strcmp(r->str, "blocking as before") == 0,
             "ECHO: %s", r ? "unexpected reply" : c->errstr);
  if (r)
    freeReplyObject(r);
  redisFree(c);
  return 0;
}

static void test_opted_out_task(void **state) {
  (void)state;
  hook_test_begin_case();
  assert_int_equal(corio_run(opted_out_main, NULL, NULL), 0);
  hook_test_assert_no_failure();
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_set_get_many),
      cmocka_unit_test(test_all_blocked_at_once),
      cmocka_unit_test(test_cancel_in_blpop),
      cmocka_unit_test(test_timeout_scope_in_blpop),
      cmocka_unit_test(test_opted_out_task),
  };
  int rc;

  if (start_redis() != 0) {
    fprintf(stderr, "hook.redis skipped: %s\n", redis.proc.why);
    stop_redis();
    return 77;
  }
  if (hook_test_enable("a BLPOP inside libhiredis", blpop_briefly, NULL) != 0) {
    stop_redis();
    return 1;
  }
  rc = cmocka_run_group_tests(tests, NULL, NULL);
  corio_hook_disable();
  stop_redis();
  return rc;
}
