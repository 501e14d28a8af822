/*
 * pylit.c -- the bounded Python-literal parser behind .npy headers (see pylit.h).
 *
 * Grammar (a subset of what ast.literal_eval accepts; FORMATS.md §7):
 *
 *     value  := dict | list | tuple | string | int | True | False | None
 *     dict   := '{' [ value ':' value { ',' value ':' value } [','] ] '}'
 *     list   := '[' [ value { ',' value } [','] ] ']'
 *     tuple  := '(' ')' | '(' value ',' ')' | '(' value { ',' value } [','] ')'
 *               ('(' value ')' without a comma is just the value, as in Python)
 *     string := [prefix] ( '\'' chars '\'' | '"' chars '"' )   prefix: u r b br rb (any case)
 *     int    := ['+'|'-'] ( '0'+ | [1-9] { ['_'] digit } ) ['L' when LONG_SUFFIX]
 *
 * Between tokens: spaces, tabs, form feeds, newlines, '#' comments and backslash-newline
 * continuations. Decisions worth knowing:
 *   - Dict keys that are lists or dicts are refused ("unhashable"), like literal_eval.
 *     Duplicate keys are kept (the caller decides; Python keeps the last one).
 *   - Integers must fit in int64; Python would accept bigger ones, but no header needs them
 *     and the caller would have to reject them anyway.
 *   - Unknown escapes ("\q") keep the backslash, as Python does; \N{name} is refused because
 *     it needs the Unicode name table; lone surrogates and code points past U+10FFFF are
 *     refused because they have no UTF-8 form.
 *   - The text may be latin-1 (npy v1/v2: every byte is a code point) or UTF-8 (npy v3,
 *     validated, overlong forms and surrogates refused); strings come out as UTF-8.
 *   - The parse is iterative: a stack of open containers, capped by limits.metadata_depth;
 *     the node count is capped by limits.metadata_items. Each node consumes at least one
 *     byte of text, so memory is bounded by a small multiple of the text length.
 */
#include "parse/pylit.h"

#include <stdio.h>

/* ============================================================================================
 * Parser state
 * ========================================================================================== */

typedef struct level {
    int32_t node;       /* the container */
    int32_t last;       /* its last child so far, or -1 */
    uint8_t kind;       /* FERRY__PY_DICT / LIST / TUPLE */
    bool    want_colon; /* DICT: a key was just read */
    bool    comma;      /* TUPLE: a comma was seen (so "(x)" is not a 1-tuple) */
} level;

typedef struct parser {
    ferry_ctx    *ctx;
    const char   *where;
    uint64_t      base;
    const uint8_t *p;
    size_t        len;
    size_t        pos;
    unsigned      flags;
    ferry__py_doc *doc;
    level        *stack;
    size_t        depth;
    size_t        max_depth;
} parser;

/* Describes the byte at pos for messages: "'x'", "byte 0x93" or "end of text". */
static const char *describe(const parser *ps, size_t pos, char *buf, size_t cap)
{
    if (pos >= ps->len) return "end of text";
    uint8_t c = ps->p[pos];
    if (c >= 0x20 && c < 0x7f)
        snprintf(buf, cap, "'%c'", c);
    else
        snprintf(buf, cap, "byte 0x%02x", c);
    return buf;
}

static int fail(parser *ps, int code, size_t pos, const char *what)
{
    char b[32];
    return ferry__fail(ps->ctx, code, "%s: offset %llu: found %s, expected %s", ps->where,
                       (unsigned long long)(ps->base + pos), describe(ps, pos, b, sizeof b),
                       what);
}

static int fail_msg(parser *ps, int code, size_t pos, const char *msg)
{
    return ferry__fail(ps->ctx, code, "%s: offset %llu: %s", ps->where,
                       (unsigned long long)(ps->base + pos), msg);
}

/* ============================================================================================
 * Nodes and the string pool
 * ========================================================================================== */

/* Appends a node of `kind` starting at `off` and links it under the open container. Returns
 * its index or -1 (error set). */
