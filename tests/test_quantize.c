/*
 * test_quantize.c -- ferry_quantize_elems against ggml's own output.
 *
 * The golden set (shared/golden/quant, see its README) holds, for four 8 x 4096 inputs, the
 * bytes ggml_quantize_chunk wrote for every quantizable type, without (`.q`) and with
 * (`.imat.q`) the importance matrix imatrix.f32. Every file of a type ferry can quantize must
 * be reproduced byte for byte; the test prints one line per type with the blocks that match
 * so that a partial port is visible at a glance. Skipped with a message when the shared
 * folder is absent.
 *
 * Also: output independent of the thread count (1, 3, "all" and 64 threads on 13 rows),
 * argument checking, and ferry_convert_elems F32 -> block on unaligned input.
 */
#include "ferry.h"
#include "t.h"

#include <math.h>

#define NROWS 8
#define NPR   4096

static const char *const dists[] = {"gauss", "uniform", "weights", "edge"};

typedef struct qtype {
    const char *name;   /* ggml_type_name spelling used by the golden files */
    ferry_dtype dt;
} qtype;

static const qtype types[] = {
    {"f32", FERRY_DTYPE_F32},          {"f16", FERRY_DTYPE_F16},
    {"bf16", FERRY_DTYPE_BF16},        {"q4_0", FERRY_DTYPE_GGML(2)},
    {"q4_1", FERRY_DTYPE_GGML(3)},     {"q5_0", FERRY_DTYPE_GGML(6)},
    {"q5_1", FERRY_DTYPE_GGML(7)},     {"q8_0", FERRY_DTYPE_GGML(8)},
    {"q2_K", FERRY_DTYPE_GGML(10)},    {"q3_K", FERRY_DTYPE_GGML(11)},
    {"q4_K", FERRY_DTYPE_GGML(12)},    {"q5_K", FERRY_DTYPE_GGML(13)},
    {"q6_K", FERRY_DTYPE_GGML(14)},    {"iq2_xxs", FERRY_DTYPE_GGML(16)},
    {"iq2_xs", FERRY_DTYPE_GGML(17)},  {"iq3_xxs", FERRY_DTYPE_GGML(18)},
    {"iq1_s", FERRY_DTYPE_GGML(19)},   {"iq4_nl", FERRY_DTYPE_GGML(20)},
    {"iq3_s", FERRY_DTYPE_GGML(21)},   {"iq2_s", FERRY_DTYPE_GGML(22)},
    {"iq4_xs", FERRY_DTYPE_GGML(23)},  {"iq1_m", FERRY_DTYPE_GGML(29)},
    {"tq1_0", FERRY_DTYPE_GGML(34)},   {"tq2_0", FERRY_DTYPE_GGML(35)},
    {"mxfp4", FERRY_DTYPE_GGML(39)},   {"nvfp4", FERRY_DTYPE_GGML(40)},
    {"q1_0", FERRY_DTYPE_GGML(41)},    {"q2_0", FERRY_DTYPE_GGML(42)},
};

/* ============================================================================================
 * Helpers
 * ========================================================================================== */

static size_t elem_bytes(ferry_dtype dt, size_t n)
{
    if (dt == FERRY_DTYPE_F32) return 4 * n;
    if (dt == FERRY_DTYPE_F16 || dt == FERRY_DTYPE_BF16) return 2 * n;
    return n / ferry_dtype_block_size(dt) * ferry_dtype_block_bytes(dt);
}

static size_t block_bytes(ferry_dtype dt)
{
    if (dt == FERRY_DTYPE_F32) return 4;
    if (dt == FERRY_DTYPE_F16 || dt == FERRY_DTYPE_BF16) return 2;
    return ferry_dtype_block_bytes(dt);
}

/* Reads a whole file into a malloc'ed buffer; NULL if absent. */
static void *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    void *buf = malloc(n > 0 ? (size_t)n : 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (len) *len = (size_t)n;
    return buf;
}

static void *golden(const char *name, size_t *len)
{
    char rel[256];
    snprintf(rel, sizeof rel, "golden/quant/%s", name);
    const char *dir = getenv("FERRY_SHARED");
    char path[4096];
    if (dir && *dir)
        snprintf(path, sizeof path, "%s/%s", dir, rel);
    else
        snprintf(path, sizeof path, "%s/../shared/%s", FERRY_SOURCE_DIR, rel);
    return slurp(path, len);
}

static int have_golden(void) { return t_shared("golden/quant/README.md") != NULL; }

/* ============================================================================================
 * Golden files
 * ========================================================================================== */

