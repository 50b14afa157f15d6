/* Names of code addresses: libunwind's (the symbol tables) when it is
 * loaded, else dladdr's (exported names only: a program needs -rdynamic
 * for its own functions to be named). */
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

#include "core/str.h"
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

const char *corio__symbol_file(const char *path) {
  const char *slash = strrchr(path, '/');

  return slash ? slash + 1 : path;
}

char *corio__symbol_describe(const corio__symbol *sym, uintptr_t pc, char *buf,
                             size_t len) {
  size_t used = 0;

  if (len == 0)
    return buf;
  buf[0] = 0;
  if (sym->name[0])
    corio__appendf(buf, len, &used, "%s+0x%lx", sym->name,
                   (unsigned long)sym->offset);
  else
    corio__appendf(buf, len, &used, "0x%lx", (unsigned long)pc);
  if (sym->object)
    corio__appendf(buf, len, &used, " (%s)", corio__symbol_file(sym->object));
  return buf;
}

char *corio__symbol_format(uintptr_t pc, int return_address, char *buf,
                           size_t len) {
  corio__symbol sym;

  (void)corio__symbolize(pc, return_address, &sym);
  return corio__symbol_describe(&sym, pc, buf, len);
}
