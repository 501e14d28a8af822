/*
 * pytorch.c -- PyTorch checkpoints (torch.save): the zip format of torch >= 1.6 and the
 * legacy pickled format of torch 0.1.10-1.5, read without executing any pickle.
 *
 * Spec: FORMATS.md §2a (zip records, pickle conventions, storage classes, _rebuild_tensor_v2
 * / _v3, byteorder), §2b (legacy: magic, protocol, sys_info, object, storage keys, raw
 * storages), §3 (TorchScript archives: marked in the metadata), §0.3 (zip), §4 (pickle) and
 * SECURITY.md C13 (every tensor must fit inside its storage record, overflow-checked; the
 * storage's declared numel must fit inside the record; storage keys must exist).
 *
 * Zip archives
 * ------------
 * The root folder is the first component of the first entry's name, as PyTorch's
 * PyTorchStreamReader takes it (the name is arbitrary: "archive", the file stem...).
 * <root>/data.pkl is run through the restricted pickle machine (src/parse/pickle.c);
 * storages are persistent ids ('storage', torch.<X>Storage, key, location, numel) whose
 * bytes are the record <root>/data/<key>. Records are stored (method 0) by torch, so a
 * record's source is a zero-copy sub-range of the file; deflated records (other writers)
 * are inflated once by the zip reader.
 *
 * Tensors
 * -------
 * _rebuild_tensor_v2(storage, storage_offset, size, stride, ...) and _v3 (dtype given
 * explicitly, storage untyped: numel counts bytes). The dtype of a v2 tensor is that of
 * its storage class. A tensor whose strides are those of C order (size-1 dimensions
 * ignored) in a little-endian archive is a zero-copy view: t->src is the record, t->offset
 * = storage_offset x itemsize. Any other layout (transposes, slices with steps, expanded
 * views with stride 0) and every tensor of a big-endian archive (byteorder record "big")
 * is materialised by the read slot, element run by element run, and byte-swapped per
 * element (per component for complex dtypes). Before a tensor is accepted: the storage's
 * bytes (numel x itemsize, or numel for untyped storages) must fit in the record, and the
 * last element the view touches, offset + sum((size_i - 1) x stride_i), must lie inside
 * the storage (all overflow-checked). Quantized storages and dtypes ferry has no layout
 * for are listed as not plain.
 *
 * Names and metadata
 * ------------------
 * The pickled object is walked with an explicit stack (depth capped by
 * limits.metadata_depth, a visit budget proportional to the pickle's node count so that
 * shared sub-trees cannot expand exponentially, cycles skipped). Tensors are named by their
 * path from the root joined with '.': dict keys (str, int, ...), list/tuple indices, and the
 * attributes of pickled objects (whole nn.Module pickles: the state dict given to BUILD),
 * where the components _parameters, _buffers and _modules are dropped so that the names
 * match the module's state_dict(). A root that is a tensor is named "tensor". Everything
 * that is not a tensor is kept in the metadata tree under the same path (dicts become
 * maps, lists arrays, objects maps with "__class__"); in arrays a tensor leaves the string
 * "tensor:<name>" so indices are preserved. NumPy arrays found in the pickle with a plain
 * dtype become tensors too (their bytes live inside data.pkl). Format facts are added as
 * "pytorch.format" ("zip" / "legacy"), "pytorch.version", "pytorch.byteorder" and
 * "pytorch.torchscript" (true when code/ or constants.pkl is present: the archive holds
 * TorchScript code, which ferry never runs).
 *
 * Legacy format
 * -------------
 * Five pickles back to back (magic 0x1950a86a20f9469cfc6c, protocol 1001, sys_info, the
 * object, the list of storage keys), then per key an i64 element count and the raw
 * elements. Storage offsets are only known once the key list has been read; each storage's
 * count must equal the numel its persistent id declared. sys_info.little_endian false
 * means big-endian data. Views (view_metadata) refer to a sub-range of another storage.
 */
#include "internal.h"
#include "parse/pickle.h"
#include "parse/zip.h"

#include <stdio.h>

/* ============================================================================================
 * State
 * ========================================================================================== */

/* Per tensor that is not a zero-copy view: how to gather its elements. */
typedef struct pt_view {
    uint64_t  base;      /* byte offset of storage element 0 in t->src */
    int64_t   offset;    /* storage offset in elements */
    uint32_t  itemsize;
    uint32_t  swap;      /* byte-swap width (0: none) */
    int32_t   ndim;
    int64_t  *shape;
    int64_t  *stride;
} pt_view;

/* A storage resolved to bytes: a source and the byte range of element 0.. */
typedef struct pt_storage {
    const char   *key;
    ferry_source *src;      /* reference held by the model (keep_source) */
    uint64_t      base;
    uint64_t      nbytes;   /* bytes available from base */
} pt_storage;

typedef struct pt_open {
    ferry_model   *m;
    ferry_ctx     *ctx;
    ferry_source  *src;
    ferry__zip    *zip;
    const char    *root;        /* zip root folder including the '/' */
    size_t         root_len;
    ferry__pickle *pk;
    ferry_source  *pkl_src;     /* source holding the pickle bytes */
    uint64_t       pkl_base;    /* offset of the pickle bytes in pkl_src */
    bool           big;
    /* zip: record sources by entry index; legacy: storages in key-list order */
    ferry_source **entry_src;
    pt_storage    *st;
    size_t         n_st;
    /* legacy: storage nodes reachable from tensors, the file bytes, the first storage */
    const ferry__pk_storage **lst;
    size_t         n_lst;
    const uint8_t *legacy_data;
    uint64_t       legacy_pos;
    /* name buffer */
    char          *path;
    size_t         path_cap;
    uint64_t       visits;
    uint64_t       budget;
} pt_open;

/* ============================================================================================
 * Reading non-contiguous / byte-swapped tensors
 * ========================================================================================== */

