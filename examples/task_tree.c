/* A program that prints its own await tree: seed 004's nested tasks, as
 * `python -m asyncio pstree` would show them.
 *
 *   async def inner():                     async def msg(text):
 *       await asyncio.sleep(1)                 await asyncio.sleep(0.1)
 *                                              print(text)
 *   async def outer():
 *       await inner()                      async def sleepy(identifier):
 *                                              for i in range(count):
 *   async def long_operation():                    await asyncio.sleep(0.1)
 *       print('long_operation started')
 *       await asyncio.sleep(3)             async def main():
 *       print('long_operation finished')       await msg('first')
 *                                              task = asyncio.ensure_future(
 *                                                  long_operation())
 *                                              ...sleepy tasks in a group,
 *                                              outer() in a task of its own
 *                                              await msg('second')
 *                                              await task
 *
 * While every task waits, main asks for the tree with corio_debug_report:
 * a task's children are the tasks it waits for (the task it awaits, its
 * task group's children), each with what it waits on. Addresses and the
 * time left of each sleep change from run to run: the writer masks them
 * ("0x...", "... s left"), so that the output can be checked. */
#include <ctype.h>
#include <string.h>

#include <corio/debug.h>
#include <corio/sync.h>

#include "example.h"

#define EXAMPLE "task_tree"

/* Exported (the program links with -rdynamic), so the tree names them
 * even where dladdr is all there is to name functions with. */
int task_tree_inner(void *arg, void **result);
int task_tree_outer(void *arg, void **result);
int task_tree_long_operation(void *arg, void **result);
int task_tree_sleepy(void *arg, void **result);
int task_tree_main(void *arg, void **result);

int task_tree_inner(void *arg, void **result) {
  (void)arg;
  (void)result;
  return corio_sleep(4 * EXAMPLE_UNIT);
}

int task_tree_outer(void *arg, void **result) {
  corio_task *inner;
  int rc;

  (void)arg;
  (void)result;
  rc = corio_spawn_ex(&inner, task_tree_inner, NULL,
                      &(corio_spawn_options){.name = "inner"});
  if (rc < 0)
    return example_task_fail(EXAMPLE, "corio_spawn_ex", rc);
  rc = corio_await(inner, NULL);
  corio_task_unref(inner);
  return rc;
}

/* The order of the lines after the tree is the seed's; on a slow machine
 * (Valgrind) the report can take longer than the sleeps, so each line
 * also waits for the one before it. */
static corio_event second_printed = CORIO_EVENT_INIT;
static corio_event long_operation_done = CORIO_EVENT_INIT;

int task_tree_long_operation(void *arg, void **result) {
  int rc;

  (void)arg;
  (void)result;
  puts("long_operation started");
  rc = corio_sleep(3 * EXAMPLE_UNIT);
  if (rc == 0)
    rc = corio_event_wait(&second_printed);
  if (rc == 0)
    puts("long_operation finished");
  corio_event_set(&long_operation_done);
  return rc;
}

int task_tree_sleepy(void *arg, void **result) {
  int rc;

  (void)result;
  for (int i = 0; i < 3; i++) {
    rc = corio_sleep(EXAMPLE_UNIT);
    if (rc < 0)
      return rc;
  }
  rc = corio_event_wait(&long_operation_done);
  if (rc < 0)
    return rc;
  printf("%s done\n", (const char *)arg);
  return 0;
}

static int msg(const char *text) {
  int rc = corio_sleep(EXAMPLE_UNIT);

  if (rc == 0)
    puts(text);
  return rc;
}

/* Prints the report with what changes from run to run masked: hex
 * numbers (the loop's address) and the seconds left of each sleep. */
static int write_masked(const char *text, size_t len, void *arg) {
  (void)arg;
  for (size_t i = 0; i < len; i++) {
    if (text[i] == '0' && i + 1 < len && text[i + 1] == 'x') {
      fputs("0x...", stdout);
      for (i += 2; i < len && isxdigit((unsigned char)text[i]); i++)
        ;
      i--;
    } else if (isdigit((unsigned char)text[i]) && i + 7 < len &&
               memchr(text + i, ' ', len - i) &&
               strncmp((const char *)memchr(text + i, ' ', len - i), " s left",
                       7) == 0) {
      fputs("...", stdout);
      while (i + 1 < len && text[i + 1] != ' ')
        i++;
    } else {
      putchar(text[i]);
    }
  }
  return 0;
}

int task_tree_main(void *arg, void **result) {
  static char names[3][16] = {"sleepy-0", "sleepy-1", "sleepy-2"};
  corio_task *long_op, *outer;
  corio_taskgroup *group;
  int rc;

  (void)arg;
  (void)result;
  (void)corio_task_set_name(corio_current_task(), "main");
  corio_event_init(&second_printed);
  corio_event_init(&long_operation_done);
  if ((rc = msg("first")) < 0)
    return example_task_fail(EXAMPLE, "corio_sleep", rc);
  rc = corio_spawn_ex(&long_op, task_tree_long_operation, NULL,
                      &(corio_spawn_options){.name = "long_operation"});
  if (rc < 0)
    return example_task_fail(EXAMPLE, "corio_spawn_ex", rc);
  rc = corio_spawn_ex(&outer, task_tree_outer, NULL,
                      &(corio_spawn_options){.name = "outer"});
  if (rc == 0)
    rc = corio_taskgroup_open(&group);
  for (int i = 0; rc == 0 && i < 3; i++)
    rc = corio_taskgroup_spawn_ex(group, NULL, task_tree_sleepy, names[i],
                                  &(corio_spawn_options){.name = names[i]});
  if (rc < 0)
    return example_task_fail(EXAMPLE, "spawning", rc);
  /* Two iterations: every task has started and waits (no timing). */
  for (int i = 0; rc == 0 && i < 2; i++)
    rc = corio_sleep(0);
  puts(">>> corio_debug_report(NULL, CORIO_REPORT_TREE, ...)");
  if (rc == 0)
    rc = corio_debug_report(NULL, CORIO_REPORT_TREE, write_masked, NULL);
  if (rc == 0)
    rc = msg("second");
  corio_event_set(&second_printed);
  rc = corio_taskgroup_close(group, rc);
  corio_taskgroup_free(group);
  if (rc == 0)
    rc = corio_await(long_op, NULL);
  if (rc == 0)
    rc = corio_await(outer, NULL);
  corio_task_unref(long_op);
  corio_task_unref(outer);
  return rc < 0 ? example_task_fail(EXAMPLE, "main", rc) : 0;
}

int example_task_tree(void) {
  return example_run(EXAMPLE, task_tree_main, ">>> asyncio.run(main())");
}

#ifdef EXAMPLE_STANDALONE
EXAMPLE_MAIN(example_task_tree)
#endif
