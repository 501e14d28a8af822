/*
 * dequant.c -- GGML block types to f32 (ferry__dequantize).
 *
 * Each decoder reproduces ggml's to_float (ggml-quants.c, dequantize_row_*) bit for bit:
 * the block layouts are those of ggml-common.h (FORMATS.md A2.1 and the §21 table), and the
 * arithmetic is done in float in the same order as ggml does it, with one rounding per
 * operation. That last point matters: `q * d + m` must not be contracted into a fused
 * multiply-add (the build passes -ffp-contract=off; FORMATS.md A4), and scale products such
 * as `d * sc * q` are evaluated left to right as `(d * sc) * q`. The golden files in
 * shared/golden/quant (ggml's own to_float output) are reproduced exactly by
 * tests/test_dequant.c.
 *
 * Blocks are read byte by byte with the explicit little-endian helpers, never through
 * struct casts, so the input needs no alignment. The f16 scales are decoded exactly
 * (ferry_f16_to_f32), as ggml does.
 *
 * Types with a decoder: every ggml type that has a layout -- Q4_0 Q4_1 Q5_0 Q5_1 Q8_0 Q8_1
 * Q2_K Q3_K Q4_K Q5_K Q6_K Q8_K IQ2_XXS IQ2_XS IQ2_S IQ3_XXS IQ3_S IQ1_S IQ1_M IQ4_NL IQ4_XS
 * TQ1_0 TQ2_0 MXFP4 NVFP4 Q1_0 Q2_0. Q8_1 and Q8_K are ggml's activation formats (no to_float
 * in ggml's type table); their decode is the obvious q * d. The lattice tables of the
 * i-quants are in iq_tables.c.
 */
#include "internal.h"
#include "iq_tables.h"

/* ============================================================================================
 * Helpers and constants
 * ========================================================================================== */

static inline float h2f(const uint8_t *p) { return ferry_f16_to_f32(ferry__rd16le(p)); }

