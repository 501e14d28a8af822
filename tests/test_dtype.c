/*
 * test_dtype.c -- the dtype table and element conversions.
 *
 * The rounding checks compare the library against a reference written here independently:
 * every small float format is described by (exponent bits, mantissa bits, bias, special
 * value rules), its finite values are enumerated as doubles with ldexp, and the correctly
 * rounded code of an input is found by locating it between two neighbours and comparing it
 * with their midpoint (exact in double), ties going to the even code. Inputs are every 2^16
 * / 2^8 / 2^6 / 2^4 pattern of each format, a strided walk over all 2^32 float patterns, every
 * midpoint of every format with its float neighbours, and random doubles (F64 sources must
 * round once, not through F32).
 */
#include "internal.h"
#include "t.h"

#include <float.h>
#include <math.h>

/* ============================================================================================
 * Reference formats
 * ========================================================================================== */

enum { K_IEEE, K_FN, K_UZ, K_SAT };

typedef struct tfmt {
    const char *name;
    ferry_dtype dt;
    int         ebits, mbits, bias, kind, width;
} tfmt;

static const tfmt FMTS[] = {
    {"F16", FERRY_DTYPE_F16, 5, 10, 15, K_IEEE, 16},
    {"BF16", FERRY_DTYPE_BF16, 8, 7, 127, K_IEEE, 16},
    {"E4M3FN", FERRY_DTYPE_F8_E4M3FN, 4, 3, 7, K_FN, 8},
    {"E4M3FNUZ", FERRY_DTYPE_F8_E4M3FNUZ, 4, 3, 8, K_UZ, 8},
    {"E5M2", FERRY_DTYPE_F8_E5M2, 5, 2, 15, K_IEEE, 8},
    {"E5M2FNUZ", FERRY_DTYPE_F8_E5M2FNUZ, 5, 2, 16, K_UZ, 8},
    {"E4M3B11FNUZ", FERRY_DTYPE_F8_E4M3B11FNUZ, 4, 3, 11, K_UZ, 8},
    {"F6_E2M3", FERRY_DTYPE_F6_E2M3, 2, 3, 1, K_SAT, 6},
    {"F6_E3M2", FERRY_DTYPE_F6_E3M2, 3, 2, 3, K_SAT, 6},
    {"F4_E2M1", FERRY_DTYPE_F4_E2M1, 2, 1, 1, K_SAT, 4},
};
#define NFMTS ((int)(sizeof FMTS / sizeof FMTS[0]))

static unsigned smask_of(const tfmt *f) { return 1u << (f->width - 1); }

static double ref_decode(const tfmt *f, unsigned code, int *nan)
{
    unsigned smask = smask_of(f), mag = code & (smask - 1);
    int neg = (code & smask) != 0;
    unsigned e = mag >> f->mbits, m = mag & ((1u << f->mbits) - 1), emax = (1u << f->ebits) - 1;
    *nan = 0;
    if (f->kind == K_IEEE && e == emax) {
        if (m) {
            *nan = 1;
            return NAN;
        }
        return neg ? -INFINITY : INFINITY;
    }
    if (f->kind == K_FN && e == emax && m == (1u << f->mbits) - 1) {
        *nan = 1;
        return NAN;
    }
    if (f->kind == K_UZ && code == smask) {
        *nan = 1;
        return NAN;
    }
    double v = e ? ldexp(1.0 + ldexp((double)m, -f->mbits), (int)e - f->bias)
                 : ldexp((double)m, 1 - f->bias - f->mbits);
    return neg ? -v : v;
}

/* The finite non-negative values of a format in increasing order, with their codes. */
typedef struct tvals {
    int      n;
    double   v[1 << 15];
    unsigned code[1 << 15];
} tvals;

static void build_vals(const tfmt *f, tvals *t)
{
    t->n = 0;
    for (unsigned c = 0; c < smask_of(f); c++) {
        int nan;
        double v = ref_decode(f, c, &nan);
        if (nan || isinf(v)) continue;
        t->v[t->n] = v;
        t->code[t->n++] = c;
    }
}

static unsigned ref_overflow_code(const tfmt *f, int neg)
{
    unsigned s = neg ? smask_of(f) : 0;
    switch (f->kind) {
    case K_IEEE: return s | (((1u << f->ebits) - 1) << f->mbits);
    case K_FN: return s | (smask_of(f) - 1);
    case K_UZ: return smask_of(f);
    default: return s | (smask_of(f) - 1);
    }
}

/* Correctly rounded code of a finite or infinite (non-NaN) x. */
static unsigned ref_encode(const tfmt *f, const tvals *t, double x)
{
    int neg = signbit(x) != 0;
    double a = fabs(x);
    unsigned s = neg ? smask_of(f) : 0, mag;
    if (isinf(a)) return ref_overflow_code(f, neg);
    double maxv = t->v[t->n - 1];
    if (a >= maxv) {
        double ulp = maxv - t->v[t->n - 2];
        double thr = maxv + ulp / 2;
        if (a > thr || (a == thr && (t->code[t->n - 1] & 1))) return ref_overflow_code(f, neg);
        mag = t->code[t->n - 1];
    } else {
        int lo = 0, hi = t->n - 1; /* v[lo] <= a < v[hi] */
        while (hi - lo > 1) {
            int mid = (lo + hi) / 2;
            if (t->v[mid] <= a) lo = mid;
            else hi = mid;
        }
        double midp = (t->v[lo] + t->v[hi]) / 2;
        if (a < midp) mag = t->code[lo];
        else if (a > midp) mag = t->code[hi];
        else mag = (t->code[lo] & 1) ? t->code[hi] : t->code[lo];
    }
    if (f->kind == K_UZ && mag == 0) return 0;
    return s | mag;
}

/* Reads code i of a packed array of format f (independent of the library's unpacking). */
static unsigned get_code(const tfmt *f, const uint8_t *p, size_t i)
{
    switch (f->width) {
    case 16: return (unsigned)p[2 * i] | (unsigned)p[2 * i + 1] << 8;
    case 8: return p[i];
    case 4: return (p[i / 2] >> (i % 2 ? 4 : 0)) & 15;
    default: {
        const uint8_t *g = p + (i / 4) * 3;
        uint32_t w = (uint32_t)g[0] | (uint32_t)g[1] << 8 | (uint32_t)g[2] << 16;
        return (w >> (6 * (i % 4))) & 63;
    }
    }
}

static void put_code(const tfmt *f, uint8_t *p, size_t i, unsigned c)
{
    switch (f->width) {
    case 16:
        p[2 * i] = (uint8_t)c;
        p[2 * i + 1] = (uint8_t)(c >> 8);
        return;
    case 8: p[i] = (uint8_t)c; return;
    case 4:
        p[i / 2] = (uint8_t)((p[i / 2] & (i % 2 ? 0x0F : 0xF0)) | c << (i % 2 ? 4 : 0));
        return;
    default: {
        uint8_t *g = p + (i / 4) * 3;
        uint32_t w = (uint32_t)g[0] | (uint32_t)g[1] << 8 | (uint32_t)g[2] << 16;
        w = (w & ~(63u << (6 * (i % 4)))) | (uint32_t)c << (6 * (i % 4));
        g[0] = (uint8_t)w;
        g[1] = (uint8_t)(w >> 8);
        g[2] = (uint8_t)(w >> 16);
        return;
    }
    }
}

