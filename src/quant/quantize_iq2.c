/*
 * quantize_iq2.c -- the lattice search tables of the grid i-quants, and the row quantizers of
 * the 8-dimensional types IQ2_XXS, IQ2_XS and IQ2_S (ggml-quants.c: iq2xs_init_impl,
 * iq3xs_init_impl, quantize_row_iq2_{xxs,xs,s}_impl; FORMATS.md A2.3 "Grid-based IQ
 * types").
 *
 * The search tables
 * -----------------
 * A group of 8 (IQ2) or 4 (IQ3) values is quantized to levels l_j (coordinate 2 l_j + 1);
 * the packed index u of a point that is on the lattice maps to its grid index (for the IQ2
 * sets the entries of iq_tables.c's kgrid arrays are exactly these packed indices; the IQ3
 * sets are repacked from their coordinate bytes). Off-lattice points get a list of their
 * nearest lattice points: all points whose squared distance is among the `nwant` smallest
 * distinct distances, ordered by (distance, index). ggml builds this with a qsort per point;
 * that order is total, so any method that yields the same ordered lists gives the same bytes.
 * We bucket by distance (distances are small integers) instead, which is faster and needs no
 * comparison callback. The layout is ggml's: map[u] >= 0 is a grid index, map[u] < 0 means
 * the list starts at neighbours[-map[u] - 1] with its length first.
 *
 * Ownership: the tables are built per ferry_quantize_elems call (ferry__lattice_new) in a
 * private context, shared read-only by that call's threads and freed before it returns.
 * There is no global state; building costs O(map size * grid size) small-integer operations
 * (well under 0.1 s for these lattices), paid once per call.
 */
#include "quant.h"
#include "iq_tables.h"

/* ============================================================================================
 * Search tables (shared with quantize_iq3.c through quant.h)
 * ========================================================================================== */

/* Squared distances from off-grid point u to every lattice point (into d2), and the nwant
 * smallest distinct distances in increasing order (vals[0..2], -1 where there are fewer).
 * Returns the length of u's neighbour list. sq[(j * 8 + v) * grid_size + g] is the squared
 * difference between coordinate j of point g and level v, so the distances are sums of byte
 * rows (vectorisable; the 2048-point IQ1 lattice has 43692 x 2048 pairs). */
static int near_set(const ferry__lattice *lt, const uint8_t *sq, unsigned u, uint16_t *d2,
                    int *vals)
{
    const int gs   = lt->grid_size;
    unsigned  mask = (1u << lt->lbits) - 1;
    memset(d2, 0, (size_t)gs * sizeof *d2);
    for (int j = 0; j < lt->dim; j++) {
        const uint8_t *row = sq + ((size_t)j * 8 + ((u >> (lt->lbits * j)) & mask)) * gs;
        for (int g = 0; g < gs; g++) d2[g] = (uint16_t)(d2[g] + row[g]);
    }
    int hist[FERRY__LATTICE_MAX_D2 + 1];
    memset(hist, 0, sizeof hist);
    for (int g = 0; g < gs; g++) hist[d2[g]]++;
    int have = 0, n = 0;
    for (int d = 0; d <= FERRY__LATTICE_MAX_D2 && have < lt->nwant; d++) {
        if (!hist[d]) continue;
        vals[have++] = d;
        n += hist[d];
    }
    for (; have < 3; have++) vals[have] = -1;
    return n;
}

void ferry__lattice_free(ferry__lattice *lt)
{
    if (!lt) return;
    ferry_ctx *ctx = lt->ctx;
    ferry__free(ctx, lt->kgrid, (size_t)lt->grid_size * sizeof(uint16_t));
    ferry__free(ctx, lt->map, (size_t)lt->kmap_size * sizeof(int32_t));
    ferry__free(ctx, lt->neighbours, lt->n_neighbours * sizeof(uint16_t));
    ferry__free(ctx, lt, sizeof *lt);
    ferry_ctx_free(ctx);
}

