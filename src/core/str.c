/* Owned strings: every one is allocated with strlen + 1 bytes, so that the
 * free can pass the same size back without storing it. */
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/str.h"

char *corio__strdup(const char *s) {
  size_t len;
  char *copy;

  if (!s)
    return NULL;
  len = strlen(s) + 1;
  copy = corio__alloc(len);
  if (copy)
    memcpy(copy, s, len);
  return copy;
}

void corio__strfree_present(char *s) { corio__free(s, strlen(s) + 1); }

char *corio__vformat(const char *fmt, va_list ap) {
  va_list again;
  size_t size;
  char *out, *cut;
  int len;

  if (!fmt)
    return NULL;
  va_copy(again, ap);
  len = vsnprintf(NULL, 0, fmt, again);
  va_end(again);
  if (len < 0)
    return NULL;
  size = (size_t)len + 1;
  out = corio__alloc(size);
  if (!out)
    return NULL;
  vsnprintf(out, size, fmt, ap);
  if (strlen(out) + 1 == size)
    return out;
  /* A NUL inside: keep what comes before it, allocated to its length. */
  cut = corio__strdup(out);
  corio__free(out, size);
  return cut;
}

char *corio__format(const char *fmt, ...) {
  va_list ap;
  char *out;

  va_start(ap, fmt);
  out = corio__vformat(fmt, ap);
  va_end(ap);
  return out;
}

void corio__appendf(char *buf, size_t len, size_t *used, const char *fmt, ...) {
  va_list ap;
  int n;

  if (*used + 1 >= len)
    return;
  va_start(ap, fmt);
  n = vsnprintf(buf + *used, len - *used, fmt, ap);
  va_end(ap);
  if (n < 0)
    return;
  *used = (size_t)n < len - *used ? *used + (size_t)n : len - 1;
}
