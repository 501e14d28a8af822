/*
 * json.h -- a strict RFC 8259 JSON reader shared by the formats that keep JSON inside or beside
 * their files (safetensors headers, model.safetensors.index.json, Keras configs, ...), and the
 * string escaping their writers need.
 *
 * Two ways to read:
 *   - ferry__json_parse() turns a whole document into a ferry_meta tree of a model (objects are
 *     MAPs in file order, arrays ARRAYs, strings STRINGs, numbers INT/UINT/FLOAT, true/false
 *     BOOL, null NULL).
 *   - The pull reader (ferry__json_reader + ferry__json_next) hands out one token at a time, so
 *     a format can walk a document of millions of entries without building a tree, skip the
 *     values it does not care about (ferry__json_skip), and build a tree for just one value
 *     (ferry__json_read_value).
 * Both enforce the same grammar, the same limits and the same error messages; see json.c for
 * the exact rules (they follow serde_json, the parser behind the reference safetensors reader).
 */
#ifndef FERRY_PARSE_JSON_H
#define FERRY_PARSE_JSON_H

#include "internal.h"

/* ============================================================================================
 * Pull reader
 * ========================================================================================== */

typedef enum ferry__json_tok {
    FERRY__JSON_END = 0,     /* end of input after the top-level value                        */
    FERRY__JSON_OBJECT,      /* '{'                                                           */
    FERRY__JSON_OBJECT_END,  /* '}'                                                           */
    FERRY__JSON_ARRAY,       /* '['                                                           */
    FERRY__JSON_ARRAY_END,   /* ']'                                                           */
    FERRY__JSON_KEY,         /* a member name: str/str_len                                    */
    FERRY__JSON_STRING,      /* str/str_len                                                   */
    FERRY__JSON_INT,         /* a negative integer that fits int64: i                         */
    FERRY__JSON_UINT,        /* a non-negative integer that fits uint64: u                    */
    FERRY__JSON_FLOAT,       /* any other number (fraction, exponent, -0, out of int range): f */
    FERRY__JSON_TRUE,
    FERRY__JSON_FALSE,
    FERRY__JSON_NULL,
} ferry__json_tok;

/* Flags */
enum {
    FERRY__JSON_NO_DUP_KEYS = 1u << 0, /* a key repeated in one object is FERRY_E_CORRUPT */
};

typedef struct ferry__json_level ferry__json_level;
typedef struct ferry__json_key ferry__json_key;

typedef struct ferry__json_reader {
    /* The current token (read-only for users). str is NOT NUL-terminated and stays valid only
     * until the next call on the reader; it may point into the input or into a scratch
     * buffer. tok_off is the offset of the token's first byte in the input. */
    int         tok;
    const char *str;
    size_t      str_len;
    int64_t     i;
    uint64_t    u;
    double      f;
    size_t      tok_off;
    uint32_t    depth;       /* containers currently open */

    /* private */
    ferry_ctx          *ctx;
    const ferry_source *src;
    uint64_t            base;
    const uint8_t      *p;
    size_t              len;
    size_t              pos;
    unsigned            flags;
    int                 state;
    int                 first;
    int                 err;
    ferry__json_level  *levels;
    size_t              levels_cap;
    char               *scratch;
    size_t              scratch_cap;
    ferry__json_key    *keys;       /* duplicate detection: keys of the open objects */
    size_t              n_keys;
    size_t              keys_cap;
    size_t             *buckets;
    size_t              n_buckets;
    char               *key_store;
    size_t              key_store_len;
    size_t              key_store_cap;
} ferry__json_reader;

/* Prepares a reader over len bytes at data (not copied; must outlive the reader). Errors name
 * src (may be NULL) and offset base + position, so a header embedded at offset 8 of a file is
 * reported with file offsets. Never fails; errors surface on the first ferry__json_next. */
void ferry__json_reader_init(ferry__json_reader *r, ferry_ctx *ctx, const ferry_source *src,
                             uint64_t base, const void *data, size_t len, unsigned flags);
