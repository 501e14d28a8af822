/*
 * fuzz_npy.c -- libFuzzer harness for the NumPy .npy reader and writer (src/formats/numpy.c,
 * src/parse/pylit.c).
 *
 * The input is offered to the npy bid, then opened as a memory source with the npy reader.
 * When it opens, every plain tensor is read (whole when small, else its first and last
 * bytes, plus an unaligned slice that crosses element boundaries, which exercises the
 * byte-swap and Fortran-order paths), the model is written to a memory sink as .npy and
 * re-opened, and written again: the output must always re-open with the same tensor and
 * bytes, and be a fixed point (writing what was read reproduces the same file). Any
 * violation aborts. Nothing may leak (LeakSanitizer in CI, and the context's byte count).
 */
#include "internal.h"

#include <stdlib.h>

extern const ferry_format_ops ferry__format_npy;

#define WHOLE_MAX (4u << 20)

static int write_model(ferry_ctx *ctx, ferry_model *m, ferry_sink **out)
{
    ferry_write_options o = {.struct_size = sizeof o, .format = "npy"};
    int rc = ferry_sink_open_memory(ctx, out);
    if (rc == 0) rc = ferry_write_sink(m, *out, &o);
    return rc;
}

/* Reads tensor i the ways a user would; returns a malloc'd copy when it is small, else NULL. */
static uint8_t *exercise(ferry_model *m, int64_t i, uint64_t *nbytes)
{
    ferry_tensor_info ti = {.struct_size = sizeof ti};
    if (ferry_model_tensor_info(m, i, &ti) != 0) abort();
    *nbytes = ti.nbytes;
    if (ti.status != FERRY_TENSOR_PLAIN) return NULL;
    uint8_t buf[67];
    size_t k = ti.nbytes < sizeof buf ? (size_t)ti.nbytes : sizeof buf;
    if (ferry_tensor_read(m, i, 0, buf, k) != 0) abort();
    if (ferry_tensor_read(m, i, ti.nbytes - k, buf, k) != 0) abort();
    if (ti.nbytes > 3 && ferry_tensor_read(m, i, 1, buf, (size_t)(ti.nbytes - 2 < 61 ? ti.nbytes - 2
                                                                                   : 61)) != 0)
        abort();
    if (ti.nbytes > WHOLE_MAX) return NULL;
    uint8_t *all = malloc(ti.nbytes ? (size_t)ti.nbytes : 1);
    if (!all) return NULL;
    if (ferry_tensor_read(m, i, 0, all, (size_t)ti.nbytes) != 0) abort();
    return all;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ferry_ctx *ctx = ferry_ctx_new(NULL);
    if (!ctx) return 0;
    ferry_limits l = {.struct_size = sizeof l, .total_alloc = 256u << 20,
                      .tensor_count = 100000, .header_bytes = 1u << 20};
    ferry_ctx_set_limits(ctx, &l);

    ferry__probe p;
    memset(&p, 0, sizeof p);
    p.head     = data;
    p.head_len = size < FERRY__PROBE_BYTES ? size : FERRY__PROBE_BYTES;
    p.size     = size;
    p.name     = "fuzz.npy";
    (void)ferry__format_npy.bid(&p);

    ferry_source *src = NULL;
    ferry_model *m = NULL, *r = NULL;
    ferry_sink *s1 = NULL, *s2 = NULL;
    uint8_t *orig = NULL;
    if (ferry_source_from_memory(ctx, data, size, "fuzz.npy", &src) != 0) goto out;
    if (ferry_open_source(ctx, src, "npy", &m) != 0) goto out;
    uint64_t n0 = 0;
    orig = exercise(m, 0, &n0);
    if (write_model(ctx, m, &s1) != 0) goto out;
    size_t n1;
    const void *b1 = ferry_sink_memory(s1, &n1);
    ferry_source *src2 = NULL;
    if (ferry_source_from_memory(ctx, b1, n1, "rewritten.npy", &src2) != 0) goto out;
    int rc = ferry_open_source(ctx, src2, "npy", &r);
    ferry_source_close(src2);
    if (rc != 0 || ferry_model_tensor_count(r) != 1) abort();
    ferry_tensor_info ti = {.struct_size = sizeof ti};
    ferry_model_tensor_info(r, 0, &ti);
    if (!(ti.flags & FERRY_TENSOR_ZERO_COPY) || ti.file_offset % 64 != 0) abort();
    uint64_t nr = 0;
    uint8_t *back = exercise(r, 0, &nr);
    if (orig && (!back || nr != n0 || memcmp(orig, back, (size_t)n0) != 0)) abort();
    free(back);
    if (write_model(ctx, r, &s2) != 0) abort();
    size_t n2;
    const void *b2 = ferry_sink_memory(s2, &n2);
    if (n1 != n2 || memcmp(b1, b2, n1) != 0) abort();
out:
    free(orig);
    ferry_sink_abort(s2);
    ferry_sink_abort(s1);
    ferry_model_close(r);
    ferry_model_close(m);
    ferry_source_close(src);
    if (ctx->allocated != 0) abort();
    ferry_ctx_free(ctx);
    return 0;
}
