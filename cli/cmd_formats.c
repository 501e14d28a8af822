/*
 * cmd_formats.c -- `ferry formats`: the formats this build of libferry knows.
 *
 * Text: one line per format, aligned columns NAME, CAPABILITIES, EXTENSIONS, DESCRIPTION.
 * JSON: {"schema_version":1,"formats":[{"name":..., "description":..., "extensions":[...],
 * "read":bool, "write":bool, "graph":bool, "multi_file":bool, "may_hold_code":bool}, ...]}.
 *
 * The list comes from the library's registry (ferry_format_count / ferry_format_info), so a
 * new format shows up here without touching the CLI.
 */
#include "cli.h"

#include <string.h>

enum { O_JSON, O_HELP };

static const cli_opt opts[] = {
    [O_JSON] = {0, "json", NULL, "print JSON (schema_version 1) instead of text"},
    [O_HELP] = CLI_OPT_HELP,
    CLI_OPT_END,
};

static const struct {
    uint32_t    bit;
    const char *word; /* text column */
    const char *key;  /* JSON key    */
} caps[] = {
    {FERRY_CAP_READ, "read", "read"},
    {FERRY_CAP_WRITE, "write", "write"},
    {FERRY_CAP_GRAPH, "graph", "graph"},
    {FERRY_CAP_MULTI_FILE, "multi-file", "multi_file"},
    {FERRY_CAP_MAY_HOLD_CODE, "may-hold-code", "may_hold_code"},
};
#define N_CAPS (sizeof caps / sizeof caps[0])

static void caps_text(char *buf, size_t cap, uint32_t bits)
{
    buf[0] = 0;
    for (size_t k = 0; k < N_CAPS; k++) {
        if (!(bits & caps[k].bit)) continue;
        if (buf[0]) strncat(buf, ",", cap - strlen(buf) - 1);
        strncat(buf, caps[k].word, cap - strlen(buf) - 1);
    }
    if (!buf[0]) snprintf(buf, cap, "-");
}

static void json_extensions(jw *w, const char *exts)
{
    jw_arr_begin(w);
    while (exts && *exts) {
        const char *e = strchr(exts, ',');
        size_t n = e ? (size_t)(e - exts) : strlen(exts);
        if (n) jw_str(w, exts, n);
        exts += n;
        if (*exts == ',') exts++;
    }
    jw_arr_end(w);
}

static int run(const cli_cmd *cmd, cli_args *a)
{
    (void)cmd;
    int n = ferry_format_count();
    if (a->opt[O_JSON]) {
        jw w;
        jw_init(&w, stdout);
        jw_obj_begin(&w);
        jw_key(&w, "schema_version");
        jw_int(&w, 1);
        jw_key(&w, "formats");
        jw_arr_begin(&w);
        for (int i = 0; i < n; i++) {
            const char *name = NULL, *desc = NULL, *exts = NULL;
            uint32_t bits = 0;
            if (ferry_format_info(i, &name, &desc, &exts, &bits)) continue;
            jw_obj_begin(&w);
            jw_key(&w, "name");
            jw_cstr(&w, name);
            jw_key(&w, "description");
            jw_cstr(&w, desc ? desc : "");
            jw_key(&w, "extensions");
            json_extensions(&w, exts);
            for (size_t k = 0; k < N_CAPS; k++) {
                jw_key(&w, caps[k].key);
                jw_bool(&w, (bits & caps[k].bit) != 0);
            }
            jw_obj_end(&w);
        }
        jw_arr_end(&w);
        jw_obj_end(&w);
        if (jw_end(&w) && !ferror(stdout)) {
            cli_errorf("out of memory");
            return CLI_ERROR;
        }
        return CLI_OK;
    }
    size_t wname = 6, wcaps = 12, wext = 10;
    char cbuf[128];
    for (int i = 0; i < n; i++) {
        const char *name = NULL, *exts = NULL;
        uint32_t bits = 0;
        if (ferry_format_info(i, &name, NULL, &exts, &bits)) continue;
        caps_text(cbuf, sizeof cbuf, bits);
        if (name && strlen(name) > wname) wname = strlen(name);
        if (strlen(cbuf) > wcaps) wcaps = strlen(cbuf);
        if (exts && strlen(exts) > wext) wext = strlen(exts);
    }
    printf("%-*s  %-*s  %-*s  %s\n", (int)wname, "FORMAT", (int)wcaps, "CAPABILITIES",
           (int)wext, "EXTENSIONS", "DESCRIPTION");
    for (int i = 0; i < n; i++) {
        const char *name = NULL, *desc = NULL, *exts = NULL;
        uint32_t bits = 0;
        if (ferry_format_info(i, &name, &desc, &exts, &bits)) continue;
        caps_text(cbuf, sizeof cbuf, bits);
        printf("%-*s  %-*s  %-*s  %s\n", (int)wname, name ? name : "?", (int)wcaps, cbuf,
               (int)wext, exts && *exts ? exts : "-", desc ? desc : "");
    }
    return CLI_OK;
}

const cli_cmd cli_cmd_formats = {
    .name     = "formats",
    .synopsis = "",
    .summary  = "List the model formats ferry can read and write, with their capabilities.",
    .details  = "Capabilities: read, write, graph (the format holds a computation graph),\n"
                "multi-file (a model may span several files), may-hold-code (the format can\n"
                "carry executable code such as pickles; ferry never runs it).",
    .opts     = opts,
    .min_pos  = 0,
    .max_pos  = 0,
    .run      = run,
};
