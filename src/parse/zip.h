/*
 * zip.h -- the ZIP reader and streaming writer shared by every format that lives in a zip
 * (PyTorch, TorchScript, Keras v3, TorchServe .mar, NumPy .npz). FORMATS.md §0.3,
 * SECURITY.md Z01-Z03 / C02-C04.
 *
 * Reading
 * -------
 * The central directory is authoritative (like PyTorch's miniz and Python's zipfile): the
 * end record is the last "PK\5\6" in the final 64 KiB + 22 bytes, a ZIP64 locator right
 * before it switches to the ZIP64 end record, and every central directory entry is
 * reported, duplicates included, in directory order. Each entry's data offset is computed
 * from its *local* header's name and extra lengths. Bytes before the archive (a prefix:
 * self-extractors, a TFLite file with an appended zip) are allowed: offsets are shifted by
 * (actual directory position - recorded directory offset), as Python does.
 *
 * ferry__zip_open() checks the structure (signatures, every range inside the file, counts
 * against the directory size and the context limits) and records, per entry, anomalies a
 * scanner wants to know about without refusing the archive. Problems of one entry's
 * contents (encryption, unknown method, bad CRC, deflate errors) surface only when that
 * entry is opened with ferry__zip_entry_source().
 *
 * Which duplicate wins: ferry__zip_find() returns the FIRST entry with the name, as PyTorch
 * (miniz) does; later ones carry FERRY__ZIP_A_DUPLICATE. (Python's zipfile returns the last
 * one; formats that need to be unambiguous should refuse duplicates.)
 *
 * Names are the raw bytes of the central directory (UTF-8 when flag bit 11 is set; no
 * CP437 decoding), NUL-terminated; a name containing a NUL byte is flagged unsafe.
 *
 * Writing
 * -------
 * ferry__zip_writer streams entries into a ferry_sink, which cannot seek: every entry has
 * flag bit 3 and a data descriptor (signature, CRC-32, sizes) after its data, and the CRC is
 * computed while streaming. Python's zipfile, numpy.load and miniz read such archives.
 * Stored entries may have their data aligned by padding the local extra field with a
 * PyTorch-style "FB" record (id 0x4246, filler 'Z'). ZIP64 records are written when an
 * entry's size or offset, the directory's size or offset, or the entry count need them.
 * Timestamps are fixed (1980-01-01 00:00) so output is reproducible.
 */
#ifndef FERRY_PARSE_ZIP_H
#define FERRY_PARSE_ZIP_H

#include "internal.h"

/* ============================================================================================
 * Reading
 * ========================================================================================== */

/* Per-entry anomalies (ferry__zip_entry.anomalies). None of them stops ferry__zip_open. */
enum {
    FERRY__ZIP_A_ENCRYPTED      = 1u << 0, /* flag bit 0 or 6: encrypted (reading refused)    */
    FERRY__ZIP_A_PATCHED        = 1u << 1, /* flag bit 5: patch data (reading refused)        */
    FERRY__ZIP_A_DUPLICATE      = 1u << 2, /* an earlier entry has the same name              */
    FERRY__ZIP_A_NAME_MISMATCH  = 1u << 3, /* local header name differs from the directory's  */
    FERRY__ZIP_A_LOCAL_MISMATCH = 1u << 4, /* local method / sizes / CRC contradict it        */
    FERRY__ZIP_A_UNSAFE_PATH    = 1u << 5, /* absolute, "..", '\\', drive letter, NUL byte    */
    FERRY__ZIP_A_SYMLINK        = 1u << 6, /* Unix mode bits say symbolic link                */
    FERRY__ZIP_A_OVERLAP        = 1u << 7, /* starts inside an earlier entry's header or data */
};

/* Archive-level anomalies (ferry__zip_anomalies). */
enum {
    FERRY__ZIP_Z_PREFIX         = 1u << 0, /* bytes precede the archive (shift != 0)          */
    FERRY__ZIP_Z_ZIP64          = 1u << 1, /* a ZIP64 end record is in use (not an anomaly)   */
    FERRY__ZIP_Z_EOCD_MISMATCH  = 1u << 2, /* end record fields contradict the ZIP64 record   */
    FERRY__ZIP_Z_MULTIPLE_EOCD  = 1u << 3, /* another end signature precedes the one used     */
    FERRY__ZIP_Z_COMMENT_LENGTH = 1u << 4, /* the comment does not end exactly at end of file */
};