static int32_t add_node(parser *ps, uint8_t kind, size_t off)
{
    ferry__py_doc *d = ps->doc;
    if (d->n >= ps->ctx->limits.metadata_items || d->n >= (size_t)INT32_MAX) {
        ferry__fail(ps->ctx, FERRY_E_LIMIT,
                    "%s: offset %llu: more than %llu literal values (limit metadata_items)",
                    ps->where, (unsigned long long)(ps->base + off),
                    (unsigned long long)ps->ctx->limits.metadata_items);
        return -1;
    }
    if (d->n == d->cap) {
        size_t nc = d->cap ? d->cap * 2 : 32;
        ferry__py_node *nn = ferry__realloc(ps->ctx, d->nodes, 0, nc * sizeof *nn);
        if (!nn) return -1;
        d->nodes = nn;
        d->cap   = nc;
    }
    int32_t idx = (int32_t)d->n++;
    ferry__py_node *nd = &d->nodes[idx];
    memset(nd, 0, sizeof *nd);
    nd->kind  = kind;
    nd->first = -1;
    nd->next  = -1;
    nd->off   = (uint32_t)off;
    nd->end   = (uint32_t)off;
    if (ps->depth) {
        level *lv = &ps->stack[ps->depth - 1];
        ferry__py_node *parent = &d->nodes[lv->node];
        if (lv->last < 0)
            parent->first = idx;
        else
            d->nodes[lv->last].next = idx;
        parent->n++;
        lv->last = idx;
    }
    return idx;
}

static bool pool_reserve(parser *ps, size_t more)
{
    ferry__py_doc *d = ps->doc;
    if (more <= d->pool_cap - d->pool_len) return true;
    size_t need = d->pool_len + more;
    if (need < d->pool_len || need > UINT32_MAX) {
        ferry__fail(ps->ctx, FERRY_E_LIMIT, "%s: decoded strings exceed 4 GiB", ps->where);
        return false;
    }
    size_t nc = d->pool_cap ? d->pool_cap : 256;
    while (nc < need) nc *= 2;
    char *np = ferry__realloc(ps->ctx, d->pool, d->pool_cap, nc);
    if (!np) return false;
    d->pool     = np;
    d->pool_cap = nc;
    return true;
}

