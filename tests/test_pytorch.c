/*
 * test_pytorch.c -- the PyTorch module (src/formats/pytorch.c).
 *
 * Archives are assembled here: data.pkl from hand-written pickle opcodes (FORMATS.md §2a
 * conventions), records written with ferry's own zip writer into a memory sink. Covered:
 *   - a contiguous view is zero-copy at storage_offset x itemsize inside the record;
 *     transposed / strided / expanded views are materialised correctly, also in pieces;
 *   - byteorder "big": values byte-swapped (per component for complex);
 *   - _rebuild_tensor_v3 with an UntypedStorage and a float8 dtype; parameters;
 *   - nested checkpoints: names joined with '.', scalars in the metadata, TorchScript mark;
 *   - the legacy format (hand-assembled: magic, 1001, sys_info, object, keys, storages);
 *   - one rejection per rule: no data.pkl, bad byteorder, missing storage record, storage
 *     numel larger than its record (SECURITY C13), view past the storage, negative size,
 *     pickle errors (named with the record and offset), expansion bombs, cycles;
 *   - truncation of a whole archive at every length (no crash);
 *   - the corpus: every torch file under corpus/pytorch, corpus/torchscript and
 *     corpus/generated opens with the expected tensors, and every tensor reads.
 */
#include "internal.h"
#include "parse/zip.h"
#include "t.h"

/* ============================================================================================
 * Building pickles and archives
 * ========================================================================================== */

typedef struct buf {
    uint8_t d[8192];
    size_t  n;
} buf;

static void put(buf *b, const void *p, size_t n)
{
    if (b->n + n > sizeof b->d) abort();
    memcpy(b->d + b->n, p, n);
    b->n += n;
}
static void op(buf *b, uint8_t o) { put(b, &o, 1); }
static void str(buf *b, const char *s)
{
    uint8_t h[5] = {'X'};
    ferry__wr32le(h + 1, (uint32_t)strlen(s));
    put(b, h, 5);
    put(b, s, strlen(s));
}
static void num(buf *b, int32_t v)
{
    uint8_t h[5] = {'J'};
    ferry__wr32le(h + 1, (uint32_t)v);
    put(b, h, 5);
}
static void glob(buf *b, const char *mod, const char *name)
{
    op(b, 'c');
    put(b, mod, strlen(mod));
    op(b, '\n');
    put(b, name, strlen(name));
    op(b, '\n');
}
static void ituple(buf *b, int nd, const int64_t *v)
{
    op(b, '(');
    for (int i = 0; i < nd; i++) num(b, (int32_t)v[i]);
    op(b, 't');
}

/* Pushes _rebuild_tensor_v2/v3(persistent storage, offset, size, stride, False, OrderedDict()
 * [, torch.<dtype3>, None]). */
static void tensor(buf *b, const char *cls, const char *key, int32_t numel, int32_t offset,
                   int nd, const int64_t *shape, const int64_t *stride, const char *dtype3)
{
    glob(b, "torch._utils", dtype3 ? "_rebuild_tensor_v3" : "_rebuild_tensor_v2");
    op(b, '(');
    op(b, '(');
    str(b, "storage");
    glob(b, "torch", cls);
    str(b, key);
    str(b, "cpu");
    num(b, numel);
    op(b, 't');
    op(b, 'Q');
    num(b, offset);
    ituple(b, nd, shape);
    ituple(b, nd, stride);
    op(b, 0x89);
    glob(b, "collections", "OrderedDict");
    op(b, ')');
    op(b, 'R');
    if (dtype3) {
        glob(b, "torch", dtype3);
        op(b, 'N');
    }
    op(b, 't');
    op(b, 'R');
}

typedef struct rec {
    const char *name;
    const void *data;
    size_t      n;
} rec;

/* A zip of records into *out (caller frees with free()). */
static size_t make_zip(const rec *r, int nrec, uint8_t **out)
{
    ferry_ctx *ctx = ferry_ctx_new(NULL);
    ferry_sink *s = NULL;
    ferry__zip_writer *w = NULL;
    if (ferry_sink_open_memory(ctx, &s) || ferry__zip_writer_new(ctx, s, 0, &w)) abort();
    for (int i = 0; i < nrec; i++) {
        if (ferry__zip_writer_begin(w, r[i].name, strlen(r[i].name), 0, r[i].n, 64) ||
            ferry__zip_writer_write(w, r[i].data, r[i].n) || ferry__zip_writer_end(w))
            abort();
    }
    if (ferry__zip_writer_finish(w)) abort();
    size_t n = 0;
    const void *p = ferry_sink_memory(s, &n);
    *out = malloc(n);
    memcpy(*out, p, n);
    ferry__zip_writer_free(w);
    ferry_sink_abort(s);
    ferry_ctx_free(ctx);
    return n;
}

