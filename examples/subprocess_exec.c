/* Running a program and collecting its output: the C twin of seed 001's
 * create_subprocess_exec example (section 5.1).
 *
 *   async def run_subprocess():
 *       # start a child running "ls -l ./test"
 *       process = await asyncio.create_subprocess_exec(
 *           'ls', '-l', './test',
 *           stdout=asyncio.subprocess.PIPE,
 *           stderr=asyncio.subprocess.PIPE)
 *       stdout, stderr = await process.communicate()
 *       print(f'[stdout]\n{stdout.decode()}')
 *       if stderr:
 *           print(f'[stderr]\n{stderr.decode()}')
 *       print(f'Return code: {process.returncode}')
 *
 *   asyncio.run(run_subprocess())
 *
 * corio_create_subprocess_exec runs argv[0], found in PATH, with no shell
 * in between; CORIO_PROC_PIPE for stdout and stderr makes each a corio
 * stream, and corio_process_communicate reads both to their end at once
 * (neither can fill its pipe and stall the child while the other is
 * read), then waits for the exit and gives the return code.
 *
 * The seed lists ./test in its own working directory, and `ls -l` prints
 * owners and dates. So that the output is the same on every run, the
 * program makes the directory itself (mkdtemp under /tmp, with a test/
 * inside holding notes.txt and test.py), runs the child there (the cwd
 * option), and lists names only, without -l. A second run lists
 * ./missing, which is not there: ls says so on stderr and exits with 2.
 * Both children get LC_ALL=C added to the environment they inherit
 * (CORIO_PROC_ENV_EXTEND), so that ls sorts and speaks the same in any
 * locale (the seed's own output is in Chinese: "总用量 0"). */
#include <stdio.h>

#include <corio/proc.h>

#include "example.h"
#include "subprocess.h"

#define EXAMPLE "subprocess_exec"

static const char *const names[] = {"test/", "test/notes.txt", "test/test.py"};
static example_dir dir;

/* ls <path> in the directory, with stdout and stderr piped. */
static int run_subprocess(const char *path) {
  const char *const argv[] = {"ls", path, NULL};
  const char *const env[] = {"LC_ALL=C", NULL};
  corio_proc_options options = {0};
  corio_proc_output out = {0}, err = {0};
  corio_process *process;
  int rc, code;

  options.stdio[1].mode = CORIO_PROC_PIPE;
  options.stdio[2].mode = CORIO_PROC_PIPE;
  options.cwd = dir.path;
  options.env = env;
  options.flags = CORIO_PROC_ENV_EXTEND;
  rc = corio_create_subprocess_exec(argv, &options, &process);
  if (rc < 0)
    return example_proc_fail(EXAMPLE, "corio_create_subprocess_exec", rc);
  rc = corio_process_communicate(process, NULL, 0, &out, &err, &code);
  corio_process_unref(process);
  if (rc == 0) {
    printf("[stdout]\n%.*s\n", (int)out.len, out.len ? out.data : "");
    if (err.len > 0)
      printf("[stderr]\n%.*s\n", (int)err.len, err.data);
    printf("Return code: %d\n", code);
  }
  corio_proc_output_free(&out);
  corio_proc_output_free(&err);
  return rc < 0 ? example_proc_fail(EXAMPLE, "corio_process_communicate", rc)
                : 0;
}

static int list_test(void *arg, void **result) {
  (void)arg;
  (void)result;
  return run_subprocess("./test");
}

static int list_missing(void *arg, void **result) {
  (void)arg;
  (void)result;
  return run_subprocess("./missing");
}

int example_subprocess_exec(void) {
  static const struct {
    corio_task_fn main;
    const char *title;
  } parts[] = {
      {list_test, "# create_subprocess_exec('ls', './test', stdout=PIPE, "
                  "stderr=PIPE)\n"
                  "# in a new directory holding test/notes.txt and "
                  "test/test.py"},
      {list_missing, "# create_subprocess_exec('ls', './missing', "
                     "stdout=PIPE, stderr=PIPE)\n"
                     "# in the same directory, which has no ./missing"},
  };
  int rc = example_dir_create(&dir, names, sizeof names / sizeof names[0]);
  int failed = 0;

  if (rc < 0)
    return example_fail(EXAMPLE, "creating the directory", rc);
  for (size_t i = 0; i < sizeof parts / sizeof parts[0] && !failed; i++) {
    printf("%s\n", parts[i].title);
    failed = example_run(EXAMPLE, parts[i].main,
                         ">>> asyncio.run(run_subprocess())");
  }
  example_dir_remove(&dir);
  return failed;
}

#ifdef EXAMPLE_STANDALONE
EXAMPLE_MAIN(example_subprocess_exec)
#endif
