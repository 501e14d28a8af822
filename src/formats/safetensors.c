/*
 * safetensors.c -- Hugging Face safetensors: single files, sharded checkpoints (an index JSON
 * plus shard files, or a directory holding them) and a writer whose output is byte-identical
 * to the reference Rust writer.
 *
 * Spec: FORMATS.md section 20 and appendix A3 (A3.1 layout, A3.2 dtypes, A3.3 what the reader
 * rejects, A3.4 writer, A3.5 sharded checkpoints), which summarise huggingface/safetensors
 * safetensors/src/tensor.rs.
 *
 * Reading accepts exactly what tensor.rs accepts, in the same order of checks:
 *   1. the file has 8 bytes; N = u64 LE at 0; N <= 100,000,000; 8 + N <= file size;
 *   2. the N header bytes are UTF-8 (checked on their own, before any JSON);
 *   3. they hold one JSON object, with leading/trailing JSON whitespace allowed (the writer pads
 *      with spaces; the README's "must start with {" is not enforced by the reader);
 *   4. "__metadata__" is null or an object of string -> string; every other key is a tensor
 *      whose value is deserialized by serde into struct TensorInfo {dtype, shape,
 *      data_offsets}. Being a serde struct, TensorInfo is also accepted as a 3-element array
 *      [dtype, shape, data_offsets], unknown fields of the object form are ignored, a repeated
 *      field or a missing one is an error. dtype is a serde unit variant: a string, or an
 *      object with a single key whose value is null or {}. shape and data_offsets hold
 *      non-negative integers that fit u64 (a "1.0" or "-0" is a float and is refused);
 *      data_offsets has exactly two;
 *   5. after sorting by (begin, end): begin == end of the previous tensor (0 for the first),
 *      end >= begin; the shape product and product x bits do not overflow u64 (folded left to
 *      right, as Rust's try_fold does); the bit count is a multiple of 8; end - begin equals
 *      it / 8;
 *   6. 8 + N + the last end == file size: no trailing bytes, nothing missing.
 * Checks 1, 5 and 6 are FERRY_E_CORRUPT with the file and the tensor / offset named.
 * Deliberate differences: a key repeated anywhere in the header is refused (serde keeps the
 * last one; the README says duplicates are not allowed, and two readers disagreeing about
 * which tensor is real is an attack); nesting is capped by limits.metadata_depth, the tensor
 * count by limits.tensor_count and dimensions by limits.dims (FERRY_E_LIMIT); names or
 * metadata keys containing U+0000 and dimensions above INT64_MAX are FERRY_E_UNSUPPORTED.
 *
 * The neutral model: tensors are listed in file (offset) order and are zero-copy (t->src is a
 * reference to the file, t->offset = 8 + N + begin). The "__metadata__" entries become
 * top-level STRING entries of the model's metadata tree, in header order. The format has no
 * version: the version string is "".
 *
 * Sharded checkpoints (A3.5): a JSON file {"metadata": {...}, "weight_map": {tensor: shard}}
 * or a directory holding one. Every shard is opened with ferry__source_open_sibling (relative
 * paths only, no "..", no symlink leaving the directory) and parsed as a full safetensors file;
 * every weight_map entry must exist in the shard it names, and no tensor may live in two
 * shards. Shards are read in file-name order. The index's "metadata" object goes to the top
 * level of the metadata tree (typed: total_size is a UINT), followed by the shards'
 * "__metadata__" entries whose keys are not there yet (first shard wins). A directory opens
 * "model.safetensors.index.json", else its only "*.safetensors.index.json", else its only
 * "*.safetensors" file.
 *
 * Writing (A3.4): tensors sorted by dtype in descending Rust enum order, then by name (byte
 * order), offsets contiguous; compact JSON, "__metadata__" first, fields in the order dtype,
 * shape, data_offsets, strings escaped like serde_json; the header padded with spaces to a
 * multiple of 8. "__metadata__" comes from the model's top-level metadata: strings as they
 * are, integers in decimal, floats as the shortest string that reads back (Python repr
 * style; F32 values as the shortest that reads back as the same float), booleans
 * "true"/"false"; nulls, bytes, arrays and maps are skipped with a notice.
 * The reference writer iterates a Rust HashMap for "__metadata__", so with more than one
 * entry its order is not reproducible; ours is the model's order.
 */
#include "internal.h"
#include "parse/json.h"

#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

#define ST_MAX_HEADER 100000000ull /* MAX_HEADER_SIZE in tensor.rs (A3.3) */

/* ============================================================================================
 * dtypes (A3.2), in the order of the Rust enum: the index is the writer's sort key
 * ========================================================================================== */

typedef struct st_dtype {
    const char *name;
    ferry_dtype dt;
    uint32_t    bits;
} st_dtype;

static const st_dtype dtypes[] = {
    {"BOOL", FERRY_DTYPE_BOOL, 8},
    {"F4", FERRY_DTYPE_F4_E2M1, 4},
    {"F6_E2M3", FERRY_DTYPE_F6_E2M3, 6},
    {"F6_E3M2", FERRY_DTYPE_F6_E3M2, 6},
    {"U8", FERRY_DTYPE_U8, 8},
    {"I8", FERRY_DTYPE_I8, 8},
    {"F8_E5M2", FERRY_DTYPE_F8_E5M2, 8},
    {"F8_E4M3", FERRY_DTYPE_F8_E4M3FN, 8},
    {"F8_E8M0", FERRY_DTYPE_F8_E8M0, 8},
    {"F8_E4M3FNUZ", FERRY_DTYPE_F8_E4M3FNUZ, 8},
    {"F8_E5M2FNUZ", FERRY_DTYPE_F8_E5M2FNUZ, 8},
    {"I16", FERRY_DTYPE_I16, 16},
    {"U16", FERRY_DTYPE_U16, 16},
    {"F16", FERRY_DTYPE_F16, 16},
    {"BF16", FERRY_DTYPE_BF16, 16},
    {"I32", FERRY_DTYPE_I32, 32},
    {"U32", FERRY_DTYPE_U32, 32},
    {"F32", FERRY_DTYPE_F32, 32},
    {"C64", FERRY_DTYPE_C64, 64},
    {"F64", FERRY_DTYPE_F64, 64},
    {"I64", FERRY_DTYPE_I64, 64},
    {"U64", FERRY_DTYPE_U64, 64},
};

static int dtype_by_name(const char *s, size_t n)
{
    for (size_t i = 0; i < FERRY_ARRAY_LEN(dtypes); i++)
        if (strlen(dtypes[i].name) == n && memcmp(dtypes[i].name, s, n) == 0) return (int)i;
    return -1;
}

static int dtype_rank(ferry_dtype dt)
{
    for (size_t i = 0; i < FERRY_ARRAY_LEN(dtypes); i++)
        if (dtypes[i].dt == dt) return (int)i;
    return -1;
}

static bool st_can_write(ferry_dtype dt) { return dtype_rank(dt) >= 0; }

/* ============================================================================================
 * Small helpers
 * ========================================================================================== */

