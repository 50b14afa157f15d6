/* Helpers of the subprocess examples (subprocess_*.c): reporting a failed
 * call with the message corio attaches to it, printing what a child wrote
 * the way the seeds' Python does, and a temporary directory with known
 * files for `ls` to list, so that the listing is the same on every run. */
#ifndef CORIO_EXAMPLE_SUBPROCESS_H
#define CORIO_EXAMPLE_SUBPROCESS_H

#include <ctype.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <corio/proc.h>
#include <corio/task.h>

#include "example.h"

/* example_task_fail, with the message corio attached to the failure
 * (which program could not be run, and why) when there is one. */
static inline int example_proc_fail(const char *example, const char *call,
                                    int rc) {
  const char *message = corio_fail_message(rc);

  if (message)
    fprintf(stderr, "%s: %s: %s\n", example, call, message);
  return example_task_fail(example, call, rc);
}

/* Prints len bytes of data without the whitespace at either end, as
 * Python's bytes.decode().strip() leaves them. */
static inline void example_print_stripped(const char *data, size_t len) {
  while (len > 0 && isspace((unsigned char)data[0])) {
    data++;
    len--;
  }
  while (len > 0 && isspace((unsigned char)data[len - 1]))
    len--;
  fwrite(data, 1, len, stdout);
}

/* ---- a directory to list ---------------------------------------------------
 * mkdtemp under /tmp, holding the files of `names` (empty; a name ending
 * in '/' is a directory, which may hold the names after it, "dir/file").
 * The examples run `ls` in it (corio_proc_options.cwd) and remove it all
 * afterwards. */
#define EXAMPLE_DIR_MAX 8

typedef struct example_dir {
  char path[64];
  const char *names[EXAMPLE_DIR_MAX];
  size_t n;
} example_dir;

static inline int example_dir_join(char *buf, size_t cap, const char *dir,
                                   const char *name) {
  int n = snprintf(buf, cap, "%s/%s", dir, name);

  return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

/* Removes what example_dir_create made (the names in reverse, then the
 * directory); harmless on a directory that was not created. */
static inline void example_dir_remove(example_dir *d) {
  char path[160];

  if (d->path[0] == '\0')
    return;
  while (d->n > 0) {
    const char *name = d->names[--d->n];
    size_t len = strlen(name);

    if (example_dir_join(path, sizeof path, d->path, name) < 0)
      continue;
    if (len > 0 && name[len - 1] == '/')
      rmdir(path);
    else
      unlink(path);
  }
  rmdir(d->path);
  d->path[0] = '\0';
}

/* Creates the directory and its names (at most EXAMPLE_DIR_MAX). Returns
 * 0, or a negative errno with nothing left behind. */
static inline int example_dir_create(example_dir *d, const char *const *names,
                                     size_t n) {
  char path[160];
  size_t i;

  d->n = 0;
  if (n > EXAMPLE_DIR_MAX)
    return -EINVAL;
  strcpy(d->path, "/tmp/corio-subprocess-XXXXXX");
  if (!mkdtemp(d->path)) {
    d->path[0] = '\0';
    return -errno;
  }
  for (i = 0; i < n; i++) {
    size_t len = strlen(names[i]);
    int rc = example_dir_join(path, sizeof path, d->path, names[i]);

    if (rc == 0 && len > 0 && names[i][len - 1] == '/') {
      if (mkdir(path, 0700) < 0)
        rc = -errno;
    } else if (rc == 0) {
      int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);

      if (fd < 0)
        rc = -errno;
      else
        close(fd);
    }
    if (rc < 0) {
      example_dir_remove(d);
      return rc;
    }
    d->names[d->n++] = names[i];
  }
  return 0;
}

#endif
