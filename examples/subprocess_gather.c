/* Several children at once: the C twins of seed 001's gather of shell
 * commands (section 5) and of its fifth "more examples" example (section
 * 5.2).
 *
 *   async def run(cmd):
 *       proc = await asyncio.create_subprocess_shell(
 *           cmd,
 *           stdout=asyncio.subprocess.PIPE,
 *           stderr=asyncio.subprocess.PIPE)
 *       stdout, stderr = await proc.communicate()
 *       print(f'[{cmd!r} exited with {proc.returncode}]')
 *       if stdout:
 *           print(f'[stdout]\n{stdout.decode()}')
 *       if stderr:
 *           print(f'[stderr]\n{stderr.decode()}')
 *
 *   async def main():
 *       await asyncio.gather(
 *           run('ls ./'),
 *           run('sleep 1; echo "hello"'))
 *
 *   asyncio.run(main())
 *
 * and
 *
 *   async def run_command(cmd):
 *       process = await asyncio.create_subprocess_shell(
 *           cmd, stdout=asyncio.subprocess.PIPE,
 *           stderr=asyncio.subprocess.PIPE)
 *       stdout, stderr = await process.communicate()
 *       return (cmd, process.returncode, stdout.decode().strip(),
 *               stderr.decode().strip())
 *
 *   async def main():
 *       commands = [
 *           'echo "Hello, World!"',
 *           'sleep 1; echo "Task 1 completed"',
 *           'sleep 2; echo "Task 2 completed"']
 *       tasks = [run_command(cmd) for cmd in commands]
 *       results = await asyncio.gather(*tasks)
 *       for cmd, returncode, stdout, stderr in results:
 *           print(f'\n[Command: {cmd}]')
 *           print(f'Return code: {returncode}')
 *           print(f'[stdout] {stdout}')
 *           if stderr:
 *               print(f'[stderr] {stderr}')
 *
 * Each gather child is a task that starts its shell (which does not
 * suspend) and suspends in corio_process_communicate; the children start
 * in argument order in one loop iteration, so every shell is running
 * before any of them can be seen to finish, and the sleeps overlap: the
 * second program takes as long as its longest command, 2 units (of 50 ms,
 * the seeds' seconds scaled down as in example.h), not 3. When the first
 * command's output is in, the program counts the shells started by then:
 * all three, where awaiting one command after the other would have
 * started only one.
 *
 * The first program's `ls ./` lists a new directory with known files (the
 * seed's lists its own working directory), and its sleep is 0.2 s. Its
 * run() prints as each child is done: ls long before the sleep, but a
 * loaded machine could let the loop see both ends in one iteration, so the
 * lines take turns, in argument order (an event per turn). The second
 * program prints after gather, in argument order, as the seed's does. */
#include <stdio.h>
#include <string.h>

#include <corio/combine.h>
#include <corio/proc.h>
#include <corio/sync.h>

#include "example.h"
#include "subprocess.h"

#define EXAMPLE "subprocess_gather"

/* Starts cmd with stdout and stderr piped and collects its output. */
static int communicate(const corio_proc_options *options, const char *cmd,
                       corio_proc_output *out, corio_proc_output *err,
                       int *code) {
  corio_process *proc;
  int rc;

  rc = corio_create_subprocess_shell(cmd, options, &proc);
  if (rc < 0)
    return example_proc_fail(EXAMPLE, "corio_create_subprocess_shell", rc);
  rc = corio_process_communicate(proc, NULL, 0, out, err, code);
  corio_process_unref(proc);
  return rc < 0 ? example_proc_fail(EXAMPLE, "corio_process_communicate", rc)
                : 0;
}

/* ---- gather(run('ls ./'), run('sleep 0.2; echo "hello"')) -------------- */

static const char *const names[] = {"notes.txt", "test.py"};
static example_dir dir;

struct run {
  const char *cmd;
  corio_event *turn, *next; /* its turn to print; the next one's */
};

static corio_event turns[3];

static int run(void *arg, void **result) {
  struct run *r = arg;
  corio_proc_options options = {0};
  corio_proc_output out = {0}, err = {0};
  int rc, code;

  (void)result;
  options.stdio[1].mode = CORIO_PROC_PIPE;
  options.stdio[2].mode = CORIO_PROC_PIPE;
  options.cwd = dir.path;
  rc = communicate(&options, r->cmd, &out, &err, &code);
  if (rc == 0)
    rc = corio_event_wait(r->turn);
  if (rc == 0) {
    printf("['%s' exited with %d]\n", r->cmd, code);
    if (out.len > 0)
      printf("[stdout]\n%.*s\n", (int)out.len, out.data);
    if (err.len > 0)
      printf("[stderr]\n%.*s\n", (int)err.len, err.data);
    corio_event_set(r->next);
  }
  corio_proc_output_free(&out);
  corio_proc_output_free(&err);
  return rc;
}

