/*
 * test_gguf.c -- the GGUF module (src/formats/gguf.c).
 *
 * A builder in this file writes GGUF files from a description (version, byte order, KVs,
 * tensors, alignment) and records where every field landed, so that the tests can
 *   - read back positive vectors: v1 / v2 / v3, little- and big-endian, every KV type,
 *     every plain type and the block types whose big-endian layout is defined;
 *   - run the corruption matrix (like ggml's tests/test-gguf.cpp): for every rejection rule
 *     of FORMATS.md A1.4 one mutated file that must fail with the right status and a message
 *     naming the file and the byte offset (or field), next to the boundary input that must
 *     be accepted; every truncation of a valid file; the limits of the context;
 *   - round-trip: a canonical file read and written back is byte-identical, and a v1, v2 or
 *     big-endian file is written back as exactly the canonical v3 little-endian file;
 *   - write models built in memory (type mapping, flattening, skipped values, alignment,
 *     quantization_version, the writer's refusals);
 *   - open split sets from any shard, and refuse inconsistent ones;
 *   - open a 150k-token vocabulary quickly; survive a failing allocator without leaks;
 *   - conform on the shared corpus (gguf-py files written back byte for byte).
 */
#include "internal.h"
#include "t.h"

#include <time.h>
#include <unistd.h>

static ferry_ctx *g_ctx;

/* ============================================================================================
 * The builder
 * ========================================================================================== */

enum { U8 = 0, I8, U16, I16, U32, I32, F32, BOOL_, STR, ARR, U64, I64, F64 };
static const int vsize[13] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};

typedef struct gb {
    uint8_t *p;
    size_t   n;
    size_t   cap;
    bool     be;
    bool     v1;
} gb;

static void gb_raw(gb *b, const void *d, size_t n)
{
    if (b->n + n > b->cap) {
        size_t c = b->cap ? b->cap : 256;
        while (c < b->n + n) c *= 2;
        b->p   = realloc(b->p, c);
        b->cap = c;
    }
    if (n) memcpy(b->p + b->n, d, n);
    b->n += n;
}

static void gb_uint(gb *b, uint64_t v, int w)
{
    uint8_t t[8];
    for (int i = 0; i < w; i++) t[b->be ? w - 1 - i : i] = (uint8_t)(v >> (8 * i));
    gb_raw(b, t, (size_t)w);
}

static void gb_len(gb *b, uint64_t v) { gb_uint(b, v, b->v1 ? 4 : 8); }

static void gb_strn(gb *b, const char *s, size_t n)
{
    gb_len(b, n);
    gb_raw(b, s, n);
}

static void gb_pad(gb *b, size_t align)
{
    static const uint8_t z[4096];
    while (b->n % align) gb_raw(b, z, align - b->n % align > sizeof z ? sizeof z
                                                                      : align - b->n % align);
}

typedef struct kvspec {
    const char         *key;
    uint32_t            type;
    uint64_t            u;      /* integer / bool bits */
    double              f;
    const char         *s;
    uint32_t            elem;   /* ARRAY */
    uint32_t            count;
    const uint64_t     *iv;
    const double       *fv;
    const char *const  *sv;
} kvspec;

typedef struct tspec {
    const char *name;
    uint32_t    ndims;
    int64_t     ne[5];          /* ggml order: ne[0] is the row */
    uint32_t    type;           /* ggml type id */
    uint64_t    unknown_bytes;  /* data bytes for ids the test does not size */
} tspec;

typedef struct fspec {
    uint32_t      version;
    bool          be;
    const kvspec *kv;
    int           n_kv;
    const tspec  *t;
    int           nt;
    uint32_t      align;        /* layout alignment; 0 = 32 */
    bool          no_final_pad;
} fspec;

#define MAXK 40
#define MAXT 16

typedef struct layout {
    size_t   version, n_tensors, n_kv;
    size_t   kv_key[MAXK], kv_type[MAXK], kv_val[MAXK];
    size_t   t_name[MAXT], t_ndims[MAXT], t_dims[MAXT], t_type[MAXT], t_off[MAXT];
    uint64_t rel[MAXT], nbytes[MAXT];
    size_t   end_infos, data_start, size;
} layout;

static void gb_value(gb *b, uint32_t t, uint64_t u, double f, const char *s)
{
    if (t == STR) {
        gb_strn(b, s ? s : "", s ? strlen(s) : 0);
    } else if (t == F32) {
        float x = (float)f;
        uint32_t v;
        memcpy(&v, &x, 4);
        gb_uint(b, v, 4);
    } else if (t == F64) {
        uint64_t v;
        memcpy(&v, &f, 8);
        gb_uint(b, v, 8);
    } else {
        gb_uint(b, u, t < 13 && vsize[t] ? vsize[t] : 4);
    }
}

/* Bytes of a tensor of ggml type id with nel elements (unknown ids: spec'd). */
static uint64_t type_bytes(const tspec *t, uint64_t nel)
{
    static const struct {
        uint32_t id, size;
    } plain[] = {{0, 4}, {1, 2}, {24, 1}, {25, 2}, {26, 4}, {27, 8}, {28, 8}, {30, 2}};
    for (size_t i = 0; i < FERRY_ARRAY_LEN(plain); i++)
        if (plain[i].id == t->type) return nel * plain[i].size;
    if (t->type < 64) {
        uint32_t bs = ferry_dtype_block_size(FERRY_DTYPE_GGML(t->type));
        uint32_t bb = ferry_dtype_block_bytes(FERRY_DTYPE_GGML(t->type));
        if (bs && bb) return nel / bs * bb;
    }
    return t->unknown_bytes;
}

/* The width of the byte-swapped units of ggml type id in a big-endian file: elements of plain
 * types; for blocks, the u16 fields swapped per block (gguf_convert_endian.py). */
static void be_swap(uint32_t id, uint8_t *p, uint64_t n)
{
    static const struct {
        uint32_t id, w;
    } plain[] = {{0, 4}, {1, 2}, {25, 2}, {26, 4}, {27, 8}, {28, 8}, {30, 2}};
    for (size_t i = 0; i < FERRY_ARRAY_LEN(plain); i++)
        if (plain[i].id == id) {
            ferry__byteswap(p, plain[i].w, n / plain[i].w);
            return;
        }
    static const struct {
        uint32_t id, bb, n, at[2];
    } blk[] = {{2, 18, 1, {0, 0}},
               {8, 34, 1, {0, 0}},
               {12, 144, 2, {0, 2}},
               {14, 210, 1, {208, 0}}};
    for (size_t i = 0; i < FERRY_ARRAY_LEN(blk); i++)
        if (blk[i].id == id)
            for (uint64_t o = 0; o + blk[i].bb <= n; o += blk[i].bb)
                for (uint32_t f = 0; f < blk[i].n; f++) ferry__byteswap(p + o + blk[i].at[f], 2, 1);
}

/* The neutral bytes of tensor i (a deterministic pattern). */
static uint8_t pattern(int i, uint64_t j) { return (uint8_t)(j * 31u + (uint64_t)i * 17u + 1u); }

static uint8_t *build(const fspec *f, size_t *len, layout *L)
{
    layout tmp;
    if (!L) L = &tmp;
    memset(L, 0, sizeof *L);
    gb b = {.be = f->be, .v1 = f->version == 1};
    uint32_t align = f->align ? f->align : 32;
    gb_raw(&b, "GGUF", 4);
    L->version = b.n;
    gb_uint(&b, f->version, 4);
    L->n_tensors = b.n;
    gb_len(&b, (uint64_t)f->nt);
    L->n_kv = b.n;
    gb_len(&b, (uint64_t)f->n_kv);
    for (int i = 0; i < f->n_kv; i++) {
        const kvspec *k = &f->kv[i];
        L->kv_key[i] = b.n;
        gb_strn(&b, k->key, strlen(k->key));
        L->kv_type[i] = b.n;
        gb_uint(&b, k->type, 4);
        L->kv_val[i] = b.n;
        if (k->type == ARR) {
            gb_uint(&b, k->elem, 4);
            gb_len(&b, k->count);
            for (uint32_t j = 0; j < k->count; j++)
                gb_value(&b, k->elem, k->iv ? k->iv[j] : 0, k->fv ? k->fv[j] : 0,
                         k->sv ? k->sv[j] : "");
        } else {
            gb_value(&b, k->type, k->u, k->f, k->s);
        }
    }
    uint64_t off = 0;
    for (int i = 0; i < f->nt; i++) {
        const tspec *t = &f->t[i];
        uint64_t nel = 1;
        for (uint32_t j = 0; j < t->ndims; j++) nel *= (uint64_t)t->ne[j];
        L->nbytes[i] = type_bytes(t, nel);
        L->rel[i]    = off;
        off += (L->nbytes[i] + align - 1) / align * align;
        L->t_name[i] = b.n;
        gb_strn(&b, t->name, strlen(t->name));
        L->t_ndims[i] = b.n;
        gb_uint(&b, t->ndims, 4);
        L->t_dims[i] = b.n;
        for (uint32_t j = 0; j < t->ndims; j++) gb_uint(&b, (uint64_t)t->ne[j], b.v1 ? 4 : 8);
        L->t_type[i] = b.n;
        gb_uint(&b, t->type, 4);
        L->t_off[i] = b.n;
        gb_uint(&b, L->rel[i], 8);
    }
    L->end_infos = b.n;
    gb_pad(&b, align);
    L->data_start = b.n;
    for (int i = 0; i < f->nt; i++) {
        uint8_t *d = malloc(L->nbytes[i] ? L->nbytes[i] : 1);
        for (uint64_t j = 0; j < L->nbytes[i]; j++) d[j] = pattern(i, j);
        if (f->be) be_swap(f->t[i].type, d, L->nbytes[i]);
        gb_raw(&b, d, L->nbytes[i]);
        free(d);
        if (i + 1 < f->nt || !f->no_final_pad) gb_pad(&b, align);
    }
    L->size = b.n;
    *len    = b.n;
    return b.p;
}

static void patch(uint8_t *p, size_t at, uint64_t v, int w, bool be)
{
    for (int i = 0; i < w; i++) p[at + (size_t)(be ? w - 1 - i : i)] = (uint8_t)(v >> (8 * i));
}

/* ---- the default file --------------------------------------------------------------------- */

static const uint64_t arr_i32[] = {1, 2, (uint64_t)-3};
static const char *const arr_str[] = {"a", "bc"};

static const kvspec def_kv[] = {
    {.key = "general.architecture", .type = STR, .s = "llama"},
    {.key = "test.u32", .type = U32, .u = 7},
    {.key = "test.arr", .type = ARR, .elem = I32, .count = 3, .iv = arr_i32},
    {.key = "test.strs", .type = ARR, .elem = STR, .count = 2, .sv = arr_str},
};

static const tspec def_t[] = {
    {.name = "t.f32", .ndims = 2, .ne = {4, 2}, .type = 0},
    {.name = "t.q8", .ndims = 2, .ne = {32, 2}, .type = 8},
    {.name = "t.f16", .ndims = 1, .ne = {3}, .type = 1},
};

static fspec def_spec(void)
{
    fspec f = {.version = 3, .kv = def_kv, .n_kv = 4, .t = def_t, .nt = 3};
    return f;
}

/* ============================================================================================
 * Helpers
 * ========================================================================================== */

static int open_mem(const uint8_t *p, size_t n, const char *format, ferry_model **m)
{
    ferry_source *src;
    *m = NULL;
    int rc = ferry_source_from_memory(g_ctx, p, n, "mem.gguf", &src);
    if (rc) return rc;
    rc = ferry_open_source(g_ctx, src, format, m);
    ferry_source_close(src);
    return rc;
}

/* Expects the bytes to be rejected with `code` and a message "mem.gguf: offset <off>: ...",
 * (or "mem.gguf: <field>: ..." when field is set) containing `sub`. */
static void reject_at(const char *label, const uint8_t *p, size_t n, int code, long long off,
                      const char *field, const char *sub)
{
    ferry_model *m = NULL;
    int rc = open_mem(p, n, "gguf", &m);
    const char *e = ferry_ctx_error(g_ctx);
    char want[256];
    if (field)
        snprintf(want, sizeof want, "mem.gguf: %s: ", field);
    else if (off < 0)
        snprintf(want, sizeof want, "mem.gguf: offset ");
    else
        snprintf(want, sizeof want, "mem.gguf: offset %lld: ", off);
    CHECK_MSG(rc == code, "%s: status %d (%s), expected %d", label, rc, e, code);
    CHECK_MSG(m == NULL, "%s: model returned on failure", label);
    CHECK_MSG(strncmp(e, want, strlen(want)) == 0, "%s: message \"%s\" does not start \"%s\"",
              label, e, want);
    CHECK_MSG(strstr(e, sub) != NULL, "%s: message \"%s\" lacks \"%s\"", label, e, sub);
    CHECK_MSG(strchr(e, '\n') == NULL, "%s: multi-line message", label);
    ferry_model_close(m);
}

static ferry_model *accept(const char *label, const uint8_t *p, size_t n)
{
    ferry_model *m = NULL;
    int rc = open_mem(p, n, "gguf", &m);
    CHECK_MSG(rc == 0, "%s: %s", label, ferry_ctx_error(g_ctx));
    return m;
}