static bool is_ws(uint8_t c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

/* "tensor \"<name>\"" for ferry__fail_field, the name cut to 200 bytes. */
static const char *tensor_field(char buf[256], const char *name, size_t len)
{
    snprintf(buf, 256, "tensor \"%.*s\"", (int)(len > 200 ? 200 : len), name);
    return buf;
}

/* Returns the n bytes at off of src: a pointer into the map, or a copy in *owned (freed by the
 * caller with ferry__free) for sources that are not mapped. */
static const uint8_t *source_bytes(ferry_source *src, uint64_t off, uint64_t n, uint8_t **owned)
{
    *owned = NULL;
    const uint8_t *p = ferry_source_map(src, off, n);
    if (p || n == 0) return p ? p : (const uint8_t *)"";
    if (n > SIZE_MAX) {
        ferry__fail_at(src->ctx, FERRY_E_LIMIT, src, off, "%llu bytes do not fit in memory",
                       (unsigned long long)n);
        return NULL;
    }
    uint8_t *buf = ferry__malloc(src->ctx, (size_t)n);
    if (!buf) return NULL;
    if (ferry_source_read(src, off, buf, (size_t)n)) {
        ferry__free(src->ctx, buf, (size_t)n);
        return NULL;
    }
    *owned = buf;
    return buf;
}

/* A growable array of fixed-size items through the context allocator. */
static void *grow(ferry_ctx *ctx, void *p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap) return p;
    size_t nc = *cap ? *cap : 16;
    while (nc < need) {
        if (nc > SIZE_MAX / 2 / elem) {
            ferry__fail(ctx, FERRY_E_NOMEM, "table of %zu items overflows", need);
            return NULL;
        }
        nc *= 2;
    }
    void *np = ferry__realloc(ctx, p, *cap * elem, nc * elem);
    if (np) *cap = nc;
    return np;
}

/* A set of C strings (pointers owned elsewhere), used to merge shard metadata in O(1) per key. */
typedef struct keyset {
    ferry_ctx   *ctx;
    const char **slot;
    size_t       cap;
    size_t       n;
} keyset;

static uint64_t hash_str(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < n; i++) h = (h ^ (uint8_t)s[i]) * 1099511628211ull;
    return h;
}

static bool keyset_has(const keyset *k, const char *s, size_t n)
{
    if (!k->cap) return false;
    for (size_t i = hash_str(s, n) & (k->cap - 1);; i = (i + 1) & (k->cap - 1)) {
        if (!k->slot[i]) return false;
        if (strlen(k->slot[i]) == n && memcmp(k->slot[i], s, n) == 0) return true;
    }
}

static int keyset_add(keyset *k, const char *s)
{
    if ((k->n + 1) * 2 > k->cap) {
        size_t nc = k->cap ? k->cap * 2 : 64;
        const char **ns = ferry__calloc(k->ctx, nc, sizeof *ns);
        if (!ns) return k->ctx->err_code;
        for (size_t i = 0; i < k->cap; i++) {
            if (!k->slot[i]) continue;
            size_t j = hash_str(k->slot[i], strlen(k->slot[i])) & (nc - 1);
            while (ns[j]) j = (j + 1) & (nc - 1);
            ns[j] = k->slot[i];
        }
        ferry__free(k->ctx, k->slot, 0);
        k->slot = ns;
        k->cap  = nc;
    }
    size_t j = hash_str(s, strlen(s)) & (k->cap - 1);
    while (k->slot[j]) j = (j + 1) & (k->cap - 1);
    k->slot[j] = s;
    k->n++;
    return FERRY_OK;
}

/* ============================================================================================
 * Header parsing (A3.1, A3.3)
 * ========================================================================================== */

/* One tensor entry of a header, before validation. */
typedef struct st_entry {
    size_t   name_off;   /* in st_hdr.names (NUL-terminated there) */
    size_t   name_len;
    size_t   dims_off;   /* in st_hdr.dims */
    uint32_t ndim;
    int      dt;         /* index into dtypes[] */
    uint64_t begin;
    uint64_t end;
} st_entry;

typedef struct st_hdr {
    ferry_model        *m;
    ferry_ctx          *ctx;
    ferry_source       *src;
    ferry__json_reader *r;
    uint64_t            n;          /* header length N */
    st_entry           *e;
    size_t              ne;
    size_t              ecap;
    char               *names;
    size_t              names_len;
    size_t              names_cap;
    uint64_t           *dims;
    size_t              dims_len;
    size_t              dims_cap;
    keyset             *merge;      /* NULL: append every __metadata__ entry; else only new */
} st_hdr;

static void hdr_free(st_hdr *h)
{
    ferry__free(h->ctx, h->e, 0);
    ferry__free(h->ctx, h->names, 0);
    ferry__free(h->ctx, h->dims, 0);
}

/* Reads the value of "__metadata__" (its first token is current). */
static int parse_metadata(st_hdr *h)
{
    ferry__json_reader *r = h->r;
    int tok = r->tok;
    if (tok == FERRY__JSON_NULL) return FERRY_OK; /* serde: Option::None */
    if (tok != FERRY__JSON_OBJECT)
        return ferry__json_fail(r, FERRY_E_CORRUPT, "__metadata__: found %s, expected an object "
                                "of string values", ferry__json_tok_name(tok));
    ferry__strbuf key;
    ferry__strbuf_init(&key, h->ctx);
    int rc;
    for (;;) {
        rc = ferry__json_next(r);
        if (rc < 0 || rc == FERRY__JSON_OBJECT_END) break;
        if (memchr(r->str, 0, r->str_len)) {
            rc = ferry__json_fail(r, FERRY_E_UNSUPPORTED, "__metadata__: key containing U+0000 "
                                  "(metadata keys are C strings)");
            break;
        }
        key.n = 0;
        if ((rc = ferry__strbuf_put(&key, r->str, r->str_len)) < 0) break;
        rc = ferry__json_next(r);
        if (rc < 0) break;
        if (rc != FERRY__JSON_STRING) {
            rc = ferry__json_fail(r, FERRY_E_CORRUPT, "__metadata__: value of \"%.*s\": found "
                                  "%s, expected a string", (int)(key.n > 200 ? 200 : key.n),
                                  key.p, ferry__json_tok_name(rc));
            break;
        }
        if (h->merge && keyset_has(h->merge, key.p, key.n)) continue;
        ferry_meta *node = ferry__meta_append(h->m, h->m->meta, key.p, key.n);
        if (!node) {
            rc = h->ctx->err_code;
            break;
        }
        if ((rc = ferry__meta_set_string(h->m, node, r->str, r->str_len)) < 0) break;
        if (h->merge) {
            const ferry_meta *root = h->m->meta;
            if ((rc = keyset_add(h->merge, root->v.c.keys[root->v.c.n - 1])) < 0) break;
        }
    }
    ferry__strbuf_free(&key);
    return rc < 0 ? rc : FERRY_OK;
}

