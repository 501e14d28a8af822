/*
 * dtype.c -- the dtype table: names, widths and block layouts of every ferry_dtype.
 *
 * One const table describes each plain dtype (FERRY_DTYPE_UNKNOWN .. FERRY_DTYPE__PLAIN_END-1)
 * and a second one each GGML type id 0..63 (FERRY_DTYPE_GGML_BASE + id). Everything else in
 * the library asks ferry__dtype() instead of switching on dtypes, so adding a dtype is one
 * line here (plus its conversion in dtype_conv.c).
 *
 * Layout conventions (FORMATS.md 0.1, A2.1):
 *   - Plain types: block_size 1, block_bytes = bits / 8.
 *   - Sub-byte types pack several elements into one byte, first element in the low bits:
 *     F4_E2M1, I4, U4 two per byte; I2, U2 four; U1 eight. F6_E2M3 and F6_E3M2 pack four
 *     elements into three bytes (element 0 in the low 6 bits of the little-endian 24-bit
 *     word). Their block is the smallest whole number of bytes.
 *   - Fixed-width strings (BYTES "S<n>", UCS4 "U<n>") have bits 0, block_size 1 and
 *     block_bytes 0: the element size is the tensor's itemsize.
 *   - STRING, OPAQUE and UNKNOWN have no layout (block_size 0).
 *   - GGML block types use ggml's block sizes (ggml-common.h). The ids that ggml uses for
 *     plain types (0 F32, 1 F16, 24 I8, 25 I16, 26 I32, 27 I64, 28 F64, 30 BF16) have an entry
 *     with the plain layout; the GGUF reader maps them to the plain ferry dtypes, and the
 *     converter treats them as those. Removed ids (4, 5, 31-33, 36-38) are named
 *     "<name> (removed)" with block_size 0. Ids ggml has not assigned (43..63) are named
 *     "GGML_<id>" with block_size 0, so that a file using a newer type can still be listed
 *     (the tensor gets status UNKNOWN_DTYPE elsewhere) -- ferry__dtype() returns a descriptor
 *     for them rather than NULL.
 *
 * ferry_dtype_is_numeric() is true for every dtype that ferry_convert_elems can turn into
 * F32: all plain real numeric types (both directions) and the GGML block types that have a
 * dequantizer (whether F32 can also be quantized to them is up to src/quant). The writer
 * relies on this to decide that a block tensor can be stored as F32.
 */
#include "internal.h"

/* ============================================================================================
 * The tables
 * ========================================================================================== */

/* Field order: name, bits, block_size, block_bytes, is_float, is_signed, is_complex. */
#define PLAIN(n, b, s)        {n, b, 1, (b) / 8, 0, s, 0}
#define FLOAT(n, b)           {n, b, 1, (b) / 8, 1, 1, 0}
#define PACKED(n, b, bs, bb, f, s) {n, b, bs, bb, f, s, 0}
#define QUANT(n, bs, bb)      {n, 0, bs, bb, 1, 1, 0}
#define NOLAYOUT(n)           {n, 0, 0, 0, 0, 0, 0}

