/*
 * simd.h -- which SIMD kernels run: the one run-time dispatch of the C core.
 *
 * Every kernel that has SIMD variants asks ps_simd() for the level to use
 * and calls the variant of that level.  All variants of a kernel perform
 * the same IEEE operations in the same order (only the number of lanes
 * computed per instruction differs), so the level never changes a result
 * bit; the C tests check this by comparing fingerprints of builds with
 * -DPS_NO_AVX2 and -DPS_NO_SIMD, and the Python tests by running the suite's
 * kernels at every level (ps_simd_set_limit).
 *
 * Levels (public values in pystream.h): PS_SIMD_PORTABLE (plain C loops),
 * PS_SIMD_SSE2 (the x86-64 baseline), PS_SIMD_AVX2, PS_SIMD_AVX512 (AVX-512F).
 * The level in use is the lowest of: what the build compiled (-DPS_NO_SIMD:
 * portable; -DPS_NO_AVX2: SSE2 at most; -DPS_NO_AVX512: AVX2 at most),
 * what the CPU supports (cpuid, once), and the limit set by
 * ps_simd_set_limit (the Python package sets it from PYSTREAM_SIMD).
 *
 * Variants are written for GCC and clang on x86-64 (the target attribute
 * compiles an AVX2 function in a baseline build); elsewhere only the
 * portable level exists and the C compiler vectorizes what it can.
 */
#ifndef PYSTREAM_SIMD_H
#define PYSTREAM_SIMD_H

#include "pystream.h"

#if defined(__SSE2__) && defined(__x86_64__) && !defined(PS_NO_SIMD)
#define PS_HAVE_SSE2 1
#endif
#if defined(PS_HAVE_SSE2) && defined(__GNUC__) && !defined(PS_NO_AVX2)
#define PS_HAVE_AVX2 1
#define PS_TARGET_AVX2 __attribute__((target("avx2")))
#endif
#if defined(PS_HAVE_AVX2) && !defined(PS_NO_AVX512)
#define PS_HAVE_AVX512 1
#define PS_TARGET_AVX512 __attribute__((target("avx512f")))
#endif

/* The level kernels use now (see above).  Cheap: one relaxed atomic load
   once the CPU has been read. */
int ps_simd(void);

/* Whether x[0 .. n) holds a NaN (read only; AVX2 or SSE2 by ps_simd()). */
int ps_any_nan(const double *x, int64_t n);

#endif /* PYSTREAM_SIMD_H */
