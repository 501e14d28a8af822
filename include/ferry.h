/*
 * ferry.h -- the public API of libferry.
 *
 * libferry reads, inspects, validates and converts AI model files (safetensors, GGUF,
 * NumPy, ...). Every file is treated as hostile: all parsing is bounds-checked, every size
 * is overflow-checked and capped by the limits of a context, and nothing a file contains is
 * ever executed.
 *
 * Shape of the API
 * ----------------
 *   ferry_ctx      limits, allocator, last error. One per thread: a context and everything
 *                  opened through it must be used by one thread at a time.
 *   ferry_source   bytes to read: an mmapped file, a memory buffer, a sub-range of another
 *                  source, or a user read_at callback. Reference counted.
 *   ferry_model    the neutral model of one opened file (or sharded set of files):
 *                  tensors (name, dtype, shape outermost-first, byte size, data), a typed
 *                  metadata tree, and an optional graph.
 *   ferry_meta     one node of the metadata tree (owned by its model).
 *   ferry_sink     an atomic output: a temporary file in the target's directory, renamed
 *                  into place only when complete; or a growable memory buffer.
 *
 * Conventions
 * -----------
 *   - Functions return 0 (FERRY_OK) or a negative ferry_status; results go through
 *     out-parameters. After a failure, ferry_ctx_error() describes it in one line naming the
 *     file, the byte offset or field, and what was expected.
 *   - Destructors accept NULL.
 *   - Strings returned by the library are NUL-terminated UTF-8 (or raw bytes for
 *     FERRY_META_BYTES) owned by the handle they came from, valid until it is closed.
 *   - Enums and status codes are append-only; values are never reused.
 */
#ifndef FERRY_H
#define FERRY_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define FERRY_VERSION_MAJOR 0
#define FERRY_VERSION_MINOR 1
#define FERRY_VERSION_PATCH 0
#define FERRY_VERSION_STRING "0.1.0"

#if defined(_WIN32)
#define FERRY_API
#else
#define FERRY_API __attribute__((visibility("default")))
#endif

/* ============================================================================================
 * Status codes
 * ========================================================================================== */

typedef enum ferry_status {
    FERRY_OK              = 0,
    FERRY_E_IO            = -1,  /* open/read/write/mmap failed                            */
    FERRY_E_CORRUPT       = -2,  /* the input breaks a rule of its format                  */
    FERRY_E_UNSUPPORTED   = -3,  /* valid input using a feature ferry does not implement   */
    FERRY_E_LIMIT         = -4,  /* the input exceeds a limit of the context               */
    FERRY_E_NOMEM         = -5,  /* the allocator failed                                   */
    FERRY_E_ARG           = -6,  /* the caller passed an invalid argument                  */
    FERRY_E_NOTFOUND      = -7,  /* no such tensor / key / format                          */
    FERRY_E_NOTPLAIN      = -8,  /* the tensor has no plain byte representation            */
    FERRY_E_UNKNOWN_FORMAT = -9, /* no registered format recognises the input              */
    FERRY_E_DTYPE         = -10, /* no conversion between these dtypes                     */
} ferry_status;

/* Returns a short constant English name for a status code ("corrupt input", ...). */
FERRY_API const char *ferry_status_name(int status);

/* Version of the library actually linked, as "MAJOR.MINOR.PATCH". */
FERRY_API const char *ferry_version(void);

/* ============================================================================================
 * Data types
 * ========================================================================================== */

/*
 * One enum for the union of all formats. Plain types have a fixed bit width per element.
 * GGML block types are FERRY_DTYPE_GGML_BASE + their ggml type id (ggml.h), so
 * FERRY_DTYPE_GGML(12) is Q4_K; they are stored in blocks (see ferry_dtype_block_size).
 */
