/*
 * onnx.c -- ONNX reader: ModelProto files (.onnx, external data included) and single
 * TensorProto files (the test data input_N.pb / output_N.pb of the ONNX backend tests).
 *
 * Spec: FORMATS.md section 1 (field numbers of ModelProto, GraphProto, NodeProto,
 * TensorProto, AttributeProto, ValueInfoProto, TypeProto, SparseTensorProto; DataType codes;
 * external data keys), section 0.1 (dtype codes, sub-byte packing: first element in the low
 * bits), section 0.2 (wire format, through src/parse/protobuf.h), section 0.5 (detection),
 * and SECURITY.md O01-O06 (external data paths and keys).
 *
 * Detection
 * ---------
 * bid() decodes the top-level fields of the first 4 KiB (Netron's signature technique), and
 * when the graph field lies beyond them (a long doc_string comes first) the whole top level
 * by bounded reads of one tag and length per field (at most 256 fields).
 * ModelProto: field 7 (graph) is LEN and every field seen has the wire type of the schema
 * ({1:0, 2:2, 3:2, 4:2, 5:0, 6:2, 7:2, 8:2, 14:2, 20:2, 25:2, 26:2}); or the fast path
 * "08 <0..0x0A> 12 <len < 64> <printable producer>". TensorProto (test data): field 2
 * (data_type) is a varint and every other field matches the TensorProto schema, at most one
 * typed data field; this rule is only consulted when the ModelProto rule fails, and bids
 * lower. Files named saved_model.pb / predict_net.pb / init_net.pb are never ONNX.
 *
 * Reading
 * -------
 * The whole protobuf is walked in place (zero copy) over the source's map; an unmapped
 * source is read into one buffer, capped by limits.header_bytes. Nothing of the model is
 * copied except names and metadata.
 *   - Metadata (root MAP): ir_version, producer_name, producer_version, domain,
 *     model_version, doc_string, opset_import [{domain, version}], metadata_props {k: v},
 *     functions [{name, domain}], graph {name, doc_string, input, output, value_info}. Each
 *     value info is {name, type, elem_type, shape}: type is ONNX's own spelling
 *     ("tensor(float)", "seq(tensor(int64))", "map(string,tensor(float))",
 *     "optional(...)", "sparse_tensor(...)"), shape an array of INT (dim_value), STRING
 *     (dim_param) or NULL (unknown) entries. version() is the IR version.
 *   - Graph: every NodeProto becomes a node (ferry__model_add_node): name, op_type (for a
 *     domain other than "" / "ai.onnx", "<domain>.<op_type>", onnxruntime's spelling of
 *     contrib ops, so a scanner sees custom domains), inputs and outputs verbatim ("" =
 *     omitted optional input), and one attribute entry per AttributeProto, typed:
 *     FLOAT (F32), INT (I64), STRING, TENSOR {tensor: name}, GRAPH {graph: name},
 *     SPARSE_TENSOR {sparse_tensor: name}, TYPE_PROTO {type: spelling}, and arrays of these
 *     for the plural kinds. An attribute without `type` (IR 1 files) is typed by the field
 *     that is present.
 *   - Sub-graphs (If/Loop/Scan bodies, any GRAPH/GRAPHS attribute, and training_info's
 *     initialization/algorithm graphs) are walked after the main graph from an explicit
 *     work list (no recursion; nesting is bounded by the protobuf depth limit, 100 levels of
 *     messages). Their nodes are appended to the same node list and their initializers
 *     become tensors. Names are kept as ONNX keeps them -- a sub-graph's initializer may
 *     shadow an outer name only by scoping, which a flat tensor list cannot express -- so
 *     a name already taken becomes "<graph name>/<name>", and if that is taken too,
 *     "<name>#<n>". FunctionProto bodies are listed by name only.
 *   - Tensors come from graph.initializer, graph.sparse_initializer (values and indices as
 *     "<name>/values" and "<name>/indices") and tensor-valued attributes (a Constant node's
 *     tensor is named after the node's output, others "<tensor name>", else
 *     "<node>/<attribute>"). Data:
 *       raw_data          little-endian bytes in place: zero copy (FERRY_TENSOR_ZERO_COPY),
 *                         length must equal the shape's byte size;
 *       typed fields      float_data (FLOAT, COMPLEX64 as 2 floats), double_data (DOUBLE,
 *                         COMPLEX128), int64_data (INT64), uint64_data (UINT32, UINT64),
 *                         int32_data (every other type: 8/16-bit ints, BOOL, FLOAT16 and
 *                         BFLOAT16 bit patterns, FLOAT8*, and 4-bit / 2-bit types packed
 *                         two / four per value, first element in the low bits); counted at
 *                         open (the count must match the shape) and materialised by the
 *                         read slot, which re-walks the TensorProto (FERRY_TENSOR_CONVERTED);
 *       string_data       STRING tensors, listed FERRY_TENSOR_NOT_PLAIN;
 *       external data     data_location = EXTERNAL with external_data entries; only the keys
 *                         location, offset, length, checksum, basepath are accepted, each
 *                         once, integers strictly decimal (SECURITY O05); location is opened
 *                         with ferry__source_open_sibling (relative, normalised, no "..", no
 *                         absolute or drive paths, no symlink leaving the model directory:
 *                         O01-O03), for every TensorProto reachable (O06); the range must lie
 *                         inside the file and, when length is given, equal the shape's byte
 *                         size; a missing length runs to the end of the file. Zero copy from
 *                         the external file's map. Each file is opened once per model.
 *     raw_data together with a non-empty typed field, or external data together with
 *     raw_data, is corrupt (the two sources would disagree). A tensor with elements and no
 *     data at all is corrupt. Legacy `segment` tensors are listed NOT_PLAIN.
 *     4-bit tensors with an odd element count (2-bit: not a multiple of 4) have no
 *     whole-byte neutral layout: they are listed with their dtype but NOT_PLAIN.
 *     Unknown data types are listed as FERRY_TENSOR_UNKNOWN_DTYPE ("DataType_<n>").
 *
 * Writing
 * -------
 * ONNX as a weights container (can_write: every dtype with an ONNX code except STRING).
 *   - From an ONNX ModelProto: the original bytes are streamed in order, field by field,
 *     and only the main graph's initializers that the plan changes are re-encoded: a new
 *     dtype (--dtype), or data that was external (brought inline). A re-encoded TensorProto
 *     is dims (unpacked, as onnx writes them), data_type, the original's other fields
 *     verbatim (name, doc_string, metadata_props, unknown fields), then raw_data streamed by
 *     ferry__wplan_write_tensor. Everything else -- nodes, sub-graphs and their
 *     initializers, Constant tensors, functions, unknown fields -- is copied verbatim, so an
 *     unchanged model is rewritten byte for byte. The graph's new length is computed in a
 *     first pass over the same fields; nothing but one chunk of tensor data is in memory.
 *   - From any other source (or a TensorProto file): a new ModelProto (IR 8, opset 17,
 *     producer "ferry") whose graph "ferry" has no nodes and one raw_data initializer per
 *     tensor, and the root's string metadata as metadata_props.
 *   - Output above protobuf's 2 GiB is refused (FERRY_E_LIMIT); writing external data is not
 *     implemented yet. Dtype conversion does not update value_info / node types that name
 *     the old type.
 */
#include "internal.h"
#include "parse/protobuf.h"

#include <stdio.h>

/* ============================================================================================
 * Data types (FORMATS.md section 1 DataType, section 0.1)
 * ========================================================================================== */

enum { TYPED_NONE = 0, F_FLOAT = 4, F_INT32 = 5, F_STRING = 6, F_INT64 = 7, F_DOUBLE = 10,
       F_UINT64 = 11 };

static const struct onnx_type {
    const char *name;     /* ONNX spelling for native_dtype */
    const char *lower;    /* spelling inside type strings, "tensor(float)" */
    ferry_dtype dt;
    uint8_t     field;    /* typed field that holds this type */
    uint8_t     unit;     /* output bytes per typed value */
    uint8_t     per;      /* elements per typed value: 1, or 2 (complex, 4-bit), 4 (2-bit) */
    uint8_t     div;      /* 1: per values per element (complex); 0: elements per value */
} onnx_types[] = {
    [1]  = {"FLOAT", "float", FERRY_DTYPE_F32, F_FLOAT, 4, 1, 0},
    [2]  = {"UINT8", "uint8", FERRY_DTYPE_U8, F_INT32, 1, 1, 0},
    [3]  = {"INT8", "int8", FERRY_DTYPE_I8, F_INT32, 1, 1, 0},
    [4]  = {"UINT16", "uint16", FERRY_DTYPE_U16, F_INT32, 2, 1, 0},
    [5]  = {"INT16", "int16", FERRY_DTYPE_I16, F_INT32, 2, 1, 0},
    [6]  = {"INT32", "int32", FERRY_DTYPE_I32, F_INT32, 4, 1, 0},
    [7]  = {"INT64", "int64", FERRY_DTYPE_I64, F_INT64, 8, 1, 0},
    [8]  = {"STRING", "string", FERRY_DTYPE_STRING, F_STRING, 0, 1, 0},
    [9]  = {"BOOL", "bool", FERRY_DTYPE_BOOL, F_INT32, 1, 1, 0},
    [10] = {"FLOAT16", "float16", FERRY_DTYPE_F16, F_INT32, 2, 1, 0},
    [11] = {"DOUBLE", "double", FERRY_DTYPE_F64, F_DOUBLE, 8, 1, 0},
    [12] = {"UINT32", "uint32", FERRY_DTYPE_U32, F_UINT64, 4, 1, 0},
    [13] = {"UINT64", "uint64", FERRY_DTYPE_U64, F_UINT64, 8, 1, 0},
    [14] = {"COMPLEX64", "complex64", FERRY_DTYPE_C64, F_FLOAT, 4, 2, 1},
    [15] = {"COMPLEX128", "complex128", FERRY_DTYPE_C128, F_DOUBLE, 8, 2, 1},
    [16] = {"BFLOAT16", "bfloat16", FERRY_DTYPE_BF16, F_INT32, 2, 1, 0},
    [17] = {"FLOAT8E4M3FN", "float8e4m3fn", FERRY_DTYPE_F8_E4M3FN, F_INT32, 1, 1, 0},
    [18] = {"FLOAT8E4M3FNUZ", "float8e4m3fnuz", FERRY_DTYPE_F8_E4M3FNUZ, F_INT32, 1, 1, 0},
    [19] = {"FLOAT8E5M2", "float8e5m2", FERRY_DTYPE_F8_E5M2, F_INT32, 1, 1, 0},
    [20] = {"FLOAT8E5M2FNUZ", "float8e5m2fnuz", FERRY_DTYPE_F8_E5M2FNUZ, F_INT32, 1, 1, 0},
    [21] = {"UINT4", "uint4", FERRY_DTYPE_U4, F_INT32, 1, 2, 0},
    [22] = {"INT4", "int4", FERRY_DTYPE_I4, F_INT32, 1, 2, 0},
    [23] = {"FLOAT4E2M1", "float4e2m1", FERRY_DTYPE_F4_E2M1, F_INT32, 1, 2, 0},
    [24] = {"FLOAT8E8M0", "float8e8m0", FERRY_DTYPE_F8_E8M0, F_INT32, 1, 1, 0},
    [25] = {"UINT2", "uint2", FERRY_DTYPE_U2, F_INT32, 1, 4, 0},
    [26] = {"INT2", "int2", FERRY_DTYPE_I2, F_INT32, 1, 4, 0},
};

static const struct onnx_type *type_of(uint64_t code)
{
    if (code == 0 || code >= FERRY_ARRAY_LEN(onnx_types)) return NULL;
    return &onnx_types[code];
}

static const char *field_name(uint32_t f)
{
    switch (f) {
    case F_FLOAT: return "float_data";
    case F_INT32: return "int32_data";
    case F_STRING: return "string_data";
    case F_INT64: return "int64_data";
    case F_DOUBLE: return "double_data";
    case F_UINT64: return "uint64_data";
    default: return "?";
    }
}

static int elem_wire_of(uint32_t field)
{
    switch (field) {
    case F_FLOAT: return FERRY__PB_I32;
    case F_DOUBLE: return FERRY__PB_I64;
    default: return FERRY__PB_VARINT;
    }
}

/* ============================================================================================
 * State
 * ========================================================================================== */

