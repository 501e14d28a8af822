/*
 * model.c -- the neutral model: tensor table, typed metadata tree, optional graph, and the
 * accessors that hand out tensor bytes (zero-copy from the map when the layout allows,
 * otherwise materialised through the format's read slot).
 *
 * Everything a model owns lives in its arena and is freed at once on close; the only other
 * resources are source references (the main source, one per tensor, and shards).
 */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>

/* ============================================================================================
 * Lifetime
 * ========================================================================================== */

int ferry__model_create(ferry_ctx *ctx, ferry_model **out)
{
    *out = NULL;
    ferry_model *m = ferry__calloc(ctx, 1, sizeof *m);
    if (!m) return ctx->err_code;
    m->ctx = ctx;
    ferry__arena_init(&m->arena, ctx);
    m->meta = ferry__meta_new_map(m);
    if (!m->meta) {
        ferry_model_close(m);
        return ctx->err_code;
    }
    *out = m;
    return FERRY_OK;
}

int ferry_model_new(ferry_ctx *ctx, ferry_model **out)
{
    if (!ctx || !out) return FERRY_E_ARG;
    return ferry__model_create(ctx, out);
}

void ferry_model_close(ferry_model *m)
{
    if (!m) return;
    ferry_ctx *ctx = m->ctx;
    if (m->priv_free) m->priv_free(m);
    for (int64_t i = 0; i < m->n_tensors; i++) ferry_source_close(m->tensors[i].src);
    for (int i = 0; i < m->n_extra_srcs; i++) ferry_source_close(m->extra_srcs[i]);
    ferry__free(ctx, m->extra_srcs, 0);
    ferry__free(ctx, m->tensors, 0);
    ferry__free(ctx, m->hash, 0);
    ferry__free(ctx, m->nodes, 0);
    ferry_source_close(m->src);
    ferry__arena_free(&m->arena);
    ferry__free(ctx, m, sizeof *m);
}

int ferry__model_keep_source(ferry_model *m, ferry_source *src)
{
    ferry_source **n = ferry__realloc(m->ctx, m->extra_srcs, 0,
                                      sizeof *n * (size_t)(m->n_extra_srcs + 1));
    if (!n) return m->ctx->err_code;
    m->extra_srcs = n;
    m->extra_srcs[m->n_extra_srcs++] = ferry__source_ref(src);
    return FERRY_OK;
}

const char *ferry_model_format(const ferry_model *m)
{
    return m ? (m->fmt ? m->fmt->name : "memory") : "";
}

const char *ferry_model_format_version(const ferry_model *m) { return m ? m->version : ""; }

/* ============================================================================================
 * Tensors
 * ========================================================================================== */

