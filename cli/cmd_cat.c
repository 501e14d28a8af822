/*
 * cmd_cat.c -- `ferry cat FILE TENSOR [--dtype T] [-o OUT]`: a tensor's raw bytes.
 *
 * The bytes are the tensor's values in ferry's neutral layout: little-endian, C order
 * (outermost dimension first), exactly what NumPy's tobytes() gives for the same array.
 * With --dtype they are converted first (GGML block types are dequantized).
 *
 * Memory stays bounded whatever the tensor's size: plain copies go through
 * ferry_tensor_read in chunks of at most 4 MiB; conversions through ferry_tensor_read_as in
 * chunks of whole blocks of both the source and the target dtype (a Q4_K block is 256
 * elements, an I4 "block" two), sized so that the converted chunk is at most 4 MiB.
 *
 * A progress bar is drawn on stderr when it is a terminal and the copy takes a while.
 *
 * Output goes to stdout, or with -o to an atomic sink: a temporary file next to OUT that is
 * renamed over it only when every byte has been written, and removed on any failure or on
 * SIGINT/SIGTERM/SIGHUP (caught while writing, checked between chunks) -- so OUT is either
 * the complete tensor or untouched. Binary data is never written to a
 * terminal (it can change the terminal's state); that is a usage error with a hint.
 */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

enum { O_DTYPE, O_OUTPUT, O_HELP };

static const cli_opt opts[] = {
    [O_DTYPE]  = {0, "dtype", "T", "convert the values to dtype T first (F32, F16, BF16, ...)"},
    [O_OUTPUT] = {'o', "output", "FILE", "write to FILE, atomically, instead of stdout"},
    [O_HELP]   = CLI_OPT_HELP,
    CLI_OPT_END,
};

#define CHUNK_BYTES ((size_t)4 << 20)

typedef struct out {
    ferry_sink  *sink;  /* NULL: stdout                         */
    cli_progress bar;   /* drawn on stderr when it is a terminal */
    uint64_t     done;  /* bytes written so far                  */
    uint64_t     total; /* bytes the output will have            */
} out;

static int emit(out *o, const void *p, size_t n)
{
    int rc;
    if (o->sink && cli_interrupted()) return FERRY_E_IO; /* the caller aborts the sink */
    if (o->sink)
        rc = ferry_sink_write(o->sink, p, n);
    else
        rc = fwrite(p, 1, n, stdout) == n ? FERRY_OK : FERRY_E_IO;
    o->done += n;
    cli_progress_update(&o->bar, o->done, o->total);
    return rc;
}

static uint64_t gcd(uint64_t a, uint64_t b)
{
    while (b) {
        uint64_t t = a % b;
        a = b, b = t;
    }
    return a;
}

static int copy_plain(ferry_model *m, int64_t idx, const ferry_tensor_info *ti, out *o,
                      uint8_t *buf)
{
    for (uint64_t off = 0; off < ti->nbytes; off += CHUNK_BYTES) {
        size_t k = ti->nbytes - off < CHUNK_BYTES ? (size_t)(ti->nbytes - off) : CHUNK_BYTES;
        int rc = ferry_tensor_read(m, idx, off, buf, k);
        if (!rc) rc = emit(o, buf, k);
        if (rc) return rc;
    }
    return FERRY_OK;
}

static int copy_converted(ferry_model *m, int64_t idx, const ferry_tensor_info *ti,
                          ferry_dtype dt, out *o, uint8_t *buf)
{
    uint64_t sbs = ferry_dtype_block_size(ti->dtype);
    uint64_t dbs = ferry_dtype_block_size(dt), dbb = ferry_dtype_block_bytes(dt);
    if (sbs == 0) return FERRY_E_DTYPE;
    /* The chunk is a whole number of source blocks and of target blocks. */
    uint64_t unit       = sbs / gcd(sbs, dbs) * dbs;
    uint64_t unit_bytes = unit / dbs * dbb;
    uint64_t units      = CHUNK_BYTES / unit_bytes ? CHUNK_BYTES / unit_bytes : 1;
    uint64_t chunk      = units * unit;
    for (uint64_t e = 0; e < ti->nelems; e += chunk) {
        uint64_t k  = ti->nelems - e < chunk ? ti->nelems - e : chunk;
        uint64_t ob = (k + dbs - 1) / dbs * dbb;
        int rc = ferry_tensor_read_as(m, idx, e, k, dt, buf);
        if (!rc) rc = emit(o, buf, (size_t)ob);
        if (rc) return rc;
    }
    return FERRY_OK;
}

