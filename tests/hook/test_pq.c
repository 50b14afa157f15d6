/* libpq's blocking API, unmodified, in corio tasks with the hooks enabled
 * (docs/hook.md), against a real PostgreSQL that the test makes with
 * initdb in a mkdtemp directory and starts listening only on a Unix socket
 * in that directory (listen_addresses=''); stopped (immediate shutdown)
 * and removed after. PostgreSQL refuses to run as root: as root the
 * server runs as the `postgres` user, which owns the directory.
 *
 * Cases: 10 tasks each with its own PQconnectdb running parameterised
 * queries, a temporary table and a 20,000-row result, every value checked;
 * 10 tasks running SELECT pg_sleep(0.1) that were all inside PQexec at
 * the same moment (counted by the tasks: no timing involved); 20 tasks
 * waiting on the server for an advisory lock that one more task holds
 * until pg_stat_activity shows all 20 waiting; a task cancelled inside
 * PQexec (libpq reports the ECANCELED of its poll, the task ends
 * cancelled) and the same through a timeout scope (-ETIMEDOUT).
 *
 * Without PostgreSQL, or when it will not start, the program says why and
 * exits 77 (skipped). */
#include <errno.h>
#include <glob.h>
#include <libpq-fe.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "corio/hook.h"
#include "corio/sync.h"
#include "corio/task.h"
#include "server_proc.h"

#define QUERY_TASKS 10
#define SLEEP_TASKS 10
#define LOCK_WAITERS 20
#define BIG_ROWS 20000
/* Bounds every wait for the server (and, as statement_timeout, every
 * statement), so that broken hooks fail the test instead of hanging it;
 * never reached when things work. */
#define PATIENCE_SECONDS 60.0

static struct {
  server_proc proc;
  char bin[128]; /* the server's bin directory */
  char dir[64];  /* socket directory; the cluster is in dir/data */
  char data[96];
  char log[96];
  char conninfo[256];
} pg = {.proc = {.pid = -1}};

/* ---- the server ------------------------------------------------------------
 */

/* The bin directory of the newest /usr/lib/postgresql/<version>. */
static int find_bin_dir(void) {
  glob_t found;
  long best = -1;

  if (glob("/usr/lib/postgresql/*/bin/postgres", 0, NULL, &found) != 0) {
    snprintf(pg.proc.why, sizeof pg.proc.why,
             "PostgreSQL is not installed (apt-get install postgresql)");
    return -1;
  }
  for (size_t i = 0; i < found.gl_pathc; i++) {
    const char *path = found.gl_pathv[i];
    long version = strtol(path + strlen("/usr/lib/postgresql/"), NULL, 10);

    if (version > best && access(path, X_OK) == 0) {
      best = version;
      snprintf(pg.bin, sizeof pg.bin, "%.*s", (int)(strrchr(path, '/') - path),
               path);
    }
  }
  globfree(&found);
  if (best < 0)
    snprintf(pg.proc.why, sizeof pg.proc.why, "no runnable postgres binary");
  return best < 0 ? -1 : 0;
}

/* As root, initdb and postgres run as `postgres`, owner of the directory. */
static int choose_user(server_proc_options *o) {
  struct passwd *pw;

  if (geteuid() != 0)
    return 0;
  pw = getpwnam("postgres");
  if (!pw) {
    snprintf(pg.proc.why, sizeof pg.proc.why,
             "running as root and there is no postgres user to run the "
             "server as");
    return -1;
  }
  o->as_user = 1;
  o->uid = pw->pw_uid;
  o->gid = pw->pw_gid;
  if (chown(pg.dir, o->uid, o->gid) != 0) {
    snprintf(pg.proc.why, sizeof pg.proc.why, "chown %s: %s", pg.dir,
             strerror(errno));
    return -1;
  }
  return 0;
}

static int run_initdb(const server_proc_options *o) {
  char path[160], line[200];
  char *argv[] = {"initdb", "-D", pg.data, "-U",         "postgres",  "-A",
                  "trust",  "-E", "UTF8",  "--locale=C", "--no-sync", NULL};
  server_proc initdb = {.pid = -1};
  server_proc_options io = *o;
  char log[96];
  int status;

  snprintf(path, sizeof path, "%s/initdb", pg.bin);
  snprintf(log, sizeof log, "%s/initdb.log", pg.dir);
  io.log = log;
  status = server_proc_run(&initdb, path, argv, &io, 300);
  if (status == 0)
    return 0;
  server_proc_last_log_line(&initdb, line, sizeof line);
  snprintf(pg.proc.why, sizeof pg.proc.why, "initdb failed (%.100s)%s%.300s",
           initdb.why, line[0] ? ": " : "", line);
  return -1;
}