static const ferry__dtype_desc plain_table[FERRY_DTYPE__PLAIN_END] = {
    [FERRY_DTYPE_UNKNOWN]        = NOLAYOUT("UNKNOWN"),
    [FERRY_DTYPE_BOOL]           = PLAIN("BOOL", 8, 0),
    [FERRY_DTYPE_U8]             = PLAIN("U8", 8, 0),
    [FERRY_DTYPE_I8]             = PLAIN("I8", 8, 1),
    [FERRY_DTYPE_U16]            = PLAIN("U16", 16, 0),
    [FERRY_DTYPE_I16]            = PLAIN("I16", 16, 1),
    [FERRY_DTYPE_U32]            = PLAIN("U32", 32, 0),
    [FERRY_DTYPE_I32]            = PLAIN("I32", 32, 1),
    [FERRY_DTYPE_U64]            = PLAIN("U64", 64, 0),
    [FERRY_DTYPE_I64]            = PLAIN("I64", 64, 1),
    [FERRY_DTYPE_F16]            = FLOAT("F16", 16),
    [FERRY_DTYPE_BF16]           = FLOAT("BF16", 16),
    [FERRY_DTYPE_F32]            = FLOAT("F32", 32),
    [FERRY_DTYPE_F64]            = FLOAT("F64", 64),
    [FERRY_DTYPE_C32]            = {"C32", 32, 1, 4, 1, 1, 1},
    [FERRY_DTYPE_C64]            = {"C64", 64, 1, 8, 1, 1, 1},
    [FERRY_DTYPE_C128]           = {"C128", 128, 1, 16, 1, 1, 1},
    [FERRY_DTYPE_F8_E4M3FN]      = FLOAT("F8_E4M3", 8),
    [FERRY_DTYPE_F8_E4M3FNUZ]    = FLOAT("F8_E4M3FNUZ", 8),
    [FERRY_DTYPE_F8_E5M2]        = FLOAT("F8_E5M2", 8),
    [FERRY_DTYPE_F8_E5M2FNUZ]    = FLOAT("F8_E5M2FNUZ", 8),
    [FERRY_DTYPE_F8_E4M3B11FNUZ] = FLOAT("F8_E4M3B11FNUZ", 8),
    [FERRY_DTYPE_F8_E8M0]        = {"F8_E8M0", 8, 1, 1, 1, 0, 0},
    [FERRY_DTYPE_F6_E2M3]        = PACKED("F6_E2M3", 6, 4, 3, 1, 1),
    [FERRY_DTYPE_F6_E3M2]        = PACKED("F6_E3M2", 6, 4, 3, 1, 1),
    [FERRY_DTYPE_F4_E2M1]        = PACKED("F4_E2M1", 4, 2, 1, 1, 1),
    [FERRY_DTYPE_I4]             = PACKED("I4", 4, 2, 1, 0, 1),
    [FERRY_DTYPE_U4]             = PACKED("U4", 4, 2, 1, 0, 0),
    [FERRY_DTYPE_I2]             = PACKED("I2", 2, 4, 1, 0, 1),
    [FERRY_DTYPE_U2]             = PACKED("U2", 2, 4, 1, 0, 0),
    [FERRY_DTYPE_U1]             = PACKED("U1", 1, 8, 1, 0, 0),
    [FERRY_DTYPE_STRING]         = NOLAYOUT("STRING"),
    [FERRY_DTYPE_BYTES_FIXED]    = {"BYTES", 0, 1, 0, 0, 0, 0},
    [FERRY_DTYPE_UCS4_FIXED]     = {"UCS4", 0, 1, 0, 0, 0, 0},
    [FERRY_DTYPE_DATETIME64]     = PLAIN("DATETIME64", 64, 1),
    [FERRY_DTYPE_TIMEDELTA64]    = PLAIN("TIMEDELTA64", 64, 1),
    [FERRY_DTYPE_OPAQUE]         = NOLAYOUT("OPAQUE"),
};