static int pt_read(ferry_model *m, const ferry__tensor *t, uint64_t off, void *dst, size_t len)
{
    const pt_view *v = t->priv;
    if (!v) return ferry_source_read(t->src, t->offset + off, dst, len);
    uint8_t *out = dst;
    uint32_t isz = v->itemsize;
    int64_t idx[64];
    uint64_t e = off / isz;
    size_t skip = (size_t)(off % isz);
    /* Multi-index of element e in C order. */
    for (int32_t d = v->ndim - 1; d >= 0; d--) {
        idx[d] = v->shape[d] ? (int64_t)(e % (uint64_t)v->shape[d]) : 0;
        e = v->shape[d] ? e / (uint64_t)v->shape[d] : 0;
    }
    size_t done = 0;
    int32_t last = v->ndim - 1;
    while (done < len) {
        int64_t se = v->offset; /* fits: checked at open */
        for (int32_t d = 0; d < v->ndim; d++) se += idx[d] * v->stride[d];
        /* Elements idx[last].. of the innermost row are adjacent when its stride is 1. */
        uint64_t run = 1;
        if (last >= 0 && v->stride[last] == 1) run = (uint64_t)(v->shape[last] - idx[last]);
        uint64_t src_off = v->base + (uint64_t)se * isz;
        uint64_t adv;
        if (!v->swap) {
            uint64_t k = run * isz - skip;
            if (k > len - done) k = len - done;
            FERRY_TRY(ferry_source_read(t->src, src_off + skip, out + done, (size_t)k));
            done += (size_t)k;
            adv = run;
        } else if (skip == 0 && len - done >= isz) {
            /* Whole elements: copy the run, then swap in place. */
            uint64_t k = run * isz;
            if (k > len - done) k = (len - done) / isz * isz;
            FERRY_TRY(ferry_source_read(t->src, src_off, out + done, (size_t)k));
            ferry__byteswap(out + done, v->swap, k / v->swap);
            done += (size_t)k;
            adv = k / isz;
        } else {
            /* A partial element at either end of the range. */
            uint8_t tmp[16];
            FERRY_TRY(ferry_source_read(t->src, src_off, tmp, isz));
            ferry__byteswap(tmp, v->swap, isz / v->swap);
            size_t k = isz - skip;
            if (k > len - done) k = len - done;
            memcpy(out + done, tmp + skip, k);
            done += k;
            adv = 1;
        }
        skip = 0;
        /* Advance the multi-index by adv elements (adv never leaves the innermost row). */
        if (last >= 0) {
            idx[last] += (int64_t)adv;
            for (int32_t d = last; d > 0 && idx[d] >= v->shape[d]; d--) {
                idx[d] = 0;
                idx[d - 1]++;
            }
        }
    }
    (void)m;
    return FERRY_OK;
}

/* ============================================================================================
 * Tensors
 * ========================================================================================== */

static const char *torch_name(ferry_dtype dt)
{
    switch (dt) {
    case FERRY_DTYPE_F32: return "torch.float32";
    case FERRY_DTYPE_F64: return "torch.float64";
    case FERRY_DTYPE_F16: return "torch.float16";
    case FERRY_DTYPE_BF16: return "torch.bfloat16";
    case FERRY_DTYPE_I8: return "torch.int8";
    case FERRY_DTYPE_U8: return "torch.uint8";
    case FERRY_DTYPE_I16: return "torch.int16";
    case FERRY_DTYPE_I32: return "torch.int32";
    case FERRY_DTYPE_I64: return "torch.int64";
    case FERRY_DTYPE_U16: return "torch.uint16";
    case FERRY_DTYPE_U32: return "torch.uint32";
    case FERRY_DTYPE_U64: return "torch.uint64";
    case FERRY_DTYPE_BOOL: return "torch.bool";
    case FERRY_DTYPE_C32: return "torch.complex32";
    case FERRY_DTYPE_C64: return "torch.complex64";
    case FERRY_DTYPE_C128: return "torch.complex128";
    case FERRY_DTYPE_F8_E4M3FN: return "torch.float8_e4m3fn";
    case FERRY_DTYPE_F8_E4M3FNUZ: return "torch.float8_e4m3fnuz";
    case FERRY_DTYPE_F8_E5M2: return "torch.float8_e5m2";
    case FERRY_DTYPE_F8_E5M2FNUZ: return "torch.float8_e5m2fnuz";
    case FERRY_DTYPE_F8_E8M0: return "torch.float8_e8m0fnu";
    default: return NULL;
    }
}

/* Byte-swap width of a dtype: the element, or each component of a complex number. */
static uint32_t swap_width(ferry_dtype dt, uint32_t itemsize)
{
    if (dt == FERRY_DTYPE_C32 || dt == FERRY_DTYPE_C64 || dt == FERRY_DTYPE_C128)
        return itemsize / 2;
    return itemsize;
}

/* Whether strides are those of C order (dimensions of size 1 may have any stride). */
static bool c_contiguous(int32_t ndim, const int64_t *shape, const int64_t *stride)
{
    int64_t expect = 1;
    for (int32_t d = ndim - 1; d >= 0; d--) {
        if (shape[d] == 1) continue;
        if (stride[d] != expect) return false;
        expect *= shape[d];
    }
    return true;
}

/*
 * Adds a tensor viewing `ndim/shape/stride` at element `offset` of a storage whose bytes
 * [base, base + storage_bytes) lie in src. Validates the extent (SECURITY C13).
 */
static int add_view(pt_open *o, const char *name, size_t name_len, ferry_dtype dt,
                    const char *native, ferry_source *src, uint64_t base,
                    uint64_t storage_bytes, int64_t offset, int32_t ndim, const int64_t *shape,
                    const int64_t *stride, bool big, uint64_t where)
{
    ferry_model *m = o->m;
    uint32_t bits = ferry_dtype_bits(dt);
    bool plain = dt != FERRY_DTYPE_UNKNOWN && bits >= 8 && bits % 8 == 0 &&
                 ferry_dtype_block_size(dt) == 1;
    ferry__tensor *t = ferry__model_add_tensor(m, name, name_len, plain ? dt : FERRY_DTYPE_OPAQUE,
                                               ndim, shape, 0);
    if (!t) return o->ctx->err_code;
    t->native_dtype = ferry__arena_strndup(&m->arena, native, strlen(native));
    if (!t->native_dtype) return o->ctx->err_code;
    if (!plain) {
        t->status = FERRY_TENSOR_NOT_PLAIN;
        return FERRY_OK;
    }
    if (ndim > 64)
        return ferry__fail_at(o->ctx, FERRY_E_LIMIT, o->pkl_src, o->pkl_base + where,
                              "tensor \"%s\": %d dimensions (at most 64)", t->name, ndim);
    uint32_t isz = bits / 8;
    /* Last element touched: offset + sum((size - 1) * stride), in elements. */
    uint64_t last = (uint64_t)offset;
    bool empty = false;
    for (int32_t d = 0; d < ndim; d++) {
        if (shape[d] == 0) empty = true;
        uint64_t span;
        if (stride[d] < 0 ||
            ferry__mul_overflow((uint64_t)(shape[d] ? shape[d] - 1 : 0), (uint64_t)stride[d],
                                &span) ||
            ferry__add_overflow(last, span, &last) || last > (uint64_t)INT64_MAX)
            return ferry__fail_at(o->ctx, FERRY_E_CORRUPT, o->pkl_src, o->pkl_base + where,
                                  "tensor \"%s\": size and stride overflow", t->name);
    }
    uint64_t need;
    if (!empty && (ferry__add_overflow(last, 1, &need) || ferry__mul_overflow(need, isz, &need) ||
                   need > storage_bytes))
        return ferry__fail_at(o->ctx, FERRY_E_CORRUPT, o->pkl_src, o->pkl_base + where,
                              "tensor \"%s\": view (offset %lld, last element %llu) leaves its "
                              "storage of %llu bytes", t->name, (long long)offset,
                              (unsigned long long)last, (unsigned long long)storage_bytes);
    t->src = ferry__source_ref(src);
    bool contiguous = c_contiguous(ndim, shape, stride);
    bool swap = big && isz > 1;
    if (contiguous && !swap) {
        t->offset = base + (uint64_t)offset * isz;
        t->flags |= FERRY_TENSOR_ZERO_COPY;
        return FERRY_OK;
    }
    pt_view *v = ferry__arena_alloc(&m->arena, sizeof *v);
    int64_t *sh = ferry__arena_alloc(&m->arena, sizeof(int64_t) * (size_t)(ndim ? ndim : 1));
    int64_t *st = ferry__arena_alloc(&m->arena, sizeof(int64_t) * (size_t)(ndim ? ndim : 1));
    if (!v || !sh || !st) return o->ctx->err_code;
    if (ndim) {
        memcpy(sh, shape, sizeof(int64_t) * (size_t)ndim);
        memcpy(st, stride, sizeof(int64_t) * (size_t)ndim);
    }
    v->base     = base;
    v->offset   = offset;
    v->itemsize = isz;
    v->swap     = swap ? swap_width(dt, isz) : 0;
    v->ndim     = ndim;
    v->shape    = sh;
    v->stride   = st;
    t->priv     = v;
    t->offset   = base;
    t->flags |= FERRY_TENSOR_CONVERTED;
    return FERRY_OK;
}