/* The value of "dtype": a string, or serde's map form of a unit variant {"F32": null}. */
static int parse_dtype(st_hdr *h, const char *tname, size_t tlen, int *out)
{
    ferry__json_reader *r = h->r;
    char f[256];
    tensor_field(f, tname, tlen);
    bool map_form = r->tok == FERRY__JSON_OBJECT;
    if (map_form) {
        int tok = ferry__json_next(r);
        if (tok < 0) return tok;
        if (tok != FERRY__JSON_KEY)
            return ferry__json_fail(r, FERRY_E_CORRUPT, "%s: dtype: found an empty object, "
                                    "expected a dtype name", f);
    } else if (r->tok != FERRY__JSON_STRING) {
        return ferry__json_fail(r, FERRY_E_CORRUPT, "%s: dtype: found %s, expected a dtype "
                                "string such as \"F32\"", f, ferry__json_tok_name(r->tok));
    }
    *out = dtype_by_name(r->str, r->str_len);
    if (*out < 0)
        return ferry__json_fail(r, FERRY_E_CORRUPT, "%s: unknown dtype \"%.*s\", expected one "
                                "of BOOL F4 F6_E2M3 F6_E3M2 U8 I8 F8_E5M2 F8_E4M3 F8_E8M0 "
                                "F8_E4M3FNUZ F8_E5M2FNUZ I16 U16 F16 BF16 I32 U32 F32 C64 F64 "
                                "I64 U64", f, (int)(r->str_len > 40 ? 40 : r->str_len), r->str);
    if (!map_form) return FERRY_OK;
    /* A unit variant's value must deserialize as (): null or an empty object. */
    int tok = ferry__json_next(r);
    if (tok < 0) return tok;
    if (tok == FERRY__JSON_OBJECT) {
        tok = ferry__json_next(r);
        if (tok < 0) return tok;
        if (tok != FERRY__JSON_OBJECT_END)
            return ferry__json_fail(r, FERRY_E_CORRUPT, "%s: dtype: found %s inside the "
                                    "variant's value, expected null or {}", f,
                                    ferry__json_tok_name(tok));
    } else if (tok != FERRY__JSON_NULL) {
        return ferry__json_fail(r, FERRY_E_CORRUPT, "%s: dtype: found %s as the variant's "
                                "value, expected null or {}", f, ferry__json_tok_name(tok));
    }
    tok = ferry__json_next(r);
    if (tok < 0) return tok;
    if (tok != FERRY__JSON_OBJECT_END)
        return ferry__json_fail(r, FERRY_E_CORRUPT, "%s: dtype: found a second key, expected "
                                "an object with a single key", f);
    return FERRY_OK;
}

/* The value of "shape": an array of non-negative integers (usize). */
static int parse_shape(st_hdr *h, const char *tname, size_t tlen, st_entry *e)
{
    ferry__json_reader *r = h->r;
    char f[256];
    tensor_field(f, tname, tlen);
    if (r->tok != FERRY__JSON_ARRAY)
        return ferry__json_fail(r, FERRY_E_CORRUPT, "%s: shape: found %s, expected an array of "
                                "non-negative integers", f, ferry__json_tok_name(r->tok));
    e->dims_off = h->dims_len;
    e->ndim     = 0;
    for (;;) {
        int tok = ferry__json_next(r);
        if (tok < 0) return tok;
        if (tok == FERRY__JSON_ARRAY_END) return FERRY_OK;
        if (tok != FERRY__JSON_UINT)
            return ferry__json_fail(r, FERRY_E_CORRUPT, "%s: shape: found %s, expected a "
                                    "non-negative integer", f, ferry__json_tok_name(tok));
        if (e->ndim >= h->ctx->limits.dims)
            return ferry__json_fail(r, FERRY_E_LIMIT, "%s: more than %u dimensions (limit "
                                    "dims)", f, h->ctx->limits.dims);
        uint64_t *nd = grow(h->ctx, h->dims, &h->dims_cap, h->dims_len + 1, sizeof *nd);
        if (!nd) return h->ctx->err_code;
        h->dims = nd;
        h->dims[h->dims_len++] = r->u;
        e->ndim++;
    }
}

/* The value of "data_offsets": a (usize, usize) tuple, i.e. an array of exactly two. */
static int parse_offsets(st_hdr *h, const char *tname, size_t tlen, st_entry *e)
{
    ferry__json_reader *r = h->r;
    char f[256];
    tensor_field(f, tname, tlen);
    if (r->tok != FERRY__JSON_ARRAY)
        return ferry__json_fail(r, FERRY_E_CORRUPT, "%s: data_offsets: found %s, expected an "
                                "array [begin, end]", f, ferry__json_tok_name(r->tok));
    uint64_t v[2];
    for (int k = 0; k < 3; k++) {
        int tok = ferry__json_next(r);
        if (tok < 0) return tok;
        if (k == 2) {
            if (tok != FERRY__JSON_ARRAY_END)
                return ferry__json_fail(r, FERRY_E_CORRUPT, "%s: data_offsets: found %s after "
                                        "two values, expected ']'", f,
                                        ferry__json_tok_name(tok));
            break;
        }
        if (tok == FERRY__JSON_ARRAY_END)
            return ferry__json_fail(r, FERRY_E_CORRUPT, "%s: data_offsets: %d value%s, "
                                    "expected two [begin, end]", f, k, k == 1 ? "" : "s");
        if (tok != FERRY__JSON_UINT)
            return ferry__json_fail(r, FERRY_E_CORRUPT, "%s: data_offsets: found %s, expected "
                                    "a non-negative integer", f, ferry__json_tok_name(tok));
        v[k] = r->u;
    }
    e->begin = v[0];
    e->end   = v[1];
    return FERRY_OK;
}

enum { F_DTYPE, F_SHAPE, F_OFFSETS };
static const char *const field_names[] = {"dtype", "shape", "data_offsets"};

static int parse_field(st_hdr *h, int which, const char *tname, size_t tlen, st_entry *e)
{
    switch (which) {
    case F_DTYPE: return parse_dtype(h, tname, tlen, &e->dt);
    case F_SHAPE: return parse_shape(h, tname, tlen, e);
    default: return parse_offsets(h, tname, tlen, e);
    }
}

