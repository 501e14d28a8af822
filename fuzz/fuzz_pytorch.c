/*
 * fuzz_pytorch.c -- libFuzzer harness for the PyTorch module (src/formats/pytorch.c).
 *
 * Opens the input as an in-memory torch checkpoint (zip or legacy), reads every plain tensor
 * in full and a short range at an odd offset (the partial-element path of strided and
 * byte-swapped tensors), and walks the metadata tree. Invariants checked with abort():
 *   - a model that opened can be read tensor by tensor;
 *   - a failed open leaves a context error.
 * Limits are lowered so that hostile sizes fail fast. Seeds (fuzz/seeds/pytorch/): small
 * torch.save archives (state dicts, views and transposes, shared storages, nested
 * checkpoints, several dtypes, protocol 2 and 4 pickles), the same archives rewritten
 * big-endian and deflated, legacy-format files, a TorchScript-like archive, and truncated
 * copies.
 */
#include "ferry.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void read_all(ferry_model *m)
{
    uint8_t buf[4096];
    for (int64_t i = 0; i < ferry_model_tensor_count(m); i++) {
        ferry_tensor_info ti = {.struct_size = sizeof ti};
        if (ferry_model_tensor_info(m, i, &ti) != 0) abort();
        if (ti.status != FERRY_TENSOR_PLAIN) continue;
        for (uint64_t off = 0; off < ti.nbytes; off += sizeof buf) {
            size_t k = ti.nbytes - off < sizeof buf ? (size_t)(ti.nbytes - off) : sizeof buf;
            if (ferry_tensor_read(m, i, off, buf, k) != 0) abort();
        }
        if (ti.nbytes > 3) {
            size_t k = ti.nbytes - 1 < 7 ? (size_t)(ti.nbytes - 1) : 7;
            if (ferry_tensor_read(m, i, 1, buf, k) != 0) abort();
        }
    }
}

static void walk_meta(const ferry_meta *root)
{
    const ferry_meta *stack[128];
    size_t sp = 0, visits = 0;
    stack[sp++] = root;
    while (sp && visits++ < 100000) {
        const ferry_meta *n = stack[--sp];
        ferry_meta_kind k = ferry_meta_kind_of(n);
        if (k == FERRY_META_STRING || k == FERRY_META_BYTES) {
            size_t len = 0;
            const char *s = ferry_meta_string(n, &len);
            if (!s) abort();
        }
        for (int64_t i = 0; i < ferry_meta_count(n) && sp < 128; i++)
            stack[sp++] = ferry_meta_at(n, i);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ferry_ctx *ctx = ferry_ctx_new(NULL);
    if (!ctx) return 0;
    ferry_limits lim = {.struct_size = sizeof lim, .total_alloc = (uint64_t)256 << 20,
                        .metadata_items = 1u << 20, .tensor_count = 1u << 16};
    ferry_ctx_set_limits(ctx, &lim);
    ferry_source *src = NULL;
    ferry_model *m = NULL;
    if (ferry_source_from_memory(ctx, data, size, "fuzz.pt", &src) == 0) {
        if (ferry_open_source(ctx, src, "pytorch", &m) == 0) {
            read_all(m);
            walk_meta(ferry_model_metadata(m));
        } else if (ferry_ctx_error(ctx)[0] == 0) {
            abort();
        }
    }
    ferry_model_close(m);
    ferry_source_close(src);
    ferry_ctx_free(ctx);
    return 0;
}