typedef enum ferry_dtype {
    FERRY_DTYPE_UNKNOWN = 0,
    FERRY_DTYPE_BOOL,
    FERRY_DTYPE_U8,
    FERRY_DTYPE_I8,
    FERRY_DTYPE_U16,
    FERRY_DTYPE_I16,
    FERRY_DTYPE_U32,
    FERRY_DTYPE_I32,
    FERRY_DTYPE_U64,
    FERRY_DTYPE_I64,
    FERRY_DTYPE_F16,
    FERRY_DTYPE_BF16,
    FERRY_DTYPE_F32,
    FERRY_DTYPE_F64,
    FERRY_DTYPE_C32,            /* 2 x f16 */
    FERRY_DTYPE_C64,            /* 2 x f32 */
    FERRY_DTYPE_C128,           /* 2 x f64 */
    FERRY_DTYPE_F8_E4M3FN,      /* safetensors "F8_E4M3": no inf, NaN = 0x7F/0xFF, max 448   */
    FERRY_DTYPE_F8_E4M3FNUZ,    /* no inf, no -0, NaN = 0x80, bias 8                         */
    FERRY_DTYPE_F8_E5M2,        /* IEEE-like: inf and NaN                                    */
    FERRY_DTYPE_F8_E5M2FNUZ,    /* no inf, no -0, NaN = 0x80, bias 16                        */
    FERRY_DTYPE_F8_E4M3B11FNUZ, /* bias 11, no inf, no -0, NaN = 0x80                        */
    FERRY_DTYPE_F8_E8M0,        /* unsigned power of two scale, 0xFF = NaN                   */
    FERRY_DTYPE_F6_E2M3,        /* 6-bit, no inf/NaN                                         */
    FERRY_DTYPE_F6_E3M2,        /* 6-bit, no inf/NaN                                         */
    FERRY_DTYPE_F4_E2M1,        /* 4-bit, no inf/NaN; two per byte, first in the low nibble */
    FERRY_DTYPE_I4,             /* two per byte, first in the low nibble                     */
    FERRY_DTYPE_U4,
    FERRY_DTYPE_I2,             /* four per byte, first in bits 0-1                          */
    FERRY_DTYPE_U2,
    FERRY_DTYPE_U1,             /* eight per byte, first in bit 0                            */
    FERRY_DTYPE_STRING,         /* variable-length strings (no plain byte layout)            */
    FERRY_DTYPE_BYTES_FIXED,    /* NumPy "S<n>": itemsize bytes per element                  */
    FERRY_DTYPE_UCS4_FIXED,     /* NumPy "U<n>": itemsize/4 UCS-4 code points per element     */
    FERRY_DTYPE_DATETIME64,     /* NumPy "M8[unit]": int64 ticks                              */
    FERRY_DTYPE_TIMEDELTA64,    /* NumPy "m8[unit]": int64 ticks                              */
    FERRY_DTYPE_OPAQUE,         /* structured / object / void: listed, not a plain tensor    */
    FERRY_DTYPE__PLAIN_END,

    FERRY_DTYPE_GGML_BASE = 0x100,
    FERRY_DTYPE_GGML_END  = 0x100 + 64,
} ferry_dtype;

#define FERRY_DTYPE_GGML(id) ((ferry_dtype)(FERRY_DTYPE_GGML_BASE + (id)))
#define FERRY_DTYPE_Q4_0     FERRY_DTYPE_GGML(2)
#define FERRY_DTYPE_Q4_1     FERRY_DTYPE_GGML(3)
#define FERRY_DTYPE_Q5_0     FERRY_DTYPE_GGML(6)
#define FERRY_DTYPE_Q5_1     FERRY_DTYPE_GGML(7)
#define FERRY_DTYPE_Q8_0     FERRY_DTYPE_GGML(8)
#define FERRY_DTYPE_Q8_1     FERRY_DTYPE_GGML(9)
#define FERRY_DTYPE_Q2_K     FERRY_DTYPE_GGML(10)
#define FERRY_DTYPE_Q3_K     FERRY_DTYPE_GGML(11)
#define FERRY_DTYPE_Q4_K     FERRY_DTYPE_GGML(12)
#define FERRY_DTYPE_Q5_K     FERRY_DTYPE_GGML(13)
#define FERRY_DTYPE_Q6_K     FERRY_DTYPE_GGML(14)
#define FERRY_DTYPE_Q8_K     FERRY_DTYPE_GGML(15)
#define FERRY_DTYPE_IQ4_NL   FERRY_DTYPE_GGML(20)
#define FERRY_DTYPE_IQ4_XS   FERRY_DTYPE_GGML(23)

/* Canonical upper-case name ("F32", "BF16", "F8_E4M3", "Q4_K"); "UNKNOWN" for others. */
FERRY_API const char *ferry_dtype_name(ferry_dtype dt);
/* Parses a canonical name, case-insensitively (also accepts common aliases such as
 * "float32", "fp16", "half", "bfloat16"). Returns FERRY_DTYPE_UNKNOWN if not recognised. */
