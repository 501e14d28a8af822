/*
 * quant.h -- the private interface of the GGML quantizers (src/quant/quantize*.c).
 *
 * Every quantizer turns one row of f32 values into the bytes of one row of its block type,
 * exactly as ggml_quantize_chunk does for that row (FORMATS.md A2.3, A2.4): same operation
 * order, same rounding primitives, binary32 throughout, no FMA contraction (the build passes
 * -ffp-contract=off, FORMATS.md A4.2). Rows are independent, which is what lets
 * ferry_quantize_elems split them across threads with identical output.
 *
 * The row functions never allocate, never fail and never read outside their row: x holds
 * n values (n a multiple of the block size), y receives n / block_size blocks, and qw is the
 * importance matrix for this row position (n values) or NULL. State (reserved for lookup
 * tables that have to be built at run time) is const and may be shared by threads.
 *
 * The rounding helpers below are the three of FORMATS.md A2.3; which one a type uses is part
 * of its bytes.
 */
#ifndef FERRY_QUANT_H
#define FERRY_QUANT_H

#include "internal.h"

#include <math.h>

/* ============================================================================================
 * Row quantizers
 * ========================================================================================== */

typedef void (*ferry__qrow_fn)(const float *x, uint8_t *y, int64_t n, const float *qw,
                               const void *state);

/* The row quantizer of a GGML type id (ferry_dtype - FERRY_DTYPE_GGML_BASE), or NULL. */
ferry__qrow_fn ferry__qrow_legacy(int id);  /* quantize_legacy.c: 32..128-element blocks */
ferry__qrow_fn ferry__qrow_kquant(int id);  /* quantize_k.c: K-quants, Q8_K, TQ1_0, TQ2_0 */
ferry__qrow_fn ferry__qrow_iq4(int id);     /* quantize_iq4.c: IQ4_NL, IQ4_XS */
ferry__qrow_fn ferry__qrow_iq2(int id);     /* quantize_iq2.c: IQ2_XXS, IQ2_XS (need state) */

ferry__qrow_fn ferry__qrow_iq3(int id);     /* quantize_iq3.c: IQ3_XXS, IQ3_S (need state) */
ferry__qrow_fn ferry__qrow_iq1(int id);     /* quantize_iq1.c: IQ1_S, IQ1_M (need state) */

/*
 * Lattice search tables of the grid i-quants (quantize_iq2.c; ggml's iq2xs_init_impl and
 * iq3xs_init_impl): the packed level index of every lattice point (coordinate j of a packed
 * index u is 2 * ((u >> lbits*j) & mask) + 1), map[u] = grid index for lattice points or
 * -(offset + 1) into `neighbours` for the others, whose list is its length followed by the
 * nearest lattice points. Built per ferry_quantize_elems call, read-only while rows are
 * quantized (shared by the threads), then freed; never global.
 */
typedef struct ferry__lattice {
    ferry_ctx *ctx;          /* private context owning the allocations */
    int        dim;          /* 8 (IQ2) or 4 (IQ3) coordinates */
    int        lbits;        /* bits per level in a packed index: 2 or 3 */
    int        grid_size;
    int        kmap_size;
    int        nwant;        /* distinct nearest distances kept per off-grid point */
    uint16_t  *kgrid;        /* grid_size packed indices */
    int32_t   *map;          /* kmap_size entries */
    uint16_t  *neighbours;
    size_t     n_neighbours;
} ferry__lattice;

/* Largest squared distance between two points (IQ3: 4 coordinates 14 apart). */
#define FERRY__LATTICE_MAX_D2 784

/* Lattice size of GGML type id, or 0 when the type needs no tables. */
int             ferry__lattice_grid_size(int id);
/* The tables of type id, or NULL when out of memory. */
ferry__lattice *ferry__lattice_new(int id);
void            ferry__lattice_free(ferry__lattice *lt);
/* Nearest listed neighbour of off-grid packed point u (weighted, first strict minimum); its
 * levels go to L (dim of them). Returns its grid index. */
int ferry__lattice_best(const ferry__lattice *lt, unsigned u, const float *xval, const float *w,
                        float scale, int8_t *L);

static inline int ferry__lattice_coord(const ferry__lattice *lt, unsigned packed, int j)
{
    unsigned mask = (1u << lt->lbits) - 1;
    return 2 * (int)((packed >> (lt->lbits * j)) & mask) + 1;
}

