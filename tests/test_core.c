/*
 * test_core.c -- the core: contexts and limits, the allocator hook (failing the N-th
 * allocation), sources (memory, sub-range, callback, file) and their bounds, atomic sinks,
 * the metadata tree, in-memory models, path containment for sibling files.
 */
#include "internal.h"
#include "t.h"

#include <dirent.h>
#include <unistd.h>

/* ---- an allocator that fails the N-th call ------------------------------------------------ */

typedef struct {
    long calls;
    long fail_at; /* 0 = never */
} fail_alloc;

static void *fa_realloc(void *ud, void *p, size_t n)
{
    fail_alloc *f = ud;
    if (++f->calls == f->fail_at) return NULL;
    return realloc(p, n);
}

static void fa_free(void *ud, void *p)
{
    (void)ud;
    free(p);
}

TEST(ctx_limits_roundtrip)
{
    ferry_ctx *ctx = ferry_ctx_new(NULL);
    CHECK(ctx != NULL);
    ferry_limits l = {.struct_size = sizeof l};
    CHECK_EQ_INT(ferry_ctx_get_limits(ctx, &l), 0);
    CHECK(l.dims == 64);
    ferry_limits n = {.struct_size = sizeof n, .dims = 4};
    CHECK_EQ_INT(ferry_ctx_set_limits(ctx, &n), 0);
    CHECK_EQ_INT(ferry_ctx_get_limits(ctx, &l), 0);
    CHECK(l.dims == 4 && l.tensor_count == 10000000);
    ferry_limits bad = {0};
    CHECK_EQ_INT(ferry_ctx_set_limits(ctx, &bad), FERRY_E_ARG);
    ferry_ctx_free(ctx);
    ferry_ctx_free(NULL);
}

TEST(total_alloc_limit)
{
    ferry_ctx *ctx = ferry_ctx_new(NULL);
    ferry_limits n = {.struct_size = sizeof n, .total_alloc = 1000};
    ferry_ctx_set_limits(ctx, &n);
    void *p = ferry__malloc(ctx, 2000);
    CHECK(p == NULL);
    CHECK_EQ_INT(ferry_ctx_error_code(ctx), FERRY_E_LIMIT);
    void *q = ferry__malloc(ctx, 500);
    CHECK(q != NULL);
    CHECK(ctx->allocated == 500);
    ferry__free(ctx, q, 500);
    CHECK(ctx->allocated == 0);
    ferry_ctx_free(ctx);
}

/* Building a model must fail cleanly (no leak, no crash) whichever allocation fails. */
TEST(fail_every_allocation)
{
    for (long k = 1; k < 200; k++) {
        fail_alloc fa = {0, k};
        ferry_allocator a = {fa_realloc, fa_free, &fa};
        ferry_ctx *ctx = ferry_ctx_new(&a);
        if (!ctx) continue;
        ferry_model *m = NULL;
        static const float data[6] = {1, 2, 3, 4, 5, 6};
        int64_t shape[2] = {2, 3};
        int rc = ferry_model_new(ctx, &m);
        if (rc == 0) rc = ferry_model_add_tensor(m, "w", FERRY_DTYPE_F32, 2, shape, data);
        if (rc == 0) rc = ferry_model_set_meta_string(m, "general.name", "x");
        if (rc == 0) rc = ferry_model_set_meta_int(m, "n", 7, FERRY_DTYPE_U32);
        CHECK(rc == 0 || rc == FERRY_E_NOMEM);
        ferry_model_close(m);
        CHECK_MSG(ctx->allocated == 0, "leak of %llu bytes when failing allocation %ld",
                  (unsigned long long)ctx->allocated, k);
        ferry_ctx_free(ctx);
    }
}