TEST(golden_bytes)
{
    if (!have_golden()) return;
    float *imat = golden("imatrix.f32", NULL);
    CHECK(imat != NULL);
    if (!imat) return;
    /* The four inputs stacked into one 32-row matrix: one call per type and imatrix setting
     * (the lattice types build their search tables once per call). */
    float *all = calloc((size_t)4 * NROWS * NPR, sizeof(float));
    for (int k = 0; k < 4; k++) {
        char name[64];
        snprintf(name, sizeof name, "%s.input.f32", dists[k]);
        size_t len = 0;
        float *in = golden(name, &len);
        CHECK(in != NULL && len == sizeof(float) * NROWS * NPR);
        if (in && len == sizeof(float) * NROWS * NPR)
            memcpy(all + (size_t)k * NROWS * NPR, in, len);
        free(in);
    }
    for (size_t t = 0; t < sizeof types / sizeof types[0]; t++) {
        const qtype *q = &types[t];
        size_t rb = elem_bytes(q->dt, NPR), bb = block_bytes(q->dt);
        long blocks[2] = {0, 0}, same[2] = {0, 0};
        int files[2] = {0, 0};
        uint8_t *out = malloc(4 * NROWS * rb);
        for (int im = 0; im < 2; im++) {
            int rc = FERRY_E_DTYPE;
            if (ferry_dtype_can_quantize(q->dt))
                rc = ferry_quantize_elems(q->dt, all, out, 4 * NROWS, NPR, im ? imat : NULL, 1);
            for (int k = 0; k < 4; k++) {
                char name[64];
                snprintf(name, sizeof name, "%s.%s.%s", dists[k], q->name, im ? "imat.q" : "q");
                size_t glen = 0;
                uint8_t *g = golden(name, &glen);
                if (!g) continue;
                files[im]++;
                CHECK_MSG(glen == NROWS * rb, "%s: %zu bytes", name, glen);
                long nb = (long)(glen / bb);
                blocks[im] += nb;
                if (rc != FERRY_OK || glen != NROWS * rb) {
                    CHECK_MSG(!ferry_dtype_can_quantize(q->dt), "%s: rc %d", name, rc);
                    free(g);
                    continue;
                }
                const uint8_t *o = out + (size_t)k * NROWS * rb;
                long nsame = 0;
                for (long b = 0; b < nb; b++) nsame += memcmp(o + b * bb, g + b * bb, bb) == 0;
                CHECK_MSG(nsame == nb, "%s: %ld of %ld blocks differ", name, nb - nsame, nb);
                same[im] += nsame;
                free(g);
            }
        }
        free(out);
        if (!ferry_dtype_can_quantize(q->dt)) {
            fprintf(stderr, "  %-8s not implemented (%d + %d golden files)\n", q->name, files[0],
                    files[1]);
            continue;
        }
        fprintf(stderr, "  %-8s plain %ld/%ld blocks (%d files), imatrix %ld/%ld (%d files)\n",
                q->name, same[0], blocks[0], files[0], same[1], blocks[1], files[1]);
    }
    free(all);
    free(imat);
}

/* ============================================================================================
 * Thread-count invariance
 * ========================================================================================== */

/* A deterministic pseudo-random matrix with outliers (and a zero row 5 when it has one). */
static void fill(float *x, size_t n, uint64_t seed)
{
    uint64_t s = seed;
    for (size_t i = 0; i < n; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        double u = (double)(s >> 11) * 0x1p-53;
        x[i] = (float)((u - 0.5) * 0.1);
        if ((s >> 20) % 997 == 0) x[i] = (s >> 40) & 1 ? 1.f : -1.f;
    }
    if (n >= 6 * 512) memset(x + 5 * 512, 0, 512 * sizeof(float)); /* a zero row */
}

TEST(thread_count_invariance)
{
    enum { ROWS = 13, NPRT = 512 };
    float *x = malloc(sizeof(float) * ROWS * NPRT);
    float imat[NPRT];
    fill(x, (size_t)ROWS * NPRT, 1);
    for (int j = 0; j < NPRT; j++) imat[j] = 0.5f + (float)(j % 7);
    static const int threads[] = {3, 0, 64};
    for (size_t t = 0; t < sizeof types / sizeof types[0]; t++) {
        ferry_dtype dt = types[t].dt;
        if (!ferry_dtype_can_quantize(dt)) continue;
        size_t n = elem_bytes(dt, NPRT) * ROWS;
        uint8_t *one = malloc(n), *many = malloc(n);
        for (int im = ferry_dtype_needs_imatrix(dt) ? 1 : 0; im < 2; im++) {
            const float *qw = im ? imat : NULL;
            CHECK(ferry_quantize_elems(dt, x, one, ROWS, NPRT, qw, 1) == FERRY_OK);
            for (size_t k = 0; k < sizeof threads / sizeof threads[0]; k++) {
                memset(many, 0xA5, n);
                CHECK(ferry_quantize_elems(dt, x, many, ROWS, NPRT, qw, threads[k]) == FERRY_OK);
                CHECK_MSG(memcmp(one, many, n) == 0, "%s imat=%d threads=%d", types[t].name, im,
                          threads[k]);
            }
        }
        free(one);
        free(many);
    }
    free(x);
}

