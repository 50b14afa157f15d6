/* Task names and the current task: the C twin of seed 001's named task
 * (section 2.2.2), with current_task() (2.2.12) and get_name()/set_name()
 * (2.2.13).
 *
 *   async def my_named_task():
 *       print(f"current_task(): {asyncio.current_task().get_name()}")
 *       await asyncio.sleep(1)
 *       print("Named Task completed")
 *
 *   async def main():
 *       task = asyncio.create_task(my_named_task(), name="MyUniqueTask")
 *       print(f"Task Name: {task.get_name()}")
 *       await task
 *
 *   asyncio.run(main())
 *
 * corio_spawn_ex() takes the name in its options; corio_task_name() and
 * corio_task_set_name() are get_name() and set_name(), and
 * corio_current_task() is current_task(), NULL (None) outside a task.
 *
 * A task without a name is called "Task-" and a number from a counter of
 * the whole process, so the numbers depend on how many tasks ran before
 * (the demo runs other examples first). The output shows them as
 * Task-<n>, with <n+1> for the next number. */
#include <string.h>

#include "example.h"

#define EXAMPLE "named_task"

/* The number of a default name "Task-<number>", or 0 if name is not
 * one. */
static unsigned long long default_number(const char *name) {
  unsigned long long n = 0;
  const char *p;

  if (strncmp(name, "Task-", 5) != 0 || name[5] == '\0')
    return 0;
  for (p = name + 5; *p; p++) {
    if (*p < '0' || *p > '9')
      return 0;
    n = n * 10 + (unsigned long long)(*p - '0');
  }
  return n;
}

/* Prints name, a default one as "Task-<n>" (base 0) or relative to base,
 * the number of an earlier default name. */
static void print_name(const char *label, const char *name,
                       unsigned long long base) {
  unsigned long long n = default_number(name);

  if (n == 0)
    printf("%s%s\n", label, name);
  else if (base == 0 || n == base)
    printf("%sTask-<n>\n", label);
  else if (n > base)
    printf("%sTask-<n+%llu>\n", label, n - base);
  else
    printf("%s%s (numbered before Task-%llu)\n", label, name, base);
}

static int my_named_task(void *arg, void **result) {
  int rc;

  (void)arg;
  (void)result;
  print_name("current_task(): ", corio_task_name(corio_current_task()), 0);
  rc = corio_sleep(EXAMPLE_UNIT);
  if (rc < 0)
    return example_task_fail(EXAMPLE, "corio_sleep", rc);
  puts("Named Task completed");
  return 0;
}

/* A task that names itself, as asyncio.current_task().set_name(name). */
static int worker(void *arg, void **result) {
  const char *name = arg;
  int rc;

  (void)result;
  printf("worker: current_task().set_name(\"%s\")\n", name);
  rc = corio_task_set_name(corio_current_task(), name);
  return rc < 0 ? example_task_fail(EXAMPLE, "corio_task_set_name", rc) : 0;
}

static int named(void) {
  corio_task *task;
  int rc;

  puts(">>> task = asyncio.create_task(my_named_task(), "
       "name=\"MyUniqueTask\")");
  rc = corio_spawn_ex(&task, my_named_task, NULL,
                      &(corio_spawn_options){.name = "MyUniqueTask"});
  if (rc < 0)
    return example_task_fail(EXAMPLE, "corio_spawn_ex", rc);
  puts(">>> print(f\"Task Name: {task.get_name()}\")");
  printf("Task Name: %s\n", corio_task_name(task));
  puts(">>> await task");
  rc = corio_await(task, NULL);
  if (rc != 0) {
    corio_task_unref(task);
    return example_task_unexpected(EXAMPLE, "await task", rc, 0);
  }
  /* A name can be changed at any time, also once the task is done. */
  puts(">>> task.set_name(\"Renamed\"); task.get_name()");
  rc = corio_task_set_name(task, "Renamed");
  if (rc == 0)
    puts(corio_task_name(task));
  corio_task_unref(task);
  return rc < 0 ? example_task_fail(EXAMPLE, "corio_task_set_name", rc) : 0;
}

/* Two tasks without names, which name themselves when they run. */
static int unnamed(void) {
  corio_task *a, *b;
  unsigned long long base;
  int rc, rc_b;

  puts(">>> a = asyncio.create_task(worker(\"worker-a\"))");
  rc = corio_spawn(&a, worker, "worker-a");
  if (rc < 0)
    return example_task_fail(EXAMPLE, "corio_spawn", rc);
  puts(">>> b = asyncio.create_task(worker(\"worker-b\"))");
  rc = corio_spawn(&b, worker, "worker-b");
  if (rc < 0) {
    corio_task_unref(a);
    return example_task_fail(EXAMPLE, "corio_spawn", rc);
  }
  puts(">>> a.get_name(); b.get_name()");
  base = default_number(corio_task_name(a));
  print_name("", corio_task_name(a), 0);
  print_name("", corio_task_name(b), base);
  puts(">>> await a; await b");
  rc = corio_await(a, NULL);
  rc_b = corio_await(b, NULL);
  if (rc == 0 && rc_b == 0) {
    puts(">>> a.get_name(); b.get_name()");
    puts(corio_task_name(a));
    puts(corio_task_name(b));
  }
  corio_task_unref(a);
  corio_task_unref(b);
  if (rc != 0 || rc_b != 0)
    return example_task_unexpected(EXAMPLE, "await a; await b",
                                   rc != 0 ? rc : rc_b, 0);
  return 0;
}

static int named_main(void *arg, void **result) {
  int rc;

  (void)arg;
  (void)result;
  /* main runs as a task too, with a default name. */
  puts(">>> asyncio.current_task().get_name()  # in main");
  print_name("", corio_task_name(corio_current_task()), 0);
  rc = named();
  if (rc < 0)
    return rc;
  puts("\n# Default names, and tasks that rename themselves");
  return unnamed();
}

int example_named_task(void) {
  int rc;

  puts(">>> asyncio.current_task()  # outside any task");
  puts(corio_current_task() ? "a task!" : "None");
  puts(">>> asyncio.run(main())");
  rc = corio_run(named_main, NULL, NULL);
  return rc < 0 ? example_fail(EXAMPLE, "corio_run", rc) : 0;
}

#ifdef EXAMPLE_STANDALONE
EXAMPLE_MAIN(example_named_task)
#endif
