/*
 * meta.c -- the typed metadata tree.
 *
 * Nodes live in the owning model's arena. A node remembers the exact stored scalar type
 * (numtype) so that a GGUF UINT32 read from one file is written back as UINT32, not as a
 * generic integer: llama.cpp checks the stored type of the keys it reads. Containers grow by
 * doubling inside the arena (the old copy is simply abandoned: arena memory is freed with the
 * model), and every node counts against limits.metadata_items.
 */
#include "internal.h"

static int count_item(ferry_model *m)
{
    if (++m->meta_items > m->ctx->limits.metadata_items)
        return ferry__fail(m->ctx, FERRY_E_LIMIT, "more than %llu metadata items (limit "
                           "metadata_items)", (unsigned long long)m->ctx->limits.metadata_items);
    return FERRY_OK;
}

ferry_meta *ferry__meta_new_map(ferry_model *m)
{
    if (count_item(m)) return NULL;
    ferry_meta *n = ferry__arena_alloc(&m->arena, sizeof *n);
    if (n) n->kind = FERRY_META_MAP;
    return n;
}

int ferry__meta_reserve(ferry_model *m, ferry_meta *p, size_t extra)
{
    if (p->kind != FERRY_META_ARRAY && p->kind != FERRY_META_MAP)
        return ferry__fail(m->ctx, FERRY_E_ARG, "metadata node is not a container");
    if (extra <= p->v.c.cap - p->v.c.n) return FERRY_OK;
    size_t need = p->v.c.n + extra;
    if (need < p->v.c.n || need > SIZE_MAX / sizeof(ferry_meta) / 2)
        return ferry__fail(m->ctx, FERRY_E_LIMIT, "metadata container too large");
    size_t cap = p->v.c.cap ? p->v.c.cap : 4;
    while (cap < need) cap *= 2;
    ferry_meta *items = ferry__arena_alloc_uninit(&m->arena, sizeof *items * cap);
    if (!items) return m->ctx->err_code;
    if (p->v.c.n) memcpy(items, p->v.c.items, sizeof *items * p->v.c.n);
    p->v.c.items = items;
    if (p->kind == FERRY_META_MAP) {
        char **keys = ferry__arena_alloc_uninit(&m->arena, sizeof *keys * cap);
        if (!keys) return m->ctx->err_code;
        if (p->v.c.n) memcpy(keys, p->v.c.keys, sizeof *keys * p->v.c.n);
        p->v.c.keys = keys;
    }
    p->v.c.cap = cap;
    return FERRY_OK;
}

ferry_meta *ferry__meta_append(ferry_model *m, ferry_meta *p, const char *key, size_t keylen)
{
    if (count_item(m)) return NULL;
    if (ferry__meta_reserve(m, p, 1)) return NULL;
    if (p->kind == FERRY_META_MAP) {
        char *k = ferry__arena_strndup(&m->arena, key ? key : "", key ? keylen : 0);
        if (!k) return NULL;
        p->v.c.keys[p->v.c.n] = k;
    }
    ferry_meta *n = &p->v.c.items[p->v.c.n++];
    memset(n, 0, sizeof *n);
    return n;
}

void ferry__meta_set_bool(ferry_meta *n, bool v)
{
    n->kind    = FERRY_META_BOOL;
    n->numtype = FERRY_DTYPE_BOOL;
    n->v.i     = v ? 1 : 0;
}

void ferry__meta_set_int(ferry_meta *n, int64_t v, ferry_dtype numtype)
{
    n->kind    = FERRY_META_INT;
    n->numtype = (uint16_t)numtype;
    n->v.i     = v;
}

void ferry__meta_set_uint(ferry_meta *n, uint64_t v, ferry_dtype numtype)
{
    n->kind    = FERRY_META_UINT;
    n->numtype = (uint16_t)numtype;
    n->v.u     = v;
}

void ferry__meta_set_float(ferry_meta *n, double v, ferry_dtype numtype)
{
    n->kind    = FERRY_META_FLOAT;
    n->numtype = (uint16_t)numtype;
    n->v.f     = v;
}