/* Reads one TensorInfo (its first token is current) into a new entry. */
static int parse_tensor(st_hdr *h, size_t name_off, size_t name_len)
{
    ferry__json_reader *r = h->r;
    if (h->ne >= h->ctx->limits.tensor_count)
        return ferry__json_fail(r, FERRY_E_LIMIT, "more than %llu tensors (limit tensor_count)",
                                (unsigned long long)h->ctx->limits.tensor_count);
    st_entry *ne = grow(h->ctx, h->e, &h->ecap, h->ne + 1, sizeof *ne);
    if (!ne) return h->ctx->err_code;
    h->e = ne;
    st_entry *e = &h->e[h->ne];
    memset(e, 0, sizeof *e);
    e->name_off = name_off;
    e->name_len = name_len;
    e->dt       = -1;
    char f[256];
    /* names may move when the pool grows, but not while this tensor is parsed */
    const char *tname = h->names + name_off;
    tensor_field(f, tname, name_len);
    size_t start = r->tok_off;
    if (r->tok == FERRY__JSON_ARRAY) {
        /* serde's sequence form of a struct: exactly [dtype, shape, data_offsets] */
        for (int k = 0; k < 3; k++) {
            int tok = ferry__json_next(r);
            if (tok < 0) return tok;
            if (tok == FERRY__JSON_ARRAY_END)
                return ferry__json_fail(r, FERRY_E_CORRUPT, "%s: array of %d element%s, "
                                        "expected [dtype, shape, data_offsets]", f, k,
                                        k == 1 ? "" : "s");
            FERRY_TRY(parse_field(h, k, tname, name_len, e));
        }
        int tok = ferry__json_next(r);
        if (tok < 0) return tok;
        if (tok != FERRY__JSON_ARRAY_END)
            return ferry__json_fail(r, FERRY_E_CORRUPT, "%s: found %s after three elements, "
                                    "expected ']'", f, ferry__json_tok_name(tok));
    } else if (r->tok == FERRY__JSON_OBJECT) {
        unsigned have = 0;
        for (;;) {
            int tok = ferry__json_next(r);
            if (tok < 0) return tok;
            if (tok == FERRY__JSON_OBJECT_END) break;
            int which = -1;
            for (int k = 0; k < 3; k++)
                if (strlen(field_names[k]) == r->str_len &&
                    memcmp(field_names[k], r->str, r->str_len) == 0)
                    which = k;
            if (which >= 0 && (have & 1u << which))
                return ferry__json_fail(r, FERRY_E_CORRUPT, "%s: duplicate field \"%s\"", f,
                                        field_names[which]);
            tok = ferry__json_next(r);
            if (tok < 0) return tok;
            if (which < 0) {
                FERRY_TRY(ferry__json_skip(r)); /* serde ignores unknown fields */
                continue;
            }
            FERRY_TRY(parse_field(h, which, tname, name_len, e));
            have |= 1u << which;
        }
        for (int k = 0; k < 3; k++)
            if (!(have & 1u << k))
                return ferry__fail_at(h->ctx, FERRY_E_CORRUPT, h->src, 8 + start,
                                      "%s: missing field \"%s\", expected dtype, shape and "
                                      "data_offsets", f, field_names[k]);
    } else {
        return ferry__json_fail(r, FERRY_E_CORRUPT, "%s: found %s, expected an object with "
                                "dtype, shape and data_offsets", f, ferry__json_tok_name(r->tok));
    }
    h->ne++;
    return FERRY_OK;
}

/* Parses the JSON of the header into h (no validation of offsets yet). */
static int parse_json(st_hdr *h)
{
    ferry__json_reader *r = h->r;
    int tok = ferry__json_next(r);
    if (tok < 0) return tok;
    if (tok != FERRY__JSON_OBJECT)
        return ferry__json_fail(r, FERRY_E_CORRUPT, "found %s, expected a JSON object as the "
                                "header", ferry__json_tok_name(tok));
    for (;;) {
        tok = ferry__json_next(r);
        if (tok < 0) return tok;
        if (tok == FERRY__JSON_OBJECT_END) break;
        if (r->str_len == 12 && memcmp(r->str, "__metadata__", 12) == 0) {
            FERRY_TRY(ferry__json_next(r));
            FERRY_TRY(parse_metadata(h));
            continue;
        }
        if (memchr(r->str, 0, r->str_len))
            return ferry__json_fail(r, FERRY_E_UNSUPPORTED, "tensor name containing U+0000 "
                                    "(ferry tensor names are C strings)");
        char *np = grow(h->ctx, h->names, &h->names_cap, h->names_len + r->str_len + 1, 1);
        if (!np) return h->ctx->err_code;
        h->names = np;
        size_t off = h->names_len, len = r->str_len;
        memcpy(h->names + off, r->str, len);
        h->names[off + len] = 0;
        h->names_len += len + 1;
        FERRY_TRY(ferry__json_next(r));
        FERRY_TRY(parse_tensor(h, off, len));
    }
    tok = ferry__json_next(r);
    if (tok < 0) return tok;
    return FERRY_OK;
}

static int cmp_entry(const void *a, const void *b)
{
    const st_entry *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    /* equal ranges: any order is what Rust does too; keep it deterministic */
    return x->name_off < y->name_off ? -1 : x->name_off > y->name_off;
}

/* The checks of Metadata::validate and read_metadata, in their order (A3.3). */
static int validate(st_hdr *h)
{
    ferry_ctx *ctx = h->ctx;
    char f[256];
    if (h->ne) qsort(h->e, h->ne, sizeof *h->e, cmp_entry);
    uint64_t start = 0;
    for (size_t i = 0; i < h->ne; i++) {
        const st_entry *e = &h->e[i];
        tensor_field(f, h->names + e->name_off, e->name_len);
        if (e->begin != start || e->end < e->begin) {
            const char *why = e->end < e->begin ? "end before they begin"
                              : e->begin > start ? "leave a gap after the previous tensor"
                                                 : "overlap the previous tensor";
            return ferry__fail_field(ctx, FERRY_E_CORRUPT, h->src, f, "data_offsets [%llu, %llu] "
                                     "%s, expected the tensor to begin at %llu (tensors must "
                                     "tile the data buffer)", (unsigned long long)e->begin,
                                     (unsigned long long)e->end, why,
                                     (unsigned long long)start);
        }
        start = e->end;
        uint64_t nel = 1, nbits;
        for (uint32_t k = 0; k < e->ndim; k++)
            if (ferry__mul_overflow(nel, h->dims[e->dims_off + k], &nel))
                return ferry__fail_field(ctx, FERRY_E_CORRUPT, h->src, f, "the element count "
                                         "of its shape overflows 64 bits");
        const st_dtype *d = &dtypes[e->dt];
        if (ferry__mul_overflow(nel, d->bits, &nbits))
            return ferry__fail_field(ctx, FERRY_E_CORRUPT, h->src, f, "%llu elements of %s "
                                     "overflow 64 bits", (unsigned long long)nel, d->name);
        if (nbits % 8 != 0)
            return ferry__fail_field(ctx, FERRY_E_CORRUPT, h->src, f, "%llu elements of %s are "
                                     "%llu bits, expected a multiple of 8",
                                     (unsigned long long)nel, d->name,
                                     (unsigned long long)nbits);
        if (e->end - e->begin != nbits / 8)
            return ferry__fail_field(ctx, FERRY_E_CORRUPT, h->src, f, "data_offsets [%llu, %llu] "
                                     "span %llu bytes, expected %llu (%llu elements of %s)",
                                     (unsigned long long)e->begin, (unsigned long long)e->end,
                                     (unsigned long long)(e->end - e->begin),
                                     (unsigned long long)(nbits / 8), (unsigned long long)nel,
                                     d->name);
    }
    uint64_t total, size = ferry_source_size(h->src);
    bool over = ferry__add_overflow(8 + h->n, start, &total);
    if (over || total != size) {
        if (!over && total < size)
            return ferry__fail_at(ctx, FERRY_E_CORRUPT, h->src, total, "found %llu bytes after "
                                  "the last tensor, expected the end of the file (tensors must "
                                  "cover the data buffer exactly)",
                                  (unsigned long long)(size - total));
        return ferry__fail_at(ctx, FERRY_E_CORRUPT, h->src, size, "found the end of the file, "
                              "expected %llu bytes of tensor data after the %llu-byte header",
                              (unsigned long long)start, (unsigned long long)h->n);
    }
    return FERRY_OK;
}

