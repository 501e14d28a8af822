/*
 * sink.c -- atomic outputs.
 *
 * A file sink writes into "<target>.ferry-tmp-XXXXXX" in the target's own directory (so the
 * final rename cannot cross file systems), buffers small writes, and on commit flushes,
 * fsyncs, renames over the target and fsyncs the directory. Any failure, or an abort, unlinks
 * the temporary file: a reader of the target sees the old file or the complete new one, never
 * a partial output. Large writes (whole mapped tensors) bypass the buffer.
 *
 * A memory sink collects everything in a growable buffer (tests, fuzzers, bindings).
 */
#define _GNU_SOURCE /* copy_file_range */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#define SINK_BUF (1u << 20)

int ferry_sink_open_file(ferry_ctx *ctx, const char *path, ferry_sink **out)
{
    if (!ctx || !path || !out) return FERRY_E_ARG;
    *out = NULL;
    size_t pl = strlen(path);
    ferry_sink *s = ferry__calloc(ctx, 1, sizeof *s);
    if (!s) return ctx->err_code;
    s->ctx = ctx;
    s->fd  = -1;
    s->final_path = ferry__strndup(ctx, path, pl);
    s->tmp_path   = ferry__malloc(ctx, pl + 32);
    s->buf        = ferry__malloc(ctx, SINK_BUF);
    if (!s->final_path || !s->tmp_path || !s->buf) {
        int rc = ctx->err_code;
        ferry_sink_abort(s);
        return rc;
    }
    s->buf_cap = SINK_BUF;
    snprintf(s->tmp_path, pl + 32, "%s.ferry-tmp-XXXXXX", path);
    s->fd = mkstemp(s->tmp_path);
    if (s->fd < 0) {
        int e = errno;
        s->tmp_path[0] = 0;
        ferry_sink_abort(s);
        return ferry__fail(ctx, FERRY_E_IO, "%s: cannot create output: %s", path, strerror(e));
    }
    /* mkstemp creates 0600; outputs should get the usual umask-derived permissions. */
    mode_t um = umask(0);
    umask(um);
    (void)fchmod(s->fd, 0666 & ~um);
    *out = s;
    return FERRY_OK;
}

int ferry_sink_open_memory(ferry_ctx *ctx, ferry_sink **out)
{
    if (!ctx || !out) return FERRY_E_ARG;
    ferry_sink *s = ferry__calloc(ctx, 1, sizeof *s);
    if (!s) return ctx->err_code;
    s->ctx       = ctx;
    s->fd        = -1;
    s->is_memory = 1;
    *out         = s;
    return FERRY_OK;
}

static int write_all(ferry_sink *s, const void *data, size_t len)
{
    const uint8_t *p = data;
    while (len) {
        ssize_t k = write(s->fd, p, len > (1u << 30) ? (1u << 30) : len);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) {
            s->failed = 1;
            return ferry__fail(s->ctx, FERRY_E_IO, "%s: write failed: %s", s->final_path,
                               k < 0 ? strerror(errno) : "no progress");
        }
        p += k;
        len -= (size_t)k;
    }
    return FERRY_OK;
}

static int flush(ferry_sink *s)
{
    if (s->is_memory || s->buf_len == 0) return FERRY_OK;
    int rc = write_all(s, s->buf, s->buf_len);
    s->buf_len = 0;
    return rc;
}

int ferry_sink_write(ferry_sink *s, const void *data, size_t len)
{
    if (!s || (!data && len)) return FERRY_E_ARG;
    if (s->failed) return ferry__fail(s->ctx, FERRY_E_IO, "write to a failed sink");
    if (len == 0) return FERRY_OK;
    if (s->is_memory) {
        if (len > s->buf_cap - s->buf_len) {
            size_t need = s->buf_len + len;
            if (need < s->buf_len) return ferry__fail(s->ctx, FERRY_E_NOMEM, "sink overflow");
            size_t cap = s->buf_cap ? s->buf_cap : 4096;
            while (cap < need) cap = cap > SIZE_MAX / 2 ? need : cap * 2;
            uint8_t *nb = ferry__realloc(s->ctx, s->buf, s->buf_cap, cap);
            if (!nb) {
                s->failed = 1;
                return s->ctx->err_code;
            }
            s->buf     = nb;
            s->buf_cap = cap;
        }
        memcpy(s->buf + s->buf_len, data, len);
        s->buf_len += len;
        s->pos += len;
        return FERRY_OK;
    }
    if (len >= s->buf_cap / 2) {
        FERRY_TRY(flush(s));
        FERRY_TRY(write_all(s, data, len));
    } else {
        if (len > s->buf_cap - s->buf_len) FERRY_TRY(flush(s));
        memcpy(s->buf + s->buf_len, data, len);
        s->buf_len += len;
    }
    s->pos += len;
    return FERRY_OK;
}

