/*
 * quantize_legacy.c -- row quantizers of the small-block GGML types: Q4_0 Q4_1 Q5_0 Q5_1
 * Q8_0 Q8_1 (32), MXFP4 (32), NVFP4 (64), Q1_0 (128), Q2_0 (64).
 *
 * Without an importance matrix these are ggml's quantize_row_*_ref functions (FORMATS.md
 * A2.3 "Legacy types"); with one, Q4_0/Q4_1/Q5_0/Q5_1 follow quantize_row_q*_impl, whose
 * weights are imatrix[j] * sqrt(sigma2 + x[j]^2) with sigma2 the mean square of the *whole
 * row* (FORMATS.md golden README, "Things that trip up reimplementations"), then a scale
 * search (make_qx_quants for the symmetric types, make_qkx3_quants for the ones with a min).
 * The other types ignore the importance matrix, as ggml_quantize_chunk does.
 *
 * Byte-level decisions that are easy to get wrong:
 *   - the reference paths quantize with the unrounded fp32 scale and store fp16(d);
 *   - Q4_x/Q5_x codes are truncations of (v + 8.5) etc. (round half up), Q8_x and Q2_0 use
 *     roundf (half away from zero), FORMATS.md A2.3;
 *   - an all-zero Q4_0/Q5_0 block stores d = -0.0 (max / -8 with max = +0);
 *   - the MXFP4 exponent is (uint8)(floor(log2(amax)) - 2 + 127), which for amax below 2^-125
 *     is a negative number that ggml's x86 build wraps modulo 256 (the float is converted
 *     through a 32-bit integer); we do that wrap explicitly.
 * Blocks are written byte by byte with the little-endian helpers, never through structs.
 */
#include "quant.h"
#include "iq_tables.h"

/* ============================================================================================
 * Q4_0, Q4_1, Q5_0, Q5_1
 * ========================================================================================== */

/* Mean square of the whole row, accumulated left to right (sigma2 of the _impl paths). */
static float row_sigma2(const float *x, int64_t n)
{
    float sum_x2 = 0;
    for (int64_t j = 0; j < n; j++) sum_x2 += x[j] * x[j];
    return sum_x2 / (float)n;
}

static void imat_weights(const float *xb, const float *qw, float sigma2, float *w)
{
    for (int j = 0; j < 32; j++) w[j] = qw[j] * sqrtf(sigma2 + xb[j] * xb[j]);
}

/* Packs 32 five-bit codes as Q5_x does: low nibbles in qs (element j and j + 16 share a
 * byte), fifth bits in the little-endian qh word (bit j for element j). */
static void pack_q5(const uint8_t *L, uint8_t *qh_out, uint8_t *qs)
{
    uint32_t qh = 0;
    for (int j = 0; j < 16; j++) {
        qs[j] = (uint8_t)((L[j] & 0x0F) | ((L[j + 16] & 0x0F) << 4));
        qh |= (uint32_t)((L[j] & 0x10u) >> 4) << j;
        qh |= (uint32_t)((L[j + 16] & 0x10u) >> 4) << (j + 16);
    }
    ferry__wr32le(qh_out, qh);
}

static void q4_0_row(const float *x, uint8_t *y, int64_t n, const float *qw, const void *st)
{
    (void)st;
    if (qw) {
        float  w[32];
        int8_t L[32];
        float  sigma2 = row_sigma2(x, n);
        for (int64_t ib = 0; ib < n / 32; ib++, y += 18) {
            imat_weights(x + 32 * ib, qw + 32 * ib, sigma2, w);
            float d = ferry__make_qx(32, 8, x + 32 * ib, L, w);
            ferry__put_f16(y, d);
            for (int j = 0; j < 16; j++) y[2 + j] = (uint8_t)(L[j] | (L[j + 16] << 4));
        }
        return;
    }
    for (int64_t ib = 0; ib < n / 32; ib++, x += 32, y += 18) {
        float amax;
        float max = ferry__signed_max(x, 32, &amax);
        const float d  = max / -8;
        const float id = d != 0.f ? 1.0f / d : 0.0f;
        ferry__put_f16(y, d);
        for (int j = 0; j < 16; j++) {
            int     q0 = (int8_t)ferry__cvt_i32(x[j] * id + 8.5f);
            int     q1 = (int8_t)ferry__cvt_i32(x[j + 16] * id + 8.5f);
            uint8_t c0 = (uint8_t)(q0 < 15 ? q0 : 15);
            uint8_t c1 = (uint8_t)(q1 < 15 ? q1 : 15);
            y[2 + j]   = (uint8_t)(c0 | c1 << 4);
        }
    }
}

