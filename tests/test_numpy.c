/*
 * test_numpy.c -- the NumPy .npy/.npz module (src/formats/numpy.c) and the Python-literal
 * parser under it (src/parse/pylit.c).
 *
 * .npy files are built here byte by byte (magic, version, length, header text, data), so
 * every rejection rule gets an input that must fail with the right status and a message
 * naming the file and the offset or field, next to the boundary input that must open.
 * Then: every descr, byte order and Fortran order (random-access reads checked against a
 * reference transposition), 0-d / empty / object / structured arrays, npz archives (stored
 * zero-copy, deflated lazily, odd members), writers byte-identical to np.save, round trips,
 * and the real files in the shared corpus.
 */
#include "internal.h"
#include "parse/pylit.h"
#include "parse/zip.h"
#include "t.h"

/* ============================================================================================
 * Helpers
 * ========================================================================================== */

typedef struct buf {
    uint8_t *p;
    size_t   n;
} buf;

static void put(buf *b, const void *d, size_t n)
{
    b->p = realloc(b->p, b->n + n + 1);
    if (n) memcpy(b->p + b->n, d, n);
    b->n += n;
}

/* An .npy: magic, version major.0, the header text padded like numpy (if pad) and data. */
static buf mk_npy(int major, const char *dict, bool pad, const void *data, size_t n)
{
    buf b = {0};
    size_t pre = major == 1 ? 10 : 12, hl = strlen(dict) + (pad ? 1 : 0);
    size_t padn = pad ? 64 - (pre + hl) % 64 : 0;
    if (padn == 64) padn = 0;
    uint8_t h[12] = {0x93, 'N', 'U', 'M', 'P', 'Y', (uint8_t)major, 0};
    if (major == 1)
        ferry__wr16le(h + 8, (uint16_t)(hl + padn));
    else
        ferry__wr32le(h + 8, (uint32_t)(hl + padn));
    put(&b, h, pre);
    put(&b, dict, strlen(dict));
    for (size_t i = 0; i < padn; i++) put(&b, " ", 1);
    if (pad) put(&b, "\n", 1);
    put(&b, data, n);
    return b;
}

static int open_mem(ferry_ctx *ctx, const void *p, size_t n, const char *name, const char *fmt,
                    ferry_model **m)
{
    ferry_source *s;
    *m = NULL;
    if (ferry_source_from_memory(ctx, p, n, name, &s)) return -100;
    int rc = ferry_open_source(ctx, s, fmt, m);
    ferry_source_close(s);
    return rc;
}

static ferry_tensor_info info(ferry_model *m, int64_t i)
{
    ferry_tensor_info ti;
    memset(&ti, 0, sizeof ti);
    ti.struct_size = sizeof ti;
    ferry_model_tensor_info(m, i, &ti);
    return ti;
}

/* The whole tensor through ferry_tensor_read (malloc'd). */
static uint8_t *read_all(ferry_model *m, int64_t i, int *rc)
{
    ferry_tensor_info ti = info(m, i);
    uint8_t *p = malloc(ti.nbytes + 1);
    *rc = ferry_tensor_read(m, i, 0, p, (size_t)ti.nbytes);
    return p;
}

static char last_log[1024];
static int n_logs;
static void log_fn(void *ud, int level, const char *msg)
{
    (void)ud;
    (void)level;
    snprintf(last_log, sizeof last_log, "%s", msg);
    n_logs++;
}

/* Opening "t.npy" built from dict/data fails with `code` and a message naming the file and
 * containing `needle`. */
static void expect_fail_npy(int major, const char *dict, size_t data_len, int code,
                            const char *needle)
{
    uint8_t *data = calloc(1, data_len + 1);
    buf b = mk_npy(major, dict, true, data, data_len);
    ferry_ctx *ctx = ferry_ctx_new(NULL);
    ferry_model *m;
    int rc = open_mem(ctx, b.p, b.n, "t.npy", "npy", &m);
    const char *msg = ferry_ctx_error(ctx);
    CHECK_MSG(rc == code, "%s: rc %d, want %d (%s)", dict, rc, code, msg);
    CHECK_MSG(strstr(msg, "t.npy") != NULL, "%s: message lacks the file: %s", dict, msg);
    CHECK_MSG(strstr(msg, needle) != NULL, "%s: message lacks \"%s\": %s", dict, needle, msg);
    CHECK(m == NULL);
    ferry_model_close(m);
    CHECK_MSG(ctx->allocated == 0, "%s: leaked", dict);
    ferry_ctx_free(ctx);
    free(b.p);
    free(data);
}

static void expect_ok_npy(int major, const char *dict, size_t data_len)
{
    uint8_t *data = calloc(1, data_len + 1);
    buf b = mk_npy(major, dict, true, data, data_len);
    ferry_ctx *ctx = ferry_ctx_new(NULL);
    ferry_model *m;
    int rc = open_mem(ctx, b.p, b.n, "t.npy", "npy", &m);
    CHECK_MSG(rc == 0, "%s: rc %d: %s", dict, rc, ferry_ctx_error(ctx));
    ferry_model_close(m);
    ferry_ctx_free(ctx);
    free(b.p);
    free(data);
}

/* ============================================================================================
 * The literal parser
 * ========================================================================================== */

TEST(pylit_values)
{
    ferry_ctx *ctx = ferry_ctx_new(NULL);
    ferry__py_doc d;
    const char *t = "{'a': (1, -2, +3), \"b\": [True, False, None], u'c': (), 'd': (7), "
                    "'e': ('x',), 'f': 'esc\\n\\x41\\u00e9\\101\\q', 'g': b'\\xff', "
                    "'h': r'raw\\n', 'i': 1_000, 'j': -9223372036854775808, # comment\n"
                    " 'k': {}, 'l': [], }";
    CHECK_EQ_INT(ferry__py_parse(ctx, "w", 0, t, strlen(t), 0, &d), 0);
    const ferry__py_node *root = &d.nodes[0];
    CHECK_EQ_INT(root->kind, FERRY__PY_DICT);
    CHECK_EQ_INT(root->n, 24);
    /* Walk the values in order. */
    int32_t k = root->first;
    const ferry__py_node *v = &d.nodes[d.nodes[k].next];
    CHECK(v->kind == FERRY__PY_TUPLE && v->n == 3);
    CHECK_EQ_INT(d.nodes[d.nodes[v->first].next].i, -2);
    k = d.nodes[d.nodes[k].next].next;
    v = &d.nodes[d.nodes[k].next];
    CHECK(v->kind == FERRY__PY_LIST && v->n == 3);
    CHECK_EQ_INT(d.nodes[v->first].kind, FERRY__PY_BOOL);
    CHECK_EQ_INT(d.nodes[v->first].i, 1);
    k = d.nodes[d.nodes[k].next].next; /* 'c': () */
    CHECK(ferry__py_is_str(&d, &d.nodes[k], "c"));
    CHECK(d.nodes[d.nodes[k].next].kind == FERRY__PY_TUPLE && d.nodes[d.nodes[k].next].n == 0);
    k = d.nodes[d.nodes[k].next].next; /* 'd': (7) is the int 7 */
    CHECK(d.nodes[d.nodes[k].next].kind == FERRY__PY_INT && d.nodes[d.nodes[k].next].i == 7);
    k = d.nodes[d.nodes[k].next].next; /* 'e': ('x',) */
    CHECK(d.nodes[d.nodes[k].next].kind == FERRY__PY_TUPLE && d.nodes[d.nodes[k].next].n == 1);
    k = d.nodes[d.nodes[k].next].next; /* 'f' */
    CHECK_EQ_STR(ferry__py_str(&d, &d.nodes[d.nodes[k].next]), "esc\nA\xc3\xa9" "A\\q");
    k = d.nodes[d.nodes[k].next].next; /* 'g': bytes */
    v = &d.nodes[d.nodes[k].next];
    CHECK(v->kind == FERRY__PY_BYTES && v->str_len == 1 &&
          (uint8_t)ferry__py_str(&d, v)[0] == 0xff);
    k = d.nodes[d.nodes[k].next].next; /* 'h': raw */
    CHECK_EQ_STR(ferry__py_str(&d, &d.nodes[d.nodes[k].next]), "raw\\n");
    k = d.nodes[d.nodes[k].next].next;
    CHECK_EQ_INT(d.nodes[d.nodes[k].next].i, 1000);
    k = d.nodes[d.nodes[k].next].next;
    CHECK_EQ_INT(d.nodes[d.nodes[k].next].i, INT64_MIN);
    ferry__py_free(&d);
    /* Latin-1 text: bytes >= 0x80 become UTF-8; 'L' suffixes on request. */
    const char *l1 = "('\xe9t\xe9', 3L)";
    CHECK_EQ_INT(ferry__py_parse(ctx, "w", 0, l1, strlen(l1),
                                 FERRY__PY_LATIN1 | FERRY__PY_LONG_SUFFIX, &d), 0);
    CHECK_EQ_STR(ferry__py_str(&d, &d.nodes[d.nodes[0].first]), "\xc3\xa9t\xc3\xa9");
    ferry__py_free(&d);
    CHECK_EQ_INT(ferry__py_parse(ctx, "w", 0, l1, strlen(l1), 0, &d), FERRY_E_CORRUPT);
    CHECK_EQ_INT(ctx->allocated, 0);
    ferry_ctx_free(ctx);
}

