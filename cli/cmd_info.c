/*
 * cmd_info.c -- `ferry info FILE [--json]`: a one-screen summary of a model file.
 *
 * Reports the format and its version, the file size, the number of tensors and parameters
 * (the sum of every tensor's element count), the bytes of tensor data, a histogram by dtype
 * (tensors, parameters and bytes per dtype), the number of top-level metadata keys, the
 * number of graph nodes (formats that hold a graph), and a few keys worth seeing at a glance
 * when present (GGUF general.architecture, general.name, general.file_type, the last shown
 * with its llama.cpp name).
 *
 * JSON (schema_version 1):
 *   {"schema_version":1,"file":...,"format":...,"format_version":...,"file_size":n|null,
 *    "tensor_count":n,"parameter_count":n,"tensor_bytes":n,
 *    "dtypes":{"F32":{"tensors":n,"parameters":n,"bytes":n},...},"metadata_keys":n,
 *    "graph_nodes":n,"notable":{"general.architecture":...,...}}
 * dtypes are listed in the order of ferry's dtype enum, so the output is stable. Tensors
 * whose dtype ferry does not know are counted under "UNKNOWN".
 *
 * Nothing here reads tensor data: info is as fast as opening the file.
 */
#include "cli.h"

#include <string.h>
#include <sys/stat.h>

enum { O_JSON, O_HELP };

static const cli_opt opts[] = {
    [O_JSON] = {0, "json", NULL, "print JSON (schema_version 1) instead of text"},
    [O_HELP] = CLI_OPT_HELP,
    CLI_OPT_END,
};

static const char *const notable_keys[] = {
    "general.architecture",
    "general.name",
    "general.file_type",
};

/* llama.cpp's llama_ftype, the meaning of general.file_type (FORMATS.md A1.6). Removed or
 * unassigned values are NULL. */
static const char *const file_types[] = {
    "ALL_F32",         "MOSTLY_F16",     "MOSTLY_Q4_0",    "MOSTLY_Q4_1",   NULL,
    NULL,              NULL,             "MOSTLY_Q8_0",    "MOSTLY_Q5_0",   "MOSTLY_Q5_1",
    "MOSTLY_Q2_K",     "MOSTLY_Q3_K_S",  "MOSTLY_Q3_K_M",  "MOSTLY_Q3_K_L", "MOSTLY_Q4_K_S",
    "MOSTLY_Q4_K_M",   "MOSTLY_Q5_K_S",  "MOSTLY_Q5_K_M",  "MOSTLY_Q6_K",   "MOSTLY_IQ2_XXS",
    "MOSTLY_IQ2_XS",   "MOSTLY_Q2_K_S",  "MOSTLY_IQ3_XS",  "MOSTLY_IQ3_XXS", "MOSTLY_IQ1_S",
    "MOSTLY_IQ4_NL",   "MOSTLY_IQ3_S",   "MOSTLY_IQ3_M",   "MOSTLY_IQ2_S",  "MOSTLY_IQ2_M",
    "MOSTLY_IQ4_XS",   "MOSTLY_IQ1_M",   "MOSTLY_BF16",    NULL,            NULL,
    NULL,              "MOSTLY_TQ1_0",   "MOSTLY_TQ2_0",   "MOSTLY_MXFP4_MOE", "MOSTLY_NVFP4",
    "MOSTLY_Q1_0",     "MOSTLY_Q2_0",
};

typedef struct bucket {
    uint64_t tensors;
    uint64_t params;
    uint64_t bytes;
} bucket;

/* A hostile file can make these sums overflow; saturate rather than wrap. */
static uint64_t sat_add(uint64_t a, uint64_t b) { return a + b < a ? UINT64_MAX : a + b; }

typedef struct summary {
    int64_t  tensors;
    uint64_t params;
    uint64_t bytes;
    bucket   by_dtype[FERRY_DTYPE_GGML_END]; /* indexed by ferry_dtype; 0 holds the unknown */
} summary;

static void summarize(const ferry_model *m, summary *s)
{
    memset(s, 0, sizeof *s);
    s->tensors = ferry_model_tensor_count(m);
    for (int64_t i = 0; i < s->tensors; i++) {
        ferry_tensor_info ti;
        ti.struct_size = sizeof ti;
        if (ferry_model_tensor_info(m, i, &ti)) continue;
        unsigned d = (unsigned)ti.dtype;
        if (ti.status == FERRY_TENSOR_UNKNOWN_DTYPE || d >= FERRY_DTYPE_GGML_END) d = 0;
        bucket *b = &s->by_dtype[d];
        b->tensors++;
        b->params = sat_add(b->params, ti.nelems);
        b->bytes  = sat_add(b->bytes, ti.nbytes);
        s->params = sat_add(s->params, ti.nelems);
        s->bytes  = sat_add(s->bytes, ti.nbytes);
    }
}

static const char *file_type_name(const ferry_meta *v)
{
    ferry_meta_kind k = ferry_meta_kind_of(v);
    if (k != FERRY_META_UINT && k != FERRY_META_INT) return NULL;
    uint64_t n = ferry_meta_uint(v);
    return n < sizeof file_types / sizeof file_types[0] ? file_types[n] : NULL;
}

