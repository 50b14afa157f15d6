/* A shell pipeline in a child: the C twin of seed 001's third "more
 * examples" example of section 5.2 (create_subprocess_shell with a pipe).
 *
 *   async def run_shell_command():
 *       # a shell command with a pipe
 *       process = await asyncio.create_subprocess_shell(
 *           'echo "Hello, World!" | grep World',
 *           stdout=asyncio.subprocess.PIPE,
 *           stderr=asyncio.subprocess.PIPE)
 *       stdout, stderr = await process.communicate()
 *       print(f'[stdout] {stdout.decode().strip()}')
 *       if stderr:
 *           print(f'[stderr] {stderr.decode().strip()}')
 *       print(f'Return code: {process.returncode}')
 *
 *   asyncio.run(run_shell_command())
 *
 * corio_create_subprocess_shell runs /bin/sh -c cmd, so the command line
 * is the shell's to parse: the pipe, the redirection, `;`. The same
 * function then runs three more commands, which show what the seed's
 * output leaves out:
 * - grep finding nothing: no output, and the pipeline's status is its last
 *   command's, 1;
 * - the line sent to stderr, and an exit status of the shell's own;
 * - a shell killed by a signal (it sends itself SIGTERM): the return code
 *   is minus the signal's number, as asyncio's, and what it wrote before
 *   is still read to the end. */
#include <stdio.h>

#include <corio/proc.h>

#include "example.h"
#include "subprocess.h"

#define EXAMPLE "subprocess_shell"

static int run_shell_command(const char *cmd) {
  corio_proc_options options = {0};
  corio_proc_output out = {0}, err = {0};
  corio_process *process;
  int rc, code;

  options.stdio[1].mode = CORIO_PROC_PIPE;
  options.stdio[2].mode = CORIO_PROC_PIPE;
  rc = corio_create_subprocess_shell(cmd, &options, &process);
  if (rc < 0)
    return example_proc_fail(EXAMPLE, "corio_create_subprocess_shell", rc);
  rc = corio_process_communicate(process, NULL, 0, &out, &err, &code);
  corio_process_unref(process);
  if (rc == 0) {
    printf("[stdout] ");
    example_print_stripped(out.data, out.len);
    printf("\n");
    if (err.len > 0) {
      printf("[stderr] ");
      example_print_stripped(err.data, err.len);
      printf("\n");
    }
    printf("Return code: %d\n", code);
  }
  corio_proc_output_free(&out);
  corio_proc_output_free(&err);
  return rc < 0 ? example_proc_fail(EXAMPLE, "corio_process_communicate", rc)
                : 0;
}

static const char *const commands[] = {
    "echo \"Hello, World!\" | grep World",
    "echo \"Hello, World!\" | grep Python",
    "echo \"Hello, World!\" | grep World >&2; exit 3",
    "echo \"Hello, World!\"; kill -TERM $$",
};

static const char *current; /* the command shell_main runs */

static int shell_main(void *arg, void **result) {
  (void)arg;
  (void)result;
  return run_shell_command(current);
}

int example_subprocess_shell(void) {
  size_t i;

  for (i = 0; i < sizeof commands / sizeof commands[0]; i++) {
    current = commands[i];
    printf("# create_subprocess_shell('%s', stdout=PIPE, stderr=PIPE)\n",
           current);
    if (example_run(EXAMPLE, shell_main,
                    ">>> asyncio.run(run_shell_command())"))
      return 1;
  }
  return 0;
}

#ifdef EXAMPLE_STANDALONE
EXAMPLE_MAIN(example_subprocess_shell)
#endif
