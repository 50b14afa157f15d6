/* libunwind, loaded at run time (see libunwind.h). */
#include "coro/libunwind.h"

#if CORIO_HAVE_LIBUNWIND
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* The names the header's macros give libunwind's local-only functions
 * (_ULx86_64_step...), as strings for dlsym. */
#define CORIO__STR(x) #x
#define CORIO__SYMBOL(x) CORIO__STR(x)

static corio__libunwind loaded;
static int available;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static int load_symbol(void *lib, const char *name, void *out) {
  void *sym = dlsym(lib, name);

  memcpy(out, &sym, sizeof sym); /* object to function pointer */
  return sym != NULL;
}

static void load(void) {
  const char *choice = getenv("CORIO_UNWIND");
  void *lib;

  if (choice && strcmp(choice, "fp") == 0)
    return;
  /* Never closed: its functions stay in use for the process's life. */
  lib = dlopen("libunwind.so.8", RTLD_NOW | RTLD_LOCAL);
  if (!lib)
    return;
  available =
      load_symbol(lib, CORIO__SYMBOL(unw_init_local), &loaded.init_local) &&
      load_symbol(lib, CORIO__SYMBOL(unw_step), &loaded.step) &&
      load_symbol(lib, CORIO__SYMBOL(unw_get_reg), &loaded.get_reg) &&
      load_symbol(lib, CORIO__SYMBOL(unw_get_proc_name), &loaded.get_proc_name);
  (void)load_symbol(lib, CORIO__SYMBOL(unw_init_local2), &loaded.init_local2);
}

const corio__libunwind *corio__libunwind_get(void) {
  pthread_once(&once, load);
  return available ? &loaded : NULL;
}

/* libunwind names the function of a cursor's frame: a cursor made from a
 * context whose only register is pc (and a harmless stack pointer) asks
 * for that address, without unwinding anything. A cursor's first frame
 * is looked up at pc - 1 (its pc is taken for a return address) unless
 * it is said to be a signal frame. */
int corio__libunwind_proc_name(uintptr_t pc, char *buf, size_t len,
                               uintptr_t *offset) {
  const corio__libunwind *u = corio__libunwind_get();
  unw_context_t uc;
  unw_cursor_t cursor;
  unw_word_t off = 0;
  int rc;

  if (!u)
    return -ENOTSUP;
  memset(&uc, 0, sizeof uc);
  if (!u->init_local2)
    pc++;
#if defined(__x86_64__)
  uc.uc_mcontext.gregs[REG_RIP] = (greg_t)pc;
  uc.uc_mcontext.gregs[REG_RSP] = (greg_t)(uintptr_t)&uc;
#elif defined(__aarch64__)
  uc.uc_mcontext.pc = pc;
  uc.uc_mcontext.regs[30] = pc;
  uc.uc_mcontext.sp = (uintptr_t)&uc;
#endif
  if (u->init_local2)
    rc = u->init_local2(&cursor, &uc, UNW_INIT_SIGNAL_FRAME);
  else
    rc = u->init_local(&cursor, &uc); /* looks up pc - 1 */
  if (rc < 0)
    return -ENOENT;
  rc = u->get_proc_name(&cursor, buf, len, &off);
  /* -UNW_ENOMEM: the name was cut to fit, which is still a name. */
  if (rc < 0 && rc != -UNW_ENOMEM)
    return -ENOENT;
  *offset = (uintptr_t)off - (u->init_local2 ? 0 : 1);
  return 0;
}
#else
/* ISO C wants a translation unit to declare something. */
typedef int corio__no_libunwind;
#endif
