/*
 * gguf.c -- GGUF (ggml's model container): reader for v1, v2 and v3 in both byte orders,
 * sharded sets included, and a v3 little-endian writer.
 *
 * Spec: FORMATS.md section 21 and appendix A1 (A1.1 layout, A1.2 value types, A1.3 alignment,
 * A1.4 the validation order of ggml's gguf.cpp, A1.5 writers, A1.6 standard keys, A1.8 split
 * files), A2.1 (ggml type ids, block sizes), A4.4-4.5 (traps for identical output), and
 * SECURITY.md G01-G11.
 *
 * Reading
 * -------
 * The header is walked once with a bounds-checked cursor (mapped bytes when the source is
 * mapped, otherwise a 4 KiB window plus a scratch buffer for long strings). The checks are
 * those of ggml's reader, in its order (A1.4), so that ferry accepts what llama.cpp accepts
 * and rejects what it rejects, with one line naming the file, the byte offset of the field
 * and what was expected:
 *   magic, version (0 / byte-swapped / 1 / >3), counts, every length against the bytes left
 *   *before* anything is allocated (strings <= 1 GiB, arrays <= 1 Gi elements), empty and
 *   duplicate keys, value types (no array of arrays), general.alignment (UINT32, power of
 *   two), tensor names (< 64 bytes, unique), n_dims <= 4, ne >= 0, element count < 2^63,
 *   type ids (removed ids rejected), ne[0] a multiple of the block size, byte size, offsets
 *   exactly sequential with ALIGNMENT padding (A1.3), and finally -- which ggml leaves to
 *   llama.cpp -- every tensor's bytes inside the file.
 * Differences from ggml, all deliberate:
 *   - v1 (u32 counts, lengths and dims) is read, not refused; versions above 3 are
 *     FERRY_E_UNSUPPORTED (valid for all we know, not understood).
 *   - A byte-swapped header ((version & 0xFFFF) == 0, the test ggml uses to refuse it) is
 *     read as a big-endian file: every header field is swapped.
 *   - Counts are also bounded by the bytes left: n_kv KV pairs need at least 14 bytes each
 *     and tensor infos 24 (10 / 20 in v1), so a huge count fails before any allocation.
 *   - general.alignment above 1 MiB is FERRY_E_LIMIT (ggml's current cap, SECURITY G07).
 *   - A type id above every id ferry knows (and not one of the removed ids 4, 5, 31-33,
 *     36-38) does not fail the file: the tensor is listed with status
 *     FERRY_TENSOR_UNKNOWN_DTYPE and native dtype "GGML_TYPE_<id>". Its byte size is
 *     unknown, so the offset rule is relaxed for the tensor after it: that offset must be at
 *     least the unknown tensor's offset and a multiple of ALIGNMENT, and the running sum
 *     restarts from it (the unknown tensor is taken to fill the gap). An unknown last tensor
 *     is taken to run to the end of the file.
 *   - A file that lacks only the padding after its last tensor is accepted (every tensor's
 *     bytes are present; ggml's full-load path would fail, see A1.3).
 * Metadata: every KV in file order into the model's root MAP, each value with its exact
 * numtype (UINT32 -> FERRY_DTYPE_U32, FLOAT32 -> F32, BOOL, STRING; arrays carry their
 * element numtype, also when empty), so the writer can give llama.cpp back the types it
 * checks (A1.6). Strings go to the model arena; arrays are reserved once, at their count.
 * Tensors: shapes are outermost-first (ggml's ne reversed at this boundary); ggml ids of
 * plain types become plain dtypes (0 F32, 1 F16, 24 I8, 25 I16, 26 I32, 27 I64, 28 F64,
 * 30 BF16), block ids FERRY_DTYPE_GGML(id). Little-endian files are zero-copy.
 * Big-endian files: plain tensors are byte-swapped by the read slot. For block types the
 * layout follows gguf-py's gguf_convert_endian.py, the tool that defines big-endian GGUF
 * for s390x: Q4_0 and Q8_0 have their f16 scale swapped, Q4_K its two f16 scales, Q6_K the
 * f16 at byte 208, MXFP4 nothing. Other block types in a big-endian file have no layout
 * anyone defined; they are listed as FERRY_TENSOR_NOT_PLAIN ("Q5_1 (big-endian)").
 * Split sets (A1.8): a file with split.count > 1 must be named
 * <prefix>-NNNNN-of-MMMMM.gguf (1-based, as gguf-split writes); every other shard is opened
 * through ferry__source_open_sibling and parsed with the same rules; tensors of shard 0
 * come first whatever shard was opened; metadata is shard 0's; split.no and split.count
 * must agree in every shard, the tensor total with split.tensors.count, and names must be
 * unique over the set. A shard opened from memory (no path) is presented alone, with a
 * warning.
 *
 * Writing
 * -------
 * Version 3, little-endian, laid out as ggml and gguf-py do (A1.3, A1.5): KVs, tensor infos
 * with ne reversed and n_dims = the model's rank, zero padding to ALIGNMENT, tensors in
 * order each padded to ALIGNMENT, the last one included. KVs come from the model's root MAP
 * in order: the numtype decides the GGUF type (so a GGUF source is reproduced exactly);
 * for other sources ints become INT64/UINT64 by kind, floats FLOAT64 unless marked F32,
 * nested maps are flattened with '.'-joined keys (explicit stack, depth capped by
 * limits.metadata_depth), arrays of one scalar type become typed arrays, and what GGUF
 * cannot hold (nested or mixed arrays, empty arrays of unknown type, nulls, empty keys) is
 * skipped with a notice. split.* keys are dropped (the output is one file).
 * general.alignment comes from the write options, else from the metadata, else 32; it is
 * written (UINT32) where the metadata had it, or appended when not 32.
 * general.quantization_version = 2 is appended when a tensor is a block type and the key is
 * absent. The metadata is collected and checked (duplicate keys after flattening, names of
 * at most 63 bytes, at most 4 dims) before the first byte is written.
 */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>

/* ============================================================================================
 * Constants and tables
 * ========================================================================================== */

#define GGUF_DEFAULT_ALIGNMENT 32u                  /* GGUF_DEFAULT_ALIGNMENT (A1.3)      */
#define GGUF_MAX_ALIGNMENT     (1u << 20)           /* ggml's current cap (SECURITY G07)  */
#define GGUF_MAX_STRING        ((uint64_t)1 << 30)  /* GGUF_MAX_STRING_LENGTH (A1.4.5)    */
#define GGUF_MAX_ARRAY         ((uint64_t)1 << 30)  /* GGUF_MAX_ARRAY_ELEMENTS (A1.4.6)   */
#define GGUF_MAX_NAME          64u                  /* GGML_MAX_NAME: names are shorter   */
#define GGUF_MAX_DIMS          4u                   /* GGML_MAX_DIMS (A1.4.11)            */
#define GGUF_QNT_VERSION       2u                   /* GGML_QNT_VERSION (A1.6)            */
#define GGUF_MAX_SHARDS        65535u               /* split.count is a UINT16 (A1.8)     */

/* GGUF metadata value types (A1.2). */
enum {
    GT_UINT8   = 0,
    GT_INT8    = 1,
    GT_UINT16  = 2,
    GT_INT16   = 3,
    GT_UINT32  = 4,
    GT_INT32   = 5,
    GT_FLOAT32 = 6,
    GT_BOOL    = 7,
    GT_STRING  = 8,
    GT_ARRAY   = 9,
    GT_UINT64  = 10,
    GT_INT64   = 11,
    GT_FLOAT64 = 12,
    GT_COUNT   = 13,
};

static const struct vtype {
    const char *name;
    uint8_t     size;      /* bytes of one value; 0 for STRING and ARRAY */
    ferry_dtype numtype;   /* the metadata numtype of a value of this type */
} vtypes[GT_COUNT] = {
    [GT_UINT8]   = {"UINT8", 1, FERRY_DTYPE_U8},
    [GT_INT8]    = {"INT8", 1, FERRY_DTYPE_I8},
    [GT_UINT16]  = {"UINT16", 2, FERRY_DTYPE_U16},
    [GT_INT16]   = {"INT16", 2, FERRY_DTYPE_I16},
    [GT_UINT32]  = {"UINT32", 4, FERRY_DTYPE_U32},
    [GT_INT32]   = {"INT32", 4, FERRY_DTYPE_I32},
    [GT_FLOAT32] = {"FLOAT32", 4, FERRY_DTYPE_F32},
    [GT_BOOL]    = {"BOOL", 1, FERRY_DTYPE_BOOL},
    [GT_STRING]  = {"STRING", 0, FERRY_DTYPE_STRING},
    [GT_ARRAY]   = {"ARRAY", 0, FERRY_DTYPE_UNKNOWN},
    [GT_UINT64]  = {"UINT64", 8, FERRY_DTYPE_U64},
    [GT_INT64]   = {"INT64", 8, FERRY_DTYPE_I64},
    [GT_FLOAT64] = {"FLOAT64", 8, FERRY_DTYPE_F64},
};

/* ggml type ids of the plain types (A2.1) and their ferry dtypes. */
static const struct {
    uint32_t    id;
    ferry_dtype dt;
} plain_ids[] = {
    {0, FERRY_DTYPE_F32},  {1, FERRY_DTYPE_F16},  {24, FERRY_DTYPE_I8}, {25, FERRY_DTYPE_I16},
    {26, FERRY_DTYPE_I32}, {27, FERRY_DTYPE_I64}, {28, FERRY_DTYPE_F64}, {30, FERRY_DTYPE_BF16},
};