/* Per tensor stored in typed fields: where its TensorProto is, for the read slot. */
typedef struct typed_loc {
    uint64_t off;      /* TensorProto payload inside the model bytes */
    uint64_t len;
    uint8_t  field;
    uint8_t  unit;
    uint8_t  is_bool;
    /* Resume point of the read slot: value index rs_idx is the next value at rs_pos, which
     * is inside a packed run ending at rs_end, or (rs_end 0) the tag of its field. */
    bool     rs_valid;
    uint64_t rs_pos;
    uint64_t rs_end;
    uint64_t rs_idx;
} typed_loc;

/* m->priv: the bytes every typed_loc points into. */
typedef struct onnx_state {
    const uint8_t *base;
    uint8_t       *owned;
    size_t         owned_len;
    /* For the writer: the main graph's slice and, in field order, the tensor index of each
     * of its initializers. */
    bool           is_model;
    uint64_t       graph_off;
    uint64_t       graph_len;
    int64_t       *init_idx;
    size_t         n_init;
    size_t         cap_init;
} onnx_state;

typedef struct ext_file {
    const char   *loc;   /* arena */
    ferry_source *src;   /* kept by the model */
} ext_file;

typedef struct graph_item {
    uint64_t    off;
    uint64_t    len;
    uint32_t    depth;
    const char *name;    /* arena; the graph's name for collision prefixes */
} graph_item;

typedef struct pstate {
    ferry_model   *m;
    onnx_state    *st;
    ferry_ctx     *ctx;
    ferry_source  *src;
    const uint8_t *base;
    uint64_t       size;
    /* tensor name set: open addressing over tensor indices + 1 */
    int64_t       *set;
    uint64_t       set_cap;
    uint64_t       collisions;
    /* pending sub-graphs */
    graph_item    *stack;
    size_t         n_stack;
    size_t         cap_stack;
    /* external files opened so far */
    ext_file      *ext;
    size_t         n_ext;
    size_t         cap_ext;
    /* node scratch: strings and their offsets */
    char          *sbuf;
    size_t         slen;
    size_t         scap;
    size_t        *soff;
    size_t         sn;
    size_t         socap;
    uint64_t       node_index;
} pstate;

static void onnx_free(ferry_model *m)
{
    onnx_state *st = m->priv;
    if (!st) return;
    ferry__free(m->ctx, st->owned, st->owned_len);
    ferry__free(m->ctx, st->init_idx, 0);
    ferry__free(m->ctx, st, sizeof *st);
    m->priv = NULL;
}

static void pstate_free(pstate *ps)
{
    ferry__free(ps->ctx, ps->set, 0);
    ferry__free(ps->ctx, ps->stack, 0);
    ferry__free(ps->ctx, ps->ext, 0);
    ferry__free(ps->ctx, ps->sbuf, 0);
    ferry__free(ps->ctx, ps->soff, 0);
}

/* Grows *p (n elements used, *cap allocated) by doubling so that one more fits. */
static int grow(ferry_ctx *ctx, void **p, size_t *cap, size_t n, size_t elem)
{
    if (n < *cap) return FERRY_OK;
    size_t nc = *cap ? *cap * 2 : 16;
    if (nc > SIZE_MAX / elem) return ferry__fail(ctx, FERRY_E_NOMEM, "onnx: table too large");
    void *np = ferry__realloc(ctx, *p, *cap * elem, nc * elem);
    if (!np) return ctx->err_code;
    *p   = np;
    *cap = nc;
    return FERRY_OK;
}

/* ============================================================================================
 * Small helpers
 * ========================================================================================== */

static int corrupt(pstate *ps, const ferry__pb *r, uint64_t off, const char *fmt, ...)
    FERRY_PRINTF(4, 5);
static int corrupt(pstate *ps, const ferry__pb *r, uint64_t off, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return ferry__fail_at(ps->ctx, FERRY_E_CORRUPT, ps->src, r->origin + off, "%s", msg);
}

static int check_string(pstate *ps, const ferry__pb *r, const ferry__pb_field *f)
{
    if (f->wire != FERRY__PB_LEN)
        return corrupt(ps, r, f->tag_off, "field %u: expected a string (wire type 2), got %u",
                       f->number, (unsigned)f->wire);
    if (f->len > ps->ctx->limits.string_length)
        return ferry__fail_at(ps->ctx, FERRY_E_LIMIT, ps->src, r->origin + f->tag_off,
                              "string of %llu bytes (limit string_length)",
                              (unsigned long long)f->len);
    return FERRY_OK;
}

static int expect_wire(pstate *ps, const ferry__pb *r, const ferry__pb_field *f, int wire,
                       const char *what)
{
    if (f->wire != wire)
        return corrupt(ps, r, f->tag_off, "%s (field %u) has wire type %u, expected %d", what,
                       f->number, (unsigned)f->wire, wire);
    return FERRY_OK;
}

static int meta_str(pstate *ps, ferry_meta *parent, const char *key, const ferry__pb_field *f)
{
    ferry_meta *n = ferry__meta_append(ps->m, parent, key, strlen(key));
    if (!n) return ps->ctx->err_code;
    return ferry__meta_set_string(ps->m, n, (const char *)ps->base + f->off, (size_t)f->len);
}

static int meta_cstr(pstate *ps, ferry_meta *parent, const char *key, const char *s, size_t n)
{
    ferry_meta *c = ferry__meta_append(ps->m, parent, key, strlen(key));
    if (!c) return ps->ctx->err_code;
    return ferry__meta_set_string(ps->m, c, s, n);
}

static int meta_int(pstate *ps, ferry_meta *parent, const char *key, int64_t v)
{
    ferry_meta *n = ferry__meta_append(ps->m, parent, key, strlen(key));
    if (!n) return ps->ctx->err_code;
    ferry__meta_set_int(n, v, FERRY_DTYPE_I64);
    return FERRY_OK;
}

static char *arena_str(pstate *ps, const ferry__pb_field *f)
{
    return ferry__arena_strndup(&ps->m->arena, (const char *)ps->base + f->off, (size_t)f->len);
}

/* ============================================================================================
 * Tensor names (unique within the model)
 * ========================================================================================== */

static uint64_t hash_bytes(const char *p, size_t n)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < n; i++) h = (h ^ (uint8_t)p[i]) * 1099511628211ull;
    return h;
}

static bool name_taken(const pstate *ps, const char *p, size_t n)
{
    if (!ps->set_cap) return false;
    for (uint64_t i = hash_bytes(p, n) & (ps->set_cap - 1);; i = (i + 1) & (ps->set_cap - 1)) {
        int64_t k = ps->set[i];
        if (k == 0) return false;
        const char *s = ps->m->tensors[k - 1].name;
        if (strlen(s) == n && memcmp(s, p, n) == 0) return true;
    }
}

static void set_put(pstate *ps, int64_t idx)
{
    const char *s = ps->m->tensors[idx].name;
    uint64_t i = hash_bytes(s, strlen(s)) & (ps->set_cap - 1);
    while (ps->set[i]) i = (i + 1) & (ps->set_cap - 1);
    ps->set[i] = idx + 1;
}

/* Records tensor idx (just added) in the name set, growing it at half load. */
static int name_add(pstate *ps, int64_t idx)
{
    if ((uint64_t)(idx + 1) * 2 > ps->set_cap) {
        uint64_t nc = ps->set_cap ? ps->set_cap * 2 : 64;
        int64_t *ns = ferry__calloc(ps->ctx, (size_t)nc, sizeof *ns);
        if (!ns) return ps->ctx->err_code;
        ferry__free(ps->ctx, ps->set, 0);
        ps->set     = ns;
        ps->set_cap = nc;
        for (int64_t i = 0; i < idx; i++) set_put(ps, i);
    }
    set_put(ps, idx);
    return FERRY_OK;
}

/* Chooses a free name for a tensor proposed as p[0, n) in graph `scope`: the name itself,
 * "<scope>/<name>", or "<name>#<k>". The result lives in the arena. */
static int unique_name(pstate *ps, const char *p, size_t n, const char *scope, const char **out,
                       size_t *outlen)
{
    if (!name_taken(ps, p, n)) {
        *out    = p;
        *outlen = n;
        return FERRY_OK;
    }
    size_t sl = scope ? strlen(scope) : 0;
    size_t cap = n + sl + 24;
    char *b = ferry__arena_alloc(&ps->m->arena, cap);
    if (!b) return ps->ctx->err_code;
    if (sl) {
        memcpy(b, scope, sl);
        b[sl] = '/';
        memcpy(b + sl + 1, p, n);
        if (!name_taken(ps, b, sl + 1 + n)) {
            *out    = b;
            *outlen = sl + 1 + n;
            return FERRY_OK;
        }
    }
    for (;;) {
        memcpy(b, p, n);
        int k = snprintf(b + n, cap - n, "#%llu", (unsigned long long)++ps->collisions);
        if (!name_taken(ps, b, n + (size_t)k)) {
            *out    = b;
            *outlen = n + (size_t)k;
            return FERRY_OK;
        }
    }
}

/* ============================================================================================
 * External data (SECURITY.md O01-O06)
 * ========================================================================================== */

/* Strict decimal: 1-20 digits, no sign, no spaces, no overflow. */
static bool parse_dec(const uint8_t *p, uint64_t n, uint64_t *v)
{
    if (n == 0 || n > 20) return false;
    uint64_t x = 0;
    for (uint64_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9') return false;
        if (ferry__mul_overflow(x, 10, &x) || ferry__add_overflow(x, p[i] - '0', &x)) return false;
    }
    *v = x;
    return true;
}

static int ext_source(pstate *ps, const char *loc, ferry_source **out)
{
    for (size_t i = 0; i < ps->n_ext; i++) {
        if (strcmp(ps->ext[i].loc, loc) == 0) {
            *out = ps->ext[i].src;
            return FERRY_OK;
        }
    }
    if (!ps->m->path) {
        return ferry__fail(ps->ctx, FERRY_E_UNSUPPORTED,
                           "%s: external data \"%s\" needs the model's file path (opened from "
                           "memory)", ferry_source_name(ps->src), loc);
    }
    FERRY_TRY(grow(ps->ctx, (void **)&ps->ext, &ps->cap_ext, ps->n_ext, sizeof *ps->ext));
    ferry_source *s = NULL;
    FERRY_TRY(ferry__source_open_sibling(ps->ctx, ps->m->path, loc, &s));
    int rc = ferry__model_keep_source(ps->m, s);
    ferry_source_close(s);
    FERRY_TRY(rc);
    ps->ext[ps->n_ext].loc = loc;
    ps->ext[ps->n_ext].src = s;
    ps->n_ext++;
    *out = s;
    return FERRY_OK;
}

/* Places tensor t (index ti) in its external file, from the external_data entries of
 * TensorProto r. */
