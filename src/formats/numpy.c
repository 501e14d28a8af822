/*
 * numpy.c -- NumPy .npy (format 1.0, 2.0, 3.0) and .npz (a zip of .npy members): readers
 * and writers. Two format tables: ferry__format_npy and ferry__format_npz.
 *
 * Spec: FORMATS.md §7; numpy/lib/format.py (_read_array_header, _write_array_header,
 * _wrap_header, read_array) and numpy/lib/npyio.py (NpzFile) are the reference behaviour;
 * SECURITY.md C10/C11 (object arrays hold pickles), Z01-Z03 (zips).
 *
 * Reading a .npy
 *   magic "\x93NUMPY", version (1,0) / (2,0) / (3,0) exactly (like numpy's _check_version;
 *   a major above 3 is FERRY_E_UNSUPPORTED, anything else FERRY_E_CORRUPT), a u16 (v1) or
 *   u32 (v2/v3) header length, then the header: a Python dict literal parsed by
 *   src/parse/pylit (latin-1 with Python 2 'L' suffixes for v1/v2, UTF-8 for v3). As in
 *   numpy the keys must be exactly descr, fortran_order and shape (a repeated key: the last
 *   one wins, as in a Python dict), shape a tuple of non-negative ints (bools refused),
 *   fortran_order True/False. The header length is capped by limits.header_bytes, not by
 *   numpy's 10000 characters (numpy itself lifts that cap for trusted files).
 *   descr strings: [<>|=]?kind size as dtype.str writes them: b1, i1-i8, u1-u8, f2/f4/f8,
 *   c8/c16, S<n> (BYTES_FIXED, itemsize n), U<n> (UCS4_FIXED, itemsize 4n), V<n>
 *   (OPAQUE), O (object), M8[unit]/m8[unit] (DATETIME64/TIMEDELTA64; the unit stays in
 *   native_dtype). Long doubles (f12/f16, c24/c32) and V<n> are listed with their itemsize
 *   and status NOT_PLAIN. Structured descrs (lists of (name, descr[, shape]) tuples, nested)
 *   are sized without recursion (pylit's nodes are in pre-order, so evaluating them from
 *   last to first sees children first) and listed NOT_PLAIN with the descr text as
 *   native_dtype.
 *   Object arrays (descr O, or a structured descr with an O field) hold a pickle after the
 *   header: the tensor is listed NOT_PLAIN with file_offset at the pickle, nbytes 0, a
 *   metadata note "object array: holds a pickle; not read"; the pickle is never parsed.
 *   Data: shape x itemsize bytes right after the header; fewer is FERRY_E_CORRUPT, more is
 *   accepted as numpy does (np.load reads only what the shape needs) with a warning.
 *   Layout: little-endian C-order data is zero-copy. Big-endian data is byte-swapped and
 *   Fortran-order data transposed to C order in the read slot (random access, no whole-array
 *   buffer), flag FERRY_TENSOR_CONVERTED. Fortran order with at most one axis longer than 1
 *   is the same bytes as C order and stays zero-copy.
 *   Tensor name: the file's base name without ".npy" ("array" for unnamed memory sources).
 *
 * Reading a .npz
 *   Through src/parse/zip (central directory, CRC-32 of deflated members checked). Members
 *   named "<key>.npy" become tensors "<key>"; a member with another name that starts with the
 *   npy magic is an array named after the member (numpy's NpzFile does the same); other
 *   members and directories are skipped with a warning. Duplicate member names are refused:
 *   numpy would read the last copy and PyTorch-style readers the first, so any answer is
 *   wrong for someone. Stored members are zero-copy sub-ranges (their CRC is not checked:
 *   that would read the whole file at open). Deflated members: only the header is inflated
 *   at open; the data is inflated on first read, one member at a time (the model keeps at
 *   most one inflated member), so memory stays bounded by the largest member.
 *
 * Writing
 *   .npy: exactly one tensor, header byte-identical to np.save (numpy 1.24): keys sorted,
 *   Python reprs, 21 - len(repr(shape[0])) growth spaces, padded with spaces to a multiple
 *   of 64 ending in '\n' (a full 64 spaces when already aligned, as _wrap_header does),
 *   version 1.0 unless the header exceeds 65535 bytes (then 2.0; 3.0 is never needed because
 *   writable descrs are ASCII). Several tensors: an error suggesting .npz.
 *   .npz: stored members "<name>.npy" like np.savez, written with data descriptors; a local
 *   "FB" extra pads each member so that its array data (after the npy header) starts at a
 *   multiple of options.alignment (default 64) in the file (numpy ignores the extra field).
 *   Writable dtypes: BOOL, integers, F16, F32, F64, C64, C128, BYTES_FIXED, UCS4_FIXED, and
 *   DATETIME64/TIMEDELTA64 when native_dtype names the unit ("<M8[ns]"); the core converts
 *   BF16/FP8 and others to F32 with a notice.
 */
#include "internal.h"
#include "parse/pylit.h"
#include "parse/zip.h"

#include <stdio.h>

/* ============================================================================================
 * Constants (numpy/lib/format.py)
 * ========================================================================================== */

static const uint8_t NPY_MAGIC[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};
#define NPY_ALIGN       64 /* ARRAY_ALIGN */
#define NPY_GROWTH      21 /* GROWTH_AXIS_MAX_DIGITS */
#define NPY_V1_MAX_HDR  65535u

/* ============================================================================================
 * dtype strings
 * ========================================================================================== */

typedef struct npy_type {
    ferry_dtype dtype;
    uint64_t    itemsize; /* bytes per element */
    uint8_t     swap;     /* width of the units to byte-swap (0: none) */
    bool        plain;    /* a plain tensor */
    bool        object;   /* holds Python objects: the data is a pickle */
} npy_type;

static bool host_little(void)
{
    const uint16_t one = 1;
    uint8_t b;
    memcpy(&b, &one, 1);
    return b == 1;
}

static bool parse_uint(const char *s, size_t n, uint64_t *v)
{
    if (n == 0 || n > 12) return false;
    *v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return false;
        *v = *v * 10 + (uint64_t)(s[i] - '0');
    }
    return true;
}

/* A datetime unit "[<count>]<unit>" between brackets, as numpy accepts them. */
static bool valid_unit(const char *s, size_t n)
{
    static const char *const units[] = {"Y", "M", "W", "D", "h", "m", "s", "ms", "us",
                                        "\xce\xbcs", "ns", "ps", "fs", "as", "generic"};
    size_t i = 0;
    while (i < n && s[i] >= '0' && s[i] <= '9') i++;
    for (size_t k = 0; k < FERRY_ARRAY_LEN(units); k++)
        if (strlen(units[k]) == n - i && memcmp(units[k], s + i, n - i) == 0) return true;
    return false;
}

