/*
 * test_dequant.c -- GGML dequantization against ggml's own output.
 *
 * shared/golden/quant (README.md there) holds, for two input distributions, the bytes ggml
 * quantized (<dist>.<type>.q, or .imat.q for the types that need an importance matrix) and
 * ggml's to_float of them (<dist>.<type>.deq.f32). Every such pair must be reproduced bit
 * for bit, both through ferry__dequantize and through ferry_convert_elems. The plain types
 * (f32, f16, bf16) are checked the same way, and in the other direction too: ggml's
 * f32 -> f16 / bf16 conversion of <dist>.input.f32 must equal the .q file.
 *
 * Types whose decoder ferry does not implement are reported as skipped, not failed.
 */
#include "internal.h"
#include "quant/iq_tables.h"
#include "t.h"

enum { ROWS = 8, COLS = 4096, N = ROWS * COLS };

/* Reads a whole file under golden/quant into a malloc'd buffer, or NULL. Call have_golden()
 * first: it prints the skip notice when the shared folder is absent. */
static uint8_t *read_golden(const char *name, size_t *len)
{
    char path[4096];
    const char *env = getenv("FERRY_SHARED");
    if (env && *env) snprintf(path, sizeof path, "%s/golden/quant/%s", env, name);
    else snprintf(path, sizeof path, "%s/../shared/golden/quant/%s", FERRY_SOURCE_DIR, name);
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    uint8_t *buf = NULL;
    if (fseek(f, 0, SEEK_END) == 0) {
        long sz = ftell(f);
        if (sz >= 0 && fseek(f, 0, SEEK_SET) == 0) {
            buf = malloc((size_t)sz + 1);
            if (buf && fread(buf, 1, (size_t)sz, f) != (size_t)sz) {
                free(buf);
                buf = NULL;
            }
            *len = (size_t)sz;
        }
    }
    fclose(f);
    return buf;
}

static int have_golden(void) { return t_shared("golden/quant/README.md") != NULL; }

/* Compares n floats bit for bit; prints the first difference and returns the number of
 * differing blocks of `bs` elements. */
static int diff_blocks(const char *what, const float *got, const float *want, size_t n,
                       uint32_t bs)
{
    int bad = 0;
    for (size_t b = 0; b < n / bs; b++) {
        if (memcmp(got + b * bs, want + b * bs, bs * sizeof(float)) == 0) continue;
        if (bad++ == 0) {
            for (size_t j = b * bs; j < (b + 1) * bs; j++) {
                uint32_t g, w;
                memcpy(&g, got + j, 4);
                memcpy(&w, want + j, 4);
                if (g != w) {
                    fprintf(stderr, "  %s: element %zu (block %zu): got %a (0x%08x), ggml %a "
                            "(0x%08x)\n", what, j, b, (double)got[j], g, (double)want[j], w);
                    break;
                }
            }
        }
    }
    return bad;
}

static const struct {
    const char *file;  /* ggml_type_name spelling */
    int         id;
    int         imat;  /* golden .q / .deq.f32 only exist with the importance matrix */
} TYPES[] = {
    {"q4_0", 2, 0},     {"q4_1", 3, 0},     {"q5_0", 6, 0},     {"q5_1", 7, 0},
    {"q8_0", 8, 0},     {"q2_K", 10, 0},    {"q3_K", 11, 0},    {"q4_K", 12, 0},
    {"q5_K", 13, 0},    {"q6_K", 14, 0},    {"iq2_xxs", 16, 1}, {"iq2_xs", 17, 1},
    {"iq3_xxs", 18, 0}, {"iq1_s", 19, 1},   {"iq4_nl", 20, 0},  {"iq3_s", 21, 0},
    {"iq2_s", 22, 0},   {"iq4_xs", 23, 0},  {"iq1_m", 29, 0},   {"tq1_0", 34, 0},
    {"tq2_0", 35, 0},   {"mxfp4", 39, 0},   {"nvfp4", 40, 0},   {"q1_0", 41, 0},
    {"q2_0", 42, 0},
};

static const char *const DISTS[] = {"weights", "edge"};

