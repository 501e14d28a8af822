/*
 * json_out.c -- a streaming JSON emitter for `--json` output.
 *
 * Output is built in a 256 KiB buffer and handed to stdio in large writes, so listing a GGUF
 * with a 150k-token vocabulary (a few MB of JSON) costs a handful of write calls. Nothing is
 * kept per level: a single "comma" flag is enough to place separators, because after '{', '['
 * or a key no comma may follow and after any value one must.
 *
 * Decisions a reader of our JSON may need (also in man/ferry.1):
 *   - Strings: '"' and '\' are escaped, control characters U+0000-U+001F and U+007F as
 *     \u00XX (\n \t \r \b \f by name), U+2028/U+2029 as \u2028/\u2029 (JavaScript hazards).
 *     Valid UTF-8 passes through; every byte that is not part of a valid UTF-8 sequence
 *     (including overlong forms, surrogates and code points above U+10FFFF) is REPLACED by
 *     U+FFFD. JSON cannot carry arbitrary bytes in a string, and a replacement keeps the
 *     output valid; the exact bytes of a name remain available through the library.
 *   - BYTES metadata values are base64 strings (RFC 4648, standard alphabet, padded).
 *   - Integers are printed exactly, all 64 bits of INT and UINT.
 *   - Floating values use the fewest digits that read back to the same value: values stored
 *     as float32 (GGUF FLOAT32 keys) round-trip through float32, so 0.1f prints as 0.1, not
 *     0.10000000149011612. Integral values get ".0" so that they read back as floats.
 *     NaN and infinities have no JSON spelling and are written as null.
 *
 * Number formatting is on the hot path (150k vocabulary scores), and glibc's printf/strtod
 * pair costs about half a microsecond per value. Integers are formatted by hand; float32
 * values take an exact fast path: for p = 6..9 digits, scale by an exactly representable
 * power of ten, round, and check that the candidate reads back to the same float. The check
 * is done in double arithmetic with a single rounding, which is exact unless the result
 * lies within one double ulp of a float32 rounding boundary -- then, and for subnormals and
 * magnitudes whose scale needs 10^k with |k| > 22, we fall back to printf/strtof. Every
 * digit string we emit has therefore been verified to round-trip.
 */
#include "cli.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define JW_BUF (256u << 10)

/* ============================================================================================
 * Buffering
 * ========================================================================================== */

void jw_init(jw *w, FILE *fp)
{
    memset(w, 0, sizeof *w);
    w->fp  = fp;
    w->buf = malloc(JW_BUF);
    w->cap = JW_BUF;
    if (!w->buf) w->err = true;
}

static void flush(jw *w)
{
    if (w->len && !w->err && fwrite(w->buf, 1, w->len, w->fp) != w->len) w->err = true;
    w->len = 0;
}

static void put(jw *w, const char *s, size_t n)
{
    if (w->err) return;
    if (n > w->cap - w->len) {
        flush(w);
        if (n > w->cap) {
            if (fwrite(s, 1, n, w->fp) != n) w->err = true;
            return;
        }
    }
    memcpy(w->buf + w->len, s, n);
    w->len += n;
}

static void putch(jw *w, char c)
{
    if (w->len == w->cap) flush(w);
    if (!w->err) w->buf[w->len++] = c;
}

int jw_end(jw *w)
{
    putch(w, '\n');
    flush(w);
    free(w->buf);
    w->buf = NULL;
    if (fflush(w->fp) != 0) w->err = true;
    return w->err ? -1 : 0;
}

/* Called before every value and key: places the separator. */
static void sep(jw *w)
{
    if (w->comma) putch(w, ',');
    w->comma = false;
}

void jw_obj_begin(jw *w)
{
    sep(w);
    putch(w, '{');
}

void jw_obj_end(jw *w)
{
    putch(w, '}');
    w->comma = true;
}

void jw_arr_begin(jw *w)
{
    sep(w);
    putch(w, '[');
}

void jw_arr_end(jw *w)
{
    putch(w, ']');
    w->comma = true;
}