static int json_out(const char *path, const ferry_model *m, const summary *s, bool have_size,
                    uint64_t size)
{
    const ferry_meta *root = ferry_model_metadata(m);
    jw w;
    jw_init(&w, stdout);
    jw_obj_begin(&w);
    jw_key(&w, "schema_version");
    jw_int(&w, 1);
    jw_key(&w, "file");
    jw_cstr(&w, path);
    jw_key(&w, "format");
    jw_cstr(&w, ferry_model_format(m));
    jw_key(&w, "format_version");
    jw_cstr(&w, ferry_model_format_version(m));
    jw_key(&w, "file_size");
    if (have_size)
        jw_uint(&w, size);
    else
        jw_null(&w);
    jw_key(&w, "tensor_count");
    jw_int(&w, s->tensors);
    jw_key(&w, "parameter_count");
    jw_uint(&w, s->params);
    jw_key(&w, "tensor_bytes");
    jw_uint(&w, s->bytes);
    jw_key(&w, "dtypes");
    jw_obj_begin(&w);
    for (unsigned d = 0; d < FERRY_DTYPE_GGML_END; d++) {
        const bucket *b = &s->by_dtype[d];
        if (!b->tensors) continue;
        jw_key(&w, ferry_dtype_name((ferry_dtype)d));
        jw_obj_begin(&w);
        jw_key(&w, "tensors");
        jw_uint(&w, b->tensors);
        jw_key(&w, "parameters");
        jw_uint(&w, b->params);
        jw_key(&w, "bytes");
        jw_uint(&w, b->bytes);
        jw_obj_end(&w);
    }
    jw_obj_end(&w);
    jw_key(&w, "metadata_keys");
    jw_int(&w, ferry_meta_count(root));
    jw_key(&w, "graph_nodes");
    jw_int(&w, ferry_model_graph_node_count(m));
    jw_key(&w, "notable");
    jw_obj_begin(&w);
    for (size_t k = 0; k < sizeof notable_keys / sizeof notable_keys[0]; k++) {
        const ferry_meta *v = ferry_meta_get(root, notable_keys[k]);
        if (!v) continue;
        jw_key(&w, notable_keys[k]);
        jw_meta(&w, v);
    }
    jw_obj_end(&w);
    jw_obj_end(&w);
    if (jw_end(&w) && !ferror(stdout)) {
        cli_errorf("out of memory");
        return CLI_ERROR;
    }
    return CLI_OK;
}

static void size_line(const char *label, uint64_t n)
{
    char h[32];
    if (n >= 1024)
        printf("%-22s%s (%llu bytes)\n", label, cli_human_bytes(h, n), (unsigned long long)n);
    else
        printf("%-22s%llu bytes\n", label, (unsigned long long)n);
}

static void text_out(const char *path, const ferry_model *m, const summary *s, bool have_size,
                     uint64_t size)
{
    const ferry_meta *root = ferry_model_metadata(m);
    char h[32], c[32];
    fputs("file:                 ", stdout);
    cli_write_escaped(stdout, path, strlen(path), 0);
    const char *ver = ferry_model_format_version(m);
    bool has_ver = ver && *ver;
    printf("\n%-22s%s%s%s\n", "format:", ferry_model_format(m), has_ver ? " version " : "",
           has_ver ? ver : "");
    if (have_size) size_line("file size:", size);
    printf("tensors:              %lld\n", (long long)s->tensors);
    /* The exact figure follows the rounded one only when they differ. */
    if (s->params >= 1000)
        printf("parameters:           %s (%llu)\n", cli_human_count(c, s->params),
               (unsigned long long)s->params);
    else
        printf("parameters:           %llu\n", (unsigned long long)s->params);
    size_line("tensor data:", s->bytes);
    printf("metadata keys:        %lld\n", (long long)ferry_meta_count(root));
    int64_t nodes = ferry_model_graph_node_count(m);
    if (nodes > 0) printf("graph nodes:          %lld\n", (long long)nodes);
    for (size_t k = 0; k < sizeof notable_keys / sizeof notable_keys[0]; k++) {
        const ferry_meta *v = ferry_meta_get(root, notable_keys[k]);
        if (!v) continue;
        printf("%s:%*s", notable_keys[k], (int)(21 - strlen(notable_keys[k])), "");
        cli_print_scalar(stdout, v, true);
        const char *ft = k == 2 ? file_type_name(v) : NULL;
        if (ft) printf(" (%s)", ft);
        fputc('\n', stdout);
    }
    if (!s->tensors) return;
    printf("\n%-14s %9s %16s %16s\n", "DTYPE", "TENSORS", "PARAMETERS", "BYTES");
    for (unsigned d = 0; d < FERRY_DTYPE_GGML_END; d++) {
        const bucket *b = &s->by_dtype[d];
        if (!b->tensors) continue;
        printf("%-14s %9llu %16llu %16llu  %s\n", ferry_dtype_name((ferry_dtype)d),
               (unsigned long long)b->tensors, (unsigned long long)b->params,
               (unsigned long long)b->bytes, cli_human_bytes(h, b->bytes));
    }
}

static int run(const cli_cmd *cmd, cli_args *a)
{
    (void)cmd;
    const char *path = a->pos[0];
    ferry_ctx *ctx = cli_ctx_new(NULL);
    if (!ctx) return CLI_ERROR;
    ferry_model *m = NULL;
    int rc = cli_open(ctx, path, &m);
    if (rc == CLI_OK) {
        struct stat st;
        bool have_size = stat(path, &st) == 0 && S_ISREG(st.st_mode);
        uint64_t size  = have_size ? (uint64_t)st.st_size : 0;
        summary s; /* 7.5 KiB of buckets */
        summarize(m, &s);
        if (a->opt[O_JSON])
            rc = json_out(path, m, &s, have_size, size);
        else
            text_out(path, m, &s, have_size, size);
    }
    ferry_model_close(m);
    ferry_ctx_free(ctx);
    return rc;
}

const cli_cmd cli_cmd_info = {
    .name     = "info",
    .synopsis = "FILE",
    .summary  = "Summarize a model file: format, sizes, parameter count, dtype histogram.",
    .details  = NULL,
    .opts     = opts,
    .min_pos  = 1,
    .max_pos  = 1,
    .run      = run,
};