TEST(golden_block_types)
{
    static float out[N];
    static uint8_t outu[N * 4 + 1];
    if (!have_golden()) return;
    for (size_t t = 0; t < sizeof TYPES / sizeof TYPES[0]; t++) {
        ferry_dtype dt = FERRY_DTYPE_GGML(TYPES[t].id);
        if (ferry__dequantize(dt, NULL, NULL, 0) == FERRY_E_DTYPE) {
            char msg[128];
            snprintf(msg, sizeof msg, "%s: no dequantizer in ferry", ferry_dtype_name(dt));
            t_skip(msg);
            continue;
        }
        for (size_t k = 0; k < 2; k++) {
            char qn[128], dn[128];
            const char *sfx = TYPES[t].imat ? ".imat" : "";
            snprintf(qn, sizeof qn, "%s.%s%s.q", DISTS[k], TYPES[t].file, sfx);
            snprintf(dn, sizeof dn, "%s.%s%s.deq.f32", DISTS[k], TYPES[t].file, sfx);
            size_t ql = 0, dl = 0;
            uint8_t *q = read_golden(qn, &ql);
            uint8_t *deq = read_golden(dn, &dl);
            CHECK_MSG(q != NULL, "cannot read %s", qn);
            CHECK_MSG(deq != NULL && dl == N * 4, "cannot read %s", dn);
            uint64_t want_ql = 0;
            CHECK(ferry__dtype_nbytes(dt, N, 0, &want_ql) && want_ql == ql);
            if (q && deq && dl == N * 4 && want_ql == ql) {
                char what[160];
                snprintf(what, sizeof what, "%s %s", DISTS[k], ferry_dtype_name(dt));
                memset(out, 0xAB, sizeof out);
                CHECK(ferry__dequantize(dt, q, out, N) == FERRY_OK);
                int bad = diff_blocks(what, out, (const float *)(const void *)deq, N,
                                      ferry_dtype_block_size(dt));
                CHECK_MSG(bad == 0, "%s: %d of %u blocks differ from ggml", what, bad,
                          N / ferry_dtype_block_size(dt));
                /* the public path, into an unaligned buffer */
                CHECK(ferry_convert_elems(dt, q, FERRY_DTYPE_F32, outu + 1, N) == FERRY_OK);
                CHECK_MSG(memcmp(outu + 1, deq, N * 4) == 0, "%s via convert_elems", what);
            }
            free(q);
            free(deq);
        }
    }
}

/* f32 / f16 / bf16: the .q files are ggml's conversions of the input, the .deq.f32 files
 * its conversions back. */
TEST(golden_plain_types)
{
    static const struct { const char *file; ferry_dtype dt; uint32_t width; } P[] = {
        {"f32", FERRY_DTYPE_F32, 4}, {"f16", FERRY_DTYPE_F16, 2}, {"bf16", FERRY_DTYPE_BF16, 2},
    };
    static uint8_t conv[N * 4];
    if (!have_golden()) return;
    for (size_t k = 0; k < 2; k++) {
        char in_n[128];
        snprintf(in_n, sizeof in_n, "%s.input.f32", DISTS[k]);
        size_t il = 0;
        uint8_t *in = read_golden(in_n, &il);
        CHECK_MSG(in != NULL && il == N * 4, "cannot read %s", in_n);
        if (!in) continue;
        for (size_t p = 0; p < 3; p++) {
            char qn[128], dn[128];
            snprintf(qn, sizeof qn, "%s.%s.q", DISTS[k], P[p].file);
            snprintf(dn, sizeof dn, "%s.%s.deq.f32", DISTS[k], P[p].file);
            size_t ql = 0, dl = 0;
            uint8_t *q = read_golden(qn, &ql), *deq = read_golden(dn, &dl);
            CHECK_MSG(q && deq && ql == N * P[p].width && dl == N * 4, "%s / %s", qn, dn);
            if (q && deq && ql == N * P[p].width && dl == N * 4 && il == N * 4) {
                CHECK(ferry_convert_elems(FERRY_DTYPE_F32, in, P[p].dt, conv, N) == FERRY_OK);
                CHECK_MSG(memcmp(conv, q, ql) == 0, "%s: f32 -> %s differs from ggml",
                          DISTS[k], P[p].file);
                CHECK(ferry_convert_elems(P[p].dt, q, FERRY_DTYPE_F32, conv, N) == FERRY_OK);
                CHECK_MSG(memcmp(conv, deq, dl) == 0, "%s: %s -> f32 differs from ggml",
                          DISTS[k], P[p].file);
            }
            free(q);
            free(deq);
        }
        free(in);
    }
}

/* Things that need no golden files: argument checks and the refusal of types without a
 * decoder. */
TEST(dequantize_arguments)
{
    float y[256];
    uint8_t blk[292] = {0};
    CHECK(ferry__dequantize(FERRY_DTYPE_F32, blk, y, 1) == FERRY_E_DTYPE);
    CHECK(ferry__dequantize(FERRY_DTYPE_GGML(4), blk, y, 32) == FERRY_E_DTYPE);
    CHECK(ferry__dequantize(FERRY_DTYPE_GGML(55), blk, y, 32) == FERRY_E_DTYPE);
    CHECK(ferry__dequantize((ferry_dtype)-3, blk, y, 32) == FERRY_E_DTYPE);
    CHECK(ferry__dequantize(FERRY_DTYPE_Q4_K, blk, y, 255) == FERRY_E_ARG);
    CHECK(ferry__dequantize(FERRY_DTYPE_Q4_K, NULL, NULL, 0) == FERRY_OK);
    CHECK(ferry__dequantize(FERRY_DTYPE_Q4_K, NULL, y, 256) == FERRY_E_ARG);
    /* an all-zero block of every decodable type decodes to (signed) zeros */
    for (int id = 0; id < 64; id++) {
        ferry_dtype dt = FERRY_DTYPE_GGML(id);
        uint32_t bs = ferry_dtype_block_size(dt);
        if (!ferry_dtype_is_block(dt) || bs == 0 || ferry__dequantize(dt, NULL, NULL, 0)) continue;
        for (int j = 0; j < 256; j++) y[j] = 1.0f;
        CHECK(ferry__dequantize(dt, blk, y, bs) == FERRY_OK);
        int nonzero = 0;
        for (uint32_t j = 0; j < bs; j++) nonzero += y[j] != 0.0f;
        CHECK_MSG(nonzero == 0, "%s: %d nonzero", ferry_dtype_name(dt), nonzero);
    }
    /* Q8_0 by hand: d = 2, q = -3 */
    uint8_t q8[34] = {0x00, 0x40};
    q8[2] = (uint8_t)-3;
    CHECK(ferry__dequantize(FERRY_DTYPE_Q8_0, q8, y, 32) == FERRY_OK);
    CHECK(y[0] == -6.0f && y[1] == 0.0f);
    /* MXFP4 by hand: e = 128 (scale 2), nibble 7 = 6.0 -> 12, nibble 0xF = -6.0 -> -12 */
    uint8_t mx[17] = {128, 0xF7};
    CHECK(ferry__dequantize(FERRY_DTYPE_GGML(39), mx, y, 32) == FERRY_OK);
    CHECK(y[0] == 12.0f && y[16] == -12.0f && y[1] == 0.0f);
}

