/*
 * source.c -- where bytes come from: mmapped files, caller buffers, owned buffers,
 * sub-ranges of other sources, and read_at callbacks.
 *
 * Sources are reference counted because tensors of a model keep pointing into them after
 * the header parse (sub-ranges of a zip member, shards of a sharded checkpoint). Every read
 * is range-checked against the source's size with overflow-safe arithmetic; a read that
 * leaves the source is a FERRY_E_CORRUPT error naming the offset, which is exactly the error
 * a truncated file should produce.
 *
 * Sibling files (shards, external data) are opened through ferry__source_open_sibling, the
 * one place that enforces path containment: a path taken from a file is relative, has no
 * "..", no empty or absolute components, and after resolving symlinks stays inside the
 * directory of the file that named it.
 */
#define _DEFAULT_SOURCE /* madvise */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static int source_alloc(ferry_ctx *ctx, int kind, const char *name, ferry_source **out)
{
    ferry_source *s = ferry__calloc(ctx, 1, sizeof *s);
    if (!s) return ctx->err_code;
    s->ctx  = ctx;
    s->kind = kind;
    s->refs = 1;
    s->fd   = -1;
    s->name = ferry__strndup(ctx, name ? name : "(memory)", strlen(name ? name : "(memory)"));
    if (!s->name) {
        ferry__free(ctx, s, sizeof *s);
        return ctx->err_code;
    }
    *out = s;
    return FERRY_OK;
}

int ferry_source_open_file(ferry_ctx *ctx, const char *path, ferry_source **out)
{
    if (!ctx || !path || !out) return FERRY_E_ARG;
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return ferry__fail(ctx, FERRY_E_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return ferry__fail(ctx, FERRY_E_IO, "%s: cannot stat: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return ferry__fail(ctx, FERRY_E_IO, "%s: not a regular file", path);
    }
    ferry_source *s = NULL;
    int rc = source_alloc(ctx, FERRY__SRC_FILE, path, &s);
    if (rc) {
        close(fd);
        return rc;
    }
    s->path = ferry__strndup(ctx, path, strlen(path));
    if (!s->path) {
        close(fd);
        ferry_source_close(s);
        return ctx->err_code;
    }
    s->fd   = fd;
    s->size = (uint64_t)st.st_size;
    if (st.st_size > 0 && (uint64_t)st.st_size <= SIZE_MAX) {
        void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p != MAP_FAILED) {
            s->map     = p;
            s->map_len = (size_t)st.st_size;
        }
    }
    *out = s;
    return FERRY_OK;
}

int ferry_source_from_memory(ferry_ctx *ctx, const void *data, size_t size, const char *name,
                             ferry_source **out)
{
    if (!ctx || !out || (!data && size)) return FERRY_E_ARG;
    *out = NULL;
    ferry_source *s = NULL;
    FERRY_TRY(source_alloc(ctx, FERRY__SRC_MEMORY, name, &s));
    s->map  = data;
    s->size = size;
    *out    = s;
    return FERRY_OK;
}

int ferry__source_from_owned(ferry_ctx *ctx, void *buf, size_t len, const char *name,
                             ferry_source **out)
{
    *out = NULL;
    ferry_source *s = NULL;
    int rc = source_alloc(ctx, FERRY__SRC_OWNED, name, &s);
    if (rc) {
        ferry__free(ctx, buf, len);
        return rc;
    }
    s->owned     = buf;
    s->owned_len = len;
    s->map       = buf;
    s->size      = len;
    *out         = s;
    return FERRY_OK;
}

int ferry_source_sub(ferry_source *parent, uint64_t offset, uint64_t len, const char *name,
                     ferry_source **out)
{
    if (!parent || !out) return FERRY_E_ARG;
    *out = NULL;
    uint64_t end;
    if (ferry__add_overflow(offset, len, &end) || end > parent->size)
        return ferry__fail_at(parent->ctx, FERRY_E_CORRUPT, parent, offset,
                              "range of %llu bytes extends past the end (size %llu)",
                              (unsigned long long)len, (unsigned long long)parent->size);
    ferry_source *s = NULL;
    FERRY_TRY(source_alloc(parent->ctx, FERRY__SRC_SUB, name ? name : parent->name, &s));
    s->parent = ferry__source_ref(parent);
    s->base   = offset;
    s->size   = len;
    if (parent->map) s->map = parent->map + offset;
    *out = s;
    return FERRY_OK;
}

