/* Datagrams per second received on loopback, 64-byte datagrams: a corio
 * endpoint (recvmmsg batches into its queue, a task taking them one
 * corio_datagram_recv at a time) against the floor, a plain blocking
 * recvmmsg loop (32 per call, MSG_WAITFORONE). The same sender feeds both:
 * a sendmmsg blaster (32 datagrams per call) in a child process. Run the
 * whole thing on one CPU, so that sender and receiver share it:
 *
 *   taskset -c 0 build/release/bench/udp_recv
 *
 *   udp_floor_dgrams_per_s: 233246 datagrams/s
 *   udp_corio_dgrams_per_s: 221950 datagrams/s
 *   udp_corio_vs_floor: 0.95 ratio
 *
 * Each figure is the median of 3 runs of --seconds (default 1) each, the
 * two receivers alternating. --mode floor|corio --count N receives
 * exactly N datagrams and exits (bench/udp_callgrind.sh counts the
 * instructions per datagram that way). */
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <corio/task.h>
#include <corio/udp.h>

#include "bench.h"

enum { BATCH = 32, SIZE = 64, RUNS = 3 };

static double seconds = 1.0;
static long count_limit; /* --count: stop after this many (0: by time) */

/* ---- the sender ---------------------------------------------------------- */

static void blast(const struct sockaddr_in *to) {
  struct mmsghdr msgs[BATCH];
  struct iovec iov[BATCH];
  char data[BATCH][SIZE];
  int fd = socket(AF_INET, SOCK_DGRAM, 0);

  if (fd < 0 || connect(fd, (const struct sockaddr *)to, sizeof *to) != 0)
    _exit(1);
  memset(msgs, 0, sizeof msgs);
  for (int i = 0; i < BATCH; i++) {
    memset(data[i], 'a' + i % 26, SIZE);
    iov[i].iov_base = data[i];
    iov[i].iov_len = SIZE;
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
  }
  for (;;)
    (void)sendmmsg(fd, msgs, BATCH, 0);
}

static pid_t start_sender(const struct sockaddr_in *to) {
  pid_t pid = fork();

  if (pid == 0) {
    blast(to);
    _exit(0);
  }
  return pid;
}

static void stop_sender(pid_t pid) {
  int status;

  kill(pid, SIGKILL);
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
}

/* A receiving socket on 127.0.0.1 with a large receive buffer (forced
 * past rmem_max where allowed). */
static int receiver_socket(struct sockaddr_in *addr) {
  socklen_t len = sizeof *addr;
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), size = 4 << 20;

  memset(addr, 0, sizeof *addr);
  addr->sin_family = AF_INET;
  addr->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0 || bind(fd, (struct sockaddr *)addr, sizeof *addr) != 0 ||
      getsockname(fd, (struct sockaddr *)addr, &len) != 0) {
    perror("udp_recv: socket");
    exit(1);
  }
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size) != 0)
    (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
  return fd;
}

/* ---- the floor: a plain recvmmsg loop ----------------------------------- */

static double floor_run(void) {
  struct sockaddr_in addr;
  struct mmsghdr msgs[BATCH];
  struct iovec iov[BATCH];
  static char data[BATCH][2048];
  int fd = receiver_socket(&addr);
  pid_t sender = start_sender(&addr);
  long got = 0;
  double start, end;

  memset(msgs, 0, sizeof msgs);
  for (int i = 0; i < BATCH; i++) {
    iov[i].iov_base = data[i];
    iov[i].iov_len = sizeof data[i];
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
  }
  start = bench_now_s();
  end = start + seconds;
  for (;;) {
    int n = recvmmsg(fd, msgs, BATCH, MSG_WAITFORONE, NULL);

    if (n > 0)
      got += n;
    if (count_limit ? got >= count_limit : bench_now_s() >= end)
      break;
  }
  end = bench_now_s();
  stop_sender(sender);
  close(fd);
  return (double)got / (end - start);
}

/* ---- corio: an endpoint and a receiving task ---------------------------- */

static int corio_body(void *arg, void **result) {
  double *rate = arg, start, end;
  struct sockaddr_in addr;
  corio_datagram *d;
  char buf[2048];
  int fd = receiver_socket(&addr), rc;
  pid_t sender;
  long got = 0;
  size_t n;

  (void)result;
  if ((rc = corio_datagram_open_fd(NULL, fd, NULL, &d)) < 0)
    return rc;
  sender = start_sender(&addr);
  start = bench_now_s();
  end = start + seconds;
  for (;;) {
    if ((rc = corio_datagram_recv(d, buf, sizeof buf, &n)) < 0)
      break;
    got++;
    if (count_limit ? got >= count_limit
                    : (got & 63) == 0 && bench_now_s() >= end)
      break;
  }
  end = bench_now_s();
  stop_sender(sender);
  corio_datagram_unref(d);
  *rate = (double)got / (end - start);
  return rc < 0 ? rc : 0;
}

static double corio_run_once(void) {
  double rate = 0;
  int rc = corio_run(corio_body, &rate, NULL);

  if (rc < 0) {
    fprintf(stderr, "udp_recv: corio run failed: %s\n", corio_strerror(rc));
    exit(1);
  }
  return rate;
}

int main(int argc, char **argv) {
  const char *mode = "both";
  double floor_rates[RUNS], corio_rates[RUNS], f, c;

  for (int i = 1; i + 1 < argc; i += 2) {
    if (strcmp(argv[i], "--mode") == 0)
      mode = argv[i + 1];
    else if (strcmp(argv[i], "--seconds") == 0)
      seconds = atof(argv[i + 1]);
    else if (strcmp(argv[i], "--count") == 0)
      count_limit = atol(argv[i + 1]);
  }
  if (strcmp(mode, "floor") == 0) {
    bench_print("udp_floor_dgrams_per_s", floor_run(), 0, "datagrams/s");
    return 0;
  }
  if (strcmp(mode, "corio") == 0) {
    bench_print("udp_corio_dgrams_per_s", corio_run_once(), 0, "datagrams/s");
    return 0;
  }
  for (int i = 0; i < RUNS; i++) {
    floor_rates[i] = floor_run();
    corio_rates[i] = corio_run_once();
  }
  f = bench_median(floor_rates, RUNS);
  c = bench_median(corio_rates, RUNS);
  bench_print("udp_floor_dgrams_per_s", f, 0, "datagrams/s");
  bench_print("udp_corio_dgrams_per_s", c, 0, "datagrams/s");
  bench_print("udp_corio_vs_floor", c / f, 2, "ratio");
  return 0;
}