TEST(pylit_errors)
{
    static const struct {
        const char *text;
        int         code;
        const char *needle;
    } bad[] = {
        {"", FERRY_E_CORRUPT, "expected a value"},
        {"{'a' 1}", FERRY_E_CORRUPT, "expected ':'"},
        {"{'a': 1 'b': 2}", FERRY_E_CORRUPT, "expected ',' or '}'"},
        {"(1, 2", FERRY_E_CORRUPT, "expected ',' or ')'"},
        {"[1,, 2]", FERRY_E_CORRUPT, "expected a value"},
        {"(,)", FERRY_E_CORRUPT, "expected a value"},
        {"'abc", FERRY_E_CORRUPT, "unterminated"},
        {"'ab\ncd'", FERRY_E_CORRUPT, "unterminated"},
        {"'''x'''", FERRY_E_CORRUPT, "triple"},
        {"'a' 'b'", FERRY_E_CORRUPT, "expected the end"},
        {"1.5", FERRY_E_CORRUPT, "floating"},
        {"1e5", FERRY_E_CORRUPT, "floating"},
        {"3j", FERRY_E_CORRUPT, "floating"},
        {"0x10", FERRY_E_CORRUPT, "base prefix"},
        {"007", FERRY_E_CORRUPT, "leading zeros"},
        {"1__0", FERRY_E_CORRUPT, "after '_'"},
        {"99999999999999999999", FERRY_E_CORRUPT, "64-bit"},
        {"-9223372036854775809", FERRY_E_CORRUPT, "64-bit"},
        {"--1", FERRY_E_CORRUPT, "number after the sign"},
        {"foo", FERRY_E_CORRUPT, "name 'foo'"},
        {"true", FERRY_E_CORRUPT, "name 'true'"},
        {"{1, 2}", FERRY_E_CORRUPT, "expected ':'"},
        {"{[1]: 2}", FERRY_E_CORRUPT, "unhashable"},
        {"'\\x4'", FERRY_E_CORRUPT, "hex digits"},
        {"'\\ud800'", FERRY_E_CORRUPT, "surrogate"},
        {"'\\U00110000'", FERRY_E_CORRUPT, "surrogate"},
        {"'\\N{BULLET}'", FERRY_E_CORRUPT, "\\N"},
        {"b'\\777'", FERRY_E_CORRUPT, "octal"},
        {"b'\xc3\xa9'", FERRY_E_CORRUPT, "non-ASCII"},
        {"f'x'", FERRY_E_CORRUPT, "prefix"},
        {"'\xff'", FERRY_E_CORRUPT, "UTF-8"},
        {"'\xed\xa0\x80'", FERRY_E_CORRUPT, "UTF-8"},      /* encoded surrogate */
        {"'\xc0\xaf'", FERRY_E_CORRUPT, "UTF-8"},          /* overlong */
        {"1 \\ 2", FERRY_E_CORRUPT, "newline after"},
        {"(1)x", FERRY_E_CORRUPT, "expected the end"},
        {"5L", FERRY_E_CORRUPT, "expected ','"},            /* no LONG_SUFFIX flag */
    };
    for (size_t k = 0; k < FERRY_ARRAY_LEN(bad); k++) {
        ferry_ctx *ctx = ferry_ctx_new(NULL);
        ferry__py_doc d;
        int rc = ferry__py_parse(ctx, "hdr", 100, bad[k].text, strlen(bad[k].text), 0, &d);
        const char *msg = ferry_ctx_error(ctx);
        CHECK_MSG(rc == bad[k].code, "\"%s\": rc %d (%s)", bad[k].text, rc, msg);
        CHECK_MSG(strstr(msg, "hdr: offset 1") != NULL, "\"%s\": %s", bad[k].text, msg);
        CHECK_MSG(strstr(msg, bad[k].needle) != NULL, "\"%s\": lacks \"%s\": %s", bad[k].text,
                  bad[k].needle, msg);
        CHECK_EQ_INT(ctx->allocated, 0);
        ferry_ctx_free(ctx);
    }
    /* A NUL byte outside a string. */
    {
        ferry_ctx *ctx = ferry_ctx_new(NULL);
        ferry__py_doc d;
        CHECK_EQ_INT(ferry__py_parse(ctx, "hdr", 0, "(1,\0)", 5, 0, &d), FERRY_E_CORRUPT);
        CHECK(strstr(ferry_ctx_error(ctx), "byte 0x00") != NULL);
        ferry_ctx_free(ctx);
    }
    /* Depth: limit metadata_depth, boundary accepted. */
    ferry_ctx *ctx = ferry_ctx_new(NULL);
    ferry_limits lim = {.struct_size = sizeof lim, .metadata_depth = 4};
    ferry_ctx_set_limits(ctx, &lim);
    ferry__py_doc d;
    CHECK_EQ_INT(ferry__py_parse(ctx, "w", 0, "[[[[1]]]]", 9, 0, &d), 0);
    ferry__py_free(&d);
    CHECK_EQ_INT(ferry__py_parse(ctx, "w", 0, "[[[[[1]]]]]", 11, 0, &d), FERRY_E_LIMIT);
    /* Node count: limit metadata_items. */
    lim.metadata_items = 3;
    ferry_ctx_set_limits(ctx, &lim);
    CHECK_EQ_INT(ferry__py_parse(ctx, "w", 0, "(1, 2)", 6, 0, &d), 0);
    ferry__py_free(&d);
    CHECK_EQ_INT(ferry__py_parse(ctx, "w", 0, "(1, 2, 3)", 9, 0, &d), FERRY_E_LIMIT);
    CHECK_EQ_INT(ctx->allocated, 0);
    ferry_ctx_free(ctx);
}

/* ============================================================================================
 * .npy: positive vectors
 * ========================================================================================== */

TEST(every_descr)
{
    static const struct {
        const char *descr;
        ferry_dtype dt;
        uint32_t    size;   /* element bytes */
        uint32_t    swap;   /* unit swapped for big-endian */
        int         status;
    } cases[] = {
        {"|b1", FERRY_DTYPE_BOOL, 1, 0, 0},   {"|i1", FERRY_DTYPE_I8, 1, 0, 0},
        {"<i2", FERRY_DTYPE_I16, 2, 0, 0},    {"<i4", FERRY_DTYPE_I32, 4, 0, 0},
        {"<i8", FERRY_DTYPE_I64, 8, 0, 0},    {"|u1", FERRY_DTYPE_U8, 1, 0, 0},
        {"<u2", FERRY_DTYPE_U16, 2, 0, 0},    {"<u4", FERRY_DTYPE_U32, 4, 0, 0},
        {"<u8", FERRY_DTYPE_U64, 8, 0, 0},    {"<f2", FERRY_DTYPE_F16, 2, 0, 0},
        {"<f4", FERRY_DTYPE_F32, 4, 0, 0},    {"<f8", FERRY_DTYPE_F64, 8, 0, 0},
        {"<c8", FERRY_DTYPE_C64, 8, 0, 0},    {"<c16", FERRY_DTYPE_C128, 16, 0, 0},
        {"|S5", FERRY_DTYPE_BYTES_FIXED, 5, 0, 0}, {"<U3", FERRY_DTYPE_UCS4_FIXED, 12, 0, 0},
        {"<M8[ns]", FERRY_DTYPE_DATETIME64, 8, 0, 0},
        {"<m8[25s]", FERRY_DTYPE_TIMEDELTA64, 8, 0, 0},
        {"<M8", FERRY_DTYPE_DATETIME64, 8, 0, 0}, {"=f4", FERRY_DTYPE_F32, 4, 0, 0},
        {"f4", FERRY_DTYPE_F32, 4, 0, 0},     {"<u1", FERRY_DTYPE_U8, 1, 0, 0},
        {"|a2", FERRY_DTYPE_BYTES_FIXED, 2, 0, 0},
        {">i2", FERRY_DTYPE_I16, 2, 2, 0},    {">i4", FERRY_DTYPE_I32, 4, 4, 0},
        {">u8", FERRY_DTYPE_U64, 8, 8, 0},    {">f2", FERRY_DTYPE_F16, 2, 2, 0},
        {">f8", FERRY_DTYPE_F64, 8, 8, 0},    {">c8", FERRY_DTYPE_C64, 8, 4, 0},
        {">c16", FERRY_DTYPE_C128, 16, 8, 0}, {">U2", FERRY_DTYPE_UCS4_FIXED, 8, 4, 0},
        {">M8[D]", FERRY_DTYPE_DATETIME64, 8, 8, 0}, {">S3", FERRY_DTYPE_BYTES_FIXED, 3, 0, 0},
        {">i1", FERRY_DTYPE_I8, 1, 0, 0},
        {"|V4", FERRY_DTYPE_OPAQUE, 4, 0, 1}, {"<f16", FERRY_DTYPE_OPAQUE, 16, 0, 1},
        {"<c32", FERRY_DTYPE_OPAQUE, 32, 0, 1}, {"<f12", FERRY_DTYPE_OPAQUE, 12, 0, 1},
    };
    for (size_t c = 0; c < FERRY_ARRAY_LEN(cases); c++) {
        char dict[160];
        snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (2, 3), }",
                 cases[c].descr);
        size_t n = 6u * cases[c].size;
        uint8_t *data = malloc(n);
        for (size_t k = 0; k < n; k++) data[k] = (uint8_t)(k * 7 + 1);
        buf b = mk_npy(1, dict, true, data, n);
        ferry_ctx *ctx = ferry_ctx_new(NULL);
        ferry_model *m;
        int rc = open_mem(ctx, b.p, b.n, "dir/weights.npy", NULL, &m);
        CHECK_MSG(rc == 0, "%s: %s", cases[c].descr, ferry_ctx_error(ctx));
        if (rc == 0) {
            CHECK_EQ_STR(ferry_model_format(m), "npy");
            CHECK_EQ_STR(ferry_model_format_version(m), "1.0");
            ferry_tensor_info ti = info(m, 0);
            CHECK_EQ_STR(ti.name, "weights");
            CHECK_MSG(ti.dtype == cases[c].dt, "%s: dtype %d", cases[c].descr, ti.dtype);
            CHECK_EQ_STR(ti.native_dtype, cases[c].descr);
            CHECK(ti.ndim == 2 && ti.shape[0] == 2 && ti.shape[1] == 3 && ti.nelems == 6);
            CHECK_EQ_INT(ti.nbytes, n);
            CHECK_EQ_INT(ti.status, cases[c].status);
            CHECK_EQ_INT(ti.file_offset, 128);
            if (cases[c].dt == FERRY_DTYPE_BYTES_FIXED || cases[c].dt == FERRY_DTYPE_UCS4_FIXED ||
                cases[c].dt == FERRY_DTYPE_OPAQUE)
                CHECK_EQ_INT(ti.itemsize, cases[c].size);
            if (cases[c].status == 0) {
                uint8_t *got = read_all(m, 0, &rc);
                CHECK_EQ_INT(rc, 0);
                uint8_t *want = malloc(n);
                memcpy(want, data, n);
                if (cases[c].swap) ferry__byteswap(want, cases[c].swap, n / cases[c].swap);
                CHECK_MSG(memcmp(got, want, n) == 0, "%s: bytes differ", cases[c].descr);
                CHECK_EQ_INT(!!(ti.flags & FERRY_TENSOR_CONVERTED), cases[c].swap != 0);
                CHECK_EQ_INT(!!(ti.flags & FERRY_TENSOR_ZERO_COPY), cases[c].swap == 0);
                const void *p;
                CHECK_EQ_INT(ferry_tensor_data(m, 0, &p),
                             cases[c].swap ? FERRY_E_UNSUPPORTED : 0);
                if (!cases[c].swap) CHECK(p == b.p + 128);
                /* Unaligned partial reads agree with the whole. */
                for (size_t off = 0; off < n; off += 3) {
                    size_t len = n - off < 5 ? n - off : 5;
                    uint8_t part[8];
                    CHECK_EQ_INT(ferry_tensor_read(m, 0, off, part, len), 0);
                    CHECK(memcmp(part, want + off, len) == 0);
                }
                free(want);
                free(got);
            } else {
                uint8_t x;
                CHECK_EQ_INT(ferry_tensor_read(m, 0, 0, &x, 1), FERRY_E_NOTPLAIN);
            }
            ferry_model_close(m);
        }
        CHECK_EQ_INT(ctx->allocated, 0);
        ferry_ctx_free(ctx);
        free(b.p);
        free(data);
    }
}

