/*
 * dtype_conv.c -- element conversion between dtypes (ferry_convert_elems) and the scalar
 * f16 / bf16 conversions.
 *
 * Strategy
 * --------
 * Identical dtypes are copied. The hot pairs (F32 <-> F16, F32 <-> BF16, F32 <-> F64, F16 /
 * BF16 -> F64) have dedicated loops written branch-free so the compiler can vectorise them.
 * Everything else goes through a chunk of 256 elements held in one of two exact
 * intermediates: a double for floating sources (every ferry float dtype converts to double
 * exactly) or a 64-bit integer for integer sources (int64, or uint64 for U64). Encoding from
 * those is done once, so every result is rounded exactly once:
 *   - to F32 / F64: C conversions (correctly rounded, round-to-nearest-even under the default
 *     floating-point environment, which the library never changes);
 *   - to the small float formats: an integer-only encoder working on (significand, exponent)
 *     pairs, so an I64 or F64 value is rounded straight to F16 / FP8 without a detour
 *     through F32 (no double rounding);
 *   - to integers: saturating clamp, NaN -> 0, fractions truncated toward zero (the C cast
 *     after clamping); integer -> integer narrowing also saturates (it does not wrap);
 *   - to BOOL: nonzero -> 1 (NaN is nonzero).
 * GGML block types dequantize to F32 (src/quant/dequant.c) and continue from there;
 * F32 converts *to* the block types that src/quant/quantize.c can produce (ggml's bytes, no
 * importance matrix); other sources to a block type are refused (FERRY_E_DTYPE). Complex
 * types convert only among themselves, component by component; complex <-> real is refused.
 *
 * Special values of the small float formats (ml_dtypes conventions, since that is what the
 * files we read were written with; OCP OFP8 / MX v1.0 for the formats):
 *
 *   format        inf in            NaN in            overflow (after RNE)   -0 / tiny -x
 *   F16, BF16     +-inf             NaN (see below)   +-inf                  -0
 *   F8_E5M2       +-inf (0x7C)      +-0x7E            +-inf                  -0
 *   F8_E4M3FN     +-NaN (0x7F)      +-NaN (0x7F)      +-NaN                  -0
 *   *FNUZ         NaN 0x80          NaN 0x80          NaN 0x80               +0 (no -0)
 *   F8_E8M0       NaN 0xFF          NaN 0xFF          NaN 0xFF               see below
 *   F6_*, F4_E2M1 +-max             +0                +-max (saturate)       -0
 *
 * "Overflow" means the value rounded to nearest-even (as if the exponent range went on) is
 * above the largest finite value; so 464 still becomes 448 in E4M3FN, 465 becomes NaN.
 * F8_E8M0 (unsigned powers of two, no zero): negative values, zero, inf and NaN give NaN
 * 0xFF; positive values go to the nearest power of two with the midpoint 1.5 * 2^k rounding
 * up (ml_dtypes rounds its implicit bit that way); values below 2^-127 give 2^-127 (0x00),
 * values from 1.5 * 2^127 up give NaN.
 * NaN to F16 keeps the sign and the top 10 payload bits and sets the quiet bit (what F16C /
 * ARM hardware do; ggml writes a bare 0x7E00). NaN to BF16 follows ggml
 * (ggml_compute_fp32_to_bf16, FORMATS.md A2.2): the high half of the f32 bits | 0x40.
 * F16 / BF16 / FP8 -> F32 is exact; NaNs keep their sign (and payload for F16 / BF16).
 *
 * Packing of sub-byte types (FORMATS.md 0.1): the first element sits in the lowest bits.
 * F4_E2M1, I4, U4: two per byte, element 0 in the low nibble. I2, U2: four per byte,
 * element 0 in bits 0-1. U1: eight per byte, element 0 in bit 0. F6_E2M3 / F6_E3M2: four
 * elements in three bytes read as one little-endian 24-bit word, element k in bits
 * 6k..6k+5 (so element 0 is the low 6 bits of the first byte).
 *
 * Buffers are little-endian and may be unaligned: every access goes through memcpy (free on
 * the usual targets), with a byte swap on big-endian hosts. The conversions assume the
 * default floating-point environment (round to nearest even, subnormals honoured), which the
 * library never changes.
 */
#include "internal.h"
#include "quant/quant.h"

#include <math.h>

/* ============================================================================================
 * Loads and stores
 * ========================================================================================== */

#if defined(__BYTE_ORDER__) && defined(__ORDER_BIG_ENDIAN__) && \
    __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define HOST_BE 1
#else
#define HOST_BE 0
#endif

static inline uint16_t ld16(const uint8_t *p)
{
    uint16_t v;
    memcpy(&v, p, 2);
    return HOST_BE ? (uint16_t)(v >> 8 | v << 8) : v;
}

static inline uint32_t ld32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    if (HOST_BE) v = (v >> 24) | ((v >> 8) & 0xFF00u) | ((v << 8) & 0xFF0000u) | (v << 24);
    return v;
}

