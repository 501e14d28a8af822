/*
 * cmd_ls.c -- `ferry ls FILE [--json]`: every tensor of a model.
 *
 * Text: one line per tensor, "name  dtype  [shape]  nbytes" in aligned columns (names and
 * dtypes left-aligned, byte counts right-aligned), plus "(not plain: <native dtype>)" or
 * "(unknown dtype)" for tensors whose bytes ferry cannot hand out. Column widths need a
 * first pass over the tensors; both passes are linear. Names longer than 64 columns do not
 * widen the column: one absurd name should not push every other line off the screen.
 *
 * JSON (schema_version 1), exactly:
 *   {"schema_version":1,"format":"gguf","tensors":[{"name":...,"dtype":"F32",
 *    "shape":[4096,4096],"nbytes":n,"offset":n|null,"status":"plain"|"not_plain"|
 *    "unknown_dtype","native_dtype":...},...],"metadata":{...}}
 * offset is the absolute byte offset of the tensor's stored bytes in its file, or null when
 * they are not stored contiguously (compressed members, computed tensors). metadata is the
 * whole tree (json_out.c says how each node kind is written).
 *
 * Speed matters here (a GGUF with a 150k-token vocabulary must list in well under 50 ms):
 * output goes through the streaming emitter's own buffer, nothing is sorted or searched,
 * and every tensor and metadata node is visited once.
 */
#include "cli.h"

#include <string.h>

enum { O_JSON, O_HELP };

static const cli_opt opts[] = {
    [O_JSON] = {0, "json", NULL, "print JSON (schema_version 1), with the metadata tree"},
    [O_HELP] = CLI_OPT_HELP,
    CLI_OPT_END,
};

#define NAME_COLS_MAX 64

static const char *status_word(ferry_tensor_status s)
{
    switch (s) {
    case FERRY_TENSOR_PLAIN: return "plain";
    case FERRY_TENSOR_NOT_PLAIN: return "not_plain";
    default: return "unknown_dtype";
    }
}

static const char *dtype_text(const ferry_tensor_info *ti)
{
    if (ti->status == FERRY_TENSOR_UNKNOWN_DTYPE && ti->native_dtype) return ti->native_dtype;
    return ferry_dtype_name(ti->dtype);
}

static size_t shape_width(const ferry_tensor_info *ti)
{
    char b[24];
    size_t w = 2;
    for (int32_t d = 0; d < ti->ndim; d++) w += cli_fmt_i64(b, ti->shape[d]) + (d ? 2 : 0);
    return w;
}

static void print_shape(const ferry_tensor_info *ti)
{
    char b[24];
    fputc('[', stdout);
    for (int32_t d = 0; d < ti->ndim; d++) {
        if (d) fputs(", ", stdout);
        fwrite(b, 1, cli_fmt_i64(b, ti->shape[d]), stdout);
    }
    fputc(']', stdout);
}

static void pad(size_t n)
{
    static const char spaces[] = "                                                                ";
    while (n) {
        size_t k = n < sizeof spaces - 1 ? n : sizeof spaces - 1;
        fwrite(spaces, 1, k, stdout);
        n -= k;
    }
}