/* Packed level index of an IQ3 grid entry (four coordinate bytes): IQ3_XXS stores the levels
 * as 4, 12, 20, 28, 36, 44, 52, 62, IQ3_S as 1, 3, ..., 15 (iq_tables.c). */
static uint16_t iq3_pack(uint32_t point, bool xxs)
{
    unsigned u = 0;
    for (int j = 0; j < 4; j++) {
        unsigned v = (point >> (8 * j)) & 0xFF;
        unsigned l = xxs ? (v == 62 ? 7 : v / 8) : (v - 1) / 2;
        u |= (l & 7) << (3 * j);
    }
    return (uint16_t)u;
}

int ferry__lattice_grid_size(int id)
{
    switch (id) {
    case 16: return 256;   /* IQ2_XXS */
    case 17: return 512;   /* IQ2_XS */
    case 22: return 1024;  /* IQ2_S */
    case 19: return 2048;  /* IQ1_S */
    case 29: return 2048;  /* IQ1_M */
    case 18: return 256;   /* IQ3_XXS */
    case 21: return 512;   /* IQ3_S */
    default: return 0;
    }
}

/*
 * Builds the map and neighbour lists of the lattice of GGML type `id` (iq2xs_init_impl /
 * iq3xs_init_impl: IQ2 sets with levels 0..2 in 8 dimensions, nwant 2 (1 for IQ2_S's 1024
 * points, 3 for the 2048-point IQ1 set); IQ3 sets with levels
 * 0..7 in 4 dimensions, nwant 2 for 256 points and 3 for 512). Returns NULL when out of
 * memory or when the type has no lattice.
 */
ferry__lattice *ferry__lattice_new(int id)
{
    int grid_size = ferry__lattice_grid_size(id);
    if (grid_size == 0) return NULL;
    ferry_ctx *ctx = ferry_ctx_new(NULL);
    if (!ctx) return NULL;
    ferry__lattice *lt = ferry__calloc(ctx, 1, sizeof *lt);
    uint16_t *d2 = ferry__malloc(ctx, (size_t)grid_size * sizeof(uint16_t));
    size_t    sq_bytes = (size_t)8 * 8 * (size_t)grid_size;
    uint8_t  *sq = ferry__malloc(ctx, sq_bytes);
    if (!lt || !d2 || !sq) goto fail;
    lt->ctx       = ctx;
    lt->grid_size = grid_size;
    bool iq3      = id == 18 || id == 21;
    lt->dim       = iq3 ? 4 : 8;
    lt->lbits     = iq3 ? 3 : 2;
    lt->kmap_size = iq3 ? 4096 : 43692; /* 1 + largest packed index of reachable levels */
    lt->nwant     = id == 21 || id == 19 || id == 29 ? 3 : id == 22 ? 1 : 2;
    lt->kgrid     = ferry__malloc(ctx, (size_t)grid_size * sizeof(uint16_t));
    lt->map       = ferry__malloc(ctx, (size_t)lt->kmap_size * sizeof(int32_t));
    if (!lt->kgrid || !lt->map) goto fail;
    for (int g = 0; g < grid_size; g++)
        lt->kgrid[g] = id == 16 ? ferry__iq2xxs_kgrid[g]
                     : id == 17 ? ferry__iq2xs_kgrid[g]
                     : id == 22 ? ferry__iq2s_kgrid[g]
                     : id == 19 || id == 29 ? ferry__iq1s_kgrid[g]
                     : id == 18 ? iq3_pack(ferry__iq3xxs_grid[g], true)
                                : iq3_pack(ferry__iq3s_grid[g], false);
    for (int i = 0; i < lt->kmap_size; i++) lt->map[i] = -1;
    for (int g = 0; g < grid_size; g++) lt->map[lt->kgrid[g]] = g;
    for (int j = 0; j < lt->dim; j++)
        for (int v = 0; v < 8; v++)
            for (int g = 0; g < grid_size; g++) {
                int e = ferry__lattice_coord(lt, lt->kgrid[g], j) - (2 * v + 1);
                sq[((size_t)j * 8 + (size_t)v) * (size_t)grid_size + (size_t)g] = (uint8_t)(e * e);
            }

    /* Pass 1: list lengths, to size the neighbour array. */
    size_t total = 0;
    for (unsigned u = 0; u < (unsigned)lt->kmap_size; u++) {
        if (lt->map[u] >= 0) continue;
        int vals[3];
        total += 1 + (size_t)near_set(lt, sq, u, d2, vals);
    }
    lt->neighbours = ferry__malloc(ctx, total * sizeof(uint16_t));
    if (!lt->neighbours) goto fail;
    lt->n_neighbours = total;

    /* Pass 2: the lists, by distance then index. */
    size_t pos = 0;
    for (unsigned u = 0; u < (unsigned)lt->kmap_size; u++) {
        if (lt->map[u] >= 0) continue;
        int vals[3];
        int n = near_set(lt, sq, u, d2, vals);
        lt->map[u] = -(int32_t)(pos + 1);
        lt->neighbours[pos++] = (uint16_t)n;
        for (int k = 0; k < 3 && vals[k] >= 0; k++)
            for (int g = 0; g < grid_size; g++)
                if (d2[g] == vals[k]) lt->neighbours[pos++] = (uint16_t)g;
    }
    ferry__free(ctx, d2, (size_t)grid_size * sizeof(uint16_t));
    ferry__free(ctx, sq, sq_bytes);
    return lt;

fail:
    ferry__free(ctx, d2, (size_t)grid_size * sizeof(uint16_t));
    ferry__free(ctx, sq, sq_bytes);
    if (lt) {
        ferry__free(ctx, lt->kgrid, (size_t)grid_size * sizeof(uint16_t));
        ferry__free(ctx, lt->map, (size_t)lt->kmap_size * sizeof(int32_t));
        ferry__free(ctx, lt, sizeof *lt);
    }
    ferry_ctx_free(ctx);
    return NULL;
}