/* The storage behind a STORAGE node: a zip record or a legacy storage. */
static int resolve_storage(pt_open *o, const ferry__pk_storage *st, uint32_t isz,
                           uint64_t where, ferry_source **src, uint64_t *base,
                           uint64_t *nbytes)
{
    /* Declared bytes: typed storages count elements, UntypedStorage bytes. */
    uint64_t declared;
    bool untyped = st->dtype == FERRY_DTYPE_UNKNOWN;
    if (ferry__mul_overflow((uint64_t)st->numel, untyped ? 1 : isz, &declared))
        return ferry__fail_at(o->ctx, FERRY_E_CORRUPT, o->pkl_src, o->pkl_base + where,
                              "storage \"%s\": numel %lld overflows", st->key,
                              (long long)st->numel);
    if (o->zip) {
        char name[512];
        int k = snprintf(name, sizeof name, "%.*sdata/%s", (int)o->root_len, o->root, st->key);
        if (k < 0 || (size_t)k >= sizeof name)
            return ferry__fail_at(o->ctx, FERRY_E_CORRUPT, o->pkl_src, o->pkl_base + where,
                                  "storage key too long");
        int64_t i = ferry__zip_find(o->zip, name, (size_t)k);
        if (i < 0)
            return ferry__fail_at(o->ctx, FERRY_E_CORRUPT, o->pkl_src, o->pkl_base + where,
                                  "storage \"%s\": no record %s in the archive", st->key, name);
        /* One source per record (indexed by zip entry), shared by every tensor viewing it;
         * the model keeps the reference. */
        if (!o->entry_src) {
            o->entry_src = ferry__calloc(o->ctx, (size_t)ferry__zip_count(o->zip),
                                         sizeof *o->entry_src);
            if (!o->entry_src) return o->ctx->err_code;
        }
        if (!o->entry_src[i]) {
            ferry_source *rs = NULL;
            FERRY_TRY(ferry__zip_entry_source(o->zip, i, &rs));
            int rc = ferry__model_keep_source(o->m, rs);
            ferry_source_close(rs);
            if (rc < 0) return rc;
            o->entry_src[i] = rs;
        }
        *src    = o->entry_src[i];
        *base   = 0;
        *nbytes = ferry_source_size(*src);
    } else {
        const char *key = st->has_view ? st->view_key : st->key;
        size_t j = 0;
        while (j < o->n_st && strcmp(o->st[j].key, key) != 0) j++;
        if (j == o->n_st)
            return ferry__fail_at(o->ctx, FERRY_E_CORRUPT, o->pkl_src, o->pkl_base + where,
                                  "storage \"%s\" is not in the storage key list", key);
        *src    = o->st[j].src;
        *base   = o->st[j].base;
        *nbytes = o->st[j].nbytes;
        if (st->has_view) {
            uint64_t vo, vn, vend;
            if (st->view_offset < 0 || st->view_size < 0 ||
                ferry__mul_overflow((uint64_t)st->view_offset, isz, &vo) ||
                ferry__mul_overflow((uint64_t)st->view_size, isz, &vn) ||
                ferry__add_overflow(vo, vn, &vend) || vend > *nbytes)
                return ferry__fail_at(o->ctx, FERRY_E_CORRUPT, o->pkl_src, o->pkl_base + where,
                                      "storage view \"%s\" leaves storage \"%s\"", st->key,
                                      key);
            *base += vo;
            *nbytes = vn;
        }
        return FERRY_OK;
    }
    if (declared > *nbytes)
        return ferry__fail_at(o->ctx, FERRY_E_CORRUPT, o->pkl_src, o->pkl_base + where,
                              "storage \"%s\" declares %llu bytes, its record holds %llu",
                              st->key, (unsigned long long)declared,
                              (unsigned long long)*nbytes);
    *nbytes = declared;
    return FERRY_OK;
}

static int add_torch_tensor(pt_open *o, const char *name, size_t name_len,
                            const ferry__pk_node *n)
{
    const ferry__pk_tensor *t = n->v.ten;
    if (!t->storage || t->storage->kind != FERRY__PK_STORAGE)
        return ferry__fail_at(o->ctx, FERRY_E_CORRUPT, o->pkl_src, o->pkl_base + n->off,
                              "tensor \"%.*s\": its storage is not a persistent id "
                              "('storage', ...)", (int)name_len, name);
    ferry_dtype dt = t->dtype;
    char native[64];
    const char *tn = torch_name(dt);
    if (tn) snprintf(native, sizeof native, "%s", tn);
    else snprintf(native, sizeof native, "torch.%s", t->dtype_name ? t->dtype_name : "?");
    uint32_t bits = ferry_dtype_bits(dt);
    if (dt == FERRY_DTYPE_UNKNOWN || bits < 8 || bits % 8)
        return add_view(o, name, name_len, FERRY_DTYPE_UNKNOWN, native, NULL, 0, 0, 0, t->ndim,
                        t->shape, t->stride, false, n->off);
    ferry_source *src = NULL;
    uint64_t base = 0, nbytes = 0;
    FERRY_TRY(resolve_storage(o, t->storage->v.st, bits / 8, n->off, &src, &base, &nbytes));
    return add_view(o, name, name_len, dt, native, src, base, nbytes, t->offset, t->ndim,
                    t->shape, t->stride, o->big, n->off);
}