/* Reference: the C-order bytes of an array stored in Fortran order. */
static void transpose_ref(const uint8_t *f, uint8_t *c, const int64_t *shape, int nd, size_t E)
{
    size_t total = 1;
    for (int k = 0; k < nd; k++) total *= (size_t)shape[k];
    for (size_t e = 0; e < total; e++) {
        size_t rem = e, fi = 0, stride = 1;
        size_t idx[8];
        for (int k = nd - 1; k >= 0; k--) {
            idx[k] = rem % (size_t)shape[k];
            rem /= (size_t)shape[k];
        }
        for (int k = 0; k < nd; k++) {
            fi += idx[k] * stride;
            stride *= (size_t)shape[k];
        }
        memcpy(c + e * E, f + fi * E, E);
    }
}

static void check_fortran(const char *descr, const int64_t *shape, int nd, size_t E,
                          size_t swap, bool converted)
{
    char dict[200], sh[64] = "";
    size_t total = 1;
    for (int k = 0; k < nd; k++) {
        snprintf(sh + strlen(sh), sizeof sh - strlen(sh), "%lld, ", (long long)shape[k]);
        total *= (size_t)shape[k];
    }
    snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': True, 'shape': (%s), }",
             descr, sh);
    size_t n = total * E;
    uint8_t *f = malloc(n), *want = malloc(n);
    for (size_t k = 0; k < n; k++) f[k] = (uint8_t)(k * 13 + 5);
    transpose_ref(f, want, shape, nd, E);
    if (swap) ferry__byteswap(want, swap, n / swap);
    buf b = mk_npy(1, dict, true, f, n);
    ferry_ctx *ctx = ferry_ctx_new(NULL);
    ferry_model *m;
    CHECK_EQ_INT(open_mem(ctx, b.p, b.n, "f.npy", NULL, &m), 0);
    ferry_tensor_info ti = info(m, 0);
    CHECK_EQ_INT(!!(ti.flags & FERRY_TENSOR_CONVERTED), converted);
    /* Every (offset, length) pair over the array. */
    uint8_t *got = malloc(n + 1);
    int bad = 0;
    for (size_t off = 0; off <= n; off++)
        for (size_t len = 0; off + len <= n; len += 1 + len / 3) {
            if (ferry_tensor_read(m, 0, off, got, len) != 0 || memcmp(got, want + off, len))
                bad++;
        }
    CHECK_MSG(bad == 0, "%s: %d partial reads differ", descr, bad);
    /* read_as through conversion agrees too. */
    ferry_model_close(m);
    CHECK_EQ_INT(ctx->allocated, 0);
    ferry_ctx_free(ctx);
    free(got);
    free(f);
    free(want);
    free(b.p);
}

TEST(fortran_and_byte_order)
{
    int64_t s234[3] = {2, 3, 4}, s35[2] = {3, 5}, s15[2] = {1, 5}, s5141[4] = {5, 1, 4, 1};
    int64_t s1[1] = {7};
    check_fortran("<i4", s234, 3, 4, 0, true);
    check_fortran(">i2", s35, 2, 2, 2, true);
    check_fortran(">c16", s35, 2, 16, 8, true);
    check_fortran("|S3", s234, 3, 3, 0, true);
    check_fortran(">U2", s35, 2, 8, 4, true);
    check_fortran("<f8", s5141, 4, 8, 0, true);
    /* At most one axis longer than 1: the same bytes as C order, zero-copy. */
    check_fortran("<f4", s15, 2, 4, 0, false);
    check_fortran("<f4", s1, 1, 4, 0, false);
}

TEST(zero_d_empty_object)
{
    ferry_ctx *ctx = ferry_ctx_new(NULL);
    ferry_model *m;
    /* 0-d */
    uint16_t h = 0x3e00; /* 1.5 */
    buf b = mk_npy(1, "{'descr': '<f2', 'fortran_order': False, 'shape': (), }", true, &h, 2);
    CHECK_EQ_INT(open_mem(ctx, b.p, b.n, "x.NPY", NULL, &m), 0);
    ferry_tensor_info ti = info(m, 0);
    CHECK_EQ_STR(ti.name, "x");
    CHECK(ti.ndim == 0 && ti.nelems == 1 && ti.nbytes == 2);
    float f;
    CHECK_EQ_INT(ferry_tensor_read_as(m, 0, 0, 1, FERRY_DTYPE_F32, &f), 0);
    CHECK(f == 1.5f);
    ferry_model_close(m);
    free(b.p);
    /* empty, and a nameless memory source gives "array" */
    b = mk_npy(1, "{'descr': '|u1', 'fortran_order': True, 'shape': (0, 3), }", true, NULL, 0);
    ferry_source *s;
    ferry_source_from_memory(ctx, b.p, b.n, NULL, &s);
    CHECK_EQ_INT(ferry_open_source(ctx, s, NULL, &m), 0);
    ferry_source_close(s);
    ti = info(m, 0);
    CHECK_EQ_STR(ti.name, "array");
    CHECK(ti.nbytes == 0 && ti.nelems == 0 && ti.status == FERRY_TENSOR_PLAIN);
    const void *p;
    CHECK_EQ_INT(ferry_tensor_data(m, 0, &p), 0);
    CHECK_EQ_INT(ferry_tensor_read(m, 0, 0, NULL, 0), 0);
    ferry_model_close(m);
    free(b.p);
    /* object array: listed, never read, a note in the metadata, the pickle's offset known */
    ferry_ctx_set_log(ctx, log_fn, NULL);
    static const uint8_t pickle[] = {0x80, 0x03, 'c', 'o', 's', '\n', 's', 'y', 's', 't', 'e',
                                     'm', '\n', '.'};
    b = mk_npy(1, "{'descr': '|O', 'fortran_order': False, 'shape': (2,), }", true, pickle,
               sizeof pickle);
    CHECK_EQ_INT(open_mem(ctx, b.p, b.n, "obj.npy", NULL, &m), 0);
    ti = info(m, 0);
    CHECK(ti.status == FERRY_TENSOR_NOT_PLAIN && ti.dtype == FERRY_DTYPE_OPAQUE);
    CHECK(ti.nbytes == 0 && ti.file_offset == 128);
    CHECK_EQ_STR(ti.native_dtype, "|O");
    uint8_t x;
    CHECK_EQ_INT(ferry_tensor_read(m, 0, 0, &x, 1), FERRY_E_NOTPLAIN);
    CHECK_EQ_INT(ferry_tensor_data(m, 0, &p), FERRY_E_NOTPLAIN);
    const ferry_meta *notes = ferry_meta_get(ferry_model_metadata(m), "notes");
    CHECK(notes && ferry_meta_get(notes, "obj"));
    CHECK_EQ_STR(ferry_meta_string(ferry_meta_get(notes, "obj"), NULL),
                 "object array: holds a pickle; not read");
    CHECK(strstr(last_log, "holds a pickle") != NULL);
    /* Writing it skips the object array: nothing left for a .npy. */
    ferry_sink *sink;
    ferry_sink_open_memory(ctx, &sink);
    ferry_write_options o = {.struct_size = sizeof o, .format = "npy"};
    CHECK_EQ_INT(ferry_write_sink(m, sink, &o), FERRY_E_UNSUPPORTED);
    ferry_sink_abort(sink);
    ferry_model_close(m);
    free(b.p);
    CHECK_EQ_INT(ctx->allocated, 0);
    ferry_ctx_free(ctx);
}

