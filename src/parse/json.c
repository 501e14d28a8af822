/*
 * json.c -- strict RFC 8259 JSON: a pull reader, a tree builder on top of it, and the escaping
 * and number formatting that writers share.
 *
 * Spec: RFC 8259 (grammar, sections 2-8). Where the RFC leaves room, we follow serde_json,
 * the parser of the reference safetensors reader (FORMATS.md A3), so that ferry accepts and
 * rejects the same headers:
 *   - whitespace is exactly space, tab, LF and CR; anything but whitespace after the top-level
 *     value is an error;
 *   - numbers: no leading zeros, no '+', no bare '.', at least one digit after '.' and 'e';
 *     a non-negative integer that fits uint64 is UINT, a negative one that fits int64 is INT,
 *     "-0" and every other number is FLOAT (serde_json does the same); a number whose
 *     magnitude overflows a double is an error ("number out of range"), one that underflows
 *     becomes 0;
 *   - strings: raw bytes below 0x20 are errors, escapes are exactly \" \\ \/ \b \f \n \r \t
 *     \uXXXX (hex in either case); a surrogate must come as a high+low pair of \u escapes,
 *     anything else (lone high, lone low, high followed by a non-low) is an error, as in
 *     serde_json when it deserializes into a String; raw bytes must be valid UTF-8 (no
 *     overlong forms, no encoded surrogates, nothing above U+10FFFF);
 *   - \u0000 is allowed and decodes to a NUL byte (strings carry their length).
 * Differences from serde_json, both deliberate: nesting is limited by limits.metadata_depth
 * (FERRY_E_LIMIT) instead of serde's fixed 128, and duplicate keys can be refused
 * (FERRY__JSON_NO_DUP_KEYS) where serde keeps the last one: two parsers that disagree about
 * which duplicate wins are a classic way to smuggle data past a checker.
 *
 * Design decisions:
 *   - No recursion: containers are tracked on an explicit stack (one small record per open
 *     container) that grows on demand and is capped by limits.metadata_depth.
 *   - Strings without escapes are handed out as pointers into the input (zero copy); strings
 *     with escapes are decoded into one reusable scratch buffer whose size is bounded by the
 *     raw string, i.e. by bytes that exist.
 *   - Duplicate detection costs O(1) per key with one chained hash table for the whole
 *     document: keys of all open objects are pushed on a stack-like store, and when an object
 *     closes its keys are popped. Because removals are LIFO, each removed key is the head of
 *     its bucket chain, so popping is just "bucket = entry.next". A lookup walks the chain
 *     only while entries belong to the current object (their index is above its mark).
 *   - Floats are converted with strtod, which glibc rounds correctly, but never on the raw
 *     text: we rewrite the validated number as "[-]DIGITSe[-]EXP" without a decimal point, so
 *     the locale's decimal separator can never matter. Digits beyond the 800th significant one
 *     are replaced by a single sticky '1': a halfway point between two doubles has at most 767
 *     significant digits, so this cannot change the rounding.
 *   - Shortest float output tries 1..17 significant digits with "%.*e" (correctly rounded by
 *     glibc), reads the digits back out of the text whatever the locale put between them, and
 *     keeps the first precision that round-trips; the layout follows Python's repr().
 */
#include "parse/json.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

/* ============================================================================================
 * Reader state
 * ========================================================================================== */

enum { ST_VALUE, ST_KEY, ST_AFTER, ST_DONE };

struct ferry__json_level {
    uint8_t is_obj;
    size_t  key_mark;     /* n_keys when the object opened */
    size_t  store_mark;   /* key_store_len when the object opened */
};

struct ferry__json_key {
    uint64_t hash;
    size_t   off;         /* in key_store */
    size_t   len;
    size_t   next;        /* index + 1 of the next entry in the bucket chain, 0 = none */
};

void ferry__json_reader_init(ferry__json_reader *r, ferry_ctx *ctx, const ferry_source *src,
                             uint64_t base, const void *data, size_t len, unsigned flags)
{
    memset(r, 0, sizeof *r);
    r->ctx   = ctx;
    r->src   = src;
    r->base  = base;
    r->p     = data;
    r->len   = len;
    r->flags = flags;
    r->state = ST_VALUE;
    r->tok   = FERRY__JSON_END;
}

void ferry__json_reader_free(ferry__json_reader *r)
{
    ferry__free(r->ctx, r->levels, 0);
    ferry__free(r->ctx, r->scratch, 0);
    ferry__free(r->ctx, r->keys, 0);
    ferry__free(r->ctx, r->buckets, 0);
    ferry__free(r->ctx, r->key_store, 0);
    r->levels    = NULL;
    r->scratch   = NULL;
    r->keys      = NULL;
    r->buckets   = NULL;
    r->key_store = NULL;
    r->levels_cap = r->scratch_cap = r->keys_cap = r->n_buckets = r->key_store_cap = 0;
    r->n_keys = r->key_store_len = 0;
}

