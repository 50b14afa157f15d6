/* Replays inputs through a harness without libFuzzer: each argument is a
 * file or a directory (every regular file in it, in name order). The
 * corpus in fuzz/corpus/<harness>/ runs this way as a ctest test in the
 * ordinary (gcc) builds. Exit status 0 once every input ran; a harness
 * that finds a fault aborts. An empty or missing corpus fails: a test
 * that replays nothing proves nothing. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

static int replay_file(const char *path) {
  FILE *f = fopen(path, "rb");
  uint8_t *data;
  long size;

  if (!f) {
    perror(path);
    return -1;
  }
  if (fseek(f, 0, SEEK_END) < 0 || (size = ftell(f)) < 0 ||
      fseek(f, 0, SEEK_SET) < 0) {
    perror(path);
    fclose(f);
    return -1;
  }
  /* An exact-size copy, so that ASan sees a read past the input's end. */
  data = malloc(size ? (size_t)size : 1);
  if (!data || fread(data, 1, (size_t)size, f) != (size_t)size) {
    fprintf(stderr, "%s: cannot read\n", path);
    free(data);
    fclose(f);
    return -1;
  }
  fclose(f);
  LLVMFuzzerTestOneInput(data, (size_t)size);
  free(data);
  return 0;
}

static int by_name(const struct dirent **a, const struct dirent **b) {
  return strcmp((*a)->d_name, (*b)->d_name);
}

static long replay_dir(const char *dir) {
  struct dirent **names;
  long count = 0;
  int n = scandir(dir, &names, NULL, by_name);

  if (n < 0) {
    perror(dir);
    return -1;
  }
  for (int i = 0; i < n; i++) {
    char path[4096];
    struct stat st;

    snprintf(path, sizeof path, "%s/%s", dir, names[i]->d_name);
    if (count >= 0 && stat(path, &st) == 0 && S_ISREG(st.st_mode))
      count = replay_file(path) < 0 ? -1 : count + 1;
    free(names[i]);
  }
  free(names);
  return count;
}

int main(int argc, char **argv) {
  long total = 0;

  for (int i = 1; i < argc; i++) {
    struct stat st;
    long n;

    if (stat(argv[i], &st) < 0) {
      perror(argv[i]);
      return 1;
    }
    n = S_ISDIR(st.st_mode) ? replay_dir(argv[i]) : replay_file(argv[i]) + 1;
    if (n < 0)
      return 1;
    total += n;
  }
  printf("replayed %ld inputs\n", total);
  return total > 0 ? 0 : 1;
}
