/*
 * fuzz_npz.c -- libFuzzer harness for the NumPy .npz reader and writer (src/formats/numpy.c
 * over src/parse/zip.c).
 *
 * The input is offered to the npz bid (which walks the zip directory without allocating),
 * then opened as a memory source with the npz reader. When it opens, every plain tensor is
 * read in an order that makes deflated members be inflated, dropped and inflated again;
 * the model is written to a memory sink as .npz, re-opened (same tensors, same bytes), and
 * written again: the output must be a fixed point. Any violation aborts. Nothing may leak.
 */
#include "internal.h"

#include <stdlib.h>

extern const ferry_format_ops ferry__format_npz;

#define WHOLE_MAX (1u << 20)

static int write_model(ferry_ctx *ctx, ferry_model *m, ferry_sink **out)
{
    ferry_write_options o = {.struct_size = sizeof o, .format = "npz"};
    int rc = ferry_sink_open_memory(ctx, out);
    if (rc == 0) rc = ferry_write_sink(m, *out, &o);
    return rc;
}

/* Reads tensor i; deflated members may legitimately fail here (corrupt stream, CRC). */
static int touch(ferry_model *m, int64_t i)
{
    ferry_tensor_info ti = {.struct_size = sizeof ti};
    if (ferry_model_tensor_info(m, i, &ti) != 0) abort();
    if (ti.status != FERRY_TENSOR_PLAIN || ti.nbytes == 0) return 0;
    uint8_t buf[29];
    size_t k = ti.nbytes < sizeof buf ? (size_t)ti.nbytes : sizeof buf;
    int rc = ferry_tensor_read(m, i, ti.nbytes - k, buf, k);
    if (rc == 0) rc = ferry_tensor_read(m, i, 0, buf, k);
    return rc;
}

/* Whether tensors i of a and b hold the same bytes (small ones only). */
static int same(ferry_model *a, ferry_model *b, int64_t i)
{
    ferry_tensor_info x = {.struct_size = sizeof x}, y = {.struct_size = sizeof y};
    ferry_model_tensor_info(a, i, &x);
    ferry_model_tensor_info(b, i, &y);
    if (strcmp(x.name, y.name) != 0 || x.nbytes != y.nbytes) return 0;
    if (x.nbytes > WHOLE_MAX) return 1;
    uint8_t *p = malloc(x.nbytes + 1), *q = malloc(x.nbytes + 1);
    int eq = p && q && ferry_tensor_read(a, i, 0, p, (size_t)x.nbytes) == 0 &&
             ferry_tensor_read(b, i, 0, q, (size_t)x.nbytes) == 0 &&
             memcmp(p, q, (size_t)x.nbytes) == 0;
    free(p);
    free(q);
    return eq;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ferry_ctx *ctx = ferry_ctx_new(NULL);
    if (!ctx) return 0;
    ferry_limits l = {.struct_size = sizeof l, .total_alloc = 256u << 20,
                      .tensor_count = 100000, .header_bytes = 1u << 20};
    ferry_ctx_set_limits(ctx, &l);

    ferry_source *src = NULL;
    ferry_model *m = NULL, *r = NULL;
    ferry_sink *s1 = NULL, *s2 = NULL;
    if (ferry_source_from_memory(ctx, data, size, "fuzz.npz", &src) != 0) goto out;
    ferry__probe p;
    memset(&p, 0, sizeof p);
    p.head     = data;
    p.head_len = size < FERRY__PROBE_BYTES ? size : FERRY__PROBE_BYTES;
    p.size     = size;
    p.name     = "fuzz.npz";
    p.src      = src;
    uint64_t before = ctx->allocated;
    (void)ferry__format_npz.bid(&p);
    if (ctx->allocated != before) abort(); /* bid must not allocate */

    if (ferry_open_source(ctx, src, "npz", &m) != 0) goto out;
    int64_t n = ferry_model_tensor_count(m);
    int bad = 0;
    for (int64_t i = 0; i < n; i++) bad |= touch(m, i) != 0;
    for (int64_t i = n; i-- > 0;) bad |= touch(m, i) != 0;
    if (bad) goto out; /* a member that does not inflate cannot be written either */
    if (write_model(ctx, m, &s1) != 0) goto out;
    size_t n1;
    const void *b1 = ferry_sink_memory(s1, &n1);
    ferry_source *src2 = NULL;
    if (ferry_source_from_memory(ctx, b1, n1, "rewritten.npz", &src2) != 0) goto out;
    int rc = ferry_open_source(ctx, src2, "npz", &r);
    ferry_source_close(src2);
    if (rc != 0) abort();
    int64_t plain = 0;
    for (int64_t i = 0; i < n; i++) {
        ferry_tensor_info ti = {.struct_size = sizeof ti};
        ferry_model_tensor_info(m, i, &ti);
        if (ti.status == FERRY_TENSOR_PLAIN) plain++;
    }
    if (ferry_model_tensor_count(r) != plain) abort();
    if (plain == n)
        for (int64_t i = 0; i < n; i++)
            if (!same(m, r, i)) abort();
    if (write_model(ctx, r, &s2) != 0) abort();
    size_t n2;
    const void *b2 = ferry_sink_memory(s2, &n2);
    if (n1 != n2 || memcmp(b1, b2, n1) != 0) abort();
out:
    ferry_sink_abort(s2);
    ferry_sink_abort(s1);
    ferry_model_close(r);
    ferry_model_close(m);
    ferry_source_close(src);
    if (ctx->allocated != 0) abort();
    ferry_ctx_free(ctx);
    return 0;
}
