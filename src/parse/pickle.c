/*
 * pickle.c -- the restricted pickle machine (see pickle.h for the API).
 *
 * Spec: FORMATS.md §4 (every opcode of protocols 0-5, the well-known globals, pickled
 * ndarrays), §2a (torch storages and _rebuild_* conventions), §5/§6 (joblib, dill: plain
 * pickle streams), SECURITY.md 3.1 (P08 exact memo, P09/P14 findings kept across errors,
 * P10 every string opcode, P11 BUILD on globals, P12 every call recorded, P15 pickles back
 * to back, P18 expansion caps). Opcode semantics follow CPython's Modules/_pickle.c (the C
 * unpickler that pickle.load and torch.load actually run), read as a reference, not copied.
 *
 * Decisions
 * ---------
 * - One value stack plus a stack of mark positions, as the C unpickler keeps them: every pop
 *   is refused below the last mark ("stack underflow"), POP removes a mark when the mark is
 *   on top, and the metastack of pickle.py is the same thing seen differently.
 * - The memo is a hash table keyed by the 64-bit index, so LONG_BINPUT 0xFFFFFFFF costs one
 *   slot (the C unpickler would grow an array to that size). MEMOIZE uses the number of
 *   entries as its key, exactly like the C memo_len.
 * - FRAME is enforced like the C unpickler: the frame's bytes must all be present, and
 *   nothing else. pickle.py additionally refuses opcodes that cross a frame end and frames
 *   that start before the previous one was consumed; those are recorded as anomalies
 *   (FERRY__PK_A_FRAME_*) for the scanner instead of being errors.
 * - Nodes are shared by pointer: GET and DUP push the same node, so the tree is a DAG and
 *   may contain cycles (a list appended to itself). Consumers walk it with explicit stacks,
 *   a depth cap and a visit budget. Mutation (APPEND, SETITEM, BUILD) changes the node in
 *   place, which is what memo references need.
 * - Dicts and sets keep Python's semantics for scalar keys (None, bool, int, float, str,
 *   bytes; True == 1 == 1.0): a repeated key replaces the value in its first position. A
 *   machine-wide hash table (container pointer, key) makes this O(1). Tuples and opaque
 *   keys are compared by identity (documented difference; no pickler emits equal tuple
 *   keys twice).
 * - Text opcodes: INT/LONG accept decimal literals only (what every pickler writes; Python
 *   would also take 0x/0o/0b and the C unpickler C-octal "010", so these are refused rather
 *   than guessed). FLOAT uses strtod on a bounded copy. STRING is decoded like
 *   codecs.escape_decode, UNICODE like raw-unicode-escape (\u only after an odd run of
 *   backslashes). BINUNICODE text must be UTF-8 (surrogates allowed: surrogatepass).
 * - GLOBAL / INST / STACK_GLOBAL names are copied NUL-terminated into the arena; a name
 *   containing a NUL byte or invalid UTF-8 is an error (Python fails to import it anyway,
 *   and a NUL would hide the rest of the name from a C consumer).
 * - Python 2 names (__builtin__, copy_reg) are recorded as written; the symbolic table
 *   accepts both spellings, as fix_imports does.
 * - APPEND/SETITEM/ADDITEMS on objects that are not a list/dict/set of this stream would
 *   call methods of arbitrary objects; they are dropped and flagged as anomalies.
 * - The symbolic table only pattern-matches (module, name) and argument shapes. When the
 *   arguments do not have the expected shape the call stays an opaque CALL node; consumers
 *   (pytorch.c) decide whether that is an error.
 */
#include "parse/pickle.h"

#include <stdio.h>
#include <stdlib.h>

/* ============================================================================================
 * Opcodes (FORMATS.md §4)
 * ========================================================================================== */

enum {
    OP_MARK = '(', OP_STOP = '.', OP_POP = '0', OP_POP_MARK = '1', OP_DUP = '2',
    OP_FLOAT = 'F', OP_INT = 'I', OP_BININT = 'J', OP_BININT1 = 'K', OP_LONG = 'L',
    OP_BININT2 = 'M', OP_NONE = 'N', OP_PERSID = 'P', OP_BINPERSID = 'Q', OP_REDUCE = 'R',
    OP_STRING = 'S', OP_BINSTRING = 'T', OP_SHORT_BINSTRING = 'U', OP_UNICODE = 'V',
    OP_BINUNICODE = 'X', OP_APPEND = 'a', OP_BUILD = 'b', OP_GLOBAL = 'c', OP_DICT = 'd',
    OP_EMPTY_DICT = '}', OP_APPENDS = 'e', OP_GET = 'g', OP_BINGET = 'h', OP_INST = 'i',
    OP_LONG_BINGET = 'j', OP_LIST = 'l', OP_EMPTY_LIST = ']', OP_OBJ = 'o', OP_PUT = 'p',
    OP_BINPUT = 'q', OP_LONG_BINPUT = 'r', OP_SETITEM = 's', OP_TUPLE = 't',
    OP_EMPTY_TUPLE = ')', OP_SETITEMS = 'u', OP_BINFLOAT = 'G',
    OP_PROTO = 0x80, OP_NEWOBJ = 0x81, OP_EXT1 = 0x82, OP_EXT2 = 0x83, OP_EXT4 = 0x84,
    OP_TUPLE1 = 0x85, OP_TUPLE2 = 0x86, OP_TUPLE3 = 0x87, OP_NEWTRUE = 0x88,
    OP_NEWFALSE = 0x89, OP_LONG1 = 0x8A, OP_LONG4 = 0x8B,
    OP_BINBYTES = 'B', OP_SHORT_BINBYTES = 'C',
    OP_SHORT_BINUNICODE = 0x8C, OP_BINUNICODE8 = 0x8D, OP_BINBYTES8 = 0x8E,
    OP_EMPTY_SET = 0x8F, OP_ADDITEMS = 0x90, OP_FROZENSET = 0x91, OP_NEWOBJ_EX = 0x92,
    OP_STACK_GLOBAL = 0x93, OP_MEMOIZE = 0x94, OP_FRAME = 0x95,
    OP_BYTEARRAY8 = 0x96, OP_NEXT_BUFFER = 0x97, OP_READONLY_BUFFER = 0x98,
};

#define HIGHEST_PROTOCOL 5

static const char *const op_names[256] = {
    ['('] = "MARK", ['.'] = "STOP", ['0'] = "POP", ['1'] = "POP_MARK", ['2'] = "DUP",
    ['F'] = "FLOAT", ['I'] = "INT", ['J'] = "BININT", ['K'] = "BININT1", ['L'] = "LONG",
    ['M'] = "BININT2", ['N'] = "NONE", ['P'] = "PERSID", ['Q'] = "BINPERSID",
    ['R'] = "REDUCE", ['S'] = "STRING", ['T'] = "BINSTRING", ['U'] = "SHORT_BINSTRING",
    ['V'] = "UNICODE", ['X'] = "BINUNICODE", ['a'] = "APPEND", ['b'] = "BUILD",
    ['c'] = "GLOBAL", ['d'] = "DICT", ['}'] = "EMPTY_DICT", ['e'] = "APPENDS", ['g'] = "GET",
    ['h'] = "BINGET", ['i'] = "INST", ['j'] = "LONG_BINGET", ['l'] = "LIST",
    [']'] = "EMPTY_LIST", ['o'] = "OBJ", ['p'] = "PUT", ['q'] = "BINPUT",
    ['r'] = "LONG_BINPUT", ['s'] = "SETITEM", ['t'] = "TUPLE", [')'] = "EMPTY_TUPLE",
    ['u'] = "SETITEMS", ['G'] = "BINFLOAT", [0x80] = "PROTO", [0x81] = "NEWOBJ",
    [0x82] = "EXT1", [0x83] = "EXT2", [0x84] = "EXT4", [0x85] = "TUPLE1", [0x86] = "TUPLE2",
    [0x87] = "TUPLE3", [0x88] = "NEWTRUE", [0x89] = "NEWFALSE", [0x8A] = "LONG1",
    [0x8B] = "LONG4", ['B'] = "BINBYTES", ['C'] = "SHORT_BINBYTES",
    [0x8C] = "SHORT_BINUNICODE", [0x8D] = "BINUNICODE8", [0x8E] = "BINBYTES8",
    [0x8F] = "EMPTY_SET", [0x90] = "ADDITEMS", [0x91] = "FROZENSET", [0x92] = "NEWOBJ_EX",
    [0x93] = "STACK_GLOBAL", [0x94] = "MEMOIZE", [0x95] = "FRAME", [0x96] = "BYTEARRAY8",
    [0x97] = "NEXT_BUFFER", [0x98] = "READONLY_BUFFER",
};

const char *ferry__pickle_opname(uint8_t op) { return op_names[op]; }

/* ============================================================================================
 * The machine
 * ========================================================================================== */

typedef struct memo_slot {
    uint64_t        key;
    ferry__pk_node *val;       /* NULL: empty */
} memo_slot;

typedef struct key_slot {
    const ferry__pk_node *cont; /* NULL: empty */
    uint64_t              h;
    size_t                index;
} key_slot;

struct ferry__pickle {
    ferry_ctx        *ctx;
    ferry__arena      arena;
    ferry__pk_limits  lim;
    uint64_t          nodes;
    ferry__pk_node  **stack;
    size_t            sp;
    size_t            stack_cap;
    size_t           *marks;
    size_t            nmarks;
    size_t            marks_cap;
    memo_slot        *memo;
    size_t            memo_cap;
    size_t            memo_n;
    key_slot         *keys;
    size_t            keys_cap;
    size_t            keys_n;
    ferry__pk_record *recs;
    size_t            nrecs;
    size_t            recs_cap;
    uint32_t          anomalies;
    int               protocol;
    unsigned          runs;
    /* the current run */
    const uint8_t    *d;
    size_t            size;
    size_t            pos;
    size_t            op_off;
    uint8_t           op;
    const ferry_source *src;
    uint64_t          base;
    bool              in_frame;
    uint64_t          frame_end;
};

/* Fails with "pickle opcode 0xXX (NAME): <msg>" at the current opcode. */
static int fail(ferry__pickle *p, int code, const char *fmt, ...) FERRY_PRINTF(3, 4);
static int fail(ferry__pickle *p, int code, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    const char *name = op_names[p->op];
    return ferry__fail_at(p->ctx, code, p->src, p->base + p->op_off,
                          "pickle opcode 0x%02X (%s): %s", p->op, name ? name : "invalid", msg);
}

static int truncated(ferry__pickle *p, uint64_t need)
{
    return fail(p, FERRY_E_CORRUPT, "truncated: needs %llu bytes, %llu left",
                (unsigned long long)need, (unsigned long long)(p->size - p->pos));
}

