/* greenlet ping-pong: the C twin of seed 000's greenlet example.
 *
 *   def task_1():
 *       while True:
 *           print("--This is task 1!--")
 *           g2.switch()
 *           time.sleep(0.5)
 *   def task_2():
 *       while True:
 *           print("--This is task 2!--")
 *           g1.switch()
 *           time.sleep(0.5)
 *   g1 = greenlet(task_1)
 *   g2 = greenlet(task_2)
 *   g1.switch()
 *
 * The Python program never ends. Here task 1 stops after ROUNDS rounds and
 * returns, and, as in greenlet, a finished body returns into its parent:
 * main, which created it, gets task 1's result from its own switch. The
 * sleeps only slowed the printing down, so they are left out. */
#include "example.h"

#define ROUNDS 4

/* Each task needs the other one to switch to. */
struct pingpong {
  corio_coro *g1;
  corio_coro *g2;
};

static void *task_1(void *arg) {
  struct pingpong *pp = arg;
  int round, rc;

  for (round = 0; round < ROUNDS; round++) {
    puts("--This is task 1!--");
    rc = corio_coro_switch(pp->g2, NULL, NULL);
    if (rc < 0)
      return corio_coro_fail(rc);
  }
  return "task 1 is done";
}

static void *task_2(void *arg) {
  struct pingpong *pp = arg;
  int rc;

  for (;;) {
    puts("--This is task 2!--");
    rc = corio_coro_switch(pp->g1, NULL, NULL);
    /* Destroying a suspended coroutine closes it first, like greenlet's
     * GreenletExit: its pending switch returns CORIO_ECLOSED. */
    if (rc == CORIO_ECLOSED) {
      puts("--task 2 is closed by corio_coro_destroy--");
      return NULL;
    }
    if (rc < 0)
      return corio_coro_fail(rc);
  }
}

/* Runs the ping-pong once both tasks exist. */
static int play(struct pingpong *pp) {
  void *back = NULL;
  int rc;

  rc = corio_coro_switch(pp->g1, NULL, &back);
  if (rc < 0)
    return example_fail("greenlet_pingpong", "corio_coro_switch(g1)", rc);
  /* Only task 1 has finished; task 2 waits in its switch to g1. */
  printf("--Back in main: task 1 returned \"%s\", task 2 is %s--\n",
         back ? (const char *)back : "nothing",
         corio_coro_state_of(pp->g2) == CORIO_CORO_SUSPENDED ? "suspended"
                                                             : "not suspended");
  return 0;
}

int example_greenlet_pingpong(void) {
  struct pingpong pp = {NULL, NULL};
  int failed = 0, rc;

  rc = corio_coro_create(&pp.g1, task_1, &pp, CORIO_CORO_STACK_DEFAULT);
  if (rc < 0)
    return example_fail("greenlet_pingpong", "corio_coro_create(g1)", rc);
  rc = corio_coro_create(&pp.g2, task_2, &pp, CORIO_CORO_STACK_DEFAULT);
  if (rc < 0)
    failed = example_fail("greenlet_pingpong", "corio_coro_create(g2)", rc);
  else
    failed = play(&pp);

  /* g2 may be suspended: destroying it closes it, so it runs once more. */
  if (pp.g2) {
    rc = corio_coro_destroy(pp.g2);
    if (rc < 0)
      failed = example_fail("greenlet_pingpong", "corio_coro_destroy(g2)", rc);
  }
  rc = corio_coro_destroy(pp.g1);
  if (rc < 0)
    failed = example_fail("greenlet_pingpong", "corio_coro_destroy(g1)", rc);
  return failed;
}

#ifdef EXAMPLE_STANDALONE
EXAMPLE_MAIN(example_greenlet_pingpong)
#endif
