/* Names of code addresses: libunwind's (the symbol tables) when it is
 * loaded, else dladdr's (exported names only: a program needs -rdynamic
 * for its own functions to be named). */
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

#include "coro/libunwind.h"
#include "coro/symbol.h"

int corio__symbolize(uintptr_t pc, int return_address, corio__symbol *out) {
  uintptr_t at = return_address && pc > 0 ? pc - 1 : pc;
  Dl_info info;

  memset(out, 0, sizeof *out);
  if (pc == 0)
    return 0;
  if (dladdr((void *)at, &info) && info.dli_fname && info.dli_fname[0])
    out->object = info.dli_fname;
  else
    memset(&info, 0, sizeof info);
#if CORIO_HAVE_LIBUNWIND
  {
    uintptr_t offset;

    if (corio__libunwind_proc_name(at, out->name, sizeof out->name, &offset) ==
            0 &&
        out->name[0]) {
      out->offset = offset + (pc - at);
      return 1;
    }
  }
#endif
  if (info.dli_sname && info.dli_saddr) {
    snprintf(out->name, sizeof out->name, "%s", info.dli_sname);
    out->offset = pc - (uintptr_t)info.dli_saddr;
    return 1;
  }
  return 0;
}

static const char *last_part(const char *path) {
  const char *slash = strrchr(path, '/');

  return slash ? slash + 1 : path;
}

char *corio__symbol_format(uintptr_t pc, int return_address, char *buf,
                           size_t len) {
  corio__symbol sym;
  int named = corio__symbolize(pc, return_address, &sym);
  int n;

  if (len == 0)
    return buf;
  if (named)
    n = snprintf(buf, len, "%s+0x%lx", sym.name, (unsigned long)sym.offset);
  else
    n = snprintf(buf, len, "0x%lx", (unsigned long)pc);
  if (sym.object && n >= 0 && (size_t)n < len)
    snprintf(buf + n, len - (size_t)n, " (%s)", last_part(sym.object));
  return buf;
}