/* The i-quant lattice tables: structural invariants of the transcription, and a few entries
 * expanded the way dequant.c does and compared with ggml-common.h's spelled-out tables. */
static uint64_t expand8(const uint16_t *kgrid, unsigned k, int iq1)
{
    static const uint8_t lv2[3] = {0x08, 0x19, 0x2b};
    uint64_t v = 0;
    for (int j = 0; j < 8; j++) {
        unsigned l = (kgrid[k] >> (2 * j)) & 3;
        uint8_t byte = iq1 ? (uint8_t)(l - 1) : lv2[l];
        v |= (uint64_t)byte << (8 * j);
    }
    return v;
}

static int check_kgrid(const uint16_t *g, size_t n)
{
    int bad = 0;
    for (size_t i = 0; i < n; i++) {
        if (i && g[i] <= g[i - 1]) bad++;
        for (int j = 0; j < 8; j++) bad += ((g[i] >> (2 * j)) & 3) == 3;
    }
    return bad;
}

TEST(iq_tables)
{
    CHECK_EQ_INT(check_kgrid(ferry__iq2xxs_kgrid, 256), 0);
    CHECK_EQ_INT(check_kgrid(ferry__iq2xs_kgrid, 512), 0);
    CHECK_EQ_INT(check_kgrid(ferry__iq2s_kgrid, 1024), 0);
    CHECK_EQ_INT(check_kgrid(ferry__iq1s_kgrid, 2048), 0);
    int bad = 0;
    for (int i = 0; i < 256; i++) {
        if (i && ferry__iq3xxs_grid[i] <= ferry__iq3xxs_grid[i - 1]) bad++;
        for (int j = 0; j < 4; j++) {
            unsigned c = (ferry__iq3xxs_grid[i] >> (8 * j)) & 0xFF;
            bad += !(c == 0x3e || (c >= 4 && c <= 0x34 && (c - 4) % 8 == 0));
        }
    }
    for (int i = 0; i < 512; i++) {
        if (i && ferry__iq3s_grid[i] <= ferry__iq3s_grid[i - 1]) bad++;
        for (int j = 0; j < 4; j++) {
            unsigned c = (ferry__iq3s_grid[i] >> (8 * j)) & 0xFF;
            bad += !(c & 1) || c > 15;
        }
    }
    CHECK_EQ_INT(bad, 0);
    /* anchors from ggml-common.h */
    CHECK(expand8(ferry__iq2xxs_kgrid, 0, 0) == 0x0808080808080808ull);
    CHECK(expand8(ferry__iq2xxs_kgrid, 21, 0) == 0x0808081908080819ull);
    CHECK(expand8(ferry__iq2xxs_kgrid, 255, 0) == 0x2b2b2b1908081908ull);
    CHECK(expand8(ferry__iq2xs_kgrid, 7, 0) == 0x080808080819192bull);
    CHECK(expand8(ferry__iq2s_kgrid, 1022, 0) == 0x2b2b2b2b2b082b08ull);
    CHECK(expand8(ferry__iq2s_kgrid, 1023, 0) == 0x2b2b2b2b2b2b2b2bull);
    CHECK(expand8(ferry__iq1s_kgrid, 1, 1) == 0xffffffffffffff01ull);
    CHECK(expand8(ferry__iq1s_kgrid, 198, 1) == 0xff00ffffff00ffffull);
    CHECK(expand8(ferry__iq1s_kgrid, 212, 1) == 0xff00ffff00010100ull);
    CHECK(ferry__iq3xxs_grid[5] == 0x04040c3e && ferry__iq3xxs_grid[255] == 0x3e341c04);
    CHECK(ferry__iq3s_grid[0] == 0x01010101 && ferry__iq3s_grid[511] == 0x0f0f0101);
}

int main(void)
{
    RUN(iq_tables);
    RUN(dequantize_arguments);
    RUN(golden_block_types);
    RUN(golden_plain_types);
    return t_finish("dequant");
}