static int place_external(pstate *ps, const ferry__pb *tr, ferry__tensor *t)
{
    static const char *const keys[] = {"location", "offset", "length", "checksum", "basepath"};
    ferry__pb_field seen[5];
    bool have[5] = {false, false, false, false, false};
    ferry__pb r = *tr;
    ferry__pb_field f;
    int rc;
    while ((rc = ferry__pb_next(&r, &f)) > 0) {
        if (f.number != 13) continue;
        FERRY_TRY(expect_wire(ps, &r, &f, FERRY__PB_LEN, "external_data"));
        ferry__pb e;
        FERRY_TRY(ferry__pb_sub(&r, &f, &e));
        ferry__pb_field ef, key = {0}, val = {0};
        bool hk = false, hv = false;
        while ((rc = ferry__pb_next(&e, &ef)) > 0) {
            if (ef.number == 1) {
                FERRY_TRY(check_string(ps, &e, &ef));
                key = ef;
                hk  = true;
            } else if (ef.number == 2) {
                FERRY_TRY(check_string(ps, &e, &ef));
                val = ef;
                hv  = true;
            }
        }
        FERRY_TRY(rc);
        if (!hk) return corrupt(ps, &r, f.tag_off, "tensor \"%s\": external_data entry "
                                "without a key", t->name);
        int k = -1;
        for (int i = 0; i < 5; i++)
            if (strlen(keys[i]) == key.len && memcmp(keys[i], ps->base + key.off, key.len) == 0)
                k = i;
        if (k < 0) {
            return corrupt(ps, &r, f.tag_off, "tensor \"%s\": unknown external_data key \"%.*s\" "
                           "(allowed: location, offset, length, checksum, basepath)", t->name,
                           (int)(key.len > 64 ? 64 : key.len), (const char *)ps->base + key.off);
        }
        if (have[k]) {
            return corrupt(ps, &r, f.tag_off, "tensor \"%s\": external_data key \"%s\" appears "
                           "twice", t->name, keys[k]);
        }
        have[k] = true;
        if (!hv) val.len = 0, val.off = key.off;
        seen[k] = val;
    }
    FERRY_TRY(rc);
    if (!have[0] || seen[0].len == 0)
        return corrupt(ps, &r, tr->pos, "tensor \"%s\": external data without a location",
                       t->name);
    if (memchr(ps->base + seen[0].off, 0, (size_t)seen[0].len))
        return corrupt(ps, &r, seen[0].off, "tensor \"%s\": external data location contains a "
                       "NUL byte", t->name);
    uint64_t off = 0, len = 0;
    if (have[1] && !parse_dec(ps->base + seen[1].off, seen[1].len, &off))
        return corrupt(ps, &r, seen[1].off, "tensor \"%s\": external data offset is not a "
                       "decimal integer", t->name);
    if (have[2] && !parse_dec(ps->base + seen[2].off, seen[2].len, &len))
        return corrupt(ps, &r, seen[2].off, "tensor \"%s\": external data length is not a "
                       "decimal integer", t->name);
    char *loc = ferry__arena_strndup(&ps->m->arena, (const char *)ps->base + seen[0].off,
                                     (size_t)seen[0].len);
    if (!loc) return ps->ctx->err_code;
    ferry_source *es = NULL;
    FERRY_TRY(ext_source(ps, loc, &es));
    uint64_t fsize = ferry_source_size(es), end;
    if (off > fsize)
        return ferry__fail(ps->ctx, FERRY_E_CORRUPT, "%s: tensor \"%s\": external data offset "
                           "%llu is beyond the %llu bytes of \"%s\"", ferry_source_name(ps->src),
                           t->name, (unsigned long long)off, (unsigned long long)fsize, loc);
    if (!have[2]) len = fsize - off;
    if (ferry__add_overflow(off, len, &end) || end > fsize)
        return ferry__fail(ps->ctx, FERRY_E_CORRUPT, "%s: tensor \"%s\": external data [%llu, "
                           "+%llu) leaves \"%s\" (%llu bytes)", ferry_source_name(ps->src),
                           t->name, (unsigned long long)off, (unsigned long long)len, loc,
                           (unsigned long long)fsize);
    if (t->status == FERRY_TENSOR_PLAIN && len != t->nbytes)
        return ferry__fail(ps->ctx, FERRY_E_CORRUPT, "%s: tensor \"%s\": external data holds "
                           "%llu bytes, its shape needs %llu", ferry_source_name(ps->src),
                           t->name, (unsigned long long)len, (unsigned long long)t->nbytes);
    if (t->status != FERRY_TENSOR_PLAIN) return FERRY_OK;
    t->src    = ferry__source_ref(es);
    t->offset = off;
    t->flags |= FERRY_TENSOR_ZERO_COPY;
    return FERRY_OK;
}

/* ============================================================================================
 * TensorProto
 * ========================================================================================== */

/* Parses the TensorProto of cursor tr into a model tensor. name/namelen override its name
 * when given (else the proto's name, else `fallback`). *out_name gets the final name. */
static int parse_tensor(pstate *ps, const ferry__pb *tr, const char *name, size_t namelen,
                        const char *fallback, const char *scope, const char **out_name)
{
    ferry_ctx *ctx = ps->ctx;
    ferry__pb r = *tr;
    ferry__pb_field f, fname = {0}, fraw = {0};
    bool has_name = false, has_raw = false, segmented = false;
    uint64_t data_type = 0, location = 0, ndims = 0;
    uint64_t counts[12] = {0};
    int rc;
    while ((rc = ferry__pb_next(&r, &f)) > 0) {
        switch (f.number) {
        case 1: FERRY_TRY(ferry__pb_rep_count(&r, &f, FERRY__PB_VARINT, &ndims)); break;
        case 2:
            FERRY_TRY(expect_wire(ps, &r, &f, FERRY__PB_VARINT, "data_type"));
            data_type = f.value;
            break;
        case 3: segmented = true; break;
        case F_FLOAT:
        case F_INT32:
        case F_INT64:
        case F_DOUBLE:
        case F_UINT64:
            FERRY_TRY(ferry__pb_rep_count(&r, &f, elem_wire_of(f.number), &counts[f.number]));
            break;
        case F_STRING:
            FERRY_TRY(check_string(ps, &r, &f));
            counts[F_STRING]++;
            break;
        case 8:
            FERRY_TRY(check_string(ps, &r, &f));
            fname    = f;
            has_name = true;
            break;
        case 9:
            FERRY_TRY(expect_wire(ps, &r, &f, FERRY__PB_LEN, "raw_data"));
            fraw    = f;
            has_raw = true;
            break;
        case 13: FERRY_TRY(expect_wire(ps, &r, &f, FERRY__PB_LEN, "external_data")); break;
        case 14:
            FERRY_TRY(expect_wire(ps, &r, &f, FERRY__PB_VARINT, "data_location"));
            location = f.value;
            break;
        default: break;
        }
    }
    FERRY_TRY(rc);
    if (ndims > ctx->limits.dims)
        return ferry__fail_at(ctx, FERRY_E_LIMIT, ps->src, tr->origin + tr->pos,
                              "tensor with %llu dimensions (limit dims = %u)",
                              (unsigned long long)ndims, ctx->limits.dims);
    int64_t shape[64];
    int64_t *dims = shape;
    if (ndims > FERRY_ARRAY_LEN(shape)) {
        dims = ferry__malloc(ctx, sizeof *dims * (size_t)ndims);
        if (!dims) return ctx->err_code;
    }
    uint64_t nd = 0;
    r = *tr;
    while ((rc = ferry__pb_next(&r, &f)) > 0) {
        if (f.number != 1) continue;
        ferry__pb_rep it;
        ferry__pb_rep_init(&it, &r, &f, FERRY__PB_VARINT);
        uint64_t v;
        while ((rc = ferry__pb_rep_next(&it, &v)) > 0 && nd < ndims) dims[nd++] = (int64_t)v;
        if (rc < 0) break;
    }
    // Name: override, proto name, fallback.
    const char *np = name;
    size_t nl = namelen;
    if (!np && has_name && fname.len) {
        np = (const char *)ps->base + fname.off;
        nl = (size_t)fname.len;
    }
    if (!np) {
        np = fallback ? fallback : "tensor";
        nl = strlen(np);
    }
    const char *un = NULL;
    size_t ul = 0;
    if (rc >= 0) rc = unique_name(ps, np, nl, scope, &un, &ul);
    const struct onnx_type *ty = type_of(data_type);
    ferry_dtype dt = ty ? ty->dt : FERRY_DTYPE_UNKNOWN;
    // A 4-bit / 2-bit tensor that does not fill whole bytes has no neutral layout: list it
    // through a layout-free dtype, then give it its own dtype back.
    bool partial = false;
    if (rc >= 0 && ty && ty->per > 1 && !ty->div) {
        uint64_t nel = 1;
        for (uint64_t i = 0; i < nd; i++)
            if (dims[i] >= 0 && ferry__mul_overflow(nel, (uint64_t)dims[i], &nel)) break;
        partial = nel % ty->per != 0;
    }
    ferry__tensor *t = NULL;
    if (rc >= 0) {
        t = ferry__model_add_tensor(ps->m, un, ul, partial ? FERRY_DTYPE_OPAQUE : dt,
                                    (int32_t)nd, dims, 0);
        if (!t) rc = ctx->err_code;
    }
    if (dims != shape) ferry__free(ctx, dims, 0);
    FERRY_TRY(rc);
    int64_t ti = ps->m->n_tensors - 1;
    FERRY_TRY(name_add(ps, ti));
    if (out_name) *out_name = t->name;
    char nbuf[48];
    if (ty) snprintf(nbuf, sizeof nbuf, "%s", ty->name);
    else snprintf(nbuf, sizeof nbuf, "DataType_%llu", (unsigned long long)data_type);
    if (partial) {
        t->dtype  = dt;
        t->status = FERRY_TENSOR_NOT_PLAIN;
        snprintf(nbuf, sizeof nbuf, "%s (partial byte)", ty->name);
    }
    if (segmented) {
        t->status = FERRY_TENSOR_NOT_PLAIN;
        snprintf(nbuf, sizeof nbuf, "%s (segmented)", ty ? ty->name : "UNDEFINED");
    }
    t->native_dtype = ferry__arena_strndup(&ps->m->arena, nbuf, strlen(nbuf));
    if (!t->native_dtype) return ctx->err_code;
    if (segmented) return FERRY_OK;

    uint64_t typed_total = 0;
    for (int i = 0; i < 12; i++) typed_total += counts[i];
    if (location == 1) {
        if (has_raw || typed_total)
            return corrupt(ps, tr, tr->pos, "tensor \"%s\": data_location is EXTERNAL but the "
                           "tensor also holds data inline", t->name);
        return place_external(ps, tr, t);
    }
    if (location > 1)
        return corrupt(ps, tr, tr->pos, "tensor \"%s\": unknown data_location %llu", t->name,
                       (unsigned long long)location);
    if (has_raw) {
        if (typed_total)
            return corrupt(ps, tr, fraw.tag_off, "tensor \"%s\": both raw_data and %s hold "
                           "data", t->name, ty ? field_name(ty->field) : "a typed field");
        if (dt == FERRY_DTYPE_STRING)
            return corrupt(ps, tr, fraw.tag_off, "tensor \"%s\": STRING tensors keep their data "
                           "in string_data, not raw_data", t->name);
        if (t->status != FERRY_TENSOR_PLAIN) return FERRY_OK;
        if (fraw.len != t->nbytes)
            return corrupt(ps, tr, fraw.tag_off, "tensor \"%s\": raw_data holds %llu bytes, "
                           "its shape and type need %llu", t->name,
                           (unsigned long long)fraw.len, (unsigned long long)t->nbytes);
        t->src    = ferry__source_ref(ps->src);
        t->offset = tr->origin + fraw.off;
        t->flags |= FERRY_TENSOR_ZERO_COPY;
        return FERRY_OK;
    }
    if (!ty) return FERRY_OK; /* unknown type: listed, no data to check */
    for (int i = 0; i < 12; i++) {
        if (counts[i] && i != ty->field)
            return corrupt(ps, tr, tr->pos, "tensor \"%s\": %s cannot hold %s data", t->name,
                           field_name((uint32_t)i), ty->name);
    }
    uint64_t need = t->nelems;
    if (ty->div) {
        if (ferry__mul_overflow(need, ty->per, &need))
            return corrupt(ps, tr, tr->pos, "tensor \"%s\": element count overflows", t->name);
    } else if (ty->per > 1) {
        need = need / ty->per + (need % ty->per != 0);
    }
    if (counts[ty->field] != need) {
        if (counts[ty->field] == 0)
            return corrupt(ps, tr, tr->pos, "tensor \"%s\": no data for its %llu elements "
                           "(no raw_data, %s or external data)", t->name,
                           (unsigned long long)t->nelems, field_name(ty->field));
        return corrupt(ps, tr, tr->pos, "tensor \"%s\": %s holds %llu values, its shape "
                       "needs %llu", t->name, field_name(ty->field),
                       (unsigned long long)counts[ty->field], (unsigned long long)need);
    }
    if (t->status != FERRY_TENSOR_PLAIN || need == 0) {
        if (t->status == FERRY_TENSOR_PLAIN) {
            t->src = ferry__source_ref(ps->src);
            t->flags |= FERRY_TENSOR_ZERO_COPY;
        }
        return FERRY_OK;
    }
    typed_loc *tl = ferry__arena_alloc(&ps->m->arena, sizeof *tl);
    if (!tl) return ctx->err_code;
    tl->off     = tr->pos;
    tl->len     = tr->end - tr->pos;
    tl->field   = ty->field;
    tl->unit    = ty->unit;
    tl->is_bool = dt == FERRY_DTYPE_BOOL;
    t->priv     = tl;
    t->flags |= FERRY_TENSOR_CONVERTED;
    return FERRY_OK;
}

