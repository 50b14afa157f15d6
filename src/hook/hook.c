/* Loading libcorio_hook: the real functions are found and libcorio is
 * told the hooks exist. Under LD_PRELOAD they are on from the start
 * (CORIO_HOOK=0 keeps them off); a program that links the library turns
 * them on with corio_hook_enable, or with CORIO_HOOK=1. */
#include <stdlib.h>
#include <string.h>

#include "corio/hook.h"
#include "hook/hook_internal.h"

static int preloaded(void) {
  const char *preload = getenv("LD_PRELOAD");

  return preload && strstr(preload, "libcorio_hook") != NULL;
}

void corio__hook_load(void) {
  corio__hook_real_init();
  corio__hook_register();
}

__attribute__((constructor(101))) static void hook_constructor(void) {
  const char *env = getenv("CORIO_HOOK");

  corio__hook_load();
  if (env ? strcmp(env, "0") != 0 && env[0] != 0 : preloaded())
    (void)corio_hook_enable();
}