int ferry_source_from_callback(ferry_ctx *ctx, uint64_t size, ferry_read_at_fn fn,
                               void (*release)(void *ud), void *ud, const char *name,
                               ferry_source **out)
{
    if (!ctx || !fn || !out) return FERRY_E_ARG;
    *out = NULL;
    ferry_source *s = NULL;
    FERRY_TRY(source_alloc(ctx, FERRY__SRC_CALLBACK, name, &s));
    s->cb      = fn;
    s->release = release;
    s->ud      = ud;
    s->size    = size;
    *out       = s;
    return FERRY_OK;
}

ferry_source *ferry__source_ref(ferry_source *src)
{
    if (src) src->refs++;
    return src;
}

void ferry_source_close(ferry_source *s)
{
    if (!s || --s->refs > 0) return;
    ferry_ctx *ctx = s->ctx;
    switch (s->kind) {
    case FERRY__SRC_FILE:
        if (s->map) munmap((void *)s->map, s->map_len);
        if (s->fd >= 0) close(s->fd);
        break;
    case FERRY__SRC_SUB: ferry_source_close(s->parent); break;
    case FERRY__SRC_CALLBACK:
        if (s->release) s->release(s->ud);
        break;
    case FERRY__SRC_OWNED: ferry__free(ctx, s->owned, s->owned_len); break;
    default: break;
    }
    ferry__free(ctx, s->path, 0);
    ferry__free(ctx, s->name, 0);
    ferry__free(ctx, s, sizeof *s);
}

uint64_t ferry_source_size(const ferry_source *src) { return src ? src->size : 0; }
const char *ferry_source_name(const ferry_source *src) { return src ? src->name : ""; }

uint64_t ferry__source_abs_offset(const ferry_source *src, uint64_t off,
                                  const ferry_source **root)
{
    while (src->kind == FERRY__SRC_SUB) {
        off += src->base;
        src = src->parent;
    }
    if (root) *root = src;
    return off;
}

int ferry_source_read(ferry_source *src, uint64_t offset, void *dst, size_t len)
{
    if (!src || (!dst && len)) return FERRY_E_ARG;
    uint64_t end;
    if (ferry__add_overflow(offset, len, &end) || end > src->size)
        return ferry__fail_at(src->ctx, FERRY_E_CORRUPT, src, offset,
                              "unexpected end of data: need %zu bytes, %llu available", len,
                              (unsigned long long)(offset < src->size ? src->size - offset : 0));
    if (len == 0) return FERRY_OK;
    if (src->map) {
        memcpy(dst, src->map + offset, len);
        return FERRY_OK;
    }
    switch (src->kind) {
    case FERRY__SRC_SUB: return ferry_source_read(src->parent, src->base + offset, dst, len);
    case FERRY__SRC_CALLBACK:
        if (src->cb(src->ud, offset, dst, len) != 0)
            return ferry__fail_at(src->ctx, FERRY_E_IO, src, offset, "read callback failed");
        return FERRY_OK;
    case FERRY__SRC_FILE: {
        /* The file could not be mapped (e.g. larger than the address space): pread. */
        uint8_t *d = dst;
        while (len) {
            ssize_t k = pread(src->fd, d, len, (off_t)offset);
            if (k < 0 && errno == EINTR) continue;
            if (k <= 0)
                return ferry__fail_at(src->ctx, FERRY_E_IO, src, offset, "read failed: %s",
                                      k < 0 ? strerror(errno) : "file shrank");
            d += k;
            len -= (size_t)k;
            offset += (uint64_t)k;
        }
        return FERRY_OK;
    }
    default: return ferry__fail(src->ctx, FERRY_E_IO, "%s: unreadable source", src->name);
    }
}