int ferry__pickle_new(ferry_ctx *ctx, const ferry__pk_limits *lim, ferry__pickle **out)
{
    *out = NULL;
    ferry__pickle *p = ferry__calloc(ctx, 1, sizeof *p);
    if (!p) return ctx->err_code;
    p->ctx = ctx;
    ferry__arena_init(&p->arena, ctx);
    if (lim) p->lim = *lim;
    uint64_t items = ctx->limits.metadata_items ? ctx->limits.metadata_items : (1u << 28);
    if (!p->lim.max_ops) p->lim.max_ops = (uint64_t)1 << 30;
    if (!p->lim.max_stack) p->lim.max_stack = (uint64_t)1 << 20;
    if (!p->lim.max_memo) p->lim.max_memo = (uint64_t)1 << 22;
    if (!p->lim.max_container) p->lim.max_container = items;
    if (!p->lim.max_nodes) p->lim.max_nodes = items;
    *out = p;
    return FERRY_OK;
}

void ferry__pickle_free(ferry__pickle *p)
{
    if (!p) return;
    ferry_ctx *ctx = p->ctx;
    ferry__free(ctx, p->stack, 0);
    ferry__free(ctx, p->marks, 0);
    ferry__free(ctx, p->memo, 0);
    ferry__free(ctx, p->keys, 0);
    ferry__free(ctx, p->recs, 0);
    ferry__arena_free(&p->arena);
    ferry__free(ctx, p, sizeof *p);
}

size_t ferry__pickle_record_count(const ferry__pickle *p) { return p ? p->nrecs : 0; }
const ferry__pk_record *ferry__pickle_record(const ferry__pickle *p, size_t i)
{
    return p && i < p->nrecs ? &p->recs[i] : NULL;
}
uint32_t ferry__pickle_anomalies(const ferry__pickle *p) { return p ? p->anomalies : 0; }
int ferry__pickle_protocol(const ferry__pickle *p) { return p ? p->protocol : 0; }
ferry__arena *ferry__pickle_arena(ferry__pickle *p) { return &p->arena; }

/* Grows a ferry__realloc'd array to hold at least `need` elements (doubling). */
static int grow(ferry__pickle *p, void **arr, size_t *cap, size_t elem, size_t need)
{
    if (need <= *cap) return FERRY_OK;
    size_t nc = *cap ? *cap : 16;
    while (nc < need) {
        if (nc > SIZE_MAX / 2 / elem) return fail(p, FERRY_E_NOMEM, "array too large");
        nc *= 2;
    }
    void *na = ferry__realloc(p->ctx, *arr, *cap * elem, nc * elem);
    if (!na) return p->ctx->err_code;
    *arr = na;
    *cap = nc;
    return FERRY_OK;
}

/* ============================================================================================
 * Nodes
 * ========================================================================================== */

static ferry__pk_node *mk(ferry__pickle *p, int kind)
{
    if (p->nodes >= p->lim.max_nodes) {
        fail(p, FERRY_E_LIMIT, "more than %llu values", (unsigned long long)p->lim.max_nodes);
        return NULL;
    }
    ferry__pk_node *n = ferry__arena_alloc(&p->arena, sizeof *n);
    if (!n) return NULL;
    p->nodes++;
    n->kind   = (uint8_t)kind;
    n->opcode = p->op;
    n->off    = p->op_off;
    return n;
}

static ferry__pk_node *mk_int(ferry__pickle *p, int kind, int64_t v)
{
    ferry__pk_node *n = mk(p, kind);
    if (n) n->v.i = v;
    return n;
}

/* A STR/BYTES/BIGINT node over bytes at data[off] (verbatim) or a decoded buffer (off -1). */
static ferry__pk_node *mk_bytes(ferry__pickle *p, int kind, const uint8_t *s, size_t n,
                                int64_t off, uint8_t flags)
{
    ferry__pk_node *nd = mk(p, kind);
    if (!nd) return NULL;
    nd->v.s.p       = s;
    nd->v.s.n       = n;
    nd->v.s.src_off = off;
    nd->flags       = flags;
    return nd;
}

/* A container holding copies of items[0..n). */
static ferry__pk_node *mk_seq(ferry__pickle *p, int kind, ferry__pk_node *const *items,
                              size_t n)
{
    if (n > p->lim.max_container) {
        fail(p, FERRY_E_LIMIT, "container of %zu elements exceeds the limit of %llu", n,
             (unsigned long long)p->lim.max_container);
        return NULL;
    }
    ferry__pk_node *nd = mk(p, kind);
    if (!nd) return NULL;
    if (n) {
        nd->v.c.items = ferry__arena_alloc(&p->arena, n * sizeof *items);
        if (!nd->v.c.items) return NULL;
        memcpy(nd->v.c.items, items, n * sizeof *items);
    }
    nd->v.c.n   = n;
    nd->v.c.cap = n;
    return nd;
}

/* Makes room for `more` more item slots in a container (arena, doubling). */
static int seq_reserve(ferry__pickle *p, ferry__pk_node *c, size_t more)
{
    size_t slots = c->kind == FERRY__PK_DICT ? 2 : 1;
    size_t used = c->v.c.n * slots;
    if (c->v.c.n + more / slots > p->lim.max_container || more > SIZE_MAX / 2 - used)
        return fail(p, FERRY_E_LIMIT, "container of more than %llu elements",
                    (unsigned long long)p->lim.max_container);
    if (used + more <= c->v.c.cap) return FERRY_OK;
    size_t nc = c->v.c.cap ? c->v.c.cap * 2 : 8;
    if (nc < used + more) nc = used + more;
    ferry__pk_node **ni = ferry__arena_alloc(&p->arena, nc * sizeof *ni);
    if (!ni) return p->ctx->err_code;
    if (used) memcpy(ni, c->v.c.items, used * sizeof *ni);
    c->v.c.items = ni;
    c->v.c.cap   = nc;
    return FERRY_OK;
}

/* ============================================================================================
 * Dict and set keys (Python equality for scalar keys)
 * ========================================================================================== */

/* Hash of a scalar key; false for keys compared by identity. Equal keys in Python's sense
 * (True == 1 == 1.0, str of either flavour) hash alike. */
static bool key_hash(const ferry__pk_node *k, uint64_t *h)
{
    uint64_t x = 1469598103934665603ull;
    const uint8_t *s = NULL;
    size_t n = 0;
    uint8_t cls;
    int64_t iv = 0;
    switch (k->kind) {
    case FERRY__PK_NONE: cls = 1; break;
    case FERRY__PK_BOOL:
    case FERRY__PK_INT: cls = 2; iv = k->v.i; break;
    case FERRY__PK_FLOAT:
        if (k->v.f >= -9.2e18 && k->v.f <= 9.2e18 && k->v.f == (double)(int64_t)k->v.f) {
            cls = 2;
            iv  = (int64_t)k->v.f;
        } else {
            cls = 3;
            memcpy(&iv, &k->v.f, sizeof iv);
        }
        break;
    case FERRY__PK_STR: cls = 4; s = k->v.s.p; n = k->v.s.n; break;
    case FERRY__PK_BYTES: cls = 5; s = k->v.s.p; n = k->v.s.n; break;
    default: return false;
    }
    x = (x ^ cls) * 1099511628211ull;
    for (int i = 0; i < 8; i++) x = (x ^ (uint8_t)((uint64_t)iv >> (8 * i))) * 1099511628211ull;
    for (size_t i = 0; i < n; i++) x = (x ^ s[i]) * 1099511628211ull;
    *h = x;
    return true;
}

static bool key_eq(const ferry__pk_node *a, const ferry__pk_node *b)
{
    if (a == b) return true;
    uint64_t ha, hb;
    if (!key_hash(a, &ha) || !key_hash(b, &hb) || ha != hb) return false;
    bool as = a->kind == FERRY__PK_STR || a->kind == FERRY__PK_BYTES;
    bool bs = b->kind == FERRY__PK_STR || b->kind == FERRY__PK_BYTES;
    if (as || bs)
        return a->kind == b->kind && a->v.s.n == b->v.s.n &&
               (a->v.s.n == 0 || memcmp(a->v.s.p, b->v.s.p, a->v.s.n) == 0);
    if (a->kind == FERRY__PK_NONE || b->kind == FERRY__PK_NONE) return a->kind == b->kind;
    double fa = a->kind == FERRY__PK_FLOAT ? a->v.f : (double)a->v.i;
    double fb = b->kind == FERRY__PK_FLOAT ? b->v.f : (double)b->v.i;
    if (a->kind != FERRY__PK_FLOAT && b->kind != FERRY__PK_FLOAT) return a->v.i == b->v.i;
    return fa == fb;
}

static uint64_t mix_ptr(const void *c, uint64_t h)
{
    uint64_t x = (uint64_t)(uintptr_t)c;
    x ^= h + 0x9E3779B97F4A7C15ull + (x << 6) + (x >> 2);
    x ^= x >> 31;
    return x * 0xBF58476D1CE4E5B9ull;
}

/* Looks `key` up in container c. Returns the element index or SIZE_MAX. */
static size_t key_find(ferry__pickle *p, const ferry__pk_node *c, const ferry__pk_node *key,
                       uint64_t h)
{
    if (!p->keys_cap) return SIZE_MAX;
    size_t mask = p->keys_cap - 1;
    for (size_t i = mix_ptr(c, h) & mask;; i = (i + 1) & mask) {
        key_slot *s = &p->keys[i];
        if (!s->cont) return SIZE_MAX;
        if (s->cont == c && s->h == h) {
            const ferry__pk_node *k = c->kind == FERRY__PK_DICT ? c->v.c.items[2 * s->index]
                                                               : c->v.c.items[s->index];
            if (key_eq(k, key)) return s->index;
        }
    }
}

static int key_insert(ferry__pickle *p, const ferry__pk_node *c, uint64_t h, size_t index)
{
    if ((p->keys_n + 1) * 2 > p->keys_cap) {
        size_t nc = p->keys_cap ? p->keys_cap * 2 : 1024;
        key_slot *nk = ferry__calloc(p->ctx, nc, sizeof *nk);
        if (!nk) return p->ctx->err_code;
        for (size_t i = 0; i < p->keys_cap; i++) {
            if (!p->keys[i].cont) continue;
            size_t j = mix_ptr(p->keys[i].cont, p->keys[i].h) & (nc - 1);
            while (nk[j].cont) j = (j + 1) & (nc - 1);
            nk[j] = p->keys[i];
        }
        ferry__free(p->ctx, p->keys, 0);
        p->keys     = nk;
        p->keys_cap = nc;
    }
    size_t j = mix_ptr(c, h) & (p->keys_cap - 1);
    while (p->keys[j].cont) j = (j + 1) & (p->keys_cap - 1);
    p->keys[j] = (key_slot){c, h, index};
    p->keys_n++;
    return FERRY_OK;
}