ferry__tensor *ferry__model_add_tensor(ferry_model *m, const char *name, size_t namelen,
                                       ferry_dtype dt, int32_t ndim, const int64_t *shape,
                                       uint32_t itemsize)
{
    ferry_ctx *ctx = m->ctx;
    if ((uint64_t)m->n_tensors >= ctx->limits.tensor_count) {
        ferry__fail(ctx, FERRY_E_LIMIT, "more than %llu tensors (limit tensor_count)",
                    (unsigned long long)ctx->limits.tensor_count);
        return NULL;
    }
    if (ndim < 0 || (uint32_t)ndim > ctx->limits.dims) {
        ferry__fail(ctx, FERRY_E_LIMIT, "tensor \"%.*s\": %d dimensions (limit dims = %u)",
                    (int)(namelen > 200 ? 200 : namelen), name, (int)ndim, ctx->limits.dims);
        return NULL;
    }
    uint64_t nel = 1;
    for (int32_t i = 0; i < ndim; i++) {
        if (shape[i] < 0) {
            ferry__fail(ctx, FERRY_E_CORRUPT, "tensor \"%.*s\": negative dimension %lld",
                        (int)(namelen > 200 ? 200 : namelen), name, (long long)shape[i]);
            return NULL;
        }
        if (ferry__mul_overflow(nel, (uint64_t)shape[i], &nel) || nel > (uint64_t)INT64_MAX) {
            ferry__fail(ctx, FERRY_E_CORRUPT, "tensor \"%.*s\": element count overflows",
                        (int)(namelen > 200 ? 200 : namelen), name);
            return NULL;
        }
    }
    uint64_t nbytes = 0;
    const ferry__dtype_desc *d = ferry__dtype(dt);
    if (d && d->block_size > 1 && ferry_dtype_is_block(dt) && ndim > 0 &&
        (uint64_t)shape[ndim - 1] % d->block_size != 0) {
        ferry__fail(ctx, FERRY_E_CORRUPT,
                    "tensor \"%.*s\": innermost dimension %lld is not a multiple of the %s "
                    "block size %u", (int)(namelen > 200 ? 200 : namelen), name,
                    (long long)shape[ndim - 1], d->name, d->block_size);
        return NULL;
    }
    if (d && (d->block_bytes || itemsize) && !ferry__dtype_nbytes(dt, nel, itemsize, &nbytes)) {
        ferry__fail(ctx, FERRY_E_CORRUPT,
                    "tensor \"%.*s\": %llu elements of %s do not form whole bytes/blocks or "
                    "overflow", (int)(namelen > 200 ? 200 : namelen), name,
                    (unsigned long long)nel, d->name);
        return NULL;
    }
    if (m->n_tensors == m->cap_tensors) {
        int64_t nc = m->cap_tensors ? m->cap_tensors * 2 : 16;
        ferry__tensor *nt = ferry__realloc(ctx, m->tensors, 0, sizeof *nt * (size_t)nc);
        if (!nt) return NULL;
        m->tensors     = nt;
        m->cap_tensors = nc;
    }
    ferry__tensor *t = &m->tensors[m->n_tensors];
    memset(t, 0, sizeof *t);
    t->name  = ferry__arena_strndup(&m->arena, name, namelen);
    t->shape = ferry__arena_alloc(&m->arena, sizeof(int64_t) * (size_t)(ndim ? ndim : 1));
    if (!t->name || !t->shape) return NULL;
    if (ndim) memcpy(t->shape, shape, sizeof(int64_t) * (size_t)ndim);
    t->dtype    = dt;
    t->ndim     = ndim;
    t->nelems   = nel;
    t->nbytes   = nbytes;
    t->itemsize = itemsize;
    t->status   = (d && (d->block_bytes || itemsize)) ? FERRY_TENSOR_PLAIN
                                                      : FERRY_TENSOR_NOT_PLAIN;
    if (dt == FERRY_DTYPE_UNKNOWN) t->status = FERRY_TENSOR_UNKNOWN_DTYPE;
    m->n_tensors++;
    m->hash_cap = 0; /* invalidate the name index */
    return t;
}

int64_t ferry_model_tensor_count(const ferry_model *m) { return m ? m->n_tensors : 0; }

int ferry_model_tensor_info(const ferry_model *m, int64_t i, ferry_tensor_info *out)
{
    if (!m || !out || out->struct_size < sizeof(ferry_tensor_info) || i < 0 ||
        i >= m->n_tensors)
        return FERRY_E_ARG;
    const ferry__tensor *t = &m->tensors[i];
    memset(out, 0, sizeof *out);
    out->struct_size  = sizeof *out;
    out->name         = t->name;
    out->dtype        = t->dtype;
    out->ndim         = t->ndim;
    out->shape        = t->shape;
    out->nelems       = t->nelems;
    out->nbytes       = t->nbytes;
    out->itemsize     = t->itemsize;
    out->status       = t->status;
    out->flags        = t->flags;
    out->native_dtype = t->native_dtype ? t->native_dtype : ferry_dtype_name(t->dtype);
    out->file_offset  = -1;
    out->file         = NULL;
    if (t->src) {
        const ferry_source *root;
        out->file_offset = (int64_t)ferry__source_abs_offset(t->src, t->offset, &root);
        out->file        = root->path ? root->path : root->name;
    }
    return FERRY_OK;
}

static uint64_t hash_name(const char *s)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return h;
}