/* Ids ggml removed; its reader rejects them (A1.4.13, A2.1). */
static bool is_removed_id(uint32_t id)
{
    return id == 4 || id == 5 || (id >= 31 && id <= 33) || (id >= 36 && id <= 38);
}

/* Block types whose big-endian layout is defined (gguf_convert_endian.py): the byte offsets
 * of the 16-bit fields that are swapped inside each block. */
static const struct {
    ferry_dtype dt;
    uint8_t     n;
    uint16_t    at[2];
} be_blocks[] = {
    {FERRY_DTYPE_Q4_0, 1, {0, 0}},
    {FERRY_DTYPE_Q8_0, 1, {0, 0}},
    {FERRY_DTYPE_Q4_K, 2, {0, 2}},
    {FERRY_DTYPE_Q6_K, 1, {208, 0}},
    {FERRY_DTYPE_GGML(39), 0, {0, 0}}, /* MXFP4: bytes only */
};

/* The ferry dtype of a ggml type id: *dt is UNKNOWN for ids ferry does not know. */
static void dtype_of_id(uint32_t id, ferry_dtype *dt)
{
    *dt = FERRY_DTYPE_UNKNOWN;
    for (size_t i = 0; i < FERRY_ARRAY_LEN(plain_ids); i++)
        if (plain_ids[i].id == id) {
            *dt = plain_ids[i].dt;
            return;
        }
    if (id >= (uint32_t)(FERRY_DTYPE_GGML_END - FERRY_DTYPE_GGML_BASE)) return;
    ferry_dtype g = FERRY_DTYPE_GGML(id);
    if (ferry_dtype_block_size(g) > 0 && ferry_dtype_block_bytes(g) > 0) *dt = g;
}

/* The ggml type id for a ferry dtype, or -1 if GGUF cannot store it. */
static int ggml_id_of(ferry_dtype dt)
{
    for (size_t i = 0; i < FERRY_ARRAY_LEN(plain_ids); i++)
        if (plain_ids[i].dt == dt) return (int)plain_ids[i].id;
    if (ferry_dtype_is_block(dt) && ferry_dtype_block_size(dt) > 0 &&
        ferry_dtype_block_bytes(dt) > 0)
        return (int)(dt - FERRY_DTYPE_GGML_BASE);
    return -1;
}

static uint32_t bswap32(uint32_t v)
{
    return (v >> 24) | ((v >> 8) & 0xFF00u) | ((v << 8) & 0xFF0000u) | (v << 24);
}

/* ============================================================================================
 * Byte cursor over the header
 * ========================================================================================== */

typedef struct reader {
    ferry_ctx     *ctx;
    ferry_model   *m;
    ferry_source  *src;
    const uint8_t *map;       /* the whole source, when mapped */
    uint64_t       size;
    uint64_t       pos;
    uint64_t       limit;     /* limits.header_bytes: the header may not extend past it */
    bool           be;        /* byte-swapped file */
    bool           v1;        /* u32 counts, lengths and dims */
    uint8_t       *scratch;   /* unmapped sources: long strings */
    size_t         scratch_cap;
    uint64_t       win_off;   /* unmapped sources: window [win_off, win_off + win_len) */
    size_t         win_len;
    uint8_t        win[4096];
} reader;

/*
 * Points *p at the next n bytes and advances. The pointer is valid until the next call.
 * A read past the end of the file is FERRY_E_CORRUPT naming `what`; one past
 * limits.header_bytes is FERRY_E_LIMIT.
 */
static int need(reader *r, uint64_t n, const char *what, const uint8_t **p)
{
    uint64_t end;
    if (ferry__add_overflow(r->pos, n, &end) || end > r->size)
        return ferry__fail_at(r->ctx, FERRY_E_CORRUPT, r->src, r->pos,
                              "%s needs %llu bytes, only %llu remain before the end of the file",
                              what, (unsigned long long)n,
                              (unsigned long long)(r->size - r->pos));
    if (end > r->limit)
        return ferry__fail_at(r->ctx, FERRY_E_LIMIT, r->src, r->pos,
                              "%s: the GGUF header extends past %llu bytes (limit header_bytes)",
                              what, (unsigned long long)r->limit);
    if (r->map) {
        *p = r->map + r->pos;
    } else if (n <= sizeof r->win) {
        if (r->pos < r->win_off || end > r->win_off + r->win_len) {
            uint64_t left = r->size - r->pos;
            size_t k = left < sizeof r->win ? (size_t)left : sizeof r->win;
            FERRY_TRY(ferry_source_read(r->src, r->pos, r->win, k));
            r->win_off = r->pos;
            r->win_len = k;
        }
        *p = r->win + (r->pos - r->win_off);
    } else {
        if (n > r->scratch_cap) {
            uint8_t *s = ferry__realloc(r->ctx, r->scratch, r->scratch_cap, (size_t)n);
            if (!s) return r->ctx->err_code;
            r->scratch     = s;
            r->scratch_cap = (size_t)n;
        }
        FERRY_TRY(ferry_source_read(r->src, r->pos, r->scratch, (size_t)n));
        *p = r->scratch;
    }
    r->pos = end;
    return FERRY_OK;
}

static uint16_t get16(const reader *r, const uint8_t *p)
{
    return r->be ? ferry__rd16be(p) : ferry__rd16le(p);
}

static uint32_t get32(const reader *r, const uint8_t *p)
{
    return r->be ? ferry__rd32be(p) : ferry__rd32le(p);
}

static uint64_t get64(const reader *r, const uint8_t *p)
{
    return r->be ? ferry__rd64be(p) : ferry__rd64le(p);
}

static int rd32(reader *r, const char *what, uint32_t *v)
{
    const uint8_t *p = NULL;
    FERRY_TRY(need(r, 4, what, &p));
    *v = get32(r, p);
    return FERRY_OK;
}

static int rd64(reader *r, const char *what, uint64_t *v)
{
    const uint8_t *p = NULL;
    FERRY_TRY(need(r, 8, what, &p));
    *v = get64(r, p);
    return FERRY_OK;
}

/* A count or length: u32 in v1, u64 from v2 on. */
static int rdlen(reader *r, const char *what, uint64_t *v)
{
    if (!r->v1) return rd64(r, what, v);
    uint32_t u;
    FERRY_TRY(rd32(r, what, &u));
    *v = u;
    return FERRY_OK;
}

/*
 * Reads a GGUF string: a length (u64, u32 in v1) and that many bytes, no NUL. The length is
 * checked against ggml's 1 GiB cap and the bytes remaining before anything is read, then
 * against limits.string_length. *s is valid until the next read.
 */
static int rdstr(reader *r, const char *what, const char **s, uint64_t *n)
{
    uint64_t off = r->pos;
    uint64_t len;
    const uint8_t *p = NULL;
    FERRY_TRY(rdlen(r, what, &len));
    uint64_t left = r->size - r->pos;
    FERRY_TESTCASE(len == GGUF_MAX_STRING);
    if (len > GGUF_MAX_STRING)
        return ferry__fail_at(r->ctx, FERRY_E_CORRUPT, r->src, off,
                              "%s length is %llu, expected at most 1073741824 (1 GiB)", what,
                              (unsigned long long)len);
    FERRY_TESTCASE(len == left);
    if (len > left)
        return ferry__fail_at(r->ctx, FERRY_E_CORRUPT, r->src, off,
                              "%s length is %llu, expected at most the %llu bytes remaining",
                              what, (unsigned long long)len, (unsigned long long)left);
    if (len > r->ctx->limits.string_length)
        return ferry__fail_at(r->ctx, FERRY_E_LIMIT, r->src, off,
                              "%s length %llu exceeds the limit string_length (%llu)", what,
                              (unsigned long long)len,
                              (unsigned long long)r->ctx->limits.string_length);
    FERRY_TRY(need(r, len, what, &p));
    *s = (const char *)p;
    *n = len;
    return FERRY_OK;
}

/* ============================================================================================
 * A set of byte strings (duplicate keys and tensor names)
 * ========================================================================================== */

typedef struct strset {
    ferry_ctx *ctx;
    struct sent {
        const char *p;
        size_t      n;
    } *e;
    size_t cap;   /* power of two, or 0 */
    size_t used;
} strset;

static uint64_t hash_bytes(const char *p, size_t n)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < n; i++) h = (h ^ (uint8_t)p[i]) * 1099511628211ull;
    return h;
}

static bool set_has(const strset *s, const char *p, size_t n)
{
    if (!s->cap) return false;
    for (size_t h = (size_t)hash_bytes(p, n) & (s->cap - 1);; h = (h + 1) & (s->cap - 1)) {
        if (!s->e[h].p) return false;
        if (s->e[h].n == n && memcmp(s->e[h].p, p, n) == 0) return true;
    }
}

/* Adds (p, n); p must stay valid while the set lives. The table stays at most half full. */
static int set_add(strset *s, const char *p, size_t n)
{
    if ((s->used + 1) * 2 > s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 64;
        if (cap > SIZE_MAX / sizeof *s->e)
            return ferry__fail(s->ctx, FERRY_E_NOMEM, "name table too large");
        struct sent *e = ferry__calloc(s->ctx, cap, sizeof *e);
        if (!e) return s->ctx->err_code;
        for (size_t i = 0; i < s->cap; i++) {
            if (!s->e[i].p) continue;
            size_t h = (size_t)hash_bytes(s->e[i].p, s->e[i].n) & (cap - 1);
            while (e[h].p) h = (h + 1) & (cap - 1);
            e[h] = s->e[i];
        }
        ferry__free(s->ctx, s->e, 0);
        s->e   = e;
        s->cap = cap;
    }
    size_t h = (size_t)hash_bytes(p, n) & (s->cap - 1);
    while (s->e[h].p) h = (h + 1) & (s->cap - 1);
    s->e[h].p = p;
    s->e[h].n = n;
    s->used++;
    return FERRY_OK;
}

