/*
 * open.c -- detection by bidding, and opening models.
 *
 * Like libarchive's readers, every format looks at the first bytes (and may make bounded
 * reads, e.g. of a zip directory) and answers with how many bits of evidence it has that
 * the input is its own. The highest bid wins; the file name's extension only breaks ties.
 * A directory is offered to the formats too (sharded checkpoints, SavedModel...).
 */
#include "internal.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <sys/stat.h>

const char *ferry__basename(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

bool ferry__has_extension(const char *name, const char *exts)
{
    size_t nl = strlen(name);
    while (exts && *exts) {
        const char *e = strchr(exts, ',');
        size_t el = e ? (size_t)(e - exts) : strlen(exts);
        if (el && el <= nl) {
            const char *tail = name + nl - el;
            size_t i = 0;
            while (i < el && tolower((unsigned char)tail[i]) == tolower((unsigned char)exts[i]))
                i++;
            if (i == el) return true;
        }
        exts += el;
        if (*exts == ',') exts++;
    }
    return false;
}

const ferry_format_ops *ferry__format_by_name(const char *name)
{
    if (!name) return NULL;
    for (int i = 0; i < ferry__n_formats; i++) {
        const char *a = ferry__formats[i]->name, *b = name;
        while (*a && tolower((unsigned char)*a) == tolower((unsigned char)*b)) a++, b++;
        if (!*a && !*b) return ferry__formats[i];
    }
    return NULL;
}

int ferry_format_count(void) { return ferry__n_formats; }

int ferry_format_info(int i, const char **name, const char **description,
                      const char **extensions, uint32_t *caps)
{
    if (i < 0 || i >= ferry__n_formats) return FERRY_E_ARG;
    const ferry_format_ops *f = ferry__formats[i];
    if (name) *name = f->name;
    if (description) *description = f->description;
    if (extensions) *extensions = f->extensions;
    if (caps) *caps = f->caps;
    return FERRY_OK;
}

const char *ferry_format_for_path(const char *path)
{
    if (!path) return NULL;
    const char *base = ferry__basename(path);
    for (int i = 0; i < ferry__n_formats; i++) {
        const ferry_format_ops *f = ferry__formats[i];
        if (f->write && ferry__has_extension(base, f->extensions)) return f->name;
    }
    return NULL;
}

/* ============================================================================================
 * Bidding
 * ========================================================================================== */

static const ferry_format_ops *pick(const ferry__probe *p)
{
    const ferry_format_ops *best = NULL;
    int best_bid = 0;
    bool best_ext = false;
    for (int i = 0; i < ferry__n_formats; i++) {
        const ferry_format_ops *f = ferry__formats[i];
        if (!f->bid || !f->open) continue;
        int b = f->bid(p);
        if (b <= 0) continue;
        bool ext = ferry__has_extension(p->name, f->extensions);
        if (b > best_bid || (b == best_bid && ext && !best_ext)) {
            best     = f;
            best_bid = b;
            best_ext = ext;
        }
    }
    return best;
}

static int probe_source(ferry_source *src, const char *name, const char *path, uint8_t *head,
                        ferry__probe *p)
{
    memset(p, 0, sizeof *p);
    p->size     = ferry_source_size(src);
    p->head_len = p->size < FERRY__PROBE_BYTES ? (size_t)p->size : FERRY__PROBE_BYTES;
    FERRY_TRY(ferry_source_read(src, 0, head, p->head_len));
    p->head = head;
    p->name = name ? ferry__basename(name) : "";
    p->src  = src;
    p->path = path;
    return FERRY_OK;
}

static int is_directory(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int ferry_detect(ferry_ctx *ctx, const char *path, const char **name)
{
    if (!ctx || !path || !name) return FERRY_E_ARG;
    *name = NULL;
    ferry__probe p;
    const ferry_format_ops *f;
    if (is_directory(path)) {
        memset(&p, 0, sizeof p);
        p.is_dir = true;
        p.path   = path;
        p.name   = ferry__basename(path);
        f = pick(&p);
    } else {
        ferry_source *src = NULL;
        FERRY_TRY(ferry_source_open_file(ctx, path, &src));
        uint8_t head[FERRY__PROBE_BYTES];
        int rc = probe_source(src, path, path, head, &p);
        f = rc ? NULL : pick(&p);
        ferry_source_close(src);
        FERRY_TRY(rc);
    }
    if (!f) return ferry__fail(ctx, FERRY_E_UNKNOWN_FORMAT, "%s: unknown format: no reader "
                               "recognises its contents", path);
    *name = f->name;
    return FERRY_OK;
}

/* ============================================================================================
 * Opening
 * ========================================================================================== */

static int open_with(ferry_ctx *ctx, const ferry_format_ops *f, ferry_source *src,
                     const char *path, ferry_model **out)
{
    ferry_model *m = NULL;
    FERRY_TRY(ferry__model_create(ctx, &m));
    m->fmt = f;
    m->src = ferry__source_ref(src);
    if (path) {
        m->path = ferry__arena_strndup(&m->arena, path, strlen(path));
        if (!m->path) {
            ferry_model_close(m);
            return ctx->err_code;
        }
    }
    int rc = f->open(m, src);
    if (rc < 0) {
        ferry_model_close(m);
        return rc;
    }
    *out = m;
    return FERRY_OK;
}

static int open_source(ferry_ctx *ctx, ferry_source *src, const char *format, const char *path,
                       ferry_model **out)
{
    const ferry_format_ops *f;
    const char *name = path ? path : ferry_source_name(src);
    if (format) {
        f = ferry__format_by_name(format);
        if (!f || !f->open)
            return ferry__fail(ctx, FERRY_E_NOTFOUND, "no reader for format \"%s\"", format);
    } else {
        ferry__probe p;
        uint8_t head[FERRY__PROBE_BYTES];
        FERRY_TRY(probe_source(src, name, path, head, &p));
        f = pick(&p);
        if (!f)
            return ferry__fail(ctx, FERRY_E_UNKNOWN_FORMAT,
                               "%s: unknown format: no reader recognises its contents", name);
    }
    return open_with(ctx, f, src, path, out);
}

int ferry_open_source(ferry_ctx *ctx, ferry_source *src, const char *format, ferry_model **out)
{
    if (!ctx || !src || !out) return FERRY_E_ARG;
    *out = NULL;
    return open_source(ctx, src, format, NULL, out);
}

int ferry_open(ferry_ctx *ctx, const char *path, const char *format, ferry_model **out)
{
    if (!ctx || !path || !out) return FERRY_E_ARG;
    *out = NULL;

    ferry_ctx_clear_error(ctx);
    if (is_directory(path)) {
        const ferry_format_ops *f = NULL;
        if (format) {
            f = ferry__format_by_name(format);
        } else {
            ferry__probe p;
            memset(&p, 0, sizeof p);
            p.is_dir = true;
            p.path   = path;
            p.name   = ferry__basename(path);
            f = pick(&p);
        }
        if (!f || !f->open)
            return ferry__fail(ctx, FERRY_E_UNKNOWN_FORMAT,
                               "%s: directory holds no model ferry recognises", path);
        return open_with(ctx, f, NULL, path, out);
    }

    ferry_source *src = NULL;
    FERRY_TRY(ferry_source_open_file(ctx, path, &src));
    int rc = open_source(ctx, src, format, path, out);
    ferry_source_close(src);
    return rc;
}
