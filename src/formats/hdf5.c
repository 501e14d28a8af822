/*
 * hdf5.c -- the "hdf5" format: HDF5 files (h5py output, Keras 2 / tf.keras .h5 models and
 * weights, Keras 3 .weights.h5) read through src/parse/hdf5.c. FORMATS.md §8, SECURITY.md
 * H01 / K05 / K06.
 *
 * Mapping
 *   - Every dataset is a tensor named by its path without the leading slash
 *     ("model_weights/dense/dense/kernel:0", the name Keras itself uses). Datasets are
 *     listed in h5py's visititems order (depth first, names sorted bytewise).
 *   - Attributes become root metadata entries "<object path>/<attribute>" (root attributes
 *     keep their bare name, so Keras' model_config / training_config / keras_version sit at
 *     the top): numbers as INT/UINT/FLOAT (exact numtype), bools as BOOL, fixed and
 *     variable-length strings as STRING (trailing NUL padding dropped), arrays (e.g. Keras'
 *     layer_names) as ARRAYs of those; other types as a STRING describing the type.
 *   - Things not followed (soft/external links, external storage, virtual datasets, dense
 *     attribute storage, second paths to an object) are listed in the root map "notes"
 *     (path -> text) and logged as notices.
 *   - Data: little-endian contiguous and compact datasets are zero-copy ranges of the file.
 *     Big-endian data (byte-swapped per element, per component for complex) and chunked
 *     data (decoded chunk by chunk in the read slot; one decoded chunk cached per dataset)
 *     are FERRY_TENSOR_CONVERTED. Unallocated data reads as the fill value (zeros if none).
 *   - SECURITY.md K06: a dataset declaring more than 4 GiB and more than 1000x the file's
 *     size is refused (FERRY_E_LIMIT): no real file compresses that well, and a reader that
 *     trusted the shape would be made to allocate it.
 *   - Fixed strings are BYTES_FIXED (plain, as h5py reads them: numpy "S<n>"); vlen strings,
 *     compounds (other than h5py's complex), enums (other than h5py's bool), references and
 *     the rest are listed NOT_PLAIN with a native_dtype naming the HDF5 type.
 */
#include "../core/internal.h"
#include "../parse/hdf5.h"

#include <stdio.h>
#include <stdlib.h>

typedef struct h5_tpriv {
    ferry__h5_dataset  d;
    ferry__h5_chunks  *cache;
    const char        *path;
    unsigned           swap;    /* byte-swap width (0: none) */
} h5_tpriv;

typedef struct h5_open_state {
    ferry_model *m;
    ferry__h5   *h;
} h5_open_state;

/* ============================================================================================
 * Notes and metadata
 * ========================================================================================== */

static int add_note(ferry_model *m, const char *path, const char *text)
{
    ferry_meta *root = m->meta, *notes = NULL;
    for (size_t k = 0; k < root->v.c.n; k++)
        if (strcmp(root->v.c.keys[k], "notes") == 0) notes = &root->v.c.items[k];
    if (!notes) {
        notes = ferry__meta_append(m, root, "notes", 5);
        if (!notes) return m->ctx->err_code;
        ferry__meta_set_map(notes);
    }
    const char *key = *path ? path : "/";
    ferry_meta *n = ferry__meta_append(m, notes, key, strlen(key));
    if (!n) return m->ctx->err_code;
    ferry__log(m->ctx, 0, "%s: %s", key, text);
    return ferry__meta_set_string(m, n, text, strlen(text));
}

static int on_note(void *ud, const char *path, const char *text)
{
    h5_open_state *s = ud;
    return add_note(s->m, path, text);
}