int64_t ferry_model_find_tensor(const ferry_model *cm, const char *name)
{
    if (!cm || !name) return -1;
    ferry_model *m = (ferry_model *)cm; /* the index is a cache */
    if (m->n_tensors < 8) {
        for (int64_t i = 0; i < m->n_tensors; i++)
            if (strcmp(m->tensors[i].name, name) == 0) return i;
        return -1;
    }
    if (m->hash_cap == 0) {
        uint64_t cap = 16;
        while (cap < (uint64_t)m->n_tensors * 2) cap *= 2;
        ferry__free(m->ctx, m->hash, 0);
        m->hash = ferry__malloc(m->ctx, sizeof(int64_t) * cap);
        if (!m->hash) {
            for (int64_t i = 0; i < m->n_tensors; i++)
                if (strcmp(m->tensors[i].name, name) == 0) return i;
            return -1;
        }
        for (uint64_t k = 0; k < cap; k++) m->hash[k] = -1;
        for (int64_t i = 0; i < m->n_tensors; i++) {
            uint64_t h = hash_name(m->tensors[i].name) & (cap - 1);
            while (m->hash[h] >= 0) h = (h + 1) & (cap - 1);
            m->hash[h] = i;
        }
        m->hash_cap = cap;
    }
    uint64_t h = hash_name(name) & (m->hash_cap - 1);
    while (m->hash[h] >= 0) {
        /* First match in table order wins: entries were inserted by increasing index. */
        if (strcmp(m->tensors[m->hash[h]].name, name) == 0) return m->hash[h];
        h = (h + 1) & (m->hash_cap - 1);
    }
    return -1;
}

static int check_index(ferry_model *m, int64_t i)
{
    if (!m || i < 0 || i >= m->n_tensors)
        return m ? ferry__fail(m->ctx, FERRY_E_ARG, "tensor index %lld out of range",
                               (long long)i)
                 : FERRY_E_ARG;
    const ferry__tensor *t = &m->tensors[i];
    if (t->status != FERRY_TENSOR_PLAIN)
        return ferry__fail(m->ctx, FERRY_E_NOTPLAIN,
                           "tensor \"%s\" (%s) has no plain byte representation", t->name,
                           t->native_dtype ? t->native_dtype : ferry_dtype_name(t->dtype));
    return FERRY_OK;
}

int ferry_tensor_data(ferry_model *m, int64_t i, const void **ptr)
{
    if (!ptr) return FERRY_E_ARG;
    *ptr = NULL;
    FERRY_TRY(check_index(m, i));
    const ferry__tensor *t = &m->tensors[i];
    if (t->mem) {
        *ptr = t->mem;
        return FERRY_OK;
    }
    if (!(t->flags & FERRY_TENSOR_ZERO_COPY) || !t->src)
        return ferry__fail(m->ctx, FERRY_E_UNSUPPORTED,
                           "tensor \"%s\" is not stored in its neutral layout; read it instead",
                           t->name);
    if (t->nbytes == 0) {
        static const uint64_t empty = 0;
        *ptr = &empty;
        return FERRY_OK;
    }
    const void *p = ferry_source_map(t->src, t->offset, t->nbytes);
    if (!p)
        return ferry__fail(m->ctx, FERRY_E_UNSUPPORTED, "tensor \"%s\" is not mapped", t->name);
    *ptr = p;
    return FERRY_OK;
}

int ferry_tensor_read(ferry_model *m, int64_t i, uint64_t offset, void *dst, size_t len)
{
    FERRY_TRY(check_index(m, i));
    const ferry__tensor *t = &m->tensors[i];
    uint64_t end;
    if (ferry__add_overflow(offset, len, &end) || end > t->nbytes)
        return ferry__fail(m->ctx, FERRY_E_ARG,
                           "read of %zu bytes at %llu leaves tensor \"%s\" (%llu bytes)", len,
                           (unsigned long long)offset, t->name, (unsigned long long)t->nbytes);
    if (len == 0) return FERRY_OK;
    if (t->mem) {
        memcpy(dst, (const uint8_t *)t->mem + offset, len);
        return FERRY_OK;
    }
    if (!(t->flags & FERRY_TENSOR_ZERO_COPY) && m->fmt && m->fmt->read)
        return m->fmt->read(m, t, offset, dst, len);
    if (!t->src) return ferry__fail(m->ctx, FERRY_E_NOTPLAIN, "tensor \"%s\" has no data", t->name);
    return ferry_source_read(t->src, t->offset + offset, dst, len);
}