static void accept_close(const char *label, const uint8_t *p, size_t n)
{
    ferry_model_close(accept(label, p, n));
}

static uint8_t *write_mem(ferry_model *m, uint32_t align, size_t *n, int *rc)
{
    ferry_sink *s;
    ferry_write_options o = {.struct_size = sizeof o, .format = "gguf", .alignment = align};
    *n  = 0;
    *rc = ferry_sink_open_memory(g_ctx, &s);
    if (*rc) return NULL;
    *rc = ferry_write_sink(m, s, &o);
    uint8_t *out = NULL;
    if (*rc == 0) {
        const void *p = ferry_sink_memory(s, n);
        out = malloc(*n ? *n : 1);
        memcpy(out, p, *n);
    }
    ferry_sink_abort(s);
    return out;
}

/* Deep equality of two metadata nodes (kind, numtype, value; keys of maps). */
static bool meta_eq(const ferry_meta *a, const ferry_meta *b)
{
    if (ferry_meta_kind_of(a) != ferry_meta_kind_of(b)) return false;
    if (ferry_meta_numtype(a) != ferry_meta_numtype(b)) return false;
    switch (ferry_meta_kind_of(a)) {
    case FERRY_META_BOOL:
    case FERRY_META_INT:
    case FERRY_META_UINT: return ferry_meta_int(a) == ferry_meta_int(b);
    case FERRY_META_FLOAT: return memcmp(&a->v.f, &b->v.f, sizeof(double)) == 0;
    case FERRY_META_STRING:
    case FERRY_META_BYTES: {
        size_t na;
        size_t nb;
        const char *sa = ferry_meta_string(a, &na);
        const char *sb = ferry_meta_string(b, &nb);
        return na == nb && memcmp(sa, sb, na) == 0;
    }
    case FERRY_META_ARRAY:
    case FERRY_META_MAP:
        if (ferry_meta_count(a) != ferry_meta_count(b)) return false;
        for (int64_t i = 0; i < ferry_meta_count(a); i++) {
            const char *ka = ferry_meta_key_at(a, i);
            const char *kb = ferry_meta_key_at(b, i);
            if ((ka || kb) && (!ka || !kb || strcmp(ka, kb) != 0)) return false;
            if (!meta_eq(ferry_meta_at(a, i), ferry_meta_at(b, i))) return false;
        }
        return true;
    default: return true;
    }
}

/* Same tensors (names, dtypes, shapes, status, bytes) and same metadata. */
static void check_same_model(const char *label, ferry_model *a, ferry_model *b)
{
    CHECK_MSG(meta_eq(ferry_model_metadata(a), ferry_model_metadata(b)), "%s: metadata differ",
              label);
    CHECK_EQ_INT(ferry_model_tensor_count(a), ferry_model_tensor_count(b));
    if (ferry_model_tensor_count(a) != ferry_model_tensor_count(b)) return;
    for (int64_t i = 0; i < ferry_model_tensor_count(a); i++) {
        ferry_tensor_info x = {.struct_size = sizeof x};
        ferry_tensor_info y = {.struct_size = sizeof y};
        ferry_model_tensor_info(a, i, &x);
        ferry_model_tensor_info(b, i, &y);
        CHECK_MSG(strcmp(x.name, y.name) == 0 && x.dtype == y.dtype && x.ndim == y.ndim &&
                      x.nbytes == y.nbytes && x.status == y.status,
                  "%s: tensor %lld: %s/%s", label, (long long)i, x.name, y.name);
        if (x.ndim == y.ndim)
            CHECK_MSG(memcmp(x.shape, y.shape, sizeof(int64_t) * (size_t)x.ndim) == 0,
                      "%s: %s: shapes differ", label, x.name);
        if (x.status != FERRY_TENSOR_PLAIN || x.nbytes != y.nbytes) continue;
        uint8_t *da = malloc(x.nbytes + 1);
        uint8_t *db = malloc(y.nbytes + 1);
        CHECK(ferry_tensor_read(a, i, 0, da, (size_t)x.nbytes) == 0);
        CHECK(ferry_tensor_read(b, i, 0, db, (size_t)y.nbytes) == 0);
        CHECK_MSG(memcmp(da, db, (size_t)x.nbytes) == 0, "%s: %s: bytes differ", label, x.name);
        free(da);
        free(db);
    }
}

