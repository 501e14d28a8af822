/*
 * fuzz_onnx.c -- libFuzzer harness for the ONNX reader (src/formats/onnx.c).
 *
 * Opens the input as an in-memory ONNX file (ModelProto or TensorProto; external data is
 * refused from memory), reads every plain tensor in full and a short range at an odd
 * offset (the typed-field read slot), walks the metadata of every graph node, converts the
 * model to safetensors in a memory sink, and writes it back as ONNX with floating tensors
 * as F16. Invariants (abort): a model that opened can be read tensor by tensor; the ONNX
 * that ferry wrote opens again with at least its plain tensors. Limits are lowered so that
 * hostile sizes fail fast. Seeds live in fuzz/seeds/onnx/.
 */
#include "ferry.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static int64_t plain_count(ferry_model *m)
{
    int64_t n = 0;
    for (int64_t i = 0; i < ferry_model_tensor_count(m); i++) {
        ferry_tensor_info ti = {.struct_size = sizeof ti};
        if (ferry_model_tensor_info(m, i, &ti) != 0) abort();
        n += ti.status == FERRY_TENSOR_PLAIN;
    }
    return n;
}

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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ferry_ctx *ctx = ferry_ctx_new(NULL);
    if (!ctx) return 0;
    ferry_limits lim = {.struct_size = sizeof lim, .total_alloc = (uint64_t)256 << 20,
                        .metadata_items = 1u << 22};
    ferry_ctx_set_limits(ctx, &lim);
    ferry_source *src = NULL;
    ferry_model *m = NULL;
    if (ferry_source_from_memory(ctx, data, size, "fuzz.onnx", &src) == 0 &&
        ferry_open_source(ctx, src, "onnx", &m) == 0) {
        read_all(m);
        for (int64_t i = 0; i < ferry_model_graph_node_count(m); i++) {
            const char *name, *op;
            int64_t ni, no;
            const char *const *in;
            const char *const *out;
            const ferry_meta *attrs;
            if (ferry_model_graph_node(m, i, &name, &op, &ni, &in, &no, &out, &attrs) != 0)
                abort();
            for (int64_t k = 0; k < ni; k++)
                if (!in[k]) abort();
            if (ferry_meta_count(attrs) < 0) abort();
        }
        ferry_sink *sink = NULL;
        ferry_write_options o = {.struct_size = sizeof o, .format = "safetensors"};
        if (ferry_sink_open_memory(ctx, &sink) == 0) ferry_write_sink(m, sink, &o);
        ferry_sink_abort(sink);
        // Written back as ONNX (F16 where floating), what ferry wrote must open again with
        // every plain tensor (a ModelProto also keeps the others verbatim; a TensorProto
        // file becomes a new model of its plain tensors only).
        sink = NULL;
        ferry_write_options o2 = {.struct_size = sizeof o2, .format = "onnx",
                                  .dtype = FERRY_DTYPE_F16};
        if (ferry_sink_open_memory(ctx, &sink) == 0 && ferry_write_sink(m, sink, &o2) == 0) {
            size_t n = 0;
            const void *out = ferry_sink_memory(sink, &n);
            ferry_source *s2 = NULL;
            ferry_model *m2 = NULL;
            if (ferry_source_from_memory(ctx, out, n, "rewritten.onnx", &s2) != 0) abort();
            if (ferry_open_source(ctx, s2, "onnx", &m2) != 0) abort();
            int64_t n2 = ferry_model_tensor_count(m2);
            if (n2 < plain_count(m) || n2 > ferry_model_tensor_count(m)) abort();
            read_all(m2);
            ferry_model_close(m2);
            ferry_source_close(s2);
        }
        ferry_sink_abort(sink);
    }
    ferry_model_close(m);
    ferry_source_close(src);
    ferry_ctx_free(ctx);
    return 0;
}
