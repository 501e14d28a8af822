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

static void check_file(const char *path, const char *format)
{
    g_files++;
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
    printf("corpus: checked %d files\n", g_files);
}

int main(void)
{
    g_ctx = ferry_ctx_new(NULL);
    RUN(corpus_opens);
    ferry_ctx_free(g_ctx);
    return t_finish("corpus");
}