/* The tensor's bytes equal the builder's pattern for tensor index k. */
static bool data_is_pattern(ferry_model *m, int64_t i, int k)
{
    ferry_tensor_info ti = {.struct_size = sizeof ti};
    ferry_model_tensor_info(m, i, &ti);
    uint8_t *d = malloc(ti.nbytes + 1);
    bool ok = ferry_tensor_read(m, i, 0, d, (size_t)ti.nbytes) == 0;
    for (uint64_t j = 0; ok && j < ti.nbytes; j++) ok = d[j] == pattern(k, j);
    free(d);
    return ok;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* ============================================================================================
 * Positive vectors
 * ========================================================================================== */

TEST(reads_default_file)
{
    fspec f = def_spec();
    size_t n;
    layout L;
    uint8_t *p = build(&f, &n, &L);
    ferry_model *m = NULL;
    CHECK_EQ_INT(open_mem(p, n, NULL, &m), 0); /* detected by content */
    if (!m) {
        free(p);
        return;
    }
    CHECK_EQ_STR(ferry_model_format(m), "gguf");
    CHECK_EQ_STR(ferry_model_format_version(m), "3");
    const ferry_meta *md = ferry_model_metadata(m);
    CHECK_EQ_INT(ferry_meta_count(md), 4);
    CHECK_EQ_STR(ferry_meta_key_at(md, 0), "general.architecture");
    CHECK_EQ_STR(ferry_meta_string(ferry_meta_get(md, "general.architecture"), NULL), "llama");
    const ferry_meta *u = ferry_meta_get(md, "test.u32");
    CHECK(ferry_meta_kind_of(u) == FERRY_META_UINT && ferry_meta_numtype(u) == FERRY_DTYPE_U32);
    CHECK_EQ_INT(ferry_meta_uint(u), 7);
    const ferry_meta *a = ferry_meta_get(md, "test.arr");
    CHECK(ferry_meta_kind_of(a) == FERRY_META_ARRAY && ferry_meta_numtype(a) == FERRY_DTYPE_I32);
    CHECK_EQ_INT(ferry_meta_count(a), 3);
    CHECK_EQ_INT(ferry_meta_int(ferry_meta_at(a, 2)), -3);
    CHECK(ferry_meta_numtype(ferry_meta_at(a, 2)) == FERRY_DTYPE_I32);
    const ferry_meta *s = ferry_meta_get(md, "test.strs");
    CHECK(ferry_meta_numtype(s) == FERRY_DTYPE_STRING && ferry_meta_count(s) == 2);
    CHECK_EQ_STR(ferry_meta_string(ferry_meta_at(s, 1), NULL), "bc");

    CHECK_EQ_INT(ferry_model_tensor_count(m), 3);
    static const struct {
        const char *name;
        ferry_dtype dt;
        int32_t ndim;
        int64_t shape[2];
    } want[] = {{"t.f32", FERRY_DTYPE_F32, 2, {2, 4}},
                {"t.q8", FERRY_DTYPE_Q8_0, 2, {2, 32}},
                {"t.f16", FERRY_DTYPE_F16, 1, {3, 0}}};
    for (int i = 0; i < 3; i++) {
        ferry_tensor_info ti = {.struct_size = sizeof ti};
        CHECK_EQ_INT(ferry_model_tensor_info(m, i, &ti), 0);
        CHECK_EQ_STR(ti.name, want[i].name);
        CHECK(ti.dtype == want[i].dt);
        CHECK_EQ_INT(ti.ndim, want[i].ndim);
        CHECK(memcmp(ti.shape, want[i].shape, sizeof(int64_t) * (size_t)ti.ndim) == 0);
        CHECK_EQ_INT(ti.nbytes, L.nbytes[i]);
        CHECK_EQ_INT(ti.file_offset, (long long)(L.data_start + L.rel[i]));
        CHECK(ti.status == FERRY_TENSOR_PLAIN && (ti.flags & FERRY_TENSOR_ZERO_COPY));
        const void *zc = NULL;
        CHECK_EQ_INT(ferry_tensor_data(m, i, &zc), 0);
        CHECK(zc == p + L.data_start + L.rel[i]);
        CHECK(data_is_pattern(m, i, i));
    }
    CHECK(ferry_model_find_tensor(m, "t.q8") == 1);
    ferry_model_close(m);
    free(p);
}

/* One KV of every type, and arrays of every element type (including empty ones). */
static const uint64_t iv5[] = {0, 1, 0x7F, 0x80, 0xFF};
static const double fv3[] = {0.5, -2.25, 1e300};
static const char *const sv3[] = {"", "x", "hello world"};

static const kvspec all_kv[] = {
    {.key = "k.u8", .type = U8, .u = 200},
    {.key = "k.i8", .type = I8, .u = 0x80},
    {.key = "k.u16", .type = U16, .u = 65535},
    {.key = "k.i16", .type = I16, .u = 0x8000},
    {.key = "k.u32", .type = U32, .u = 4000000000u},
    {.key = "k.i32", .type = I32, .u = 0xFFFFFFFFu},
    {.key = "k.f32", .type = F32, .f = 0.1},
    {.key = "k.bool", .type = BOOL_, .u = 1},
    {.key = "k.str", .type = STR, .s = "caf\xc3\xa9"},
    {.key = "k.u64", .type = U64, .u = 0xFFFFFFFFFFFFFFFFull},
    {.key = "k.i64", .type = I64, .u = 0x8000000000000000ull},
    {.key = "k.f64", .type = F64, .f = -1e-300},
    {.key = "a.u8", .type = ARR, .elem = U8, .count = 5, .iv = iv5},
    {.key = "a.i8", .type = ARR, .elem = I8, .count = 5, .iv = iv5},
    {.key = "a.u16", .type = ARR, .elem = U16, .count = 5, .iv = iv5},
    {.key = "a.i16", .type = ARR, .elem = I16, .count = 5, .iv = iv5},
    {.key = "a.u32", .type = ARR, .elem = U32, .count = 5, .iv = iv5},
    {.key = "a.i32", .type = ARR, .elem = I32, .count = 5, .iv = iv5},
    {.key = "a.f32", .type = ARR, .elem = F32, .count = 3, .fv = fv3},
    {.key = "a.bool", .type = ARR, .elem = BOOL_, .count = 2, .iv = iv5},
    {.key = "a.str", .type = ARR, .elem = STR, .count = 3, .sv = sv3},
    {.key = "a.u64", .type = ARR, .elem = U64, .count = 5, .iv = iv5},
    {.key = "a.i64", .type = ARR, .elem = I64, .count = 5, .iv = iv5},
    {.key = "a.f64", .type = ARR, .elem = F64, .count = 3, .fv = fv3},
    {.key = "a.empty_f32", .type = ARR, .elem = F32, .count = 0},
    {.key = "a.empty_str", .type = ARR, .elem = STR, .count = 0},
};

TEST(reads_every_kv_type)
{
    fspec f = def_spec();
    f.kv   = all_kv;
    f.n_kv = (int)FERRY_ARRAY_LEN(all_kv);
    size_t n;
    uint8_t *p = build(&f, &n, NULL);
    ferry_model *m = accept("all kv", p, n);
    if (m) {
        const ferry_meta *md = ferry_model_metadata(m);
        CHECK_EQ_INT(ferry_meta_count(md), (long long)FERRY_ARRAY_LEN(all_kv));
        static const ferry_dtype nt[] = {
            FERRY_DTYPE_U8,  FERRY_DTYPE_I8,  FERRY_DTYPE_U16, FERRY_DTYPE_I16,
            FERRY_DTYPE_U32, FERRY_DTYPE_I32, FERRY_DTYPE_F32, FERRY_DTYPE_BOOL,
            FERRY_DTYPE_STRING, FERRY_DTYPE_U64, FERRY_DTYPE_I64, FERRY_DTYPE_F64};
        for (int i = 0; i < 12; i++) {
            CHECK_EQ_STR(ferry_meta_key_at(md, i), all_kv[i].key);
            CHECK_MSG(ferry_meta_numtype(ferry_meta_at(md, i)) == nt[i], "%s", all_kv[i].key);
            const ferry_meta *arr = ferry_meta_at(md, 12 + i);
            CHECK_MSG(ferry_meta_numtype(arr) == nt[i] &&
                              ferry_meta_kind_of(arr) == FERRY_META_ARRAY,
                      "%s", all_kv[12 + i].key);
        }
        CHECK_EQ_INT(ferry_meta_uint(ferry_meta_get(md, "k.u8")), 200);
        CHECK_EQ_INT(ferry_meta_int(ferry_meta_get(md, "k.i8")), -128);
        CHECK_EQ_INT(ferry_meta_int(ferry_meta_get(md, "k.i16")), -32768);
        CHECK_EQ_INT(ferry_meta_uint(ferry_meta_get(md, "k.u32")), 4000000000u);
        CHECK_EQ_INT(ferry_meta_int(ferry_meta_get(md, "k.i32")), -1);
        CHECK(ferry_meta_float(ferry_meta_get(md, "k.f32")) == (double)0.1f);
        CHECK(ferry_meta_bool(ferry_meta_get(md, "k.bool")));
        CHECK_EQ_STR(ferry_meta_string(ferry_meta_get(md, "k.str"), NULL), "caf\xc3\xa9");
        CHECK(ferry_meta_uint(ferry_meta_get(md, "k.u64")) == UINT64_MAX);
        CHECK(ferry_meta_int(ferry_meta_get(md, "k.i64")) == INT64_MIN);
        CHECK(ferry_meta_float(ferry_meta_get(md, "k.f64")) == -1e-300);
        const ferry_meta *ai8 = ferry_meta_get(md, "a.i8");
        CHECK_EQ_INT(ferry_meta_int(ferry_meta_at(ai8, 3)), -128);
        const ferry_meta *as = ferry_meta_get(md, "a.str");
        CHECK_EQ_STR(ferry_meta_string(ferry_meta_at(as, 2), NULL), "hello world");
        CHECK_EQ_STR(ferry_meta_string(ferry_meta_at(as, 0), NULL), "");
        const ferry_meta *e = ferry_meta_get(md, "a.empty_f32");
        CHECK(ferry_meta_count(e) == 0 && ferry_meta_numtype(e) == FERRY_DTYPE_F32);
        CHECK(ferry_meta_numtype(ferry_meta_get(md, "a.empty_str")) == FERRY_DTYPE_STRING);
        CHECK(ferry_meta_float(ferry_meta_at(ferry_meta_get(md, "a.f64"), 2)) == 1e300);
        ferry_model_close(m);
    }
    free(p);
}

/* Every plain ggml type and the block types with a defined big-endian layout. */
static const tspec many_t[] = {
    {.name = "f32", .ndims = 2, .ne = {3, 2}, .type = 0},
    {.name = "f16", .ndims = 1, .ne = {5}, .type = 1},
    {.name = "i8", .ndims = 1, .ne = {7}, .type = 24},
    {.name = "i16", .ndims = 1, .ne = {3}, .type = 25},
    {.name = "i32", .ndims = 3, .ne = {2, 1, 2}, .type = 26},
    {.name = "i64", .ndims = 1, .ne = {3}, .type = 27},
    {.name = "f64", .ndims = 1, .ne = {2}, .type = 28},
    {.name = "bf16", .ndims = 4, .ne = {2, 1, 1, 3}, .type = 30},
    {.name = "q4_0", .ndims = 2, .ne = {64, 2}, .type = 2},
    {.name = "q8_0", .ndims = 1, .ne = {32}, .type = 8},
    {.name = "q4_k", .ndims = 1, .ne = {512}, .type = 12},
    {.name = "q6_k", .ndims = 2, .ne = {256, 2}, .type = 14},
    {.name = "mxfp4", .ndims = 1, .ne = {64}, .type = 39},
    {.name = "scalar", .ndims = 0, .ne = {0}, .type = 0},
};

TEST(reads_versions_and_byte_orders)
{
    fspec f = def_spec();
    f.kv   = all_kv;
    f.n_kv = (int)FERRY_ARRAY_LEN(all_kv);
    f.t    = many_t;
    f.nt   = (int)FERRY_ARRAY_LEN(many_t);
    size_t n0;
    uint8_t *p0 = build(&f, &n0, NULL);
    ferry_model *ref = accept("v3 le", p0, n0);
    if (!ref) {
        free(p0);
        return;
    }
    for (int k = 0; k < (int)FERRY_ARRAY_LEN(many_t); k++)
        CHECK_MSG(data_is_pattern(ref, k, k), "tensor %s", many_t[k].name);
    ferry_tensor_info ti = {.struct_size = sizeof ti};
    ferry_model_tensor_info(ref, 13, &ti);
    CHECK(ti.ndim == 0 && ti.nelems == 1 && ti.nbytes == 4);
    ferry_model_tensor_info(ref, 7, &ti);
    CHECK(ti.ndim == 4 && ti.shape[0] == 3 && ti.shape[3] == 2 && ti.dtype == FERRY_DTYPE_BF16);
    for (uint32_t v = 1; v <= 3; v++)
        for (int be = 0; be <= 1; be++) {
            char label[32];
            snprintf(label, sizeof label, "v%u %s", v, be ? "be" : "le");
            fspec g = f;
            g.version = v;
            g.be      = be;
            size_t n;
            uint8_t *p = build(&g, &n, NULL);
            ferry_model *m = accept(label, p, n);
            if (m) {
                char vs[4];
                snprintf(vs, sizeof vs, "%u", v);
                CHECK_EQ_STR(ferry_model_format_version(m), vs);
                check_same_model(label, ref, m);
                for (int64_t i = 0; i < ferry_model_tensor_count(m); i++) {
                    ferry_model_tensor_info(m, i, &ti);
                    bool swapped = be && ti.dtype != FERRY_DTYPE_I8 && i != 12;
                    CHECK_MSG(((ti.flags & FERRY_TENSOR_CONVERTED) != 0) == swapped &&
                                  ((ti.flags & FERRY_TENSOR_ZERO_COPY) != 0) == !swapped,
                              "%s: %s flags %u", label, ti.name, ti.flags);
                }
                /* Reads at every offset and length within a swapped tensor (partial units). */
                if (be) {
                    uint8_t full[512];
                    uint8_t part[512];
                    for (int64_t i = 8; i <= 10; i++) {
                        ferry_model_tensor_info(m, i, &ti);
                        CHECK(ferry_tensor_read(m, i, 0, full, (size_t)ti.nbytes) == 0);
                        for (uint64_t o = 0; o < ti.nbytes && o < 80; o++)
                            for (uint64_t l = 1; o + l <= ti.nbytes && l < 80; l += 7) {
                                CHECK(ferry_tensor_read(m, i, o, part, (size_t)l) == 0);
                                CHECK(memcmp(part, full + o, (size_t)l) == 0);
                            }
                    }
                }
                ferry_model_close(m);
            }
            free(p);
        }
    ferry_model_close(ref);
    free(p0);
}

TEST(big_endian_block_without_layout_is_listed)
{
    static const tspec t[] = {{.name = "q5_1", .ndims = 1, .ne = {32}, .type = 7},
                              {.name = "f32", .ndims = 1, .ne = {2}, .type = 0}};
    fspec f = def_spec();
    f.t  = t;
    f.nt = 2;
    f.be = true;
    size_t n;
    uint8_t *p = build(&f, &n, NULL);
    ferry_model *m = accept("be q5_1", p, n);
    if (m) {
        ferry_tensor_info ti = {.struct_size = sizeof ti};
        ferry_model_tensor_info(m, 0, &ti);
        CHECK(ti.status == FERRY_TENSOR_NOT_PLAIN && ti.dtype == FERRY_DTYPE_Q5_1);
        CHECK_EQ_STR(ti.native_dtype, "Q5_1 (big-endian)");
        uint8_t b[24];
        CHECK_EQ_INT(ferry_tensor_read(m, 0, 0, b, sizeof b), FERRY_E_NOTPLAIN);
        CHECK(strstr(ferry_ctx_error(g_ctx), "big-endian") != NULL);
        CHECK(data_is_pattern(m, 1, 1));
        ferry_model_close(m);
    }
    free(p);
}

TEST(unknown_type_ids_are_listed)
{
    /* An unknown id in the middle (its size taken as the gap to the next offset) and last. */
    static const tspec t[] = {{.name = "a", .ndims = 1, .ne = {8}, .type = 0},
                              {.name = "new", .ndims = 2, .ne = {5, 3}, .type = 1000,
                               .unknown_bytes = 40},
                              {.name = "b", .ndims = 1, .ne = {4}, .type = 1},
                              {.name = "last", .ndims = 1, .ne = {7}, .type = 43,
                               .unknown_bytes = 9}};
    fspec f = def_spec();
    f.t  = t;
    f.nt = 4;
    size_t n;
    layout L;
    uint8_t *p = build(&f, &n, &L);
    ferry_model *m = accept("unknown ids", p, n);
    if (m) {
        ferry_tensor_info ti = {.struct_size = sizeof ti};
        ferry_model_tensor_info(m, 1, &ti);
        CHECK(ti.status == FERRY_TENSOR_UNKNOWN_DTYPE && ti.dtype == FERRY_DTYPE_UNKNOWN);
        CHECK_EQ_STR(ti.native_dtype, "GGML_TYPE_1000");
        CHECK(ti.ndim == 2 && ti.shape[0] == 3 && ti.shape[1] == 5);
        CHECK_EQ_INT(ti.file_offset, (long long)(L.data_start + L.rel[1]));
        ferry_model_tensor_info(m, 3, &ti);
        CHECK_EQ_STR(ti.native_dtype, "GGML_TYPE_43");
        CHECK(data_is_pattern(m, 2, 2));
        uint8_t b[4];
        CHECK_EQ_INT(ferry_tensor_read(m, 1, 0, b, 1), FERRY_E_NOTPLAIN);
        ferry_model_close(m);
    }
    /* The next offset must not go back before the unknown tensor, nor be unaligned. */
    patch(p, L.t_off[2], L.rel[1] - 32, 8, false);
    reject_at("offset before unknown", p, n, FERRY_E_CORRUPT, (long long)L.t_off[2], NULL,
              "of unknown type");
    patch(p, L.t_off[2], L.rel[2] + 1, 8, false);
    reject_at("unaligned after unknown", p, n, FERRY_E_CORRUPT, (long long)L.t_off[2], NULL,
              "a multiple of 32");
    patch(p, L.t_off[2], L.rel[2], 8, false);
    /* An unknown last tensor must start inside the file. */
    reject_at("unknown last past end", p, L.data_start + L.rel[3] - 1, FERRY_E_CORRUPT,
              (long long)L.t_off[3], NULL, "extends past the end of the file");
    free(p);
    /* Whatever the unknown tensor's size (0, or a gap of several alignment units), the next
     * tensor is found at its offset. */
    static const uint64_t sizes[] = {0, 1, 200};
    for (size_t k = 0; k < FERRY_ARRAY_LEN(sizes); k++) {
        tspec t2[4];
        memcpy(t2, t, sizeof t2);
        t2[1].unknown_bytes = sizes[k];
        f.t = t2;
        p   = build(&f, &n, &L);
        m   = accept("unknown of another size", p, n);
        if (m) {
            CHECK(data_is_pattern(m, 0, 0) && data_is_pattern(m, 2, 2));
            ferry_model_close(m);
        }
        free(p);
    }
}

/* ============================================================================================
 * Corruption matrix (FORMATS.md A1.4, in ggml's order) with the accepted boundaries
 * ========================================================================================== */

TEST(header_rules)
{
    fspec f = def_spec();
    size_t n;
    layout L;
    uint8_t *p = build(&f, &n, &L);
    /* 1. magic */
    p[3] = 'X';
    reject_at("bad magic", p, n, FERRY_E_CORRUPT, 0, NULL, "expected \"GGUF\"");
    ferry_model *m = NULL;
    CHECK_EQ_INT(open_mem(p, n, NULL, &m), FERRY_E_UNKNOWN_FORMAT);
    p[3] = 'F';
    /* 2. version */
    patch(p, L.version, 0, 4, false);
    reject_at("version 0", p, n, FERRY_E_CORRUPT, 4, NULL, "version is 0, expected 1..3");
    patch(p, L.version, 4, 4, false);
    reject_at("version 4", p, n, FERRY_E_UNSUPPORTED, 4, NULL, "version 4");
    patch(p, L.version, 0x04000000, 4, false);
    reject_at("version 4 byte-swapped", p, n, FERRY_E_UNSUPPORTED, 4, NULL, "version 4");
    patch(p, L.version, 2, 4, false);
    accept_close("version 2 layout", p, n);
    patch(p, L.version, 3, 4, false);
    /* 3. counts: negative, and more than the bytes could hold */
    patch(p, L.n_tensors, (uint64_t)-1, 8, false);
    reject_at("n_tensors -1", p, n, FERRY_E_CORRUPT, (long long)L.n_tensors, NULL,
              "tensor_count is -1, expected >= 0");
    patch(p, L.n_tensors, 3, 8, false);
    patch(p, L.n_kv, (uint64_t)-1, 8, false);
    reject_at("n_kv -1", p, n, FERRY_E_CORRUPT, (long long)L.n_kv, NULL,
              "kv_count is -1, expected >= 0");
    patch(p, L.n_kv, (uint64_t)1 << 40, 8, false);
    reject_at("n_kv huge", p, n, FERRY_E_CORRUPT, (long long)L.n_tensors, NULL,
              "expected at most the");
    patch(p, L.n_kv, 4, 8, false);
    patch(p, L.n_tensors, ((uint64_t)1 << 62) + 1, 8, false);
    reject_at("n_tensors overflow", p, n, FERRY_E_CORRUPT, (long long)L.n_tensors, NULL,
              "need at least");
    patch(p, L.n_tensors, 3, 8, false);
    /* fewer KVs than present: the rest is read as tensor infos and fails */
    patch(p, L.n_kv, 3, 8, false);
    reject_at("n_kv too small", p, n, FERRY_E_CORRUPT, (long long)L.kv_type[3], NULL,
              "tensor \"test.strs\" has n_dims 9");
    patch(p, L.n_kv, 4, 8, false);
    accept_close("restored", p, n);
    free(p);
    /* an empty file and a bare header */
    static const uint8_t bare[] = {'G', 'G', 'U', 'F', 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                                   0, 0, 0, 0, 0, 0, 0, 0};
    reject_at("empty", bare, 0, FERRY_E_CORRUPT, 0, NULL, "magic needs 4 bytes");
    reject_at("no kv_count", bare, 16, FERRY_E_CORRUPT, 16, NULL, "kv_count needs 8 bytes");
    ferry_model *e = accept("bare header", bare, sizeof bare);
    if (e) {
        CHECK_EQ_INT(ferry_model_tensor_count(e), 0);
        CHECK_EQ_INT(ferry_meta_count(ferry_model_metadata(e)), 0);
        ferry_model_close(e);
    }
}

TEST(string_rules)
{
    fspec f = def_spec();
    size_t n;
    layout L;
    uint8_t *p = build(&f, &n, &L);
    size_t klen = strlen(def_kv[0].key);
    patch(p, L.kv_key[0], ((uint64_t)1 << 30) + 1, 8, false);
    reject_at("key > 1 GiB", p, n, FERRY_E_CORRUPT, (long long)L.kv_key[0], NULL,
              "key length is 1073741825, expected at most 1073741824 (1 GiB)");
    patch(p, L.kv_key[0], (uint64_t)1 << 30, 8, false);
    reject_at("key = 1 GiB > remaining", p, n, FERRY_E_CORRUPT, (long long)L.kv_key[0], NULL,
              "key length is 1073741824, expected at most the");
    patch(p, L.kv_key[0], n - L.kv_key[0] - 8 + 1, 8, false);
    reject_at("key remaining + 1", p, n, FERRY_E_CORRUPT, (long long)L.kv_key[0], NULL,
              "bytes remaining");
    patch(p, L.kv_key[0], klen, 8, false);
    /* a string value of 1 GiB + 1 */
    patch(p, L.kv_val[0], ((uint64_t)1 << 30) + 1, 8, false);
    reject_at("value > 1 GiB", p, n, FERRY_E_CORRUPT, (long long)L.kv_val[0], NULL,
              "string value length is 1073741825");
    free(p);
    /* Boundary: a last string that ends exactly at the end of the file is accepted, one
     * byte more is not. */
    static const kvspec kv[] = {{.key = "a", .type = STR, .s = "xyz"}};
    fspec g = {.version = 3, .kv = kv, .n_kv = 1};
    p = build(&g, &n, &L);
    size_t exact = L.kv_val[0] + 8 + 3;
    accept_close("string to the last byte", p, exact);
    reject_at("string one byte short", p, exact - 1, FERRY_E_CORRUPT, (long long)L.kv_val[0],
              NULL, "string value length is 3, expected at most the 2 bytes remaining");
    free(p);
}

TEST(array_rules)
{
    fspec f = def_spec();
    size_t n;
    layout L;
    uint8_t *p = build(&f, &n, &L);
    size_t cnt = L.kv_val[2] + 4; /* test.arr: i32 x 3 */
    patch(p, cnt, ((uint64_t)1 << 30) + 1, 8, false);
    reject_at("array > 1 Gi", p, n, FERRY_E_CORRUPT, (long long)cnt, NULL,
              "array count is 1073741825, expected at most 1073741824");
    uint64_t left = n - (cnt + 8);
    patch(p, cnt, left / 4 + 1, 8, false);
    reject_at("array past the end", p, n, FERRY_E_CORRUPT, (long long)cnt, NULL,
              "expected at most the");
    patch(p, cnt, 3, 8, false);
    size_t scnt = L.kv_val[3] + 4; /* test.strs: string x 2 */
    left = n - (scnt + 8);
    patch(p, scnt, left / 8 + 1, 8, false);
    reject_at("string array past the end", p, n, FERRY_E_CORRUPT, (long long)scnt, NULL,
              "array of");
    patch(p, scnt, left / 8, 8, false);
    reject_at("string array, lengths fit, strings do not", p, n, FERRY_E_CORRUPT, -1, NULL, "");
    patch(p, scnt, 2, 8, false);
    /* nested arrays and bad element types (A1.4.8) */
    patch(p, L.kv_val[2], ARR, 4, false);
    reject_at("nested array", p, n, FERRY_E_CORRUPT, (long long)L.kv_val[2], NULL,
              "nested array");
    patch(p, L.kv_val[2], 13, 4, false);
    reject_at("array elem 13", p, n, FERRY_E_CORRUPT, (long long)L.kv_val[2], NULL,
              "array element type is 13, expected 0..12");
    patch(p, L.kv_val[2], I32, 4, false);
    accept_close("restored", p, n);
    free(p);
    /* Boundary: an array ending exactly at the end of the file. */
    static const uint64_t v[] = {1, 2};
    static const kvspec kv[] = {{.key = "a", .type = ARR, .elem = U16, .count = 2, .iv = v}};
    fspec g = {.version = 3, .kv = kv, .n_kv = 1};
    p = build(&g, &n, &L);
    size_t exact = L.kv_val[0] + 4 + 8 + 4;
    accept_close("array to the last byte", p, exact);
    reject_at("array one byte short", p, exact - 1, FERRY_E_CORRUPT, (long long)L.kv_val[0] + 4,
              NULL, "array of 2 UINT16 needs at least 4 bytes");
    free(p);
}

TEST(key_and_type_rules)
{
    static const kvspec empty[] = {{.key = "a", .type = U8, .u = 1}, {.key = "", .type = U8}};
    fspec f = def_spec();
    f.kv   = empty;
    f.n_kv = 2;
    f.nt   = 0;
    size_t n;
    layout L;
    uint8_t *p = build(&f, &n, &L);
    reject_at("empty key", p, n, FERRY_E_CORRUPT, (long long)L.kv_key[1], NULL,
              "key of KV pair 1 is empty");
    free(p);
    static const kvspec dup[] = {{.key = "a.b", .type = U8, .u = 1},
                                 {.key = "a.c", .type = U8, .u = 1},
                                 {.key = "a.b", .type = STR, .s = "x"}};
    f.kv   = dup;
    f.n_kv = 3;
    p = build(&f, &n, &L);
    reject_at("duplicate key", p, n, FERRY_E_CORRUPT, (long long)L.kv_key[2], NULL,
              "duplicate key \"a.b\"");
    p[L.kv_key[2] + 8 + 2] = 'd';
    accept_close("distinct keys", p, n);
    patch(p, L.kv_type[1], 13, 4, false);
    reject_at("value type 13", p, n, FERRY_E_CORRUPT, (long long)L.kv_type[1], NULL,
              "key \"a.c\" has value type 13, expected 0..12");
    patch(p, L.kv_type[1], 0xFFFFFFFFu, 4, false);
    reject_at("value type -1", p, n, FERRY_E_CORRUPT, (long long)L.kv_type[1], NULL,
              "value type -1");
    patch(p, L.kv_type[1], U8, 4, false);
    /* BOOL: any nonzero byte is true (ggml) */
    patch(p, L.kv_type[1], BOOL_, 4, false);
    p[L.kv_val[1]] = 2;
    ferry_model *m = accept("bool 2", p, n);
    if (m) {
        CHECK(ferry_meta_bool(ferry_meta_get(ferry_model_metadata(m), "a.c")));
        ferry_model_close(m);
    }
    free(p);
}

TEST(alignment_rules)
{
    static const struct {
        uint32_t type;
        uint64_t value;
        uint32_t layout;
        int code;
        bool at_type;
        const char *msg;
    } c[] = {
        {U32, 1, 1, 0, false, NULL},
        {U32, 8, 8, 0, false, NULL},
        {U32, 64, 64, 0, false, NULL},
        {U32, 1u << 20, 1u << 20, 0, false, NULL},
        {U32, 0, 32, FERRY_E_CORRUPT, false, "general.alignment is 0, expected a power of two"},
        {U32, 3, 32, FERRY_E_CORRUPT, false, "general.alignment is 3, expected a power of two"},
        {U32, 13, 32, FERRY_E_CORRUPT, false, "expected a power of two"},
        {U32, 1u << 21, 32, FERRY_E_LIMIT, false, "above ferry's limit"},
        {I32, 32, 32, FERRY_E_CORRUPT, true, "general.alignment has type INT32, expected UINT32"},
        {U64, 32, 32, FERRY_E_CORRUPT, true, "has type UINT64"},
        {STR, 0, 32, FERRY_E_CORRUPT, true, "has type STRING"},
        {U32, 64, 32, FERRY_E_CORRUPT, false, "has offset"}, /* says 64, laid out with 32 */
    };
    for (size_t i = 0; i < FERRY_ARRAY_LEN(c); i++) {
        kvspec kv[2] = {{.key = "general.architecture", .type = STR, .s = "x"},
                        {.key = "general.alignment", .type = c[i].type, .u = c[i].value,
                         .s = "32"}};
        fspec f = def_spec();
        f.kv    = kv;
        f.n_kv  = 2;
        f.align = c[i].layout;
        size_t n;
        layout L;
        uint8_t *p = build(&f, &n, &L);
        char label[64];
        snprintf(label, sizeof label, "alignment case %zu", i);
        if (c[i].code == 0) {
            ferry_model *m = accept(label, p, n);
            if (m) {
                ferry_tensor_info ti = {.struct_size = sizeof ti};
                ferry_model_tensor_info(m, 1, &ti);
                CHECK(ti.file_offset % (int64_t)c[i].value == 0);
                CHECK(data_is_pattern(m, 2, 2));
                ferry_model_close(m);
            }
        } else {
            long long at = c[i].at_type ? (long long)L.kv_type[1] : (long long)L.kv_val[1];
            if (c[i].layout == 32 && c[i].value == 64) at = (long long)L.t_off[1];
            reject_at(label, p, n, c[i].code, at, NULL, c[i].msg);
        }
        free(p);
    }
}

TEST(tensor_name_rules)
{
    char n63[64];
    char n64[65];
    memset(n63, 'n', 63);
    n63[63] = 0;
    memset(n64, 'n', 64);
    n64[64] = 0;
    tspec t[2] = {{.name = n63, .ndims = 1, .ne = {2}, .type = 0},
                  {.name = "x", .ndims = 1, .ne = {2}, .type = 0}};
    fspec f = def_spec();
    f.t  = t;
    f.nt = 2;
    size_t n;
    layout L;
    uint8_t *p = build(&f, &n, &L);
    ferry_model *m = accept("name of 63 bytes", p, n);
    if (m) {
        CHECK(ferry_model_find_tensor(m, n63) == 0);
        ferry_model_close(m);
    }
    free(p);
    t[0].name = n64;
    p = build(&f, &n, &L);
    reject_at("name of 64 bytes", p, n, FERRY_E_CORRUPT, (long long)L.t_name[0], NULL,
              "name of tensor 0 is 64 bytes long, expected at most 63");
    free(p);
    t[0].name = "x";
    p = build(&f, &n, &L);
    reject_at("duplicate name", p, n, FERRY_E_CORRUPT, (long long)L.t_name[1], NULL,
              "duplicate tensor name \"x\"");
    free(p);
    t[0].name = "";
    p = build(&f, &n, &L);
    accept_close("empty name (ggml accepts it)", p, n);
    free(p);
}

TEST(shape_rules)
{
    tspec t[2] = {{.name = "a", .ndims = 4, .ne = {2, 1, 1, 2}, .type = 0},
                  {.name = "b", .ndims = 1, .ne = {2}, .type = 0}};
    fspec f = def_spec();
    f.t  = t;
    f.nt = 2;
    size_t n;
    layout L;
    uint8_t *p = build(&f, &n, &L);
    accept_close("4 dims", p, n);
    patch(p, L.t_dims[0] + 8, (uint64_t)-1, 8, false);
    reject_at("ne negative", p, n, FERRY_E_CORRUPT, (long long)L.t_dims[0] + 8, NULL,
              "tensor \"a\" ne[1] is -1, expected >= 0");
    patch(p, L.t_dims[0] + 8, (uint64_t)1 << 32, 8, false);
    patch(p, L.t_dims[0], (uint64_t)1 << 31, 8, false);
    reject_at("element count overflow", p, n, FERRY_E_CORRUPT, (long long)L.t_ndims[0], NULL,
              "overflowing int64");
    patch(p, L.t_dims[0], 0, 8, false);
    reject_at("zero dim, next offset now wrong", p, n, FERRY_E_CORRUPT, (long long)L.t_off[1],
              NULL, "has offset 32, expected 0");
    patch(p, L.t_off[1], 0, 8, false);
    ferry_model *m = accept("zero dim (G06)", p, n);
    if (m) {
        ferry_tensor_info ti = {.struct_size = sizeof ti};
        ferry_model_tensor_info(m, 0, &ti);
        CHECK(ti.nelems == 0 && ti.nbytes == 0 && ti.shape[2] == (int64_t)1 << 32);
        ferry_model_close(m);
    }
    free(p);
    t[0].ndims = 5;
    t[0].ne[4] = 1;
    p = build(&f, &n, &L);
    reject_at("5 dims", p, n, FERRY_E_CORRUPT, (long long)L.t_ndims[0], NULL,
              "tensor \"a\" has n_dims 5, expected at most 4");
    free(p);
    t[0].ndims = 0;
    p = build(&f, &n, &L);
    accept_close("0 dims", p, n);
    free(p);
    /* NBYTES_TOO_BIG: 2^61 F64 elements are 2^64 bytes */
    t[0].ndims = 1;
    t[0].ne[0] = (int64_t)1 << 61;
    t[0].type  = 28;
    t[0].unknown_bytes = 0;
    p = build(&f, &n, &L);
    reject_at("byte size overflow", p, n, FERRY_E_CORRUPT, (long long)L.t_type[0], NULL,
              "overflow a 64-bit byte size");
    free(p);
}

TEST(type_rules)
{
    tspec t[2] = {{.name = "a", .ndims = 2, .ne = {32, 2}, .type = 2},
                  {.name = "b", .ndims = 1, .ne = {2}, .type = 0}};
    fspec f = def_spec();
    f.t  = t;
    f.nt = 2;
    size_t n;
    layout L;
    uint8_t *p = build(&f, &n, &L);
    accept_close("Q4_0 row of 32", p, n);
    static const uint32_t removed[] = {4, 5, 31, 32, 33, 36, 37, 38};
    for (size_t i = 0; i < FERRY_ARRAY_LEN(removed); i++) {
        patch(p, L.t_type[0], removed[i], 4, false);
        char want[64];
        snprintf(want, sizeof want, "has ggml type %u (", removed[i]);
        reject_at("removed id", p, n, FERRY_E_CORRUPT, (long long)L.t_type[0], NULL, want);
    }
    patch(p, L.t_type[0], 0xFFFFFFFFu, 4, false);
    reject_at("type -1", p, n, FERRY_E_CORRUPT, (long long)L.t_type[0], NULL,
              "has ggml type -1, expected a type id >= 0");
    patch(p, L.t_type[0], 0x80000000u, 4, false);
    reject_at("type INT32_MIN", p, n, FERRY_E_CORRUPT, (long long)L.t_type[0], NULL,
              "expected a type id >= 0");
    patch(p, L.t_type[0], 2, 4, false);
    free(p);
    t[0].ne[0] = 33;
    p = build(&f, &n, &L);
    reject_at("row not a block multiple", p, n, FERRY_E_CORRUPT, (long long)L.t_type[0], NULL,
              "tensor \"a\" of type Q4_0 has 33 elements per row (ne[0]), expected a multiple "
              "of the block size 32");
    free(p);
    t[0].ndims = 0;
    p = build(&f, &n, &L);
    reject_at("block scalar", p, n, FERRY_E_CORRUPT, (long long)L.t_type[0], NULL,
              "has 1 elements per row");
    free(p);
}

TEST(offset_and_data_rules)
{
    fspec f = def_spec();
    size_t n;
    layout L;
    uint8_t *p = build(&f, &n, &L);
    char want[128];
    /* gap */
    patch(p, L.t_off[1], L.rel[1] + 32, 8, false);
    snprintf(want, sizeof want, "tensor \"t.q8\" has offset %llu, expected %llu",
             (unsigned long long)L.rel[1] + 32, (unsigned long long)L.rel[1]);
    reject_at("gap", p, n, FERRY_E_CORRUPT, (long long)L.t_off[1], NULL, want);
    /* unaligned */
    patch(p, L.t_off[1], L.rel[1] + 1, 8, false);
    reject_at("unaligned", p, n, FERRY_E_CORRUPT, (long long)L.t_off[1], NULL, "has offset");
    /* overlap */
    patch(p, L.t_off[1], L.rel[1] - 32, 8, false);
    reject_at("overlap", p, n, FERRY_E_CORRUPT, (long long)L.t_off[1], NULL, "has offset");
    /* reordered */
    patch(p, L.t_off[1], L.rel[2], 8, false);
    patch(p, L.t_off[2], L.rel[1], 8, false);
    reject_at("reordered", p, n, FERRY_E_CORRUPT, (long long)L.t_off[1], NULL, "has offset");
    patch(p, L.t_off[1], L.rel[1], 8, false);
    patch(p, L.t_off[2], L.rel[2], 8, false);
    /* first tensor not at 0 */
    patch(p, L.t_off[0], 32, 8, false);
    reject_at("first not at 0", p, n, FERRY_E_CORRUPT, (long long)L.t_off[0], NULL,
              "expected 0");
    patch(p, L.t_off[0], 0, 8, false);
    /* data: the final padding may be missing, not one byte of the last tensor */
    size_t end_last = L.data_start + L.rel[2] + L.nbytes[2];
    CHECK(end_last < n);
    accept_close("no final padding", p, end_last);
    snprintf(want, sizeof want, "tensor \"t.f16\" data [%llu, +6) extends past the end of the "
             "file (size %llu)", (unsigned long long)(L.data_start + L.rel[2]),
             (unsigned long long)end_last - 1);
    reject_at("last tensor cut", p, end_last - 1, FERRY_E_CORRUPT, (long long)L.t_off[2], NULL,
              want);
    /* data section start past the end */
    CHECK(L.end_infos % 32 != 0);
    reject_at("data start past end", p, L.end_infos, FERRY_E_CORRUPT, (long long)L.end_infos,
              NULL, "the data section would start at");
    free(p);
    /* MEM_SIZE_OVERFLOW (test-gguf): two I8 tensors of 0x7FFFFFFFFFFFFFC0 elements */
    static const tspec big[] = {
        {.name = "a", .ndims = 1, .ne = {0x7FFFFFFFFFFFFFC0}, .type = 24},
        {.name = "b", .ndims = 1, .ne = {0x7FFFFFFFFFFFFFC0}, .type = 24}};
    fspec g = def_spec();
    g.t  = big;
    g.nt = 2;
    layout L2;
    uint8_t *q = NULL;
    {
        /* Build the header only (the data cannot exist). */
        fspec h = g;
        static const tspec small[] = {{.name = "a", .ndims = 1, .ne = {1}, .type = 24},
                                      {.name = "b", .ndims = 1, .ne = {1}, .type = 24}};
        h.t = small;
        q   = build(&h, &n, &L2);
        patch(q, L2.t_dims[0], 0x7FFFFFFFFFFFFFC0ull, 8, false);
        patch(q, L2.t_dims[1], 0x7FFFFFFFFFFFFFC0ull, 8, false);
        patch(q, L2.t_off[1], 0x7FFFFFFFFFFFFFC0ull, 8, false);
    }
    reject_at("mem size overflow", q, n, FERRY_E_CORRUPT, (long long)L2.t_off[0], NULL,
              "extends past the end of the file");
    free(q);
}

TEST(every_truncation_fails_cleanly)
{
    fspec f = def_spec();
    f.kv   = all_kv;
    f.n_kv = (int)FERRY_ARRAY_LEN(all_kv);
    size_t n;
    layout L;
    uint8_t *p = build(&f, &n, &L);
    size_t min_ok = L.data_start + L.rel[2] + L.nbytes[2];
    int bad = 0;
    for (size_t k = 0; k < n; k++) {
        /* An exact-size copy so that ASan sees any read past the end. */
        uint8_t *c = malloc(k ? k : 1);
        memcpy(c, p, k);
        ferry_model *m = NULL;
        int rc = open_mem(c, k, "gguf", &m);
        if (k >= min_ok) {
            if (rc != 0) bad++;
        } else if (rc != FERRY_E_CORRUPT || !strstr(ferry_ctx_error(g_ctx), "mem.gguf: offset ")) {
            fprintf(stderr, "truncation at %zu: %d %s\n", k, rc, ferry_ctx_error(g_ctx));
            bad++;
        }
        ferry_model_close(m);
        free(c);
    }
    CHECK_EQ_INT(bad, 0);
    free(p);
}

TEST(limits)
{
    fspec f = def_spec();
    size_t n;
    layout L;
    uint8_t *p = build(&f, &n, &L);
    static const struct {
        ferry_limits lim;
        const char *sub;
        int at; /* 0 n_tensors, 1 n_kv, 2 kv_key[0], 3 t_ndims[0], -1 any */
    } c[] = {
        {{.struct_size = sizeof(ferry_limits), .tensor_count = 2}, "limit tensor_count", 0},
        {{.struct_size = sizeof(ferry_limits), .metadata_items = 3}, "limit metadata_items", 1},
        {{.struct_size = sizeof(ferry_limits), .metadata_items = 6}, "limit metadata_items", -1},
        {{.struct_size = sizeof(ferry_limits), .string_length = 4}, "limit string_length", 2},
        {{.struct_size = sizeof(ferry_limits), .header_bytes = 100}, "limit header_bytes", -1},
        {{.struct_size = sizeof(ferry_limits), .dims = 1}, "limit dims", 3},
    };
    for (size_t i = 0; i < FERRY_ARRAY_LEN(c); i++) {
        ferry_ctx_set_limits(g_ctx, &c[i].lim);
        size_t at = c[i].at == 0 ? L.n_tensors : c[i].at == 1 ? L.n_kv
                  : c[i].at == 2 ? L.kv_key[0] : L.t_ndims[0];
        ferry_model *m = NULL;
        int rc = open_mem(p, n, "gguf", &m);
        CHECK_MSG(rc == FERRY_E_LIMIT && strstr(ferry_ctx_error(g_ctx), c[i].sub),
                  "limit case %zu: %d %s", i, rc, ferry_ctx_error(g_ctx));
        if (c[i].at >= 0) {
            char want[64];
            snprintf(want, sizeof want, "mem.gguf: offset %zu: ", at);
            CHECK_MSG(strncmp(ferry_ctx_error(g_ctx), want, strlen(want)) == 0, "%s",
                      ferry_ctx_error(g_ctx));
        }
        ferry_model_close(m);
        /* set_limits keeps zero fields: a fresh context restores the defaults */
        ferry_ctx_free(g_ctx);
        g_ctx = ferry_ctx_new(NULL);
    }
    free(p);
}

/* ============================================================================================
 * Round trips
 * ========================================================================================== */

TEST(roundtrip_is_byte_identical)
{
    static const kvspec align64[] = {{.key = "general.architecture", .type = STR, .s = "x"},
                                     {.key = "general.alignment", .type = U32, .u = 64},
                                     {.key = "general.quantization_version", .type = U32,
                                      .u = 2}};
    static kvspec def_q[5];
    static kvspec all_q[FERRY_ARRAY_LEN(all_kv) + 1];
    memcpy(def_q, def_kv, sizeof def_kv);
    def_q[4] = (kvspec){.key = "general.quantization_version", .type = U32, .u = 2};
    memcpy(all_q, all_kv, sizeof all_kv);
    all_q[FERRY_ARRAY_LEN(all_kv)] = def_q[4];
    struct {
        const kvspec *kv;
        int n_kv;
        const tspec *t;
        int nt;
        uint32_t align;
    } c[] = {
        {def_q, 5, def_t, 3, 0},
        {all_q, (int)FERRY_ARRAY_LEN(all_q), many_t, (int)FERRY_ARRAY_LEN(many_t), 0},
        {align64, 3, def_t, 3, 64},
        {def_kv, 4, NULL, 0, 0},
        {def_kv, 4, def_t, 3, 0}, /* block tensor, no quantization_version: ferry adds it */
    };
    for (size_t i = 0; i < FERRY_ARRAY_LEN(c); i++) {
        fspec f = {.version = 3, .kv = c[i].kv, .n_kv = c[i].n_kv, .t = c[i].t, .nt = c[i].nt,
                   .align = c[i].align};
        size_t n;
        uint8_t *p = build(&f, &n, NULL);
        ferry_model *m = accept("roundtrip source", p, n);
        if (!m) {
            free(p);
            continue;
        }
        size_t wn;
        int rc;
        uint8_t *w = write_mem(m, 0, &wn, &rc);
        CHECK_MSG(rc == 0, "case %zu: %s", i, ferry_ctx_error(g_ctx));
        if (i == 4) {
            ferry_model *r = w ? accept("roundtrip reread", w, wn) : NULL;
            if (r) {
                const ferry_meta *q = ferry_meta_get(ferry_model_metadata(r),
                                                     "general.quantization_version");
                CHECK(q && ferry_meta_numtype(q) == FERRY_DTYPE_U32 && ferry_meta_uint(q) == 2);
                CHECK_EQ_STR(ferry_meta_key_at(ferry_model_metadata(r), 4),
                             "general.quantization_version");
                CHECK_EQ_INT(ferry_meta_count(ferry_model_metadata(r)), 5);
                CHECK(ferry_model_tensor_count(r) == 3);
                for (int64_t k = 0; k < ferry_model_tensor_count(r); k++)
                    CHECK(data_is_pattern(r, k, (int)k));
                ferry_model_close(r);
            }
        } else {
            CHECK_MSG(w && wn == n && memcmp(w, p, n) == 0, "case %zu: %zu vs %zu bytes", i, wn,
                      n);
        }
        free(w);
        ferry_model_close(m);
        free(p);
    }
}

TEST(roundtrip_versions_to_canonical_v3)
{
    static kvspec kv[FERRY_ARRAY_LEN(all_kv) + 1];
    memcpy(kv, all_kv, sizeof all_kv);
    kv[FERRY_ARRAY_LEN(all_kv)] = (kvspec){.key = "general.quantization_version", .type = U32,
                                           .u = 2};
    fspec f = {.version = 3, .kv = kv, .n_kv = (int)FERRY_ARRAY_LEN(kv), .t = many_t,
               .nt = (int)FERRY_ARRAY_LEN(many_t)};
    size_t cn;
    uint8_t *canon = build(&f, &cn, NULL);
    for (uint32_t v = 1; v <= 3; v++)
        for (int be = 0; be <= 1; be++) {
            fspec g = f;
            g.version = v;
            g.be      = be;
            size_t n;
            uint8_t *p = build(&g, &n, NULL);
            ferry_model *m = accept("version source", p, n);
            if (m) {
                size_t wn;
                int rc;
                uint8_t *w = write_mem(m, 0, &wn, &rc);
                CHECK_MSG(rc == 0 && wn == cn && memcmp(w, canon, cn) == 0,
                          "v%u %s: written %zu bytes, canonical %zu (%s)", v, be ? "be" : "le",
                          wn, cn, ferry_ctx_error(g_ctx));
                free(w);
                ferry_model_close(m);
            }
            free(p);
        }
    free(canon);
}

/* ============================================================================================
 * Writing models from other sources
 * ========================================================================================== */

static void collect_log(void *ud, int level, const char *msg)
{
    (void)level;
    char *buf = ud;
    size_t l = strlen(buf);
    snprintf(buf + l, 4096 - l, "%s\n", msg);
}

TEST(writer_maps_metadata)
{
    ferry_model *m;
    CHECK_EQ_INT(ferry_model_new(g_ctx, &m), 0);
    float d[64];
    for (int i = 0; i < 64; i++) d[i] = (float)i;
    int64_t shape[2] = {2, 32};
    CHECK_EQ_INT(ferry_model_add_tensor(m, "w", FERRY_DTYPE_F32, 2, shape, d), 0);
    uint8_t q[34] = {0};
    int64_t qs[1] = {32};
    CHECK_EQ_INT(ferry_model_add_tensor(m, "q", FERRY_DTYPE_Q8_0, 1, qs, q), 0);
    ferry_model_set_meta_string(m, "general.architecture", "llama");
    ferry_model_set_meta_int(m, "plain.int", -5, FERRY_DTYPE_UNKNOWN);
    ferry_model_set_meta_int(m, "narrow.u32", 7, FERRY_DTYPE_U32);
    ferry_model_set_meta_int(m, "narrow.i16", -7, FERRY_DTYPE_I16);
    ferry_model_set_meta_int(m, "flag", 1, FERRY_DTYPE_BOOL);
    ferry_model_set_meta_float(m, "eps", 1e-5, FERRY_DTYPE_F32);
    ferry_model_set_meta_float(m, "dbl", 0.1, FERRY_DTYPE_UNKNOWN);
    /* nested maps, arrays (typed, mixed, nested, empty), bytes, null: built with the
     * internal builders, as other format modules do */
    ferry_meta *root = m->meta;
    ferry_meta *cfg = ferry__meta_append(m, root, "cfg", 3);
    ferry__meta_set_map(cfg);
    ferry_meta *x = ferry__meta_append(m, cfg, "hidden", 6);
    ferry__meta_set_uint(x, 4096, FERRY_DTYPE_UNKNOWN);
    ferry_meta *sub = ferry__meta_append(m, cfg, "rope", 4);
    ferry__meta_set_map(sub);
    ferry__meta_set_float(ferry__meta_append(m, sub, "theta", 5), 10000.0, FERRY_DTYPE_UNKNOWN);
    ferry_meta *ints = ferry__meta_append(m, root, "ints", 4);
    ferry__meta_set_array(ints, FERRY_DTYPE_UNKNOWN);
    ferry__meta_set_int(ferry__meta_append(m, ints, NULL, 0), 1, FERRY_DTYPE_UNKNOWN);
    ferry__meta_set_uint(ferry__meta_append(m, ints, NULL, 0), 2, FERRY_DTYPE_UNKNOWN);
    ferry_meta *strs = ferry__meta_append(m, root, "strs", 4);
    ferry__meta_set_array(strs, FERRY_DTYPE_UNKNOWN);
    ferry__meta_set_string(m, ferry__meta_append(m, strs, NULL, 0), "a", 1);
    ferry__meta_set_string(m, ferry__meta_append(m, strs, NULL, 0), "", 0);
    ferry_meta *nums = ferry__meta_append(m, root, "nums", 4);
    ferry__meta_set_array(nums, FERRY_DTYPE_UNKNOWN);
    ferry__meta_set_int(ferry__meta_append(m, nums, NULL, 0), 1, FERRY_DTYPE_UNKNOWN);
    ferry__meta_set_float(ferry__meta_append(m, nums, NULL, 0), 2.5, FERRY_DTYPE_UNKNOWN);
    ferry_meta *mixed = ferry__meta_append(m, root, "mixed", 5);
    ferry__meta_set_array(mixed, FERRY_DTYPE_UNKNOWN);
    ferry__meta_set_int(ferry__meta_append(m, mixed, NULL, 0), 1, FERRY_DTYPE_UNKNOWN);
    ferry__meta_set_string(m, ferry__meta_append(m, mixed, NULL, 0), "a", 1);
    ferry_meta *nest = ferry__meta_append(m, root, "nest", 4);
    ferry__meta_set_array(nest, FERRY_DTYPE_UNKNOWN);
    ferry__meta_set_array(ferry__meta_append(m, nest, NULL, 0), FERRY_DTYPE_UNKNOWN);
    ferry__meta_set_array(ferry__meta_append(m, root, "empty", 5), FERRY_DTYPE_UNKNOWN);
    ferry__meta_set_array(ferry__meta_append(m, root, "empty_u16", 9), FERRY_DTYPE_U16);
    ferry__meta_set_bytes(m, ferry__meta_append(m, root, "blob", 4), "\x01\x02", 2);
    ferry__meta_append(m, root, "nothing", 7); /* NULL kind */
    ferry_model_set_meta_int(m, "split.count", 3, FERRY_DTYPE_U16);

    char log[4096] = "";
    ferry_ctx_set_log(g_ctx, collect_log, log);
    size_t wn;
    int rc;
    uint8_t *w = write_mem(m, 64, &wn, &rc);
    ferry_ctx_set_log(g_ctx, NULL, NULL);
    CHECK_MSG(rc == 0, "%s", ferry_ctx_error(g_ctx));
    CHECK(strstr(log, "\"mixed\"") && strstr(log, "\"nest\"") && strstr(log, "\"empty\"") &&
          strstr(log, "\"nothing\"") && strstr(log, "split.count"));
    ferry_model *r = w ? accept("written model", w, wn) : NULL;
    if (r) {
        const ferry_meta *md = ferry_model_metadata(r);
        static const struct {
            const char *key;
            ferry_dtype nt;
        } want[] = {{"general.architecture", FERRY_DTYPE_STRING},
                    {"plain.int", FERRY_DTYPE_I64},
                    {"narrow.u32", FERRY_DTYPE_U32},
                    {"narrow.i16", FERRY_DTYPE_I16},
                    {"flag", FERRY_DTYPE_BOOL},
                    {"eps", FERRY_DTYPE_F32},
                    {"dbl", FERRY_DTYPE_F64},
                    {"cfg.hidden", FERRY_DTYPE_U64},
                    {"cfg.rope.theta", FERRY_DTYPE_F64},
                    {"ints", FERRY_DTYPE_I64},
                    {"strs", FERRY_DTYPE_STRING},
                    {"nums", FERRY_DTYPE_F64},
                    {"empty_u16", FERRY_DTYPE_U16},
                    {"blob", FERRY_DTYPE_U8},
                    {"general.alignment", FERRY_DTYPE_U32},
                    {"general.quantization_version", FERRY_DTYPE_U32}};
        CHECK_EQ_INT(ferry_meta_count(md), (long long)FERRY_ARRAY_LEN(want));
        for (size_t i = 0; i < FERRY_ARRAY_LEN(want); i++) {
            CHECK_EQ_STR(ferry_meta_key_at(md, (int64_t)i), want[i].key);
            CHECK_MSG(ferry_meta_numtype(ferry_meta_at(md, (int64_t)i)) == want[i].nt, "%s: %d",
                      want[i].key, (int)ferry_meta_numtype(ferry_meta_at(md, (int64_t)i)));
        }
        CHECK_EQ_INT(ferry_meta_int(ferry_meta_get(md, "narrow.i16")), -7);
        CHECK(ferry_meta_float(ferry_meta_get(md, "eps")) == (double)1e-5f);
        CHECK(ferry_meta_float(ferry_meta_at(ferry_meta_get(md, "nums"), 1)) == 2.5);
        CHECK_EQ_INT(ferry_meta_uint(ferry_meta_get(md, "general.alignment")), 64);
        CHECK_EQ_INT(ferry_meta_uint(ferry_meta_at(ferry_meta_get(md, "blob"), 1)), 2);
        ferry_tensor_info ti = {.struct_size = sizeof ti};
        ferry_model_tensor_info(r, 1, &ti);
        CHECK(ti.file_offset % 64 == 0 && ti.dtype == FERRY_DTYPE_Q8_0);
        ferry_model_tensor_info(r, 0, &ti);
        CHECK(ti.ndim == 2 && ti.shape[0] == 2 && ti.shape[1] == 32);
        float back[64];
        CHECK(ferry_tensor_read(r, 0, 0, back, sizeof back) == 0);
        CHECK(memcmp(back, d, sizeof d) == 0);
        CHECK(wn % 64 == 0);
        ferry_model_close(r);
    }
    free(w);
    /* alignment from the metadata, and a bad one */
    ferry_model_set_meta_int(m, "general.alignment", 16, FERRY_DTYPE_U32);
    w = write_mem(m, 0, &wn, &rc);
    r = w ? accept("alignment from metadata", w, wn) : NULL;
    if (r) {
        ferry_tensor_info ti = {.struct_size = sizeof ti};
        ferry_model_tensor_info(r, 1, &ti);
        CHECK(ti.file_offset % 16 == 0);
        CHECK_EQ_INT(ferry_meta_uint(ferry_meta_get(ferry_model_metadata(r),
                                                    "general.alignment")), 16);
        ferry_model_close(r);
    }
    free(w);
    w = write_mem(m, 3, &wn, &rc);
    CHECK(rc == FERRY_E_ARG && strstr(ferry_ctx_error(g_ctx), "not a power of two"));
    free(w);
    ferry_model_close(m);
}

TEST(writer_refuses_what_gguf_cannot_hold)
{
    char n63[64];
    char n64[65];
    memset(n63, 'a', 63);
    n63[63] = 0;
    memset(n64, 'a', 64);
    n64[64] = 0;
    float d[32] = {0};
    int64_t s4[4] = {1, 2, 2, 2};
    int64_t s5[5] = {1, 1, 2, 2, 2};
    struct {
        const char *name;
        int32_t ndim;
        const int64_t *shape;
        int code;
        const char *msg;
    } c[] = {
        {n63, 4, s4, 0, NULL},
        {n64, 1, s4 + 3, FERRY_E_ARG, "name of 64 bytes, GGUF names hold at most 63"},
        {"x", 5, s5, FERRY_E_ARG, "has 5 dimensions, GGUF holds at most 4"},
    };
    for (size_t i = 0; i < FERRY_ARRAY_LEN(c); i++) {
        ferry_model *m;
        ferry_model_new(g_ctx, &m);
        CHECK_EQ_INT(ferry_model_add_tensor(m, c[i].name, FERRY_DTYPE_F32, c[i].ndim, c[i].shape,
                                            d), 0);
        size_t wn;
        int rc;
        uint8_t *w = write_mem(m, 0, &wn, &rc);
        CHECK_MSG(rc == c[i].code, "case %zu: %d %s", i, rc, ferry_ctx_error(g_ctx));
        if (c[i].msg)
            CHECK_MSG(strstr(ferry_ctx_error(g_ctx), c[i].msg) &&
                          strstr(ferry_ctx_error(g_ctx), "tensor \""),
                      "%s", ferry_ctx_error(g_ctx));
        if (rc == 0) {
            ferry_model *r = accept("63-byte name, 4 dims", w, wn);
            if (r) {
                CHECK(ferry_model_find_tensor(r, n63) == 0);
                ferry_model_close(r);
            }
        }
        free(w);
        ferry_model_close(m);
    }
    /* can_write: plain GGUF types and block types with a layout; a U32 tensor is widened by
     * the core to I64 (lossless), BOOL to I8 */
    ferry_model *m;
    ferry_model_new(g_ctx, &m);
    uint32_t u[2] = {1, 4000000000u};
    int64_t s1[1] = {2};
    ferry_model_add_tensor(m, "u", FERRY_DTYPE_U32, 1, s1, u);
    size_t wn;
    int rc;
    uint8_t *w = write_mem(m, 0, &wn, &rc);
    ferry_model *r = w ? accept("widened", w, wn) : NULL;
    if (r) {
        ferry_tensor_info ti = {.struct_size = sizeof ti};
        ferry_model_tensor_info(r, 0, &ti);
        CHECK(ti.dtype == FERRY_DTYPE_I64);
        int64_t back[2];
        CHECK(ferry_tensor_read(r, 0, 0, back, sizeof back) == 0 && back[1] == 4000000000LL);
        ferry_model_close(r);
    }
    free(w);
    ferry_model_close(m);
}

/* ============================================================================================
 * Split sets
 * ========================================================================================== */

static void write_file(const char *dir, const char *name, const uint8_t *p, size_t n)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (f) {
        fwrite(p, 1, n, f);
        fclose(f);
    }
}

