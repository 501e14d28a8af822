/*
 * pylit.h -- a bounded parser for the Python literals that NumPy writes into .npy headers
 * (FORMATS.md §7: "a tiny Python-literal parser: strings, ints, True/False, tuples, lists").
 *
 * It accepts the subset of ast.literal_eval() that a .npy header can meaningfully hold:
 * dicts, lists, tuples (including "(x)" being just x, and "()"), str and bytes literals
 * (' or " quotes, u/r/b prefixes, every escape Python knows except \N{...}), decimal
 * integers with an optional sign (and, on request, Python 2's trailing 'L'), True, False
 * and None, with whitespace, comments and line continuations between tokens. It refuses
 * floats, complex numbers, sets, triple-quoted strings, implicit string concatenation and
 * names: none of those can be part of a header numpy would load.
 *
 * The result is a flat array of nodes in pre-order (a parent always comes before its
 * children), linked by child/sibling indices; the parser keeps an explicit stack whose depth
 * is capped by limits.metadata_depth and never recurses. Node 0 is the top-level value.
 * Strings are decoded to UTF-8 (from latin-1 or UTF-8 text) into one pool, NUL-terminated
 * and length-delimited (they may contain NUL). Every node records the extent of its source
 * text, so a caller can quote a sub-expression (e.g. a structured dtype) verbatim.
 *
 * Errors are FERRY_E_CORRUPT (FERRY_E_LIMIT for the depth and node limits) with the message
 * "<where>: offset N: found X, expected Y", N being base + the offset in the text.
 */
#ifndef FERRY_PARSE_PYLIT_H
#define FERRY_PARSE_PYLIT_H

#include "internal.h"

typedef enum ferry__py_kind {
    FERRY__PY_NONE = 0,
    FERRY__PY_BOOL,
    FERRY__PY_INT,
    FERRY__PY_STR,
    FERRY__PY_BYTES,
    FERRY__PY_TUPLE,
    FERRY__PY_LIST,
    FERRY__PY_DICT,
} ferry__py_kind;

typedef struct ferry__py_node {
    uint8_t  kind;      /* ferry__py_kind */
    int64_t  i;         /* INT: the value; BOOL: 0 or 1 */
    uint32_t str;       /* STR/BYTES: offset of the decoded bytes in the document's pool */
    uint32_t str_len;   /* STR/BYTES: their length (a NUL follows them in the pool) */
    uint32_t n;         /* containers: number of children (DICT: 2 per item, key then value) */
    int32_t  first;     /* first child, or -1 */
    int32_t  next;      /* next sibling, or -1 */
    uint32_t off;       /* the node's source text is text[off, end) */
    uint32_t end;
} ferry__py_node;

typedef struct ferry__py_doc {
    ferry_ctx      *ctx;
    ferry__py_node *nodes;
    size_t          n;
    size_t          cap;
    char           *pool;
    size_t          pool_len;
    size_t          pool_cap;
} ferry__py_doc;

enum {
    FERRY__PY_LATIN1      = 1u << 0, /* the text is latin-1 (else UTF-8, validated)       */
    FERRY__PY_LONG_SUFFIX = 1u << 1, /* accept Python 2's "10L" (numpy filters it out for
                                        version 1.0 and 2.0 headers)                         */
};

/*
 * Parses text[0, len) as one Python literal. `where` names the input in messages ("a.npy",
 * "a.npz: x.npy"); `base` is added to offsets in messages. On success *doc holds the nodes
 * (free with ferry__py_free); on failure it is empty and the context error is set.
 * len must be below 2^31. Not thread-safe with respect to ctx.
 */
int ferry__py_parse(ferry_ctx *ctx, const char *where, uint64_t base, const char *text,
                    size_t len, unsigned flags, ferry__py_doc *doc);

/* Frees the nodes and strings of a document (NULL-tolerant, idempotent). */
void ferry__py_free(ferry__py_doc *doc);

/* The decoded bytes of a STR/BYTES node (NUL-terminated). */
static inline const char *ferry__py_str(const ferry__py_doc *d, const ferry__py_node *n)
{
    return d->pool + n->str;
}

/* Whether node n is a STR equal to the NUL-terminated s. */
static inline bool ferry__py_is_str(const ferry__py_doc *d, const ferry__py_node *n,
                                    const char *s)
{
    size_t l = strlen(s);
    return n->kind == FERRY__PY_STR && n->str_len == l && memcmp(d->pool + n->str, s, l) == 0;
}

#endif /* FERRY_PARSE_PYLIT_H */