static void set_free(strset *s)
{
    ferry__free(s->ctx, s->e, 0);
    s->e   = NULL;
    s->cap = s->used = 0;
}

/* ============================================================================================
 * Metadata (KV pairs)
 * ========================================================================================== */

/* Reads one value of scalar or string type `t` into node (A1.2). */
static int read_value(reader *r, uint32_t t, ferry_meta *node)
{
    const uint8_t *p = NULL;
    if (t == GT_STRING) {
        const char *s;
        uint64_t n;
        FERRY_TRY(rdstr(r, "string value", &s, &n));
        return ferry__meta_set_string(r->m, node, s, (size_t)n);
    }
    FERRY_TRY(need(r, vtypes[t].size, vtypes[t].name, &p));
    ferry_dtype nt = vtypes[t].numtype;
    switch (t) {
    case GT_UINT8: ferry__meta_set_uint(node, p[0], nt); break;
    case GT_INT8: ferry__meta_set_int(node, (int8_t)p[0], nt); break;
    case GT_UINT16: ferry__meta_set_uint(node, get16(r, p), nt); break;
    case GT_INT16: ferry__meta_set_int(node, (int16_t)get16(r, p), nt); break;
    case GT_UINT32: ferry__meta_set_uint(node, get32(r, p), nt); break;
    case GT_INT32: ferry__meta_set_int(node, (int32_t)get32(r, p), nt); break;
    case GT_UINT64: ferry__meta_set_uint(node, get64(r, p), nt); break;
    case GT_INT64: ferry__meta_set_int(node, (int64_t)get64(r, p), nt); break;
    case GT_BOOL: ferry__meta_set_bool(node, p[0] != 0); break; /* ggml: nonzero is true */
    case GT_FLOAT32: {
        uint32_t u = get32(r, p);
        float f;
        memcpy(&f, &u, sizeof f);
        ferry__meta_set_float(node, f, nt);
        break;
    }
    case GT_FLOAT64: {
        uint64_t u = get64(r, p);
        double d;
        memcpy(&d, &u, sizeof d);
        ferry__meta_set_float(node, d, nt);
        break;
    }
    default: return ferry__fail(r->ctx, FERRY_E_CORRUPT, "gguf: bad value type %u", t);
    }
    return FERRY_OK;
}

/*
 * Reads an ARRAY value (element type, count, elements) into node. Arrays of arrays are
 * rejected as ggml rejects them (A1.1), which also bounds the nesting at one level.
 */
static int read_array(reader *r, const char *key, ferry_meta *node)
{
    uint64_t toff = r->pos;
    uint32_t et;
    uint64_t n;
    FERRY_TRY(rd32(r, "array element type", &et));
    if (et == GT_ARRAY)
        return ferry__fail_at(r->ctx, FERRY_E_CORRUPT, r->src, toff,
                              "key \"%.200s\": array element type is ARRAY (nested array), "
                              "expected a scalar or STRING type", key);
    if (et >= GT_COUNT)
        return ferry__fail_at(r->ctx, FERRY_E_CORRUPT, r->src, toff,
                              "key \"%.200s\": array element type is %d, expected 0..12", key,
                              (int32_t)et);
    uint64_t coff = r->pos;
    FERRY_TRY(rdlen(r, "array count", &n));
    uint64_t left = r->size - r->pos;
    uint64_t each = et == GT_STRING ? (r->v1 ? 4 : 8) : vtypes[et].size;
    uint64_t need_bytes;
    FERRY_TESTCASE(n == GGUF_MAX_ARRAY);
    if (n > GGUF_MAX_ARRAY)
        return ferry__fail_at(r->ctx, FERRY_E_CORRUPT, r->src, coff,
                              "key \"%.200s\": array count is %llu, expected at most "
                              "1073741824", key, (unsigned long long)n);
    if (ferry__mul_overflow(n, each, &need_bytes) || need_bytes > left)
        return ferry__fail_at(r->ctx, FERRY_E_CORRUPT, r->src, coff,
                              "key \"%.200s\": array of %llu %s needs at least %llu bytes, "
                              "expected at most the %llu bytes remaining", key,
                              (unsigned long long)n,
                              vtypes[et].name, (unsigned long long)(n * each),
                              (unsigned long long)left);
    if (r->m->meta_items + n > r->ctx->limits.metadata_items)
        return ferry__fail_at(r->ctx, FERRY_E_LIMIT, r->src, coff,
                              "key \"%.200s\": array of %llu items exceeds the limit "
                              "metadata_items (%llu)", key, (unsigned long long)n,
                              (unsigned long long)r->ctx->limits.metadata_items);
    ferry__meta_set_array(node, vtypes[et].numtype);
    if (ferry__meta_reserve(r->m, node, (size_t)n) != 0) {
        /* Name the file and the field in the allocator's message. */
        char why[sizeof r->ctx->err];
        memcpy(why, r->ctx->err, sizeof why);
        return ferry__fail_at(r->ctx, r->ctx->err_code, r->src, coff,
                              "key \"%.200s\": array of %llu items: %.400s", key,
                              (unsigned long long)n, why);
    }
    for (uint64_t i = 0; i < n; i++) {
        ferry_meta *c = ferry__meta_append(r->m, node, NULL, 0);
        if (!c) return r->ctx->err_code;
        FERRY_TRY(read_value(r, et, c));
    }
    return FERRY_OK;
}

/* What the KV pass remembers about general.alignment for the check that follows it. */
typedef struct align_info {
    bool     present;
    uint32_t type;
    uint64_t type_off;
    uint64_t value_off;
    uint32_t value;
} align_info;

/* Reads n_kv KV pairs into the MAP `into` (A1.4 items 4-8). */
static int read_kvs(reader *r, uint64_t n_kv, ferry_meta *into, align_info *al)
{
    strset keys = {r->ctx, NULL, 0, 0};
    int rc = ferry__meta_reserve(r->m, into, (size_t)n_kv);
    for (uint64_t i = 0; i < n_kv && rc == 0; i++) {
        uint64_t koff = r->pos;
        const char *k;
        uint64_t kn;
        rc = rdstr(r, "key", &k, &kn);
        if (rc) break;
        if (kn == 0) {
            rc = ferry__fail_at(r->ctx, FERRY_E_CORRUPT, r->src, koff,
                                "key of KV pair %llu is empty, expected a non-empty key",
                                (unsigned long long)i);
            break;
        }
        if (set_has(&keys, k, (size_t)kn)) {
            rc = ferry__fail_at(r->ctx, FERRY_E_CORRUPT, r->src, koff,
                                "duplicate key \"%.*s\" (KV pair %llu), expected unique keys",
                                (int)(kn > 200 ? 200 : kn), k, (unsigned long long)i);
            break;
        }
        ferry_meta *node = ferry__meta_append(r->m, into, k, (size_t)kn);
        if (!node) {
            rc = r->ctx->err_code;
            break;
        }
        const char *key = into->v.c.keys[into->v.c.n - 1];
        rc = set_add(&keys, key, (size_t)kn);
        if (rc) break;
        uint64_t toff = r->pos;
        uint32_t t;
        rc = rd32(r, "value type", &t);
        if (rc) break;
        if (t >= GT_COUNT) {
            rc = ferry__fail_at(r->ctx, FERRY_E_CORRUPT, r->src, toff,
                                "key \"%.200s\" has value type %d, expected 0..12", key,
                                (int32_t)t);
            break;
        }
        bool is_align = kn == 17 && memcmp(key, "general.alignment", 17) == 0;
        if (is_align) {
            al->present   = true;
            al->type      = t;
            al->type_off  = toff;
            al->value_off = r->pos;
        }
        rc = t == GT_ARRAY ? read_array(r, key, node) : read_value(r, t, node);
        if (rc == 0 && is_align && t == GT_UINT32) al->value = (uint32_t)node->v.u;
    }
    set_free(&keys);
    return rc;
}

/* general.alignment must be a UINT32 power of two (A1.3, A1.4.9); default 32. */
static int check_alignment(reader *r, const align_info *al, uint32_t *alignment)
{
    *alignment = GGUF_DEFAULT_ALIGNMENT;
    if (!al->present) return FERRY_OK;
    if (al->type != GT_UINT32)
        return ferry__fail_at(r->ctx, FERRY_E_CORRUPT, r->src, al->type_off,
                              "general.alignment has type %s, expected UINT32",
                              al->type < GT_COUNT ? vtypes[al->type].name : "?");
    uint32_t a = al->value;
    FERRY_TESTCASE(a == 1);
    if (a == 0 || (a & (a - 1)) != 0)
        return ferry__fail_at(r->ctx, FERRY_E_CORRUPT, r->src, al->value_off,
                              "general.alignment is %u, expected a power of two", a);
    if (a > GGUF_MAX_ALIGNMENT)
        return ferry__fail_at(r->ctx, FERRY_E_LIMIT, r->src, al->value_off,
                              "general.alignment is %u, above ferry's limit of %u", a,
                              GGUF_MAX_ALIGNMENT);
    *alignment = a;
    return FERRY_OK;
}

/* ============================================================================================
 * Tensor infos
 * ========================================================================================== */

/* What the offset pass needs about each tensor of one file. */
typedef struct tpos {
    uint64_t rel;       /* offset field: relative to the data section */
    uint64_t field;     /* file offset of that field (for messages) */
    uint32_t type_id;
    bool     unknown;   /* type id not known: byte size unknown */
} tpos;