/* A numpy array found in the pickle (bytes inside the pickle stream). */
static int add_numpy_array(pt_open *o, const char *name, size_t name_len,
                           const ferry__pk_node *n, bool *added)
{
    const ferry__pk_array *a = n->v.arr;
    ferry_dtype dt;
    uint32_t isz;
    bool big;
    *added = false;
    if (!a->built || !a->data || !ferry__pk_numpy_dtype(a->dtype, &dt, &isz, &big) ||
        (a->data->kind != FERRY__PK_BYTES && a->data->kind != FERRY__PK_STR) ||
        a->data->v.s.src_off < 0 || dt == FERRY_DTYPE_BYTES_FIXED ||
        dt == FERRY_DTYPE_UCS4_FIXED)
        return FERRY_OK;
    int64_t stride[64];
    int64_t one[1] = {1};
    const int64_t *shape = a->ndim ? a->shape : one;
    if (a->ndim > 64) return FERRY_OK;
    /* Strides in elements for C or Fortran order. */
    int64_t acc = 1;
    for (int32_t i = 0; i < a->ndim; i++) {
        int32_t d = a->fortran ? i : a->ndim - 1 - i;
        stride[d] = acc;
        if (shape[d] && acc > INT64_MAX / shape[d]) return FERRY_OK;
        acc *= shape[d];
    }
    uint64_t need;
    if (ferry__mul_overflow((uint64_t)acc, isz, &need) || need != a->data->v.s.n) return FERRY_OK;
    *added = true;
    char native[32];
    snprintf(native, sizeof native, "numpy.%s", a->dtype->v.dt->descr);
    return add_view(o, name, name_len, dt, native, o->pkl_src,
                    o->pkl_base + (uint64_t)a->data->v.s.src_off, need, 0, a->ndim, shape,
                    stride, big, n->off);
}

/* ============================================================================================
 * Walking the pickled object
 * ========================================================================================== */

static int legacy_layout(pt_open *o);

enum { USER_HAS_TENSOR = 1, USER_DONE = 2, USER_ON_PATH = 4 };

/* Children of a node for the has-tensor pass. */
static size_t child_count(const ferry__pk_node *n)
{
    switch (n->kind) {
    case FERRY__PK_TUPLE: case FERRY__PK_LIST: case FERRY__PK_SET: return n->v.c.n;
    case FERRY__PK_DICT: return 2 * n->v.c.n;
    case FERRY__PK_CALL: case FERRY__PK_NEWOBJ: return 2;
    default: return 0;
    }
}

static const ferry__pk_node *child_at(const ferry__pk_node *n, size_t i)
{
    if (n->kind == FERRY__PK_CALL || n->kind == FERRY__PK_NEWOBJ)
        return i == 0 ? n->v.call.args : n->state;
    return n->v.c.items[i];
}

static bool is_tensorish(const ferry__pk_node *n, bool arrays)
{
    return n->kind == FERRY__PK_TENSOR || (arrays && n->kind == FERRY__PK_ARRAY);
}

/* Legacy files: remembers the storage of a tensor (for the element sizes of the layout). */
static int note_storage(pt_open *o, const ferry__pk_node *t)
{
    if (!o->legacy_data || t->kind != FERRY__PK_TENSOR || !t->v.ten->storage ||
        t->v.ten->storage->kind != FERRY__PK_STORAGE)
        return FERRY_OK;
    if (o->n_lst % 64 == 0) {
        const ferry__pk_storage **n = ferry__realloc(o->ctx, (void *)o->lst, 0,
                                                     (o->n_lst + 64) * sizeof *n);
        if (!n) return o->ctx->err_code;
        o->lst = n;
    }
    o->lst[o->n_lst++] = t->v.ten->storage->v.st;
    return FERRY_OK;
}

/* Marks every node from which a tensor is reachable (post-order, explicit stack). */
static int mark_tensors(pt_open *o, ferry__pk_node *root)
{
    typedef struct {
        ferry__pk_node *n;
        size_t          i;
    } fr;
    size_t cap = 256, sp = 0;
    fr *st = ferry__malloc(o->ctx, cap * sizeof *st);
    if (!st) return o->ctx->err_code;
    st[sp++] = (fr){root, 0};
    root->user |= USER_ON_PATH;
    int rc = FERRY_OK;
    while (sp) {
        fr *f = &st[sp - 1];
        if (f->i >= child_count(f->n)) {
            f->n->user = (uint8_t)((f->n->user & ~USER_ON_PATH) | USER_DONE);
            ferry__pk_node *done = f->n;
            sp--;
            if (sp && (done->user & USER_HAS_TENSOR)) st[sp - 1].n->user |= USER_HAS_TENSOR;
            continue;
        }
        ferry__pk_node *c = (ferry__pk_node *)child_at(f->n, f->i++);
        if (!c) continue;
        if (is_tensorish(c, true)) {
            f->n->user |= USER_HAS_TENSOR;
            if ((rc = note_storage(o, c)) < 0) break;
            continue;
        }
        if (c->user & (USER_DONE | USER_ON_PATH)) {
            if (c->user & USER_HAS_TENSOR) f->n->user |= USER_HAS_TENSOR;
            continue;
        }
        if (!child_count(c)) {
            c->user |= USER_DONE;
            continue;
        }
        if (sp == cap) {
            fr *ns = ferry__realloc(o->ctx, st, 0, cap * 2 * sizeof *st);
            if (!ns) {
                rc = o->ctx->err_code;
                break;
            }
            st = ns;
            cap *= 2;
        }
        c->user |= USER_ON_PATH;
        st[sp++] = (fr){c, 0};
    }
    ferry__free(o->ctx, st, 0);
    return rc;
}

/* Appends "<sep><component>" to the path buffer. */
static int path_push(pt_open *o, size_t at, const char *s, size_t n)
{
    size_t need = at + 1 + n + 1;
    if (need > o->path_cap) {
        size_t nc = o->path_cap ? o->path_cap : 256;
        while (nc < need) nc *= 2;
        char *np = ferry__realloc(o->ctx, o->path, o->path_cap, nc);
        if (!np) return o->ctx->err_code;
        o->path = np;
        o->path_cap = nc;
    }
    size_t k = at;
    if (at) o->path[k++] = '.';
    memcpy(o->path + k, s, n);
    o->path[k + n] = 0;
    return (int)0;
}

/* Text of a dict key used as a name component / metadata key. */
static bool key_text(const ferry__pk_node *k, char *buf, size_t cap, const char **s, size_t *n)
{
    switch (k->kind) {
    case FERRY__PK_STR:
    case FERRY__PK_BYTES:
        *s = (const char *)k->v.s.p;
        *n = k->v.s.n;
        return true;
    case FERRY__PK_INT: snprintf(buf, cap, "%lld", (long long)k->v.i); break;
    case FERRY__PK_BOOL: snprintf(buf, cap, "%s", k->v.i ? "True" : "False"); break;
    case FERRY__PK_NONE: snprintf(buf, cap, "None"); break;
    case FERRY__PK_FLOAT: snprintf(buf, cap, "%.17g", k->v.f); break;
    case FERRY__PK_GLOBAL: snprintf(buf, cap, "%s.%s", k->v.g.module, k->v.g.name); break;
    default: return false;
    }
    *s = buf;
    *n = strlen(buf);
    return true;
}