/* ============================================================================================
 * Strings
 * ========================================================================================== */

/* Bytes that a JSON string cannot hold as they are: '"', '\\', C0 controls and DEL (1), and
 * the lead bytes of multi-byte UTF-8 that must be validated (2). */
static const unsigned char special[256] = {
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,  /* 0x00 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,  /* 0x10 */
    0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,  /* 0x20 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,  /* 0x30 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,  /* 0x40 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0,  /* 0x50 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,  /* 0x60 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1,  /* 0x70 */
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,  /* 0x80 */
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,  /* 0x90 */
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,  /* 0xA0 */
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,  /* 0xB0 */
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,  /* 0xC0 */
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,  /* 0xD0 */
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,  /* 0xE0 */
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,  /* 0xF0 */
};

static void str_body(jw *w, const unsigned char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    size_t i = 0;
    while (i < n) {
        /* Fast path: a run of bytes that need no escaping -- ASCII and valid UTF-8 other
         * than U+2028/U+2029 -- is copied in one go. */
        size_t j = i;
        uint32_t cp = 0;
        size_t len = 0;
        while (j < n) {
            unsigned char k = special[s[j]];
            if (k == 0) {
                j++;
            } else if (k == 2 && (len = cli_utf8_seq(s + j, n - j, &cp)) != 0 && cp != 0x2028 &&
                       cp != 0x2029) {
                j += len;
            } else {
                break;
            }
        }
        if (j > i) {
            put(w, (const char *)s + i, j - i);
            i = j;
            continue;
        }
        unsigned char c = s[i];
        if (c < 0x80) {
            char e[6] = {'\\', 0, 0, 0, 0, 0};
            size_t k = 2;
            switch (c) {
            case '"': e[1] = '"'; break;
            case '\\': e[1] = '\\'; break;
            case '\n': e[1] = 'n'; break;
            case '\t': e[1] = 't'; break;
            case '\r': e[1] = 'r'; break;
            case '\b': e[1] = 'b'; break;
            case '\f': e[1] = 'f'; break;
            default:
                e[1] = 'u', e[2] = '0', e[3] = '0', e[4] = hex[c >> 4], e[5] = hex[c & 15];
                k = 6;
            }
            put(w, e, k);
            i++;
        } else if (len == 0) {
            put(w, "\xEF\xBF\xBD", 3); /* U+FFFD for one invalid byte */
            i++;
        } else {
            put(w, cp == 0x2028 ? "\\u2028" : "\\u2029", 6);
            i += len;
        }
    }
}

/* The common case -- a short string that needs no escaping (a token, a key, a tensor name)
 * -- copied straight into the buffer in one pass; false when it needs the general path. */
static bool str_plain(jw *w, const unsigned char *s, size_t n)
{
    if (n > 256 || w->cap - w->len < n + 3 || w->err) return false;
    char *o = w->buf + w->len;
    *o++ = w->comma ? ',' : '"';
    if (w->comma) *o++ = '"';
    for (size_t i = 0; i < n;) {
        unsigned char k = special[s[i]];
        if (k == 0) {
            o[i] = (char)s[i];
            i++;
            continue;
        }
        uint32_t cp;
        size_t len = k == 2 ? cli_utf8_seq(s + i, n - i, &cp) : 0;
        if (len == 0 || cp == 0x2028 || cp == 0x2029) return false; /* nothing committed yet */
        memcpy(o + i, s + i, len);
        i += len;
    }
    o[n] = '"';
    w->len = (size_t)(o + n + 1 - w->buf);
    w->comma = true;
    return true;
}

void jw_str(jw *w, const char *s, size_t n)
{
    if (str_plain(w, (const unsigned char *)s, n)) return;
    sep(w);
    putch(w, '"');
    str_body(w, (const unsigned char *)s, n);
    putch(w, '"');
    w->comma = true;
}

void jw_cstr(jw *w, const char *s)
{
    if (!s)
        jw_null(w);
    else
        jw_str(w, s, strlen(s));
}