/* Indexed by ggml type id (ggml.h enum ggml_type); sizes from ggml-common.h. */
static const ferry__dtype_desc ggml_table[FERRY_DTYPE_GGML_END - FERRY_DTYPE_GGML_BASE] = {
    [0]  = FLOAT("F32", 32),
    [1]  = FLOAT("F16", 16),
    [2]  = QUANT("Q4_0", 32, 18),
    [3]  = QUANT("Q4_1", 32, 20),
    [4]  = NOLAYOUT("Q4_2 (removed)"),
    [5]  = NOLAYOUT("Q4_3 (removed)"),
    [6]  = QUANT("Q5_0", 32, 22),
    [7]  = QUANT("Q5_1", 32, 24),
    [8]  = QUANT("Q8_0", 32, 34),
    [9]  = QUANT("Q8_1", 32, 36),
    [10] = QUANT("Q2_K", 256, 84),
    [11] = QUANT("Q3_K", 256, 110),
    [12] = QUANT("Q4_K", 256, 144),
    [13] = QUANT("Q5_K", 256, 176),
    [14] = QUANT("Q6_K", 256, 210),
    [15] = QUANT("Q8_K", 256, 292),
    [16] = QUANT("IQ2_XXS", 256, 66),
    [17] = QUANT("IQ2_XS", 256, 74),
    [18] = QUANT("IQ3_XXS", 256, 98),
    [19] = QUANT("IQ1_S", 256, 50),
    [20] = QUANT("IQ4_NL", 32, 18),
    [21] = QUANT("IQ3_S", 256, 110),
    [22] = QUANT("IQ2_S", 256, 82),
    [23] = QUANT("IQ4_XS", 256, 136),
    [24] = PLAIN("I8", 8, 1),
    [25] = PLAIN("I16", 16, 1),
    [26] = PLAIN("I32", 32, 1),
    [27] = PLAIN("I64", 64, 1),
    [28] = FLOAT("F64", 64),
    [29] = QUANT("IQ1_M", 256, 56),
    [30] = FLOAT("BF16", 16),
    [31] = NOLAYOUT("Q4_0_4_4 (removed)"),
    [32] = NOLAYOUT("Q4_0_4_8 (removed)"),
    [33] = NOLAYOUT("Q4_0_8_8 (removed)"),
    [34] = QUANT("TQ1_0", 256, 54),
    [35] = QUANT("TQ2_0", 256, 66),
    [36] = NOLAYOUT("IQ4_NL_4_4 (removed)"),
    [37] = NOLAYOUT("IQ4_NL_4_8 (removed)"),
    [38] = NOLAYOUT("IQ4_NL_8_8 (removed)"),
    [39] = QUANT("MXFP4", 32, 17),
    [40] = QUANT("NVFP4", 64, 36),
    [41] = QUANT("Q1_0", 128, 18),
    [42] = QUANT("Q2_0", 64, 18),
    [43] = NOLAYOUT("GGML_43"),
    [44] = NOLAYOUT("GGML_44"),
    [45] = NOLAYOUT("GGML_45"),
    [46] = NOLAYOUT("GGML_46"),
    [47] = NOLAYOUT("GGML_47"),
    [48] = NOLAYOUT("GGML_48"),
    [49] = NOLAYOUT("GGML_49"),
    [50] = NOLAYOUT("GGML_50"),
    [51] = NOLAYOUT("GGML_51"),
    [52] = NOLAYOUT("GGML_52"),
    [53] = NOLAYOUT("GGML_53"),
    [54] = NOLAYOUT("GGML_54"),
    [55] = NOLAYOUT("GGML_55"),
    [56] = NOLAYOUT("GGML_56"),
    [57] = NOLAYOUT("GGML_57"),
    [58] = NOLAYOUT("GGML_58"),
    [59] = NOLAYOUT("GGML_59"),
    [60] = NOLAYOUT("GGML_60"),
    [61] = NOLAYOUT("GGML_61"),
    [62] = NOLAYOUT("GGML_62"),
    [63] = NOLAYOUT("GGML_63"),
};

#undef PLAIN
#undef FLOAT
#undef PACKED
#undef QUANT
#undef NOLAYOUT

/* Aliases accepted by ferry_dtype_from_name besides the canonical names (compared
 * case-insensitively). Spellings of numpy / torch / ml_dtypes / safetensors. */
