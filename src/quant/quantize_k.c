/*
 * quantize_k.c -- row quantizers of the 256-element super-block types: Q2_K Q3_K Q4_K Q5_K
 * Q6_K, Q8_K (ggml's activation format) and the ternary TQ1_0 / TQ2_0.
 *
 * Without an importance matrix each follows ggml's quantize_row_*_ref, with one its
 * quantize_row_*_impl (FORMATS.md A2.3 "K-quant super-blocks"); the searches are in
 * quantize_helpers.c. Shape of every K-quant: a scale (and min) search per sub-block, the
 * sub-scales quantized against one fp16 super-scale, then the codes re-derived from the
 * *rounded* fp16 super-scale times the integer sub-scale by division (x / d_eff), skipping
 * sub-blocks whose d_eff is 0 (they keep the search's codes). The packing of codes and
 * scales is ggml-common.h's (FORMATS.md A2.1); it is written byte by byte.
 *
 * Importance-matrix weights are imatrix[j] * sqrt(sigma2 + x[j]^2) with sigma2 the mean
 * square of the super-block (times 2 for Q3_K, Q4_K, Q5_K; times 1 for Q2_K); Q6_K uses the
 * imatrix values directly. TQ1_0 / TQ2_0 / Q8_K ignore it.
 */
#include "quant.h"

/* ============================================================================================
 * Packing helpers
 * ========================================================================================== */

/* Q2_K / Q3_K low bits: per 128-element half, byte l holds elements l, l+32, l+64, l+96 in
 * bit pairs 0, 2, 4, 6. */
static void pack_2bit(const uint8_t *L, uint8_t *qs)
{
    for (int j = 0; j < 256; j += 128)
        for (int l = 0; l < 32; l++)
            qs[j / 4 + l] = (uint8_t)(L[j + l] | (L[j + l + 32] << 2) | (L[j + l + 64] << 4) |
                                      (L[j + l + 96] << 6));
}

/* Q4_K / Q5_K 6-bit scale and min codes into the 12-byte scales field (get_scale_min_k4's
 * inverse). */
static void pack_scales_k4(const uint8_t *ls, const uint8_t *lm, uint8_t *s)
{
    for (int j = 0; j < 8; j++) {
        if (j < 4) {
            s[j]     = ls[j];
            s[j + 4] = lm[j];
        } else {
            s[j + 4] = (uint8_t)((ls[j] & 0xF) | ((lm[j] & 0xF) << 4));
            s[j - 4] |= (uint8_t)((ls[j] >> 4) << 6);
            s[j] |= (uint8_t)((lm[j] >> 4) << 6);
        }
    }
}