void jw_key(jw *w, const char *key)
{
    jw_str(w, key ? key : "", key ? strlen(key) : 0);
    putch(w, ':');
    w->comma = false;
}

void jw_base64(jw *w, const void *data, size_t n)
{
    static const char b64[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const unsigned char *p = data;
    sep(w);
    putch(w, '"');
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;
        if (i + 1 < n) v |= (uint32_t)p[i + 1] << 8;
        if (i + 2 < n) v |= p[i + 2];
        char q[4] = {b64[v >> 18], b64[(v >> 12) & 63], b64[(v >> 6) & 63], b64[v & 63]};
        if (i + 1 >= n) q[2] = '=';
        if (i + 2 >= n) q[3] = '=';
        put(w, q, 4);
    }
    putch(w, '"');
    w->comma = true;
}

/* ============================================================================================
 * Numbers
 * ========================================================================================== */

size_t cli_fmt_u64(char *buf, uint64_t v)
{
    char tmp[24];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (size_t i = 0; i < n; i++) buf[i] = tmp[n - 1 - i];
    buf[n] = 0;
    return n;
}

size_t cli_fmt_i64(char *buf, int64_t v)
{
    if (v >= 0) return cli_fmt_u64(buf, (uint64_t)v);
    buf[0] = '-';
    /* Negate in unsigned arithmetic: -INT64_MIN does not exist as an int64_t. */
    return 1 + cli_fmt_u64(buf + 1, (uint64_t)0 - (uint64_t)v);
}

static const double pow10_exact[23] = {
    1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
    1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
};

/* True when double d (a positive float32-range value) is within one double ulp of a point
 * halfway between two adjacent float32 values: there, a single-rounded double result may
 * round to float32 differently from the exact decimal. A float32 keeps 24 of the double's 53
 * significant bits; the 29 bits below are exactly 1000...0 at a halfway point. */
static bool near_f32_tie(double d)
{
    uint64_t bits;
    memcpy(&bits, &d, sizeof bits);
    uint64_t low = bits & (((uint64_t)1 << 29) - 1);
    uint64_t half = (uint64_t)1 << 28;
    return low + 1 >= half && low <= half + 1;
}

/* The fast exact path for a positive normal float32 x. On success *digits * 10^*exp10 is the
 * shortest decimal found that reads back as x. */
static bool f32_shortest(float x, uint64_t *digits, int *exp10)
{
    double d = x;
    /* The decimal exponent from the binary one (d = m * 2^be, m in [0.5, 1)): an estimate
     * that is exact or one too small, corrected with the exact powers of ten. */
    int be;
    frexp(d, &be);
    int e = (int)floor((be - 1) * 0.30102999566398120);
    if (e < -22 || e > 21) return false;
    if (e >= 0 ? d >= pow10_exact[e + 1] : d * pow10_exact[-e - 1] >= 1.0) e++;
    /* Six digits first, as in slow_shortest() below: a shorter decimal that reads back as x
     * is what the nearest 6-digit candidate becomes once its trailing zeros are stripped. */
    for (int p = 6; p <= 9; p++) {
        int s = p - 1 - e; /* scale so that the candidate has p digits */
        if (s > 22 || s < -22) return false;
        double y = s >= 0 ? d * pow10_exact[s] : d / pow10_exact[-s];
        double n = floor(y + 0.5);
        if (n < 1 || n >= 1e10) continue;
        double back = s >= 0 ? n / pow10_exact[s] : n * pow10_exact[-s];
        if (!(back >= FLT_MIN && back <= FLT_MAX) || near_f32_tie(back)) return false;
        if ((float)back == x) {
            *digits = (uint64_t)n;
            *exp10  = -s;
            return true;
        }
    }
    return false;
}

/* The portable path: printf with increasing precision until strtod/strtof reads the same
 * value back. Starting at 6 (float) or 15 (double) digits loses nothing: any shorter decimal
 * that round-trips is what the rounded longer one reduces to once trailing zeros go. */
