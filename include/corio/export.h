#ifndef CORIO_EXPORT_H
#define CORIO_EXPORT_H

/* The library is built with hidden visibility; only names marked here are
 * exported from libcorio.so. */
#if defined(CORIO_BUILDING) && defined(__GNUC__)
#define CORIO_API __attribute__((visibility("default")))
#else
#define CORIO_API
#endif

#endif