/*
 * Reads one tensor info (A1.1 row 6) and adds the tensor to the model (A1.4 items 10-15).
 * names holds every tensor name of the set so far (C-string semantics, as ggml_set_name
 * truncates at a NUL).
 */
static int read_tensor_info(reader *r, uint64_t i, strset *names, tpos *tp)
{
    ferry_ctx *ctx = r->ctx;
    uint64_t noff = r->pos;
    const char *name;
    uint64_t nlen;
    FERRY_TRY(rdstr(r, "tensor name", &name, &nlen));
    FERRY_TESTCASE(nlen == GGUF_MAX_NAME - 1);
    if (nlen >= GGUF_MAX_NAME)
        return ferry__fail_at(ctx, FERRY_E_CORRUPT, r->src, noff,
                              "name of tensor %llu is %llu bytes long, expected at most %u",
                              (unsigned long long)i, (unsigned long long)nlen,
                              GGUF_MAX_NAME - 1);
    size_t cn = strnlen(name, (size_t)nlen);
    if (set_has(names, name, cn))
        return ferry__fail_at(ctx, FERRY_E_CORRUPT, r->src, noff,
                              "duplicate tensor name \"%.*s\" (tensor %llu), expected unique "
                              "names", (int)cn, name, (unsigned long long)i);
    char nm[GGUF_MAX_NAME];
    memcpy(nm, name, cn);
    nm[cn] = 0;

    uint64_t doff = r->pos;
    uint32_t n_dims;
    FERRY_TRY(rd32(r, "n_dims", &n_dims));
    FERRY_TESTCASE(n_dims == GGUF_MAX_DIMS);
    if (n_dims > GGUF_MAX_DIMS)
        return ferry__fail_at(ctx, FERRY_E_CORRUPT, r->src, doff,
                              "tensor \"%s\" has n_dims %u, expected at most %u", nm, n_dims,
                              GGUF_MAX_DIMS);
    if (n_dims > ctx->limits.dims)
        return ferry__fail_at(ctx, FERRY_E_LIMIT, r->src, doff,
                              "tensor \"%s\" has %u dimensions (limit dims = %u)", nm, n_dims,
                              ctx->limits.dims);
    int64_t ne[GGUF_MAX_DIMS] = {1, 1, 1, 1};
    for (uint32_t j = 0; j < n_dims; j++) {
        uint64_t eoff = r->pos;
        uint64_t v;
        if (r->v1) {
            uint32_t u;
            FERRY_TRY(rd32(r, "dimension", &u));
            v = u;
        } else {
            FERRY_TRY(rd64(r, "dimension", &v));
        }
        ne[j] = (int64_t)v;
        if (ne[j] < 0)
            return ferry__fail_at(ctx, FERRY_E_CORRUPT, r->src, eoff,
                                  "tensor \"%s\" ne[%u] is %lld, expected >= 0", nm, j,
                                  (long long)ne[j]);
    }
    /* Element count < 2^63, checked stepwise; zero-element tensors are legal (G06). */
    uint64_t nel = 1;
    bool zero = false;
    for (uint32_t j = 0; j < GGUF_MAX_DIMS; j++) zero = zero || ne[j] == 0;
    for (uint32_t j = 0; j < GGUF_MAX_DIMS && !zero; j++)
        if (ferry__mul_overflow(nel, (uint64_t)ne[j], &nel) || nel >= (uint64_t)INT64_MAX)
            return ferry__fail_at(ctx, FERRY_E_CORRUPT, r->src, doff,
                                  "tensor \"%s\" shape (%lld, %lld, %lld, %lld) has an element "
                                  "count overflowing int64, expected < 2^63", nm,
                                  (long long)ne[0], (long long)ne[1], (long long)ne[2],
                                  (long long)ne[3]);
    if (zero) nel = 0;

    uint64_t toff = r->pos;
    uint32_t id;
    FERRY_TRY(rd32(r, "tensor type", &id));
    if ((int32_t)id < 0)
        return ferry__fail_at(ctx, FERRY_E_CORRUPT, r->src, toff,
                              "tensor \"%s\" has ggml type %d, expected a type id >= 0", nm,
                              (int32_t)id);
    if (is_removed_id(id))
        return ferry__fail_at(ctx, FERRY_E_CORRUPT, r->src, toff,
                              "tensor \"%s\" has ggml type %u (%s), expected a type ggml still "
                              "supports", nm, id, ferry_dtype_name(FERRY_DTYPE_GGML(id)));
    ferry_dtype dt;
    dtype_of_id(id, &dt);
    if (dt != FERRY_DTYPE_UNKNOWN) {
        uint32_t bs = ferry_dtype_block_size(dt);
        uint32_t bb = ferry_dtype_block_bytes(dt);
        FERRY_TESTCASE((uint64_t)ne[0] % bs == 0);
        if ((uint64_t)ne[0] % bs != 0)
            return ferry__fail_at(ctx, FERRY_E_CORRUPT, r->src, toff,
                                  "tensor \"%s\" of type %s has %lld elements per row (ne[0]), "
                                  "expected a multiple of the block size %u", nm,
                                  ferry_dtype_name(dt), (long long)ne[0], bs);
        uint64_t nbytes;
        if (ferry__mul_overflow(nel / bs, bb, &nbytes))
            return ferry__fail_at(ctx, FERRY_E_CORRUPT, r->src, toff,
                                  "tensor \"%s\": %llu elements of %s overflow a 64-bit byte "
                                  "size", nm, (unsigned long long)nel, ferry_dtype_name(dt));
    }
    tp->field = r->pos;
    FERRY_TRY(rd64(r, "tensor offset", &tp->rel));
    tp->type_id = id;
    tp->unknown = dt == FERRY_DTYPE_UNKNOWN;

    /* ferry order: outermost first, the reverse of ggml's ne. */
    int64_t shape[GGUF_MAX_DIMS];
    for (uint32_t j = 0; j < n_dims; j++) shape[j] = ne[n_dims - 1 - j];
    ferry__tensor *t = ferry__model_add_tensor(r->m, nm, cn, dt, (int32_t)n_dims, shape, 0);
    if (!t) return ctx->err_code;
    if (tp->unknown) {
        char buf[32];
        int k = snprintf(buf, sizeof buf, "GGML_TYPE_%u", id);
        t->native_dtype = ferry__arena_strndup(&r->m->arena, buf, (size_t)k);
        if (!t->native_dtype) return ctx->err_code;
    }
    return set_add(names, t->name, cn);
}

/* Byte order and data placement of tensor t (of this file) once its offset is checked. */
static int place_tensor(reader *r, ferry__tensor *t, uint64_t abs_off)
{
    t->src    = ferry__source_ref(r->src);
    t->offset = abs_off;
    if (t->status != FERRY_TENSOR_PLAIN) return FERRY_OK;
    if (!r->be || ferry_dtype_bits(t->dtype) == 8) {
        t->flags |= FERRY_TENSOR_ZERO_COPY;
        return FERRY_OK;
    }
    if (!ferry_dtype_is_block(t->dtype)) {
        t->flags |= FERRY_TENSOR_CONVERTED;
        return FERRY_OK;
    }
    for (size_t k = 0; k < FERRY_ARRAY_LEN(be_blocks); k++)
        if (be_blocks[k].dt == t->dtype) {
            t->flags |= be_blocks[k].n ? FERRY_TENSOR_CONVERTED : FERRY_TENSOR_ZERO_COPY;
            return FERRY_OK;
        }
    char buf[64];
    int k = snprintf(buf, sizeof buf, "%s (big-endian)", ferry_dtype_name(t->dtype));
    t->native_dtype = ferry__arena_strndup(&r->m->arena, buf, (size_t)k);
    if (!t->native_dtype) return r->ctx->err_code;
    t->status = FERRY_TENSOR_NOT_PLAIN;
    ferry__log(r->ctx, 1, "%s: tensor \"%s\": %s in a big-endian file has no defined byte "
               "layout; listed, not readable", r->src->name, t->name,
               ferry_dtype_name(t->dtype));
    return FERRY_OK;
}

/*
 * Checks the offsets of the tensors [first, first + n) of this file (A1.3: sequential,
 * each padded to the alignment, starting at 0; A1.4 item 16) and that their bytes lie in
 * the file; see the design comment for tensors of unknown type.
 */
static int place_tensors(reader *r, int64_t first, uint64_t n, const tpos *tp,
                         uint64_t data_start, uint32_t align)
{
    uint64_t expected = 0;
    int64_t prev_unknown = -1;
    for (uint64_t i = 0; i < n; i++) {
        ferry__tensor *t = &r->m->tensors[first + (int64_t)i];
        uint64_t off = tp[i].rel;
        if (prev_unknown >= 0) {
            const char *u = r->m->tensors[prev_unknown].name;
            if (off < expected || off % align != 0)
                return ferry__fail_at(r->ctx, FERRY_E_CORRUPT, r->src, tp[i].field,
                                      "tensor \"%s\" has offset %llu, expected a multiple of "
                                      "%u at or after %llu (the offset of \"%s\", of unknown "
                                      "type)", t->name, (unsigned long long)off, align,
                                      (unsigned long long)expected, u);
            expected = off;
            prev_unknown = -1;
        }
        FERRY_TESTCASE(off == expected);
        if (off != expected)
            return ferry__fail_at(r->ctx, FERRY_E_CORRUPT, r->src, tp[i].field,
                                  "tensor \"%s\" has offset %llu, expected %llu", t->name,
                                  (unsigned long long)off, (unsigned long long)expected);
        uint64_t abs_off;
        uint64_t end;
        uint64_t size = tp[i].unknown ? 0 : t->nbytes;
        if (ferry__add_overflow(data_start, off, &abs_off) ||
            ferry__add_overflow(abs_off, size, &end) || end > r->size)
            return ferry__fail_at(r->ctx, FERRY_E_CORRUPT, r->src, tp[i].field,
                                  "tensor \"%s\" data [%llu, +%llu) extends past the end of the "
                                  "file (size %llu), expected it inside the file", t->name,
                                  (unsigned long long)abs_off, (unsigned long long)size,
                                  (unsigned long long)r->size);
        if (tp[i].unknown) {
            prev_unknown = first + (int64_t)i;
        } else {
            uint64_t padded = ferry__align_up(size, align);
            if (padded < size || ferry__add_overflow(expected, padded, &expected))
                return ferry__fail_at(r->ctx, FERRY_E_CORRUPT, r->src, tp[i].field,
                                      "tensor \"%s\": data section size overflows", t->name);
        }
        FERRY_TRY(place_tensor(r, t, abs_off));
    }
    return FERRY_OK;
}