TEST(memory_and_sub_sources)
{
    ferry_ctx *ctx = ferry_ctx_new(NULL);
    uint8_t buf[100];
    for (int i = 0; i < 100; i++) buf[i] = (uint8_t)i;
    ferry_source *s, *sub, *sub2;
    CHECK_EQ_INT(ferry_source_from_memory(ctx, buf, sizeof buf, "mem", &s), 0);
    uint8_t out[10];
    CHECK_EQ_INT(ferry_source_read(s, 90, out, 10), 0);
    CHECK(out[0] == 90);
    CHECK_EQ_INT(ferry_source_read(s, 91, out, 10), FERRY_E_CORRUPT);
    CHECK(strstr(ferry_ctx_error(ctx), "mem: offset 91") != NULL);
    CHECK_EQ_INT(ferry_source_read(s, UINT64_MAX - 2, out, 10), FERRY_E_CORRUPT);
    CHECK_EQ_INT(ferry_source_sub(s, 10, 20, "member", &sub), 0);
    CHECK_EQ_INT(ferry_source_sub(s, 90, 20, "member", &sub2), FERRY_E_CORRUPT);
    CHECK_EQ_INT(ferry_source_sub(sub, 5, 10, "inner", &sub2), 0);
    ferry_source_close(s); /* the subs keep it alive */
    CHECK_EQ_INT(ferry_source_read(sub2, 0, out, 10), 0);
    CHECK(out[0] == 15 && out[9] == 24);
    CHECK(ferry_source_map(sub2, 0, 10) == buf + 15);
    CHECK(ferry_source_map(sub2, 5, 6) == NULL);
    CHECK_EQ_INT(ferry_source_read(sub2, 5, out, 6), FERRY_E_CORRUPT);
    CHECK(strstr(ferry_ctx_error(ctx), "inner") != NULL);
    ferry_source_close(sub2);
    ferry_source_close(sub);
    CHECK(ctx->allocated == 0);
    ferry_ctx_free(ctx);
}

static int cb_read(void *ud, uint64_t off, void *dst, size_t len)
{
    const uint8_t *b = ud;
    memcpy(dst, b + off, len);
    return 0;
}
static int released;
static void cb_release(void *ud)
{
    (void)ud;
    released++;
}

TEST(callback_source)
{
    ferry_ctx *ctx = ferry_ctx_new(NULL);
    uint8_t buf[16] = "0123456789abcdef";
    ferry_source *s;
    CHECK_EQ_INT(ferry_source_from_callback(ctx, 16, cb_read, cb_release, buf, "cb", &s), 0);
    char out[4];
    CHECK_EQ_INT(ferry_source_read(s, 12, out, 4), 0);
    CHECK(memcmp(out, "cdef", 4) == 0);
    CHECK(ferry_source_map(s, 0, 1) == NULL);
    CHECK_EQ_INT(ferry_source_read(s, 13, out, 4), FERRY_E_CORRUPT);
    ferry_source_close(s);
    CHECK(released == 1);
    ferry_ctx_free(ctx);
}

static int count_dir_entries(const char *dir)
{
    int n = 0;
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL)
        if (e->d_name[0] != '.') n++;
    if (d) closedir(d);
    return n;
}

TEST(file_sink_is_atomic)
{
    ferry_ctx *ctx = ferry_ctx_new(NULL);
    char dir[600], path[700];
    snprintf(dir, sizeof dir, "%s/sink", t_tmpdir());
    mkdir(dir, 0700);
    snprintf(path, sizeof path, "%s/out.bin", dir);
    ferry_sink *k;
    CHECK_EQ_INT(ferry_sink_open_file(ctx, path, &k), 0);
    CHECK_EQ_INT(ferry_sink_write(k, "hello", 5), 0);
    CHECK_EQ_INT(ferry_sink_zero(k, 3), 0);
    CHECK(ferry_sink_tell(k) == 8);
    CHECK(access(path, F_OK) != 0); /* nothing at the target until commit */
    CHECK_EQ_INT(count_dir_entries(dir), 1);
    CHECK_EQ_INT(ferry_sink_commit(k), 0);
    CHECK_EQ_INT(count_dir_entries(dir), 1);
    ferry_source *s;
    CHECK_EQ_INT(ferry_source_open_file(ctx, path, &s), 0);
    CHECK(ferry_source_size(s) == 8);
    ferry_source_close(s);
    /* an aborted sink leaves the old file untouched and no temporary behind */
    CHECK_EQ_INT(ferry_sink_open_file(ctx, path, &k), 0);
    CHECK_EQ_INT(ferry_sink_write(k, "x", 1), 0);
    ferry_sink_abort(k);
    CHECK_EQ_INT(count_dir_entries(dir), 1);
    CHECK_EQ_INT(ferry_source_open_file(ctx, path, &s), 0);
    CHECK(ferry_source_size(s) == 8);
    ferry_source_close(s);
    /* a directory that does not exist: error naming the path */
    CHECK_EQ_INT(ferry_sink_open_file(ctx, "/nonexistent-dir/x.bin", &k), FERRY_E_IO);
    CHECK(strstr(ferry_ctx_error(ctx), "/nonexistent-dir/x.bin") != NULL);
    unlink(path);
    rmdir(dir);
    CHECK(ctx->allocated == 0);
    ferry_ctx_free(ctx);
}