static int gather_runs(void *arg, void **result) {
  static struct run runs[2] = {
      {"ls ./", &turns[0], &turns[1]},
      {"sleep 0.2; echo \"hello\"", &turns[1], &turns[2]}};
  corio_awaitable children[2];
  int i, rc;

  (void)arg;
  (void)result;
  for (i = 0; i < 3; i++)
    corio_event_init(&turns[i]);
  corio_event_set(&turns[0]);
  for (i = 0; i < 2; i++)
    children[i] = CORIO_AWAIT_FN(run, &runs[i]);
  rc = corio_gather(children, 2, NULL, 0);
  return rc < 0 ? example_task_fail(EXAMPLE, "corio_gather", rc) : 0;
}

/* ---- gather(*[run_command(cmd) for cmd in commands]) --------------------- */

struct command {
  const char *cmd;
  int code;
  corio_proc_output out, err;
};

/* The seed's sleeps of 1 and 2 s, as 1 and 2 units of 50 ms. */
static struct command commands[3] = {
    {"echo \"Hello, World!\"", 0, {0}, {0}},
    {"sleep 0.05; echo \"Task 1 completed\"", 0, {0}, {0}},
    {"sleep 0.1; echo \"Task 2 completed\"", 0, {0}, {0}},
};

static int started;  /* shells started so far */
static int finished; /* commands whose output is in */
static int started_at_first = -1;

static int run_command(void *arg, void **result) {
  struct command *c = arg;
  corio_proc_options options = {0};
  corio_process *proc;
  int rc;

  (void)result;
  options.stdio[1].mode = CORIO_PROC_PIPE;
  options.stdio[2].mode = CORIO_PROC_PIPE;
  rc = corio_create_subprocess_shell(c->cmd, &options, &proc);
  if (rc < 0)
    return example_proc_fail(EXAMPLE, "corio_create_subprocess_shell", rc);
  started++;
  rc = corio_process_communicate(proc, NULL, 0, &c->out, &c->err, &c->code);
  corio_process_unref(proc);
  if (rc < 0)
    return example_proc_fail(EXAMPLE, "corio_process_communicate", rc);
  if (finished++ == 0)
    started_at_first = started;
  return 0;
}

static int gather_commands(void *arg, void **result) {
  corio_awaitable children[3];
  int64_t start_ns;
  int i, rc;

  (void)arg;
  (void)result;
  started = finished = 0;
  start_ns = example_clock_ns();
  for (i = 0; i < 3; i++)
    children[i] = CORIO_AWAIT_FN(run_command, &commands[i]);
  rc = corio_gather(children, 3, NULL, 0);
  if (rc < 0)
    return example_task_fail(EXAMPLE, "corio_gather", rc);
  for (i = 0; i < 3; i++) {
    struct command *c = &commands[i];

    printf("\n[Command: %s]\n", c->cmd);
    printf("Return code: %d\n", c->code);
    printf("[stdout] ");
    example_print_stripped(c->out.data, c->out.len);
    printf("\n");
    if (c->err.len > 0) {
      printf("[stderr] ");
      example_print_stripped(c->err.data, c->err.len);
      printf("\n");
    }
  }
  printf("\nshells started when the first command's output was in: %d\n",
         started_at_first);
  /* The longest command sleeps 2 units: gather cannot return before. */
  printf("gather returned at t=%lld units of %d ms (the longest sleep)\n",
         example_due(EXAMPLE, start_ns, 2), (int)(EXAMPLE_UNIT_NS / 1000000));
  return 0;
}

static void free_commands(void) {
  for (int i = 0; i < 3; i++) {
    corio_proc_output_free(&commands[i].out);
    corio_proc_output_free(&commands[i].err);
    commands[i].out = commands[i].err = (corio_proc_output){0};
  }
}

int example_subprocess_gather(void) {
  int rc = example_dir_create(&dir, names, sizeof names / sizeof names[0]);
  int failed;

  if (rc < 0)
    return example_fail(EXAMPLE, "creating the directory", rc);
  failed = example_asyncio_run(
      EXAMPLE, gather_runs,
      "# await asyncio.gather(run('ls ./'), run('sleep 0.2; echo \"hello\"'))"
      "\n# in a new directory holding notes.txt and test.py");
  example_dir_remove(&dir);
  if (failed)
    return 1;
  failed = example_asyncio_run(
      EXAMPLE, gather_commands,
      "# await asyncio.gather(*[run_command(cmd) for cmd in commands])");
  free_commands();
  return failed;
}

#ifdef EXAMPLE_STANDALONE
EXAMPLE_MAIN(example_subprocess_gather)
#endif
