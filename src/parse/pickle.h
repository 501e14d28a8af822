/*
 * pickle.h -- a restricted, symbolic pickle machine: it walks the opcodes of Python pickles
 * (protocols 0-5) and builds a tree of plain values and opaque nodes. Nothing is imported,
 * resolved or executed. FORMATS.md §4 (opcodes), §2a (torch conventions), SECURITY.md 3.1
 * (what a scanner needs: every global and call with its byte offset, findings kept across
 * parse errors).
 *
 * Shape of the API
 * ----------------
 *   ferry__pickle      one machine: an arena holding every node of every pickle it ran,
 *                      the list of records (globals and calls with offsets) and anomalies.
 *   ferry__pk_node     one value. Plain values (None, bool, int, float, complex, str, bytes,
 *                      tuple, list, dict, set), opaque nodes (global, call, newobj,
 *                      persistent id, ext, out-of-band buffer) and values recognised by the
 *                      symbolic table (numpy array and dtype, torch storage and tensor).
 *
 * Input bytes must outlive the machine: strings and bytes point into them when they were
 * stored verbatim (src_off >= 0); decoded ones (escapes, _codecs.encode) live in the arena.
 * Node offsets and record offsets are relative to the start of `data` passed to
 * ferry__pickle_run (the caller adds the base it knows).
 */
#ifndef FERRY_PARSE_PICKLE_H
#define FERRY_PARSE_PICKLE_H

#include "internal.h"

/* ============================================================================================
 * Nodes
 * ========================================================================================== */

typedef enum ferry__pk_kind {
    FERRY__PK_NONE = 0,
    FERRY__PK_BOOL,      /* v.i: 0 or 1                                                     */
    FERRY__PK_INT,       /* v.i: fits in int64                                              */
    FERRY__PK_BIGINT,    /* v.s: two's complement little-endian bytes, or with
                            FERRY__PK_F_DECIMAL an ASCII decimal string ("-123...")           */
    FERRY__PK_FLOAT,     /* v.f                                                             */
    FERRY__PK_COMPLEX,   /* v.cx[0] real, v.cx[1] imaginary (builtins.complex)              */
    FERRY__PK_STR,       /* v.s: UTF-8 (surrogates allowed, WTF-8); with F_PY2 raw bytes of
                            a Python 2 str (STRING/BINSTRING/SHORT_BINSTRING)               */
    FERRY__PK_BYTES,     /* v.s (F_BYTEARRAY: bytearray)                                    */
    FERRY__PK_TUPLE,     /* v.c                                                             */
    FERRY__PK_LIST,      /* v.c                                                             */
    FERRY__PK_DICT,      /* v.c: n pairs, items[2i] key, items[2i+1] value (F_ORDERED)      */
    FERRY__PK_SET,       /* v.c (F_FROZEN: frozenset)                                       */
    FERRY__PK_GLOBAL,    /* v.g: module, name (NUL-terminated, as written in the pickle)    */
    FERRY__PK_CALL,      /* v.call: fn(*args) (REDUCE, INST, OBJ)                           */
    FERRY__PK_NEWOBJ,    /* v.call: fn.__new__(fn, *args, **kwargs) (NEWOBJ, NEWOBJ_EX)     */
    FERRY__PK_PERSID,    /* v.call.args: the persistent id (not recognised)                  */
    FERRY__PK_EXT,       /* v.i: the copyreg extension code                                 */
    FERRY__PK_BUFFER,    /* v.i: index of an out-of-band buffer (NEXT_BUFFER): no data      */
    FERRY__PK_ARRAY,     /* v.arr: numpy ndarray / numpy scalar (ndim 0)                    */
    FERRY__PK_DTYPE,     /* v.dt: numpy dtype                                               */
    FERRY__PK_STORAGE,   /* v.st: torch storage (persistent id ('storage', ...))            */
    FERRY__PK_TENSOR,    /* v.ten: torch tensor (_rebuild_tensor*, _rebuild_parameter*)     */
} ferry__pk_kind;

enum {
    FERRY__PK_F_PY2       = 1u << 0, /* STR: Python 2 str (raw bytes)                        */
    FERRY__PK_F_DECIMAL   = 1u << 1, /* BIGINT: decimal text                                 */
    FERRY__PK_F_ORDERED   = 1u << 2, /* DICT: collections.OrderedDict                        */
    FERRY__PK_F_FROZEN    = 1u << 3, /* SET: frozenset                                       */
    FERRY__PK_F_BYTEARRAY = 1u << 4, /* BYTES: bytearray                                     */
    FERRY__PK_F_READONLY  = 1u << 5, /* BUFFER: READONLY_BUFFER applied                      */
    FERRY__PK_F_MARK      = 1u << 6, /* reserved for walkers (visited bit)                   */
    FERRY__PK_F_MARK2     = 1u << 7, /* reserved for walkers                                 */
};

