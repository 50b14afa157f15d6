/* libFuzzer harness: http_hello's request parser (examples/http_request.h,
 * the very code the example runs) over arbitrary bytes, as one buffer of
 * pipelined requests the way the example's handler walks it.
 *
 * Besides no crash and no read outside the input (ASan), it checks what
 * the handler relies on: a result is -1, 0 or a length within the input;
 * a complete request's length covers its head and announced body; a
 * complete request parses the same from its own bytes and with anything
 * after it; and any shorter prefix of it is "more bytes needed" (so a
 * request cut by the network is waited for, never misread). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "http_request.h"

static _Noreturn void fail(const char *what, size_t off, long got) {
  fprintf(stderr, "http_request: %s (request at offset %zu: %ld)\n", what, off,
          got);
  abort();
}

static void same_request(const request *a, const request *b, size_t off) {
  if (memcmp(a, b, sizeof *a) != 0)
    fail("the same bytes parse to another request", off, 0);
}

static void check_request(const char *p, size_t len, long n, const request *r,
                          size_t off) {
  request again;
  long m;
  size_t cut;

  if (n < 0 || (size_t)n > len)
    fail("length outside the input", off, n);
  if (r->body > MAX_BODY || (!r->has_length && r->body))
    fail("body length", off, (long)r->body);
  /* the shortest head: "M / HTTP/1.0\r\n\r\n" */
  if ((size_t)n < r->body + 16)
    fail("shorter than its head and body", off, n);
  if ((r->http10 | r->head | r->close | r->keep_alive | r->host |
       r->has_length) > 1)
    fail("a flag is not 0 or 1", off, n);
  if (!r->http10 && !r->host)
    fail("HTTP/1.1 without Host accepted", off, n);
  /* Its own bytes alone: the same request. */
  m = parse_request(p, (size_t)n, &again);
  if (m != n)
    fail("its own bytes parse to another length", off, m);
  same_request(r, &again, off);
  /* Shorter prefixes: the last byte missing, and a cut the bytes choose. */
  cut = (size_t)n - 1;
  if ((m = parse_request(p, cut, &again)) != 0)
    fail("a prefix is not incomplete", off, m);
  cut = (unsigned char)p[0] % (size_t)n;
  if ((m = parse_request(p, cut, &again)) != 0 && cut > 0)
    fail("a prefix is not incomplete", off, m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  /* A copy of exactly the input's size: ASan catches any read past it. */
  char *buf = malloc(size ? size : 1);
  size_t off = 0;
  request r;
  long n = 0;

  if (!buf)
    return 0;
  memcpy(buf, data, size);
  /* The handler's walk: request after request until one is incomplete
   * or malformed. */
  while (off < size && (n = parse_request(buf + off, size - off, &r)) > 0) {
    check_request(buf + off, size - off, n, &r, off);
    off += (size_t)n;
  }
  if (n < -1)
    fail("result below -1", off, n);
  if (off > size)
    fail("walked past the input", off, (long)size);
  free(buf);
  return 0;
}