/*
 * Quantizes F32 values for ferry_convert_elems: `src` may be unaligned; the values are taken
 * as one row without importance matrix (for which every implemented type is block-local, so
 * the split into rows does not matter). n is a multiple of the block size. Returns FERRY_OK,
 * FERRY_E_DTYPE when the type has no quantizer (or needs an importance matrix), or
 * FERRY_E_NOMEM when the lattice tables of a grid type cannot be allocated.
 */
int ferry__quantize_f32(ferry_dtype dt, const void *src, void *dst, uint64_t n);

/* ============================================================================================
 * Shared search helpers (quantize_helpers.c), ggml-quants.c's make_* family
 * ========================================================================================== */

/* Symmetric search (make_qx_quants, rmse_type 1): codes L = l + nmax with l in
 * [-nmax, nmax-1]; weights qw, or x^2 when qw is NULL. Returns the scale. */
float ferry__make_qx(int n, int nmax, const float *x, int8_t *L, const float *qw);
/* Symmetric coordinate descent for Q3_K (make_q3_quants with do_rmse). */
float ferry__make_q3(int n, int nmax, const float *x, int8_t *L);
/* Asymmetric grid search (make_qkx2_quants). Returns the scale; *the_min = -min. */
float ferry__make_qkx2(int n, int nmax, const float *x, const float *w, uint8_t *L,
                       float *the_min, uint8_t *Laux, float rmin, float rdelta, int nstep,
                       bool use_mad);
/* Asymmetric grid search of the importance-matrix paths (make_qkx3_quants; w NULL: x^2). */
float ferry__make_qkx3(int n, int nmax, const float *x, const float *w, uint8_t *L,
                       float *the_min, uint8_t *Laux, float rmin, float rdelta, int nstep,
                       bool use_mad);
/* Positive sub-scale quantization (make_qp_quants). */
float ferry__make_qp(int n, int nmax, const float *x, uint8_t *L, const float *qw);

/* ============================================================================================
 * Rounding and scalar helpers
 * ========================================================================================== */

/* Round half to even through the 1.5 * 2^23 trick (ggml nearest_int): valid for |v| <= 2^22,
 * which every caller guarantees for finite input; other inputs give a garbage code, never
 * undefined behaviour. */
static inline int ferry__nearest_int(float v)
{
    float t = v + 12582912.f;
    int32_t i;
    memcpy(&i, &t, sizeof i);
    return (i & 0x007fffff) - 0x00400000;
}

/* A float converted to int the way ggml's x86-64 build does it (cvttss2si): truncation toward
 * zero, and the "integer indefinite" INT32_MIN for NaN and values outside the int32 range.
 * ggml then narrows the result with a C cast ((int8_t), (uint8_t): the low byte). This
 * matters for blocks of tiny subnormals, whose inverse scale overflows to inf: ggml's codes
 * for them are the low byte of INT32_MIN, i.e. 0 (golden `edge` input), and plain C would
 * have undefined behaviour there. */
static inline int32_t ferry__cvt_i32(float v)
{
    if (v >= -2147483648.f && v < 2147483648.f) return (int32_t)v;
    return INT32_MIN;
}

/* Stores a float as ggml's fp16 scale: round to nearest even (ggml_compute_fp32_to_fp16). */
static inline void ferry__put_f16(uint8_t *p, float f) { ferry__wr16le(p, ferry_f32_to_f16(f)); }
/* The value an fp16 field decodes to. */
static inline float ferry__get_f16(const uint8_t *p) { return ferry_f16_to_f32(ferry__rd16le(p)); }
/* fp16 round trip: what ggml reads back after storing d (GGML_FP16_TO_FP32(y.d)). */
static inline float ferry__f16_round(float f) { return ferry_f16_to_f32(ferry_f32_to_f16(f)); }

/* Largest |x| and the signed value that has it; the first strict maximum wins
 * (FORMATS.md A2.3 "amax/max"). */
static inline float ferry__signed_max(const float *x, int n, float *amax_out)
{
    float amax = 0.f, max = 0.f;
    for (int i = 0; i < n; i++) {
        float ax = fabsf(x[i]);
        if (ax > amax) {
            amax = ax;
            max  = x[i];
        }
    }
    *amax_out = amax;
    return max;
}

/* Empty-group threshold of the K-quant helpers (ggml GROUP_MAX_EPS). */
#define FERRY__GROUP_MAX_EPS 1e-15f

#endif /* FERRY_QUANT_H */