const char *ferry__json_tok_name(int tok)
{
    switch (tok) {
    case FERRY__JSON_END: return "end of input";
    case FERRY__JSON_OBJECT: return "an object";
    case FERRY__JSON_OBJECT_END: return "'}'";
    case FERRY__JSON_ARRAY: return "an array";
    case FERRY__JSON_ARRAY_END: return "']'";
    case FERRY__JSON_KEY: return "a key";
    case FERRY__JSON_STRING: return "a string";
    case FERRY__JSON_INT: return "a negative integer";
    case FERRY__JSON_UINT: return "an integer";
    case FERRY__JSON_FLOAT: return "a non-integer number";
    case FERRY__JSON_TRUE: return "true";
    case FERRY__JSON_FALSE: return "false";
    case FERRY__JSON_NULL: return "null";
    default: return "an unknown token";
    }
}

/* ============================================================================================
 * Errors
 * ========================================================================================== */

static int vfail_pos(ferry__json_reader *r, int code, size_t pos, const char *fmt, va_list ap)
{
    char msg[600];
    vsnprintf(msg, sizeof msg, fmt, ap);
    ferry__fail_at(r->ctx, code, r->src, r->base + pos, "%s", msg);
    r->err = code;
    return code;
}

static int fail_pos(ferry__json_reader *r, int code, size_t pos, const char *fmt, ...)
    FERRY_PRINTF(4, 5);

static int fail_pos(ferry__json_reader *r, int code, size_t pos, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail_pos(r, code, pos, fmt, ap);
    va_end(ap);
    return code;
}

int ferry__json_fail(ferry__json_reader *r, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail_pos(r, code, r->tok_off, fmt, ap);
    va_end(ap);
    return code;
}

/* Records an error raised elsewhere (allocation, limits) as the reader's sticky error. */
static int sticky(ferry__json_reader *r, int code)
{
    r->err = code;
    return code;
}

/* The same for errors of the metadata builders, whose messages name no file: they are
 * reissued with the file and the offset of the current token. */
static int sticky_here(ferry__json_reader *r, int code)
{
    char msg[sizeof r->ctx->err];
    memcpy(msg, r->ctx->err, sizeof msg);
    msg[sizeof msg - 1] = 0;
    if (code == FERRY_E_NOMEM) return sticky(r, code);
    return fail_pos(r, code, r->tok_off, "%s", msg);
}

/* What sits at pos, for "found ..., expected ..." messages. */
static const char *describe(const ferry__json_reader *r, size_t pos, char buf[24])
{
    if (pos >= r->len) return "end of input";
    uint8_t c = r->p[pos];
    if (c > 0x20 && c < 0x7f)
        snprintf(buf, 24, "'%c'", c);
    else
        snprintf(buf, 24, "byte 0x%02x", c);
    return buf;
}

/* ============================================================================================
 * UTF-8
 * ========================================================================================== */

/* Length of the valid UTF-8 sequence that starts at p (n bytes available), or 0. */
static size_t utf8_seq(const uint8_t *p, size_t n)
{
    uint8_t c = p[0];
    if (c < 0x80) return 1;
    size_t k;
    uint8_t lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) {
        k = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        k = 3;
        if (c == 0xE0) lo = 0xA0;      /* overlong */
        if (c == 0xED) hi = 0x9F;      /* surrogates U+D800..U+DFFF */
    } else if (c >= 0xF0 && c <= 0xF4) {
        k = 4;
        if (c == 0xF0) lo = 0x90;      /* overlong */
        if (c == 0xF4) hi = 0x8F;      /* above U+10FFFF */
    } else {
        return 0;                      /* continuation byte, C0/C1, F5..FF */
    }
    if (n < k) return 0;
    if (p[1] < lo || p[1] > hi) return 0;
    for (size_t i = 2; i < k; i++)
        if (p[i] < 0x80 || p[i] > 0xBF) return 0;
    return k;
}

bool ferry__utf8_valid(const uint8_t *p, size_t n, size_t *bad)
{
    size_t i = 0;
    while (i < n) {
        if (p[i] < 0x80) {
            i++;
            continue;
        }
        size_t k = utf8_seq(p + i, n - i);
        if (!k) {
            if (bad) *bad = i;
            return false;
        }
        i += k;
    }
    return true;
}

