/*
 * test_safetensors.c -- the safetensors module (src/formats/safetensors.c).
 *
 *   - positive vectors: tensors in offset order, zero copy, all 22 dtype strings, metadata,
 *     0-rank and empty tensors, whitespace around the header, serde's other spellings of a
 *     TensorInfo (array form, {"F32": null} dtypes, unknown fields);
 *   - a corruption matrix built in code: one rejected input per rule of FORMATS.md A3.3 (and per
 *     ferry limit), with its status and a message naming the file and the offset or tensor,
 *     next to the boundary input that must be accepted;
 *   - the writer: byte-exact vectors of the reference writer's layout (sorting, compact JSON,
 *     space padding), every dtype round trip, metadata stringification, refusals;
 *   - sharded checkpoints in a temporary directory: opened from the index and from the
 *     directory, and every containment / consistency failure;
 *   - conformance with the shared corpus (files written by the reference writer, values as its
 *     generate.py describes), and write-back comparison.
 */
#include "internal.h"
#include "t.h"

#include <unistd.h>

static ferry_ctx *g_ctx;

/* ============================================================================================
 * Helpers
 * ========================================================================================== */

typedef struct blob {
    uint8_t *p;
    size_t   n;
} blob;

static uint8_t pattern(size_t i) { return (uint8_t)(i * 7 + 3); }

/* 8-byte N (given), the header bytes, then data_len pattern bytes. */
static blob make_n(uint64_t n, const char *hdr, size_t hdr_len, size_t data_len)
{
    blob b;
    b.n = 8 + hdr_len + data_len;
    b.p = malloc(b.n ? b.n : 1);
    ferry__wr64le(b.p, n);
    memcpy(b.p + 8, hdr, hdr_len);
    for (size_t i = 0; i < data_len; i++) b.p[8 + hdr_len + i] = pattern(i);
    return b;
}

static blob make(const char *hdr, size_t data_len)
{
    return make_n(strlen(hdr), hdr, strlen(hdr), data_len);
}

static int open_blob(blob b, const char *format, ferry_model **m)
{
    ferry_source *src;
    *m = NULL;
    int rc = ferry_source_from_memory(g_ctx, b.p, b.n, "t.safetensors", &src);
    if (rc) return rc;
    rc = ferry_open_source(g_ctx, src, format, m);
    ferry_source_close(src);
    return rc;
}

/* Every rejection must carry its status and a one-line message "t.safetensors: offset N: ..."
 * or "t.safetensors: tensor "x": ..." containing `want`. */
static void reject_blob(blob b, int code, const char *want, int line)
{
    ferry_model *m;
    int rc = open_blob(b, "safetensors", &m);
    const char *err = ferry_ctx_error(g_ctx);
    bool named = strncmp(err, "t.safetensors: ", 15) == 0 &&
                 (strncmp(err + 15, "offset ", 7) == 0 || strncmp(err + 15, "tensor \"", 8) == 0);
    if (rc != code || !named || (want && !strstr(err, want)) || strchr(err, '\n')) {
        fprintf(stderr, "%s:%d: rc %d (want %d), error \"%s\" (want \"%s\")\n", __FILE__, line,
                rc, code, err, want ? want : "");
        t_cur_failed_++;
    }
    ferry_model_close(m);
    free(b.p);
}

static void accept_blob(blob b, int64_t tensors, int line)
{
    ferry_model *m;
    int rc = open_blob(b, "safetensors", &m);
    if (rc != 0 || ferry_model_tensor_count(m) != tensors) {
        fprintf(stderr, "%s:%d: accept failed: rc %d, %lld tensors (want %lld): %s\n", __FILE__,
                line, rc, (long long)ferry_model_tensor_count(m), (long long)tensors,
                ferry_ctx_error(g_ctx));
        t_cur_failed_++;
    }
    ferry_model_close(m);
    free(b.p);
}

#define REJECT(hdr, data, code, want) reject_blob(make(hdr, data), code, want, __LINE__)
#define ACCEPT(hdr, data, ntensors)   accept_blob(make(hdr, data), ntensors, __LINE__)

static void set_limits(uint64_t tensor_count, uint32_t dims, uint64_t header_bytes,
                       uint32_t depth)
{
    ferry_limits l = {.struct_size = sizeof l, .tensor_count = tensor_count, .dims = dims,
                      .header_bytes = header_bytes, .metadata_depth = depth};
    ferry_ctx_set_limits(g_ctx, &l);
}

static void default_limits(void) { set_limits(10000000, 64, 256u << 20, 64); }

static void write_file(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f) {
        perror(path);
        return;
    }
    fwrite(p, 1, n, f);
    fclose(f);
}

/* Writes m as safetensors into a memory sink; returns a malloc'd copy. */
static blob write_mem(ferry_model *m, int *rc_out)
{
    blob b = {NULL, 0};
    ferry_sink *sink;
    ferry_write_options o = {.struct_size = sizeof o, .format = "safetensors"};
    int rc = ferry_sink_open_memory(g_ctx, &sink);
    if (rc == 0) rc = ferry_write_sink(m, sink, &o);
    if (rc == 0) {
        size_t n;
        const void *p = ferry_sink_memory(sink, &n);
        b.p = malloc(n ? n : 1);
        memcpy(b.p, p, n);
        b.n = n;
    }
    ferry_sink_abort(sink);
    if (rc_out) *rc_out = rc;
    return b;
}

/* The header text of a safetensors blob (not NUL-terminated in the blob). */
static char *header_of(blob b)
{
    uint64_t n = ferry__rd64le(b.p);
    char *s = malloc((size_t)n + 1);
    memcpy(s, b.p + 8, (size_t)n);
    s[n] = 0;
    return s;
}

/* ============================================================================================
 * Positive vectors
 * ========================================================================================== */

TEST(reads_tensors_in_offset_order)
{
    const char *hdr = "{\"__metadata__\":{\"format\":\"pt\",\"b\":\"\\u00e9\"},"
                      "\"w2\":{\"dtype\":\"I16\",\"shape\":[3],\"data_offsets\":[24,30]},"
                      "\"w1\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
                      "\"s\":{\"dtype\":\"BF16\",\"shape\":[],\"data_offsets\":[30,32]},"
                      "\"e\":{\"dtype\":\"U8\",\"shape\":[0,5],\"data_offsets\":[32,32]}}";
    blob b = make(hdr, 32);
    ferry_model *m;
    CHECK_EQ_INT(open_blob(b, NULL, &m), 0); /* detected by content */
    CHECK_EQ_STR(ferry_model_format(m), "safetensors");
    CHECK_EQ_STR(ferry_model_format_version(m), "");
    CHECK_EQ_INT(ferry_model_tensor_count(m), 4);
    static const char *names[] = {"w1", "w2", "s", "e"};
    static const ferry_dtype dts[] = {FERRY_DTYPE_F32, FERRY_DTYPE_I16, FERRY_DTYPE_BF16,
                                      FERRY_DTYPE_U8};
    static const uint64_t begins[] = {0, 24, 30, 32}, sizes[] = {24, 6, 2, 0};
    uint64_t base = 8 + strlen(hdr);
    for (int i = 0; i < 4 && ferry_model_tensor_count(m) == 4; i++) {
        ferry_tensor_info ti = {.struct_size = sizeof ti};
        CHECK_EQ_INT(ferry_model_tensor_info(m, i, &ti), 0);
        CHECK_EQ_STR(ti.name, names[i]);
        CHECK_EQ_INT(ti.dtype, dts[i]);
        CHECK_EQ_INT(ti.nbytes, sizes[i]);
        CHECK_EQ_INT(ti.file_offset, (int64_t)(base + begins[i]));
        CHECK(ti.flags & FERRY_TENSOR_ZERO_COPY);
        CHECK_EQ_INT(ti.status, FERRY_TENSOR_PLAIN);
        const void *p = NULL;
        CHECK_EQ_INT(ferry_tensor_data(m, i, &p), 0);
        if (sizes[i]) CHECK(p == b.p + base + begins[i]);
    }
    ferry_tensor_info ti = {.struct_size = sizeof ti};
    ferry_model_tensor_info(m, 0, &ti);
    CHECK(ti.ndim == 2 && ti.shape[0] == 2 && ti.shape[1] == 3 && ti.nelems == 6);
    CHECK_EQ_STR(ti.native_dtype, "F32");
    ferry_model_tensor_info(m, 2, &ti);
    CHECK(ti.ndim == 0 && ti.nelems == 1);
    ferry_model_tensor_info(m, 3, &ti);
    CHECK(ti.ndim == 2 && ti.nelems == 0);
    const ferry_meta *root = ferry_model_metadata(m);
    CHECK_EQ_INT(ferry_meta_count(root), 2);
    CHECK_EQ_STR(ferry_meta_key_at(root, 0), "format");
    CHECK_EQ_STR(ferry_meta_string(ferry_meta_get(root, "format"), NULL), "pt");
    CHECK_EQ_STR(ferry_meta_string(ferry_meta_get(root, "b"), NULL), "\xc3\xa9");
    uint8_t buf[6];
    CHECK_EQ_INT(ferry_tensor_read(m, 1, 0, buf, 6), 0);
    CHECK(buf[0] == pattern(24) && buf[5] == pattern(29));
    ferry_model_close(m);
    free(b.p);
}