static void q4_1_row(const float *x, uint8_t *y, int64_t n, const float *qw, const void *st)
{
    (void)st;
    if (qw) {
        float   w[32];
        uint8_t L[32], Laux[32];
        float   sigma2 = row_sigma2(x, n);
        for (int64_t ib = 0; ib < n / 32; ib++, y += 20) {
            imat_weights(x + 32 * ib, qw + 32 * ib, sigma2, w);
            float min;
            float d = ferry__make_qkx3(32, 15, x + 32 * ib, w, L, &min, Laux, -0.9f, 0.05f, 36,
                                       false);
            ferry__put_f16(y, d);
            ferry__put_f16(y + 2, -min);
            for (int j = 0; j < 16; j++) y[4 + j] = (uint8_t)(L[j] | (L[j + 16] << 4));
        }
        return;
    }
    for (int64_t ib = 0; ib < n / 32; ib++, x += 32, y += 20) {
        float min = 3.40282347e+38f, max = -3.40282347e+38f; /* FLT_MAX */
        for (int j = 0; j < 32; j++) {
            if (x[j] < min) min = x[j];
            if (x[j] > max) max = x[j];
        }
        const float d  = (max - min) / 15;
        const float id = d != 0.f ? 1.0f / d : 0.0f;
        ferry__put_f16(y, d);
        ferry__put_f16(y + 2, min);
        for (int j = 0; j < 16; j++) {
            int     q0 = (int8_t)ferry__cvt_i32((x[j] - min) * id + 0.5f);
            int     q1 = (int8_t)ferry__cvt_i32((x[j + 16] - min) * id + 0.5f);
            uint8_t c0 = (uint8_t)(q0 < 15 ? q0 : 15);
            uint8_t c1 = (uint8_t)(q1 < 15 ? q1 : 15);
            y[4 + j]   = (uint8_t)(c0 | c1 << 4);
        }
    }
}

static void q5_0_row(const float *x, uint8_t *y, int64_t n, const float *qw, const void *st)
{
    (void)st;
    uint8_t L[32];
    if (qw) {
        float  w[32];
        int8_t Ls[32];
        float  sigma2 = row_sigma2(x, n);
        for (int64_t ib = 0; ib < n / 32; ib++, y += 22) {
            imat_weights(x + 32 * ib, qw + 32 * ib, sigma2, w);
            float d = ferry__make_qx(32, 16, x + 32 * ib, Ls, w);
            ferry__put_f16(y, d);
            for (int j = 0; j < 32; j++) L[j] = (uint8_t)Ls[j];
            pack_q5(L, y + 2, y + 6);
        }
        return;
    }
    for (int64_t ib = 0; ib < n / 32; ib++, x += 32, y += 22) {
        float amax;
        float max = ferry__signed_max(x, 32, &amax);
        const float d  = max / -16;
        const float id = d != 0.f ? 1.0f / d : 0.0f;
        ferry__put_f16(y, d);
        for (int j = 0; j < 32; j++) {
            int q = (int8_t)ferry__cvt_i32(x[j] * id + 16.5f);
            L[j]  = (uint8_t)(q < 31 ? q : 31);
        }
        pack_q5(L, y + 2, y + 6);
    }
}

static void q5_1_row(const float *x, uint8_t *y, int64_t n, const float *qw, const void *st)
{
    (void)st;
    uint8_t L[32];
    if (qw) {
        float   w[32];
        uint8_t Laux[32];
        float   sigma2 = row_sigma2(x, n);
        for (int64_t ib = 0; ib < n / 32; ib++, y += 24) {
            imat_weights(x + 32 * ib, qw + 32 * ib, sigma2, w);
            float min;
            float d = ferry__make_qkx3(32, 31, x + 32 * ib, w, L, &min, Laux, -0.9f, 0.05f, 36,
                                       false);
            ferry__put_f16(y, d);
            ferry__put_f16(y + 2, -min);
            pack_q5(L, y + 4, y + 8);
        }
        return;
    }
    for (int64_t ib = 0; ib < n / 32; ib++, x += 32, y += 24) {
        float min = 3.40282347e+38f, max = -3.40282347e+38f;
        for (int j = 0; j < 32; j++) {
            if (x[j] < min) min = x[j];
            if (x[j] > max) max = x[j];
        }
        const float d  = (max - min) / 31;
        const float id = d != 0.f ? 1.0f / d : 0.0f;
        ferry__put_f16(y, d);
        ferry__put_f16(y + 2, min);
        /* No clamp here in ggml: the largest code is (max - min) * id + 0.5 < 32. */
        for (int j = 0; j < 32; j++) L[j] = (uint8_t)ferry__cvt_i32((x[j] - min) * id + 0.5f);
        pack_q5(L, y + 4, y + 8);
    }
}

