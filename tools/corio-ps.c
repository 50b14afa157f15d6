/* corio-ps: asks a running program for a report of its tasks, over the
 * Unix socket that corio_debug_serve opened in it (see docs/debugging.md).
 *
 *   corio-ps PID             the table of tasks (with where each one is)
 *   corio-ps PID --tree      the await tree, like python -m asyncio pstree
 *   corio-ps PID --stacks    every task's stack
 *   corio-ps PID --all       all of these
 *   corio-ps --socket NAME [--tree | --stacks | --all]
 *                            a server with another name: "@name" (abstract)
 *                            or a path
 *
 * Exit status: 0; 1 for bad usage; 2 when the program cannot be reached,
 * does not answer, or is not the one asked for. It needs nothing but the C
 * library.
 *
 * An abstract name has no owner: any process may listen on "@corio-<pid>"
 * before the program does. So the peer must prove to be PID (SO_PEERCRED)
 * and run as the caller's user (as root: as the owner of /proc/PID), and
 * what it sends is shown with control bytes escaped on a terminal. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* struct ucred */
#endif
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

/* A program stuck in a callback never answers: give up after this. */
#define ANSWER_TIMEOUT_S 10

static int usage(void) {
  fprintf(stderr, "usage: corio-ps PID [--tree | --stacks | --all]\n"
                  "       corio-ps --socket NAME [--tree | --stacks | "
                  "--all]\n");
  return 1;
}

/* "@name" is the abstract name (its leading NUL), anything else a path. */
static int make_address(const char *name, struct sockaddr_un *sa,
                        socklen_t *len) {
  size_t n = strlen(name);

  memset(sa, 0, sizeof *sa);
  sa->sun_family = AF_UNIX;
  if (n == 0 || n >= sizeof sa->sun_path)
    return -1;
  memcpy(sa->sun_path, name, n);
  if (name[0] == '@') {
    sa->sun_path[0] = 0;
    *len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
  } else {
    *len = (socklen_t)sizeof *sa;
  }
  return 0;
}

static int write_all(int fd, const char *data, size_t len) {
  while (len > 0) {
    ssize_t n = write(fd, data, len);

    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return -1;
    data += n;
    len -= (size_t)n;
  }
  return 0;
}

/* With a pid: the peer must be that process, of the caller's user (root:
 * of the process's owner). 0 if so, else 2 after saying why. */
static int check_peer(int fd, const char *name, long pid) {
  struct ucred cred;
  socklen_t len = sizeof cred;
  uid_t want = getuid();

  if (pid <= 0)
    return 0;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
    fprintf(stderr, "corio-ps: %s: cannot tell who listens: %s\n", name,
            strerror(errno));
    return 2;
  }
  if (want == 0) {
    char path[64];
    struct stat st;

    snprintf(path, sizeof path, "/proc/%ld", pid);
    if (stat(path, &st) != 0) {
      fprintf(stderr, "corio-ps: no process %ld: %s\n", pid, strerror(errno));
      return 2;
    }
    want = st.st_uid;
  }
  if ((long)cred.pid != pid || cred.uid != want) {
    fprintf(stderr,
            "corio-ps: refusing to read %s: it is served by pid %ld (uid "
            "%ld), not by process %ld of uid %ld (another process took the "
            "name?)\n",
            name, (long)cred.pid, (long)cred.uid, pid, (long)want);
    return 2;
  }
  return 0;
}

/* The answer as it came, or on a terminal with control bytes other than
 * newline and tab shown as \xNN: a peer must not drive the terminal. */
static void show(const char *buf, size_t n, int escape) {
  if (!escape) {
    fwrite(buf, 1, n, stdout);
    return;
  }
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)buf[i];

    if ((c < 0x20 && c != '\n' && c != '\t') || c == 0x7f)
      printf("\\x%02x", c);
    else
      putchar(c);
  }
}

/* Sends the request line and copies the answer to stdout until EOF. */
static int ask(const char *name, long pid, const char *request) {
  struct timeval timeout = {.tv_sec = ANSWER_TIMEOUT_S};
  struct sockaddr_un sa;
  socklen_t len;
  char buf[4096];
  size_t got = 0;
  int escape = isatty(STDOUT_FILENO), fd;

  if (make_address(name, &sa, &len) < 0) {
    fprintf(stderr, "corio-ps: bad socket name: %s\n", name);
    return 1;
  }
  fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  /* The send timeout bounds connect too (a full backlog blocks it). */
  if (fd < 0 ||
      setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout) != 0 ||
      setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout) != 0) {
    perror("corio-ps: socket");
    return 2;
  }
  if (connect(fd, (struct sockaddr *)&sa, len) != 0) {
    fprintf(stderr,
            "corio-ps: cannot reach %s: %s (does the program call "
            "corio_debug_serve?)\n",
            name, strerror(errno));
    close(fd);
    return 2;
  }
  if (check_peer(fd, name, pid) != 0) {
    close(fd);
    return 2;
  }
  if (write_all(fd, request, strlen(request)) < 0) {
    fprintf(stderr, "corio-ps: %s: %s\n", name, strerror(errno));
    close(fd);
    return 2;
  }
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);

    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      fprintf(stderr, "corio-ps: %s: %s\n", name,
              errno == EAGAIN ? "no answer" : strerror(errno));
      close(fd);
      return 2;
    }
    if (n == 0)
      break;
    show(buf, (size_t)n, escape);
    got += (size_t)n;
  }
  close(fd);
  if (got == 0) {
    fprintf(stderr,
            "corio-ps: %s closed the connection without an answer "
            "(another user's program?)\n",
            name);
    return 2;
  }
  return fflush(stdout) == 0 ? 0 : 2;
}

int main(int argc, char **argv) {
  const char *request = "tasks\n", *socket_name = NULL;
  char name[64];
  long pid = 0;

  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--tree") == 0) {
      request = "tree\n";
    } else if (strcmp(argv[i], "--stacks") == 0) {
      request = "stacks\n";
    } else if (strcmp(argv[i], "--all") == 0) {
      request = "all\n";
    } else if (strcmp(argv[i], "--socket") == 0 && i + 1 < argc) {
      socket_name = argv[++i];
    } else if (argv[i][0] != '-' && pid == 0) {
      char *end;

      pid = strtol(argv[i], &end, 10);
      if (*end || pid <= 0)
        return usage();
    } else {
      return usage();
    }
  }
  if (!socket_name) {
    if (pid == 0)
      return usage();
    snprintf(name, sizeof name, "@corio-%ld", pid);
    socket_name = name;
  }
  /* With --socket, a PID given too is checked; none, nothing is. */
  return ask(socket_name, pid, request);
}