TEST(structured)
{
    static const struct {
        const char *descr;
        uint32_t    itemsize;
        bool        object;
    } ok[] = {
        {"[('a', '<i8'), ('b', '<f4'), ('c', '|S2')]", 14, false},
        {"[('x', [('y', '<i2'), ('z', '|u1', (3,))]), ('w', '<f8', 2)]", 21, false},
        {"[(('title', 'n'), '<i4')]", 4, false},
        {"[('a', '|u1'), ('', '|V3'), ('b', '<i4')]", 8, false},
        {"[('m', '<f4', (2, 3))]", 24, false},
        {"[('o', '|O'), ('i', '<i4')]", 12, true},
        {"[('n', [('o', '|O8')])]", 8, true},
        {"[]", 0, false},
        {"[(u'\xe9t\xe9', '<f8')]", 8, false},
    };
    for (size_t c = 0; c < FERRY_ARRAY_LEN(ok); c++) {
        char dict[256];
        snprintf(dict, sizeof dict, "{'descr': %s, 'fortran_order': False, 'shape': (2,), }",
                 ok[c].descr);
        uint8_t data[64] = {0};
        buf b = mk_npy(1, dict, true, data, 2 * ok[c].itemsize);
        ferry_ctx *ctx = ferry_ctx_new(NULL);
        ferry_model *m;
        int rc = open_mem(ctx, b.p, b.n, "s.npy", NULL, &m);
        CHECK_MSG(rc == 0, "%s: %s", ok[c].descr, ferry_ctx_error(ctx));
        if (rc == 0) {
            ferry_tensor_info ti = info(m, 0);
            CHECK(ti.status == FERRY_TENSOR_NOT_PLAIN && ti.dtype == FERRY_DTYPE_OPAQUE);
            CHECK_MSG(ti.itemsize == ok[c].itemsize, "%s: itemsize %u", ok[c].descr,
                      ti.itemsize);
            CHECK_EQ_INT(ti.nbytes, ok[c].object ? 0 : 2 * ok[c].itemsize);
            if (c < 8) CHECK_EQ_STR(ti.native_dtype, ok[c].descr);
            CHECK_EQ_INT(!!ferry_meta_get(ferry_model_metadata(m), "notes"), ok[c].object);
            ferry_model_close(m);
        }
        ferry_ctx_free(ctx);
        free(b.p);
    }
    /* The latin-1 field name comes out as UTF-8 text. */
    {
        buf b = mk_npy(1, "{'descr': [('\xe9', '<i2')], 'fortran_order': False, 'shape': (1,), }",
                       true, "ab", 2);
        ferry_ctx *ctx = ferry_ctx_new(NULL);
        ferry_model *m;
        CHECK_EQ_INT(open_mem(ctx, b.p, b.n, "s.npy", NULL, &m), 0);
        CHECK_EQ_STR(info(m, 0).native_dtype, "[('\xc3\xa9', '<i2')]");
        ferry_model_close(m);
        ferry_ctx_free(ctx);
        free(b.p);
    }
    static const char *bad[] = {
        "[('a', '<q4')]", "[('a',)]", "[('a', '<i4', (2,), 1)]", "[(1, '<i4')]",
        "[('a', '<i4', (-1,))]", "[('a', '<i4', ('x',))]", "['<i4']", "[('a', ('<i4', 2))]",
        "[('a', '<i4', (4294967296, 2))]",
    };
    for (size_t c = 0; c < FERRY_ARRAY_LEN(bad); c++) {
        char dict[256];
        snprintf(dict, sizeof dict, "{'descr': %s, 'fortran_order': False, 'shape': (2,), }",
                 bad[c]);
        expect_fail_npy(1, dict, 64, FERRY_E_CORRUPT, "offset");
    }
    /* Structured data shorter than shape x itemsize. */
    expect_fail_npy(1, "{'descr': [('a', '<i8')], 'fortran_order': False, 'shape': (2,), }", 15,
                    FERRY_E_CORRUPT, "array data needs 16 bytes");
    expect_ok_npy(1, "{'descr': [('a', '<i8')], 'fortran_order': False, 'shape': (2,), }", 16);
}

TEST(header_quirks)
{
    /* Python 2 'L' suffixes in v1/v2 headers (numpy filters them); not in v3. */
    expect_ok_npy(1, "{'descr': '<i8', 'fortran_order': False, 'shape': (3L, 2L), }", 48);
    expect_ok_npy(2, "{'descr': '<i8', 'fortran_order': False, 'shape': (3L,), }", 24);
    expect_fail_npy(3, "{'descr': '<i8', 'fortran_order': False, 'shape': (3L,), }", 24,
                    FERRY_E_CORRUPT, "offset");
    /* Quotes, prefixes, comments, line breaks, key order, no trailing comma. */
    expect_ok_npy(1, "{\"shape\": (2,), u'descr': \"<i4\",\n 'fortran_order': False}  # c", 8);
    expect_ok_npy(3, "{'descr': '<i4', 'fortran_order': False, 'shape': (2,)}", 8);
    /* A repeated key: the last one wins, as in a Python dict. */
    {
        buf b = mk_npy(1, "{'descr': '<i4', 'fortran_order': False, 'shape': (9,), "
                          "'shape': (2,), }", true, "12345678", 8);
        ferry_ctx *ctx = ferry_ctx_new(NULL);
        ferry_model *m;
        CHECK_EQ_INT(open_mem(ctx, b.p, b.n, "t.npy", NULL, &m), 0);
        CHECK_EQ_INT(info(m, 0).shape[0], 2);
        ferry_model_close(m);
        ferry_ctx_free(ctx);
        free(b.p);
    }
    /* Unpadded header, data at an unaligned offset. */
    {
        const char *d = "{'descr': '<u2', 'fortran_order': False, 'shape': (3,)}";
        buf b = mk_npy(1, d, false, "\x01\x00\x02\x00\x03\x00", 6);
        ferry_ctx *ctx = ferry_ctx_new(NULL);
        ferry_model *m;
        CHECK_EQ_INT(open_mem(ctx, b.p, b.n, "t.npy", NULL, &m), 0);
        CHECK_EQ_INT(info(m, 0).file_offset, 10 + strlen(d));
        int rc;
        uint8_t *p = read_all(m, 0, &rc);
        CHECK(rc == 0 && p[4] == 3);
        free(p);
        ferry_model_close(m);
        ferry_ctx_free(ctx);
        free(b.p);
    }
    /* Trailing bytes after the data are accepted (numpy ignores them) with a warning. */
    {
        buf b = mk_npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }", true,
                       "0123456789abcdef", 16);
        ferry_ctx *ctx = ferry_ctx_new(NULL);
        ferry_ctx_set_log(ctx, log_fn, NULL);
        ferry_model *m;
        n_logs = 0;
        CHECK_EQ_INT(open_mem(ctx, b.p, b.n, "t.npy", NULL, &m), 0);
        CHECK(n_logs == 1 && strstr(last_log, "4 bytes after the array data") != NULL);
        ferry_model_close(m);
        ferry_ctx_free(ctx);
        free(b.p);
    }
}

/* ============================================================================================
 * .npy: corruption matrix
 * ========================================================================================== */

static void expect_fail_bytes(const void *p, size_t n, int code, const char *needle)
{
    ferry_ctx *ctx = ferry_ctx_new(NULL);
    ferry_model *m;
    int rc = open_mem(ctx, p, n, "t.npy", "npy", &m);
    const char *msg = ferry_ctx_error(ctx);
    CHECK_MSG(rc == code, "rc %d, want %d (%s)", rc, code, msg);
    CHECK_MSG(strstr(msg, "t.npy") && strstr(msg, needle), "message: %s (want %s)", msg,
              needle);
    ferry_model_close(m);
    CHECK_EQ_INT(ctx->allocated, 0);
    ferry_ctx_free(ctx);
}

TEST(matrix_prelude)
{
    const char *d = "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }";
    buf good = mk_npy(1, d, true, "abcdefgh", 8);
    buf m = {0};
    put(&m, good.p, good.n);
    /* Bad magic. */
    m.p[5] = 'X';
    expect_fail_bytes(m.p, m.n, FERRY_E_CORRUPT, "offset 0");
    m.p[5] = 'Y';
    /* Too short for the magic and version. */
    expect_fail_bytes(m.p, 7, FERRY_E_CORRUPT, "offset 0");
    /* Versions: 0.0, 1.1 corrupt; 4.0 unsupported; 2.0 and 3.0 fine (tested below). */
    m.p[6] = 0;
    expect_fail_bytes(m.p, m.n, FERRY_E_CORRUPT, "offset 6");
    m.p[6] = 1;
    m.p[7] = 1;
    expect_fail_bytes(m.p, m.n, FERRY_E_CORRUPT, "offset 6");
    m.p[6] = 4;
    m.p[7] = 0;
    expect_fail_bytes(m.p, m.n, FERRY_E_UNSUPPORTED, "version 4.0");
    m.p[6] = 1;
    /* Length field cut off. */
    expect_fail_bytes(m.p, 9, FERRY_E_CORRUPT, "offset 8");
    buf v2 = mk_npy(2, d, true, "abcdefgh", 8);
    expect_fail_bytes(v2.p, 11, FERRY_E_CORRUPT, "offset 8");
    expect_ok_npy(2, d, 8);
    expect_ok_npy(3, d, 8);
    /* Header length past the end of the file; boundary: exactly to the end. */
    buf e = mk_npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (0,), }", true, NULL, 0);
    ferry__wr16le(e.p + 8, (uint16_t)(ferry__rd16le(e.p + 8) + 1));
    expect_fail_bytes(e.p, e.n, FERRY_E_CORRUPT, "offset 8");
    ferry__wr16le(e.p + 8, (uint16_t)(ferry__rd16le(e.p + 8) - 1));
    {
        ferry_ctx *ctx = ferry_ctx_new(NULL);
        ferry_model *mm;
        CHECK_EQ_INT(open_mem(ctx, e.p, e.n, "t.npy", "npy", &mm), 0);
        ferry_model_close(mm);
        /* Header over limits.header_bytes; boundary equal. */
        ferry_limits lim = {.struct_size = sizeof lim, .header_bytes = e.n - 11};
        ferry_ctx_set_limits(ctx, &lim);
        CHECK_EQ_INT(open_mem(ctx, e.p, e.n, "t.npy", "npy", &mm), FERRY_E_LIMIT);
        CHECK(strstr(ferry_ctx_error(ctx), "header_bytes") != NULL);
        lim.header_bytes = e.n - 10;
        ferry_ctx_set_limits(ctx, &lim);
        CHECK_EQ_INT(open_mem(ctx, e.p, e.n, "t.npy", "npy", &mm), 0);
        ferry_model_close(mm);
        ferry_ctx_free(ctx);
    }
    free(e.p);
    free(v2.p);
    free(m.p);
    free(good.p);
}

