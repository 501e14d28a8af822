/*
 * fuzz_hdf5.c -- libFuzzer harness for the HDF5 reader (src/parse/hdf5.c,
 * src/formats/hdf5.c).
 *
 * The input is offered to the hdf5 bid, then opened from memory as "hdf5" under tight
 * limits. When it opens, every plain tensor is read (whole when small, else its first and
 * last bytes, plus an unaligned slice that crosses element and chunk boundaries: this drives
 * the chunk index walk, the filters and the byte swapping) and the metadata tree is walked.
 * Nothing may crash, and everything allocated through the context must be freed.
 */
#include "internal.h"

#include <stdlib.h>

extern const ferry_format_ops ferry__format_hdf5;

static void exercise(ferry_model *m, int64_t i)
{
    ferry_tensor_info ti = {.struct_size = sizeof ti};
    if (ferry_model_tensor_info(m, i, &ti) != 0) abort();
    if (ti.status != FERRY_TENSOR_PLAIN || ti.nbytes == 0) return;
    uint8_t buf[67];
    size_t k = ti.nbytes < sizeof buf ? (size_t)ti.nbytes : sizeof buf;
    (void)ferry_tensor_read(m, i, 0, buf, k);
    (void)ferry_tensor_read(m, i, ti.nbytes - k, buf, k);
    if (ti.nbytes > 3)
        (void)ferry_tensor_read(m, i, 1, buf, (size_t)(ti.nbytes - 2 < 61 ? ti.nbytes - 2 : 61));
    if (ti.nbytes <= (1u << 20)) {
        uint8_t *all = malloc((size_t)ti.nbytes);
        if (all) (void)ferry_tensor_read(m, i, 0, all, (size_t)ti.nbytes);
        free(all);
    }
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
    p.name     = "fuzz.h5";
    ferry_source *src = NULL;
    ferry_model *m = NULL;
    if (ferry_source_from_memory(ctx, data, size, "fuzz.h5", &src) != 0) goto out;
    p.src = src;
    (void)ferry__format_hdf5.bid(&p);
    if (ferry_open_source(ctx, src, "hdf5", &m) != 0) goto out;
    for (int64_t i = 0; i < ferry_model_tensor_count(m); i++) exercise(m, i);
    const ferry_meta *root = ferry_model_metadata(m);
    for (int64_t i = 0; i < ferry_meta_count(root); i++) {
        const ferry_meta *v = ferry_meta_at(root, i);
        if (ferry_meta_kind_of(v) == FERRY_META_STRING) (void)ferry_meta_string(v, NULL);
    }
out:
    ferry_model_close(m);
    ferry_source_close(src);
    if (ctx->allocated != 0) abort();
    ferry_ctx_free(ctx);
    return 0;
}
