/*
 * ctx.c -- contexts: limits, the allocator hook, the sticky last error, logging, and the
 * arena that models allocate from.
 *
 * Every allocation of the library goes through ferry__malloc/realloc/free so that (a) a
 * caller's allocator sees it, (b) tests can fail the N-th allocation, and (c) the total is
 * capped by limits.total_alloc: a hostile size field can never make us allocate more than
 * the caller allowed, whatever checks a format module forgot.
 */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>

/* ============================================================================================
 * Defaults
 * ========================================================================================== */

static const ferry_limits default_limits = {
    .struct_size    = sizeof(ferry_limits),
    .header_bytes   = 256u << 20,
    .tensor_count   = 10000000,
    .dims           = 64,
    .string_length  = 1u << 30,
    .metadata_depth = 64,
    .metadata_items = 1u << 28,
    .total_alloc    = (uint64_t)8 << 30,
};

static void *std_realloc(void *ud, void *p, size_t n)
{
    (void)ud;
    return realloc(p, n ? n : 1);
}

static void std_free(void *ud, void *p)
{
    (void)ud;
    free(p);
}

const char *ferry_version(void) { return FERRY_VERSION_STRING; }

const char *ferry_status_name(int status)
{
    switch (status) {
    case FERRY_OK: return "ok";
    case FERRY_E_IO: return "I/O error";
    case FERRY_E_CORRUPT: return "corrupt input";
    case FERRY_E_UNSUPPORTED: return "unsupported feature";
    case FERRY_E_LIMIT: return "limit exceeded";
    case FERRY_E_NOMEM: return "out of memory";
    case FERRY_E_ARG: return "invalid argument";
    case FERRY_E_NOTFOUND: return "not found";
    case FERRY_E_NOTPLAIN: return "not a plain tensor";
    case FERRY_E_UNKNOWN_FORMAT: return "unknown format";
    case FERRY_E_DTYPE: return "unsupported dtype conversion";
    default: return "unknown status";
    }
}

/* ============================================================================================
 * Context
 * ========================================================================================== */

ferry_ctx *ferry_ctx_new(const ferry_allocator *alloc)
{
    ferry_allocator a = {std_realloc, std_free, NULL};
    if (alloc && alloc->realloc_fn && alloc->free_fn) a = *alloc;
    ferry_ctx *ctx = a.realloc_fn(a.ud, NULL, sizeof *ctx);
    if (!ctx) return NULL;
    memset(ctx, 0, sizeof *ctx);
    ctx->alloc  = a;
    ctx->limits = default_limits;
    return ctx;
}

void ferry_ctx_free(ferry_ctx *ctx)
{
    if (!ctx) return;
    ctx->alloc.free_fn(ctx->alloc.ud, ctx);
}

int ferry_ctx_get_limits(const ferry_ctx *ctx, ferry_limits *out)
{
    if (!ctx || !out || out->struct_size < sizeof(ferry_limits)) return FERRY_E_ARG;
    *out = ctx->limits;
    return FERRY_OK;
}

int ferry_ctx_set_limits(ferry_ctx *ctx, const ferry_limits *lim)
{
    if (!ctx || !lim || lim->struct_size < sizeof(ferry_limits)) return FERRY_E_ARG;
#define KEEP(f) if (lim->f) ctx->limits.f = lim->f
    KEEP(header_bytes);
    KEEP(tensor_count);
    KEEP(dims);
    KEEP(string_length);
    KEEP(metadata_depth);
    KEEP(metadata_items);
    KEEP(total_alloc);
#undef KEEP
    return FERRY_OK;
}

void ferry_ctx_set_log(ferry_ctx *ctx, ferry_log_fn fn, void *ud)
{
    if (!ctx) return;
    ctx->log_fn = fn;
    ctx->log_ud = ud;
}

const char *ferry_ctx_error(const ferry_ctx *ctx) { return ctx ? ctx->err : ""; }
int ferry_ctx_error_code(const ferry_ctx *ctx) { return ctx ? ctx->err_code : FERRY_E_ARG; }