typedef struct opened {
    ferry_ctx    *ctx;
    ferry_source *src;
    ferry_model  *m;
    uint8_t      *bytes;
    int           rc;
} opened;

static opened open_bytes(uint8_t *bytes, size_t n)
{
    opened o = {0};
    o.ctx = ferry_ctx_new(NULL);
    o.bytes = bytes;
    if (ferry_source_from_memory(o.ctx, bytes, n, "test.pt", &o.src)) abort();
    o.rc = ferry_open_source(o.ctx, o.src, "pytorch", &o.m);
    return o;
}

static opened open_archive(const buf *pkl, const rec *extra, int nextra)
{
    rec r[16];
    int n = 0;
    r[n++] = (rec){"archive/data.pkl", pkl->d, pkl->n};
    for (int i = 0; i < nextra; i++) r[n++] = extra[i];
    r[n++] = (rec){"archive/version", "3\n", 2};
    uint8_t *z = NULL;
    size_t zn = make_zip(r, n, &z);
    return open_bytes(z, zn);
}

static void close_opened(opened *o)
{
    ferry_model_close(o->m);
    ferry_source_close(o->src);
    ferry_ctx_free(o->ctx);
    free(o->bytes);
}

static const float f6[6] = {0, 1, 2, 3, 4, 5};

/* ============================================================================================
 * Tensors and layouts
 * ========================================================================================== */

TEST(zero_copy_view)
{
    buf b = {.n = 0};
    op(&b, 0x80);
    op(&b, 2);
    op(&b, '}');
    op(&b, '(');
    str(&b, "w");
    tensor(&b, "FloatStorage", "0", 6, 1, 2, (int64_t[]){2, 2}, (int64_t[]){2, 1}, NULL);
    op(&b, 'u');
    op(&b, '.');
    rec r = {"archive/data/0", f6, sizeof f6};
    opened o = open_archive(&b, &r, 1);
    CHECK_MSG(o.rc == 0, "%s", ferry_ctx_error(o.ctx));
    if (o.rc == 0) {
        ferry_tensor_info ti = {.struct_size = sizeof ti};
        CHECK(ferry_model_tensor_count(o.m) == 1);
        CHECK(ferry_model_tensor_info(o.m, 0, &ti) == 0);
        CHECK_EQ_STR(ti.name, "w");
        CHECK(ti.dtype == FERRY_DTYPE_F32 && ti.ndim == 2 && ti.nbytes == 16);
        CHECK(ti.flags & FERRY_TENSOR_ZERO_COPY);
        CHECK_EQ_STR(ti.native_dtype, "torch.float32");
        const void *p = NULL;
        CHECK(ferry_tensor_data(o.m, 0, &p) == 0);
        CHECK(p && memcmp(p, f6 + 1, 16) == 0);
        CHECK(ti.file_offset % 64 == 4); /* record aligned to 64, one element in */
        CHECK_EQ_STR(ferry_model_format(o.m), "pytorch");
        CHECK_EQ_STR(ferry_model_format_version(o.m), "3");
    }
    close_opened(&o);
}

