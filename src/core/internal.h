/*
 * internal.h -- the private interface shared by libferry's modules.
 *
 * Everything here is library-internal (ferry__ prefix, not exported). Format modules in
 * src/formats/ see the core through this header and the shared decoders through
 * src/parse/<x>.h; they never include each other.
 *
 * Error helpers: every failure goes through ferry__fail() (or ferry__fail_at() when a byte
 * offset is known), which formats the one-line message "<file>: <where>: <what>" on the
 * context and returns the status, so a module writes
 *
 *     if (len > remaining) return ferry__fail_at(ctx, FERRY_E_CORRUPT, src, off,
 *                                                "string length %llu exceeds ...", len);
 *
 * and propagates with FERRY_TRY(expr).
 */
#ifndef FERRY_INTERNAL_H
#define FERRY_INTERNAL_H

#include "ferry.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* ============================================================================================
 * Coverage markers and checks (SQLite style)
 * ========================================================================================== */

/* A boundary that a test is meant to exercise; compiles to nothing. */
#define FERRY_TESTCASE(cond) ((void)0)
/* Conditions that cannot happen unless the code is wrong (never input-derived). */
#define FERRY_ALWAYS(cond) (cond)
#define FERRY_NEVER(cond)  (cond)

#define FERRY_TRY(expr)                                                                        \
    do {                                                                                       \
        int ferry_try_rc_ = (expr);                                                            \
        if (ferry_try_rc_ < 0) return ferry_try_rc_;                                           \
    } while (0)

#define FERRY_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#if defined(__GNUC__)
#define FERRY_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define FERRY_PRINTF(a, b)
#endif

/* ============================================================================================
 * Context
 * ========================================================================================== */

struct ferry_ctx {
    ferry_allocator alloc;
    ferry_limits    limits;
    uint64_t        allocated;     /* bytes currently allocated through the context */
    ferry_log_fn    log_fn;
    void           *log_ud;
    int             err_code;
    char            err[1024];
};

/* Sets the context's error and returns `code`. The message is used verbatim. */
int ferry__fail(ferry_ctx *ctx, int code, const char *fmt, ...) FERRY_PRINTF(3, 4);
/* "<source name>: offset <off>: <message>". src may be NULL. */
int ferry__fail_at(ferry_ctx *ctx, int code, const ferry_source *src, uint64_t off,
                   const char *fmt, ...) FERRY_PRINTF(5, 6);
/* "<source name>: <field>: <message>" for errors that have a field, not an offset. */
int ferry__fail_field(ferry_ctx *ctx, int code, const ferry_source *src, const char *field,
                      const char *fmt, ...) FERRY_PRINTF(5, 6);
/* Emits a notice (level 0) or warning (level 1) through the log callback. */
void ferry__log(ferry_ctx *ctx, int level, const char *fmt, ...) FERRY_PRINTF(3, 4);

/* Allocation through the context's allocator, counted against limits.total_alloc.
 * Returns NULL (and sets FERRY_E_NOMEM / FERRY_E_LIMIT on the context) on failure. */
void *ferry__malloc(ferry_ctx *ctx, size_t n);
void *ferry__calloc(ferry_ctx *ctx, size_t count, size_t size);
void *ferry__realloc(ferry_ctx *ctx, void *p, size_t old_n, size_t new_n);
void  ferry__free(ferry_ctx *ctx, void *p, size_t n);
char *ferry__strndup(ferry_ctx *ctx, const char *s, size_t n);

/* ============================================================================================
 * Checked arithmetic and explicit-endian reads
 * ========================================================================================== */

static inline bool ferry__add_overflow(uint64_t a, uint64_t b, uint64_t *r)
{
    *r = a + b;
    return *r < a;
}

static inline bool ferry__mul_overflow(uint64_t a, uint64_t b, uint64_t *r)
{
    if (a != 0 && b > UINT64_MAX / a) return true;
    *r = a * b;
    return false;
}

static inline uint64_t ferry__align_up(uint64_t v, uint64_t a)
{
    return a ? (v + a - 1) / a * a : v;
}

