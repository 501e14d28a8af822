/*
 * test_hdf5.c -- the HDF5 reader (src/parse/hdf5.c, src/formats/hdf5.c): values of small
 * h5py-written files (libver earliest / latest, a user block), reads at every alignment
 * through the chunk decoder, attributes as metadata, a callback (unmapped) source, and the
 * corruption matrix: every file of fuzz/seeds/hdf5/ (written by make_hdf5_seeds.py) either
 * opens or fails with the expected status and a message naming the problem.
 */
#include "internal.h"
#include "t.h"

static const char *seed(const char *name)
{
    static char buf[1024];
    snprintf(buf, sizeof buf, "%s/fuzz/seeds/hdf5/%s", FERRY_SOURCE_DIR, name);
    return buf;
}

static int64_t find(ferry_model *m, const char *name)
{
    int64_t i = ferry_model_find_tensor(m, name);
    CHECK_MSG(i >= 0, "tensor %s missing", name);
    return i;
}

static void check_values(ferry_model *m)
{
    int64_t i = find(m, "g/x");
    if (i >= 0) {
        float v[24];
        CHECK_EQ_INT(ferry_tensor_read(m, i, 0, v, sizeof v), 0);
        for (int k = 0; k < 24; k++) CHECK(v[k] == (float)k);
        ferry_tensor_info ti = {.struct_size = sizeof ti};
        ferry_model_tensor_info(m, i, &ti);
        CHECK(ti.flags & FERRY_TENSOR_ZERO_COPY);
        CHECK_EQ_INT(ti.ndim, 2);
        CHECK(ti.shape[0] == 4 && ti.shape[1] == 6);
    }
    i = find(m, "g/be");
    if (i >= 0) {
        int16_t v[5];
        CHECK_EQ_INT(ferry_tensor_read(m, i, 0, v, sizeof v), 0);
        for (int k = 0; k < 5; k++) CHECK(v[k] == k);
        ferry_tensor_info ti = {.struct_size = sizeof ti};
        ferry_model_tensor_info(m, i, &ti);
        CHECK(ti.flags & FERRY_TENSOR_CONVERTED);
        CHECK_EQ_STR(ti.native_dtype, ">i2");
    }
    i = find(m, "gz");
    if (i >= 0) {
        int32_t v[100];
        CHECK_EQ_INT(ferry_tensor_read(m, i, 0, v, sizeof v), 0);
        for (int k = 0; k < 100; k++) CHECK(v[k] == k);
        /* Unaligned slices that cross chunk (16 elements) and element boundaries. */
        for (size_t off = 0; off < 400; off += 37) {
            uint8_t b[97];
            size_t len = 400 - off < sizeof b ? 400 - off : sizeof b;
            CHECK_EQ_INT(ferry_tensor_read(m, i, off, b, len), 0);
            CHECK(memcmp(b, (uint8_t *)v + off, len) == 0);
        }
        float f[100];
        CHECK_EQ_INT(ferry_tensor_read_as(m, i, 0, 100, FERRY_DTYPE_F32, f), 0);
        CHECK(f[99] == 99.0f);
    }
    const ferry_meta *root = ferry_model_metadata(m);
    const ferry_meta *mc = ferry_meta_get(root, "model_config");
    CHECK(mc && ferry_meta_kind_of(mc) == FERRY_META_STRING);
    if (mc) CHECK(strstr(ferry_meta_string(mc, NULL), "Sequential") != NULL);
    const ferry_meta *n = ferry_meta_get(root, "n");
    CHECK(n && ferry_meta_int(n) == 3 && ferry_meta_numtype(n) == FERRY_DTYPE_I64);
    const ferry_meta *names = ferry_meta_get(root, "g/names");
    CHECK(names && ferry_meta_count(names) == 2);
    if (names && ferry_meta_count(names) == 2)
        CHECK_EQ_STR(ferry_meta_string(ferry_meta_at(names, 1), NULL), "bc");
}

static void open_and_check(const char *name)
{
    ferry_ctx *ctx = ferry_ctx_new(NULL);
    ferry_model *m = NULL;
    int rc = ferry_open(ctx, seed(name), NULL, &m);
    CHECK_MSG(rc == 0, "%s: %s", name, ferry_ctx_error(ctx));
    if (m) {
        CHECK_EQ_STR(ferry_model_format(m), "hdf5");
        check_values(m);
    }
    ferry_model_close(m);
    CHECK(ctx->allocated == 0);
    ferry_ctx_free(ctx);
}

