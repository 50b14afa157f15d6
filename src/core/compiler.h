/* Small compiler helpers shared by every layer. */
#ifndef CORIO_CORE_COMPILER_H
#define CORIO_CORE_COMPILER_H

#define corio__likely(x) __builtin_expect(!!(x), 1)
#define corio__unlikely(x) __builtin_expect(!!(x), 0)
#define corio__noinline __attribute__((noinline))
#define corio__cold __attribute__((cold, noinline))
#define corio__noreturn __attribute__((noreturn))

#define corio__container_of(ptr, type, member)                                 \
  ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

/* Per-thread state is reached on every switch; initial-exec TLS avoids a
 * __tls_get_addr call per access inside the shared library. */
#define corio__thread_local                                                    \
  _Thread_local __attribute__((tls_model("initial-exec")))

#if defined(__SANITIZE_THREAD__)
#define CORIO_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define CORIO_TSAN 1
#endif
#endif

#if defined(__SANITIZE_ADDRESS__)
#define CORIO_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CORIO_ASAN 1
#endif
#endif

#endif