static size_t utf8_put(uint32_t cp, char *out)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | cp >> 6);
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | cp >> 12);
        out[1] = (char)(0x80 | (cp >> 6 & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | cp >> 18);
    out[1] = (char)(0x80 | (cp >> 12 & 0x3F));
    out[2] = (char)(0x80 | (cp >> 6 & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* ============================================================================================
 * Strings
 * ========================================================================================== */

static int hex4(const ferry__json_reader *r, size_t i, uint32_t *out)
{
    if (r->len - i < 4) return -1;
    uint32_t v = 0;
    for (size_t k = 0; k < 4; k++) {
        uint8_t c = r->p[i + k];
        uint32_t d;
        if (c >= '0' && c <= '9') d = (uint32_t)(c - '0');
        else if (c >= 'a' && c <= 'f') d = (uint32_t)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') d = (uint32_t)(c - 'A' + 10);
        else return -1;
        v = v << 4 | d;
    }
    *out = v;
    return 0;
}

/* Decodes the escape whose backslash is at i: the code point and the bytes it spans. */
static int escape_at(ferry__json_reader *r, size_t i, uint32_t *cp, size_t *span)
{
    if (i + 1 >= r->len)
        return fail_pos(r, FERRY_E_CORRUPT, i, "unterminated escape, expected a character "
                        "after '\\'");
    switch (r->p[i + 1]) {
    case '"': *cp = '"'; break;
    case '\\': *cp = '\\'; break;
    case '/': *cp = '/'; break;
    case 'b': *cp = '\b'; break;
    case 'f': *cp = '\f'; break;
    case 'n': *cp = '\n'; break;
    case 'r': *cp = '\r'; break;
    case 't': *cp = '\t'; break;
    case 'u': {
        uint32_t hi;
        if (hex4(r, i + 2, &hi))
            return fail_pos(r, FERRY_E_CORRUPT, i, "invalid \\u escape, expected four hex "
                            "digits");
        if (hi >= 0xDC00 && hi <= 0xDFFF)
            return fail_pos(r, FERRY_E_CORRUPT, i, "unpaired low surrogate \\u%04X, expected "
                            "a high surrogate first", (unsigned)hi);
        if (hi < 0xD800 || hi > 0xDBFF) {
            *cp   = hi;
            *span = 6;
            return FERRY_OK;
        }
        uint32_t lo;
        if (r->len - i < 12 || r->p[i + 6] != '\\' || r->p[i + 7] != 'u' ||
            hex4(r, i + 8, &lo) || lo < 0xDC00 || lo > 0xDFFF)
            return fail_pos(r, FERRY_E_CORRUPT, i, "unpaired high surrogate \\u%04X, expected "
                            "a \\uDC00-\\uDFFF escape after it", (unsigned)hi);
        *cp   = 0x10000 + ((hi - 0xD800) << 10 | (lo - 0xDC00));
        *span = 12;
        return FERRY_OK;
    }
    default: {
        char b[24];
        return fail_pos(r, FERRY_E_CORRUPT, i, "invalid escape: found %s after '\\', expected "
                        "one of \" \\ / b f n r t u", describe(r, i + 1, b));
    }
    }
    *span = 2;
    return FERRY_OK;
}

/* Reads the string whose opening quote is at r->pos into r->str / r->str_len. */
static int scan_string(ferry__json_reader *r)
{
    size_t open = r->pos, i = open + 1, out_len = 0;
    bool escaped = false;
    /* Pass 1: find the closing quote, validate everything, measure the decoded length. */
    for (;;) {
        if (i >= r->len)
            return fail_pos(r, FERRY_E_CORRUPT, open, "unterminated string, expected a closing "
                            "'\"' before the end of input");
        uint8_t c = r->p[i];
        if (c == '"') break;
        if (c == '\\') {
            uint32_t cp;
            size_t span;
            FERRY_TRY(escape_at(r, i, &cp, &span));
            char tmp[4];
            out_len += utf8_put(cp, tmp);
            i += span;
            escaped = true;
            continue;
        }
        if (c < 0x20)
            return fail_pos(r, FERRY_E_CORRUPT, i, "control character 0x%02x in a string, "
                            "expected it to be escaped", c);
        size_t k = c < 0x80 ? 1 : utf8_seq(r->p + i, r->len - i);
        if (!k)
            return fail_pos(r, FERRY_E_CORRUPT, i, "invalid UTF-8 byte 0x%02x in a string", c);
        i += k;
        out_len += k;
    }
    if (out_len > r->ctx->limits.string_length)
        return fail_pos(r, FERRY_E_LIMIT, open, "string of %zu bytes exceeds the limit "
                        "string_length (%llu)", out_len,
                        (unsigned long long)r->ctx->limits.string_length);
    if (!escaped) {
        r->str     = (const char *)r->p + open + 1;
        r->str_len = out_len;
        r->pos     = i + 1;
        return FERRY_OK;
    }
    /* Pass 2: decode into the scratch buffer (out_len <= raw length: bytes that exist). */
    if (out_len + 1 > r->scratch_cap) {
        size_t cap = r->scratch_cap ? r->scratch_cap : 64;
        while (cap < out_len + 1) cap = cap > SIZE_MAX / 2 ? out_len + 1 : cap * 2;
        char *ns = ferry__realloc(r->ctx, r->scratch, r->scratch_cap, cap);
        if (!ns) return sticky(r, r->ctx->err_code);
        r->scratch     = ns;
        r->scratch_cap = cap;
    }
    size_t o = 0;
    for (size_t j = open + 1; j < i;) {
        if (r->p[j] == '\\') {
            uint32_t cp;
            size_t span;
            FERRY_TRY(escape_at(r, j, &cp, &span));
            o += utf8_put(cp, r->scratch + o);
            j += span;
        } else {
            r->scratch[o++] = (char)r->p[j++];
        }
    }
    r->scratch[o] = 0;
    r->str     = r->scratch;
    r->str_len = o;
    r->pos     = i + 1;
    return FERRY_OK;
}

/* ============================================================================================
 * Numbers
 * ========================================================================================== */

#define SIG_MAX 800 /* significant digits kept before the sticky digit (see the top) */

static bool is_digit(int c) { return c >= '0' && c <= '9'; }

bool ferry__json_number_to_double(const char *s, size_t n, double *out)
{
    char buf[SIG_MAX + 48];
    size_t i = 0, o = 0, nd = 0;
    bool neg = false, sticky_digit = false;
    const int64_t cap = (int64_t)1 << 50;   /* counters saturate far beyond any double */
    int64_t shift = 0;                        /* decimal exponent adjustment */
    if (i < n && s[i] == '-') {
        neg = true;
        buf[o++] = '-';
        i++;
    }
    for (; i < n && is_digit(s[i]); i++) {
        if (nd == 0 && s[i] == '0') continue;         /* leading zeros */
        if (nd < SIG_MAX) {
            buf[o++] = s[i];
            nd++;
        } else {
            if (shift < cap) shift++;                 /* dropped integer digit */
            if (s[i] != '0') sticky_digit = true;
        }
    }
    if (i < n && s[i] == '.') {
        for (i++; i < n && is_digit(s[i]); i++) {
            if (nd == 0 && s[i] == '0') {
                if (shift > -cap) shift--;            /* 0.00ddd */
                continue;
            }
            if (nd < SIG_MAX) {
                buf[o++] = s[i];
                nd++;
                if (shift > -cap) shift--;
            } else if (s[i] != '0') {
                sticky_digit = true;
            }
        }
    }
    int64_t e = 0;
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        bool eneg = false;
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-')) eneg = s[i++] == '-';
        for (; i < n && is_digit(s[i]); i++)
            if (e < cap) e = e * 10 + (s[i] - '0');
        if (eneg) e = -e;
    }
    if (nd == 0) {
        *out = neg ? -0.0 : 0.0;
        return true;
    }
    if (sticky_digit) {
        buf[o++] = '1';
        shift--;
    }
    int64_t x = e + shift;
    /* nd <= 801 digits: beyond +-100000 the result is certainly inf or 0. */
    if (x > 100000) x = 100000;
    if (x < -100000) x = -100000;
    snprintf(buf + o, sizeof buf - o, "e%lld", (long long)x);
    char *end;
    double v = strtod(buf, &end);
    if (isinf(v)) return false;
    *out = v;
    return true;
}

/* Reads the number at r->pos. */
static int scan_number(ferry__json_reader *r)
{
    size_t start = r->pos, i = start;
    bool neg = false, integral = true;
    char b[24];
    if (r->p[i] == '-') {
        neg = true;
        i++;
    }
    if (i >= r->len || !is_digit(r->p[i]))
        return fail_pos(r, FERRY_E_CORRUPT, i, "invalid number: found %s, expected a digit",
                        describe(r, i, b));
    if (r->p[i] == '0') {
        i++;
        if (i < r->len && is_digit(r->p[i]))
            return fail_pos(r, FERRY_E_CORRUPT, start, "invalid number: leading zero, expected "
                            "'.', 'e' or the end of the number");
    } else {
        while (i < r->len && is_digit(r->p[i])) i++;
    }
    size_t int_end = i;
    if (i < r->len && r->p[i] == '.') {
        integral = false;
        i++;
        if (i >= r->len || !is_digit(r->p[i]))
            return fail_pos(r, FERRY_E_CORRUPT, i, "invalid number: found %s after '.', "
                            "expected a digit", describe(r, i, b));
        while (i < r->len && is_digit(r->p[i])) i++;
    }
    if (i < r->len && (r->p[i] == 'e' || r->p[i] == 'E')) {
        integral = false;
        i++;
        if (i < r->len && (r->p[i] == '+' || r->p[i] == '-')) i++;
        if (i >= r->len || !is_digit(r->p[i]))
            return fail_pos(r, FERRY_E_CORRUPT, i, "invalid number: found %s in the exponent, "
                            "expected a digit", describe(r, i, b));
        while (i < r->len && is_digit(r->p[i])) i++;
    }
    r->pos = i;
    if (integral) {
        uint64_t mag = 0;
        bool over = false;
        for (size_t k = start + (neg ? 1 : 0); k < int_end && !over; k++) {
            unsigned d = (unsigned)(r->p[k] - '0');
            if (mag > (UINT64_MAX - d) / 10) over = true;
            else mag = mag * 10 + d;
        }
        if (!over && !neg) {
            r->u = mag;
            return r->tok = FERRY__JSON_UINT;
        }
        /* serde_json: "-0" is the float -0.0; a negative integer below INT64_MIN is a float */
        if (!over && neg && mag != 0 && mag <= (uint64_t)INT64_MAX + 1) {
            r->i = mag == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)mag;
            return r->tok = FERRY__JSON_INT;
        }
    }
    if (!ferry__json_number_to_double((const char *)r->p + start, i - start, &r->f))
        return fail_pos(r, FERRY_E_CORRUPT, start, "number out of range: %.*s is too large "
                        "for a double", (int)(i - start > 40 ? 40 : i - start),
                        (const char *)r->p + start);
    return r->tok = FERRY__JSON_FLOAT;
}

/* ============================================================================================
 * Containers and duplicate keys
 * ========================================================================================== */

static int push_level(ferry__json_reader *r, bool is_obj)
{
    uint32_t max = r->ctx->limits.metadata_depth;
    if (r->depth >= max)
        return fail_pos(r, FERRY_E_LIMIT, r->pos, "JSON nesting deeper than %u levels (limit "
                        "metadata_depth)", max);
    if (r->depth == r->levels_cap) {
        size_t cap = r->levels_cap ? r->levels_cap * 2 : 16;
        if (cap > max) cap = max;
        ferry__json_level *nl = ferry__realloc(r->ctx, r->levels, 0, sizeof *nl * cap);
        if (!nl) return sticky(r, r->ctx->err_code);
        r->levels     = nl;
        r->levels_cap = cap;
    }
    ferry__json_level *l = &r->levels[r->depth++];
    l->is_obj     = is_obj;
    l->key_mark   = r->n_keys;
    l->store_mark = r->key_store_len;
    r->state = is_obj ? ST_KEY : ST_VALUE;
    r->first = 1;
    return r->tok = is_obj ? FERRY__JSON_OBJECT : FERRY__JSON_ARRAY;
}

static int pop_level(ferry__json_reader *r)
{
    ferry__json_level *l = &r->levels[--r->depth];
    /* LIFO removal: every entry removed here heads its bucket chain. */
    while (r->n_keys > l->key_mark) {
        ferry__json_key *k = &r->keys[--r->n_keys];
        r->buckets[k->hash & (r->n_buckets - 1)] = k->next;
    }
    r->key_store_len = l->store_mark;
    r->state = ST_AFTER;
    return r->tok = l->is_obj ? FERRY__JSON_OBJECT_END : FERRY__JSON_ARRAY_END;
}

static uint64_t hash_bytes(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < n; i++) h = (h ^ (uint8_t)s[i]) * 1099511628211ull;
    return h;
}