TEST(file_source_errors)
{
    ferry_ctx *ctx = ferry_ctx_new(NULL);
    ferry_source *s;
    CHECK_EQ_INT(ferry_source_open_file(ctx, "/nonexistent/file", &s), FERRY_E_IO);
    CHECK(strstr(ferry_ctx_error(ctx), "/nonexistent/file") != NULL);
    CHECK_EQ_INT(ferry_source_open_file(ctx, "/", &s), FERRY_E_IO);
    /* an empty file opens with size 0 */
    char path[700];
    snprintf(path, sizeof path, "%s/empty", t_tmpdir());
    FILE *f = fopen(path, "wb");
    fclose(f);
    CHECK_EQ_INT(ferry_source_open_file(ctx, path, &s), 0);
    CHECK(ferry_source_size(s) == 0);
    ferry_source_close(s);
    ferry_model *m;
    CHECK_EQ_INT(ferry_open(ctx, path, NULL, &m), FERRY_E_UNKNOWN_FORMAT);
    CHECK(m == NULL);
    unlink(path);
    ferry_ctx_free(ctx);
}

TEST(sibling_containment)
{
    ferry_ctx *ctx = ferry_ctx_new(NULL);
    char dir[600], base[700], sib[700], outside[700], link[700];
    snprintf(dir, sizeof dir, "%s/model", t_tmpdir());
    mkdir(dir, 0700);
    snprintf(base, sizeof base, "%s/index.json", dir);
    snprintf(sib, sizeof sib, "%s/shard.bin", dir);
    snprintf(outside, sizeof outside, "%s/outside.bin", t_tmpdir());
    snprintf(link, sizeof link, "%s/link.bin", dir);
    FILE *f = fopen(sib, "wb");
    fputs("x", f);
    fclose(f);
    f = fopen(outside, "wb");
    fputs("y", f);
    fclose(f);
    CHECK(symlink(outside, link) == 0);
    ferry_source *s;
    CHECK_EQ_INT(ferry__source_open_sibling(ctx, base, "shard.bin", &s), 0);
    ferry_source_close(s);
    CHECK_EQ_INT(ferry__source_open_sibling(ctx, base, "../outside.bin", &s), FERRY_E_CORRUPT);
    CHECK_EQ_INT(ferry__source_open_sibling(ctx, base, outside, &s), FERRY_E_CORRUPT);
    CHECK_EQ_INT(ferry__source_open_sibling(ctx, base, "./shard.bin", &s), FERRY_E_CORRUPT);
    CHECK_EQ_INT(ferry__source_open_sibling(ctx, base, "a//b", &s), FERRY_E_CORRUPT);
    CHECK_EQ_INT(ferry__source_open_sibling(ctx, base, "C:x", &s), FERRY_E_CORRUPT);
    CHECK_EQ_INT(ferry__source_open_sibling(ctx, base, "a\\b", &s), FERRY_E_CORRUPT);
    CHECK_EQ_INT(ferry__source_open_sibling(ctx, base, "link.bin", &s), FERRY_E_CORRUPT);
    CHECK(strstr(ferry_ctx_error(ctx), "outside the model directory") != NULL);
    CHECK_EQ_INT(ferry__source_open_sibling(ctx, base, "missing.bin", &s), FERRY_E_IO);
    unlink(link);
    unlink(sib);
    unlink(outside);
    rmdir(dir);
    ferry_ctx_free(ctx);
}