TEST(strided_views)
{
    buf b = {.n = 0};
    op(&b, 0x80);
    op(&b, 2);
    op(&b, '}');
    op(&b, '(');
    str(&b, "t");  /* transpose of the 2x3 matrix */
    tensor(&b, "FloatStorage", "0", 6, 0, 2, (int64_t[]){3, 2}, (int64_t[]){1, 3}, NULL);
    str(&b, "s");  /* every other element from 1 */
    tensor(&b, "FloatStorage", "0", 6, 1, 1, (int64_t[]){3}, (int64_t[]){2}, NULL);
    str(&b, "e");  /* expand: stride 0 */
    tensor(&b, "FloatStorage", "0", 6, 2, 2, (int64_t[]){2, 3}, (int64_t[]){0, 1}, NULL);
    str(&b, "z");  /* empty */
    tensor(&b, "FloatStorage", "0", 6, 6, 2, (int64_t[]){0, 5}, (int64_t[]){5, 1}, NULL);
    op(&b, 'u');
    op(&b, '.');
    rec r = {"archive/data/0", f6, sizeof f6};
    opened o = open_archive(&b, &r, 1);
    CHECK_MSG(o.rc == 0, "%s", ferry_ctx_error(o.ctx));
    if (o.rc == 0) {
        float got[6];
        static const float t[6] = {0, 3, 1, 4, 2, 5};
        static const float s[3] = {1, 3, 5};
        static const float e[6] = {2, 3, 4, 2, 3, 4};
        CHECK(ferry_tensor_read(o.m, 0, 0, got, 24) == 0 && memcmp(got, t, 24) == 0);
        /* in pieces, starting inside an element */
        uint8_t piece[7];
        CHECK(ferry_tensor_read(o.m, 0, 5, piece, 7) == 0 &&
              memcmp(piece, (const uint8_t *)t + 5, 7) == 0);
        CHECK(ferry_tensor_read(o.m, 1, 0, got, 12) == 0 && memcmp(got, s, 12) == 0);
        CHECK(ferry_tensor_read(o.m, 2, 0, got, 24) == 0 && memcmp(got, e, 24) == 0);
        ferry_tensor_info ti = {.struct_size = sizeof ti};
        CHECK(ferry_model_tensor_info(o.m, 0, &ti) == 0 &&
              (ti.flags & FERRY_TENSOR_CONVERTED) && !(ti.flags & FERRY_TENSOR_ZERO_COPY));
        CHECK(ferry_model_tensor_info(o.m, 3, &ti) == 0 && ti.nbytes == 0);
        const void *p;
        CHECK(ferry_tensor_data(o.m, 0, &p) == FERRY_E_UNSUPPORTED);
    }
    close_opened(&o);
}

TEST(big_endian)
{
    buf b = {.n = 0};
    op(&b, 0x80);
    op(&b, 2);
    op(&b, '}');
    op(&b, '(');
    str(&b, "h");
    tensor(&b, "ShortStorage", "0", 3, 0, 1, (int64_t[]){3}, (int64_t[]){1}, NULL);
    str(&b, "c");
    tensor(&b, "ComplexFloatStorage", "1", 1, 0, 1, (int64_t[]){1}, (int64_t[]){1}, NULL);
    op(&b, 'u');
    op(&b, '.');
    static const uint8_t h[6] = {0x01, 0x02, 0x03, 0x04, 0x05, 0x06};
    static const uint8_t c[8] = {0x3f, 0x80, 0, 0, 0x40, 0, 0, 0}; /* 1.0f, 2.0f big-endian */
    rec r[3] = {{"archive/data/0", h, 6}, {"archive/data/1", c, 8},
                {"archive/byteorder", "big", 3}};
    opened o = open_archive(&b, r, 3);
    CHECK_MSG(o.rc == 0, "%s", ferry_ctx_error(o.ctx));
    if (o.rc == 0) {
        uint8_t got[6];
        static const uint8_t want[6] = {0x02, 0x01, 0x04, 0x03, 0x06, 0x05};
        CHECK(ferry_tensor_read(o.m, 0, 0, got, 6) == 0 && memcmp(got, want, 6) == 0);
        float cf[2];
        CHECK(ferry_tensor_read(o.m, 1, 0, cf, 8) == 0 && cf[0] == 1.0f && cf[1] == 2.0f);
        const ferry_meta *bo = ferry_meta_get(ferry_model_metadata(o.m), "pytorch.byteorder");
        CHECK(bo && strcmp(ferry_meta_string(bo, NULL), "big") == 0);
    }
    close_opened(&o);
    rec bad[2] = {{"archive/data/0", h, 6}, {"archive/byteorder", "middle", 6}};
    b.n = 0;
    op(&b, 'N');
    op(&b, '.');
    o = open_archive(&b, bad, 2);
    CHECK(o.rc == FERRY_E_CORRUPT && strstr(ferry_ctx_error(o.ctx), "byteorder"));
    close_opened(&o);
}