/* Grows an array of elem-sized items to hold need of them; returns the (possibly moved) block
 * or NULL with the reader's sticky error set. */
static void *grow(ferry__json_reader *r, void *p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap) return p;
    size_t nc = *cap ? *cap : 64;
    while (nc < need) {
        if (nc > SIZE_MAX / 2 / elem) {
            sticky(r, ferry__fail(r->ctx, FERRY_E_NOMEM, "JSON key table overflows"));
            return NULL;
        }
        nc *= 2;
    }
    void *np = ferry__realloc(r->ctx, p, *cap * elem, nc * elem);
    if (!np) {
        sticky(r, r->ctx->err_code);
        return NULL;
    }
    *cap = nc;
    return np;
}

/* Refuses the key just read if the current object already has it, else remembers it. */
static int check_dup(ferry__json_reader *r)
{
    const ferry__json_level *l = &r->levels[r->depth - 1];
    uint64_t h = hash_bytes(r->str, r->str_len);
    if (r->n_buckets) {
        for (size_t e = r->buckets[h & (r->n_buckets - 1)]; e > l->key_mark;
             e = r->keys[e - 1].next) {
            const ferry__json_key *k = &r->keys[e - 1];
            if (k->hash == h && k->len == r->str_len &&
                (k->len == 0 || memcmp(r->key_store + k->off, r->str, k->len) == 0))
                return fail_pos(r, FERRY_E_CORRUPT, r->tok_off, "duplicate key \"%.*s\", "
                                "expected every key of an object to be unique",
                                (int)(r->str_len > 200 ? 200 : r->str_len), r->str);
        }
    }
    char *store = grow(r, r->key_store, &r->key_store_cap, r->key_store_len + r->str_len, 1);
    if (!store && r->key_store_len + r->str_len > 0) return r->err;
    r->key_store = store;
    ferry__json_key *keys = grow(r, r->keys, &r->keys_cap, r->n_keys + 1, sizeof *r->keys);
    if (!keys) return r->err;
    r->keys = keys;
    if (r->n_keys + 1 > r->n_buckets) {
        /* Rehash in insertion order so that every chain stays newest-first. */
        size_t nb = r->n_buckets ? r->n_buckets * 2 : 64;
        size_t *b = ferry__calloc(r->ctx, nb, sizeof *b);
        if (!b) return sticky(r, r->ctx->err_code);
        for (size_t i = 0; i < r->n_keys; i++) {
            size_t slot = r->keys[i].hash & (nb - 1);
            r->keys[i].next = b[slot];
            b[slot] = i + 1;
        }
        ferry__free(r->ctx, r->buckets, 0);
        r->buckets   = b;
        r->n_buckets = nb;
    }
    if (r->str_len) memcpy(r->key_store + r->key_store_len, r->str, r->str_len);
    ferry__json_key *k = &r->keys[r->n_keys++];
    size_t slot = h & (r->n_buckets - 1);
    k->hash = h;
    k->off  = r->key_store_len;
    k->len  = r->str_len;
    k->next = r->buckets[slot];
    r->buckets[slot] = r->n_keys;
    r->key_store_len += r->str_len;
    return FERRY_OK;
}

