/* The list of live loops that debuggers walk (loop/registry.h). A loop
 * joins it when corio_loop_create succeeds and leaves it when its memory
 * is freed, so that a loop that was closed but is still referenced stays
 * visible. Adding and removing take a mutex: loops are created and freed
 * on any thread, and rarely. */
#include "loop/loop_internal.h"

/* `used`: a debugger reads it, nothing in the library may need to. */
__attribute__((used)) corio__loop_registry corio__loops = {
    .version = CORIO__LOOP_REGISTRY_VERSION,
    .lock = PTHREAD_MUTEX_INITIALIZER,
};

void corio__loop_registry_add(corio_loop *loop) {
  pthread_mutex_lock(&corio__loops.lock);
  loop->registry.prev = NULL;
  loop->registry.next = corio__loops.head;
  if (corio__loops.head)
    corio__loops.head->registry.prev = loop;
  corio__loops.head = loop;
  corio__loops.count++;
  pthread_mutex_unlock(&corio__loops.lock);
}

void corio__loop_registry_remove(corio_loop *loop) {
  pthread_mutex_lock(&corio__loops.lock);
  if (loop->registry.prev)
    loop->registry.prev->registry.next = loop->registry.next;
  else if (corio__loops.head == loop)
    corio__loops.head = loop->registry.next;
  if (loop->registry.next)
    loop->registry.next->registry.prev = loop->registry.prev;
  loop->registry.prev = loop->registry.next = NULL;
  corio__loops.count--;
  pthread_mutex_unlock(&corio__loops.lock);
}
