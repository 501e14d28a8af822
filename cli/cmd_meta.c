/*
 * cmd_meta.c -- `ferry meta FILE [KEY] [--json]`: the metadata tree of a model, or one key.
 *
 * Text, whole tree: one "path = value" line per scalar. Nested maps extend the path with
 * ".key", arrays of containers with "[i]". Strings are quoted and escaped (a model's
 * metadata is the file author's text, and may hold anything). An array of scalars is one
 * line, "[v0, v1, ...]", cut after the first 8 elements with "... (N more)"; an array of
 * containers shows its first 8 elements and then "path[...] = ... (N more)". Empty
 * containers print as [] and {}.
 *
 * Text, one KEY: a scalar prints bare (strings unquoted but still escaped), so that
 * `ferry meta model.gguf general.architecture` is usable in a script; an array of scalars
 * prints every element, one per line (the user asked for this key, so nothing is cut); a
 * container prints as the tree below it.
 *
 * KEY is first looked up as a top-level key (GGUF keys contain dots: "general.name" is one
 * key). If there is none, it is read as a path: ".name" steps into maps (the longest key
 * that matches wins, so dotted keys inside maps work too) and ".N" indexes arrays.
 *
 * JSON (schema_version 1): {"schema_version":1,"format":...,"metadata":{...}} for the tree,
 * {"schema_version":1,"key":...,"value":...} for one key; json_out.c documents the values.
 *
 * The tree is walked with an explicit stack: its depth is chosen by the file.
 */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

enum { O_JSON, O_HELP };

static const cli_opt opts[] = {
    [O_JSON] = {0, "json", NULL, "print JSON (schema_version 1) instead of text"},
    [O_HELP] = CLI_OPT_HELP,
    CLI_OPT_END,
};

#define PREVIEW 8

static bool is_container(const ferry_meta *m)
{
    ferry_meta_kind k = ferry_meta_kind_of(m);
    return k == FERRY_META_ARRAY || k == FERRY_META_MAP;
}

/* ============================================================================================
 * Key lookup
 * ========================================================================================== */

static const ferry_meta *resolve(const ferry_meta *root, const char *key)
{
    const ferry_meta *direct = ferry_meta_get(root, key);
    if (direct) return direct;
    size_t kl = strlen(key);
    char *buf = malloc(kl + 1);
    if (!buf) return NULL;
    const ferry_meta *cur = root;
    const char *s = key;
    while (cur && *s) {
        size_t rest = strlen(s);
        if (ferry_meta_kind_of(cur) == FERRY_META_MAP) {
            const ferry_meta *found = NULL;
            size_t end = rest;
            /* Longest prefix ending at the end or at a '.' that names a key. */
            for (;;) {
                memcpy(buf, s, end);
                buf[end] = 0;
                if ((found = ferry_meta_get(cur, buf)) != NULL) break;
                while (end > 0 && s[--end] != '.') {}
                if (end == 0) break;
            }
            cur = found;
            s += found ? end + (s[end] == '.') : 0;
        } else if (ferry_meta_kind_of(cur) == FERRY_META_ARRAY) {
            uint64_t idx = 0;
            size_t k = 0;
            while (s[k] >= '0' && s[k] <= '9' && idx < ((uint64_t)1 << 62))
                idx = idx * 10 + (uint64_t)(s[k++] - '0');
            if (k == 0 || (s[k] && s[k] != '.')) {
                cur = NULL;
                break;
            }
            cur = ferry_meta_at(cur, (int64_t)idx);
            s += k + (s[k] == '.');
        } else {
            cur = NULL;
        }
    }
    free(buf);
    return cur;
}

/* ============================================================================================
 * Text
 * ========================================================================================== */

typedef struct path {
    char  *p;
    size_t len;
    size_t cap;
} path;

static bool path_add(path *pa, const char *s, size_t n)
{
    if (pa->len + n + 1 > pa->cap) {
        size_t cap = pa->cap ? pa->cap : 256;
        while (cap < pa->len + n + 1) cap *= 2;
        char *np = realloc(pa->p, cap);
        if (!np) return false;
        pa->p = np, pa->cap = cap;
    }
    memcpy(pa->p + pa->len, s, n);
    pa->len += n;
    pa->p[pa->len] = 0;
    return true;
}

static void line_start(const path *pa)
{
    cli_write_escaped(stdout, pa->p, pa->len, 0);
    fputs(" = ", stdout);
}

static void inline_array(const ferry_meta *a)
{
    int64_t n = ferry_meta_count(a);
    int64_t k = n < PREVIEW ? n : PREVIEW;
    fputc('[', stdout);
    for (int64_t i = 0; i < k; i++) {
        if (i) fputs(", ", stdout);
        cli_print_scalar(stdout, ferry_meta_at(a, i), true);
    }
    if (n > k) printf(", ... (%lld more)", (long long)(n - k));
    fputc(']', stdout);
}

/* Prints the line for node c at path pa, unless it is a container to descend into
 * (returns true then). */
static bool print_node(const path *pa, const ferry_meta *c)
{
    ferry_meta_kind k = ferry_meta_kind_of(c);
    int64_t n = ferry_meta_count(c);
    if (!is_container(c) || n == 0) {
        line_start(pa);
        if (k == FERRY_META_ARRAY)
            fputs("[]", stdout);
        else if (k == FERRY_META_MAP)
            fputs("{}", stdout);
        else
            cli_print_scalar(stdout, c, true);
        fputc('\n', stdout);
        return false;
    }
    if (k == FERRY_META_ARRAY) {
        bool scalars = true;
        for (int64_t i = 0; i < n && i < PREVIEW && scalars; i++)
            scalars = !is_container(ferry_meta_at(c, i));
        if (scalars) {
            line_start(pa);
            inline_array(c);
            fputc('\n', stdout);
            return false;
        }
    }
    return true;
}

