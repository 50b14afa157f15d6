/* Wrappers over the socket syscalls of the net layer, each a fault
 * injection point like those in sys.h. They return 0 / an fd / a count, or
 * a negative errno, and retry EINTR where retrying is right. Every socket
 * they create is non-blocking and close-on-exec. */
#ifndef CORIO_CORE_SYS_NET_H
#define CORIO_CORE_SYS_NET_H

#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

int corio__sys_socket(int family, int type, int protocol);
int corio__sys_bind(int fd, const struct sockaddr *addr, socklen_t len);
int corio__sys_listen(int fd, int backlog);
/* accept4, non-blocking and close-on-exec. */
int corio__sys_accept(int fd, struct sockaddr *addr, socklen_t *len);
/* A non-blocking connect: 0, -EINPROGRESS, or the error. */
int corio__sys_connect(int fd, const struct sockaddr *addr, socklen_t len);
/* read(2): on a stream socket the same as recv without flags, and it
 * serves pipes too. */
ssize_t corio__sys_recv(int fd, void *buf, size_t len);
/* sendmsg(MSG_NOSIGNAL) on a socket, writev on anything else (a pipe),
 * with SIGPIPE blocked and taken back: never a signal. */
ssize_t corio__sys_sendv(int fd, const struct iovec *iov, int iovcnt,
                         int is_socket);
/* One buffer: send(MSG_NOSIGNAL) on a socket, as sendv on anything else. */
ssize_t corio__sys_send(int fd, const void *buf, size_t len, int is_socket);
/* Datagram sockets. sendto with a NULL addr is send (a connected
 * socket); always MSG_NOSIGNAL. */
ssize_t corio__sys_sendto(int fd, const void *buf, size_t len,
                          const struct sockaddr *addr, socklen_t addrlen);
/* recvmmsg/sendmmsg without a timeout: the count of messages, or a
 * negative errno (none was received or sent). Share the RECV and SEND
 * fault points with the calls above. */
struct mmsghdr;
int corio__sys_recvmmsg(int fd, struct mmsghdr *msgs, unsigned n, int flags);
int corio__sys_sendmmsg(int fd, struct mmsghdr *msgs, unsigned n);
int corio__sys_setsockopt_int(int fd, int level, int name, int value);
/* SO_ERROR: the pending error of a connecting socket, as a negative errno
 * (0: connected). */
int corio__sys_socket_error(int fd);
int corio__sys_shutdown(int fd, int how);
/* O_NONBLOCK and FD_CLOEXEC on an fd the user handed over. */
int corio__sys_set_nonblock_cloexec(int fd);
/* The user id of a Unix socket's peer (SO_PEERCRED). */
int corio__sys_peer_uid(int fd, uid_t *uid);

#endif
