/*
 * fuzz_safetensors.c -- libFuzzer harness for the safetensors reader and writer.
 *
 * The input is opened as a memory source with the safetensors reader (and offered to its bid).
 * When it opens, every tensor is read, the model is written to a memory sink and re-opened,
 * and written again: the writer's output must always be readable, list the same tensors, and
 * be a fixed point (writing what was read reproduces the same bytes). Any violation aborts.
 * Nothing may leak (LeakSanitizer in CI).
 */
#include "internal.h"

#include <stdlib.h>

extern const ferry_format_ops ferry__format_safetensors;

static int write_model(ferry_ctx *ctx, ferry_model *m, ferry_sink **out)
{
    ferry_write_options o = {.struct_size = sizeof o, .format = "safetensors"};
    int rc = ferry_sink_open_memory(ctx, out);
    if (rc == 0) rc = ferry_write_sink(m, *out, &o);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ferry_ctx *ctx = ferry_ctx_new(NULL);
    if (!ctx) return 0;
    ferry_limits l = {.struct_size = sizeof l, .total_alloc = 256u << 20,
                      .tensor_count = 100000};
    ferry_ctx_set_limits(ctx, &l);

    ferry__probe p;
    memset(&p, 0, sizeof p);
    p.head     = data;
    p.head_len = size < FERRY__PROBE_BYTES ? size : FERRY__PROBE_BYTES;
    p.size     = size;
    p.name     = "fuzz.safetensors";
    (void)ferry__format_safetensors.bid(&p);

    ferry_source *src = NULL;
    ferry_model *m = NULL, *r = NULL;
    ferry_sink *s1 = NULL, *s2 = NULL;
    if (ferry_source_from_memory(ctx, data, size, "fuzz.safetensors", &src) != 0) goto out;
    if (ferry_open_source(ctx, src, "safetensors", &m) != 0) goto out;
    uint8_t buf[64];
    for (int64_t i = 0; i < ferry_model_tensor_count(m); i++) {
        ferry_tensor_info ti = {.struct_size = sizeof ti};
        if (ferry_model_tensor_info(m, i, &ti) != 0) abort();
        size_t k = ti.nbytes < sizeof buf ? (size_t)ti.nbytes : sizeof buf;
        if (ferry_tensor_read(m, i, ti.nbytes - k, buf, k) != 0) abort();
    }
    if (write_model(ctx, m, &s1) != 0) goto out;
    size_t n1;
    const void *b1 = ferry_sink_memory(s1, &n1);
    ferry_source *src2 = NULL;
    if (ferry_source_from_memory(ctx, b1, n1, "rewritten.safetensors", &src2) != 0) goto out;
    int rc = ferry_open_source(ctx, src2, "safetensors", &r);
    ferry_source_close(src2);
    if (rc != 0 || ferry_model_tensor_count(r) != ferry_model_tensor_count(m)) abort();
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