static void rm_file(const char *dir, const char *name)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    unlink(path);
}

/* Writes a 3-shard set "<prefix>-0000k-of-00003.gguf"; `bad` mutates one shard:
 * 1: shard 2 says split.no = 0; 2: split.tensors.count wrong; 3: a duplicate name in shard 3;
 * 4: shard 3 missing. */
static void write_set(const char *dir, const char *prefix, int bad)
{
    for (int s = 0; s < 3; s++) {
        kvspec kv[4];
        int nk = 0;
        if (s == 0) kv[nk++] = (kvspec){.key = "general.architecture", .type = STR, .s = "x"};
        kv[nk++] = (kvspec){.key = "split.no", .type = U16,
                            .u = (uint64_t)(bad == 1 && s == 1 ? 0 : s)};
        kv[nk++] = (kvspec){.key = "split.count", .type = U16, .u = 3};
        kv[nk++] = (kvspec){.key = "split.tensors.count", .type = I32,
                            .u = (uint64_t)(bad == 2 ? 5 : 4)};
        static const tspec t0[] = {{.name = "s0.a", .ndims = 1, .ne = {4}, .type = 0},
                                   {.name = "s0.b", .ndims = 1, .ne = {2}, .type = 1}};
        static const tspec t1[] = {{.name = "s1.a", .ndims = 2, .ne = {3, 2}, .type = 0}};
        static const tspec t2[] = {{.name = "s2.a", .ndims = 1, .ne = {32}, .type = 8}};
        static const tspec t2dup[] = {{.name = "s0.a", .ndims = 1, .ne = {32}, .type = 8}};
        const tspec *ts = s == 0 ? t0 : s == 1 ? t1 : (bad == 3 ? t2dup : t2);
        fspec f = {.version = 3, .kv = kv, .n_kv = nk, .t = ts, .nt = s == 0 ? 2 : 1};
        size_t n;
        uint8_t *p = build(&f, &n, NULL);
        char name[256];
        snprintf(name, sizeof name, "%s-%05d-of-00003.gguf", prefix, s + 1);
        if (!(bad == 4 && s == 2)) write_file(dir, name, p, n);
        free(p);
    }
}