TEST(v3_and_parameters)
{
    buf b = {.n = 0};
    op(&b, 0x80);
    op(&b, 2);
    op(&b, '}');
    op(&b, '(');
    str(&b, "f8");
    tensor(&b, "UntypedStorage", "0", 4, 1, 1, (int64_t[]){3}, (int64_t[]){1}, "float8_e4m3fn");
    str(&b, "p");
    glob(&b, "torch._utils", "_rebuild_parameter");
    tensor(&b, "IntStorage", "1", 2, 0, 1, (int64_t[]){2}, (int64_t[]){1}, NULL);
    op(&b, 0x88);
    glob(&b, "collections", "OrderedDict");
    op(&b, ')');
    op(&b, 'R');
    op(&b, 0x87);
    op(&b, 'R');
    op(&b, 'u');
    op(&b, '.');
    static const uint8_t u4[4] = {9, 8, 7, 6};
    static const int32_t i2[2] = {-5, 7};
    rec r[2] = {{"archive/data/0", u4, 4}, {"archive/data/1", i2, 8}};
    opened o = open_archive(&b, r, 2);
    CHECK_MSG(o.rc == 0, "%s", ferry_ctx_error(o.ctx));
    if (o.rc == 0) {
        ferry_tensor_info ti = {.struct_size = sizeof ti};
        CHECK(ferry_model_tensor_info(o.m, 0, &ti) == 0 && ti.dtype == FERRY_DTYPE_F8_E4M3FN &&
              ti.nbytes == 3);
        uint8_t got[3];
        CHECK(ferry_tensor_read(o.m, 0, 0, got, 3) == 0 && memcmp(got, u4 + 1, 3) == 0);
        int32_t gi[2];
        CHECK(ferry_model_find_tensor(o.m, "p") == 1);
        CHECK(ferry_tensor_read(o.m, 1, 0, gi, 8) == 0 && gi[0] == -5 && gi[1] == 7);
    }
    close_opened(&o);
}

TEST(nested_checkpoint)
{
    buf b = {.n = 0};
    op(&b, 0x80);
    op(&b, 2);
    op(&b, '}');
    op(&b, '(');
    str(&b, "state_dict");
    glob(&b, "collections", "OrderedDict");
    op(&b, ')');
    op(&b, 'R');
    op(&b, '(');
    str(&b, "layer.weight");
    tensor(&b, "FloatStorage", "0", 6, 0, 2, (int64_t[]){2, 3}, (int64_t[]){3, 1}, NULL);
    op(&b, 'u');
    str(&b, "epoch");
    num(&b, 12);
    str(&b, "lrs");
    op(&b, '(');
    op(&b, 'G');
    put(&b, "\x3f\xb9\x99\x99\x99\x99\x99\x9a", 8);
    tensor(&b, "FloatStorage", "0", 6, 5, 0, NULL, NULL, NULL);
    op(&b, 'l');
    str(&b, "name");
    str(&b, "run");
    str(&b, "state_dict.layer"); /* a dict key that collides with a nested path */
    op(&b, '}');
    str(&b, "weight");
    tensor(&b, "FloatStorage", "0", 6, 0, 1, (int64_t[]){6}, (int64_t[]){1}, NULL);
    op(&b, 's');
    op(&b, 'u');
    op(&b, '.');
    rec r[2] = {{"archive/data/0", f6, sizeof f6}, {"archive/code/__torch__/m.py", "x", 1}};
    opened o = open_archive(&b, r, 2);
    CHECK_MSG(o.rc == 0, "%s", ferry_ctx_error(o.ctx));
    if (o.rc == 0) {
        CHECK(ferry_model_find_tensor(o.m, "state_dict.layer.weight") == 0);
        CHECK(ferry_model_find_tensor(o.m, "lrs.1") == 1);
        CHECK(ferry_model_find_tensor(o.m, "state_dict.layer.weight#2") == 2);
        const ferry_meta *md = ferry_model_metadata(o.m);
        CHECK(ferry_meta_int(ferry_meta_get(md, "epoch")) == 12);
        CHECK(strcmp(ferry_meta_string(ferry_meta_get(md, "name"), NULL), "run") == 0);
        const ferry_meta *lrs = ferry_meta_get(md, "lrs");
        CHECK(lrs && ferry_meta_count(lrs) == 2 && ferry_meta_float(ferry_meta_at(lrs, 0)) == 0.1);
        CHECK(lrs && strcmp(ferry_meta_string(ferry_meta_at(lrs, 1), NULL), "tensor:lrs.1") == 0);
        CHECK(ferry_meta_bool(ferry_meta_get(md, "pytorch.torchscript")) == 1);
        float v;
        CHECK(ferry_tensor_read(o.m, 1, 0, &v, 4) == 0 && v == 5);
    }
    close_opened(&o);
}