/* ============================================================================================
 * Arguments, type queries, ferry_convert_elems
 * ========================================================================================== */

TEST(arguments)
{
    float x[256] = {0};
    uint8_t y[1024];
    CHECK(ferry_dtype_can_quantize(FERRY_DTYPE_Q4_K));
    CHECK(ferry_dtype_can_quantize(FERRY_DTYPE_F16));
    CHECK(!ferry_dtype_can_quantize(FERRY_DTYPE_I32));
    CHECK(!ferry_dtype_can_quantize(FERRY_DTYPE_GGML(31))); /* removed id */
    CHECK(ferry_dtype_needs_imatrix(FERRY_DTYPE_GGML(16)));
    CHECK(!ferry_dtype_needs_imatrix(FERRY_DTYPE_Q4_0));
    CHECK_EQ_INT(ferry_quantize_elems(FERRY_DTYPE_I32, x, y, 1, 256, NULL, 1), FERRY_E_DTYPE);
    CHECK_EQ_INT(ferry_quantize_elems(FERRY_DTYPE_Q4_K, x, y, 1, 100, NULL, 1), FERRY_E_ARG);
    CHECK_EQ_INT(ferry_quantize_elems(FERRY_DTYPE_Q4_0, x, y, -1, 32, NULL, 1), FERRY_E_ARG);
    CHECK_EQ_INT(ferry_quantize_elems(FERRY_DTYPE_Q4_0, NULL, y, 1, 32, NULL, 1), FERRY_E_ARG);
    CHECK_EQ_INT(ferry_quantize_elems(FERRY_DTYPE_Q4_0, x, y, 0, 32, NULL, 1), FERRY_OK);
    CHECK_EQ_INT(ferry_quantize_elems(FERRY_DTYPE_Q4_0, x, y, 1, 32, NULL, -2), FERRY_E_ARG);
    /* An all-zero Q4_0 block stores d = -0.0 and nibbles 8 (FORMATS.md A2.3). */
    CHECK_EQ_INT(ferry_quantize_elems(FERRY_DTYPE_Q4_0, x, y, 1, 32, NULL, 1), FERRY_OK);
    CHECK(y[0] == 0x00 && y[1] == 0x80 && y[2] == 0x88 && y[17] == 0x88);
}

TEST(hostile_values_stay_in_bounds)
{
    /* NaN / inf must not crash or trip the sanitizers; the bytes are unspecified. */
    float x[256];
    for (int j = 0; j < 256; j++) x[j] = j % 3 == 0 ? NAN : j % 3 == 1 ? INFINITY : -1e30f;
    uint8_t y[4096];
    for (size_t t = 0; t < sizeof types / sizeof types[0]; t++) {
        if (!ferry_dtype_can_quantize(types[t].dt)) continue;
        float imat[256];
        for (int j = 0; j < 256; j++) imat[j] = 1.f;
        if (!ferry_dtype_needs_imatrix(types[t].dt))
            CHECK(ferry_quantize_elems(types[t].dt, x, y, 1, 256, NULL, 1) == FERRY_OK);
        else
            CHECK(ferry_quantize_elems(types[t].dt, x, y, 1, 256, NULL, 1) == FERRY_E_ARG);
        CHECK(ferry_quantize_elems(types[t].dt, x, y, 1, 256, imat, 1) == FERRY_OK);
    }
}

TEST(convert_elems_quantizes)
{
    /* Unaligned f32 source through ferry_convert_elems equals ferry_quantize_elems. */
    enum { N = 1024 };
    float x[N];
    fill(x, N, 7);
    uint8_t raw[4 * N + 1];
    memcpy(raw + 1, x, sizeof x);
    uint8_t a[4 * N], b[4 * N];
    for (size_t t = 0; t < sizeof types / sizeof types[0]; t++) {
        ferry_dtype dt = types[t].dt;
        if (!ferry_dtype_is_block(dt)) continue;
        int rc = ferry_convert_elems(FERRY_DTYPE_F32, raw + 1, dt, a, N);
        if (!ferry_dtype_can_quantize(dt) || ferry_dtype_needs_imatrix(dt)) {
            CHECK_EQ_INT(rc, FERRY_E_DTYPE);
            continue;
        }
        CHECK_EQ_INT(rc, FERRY_OK);
        CHECK(ferry_quantize_elems(dt, x, b, 1, N, NULL, 1) == FERRY_OK);
        CHECK_MSG(memcmp(a, b, elem_bytes(dt, N)) == 0, "%s", types[t].name);
    }
    CHECK_EQ_INT(ferry_convert_elems(FERRY_DTYPE_F64, x, FERRY_DTYPE_Q4_0, a, 32), FERRY_E_DTYPE);
}

int main(void)
{
    RUN(golden_bytes);
    RUN(thread_count_invariance);
    RUN(arguments);
    RUN(hostile_values_stay_in_bounds);
    RUN(convert_elems_quantizes);
    return t_finish("quantize");
}
