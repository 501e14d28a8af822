/*
 * quantize_iq1.c -- row quantizers of the 1-bit lattice types IQ1_S and IQ1_M (ggml-quants.c:
 * quantize_row_iq1_s_impl, quantize_row_iq1_m_impl; FORMATS.md A2.3 "Grid-based IQ types").
 * IQ1_S requires an importance matrix, as in ggml; IQ1_M does not.
 *
 * Per 32 values the levels are {-1, 0, +1} shifted by +-IQ1S_DELTA (0.125); the best split of
 * the values, sorted ascending, into three runs is found exhaustively from prefix sums, for
 * both shift signs; groups of 8 levels off the 2048-point lattice move to the nearest listed
 * lattice point (weighted distance with the shifted levels), then the scale is refitted.
 *
 * The sort: ggml calls qsort with a comparator on the value alone, so equal values (zeros are
 * common) could come out in any order; the golden data was produced by glibc's merge sort,
 * which is stable. We use a stable insertion sort on (value, original position), which gives
 * the same order for every input without NaN.
 *
 * IQ1_S block: d | qs[32] (low 8 bits of 11-bit grid indices) | qh[8] (u16: three 3-bit high
 * parts, 3-bit scale << 12, shift sign << 15). IQ1_M is described at its function.
 */
#include "quant.h"

#define IQ1S_DELTA 0.125f

/* Stable ascending sort of n values, giving the original positions in order. */
static void sort_positions(const float *x, int n, int *pos)
{
    for (int i = 0; i < n; i++) {
        int j = i;
        while (j > 0 && x[pos[j - 1]] > x[i]) {
            pos[j] = pos[j - 1];
            j--;
        }
        pos[j] = i;
    }
}

/* iq1_find_best_neighbour2: among u's listed neighbours the one nearest to x (weighted, with
 * level values xx[l] at `scale`), first strict minimum; its levels go to L. */
static int iq1_best(const ferry__lattice *lt, unsigned u, const float *x, const float *w,
                    float scale, const float *xx, int8_t *L)
{
    const uint16_t *nb = lt->neighbours + (-lt->map[u] - 1);
    float best_d2 = 3.40282347e+38f;
    int   best    = nb[1];
    for (int j = 1; j <= nb[0]; j++) {
        float d2 = 0;
        for (int i = 0; i < 8; i++) {
            float q    = xx[(ferry__lattice_coord(lt, lt->kgrid[nb[j]], i) - 1) / 2];
            float diff = scale * q - x[i];
            d2 += w[i] * diff * diff;
        }
        if (d2 < best_d2) {
            best_d2 = d2;
            best    = nb[j];
        }
    }
    for (int i = 0; i < 8; i++)
        L[i] = (int8_t)((ferry__lattice_coord(lt, lt->kgrid[best], i) - 1) / 2);
    return best;
}

