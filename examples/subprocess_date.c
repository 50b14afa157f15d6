/* Reading a child's output line by line: the C twin of seed 001's first
 * "more examples" example of section 5.2 (a Process and its stdout
 * StreamReader).
 *
 *   async def get_date():
 *       code = 'import datetime; print(datetime.datetime.now())'
 *       # a child whose stdout goes into a pipe
 *       proc = await asyncio.create_subprocess_exec(
 *           sys.executable, '-c', code,
 *           stdout=asyncio.subprocess.PIPE)
 *       data = await proc.stdout.readline()   # one line of output
 *       line = data.decode('ascii').rstrip()
 *       await proc.wait()                     # the child's exit
 *       return line
 *
 *   date = asyncio.run(get_date())
 *   print(f"Current date: {date}")
 *
 * The child is date(1) with the format of Python's datetime, to the
 * second: `date '+%Y-%m-%d %H:%M:%S'`. Its stdout is a corio stream
 * (corio_process_stdout), read with corio_stream_readline, then
 * corio_process_wait waits for the exit.
 *
 * The date changes from run to run, so it is printed as a placeholder;
 * the program checks the real one: the form YYYY-MM-DD HH:MM:SS, and a
 * time, read in the local time zone the child shares, between this
 * process's clock before the child started and after it exited (one
 * second either side, for the rounding to whole seconds). */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <corio/net.h>
#include <corio/proc.h>

#include "example.h"
#include "subprocess.h"

#define EXAMPLE "subprocess_date"

static char date[64]; /* what get_date returns */

static int get_date(void *arg, void **result) {
  const char *const argv[] = {"date", "+%Y-%m-%d %H:%M:%S", NULL};
  corio_proc_options options = {0};
  corio_process *proc;
  size_t n;
  int rc, code;

  (void)arg;
  (void)result;
  options.stdio[1].mode = CORIO_PROC_PIPE;
  rc = corio_create_subprocess_exec(argv, &options, &proc);
  if (rc < 0)
    return example_proc_fail(EXAMPLE, "corio_create_subprocess_exec", rc);
  rc = corio_stream_readline(corio_process_stdout(proc), date, sizeof date - 1,
                             &n);
  if (rc < 0) {
    corio_process_unref(proc);
    return example_proc_fail(EXAMPLE, "corio_stream_readline", rc);
  }
  /* .rstrip() */
  while (n > 0 && (date[n - 1] == '\n' || date[n - 1] == ' '))
    n--;
  date[n] = '\0';
  rc = corio_process_wait(proc, &code);
  corio_process_unref(proc);
  if (rc < 0)
    return example_proc_fail(EXAMPLE, "corio_process_wait", rc);
  if (code != 0)
    return example_task_unexpected(EXAMPLE, "date's return code", code, 0);
  return 0;
}

/* Whether text is a local time YYYY-MM-DD HH:MM:SS within a second of
 * [before, after]. */
static int is_date_between(const char *text, time_t before, time_t after) {
  struct tm tm;
  time_t t;
  int used = -1;

  memset(&tm, 0, sizeof tm);
  if (strlen(text) != 19 ||
      sscanf(text, "%4d-%2d-%2d %2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon,
             &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &used) != 6 ||
      used != 19 || text[4] != '-' || text[7] != '-' || text[10] != ' ' ||
      text[13] != ':' || text[16] != ':')
    return 0;
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  tm.tm_isdst = -1;
  t = mktime(&tm);
  return t != (time_t)-1 && t >= before - 1 && t <= after + 1;
}

int example_subprocess_date(void) {
  time_t before, after;

  before = time(NULL);
  if (example_run(EXAMPLE, get_date, ">>> date = asyncio.run(get_date())"))
    return 1;
  after = time(NULL);
  printf(">>> print(f\"Current date: {date}\")\n");
  if (!is_date_between(date, before, after)) {
    fprintf(stderr, "%s: the child's date \"%s\" is not now\n", EXAMPLE, date);
    return 1;
  }
  printf("Current date: <YYYY-MM-DD HH:MM:SS> (checked: the child's clock "
         "is ours)\n");
  return 0;
}

#ifdef EXAMPLE_STANDALONE
EXAMPLE_MAIN(example_subprocess_date)
#endif