/* All 22 dtype strings of A3.2 and the ferry dtypes they map to. */
static const struct {
    const char *name;
    ferry_dtype dt;
    int         bits;
} all_dtypes[] = {
    {"BOOL", FERRY_DTYPE_BOOL, 8},         {"F4", FERRY_DTYPE_F4_E2M1, 4},
    {"F6_E2M3", FERRY_DTYPE_F6_E2M3, 6},   {"F6_E3M2", FERRY_DTYPE_F6_E3M2, 6},
    {"U8", FERRY_DTYPE_U8, 8},             {"I8", FERRY_DTYPE_I8, 8},
    {"F8_E5M2", FERRY_DTYPE_F8_E5M2, 8},   {"F8_E4M3", FERRY_DTYPE_F8_E4M3FN, 8},
    {"F8_E8M0", FERRY_DTYPE_F8_E8M0, 8},   {"F8_E4M3FNUZ", FERRY_DTYPE_F8_E4M3FNUZ, 8},
    {"F8_E5M2FNUZ", FERRY_DTYPE_F8_E5M2FNUZ, 8},
    {"I16", FERRY_DTYPE_I16, 16},          {"U16", FERRY_DTYPE_U16, 16},
    {"F16", FERRY_DTYPE_F16, 16},          {"BF16", FERRY_DTYPE_BF16, 16},
    {"I32", FERRY_DTYPE_I32, 32},          {"U32", FERRY_DTYPE_U32, 32},
    {"F32", FERRY_DTYPE_F32, 32},          {"C64", FERRY_DTYPE_C64, 64},
    {"F64", FERRY_DTYPE_F64, 64},          {"I64", FERRY_DTYPE_I64, 64},
    {"U64", FERRY_DTYPE_U64, 64},
};
#define N_DTYPES ((int)FERRY_ARRAY_LEN(all_dtypes))

TEST(every_dtype_string)
{
    CHECK_EQ_INT(N_DTYPES, 22);
    for (int i = 0; i < N_DTYPES; i++) {
        char hdr[200];
        int nbytes = 8 * all_dtypes[i].bits / 8; /* shape [8] */
        snprintf(hdr, sizeof hdr, "{\"t\":{\"dtype\":\"%s\",\"shape\":[8],\"data_offsets\":"
                 "[0,%d]}}", all_dtypes[i].name, nbytes);
        blob b = make(hdr, (size_t)nbytes);
        ferry_model *m;
        CHECK_MSG(open_blob(b, NULL, &m) == 0, "%s: %s", all_dtypes[i].name,
                  ferry_ctx_error(g_ctx));
        ferry_tensor_info ti = {.struct_size = sizeof ti};
        if (m && ferry_model_tensor_info(m, 0, &ti) == 0) {
            CHECK_EQ_INT(ti.dtype, all_dtypes[i].dt);
            CHECK_EQ_INT(ti.nbytes, nbytes);
            CHECK_EQ_STR(ti.native_dtype, all_dtypes[i].name);
        }
        ferry_model_close(m);
        free(b.p);
    }
}

/* Detection sees past a run of leading whitespace longer than the probed bytes. */
TEST(detects_long_leading_whitespace)
{
    size_t pad = 10000;
    char *hdr = malloc(pad + 64);
    memset(hdr, ' ', pad);
    strcpy(hdr + pad, "{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}");
    blob b = make(hdr, 1);
    ferry_model *m;
    CHECK_EQ_INT(open_blob(b, NULL, &m), 0);
    CHECK_EQ_INT(ferry_model_tensor_count(m), 1);
    ferry_model_close(m);
    free(b.p);
    /* whitespace up to the end of the header: not ours (and not valid JSON either) */
    hdr[pad] = 0;
    b = make(hdr, 0);
    CHECK_EQ_INT(open_blob(b, NULL, &m), FERRY_E_UNKNOWN_FORMAT);
    free(b.p);
    free(hdr);
}