FERRY_API ferry_dtype ferry_dtype_from_name(const char *name);
/* Elements per storage block: 1 for plain types, 2/4/8 for sub-byte types, 32/256/... for
 * GGML block types; 0 for dtypes without a fixed layout (STRING, OPAQUE, removed ggml ids). */
FERRY_API uint32_t ferry_dtype_block_size(ferry_dtype dt);
/* Bytes per storage block (see above); 0 for dtypes without a fixed layout. */
FERRY_API uint32_t ferry_dtype_block_bytes(ferry_dtype dt);
/* Bits per element of plain types (4 for F4_E2M1, 6 for F6_*); 0 for block/variable types. */
FERRY_API uint32_t ferry_dtype_bits(ferry_dtype dt);
/* Nonzero when the dtype is a GGML block type. */
FERRY_API int ferry_dtype_is_block(ferry_dtype dt);
/* Nonzero when ferry_convert_elems can convert this dtype to and from F32. */
FERRY_API int ferry_dtype_is_numeric(ferry_dtype dt);

/*
 * Converts n elements from `src` (dtype sdt) to `dst` (dtype ddt), both little-endian
 * packed buffers. Floating conversions round to nearest even with correct handling of NaN,
 * infinities and subnormals; values out of the target's range become +-inf where it has
 * one, otherwise saturate (fp8 "fn" types: NaN; integers: clamp, NaN -> 0).
 * For block and sub-byte types n must be a multiple of the block size.
 * Complex <-> real conversions are refused (FERRY_E_DTYPE).
 * Returns FERRY_OK or FERRY_E_DTYPE. Thread-safe.
 */
FERRY_API int ferry_convert_elems(ferry_dtype sdt, const void *src, ferry_dtype ddt, void *dst,
                                  uint64_t n);

/* Scalar conversions (exact or correctly rounded, see above). Thread-safe. */
FERRY_API uint16_t ferry_f32_to_f16(float f);
FERRY_API float    ferry_f16_to_f32(uint16_t h);
FERRY_API uint16_t ferry_f32_to_bf16(float f);
FERRY_API float    ferry_bf16_to_f32(uint16_t h);

/* ============================================================================================
 * Context: limits, allocator, errors
 * ========================================================================================== */

typedef struct ferry_ctx ferry_ctx;

/* Limits applied to every input opened through a context. struct_size must be set to
 * sizeof(ferry_limits) by the caller (for forward compatibility). */
typedef struct ferry_limits {
    size_t   struct_size;
    uint64_t header_bytes;    /* bytes of a format header / metadata block (default 256 MiB) */
    uint64_t tensor_count;    /* tensors in one model (default 10,000,000)                   */
    uint32_t dims;            /* dimensions of one tensor (default 64)                        */
    uint64_t string_length;   /* bytes of one string (default 1 GiB)                          */
    uint32_t metadata_depth;  /* nesting depth of the metadata tree (default 64)              */
    uint64_t metadata_items;  /* metadata nodes in one model (default 1<<28)                  */
    uint64_t total_alloc;     /* bytes allocated through the context at once (default 8 GiB)  */
} ferry_limits;

/* Allocator hook. realloc(ud, NULL, n) must behave like malloc; free must accept NULL. */
typedef struct ferry_allocator {
    void *(*realloc_fn)(void *ud, void *ptr, size_t size);
    void (*free_fn)(void *ud, void *ptr);
    void *ud;
} ferry_allocator;

/* Log callback: level 0 = notice, 1 = warning. msg is one line without newline. */
typedef void (*ferry_log_fn)(void *ud, int level, const char *msg);

/* Creates a context with default limits and the C allocator (alloc may be NULL).
 * Returns NULL only if memory is exhausted. */
FERRY_API ferry_ctx *ferry_ctx_new(const ferry_allocator *alloc);
/* Frees the context. Every model, source and sink created through it must be closed first. */
FERRY_API void ferry_ctx_free(ferry_ctx *ctx);
/* Copies the current limits into *out (out->struct_size must be set). */
FERRY_API int ferry_ctx_get_limits(const ferry_ctx *ctx, ferry_limits *out);
/* Replaces the limits; zero fields keep their current value. */
FERRY_API int ferry_ctx_set_limits(ferry_ctx *ctx, const ferry_limits *lim);
/* Installs a log callback for notices and warnings (NULL: drop them). */
FERRY_API void ferry_ctx_set_log(ferry_ctx *ctx, ferry_log_fn fn, void *ud);
/* The last error message of the context (empty string if none). Owned by the context, valid
 * until the next call that fails. */