/* SparseTensorProto: values and indices become "<name>/values" and "<name>/indices". */
static int parse_sparse(pstate *ps, const ferry__pb *sr, const char *fallback, const char *scope,
                        const char **out_name)
{
    ferry__pb r = *sr;
    ferry__pb_field f, fv = {0}, fi = {0};
    bool hv = false, hi = false;
    int rc;
    while ((rc = ferry__pb_next(&r, &f)) > 0) {
        if (f.number == 1) fv = f, hv = true;
        if (f.number == 2) fi = f, hi = true;
    }
    FERRY_TRY(rc);
    // The sparse tensor's name is its values tensor's name.
    const char *base = fallback ? fallback : "sparse";
    size_t bl = strlen(base);
    ferry__pb v, ix;
    if (hv) {
        FERRY_TRY(expect_wire(ps, sr, &fv, FERRY__PB_LEN, "sparse values"));
        FERRY_TRY(ferry__pb_sub(sr, &fv, &v));
        ferry__pb vr = v;
        while ((rc = ferry__pb_next(&vr, &f)) > 0) {
            if (f.number == 8 && f.wire == FERRY__PB_LEN && f.len) {
                base = (const char *)ps->base + f.off;
                bl   = (size_t)f.len;
            }
        }
        FERRY_TRY(rc);
    }
    if (bl > ps->ctx->limits.string_length) bl = (size_t)ps->ctx->limits.string_length;
    char *nm = ferry__arena_alloc(&ps->m->arena, bl + 9);
    if (!nm) return ps->ctx->err_code;
    memcpy(nm, base, bl);
    if (out_name) {
        *out_name = ferry__arena_strndup(&ps->m->arena, base, bl);
        if (!*out_name) return ps->ctx->err_code;
    }
    if (hv) {
        memcpy(nm + bl, "/values", 8);
        FERRY_TRY(parse_tensor(ps, &v, nm, bl + 7, NULL, scope, NULL));
    }
    if (hi) {
        FERRY_TRY(expect_wire(ps, sr, &fi, FERRY__PB_LEN, "sparse indices"));
        FERRY_TRY(ferry__pb_sub(sr, &fi, &ix));
        memcpy(nm + bl, "/indices", 9);
        FERRY_TRY(parse_tensor(ps, &ix, nm, bl + 8, NULL, scope, NULL));
    }
    return FERRY_OK;
}

/* ============================================================================================
 * TypeProto (value infos, TYPE_PROTO attributes)
 * ========================================================================================== */

typedef struct typedesc {
    char     s[256];
    size_t   n;
    bool     truncated;
    bool     has_shape;
    ferry__pb shape;     /* TensorShapeProto of the innermost tensor type */
    bool     has_elem;
    uint64_t elem;
} typedesc;

static void td_add(typedesc *d, const char *s)
{
    size_t k = strlen(s);
    if (d->n + k >= sizeof d->s - 4) {
        d->truncated = true;
        return;
    }
    memcpy(d->s + d->n, s, k);
    d->n += k;
    d->s[d->n] = 0;
}

static const char *elem_spelling(uint64_t code, char *buf, size_t n)
{
    const struct onnx_type *ty = type_of(code);
    if (ty) return ty->lower;
    snprintf(buf, n, "undefined(%llu)", (unsigned long long)code);
    return buf;
}

/* Describes TypeProto `tr` as ONNX spells it, walking the chain of sequence / optional / map
 * value types iteratively (each step is one message deeper; the depth limit bounds it). */
static int describe_type(const ferry__pb *tr, typedesc *d)
{
    memset(d, 0, sizeof *d);
    ferry__pb cur = *tr;
    size_t closes = 0;
    char eb[32];
    for (;;) {
        ferry__pb_field f, pick = {0};
        bool found = false;
        int rc;
        ferry__pb r = cur;
        while ((rc = ferry__pb_next(&r, &f)) > 0) {
            if (f.wire == FERRY__PB_LEN &&
                (f.number == 1 || f.number == 4 || f.number == 5 || f.number == 7 ||
                 f.number == 8 || f.number == 9)) {
                pick  = f;
                found = true;
            }
        }
        FERRY_TRY(rc);
        if (!found) {
            td_add(d, "undefined");
            break;
        }
        ferry__pb sub;
        FERRY_TRY(ferry__pb_sub(&cur, &pick, &sub));
        if (pick.number == 1 || pick.number == 8) {
            // Tensor / SparseTensor: elem_type 1, shape 2.
            td_add(d, pick.number == 1 ? "tensor(" : "sparse_tensor(");
            ferry__pb s2 = sub;
            while ((rc = ferry__pb_next(&s2, &f)) > 0) {
                if (f.number == 1 && f.wire == FERRY__PB_VARINT) {
                    d->elem     = f.value;
                    d->has_elem = true;
                } else if (f.number == 2 && f.wire == FERRY__PB_LEN) {
                    FERRY_TRY(ferry__pb_sub(&s2, &f, &d->shape));
                    d->has_shape = true;
                }
            }
            FERRY_TRY(rc);
            td_add(d, elem_spelling(d->elem, eb, sizeof eb));
            closes++;
            break;
        }
        if (pick.number == 7) {
            td_add(d, "opaque");
            break;
        }
        if (pick.number == 5) {
            // Map: key_type 1 (a DataType), value_type 2 (a TypeProto).
            uint64_t key = 0;
            ferry__pb_field vt = {0};
            bool hv = false;
            ferry__pb s2 = sub;
            while ((rc = ferry__pb_next(&s2, &f)) > 0) {
                if (f.number == 1 && f.wire == FERRY__PB_VARINT) key = f.value;
                if (f.number == 2 && f.wire == FERRY__PB_LEN) vt = f, hv = true;
            }
            FERRY_TRY(rc);
            td_add(d, "map(");
            td_add(d, elem_spelling(key, eb, sizeof eb));
            td_add(d, ",");
            closes++;
            if (!hv) {
                td_add(d, "undefined");
                break;
            }
            ferry__pb next;
            FERRY_TRY(ferry__pb_sub(&sub, &vt, &next));
            cur = next;
            continue;
        }
        // Sequence (4) / Optional (9): elem_type 1 (a TypeProto).
        td_add(d, pick.number == 4 ? "seq(" : "optional(");
        closes++;
        ferry__pb_field et = {0};
        bool he = false;
        ferry__pb s2 = sub;
        while ((rc = ferry__pb_next(&s2, &f)) > 0)
            if (f.number == 1 && f.wire == FERRY__PB_LEN) et = f, he = true;
        FERRY_TRY(rc);
        if (!he) {
            td_add(d, "undefined");
            break;
        }
        ferry__pb next;
        FERRY_TRY(ferry__pb_sub(&sub, &et, &next));
        cur = next;
    }
    if (d->truncated) {
        memcpy(d->s + d->n, "...", 4);
        d->n += 3;
    } else {
        for (size_t i = 0; i < closes && d->n + 1 < sizeof d->s; i++) d->s[d->n++] = ')';
        d->s[d->n] = 0;
    }
    return FERRY_OK;
}

/* Appends the dims of TensorShapeProto `sr` to array `arr`: INT, STRING or NULL each. */
static int shape_meta(pstate *ps, const ferry__pb *sr, ferry_meta *arr)
{
    ferry__pb r = *sr;
    ferry__pb_field f;
    int rc;
    while ((rc = ferry__pb_next(&r, &f)) > 0) {
        if (f.number != 1 || f.wire != FERRY__PB_LEN) continue;
        ferry__pb dim;
        FERRY_TRY(ferry__pb_sub(&r, &f, &dim));
        ferry__pb_field df, val = {0};
        int kind = 0;
        while ((rc = ferry__pb_next(&dim, &df)) > 0) {
            if (df.number == 1 && df.wire == FERRY__PB_VARINT) val = df, kind = 1;
            if (df.number == 2 && df.wire == FERRY__PB_LEN) {
                FERRY_TRY(check_string(ps, &dim, &df));
                val  = df;
                kind = 2;
            }
        }
        FERRY_TRY(rc);
        ferry_meta *n = ferry__meta_append(ps->m, arr, NULL, 0);
        if (!n) return ps->ctx->err_code;
        if (kind == 1) ferry__meta_set_int(n, (int64_t)val.value, FERRY_DTYPE_I64);
        if (kind == 2)
            FERRY_TRY(ferry__meta_set_string(ps->m, n, (const char *)ps->base + val.off,
                                             (size_t)val.len));
    }
    return rc;
}

/* One ValueInfoProto as {name, type, elem_type, shape} appended to array `arr`. */
static int value_info(pstate *ps, const ferry__pb *vr, ferry_meta *arr)
{
    ferry__pb r = *vr;
    ferry__pb_field f, fname = {0}, ftype = {0};
    bool hn = false, ht = false;
    int rc;
    while ((rc = ferry__pb_next(&r, &f)) > 0) {
        if (f.number == 1) {
            FERRY_TRY(check_string(ps, &r, &f));
            fname = f, hn = true;
        } else if (f.number == 2) {
            FERRY_TRY(expect_wire(ps, &r, &f, FERRY__PB_LEN, "value info type"));
            ftype = f, ht = true;
        }
    }
    FERRY_TRY(rc);
    typedesc d;
    memset(&d, 0, sizeof d);
    if (ht) {
        ferry__pb t;
        FERRY_TRY(ferry__pb_sub(vr, &ftype, &t));
        FERRY_TRY(describe_type(&t, &d));
    }
    ferry_meta *e = ferry__meta_append(ps->m, arr, NULL, 0);
    if (!e) return ps->ctx->err_code;
    ferry__meta_set_map(e);
    if (hn) FERRY_TRY(meta_str(ps, e, "name", &fname));
    else FERRY_TRY(meta_cstr(ps, e, "name", "", 0));
    if (ht) FERRY_TRY(meta_cstr(ps, e, "type", d.s, d.n));
    if (d.has_elem) {
        char eb[32];
        const char *s = elem_spelling(d.elem, eb, sizeof eb);
        FERRY_TRY(meta_cstr(ps, e, "elem_type", s, strlen(s)));
    }
    if (d.has_shape) {
        ferry_meta *sh = ferry__meta_append(ps->m, e, "shape", 5);
        if (!sh) return ps->ctx->err_code;
        ferry__meta_set_array(sh, FERRY_DTYPE_UNKNOWN);
        FERRY_TRY(shape_meta(ps, &d.shape, sh));
    }
    return FERRY_OK;
}

/* ============================================================================================
 * Graphs, nodes, attributes
 * ========================================================================================== */

static int push_graph(pstate *ps, const ferry__pb *parent, const ferry__pb_field *f)
{
    ferry__pb g;
    FERRY_TRY(expect_wire(ps, parent, f, FERRY__PB_LEN, "graph"));
    FERRY_TRY(ferry__pb_sub(parent, f, &g));
    // Check the depth the graph's own fields will need before queueing it.
    if (g.depth + 1 > g.max_depth)
        return ferry__fail_at(ps->ctx, FERRY_E_LIMIT, ps->src, g.origin + f->tag_off,
                              "sub-graphs nested deeper than %u protobuf levels", g.max_depth);
    const char *name = "";
    ferry__pb r = g;
    ferry__pb_field gf;
    int rc;
    while ((rc = ferry__pb_next(&r, &gf)) > 0) {
        if (gf.number == 2 && gf.wire == FERRY__PB_LEN) {
            FERRY_TRY(check_string(ps, &r, &gf));
            name = arena_str(ps, &gf);
            if (!name) return ps->ctx->err_code;
        }
    }
    FERRY_TRY(rc);
    FERRY_TRY(grow(ps->ctx, (void **)&ps->stack, &ps->cap_stack, ps->n_stack, sizeof *ps->stack));
    graph_item *it = &ps->stack[ps->n_stack++];
    it->off   = g.pos;
    it->len   = g.end - g.pos;
    it->depth = g.depth;
    it->name  = name;
    return FERRY_OK;
}

/* The name under which a graph attribute's graph is recorded. */
static int graph_name_of(pstate *ps, const ferry__pb *parent, const ferry__pb_field *f,
                         ferry_meta *into)
{
    FERRY_TRY(push_graph(ps, parent, f));
    const char *nm = ps->stack[ps->n_stack - 1].name;
    ferry__meta_set_map(into);
    return meta_cstr(ps, into, "graph", nm, strlen(nm));
}

enum { A_UNDEF, A_FLOAT, A_INT, A_STRING, A_TENSOR, A_GRAPH, A_FLOATS, A_INTS, A_STRINGS,
       A_TENSORS, A_GRAPHS, A_SPARSE, A_SPARSES, A_TYPE, A_TYPES };

/* The attribute type a field number stores (IR 1 files have no `type`). */
static int attr_type_of_field(uint32_t n)
{
    switch (n) {
    case 2: return A_FLOAT;
    case 3: return A_INT;
    case 4: return A_STRING;
    case 5: return A_TENSOR;
    case 6: return A_GRAPH;
    case 7: return A_FLOATS;
    case 8: return A_INTS;
    case 9: return A_STRINGS;
    case 10: return A_TENSORS;
    case 11: return A_GRAPHS;
    case 14: return A_TYPE;
    case 15: return A_TYPES;
    case 22: return A_SPARSE;
    case 23: return A_SPARSES;
    default: return A_UNDEF;
    }
}