static const struct {
    const char *name;
    ferry_dtype dt;
} aliases[] = {
    {"float32", FERRY_DTYPE_F32},           {"float", FERRY_DTYPE_F32},
    {"fp32", FERRY_DTYPE_F32},              {"float16", FERRY_DTYPE_F16},
    {"half", FERRY_DTYPE_F16},              {"fp16", FERRY_DTYPE_F16},
    {"bfloat16", FERRY_DTYPE_BF16},         {"float64", FERRY_DTYPE_F64},
    {"double", FERRY_DTYPE_F64},            {"fp64", FERRY_DTYPE_F64},
    {"int8", FERRY_DTYPE_I8},               {"int16", FERRY_DTYPE_I16},
    {"int32", FERRY_DTYPE_I32},             {"int64", FERRY_DTYPE_I64},
    {"uint8", FERRY_DTYPE_U8},              {"uint16", FERRY_DTYPE_U16},
    {"uint32", FERRY_DTYPE_U32},            {"uint64", FERRY_DTYPE_U64},
    {"bool", FERRY_DTYPE_BOOL},             {"int4", FERRY_DTYPE_I4},
    {"uint4", FERRY_DTYPE_U4},              {"int2", FERRY_DTYPE_I2},
    {"uint2", FERRY_DTYPE_U2},              {"uint1", FERRY_DTYPE_U1},
    {"complex32", FERRY_DTYPE_C32},         {"complex64", FERRY_DTYPE_C64},
    {"complex128", FERRY_DTYPE_C128},       {"F8_E4M3FN", FERRY_DTYPE_F8_E4M3FN},
    {"float8_e4m3fn", FERRY_DTYPE_F8_E4M3FN}, {"float8_e4m3fnuz", FERRY_DTYPE_F8_E4M3FNUZ},
    {"float8_e5m2", FERRY_DTYPE_F8_E5M2},   {"float8_e5m2fnuz", FERRY_DTYPE_F8_E5M2FNUZ},
    {"float8_e4m3b11fnuz", FERRY_DTYPE_F8_E4M3B11FNUZ},
    {"F8_E8M0FNU", FERRY_DTYPE_F8_E8M0},    {"float8_e8m0fnu", FERRY_DTYPE_F8_E8M0},
    {"F6_E2M3FN", FERRY_DTYPE_F6_E2M3},     {"float6_e2m3fn", FERRY_DTYPE_F6_E2M3},
    {"F6_E3M2FN", FERRY_DTYPE_F6_E3M2},     {"float6_e3m2fn", FERRY_DTYPE_F6_E3M2},
    {"F4", FERRY_DTYPE_F4_E2M1},            {"F4_E2M1FN", FERRY_DTYPE_F4_E2M1},
    {"float4_e2m1fn", FERRY_DTYPE_F4_E2M1}, {"float4_e2m1fn_x2", FERRY_DTYPE_F4_E2M1},
    {"datetime64", FERRY_DTYPE_DATETIME64}, {"timedelta64", FERRY_DTYPE_TIMEDELTA64},
};

/* ============================================================================================
 * Lookup
 * ========================================================================================== */

const ferry__dtype_desc *ferry__dtype(ferry_dtype dt)
{
    /* Compare as unsigned so that a stray negative value cannot index the table. */
    unsigned v = (unsigned)dt;
    if (v < (unsigned)FERRY_DTYPE__PLAIN_END) return &plain_table[v];
    if (v >= (unsigned)FERRY_DTYPE_GGML_BASE && v < (unsigned)FERRY_DTYPE_GGML_END)
        return &ggml_table[v - (unsigned)FERRY_DTYPE_GGML_BASE];
    return NULL;
}

/* ASCII case-insensitive equality (the C library's strcasecmp is POSIX, and locale-bound). */
static bool name_eq(const char *a, const char *b)
{
    for (;; a++, b++) {
        unsigned char x = (unsigned char)*a, y = (unsigned char)*b;
        if (x >= 'a' && x <= 'z') x = (unsigned char)(x - 'a' + 'A');
        if (y >= 'a' && y <= 'z') y = (unsigned char)(y - 'a' + 'A');
        if (x != y) return false;
        if (!x) return true;
    }
}

const char *ferry_dtype_name(ferry_dtype dt)
{
    const ferry__dtype_desc *d = ferry__dtype(dt);
    return d ? d->name : "UNKNOWN";
}

ferry_dtype ferry_dtype_from_name(const char *name)
{
    if (!name || !*name) return FERRY_DTYPE_UNKNOWN;
    /* Plain names first: "F32" must give the plain type, not ggml id 0. */
    for (int i = 1; i < (int)FERRY_DTYPE__PLAIN_END; i++)
        if (name_eq(name, plain_table[i].name)) return (ferry_dtype)i;
    for (size_t i = 0; i < FERRY_ARRAY_LEN(aliases); i++)
        if (name_eq(name, aliases[i].name)) return aliases[i].dt;
    /* GGML block types with a layout (removed and unassigned ids are not parsed). */
    for (int id = 0; id < FERRY_DTYPE_GGML_END - FERRY_DTYPE_GGML_BASE; id++) {
        const ferry__dtype_desc *d = &ggml_table[id];
        if (d->bits == 0 && d->block_size && name_eq(name, d->name)) return FERRY_DTYPE_GGML(id);
    }
    return FERRY_DTYPE_UNKNOWN;
}

uint32_t ferry_dtype_block_size(ferry_dtype dt)
{
    const ferry__dtype_desc *d = ferry__dtype(dt);
    return d ? d->block_size : 0;
}

