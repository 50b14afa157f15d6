/* Talking to a child through its stdin and stdout: the C twin of seed
 * 001's fourth "more examples" example of section 5.2.
 *
 *   async def interact_with_subprocess():
 *       # a Python interpreter as the child
 *       process = await asyncio.create_subprocess_exec(
 *           'python3', '-i',                  # interactive mode
 *           stdin=asyncio.subprocess.PIPE,
 *           stdout=asyncio.subprocess.PIPE,
 *           stderr=asyncio.subprocess.PIPE)
 *       # send the interpreter a command
 *       process.stdin.write(b'print("Hello from child process")\n')
 *       await process.stdin.drain()          # make sure it is sent
 *       # read the child's output
 *       stdout_line = await process.stdout.readline()
 *       print(f'[stdout] {stdout_line.decode().strip()}')
 *       # close the child's stdin and wait for it to finish
 *       process.stdin.close()
 *       await process.wait()
 *       print(f'Return code: {process.returncode}')
 *
 *   asyncio.run(interact_with_subprocess())
 *
 * The child's stdin is a write-only corio stream: corio_stream_write
 * queues the bytes and corio_stream_drain waits until the pipe took them;
 * corio_stream_close sends the interpreter its EOF, so it leaves with 0.
 * The interpreter in -i mode runs each statement as it arrives and
 * flushes what it printed, so each readline gets its answer at once. One
 * exchange more than the seed's, two statements in one write, shows that
 * the interpreter runs each as it comes and keeps its variables. Its stderr
 * (the banner and the ">>> " prompts) is piped and left unread, as in the seed:
 * it is small enough for the pipe. */
#include <stdio.h>
#include <string.h>

#include <corio/net.h>
#include <corio/proc.h>

#include "example.h"
#include "subprocess.h"

#define EXAMPLE "subprocess_interact"

/* process.stdin.write(command); await process.stdin.drain();
 * stdout_line = await process.stdout.readline(); then prints it. */
static int exchange(corio_process *process, const char *command) {
  char line[256];
  size_t n;
  int rc;

  printf("# write(b'");
  for (const char *c = command; *c; c++)
    if (*c == '\n')
      fputs("\\n", stdout);
    else
      putchar(*c);
  printf("') and drain()\n");
  rc = corio_stream_write(corio_process_stdin(process), command,
                          strlen(command));
  if (rc < 0)
    return example_proc_fail(EXAMPLE, "corio_stream_write", rc);
  rc = corio_stream_drain(corio_process_stdin(process));
  if (rc < 0)
    return example_proc_fail(EXAMPLE, "corio_stream_drain", rc);
  rc = corio_stream_readline(corio_process_stdout(process), line, sizeof line,
                             &n);
  if (rc < 0)
    return example_proc_fail(EXAMPLE, "corio_stream_readline", rc);
  printf("[stdout] ");
  example_print_stripped(line, n);
  printf("\n");
  return 0;
}

static int interact(corio_process *process) {
  int rc, code;

  rc = exchange(process, "print(\"Hello from child process\")\n");
  if (rc == 0)
    rc = exchange(process, "x = 6 * 7\nprint(x)\n");
  if (rc < 0)
    return rc;
  printf("# stdin.close() and wait()\n");
  rc = corio_stream_close(corio_process_stdin(process));
  if (rc < 0)
    return example_proc_fail(EXAMPLE, "corio_stream_close", rc);
  rc = corio_process_wait(process, &code);
  if (rc < 0)
    return example_proc_fail(EXAMPLE, "corio_process_wait", rc);
  printf("Return code: %d\n", code);
  return 0;
}

static int interact_main(void *arg, void **result) {
  const char *const argv[] = {"python3", "-i", NULL};
  corio_proc_options options = {0};
  corio_process *process;
  int rc;

  (void)arg;
  (void)result;
  options.stdio[0].mode = CORIO_PROC_PIPE;
  options.stdio[1].mode = CORIO_PROC_PIPE;
  options.stdio[2].mode = CORIO_PROC_PIPE;
  rc = corio_create_subprocess_exec(argv, &options, &process);
  if (rc < 0)
    return example_proc_fail(EXAMPLE, "corio_create_subprocess_exec", rc);
  rc = interact(process);
  if (rc < 0) {
    /* Whatever went wrong, the interpreter is not left waiting for more. */
    corio_process_kill(process);
    corio_process_wait(process, NULL);
  }
  corio_process_unref(process);
  return rc;
}

int example_subprocess_interact(void) {
  printf("# create_subprocess_exec('python3', '-i', stdin=PIPE, "
         "stdout=PIPE, stderr=PIPE)\n");
  return example_run(EXAMPLE, interact_main,
                     ">>> asyncio.run(interact_with_subprocess())");
}

#ifdef EXAMPLE_STANDALONE
EXAMPLE_MAIN(example_subprocess_interact)
#endif
