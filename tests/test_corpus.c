/*
 * test_corpus.c -- conformance over the shared corpus of real files written by other tools:
 * every safetensors, GGUF, .npy and .npz file under ../shared/corpus/{safetensors,gguf,numpy,
 * generated} is detected by content as its format, opens, and every plain tensor's bytes
 * can be read in full (and, where zero-copy, equal the mapped bytes). Value-level checks
 * against the reference libraries live in the per-format tests and tests/interop/.
 * Skips with a message when ../shared is absent.
 */
#include "internal.h"
#include "t.h"

#include <ftw.h>

static ferry_ctx *g_ctx;
static int g_files;

static const struct {
    const char *ext;
    const char *format;
} expect[] = {
    {".safetensors", "safetensors"},
    {".gguf", "gguf"},
    {".npy", "npy"},
    {".npz", "npz"},
};

/* Corpus files that are broken on purpose or by accident upstream. Each must be rejected
 * with FERRY_E_CORRUPT and a message naming an offset or field -- never crash, never open. */
static const struct {
    const char *path_part;
    const char *why;
} known_bad[] = {
    /* These copies went through a text conversion that replaced bytes >= 0x80 with U+FFFD
     * (EF BF BD), shifting every later length field: their headers are garbage. */
    {"llama-jni-bridge@ebd221e4ed/models/ggml-vocab-bert-bge.gguf", "UTF-8 mangled"},
    {"llama-jni-bridge@ebd221e4ed/models/ggml-vocab-deepseek-coder.gguf", "UTF-8 mangled"},
    {"llama-jni-bridge@ebd221e4ed/models/ggml-vocab-gpt-2.gguf", "UTF-8 mangled"},
    {"llama-jni-bridge@ebd221e4ed/models/ggml-vocab-llama-spm.gguf", "UTF-8 mangled"},
    {"llama-jni-bridge@ebd221e4ed/models/ggml-vocab-phi-3.gguf", "UTF-8 mangled"},
};
static int g_rejected;

static void check_file(const char *path, const char *format)
{
    g_files++;
    for (size_t k = 0; k < FERRY_ARRAY_LEN(known_bad); k++) {
        if (!strstr(path, known_bad[k].path_part)) continue;
        ferry_model *m = NULL;
        int rc = ferry_open(g_ctx, path, NULL, &m);
        CHECK_MSG(rc == FERRY_E_CORRUPT && m == NULL, "%s (%s) opened: rc %d", path,
                  known_bad[k].why, rc);
        CHECK_MSG(strstr(ferry_ctx_error(g_ctx), "offset") || strstr(ferry_ctx_error(g_ctx), ": "),
                  "%s: imprecise error \"%s\"", path, ferry_ctx_error(g_ctx));
        ferry_model_close(m);
        g_rejected++;
        return;
    }
    const char *detected = NULL;
    int rc = ferry_detect(g_ctx, path, &detected);
    CHECK_MSG(rc == 0 && detected && strcmp(detected, format) == 0, "%s: detected %s (%s)", path,
              detected ? detected : "nothing", ferry_ctx_error(g_ctx));
    ferry_model *m = NULL;
    rc = ferry_open(g_ctx, path, NULL, &m);
    CHECK_MSG(rc == 0, "%s: %s", path, ferry_ctx_error(g_ctx));
    if (rc) return;
    uint8_t *buf = malloc(1 << 20);
    for (int64_t i = 0; i < ferry_model_tensor_count(m); i++) {
        ferry_tensor_info ti = {.struct_size = sizeof ti};
        CHECK(ferry_model_tensor_info(m, i, &ti) == 0);
        if (ti.status != FERRY_TENSOR_PLAIN) continue;
        const void *zc = NULL;
        if (ferry_tensor_data(m, i, &zc) != 0) zc = NULL;
        for (uint64_t off = 0; off < ti.nbytes; off += 1 << 20) {
            size_t k = ti.nbytes - off < (1 << 20) ? (size_t)(ti.nbytes - off) : (1 << 20);
            rc = ferry_tensor_read(m, i, off, buf, k);
            CHECK_MSG(rc == 0, "%s: tensor %s: %s", path, ti.name, ferry_ctx_error(g_ctx));
            if (rc) break;
            if (zc) CHECK(memcmp(buf, (const uint8_t *)zc + off, k) == 0);
        }
    }
    free(buf);
    ferry_model_close(m);
}

static int visit(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    if (flag != FTW_F) return 0;
    for (size_t i = 0; i < FERRY_ARRAY_LEN(expect); i++)
        if (ferry__has_extension(path, expect[i].ext)) check_file(path, expect[i].format);
    return 0;
}

TEST(corpus_opens)
{
    static const char *dirs[] = {"corpus/safetensors", "corpus/gguf", "corpus/numpy",
                                 "corpus/generated"};
    for (size_t i = 0; i < FERRY_ARRAY_LEN(dirs); i++) {
        const char *d = t_shared(dirs[i]);
        if (!d) continue;
        char copy[4096];
        snprintf(copy, sizeof copy, "%s", d);
        nftw(copy, visit, 16, FTW_PHYS);
    }
    printf("corpus: checked %d files (%d known-bad files rejected precisely)\n", g_files,
           g_rejected);
}

int main(void)
{
    g_ctx = ferry_ctx_new(NULL);
    RUN(corpus_opens);
    ferry_ctx_free(g_ctx);
    return t_finish("corpus");
}