/* ============================================================================================
 * One file
 * ========================================================================================== */

typedef struct file_info {
    uint32_t version;
    bool     be;
    uint64_t n_tensors;
    /* split.* keys (A1.8) */
    bool     has_split;
    int64_t  split_no;
    int64_t  split_count;
    bool     has_total;
    int64_t  split_total;
} file_info;

/* An integer KV of `map` for the split keys (any integer type is accepted). */
static int int_key(reader *r, const ferry_meta *map, const char *key, bool *present, int64_t *v)
{
    const ferry_meta *n = ferry_meta_get(map, key);
    *present = n != NULL;
    *v       = 0;
    if (!n) return FERRY_OK;
    if ((n->kind != FERRY_META_INT && n->kind != FERRY_META_UINT) ||
        (n->kind == FERRY_META_UINT && n->v.u > (uint64_t)INT64_MAX))
        return ferry__fail_field(r->ctx, FERRY_E_CORRUPT, r->src, key,
                                 "value of kind %d, expected an integer", (int)n->kind);
    *v = n->v.i;
    return FERRY_OK;
}

static int read_split_keys(reader *r, const ferry_meta *map, file_info *fi)
{
    bool has_no;
    FERRY_TRY(int_key(r, map, "split.count", &fi->has_split, &fi->split_count));
    FERRY_TRY(int_key(r, map, "split.no", &has_no, &fi->split_no));
    FERRY_TRY(int_key(r, map, "split.tensors.count", &fi->has_total, &fi->split_total));
    if (!fi->has_split) return FERRY_OK;
    if (fi->split_count < 0 || fi->split_count > (int64_t)GGUF_MAX_SHARDS)
        return ferry__fail_field(r->ctx, FERRY_E_CORRUPT, r->src, "split.count",
                                 "%lld, expected 0..65535", (long long)fi->split_count);
    if (fi->split_count > 1 && !has_no)
        return ferry__fail_field(r->ctx, FERRY_E_CORRUPT, r->src, "split.no",
                                 "missing, expected it with split.count = %lld",
                                 (long long)fi->split_count);
    if (fi->split_count > 1 && (fi->split_no < 0 || fi->split_no >= fi->split_count))
        return ferry__fail_field(r->ctx, FERRY_E_CORRUPT, r->src, "split.no",
                                 "%lld, expected 0..%lld", (long long)fi->split_no,
                                 (long long)fi->split_count - 1);
    return FERRY_OK;
}

/*
 * Parses one GGUF file: its KVs go into the MAP `kvmap`, its tensors are appended to the
 * model (names checked against `names`, which spans the whole set).
 */
static int parse_file(ferry_model *m, ferry_source *src, ferry_meta *kvmap, strset *names,
                      file_info *fi)
{
    ferry_ctx *ctx = m->ctx;
    reader *r = ferry__calloc(ctx, 1, sizeof *r);
    if (!r) return ctx->err_code;
    r->ctx   = ctx;
    r->m     = m;
    r->src   = src;
    r->size  = ferry_source_size(src);
    r->map   = r->size ? ferry_source_map(src, 0, r->size) : NULL;
    r->limit = ctx->limits.header_bytes;
    memset(fi, 0, sizeof *fi);

    tpos *tp = NULL;
    int rc;
    const uint8_t *p = NULL;
    uint32_t version;
    uint64_t n_tensors;
    uint64_t n_kv;
    uint64_t coff;
    align_info al;
    uint32_t alignment;
    memset(&al, 0, sizeof al);

    /* A1.4 items 1-3: magic, version, counts. */
    rc = need(r, 4, "magic", &p);
    if (rc) goto done;
    if (memcmp(p, "GGUF", 4) != 0) {
        rc = ferry__fail_at(ctx, FERRY_E_CORRUPT, src, 0,
                            "magic is %02x %02x %02x %02x, expected \"GGUF\"", p[0], p[1],
                            p[2], p[3]);
        goto done;
    }
    rc = rd32(r, "version", &version);
    if (rc) goto done;
    if (version != 0 && (version & 0xFFFF) == 0) {
        r->be   = true;
        version = bswap32(version);
    }
    if (version == 0) {
        rc = ferry__fail_at(ctx, FERRY_E_CORRUPT, src, 4, "version is 0, expected 1..3");
        goto done;
    }
    if (version > 3) {
        rc = ferry__fail_at(ctx, FERRY_E_UNSUPPORTED, src, 4,
                            "GGUF version %u, expected 1..3 (the versions ferry reads)",
                            version);
        goto done;
    }
    r->v1 = version == 1;
    fi->version = version;
    fi->be      = r->be;
    coff = r->pos;
    rc = rdlen(r, "tensor_count", &n_tensors);
    if (rc == 0) rc = rdlen(r, "kv_count", &n_kv);
    if (rc) goto done;
    if ((int64_t)n_tensors < 0 || (int64_t)n_kv < 0) {
        bool t = (int64_t)n_tensors < 0;
        rc = ferry__fail_at(ctx, FERRY_E_CORRUPT, src, t ? coff : coff + 8,
                            "%s is %lld, expected >= 0", t ? "tensor_count" : "kv_count",
                            (long long)(t ? n_tensors : n_kv));
        goto done;
    }
    {
        /* The smallest KV: key length + 1-byte key + type + 1-byte value; the smallest
         * tensor info: name length + empty name + n_dims 0 + type + offset. */
        uint64_t min_kv = r->v1 ? 4 + 1 + 4 + 1 : 8 + 1 + 4 + 1;
        uint64_t min_ti = r->v1 ? 4 + 4 + 4 + 8 : 8 + 4 + 4 + 8;
        uint64_t a;
        uint64_t b;
        uint64_t sum;
        uint64_t left = r->size - r->pos;
        if (ferry__mul_overflow(n_kv, min_kv, &a) || ferry__mul_overflow(n_tensors, min_ti, &b) ||
            ferry__add_overflow(a, b, &sum) || sum > left) {
            rc = ferry__fail_at(ctx, FERRY_E_CORRUPT, src, coff,
                                "tensor_count %llu and kv_count %llu need at least %llu bytes "
                                "of header, expected at most the %llu bytes remaining",
                                (unsigned long long)n_tensors, (unsigned long long)n_kv,
                                (unsigned long long)(n_kv * min_kv + n_tensors * min_ti),
                                (unsigned long long)left);
            goto done;
        }
    }
    if ((uint64_t)m->n_tensors + n_tensors > ctx->limits.tensor_count) {
        rc = ferry__fail_at(ctx, FERRY_E_LIMIT, src, coff,
                            "tensor_count %llu exceeds the limit tensor_count (%llu)",
                            (unsigned long long)n_tensors,
                            (unsigned long long)ctx->limits.tensor_count);
        goto done;
    }
    if (m->meta_items + n_kv > ctx->limits.metadata_items) {
        rc = ferry__fail_at(ctx, FERRY_E_LIMIT, src, coff + (r->v1 ? 4 : 8),
                            "kv_count %llu exceeds the limit metadata_items (%llu)",
                            (unsigned long long)n_kv,
                            (unsigned long long)ctx->limits.metadata_items);
        goto done;
    }
    fi->n_tensors = n_tensors;

    /* A1.4 items 4-9: KV pairs, then general.alignment. */
    rc = read_kvs(r, n_kv, kvmap, &al);
    if (rc == 0) rc = check_alignment(r, &al, &alignment);
    if (rc == 0) rc = read_split_keys(r, kvmap, fi);
    if (rc) goto done;

    /* A1.4 items 10-15: tensor infos. The tensor table is sized once (bounded above). */
    if (n_tensors) {
        int64_t want = m->n_tensors + (int64_t)n_tensors;
        if (want > m->cap_tensors) {
            ferry__tensor *nt = ferry__realloc(ctx, m->tensors, 0, sizeof *nt * (size_t)want);
            if (!nt) {
                rc = ctx->err_code;
                goto done;
            }
            m->tensors     = nt;
            m->cap_tensors = want;
        }
        tp = ferry__calloc(ctx, (size_t)n_tensors, sizeof *tp);
        if (!tp) {
            rc = ctx->err_code;
            goto done;
        }
    }
    int64_t first = m->n_tensors;
    for (uint64_t i = 0; i < n_tensors && rc == 0; i++) rc = read_tensor_info(r, i, names, &tp[i]);
    if (rc) goto done;

    /* A1.3 / A1.4 item 16: the data section and the offsets. */
    if (n_tensors) {
        uint64_t data_start = ferry__align_up(r->pos, alignment);
        if (data_start > r->size) {
            rc = ferry__fail_at(ctx, FERRY_E_CORRUPT, src, r->pos,
                                "the data section would start at %llu (aligned to %u), past "
                                "the end of the file (size %llu)",
                                (unsigned long long)data_start, alignment,
                                (unsigned long long)r->size);
            goto done;
        }
        rc = place_tensors(r, first, n_tensors, tp, data_start, alignment);
    }

done:
    ferry__free(ctx, tp, 0);
    ferry__free(ctx, r->scratch, 0);
    ferry__free(ctx, r, sizeof *r);
    return rc;
}

