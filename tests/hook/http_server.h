/* A small HTTP/1.1 server for the hook tests and benchmarks: it runs its
 * own corio loop on a thread of its own (a loop group of one), so that the
 * program under test can block, or suspend hooked tasks, on its main
 * thread while the server keeps answering.
 *
 * It listens on 127.0.0.1, on a free port the kernel picks. Each request
 * (GET or HEAD, with no body: what libcurl's easy API sends for a plain
 * URL) is answered after the server's delay, slept with corio_sleep in the
 * connection's handler task, so that any number of requests wait at once:
 *
 *   HTTP/1.1 200 OK
 *   Content-Type: application/octet-stream
 *   Content-Length: <body_size>
 *
 *   <body_size bytes of 'a'..'z' repeated>
 *
 * Connections are kept alive unless the request says "Connection: close"
 * (or is HTTP/1.0). Any other method, a request with a body, or a head
 * over 8 KiB gets "400 Bad Request" and the connection closes.
 *
 * The server is written on corio's stream API (corio/net.h), whose
 * syscalls never pass through the hooks: with hooks enabled in the
 * process it serves exactly as without them.
 *
 * http_server_stop closes the listener, cancels the handlers still
 * waiting out their delay, aborts every connection, waits for the handler
 * tasks and joins the thread: nothing of the server stays behind (no fd,
 * no thread, no memory). */
#ifndef CORIO_TEST_HOOK_HTTP_SERVER_H
#define CORIO_TEST_HOOK_HTTP_SERVER_H

#include <stddef.h>

typedef struct http_server http_server;

typedef struct http_server_options {
  double delay;     /* seconds each request waits before its answer; 0: none */
  size_t body_size; /* bytes of every answer's body */
} http_server_options;

/* Starts the server's thread and waits until it listens. Returns 0, or a
 * negative code (the listener's or the thread's error, -EINVAL for a NULL
 * argument or a negative or NaN delay, -ENOMEM); on failure nothing is
 * left running. *why, if not NULL, gets a short static text naming the
 * step that failed. */
int http_server_start(const http_server_options *options, http_server **out,
                      const char **why);

/* The port it listens on (127.0.0.1). */
int http_server_port(const http_server *server);

/* Requests whose head was read in full (counted before the delay), and
 * requests answered (counted after the delay, just before the answer is
 * written: a client that has its answer sees it counted). Readable from
 * any thread. */
long http_server_requests_received(const http_server *server);
long http_server_requests_answered(const http_server *server);
/* Connections accepted since the start. */
long http_server_connections(const http_server *server);
/* The most requests that were waiting out their delay at one time: 1 at
 * most when the clients took turns. */
long http_server_max_waiting(const http_server *server);

/* Stops everything and frees the server (NULL: nothing). Not from the
 * server's own thread. Returns 0, or the server loop's first error. */
int http_server_stop(http_server *server);

#endif