/* Parses a dtype.str-style descr. Returns false if it is not one ferry recognises. */
static bool parse_descr(const char *s, size_t n, npy_type *t)
{
    memset(t, 0, sizeof *t);
    bool big = !host_little();
    size_t i = 0;
    if (n && (s[0] == '<' || s[0] == '>' || s[0] == '|' || s[0] == '=')) {
        if (s[0] == '<') big = false;
        if (s[0] == '>') big = true;
        i = 1;
    }
    if (i >= n) return false;
    char kind = s[i++];
    /* Digits, then an optional "[unit]" for datetimes. */
    size_t d0 = i;
    while (i < n && s[i] >= '0' && s[i] <= '9') i++;
    uint64_t size = 0;
    bool has_size = parse_uint(s + d0, i - d0, &size);
    if (i - d0 && !has_size) return false;
    if (i < n && ((kind != 'M' && kind != 'm') || s[i] != '[' || s[n - 1] != ']' ||
                  n - i < 3 || !valid_unit(s + i + 1, n - i - 2)))
        return false;
    switch (kind) {
    case 'b':
        if (size != 1) return false;
        t->dtype = FERRY_DTYPE_BOOL;
        break;
    case 'i':
    case 'u': {
        static const ferry_dtype si[] = {FERRY_DTYPE_I8, FERRY_DTYPE_I16, 0, FERRY_DTYPE_I32,
                                         0, 0, 0, FERRY_DTYPE_I64};
        static const ferry_dtype ui[] = {FERRY_DTYPE_U8, FERRY_DTYPE_U16, 0, FERRY_DTYPE_U32,
                                         0, 0, 0, FERRY_DTYPE_U64};
        if (!has_size || size < 1 || size > 8 || !si[size - 1]) return false;
        t->dtype = kind == 'i' ? si[size - 1] : ui[size - 1];
        break;
    }
    case 'f':
        if (size == 2) t->dtype = FERRY_DTYPE_F16;
        else if (size == 4) t->dtype = FERRY_DTYPE_F32;
        else if (size == 8) t->dtype = FERRY_DTYPE_F64;
        else if (size == 12 || size == 16) t->dtype = FERRY_DTYPE_OPAQUE; /* long double */
        else return false;
        break;
    case 'c':
        if (size == 8) t->dtype = FERRY_DTYPE_C64;
        else if (size == 16) t->dtype = FERRY_DTYPE_C128;
        else if (size == 24 || size == 32) t->dtype = FERRY_DTYPE_OPAQUE; /* long double */
        else return false;
        break;
    case 'S':
    case 'a':
        if (!has_size) return false;
        t->dtype = FERRY_DTYPE_BYTES_FIXED;
        break;
    case 'U':
        if (!has_size) return false;
        t->dtype = FERRY_DTYPE_UCS4_FIXED;
        size *= 4;
        break;
    case 'V':
        if (!has_size) return false;
        t->dtype = FERRY_DTYPE_OPAQUE;
        break;
    case 'O':
        if (has_size && size != 4 && size != 8) return false;
        t->dtype  = FERRY_DTYPE_OPAQUE;
        t->object = true;
        size      = 8;
        break;
    case 'M':
    case 'm':
        if (size != 8) return false;
        t->dtype = kind == 'M' ? FERRY_DTYPE_DATETIME64 : FERRY_DTYPE_TIMEDELTA64;
        break;
    default:
        return false;
    }
    if (size > UINT32_MAX) return false;
    t->itemsize = size;
    t->plain    = t->dtype != FERRY_DTYPE_OPAQUE;
    if (big && t->plain && size > 1) {
        if (t->dtype == FERRY_DTYPE_C64 || t->dtype == FERRY_DTYPE_C128)
            t->swap = (uint8_t)(size / 2);
        else if (t->dtype == FERRY_DTYPE_UCS4_FIXED)
            t->swap = 4;
        else if (t->dtype != FERRY_DTYPE_BYTES_FIXED)
            t->swap = (uint8_t)size;
    }
    return true;
}

/* ============================================================================================
 * Structured descrs
 * ========================================================================================== */

/* What each literal node means under each reading a structured descr gives it. */
typedef struct sattr {
    uint64_t size;     /* as a descr (STR or LIST) or as a field (TUPLE): bytes */
    uint64_t prod;     /* as a subarray shape (INT or TUPLE of INTs): element count */
    bool     descr_ok; /* STR: a known descr; LIST: a list of valid fields */
    bool     field_ok; /* TUPLE: (name, descr[, shape]) */
    bool     shape_ok;
    bool     object;
    int32_t  bad;      /* the node that made this one invalid (for messages), or -1 */
} sattr;

static bool valid_name(const ferry__py_doc *d, const ferry__py_node *n)
{
    if (n->kind == FERRY__PY_STR) return true;
    if (n->kind != FERRY__PY_TUPLE || n->n != 2) return false; /* (title, name) */
    const ferry__py_node *a = &d->nodes[n->first], *b = &d->nodes[a->next];
    return b->kind == FERRY__PY_STR && (a->kind == FERRY__PY_STR || a->kind == FERRY__PY_NONE);
}

/*
 * Evaluates the structured descr rooted at node `root` (a LIST) of doc: its itemsize and
 * whether it holds objects. Returns 0, or the index of a node that is not valid (>0) with
 * *overflow set when sizes overflow, or -1 on allocation failure.
 */