static int answers(void *ctx) {
  (void)ctx;
  return PQping(pg.conninfo) == PQPING_OK;
}

static int start_postgres(void) {
  static char *const env[] = {"LC_ALL=C", "LANG=C", NULL};
  server_proc_options o = {.env = env};
  char path[160];
  char *argv[] = {"postgres",
                  "-D",
                  pg.data,
                  "-k",
                  pg.dir,
                  "-c",
                  "listen_addresses=",
                  "-c",
                  "fsync=off",
                  "-c",
                  "max_connections=60",
                  "-c",
                  "shared_buffers=16MB",
                  "-c",
                  "dynamic_shared_memory_type=mmap",
                  NULL};

  if (find_bin_dir() != 0)
    return -1;
  snprintf(pg.dir, sizeof pg.dir, "/tmp/corio-pg-XXXXXX");
  if (!mkdtemp(pg.dir)) {
    snprintf(pg.proc.why, sizeof pg.proc.why, "mkdtemp: %s", strerror(errno));
    pg.dir[0] = 0;
    return -1;
  }
  snprintf(pg.data, sizeof pg.data, "%s/data", pg.dir);
  snprintf(pg.log, sizeof pg.log, "%s/server.log", pg.dir);
  /* statement_timeout: a statement stuck behind broken hooks fails. */
  snprintf(pg.conninfo, sizeof pg.conninfo,
           "host=%s port=5432 user=postgres dbname=postgres "
           "connect_timeout=60 options='-c statement_timeout=%d'",
           pg.dir, (int)(PATIENCE_SECONDS * 1000));
  o.dir = pg.dir;
  if (choose_user(&o) != 0 || run_initdb(&o) != 0)
    return -1;
  snprintf(path, sizeof path, "%s/postgres", pg.bin);
  o.log = pg.log;
  if (server_proc_start(&pg.proc, path, argv, &o) != 0)
    return -1;
  return server_proc_wait_ready(&pg.proc, answers, NULL, 120);
}

static void stop_postgres(void) {
  /* Immediate shutdown: the postmaster stops its backends and exits. */
  server_proc_stop(&pg.proc, SIGQUIT);
  if (pg.dir[0])
    server_proc_remove_tree(pg.dir);
  pg.dir[0] = 0;
}

/* ---- helpers ---------------------------------------------------------------
 */

/* A connection, or NULL (the failure recorded). */
static PGconn *connect_checked(void) {
  PGconn *conn = PQconnectdb(pg.conninfo);

  if (HOOK_CHECK(conn && PQstatus(conn) == CONNECTION_OK, "PQconnectdb: %s",
                 conn ? PQerrorMessage(conn) : "out of memory"))
    return conn;
  PQfinish(conn);
  return NULL;
}

/* Runs sql; 1 if it gave `want` (the result freed), 0 with the failure
 * recorded. */
static int exec_ok(PGconn *conn, const char *sql, ExecStatusType want) {
  PGresult *res = PQexec(conn, sql);
  int ok = HOOK_CHECK(PQresultStatus(res) == want, "%s: %s", sql,
                      res ? PQresultErrorMessage(res) : PQerrorMessage(conn));

  PQclear(res);
  return ok;
}

/* The single value of a one-row, one-column query as a number, or -1. */
static long query_number(PGconn *conn, const char *sql) {
  PGresult *res = PQexec(conn, sql);
  long value = -1;

  if (HOOK_CHECK(PQresultStatus(res) == PGRES_TUPLES_OK &&
                     PQntuples(res) == 1 && PQnfields(res) == 1,
                 "%s: %s", sql,
                 res ? PQresultErrorMessage(res) : PQerrorMessage(conn)))
    value = strtol(PQgetvalue(res, 0, 0), NULL, 10);
  PQclear(res);
  return value;
}

typedef struct count_query {
  PGconn *conn;
  const char *sql;
} count_query;

static long run_count_query(void *ctx) {
  count_query *q = ctx;

  return query_number(q->conn, q->sql);
}

/* Waits until `sql` (a count) gives want: 0, or -1 at the end of the
 * patience, with the most ever seen in *most. */