/* ============================================================================================
 * Rejections, one per rule
 * ========================================================================================== */

static opened one_tensor(const char *cls, int32_t numel, int32_t offset, int nd,
                         const int64_t *shape, const int64_t *stride, const void *data,
                         size_t n, const char *recname)
{
    buf b = {.n = 0};
    op(&b, 0x80);
    op(&b, 2);
    op(&b, '}');
    op(&b, '(');
    str(&b, "w");
    tensor(&b, cls, "0", numel, offset, nd, shape, stride, NULL);
    op(&b, 'u');
    op(&b, '.');
    rec r = {recname, data, n};
    return open_archive(&b, &r, 1);
}

TEST(rejections)
{
    opened o = one_tensor("FloatStorage", 6, 0, 1, (int64_t[]){6}, (int64_t[]){1}, f6, 24,
                          "archive/data/1");
    CHECK(o.rc == FERRY_E_CORRUPT && strstr(ferry_ctx_error(o.ctx), "no record"));
    close_opened(&o);
    /* the storage declares more elements than its record holds (SECURITY C13) */
    o = one_tensor("FloatStorage", 7, 0, 1, (int64_t[]){6}, (int64_t[]){1}, f6, 24,
                   "archive/data/0");
    CHECK(o.rc == FERRY_E_CORRUPT && strstr(ferry_ctx_error(o.ctx), "declares"));
    close_opened(&o);
    /* the view leaves its storage */
    o = one_tensor("FloatStorage", 6, 3, 1, (int64_t[]){4}, (int64_t[]){1}, f6, 24,
                   "archive/data/0");
    CHECK(o.rc == FERRY_E_CORRUPT && strstr(ferry_ctx_error(o.ctx), "leaves its storage"));
    close_opened(&o);
    o = one_tensor("FloatStorage", 6, 0, 2, (int64_t[]){2, 2}, (int64_t[]){5, 1}, f6, 24,
                   "archive/data/0");
    CHECK(o.rc == FERRY_E_CORRUPT);
    close_opened(&o);
    /* size x stride overflow */
    o = one_tensor("FloatStorage", 6, 0, 2, (int64_t[]){0x7fffffff, 2},
                   (int64_t[]){0x7fffffff, 0x7fffffff}, f6, 24, "archive/data/0");
    CHECK(o.rc == FERRY_E_CORRUPT);
    close_opened(&o);
    /* negative size: the arguments are not understood */
    o = one_tensor("FloatStorage", 6, 0, 1, (int64_t[]){-1}, (int64_t[]){1}, f6, 24,
                   "archive/data/0");
    CHECK(o.rc == FERRY_E_CORRUPT && strstr(ferry_ctx_error(o.ctx), "does not understand"));
    close_opened(&o);
    /* quantized storage: listed, not plain */
    o = one_tensor("QInt8Storage", 6, 0, 1, (int64_t[]){6}, (int64_t[]){1}, f6, 24,
                   "archive/data/0");
    CHECK(o.rc == 0);
    if (o.rc == 0) {
        ferry_tensor_info ti = {.struct_size = sizeof ti};
        CHECK(ferry_model_tensor_info(o.m, 0, &ti) == 0 && ti.status != FERRY_TENSOR_PLAIN);
    }
    close_opened(&o);
    /* a pickle error names the record and the offset */
    buf b = {.n = 0};
    op(&b, 0x80);
    op(&b, 2);
    op(&b, 'K');
    op(&b, 1);
    op(&b, 0xff);
    o = open_archive(&b, NULL, 0);
    CHECK(o.rc == FERRY_E_CORRUPT && strstr(ferry_ctx_error(o.ctx), "data.pkl") &&
          strstr(ferry_ctx_error(o.ctx), "offset 4"));
    close_opened(&o);
    /* a storage that is not a ('storage', ...) persistent id */
    b.n = 0;
    op(&b, 0x80);
    op(&b, 2);
    glob(&b, "torch._utils", "_rebuild_tensor_v2");
    op(&b, '(');
    str(&b, "pid");
    op(&b, 'Q');
    num(&b, 0);
    ituple(&b, 1, (int64_t[]){1});
    ituple(&b, 1, (int64_t[]){1});
    op(&b, 't');
    op(&b, 'R');
    op(&b, '.');
    o = open_archive(&b, NULL, 0);
    CHECK(o.rc == FERRY_E_CORRUPT && strstr(ferry_ctx_error(o.ctx), "persistent id"));
    close_opened(&o);
    /* no data.pkl */
    rec r = {"archive/other.pkl", "N.", 2};
    uint8_t *z = NULL;
    size_t zn = make_zip(&r, 1, &z);
    o = open_bytes(z, zn);
    CHECK(o.rc == FERRY_E_CORRUPT && strstr(ferry_ctx_error(o.ctx), "data.pkl"));
    close_opened(&o);
}