static bool slow_shortest(double v, bool as_float, uint64_t *digits, int *exp10)
{
    char tmp[40];
    /* Subnormals have fewer significant bits, so fewer digits may do: search from one. */
    bool sub = as_float ? v < FLT_MIN : v < DBL_MIN;
    for (int p = sub ? 1 : as_float ? 6 : 15; p <= (as_float ? 9 : 17); p++) {
        snprintf(tmp, sizeof tmp, "%.*e", p - 1, v);
        bool same = as_float ? strtof(tmp, NULL) == (float)v : strtod(tmp, NULL) == v;
        if (!same && p < (as_float ? 9 : 17)) continue;
        /* tmp is "d.ddde[+-]XX": collect the digits and the exponent. */
        uint64_t dg = 0;
        int nd = 0;
        const char *c = tmp;
        for (; *c && *c != 'e'; c++)
            if (*c >= '0' && *c <= '9') dg = dg * 10 + (uint64_t)(*c - '0'), nd++;
        int ex = *c == 'e' ? atoi(c + 1) : 0;
        *digits = dg;
        *exp10  = ex - (nd - 1);
        return true;
    }
    return false;
}

/* Lays out digits * 10^exp10 like Python's repr: fixed notation for decimal exponents in
 * [-4, 16), scientific otherwise; always with a '.' or an 'e'. */
static void layout(char *buf, bool neg, uint64_t digits, int exp10)
{
    while (digits && digits % 10 == 0) digits /= 10, exp10++;
    char ds[24];
    size_t L = cli_fmt_u64(ds, digits);
    int E = (int)L - 1 + exp10; /* scientific exponent */
    char *o = buf;
    if (neg) *o++ = '-';
    if (E >= -4 && E < 16) {
        if (E < 0) {
            *o++ = '0', *o++ = '.';
            for (int k = 0; k < -E - 1; k++) *o++ = '0';
            memcpy(o, ds, L), o += L;
        } else if ((int)L <= E + 1) {
            memcpy(o, ds, L), o += L;
            for (int k = 0; k < E + 1 - (int)L; k++) *o++ = '0';
            *o++ = '.', *o++ = '0';
        } else {
            memcpy(o, ds, (size_t)E + 1), o += E + 1;
            *o++ = '.';
            memcpy(o, ds + E + 1, L - (size_t)E - 1), o += L - (size_t)E - 1;
        }
        *o = 0;
    } else {
        *o++ = ds[0];
        if (L > 1) {
            *o++ = '.';
            memcpy(o, ds + 1, L - 1), o += L - 1;
        }
        /* |E| <= 324 for any double: at most 5 more bytes. */
        snprintf(o, 16, "e%c%02d", E < 0 ? '-' : '+', (E < 0 ? -E : E) % 1000);
    }
}

bool cli_fmt_double(char *buf, double v, ferry_dtype numtype)
{
    if (isnan(v)) {
        strcpy(buf, "nan");
        return false;
    }
    if (isinf(v)) {
        strcpy(buf, v < 0 ? "-inf" : "inf");
        return false;
    }
    bool neg = signbit(v) != 0;
    double a = neg ? -v : v;
    if (a == 0) {
        strcpy(buf, neg ? "-0.0" : "0.0");
        return true;
    }
    uint64_t digits = 0;
    int exp10 = 0;
    bool small = numtype == FERRY_DTYPE_F32 || numtype == FERRY_DTYPE_F16 ||
                 numtype == FERRY_DTYPE_BF16 || numtype == FERRY_DTYPE_F8_E4M3FN ||
                 numtype == FERRY_DTYPE_F8_E5M2;
    bool as_float = small && a <= FLT_MAX && (double)(float)a == a;
    /* Integers below 2^24 (float) or 2^53 (double) are exact, and no shorter decimal reads
     * back to them (the neighbouring values are at most 1 apart): print them as they are.
     * Larger integral values go through the search, which may find fewer digits. */
    if (a < (as_float ? 16777216.0 : 9007199254740992.0) && a == floor(a)) {
        layout(buf, neg, (uint64_t)a, 0);
        return true;
    }
    if (as_float && a >= FLT_MIN && f32_shortest((float)a, &digits, &exp10)) {
        layout(buf, neg, digits, exp10);
        return true;
    }
    slow_shortest(a, as_float, &digits, &exp10);
    layout(buf, neg, digits, exp10);
    return true;
}

