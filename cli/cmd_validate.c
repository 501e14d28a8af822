/*
 * cmd_validate.c -- `ferry validate FILE... [--json]`: does each file hold a well-formed
 * model?
 *
 * A file is valid when it opens (every header rule of its format holds: the library checks
 * each size, offset and count when it opens) and every plain tensor can be read in full.
 * Reading is what finds what opening cannot: a compressed member whose data does not
 * inflate, a tensor materialised by the format's reader that runs off the file. Tensors
 * handed out zero-copy are not copied again: their byte range was checked against the
 * mapped file at open, and copying gigabytes would prove nothing more. Tensors that have no
 * plain bytes (object arrays, unknown dtypes) are listed as "not readable", which does not
 * make the file invalid -- ferry does not support them, the file is not wrong.
 *
 * Answers (stdout): "FILE: OK (N tensors)" or "FILE: INVALID: <why>". A file that cannot be
 * read at all (missing, unreadable: FERRY_E_IO) is an error, not an answer: its message goes
 * to stderr as "ferry: <message>".
 * Exit status: 0 all valid, 1 at least one invalid, 2 at least one error (wins over 1).
 *
 * JSON (schema_version 1): {"schema_version":1,"files":[{"file":...,"result":"ok"|
 * "invalid"|"error","format":...|null,"tensors":n|null,"unreadable":n|null,
 * "message":...|null},...],"ok":n,"invalid":n,"errors":n}
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

#define CHUNK_BYTES ((size_t)4 << 20)

typedef enum result { R_OK, R_INVALID, R_ERROR } result;

typedef struct verdict {
    result      res;
    char        format[64]; /* "" when the file did not open */
    int64_t     tensors;
    int64_t     unreadable;
    char        msg[1024];
} verdict;

/* Failures that say nothing about the file's contents. */
static bool is_error(int status) { return status == FERRY_E_IO || status == FERRY_E_NOMEM; }

static void set_msg(verdict *v, const ferry_ctx *ctx, int status, const char *file)
{
    const char *e = ferry_ctx_error(ctx);
    if (e && *e)
        snprintf(v->msg, sizeof v->msg, "%s", e);
    else
        snprintf(v->msg, sizeof v->msg, "%s: %s", file, ferry_status_name(status));
    v->res = is_error(status) ? R_ERROR : R_INVALID;
}

/* Reads every plain tensor that is not zero-copy. Returns 0 or a status. */
static int read_all(ferry_model *m, uint8_t *buf, verdict *v)
{
    int64_t n = ferry_model_tensor_count(m);
    uint64_t total = 0, done = 0;
    for (int64_t i = 0; i < n; i++) {
        ferry_tensor_info ti;
        ti.struct_size = sizeof ti;
        if (ferry_model_tensor_info(m, i, &ti) == 0 && ti.status == FERRY_TENSOR_PLAIN &&
            !(ti.flags & FERRY_TENSOR_ZERO_COPY))
            total += ti.nbytes;
    }
    cli_progress bar;
    cli_progress_start(&bar, "validating", true);
    int rc = FERRY_OK;
    for (int64_t i = 0; i < n && rc == FERRY_OK; i++) {
        ferry_tensor_info ti;
        ti.struct_size = sizeof ti;
        if ((rc = ferry_model_tensor_info(m, i, &ti)) != 0) break;
        if (ti.status != FERRY_TENSOR_PLAIN) {
            v->unreadable++;
            continue;
        }
        const void *p;
        if ((ti.flags & FERRY_TENSOR_ZERO_COPY) && ferry_tensor_data(m, i, &p) == 0) continue;
        for (uint64_t off = 0; off < ti.nbytes && rc == FERRY_OK; off += CHUNK_BYTES) {
            size_t k = ti.nbytes - off < CHUNK_BYTES ? (size_t)(ti.nbytes - off) : CHUNK_BYTES;
            rc = ferry_tensor_read(m, i, off, buf, k);
            done += k;
            cli_progress_update(&bar, done, total);
        }
    }
    cli_progress_end(&bar);
    return rc;
}

