/* Probing names as the answers come: the C twin of seed 003's probe (from
 * Fluent Python, 2nd edition).
 *
 *   async def probe(domain: str) -> tuple[str, bool]:
 *       loop = asyncio.get_running_loop()
 *       try:
 *           await loop.getaddrinfo(domain, None)
 *       except socket.gaierror:
 *           return (domain, False)
 *       return (domain, True)
 *
 *   async def main() -> None:
 *       names = (kw for kw in kwlist if len(kw) <= MAX_KEYWORD_LEN)
 *       domains = (f'{name}.dev'.lower() for name in names)
 *       coros = [probe(domain) for domain in domains]
 *       for coro in asyncio.as_completed(coros):
 *           domain, found = await coro
 *           mark = '+' if found else ' '
 *           print(f'{mark} {domain}')
 *
 * probe is a task here, and corio_getaddrinfo is loop.getaddrinfo: it
 * suspends the task while glibc's resolver runs on the loop's default
 * executor. A resolver error (socket.gaierror) is one of the CORIO_EAI*
 * codes, which probe turns into "not found", as the seed does; any other
 * error fails the task. as_completed hands the tasks back in the order
 * they finish.
 *
 * The seed asks the Internet's name servers about "<keyword>.dev". An
 * example is a test, so it must never touch the network, and its output
 * must not depend on it. The names here are answered by the machine
 * itself:
 * - "localhost" comes from /etc/hosts, looked up on a pool thread;
 * - numeric addresses are converted at once, on the loop's thread, without
 *   the executor (corio_getaddrinfo knows that nothing has to be asked);
 * - the seed's kind of names are asked with AI_NUMERICHOST, which the
 *   resolver refuses at once (CORIO_EAINONAME) instead of asking a name
 *   server: they stand for the names nobody has registered.
 *
 * The order of the output does not depend on the machine's speed (see
 * example.h): every probe starts in the same loop iteration; those that
 * need no pool thread finish in that step, in the order they were
 * started, and the one answer from the pool thread can only reach the
 * loop in a later iteration. So "localhost", asked first, comes last. The
 * resolver's text (the task's message) differs between C libraries: the
 * code's name is printed instead. */
#include <netdb.h>
#include <string.h>

#include <corio/net.h>

#include "example.h"

#define EXAMPLE "name_probe"

#define NPROBES 6

static void print_probe(const struct example_probe *p) {
  if (p->error == 0)
    printf("+ %s\n", p->domain);
  else
    printf("  %s  (%s)\n", p->domain, corio_err_name(p->error));
}

static int probe_main(void *arg, void **result) {
  static struct example_probe probes[NPROBES] = {
      {"localhost", 0, 0, NULL}, /* /etc/hosts, on a pool thread */
      {"if.dev", 1, 0, NULL},    /* refused at once */
      {"127.0.0.1", 0, 0, NULL}, /* converted at once */
      {"or.dev", 1, 0, NULL},    /* refused at once */
      {"::1", 0, 0, NULL},       /* converted at once */
      {"def.dev", 1, 0, NULL},   /* refused at once */
  };

  (void)arg;
  (void)result;
  return example_probe_all(EXAMPLE, probes, NPROBES, print_probe);
}

int example_name_probe(void) {
  return example_asyncio_run(EXAMPLE, probe_main,
                             "# probe(domain) for each name, printed as "
                             "each answer comes (as_completed)");
}

#ifdef EXAMPLE_STANDALONE
EXAMPLE_MAIN(example_name_probe)
#endif