static void rm_set(const char *dir, const char *prefix)
{
    for (int s = 0; s < 3; s++) {
        char name[256];
        snprintf(name, sizeof name, "%s-%05d-of-00003.gguf", prefix, s + 1);
        rm_file(dir, name);
    }
}

TEST(split_sets)
{
    const char *dir = t_tmpdir();
    write_set(dir, "model", 0);
    static const char *const order[] = {"s0.a", "s0.b", "s1.a", "s2.a"};
    for (int s = 0; s < 3; s++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/model-%05d-of-00003.gguf", dir, s + 1);
        ferry_model *m = NULL;
        int rc = ferry_open(g_ctx, path, NULL, &m);
        CHECK_MSG(rc == 0, "open shard %d: %s", s + 1, ferry_ctx_error(g_ctx));
        if (!m) continue;
        CHECK_EQ_INT(ferry_model_tensor_count(m), 4);
        for (int i = 0; i < 4 && i < ferry_model_tensor_count(m); i++) {
            ferry_tensor_info ti = {.struct_size = sizeof ti};
            ferry_model_tensor_info(m, i, &ti);
            CHECK_EQ_STR(ti.name, order[i]);
            char shard[64];
            snprintf(shard, sizeof shard, "model-%05d-of-00003.gguf", i < 2 ? 1 : i);
            CHECK_MSG(ti.file && strstr(ti.file, shard), "%s in %s", ti.name, ti.file);
            CHECK(data_is_pattern(m, i, i < 2 ? i : 0));
        }
        CHECK(ferry_model_find_tensor(m, "s2.a") == 3);
        const ferry_meta *md = ferry_model_metadata(m);
        CHECK_EQ_STR(ferry_meta_string(ferry_meta_get(md, "general.architecture"), NULL), "x");
        CHECK_EQ_INT(ferry_meta_int(ferry_meta_get(md, "split.no")), 0);
        /* written back as one file, without the split keys */
        size_t wn;
        int wrc;
        uint8_t *w = write_mem(m, 0, &wn, &wrc);
        ferry_model *r = w ? accept("merged", w, wn) : NULL;
        if (r) {
            CHECK_EQ_INT(ferry_model_tensor_count(r), 4);
            CHECK(ferry_meta_get(ferry_model_metadata(r), "split.count") == NULL);
            ferry_model_close(r);
        }
        free(w);
        ferry_model_close(m);
    }
    /* a shard opened from memory is shown alone */
    {
        static kvspec kv[3] = {{.key = "split.no", .type = U16, .u = 1},
                               {.key = "split.count", .type = U16, .u = 3},
                               {.key = "split.tensors.count", .type = I32, .u = 4}};
        static const tspec t1[] = {{.name = "s1.a", .ndims = 2, .ne = {3, 2}, .type = 0}};
        fspec f = {.version = 3, .kv = kv, .n_kv = 3, .t = t1, .nt = 1};
        size_t n;
        uint8_t *p = build(&f, &n, NULL);
        ferry_model *m = accept("shard from memory", p, n);
        CHECK(m && ferry_model_tensor_count(m) == 1);
        ferry_model_close(m);
        kv[0].u = 3;
        free(p);
        p = build(&f, &n, NULL);
        reject_at("split.no out of range", p, n, FERRY_E_CORRUPT, -1, "split.no",
                  "3, expected 0..2");
        kv[0].type = STR;
        kv[0].s    = "1";
        free(p);
        p = build(&f, &n, NULL);
        reject_at("split.no not an integer", p, n, FERRY_E_CORRUPT, -1, "split.no",
                  "expected an integer");
        free(p);
        kv[0].type = U16;
        kv[0].u    = 1;
    }
    rm_set(dir, "model");
    /* inconsistent sets */
    static const struct {
        int bad;
        int code;
        const char *msg;
    } c[] = {
        {1, FERRY_E_CORRUPT, "expected split.no = 1 and split.count = 3"},
        {2, FERRY_E_CORRUPT, "split.tensors.count: 5, but the 3 shards hold 4 tensors"},
        {3, FERRY_E_CORRUPT, "duplicate tensor name \"s0.a\""},
        {4, FERRY_E_IO, "bad-00003-of-00003.gguf"},
    };
    for (size_t i = 0; i < FERRY_ARRAY_LEN(c); i++) {
        write_set(dir, "bad", c[i].bad);
        for (int s = 0; s < 3; s++) {
            if (c[i].bad == 4 && s == 2) continue;
            char path[1024];
            snprintf(path, sizeof path, "%s/bad-%05d-of-00003.gguf", dir, s + 1);
            ferry_model *m = NULL;
            int rc = ferry_open(g_ctx, path, "gguf", &m);
            bool self = c[i].bad == 1 && s == 1; /* the bad shard itself: its name disagrees */
            CHECK_MSG(rc == c[i].code && (self || strstr(ferry_ctx_error(g_ctx), c[i].msg)),
                      "case %d shard %d: %d %s", c[i].bad, s + 1, rc, ferry_ctx_error(g_ctx));
            CHECK(m == NULL);
            ferry_model_close(m);
        }
        rm_set(dir, "bad");
    }
    /* a shard whose name does not follow the convention */
    write_set(dir, "odd", 0);
    char from[1024];
    char to[1024];
    snprintf(from, sizeof from, "%s/odd-00002-of-00003.gguf", dir);
    snprintf(to, sizeof to, "%s/renamed.gguf", dir);
    rename(from, to);
    ferry_model *m = NULL;
    CHECK_EQ_INT(ferry_open(g_ctx, to, NULL, &m), FERRY_E_UNSUPPORTED);
    CHECK(strstr(ferry_ctx_error(g_ctx), "<prefix>-NNNNN-of-NNNNN.gguf"));
    unlink(to);
    rm_set(dir, "odd");
    rmdir(dir);
}