/* ============================================================================================
 * Q8_0, Q8_1
 * ========================================================================================== */

static float absmax(const float *x, int n)
{
    float amax = 0.0f;
    for (int j = 0; j < n; j++) {
        float a = fabsf(x[j]);
        amax = amax > a ? amax : a;
    }
    return amax;
}

/* roundf of a value ggml stores into an int8 (|v| <= 127 for finite input; inf and NaN
 * give 0 as in ggml's build, see ferry__cvt_i32). */
static inline int8_t round_i8(float v) { return (int8_t)ferry__cvt_i32(roundf(v)); }

static void q8_0_row(const float *x, uint8_t *y, int64_t n, const float *qw, const void *st)
{
    (void)qw;
    (void)st;
    for (int64_t ib = 0; ib < n / 32; ib++, x += 32, y += 34) {
        const float d  = absmax(x, 32) / 127;
        const float id = d != 0.f ? 1.0f / d : 0.0f;
        ferry__put_f16(y, d);
        for (int j = 0; j < 32; j++) y[2 + j] = (uint8_t)round_i8(x[j] * id);
    }
}

/* Q8_1 (ggml's activation format; no golden data): as Q8_0 plus s = fp16(d * sum q). */
static void q8_1_row(const float *x, uint8_t *y, int64_t n, const float *qw, const void *st)
{
    (void)qw;
    (void)st;
    for (int64_t ib = 0; ib < n / 32; ib++, x += 32, y += 36) {
        const float d  = absmax(x, 32) / 127;
        const float id = d != 0.f ? 1.0f / d : 0.0f;
        ferry__put_f16(y, d);
        int sum = 0;
        for (int j = 0; j < 16; j++) {
            int8_t a = round_i8(x[j] * id);
            int8_t b = round_i8(x[j + 16] * id);
            y[4 + j]      = (uint8_t)a;
            y[4 + j + 16] = (uint8_t)b;
            sum += a + b;
        }
        ferry__put_f16(y + 2, (float)sum * d);
    }
}

/* ============================================================================================
 * Q1_0 (128), Q2_0 (64)
 * ========================================================================================== */

static void q1_0_row(const float *x, uint8_t *y, int64_t n, const float *qw, const void *st)
{
    (void)qw;
    (void)st;
    for (int64_t ib = 0; ib < n / 128; ib++, x += 128, y += 18) {
        float sum_abs = 0.0f;
        for (int j = 0; j < 128; j++) sum_abs += fabsf(x[j]);
        ferry__put_f16(y, sum_abs / 128);
        memset(y + 2, 0, 16);
        /* The sign alone; -0.0 >= 0 holds, so it encodes as +d (FORMATS.md A2.3). */
        for (int j = 0; j < 128; j++)
            if (x[j] >= 0.0f) y[2 + j / 8] |= (uint8_t)(1u << (j % 8));
    }
}

static void q2_0_row(const float *x, uint8_t *y, int64_t n, const float *qw, const void *st)
{
    (void)qw;
    (void)st;
    for (int64_t ib = 0; ib < n / 64; ib++, x += 64, y += 18) {
        float amax = 0.0f;
        for (int j = 0; j < 64; j++) {
            float a = fabsf(x[j]);
            if (a > amax) amax = a;
        }
        const float d  = amax;
        const float id = d > 0.0f ? 1.0f / d : 0.0f;
        ferry__put_f16(y, d);
        memset(y + 2, 0, 16);
        for (int j = 0; j < 64; j++) {
            int32_t r = ferry__cvt_i32(roundf(x[j] * id));
            int     q = r < -1 ? 0 : r > 2 ? 3 : r + 1;
            y[2 + j / 4] |= (uint8_t)(q << (2 * (j % 4)));
        }
    }
}

/* ============================================================================================
 * MXFP4 (32), NVFP4 (64)
 * ========================================================================================== */

/* Index of the doubled-E2M1 level nearest to x at scale e; the first index wins ties, so +0
 * (index 0) is chosen over -0 (index 8). */
static inline int best_fp4(float x, float e)
{
    int   best     = 0;
    float best_err = fabsf((float)ferry__kvalues_mxfp4[0] * e - x);
    for (int i = 1; i < 16; i++) {
        float err = fabsf((float)ferry__kvalues_mxfp4[i] * e - x);
        if (err < best_err) {
            best     = i;
            best_err = err;
        }
    }
    return best;
}