FERRY_API const char *ferry_ctx_error(const ferry_ctx *ctx);
/* The status code of the last error (FERRY_OK if none). */
FERRY_API int ferry_ctx_error_code(const ferry_ctx *ctx);
/* Clears the last error. */
FERRY_API void ferry_ctx_clear_error(ferry_ctx *ctx);

/* ============================================================================================
 * Sources
 * ========================================================================================== */

typedef struct ferry_source ferry_source;

/* read_at callback: read exactly `len` bytes at `offset` into dst; return 0 or nonzero on
 * failure. */
typedef int (*ferry_read_at_fn)(void *ud, uint64_t offset, void *dst, size_t len);

/* Opens a regular file read-only and maps it. Fails with FERRY_E_IO if it cannot be opened
 * or is not a regular file. */
FERRY_API int ferry_source_open_file(ferry_ctx *ctx, const char *path, ferry_source **out);
/* Wraps a caller-owned buffer that must outlive the source (no copy). name is used in error
 * messages (may be NULL). */
FERRY_API int ferry_source_from_memory(ferry_ctx *ctx, const void *data, size_t size,
                                       const char *name, ferry_source **out);
/* A view of [offset, offset+len) of parent; holds a reference on parent. */
FERRY_API int ferry_source_sub(ferry_source *parent, uint64_t offset, uint64_t len,
                               const char *name, ferry_source **out);
/* A source served by a callback (no zero-copy). release (may be NULL) is called with ud when
 * the source is freed. */
FERRY_API int ferry_source_from_callback(ferry_ctx *ctx, uint64_t size, ferry_read_at_fn fn,
                                         void (*release)(void *ud), void *ud, const char *name,
                                         ferry_source **out);
/* Drops a reference. */
FERRY_API void ferry_source_close(ferry_source *src);
FERRY_API uint64_t ferry_source_size(const ferry_source *src);
FERRY_API const char *ferry_source_name(const ferry_source *src);
/* Copies len bytes at offset into dst; FERRY_E_CORRUPT if the range leaves the source. */
FERRY_API int ferry_source_read(ferry_source *src, uint64_t offset, void *dst, size_t len);
/* A pointer to len mapped bytes at offset, or NULL if the source is not mapped (callback) or
 * the range leaves it. Valid while the source lives. */
FERRY_API const void *ferry_source_map(ferry_source *src, uint64_t offset, uint64_t len);

/* ============================================================================================
 * Sinks (atomic outputs)
 * ========================================================================================== */

typedef struct ferry_sink ferry_sink;

/* Creates a temporary file next to `path` ("<path>.ferry-tmp-XXXXXX"). Nothing appears at
 * `path` until ferry_sink_commit succeeds. */
FERRY_API int ferry_sink_open_file(ferry_ctx *ctx, const char *path, ferry_sink **out);
/* A sink into a growable memory buffer (see ferry_sink_memory). */
FERRY_API int ferry_sink_open_memory(ferry_ctx *ctx, ferry_sink **out);
FERRY_API int ferry_sink_write(ferry_sink *sink, const void *data, size_t len);
/* Writes `n` zero bytes. */
FERRY_API int ferry_sink_zero(ferry_sink *sink, uint64_t n);
/* Bytes written so far. */
FERRY_API uint64_t ferry_sink_tell(const ferry_sink *sink);
/* For a memory sink: the bytes written so far (owned by the sink). */
FERRY_API const void *ferry_sink_memory(const ferry_sink *sink, size_t *size);
/* Flushes, fsyncs and renames the temporary file over the target (file sinks). Frees the
 * sink in every case except for memory sinks, which stay readable until ferry_sink_abort. */
FERRY_API int ferry_sink_commit(ferry_sink *sink);
/* Discards everything: the temporary file is removed. Frees the sink. NULL-tolerant. */
FERRY_API void ferry_sink_abort(ferry_sink *sink);

/* ============================================================================================
 * Formats and detection
 * ========================================================================================== */