/* Sets a metadata node from a scalar pickle value (containers are handled by the walk). */
static int meta_scalar(ferry_model *m, ferry_meta *mt, const ferry__pk_node *v)
{
    char buf[160];
    switch (v->kind) {
    case FERRY__PK_NONE: return FERRY_OK;
    case FERRY__PK_BOOL: ferry__meta_set_bool(mt, v->v.i != 0); return FERRY_OK;
    case FERRY__PK_INT: ferry__meta_set_int(mt, v->v.i, FERRY_DTYPE_I64); return FERRY_OK;
    case FERRY__PK_FLOAT: ferry__meta_set_float(mt, v->v.f, FERRY_DTYPE_F64); return FERRY_OK;
    case FERRY__PK_STR:
        if (v->flags & FERRY__PK_F_PY2) return ferry__meta_set_bytes(m, mt, v->v.s.p, v->v.s.n);
        return ferry__meta_set_string(m, mt, (const char *)v->v.s.p, v->v.s.n);
    case FERRY__PK_BYTES: return ferry__meta_set_bytes(m, mt, v->v.s.p, v->v.s.n);
    case FERRY__PK_BIGINT:
        if (v->flags & FERRY__PK_F_DECIMAL)
            return ferry__meta_set_string(m, mt, (const char *)v->v.s.p, v->v.s.n);
        return ferry__meta_set_bytes(m, mt, v->v.s.p, v->v.s.n);
    case FERRY__PK_COMPLEX:
        snprintf(buf, sizeof buf, "(%.17g%+.17gj)", v->v.cx[0], v->v.cx[1]);
        break;
    case FERRY__PK_GLOBAL: snprintf(buf, sizeof buf, "%s.%s", v->v.g.module, v->v.g.name); break;
    case FERRY__PK_DTYPE: snprintf(buf, sizeof buf, "numpy.dtype(%s)", v->v.dt->descr); break;
    case FERRY__PK_STORAGE: snprintf(buf, sizeof buf, "storage:%s", v->v.st->key); break;
    case FERRY__PK_EXT: snprintf(buf, sizeof buf, "ext:%lld", (long long)v->v.i); break;
    case FERRY__PK_BUFFER: snprintf(buf, sizeof buf, "out-of-band buffer"); break;
    case FERRY__PK_ARRAY: snprintf(buf, sizeof buf, "numpy.ndarray"); break;
    case FERRY__PK_PERSID: snprintf(buf, sizeof buf, "persistent_id"); break;
    default: snprintf(buf, sizeof buf, "?"); break;
    }
    return ferry__meta_set_string(m, mt, buf, strlen(buf));
}

typedef struct walk_frame {
    const ferry__pk_node *node;    /* the node whose children are being visited */
    const ferry__pk_node *items;   /* the container iterated (node, or an object's state) */
    size_t                i;
    ferry_meta           *meta;    /* where non-tensor children go (MAP or ARRAY) */
    size_t                path_len;
    int                   phase;   /* objects: 0 class/args, 1 state */
    bool                  elide;   /* object state: drop _parameters/_buffers/_modules */
} walk_frame;

static bool is_container(const ferry__pk_node *n)
{
    return n->kind == FERRY__PK_DICT || n->kind == FERRY__PK_LIST ||
           n->kind == FERRY__PK_TUPLE || n->kind == FERRY__PK_SET ||
           n->kind == FERRY__PK_CALL || n->kind == FERRY__PK_NEWOBJ;
}