/* Sets meta node n to element i of attribute a. */
static int attr_value(h5_open_state *s, ferry_meta *n, const ferry__h5_attr *a, uint64_t i)
{
    ferry_model *m = s->m;
    const ferry__h5_type *t = &a->type;
    const uint8_t *p = a->data + i * t->size;
    if (t->vlen_string) {
        char *str;
        size_t len;
        FERRY_TRY(ferry__h5_vlen_string(s->h, p, t->size, &str, &len));
        int rc = ferry__meta_set_string(m, n, str, len);
        ferry__free(m->ctx, str, len + 1);
        return rc;
    }
    if (t->dtype == FERRY_DTYPE_BYTES_FIXED) {
        size_t len = t->size;
        while (len && (p[len - 1] == 0 || p[len - 1] == ' ')) len--;
        const uint8_t *z = memchr(p, 0, len);
        if (z) len = (size_t)(z - p);
        return ferry__meta_set_string(m, n, (const char *)p, len);
    }
    if (!t->plain || t->size > 8 || t->dtype == FERRY_DTYPE_C64) {
        char buf[96];
        snprintf(buf, sizeof buf, "<%s attribute: not decoded>", t->native);
        return ferry__meta_set_string(m, n, buf, strlen(buf));
    }
    uint8_t b[8];
    memcpy(b, p, t->size);
    if (t->big_endian && t->size > 1) ferry__byteswap(b, t->size, 1);
    uint64_t u = 0;
    for (unsigned k = 0; k < t->size; k++) u |= (uint64_t)b[k] << (8 * k);
    switch (t->dtype) {
    case FERRY_DTYPE_BOOL: ferry__meta_set_bool(n, u != 0); break;
    case FERRY_DTYPE_I8: ferry__meta_set_int(n, (int8_t)u, t->dtype); break;
    case FERRY_DTYPE_I16: ferry__meta_set_int(n, (int16_t)u, t->dtype); break;
    case FERRY_DTYPE_I32: ferry__meta_set_int(n, (int32_t)u, t->dtype); break;
    case FERRY_DTYPE_I64: ferry__meta_set_int(n, (int64_t)u, t->dtype); break;
    case FERRY_DTYPE_U8:
    case FERRY_DTYPE_U16:
    case FERRY_DTYPE_U32:
    case FERRY_DTYPE_U64: ferry__meta_set_uint(n, u, t->dtype); break;
    case FERRY_DTYPE_F16: ferry__meta_set_float(n, ferry_f16_to_f32((uint16_t)u), t->dtype); break;
    case FERRY_DTYPE_BF16:
        ferry__meta_set_float(n, ferry_bf16_to_f32((uint16_t)u), t->dtype);
        break;
    case FERRY_DTYPE_F32: {
        float f;
        uint32_t w = (uint32_t)u;
        memcpy(&f, &w, 4);
        ferry__meta_set_float(n, f, t->dtype);
        break;
    }
    case FERRY_DTYPE_F64: {
        double f;
        memcpy(&f, &u, 8);
        ferry__meta_set_float(n, f, t->dtype);
        break;
    }
    default: {
        char buf[96];
        snprintf(buf, sizeof buf, "<%s attribute: not decoded>", t->native);
        return ferry__meta_set_string(m, n, buf, strlen(buf));
    }
    }
    return FERRY_OK;
}

static int on_attribute(void *ud, const char *path, const ferry__h5_attr *a)
{
    h5_open_state *s = ud;
    ferry_model *m = s->m;
    size_t pl = strlen(path), kl = pl + (pl ? 1 : 0) + a->name_len;
    char *key = ferry__malloc(m->ctx, kl + 1);
    if (!key) return m->ctx->err_code;
    memcpy(key, path, pl);
    if (pl) key[pl] = '/';
    memcpy(key + pl + (pl ? 1 : 0), a->name, a->name_len);
    key[kl] = 0;
    ferry_meta *n = ferry__meta_append(m, m->meta, key, kl);
    ferry__free(m->ctx, key, kl + 1);
    if (!n) return m->ctx->err_code;
    if (a->ndim < 0) return FERRY_OK; /* null dataspace: a NULL value */
    if (a->ndim == 0) return attr_value(s, n, a, 0);
    ferry__meta_set_array(n, a->type.plain && a->type.dtype != FERRY_DTYPE_BYTES_FIXED
                                 ? a->type.dtype : FERRY_DTYPE_UNKNOWN);
    if (a->nelems > m->ctx->limits.metadata_items)
        return ferry__fail(m->ctx, FERRY_E_LIMIT, "%s: attribute \"%s\" has %llu elements",
                           ferry_source_name(m->src), a->name, (unsigned long long)a->nelems);
    FERRY_TRY(ferry__meta_reserve(m, n, (size_t)a->nelems));
    for (uint64_t i = 0; i < a->nelems; i++) {
        ferry_meta *e = ferry__meta_append(m, n, NULL, 0);
        if (!e) return m->ctx->err_code;
        FERRY_TRY(attr_value(s, e, a, i));
    }
    return FERRY_OK;
}

/* ============================================================================================
 * Datasets -> tensors
 * ========================================================================================== */

static int on_dataset(void *ud, const char *path, const ferry__h5_dataset *d)
{
    h5_open_state *s = ud;
    ferry_model *m = s->m;
    int64_t shape[FERRY__H5_MAX_RANK];
    for (int32_t i = 0; i < d->ndim; i++) shape[i] = (int64_t)d->dims[i];
    const ferry__h5_type *ty = &d->type;
    bool strings = ty->dtype == FERRY_DTYPE_BYTES_FIXED;
    ferry__tensor *t = ferry__model_add_tensor(m, path, strlen(path), ty->dtype, d->ndim, shape,
                                               strings ? ty->size : 0);
    if (!t) return m->ctx->err_code;
    h5_tpriv *p = ferry__arena_alloc(&m->arena, sizeof *p);
    t->native_dtype = ferry__arena_strndup(&m->arena, ty->native, strlen(ty->native));
    if (!p || !t->native_dtype) return m->ctx->err_code;
    p->d    = *d;
    p->path = t->name;
    t->priv = p;
    t->src  = ferry__source_ref(m->src);
    t->offset = d->data_off == UINT64_MAX ? 0 : d->data_off;
    if (!ty->plain || d->layout == FERRY__H5_VIRTUAL) {
        t->status = FERRY_TENSOR_NOT_PLAIN;
        if (ty->dtype == FERRY_DTYPE_OPAQUE) t->itemsize = ty->size;
        t->nbytes = 0;
        return FERRY_OK;
    }
    if (t->nbytes > (4ull << 30) && t->nbytes / 1000 > ferry_source_size(m->src))
        return ferry__fail_field(m->ctx, FERRY_E_LIMIT, m->src, path,
                                 "dataset declares %llu bytes in a file of %llu bytes",
                                 (unsigned long long)t->nbytes,
                                 (unsigned long long)ferry_source_size(m->src));
    if (ty->big_endian && ty->size > 1 && !strings)
        p->swap = ty->dtype == FERRY_DTYPE_C64 || ty->dtype == FERRY_DTYPE_C128 ? ty->size / 2
                                                                                : ty->size;
    if (d->layout != FERRY__H5_CHUNKED && d->data_off != UINT64_MAX && !p->swap)
        t->flags |= FERRY_TENSOR_ZERO_COPY;
    else
        t->flags |= FERRY_TENSOR_CONVERTED;
    return FERRY_OK;
}