int ferry_tensor_read_as(ferry_model *m, int64_t i, uint64_t first, uint64_t n, ferry_dtype dt,
                         void *dst)
{
    FERRY_TRY(check_index(m, i));
    const ferry__tensor *t = &m->tensors[i];
    uint64_t end;
    if (ferry__add_overflow(first, n, &end) || end > t->nelems)
        return ferry__fail(m->ctx, FERRY_E_ARG, "element range leaves tensor \"%s\"", t->name);
    uint32_t bs = ferry_dtype_block_size(t->dtype);
    uint32_t bb = ferry_dtype_block_bytes(t->dtype);
    if (bs == 0 || first % bs || n % bs)
        return ferry__fail(m->ctx, FERRY_E_ARG,
                           "tensor \"%s\": element range must be whole %u-element blocks",
                           t->name, bs);
    if (dt == t->dtype) return ferry_tensor_read(m, i, first / bs * bb, dst, (size_t)(n / bs * bb));
    /* Convert in chunks through a bounded scratch buffer. */
    const uint64_t chunk_blocks = (1u << 20) / bb + 1;
    uint64_t blocks = n / bs, b0 = first / bs;
    uint8_t *scratch = ferry__malloc(m->ctx, (size_t)(chunk_blocks * bb));
    if (!scratch) return m->ctx->err_code;
    uint32_t obits = ferry_dtype_bits(dt);
    uint32_t obs = ferry_dtype_block_size(dt), obb = ferry_dtype_block_bytes(dt);
    int rc = FERRY_OK;
    uint64_t done = 0;
    while (done < blocks && rc == 0) {
        uint64_t k = blocks - done < chunk_blocks ? blocks - done : chunk_blocks;
        rc = ferry_tensor_read(m, i, (b0 + done) * bb, scratch, (size_t)(k * bb));
        if (rc) break;
        uint64_t e0 = done * bs;
        uint8_t *o = (uint8_t *)dst + (obs ? e0 / obs * obb : e0 * obits / 8);
        rc = ferry_convert_elems(t->dtype, scratch, dt, o, k * bs);
        if (rc)
            rc = ferry__fail(m->ctx, rc, "tensor \"%s\": cannot convert %s to %s", t->name,
                             ferry_dtype_name(t->dtype), ferry_dtype_name(dt));
        done += k;
    }
    ferry__free(m->ctx, scratch, 0);
    return rc;
}

/* ============================================================================================
 * In-memory building
 * ========================================================================================== */

int ferry_model_add_tensor(ferry_model *m, const char *name, ferry_dtype dt, int32_t ndim,
                           const int64_t *shape, const void *data)
{
    if (!m || !name || (ndim && !shape)) return FERRY_E_ARG;
    if (ferry_model_find_tensor(m, name) >= 0)
        return ferry__fail(m->ctx, FERRY_E_ARG, "duplicate tensor name \"%s\"", name);
    ferry__tensor *t = ferry__model_add_tensor(m, name, strlen(name), dt, ndim, shape, 0);
    if (!t) return m->ctx->err_code;
    if (t->status != FERRY_TENSOR_PLAIN) {
        m->n_tensors--;
        return ferry__fail(m->ctx, FERRY_E_ARG, "dtype %s has no fixed layout",
                           ferry_dtype_name(dt));
    }
    if (!data && t->nbytes) {
        m->n_tensors--;
        return ferry__fail(m->ctx, FERRY_E_ARG, "tensor \"%s\": no data", name);
    }
    t->mem = data;
    t->flags |= FERRY_TENSOR_ZERO_COPY;
    return FERRY_OK;
}

static ferry_meta *set_top(ferry_model *m, const char *key)
{
    ferry_meta *root = m->meta;
    for (size_t i = 0; i < root->v.c.n; i++)
        if (strcmp(root->v.c.keys[i], key) == 0) return &root->v.c.items[i];
    return ferry__meta_append(m, root, key, strlen(key));
}

int ferry_model_set_meta_string(ferry_model *m, const char *key, const char *value)
{
    if (!m || !key || !value) return FERRY_E_ARG;
    ferry_meta *n = set_top(m, key);
    if (!n) return m->ctx->err_code;
    return ferry__meta_set_string(m, n, value, strlen(value));
}