/* Adds the validated entries as zero-copy tensors of h->m, in offset order. */
static int add_tensors(st_hdr *h)
{
    ferry_ctx *ctx = h->ctx;
    int64_t *shape = ferry__malloc(ctx, sizeof *shape * (ctx->limits.dims ? ctx->limits.dims : 1));
    if (!shape) return ctx->err_code;
    int rc = FERRY_OK;
    for (size_t i = 0; i < h->ne && rc == 0; i++) {
        const st_entry *e = &h->e[i];
        const char *name = h->names + e->name_off;
        for (uint32_t k = 0; k < e->ndim; k++) {
            uint64_t v = h->dims[e->dims_off + k];
            if (v > (uint64_t)INT64_MAX) {
                char f[256];
                rc = ferry__fail_field(ctx, FERRY_E_UNSUPPORTED, h->src,
                                       tensor_field(f, name, e->name_len), "dimension %llu "
                                       "exceeds the largest ferry supports (2^63-1)",
                                       (unsigned long long)v);
                break;
            }
            shape[k] = (int64_t)v;
        }
        if (rc) break;
        ferry__tensor *t = ferry__model_add_tensor(h->m, name, e->name_len, dtypes[e->dt].dt,
                                                   (int32_t)e->ndim, shape, 0);
        if (!t) {
            rc = ctx->err_code;
            break;
        }
        if (FERRY_NEVER(t->nbytes != e->end - e->begin)) {
            rc = ferry__fail(ctx, FERRY_E_CORRUPT, "%s: tensor \"%s\": size mismatch",
                             h->src->name, name);
            break;
        }
        t->native_dtype = (char *)dtypes[e->dt].name;
        t->src    = ferry__source_ref(h->src);
        t->offset = 8 + h->n + e->begin;
        t->flags |= FERRY_TENSOR_ZERO_COPY;
    }
    ferry__free(ctx, shape, 0);
    return rc;
}

/* Opens one safetensors file into m: header checks, JSON, validation, tensors. */
static int parse_file(ferry_model *m, ferry_source *src, keyset *merge)
{
    ferry_ctx *ctx = m->ctx;
    uint64_t size = ferry_source_size(src);
    if (size < 8)
        return ferry__fail_at(ctx, FERRY_E_CORRUPT, src, 0, "file of %llu bytes, expected at "
                              "least 8 (the header length)", (unsigned long long)size);
    uint8_t b8[8];
    FERRY_TRY(ferry_source_read(src, 0, b8, 8));
    uint64_t n = ferry__rd64le(b8);
    if (n > ST_MAX_HEADER)
        return ferry__fail_at(ctx, FERRY_E_CORRUPT, src, 0, "header length %llu, expected at "
                              "most 100000000", (unsigned long long)n);
    if (n > size - 8)
        return ferry__fail_at(ctx, FERRY_E_CORRUPT, src, 0, "header length %llu runs past the "
                              "end of the file (%llu bytes)", (unsigned long long)n,
                              (unsigned long long)size);
    if (n > ctx->limits.header_bytes)
        return ferry__fail_at(ctx, FERRY_E_LIMIT, src, 0, "header of %llu bytes exceeds the "
                              "limit header_bytes (%llu)", (unsigned long long)n,
                              (unsigned long long)ctx->limits.header_bytes);
    uint8_t *owned;
    const uint8_t *text = source_bytes(src, 8, n, &owned);
    if (!text) return ctx->err_code;
    size_t bad;
    int rc = FERRY_OK;
    if (!ferry__utf8_valid(text, (size_t)n, &bad))
        rc = ferry__fail_at(ctx, FERRY_E_CORRUPT, src, 8 + bad, "invalid UTF-8 in the header "
                            "(byte 0x%02x), expected UTF-8 JSON", text[bad]);
    ferry__json_reader r;
    ferry__json_reader_init(&r, ctx, src, 8, text, (size_t)n, FERRY__JSON_NO_DUP_KEYS);
    st_hdr h;
    memset(&h, 0, sizeof h);
    h.m     = m;
    h.ctx   = ctx;
    h.src   = src;
    h.r     = &r;
    h.n     = n;
    h.merge = merge;
    if (rc == 0) rc = parse_json(&h);
    ferry__json_reader_free(&r);
    ferry__free(ctx, owned, 0);
    if (rc == 0) rc = validate(&h);
    if (rc == 0) rc = add_tensors(&h);
    hdr_free(&h);
    return rc;
}

/* Whether the probed input starts like a safetensors file: a plausible N and a header whose
 * first non-whitespace byte is '{'. The reference reader accepts any amount of leading
 * whitespace, so when the probed bytes are all whitespace the scan goes on through the source
 * in small stack-buffered reads (bounded by N, itself at most 10^8; nothing is allocated). */
static bool looks_single(const ferry__probe *p)
{
    if (p->head_len < 8 || p->size < 8) return false;
    uint64_t n = ferry__rd64le(p->head);
    if (n > ST_MAX_HEADER || n > p->size - 8) return false;
    uint64_t i = 8;
    for (; i < p->head_len && i - 8 < n; i++) {
        if (p->head[i] == '{') return true;
        if (!is_ws(p->head[i])) return false;
    }
    uint8_t buf[512];
    while (p->src && i - 8 < n) {
        size_t k = n - (i - 8) < sizeof buf ? (size_t)(n - (i - 8)) : sizeof buf;
        if (ferry_source_read(p->src, i, buf, k) != 0) return false;
        for (size_t j = 0; j < k; j++) {
            if (buf[j] == '{') return true;
            if (!is_ws(buf[j])) return false;
        }
        i += k;
    }
    return false;
}

/* ============================================================================================
 * Sharded checkpoints (A3.5)
 * ========================================================================================== */

typedef struct wm_entry {
    size_t name_off;
    size_t name_len;
    size_t shard_off;
    size_t shard_len;
    size_t shard;     /* index of the shard after grouping */
} wm_entry;

typedef struct wm_sort {
    const char *shard;
    size_t      i;
} wm_sort;

static int cmp_wm(const void *a, const void *b)
{
    const wm_sort *x = a, *y = b;
    int c = strcmp(x->shard, y->shard);
    return c ? c : (x->i < y->i ? -1 : x->i > y->i);
}