static void iq1_s_row(const float *x, uint8_t *y, int64_t n, const float *qw, const void *state)
{
    const ferry__lattice *lt = state;
    const float x_p[3] = {-1 + IQ1S_DELTA, IQ1S_DELTA, 1 + IQ1S_DELTA};
    const float x_m[3] = {-1 - IQ1S_DELTA, -IQ1S_DELTA, 1 - IQ1S_DELTA};
    float    scales[8], weight[32], sumx[33], sumw[33];
    int8_t   L[32];
    int      idx[32];
    uint16_t index[4];
    int8_t   shifts[8];
    uint16_t qh[8];
    for (int64_t ibl = 0; ibl < n / 256; ibl++, y += 50) {
        const float *xbl = x + 256 * ibl;
        uint8_t *qs = y + 2;
        ferry__put_f16(y, 0.f);
        memset(qs, 0, 32);
        memset(qh, 0, sizeof qh);
        float max_scale = 0;
        float sumx2     = 0;
        for (int i = 0; i < 256; i++) sumx2 += xbl[i] * xbl[i];
        float sigma2 = 2 * sumx2 / 256;
        for (int ib = 0; ib < 8; ib++) {
            const float *xb = xbl + 32 * ib;
            const float *qb = qw + 256 * ibl + 32 * ib;
            for (int i = 0; i < 32; i++) weight[i] = qb[i] * sqrtf(sigma2 + xb[i] * xb[i]);
            float max = fabsf(xb[0]);
            for (int i = 1; i < 32; i++) max = max > fabsf(xb[i]) ? max : fabsf(xb[i]);
            if (max < 1e-12f) { /* ggml GROUP_MAX_EPS_IQ1_S */
                scales[ib] = 0;
                shifts[ib] = 1;
                continue;
            }
            sort_positions(xb, 32, idx);
            sumx[0] = sumw[0] = 0;
            for (int j = 0; j < 32; j++) {
                int i = idx[j];
                sumx[j + 1] = sumx[j] + weight[i] * xb[i];
                sumw[j + 1] = sumw[j] + weight[i];
            }
            float best_score = -3.40282347e+38f, scale = max;
            int   besti1 = -1, besti2 = -1, best_shift = 0;
            for (int i1 = 0; i1 <= 32; i1++) {
                for (int i2 = i1; i2 <= 32; i2++) {
                    const float *v = x_p;
                    for (int sh = 1; sh >= -1; sh -= 2, v = x_m) {
                        float sumqx = (sumx[i1] - sumx[0]) * v[0] + (sumx[i2] - sumx[i1]) * v[1] +
                                      (sumx[32] - sumx[i2]) * v[2];
                        float sumq2 = (sumw[i1] - sumw[0]) * v[0] * v[0] +
                                      (sumw[i2] - sumw[i1]) * v[1] * v[1] +
                                      (sumw[32] - sumw[i2]) * v[2] * v[2];
                        if (sumq2 > 0 && sumqx * sumqx > best_score * sumq2) {
                            scale      = sumqx / sumq2;
                            best_score = scale * sumqx;
                            besti1     = i1;
                            besti2     = i2;
                            best_shift = sh;
                        }
                    }
                }
            }
            if (besti1 < 0 || besti2 < 0 || best_shift == 0) {
                scales[ib] = 0;
                shifts[ib] = 1;
                continue;
            }
            for (int j = 0; j < besti1; j++) L[idx[j]] = 0;
            for (int j = besti1; j < besti2; j++) L[idx[j]] = 1;
            for (int j = besti2; j < 32; j++) L[idx[j]] = 2;
            if (scale < 0) {
                for (int j = 0; j < 32; j++) L[j] = (int8_t)(2 - L[j]);
                scale      = -scale;
                best_shift = -best_shift;
            }
            bool all_on_grid = true;
            const float *xx = best_shift == 1 ? x_p : x_m;
            for (int k = 0; k < 4; k++) {
                unsigned u = 0;
                for (int j = 0; j < 8; j++) u |= (unsigned)L[8 * k + j] << (2 * j);
                int g = lt->map[u];
                if (g < 0) {
                    all_on_grid = false;
                    g = iq1_best(lt, u, xb + 8 * k, weight + 8 * k, scale, xx, L + 8 * k);
                }
                index[k] = (uint16_t)g;
            }
            if (!all_on_grid) {
                float sumqx = 0, sumq2 = 0;
                for (int k = 0; k < 4; k++) {
                    for (int j = 0; j < 8; j++) {
                        float w = weight[8 * k + j];
                        float q = xx[(ferry__lattice_coord(lt, lt->kgrid[index[k]], j) - 1) / 2];
                        sumqx += w * q * xb[8 * k + j];
                        sumq2 += w * q * q;
                    }
                }
                if (sumqx > 0 && sumq2 > 0) scale = sumqx / sumq2;
            }
            uint16_t h = 0;
            for (int k = 0; k < 4; k++) {
                qs[4 * ib + k] = (uint8_t)(index[k] & 255);
                h |= (uint16_t)((index[k] >> 8) << (3 * k));
            }
            qh[ib]     = h;
            scales[ib] = scale;
            shifts[ib] = (int8_t)best_shift;
            max_scale  = max_scale > scale ? max_scale : scale;
        }
        if (max_scale != 0.f) {
            float d = max_scale / 15;
            ferry__put_f16(y, d * 1.125f);
            float id = 1 / d;
            for (int ib = 0; ib < 8; ib++) {
                int l = ferry__nearest_int(0.5f * (id * scales[ib] - 1));
                l     = l < 0 ? 0 : l > 7 ? 7 : l;
                if (shifts[ib] == -1) l |= 8;
                qh[ib] |= (uint16_t)(l << 12);
            }
        }
        for (int ib = 0; ib < 8; ib++) ferry__wr16le(y + 34 + 2 * ib, qh[ib]);
    }
}

/* ============================================================================================
 * IQ1_M: qs[32] | qh[16] (two 3-bit high index parts, shift-sign bits 0x08 / 0x80) |
 * scales[8] (four u16: 3-bit sub-scales, the fp16 super-scale in their top nibbles)
 * ========================================================================================== */

