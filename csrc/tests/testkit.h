/*
 * testkit.h -- what every C test program shares: pass/fail counters, the
 * CHECK macro (reports the first failures, counts them all) and a
 * deterministic xorshift64* generator (no libc rand(), same data on every
 * platform).  Each program prints "N passed, M failed" and exits non-zero
 * on failure.
 */
#ifndef PYSTREAM_TESTKIT_H
#define PYSTREAM_TESTKIT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

static int passed, failed;

#define CHECK(cond)                                                            \
    do {                                                                       \
        if (cond) {                                                            \
            passed++;                                                          \
        } else {                                                               \
            failed++;                                                          \
            if (failed <= 50)                                                  \
                fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__,         \
                        __LINE__, #cond);                                      \
        }                                                                      \
    } while (0)

/* CHECK with a printf-style context line on the first failures. */
#define CHECK_CTX(cond, ...)                                                   \
    do {                                                                       \
        if (cond) {                                                            \
            passed++;                                                          \
        } else {                                                               \
            failed++;                                                          \
            if (failed <= 50) {                                                \
                fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__,         \
                        __LINE__, #cond);                                      \
                fprintf(stderr, __VA_ARGS__);                                  \
                fputc('\n', stderr);                                           \
            }                                                                  \
        }                                                                      \
    } while (0)

static uint64_t rng_state = 88172645463325252ull;

static inline uint64_t rnd(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 2685821657736338717ull;
}

/* Uniform in [0, 1). */
static inline double rnd_unit(void) { return (double)(rnd() >> 11) / 9007199254740992.0; }

/* Approximately standard normal (Irwin-Hall of 12 uniforms). */
static inline double rnd_normal(void)
{
    double s = 0;
    for (int k = 0; k < 12; k++)
        s += rnd_unit();
    return s - 6.0;
}

/* The fingerprint of a test's results (FNV-1a 64 over their bytes): builds
   with -DPS_NO_AVX2 / -DPS_NO_SIMD must print the same (`make ctest`). */
static inline uint64_t *fp_state(void)
{
    static uint64_t h = 1469598103934665603ull;
    return &h;
}

static inline void fp_mix(const void *p, size_t n)
{
    const unsigned char *b = p;
    uint64_t *h = fp_state();
    for (size_t i = 0; i < n; i++) {
        *h ^= b[i];
        *h *= 1099511628211ull;
    }
}

static inline int report(void)
{
    printf("%d passed, %d failed\n", passed, failed);
    return failed != 0;
}

#endif /* PYSTREAM_TESTKIT_H */