static int32_t struct_size(ferry_ctx *ctx, const ferry__py_doc *d, int32_t root,
                           uint64_t *size, bool *object)
{
    sattr *a = ferry__calloc(ctx, d->n, sizeof *a);
    if (!a) return -1;
    for (int32_t k = (int32_t)d->n - 1; k >= root; k--) {
        const ferry__py_node *nd = &d->nodes[k];
        sattr *s = &a[k];
        s->bad = k;
        switch (nd->kind) {
        case FERRY__PY_STR: {
            npy_type t;
            if (parse_descr(ferry__py_str(d, nd), nd->str_len, &t)) {
                s->descr_ok = true;
                s->size     = t.itemsize;
                s->object   = t.object;
                s->bad      = -1;
            }
            break;
        }
        case FERRY__PY_INT:
            if (nd->i >= 0) {
                s->shape_ok = true;
                s->prod     = (uint64_t)nd->i;
                s->bad      = -1;
            }
            break;
        case FERRY__PY_LIST: {
            bool ok = true;
            uint64_t sum = 0;
            for (int32_t c = nd->first; c >= 0 && ok; c = d->nodes[c].next) {
                if (!a[c].field_ok || ferry__add_overflow(sum, a[c].size, &sum)) {
                    ok     = false;
                    s->bad = a[c].bad >= 0 ? a[c].bad : c;
                }
                s->object = s->object || a[c].object;
            }
            if (ok) {
                s->descr_ok = true;
                s->size     = sum;
                s->bad      = -1;
            }
            break;
        }
        case FERRY__PY_TUPLE: {
            /* As a shape: a tuple of non-negative ints. */
            bool shape = true;
            uint64_t prod = 1;
            for (int32_t c = nd->first; c >= 0; c = d->nodes[c].next)
                if (d->nodes[c].kind != FERRY__PY_INT || !a[c].shape_ok ||
                    ferry__mul_overflow(prod, a[c].prod, &prod))
                    shape = false;
            s->shape_ok = shape;
            s->prod     = prod;
            /* As a field: (name, descr) or (name, descr, shape). */
            if (nd->n == 2 || nd->n == 3) {
                int32_t c0 = nd->first, c1 = d->nodes[c0].next;
                int32_t c2 = nd->n == 3 ? d->nodes[c1].next : -1;
                uint64_t fs;
                if (!valid_name(d, &d->nodes[c0])) {
                    s->bad = c0;
                } else if (!a[c1].descr_ok) {
                    s->bad = a[c1].bad >= 0 ? a[c1].bad : c1;
                } else if (c2 >= 0 && !a[c2].shape_ok) {
                    s->bad = c2;
                } else if (ferry__mul_overflow(a[c1].size, c2 >= 0 ? a[c2].prod : 1, &fs)) {
                    s->bad = k;
                } else {
                    s->field_ok = true;
                    s->size     = fs;
                    s->object   = a[c1].object;
                    s->bad      = -1;
                }
            }
            if (shape && !s->field_ok) s->bad = -1;
            break;
        }
        default:
            break;
        }
    }
    int32_t bad = a[root].descr_ok ? 0 : (a[root].bad > 0 ? a[root].bad : root);
    *size   = a[root].size;
    *object = a[root].object;
    ferry__free(ctx, a, 0);
    return bad;
}

/* ============================================================================================
 * The .npy header
 * ========================================================================================== */

typedef struct npy_info {
    uint8_t  major;
    uint8_t  minor;
    uint64_t data_off;  /* from the start of the npy bytes */
    npy_type type;
    bool     fortran;   /* column-major with at least two axes longer than 1 */
    int32_t  ndim;
    int64_t *shape;     /* ferry__malloc'd (NULL when ndim == 0) */
    uint64_t nelems;
    uint64_t nbytes;    /* data bytes (0 for object arrays) */
    char    *native;    /* ferry__malloc'd descr text, UTF-8 */
    size_t   native_len;
} npy_info;

static void info_free(ferry_ctx *ctx, npy_info *in)
{
    ferry__free(ctx, in->shape, 0);
    ferry__free(ctx, in->native, 0);
    in->shape  = NULL;
    in->native = NULL;
}

/* Gives the first n bytes of an npy stream. */
typedef int (*fetch_fn)(void *ud, void *dst, size_t n);

static int fetch_source(void *ud, void *dst, size_t n)
{
    return ferry_source_read((ferry_source *)ud, 0, dst, n);
}

typedef struct member_ref {
    ferry__zip *zip;
    int64_t     i;
} member_ref;

static int fetch_member(void *ud, void *dst, size_t n)
{
    const member_ref *r = ud;
    return ferry__zip_entry_prefix(r->zip, r->i, dst, n);
}

static const char *kind_name(uint8_t k)
{
    static const char *const names[] = {"None", "bool", "int", "str", "bytes",
                                        "tuple", "list", "dict"};
    return k < FERRY_ARRAY_LEN(names) ? names[k] : "value";
}

/* Copies text[0,n) as UTF-8 into a new allocation (latin-1 bytes are widened). */
static char *to_utf8(ferry_ctx *ctx, const char *text, size_t n, bool latin1, size_t *len)
{
    char *o = ferry__malloc(ctx, 2 * n + 1);
    if (!o) return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t c = (uint8_t)text[i];
        if (latin1 && c >= 0x80) {
            o[k++] = (char)(0xC0 | c >> 6);
            o[k++] = (char)(0x80 | (c & 0x3F));
        } else {
            o[k++] = (char)c;
        }
    }
    o[k] = 0;
    *len = k;
    return o;
}