static int wait_count(PGconn *conn, const char *sql, long want, long *most) {
  count_query q = {conn, sql};

  return hook_test_wait_for_count(run_count_query, &q, want, most,
                                  PATIENCE_SECONDS);
}

/* One blocking call into libpq for hook_probe: a query that sleeps 50 ms
 * on the server. */

static void sleep_briefly(void *ctx) {
  PGconn *conn = PQconnectdb(pg.conninfo);
  PGresult *res = NULL;

  (void)ctx;
  if (PQstatus(conn) == CONNECTION_OK)
    res = PQexec(conn, "SELECT pg_sleep(0.05)");
  if (PQresultStatus(res) != PGRES_TUPLES_OK)
    hook_probe_failed("%s",
                      res ? PQresultErrorMessage(res) : PQerrorMessage(conn));
  PQclear(res);
  PQfinish(conn);
}

/* ---- ordinary queries from 10 tasks ----------------------------------------
 */

static int queries_done[QUERY_TASKS];

static void parameterised(PGconn *conn, int i) {
  char number[16], expected[40];
  const char *params[] = {number};
  PGresult *res;

  snprintf(number, sizeof number, "%d", i);
  snprintf(expected, sizeof expected, "task-%d", i);
  res = PQexecParams(conn, "SELECT $1::int * 2, 'task-' || $1", 1, NULL, params,
                     NULL, NULL, 0);
  if (HOOK_CHECK(PQresultStatus(res) == PGRES_TUPLES_OK &&
                     PQntuples(res) == 1 && PQnfields(res) == 2,
                 "task %d: %s", i, PQresultErrorMessage(res))) {
    HOOK_CHECK(strtol(PQgetvalue(res, 0, 0), NULL, 10) == 2 * i,
               "task %d got %s", i, PQgetvalue(res, 0, 0));
    HOOK_CHECK(strcmp(PQgetvalue(res, 0, 1), expected) == 0, "task %d got %s",
               i, PQgetvalue(res, 0, 1));
  }
  PQclear(res);
}

/* A temporary table of this session's own: rows 1..100 times i. */
static void temporary_table(PGconn *conn, int i) {
  char sql[160];

  if (!exec_ok(conn, "CREATE TEMP TABLE mine (n int)", PGRES_COMMAND_OK))
    return;
  snprintf(sql, sizeof sql,
           "INSERT INTO mine SELECT g * %d FROM generate_series(1, 100) g", i);
  if (!exec_ok(conn, sql, PGRES_COMMAND_OK))
    return;
  HOOK_CHECK(query_number(conn, "SELECT sum(n) FROM mine") == 5050L * i,
             "task %d: wrong sum", i);
}

/* About a megabyte of rows: many reads, most of them suspending. */
static void big_result(PGconn *conn, int i) {
  PGresult *res = PQexec(conn, "SELECT g, md5(g::text) FROM "
                               "generate_series(1, 20000) g ORDER BY g");
  int rows;

  if (!HOOK_CHECK(PQresultStatus(res) == PGRES_TUPLES_OK, "task %d: %s", i,
                  PQresultErrorMessage(res))) {
    PQclear(res);
    return;
  }
  rows = PQntuples(res);
  HOOK_CHECK(rows == BIG_ROWS, "task %d: %d rows", i, rows);
  for (int row = 0; row < rows; row++)
    if (!HOOK_CHECK(strtol(PQgetvalue(res, row, 0), NULL, 10) == row + 1 &&
                        PQgetlength(res, row, 1) == 32,
                    "task %d: row %d is wrong", i, row))
      break;
  PQclear(res);
}

static int query_task(void *arg, void **result) {
  int i = INT_ARG(arg);
  PGconn *conn;

  (void)result;
  if (!hook_test_active_here() || !(conn = connect_checked()))
    return 0;
  parameterised(conn, i);
  temporary_table(conn, i);
  big_result(conn, i);
  queries_done[i] = !hook_test_failure();
  PQfinish(conn);
  return 0;
}

static void test_queries_many(void **state) {
  (void)state;
  memset(queries_done, 0, sizeof queries_done);
  hook_test_run_case(query_task, QUERY_TASKS, 0);
  for (int i = 0; i < QUERY_TASKS; i++)
    assert_int_equal(queries_done[i], 1);
}

/* ---- pg_sleep(0.1) overlapping ---------------------------------------------
 */