/* ============================================================================================
 * Tokens
 * ========================================================================================== */

static void skip_ws(ferry__json_reader *r)
{
    while (r->pos < r->len) {
        uint8_t c = r->p[r->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
        r->pos++;
    }
}

static int literal(ferry__json_reader *r, const char *word, int tok)
{
    size_t n = strlen(word);
    if (r->len - r->pos < n || memcmp(r->p + r->pos, word, n) != 0)
        return fail_pos(r, FERRY_E_CORRUPT, r->pos, "invalid literal, expected \"%s\"", word);
    r->pos += n;
    r->state = ST_AFTER;
    return r->tok = tok;
}

static int scan_value(ferry__json_reader *r)
{
    char b[24];
    if (r->pos >= r->len)
        return fail_pos(r, FERRY_E_CORRUPT, r->pos, "found end of input, expected a JSON value");
    uint8_t c = r->p[r->pos];
    switch (c) {
    case '{': r->pos++; return push_level(r, true);
    case '[': r->pos++; return push_level(r, false);
    case '"':
        FERRY_TRY(scan_string(r));
        r->state = ST_AFTER;
        return r->tok = FERRY__JSON_STRING;
    case 't': return literal(r, "true", FERRY__JSON_TRUE);
    case 'f': return literal(r, "false", FERRY__JSON_FALSE);
    case 'n': return literal(r, "null", FERRY__JSON_NULL);
    default:
        if (c == '-' || is_digit(c)) {
            FERRY_TRY(scan_number(r));
            r->state = ST_AFTER;
            return r->tok;
        }
        return fail_pos(r, FERRY_E_CORRUPT, r->pos, "found %s, expected a JSON value",
                        describe(r, r->pos, b));
    }
}

int ferry__json_next(ferry__json_reader *r)
{
    char b[24];
    if (r->err) return r->err;
    skip_ws(r);
    r->tok_off = r->pos;
    if (r->state == ST_DONE) return r->tok = FERRY__JSON_END;
    if (r->state == ST_AFTER) {
        if (r->depth == 0) {
            if (r->pos < r->len)
                return fail_pos(r, FERRY_E_CORRUPT, r->pos, "found %s after the JSON value, "
                                "expected only whitespace", describe(r, r->pos, b));
            r->state = ST_DONE;
            return r->tok = FERRY__JSON_END;
        }
        bool obj = r->levels[r->depth - 1].is_obj;
        uint8_t c = r->pos < r->len ? r->p[r->pos] : 0;
        if (r->pos < r->len && c == (obj ? '}' : ']')) {
            r->pos++;
            return pop_level(r);
        }
        if (r->pos >= r->len || c != ',')
            return fail_pos(r, FERRY_E_CORRUPT, r->pos, "found %s, expected ',' or '%c'",
                            describe(r, r->pos, b), obj ? '}' : ']');
        r->pos++;
        skip_ws(r);
        r->tok_off = r->pos;
        r->state   = obj ? ST_KEY : ST_VALUE;
        r->first   = 0;
    }
    if (r->state == ST_KEY) {
        if (r->first && r->pos < r->len && r->p[r->pos] == '}') {
            r->pos++;
            return pop_level(r);
        }
        if (r->pos >= r->len || r->p[r->pos] != '"')
            return fail_pos(r, FERRY_E_CORRUPT, r->pos, "found %s, expected %s",
                            describe(r, r->pos, b),
                            r->first ? "a string key or '}'" : "a string key (no trailing "
                                                               "comma)");
        FERRY_TRY(scan_string(r));
        if (r->flags & FERRY__JSON_NO_DUP_KEYS) FERRY_TRY(check_dup(r));
        skip_ws(r);
        if (r->pos >= r->len || r->p[r->pos] != ':')
            return fail_pos(r, FERRY_E_CORRUPT, r->pos, "found %s after a key, expected ':'",
                            describe(r, r->pos, b));
        r->pos++;
        r->state = ST_VALUE;
        r->first = 0;
        return r->tok = FERRY__JSON_KEY;
    }
    /* ST_VALUE */
    if (r->first && r->depth > 0 && r->pos < r->len && r->p[r->pos] == ']') {
        r->pos++;
        return pop_level(r);
    }
    if (r->depth > 0 && !r->first && !r->levels[r->depth - 1].is_obj && r->pos < r->len &&
        r->p[r->pos] == ']')
        return fail_pos(r, FERRY_E_CORRUPT, r->pos, "found ']' after ',', expected a JSON "
                        "value (no trailing comma)");
    return scan_value(r);
}

int ferry__json_skip(ferry__json_reader *r)
{
    if (r->tok != FERRY__JSON_OBJECT && r->tok != FERRY__JSON_ARRAY) return FERRY_OK;
    uint32_t target = r->depth - 1;
    for (;;) {
        int t = ferry__json_next(r);
        if (t < 0) return t;
        if ((t == FERRY__JSON_OBJECT_END || t == FERRY__JSON_ARRAY_END) && r->depth == target)
            return FERRY_OK;
    }
}

/* ============================================================================================
 * Tree builder
 * ========================================================================================== */

/* The element type of an array whose children are all scalars of one stored type. */
static void finish_array(ferry_meta *a)
{
    ferry_dtype t = FERRY_DTYPE_UNKNOWN;
    for (size_t i = 0; i < a->v.c.n; i++) {
        const ferry_meta *c = &a->v.c.items[i];
        bool scalar = c->kind == FERRY_META_BOOL || c->kind == FERRY_META_INT ||
                      c->kind == FERRY_META_UINT || c->kind == FERRY_META_FLOAT ||
                      c->kind == FERRY_META_STRING;
        if (!scalar || (i > 0 && c->numtype != t)) {
            t = FERRY_DTYPE_UNKNOWN;
            break;
        }
        t = (ferry_dtype)c->numtype;
    }
    a->numtype = (uint16_t)t;
}

int ferry__json_read_value(ferry__json_reader *r, ferry_model *m, ferry_meta *dst)
{
    ferry_meta **stk = NULL;
    size_t n = 0, cap = 0;
    ferry_meta *cur = dst;
    int tok = r->tok, rc = FERRY_OK;
    if (dst == m->meta && tok != FERRY__JSON_OBJECT) /* the root must stay a MAP */
        return ferry__json_fail(r, FERRY_E_CORRUPT, "found %s, expected a JSON object",
                                ferry__json_tok_name(tok));
    for (;;) {
        /* Place the value token `tok` into `cur`. */
        switch (tok) {
        case FERRY__JSON_OBJECT:
        case FERRY__JSON_ARRAY:
            if (tok == FERRY__JSON_ARRAY) ferry__meta_set_array(cur, FERRY_DTYPE_UNKNOWN);
            else if (!(cur == dst && cur->kind == FERRY_META_MAP)) ferry__meta_set_map(cur);
            if (n == cap) {
                size_t nc = cap ? cap * 2 : 16;
                ferry_meta **ns = ferry__realloc(m->ctx, stk, 0, sizeof *ns * nc);
                if (!ns) {
                    rc = sticky_here(r, m->ctx->err_code);
                    goto out;
                }
                stk = ns;
                cap = nc;
            }
            stk[n++] = cur;
            break;
        case FERRY__JSON_STRING:
            rc = ferry__meta_set_string(m, cur, r->str, r->str_len);
            if (rc) {
                rc = sticky_here(r, rc);
                goto out;
            }
            break;
        case FERRY__JSON_INT: ferry__meta_set_int(cur, r->i, FERRY_DTYPE_I64); break;
        case FERRY__JSON_UINT: ferry__meta_set_uint(cur, r->u, FERRY_DTYPE_U64); break;
        case FERRY__JSON_FLOAT: ferry__meta_set_float(cur, r->f, FERRY_DTYPE_F64); break;
        case FERRY__JSON_TRUE: ferry__meta_set_bool(cur, true); break;
        case FERRY__JSON_FALSE: ferry__meta_set_bool(cur, false); break;
        case FERRY__JSON_NULL: memset(cur, 0, sizeof *cur); break;
        default:
            rc = ferry__json_fail(r, FERRY_E_CORRUPT, "found %s, expected a JSON value",
                                  ferry__json_tok_name(tok));
            goto out;
        }
        /* Find the next slot to fill: close finished containers, append the next child. */
        for (;;) {
            if (n == 0) goto out;
            tok = ferry__json_next(r);
            if (tok < 0) {
                rc = tok;
                goto out;
            }
            ferry_meta *top = stk[n - 1];
            if (tok == FERRY__JSON_OBJECT_END || tok == FERRY__JSON_ARRAY_END) {
                if (tok == FERRY__JSON_ARRAY_END) finish_array(top);
                n--;
                continue;
            }
            if (tok == FERRY__JSON_KEY) {
                if (memchr(r->str, 0, r->str_len)) {
                    rc = ferry__json_fail(r, FERRY_E_UNSUPPORTED, "key containing U+0000 "
                                          "(metadata keys are C strings)");
                    goto out;
                }
                cur = ferry__meta_append(m, top, r->str, r->str_len);
                if (!cur) {
                    rc = sticky_here(r, m->ctx->err_code);
                    goto out;
                }
                tok = ferry__json_next(r);
                if (tok < 0) {
                    rc = tok;
                    goto out;
                }
            } else {
                cur = ferry__meta_append(m, top, NULL, 0);
                if (!cur) {
                    rc = sticky_here(r, m->ctx->err_code);
                    goto out;
                }
            }
            break;
        }
    }
out:
    ferry__free(m->ctx, stk, 0);
    return rc;
}

int ferry__json_parse(ferry_model *m, ferry_meta *dst, const ferry_source *src, uint64_t base,
                      const void *data, size_t len, unsigned flags)
{
    ferry__json_reader r;
    ferry__json_reader_init(&r, m->ctx, src, base, data, len, flags);
    int rc = ferry__json_next(&r);
    if (rc >= 0) rc = ferry__json_read_value(&r, m, dst);
    if (rc >= 0) {
        rc = ferry__json_next(&r);
        if (rc > 0) rc = ferry__json_fail(&r, FERRY_E_CORRUPT, "found %s after the JSON value, "
                                          "expected end of input", ferry__json_tok_name(rc));
    }
    ferry__json_reader_free(&r);
    return rc < 0 ? rc : FERRY_OK;
}

/* ============================================================================================
 * Writing
 * ========================================================================================== */

void ferry__strbuf_init(ferry__strbuf *b, ferry_ctx *ctx)
{
    memset(b, 0, sizeof *b);
    b->ctx = ctx;
}

void ferry__strbuf_free(ferry__strbuf *b)
{
    ferry__free(b->ctx, b->p, b->cap);
    b->p = NULL;
    b->n = b->cap = 0;
}

int ferry__strbuf_put(ferry__strbuf *b, const void *s, size_t n)
{
    if (n > b->cap - b->n) {
        if (n > SIZE_MAX - b->n - 1)
            return ferry__fail(b->ctx, FERRY_E_NOMEM, "buffer of %zu bytes overflows", b->n);
        size_t need = b->n + n + 1, cap = b->cap ? b->cap : 256;
        while (cap < need) cap = cap > SIZE_MAX / 2 ? need : cap * 2;
        char *np = ferry__realloc(b->ctx, b->p, b->cap, cap);
        if (!np) return b->ctx->err_code;
        b->p   = np;
        b->cap = cap;
    }
    if (n) memcpy(b->p + b->n, s, n);
    b->n += n;
    return FERRY_OK;
}

int ferry__strbuf_puts(ferry__strbuf *b, const char *s)
{
    return ferry__strbuf_put(b, s, strlen(s));
}

int ferry__json_write_string(ferry__strbuf *b, const char *s, size_t n)
{
    size_t bad;
    if (!ferry__utf8_valid((const uint8_t *)s, n, &bad))
        return ferry__fail(b->ctx, FERRY_E_UNSUPPORTED, "string \"%.*s\" is not valid UTF-8 "
                           "(byte %zu), which JSON text requires", (int)(n > 100 ? 100 : n), s,
                           bad);
    static const char hex[] = "0123456789abcdef";
    FERRY_TRY(ferry__strbuf_put(b, "\"", 1));
    size_t run = 0; /* start of the pending run of bytes that need no escape */
    for (size_t i = 0; i < n; i++) {
        uint8_t c = (uint8_t)s[i];
        char esc[6];
        size_t el = 2;
        esc[0] = '\\';
        switch (c) {
        case '"': esc[1] = '"'; break;
        case '\\': esc[1] = '\\'; break;
        case '\b': esc[1] = 'b'; break;
        case '\f': esc[1] = 'f'; break;
        case '\n': esc[1] = 'n'; break;
        case '\r': esc[1] = 'r'; break;
        case '\t': esc[1] = 't'; break;
        default:
            if (c >= 0x20) continue;
            esc[1] = 'u';
            esc[2] = '0';
            esc[3] = '0';
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            el = 6;
        }
        FERRY_TRY(ferry__strbuf_put(b, s + run, i - run));
        FERRY_TRY(ferry__strbuf_put(b, esc, el));
        run = i + 1;
    }
    FERRY_TRY(ferry__strbuf_put(b, s + run, n - run));
    return ferry__strbuf_put(b, "\"", 1);
}

/* Pulls the significant digits and the decimal exponent out of "%.*e" output, skipping
 * whatever the locale uses as a decimal separator. Returns the digit count. */
static size_t split_e(const char *t, char *digits, int *exp10)
{
    size_t nd = 0;
    if (*t == '-') t++;
    for (; *t && *t != 'e' && *t != 'E'; t++)
        if (is_digit(*t)) digits[nd++] = *t;
    digits[nd] = 0;
    *exp10 = *t ? atoi(t + 1) : 0;
    return nd;
}

/* Shortest digits of v that read back as v (as a float when single is set). */
static size_t format_shortest(double v, bool single, char out[32])
{
    if (isnan(v)) return (size_t)snprintf(out, 32, "nan");
    if (isinf(v)) return (size_t)snprintf(out, 32, v < 0 ? "-inf" : "inf");
    if (v == 0) return (size_t)snprintf(out, 32, signbit(v) ? "-0.0" : "0.0");
    char t[64], digits[40];
    int x = 0;
    size_t nd = 0;
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(t, sizeof t, "%.*e", prec - 1, v);
        nd = split_e(t, digits, &x);
        char chk[64];
        int k = snprintf(chk, sizeof chk, "%s%se%d", v < 0 ? "-" : "", digits,
                         x - (int)(nd - 1));
        double back;
        if (!ferry__json_number_to_double(chk, (size_t)k, &back)) continue;
        if (single ? (float)back == (float)v : back == v) break;
    }
    while (nd > 1 && digits[nd - 1] == '0') digits[--nd] = 0;
    size_t o = 0;
    if (v < 0) out[o++] = '-';
    if (x < -4 || x >= 16) {
        /* Python repr: d[.ddd]e+XX with at least two exponent digits */
        out[o++] = digits[0];
        if (nd > 1) {
            out[o++] = '.';
            memcpy(out + o, digits + 1, nd - 1);
            o += nd - 1;
        }
        o += (size_t)snprintf(out + o, 32 - o, "e%c%02d", x < 0 ? '-' : '+', x < 0 ? -x : x);
        return o;
    }
    if (x < 0) {
        /* 0.000ddd */
        out[o++] = '0';
        out[o++] = '.';
        for (int z = -1; z > x; z--) out[o++] = '0';
        memcpy(out + o, digits, nd);
        o += nd;
    } else {
        size_t ip = (size_t)x + 1; /* digits before the point */
        for (size_t k = 0; k < ip; k++) out[o++] = k < nd ? digits[k] : '0';
        out[o++] = '.';
        if (nd > ip) {
            memcpy(out + o, digits + ip, nd - ip);
            o += nd - ip;
        } else {
            out[o++] = '0';
        }
    }
    out[o] = 0;
    return o;
}

size_t ferry__json_format_double(double v, char out[32])
{
    return format_shortest(v, false, out);
}

size_t ferry__json_format_float32(float v, char out[32])
{
    return format_shortest(v, true, out);
}
