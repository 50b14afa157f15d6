/* Context variables: get/set/reset with tokens, copy_context, run in a
 * context, and each task's own copy (seed 001 §2.2.2). */
#include "task_test.h"

static corio_contextvar *request_id;

static void test_variable_basics(void **state) {
  corio_contextvar *plain, *with_default;
  corio_context_token tok, tok2;
  void *v = NULL;
  (void)state;

  assert_int_equal(corio_contextvar_create(&plain, "plain"), 0);
  assert_int_equal(
      corio_contextvar_create_with_default(&with_default, "dflt", CORIO_PTR(9)),
      0);
  assert_string_equal(corio_contextvar_name(plain), "plain");
  assert_int_equal(corio_contextvar_get(plain, &v), CORIO_ENOVALUE);
  assert_ptr_equal(corio_contextvar_get_or(plain, CORIO_PTR(5)), CORIO_PTR(5));
  assert_int_equal(corio_contextvar_get(with_default, &v), 0);
  assert_int_equal(CORIO_INT(v), 9);

  assert_int_equal(corio_contextvar_set(plain, CORIO_PTR(1), &tok), 0);
  assert_int_equal(corio_contextvar_set(plain, CORIO_PTR(2), &tok2), 0);
  assert_int_equal(corio_contextvar_get(plain, &v), 0);
  assert_int_equal(CORIO_INT(v), 2);
  /* A token of another variable, then the right ones in reverse order. */
  assert_int_equal(corio_contextvar_reset(with_default, &tok2), -EINVAL);
  assert_int_equal(corio_contextvar_reset(plain, &tok2), 0);
  assert_int_equal(corio_contextvar_reset(plain, &tok2), CORIO_ETOKENUSED);
  assert_int_equal(corio_contextvar_get(plain, &v), 0);
  assert_int_equal(CORIO_INT(v), 1);
  assert_int_equal(corio_contextvar_reset(plain, &tok), 0);
  assert_int_equal(corio_contextvar_get(plain, &v), CORIO_ENOVALUE);
  /* Storage that never was a token. */
  memset(&tok, 0, sizeof tok);
  assert_int_equal(corio_contextvar_reset(plain, &tok), -EINVAL);

  assert_int_equal(corio_contextvar_create(NULL, "x"), -EINVAL);
  assert_int_equal(corio_contextvar_create(&plain, NULL), -EINVAL);
  assert_int_equal(corio_contextvar_get(NULL, &v), -EINVAL);
  assert_int_equal(corio_contextvar_set(NULL, NULL, NULL), -EINVAL);
  corio_contextvar_free(with_default);
  corio_contextvar_free(plain);
  corio_contextvar_free(NULL);
}

struct in_context {
  corio_contextvar *var;
  corio_context *ctx;
  int inner_rc;
  void *seen;
};

static int set_inside(void *arg) {
  struct in_context *ic = arg;

  assert_ptr_equal(corio_context_current(), ic->ctx);
  ic->seen = corio_contextvar_get_or(ic->var, NULL);
  /* Entering the same context twice is refused. */
  ic->inner_rc = corio_context_run(ic->ctx, set_inside, ic);
  return corio_contextvar_set(ic->var, CORIO_PTR(77), NULL);
}