static const int attr_field[] = {
    [A_FLOAT] = 2, [A_INT] = 3, [A_STRING] = 4, [A_TENSOR] = 5, [A_GRAPH] = 6,
    [A_FLOATS] = 7, [A_INTS] = 8, [A_STRINGS] = 9, [A_TENSORS] = 10, [A_GRAPHS] = 11,
    [A_SPARSE] = 22, [A_SPARSES] = 23, [A_TYPE] = 14, [A_TYPES] = 15,
};

typedef struct node_ctx {
    const char *name;       /* node name (may be "") */
    const char *op_type;
    const char *output0;    /* first output or NULL */
    const char *scope;      /* graph name */
} node_ctx;

/* Fills `into` with one tensor-ish value of attribute kind `kind` from field f of ar. */
static int attr_one(pstate *ps, const ferry__pb *ar, const ferry__pb_field *f, int kind,
                    const node_ctx *nc, const char *aname, size_t alen, uint64_t idx,
                    ferry_meta *into)
{
    ferry__pb sub;
    FERRY_TRY(expect_wire(ps, ar, f, FERRY__PB_LEN, "attribute value"));
    FERRY_TRY(ferry__pb_sub(ar, f, &sub));
    if (kind == A_GRAPH || kind == A_GRAPHS) return graph_name_of(ps, ar, f, into);
    if (kind == A_TYPE || kind == A_TYPES) {
        typedesc d;
        FERRY_TRY(describe_type(&sub, &d));
        ferry__meta_set_map(into);
        return meta_cstr(ps, into, "type", d.s, d.n);
    }
    // Tensors: a Constant's value is named after the node's output.
    char fb[256];
    const char *ov = NULL;
    size_t ol = 0;
    if (kind == A_TENSOR && nc->output0 && nc->output0[0] && strcmp(nc->op_type, "Constant") == 0) {
        ov = nc->output0;
        ol = strlen(ov);
    }
    const char *who = nc->name[0] ? nc->name : nc->op_type;
    if (kind == A_TENSORS || kind == A_SPARSES)
        snprintf(fb, sizeof fb, "%.100s/%.*s[%llu]", who, (int)(alen > 100 ? 100 : alen), aname,
                 (unsigned long long)idx);
    else
        snprintf(fb, sizeof fb, "%.100s/%.*s", who, (int)(alen > 100 ? 100 : alen), aname);
    const char *tn = NULL;
    if (kind == A_SPARSE || kind == A_SPARSES)
        FERRY_TRY(parse_sparse(ps, &sub, fb, nc->scope, &tn));
    else
        FERRY_TRY(parse_tensor(ps, &sub, ov, ol, fb, nc->scope, &tn));
    ferry__meta_set_map(into);
    const char *key = (kind == A_SPARSE || kind == A_SPARSES) ? "sparse_tensor" : "tensor";
    return meta_cstr(ps, into, key, tn, strlen(tn));
}

static int parse_attr(pstate *ps, const ferry__pb *ar, ferry_meta *attrs, const node_ctx *nc)
{
    ferry__pb r = *ar;
    ferry__pb_field f, fname = {0};
    int kind = A_UNDEF, first_kind = A_UNDEF;
    int rc;
    while ((rc = ferry__pb_next(&r, &f)) > 0) {
        if (f.number == 1) {
            FERRY_TRY(check_string(ps, &r, &f));
            fname = f;
        } else if (f.number == 20) {
            FERRY_TRY(expect_wire(ps, &r, &f, FERRY__PB_VARINT, "attribute type"));
            kind = f.value <= A_TYPES ? (int)f.value : A_UNDEF;
        } else if (first_kind == A_UNDEF) {
            first_kind = attr_type_of_field(f.number);
        }
    }
    FERRY_TRY(rc);
    if (kind == A_UNDEF) kind = first_kind;
    const char *aname = (const char *)ps->base + fname.off;
    size_t alen = (size_t)fname.len;
    ferry_meta *n = ferry__meta_append(ps->m, attrs, aname, alen);
    if (!n) return ps->ctx->err_code;
    if (kind == A_UNDEF) return FERRY_OK; /* NULL: nothing we can type */
    int fld = attr_field[kind];
    bool plural = kind == A_FLOATS || kind == A_INTS || kind == A_STRINGS ||
                  kind == A_TENSORS || kind == A_GRAPHS || kind == A_SPARSES || kind == A_TYPES;
    if (!plural) {
        ferry__pb_field last = {0};
        bool have = false;
        r = *ar;
        while ((rc = ferry__pb_next(&r, &f)) > 0)
            if ((int)f.number == fld) last = f, have = true;
        FERRY_TRY(rc);
        if (!have) return FERRY_OK;
        switch (kind) {
        case A_FLOAT: {
            FERRY_TRY(expect_wire(ps, ar, &last, FERRY__PB_I32, "attribute f"));
            uint32_t bits = (uint32_t)last.value;
            float fv;
            memcpy(&fv, &bits, sizeof fv);
            ferry__meta_set_float(n, fv, FERRY_DTYPE_F32);
            return FERRY_OK;
        }
        case A_INT:
            FERRY_TRY(expect_wire(ps, ar, &last, FERRY__PB_VARINT, "attribute i"));
            ferry__meta_set_int(n, (int64_t)last.value, FERRY_DTYPE_I64);
            return FERRY_OK;
        case A_STRING:
            FERRY_TRY(check_string(ps, ar, &last));
            return ferry__meta_set_string(ps->m, n, (const char *)ps->base + last.off,
                                          (size_t)last.len);
        default: return attr_one(ps, ar, &last, kind, nc, aname, alen, 0, n);
        }
    }
    // Plural kinds: an array, reserved once at its element count.
    ferry_dtype et = kind == A_FLOATS ? FERRY_DTYPE_F32
                   : kind == A_INTS  ? FERRY_DTYPE_I64
                   : kind == A_STRINGS ? FERRY_DTYPE_STRING : FERRY_DTYPE_UNKNOWN;
    ferry__meta_set_array(n, et);
    uint64_t cnt = 0;
    r = *ar;
    while ((rc = ferry__pb_next(&r, &f)) > 0) {
        if ((int)f.number != fld) continue;
        if (kind == A_FLOATS) FERRY_TRY(ferry__pb_rep_count(&r, &f, FERRY__PB_I32, &cnt));
        else if (kind == A_INTS) FERRY_TRY(ferry__pb_rep_count(&r, &f, FERRY__PB_VARINT, &cnt));
        else cnt++;
    }
    FERRY_TRY(rc);
    if (cnt > SIZE_MAX / 64) return ferry__fail(ps->ctx, FERRY_E_LIMIT, "attribute too large");
    FERRY_TRY(ferry__meta_reserve(ps->m, n, (size_t)cnt));
    uint64_t idx = 0;
    r = *ar;
    while ((rc = ferry__pb_next(&r, &f)) > 0) {
        if ((int)f.number != fld) continue;
        if (kind == A_FLOATS || kind == A_INTS) {
            ferry__pb_rep it;
            ferry__pb_rep_init(&it, &r, &f, kind == A_FLOATS ? FERRY__PB_I32 : FERRY__PB_VARINT);
            uint64_t v;
            while ((rc = ferry__pb_rep_next(&it, &v)) > 0) {
                ferry_meta *e = ferry__meta_append(ps->m, n, NULL, 0);
                if (!e) return ps->ctx->err_code;
                if (kind == A_FLOATS) {
                    uint32_t bits = (uint32_t)v;
                    float fv;
                    memcpy(&fv, &bits, sizeof fv);
                    ferry__meta_set_float(e, fv, FERRY_DTYPE_F32);
                } else {
                    ferry__meta_set_int(e, (int64_t)v, FERRY_DTYPE_I64);
                }
            }
            FERRY_TRY(rc);
            continue;
        }
        ferry_meta *e = ferry__meta_append(ps->m, n, NULL, 0);
        if (!e) return ps->ctx->err_code;
        if (kind == A_STRINGS) {
            FERRY_TRY(check_string(ps, &r, &f));
            FERRY_TRY(ferry__meta_set_string(ps->m, e, (const char *)ps->base + f.off,
                                             (size_t)f.len));
        } else {
            FERRY_TRY(attr_one(ps, &r, &f, kind, nc, aname, alen, idx, e));
        }
        idx++;
    }
    return rc;
}

/* Adds string f (of cursor r) to the node scratch. */
static int scratch_add(pstate *ps, const char *p, size_t n)
{
    FERRY_TRY(grow(ps->ctx, (void **)&ps->soff, &ps->socap, ps->sn, sizeof *ps->soff));
    uint64_t need;
    if (ferry__add_overflow(ps->slen, (uint64_t)n + 1, &need) || need > SIZE_MAX / 2)
        return ferry__fail(ps->ctx, FERRY_E_LIMIT, "onnx: node strings too large");
    if (need > ps->scap) {
        size_t nc = ps->scap ? ps->scap : 256;
        while (nc < (size_t)need) nc *= 2;
        char *nb = ferry__realloc(ps->ctx, ps->sbuf, ps->scap, nc);
        if (!nb) return ps->ctx->err_code;
        ps->sbuf = nb;
        ps->scap = nc;
    }
    memcpy(ps->sbuf + ps->slen, p, n);
    ps->sbuf[ps->slen + n] = 0;
    ps->soff[ps->sn++] = ps->slen;
    ps->slen += n + 1;
    return FERRY_OK;
}

static int parse_node(pstate *ps, const ferry__pb *nr, const char *scope)
{
    ferry__pb r = *nr;
    ferry__pb_field f, fname = {0}, fop = {0}, fdom = {0};
    uint64_t n_in = 0, n_out = 0;
    int rc;
    ps->slen = 0;
    ps->sn   = 0;
    // Inputs first, then outputs, into the scratch (two passes keep them contiguous).
    for (int pass = 1; pass <= 2; pass++) {
        r = *nr;
        while ((rc = ferry__pb_next(&r, &f)) > 0) {
            if ((int)f.number != pass) continue;
            FERRY_TRY(check_string(ps, &r, &f));
            FERRY_TRY(scratch_add(ps, (const char *)ps->base + f.off, (size_t)f.len));
            if (pass == 1) n_in++;
            else n_out++;
        }
        FERRY_TRY(rc);
    }
    r = *nr;
    while ((rc = ferry__pb_next(&r, &f)) > 0) {
        if (f.number == 3 || f.number == 4 || f.number == 7) FERRY_TRY(check_string(ps, &r, &f));
        if (f.number == 3) fname = f;
        if (f.number == 4) fop = f;
        if (f.number == 7) fdom = f;
        if (f.number == 5) FERRY_TRY(expect_wire(ps, &r, &f, FERRY__PB_LEN, "attribute"));
    }
    FERRY_TRY(rc);
    FERRY_TRY(scratch_add(ps, (const char *)ps->base + fname.off, (size_t)fname.len));
    // op_type, qualified by a non-default domain.
    bool qualify = fdom.len && !(fdom.len == 7 && memcmp(ps->base + fdom.off, "ai.onnx", 7) == 0);
    if (qualify) {
        size_t n = (size_t)fdom.len + 1 + (size_t)fop.len;
        char *q = ferry__malloc(ps->ctx, n + 1);
        if (!q) return ps->ctx->err_code;
        memcpy(q, ps->base + fdom.off, (size_t)fdom.len);
        q[fdom.len] = '.';
        memcpy(q + fdom.len + 1, ps->base + fop.off, (size_t)fop.len);
        rc = scratch_add(ps, q, n);
        ferry__free(ps->ctx, q, n + 1);
        FERRY_TRY(rc);
    } else {
        FERRY_TRY(scratch_add(ps, (const char *)ps->base + fop.off, (size_t)fop.len));
    }
    size_t total = ps->sn;
    const char **pv = ferry__malloc(ps->ctx, sizeof *pv * total);
    if (!pv) return ps->ctx->err_code;
    for (size_t i = 0; i < total; i++) pv[i] = ps->sbuf + ps->soff[i];
    ferry_meta *attrs = NULL;
    rc = ferry__model_add_node(ps->m, pv[total - 2], pv[total - 1], (int64_t)n_in, pv,
                               (int64_t)n_out, pv + n_in, &attrs);
    ferry__free(ps->ctx, pv, sizeof *pv * total);
    FERRY_TRY(rc);
    // The node's own copies (arena) are what attributes name tensors after.
    const ferry__node *node = &ps->m->nodes[ps->m->n_nodes - 1];
    node_ctx nc = {node->name, node->op_type, n_out ? node->outputs[0] : NULL, scope};
    ps->node_index++;
    r = *nr;
    while ((rc = ferry__pb_next(&r, &f)) > 0) {
        if (f.number != 5) continue;
        ferry__pb ar;
        FERRY_TRY(ferry__pb_sub(&r, &f, &ar));
        FERRY_TRY(parse_attr(ps, &ar, attrs, &nc));
    }
    return rc;
}

