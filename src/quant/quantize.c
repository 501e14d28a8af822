/*
 * quantize.c -- ferry_quantize_elems: f32 rows to GGML block types (and to F16 / BF16 / F32),
 * byte for byte what ggml_quantize_chunk writes (FORMATS.md A2.3, A2.4).
 *
 * Layout of the module
 * --------------------
 *   quantize.c          public entry points, the type table, the thread split, float rows
 *   quantize_legacy.c   Q4_0 Q4_1 Q5_0 Q5_1 Q8_0 Q8_1 MXFP4 NVFP4 Q1_0 Q2_0
 *   quantize_k.c        Q2_K .. Q6_K, Q8_K, TQ1_0, TQ2_0
 *   quantize_iq4.c      IQ4_NL, IQ4_XS
 *   quantize_iq2.c      lattice search tables; IQ2_XXS, IQ2_XS, IQ2_S
 *   quantize_iq3.c      IQ3_XXS, IQ3_S
 *   quantize_iq1.c      IQ1_S, IQ1_M
 *   quantize_helpers.c  the make_* scale searches shared by the above
 *
 * Threads
 * -------
 * Rows are independent in every ggml quantizer (the importance matrix is indexed by the
 * position in the row, never by the row), so the rows are cut into nthreads contiguous
 * ranges and each range is quantized by one thread with exactly the code a single thread
 * would run: the output does not depend on the thread count (tests/test_quantize.c checks
 * 1 against N). Threads are created per call and joined before returning; nothing outlives
 * the call and there is no global state. If a thread cannot be created, its range is done on
 * the calling thread instead, so the call never fails for lack of threads.
 *
 * Memory: the row quantizers work in fixed-size stack buffers (at most one 256-value
 * super-block of codes). The grid i-quants (IQ1_*, IQ2_*, IQ3_*) also need the lattice map
 * and neighbour lists that ggml builds once at start-up (iq2xs_init_impl, iq3xs_init_impl);
 * we build them per call (quantize_iq2.c, ferry__lattice_new) in a private context, share them
 * read-only between the call's threads and free them before returning -- no global state,
 * no context argument, at the price of up to a few tenths of a second per call for the
 * 1024- and 2048-point lattices. Out of memory there is FERRY_E_NOMEM.
 */
#include "quant.h"

#include <pthread.h>
#include <unistd.h>

/* ============================================================================================
 * The type table
 * ========================================================================================== */

/* Types ggml_quantize_chunk asserts an importance matrix for (IQ2_XXS, IQ2_XS, IQ1_S). */
static bool needs_imatrix(int id) { return id == 16 || id == 17 || id == 19; }

static ferry__qrow_fn row_fn_of(int id)
{
    ferry__qrow_fn fn = ferry__qrow_legacy(id);
    if (!fn) fn = ferry__qrow_kquant(id);
    if (!fn) fn = ferry__qrow_iq4(id);
    if (!fn) fn = ferry__qrow_iq2(id);
    if (!fn) fn = ferry__qrow_iq3(id);
    if (!fn) fn = ferry__qrow_iq1(id);
    return fn;
}

/* F32 / F16 / BF16 rows (ggml_quantize_chunk's plain cases; the imatrix is ignored). */
static void f32_row(const float *x, uint8_t *y, int64_t n, const float *qw, const void *st)
{
    (void)qw;
    (void)st;
    for (int64_t j = 0; j < n; j++) {
        uint32_t u;
        memcpy(&u, &x[j], 4);
        ferry__wr32le(y + 4 * j, u);
    }
}

static void f16_row(const float *x, uint8_t *y, int64_t n, const float *qw, const void *st)
{
    (void)qw;
    (void)st;
    for (int64_t j = 0; j < n; j++) ferry__wr16le(y + 2 * j, ferry_f32_to_f16(x[j]));
}

static void bf16_row(const float *x, uint8_t *y, int64_t n, const float *qw, const void *st)
{
    (void)qw;
    (void)st;
    for (int64_t j = 0; j < n; j++) ferry__wr16le(y + 2 * j, ferry_f32_to_bf16(x[j]));
}

/* The row function of a dtype (plain F32/F16/BF16 or their ggml ids 0/1/30), or NULL. */
static ferry__qrow_fn lookup(ferry_dtype dt, int *ggml_id)
{
    unsigned v = (unsigned)dt;
    int id = -1;
    if (dt == FERRY_DTYPE_F32) id = 0;
    else if (dt == FERRY_DTYPE_F16) id = 1;
    else if (dt == FERRY_DTYPE_BF16) id = 30;
    else if (v >= (unsigned)FERRY_DTYPE_GGML_BASE && v < (unsigned)FERRY_DTYPE_GGML_END)
        id = (int)(v - (unsigned)FERRY_DTYPE_GGML_BASE);
    *ggml_id = id;
    switch (id) {
    case 0:  return f32_row;
    case 1:  return f16_row;
    case 30: return bf16_row;
    case -1: return NULL;
    default: return row_fn_of(id);
    }
}

/* Block geometry of a quantizable dtype (the plain ones count as blocks of one). */
static void geometry(ferry_dtype dt, int id, uint32_t *bs, uint32_t *bb)
{
    if (id == 0 || id == 1 || id == 30) {
        *bs = 1;
        *bb = id == 0 ? 4 : 2;
        return;
    }
    const ferry__dtype_desc *d = ferry__dtype(dt);
    *bs = d ? d->block_size : 0;
    *bb = d ? d->block_bytes : 0;
}

int ferry_dtype_can_quantize(ferry_dtype dt)
{
    int id;
    return lookup(dt, &id) != NULL;
}

