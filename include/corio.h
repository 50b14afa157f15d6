/* corio: coroutines, an event loop and asyncio's model for C. */
#ifndef CORIO_H
#define CORIO_H

#include "corio/alloc.h"
#include "corio/combine.h"
#include "corio/context.h"
#include "corio/coro.h"
#include "corio/debug.h"
#include "corio/error.h"
#include "corio/future.h"
#include "corio/loop.h"
#include "corio/net.h"
#include "corio/proc.h"
#include "corio/queue.h"
#include "corio/sync.h"
#include "corio/task.h"
#include "corio/thread.h"
#include "corio/tls.h"
#include "corio/udp.h"

#endif