/* serde accepts more spellings than the README shows; so must we. */
TEST(serde_spellings)
{
    ACCEPT("  \n\t\r{}", 0, 0);                              /* leading whitespace */
    ACCEPT("{}      ", 0, 0);                                /* writer's padding */
    ACCEPT("{\"__metadata__\":null}", 0, 0);
    ACCEPT("{\"__metadata__\":{}}", 0, 0);
    ACCEPT("{\"a\":[\"F32\",[2],[0,8]]}", 8, 1);             /* struct as a sequence */
    ACCEPT("{\"a\":{\"dtype\":{\"F32\":null},\"shape\":[2],\"data_offsets\":[0,8]}}", 8, 1);
    ACCEPT("{\"a\":{\"dtype\":{\"F32\":{}},\"shape\":[2],\"data_offsets\":[0,8]}}", 8, 1);
    ACCEPT("{\"a\":{\"data_offsets\":[0,8],\"shape\":[2],\"dtype\":\"F32\"}}", 8, 1);
    ACCEPT("{\"a\":{\"dtype\":\"F32\",\"x\":{\"y\":[1,{\"z\":null}]},\"shape\":[2],"
           "\"data_offsets\":[0,8],\"crc\":\"q\"}}", 8, 1);      /* unknown fields ignored */
    ACCEPT("{\"a\":{\"dtype\":\"F\\u0033\\u0032\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, 1);
    ACCEPT("{\"\":{\"dtype\":\"U8\",\"shape\":[],\"data_offsets\":[0,1]}}", 1, 1);
    /* zero-size tensors may share an offset; 0-rank tensors hold one element */
    ACCEPT("{\"a\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[0,0]},"
           "\"b\":{\"dtype\":\"F64\",\"shape\":[3,0],\"data_offsets\":[0,0]},"
           "\"c\":{\"dtype\":\"F64\",\"shape\":[],\"data_offsets\":[0,8]}}", 8, 3);
    /* a huge dimension is fine when another one is 0 and the fold never overflows */
    ACCEPT("{\"a\":{\"dtype\":\"U8\",\"shape\":[0,4294967296,4294967296],"
           "\"data_offsets\":[0,0]}}", 0, 1);
}

/* ============================================================================================
 * The corruption matrix (A3.3), boundaries next to each rule
 * ========================================================================================== */

TEST(header_too_small)
{
    uint8_t bytes[8] = {0};
    for (size_t n = 0; n < 8; n++) {
        blob b = {malloc(8), n};
        memcpy(b.p, bytes, 8);
        reject_blob(b, FERRY_E_CORRUPT, "expected at least 8", __LINE__);
    }
    accept_blob(make_n(2, "{}", 2, 0), 0, __LINE__); /* the smallest valid file */
}

TEST(header_length)
{
    reject_blob(make_n(100000001, "{}", 2, 0), FERRY_E_CORRUPT, "expected at most 100000000",
                __LINE__);
    reject_blob(make_n(UINT64_MAX, "{}", 2, 0), FERRY_E_CORRUPT, "at most 100000000", __LINE__);
    reject_blob(make_n(1ull << 63, "{}", 2, 0), FERRY_E_CORRUPT, "at most 100000000", __LINE__);
    /* N = 100,000,000 passes the maximum and fails only because the file is short */
    reject_blob(make_n(100000000, "{}", 2, 0), FERRY_E_CORRUPT, "runs past the end", __LINE__);
    reject_blob(make_n(3, "{}", 2, 0), FERRY_E_CORRUPT, "runs past the end", __LINE__);
    accept_blob(make_n(2, "{}", 2, 0), 0, __LINE__);
    /* N = 0: the empty string is not JSON */
    reject_blob(make_n(0, "", 0, 0), FERRY_E_CORRUPT, "expected a JSON value", __LINE__);
    /* a header shorter than the JSON leaves the rest in the data buffer */
    reject_blob(make_n(1, "{}", 2, 0), FERRY_E_CORRUPT, "end of input", __LINE__);
}

TEST(header_not_utf8)
{
    REJECT("{\"\xff\":{}}", 0, FERRY_E_CORRUPT, "offset 10: invalid UTF-8");
    REJECT("{\"a\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]}}\xc0\x80", 4,
           FERRY_E_CORRUPT, "invalid UTF-8");
    /* UTF-8 outside strings is valid UTF-8 but not JSON */
    REJECT("{}\xc3\xa9", 0, FERRY_E_CORRUPT, "after the JSON value");
    ACCEPT("{\"\xc3\xa9\xe2\x82\xac\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}",
           1, 1);
}

TEST(header_not_an_object)
{
    static const char *bad[] = {"[]", "1", "\"s\"", "null", "true", "[{}]"};
    for (size_t i = 0; i < FERRY_ARRAY_LEN(bad); i++)
        REJECT(bad[i], 0, FERRY_E_CORRUPT, "expected a JSON object");
    REJECT("{", 0, FERRY_E_CORRUPT, "end of input");
    REJECT("{\"a\":}", 0, FERRY_E_CORRUPT, "expected a JSON value");
    REJECT("{}x", 0, FERRY_E_CORRUPT, "after the JSON value");
    REJECT("{} {}", 0, FERRY_E_CORRUPT, "after the JSON value");
    reject_blob(make_n(4, "{}\0\0", 4, 0), FERRY_E_CORRUPT, "byte 0x00", __LINE__); /* NUL pad */
    reject_blob(make_n(3, "{}\f", 3, 0), FERRY_E_CORRUPT, "after the JSON value", __LINE__);
    ACCEPT("{} \t\r\n", 0, 0);
}

TEST(metadata_rules)
{
    REJECT("{\"__metadata__\":\"x\"}", 0, FERRY_E_CORRUPT, "__metadata__: found a string");
    REJECT("{\"__metadata__\":[]}", 0, FERRY_E_CORRUPT, "expected an object of string values");
    REJECT("{\"__metadata__\":{\"k\":1}}", 0, FERRY_E_CORRUPT, "value of \"k\"");
    REJECT("{\"__metadata__\":{\"k\":null}}", 0, FERRY_E_CORRUPT, "expected a string");
    REJECT("{\"__metadata__\":{\"k\":{}}}", 0, FERRY_E_CORRUPT, "expected a string");
    REJECT("{\"__metadata__\":{\"k\":[\"v\"]}}", 0, FERRY_E_CORRUPT, "expected a string");
    REJECT("{\"__metadata__\":{},\"__metadata__\":{}}", 0, FERRY_E_CORRUPT, "duplicate key");
    REJECT("{\"__metadata__\":{\"k\":\"a\",\"k\":\"b\"}}", 0, FERRY_E_CORRUPT, "duplicate key");
    REJECT("{\"__metadata__\":{\"a\\u0000b\":\"v\"}}", 0, FERRY_E_UNSUPPORTED, "U+0000");
    ACCEPT("{\"__metadata__\":{\"k\":\"v\",\"e\":\"\",\"n\":\"a\\u0000b\"}}", 0, 0);
}

TEST(tensor_entry_rules)
{
    REJECT("{\"a\":1}", 0, FERRY_E_CORRUPT, "tensor \"a\": found an integer, expected an object");
    REJECT("{\"a\":\"F32\"}", 0, FERRY_E_CORRUPT, "expected an object with dtype");
    REJECT("{\"a\":null}", 0, FERRY_E_CORRUPT, "expected an object with dtype");
    REJECT("{\"a\":{\"shape\":[2],\"data_offsets\":[0,8]}}", 8, FERRY_E_CORRUPT,
           "missing field \"dtype\"");
    REJECT("{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,8]}}", 8, FERRY_E_CORRUPT,
           "missing field \"shape\"");
    REJECT("{\"a\":{\"dtype\":\"F32\",\"shape\":[2]}}", 8, FERRY_E_CORRUPT,
           "missing field \"data_offsets\"");
    REJECT("{\"a\":{}}", 0, FERRY_E_CORRUPT, "missing field");
    REJECT("{\"a\":{\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}",
           8, FERRY_E_CORRUPT, "duplicate");
    /* array form: exactly three elements */
    REJECT("{\"a\":[]}", 0, FERRY_E_CORRUPT, "array of 0 elements");
    REJECT("{\"a\":[\"F32\",[2]]}", 8, FERRY_E_CORRUPT, "array of 2 elements");
    REJECT("{\"a\":[\"F32\",[2],[0,8],1]}", 8, FERRY_E_CORRUPT, "after three elements");
    /* duplicate tensor names (serde keeps the last; the README forbids them; so do we) */
    REJECT("{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},"
           "\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1, FERRY_E_CORRUPT,
           "duplicate key \"a\"");
    REJECT("{\"a\\u0000\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1,
           FERRY_E_UNSUPPORTED, "U+0000");
}

TEST(dtype_rules)
{
    static const char *bad[] = {"F128", "f32", "", "FLOAT32", "float32", "Q4_0", "C128",
                                "F8_E4M3FN", "F32 ", "I4"};
    for (size_t i = 0; i < FERRY_ARRAY_LEN(bad); i++) {
        char hdr[200];
        snprintf(hdr, sizeof hdr, "{\"a\":{\"dtype\":\"%s\",\"shape\":[2],\"data_offsets\":"
                 "[0,8]}}", bad[i]);
        REJECT(hdr, 8, FERRY_E_CORRUPT, "unknown dtype");
    }
    REJECT("{\"a\":{\"dtype\":1,\"shape\":[2],\"data_offsets\":[0,8]}}", 8, FERRY_E_CORRUPT,
           "expected a dtype string");
    REJECT("{\"a\":{\"dtype\":null,\"shape\":[2],\"data_offsets\":[0,8]}}", 8, FERRY_E_CORRUPT,
           "expected a dtype string");
    REJECT("{\"a\":{\"dtype\":[\"F32\"],\"shape\":[2],\"data_offsets\":[0,8]}}", 8,
           FERRY_E_CORRUPT, "expected a dtype string");
    REJECT("{\"a\":{\"dtype\":{},\"shape\":[2],\"data_offsets\":[0,8]}}", 8, FERRY_E_CORRUPT,
           "empty object");
    REJECT("{\"a\":{\"dtype\":{\"F32\":1},\"shape\":[2],\"data_offsets\":[0,8]}}", 8,
           FERRY_E_CORRUPT, "expected null or {}");
    REJECT("{\"a\":{\"dtype\":{\"F32\":{\"x\":1}},\"shape\":[2],\"data_offsets\":[0,8]}}", 8,
           FERRY_E_CORRUPT, "expected null or {}");
    REJECT("{\"a\":{\"dtype\":{\"F32\":null,\"I8\":null},\"shape\":[2],\"data_offsets\":[0,8]}}",
           8, FERRY_E_CORRUPT, "single key");
    REJECT("{\"a\":{\"dtype\":{\"X\":null},\"shape\":[2],\"data_offsets\":[0,8]}}", 8,
           FERRY_E_CORRUPT, "unknown dtype \"X\"");
    ACCEPT("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, 1);
}

TEST(shape_and_offsets_rules)
{
    static const char *bad_shapes[] = {"\"2\"", "{}", "[-1]", "[1.0]", "[1e0]", "[-0]",
                                       "[\"1\"]", "[null]", "[[2]]", "[true]", "2"};
    for (size_t i = 0; i < FERRY_ARRAY_LEN(bad_shapes); i++) {
        char hdr[200];
        snprintf(hdr, sizeof hdr, "{\"a\":{\"dtype\":\"U8\",\"shape\":%s,\"data_offsets\":"
                 "[0,2]}}", bad_shapes[i]);
        REJECT(hdr, 2, FERRY_E_CORRUPT, "shape: found");
    }
    static const char *bad_offsets[] = {"[0]", "[0,8,8]", "[]", "[-1,8]", "[0,8.0]", "\"0,8\"",
                                        "{\"0\":8}", "[0,null]", "8", "[0,18446744073709551616]"};
    for (size_t i = 0; i < FERRY_ARRAY_LEN(bad_offsets); i++) {
        char hdr[200];
        snprintf(hdr, sizeof hdr, "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":%s}}",
                 bad_offsets[i]);
        REJECT(hdr, 8, FERRY_E_CORRUPT, "data_offsets");
    }
    ACCEPT("{\"a\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]}}", 4, 1);
    ACCEPT("{\"a\":{\"dtype\":\"F32\",\"shape\":[2,0,3],\"data_offsets\":[0,0]}}", 0, 1);
    ACCEPT("{\"a\":{\"dtype\":\"U8\",\"shape\":[1,1,1,2],\"data_offsets\":[0,2]}}", 2, 1);
}