/* Walks one GraphProto: nodes, initializers, sparse initializers; and when gmeta is given
 * (the main graph) its name, doc_string and value infos into gmeta. */
static int parse_graph(pstate *ps, const ferry__pb *gr, ferry_meta *gmeta, const char *scope)
{
    ferry_meta *m_name = NULL, *m_doc = NULL, *m_vi[3] = {NULL, NULL, NULL};
    static const char *const vi_keys[3] = {"input", "output", "value_info"};
    if (gmeta) {
        FERRY_TRY(ferry__meta_reserve(ps->m, gmeta, 5));
        m_name = ferry__meta_append(ps->m, gmeta, "name", 4);
        if (!m_name) return ps->ctx->err_code;
        FERRY_TRY(ferry__meta_set_string(ps->m, m_name, "", 0));
        m_doc = ferry__meta_append(ps->m, gmeta, "doc_string", 10);
        if (!m_doc) return ps->ctx->err_code;
        FERRY_TRY(ferry__meta_set_string(ps->m, m_doc, "", 0));
        for (int i = 0; i < 3; i++) {
            m_vi[i] = ferry__meta_append(ps->m, gmeta, vi_keys[i], strlen(vi_keys[i]));
            if (!m_vi[i]) return ps->ctx->err_code;
            ferry__meta_set_array(m_vi[i], FERRY_DTYPE_UNKNOWN);
        }
    }
    ferry__pb r = *gr;
    ferry__pb_field f;
    int rc;
    while ((rc = ferry__pb_next(&r, &f)) > 0) {
        ferry__pb sub;
        switch (f.number) {
        case 1:
            FERRY_TRY(expect_wire(ps, &r, &f, FERRY__PB_LEN, "node"));
            FERRY_TRY(ferry__pb_sub(&r, &f, &sub));
            FERRY_TRY(parse_node(ps, &sub, scope));
            break;
        case 2:
        case 10:
            FERRY_TRY(check_string(ps, &r, &f));
            if (gmeta)
                FERRY_TRY(ferry__meta_set_string(ps->m, f.number == 2 ? m_name : m_doc,
                                                 (const char *)ps->base + f.off,
                                                 (size_t)f.len));
            break;
        case 5:
            FERRY_TRY(expect_wire(ps, &r, &f, FERRY__PB_LEN, "initializer"));
            FERRY_TRY(ferry__pb_sub(&r, &f, &sub));
            FERRY_TRY(parse_tensor(ps, &sub, NULL, 0, "initializer", scope, NULL));
            if (gmeta) {
                onnx_state *st = ps->st;
                FERRY_TRY(grow(ps->ctx, (void **)&st->init_idx, &st->cap_init, st->n_init,
                               sizeof *st->init_idx));
                st->init_idx[st->n_init++] = ps->m->n_tensors - 1;
            }
            break;
        case 15:
            FERRY_TRY(expect_wire(ps, &r, &f, FERRY__PB_LEN, "sparse_initializer"));
            FERRY_TRY(ferry__pb_sub(&r, &f, &sub));
            FERRY_TRY(parse_sparse(ps, &sub, "sparse_initializer", scope, NULL));
            break;
        case 11:
        case 12:
        case 13:
            FERRY_TRY(expect_wire(ps, &r, &f, FERRY__PB_LEN, "value info"));
            if (!gmeta) break;
            FERRY_TRY(ferry__pb_sub(&r, &f, &sub));
            FERRY_TRY(value_info(ps, &sub, m_vi[f.number - 11]));
            break;
        default: break;
        }
    }
    return rc;
}

/* ============================================================================================
 * ModelProto
 * ========================================================================================== */

static int parse_model(pstate *ps, const ferry__pb *top)
{
    ferry_model *m = ps->m;
    ferry__pb r = *top;
    ferry__pb_field f, graph = {0};
    ferry__pb_field strs[7];
    bool have[7] = {false, false, false, false, false, false, false};
    bool has_graph = false, has_ir = false, has_mv = false;
    uint64_t ir = 0, mv = 0;
    size_t n_opset = 0, n_props = 0, n_funcs = 0;
    int rc;
    while ((rc = ferry__pb_next(&r, &f)) > 0) {
        switch (f.number) {
        case 1:
            FERRY_TRY(expect_wire(ps, &r, &f, FERRY__PB_VARINT, "ir_version"));
            ir = f.value, has_ir = true;
            break;
        case 2:
        case 3:
        case 4:
        case 6:
            FERRY_TRY(check_string(ps, &r, &f));
            strs[f.number] = f, have[f.number] = true;
            break;
        case 5:
            FERRY_TRY(expect_wire(ps, &r, &f, FERRY__PB_VARINT, "model_version"));
            mv = f.value, has_mv = true;
            break;
        case 7:
            FERRY_TRY(expect_wire(ps, &r, &f, FERRY__PB_LEN, "graph"));
            graph = f, has_graph = true;
            break;
        case 8:
            FERRY_TRY(expect_wire(ps, &r, &f, FERRY__PB_LEN, "opset_import"));
            n_opset++;
            break;
        case 14:
            FERRY_TRY(expect_wire(ps, &r, &f, FERRY__PB_LEN, "metadata_props"));
            n_props++;
            break;
        case 20: FERRY_TRY(expect_wire(ps, &r, &f, FERRY__PB_LEN, "training_info")); break;
        case 25:
            FERRY_TRY(expect_wire(ps, &r, &f, FERRY__PB_LEN, "functions"));
            n_funcs++;
            break;
        default: break;
        }
    }
    FERRY_TRY(rc);
    ferry_meta *root = m->meta;
    if (has_ir) {
        FERRY_TRY(meta_int(ps, root, "ir_version", (int64_t)ir));
        snprintf(m->version, sizeof m->version, "%llu", (unsigned long long)ir);
    }
    static const char *const skeys[7] = {NULL, NULL, "producer_name", "producer_version",
                                         "domain", NULL, "doc_string"};
    for (int i = 2; i <= 4; i++)
        if (have[i]) FERRY_TRY(meta_str(ps, root, skeys[i], &strs[i]));
    if (has_mv) FERRY_TRY(meta_int(ps, root, "model_version", (int64_t)mv));
    if (have[6]) FERRY_TRY(meta_str(ps, root, skeys[6], &strs[6]));
    // opset_import: [{domain, version}]
    if (n_opset) {
        ferry_meta *arr = ferry__meta_append(m, root, "opset_import", 12);
        if (!arr) return ps->ctx->err_code;
        ferry__meta_set_array(arr, FERRY_DTYPE_UNKNOWN);
        FERRY_TRY(ferry__meta_reserve(m, arr, n_opset));
        r = *top;
        while ((rc = ferry__pb_next(&r, &f)) > 0) {
            if (f.number != 8) continue;
            ferry__pb o;
            FERRY_TRY(ferry__pb_sub(&r, &f, &o));
            ferry__pb_field of, dom = {0};
            uint64_t ver = 0;
            while ((rc = ferry__pb_next(&o, &of)) > 0) {
                if (of.number == 1) {
                    FERRY_TRY(check_string(ps, &o, &of));
                    dom = of;
                } else if (of.number == 2) {
                    FERRY_TRY(expect_wire(ps, &o, &of, FERRY__PB_VARINT, "opset version"));
                    ver = of.value;
                }
            }
            FERRY_TRY(rc);
            ferry_meta *e = ferry__meta_append(m, arr, NULL, 0);
            if (!e) return ps->ctx->err_code;
            ferry__meta_set_map(e);
            FERRY_TRY(meta_cstr(ps, e, "domain", (const char *)ps->base + dom.off,
                                (size_t)dom.len));
            FERRY_TRY(meta_int(ps, e, "version", (int64_t)ver));
        }
        FERRY_TRY(rc);
    }
    // metadata_props: {key: value}
    if (n_props) {
        ferry_meta *mp = ferry__meta_append(m, root, "metadata_props", 14);
        if (!mp) return ps->ctx->err_code;
        ferry__meta_set_map(mp);
        FERRY_TRY(ferry__meta_reserve(m, mp, n_props));
        r = *top;
        while ((rc = ferry__pb_next(&r, &f)) > 0) {
            if (f.number != 14) continue;
            ferry__pb o;
            FERRY_TRY(ferry__pb_sub(&r, &f, &o));
            ferry__pb_field of, k = {0}, v = {0};
            while ((rc = ferry__pb_next(&o, &of)) > 0) {
                if (of.number == 1 || of.number == 2) FERRY_TRY(check_string(ps, &o, &of));
                if (of.number == 1) k = of;
                if (of.number == 2) v = of;
            }
            FERRY_TRY(rc);
            ferry_meta *e = ferry__meta_append(m, mp, (const char *)ps->base + k.off,
                                               (size_t)k.len);
            if (!e) return ps->ctx->err_code;
            FERRY_TRY(ferry__meta_set_string(m, e, (const char *)ps->base + v.off,
                                             (size_t)v.len));
        }
        FERRY_TRY(rc);
    }
    // functions: [{name, domain}] (bodies are not walked)
    if (n_funcs) {
        ferry_meta *arr = ferry__meta_append(m, root, "functions", 9);
        if (!arr) return ps->ctx->err_code;
        ferry__meta_set_array(arr, FERRY_DTYPE_UNKNOWN);
        FERRY_TRY(ferry__meta_reserve(m, arr, n_funcs));
        r = *top;
        while ((rc = ferry__pb_next(&r, &f)) > 0) {
            if (f.number != 25) continue;
            ferry__pb o;
            FERRY_TRY(ferry__pb_sub(&r, &f, &o));
            ferry__pb_field of, nm = {0}, dom = {0};
            while ((rc = ferry__pb_next(&o, &of)) > 0) {
                if (of.number == 1 || of.number == 10) FERRY_TRY(check_string(ps, &o, &of));
                if (of.number == 1) nm = of;
                if (of.number == 10) dom = of;
            }
            FERRY_TRY(rc);
            ferry_meta *e = ferry__meta_append(m, arr, NULL, 0);
            if (!e) return ps->ctx->err_code;
            ferry__meta_set_map(e);
            FERRY_TRY(meta_cstr(ps, e, "name", (const char *)ps->base + nm.off,
                                (size_t)nm.len));
            FERRY_TRY(meta_cstr(ps, e, "domain", (const char *)ps->base + dom.off,
                                (size_t)dom.len));
        }
        FERRY_TRY(rc);
    }
    if (!has_graph)
        return ferry__fail(ps->ctx, FERRY_E_CORRUPT, "%s: ModelProto has no graph (field 7)",
                           ferry_source_name(ps->src));
    ferry_meta *gm = ferry__meta_append(m, root, "graph", 5);
    if (!gm) return ps->ctx->err_code;
    ferry__meta_set_map(gm);
    ferry__pb g;
    FERRY_TRY(ferry__pb_sub(top, &graph, &g));
    ps->st->is_model  = true;
    ps->st->graph_off = graph.off;
    ps->st->graph_len = graph.len;
    FERRY_TRY(parse_graph(ps, &g, gm, ""));
    // training_info: initialization (1) and algorithm (2) graphs join the work list.
    r = *top;
    while ((rc = ferry__pb_next(&r, &f)) > 0) {
        if (f.number != 20) continue;
        ferry__pb ti;
        FERRY_TRY(ferry__pb_sub(&r, &f, &ti));
        ferry__pb_field tf;
        while ((rc = ferry__pb_next(&ti, &tf)) > 0)
            if (tf.number == 1 || tf.number == 2) FERRY_TRY(push_graph(ps, &ti, &tf));
        FERRY_TRY(rc);
    }
    FERRY_TRY(rc);
    // Sub-graphs, last pushed first; each may push more (depth-bounded, see push_graph).
    while (ps->n_stack) {
        graph_item it = ps->stack[--ps->n_stack];
        ferry__pb sg;
        ferry__pb_init(&sg, ps->ctx, ps->src, ps->base, top->origin, it.off, it.len,
                       top->max_depth);
        sg.depth = it.depth;
        FERRY_TRY(parse_graph(ps, &sg, NULL, it.name));
    }
    return FERRY_OK;
}

/* ============================================================================================
 * Detection
 * ========================================================================================== */

#define SIG_FIELDS 32