static void check(ferry_ctx *ctx, const char *file, uint8_t *buf, verdict *v)
{
    memset(v, 0, sizeof *v);
    ferry_ctx_clear_error(ctx);
    ferry_model *m = NULL;
    int rc = ferry_open(ctx, file, NULL, &m);
    if (rc) {
        set_msg(v, ctx, rc, file);
        return;
    }
    snprintf(v->format, sizeof v->format, "%s", ferry_model_format(m));
    v->tensors = ferry_model_tensor_count(m);
    rc = read_all(m, buf, v);
    if (rc) set_msg(v, ctx, rc, file);
    ferry_model_close(m);
}

static void text_line(const char *file, const verdict *v, bool color)
{
    cli_write_escaped(stdout, file, strlen(file), 0);
    if (v->res == R_OK) {
        printf(": %s (%lld tensors", color ? "\033[32mOK\033[0m" : "OK", (long long)v->tensors);
        if (v->unreadable) printf(", %lld not readable", (long long)v->unreadable);
        fputs(")\n", stdout);
    } else {
        printf(": %s: ", color ? "\033[31mINVALID\033[0m" : "INVALID");
        cli_write_escaped(stdout, v->msg, strlen(v->msg), 0);
        fputc('\n', stdout);
    }
}

static void json_file(jw *w, const char *file, const verdict *v)
{
    static const char *const words[] = {"ok", "invalid", "error"};
    jw_obj_begin(w);
    jw_key(w, "file");
    jw_cstr(w, file);
    jw_key(w, "result");
    jw_cstr(w, words[v->res]);
    jw_key(w, "format");
    jw_cstr(w, v->format[0] ? v->format : NULL);
    jw_key(w, "tensors");
    if (v->res == R_OK)
        jw_int(w, v->tensors);
    else
        jw_null(w);
    jw_key(w, "unreadable");
    if (v->res == R_OK)
        jw_int(w, v->unreadable);
    else
        jw_null(w);
    jw_key(w, "message");
    jw_cstr(w, v->res == R_OK ? NULL : v->msg);
    jw_obj_end(w);
}

static int run(const cli_cmd *cmd, cli_args *a)
{
    (void)cmd;
    bool json = a->opt[O_JSON] != NULL;
    bool color = !json && cli_use_color(stdout);
    ferry_ctx *ctx = cli_ctx_new(NULL);
    if (!ctx) return CLI_ERROR;
    uint8_t *buf = malloc(CHUNK_BYTES);
    verdict *v   = malloc(sizeof *v);
    if (!buf || !v) {
        free(buf);
        free(v);
        ferry_ctx_free(ctx);
        cli_errorf("out of memory");
        return CLI_ERROR;
    }
    jw w;
    if (json) {
        jw_init(&w, stdout);
        jw_obj_begin(&w);
        jw_key(&w, "schema_version");
        jw_int(&w, 1);
        jw_key(&w, "files");
        jw_arr_begin(&w);
    }
    int64_t counts[3] = {0, 0, 0};
    for (int i = 0; i < a->npos; i++) {
        const char *file = a->pos[i];
        check(ctx, file, buf, v);
        counts[v->res]++;
        if (v->res == R_ERROR) cli_errorf("%s", v->msg);
        if (json)
            json_file(&w, file, v);
        else if (v->res != R_ERROR)
            text_line(file, v, color);
    }
    int rc = counts[R_ERROR] ? CLI_ERROR : counts[R_INVALID] ? CLI_NEGATIVE : CLI_OK;
    if (json) {
        jw_arr_end(&w);
        jw_key(&w, "ok");
        jw_int(&w, counts[R_OK]);
        jw_key(&w, "invalid");
        jw_int(&w, counts[R_INVALID]);
        jw_key(&w, "errors");
        jw_int(&w, counts[R_ERROR]);
        jw_obj_end(&w);
        if (jw_end(&w) && !ferror(stdout)) {
            cli_errorf("out of memory");
            rc = CLI_ERROR;
        }
    }
    free(v);
    free(buf);
    ferry_ctx_free(ctx);
    return rc;
}

const cli_cmd cli_cmd_validate = {
    .name     = "validate",
    .synopsis = "FILE...",
    .summary  = "Check that each file is a well-formed model whose tensors can all be read.",
    .details  = "Prints FILE: OK (N tensors) or FILE: INVALID: <reason> for each file.\n"
                "Exit status: 0 all valid, 1 some file is invalid, 2 some file could not be\n"
                "read at all (missing, permissions, I/O error).",
    .opts     = opts,
    .min_pos  = 1,
    .max_pos  = -1,
    .run      = run,
};