TEST(invalid_offsets)
{
    /* first tensor must begin at 0 */
    REJECT("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8,
           FERRY_E_CORRUPT, "tensor \"a\": data_offsets [4, 8] leave a gap");
    /* gap between tensors */
    REJECT("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
           "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}", 12,
           FERRY_E_CORRUPT, "tensor \"b\": data_offsets [8, 12] leave a gap");
    /* overlap */
    REJECT("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
           "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12,
           FERRY_E_CORRUPT, "overlap the previous tensor");
    /* the same range twice */
    REJECT("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
           "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8,
           FERRY_E_CORRUPT, "overlap the previous tensor");
    /* end before begin */
    REJECT("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
           "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,0]}}", 4,
           FERRY_E_CORRUPT, "end before they begin");
    /* boundary: the same two tensors tiling the buffer, header order irrelevant */
    ACCEPT("{\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]},"
           "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 8, 2);
}

TEST(validation_overflow)
{
    REJECT("{\"a\":{\"dtype\":\"U8\",\"shape\":[4294967296,4294967296,0],\"data_offsets\":"
           "[0,0]}}", 0, FERRY_E_CORRUPT, "element count of its shape overflows");
    REJECT("{\"a\":{\"dtype\":\"F64\",\"shape\":[2305843009213693952],\"data_offsets\":[0,0]}}", 0,
           FERRY_E_CORRUPT, "overflow 64 bits");
    REJECT("{\"a\":{\"dtype\":\"U64\",\"shape\":[18446744073709551615,18446744073709551615],"
           "\"data_offsets\":[0,0]}}", 0, FERRY_E_CORRUPT, "overflows");
    /* boundary: 2^60 bytes do not overflow; they just do not fit the data */
    REJECT("{\"a\":{\"dtype\":\"U8\",\"shape\":[1152921504606846976],\"data_offsets\":[0,0]}}", 0,
           FERRY_E_CORRUPT, "span 0 bytes, expected 1152921504606846976");
    /* a dimension beyond int64 is valid safetensors but not representable in ferry */
    REJECT("{\"a\":{\"dtype\":\"U8\",\"shape\":[0,9223372036854775808],\"data_offsets\":[0,0]}}",
           0, FERRY_E_UNSUPPORTED, "2^63-1");
    ACCEPT("{\"a\":{\"dtype\":\"U8\",\"shape\":[0,9223372036854775807],\"data_offsets\":[0,0]}}",
           0, 1);
}

TEST(misaligned_sub_byte)
{
    REJECT("{\"a\":{\"dtype\":\"F4\",\"shape\":[3],\"data_offsets\":[0,2]}}", 2, FERRY_E_CORRUPT,
           "12 bits, expected a multiple of 8");
    REJECT("{\"a\":{\"dtype\":\"F6_E2M3\",\"shape\":[3],\"data_offsets\":[0,3]}}", 3,
           FERRY_E_CORRUPT, "18 bits");
    REJECT("{\"a\":{\"dtype\":\"F6_E3M2\",\"shape\":[2],\"data_offsets\":[0,2]}}", 2,
           FERRY_E_CORRUPT, "12 bits");
    ACCEPT("{\"a\":{\"dtype\":\"F4\",\"shape\":[2],\"data_offsets\":[0,1]}}", 1, 1);
    ACCEPT("{\"a\":{\"dtype\":\"F4\",\"shape\":[3,2],\"data_offsets\":[0,3]}}", 3, 1);
    ACCEPT("{\"a\":{\"dtype\":\"F6_E2M3\",\"shape\":[4],\"data_offsets\":[0,3]}}", 3, 1);
    ACCEPT("{\"a\":{\"dtype\":\"F6_E3M2\",\"shape\":[2,2],\"data_offsets\":[0,3]}}", 3, 1);
}

TEST(tensor_invalid_info)
{
    REJECT("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,7]}}", 7, FERRY_E_CORRUPT,
           "span 7 bytes, expected 8");
    REJECT("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,9]}}", 9, FERRY_E_CORRUPT,
           "span 9 bytes, expected 8");
    REJECT("{\"a\":{\"dtype\":\"F4\",\"shape\":[],\"data_offsets\":[0,1]}}", 1, FERRY_E_CORRUPT,
           "4 bits");
    ACCEPT("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, 1);
}

TEST(incomplete_buffer)
{
    const char *hdr = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
    char want[64];
    snprintf(want, sizeof want, "offset %zu: found 1 bytes after the last tensor",
             8 + strlen(hdr) + 8);
    REJECT(hdr, 9, FERRY_E_CORRUPT, want);
    REJECT(hdr, 7, FERRY_E_CORRUPT, "found the end of the file, expected 8 bytes");
    REJECT("{}", 1, FERRY_E_CORRUPT, "after the last tensor");
    REJECT("{\"a\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[0,0]}}", 3, FERRY_E_CORRUPT,
           "found 3 bytes after the last tensor");
    ACCEPT(hdr, 8, 1);
}

TEST(limits)
{
    const char *three = "{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},"
                        "\"b\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1,2]},"
                        "\"c\":{\"dtype\":\"U8\",\"shape\":[1,1,1],\"data_offsets\":[2,3]}}";
    set_limits(2, 0, 0, 0);
    REJECT(three, 3, FERRY_E_LIMIT, "limit tensor_count");
    set_limits(3, 2, 0, 0);
    REJECT(three, 3, FERRY_E_LIMIT, "limit dims");
    set_limits(3, 3, 0, 0);
    ACCEPT(three, 3, 3);
    set_limits(0, 0, 40, 0);
    REJECT(three, 3, FERRY_E_LIMIT, "header_bytes");
    default_limits();
    set_limits(0, 0, 0, 3);
    REJECT("{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1],\"x\":[[1]]}}", 1,
           FERRY_E_LIMIT, "metadata_depth");
    ACCEPT("{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1],\"x\":[1]}}", 1, 1);
    default_limits();
}

static int blob_read(void *ud, uint64_t off, void *dst, size_t len)
{
    memcpy(dst, ((blob *)ud)->p + off, len);
    return 0;
}

TEST(callback_source)
{
    /* sources that cannot be mapped get their header copied; tensors are read through them */
    blob b = make("{\"a\":{\"dtype\":\"U16\",\"shape\":[3],\"data_offsets\":[0,6]}}", 6);
    ferry_source *cb;
    CHECK_EQ_INT(ferry_source_from_callback(g_ctx, b.n, blob_read, NULL, &b, "cb.safetensors",
                                            &cb), 0);
    ferry_model *m;
    CHECK_EQ_INT(ferry_open_source(g_ctx, cb, NULL, &m), 0);
    ferry_source_close(cb);
    uint8_t buf[6];
    const void *p;
    CHECK_EQ_INT(ferry_tensor_data(m, 0, &p), FERRY_E_UNSUPPORTED);
    CHECK_EQ_INT(ferry_tensor_read(m, 0, 0, buf, 6), 0);
    CHECK(buf[0] == pattern(0) && buf[5] == pattern(5));
    ferry_model_close(m);
    free(b.p);
}

/* ============================================================================================
 * Writer
 * ========================================================================================== */

/* The layouts the reference writer's own unit tests pin down (tensor.rs), rebuilt here. */
TEST(writer_reference_layouts)
{
    static const float v[6] = {0, 1, 2, 3, 4, 5};
    struct {
        const char *name;
        int32_t     ndim;
        int64_t     shape[4];
        const char *meta;
        const char *json;
        size_t      n;
    } cases[] = {
        {"attn.0", 3, {1, 2, 3}, NULL,
         "{\"attn.0\":{\"dtype\":\"F32\",\"shape\":[1,2,3],\"data_offsets\":[0,24]}}", 64},
        {"attn0", 4, {1, 1, 2, 3}, NULL,
         "{\"attn0\":{\"dtype\":\"F32\",\"shape\":[1,1,2,3],\"data_offsets\":[0,24]}}       ",
         72},
        {NULL, 0, {0}, NULL, "{}      ", 8},
        {NULL, 0, {0}, "pt", "{\"__metadata__\":{\"framework\":\"pt\"}}     ", 40},
    };
    for (size_t c = 0; c < FERRY_ARRAY_LEN(cases); c++) {
        ferry_model *m;
        ferry_model_new(g_ctx, &m);
        if (cases[c].name)
            ferry_model_add_tensor(m, cases[c].name, FERRY_DTYPE_F32, cases[c].ndim,
                                   cases[c].shape, v);
        if (cases[c].meta) ferry_model_set_meta_string(m, "framework", cases[c].meta);
        int rc;
        blob b = write_mem(m, &rc);
        CHECK_EQ_INT(rc, 0);
        size_t data = cases[c].name ? 24 : 0;
        CHECK_EQ_INT(b.n, 8 + cases[c].n + data);
        if (b.n == 8 + cases[c].n + data) {
            CHECK_EQ_INT(ferry__rd64le(b.p), cases[c].n);
            CHECK(memcmp(b.p + 8, cases[c].json, cases[c].n) == 0);
            if (data) CHECK(memcmp(b.p + 8 + cases[c].n, v, 24) == 0);
        }
        free(b.p);
        ferry_model_close(m);
    }
}

static size_t dtype_bytes_for(int i, int64_t *shape, int32_t *ndim)
{
    /* F4: 8 elements in 4 bytes; F6: 4 elements in 3 bytes; others [2,3] */
    if (all_dtypes[i].bits == 4) {
        *ndim = 2;
        shape[0] = 2;
        shape[1] = 4;
        return 4;
    }
    if (all_dtypes[i].bits == 6) {
        *ndim = 1;
        shape[0] = 4;
        return 3;
    }
    *ndim = 2;
    shape[0] = 2;
    shape[1] = 3;
    return (size_t)(6 * all_dtypes[i].bits / 8);
}

TEST(round_trip_every_dtype)
{
    ferry_model *m;
    ferry_model_new(g_ctx, &m);
    uint8_t data[N_DTYPES][64];
    for (int i = 0; i < N_DTYPES; i++) {
        int64_t shape[2];
        int32_t nd;
        size_t nb = dtype_bytes_for(i, shape, &nd);
        for (size_t k = 0; k < nb; k++) data[i][k] = (uint8_t)(i * 31 + k);
        if (all_dtypes[i].dt == FERRY_DTYPE_BOOL)
            for (size_t k = 0; k < nb; k++) data[i][k] &= 1;
        char name[32];
        snprintf(name, sizeof name, "t.%s", all_dtypes[i].name);
        CHECK_EQ_INT(ferry_model_add_tensor(m, name, all_dtypes[i].dt, nd, shape, data[i]), 0);
    }
    ferry_model_set_meta_string(m, "s", "x\"y");
    ferry_model_set_meta_int(m, "i", -5, FERRY_DTYPE_I64);
    ferry_model_set_meta_int(m, "u", 7, FERRY_DTYPE_U32);
    ferry_model_set_meta_float(m, "f", 0.1, FERRY_DTYPE_F64);
    ferry_model_set_meta_int(m, "b", 1, FERRY_DTYPE_BOOL);
    int rc;
    blob b = write_mem(m, &rc);
    CHECK_EQ_INT(rc, 0);
    CHECK_EQ_INT(ferry__rd64le(b.p) % 8, 0);
    char *hdr = header_of(b);
    const char *meta = "{\"__metadata__\":{\"s\":\"x\\\"y\",\"i\":\"-5\",\"u\":\"7\",\"f\":\"0.1\","
                       "\"b\":\"true\"},\"t.U64\":{\"dtype\":\"U64\",\"shape\":[2,3],"
                       "\"data_offsets\":[0,48]},\"t.I64\":";
    CHECK_MSG(strncmp(hdr, meta, strlen(meta)) == 0, "header: %.300s", hdr);
    free(hdr);

    ferry_model *r;
    CHECK_EQ_INT(open_blob(b, NULL, &r), 0);
    CHECK_EQ_INT(ferry_model_tensor_count(r), N_DTYPES);
    /* order: dtype descending in the Rust enum, i.e. all_dtypes[] backwards */
    for (int k = 0; k < N_DTYPES && r; k++) {
        int i = N_DTYPES - 1 - k;
        ferry_tensor_info ti = {.struct_size = sizeof ti};
        ferry_model_tensor_info(r, k, &ti);
        char name[32];
        snprintf(name, sizeof name, "t.%s", all_dtypes[i].name);
        CHECK_EQ_STR(ti.name, name);
        CHECK_EQ_INT(ti.dtype, all_dtypes[i].dt);
        int64_t shape[2];
        int32_t nd;
        size_t nb = dtype_bytes_for(i, shape, &nd);
        CHECK(ti.ndim == nd && ti.shape[0] == shape[0]);
        CHECK_EQ_INT(ti.nbytes, nb);
        const void *p;
        CHECK_EQ_INT(ferry_tensor_data(r, k, &p), 0);
        CHECK(memcmp(p, data[i], nb) == 0);
    }
    const ferry_meta *root = ferry_model_metadata(r);
    CHECK_EQ_STR(ferry_meta_string(ferry_meta_get(root, "f"), NULL), "0.1");
    CHECK_EQ_STR(ferry_meta_string(ferry_meta_get(root, "s"), NULL), "x\"y");
    /* writing what was read gives the same bytes */
    blob b2 = write_mem(r, &rc);
    CHECK(rc == 0 && b2.n == b.n && memcmp(b.p, b2.p, b.n) == 0);
    free(b2.p);
    ferry_model_close(r);
    ferry_model_close(m);
    free(b.p);
}

TEST(writer_sorts_by_dtype_then_name)
{
    ferry_model *m;
    ferry_model_new(g_ctx, &m);
    static const uint8_t z[64];
    int64_t s1[1] = {2};
    ferry_model_add_tensor(m, "b", FERRY_DTYPE_U8, 1, s1, z);
    ferry_model_add_tensor(m, "a", FERRY_DTYPE_U8, 1, s1, z);
    ferry_model_add_tensor(m, "Z", FERRY_DTYPE_U8, 1, s1, z);
    ferry_model_add_tensor(m, "c", FERRY_DTYPE_F16, 1, s1, z);
    ferry_model_add_tensor(m, "\xc3\xa9", FERRY_DTYPE_U8, 1, s1, z);
    ferry_model_add_tensor(m, "d", FERRY_DTYPE_BOOL, 1, s1, z);
    ferry_model_add_tensor(m, "e", FERRY_DTYPE_I64, 1, s1, z);
    int rc;
    blob b = write_mem(m, &rc);
    ferry_model *r;
    CHECK_EQ_INT(open_blob(b, NULL, &r), 0);
    static const char *order[] = {"e", "c", "Z", "a", "b", "\xc3\xa9", "d"};
    for (int i = 0; i < 7 && r; i++) {
        ferry_tensor_info ti = {.struct_size = sizeof ti};
        ferry_model_tensor_info(r, i, &ti);
        CHECK_EQ_STR(ti.name, order[i]);
    }
    ferry_model_close(r);
    ferry_model_close(m);
    free(b.p);
}

static int g_notices;
static void count_log(void *ud, int level, const char *msg)
{
    (void)ud;
    (void)level;
    (void)msg;
    g_notices++;
}

TEST(writer_metadata_and_refusals)
{
    ferry_model *m;
    ferry_model_new(g_ctx, &m);
    static const uint8_t z[8];
    int64_t s1[1] = {2};
    /* arrays and maps cannot be strings: skipped with a notice */
    ferry_meta *arr = ferry__meta_append(m, m->meta, "arr", 3);
    ferry__meta_set_array(arr, FERRY_DTYPE_U8);
    ferry__meta_set_uint(ferry__meta_append(m, arr, NULL, 0), 1, FERRY_DTYPE_U8);
    ferry_model_set_meta_string(m, "bad", "\xff");
    ferry_model_set_meta_float(m, "big", 1e16, FERRY_DTYPE_F32);
    ferry_model_set_meta_string(m, "ctl", "a\nb\x01");
    ferry_model_add_tensor(m, "w", FERRY_DTYPE_U8, 1, s1, z);
    g_notices = 0;
    ferry_ctx_set_log(g_ctx, count_log, NULL);
    int rc;
    blob b = write_mem(m, &rc);
    ferry_ctx_set_log(g_ctx, NULL, NULL);
    CHECK_EQ_INT(rc, 0);
    CHECK_EQ_INT(g_notices, 2);
    char *hdr = header_of(b);
    CHECK_MSG(strncmp(hdr, "{\"__metadata__\":{\"big\":\"1e+16\",\"ctl\":\"a\\nb\\u0001\"},", 51)
              == 0, "%s", hdr);
    free(hdr);
    free(b.p);
    ferry_model_close(m);

    /* the reserved name, a non-UTF-8 name, duplicate names */
    ferry_model_new(g_ctx, &m);
    ferry_model_add_tensor(m, "__metadata__", FERRY_DTYPE_U8, 1, s1, z);
    write_mem(m, &rc);
    CHECK_EQ_INT(rc, FERRY_E_UNSUPPORTED);
    CHECK(strstr(ferry_ctx_error(g_ctx), "reserved") != NULL);
    ferry_model_close(m);
    ferry_model_new(g_ctx, &m);
    ferry_model_add_tensor(m, "x\xff", FERRY_DTYPE_U8, 1, s1, z);
    write_mem(m, &rc);
    CHECK_EQ_INT(rc, FERRY_E_UNSUPPORTED);
    ferry_model_close(m);
    ferry_model_new(g_ctx, &m);
    for (int k = 0; k < 2; k++) {
        ferry__tensor *t = ferry__model_add_tensor(m, "dup", 3, FERRY_DTYPE_U8, 1, s1, 0);
        t->mem = z;
        t->flags |= FERRY_TENSOR_ZERO_COPY;
    }
    write_mem(m, &rc);
    CHECK_EQ_INT(rc, FERRY_E_UNSUPPORTED);
    CHECK(strstr(ferry_ctx_error(g_ctx), "two tensors named \"dup\"") != NULL);
    ferry_model_close(m);
}

TEST(writer_to_file_and_can_write)
{
    char path[600];
    snprintf(path, sizeof path, "%s/w.safetensors", t_tmpdir());
    CHECK_EQ_STR(ferry_format_for_path(path), "safetensors");
    ferry_model *m;
    ferry_model_new(g_ctx, &m);
    static const int32_t v[4] = {1, -2, 3, -4};
    int64_t s[2] = {2, 2};
    ferry_model_add_tensor(m, "w", FERRY_DTYPE_I32, 2, s, v);
    CHECK_EQ_INT(ferry_write(m, path, NULL), 0);
    ferry_model_close(m);
    ferry_model *r;
    CHECK_EQ_INT(ferry_open(g_ctx, path, NULL, &r), 0);
    int32_t got[4] = {0};
    CHECK_EQ_INT(ferry_tensor_read(r, 0, 0, got, 16), 0);
    CHECK(memcmp(got, v, 16) == 0);
    ferry_model_close(r);
    const ferry_format_ops *f = ferry__format_by_name("safetensors");
    int n = 0;
    for (int d = 0; d < FERRY_DTYPE__PLAIN_END; d++) n += f->can_write((ferry_dtype)d);
    CHECK_EQ_INT(n, 22);
    CHECK(!f->can_write(FERRY_DTYPE_C128) && !f->can_write(FERRY_DTYPE_Q4_0));
}

/* ============================================================================================
 * Sharded checkpoints
 * ========================================================================================== */

static char g_dir[700];

static void mkshard(const char *dir, const char *file, const char *const *names, int n,
                    ferry_dtype dt)
{
    static const uint8_t z[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
    ferry_model *m;
    ferry_model_new(g_ctx, &m);
    int64_t s[1] = {2};
    for (int i = 0; i < n; i++) ferry_model_add_tensor(m, names[i], dt, 1, s, z);
    ferry_model_set_meta_string(m, "format", "pt");
    char path[900];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    if (ferry_write(m, path, NULL) != 0) fprintf(stderr, "mkshard: %s\n", ferry_ctx_error(g_ctx));
    ferry_model_close(m);
}

static void mkindex(const char *dir, const char *file, const char *json)
{
    char path[900];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    write_file(path, json, strlen(json));
}

static const char *subdir(const char *name)
{
    static char p[800];
    snprintf(p, sizeof p, "%s/%s", g_dir, name);
    mkdir(p, 0755);
    return p;
}

#define S1 "model-00001-of-00002.safetensors"
#define S2 "model-00002-of-00002.safetensors"

TEST(sharded_open)
{
    const char *d = subdir("ok");
    static const char *n1[] = {"b", "a"}, *n2[] = {"c"};
    mkshard(d, S1, n1, 2, FERRY_DTYPE_F32);
    mkshard(d, S2, n2, 1, FERRY_DTYPE_U8);
    mkindex(d, "model.safetensors.index.json",
            "{\"metadata\":{\"total_size\":18,\"note\":[1,2]},\"weight_map\":{\"c\":\"" S2 "\","
            "\"a\":\"" S1 "\",\"b\":\"" S1 "\"},\"other\":{\"x\":[]}}");
    char idx[900];
    snprintf(idx, sizeof idx, "%s/model.safetensors.index.json", d);
    const char *fmt = NULL;
    CHECK_EQ_INT(ferry_detect(g_ctx, idx, &fmt), 0);
    CHECK_EQ_STR(fmt, "safetensors");
    fmt = NULL;
    CHECK_EQ_INT(ferry_detect(g_ctx, d, &fmt), 0);
    CHECK_EQ_STR(fmt, "safetensors");
    for (int via = 0; via < 2; via++) {
        ferry_model *m;
        int rc = ferry_open(g_ctx, via ? d : idx, NULL, &m);
        CHECK_MSG(rc == 0, "%s", ferry_ctx_error(g_ctx));
        if (rc) continue;
        CHECK_EQ_INT(ferry_model_tensor_count(m), 3);
        static const char *order[] = {"a", "b", "c"};
        for (int i = 0; i < 3; i++) {
            ferry_tensor_info ti = {.struct_size = sizeof ti};
            ferry_model_tensor_info(m, i, &ti);
            CHECK_EQ_STR(ti.name, order[i]);
            CHECK(ti.file && strstr(ti.file, i < 2 ? S1 : S2));
        }
        uint8_t buf[8];
        CHECK_EQ_INT(ferry_tensor_read(m, 2, 0, buf, 2), 0);
        CHECK(buf[0] == 1 && buf[1] == 2);
        const ferry_meta *root = ferry_model_metadata(m);
        CHECK_EQ_INT(ferry_meta_count(root), 3);
        CHECK_EQ_STR(ferry_meta_key_at(root, 0), "total_size");
        CHECK_EQ_INT(ferry_meta_kind_of(ferry_meta_get(root, "total_size")), FERRY_META_UINT);
        CHECK_EQ_INT(ferry_meta_uint(ferry_meta_get(root, "total_size")), 18);
        CHECK_EQ_INT(ferry_meta_kind_of(ferry_meta_get(root, "note")), FERRY_META_ARRAY);
        CHECK_EQ_STR(ferry_meta_string(ferry_meta_get(root, "format"), NULL), "pt");
        ferry_model_close(m);
    }
    /* an index held in memory has no directory to find shards in */
    FILE *f = fopen(idx, "rb");
    char text[512];
    size_t n = f ? fread(text, 1, sizeof text, f) : 0;
    if (f) fclose(f);
    ferry_source *src;
    ferry_source_from_memory(g_ctx, text, n, "mem.json", &src);
    ferry_model *m;
    CHECK_EQ_INT(ferry_open_source(g_ctx, src, NULL, &m), FERRY_E_UNSUPPORTED);
    ferry_source_close(src);
}

static void shard_reject(const char *dirname, const char *index_json, int code, const char *want,
                         int line)
{
    const char *d = subdir(dirname);
    static const char *n1[] = {"a", "b"}, *n2[] = {"c", "d"}, *n3[] = {"a", "x"};
    mkshard(d, S1, n1, 2, FERRY_DTYPE_F32);
    mkshard(d, S2, n2, 2, FERRY_DTYPE_F32);
    mkshard(d, "other.safetensors", n3, 2, FERRY_DTYPE_F32);
    mkindex(d, "model.safetensors.index.json", index_json);
    char idx[900];
    snprintf(idx, sizeof idx, "%s/model.safetensors.index.json", d);
    for (int via = 0; via < 2; via++) {
        ferry_model *m;
        int rc = ferry_open(g_ctx, via ? d : idx, "safetensors", &m);
        const char *err = ferry_ctx_error(g_ctx);
        if (rc != code || !strstr(err, want) || !strstr(err, d)) {
            fprintf(stderr, "%s:%d: rc %d (want %d): \"%s\" (want \"%s\")\n", __FILE__, line, rc,
                    code, err, want);
            t_cur_failed_++;
        }
        ferry_model_close(m);
    }
}

TEST(sharded_rejections)
{
    shard_reject("dotdot", "{\"weight_map\":{\"a\":\"../x.safetensors\"}}", FERRY_E_CORRUPT,
                 "'..' component", __LINE__);
    shard_reject("inner", "{\"weight_map\":{\"a\":\"sub/../" S1 "\"}}", FERRY_E_CORRUPT,
                 "'..' component", __LINE__);
    char abs[1200];
    snprintf(abs, sizeof abs, "{\"weight_map\":{\"a\":\"%s/abs/" S1 "\"}}", g_dir);
    shard_reject("abs", abs, FERRY_E_CORRUPT, "not a plain relative path", __LINE__);
    shard_reject("bslash", "{\"weight_map\":{\"a\":\"..\\\\x.safetensors\"}}", FERRY_E_CORRUPT,
                 "not a plain relative path", __LINE__);
    shard_reject("missing", "{\"weight_map\":{\"a\":\"" S1 "\",\"zz\":\"" S1 "\"}}",
                 FERRY_E_CORRUPT, "tensor \"zz\" is not in its shard", __LINE__);
    shard_reject("wrong", "{\"weight_map\":{\"a\":\"" S1 "\",\"c\":\"" S1 "\",\"d\":\"" S2 "\"}}",
                 FERRY_E_CORRUPT, "tensor \"c\" is mapped to \"" S1 "\" but stored in", __LINE__);
    shard_reject("twice", "{\"weight_map\":{\"a\":\"" S1 "\",\"x\":\"other.safetensors\"}}",
                 FERRY_E_CORRUPT, "tensor \"a\" is stored in two shards", __LINE__);
    shard_reject("nomap", "{\"metadata\":{}}", FERRY_E_CORRUPT, "weight_map: missing", __LINE__);
    shard_reject("badmap", "{\"weight_map\":[]}", FERRY_E_CORRUPT, "weight_map: found an array",
                 __LINE__);
    shard_reject("badval", "{\"weight_map\":{\"a\":1}}", FERRY_E_CORRUPT,
                 "shard of tensor \"a\": found an integer", __LINE__);
    shard_reject("emptyval", "{\"weight_map\":{\"a\":\"\"}}", FERRY_E_CORRUPT,
                 "expected a file name", __LINE__);
    shard_reject("dupkey", "{\"weight_map\":{\"a\":\"" S1 "\",\"a\":\"" S1 "\"}}",
                 FERRY_E_CORRUPT, "duplicate key \"a\"", __LINE__);
    shard_reject("nofile", "{\"weight_map\":{\"a\":\"nope.safetensors\"}}", FERRY_E_IO,
                 "cannot be opened", __LINE__);
    shard_reject("garbage", "{\"weight_map\":{}} x", FERRY_E_CORRUPT, "after the JSON value",
                 __LINE__);
    /* a symlink inside the directory that points outside of it */
    const char *d = subdir("link");
    char target[900], link[900];
    snprintf(target, sizeof target, "%s/ok/" S1, g_dir);
    snprintf(link, sizeof link, "%s/evil.safetensors", d);
    if (symlink(target, link) != 0) perror("symlink");
    shard_reject("link", "{\"weight_map\":{\"a\":\"evil.safetensors\"}}", FERRY_E_CORRUPT,
                 "resolves outside the model directory", __LINE__);
    /* a corrupt shard reports the shard's own error */
    d = subdir("badshard");
    mkindex(d, "broken.safetensors", "xx");
    shard_reject("badshard", "{\"weight_map\":{\"a\":\"broken.safetensors\"}}", FERRY_E_CORRUPT,
                 "expected at least 8", __LINE__);
}

TEST(directory_forms)
{
    ferry_model *m;
    const char *fmt;
    /* exactly one .safetensors file and no index */
    const char *d = subdir("single");
    static const char *n1[] = {"only"};
    mkshard(d, "weights.safetensors", n1, 1, FERRY_DTYPE_U8);
    CHECK_EQ_INT(ferry_open(g_ctx, d, NULL, &m), 0);
    CHECK_EQ_INT(ferry_model_tensor_count(m), 1);
    ferry_model_close(m);
    /* two files and no index: nothing to choose from */
    mkshard(d, "more.safetensors", n1, 1, FERRY_DTYPE_U8);
    CHECK_EQ_INT(ferry_detect(g_ctx, d, &fmt), FERRY_E_UNKNOWN_FORMAT);
    CHECK_EQ_INT(ferry_open(g_ctx, d, "safetensors", &m), FERRY_E_UNSUPPORTED);
    CHECK(strstr(ferry_ctx_error(g_ctx), "2 .safetensors files") != NULL);
    /* two index files, neither model.safetensors.index.json */
    d = subdir("twoidx");
    mkshard(d, S1, n1, 1, FERRY_DTYPE_U8);
    mkindex(d, "a.safetensors.index.json", "{\"weight_map\":{\"only\":\"" S1 "\"}}");
    mkindex(d, "b.safetensors.index.json", "{\"weight_map\":{\"only\":\"" S1 "\"}}");
    CHECK_EQ_INT(ferry_open(g_ctx, d, NULL, &m), FERRY_E_UNSUPPORTED);
    CHECK(strstr(ferry_ctx_error(g_ctx), "a.safetensors.index.json, b.safetensors") != NULL);
    /* ... unless one of them is the standard name */
    mkindex(d, "model.safetensors.index.json", "{\"weight_map\":{\"only\":\"" S1 "\"}}");
    CHECK_EQ_INT(ferry_open(g_ctx, d, NULL, &m), 0);
    ferry_model_close(m);
    /* an empty directory */
    d = subdir("empty");
    CHECK_EQ_INT(ferry_open(g_ctx, d, NULL, &m), FERRY_E_UNKNOWN_FORMAT);
    CHECK_EQ_INT(ferry_open(g_ctx, d, "safetensors", &m), FERRY_E_NOTFOUND);
}

/* ============================================================================================
 * The shared corpus (written by the reference writer; generate.py in that folder)
 * ========================================================================================== */

#define CORPUS "corpus/safetensors/huggingface+safetensors@bd71d434a6/samples"

static const struct {
    const char *code; /* NumPy type code: tensor name and file name */
    ferry_dtype dt;
    int         size;
    int         is_signed;
    int         is_float;
} corpus_types[] = {
    {"B", FERRY_DTYPE_U8, 1, 0, 0},  {"H", FERRY_DTYPE_U16, 2, 0, 0},
    {"I", FERRY_DTYPE_U32, 4, 0, 0}, {"b", FERRY_DTYPE_I8, 1, 1, 0},
    {"d", FERRY_DTYPE_F64, 8, 1, 1}, {"e", FERRY_DTYPE_F16, 2, 1, 1},
    {"f", FERRY_DTYPE_F32, 4, 1, 1}, {"h", FERRY_DTYPE_I16, 2, 1, 0},
    {"i", FERRY_DTYPE_I32, 4, 1, 0},
};

/* generate.py stores np.array(range(-3, 3)) in each type: unsigned types wrap around. */
static int check_values(ferry_model *m, int64_t t, int k)
{
    const uint8_t *p;
    if (ferry_tensor_data(m, t, (const void **)&p) != 0) return 0;
    int sz = corpus_types[k].size;
    for (int e = 0; e < 6; e++) {
        int want = e - 3;
        const uint8_t *q = p + e * sz;
        double got;
        if (corpus_types[k].is_float) {
            if (sz == 2) got = ferry_f16_to_f32(ferry__rd16le(q));
            else if (sz == 4) {
                uint32_t u = ferry__rd32le(q);
                float f;
                memcpy(&f, &u, 4);
                got = f;
            } else {
                uint64_t u = ferry__rd64le(q);
                memcpy(&got, &u, 8);
            }
        } else {
            uint64_t u = 0;
            for (int b = 0; b < sz; b++) u |= (uint64_t)q[b] << (8 * b);
            uint64_t wrapped = (uint64_t)(int64_t)want & (sz == 8 ? UINT64_MAX
                                                                  : ((1ull << (8 * sz)) - 1));
            if (u != wrapped) return 0;
            continue;
        }
        if (got != want) return 0;
    }
    return 1;
}

TEST(corpus_files)
{
    const char *dir = t_shared(CORPUS);
    if (!dir) return;
    char base[4096];
    snprintf(base, sizeof base, "%s", dir);
    int files = 0;
    for (size_t k = 0; k < FERRY_ARRAY_LEN(corpus_types); k++) {
        char path[4200];
        snprintf(path, sizeof path, "%s/%s.safetensors", base, corpus_types[k].code);
        ferry_model *m;
        int rc = ferry_open(g_ctx, path, NULL, &m);
        CHECK_MSG(rc == 0, "%s: %s", path, ferry_ctx_error(g_ctx));
        if (rc) continue;
        files++;
        CHECK_EQ_INT(ferry_model_tensor_count(m), 1);
        ferry_tensor_info ti = {.struct_size = sizeof ti};
        ferry_model_tensor_info(m, 0, &ti);
        CHECK_EQ_STR(ti.name, corpus_types[k].code);
        CHECK_EQ_INT(ti.dtype, corpus_types[k].dt);
        CHECK(ti.ndim == 1 && ti.shape[0] == 6);
        CHECK_MSG(check_values(m, 0, (int)k), "%s: values", path);
        const ferry_meta *root = ferry_model_metadata(m);
        CHECK_EQ_INT(ferry_meta_count(root), 1);
        CHECK_EQ_STR(ferry_meta_string(ferry_meta_get(root, "test"), NULL), "a");

        /* Written back: the same header JSON (one tensor, one metadata entry), padded with
         * spaces to a multiple of 8 as today's reference writer does (these samples predate
         * the padding), then the same data. */
        FILE *f = fopen(path, "rb");
        uint8_t orig[256];
        size_t on = f ? fread(orig, 1, sizeof orig, f) : 0;
        if (f) fclose(f);
        uint64_t hn = ferry__rd64le(orig);
        int wrc;
        blob b = write_mem(m, &wrc);
        CHECK_EQ_INT(wrc, 0);
        uint64_t pn = (hn + 7) / 8 * 8;
        CHECK_EQ_INT(b.n, on + (pn - hn));
        if (b.n == on + (pn - hn)) {
            CHECK_EQ_INT(ferry__rd64le(b.p), pn);
            CHECK(memcmp(b.p + 8, orig + 8, (size_t)hn) == 0);
            for (uint64_t s = hn; s < pn; s++) CHECK(b.p[8 + s] == ' ');
            CHECK(memcmp(b.p + 8 + pn, orig + 8 + hn, on - 8 - hn) == 0);
        }
        free(b.p);
        ferry_model_close(m);
    }
    /* overall.safetensors: all nine, in file order (the old writer sorted by name only) */
    char path[4200];
    snprintf(path, sizeof path, "%s/overall.safetensors", base);
    ferry_model *m;
    int rc = ferry_open(g_ctx, path, NULL, &m);
    CHECK_MSG(rc == 0, "%s: %s", path, ferry_ctx_error(g_ctx));
    if (rc) return;
    files++;
    CHECK_EQ_INT(ferry_model_tensor_count(m), 9);
    for (int64_t t = 0; t < ferry_model_tensor_count(m); t++) {
        ferry_tensor_info ti = {.struct_size = sizeof ti};
        ferry_model_tensor_info(m, t, &ti);
        CHECK_EQ_STR(ti.name, corpus_types[t].code);
        CHECK_EQ_INT(ti.dtype, corpus_types[t].dt);
        CHECK_MSG(check_values(m, t, (int)t), "overall: %s values", ti.name);
    }
    /* written back by today's rules: dtype descending, then name */
    int wrc;
    blob b = write_mem(m, &wrc);
    ferry_model *r;
    CHECK_EQ_INT(open_blob(b, NULL, &r), 0);
    static const char *order[] = {"d", "f", "I", "i", "e", "H", "h", "b", "B"};
    for (int i = 0; i < 9 && r; i++) {
        ferry_tensor_info ti = {.struct_size = sizeof ti};
        ferry_model_tensor_info(r, i, &ti);
        CHECK_EQ_STR(ti.name, order[i]);
        int64_t j = ferry_model_find_tensor(m, order[i]);
        const void *p1, *p2;
        CHECK(ferry_tensor_data(r, i, &p1) == 0 && ferry_tensor_data(m, j, &p2) == 0 &&
              memcmp(p1, p2, ti.nbytes) == 0);
    }
    ferry_model_close(r);
    ferry_model_close(m);
    free(b.p);
    CHECK_EQ_INT(files, 10);
}

/* ============================================================================================
 * Failing allocations
 * ========================================================================================== */

typedef struct {
    long calls;
    long fail_at;
} fail_alloc;

static void *fa_realloc(void *ud, void *p, size_t n)
{
    fail_alloc *f = ud;
    if (++f->calls == f->fail_at) return NULL;
    return realloc(p, n);
}

static void fa_free(void *ud, void *p)
{
    (void)ud;
    free(p);
}

TEST(fail_every_allocation)
{
    blob b = make("{\"__metadata__\":{\"k\":\"v\\n\"},"
                  "\"w2\":{\"dtype\":\"I16\",\"shape\":[3],\"data_offsets\":[24,30]},"
                  "\"w1\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24],\"x\":[{}]}}",
                  30);
    int nomem = 0;
    for (long k = 1; k < 400; k++) {
        fail_alloc fa = {0, k};
        ferry_allocator a = {fa_realloc, fa_free, &fa};
        ferry_ctx *ctx = ferry_ctx_new(&a);
        if (!ctx) continue;
        ferry_source *src = NULL;
        ferry_model *m = NULL;
        ferry_sink *sink = NULL;
        int rc = ferry_source_from_memory(ctx, b.p, b.n, "t.safetensors", &src);
        if (rc == 0) rc = ferry_open_source(ctx, src, NULL, &m);
        if (rc == 0) rc = ferry_sink_open_memory(ctx, &sink);
        ferry_write_options o = {.struct_size = sizeof o, .format = "safetensors"};
        if (rc == 0) rc = ferry_write_sink(m, sink, &o);
        CHECK_MSG(rc == 0 || rc == FERRY_E_NOMEM, "k=%ld rc=%d %s", k, rc, ferry_ctx_error(ctx));
        if (rc == FERRY_E_NOMEM) nomem++;
        ferry_sink_abort(sink);
        ferry_model_close(m);
        ferry_source_close(src);
        CHECK_EQ_INT(ctx->allocated, 0);
        ferry_ctx_free(ctx);
    }
    CHECK(nomem > 5);
    free(b.p);
}

int main(void)
{
    g_ctx = ferry_ctx_new(NULL);
    snprintf(g_dir, sizeof g_dir, "%s", t_tmpdir());
    RUN(reads_tensors_in_offset_order);
    RUN(every_dtype_string);
    RUN(detects_long_leading_whitespace);
    RUN(serde_spellings);
    RUN(header_too_small);
    RUN(header_length);
    RUN(header_not_utf8);
    RUN(header_not_an_object);
    RUN(metadata_rules);
    RUN(tensor_entry_rules);
    RUN(dtype_rules);
    RUN(shape_and_offsets_rules);
    RUN(invalid_offsets);
    RUN(validation_overflow);
    RUN(misaligned_sub_byte);
    RUN(tensor_invalid_info);
    RUN(incomplete_buffer);
    RUN(limits);
    RUN(callback_source);
    RUN(writer_reference_layouts);
    RUN(round_trip_every_dtype);
    RUN(writer_sorts_by_dtype_then_name);
    RUN(writer_metadata_and_refusals);
    RUN(writer_to_file_and_can_write);
    RUN(sharded_open);
    RUN(sharded_rejections);
    RUN(directory_forms);
    RUN(corpus_files);
    RUN(fail_every_allocation);
    CHECK(g_ctx->allocated == 0);
    ferry_ctx_free(g_ctx);
    char cmd[800];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", g_dir);
    return t_finish("safetensors");
}
