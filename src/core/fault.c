#include "core/fault.h"

#include <pthread.h>

atomic_int corio__fault_armed;

static pthread_mutex_t fault_lock = PTHREAD_MUTEX_INITIALIZER;
static long fail_at[CORIO__FAULT_COUNT];
static long calls[CORIO__FAULT_COUNT];
static int fired[CORIO__FAULT_COUNT];

static int any_armed(void) {
  for (int i = 0; i < CORIO__FAULT_COUNT; i++)
    if (fail_at[i] > 0)
      return 1;
  return 0;
}

void corio__fault_arm(enum corio__fault_point point, long n) {
  pthread_mutex_lock(&fault_lock);
  fail_at[point] = n > 0 ? n : 0;
  calls[point] = 0;
  fired[point] = 0;
  atomic_store(&corio__fault_armed, any_armed());
  pthread_mutex_unlock(&fault_lock);
}

void corio__fault_disarm_all(void) {
  for (int i = 0; i < CORIO__FAULT_COUNT; i++)
    corio__fault_arm((enum corio__fault_point)i, 0);
}

long corio__fault_calls(enum corio__fault_point point) {
  long n;

  pthread_mutex_lock(&fault_lock);
  n = calls[point];
  pthread_mutex_unlock(&fault_lock);
  return n;
}

int corio__fault_fired(enum corio__fault_point point) {
  int f;

  pthread_mutex_lock(&fault_lock);
  f = fired[point];
  pthread_mutex_unlock(&fault_lock);
  return f;
}

int corio__fault_hit_slow(enum corio__fault_point point) {
  int hit = 0;

  pthread_mutex_lock(&fault_lock);
  if (fail_at[point] > 0) {
    calls[point]++;
    if (calls[point] == fail_at[point]) {
      hit = 1;
      fired[point] = 1;
    }
  }
  pthread_mutex_unlock(&fault_lock);
  return hit;
}