enum {
    FERRY_CAP_READ          = 1u << 0,
    FERRY_CAP_WRITE         = 1u << 1,
    FERRY_CAP_GRAPH         = 1u << 2,
    FERRY_CAP_MULTI_FILE    = 1u << 3,
    FERRY_CAP_MAY_HOLD_CODE = 1u << 4,
};

/* Number of registered formats. */
FERRY_API int ferry_format_count(void);
/* Describes format i: name ("safetensors"), one-line description, comma-separated
 * extensions (".safetensors"), capability bits. Any out pointer may be NULL. */
FERRY_API int ferry_format_info(int i, const char **name, const char **description,
                                const char **extensions, uint32_t *caps);
/* Detects the format of a file by content (the extension only breaks ties). On success
 * *name is the format name (static string). FERRY_E_UNKNOWN_FORMAT when nothing bids. */
FERRY_API int ferry_detect(ferry_ctx *ctx, const char *path, const char **name);

/* ============================================================================================
 * Metadata tree
 * ========================================================================================== */

typedef struct ferry_meta ferry_meta;

typedef enum ferry_meta_kind {
    FERRY_META_NULL = 0,
    FERRY_META_BOOL,
    FERRY_META_INT,     /* signed 64-bit */
    FERRY_META_UINT,    /* unsigned 64-bit */
    FERRY_META_FLOAT,   /* double */
    FERRY_META_STRING,  /* UTF-8 text (not validated unless the format requires it) */
    FERRY_META_BYTES,
    FERRY_META_ARRAY,
    FERRY_META_MAP,     /* ordered; keys are strings */
} ferry_meta_kind;

FERRY_API ferry_meta_kind ferry_meta_kind_of(const ferry_meta *m);
/* The exact stored type of a scalar (e.g. FERRY_DTYPE_U32 for a GGUF UINT32 value), or for an
 * array the element type when all elements share one; FERRY_DTYPE_UNKNOWN otherwise. */
FERRY_API ferry_dtype ferry_meta_numtype(const ferry_meta *m);
/* Children of an ARRAY or MAP (0 for scalars). */
FERRY_API int64_t ferry_meta_count(const ferry_meta *m);
/* Child i of an ARRAY or MAP, or NULL. */
FERRY_API const ferry_meta *ferry_meta_at(const ferry_meta *m, int64_t i);
/* Key of child i of a MAP, or NULL. */
FERRY_API const char *ferry_meta_key_at(const ferry_meta *m, int64_t i);
/* Value of `key` in a MAP (last one if duplicated), or NULL. */
FERRY_API const ferry_meta *ferry_meta_get(const ferry_meta *m, const char *key);
FERRY_API int      ferry_meta_bool(const ferry_meta *m);
FERRY_API int64_t  ferry_meta_int(const ferry_meta *m);   /* INT, UINT (wraps), BOOL, FLOAT */
FERRY_API uint64_t ferry_meta_uint(const ferry_meta *m);
FERRY_API double   ferry_meta_float(const ferry_meta *m);
/* STRING or BYTES contents (NUL-terminated copy; *len gets the length if len != NULL). */
FERRY_API const char *ferry_meta_string(const ferry_meta *m, size_t *len);

/* ============================================================================================
 * Models
 * ========================================================================================== */

typedef struct ferry_model ferry_model;

typedef enum ferry_tensor_status {
    FERRY_TENSOR_PLAIN = 0,     /* bytes are available in the neutral layout               */
    FERRY_TENSOR_NOT_PLAIN,     /* structured / object / strings: listed, not readable raw */
    FERRY_TENSOR_UNKNOWN_DTYPE, /* the format's dtype code is not known to ferry            */
} ferry_tensor_status;

enum {
    FERRY_TENSOR_ZERO_COPY = 1u << 0, /* ferry_tensor_data returns a pointer into the map */
    FERRY_TENSOR_CONVERTED = 1u << 1, /* stored differently (byte order, Fortran order...) */
};

/* Description of one tensor. Set struct_size = sizeof(ferry_tensor_info) before the call.
 * Pointers are owned by the model. */