TEST(earliest) { open_and_check("earliest.h5"); }
TEST(latest) { open_and_check("latest.h5"); }
TEST(userblock) { open_and_check("userblock.h5"); }

typedef struct mem_file {
    uint8_t *p;
    size_t   n;
} mem_file;

static int cb_read(void *ud, uint64_t off, void *dst, size_t len)
{
    mem_file *f = ud;
    if (off > f->n || len > f->n - off) return -1;
    memcpy(dst, f->p + off, len);
    return 0;
}

TEST(callback_source)
{
    FILE *fp = fopen(seed("latest.h5"), "rb");
    CHECK(fp != NULL);
    if (!fp) return;
    static uint8_t buf[1 << 16];
    mem_file f = {buf, fread(buf, 1, sizeof buf, fp)};
    fclose(fp);
    ferry_ctx *ctx = ferry_ctx_new(NULL);
    ferry_source *src = NULL;
    ferry_model *m = NULL;
    CHECK_EQ_INT(ferry_source_from_callback(ctx, f.n, cb_read, NULL, &f, "cb.h5", &src), 0);
    int rc = ferry_open_source(ctx, src, "hdf5", &m);
    CHECK_MSG(rc == 0, "%s", ferry_ctx_error(ctx));
    if (m) check_values(m);
    ferry_model_close(m);
    ferry_source_close(src);
    CHECK(ctx->allocated == 0);
    ferry_ctx_free(ctx);
}

TEST(header_limit)
{
    ferry_ctx *ctx = ferry_ctx_new(NULL);
    ferry_limits l = {.struct_size = sizeof l, .header_bytes = 64};
    ferry_ctx_set_limits(ctx, &l);
    ferry_model *m = NULL;
    CHECK_EQ_INT(ferry_open(ctx, seed("earliest.h5"), "hdf5", &m), FERRY_E_LIMIT);
    CHECK(strstr(ferry_ctx_error(ctx), "header limit") != NULL);
    CHECK(ctx->allocated == 0);
    ferry_ctx_free(ctx);
}

TEST(cycle_is_noted)
{
    ferry_ctx *ctx = ferry_ctx_new(NULL);
    ferry_model *m = NULL;
    CHECK_EQ_INT(ferry_open(ctx, seed("cycle.h5"), "hdf5", &m), 0);
    if (m) {
        CHECK(ferry_model_find_tensor(m, "dims") < 0);
        const ferry_meta *notes = ferry_meta_get(ferry_model_metadata(m), "notes");
        const ferry_meta *d = notes ? ferry_meta_get(notes, "dims") : NULL;
        CHECK(d && strstr(ferry_meta_string(d, NULL), "already listed") != NULL);
        check_values(m);
    }
    ferry_model_close(m);
    ferry_ctx_free(ctx);
}

TEST(bad_deflate_fails_on_read)
{
    ferry_ctx *ctx = ferry_ctx_new(NULL);
    ferry_model *m = NULL;
    CHECK_EQ_INT(ferry_open(ctx, seed("bad_deflate.h5"), "hdf5", &m), 0);
    if (m) {
        int64_t i = find(m, "gz");
        uint8_t b[400];
        if (i >= 0) {
            int rc = ferry_tensor_read(m, i, 0, b, sizeof b);
            CHECK(rc == FERRY_E_CORRUPT);
            CHECK(strstr(ferry_ctx_error(ctx), "gz") != NULL);
        }
    }
    ferry_model_close(m);
    CHECK(ctx->allocated == 0);
    ferry_ctx_free(ctx);
}

