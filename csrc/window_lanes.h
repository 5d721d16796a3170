/*
 * window_lanes.h -- the vector loops of the moving sum / mean / var / std
 * (window.c), written once over a 4-lane vector type and compiled three
 * times: AVX2 (one 256-bit register), SSE2 (two 128-bit registers) and
 * portable C (four doubles).  Included by window.c only, after it defines
 * LV(name) (the variant's function name), LV_ATTR (its attributes) and the
 * vector operations:
 *
 *   V              the vector of lanes 0..3
 *   VLOAD(p)       p[0..3] (unaligned)          VSTORE(p, v)
 *   VSET1(x)       x in every lane
 *   VADD, VSUB, VMUL(a, b)  lane-wise IEEE operations
 *   VSQRT(a)       lane-wise IEEE square root
 *   VMAX0(a)       lane-wise (a < 0 ? 0 : a), NaN kept: max(0, a) with
 *                  the x86 rule "NaN -> second operand"
 *   VSH1/2/3(p, c) lanes [p1 p2 p3 c0] (3), [p2 p3 c0 c1] (2), [p3 c0 c1 c2] (1)
 *
 * The parameters are #undef'd at the end of this file.
 *
 * Every variant performs the same operations on the same lanes in the same
 * order, so all three give the same bits (window.c's scalar path computes
 * the same expressions record by record).
 *
 * The lane scheme (see window.c): A = the current block's lane sums (lane
 * = offset mod 4, values up to the offset), B = the previous block's lane
 * suffix sums (offsets from e on, in e's lane), C[r] = A[r] + B[r + 4] and
 * the window's sum at offset r is (C[r-3] + C[r-2]) + (C[r-1] + C[r]).
 */

/* nq quads of the prefix of a clean block: x[0 .. 4 nq) at offsets r .. r + 4 nq
   (r a multiple of 4), B = &suffix[r], lanes = A before x (updated).  Outputs
   the window sums (times `scale` when `mean`) into o. */
LV_ATTR static void LV(sum_quads)(const double *x, int64_t nq, double *o, double *lanes,
                                  const double *B, double scale, int mean)
{
    V a = VLOAD(lanes);
    V cp = VADD(a, VLOAD(B));
    const V sc = VSET1(scale);
    for (int64_t q = 0; q < nq; q++) {
        V c, t;
        a = VADD(a, VLOAD(x + 4 * q));
        c = VADD(a, VLOAD(B + 4 * q + 4));
        t = VADD(VADD(VSH3(cp, c), VSH2(cp, c)), VADD(VSH1(cp, c), c));
        if (mean)
            t = VMUL(t, sc);
        VSTORE(o + 4 * q, t);
        cp = c;
    }
    VSTORE(lanes, a);
}

/* The same for var / std: lanes[0..4) sums of d = x - K, lanes[4..8) of
   d * d; B1 / B2 the previous block's suffixes (same K); every window
   holds w records (iw = 1 / w, id = 1 / (w - ddof)). */
LV_ATTR static void LV(var_quads)(const double *x, int64_t nq, double *o, double *lanes,
                                  const double *B1, const double *B2, double K, double iw,
                                  double id, int isstd)
{
    V a1 = VLOAD(lanes), a2 = VLOAD(lanes + 4);
    V cp1 = VADD(a1, VLOAD(B1)), cp2 = VADD(a2, VLOAD(B2));
    const V kk = VSET1(K), vi = VSET1(iw), vd = VSET1(id);
    for (int64_t q = 0; q < nq; q++) {
        V d = VSUB(VLOAD(x + 4 * q), kk), c1, c2, S, Q, t;
        a1 = VADD(a1, d);
        a2 = VADD(a2, VMUL(d, d));
        c1 = VADD(a1, VLOAD(B1 + 4 * q + 4));
        c2 = VADD(a2, VLOAD(B2 + 4 * q + 4));
        S = VADD(VADD(VSH3(cp1, c1), VSH2(cp1, c1)), VADD(VSH1(cp1, c1), c1));
        Q = VADD(VADD(VSH3(cp2, c2), VSH2(cp2, c2)), VADD(VSH1(cp2, c2), c2));
        t = VMUL(VMAX0(VSUB(Q, VMUL(VMUL(S, S), vi))), vd);
        if (isstd)
            t = VSQRT(t);
        VSTORE(o + 4 * q, t);
        cp1 = c1;
        cp2 = c2;
    }
    VSTORE(lanes, a1);
    VSTORE(lanes + 4, a2);
}