/* dict[key] = value with Python's replace-in-place semantics. */
static int dict_set(ferry__pickle *p, ferry__pk_node *d, ferry__pk_node *key,
                    ferry__pk_node *val)
{
    uint64_t h;
    bool hashable = key_hash(key, &h);
    if (hashable) {
        size_t i = key_find(p, d, key, h);
        if (i != SIZE_MAX) {
            d->v.c.items[2 * i + 1] = val;
            return FERRY_OK;
        }
    }
    FERRY_TRY(seq_reserve(p, d, 2));
    size_t i = d->v.c.n++;
    d->v.c.items[2 * i]     = key;
    d->v.c.items[2 * i + 1] = val;
    return hashable ? key_insert(p, d, h, i) : FERRY_OK;
}

static int set_add(ferry__pickle *p, ferry__pk_node *s, ferry__pk_node *key)
{
    uint64_t h;
    bool hashable = key_hash(key, &h);
    if (hashable && key_find(p, s, key, h) != SIZE_MAX) return FERRY_OK;
    FERRY_TRY(seq_reserve(p, s, 1));
    size_t i = s->v.c.n++;
    s->v.c.items[i] = key;
    return hashable ? key_insert(p, s, h, i) : FERRY_OK;
}

static int list_add(ferry__pickle *p, ferry__pk_node *l, ferry__pk_node *v)
{
    FERRY_TRY(seq_reserve(p, l, 1));
    l->v.c.items[l->v.c.n++] = v;
    return FERRY_OK;
}

/* ============================================================================================
 * Stack, marks, memo
 * ========================================================================================== */

static size_t fence(const ferry__pickle *p) { return p->nmarks ? p->marks[p->nmarks - 1] : 0; }

static int push(ferry__pickle *p, ferry__pk_node *n)
{
    if (!n) return p->ctx->err_code ? p->ctx->err_code : FERRY_E_NOMEM;
    if (p->sp + p->nmarks >= p->lim.max_stack)
        return fail(p, FERRY_E_LIMIT, "stack deeper than %llu entries",
                    (unsigned long long)p->lim.max_stack);
    FERRY_TRY(grow(p, (void **)&p->stack, &p->stack_cap, sizeof *p->stack, p->sp + 1));
    p->stack[p->sp++] = n;
    return FERRY_OK;
}

static int pop(ferry__pickle *p, ferry__pk_node **out)
{
    if (p->sp <= fence(p)) return fail(p, FERRY_E_CORRUPT, "stack underflow");
    *out = p->stack[--p->sp];
    return FERRY_OK;
}

static int top(ferry__pickle *p, ferry__pk_node **out)
{
    if (p->sp <= fence(p)) return fail(p, FERRY_E_CORRUPT, "stack underflow");
    *out = p->stack[p->sp - 1];
    return FERRY_OK;
}

/* Pops the last mark; *k gets the stack position it marked. */
static int pop_mark(ferry__pickle *p, size_t *k)
{
    if (!p->nmarks) return fail(p, FERRY_E_CORRUPT, "could not find MARK");
    *k = p->marks[--p->nmarks];
    return FERRY_OK;
}

static memo_slot *memo_slot_for(ferry__pickle *p, uint64_t key)
{
    size_t mask = p->memo_cap - 1;
    uint64_t h = key * 0x9E3779B97F4A7C15ull;
    for (size_t i = (size_t)(h >> 20) & mask;; i = (i + 1) & mask)
        if (!p->memo[i].val || p->memo[i].key == key) return &p->memo[i];
}

static int memo_put(ferry__pickle *p, uint64_t key, ferry__pk_node *v)
{
    if (p->memo_cap) {
        memo_slot *s = memo_slot_for(p, key);
        if (s->val) {
            s->val = v;
            p->anomalies |= FERRY__PK_A_MEMO_OVERWRITE;
            return FERRY_OK;
        }
    }
    if (p->memo_n >= p->lim.max_memo)
        return fail(p, FERRY_E_LIMIT, "more than %llu memo entries",
                    (unsigned long long)p->lim.max_memo);
    if ((p->memo_n + 1) * 2 > p->memo_cap) {
        size_t oc = p->memo_cap;
        memo_slot *old = p->memo;
        size_t nc = oc ? oc * 2 : 256;
        p->memo = ferry__calloc(p->ctx, nc, sizeof *p->memo);
        if (!p->memo) {
            p->memo = old;
            return p->ctx->err_code;
        }
        p->memo_cap = nc;
        for (size_t i = 0; i < oc; i++)
            if (old[i].val) *memo_slot_for(p, old[i].key) = old[i];
        ferry__free(p->ctx, old, 0);
    }
    memo_slot *s = memo_slot_for(p, key);
    s->key = key;
    s->val = v;
    p->memo_n++;
    return FERRY_OK;
}

static int memo_get(ferry__pickle *p, uint64_t key)
{
    memo_slot *s = p->memo_cap ? memo_slot_for(p, key) : NULL;
    if (!s || !s->val)
        return fail(p, FERRY_E_CORRUPT, "memo value not found at index %llu",
                    (unsigned long long)key);
    return push(p, s->val);
}

/* ============================================================================================
 * Records
 * ========================================================================================== */

static int record(ferry__pickle *p, int kind, const ferry__pk_node *target, const char *module,
                  const char *name)
{
    FERRY_TRY(grow(p, (void **)&p->recs, &p->recs_cap, sizeof *p->recs, p->nrecs + 1));
    ferry__pk_record *r = &p->recs[p->nrecs++];
    memset(r, 0, sizeof *r);
    r->off    = p->base + p->op_off;
    r->opcode = p->op;
    r->kind   = (uint8_t)kind;
    r->pickle = (uint8_t)(p->runs > 255 ? 255 : p->runs);
    r->target = target ? target->kind : 0;
    if (!module && target) {
        const ferry__pk_node *g = target;
        if (g->kind == FERRY__PK_CALL || g->kind == FERRY__PK_NEWOBJ) g = g->v.call.fn;
        if (g && g->kind == FERRY__PK_GLOBAL) {
            module = g->v.g.module;
            name   = g->v.g.name;
        }
    }
    r->module = module;
    r->name   = name;
    return FERRY_OK;
}

/* ============================================================================================
 * Reading arguments
 * ========================================================================================== */

static int take(ferry__pickle *p, uint64_t n, const uint8_t **out)
{
    if (n > p->size - p->pos) return truncated(p, n);
    *out = p->d + p->pos;
    p->pos += (size_t)n;
    return FERRY_OK;
}

/* The next line without its '\n'. */
static int readline(ferry__pickle *p, const uint8_t **s, size_t *n)
{
    const uint8_t *b = p->d + p->pos;
    const uint8_t *nl = memchr(b, '\n', p->size - p->pos);
    if (!nl) return fail(p, FERRY_E_CORRUPT, "truncated: line without newline");
    *s = b;
    *n = (size_t)(nl - b);
    p->pos += *n + 1;
    return FERRY_OK;
}