static struct {
  corio_barrier all_connected;
  int in_flight;      /* tasks inside PQexec right now */
  int most_in_flight; /* the most there ever were */
  int slept;          /* pg_sleep calls that returned their row */
} sleepers;

/* The tasks connect first and meet at a barrier, so that the sleeps start
 * together: each task then counts itself in before PQexec and out after.
 * A task that blocked the thread would be out again before the next came
 * in; with the hooks the barrier's wake-ups all run in one loop iteration
 * and none of them can be back before that iteration ends. */
static int sleep_task(void *arg, void **result) {
  PGconn *conn;
  PGresult *res;
  int rc;

  (void)arg, (void)result;
  if (!hook_test_active_here() || !(conn = connect_checked()))
    return 0;
  if ((rc = corio_barrier_wait(&sleepers.all_connected, NULL)) < 0) {
    PQfinish(conn);
    return rc;
  }
  sleepers.in_flight++;
  if (sleepers.in_flight > sleepers.most_in_flight)
    sleepers.most_in_flight = sleepers.in_flight;
  res = PQexec(conn, "SELECT pg_sleep(0.1)");
  sleepers.in_flight--;
  if (HOOK_CHECK(PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1,
                 "pg_sleep: %s", PQresultErrorMessage(res)))
    sleepers.slept++;
  PQclear(res);
  PQfinish(conn);
  return 0;
}

static void test_sleeps_overlap(void **state) {
  double start;

  (void)state;
  hook_test_begin_case();
  memset(&sleepers, 0, sizeof sleepers);
  assert_int_equal(corio_barrier_init(&sleepers.all_connected, SLEEP_TASKS), 0);
  start = server_proc_now_seconds();
  assert_int_equal(hook_test_run_tasks(sleep_task, SLEEP_TASKS, 0), 0);
  print_message("(%d pg_sleep(0.1) on one thread: %.2f s, with connecting)\n",
                SLEEP_TASKS, server_proc_now_seconds() - start);
  assert_int_equal(corio_barrier_destroy(&sleepers.all_connected), 0);
  hook_test_assert_no_failure();
  assert_int_equal(sleepers.slept, SLEEP_TASKS);
  assert_int_equal(sleepers.most_in_flight, SLEEP_TASKS);
}

/* ---- 20 sessions waiting for a lock at once --------------------------------
 */

#define COUNT_LOCK_WAITERS                                                     \
  "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "      \
  "AND wait_event = 'advisory'"

static struct {
  corio_event locked; /* the holder has the lock */
  long most_waiting;  /* sessions pg_stat_activity saw waiting at once */
  int got[LOCK_WAITERS];
} lock;

/* Waits for the holder, then blocks on the server for the shared lock. */
static int lock_waiter(int i) {
  PGconn *conn;
  int rc;

  if (!hook_test_active_here() || !(conn = connect_checked()))
    return 0;
  if ((rc = corio_event_wait(&lock.locked)) < 0) {
    PQfinish(conn);
    return rc;
  }
  if (query_number(conn, "SELECT 1 FROM pg_advisory_lock_shared(4242)") == 1 &&
      query_number(conn, "SELECT pg_advisory_unlock_shared(4242)::int") == 1)
    lock.got[i]++;
  PQfinish(conn);
  return 0;
}

/* Takes the lock, waits until every waiter is waiting for it on the
 * server, lets go. */
static int lock_holder(void) {
  PGconn *conn;

  if (!hook_test_active_here() || !(conn = connect_checked()))
    return 0;
  if (!exec_ok(conn, "SELECT pg_advisory_lock(4242)", PGRES_TUPLES_OK)) {
    PQfinish(conn);
    return 0;
  }
  corio_event_set(&lock.locked);
  HOOK_CHECK(wait_count(conn, COUNT_LOCK_WAITERS, LOCK_WAITERS,
                        &lock.most_waiting) == 0,
             "pg_stat_activity never saw %d sessions waiting (at most %ld)",
             LOCK_WAITERS, lock.most_waiting);
  /* Let go in any case, so the waiters finish. */
  exec_ok(conn, "SELECT pg_advisory_unlock(4242)", PGRES_TUPLES_OK);
  PQfinish(conn);
  return 0;
}

static int lock_task(void *arg, void **result) {
  int i = INT_ARG(arg);

  (void)result;
  return i < LOCK_WAITERS ? lock_waiter(i) : lock_holder();
}