static int walk(pt_open *o, ferry__pk_node *root)
{
    ferry_model *m = o->m;
    ferry_ctx *ctx = o->ctx;
    uint32_t max_depth = ctx->limits.metadata_depth ? ctx->limits.metadata_depth : 64;
    FERRY_TRY(mark_tensors(o, root));
    FERRY_TRY(note_storage(o, root));
    if (o->legacy_data) FERRY_TRY(legacy_layout(o));
    FERRY_TRY(path_push(o, 0, "", 0));
    if (is_tensorish(root, true)) {
        bool added = true;
        if (root->kind == FERRY__PK_TENSOR) return add_torch_tensor(o, "tensor", 6, root);
        return add_numpy_array(o, "tensor", 6, root, &added);
    }
    if (!is_container(root)) {
        ferry_meta *mt = ferry__meta_append(m, m->meta, "pytorch.object", 14);
        if (!mt) return ctx->err_code;
        return meta_scalar(m, mt, root);
    }
    walk_frame *st = ferry__malloc(ctx, (max_depth + 1) * sizeof *st);
    if (!st) return ctx->err_code;
    size_t sp = 0;
    int rc = FERRY_OK;
    bool obj = root->kind == FERRY__PK_CALL || root->kind == FERRY__PK_NEWOBJ;
    st[sp++] = (walk_frame){root, obj ? NULL : root, 0, m->meta, 0, 0, false};
    ((ferry__pk_node *)root)->flags |= FERRY__PK_F_MARK;
    while (sp && rc == FERRY_OK) {
        walk_frame *f = &st[sp - 1];
        const ferry__pk_node *child = NULL;
        const char *ks = NULL;
        size_t kn = 0;
        char kb[64];
        if (f->items == NULL) {
            /* An object: "__class__", then "__args__", then its state. */
            const ferry__pk_node *fn = f->node->v.call.fn;
            const ferry__pk_node *args = f->node->v.call.args;
            if (f->phase == 0) {
                f->phase = 1;
                char cls[300];
                /* Legacy whole-module pickles name classes by a persistent id
                 * ('module', class, source_file, source). */
                if (fn && fn->kind == FERRY__PK_PERSID &&
                    fn->v.call.args->kind == FERRY__PK_TUPLE &&
                    fn->v.call.args->v.c.n >= 2 &&
                    ferry__pk_str_is(fn->v.call.args->v.c.items[0], "module"))
                    fn = fn->v.call.args->v.c.items[1];
                if (fn && fn->kind == FERRY__PK_GLOBAL)
                    snprintf(cls, sizeof cls, "%s.%s", fn->v.g.module, fn->v.g.name);
                else
                    snprintf(cls, sizeof cls, "?");
                ferry_meta *mt = ferry__meta_append(m, f->meta, "__class__", 9);
                if (!mt) { rc = ctx->err_code; break; }
                if ((rc = ferry__meta_set_string(m, mt, cls, strlen(cls))) < 0) break;
                if (args && args->kind == FERRY__PK_TUPLE && args->v.c.n) {
                    child = args;
                    ks = "__args__";
                    kn = 8;
                }
            } else if (f->phase == 1) {
                f->phase = 2;
                const ferry__pk_node *state = f->node->state;
                if (state && state->kind == FERRY__PK_DICT) {
                    f->items = state;
                    f->elide = true;
                    f->i = 0;
                    continue;
                }
                if (state) {
                    child = state;
                    ks = "__state__";
                    kn = 9;
                }
            }
            if (!child) {
                if (f->phase == 2) {
                    ((ferry__pk_node *)f->node)->flags &= (uint8_t)~FERRY__PK_F_MARK;
                    sp--;
                }
                continue;
            }
        } else {
            const ferry__pk_node *c = f->items;
            size_t count = c->v.c.n;
            if (f->i >= count) {
                ((ferry__pk_node *)f->node)->flags &= (uint8_t)~FERRY__PK_F_MARK;
                sp--;
                continue;
            }
            size_t i = f->i++;
            if (c->kind == FERRY__PK_DICT) {
                child = c->v.c.items[2 * i + 1];
                if (!key_text(c->v.c.items[2 * i], kb, sizeof kb, &ks, &kn)) {
                    snprintf(kb, sizeof kb, "<key %zu>", i);
                    ks = kb;
                    kn = strlen(kb);
                }
            } else {
                child = c->v.c.items[i];
                snprintf(kb, sizeof kb, "%zu", i);
                ks = kb;
                kn = strlen(kb);
            }
        }
        if (++o->visits > o->budget) {
            rc = ferry__fail_at(ctx, FERRY_E_LIMIT, o->pkl_src, o->pkl_base + child->off,
                                "pickled object expands to more than %llu values (shared "
                                "sub-trees)", (unsigned long long)o->budget);
            break;
        }
        bool map_parent = f->meta && f->meta->kind == FERRY_META_MAP;
        bool elided = f->elide && ((kn == 11 && memcmp(ks, "_parameters", 11) == 0) ||
                                   (kn == 8 && memcmp(ks, "_buffers", 8) == 0) ||
                                   (kn == 8 && memcmp(ks, "_modules", 8) == 0));
        size_t plen = f->path_len;
        if (!elided) {
            if ((rc = path_push(o, plen, ks, kn)) < 0) break;
            plen = plen + (plen ? 1 : 0) + kn;
        } else {
            o->path[plen] = 0;
        }
        if (is_tensorish(child, true)) {
            bool added = true;
            if (child->kind == FERRY__PK_TENSOR)
                rc = add_torch_tensor(o, o->path, plen, child);
            else
                rc = add_numpy_array(o, o->path, plen, child, &added);
            if (rc < 0) break;
            if (added && map_parent) continue;
            ferry_meta *mt = ferry__meta_append(m, f->meta, ks, kn);
            if (!mt) { rc = ctx->err_code; break; }
            if (added) {
                char *txt = ferry__malloc(ctx, plen + 8);
                if (!txt) { rc = ctx->err_code; break; }
                memcpy(txt, "tensor:", 7);
                memcpy(txt + 7, o->path, plen);
                rc = ferry__meta_set_string(m, mt, txt, plen + 7);
                ferry__free(ctx, txt, 0);
            } else {
                rc = meta_scalar(m, mt, child);
            }
            continue;
        }
        if ((child->kind == FERRY__PK_CALL || child->kind == FERRY__PK_NEWOBJ) &&
            child->v.call.fn && child->v.call.fn->kind == FERRY__PK_GLOBAL &&
            strcmp(child->v.call.fn->v.g.module, "torch._utils") == 0 &&
            (strncmp(child->v.call.fn->v.g.name, "_rebuild_tensor", 15) == 0 ||
             strncmp(child->v.call.fn->v.g.name, "_rebuild_parameter", 18) == 0)) {
            /* A tensor whose arguments did not have the documented shape (negative sizes,
             * strides, more dimensions than limits.dims, ...): refuse rather than drop it. */
            rc = ferry__fail_at(ctx, FERRY_E_CORRUPT, o->pkl_src, o->pkl_base + child->off,
                                "\"%s\": torch._utils.%s with arguments ferry does not "
                                "understand", o->path, child->v.call.fn->v.g.name);
            break;
        }
        ferry_meta *mt = ferry__meta_append(m, f->meta, ks, kn);
        if (!mt) { rc = ctx->err_code; break; }
        if (!is_container(child)) {
            rc = meta_scalar(m, mt, child);
            continue;
        }
        if (child->flags & FERRY__PK_F_MARK) {
            rc = ferry__meta_set_string(m, mt, "<cycle>", 7);
            continue;
        }
        if (sp > max_depth) {
            rc = ferry__fail_at(ctx, FERRY_E_LIMIT, o->pkl_src, o->pkl_base + child->off,
                                "pickled object nested deeper than %u levels", max_depth);
            break;
        }
        bool is_obj = child->kind == FERRY__PK_CALL || child->kind == FERRY__PK_NEWOBJ;
        if (child->kind == FERRY__PK_DICT || is_obj) ferry__meta_set_map(mt);
        else ferry__meta_set_array(mt, FERRY_DTYPE_UNKNOWN);
        ((ferry__pk_node *)child)->flags |= FERRY__PK_F_MARK;
        st[sp++] = (walk_frame){child, is_obj ? NULL : child, 0, mt, plen, 0, false};
    }
    /* Leave the MARK bits clean for a later walk. */
    for (size_t i = 0; i < sp; i++)
        ((ferry__pk_node *)st[i].node)->flags &= (uint8_t)~FERRY__PK_F_MARK;
    ferry__free(ctx, st, 0);
    return rc;
}

/* ============================================================================================
 * Opening
 * ========================================================================================== */

static int meta_str(ferry_model *m, const char *key, const char *v, size_t n)
{
    ferry_meta *mt = ferry__meta_append(m, m->meta, key, strlen(key));
    if (!mt) return m->ctx->err_code;
    return ferry__meta_set_string(m, mt, v, n);
}

/* The pickle bytes of [off, off+len) of src: mapped, or copied into *owned. */
static int pickle_bytes(pt_open *o, ferry_source *src, uint64_t off, uint64_t len,
                        const uint8_t **out, uint8_t **owned)
{
    *owned = NULL;
    if (len > o->ctx->limits.header_bytes)
        return ferry__fail_at(o->ctx, FERRY_E_LIMIT, src, off,
                              "pickle of %llu bytes exceeds the header limit of %llu",
                              (unsigned long long)len,
                              (unsigned long long)o->ctx->limits.header_bytes);
    const void *p = ferry_source_map(src, off, len);
    if (p || len == 0) {
        *out = p ? p : (const uint8_t *)"";
        return FERRY_OK;
    }
    uint8_t *b = ferry__malloc(o->ctx, (size_t)len);
    if (!b) return o->ctx->err_code;
    int rc = ferry_source_read(src, off, b, (size_t)len);
    if (rc < 0) {
        ferry__free(o->ctx, b, 0);
        return rc;
    }
    *out = b;
    *owned = b;
    return FERRY_OK;
}

static uint64_t budget_for(const ferry__pickle *pk, uint64_t pickle_len)
{
    (void)pk;
    /* A tree visits each node once; sharing (DUP/GET) may multiply that. Four visits per
     * pickle byte plus a constant is far above any real checkpoint and far below an
     * exponential expansion. */
    return pickle_len * 4 + 4096;
}

static int small_record(pt_open *o, const char *rel, char *buf, size_t cap, size_t *n)
{
    char name[512];
    int k = snprintf(name, sizeof name, "%.*s%s", (int)o->root_len, o->root, rel);
    if (k < 0 || (size_t)k >= sizeof name) return 0;
    int64_t i = ferry__zip_find(o->zip, name, (size_t)k);
    if (i < 0) return 0;
    const ferry__zip_entry *e = ferry__zip_entry_at(o->zip, i);
    if (e->usize >= cap)
        return ferry__fail_field(o->ctx, FERRY_E_CORRUPT, o->src, name,
                                 "record of %llu bytes (at most %zu expected)",
                                 (unsigned long long)e->usize, cap - 1);
    FERRY_TRY(ferry__zip_entry_prefix(o->zip, i, buf, (size_t)e->usize));
    buf[e->usize] = 0;
    *n = (size_t)e->usize;
    return 1;
}