/* Checks the parsed header dict and fills `in`. hs is the header's offset in the stream. */
static int check_header(ferry_ctx *ctx, const char *where, uint64_t hs, const char *text,
                        const ferry__py_doc *d, bool latin1, npy_info *in)
{
    const ferry__py_node *root = &d->nodes[0];
    if (root->kind != FERRY__PY_DICT)
        return ferry__fail(ctx, FERRY_E_CORRUPT, "%s: offset %llu: header is a %s, expected a "
                           "dict", where, (unsigned long long)(hs + root->off),
                           kind_name(root->kind));
    int32_t kdescr = -1, korder = -1, kshape = -1;
    for (int32_t k = root->first; k >= 0; k = d->nodes[d->nodes[k].next].next) {
        const ferry__py_node *key = &d->nodes[k];
        int32_t v = key->next;
        if (ferry__py_is_str(d, key, "descr")) kdescr = v;
        else if (ferry__py_is_str(d, key, "fortran_order")) korder = v;
        else if (ferry__py_is_str(d, key, "shape")) kshape = v;
        else
            return ferry__fail(ctx, FERRY_E_CORRUPT, "%s: offset %llu: unexpected header key "
                               "%.*s, expected only 'descr', 'fortran_order' and 'shape'",
                               where, (unsigned long long)(hs + key->off),
                               (int)((key->end - key->off) > 60 ? 60 : key->end - key->off),
                               text + key->off);
    }
    const char *missing = kdescr < 0 ? "descr" : korder < 0 ? "fortran_order"
                                   : kshape < 0 ? "shape" : NULL;
    if (missing)
        return ferry__fail(ctx, FERRY_E_CORRUPT, "%s: header: missing key '%s'", where, missing);

    const ferry__py_node *fo = &d->nodes[korder];
    if (fo->kind != FERRY__PY_BOOL)
        return ferry__fail(ctx, FERRY_E_CORRUPT, "%s: offset %llu: fortran_order is a %s, "
                           "expected True or False", where, (unsigned long long)(hs + fo->off),
                           kind_name(fo->kind));

    const ferry__py_node *sh = &d->nodes[kshape];
    if (sh->kind != FERRY__PY_TUPLE)
        return ferry__fail(ctx, FERRY_E_CORRUPT, "%s: offset %llu: shape is a %s, expected a "
                           "tuple of integers", where, (unsigned long long)(hs + sh->off),
                           kind_name(sh->kind));
    if (sh->n > ctx->limits.dims)
        return ferry__fail(ctx, FERRY_E_LIMIT, "%s: offset %llu: shape has %u dimensions "
                           "(limit dims = %u)", where, (unsigned long long)(hs + sh->off),
                           sh->n, ctx->limits.dims);
    in->ndim = (int32_t)sh->n;
    if (in->ndim) {
        in->shape = ferry__malloc(ctx, sizeof(int64_t) * (size_t)in->ndim);
        if (!in->shape) return ctx->err_code;
    }
    uint64_t nel = 1;
    int32_t long_axes = 0, i = 0;
    for (int32_t c = sh->first; c >= 0; c = d->nodes[c].next, i++) {
        const ferry__py_node *dim = &d->nodes[c];
        if (dim->kind != FERRY__PY_INT)
            return ferry__fail(ctx, FERRY_E_CORRUPT, "%s: offset %llu: shape dimension %d is "
                               "a %s, expected an integer", where,
                               (unsigned long long)(hs + dim->off), (int)i,
                               kind_name(dim->kind));
        if (dim->i < 0)
            return ferry__fail(ctx, FERRY_E_CORRUPT, "%s: offset %llu: shape dimension %d is "
                               "%lld, expected a non-negative size", where,
                               (unsigned long long)(hs + dim->off), (int)i, (long long)dim->i);
        in->shape[i] = dim->i;
        if (dim->i > 1) long_axes++;
        if (ferry__mul_overflow(nel, (uint64_t)dim->i, &nel) || nel > (uint64_t)INT64_MAX)
            return ferry__fail(ctx, FERRY_E_CORRUPT, "%s: offset %llu: shape has more than "
                               "2^63 elements", where, (unsigned long long)(hs + sh->off));
    }
    in->nelems  = nel;
    in->fortran = fo->i && long_axes >= 2;

    const ferry__py_node *ds = &d->nodes[kdescr];
    if (ds->kind == FERRY__PY_STR) {
        if (!parse_descr(ferry__py_str(d, ds), ds->str_len, &in->type))
            return ferry__fail(ctx, FERRY_E_CORRUPT, "%s: offset %llu: descr '%.*s' is not a "
                               "NumPy dtype string ferry recognises", where,
                               (unsigned long long)(hs + ds->off),
                               (int)(ds->str_len > 60 ? 60 : ds->str_len),
                               ferry__py_str(d, ds));
        in->native = to_utf8(ctx, ferry__py_str(d, ds), ds->str_len, false, &in->native_len);
    } else if (ds->kind == FERRY__PY_LIST) {
        uint64_t size = 0;
        bool object = false;
        int32_t bad = struct_size(ctx, d, kdescr, &size, &object);
        if (bad < 0) return ctx->err_code;
        if (bad > 0 || size > UINT32_MAX)
            return ferry__fail(ctx, FERRY_E_CORRUPT, "%s: offset %llu: %s", where,
                               (unsigned long long)(hs + d->nodes[bad > 0 ? bad : kdescr].off),
                               bad > 0 ? "invalid structured descr: expected fields "
                                         "(name, descr[, shape]) with known descrs"
                                       : "structured dtype larger than 4 GiB per element");
        in->type.dtype    = FERRY_DTYPE_OPAQUE;
        in->type.itemsize = size;
        in->type.object   = object;
        in->native = to_utf8(ctx, text + ds->off, ds->end - ds->off, latin1, &in->native_len);
    } else {
        return ferry__fail(ctx, FERRY_E_CORRUPT, "%s: offset %llu: descr is a %s, expected a "
                           "dtype string or a list of fields", where,
                           (unsigned long long)(hs + ds->off), kind_name(ds->kind));
    }
    if (!in->native) return ctx->err_code;
    if (!in->type.object &&
        ferry__mul_overflow(in->nelems, in->type.itemsize, &in->nbytes))
        return ferry__fail(ctx, FERRY_E_CORRUPT, "%s: offset %llu: shape x itemsize %llu "
                           "overflows 64 bits", where, (unsigned long long)(hs + sh->off),
                           (unsigned long long)in->type.itemsize);
    return FERRY_OK;
}

/*
 * Parses the npy stream of `total` bytes whose first bytes `fetch` gives. `where` names it in
 * messages. On success *in is filled (free with info_free) and the data is known to fit.
 */
static int parse_npy(ferry_ctx *ctx, const char *where, fetch_fn fetch, void *ud,
                     uint64_t total, npy_info *in)
{
    memset(in, 0, sizeof *in);
    uint8_t pre[12];
    size_t have = total < sizeof pre ? (size_t)total : sizeof pre;
    FERRY_TRY(fetch(ud, pre, have));
    if (have < 8 || memcmp(pre, NPY_MAGIC, sizeof NPY_MAGIC) != 0) {
        char found[32] = "";
        for (size_t k = 0; k < have && k < 6; k++)
            snprintf(found + 3 * k, sizeof found - 3 * k, "%02x ", pre[k]);
        return ferry__fail(ctx, FERRY_E_CORRUPT, "%s: offset 0: found %s(%llu bytes), "
                           "expected the NumPy magic 93 4e 55 4d 50 59 and a version", where,
                           found, (unsigned long long)total);
    }
    in->major = pre[6];
    in->minor = pre[7];
    if (in->minor != 0 || in->major < 1 || in->major > 3)
        return ferry__fail(ctx, in->major > 3 ? FERRY_E_UNSUPPORTED : FERRY_E_CORRUPT,
                           "%s: offset 6: format version %u.%u, expected 1.0, 2.0 or 3.0",
                           where, in->major, in->minor);
    size_t hs = in->major == 1 ? 10 : 12;
    if (have < hs)
        return ferry__fail(ctx, FERRY_E_CORRUPT, "%s: offset 8: the file ends inside the "
                           "header length field (%llu bytes)", where,
                           (unsigned long long)total);
    uint64_t hlen = in->major == 1 ? ferry__rd16le(pre + 8) : ferry__rd32le(pre + 8);
    if (hlen > ctx->limits.header_bytes)
        return ferry__fail(ctx, FERRY_E_LIMIT, "%s: offset 8: header of %llu bytes (limit "
                           "header_bytes = %llu)", where, (unsigned long long)hlen,
                           (unsigned long long)ctx->limits.header_bytes);
    if (hlen > total - hs)
        return ferry__fail(ctx, FERRY_E_CORRUPT, "%s: offset 8: header length %llu runs past "
                           "the end (%llu bytes follow the length field)", where,
                           (unsigned long long)hlen, (unsigned long long)(total - hs));
    uint8_t *buf = ferry__malloc(ctx, hs + (size_t)hlen + 1);
    if (!buf) return ctx->err_code;
    int rc = fetch(ud, buf, hs + (size_t)hlen);
    bool latin1 = in->major < 3;
    ferry__py_doc doc;
    memset(&doc, 0, sizeof doc);
    if (rc == 0)
        rc = ferry__py_parse(ctx, where, hs, (const char *)buf + hs, (size_t)hlen,
                             latin1 ? FERRY__PY_LATIN1 | FERRY__PY_LONG_SUFFIX : 0, &doc);
    if (rc == 0) rc = check_header(ctx, where, hs, (const char *)buf + hs, &doc, latin1, in);
    ferry__py_free(&doc);
    ferry__free(ctx, buf, 0);
    if (rc == 0) {
        in->data_off = hs + hlen;
        uint64_t avail = total - in->data_off;
        FERRY_TESTCASE(in->nbytes == avail);
        if (!in->type.object && in->nbytes > avail)
            rc = ferry__fail(ctx, FERRY_E_CORRUPT, "%s: offset %llu: array data needs %llu "
                             "bytes (%llu elements of %llu bytes), only %llu follow the "
                             "header", where, (unsigned long long)in->data_off,
                             (unsigned long long)in->nbytes, (unsigned long long)in->nelems,
                             (unsigned long long)in->type.itemsize,
                             (unsigned long long)avail);
        else if (!in->type.object && in->nbytes < avail)
            ferry__log(ctx, 1, "%s: %llu bytes after the array data are ignored (numpy "
                       "ignores them too)", where, (unsigned long long)(avail - in->nbytes));
    }
    if (rc) info_free(ctx, in);
    return rc;
}