TEST(matrix_header)
{
    static const struct {
        const char *dict;
        int         code;
        const char *needle;
    } bad[] = {
        /* malformed literals */
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2,), ", FERRY_E_CORRUPT, "offset"},
        {"{'descr' '<f4', 'fortran_order': False, 'shape': (2,), }", FERRY_E_CORRUPT, "offset 19"},
        {"{'descr': '<f4 'fortran_order': False, 'shape': (2,), }", FERRY_E_CORRUPT, "offset"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2.0,), }", FERRY_E_CORRUPT,
         "floating"},
        {"{'descr': '<f4', 'fortran_order': false, 'shape': (2,), }", FERRY_E_CORRUPT,
         "name 'false'"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2,), } x", FERRY_E_CORRUPT,
         "expected the end"},
        /* not a dict, keys */
        {"[('descr', '<f4')]", FERRY_E_CORRUPT, "header is a list"},
        {"{'descr': '<f4', 'shape': (2,), }", FERRY_E_CORRUPT, "missing key 'fortran_order'"},
        {"{'fortran_order': False, 'shape': (2,), }", FERRY_E_CORRUPT, "missing key 'descr'"},
        {"{'descr': '<f4', 'fortran_order': False, }", FERRY_E_CORRUPT, "missing key 'shape'"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'x': 1, }", FERRY_E_CORRUPT,
         "unexpected header key 'x'"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 5: 1, }", FERRY_E_CORRUPT,
         "unexpected header key 5"},
        {"{b'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", FERRY_E_CORRUPT,
         "unexpected header key"},
        /* values */
        {"{'descr': '<f4', 'fortran_order': 0, 'shape': (2,), }", FERRY_E_CORRUPT,
         "fortran_order is a int"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': [2], }", FERRY_E_CORRUPT,
         "shape is a list"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2), }", FERRY_E_CORRUPT,
         "shape is a int"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (True,), }", FERRY_E_CORRUPT,
         "dimension 0 is a bool"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, -1), }", FERRY_E_CORRUPT,
         "dimension 1 is -1"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (4611686018427387904, 4), }",
         FERRY_E_CORRUPT, "2^63"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2305843009213693952, 2), }",
         FERRY_E_CORRUPT, "overflows"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,), }",
         FERRY_E_CORRUPT, "64-bit"},
        /* descrs */
        {"{'descr': '<f3', 'fortran_order': False, 'shape': (2,), }", FERRY_E_CORRUPT,
         "descr '<f3'"},
        {"{'descr': '<x4', 'fortran_order': False, 'shape': (2,), }", FERRY_E_CORRUPT, "descr"},
        {"{'descr': 'float32', 'fortran_order': False, 'shape': (2,), }", FERRY_E_CORRUPT,
         "descr"},
        {"{'descr': '<i16', 'fortran_order': False, 'shape': (2,), }", FERRY_E_CORRUPT, "descr"},
        {"{'descr': '|b2', 'fortran_order': False, 'shape': (2,), }", FERRY_E_CORRUPT, "descr"},
        {"{'descr': '<M8[zz]', 'fortran_order': False, 'shape': (2,), }", FERRY_E_CORRUPT,
         "descr"},
        {"{'descr': '<M4', 'fortran_order': False, 'shape': (2,), }", FERRY_E_CORRUPT, "descr"},
        {"{'descr': '<f4[ns]', 'fortran_order': False, 'shape': (2,), }", FERRY_E_CORRUPT,
         "descr"},
        {"{'descr': '', 'fortran_order': False, 'shape': (2,), }", FERRY_E_CORRUPT, "descr"},
        {"{'descr': '<', 'fortran_order': False, 'shape': (2,), }", FERRY_E_CORRUPT, "descr"},
        {"{'descr': '|S', 'fortran_order': False, 'shape': (2,), }", FERRY_E_CORRUPT, "descr"},
        {"{'descr': '|O2', 'fortran_order': False, 'shape': (2,), }", FERRY_E_CORRUPT, "descr"},
        {"{'descr': 4, 'fortran_order': False, 'shape': (2,), }", FERRY_E_CORRUPT,
         "descr is a int"},
        {"{'descr': ('<f4', (2,)), 'fortran_order': False, 'shape': (2,), }", FERRY_E_CORRUPT,
         "descr is a tuple"},
        {"{'descr': '<U4294967296', 'fortran_order': False, 'shape': (2,), }", FERRY_E_CORRUPT,
         "descr"},
    };
    for (size_t k = 0; k < FERRY_ARRAY_LEN(bad); k++)
        expect_fail_npy(1, bad[k].dict, 64, bad[k].code, bad[k].needle);
    /* v3 headers must be UTF-8. */
    expect_fail_npy(3, "{'descr': [('\xe9', '<f8')], 'fortran_order': False, 'shape': (1,), }", 8,
                    FERRY_E_CORRUPT, "UTF-8");
    expect_ok_npy(3, "{'descr': [('\xc3\xa9', '<f8')], 'fortran_order': False, 'shape': (1,), }",
                  8);
    /* Dimensions over limits.dims; boundary equal. */
    {
        char dict[400] = "{'descr': '|u1', 'fortran_order': False, 'shape': (";
        for (int k = 0; k < 65; k++) strcat(dict, "1, ");
        strcat(dict, "), }");
        expect_fail_npy(1, dict, 1, FERRY_E_LIMIT, "limit dims");
        char *last = strstr(dict, "1, ), }");
        memmove(last, last + 3, strlen(last + 3) + 1);
        expect_ok_npy(1, dict, 1);
    }
    /* Nesting over limits.metadata_depth. */
    {
        char dict[600] = "{'descr': '<f4', 'fortran_order': False, 'shape': ";
        for (int k = 0; k < 70; k++) strcat(dict, "[");
        for (int k = 0; k < 70; k++) strcat(dict, "]");
        strcat(dict, ", }");
        expect_fail_npy(1, dict, 1, FERRY_E_LIMIT, "metadata_depth");
    }
    /* Data shorter than shape x itemsize; boundary exact. */
    expect_fail_npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }", 11,
                    FERRY_E_CORRUPT, "offset 128: array data needs 12 bytes");
    expect_ok_npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }", 12);
    expect_fail_npy(1, "{'descr': '<U2', 'fortran_order': False, 'shape': (2, 2), }", 31,
                    FERRY_E_CORRUPT, "needs 32 bytes");
}

/* ============================================================================================
 * .npz
 * ========================================================================================== */

typedef struct member {
    const char *name;
    int         method;
    buf         data;
} member;

/* Builds an npz with the zip writer (method per member). */
static buf mk_npz(member *mem, int n)
{
    ferry_ctx *ctx = ferry_ctx_new(NULL);
    ferry_sink *sink;
    ferry_sink_open_memory(ctx, &sink);
    ferry__zip_writer *w;
    ferry__zip_writer_new(ctx, sink, 0, &w);
    for (int i = 0; i < n; i++) {
        ferry__zip_writer_begin(w, mem[i].name, strlen(mem[i].name), mem[i].method,
                                mem[i].data.n, 0);
        ferry__zip_writer_write(w, mem[i].data.p, mem[i].data.n);
        ferry__zip_writer_end(w);
    }
    ferry__zip_writer_finish(w);
    ferry__zip_writer_free(w);
    size_t len;
    const void *p = ferry_sink_memory(sink, &len);
    buf out = {0};
    put(&out, p, len);
    ferry_sink_abort(sink);
    ferry_ctx_free(ctx);
    return out;
}

static buf i32_npy(int count, int start, bool fortran_2d)
{
    int32_t v[64];
    for (int k = 0; k < count; k++) v[k] = start + k;
    char dict[128];
    if (fortran_2d)
        snprintf(dict, sizeof dict, "{'descr': '<i4', 'fortran_order': True, 'shape': (2, %d), }",
                 count / 2);
    else
        snprintf(dict, sizeof dict, "{'descr': '<i4', 'fortran_order': False, 'shape': (%d,), }",
                 count);
    return mk_npy(1, dict, true, v, sizeof(int32_t) * (size_t)count);
}

TEST(npz_read)
{
    member mem[5] = {
        {"a.npy", 0, i32_npy(6, 0, false)},
        {"sub/b.npy", 8, i32_npy(8, 100, false)},
        {"c.npy", 8, i32_npy(6, 200, true)},
        {"notes.txt", 0, {0}},
        {"raw", 0, i32_npy(2, 300, false)},
    };
    put(&mem[3].data, "hello", 5);
    buf z = mk_npz(mem, 5);
    ferry_ctx *ctx = ferry_ctx_new(NULL);
    ferry_ctx_set_log(ctx, log_fn, NULL);
    ferry_model *m;
    n_logs = 0;
    /* Not all members are *.npy: not detected as npz, but opens as one when named. */
    CHECK_EQ_INT(open_mem(ctx, z.p, z.n, "t.npz", NULL, &m), FERRY_E_UNKNOWN_FORMAT);
    CHECK_EQ_INT(open_mem(ctx, z.p, z.n, "t.npz", "npz", &m), 0);
    CHECK_EQ_STR(ferry_model_format(m), "npz");
    CHECK_EQ_INT(ferry_model_tensor_count(m), 4);
    CHECK(n_logs == 1 && strstr(last_log, "notes.txt") != NULL);
    CHECK_EQ_INT(ferry_model_find_tensor(m, "a"), 0);
    CHECK_EQ_INT(ferry_model_find_tensor(m, "sub/b"), 1);
    CHECK_EQ_INT(ferry_model_find_tensor(m, "c"), 2);
    CHECK_EQ_INT(ferry_model_find_tensor(m, "raw"), 3);
    ferry_tensor_info a = info(m, 0), b = info(m, 1), c = info(m, 2);
    CHECK(a.flags & FERRY_TENSOR_ZERO_COPY);
    CHECK(a.file_offset > 0 && a.file && strcmp(a.file, "t.npz") == 0);
    CHECK(!(b.flags & FERRY_TENSOR_ZERO_COPY) && b.file_offset == -1);
    CHECK(c.flags & FERRY_TENSOR_CONVERTED);
    /* Reads alternate between deflated members: each is inflated again when needed. */
    int32_t v[8];
    for (int round = 0; round < 2; round++) {
        CHECK_EQ_INT(ferry_tensor_read(m, 1, 4, v, 8), 0);
        CHECK(v[0] == 101 && v[1] == 102);
        CHECK_EQ_INT(ferry_tensor_read(m, 2, 0, v, 24), 0);
        /* (2, 3) stored column-major: C order is 200, 202, 204, 201, 203, 205 */
        CHECK(v[0] == 200 && v[1] == 202 && v[2] == 204 && v[3] == 201 && v[5] == 205);
        CHECK_EQ_INT(ferry_tensor_read(m, 0, 0, v, 24), 0);
        CHECK(v[0] == 0 && v[5] == 5);
        CHECK_EQ_INT(ferry_tensor_read(m, 3, 0, v, 8), 0);
        CHECK(v[0] == 300 && v[1] == 301);
    }
    ferry_model_close(m);
    /* An unnamed memory source works. */
    CHECK_EQ_INT(open_mem(ctx, z.p, z.n, NULL, "npz", &m), 0);
    ferry_model_close(m);
    /* All members *.npy: detected by content, whatever the name. */
    member only[2] = {{"p.npy", 8, i32_npy(4, 0, false)}, {"q.npy", 0, i32_npy(4, 0, false)}};
    buf z2 = mk_npz(only, 2);
    CHECK_EQ_INT(open_mem(ctx, z2.p, z2.n, "noext", NULL, &m), 0);
    CHECK_EQ_STR(ferry_model_format(m), "npz");
    ferry_model_close(m);
    free(z2.p);
    free(only[0].data.p);
    free(only[1].data.p);
    CHECK_EQ_INT(ctx->allocated, 0);
    ferry_ctx_free(ctx);
    free(z.p);
    for (int i = 0; i < 5; i++) free(mem[i].data.p);
}