typedef struct ferry_tensor_info {
    size_t               struct_size;
    const char          *name;
    ferry_dtype          dtype;
    int32_t              ndim;
    const int64_t       *shape;        /* outermost first (NumPy / PyTorch order)         */
    uint64_t             nelems;
    uint64_t             nbytes;       /* bytes in the neutral layout                     */
    int64_t              file_offset;  /* absolute offset of the stored bytes, or -1      */
    const char          *file;         /* file holding the bytes (sharded models)         */
    uint32_t             itemsize;     /* element bytes for fixed-width string dtypes     */
    ferry_tensor_status  status;
    uint32_t             flags;        /* FERRY_TENSOR_* bits                              */
    const char          *native_dtype; /* the format's own spelling ("<f4", "Q4_K", ...)  */
} ferry_tensor_info;

/* Opens a model file (or a directory / index file of a sharded model). format may be NULL
 * (detect) or a format name. On failure returns a status and, if out is non-NULL, *out is
 * NULL; ferry_ctx_error() names the file, the offset or field, and the rule broken. */
FERRY_API int ferry_open(ferry_ctx *ctx, const char *path, const char *format,
                         ferry_model **out);
/* Opens a model from a source (takes its own reference). name_hint is used to break ties
 * and in messages (may be NULL). */
FERRY_API int ferry_open_source(ferry_ctx *ctx, ferry_source *src, const char *format,
                                ferry_model **out);
FERRY_API void ferry_model_close(ferry_model *m);
/* Format name ("gguf") and a format-specific version string ("3", "1.0", "" if none). */
FERRY_API const char *ferry_model_format(const ferry_model *m);
FERRY_API const char *ferry_model_format_version(const ferry_model *m);
FERRY_API int64_t ferry_model_tensor_count(const ferry_model *m);
FERRY_API int ferry_model_tensor_info(const ferry_model *m, int64_t i, ferry_tensor_info *out);
/* Index of the tensor named `name`, or -1. */
FERRY_API int64_t ferry_model_find_tensor(const ferry_model *m, const char *name);
/* Root of the metadata tree (a MAP; never NULL for an open model). */
FERRY_API const ferry_meta *ferry_model_metadata(const ferry_model *m);

/* Zero-copy access: *ptr points at nbytes bytes in the neutral layout inside the map.
 * Returns FERRY_E_UNSUPPORTED if the tensor must be materialised (use ferry_tensor_read). */
FERRY_API int ferry_tensor_data(ferry_model *m, int64_t i, const void **ptr);
/* Copies len bytes at byte `offset` of the tensor's neutral layout into dst. */
FERRY_API int ferry_tensor_read(ferry_model *m, int64_t i, uint64_t offset, void *dst,
                                size_t len);
/* Reads n elements starting at element `first`, converted to dtype dt, into dst.
 * For block types first and n must be multiples of the block size. */
FERRY_API int ferry_tensor_read_as(ferry_model *m, int64_t i, uint64_t first, uint64_t n,
                                   ferry_dtype dt, void *dst);

/* Graph access (formats with FERRY_CAP_GRAPH). Node count 0 when the model has none. */
FERRY_API int64_t ferry_model_graph_node_count(const ferry_model *m);
/* Describes node i; arrays are owned by the model. attrs is a MAP (may be empty). */
FERRY_API int ferry_model_graph_node(const ferry_model *m, int64_t i, const char **name,
                                     const char **op_type, int64_t *n_inputs,
                                     const char *const **inputs, int64_t *n_outputs,
                                     const char *const **outputs, const ferry_meta **attrs);

/* ============================================================================================
 * Building models in memory (for writers, tests and bindings)
 * ========================================================================================== */

/* An empty model (format "memory") to which tensors and metadata can be added. */
FERRY_API int ferry_model_new(ferry_ctx *ctx, ferry_model **out);
/* Adds a tensor whose bytes (neutral layout, nbytes of them) live at `data`; the buffer
 * must outlive the model (not copied). */
FERRY_API int ferry_model_add_tensor(ferry_model *m, const char *name, ferry_dtype dt,
                                     int32_t ndim, const int64_t *shape, const void *data);
/* Sets a top-level metadata entry (replacing one with the same key). */
FERRY_API int ferry_model_set_meta_string(ferry_model *m, const char *key, const char *value);
FERRY_API int ferry_model_set_meta_int(ferry_model *m, const char *key, int64_t v,
                                       ferry_dtype numtype);
FERRY_API int ferry_model_set_meta_float(ferry_model *m, const char *key, double v,
                                         ferry_dtype numtype);

/* ============================================================================================
 * Writing and converting
 * ========================================================================================== */