static int cat(const char *file, const char *name, ferry_dtype dt, const char *outpath)
{
    ferry_ctx *ctx = cli_ctx_new(NULL);
    if (!ctx) return CLI_ERROR;
    ferry_model *m  = NULL;
    uint8_t *buf    = NULL;
    out o;
    memset(&o, 0, sizeof o);
    int rc = cli_open(ctx, file, &m);
    if (rc) goto done;
    int64_t idx = ferry_model_find_tensor(m, name);
    if (idx < 0) {
        cli_errorf("%s: no tensor named \"%s\"", file, name);
        rc = CLI_ERROR;
        goto done;
    }
    ferry_tensor_info ti;
    ti.struct_size = sizeof ti;
    if ((rc = ferry_model_tensor_info(m, idx, &ti)) != 0) {
        rc = cli_lib_error(ctx, rc, file);
        goto done;
    }
    if (ti.status != FERRY_TENSOR_PLAIN) {
        cli_errorf("%s: tensor \"%s\" (%s) has no plain byte representation", file, name,
                   ti.native_dtype ? ti.native_dtype : ferry_dtype_name(ti.dtype));
        rc = CLI_ERROR;
        goto done;
    }
    /* Allocate the chunk before creating the output: failing here leaves nothing behind. */
    buf = malloc(CHUNK_BYTES + 256); /* + one block of slack for odd sub-byte tails */
    if (!buf) {
        cli_errorf("out of memory");
        rc = CLI_ERROR;
        goto done;
    }
    if (outpath) cli_catch_signals(); /* before the temporary file exists */
    if (outpath && (rc = ferry_sink_open_file(ctx, outpath, &o.sink)) != 0) {
        rc = cli_lib_error(ctx, rc, outpath);
        goto done;
    }
    ferry_ctx_clear_error(ctx);
    bool same = dt == FERRY_DTYPE_UNKNOWN || dt == ti.dtype;
    o.total = same ? ti.nbytes
                   : (ti.nelems + ferry_dtype_block_size(dt) - 1) / ferry_dtype_block_size(dt) *
                         ferry_dtype_block_bytes(dt);
    cli_progress_start(&o.bar, "writing", true);
    if (same)
        rc = copy_plain(m, idx, &ti, &o, buf);
    else
        rc = copy_converted(m, idx, &ti, dt, &o, buf);
    cli_progress_end(&o.bar);
    if (rc) {
        if (o.sink && cli_interrupted()) {
            cli_errorf("interrupted: %s was not written", outpath);
            rc = CLI_ERROR;
        } else if (!o.sink && ferror(stdout)) {
            rc = CLI_ERROR; /* main() reports the failed write to stdout */
        } else if (rc == FERRY_E_DTYPE && !*ferry_ctx_error(ctx)) {
            cli_errorf("%s: tensor \"%s\": cannot convert %s to %s", file, name,
                       ferry_dtype_name(ti.dtype), ferry_dtype_name(dt));
            rc = CLI_ERROR;
        } else {
            rc = cli_lib_error(ctx, rc, file);
        }
        goto done;
    }
    if (o.sink) {
        ferry_sink *s = o.sink;
        o.sink = NULL; /* commit frees it, whatever happens */
        if ((rc = ferry_sink_commit(s)) != 0) {
            rc = cli_lib_error(ctx, rc, outpath);
            goto done;
        }
    }
    rc = CLI_OK;
done:
    ferry_sink_abort(o.sink);
    free(buf);
    ferry_model_close(m);
    ferry_ctx_free(ctx);
    return rc;
}

static int run(const cli_cmd *cmd, cli_args *a)
{
    const char *outpath = a->opt[O_OUTPUT];
    if (outpath && strcmp(outpath, "-") == 0) outpath = NULL;
    if (outpath && !*outpath) return cli_usage_error(cmd, "empty output file name");
    ferry_dtype dt = FERRY_DTYPE_UNKNOWN;
    if (a->opt[O_DTYPE]) {
        dt = ferry_dtype_from_name(a->opt[O_DTYPE]);
        if (dt == FERRY_DTYPE_UNKNOWN)
            return cli_usage_error(cmd, "unknown dtype '%s'", a->opt[O_DTYPE]);
        if (!ferry_dtype_block_size(dt) || !ferry_dtype_block_bytes(dt))
            return cli_usage_error(cmd, "dtype %s has no fixed byte layout",
                                   ferry_dtype_name(dt));
    }
    if (!outpath && cli_isatty(stdout)) {
        cli_errorf("cat: refusing to write binary data to a terminal");
        fputs("hint: use -o FILE, or redirect standard output: ferry cat FILE TENSOR > out.bin\n",
              stderr);
        return CLI_USAGE;
    }
    return cat(a->pos[0], a->pos[1], dt, outpath);
}

const cli_cmd cli_cmd_cat = {
    .name     = "cat",
    .synopsis = "FILE TENSOR",
    .summary  = "Write a tensor's values as raw little-endian C-order bytes.",
    .details  = "The bytes equal NumPy's tobytes() of the same array. With --dtype the values\n"
                "are converted first (GGML block types are dequantized). Binary data is never\n"
                "written to a terminal: use -o FILE or redirect standard output.",
    .opts     = opts,
    .min_pos  = 2,
    .max_pos  = 2,
    .run      = run,
};