void ferry_ctx_clear_error(ferry_ctx *ctx)
{
    if (!ctx) return;
    ctx->err[0]   = 0;
    ctx->err_code = 0;
}

/* ============================================================================================
 * Errors and logging
 * ========================================================================================== */

/* Replaces control characters so that a message stays one printable line whatever bytes a
 * hostile file put into a name. */
static void sanitize_line(char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f) *s = '?';
}

static int vfail(ferry_ctx *ctx, int code, const char *prefix, const char *fmt, va_list ap)
{
    if (!ctx) return code;
    size_t n = 0;
    if (prefix) {
        int k = snprintf(ctx->err, sizeof ctx->err, "%s", prefix);
        n = k < 0 ? 0 : (size_t)k < sizeof ctx->err ? (size_t)k : sizeof ctx->err - 1;
    }
    vsnprintf(ctx->err + n, sizeof ctx->err - n, fmt, ap);
    sanitize_line(ctx->err);
    ctx->err_code = code;
    return code;
}

int ferry__fail(ferry_ctx *ctx, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail(ctx, code, NULL, fmt, ap);
    va_end(ap);
    return code;
}

int ferry__fail_at(ferry_ctx *ctx, int code, const ferry_source *src, uint64_t off,
                   const char *fmt, ...)
{
    char prefix[600];
    const ferry_source *root = NULL;
    uint64_t abs = src ? ferry__source_abs_offset(src, off, &root) : off;
    if (src && root != src)
        snprintf(prefix, sizeof prefix, "%s: %s: offset %llu: ", root->name, src->name,
                 (unsigned long long)off);
    else
        snprintf(prefix, sizeof prefix, "%s: offset %llu: ", src ? src->name : "(input)",
                 (unsigned long long)abs);
    va_list ap;
    va_start(ap, fmt);
    vfail(ctx, code, prefix, fmt, ap);
    va_end(ap);
    return code;
}

int ferry__fail_field(ferry_ctx *ctx, int code, const ferry_source *src, const char *field,
                      const char *fmt, ...)
{
    char prefix[600];
    const ferry_source *root = NULL;
    if (src) ferry__source_abs_offset(src, 0, &root);
    if (src && root != src)
        snprintf(prefix, sizeof prefix, "%s: %s: %s: ", root->name, src->name, field);
    else
        snprintf(prefix, sizeof prefix, "%s: %s: ", src ? src->name : "(input)", field);
    va_list ap;
    va_start(ap, fmt);
    vfail(ctx, code, prefix, fmt, ap);
    va_end(ap);
    return code;
}

void ferry__log(ferry_ctx *ctx, int level, const char *fmt, ...)
{
    if (!ctx || !ctx->log_fn) return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    sanitize_line(msg);
    ctx->log_fn(ctx->log_ud, level, msg);
}

/* ============================================================================================
 * Allocation
 * ========================================================================================== */

/* Each block carries its size in a 16-byte header so that the running total stays exact
 * whatever the caller's allocator does. */
#define HDR 16

void *ferry__realloc(ferry_ctx *ctx, void *p, size_t old_n, size_t new_n)
{
    (void)old_n;
    size_t cur = 0;
    uint8_t *base = NULL;
    if (p) {
        base = (uint8_t *)p - HDR;
        memcpy(&cur, base, sizeof cur);
    }
    if (new_n > SIZE_MAX - HDR) {
        ferry__fail(ctx, FERRY_E_NOMEM, "allocation of %zu bytes overflows", new_n);
        return NULL;
    }
    uint64_t after = ctx->allocated - cur + new_n;
    if (after > ctx->limits.total_alloc) {
        ferry__fail(ctx, FERRY_E_LIMIT,
                    "allocation of %zu bytes would exceed the total allocation limit of %llu "
                    "bytes", new_n, (unsigned long long)ctx->limits.total_alloc);
        return NULL;
    }
    uint8_t *nb = ctx->alloc.realloc_fn(ctx->alloc.ud, base, new_n + HDR);
    if (!nb) {
        ferry__fail(ctx, FERRY_E_NOMEM, "out of memory allocating %zu bytes", new_n);
        return NULL;
    }
    memcpy(nb, &new_n, sizeof new_n);
    ctx->allocated = after;
    return nb + HDR;
}

