/* Every live loop of the process in one list, for debuggers: gdb (see
 * tools/gdb/corio_gdb.py) walks it from the global `corio__loops` by
 * reading memory only, so it works on a core dump as well as on a live
 * process, and never runs code in the program. */
#ifndef CORIO_LOOP_REGISTRY_H
#define CORIO_LOOP_REGISTRY_H

#include <pthread.h>
#include <stdint.h>

#include "corio/loop.h"

/* The links of a loop in the list (struct corio_loop.registry). */
typedef struct corio__loop_link {
  corio_loop *prev, *next;
} corio__loop_link;

/* Bumped when a debugger must read the list (or what it leads to)
 * differently. */
#define CORIO__LOOP_REGISTRY_VERSION 1

typedef struct corio__loop_registry {
  uint32_t version; /* CORIO__LOOP_REGISTRY_VERSION */
  uint32_t count;   /* loops in the list */
  corio_loop *head; /* the newest loop first */
  pthread_mutex_t lock;
} corio__loop_registry;

/* The list: only registry.c changes it, under its lock. */
extern corio__loop_registry corio__loops;

/* A new loop joins the list (once it is fully created), and leaves it
 * when its memory goes (before the layers' state is freed). */
void corio__loop_registry_add(corio_loop *loop);
void corio__loop_registry_remove(corio_loop *loop);

#endif