TEST(npz_errors)
{
    ferry_ctx *ctx = ferry_ctx_new(NULL);
    ferry_model *m;
    /* Duplicate members: refused (numpy reads the last, other readers the first). */
    member dup[2] = {{"a.npy", 0, i32_npy(2, 0, false)}, {"a.npy", 0, i32_npy(2, 5, false)}};
    buf z = mk_npz(dup, 2);
    CHECK_EQ_INT(open_mem(ctx, z.p, z.n, "t.npz", "npz", &m), FERRY_E_CORRUPT);
    CHECK(strstr(ferry_ctx_error(ctx), "t.npz: offset") &&
          strstr(ferry_ctx_error(ctx), "more than once"));
    free(z.p);
    /* "x" (with the magic) and "x.npy" would both be array x. */
    member clash[2] = {{"x", 0, i32_npy(2, 0, false)}, {"x.npy", 0, i32_npy(2, 5, false)}};
    z = mk_npz(clash, 2);
    CHECK_EQ_INT(open_mem(ctx, z.p, z.n, "t.npz", "npz", &m), FERRY_E_CORRUPT);
    CHECK(strstr(ferry_ctx_error(ctx), "both name") != NULL);
    free(z.p);
    /* A corrupt member header names the archive and the member. */
    member badm[2] = {{"ok.npy", 0, i32_npy(2, 0, false)}, {"bad.npy", 8, {0}}};
    badm[1].data = mk_npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (9,), }", true,
                          "x", 1);
    z = mk_npz(badm, 2);
    CHECK_EQ_INT(open_mem(ctx, z.p, z.n, "t.npz", "npz", &m), FERRY_E_CORRUPT);
    CHECK_MSG(strstr(ferry_ctx_error(ctx), "t.npz: bad.npy: offset 128") != NULL, "%s",
              ferry_ctx_error(ctx));
    free(z.p);
    badm[1].method = 0;
    z = mk_npz(badm, 2);
    CHECK_EQ_INT(open_mem(ctx, z.p, z.n, "t.npz", "npz", &m), FERRY_E_CORRUPT);
    CHECK_MSG(strstr(ferry_ctx_error(ctx), "t.npz: bad.npy: offset 128") != NULL, "%s",
              ferry_ctx_error(ctx));
    free(z.p);
    free(badm[1].data.p);
    /* A deflated member whose data is damaged after the header: found on read. */
    member late[1] = {{"d.npy", 8, i32_npy(40, 0, false)}};
    z = mk_npz(late, 1);
    CHECK_EQ_INT(open_mem(ctx, z.p, z.n, "t.npz", "npz", &m), 0);
    ferry_model_close(m);
    z.p[z.n - 22 - 46 - 5 - 24 - 20] ^= 0x55; /* inside the compressed stream's tail */
    int rc = open_mem(ctx, z.p, z.n, "t.npz", "npz", &m);
    if (rc == 0) {
        int32_t v[40];
        rc = ferry_tensor_read(m, 0, 0, v, sizeof v);
        CHECK_EQ_INT(rc, FERRY_E_CORRUPT);
        ferry_model_close(m);
    } else {
        CHECK_EQ_INT(rc, FERRY_E_CORRUPT);
    }
    free(z.p);
    free(late[0].data.p);
    for (int i = 0; i < 2; i++) {
        free(dup[i].data.p);
        free(clash[i].data.p);
    }
    free(badm[0].data.p);
    /* Not an npz: a zip holding other things is not detected as one. */
    member other[1] = {{"data.pkl", 0, {0}}};
    put(&other[0].data, "\x80\x02.", 3);
    z = mk_npz(other, 1);
    rc = open_mem(ctx, z.p, z.n, "t.zip", NULL, &m);
    CHECK(rc != 0 || strcmp(ferry_model_format(m), "npz") != 0);
    ferry_model_close(m);
    /* An empty archive is an npz only by name. */
    free(z.p);
    z = mk_npz(NULL, 0);
    CHECK_EQ_INT(open_mem(ctx, z.p, z.n, "e.npz", NULL, &m), 0);
    CHECK_EQ_INT(ferry_model_tensor_count(m), 0);
    ferry_model_close(m);
    CHECK(open_mem(ctx, z.p, z.n, "e.zip", NULL, &m) != 0 ||
          strcmp(ferry_model_format(m), "npz") != 0);
    ferry_model_close(m);
    free(z.p);
    free(other[0].data.p);
    CHECK_EQ_INT(ctx->allocated, 0);
    ferry_ctx_free(ctx);
}

/* ============================================================================================
 * Writers
 * ========================================================================================== */

static buf write_mem(ferry_model *m, const char *fmt, int *rc, uint32_t align)
{
    ferry_sink *sink;
    ferry_sink_open_memory(m->ctx, &sink);
    ferry_write_options o = {.struct_size = sizeof o, .format = fmt, .alignment = align};
    *rc = ferry_write_sink(m, sink, &o);
    size_t len;
    const void *p = ferry_sink_memory(sink, &len);
    buf out = {0};
    put(&out, p, len);
    ferry_sink_abort(sink);
    return out;
}

TEST(npy_header_identical)
{
    /* Headers captured from numpy 1.24's np.save for the same arrays. */
    static const struct {
        ferry_dtype dt;
        int         nd;
        int64_t     shape[32];
        const char *text;
    } cases[] = {
        {FERRY_DTYPE_F32, 2, {2, 3}, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }"},
        {FERRY_DTYPE_F64, 0, {0}, "{'descr': '<f8', 'fortran_order': False, 'shape': (), }"},
        {FERRY_DTYPE_BOOL, 1, {5}, "{'descr': '|b1', 'fortran_order': False, 'shape': (5,), }"},
        {FERRY_DTYPE_I8, 32, {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
                              1, 1, 1, 1, 1, 1, 1, 1, 1, 1},
         "{'descr': '|i1', 'fortran_order': False, 'shape': (1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, "
         "1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1), }"},
    };
    static const size_t lens[] = {128, 128, 128, 192};
    static const size_t growth[] = {20, 0, 20, 20};
    for (size_t c = 0; c < FERRY_ARRAY_LEN(cases); c++) {
        ferry_ctx *ctx = ferry_ctx_new(NULL);
        ferry_model *m;
        ferry_model_new(ctx, &m);
        static uint8_t zeros[64];
        CHECK_EQ_INT(ferry_model_add_tensor(m, "t", cases[c].dt, cases[c].nd, cases[c].shape,
                                            zeros), 0);
        int rc;
        buf out = write_mem(m, "npy", &rc, 0);
        CHECK_MSG(rc == 0, "%s", ferry_ctx_error(ctx));
        /* Expected: magic, 1.0, length, text, growth spaces, padding spaces, '\n'. */
        char want[256];
        size_t tl = strlen(cases[c].text);
        memcpy(want, "\x93NUMPY\x01\x00", 8);
        ferry__wr16le((uint8_t *)want + 8, (uint16_t)(lens[c] - 10));
        memcpy(want + 10, cases[c].text, tl);
        memset(want + 10 + tl, ' ', lens[c] - 11 - tl);
        want[lens[c] - 1] = '\n';
        CHECK_MSG(out.n >= lens[c] && memcmp(out.p, want, lens[c]) == 0, "case %zu: %.*s", c,
                  (int)(out.n < lens[c] ? out.n : lens[c]), (const char *)out.p);
        (void)growth;
        ferry_model_close(m);
        ferry_ctx_free(ctx);
        free(out.p);
    }
}

TEST(npy_roundtrip)
{
    static const ferry_dtype dts[] = {
        FERRY_DTYPE_BOOL, FERRY_DTYPE_U8, FERRY_DTYPE_I8, FERRY_DTYPE_U16, FERRY_DTYPE_I16,
        FERRY_DTYPE_U32, FERRY_DTYPE_I32, FERRY_DTYPE_U64, FERRY_DTYPE_I64, FERRY_DTYPE_F16,
        FERRY_DTYPE_F32, FERRY_DTYPE_F64, FERRY_DTYPE_C64, FERRY_DTYPE_C128,
    };
    uint8_t data[16 * 24];
    for (size_t k = 0; k < sizeof data; k++) data[k] = (uint8_t)(k * 31 + 3);
    for (size_t k = 0; k < 24; k++) data[k] &= 1; /* valid bools */
    int64_t shape[3] = {2, 3, 4};
    for (size_t d = 0; d < FERRY_ARRAY_LEN(dts); d++) {
        ferry_ctx *ctx = ferry_ctx_new(NULL);
        ferry_model *m, *r;
        ferry_model_new(ctx, &m);
        CHECK_EQ_INT(ferry_model_add_tensor(m, "w", dts[d], 3, shape, data), 0);
        int rc;
        buf out = write_mem(m, "npy", &rc, 0);
        CHECK_MSG(rc == 0, "%s: %s", ferry_dtype_name(dts[d]), ferry_ctx_error(ctx));
        CHECK_EQ_INT(out.n % 64, (24 * ferry_dtype_bits(dts[d]) / 8) % 64);
        CHECK_EQ_INT(open_mem(ctx, out.p, out.n, "w.npy", NULL, &r), 0);
        ferry_tensor_info ti = info(r, 0);
        CHECK(ti.dtype == dts[d] && ti.ndim == 3 && ti.shape[2] == 4);
        uint8_t *got = read_all(r, 0, &rc);
        CHECK(rc == 0 && memcmp(got, data, ti.nbytes) == 0);
        free(got);
        ferry_model_close(r);
        ferry_model_close(m);
        CHECK_EQ_INT(ctx->allocated, 0);
        ferry_ctx_free(ctx);
        free(out.p);
    }
}

