/* The request parser of http_hello.c, in a header of its own so that
 * fuzz/http_request.c can drive the very same code. RFC 9112's grammar, as
 * much of it as a server that ignores the target and the headers it does
 * not use must check.
 *
 * parse_request(p, len, &r): one request at the start of [p, p + len);
 * its length with its body if it is all there, 0 if more bytes are
 * needed, -1 if it is malformed. */
#ifndef CORIO_EXAMPLE_HTTP_REQUEST_H
#define CORIO_EXAMPLE_HTTP_REQUEST_H

#include <ctype.h>
#include <stddef.h>
#include <string.h>

/* The largest body a request may announce (Content-Length). */
#define MAX_BODY ((size_t)16 * 1024)

/* A header name or method character (RFC 9110 tchar). A switch, not
 * isalnum and strchr: it runs for every byte of every header name. */
static int is_tchar(unsigned char c) {
  switch (c) {
  case '!':
  case '#':
  case '$':
  case '%':
  case '&':
  case '\'':
  case '*':
  case '+':
  case '-':
  case '.':
  case '^':
  case '_':
  case '`':
  case '|':
  case '~':
    return 1;
  default:
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9');
  }
}

/* Case-insensitive: does [p, p + n) equal the lowercase word? */
static int equals(const char *p, size_t n, const char *word) {
  size_t i;

  for (i = 0; i < n && word[i]; i++)
    if (tolower((unsigned char)p[i]) != word[i])
      return 0;
  return i == n && !word[i];
}

typedef struct request {
  int http10;     /* HTTP/1.0 */
  int head;       /* HEAD: no body in the answer */
  int close;      /* Connection: close */
  int keep_alive; /* Connection: keep-alive (HTTP/1.0) */
  int host;       /* a Host header */
  int has_length; /* a Content-Length header */
  size_t body;    /* its value */
} request;

/* The request line, "METHOD SP TARGET SP HTTP/1.x", at [p, end). */
static int parse_request_line(const char *p, const char *end, request *r) {
  const char *method = p;

  while (p < end && is_tchar((unsigned char)*p))
    p++;
  if (p == method || p == end || *p != ' ')
    return -1;
  r->head = p - method == 4 && memcmp(method, "HEAD", 4) == 0;
  if (++p == end || *p == ' ')
    return -1;
  while (p < end && *p != ' ')
    if ((unsigned char)*p++ <= ' ')
      return -1;
  if (end - p != 9 || memcmp(p, " HTTP/1.", 8) != 0 ||
      (p[8] != '0' && p[8] != '1'))
    return -1;
  r->http10 = p[8] == '0';
  return 0;
}

/* The tokens of a Connection header. */
static void parse_connection(const char *p, const char *end, request *r) {
  while (p < end) {
    const char *tok;

    while (p < end && (*p == ' ' || *p == '\t' || *p == ','))
      p++;
    tok = p;
    while (p < end && *p != ',' && *p != ' ' && *p != '\t')
      p++;
    if (equals(tok, (size_t)(p - tok), "close"))
      r->close = 1;
    else if (equals(tok, (size_t)(p - tok), "keep-alive"))
      r->keep_alive = 1;
  }
}

static int parse_length(const char *p, const char *end, request *r) {
  size_t n = 0;

  if (p == end)
    return -1;
  for (; p < end; p++) {
    if (*p < '0' || *p > '9' || n > MAX_BODY)
      return -1;
    n = n * 10 + (size_t)(*p - '0');
  }
  if (n > MAX_BODY || (r->has_length && r->body != n))
    return -1;
  r->has_length = 1;
  r->body = n;
  return 0;
}

/* One header line, "name: value", at [p, end). */
static int parse_header(const char *p, const char *end, request *r) {
  const char *name = p, *value;
  size_t name_len;

  while (p < end && is_tchar((unsigned char)*p))
    p++;
  if (p == name || p == end || *p != ':')
    return -1;
  name_len = (size_t)(p - name);
  value = p + 1;
  while (value < end && (*value == ' ' || *value == '\t'))
    value++;
  while (end > value && (end[-1] == ' ' || end[-1] == '\t'))
    end--;
  for (p = value; p < end; p++)
    if ((unsigned char)*p < ' ' && *p != '\t')
      return -1;
  /* By length first: most headers are none of these. */
  switch (name_len) {
  case 4:
    if (equals(name, name_len, "host"))
      r->host = 1;
    break;
  case 10:
    if (equals(name, name_len, "connection"))
      parse_connection(value, end, r);
    break;
  case 14:
    if (equals(name, name_len, "content-length"))
      return parse_length(value, end, r);
    break;
  case 17:
    if (equals(name, name_len, "transfer-encoding"))
      return -1;
    break;
  }
  return 0;
}

/* One request at the start of [p, p + len): its length with its body if
 * it is all there, 0 if more bytes are needed, -1 if it is malformed.
 * Line by line: every line ends in CRLF, an empty one ends the head. A
 * bare LF inside a line is refused by the checks of its characters. */
static long parse_request(const char *p, size_t len, request *r) {
  const char *end = p + len, *line = p, *eol;
  size_t size;
  int rc;

  memset(r, 0, sizeof *r);
  for (;;) {
    eol = memchr(line, '\r', (size_t)(end - line));
    if (!eol || eol + 1 == end)
      /* Not all here yet, unless a bare LF means it never will be. */
      return memchr(line, '\n', (size_t)(end - line)) ? -1 : 0;
    if (eol[1] != '\n')
      return -1;
    if (eol == line)
      break;
    rc = line == p ? parse_request_line(line, eol, r)
                   : parse_header(line, eol, r);
    if (rc < 0)
      return -1;
    line = eol + 2;
  }
  if (line == p) /* no request line */
    return -1;
  if (!r->http10 && !r->host)
    return -1;
  if (r->http10 && !r->keep_alive)
    r->close = 1;
  size = (size_t)(eol + 2 - p) + r->body;
  return size <= len ? (long)size : 0;
}

#endif