void jw_int(jw *w, int64_t v)
{
    char b[24];
    sep(w);
    put(w, b, cli_fmt_i64(b, v));
    w->comma = true;
}

void jw_uint(jw *w, uint64_t v)
{
    char b[24];
    sep(w);
    put(w, b, cli_fmt_u64(b, v));
    w->comma = true;
}

void jw_double(jw *w, double v, ferry_dtype numtype)
{
    char b[40];
    sep(w);
    if (cli_fmt_double(b, v, numtype))
        put(w, b, strlen(b));
    else
        put(w, "null", 4);
    w->comma = true;
}

void jw_bool(jw *w, bool v)
{
    sep(w);
    put(w, v ? "true" : "false", v ? 4 : 5);
    w->comma = true;
}

void jw_null(jw *w)
{
    sep(w);
    put(w, "null", 4);
    w->comma = true;
}

/* ============================================================================================
 * Metadata trees
 * ========================================================================================== */

static void scalar(jw *w, const ferry_meta *m)
{
    size_t n;
    const char *s;
    switch (ferry_meta_kind_of(m)) {
    case FERRY_META_BOOL: jw_bool(w, ferry_meta_bool(m)); break;
    case FERRY_META_INT: jw_int(w, ferry_meta_int(m)); break;
    case FERRY_META_UINT: jw_uint(w, ferry_meta_uint(m)); break;
    case FERRY_META_FLOAT: jw_double(w, ferry_meta_float(m), ferry_meta_numtype(m)); break;
    case FERRY_META_STRING:
        s = ferry_meta_string(m, &n);
        jw_str(w, s ? s : "", s ? n : 0);
        break;
    case FERRY_META_BYTES:
        s = ferry_meta_string(m, &n);
        jw_base64(w, s, s ? n : 0);
        break;
    default: jw_null(w); break;
    }
}

static bool is_container(const ferry_meta *m)
{
    ferry_meta_kind k = ferry_meta_kind_of(m);
    return k == FERRY_META_ARRAY || k == FERRY_META_MAP;
}

/* Depth-first walk with an explicit stack: a file decides how deep its metadata nests, and
 * the C stack is not the place to find out how deep that is. */
void jw_meta(jw *w, const ferry_meta *root)
{
    typedef struct frame {
        const ferry_meta *node;
        int64_t           next;
        int64_t           count;
        bool              map;
    } frame;
    if (!is_container(root)) {
        scalar(w, root);
        return;
    }
    size_t cap = 16, depth = 0;
    frame *st = malloc(cap * sizeof *st);
    if (!st) {
        w->err = true;
        return;
    }
    st[depth++] = (frame){root, 0, ferry_meta_count(root),
                          ferry_meta_kind_of(root) == FERRY_META_MAP};
    if (st[0].map)
        jw_obj_begin(w);
    else
        jw_arr_begin(w);
    while (depth && !w->err) {
        frame *f = &st[depth - 1];
        if (f->next == f->count) {
            if (f->map)
                jw_obj_end(w);
            else
                jw_arr_end(w);
            depth--;
            continue;
        }
        int64_t i = f->next++;
        const ferry_meta *c = ferry_meta_at(f->node, i);
        if (f->map) jw_key(w, ferry_meta_key_at(f->node, i));
        if (!is_container(c)) {
            scalar(w, c);
            continue;
        }
        if (depth == cap) {
            frame *ns = realloc(st, cap * 2 * sizeof *st);
            if (!ns) {
                w->err = true;
                break;
            }
            st = ns, cap *= 2;
        }
        bool map = ferry_meta_kind_of(c) == FERRY_META_MAP;
        st[depth++] = (frame){c, 0, ferry_meta_count(c), map};
        if (map)
            jw_obj_begin(w);
        else
            jw_arr_begin(w);
    }
    free(st);
}