static inline uint16_t ferry__rd16le(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static inline uint32_t ferry__rd32le(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint64_t ferry__rd64le(const uint8_t *p)
{
    return (uint64_t)ferry__rd32le(p) | (uint64_t)ferry__rd32le(p + 4) << 32;
}
static inline uint16_t ferry__rd16be(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static inline uint32_t ferry__rd32be(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}
static inline uint64_t ferry__rd64be(const uint8_t *p)
{
    return (uint64_t)ferry__rd32be(p) << 32 | (uint64_t)ferry__rd32be(p + 4);
}
static inline void ferry__wr16le(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}
static inline void ferry__wr32le(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static inline void ferry__wr64le(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

/* Reverses the byte order of n elements of `width` bytes in place (width 1 is a no-op). */
void ferry__byteswap(void *buf, size_t width, uint64_t n);

/* ============================================================================================
 * Arena: bump allocation owned by a model, freed all at once
 * ========================================================================================== */

typedef struct ferry__arena_block ferry__arena_block;
typedef struct ferry__arena {
    ferry_ctx          *ctx;
    ferry__arena_block *head;
    size_t              used;   /* in head */
    size_t              cap;    /* of head */
} ferry__arena;

void  ferry__arena_init(ferry__arena *a, ferry_ctx *ctx);
void  ferry__arena_free(ferry__arena *a);
/* 16-byte aligned, zero-filled. NULL + context error on failure. */
void *ferry__arena_alloc(ferry__arena *a, size_t n);
/* Same without zero-filling (for memory the caller overwrites at once). */
void *ferry__arena_alloc_uninit(ferry__arena *a, size_t n);
char *ferry__arena_strndup(ferry__arena *a, const char *s, size_t n);

/* ============================================================================================
 * Sources
 * ========================================================================================== */

enum ferry__source_kind { FERRY__SRC_FILE, FERRY__SRC_MEMORY, FERRY__SRC_SUB, FERRY__SRC_CALLBACK,
                          FERRY__SRC_OWNED };

struct ferry_source {
    ferry_ctx       *ctx;
    int              kind;
    int              refs;
    char            *name;      /* for messages */
    char            *path;      /* file sources: the path as opened (for sibling lookup) */
    uint64_t         size;
    const uint8_t   *map;       /* mapped bytes, or NULL */
    size_t           map_len;   /* FILE: length of the mmap */
    int              fd;
    ferry_source    *parent;    /* SUB */
    uint64_t         base;      /* SUB: offset in parent */
    ferry_read_at_fn cb;
    void           (*release)(void *ud);
    void            *ud;
    void            *owned;     /* OWNED: buffer freed with the source */
    size_t           owned_len;
};

/* A source that owns a buffer allocated with ferry__malloc (e.g. an inflated zip member).
 * On failure the buffer is freed. */
int ferry__source_from_owned(ferry_ctx *ctx, void *buf, size_t len, const char *name,
                             ferry_source **out);
/* Adds a reference. */
ferry_source *ferry__source_ref(ferry_source *src);
/* Absolute offset of `off` in the outermost file, following sub-ranges (for messages and
 * for tensor_info.file_offset), and the root source. */
uint64_t ferry__source_abs_offset(const ferry_source *src, uint64_t off,
                                  const ferry_source **root);

/* If the bytes [off, off+len) of src are bytes of a regular file, stores its descriptor and
 * the absolute offset and returns true (for kernel-side copies). */
bool ferry__source_file_range(const ferry_source *src, uint64_t off, uint64_t len, int *fd,
                              uint64_t *abs_off);
/* Tells the kernel the mapped pages of [off, off+len) will not be needed again soon, so a
 * streaming pass over a big file does not accumulate them in the resident set. Data stays
 * valid (pages are re-read from the page cache on the next access). No-op when unmapped. */
void ferry__source_drop_pages(ferry_source *src, uint64_t off, uint64_t len);

/* Opens `rel`, a path found inside a model file, relative to the directory of `base_path`,
 * refusing absolute paths, drive letters, backslashes, "..", empty segments, and symlinks
 * that resolve outside that directory. */
int ferry__source_open_sibling(ferry_ctx *ctx, const char *base_path, const char *rel,
                               ferry_source **out);

/* ============================================================================================
 * Sinks
 * ========================================================================================== */

struct ferry_sink {
    ferry_ctx *ctx;
    int        is_memory;
    int        fd;
    char      *tmp_path;
    char      *final_path;
    uint64_t   pos;
    uint8_t   *buf;        /* write buffer (file) or contents (memory) */
    size_t     buf_len;
    size_t     buf_cap;
    int        failed;     /* sticky: once a write failed the sink only accepts abort */
};

/* Appends len bytes of a file (fd at offset off) to a file sink with a kernel-side copy
 * (copy_file_range). Returns FERRY_E_UNSUPPORTED, having written nothing, when the sink is not
 * a file or the kernel cannot do it; the caller then copies through memory. */
int ferry__sink_copy_fd(ferry_sink *sink, int fd, uint64_t off, uint64_t len);

/* ============================================================================================
 * Metadata
 * ========================================================================================== */

struct ferry_meta {
    uint8_t  kind;      /* ferry_meta_kind */
    uint16_t numtype;   /* ferry_dtype: exact stored scalar type / array element type */
    union {
        int64_t  i;
        uint64_t u;
        double   f;
        struct {
            char  *p;   /* NUL-terminated copy */
            size_t n;
        } s;
        struct {
            struct ferry_meta *items;
            char             **keys;   /* MAP only */
            size_t             n;
            size_t             cap;
        } c;
    } v;
};

/* Builders: nodes live in the model's arena. Containers grow by doubling. Each returns 0 or
 * a negative status (NOMEM / LIMIT on metadata_items). */
ferry_meta *ferry__meta_new_map(ferry_model *m);
/* Appends a child to an ARRAY or MAP (key ignored for arrays) and returns it (kind NULL).
 * The returned pointer stays valid only until the next append/reserve on the same parent
 * (children are stored inline and move when the container grows): fill a child completely,
 * including its own children, before appending its next sibling. */
ferry_meta *ferry__meta_append(ferry_model *m, ferry_meta *parent, const char *key,
                               size_t keylen);
/* Reserves capacity for n more children (avoids regrowth for big arrays). */
int ferry__meta_reserve(ferry_model *m, ferry_meta *parent, size_t n);
/* Setters on a node obtained from ferry__meta_append. */
void ferry__meta_set_bool(ferry_meta *n, bool v);
void ferry__meta_set_int(ferry_meta *n, int64_t v, ferry_dtype numtype);
void ferry__meta_set_uint(ferry_meta *n, uint64_t v, ferry_dtype numtype);
void ferry__meta_set_float(ferry_meta *n, double v, ferry_dtype numtype);
int  ferry__meta_set_string(ferry_model *m, ferry_meta *n, const char *s, size_t len);
int  ferry__meta_set_bytes(ferry_model *m, ferry_meta *n, const void *s, size_t len);
void ferry__meta_set_array(ferry_meta *n, ferry_dtype elemtype);
void ferry__meta_set_map(ferry_meta *n);

/* ============================================================================================
 * Models and tensors
 * ========================================================================================== */

typedef struct ferry__tensor {
    char            *name;
    ferry_dtype      dtype;
    int32_t          ndim;
    int64_t         *shape;
    uint64_t         nelems;
    uint64_t         nbytes;
    ferry_source    *src;        /* where the stored bytes are (reference held) or NULL */
    uint64_t         offset;     /* offset of the stored bytes in src */
    const void      *mem;        /* in-memory tensors (ferry_model_add_tensor) */
    uint32_t         itemsize;
    uint32_t         flags;      /* FERRY_TENSOR_* */
    ferry_tensor_status status;
    char            *native_dtype;
    void            *priv;       /* format-specific (e.g. byte order, Fortran order) */
} ferry__tensor;

typedef struct ferry__node {
    char        *name;
    char        *op_type;
    int64_t      n_inputs;
    char       **inputs;
    int64_t      n_outputs;
    char       **outputs;
    ferry_meta  *attrs;
} ferry__node;

typedef struct ferry_format_ops ferry_format_ops;

struct ferry_model {
    ferry_ctx              *ctx;
    const ferry_format_ops *fmt;        /* NULL for in-memory models */
    ferry_source           *src;        /* main source (reference held) or NULL */
    char                   *path;       /* path it was opened from, or NULL */
    ferry__arena            arena;
    char                    version[32];
    ferry__tensor          *tensors;
    int64_t                 n_tensors;
    int64_t                 cap_tensors;
    ferry_meta             *meta;       /* root MAP */
    uint64_t                meta_items;
    ferry__node            *nodes;
    int64_t                 n_nodes;
    /* name -> index hash (built lazily by find_tensor) */
    int64_t                *hash;
    uint64_t                hash_cap;
    ferry_source          **extra_srcs; /* shards: references released on close */
    int                     n_extra_srcs;
    void                   *priv;       /* format-specific state */
    void                  (*priv_free)(ferry_model *m);
};

/* Creates an empty model bound to ctx (no format). */
int ferry__model_create(ferry_ctx *ctx, ferry_model **out);
/*
 * Adds a tensor and computes nelems/nbytes from dtype and shape with overflow checks
 * (checked against limits.dims and limits.tensor_count). For block dtypes the innermost
 * dimension must be a multiple of the block size; for sub-byte dtypes nelems*bits must be a
 * multiple of 8. `itemsize` is required for BYTES_FIXED/UCS4_FIXED, else 0.
 * Returns the tensor (src/offset left unset) or NULL with the context error set.
 */
ferry__tensor *ferry__model_add_tensor(ferry_model *m, const char *name, size_t namelen,
                                       ferry_dtype dt, int32_t ndim, const int64_t *shape,
                                       uint32_t itemsize);
/* Keeps a reference on an additional source (shards) until the model closes. */
int ferry__model_keep_source(ferry_model *m, ferry_source *src);
/* Adds a graph node; arrays are copied into the arena. */
int ferry__model_add_node(ferry_model *m, const char *name, const char *op_type,
                          int64_t n_in, const char *const *in, int64_t n_out,
                          const char *const *out, ferry_meta **attrs_out);
/* Byte size of n elements of dt (with itemsize for fixed-width strings), overflow-checked.
 * Returns false on overflow or if n is not a whole number of blocks / bytes. */
bool ferry__dtype_nbytes(ferry_dtype dt, uint64_t n, uint32_t itemsize, uint64_t *out);

/* ============================================================================================
 * The format contract (see DESIGN.md "The format contract")
 * ========================================================================================== */

/* What bid() sees: the first bytes, the size and the name. Bidding must not allocate. */
typedef struct ferry__probe {
    const uint8_t *head;      /* first min(size, FERRY__PROBE_BYTES) bytes */
    size_t         head_len;
    uint64_t       size;
    const char    *name;      /* base name of the file, may be "" */
    ferry_source  *src;       /* for bounded extra reads (e.g. a zip directory) */
    bool           is_dir;    /* the path is a directory (head_len 0) */
    const char    *path;      /* full path if known, else NULL */
} ferry__probe;

#define FERRY__PROBE_BYTES 4096

/* One tensor of a write plan: what to write and where its bytes come from. */
typedef struct ferry__wtensor {
    const char    *name;
    ferry_dtype    dtype;       /* output dtype */
    int32_t        ndim;
    const int64_t *shape;
    uint64_t       nelems;
    uint64_t       nbytes;      /* output bytes */
    uint32_t       itemsize;
    int64_t        src_index;   /* tensor of plan->src */
    const char    *native_dtype;/* of the source tensor (e.g. numpy descr), may be NULL */
} ferry__wtensor;

typedef struct ferry__wplan {
    ferry_ctx                 *ctx;
    ferry_model               *src;
    ferry__wtensor            *t;
    int64_t                    n;
    const ferry_write_options *opt;
    const char                *out_name;    /* for messages */
    uint64_t                   total_bytes; /* sum of output nbytes */
    uint64_t                   done_bytes;
} ferry__wplan;

/* Streams tensor i of the plan into the sink, converting dtype in bounded chunks (zero-copy
 * pass-through when the source tensor is mapped and the dtype is unchanged). */
int ferry__wplan_write_tensor(ferry__wplan *plan, int64_t i, ferry_sink *sink);

struct ferry_format_ops {
    const char        *name;
    const char        *description;
    const char        *extensions;   /* comma-separated, with dots: ".npy,.npz" */
    uint32_t           caps;
    /* Evidence in bits that the input is ours (0 = not ours). No allocation. */
    int  (*bid)(const ferry__probe *p);
    /* Parses headers into m (m->src, m->path are set). */
    int  (*open)(ferry_model *m, ferry_source *src);
    /* Bytes [off, off+len) of tensor t in the neutral layout, for tensors that are not a
     * plain range of t->src (byte-swapped, Fortran order, compressed...). NULL: plain. */
    int  (*read)(ferry_model *m, const ferry__tensor *t, uint64_t off, void *dst, size_t len);
    /* Whether the writer can store dtype dt (NULL: cannot write). */
    bool (*can_write)(ferry_dtype dt);
    /* Streams plan into sink. */
    int  (*write)(ferry__wplan *plan, ferry_sink *sink);
};

/* The registry (src/core/registry.c). */
extern const ferry_format_ops *const ferry__formats[];
extern const int ferry__n_formats;
const ferry_format_ops *ferry__format_by_name(const char *name);

/* Whether `name` ends with one of the comma-separated extensions (case-insensitive). */
bool ferry__has_extension(const char *name, const char *extensions);
/* Base name of a path (pointer into it). */
const char *ferry__basename(const char *path);

/* ============================================================================================
 * Dtype internals (src/core/dtype.c, src/core/dtype_conv.c)
 * ========================================================================================== */

typedef struct ferry__dtype_desc {
    const char *name;
    uint32_t    bits;         /* per element for plain types; 0 for blocks/variable */
    uint32_t    block_size;   /* elements per block */
    uint32_t    block_bytes;  /* bytes per block */
    uint8_t     is_float;
    uint8_t     is_signed;
    uint8_t     is_complex;
} ferry__dtype_desc;

/* NULL for values outside the enum. */
const ferry__dtype_desc *ferry__dtype(ferry_dtype dt);

/* Dequantizes n elements (multiple of the block size) of a GGML block type to f32.
 * Returns FERRY_E_DTYPE for types without a dequantizer. (src/quant/dequant.c) */
int ferry__dequantize(ferry_dtype dt, const void *src, float *dst, uint64_t n);

#endif /* FERRY_INTERNAL_H */