/* Walks the container `top` whose path is already in pa. */
static int walk(path *pa, const ferry_meta *top)
{
    typedef struct frame {
        const ferry_meta *node;
        int64_t           next;
        int64_t           limit;
        int64_t           count;
        size_t            plen;
        bool              map;
    } frame;
    size_t cap = 16, depth = 0;
    frame *st = malloc(cap * sizeof *st);
    if (!st) return -1;
    bool map = ferry_meta_kind_of(top) == FERRY_META_MAP;
    int64_t n = ferry_meta_count(top);
    st[depth++] = (frame){top, 0, map || n < PREVIEW ? n : PREVIEW, n, pa->len, map};
    int rc = 0;
    char ib[32];
    while (depth) {
        frame *f = &st[depth - 1];
        pa->len = f->plen;
        if (f->next == f->limit) {
            if (f->count > f->limit) {
                path_add(pa, "[...]", 5);
                line_start(pa);
                printf("... (%lld more)\n", (long long)(f->count - f->limit));
            }
            depth--;
            continue;
        }
        int64_t i = f->next++;
        const ferry_meta *c = ferry_meta_at(f->node, i);
        bool ok;
        if (f->map) {
            const char *key = ferry_meta_key_at(f->node, i);
            ok = (pa->len == 0 || path_add(pa, ".", 1)) && path_add(pa, key, strlen(key));
        } else {
            ib[0] = '[';
            size_t k = 1 + cli_fmt_i64(ib + 1, i);
            ib[k++] = ']';
            ok = path_add(pa, ib, k);
        }
        if (!ok) {
            rc = -1;
            break;
        }
        if (!print_node(pa, c)) continue;
        if (depth == cap) {
            frame *ns = realloc(st, cap * 2 * sizeof *st);
            if (!ns) {
                rc = -1;
                break;
            }
            st = ns, cap *= 2;
        }
        map = ferry_meta_kind_of(c) == FERRY_META_MAP;
        n   = ferry_meta_count(c);
        st[depth++] = (frame){c, 0, map || n < PREVIEW ? n : PREVIEW, n, pa->len, map};
    }
    free(st);
    return rc;
}

static int text_tree(const ferry_meta *root)
{
    path pa = {NULL, 0, 0};
    int rc = path_add(&pa, "", 0) ? walk(&pa, root) : -1;
    free(pa.p);
    return rc;
}

static int text_key(const char *key, const ferry_meta *v)
{
    if (!is_container(v)) {
        cli_print_scalar(stdout, v, false);
        fputc('\n', stdout);
        return 0;
    }
    if (ferry_meta_kind_of(v) == FERRY_META_ARRAY) {
        int64_t n = ferry_meta_count(v);
        bool scalars = true;
        for (int64_t i = 0; i < n && scalars; i++) scalars = !is_container(ferry_meta_at(v, i));
        if (scalars) {
            for (int64_t i = 0; i < n; i++) {
                cli_print_scalar(stdout, ferry_meta_at(v, i), false);
                fputc('\n', stdout);
            }
            return 0;
        }
    }
    path pa = {NULL, 0, 0};
    int rc = -1;
    if (path_add(&pa, key, strlen(key))) {
        rc = 0;
        if (print_node(&pa, v)) rc = walk(&pa, v); /* else it was one line: "KEY = {}" */
    }
    free(pa.p);
    return rc;
}

/* ============================================================================================
 * Command
 * ========================================================================================== */

static int json_out(const ferry_model *m, const char *key, const ferry_meta *v)
{
    jw w;
    jw_init(&w, stdout);
    jw_obj_begin(&w);
    jw_key(&w, "schema_version");
    jw_int(&w, 1);
    if (key) {
        jw_key(&w, "key");
        jw_cstr(&w, key);
        jw_key(&w, "value");
    } else {
        jw_key(&w, "format");
        jw_cstr(&w, ferry_model_format(m));
        jw_key(&w, "metadata");
    }
    jw_meta(&w, v);
    jw_obj_end(&w);
    return jw_end(&w);
}

static int run(const cli_cmd *cmd, cli_args *a)
{
    (void)cmd;
    const char *file = a->pos[0];
    const char *key  = a->npos > 1 ? a->pos[1] : NULL;
    ferry_ctx *ctx = cli_ctx_new(NULL);
    if (!ctx) return CLI_ERROR;
    ferry_model *m = NULL;
    int rc = cli_open(ctx, file, &m);
    if (rc == CLI_OK) {
        const ferry_meta *root = ferry_model_metadata(m);
        const ferry_meta *v = key ? resolve(root, key) : root;
        if (!v) {
            cli_errorf("%s: no metadata key \"%s\"", file, key);
            rc = CLI_ERROR;
        } else {
            int r;
            if (a->opt[O_JSON])
                r = json_out(m, key, v);
            else
                r = key ? text_key(key, v) : text_tree(v);
            if (r && !ferror(stdout)) {
                cli_errorf("out of memory");
                rc = CLI_ERROR;
            }
        }
    }
    ferry_model_close(m);
    ferry_ctx_free(ctx);
    return rc;
}

const cli_cmd cli_cmd_meta = {
    .name     = "meta",
    .synopsis = "FILE [KEY]",
    .summary  = "Print the metadata tree of a model file, or the value of one KEY.",
    .details  = "KEY is a top-level key (GGUF keys such as general.name contain dots), or a\n"
                "path into nested maps and arrays: a.b.0 is element 0 of key b of map a.",
    .opts     = opts,
    .min_pos  = 1,
    .max_pos  = 2,
    .run      = run,
};
