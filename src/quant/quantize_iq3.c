/*
 * quantize_iq3.c -- row quantizers of the 4-dimensional lattice types IQ3_XXS and IQ3_S
 * (ggml-quants.c: quantize_row_iq3_xxs_impl with grid size 256, quantize_row_iq3_s_impl;
 * FORMATS.md A2.3 "Grid-based IQ types"). IQ3_XXS first; IQ3_S's differences are listed at
 * its function.
 *
 * Per 32 values: weights x^2, or imatrix * sqrt(sigma2 + x^2) with sigma2 twice the mean
 * square of the super-block; signs split off as for IQ2 (even parity per group of 8, the
 * cheapest element flipped); 31 trial scales, each group of 4 magnitudes snapped to its
 * level set and, when off the lattice, to the nearest listed lattice point; then a refit.
 * The super-scale is stored with ggml's fudge factor: fp16(max_scale / 31 * 1.0125).
 *
 * Block: d | qs[64] (grid index per group of 4) | 8 u32 words (4 x 7 sign bits, 4-bit scale
 * in the top nibble). The lattice tables come from quantize_iq2.c (ferry__lattice).
 */
#include "quant.h"

/* ggml GROUP_MAX_EPS_IQ3_XXS: below this largest magnitude a 32-value block is empty. */
#define EPS_IQ3_XXS 1e-8f

/* Levels of 4 magnitudes at inverse scale id: nearest_int(0.5 (id x - 1)) clamped to 0..7. */
static unsigned levels4(const float *xval, float id, int8_t *L)
{
    unsigned u = 0;
    for (int i = 0; i < 4; i++) {
        int l = ferry__nearest_int(0.5f * (id * xval[i] - 1));
        l     = l < 0 ? 0 : l > 7 ? 7 : l;
        if (L) L[i] = (int8_t)l;
        u |= (unsigned)l << (3 * i);
    }
    return u;
}

static void sums(const float *w, const float *xval, const int8_t *L, float *sqx, float *sq2)
{
    float sumqx = 0, sumq2 = 0;
    for (int i = 0; i < 32; i++) {
        float q = (float)(2 * L[i] + 1);
        sumqx += w[i] * xval[i] * q;
        sumq2 += w[i] * q * q;
    }
    *sqx = sumqx;
    *sq2 = sumq2;
}