static int open_zip(pt_open *o)
{
    ferry_model *m = o->m;
    FERRY_TRY(ferry__zip_open(o->ctx, o->src, NULL, &o->zip));
    if (ferry__zip_count(o->zip) == 0)
        return ferry__fail(o->ctx, FERRY_E_CORRUPT, "%s: empty zip archive",
                           ferry_source_name(o->src));
    const ferry__zip_entry *first = ferry__zip_entry_at(o->zip, 0);
    const char *slash = memchr(first->name, '/', first->name_len);
    o->root = first->name;
    o->root_len = slash ? (size_t)(slash - first->name) + 1 : 0;
    char name[512];
    int k = snprintf(name, sizeof name, "%.*sdata.pkl", (int)o->root_len, o->root);
    int64_t pi = k > 0 && (size_t)k < sizeof name ? ferry__zip_find(o->zip, name, (size_t)k) : -1;
    if (pi < 0)
        return ferry__fail(o->ctx, FERRY_E_CORRUPT, "%s: no %s record (not a torch.save archive)",
                           ferry_source_name(o->src), name);
    FERRY_TRY(meta_str(m, "pytorch.format", "zip", 3));
    char buf[64];
    size_t n = 0;
    int r = small_record(o, "byteorder", buf, sizeof buf, &n);
    FERRY_TRY(r);
    if (r) {
        if (n == 3 && memcmp(buf, "big", 3) == 0) o->big = true;
        else if (!(n == 6 && memcmp(buf, "little", 6) == 0))
            return ferry__fail_field(o->ctx, FERRY_E_CORRUPT, o->src, "byteorder",
                                     "must be \"little\" or \"big\"");
    }
    FERRY_TRY(meta_str(m, "pytorch.byteorder", o->big ? "big" : "little", o->big ? 3 : 6));
    r = small_record(o, "version", buf, sizeof buf, &n);
    FERRY_TRY(r);
    if (!r) FERRY_TRY(r = small_record(o, ".data/version", buf, sizeof buf, &n));
    if (r) {
        while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' ')) n--;
        FERRY_TRY(meta_str(m, "pytorch.version", buf, n));
        snprintf(m->version, sizeof m->version, "%.*s", (int)n, buf);
    }
    bool script = false;
    for (int64_t i = 0; i < ferry__zip_count(o->zip) && !script; i++) {
        const ferry__zip_entry *e = ferry__zip_entry_at(o->zip, i);
        if (e->name_len < o->root_len || memcmp(e->name, o->root, o->root_len) != 0) continue;
        const char *rest = e->name + o->root_len;
        script = strncmp(rest, "code/", 5) == 0 || strcmp(rest, "constants.pkl") == 0;
    }
    ferry_meta *ts = ferry__meta_append(m, m->meta, "pytorch.torchscript", 19);
    if (!ts) return o->ctx->err_code;
    ferry__meta_set_bool(ts, script);

    FERRY_TRY(ferry__zip_entry_source(o->zip, pi, &o->pkl_src));
    o->pkl_base = 0;
    const uint8_t *bytes = NULL;
    uint8_t *owned = NULL;
    uint64_t len = ferry_source_size(o->pkl_src);
    FERRY_TRY(pickle_bytes(o, o->pkl_src, 0, len, &bytes, &owned));
    ferry__pk_node *root = NULL;
    uint64_t end;
    int rc = ferry__pickle_run(o->pk, bytes, (size_t)len, 0, o->pkl_src, 0, &root, &end);
    if (rc == FERRY_OK) {
        o->budget = budget_for(o->pk, len);
        rc = walk(o, root);
    }
    ferry__free(o->ctx, owned, 0);
    return rc;
}

/* Legacy magic number 0x1950a86a20f9469cfc6c as the LONG1 payload (FORMATS.md §2b). */
static const uint8_t legacy_magic[10] = {0x6C, 0xFC, 0x9C, 0x46, 0xF9,
                                         0x20, 0x6A, 0xA8, 0x50, 0x19};

/* Byte ranges of the legacy storages: per key (in the order of the key list) an i64
 * element count and the elements, whose size is that of the storage class a persistent id
 * with this key named. */
static int legacy_layout(pt_open *o)
{
    ferry_ctx *ctx = o->ctx;
    uint64_t pos = o->legacy_pos;
    uint64_t size = ferry_source_size(o->src);
    for (size_t i = 0; i < o->n_st; i++) {
        pt_storage *s = &o->st[i];
        uint32_t isz = 0;
        for (size_t j = 0; j < o->n_lst && !isz; j++) {
            const ferry__pk_storage *ps = o->lst[j];
            if (strcmp(ps->has_view ? ps->view_key : ps->key, s->key) == 0 &&
                ps->dtype != FERRY_DTYPE_UNKNOWN)
                isz = ferry_dtype_bits(ps->dtype) / 8;
        }
        if (size - pos < 8)
            return ferry__fail_at(ctx, FERRY_E_CORRUPT, o->src, pos,
                                  "storage \"%s\": truncated element count", s->key);
        int64_t count = (int64_t)ferry__rd64le(o->legacy_data + pos);
        uint64_t nbytes;
        if (count < 0)
            return ferry__fail_at(ctx, FERRY_E_CORRUPT, o->src, pos,
                                  "storage \"%s\": negative element count", s->key);
        if (!isz) {
            /* No tensor uses it, so its element size is unknown: only the last storage
             * can be skipped (nothing after it needs its end). */
            if (i + 1 == o->n_st) break;
            return ferry__fail_at(ctx, FERRY_E_UNSUPPORTED, o->src, pos,
                                  "storage \"%s\" is used by no tensor: its element size, "
                                  "and so the offset of the next storage, is unknown", s->key);
        }
        pos += 8;
        if (ferry__mul_overflow((uint64_t)count, isz, &nbytes) || nbytes > size - pos)
            return ferry__fail_at(ctx, FERRY_E_CORRUPT, o->src, pos - 8,
                                  "storage \"%s\": %lld elements of %u bytes leave the file",
                                  s->key, (long long)count, isz);
        s->base   = pos;
        s->nbytes = nbytes;
        pos += nbytes;
    }
    return FERRY_OK;
}