/* ============================================================================================
 * Performance, sources, allocation failures
 * ========================================================================================== */

TEST(vocab_150k_opens_fast)
{
    enum { N = 150000 };
    char (*tok)[16] = malloc(sizeof *tok * N);
    const char **sv = malloc(sizeof *sv * N);
    double *fv = malloc(sizeof *fv * N);
    uint64_t *iv = malloc(sizeof *iv * N);
    for (int i = 0; i < N; i++) {
        snprintf(tok[i], sizeof tok[i], "tok%06d", i);
        sv[i] = tok[i];
        fv[i] = -(double)i;
        iv[i] = 1;
    }
    kvspec kv[4] = {{.key = "tokenizer.ggml.model", .type = STR, .s = "gpt2"},
                    {.key = "tokenizer.ggml.tokens", .type = ARR, .elem = STR, .count = N,
                     .sv = sv},
                    {.key = "tokenizer.ggml.scores", .type = ARR, .elem = F32, .count = N,
                     .fv = fv},
                    {.key = "tokenizer.ggml.token_type", .type = ARR, .elem = I32, .count = N,
                     .iv = iv}};
    fspec f = {.version = 3, .kv = kv, .n_kv = 4};
    size_t n;
    uint8_t *p = build(&f, &n, NULL);
    double best = 1e9;
    for (int rep = 0; rep < 5; rep++) {
        double t0 = now_ms();
        ferry_model *m = accept("vocab", p, n);
        double dt = now_ms() - t0;
        if (dt < best) best = dt;
        if (m) {
            const ferry_meta *t = ferry_meta_get(ferry_model_metadata(m), "tokenizer.ggml.tokens");
            CHECK_EQ_INT(ferry_meta_count(t), N);
            CHECK_EQ_STR(ferry_meta_string(ferry_meta_at(t, N - 1), NULL), "tok149999");
        }
        ferry_model_close(m);
    }
#if defined(__SANITIZE_ADDRESS__)
    const double limit = 2000;
#else
    const double limit = 50;
#endif
    /* Over the allocation limit: the arrays fail with the file and offset named. */
    ferry_limits lim = {.struct_size = sizeof lim, .total_alloc = 1u << 20};
    ferry_ctx_set_limits(g_ctx, &lim);
    ferry_model *m = NULL;
    int rc = open_mem(p, n, "gguf", &m);
    const char *e = ferry_ctx_error(g_ctx);
    CHECK_MSG(rc == FERRY_E_LIMIT && strncmp(e, "mem.gguf: offset ", 17) == 0 &&
                  strstr(e, "tokenizer.ggml.tokens"),
              "%d %s", rc, ferry_ctx_error(g_ctx));
    ferry_ctx_free(g_ctx);
    g_ctx = ferry_ctx_new(NULL);
    printf("gguf: 150k-token vocabulary (%zu bytes) opens in %.1f ms\n", n, best);
    CHECK_MSG(best < limit, "150k vocabulary took %.1f ms", best);
    free(p);
    free(tok);
    free(sv);
    free(fv);
    free(iv);
}

