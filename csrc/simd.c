/*
 * simd.c -- the SIMD level of the kernels (see simd.h).
 */
#include "simd.h"

#ifdef PS_HAVE_SSE2
#include <emmintrin.h>
#endif
#ifdef PS_HAVE_AVX2
#include <immintrin.h>
#endif

#if !defined(__STDC_NO_ATOMICS__)
#include <stdatomic.h>
#define PS_ATOMIC_INT atomic_int
#define PS_LOAD(v) atomic_load_explicit(&(v), memory_order_relaxed)
#define PS_STORE(v, x) atomic_store_explicit(&(v), (x), memory_order_relaxed)
#else
#define PS_ATOMIC_INT volatile int
#define PS_LOAD(v) (v)
#define PS_STORE(v, x) ((v) = (x))
#endif

static PS_ATOMIC_INT best_level = -1; /* -1: the CPU not read yet */
static PS_ATOMIC_INT limit_level = PS_SIMD_AVX512;
static PS_ATOMIC_INT level_now = -1;  /* min(best, limit); -1: recompute */

static int detect(void)
{
    int level = PS_SIMD_PORTABLE;
#ifdef PS_HAVE_SSE2
    level = PS_SIMD_SSE2;
#endif
#ifdef PS_HAVE_AVX2
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2")) {
        level = PS_SIMD_AVX2;
#ifdef PS_HAVE_AVX512
        if (__builtin_cpu_supports("avx512f"))
            level = PS_SIMD_AVX512;
#endif
    }
#endif
    return level;
}

int ps_simd_best(void)
{
    int b = PS_LOAD(best_level);
    if (b < 0) {
        b = detect();
        PS_STORE(best_level, b);
    }
    return b;
}

int ps_simd_level(void)
{
    int b = ps_simd_best(), l = PS_LOAD(limit_level);
    return l < b ? l : b;
}

int ps_simd(void)
{
    int now = PS_LOAD(level_now);
    if (now < 0) {
        now = ps_simd_level();
        PS_STORE(level_now, now);
    }
    return now;
}

int ps_simd_set_limit(int level)
{
    if (level < PS_SIMD_PORTABLE || level > PS_SIMD_AVX512)
        return -1;
    PS_STORE(limit_level, level);
    PS_STORE(level_now, -1);
    return ps_simd_level();
}

#ifdef PS_HAVE_AVX2
PS_TARGET_AVX2 static int any_nan_avx2(const double *x, int64_t n)
{
    __m256d acc = _mm256_setzero_pd();
    int64_t i = 0;
    int bad;
    for (; i + 8 <= n; i += 8) {
        __m256d a = _mm256_loadu_pd(x + i), b = _mm256_loadu_pd(x + i + 4);
        acc = _mm256_or_pd(acc, _mm256_cmp_pd(a, b, _CMP_UNORD_Q));
    }
    bad = _mm256_movemask_pd(acc) != 0;
    for (; i < n; i++)
        bad |= x[i] != x[i];
    return bad;
}
#endif

int ps_any_nan(const double *x, int64_t n)
{
    int64_t i = 0;
    int bad = 0;
#ifdef PS_HAVE_AVX2
    if (ps_simd() >= PS_SIMD_AVX2)
        return any_nan_avx2(x, n);
#endif
#ifdef PS_HAVE_SSE2
    {
        __m128d acc = _mm_setzero_pd();
        for (; i + 4 <= n; i += 4) {
            __m128d a = _mm_loadu_pd(x + i), b = _mm_loadu_pd(x + i + 2);
            acc = _mm_or_pd(acc, _mm_cmpunord_pd(a, b));
        }
        bad = _mm_movemask_pd(acc) != 0;
    }
#endif
    for (; i < n; i++)
        bad |= x[i] != x[i];
    return bad;
}