/* ============================================================================================
 * Building tensors
 * ========================================================================================== */

/* Per-tensor state for the read slot. */
typedef struct npy_tpriv {
    int64_t  member;   /* npz: deflated zip entry holding the npy stream, or -1 (use t->src) */
    uint64_t data_off; /* member: offset of the data in the inflated stream */
    uint64_t elem;     /* bytes per element */
    uint8_t  swap;     /* byte-swap unit (0: none) */
    bool     fortran;  /* transposed on read */
} npy_tpriv;

/* Model-level state of an npz: the archive and the one inflated member kept. */
typedef struct npz_state {
    ferry__zip   *zip;
    int64_t       cur;
    ferry_source *cur_src;
} npz_state;

static void npz_free(ferry_model *m)
{
    npz_state *st = m->priv;
    if (!st) return;
    ferry_source_close(st->cur_src);
    ferry__zip_close(st->zip);
    ferry__free(m->ctx, st, sizeof *st);
    m->priv = NULL;
}

/* Records "<tensor>: <text>" under the root metadata key "notes". */
static int add_note(ferry_model *m, const char *tensor, const char *text)
{
    ferry_meta *root = m->meta, *notes = NULL;
    for (size_t k = 0; k < root->v.c.n; k++)
        if (strcmp(root->v.c.keys[k], "notes") == 0) notes = &root->v.c.items[k];
    if (!notes) {
        notes = ferry__meta_append(m, root, "notes", 5);
        if (!notes) return m->ctx->err_code;
        ferry__meta_set_map(notes);
    }
    ferry_meta *n = ferry__meta_append(m, notes, tensor, strlen(tensor));
    if (!n) return m->ctx->err_code;
    return ferry__meta_set_string(m, n, text, strlen(text));
}

static int add_tensor(ferry_model *m, const char *name, size_t name_len, const npy_info *in,
                      ferry_source *src, uint64_t src_off, int64_t member)
{
    bool strings = in->type.dtype == FERRY_DTYPE_BYTES_FIXED ||
                   in->type.dtype == FERRY_DTYPE_UCS4_FIXED;
    ferry__tensor *t = ferry__model_add_tensor(m, name, name_len, in->type.dtype, in->ndim,
                                               in->shape,
                                               strings ? (uint32_t)in->type.itemsize : 0);
    if (!t) return m->ctx->err_code;
    npy_tpriv *p = ferry__arena_alloc(&m->arena, sizeof *p);
    t->native_dtype = ferry__arena_strndup(&m->arena, in->native, in->native_len);
    if (!p || !t->native_dtype) return m->ctx->err_code;
    p->member   = member;
    p->data_off = member >= 0 ? in->data_off : 0;
    p->elem     = in->type.itemsize;
    p->swap     = in->type.swap;
    p->fortran  = in->fortran;
    t->priv     = p;
    if (strings || in->type.dtype == FERRY_DTYPE_OPAQUE)
        t->itemsize = (uint32_t)in->type.itemsize;
    t->offset   = src_off + in->data_off;
    t->src      = ferry__source_ref(src);
    if (t->status == FERRY_TENSOR_PLAIN && FERRY_NEVER(t->nbytes != in->nbytes))
        return ferry__fail(m->ctx, FERRY_E_CORRUPT, "tensor \"%s\": size mismatch", t->name);
    if (!in->type.plain || in->type.object) {
        t->status = FERRY_TENSOR_NOT_PLAIN;
        t->nbytes = in->type.object ? 0 : in->nbytes;
    }
    if (in->type.object) {
        ferry__log(m->ctx, 0, "tensor \"%s\": object array: holds a pickle; not read", t->name);
        FERRY_TRY(add_note(m, t->name, "object array: holds a pickle; not read"));
    }
    if (t->status == FERRY_TENSOR_PLAIN) {
        if (p->swap || p->fortran)
            t->flags |= FERRY_TENSOR_CONVERTED;
        else if (member < 0 && src)
            t->flags |= FERRY_TENSOR_ZERO_COPY;
    }
    return FERRY_OK;
}

/* ============================================================================================
 * Reading tensor bytes (the read slot)
 * ========================================================================================== */

/* The source and offset that hold tensor t's stored bytes (inflating its member if needed). */
static int data_source(ferry_model *m, const ferry__tensor *t, ferry_source **src,
                       uint64_t *base)
{
    const npy_tpriv *p = t->priv;
    if (p->member < 0) {
        *src  = t->src;
        *base = t->offset;
        return *src ? FERRY_OK
                    : ferry__fail(m->ctx, FERRY_E_NOTPLAIN, "tensor \"%s\" has no data",
                                  t->name);
    }
    npz_state *st = m->priv;
    if (st->cur != p->member) {
        ferry_source_close(st->cur_src);
        st->cur_src = NULL;
        st->cur     = -1;
        FERRY_TRY(ferry__zip_entry_source(st->zip, p->member, &st->cur_src));
        st->cur = p->member;
    }
    *src  = st->cur_src;
    *base = p->data_off;
    return FERRY_OK;
}

/* Copies the stored bytes for neutral bytes [off, off+len) to dst: directly for C order,
 * element by element through the transposition for Fortran order. No byte swapping. */