/* Lane suffix sums of a clean block x[0 .. w): B[e] = x[e] + B[e + 4]
   from e = w - 1 down, B[w .. w + 4) given (zeros). */
LV_ATTR static void LV(suffix_sum)(const double *x, int64_t w, double *B)
{
    int64_t e = w - 4;
    if (e >= 0) {
        V b = VLOAD(B + w);
        for (; e >= 0; e -= 4) {
            b = VADD(VLOAD(x + e), b);
            VSTORE(B + e, b);
        }
    }
    for (e = e + 3; e >= 0; e--)
        B[e] = x[e] + B[e + 4];
}

/* The same for var: d = x - K, B1[e] = d + B1[e + 4], B2[e] = d * d + B2[e + 4]. */
LV_ATTR static void LV(suffix_var)(const double *x, int64_t w, double K, double *B1,
                                   double *B2)
{
    int64_t e = w - 4;
    if (e >= 0) {
        const V kk = VSET1(K);
        V b1 = VLOAD(B1 + w), b2 = VLOAD(B2 + w);
        for (; e >= 0; e -= 4) {
            V d = VSUB(VLOAD(x + e), kk);
            b1 = VADD(d, b1);
            b2 = VADD(VMUL(d, d), b2);
            VSTORE(B1 + e, b1);
            VSTORE(B2 + e, b2);
        }
    }
    for (e = e + 3; e >= 0; e--) {
        double d = x[e] - K;
        B1[e] = d + B1[e + 4];
        B2[e] = d * d + B2[e + 4];
    }
}

/* Small windows (window.c, "direct"): nq quads of outputs, output i being
   the sum of buf[i .. i + w) added oldest first (lane = output): w loads and
   w - 1 additions per 4 outputs, no state. */
LV_ATTR static void LV(direct_sum)(const double *buf, int64_t w, int64_t nq, double *o,
                                   double scale, int mean)
{
    const V sc = VSET1(scale);
    for (int64_t q = 0; q < nq; q++) {
        const double *b = buf + 4 * q;
        V acc = VLOAD(b);
        for (int64_t k = 1; k < w; k++)
            acc = VADD(acc, VLOAD(b + k));
        if (mean)
            acc = VMUL(acc, sc);
        VSTORE(o + 4 * q, acc);
    }
}

/* The same for var / std, shifted by each window's newest value K:
   S = sum(x - K), Q = sum((x - K)^2), M2 = Q - S*S/w. */
LV_ATTR static void LV(direct_var)(const double *buf, int64_t w, int64_t nq, double *o,
                                   double iw, double id, int isstd)
{
    const V vi = VSET1(iw), vd = VSET1(id);
    for (int64_t q = 0; q < nq; q++) {
        const double *b = buf + 4 * q;
        const V K = VLOAD(b + w - 1);
        V d = VSUB(VLOAD(b), K), S = d, Q = VMUL(d, d), t;
        for (int64_t k = 1; k < w; k++) {
            d = VSUB(VLOAD(b + k), K);
            S = VADD(S, d);
            Q = VADD(Q, VMUL(d, d));
        }
        t = VMUL(VMAX0(VSUB(Q, VMUL(VMUL(S, S), vi))), vd);
        if (isstd)
            t = VSQRT(t);
        VSTORE(o + 4 * q, t);
    }
}

#undef V
#undef VLOAD
#undef VSTORE
#undef VSET1
#undef VADD
#undef VSUB
#undef VMUL
#undef VSQRT
#undef VMAX0
#undef VSH1
#undef VSH2
#undef VSH3
#undef LV
#undef LV_ATTR