/* ============================================================================================
 * Split sets
 * ========================================================================================== */

/* Parses "<prefix>-NNNNN-of-MMMMM.gguf" (A1.7, A1.8): *plen = prefix length. */
static bool parse_shard_name(const char *base, size_t *plen, long *no, long *count)
{
    static const char tail[] = "-00000-of-00000.gguf";
    size_t n = strlen(base);
    size_t tl = sizeof tail - 1;
    if (n <= tl) return false;
    const char *s = base + n - tl;
    for (size_t i = 0; i < tl; i++) {
        bool digit = tail[i] == '0';
        if (digit ? (s[i] < '0' || s[i] > '9') : s[i] != tail[i]) return false;
    }
    *plen  = n - tl;
    *no    = strtol(s + 1, NULL, 10);
    *count = strtol(s + 10, NULL, 10);
    return true;
}

typedef struct shard_range {
    int64_t first;
    int64_t n;
} shard_range;

/* Puts the tensors of shard 0 first, then 1, ... (they were parsed opened-shard first). */
static int reorder_tensors(ferry_model *m, const shard_range *rg, long count)
{
    if (m->n_tensors == 0) return FERRY_OK;
    ferry__tensor *nt = ferry__malloc(m->ctx, sizeof *nt * (size_t)m->n_tensors);
    if (!nt) return m->ctx->err_code;
    int64_t k = 0;
    for (long s = 0; s < count; s++) {
        if (rg[s].n) memcpy(&nt[k], &m->tensors[rg[s].first], sizeof *nt * (size_t)rg[s].n);
        k += rg[s].n;
    }
    ferry__free(m->ctx, m->tensors, 0);
    m->tensors     = nt;
    m->cap_tensors = m->n_tensors;
    m->hash_cap    = 0;
    return FERRY_OK;
}

/* Opens and parses every other shard of the set the opened file belongs to (A1.8). */
static int open_set(ferry_model *m, ferry_source *src, const file_info *fi, strset *names)
{
    ferry_ctx *ctx = m->ctx;
    const char *path = m->path ? m->path : src->path;
    if (!path) {
        ferry__log(ctx, 1, "%s: shard %lld of a %lld-file split set opened without a path; "
                   "showing this shard alone", src->name, (long long)fi->split_no + 1,
                   (long long)fi->split_count);
        return FERRY_OK;
    }
    const char *base = ferry__basename(path);
    size_t plen;
    long no;
    long count;
    if (!parse_shard_name(base, &plen, &no, &count))
        return ferry__fail_field(ctx, FERRY_E_UNSUPPORTED, src, "split.count",
                                 "%lld shards, but the file name is not "
                                 "<prefix>-NNNNN-of-NNNNN.gguf, so the other shards cannot be "
                                 "found", (long long)fi->split_count);
    if (no != fi->split_no + 1 || count != fi->split_count)
        return ferry__fail_field(ctx, FERRY_E_CORRUPT, src, "split.no",
                                 "shard %lld of %lld, but the file name says %ld of %ld",
                                 (long long)fi->split_no + 1, (long long)fi->split_count, no,
                                 count);
    shard_range *rg = ferry__calloc(ctx, (size_t)count, sizeof *rg);
    if (!rg) return ctx->err_code;
    rg[fi->split_no].first = 0;
    rg[fi->split_no].n     = m->n_tensors;
    ferry_meta *meta0 = fi->split_no == 0 ? m->meta : NULL;
    bool has_total = fi->split_no == 0 && fi->has_total;
    int64_t total = fi->split_total;
    int rc = FERRY_OK;
    for (long s = 0; s < count && rc == 0; s++) {
        if (s == fi->split_no) continue;
        char rel[1024];
        if ((size_t)snprintf(rel, sizeof rel, "%.*s-%05ld-of-%05ld.gguf", (int)plen, base, s + 1,
                             count) >= sizeof rel) {
            rc = ferry__fail(ctx, FERRY_E_ARG, "%s: shard name too long", path);
            break;
        }
        ferry_source *ss;
        rc = ferry__source_open_sibling(ctx, path, rel, &ss);
        if (rc) break;
        ferry_meta *map = ferry__meta_new_map(m);
        file_info si;
        int64_t first = m->n_tensors;
        rc = map ? parse_file(m, ss, map, names, &si) : ctx->err_code;
        if (rc == 0 && (!si.has_split || si.split_count != count || si.split_no != s))
            rc = ferry__fail_field(ctx, FERRY_E_CORRUPT, ss, "split.no",
                                   "this file has split.no = %lld and split.count = %lld, "
                                   "expected split.no = %ld and split.count = %ld",
                                   (long long)si.split_no, (long long)si.split_count, s, count);
        if (rc == 0) {
            rg[s].first = first;
            rg[s].n     = m->n_tensors - first;
            if (s == 0) {
                meta0     = map;
                has_total = si.has_total;
                total     = si.split_total;
            }
        }
        ferry_source_close(ss);
    }
    if (rc == 0 && has_total && total != m->n_tensors)
        rc = ferry__fail_field(ctx, FERRY_E_CORRUPT, src, "split.tensors.count",
                               "%lld, but the %ld shards hold %lld tensors", (long long)total,
                               count, (long long)m->n_tensors);
    if (rc == 0 && fi->split_no != 0) {
        m->meta = meta0;
        rc = reorder_tensors(m, rg, count);
    }
    ferry__free(ctx, rg, 0);
    return rc;
}

/* ============================================================================================
 * Format slots: bid, open, read
 * ========================================================================================== */

static int gguf_bid(const ferry__probe *p)
{
    if (p->head_len < 8 || memcmp(p->head, "GGUF", 4) != 0) return 0;
    uint32_t v = ferry__rd32le(p->head + 4);
    if (v != 0 && (v & 0xFFFF) == 0) v = bswap32(v);
    return v >= 1 && v <= 3 ? 64 : 32;
}

static int gguf_open(ferry_model *m, ferry_source *src)
{
    strset names = {m->ctx, NULL, 0, 0};
    file_info fi;
    int rc = parse_file(m, src, m->meta, &names, &fi);
    if (rc == 0) {
        snprintf(m->version, sizeof m->version, "%u", fi.version);
        if (fi.has_split && fi.split_count > 1) rc = open_set(m, src, &fi, &names);
    }
    set_free(&names);
    return rc;
}

/* Swaps one stored unit of a big-endian tensor into the neutral (little-endian) layout. */
static void swap_units(const ferry__tensor *t, uint8_t *p, uint64_t units)
{
    if (!ferry_dtype_is_block(t->dtype)) {
        ferry__byteswap(p, ferry_dtype_bits(t->dtype) / 8, units);
        return;
    }
    uint32_t bb = ferry_dtype_block_bytes(t->dtype);
    for (size_t k = 0; k < FERRY_ARRAY_LEN(be_blocks); k++) {
        if (be_blocks[k].dt != t->dtype) continue;
        for (uint64_t u = 0; u < units; u++)
            for (uint8_t f = 0; f < be_blocks[k].n; f++)
                ferry__byteswap(p + u * bb + be_blocks[k].at[f], 2, 1);
    }
}

/* Bytes of a tensor of a big-endian file: whole units are read in place and swapped; a unit
 * cut by the range goes through a small buffer. */
static int gguf_read(ferry_model *m, const ferry__tensor *t, uint64_t off, void *dst,
                     size_t len)
{
    uint64_t unit = ferry_dtype_is_block(t->dtype) ? ferry_dtype_block_bytes(t->dtype)
                                                   : ferry_dtype_bits(t->dtype) / 8;
    uint8_t tmp[512];
    if (unit == 0 || unit > sizeof tmp)
        return ferry__fail(m->ctx, FERRY_E_NOTPLAIN, "tensor \"%s\" has no readable layout",
                           t->name);
    uint8_t *out = dst;
    while (len) {
        uint64_t skip = off % unit;
        size_t k;
        if (skip || len < unit) {
            FERRY_TRY(ferry_source_read(t->src, t->offset + off - skip, tmp, (size_t)unit));
            swap_units(t, tmp, 1);
            k = (size_t)(unit - skip) < len ? (size_t)(unit - skip) : len;
            memcpy(out, tmp + skip, k);
        } else {
            k = (size_t)(len / unit * unit);
            FERRY_TRY(ferry_source_read(t->src, t->offset + off, out, k));
            swap_units(t, out, k / unit);
        }
        out += k;
        off += k;
        len -= k;
    }
    return FERRY_OK;
}

/* ============================================================================================
 * Writer: collecting the KVs
 * ========================================================================================== */

enum { KV_META, KV_ALIGN, KV_QVER };

typedef struct wkv {
    size_t            key_off;  /* in the key pool */
    size_t            key_len;
    const ferry_meta *v;
    uint32_t          type;     /* GT_* */
    uint32_t          elem;     /* arrays: element GT_* */
    int               src;      /* KV_META, or a value ferry adds */
} wkv;

typedef struct wctx {
    ferry_ctx  *ctx;
    const char *out;
    char       *pool;
    size_t      pool_len;
    size_t      pool_cap;
    wkv        *kv;
    size_t      n_kv;
    size_t      cap_kv;
    bool        has_align;  /* the metadata has general.alignment */
    bool        has_qver;
} wctx;