static int fetch_range(ferry_ctx *ctx, const ferry__tensor *t, const npy_tpriv *p,
                       ferry_source *src, uint64_t base, uint64_t off, uint8_t *dst,
                       size_t len)
{
    if (!p->fortran) return ferry_source_read(src, base + off, dst, len);
    if (len == 0) return FERRY_OK;
    int32_t nd = t->ndim;
    uint64_t *idx = ferry__malloc(ctx, sizeof(uint64_t) * 2 * (size_t)nd);
    if (!idx) return ctx->err_code;
    uint64_t *fs = idx + nd; /* Fortran strides in elements: axis 0 varies fastest */
    fs[0] = 1;
    for (int32_t k = 1; k < nd; k++) fs[k] = fs[k - 1] * (uint64_t)t->shape[k - 1];
    const uint64_t E = p->elem;
    uint64_t rem = off / E, in = off % E, f = 0;
    for (int32_t k = nd - 1; k >= 0; k--) {
        idx[k] = rem % (uint64_t)t->shape[k];
        rem /= (uint64_t)t->shape[k];
        f += idx[k] * fs[k];
    }
    const uint8_t *map = ferry_source_map(src, base, t->nbytes);
    int rc = FERRY_OK;
    while (len && rc == 0) {
        size_t k = E - in < len ? (size_t)(E - in) : len;
        if (map)
            memcpy(dst, map + f * E + in, k);
        else
            rc = ferry_source_read(src, base + f * E + in, dst, k);
        dst += k;
        len -= k;
        in = 0;
        /* Next element in C order: the last axis varies fastest. */
        for (int32_t a = nd - 1; a >= 0; a--) {
            idx[a]++;
            f += fs[a];
            if (idx[a] < (uint64_t)t->shape[a]) break;
            f -= idx[a] * fs[a];
            idx[a] = 0;
        }
    }
    ferry__free(ctx, idx, 0);
    return rc;
}

static int np_read(ferry_model *m, const ferry__tensor *t, uint64_t off, void *dst, size_t len)
{
    const npy_tpriv *p = t->priv;
    ferry_source *src;
    uint64_t base;
    FERRY_TRY(data_source(m, t, &src, &base));
    uint8_t *o = dst;
    size_t w = p->swap;
    if (w <= 1) return fetch_range(m->ctx, t, p, src, base, off, o, len);
    /* Byte-swap whole units: a partial unit at either end goes through a small buffer. */
    uint8_t tmp[16];
    size_t head = (size_t)(off % w);
    if (head) {
        FERRY_TRY(fetch_range(m->ctx, t, p, src, base, off - head, tmp, w));
        ferry__byteswap(tmp, w, 1);
        size_t k = w - head < len ? w - head : len;
        memcpy(o, tmp + head, k);
        o += k;
        off += k;
        len -= k;
    }
    size_t mid = len - len % w;
    if (mid) {
        FERRY_TRY(fetch_range(m->ctx, t, p, src, base, off, o, mid));
        ferry__byteswap(o, w, mid / w);
        o += mid;
        off += mid;
        len -= mid;
    }
    if (len) {
        FERRY_TRY(fetch_range(m->ctx, t, p, src, base, off, tmp, w));
        ferry__byteswap(tmp, w, 1);
        memcpy(o, tmp, len);
    }
    return FERRY_OK;
}

/* ============================================================================================
 * Opening
 * ========================================================================================== */

static bool ends_with_npy(const char *s, size_t n)
{
    return n >= 4 && memcmp(s + n - 4, ".npy", 4) == 0;
}

static int npy_open(ferry_model *m, ferry_source *src)
{
    ferry_ctx *ctx = m->ctx;
    const char *where = m->path ? m->path : ferry_source_name(src);
    npy_info in;
    FERRY_TRY(parse_npy(ctx, where, fetch_source, src, ferry_source_size(src), &in));
    /* Tensor name: the file's stem; "array" when the source has no name. */
    const char *base = ferry__basename(where);
    size_t bl = strlen(base);
    if (bl >= 4 && ferry__has_extension(base, ".npy")) bl -= 4;
    if (bl == 0 || strcmp(base, "(memory)") == 0) {
        base = "array";
        bl   = 5;
    }
    int rc = add_tensor(m, base, bl, &in, src, 0, -1);
    if (rc == 0) snprintf(m->version, sizeof m->version, "%u.%u", in.major, in.minor);
    info_free(ctx, &in);
    return rc;
}

static int npz_open(ferry_model *m, ferry_source *src)
{
    ferry_ctx *ctx = m->ctx;
    npz_state *st = ferry__calloc(ctx, 1, sizeof *st);
    if (!st) return ctx->err_code;
    st->cur      = -1;
    m->priv      = st;
    m->priv_free = npz_free;
    FERRY_TRY(ferry__zip_open(ctx, src, NULL, &st->zip));
    ferry__zip *z = st->zip;
    const char *arch = m->path ? m->path : ferry_source_name(src);
    for (int64_t i = 0; i < ferry__zip_count(z); i++) {
        const ferry__zip_entry *e = ferry__zip_entry_at(z, i);
        if (e->name_len && e->name[e->name_len - 1] == '/' && e->usize == 0) continue;
        if (e->anomalies & FERRY__ZIP_A_DUPLICATE)
            return ferry__fail_at(ctx, FERRY_E_CORRUPT, src, e->cd_offset,
                                  "member \"%s\" appears more than once; numpy would read the "
                                  "last copy, other zip readers the first", e->name);
        bool npy = ends_with_npy(e->name, e->name_len);
        member_ref ref = {z, i};
        if (!npy) {
            /* numpy loads any member that starts with the magic; others are raw bytes. */
            uint8_t magic[6];
            if (e->usize < sizeof magic ||
                ferry__zip_entry_prefix(z, i, magic, sizeof magic) != 0 ||
                memcmp(magic, NPY_MAGIC, sizeof magic) != 0) {
                ferry_ctx_clear_error(ctx);
                ferry__log(ctx, 1, "%s: member \"%s\" is not a .npy array; skipped", arch,
                           e->name);
                continue;
            }
            char alt[FERRY__ZIP_WALK_NAME + 8];
            if (e->name_len < FERRY__ZIP_WALK_NAME) {
                snprintf(alt, sizeof alt, "%s.npy", e->name);
                if (ferry__zip_find(z, alt, e->name_len + 4) >= 0)
                    return ferry__fail_at(ctx, FERRY_E_CORRUPT, src, e->cd_offset,
                                          "members \"%s\" and \"%s\" both name array \"%s\"",
                                          e->name, alt, e->name);
            }
        }
        size_t nlen = npy ? e->name_len - 4 : e->name_len;
        char where[700];
        snprintf(where, sizeof where, "%s: %s", arch, e->name);
        npy_info in;
        int rc;
        if (e->method == 0) {
            ferry_source *ms;
            FERRY_TRY(ferry__zip_entry_source(z, i, &ms));
            rc = parse_npy(ctx, where, fetch_source, ms, ferry_source_size(ms), &in);
            if (rc == 0) {
                rc = add_tensor(m, e->name, nlen, &in, ms, 0, -1);
                info_free(ctx, &in);
            }
            ferry_source_close(ms);
        } else {
            rc = parse_npy(ctx, where, fetch_member, &ref, e->usize, &in);
            if (rc == 0) {
                rc = add_tensor(m, e->name, nlen, &in, NULL, 0, i);
                info_free(ctx, &in);
            }
        }
        FERRY_TRY(rc);
    }
    return FERRY_OK;
}