static float f32_of(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static uint32_t bits_of(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

/* The NaN code the library promises for a NaN input (see dtype_conv.c). */
static unsigned nan_code(const tfmt *f, float x)
{
    uint32_t b = bits_of(x);
    int neg = b >> 31;
    switch (f->dt) {
    case FERRY_DTYPE_F16: return (neg ? 0x8000u : 0) | 0x7E00u | ((b >> 13) & 0x3FFu);
    case FERRY_DTYPE_BF16: return (b >> 16) | 0x40u;
    case FERRY_DTYPE_F8_E5M2: return (neg ? 0x80u : 0) | 0x7Eu;
    case FERRY_DTYPE_F8_E4M3FN: return (neg ? 0x80u : 0) | 0x7Fu;
    default: return f->kind == K_UZ ? 0x80u : 0u;
    }
}

/* Converts n floats (n a multiple of 4) with the library and checks each code against the
 * reference; returns the number of mismatches (prints the first few). */
static int check_f32_batch(const tfmt *f, const tvals *t, const float *x, size_t n)
{
    static uint8_t out[4096 * 2];
    int bad = 0;
    if (ferry_convert_elems(FERRY_DTYPE_F32, x, f->dt, out, n) != FERRY_OK) return (int)n;
    for (size_t i = 0; i < n; i++) {
        unsigned want = isnan(x[i]) ? nan_code(f, x[i]) : ref_encode(f, t, x[i]);
        unsigned got  = get_code(f, out, i);
        if (got != want) {
            if (bad++ < 5)
                fprintf(stderr, "  %s: f32 %a (0x%08x) -> 0x%x, expected 0x%x\n", f->name,
                        (double)x[i], (unsigned)bits_of(x[i]), got, want);
        }
    }
    return bad;
}

static int check_f64_batch(const tfmt *f, const tvals *t, const double *x, size_t n)
{
    static uint8_t out[4096 * 2];
    int bad = 0;
    if (ferry_convert_elems(FERRY_DTYPE_F64, x, f->dt, out, n) != FERRY_OK) return (int)n;
    for (size_t i = 0; i < n; i++) {
        unsigned want = ref_encode(f, t, x[i]);
        unsigned got  = get_code(f, out, i);
        if (got != want && bad++ < 5)
            fprintf(stderr, "  %s: f64 %a -> 0x%x, expected 0x%x\n", f->name, x[i], got, want);
    }
    return bad;
}

/* A small deterministic generator (splitmix64). */
static uint64_t rng_state = 0x1234567887654321ull;
static uint64_t rng(void)
{
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static tvals g_vals;

/* ============================================================================================
 * Table, names, sizes
 * ========================================================================================== */

TEST(names_round_trip)
{
    for (int dt = 1; dt < FERRY_DTYPE__PLAIN_END; dt++) {
        const char *n = ferry_dtype_name((ferry_dtype)dt);
        CHECK(n && strcmp(n, "UNKNOWN") != 0);
        CHECK_MSG(ferry_dtype_from_name(n) == (ferry_dtype)dt, "%s", n);
    }
    for (int id = 0; id < 64; id++) {
        ferry_dtype dt = FERRY_DTYPE_GGML(id);
        const ferry__dtype_desc *d = ferry__dtype(dt);
        CHECK(d != NULL);
        if (!d) continue;
        if (ferry_dtype_is_block(dt) && d->block_size)
            CHECK_MSG(ferry_dtype_from_name(d->name) == dt, "%s", d->name);
    }
    CHECK_EQ_STR(ferry_dtype_name(FERRY_DTYPE_F8_E4M3FN), "F8_E4M3");
    CHECK_EQ_STR(ferry_dtype_name(FERRY_DTYPE_BYTES_FIXED), "BYTES");
    CHECK_EQ_STR(ferry_dtype_name(FERRY_DTYPE_UCS4_FIXED), "UCS4");
    CHECK_EQ_STR(ferry_dtype_name(FERRY_DTYPE_Q4_K), "Q4_K");
    CHECK_EQ_STR(ferry_dtype_name(FERRY_DTYPE_GGML(18)), "IQ3_XXS");
    CHECK_EQ_STR(ferry_dtype_name(FERRY_DTYPE_GGML(41)), "Q1_0");
    CHECK_EQ_STR(ferry_dtype_name(FERRY_DTYPE_GGML(42)), "Q2_0");
    CHECK_EQ_STR(ferry_dtype_name(FERRY_DTYPE_GGML(4)), "Q4_2 (removed)");
    CHECK_EQ_STR(ferry_dtype_name(FERRY_DTYPE_GGML(0)), "F32");
    CHECK_EQ_STR(ferry_dtype_name(FERRY_DTYPE_GGML(50)), "GGML_50");
    CHECK_EQ_STR(ferry_dtype_name((ferry_dtype)9999), "UNKNOWN");
    CHECK_EQ_STR(ferry_dtype_name((ferry_dtype)-5), "UNKNOWN");
    CHECK(ferry__dtype((ferry_dtype)FERRY_DTYPE__PLAIN_END) == NULL);
    CHECK(ferry__dtype((ferry_dtype)FERRY_DTYPE_GGML_END) == NULL);
    CHECK(ferry__dtype((ferry_dtype)-1) == NULL);
}

TEST(name_aliases)
{
    static const struct { const char *s; ferry_dtype dt; } cases[] = {
        {"f32", FERRY_DTYPE_F32},           {"float32", FERRY_DTYPE_F32},
        {"FLOAT", FERRY_DTYPE_F32},         {"fp32", FERRY_DTYPE_F32},
        {"float16", FERRY_DTYPE_F16},       {"Half", FERRY_DTYPE_F16},
        {"fp16", FERRY_DTYPE_F16},          {"bfloat16", FERRY_DTYPE_BF16},
        {"bf16", FERRY_DTYPE_BF16},         {"float64", FERRY_DTYPE_F64},
        {"double", FERRY_DTYPE_F64},        {"int8", FERRY_DTYPE_I8},
        {"int64", FERRY_DTYPE_I64},         {"uint8", FERRY_DTYPE_U8},
        {"UINT64", FERRY_DTYPE_U64},        {"bool", FERRY_DTYPE_BOOL},
        {"F8_E4M3FN", FERRY_DTYPE_F8_E4M3FN}, {"f8_e4m3", FERRY_DTYPE_F8_E4M3FN},
        {"F4", FERRY_DTYPE_F4_E2M1},        {"F8_E8M0", FERRY_DTYPE_F8_E8M0},
        {"q4_k", FERRY_DTYPE_Q4_K},         {"IQ4_xs", FERRY_DTYPE_IQ4_XS},
        {"mxfp4", FERRY_DTYPE_GGML(39)},    {"complex64", FERRY_DTYPE_C64},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        CHECK_MSG(ferry_dtype_from_name(cases[i].s) == cases[i].dt, "%s", cases[i].s);
    CHECK(ferry_dtype_from_name("") == FERRY_DTYPE_UNKNOWN);
    CHECK(ferry_dtype_from_name(NULL) == FERRY_DTYPE_UNKNOWN);
    CHECK(ferry_dtype_from_name("F33") == FERRY_DTYPE_UNKNOWN);
    CHECK(ferry_dtype_from_name("Q4_2 (removed)") == FERRY_DTYPE_UNKNOWN);
    CHECK(ferry_dtype_from_name("UNKNOWN") == FERRY_DTYPE_UNKNOWN);
}

TEST(sizes)
{
    static const struct { ferry_dtype dt; uint32_t bits, bs, bb; } cases[] = {
        {FERRY_DTYPE_BOOL, 8, 1, 1},          {FERRY_DTYPE_I64, 64, 1, 8},
        {FERRY_DTYPE_C128, 128, 1, 16},       {FERRY_DTYPE_F8_E8M0, 8, 1, 1},
        {FERRY_DTYPE_F6_E2M3, 6, 4, 3},       {FERRY_DTYPE_F4_E2M1, 4, 2, 1},
        {FERRY_DTYPE_I4, 4, 2, 1},            {FERRY_DTYPE_U2, 2, 4, 1},
        {FERRY_DTYPE_U1, 1, 8, 1},            {FERRY_DTYPE_STRING, 0, 0, 0},
        {FERRY_DTYPE_BYTES_FIXED, 0, 1, 0},   {FERRY_DTYPE_DATETIME64, 64, 1, 8},
        {FERRY_DTYPE_Q4_0, 0, 32, 18},        {FERRY_DTYPE_Q4_K, 0, 256, 144},
        {FERRY_DTYPE_Q8_K, 0, 256, 292},      {FERRY_DTYPE_GGML(29), 0, 256, 56},
        {FERRY_DTYPE_GGML(34), 0, 256, 54},   {FERRY_DTYPE_GGML(39), 0, 32, 17},
        {FERRY_DTYPE_GGML(40), 0, 64, 36},    {FERRY_DTYPE_GGML(41), 0, 128, 18},
        {FERRY_DTYPE_GGML(42), 0, 64, 18},    {FERRY_DTYPE_GGML(31), 0, 0, 0},
        {FERRY_DTYPE_GGML(30), 16, 1, 2},     {FERRY_DTYPE_GGML(60), 0, 0, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        CHECK_EQ_INT(ferry_dtype_bits(cases[i].dt), cases[i].bits);
        CHECK_EQ_INT(ferry_dtype_block_size(cases[i].dt), cases[i].bs);
        CHECK_EQ_INT(ferry_dtype_block_bytes(cases[i].dt), cases[i].bb);
    }
    /* the whole ggml table against ggml's own (golden/quant/types.tsv, copied here) */
    static const uint16_t ggml_sizes[43][2] = {
        {1, 4},    {1, 2},    {32, 18},  {32, 20},  {0, 0},    {0, 0},    {32, 22},
        {32, 24},  {32, 34},  {32, 36},  {256, 84}, {256, 110}, {256, 144}, {256, 176},
        {256, 210}, {256, 292}, {256, 66}, {256, 74}, {256, 98}, {256, 50}, {32, 18},
        {256, 110}, {256, 82}, {256, 136}, {1, 1},  {1, 2},    {1, 4},    {1, 8},
        {1, 8},    {256, 56}, {1, 2},    {0, 0},    {0, 0},    {0, 0},    {256, 54},
        {256, 66}, {0, 0},    {0, 0},    {0, 0},    {32, 17},  {64, 36},  {128, 18},
        {64, 18},
    };
    for (int id = 0; id < 43; id++) {
        CHECK_MSG(ferry_dtype_block_size(FERRY_DTYPE_GGML(id)) == ggml_sizes[id][0], "id %d", id);
        CHECK_MSG(ferry_dtype_block_bytes(FERRY_DTYPE_GGML(id)) == ggml_sizes[id][1], "id %d", id);
    }
}

TEST(kinds)
{
    CHECK(ferry_dtype_is_block(FERRY_DTYPE_Q4_K));
    CHECK(ferry_dtype_is_block(FERRY_DTYPE_GGML(31)));
    CHECK(ferry_dtype_is_block(FERRY_DTYPE_GGML(63)));
    CHECK(!ferry_dtype_is_block(FERRY_DTYPE_GGML(0)));
    CHECK(!ferry_dtype_is_block(FERRY_DTYPE_GGML(30)));
    CHECK(!ferry_dtype_is_block(FERRY_DTYPE_F32));
    CHECK(!ferry_dtype_is_block((ferry_dtype)9999));
    CHECK(ferry_dtype_is_numeric(FERRY_DTYPE_F32));
    CHECK(ferry_dtype_is_numeric(FERRY_DTYPE_BOOL));
    CHECK(ferry_dtype_is_numeric(FERRY_DTYPE_U1));
    CHECK(ferry_dtype_is_numeric(FERRY_DTYPE_F8_E8M0));
    CHECK(ferry_dtype_is_numeric(FERRY_DTYPE_F6_E3M2));
    CHECK(ferry_dtype_is_numeric(FERRY_DTYPE_Q4_K));
    CHECK(ferry_dtype_is_numeric(FERRY_DTYPE_GGML(1)));
    CHECK(!ferry_dtype_is_numeric(FERRY_DTYPE_C64));
    CHECK(!ferry_dtype_is_numeric(FERRY_DTYPE_STRING));
    CHECK(!ferry_dtype_is_numeric(FERRY_DTYPE_BYTES_FIXED));
    CHECK(!ferry_dtype_is_numeric(FERRY_DTYPE_DATETIME64));
    CHECK(!ferry_dtype_is_numeric(FERRY_DTYPE_OPAQUE));
    CHECK(!ferry_dtype_is_numeric(FERRY_DTYPE_UNKNOWN));
    CHECK(!ferry_dtype_is_numeric(FERRY_DTYPE_GGML(4)));
    CHECK(!ferry_dtype_is_numeric(FERRY_DTYPE_GGML(50)));
    const ferry__dtype_desc *d = ferry__dtype(FERRY_DTYPE_C64);
    CHECK(d && d->is_complex && d->is_float);
    d = ferry__dtype(FERRY_DTYPE_U32);
    CHECK(d && !d->is_float && !d->is_signed);
    d = ferry__dtype(FERRY_DTYPE_F8_E8M0);
    CHECK(d && d->is_float && !d->is_signed);
}

TEST(nbytes)
{
    uint64_t nb = 0;
    CHECK(ferry__dtype_nbytes(FERRY_DTYPE_F32, 10, 0, &nb) && nb == 40);
    CHECK(ferry__dtype_nbytes(FERRY_DTYPE_Q4_0, 64, 0, &nb) && nb == 36);
    CHECK(!ferry__dtype_nbytes(FERRY_DTYPE_Q4_0, 33, 0, &nb));
    CHECK(ferry__dtype_nbytes(FERRY_DTYPE_I4, 6, 0, &nb) && nb == 3);
    CHECK(!ferry__dtype_nbytes(FERRY_DTYPE_I4, 5, 0, &nb));
    CHECK(ferry__dtype_nbytes(FERRY_DTYPE_F6_E2M3, 8, 0, &nb) && nb == 6);
    CHECK(!ferry__dtype_nbytes(FERRY_DTYPE_F6_E2M3, 6, 0, &nb));
    CHECK(ferry__dtype_nbytes(FERRY_DTYPE_U1, 16, 0, &nb) && nb == 2);
    CHECK(ferry__dtype_nbytes(FERRY_DTYPE_BYTES_FIXED, 3, 7, &nb) && nb == 21);
    CHECK(ferry__dtype_nbytes(FERRY_DTYPE_UCS4_FIXED, 3, 8, &nb) && nb == 24);
    CHECK(!ferry__dtype_nbytes(FERRY_DTYPE_UCS4_FIXED, 3, 6, &nb));
    CHECK(!ferry__dtype_nbytes(FERRY_DTYPE_STRING, 1, 0, &nb));
    CHECK(!ferry__dtype_nbytes(FERRY_DTYPE_GGML(4), 32, 0, &nb));
    CHECK(!ferry__dtype_nbytes(FERRY_DTYPE_F64, UINT64_MAX / 4, 0, &nb));
    CHECK(!ferry__dtype_nbytes(FERRY_DTYPE_BYTES_FIXED, UINT64_MAX / 2, 3, &nb));
    CHECK(ferry__dtype_nbytes(FERRY_DTYPE_Q4_K, 256ull << 40, 0, &nb) && nb == 144ull << 40);
    CHECK(!ferry__dtype_nbytes((ferry_dtype)777, 1, 0, &nb));
    CHECK(ferry__dtype_nbytes(FERRY_DTYPE_F32, 0, 0, &nb) && nb == 0);
}

TEST(byteswap)
{
    uint8_t b[32];
    for (int i = 0; i < 32; i++) b[i] = (uint8_t)i;
    ferry__byteswap(b, 2, 2);
    CHECK(b[0] == 1 && b[1] == 0 && b[2] == 3 && b[3] == 2 && b[4] == 4);
    for (int i = 0; i < 32; i++) b[i] = (uint8_t)i;
    ferry__byteswap(b, 4, 2);
    CHECK(b[0] == 3 && b[3] == 0 && b[4] == 7 && b[7] == 4 && b[8] == 8);
    for (int i = 0; i < 32; i++) b[i] = (uint8_t)i;
    ferry__byteswap(b, 8, 2);
    CHECK(b[0] == 7 && b[7] == 0 && b[8] == 15 && b[15] == 8 && b[16] == 16);
    for (int i = 0; i < 32; i++) b[i] = (uint8_t)i;
    ferry__byteswap(b, 16, 2);
    CHECK(b[0] == 15 && b[15] == 0 && b[16] == 31 && b[31] == 16);
    for (int i = 0; i < 32; i++) b[i] = (uint8_t)i;
    ferry__byteswap(b, 3, 2);
    CHECK(b[0] == 2 && b[1] == 1 && b[2] == 0 && b[3] == 5 && b[5] == 3 && b[6] == 6);
    ferry__byteswap(b, 1, 32);
    CHECK(b[0] == 2);
}

/* ============================================================================================
 * F16 and BF16, exhaustively
 * ========================================================================================== */

TEST(f16_all_patterns)
{
    const tfmt *f = &FMTS[0];
    int bad = 0;
    for (unsigned h = 0; h < 65536; h++) {
        int nan;
        double want = ref_decode(f, h, &nan);
        float got = ferry_f16_to_f32((uint16_t)h);
        if (nan) {
            /* NaN stays NaN, keeps its sign and payload; quiet NaNs round-trip exactly */
            uint32_t gb = bits_of(got);
            if (!isnan(got) || (gb >> 31) != (h >> 15) || ((gb >> 13) & 0x3FF) != (h & 0x3FF))
                bad++;
            uint16_t back = ferry_f32_to_f16(got);
            if (back != (h | 0x200)) bad++;
        } else {
            if ((double)got != want || !signbit(got) != !signbit(want)) bad++;
            if (ferry_f32_to_f16(got) != h) bad++;
        }
    }
    CHECK_EQ_INT(bad, 0);
    /* the bulk paths agree with the scalar ones */
    static uint16_t in[65536], out[65536];
    static float fl[65536];
    for (unsigned h = 0; h < 65536; h++) in[h] = (uint16_t)h;
    CHECK(ferry_convert_elems(FERRY_DTYPE_F16, in, FERRY_DTYPE_F32, fl, 65536) == FERRY_OK);
    CHECK(ferry_convert_elems(FERRY_DTYPE_F32, fl, FERRY_DTYPE_F16, out, 65536) == FERRY_OK);
    bad = 0;
    for (unsigned h = 0; h < 65536; h++) {
        if (bits_of(fl[h]) != bits_of(ferry_f16_to_f32((uint16_t)h))) bad++;
        if (out[h] != ferry_f32_to_f16(fl[h])) bad++;
    }
    CHECK_EQ_INT(bad, 0);
}

TEST(bf16_all_patterns)
{
    int bad = 0;
    for (unsigned h = 0; h < 65536; h++) {
        float got = ferry_bf16_to_f32((uint16_t)h);
        if (bits_of(got) != (uint32_t)h << 16) bad++;
        uint16_t back = ferry_f32_to_bf16(got);
        if (isnan(got)) {
            if (back != (h | 0x40)) bad++;   /* ggml: quieted, payload and sign kept */
        } else if (back != h) {
            bad++;
        }
    }
    CHECK_EQ_INT(bad, 0);
    static uint16_t in[65536], out[65536];
    static float fl[65536];
    for (unsigned h = 0; h < 65536; h++) in[h] = (uint16_t)h;
    CHECK(ferry_convert_elems(FERRY_DTYPE_BF16, in, FERRY_DTYPE_F32, fl, 65536) == FERRY_OK);
    CHECK(ferry_convert_elems(FERRY_DTYPE_F32, fl, FERRY_DTYPE_BF16, out, 65536) == FERRY_OK);
    bad = 0;
    for (unsigned h = 0; h < 65536; h++) {
        if (bits_of(fl[h]) != (uint32_t)h << 16) bad++;
        if (out[h] != ferry_f32_to_bf16(fl[h])) bad++;
    }
    CHECK_EQ_INT(bad, 0);
}

TEST(f16_bf16_landmarks)
{
    CHECK_EQ_INT(ferry_f32_to_f16(65504.0f), 0x7BFF);
    CHECK_EQ_INT(ferry_f32_to_f16(65519.996f), 0x7BFF);
    CHECK_EQ_INT(ferry_f32_to_f16(65520.0f), 0x7C00);
    CHECK_EQ_INT(ferry_f32_to_f16(-65520.0f), 0xFC00);
    CHECK_EQ_INT(ferry_f32_to_f16(1e30f), 0x7C00);
    CHECK_EQ_INT(ferry_f32_to_f16(INFINITY), 0x7C00);
    CHECK_EQ_INT(ferry_f32_to_f16(-0.0f), 0x8000);
    CHECK_EQ_INT(ferry_f32_to_f16(0x1p-24f), 0x0001);
    CHECK_EQ_INT(ferry_f32_to_f16(0x1p-25f), 0x0000);           /* tie to even */
    CHECK_EQ_INT(ferry_f32_to_f16(0x1.000002p-25f), 0x0001);
    CHECK_EQ_INT(ferry_f32_to_f16(0x1.8p-24f), 0x0002);         /* 1.5 ulp: tie to even */
    CHECK_EQ_INT(ferry_f32_to_f16(0x1.ff8p-15f), 0x03FF);       /* largest subnormal */
    CHECK_EQ_INT(ferry_f32_to_f16(0x1.ffcp-15f), 0x0400);       /* tie: up into normal */
    CHECK_EQ_INT(ferry_f32_to_f16(1.0f + 0x1p-11f), 0x3C00);    /* tie to even */
    CHECK_EQ_INT(ferry_f32_to_f16(1.0f + 0x1.8p-10f), 0x3C02);  /* tie to even, upward */
    CHECK_EQ_INT(ferry_f32_to_f16(0x1p-149f), 0x0000);
    CHECK_EQ_INT(ferry_f32_to_f16(f32_of(0x7FC00000u)), 0x7E00);
    CHECK_EQ_INT(ferry_f32_to_f16(f32_of(0xFF800001u)), 0xFE00); /* signalling: quieted */
    CHECK_EQ_INT(ferry_f32_to_bf16(1.0f + 0x1p-8f), 0x3F80);     /* tie to even */
    CHECK_EQ_INT(ferry_f32_to_bf16(1.0f + 0x1.8p-7f), 0x3F82);
    CHECK_EQ_INT(ferry_f32_to_bf16(f32_of(0x7F7FFFFFu)), 0x7F80); /* FLT_MAX rounds to inf */
    CHECK_EQ_INT(ferry_f32_to_bf16(f32_of(0x7F800001u)), 0x7FC0);
    CHECK_EQ_INT(ferry_f32_to_bf16(f32_of(0xFFA12345u)), 0xFFE1);
    CHECK_EQ_INT(ferry_f32_to_bf16(f32_of(0x00008000u)), 0x0000); /* subnormal tie */
    CHECK_EQ_INT(ferry_f32_to_bf16(f32_of(0x00018000u)), 0x0002);
}

/* ============================================================================================
 * Every small format: all patterns, rounding from f32 and f64
 * ========================================================================================== */

TEST(small_formats_all_patterns)
{
    static uint8_t packed[65536 * 2], back[65536 * 2];
    static float fl[65536];
    for (int k = 0; k < NFMTS; k++) {
        const tfmt *f = &FMTS[k];
        unsigned ncodes = 1u << f->width;
        memset(packed, 0, sizeof packed);
        for (unsigned c = 0; c < ncodes; c++) put_code(f, packed, c, c);
        CHECK(ferry_convert_elems(f->dt, packed, FERRY_DTYPE_F32, fl, ncodes) == FERRY_OK);
        CHECK(ferry_convert_elems(FERRY_DTYPE_F32, fl, f->dt, back, ncodes) == FERRY_OK);
        int bad = 0;
        for (unsigned c = 0; c < ncodes; c++) {
            int nan;
            double want = ref_decode(f, c, &nan);
            unsigned b = get_code(f, back, c);
            if (nan) {
                if (!isnan(fl[c]) || b != nan_code(f, fl[c])) bad++;
                continue;
            }
            if ((double)fl[c] != want || !signbit(fl[c]) != !signbit(want)) bad++;
            if (b != c && bad++ < 3) fprintf(stderr, "  %s: 0x%x -> %a -> 0x%x\n", f->name, c,
                                             (double)fl[c], b);
        }
        CHECK_MSG(bad == 0, "%s: %d mismatches", f->name, bad);
        /* the same through F64 */
        static double dv[65536];
        CHECK(ferry_convert_elems(f->dt, packed, FERRY_DTYPE_F64, dv, ncodes) == FERRY_OK);
        bad = 0;
        for (unsigned c = 0; c < ncodes; c++)
            if (!(isnan(dv[c]) && isnan(fl[c])) && bits_of((float)dv[c]) != bits_of(fl[c])) bad++;
        CHECK_MSG(bad == 0, "%s via F64: %d mismatches", f->name, bad);
    }
}

TEST(rounding_strided_f32)
{
    static float buf[4096];
    for (int k = 0; k < NFMTS; k++) {
        const tfmt *f = &FMTS[k];
        build_vals(f, &g_vals);
        int bad = 0;
        size_t nb = 0;
        /* every 4099th pattern of all 2^32 (4099 is prime, so all residues mod small powers
         * of two are visited) */
        for (uint64_t u = 0; u < (1ull << 32); u += 4099) {
            buf[nb++] = f32_of((uint32_t)u);
            if (nb == 4096) {
                bad += check_f32_batch(f, &g_vals, buf, nb);
                nb = 0;
            }
        }
        nb -= nb % 4;
        if (nb) bad += check_f32_batch(f, &g_vals, buf, nb);
        CHECK_MSG(bad == 0, "%s: %d mismatches", f->name, bad);
    }
}

/* For each format: every finite value and every midpoint between neighbours, each with the
 * floats just below and above it, both signs; plus the overflow threshold. */
TEST(rounding_midpoints)
{
    static float buf[4096];
    for (int k = 0; k < NFMTS; k++) {
        const tfmt *f = &FMTS[k];
        build_vals(f, &g_vals);
        int bad = 0;
        size_t nb = 0;
        double maxv = g_vals.v[g_vals.n - 1];
        for (int i = 0; i <= g_vals.n; i++) {
            double pts[2];
            int np = 0;
            if (i < g_vals.n) pts[np++] = g_vals.v[i];
            if (i + 1 < g_vals.n) pts[np++] = (g_vals.v[i] + g_vals.v[i + 1]) / 2;
            if (i == g_vals.n) pts[np++] = maxv + (maxv - g_vals.v[g_vals.n - 2]) / 2;
            for (int p = 0; p < np; p++) {
                float c = (float)pts[p];
                if ((double)c != pts[p]) continue; /* BF16 midpoints near FLT_MAX and such */
                float cand[6] = {c, nextafterf(c, INFINITY), nextafterf(c, -INFINITY)};
                for (int s = 0; s < 3; s++) cand[3 + s] = -cand[s];
                for (int s = 0; s < 6; s++) {
                    buf[nb++] = cand[s];
                    if (nb == 4096) {
                        bad += check_f32_batch(f, &g_vals, buf, nb);
                        nb = 0;
                    }
                }
            }
        }
        /* specials */
        float sp[8] = {INFINITY, -INFINITY, NAN, -NAN, FLT_MAX, -FLT_MAX, 0x1p-149f, -0x1p-149f};
        for (int s = 0; s < 8; s++) {
            buf[nb++] = sp[s];
            if (nb == 4096) {
                bad += check_f32_batch(f, &g_vals, buf, nb);
                nb = 0;
            }
        }
        while (nb % 4) buf[nb++] = 0.0f;
        bad += check_f32_batch(f, &g_vals, buf, nb);
        CHECK_MSG(bad == 0, "%s: %d mismatches", f->name, bad);
    }
}

/* F64 sources round once: random doubles over each format's range, and the double-rounding
 * traps (values just off a midpoint by less than an f32 ulp). */
TEST(rounding_from_f64)
{
    static double buf[4096];
    for (int k = 0; k < NFMTS; k++) {
        const tfmt *f = &FMTS[k];
        build_vals(f, &g_vals);
        int bad = 0;
        double maxv = g_vals.v[g_vals.n - 1];
        for (int round = 0; round < 64; round++) {
            for (int i = 0; i < 4096; i++) {
                uint64_t r = rng();
                double x;
                if (i % 3 == 0) {
                    /* near a midpoint, off by a tiny amount below f32 resolution */
                    int j = (int)(r % (uint64_t)(g_vals.n - 1));
                    double mid = (g_vals.v[j] + g_vals.v[j + 1]) / 2;
                    double eps = ldexp((double)((r >> 32) % 7) - 3.0, -45) * (mid ? mid : 1);
                    x = mid + eps;
                } else {
                    x = ldexp((double)(r >> 11), -53) * maxv * 1.25;
                    x = ldexp(x, -(int)((r >> 3) % 24));
                }
                buf[i] = (r & 1) ? -x : x;
            }
            bad += check_f64_batch(f, &g_vals, buf, 4096);
        }
        CHECK_MSG(bad == 0, "%s: %d mismatches", f->name, bad);
    }
    /* a classic: 1 + 2^-11 + 2^-40 rounds up to 1 + 2^-10 in f16, but via f32 it would tie */
    double x = 1.0 + 0x1p-11 + 0x1p-40;
    uint16_t h = 0;
    CHECK(ferry_convert_elems(FERRY_DTYPE_F64, &x, FERRY_DTYPE_F16, &h, 1) == FERRY_OK);
    CHECK_EQ_INT(h, 0x3C01);
    CHECK(ferry_convert_elems(FERRY_DTYPE_F64, &x, FERRY_DTYPE_BF16, &h, 1) == FERRY_OK);
    CHECK_EQ_INT(h, 0x3F80);
    x = 1.0 + 0x1p-8 + 0x1p-40;
    CHECK(ferry_convert_elems(FERRY_DTYPE_F64, &x, FERRY_DTYPE_BF16, &h, 1) == FERRY_OK);
    CHECK_EQ_INT(h, 0x3F81);
    x = -1e300;
    CHECK(ferry_convert_elems(FERRY_DTYPE_F64, &x, FERRY_DTYPE_BF16, &h, 1) == FERRY_OK);
    CHECK_EQ_INT(h, 0xFF80);
    x = 1e-300;
    CHECK(ferry_convert_elems(FERRY_DTYPE_F64, &x, FERRY_DTYPE_F16, &h, 1) == FERRY_OK);
    CHECK_EQ_INT(h, 0x0000);
    x = 5e-324; /* smallest subnormal double */
    CHECK(ferry_convert_elems(FERRY_DTYPE_F64, &x, FERRY_DTYPE_BF16, &h, 1) == FERRY_OK);
    CHECK_EQ_INT(h, 0x0000);
}

TEST(fp8_landmarks)
{
    static const struct { ferry_dtype dt; float x; uint8_t want; } cases[] = {
        {FERRY_DTYPE_F8_E4M3FN, 448.0f, 0x7E},    {FERRY_DTYPE_F8_E4M3FN, 464.0f, 0x7E},
        {FERRY_DTYPE_F8_E4M3FN, 464.01f, 0x7F},   {FERRY_DTYPE_F8_E4M3FN, -1000.0f, 0xFF},
        {FERRY_DTYPE_F8_E4M3FN, INFINITY, 0x7F},  {FERRY_DTYPE_F8_E4M3FN, -0.0f, 0x80},
        {FERRY_DTYPE_F8_E4M3FN, 0x1p-9f, 0x01},   {FERRY_DTYPE_F8_E4M3FN, 0x1p-10f, 0x00},
        {FERRY_DTYPE_F8_E4M3FNUZ, 240.0f, 0x7F},  {FERRY_DTYPE_F8_E4M3FNUZ, 248.0f, 0x80},
        {FERRY_DTYPE_F8_E4M3FNUZ, -0.0f, 0x00},   {FERRY_DTYPE_F8_E4M3FNUZ, -0x1p-12f, 0x00},
        {FERRY_DTYPE_F8_E4M3FNUZ, -INFINITY, 0x80}, {FERRY_DTYPE_F8_E5M2, 57344.0f, 0x7B},
        {FERRY_DTYPE_F8_E5M2, 61440.0f, 0x7C},    {FERRY_DTYPE_F8_E5M2, -INFINITY, 0xFC},
        {FERRY_DTYPE_F8_E5M2, NAN, 0x7E},         {FERRY_DTYPE_F8_E5M2FNUZ, 57344.0f, 0x7F},
        {FERRY_DTYPE_F8_E5M2FNUZ, 1e6f, 0x80},    {FERRY_DTYPE_F8_E4M3B11FNUZ, 30.0f, 0x7F},
        {FERRY_DTYPE_F8_E4M3B11FNUZ, 31.0f, 0x80}, {FERRY_DTYPE_F8_E4M3B11FNUZ, NAN, 0x80},
        /* E8M0: nearest power of two, 1.5 * 2^k rounds up; no zero, no sign */
        {FERRY_DTYPE_F8_E8M0, 1.0f, 127},         {FERRY_DTYPE_F8_E8M0, 1.49f, 127},
        {FERRY_DTYPE_F8_E8M0, 1.5f, 128},         {FERRY_DTYPE_F8_E8M0, 3.0f, 129},
        {FERRY_DTYPE_F8_E8M0, 0x1p-127f, 0},      {FERRY_DTYPE_F8_E8M0, 0x1p-140f, 0},
        {FERRY_DTYPE_F8_E8M0, 0x1.8p-127f, 1},    {FERRY_DTYPE_F8_E8M0, 0x1p127f, 254},
        {FERRY_DTYPE_F8_E8M0, 0x1.7p127f, 254},   {FERRY_DTYPE_F8_E8M0, 0x1.8p127f, 255},
        {FERRY_DTYPE_F8_E8M0, 0.0f, 255},         {FERRY_DTYPE_F8_E8M0, -1.0f, 255},
        {FERRY_DTYPE_F8_E8M0, INFINITY, 255},     {FERRY_DTYPE_F8_E8M0, NAN, 255},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint8_t o = 0x55;
        CHECK(ferry_convert_elems(FERRY_DTYPE_F32, &cases[i].x, cases[i].dt, &o, 1) == FERRY_OK);
        CHECK_MSG(o == cases[i].want, "%s %a -> 0x%02x, want 0x%02x",
                  ferry_dtype_name(cases[i].dt), (double)cases[i].x, o, cases[i].want);
    }
    /* E8M0 decode: every code */
    uint8_t codes[256];
    float fl[256];
    for (int c = 0; c < 256; c++) codes[c] = (uint8_t)c;
    CHECK(ferry_convert_elems(FERRY_DTYPE_F8_E8M0, codes, FERRY_DTYPE_F32, fl, 256) == FERRY_OK);
    int bad = 0;
    for (int c = 0; c < 255; c++) {
        if ((double)fl[c] != ldexp(1.0, c - 127)) bad++;
        uint8_t back = 0;
        ferry_convert_elems(FERRY_DTYPE_F32, &fl[c], FERRY_DTYPE_F8_E8M0, &back, 1);
        if (back != c) bad++;
    }
    CHECK(isnan(fl[255]));
    CHECK_EQ_INT(bad, 0);
    /* E8M0 from random floats against the rule */
    bad = 0;
    for (int i = 0; i < 100000; i++) {
        float x = f32_of((uint32_t)rng() & 0x7FFFFFFFu);
        if (isnan(x) || isinf(x) || x == 0) continue;
        int e;
        double m = frexp(x, &e); /* x = m * 2^e, m in [0.5, 1) */
        int k = e - 1 + (m >= 0.75);
        unsigned want = k > 127 ? 255u : k < -127 ? 0u : (unsigned)(k + 127);
        uint8_t o = 0;
        ferry_convert_elems(FERRY_DTYPE_F32, &x, FERRY_DTYPE_F8_E8M0, &o, 1);
        if (o != want) bad++;
    }
    CHECK_EQ_INT(bad, 0);
}

TEST(mx_saturation)
{
    /* F6 / F4 saturate to the largest finite value; NaN becomes +0 */
    float x[4] = {100.0f, -100.0f, INFINITY, NAN};
    uint8_t o[3] = {0};
    CHECK(ferry_convert_elems(FERRY_DTYPE_F32, x, FERRY_DTYPE_F6_E2M3, o, 4) == FERRY_OK);
    uint32_t w = (uint32_t)o[0] | (uint32_t)o[1] << 8 | (uint32_t)o[2] << 16;
    CHECK_EQ_INT(w & 63, 0x1F);
    CHECK_EQ_INT((w >> 6) & 63, 0x3F);
    CHECK_EQ_INT((w >> 12) & 63, 0x1F);
    CHECK_EQ_INT((w >> 18) & 63, 0x00);
    CHECK(ferry_convert_elems(FERRY_DTYPE_F32, x, FERRY_DTYPE_F6_E3M2, o, 4) == FERRY_OK);
    w = (uint32_t)o[0] | (uint32_t)o[1] << 8 | (uint32_t)o[2] << 16;
    CHECK_EQ_INT(w, 0x01F | 0x3F << 6 | 0x1F << 12);
    CHECK(ferry_convert_elems(FERRY_DTYPE_F32, x, FERRY_DTYPE_F4_E2M1, o, 4) == FERRY_OK);
    CHECK_EQ_INT(o[0], 0xF7);
    CHECK_EQ_INT(o[1], 0x07);
}

/* ============================================================================================
 * Integers, bool, packing
 * ========================================================================================== */

TEST(float_to_int_saturation)
{
    float x[12] = {NAN, INFINITY, -INFINITY, 127.9f, 128.0f, -128.9f, -129.0f, 1e30f,
                   -0.5f, 0.99f, -1.0f, 3.5f};
    int8_t i8[12];
    CHECK(ferry_convert_elems(FERRY_DTYPE_F32, x, FERRY_DTYPE_I8, i8, 12) == FERRY_OK);
    static const int8_t w8[12] = {0, 127, -128, 127, 127, -128, -128, 127, 0, 0, -1, 3};
    for (int i = 0; i < 12; i++) CHECK_MSG(i8[i] == w8[i], "i8[%d] = %d", i, i8[i]);
    uint8_t u8[12];
    CHECK(ferry_convert_elems(FERRY_DTYPE_F32, x, FERRY_DTYPE_U8, u8, 12) == FERRY_OK);
    static const uint8_t wu8[12] = {0, 255, 0, 127, 128, 0, 0, 255, 0, 0, 0, 3};
    for (int i = 0; i < 12; i++) CHECK_MSG(u8[i] == wu8[i], "u8[%d] = %d", i, u8[i]);
    double d[8] = {0x1p63, -0x1p63, 0x1p63 - 1024, -0x1p63 - 4096, 0x1p64, -1.0, NAN, 1e300};
    int64_t i64[8];
    CHECK(ferry_convert_elems(FERRY_DTYPE_F64, d, FERRY_DTYPE_I64, i64, 8) == FERRY_OK);
    CHECK(i64[0] == INT64_MAX && i64[1] == INT64_MIN && i64[2] == INT64_MAX - 1023);
    CHECK(i64[3] == INT64_MIN && i64[4] == INT64_MAX && i64[5] == -1 && i64[6] == 0);
    CHECK(i64[7] == INT64_MAX);
    uint64_t u64[8];
    CHECK(ferry_convert_elems(FERRY_DTYPE_F64, d, FERRY_DTYPE_U64, u64, 8) == FERRY_OK);
    CHECK(u64[0] == (1ull << 63) && u64[1] == 0 && u64[4] == UINT64_MAX && u64[5] == 0);
    CHECK(u64[6] == 0 && u64[7] == UINT64_MAX);
    double big = 18446744073709549568.0; /* largest double below 2^64 */
    CHECK(ferry_convert_elems(FERRY_DTYPE_F64, &big, FERRY_DTYPE_U64, u64, 1) == FERRY_OK);
    CHECK(u64[0] == 18446744073709549568ull);
    int32_t i32[2];
    float y[2] = {2147483648.0f, -2147483904.0f};
    CHECK(ferry_convert_elems(FERRY_DTYPE_F32, y, FERRY_DTYPE_I32, i32, 2) == FERRY_OK);
    CHECK(i32[0] == INT32_MAX && i32[1] == INT32_MIN);
    /* F16 and FP8 sources go through the same rules */
    uint16_t h[3] = {0x7C00, 0xFE00, 0x5BFF}; /* inf, NaN, 255.875 */
    uint8_t u[3];
    CHECK(ferry_convert_elems(FERRY_DTYPE_F16, h, FERRY_DTYPE_U8, u, 3) == FERRY_OK);
    CHECK(u[0] == 255 && u[1] == 0 && u[2] == 255);
}

TEST(int_to_int_and_bool)
{
    int64_t v[8] = {-1, 0, 1, 127, 128, -129, INT64_MAX, INT64_MIN};
    int8_t i8[8];
    uint8_t u8[8], b[8];
    uint64_t u64[8];
    CHECK(ferry_convert_elems(FERRY_DTYPE_I64, v, FERRY_DTYPE_I8, i8, 8) == FERRY_OK);
    static const int8_t w8[8] = {-1, 0, 1, 127, 127, -128, 127, -128};
    for (int i = 0; i < 8; i++) CHECK_EQ_INT(i8[i], w8[i]);
    CHECK(ferry_convert_elems(FERRY_DTYPE_I64, v, FERRY_DTYPE_U8, u8, 8) == FERRY_OK);
    static const uint8_t wu8[8] = {0, 0, 1, 127, 128, 0, 255, 0};
    for (int i = 0; i < 8; i++) CHECK_EQ_INT(u8[i], wu8[i]);
    CHECK(ferry_convert_elems(FERRY_DTYPE_I64, v, FERRY_DTYPE_U64, u64, 8) == FERRY_OK);
    CHECK(u64[0] == 0 && u64[6] == (uint64_t)INT64_MAX && u64[7] == 0);
    CHECK(ferry_convert_elems(FERRY_DTYPE_I64, v, FERRY_DTYPE_BOOL, b, 8) == FERRY_OK);
    static const uint8_t wb[8] = {1, 0, 1, 1, 1, 1, 1, 1};
    for (int i = 0; i < 8; i++) CHECK_EQ_INT(b[i], wb[i]);
    uint64_t big[2] = {UINT64_MAX, 1ull << 63};
    int64_t s64[2];
    CHECK(ferry_convert_elems(FERRY_DTYPE_U64, big, FERRY_DTYPE_I64, s64, 2) == FERRY_OK);
    CHECK(s64[0] == INT64_MAX && s64[1] == INT64_MAX);
    double dd[2];
    CHECK(ferry_convert_elems(FERRY_DTYPE_U64, big, FERRY_DTYPE_F64, dd, 2) == FERRY_OK);
    CHECK(dd[0] == 0x1p64 && dd[1] == 0x1p63);
    /* I64 -> F64 / F32 round once, directly */
    const int64_t big60 = (1ll << 60) + (1ll << 36) + 1; /* just above an f32 midpoint */
    int64_t t[3] = {big60, (1ll << 53) + 1, -big60};
    float tf[3];
    CHECK(ferry_convert_elems(FERRY_DTYPE_I64, t, FERRY_DTYPE_F32, tf, 3) == FERRY_OK);
    CHECK((double)tf[0] == 0x1p60 + 0x1p37 && (double)tf[2] == -(0x1p60 + 0x1p37));
    CHECK(ferry_convert_elems(FERRY_DTYPE_I64, t, FERRY_DTYPE_F64, dd, 2) == FERRY_OK);
    CHECK(dd[1] == 0x1p53);
    int64_t tb = (1ll << 60) + (1ll << 52) + 1; /* just above a bf16 midpoint */
    uint16_t hb = 0;
    CHECK(ferry_convert_elems(FERRY_DTYPE_I64, &tb, FERRY_DTYPE_BF16, &hb, 1) == FERRY_OK);
    CHECK_EQ_INT(hb, 0x5D81);
    int64_t ti = 65519;
    CHECK(ferry_convert_elems(FERRY_DTYPE_I64, &ti, FERRY_DTYPE_F16, &hb, 1) == FERRY_OK);
    CHECK_EQ_INT(hb, 0x7BFF);
    ti = 65520;
    CHECK(ferry_convert_elems(FERRY_DTYPE_I64, &ti, FERRY_DTYPE_F16, &hb, 1) == FERRY_OK);
    CHECK_EQ_INT(hb, 0x7C00);
    ti = INT64_MIN;
    uint8_t e4 = 0;
    CHECK(ferry_convert_elems(FERRY_DTYPE_I64, &ti, FERRY_DTYPE_F8_E4M3FN, &e4, 1) == FERRY_OK);
    CHECK_EQ_INT(e4, 0xFF);
    ti = 3;
    CHECK(ferry_convert_elems(FERRY_DTYPE_I64, &ti, FERRY_DTYPE_F8_E8M0, &e4, 1) == FERRY_OK);
    CHECK_EQ_INT(e4, 129);
    /* integers against the reference, for every small format */
    for (int k = 0; k < NFMTS; k++) {
        const tfmt *f = &FMTS[k];
        build_vals(f, &g_vals);
        static int32_t iv[4096];
        static uint8_t out[8192];
        for (int i = 0; i < 4096; i++) iv[i] = (int32_t)(rng() % 200001) - 100000;
        iv[0] = INT32_MIN;
        iv[1] = INT32_MAX;
        CHECK(ferry_convert_elems(FERRY_DTYPE_I32, iv, f->dt, out, 4096) == FERRY_OK);
        int bad = 0;
        for (int i = 0; i < 4096; i++)
            if (get_code(f, out, (size_t)i) != ref_encode(f, &g_vals, (double)iv[i])) bad++;
        CHECK_MSG(bad == 0, "%s: %d mismatches", f->name, bad);
    }
    /* bool sources: any nonzero byte is true; bool from floats: nonzero (and NaN) is true */
    uint8_t bs[4] = {0, 1, 2, 255};
    int32_t bi[4];
    CHECK(ferry_convert_elems(FERRY_DTYPE_BOOL, bs, FERRY_DTYPE_I32, bi, 4) == FERRY_OK);
    CHECK(bi[0] == 0 && bi[1] == 1 && bi[2] == 1 && bi[3] == 1);
    float bf[4] = {0.0f, -0.0f, NAN, 1e-30f};
    CHECK(ferry_convert_elems(FERRY_DTYPE_F32, bf, FERRY_DTYPE_BOOL, b, 4) == FERRY_OK);
    CHECK(b[0] == 0 && b[1] == 0 && b[2] == 1 && b[3] == 1);
    float ff[4];
    CHECK(ferry_convert_elems(FERRY_DTYPE_BOOL, bs, FERRY_DTYPE_F32, ff, 4) == FERRY_OK);
    CHECK(ff[0] == 0.0f && ff[1] == 1.0f && ff[3] == 1.0f);
}

TEST(sub_byte_packing)
{
    int8_t v[16];
    for (int i = 0; i < 16; i++) v[i] = (int8_t)(i - 8);
    uint8_t p[8];
    CHECK(ferry_convert_elems(FERRY_DTYPE_I8, v, FERRY_DTYPE_I4, p, 16) == FERRY_OK);
    CHECK_EQ_INT(p[0], 0x98); /* -8 (0x8) low, -7 (0x9) high */
    CHECK_EQ_INT(p[4], 0x10); /* 0 low, 1 high */
    CHECK_EQ_INT(p[7], 0x76);
    int8_t back[16];
    CHECK(ferry_convert_elems(FERRY_DTYPE_I4, p, FERRY_DTYPE_I8, back, 16) == FERRY_OK);
    CHECK(memcmp(back, v, 16) == 0);
    CHECK(ferry_convert_elems(FERRY_DTYPE_I8, v, FERRY_DTYPE_U4, p, 16) == FERRY_OK);
    CHECK_EQ_INT(p[0], 0x00);
    CHECK_EQ_INT(p[7], 0x76);
    int8_t v4[8] = {-2, -1, 0, 1, 5, -5, 1, 0};
    CHECK(ferry_convert_elems(FERRY_DTYPE_I8, v4, FERRY_DTYPE_I2, p, 8) == FERRY_OK);
    CHECK_EQ_INT(p[0], 0x2 | 0x3 << 2 | 0x0 << 4 | 0x1 << 6);
    CHECK_EQ_INT(p[1], 0x1 | 0x2 << 2 | 0x1 << 4 | 0x0 << 6);
    CHECK(ferry_convert_elems(FERRY_DTYPE_I2, p, FERRY_DTYPE_I8, back, 8) == FERRY_OK);
    CHECK(back[0] == -2 && back[1] == -1 && back[3] == 1 && back[4] == 1 && back[5] == -2);
    CHECK(ferry_convert_elems(FERRY_DTYPE_I8, v4, FERRY_DTYPE_U2, p, 8) == FERRY_OK);
    CHECK_EQ_INT(p[0], 0x0 | 0x0 << 2 | 0x0 << 4 | 0x1 << 6);
    CHECK_EQ_INT(p[1], 0x3 | 0x0 << 2 | 0x1 << 4 | 0x0 << 6);
    uint8_t bits[16] = {1, 0, 0, 0, 0, 0, 0, 1, 0, 1, 9, 0, 0, 0, 0, 0};
    CHECK(ferry_convert_elems(FERRY_DTYPE_U8, bits, FERRY_DTYPE_U1, p, 16) == FERRY_OK);
    CHECK_EQ_INT(p[0], 0x81);
    CHECK_EQ_INT(p[1], 0x06);
    uint8_t ub[16];
    CHECK(ferry_convert_elems(FERRY_DTYPE_U1, p, FERRY_DTYPE_U8, ub, 16) == FERRY_OK);
    CHECK(ub[0] == 1 && ub[7] == 1 && ub[9] == 1 && ub[10] == 1 && ub[11] == 0);
    float f4[2] = {0.5f, 6.0f};
    CHECK(ferry_convert_elems(FERRY_DTYPE_F32, f4, FERRY_DTYPE_F4_E2M1, p, 2) == FERRY_OK);
    CHECK_EQ_INT(p[0], 0x71);
    float f6[4] = {0.125f, 7.5f, -1.0f, 0.0f}; /* E2M3 codes 0x01, 0x1F, 0x28, 0x00 */
    CHECK(ferry_convert_elems(FERRY_DTYPE_F32, f6, FERRY_DTYPE_F6_E2M3, p, 4) == FERRY_OK);
    uint32_t w = 0x01u | 0x1Fu << 6 | 0x28u << 12;
    CHECK(p[0] == (uint8_t)w && p[1] == (uint8_t)(w >> 8) && p[2] == (uint8_t)(w >> 16));
    /* counts must be whole bytes / groups */
    CHECK(ferry_convert_elems(FERRY_DTYPE_I8, v, FERRY_DTYPE_I4, p, 3) == FERRY_E_DTYPE);
    CHECK(ferry_convert_elems(FERRY_DTYPE_F32, f6, FERRY_DTYPE_F6_E2M3, p, 2) == FERRY_E_DTYPE);
    /* big arrays cross chunk boundaries in the right place */
    static int8_t many[1000];
    static uint8_t packed[500];
    static int8_t many_back[1000];
    for (int i = 0; i < 1000; i++) many[i] = (int8_t)((i * 7) % 16 - 8);
    CHECK(ferry_convert_elems(FERRY_DTYPE_I8, many, FERRY_DTYPE_I4, packed, 1000) == FERRY_OK);
    CHECK(ferry_convert_elems(FERRY_DTYPE_I4, packed, FERRY_DTYPE_I8, many_back, 1000) == FERRY_OK);
    CHECK(memcmp(many, many_back, 1000) == 0);
    CHECK_EQ_INT(packed[300] & 15, (many[600] & 15));
}

/* ============================================================================================
 * Complex, block, identity, refusals
 * ========================================================================================== */

TEST(complex_and_refusals)
{
    float c64[4] = {1.5f, -2.0f, 65520.0f, 0.1f};
    double c128[4];
    CHECK(ferry_convert_elems(FERRY_DTYPE_C64, c64, FERRY_DTYPE_C128, c128, 2) == FERRY_OK);
    CHECK(c128[0] == 1.5 && c128[1] == -2.0 && c128[3] == (double)0.1f);
    uint16_t c32[4];
    CHECK(ferry_convert_elems(FERRY_DTYPE_C64, c64, FERRY_DTYPE_C32, c32, 2) == FERRY_OK);
    CHECK(c32[0] == 0x3E00 && c32[1] == 0xC000 && c32[2] == 0x7C00);
    float r[4];
    CHECK(ferry_convert_elems(FERRY_DTYPE_C64, c64, FERRY_DTYPE_F32, r, 2) == FERRY_E_DTYPE);
    CHECK(ferry_convert_elems(FERRY_DTYPE_F32, r, FERRY_DTYPE_C64, c64, 2) == FERRY_E_DTYPE);
    /* only F32 may be quantized (by src/quant); other sources to a block type are refused */
    static uint16_t h32[32];
    static uint8_t q40[18];
    CHECK(ferry_convert_elems(FERRY_DTYPE_F16, h32, FERRY_DTYPE_Q4_0, q40, 32) == FERRY_E_DTYPE);
    CHECK(ferry_convert_elems(FERRY_DTYPE_I8, h32, FERRY_DTYPE_Q4_K, q40, 256) == FERRY_E_DTYPE);
    CHECK(ferry_convert_elems(FERRY_DTYPE_STRING, r, FERRY_DTYPE_STRING, c64, 1) == FERRY_E_DTYPE);
    CHECK(ferry_convert_elems(FERRY_DTYPE_BYTES_FIXED, r, FERRY_DTYPE_BYTES_FIXED, c64, 1) ==
          FERRY_E_DTYPE);
    CHECK(ferry_convert_elems(FERRY_DTYPE_DATETIME64, r, FERRY_DTYPE_I64, c64, 1) == FERRY_E_DTYPE);
    CHECK(ferry_convert_elems(FERRY_DTYPE_UNKNOWN, r, FERRY_DTYPE_F32, c64, 1) == FERRY_E_DTYPE);
    CHECK(ferry_convert_elems((ferry_dtype)5000, r, FERRY_DTYPE_F32, c64, 1) == FERRY_E_DTYPE);
    CHECK(ferry_convert_elems(FERRY_DTYPE_GGML(4), r, FERRY_DTYPE_F32, c64, 16) == FERRY_E_DTYPE);
    CHECK(ferry_convert_elems(FERRY_DTYPE_F32, NULL, FERRY_DTYPE_F16, c64, 0) == FERRY_OK);
    CHECK(ferry_convert_elems(FERRY_DTYPE_F32, NULL, FERRY_DTYPE_F16, c64, 1) == FERRY_E_ARG);
    int64_t dt[2] = {123456789, -5}, dt2[2] = {0, 0};
    CHECK(ferry_convert_elems(FERRY_DTYPE_DATETIME64, dt, FERRY_DTYPE_DATETIME64, dt2, 2) ==
          FERRY_OK);
    CHECK(dt2[0] == 123456789 && dt2[1] == -5);
}

TEST(blocks_and_ggml_plain_ids)
{
    /* one Q4_0 block: d = 0.5, nibbles j -> element j = (j%16 - 8) * 0.5 */
    uint8_t blk[18];
    blk[0] = 0x00;
    blk[1] = 0x38; /* f16 0.5 */
    for (int j = 0; j < 16; j++) blk[2 + j] = (uint8_t)(j | (15 - j) << 4);
    float y[32];
    CHECK(ferry_convert_elems(FERRY_DTYPE_Q4_0, blk, FERRY_DTYPE_F32, y, 32) == FERRY_OK);
    CHECK(y[0] == -4.0f && y[15] == 3.5f && y[16] == 3.5f && y[31] == -4.0f);
    uint16_t h[32];
    CHECK(ferry_convert_elems(FERRY_DTYPE_Q4_0, blk, FERRY_DTYPE_F16, h, 32) == FERRY_OK);
    CHECK(h[0] == 0xC400 && h[15] == 0x4300);
    int8_t i8[32];
    CHECK(ferry_convert_elems(FERRY_DTYPE_Q4_0, blk, FERRY_DTYPE_I8, i8, 32) == FERRY_OK);
    CHECK(i8[0] == -4 && i8[15] == 3);
    CHECK(ferry_convert_elems(FERRY_DTYPE_Q4_0, blk, FERRY_DTYPE_F32, y, 16) == FERRY_E_DTYPE);
    CHECK(ferry_convert_elems(FERRY_DTYPE_Q4_0, blk, FERRY_DTYPE_C64, y, 32) == FERRY_E_DTYPE);
    uint8_t blk2[18];
    CHECK(ferry_convert_elems(FERRY_DTYPE_Q4_0, blk, FERRY_DTYPE_Q4_0, blk2, 32) == FERRY_OK);
    CHECK(memcmp(blk, blk2, 18) == 0);
    /* unaligned destination */
    static uint8_t ubuf[4 * 32 + 1];
    CHECK(ferry_convert_elems(FERRY_DTYPE_Q4_0, blk, FERRY_DTYPE_F32, ubuf + 1, 32) == FERRY_OK);
    CHECK(memcmp(ubuf + 1, y, sizeof y) == 0);
    /* ggml's plain ids behave as the plain types */
    float one = 1.0f;
    uint16_t hh = 0;
    CHECK(ferry_convert_elems(FERRY_DTYPE_GGML(0), &one, FERRY_DTYPE_GGML(1), &hh, 1) == FERRY_OK);
    CHECK_EQ_INT(hh, 0x3C00);
    CHECK(ferry_convert_elems(FERRY_DTYPE_GGML(30), &hh, FERRY_DTYPE_F32, &one, 1) == FERRY_OK);
}

TEST(unaligned_and_identity)
{
    static uint8_t src[4 * 1000 + 3], dst[2 * 1000 + 5], ref[2 * 1000];
    for (int i = 0; i < 1000; i++) {
        float f = (float)i * 0.37f - 100.0f;
        memcpy(src + 3 + 4 * i, &f, 4);
        memcpy(ref + 2 * i, &(uint16_t){ferry_f32_to_f16(f)}, 2);
    }
    CHECK(ferry_convert_elems(FERRY_DTYPE_F32, src + 3, FERRY_DTYPE_F16, dst + 5, 1000) ==
          FERRY_OK);
    CHECK(memcmp(dst + 5, ref, 2000) == 0);
    CHECK(ferry_convert_elems(FERRY_DTYPE_F16, dst + 5, FERRY_DTYPE_F16, dst, 1000) == FERRY_OK);
    CHECK(memcmp(dst, ref, 2000) == 0);
    /* generic path, unaligned: F32 -> E5M2 -> F64 */
    static uint8_t e5[1000 + 1];
    static uint8_t d64[8 * 1000 + 1];
    CHECK(ferry_convert_elems(FERRY_DTYPE_F32, src + 3, FERRY_DTYPE_F8_E5M2, e5 + 1, 1000) ==
          FERRY_OK);
    CHECK(ferry_convert_elems(FERRY_DTYPE_F8_E5M2, e5 + 1, FERRY_DTYPE_F64, d64 + 1, 1000) ==
          FERRY_OK);
    double d;
    memcpy(&d, d64 + 1 + 8 * 999, 8);
    CHECK(fabs(d - (999 * 0.37 - 100.0)) < 16.0);
}

int main(void)
{
    RUN(names_round_trip);
    RUN(name_aliases);
    RUN(sizes);
    RUN(kinds);
    RUN(nbytes);
    RUN(byteswap);
    RUN(f16_all_patterns);
    RUN(bf16_all_patterns);
    RUN(f16_bf16_landmarks);
    RUN(small_formats_all_patterns);
    RUN(rounding_strided_f32);
    RUN(rounding_midpoints);
    RUN(rounding_from_f64);
    RUN(fp8_landmarks);
    RUN(mx_saturation);
    RUN(float_to_int_saturation);
    RUN(int_to_int_and_bool);
    RUN(sub_byte_packing);
    RUN(complex_and_refusals);
    RUN(blocks_and_ggml_plain_ids);
    RUN(unaligned_and_identity);
    return t_finish("dtype");
}