/* Opens the shards named by an index file whose bytes are at src, path ipath. */
static int open_index(ferry_model *m, ferry_source *isrc, const char *ipath)
{
    ferry_ctx *ctx = m->ctx;
    const char *iname = ferry_source_name(isrc);
    if (!ipath)
        return ferry__fail(ctx, FERRY_E_UNSUPPORTED, "%s: a sharded safetensors index can only "
                           "be opened from a file path (its shards are found beside it)", iname);
    uint64_t size = ferry_source_size(isrc);
    if (size > ctx->limits.header_bytes)
        return ferry__fail_at(ctx, FERRY_E_LIMIT, isrc, 0, "index of %llu bytes exceeds the "
                              "limit header_bytes (%llu)", (unsigned long long)size,
                              (unsigned long long)ctx->limits.header_bytes);
    uint8_t *owned;
    const uint8_t *text = source_bytes(isrc, 0, size, &owned);
    if (!text) return ctx->err_code;

    ferry__json_reader r;
    ferry__json_reader_init(&r, ctx, isrc, 0, text, (size_t)size, FERRY__JSON_NO_DUP_KEYS);
    wm_entry *wm = NULL;
    size_t nwm = 0, wmcap = 0;
    char *pool = NULL;
    size_t pool_len = 0, pool_cap = 0;
    wm_sort *order = NULL;
    ferry_source **shards = NULL;
    size_t nshards = 0;
    keyset merge = {ctx, NULL, 0, 0};
    bool have_map = false;
    int rc = ferry__json_next(&r);
    if (rc >= 0 && rc != FERRY__JSON_OBJECT)
        rc = ferry__json_fail(&r, FERRY_E_CORRUPT, "found %s, expected a JSON object with "
                              "\"weight_map\"", ferry__json_tok_name(rc));
    while (rc >= 0) {
        rc = ferry__json_next(&r);
        if (rc < 0 || rc == FERRY__JSON_OBJECT_END) break;
        bool is_map = r.str_len == 10 && memcmp(r.str, "weight_map", 10) == 0;
        bool is_meta = r.str_len == 8 && memcmp(r.str, "metadata", 8) == 0;
        if ((rc = ferry__json_next(&r)) < 0) break;
        if (is_meta && rc == FERRY__JSON_OBJECT) {
            rc = ferry__json_read_value(&r, m, m->meta);
            continue;
        }
        if (!is_map) {
            if (is_meta)
                ferry__log(ctx, 0, "%s: ignoring \"metadata\" that is %s, not an object", iname,
                           ferry__json_tok_name(rc));
            rc = ferry__json_skip(&r);
            continue;
        }
        if (rc != FERRY__JSON_OBJECT) {
            rc = ferry__json_fail(&r, FERRY_E_CORRUPT, "weight_map: found %s, expected an "
                                  "object of tensor name -> shard file", ferry__json_tok_name(rc));
            break;
        }
        have_map = true;
        for (;;) {
            rc = ferry__json_next(&r);
            if (rc < 0 || rc == FERRY__JSON_OBJECT_END) break;
            if (memchr(r.str, 0, r.str_len)) {
                rc = ferry__json_fail(&r, FERRY_E_UNSUPPORTED, "weight_map: tensor name "
                                      "containing U+0000");
                break;
            }
            wm_entry *nw = grow(ctx, wm, &wmcap, nwm + 1, sizeof *nw);
            char *np = nw ? grow(ctx, pool, &pool_cap, pool_len + r.str_len + 1, 1) : NULL;
            if (nw) wm = nw;
            if (!np) {
                rc = ctx->err_code;
                break;
            }
            pool = np;
            wm_entry *w = &wm[nwm];
            w->name_off = pool_len;
            w->name_len = r.str_len;
            memcpy(pool + pool_len, r.str, r.str_len);
            pool[pool_len + r.str_len] = 0;
            pool_len += r.str_len + 1;
            if ((rc = ferry__json_next(&r)) < 0) break;
            if (rc != FERRY__JSON_STRING || r.str_len == 0 || memchr(r.str, 0, r.str_len)) {
                rc = ferry__json_fail(&r, FERRY_E_CORRUPT, "weight_map: shard of tensor "
                                      "\"%.*s\": found %s, expected a file name",
                                      (int)(w->name_len > 200 ? 200 : w->name_len),
                                      pool + w->name_off,
                                      rc == FERRY__JSON_STRING ? "an empty or NUL-containing "
                                                                 "string"
                                                               : ferry__json_tok_name(rc));
                break;
            }
            np = grow(ctx, pool, &pool_cap, pool_len + r.str_len + 1, 1);
            if (!np) {
                rc = ctx->err_code;
                break;
            }
            pool = np;
            w->shard_off = pool_len;
            w->shard_len = r.str_len;
            memcpy(pool + pool_len, r.str, r.str_len);
            pool[pool_len + r.str_len] = 0;
            pool_len += r.str_len + 1;
            nwm++;
        }
    }
    if (rc >= 0) rc = ferry__json_next(&r); /* only whitespace may follow */
    ferry__json_reader_free(&r);
    ferry__free(ctx, owned, 0);
    if (rc >= 0 && !have_map)
        rc = ferry__fail_field(ctx, FERRY_E_CORRUPT, isrc, "weight_map", "missing, expected an "
                               "object of tensor name -> shard file");

    /* Group the entries by shard file (sorted by name: the order shards are read in). */
    if (rc >= 0 && nwm) {
        order = ferry__calloc(ctx, nwm, sizeof *order);
        shards = order ? ferry__calloc(ctx, nwm, sizeof *shards) : NULL;
        if (!shards) rc = ctx->err_code;
    }
    if (rc >= 0) {
        for (size_t i = 0; i < nwm; i++) {
            order[i].shard = pool + wm[i].shard_off;
            order[i].i     = i;
        }
        if (nwm) qsort(order, nwm, sizeof *order, cmp_wm);
        /* the shards' __metadata__ is merged under the index's own metadata keys */
        const ferry_meta *root = m->meta;
        for (size_t i = 0; i < root->v.c.n && rc >= 0; i++)
            rc = keyset_add(&merge, root->v.c.keys[i]);
    }
    for (size_t i = 0; i < nwm && rc >= 0; i++) {
        if (i == 0 || strcmp(order[i].shard, order[i - 1].shard) != 0) {
            ferry_source *s;
            rc = ferry__source_open_sibling(ctx, ipath, order[i].shard, &s);
            if (rc < 0) break;
            shards[nshards++] = s;
            rc = parse_file(m, s, &merge);
            if (rc >= 0) rc = ferry__model_keep_source(m, s);
            if (rc < 0) break;
        }
        wm[order[i].i].shard = nshards - 1;
    }
    /* A tensor may live in one shard only. */
    for (int64_t i = 0; i < m->n_tensors && rc >= 0; i++) {
        int64_t j = ferry_model_find_tensor(m, m->tensors[i].name);
        if (j != i)
            rc = ferry__fail_field(ctx, FERRY_E_CORRUPT, isrc, "weight_map", "tensor \"%s\" is "
                                   "stored in two shards (%s and %s), expected one",
                                   m->tensors[i].name, m->tensors[j].src->name,
                                   m->tensors[i].src->name);
    }
    /* Every weight_map entry must be in the shard it names. */
    for (size_t i = 0; i < nwm && rc >= 0; i++) {
        const char *name = pool + wm[i].name_off, *shard = pool + wm[i].shard_off;
        int64_t j = ferry_model_find_tensor(m, name);
        if (j < 0)
            rc = ferry__fail_field(ctx, FERRY_E_CORRUPT, isrc, "weight_map", "tensor \"%.*s\" "
                                   "is not in its shard \"%s\"",
                                   (int)(wm[i].name_len > 200 ? 200 : wm[i].name_len), name,
                                   shard);
        else if (m->tensors[j].src != shards[wm[i].shard])
            rc = ferry__fail_field(ctx, FERRY_E_CORRUPT, isrc, "weight_map", "tensor \"%.*s\" "
                                   "is mapped to \"%s\" but stored in %s",
                                   (int)(wm[i].name_len > 200 ? 200 : wm[i].name_len), name,
                                   shard, m->tensors[j].src->name);
    }
    for (size_t i = 0; i < nshards; i++) ferry_source_close(shards[i]);
    ferry__free(ctx, merge.slot, 0);
    ferry__free(ctx, shards, 0);
    ferry__free(ctx, order, 0);
    ferry__free(ctx, wm, 0);
    ferry__free(ctx, pool, 0);
    return rc < 0 ? rc : FERRY_OK;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n > k && memcmp(s + n - k, suffix, k) == 0;
}