void *ferry__malloc(ferry_ctx *ctx, size_t n) { return ferry__realloc(ctx, NULL, 0, n); }

void *ferry__calloc(ferry_ctx *ctx, size_t count, size_t size)
{
    if (size && count > SIZE_MAX / size) {
        ferry__fail(ctx, FERRY_E_NOMEM, "allocation of %zu x %zu bytes overflows", count, size);
        return NULL;
    }
    void *p = ferry__malloc(ctx, count * size);
    if (p) memset(p, 0, count * size);
    return p;
}

void ferry__free(ferry_ctx *ctx, void *p, size_t n)
{
    (void)n;
    if (!p || !ctx) return;
    uint8_t *base = (uint8_t *)p - HDR;
    size_t cur;
    memcpy(&cur, base, sizeof cur);
    ctx->allocated -= cur;
    ctx->alloc.free_fn(ctx->alloc.ud, base);
}

char *ferry__strndup(ferry_ctx *ctx, const char *s, size_t n)
{
    char *p = ferry__malloc(ctx, n + 1);
    if (!p) return NULL;
    if (n) memcpy(p, s, n);
    p[n] = 0;
    return p;
}

/* ============================================================================================
 * Arena
 * ========================================================================================== */

struct ferry__arena_block {
    ferry__arena_block *next;
    size_t              cap;
    /* data follows, 16-byte aligned */
};

#define BLOCK_HDR ((sizeof(ferry__arena_block) + 15) & ~(size_t)15)

void ferry__arena_init(ferry__arena *a, ferry_ctx *ctx)
{
    memset(a, 0, sizeof *a);
    a->ctx = ctx;
}

void ferry__arena_free(ferry__arena *a)
{
    ferry__arena_block *b = a->head;
    while (b) {
        ferry__arena_block *n = b->next;
        ferry__free(a->ctx, b, 0);
        b = n;
    }
    a->head = NULL;
    a->used = a->cap = 0;
}

void *ferry__arena_alloc(ferry__arena *a, size_t n)
{
    void *p = ferry__arena_alloc_uninit(a, n);
    if (p) memset(p, 0, n);
    return p;
}

void *ferry__arena_alloc_uninit(ferry__arena *a, size_t n)
{
    n = (n + 15) & ~(size_t)15;
    if (n == 0) n = 16;
    if (!a->head || a->cap - a->used < n) {
        /* Blocks grow geometrically (64 KiB .. 16 MiB) so a model with millions of small
         * nodes costs few allocations; a request larger than that gets a block of its own. */
        size_t want = a->head ? a->head->cap * 2 : 65536;
        if (want > (16u << 20)) want = 16u << 20;
        if (want < n) want = n;
        if (want > SIZE_MAX - BLOCK_HDR) {
            ferry__fail(a->ctx, FERRY_E_NOMEM, "arena allocation of %zu bytes overflows", n);
            return NULL;
        }
        ferry__arena_block *b = ferry__malloc(a->ctx, BLOCK_HDR + want);
        if (!b) return NULL;
        b->cap  = want;
        b->next = a->head;
        a->head = b;
        a->used = 0;
        a->cap  = want;
    }
    uint8_t *p = (uint8_t *)a->head + BLOCK_HDR + a->used;
    a->used += n;
    return p;
}

char *ferry__arena_strndup(ferry__arena *a, const char *s, size_t n)
{
    if (n == SIZE_MAX) {
        ferry__fail(a->ctx, FERRY_E_NOMEM, "string too long");
        return NULL;
    }
    char *p = ferry__arena_alloc_uninit(a, n + 1);
    if (!p) return NULL;
    if (n) memcpy(p, s, n);
    p[n] = 0;
    return p;
}