static bool model_signature(const uint8_t *w, uint32_t maxf)
{
    static const int8_t want[SIG_FIELDS] = {
        [0] = -1, [1] = 0, [2] = 2, [3] = 2, [4] = 2, [5] = 0, [6] = 2, [7] = 2, [8] = 2,
        [9] = -1, [10] = -1, [11] = -1, [12] = -1, [13] = -1, [14] = 2, [15] = -1, [16] = -1,
        [17] = -1, [18] = -1, [19] = -1, [20] = 2, [21] = -1, [22] = -1, [23] = -1, [24] = -1,
        [25] = 2, [26] = 2, [27] = -1, [28] = -1, [29] = -1, [30] = -1, [31] = -1};
    if (maxf >= SIG_FIELDS || w[7] != FERRY__PB_LEN) return false;
    for (uint32_t i = 0; i < SIG_FIELDS; i++)
        if (w[i] != 0xFF && w[i] != want[i]) return false;
    return true;
}

static bool tensor_signature(const uint8_t *w, uint32_t maxf)
{
    // dims must be unpacked varints (proto2, as onnx writes them; Netron's rule): a LEN
    // field 1 is the name of a SequenceProto / OptionalProto, which share fields 1-2.
    if (maxf > 16 || w[2] != FERRY__PB_VARINT || w[1] == FERRY__PB_LEN) return false;
    // field -> allowed wire types (bit mask)
    static const uint8_t ok[17] = {
        [1] = 1u << 0, [2] = 1u << 0, [3] = 1u << 2, [4] = 1u << 5 | 1u << 2,
        [5] = 1u << 0 | 1u << 2, [6] = 1u << 2, [7] = 1u << 0 | 1u << 2, [8] = 1u << 2,
        [9] = 1u << 2, [10] = 1u << 1 | 1u << 2, [11] = 1u << 0 | 1u << 2, [12] = 1u << 2,
        [13] = 1u << 2, [14] = 1u << 0, [16] = 1u << 2};
    int typed = 0;
    for (uint32_t i = 1; i <= 16; i++) {
        if (w[i] == 0xFF) continue;
        if (!(ok[i] & (1u << w[i]))) return false;
        typed += i == 4 || i == 5 || i == 6 || i == 7 || i == 10 || i == 11;
    }
    return typed <= 1;
}

static bool excluded_name(const char *name)
{
    return strcmp(name, "saved_model.pb") == 0 || strcmp(name, "predict_net.pb") == 0 ||
           strcmp(name, "init_net.pb") == 0;
}

/* The fast path of FORMATS.md section 0.5: ir_version then a short printable producer. */
static bool fast_path(const uint8_t *h, size_t n)
{
    if (n < 4 || h[0] != 0x08 || h[1] > 0x0A || h[2] != 0x12) return false;
    if (n >= 6 && h[3] == 0 && h[4] == 0x1A && h[5] == 0) return true;
    size_t len = h[3];
    if (len == 0 || len >= 64 || 4 + len > n) return false;
    for (size_t i = 0; i < len; i++)
        if (h[4 + i] < 0x20 || h[4 + i] > 0x7E) return false;
    return true;
}

/* The top-level signature of the whole file by bounded reads: one read of at most 21 bytes
 * (a tag and a length) per field, at most 256 fields, so that a ModelProto whose first 4 KiB
 * hold only a long doc_string (field 6 precedes the graph) is still recognised. */
static bool far_signature(ferry_source *src, uint64_t size, uint8_t *w, uint32_t *maxf)
{
    for (uint32_t i = 0; i < SIG_FIELDS; i++) w[i] = 0xFF;
    *maxf = 0;
    uint64_t pos = 0;
    for (int n = 0; pos < size; n++) {
        uint8_t b[21];
        size_t k = size - pos < sizeof b ? (size_t)(size - pos) : sizeof b;
        if (n >= 256 || ferry_source_read(src, pos, b, k) != 0) return false;
        uint64_t tag, v;
        int a = ferry__pb_varint(b, k, &tag);
        if (a <= 0) return false;
        uint64_t number = tag >> 3;
        unsigned wire = (unsigned)(tag & 7);
        if (number == 0 || number >= SIG_FIELDS) return false;
        int c = 0;
        uint64_t skip = 0;
        switch (wire) {
        case FERRY__PB_VARINT: c = ferry__pb_varint(b + a, k - (size_t)a, &v); break;
        case FERRY__PB_I64: c = 8; break;
        case FERRY__PB_I32: c = 4; break;
        case FERRY__PB_LEN:
            c    = ferry__pb_varint(b + a, k - (size_t)a, &v);
            skip = v;
            break;
        default: return false;
        }
        if (c <= 0) return false;
        uint64_t next = pos + (uint64_t)a + (uint64_t)c;
        if (next > size || skip > size - next) return false;
        pos = next + skip;
        w[number] = (uint8_t)wire;
        if (number > *maxf) *maxf = (uint32_t)number;
    }
    return true;
}

static int onnx_bid(const ferry__probe *p)
{
    if (p->is_dir || p->head_len == 0 || excluded_name(p->name)) return 0;
    uint8_t w[SIG_FIELDS];
    uint32_t maxf;
    bool whole = p->head_len == p->size;
    bool ok = ferry__pb_signature(p->head, p->head_len, whole, w, SIG_FIELDS, &maxf);
    if (ok && model_signature(w, maxf)) return 40;
    // Field 7 lies beyond the head: walk the top level of the whole file.
    if (ok && !whole && w[7] == 0xFF && p->src && far_signature(p->src, p->size, w, &maxf) &&
        model_signature(w, maxf))
        return 40;
    if (fast_path(p->head, p->head_len)) return 24;
    if (ok && tensor_signature(w, maxf)) return 20;
    return 0;
}

/* ============================================================================================
 * Open
 * ========================================================================================== */

/* The stem of a file name, for a TensorProto without a name ("input_0.pb" -> "input_0"). */
static void stem_of(const char *name, char *out, size_t n)
{
    const char *b = ferry__basename(name ? name : "");
    size_t k = strlen(b);
    const char *dot = strrchr(b, '.');
    if (dot && dot != b) k = (size_t)(dot - b);
    if (k == 0) {
        b = "tensor";
        k = 6;
    }
    if (k >= n) k = n - 1;
    memcpy(out, b, k);
    out[k] = 0;
}

static int onnx_open(ferry_model *m, ferry_source *src)
{
    ferry_ctx *ctx = m->ctx;
    uint64_t size = ferry_source_size(src);
    onnx_state *st = ferry__calloc(ctx, 1, sizeof *st);
    if (!st) return ctx->err_code;
    m->priv      = st;
    m->priv_free = onnx_free;
    st->base = ferry_source_map(src, 0, size);
    if (!st->base) {
        if (size > ctx->limits.header_bytes || size > SIZE_MAX)
            return ferry__fail(ctx, FERRY_E_LIMIT, "%s: %llu-byte protobuf of an unmapped "
                               "source exceeds limit header_bytes", ferry_source_name(src),
                               (unsigned long long)size);
        st->owned = ferry__malloc(ctx, size ? (size_t)size : 1);
        if (!st->owned) return ctx->err_code;
        st->owned_len = size ? (size_t)size : 1;
        FERRY_TRY(ferry_source_read(src, 0, st->owned, (size_t)size));
        st->base = st->owned;
    }
    pstate ps;
    memset(&ps, 0, sizeof ps);
    ps.m    = m;
    ps.st   = st;
    ps.ctx  = ctx;
    ps.src  = src;
    ps.base = st->base;
    ps.size = size;
    ferry__pb top;
    ferry__pb_init(&top, ctx, src, st->base, 0, 0, size, FERRY__PB_MAX_DEPTH);

    uint8_t w[SIG_FIELDS];
    uint32_t maxf;
    bool ok = ferry__pb_signature(st->base, (size_t)size, true, w, SIG_FIELDS, &maxf);
    int rc;
    if (ok && !model_signature(w, maxf) && tensor_signature(w, maxf)) {
        char stem[128];
        stem_of(m->path ? m->path : ferry_source_name(src), stem, sizeof stem);
        ferry_meta *k = ferry__meta_append(m, m->meta, "proto", 5);
        rc = k ? ferry__meta_set_string(m, k, "TensorProto", 11) : ctx->err_code;
        if (rc == 0) rc = parse_tensor(&ps, &top, NULL, 0, stem, "", NULL);
    } else {
        rc = parse_model(&ps, &top);
    }
    pstate_free(&ps);
    return rc;
}

/* ============================================================================================
 * Read slot: tensors stored in typed fields
 * ========================================================================================== */

/* Copies byte b0.. of value v (unit bytes, little-endian) into the part of [off, end) it
 * overlaps. */
static void put_value(uint8_t *out, uint64_t off, uint64_t end, uint64_t b0, uint64_t unit,
                      uint64_t v)
{
    uint8_t b[8];
    ferry__wr64le(b, v);
    for (uint64_t k = 0; k < unit; k++)
        if (b0 + k >= off && b0 + k < end) out[b0 + k - off] = b[k];
}

/*
 * Materialises bytes [off, off + len) of a tensor stored in a typed field by re-walking its
 * TensorProto. Fixed-width packed runs (float_data, double_data) are copied as they are:
 * their little-endian bytes are the output bytes. Each read leaves a resume point (the run
 * or field holding the first value past the range) in the tensor's typed_loc, and a read
 * that starts at or after it begins there, so the chunked sequential reads of the write
 * pump walk the data once in total rather than once per chunk.
 */
static int onnx_read(ferry_model *m, const ferry__tensor *t, uint64_t off, void *dst, size_t len)
{
    const onnx_state *st = m->priv;
    typed_loc *tl = t->priv;
    if (!st || !tl)
        return ferry__fail(m->ctx, FERRY_E_NOTPLAIN, "tensor \"%s\" has no readable data",
                           t->name);
    ferry__pb r;
    ferry__pb_init(&r, m->ctx, m->src, st->base, 0, tl->off, tl->len, FERRY__PB_MAX_DEPTH);
    const uint64_t unit = tl->unit, end = off + len;
    const int ew = elem_wire_of(tl->field);
    const uint64_t width = ew == FERRY__PB_I32 ? 4 : ew == FERRY__PB_I64 ? 8 : 0;
    uint8_t *out = dst;
    uint64_t idx = 0, tag_off = 0;
    ferry__pb_rep it;
    bool in_run = false, packed = false;
    if (tl->rs_valid && tl->rs_idx * unit <= off) {
        idx = tl->rs_idx;
        if (tl->rs_end) {
            memset(&it, 0, sizeof it);
            it.r         = &r;
            it.pos       = tl->rs_pos;
            it.end       = tl->rs_end;
            it.elem_wire = (uint8_t)ew;
            it.number    = tl->field;
            in_run = packed = true;
            r.pos  = tl->rs_end;
        } else {
            r.pos = tl->rs_pos;
        }
    }
    ferry__pb_field f;
    int rc = 0;
    for (;;) {
        if (!in_run) {
            rc = ferry__pb_next(&r, &f);
            if (rc <= 0) break;
            if (f.number != tl->field) continue;
            if (f.wire == FERRY__PB_LEN && width) {
                uint64_t b0 = idx * unit, b1 = b0 + f.len;
                if (b1 > off && b0 < end) {
                    uint64_t lo = b0 > off ? b0 : off, hi = b1 < end ? b1 : end;
                    memcpy(out + (lo - off), st->base + f.off + (lo - b0), (size_t)(hi - lo));
                }
                if (b1 >= end) {
                    tl->rs_pos   = f.tag_off;
                    tl->rs_end   = 0;
                    tl->rs_idx   = idx;
                    tl->rs_valid = true;
                    return FERRY_OK;
                }
                idx += f.len / width;
                continue;
            }
            ferry__pb_rep_init(&it, &r, &f, ew);
            tag_off = f.tag_off;
            packed  = f.wire == FERRY__PB_LEN;
            in_run  = true;
        }
        uint64_t v;
        for (;;) {
            uint64_t before = it.pos;
            int k = ferry__pb_rep_next(&it, &v);
            if (k < 0) return k;
            if (k == 0) break;
            uint64_t b0 = idx * unit;
            if (b0 >= end) {
                tl->rs_pos   = packed ? before : tag_off;
                tl->rs_end   = packed ? it.end : 0;
                tl->rs_idx   = idx;
                tl->rs_valid = true;
                return FERRY_OK;
            }
            idx++;
            if (b0 + unit <= off) continue;
            put_value(out, off, end, b0, unit, tl->is_bool ? v != 0 : v);
        }
        in_run = false;
    }
    FERRY_TRY(rc);
    if (idx * unit < end)
        return ferry__fail(m->ctx, FERRY_E_CORRUPT, "tensor \"%s\": typed data ended early",
                           t->name);
    return FERRY_OK;
}