/* ============================================================================================
 * Read slot
 * ========================================================================================== */

static int read_elems(ferry_model *m, const ferry__tensor *t, uint64_t first, uint64_t n,
                      uint8_t *dst)
{
    h5_tpriv *p = t->priv;
    h5_open_state *s = m->priv;
    FERRY_TRY(ferry__h5_read_elems(s->h, &p->d, p->path, &p->cache, first, n, dst));
    if (p->swap) ferry__byteswap(dst, p->swap, n * p->d.type.size / p->swap);
    return FERRY_OK;
}

static int h5_read(ferry_model *m, const ferry__tensor *t, uint64_t off, void *dst, size_t len)
{
    h5_tpriv *p = t->priv;
    if (!p || !m->priv)
        return ferry__fail(m->ctx, FERRY_E_NOTPLAIN, "tensor \"%s\" has no data", t->name);
    const uint64_t E = p->d.type.size;
    uint8_t *o = dst;
    uint64_t head = off % E;
    uint8_t *tmp = NULL;
    int rc = FERRY_OK;
    if (head || len % E) {
        tmp = ferry__malloc(m->ctx, (size_t)E);
        if (!tmp) return m->ctx->err_code;
    }
    if (head) {
        rc = read_elems(m, t, off / E, 1, tmp);
        size_t k = E - head < len ? (size_t)(E - head) : len;
        if (rc == 0) memcpy(o, tmp + head, k);
        o += k;
        off += k;
        len -= k;
    }
    uint64_t mid = len / E;
    if (rc == 0 && mid) {
        rc = read_elems(m, t, off / E, mid, o);
        o += mid * E;
        off += mid * E;
        len -= (size_t)(mid * E);
    }
    if (rc == 0 && len) {
        rc = read_elems(m, t, off / E, 1, tmp);
        if (rc == 0) memcpy(o, tmp, len);
    }
    if (tmp) ferry__free(m->ctx, tmp, (size_t)E);
    return rc;
}

/* ============================================================================================
 * Opening and detection
 * ========================================================================================== */

static void h5_priv_free(ferry_model *m)
{
    h5_open_state *s = m->priv;
    if (!s) return;
    for (int64_t i = 0; i < m->n_tensors; i++) {
        h5_tpriv *p = m->tensors[i].priv;
        if (p && p->cache) ferry__h5_chunks_free(s->h, p->cache);
        if (p) p->cache = NULL;
    }
    ferry__h5_close(s->h);
    ferry__free(m->ctx, s, sizeof *s);
    m->priv = NULL;
}

static int h5_open(ferry_model *m, ferry_source *src)
{
    h5_open_state *s = ferry__calloc(m->ctx, 1, sizeof *s);
    if (!s) return m->ctx->err_code;
    s->m         = m;
    m->priv      = s;
    m->priv_free = h5_priv_free;
    FERRY_TRY(ferry__h5_open(m->ctx, src, &s->h));
    snprintf(m->version, sizeof m->version, "%d", ferry__h5_version(s->h));
    ferry__h5_visitor v = {s, on_dataset, on_attribute, on_note};
    return ferry__h5_walk(s->h, &v);
}

static int h5_bid(const ferry__probe *p)
{
    /* The signature at 0, or at 512, 1024, 2048, ... after a user block (MATLAB v7.3 files
     * have 512 bytes; anything up to 1 MiB is checked). */
    for (uint64_t o = 0; o + 8 <= p->size && o <= (1u << 20); o = o ? o * 2 : 512) {
        uint8_t sig[8];
        if (o + 8 <= p->head_len)
            memcpy(sig, p->head + o, 8);
        else if (!p->src || ferry_source_read(p->src, o, sig, 8) != 0)
            return 0;
        if (ferry__h5_magic(sig, 8)) return 64;
    }
    return 0;
}

const ferry_format_ops ferry__format_hdf5 = {
    .name        = "hdf5",
    .description = "HDF5 (h5py files, Keras .h5 models and .weights.h5)",
    .extensions  = ".h5,.hdf5,.weights.h5",
    .caps        = FERRY_CAP_READ | FERRY_CAP_MAY_HOLD_CODE,
    .bid         = h5_bid,
    .open        = h5_open,
    .read        = h5_read,
};