static int text_out(const ferry_model *m)
{
    int64_t n = ferry_model_tensor_count(m);
    size_t wname = 0, wdt = 0, wshape = 0, wbytes = 0;
    char b[24];
    ferry_tensor_info ti;
    for (int64_t i = 0; i < n; i++) {
        ti.struct_size = sizeof ti;
        if (ferry_model_tensor_info(m, i, &ti)) continue;
        size_t w = cli_escaped_width(ti.name, strlen(ti.name), 0);
        if (w > wname) wname = w < NAME_COLS_MAX ? w : NAME_COLS_MAX;
        w = cli_escaped_width(dtype_text(&ti), strlen(dtype_text(&ti)), 0);
        if (w > wdt) wdt = w;
        if ((w = shape_width(&ti)) > wshape) wshape = w;
        if ((w = cli_fmt_u64(b, ti.nbytes)) > wbytes) wbytes = w;
    }
    for (int64_t i = 0; i < n; i++) {
        ti.struct_size = sizeof ti;
        if (ferry_model_tensor_info(m, i, &ti)) continue;
        size_t len = strlen(ti.name);
        cli_write_escaped(stdout, ti.name, len, 0);
        size_t w = cli_escaped_width(ti.name, len, 0);
        pad((w < wname ? wname - w : 0) + 2);
        const char *dt = dtype_text(&ti);
        cli_write_escaped(stdout, dt, strlen(dt), 0);
        pad(wdt - cli_escaped_width(dt, strlen(dt), 0) + 2);
        print_shape(&ti);
        size_t nb = cli_fmt_u64(b, ti.nbytes);
        pad(wshape - shape_width(&ti) + 2 + wbytes - nb);
        fwrite(b, 1, nb, stdout);
        if (ti.status == FERRY_TENSOR_NOT_PLAIN) {
            /* The format's own spelling says what it is ("|O", a structured descr...). */
            fputs("  (not plain", stdout);
            if (ti.native_dtype && strcmp(ti.native_dtype, dt) != 0) {
                fputs(": ", stdout);
                cli_write_escaped(stdout, ti.native_dtype, strlen(ti.native_dtype), 0);
            }
            fputc(')', stdout);
        } else if (ti.status == FERRY_TENSOR_UNKNOWN_DTYPE) {
            fputs("  (unknown dtype)", stdout);
        }
        fputc('\n', stdout);
    }
    return CLI_OK;
}

static int json_out(const ferry_model *m)
{
    jw w;
    jw_init(&w, stdout);
    jw_obj_begin(&w);
    jw_key(&w, "schema_version");
    jw_int(&w, 1);
    jw_key(&w, "format");
    jw_cstr(&w, ferry_model_format(m));
    jw_key(&w, "tensors");
    jw_arr_begin(&w);
    int64_t n = ferry_model_tensor_count(m);
    for (int64_t i = 0; i < n && !w.err; i++) {
        ferry_tensor_info ti;
        ti.struct_size = sizeof ti;
        if (ferry_model_tensor_info(m, i, &ti)) continue;
        jw_obj_begin(&w);
        jw_key(&w, "name");
        jw_cstr(&w, ti.name);
        jw_key(&w, "dtype");
        jw_cstr(&w, ferry_dtype_name(ti.dtype));
        jw_key(&w, "shape");
        jw_arr_begin(&w);
        for (int32_t d = 0; d < ti.ndim; d++) jw_int(&w, ti.shape[d]);
        jw_arr_end(&w);
        jw_key(&w, "nbytes");
        jw_uint(&w, ti.nbytes);
        jw_key(&w, "offset");
        if (ti.file_offset >= 0)
            jw_int(&w, ti.file_offset);
        else
            jw_null(&w);
        jw_key(&w, "status");
        jw_cstr(&w, status_word(ti.status));
        jw_key(&w, "native_dtype");
        jw_cstr(&w, ti.native_dtype);
        jw_obj_end(&w);
    }
    jw_arr_end(&w);
    jw_key(&w, "metadata");
    jw_meta(&w, ferry_model_metadata(m));
    jw_obj_end(&w);
    if (jw_end(&w) && !ferror(stdout)) {
        cli_errorf("out of memory");
        return CLI_ERROR;
    }
    return CLI_OK;
}

static int run(const cli_cmd *cmd, cli_args *a)
{
    (void)cmd;
    ferry_ctx *ctx = cli_ctx_new(NULL);
    if (!ctx) return CLI_ERROR;
    ferry_model *m = NULL;
    int rc = cli_open(ctx, a->pos[0], &m);
    if (rc == CLI_OK) rc = a->opt[O_JSON] ? json_out(m) : text_out(m);
    ferry_model_close(m);
    ferry_ctx_free(ctx);
    return rc;
}

const cli_cmd cli_cmd_ls = {
    .name     = "ls",
    .synopsis = "FILE",
    .summary  = "List the tensors of a model file: name, dtype, shape and size in bytes.",
    .details  = NULL,
    .opts     = opts,
    .min_pos  = 1,
    .max_pos  = 1,
    .run      = run,
};