/* 2^(e - 128): the E8M0 scale halved for the doubled level table (ggml_e8m0_to_fp32_half);
 * e < 2 gives a subnormal, built from its bits. */
static inline float e8m0_half(uint8_t e)
{
    uint32_t bits = e < 2 ? 0x00200000u << e : (uint32_t)(e - 1) << 23;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

static void mxfp4_row(const float *x, uint8_t *y, int64_t n, const float *qw, const void *st)
{
    (void)qw;
    (void)st;
    for (int64_t ib = 0; ib < n / 32; ib++, x += 32, y += 17) {
        float amax = 0.0f;
        for (int j = 0; j < 32; j++)
            if (amax < fabsf(x[j])) amax = fabsf(x[j]);
        uint8_t e = 0;
        if (amax > 0.0f) {
            /* floor(log2) of a finite positive float lies in [-149, 128]: the int32 step
             * is exact and the uint8 wrap is the one ggml's build performs. */
            float v = floorf(log2f(amax)) - 2 + 127;
            e = (uint8_t)(uint32_t)(int32_t)(v > -1e6f && v < 1e6f ? v : 0);
        }
        const float d = e8m0_half(e);
        y[0] = e;
        for (int j = 0; j < 16; j++)
            y[1 + j] = (uint8_t)(best_fp4(x[j], d) | best_fp4(x[j + 16], d) << 4);
    }
}

/* Unsigned E4M3 code of a positive scale (ggml_fp32_to_ue4m3): non-positive -> 0, clamp to
 * 448, three mantissa bits rounded half up on the next fp32 bit, subnormals from
 * trunc(x * 512 + 0.5) in 1..7, exponents past 14 saturate to 0x7E. */
static uint8_t to_ue4m3(float x)
{
    if (!(x > 0.0f)) return 0;
    if (x > 448.0f) x = 448.0f;
    uint32_t bits;
    memcpy(&bits, &x, 4);
    int e = (int)((bits >> 23) & 0xFF) - 127 + 7;
    int m = (int)((bits >> 20) & 0x7);
    if (e <= 0) {
        int man = (int)(x * 512.0f + 0.5f);
        if (man > 7) man = 7;
        if (man < 1) return 0;
        return (uint8_t)man;
    }
    if (e >= 15) return 0x7E;
    m += (int)((bits >> 19) & 1);
    if (m > 7) {
        m = 0;
        if (++e >= 15) return 0x7E;
    }
    return (uint8_t)(e << 3 | m);
}

/* The decoded UE4M3 scale halved (ggml_ue4m3_to_fp32; 0x00 and 0x7F decode to 0). Every
 * value is exact in float, so the multiplications by powers of two give ggml's ldexpf bits. */
static float ue4m3_half(uint8_t c)
{
    if (c == 0 || c == 0x7F) return 0.0f;
    int e = (c >> 3) & 0xF;
    int m = c & 0x7;
    float raw;
    if (e == 0) {
        raw = (float)m * 0x1p-9f;
    } else {
        uint32_t bits = (uint32_t)(e - 7 + 127) << 23;
        float p;
        memcpy(&p, &bits, 4);
        raw = (1.0f + (float)m / 8.0f) * p;
    }
    return raw * 0.5f;
}

static void nvfp4_row(const float *x, uint8_t *y, int64_t n, const float *qw, const void *st)
{
    (void)qw;
    (void)st;
    for (int64_t ib = 0; ib < n / 64; ib++, y += 36) {
        for (int s = 0; s < 4; s++, x += 16) {
            float amax = 0.0f;
            for (int j = 0; j < 16; j++)
                if (amax < fabsf(x[j])) amax = fabsf(x[j]);
            const uint8_t ue = to_ue4m3(amax / 6.0f);
            const float   d  = ue4m3_half(ue);
            y[s] = ue;
            for (int j = 0; j < 8; j++)
                y[4 + 8 * s + j] = (uint8_t)(best_fp4(x[j], d) | best_fp4(x[j + 8], d) << 4);
        }
    }
}

/* ============================================================================================
 * Dispatch
 * ========================================================================================== */

ferry__qrow_fn ferry__qrow_legacy(int id)
{
    switch (id) {
    case 2:  return q4_0_row;
    case 3:  return q4_1_row;
    case 6:  return q5_0_row;
    case 7:  return q5_1_row;
    case 8:  return q8_0_row;
    case 9:  return q8_1_row;
    case 39: return mxfp4_row;
    case 40: return nvfp4_row;
    case 41: return q1_0_row;
    case 42: return q2_0_row;
    default: return NULL;
    }
}