/* GT_* for a ferry numtype, or GT_COUNT if GGUF has no such value type. */
static uint32_t gt_of_numtype(ferry_dtype nt)
{
    for (uint32_t t = 0; t < GT_COUNT; t++)
        if (t != GT_ARRAY && vtypes[t].numtype == nt) return t;
    return GT_COUNT;
}

/* Whether the integer held by v (an INT, UINT or BOOL node) fits GGUF integer type t. */
static bool int_fits(const ferry_meta *v, uint32_t t)
{
    bool is_signed = v->kind == FERRY_META_INT || v->kind == FERRY_META_BOOL;
    int64_t i = v->v.i;
    uint64_t u = v->v.u;
    if (is_signed && i < 0) {
        switch (t) {
        case GT_INT8: return i >= INT8_MIN;
        case GT_INT16: return i >= INT16_MIN;
        case GT_INT32: return i >= INT32_MIN;
        case GT_INT64: return true;
        default: return false;
        }
    }
    if (is_signed) u = (uint64_t)i;
    switch (t) {
    case GT_UINT8: return u <= UINT8_MAX;
    case GT_INT8: return u <= INT8_MAX;
    case GT_UINT16: return u <= UINT16_MAX;
    case GT_INT16: return u <= INT16_MAX;
    case GT_UINT32: return u <= UINT32_MAX;
    case GT_INT32: return u <= INT32_MAX;
    case GT_UINT64: return true;
    case GT_INT64: return u <= (uint64_t)INT64_MAX;
    default: return false;
    }
}

/* The GGUF type of a scalar node, or GT_COUNT when GGUF cannot hold it. */
static uint32_t scalar_gt(const ferry_meta *v)
{
    uint32_t want = gt_of_numtype((ferry_dtype)v->numtype);
    switch (v->kind) {
    case FERRY_META_BOOL: return GT_BOOL;
    case FERRY_META_STRING: return GT_STRING;
    case FERRY_META_FLOAT: return want == GT_FLOAT32 ? GT_FLOAT32 : GT_FLOAT64;
    case FERRY_META_INT:
    case FERRY_META_UINT:
        if (want < GT_COUNT && vtypes[want].size && want != GT_FLOAT32 && want != GT_FLOAT64 &&
            want != GT_BOOL && int_fits(v, want))
            return want;
        if (v->kind == FERRY_META_INT) return GT_INT64;
        return GT_UINT64;
    default: return GT_COUNT;
    }
}

/* The element type of an ARRAY node, or GT_COUNT (with *why) when GGUF cannot hold it. */
static uint32_t array_gt(const ferry_meta *a, const char **why)
{
    size_t n = a->v.c.n;
    if (n == 0) {
        uint32_t t = gt_of_numtype((ferry_dtype)a->numtype);
        *why = "an empty array of unknown element type";
        return t;
    }
    uint32_t t = GT_COUNT;
    bool all_int = true;
    bool all_num = true;
    bool same = true;
    bool neg = false;
    bool big = false;
    for (size_t i = 0; i < n; i++) {
        const ferry_meta *e = &a->v.c.items[i];
        if (e->kind == FERRY_META_ARRAY || e->kind == FERRY_META_MAP) {
            *why = "a nested array (GGUF readers reject arrays of arrays)";
            return GT_COUNT;
        }
        uint32_t et = scalar_gt(e);
        if (et == GT_COUNT) {
            *why = "an array holding values GGUF has no type for";
            return GT_COUNT;
        }
        if (i == 0) t = et;
        same = same && et == t;
        all_int = all_int && (e->kind == FERRY_META_INT || e->kind == FERRY_META_UINT);
        all_num = all_num && (e->kind == FERRY_META_INT || e->kind == FERRY_META_UINT ||
                              e->kind == FERRY_META_FLOAT);
        neg = neg || (e->kind == FERRY_META_INT && e->v.i < 0);
        big = big || (e->kind == FERRY_META_UINT && e->v.u > (uint64_t)INT64_MAX);
    }
    if (same) return t;
    if (all_int && !(neg && big)) return big ? GT_UINT64 : GT_INT64;
    if (all_num) return GT_FLOAT64;
    *why = "an array mixing value types";
    return GT_COUNT;
}

static int add_kv(wctx *w, const char *key, size_t klen, const ferry_meta *v, uint32_t type,
                  uint32_t elem, int src)
{
    if (w->n_kv == w->cap_kv) {
        size_t nc = w->cap_kv ? w->cap_kv * 2 : 64;
        wkv *nk = ferry__realloc(w->ctx, w->kv, 0, sizeof *nk * nc);
        if (!nk) return w->ctx->err_code;
        w->kv     = nk;
        w->cap_kv = nc;
    }
    if (w->pool_cap - w->pool_len < klen) {
        size_t nc = w->pool_cap ? w->pool_cap : 4096;
        while (nc - w->pool_len < klen) nc *= 2;
        char *np = ferry__realloc(w->ctx, w->pool, 0, nc);
        if (!np) return w->ctx->err_code;
        w->pool     = np;
        w->pool_cap = nc;
    }
    memcpy(w->pool + w->pool_len, key, klen);
    wkv *k = &w->kv[w->n_kv++];
    k->key_off = w->pool_len;
    k->key_len = klen;
    k->v       = v;
    k->type    = type;
    k->elem    = elem;
    k->src     = src;
    w->pool_len += klen;
    return FERRY_OK;
}

static bool key_is(const char *k, size_t n, const char *s)
{
    return strlen(s) == n && memcmp(k, s, n) == 0;
}

/* Classifies one metadata entry (full key `key`) and records it, or logs why it is skipped. */
static int collect_one(wctx *w, const char *key, size_t klen, const ferry_meta *v)
{
    if (klen == 0) {
        ferry__log(w->ctx, 0, "%s: skipping metadata with an empty key (GGUF keys are "
                   "non-empty)", w->out);
        return FERRY_OK;
    }
    if (key_is(key, klen, "split.no") || key_is(key, klen, "split.count") ||
        key_is(key, klen, "split.tensors.count")) {
        ferry__log(w->ctx, 0, "%s: dropping %.*s (the output is a single file)", w->out,
                   (int)klen, key);
        return FERRY_OK;
    }
    if (key_is(key, klen, "general.alignment")) {
        w->has_align = true;
        return add_kv(w, key, klen, v, GT_UINT32, 0, KV_ALIGN);
    }
    if (key_is(key, klen, "general.quantization_version")) w->has_qver = true;
    const char *why = "a null value";
    uint32_t t;
    uint32_t et = 0;
    switch (v->kind) {
    case FERRY_META_ARRAY:
        t  = GT_ARRAY;
        et = array_gt(v, &why);
        if (et == GT_COUNT) t = GT_COUNT;
        break;
    case FERRY_META_BYTES:
        t  = GT_ARRAY;
        et = GT_UINT8;
        break;
    default: t = scalar_gt(v); break;
    }
    if (t == GT_COUNT) {
        ferry__log(w->ctx, 0, "%s: skipping metadata \"%.*s\": %s", w->out, (int)klen, key, why);
        return FERRY_OK;
    }
    return add_kv(w, key, klen, v, t, et, KV_META);
}

/*
 * Walks the root MAP in order, flattening nested maps into '.'-joined keys with an explicit
 * stack (depth capped by limits.metadata_depth), and records every entry GGUF can hold.
 */
static int collect_kvs(wctx *w, const ferry_meta *root)
{
    typedef struct frame {
        const ferry_meta *map;
        size_t            i;
        size_t            plen;   /* length of this map's key prefix in kb */
    } frame;
    uint32_t maxd = w->ctx->limits.metadata_depth ? w->ctx->limits.metadata_depth : 1;
    frame *st = ferry__calloc(w->ctx, maxd, sizeof *st);
    char *kb = NULL;
    size_t kcap = 0;
    size_t sp = 0;
    int rc = st ? FERRY_OK : w->ctx->err_code;
    if (st) st[sp++] = (frame){root, 0, 0};
    while (rc == 0 && sp > 0) {
        frame *f = &st[sp - 1];
        if (f->i >= f->map->v.c.n) {
            sp--;
            continue;
        }
        const char *k = f->map->v.c.keys[f->i];
        const ferry_meta *v = &f->map->v.c.items[f->i];
        f->i++;
        size_t kl = strlen(k);
        size_t need_len = f->plen + 1 + kl;
        if (need_len > kcap) {
            size_t nc = kcap ? kcap : 256;
            while (nc < need_len) nc *= 2;
            char *nk = ferry__realloc(w->ctx, kb, 0, nc);
            if (!nk) {
                rc = w->ctx->err_code;
                break;
            }
            kb   = nk;
            kcap = nc;
        }
        size_t full = f->plen;
        if (f->plen) kb[full++] = '.';
        memcpy(kb + full, k, kl);
        full += kl;
        if (v->kind == FERRY_META_MAP) {
            if (sp >= maxd)
                ferry__log(w->ctx, 0, "%s: skipping metadata \"%.*s\": nested deeper than "
                           "metadata_depth", w->out, (int)full, kb);
            else
                st[sp++] = (frame){v, 0, full};
            continue;
        }
        rc = collect_one(w, kb, full, v);
    }
    ferry__free(w->ctx, kb, 0);
    ferry__free(w->ctx, st, 0);
    return rc;
}

/* ============================================================================================
 * Writer: emitting
 * ========================================================================================== */

static int put32(ferry_sink *s, uint32_t v)
{
    uint8_t b[4];
    ferry__wr32le(b, v);
    return ferry_sink_write(s, b, 4);
}

static int put64(ferry_sink *s, uint64_t v)
{
    uint8_t b[8];
    ferry__wr64le(b, v);
    return ferry_sink_write(s, b, 8);
}

