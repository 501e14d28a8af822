/*
 * fuzz_json.c -- libFuzzer harness for the shared JSON reader (src/parse/json.c).
 *
 * The input is one JSON document. It is parsed three ways -- the tree builder with and
 * without duplicate-key refusal, and the pull reader alone (skipping every other container)
 * -- and the harness aborts if they disagree about whether the document is valid: the three
 * paths share one grammar, so any disagreement is a bug. On success every top-level string is
 * written back with ferry__json_write_string and every float is formatted and read back,
 * which must reproduce the same value. Nothing may leak (LeakSanitizer in CI).
 */
#include "internal.h"
#include "parse/json.h"

#include <stdlib.h>

static int pull_only(ferry_ctx *ctx, const uint8_t *data, size_t size)
{
    ferry__json_reader r;
    ferry__json_reader_init(&r, ctx, NULL, 0, data, size, 0);
    int rc, n = 0;
    while ((rc = ferry__json_next(&r)) > 0) {
        if ((rc == FERRY__JSON_OBJECT || rc == FERRY__JSON_ARRAY) && (n++ & 1)) {
            rc = ferry__json_skip(&r);
            if (rc < 0) break;
        }
    }
    ferry__json_reader_free(&r);
    return rc;
}

static void check_values(ferry_ctx *ctx, const ferry_meta *v)
{
    for (int64_t i = 0; i < ferry_meta_count(v) + 1; i++) {
        const ferry_meta *c = i == 0 ? v : ferry_meta_at(v, i - 1);
        if (ferry_meta_kind_of(c) == FERRY_META_STRING) {
            size_t n;
            const char *s = ferry_meta_string(c, &n);
            ferry__strbuf b;
            ferry__strbuf_init(&b, ctx);
            if (ferry__json_write_string(&b, s, n) != 0) abort(); /* parsed text is UTF-8 */
            ferry__strbuf_free(&b);
        } else if (ferry_meta_kind_of(c) == FERRY_META_FLOAT) {
            char out[32];
            double d = ferry_meta_float(c), back;
            size_t k = ferry__json_format_double(d, out);
            if (!ferry__json_number_to_double(out, k, &back) || back != d) abort();
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ferry_ctx *ctx = ferry_ctx_new(NULL);
    if (!ctx) return 0;
    ferry_limits l = {.struct_size = sizeof l, .total_alloc = 256u << 20,
                      .metadata_items = 1u << 20};
    ferry_ctx_set_limits(ctx, &l);
    int results[2] = {FERRY_E_NOMEM, FERRY_E_NOMEM};
    for (int pass = 0; pass < 2; pass++) {
        ferry_model *m = NULL;
        if (ferry__model_create(ctx, &m) != 0) break;
        ferry_meta *slot = ferry__meta_append(m, m->meta, "v", 1);
        results[pass] = slot ? ferry__json_parse(m, slot, NULL, 0, data, size,
                                                 pass ? FERRY__JSON_NO_DUP_KEYS : 0)
                             : FERRY_E_NOMEM;
        if (results[pass] == 0) check_values(ctx, ferry_meta_get(ferry_model_metadata(m), "v"));
        ferry_model_close(m);
    }
    int pulled = pull_only(ctx, data, size);
    /* Refusing duplicates can only turn a success into a failure; the pull reader accepts
     * exactly the documents the tree builder accepts (when neither stopped at a limit, at an
     * allocation failure, or -- tree only -- at a key containing U+0000). */
    if (results[1] == 0 && results[0] != 0) abort();
    bool comparable = (results[0] == 0 || results[0] == FERRY_E_CORRUPT) &&
                      (pulled == 0 || pulled == FERRY_E_CORRUPT);
    if (comparable && results[0] != pulled) abort();
    if (ctx->allocated != 0) abort();
    ferry_ctx_free(ctx);
    return 0;
}