/* ============================================================================================
 * Shared search steps
 * ========================================================================================== */

/* The lattice point among u's neighbours closest to xval at `scale` in weighted squared
 * distance (first strict minimum); its levels go to L. */
int ferry__lattice_best(const ferry__lattice *lt, unsigned u, const float *xval, const float *w,
                        float scale, int8_t *L)
{
    const uint16_t *nb = lt->neighbours + (-lt->map[u] - 1);
    float best_d2 = 3.40282347e+38f;
    int   best    = nb[1];
    for (int j = 1; j <= nb[0]; j++) {
        float d2 = 0;
        for (int i = 0; i < lt->dim; i++) {
            float diff = scale * (float)ferry__lattice_coord(lt, lt->kgrid[nb[j]], i) - xval[i];
            d2 += w[i] * diff * diff;
        }
        if (d2 < best_d2) {
            best_d2 = d2;
            best    = nb[j];
        }
    }
    for (int i = 0; i < lt->dim; i++)
        L[i] = (int8_t)((ferry__lattice_coord(lt, lt->kgrid[best], i) - 1) / 2);
    return best;
}

/* ============================================================================================
 * IQ2 search steps
 * ========================================================================================== */

/* Levels of 8 values at inverse scale id (nearest_int(0.5 (id x - 1)) clamped to 0..2). */
static unsigned levels8(const float *xval, float id, int8_t *L)
{
    unsigned u = 0;
    for (int i = 0; i < 8; i++) {
        int l = ferry__nearest_int(0.5f * (id * xval[i] - 1));
        l     = l < 0 ? 0 : l > 2 ? 2 : l;
        L[i]  = (int8_t)l;
        u |= (unsigned)l << (2 * i);
    }
    return u;
}

static unsigned pack8(const int8_t *L)
{
    unsigned u = 0;
    for (int i = 0; i < 8; i++) u |= (unsigned)L[i] << (2 * i);
    return u;
}