/* Options (ferry__zip_opts.flags). */
enum {
    FERRY__ZIP_CRC_STORED   = 1u << 0, /* check CRC-32 of stored entries too (reads them)   */
    FERRY__ZIP_NO_CRC       = 1u << 1, /* never check CRC-32, not even while inflating      */
    FERRY__ZIP_IGNORE_FLAGS = 1u << 2, /* read encrypted/patched entries as plain (miniz)   */
};

#define FERRY__ZIP_DEFLATE_MAX_RATIO 1032u /* deflate cannot expand data more than ~1032:1 */
#define FERRY__ZIP_SMALL_MEMBER      (1u << 20) /* below this, no ratio check              */

typedef struct ferry__zip_opts {
    uint32_t flags;
    /* Deflated entries whose declared size exceeds FERRY__ZIP_SMALL_MEMBER must not declare
     * more than max_ratio times their compressed size (0: FERRY__ZIP_DEFLATE_MAX_RATIO, the
     * most deflate can achieve, so only impossible sizes are refused). */
    uint32_t max_ratio;
} ferry__zip_opts;

typedef struct ferry__zip_entry {
    const char *name;          /* NUL-terminated copy of the directory name              */
    size_t      name_len;      /* its length in bytes (may exceed strlen(name))           */
    uint16_t    made_by;       /* "version made by" (high byte: host system)              */
    uint16_t    flags;         /* general purpose bit flag                                */
    uint16_t    method;        /* 0 stored, 8 deflated, others listed but not readable    */
    uint32_t    crc32;
    uint64_t    csize;         /* compressed size (central directory, ZIP64-resolved)     */
    uint64_t    usize;         /* uncompressed size                                       */
    uint64_t    header_offset; /* local header offset as recorded (before the shift)      */
    uint64_t    local_offset;  /* absolute offset of the local header in the source       */
    uint64_t    data_offset;   /* absolute offset of the (compressed) data                */
    uint64_t    cd_offset;     /* absolute offset of the directory entry                  */
    uint32_t    external_attr;
    uint32_t    anomalies;     /* FERRY__ZIP_A_* */
} ferry__zip_entry;

typedef struct ferry__zip ferry__zip;

/*
 * Opens the zip archive in src (a reference is held until ferry__zip_close). opts may be
 * NULL (defaults: CRC-32 of deflated entries checked, stored ones not, encrypted entries
 * refused). Errors: FERRY_E_CORRUPT for structural violations (message names the offset),
 * FERRY_E_LIMIT when the entry count or directory size exceeds the context limits
 * (tensor_count, header_bytes), FERRY_E_UNSUPPORTED for multi-disk archives.
 */
int ferry__zip_open(ferry_ctx *ctx, ferry_source *src, const ferry__zip_opts *opts,
                    ferry__zip **out);
void ferry__zip_close(ferry__zip *z);

int64_t ferry__zip_count(const ferry__zip *z);
/* Entry i (0 <= i < count) or NULL. Valid until ferry__zip_close. */
const ferry__zip_entry *ferry__zip_entry_at(const ferry__zip *z, int64_t i);
/* Index of the first entry named `name` (exact bytes), or -1. */
int64_t ferry__zip_find(const ferry__zip *z, const char *name, size_t name_len);
/* FERRY__ZIP_Z_* bits, the prefix length, and the archive's source. */
uint32_t ferry__zip_anomalies(const ferry__zip *z);
uint64_t ferry__zip_prefix(const ferry__zip *z);
ferry_source *ferry__zip_source(const ferry__zip *z);

/*
 * A source holding entry i's uncompressed bytes, named "<archive>: <entry>" in messages:
 *   - stored: a zero-copy sub-range of the archive (CRC-32 checked only with
 *     FERRY__ZIP_CRC_STORED);
 *   - deflated: inflated into an owned buffer of exactly the declared size. The size is
 *     checked against total_alloc and the ratio bound before anything is allocated; output
 *     longer or shorter than declared, a truncated or corrupt stream, or a CRC-32 mismatch
 *     (unless FERRY__ZIP_NO_CRC) is FERRY_E_CORRUPT.
 * Encrypted/patched entries (without FERRY__ZIP_IGNORE_FLAGS) and methods other than 0/8
 * are FERRY_E_UNSUPPORTED. The caller closes *out.
 */