TEST(metadata_tree)
{
    ferry_ctx *ctx = ferry_ctx_new(NULL);
    ferry_model *m;
    CHECK_EQ_INT(ferry_model_new(ctx, &m), 0);
    CHECK_EQ_INT(ferry_model_set_meta_string(m, "general.name", "tiny"), 0);
    CHECK_EQ_INT(ferry_model_set_meta_int(m, "ctx", 4096, FERRY_DTYPE_U32), 0);
    CHECK_EQ_INT(ferry_model_set_meta_float(m, "eps", 1e-5, FERRY_DTYPE_F32), 0);
    CHECK_EQ_INT(ferry_model_set_meta_string(m, "general.name", "tiny2"), 0); /* replaces */
    ferry_meta *arr = ferry__meta_append(m, m->meta, "tokens", 6);
    ferry__meta_set_array(arr, FERRY_DTYPE_STRING);
    CHECK_EQ_INT(ferry__meta_reserve(m, arr, 1000), 0);
    for (int i = 0; i < 1000; i++) {
        char tok[16];
        snprintf(tok, sizeof tok, "t%d", i);
        ferry_meta *e = ferry__meta_append(m, arr, NULL, 0);
        CHECK(e && ferry__meta_set_string(m, e, tok, strlen(tok)) == 0);
    }
    const ferry_meta *root = ferry_model_metadata(m);
    CHECK(ferry_meta_kind_of(root) == FERRY_META_MAP);
    CHECK_EQ_INT(ferry_meta_count(root), 4);
    CHECK_EQ_STR(ferry_meta_string(ferry_meta_get(root, "general.name"), NULL), "tiny2");
    const ferry_meta *c = ferry_meta_get(root, "ctx");
    CHECK(ferry_meta_kind_of(c) == FERRY_META_UINT && ferry_meta_numtype(c) == FERRY_DTYPE_U32);
    CHECK(ferry_meta_uint(c) == 4096);
    CHECK(ferry_meta_float(ferry_meta_get(root, "eps")) == 1e-5);
    const ferry_meta *t = ferry_meta_get(root, "tokens");
    CHECK_EQ_INT(ferry_meta_count(t), 1000);
    CHECK_EQ_STR(ferry_meta_string(ferry_meta_at(t, 999), NULL), "t999");
    CHECK(ferry_meta_at(t, 1000) == NULL);
    CHECK(ferry_meta_get(root, "missing") == NULL);
    CHECK_EQ_STR(ferry_meta_key_at(root, 3), "tokens");
    ferry_model_close(m);
    CHECK(ctx->allocated == 0);
    ferry_ctx_free(ctx);
}

TEST(metadata_item_limit)
{
    ferry_ctx *ctx = ferry_ctx_new(NULL);
    ferry_limits n = {.struct_size = sizeof n, .metadata_items = 10};
    ferry_ctx_set_limits(ctx, &n);
    ferry_model *m;
    CHECK_EQ_INT(ferry_model_new(ctx, &m), 0);
    int rc = 0;
    for (int i = 0; i < 20 && rc == 0; i++) {
        char k[16];
        snprintf(k, sizeof k, "k%d", i);
        rc = ferry_model_set_meta_int(m, k, i, FERRY_DTYPE_I64);
    }
    CHECK_EQ_INT(rc, FERRY_E_LIMIT);
    ferry_model_close(m);
    ferry_ctx_free(ctx);
}

