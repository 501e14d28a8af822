/*
 * cmd_convert.c -- `ferry convert IN OUT [--to FORMAT] [--dtype T] [--alignment N]
 * [--quiet]`: write a model in another format.
 *
 * All the work is the library's: ferry_open reads IN, ferry_write streams every tensor into
 * an atomic sink for OUT (one bounded chunk in memory at a time) and renames it into place
 * only when complete, so a failed conversion leaves nothing at OUT -- not even a temporary
 * file. SIGINT, SIGTERM and SIGHUP are caught while writing: the progress callback then
 * cancels the write, the library removes its temporary file, and main() re-raises the
 * signal. This file turns the options into ferry_write_options, draws the
 * progress callback as a bar on stderr (terminal only, and not with --quiet), prints the
 * library's notices and warnings ("ferry: note: ...", "ferry: warning: ..."; notices are
 * dropped by --quiet), and ends with a one-line summary on stderr.
 *
 * Argument mistakes are caught before anything is opened, as usage errors (exit 4): an
 * unknown --to format or one that ferry cannot write, an OUT whose extension names no
 * writable format when --to is absent, an unknown --dtype, a malformed --alignment.
 */
#include "cli.h"

#include <string.h>
#include <strings.h>
#include <sys/stat.h>

enum { O_TO, O_DTYPE, O_ALIGN, O_QUIET, O_HELP };

static const cli_opt opts[] = {
    [O_TO]    = {0, "to", "FORMAT", "output format (default: from OUT's extension)"},
    [O_DTYPE] = {0, "dtype", "T", "store floating-point tensors as dtype T (F16, BF16, ...)"},
    [O_ALIGN] = {0, "alignment", "N", "align tensor data to N bytes where the format can"},
    [O_QUIET] = {'q', "quiet", NULL, "no progress bar, notes or summary (warnings still print)"},
    [O_HELP]  = CLI_OPT_HELP,
    CLI_OPT_END,
};

/* The registered name of a writable format (case-insensitive match), or NULL. */
static const char *writable_format(const char *name)
{
    for (int i = 0; i < ferry_format_count(); i++) {
        const char *n = NULL;
        uint32_t caps = 0;
        if (ferry_format_info(i, &n, NULL, NULL, &caps) == 0 && n && strcasecmp(n, name) == 0)
            return (caps & FERRY_CAP_WRITE) ? n : NULL;
    }
    return NULL;
}

static void list_writable(FILE *fp)
{
    int k = 0;
    fputs("ferry: formats that can be written:", fp);
    for (int i = 0; i < ferry_format_count(); i++) {
        const char *n = NULL;
        uint32_t caps = 0;
        if (ferry_format_info(i, &n, NULL, NULL, &caps) == 0 && n && (caps & FERRY_CAP_WRITE))
            fprintf(fp, " %s", n), k++;
    }
    fputs(k ? "\n" : " none in this build\n", fp);
}

/* Draws the bar, and cancels the write (the library then aborts its sink) once a signal
 * has been caught. */
static int on_progress(void *ud, uint64_t done, uint64_t total)
{
    cli_progress_update(ud, done, total);
    return cli_interrupted() != 0;
}

static int run(const cli_cmd *cmd, cli_args *a)
{
    const char *in = a->pos[0], *outp = a->pos[1];
    bool quiet = a->opt[O_QUIET] != NULL;
    ferry_write_options wo;
    memset(&wo, 0, sizeof wo);
    wo.struct_size = sizeof wo;

    if (a->opt[O_TO]) {
        wo.format = writable_format(a->opt[O_TO]);
        if (!wo.format) {
            int rc = cli_usage_error(cmd, "cannot write format '%s'", a->opt[O_TO]);
            list_writable(stderr);
            return rc;
        }
    } else if (!ferry_format_for_path(outp)) {
        int rc = cli_usage_error(cmd, "cannot tell the output format from '%s'; use --to FORMAT",
                                 outp);
        list_writable(stderr);
        return rc;
    }
    if (a->opt[O_DTYPE]) {
        wo.dtype = ferry_dtype_from_name(a->opt[O_DTYPE]);
        if (wo.dtype == FERRY_DTYPE_UNKNOWN)
            return cli_usage_error(cmd, "unknown dtype '%s'", a->opt[O_DTYPE]);
    }
    if (a->opt[O_ALIGN] && (!cli_parse_u32(a->opt[O_ALIGN], &wo.alignment) || !wo.alignment))
        return cli_usage_error(cmd, "--alignment needs a positive integer, not '%s'",
                               a->opt[O_ALIGN]);

    cli_log log = {!quiet};
    ferry_ctx *ctx = cli_ctx_new(&log);
    if (!ctx) return CLI_ERROR;
    ferry_model *m = NULL;
    int rc = cli_open(ctx, in, &m);
    if (rc == CLI_OK) {
        cli_progress bar;
        cli_progress_start(&bar, "converting", !quiet);
        wo.progress    = on_progress;
        wo.progress_ud = &bar;
        double t0 = cli_now();
        cli_catch_signals();
        int st = ferry_write(m, outp, &wo);
        cli_progress_end(&bar);
        if (st && cli_interrupted()) {
            cli_errorf("interrupted: %s was not written", outp);
            rc = CLI_ERROR;
        } else if (st) {
            rc = cli_lib_error(ctx, st, outp);
        } else if (!quiet) {
            int64_t n = ferry_model_tensor_count(m), written = 0;
            for (int64_t i = 0; i < n; i++) {
                ferry_tensor_info ti;
                ti.struct_size = sizeof ti;
                if (ferry_model_tensor_info(m, i, &ti) == 0 && ti.status == FERRY_TENSOR_PLAIN)
                    written++;
            }
            struct stat sb;
            char h[32];
            const char *fmt = wo.format ? wo.format : ferry_format_for_path(outp);
            fputs("ferry: wrote ", stderr);
            cli_write_escaped(stderr, outp, strlen(outp), 0);
            fprintf(stderr, " (%s): %lld tensors, %s in %.2f s\n", fmt, (long long)written,
                    stat(outp, &sb) == 0 ? cli_human_bytes(h, (uint64_t)sb.st_size) : "?",
                    cli_now() - t0);
        }
    }
    ferry_model_close(m);
    ferry_ctx_free(ctx);
    return rc;
}

const cli_cmd cli_cmd_convert = {
    .name     = "convert",
    .synopsis = "IN OUT",
    .summary  = "Convert a model file to another format, streaming one tensor at a time.",
    .details  = "OUT is written atomically: on any failure nothing is left at OUT. Tensors the\n"
                "output format cannot hold are widened losslessly where possible (with a\n"
                "note); GGML block types are dequantized to F32. --dtype applies to\n"
                "floating-point and block-quantized tensors only.",
    .opts     = opts,
    .min_pos  = 2,
    .max_pos  = 2,
    .run      = run,
};