int ferry__zip_entry_source(ferry__zip *z, int64_t i, ferry_source **out);

/* Copies the first n bytes (n <= usize) of entry i's uncompressed data into dst, inflating
 * only as much as needed (for reading a member's header without inflating all of it). The
 * same refusals as ferry__zip_entry_source apply; no CRC check (the data is partial). */
int ferry__zip_entry_prefix(ferry__zip *z, int64_t i, void *dst, size_t n);

/* Computes entry i's CRC-32 over its uncompressed data (streaming, bounded memory) and
 * compares it with the directory: FERRY_OK or FERRY_E_CORRUPT naming both values. */
int ferry__zip_check_crc(ferry__zip *z, int64_t i);

/* ============================================================================================
 * Non-allocating walk (for bid())
 * ========================================================================================== */

#define FERRY__ZIP_WALK_NAME 256

typedef struct ferry__zip_walk_entry {
    char     name[FERRY__ZIP_WALK_NAME]; /* first bytes of the name, NUL-terminated */
    size_t   name_len;                   /* full length (may exceed what name holds) */
    uint16_t method;
    uint16_t flags;
    uint64_t csize;                      /* 32-bit directory values (not ZIP64-resolved) */
    uint64_t usize;
} ferry__zip_walk_entry;

/* Return nonzero to stop the walk. */
typedef int (*ferry__zip_walk_fn)(void *ud, const ferry__zip_walk_entry *e);

/*
 * Walks at most max_entries central directory entries of the zip in src without allocating
 * and without touching the context's error (reads are range-checked first). Returns the
 * total entry count the end record declares (>= 0), or -1 if src does not look like a zip
 * (no end record, directory out of range, a bad entry signature).
 */
int64_t ferry__zip_walk(ferry_source *src, uint64_t max_entries, ferry__zip_walk_fn fn,
                        void *ud);

/* ============================================================================================
 * Writing
 * ========================================================================================== */

typedef struct ferry__zip_writer ferry__zip_writer;

enum {
    FERRY__ZIP_W_FORCE_ZIP64 = 1u << 0, /* ZIP64 records for every entry and the end (tests) */
};

/* A writer appending to `sink` (not owned; the caller commits or aborts it). */
int ferry__zip_writer_new(ferry_ctx *ctx, ferry_sink *sink, uint32_t flags,
                          ferry__zip_writer **out);

/*
 * Starts an entry. method: 0 (stored) or 8 (deflated, zlib level 6). usize: the exact
 * number of bytes that will follow (checked at ferry__zip_writer_end). align: 0 or 1 for
 * none, else a power of two <= 4096 at which the entry's data must start (stored only).
 * The name must be a safe relative path (no leading '/', no '\\', no ".." component, no
 * drive letter, no NUL): FERRY_E_ARG otherwise.
 */
int ferry__zip_writer_begin(ferry__zip_writer *w, const char *name, size_t name_len,
                            int method, uint64_t usize, uint32_t align);
/* Like ferry__zip_writer_begin, but aligns the byte `skew` bytes into the entry's data
 * instead of its first byte (an .npz aligns the array after a member's npy header). */
int ferry__zip_writer_begin_at(ferry__zip_writer *w, const char *name, size_t name_len,
                               int method, uint64_t usize, uint32_t align, uint64_t skew);
int ferry__zip_writer_write(ferry__zip_writer *w, const void *data, size_t len);
/* Streams tensor i of a write plan into the current entry (zero-copy from the map when the
 * dtype is unchanged, else converted in bounded chunks), reporting progress. */
int ferry__zip_writer_put_tensor(ferry__zip_writer *w, ferry__wplan *plan, int64_t i);
/* Ends the entry: checks the byte count, writes the data descriptor. */
int ferry__zip_writer_end(ferry__zip_writer *w);
/* Writes the central directory and the end records. No entry may be open. */
int ferry__zip_writer_finish(ferry__zip_writer *w);
/* Frees the writer (NULL-tolerant); the sink is left to the caller. */
void ferry__zip_writer_free(ferry__zip_writer *w);

#endif /* FERRY_PARSE_ZIP_H */