TEST(bombs_and_cycles)
{
    /* shared sub-trees doubling 60 times: refused by the visit budget, quickly */
    buf b = {.n = 0};
    op(&b, 0x80);
    op(&b, 2);
    op(&b, ']');
    for (int i = 0; i < 60; i++) {
        op(&b, '2');
        op(&b, 0x86);
    }
    op(&b, '.');
    opened o = open_archive(&b, NULL, 0);
    CHECK(o.rc == FERRY_E_LIMIT);
    close_opened(&o);
    /* a list that contains itself */
    b.n = 0;
    op(&b, 0x80);
    op(&b, 2);
    op(&b, ']');
    op(&b, 'q');
    op(&b, 0);
    op(&b, 'h');
    op(&b, 0);
    op(&b, 'a');
    op(&b, '.');
    o = open_archive(&b, NULL, 0);
    CHECK_MSG(o.rc == 0, "%s", ferry_ctx_error(o.ctx));
    close_opened(&o);
    /* nesting deeper than limits.metadata_depth */
    b.n = 0;
    op(&b, 0x80);
    op(&b, 2);
    for (int i = 0; i < 100; i++) op(&b, ']');
    for (int i = 0; i < 99; i++) op(&b, 'a');
    op(&b, '.');
    o = open_archive(&b, NULL, 0);
    CHECK(o.rc == FERRY_E_LIMIT && strstr(ferry_ctx_error(o.ctx), "deeper"));
    close_opened(&o);
}

TEST(truncated_archives)
{
    buf b = {.n = 0};
    op(&b, 0x80);
    op(&b, 2);
    op(&b, '}');
    op(&b, '(');
    str(&b, "w");
    tensor(&b, "FloatStorage", "0", 6, 0, 1, (int64_t[]){6}, (int64_t[]){1}, NULL);
    op(&b, 'u');
    op(&b, '.');
    rec r[2] = {{"archive/data.pkl", b.d, b.n}, {"archive/data/0", f6, sizeof f6}};
    uint8_t *z = NULL;
    size_t zn = make_zip(r, 2, &z);
    int ok = 0;
    for (size_t k = 0; k <= zn; k += (k < 64 || zn - k < 600) ? 1 : 37) {
        uint8_t *c = malloc(k ? k : 1);
        memcpy(c, z, k);
        opened o = open_bytes(c, k);
        if (o.rc == 0) {
            ok++;
            float v[6];
            CHECK(ferry_tensor_read(o.m, 0, 0, v, 24) == 0 && memcmp(v, f6, 24) == 0);
        }
        close_opened(&o);
    }
    CHECK(ok == 1);
    free(z);
}

/* ============================================================================================
 * Legacy format
 * ========================================================================================== */