static bool is_space(uint8_t c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

/* Parses a decimal integer literal (Python int(): surrounding whitespace, sign, '_' between
 * digits). *fits false when it does not fit in int64; buf/ndigits get the normalised
 * digits (no sign, no underscores, no leading zeros) in buf. */
static bool parse_decimal(const uint8_t *s, size_t n, int64_t *v, bool *fits, bool *neg,
                          char *buf, size_t cap, size_t *ndigits)
{
    size_t i = 0, k = 0;
    while (i < n && is_space(s[i])) i++;
    while (n > i && is_space(s[n - 1])) n--;
    *neg = false;
    if (i < n && (s[i] == '+' || s[i] == '-')) *neg = s[i++] == '-';
    if (i >= n) return false;
    uint64_t acc = 0;
    *fits = true;
    bool prev_digit = false, any = false;
    bool leading = true;
    if (n - i > 1 && s[i] == '0' && s[i + 1] != '_') {
        /* "0", "00" are fine for Python; "007" is not (base 0), and "0x.." is another base. */
        for (size_t j = i; j < n; j++)
            if (s[j] != '0' && s[j] != '_') return false;
    }
    for (; i < n; i++) {
        uint8_t c = s[i];
        if (c == '_') {
            if (!prev_digit || i + 1 >= n || s[i + 1] < '0' || s[i + 1] > '9') return false;
            prev_digit = false;
            continue;
        }
        if (c < '0' || c > '9') return false;
        prev_digit = any = true;
        if (leading && c == '0') continue;
        leading = false;
        if (k + 1 >= cap) return false;
        buf[k++] = (char)c;
        if (acc > (UINT64_MAX - 9) / 10) *fits = false;
        else acc = acc * 10 + (uint64_t)(c - '0');
    }
    if (!any) return false;
    if (k == 0) buf[k++] = '0';
    buf[k]   = 0;
    *ndigits = k;
    if (*fits && (acc > (uint64_t)INT64_MAX + (*neg ? 1u : 0u))) *fits = false;
    if (*fits) *v = *neg ? (int64_t)(0 - acc) : (int64_t)acc;
    return true;
}

/* INT / LONG text argument: pushes INT, or BIGINT (decimal) when it does not fit. */
static int push_text_int(ferry__pickle *p, const uint8_t *s, size_t n)
{
    char small[64];
    char *buf = small;
    size_t cap = sizeof small;
    if (n + 2 > cap) {
        buf = ferry__arena_alloc(&p->arena, n + 2);
        if (!buf) return p->ctx->err_code;
        cap = n + 2;
    }
    int64_t v = 0;
    bool fits = false, neg = false;
    size_t nd = 0;
    if (!parse_decimal(s, n, &v, &fits, &neg, buf + 1, cap - 1, &nd))
        return fail(p, FERRY_E_CORRUPT, "invalid integer literal \"%.*s\"",
                    (int)(n > 40 ? 40 : n), (const char *)s);
    if (fits) return push(p, mk_int(p, FERRY__PK_INT, v));
    if (buf == small) {
        buf = ferry__arena_alloc(&p->arena, nd + 2);
        if (!buf) return p->ctx->err_code;
        memcpy(buf + 1, small + 1, nd);
    }
    size_t start = 1;
    if (neg) {
        buf[0] = '-';
        start  = 0;
    }
    return push(p, mk_bytes(p, FERRY__PK_BIGINT, (const uint8_t *)buf + start, nd + 1 - start,
                            -1, FERRY__PK_F_DECIMAL));
}

/* LONG1 / LONG4 payload: two's complement little-endian. */
static int push_binlong(ferry__pickle *p, const uint8_t *s, size_t n)
{
    if (n == 0) return push(p, mk_int(p, FERRY__PK_INT, 0));
    bool neg = s[n - 1] & 0x80;
    /* Significant length: drop sign-extension bytes that do not change the value. */
    size_t k = n;
    while (k > 1 && s[k - 1] == (neg ? 0xFF : 0x00) && ((s[k - 2] & 0x80) != 0) == neg) k--;
    if (k <= 8) {
        uint64_t u = neg ? UINT64_MAX : 0;
        for (size_t i = 0; i < k; i++) {
            u &= ~((uint64_t)0xFF << (8 * i));
            u |= (uint64_t)s[i] << (8 * i);
        }
        int64_t v;
        memcpy(&v, &u, sizeof v);
        return push(p, mk_int(p, FERRY__PK_INT, v));
    }
    return push(p, mk_bytes(p, FERRY__PK_BIGINT, s, n, (int64_t)(s - p->d), 0));
}

static int hexval(uint8_t c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Appends code point cp as UTF-8 (surrogates encoded like any other code point). */
static size_t put_utf8(uint8_t *o, uint32_t cp)
{
    if (cp < 0x80) {
        o[0] = (uint8_t)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (uint8_t)(0xC0 | cp >> 6);
        o[1] = (uint8_t)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (uint8_t)(0xE0 | cp >> 12);
        o[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (uint8_t)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (uint8_t)(0xF0 | cp >> 18);
    o[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (uint8_t)(0x80 | (cp & 0x3F));
    return 4;
}

/* Decodes one UTF-8 sequence at s[0..n) (surrogates allowed); returns its length or 0. */
static size_t utf8_next(const uint8_t *s, size_t n, uint32_t *cp)
{
    uint8_t c = s[0];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    size_t len;
    uint32_t v, min;
    if (c >= 0xC2 && c <= 0xDF) { len = 2; v = c & 0x1F; min = 0x80; }
    else if (c >= 0xE0 && c <= 0xEF) { len = 3; v = c & 0x0F; min = 0x800; }
    else if (c >= 0xF0 && c <= 0xF4) { len = 4; v = c & 0x07; min = 0x10000; }
    else return 0;
    if (n < len) return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        v = v << 6 | (s[i] & 0x3F);
    }
    if (v < min || v > 0x10FFFF) return 0;
    *cp = v;
    return len;
}

static bool utf8_valid(const uint8_t *s, size_t n)
{
    uint32_t cp;
    for (size_t i = 0; i < n;) {
        size_t k = utf8_next(s + i, n - i, &cp);
        if (!k) return false;
        i += k;
    }
    return true;
}

/* STRING argument: quoted, then codecs.escape_decode. */
static int push_string(ferry__pickle *p, const uint8_t *s, size_t n)
{
    if (n < 2 || s[0] != s[n - 1] || (s[0] != '\'' && s[0] != '"'))
        return fail(p, FERRY_E_CORRUPT, "the STRING opcode argument must be quoted");
    s++;
    n -= 2;
    if (!memchr(s, '\\', n))
        return push(p, mk_bytes(p, FERRY__PK_STR, s, n, (int64_t)(s - p->d), FERRY__PK_F_PY2));
    uint8_t *o = ferry__arena_alloc(&p->arena, n ? n : 1);
    if (!o) return p->ctx->err_code;
    size_t k = 0;
    for (size_t i = 0; i < n;) {
        if (s[i] != '\\') {
            o[k++] = s[i++];
            continue;
        }
        if (++i >= n) return fail(p, FERRY_E_CORRUPT, "trailing \\ in string");
        uint8_t c = s[i++];
        switch (c) {
        case '\n': break;
        case '\\': o[k++] = '\\'; break;
        case '\'': o[k++] = '\''; break;
        case '"': o[k++] = '"'; break;
        case 'b': o[k++] = '\b'; break;
        case 'f': o[k++] = '\f'; break;
        case 't': o[k++] = '\t'; break;
        case 'n': o[k++] = '\n'; break;
        case 'r': o[k++] = '\r'; break;
        case 'v': o[k++] = '\v'; break;
        case 'a': o[k++] = '\a'; break;
        case '0': case '1': case '2': case '3': case '4': case '5': case '6': case '7': {
            unsigned v = (unsigned)(c - '0');
            for (int j = 0; j < 2 && i < n && s[i] >= '0' && s[i] <= '7'; j++)
                v = v * 8 + (unsigned)(s[i++] - '0');
            o[k++] = (uint8_t)v; /* values above 0o377 keep their low byte, as CPython does */
            break;
        }
        case 'x': {
            int h1 = i < n ? hexval(s[i]) : -1;
            int h2 = i + 1 < n ? hexval(s[i + 1]) : -1;
            if (h1 < 0 || h2 < 0)
                return fail(p, FERRY_E_CORRUPT, "invalid \\x escape at position %zu", i - 2);
            o[k++] = (uint8_t)(h1 << 4 | h2);
            i += 2;
            break;
        }
        default:
            o[k++] = '\\';
            o[k++] = c;
            break;
        }
    }
    return push(p, mk_bytes(p, FERRY__PK_STR, o, k, -1, FERRY__PK_F_PY2));
}

/* UNICODE argument: raw-unicode-escape. Latin-1 bytes become UTF-8 (at most 2x). */
static int push_raw_unicode(ferry__pickle *p, const uint8_t *s, size_t n)
{
    if (n > SIZE_MAX / 2 - 4) return fail(p, FERRY_E_LIMIT, "line too long");
    uint8_t *o = ferry__arena_alloc(&p->arena, 2 * n + 4);
    if (!o) return p->ctx->err_code;
    size_t k = 0;
    for (size_t i = 0; i < n;) {
        if (s[i] != '\\') {
            k += put_utf8(o + k, s[i++]);
            continue;
        }
        size_t run = 0;
        while (i < n && s[i] == '\\') {
            o[k++] = '\\';
            i++;
            run++;
        }
        if ((run & 1) == 0 || i >= n || (s[i] != 'u' && s[i] != 'U')) continue;
        k--; /* the last backslash starts the escape */
        size_t digits = s[i] == 'u' ? 4 : 8;
        i++;
        uint32_t cp = 0;
        for (size_t j = 0; j < digits; j++) {
            int h = i < n ? hexval(s[i]) : -1;
            if (h < 0)
                return fail(p, FERRY_E_CORRUPT, "truncated \\%cXXXX escape",
                            digits == 4 ? 'u' : 'U');
            cp = cp << 4 | (uint32_t)h;
            i++;
        }
        if (cp > 0x10FFFF)
            return fail(p, FERRY_E_CORRUPT, "\\Uxxxxxxxx out of range");
        /* An escape is 6 or 10 input bytes and yields at most 4 output bytes. */
        k += put_utf8(o + k, cp);
    }
    return push(p, mk_bytes(p, FERRY__PK_STR, o, k, -1, 0));
}

/* A UTF-8 string argument read verbatim. */
static int push_utf8(ferry__pickle *p, const uint8_t *s, size_t n)
{
    if (!utf8_valid(s, n)) return fail(p, FERRY_E_CORRUPT, "string is not valid UTF-8");
    return push(p, mk_bytes(p, FERRY__PK_STR, s, n, (int64_t)(s - p->d), 0));
}

/* A NUL-terminated arena copy of a module or class name. */
static int name_copy(ferry__pickle *p, const uint8_t *s, size_t n, const char **out)
{
    if (memchr(s, 0, n) || !utf8_valid(s, n))
        return fail(p, FERRY_E_CORRUPT, "global name is not NUL-free UTF-8");
    char *c = ferry__arena_strndup(&p->arena, (const char *)s, n);
    if (!c) return p->ctx->err_code;
    *out = c;
    return FERRY_OK;
}

static ferry__pk_node *mk_global(ferry__pickle *p, const char *module, const char *name)
{
    ferry__pk_node *g = mk(p, FERRY__PK_GLOBAL);
    if (g) {
        g->v.g.module = module;
        g->v.g.name   = name;
    }
    return g;
}

/* ============================================================================================
 * Helpers for consumers
 * ========================================================================================== */

bool ferry__pk_str_is(const ferry__pk_node *n, const char *s)
{
    size_t k = strlen(s);
    return n && n->kind == FERRY__PK_STR && n->v.s.n == k && memcmp(n->v.s.p, s, k) == 0;
}

bool ferry__pk_global_is(const ferry__pk_node *n, const char *module, const char *name)
{
    if (!n || n->kind != FERRY__PK_GLOBAL || strcmp(n->v.g.name, name) != 0) return false;
    const char *m = n->v.g.module;
    if (strcmp(m, module) == 0) return true;
    /* fix_imports: protocol 0-2 pickles written by Python 2 */
    if (strcmp(module, "builtins") == 0) return strcmp(m, "__builtin__") == 0;
    if (strcmp(module, "copyreg") == 0) return strcmp(m, "copy_reg") == 0;
    return false;
}

typedef struct dtype_name {
    const char *name;
    ferry_dtype dt;
} dtype_name;

static const dtype_name torch_dtypes[] = {
    {"float32", FERRY_DTYPE_F32},        {"float", FERRY_DTYPE_F32},
    {"float64", FERRY_DTYPE_F64},        {"double", FERRY_DTYPE_F64},
    {"float16", FERRY_DTYPE_F16},        {"half", FERRY_DTYPE_F16},
    {"bfloat16", FERRY_DTYPE_BF16},      {"int8", FERRY_DTYPE_I8},
    {"uint8", FERRY_DTYPE_U8},           {"int16", FERRY_DTYPE_I16},
    {"short", FERRY_DTYPE_I16},          {"int32", FERRY_DTYPE_I32},
    {"int", FERRY_DTYPE_I32},            {"int64", FERRY_DTYPE_I64},
    {"long", FERRY_DTYPE_I64},           {"bool", FERRY_DTYPE_BOOL},
    {"uint16", FERRY_DTYPE_U16},         {"uint32", FERRY_DTYPE_U32},
    {"uint64", FERRY_DTYPE_U64},         {"complex32", FERRY_DTYPE_C32},
    {"chalf", FERRY_DTYPE_C32},          {"complex64", FERRY_DTYPE_C64},
    {"cfloat", FERRY_DTYPE_C64},         {"complex128", FERRY_DTYPE_C128},
    {"cdouble", FERRY_DTYPE_C128},       {"float8_e4m3fn", FERRY_DTYPE_F8_E4M3FN},
    {"float8_e4m3fnuz", FERRY_DTYPE_F8_E4M3FNUZ}, {"float8_e5m2", FERRY_DTYPE_F8_E5M2},
    {"float8_e5m2fnuz", FERRY_DTYPE_F8_E5M2FNUZ}, {"float8_e8m0fnu", FERRY_DTYPE_F8_E8M0},
    /* legacy storage classes (FORMATS.md §2a) */
    {"DoubleStorage", FERRY_DTYPE_F64},  {"FloatStorage", FERRY_DTYPE_F32},
    {"HalfStorage", FERRY_DTYPE_F16},    {"LongStorage", FERRY_DTYPE_I64},
    {"IntStorage", FERRY_DTYPE_I32},     {"ShortStorage", FERRY_DTYPE_I16},
    {"CharStorage", FERRY_DTYPE_I8},     {"ByteStorage", FERRY_DTYPE_U8},
    {"BoolStorage", FERRY_DTYPE_BOOL},   {"BFloat16Storage", FERRY_DTYPE_BF16},
    {"ComplexDoubleStorage", FERRY_DTYPE_C128}, {"ComplexFloatStorage", FERRY_DTYPE_C64},
    {"ComplexHalfStorage", FERRY_DTYPE_C32}, {"UInt16Storage", FERRY_DTYPE_U16},
    {"UInt32Storage", FERRY_DTYPE_U32},  {"UInt64Storage", FERRY_DTYPE_U64},
};

ferry_dtype ferry__pk_torch_dtype(const char *name)
{
    for (size_t i = 0; i < FERRY_ARRAY_LEN(torch_dtypes); i++)
        if (strcmp(torch_dtypes[i].name, name) == 0) return torch_dtypes[i].dt;
    return FERRY_DTYPE_UNKNOWN;
}

bool ferry__pk_numpy_dtype(const ferry__pk_node *n, ferry_dtype *dt, uint32_t *itemsize,
                           bool *big)
{
    if (!n || n->kind != FERRY__PK_DTYPE) return false;
    const char *s = n->v.dt->descr;
    size_t len = n->v.dt->descr_len;
    char order = n->v.dt->byteorder;
    if (len && (s[0] == '<' || s[0] == '>' || s[0] == '|' || s[0] == '=')) {
        if (!order) order = s[0];
        s++;
        len--;
    }
    if (len < 2 || len > 12) return false;
    char kind = s[0];
    uint64_t size = 0;
    for (size_t i = 1; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') return false;
        size = size * 10 + (uint64_t)(s[i] - '0');
    }
    if (size == 0 || size > (1u << 30)) return false;
    *big      = order == '>';
    *itemsize = (uint32_t)size;
    switch (kind) {
    case 'b': *dt = size == 1 ? FERRY_DTYPE_BOOL : FERRY_DTYPE_UNKNOWN; break;
    case 'i':
        *dt = size == 1 ? FERRY_DTYPE_I8 : size == 2 ? FERRY_DTYPE_I16
            : size == 4 ? FERRY_DTYPE_I32 : size == 8 ? FERRY_DTYPE_I64 : FERRY_DTYPE_UNKNOWN;
        break;
    case 'u':
        *dt = size == 1 ? FERRY_DTYPE_U8 : size == 2 ? FERRY_DTYPE_U16
            : size == 4 ? FERRY_DTYPE_U32 : size == 8 ? FERRY_DTYPE_U64 : FERRY_DTYPE_UNKNOWN;
        break;
    case 'f':
        *dt = size == 2 ? FERRY_DTYPE_F16 : size == 4 ? FERRY_DTYPE_F32
            : size == 8 ? FERRY_DTYPE_F64 : FERRY_DTYPE_UNKNOWN;
        break;
    case 'c':
        *dt = size == 8 ? FERRY_DTYPE_C64 : size == 16 ? FERRY_DTYPE_C128 : FERRY_DTYPE_UNKNOWN;
        break;
    case 'S': *dt = FERRY_DTYPE_BYTES_FIXED; *big = false; break;
    case 'U': *dt = size % 4 == 0 ? FERRY_DTYPE_UCS4_FIXED : FERRY_DTYPE_UNKNOWN; break;
    default: *dt = FERRY_DTYPE_UNKNOWN; break;
    }
    /* numpy's "U5" counts characters in the descr argument ("U5" = 20 bytes) */
    if (kind == 'U' && n->v.dt->descr[0] != '<' && n->v.dt->descr[0] != '>') {
        *itemsize = (uint32_t)size * 4;
        *dt = FERRY_DTYPE_UCS4_FIXED;
    }
    if (*dt != FERRY_DTYPE_UNKNOWN && *dt != FERRY_DTYPE_BYTES_FIXED &&
        *dt != FERRY_DTYPE_UCS4_FIXED && ferry_dtype_bits(*dt) / 8 != *itemsize && kind != 'U')
        return false;
    return *dt != FERRY_DTYPE_UNKNOWN;
}

/* ============================================================================================
 * The symbolic table: well-known constructors, matched by (module, name), never run
 * ========================================================================================== */

static bool is_intlike(const ferry__pk_node *n)
{
    return n && (n->kind == FERRY__PK_INT || n->kind == FERRY__PK_BOOL);
}

static bool is_strlike(const ferry__pk_node *n) { return n && n->kind == FERRY__PK_STR; }

static bool is_seq(const ferry__pk_node *n)
{
    return n && (n->kind == FERRY__PK_TUPLE || n->kind == FERRY__PK_LIST);
}

/* A tuple of non-negative ints as an int64 array (at most limits.dims entries). */
static bool int_tuple(ferry__pickle *p, const ferry__pk_node *t, int32_t *ndim, int64_t **out)
{
    if (!is_seq(t) || t->v.c.n > p->ctx->limits.dims) return false;
    int64_t *a = ferry__arena_alloc(&p->arena, (t->v.c.n ? t->v.c.n : 1) * sizeof *a);
    if (!a) return false;
    for (size_t i = 0; i < t->v.c.n; i++) {
        if (!is_intlike(t->v.c.items[i]) || t->v.c.items[i]->v.i < 0) return false;
        a[i] = t->v.c.items[i]->v.i;
    }
    *ndim = (int32_t)t->v.c.n;
    *out  = a;
    return true;
}

static bool mod_is(const ferry__pk_node *g, const char *const *mods, const char *name)
{
    for (; *mods; mods++)
        if (ferry__pk_global_is(g, *mods, name)) return true;
    return false;
}

static const char *const np_multiarray[] = {"numpy.core.multiarray", "numpy._core.multiarray",
                                            NULL};
static const char *const np_numeric[] = {"numpy.core.numeric", "numpy._core.numeric", NULL};
static const char *const np_root[] = {"numpy", NULL};
static const char *const torch_utils[] = {"torch._utils", NULL};
static const char *const builtins_mod[] = {"builtins", NULL};

/* Latin-1 (or ASCII / UTF-8) encoding of a UTF-8 str node, for _codecs.encode and
 * bytearray(str, enc). NULL when the text does not fit the encoding (Python would raise). */
static ferry__pk_node *encode_str(ferry__pickle *p, const ferry__pk_node *s,
                                  const ferry__pk_node *enc, uint8_t flags)
{
    bool latin1 = ferry__pk_str_is(enc, "latin1") || ferry__pk_str_is(enc, "latin-1") ||
                  ferry__pk_str_is(enc, "iso-8859-1") || ferry__pk_str_is(enc, "iso8859-1");
    bool ascii = ferry__pk_str_is(enc, "ascii");
    bool utf8 = ferry__pk_str_is(enc, "utf-8") || ferry__pk_str_is(enc, "utf8");
    if (!is_strlike(s) || (!latin1 && !ascii && !utf8)) return NULL;
    if (s->flags & FERRY__PK_F_PY2) return NULL;
    if (utf8) return mk_bytes(p, FERRY__PK_BYTES, s->v.s.p, s->v.s.n, s->v.s.src_off, flags);
    uint8_t *o = ferry__arena_alloc(&p->arena, s->v.s.n ? s->v.s.n : 1);
    if (!o) return NULL;
    size_t k = 0;
    for (size_t i = 0; i < s->v.s.n;) {
        uint32_t cp;
        size_t l = utf8_next(s->v.s.p + i, s->v.s.n - i, &cp);
        if (!l || cp > (ascii ? 0x7Fu : 0xFFu)) return NULL;
        o[k++] = (uint8_t)cp;
        i += l;
    }
    bool verbatim = k == s->v.s.n; /* pure ASCII: same bytes as the input */
    return mk_bytes(p, FERRY__PK_BYTES, o, k, verbatim ? s->v.s.src_off : -1, flags);
}

static ferry__pk_node *mk_tensor(ferry__pickle *p, ferry__pk_node *const *a, size_t n,
                                 int version)
{
    if (n < 4 || !is_intlike(a[1]) || a[1]->v.i < 0) return NULL;
    ferry__pk_tensor *t = ferry__arena_alloc(&p->arena, sizeof *t);
    if (!t) return NULL;
    int32_t nd2 = 0;
    if (!int_tuple(p, a[2], &t->ndim, &t->shape) || !int_tuple(p, a[3], &nd2, &t->stride) ||
        nd2 != t->ndim)
        return NULL;
    t->storage = (ferry__pk_node *)a[0];
    t->offset  = a[1]->v.i;
    t->version = version;
    if (n >= 5 && is_intlike(a[4])) t->requires_grad = a[4]->v.i != 0;
    if (a[0]->kind == FERRY__PK_STORAGE) {
        t->dtype      = a[0]->v.st->dtype;
        t->dtype_name = a[0]->v.st->cls;
    }
    if (version == 3) {
        if (n < 7 || a[6]->kind != FERRY__PK_GLOBAL || strcmp(a[6]->v.g.module, "torch") != 0)
            return NULL;
        t->dtype      = ferry__pk_torch_dtype(a[6]->v.g.name);
        t->dtype_name = a[6]->v.g.name;
    }
    ferry__pk_node *nd = mk(p, FERRY__PK_TENSOR);
    if (nd) nd->v.ten = t;
    return nd;
}

/* The value of fn(*args) when fn is a constructor ferry knows, else NULL (no error set
 * unless allocation failed). */
static ferry__pk_node *interp_call(ferry__pickle *p, const ferry__pk_node *fn,
                                   const ferry__pk_node *args)
{
    if (!fn || fn->kind != FERRY__PK_GLOBAL || !args || args->kind != FERRY__PK_TUPLE)
        return NULL;
    ferry__pk_node *const *a = args->v.c.items;
    size_t n = args->v.c.n;
    if (ferry__pk_global_is(fn, "collections", "OrderedDict") && n == 0) {
        ferry__pk_node *d = mk_seq(p, FERRY__PK_DICT, NULL, 0);
        if (d) d->flags |= FERRY__PK_F_ORDERED;
        return d;
    }
    if (mod_is(fn, builtins_mod, "set") || mod_is(fn, builtins_mod, "frozenset")) {
        if (n > 1 || (n == 1 && !is_seq(a[0]) && a[0]->kind != FERRY__PK_SET)) return NULL;
        ferry__pk_node *s = mk_seq(p, FERRY__PK_SET, NULL, 0);
        if (!s) return NULL;
        if (fn->v.g.name[0] == 'f') s->flags |= FERRY__PK_F_FROZEN;
        for (size_t i = 0; n == 1 && i < a[0]->v.c.n; i++)
            if (set_add(p, s, a[0]->v.c.items[i]) < 0) return NULL;
        return s;
    }
    if (mod_is(fn, builtins_mod, "bytearray")) {
        if (n == 0) return mk_bytes(p, FERRY__PK_BYTES, NULL, 0, -1, FERRY__PK_F_BYTEARRAY);
        if (n == 1 && a[0]->kind == FERRY__PK_BYTES)
            return mk_bytes(p, FERRY__PK_BYTES, a[0]->v.s.p, a[0]->v.s.n, a[0]->v.s.src_off,
                            FERRY__PK_F_BYTEARRAY);
        if (n == 2) return encode_str(p, a[0], a[1], FERRY__PK_F_BYTEARRAY);
        return NULL;
    }
    if (mod_is(fn, builtins_mod, "complex")) {
        double c[2] = {0, 0};
        if (n > 2) return NULL;
        for (size_t i = 0; i < n; i++) {
            if (a[i]->kind == FERRY__PK_FLOAT) c[i] = a[i]->v.f;
            else if (is_intlike(a[i])) c[i] = (double)a[i]->v.i;
            else return NULL;
        }
        ferry__pk_node *x = mk(p, FERRY__PK_COMPLEX);
        if (x) memcpy(x->v.cx, c, sizeof c);
        return x;
    }
    if (ferry__pk_global_is(fn, "_codecs", "encode") && n == 2)
        return encode_str(p, a[0], a[1], 0);
    if (mod_is(fn, np_multiarray, "_reconstruct") && n == 3) {
        ferry__pk_array *arr = ferry__arena_alloc(&p->arena, sizeof *arr);
        if (!arr) return NULL;
        arr->cls = a[0];
        ferry__pk_node *x = mk(p, FERRY__PK_ARRAY);
        if (x) x->v.arr = arr;
        return x;
    }
    if (mod_is(fn, np_root, "dtype") && n >= 1 && is_strlike(a[0])) {
        ferry__pk_dtype *dt = ferry__arena_alloc(&p->arena, sizeof *dt);
        if (!dt) return NULL;
        char *s = ferry__arena_strndup(&p->arena, (const char *)a[0]->v.s.p, a[0]->v.s.n);
        if (!s) return NULL;
        dt->descr     = s;
        dt->descr_len = a[0]->v.s.n;
        ferry__pk_node *x = mk(p, FERRY__PK_DTYPE);
        if (x) x->v.dt = dt;
        return x;
    }
    if (mod_is(fn, np_multiarray, "scalar") && n == 2 && a[0]->kind == FERRY__PK_DTYPE &&
        (a[1]->kind == FERRY__PK_BYTES || a[1]->kind == FERRY__PK_STR)) {
        ferry__pk_array *arr = ferry__arena_alloc(&p->arena, sizeof *arr);
        if (!arr) return NULL;
        arr->dtype = a[0];
        arr->data  = a[1];
        arr->built = true;
        ferry__pk_node *x = mk(p, FERRY__PK_ARRAY);
        if (x) x->v.arr = arr;
        return x;
    }
    if (mod_is(fn, np_numeric, "_frombuffer") && n == 4 && a[1]->kind == FERRY__PK_DTYPE &&
        (a[0]->kind == FERRY__PK_BYTES || a[0]->kind == FERRY__PK_BUFFER)) {
        ferry__pk_array *arr = ferry__arena_alloc(&p->arena, sizeof *arr);
        if (!arr || !int_tuple(p, a[2], &arr->ndim, &arr->shape)) return NULL;
        arr->dtype   = a[1];
        arr->data    = a[0];
        arr->fortran = ferry__pk_str_is(a[3], "F");
        arr->built   = true;
        ferry__pk_node *x = mk(p, FERRY__PK_ARRAY);
        if (x) x->v.arr = arr;
        return x;
    }
    if (mod_is(fn, torch_utils, "_rebuild_tensor_v2")) return mk_tensor(p, a, n, 2);
    if (mod_is(fn, torch_utils, "_rebuild_tensor_v3")) return mk_tensor(p, a, n, 3);
    if (mod_is(fn, torch_utils, "_rebuild_tensor")) return mk_tensor(p, a, n, 1);
    if ((mod_is(fn, torch_utils, "_rebuild_parameter") ||
         mod_is(fn, torch_utils, "_rebuild_parameter_with_state")) &&
        n >= 3 && a[0]->kind == FERRY__PK_TENSOR) {
        a[0]->v.ten->parameter = true;
        if (is_intlike(a[1])) a[0]->v.ten->requires_grad = a[1]->v.i != 0;
        return a[0];
    }
    /* torch < 1.0 pickled parameters as torch.nn.parameter.Parameter(tensor, requires_grad) */
    if (ferry__pk_global_is(fn, "torch.nn.parameter", "Parameter") && n >= 1 && n <= 2 &&
        a[0]->kind == FERRY__PK_TENSOR) {
        a[0]->v.ten->parameter = true;
        if (n == 2 && is_intlike(a[1])) a[0]->v.ten->requires_grad = a[1]->v.i != 0;
        return a[0];
    }
    return NULL;
}

/* Applies BUILD's state to obj when ferry knows what it means; false otherwise. */
static bool interp_build(ferry__pickle *p, ferry__pk_node *obj, ferry__pk_node *state)
{
    if (obj->kind == FERRY__PK_ARRAY && !obj->v.arr->built && state->kind == FERRY__PK_TUPLE &&
        (state->v.c.n == 5 || state->v.c.n == 4)) {
        ferry__pk_node *const *s = state->v.c.items + (state->v.c.n == 5);
        ferry__pk_array *arr = obj->v.arr;
        if (!is_intlike(s[2]) || s[1]->kind != FERRY__PK_DTYPE ||
            !int_tuple(p, s[0], &arr->ndim, &arr->shape))
            return false;
        arr->dtype   = s[1];
        arr->fortran = s[2]->v.i != 0;
        arr->data    = s[3];
        arr->built   = true;
        return true;
    }
    if (obj->kind == FERRY__PK_DTYPE && state->kind == FERRY__PK_TUPLE && state->v.c.n >= 2 &&
        is_strlike(state->v.c.items[1]) && state->v.c.items[1]->v.s.n == 1) {
        obj->v.dt->byteorder = (char)state->v.c.items[1]->v.s.p[0];
        return true;
    }
    return false;
}

/* A persistent id ('storage', cls, key, location, numel[, view_metadata]) as a STORAGE. */
static ferry__pk_node *interp_persid(ferry__pickle *p, ferry__pk_node *pid)
{
    if (pid->kind != FERRY__PK_TUPLE || pid->v.c.n < 5 || pid->v.c.n > 6) return NULL;
    ferry__pk_node *const *a = pid->v.c.items;
    if (!ferry__pk_str_is(a[0], "storage") || a[1]->kind != FERRY__PK_GLOBAL ||
        strcmp(a[1]->v.g.module, "torch") != 0 || !is_intlike(a[4]) || a[4]->v.i < 0)
        return NULL;
    ferry__pk_storage *st = ferry__arena_alloc(&p->arena, sizeof *st);
    if (!st) return NULL;
    const ferry__pk_node *key = a[2];
    char buf[32];
    if (is_strlike(key)) {
        st->key = ferry__arena_strndup(&p->arena, (const char *)key->v.s.p, key->v.s.n);
    } else if (is_intlike(key)) {
        snprintf(buf, sizeof buf, "%lld", (long long)key->v.i);
        st->key = ferry__arena_strndup(&p->arena, buf, strlen(buf));
    } else {
        return NULL;
    }
    st->location = is_strlike(a[3]) ? ferry__arena_strndup(&p->arena, (const char *)a[3]->v.s.p,
                                                           a[3]->v.s.n)
                                    : "";
    if (!st->key || !st->location) return NULL;
    st->cls   = a[1]->v.g.name;
    st->dtype = ferry__pk_torch_dtype(st->cls);
    st->numel = a[4]->v.i;
    if (pid->v.c.n == 6 && a[5]->kind == FERRY__PK_TUPLE && a[5]->v.c.n == 3 &&
        is_strlike(a[5]->v.c.items[0]) && is_intlike(a[5]->v.c.items[1]) &&
        is_intlike(a[5]->v.c.items[2])) {
        const ferry__pk_node *vk = a[5]->v.c.items[0];
        st->has_view    = true;
        st->view_key    = ferry__arena_strndup(&p->arena, (const char *)vk->v.s.p, vk->v.s.n);
        st->view_offset = a[5]->v.c.items[1]->v.i;
        st->view_size   = a[5]->v.c.items[2]->v.i;
        if (!st->view_key) return NULL;
    }
    ferry__pk_node *x = mk(p, FERRY__PK_STORAGE);
    if (x) x->v.st = st;
    return x;
}

/* ============================================================================================
 * Compound opcodes
 * ========================================================================================== */

/* fn(*args): the symbolic value when known, else an opaque CALL. Recorded either way. */
static int do_call(ferry__pickle *p, int rkind, ferry__pk_node *fn, ferry__pk_node *args,
                   ferry__pk_node *kwargs, int kind)
{
    FERRY_TRY(record(p, rkind, fn, NULL, NULL));
    if (fn->kind == FERRY__PK_CALL || fn->kind == FERRY__PK_NEWOBJ)
        p->anomalies |= FERRY__PK_A_CALL_RESULT;
    ferry__pk_node *v = kwargs ? NULL : interp_call(p, fn, args);
    if (!v && p->ctx->err_code < 0 && (p->ctx->err_code == FERRY_E_NOMEM ||
                                       p->ctx->err_code == FERRY_E_LIMIT))
        return p->ctx->err_code;
    if (!v) {
        v = mk(p, kind);
        if (!v) return p->ctx->err_code;
        v->v.call.fn     = fn;
        v->v.call.args   = args;
        v->v.call.kwargs = kwargs;
    }
    return push(p, v);
}

static int do_build(ferry__pickle *p)
{
    ferry__pk_node *state = NULL, *obj = NULL;
    FERRY_TRY(pop(p, &state));
    FERRY_TRY(top(p, &obj));
    if (obj->kind == FERRY__PK_GLOBAL) p->anomalies |= FERRY__PK_A_BUILD_GLOBAL;
    FERRY_TRY(record(p, FERRY__PK_R_BUILD, obj, NULL, NULL));
    if (!interp_build(p, obj, state)) obj->state = state;
    return FERRY_OK;
}

static int do_persid(ferry__pickle *p, ferry__pk_node *pid)
{
    FERRY_TRY(record(p, FERRY__PK_R_PERSID, pid, NULL, NULL));
    ferry__pk_node *v = interp_persid(p, pid);
    if (!v) {
        if (p->ctx->err_code == FERRY_E_NOMEM || p->ctx->err_code == FERRY_E_LIMIT)
            return p->ctx->err_code;
        v = mk(p, FERRY__PK_PERSID);
        if (!v) return p->ctx->err_code;
        v->v.call.args = pid;
    }
    return push(p, v);
}

/* Items stack[k..sp) as a new container; the items are popped. */
static int collect(ferry__pickle *p, size_t k, int kind)
{
    size_t n = p->sp - k;
    ferry__pk_node *c;
    if (kind == FERRY__PK_DICT || kind == FERRY__PK_SET) {
        if (kind == FERRY__PK_DICT && n % 2)
            return fail(p, FERRY_E_CORRUPT, "odd number of items for DICT");
        c = mk_seq(p, kind, NULL, 0);
        if (!c) return p->ctx->err_code;
        for (size_t i = k; i < p->sp; i += kind == FERRY__PK_DICT ? 2 : 1)
            FERRY_TRY(kind == FERRY__PK_DICT ? dict_set(p, c, p->stack[i], p->stack[i + 1])
                                             : set_add(p, c, p->stack[i]));
    } else {
        c = mk_seq(p, kind, n ? p->stack + k : NULL, n);
        if (!c) return p->ctx->err_code;
    }
    p->sp = k;
    return push(p, c);
}

/* APPENDS / SETITEMS / ADDITEMS: items since the mark into the object just below it. */
static int extend_marked(ferry__pickle *p)
{
    size_t k = 0;
    FERRY_TRY(pop_mark(p, &k));
    if (k == 0 || k <= fence(p)) return fail(p, FERRY_E_CORRUPT, "stack underflow");
    ferry__pk_node *t = p->stack[k - 1];
    size_t n = p->sp - k;
    if (p->op == OP_SETITEMS) {
        if (n % 2) return fail(p, FERRY_E_CORRUPT, "odd number of items for SETITEMS");
        if (t->kind != FERRY__PK_DICT) p->anomalies |= FERRY__PK_A_SETITEM_NONDICT;
        else
            for (size_t i = k; i < p->sp; i += 2)
                FERRY_TRY(dict_set(p, t, p->stack[i], p->stack[i + 1]));
    } else if (p->op == OP_ADDITEMS) {
        if (t->kind != FERRY__PK_SET || (t->flags & FERRY__PK_F_FROZEN))
            p->anomalies |= FERRY__PK_A_APPEND_NONLIST;
        else
            for (size_t i = k; i < p->sp; i++) FERRY_TRY(set_add(p, t, p->stack[i]));
    } else {
        if (t->kind != FERRY__PK_LIST) p->anomalies |= FERRY__PK_A_APPEND_NONLIST;
        else {
            FERRY_TRY(seq_reserve(p, t, n));
            for (size_t i = k; i < p->sp; i++) t->v.c.items[t->v.c.n++] = p->stack[i];
        }
    }
    p->sp = k;
    return FERRY_OK;
}

static int do_global(ferry__pickle *p, int rkind, const char *module, const char *name)
{
    FERRY_TRY(record(p, rkind, NULL, module, name));
    return push(p, mk_global(p, module, name));
}

/* ============================================================================================
 * The loop
 * ========================================================================================== */

static int step(ferry__pickle *p, ferry__pk_node **result, bool *stop)
{
    const uint8_t *s = NULL;
    size_t n = 0;
    ferry__pk_node *a = NULL, *b = NULL, *c = NULL;
    size_t k = 0;
    switch (p->op) {
    case OP_MARK:
        if (p->sp + p->nmarks >= p->lim.max_stack)
            return fail(p, FERRY_E_LIMIT, "stack deeper than %llu entries",
                        (unsigned long long)p->lim.max_stack);
        FERRY_TRY(grow(p, (void **)&p->marks, &p->marks_cap, sizeof *p->marks, p->nmarks + 1));
        p->marks[p->nmarks++] = p->sp;
        return FERRY_OK;
    case OP_STOP:
        FERRY_TRY(pop(p, result));
        *stop = true;
        return FERRY_OK;
    case OP_POP:
        if (p->nmarks && p->marks[p->nmarks - 1] == p->sp) {
            p->nmarks--;
            return FERRY_OK;
        }
        return pop(p, &a);
    case OP_POP_MARK:
        FERRY_TRY(pop_mark(p, &k));
        p->sp = k;
        return FERRY_OK;
    case OP_DUP:
        FERRY_TRY(top(p, &a));
        return push(p, a);
    case OP_FLOAT: {
        FERRY_TRY(readline(p, &s, &n));
        char buf[128];
        if (n == 0 || n >= sizeof buf || memchr(s, 0, n))
            return fail(p, FERRY_E_CORRUPT, "invalid float literal");
        memcpy(buf, s, n);
        buf[n] = 0;
        char *end = NULL;
        double v = strtod(buf, &end);
        if (end != buf + n || is_space((uint8_t)buf[0]))
            return fail(p, FERRY_E_CORRUPT, "invalid float literal \"%s\"", buf);
        a = mk(p, FERRY__PK_FLOAT);
        if (a) a->v.f = v;
        return push(p, a);
    }
    case OP_INT:
        FERRY_TRY(readline(p, &s, &n));
        if (n == 2 && s[0] == '0' && (s[1] == '0' || s[1] == '1'))
            return push(p, mk_int(p, FERRY__PK_BOOL, s[1] == '1'));
        return push_text_int(p, s, n);
    case OP_LONG:
        FERRY_TRY(readline(p, &s, &n));
        if (n && s[n - 1] == 'L') n--;
        return push_text_int(p, s, n);
    case OP_BININT:
        FERRY_TRY(take(p, 4, &s));
        return push(p, mk_int(p, FERRY__PK_INT, (int32_t)ferry__rd32le(s)));
    case OP_BININT1:
        FERRY_TRY(take(p, 1, &s));
        return push(p, mk_int(p, FERRY__PK_INT, s[0]));
    case OP_BININT2:
        FERRY_TRY(take(p, 2, &s));
        return push(p, mk_int(p, FERRY__PK_INT, ferry__rd16le(s)));
    case OP_LONG1:
        FERRY_TRY(take(p, 1, &s));
        n = s[0];
        FERRY_TRY(take(p, n, &s));
        return push_binlong(p, s, n);
    case OP_LONG4: {
        FERRY_TRY(take(p, 4, &s));
        int32_t len = (int32_t)ferry__rd32le(s);
        if (len < 0) return fail(p, FERRY_E_CORRUPT, "LONG pickle has negative byte count");
        FERRY_TRY(take(p, (uint64_t)len, &s));
        return push_binlong(p, s, (size_t)len);
    }
    case OP_NONE: return push(p, mk(p, FERRY__PK_NONE));
    case OP_NEWTRUE: return push(p, mk_int(p, FERRY__PK_BOOL, 1));
    case OP_NEWFALSE: return push(p, mk_int(p, FERRY__PK_BOOL, 0));
    case OP_BINFLOAT: {
        FERRY_TRY(take(p, 8, &s));
        uint64_t u = ferry__rd64be(s); /* the one big-endian field of the format */
        a = mk(p, FERRY__PK_FLOAT);
        if (a) memcpy(&a->v.f, &u, sizeof u);
        return push(p, a);
    }
    case OP_PERSID:
        FERRY_TRY(readline(p, &s, &n));
        for (size_t i = 0; i < n; i++)
            if (s[i] >= 0x80)
                return fail(p, FERRY_E_CORRUPT, "persistent IDs in protocol 0 must be ASCII");
        a = mk_bytes(p, FERRY__PK_STR, s, n, (int64_t)(s - p->d), 0);
        if (!a) return p->ctx->err_code;
        return do_persid(p, a);
    case OP_BINPERSID:
        FERRY_TRY(pop(p, &a));
        return do_persid(p, a);
    case OP_STRING:
        FERRY_TRY(readline(p, &s, &n));
        return push_string(p, s, n);
    case OP_BINSTRING: {
        FERRY_TRY(take(p, 4, &s));
        int32_t len = (int32_t)ferry__rd32le(s);
        if (len < 0) return fail(p, FERRY_E_CORRUPT, "BINSTRING pickle has negative byte count");
        FERRY_TRY(take(p, (uint64_t)len, &s));
        return push(p, mk_bytes(p, FERRY__PK_STR, s, (size_t)len, (int64_t)(s - p->d),
                                FERRY__PK_F_PY2));
    }
    case OP_SHORT_BINSTRING:
        FERRY_TRY(take(p, 1, &s));
        n = s[0];
        FERRY_TRY(take(p, n, &s));
        return push(p, mk_bytes(p, FERRY__PK_STR, s, n, (int64_t)(s - p->d), FERRY__PK_F_PY2));
    case OP_UNICODE:
        FERRY_TRY(readline(p, &s, &n));
        return push_raw_unicode(p, s, n);
    case OP_BINUNICODE:
    case OP_SHORT_BINUNICODE:
    case OP_BINUNICODE8:
    case OP_BINBYTES:
    case OP_SHORT_BINBYTES:
    case OP_BINBYTES8:
    case OP_BYTEARRAY8: {
        uint64_t len;
        int w = p->op == OP_SHORT_BINUNICODE || p->op == OP_SHORT_BINBYTES ? 1
              : p->op == OP_BINUNICODE || p->op == OP_BINBYTES ? 4 : 8;
        FERRY_TRY(take(p, (uint64_t)w, &s));
        len = w == 1 ? s[0] : w == 4 ? ferry__rd32le(s) : ferry__rd64le(s);
        if (len > (uint64_t)INT64_MAX)
            return fail(p, FERRY_E_CORRUPT, "length %llu exceeds the maximum size",
                        (unsigned long long)len);
        if (len > p->ctx->limits.string_length)
            return fail(p, FERRY_E_LIMIT, "length %llu exceeds the string limit",
                        (unsigned long long)len);
        FERRY_TRY(take(p, len, &s));
        if (p->op == OP_BINUNICODE || p->op == OP_SHORT_BINUNICODE || p->op == OP_BINUNICODE8)
            return push_utf8(p, s, (size_t)len);
        return push(p, mk_bytes(p, FERRY__PK_BYTES, s, (size_t)len, (int64_t)(s - p->d),
                                p->op == OP_BYTEARRAY8 ? FERRY__PK_F_BYTEARRAY : 0));
    }
    case OP_APPEND:
        FERRY_TRY(pop(p, &a));
        FERRY_TRY(top(p, &b));
        if (b->kind != FERRY__PK_LIST) {
            p->anomalies |= FERRY__PK_A_APPEND_NONLIST;
            return FERRY_OK;
        }
        return list_add(p, b, a);
    case OP_APPENDS:
    case OP_SETITEMS:
    case OP_ADDITEMS:
        return extend_marked(p);
    case OP_SETITEM:
        FERRY_TRY(pop(p, &a));
        FERRY_TRY(pop(p, &b));
        FERRY_TRY(top(p, &c));
        if (c->kind != FERRY__PK_DICT) {
            p->anomalies |= FERRY__PK_A_SETITEM_NONDICT;
            return FERRY_OK;
        }
        return dict_set(p, c, b, a);
    case OP_BUILD: return do_build(p);
    case OP_GLOBAL:
    case OP_INST: {
        const char *mod, *name;
        FERRY_TRY(readline(p, &s, &n));
        FERRY_TRY(name_copy(p, s, n, &mod));
        FERRY_TRY(readline(p, &s, &n));
        FERRY_TRY(name_copy(p, s, n, &name));
        if (p->op == OP_GLOBAL) return do_global(p, FERRY__PK_R_GLOBAL, mod, name);
        FERRY_TRY(pop_mark(p, &k));
        ferry__pk_node *args = mk_seq(p, FERRY__PK_TUPLE, p->sp > k ? p->stack + k : NULL,
                                      p->sp - k);
        ferry__pk_node *cls = mk_global(p, mod, name);
        if (!args || !cls) return p->ctx->err_code;
        p->sp = k;
        return do_call(p, FERRY__PK_R_INST, cls, args, NULL, FERRY__PK_CALL);
    }
    case OP_STACK_GLOBAL: {
        FERRY_TRY(pop(p, &b));
        FERRY_TRY(pop(p, &a));
        if (!is_strlike(a) || !is_strlike(b)) {
            FERRY_TRY(record(p, FERRY__PK_R_STACK_GLOBAL, NULL, NULL, NULL));
            return fail(p, FERRY_E_CORRUPT, "STACK_GLOBAL requires str operands");
        }
        const char *mod, *name;
        FERRY_TRY(name_copy(p, a->v.s.p, a->v.s.n, &mod));
        FERRY_TRY(name_copy(p, b->v.s.p, b->v.s.n, &name));
        return do_global(p, FERRY__PK_R_STACK_GLOBAL, mod, name);
    }
    case OP_DICT: FERRY_TRY(pop_mark(p, &k)); return collect(p, k, FERRY__PK_DICT);
    case OP_LIST: FERRY_TRY(pop_mark(p, &k)); return collect(p, k, FERRY__PK_LIST);
    case OP_TUPLE: FERRY_TRY(pop_mark(p, &k)); return collect(p, k, FERRY__PK_TUPLE);
    case OP_FROZENSET:
        FERRY_TRY(pop_mark(p, &k));
        FERRY_TRY(collect(p, k, FERRY__PK_SET));
        p->stack[p->sp - 1]->flags |= FERRY__PK_F_FROZEN;
        return FERRY_OK;
    case OP_EMPTY_DICT: return push(p, mk_seq(p, FERRY__PK_DICT, NULL, 0));
    case OP_EMPTY_LIST: return push(p, mk_seq(p, FERRY__PK_LIST, NULL, 0));
    case OP_EMPTY_TUPLE: return push(p, mk_seq(p, FERRY__PK_TUPLE, NULL, 0));
    case OP_EMPTY_SET: return push(p, mk_seq(p, FERRY__PK_SET, NULL, 0));
    case OP_TUPLE1:
    case OP_TUPLE2:
    case OP_TUPLE3:
        n = (size_t)(p->op - OP_TUPLE1 + 1);
        if (p->sp < fence(p) + n) return fail(p, FERRY_E_CORRUPT, "stack underflow");
        return collect(p, p->sp - n, FERRY__PK_TUPLE);
    case OP_GET: {
        FERRY_TRY(readline(p, &s, &n));
        int64_t v = 0;
        bool fits = false, neg = false;
        char buf[32];
        size_t nd;
        if (!parse_decimal(s, n, &v, &fits, &neg, buf, sizeof buf, &nd) || !fits || v < 0)
            return fail(p, FERRY_E_CORRUPT, "invalid memo index");
        return memo_get(p, (uint64_t)v);
    }
    case OP_BINGET:
        FERRY_TRY(take(p, 1, &s));
        return memo_get(p, s[0]);
    case OP_LONG_BINGET:
        FERRY_TRY(take(p, 4, &s));
        return memo_get(p, ferry__rd32le(s));
    case OP_PUT: {
        FERRY_TRY(readline(p, &s, &n));
        int64_t v = 0;
        bool fits = false, neg = false;
        char buf[32];
        size_t nd;
        if (!parse_decimal(s, n, &v, &fits, &neg, buf, sizeof buf, &nd) || !fits)
            return fail(p, FERRY_E_CORRUPT, "invalid memo index");
        if (v < 0) return fail(p, FERRY_E_CORRUPT, "negative PUT argument");
        FERRY_TRY(top(p, &a));
        return memo_put(p, (uint64_t)v, a);
    }
    case OP_BINPUT:
        FERRY_TRY(take(p, 1, &s));
        FERRY_TRY(top(p, &a));
        return memo_put(p, s[0], a);
    case OP_LONG_BINPUT:
        FERRY_TRY(take(p, 4, &s));
        FERRY_TRY(top(p, &a));
        return memo_put(p, ferry__rd32le(s), a);
    case OP_MEMOIZE:
        FERRY_TRY(top(p, &a));
        return memo_put(p, p->memo_n, a);
    case OP_OBJ: {
        FERRY_TRY(pop_mark(p, &k));
        if (p->sp == k) return fail(p, FERRY_E_CORRUPT, "stack underflow");
        ferry__pk_node *args = mk_seq(p, FERRY__PK_TUPLE, p->stack + k + 1, p->sp - k - 1);
        if (!args) return p->ctx->err_code;
        a = p->stack[k];
        p->sp = k;
        return do_call(p, FERRY__PK_R_OBJ, a, args, NULL, FERRY__PK_CALL);
    }
    case OP_REDUCE:
        FERRY_TRY(pop(p, &b));
        FERRY_TRY(pop(p, &a));
        if (b->kind != FERRY__PK_TUPLE) {
            FERRY_TRY(record(p, FERRY__PK_R_REDUCE, a, NULL, NULL));
            return fail(p, FERRY_E_CORRUPT, "REDUCE argument must be a tuple");
        }
        return do_call(p, FERRY__PK_R_REDUCE, a, b, NULL, FERRY__PK_CALL);
    case OP_NEWOBJ:
        FERRY_TRY(pop(p, &b));
        FERRY_TRY(pop(p, &a));
        if (b->kind != FERRY__PK_TUPLE) {
            FERRY_TRY(record(p, FERRY__PK_R_NEWOBJ, a, NULL, NULL));
            return fail(p, FERRY_E_CORRUPT, "NEWOBJ expected an arg tuple");
        }
        return do_call(p, FERRY__PK_R_NEWOBJ, a, b, NULL, FERRY__PK_NEWOBJ);
    case OP_NEWOBJ_EX:
        FERRY_TRY(pop(p, &c));
        FERRY_TRY(pop(p, &b));
        FERRY_TRY(pop(p, &a));
        if (b->kind != FERRY__PK_TUPLE || c->kind != FERRY__PK_DICT) {
            FERRY_TRY(record(p, FERRY__PK_R_NEWOBJ_EX, a, NULL, NULL));
            return fail(p, FERRY_E_CORRUPT, "NEWOBJ_EX args must be a tuple and a dict");
        }
        return do_call(p, FERRY__PK_R_NEWOBJ_EX, a, b, c->v.c.n ? c : NULL, FERRY__PK_NEWOBJ);
    case OP_EXT1:
    case OP_EXT2:
    case OP_EXT4: {
        int w = p->op == OP_EXT1 ? 1 : p->op == OP_EXT2 ? 2 : 4;
        FERRY_TRY(take(p, (uint64_t)w, &s));
        int64_t code = w == 1 ? s[0] : w == 2 ? ferry__rd16le(s) : (int32_t)ferry__rd32le(s);
        FERRY_TRY(record(p, FERRY__PK_R_EXT, NULL, NULL, NULL));
        p->recs[p->nrecs - 1].ext_code = code;
        p->anomalies |= FERRY__PK_A_EXT;
        if (code <= 0) return fail(p, FERRY_E_CORRUPT, "EXT specifies code <= 0");
        return push(p, mk_int(p, FERRY__PK_EXT, code));
    }
    case OP_PROTO:
        FERRY_TRY(take(p, 1, &s));
        if (s[0] > HIGHEST_PROTOCOL)
            return fail(p, FERRY_E_UNSUPPORTED, "unsupported pickle protocol: %d", s[0]);
        if (s[0] > p->protocol) p->protocol = s[0];
        return FERRY_OK;
    case OP_FRAME: {
        FERRY_TRY(take(p, 8, &s));
        uint64_t len = ferry__rd64le(s);
        if (len > (uint64_t)INT64_MAX)
            return fail(p, FERRY_E_CORRUPT, "FRAME length exceeds the maximum size");
        if (len > p->size - p->pos)
            return fail(p, FERRY_E_CORRUPT, "pickle data was truncated: frame of %llu bytes, "
                        "%llu left", (unsigned long long)len,
                        (unsigned long long)(p->size - p->pos));
        if (p->in_frame && p->op_off < p->frame_end) p->anomalies |= FERRY__PK_A_FRAME_EARLY;
        p->in_frame  = true;
        p->frame_end = p->pos + len;
        return FERRY_OK;
    }
    case OP_NEXT_BUFFER:
        p->anomalies |= FERRY__PK_A_OOB_BUFFER;
        return push(p, mk_int(p, FERRY__PK_BUFFER, 0));
    case OP_READONLY_BUFFER:
        FERRY_TRY(top(p, &a));
        if (a->kind == FERRY__PK_BUFFER) a->flags |= FERRY__PK_F_READONLY;
        return FERRY_OK;
    default:
        return fail(p, FERRY_E_CORRUPT, "invalid load key");
    }
}

int ferry__pickle_run(ferry__pickle *p, const uint8_t *data, size_t size, uint64_t start,
                      const ferry_source *src, uint64_t base, ferry__pk_node **root,
                      uint64_t *end)
{
    *root = NULL;
    *end  = start;
    p->d = data;
    p->size = size;
    p->pos = (size_t)start;
    p->src = src;
    p->base = base;
    p->sp = 0;
    p->nmarks = 0;
    p->in_frame = false;
    p->frame_end = 0;
    if (p->memo_cap) memset(p->memo, 0, p->memo_cap * sizeof *p->memo);
    p->memo_n = 0;
    if (start > size) {
        p->op_off = size;
        p->op = OP_STOP;
        return fail(p, FERRY_E_ARG, "start offset past the end");
    }
    uint64_t ops = 0;
    int rc = FERRY_OK;
    bool stop = false;
    ferry__pk_node *result = NULL;
    ferry_ctx_clear_error(p->ctx);
    while (!stop) {
        p->op_off = p->pos;
        if (p->pos >= p->size) {
            p->op = OP_STOP;
            rc = ferry__fail_at(p->ctx, FERRY_E_CORRUPT, p->src, p->base + p->pos,
                                "pickle: truncated: stream ends without STOP");
            break;
        }
        if (++ops > p->lim.max_ops) {
            p->op = p->d[p->pos];
            rc = fail(p, FERRY_E_LIMIT, "more than %llu opcodes",
                      (unsigned long long)p->lim.max_ops);
            break;
        }
        p->op = p->d[p->pos++];
        rc = step(p, &result, &stop);
        if (rc < 0) break;
        if (p->in_frame && p->pos > p->frame_end && p->op_off < p->frame_end)
            p->anomalies |= FERRY__PK_A_FRAME_CROSS;
    }
    p->runs++;
    if (rc < 0) {
        *end = p->op_off;
        return rc;
    }
    *root = result;
    *end  = p->pos;
    return FERRY_OK;
}