TEST(npy_writer_conversions)
{
    ferry_ctx *ctx = ferry_ctx_new(NULL);
    ferry_ctx_set_log(ctx, log_fn, NULL);
    ferry_model *m, *r;
    int rc;
    /* Several tensors: refused, pointing at .npz. */
    ferry_model_new(ctx, &m);
    static const float fv[4] = {1, 2, 3, 4};
    int64_t s4 = 4;
    ferry_model_add_tensor(m, "a", FERRY_DTYPE_F32, 1, &s4, fv);
    ferry_model_add_tensor(m, "b", FERRY_DTYPE_F32, 1, &s4, fv);
    buf out = write_mem(m, "npy", &rc, 0);
    CHECK_EQ_INT(rc, FERRY_E_UNSUPPORTED);
    CHECK(strstr(ferry_ctx_error(ctx), ".npz") != NULL);
    free(out.p);
    ferry_model_close(m);
    /* BF16 is not a numpy dtype: stored as F32 with a notice. */
    ferry_model_new(ctx, &m);
    static const uint16_t bf[4] = {0x3f80, 0x4000, 0x4040, 0x4080};
    ferry_model_add_tensor(m, "h", FERRY_DTYPE_BF16, 1, &s4, bf);
    n_logs = 0;
    out = write_mem(m, "npy", &rc, 0);
    CHECK_EQ_INT(rc, 0);
    CHECK(n_logs >= 1 && strstr(last_log, "F32") != NULL);
    CHECK_EQ_INT(open_mem(ctx, out.p, out.n, "h.npy", NULL, &r), 0);
    CHECK_EQ_INT(info(r, 0).dtype, FERRY_DTYPE_F32);
    float f[4];
    CHECK_EQ_INT(ferry_tensor_read(r, 0, 0, f, sizeof f), 0);
    CHECK(f[0] == 1 && f[3] == 4);
    ferry_model_close(r);
    free(out.p);
    ferry_model_close(m);
    /* DATETIME64 without a NumPy unit: refused. */
    ferry_model_new(ctx, &m);
    static const int64_t ticks[4] = {1, 2, 3, 4};
    ferry_model_add_tensor(m, "d", FERRY_DTYPE_DATETIME64, 1, &s4, ticks);
    out = write_mem(m, "npy", &rc, 0);
    CHECK_EQ_INT(rc, FERRY_E_DTYPE);
    CHECK(strstr(ferry_ctx_error(ctx), "unit") != NULL);
    free(out.p);
    ferry_model_close(m);
    /* npy -> npy keeps the datetime unit, strings, and turns BE / Fortran input into
     * little-endian C order -- byte-identical to what np.save writes for that array. */
    static const struct {
        const char *in_descr;
        const char *out_descr;
        bool        fortran;
        size_t      esize;
        size_t      swap;
    } rt[] = {
        {"<M8[ns]", "<M8[ns]", false, 8, 0}, {">m8[D]", "<m8[D]", false, 8, 8},
        {"|S5", "|S5", false, 5, 0},         {">U3", "<U3", true, 12, 4},
        {">f8", "<f8", true, 8, 8},          {"<i2", "<i2", true, 2, 0},
    };
    for (size_t k = 0; k < FERRY_ARRAY_LEN(rt); k++) {
        char dict[160];
        snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': %s, 'shape': (2, 3), }",
                 rt[k].in_descr, rt[k].fortran ? "True" : "False");
        uint8_t raw[96], want[96];
        for (size_t i = 0; i < 6 * rt[k].esize; i++) raw[i] = (uint8_t)(i * 5 + 1);
        int64_t shape[2] = {2, 3};
        if (rt[k].fortran)
            transpose_ref(raw, want, shape, 2, rt[k].esize);
        else
            memcpy(want, raw, 6 * rt[k].esize);
        if (rt[k].swap) ferry__byteswap(want, rt[k].swap, 6 * rt[k].esize / rt[k].swap);
        buf in = mk_npy(1, dict, true, raw, 6 * rt[k].esize);
        CHECK_EQ_INT(open_mem(ctx, in.p, in.n, "in.npy", NULL, &m), 0);
        out = write_mem(m, "npy", &rc, 0);
        CHECK_MSG(rc == 0, "%s: %s", rt[k].in_descr, ferry_ctx_error(ctx));
        snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (2, 3), }",
                 rt[k].out_descr);
        char hdr[128];
        memset(hdr, ' ', sizeof hdr);
        memcpy(hdr, "\x93NUMPY\x01\x00\x76\x00", 10);
        memcpy(hdr + 10, dict, strlen(dict));
        hdr[127] = '\n';
        CHECK_MSG(out.n == 128 + 6 * rt[k].esize && memcmp(out.p, hdr, 128) == 0 &&
                      memcmp(out.p + 128, want, 6 * rt[k].esize) == 0,
                  "%s: output differs", rt[k].in_descr);
        ferry_model_close(m);
        free(in.p);
        free(out.p);
    }
    CHECK_EQ_INT(ctx->allocated, 0);
    ferry_ctx_free(ctx);
}

TEST(npy_v2_header)
{
    /* A header that does not fit 65535 bytes switches to format 2.0 (possible only with
     * limits.dims raised far beyond numpy's own). */
    ferry_ctx *ctx = ferry_ctx_new(NULL);
    ferry_limits lim = {.struct_size = sizeof lim, .dims = 30000, .metadata_items = 1u << 20};
    ferry_ctx_set_limits(ctx, &lim);
    int64_t *shape = malloc(sizeof(int64_t) * 25000);
    for (int k = 0; k < 25000; k++) shape[k] = 1;
    ferry_model *m, *r;
    ferry_model_new(ctx, &m);
    uint8_t one = 7;
    CHECK_EQ_INT(ferry_model_add_tensor(m, "big", FERRY_DTYPE_U8, 25000, shape, &one), 0);
    int rc;
    buf out = write_mem(m, "npy", &rc, 0);
    CHECK_EQ_INT(rc, 0);
    CHECK(out.n > 65536 && out.p[6] == 2 && (out.n - 1) % 64 == 0);
    CHECK_EQ_INT(open_mem(ctx, out.p, out.n, "big.npy", NULL, &r), 0);
    CHECK_EQ_STR(ferry_model_format_version(r), "2.0");
    CHECK_EQ_INT(info(r, 0).ndim, 25000);
    ferry_model_close(r);
    ferry_model_close(m);
    free(out.p);
    free(shape);
    ferry_ctx_free(ctx);
}

TEST(npz_roundtrip)
{
    ferry_ctx *ctx = ferry_ctx_new(NULL);
    ferry_model *m, *r;
    ferry_model_new(ctx, &m);
    static const float fv[6] = {1, 2, 3, 4, 5, 6};
    static const int16_t iv[5] = {-1, 2, -3, 4, -5};
    static const uint8_t bv[3] = {1, 0, 1};
    int64_t s23[2] = {2, 3}, s5 = 5, s3 = 3;
    ferry_model_add_tensor(m, "layer.0/weight", FERRY_DTYPE_F32, 2, s23, fv);
    ferry_model_add_tensor(m, "ints", FERRY_DTYPE_I16, 1, &s5, iv);
    ferry_model_add_tensor(m, "mask", FERRY_DTYPE_BOOL, 1, &s3, bv);
    ferry_model_add_tensor(m, "scalar", FERRY_DTYPE_F32, 0, NULL, fv);
    int rc;
    for (int pass = 0; pass < 2; pass++) {
        buf out = write_mem(m, "npz", &rc, pass ? 4096 : 0);
        CHECK_MSG(rc == 0, "%s", ferry_ctx_error(ctx));
        CHECK_EQ_INT(open_mem(ctx, out.p, out.n, "o.npz", NULL, &r), 0);
        CHECK_EQ_INT(ferry_model_tensor_count(r), 4);
        for (int64_t i = 0; i < 4; i++) {
            ferry_tensor_info a = info(m, i), b = info(r, i);
            CHECK_EQ_STR(a.name, b.name);
            CHECK(a.dtype == b.dtype && a.ndim == b.ndim && a.nbytes == b.nbytes);
            CHECK(b.flags & FERRY_TENSOR_ZERO_COPY);
            CHECK_EQ_INT(b.file_offset % (pass ? 4096 : 64), 0); /* aligned array data */
            uint8_t *got = read_all(r, i, &rc);
            const void *want;
            ferry_tensor_data(m, i, &want);
            CHECK(rc == 0 && memcmp(got, want, a.nbytes) == 0);
            free(got);
        }
        ferry_model_close(r);
        free(out.p);
    }
    buf out = write_mem(m, "npz", &rc, 48);
    CHECK_EQ_INT(rc, FERRY_E_ARG);
    free(out.p);
    ferry_model_close(m);
    /* Names that are not safe zip paths are refused. */
    ferry_model_new(ctx, &m);
    ferry_model_add_tensor(m, "../evil", FERRY_DTYPE_F32, 0, NULL, fv);
    out = write_mem(m, "npz", &rc, 0);
    CHECK_EQ_INT(rc, FERRY_E_ARG);
    free(out.p);
    ferry_model_close(m);
    /* Files through ferry_write: the extension picks the format. */
    char path[600];
    ferry_model_new(ctx, &m);
    ferry_model_add_tensor(m, "x", FERRY_DTYPE_F32, 2, s23, fv);
    snprintf(path, sizeof path, "%s/x.npz", t_tmpdir());
    CHECK_EQ_INT(ferry_write(m, path, NULL), 0);
    CHECK_EQ_INT(ferry_open(ctx, path, NULL, &r), 0);
    CHECK_EQ_STR(ferry_model_format(r), "npz");
    ferry_model_close(r);
    snprintf(path, sizeof path, "%s/x.npy", t_tmpdir());
    CHECK_EQ_INT(ferry_write(m, path, NULL), 0);
    CHECK_EQ_INT(ferry_open(ctx, path, NULL, &r), 0);
    CHECK_EQ_STR(info(r, 0).name, "x");
    ferry_model_close(r);
    ferry_model_close(m);
    CHECK_EQ_INT(ctx->allocated, 0);
    ferry_ctx_free(ctx);
}

/* ============================================================================================
 * Conformance: the shared corpus
 * ========================================================================================== */

typedef struct expect {
    const char *file;
    const char *format;
    int64_t     tensors;
    const char *name;       /* first tensor */
    ferry_dtype dt;
    int         ndim;
    int64_t     d0;
    int         status;
    uint32_t    flags;
} expect;