typedef struct memcb {
    const uint8_t *p;
    size_t n;
} memcb;

static int cb_read(void *ud, uint64_t off, void *dst, size_t len)
{
    memcb *c = ud;
    if (off > c->n || len > c->n - off) return -1;
    memcpy(dst, c->p + off, len);
    return 0;
}

TEST(callback_source_matches_mapped)
{
    /* long strings exercise the scratch path, many small fields the window */
    static char longs[3][9000];
    for (int i = 0; i < 3; i++) {
        memset(longs[i], 'a' + i, sizeof longs[i] - 1);
        longs[i][sizeof longs[i] - 1] = 0;
    }
    static const char *const sv[] = {longs[0], "b", longs[1]};
    static kvspec kv[FERRY_ARRAY_LEN(all_kv) + 2];
    memcpy(kv, all_kv, sizeof all_kv);
    kv[FERRY_ARRAY_LEN(all_kv)]     = (kvspec){.key = "long", .type = STR, .s = longs[2]};
    kv[FERRY_ARRAY_LEN(all_kv) + 1] = (kvspec){.key = "longs", .type = ARR, .elem = STR,
                                               .count = 3, .sv = sv};
    for (int be = 0; be <= 1; be++) {
        fspec f = {.version = 3, .be = be, .kv = kv, .n_kv = (int)FERRY_ARRAY_LEN(kv),
                   .t = many_t, .nt = (int)FERRY_ARRAY_LEN(many_t)};
        size_t n;
        uint8_t *p = build(&f, &n, NULL);
        ferry_model *a = accept("mapped", p, n);
        memcb c = {p, n};
        ferry_source *src;
        ferry_source_from_callback(g_ctx, n, cb_read, NULL, &c, "cb.gguf", &src);
        ferry_model *b = NULL;
        CHECK_EQ_INT(ferry_open_source(g_ctx, src, "gguf", &b), 0);
        ferry_source_close(src);
        if (a && b) check_same_model("callback", a, b);
        ferry_model_close(a);
        ferry_model_close(b);
        free(p);
    }
}