static void iq3_xxs_row(const float *x, uint8_t *y, int64_t n, const float *qw, const void *state)
{
    const ferry__lattice *lt = state;
    float    scales[8], weight[32], xval[32], waux[32];
    int8_t   L[32], Laux[32];
    bool     on_grid[8], on_grid_aux[8];
    uint8_t  block_signs[4];
    uint8_t  q3[64];
    uint32_t sas[8]; /* scales and signs */
    for (int64_t ibl = 0; ibl < n / 256; ibl++, y += 98) {
        const float *xbl = x + 256 * ibl;
        ferry__put_f16(y, 0.f);
        memset(q3, 0, sizeof q3);
        memset(sas, 0, sizeof sas);
        float max_scale = 0;
        float sumx2     = 0;
        for (int i = 0; i < 256; i++) sumx2 += xbl[i] * xbl[i];
        float sigma2 = 2 * sumx2 / 256;
        for (int ib = 0; ib < 8; ib++) {
            const float *xb = xbl + 32 * ib;
            if (qw) {
                const float *qb = qw + 256 * ibl + 32 * ib;
                for (int i = 0; i < 32; i++) weight[i] = qb[i] * sqrtf(sigma2 + xb[i] * xb[i]);
            } else {
                for (int i = 0; i < 32; i++) weight[i] = xb[i] * xb[i];
            }
            for (int i = 0; i < 32; i++) waux[i] = sqrtf(weight[i]);
            for (int k = 0; k < 4; k++) {
                int     nflip = 0;
                uint8_t s     = 0;
                for (int i = 0; i < 8; i++) {
                    if (xb[8 * k + i] >= 0) {
                        xval[8 * k + i] = xb[8 * k + i];
                    } else {
                        xval[8 * k + i] = -xb[8 * k + i];
                        nflip++;
                        s |= (uint8_t)(1u << i);
                    }
                }
                if (nflip % 2) {
                    int   imin = 0;
                    float min  = weight[8 * k] * xb[8 * k] * xb[8 * k];
                    for (int i = 1; i < 8; i++) {
                        float ax = weight[8 * k + i] * xb[8 * k + i] * xb[8 * k + i];
                        if (ax < min) {
                            min  = ax;
                            imin = i;
                        }
                    }
                    xval[8 * k + imin] = -xval[8 * k + imin];
                    s ^= (uint8_t)(1u << imin);
                }
                block_signs[k] = s & 127;
            }
            float max = xval[0];
            for (int i = 1; i < 32; i++) max = max > xval[i] ? max : xval[i];
            memset(L, 0, 32);
            if (max < EPS_IQ3_XXS) {
                scales[ib] = 0;
                continue;
            }
            float best  = 0;
            float scale = max / 15;
            for (int k = 0; k < 8; k++) on_grid[k] = true;
            for (int is = -15; is <= 15; is++) {
                float id         = (15 + (float)is * 0.2f) / max;
                float this_scale = 1 / id;
                for (int k = 0; k < 8; k++) {
                    unsigned u = levels4(xval + 4 * k, id, Laux + 4 * k);
                    on_grid_aux[k] = lt->map[u] >= 0;
                    if (!on_grid_aux[k])
                        ferry__lattice_best(lt, u, xval + 4 * k, waux + 4 * k, this_scale,
                                            Laux + 4 * k);
                }
                float sumqx, sumq2;
                sums(weight, xval, Laux, &sumqx, &sumq2);
                if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
                    scale = sumqx / sumq2;
                    best  = scale * sumqx;
                    memcpy(L, Laux, 32);
                    memcpy(on_grid, on_grid_aux, sizeof on_grid);
                }
            }
            int n_off = 0;
            for (int k = 0; k < 8; k++) n_off += !on_grid[k];
            if (n_off > 0 && scale > 0) {
                float id = 1 / scale;
                for (int k = 0; k < 8; k++) {
                    if (on_grid[k]) continue;
                    unsigned u = levels4(xval + 4 * k, id, NULL);
                    int      g = lt->map[u];
                    if (g < 0)
                        g = ferry__lattice_best(lt, u, xval + 4 * k, waux + 4 * k, scale,
                                                L + 4 * k);
                    for (int i = 0; i < 4; i++)
                        L[4 * k + i] =
                            (int8_t)((ferry__lattice_coord(lt, lt->kgrid[g], i) - 1) / 2);
                }
                float sumqx, sumq2;
                sums(weight, xval, L, &sumqx, &sumq2);
                if (sumq2 > 0) scale = sumqx / sumq2;
            }
            if (scale < 0) {
                scale = -scale;
                for (int k = 0; k < 4; k++) block_signs[k] = (uint8_t)(~block_signs[k] & 127);
            }
            for (int k = 0; k < 8; k++) {
                unsigned u = 0;
                for (int i = 0; i < 4; i++) u |= (unsigned)L[4 * k + i] << (3 * i);
                int g = lt->map[u];
                /* Always on the lattice by construction (ggml aborts otherwise). */
                if (FERRY_NEVER(g < 0)) g = 0;
                q3[8 * ib + k] = (uint8_t)g;
            }
            sas[ib] = (uint32_t)block_signs[0] | (uint32_t)block_signs[1] << 7 |
                      (uint32_t)block_signs[2] << 14 | (uint32_t)block_signs[3] << 21;
            scales[ib] = scale;
            max_scale  = max_scale > scale ? max_scale : scale;
        }
        if (max_scale == 0.f) {
            memset(y + 2, 0, 96);
            continue;
        }
        float d = max_scale / 31;
        ferry__put_f16(y, d * 1.0125f);
        float id = 1 / d;
        for (int ib = 0; ib < 8; ib++) {
            int l = ferry__nearest_int(0.5f * (id * scales[ib] - 1));
            l     = l < 0 ? 0 : l > 15 ? 15 : l;
            sas[ib] |= (uint32_t)l << 28;
        }
        memcpy(y + 2, q3, 64);
        for (int ib = 0; ib < 8; ib++) ferry__wr32le(y + 66 + 4 * ib, sas[ib]);
    }
}

/* ============================================================================================
 * IQ3_S: d | qs[64] (low 8 bits of the grid index per group of 4) | qh[8] (ninth bits) |
 * signs[32] (one bit per value) | scales[4] (two 4-bit codes)
 * ========================================================================================== */

/*
 * quantize_row_iq3_s_impl with 32-value blocks. Unlike IQ3_XXS: every sign is stored (no
 * parity trick), a block is empty only when its largest magnitude is exactly 0, 19 trial
 * scales, the refit re-snaps *every* group (ggml's skip of on-grid groups is commented out
 * there), and the super-scale fudge factor is 1.033. Part of the format as ggml writes it:
 * the qs and signs cursors only advance past blocks that were quantized, so after an empty
 * (all-zero) block the following blocks' indices and signs sit one slot early and the last
 * slots stay zero, while qh is addressed by block number (golden `edge` input).
 */