static inline float f32_at(const uint8_t *p)
{
    uint32_t u = ferry__rd32le(p);
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* IQ4_NL / IQ4_XS non-linear levels (ggml-common.h kvalues_iq4nl; FORMATS.md A2.1). */
static const int8_t kvalues_iq4nl[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                                         1,    13,   25,  38,  53,  69,  89,  113};

/* E2M1 levels doubled (ggml-common.h kvalues_mxfp4): 0, 0.5, 1, 1.5, 2, 3, 4, 6 times two,
 * so that they are integers; the scale decoders below carry the compensating factor 1/2. */
static const int8_t kvalues_fp4x2[16] = {0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12};

/* E8M0 exponent byte to 2^(e - 127) / 2 (ggml_e8m0_to_fp32_half): 2^(e-128), which for e < 2
 * is a subnormal float, built from its bits. */
static inline float e8m0_half(uint8_t e)
{
    uint32_t bits = e < 2 ? 0x00200000u << e : (uint32_t)(e - 1) << 23;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

/* Unsigned E4M3 scale of NVFP4 to float, halved (ggml_ue4m3_to_fp32): bit 7 is ignored
 * except that 0x00 and 0x7F (the NaN pattern) both decode to 0. All values are exact in
 * float, so computing them with multiplications by powers of two gives ggml's bits. */
static inline float ue4m3_half(uint8_t x)
{
    if (x == 0 || x == 0x7F) return 0.0f;
    int e = (x >> 3) & 0xF;
    int m = x & 0x7;
    /* 2^(e-7) for e = 1..15 as a float; subnormals are m * 2^-9. */
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

/* ============================================================================================
 * 32-element block types
 * ========================================================================================== */

static void deq_q4_0(const uint8_t *b, float *y, uint64_t nb)
{
    for (uint64_t i = 0; i < nb; i++, b += 18, y += 32) {
        const float d = h2f(b);
        const uint8_t *qs = b + 2;
        for (int j = 0; j < 16; j++) {
            y[j]      = (float)((qs[j] & 0x0F) - 8) * d;
            y[j + 16] = (float)((qs[j] >> 4) - 8) * d;
        }
    }
}

static void deq_q4_1(const uint8_t *b, float *y, uint64_t nb)
{
    for (uint64_t i = 0; i < nb; i++, b += 20, y += 32) {
        const float d = h2f(b), m = h2f(b + 2);
        const uint8_t *qs = b + 4;
        for (int j = 0; j < 16; j++) {
            y[j]      = (float)(qs[j] & 0x0F) * d + m;
            y[j + 16] = (float)(qs[j] >> 4) * d + m;
        }
    }
}

/* Q5: bit j of the little-endian qh word is the fifth bit of element j. */
static void deq_q5_0(const uint8_t *b, float *y, uint64_t nb)
{
    for (uint64_t i = 0; i < nb; i++, b += 22, y += 32) {
        const float d = h2f(b);
        const uint32_t qh = ferry__rd32le(b + 2);
        const uint8_t *qs = b + 6;
        for (int j = 0; j < 16; j++) {
            int h0 = (int)((qh >> j) & 1) << 4;
            int h1 = (int)((qh >> (j + 16)) & 1) << 4;
            y[j]      = (float)(((qs[j] & 0x0F) | h0) - 16) * d;
            y[j + 16] = (float)(((qs[j] >> 4) | h1) - 16) * d;
        }
    }
}

static void deq_q5_1(const uint8_t *b, float *y, uint64_t nb)
{
    for (uint64_t i = 0; i < nb; i++, b += 24, y += 32) {
        const float d = h2f(b), m = h2f(b + 2);
        const uint32_t qh = ferry__rd32le(b + 4);
        const uint8_t *qs = b + 8;
        for (int j = 0; j < 16; j++) {
            int h0 = (int)((qh >> j) & 1) << 4;
            int h1 = (int)((qh >> (j + 16)) & 1) << 4;
            y[j]      = (float)((qs[j] & 0x0F) | h0) * d + m;
            y[j + 16] = (float)((qs[j] >> 4) | h1) * d + m;
        }
    }
}

static void deq_q8_0(const uint8_t *b, float *y, uint64_t nb)
{
    for (uint64_t i = 0; i < nb; i++, b += 34, y += 32) {
        const float d = h2f(b);
        for (int j = 0; j < 32; j++) y[j] = (float)(int8_t)b[2 + j] * d;
    }
}

/* Q8_1: d, s (= d * sum q, unused here), then 32 int8. */
static void deq_q8_1(const uint8_t *b, float *y, uint64_t nb)
{
    for (uint64_t i = 0; i < nb; i++, b += 36, y += 32) {
        const float d = h2f(b);
        for (int j = 0; j < 32; j++) y[j] = (float)(int8_t)b[4 + j] * d;
    }
}

static void deq_iq4_nl(const uint8_t *b, float *y, uint64_t nb)
{
    for (uint64_t i = 0; i < nb; i++, b += 18, y += 32) {
        const float d = h2f(b);
        const uint8_t *qs = b + 2;
        for (int j = 0; j < 16; j++) {
            y[j]      = d * (float)kvalues_iq4nl[qs[j] & 0x0F];
            y[j + 16] = d * (float)kvalues_iq4nl[qs[j] >> 4];
        }
    }
}

/* MXFP4: E8M0 exponent byte, then 16 bytes of E2M1 nibbles split as in Q4_0. */
static void deq_mxfp4(const uint8_t *b, float *y, uint64_t nb)
{
    for (uint64_t i = 0; i < nb; i++, b += 17, y += 32) {
        const float d = e8m0_half(b[0]);
        const uint8_t *qs = b + 1;
        for (int j = 0; j < 16; j++) {
            y[j]      = (float)kvalues_fp4x2[qs[j] & 0x0F] * d;
            y[j + 16] = (float)kvalues_fp4x2[qs[j] >> 4] * d;
        }
    }
}

/* ============================================================================================
 * Other small blocks: NVFP4 (64), Q1_0 (128), Q2_0 (64)
 * ========================================================================================== */

/* NVFP4: four UE4M3 scales, one per 16 elements; sub-block s uses qs[8s..8s+7], low nibble
 * element j, high nibble element j + 8. */
static void deq_nvfp4(const uint8_t *b, float *y, uint64_t nb)
{
    for (uint64_t i = 0; i < nb; i++, b += 36, y += 64) {
        for (int s = 0; s < 4; s++) {
            const float d = ue4m3_half(b[s]);
            const uint8_t *qs = b + 4 + 8 * s;
            float *ys = y + 16 * s;
            for (int j = 0; j < 8; j++) {
                ys[j]     = (float)kvalues_fp4x2[qs[j] & 0x0F] * d;
                ys[j + 8] = (float)kvalues_fp4x2[qs[j] >> 4] * d;
            }
        }
    }
}

/* Q1_0: bit j (LSB first) set -> +d, clear -> -d. */
static void deq_q1_0(const uint8_t *b, float *y, uint64_t nb)
{
    for (uint64_t i = 0; i < nb; i++, b += 18, y += 128) {
        const float d = h2f(b);
        for (int j = 0; j < 128; j++) y[j] = (b[2 + j / 8] >> (j % 8) & 1) ? d : -d;
    }
}

/* Q2_0: 2-bit codes, element j at byte j/4 bits 2(j%4); value (q - 1) * d. */
static void deq_q2_0(const uint8_t *b, float *y, uint64_t nb)
{
    for (uint64_t i = 0; i < nb; i++, b += 18, y += 64) {
        const float d = h2f(b);
        for (int j = 0; j < 64; j++) y[j] = (float)((b[2 + j / 4] >> (2 * (j % 4)) & 3) - 1) * d;
    }
}

/* ============================================================================================
 * K-quants (256-element super-blocks)
 * ========================================================================================== */

/* Q2_K: scales[16] (low nibble scale, high nibble min) | qs[64] | d | dmin. Each 128-element
 * half uses 32 qs bytes whose bit pairs 0,2,4,6 hold its four 32-element quarters; each
 * quarter has two 16-element sub-blocks with their own scale byte. */
static void deq_q2_k(const uint8_t *b, float *y, uint64_t nb)
{
    for (uint64_t i = 0; i < nb; i++, b += 84) {
        const float d = h2f(b + 80), dmin = h2f(b + 82);
        const uint8_t *sc = b;
        const uint8_t *q = b + 16;
        int is = 0;
        for (int half = 0; half < 2; half++, q += 32) {
            for (int shift = 0; shift < 8; shift += 2) {
                for (int part = 0; part < 2; part++) {
                    uint8_t s = sc[is++];
                    const float dl = d * (float)(s & 0xF), ml = dmin * (float)(s >> 4);
                    for (int l = 0; l < 16; l++)
                        *y++ = dl * (float)((q[16 * part + l] >> shift) & 3) - ml;
                }
            }
        }
    }
}

/* Q3_K: hmask[32] | qs[64] | scales[12] | d. The 16 six-bit scales (offset 32): low four bits
 * in scales[j] (j < 8, low nibble) or scales[j-8] (high nibble), top two bits in
 * scales[8 + j%4] at bit 2*(j/4). The high bit of element j is bit j/32 of hmask[j%32];
 * a clear bit subtracts 4. */
static void deq_q3_k(const uint8_t *b, float *y, uint64_t nb)
{
    for (uint64_t i = 0; i < nb; i++, b += 110) {
        const uint8_t *hm = b, *q = b + 32, *s12 = b + 96;
        const float d = h2f(b + 108);
        int sc[16];
        for (int j = 0; j < 16; j++) {
            int lo = j < 8 ? s12[j] & 0xF : s12[j - 8] >> 4;
            int hi = (s12[8 + j % 4] >> (2 * (j / 4))) & 3;
            sc[j] = (lo | hi << 4) - 32;
        }
        int is = 0;
        uint8_t m = 1;
        for (int half = 0; half < 2; half++, q += 32) {
            for (int shift = 0; shift < 8; shift += 2, m = (uint8_t)(m << 1)) {
                for (int part = 0; part < 2; part++) {
                    const float dl = d * (float)sc[is++];
                    for (int l = 16 * part; l < 16 * part + 16; l++) {
                        int v = ((q[l] >> shift) & 3) - ((hm[l] & m) ? 0 : 4);
                        *y++ = dl * (float)v;
                    }
                }
            }
        }
    }
}

/* Six-bit scale and min of sub-block j of a Q4_K / Q5_K scales[12] (FORMATS.md A2.1). */
static inline void scale_min_k4(int j, const uint8_t *q, int *sc, int *mn)
{
    if (j < 4) {
        *sc = q[j] & 63;
        *mn = q[j + 4] & 63;
    } else {
        *sc = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
        *mn = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
    }
}

/* Q4_K: d | dmin | scales[12] | qs[128]; four 64-element chunks of 32 bytes, low nibbles
 * first. value = d*sc*q - dmin*m. */
static void deq_q4_k(const uint8_t *b, float *y, uint64_t nb)
{
    for (uint64_t i = 0; i < nb; i++, b += 144) {
        const float d = h2f(b), dmin = h2f(b + 2);
        const uint8_t *scales = b + 4, *q = b + 16;
        for (int c = 0; c < 4; c++, q += 32) {
            int sc, mn;
            scale_min_k4(2 * c, scales, &sc, &mn);
            const float d1 = d * (float)sc, m1 = dmin * (float)mn;
            scale_min_k4(2 * c + 1, scales, &sc, &mn);
            const float d2 = d * (float)sc, m2 = dmin * (float)mn;
            for (int l = 0; l < 32; l++) *y++ = d1 * (float)(q[l] & 0xF) - m1;
            for (int l = 0; l < 32; l++) *y++ = d2 * (float)(q[l] >> 4) - m2;
        }
    }
}

/* Q5_K: d | dmin | scales[12] | qh[32] | qs[128]; as Q4_K plus qh[l] bit 2c / 2c+1 as the
 * fifth bit of chunk c's low / high nibble elements. */
static void deq_q5_k(const uint8_t *b, float *y, uint64_t nb)
{
    for (uint64_t i = 0; i < nb; i++, b += 176) {
        const float d = h2f(b), dmin = h2f(b + 2);
        const uint8_t *scales = b + 4, *qh = b + 16, *q = b + 48;
        for (int c = 0; c < 4; c++, q += 32) {
            int sc, mn;
            scale_min_k4(2 * c, scales, &sc, &mn);
            const float d1 = d * (float)sc, m1 = dmin * (float)mn;
            scale_min_k4(2 * c + 1, scales, &sc, &mn);
            const float d2 = d * (float)sc, m2 = dmin * (float)mn;
            const uint8_t u1 = (uint8_t)(1u << (2 * c)), u2 = (uint8_t)(2u << (2 * c));
            for (int l = 0; l < 32; l++)
                *y++ = d1 * (float)((q[l] & 0xF) + ((qh[l] & u1) ? 16 : 0)) - m1;
            for (int l = 0; l < 32; l++)
                *y++ = d2 * (float)((q[l] >> 4) + ((qh[l] & u2) ? 16 : 0)) - m2;
        }
    }
}

/* Q6_K: ql[128] | qh[64] | scales[16] (int8) | d. value = d * sc * (q - 32). */
static void deq_q6_k(const uint8_t *b, float *y, uint64_t nb)
{
    for (uint64_t i = 0; i < nb; i++, b += 210) {
        const float d = h2f(b + 208);
        const uint8_t *ql = b, *qh = b + 128;
        const int8_t *sc = (const int8_t *)(const void *)(b + 192);
        for (int half = 0; half < 2; half++, ql += 64, qh += 32, sc += 8, y += 128) {
            for (int l = 0; l < 32; l++) {
                int is = l / 16;
                int q1 = ((ql[l] & 0xF) | ((qh[l] >> 0 & 3) << 4)) - 32;
                int q2 = ((ql[l + 32] & 0xF) | ((qh[l] >> 2 & 3) << 4)) - 32;
                int q3 = ((ql[l] >> 4) | ((qh[l] >> 4 & 3) << 4)) - 32;
                int q4 = ((ql[l + 32] >> 4) | ((qh[l] >> 6 & 3) << 4)) - 32;
                y[l]      = d * (float)sc[is + 0] * (float)q1;
                y[l + 32] = d * (float)sc[is + 2] * (float)q2;
                y[l + 64] = d * (float)sc[is + 4] * (float)q3;
                y[l + 96] = d * (float)sc[is + 6] * (float)q4;
            }
        }
    }
}

/* Q8_K: d (f32) | qs[256] int8 | bsums[16] (unused). */
static void deq_q8_k(const uint8_t *b, float *y, uint64_t nb)
{
    for (uint64_t i = 0; i < nb; i++, b += 292, y += 256) {
        const float d = f32_at(b);
        for (int j = 0; j < 256; j++) y[j] = d * (float)(int8_t)b[4 + j];
    }
}

/* IQ4_XS: d | scales_h (u16) | scales_l[4] | qs[128]; sub-block ib (32 elements) has the
 * six-bit scale low nibble of scales_l[ib/2] (by parity) | bits 2ib..2ib+1 of scales_h,
 * minus 32, and uses qs[16ib..16ib+15] split as in Q4_0. */
static void deq_iq4_xs(const uint8_t *b, float *y, uint64_t nb)
{
    for (uint64_t i = 0; i < nb; i++, b += 136) {
        const float d = h2f(b);
        const uint32_t sh = ferry__rd16le(b + 2);
        const uint8_t *sl = b + 4, *qs = b + 8;
        for (int ib = 0; ib < 8; ib++, qs += 16, y += 32) {
            int ls = ((sl[ib / 2] >> (4 * (ib % 2))) & 0xF) | (int)((sh >> (2 * ib)) & 3) << 4;
            const float dl = d * (float)(ls - 32);
            for (int j = 0; j < 16; j++) {
                y[j]      = dl * (float)kvalues_iq4nl[qs[j] & 0xF];
                y[j + 16] = dl * (float)kvalues_iq4nl[qs[j] >> 4];
            }
        }
    }
}

/* ============================================================================================
 * Ternary types
 * ========================================================================================== */

/* TQ1_0: qs[48] | qh[4] | d. Five trits per byte stored as ceil(v * 256 / 243); trit n of a
 * byte is recovered as ((uint8)(byte * 3^n) * 3) >> 8 (FORMATS.md A2.1). Elements 0-159 come
 * from qs[0..31] (trit n of byte m is element 32n + m), 160-239 from qs[32..47] (16n + m),
 * 240-255 from qh (4n + j, four trits per byte). */
static inline float trit(uint8_t byte, int n, float d)
{
    static const uint8_t pow3[5] = {1, 3, 9, 27, 81};
    uint8_t q = (uint8_t)(byte * pow3[n]);
    int xi = (int)(((uint16_t)q * 3) >> 8);
    return (float)(xi - 1) * d;
}

static void deq_tq1_0(const uint8_t *b, float *y, uint64_t nb)
{
    for (uint64_t i = 0; i < nb; i++, b += 54) {
        const float d = h2f(b + 52);
        for (int n = 0; n < 5; n++)
            for (int m = 0; m < 32; m++) *y++ = trit(b[m], n, d);
        for (int n = 0; n < 5; n++)
            for (int m = 0; m < 16; m++) *y++ = trit(b[32 + m], n, d);
        for (int n = 0; n < 4; n++)
            for (int j = 0; j < 4; j++) *y++ = trit(b[48 + j], n, d);
    }
}

/* TQ2_0: qs[64] | d; per 128-element half, byte m holds elements m, +32, +64, +96 in bit
 * pairs 0, 2, 4, 6, each as trit + 1. */
static void deq_tq2_0(const uint8_t *b, float *y, uint64_t nb)
{
    for (uint64_t i = 0; i < nb; i++, b += 66) {
        const float d = h2f(b + 64);
        for (int j = 0; j < 64; j += 32)
            for (int l = 0; l < 4; l++)
                for (int m = 0; m < 32; m++) *y++ = (float)(((b[j + m] >> (2 * l)) & 3) - 1) * d;
    }
}

/* ============================================================================================
 * I-quants: lattice points with sign masks (IQ2_*, IQ3_*) or a shift (IQ1_*)
 * ========================================================================================== */

/* Coordinate values of the IQ2 lattice levels (ggml-common.h iq2xxs_grid etc. bytes). */
static const uint8_t iq2_level[4] = {0x08, 0x19, 0x2b, 0x2b};

/* Coordinate j of point k of a packed IQ2 set. */
static inline float iq2_coord(const uint16_t *kgrid, unsigned k, int j)
{
    return (float)iq2_level[(kgrid[k] >> (2 * j)) & 3];
}

/* Eight sign bits from a 7-bit index: the eighth makes the number of set bits even
 * (ggml-common.h ksigns_iq2xs). */
static inline unsigned iq_signs(unsigned s7)
{
    unsigned p = s7 ^ (s7 >> 4);
    p ^= p >> 2;
    p ^= p >> 1;
    return s7 | (p & 1) << 7;
}

static inline float sgn(unsigned signs, int j) { return (signs >> j & 1) ? -1.f : 1.f; }

/* IQ2_XXS: d | qs as 8 pairs of u32 per block: four grid indices (bytes of the first word),
 * four 7-bit sign indices and a 4-bit scale (the second word). */
static void deq_iq2_xxs(const uint8_t *b, float *y, uint64_t nb)
{
    for (uint64_t i = 0; i < nb; i++, b += 66) {
        const float d = h2f(b);
        for (int ib = 0; ib < 8; ib++) {
            const uint32_t a0 = ferry__rd32le(b + 2 + 8 * ib), a1 = ferry__rd32le(b + 6 + 8 * ib);
            const float db = d * (0.5f + (float)(a1 >> 28)) * 0.25f;
            for (int l = 0; l < 4; l++, y += 8) {
                unsigned k = (a0 >> (8 * l)) & 0xFF, signs = iq_signs((a1 >> (7 * l)) & 127);
                for (int j = 0; j < 8; j++)
                    y[j] = db * iq2_coord(ferry__iq2xxs_kgrid, k, j) * sgn(signs, j);
            }
        }
    }
}

/* IQ2_XS: d | qs[32] u16 (9-bit grid index, 7-bit sign index) | scales[8] (two 4-bit). */
static void deq_iq2_xs(const uint8_t *b, float *y, uint64_t nb)
{
    for (uint64_t i = 0; i < nb; i++, b += 74) {
        const float d = h2f(b);
        for (int ib = 0; ib < 8; ib++) {
            const uint8_t sc = b[66 + ib];
            const float db[2] = {d * (0.5f + (float)(sc & 0xF)) * 0.25f,
                                 d * (0.5f + (float)(sc >> 4)) * 0.25f};
            for (int l = 0; l < 4; l++, y += 8) {
                unsigned q = ferry__rd16le(b + 2 + 2 * (4 * ib + l));
                unsigned signs = iq_signs(q >> 9);
                for (int j = 0; j < 8; j++)
                    y[j] = db[l / 2] * iq2_coord(ferry__iq2xs_kgrid, q & 511, j) * sgn(signs, j);
            }
        }
    }
}

/* IQ2_S: d | qs[32] grid-index low bytes | signs[32] | qh[8] (two high bits per index) |
 * scales[8]. */
static void deq_iq2_s(const uint8_t *b, float *y, uint64_t nb)
{
    for (uint64_t i = 0; i < nb; i++, b += 82) {
        const float d = h2f(b);
        const uint8_t *qs = b + 2, *signs = b + 34, *qh = b + 66, *scales = b + 74;
        for (int ib = 0; ib < 8; ib++, qs += 4, signs += 4) {
            const float db[2] = {d * (0.5f + (float)(scales[ib] & 0xF)) * 0.25f,
                                 d * (0.5f + (float)(scales[ib] >> 4)) * 0.25f};
            for (int l = 0; l < 4; l++, y += 8) {
                unsigned k = qs[l] | ((unsigned)(qh[ib] << (8 - 2 * l)) & 0x300);
                for (int j = 0; j < 8; j++)
                    y[j] = db[l / 2] * iq2_coord(ferry__iq2s_kgrid, k, j) * sgn(signs[l], j);
            }
        }
    }
}

/* Coordinate j (0..3) of a 4-dimensional IQ3 point. */
static inline float iq3_coord(uint32_t point, int j) { return (float)((point >> (8 * j)) & 0xFF); }

/* IQ3_XXS: d | qs[64] grid indices | 8 u32 of four 7-bit sign indices and a 4-bit scale. */
static void deq_iq3_xxs(const uint8_t *b, float *y, uint64_t nb)
{
    for (uint64_t i = 0; i < nb; i++, b += 98) {
        const float d = h2f(b);
        const uint8_t *qs = b + 2;
        for (int ib = 0; ib < 8; ib++, qs += 8) {
            const uint32_t aux = ferry__rd32le(b + 66 + 4 * ib);
            const float db = d * (0.5f + (float)(aux >> 28)) * 0.5f;
            for (int l = 0; l < 4; l++, y += 8) {
                unsigned signs = iq_signs((aux >> (7 * l)) & 127);
                uint32_t g1 = ferry__iq3xxs_grid[qs[2 * l]], g2 = ferry__iq3xxs_grid[qs[2 * l + 1]];
                for (int j = 0; j < 4; j++) {
                    y[j]     = db * iq3_coord(g1, j) * sgn(signs, j);
                    y[j + 4] = db * iq3_coord(g2, j) * sgn(signs, j + 4);
                }
            }
        }
    }
}

/* IQ3_S: d | qs[64] | qh[8] (ninth index bits) | signs[32] | scales[4] (two 4-bit, odd
 * multipliers 1 + 2s). */
static void deq_iq3_s(const uint8_t *b, float *y, uint64_t nb)
{
    for (uint64_t i = 0; i < nb; i++, b += 110) {
        const float d = h2f(b);
        const uint8_t *qs = b + 2, *qh = b + 66, *signs = b + 74, *scales = b + 106;
        for (int ib = 0; ib < 8; ib++, qs += 8, signs += 4) {
            int s = ib % 2 ? scales[ib / 2] >> 4 : scales[ib / 2] & 0xF;
            const float db = d * (float)(1 + 2 * s);
            const unsigned h = qh[ib];
            for (int l = 0; l < 4; l++, y += 8) {
                uint32_t g1 = ferry__iq3s_grid[qs[2 * l] | ((h << (8 - 2 * l)) & 256)];
                uint32_t g2 = ferry__iq3s_grid[qs[2 * l + 1] | ((h << (7 - 2 * l)) & 256)];
                for (int j = 0; j < 4; j++) {
                    y[j]     = db * iq3_coord(g1, j) * sgn(signs[l], j);
                    y[j + 4] = db * iq3_coord(g2, j) * sgn(signs[l], j + 4);
                }
            }
        }
    }
}

/* Coordinate j of point k of the IQ1 set: -1, 0 or +1. */
static inline float iq1_coord(unsigned k, int j)
{
    return (float)((int)((ferry__iq1s_kgrid[k] >> (2 * j)) & 3) - 1);
}

/* IQ1_S / IQ1_M shift of the lattice points (ggml-common.h IQ1S_DELTA, IQ1M_DELTA). */
#define IQ1_DELTA 0.125f

/* IQ1_S: d | qs[32] | qh[8] u16: per 32 elements, four 3-bit high index parts, a 3-bit scale
 * and the sign of the shift. */
static void deq_iq1_s(const uint8_t *b, float *y, uint64_t nb)
{
    for (uint64_t i = 0; i < nb; i++, b += 50) {
        const float d = h2f(b);
        const uint8_t *qs = b + 2;
        for (int ib = 0; ib < 8; ib++, qs += 4) {
            const unsigned qh = ferry__rd16le(b + 34 + 2 * ib);
            const float dl = d * (float)(2 * ((qh >> 12) & 7) + 1);
            const float delta = (qh & 0x8000) ? -IQ1_DELTA : IQ1_DELTA;
            for (int l = 0; l < 4; l++, y += 8) {
                unsigned k = qs[l] | ((qh >> (3 * l)) & 7) << 8;
                for (int j = 0; j < 8; j++) y[j] = dl * (iq1_coord(k, j) + delta);
            }
        }
    }
}

/* IQ1_M: qs[32] | qh[16] | scales[8] (four u16: 3-bit sub-block scales, and the f16 super-
 * scale spread over their top nibbles). */
static void deq_iq1_m(const uint8_t *b, float *y, uint64_t nb)
{
    for (uint64_t i = 0; i < nb; i++, b += 56) {
        const uint8_t *qs = b, *qh = b + 32;
        unsigned sc[4];
        for (int t = 0; t < 4; t++) sc[t] = ferry__rd16le(b + 48 + 2 * t);
        const uint16_t s16 = (uint16_t)((sc[0] >> 12) | ((sc[1] >> 8) & 0x00F0) |
                                         ((sc[2] >> 4) & 0x0F00) | (sc[3] & 0xF000));
        const float d = ferry_f16_to_f32(s16);
        for (int ib = 0; ib < 8; ib++, qs += 4, qh += 2) {
            const float dl1 = d * (float)(2 * ((sc[ib / 2] >> (6 * (ib % 2) + 0)) & 7) + 1);
            const float dl2 = d * (float)(2 * ((sc[ib / 2] >> (6 * (ib % 2) + 3)) & 7) + 1);
            const unsigned idx[4] = {qs[0] | ((qh[0] << 8) & 0x700u),
                                     qs[1] | ((qh[0] << 4) & 0x700u),
                                     qs[2] | ((qh[1] << 8) & 0x700u),
                                     qs[3] | ((qh[1] << 4) & 0x700u)};
            const float delta[4] = {(qh[0] & 0x08) ? -IQ1_DELTA : IQ1_DELTA,
                                    (qh[0] & 0x80) ? -IQ1_DELTA : IQ1_DELTA,
                                    (qh[1] & 0x08) ? -IQ1_DELTA : IQ1_DELTA,
                                    (qh[1] & 0x80) ? -IQ1_DELTA : IQ1_DELTA};
            for (int l = 0; l < 4; l++, y += 8) {
                const float dl = l < 2 ? dl1 : dl2;
                for (int j = 0; j < 8; j++) y[j] = dl * (iq1_coord(idx[l], j) + delta[l]);
            }
        }
    }
}

/* ============================================================================================
 * Dispatch
 * ========================================================================================== */

typedef void (*deq_fn)(const uint8_t *b, float *y, uint64_t nb);

/* Indexed by ggml type id; NULL where there is no decoder. */
static const deq_fn decoders[FERRY_DTYPE_GGML_END - FERRY_DTYPE_GGML_BASE] = {
    [2] = deq_q4_0,    [3] = deq_q4_1,    [6] = deq_q5_0,   [7] = deq_q5_1,
    [8] = deq_q8_0,    [9] = deq_q8_1,    [10] = deq_q2_k,  [11] = deq_q3_k,
    [12] = deq_q4_k,   [13] = deq_q5_k,   [14] = deq_q6_k,  [15] = deq_q8_k,
    [16] = deq_iq2_xxs, [17] = deq_iq2_xs, [18] = deq_iq3_xxs, [19] = deq_iq1_s,
    [20] = deq_iq4_nl, [21] = deq_iq3_s,  [22] = deq_iq2_s, [23] = deq_iq4_xs,
    [29] = deq_iq1_m,  [34] = deq_tq1_0,  [35] = deq_tq2_0,
    [39] = deq_mxfp4,  [40] = deq_nvfp4,  [41] = deq_q1_0,  [42] = deq_q2_0,
};

int ferry__dequantize(ferry_dtype dt, const void *src, float *dst, uint64_t n)
{
    unsigned v = (unsigned)dt;
    if (v < (unsigned)FERRY_DTYPE_GGML_BASE || v >= (unsigned)FERRY_DTYPE_GGML_END)
        return FERRY_E_DTYPE;
    deq_fn fn = decoders[v - (unsigned)FERRY_DTYPE_GGML_BASE];
    const ferry__dtype_desc *d = ferry__dtype(dt);
    if (!fn || !d || d->block_size == 0) return FERRY_E_DTYPE;
    if (n % d->block_size != 0) return FERRY_E_ARG;
    if (n == 0) return FERRY_OK;
    if (!src || !dst) return FERRY_E_ARG;
    fn(src, dst, n / d->block_size);
    return FERRY_OK;
}