typedef struct ferry__pk_node ferry__pk_node;

typedef struct ferry__pk_array {
    ferry__pk_node *cls;       /* the subclass global (numpy.ndarray) or NULL              */
    ferry__pk_node *dtype;     /* a DTYPE node once built, else NULL                        */
    int32_t         ndim;
    int64_t        *shape;
    bool            fortran;
    bool            built;     /* shape/dtype/data known                                   */
    ferry__pk_node *data;      /* BYTES / STR(F_PY2) / BUFFER / LIST (object arrays)       */
} ferry__pk_array;

typedef struct ferry__pk_dtype {
    const char *descr;         /* the dtype argument as written ("f4", "<i8", "U5", "O8")  */
    size_t      descr_len;
    char        byteorder;     /* from the BUILD state: '<', '>', '|', '=' (0: not given)  */
} ferry__pk_dtype;

typedef struct ferry__pk_storage {
    const char *cls;           /* class name in module torch ("FloatStorage", ...)        */
    ferry_dtype dtype;         /* of the class; UNKNOWN for UntypedStorage / unknown        */
    const char *key;           /* NUL-terminated storage key ("0", "1", ...)               */
    const char *location;      /* "cpu", "cuda:0", ... or ""                               */
    int64_t     numel;         /* elements of the typed storage (bytes when untyped)       */
    bool        has_view;      /* legacy view_metadata (view_key, offset, size)            */
    const char *view_key;
    int64_t     view_offset;
    int64_t     view_size;
} ferry__pk_storage;

typedef struct ferry__pk_tensor {
    ferry__pk_node *storage;   /* normally a STORAGE node                                 */
    int64_t         offset;    /* storage offset in elements                               */
    int32_t         ndim;
    int64_t        *shape;
    int64_t        *stride;
    ferry_dtype     dtype;     /* from the storage class (v2) or the dtype argument (v3)    */
    const char     *dtype_name;/* torch spelling ("float32", "FloatStorage"), may be NULL  */
    bool            requires_grad;
    bool            parameter; /* came through _rebuild_parameter*                          */
    int             version;   /* 1, 2 or 3 (_rebuild_tensor, _v2, _v3)                    */
} ferry__pk_tensor;

struct ferry__pk_node {
    uint8_t         kind;      /* ferry__pk_kind */
    uint8_t         flags;     /* FERRY__PK_F_* */
    uint8_t         opcode;    /* the opcode that created it */
    uint8_t         user;      /* zero when created; free for consumers' walks */
    uint64_t        off;       /* byte offset of that opcode */
    ferry__pk_node *state;     /* the last BUILD state applied to it, or NULL */
    union {
        int64_t i;
        double  f;
        double  cx[2];
        struct {
            const uint8_t *p;
            size_t         n;
            int64_t        src_off;   /* offset of the bytes in the input, -1 if decoded */
        } s;
        struct {
            ferry__pk_node **items;
            size_t           n;       /* elements (pairs for DICT) */
            size_t           cap;     /* in items */
        } c;
        struct {
            const char *module;
            const char *name;
        } g;
        struct {
            ferry__pk_node *fn;
            ferry__pk_node *args;
            ferry__pk_node *kwargs;
        } call;
        ferry__pk_array   *arr;
        ferry__pk_dtype   *dt;
        ferry__pk_storage *st;
        ferry__pk_tensor  *ten;
    } v;
};

/* ============================================================================================
 * Records: what the scanner consumes
 * ========================================================================================== */

typedef enum ferry__pk_rkind {
    FERRY__PK_R_GLOBAL = 1,    /* GLOBAL: module/name literal                              */
    FERRY__PK_R_STACK_GLOBAL,  /* module/name NULL when an operand was not a string        */
    FERRY__PK_R_INST,          /* module/name literal                                      */
    FERRY__PK_R_OBJ,           /* module/name of the class when it is a global             */
    FERRY__PK_R_REDUCE,        /* module/name of the callable when it is a global          */
    FERRY__PK_R_NEWOBJ,
    FERRY__PK_R_NEWOBJ_EX,
    FERRY__PK_R_BUILD,         /* module/name of the target's class, if known              */
    FERRY__PK_R_EXT,           /* ext_code                                                 */
    FERRY__PK_R_PERSID,        /* persistent id (PERSID / BINPERSID)                       */
} ferry__pk_rkind;

typedef struct ferry__pk_record {
    uint64_t    off;           /* byte offset of the opcode in the input                   */
    uint8_t     opcode;
    uint8_t     kind;          /* ferry__pk_rkind */
    uint8_t     target;        /* ferry__pk_kind of the callable / class / BUILD target    */
    uint8_t     pickle;        /* index of the pickle in the stream (saturates at 255)     */
    const char *module;        /* NUL-terminated, or NULL                                  */
    const char *name;
    int64_t     ext_code;
} ferry__pk_record;