/* ============================================================================================
 * Detection
 * ========================================================================================== */

static int npy_bid(const ferry__probe *p)
{
    if (p->head_len < 8 || memcmp(p->head, NPY_MAGIC, sizeof NPY_MAGIC) != 0) return 0;
    /* 48 bits of magic; 8 more when the version is one numpy writes. */
    return p->head[6] >= 1 && p->head[6] <= 3 && p->head[7] == 0 ? 56 : 48;
}

typedef struct bid_state {
    bool all_npy;
} bid_state;

static int bid_entry(void *ud, const ferry__zip_walk_entry *e)
{
    bid_state *b = ud;
    if (e->name_len >= FERRY__ZIP_WALK_NAME || !ends_with_npy(e->name, e->name_len)) {
        b->all_npy = false;
        return 1;
    }
    return 0;
}

static int npz_bid(const ferry__probe *p)
{
    /* A zip (local header or an empty archive's end record first) whose entries are all
     * *.npy: numpy writes nothing else. Archives with prefix data open with format "npz". */
    if (!p->src || p->head_len < 4 || p->head[0] != 'P' || p->head[1] != 'K' ||
        !((p->head[2] == 3 && p->head[3] == 4) || (p->head[2] == 5 && p->head[3] == 6)))
        return 0;
    bid_state b = {true};
    int64_t n = ferry__zip_walk(p->src, 4096, bid_entry, &b);
    if (n < 0) return 0;
    if (n == 0) return ferry__has_extension(p->name, ".npz") ? 16 : 0;
    return b.all_npy ? 40 : 0;
}

/* ============================================================================================
 * Writing
 * ========================================================================================== */

static bool np_can_write(ferry_dtype dt)
{
    switch (dt) {
    case FERRY_DTYPE_BOOL:
    case FERRY_DTYPE_U8: case FERRY_DTYPE_I8: case FERRY_DTYPE_U16: case FERRY_DTYPE_I16:
    case FERRY_DTYPE_U32: case FERRY_DTYPE_I32: case FERRY_DTYPE_U64: case FERRY_DTYPE_I64:
    case FERRY_DTYPE_F16: case FERRY_DTYPE_F32: case FERRY_DTYPE_F64:
    case FERRY_DTYPE_C64: case FERRY_DTYPE_C128:
    case FERRY_DTYPE_BYTES_FIXED: case FERRY_DTYPE_UCS4_FIXED:
    case FERRY_DTYPE_DATETIME64: case FERRY_DTYPE_TIMEDELTA64:
        return true;
    default:
        return false;
    }
}

/* The datetime unit of a native dtype ("<M8[ns]", "M8", "datetime64[s]"), or NULL. */
static const char *datetime_unit(const char *native, char kind, size_t *len)
{
    if (!native) return NULL;
    const char *s = native;
    const char *word = kind == 'M' ? "datetime64" : "timedelta64";
    if (*s == '<' || *s == '>' || *s == '|' || *s == '=') s++;
    if (s[0] == kind && s[1] == '8') s += 2;
    else if (strncmp(s, word, strlen(word)) == 0) s += strlen(word);
    else return NULL;
    if (*s == 0) {
        *len = 0;
        return s;
    }
    size_t n = strlen(s);
    if (s[0] != '[' || s[n - 1] != ']' || n < 3 || n > 24) return NULL;
    for (size_t i = 1; i + 1 < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'z') ||
              (s[i] >= 'A' && s[i] <= 'Z')))
            return NULL;
    if (!valid_unit(s + 1, n - 2)) return NULL;
    *len = n;
    return s;
}

/* The descr numpy's dtype.str gives for an output tensor. */
static int descr_of(ferry__wplan *plan, const ferry__wtensor *w, char *buf, size_t cap)
{
    const char *simple = NULL;
    switch (w->dtype) {
    case FERRY_DTYPE_BOOL: simple = "|b1"; break;
    case FERRY_DTYPE_U8: simple = "|u1"; break;
    case FERRY_DTYPE_I8: simple = "|i1"; break;
    case FERRY_DTYPE_U16: simple = "<u2"; break;
    case FERRY_DTYPE_I16: simple = "<i2"; break;
    case FERRY_DTYPE_U32: simple = "<u4"; break;
    case FERRY_DTYPE_I32: simple = "<i4"; break;
    case FERRY_DTYPE_U64: simple = "<u8"; break;
    case FERRY_DTYPE_I64: simple = "<i8"; break;
    case FERRY_DTYPE_F16: simple = "<f2"; break;
    case FERRY_DTYPE_F32: simple = "<f4"; break;
    case FERRY_DTYPE_F64: simple = "<f8"; break;
    case FERRY_DTYPE_C64: simple = "<c8"; break;
    case FERRY_DTYPE_C128: simple = "<c16"; break;
    case FERRY_DTYPE_BYTES_FIXED:
        snprintf(buf, cap, "|S%u", w->itemsize);
        return FERRY_OK;
    case FERRY_DTYPE_UCS4_FIXED:
        snprintf(buf, cap, "<U%u", w->itemsize / 4);
        return FERRY_OK;
    case FERRY_DTYPE_DATETIME64:
    case FERRY_DTYPE_TIMEDELTA64: {
        char kind = w->dtype == FERRY_DTYPE_DATETIME64 ? 'M' : 'm';
        size_t ul = 0;
        const char *u = datetime_unit(w->native_dtype, kind, &ul);
        if (!u)
            return ferry__fail(plan->ctx, FERRY_E_DTYPE, "%s: tensor \"%s\": %s needs a NumPy "
                               "unit such as \"<%c8[ns]\" (native dtype \"%s\")",
                               plan->out_name, w->name, ferry_dtype_name(w->dtype), kind,
                               w->native_dtype ? w->native_dtype : "");
        snprintf(buf, cap, "<%c8%.*s", kind, (int)ul, u);
        return FERRY_OK;
    }
    default:
        return ferry__fail(plan->ctx, FERRY_E_DTYPE, "%s: tensor \"%s\": NumPy cannot store %s",
                           plan->out_name, w->name, ferry_dtype_name(w->dtype));
    }
    snprintf(buf, cap, "%s", simple);
    return FERRY_OK;
}

/*
 * Builds the complete header (magic through the final '\n') of w exactly as np.save does
 * (numpy/lib/format.py _write_array_header and _wrap_header). *out is ferry__malloc'd.
 */