/* Releases the reader's scratch memory (safe after any error, and twice). */
void ferry__json_reader_free(ferry__json_reader *r);
/* Reads the next token and returns it (>= 0), or a negative status: FERRY_E_CORRUPT for a
 * grammar violation, FERRY_E_LIMIT when nesting exceeds limits.metadata_depth or a string
 * exceeds limits.string_length, FERRY_E_NOMEM. Errors are sticky. */
int ferry__json_next(ferry__json_reader *r);
/* After ferry__json_next returned the first token of a value, consumes the rest of that value
 * (nothing to do for scalars). Returns 0 or a negative status. */
int ferry__json_skip(ferry__json_reader *r);
/* After ferry__json_next returned the first token of a value, reads the whole value into dst,
 * a fresh node obtained from ferry__meta_append, or the model's root (m->meta): an object is
 * then merged into the root's entries, and any other value is refused (the root stays a MAP).
 * Keys containing U+0000 are refused (FERRY_E_UNSUPPORTED): metadata keys are C strings. */
int ferry__json_read_value(ferry__json_reader *r, ferry_model *m, ferry_meta *dst);
/* Sets the context error "<file>: offset <token offset>: <message>" and returns code. */
int ferry__json_fail(ferry__json_reader *r, int code, const char *fmt, ...) FERRY_PRINTF(3, 4);
/* A short description of a token kind for messages ("a string", "'{'", ...). */
const char *ferry__json_tok_name(int tok);

/* ============================================================================================
 * Whole documents
 * ========================================================================================== */

/* Parses the JSON document data[0..len) (leading and trailing whitespace allowed, nothing else
 * after the value) into dst (see ferry__json_read_value). */
int ferry__json_parse(ferry_model *m, ferry_meta *dst, const ferry_source *src, uint64_t base,
                      const void *data, size_t len, unsigned flags);

/* ============================================================================================
 * Helpers shared with readers and writers
 * ========================================================================================== */

/* Whether p[0..n) is valid UTF-8 (no overlong forms, no surrogates, nothing above U+10FFFF:
 * the rules of Rust's str::from_utf8). On failure *bad (if not NULL) gets the offset of the
 * first byte of the first invalid sequence. */
bool ferry__utf8_valid(const uint8_t *p, size_t n, size_t *bad);

/* A growable byte buffer for building headers (memory through the context). */
typedef struct ferry__strbuf {
    ferry_ctx *ctx;
    char      *p;
    size_t     n;
    size_t     cap;
} ferry__strbuf;

void ferry__strbuf_init(ferry__strbuf *b, ferry_ctx *ctx);
void ferry__strbuf_free(ferry__strbuf *b);
int  ferry__strbuf_put(ferry__strbuf *b, const void *s, size_t n);
int  ferry__strbuf_puts(ferry__strbuf *b, const char *s);

/* Appends s[0..n) as a JSON string literal, quotes included, escaped exactly like serde_json's
 * compact writer: \" \\ \b \f \n \r \t, other control characters as \u00xx (lower-case hex),
 * everything else (including '/', DEL and non-ASCII) verbatim. s must be valid UTF-8:
 * otherwise nothing is appended and FERRY_E_UNSUPPORTED is returned (JSON text is UTF-8). */
int ferry__json_write_string(ferry__strbuf *b, const char *s, size_t n);

/* Formats v as the shortest decimal that reads back as the same double, the way Python's
 * repr() does ("0.1", "1.0", "1e-05", "1.5e+16", "inf", "-inf", "nan"), independent of the
 * locale. out must hold 32 bytes; returns the length. */
size_t ferry__json_format_double(double v, char out[32]);
/* The same for a float: the shortest decimal that reads back as the same float ("1e-05" for
 * 1e-5f, not the double expansion of its binary value). */
size_t ferry__json_format_float32(float v, char out[32]);

/* Converts the JSON number text s[0..n) (already known to match the JSON number grammar) to
 * the nearest double, correctly rounded and independent of the locale. Returns false when the
 * magnitude is too large for a double (serde_json: "number out of range"). */
bool ferry__json_number_to_double(const char *s, size_t n, double *out);

#endif /* FERRY_PARSE_JSON_H */