/* Progress callback: done/total in bytes of tensor data. Return nonzero to cancel. */
typedef int (*ferry_progress_fn)(void *ud, uint64_t done, uint64_t total);

typedef struct ferry_write_options {
    size_t            struct_size;
    const char       *format;     /* output format name; NULL: from the output's extension */
    ferry_dtype       dtype;      /* convert floating tensors to this dtype (0: keep)      */
    uint32_t          alignment;  /* data alignment where the format has one (0: default)  */
    ferry_progress_fn progress;
    void             *progress_ud;
} ferry_write_options;

/* Writes model m to `path` in the chosen format, streaming one tensor (in bounded chunks) at a
 * time through an atomic sink: on any failure nothing is left at `path`. Tensors whose dtype
 * the output cannot hold are converted losslessly where possible (notice through the log) or
 * refused (FERRY_E_DTYPE); GGML block types are dequantized to F32 with a notice. */
FERRY_API int ferry_write(ferry_model *m, const char *path, const ferry_write_options *opt);
/* Same into an open sink (not committed by this call). */
FERRY_API int ferry_write_sink(ferry_model *m, ferry_sink *sink, const ferry_write_options *opt);
/* The format a path would be written as (from its extension), or NULL. */
FERRY_API const char *ferry_format_for_path(const char *path);

/* ============================================================================================
 * Quantization (f32 rows to GGML block types, as llama-quantize writes them)
 * ========================================================================================== */

/*
 * Quantizes `nrows` rows of `n_per_row` f32 values (row-major, native byte order) from `src`
 * into `dst` as dtype `dt`, producing exactly the bytes of ggml's ggml_quantize_chunk (the
 * function llama-quantize uses) for the same input. dst receives
 * nrows * (n_per_row / ferry_dtype_block_size(dt)) * ferry_dtype_block_bytes(dt) bytes (for
 * F32 / F16 / BF16: nrows * n_per_row elements). n_per_row must be a multiple of the block
 * size.
 *
 * `imatrix` (may be NULL) is an importance matrix of n_per_row non-negative weights applied to
 * every row, as in llama-quantize --imatrix; types that ggml quantizes without one ignore it.
 * Types for which ferry_dtype_needs_imatrix() is nonzero require it.
 *
 * `nthreads`: rows are split across this many threads (0: one per online CPU); the output
 * is identical for every thread count. The call does not allocate memory; the buffers are
 * owned by the caller and must not overlap. Non-finite inputs give unspecified (but
 * in-bounds, deterministic) output, never a crash.
 *
 * Returns FERRY_OK; FERRY_E_DTYPE if dt cannot be quantized (see ferry_dtype_can_quantize);
 * FERRY_E_ARG for a negative count, n_per_row not a multiple of the block size, a missing
 * required imatrix, NULL buffers with nonzero sizes, or sizes that overflow. Thread-safe.
 */
FERRY_API int ferry_quantize_elems(ferry_dtype dt, const float *src, void *dst, int64_t nrows,
                                   int64_t n_per_row, const float *imatrix, int nthreads);
/* Nonzero when ferry_quantize_elems can produce dtype dt: F32, F16, BF16 and the GGML types
 * Q4_0 Q4_1 Q5_0 Q5_1 Q8_0 Q8_1 Q2_K..Q6_K Q8_K IQ2_XXS IQ2_XS IQ2_S IQ3_XXS IQ3_S IQ1_S
 * IQ1_M IQ4_NL IQ4_XS TQ1_0 TQ2_0 MXFP4 NVFP4 Q1_0 Q2_0 (every type ggml_quantize_chunk
 * accepts, plus ggml's activation types Q8_1 and Q8_K). ferry_convert_elems converts F32 to
 * those of them that need no importance matrix. The lattice types (IQ1_*, IQ2_*, IQ3_*)
 * build search tables on every call (up to a few tenths of a second), so quantize them in
 * large calls (a whole tensor at a time). */
FERRY_API int ferry_dtype_can_quantize(ferry_dtype dt);
/* Nonzero for the GGML types that can only be quantized with an importance matrix (IQ2_XXS,
 * IQ2_XS, IQ1_S), as in ggml. */
FERRY_API int ferry_dtype_needs_imatrix(ferry_dtype dt);

#ifdef __cplusplus
}
#endif
#endif /* FERRY_H */