/* ============================================================================================
 * Writer
 * ========================================================================================== */

extern const ferry_format_ops ferry__format_onnx;

/* The protobuf size limit: ONNX files above it need external data (FORMATS.md section 0.2). */
#define ONNX_MAX_FILE ((uint64_t)2 << 30)

static uint64_t onnx_code(ferry_dtype dt)
{
    for (uint64_t c = 1; c < FERRY_ARRAY_LEN(onnx_types); c++)
        if (onnx_types[c].dt == dt) return c;
    return 0;
}

static bool onnx_can_write(ferry_dtype dt)
{
    return dt != FERRY_DTYPE_STRING && onnx_code(dt) != 0;
}

/* Fields of an original TensorProto that a rewritten one keeps (name, doc_string,
 * metadata_props, unknown fields): everything but shape, type and data. */
static bool kept_field(uint32_t n)
{
    return !(n <= 7 || n == 9 || n == 10 || n == 11 || n == 13 || n == 14);
}

typedef struct wstate {
    ferry__wplan  *plan;
    ferry_sink    *sink;
    const uint8_t *base;     /* original bytes (ONNX sources) */
    int64_t       *rev;      /* source tensor index -> plan index, or -1 */
} wstate;

/* Size of the TensorProto payload for plan tensor pi; `orig` (may be NULL) is the original
 * TensorProto whose kept fields are carried over. */
static int tensor_size(const wstate *w, int64_t pi, const ferry__pb *orig, uint64_t *out)
{
    const ferry__wtensor *t = &w->plan->t[pi];
    uint64_t n = 0, k;
    for (int32_t d = 0; d < t->ndim; d++)
        n += ferry__pb_size_tag(1) + ferry__pb_size_varint((uint64_t)t->shape[d]);
    n += ferry__pb_size_tag(2) + ferry__pb_size_varint(onnx_code(t->dtype));
    if (orig) {
        ferry__pb r = *orig;
        ferry__pb_field f;
        int rc;
        while ((rc = ferry__pb_next(&r, &f)) > 0)
            if (kept_field(f.number)) n += r.pos - f.tag_off;
        FERRY_TRY(rc);
    } else {
        FERRY_TRY(ferry__pb_size_len_field(8, strlen(t->name), &k) ? 0 : FERRY_E_LIMIT);
        n += k;
    }
    if (!ferry__pb_size_len_field(9, t->nbytes, &k) || ferry__add_overflow(n, k, out))
        return ferry__fail(w->plan->ctx, FERRY_E_LIMIT, "%s: tensor \"%s\" too large",
                           w->plan->out_name, t->name);
    return FERRY_OK;
}

static int tensor_emit(const wstate *w, int64_t pi, const ferry__pb *orig)
{
    const ferry__wtensor *t = &w->plan->t[pi];
    ferry_sink *s = w->sink;
    for (int32_t d = 0; d < t->ndim; d++) FERRY_TRY(ferry__pbw_uint(s, 1, (uint64_t)t->shape[d]));
    FERRY_TRY(ferry__pbw_uint(s, 2, onnx_code(t->dtype)));
    if (orig) {
        ferry__pb r = *orig;
        ferry__pb_field f;
        int rc;
        while ((rc = ferry__pb_next(&r, &f)) > 0)
            if (kept_field(f.number))
                FERRY_TRY(ferry_sink_write(s, w->base + f.tag_off, (size_t)(r.pos - f.tag_off)));
        FERRY_TRY(rc);
    } else {
        FERRY_TRY(ferry__pbw_bytes(s, 8, t->name, strlen(t->name)));
    }
    FERRY_TRY(ferry__pbw_len_header(s, 9, t->nbytes));
    return ferry__wplan_write_tensor(w->plan, pi, s);
}

/* For initializer field f (the k-th of the main graph): the plan tensor that replaces it,
 * or -1 when its original bytes are copied (not in the plan, or unchanged and inline). */
static int64_t replacement(const wstate *w, const onnx_state *st, size_t k)
{
    if (k >= st->n_init) return -1;
    int64_t ti = st->init_idx[k];
    int64_t pi = w->rev[ti];
    if (pi < 0) return -1;
    const ferry_model *m = w->plan->src;
    const ferry__tensor *t = &m->tensors[ti];
    bool external = t->src && t->src != m->src;
    if (w->plan->t[pi].dtype == t->dtype && !external) return -1;
    return pi;
}

/* Walks the original main graph: pass 0 sizes it, pass 1 writes it. */
static int graph_pass(const wstate *w, const onnx_state *st, int pass, uint64_t *size)
{
    ferry__wplan *plan = w->plan;
    ferry__pb g;
    ferry__pb_init(&g, plan->ctx, plan->src->src, st->base, 0, st->graph_off, st->graph_len,
                   FERRY__PB_MAX_DEPTH);
    ferry__pb_field f;
    size_t k = 0;
    uint64_t n = 0;
    int rc;
    while ((rc = ferry__pb_next(&g, &f)) > 0) {
        uint64_t span = g.pos - f.tag_off;
        int64_t pi = -1;
        if (f.number == 5 && f.wire == FERRY__PB_LEN) pi = replacement(w, st, k++);
        if (pi < 0) {
            if (pass) FERRY_TRY(ferry_sink_write(w->sink, st->base + f.tag_off, (size_t)span));
            n += span;
            continue;
        }
        ferry__pb orig;
        FERRY_TRY(ferry__pb_sub(&g, &f, &orig));
        uint64_t ts, fs;
        FERRY_TRY(tensor_size(w, pi, &orig, &ts));
        if (!ferry__pb_size_len_field(5, ts, &fs))
            return ferry__fail(plan->ctx, FERRY_E_LIMIT, "%s: graph too large", plan->out_name);
        n += fs;
        if (pass) {
            FERRY_TRY(ferry__pbw_len_header(w->sink, 5, ts));
            FERRY_TRY(tensor_emit(w, pi, &orig));
        }
    }
    FERRY_TRY(rc);
    *size = n;
    return FERRY_OK;
}

static int check_size(const ferry__wplan *plan, uint64_t total)
{
    if (total > ONNX_MAX_FILE)
        return ferry__fail(plan->ctx, FERRY_E_LIMIT, "%s: the ONNX file would be %llu bytes, "
                           "above protobuf's 2 GiB; external data is not written yet",
                           plan->out_name, (unsigned long long)total);
    return FERRY_OK;
}

/* Re-serialises an ONNX source: its bytes verbatim, the main graph's initializers replaced
 * where the plan changed them (dtype, external data brought inline). */
static int write_from_onnx(wstate *w, const onnx_state *st)
{
    ferry__wplan *plan = w->plan;
    const ferry_model *m = plan->src;
    uint64_t gsize, total = 0;
    FERRY_TRY(graph_pass(w, st, 0, &gsize));
    ferry__pb top;
    ferry__pb_init(&top, plan->ctx, m->src, st->base, 0, 0, ferry_source_size(m->src),
                   FERRY__PB_MAX_DEPTH);
    for (int pass = 0; pass < 2; pass++) {
        ferry__pb r = top;
        ferry__pb_field f;
        int rc;
        while ((rc = ferry__pb_next(&r, &f)) > 0) {
            uint64_t span = r.pos - f.tag_off;
            bool is_graph = f.number == 7 && f.wire == FERRY__PB_LEN && f.off == st->graph_off;
            if (!is_graph) {
                if (pass) FERRY_TRY(ferry_sink_write(w->sink, st->base + f.tag_off, (size_t)span));
                else total += span;
                continue;
            }
            if (!pass) {
                uint64_t fs;
                if (!ferry__pb_size_len_field(7, gsize, &fs)) return FERRY_E_LIMIT;
                total += fs;
                continue;
            }
            FERRY_TRY(ferry__pbw_len_header(w->sink, 7, gsize));
            uint64_t again;
            FERRY_TRY(graph_pass(w, st, 1, &again));
        }
        FERRY_TRY(rc);
        if (!pass) FERRY_TRY(check_size(plan, total));
    }
    return FERRY_OK;
}

/* A new ModelProto for any other source: the plan's tensors as initializers of an empty
 * graph (a weights container), top-level string metadata as metadata_props. */
static int write_new(wstate *w)
{
    ferry__wplan *plan = w->plan;
    ferry_sink *s = w->sink;
    static const char graph_name[] = "ferry";
    uint64_t gsize = 0, ts, fs, total = 0;
    for (int64_t i = 0; i < plan->n; i++) {
        FERRY_TRY(tensor_size(w, i, NULL, &ts));
        if (!ferry__pb_size_len_field(5, ts, &fs) || ferry__add_overflow(gsize, fs, &gsize))
            return ferry__fail(plan->ctx, FERRY_E_LIMIT, "%s: graph too large", plan->out_name);
    }
    gsize += ferry__pb_size_tag(2) + 1 + sizeof graph_name - 1;
    if (!ferry__pb_size_len_field(7, gsize, &total)) return FERRY_E_LIMIT;
    FERRY_TRY(check_size(plan, total));
    FERRY_TRY(ferry__pbw_uint(s, 1, 8));
    FERRY_TRY(ferry__pbw_bytes(s, 2, "ferry", 5));
    FERRY_TRY(ferry__pbw_bytes(s, 3, FERRY_VERSION_STRING, strlen(FERRY_VERSION_STRING)));
    FERRY_TRY(ferry__pbw_len_header(s, 7, gsize));
    for (int64_t i = 0; i < plan->n; i++) {
        FERRY_TRY(tensor_size(w, i, NULL, &ts));
        FERRY_TRY(ferry__pbw_len_header(s, 5, ts));
        FERRY_TRY(tensor_emit(w, i, NULL));
    }
    FERRY_TRY(ferry__pbw_bytes(s, 2, graph_name, sizeof graph_name - 1));
    // opset_import {domain "", version 17}: IR 8 covers opsets up to 18.
    FERRY_TRY(ferry__pbw_len_header(s, 8, 4));
    FERRY_TRY(ferry__pbw_bytes(s, 1, "", 0));
    FERRY_TRY(ferry__pbw_uint(s, 2, 17));
    const ferry_meta *root = plan->src->meta;
    for (size_t i = 0; root && i < root->v.c.n; i++) {
        const ferry_meta *v = &root->v.c.items[i];
        if (v->kind != FERRY_META_STRING) continue;
        const char *key = root->v.c.keys[i];
        uint64_t kl = strlen(key), e1, e2;
        if (!ferry__pb_size_len_field(1, kl, &e1) || !ferry__pb_size_len_field(2, v->v.s.n, &e2))
            return FERRY_E_LIMIT;
        FERRY_TRY(ferry__pbw_len_header(s, 14, e1 + e2));
        FERRY_TRY(ferry__pbw_bytes(s, 1, key, (size_t)kl));
        FERRY_TRY(ferry__pbw_bytes(s, 2, v->v.s.p, v->v.s.n));
    }
    return FERRY_OK;
}

static int onnx_write(ferry__wplan *plan, ferry_sink *sink)
{
    ferry_model *m = plan->src;
    wstate w = {plan, sink, NULL, NULL};
    const onnx_state *st = m->fmt == &ferry__format_onnx ? m->priv : NULL;
    if (!st || !st->is_model || !m->src) return write_new(&w);
    w.base = st->base;
    size_t n = (size_t)(m->n_tensors ? m->n_tensors : 1);
    w.rev = ferry__malloc(plan->ctx, sizeof *w.rev * n);
    if (!w.rev) return plan->ctx->err_code;
    for (int64_t i = 0; i < m->n_tensors; i++) w.rev[i] = -1;
    for (int64_t i = 0; i < plan->n; i++) w.rev[plan->t[i].src_index] = i;
    int rc = write_from_onnx(&w, st);
    ferry__free(plan->ctx, w.rev, sizeof *w.rev * n);
    return rc;
}

/* ============================================================================================
 * The format table
 * ========================================================================================== */

const ferry_format_ops ferry__format_onnx = {
    .name        = "onnx",
    .description = "ONNX ModelProto (external data included) and TensorProto test data",
    .extensions  = ".onnx",
    .caps        = FERRY_CAP_READ | FERRY_CAP_WRITE | FERRY_CAP_GRAPH | FERRY_CAP_MULTI_FILE,
    .bid         = onnx_bid,
    .open        = onnx_open,
    .read        = onnx_read,
    .can_write   = onnx_can_write,
    .write       = onnx_write,
};