/* Anomalies: legal for the C unpickler (or at least not an error there) but worth a look. */
enum {
    FERRY__PK_A_FRAME_CROSS     = 1u << 0, /* an opcode crosses a frame end (pickle.py errs)  */
    FERRY__PK_A_FRAME_EARLY     = 1u << 1, /* FRAME before the previous frame was consumed    */
    FERRY__PK_A_SETITEM_NONDICT = 1u << 2, /* SETITEM(S) on something not a dict (dropped)    */
    FERRY__PK_A_APPEND_NONLIST  = 1u << 3, /* APPEND(S)/ADDITEMS on a non list/set (dropped)  */
    FERRY__PK_A_BUILD_GLOBAL    = 1u << 4, /* BUILD applied to a global (module/class/func)   */
    FERRY__PK_A_CALL_RESULT     = 1u << 5, /* a call whose callable is itself a call's result */
    FERRY__PK_A_OOB_BUFFER      = 1u << 6, /* NEXT_BUFFER: data not in the file               */
    FERRY__PK_A_EXT             = 1u << 7, /* EXT1/2/4 (copyreg registry, unresolvable)       */
    FERRY__PK_A_MEMO_OVERWRITE  = 1u << 8, /* a memo slot was written twice                   */
};

/* ============================================================================================
 * The machine
 * ========================================================================================== */

typedef struct ferry__pickle ferry__pickle;

/* Limits; zero fields take the defaults (in parentheses). */
typedef struct ferry__pk_limits {
    uint64_t max_ops;          /* opcodes per run (1 << 30)                                */
    uint64_t max_stack;        /* stack entries + marks (1 << 20)                           */
    uint64_t max_memo;         /* memo entries (1 << 22)                                    */
    uint64_t max_container;    /* elements of one container (limits.metadata_items)         */
    uint64_t max_nodes;        /* nodes over the machine's life (limits.metadata_items)     */
} ferry__pk_limits;

/* A machine bound to ctx. lim may be NULL. */
int ferry__pickle_new(ferry_ctx *ctx, const ferry__pk_limits *lim, ferry__pickle **out);
void ferry__pickle_free(ferry__pickle *p);

/*
 * Runs one pickle starting at data[start] until its STOP. On success *root is the value STOP
 * returned and *end the offset just past STOP (the start of a following pickle, if any).
 * On failure: a negative status, the context error "<src>: offset N: pickle opcode 0xXX
 * (NAME): what", *root NULL and *end the offset of the failing opcode; the records found
 * so far stay available. src (may be NULL) and base (added to offsets in messages) only
 * name the place in errors. The memo and the stack are reset for every run; nodes of
 * earlier runs stay valid until ferry__pickle_free.
 */
int ferry__pickle_run(ferry__pickle *p, const uint8_t *data, size_t size, uint64_t start,
                      const ferry_source *src, uint64_t base, ferry__pk_node **root,
                      uint64_t *end);

size_t ferry__pickle_record_count(const ferry__pickle *p);
const ferry__pk_record *ferry__pickle_record(const ferry__pickle *p, size_t i);
uint32_t ferry__pickle_anomalies(const ferry__pickle *p);
/* The highest PROTO seen (0 if none). */
int ferry__pickle_protocol(const ferry__pickle *p);
/* The machine's arena (for callers that attach their own data to nodes). */
ferry__arena *ferry__pickle_arena(ferry__pickle *p);

/* ============================================================================================
 * Helpers for consumers
 * ========================================================================================== */

/* Opcode mnemonic ("BINPUT"), or NULL for bytes that are not opcodes. */
const char *ferry__pickle_opname(uint8_t op);
/* Whether n is a STR (either flavour) equal to the NUL-terminated s. */
bool ferry__pk_str_is(const ferry__pk_node *n, const char *s);
/* Whether n is a GLOBAL module.name (fix_imports aliases of Python 2 accepted: __builtin__,
 * copy_reg). */
bool ferry__pk_global_is(const ferry__pk_node *n, const char *module, const char *name);
/* The ferry dtype of a torch dtype name ("float32", "bfloat16", "float8_e4m3fn") or of a
 * legacy storage class ("FloatStorage"); UNKNOWN if none. */
ferry_dtype ferry__pk_torch_dtype(const char *name);
/*
 * The plain dtype of a numpy DTYPE node: *dt, *itemsize (bytes per element) and *big
 * (big-endian data). Returns false for dtypes ferry cannot hold as a plain tensor (object,
 * structured, unknown).
 */
bool ferry__pk_numpy_dtype(const ferry__pk_node *dtype, ferry_dtype *dt, uint32_t *itemsize,
                           bool *big);

#endif /* FERRY_PARSE_PICKLE_H */