static void iq3_s_row(const float *x, uint8_t *y, int64_t n, const float *qw, const void *state)
{
    const ferry__lattice *lt = state;
    float   scales[8], weight[32], xval[32], waux[32];
    int8_t  L[32], Laux[32];
    bool    on_grid[8], on_grid_aux[8];
    uint8_t block_signs[4];
    for (int64_t ibl = 0; ibl < n / 256; ibl++, y += 110) {
        const float *xbl = x + 256 * ibl;
        memset(y, 0, 110);
        uint8_t *qs    = y + 2;
        uint8_t *qh    = y + 66;
        uint8_t *signs = y + 74;
        float max_scale = 0;
        float sumx2     = 0;
        for (int i = 0; i < 256; i++) sumx2 += xbl[i] * xbl[i];
        float sigma2 = 2 * sumx2 / 256;
        for (int ib = 0; ib < 8; ib++) {
            const float *xb = xbl + 32 * ib;
            if (qw) {
                const float *qb = qw + 256 * ibl + 32 * ib;
                for (int i = 0; i < 32; i++) weight[i] = qb[i] * sqrtf(sigma2 + xb[i] * xb[i]);
            } else {
                for (int i = 0; i < 32; i++) weight[i] = xb[i] * xb[i];
            }
            for (int i = 0; i < 32; i++) waux[i] = sqrtf(weight[i]);
            for (int k = 0; k < 4; k++) {
                uint8_t s = 0;
                for (int i = 0; i < 8; i++) {
                    if (xb[8 * k + i] >= 0) {
                        xval[8 * k + i] = xb[8 * k + i];
                    } else {
                        xval[8 * k + i] = -xb[8 * k + i];
                        s |= (uint8_t)(1u << i);
                    }
                }
                block_signs[k] = s;
            }
            float max = xval[0];
            for (int i = 1; i < 32; i++) max = max > xval[i] ? max : xval[i];
            memset(L, 0, 32);
            if (max == 0.f) {
                scales[ib] = 0;
                continue;
            }
            float best  = 0;
            float scale = max / 15;
            for (int k = 0; k < 8; k++) on_grid[k] = false;
            for (int is = -9; is <= 9; is++) {
                float id         = (15 + (float)is * 0.2f) / max;
                float this_scale = 1 / id;
                for (int k = 0; k < 8; k++) {
                    unsigned u = levels4(xval + 4 * k, id, Laux + 4 * k);
                    on_grid_aux[k] = lt->map[u] >= 0;
                    if (!on_grid_aux[k])
                        ferry__lattice_best(lt, u, xval + 4 * k, waux + 4 * k, this_scale,
                                            Laux + 4 * k);
                }
                float sumqx, sumq2;
                sums(weight, xval, Laux, &sumqx, &sumq2);
                if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
                    scale = sumqx / sumq2;
                    best  = scale * sumqx;
                    memcpy(L, Laux, 32);
                    memcpy(on_grid, on_grid_aux, sizeof on_grid);
                }
            }
            int n_off = 0;
            for (int k = 0; k < 8; k++) n_off += !on_grid[k];
            if (n_off > 0 && scale > 0) {
                float id = 1 / scale;
                for (int k = 0; k < 8; k++) {
                    unsigned u = levels4(xval + 4 * k, id, NULL);
                    int      g = lt->map[u];
                    if (g < 0)
                        g = ferry__lattice_best(lt, u, xval + 4 * k, waux + 4 * k, scale,
                                                L + 4 * k);
                    for (int i = 0; i < 4; i++)
                        L[4 * k + i] =
                            (int8_t)((ferry__lattice_coord(lt, lt->kgrid[g], i) - 1) / 2);
                }
                float sumqx, sumq2;
                sums(weight, xval, L, &sumqx, &sumq2);
                if (sumq2 > 0) scale = sumqx / sumq2;
            }
            if (scale < 0) {
                scale = -scale;
                for (int k = 0; k < 4; k++) block_signs[k] = (uint8_t)~block_signs[k];
            }
            for (int k = 0; k < 8; k++) {
                unsigned u = 0;
                for (int i = 0; i < 4; i++) u |= (unsigned)L[4 * k + i] << (3 * i);
                int g = lt->map[u];
                if (FERRY_NEVER(g < 0)) g = 0;
                qs[k] = (uint8_t)(g & 255);
                qh[ib] |= (uint8_t)((g >> 8) << k);
            }
            qs += 8;
            for (int k = 0; k < 4; k++) signs[k] = block_signs[k];
            signs += 4;
            scales[ib] = scale;
            max_scale  = max_scale > scale ? max_scale : scale;
        }
        if (max_scale == 0.f) continue;
        float d = max_scale / 31;
        ferry__put_f16(y, d * 1.033f);
        float id = 1 / d;
        for (int ib = 0; ib < 8; ib += 2) {
            int l1 = ferry__nearest_int(0.5f * (id * scales[ib] - 1));
            int l2 = ferry__nearest_int(0.5f * (id * scales[ib + 1] - 1));
            l1     = l1 < 0 ? 0 : l1 > 15 ? 15 : l1;
            l2     = l2 < 0 ? 0 : l2 > 15 ? 15 : l2;
            y[106 + ib / 2] = (uint8_t)(l1 | (l2 << 4));
        }
    }
}

ferry__qrow_fn ferry__qrow_iq3(int id)
{
    return id == 18 ? iq3_xxs_row : id == 21 ? iq3_s_row : NULL;
}