TEST(legacy)
{
    buf b = {.n = 0};
    static const uint8_t magic[] = {0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46,
                                    0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, 0x2e};
    put(&b, magic, sizeof magic);
    put(&b, "\x80\x02M\xe9\x03.", 6);
    put(&b, "\x80\x02}(", 4);
    str(&b, "little_endian");
    op(&b, 0x88);
    put(&b, "u.", 2);
    op(&b, 0x80);
    op(&b, 2);
    op(&b, '}');
    op(&b, '(');
    str(&b, "a");
    tensor(&b, "FloatStorage", "k1", 6, 2, 1, (int64_t[]){2}, (int64_t[]){2}, NULL);
    str(&b, "b");
    tensor(&b, "ShortStorage", "k2", 2, 0, 1, (int64_t[]){2}, (int64_t[]){1}, NULL);
    op(&b, 'u');
    op(&b, '.');
    put(&b, "\x80\x02(", 3);
    str(&b, "k1");
    str(&b, "k2");
    put(&b, "l.", 2);
    uint8_t cnt[8];
    ferry__wr64le(cnt, 6);
    put(&b, cnt, 8);
    put(&b, f6, sizeof f6);
    ferry__wr64le(cnt, 2);
    put(&b, cnt, 8);
    put(&b, "\x07\x00\x09\x00", 4);
    uint8_t *copy = malloc(b.n);
    memcpy(copy, b.d, b.n);
    opened o = open_bytes(copy, b.n);
    CHECK_MSG(o.rc == 0, "%s", ferry_ctx_error(o.ctx));
    if (o.rc == 0) {
        float v[2];
        int16_t s[2];
        CHECK(ferry_tensor_read(o.m, 0, 0, v, 8) == 0 && v[0] == 2 && v[1] == 4);
        CHECK(ferry_tensor_read(o.m, 1, 0, s, 4) == 0 && s[0] == 7 && s[1] == 9);
        CHECK_EQ_STR(ferry_model_format_version(o.m), "1001");
    }
    close_opened(&o);
    /* the same with the last storage cut short */
    copy = malloc(b.n - 1);
    memcpy(copy, b.d, b.n - 1);
    o = open_bytes(copy, b.n - 1);
    CHECK(o.rc == FERRY_E_CORRUPT && strstr(ferry_ctx_error(o.ctx), "leave the file"));
    close_opened(&o);
}

/* ============================================================================================
 * Corpus
 * ========================================================================================== */

typedef struct expect {
    const char *rel;
    int64_t     tensors;      /* -1: do not check */
    const char *first;        /* first tensor name, or NULL */
} expect;

static void read_all(ferry_model *m, const char *what)
{
    for (int64_t i = 0; i < ferry_model_tensor_count(m); i++) {
        ferry_tensor_info ti = {.struct_size = sizeof ti};
        CHECK(ferry_model_tensor_info(m, i, &ti) == 0);
        if (ti.status != FERRY_TENSOR_PLAIN) continue;
        uint8_t *buf = malloc(ti.nbytes ? ti.nbytes : 1);
        CHECK_MSG(ferry_tensor_read(m, i, 0, buf, ti.nbytes) == 0, "%s: %s", what, ti.name);
        free(buf);
    }
}

TEST(corpus)
{
    static const expect files[] = {
        {"corpus/pytorch/huggingface+candle@2a13b0f3ff/candle-core/tests/test.pt", 1, "test"},
        {"corpus/pytorch/huggingface+candle@2a13b0f3ff/candle-core/tests/test_with_key.pt", 1,
         "model_state_dict.test"},
        {"corpus/pytorch/pytorch+serve@62c4d6a1fd/cpp/test/resources/examples/mnist/0_png.pt",
         1, "tensor"},
        {"corpus/pytorch/fastmachinelearning+example-models@ce390f9a80/pytorch/"
         "two_layer_model.pt", 4, "0.weight"},
        {"corpus/generated/torch_state_dict_zip.pt", -1, "conv.weight"},
        {"corpus/generated/torch_state_dict_legacy.pt", -1, "conv.weight"},
        {"corpus/generated/torch_full_module_PICKLE.pt", -1, "conv.weight"},
        {"corpus/generated/torch_dtypes_zip.pth", -1, "f16"},
        {"corpus/generated/torch_dtypes_legacy.pth", -1, "f16"},
        {"corpus/generated/torchscript_traced.pt", -1, "conv.weight"},
        {"corpus/generated/torchscript_scripted.pt", -1, "conv.weight"},
        {"corpus/generated/torchscript_lite.ptl", -1, "conv.weight"},
        {"corpus/torchscript/pytorch+android-demo-app@6861dc785f/HelloWorldApp/app/src/main/"
         "assets/mobile_model.pt", -1, NULL},
        {"corpus/torchscript/pytorch+android-demo-app@d347168e21/ViT4MNIST/app/src/main/"
         "assets/vit4mnist.ptl", -1, NULL},
    };
    for (size_t i = 0; i < FERRY_ARRAY_LEN(files); i++) {
        const char *path = t_shared(files[i].rel);
        if (!path) continue;
        ferry_ctx *ctx = ferry_ctx_new(NULL);
        ferry_model *m = NULL;
        const char *fmt = NULL;
        CHECK_MSG(ferry_detect(ctx, path, &fmt) == 0 && strcmp(fmt, "pytorch") == 0, "%s: %s",
                  files[i].rel, fmt ? fmt : ferry_ctx_error(ctx));
        int rc = ferry_open(ctx, path, NULL, &m);
        CHECK_MSG(rc == 0, "%s: %s", files[i].rel, ferry_ctx_error(ctx));
        if (rc == 0) {
            if (files[i].tensors >= 0)
                CHECK_MSG(ferry_model_tensor_count(m) == files[i].tensors, "%s: %lld tensors",
                          files[i].rel, (long long)ferry_model_tensor_count(m));
            if (files[i].first) {
                ferry_tensor_info ti = {.struct_size = sizeof ti};
                CHECK(ferry_model_tensor_count(m) > 0 &&
                      ferry_model_tensor_info(m, 0, &ti) == 0);
                CHECK_MSG(ferry_model_tensor_count(m) > 0 && strcmp(ti.name, files[i].first) == 0,
                          "%s: first tensor %s", files[i].rel,
                          ferry_model_tensor_count(m) > 0 ? ti.name : "-");
            }
            bool script = strstr(files[i].rel, "torchscript") != NULL;
            const ferry_meta *ts = ferry_meta_get(ferry_model_metadata(m), "pytorch.torchscript");
            if (strstr(files[i].rel, "legacy") == NULL &&
                strstr(files[i].rel, "two_layer") == NULL)
                CHECK_MSG(ts && ferry_meta_bool(ts) == script, "%s: torchscript mark",
                          files[i].rel);
            read_all(m, files[i].rel);
        }
        ferry_model_close(m);
        ferry_ctx_free(ctx);
    }
}

