/* Seed 003's name probe (Fluent Python, 2nd edition) on the c-ares
 * resolver: every lookup is a query on the loop's own thread, with no
 * pool thread behind it (examples/name_probe.c is the same probe on the
 * system resolver).
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
 * The seed asks the Internet's name servers; an example must never touch
 * the network. So it starts its own name server first: dnsmasq (as a
 * corio subprocess) on a free port of 127.0.0.1, with a hosts file (in a
 * temporary directory) that registers a few of the names, and told that
 * it alone answers for .dev (every other .dev name: NXDOMAIN). The loop
 * is pointed at it with corio_loop_use_ares; the probe itself is the
 * same code as on the system resolver.
 *
 * The order of the output is that of the answers. All queries leave in
 * one loop iteration, on one UDP socket, in the order the probes start
 * (an A and an AAAA question each); dnsmasq answers them one by one in
 * that order, and c-ares reads them off the socket in turn: the probes
 * finish in the order they started, whatever the machine's speed. */
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <corio/net.h>
#include <corio/proc.h>

#include "example.h"

#define EXAMPLE "name_probe_ares"

int example_name_probe_ares(void);

/* Python's keywords of at most 4 letters, lowercased, as the seed makes
 * them; the server knows those marked registered. */
static const struct {
  const char *name;
  int registered;
} keywords[] = {
    {"none", 0}, {"true", 1}, {"and", 0}, {"as", 0},   {"def", 1}, {"del", 0},
    {"elif", 0}, {"else", 1}, {"for", 1}, {"from", 0}, {"if", 0},  {"in", 1},
    {"is", 0},   {"not", 0},  {"or", 0},  {"pass", 1}, {"try", 0}, {"with", 1},
};
#define NPROBES (sizeof keywords / sizeof keywords[0])

/* ---- the name server --------------------------------------------------- */

struct server {
  char dir[32];
  char hosts[64];
  int port;
  corio_process *process;
  char said[256]; /* dnsmasq's last line, said when it will not start */
};

static int write_hosts(struct server *s) {
  FILE *f;

  snprintf(s->dir, sizeof s->dir, "/tmp/name-probe-XXXXXX");
  if (!mkdtemp(s->dir))
    return -errno;
  snprintf(s->hosts, sizeof s->hosts, "%s/hosts", s->dir);
  if (!(f = fopen(s->hosts, "w")))
    return -errno;
  for (size_t i = 0; i < NPROBES; i++)
    if (keywords[i].registered)
      fprintf(f, "192.0.2.%zu %s.dev\n", i + 1, keywords[i].name);
  return fclose(f) == 0 ? 0 : -EIO;
}

/* dnsmasq in the foreground, logging to its stderr (a pipe): it is ready
 * once it says it has read the hosts file (its sockets are bound by
 * then). 0, or -EAGAIN when it exited first (its port was taken). */
static int try_server(struct server *s) {
  char hosts_arg[80], port_arg[24], line[256];
  const char *argv[] = {"dnsmasq", "-k", "--conf-file=/dev/null", "--no-resolv",
                        "--no-hosts", hosts_arg, "--listen-address=127.0.0.1",
                        "--bind-interfaces", port_arg,
                        "--pid-file=", "--local=/dev/", "--log-facility=-",
                        /* As root: stay root, to read our directory. */
                        geteuid() == 0 ? "--user=root" : NULL, NULL};
  corio_proc_options options = {
      .stdio = {{CORIO_PROC_DEVNULL, -1},
                {CORIO_PROC_DEVNULL, -1},
                {CORIO_PROC_PIPE, -1}},
      .env = (const char *const[]){"PATH=/usr/sbin:/sbin:/usr/bin:/bin", NULL},
      .flags = CORIO_PROC_ENV_EXTEND};
  size_t n;
  int rc;

  snprintf(hosts_arg, sizeof hosts_arg, "--addn-hosts=%s", s->hosts);
  if ((s->port = example_unused_udp_port()) < 0)
    return -EADDRNOTAVAIL;
  snprintf(port_arg, sizeof port_arg, "--port=%d", s->port);
  rc = corio_create_subprocess_exec(argv, &options, &s->process);
  if (rc < 0)
    return rc;
  while ((rc = corio_stream_readline(corio_process_stderr(s->process), line,
                                     sizeof line - 1, &n)) == 0 &&
         n > 0) {
    line[n] = 0;
    if (strstr(line, "read ") && strstr(line, s->hosts))
      return 0;
    snprintf(s->said, sizeof s->said, "%s", line);
  }
  (void)corio_process_wait(s->process, NULL);
  corio_process_unref(s->process);
  s->process = NULL;
  return rc < 0 ? rc : -EAGAIN;
}

/* The port was free when picked, but dnsmasq binds it for TCP too, and
 * another program may take either first: a few tries, each on a new
 * port. */
static int start_server(struct server *s) {
  int rc;

  if ((rc = write_hosts(s)) < 0)
    return rc;
  for (int attempt = 0; attempt < 5; attempt++)
    if ((rc = try_server(s)) != -EAGAIN)
      return rc;
  fprintf(stderr, "%s: dnsmasq said: %s", EXAMPLE, s->said);
  return -EADDRINUSE;
}

static void stop_server(struct server *s) {
  if (s->process) {
    (void)corio_process_terminate(s->process);
    (void)corio_process_wait(s->process, NULL);
    corio_process_unref(s->process);
  }
  if (s->hosts[0])
    unlink(s->hosts);
  if (s->dir[0])
    rmdir(s->dir);
}

/* ---- the probe ----------------------------------------------------------- */

static void print_probe(const struct example_probe *p) {
  printf("%c %s\n", p->error == 0 ? '+' : ' ', p->domain);
}

static int probe_all(void) {
  static struct example_probe probes[NPROBES];

  for (size_t i = 0; i < NPROBES; i++)
    snprintf(probes[i].domain, sizeof probes[i].domain, "%s.dev",
             keywords[i].name);
  return example_probe_all(EXAMPLE, probes, NPROBES, print_probe);
}

static int probe_main(void *arg, void **result) {
  struct server server = {0};
  char servers[32];
  int rc;

  (void)arg;
  (void)result;
  if ((rc = start_server(&server)) < 0) {
    stop_server(&server);
    return example_task_fail(EXAMPLE, "starting dnsmasq", rc);
  }
  snprintf(servers, sizeof servers, "127.0.0.1:%d", server.port);
  rc = corio_loop_use_ares(
      NULL, &(corio_resolver_options){.servers = servers,
                                      .flags = CORIO_RESOLVER_NO_HOSTS_FILE});
  if (rc < 0)
    rc = example_task_fail(EXAMPLE, "corio_loop_use_ares", rc);
  else
    rc = probe_all();
  stop_server(&server);
  return rc;
}

int example_name_probe_ares(void) {
  return example_asyncio_run(EXAMPLE, probe_main,
                             "# probe(domain) on c-ares, against a local "
                             "dnsmasq, printed as each answer comes");
}

#ifdef EXAMPLE_STANDALONE
EXAMPLE_MAIN(example_name_probe_ares)
#endif
