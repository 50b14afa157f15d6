/* Event: set wakes every waiter at once; a clear that follows cannot take
 * a wake-up back. A woken waiter still touches the event when it runs, so
 * the event is in use until then. */
#include <errno.h>
#include <stdio.h>

#include "corio/sync.h"
#include "sync/waitq.h"

struct __attribute__((may_alias)) event_impl {
  sync_waitq waiters;
  uint32_t set;
  uint32_t inside; /* tasks suspended in wait, woken or not */
};

_Static_assert(sizeof(struct event_impl) <= sizeof(corio_event),
               "corio_event storage too small");

static struct event_impl *impl(corio_event *event) {
  return (struct event_impl *)(void *)event;
}

static void describe_event(const void *object, char *buf, size_t len) {
  const struct event_impl *e = object;

  snprintf(buf, len, "%s, %zu waiting", e->set ? "set" : "not set",
           corio__waitq_length(&e->waiters));
}

static const corio__wait_kind event_kind = {.name = "event",
                                            .describe = describe_event};

void corio_event_init(corio_event *event) {
  if (event)
    *event = (corio_event)CORIO_EVENT_INIT;
}

int corio_event_destroy(corio_event *event) {
  if (!event)
    return -EINVAL;
  return impl(event)->inside ? -EBUSY : 0;
}

void corio_event_set(corio_event *event) {
  if (!event || impl(event)->set)
    return;
  impl(event)->set = 1;
  corio__waitq_wake_all(&impl(event)->waiters, 0);
}

void corio_event_clear(corio_event *event) {
  if (event)
    impl(event)->set = 0;
}

int corio_event_is_set(const corio_event *event) {
  return event && ((const struct event_impl *)(const void *)event)->set;
}

int corio_event_wait(corio_event *event) {
  sync_waiter waiter;
  corio_task *self;
  int rc;

  if (!event)
    return -EINVAL;
  if (impl(event)->set)
    return 0;
  self = corio__wait_self();
  if (!self)
    return CORIO_ENOTASK;
  impl(event)->inside++;
  rc = corio__waitq_wait_on(&impl(event)->waiters, &waiter, self, &event_kind,
                            impl(event));
  impl(event)->inside--;
  return rc;
}