int ferry__sink_copy_fd(ferry_sink *s, int fd, uint64_t off, uint64_t len)
{
    if (!s || s->is_memory || s->failed) return FERRY_E_UNSUPPORTED;
    FERRY_TRY(flush(s));
    loff_t in = (loff_t)off;
    uint64_t done = 0;
    while (done < len) {
        size_t want = len - done > (1u << 30) ? (1u << 30) : (size_t)(len - done);
        ssize_t k = copy_file_range(fd, &in, s->fd, NULL, want, 0);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) {
            if (done == 0 && (k == 0 || errno == ENOSYS || errno == EXDEV || errno == EINVAL ||
                              errno == EOPNOTSUPP || errno == EBADF))
                return FERRY_E_UNSUPPORTED; /* nothing written: the caller copies instead */
            s->failed = 1;
            return ferry__fail(s->ctx, FERRY_E_IO, "%s: copy failed: %s", s->final_path,
                               k < 0 ? strerror(errno) : "source ended early");
        }
        done += (uint64_t)k;
    }
    s->pos += len;
    return FERRY_OK;
}

int ferry_sink_zero(ferry_sink *s, uint64_t n)
{
    static const uint8_t zeros[4096];
    while (n) {
        size_t k = n > sizeof zeros ? sizeof zeros : (size_t)n;
        FERRY_TRY(ferry_sink_write(s, zeros, k));
        n -= k;
    }
    return FERRY_OK;
}

uint64_t ferry_sink_tell(const ferry_sink *s) { return s ? s->pos : 0; }

const void *ferry_sink_memory(const ferry_sink *s, size_t *size)
{
    if (!s || !s->is_memory) {
        if (size) *size = 0;
        return NULL;
    }
    if (size) *size = s->buf_len;
    return s->buf;
}

int ferry_sink_commit(ferry_sink *s)
{
    if (!s) return FERRY_E_ARG;
    if (s->is_memory) return s->failed ? FERRY_E_IO : FERRY_OK;
    ferry_ctx *ctx = s->ctx;
    int rc = s->failed ? FERRY_E_IO : flush(s);
    if (rc == 0 && fsync(s->fd) != 0)
        rc = ferry__fail(ctx, FERRY_E_IO, "%s: fsync failed: %s", s->final_path, strerror(errno));
    if (rc == 0 && close(s->fd) != 0)
        rc = ferry__fail(ctx, FERRY_E_IO, "%s: close failed: %s", s->final_path, strerror(errno));
    s->fd = -1;
    if (rc == 0 && rename(s->tmp_path, s->final_path) != 0)
        rc = ferry__fail(ctx, FERRY_E_IO, "%s: cannot rename output into place: %s",
                         s->final_path, strerror(errno));
    if (rc == 0) {
        /* Make the rename itself durable. */
        char dir[PATH_MAX];
        const char *slash = strrchr(s->final_path, '/');
        size_t dl = slash ? (size_t)(slash - s->final_path) : 0;
        if (dl == 0 && slash) dl = 1;
        if (dl < sizeof dir) {
            if (dl) memcpy(dir, s->final_path, dl); else dir[dl++] = '.';
            dir[dl] = 0;
            int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
            if (dfd >= 0) {
                (void)fsync(dfd);
                close(dfd);
            }
        }
        s->tmp_path[0] = 0; /* nothing to unlink any more */
    }
    ferry_sink_abort(s);
    return rc;
}

void ferry_sink_abort(ferry_sink *s)
{
    if (!s) return;
    ferry_ctx *ctx = s->ctx;
    if (s->fd >= 0) close(s->fd);
    if (s->tmp_path && s->tmp_path[0]) unlink(s->tmp_path);
    ferry__free(ctx, s->tmp_path, 0);
    ferry__free(ctx, s->final_path, 0);
    ferry__free(ctx, s->buf, s->buf_cap);
    ferry__free(ctx, s, sizeof *s);
}