/*
 * Signs and magnitudes of `ng` groups of 8: xval = |x|, and the sign bits of each group
 * (bit i for element i) with an even number of minus signs enforced by flipping the element
 * with the smallest w x^2 (the lattice stores 7 sign bits per group, the 8th is parity).
 */
static void signs_of(const float *xb, const float *w, int ng, float *xval, uint8_t *signs)
{
    for (int k = 0; k < ng; k++) {
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
            float min  = w[8 * k] * xb[8 * k] * xb[8 * k];
            for (int i = 1; i < 8; i++) {
                float ax = w[8 * k + i] * xb[8 * k + i] * xb[8 * k + i];
                if (ax < min) {
                    min  = ax;
                    imin = i;
                }
            }
            xval[8 * k + imin] = -xval[8 * k + imin];
            s ^= (uint8_t)(1u << imin);
        }
        signs[k] = s & 127;
    }
}

static void lattice_sums(const float *w, const float *xval, const int8_t *L, int n, float *sqx,
                         float *sq2)
{
    float sumqx = 0, sumq2 = 0;
    for (int i = 0; i < n; i++) {
        float q = (float)(2 * L[i] + 1);
        sumqx += w[i] * xval[i] * q;
        sumq2 += w[i] * q * q;
    }
    *sqx = sumqx;
    *sq2 = sumq2;
}

/* ============================================================================================
 * IQ2_XXS: d | qs[64]: per 32 values two u32 words: four grid bytes, then 4 x 7 sign bits
 * and a 4-bit scale in the top nibble
 * ========================================================================================== */

static void iq2_xxs_row(const float *x, uint8_t *y, int64_t n, const float *qw, const void *state)
{
    const ferry__lattice *st = state;
    float   scales[8], weight[32], xval[32], waux[32];
    int8_t  L[32], Laux[32];
    uint8_t block_signs[4];
    uint32_t q2[16];
    for (int64_t ibl = 0; ibl < n / 256; ibl++, y += 66) {
        const float *xbl = x + 256 * ibl;
        ferry__put_f16(y, 0.f);
        memset(q2, 0, sizeof q2);
        float max_scale = 0;
        float sumx2     = 0;
        for (int i = 0; i < 256; i++) sumx2 += xbl[i] * xbl[i];
        float sigma2 = sumx2 / 256;
        for (int ib = 0; ib < 8; ib++) {
            const float *xb = xbl + 32 * ib;
            const float *qb = qw + 256 * ibl + 32 * ib;
            for (int i = 0; i < 32; i++) weight[i] = qb[i] * sqrtf(sigma2 + xb[i] * xb[i]);
            for (int i = 0; i < 32; i++) waux[i] = sqrtf(weight[i]);
            signs_of(xb, weight, 4, xval, block_signs);
            float max = xval[0];
            for (int i = 1; i < 32; i++) max = max > xval[i] ? max : xval[i];
            if (max < FERRY__GROUP_MAX_EPS) {
                scales[ib] = 0;
                memset(L, 0, 32);
                continue;
            }
            float scale   = ferry__make_qp(32, 4, xval, (uint8_t *)L, weight);
            float eff_max = scale * 3;
            if (eff_max <= 0) {
                scales[ib] = 0;
                memset(L, 0, 32);
                continue;
            }
            float best = 0;
            for (int is = -6; is <= 6; is++) {
                float id         = (5 + (float)is * 0.1f) / eff_max;
                float this_scale = 1 / id;
                for (int k = 0; k < 4; k++) {
                    unsigned u = levels8(xval + 8 * k, id, Laux + 8 * k);
                    if (st->map[u] < 0)
                        ferry__lattice_best(st, u, xval + 8 * k, waux + 8 * k, this_scale,
                                            Laux + 8 * k);
                }
                float sumqx, sumq2;
                lattice_sums(weight, xval, Laux, 32, &sumqx, &sumq2);
                if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
                    scale = sumqx / sumq2;
                    best  = scale * sumqx;
                    memcpy(L, Laux, 32);
                }
            }
            if (scale > 0) {
                float id = 1 / scale;
                for (int k = 0; k < 4; k++) {
                    int8_t   Lk[8];
                    unsigned u = levels8(xval + 8 * k, id, Lk);
                    int g = st->map[u];
                    if (g < 0)
                        g = ferry__lattice_best(st, u, xval + 8 * k, waux + 8 * k, scale,
                                                L + 8 * k);
                    for (int i = 0; i < 8; i++)
                        L[8 * k + i] =
                            (int8_t)((ferry__lattice_coord(st, st->kgrid[g], i) - 1) / 2);
                }
                float sumqx, sumq2;
                lattice_sums(weight, xval, L, 32, &sumqx, &sumq2);
                if (sumq2 > 0) scale = sumqx / sumq2;
            }
            if (scale < 0) {
                scale = -scale;
                for (int k = 0; k < 4; k++) block_signs[k] = (uint8_t)(~block_signs[k] & 127);
            }
            for (int k = 0; k < 4; k++) {
                int g = st->map[pack8(L + 8 * k)];
                /* Always on the lattice by construction (ggml aborts otherwise). */
                if (FERRY_NEVER(g < 0)) g = 0;
                q2[2 * ib] |= (uint32_t)g << (8 * k);
                q2[2 * ib + 1] |= (uint32_t)block_signs[k] << (7 * k);
            }
            scales[ib] = scale;
            max_scale  = max_scale > scale ? max_scale : scale;
        }
        if (max_scale == 0.f) {
            memset(y + 2, 0, 64);
            continue;
        }
        float d = max_scale / 31;
        ferry__put_f16(y, d);
        float id = 1 / d;
        for (int ib = 0; ib < 8; ib++) {
            int l = ferry__nearest_int(0.5f * (id * scales[ib] - 1));
            l     = l < 0 ? 0 : l > 15 ? 15 : l;
            q2[2 * ib + 1] |= (uint32_t)l << 28;
        }
        for (int i = 0; i < 16; i++) ferry__wr32le(y + 2 + 4 * i, q2[i]);
    }
}