TEST(generated_values)
{
    /* torch_dtypes_zip.pth: 'view' is a slice of 'shared_a' whose storage is shared with
     * 'shared_b'; both archive generations must give the same bytes. */
    const char *p1 = t_shared("corpus/generated/torch_dtypes_zip.pth");
    if (!p1) return;
    char zip_path[4096];
    snprintf(zip_path, sizeof zip_path, "%s", p1);
    const char *p2 = t_shared("corpus/generated/torch_dtypes_legacy.pth");
    if (!p2) return;
    ferry_ctx *ctx = ferry_ctx_new(NULL);
    ferry_model *a = NULL, *b = NULL;
    CHECK(ferry_open(ctx, zip_path, NULL, &a) == 0);
    CHECK(ferry_open(ctx, p2, NULL, &b) == 0);
    if (a && b) {
        CHECK(ferry_model_tensor_count(a) == ferry_model_tensor_count(b));
        for (int64_t i = 0; i < ferry_model_tensor_count(a); i++) {
            ferry_tensor_info ta = {.struct_size = sizeof ta}, tb = {.struct_size = sizeof tb};
            CHECK(ferry_model_tensor_info(a, i, &ta) == 0);
            int64_t j = ferry_model_find_tensor(b, ta.name);
            CHECK_MSG(j >= 0, "%s missing in legacy", ta.name);
            if (j < 0) continue;
            CHECK(ferry_model_tensor_info(b, j, &tb) == 0 && ta.nbytes == tb.nbytes &&
                  ta.dtype == tb.dtype);
            if (ta.status != FERRY_TENSOR_PLAIN || ta.nbytes != tb.nbytes) continue;
            uint8_t *x = malloc(ta.nbytes + 1), *y = malloc(ta.nbytes + 1);
            CHECK(ferry_tensor_read(a, i, 0, x, ta.nbytes) == 0);
            CHECK(ferry_tensor_read(b, j, 0, y, tb.nbytes) == 0);
            CHECK_MSG(memcmp(x, y, ta.nbytes) == 0, "%s differs", ta.name);
            free(x);
            free(y);
        }
    }
    ferry_model_close(a);
    ferry_model_close(b);
    ferry_ctx_free(ctx);
}

int main(void)
{
    RUN(zero_copy_view);
    RUN(strided_views);
    RUN(big_endian);
    RUN(v3_and_parameters);
    RUN(nested_checkpoint);
    RUN(rejections);
    RUN(bombs_and_cycles);
    RUN(truncated_archives);
    RUN(legacy);
    RUN(corpus);
    RUN(generated_values);
    return t_finish("pytorch");
}