uint32_t ferry_dtype_block_bytes(ferry_dtype dt)
{
    const ferry__dtype_desc *d = ferry__dtype(dt);
    return d ? d->block_bytes : 0;
}

uint32_t ferry_dtype_bits(ferry_dtype dt)
{
    const ferry__dtype_desc *d = ferry__dtype(dt);
    return d ? d->bits : 0;
}

int ferry_dtype_is_block(ferry_dtype dt)
{
    /* Every ggml id that is not one of ggml's plain types (those have bits > 0), including
     * removed and unassigned ids, which are block types without a layout. */
    const ferry__dtype_desc *d = ferry__dtype(dt);
    return d && (unsigned)dt >= (unsigned)FERRY_DTYPE_GGML_BASE && d->bits == 0;
}

int ferry_dtype_is_numeric(ferry_dtype dt)
{
    const ferry__dtype_desc *d = ferry__dtype(dt);
    if (!d || d->block_size == 0 || d->is_complex) return 0;
    if (ferry_dtype_is_block(dt)) {
        /* Convertible when a dequantizer exists: ask it with zero elements. */
        return ferry__dequantize(dt, NULL, NULL, 0) == FERRY_OK;
    }
    if ((unsigned)dt >= (unsigned)FERRY_DTYPE_GGML_BASE) return 1; /* ggml's plain ids */
    switch (dt) {
    case FERRY_DTYPE_STRING:
    case FERRY_DTYPE_BYTES_FIXED:
    case FERRY_DTYPE_UCS4_FIXED:
    case FERRY_DTYPE_DATETIME64:
    case FERRY_DTYPE_TIMEDELTA64:
    case FERRY_DTYPE_OPAQUE: return 0;
    default: return 1;
    }
}

/* ============================================================================================
 * Sizes and byte order
 * ========================================================================================== */

bool ferry__dtype_nbytes(ferry_dtype dt, uint64_t n, uint32_t itemsize, uint64_t *out)
{
    const ferry__dtype_desc *d = ferry__dtype(dt);
    if (!d || d->block_size == 0) return false;
    if (dt == FERRY_DTYPE_BYTES_FIXED || dt == FERRY_DTYPE_UCS4_FIXED) {
        /* U<n> holds whole 4-byte code points. */
        if (dt == FERRY_DTYPE_UCS4_FIXED && itemsize % 4 != 0) return false;
        return !ferry__mul_overflow(n, itemsize, out);
    }
    if (d->block_bytes == 0 || n % d->block_size != 0) return false;
    return !ferry__mul_overflow(n / d->block_size, d->block_bytes, out);
}

void ferry__byteswap(void *buf, size_t width, uint64_t n)
{
    uint8_t *p = buf;
    switch (width) {
    case 0:
    case 1: return;
    case 2:
        for (uint64_t i = 0; i < n; i++, p += 2) {
            uint8_t t = p[0];
            p[0] = p[1];
            p[1] = t;
        }
        return;
    case 4:
        for (uint64_t i = 0; i < n; i++, p += 4) {
            uint32_t v;
            memcpy(&v, p, 4);
            v = (v >> 24) | ((v >> 8) & 0xFF00u) | ((v << 8) & 0xFF0000u) | (v << 24);
            memcpy(p, &v, 4);
        }
        return;
    case 8:
        for (uint64_t i = 0; i < n; i++, p += 8) {
            uint64_t v;
            memcpy(&v, p, 8);
            v = ((v & 0x00000000FFFFFFFFull) << 32) | ((v & 0xFFFFFFFF00000000ull) >> 32);
            v = ((v & 0x0000FFFF0000FFFFull) << 16) | ((v & 0xFFFF0000FFFF0000ull) >> 16);
            v = ((v & 0x00FF00FF00FF00FFull) << 8) | ((v & 0xFF00FF00FF00FF00ull) >> 8);
            memcpy(p, &v, 8);
        }
        return;
    default:
        for (uint64_t i = 0; i < n; i++, p += width)
            for (size_t a = 0, b = width - 1; a < b; a++, b--) {
                uint8_t t = p[a];
                p[a] = p[b];
                p[b] = t;
            }
        return;
    }
}