typedef struct fail_alloc {
    long calls;
    long fail_at;
} fail_alloc;

static void *fa_realloc(void *ud, void *p, size_t n)
{
    fail_alloc *f = ud;
    if (++f->calls == f->fail_at) return NULL;
    return realloc(p, n ? n : 1);
}

static void fa_free(void *ud, void *p)
{
    (void)ud;
    free(p);
}

TEST(allocation_failures_do_not_leak)
{
    fspec f = def_spec();
    f.kv   = all_kv;
    f.n_kv = (int)FERRY_ARRAY_LEN(all_kv);
    size_t n;
    uint8_t *p = build(&f, &n, NULL);
    int succeeded = 0;
    for (long k = 1; k < 400 && !succeeded; k++) {
        fail_alloc fa = {0, 0};
        ferry_allocator al = {fa_realloc, fa_free, &fa};
        ferry_ctx *ctx = ferry_ctx_new(&al);
        fa.calls   = 0;
        fa.fail_at = k;
        ferry_source *src = NULL;
        ferry_model *m = NULL;
        int rc = ferry_source_from_memory(ctx, p, n, "mem.gguf", &src);
        if (rc == 0) rc = ferry_open_source(ctx, src, "gguf", &m);
        ferry_source_close(src);
        ferry_sink *s = NULL;
        if (rc == 0) rc = ferry_sink_open_memory(ctx, &s);
        ferry_write_options o = {.struct_size = sizeof o, .format = "gguf"};
        if (rc == 0) rc = ferry_write_sink(m, s, &o);
        ferry_sink_abort(s);
        ferry_model_close(m);
        CHECK_MSG(rc == 0 || rc == FERRY_E_NOMEM, "fail at %ld: %d %s", k, rc,
                  ferry_ctx_error(ctx));
        CHECK_MSG(ctx->allocated == 0, "fail at %ld: %llu bytes left", k,
                  (unsigned long long)ctx->allocated);
        succeeded = rc == 0 && fa.calls < k;
        ferry_ctx_free(ctx);
    }
    CHECK(succeeded);
    free(p);
}

/* ============================================================================================
 * Corpus conformance
 * ========================================================================================== */

static uint8_t *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *p = malloc(sz > 0 ? (size_t)sz : 1);
    *n = fread(p, 1, (size_t)(sz > 0 ? sz : 0), f);
    fclose(f);
    return p;
}

TEST(corpus_generated_by_gguf_py)
{
    const char *d = t_shared("corpus/generated/gguf");
    if (!d) return;
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", d);
    static const char *const files[] = {"tiny_f32_f16_le.gguf", "tiny_f32_f16_be.gguf",
                                        "tiny_quant_q8_0_q4_0_q5_1.gguf"};
    ferry_model *m[3] = {NULL, NULL, NULL};
    uint8_t *bytes[3] = {NULL, NULL, NULL};
    size_t len[3] = {0, 0, 0};
    for (int i = 0; i < 3; i++) {
        char path[4200];
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        bytes[i] = slurp(path, &len[i]);
        CHECK_MSG(ferry_open(g_ctx, path, NULL, &m[i]) == 0, "%s: %s", files[i],
                  ferry_ctx_error(g_ctx));
    }
    if (m[0] && m[1]) {
        /* The big-endian file holds the same metadata and tensor table (its values are other
         * random numbers): compare metadata, and its values with a by-hand big-endian decode. */
        CHECK(meta_eq(ferry_model_metadata(m[0]), ferry_model_metadata(m[1])));
        const ferry_meta *md = ferry_model_metadata(m[0]);
        CHECK_EQ_INT(ferry_meta_count(md), 9);
        CHECK(ferry_meta_numtype(ferry_meta_get(md, "llama.block_count")) == FERRY_DTYPE_U32);
        CHECK(ferry_meta_numtype(ferry_meta_get(md, "test.u64")) == FERRY_DTYPE_U64);
        CHECK(ferry_meta_uint(ferry_meta_get(md, "test.u64")) == 1099511627776ull);
        CHECK(ferry_meta_numtype(ferry_meta_get(md, "test.f32")) == FERRY_DTYPE_F32);
        CHECK(ferry_meta_bool(ferry_meta_get(md, "test.bool")));
        for (int64_t i = 0; i < 2; i++) {
            ferry_tensor_info a = {.struct_size = sizeof a};
            ferry_tensor_info b = {.struct_size = sizeof b};
            ferry_model_tensor_info(m[0], i, &a);
            ferry_model_tensor_info(m[1], i, &b);
            CHECK(a.dtype == b.dtype && a.ndim == 2 && b.ndim == 2 && a.shape[0] == 4 &&
                  a.shape[1] == 64 && b.shape[0] == 4 && a.file_offset == b.file_offset);
            CHECK(b.flags & FERRY_TENSOR_CONVERTED);
            uint8_t *got = malloc(b.nbytes);
            CHECK(ferry_tensor_read(m[1], i, 0, got, (size_t)b.nbytes) == 0);
            uint32_t w = a.dtype == FERRY_DTYPE_F32 ? 4 : 2;
            bool same = bytes[1] && (size_t)b.file_offset + b.nbytes <= len[1];
            for (uint64_t j = 0; same && j < b.nbytes; j++)
                same = got[j] == bytes[1][(size_t)b.file_offset + j / w * w + (w - 1 - j % w)];
            CHECK_MSG(same, "%s: big-endian values differ from a by-hand decode", b.name);
            free(got);
        }
    }
    /* Written back: the little-endian f32/f16 file is reproduced byte for byte; the big-endian
     * one becomes the little-endian layout of its own values. The quantized file gains
     * general.quantization_version = 2 (gguf-py's GGUFWriter did not write it; ferry adds it
     * for files with block types, A1.6), so it is compared after re-reading. */
    for (int i = 0; i < 3; i++) {
        if (!m[i] || !bytes[0]) continue;
        size_t wn;
        int rc;
        uint8_t *w = write_mem(m[i], 0, &wn, &rc);
        CHECK_MSG(rc == 0, "%s: %s", files[i], ferry_ctx_error(g_ctx));
        if (i < 2 && w) {
            uint8_t *want = malloc(len[0]);
            memcpy(want, bytes[0], len[0]);
            if (i == 1 && len[1] == len[0]) {
                for (int64_t k = 0; k < 2; k++) {
                    ferry_tensor_info b = {.struct_size = sizeof b};
                    ferry_model_tensor_info(m[1], k, &b);
                    ferry_tensor_read(m[1], k, 0, want + b.file_offset, (size_t)b.nbytes);
                }
            }
            CHECK_MSG(wn == len[0] && memcmp(w, want, wn) == 0,
                      "%s: rewrite differs (%zu vs %zu bytes)", files[i], wn, len[0]);
            free(want);
        } else if (w) {
            ferry_model *r = accept("quant rewrite", w, wn);
            if (r) {
                const ferry_meta *rm = ferry_model_metadata(r);
                CHECK_EQ_INT(ferry_meta_count(rm), 10);
                CHECK_EQ_STR(ferry_meta_key_at(rm, 9), "general.quantization_version");
                for (int64_t k = 0; k < 9; k++)
                    CHECK(meta_eq(ferry_meta_at(rm, k),
                                  ferry_meta_at(ferry_model_metadata(m[2]), k)));
                CHECK(ferry_model_tensor_count(r) == 4);
                for (int64_t k = 0; k < 4; k++) {
                    ferry_tensor_info a = {.struct_size = sizeof a};
                    ferry_model_tensor_info(m[2], k, &a);
                    const void *x = NULL;
                    const void *y = NULL;
                    CHECK(ferry_tensor_data(m[2], k, &x) == 0 && ferry_tensor_data(r, k, &y) == 0);
                    CHECK(x && y && memcmp(x, y, (size_t)a.nbytes) == 0);
                }
                ferry_model_close(r);
            }
        }
        free(w);
    }
    if (m[2]) {
        static const ferry_dtype want[] = {FERRY_DTYPE_Q8_0, FERRY_DTYPE_Q4_0, FERRY_DTYPE_Q5_1,
                                           FERRY_DTYPE_BF16};
        for (int i = 0; i < 4; i++) {
            ferry_tensor_info ti = {.struct_size = sizeof ti};
            ferry_model_tensor_info(m[2], i, &ti);
            CHECK(ti.dtype == want[i] && (ti.flags & FERRY_TENSOR_ZERO_COPY));
        }
    }
    for (int i = 0; i < 3; i++) {
        ferry_model_close(m[i]);
        free(bytes[i]);
    }
}

TEST(corpus_vocab_files)
{
    const char *d = t_shared("corpus/gguf");
    if (!d) return;
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", d);
    char path[4200];
    snprintf(path, sizeof path,
             "%s/Raudbjorn+ggml-llama.cpp@6381d4e110/models/ggml-vocab-llama.gguf", dir);
    ferry_model *m = NULL;
    CHECK_MSG(ferry_open(g_ctx, path, NULL, &m) == 0, "%s", ferry_ctx_error(g_ctx));
    if (m) {
        CHECK_EQ_STR(ferry_model_format_version(m), "1");
        const ferry_meta *md = ferry_model_metadata(m);
        CHECK_EQ_INT(ferry_meta_count(md), 13);
        const ferry_meta *t = ferry_meta_get(md, "tokenizer.ggml.tokens");
        CHECK_EQ_INT(ferry_meta_count(t), 32000);
        CHECK_EQ_STR(ferry_meta_string(ferry_meta_at(t, 1), NULL), "<s>");
        CHECK(ferry_meta_numtype(ferry_meta_get(md, "tokenizer.ggml.scores")) == FERRY_DTYPE_F32);
        CHECK(ferry_meta_numtype(ferry_meta_get(md, "tokenizer.ggml.token_type")) ==
              FERRY_DTYPE_I32);
        /* v1 written back as v3 reads back identically */
        size_t wn;
        int rc;
        uint8_t *w = write_mem(m, 0, &wn, &rc);
        ferry_model *r = w ? accept("vocab v3", w, wn) : NULL;
        if (r) {
            check_same_model("vocab rewrite", m, r);
            ferry_model_close(r);
        }
        free(w);
        ferry_model_close(m);
    }
    /* The uShure+llama-jni-bridge copies were damaged by a text conversion: bytes that are not
     * valid UTF-8 became EF BF BD. Every one must be refused with the offset of the first
     * field that no longer parses. */
    static const struct {
        const char *name;
        long long off;
    } broken[] = {{"ggml-vocab-bert-bge.gguf", 212},       {"ggml-vocab-deepseek-coder.gguf", 386},
                  {"ggml-vocab-gpt-2.gguf", 339},          {"ggml-vocab-llama-spm.gguf", 399},
                  {"ggml-vocab-phi-3.gguf", 443}};
    for (size_t i = 0; i < FERRY_ARRAY_LEN(broken); i++) {
        snprintf(path, sizeof path, "%s/uShure+llama-jni-bridge@ebd221e4ed/models/%s", dir,
                 broken[i].name);
        struct stat st;
        if (stat(path, &st) != 0) continue;
        m = NULL;
        int rc = ferry_open(g_ctx, path, NULL, &m);
        char want[128];
        snprintf(want, sizeof want, "%s: offset %lld: key length is ", broken[i].name,
                 broken[i].off);
        CHECK_MSG(rc == FERRY_E_CORRUPT && strstr(ferry_ctx_error(g_ctx), want), "%s: %d %s",
                  broken[i].name, rc, ferry_ctx_error(g_ctx));
        ferry_model_close(m);
    }
}

int main(void)
{
    g_ctx = ferry_ctx_new(NULL);
    RUN(reads_default_file);
    RUN(reads_every_kv_type);
    RUN(reads_versions_and_byte_orders);
    RUN(big_endian_block_without_layout_is_listed);
    RUN(unknown_type_ids_are_listed);
    RUN(header_rules);
    RUN(string_rules);
    RUN(array_rules);
    RUN(key_and_type_rules);
    RUN(alignment_rules);
    RUN(tensor_name_rules);
    RUN(shape_rules);
    RUN(type_rules);
    RUN(offset_and_data_rules);
    RUN(every_truncation_fails_cleanly);
    RUN(limits);
    RUN(roundtrip_is_byte_identical);
    RUN(roundtrip_versions_to_canonical_v3);
    RUN(writer_maps_metadata);
    RUN(writer_refuses_what_gguf_cannot_hold);
    RUN(split_sets);
    RUN(vocab_150k_opens_fast);
    RUN(callback_source_matches_mapped);
    RUN(allocation_failures_do_not_leak);
    RUN(corpus_generated_by_gguf_py);
    RUN(corpus_vocab_files);
    ferry_ctx_free(g_ctx);
    return t_finish("gguf");
}
