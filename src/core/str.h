/* Strings corio owns (error and cancellation messages, names): allocated
 * through corio's allocator and freed with exactly the size they were
 * allocated with, which size-class allocators depend on. */
#ifndef CORIO_CORE_STR_H
#define CORIO_CORE_STR_H

#include <stdarg.h>
#include <stddef.h>

/* A copy of s (NULL for NULL or out of memory). */
char *corio__strdup(const char *s);
/* printf into a new string (NULL for a NULL fmt or out of memory). The
 * result never holds a NUL before its end: a message formatted with an
 * embedded NUL ("%c", 0) is cut there, so corio__strfree frees the size
 * that was allocated. */
char *corio__vformat(const char *fmt, va_list ap)
    __attribute__((format(printf, 1, 0)));
char *corio__format(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* printf at buf + *used (buf holds len bytes, *used of them a string
 * already): *used grows by what was added, and the text is cut at len - 1
 * with its NUL kept. For lines built in parts (dumps, wait details). */
void corio__appendf(char *buf, size_t len, size_t *used, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Frees a string from the functions above (NULL does nothing: inline, as
 * most strings freed on hot paths are absent). */
void corio__strfree_present(char *s);
static inline void corio__strfree(char *s) {
  if (s)
    corio__strfree_present(s);
}

#endif