static const struct {
    const char *file;
    int         rc;
    const char *msg;
} MATRIX[] = {
    {"truncated_super.h5", FERRY_E_CORRUPT, "superblock is truncated"},
    {"truncated_half.h5", FERRY_E_CORRUPT, "file is truncated"},
    {"bad_version.h5", FERRY_E_UNSUPPORTED, "superblock version 7"},
    {"bad_offsets_size.h5", FERRY_E_CORRUPT, "sizes of offsets"},
    {"bad_root.h5", FERRY_E_CORRUPT, "leaves the file"},
    {"root_not_header.h5", FERRY_E_CORRUPT, "no object header"},
    {"bad_tree_sig.h5", FERRY_E_CORRUPT, "TREE signature"},
    {"bad_heap_sig.h5", FERRY_E_CORRUPT, "HEAP signature"},
    {"bad_snod_sig.h5", FERRY_E_CORRUPT, "SNOD signature"},
    {"bad_name_offset.h5", FERRY_E_CORRUPT, "symbol table entry"},
    {"huge_dims.h5", FERRY_E_CORRUPT, "stores 12345"},
    {"overflow_dims.h5", FERRY_E_CORRUPT, "stores 12345"},
    {"bad_ohdr_checksum.h5", FERRY_E_CORRUPT, "checksum mismatch"},
    {"bad_superblock_checksum.h5", FERRY_E_CORRUPT, "superblock checksum"},
    {"dense_bad_frhp.h5", FERRY_E_CORRUPT, "fractal heap header"},
    {"dense_bad_bthd.h5", FERRY_E_CORRUPT, "v2 B-tree header"},
    {"dense_bad_fhdb.h5", FERRY_E_CORRUPT, "FHDB signature"},
};

TEST(corruption_matrix)
{
    for (size_t k = 0; k < FERRY_ARRAY_LEN(MATRIX); k++) {
        ferry_ctx *ctx = ferry_ctx_new(NULL);
        ferry_model *m = NULL;
        int rc = ferry_open(ctx, seed(MATRIX[k].file), "hdf5", &m);
        CHECK_MSG(rc == MATRIX[k].rc, "%s: rc %d (%s)", MATRIX[k].file, rc,
                  ferry_ctx_error(ctx));
        CHECK_MSG(strstr(ferry_ctx_error(ctx), MATRIX[k].msg) != NULL, "%s: \"%s\"",
                  MATRIX[k].file, ferry_ctx_error(ctx));
        CHECK(m == NULL);
        CHECK(ctx->allocated == 0);
        ferry_ctx_free(ctx);
    }
}

/* Every prefix of a valid file fails cleanly (or opens, when the cut spares everything). */
TEST(every_truncation)
{
    FILE *fp = fopen(seed("latest.h5"), "rb");
    CHECK(fp != NULL);
    if (!fp) return;
    static uint8_t buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf, fp);
    fclose(fp);
    for (size_t cut = 0; cut < n; cut += 97) {
        ferry_ctx *ctx = ferry_ctx_new(NULL);
        ferry_source *src = NULL;
        ferry_model *m = NULL;
        ferry_source_from_memory(ctx, buf, cut, "cut.h5", &src);
        int rc = ferry_open_source(ctx, src, "hdf5", &m);
        CHECK(rc < 0);
        CHECK(ferry_ctx_error(ctx)[0] != 0);
        ferry_model_close(m);
        ferry_source_close(src);
        CHECK(ctx->allocated == 0);
        ferry_ctx_free(ctx);
    }
}

TEST(dense_storage)
{
    ferry_ctx *ctx = ferry_ctx_new(NULL);
    ferry_model *m = NULL;
    CHECK_EQ_INT(ferry_open(ctx, seed("dense.h5"), "hdf5", &m), 0);
    if (m) {
        CHECK_EQ_INT(ferry_model_tensor_count(m), 20);
        /* Listed in name order whatever the hash order of the name index. */
        ferry_tensor_info ti = {.struct_size = sizeof ti};
        ferry_model_tensor_info(m, 19, &ti);
        CHECK_EQ_STR(ti.name, "x19");
        int16_t v[20];
        CHECK_EQ_INT(ferry_tensor_read(m, 19, 0, v, sizeof v), 0);
        CHECK(v[19] == 19);
        const ferry_meta *a = ferry_meta_get(ferry_model_metadata(m), "a11");
        CHECK(a && ferry_meta_int(a) == 11);
    }
    ferry_model_close(m);
    CHECK(ctx->allocated == 0);
    ferry_ctx_free(ctx);
}

TEST(detection)
{
    ferry_ctx *ctx = ferry_ctx_new(NULL);
    const char *name = NULL;
    CHECK_EQ_INT(ferry_detect(ctx, seed("userblock.h5"), &name), 0);
    CHECK(name && strcmp(name, "hdf5") == 0);
    ferry_ctx_free(ctx);
}

int main(void)
{
    RUN(earliest);
    RUN(latest);
    RUN(userblock);
    RUN(callback_source);
    RUN(header_limit);
    RUN(cycle_is_noted);
    RUN(bad_deflate_fails_on_read);
    RUN(corruption_matrix);
    RUN(every_truncation);
    RUN(dense_storage);
    RUN(detection);
    return t_finish("hdf5");
}
