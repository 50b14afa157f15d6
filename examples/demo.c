/* The demo `make demo` runs: a walk through what corio can do so far,
 * running each example in turn under a heading. The examples themselves
 * live in their own files (see example.h). */
#include "example.h"

#if CORIO_DEMO_HOOK
/* monkey_patch.c: seed 000's gevent monkey.patch_all (libcorio_hook). */
int example_monkey_patch(void);
#endif

struct part {
  const char *title;
  const char *what;
  int (*run)(void);
};

static const struct part parts[] = {
    {"greenlet: switching between coroutines",
     "Two coroutines hand control to each other with corio_coro_switch();\n"
     "when task 1's body returns, control goes back to its parent, main.",
     example_greenlet_pingpong},
    {"Generators: next(), send(), throw() and return values",
     "corio_coro_resume() runs a coroutine until it yields a value or\n"
     "returns; corio_coro_throw() raises an error at its pending yield.",
     example_generator},
    {"yield from: delegating to an inner generator",
     "corio_coro_yield_from() passes values up from an inner coroutine and\n"
     "sends down into it, and returns the inner coroutine's result.",
     example_yield_from},
    {"The event loop: callbacks and timers",
     "call_soon callbacks run in FIFO order, one iteration at a time; timers\n"
     "join them when due, in deadline order; a cancelled handle never runs;\n"
     "a failing callback goes to the exception handler; stop ends the loop\n"
     "once the current iteration is done.",
     example_loop_timers},
    {"The select loop: echoing lines from a pipe",
     "The loop waits in the poller until the pipe is readable, then runs\n"
     "the reader callback; a timer callback writes the lines. At end of\n"
     "file the reader removes itself, closes the pipe and stops the loop.",
     example_select_loop},
    {"Tasks: hello world",
     "corio_run() runs a task function on a new loop until it returns;\n"
     "corio_sleep() suspends only the task, and only a task can sleep.",
     example_hello_world},
    {"Tasks: one after the other, or at the same time",
     "Calling say_after() from a task waits for it; corio_spawn() runs it\n"
     "as a task of its own, so two sleeps of 1 and 2 units overlap and\n"
     "take 2 units instead of 3.",
     example_say_after},
    {"Tasks: names and the current task",
     "A task gets a name in its spawn options, or \"Task-<n>\" from a\n"
     "process-wide counter; corio_current_task() is the task running now.",
     example_named_task},
    {"Context variables: a request id per task",
     "Each task starts with a copy of its creator's context, so its sets\n"
     "stay its own; corio_context_run() runs a function in a given\n"
     "context, and a token undoes a set.",
     example_request_id},
    {"Cancelling a task",
     "A cancellation is a request: the task's await returns -ECANCELED,\n"
     "and the task ends cancelled only if it returns that code. Requests\n"
     "are counted (cancelling, uncancel), and an awaited task goes on.",
     example_task_cancel},
    {"Fire and forget, and tasks still pending at the end",
     "corio_run() cancels the tasks still pending when main is done and\n"
     "waits for them; a loop closed with a task pending reports it through\n"
     "its exception handler, as does a forgotten task that failed.",
     example_fire_and_forget},
    {"Synchronisation: lock, event, condition, semaphores, barrier",
     "Waiters are served in FIFO order: a lock or a permit is handed to the\n"
     "first waiter; set() wakes every waiter of an event, notify(n) wakes\n"
     "n waiters of a condition, and a barrier lets its parties go together\n"
     "once the last one arrives. Misuse is an error code: a lock released\n"
     "unheld, a bounded semaphore released too often, a broken barrier.",
     example_sync_primitives},
    {"Queues: producers and consumers",
     "Two producers put random values into a queue and two consumers take\n"
     "them, one per unit each; a consumer cancelled while it waits in\n"
     "corio_queue_get() ends cancelled, with nothing taken.",
     example_producer_consumer},
    {"Queues: a pool of workers with join",
     "Three workers take 20 random sleeps from a queue and mark each done;\n"
     "corio_queue_join() returns once all are done, in about a third of\n"
     "the total sleep time.",
     example_worker_pool},
    {"Running tasks concurrently: gather, wait_for, wait, as_completed",
     "corio_gather() runs children at once and returns their outcomes in\n"
     "argument order; corio_wait_for() cancels a task that takes too long;\n"
     "corio_wait() sorts futures into done and pending; as_completed hands\n"
     "them out in the order they complete.",
     example_gather_wait},
    {"gather and errors: the first error, or every outcome",
     "Without return_exceptions gather returns the first error at once and\n"
     "the other children run on; with it, each child's result, error or\n"
     "cancellation is reported in its place.",
     example_gather_errors},
    {"Task groups: structured concurrency",
     "A group's close waits for every child; the first child that fails\n"
     "cancels the others, and close reports the real errors. A child can\n"
     "end the group on purpose with an error code the owner then ignores.",
     example_taskgroup},
    {"shield: keeping a task out of a cancellation",
     "Cancelling a shield, or timing it out in wait_for, leaves the task\n"
     "inside running; cancelling the task cancels its shield.",
     example_shield},
    {"Timeouts: timeout scopes and wait_for",
     "A timeout scope cancels its task when the deadline passes and turns\n"
     "that cancellation into -ETIMEDOUT as the scope is left; deadlines can\n"
     "be relative or absolute, rescheduled, and checked with expired().",
     example_timeouts},
    {"Waiting for tasks: wait with a timeout, as_completed",
     "corio_wait() with a timeout returns what is done and what is pending,\n"
     "and cancels nothing; as_completed returns futures as they complete,\n"
     "and -ETIMEDOUT once its timeout has passed.",
     example_wait_as_completed},
    {"Threads: to_thread",
     "corio_to_thread() runs a blocking function on the loop's default\n"
     "executor, inside a copy of the task's context, while the loop goes\n"
     "on: a blocking unit and a sleeping unit take 1 unit, not 2.",
     example_to_thread},
    {"Threads: blocking calls gathered",
     "Three to_thread calls of 1, 3 and 2 units gathered run on three pool\n"
     "threads at once: 3 units in all, completing in the order A, C, B.",
     example_to_thread_gather},
    {"Threads: a loop in a background thread",
     "The main thread starts tasks on a loop run by another thread with\n"
     "corio_run_coroutine_threadsafe() and waits for their results with a\n"
     "timeout; a cancel reaches the task, and a stop sent with\n"
     "call_soon_threadsafe ends the loop's run_forever.",
     example_threadsafe_loop},
    {"Names: getaddrinfo, printed as the answers come",
     "corio_getaddrinfo() runs glibc's resolver on the default executor\n"
     "(a numeric address needs none); as_completed prints each probe as it\n"
     "finishes, so the name looked up on a pool thread comes last.",
     example_name_probe},
    {"Streams: a TCP echo server and its client",
     "corio_start_server() runs a handler task per connection; a stream is\n"
     "asyncio's reader and writer in one object. The server listens on a\n"
     "port the kernel picks, and cancelling serve_forever closes it.",
     example_tcp_echo},
    {"Streams: fetching HTTP headers",
     "open_connection, a HEAD request, then readline until the end of the\n"
     "stream, against a small HTTP server started in the same program.",
     example_http_head},
    {"Streams: a socket made elsewhere",
     "corio_stream_open_fd() is open_connection(sock=...): a stream over\n"
     "one end of a socketpair, the other written by a loop callback.",
     example_socketpair_stream},
    {"Streams: echo over a Unix socket",
     "start_unix_server and open_unix_connection, on a socket file (which\n"
     "the server removes when it closes) and on an abstract name.",
     example_unix_echo},
    {"Streams: a crawler, at most 3 pages at a time",
     "gather starts a task per page and a semaphore lets 3 fetch at once;\n"
     "the server answers only whole batches of 3, so the crawler must\n"
     "really have 3 under way, and cannot have more.",
     example_crawler},
#if CORIO_DEMO_TLS
    {"Streams over TLS: an HTTPS HEAD request",
     "open_connection with a TLS context: the certificate is verified\n"
     "against the one CA the client trusts, the host name is checked and\n"
     "sent as SNI; then the same readline loop as over plain TCP.",
     example_https_head},
    {"Streams over TLS: echo",
     "start_server with a TLS context: the handshake is done before the\n"
     "handler runs, and the handler is the plain echo handler.",
     example_tls_echo},
#endif
    {"Datagrams: a UDP echo server and client",
     "create_datagram_endpoint as tasks: recvfrom suspends until a datagram\n"
     "is queued, sendto never blocks; a refused port comes back as an\n"
     "error to the next receive, and the endpoint stays open.",
     example_udp_echo},
#if CORIO_DEMO_ARES
    {"Names: the probe on c-ares",
     "The same probe with the loop on the c-ares resolver: every query\n"
     "leaves from the loop's own thread, with no pool thread behind it,\n"
     "to a dnsmasq the example starts on loopback.",
     example_name_probe_ares},
#endif
    {"Subprocesses: running a program",
     "corio_create_subprocess_exec() runs a program found in PATH, with no\n"
     "shell; its stdout and stderr are piped, and communicate reads both to\n"
     "the end and waits for the exit: the output and the return code.",
     example_subprocess_exec},
    {"Subprocesses: shell commands",
     "corio_create_subprocess_shell() runs /bin/sh -c cmd, so pipes and\n"
     "redirections work; the return code is the shell's status, or minus\n"
     "the signal that killed it.",
     example_subprocess_shell},
    {"Subprocesses: reading a line from a child",
     "A piped stdout is a corio stream: readline takes the first line the\n"
     "child prints, then wait awaits its exit. The date is checked, not\n"
     "printed, so that the output stays the same.",
     example_subprocess_date},
    {"Subprocesses: talking to an interpreter",
     "The child's stdin is a write stream: write and drain send python3 a\n"
     "statement, readline reads its answer, and closing stdin ends it.",
     example_subprocess_interact},
    {"Subprocesses: several commands at once",
     "gather runs each command in a task of its own: every shell is started\n"
     "before any is done, so the sleeps overlap.",
     example_subprocess_gather},
    {"Seeing inside: the await tree",
     "corio_debug_report() shows every task of the loop under the task that\n"
     "waits for it (the one it awaits, its task group's children), with\n"
     "what each one waits on, like python -m asyncio pstree.",
     example_task_tree},
#if CORIO_DEMO_HOOK
    {"Blocking calls made cooperative: monkey patching",
     "corio_hook_enable() is gevent's monkey.patch_all(): with libcorio_hook\n"
     "linked, plain nanosleep() and blocking socket calls in a task suspend\n"
     "the task, so two tasks interleave, and fetch pages from a server on\n"
     "their own loop. Opted out of the hooks, each sleep blocks the thread\n"
     "and the tasks run one after the other.",
     example_monkey_patch},
#endif
    {"A loop from a factory: the io_uring backend",
     "corio_runner_create_with() is asyncio.Runner(loop_factory=...): the\n"
     "runner's loop runs on io_uring (uvloop's place in the Python\n"
     "examples), or on epoll where the kernel refuses it; the task's code\n"
     "is the same either way.",
     example_loop_factory},
};

int main(void) {
  size_t i;

  puts("corio demo: coroutines with their own stacks, an event loop, and "
       "tasks on it");
  for (i = 0; i < sizeof parts / sizeof parts[0]; i++) {
    printf("\n== %zu. %s ==\n%s\n\n", i + 1, parts[i].title, parts[i].what);
    if (parts[i].run() != 0) {
      fprintf(stderr, "demo: part %zu failed\n", i + 1);
      corio_coro_pool_trim();
      return 1;
    }
  }
  puts("\nAll parts ran.");
  /* Hands the cached stacks back to the OS: nothing is left at exit. */
  corio_coro_pool_trim();
  return 0;
}