TEST(memory_model_tensors)
{
    ferry_ctx *ctx = ferry_ctx_new(NULL);
    ferry_model *m;
    CHECK_EQ_INT(ferry_model_new(ctx, &m), 0);
    static const float w[6] = {1, -2, 3.5f, 0, 65504, 1e-8f};
    int64_t shape[2] = {2, 3};
    CHECK_EQ_INT(ferry_model_add_tensor(m, "w", FERRY_DTYPE_F32, 2, shape, w), 0);
    CHECK_EQ_INT(ferry_model_add_tensor(m, "w", FERRY_DTYPE_F32, 2, shape, w), FERRY_E_ARG);
    int64_t neg[1] = {-1};
    CHECK_EQ_INT(ferry_model_add_tensor(m, "n", FERRY_DTYPE_F32, 1, neg, w), FERRY_E_CORRUPT);
    int64_t huge[3] = {INT64_MAX, 2, 2};
    CHECK_EQ_INT(ferry_model_add_tensor(m, "h", FERRY_DTYPE_F32, 3, huge, w), FERRY_E_CORRUPT);
    int64_t q[1] = {33};
    CHECK_EQ_INT(ferry_model_add_tensor(m, "q", FERRY_DTYPE_Q8_0, 1, q, w), FERRY_E_CORRUPT);
    CHECK_EQ_INT(ferry_model_tensor_count(m), 1);
    CHECK_EQ_INT(ferry_model_find_tensor(m, "w"), 0);
    CHECK_EQ_INT(ferry_model_find_tensor(m, "x"), -1);
    ferry_tensor_info ti = {.struct_size = sizeof ti};
    CHECK_EQ_INT(ferry_model_tensor_info(m, 0, &ti), 0);
    CHECK(ti.nbytes == 24 && ti.nelems == 6 && ti.ndim == 2 && ti.shape[1] == 3);
    const void *p;
    CHECK_EQ_INT(ferry_tensor_data(m, 0, &p), 0);
    CHECK(p == w);
    uint16_t h[6];
    CHECK_EQ_INT(ferry_tensor_read_as(m, 0, 0, 6, FERRY_DTYPE_F16, h), 0);
    CHECK(h[0] == 0x3c00 && h[1] == 0xc000 && h[4] == 0x7bff);
    float back[2];
    CHECK_EQ_INT(ferry_tensor_read(m, 0, 16, back, 8), 0);
    CHECK(back[0] == 65504);
    CHECK_EQ_INT(ferry_tensor_read(m, 0, 20, back, 8), FERRY_E_ARG);
    ferry_model_close(m);
    CHECK(ctx->allocated == 0);
    ferry_ctx_free(ctx);
}

TEST(many_tensors_find)
{
    ferry_ctx *ctx = ferry_ctx_new(NULL);
    ferry_model *m;
    ferry_model_new(ctx, &m);
    static const float v = 1;
    for (int i = 0; i < 5000; i++) {
        char name[32];
        snprintf(name, sizeof name, "blk.%d.weight", i);
        CHECK(ferry_model_add_tensor(m, name, FERRY_DTYPE_F32, 0, NULL, &v) == 0);
    }
    CHECK_EQ_INT(ferry_model_find_tensor(m, "blk.4321.weight"), 4321);
    CHECK_EQ_INT(ferry_model_find_tensor(m, "blk.5000.weight"), -1);
    ferry_model_close(m);
    ferry_ctx_free(ctx);
}

TEST(errors_are_one_line)
{
    ferry_ctx *ctx = ferry_ctx_new(NULL);
    ferry_source *s;
    static const char name[] = "evil\nname\x1b[31m";
    uint8_t b[4] = {0};
    CHECK_EQ_INT(ferry_source_from_memory(ctx, b, 4, name, &s), 0);
    ferry_source_read(s, 2, b, 4);
    CHECK(strchr(ferry_ctx_error(ctx), '\n') == NULL);
    CHECK(strchr(ferry_ctx_error(ctx), '\x1b') == NULL);
    ferry_source_close(s);
    CHECK_EQ_STR(ferry_status_name(FERRY_E_CORRUPT), "corrupt input");
    ferry_ctx_free(ctx);
}

TEST(formats_registered)
{
    CHECK(ferry_format_count() >= 4);
    const char *name;
    uint32_t caps;
    int seen = 0;
    for (int i = 0; i < ferry_format_count(); i++) {
        CHECK_EQ_INT(ferry_format_info(i, &name, NULL, NULL, &caps), 0);
        if (!strcmp(name, "safetensors") || !strcmp(name, "gguf") || !strcmp(name, "npy") ||
            !strcmp(name, "npz"))
            seen++;
    }
    CHECK_EQ_INT(seen, 4);
    CHECK_EQ_STR(ferry_format_for_path("x/y.safetensors"), "safetensors");
    CHECK_EQ_STR(ferry_format_for_path("y.GGUF"), "gguf");
    CHECK(ferry_format_for_path("y.unknown") == NULL);
}

int main(void)
{
    RUN(ctx_limits_roundtrip);
    RUN(total_alloc_limit);
    RUN(fail_every_allocation);
    RUN(memory_and_sub_sources);
    RUN(callback_source);
    RUN(file_sink_is_atomic);
    RUN(file_source_errors);
    RUN(sibling_containment);
    RUN(metadata_tree);
    RUN(metadata_item_limit);
    RUN(memory_model_tensors);
    RUN(many_tensors_find);
    RUN(errors_are_one_line);
    RUN(formats_registered);
    return t_finish("core");
}