/* ============================================================================================
 * IQ2_XS: d | qs[32] (u16: 9-bit grid index | 7 sign bits << 9) | scales[8] (two 4-bit)
 * ========================================================================================== */

static void iq2_xs_row(const float *x, uint8_t *y, int64_t n, const float *qw, const void *state)
{
    const ferry__lattice *st = state;
    float    scales[16], weight[16], xval[16], waux[16];
    int8_t   L[16], Laux[16];
    bool     on_grid[2], on_grid_aux[2];
    uint8_t  block_signs[2];
    uint16_t q2[32];
    for (int64_t ibl = 0; ibl < n / 256; ibl++, y += 74) {
        const float *xbl = x + 256 * ibl;
        uint8_t *ysc = y + 66;
        ferry__put_f16(y, 0.f);
        memset(q2, 0, sizeof q2);
        memset(ysc, 0, 8);
        float max_scale = 0;
        float sumx2     = 0;
        for (int i = 0; i < 256; i++) sumx2 += xbl[i] * xbl[i];
        float sigma2 = sumx2 / 256;
        for (int ib = 0; ib < 16; ib++) {
            const float *xb = xbl + 16 * ib;
            const float *qb = qw + 256 * ibl + 16 * ib;
            for (int i = 0; i < 16; i++) weight[i] = qb[i] * sqrtf(sigma2 + xb[i] * xb[i]);
            for (int i = 0; i < 16; i++) waux[i] = sqrtf(weight[i]);
            signs_of(xb, weight, 2, xval, block_signs);
            float max = xval[0];
            for (int i = 1; i < 16; i++) max = max > xval[i] ? max : xval[i];
            memset(L, 0, 16);
            if (max < FERRY__GROUP_MAX_EPS) {
                scales[ib] = 0;
                continue;
            }
            float best  = 0;
            float scale = max / 5;
            on_grid[0] = on_grid[1] = true;
            for (int is = -9; is <= 9; is++) {
                float id         = (5 + (float)is * 0.1f) / max;
                float this_scale = 1 / id;
                for (int k = 0; k < 2; k++) {
                    unsigned u = levels8(xval + 8 * k, id, Laux + 8 * k);
                    on_grid_aux[k] = st->map[u] >= 0;
                    if (!on_grid_aux[k])
                        ferry__lattice_best(st, u, xval + 8 * k, waux + 8 * k, this_scale,
                                            Laux + 8 * k);
                }
                float sumqx, sumq2;
                lattice_sums(weight, xval, Laux, 16, &sumqx, &sumq2);
                if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
                    scale = sumqx / sumq2;
                    best  = scale * sumqx;
                    memcpy(L, Laux, 16);
                    on_grid[0] = on_grid_aux[0];
                    on_grid[1] = on_grid_aux[1];
                }
            }
            if ((!on_grid[0] || !on_grid[1]) && scale > 0) {
                float id = 1 / scale;
                for (int k = 0; k < 2; k++) {
                    if (on_grid[k]) continue;
                    unsigned u = levels8(xval + 8 * k, id, L + 8 * k);
                    if (st->map[u] < 0)
                        ferry__lattice_best(st, u, xval + 8 * k, waux + 8 * k, scale, L + 8 * k);
                }
                float sumqx, sumq2;
                lattice_sums(weight, xval, L, 16, &sumqx, &sumq2);
                if (sumq2 > 0) scale = sumqx / sumq2;
            }
            if (scale < 0) {
                scale = -scale;
                for (int k = 0; k < 2; k++) block_signs[k] = (uint8_t)(~block_signs[k] & 127);
            }
            for (int k = 0; k < 2; k++) {
                int g = st->map[pack8(L + 8 * k)];
                if (FERRY_NEVER(g < 0)) g = 0;
                q2[2 * ib + k] = (uint16_t)(g | (block_signs[k] << 9));
            }
            scales[ib] = scale;
            max_scale  = max_scale > scale ? max_scale : scale;
        }
        if (max_scale == 0.f) {
            memset(y + 2, 0, 64);
            continue;
        }
        float d = max_scale / 31;
        ferry__put_f16(y, d);
        float id = 1 / d;
        for (int ib = 0; ib < 16; ib++) {
            int l = ferry__nearest_int(0.5f * (id * scales[ib] - 1));
            l     = l < 0 ? 0 : l > 15 ? 15 : l;
            if (ib % 2 == 0)
                ysc[ib / 2] = (uint8_t)l;
            else
                ysc[ib / 2] |= (uint8_t)(l << 4);
        }
        for (int i = 0; i < 32; i++) ferry__wr16le(y + 2 + 2 * i, q2[i]);
    }
}