static void test_copy_and_run(void **state) {
  struct in_context ic = {0};
  corio_context_token tok;
  corio_context *base = corio_context_current();
  void *v;
  (void)state;

  assert_int_equal(corio_contextvar_create(&ic.var, "v"), 0);
  assert_int_equal(corio_contextvar_set(ic.var, CORIO_PTR(1), &tok), 0);
  assert_int_equal(corio_context_copy(&ic.ctx), 0);
  assert_int_equal(corio_contextvar_set(ic.var, CORIO_PTR(2), NULL), 0);
  /* The copy has the value from when it was made. */
  assert_int_equal(corio_context_get(ic.ctx, ic.var, &v), 0);
  assert_int_equal(CORIO_INT(v), 1);
  assert_int_equal(corio_context_run(ic.ctx, set_inside, &ic), 0);
  assert_int_equal(CORIO_INT(ic.seen), 1);
  assert_int_equal(ic.inner_rc, CORIO_ECONTEXTENTERED);
  /* The set inside changed the copy, not the current context. */
  assert_int_equal(corio_context_get(ic.ctx, ic.var, &v), 0);
  assert_int_equal(CORIO_INT(v), 77);
  assert_int_equal(corio_contextvar_get(ic.var, &v), 0);
  assert_int_equal(CORIO_INT(v), 2);
  assert_ptr_equal(corio_context_current(), base);
  /* A token belongs to the context it was made in. */
  assert_int_equal(corio_context_run(ic.ctx, (int (*)(void *))NULL, NULL),
                   -EINVAL);
  corio_context_unref(ic.ctx);

  assert_int_equal(corio_context_create(&ic.ctx), 0);
  assert_int_equal(corio_context_get(ic.ctx, ic.var, &v), CORIO_ENOVALUE);
  assert_ptr_equal(corio_context_ref(ic.ctx), ic.ctx);
  corio_context_unref(ic.ctx);
  corio_context_unref(ic.ctx);
  assert_int_equal(corio_contextvar_reset(ic.var, &tok), 0);
  assert_int_equal(corio_contextvar_get(ic.var, &v), CORIO_ENOVALUE);
  corio_contextvar_free(ic.var);
}

struct token_box {
  corio_context_token tok;
  int rc;
};

static int reset_elsewhere(void *arg) {
  struct token_box *b = arg;

  b->rc = corio_contextvar_reset(request_id, &b->tok);
  return 0;
}

static void test_token_from_another_context(void **state) {
  struct token_box b;
  corio_context *other;
  (void)state;

  assert_int_equal(corio_contextvar_create(&request_id, "request_id"), 0);
  assert_int_equal(corio_contextvar_set(request_id, CORIO_PTR(1), &b.tok), 0);
  assert_int_equal(corio_context_copy(&other), 0);
  assert_int_equal(corio_context_run(other, reset_elsewhere, &b), 0);
  assert_int_equal(b.rc, -EINVAL);
  assert_int_equal(corio_contextvar_reset(request_id, &b.tok), 0);
  corio_context_unref(other);
  corio_contextvar_free(request_id);
}

/* ---- tasks --------------------------------------------------------------- */

struct request {
  intptr_t id;
  intptr_t seen_at_start, seen_after_sleep;
};

static int handle_request(void *arg, void **result) {
  struct request *r = arg;

  (void)result;
  r->seen_at_start = CORIO_INT(corio_contextvar_get_or(request_id, NULL));
  assert_int_equal(corio_contextvar_set(request_id, CORIO_PTR(r->id), NULL), 0);
  assert_int_equal(corio_sleep(0.001 * (double)(4 - r->id)), 0);
  r->seen_after_sleep = CORIO_INT(corio_contextvar_get_or(request_id, NULL));
  return 0;
}

static int set_in_shared(void *arg, void **result) {
  (void)arg;
  (void)result;
  return corio_contextvar_set(request_id, CORIO_PTR(55), NULL);
}

static int requests(void *arg, void **result) {
  struct request r[3] = {{1, 0, 0}, {2, 0, 0}, {3, 0, 0}};
  corio_task *t[3];
  corio_context *shared;
  void *v;

  (void)arg;
  (void)result;
  /* What the creator set before spawning is copied into each task. */
  assert_int_equal(corio_contextvar_set(request_id, CORIO_PTR(100), NULL), 0);
  for (int i = 0; i < 3; i++)
    t[i] = spawn_or_fail(handle_request, &r[i]);
  assert_int_equal(corio_contextvar_set(request_id, CORIO_PTR(200), NULL), 0);
  for (int i = 0; i < 3; i++) {
    assert_int_equal(corio_await(t[i], NULL), 0);
    assert_int_equal(r[i].seen_at_start, 100);
    assert_int_equal(r[i].seen_after_sleep, r[i].id);
    corio_task_unref(t[i]);
  }
  assert_int_equal(CORIO_INT(corio_contextvar_get_or(request_id, NULL)), 200);

  /* A context passed at spawn is the task's: its sets land there. */
  assert_int_equal(corio_context_create(&shared), 0);
  assert_int_equal(corio_spawn_ex(&t[0], set_in_shared, NULL,
                                  &(corio_spawn_options){.context = shared}),
                   0);
  assert_ptr_equal(corio_task_context(t[0]), shared);
  assert_int_equal(corio_await(t[0], NULL), 0);
  assert_int_equal(corio_context_get(shared, request_id, &v), 0);
  assert_int_equal(CORIO_INT(v), 55);
  corio_task_unref(t[0]);
  corio_context_unref(shared);
  return 0;
}