static int open_legacy(pt_open *o)
{
    ferry_model *m = o->m;
    ferry_ctx *ctx = o->ctx;
    uint64_t size = ferry_source_size(o->src);
    const uint8_t *d = ferry_source_map(o->src, 0, size);
    if (!d)
        return ferry__fail(ctx, FERRY_E_UNSUPPORTED,
                           "%s: legacy torch files are read from mapped sources only",
                           ferry_source_name(o->src));
    o->pkl_src = ferry__source_ref(o->src);
    FERRY_TRY(meta_str(m, "pytorch.format", "legacy", 6));
    ferry__pk_node *v[5];
    uint64_t pos = 0;
    for (int i = 0; i < 5; i++) {
        uint64_t end;
        FERRY_TRY(ferry__pickle_run(o->pk, d, (size_t)size, pos, o->src, 0, &v[i], &end));
        pos = end;
        if (i == 0 && (v[0]->kind != FERRY__PK_BIGINT || v[0]->v.s.n != sizeof legacy_magic ||
                       memcmp(v[0]->v.s.p, legacy_magic, sizeof legacy_magic) != 0))
            return ferry__fail_at(ctx, FERRY_E_CORRUPT, o->src, 0,
                                  "not the legacy torch magic number");
        if (i == 1 && (v[1]->kind != FERRY__PK_INT || v[1]->v.i != 1001))
            return ferry__fail_at(ctx, FERRY_E_UNSUPPORTED, o->src, v[1]->off,
                                  "legacy protocol version %lld (1001 expected)",
                                  (long long)(v[1]->kind == FERRY__PK_INT ? v[1]->v.i : -1));
    }
    snprintf(m->version, sizeof m->version, "1001");
    FERRY_TRY(meta_str(m, "pytorch.version", "1001", 4));
    if (v[2]->kind == FERRY__PK_DICT)
        for (size_t i = 0; i < v[2]->v.c.n; i++)
            if (ferry__pk_str_is(v[2]->v.c.items[2 * i], "little_endian") &&
                v[2]->v.c.items[2 * i + 1]->kind == FERRY__PK_BOOL)
                o->big = v[2]->v.c.items[2 * i + 1]->v.i == 0;
    FERRY_TRY(meta_str(m, "pytorch.byteorder", o->big ? "big" : "little", o->big ? 3 : 6));
    if (v[4]->kind != FERRY__PK_LIST)
        return ferry__fail_at(ctx, FERRY_E_CORRUPT, o->src, v[4]->off,
                              "storage key list is not a list");
    size_t nkeys = v[4]->v.c.n;
    o->st = ferry__calloc(ctx, nkeys ? nkeys : 1, sizeof *o->st);
    if (!o->st) return ctx->err_code;
    for (size_t i = 0; i < nkeys; i++) {
        const ferry__pk_node *k = v[4]->v.c.items[i];
        if (k->kind != FERRY__PK_STR)
            return ferry__fail_at(ctx, FERRY_E_CORRUPT, o->src, k->off, "storage key not a str");
        char *key = ferry__arena_strndup(&m->arena, (const char *)k->v.s.p, k->v.s.n);
        if (!key) return ctx->err_code;
        o->st[i] = (pt_storage){key, o->src, 0, 0};
    }
    o->n_st        = nkeys;
    o->legacy_data = d;
    o->legacy_pos  = pos;
    o->budget      = budget_for(o->pk, size);
    return walk(o, v[3]);
}

/* Paths can collide ({"a.b": x, "a": {"b": y}}): later tensors with a name already taken
 * get "#<index>" appended, with a warning, so that every name is unique. */
static int unique_names(ferry_model *m)
{
    for (int64_t i = 0; i < m->n_tensors; i++) {
        int64_t j = ferry_model_find_tensor(m, m->tensors[i].name);
        if (j == i || j < 0) continue;
        char suffix[32];
        int k = snprintf(suffix, sizeof suffix, "#%lld", (long long)i);
        size_t n = strlen(m->tensors[i].name);
        char *nn = ferry__arena_alloc(&m->arena, n + (size_t)k + 1);
        if (!nn) return m->ctx->err_code;
        memcpy(nn, m->tensors[i].name, n);
        memcpy(nn + n, suffix, (size_t)k + 1);
        ferry__log(m->ctx, 1, "tensor name \"%s\" is used twice; the later one is \"%s\"",
                   m->tensors[i].name, nn);
        m->tensors[i].name = nn;
        m->hash_cap = 0; /* the name index is rebuilt on the next lookup */
    }
    return FERRY_OK;
}

static void pt_priv_free(ferry_model *m) { (void)m; }

static int pt_open_model(ferry_model *m, ferry_source *src)
{
    pt_open o;
    memset(&o, 0, sizeof o);
    o.m = m;
    o.ctx = m->ctx;
    o.src = src;
    m->priv_free = pt_priv_free;
    int rc = ferry__pickle_new(m->ctx, NULL, &o.pk);
    if (rc == FERRY_OK) {
        uint8_t head[16] = {0};
        uint64_t size = ferry_source_size(src);
        if (size >= 4) rc = ferry_source_read(src, 0, head, size < 16 ? (size_t)size : 16);
        if (rc == FERRY_OK) {
            if (head[0] == 0x80) rc = open_legacy(&o);
            else rc = open_zip(&o);
            if (rc == FERRY_OK) rc = unique_names(m);
        }
    }
    ferry__pickle_free(o.pk);
    ferry__zip_close(o.zip);
    ferry_source_close(o.pkl_src);
    ferry__free(o.ctx, o.st, 0);
    ferry__free(o.ctx, (void *)o.entry_src, 0);
    ferry__free(o.ctx, (void *)o.lst, 0);
    ferry__free(o.ctx, o.path, 0);
    return rc;
}

/* ============================================================================================
 * Detection
 * ========================================================================================== */

typedef struct bid_state {
    bool data_pkl;
} bid_state;

static int bid_entry(void *ud, const ferry__zip_walk_entry *e)
{
    bid_state *b = ud;
    size_t n = e->name_len < FERRY__ZIP_WALK_NAME ? e->name_len : FERRY__ZIP_WALK_NAME - 1;
    const char *slash = memchr(e->name, '/', n);
    const char *rest = slash ? slash + 1 : e->name;
    if (e->name_len < FERRY__ZIP_WALK_NAME && strcmp(rest, "data.pkl") == 0) {
        b->data_pkl = true;
        return 1;
    }
    return 0;
}

static int pt_bid(const ferry__probe *p)
{
    if (p->head_len >= 15 && p->head[0] == 0x80 && p->head[1] == 0x02 && p->head[2] == 0x8A &&
        p->head[3] == 0x0A && memcmp(p->head + 4, legacy_magic, sizeof legacy_magic) == 0)
        return 88; /* PROTO 2, LONG1 10, the 80-bit magic */
    if (!p->src || p->head_len < 4 || p->head[0] != 'P' || p->head[1] != 'K' ||
        p->head[2] != 3 || p->head[3] != 4)
        return 0;
    bid_state b = {false};
    if (ferry__zip_walk(p->src, 1u << 16, bid_entry, &b) < 0 || !b.data_pkl) return 0;
    return 48; /* zip + a data.pkl record */
}

const ferry_format_ops ferry__format_pytorch = {
    .name        = "pytorch",
    .description = "PyTorch torch.save checkpoints (zip and legacy), read without unpickling",
    .extensions  = ".pt,.pth,.bin,.ckpt",
    .caps        = FERRY_CAP_READ | FERRY_CAP_MAY_HOLD_CODE,
    .bid         = pt_bid,
    .open        = pt_open_model,
    .read        = pt_read,
};
