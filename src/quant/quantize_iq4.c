/*
 * quantize_iq4.c -- row quantizers of the non-linear 4-bit types IQ4_NL (32) and IQ4_XS (256).
 *
 * Both follow ggml's quantize_row_iq4_nl_impl as called by ggml_quantize_chunk, i.e. with a
 * 15-candidate scale search (ntry = 7) and the importance matrix honoured (FORMATS.md A2.3
 * "Non-linear 4-bit"). This is deliberately *not* quantize_row_iq4_nl_ref, which skips the
 * search and re-uses stale codes for zero blocks (FORMATS.md A4.1): llama-quantize writes
 * the chunk path, and so do we.
 *
 * Per 32-element block: weights x^2 (or imatrix * sqrt(sigma2 + x^2), sigma2 = 2 * mean
 * square over the whole super-block: 32 values for IQ4_NL, 256 for IQ4_XS), start from
 * d = -max / T[0], least-squares refit, then try id = (itry + T[0]) / max for itry = -7..7.
 * IQ4_NL stores fp16(d) and re-derives the codes with 1/d (fp32); IQ4_XS quantizes the eight
 * block scales to 6-bit codes against d = -max_scale / 32 and re-derives the codes with
 * 1 / (d * l).
 */
#include "quant.h"
#include "iq_tables.h"

/* ============================================================================================
 * Level search
 * ========================================================================================== */

/* Index of the level of T (16 sorted values) nearest to x (ggml best_index_int8): below the
 * first or above the last clamps; otherwise a binary search, then the lower neighbour wins
 * when x - T[i-1] < T[i] - x, both differences rounded to float as ggml computes them (a
 * branch-free variant comparing 2x with T[i-1] + T[i] differs on rounding near-ties; the
 * golden data follows this form). */
static inline int best_level(const int8_t *T, float x)
{
    if (x <= (float)T[0]) return 0;
    if (x >= (float)T[15]) return 15;
    int ml = 0, mu = 15;
    while (mu - ml > 1) {
        int mav = (ml + mu) / 2;
        if (x < (float)T[mav])
            mu = mav;
        else
            ml = mav;
    }
    return x - (float)T[mu - 1] < (float)T[mu] - x ? mu - 1 : mu;
}

/* ============================================================================================
 * The shared super-block routine
 * ========================================================================================== */

/*
 * Quantizes `sbs` values (32 for IQ4_NL, 256 for IQ4_XS) into codes L and fp16 scale(s).
 * For sbs == 32 only *dh is written besides the codes; for 256 also scales_h / scales_l.
 */
static void iq4_superblock(int sbs, const float *x, const float *qw, uint8_t *dh,
                           uint8_t *scales_h, uint8_t *scales_l, uint8_t *q4)
{
    const int8_t *T = ferry__kvalues_iq4nl;
    uint8_t L[256];
    float   weight[32];
    float   scales[8];
    const int nblk = sbs / 32;

    float sigma2 = 0;
    for (int j = 0; j < sbs; j++) sigma2 += x[j] * x[j];
    sigma2 *= 2.f / (float)sbs;

    memset(q4, 0, (size_t)sbs / 2);
    ferry__put_f16(dh, 0.f);

    float max_scale = 0, amax_scale = 0;
    for (int ib = 0; ib < nblk; ib++) {
        const float *xb = x + 32 * ib;
        uint8_t     *Lb = L + 32 * ib;
        if (qw) {
            const float *qb = qw + 32 * ib;
            for (int j = 0; j < 32; j++) weight[j] = qb[j] * sqrtf(sigma2 + xb[j] * xb[j]);
        } else {
            for (int j = 0; j < 32; j++) weight[j] = xb[j] * xb[j];
        }
        float amax;
        float max = ferry__signed_max(xb, 32, &amax);
        if (amax < FERRY__GROUP_MAX_EPS) {
            scales[ib] = 0;
            memset(Lb, 0, 32);
            continue;
        }
        float d  = -max / (float)T[0];
        float id = 1 / d;
        float sumqx = 0, sumq2 = 0;
        for (int j = 0; j < 32; j++) {
            int l = best_level(T, id * xb[j]);
            Lb[j] = (uint8_t)l;
            float q = (float)T[l];
            sumqx += weight[j] * q * xb[j];
            sumq2 += weight[j] * q * q;
        }
        d = sumq2 > 0 ? sumqx / sumq2 : 0.f;
        float best = d * sumqx;
        for (int itry = -7; itry <= 7; itry++) {
            id    = (float)(itry + T[0]) / max;
            sumqx = sumq2 = 0;
            for (int j = 0; j < 32; j++) {
                float q = (float)T[best_level(T, id * xb[j])];
                sumqx += weight[j] * q * xb[j];
                sumq2 += weight[j] * q * q;
            }
            if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
                d    = sumqx / sumq2;
                best = d * sumqx;
            }
        }
        scales[ib] = d;
        float abs_d = fabsf(d);
        if (abs_d > amax_scale) {
            amax_scale = abs_d;
            max_scale  = d;
        }
    }

    if (nblk > 1) {
        uint16_t sh = 0;
        float d = -max_scale / 32;
        ferry__put_f16(dh, d);
        float id = d != 0.f ? 1 / d : 0.f;
        for (int ib = 0; ib < nblk; ib++) {
            int l = ferry__nearest_int(id * scales[ib]);
            l = l < -32 ? -32 : l > 31 ? 31 : l;
            float dl  = d * (float)l;
            float idl = dl != 0.f ? 1 / dl : 0.f;
            for (int j = 0; j < 32; j++)
                L[32 * ib + j] = (uint8_t)best_level(T, idl * x[32 * ib + j]);
            l += 32;
            if (ib % 2 == 0)
                scales_l[ib / 2] = (uint8_t)(l & 0xF);
            else
                scales_l[ib / 2] |= (uint8_t)((l & 0xF) << 4);
            sh |= (uint16_t)((l >> 4) << (2 * (ib % 8)));
        }
        ferry__wr16le(scales_h, sh);
    } else {
        ferry__put_f16(dh, scales[0]);
        float id = scales[0] != 0.f ? 1 / scales[0] : 0;
        for (int j = 0; j < sbs; j++) L[j] = (uint8_t)best_level(T, id * x[j]);
    }

    for (int i = 0; i < sbs / 32; i++)
        for (int j = 0; j < 16; j++)
            q4[16 * i + j] = (uint8_t)(L[32 * i + j] | (L[32 * i + 16 + j] << 4));
}

/* ============================================================================================
 * Row functions
 * ========================================================================================== */

/* IQ4_NL: d | qs[16] */
static void iq4_nl_row(const float *x, uint8_t *y, int64_t n, const float *qw, const void *st)
{
    (void)st;
    for (int64_t ib = 0; ib < n / 32; ib++, y += 18)
        iq4_superblock(32, x + 32 * ib, qw ? qw + 32 * ib : NULL, y, NULL, NULL, y + 2);
}

/* IQ4_XS: d | scales_h (u16) | scales_l[4] | qs[128] */
static void iq4_xs_row(const float *x, uint8_t *y, int64_t n, const float *qw, const void *st)
{
    (void)st;
    for (int64_t ib = 0; ib < n / 256; ib++, y += 136)
        iq4_superblock(256, x + 256 * ib, qw ? qw + 256 * ib : NULL, y, y + 2, y + 4, y + 8);
}

ferry__qrow_fn ferry__qrow_iq4(int id)
{
    switch (id) {
    case 20: return iq4_nl_row;
    case 23: return iq4_xs_row;
    default: return NULL;
    }
}