static void test_tasks_have_their_own_copies(void **state) {
  corio_test_usage before = corio_test_usage_now();
  void *v;
  (void)state;

  assert_int_equal(corio_contextvar_create(&request_id, "request_id"), 0);
  assert_int_equal(run_main(requests, NULL), 0);
  /* The main task's sets stayed in the main task. */
  assert_int_equal(corio_contextvar_get(request_id, &v), CORIO_ENOVALUE);
  corio_contextvar_free(request_id);
  corio_test_assert_no_leak(before);
}

/* A task's own context can be held past the task's end. */
static int hold_context(void *arg, void **result) {
  (void)result;
  assert_int_equal(corio_contextvar_set(request_id, CORIO_PTR(8), NULL), 0);
  *(corio_context **)arg = corio_context_ref(corio_context_current());
  return 0;
}

static void test_context_outlives_task(void **state) {
  corio_context *held = NULL;
  void *v;
  (void)state;

  assert_int_equal(corio_contextvar_create(&request_id, "request_id"), 0);
  assert_int_equal(run_main(hold_context, &held), 0);
  assert_int_equal(corio_context_get(held, request_id, &v), 0);
  assert_int_equal(CORIO_INT(v), 8);
  corio_context_unref(held);
  corio_contextvar_free(request_id);
}

/* A task suspended inside corio_context_run comes back in that context. */
struct run_across {
  corio_context *ctx;
  int rc;
  void *seen;
};

static int sleep_in_context(void *arg) {
  struct run_across *ra = arg;

  ra->rc = corio_sleep(0);
  ra->seen = corio_contextvar_get_or(request_id, NULL);
  assert_ptr_equal(corio_context_current(), ra->ctx);
  return corio_contextvar_set(request_id, CORIO_PTR(2), NULL);
}

static int run_context_in_task(void *arg, void **result) {
  struct run_across *ra = arg;
  void *v;

  (void)result;
  assert_int_equal(corio_contextvar_set(request_id, CORIO_PTR(1), NULL), 0);
  assert_int_equal(corio_context_create(&ra->ctx), 0);
  assert_int_equal(corio_context_run(ra->ctx, sleep_in_context, ra), 0);
  assert_int_equal(ra->rc, 0);
  assert_null(ra->seen);
  assert_int_equal(corio_context_get(ra->ctx, request_id, &v), 0);
  assert_int_equal(CORIO_INT(v), 2);
  /* Back in the task's own context, untouched. */
  assert_int_equal(CORIO_INT(corio_contextvar_get_or(request_id, NULL)), 1);
  assert_int_equal(corio_sleep(0), 0);
  assert_int_equal(CORIO_INT(corio_contextvar_get_or(request_id, NULL)), 1);
  corio_context_unref(ra->ctx);
  return 0;
}

static void test_suspend_inside_context_run(void **state) {
  struct run_across ra = {0};
  (void)state;

  assert_int_equal(corio_contextvar_create(&request_id, "request_id"), 0);
  assert_int_equal(run_main(run_context_in_task, &ra), 0);
  corio_contextvar_free(request_id);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_variable_basics),
      cmocka_unit_test(test_copy_and_run),
      cmocka_unit_test(test_token_from_another_context),
      cmocka_unit_test(test_tasks_have_their_own_copies),
      cmocka_unit_test(test_context_outlives_task),
      cmocka_unit_test(test_suspend_inside_context_run),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