/* What a directory holds: its safetensors index files and safetensors files. The smallest
 * names (byte order) are kept so that the choice does not depend on readdir's order. */
typedef struct dir_scan {
    int  n_index;
    int  n_single;
    bool has_model_index;
    char index[256];
    char index2[256];
    char single[256];
} dir_scan;

static bool scan_dir(const char *path, dir_scan *d)
{
    memset(d, 0, sizeof *d);
    DIR *dir = opendir(path);
    if (!dir) return false;
    struct dirent *de;
    while ((de = readdir(dir)) != NULL) {
        const char *n = de->d_name;
        if (n[0] == '.' || strlen(n) >= sizeof d->index) continue;
        if (ends_with(n, ".safetensors.index.json")) {
            if (strcmp(n, "model.safetensors.index.json") == 0) d->has_model_index = true;
            if (d->n_index == 0 || strcmp(n, d->index) < 0) {
                memcpy(d->index2, d->index, sizeof d->index2);
                strcpy(d->index, n);
            } else if (d->n_index == 1 || strcmp(n, d->index2) < 0) {
                strcpy(d->index2, n);
            }
            d->n_index++;
        } else if (ends_with(n, ".safetensors")) {
            if (d->n_single == 0 || strcmp(n, d->single) < 0) strcpy(d->single, n);
            d->n_single++;
        }
    }
    closedir(dir);
    return true;
}

static int open_dir(ferry_model *m)
{
    ferry_ctx *ctx = m->ctx;
    const char *dir = m->path;
    if (!dir) return ferry__fail(ctx, FERRY_E_ARG, "safetensors: nothing to open");
    dir_scan d;
    if (!scan_dir(dir, &d)) return ferry__fail(ctx, FERRY_E_IO, "%s: cannot list the directory",
                                               dir);
    const char *pick = NULL;
    bool is_index = true;
    if (d.has_model_index) {
        pick = "model.safetensors.index.json";
    } else if (d.n_index == 1) {
        pick = d.index;
    } else if (d.n_index > 1) {
        return ferry__fail(ctx, FERRY_E_UNSUPPORTED, "%s: %d safetensors index files (%s, %s, "
                           "...), expected one; open the one you mean", dir, d.n_index, d.index,
                           d.index2);
    } else if (d.n_single == 1) {
        pick = d.single;
        is_index = false;
    } else {
        return ferry__fail(ctx, d.n_single ? FERRY_E_UNSUPPORTED : FERRY_E_NOTFOUND,
                           "%s: %d .safetensors files and no *.safetensors.index.json, expected "
                           "an index or exactly one file", dir, d.n_single);
    }
    char full[PATH_MAX];
    if ((size_t)snprintf(full, sizeof full, "%s/%s", dir, pick) >= sizeof full)
        return ferry__fail(ctx, FERRY_E_ARG, "%s: path too long", dir);
    ferry_source *src;
    FERRY_TRY(ferry_source_open_file(ctx, full, &src));
    m->src = src; /* the model owns this reference */
    return is_index ? open_index(m, src, full) : parse_file(m, src, NULL);
}

/* ============================================================================================
 * The format contract: bid and open
 * ========================================================================================== */

/* Whether the head looks like an index: a JSON object with a "weight_map" that names
 * .safetensors files (within the probed bytes). */
static bool looks_index(const uint8_t *head, size_t len)
{
    size_t i = 0;
    while (i < len && is_ws(head[i])) i++;
    if (i >= len || head[i] != '{') return false;
    static const char k1[] = "\"weight_map\"", k2[] = ".safetensors\"";
    bool a = false, b = false;
    for (; i < len; i++) {
        if (!a && len - i >= sizeof k1 - 1 && memcmp(head + i, k1, sizeof k1 - 1) == 0) a = true;
        if (a && len - i >= sizeof k2 - 1 && memcmp(head + i, k2, sizeof k2 - 1) == 0) b = true;
    }
    return a && b;
}

static int st_bid(const ferry__probe *p)
{
    if (p->is_dir) {
        dir_scan d;
        if (!p->path || !scan_dir(p->path, &d)) return 0;
        return d.n_index > 0 || d.n_single == 1 ? 30 : 0;
    }
    if (looks_single(p)) return 40;
    if (looks_index(p->head, p->head_len)) return 30;
    /* A truncated file still starts like one of ours: bid low so that opening it reports
     * the precise rule it breaks (header length past the end) instead of "unknown format". */
    if (p->head_len > 8 && ferry__rd64le(p->head) <= ST_MAX_HEADER && p->head[8] == '{')
        return 12;
    return 0;
}

static int st_open(ferry_model *m, ferry_source *src)
{
    if (!src) return open_dir(m);
    uint8_t head[16];
    uint64_t size = ferry_source_size(src);
    size_t hl = size < sizeof head ? (size_t)size : sizeof head;
    FERRY_TRY(ferry_source_read(src, 0, head, hl));
    uint64_t n = hl >= 8 ? ferry__rd64le(head) : 0;
    /* A JSON text cannot have NUL bytes 1..7 that make N small: an index starts with '{'
     * (after whitespace) and gives an N far above the limit. */
    if (hl >= 8 && n <= ST_MAX_HEADER && n <= size - 8) return parse_file(m, src, NULL);
    size_t i = 0;
    while (i < hl && is_ws(head[i])) i++;
    if (i < hl && head[i] == '{') return open_index(m, src, m->path);
    return parse_file(m, src, NULL);
}

/* ============================================================================================
 * Writer (A3.4)
 * ========================================================================================== */

typedef struct w_order {
    int         rank;
    const char *name;
    int64_t     i;
} w_order;