static inline uint64_t ld64(const uint8_t *p)
{
    if (HOST_BE) return (uint64_t)ld32(p) | (uint64_t)ld32(p + 4) << 32;
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

static inline void st16(uint8_t *p, uint16_t v)
{
    if (HOST_BE) v = (uint16_t)(v >> 8 | v << 8);
    memcpy(p, &v, 2);
}

static inline void st32(uint8_t *p, uint32_t v)
{
    if (HOST_BE) v = (v >> 24) | ((v >> 8) & 0xFF00u) | ((v << 8) & 0xFF0000u) | (v << 24);
    memcpy(p, &v, 4);
}

static inline void st64(uint8_t *p, uint64_t v)
{
    if (HOST_BE) {
        st32(p, (uint32_t)v);
        st32(p + 4, (uint32_t)(v >> 32));
        return;
    }
    memcpy(p, &v, 8);
}

static inline float f32_from_bits(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static inline uint32_t f32_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static inline double f64_from_bits(uint64_t u)
{
    double d;
    memcpy(&d, &u, 8);
    return d;
}

static inline uint64_t f64_bits(double d)
{
    uint64_t u;
    memcpy(&u, &d, 8);
    return u;
}

/* 2^k as a double, for -1022 <= k <= 1023 (exact; no libm call). */
static inline double pow2(int k) { return f64_from_bits((uint64_t)(k + 1023) << 52); }

/* ============================================================================================
 * F16 and BF16 (branch-free so that the bulk loops vectorise)
 * ========================================================================================== */

/* IEEE binary16 -> binary32, exact. Subnormal halves are rebuilt as 2^-14 * (1 + m/1024)
 * minus 2^-14, which is exact and never touches a subnormal float (so flush-to-zero modes do
 * not matter). The selects are masks so that the float subtraction is done for every lane
 * and the loop vectorises (a conditional float operation may not be speculated). */
static inline uint32_t h2f_bits(uint16_t h)
{
    uint32_t sign   = (uint32_t)(h & 0x8000u) << 16;
    uint32_t o      = (uint32_t)(h & 0x7FFFu) << 13;
    uint32_t exp    = o & 0x0F800000u;
    uint32_t sub    = f32_bits(f32_from_bits(o + 0x38800000u) - 0x1p-14f);
    uint32_t is_inf = 0u - (uint32_t)(exp == 0x0F800000u);
    uint32_t is_sub = 0u - (uint32_t)(exp == 0);
    /* rebias 15 -> 127; inf / NaN get the exponent 255 and keep their payload */
    uint32_t r      = o + 0x38000000u + (is_inf & 0x38000000u);
    r               = (r & ~is_sub) | (sub & is_sub);
    return r | sign;
}

/* binary32 -> binary16, round to nearest even, overflow to inf (65520 and up). Below 2^-14
 * the float is added to 0.5, which puts the f16 subnormal unit 2^-24 in the last place of
 * the sum, so the addition itself rounds to nearest even (under the default rounding mode,
 * as every C conversion here). Branch-free with mask selects so that it vectorises without
 * per-lane variable shifts. */
static inline uint16_t f2h_bits(uint32_t x)
{
    uint32_t sign   = (x >> 16) & 0x8000u;
    uint32_t a      = x & 0x7FFFFFFFu;
    /* normal range: rebias 127 -> 15 (adding 0xC8000000 subtracts 112 << 23), then RNE */
    uint32_t nrm    = (a + 0xC8000FFFu + ((a >> 13) & 1u)) >> 13;
    uint32_t sub    = f32_bits(f32_from_bits(a) + 0.5f) - 0x3F000000u;
    uint32_t is_sub = 0u - (uint32_t)(a < 0x38800000u);
    uint32_t is_inf = 0u - (uint32_t)(a >= 0x477FF000u);
    uint32_t is_nan = 0u - (uint32_t)(a > 0x7F800000u);
    uint32_t r      = (nrm & ~is_sub) | (sub & is_sub);
    r               = (r & ~is_inf) | (0x7C00u & is_inf);
    r               = (r & ~is_nan) | ((0x7E00u | ((a >> 13) & 0x3FFu)) & is_nan);
    return (uint16_t)(sign | r);
}

/* binary32 -> bfloat16 as ggml_compute_fp32_to_bf16 does it (FORMATS.md A2.2): NaN keeps its
 * high half and is quieted with 0x40; everything else rounds to nearest even. */
static inline uint16_t f2bf_bits(uint32_t x)
{
    uint32_t rne = (x + 0x7FFFu + ((x >> 16) & 1u)) >> 16;
    uint32_t nan = (x >> 16) | 0x40u;
    return (uint16_t)((x & 0x7FFFFFFFu) > 0x7F800000u ? nan : rne);
}

uint16_t ferry_f32_to_f16(float f) { return f2h_bits(f32_bits(f)); }
float ferry_f16_to_f32(uint16_t h) { return f32_from_bits(h2f_bits(h)); }
uint16_t ferry_f32_to_bf16(float f) { return f2bf_bits(f32_bits(f)); }
float ferry_bf16_to_f32(uint16_t h) { return f32_from_bits((uint32_t)h << 16); }

/* ============================================================================================
 * Small float formats: one description, one encoder, one decoder
 * ========================================================================================== */

enum { SPECIAL_NONE, SPECIAL_IEEE, SPECIAL_FN, SPECIAL_UZ };

typedef struct mf_fmt {
    uint8_t  mbits;       /* stored mantissa bits */
    uint8_t  sign_shift;  /* bit position of the sign */
    uint8_t  special;     /* SPECIAL_*: how inf / NaN are encoded */
    int16_t  bias;
    uint16_t max_mag;     /* magnitude code of the largest finite value */
    uint16_t ovf_mag;     /* magnitude code written for +-inf and overflow (non-UZ formats) */
    uint16_t nan_code;    /* code written for NaN (magnitude; signed unless UZ or NONE) */
} mf_fmt;

/* OCP OFP8 v1.0 (E4M3FN, E5M2), the FNUZ variants as in LLVM / ml_dtypes, OCP MX v1.0 (F6, F4).
 * F16 and BF16 are here for the generic (double / integer source) path. */
static const mf_fmt FMT_F16      = {10, 15, SPECIAL_IEEE, 15, 0x7BFF, 0x7C00, 0x7E00};
static const mf_fmt FMT_BF16     = {7, 15, SPECIAL_IEEE, 127, 0x7F7F, 0x7F80, 0x7FC0};
static const mf_fmt FMT_E4M3FN   = {3, 7, SPECIAL_FN, 7, 0x7E, 0x7F, 0x7F};
static const mf_fmt FMT_E4M3FNUZ = {3, 7, SPECIAL_UZ, 8, 0x7F, 0x80, 0x80};
static const mf_fmt FMT_E5M2     = {2, 7, SPECIAL_IEEE, 15, 0x7B, 0x7C, 0x7E};
static const mf_fmt FMT_E5M2FNUZ = {2, 7, SPECIAL_UZ, 16, 0x7F, 0x80, 0x80};
static const mf_fmt FMT_E4M3B11  = {3, 7, SPECIAL_UZ, 11, 0x7F, 0x80, 0x80};
static const mf_fmt FMT_E2M3     = {3, 5, SPECIAL_NONE, 1, 0x1F, 0x1F, 0x00};
static const mf_fmt FMT_E3M2     = {2, 5, SPECIAL_NONE, 3, 0x1F, 0x1F, 0x00};
static const mf_fmt FMT_E2M1     = {1, 3, SPECIAL_NONE, 1, 0x07, 0x07, 0x00};

static const mf_fmt *mf_of(ferry_dtype dt)
{
    switch (dt) {
    case FERRY_DTYPE_F16: return &FMT_F16;
    case FERRY_DTYPE_BF16: return &FMT_BF16;
    case FERRY_DTYPE_F8_E4M3FN: return &FMT_E4M3FN;
    case FERRY_DTYPE_F8_E4M3FNUZ: return &FMT_E4M3FNUZ;
    case FERRY_DTYPE_F8_E5M2: return &FMT_E5M2;
    case FERRY_DTYPE_F8_E5M2FNUZ: return &FMT_E5M2FNUZ;
    case FERRY_DTYPE_F8_E4M3B11FNUZ: return &FMT_E4M3B11;
    case FERRY_DTYPE_F6_E2M3: return &FMT_E2M3;
    case FERRY_DTYPE_F6_E3M2: return &FMT_E3M2;
    case FERRY_DTYPE_F4_E2M1: return &FMT_E2M1;
    default: return NULL;
    }
}

/* Index of the highest set bit of v (v != 0). */
static inline int top_bit(uint64_t v)
{
#if defined(__GNUC__)
    return 63 - __builtin_clzll(v);
#else
    int p = 0;
    while (v >>= 1) p++;
    return p;
#endif
}

/* Encodes the magnitude sig * 2^e2 (sig may be 0) with sign `neg`, rounding to nearest even
 * exactly once. Works for any significand width, so integer and double sources share it. */
static uint32_t mf_encode(const mf_fmt *f, bool neg, uint64_t sig, int e2)
{
    uint32_t s = neg ? 1u << f->sign_shift : 0;
    if (sig == 0) return f->special == SPECIAL_UZ ? 0 : s;
    const int emin = 1 - f->bias;                  /* exponent of the smallest normal */
    int e = top_bit(sig) + e2;                     /* floor(log2(value)) */
    bool overflow = e - emin > 512;                /* far beyond any format: skip the shifts */
    uint64_t code = 0;
    if (!overflow) {
        int ee = e < emin ? emin : e;              /* subnormals share emin's quantum */
        int sh = ee - f->mbits - e2;               /* value / quantum = sig >> sh */
        uint64_t q;
        if (sh <= 0) {
            q = sig << -sh;                        /* exact: q < 2^(mbits+1) */
        } else if (sh >= 64) {
            q = sh == 64 && sig > (1ull << 63);    /* above half a quantum rounds up */
        } else {
            uint64_t rem  = sig & ((1ull << sh) - 1);
            uint64_t half = 1ull << (sh - 1);
            q = sig >> sh;
            q += rem > half || (rem == half && (q & 1));
        }
        /* Exponent field plus the significand with its hidden bit: a carry out of the
         * mantissa (q == 2^(mbits+1)) moves into the exponent on its own, and a subnormal
         * that rounds up to 2^mbits becomes the smallest normal. */
        code = ((uint64_t)(ee - emin) << f->mbits) + q;
        overflow = code > f->max_mag;
    }
    if (overflow) return f->special == SPECIAL_UZ ? f->ovf_mag : s | f->ovf_mag;
    if (code == 0 && f->special == SPECIAL_UZ) return 0;
    return s | (uint32_t)code;
}

/* NaN code of a format for a NaN of sign `neg`. */
static inline uint32_t mf_nan(const mf_fmt *f, bool neg)
{
    if (f->special == SPECIAL_UZ || f->special == SPECIAL_NONE) return f->nan_code;
    return (neg ? 1u << f->sign_shift : 0) | f->nan_code;
}

static uint32_t mf_encode_double(const mf_fmt *f, double v)
{
    uint64_t b   = f64_bits(v);
    bool     neg = b >> 63;
    int      ex  = (int)((b >> 52) & 0x7FF);
    uint64_t man = b & ((1ull << 52) - 1);
    if (ex == 0x7FF) {
        if (man) {
            /* NaN: F16 / BF16 keep the payload the way the f32 path does. */
            if (f == &FMT_F16) return f2h_bits(f32_bits((float)v));
            if (f == &FMT_BF16) return f2bf_bits(f32_bits((float)v));
            return mf_nan(f, neg);
        }
        if (f->special == SPECIAL_UZ) return f->ovf_mag;
        return (neg ? 1u << f->sign_shift : 0) | f->ovf_mag;
    }
    if (ex == 0) return mf_encode(f, neg, man, -1074);
    return mf_encode(f, neg, man | 1ull << 52, ex - 1075);
}

/* Decodes a code of format f to a double (exact). */
static double mf_decode(const mf_fmt *f, uint32_t code)
{
    uint32_t smask = 1u << f->sign_shift;
    uint32_t mag   = code & (smask - 1);
    bool     neg   = (code & smask) != 0;
    uint32_t e     = mag >> f->mbits;
    uint32_t m     = mag & ((1u << f->mbits) - 1);
    uint32_t emax  = (smask - 1) >> f->mbits;
    switch (f->special) {
    case SPECIAL_IEEE:
        if (e == emax) return m ? (neg ? -NAN : NAN) : (neg ? -INFINITY : INFINITY);
        break;
    case SPECIAL_FN:
        if (mag == smask - 1) return neg ? -NAN : NAN;
        break;
    case SPECIAL_UZ:
        if (code == smask) return NAN;
        break;
    default: break;
    }
    double v = e == 0 ? (double)m * pow2(1 - f->bias - f->mbits)
                      : (double)((1u << f->mbits) | m) * pow2((int)e - f->bias - f->mbits);
    return neg ? -v : v;
}

/* ============================================================================================
 * F8_E8M0: unsigned power-of-two scales (OCP MX v1.0 5.4.1), no zero, 0xFF = NaN
 * ========================================================================================== */

static inline double e8m0_decode(uint32_t code)
{
    return code == 0xFF ? NAN : pow2((int)code - 127);
}

/* Magnitude sig * 2^e2 (sig > 0) to E8M0; see the design comment for the rounding. */
static uint32_t e8m0_encode_parts(uint64_t sig, int e2)
{
    int p = top_bit(sig);
    int e = p + e2;
    if (p > 0 && (sig >> (p - 1) & 1)) e++;        /* significand >= 1.5: round up */
    if (e > 127) return 0xFF;
    if (e < -127) return 0x00;
    return (uint32_t)(e + 127);
}

static uint32_t e8m0_encode_double(double v)
{
    uint64_t b  = f64_bits(v);
    int      ex = (int)((b >> 52) & 0x7FF);
    uint64_t man = b & ((1ull << 52) - 1);
    if ((b >> 63) || ex == 0x7FF || (ex == 0 && man == 0)) return 0xFF;
    if (ex == 0) return e8m0_encode_parts(man, -1074);
    return e8m0_encode_parts(man | 1ull << 52, ex - 1075);
}

/* ============================================================================================
 * Dtype classes and integer ranges
 * ========================================================================================== */

enum { CLS_NONE, CLS_FLOAT, CLS_INT };

static int cls_of(ferry_dtype dt)
{
    switch (dt) {
    case FERRY_DTYPE_F16:
    case FERRY_DTYPE_BF16:
    case FERRY_DTYPE_F32:
    case FERRY_DTYPE_F64:
    case FERRY_DTYPE_F8_E4M3FN:
    case FERRY_DTYPE_F8_E4M3FNUZ:
    case FERRY_DTYPE_F8_E5M2:
    case FERRY_DTYPE_F8_E5M2FNUZ:
    case FERRY_DTYPE_F8_E4M3B11FNUZ:
    case FERRY_DTYPE_F8_E8M0:
    case FERRY_DTYPE_F6_E2M3:
    case FERRY_DTYPE_F6_E3M2:
    case FERRY_DTYPE_F4_E2M1: return CLS_FLOAT;
    case FERRY_DTYPE_BOOL:
    case FERRY_DTYPE_U8:
    case FERRY_DTYPE_I8:
    case FERRY_DTYPE_U16:
    case FERRY_DTYPE_I16:
    case FERRY_DTYPE_U32:
    case FERRY_DTYPE_I32:
    case FERRY_DTYPE_U64:
    case FERRY_DTYPE_I64:
    case FERRY_DTYPE_I4:
    case FERRY_DTYPE_U4:
    case FERRY_DTYPE_I2:
    case FERRY_DTYPE_U2:
    case FERRY_DTYPE_U1: return CLS_INT;
    default: return CLS_NONE;
    }
}

/* Range of an integer dtype (BOOL is handled separately: nonzero -> 1). */
static void int_range(ferry_dtype dt, int64_t *lo, uint64_t *hi)
{
    switch (dt) {
    case FERRY_DTYPE_U8: *lo = 0; *hi = UINT8_MAX; return;
    case FERRY_DTYPE_I8: *lo = INT8_MIN; *hi = INT8_MAX; return;
    case FERRY_DTYPE_U16: *lo = 0; *hi = UINT16_MAX; return;
    case FERRY_DTYPE_I16: *lo = INT16_MIN; *hi = INT16_MAX; return;
    case FERRY_DTYPE_U32: *lo = 0; *hi = UINT32_MAX; return;
    case FERRY_DTYPE_I32: *lo = INT32_MIN; *hi = INT32_MAX; return;
    case FERRY_DTYPE_U64: *lo = 0; *hi = UINT64_MAX; return;
    case FERRY_DTYPE_I64: *lo = INT64_MIN; *hi = INT64_MAX; return;
    case FERRY_DTYPE_I4: *lo = -8; *hi = 7; return;
    case FERRY_DTYPE_U4: *lo = 0; *hi = 15; return;
    case FERRY_DTYPE_I2: *lo = -2; *hi = 1; return;
    case FERRY_DTYPE_U2: *lo = 0; *hi = 3; return;
    default: *lo = 0; *hi = 1; return; /* U1, BOOL */
    }
}

/* GGML's ids for plain types are the plain ferry dtypes. */
static ferry_dtype canonical(ferry_dtype dt)
{
    switch ((int)dt - (int)FERRY_DTYPE_GGML_BASE) {
    case 0: return FERRY_DTYPE_F32;
    case 1: return FERRY_DTYPE_F16;
    case 24: return FERRY_DTYPE_I8;
    case 25: return FERRY_DTYPE_I16;
    case 26: return FERRY_DTYPE_I32;
    case 27: return FERRY_DTYPE_I64;
    case 28: return FERRY_DTYPE_F64;
    case 30: return FERRY_DTYPE_BF16;
    default: return dt;
    }
}

/* ============================================================================================
 * The chunked generic path
 * ========================================================================================== */

/* 256 elements: a multiple of every sub-byte group (8 for U1, 4 for F6) and of every GGML
 * block size, so chunks always start on a byte / block boundary. */
enum { CHUNK = 256 };

typedef struct chunk {
    bool     is_float;  /* values in f, else in i */
    bool     is_u64;    /* i holds uint64 values (U64 source), else int64 two's complement */
    double   f[CHUNK];
    uint64_t i[CHUNK];
} chunk;

/* Unpacks k sub-byte codes (k a whole number of bytes / F6 groups). */
static void unpack_codes(ferry_dtype dt, const uint8_t *p, size_t k, uint8_t *codes)
{
    switch (dt) {
    case FERRY_DTYPE_F6_E2M3:
    case FERRY_DTYPE_F6_E3M2:
        for (size_t j = 0; j < k; j += 4, p += 3) {
            uint32_t w = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16;
            for (size_t t = 0; t < 4; t++) codes[j + t] = (uint8_t)(w >> (6 * t) & 0x3F);
        }
        return;
    case FERRY_DTYPE_U1:
        for (size_t j = 0; j < k; j++) codes[j] = (uint8_t)(p[j / 8] >> (j % 8) & 1);
        return;
    case FERRY_DTYPE_I2:
    case FERRY_DTYPE_U2:
        for (size_t j = 0; j < k; j++) codes[j] = (uint8_t)(p[j / 4] >> (2 * (j % 4)) & 3);
        return;
    default: /* F4_E2M1, I4, U4 */
        for (size_t j = 0; j < k; j++) codes[j] = (uint8_t)(p[j / 2] >> (4 * (j % 2)) & 15);
        return;
    }
}

static void pack_codes(ferry_dtype dt, const uint8_t *codes, size_t k, uint8_t *p)
{
    switch (dt) {
    case FERRY_DTYPE_F6_E2M3:
    case FERRY_DTYPE_F6_E3M2:
        for (size_t j = 0; j < k; j += 4, p += 3) {
            uint32_t w = 0;
            for (size_t t = 0; t < 4; t++) w |= (uint32_t)(codes[j + t] & 0x3F) << (6 * t);
            p[0] = (uint8_t)w;
            p[1] = (uint8_t)(w >> 8);
            p[2] = (uint8_t)(w >> 16);
        }
        return;
    case FERRY_DTYPE_U1:
        memset(p, 0, k / 8);
        for (size_t j = 0; j < k; j++) p[j / 8] |= (uint8_t)((codes[j] & 1) << (j % 8));
        return;
    case FERRY_DTYPE_I2:
    case FERRY_DTYPE_U2:
        memset(p, 0, k / 4);
        for (size_t j = 0; j < k; j++) p[j / 4] |= (uint8_t)((codes[j] & 3) << (2 * (j % 4)));
        return;
    default:
        memset(p, 0, k / 2);
        for (size_t j = 0; j < k; j++) p[j / 2] |= (uint8_t)((codes[j] & 15) << (4 * (j % 2)));
        return;
    }
}

static void decode_chunk(ferry_dtype dt, const uint8_t *p, size_t k, chunk *c)
{
    uint8_t codes[CHUNK];
    c->is_float = cls_of(dt) == CLS_FLOAT;
    c->is_u64   = dt == FERRY_DTYPE_U64;
    switch (dt) {
    case FERRY_DTYPE_F32:
        for (size_t j = 0; j < k; j++) c->f[j] = f32_from_bits(ld32(p + 4 * j));
        return;
    case FERRY_DTYPE_F64:
        for (size_t j = 0; j < k; j++) c->f[j] = f64_from_bits(ld64(p + 8 * j));
        return;
    case FERRY_DTYPE_F16:
        for (size_t j = 0; j < k; j++) c->f[j] = f32_from_bits(h2f_bits(ld16(p + 2 * j)));
        return;
    case FERRY_DTYPE_BF16:
        for (size_t j = 0; j < k; j++) c->f[j] = f32_from_bits((uint32_t)ld16(p + 2 * j) << 16);
        return;
    case FERRY_DTYPE_F8_E8M0:
        for (size_t j = 0; j < k; j++) c->f[j] = e8m0_decode(p[j]);
        return;
    case FERRY_DTYPE_F8_E4M3FN:
    case FERRY_DTYPE_F8_E4M3FNUZ:
    case FERRY_DTYPE_F8_E5M2:
    case FERRY_DTYPE_F8_E5M2FNUZ:
    case FERRY_DTYPE_F8_E4M3B11FNUZ: {
        const mf_fmt *f = mf_of(dt);
        for (size_t j = 0; j < k; j++) c->f[j] = mf_decode(f, p[j]);
        return;
    }
    case FERRY_DTYPE_F6_E2M3:
    case FERRY_DTYPE_F6_E3M2:
    case FERRY_DTYPE_F4_E2M1: {
        const mf_fmt *f = mf_of(dt);
        unpack_codes(dt, p, k, codes);
        for (size_t j = 0; j < k; j++) c->f[j] = mf_decode(f, codes[j]);
        return;
    }
    case FERRY_DTYPE_BOOL:
        for (size_t j = 0; j < k; j++) c->i[j] = p[j] != 0;
        return;
    case FERRY_DTYPE_U8:
        for (size_t j = 0; j < k; j++) c->i[j] = p[j];
        return;
    case FERRY_DTYPE_I8:
        for (size_t j = 0; j < k; j++) c->i[j] = (uint64_t)(int64_t)(int8_t)p[j];
        return;
    case FERRY_DTYPE_U16:
        for (size_t j = 0; j < k; j++) c->i[j] = ld16(p + 2 * j);
        return;
    case FERRY_DTYPE_I16:
        for (size_t j = 0; j < k; j++) c->i[j] = (uint64_t)(int64_t)(int16_t)ld16(p + 2 * j);
        return;
    case FERRY_DTYPE_U32:
        for (size_t j = 0; j < k; j++) c->i[j] = ld32(p + 4 * j);
        return;
    case FERRY_DTYPE_I32:
        for (size_t j = 0; j < k; j++) c->i[j] = (uint64_t)(int64_t)(int32_t)ld32(p + 4 * j);
        return;
    case FERRY_DTYPE_U64:
    case FERRY_DTYPE_I64:
        for (size_t j = 0; j < k; j++) c->i[j] = ld64(p + 8 * j);
        return;
    case FERRY_DTYPE_I4:
    case FERRY_DTYPE_I2: {
        uint32_t sb = dt == FERRY_DTYPE_I4 ? 8 : 2;   /* sign bit of the field */
        unpack_codes(dt, p, k, codes);
        for (size_t j = 0; j < k; j++)
            c->i[j] = (uint64_t)((int64_t)(codes[j] ^ sb) - (int64_t)sb);
        return;
    }
    default: /* U4, U2, U1 */
        unpack_codes(dt, p, k, codes);
        for (size_t j = 0; j < k; j++) c->i[j] = codes[j];
        return;
    }
}

/* The value of element j as a double (exact for float sources, correctly rounded for
 * integer ones; used where the destination is a float type). */
static inline double chunk_double(const chunk *c, size_t j)
{
    if (c->is_float) return c->f[j];
    return c->is_u64 ? (double)c->i[j] : (double)(int64_t)c->i[j];
}

static inline float chunk_float(const chunk *c, size_t j)
{
    /* Integers go to float directly: via double they could be rounded twice. */
    if (c->is_float) return (float)c->f[j];
    return c->is_u64 ? (float)c->i[j] : (float)(int64_t)c->i[j];
}

/* Element j encoded in a small float format (single rounding for integers too). */
static inline uint32_t chunk_mf(const chunk *c, size_t j, const mf_fmt *f)
{
    if (c->is_float) return mf_encode_double(f, c->f[j]);
    uint64_t v = c->i[j];
    if (!c->is_u64 && (int64_t)v < 0) return mf_encode(f, true, 0 - v, 0);
    return mf_encode(f, false, v, 0);
}

static inline uint32_t chunk_e8m0(const chunk *c, size_t j)
{
    if (c->is_float) return e8m0_encode_double(c->f[j]);
    uint64_t v = c->i[j];
    if (v == 0 || (!c->is_u64 && (int64_t)v < 0)) return 0xFF;
    return e8m0_encode_parts(v, 0);
}

/* Element j as an integer of range [lo, hi], saturating (NaN -> 0, truncation toward zero),
 * returned as two's complement bits. */
static inline uint64_t chunk_int(const chunk *c, size_t j, int64_t lo, uint64_t hi)
{
    if (c->is_float) {
        double v = c->f[j];
        if (v != v) return 0;
        /* (double)hi may round up (2^63, 2^64); the comparisons stay right because every
         * double below it converts without overflow. */
        if (v >= (double)hi) return hi;
        if (v <= (double)lo) return (uint64_t)lo;
        if (v < 0) return (uint64_t)(int64_t)v;
        return (uint64_t)v;
    }
    uint64_t v = c->i[j];
    if (c->is_u64 || (int64_t)v >= 0) return v > hi ? hi : v;
    return (int64_t)v < lo ? (uint64_t)lo : v;
}

static void encode_chunk(ferry_dtype dt, uint8_t *p, size_t k, const chunk *c)
{
    uint8_t codes[CHUNK];
    switch (dt) {
    case FERRY_DTYPE_F32:
        for (size_t j = 0; j < k; j++) st32(p + 4 * j, f32_bits(chunk_float(c, j)));
        return;
    case FERRY_DTYPE_F64:
        for (size_t j = 0; j < k; j++) st64(p + 8 * j, f64_bits(chunk_double(c, j)));
        return;
    case FERRY_DTYPE_F16:
    case FERRY_DTYPE_BF16: {
        const mf_fmt *f = mf_of(dt);
        for (size_t j = 0; j < k; j++) st16(p + 2 * j, (uint16_t)chunk_mf(c, j, f));
        return;
    }
    case FERRY_DTYPE_F8_E8M0:
        for (size_t j = 0; j < k; j++) p[j] = (uint8_t)chunk_e8m0(c, j);
        return;
    case FERRY_DTYPE_F8_E4M3FN:
    case FERRY_DTYPE_F8_E4M3FNUZ:
    case FERRY_DTYPE_F8_E5M2:
    case FERRY_DTYPE_F8_E5M2FNUZ:
    case FERRY_DTYPE_F8_E4M3B11FNUZ: {
        const mf_fmt *f = mf_of(dt);
        for (size_t j = 0; j < k; j++) p[j] = (uint8_t)chunk_mf(c, j, f);
        return;
    }
    case FERRY_DTYPE_F6_E2M3:
    case FERRY_DTYPE_F6_E3M2:
    case FERRY_DTYPE_F4_E2M1: {
        const mf_fmt *f = mf_of(dt);
        for (size_t j = 0; j < k; j++) codes[j] = (uint8_t)chunk_mf(c, j, f);
        pack_codes(dt, codes, k, p);
        return;
    }
    case FERRY_DTYPE_BOOL:
        for (size_t j = 0; j < k; j++) p[j] = c->is_float ? c->f[j] != 0 : c->i[j] != 0;
        return;
    default: break;
    }
    int64_t lo;
    uint64_t hi;
    int_range(dt, &lo, &hi);
    switch (dt) {
    case FERRY_DTYPE_U8:
    case FERRY_DTYPE_I8:
        for (size_t j = 0; j < k; j++) p[j] = (uint8_t)chunk_int(c, j, lo, hi);
        return;
    case FERRY_DTYPE_U16:
    case FERRY_DTYPE_I16:
        for (size_t j = 0; j < k; j++) st16(p + 2 * j, (uint16_t)chunk_int(c, j, lo, hi));
        return;
    case FERRY_DTYPE_U32:
    case FERRY_DTYPE_I32:
        for (size_t j = 0; j < k; j++) st32(p + 4 * j, (uint32_t)chunk_int(c, j, lo, hi));
        return;
    case FERRY_DTYPE_U64:
    case FERRY_DTYPE_I64:
        for (size_t j = 0; j < k; j++) st64(p + 8 * j, chunk_int(c, j, lo, hi));
        return;
    default: /* I4, U4, I2, U2, U1 */
        for (size_t j = 0; j < k; j++) codes[j] = (uint8_t)chunk_int(c, j, lo, hi);
        pack_codes(dt, codes, k, p);
        return;
    }
}

/* Byte offset of element e (a multiple of the block size). */
static inline uint64_t elem_offset(const ferry__dtype_desc *d, uint64_t e)
{
    return e / d->block_size * d->block_bytes;
}

/* ============================================================================================
 * Fast paths
 * ========================================================================================== */

/* Returns true when it handled the pair. */
static bool fast_path(ferry_dtype s, const uint8_t *src, ferry_dtype d, uint8_t *dst,
                      uint64_t n)
{
    if (s == FERRY_DTYPE_F32 && d == FERRY_DTYPE_F16) {
        for (uint64_t j = 0; j < n; j++) st16(dst + 2 * j, f2h_bits(ld32(src + 4 * j)));
    } else if (s == FERRY_DTYPE_F16 && d == FERRY_DTYPE_F32) {
        for (uint64_t j = 0; j < n; j++) st32(dst + 4 * j, h2f_bits(ld16(src + 2 * j)));
    } else if (s == FERRY_DTYPE_F32 && d == FERRY_DTYPE_BF16) {
        for (uint64_t j = 0; j < n; j++) st16(dst + 2 * j, f2bf_bits(ld32(src + 4 * j)));
    } else if (s == FERRY_DTYPE_BF16 && d == FERRY_DTYPE_F32) {
        for (uint64_t j = 0; j < n; j++) st32(dst + 4 * j, (uint32_t)ld16(src + 2 * j) << 16);
    } else if (s == FERRY_DTYPE_F32 && d == FERRY_DTYPE_F64) {
        for (uint64_t j = 0; j < n; j++)
            st64(dst + 8 * j, f64_bits((double)f32_from_bits(ld32(src + 4 * j))));
    } else if (s == FERRY_DTYPE_F64 && d == FERRY_DTYPE_F32) {
        for (uint64_t j = 0; j < n; j++)
            st32(dst + 4 * j, f32_bits((float)f64_from_bits(ld64(src + 8 * j))));
    } else if (s == FERRY_DTYPE_F16 && d == FERRY_DTYPE_F64) {
        for (uint64_t j = 0; j < n; j++)
            st64(dst + 8 * j, f64_bits((double)f32_from_bits(h2f_bits(ld16(src + 2 * j)))));
    } else if (s == FERRY_DTYPE_BF16 && d == FERRY_DTYPE_F64) {
        for (uint64_t j = 0; j < n; j++)
            st64(dst + 8 * j, f64_bits((double)f32_from_bits((uint32_t)ld16(src + 2 * j) << 16)));
    } else if (s == FERRY_DTYPE_F16 && d == FERRY_DTYPE_BF16) {
        /* f16 -> f32 is exact, so this rounds once */
        for (uint64_t j = 0; j < n; j++) st16(dst + 2 * j, f2bf_bits(h2f_bits(ld16(src + 2 * j))));
    } else if (s == FERRY_DTYPE_BF16 && d == FERRY_DTYPE_F16) {
        for (uint64_t j = 0; j < n; j++)
            st16(dst + 2 * j, f2h_bits((uint32_t)ld16(src + 2 * j) << 16));
    } else {
        return false;
    }
    return true;
}

/* ============================================================================================
 * ferry_convert_elems
 * ========================================================================================== */

/* Block source: dequantize a chunk at a time into floats, then encode. */
static int convert_from_block(ferry_dtype sdt, const ferry__dtype_desc *sd, const uint8_t *src,
                              ferry_dtype ddt, const ferry__dtype_desc *dd, uint8_t *dst,
                              uint64_t n)
{
    /* Straight into the caller's buffer when it is an aligned little-endian float array. */
    if (ddt == FERRY_DTYPE_F32 && !HOST_BE && ((uintptr_t)dst % sizeof(float)) == 0)
        return ferry__dequantize(sdt, src, (float *)(void *)dst, n);
    float tmp[CHUNK];
    chunk c;
    for (uint64_t done = 0; done < n; done += CHUNK) {
        size_t k = n - done < CHUNK ? (size_t)(n - done) : CHUNK;
        FERRY_TRY(ferry__dequantize(sdt, src + elem_offset(sd, done), tmp, k));
        uint8_t *o = dst + elem_offset(dd, done);
        if (ddt == FERRY_DTYPE_F32) {
            for (size_t j = 0; j < k; j++) st32(o + 4 * j, f32_bits(tmp[j]));
            continue;
        }
        c.is_float = true;
        c.is_u64   = false;
        for (size_t j = 0; j < k; j++) c.f[j] = tmp[j];
        encode_chunk(ddt, o, k, &c);
    }
    return FERRY_OK;
}

int ferry_convert_elems(ferry_dtype sdt, const void *src, ferry_dtype ddt, void *dst, uint64_t n)
{
    sdt = canonical(sdt);
    ddt = canonical(ddt);
    const ferry__dtype_desc *sd = ferry__dtype(sdt);
    const ferry__dtype_desc *dd = ferry__dtype(ddt);
    if (!sd || !dd || sd->block_size == 0 || dd->block_size == 0) return FERRY_E_DTYPE;
    if (sd->block_bytes == 0 || dd->block_bytes == 0) return FERRY_E_DTYPE; /* S<n>, U<n> */
    if (n % sd->block_size != 0 || n % dd->block_size != 0) return FERRY_E_DTYPE;
    if (n > 0 && (!src || !dst)) return FERRY_E_ARG;

    const uint8_t *s = src;
    uint8_t       *d = dst;
    if (sdt == ddt) {
        uint64_t nb;
        if (!ferry__dtype_nbytes(sdt, n, 0, &nb) || nb > SIZE_MAX) return FERRY_E_DTYPE;
        if (nb) memmove(d, s, (size_t)nb);
        return FERRY_OK;
    }
    if (ferry_dtype_is_block(ddt)) {
        /* F32 -> block: ggml's quantizer without importance matrix (src/quant/quantize.c). */
        if (sdt != FERRY_DTYPE_F32) return FERRY_E_DTYPE;
        return ferry__quantize_f32(ddt, s, d, n);
    }
    if (ferry_dtype_is_block(sdt)) {
        if (dd->is_complex || cls_of(ddt) == CLS_NONE) return FERRY_E_DTYPE;
        /* Ask once up front so that a missing dequantizer fails before anything is written. */
        FERRY_TRY(ferry__dequantize(sdt, NULL, NULL, 0));
        return convert_from_block(sdt, sd, s, ddt, dd, d, n);
    }
    if (sd->is_complex || dd->is_complex) {
        if (!sd->is_complex || !dd->is_complex) return FERRY_E_DTYPE;
        /* Component-wise: C32 = 2 x F16, C64 = 2 x F32, C128 = 2 x F64. */
        ferry_dtype sc = sdt == FERRY_DTYPE_C32 ? FERRY_DTYPE_F16
                       : sdt == FERRY_DTYPE_C64 ? FERRY_DTYPE_F32 : FERRY_DTYPE_F64;
        ferry_dtype dc = ddt == FERRY_DTYPE_C32 ? FERRY_DTYPE_F16
                       : ddt == FERRY_DTYPE_C64 ? FERRY_DTYPE_F32 : FERRY_DTYPE_F64;
        if (n > UINT64_MAX / 2) return FERRY_E_DTYPE;
        return ferry_convert_elems(sc, src, dc, dst, 2 * n);
    }
    if (cls_of(sdt) == CLS_NONE || cls_of(ddt) == CLS_NONE) return FERRY_E_DTYPE;
    if (fast_path(sdt, s, ddt, d, n)) return FERRY_OK;

    chunk c;
    for (uint64_t done = 0; done < n; done += CHUNK) {
        size_t k = n - done < CHUNK ? (size_t)(n - done) : CHUNK;
        decode_chunk(sdt, s + elem_offset(sd, done), k, &c);
        encode_chunk(ddt, d + elem_offset(dd, done), k, &c);
    }
    return FERRY_OK;
}