static void scale_min_k4(int j, const uint8_t *q, uint8_t *d, uint8_t *m)
{
    if (j < 4) {
        *d = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *d = (uint8_t)((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
        *m = (uint8_t)((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
    }
}

static inline int clampi(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

/* ============================================================================================
 * Q2_K: scales[16] | qs[64] | d | dmin
 * ========================================================================================== */

static void q2_k_finish(const float *x, uint8_t *y, uint8_t *L)
{
    const float d_all = ferry__get_f16(y + 80);
    const float m_all = ferry__get_f16(y + 82);
    for (int j = 0; j < 16; j++) {
        const float d = d_all * (float)(y[j] & 0xF);
        if (d == 0.f) continue;
        const float dm = m_all * (float)(y[j] >> 4);
        for (int ii = 0; ii < 16; ii++)
            L[16 * j + ii] = (uint8_t)clampi(ferry__nearest_int((x[16 * j + ii] + dm) / d), 0, 3);
    }
    pack_2bit(L, y + 16);
}

static void q2_k_row(const float *x, uint8_t *y, int64_t n, const float *qw, const void *st)
{
    (void)st;
    uint8_t L[256];
    uint8_t Laux[16];
    float   weight[16];
    float   mins[16];
    float   scales[16];
    for (int64_t ib = 0; ib < n / 256; ib++, x += 256, y += 84) {
        if (qw) {
            const float *qb = qw + 256 * ib;
            float sw[16];
            uint8_t Ls[16], Lm[16];
            float sumx2 = 0;
            for (int j = 0; j < 256; j++) sumx2 += x[j] * x[j];
            float sigma2 = sumx2 / 256;
            for (int j = 0; j < 16; j++) {
                for (int l = 0; l < 16; l++)
                    weight[l] = qb[16 * j + l] * sqrtf(sigma2 + x[16 * j + l] * x[16 * j + l]);
                sw[j] = 0;
                for (int l = 0; l < 16; l++) sw[j] += weight[l];
                scales[j] = ferry__make_qkx3(16, 3, x + 16 * j, weight, L + 16 * j, &mins[j],
                                             Laux, -0.9f, 0.05f, 36, false);
            }
            float dm = ferry__make_qp(16, 15, scales, Ls, sw);
            float mm = ferry__make_qp(16, 15, mins, Lm, sw);
            ferry__put_f16(y + 80, dm);
            ferry__put_f16(y + 82, mm);
            for (int j = 0; j < 16; j++) y[j] = (uint8_t)(Ls[j] | (Lm[j] << 4));
            q2_k_finish(x, y, L);
            continue;
        }
        float max_scale = 0;
        float max_min   = 0;
        for (int j = 0; j < 16; j++) {
            for (int l = 0; l < 16; l++) weight[l] = fabsf(x[16 * j + l]);
            scales[j] = ferry__make_qkx2(16, 3, x + 16 * j, weight, L + 16 * j, &mins[j], Laux,
                                         -0.5f, 0.1f, 15, true);
            if (scales[j] > max_scale) max_scale = scales[j];
            if (mins[j] > max_min) max_min = mins[j];
        }
        if (max_scale > 0) {
            float iscale = 15.f / max_scale;
            for (int j = 0; j < 16; j++) y[j] = (uint8_t)ferry__nearest_int(iscale * scales[j]);
            ferry__put_f16(y + 80, max_scale / 15.f);
        } else {
            memset(y, 0, 16);
            ferry__put_f16(y + 80, 0.f);
        }
        if (max_min > 0) {
            float iscale = 15.f / max_min;
            for (int j = 0; j < 16; j++)
                y[j] |= (uint8_t)((unsigned)ferry__nearest_int(iscale * mins[j]) << 4);
            ferry__put_f16(y + 82, max_min / 15.f);
        } else {
            ferry__put_f16(y + 82, 0.f);
        }
        q2_k_finish(x, y, L);
    }
}

/* ============================================================================================
 * Q3_K: hmask[32] | qs[64] | scales[12] | d
 * ========================================================================================== */

/* Stores the 6-bit code l (0..63) of sub-block j: low nibbles in scales[0..7], high bit
 * pairs in scales[8..11]. */
static void q3_put_scale(uint8_t *s, int j, int l)
{
    if (j < 8)
        s[j] = (uint8_t)(l & 0xF);
    else
        s[j - 8] |= (uint8_t)((l & 0xF) << 4);
    s[j % 4 + 8] |= (uint8_t)((l >> 4) << (2 * (j / 4)));
}

static void q3_k_finish(const float *x, uint8_t *y, int8_t *L)
{
    const uint8_t *s    = y + 96;
    const float    dall = ferry__get_f16(y + 108);
    for (int j = 0; j < 16; j++) {
        int sc = j < 8 ? s[j] & 0xF : s[j - 8] >> 4;
        sc     = (sc | (((s[8 + j % 4] >> (2 * (j / 4))) & 3) << 4)) - 32;
        float d = dall * (float)sc;
        if (d == 0.f) continue;
        for (int ii = 0; ii < 16; ii++)
            L[16 * j + ii] = (int8_t)(clampi(ferry__nearest_int(x[16 * j + ii] / d), -4, 3) + 4);
    }
    /* High bits: element j's third bit goes to hmask[j % 32], bit j / 32. */
    uint8_t *hmask = y;
    memset(hmask, 0, 32);
    uint8_t Lu[256];
    for (int j = 0; j < 256; j++) {
        int l = L[j];
        if (l > 3) {
            hmask[j % 32] |= (uint8_t)(1u << (j / 32));
            l -= 4;
        }
        Lu[j] = (uint8_t)l;
    }
    pack_2bit(Lu, y + 32);
}

static void q3_k_row(const float *x, uint8_t *y, int64_t n, const float *qw, const void *st)
{
    (void)st;
    int8_t L[256];
    float  scales[16];
    for (int64_t ib = 0; ib < n / 256; ib++, x += 256, y += 110) {
        uint8_t *s = y + 96;
        memset(s, 0, 12);
        if (qw) {
            const float *qb = qw + 256 * ib;
            float weight[16], sw[16];
            int8_t Ls[16];
            float sumx2 = 0;
            for (int j = 0; j < 256; j++) sumx2 += x[j] * x[j];
            float sigma2 = 2 * sumx2 / 256;
            for (int j = 0; j < 16; j++) {
                for (int l = 0; l < 16; l++)
                    weight[l] = qb[16 * j + l] * sqrtf(sigma2 + x[16 * j + l] * x[16 * j + l]);
                float sumw = 0;
                for (int l = 0; l < 16; l++) sumw += weight[l];
                sw[j]     = sumw;
                scales[j] = ferry__make_qx(16, 4, x + 16 * j, L + 16 * j, weight);
            }
            float d_block = ferry__make_qx(16, 32, scales, Ls, sw);
            for (int j = 0; j < 16; j++) q3_put_scale(s, j, Ls[j]);
            ferry__put_f16(y + 108, d_block);
            q3_k_finish(x, y, L);
            continue;
        }
        float max_scale = 0;
        float amax      = 0;
        for (int j = 0; j < 16; j++) {
            scales[j]   = ferry__make_q3(16, 4, x + 16 * j, L + 16 * j);
            float scale = fabsf(scales[j]);
            if (scale > amax) {
                amax      = scale;
                max_scale = scales[j];
            }
        }
        if (max_scale != 0.f) {
            float iscale = -32.f / max_scale;
            for (int j = 0; j < 16; j++) {
                /* ggml keeps the rounded value in an int8_t before clamping. */
                int l = (int8_t)ferry__nearest_int(iscale * scales[j]);
                q3_put_scale(s, j, clampi(l, -32, 31) + 32);
            }
            ferry__put_f16(y + 108, 1 / iscale);
        } else {
            ferry__put_f16(y + 108, 0.f);
        }
        q3_k_finish(x, y, L);
    }
}

/* ============================================================================================
 * Q4_K: d | dmin | scales[12] | qs[128];  Q5_K: d | dmin | scales[12] | qh[32] | qs[128]
 * ========================================================================================== */

/* The 32-element sub-block searches of Q4_K (nmax 15) and Q5_K (nmax 31), with the scale
 * codes packed into y + 4 and d / dmin into y, y + 2. Leaves the codes in L. */
static void q45_k_scales(const float *x, uint8_t *y, const float *qb, int nmax, uint8_t *L)
{
    uint8_t Laux[32];
    float   weights[32];
    float   mins[8];
    float   scales[8];
    uint8_t ls[8], lm[8];
    memset(y + 4, 0, 12);
    if (qb) {
        float sw[8];
        float sum_x2 = 0;
        for (int l = 0; l < 256; l++) sum_x2 += x[l] * x[l];
        float sigma2 = 2 * sum_x2 / 256;
        for (int j = 0; j < 8; j++) {
            for (int l = 0; l < 32; l++)
                weights[l] = qb[32 * j + l] * sqrtf(sigma2 + x[32 * j + l] * x[32 * j + l]);
            float sumw = 0;
            for (int l = 0; l < 32; l++) sumw += weights[l];
            sw[j]     = sumw;
            scales[j] = ferry__make_qkx3(32, nmax, x + 32 * j, weights, L + 32 * j, &mins[j],
                                         Laux, -0.9f, 0.05f, 36, false);
        }
        float d_block = ferry__make_qp(8, 63, scales, ls, sw);
        float m_block = ferry__make_qp(8, 63, mins, lm, sw);
        for (int j = 0; j < 8; j++) {
            ls[j] = ls[j] < 63 ? ls[j] : 63;
            lm[j] = lm[j] < 63 ? lm[j] : 63;
        }
        pack_scales_k4(ls, lm, y + 4);
        ferry__put_f16(y, d_block);
        ferry__put_f16(y + 2, m_block);
        return;
    }
    float max_scale = 0;
    float max_min   = 0;
    for (int j = 0; j < 8; j++) {
        float sum_x2 = 0;
        for (int l = 0; l < 32; l++) sum_x2 += x[32 * j + l] * x[32 * j + l];
        float av_x = sqrtf(sum_x2 / 32);
        for (int l = 0; l < 32; l++) weights[l] = av_x + fabsf(x[32 * j + l]);
        if (nmax == 15)
            scales[j] = ferry__make_qkx2(32, 15, x + 32 * j, weights, L + 32 * j, &mins[j], Laux,
                                         -1.f, 0.1f, 20, false);
        else
            scales[j] = ferry__make_qkx2(32, 31, x + 32 * j, weights, L + 32 * j, &mins[j], Laux,
                                         -0.5f, 0.1f, 15, false);
        if (scales[j] > max_scale) max_scale = scales[j];
        if (mins[j] > max_min) max_min = mins[j];
    }
    float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
    float inv_min   = max_min > 0 ? 63.f / max_min : 0.f;
    for (int j = 0; j < 8; j++) {
        uint8_t a = (uint8_t)ferry__nearest_int(inv_scale * scales[j]);
        uint8_t b = (uint8_t)ferry__nearest_int(inv_min * mins[j]);
        ls[j] = a < 63 ? a : 63;
        lm[j] = b < 63 ? b : 63;
    }
    pack_scales_k4(ls, lm, y + 4);
    ferry__put_f16(y, max_scale / 63.f);
    ferry__put_f16(y + 2, max_min / 63.f);
}

/* Re-derives the codes from the stored scales (ggml's final loop of Q4_K / Q5_K). */
static void q45_k_requant(const float *x, const uint8_t *y, int nmax, uint8_t *L)
{
    const float d_all = ferry__get_f16(y);
    const float m_all = ferry__get_f16(y + 2);
    for (int j = 0; j < 8; j++) {
        uint8_t sc, m;
        scale_min_k4(j, y + 4, &sc, &m);
        const float d = d_all * (float)sc;
        if (d == 0.f) continue;
        const float dm = m_all * (float)m;
        for (int ii = 0; ii < 32; ii++)
            L[32 * j + ii] =
                (uint8_t)clampi(ferry__nearest_int((x[32 * j + ii] + dm) / d), 0, nmax);
    }
}

static void q4_k_row(const float *x, uint8_t *y, int64_t n, const float *qw, const void *st)
{
    (void)st;
    uint8_t L[256];
    for (int64_t ib = 0; ib < n / 256; ib++, x += 256, y += 144) {
        q45_k_scales(x, y, qw ? qw + 256 * ib : NULL, 15, L);
        q45_k_requant(x, y, 15, L);
        uint8_t *q = y + 16;
        for (int j = 0; j < 256; j += 64, q += 32)
            for (int l = 0; l < 32; l++) q[l] = (uint8_t)(L[j + l] | (L[j + l + 32] << 4));
    }
}

static void q5_k_row(const float *x, uint8_t *y, int64_t n, const float *qw, const void *st)
{
    (void)st;
    uint8_t L[256];
    for (int64_t ib = 0; ib < n / 256; ib++, x += 256, y += 176) {
        q45_k_scales(x, y, qw ? qw + 256 * ib : NULL, 31, L);
        q45_k_requant(x, y, 31, L);
        uint8_t *qh = y + 16;
        uint8_t *ql = y + 48;
        memset(qh, 0, 32);
        uint8_t m1 = 1, m2 = 2;
        for (int k = 0; k < 256; k += 64, ql += 32) {
            for (int j = 0; j < 32; j++) {
                int l1 = L[k + j];
                int l2 = L[k + j + 32];
                if (l1 > 15) {
                    l1 -= 16;
                    qh[j] |= m1;
                }
                if (l2 > 15) {
                    l2 -= 16;
                    qh[j] |= m2;
                }
                ql[j] = (uint8_t)(l1 | (l2 << 4));
            }
            m1 = (uint8_t)(m1 << 2);
            m2 = (uint8_t)(m2 << 2);
        }
    }
}

/* ============================================================================================
 * Q6_K: ql[128] | qh[64] | scales[16] (int8) | d
 * ========================================================================================== */

static void q6_k_row(const float *x, uint8_t *y, int64_t n, const float *qw, const void *st)
{
    (void)st;
    int8_t L[256];
    float  scales[16];
    for (int64_t ib = 0; ib < n / 256; ib++, x += 256, y += 210) {
        float max_scale     = 0;
        float max_abs_scale = 0;
        for (int j = 0; j < 16; j++) {
            const float scale =
                ferry__make_qx(16, 32, x + 16 * j, L + 16 * j, qw ? qw + 256 * ib + 16 * j : NULL);
            scales[j] = scale;
            const float abs_scale = fabsf(scale);
            if (abs_scale > max_abs_scale) {
                max_abs_scale = abs_scale;
                max_scale     = scale;
            }
        }
        if (max_abs_scale < FERRY__GROUP_MAX_EPS) {
            memset(y, 0, 210);
            continue;
        }
        float iscale = -128.f / max_scale;
        ferry__put_f16(y + 208, 1 / iscale);
        int8_t *sc = (int8_t *)(y + 192);
        for (int j = 0; j < 16; j++) {
            int l = ferry__nearest_int(iscale * scales[j]);
            sc[j] = (int8_t)(l < 127 ? l : 127);
        }
        const float dall = ferry__get_f16(y + 208);
        for (int j = 0; j < 16; j++) {
            float d = dall * (float)sc[j];
            if (d == 0.f) continue;
            for (int ii = 0; ii < 16; ii++)
                L[16 * j + ii] =
                    (int8_t)(clampi(ferry__nearest_int(x[16 * j + ii] / d), -32, 31) + 32);
        }
        uint8_t *ql = y;
        uint8_t *qh = y + 128;
        for (int j = 0; j < 256; j += 128, ql += 64, qh += 32) {
            for (int l = 0; l < 32; l++) {
                const int q1 = L[j + l], q2 = L[j + l + 32], q3 = L[j + l + 64], q4 = L[j + l + 96];
                ql[l]      = (uint8_t)((q1 & 0xF) | ((q3 & 0xF) << 4));
                ql[l + 32] = (uint8_t)((q2 & 0xF) | ((q4 & 0xF) << 4));
                qh[l]      = (uint8_t)((q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) |
                                       ((q4 >> 4) << 6));
            }
        }
    }
}

/* ============================================================================================
 * Q8_K: d (f32) | qs[256] | bsums[16] (int16)  -- ggml's activation format, no golden data
 * ========================================================================================== */

static void q8_k_row(const float *x, uint8_t *y, int64_t n, const float *qw, const void *st)
{
    (void)qw;
    (void)st;
    for (int64_t ib = 0; ib < n / 256; ib++, x += 256, y += 292) {
        float amax;
        float max = ferry__signed_max(x, 256, &amax);
        if (amax == 0.f) {
            /* ggml zeroes d and qs and leaves bsums unwritten; we zero them too. */
            memset(y, 0, 292);
            continue;
        }
        const float iscale = -127.f / max;
        for (int j = 0; j < 256; j++) {
            int v = ferry__nearest_int(iscale * x[j]);
            y[4 + j] = (uint8_t)(int8_t)(v < 127 ? v : 127);
        }
        for (int j = 0; j < 16; j++) {
            int sum = 0;
            for (int ii = 0; ii < 16; ii++) sum += (int8_t)y[4 + 16 * j + ii];
            ferry__wr16le(y + 260 + 2 * j, (uint16_t)(int16_t)sum);
        }
        float d = 1 / iscale;
        uint32_t bits;
        memcpy(&bits, &d, 4);
        ferry__wr32le(y, bits);
    }
}

/* ============================================================================================
 * TQ1_0: qs[48] | qh[4] | d;  TQ2_0: qs[64] | d
 * ========================================================================================== */

/* Trit of x at inverse scale id: lroundf(x * id) + 1 in {0, 1, 2} for finite input. */
static inline int trit_of(float v)
{
    long r = lroundf(v >= -2.f && v <= 2.f ? v : 0.f);
    return (int)r + 1;
}

static float absmax256(const float *x)
{
    float amax = 0.0f;
    for (int j = 0; j < 256; j++) {
        float a = fabsf(x[j]);
        amax = amax > a ? amax : a;
    }
    return amax;
}

/* Five (or four, then a shift) base-3 digits, first digit most significant, stored as
 * ceil(v * 256 / 243) so that the decoder can peel digits with multiplications. */
static void tq1_0_row(const float *x, uint8_t *y, int64_t n, const float *qw, const void *st)
{
    (void)qw;
    (void)st;
    for (int64_t ib = 0; ib < n / 256; ib++, y += 54) {
        const float d  = absmax256(x);
        const float id = d != 0.f ? 1.0f / d : 0.0f;
        ferry__put_f16(y + 52, d);
        for (int m = 0; m < 32; m++) {
            unsigned q = 0;
            for (int k = 0; k < 5; k++)
                q = (uint8_t)(q * 3 + (unsigned)trit_of(x[m + 32 * k] * id));
            y[m] = (uint8_t)((q * 256 + 242) / 243);
        }
        x += 160;
        for (int m = 0; m < 16; m++) {
            unsigned q = 0;
            for (int k = 0; k < 5; k++)
                q = (uint8_t)(q * 3 + (unsigned)trit_of(x[m + 16 * k] * id));
            y[32 + m] = (uint8_t)((q * 256 + 242) / 243);
        }
        x += 80;
        for (int j = 0; j < 4; j++) {
            unsigned q = 0;
            for (int k = 0; k < 4; k++) q = (uint8_t)(q * 3 + (unsigned)trit_of(x[j + 4 * k] * id));
            q = (uint8_t)(q * 3);
            y[48 + j] = (uint8_t)((q * 256 + 242) / 243);
        }
        x += 16;
    }
}

static void tq2_0_row(const float *x, uint8_t *y, int64_t n, const float *qw, const void *st)
{
    (void)qw;
    (void)st;
    for (int64_t ib = 0; ib < n / 256; ib++, y += 66) {
        const float d  = absmax256(x);
        const float id = d != 0.f ? 1.0f / d : 0.0f;
        ferry__put_f16(y + 64, d);
        for (int j = 0; j < 64; j += 32, x += 128) {
            for (int m = 0; m < 32; m++) {
                unsigned q = 0;
                for (int k = 0; k < 4; k++)
                    q += (unsigned)(trit_of(x[m + 32 * k] * id) & 3) << (2 * k);
                y[j + m] = (uint8_t)q;
            }
        }
    }
}

/* ============================================================================================
 * Dispatch
 * ========================================================================================== */

ferry__qrow_fn ferry__qrow_kquant(int id)
{
    switch (id) {
    case 10: return q2_k_row;
    case 11: return q3_k_row;
    case 12: return q4_k_row;
    case 13: return q5_k_row;
    case 14: return q6_k_row;
    case 15: return q8_k_row;
    case 34: return tq1_0_row;
    case 35: return tq2_0_row;
    default: return NULL;
    }
}
