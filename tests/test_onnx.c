/*
 * test_onnx.c -- the ONNX reader (src/formats/onnx.c).
 *
 * Models are built here with a small protobuf builder (FORMATS.md section 1 field numbers):
 * metadata, nodes with every attribute kind, value infos with symbolic dims, initializers
 * in raw_data and in every typed field, sub-graph initializers, TensorProto test-data
 * files; external data with the containment and key rules of SECURITY.md O01-O05; a
 * corruption matrix (one case per rejection rule; every truncation of a valid model fails
 * cleanly); and the whole shared ONNX corpus (every model.onnx and input_/output_*.pb).
 */
#define _XOPEN_SOURCE 700
#include "ferry.h"
#include "t.h"

#include <ftw.h>
#include <stdbool.h>
#include <stdint.h>
#include <unistd.h>

static ferry_ctx *ctx;

/* ============================================================================================
 * A tiny protobuf builder
 * ========================================================================================== */

typedef struct buf {
    uint8_t *p;
    size_t   n;
    size_t   cap;
} buf;

static void put(buf *b, const void *p, size_t n)
{
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p   = realloc(b->p, b->cap);
        if (!b->p) abort();
    }
    if (n) memcpy(b->p + b->n, p, n);
    b->n += n;
}

static void varint(buf *b, uint64_t v)
{
    uint8_t t[10];
    size_t n = 0;
    while (v >= 0x80) {
        t[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    t[n++] = (uint8_t)v;
    put(b, t, n);
}

static void fint(buf *b, uint32_t f, uint64_t v)
{
    varint(b, (uint64_t)f << 3);
    varint(b, v);
}

static void fbytes(buf *b, uint32_t f, const void *p, size_t n)
{
    varint(b, (uint64_t)f << 3 | 2);
    varint(b, n);
    put(b, p, n);
}

static void fstr(buf *b, uint32_t f, const char *s) { fbytes(b, f, s, strlen(s)); }

static void fmsg(buf *b, uint32_t f, buf *m)
{
    fbytes(b, f, m->p, m->n);
    free(m->p);
    memset(m, 0, sizeof *m);
}

static void ffloat(buf *b, uint32_t f, float v)
{
    uint8_t t[4];
    memcpy(t, &v, 4); /* tests run on little-endian hosts */
    varint(b, (uint64_t)f << 3 | 5);
    put(b, t, 4);
}

/* TensorProto with dims and data_type, no data. */
static buf tensor(const char *name, int dtype, int ndim, const int64_t *dims)
{
    buf t = {0};
    for (int i = 0; i < ndim; i++) fint(&t, 1, (uint64_t)dims[i]);
    fint(&t, 2, (uint64_t)dtype);
    if (name) fstr(&t, 8, name);
    return t;
}

/* ModelProto around graph g. */
static buf model(buf *g)
{
    buf m = {0};
    fint(&m, 1, 8);
    fstr(&m, 2, "ferry-test");
    fstr(&m, 3, "1.0");
    fmsg(&m, 7, g);
    buf op = {0};
    fstr(&op, 1, "");
    fint(&op, 2, 17);
    fmsg(&m, 8, &op);
    buf kv = {0};
    fstr(&kv, 1, "author");
    fstr(&kv, 2, "me");
    fmsg(&m, 14, &kv);
    return m;
}

static int open_mem(const buf *b, const char *name, ferry_source **src, ferry_model **m)
{
    *m = NULL;
    int rc = ferry_source_from_memory(ctx, b->p, b->n, name, src);
    if (rc) return rc;
    return ferry_open_source(ctx, *src, NULL, m);
}

static const char *write_file(const char *name, const void *p, size_t n)
{
    static char path[1024];
    snprintf(path, sizeof path, "%s/%s", t_tmpdir(), name);
    FILE *f = fopen(path, "wb");
    if (!f) abort();
    if (n) fwrite(p, 1, n, f);
    fclose(f);
    return path;
}

/* ============================================================================================
 * Positive vectors
 * ========================================================================================== */

/* A graph with one Conv-like node carrying every attribute kind, initializers in every
 * storage, value infos, and an If whose branch holds an initializer named like an outer
 * one. */
static buf full_graph(void)
{
    buf g = {0};
    int64_t d23[2] = {2, 3}, d4[1] = {4}, d2[1] = {2}, d3[1] = {3};
    // raw F32 [2,3]
    buf t = tensor("W", 1, 2, d23);
    float w[6] = {1, 2, 3, 4, 5, 6};
    fbytes(&t, 9, w, sizeof w);
    fmsg(&g, 5, &t);
    // float_data packed [4]
    t = tensor("fd", 1, 1, d4);
    float fd[4] = {0.5f, -1, 2, 8};
    fbytes(&t, 4, fd, sizeof fd);
    fmsg(&g, 5, &t);
    // int32_data unpacked for F16 [2]: 0x3C00 (1.0), 0xC000 (-2.0)
    t = tensor("h", 10, 1, d2);
    fint(&t, 5, 0x3C00);
    fint(&t, 5, 0xC000);
    fmsg(&g, 5, &t);
    // int32_data INT8 negative values [3] (10-byte varints)
    t = tensor("i8", 3, 1, d3);
    fint(&t, 5, (uint64_t)(int64_t)-1);
    fint(&t, 5, 127);
    fint(&t, 5, (uint64_t)(int64_t)-128);
    fmsg(&g, 5, &t);
    // int64_data packed [2]
    t = tensor("i64", 7, 1, d2);
    buf pk = {0};
    varint(&pk, (uint64_t)(int64_t)-5);
    varint(&pk, 1ull << 40);
    fmsg(&t, 7, &pk);
    fmsg(&g, 5, &t);
    // double_data [2]
    t = tensor("f64", 11, 1, d2);
    double dd[2] = {1.5, -2.25};
    fbytes(&t, 10, dd, sizeof dd);
    fmsg(&g, 5, &t);
    // uint64_data for UINT32 [2]
    t = tensor("u32", 12, 1, d2);
    fint(&t, 11, 7);
    fint(&t, 11, 0xFFFFFFFFu);
    fmsg(&g, 5, &t);
    // BOOL int32_data [3]
    t = tensor("b", 9, 1, d3);
    fint(&t, 5, 1);
    fint(&t, 5, 0);
    fint(&t, 5, 1);
    fmsg(&g, 5, &t);
    // INT4 [4] packed two per int32_data value: elements 1,-2,3,-4
    t = tensor("q4", 22, 1, d4);
    fint(&t, 5, 0xE1);
    fint(&t, 5, 0xC3);
    fmsg(&g, 5, &t);
    // INT4 [3]: odd count, listed NOT_PLAIN
    t = tensor("q4odd", 22, 1, d3);
    fint(&t, 5, 0x21);
    fint(&t, 5, 0x03);
    fmsg(&g, 5, &t);
    // STRING [2]
    t = tensor("s", 8, 1, d2);
    fstr(&t, 6, "ab");
    fstr(&t, 6, "c");
    fmsg(&g, 5, &t);
    // scalar F32 (no dims) in raw_data
    t = tensor("scalar", 1, 0, NULL);
    float one = 1;
    fbytes(&t, 9, &one, 4);
    fmsg(&g, 5, &t);
    // empty tensor [0] with no data
    int64_t d0[1] = {0};
    t = tensor("empty", 1, 1, d0);
    fmsg(&g, 5, &t);

    // Node Conv with every attribute kind.
    buf n = {0};
    fstr(&n, 1, "x");
    fstr(&n, 1, "W");
    fstr(&n, 1, "");
    fstr(&n, 2, "y");
    fstr(&n, 3, "conv0");
    fstr(&n, 4, "Conv");
    buf a = {0};
    fstr(&a, 1, "alpha"), ffloat(&a, 2, 0.25f), fint(&a, 20, 1), fmsg(&n, 5, &a);
    fstr(&a, 1, "group"), fint(&a, 3, (uint64_t)(int64_t)-3), fint(&a, 20, 2), fmsg(&n, 5, &a);
    fstr(&a, 1, "mode"), fstr(&a, 4, "same"), fint(&a, 20, 3), fmsg(&n, 5, &a);
    fstr(&a, 1, "pads");
    fint(&a, 8, 1), fint(&a, 8, 2);
    buf pi = {0};
    varint(&pi, 3), varint(&pi, 4);
    fmsg(&a, 8, &pi);
    fint(&a, 20, 7), fmsg(&n, 5, &a);
    fstr(&a, 1, "scales"), ffloat(&a, 7, 1.5f), ffloat(&a, 7, 2.5f), fint(&a, 20, 6);
    fmsg(&n, 5, &a);
    fstr(&a, 1, "names"), fstr(&a, 9, "p"), fstr(&a, 9, "q"), fint(&a, 20, 8), fmsg(&n, 5, &a);
    // IR-1 style attribute: no type, an int.
    fstr(&a, 1, "legacy"), fint(&a, 3, 9), fmsg(&n, 5, &a);
    // TYPE_PROTO: seq(tensor(float))
    buf tp = {0}, tt = {0}, seq = {0};
    fint(&tt, 1, 1);
    fmsg(&tp, 1, &tt);
    fmsg(&seq, 1, &tp);
    buf tp2 = {0};
    fmsg(&tp2, 4, &seq);
    fstr(&a, 1, "tp"), fmsg(&a, 14, &tp2), fint(&a, 20, 13), fmsg(&n, 5, &a);
    fmsg(&g, 1, &n);

    // Constant node: its tensor is named after its output.
    n = (buf){0};
    fstr(&n, 2, "c_out");
    fstr(&n, 4, "Constant");
    t = tensor(NULL, 6, 1, d2);
    fint(&t, 5, 10);
    fint(&t, 5, 20);
    fstr(&a, 1, "value"), fmsg(&a, 5, &t), fint(&a, 20, 4), fmsg(&n, 5, &a);
    fmsg(&g, 1, &n);

    // If node with a then_branch holding an initializer "W" (collides with the outer W) and
    // a custom-domain node.
    buf sg = {0};
    fstr(&sg, 2, "then");
    t = tensor("W", 2, 1, d2);
    uint8_t u8[2] = {7, 9};
    fbytes(&t, 9, u8, 2);
    fmsg(&sg, 5, &t);
    buf sn = {0};
    fstr(&sn, 4, "FusedThing");
    fstr(&sn, 7, "com.microsoft");
    fmsg(&sg, 1, &sn);
    n = (buf){0};
    fstr(&n, 1, "cond");
    fstr(&n, 4, "If");
    fstr(&a, 1, "then_branch"), fmsg(&a, 6, &sg), fint(&a, 20, 5), fmsg(&n, 5, &a);
    fmsg(&g, 1, &n);

    fstr(&g, 2, "main");
    // input x: tensor(float) ["N", 3]
    buf vi = {0}, ty = {0}, tt2 = {0}, sh = {0}, dim = {0};
    fstr(&dim, 2, "N");
    fmsg(&sh, 1, &dim);
    fint(&dim, 1, 3);
    fmsg(&sh, 1, &dim);
    fint(&tt2, 1, 1);
    fmsg(&tt2, 2, &sh);
    fmsg(&ty, 1, &tt2);
    fstr(&vi, 1, "x");
    fmsg(&vi, 2, &ty);
    fmsg(&g, 11, &vi);
    fstr(&vi, 1, "y");
    fmsg(&g, 12, &vi);
    return g;
}

static void read_all(ferry_model *m, int64_t i, void *dst, size_t n)
{
    CHECK_EQ_INT(ferry_tensor_read(m, i, 0, dst, n), 0);
}

TEST(full_model)
{
    buf g = full_graph();
    buf mb = model(&g);
    ferry_source *src = NULL;
    ferry_model *m = NULL;
    int rc = open_mem(&mb, "full.onnx", &src, &m);
    CHECK_MSG(rc == 0, "%s", ferry_ctx_error(ctx));
    if (rc) goto out;
    CHECK_EQ_STR(ferry_model_format(m), "onnx");
    CHECK_EQ_STR(ferry_model_format_version(m), "8");
    const ferry_meta *root = ferry_model_metadata(m);
    CHECK_EQ_INT(ferry_meta_int(ferry_meta_get(root, "ir_version")), 8);
    CHECK_EQ_STR(ferry_meta_string(ferry_meta_get(root, "producer_name"), NULL), "ferry-test");
    const ferry_meta *ops = ferry_meta_get(root, "opset_import");
    CHECK(ops && ferry_meta_count(ops) == 1 &&
          ferry_meta_int(ferry_meta_get(ferry_meta_at(ops, 0), "version")) == 17);
    CHECK_EQ_STR(ferry_meta_string(ferry_meta_get(ferry_meta_get(root, "metadata_props"),
                                                  "author"), NULL), "me");
    const ferry_meta *gm = ferry_meta_get(root, "graph");
    CHECK_EQ_STR(ferry_meta_string(ferry_meta_get(gm, "name"), NULL), "main");
    const ferry_meta *in0 = ferry_meta_at(ferry_meta_get(gm, "input"), 0);
    CHECK_EQ_STR(ferry_meta_string(ferry_meta_get(in0, "type"), NULL), "tensor(float)");
    const ferry_meta *shape = ferry_meta_get(in0, "shape");
    CHECK(shape && ferry_meta_count(shape) == 2);
    CHECK_EQ_STR(ferry_meta_string(ferry_meta_at(shape, 0), NULL), "N");
    CHECK_EQ_INT(ferry_meta_int(ferry_meta_at(shape, 1)), 3);

    // Tensors
    int64_t i;
    float f6[6], f4[4];
    i = ferry_model_find_tensor(m, "W");
    CHECK(i >= 0);
    read_all(m, i, f6, sizeof f6);
    CHECK(f6[0] == 1 && f6[5] == 6);
    ferry_tensor_info ti = {.struct_size = sizeof ti};
    CHECK(ferry_model_tensor_info(m, i, &ti) == 0 && (ti.flags & FERRY_TENSOR_ZERO_COPY));
    const void *zp = NULL;
    CHECK(ferry_tensor_data(m, i, &zp) == 0 && zp && memcmp(zp, f6, sizeof f6) == 0);
    i = ferry_model_find_tensor(m, "fd");
    read_all(m, i, f4, sizeof f4);
    CHECK(f4[0] == 0.5f && f4[1] == -1 && f4[3] == 8);
    // Partial read at an odd offset through the read slot.
    uint8_t part[5];
    CHECK(ferry_tensor_read(m, i, 3, part, 5) == 0);
    const float fdv[4] = {0.5f, -1, 2, 8};
    CHECK(memcmp(part, (const uint8_t *)fdv + 3, 5) == 0);
    uint16_t h[2];
    read_all(m, ferry_model_find_tensor(m, "h"), h, sizeof h);
    CHECK(h[0] == 0x3C00 && h[1] == 0xC000);
    int8_t i8[3];
    read_all(m, ferry_model_find_tensor(m, "i8"), i8, sizeof i8);
    CHECK(i8[0] == -1 && i8[1] == 127 && i8[2] == -128);
    int64_t i64[2];
    read_all(m, ferry_model_find_tensor(m, "i64"), i64, sizeof i64);
    CHECK(i64[0] == -5 && i64[1] == (int64_t)1 << 40);
    double f64[2];
    read_all(m, ferry_model_find_tensor(m, "f64"), f64, sizeof f64);
    CHECK(f64[0] == 1.5 && f64[1] == -2.25);
    uint32_t u32[2];
    read_all(m, ferry_model_find_tensor(m, "u32"), u32, sizeof u32);
    CHECK(u32[0] == 7 && u32[1] == 0xFFFFFFFFu);
    uint8_t b3[3];
    read_all(m, ferry_model_find_tensor(m, "b"), b3, 3);
    CHECK(b3[0] == 1 && b3[1] == 0 && b3[2] == 1);
    uint8_t q4[2];
    i = ferry_model_find_tensor(m, "q4");
    CHECK(ferry_model_tensor_info(m, i, &ti) == 0 && ti.dtype == FERRY_DTYPE_I4 &&
          ti.nbytes == 2);
    read_all(m, i, q4, 2);
    CHECK(q4[0] == 0xE1 && q4[1] == 0xC3);
    i = ferry_model_find_tensor(m, "q4odd");
    CHECK(ferry_model_tensor_info(m, i, &ti) == 0 && ti.status == FERRY_TENSOR_NOT_PLAIN &&
          ti.dtype == FERRY_DTYPE_I4);
    i = ferry_model_find_tensor(m, "s");
    CHECK(ferry_model_tensor_info(m, i, &ti) == 0 && ti.dtype == FERRY_DTYPE_STRING &&
          ti.status == FERRY_TENSOR_NOT_PLAIN);
    i = ferry_model_find_tensor(m, "scalar");
    CHECK(ferry_model_tensor_info(m, i, &ti) == 0 && ti.ndim == 0 && ti.nbytes == 4);
    i = ferry_model_find_tensor(m, "empty");
    CHECK(ferry_model_tensor_info(m, i, &ti) == 0 && ti.nbytes == 0);
    int32_t c[2];
    read_all(m, ferry_model_find_tensor(m, "c_out"), c, sizeof c);
    CHECK(c[0] == 10 && c[1] == 20);
    // Sub-graph initializer "W" collides: scoped by its graph's name.
    i = ferry_model_find_tensor(m, "then/W");
    CHECK(i >= 0);
    uint8_t u8[2];
    if (i >= 0) read_all(m, i, u8, 2);
    CHECK(i < 0 || (u8[0] == 7 && u8[1] == 9));

    // Graph: Conv, Constant, If, then the sub-graph's node.
    CHECK_EQ_INT(ferry_model_graph_node_count(m), 4);
    const char *name, *op;
    int64_t nin, nout;
    const char *const *ins;
    const char *const *outs;
    const ferry_meta *attrs;
    CHECK(ferry_model_graph_node(m, 0, &name, &op, &nin, &ins, &nout, &outs, &attrs) == 0);
    CHECK_EQ_STR(name, "conv0");
    CHECK_EQ_STR(op, "Conv");
    CHECK_EQ_INT(nin, 3);
    CHECK_EQ_STR(ins[2], "");
    CHECK_EQ_STR(outs[0], "y");
    CHECK(ferry_meta_float(ferry_meta_get(attrs, "alpha")) == 0.25);
    CHECK_EQ_INT(ferry_meta_int(ferry_meta_get(attrs, "group")), -3);
    CHECK_EQ_STR(ferry_meta_string(ferry_meta_get(attrs, "mode"), NULL), "same");
    const ferry_meta *pads = ferry_meta_get(attrs, "pads");
    CHECK(pads && ferry_meta_count(pads) == 4 && ferry_meta_int(ferry_meta_at(pads, 3)) == 4);
    const ferry_meta *sc = ferry_meta_get(attrs, "scales");
    CHECK(sc && ferry_meta_count(sc) == 2 && ferry_meta_float(ferry_meta_at(sc, 1)) == 2.5);
    CHECK_EQ_STR(ferry_meta_string(ferry_meta_at(ferry_meta_get(attrs, "names"), 1), NULL), "q");
    CHECK_EQ_INT(ferry_meta_int(ferry_meta_get(attrs, "legacy")), 9);
    CHECK_EQ_STR(ferry_meta_string(ferry_meta_get(ferry_meta_get(attrs, "tp"), "type"), NULL),
                 "seq(tensor(float))");
    CHECK(ferry_model_graph_node(m, 1, &name, &op, &nin, &ins, &nout, &outs, &attrs) == 0);
    CHECK_EQ_STR(ferry_meta_string(ferry_meta_get(ferry_meta_get(attrs, "value"), "tensor"),
                                   NULL), "c_out");
    CHECK(ferry_model_graph_node(m, 2, &name, &op, &nin, &ins, &nout, &outs, &attrs) == 0);
    CHECK_EQ_STR(ferry_meta_string(ferry_meta_get(ferry_meta_get(attrs, "then_branch"),
                                                  "graph"), NULL), "then");
    CHECK(ferry_model_graph_node(m, 3, &name, &op, &nin, &ins, &nout, &outs, &attrs) == 0);
    CHECK_EQ_STR(op, "com.microsoft.FusedThing");
out:
    ferry_model_close(m);
    ferry_source_close(src);
    free(mb.p);
}

TEST(detect_long_doc_string)
{
    // doc_string (field 6) precedes the graph: 10 KiB of it pushes field 7 past the probe.
    buf m = {0};
    fint(&m, 1, 8);
    char *doc = malloc(10240);
    memset(doc, 'd', 10240);
    fbytes(&m, 6, doc, 10240);
    free(doc);
    buf g = {0};
    int64_t d[1] = {1};
    buf t = tensor("w", 1, 1, d);
    float one = 1;
    fbytes(&t, 9, &one, 4);
    fmsg(&g, 5, &t);
    fmsg(&m, 7, &g);
    const char *path = write_file("longdoc.bin", m.p, m.n);
    const char *fmt = NULL;
    CHECK(ferry_detect(ctx, path, &fmt) == 0);
    CHECK_EQ_STR(fmt, "onnx");
    free(m.p);
}

TEST(tensor_file)
{
    int64_t d[2] = {2, 2};
    buf t = tensor(NULL, 1, 2, d);
    float v[4] = {1, 2, 3, 4};
    fbytes(&t, 9, v, sizeof v);
    const char *path = write_file("input_0.pb", t.p, t.n);
    const char *fmt = NULL;
    CHECK(ferry_detect(ctx, path, &fmt) == 0);
    CHECK_EQ_STR(fmt, "onnx");
    ferry_model *m = NULL;
    int rc = ferry_open(ctx, path, NULL, &m);
    CHECK_MSG(rc == 0, "%s", ferry_ctx_error(ctx));
    if (m) {
        CHECK_EQ_INT(ferry_model_tensor_count(m), 1);
        ferry_tensor_info ti = {.struct_size = sizeof ti};
        CHECK(ferry_model_tensor_info(m, 0, &ti) == 0);
        CHECK_EQ_STR(ti.name, "input_0");
        float r[4];
        CHECK(ferry_tensor_read(m, 0, 0, r, sizeof r) == 0 && r[3] == 4);
    }
    ferry_model_close(m);
    free(t.p);
}

/* A model whose one initializer "E" [4] F32 lives in external data described by kv pairs
 * (key, value, key, value, ..., NULL). */
static buf ext_model(const char *const *kv)
{
    int64_t d[1] = {4};
    buf t = tensor("E", 1, 1, d);
    for (int i = 0; kv[i]; i += 2) {
        buf e = {0};
        fstr(&e, 1, kv[i]);
        fstr(&e, 2, kv[i + 1]);
        fmsg(&t, 13, &e);
    }
    fint(&t, 14, 1);
    buf g = {0};
    fmsg(&g, 5, &t);
    return model(&g);
}

static int open_ext(const char *const *kv, ferry_model **m)
{
    buf b = ext_model(kv);
    const char *path = write_file("ext.onnx", b.p, b.n);
    free(b.p);
    *m = NULL;
    return ferry_open(ctx, path, NULL, m);
}

TEST(external_data)
{
    float w[6] = {9, 1, 2, 3, 4, 5};
    write_file("w.bin", w, sizeof w);
    char sub[1024];
    snprintf(sub, sizeof sub, "%s/sub", t_tmpdir());
    mkdir(sub, 0700);
    write_file("sub/w2.bin", w, sizeof w);
    ferry_model *m = NULL;
    const char *ok1[] = {"location", "w.bin", "offset", "4", "length", "16", NULL};
    int rc = open_ext(ok1, &m);
    CHECK_MSG(rc == 0, "%s", ferry_ctx_error(ctx));
    if (m) {
        float r[4];
        CHECK(ferry_tensor_read(m, 0, 0, r, sizeof r) == 0 && r[0] == 1 && r[3] == 4);
        const void *p = NULL;
        CHECK(ferry_tensor_data(m, 0, &p) == 0 && p && memcmp(p, r, 16) == 0);
    }
    ferry_model_close(m);
    // No length: to the end of the file.
    const char *ok2[] = {"location", "sub/w2.bin", "offset", "8", NULL};
    rc = open_ext(ok2, &m);
    CHECK_MSG(rc == 0, "%s", ferry_ctx_error(ctx));
    ferry_model_close(m);

    struct {
        const char *kv[9];
        int         rc;
        const char *msg;
    } bad[] = {
        {{"location", "../w.bin", NULL}, FERRY_E_CORRUPT, "'..'"},
        {{"location", "sub/../../w.bin", NULL}, FERRY_E_CORRUPT, "'..'"},
        {{"location", "/etc/passwd", NULL}, FERRY_E_CORRUPT, "plain relative"},
        {{"location", "C:w.bin", NULL}, FERRY_E_CORRUPT, "plain relative"},
        {{"location", "missing.bin", NULL}, FERRY_E_IO, "cannot be opened"},
        {{"offset", "0", NULL}, FERRY_E_CORRUPT, "without a location"},
        {{"location", "w.bin", "evil", "1", NULL}, FERRY_E_CORRUPT, "unknown external_data key"},
        {{"location", "w.bin", "location", "w.bin", NULL}, FERRY_E_CORRUPT, "appears twice"},
        {{"location", "w.bin", "offset", "-4", NULL}, FERRY_E_CORRUPT, "not a decimal"},
        {{"location", "w.bin", "offset", "99999999999999999999999", NULL}, FERRY_E_CORRUPT,
         "not a decimal"},
        {{"location", "w.bin", "length", "12", NULL}, FERRY_E_CORRUPT, "holds 12 bytes"},
        {{"location", "w.bin", "offset", "16", "length", "16", NULL}, FERRY_E_CORRUPT, "leaves"},
        {{"location", "w.bin", "offset", "100", NULL}, FERRY_E_CORRUPT, "beyond"},
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        rc = open_ext(bad[k].kv, &m);
        CHECK_MSG(rc == bad[k].rc && strstr(ferry_ctx_error(ctx), bad[k].msg),
                  "case %zu: rc %d: %s", k, rc, ferry_ctx_error(ctx));
        ferry_model_close(m);
    }
    // A symlink inside the directory that leads outside it.
    char link[1024];
    snprintf(link, sizeof link, "%s/escape.bin", t_tmpdir());
    unlink(link);
    CHECK(symlink("/etc/hostname", link) == 0);
    const char *esc[] = {"location", "escape.bin", NULL};
    rc = open_ext(esc, &m);
    CHECK_MSG(rc != 0 && strstr(ferry_ctx_error(ctx), "outside"), "%s", ferry_ctx_error(ctx));
    ferry_model_close(m);
    // From memory there is no directory to resolve against.
    buf b = ext_model(ok1);
    ferry_source *src = NULL;
    rc = open_mem(&b, "mem.onnx", &src, &m);
    CHECK_EQ_INT(rc, FERRY_E_UNSUPPORTED);
    ferry_model_close(m);
    ferry_source_close(src);
    free(b.p);
}

/* ============================================================================================
 * Corruption matrix: one case per rejection rule
 * ========================================================================================== */

static int open_graph(buf *g, const char *expect)
{
    buf mb = model(g);
    ferry_source *src = NULL;
    ferry_model *m = NULL;
    int rc = ferry_source_from_memory(ctx, mb.p, mb.n, "bad.onnx", &src);
    if (rc == 0) rc = ferry_open_source(ctx, src, "onnx", &m);
    CHECK_MSG(rc != 0 && strstr(ferry_ctx_error(ctx), expect), "expected \"%s\", got %d: %s",
              expect, rc, ferry_ctx_error(ctx));
    ferry_model_close(m);
    ferry_source_close(src);
    free(mb.p);
    return rc;
}

TEST(corruption_matrix)
{
    int64_t d2[1] = {2}, dneg[1] = {(int64_t)-3};
    buf g = {0}, t;
    float v[2] = {1, 2};
    // raw_data of the wrong size
    t = tensor("a", 1, 1, d2), fbytes(&t, 9, v, 4), fmsg(&g, 5, &t);
    open_graph(&g, "raw_data holds 4 bytes");
    // raw_data and float_data together
    g = (buf){0};
    t = tensor("a", 1, 1, d2), fbytes(&t, 9, v, 8), ffloat(&t, 4, 1), ffloat(&t, 4, 2);
    fmsg(&g, 5, &t);
    open_graph(&g, "both raw_data and float_data");
    // typed count mismatch
    g = (buf){0};
    t = tensor("a", 1, 1, d2), ffloat(&t, 4, 1), fmsg(&g, 5, &t);
    open_graph(&g, "float_data holds 1 values");
    // wrong typed field for the type
    g = (buf){0};
    t = tensor("a", 1, 1, d2), fint(&t, 7, 1), fint(&t, 7, 2), fmsg(&g, 5, &t);
    open_graph(&g, "int64_data cannot hold FLOAT");
    // no data
    g = (buf){0};
    t = tensor("a", 1, 1, d2), fmsg(&g, 5, &t);
    open_graph(&g, "no data for its 2 elements");
    // negative dimension
    g = (buf){0};
    t = tensor("a", 1, 1, dneg), fmsg(&g, 5, &t);
    open_graph(&g, "negative dimension");
    // data_type with the wrong wire type
    g = (buf){0};
    t = (buf){0}, fint(&t, 1, 2), fstr(&t, 2, "x"), fmsg(&g, 5, &t);
    open_graph(&g, "data_type");
    // STRING in raw_data
    g = (buf){0};
    t = tensor("a", 8, 1, d2), fbytes(&t, 9, "ab", 2), fmsg(&g, 5, &t);
    open_graph(&g, "string_data, not raw_data");
    // external and inline at once
    g = (buf){0};
    t = tensor("a", 1, 1, d2), fbytes(&t, 9, v, 8), fint(&t, 14, 1), fmsg(&g, 5, &t);
    open_graph(&g, "also holds data inline");
    // unknown data_location
    g = (buf){0};
    t = tensor("a", 1, 1, d2), fbytes(&t, 9, v, 8), fint(&t, 14, 7), fmsg(&g, 5, &t);
    open_graph(&g, "unknown data_location");
    // node with a non-string input
    g = (buf){0};
    buf n = {0};
    fint(&n, 1, 5);
    fmsg(&g, 1, &n);
    open_graph(&g, "expected a string");
    // graph that is a varint
    buf m = {0};
    fint(&m, 1, 8), fint(&m, 7, 1);
    ferry_source *src = NULL;
    ferry_model *mm = NULL;
    CHECK(ferry_source_from_memory(ctx, m.p, m.n, "x.onnx", &src) == 0);
    CHECK(ferry_open_source(ctx, src, "onnx", &mm) == FERRY_E_CORRUPT);
    ferry_source_close(src);
    free(m.p);
    // no graph at all
    m = (buf){0};
    fint(&m, 1, 8), fstr(&m, 2, "p");
    CHECK(ferry_source_from_memory(ctx, m.p, m.n, "x.onnx", &src) == 0);
    CHECK(ferry_open_source(ctx, src, "onnx", &mm) == FERRY_E_CORRUPT);
    CHECK(strstr(ferry_ctx_error(ctx), "no graph") != NULL);
    ferry_source_close(src);
    free(m.p);
}

TEST(nesting_limit)
{
    // 60 nested If bodies: 3+ protobuf levels each, beyond the limit of 100.
    buf g = {0};
    fstr(&g, 2, "leaf");
    for (int i = 0; i < 60; i++) {
        buf a = {0}, n = {0}, outer = {0};
        fstr(&a, 1, "then_branch"), fmsg(&a, 6, &g), fint(&a, 20, 5);
        fstr(&n, 4, "If"), fmsg(&n, 5, &a);
        fmsg(&outer, 1, &n);
        g = outer;
    }
    open_graph(&g, "deeper than");
}

TEST(truncations)
{
    // Every prefix of a valid model is refused with a message or opens: never a crash.
    buf g = full_graph();
    buf mb = model(&g);
    int refused = 0;
    for (size_t n = 0; n < mb.n; n++) {
        ferry_source *src = NULL;
        ferry_model *m = NULL;
        CHECK(ferry_source_from_memory(ctx, mb.p, n, "cut.onnx", &src) == 0);
        int rc = ferry_open_source(ctx, src, "onnx", &m);
        if (rc) {
            refused++;
            CHECK(ferry_ctx_error(ctx)[0] != 0);
        }
        ferry_model_close(m);
        ferry_source_close(src);
    }
    CHECK(refused > (int)mb.n / 2);
    // Flipping each byte must not crash either; read every tensor that opens.
    for (size_t k = 0; k < mb.n; k += 3) {
        uint8_t *c = malloc(mb.n);
        memcpy(c, mb.p, mb.n);
        c[k] ^= 0x5A;
        ferry_source *src = NULL;
        ferry_model *m = NULL;
        CHECK(ferry_source_from_memory(ctx, c, mb.n, "flip.onnx", &src) == 0);
        if (ferry_open_source(ctx, src, "onnx", &m) == 0) {
            for (int64_t i = 0; i < ferry_model_tensor_count(m); i++) {
                ferry_tensor_info ti = {.struct_size = sizeof ti};
                ferry_model_tensor_info(m, i, &ti);
                if (ti.status != FERRY_TENSOR_PLAIN || ti.nbytes > 4096) continue;
                uint8_t out[4096];
                CHECK(ferry_tensor_read(m, i, 0, out, (size_t)ti.nbytes) == 0);
            }
        }
        ferry_model_close(m);
        ferry_source_close(src);
        free(c);
    }
    free(mb.p);
}

TEST(typed_chunked_reads)
{
    // int64_data in three packed runs and unpacked values, float_data mixed likewise; read
    // forward in odd-sized chunks (the read slot's resume point), then backward, then at
    // random offsets: always the same bytes.
    enum { N = 3000 };
    int64_t d[1] = {N};
    buf t = tensor("big", 7, 1, d), f = tensor("fl", 1, 1, d);
    static int64_t want[N];
    static float wantf[N];
    for (int i = 0; i < N; i++) {
        want[i]  = (int64_t)i * 7919 - 1000000 * (i % 3);
        wantf[i] = (float)i * 0.5f - 7;
    }
    for (int part = 0; part < 4; part++) {
        int lo = part * N / 4, hi = (part + 1) * N / 4;
        if (part % 2 == 0) {
            buf pk = {0}, pf = {0};
            for (int i = lo; i < hi; i++) varint(&pk, (uint64_t)want[i]);
            for (int i = lo; i < hi; i++) put(&pf, &wantf[i], 4);
            fmsg(&t, 7, &pk);
            fmsg(&f, 4, &pf);
        } else {
            for (int i = lo; i < hi; i++) fint(&t, 7, (uint64_t)want[i]);
            for (int i = lo; i < hi; i++) ffloat(&f, 4, wantf[i]);
        }
    }
    buf g = {0};
    fmsg(&g, 5, &t);
    fmsg(&g, 5, &f);
    buf mb = model(&g);
    ferry_source *src = NULL;
    ferry_model *m = NULL;
    CHECK(open_mem(&mb, "chunks.onnx", &src, &m) == 0);
    if (m) {
        const int64_t ids[2] = {ferry_model_find_tensor(m, "big"),
                                ferry_model_find_tensor(m, "fl")};
        const uint8_t *exp[2] = {(const uint8_t *)want, (const uint8_t *)wantf};
        const size_t total[2] = {sizeof want, sizeof wantf};
        static uint8_t got[sizeof want];
        for (int k = 0; k < 2; k++) {
            memset(got, 0xAA, sizeof got);
            for (size_t off = 0; off < total[k]; off += 1237) {
                size_t n = total[k] - off < 1237 ? total[k] - off : 1237;
                CHECK(ferry_tensor_read(m, ids[k], off, got + off, n) == 0);
            }
            CHECK(memcmp(got, exp[k], total[k]) == 0);
            memset(got, 0xAA, sizeof got);
            for (size_t end = total[k]; end > 0;) {
                size_t n = end < 1001 ? end : 1001;
                CHECK(ferry_tensor_read(m, ids[k], end - n, got + end - n, n) == 0);
                end -= n;
            }
            CHECK(memcmp(got, exp[k], total[k]) == 0);
            uint32_t seed = 12345;
            for (int j = 0; j < 200; j++) {
                seed = seed * 1103515245u + 12345u;
                size_t off = seed % total[k];
                size_t n = (seed >> 8) % 300;
                if (n > total[k] - off) n = total[k] - off;
                uint8_t tmp[300];
                CHECK(ferry_tensor_read(m, ids[k], off, tmp, n) == 0);
                CHECK(memcmp(tmp, exp[k] + off, n) == 0);
            }
        }
    }
    ferry_model_close(m);
    ferry_source_close(src);
    free(mb.p);
}

/* ============================================================================================
 * Writing
 * ========================================================================================== */

TEST(write_new_model)
{
    // Any model becomes a ModelProto whose graph holds its tensors as initializers.
    ferry_model *m = NULL;
    CHECK(ferry_model_new(ctx, &m) == 0);
    static const float a[6] = {1, 2, 3, 4, 5, 6};
    static const int8_t b[3] = {-1, 0, 1};
    int64_t sa[2] = {2, 3}, sb[1] = {3};
    CHECK(ferry_model_add_tensor(m, "a", FERRY_DTYPE_F32, 2, sa, a) == 0);
    CHECK(ferry_model_add_tensor(m, "b", FERRY_DTYPE_I8, 1, sb, b) == 0);
    CHECK(ferry_model_add_tensor(m, "s", FERRY_DTYPE_F32, 0, NULL, a) == 0);
    CHECK(ferry_model_set_meta_string(m, "author", "me") == 0);
    ferry_sink *s = NULL;
    ferry_write_options o = {.struct_size = sizeof o, .format = "onnx"};
    CHECK(ferry_sink_open_memory(ctx, &s) == 0);
    int rc = ferry_write_sink(m, s, &o);
    CHECK_MSG(rc == 0, "%s", ferry_ctx_error(ctx));
    size_t n = 0;
    const void *p = ferry_sink_memory(s, &n);
    ferry_source *src = NULL;
    ferry_model *r = NULL;
    CHECK(ferry_source_from_memory(ctx, p, n, "new.onnx", &src) == 0);
    rc = ferry_open_source(ctx, src, NULL, &r);
    CHECK_MSG(rc == 0, "%s", ferry_ctx_error(ctx));
    if (r) {
        CHECK_EQ_STR(ferry_model_format(r), "onnx");
        CHECK_EQ_INT(ferry_model_tensor_count(r), 3);
        float ra[6];
        int8_t rb[3];
        CHECK(ferry_tensor_read(r, ferry_model_find_tensor(r, "a"), 0, ra, sizeof ra) == 0);
        CHECK(memcmp(ra, a, sizeof a) == 0);
        CHECK(ferry_tensor_read(r, ferry_model_find_tensor(r, "b"), 0, rb, sizeof rb) == 0);
        CHECK(memcmp(rb, b, sizeof b) == 0);
        ferry_tensor_info ti = {.struct_size = sizeof ti};
        CHECK(ferry_model_tensor_info(r, ferry_model_find_tensor(r, "s"), &ti) == 0 &&
              ti.ndim == 0);
        CHECK_EQ_STR(ferry_meta_string(ferry_meta_get(ferry_meta_get(ferry_model_metadata(r),
                                                                     "metadata_props"),
                                                      "author"), NULL), "me");
    }
    ferry_model_close(r);
    ferry_source_close(src);
    ferry_sink_abort(s);
    ferry_model_close(m);
}

TEST(write_replaces_initializers)
{
    // An ONNX source written with --dtype F16: float initializers are re-encoded, the rest of
    // the model (nodes, sub-graphs, typed tensors of other types) is carried over verbatim.
    buf g = full_graph();
    buf mb = model(&g);
    ferry_source *src = NULL;
    ferry_model *m = NULL;
    CHECK(open_mem(&mb, "full.onnx", &src, &m) == 0);
    ferry_sink *s = NULL;
    ferry_write_options o = {.struct_size = sizeof o, .format = "onnx",
                             .dtype = FERRY_DTYPE_F16};
    CHECK(ferry_sink_open_memory(ctx, &s) == 0);
    int rc = m ? ferry_write_sink(m, s, &o) : -1;
    CHECK_MSG(rc == 0, "%s", ferry_ctx_error(ctx));
    size_t n = 0;
    const void *p = ferry_sink_memory(s, &n);
    ferry_source *s2 = NULL;
    ferry_model *r = NULL;
    CHECK(ferry_source_from_memory(ctx, p, n, "f16.onnx", &s2) == 0);
    rc = ferry_open_source(ctx, s2, NULL, &r);
    CHECK_MSG(rc == 0, "%s", ferry_ctx_error(ctx));
    if (r && m) {
        CHECK_EQ_INT(ferry_model_tensor_count(r), ferry_model_tensor_count(m));
        CHECK_EQ_INT(ferry_model_graph_node_count(r), ferry_model_graph_node_count(m));
        ferry_tensor_info ti = {.struct_size = sizeof ti};
        int64_t i = ferry_model_find_tensor(r, "W");
        CHECK(ferry_model_tensor_info(r, i, &ti) == 0 && ti.dtype == FERRY_DTYPE_F16 &&
              ti.ndim == 2 && ti.shape[1] == 3);
        uint16_t h[6];
        CHECK(ferry_tensor_read(r, i, 0, h, sizeof h) == 0);
        CHECK(h[0] == 0x3C00 && h[5] == ferry_f32_to_f16(6.0f));
        // F64 is floating too; I8 stays, read back unchanged from the original typed field.
        i = ferry_model_find_tensor(r, "i8");
        int8_t i8[3];
        CHECK(ferry_tensor_read(r, i, 0, i8, 3) == 0 && i8[0] == -1 && i8[2] == -128);
        CHECK(ferry_model_find_tensor(r, "then/W") >= 0);
    }
    ferry_model_close(r);
    ferry_source_close(s2);
    ferry_sink_abort(s);
    ferry_model_close(m);
    ferry_source_close(src);
    free(mb.p);
}

/* ============================================================================================
 * The shared corpus
 * ========================================================================================== */

static int n_models, n_tensor_files, n_refused, n_failed, n_tensors, n_identical;

/* Writes m back as ONNX into memory: a model without external data must come back
 * byte for byte; any model must reopen with the same tensor count. */
static void round_trip(ferry_model *m, const char *path)
{
    bool external = false;
    for (int64_t i = 0; i < ferry_model_tensor_count(m); i++) {
        ferry_tensor_info ti = {.struct_size = sizeof ti};
        ferry_model_tensor_info(m, i, &ti);
        if (ti.file && strcmp(ti.file, path) != 0) external = true;
    }
    ferry_sink *s = NULL;
    ferry_write_options o = {.struct_size = sizeof o, .format = "onnx"};
    if (ferry_sink_open_memory(ctx, &s) != 0 || ferry_write_sink(m, s, &o) != 0) {
        n_failed++;
        fprintf(stderr, "corpus: write %s: %s\n", path, ferry_ctx_error(ctx));
        ferry_sink_abort(s);
        return;
    }
    size_t n = 0;
    const uint8_t *p = ferry_sink_memory(s, &n);
    FILE *f = fopen(path, "rb");
    uint8_t *orig = malloc(n + 1);
    size_t got = f ? fread(orig, 1, n + 1, f) : 0;
    if (f) fclose(f);
    if (!external) {
        if (got == n && memcmp(orig, p, n) == 0) {
            n_identical++;
        } else {
            n_failed++;
            fprintf(stderr, "corpus: %s: rewritten bytes differ\n", path);
        }
    }
    free(orig);
    ferry_source *src = NULL;
    ferry_model *m2 = NULL;
    if (ferry_source_from_memory(ctx, p, n, "rewritten.onnx", &src) != 0 ||
        ferry_open_source(ctx, src, "onnx", &m2) != 0 ||
        ferry_model_tensor_count(m2) != ferry_model_tensor_count(m)) {
        n_failed++;
        fprintf(stderr, "corpus: %s: rewritten model: %s\n", path, ferry_ctx_error(ctx));
    }
    ferry_model_close(m2);
    ferry_source_close(src);
    ferry_sink_abort(s);
}

static int visit(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    if (type != FTW_F) return 0;
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t n = strlen(base);
    bool is_model = n > 5 && strcmp(base + n - 5, ".onnx") == 0;
    bool is_pb = n > 3 && strcmp(base + n - 3, ".pb") == 0 &&
                 (strncmp(base, "input_", 6) == 0 || strncmp(base, "output_", 7) == 0);
    if (!is_model && !is_pb) return 0;
    ferry_model *m = NULL;
    int rc = ferry_open(ctx, path, NULL, &m);
    if (rc) {
        // Sequence / Optional / Map test data are not TensorProtos: refused, not crashed.
        if (is_pb && rc == FERRY_E_UNKNOWN_FORMAT) {
            n_refused++;
        } else {
            n_failed++;
            fprintf(stderr, "corpus: %s\n", ferry_ctx_error(ctx));
        }
        return 0;
    }
    if (is_model) n_models++;
    else n_tensor_files++;
    for (int64_t i = 0; i < ferry_model_tensor_count(m); i++) {
        ferry_tensor_info ti = {.struct_size = sizeof ti};
        ferry_model_tensor_info(m, i, &ti);
        if (ti.status != FERRY_TENSOR_PLAIN) continue;
        uint8_t *b = malloc(ti.nbytes ? (size_t)ti.nbytes : 1);
        if (ferry_tensor_read(m, i, 0, b, (size_t)ti.nbytes) != 0) {
            n_failed++;
            fprintf(stderr, "corpus: read: %s\n", ferry_ctx_error(ctx));
        } else {
            n_tensors++;
        }
        free(b);
    }
    if (is_model) round_trip(m, path);
    ferry_model_close(m);
    return 0;
}

TEST(corpus)
{
    const char *dir = t_shared("corpus/onnx");
    if (!dir) return;
    char d[4096];
    snprintf(d, sizeof d, "%s", dir);
    CHECK(nftw(d, visit, 16, FTW_PHYS) == 0);
    const char *gen = t_shared("corpus/generated");
    if (gen) {
        snprintf(d, sizeof d, "%s", gen);
        CHECK(nftw(d, visit, 16, FTW_PHYS) == 0);
    }
    fprintf(stderr, "onnx corpus: %d models, %d tensor files opened, %d non-tensor test files "
            "refused, %d tensors read, %d models rewritten byte for byte, %d failures\n",
            n_models, n_tensor_files, n_refused, n_tensors, n_identical, n_failed);
    CHECK_EQ_INT(n_failed, 0);
    CHECK(n_models > 1000);
}

int main(void)
{
    ctx = ferry_ctx_new(NULL);
    RUN(full_model);
    RUN(detect_long_doc_string);
    RUN(tensor_file);
    RUN(external_data);
    RUN(corruption_matrix);
    RUN(nesting_limit);
    RUN(truncations);
    RUN(typed_chunked_reads);
    RUN(write_new_model);
    RUN(write_replaces_initializers);
    RUN(corpus);
    ferry_ctx_free(ctx);
    return t_finish("onnx");
}
