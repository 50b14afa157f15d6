/* Names of code addresses, for backtraces and creation sites: the
 * function (libunwind reads the ELF symbol tables, static functions
 * included; without it, dladdr knows only exported names) and the file
 * it is in. */
#ifndef CORIO_CORO_SYMBOL_H
#define CORIO_CORO_SYMBOL_H

#include <stddef.h>
#include <stdint.h>

typedef struct corio__symbol {
  char name[128];     /* the function; empty if not known */
  uintptr_t offset;   /* of pc in it */
  const char *object; /* the program's or library's path, or NULL */
} corio__symbol;

/* Names the function holding pc. return_address: pc follows a call, so
 * it is looked up at pc - 1 (a call that ends a function still names that
 * function). Returns 1 if the function was named, else 0. */
int corio__symbolize(uintptr_t pc, int return_address, corio__symbol *out);

/* "name+0x1a (file)", "0x5581c0a1b2c3 (file)" or "0x5581c0a1b2c3" into buf
 * (file is the path's last part); returns buf. */
char *corio__symbol_format(uintptr_t pc, int return_address, char *buf,
                           size_t len);

/* The same for a symbol found already. */
char *corio__symbol_describe(const corio__symbol *sym, uintptr_t pc, char *buf,
                             size_t len);

/* A path's last part ("libc.so.6" for "/lib/x86_64-linux-gnu/libc.so.6"). */
const char *corio__symbol_file(const char *path);

#endif