static void test_lock_waiters(void **state) {
  (void)state;
  memset(&lock, 0, sizeof lock);
  corio_event_init(&lock.locked);
  hook_test_run_case(lock_task, LOCK_WAITERS + 1, 0);
  assert_int_equal(corio_event_destroy(&lock.locked), 0);
  /* The server itself saw all 20 sessions of this one thread waiting. */
  assert_int_equal(lock.most_waiting, LOCK_WAITERS);
  for (int i = 0; i < LOCK_WAITERS; i++)
    assert_int_equal(lock.got[i], 1);
}

/* ---- cancellation and timeout scopes ---------------------------------------
 */

#define COUNT_SLEEPING                                                         \
  "SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'PgSleep'"

static struct {
  hook_test_stuck task; /* what corio reported */
  ExecStatusType status;
  char message[256];
} stuck;

/* A query that only a cancellation (the test's or the timeout scope's)
 * ends, within the patience. */
static void pg_sleep_long(void *ctx) {
  PGconn *conn = ctx;
  PGresult *res = PQexec(conn, "SELECT pg_sleep(60)");

  stuck.status = PQresultStatus(res);
  snprintf(stuck.message, sizeof stuck.message, "%s",
           res ? PQresultErrorMessage(res) : PQerrorMessage(conn));
  PQclear(res);
}

static int sleeps_long(void *arg, void **result) {
  PGconn *conn;
  int rc;

  (void)arg, (void)result;
  if (!hook_test_active_here() || !(conn = connect_checked()))
    return 0;
  rc = hook_test_stuck_call(&stuck.task, pg_sleep_long, conn);
  PQfinish(conn);
  return rc;
}

static int one_sleeping(corio_task *task, void *monitor) {
  long most;

  (void)task;
  return HOOK_CHECK(wait_count(monitor, COUNT_SLEEPING, 1, &most) == 0,
                    "the query never started sleeping on the server");
}

/* The backend still sleeps after its client went: ends it, and checks
 * none is left. */
static void end_sleeping_backends(PGconn *monitor) {
  long most;

  exec_ok(monitor,
          "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
          "WHERE wait_event = 'PgSleep'",
          PGRES_TUPLES_OK);
  HOOK_CHECK(wait_count(monitor, COUNT_SLEEPING, 0, &most) == 0,
             "a backend still sleeps");
}

/* Runs the sleeping task, cancelled by the test or by its timeout scope,
 * next to a connection that watches the server. */
static int stuck_main(void *arg, void **result) {
  PGconn *monitor;
  int rc;

  (void)arg;
  if (!hook_test_active_here() || !(monitor = connect_checked()))
    return 0;
  if (stuck.task.scope_seconds > 0)
    rc = sleeps_long(NULL, result);
  else
    rc = hook_test_cancel_blocked(sleeps_long, NULL, one_sleeping, monitor);
  end_sleeping_backends(monitor);
  PQfinish(monitor);
  return rc;
}

/* Runs stuck_main and checks what libpq and corio made of it: libpq's poll
 * failed with ECANCELED and PQexec reported it. */
static void run_stuck_case(double scope_seconds) {
  hook_test_begin_case();
  memset(&stuck, 0, sizeof stuck);
  stuck.task.scope_seconds = scope_seconds;
  assert_int_equal(corio_run(stuck_main, NULL, NULL), 0);
  hook_test_assert_no_failure();
  assert_int_equal(stuck.status, PGRES_FATAL_ERROR);
  if (!strstr(stuck.message, strerror(ECANCELED)))
    fail_msg("PQexec's error is \"%s\"", stuck.message);
  hook_test_assert_stuck(&stuck.task);
}

static void test_cancel_in_query(void **state) {
  (void)state;
  run_stuck_case(0);
}

static void test_timeout_scope_in_query(void **state) {
  (void)state;
  run_stuck_case(0.2);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_queries_many),
      cmocka_unit_test(test_sleeps_overlap),
      cmocka_unit_test(test_lock_waiters),
      cmocka_unit_test(test_cancel_in_query),
      cmocka_unit_test(test_timeout_scope_in_query),
  };
  int rc;

  if (start_postgres() != 0) {
    fprintf(stderr, "hook.pq skipped: %s\n", pg.proc.why);
    stop_postgres();
    return 77;
  }
  if (hook_test_enable("a query inside libpq", sleep_briefly, NULL) != 0) {
    stop_postgres();
    return 1;
  }
  rc = cmocka_run_group_tests(tests, NULL, NULL);
  corio_hook_disable();
  stop_postgres();
  return rc;
}