int ferry__meta_set_string(ferry_model *m, ferry_meta *n, const char *s, size_t len)
{
    if (len > m->ctx->limits.string_length)
        return ferry__fail(m->ctx, FERRY_E_LIMIT, "string of %zu bytes exceeds the limit "
                           "string_length", len);
    char *p = ferry__arena_strndup(&m->arena, s, len);
    if (!p) return m->ctx->err_code;
    n->kind    = FERRY_META_STRING;
    n->numtype = FERRY_DTYPE_STRING;
    n->v.s.p   = p;
    n->v.s.n   = len;
    return FERRY_OK;
}

int ferry__meta_set_bytes(ferry_model *m, ferry_meta *n, const void *s, size_t len)
{
    FERRY_TRY(ferry__meta_set_string(m, n, s, len));
    n->kind    = FERRY_META_BYTES;
    n->numtype = FERRY_DTYPE_U8;
    return FERRY_OK;
}

void ferry__meta_set_array(ferry_meta *n, ferry_dtype elemtype)
{
    memset(n, 0, sizeof *n);
    n->kind    = FERRY_META_ARRAY;
    n->numtype = (uint16_t)elemtype;
}

void ferry__meta_set_map(ferry_meta *n)
{
    memset(n, 0, sizeof *n);
    n->kind = FERRY_META_MAP;
}

/* ============================================================================================
 * Public accessors
 * ========================================================================================== */

ferry_meta_kind ferry_meta_kind_of(const ferry_meta *m)
{
    return m ? (ferry_meta_kind)m->kind : FERRY_META_NULL;
}

ferry_dtype ferry_meta_numtype(const ferry_meta *m) { return m ? (ferry_dtype)m->numtype : 0; }

int64_t ferry_meta_count(const ferry_meta *m)
{
    if (!m || (m->kind != FERRY_META_ARRAY && m->kind != FERRY_META_MAP)) return 0;
    return (int64_t)m->v.c.n;
}

const ferry_meta *ferry_meta_at(const ferry_meta *m, int64_t i)
{
    if (i < 0 || i >= ferry_meta_count(m)) return NULL;
    return &m->v.c.items[i];
}

const char *ferry_meta_key_at(const ferry_meta *m, int64_t i)
{
    if (!m || m->kind != FERRY_META_MAP || i < 0 || (uint64_t)i >= m->v.c.n) return NULL;
    return m->v.c.keys[i];
}

const ferry_meta *ferry_meta_get(const ferry_meta *m, const char *key)
{
    if (!m || !key || m->kind != FERRY_META_MAP) return NULL;
    for (size_t i = m->v.c.n; i-- > 0;)
        if (strcmp(m->v.c.keys[i], key) == 0) return &m->v.c.items[i];
    return NULL;
}

int ferry_meta_bool(const ferry_meta *m) { return ferry_meta_int(m) != 0; }

int64_t ferry_meta_int(const ferry_meta *m)
{
    if (!m) return 0;
    switch (m->kind) {
    case FERRY_META_BOOL:
    case FERRY_META_INT: return m->v.i;
    case FERRY_META_UINT: return (int64_t)m->v.u;
    case FERRY_META_FLOAT:
        if (!(m->v.f == m->v.f)) return 0;
        if (m->v.f >= 9.2233720368547758e18) return INT64_MAX;
        if (m->v.f <= -9.2233720368547758e18) return INT64_MIN;
        return (int64_t)m->v.f;
    default: return 0;
    }
}

uint64_t ferry_meta_uint(const ferry_meta *m)
{
    if (m && m->kind == FERRY_META_FLOAT) {
        if (!(m->v.f > 0)) return 0;
        if (m->v.f >= 1.8446744073709552e19) return UINT64_MAX;
        return (uint64_t)m->v.f;
    }
    return (uint64_t)ferry_meta_int(m);
}

double ferry_meta_float(const ferry_meta *m)
{
    if (!m) return 0;
    switch (m->kind) {
    case FERRY_META_FLOAT: return m->v.f;
    case FERRY_META_UINT: return (double)m->v.u;
    case FERRY_META_BOOL:
    case FERRY_META_INT: return (double)m->v.i;
    default: return 0;
    }
}

const char *ferry_meta_string(const ferry_meta *m, size_t *len)
{
    if (!m || (m->kind != FERRY_META_STRING && m->kind != FERRY_META_BYTES)) {
        if (len) *len = 0;
        return NULL;
    }
    if (len) *len = m->v.s.n;
    return m->v.s.p;
}