/* ============================================================================================
 * IQ2_S: d | qs[64] (32 low bytes of 10-bit grid indices, then 32 sign bytes) | qh[8] (high
 * index bits, 2 per group) | scales[8] (two 4-bit codes)
 * ========================================================================================== */

/*
 * quantize_row_iq2_s_impl. Differences from IQ2_XS: sigma2 is twice the mean square, the
 * weights without imatrix are sigma2 / 4 + x^2, all 8 signs are stored (no parity trick),
 * the empty-block threshold is 1e-8, and the super-scale fudge factor is 0.9875.
 */
static void iq2_s_row(const float *x, uint8_t *y, int64_t n, const float *qw, const void *state)
{
    const ferry__lattice *st = state;
    float   scales[16], weight[16], xval[16], waux[16];
    int8_t  L[16], Laux[16];
    bool    on_grid[2], on_grid_aux[2];
    uint8_t block_signs[2];
    for (int64_t ibl = 0; ibl < n / 256; ibl++, y += 82) {
        const float *xbl = x + 256 * ibl;
        memset(y, 0, 82);
        uint8_t *qs  = y + 2;
        uint8_t *qh  = y + 66;
        uint8_t *ysc = y + 74;
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
                for (int i = 0; i < 16; i++) weight[i] = 0.25f * sigma2 + xb[i] * xb[i];
            }
            for (int i = 0; i < 16; i++) waux[i] = sqrtf(weight[i]);
            for (int k = 0; k < 2; k++) {
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
            for (int i = 1; i < 16; i++) max = max > xval[i] ? max : xval[i];
            memset(L, 0, 16);
            if (max < 1e-8f) { /* ggml GROUP_MAX_EPS_IQ2_S */
                scales[ib] = 0;
                continue;
            }
            float best  = 0;
            float scale = max / 5;
            on_grid[0] = on_grid[1] = true;
            for (int is = -9; is <= 9; is++) {
                float id         = (5 + (float)is * 0.1f) / max;
                float this_scale = 1 / id;
                for (int k = 0; k < 2; k++) {
                    unsigned u = levels8(xval + 8 * k, id, Laux + 8 * k);
                    on_grid_aux[k] = st->map[u] >= 0;
                    if (!on_grid_aux[k])
                        ferry__lattice_best(st, u, xval + 8 * k, waux + 8 * k, this_scale,
                                            Laux + 8 * k);
                }
                float sumqx, sumq2;
                lattice_sums(weight, xval, Laux, 16, &sumqx, &sumq2);
                if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
                    scale = sumqx / sumq2;
                    best  = scale * sumqx;
                    memcpy(L, Laux, 16);
                    on_grid[0] = on_grid_aux[0];
                    on_grid[1] = on_grid_aux[1];
                }
            }
            if ((!on_grid[0] || !on_grid[1]) && scale > 0) {
                float id = 1 / scale;
                for (int k = 0; k < 2; k++) {
                    if (on_grid[k]) continue;
                    unsigned u = levels8(xval + 8 * k, id, L + 8 * k);
                    if (st->map[u] < 0)
                        ferry__lattice_best(st, u, xval + 8 * k, waux + 8 * k, scale, L + 8 * k);
                }
                float sumqx, sumq2;
                lattice_sums(weight, xval, L, 16, &sumqx, &sumq2);
                if (sumq2 > 0) scale = sumqx / sumq2;
            }
            if (scale < 0) {
                scale = -scale;
                for (int k = 0; k < 2; k++) block_signs[k] = (uint8_t)~block_signs[k];
            }
            for (int k = 0; k < 2; k++) {
                int g = st->map[pack8(L + 8 * k)];
                if (FERRY_NEVER(g < 0)) g = 0;
                const int i8 = 2 * ib + k;
                qs[i8] = (uint8_t)(g & 255);
                qh[i8 / 4] |= (uint8_t)((g >> 8) << (2 * (i8 % 4)));
                qs[32 + i8] = block_signs[k];
            }
            scales[ib] = scale;
            max_scale  = max_scale > scale ? max_scale : scale;
        }
        if (max_scale == 0.f) continue;
        float d = max_scale / 31;
        ferry__put_f16(y, d * 0.9875f);
        float id = 1 / d;
        for (int ib = 0; ib < 16; ib++) {
            int l = ferry__nearest_int(0.5f * (id * scales[ib] - 1));
            l     = l < 0 ? 0 : l > 15 ? 15 : l;
            if (ib % 2 == 0)
                ysc[ib / 2] = (uint8_t)l;
            else
                ysc[ib / 2] |= (uint8_t)(l << 4);
        }
    }
}

/* ============================================================================================
 * Dispatch
 * ========================================================================================== */

ferry__qrow_fn ferry__qrow_iq2(int id)
{
    switch (id) {
    case 16: return iq2_xxs_row;
    case 17: return iq2_xs_row;
    case 22: return iq2_s_row;
    default: return NULL;
    }
}