TEST(corpus_generated)
{
    static const expect ex[] = {
        {"np_0d.npy", "npy", 1, "np_0d", FERRY_DTYPE_F16, 0, 0, 0, FERRY_TENSOR_ZERO_COPY},
        {"np_be_i32.npy", "npy", 1, "np_be_i32", FERRY_DTYPE_I32, 1, 10, 0,
         FERRY_TENSOR_CONVERTED},
        {"np_bool_c64.npy", "npy", 1, "np_bool_c64", FERRY_DTYPE_C64, 1, 2, 0,
         FERRY_TENSOR_ZERO_COPY},
        {"np_empty.npy", "npy", 1, "np_empty", FERRY_DTYPE_U8, 2, 0, 0, FERRY_TENSOR_ZERO_COPY},
        {"np_f32.npy", "npy", 1, "np_f32", FERRY_DTYPE_F32, 2, 3, 0, FERRY_TENSOR_ZERO_COPY},
        {"np_f64_fortran.npy", "npy", 1, "np_f64_fortran", FERRY_DTYPE_F64, 2, 5, 0,
         FERRY_TENSOR_CONVERTED},
        {"np_object_PICKLE.npy", "npy", 1, "np_object_PICKLE", FERRY_DTYPE_OPAQUE, 1, 2, 1, 0},
        {"np_structured.npy", "npy", 1, "np_structured", FERRY_DTYPE_OPAQUE, 1, 1, 1, 0},
        {"np_v2_header.npy", "npy", 1, "np_v2_header", FERRY_DTYPE_U16, 2, 2, 0,
         FERRY_TENSOR_ZERO_COPY},
        {"np_v3_header.npy", "npy", 1, "np_v3_header", FERRY_DTYPE_OPAQUE, 1, 2, 1, 0},
        {"np_archive.npz", "npz", 2, "a", FERRY_DTYPE_I64, 1, 5, 0, FERRY_TENSOR_ZERO_COPY},
        {"np_archive_compressed.npz", "npz", 2, "w", FERRY_DTYPE_F32, 2, 64, 0, 0},
    };
    const char *dir = t_shared("corpus/generated");
    if (!dir) return;
    char base[4096];
    snprintf(base, sizeof base, "%s", dir);
    for (size_t k = 0; k < FERRY_ARRAY_LEN(ex); k++) {
        char path[4200];
        snprintf(path, sizeof path, "%s/%s", base, ex[k].file);
        ferry_ctx *ctx = ferry_ctx_new(NULL);
        ferry_model *m;
        int rc = ferry_open(ctx, path, NULL, &m);
        CHECK_MSG(rc == 0, "%s: %s", ex[k].file, ferry_ctx_error(ctx));
        if (rc) {
            ferry_ctx_free(ctx);
            continue;
        }
        CHECK_EQ_STR(ferry_model_format(m), ex[k].format);
        CHECK_EQ_INT(ferry_model_tensor_count(m), ex[k].tensors);
        ferry_tensor_info ti = info(m, 0);
        CHECK_EQ_STR(ti.name, ex[k].name);
        CHECK_MSG(ti.dtype == ex[k].dt && ti.ndim == ex[k].ndim &&
                      (ti.ndim == 0 || ti.shape[0] == ex[k].d0) && (int)ti.status == ex[k].status,
                  "%s: dtype %d ndim %d status %d", ex[k].file, ti.dtype, ti.ndim, ti.status);
        CHECK_MSG((ti.flags & ex[k].flags) == ex[k].flags, "%s: flags %u", ex[k].file, ti.flags);
        for (int64_t i = 0; i < ferry_model_tensor_count(m); i++) {
            ferry_tensor_info t2 = info(m, i);
            if (t2.status != FERRY_TENSOR_PLAIN) continue;
            uint8_t *p = read_all(m, i, &rc);
            CHECK_MSG(rc == 0, "%s: %s: %s", ex[k].file, t2.name, ferry_ctx_error(ctx));
            free(p);
        }
        ferry_model_close(m);
        CHECK_EQ_INT(ctx->allocated, 0);
        ferry_ctx_free(ctx);
    }
    /* Known values (numpy.load of the same files): */
    ferry_ctx *ctx = ferry_ctx_new(NULL);
    ferry_model *m;
    char path[4200];
    snprintf(path, sizeof path, "%s/np_be_i32.npy", base);
    if (ferry_open(ctx, path, NULL, &m) == 0) {
        int32_t v[10];
        CHECK_EQ_INT(ferry_tensor_read(m, 0, 0, v, sizeof v), 0);
        for (int k = 0; k < 10; k++) CHECK_EQ_INT(v[k], k);
        ferry_model_close(m);
    }
    snprintf(path, sizeof path, "%s/np_0d.npy", base);
    if (ferry_open(ctx, path, NULL, &m) == 0) {
        float f = 0;
        CHECK_EQ_INT(ferry_tensor_read_as(m, 0, 0, 1, FERRY_DTYPE_F32, &f), 0);
        CHECK(f == 1.5f);
        ferry_model_close(m);
    }
    snprintf(path, sizeof path, "%s/np_bool_c64.npy", base);
    if (ferry_open(ctx, path, NULL, &m) == 0) {
        float c[4];
        CHECK_EQ_INT(ferry_tensor_read(m, 0, 0, c, sizeof c), 0);
        CHECK(c[0] == 1 && c[1] == 2 && c[2] == 3 && c[3] == -4);
        ferry_model_close(m);
    }
    snprintf(path, sizeof path, "%s/np_f64_fortran.npy", base);
    if (ferry_open(ctx, path, NULL, &m) == 0) {
        double c[35], f[35];
        CHECK_EQ_INT(ferry_tensor_read(m, 0, 0, c, sizeof c), 0);
        FILE *fp = fopen(path, "rb");
        CHECK(fp && fseek(fp, 128, SEEK_SET) == 0 && fread(f, 8, 35, fp) == 35);
        if (fp) fclose(fp);
        int bad = 0;
        for (int i = 0; i < 5; i++)
            for (int j = 0; j < 7; j++) bad += c[i * 7 + j] != f[j * 5 + i];
        CHECK_EQ_INT(bad, 0);
        CHECK(c[0] < -2.325 && c[0] > -2.326 && c[1] < -0.2187 && c[1] > -0.2189);
        ferry_model_close(m);
    }
    snprintf(path, sizeof path, "%s/np_archive.npz", base);
    if (ferry_open(ctx, path, NULL, &m) == 0) {
        int64_t a[5];
        float b[9];
        CHECK_EQ_INT(ferry_tensor_read(m, 0, 0, a, sizeof a), 0);
        CHECK(a[0] == 0 && a[4] == 4);
        CHECK_EQ_INT(ferry_tensor_read(m, 1, 0, b, sizeof b), 0);
        CHECK(b[0] == 1 && b[1] == 0 && b[4] == 1 && b[8] == 1); /* eye(3) */
        ferry_model_close(m);
    }
    snprintf(path, sizeof path, "%s/np_archive_compressed.npz", base);
    if (ferry_open(ctx, path, NULL, &m) == 0) {
        float w[2];
        CHECK_EQ_INT(ferry_tensor_read(m, 0, 0, w, sizeof w), 0);
        CHECK(w[0] > 1.9602 && w[0] < 1.9603 && w[1] > 1.8016 && w[1] < 1.8017);
        ferry_model_close(m);
    }
    snprintf(path, sizeof path, "%s/np_structured.npy", base);
    if (ferry_open(ctx, path, NULL, &m) == 0) {
        CHECK_EQ_STR(info(m, 0).native_dtype, "[('a', '<i8'), ('b', '<f4'), ('c', '|S2')]");
        CHECK_EQ_INT(info(m, 0).itemsize, 14);
        ferry_model_close(m);
    }
    snprintf(path, sizeof path, "%s/np_v3_header.npy", base);
    if (ferry_open(ctx, path, NULL, &m) == 0) {
        CHECK_EQ_STR(ferry_model_format_version(m), "3.0");
        CHECK_EQ_STR(info(m, 0).native_dtype, "[('\xc3\xa9t\xc3\xa9', '<f8')]");
        ferry_model_close(m);
    }
    ferry_ctx_free(ctx);
}

TEST(corpus_numpy)
{
    static const struct {
        const char *rel;
        const char *name;
        int         object;
    } files[] = {
        {"numpy+numpy@1f90bbb55e/numpy/lib/tests/data/py3-objarr.npz", "x", 1},
        {"numpy+numpy@1f90bbb55e/numpy/lib/tests/data/py3-objarr.npy", "py3-objarr", 1},
        {"numpy+numpy@1f90bbb55e/numpy/lib/tests/data/py2-objarr.npy", "py2-objarr", 1},
        {"numpy+numpy@1f90bbb55e/numpy/lib/tests/data/py2-np0-objarr.npy", "py2-np0-objarr", 1},
        {"numpy+numpy@1f90bbb55e/numpy/lib/tests/data/py2-objarr.npz", "x", 1},
        {"huggingface+candle@2a13b0f3ff/candle-core/tests/test.npy", "test", 0},
        {"huggingface+candle@2a13b0f3ff/candle-core/tests/test.npz", "x", 0},
    };
    const char *dir = t_shared("corpus/numpy");
    if (!dir) return;
    char base[4096];
    snprintf(base, sizeof base, "%s", dir);
    for (size_t k = 0; k < FERRY_ARRAY_LEN(files); k++) {
        char path[4200];
        snprintf(path, sizeof path, "%s/%s", base, files[k].rel);
        ferry_ctx *ctx = ferry_ctx_new(NULL);
        ferry_model *m;
        int rc = ferry_open(ctx, path, NULL, &m);
        CHECK_MSG(rc == 0, "%s: %s", files[k].rel, ferry_ctx_error(ctx));
        if (rc == 0) {
            ferry_tensor_info ti = info(m, 0);
            CHECK_EQ_STR(ti.name, files[k].name);
            CHECK_EQ_INT(ti.status == FERRY_TENSOR_NOT_PLAIN, files[k].object);
            if (files[k].object)
                CHECK(ferry_meta_get(ferry_model_metadata(m), "notes") != NULL);
            else {
                int64_t v[10];
                CHECK_EQ_INT(ferry_tensor_read(m, 0, 0, v, sizeof v), 0);
            }
            ferry_model_close(m);
        }
        CHECK_EQ_INT(ctx->allocated, 0);
        ferry_ctx_free(ctx);
    }
}

int main(void)
{
    RUN(pylit_values);
    RUN(pylit_errors);
    RUN(every_descr);
    RUN(fortran_and_byte_order);
    RUN(zero_d_empty_object);
    RUN(structured);
    RUN(header_quirks);
    RUN(matrix_prelude);
    RUN(matrix_header);
    RUN(npz_read);
    RUN(npz_errors);
    RUN(npy_header_identical);
    RUN(npy_roundtrip);
    RUN(npy_writer_conversions);
    RUN(npy_v2_header);
    RUN(npz_roundtrip);
    RUN(corpus_generated);
    RUN(corpus_numpy);
    return t_finish("numpy");
}
