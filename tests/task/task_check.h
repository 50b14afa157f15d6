/* Checks inside tasks. A cmocka assertion failing inside a task would
 * longjmp out of its coroutine and break the tests after it, so tasks
 * record the first failed check and the test asserts after corio_run has
 * returned. */
#ifndef CORIO_TASK_CHECK_H
#define CORIO_TASK_CHECK_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "support.h"

static struct {
  const char *file;
  int line;
  char text[320];
} failed;

static inline void check_int(long long got, long long want, const char *what,
                             const char *file, int line) {
  if (got == want || failed.line)
    return;
  failed.file = file;
  failed.line = line;
  snprintf(failed.text, sizeof failed.text, "%s is %lld, expected %lld", what,
           got, want);
}

static inline void check_str(const char *got, const char *want,
                             const char *what, const char *file, int line) {
  if (strcmp(got, want) == 0 || failed.line)
    return;
  failed.file = file;
  failed.line = line;
  snprintf(failed.text, sizeof failed.text,
           "%.60s is \"%.120s\", expected \"%.120s\"", what, got, want);
}

#define CHECK_EQ(got, want)                                                    \
  check_int((long long)(got), (long long)(want), #got, __FILE__, __LINE__)
#define CHECK_PTR(got, want)                                                   \
  check_int((long long)(intptr_t)(got), (long long)(intptr_t)(want), #got,     \
            __FILE__, __LINE__)
#define CHECK_TRUE(cond) check_int(!!(cond), 1, #cond, __FILE__, __LINE__)
#define CHECK_STR(got, want) check_str((got), (want), #got, __FILE__, __LINE__)

static int reset_checks(void **state) {
  (void)state;
  failed.line = 0;
  failed.text[0] = 0;
  return 0;
}

static void assert_checks_passed(void) {
  if (failed.line) {
    print_error("%s:%d: %s\n", failed.file, failed.line, failed.text);
    fail();
  }
}

#endif