static int putstr(ferry_sink *s, const char *p, size_t n)
{
    FERRY_TRY(put64(s, n));
    return ferry_sink_write(s, p, n);
}

/* Writes the value of node v as GGUF type t (a scalar or STRING type). */
static int put_value(ferry_sink *s, const ferry_meta *v, uint32_t t)
{
    uint8_t b[8];
    switch (t) {
    case GT_STRING: return putstr(s, v->v.s.p, v->v.s.n);
    case GT_BOOL: b[0] = ferry_meta_bool(v) ? 1 : 0; break;
    case GT_FLOAT32: {
        float f = (float)ferry_meta_float(v);
        uint32_t u;
        memcpy(&u, &f, 4);
        ferry__wr32le(b, u);
        break;
    }
    case GT_FLOAT64: {
        double d = ferry_meta_float(v);
        uint64_t u;
        memcpy(&u, &d, 8);
        ferry__wr64le(b, u);
        break;
    }
    default:
        /* INT, UINT and BOOL share the 64-bit field; the value fits the type (scalar_gt), so
         * its low `size` bytes, little-endian, are the value (two's complement). */
        ferry__wr64le(b, v->v.u);
        break;
    }
    return ferry_sink_write(s, b, vtypes[t].size);
}

static int put_kv(ferry_sink *s, const wctx *w, const wkv *k, uint32_t align)
{
    FERRY_TRY(putstr(s, w->pool + k->key_off, k->key_len));
    FERRY_TRY(put32(s, k->type));
    if (k->src == KV_ALIGN) return put32(s, align);
    if (k->src == KV_QVER) return put32(s, GGUF_QNT_VERSION);
    if (k->type != GT_ARRAY) return put_value(s, k->v, k->type);
    FERRY_TRY(put32(s, k->elem));
    if (k->v->kind == FERRY_META_BYTES) {
        FERRY_TRY(put64(s, k->v->v.s.n));
        return ferry_sink_write(s, k->v->v.s.p, k->v->v.s.n);
    }
    FERRY_TRY(put64(s, k->v->v.c.n));
    for (size_t i = 0; i < k->v->v.c.n; i++) FERRY_TRY(put_value(s, &k->v->v.c.items[i], k->elem));
    return FERRY_OK;
}

/* The alignment to write: the options, else the metadata, else 32 (A1.3). */
static int choose_alignment(ferry__wplan *plan, uint32_t *align)
{
    *align = GGUF_DEFAULT_ALIGNMENT;
    uint64_t a = 0;
    const char *from = NULL;
    if (plan->opt && plan->opt->alignment) {
        a    = plan->opt->alignment;
        from = "the write options";
    } else {
        const ferry_meta *v = ferry_meta_get(plan->src->meta, "general.alignment");
        if (v && (v->kind == FERRY_META_INT || v->kind == FERRY_META_UINT)) {
            a    = v->kind == FERRY_META_INT && v->v.i < 0 ? 0 : ferry_meta_uint(v);
            from = "the metadata (general.alignment)";
        } else if (v) {
            ferry__log(plan->ctx, 0, "%s: general.alignment is not an integer; using %u",
                       plan->out_name, GGUF_DEFAULT_ALIGNMENT);
        }
    }
    if (!from) return FERRY_OK;
    if (a == 0 || (a & (a - 1)) != 0 || a > GGUF_MAX_ALIGNMENT)
        return ferry__fail(plan->ctx, FERRY_E_ARG, "%s: alignment %llu from %s is not a power "
                           "of two up to %u", plan->out_name, (unsigned long long)a, from,
                           GGUF_MAX_ALIGNMENT);
    *align = (uint32_t)a;
    return FERRY_OK;
}

/* Checks the tensors of the plan against GGUF's rules before anything is written. */
static int check_tensors(ferry__wplan *plan, bool *any_block)
{
    strset names = {plan->ctx, NULL, 0, 0};
    int rc = FERRY_OK;
    *any_block = false;
    for (int64_t i = 0; i < plan->n && rc == 0; i++) {
        const ferry__wtensor *t = &plan->t[i];
        size_t nl = strlen(t->name);
        if (nl >= GGUF_MAX_NAME)
            rc = ferry__fail(plan->ctx, FERRY_E_ARG, "%s: tensor \"%s\": name of %zu bytes, "
                             "GGUF names hold at most %u", plan->out_name, t->name, nl,
                             GGUF_MAX_NAME - 1);
        else if (t->ndim > (int32_t)GGUF_MAX_DIMS)
            rc = ferry__fail(plan->ctx, FERRY_E_ARG, "%s: tensor \"%s\" has %d dimensions, GGUF "
                             "holds at most %u", plan->out_name, t->name, (int)t->ndim,
                             GGUF_MAX_DIMS);
        else if (ggml_id_of(t->dtype) < 0)
            rc = ferry__fail(plan->ctx, FERRY_E_DTYPE, "%s: tensor \"%s\": GGUF cannot store %s",
                             plan->out_name, t->name, ferry_dtype_name(t->dtype));
        else if (set_has(&names, t->name, nl))
            rc = ferry__fail(plan->ctx, FERRY_E_ARG, "%s: duplicate tensor name \"%s\"",
                             plan->out_name, t->name);
        else
            rc = set_add(&names, t->name, nl);
        *any_block = *any_block || ferry_dtype_is_block(t->dtype);
    }
    set_free(&names);
    return rc;
}

/* Rejects keys that appear twice after flattening (GGUF keys are unique). */
static int check_keys(const wctx *w)
{
    strset keys = {w->ctx, NULL, 0, 0};
    int rc = FERRY_OK;
    for (size_t i = 0; i < w->n_kv && rc == 0; i++) {
        const char *k = w->pool + w->kv[i].key_off;
        size_t n = w->kv[i].key_len;
        if (set_has(&keys, k, n))
            rc = ferry__fail(w->ctx, FERRY_E_ARG, "%s: metadata key \"%.*s\" appears twice "
                             "(after flattening nested maps)", w->out, (int)n, k);
        else
            rc = set_add(&keys, k, n);
    }
    set_free(&keys);
    return rc;
}

static int gguf_write(ferry__wplan *plan, ferry_sink *sink)
{
    ferry_ctx *ctx = plan->ctx;
    wctx w;
    memset(&w, 0, sizeof w);
    w.ctx = ctx;
    w.out = plan->out_name;
    uint32_t align;
    bool any_block = false;
    uint64_t base = ferry_sink_tell(sink);
    int rc = choose_alignment(plan, &align);
    if (rc == 0) rc = check_tensors(plan, &any_block);
    if (rc == 0) rc = collect_kvs(&w, plan->src->meta);
    if (rc == 0 && !w.has_align && align != GGUF_DEFAULT_ALIGNMENT)
        rc = add_kv(&w, "general.alignment", 17, NULL, GT_UINT32, 0, KV_ALIGN);
    if (rc == 0 && any_block && !w.has_qver)
        rc = add_kv(&w, "general.quantization_version", 28, NULL, GT_UINT32, 0, KV_QVER);
    if (rc == 0) rc = check_keys(&w);

    /* Header, KVs, tensor infos (A1.1). */
    if (rc == 0) rc = ferry_sink_write(sink, "GGUF", 4);
    if (rc == 0) rc = put32(sink, 3);
    if (rc == 0) rc = put64(sink, (uint64_t)plan->n);
    if (rc == 0) rc = put64(sink, w.n_kv);
    for (size_t i = 0; i < w.n_kv && rc == 0; i++) rc = put_kv(sink, &w, &w.kv[i], align);
    uint64_t off = 0;
    for (int64_t i = 0; i < plan->n && rc == 0; i++) {
        const ferry__wtensor *t = &plan->t[i];
        rc = putstr(sink, t->name, strlen(t->name));
        if (rc == 0) rc = put32(sink, (uint32_t)t->ndim);
        for (int32_t j = t->ndim - 1; j >= 0 && rc == 0; j--)
            rc = put64(sink, (uint64_t)t->shape[j]);
        if (rc == 0) rc = put32(sink, (uint32_t)ggml_id_of(t->dtype));
        if (rc == 0) rc = put64(sink, off);
        uint64_t padded = ferry__align_up(t->nbytes, align);
        if (rc == 0 && (padded < t->nbytes || ferry__add_overflow(off, padded, &off)))
            rc = ferry__fail(ctx, FERRY_E_LIMIT, "%s: data section size overflows",
                             plan->out_name);
    }

    /* Padding, then every tensor padded to the alignment, the last one too (A1.3). */
    for (int64_t i = -1; i < plan->n && rc == 0; i++) {
        if (i >= 0) rc = ferry__wplan_write_tensor(plan, i, sink);
        uint64_t pos = ferry_sink_tell(sink) - base;
        if (rc == 0) rc = ferry_sink_zero(sink, ferry__align_up(pos, align) - pos);
    }
    ferry__free(ctx, w.kv, 0);
    ferry__free(ctx, w.pool, 0);
    return rc;
}

static bool gguf_can_write(ferry_dtype dt) { return ggml_id_of(dt) >= 0; }

/* ============================================================================================
 * The format table
 * ========================================================================================== */

const ferry_format_ops ferry__format_gguf = {
    .name        = "gguf",
    .description = "GGUF (llama.cpp / ggml) v1-v3, both byte orders, split sets",
    .extensions  = ".gguf",
    .caps        = FERRY_CAP_READ | FERRY_CAP_WRITE | FERRY_CAP_MULTI_FILE,
    .bid         = gguf_bid,
    .open        = gguf_open,
    .read        = gguf_read,
    .can_write   = gguf_can_write,
    .write       = gguf_write,
};