int ferry_dtype_needs_imatrix(ferry_dtype dt)
{
    unsigned v = (unsigned)dt;
    if (v < (unsigned)FERRY_DTYPE_GGML_BASE || v >= (unsigned)FERRY_DTYPE_GGML_END) return 0;
    return needs_imatrix((int)(v - (unsigned)FERRY_DTYPE_GGML_BASE));
}

/* ============================================================================================
 * Thread split
 * ========================================================================================== */

/* Cap on threads per call; the pthread handles live on the stack. */
#define MAX_THREADS 256

typedef struct job {
    ferry__qrow_fn fn;
    const float   *src;
    uint8_t       *dst;
    int64_t        row0, row1;   /* rows [row0, row1) */
    int64_t        n_per_row;
    size_t         row_bytes;
    const float   *imatrix;
    const void    *state;        /* lattice tables of the grid types, or NULL */
} job;

static void run_job(const job *j)
{
    for (int64_t r = j->row0; r < j->row1; r++)
        j->fn(j->src + r * j->n_per_row, j->dst + (size_t)r * j->row_bytes, j->n_per_row,
              j->imatrix, j->state);
}

static void *thread_main(void *arg)
{
    run_job(arg);
    return NULL;
}

static int online_cpus(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > MAX_THREADS ? MAX_THREADS : (int)n;
}

/* ============================================================================================
 * Public entry point
 * ========================================================================================== */

int ferry_quantize_elems(ferry_dtype dt, const float *src, void *dst, int64_t nrows,
                         int64_t n_per_row, const float *imatrix, int nthreads)
{
    int id;
    ferry__qrow_fn fn = lookup(dt, &id);
    if (!fn) return FERRY_E_DTYPE;
    uint32_t bs, bb;
    geometry(dt, id, &bs, &bb);
    if (bs == 0 || bb == 0) return FERRY_E_DTYPE;
    if (nrows < 0 || n_per_row < 0 || nthreads < 0) return FERRY_E_ARG;
    if (n_per_row % bs != 0) return FERRY_E_ARG;
    if (needs_imatrix(id) && !imatrix) return FERRY_E_ARG;
    if (nrows == 0 || n_per_row == 0) return FERRY_OK;
    if (!src || !dst) return FERRY_E_ARG;

    uint64_t row_bytes, total;
    if (ferry__mul_overflow((uint64_t)(n_per_row / bs), bb, &row_bytes) ||
        ferry__mul_overflow(row_bytes, (uint64_t)nrows, &total) || total > SIZE_MAX ||
        ferry__mul_overflow((uint64_t)nrows, (uint64_t)n_per_row, &total) ||
        total > SIZE_MAX / sizeof(float))
        return FERRY_E_ARG;

    int nt = nthreads == 0 ? online_cpus() : nthreads > MAX_THREADS ? MAX_THREADS : nthreads;
    if ((int64_t)nt > nrows) nt = (int)nrows;

    ferry__lattice *lattice = NULL;
    if (ferry__lattice_grid_size(id) > 0) {
        lattice = ferry__lattice_new(id);
        if (!lattice) return FERRY_E_NOMEM;
    }

    job jobs[MAX_THREADS];
    pthread_t th[MAX_THREADS];
    bool started[MAX_THREADS];
    for (int t = 0; t < nt; t++) {
        jobs[t] = (job){fn, src, dst, nrows * t / nt, nrows * (t + 1) / nt, n_per_row,
                        (size_t)row_bytes, imatrix, lattice};
        started[t] = false;
    }
    /* Thread 0's range runs on the calling thread. */
    for (int t = 1; t < nt; t++)
        started[t] = pthread_create(&th[t], NULL, thread_main, &jobs[t]) == 0;
    run_job(&jobs[0]);
    for (int t = 1; t < nt; t++) {
        if (started[t])
            pthread_join(th[t], NULL);
        else
            run_job(&jobs[t]);
    }
    ferry__lattice_free(lattice);
    return FERRY_OK;
}

/* ============================================================================================
 * For ferry_convert_elems (src/core/dtype_conv.c)
 * ========================================================================================== */

/* 256 values: a whole number of blocks of every type (largest block 256). */
#define CONV_CHUNK 256

int ferry__quantize_f32(ferry_dtype dt, const void *src, void *dst, uint64_t n)
{
    int id;
    ferry__qrow_fn fn = lookup(dt, &id);
    if (!fn || needs_imatrix(id)) return FERRY_E_DTYPE;
    uint32_t bs, bb;
    geometry(dt, id, &bs, &bb);
    if (bs == 0 || bb == 0 || n % bs != 0 || CONV_CHUNK % bs != 0) return FERRY_E_DTYPE;
    /* Without importance matrix every quantizer is block-local, so a long input can be cut
     * into chunks of whole blocks; the chunk copy also aligns (and byte-orders) the floats. */
    ferry__lattice *lattice = NULL;
    if (n > 0 && ferry__lattice_grid_size(id) > 0) {
        lattice = ferry__lattice_new(id);
        if (!lattice) return FERRY_E_NOMEM;
    }
    const uint8_t *s = src;
    uint8_t       *d = dst;
    float buf[CONV_CHUNK];
    for (uint64_t done = 0; done < n; done += CONV_CHUNK) {
        size_t k = n - done < CONV_CHUNK ? (size_t)(n - done) : CONV_CHUNK;
        for (size_t j = 0; j < k; j++) {
            uint32_t u = ferry__rd32le(s + 4 * (done + j));
            memcpy(&buf[j], &u, 4);
        }
        fn(buf, d + done / bs * bb, (int64_t)k, NULL, lattice);
    }
    ferry__lattice_free(lattice);
    return FERRY_OK;
}