/*
 * quantize_row_iq1_m_impl: 16-value blocks whose two halves may take different shift signs
 * (four combinations). Each split of the sorted values is scored by summing w * v * x and
 * w * v^2 directly in sorted order, as the ggml version that wrote the golden data does (a
 * later ggml rewrite with per-half prefix sums rounds differently and changes some blocks);
 * the super-scale is refitted over the whole super-block and stored with ggml's 1.1125
 * fudge factor. Weights x^2 without importance matrix.
 */
static void iq1_m_row(const float *x, uint8_t *y, int64_t n, const float *qw, const void *state)
{
    const ferry__lattice *lt = state;
    const float   x_p[3]   = {-1 + IQ1S_DELTA, IQ1S_DELTA, 1 + IQ1S_DELTA};
    const float   x_m[3]   = {-1 - IQ1S_DELTA, -IQ1S_DELTA, 1 - IQ1S_DELTA};
    const uint8_t masks[4] = {0x00, 0x80, 0x08, 0x88};
    float    scales[16], weight[16];
    int8_t   L[16];
    int      idx[16];
    uint16_t index[2];
    int8_t   shifts[16];
    for (int64_t ibl = 0; ibl < n / 256; ibl++, y += 56) {
        const float *xbl = x + 256 * ibl;
        uint8_t *qs = y;
        uint8_t *qh = y + 32;
        uint16_t sc[4] = {0, 0, 0, 0};
        memset(y, 0, 56);
        float max_scale = 0;
        float sumx2     = 0;
        for (int i = 0; i < 256; i++) sumx2 += xbl[i] * xbl[i];
        float sigma2 = 2 * sumx2 / 256;
        for (int ib = 0; ib < 16; ib++) {
            const float *xb = xbl + 16 * ib;
            if (qw) {
                const float *qb = qw + 256 * ibl + 16 * ib;
                for (int i = 0; i < 16; i++) weight[i] = qb[i] * sqrtf(sigma2 + xb[i] * xb[i]);
            } else {
                for (int i = 0; i < 16; i++) weight[i] = xb[i] * xb[i];
            }
            float max = fabsf(xb[0]);
            for (int i = 1; i < 16; i++) max = max > fabsf(xb[i]) ? max : fabsf(xb[i]);
            if (max < 1e-7f) { /* ggml GROUP_MAX_EPS_IQ1_M */
                scales[ib] = 0;
                shifts[ib] = 0;
                continue;
            }
            sort_positions(xb, 16, idx);
            float best_score = -3.40282347e+38f, scale = max;
            int   besti1 = -1, besti2 = -1, best_k = -1;
            for (int i1 = 0; i1 <= 16; i1++) {
                for (int i2 = i1; i2 <= 16; i2++) {
                    /* Combination k: bit 1 = first half uses x_m, bit 0 = second half does. */
                    float sqx[4] = {0, 0, 0, 0}, sq2[4] = {0, 0, 0, 0};
                    for (int j = 0; j < 16; j++) {
                        const int   i   = idx[j];
                        const int   lev = j < i1 ? 0 : j < i2 ? 1 : 2;
                        const float vp = x_p[lev], vm = x_m[lev];
                        const float wx = weight[i];
                        /* first half: k = 0, 1 take x_p; second half: k = 0, 2 take x_p */
                        const float v0 = vp, v3 = vm;
                        const float v1 = i < 8 ? vp : vm, v2 = i < 8 ? vm : vp;
                        sqx[0] += wx * v0 * xb[i];
                        sqx[1] += wx * v1 * xb[i];
                        sqx[2] += wx * v2 * xb[i];
                        sqx[3] += wx * v3 * xb[i];
                        sq2[0] += wx * v0 * v0;
                        sq2[1] += wx * v1 * v1;
                        sq2[2] += wx * v2 * v2;
                        sq2[3] += wx * v3 * v3;
                    }
                    for (int k = 0; k < 4; k++) {
                        if (sq2[k] > 0 && sqx[k] * sqx[k] > best_score * sq2[k]) {
                            scale      = sqx[k] / sq2[k];
                            best_score = scale * sqx[k];
                            besti1     = i1;
                            besti2     = i2;
                            best_k     = k;
                        }
                    }
                }
            }
            if (besti1 < 0 || besti2 < 0 || best_k < 0) {
                scales[ib] = 0;
                shifts[ib] = 0;
                continue;
            }
            for (int j = 0; j < besti1; j++) L[idx[j]] = 0;
            for (int j = besti1; j < besti2; j++) L[idx[j]] = 1;
            for (int j = besti2; j < 16; j++) L[idx[j]] = 2;
            if (scale < 0) {
                for (int j = 0; j < 16; j++) L[j] = (int8_t)(2 - L[j]);
                scale  = -scale;
                best_k = 3 - best_k;
            }
            bool all_on_grid = true;
            for (int k = 0; k < 2; k++) {
                const float *xx = (k == 0 ? best_k < 2 : best_k % 2 == 0) ? x_p : x_m;
                unsigned u = 0;
                for (int j = 0; j < 8; j++) u |= (unsigned)L[8 * k + j] << (2 * j);
                int g = lt->map[u];
                if (g < 0) {
                    all_on_grid = false;
                    g = iq1_best(lt, u, xb + 8 * k, weight + 8 * k, scale, xx, L + 8 * k);
                }
                index[k] = (uint16_t)g;
            }
            if (!all_on_grid) {
                float sumqx = 0, sumq2 = 0;
                for (int k = 0; k < 2; k++) {
                    const float *xx = (k == 0 ? best_k < 2 : best_k % 2 == 0) ? x_p : x_m;
                    for (int j = 0; j < 8; j++) {
                        float w = weight[8 * k + j];
                        float q = xx[(ferry__lattice_coord(lt, lt->kgrid[index[k]], j) - 1) / 2];
                        sumqx += w * q * xb[8 * k + j];
                        sumq2 += w * q * q;
                    }
                }
                if (sumqx > 0 && sumq2 > 0) scale = sumqx / sumq2;
            }
            qs[2 * ib]     = (uint8_t)(index[0] & 255);
            qs[2 * ib + 1] = (uint8_t)(index[1] & 255);
            qh[ib]         = (uint8_t)((index[0] >> 8) | ((index[1] >> 8) << 4));
            scales[ib]     = scale;
            shifts[ib]     = (int8_t)best_k;
            max_scale      = max_scale > scale ? max_scale : scale;
        }
        if (max_scale == 0.f) continue;
        float d  = max_scale / 15;
        float id = 1 / d;
        float sumqx = 0, sumq2 = 0;
        for (int ib = 0; ib < 16; ib++) {
            int l = ferry__nearest_int(0.5f * (id * scales[ib] - 1));
            l     = l < 0 ? 0 : l > 7 ? 7 : l;
            sc[ib / 4] |= (uint16_t)(l << (3 * (ib % 4)));
            qh[ib] |= masks[shifts[ib]];
            const float *xb = xbl + 16 * ib;
            if (qw) {
                const float *qb = qw + 256 * ibl + 16 * ib;
                for (int i = 0; i < 16; i++) weight[i] = qb[i] * sqrtf(sigma2 + xb[i] * xb[i]);
            } else {
                for (int i = 0; i < 16; i++) weight[i] = xb[i] * xb[i];
            }
            for (int k = 0; k < 2; k++) {
                const float *xx = (k == 0 ? shifts[ib] < 2 : shifts[ib] % 2 == 0) ? x_p : x_m;
                unsigned g = qs[2 * ib + k] + (((unsigned)qh[ib] << (8 - 4 * k)) & 0x700);
                for (int j = 0; j < 8; j++) {
                    float w = weight[8 * k + j];
                    float q = xx[(ferry__lattice_coord(lt, lt->kgrid[g], j) - 1) / 2] *
                              (float)(2 * l + 1);
                    sumqx += w * q * xb[8 * k + j];
                    sumq2 += w * q * q;
                }
            }
        }
        if (sumq2 > 0) d = sumqx / sumq2;
        uint16_t s16 = ferry_f32_to_f16(d * 1.1125f);
        sc[0] |= (uint16_t)((s16 & 0x000f) << 12);
        sc[1] |= (uint16_t)((s16 & 0x00f0) << 8);
        sc[2] |= (uint16_t)((s16 & 0x0f00) << 4);
        sc[3] |= (uint16_t)(s16 & 0xf000);
        for (int i = 0; i < 4; i++) ferry__wr16le(y + 48 + 2 * i, sc[i]);
    }
}

ferry__qrow_fn ferry__qrow_iq1(int id)
{
    return id == 19 ? iq1_s_row : id == 29 ? iq1_m_row : NULL;
}