static size_t put_utf8(char *o, uint32_t cp)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xC0 | cp >> 6);
        o[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | cp >> 12);
        o[1] = (char)(0x80 | (cp >> 6 & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | cp >> 18);
    o[1] = (char)(0x80 | (cp >> 12 & 0x3F));
    o[2] = (char)(0x80 | (cp >> 6 & 0x3F));
    o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Length of the valid UTF-8 sequence at p[0..n), or 0 if invalid (RFC 3629: no overlong
 * forms, no surrogates, nothing past U+10FFFF). */
static size_t utf8_seq(const uint8_t *p, size_t n)
{
    uint8_t c = p[0];
    if (c < 0x80) return 1;
    size_t k;
    uint32_t cp, min;
    if ((c & 0xE0) == 0xC0) {
        k = 2; cp = c & 0x1Fu; min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
        k = 3; cp = c & 0x0Fu; min = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
        k = 4; cp = c & 0x07u; min = 0x10000;
    } else {
        return 0;
    }
    if (n < k) return 0;
    for (size_t i = 1; i < k; i++) {
        if ((p[i] & 0xC0) != 0x80) return 0;
        cp = cp << 6 | (p[i] & 0x3Fu);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    return k;
}

/* ============================================================================================
 * Lexing helpers
 * ========================================================================================== */

static bool is_ident(uint8_t c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_' || c >= 0x80;
}

static bool is_digit(uint8_t c) { return c >= '0' && c <= '9'; }

static int hexval(uint8_t c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Skips whitespace, comments and line continuations. Returns 0 or an error (a backslash
 * not followed by a newline). */
static int skip_space(parser *ps)
{
    while (ps->pos < ps->len) {
        uint8_t c = ps->p[ps->pos];
        if (c == ' ' || c == '\t' || c == '\f' || c == '\n' || c == '\r') {
            ps->pos++;
        } else if (c == '#') {
            while (ps->pos < ps->len && ps->p[ps->pos] != '\n' && ps->p[ps->pos] != '\r')
                ps->pos++;
        } else if (c == '\\') {
            size_t q = ps->pos + 1;
            if (q < ps->len && ps->p[q] == '\r') q++;
            if (q < ps->len && ps->p[q] == '\n') q++;
            if (q == ps->pos + 1)
                return fail(ps, FERRY_E_CORRUPT, ps->pos + 1, "a newline after '\\'");
            ps->pos = q;
        } else {
            break;
        }
    }
    return FERRY_OK;
}

/* ============================================================================================
 * Scalars
 * ========================================================================================== */

/* An integer with an optional sign at pos. */
static int parse_int(parser *ps)
{
    size_t start = ps->pos;
    bool neg = false;
    if (ps->p[ps->pos] == '+' || ps->p[ps->pos] == '-') {
        neg = ps->p[ps->pos] == '-';
        ps->pos++;
        FERRY_TRY(skip_space(ps));
    }
    if (ps->pos >= ps->len || !is_digit(ps->p[ps->pos]))
        return fail(ps, FERRY_E_CORRUPT, ps->pos, "a number after the sign");
    size_t dstart = ps->pos;
    /* Magnitude accumulated as uint64 so that -9223372036854775808 fits. */
    uint64_t mag = 0;
    bool over = false;
    bool leading_zero = ps->p[ps->pos] == '0';
    bool nonzero_after_zero = false;
    while (ps->pos < ps->len) {
        uint8_t c = ps->p[ps->pos];
        if (c == '_') {
            /* Python: a single underscore between digits. */
            if (ps->pos + 1 >= ps->len || !is_digit(ps->p[ps->pos + 1]))
                return fail(ps, FERRY_E_CORRUPT, ps->pos + 1, "a digit after '_'");
            ps->pos++;
            continue;
        }
        if (!is_digit(c)) break;
        if (leading_zero && c != '0') nonzero_after_zero = true;
        if (mag > (UINT64_MAX - (uint64_t)(c - '0')) / 10) over = true;
        else mag = mag * 10 + (uint64_t)(c - '0');
        ps->pos++;
    }
    if (leading_zero && nonzero_after_zero)
        return fail_msg(ps, FERRY_E_CORRUPT, dstart,
                        "decimal integer with leading zeros (not a Python 3 literal)");
    if (ps->pos < ps->len) {
        uint8_t c = ps->p[ps->pos];
        if (c == '.' || c == 'e' || c == 'E' || c == 'j' || c == 'J')
            return fail_msg(ps, FERRY_E_CORRUPT, start,
                            "floating-point or complex literal where only integers may appear");
        if ((c == 'x' || c == 'X' || c == 'o' || c == 'O' || c == 'b' || c == 'B') &&
            ps->pos == dstart + 1 && leading_zero)
            return fail_msg(ps, FERRY_E_CORRUPT, start,
                            "integer literal with a base prefix (numpy writes decimal)");
        if (c == 'L' && (ps->flags & FERRY__PY_LONG_SUFFIX)) {
            ps->pos++;
            if (ps->pos < ps->len && is_ident(ps->p[ps->pos]))
                return fail(ps, FERRY_E_CORRUPT, ps->pos, "',' or a closing bracket");
        } else if (is_ident(c)) {
            return fail(ps, FERRY_E_CORRUPT, ps->pos, "',' or a closing bracket");
        }
    }
    if (over || mag > (uint64_t)INT64_MAX + (neg ? 1u : 0u))
        return fail_msg(ps, FERRY_E_CORRUPT, start, "integer out of the 64-bit range");
    int32_t idx = add_node(ps, FERRY__PY_INT, start);
    if (idx < 0) return ps->ctx->err_code;
    ferry__py_node *nd = &ps->doc->nodes[idx];
    nd->i   = neg ? (int64_t)(0 - mag) : (int64_t)mag;
    nd->end = (uint32_t)ps->pos;
    return FERRY_OK;
}

/* True / False / None at pos (an identifier already seen). */
static int parse_name(parser *ps)
{
    size_t start = ps->pos, e = ps->pos;
    while (e < ps->len && is_ident(ps->p[e])) e++;
    size_t n = e - start;
    const char *s = (const char *)ps->p + start;
    uint8_t kind;
    int64_t v = 0;
    if (n == 4 && memcmp(s, "True", 4) == 0) {
        kind = FERRY__PY_BOOL;
        v    = 1;
    } else if (n == 5 && memcmp(s, "False", 5) == 0) {
        kind = FERRY__PY_BOOL;
    } else if (n == 4 && memcmp(s, "None", 4) == 0) {
        kind = FERRY__PY_NONE;
    } else {
        char msg[128];
        snprintf(msg, sizeof msg, "name '%.*s' is not a literal (expected a value)",
                 (int)(n > 40 ? 40 : n), s);
        return fail_msg(ps, FERRY_E_CORRUPT, start, msg);
    }
    int32_t idx = add_node(ps, kind, start);
    if (idx < 0) return ps->ctx->err_code;
    ps->doc->nodes[idx].i   = v;
    ps->doc->nodes[idx].end = (uint32_t)e;
    ps->pos = e;
    return FERRY_OK;
}

/* Decodes one escape sequence starting at q (the byte after the backslash) into o.
 * Returns the number of bytes written (0 for a line continuation) and advances *q, or -1
 * on error (set). */
static long decode_escape(parser *ps, size_t *q, size_t end, bool bytes, char *o)
{
    uint8_t c = ps->p[*q];
    uint32_t cp;
    switch (c) {
    case '\n': (*q)++; return 0;
    case '\r':
        (*q)++;
        if (*q < end && ps->p[*q] == '\n') (*q)++;
        return 0;
    case '\\': case '\'': case '"': (*q)++; o[0] = (char)c; return 1;
    case 'a': (*q)++; o[0] = '\a'; return 1;
    case 'b': (*q)++; o[0] = '\b'; return 1;
    case 'f': (*q)++; o[0] = '\f'; return 1;
    case 'n': (*q)++; o[0] = '\n'; return 1;
    case 'r': (*q)++; o[0] = '\r'; return 1;
    case 't': (*q)++; o[0] = '\t'; return 1;
    case 'v': (*q)++; o[0] = '\v'; return 1;
    case 'x': {
        int h1 = *q + 1 < end ? hexval(ps->p[*q + 1]) : -1;
        int h2 = *q + 2 < end ? hexval(ps->p[*q + 2]) : -1;
        if (h1 < 0 || h2 < 0) {
            fail(ps, FERRY_E_CORRUPT, *q + 1, "two hex digits after \\x");
            return -1;
        }
        *q += 3;
        cp = (uint32_t)(h1 * 16 + h2);
        if (bytes) {
            o[0] = (char)cp;
            return 1;
        }
        return (long)put_utf8(o, cp);
    }
    case 'u': case 'U': {
        if (bytes) { /* not an escape in bytes literals: kept verbatim */
            o[0] = '\\';
            return 1;
        }
        size_t k = c == 'u' ? 4 : 8;
        cp = 0;
        for (size_t i = 1; i <= k; i++) {
            int h = *q + i < end ? hexval(ps->p[*q + i]) : -1;
            if (h < 0) {
                fail(ps, FERRY_E_CORRUPT, *q + i, c == 'u' ? "four hex digits after \\u"
                                                           : "eight hex digits after \\U");
                return -1;
            }
            cp = cp << 4 | (uint32_t)h;
        }
        if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
            fail_msg(ps, FERRY_E_CORRUPT, *q - 1,
                     "escape names a surrogate or a code point past U+10FFFF");
            return -1;
        }
        *q += k + 1;
        return (long)put_utf8(o, cp);
    }
    case 'N':
        if (!bytes) {
            fail_msg(ps, FERRY_E_CORRUPT, *q - 1, "\\N{...} escapes are not supported");
            return -1;
        }
        o[0] = '\\';
        return 1;
    default:
        if (c >= '0' && c <= '7') {
            cp = 0;
            size_t i = 0;
            while (i < 3 && *q < end && ps->p[*q] >= '0' && ps->p[*q] <= '7') {
                cp = cp * 8 + (uint32_t)(ps->p[*q] - '0');
                (*q)++;
                i++;
            }
            if (bytes) {
                if (cp > 0xFF) {
                    fail_msg(ps, FERRY_E_CORRUPT, *q - i - 1,
                             "octal escape above \\377 in a bytes literal");
                    return -1;
                }
                o[0] = (char)cp;
                return 1;
            }
            return (long)put_utf8(o, cp);
        }
        /* Unknown escape: Python keeps the backslash; the character is copied next. */
        o[0] = '\\';
        return 1;
    }
}

/* A string or bytes literal (prefix letters already at pos). */
static int parse_string(parser *ps)
{
    size_t start = ps->pos;
    bool raw = false, bytes = false;
    while (ps->pos < ps->len && ps->p[ps->pos] != '\'' && ps->p[ps->pos] != '"') {
        uint8_t c = ps->p[ps->pos];
        if (c == 'r' || c == 'R') raw = true;
        else if (c == 'b' || c == 'B') bytes = true;
        else if (c != 'u' && c != 'U')
            return fail_msg(ps, FERRY_E_CORRUPT, ps->pos, "string prefix is not u, r or b");
        ps->pos++;
    }
    uint8_t quote = ps->p[ps->pos];
    size_t open = ps->pos++;
    if (ps->pos + 1 < ps->len && ps->p[ps->pos] == quote && ps->p[ps->pos + 1] == quote)
        return fail_msg(ps, FERRY_E_CORRUPT, open, "triple-quoted strings are not supported");
    /* Find the closing quote first, so that the pool can be reserved once. */
    size_t q = ps->pos;
    while (q < ps->len && ps->p[q] != quote) {
        if (ps->p[q] == '\n' || ps->p[q] == '\r')
            return fail_msg(ps, FERRY_E_CORRUPT, open, "unterminated string literal");
        if (ps->p[q] == '\\' && q + 1 < ps->len) {
            q++;
            if (ps->p[q] == '\r' && q + 1 < ps->len && ps->p[q + 1] == '\n') q++;
        }
        q++;
    }
    if (q >= ps->len) return fail_msg(ps, FERRY_E_CORRUPT, open, "unterminated string literal");
    size_t end = q; /* the closing quote */
    /* Decoded length is at most 2 bytes per source byte (latin-1 -> UTF-8). */
    if (!pool_reserve(ps, 2 * (end - ps->pos) + 1)) return ps->ctx->err_code;
    char *o0 = ps->doc->pool + ps->doc->pool_len;
    char *o = o0;
    q = ps->pos;
    while (q < end) {
        uint8_t c = ps->p[q];
        if (c == '\\' && !raw) {
            q++;
            long k = decode_escape(ps, &q, end, bytes, o);
            if (k < 0) return ps->ctx->err_code;
            o += k;
            continue;
        }
        if (c == 0) return fail_msg(ps, FERRY_E_CORRUPT, q, "NUL byte in a string literal");
        if (c >= 0x80) {
            if (bytes)
                return fail_msg(ps, FERRY_E_CORRUPT, q,
                                "non-ASCII character in a bytes literal");
            if (ps->flags & FERRY__PY_LATIN1) {
                o += put_utf8(o, c);
                q++;
                continue;
            }
            size_t k = utf8_seq(ps->p + q, end - q);
            if (!k) return fail_msg(ps, FERRY_E_CORRUPT, q, "invalid UTF-8 in a string");
            memcpy(o, ps->p + q, k);
            o += k;
            q += k;
            continue;
        }
        /* Raw strings keep backslashes verbatim; only the end-quote search honoured them. */
        *o++ = (char)c;
        q++;
    }
    *o = 0;
    int32_t idx = add_node(ps, bytes ? FERRY__PY_BYTES : FERRY__PY_STR, start);
    if (idx < 0) return ps->ctx->err_code;
    ferry__py_node *nd = &ps->doc->nodes[idx];
    nd->str     = (uint32_t)ps->doc->pool_len;
    nd->str_len = (uint32_t)(o - o0);
    nd->end     = (uint32_t)(end + 1);
    ps->doc->pool_len += (size_t)(o - o0) + 1;
    ps->pos = end + 1;
    if (ps->pos < ps->len && is_ident(ps->p[ps->pos]))
        return fail(ps, FERRY_E_CORRUPT, ps->pos, "',' or a closing bracket");
    return FERRY_OK;
}

/* ============================================================================================
 * Containers and the driver
 * ========================================================================================== */

static int open_container(parser *ps, uint8_t kind)
{
    if (ps->depth >= ps->max_depth)
        return ferry__fail(ps->ctx, FERRY_E_LIMIT,
                           "%s: offset %llu: literal nested deeper than %zu levels "
                           "(limit metadata_depth)", ps->where,
                           (unsigned long long)(ps->base + ps->pos), ps->max_depth);
    int32_t idx = add_node(ps, kind, ps->pos);
    if (idx < 0) return ps->ctx->err_code;
    level *lv = &ps->stack[ps->depth++];
    memset(lv, 0, sizeof *lv);
    lv->node = idx;
    lv->last = -1;
    lv->kind = kind;
    ps->pos++;
    return FERRY_OK;
}

/* Closes the innermost container at the closing bracket at pos. */
static void close_container(parser *ps)
{
    level *lv = &ps->stack[--ps->depth];
    ferry__py_node *nodes = ps->doc->nodes;
    nodes[lv->node].end = (uint32_t)(ps->pos + 1);
    if (lv->kind == FERRY__PY_TUPLE && nodes[lv->node].n == 1 && !lv->comma) {
        /* "(x)" is x: the node takes its child's contents. Its `next` is still -1 (it is
         * the last child of its parent) and its child's own children keep their links. */
        ferry__py_node child = nodes[nodes[lv->node].first];
        child.next = -1;
        nodes[lv->node] = child;
    }
    ps->pos++;
}

static const char *closer_name(uint8_t kind)
{
    return kind == FERRY__PY_DICT ? "',' or '}'" : kind == FERRY__PY_LIST ? "',' or ']'"
                                                                          : "',' or ')'";
}

static uint8_t closer(uint8_t kind)
{
    return kind == FERRY__PY_DICT ? '}' : kind == FERRY__PY_LIST ? ']' : ')';
}

static int parse_value(parser *ps)
{
    uint8_t c = ps->p[ps->pos];
    if (ps->depth) {
        level *lv = &ps->stack[ps->depth - 1];
        /* A dict key is being read when the dict's child count is even. */
        bool key = lv->kind == FERRY__PY_DICT && ps->doc->nodes[lv->node].n % 2 == 0;
        if (key && (c == '[' || c == '{'))
            return fail_msg(ps, FERRY_E_CORRUPT, ps->pos, "unhashable dict key (list or dict)");
    }
    if (c == '{') return open_container(ps, FERRY__PY_DICT);
    if (c == '[') return open_container(ps, FERRY__PY_LIST);
    if (c == '(') return open_container(ps, FERRY__PY_TUPLE);
    if (c == '\'' || c == '"') return parse_string(ps);
    if (is_digit(c) || c == '+' || c == '-') return parse_int(ps);
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_') {
        /* A string prefix if quotes follow one or two letters. */
        size_t e = ps->pos;
        while (e < ps->len && e - ps->pos < 3 && ((ps->p[e] >= 'a' && ps->p[e] <= 'z') ||
                                                  (ps->p[e] >= 'A' && ps->p[e] <= 'Z')))
            e++;
        if (e < ps->len && e - ps->pos <= 2 && (ps->p[e] == '\'' || ps->p[e] == '"'))
            return parse_string(ps);
        return parse_name(ps);
    }
    return fail(ps, FERRY_E_CORRUPT, ps->pos, "a value");
}

static int run(parser *ps)
{
    bool need_value = true;
    for (;;) {
        FERRY_TRY(skip_space(ps));
        if (need_value) {
            if (ps->pos >= ps->len) return fail(ps, FERRY_E_CORRUPT, ps->pos, "a value");
            uint8_t c = ps->p[ps->pos];
            /* An empty container closes right away: "()", "[]", "{}". */
            if (ps->depth) {
                level *lv = &ps->stack[ps->depth - 1];
                if (c == closer(lv->kind) && ps->doc->nodes[lv->node].n == 0) {
                    close_container(ps);
                    need_value = false;
                    continue;
                }
            }
            size_t depth = ps->depth;
            FERRY_TRY(parse_value(ps));
            need_value = ps->depth > depth; /* a container was opened */
            continue;
        }
        if (ps->depth == 0) {
            if (ps->pos < ps->len)
                return fail(ps, FERRY_E_CORRUPT, ps->pos, "the end after the literal");
            return FERRY_OK;
        }
        level *lv = &ps->stack[ps->depth - 1];
        const ferry__py_node *cont = &ps->doc->nodes[lv->node];
        uint8_t c = ps->pos < ps->len ? ps->p[ps->pos] : 0;
        if (lv->kind == FERRY__PY_DICT && cont->n % 2 == 1) {
            if (c != ':') return fail(ps, FERRY_E_CORRUPT, ps->pos, "':' after a dict key");
            ps->pos++;
            need_value = true;
            continue;
        }
        if (ps->pos < ps->len && c == ',') {
            ps->pos++;
            if (lv->kind == FERRY__PY_TUPLE) lv->comma = true;
            FERRY_TRY(skip_space(ps));
            if (ps->pos < ps->len && ps->p[ps->pos] == closer(lv->kind)) {
                close_container(ps); /* trailing comma */
                continue;
            }
            need_value = true;
            continue;
        }
        if (ps->pos < ps->len && c == closer(lv->kind)) {
            close_container(ps);
            continue;
        }
        return fail(ps, FERRY_E_CORRUPT, ps->pos, closer_name(lv->kind));
    }
}

int ferry__py_parse(ferry_ctx *ctx, const char *where, uint64_t base, const char *text,
                    size_t len, unsigned flags, ferry__py_doc *doc)
{
    memset(doc, 0, sizeof *doc);
    doc->ctx = ctx;
    if (len >= (size_t)INT32_MAX)
        return ferry__fail(ctx, FERRY_E_LIMIT, "%s: literal of %zu bytes is too long", where,
                           len);
    parser ps;
    memset(&ps, 0, sizeof ps);
    ps.ctx       = ctx;
    ps.where     = where;
    ps.base      = base;
    ps.p         = (const uint8_t *)text;
    ps.len       = len;
    ps.flags     = flags;
    ps.doc       = doc;
    ps.max_depth = ctx->limits.metadata_depth ? ctx->limits.metadata_depth : 1;
    ps.stack     = ferry__malloc(ctx, sizeof(level) * ps.max_depth);
    if (!ps.stack) return ctx->err_code;
    int rc = run(&ps);
    ferry__free(ctx, ps.stack, 0);
    if (rc < 0) ferry__py_free(doc);
    return rc;
}

void ferry__py_free(ferry__py_doc *doc)
{
    if (!doc || !doc->ctx) return;
    ferry__free(doc->ctx, doc->nodes, 0);
    ferry__free(doc->ctx, doc->pool, 0);
    ferry_ctx *ctx = doc->ctx;
    memset(doc, 0, sizeof *doc);
    doc->ctx = ctx;
}