static int cmp_write(const void *a, const void *b)
{
    const w_order *x = a, *y = b;
    if (x->rank != y->rank) return x->rank > y->rank ? -1 : 1; /* descending dtype */
    int c = strcmp(x->name, y->name);                          /* then name, bytewise */
    return c ? c : (x->i < y->i ? -1 : x->i > y->i);
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int put_u64(ferry__strbuf *b, uint64_t v)
{
    char t[24];
    int k = snprintf(t, sizeof t, "%llu", (unsigned long long)v);
    return ferry__strbuf_put(b, t, (size_t)k);
}

/* Writes "__metadata__":{...}, from the model's top-level scalars; sets *any. */
static int write_metadata(ferry__wplan *plan, ferry__strbuf *b, bool *any)
{
    ferry_ctx *ctx = plan->ctx;
    const ferry_meta *root = ferry_model_metadata(plan->src);
    *any = false;
    for (int64_t i = 0; i < ferry_meta_count(root); i++) {
        const char *key = ferry_meta_key_at(root, i);
        const ferry_meta *v = ferry_meta_at(root, i);
        char num[40];
        const char *text = NULL;
        size_t len = 0;
        switch (ferry_meta_kind_of(v)) {
        case FERRY_META_STRING: text = ferry_meta_string(v, &len); break;
        case FERRY_META_INT:
            len = (size_t)snprintf(num, sizeof num, "%lld", (long long)ferry_meta_int(v));
            text = num;
            break;
        case FERRY_META_UINT:
            len = (size_t)snprintf(num, sizeof num, "%llu", (unsigned long long)ferry_meta_uint(v));
            text = num;
            break;
        case FERRY_META_FLOAT:
            len = ferry_meta_numtype(v) == FERRY_DTYPE_F32
                      ? ferry__json_format_float32((float)ferry_meta_float(v), num)
                      : ferry__json_format_double(ferry_meta_float(v), num);
            text = num;
            break;
        case FERRY_META_BOOL:
            text = ferry_meta_bool(v) ? "true" : "false";
            len = strlen(text);
            break;
        default: break;
        }
        if (!text) {
            ferry__log(ctx, 0, "%s: metadata \"%s\" is not a scalar: not stored in "
                       "__metadata__ (string values only)", plan->out_name, key);
            continue;
        }
        size_t klen = strlen(key);
        if (!ferry__utf8_valid((const uint8_t *)key, klen, NULL) ||
            !ferry__utf8_valid((const uint8_t *)text, len, NULL)) {
            ferry__log(ctx, 1, "%s: metadata \"%s\" is not valid UTF-8: not stored",
                       plan->out_name, key);
            continue;
        }
        FERRY_TRY(ferry__strbuf_puts(b, *any ? "," : "\"__metadata__\":{"));
        FERRY_TRY(ferry__json_write_string(b, key, klen));
        FERRY_TRY(ferry__strbuf_put(b, ":", 1));
        FERRY_TRY(ferry__json_write_string(b, text, len));
        *any = true;
    }
    if (*any) FERRY_TRY(ferry__strbuf_put(b, "}", 1));
    return FERRY_OK;
}

static int build_header(ferry__wplan *plan, const w_order *ord, ferry__strbuf *b)
{
    bool any;
    FERRY_TRY(ferry__strbuf_put(b, "{", 1));
    FERRY_TRY(write_metadata(plan, b, &any));
    uint64_t off = 0;
    for (int64_t k = 0; k < plan->n; k++) {
        const ferry__wtensor *w = &plan->t[ord[k].i];
        if (any || k > 0) FERRY_TRY(ferry__strbuf_put(b, ",", 1));
        FERRY_TRY(ferry__json_write_string(b, w->name, strlen(w->name)));
        FERRY_TRY(ferry__strbuf_puts(b, ":{\"dtype\":\""));
        FERRY_TRY(ferry__strbuf_puts(b, dtypes[ord[k].rank].name));
        FERRY_TRY(ferry__strbuf_puts(b, "\",\"shape\":["));
        for (int32_t d = 0; d < w->ndim; d++) {
            if (d) FERRY_TRY(ferry__strbuf_put(b, ",", 1));
            FERRY_TRY(put_u64(b, (uint64_t)w->shape[d]));
        }
        FERRY_TRY(ferry__strbuf_puts(b, "],\"data_offsets\":["));
        FERRY_TRY(put_u64(b, off));
        FERRY_TRY(ferry__strbuf_put(b, ",", 1));
        if (ferry__add_overflow(off, w->nbytes, &off))
            return ferry__fail(plan->ctx, FERRY_E_LIMIT, "%s: total tensor size overflows",
                               plan->out_name);
        FERRY_TRY(put_u64(b, off));
        FERRY_TRY(ferry__strbuf_puts(b, "]}"));
    }
    FERRY_TRY(ferry__strbuf_put(b, "}", 1));
    /* Pad with spaces so that the data starts 8-byte aligned (A3.4). */
    while (b->n % 8) FERRY_TRY(ferry__strbuf_put(b, " ", 1));
    if (b->n > ST_MAX_HEADER)
        return ferry__fail(plan->ctx, FERRY_E_LIMIT, "%s: header of %zu bytes exceeds the "
                           "100000000-byte maximum of safetensors readers", plan->out_name, b->n);
    return FERRY_OK;
}

static int st_write(ferry__wplan *plan, ferry_sink *sink)
{
    ferry_ctx *ctx = plan->ctx;
    size_t n = (size_t)plan->n;
    w_order *ord = ferry__calloc(ctx, n ? n : 1, sizeof *ord);
    const char **names = ferry__calloc(ctx, n ? n : 1, sizeof *names);
    ferry__strbuf b;
    ferry__strbuf_init(&b, ctx);
    int rc = ord && names ? FERRY_OK : ctx->err_code;
    for (size_t i = 0; i < n && rc == 0; i++) {
        const ferry__wtensor *w = &plan->t[i];
        ord[i].rank = dtype_rank(w->dtype);
        ord[i].name = w->name;
        ord[i].i    = (int64_t)i;
        names[i]    = w->name;
        if (FERRY_NEVER(ord[i].rank < 0))
            rc = ferry__fail(ctx, FERRY_E_DTYPE, "%s: safetensors cannot store %s",
                             plan->out_name, ferry_dtype_name(w->dtype));
        else if (strcmp(w->name, "__metadata__") == 0)
            rc = ferry__fail(ctx, FERRY_E_UNSUPPORTED, "%s: a tensor named \"__metadata__\" "
                             "cannot be stored in safetensors (the key is reserved)",
                             plan->out_name);
    }
    if (rc == 0 && n) {
        qsort(names, n, sizeof *names, cmp_name);
        for (size_t i = 1; i < n && rc == 0; i++)
            if (strcmp(names[i], names[i - 1]) == 0)
                rc = ferry__fail(ctx, FERRY_E_UNSUPPORTED, "%s: two tensors named \"%s\": "
                                 "safetensors names must be unique", plan->out_name, names[i]);
        qsort(ord, n, sizeof *ord, cmp_write);
    }
    if (rc == 0) rc = build_header(plan, ord, &b);
    if (rc == 0) {
        uint8_t len8[8];
        ferry__wr64le(len8, (uint64_t)b.n);
        rc = ferry_sink_write(sink, len8, 8);
    }
    if (rc == 0) rc = ferry_sink_write(sink, b.p, b.n);
    for (size_t k = 0; k < n && rc == 0; k++) rc = ferry__wplan_write_tensor(plan, ord[k].i, sink);
    ferry__strbuf_free(&b);
    ferry__free(ctx, names, 0);
    ferry__free(ctx, ord, 0);
    return rc;
}

const ferry_format_ops ferry__format_safetensors = {
    .name        = "safetensors",
    .description = "Hugging Face safetensors (single file, sharded index or directory)",
    .extensions  = ".safetensors",
    .caps        = FERRY_CAP_READ | FERRY_CAP_WRITE | FERRY_CAP_MULTI_FILE,
    .bid         = st_bid,
    .open        = st_open,
    .read        = NULL,
    .can_write   = st_can_write,
    .write       = st_write,
};