int ferry_model_set_meta_int(ferry_model *m, const char *key, int64_t v, ferry_dtype numtype)
{
    if (!m || !key) return FERRY_E_ARG;
    ferry_meta *n = set_top(m, key);
    if (!n) return m->ctx->err_code;
    switch (numtype) {
    case FERRY_DTYPE_U8: case FERRY_DTYPE_U16: case FERRY_DTYPE_U32: case FERRY_DTYPE_U64:
        ferry__meta_set_uint(n, (uint64_t)v, numtype);
        break;
    case FERRY_DTYPE_BOOL: ferry__meta_set_bool(n, v != 0); break;
    default: ferry__meta_set_int(n, v, numtype ? numtype : FERRY_DTYPE_I64); break;
    }
    return FERRY_OK;
}

int ferry_model_set_meta_float(ferry_model *m, const char *key, double v, ferry_dtype numtype)
{
    if (!m || !key) return FERRY_E_ARG;
    ferry_meta *n = set_top(m, key);
    if (!n) return m->ctx->err_code;
    ferry__meta_set_float(n, v, numtype ? numtype : FERRY_DTYPE_F64);
    return FERRY_OK;
}

/* ============================================================================================
 * Graph
 * ========================================================================================== */

static char **copy_strv(ferry_model *m, int64_t n, const char *const *v)
{
    char **out = ferry__arena_alloc(&m->arena, sizeof(char *) * (size_t)(n ? n : 1));
    if (!out) return NULL;
    for (int64_t i = 0; i < n; i++) {
        out[i] = ferry__arena_strndup(&m->arena, v[i] ? v[i] : "", v[i] ? strlen(v[i]) : 0);
        if (!out[i]) return NULL;
    }
    return out;
}

int ferry__model_add_node(ferry_model *m, const char *name, const char *op_type, int64_t n_in,
                          const char *const *in, int64_t n_out, const char *const *out,
                          ferry_meta **attrs_out)
{
    if ((m->n_nodes & (m->n_nodes - 1)) == 0) { /* grow at powers of two */
        int64_t nc = m->n_nodes ? m->n_nodes * 2 : 16;
        if (nc < 16) nc = 16;
        ferry__node *nn = ferry__realloc(m->ctx, m->nodes, 0, sizeof *nn * (size_t)nc);
        if (!nn) return m->ctx->err_code;
        m->nodes = nn;
    }
    ferry__node *n = &m->nodes[m->n_nodes];
    memset(n, 0, sizeof *n);
    n->name    = ferry__arena_strndup(&m->arena, name ? name : "", name ? strlen(name) : 0);
    n->op_type = ferry__arena_strndup(&m->arena, op_type ? op_type : "",
                                      op_type ? strlen(op_type) : 0);
    n->inputs  = copy_strv(m, n_in, in);
    n->outputs = copy_strv(m, n_out, out);
    n->attrs   = ferry__meta_new_map(m);
    if (!n->name || !n->op_type || !n->inputs || !n->outputs || !n->attrs) return m->ctx->err_code;
    n->n_inputs  = n_in;
    n->n_outputs = n_out;
    m->n_nodes++;
    if (attrs_out) *attrs_out = n->attrs;
    return FERRY_OK;
}

int64_t ferry_model_graph_node_count(const ferry_model *m) { return m ? m->n_nodes : 0; }

int ferry_model_graph_node(const ferry_model *m, int64_t i, const char **name,
                           const char **op_type, int64_t *n_inputs, const char *const **inputs,
                           int64_t *n_outputs, const char *const **outputs,
                           const ferry_meta **attrs)
{
    if (!m || i < 0 || i >= m->n_nodes) return FERRY_E_ARG;
    const ferry__node *n = &m->nodes[i];
    if (name) *name = n->name;
    if (op_type) *op_type = n->op_type;
    if (n_inputs) *n_inputs = n->n_inputs;
    if (inputs) *inputs = (const char *const *)n->inputs;
    if (n_outputs) *n_outputs = n->n_outputs;
    if (outputs) *outputs = (const char *const *)n->outputs;
    if (attrs) *attrs = n->attrs;
    return FERRY_OK;
}

const ferry_meta *ferry_model_metadata(const ferry_model *m) { return m ? m->meta : NULL; }