static int build_header(ferry__wplan *plan, const ferry__wtensor *w, uint8_t **out,
                        size_t *out_len)
{
    ferry_ctx *ctx = plan->ctx;
    char descr[48];
    FERRY_TRY(descr_of(plan, w, descr, sizeof descr));
    size_t cap = 160 + 24 * (size_t)w->ndim + NPY_GROWTH + NPY_ALIGN;
    uint8_t *buf = ferry__malloc(ctx, cap);
    if (!buf) return ctx->err_code;
    char *h = (char *)buf + 12; /* room for the longest prefix; moved down for v1 */
    size_t n = 0, room = cap - 12;
    n += (size_t)snprintf(h + n, room - n, "{'descr': '%s', 'fortran_order': False, 'shape': (",
                          descr);
    for (int32_t i = 0; i < w->ndim; i++)
        n += (size_t)snprintf(h + n, room - n, i ? ", %lld" : "%lld", (long long)w->shape[i]);
    n += (size_t)snprintf(h + n, room - n, "%s), }", w->ndim == 1 ? "," : "");
    if (w->ndim > 0) {
        char d0[24];
        int dl = snprintf(d0, sizeof d0, "%lld", (long long)w->shape[0]);
        for (int k = dl; k < NPY_GROWTH; k++) h[n++] = ' ';
    }
    size_t hlen = n + 1; /* with the final '\n' */
    size_t pre = 10;
    size_t pad = NPY_ALIGN - (pre + hlen) % NPY_ALIGN;
    if (hlen + pad > NPY_V1_MAX_HDR) {
        pre = 12;
        pad = NPY_ALIGN - (pre + hlen) % NPY_ALIGN;
    }
    FERRY_TESTCASE(pad == NPY_ALIGN); /* already aligned: numpy still adds 64 spaces */
    memset(h + n, ' ', pad);
    h[n + pad] = '\n';
    size_t total_hdr = hlen + pad;
    if (pre == 10) memmove(buf + 10, h, total_hdr);
    memcpy(buf, NPY_MAGIC, sizeof NPY_MAGIC);
    buf[6] = pre == 10 ? 1 : 2;
    buf[7] = 0;
    if (pre == 10)
        ferry__wr16le(buf + 8, (uint16_t)total_hdr);
    else
        ferry__wr32le(buf + 8, (uint32_t)total_hdr);
    *out     = buf;
    *out_len = pre + total_hdr;
    return FERRY_OK;
}

static int npy_write(ferry__wplan *plan, ferry_sink *sink)
{
    if (plan->n != 1)
        return ferry__fail(plan->ctx, FERRY_E_UNSUPPORTED,
                           "%s: a .npy file holds exactly one array, the model has %lld "
                           "writable tensors; write a .npz instead", plan->out_name,
                           (long long)plan->n);
    uint8_t *hdr;
    size_t hl;
    FERRY_TRY(build_header(plan, &plan->t[0], &hdr, &hl));
    int rc = ferry_sink_write(sink, hdr, hl);
    ferry__free(plan->ctx, hdr, 0);
    FERRY_TRY(rc);
    return ferry__wplan_write_tensor(plan, 0, sink);
}

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return h;
}

/* Refuses duplicate output names (the archive would hold ambiguous members). */
static int check_unique(ferry__wplan *plan)
{
    uint64_t cap = 16;
    while (cap < (uint64_t)plan->n * 2) cap *= 2;
    int64_t *slot = ferry__malloc(plan->ctx, sizeof(int64_t) * (size_t)cap);
    if (!slot) return plan->ctx->err_code;
    for (uint64_t k = 0; k < cap; k++) slot[k] = -1;
    int rc = FERRY_OK;
    for (int64_t i = 0; i < plan->n && rc == 0; i++) {
        uint64_t h = hash_str(plan->t[i].name) & (cap - 1);
        while (slot[h] >= 0 && rc == 0) {
            if (strcmp(plan->t[slot[h]].name, plan->t[i].name) == 0)
                rc = ferry__fail(plan->ctx, FERRY_E_ARG, "%s: two tensors are named \"%s\"",
                                 plan->out_name, plan->t[i].name);
            h = (h + 1) & (cap - 1);
        }
        slot[h] = i;
    }
    ferry__free(plan->ctx, slot, 0);
    return rc;
}

static int npz_write(ferry__wplan *plan, ferry_sink *sink)
{
    ferry_ctx *ctx = plan->ctx;
    uint32_t align = plan->opt && plan->opt->alignment ? plan->opt->alignment : NPY_ALIGN;
    if (align > 4096 || (align & (align - 1)))
        return ferry__fail(ctx, FERRY_E_ARG, "%s: alignment %u: expected a power of two up to "
                           "4096", plan->out_name, align);
    FERRY_TRY(check_unique(plan));
    ferry__zip_writer *zw;
    FERRY_TRY(ferry__zip_writer_new(ctx, sink, 0, &zw));
    int rc = FERRY_OK;
    for (int64_t i = 0; i < plan->n && rc == 0; i++) {
        const ferry__wtensor *w = &plan->t[i];
        uint8_t *hdr = NULL;
        size_t hl = 0, nl = strlen(w->name);
        char *member = ferry__malloc(ctx, nl + 5);
        rc = member ? build_header(plan, w, &hdr, &hl) : ctx->err_code;
        uint64_t usize;
        if (rc == 0 && ferry__add_overflow(hl, w->nbytes, &usize))
            rc = ferry__fail(ctx, FERRY_E_LIMIT, "tensor \"%s\" is too large", w->name);
        if (rc == 0) {
            memcpy(member, w->name, nl);
            memcpy(member + nl, ".npy", 5);
            rc = ferry__zip_writer_begin_at(zw, member, nl + 4, 0, usize, align, hl);
        }
        if (rc == 0) rc = ferry__zip_writer_write(zw, hdr, hl);
        if (rc == 0) rc = ferry__zip_writer_put_tensor(zw, plan, i);
        if (rc == 0) rc = ferry__zip_writer_end(zw);
        ferry__free(ctx, hdr, 0);
        ferry__free(ctx, member, 0);
    }
    if (rc == 0) rc = ferry__zip_writer_finish(zw);
    ferry__zip_writer_free(zw);
    return rc;
}

/* ============================================================================================
 * Format tables
 * ========================================================================================== */

const ferry_format_ops ferry__format_npy = {
    .name        = "npy",
    .description = "NumPy array (.npy, format 1.0-3.0)",
    .extensions  = ".npy",
    .caps        = FERRY_CAP_READ | FERRY_CAP_WRITE | FERRY_CAP_MAY_HOLD_CODE,
    .bid         = npy_bid,
    .open        = npy_open,
    .read        = np_read,
    .can_write   = np_can_write,
    .write       = npy_write,
};

const ferry_format_ops ferry__format_npz = {
    .name        = "npz",
    .description = "NumPy archive (.npz: zip of .npy arrays, stored or deflated)",
    .extensions  = ".npz",
    .caps        = FERRY_CAP_READ | FERRY_CAP_WRITE | FERRY_CAP_MAY_HOLD_CODE,
    .bid         = npz_bid,
    .open        = npz_open,
    .read        = np_read,
    .can_write   = np_can_write,
    .write       = npz_write,
};