const void *ferry_source_map(ferry_source *src, uint64_t offset, uint64_t len)
{
    uint64_t end;
    if (!src || !src->map || ferry__add_overflow(offset, len, &end) || end > src->size)
        return NULL;
    return src->map + offset;
}

bool ferry__source_file_range(const ferry_source *src, uint64_t off, uint64_t len, int *fd,
                              uint64_t *abs_off)
{
    uint64_t end;
    if (!src || ferry__add_overflow(off, len, &end) || end > src->size) return false;
    const ferry_source *root;
    uint64_t abs = ferry__source_abs_offset(src, off, &root);
    if (root->kind != FERRY__SRC_FILE || root->fd < 0) return false;
    *fd      = root->fd;
    *abs_off = abs;
    return true;
}

void ferry__source_drop_pages(ferry_source *src, uint64_t off, uint64_t len)
{
    if (!src || len == 0) return;
    const ferry_source *root;
    uint64_t abs = ferry__source_abs_offset(src, off, &root);
    if (root->kind != FERRY__SRC_FILE || !root->map || abs >= root->map_len) return;
    if (len > root->map_len - abs) len = root->map_len - abs;
    /* Only whole pages inside the range. */
    long pg = sysconf(_SC_PAGESIZE);
    uint64_t page = pg > 0 ? (uint64_t)pg : 4096;
    uint64_t a = ferry__align_up(abs, page), b = (abs + len) / page * page;
    /* madvise, not posix_madvise: glibc makes POSIX_MADV_DONTNEED a no-op. On a read-only
     * private file mapping MADV_DONTNEED only drops our page-table entries. */
    if (b > a) (void)madvise((void *)(root->map + a), (size_t)(b - a), MADV_DONTNEED);
}

/* ============================================================================================
 * Sibling files with path containment
 * ========================================================================================== */

int ferry__source_open_sibling(ferry_ctx *ctx, const char *base_path, const char *rel,
                               ferry_source **out)
{
    *out = NULL;
    size_t rl = strlen(rel);
    if (rl == 0 || rel[0] == '/' || strchr(rel, '\\') ||
        (rl >= 2 && rel[1] == ':'))
        return ferry__fail(ctx, FERRY_E_CORRUPT,
                           "%s: referenced path \"%s\" is not a plain relative path", base_path,
                           rel);
    /* Every component must be a normal name: no "", ".", "..". */
    const char *p = rel;
    while (*p) {
        const char *e = strchr(p, '/');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
            return ferry__fail(ctx, FERRY_E_CORRUPT,
                               "%s: referenced path \"%s\" has an empty, '.' or '..' component",
                               base_path, rel);
        p += n;
        if (*p == '/') p++;
    }
    char dir[PATH_MAX];
    const char *slash = strrchr(base_path, '/');
    if (slash) {
        size_t dl = (size_t)(slash - base_path);
        if (dl == 0) dl = 1;
        if (dl >= sizeof dir) return ferry__fail(ctx, FERRY_E_ARG, "%s: path too long", base_path);
        memcpy(dir, base_path, dl);
        dir[dl] = 0;
    } else {
        strcpy(dir, ".");
    }
    char full[PATH_MAX];
    if ((size_t)snprintf(full, sizeof full, "%s/%s", dir, rel) >= sizeof full)
        return ferry__fail(ctx, FERRY_E_ARG, "%s: path too long", base_path);
    char rdir[PATH_MAX], rfull[PATH_MAX];
    if (!realpath(dir, rdir))
        return ferry__fail(ctx, FERRY_E_IO, "%s: cannot resolve directory: %s", dir,
                           strerror(errno));
    if (!realpath(full, rfull))
        return ferry__fail(ctx, FERRY_E_IO, "%s: referenced file \"%s\" cannot be opened: %s",
                           base_path, rel, strerror(errno));
    size_t dl = strlen(rdir);
    if (strncmp(rfull, rdir, dl) != 0 || (rfull[dl] != '/' && strcmp(rdir, "/") != 0))
        return ferry__fail(ctx, FERRY_E_CORRUPT,
                           "%s: referenced file \"%s\" resolves outside the model directory",
                           base_path, rel);
    return ferry_source_open_file(ctx, full, out);
}
