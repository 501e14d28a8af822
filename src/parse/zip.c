/*
 * zip.c -- ZIP reading (central directory authoritative, bounded inflate) and streaming
 * writing (data descriptors, optional alignment, ZIP64). See zip.h for the contract.
 *
 * Spec: PKWARE APPNOTE 6.3 §4.3 (records), §4.4 (fields), §4.5.3 (ZIP64 extra), FORMATS.md
 * §0.3, SECURITY.md Z01-Z03 and C02-C04. Behaviour follows the two readers that matter for
 * model files: Python's zipfile (numpy.load) and miniz (PyTorch).
 *
 * Decisions that are not obvious:
 *   - End record: the last "PK\5\6" whose 22 bytes fit in the file, searched in the last
 *     64 KiB + 22 bytes (Python checks the comment-less position first, then rfind()s; the
 *     result is the same). A ZIP64 locator immediately before it selects the ZIP64 end
 *     record, looked for right before the locator (Python) and else at the locator's offset.
 *   - Prefix data: every recorded offset is shifted by (actual directory start - recorded
 *     directory offset). The directory is taken to end where the (ZIP64) end record starts.
 *   - Limits before allocation: the entry count must fit the directory (46 bytes each) and
 *     limits.tensor_count; the directory must fit limits.header_bytes. Memory at open is
 *     then bounded by a small multiple of the directory size.
 *   - Structure is checked at open (signatures; local header, name and data inside the
 *     bytes before the directory); an entry's contents only when it is opened. Entries
 *     that disagree with their local header, overlap, repeat a name or carry unsafe paths
 *     are kept and flagged (SECURITY.md C02, Z01, Z03): a scanner reports them, a format
 *     decides.
 *   - Inflate is bounded: the declared size must pass total_alloc and, above 1 MiB, the
 *     ratio bound before the buffer is allocated, and the stream must produce exactly that
 *     many bytes (a spill byte detects longer output). zlib allocates through the context.
 *   - The writer cannot seek, so it always sets flag bit 3 and writes a data descriptor
 *     (with its optional signature, as Python and miniz do), with 8-byte sizes when the
 *     local header carries a ZIP64 extra. A stored entry's alignment padding is a local
 *     extra record "FB" + u16 length + 'Z' filler, the layout PyTorch writes
 *     (caffe2/serialize/inline_container.cc getPadding), always present when aligning.
 */
#include "parse/zip.h"

#include <stdio.h>
#include <stdlib.h>
#include <zlib.h>

/* ============================================================================================
 * Record layouts (APPNOTE §4.3)
 * ========================================================================================== */

#define SIG_LOCAL    0x04034b50u /* PK\3\4 */
#define SIG_CENTRAL  0x02014b50u /* PK\1\2 */
#define SIG_EOCD     0x06054b50u /* PK\5\6 */
#define SIG_Z64_EOCD 0x06064b50u /* PK\6\6 */
#define SIG_Z64_LOC  0x07064b50u /* PK\6\7 */
#define SIG_DESC     0x08074b50u /* PK\7\8 */

#define LOCAL_LEN    30u
#define CENTRAL_LEN  46u
#define EOCD_LEN     22u
#define Z64_LOC_LEN  20u
#define Z64_EOCD_LEN 56u
#define MAX_COMMENT  65535u

#define EXTRA_ZIP64   0x0001u
#define EXTRA_PADDING 0x4246u /* "FB": PyTorch's alignment padding */

#define FLAG_ENCRYPTED  0x0001u
#define FLAG_DESCRIPTOR 0x0008u
#define FLAG_PATCHED    0x0020u
#define FLAG_STRONG     0x0040u
#define FLAG_UTF8       0x0800u

#define U16_MAX 0xFFFFu
#define U32_MAX 0xFFFFFFFFu

#define CHUNK (64u << 10) /* streaming buffers */

/* ============================================================================================
 * Shared helpers
 * ========================================================================================== */

/* Reads n bytes at off after checking the range, so that a quiet caller (ctx == NULL) never
 * leaves a message on the context for an out-of-range read. */
static int rd(ferry_ctx *ctx, ferry_source *src, uint64_t off, void *dst, size_t n)
{
    uint64_t end;
    if (ferry__add_overflow(off, n, &end) || end > src->size)
        return ferry__fail_at(ctx, FERRY_E_CORRUPT, src, off,
                              "record of %zu bytes runs past the end of the file (%llu bytes)",
                              n, (unsigned long long)src->size);
    return ferry_source_read(src, off, dst, n);
}

/* Whether a path taken from a zip would escape an extraction directory (SECURITY.md Z03). */
static bool unsafe_name(const char *s, size_t n)
{
    if (n == 0 || s[0] == '/' || (n >= 2 && s[1] == ':')) return true;
    size_t seg = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i < n && (s[i] == '\\' || s[i] == 0)) return true;
        if (i == n || s[i] == '/') {
            if (i - seg == 2 && s[seg] == '.' && s[seg + 1] == '.') return true;
            seg = i + 1;
        }
    }
    return false;
}

static voidpf z_alloc(voidpf opaque, uInt items, uInt size)
{
    if (size && items > SIZE_MAX / size) return Z_NULL;
    return ferry__malloc((ferry_ctx *)opaque, (size_t)items * size);
}

static void z_free(voidpf opaque, voidpf p) { ferry__free((ferry_ctx *)opaque, p, 0); }

static uint32_t crc_update(uint32_t crc, const uint8_t *p, uint64_t n)
{
    while (n) {
        uInt k = n > (1u << 30) ? (1u << 30) : (uInt)n;
        crc = (uint32_t)crc32(crc, p, k);
        p += k;
        n -= k;
    }
    return crc;
}

/* ============================================================================================
 * End of central directory
 * ========================================================================================== */

typedef struct zip_end {
    uint64_t eocd;      /* position of the end record */
    uint64_t count;     /* entries */
    uint64_t cd_start;  /* actual position of the directory */
    uint64_t cd_size;
    uint64_t shift;     /* prefix bytes: actual - recorded directory offset */
    uint32_t anomalies; /* FERRY__ZIP_Z_* */
} zip_end;

/* Finds the end record: the highest "PK\5\6" with 22 bytes after it in the last 64 KiB + 22
 * bytes. With `more`, keeps scanning the same window for an earlier signature (anomaly). */
static int find_eocd(ferry_ctx *ctx, ferry_source *src, bool more, uint64_t *pos,
                     uint32_t *anom)
{
    uint64_t size = src->size;
    if (size < EOCD_LEN)
        return ferry__fail_at(ctx, FERRY_E_CORRUPT, src, 0,
                              "%llu bytes are too few for a zip end of central directory "
                              "record (22 bytes)", (unsigned long long)size);
    uint8_t buf[4096 + 3];
    uint64_t hi = size - EOCD_LEN;
    /* Fast path (Python's first check): no comment. */
    FERRY_TRY(rd(ctx, src, hi, buf, EOCD_LEN));
    bool found = ferry__rd32le(buf) == SIG_EOCD && ferry__rd16le(buf + 20) == 0;
    if (found) *pos = hi;
    if (found && !more) return FERRY_OK;
    uint64_t lo = hi > MAX_COMMENT ? hi - MAX_COMMENT : 0;
    uint64_t whi = found ? (hi ? hi - 1 : 0) : hi;
    if (found && hi == 0) return FERRY_OK;
    for (;;) {
        uint64_t wlo = whi - lo >= 4095 ? whi - 4095 : lo;
        size_t n = (size_t)(whi - wlo) + 4;
        FERRY_TRY(rd(ctx, src, wlo, buf, n));
        for (uint64_t c = whi + 1; c-- > wlo;) {
            if (ferry__rd32le(buf + (c - wlo)) != SIG_EOCD) continue;
            if (found) {
                *anom |= FERRY__ZIP_Z_MULTIPLE_EOCD;
                return FERRY_OK;
            }
            FERRY_TESTCASE(c == lo); /* a comment of the maximum length */
            found = true;
            *pos  = c;
            if (!more) return FERRY_OK;
        }
        if (wlo == lo) break;
        whi = wlo - 1;
    }
    if (!found)
        return ferry__fail_at(ctx, FERRY_E_CORRUPT, src, size > EOCD_LEN + MAX_COMMENT
                                                             ? size - EOCD_LEN - MAX_COMMENT
                                                             : 0,
                              "no zip end of central directory record (PK\\5\\6) in the last "
                              "%llu bytes", (unsigned long long)(size - lo));
    return FERRY_OK;
}

/* Reads the end record and, if a locator precedes it, the ZIP64 end record; computes the
 * directory's actual position and the prefix shift. ctx may be NULL (quiet). */
static int read_end(ferry_ctx *ctx, ferry_source *src, bool thorough, zip_end *out)
{
    memset(out, 0, sizeof *out);
    uint64_t pos = 0;
    FERRY_TRY(find_eocd(ctx, src, thorough, &pos, &out->anomalies));
    uint8_t b[Z64_EOCD_LEN];
    FERRY_TRY(rd(ctx, src, pos, b, EOCD_LEN));
    uint16_t disk = ferry__rd16le(b + 4), cd_disk = ferry__rd16le(b + 6);
    uint64_t on_disk = ferry__rd16le(b + 8), count = ferry__rd16le(b + 10);
    uint64_t cd_size = ferry__rd32le(b + 12), cd_off = ferry__rd32le(b + 16);
    uint16_t clen = ferry__rd16le(b + 20);
    if (pos + EOCD_LEN + clen != src->size) out->anomalies |= FERRY__ZIP_Z_COMMENT_LENGTH;
    out->eocd = pos;
    uint64_t cd_end = pos; /* the directory ends where the (ZIP64) end records start */

    if (pos >= Z64_LOC_LEN) {
        uint8_t loc[Z64_LOC_LEN];
        FERRY_TRY(rd(ctx, src, pos - Z64_LOC_LEN, loc, Z64_LOC_LEN));
        if (ferry__rd32le(loc) == SIG_Z64_LOC) {
            uint64_t loc_pos = pos - Z64_LOC_LEN;
            uint32_t z_disk = ferry__rd32le(loc + 4), disks = ferry__rd32le(loc + 16);
            uint64_t z_off = ferry__rd64le(loc + 8);
            if (z_disk != 0 || disks > 1)
                return ferry__fail_at(ctx, FERRY_E_UNSUPPORTED, src, loc_pos,
                                      "zip spans %u disks; multi-disk archives are not "
                                      "supported", disks);
            /* Python looks right before the locator; a writer with extensible data puts
             * it elsewhere, so the recorded offset is the second choice. */
            uint64_t cand[2] = {loc_pos >= Z64_EOCD_LEN ? loc_pos - Z64_EOCD_LEN : UINT64_MAX,
                                z_off};
            uint64_t zpos = UINT64_MAX;
            for (int k = 0; k < 2 && zpos == UINT64_MAX; k++) {
                if (cand[k] == UINT64_MAX || cand[k] > loc_pos ||
                    loc_pos - cand[k] < Z64_EOCD_LEN)
                    continue;
                FERRY_TRY(rd(ctx, src, cand[k], b, Z64_EOCD_LEN));
                if (ferry__rd32le(b) == SIG_Z64_EOCD) zpos = cand[k];
            }
            if (zpos == UINT64_MAX)
                return ferry__fail_at(ctx, FERRY_E_CORRUPT, src, loc_pos,
                                      "ZIP64 locator points at offset %llu, which holds no "
                                      "ZIP64 end of central directory record (PK\\6\\6)",
                                      (unsigned long long)z_off);
            uint64_t rec = ferry__rd64le(b + 4), rec_end;
            if (rec < Z64_EOCD_LEN - 12 || ferry__add_overflow(zpos + 12, rec, &rec_end) ||
                rec_end > loc_pos)
                return ferry__fail_at(ctx, FERRY_E_CORRUPT, src, zpos + 4,
                                      "ZIP64 end record size %llu, expected 44 to %llu",
                                      (unsigned long long)rec,
                                      (unsigned long long)(loc_pos - zpos - 12));
            if (ferry__rd32le(b + 16) != 0 || ferry__rd32le(b + 20) != 0)
                return ferry__fail_at(ctx, FERRY_E_UNSUPPORTED, src, zpos + 16,
                                      "multi-disk archives are not supported");
            uint64_t z_on_disk = ferry__rd64le(b + 24), z_count = ferry__rd64le(b + 32);
            uint64_t z_size = ferry__rd64le(b + 40), z_cd = ferry__rd64le(b + 48);
            /* SECURITY.md Z02: a 16/32-bit field that is not the escape value must agree. */
            if ((count != U16_MAX && count != z_count) ||
                (cd_size != U32_MAX && cd_size != z_size) ||
                (cd_off != U32_MAX && cd_off != z_cd))
                out->anomalies |= FERRY__ZIP_Z_EOCD_MISMATCH;
            disk = 0;
            cd_disk = 0;
            on_disk = z_on_disk;
            count = z_count;
            cd_size = z_size;
            cd_off = z_cd;
            cd_end = zpos;
            out->anomalies |= FERRY__ZIP_Z_ZIP64;
        }
    }
    if (disk != 0 || cd_disk != 0 || on_disk != count)
        return ferry__fail_at(ctx, FERRY_E_UNSUPPORTED, src, pos + 4,
                              "zip spans several disks (disk %u, directory on disk %u); "
                              "multi-disk archives are not supported", disk, cd_disk);
    if (cd_size > cd_end)
        return ferry__fail_at(ctx, FERRY_E_CORRUPT, src, pos + 12,
                              "central directory size %llu exceeds the %llu bytes before the "
                              "end record", (unsigned long long)cd_size,
                              (unsigned long long)cd_end);
    out->cd_start = cd_end - cd_size;
    out->cd_size  = cd_size;
    if (cd_off > out->cd_start)
        return ferry__fail_at(ctx, FERRY_E_CORRUPT, src, pos + 16,
                              "central directory offset %llu out of range: the directory of "
                              "%llu bytes must end at the end record (offset %llu)",
                              (unsigned long long)cd_off, (unsigned long long)cd_size,
                              (unsigned long long)cd_end);
    out->shift = out->cd_start - cd_off;
    if (out->shift) out->anomalies |= FERRY__ZIP_Z_PREFIX;
    if (count > cd_size / CENTRAL_LEN)
        return ferry__fail_at(ctx, FERRY_E_CORRUPT, src, pos + 10,
                              "%llu entries cannot fit in a central directory of %llu bytes "
                              "(46 bytes each at least)", (unsigned long long)count,
                              (unsigned long long)cd_size);
    out->count = count;
    return FERRY_OK;
}

/* ============================================================================================
 * Opening an archive
 * ========================================================================================== */

struct ferry__zip {
    ferry_ctx        *ctx;
    ferry_source     *src;
    ferry__zip_opts   opts;
    ferry__zip_entry *e;
    int64_t           n;
    char             *names;
    int64_t          *hash;
    uint64_t          hash_cap;
    uint64_t          shift;
    uint64_t          cd_start;
    uint32_t          anomalies;
};

static uint64_t hash_bytes(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < n; i++) h = (h ^ (uint8_t)s[i]) * 1099511628211ull;
    return h;
}

/* Compares len bytes at off of src with s, through a small stack buffer. */
static int same_bytes(ferry_ctx *ctx, ferry_source *src, uint64_t off, const char *s,
                      size_t len, bool *eq)
{
    uint8_t buf[512];
    *eq = true;
    while (len) {
        size_t k = len < sizeof buf ? len : sizeof buf;
        FERRY_TRY(rd(ctx, src, off, buf, k));
        if (memcmp(buf, s, k) != 0) {
            *eq = false;
            return FERRY_OK;
        }
        off += k;
        s += k;
        len -= k;
    }
    return FERRY_OK;
}

/* Resolves the ZIP64 extra field of a directory entry (APPNOTE §4.5.3): only the fields
 * whose 32-bit value is the escape are present, in the order usize, csize, offset, disk. */
static int parse_extra(ferry__zip *z, uint64_t at, const uint8_t *x, size_t xlen,
                       ferry__zip_entry *e, uint16_t disk)
{
    size_t p = 0;
    while (xlen - p >= 4) {
        uint16_t id = ferry__rd16le(x + p), sz = ferry__rd16le(x + p + 2);
        if (sz > xlen - p - 4)
            return ferry__fail_at(z->ctx, FERRY_E_CORRUPT, z->src, at + p,
                                  "extra field 0x%04x of %u bytes runs past the %zu-byte "
                                  "extra area of entry \"%s\"", id, sz, xlen, e->name);
        if (id == EXTRA_ZIP64) {
            const uint8_t *f = x + p + 4;
            size_t left = sz;
            uint64_t *fields[3] = {&e->usize, &e->csize, &e->header_offset};
            for (int k = 0; k < 3; k++) {
                if (*fields[k] != U32_MAX) continue;
                if (left < 8)
                    return ferry__fail_at(z->ctx, FERRY_E_CORRUPT, z->src, at + p,
                                          "ZIP64 extra field of entry \"%s\" is %u bytes, too "
                                          "short for the sizes/offset it must hold",
                                          e->name, sz);
                *fields[k] = ferry__rd64le(f);
                f += 8;
                left -= 8;
            }
            if (disk == U16_MAX && left < 4)
                return ferry__fail_at(z->ctx, FERRY_E_CORRUPT, z->src, at + p,
                                      "ZIP64 extra field of entry \"%s\" lacks the disk "
                                      "number", e->name);
        }
        p += 4u + sz;
    }
    return FERRY_OK;
}

/* Reads the local header of e: computes the data offset from the local name and extra
 * lengths, checks that header, name and data lie before the directory, and flags
 * disagreements with the directory. */
static int read_local(ferry__zip *z, int64_t i, ferry__zip_entry *e)
{
    ferry_ctx *ctx = z->ctx;
    uint64_t lh, tmp;
    if (ferry__add_overflow(e->header_offset, z->shift, &lh) ||
        ferry__add_overflow(lh, LOCAL_LEN, &tmp) || tmp > z->cd_start)
        return ferry__fail_at(ctx, FERRY_E_CORRUPT, z->src, e->cd_offset + 42,
                              "entry %lld \"%s\": local header offset %llu out of range (the "
                              "directory starts at %llu)", (long long)i, e->name,
                              (unsigned long long)e->header_offset,
                              (unsigned long long)(z->cd_start - z->shift));
    uint8_t h[LOCAL_LEN];
    FERRY_TRY(rd(ctx, z->src, lh, h, LOCAL_LEN));
    if (ferry__rd32le(h) != SIG_LOCAL)
        return ferry__fail_at(ctx, FERRY_E_CORRUPT, z->src, lh,
                              "found 0x%08x, expected the local file header signature "
                              "PK\\3\\4 of entry %lld \"%s\"", ferry__rd32le(h), (long long)i,
                              e->name);
    uint16_t lnlen = ferry__rd16le(h + 26), lxlen = ferry__rd16le(h + 28);
    uint64_t data = lh + LOCAL_LEN + lnlen + lxlen, dend;
    if (data > z->cd_start)
        return ferry__fail_at(ctx, FERRY_E_CORRUPT, z->src, lh + 26,
                              "local header of entry \"%s\" (name %u + extra %u bytes) runs "
                              "into the central directory at %llu", e->name, lnlen, lxlen,
                              (unsigned long long)z->cd_start);
    if (ferry__add_overflow(data, e->csize, &dend) || dend > z->cd_start)
        return ferry__fail_at(ctx, FERRY_E_CORRUPT, z->src, data,
                              "data of entry \"%s\" (%llu bytes) runs past the start of the "
                              "central directory at %llu", e->name,
                              (unsigned long long)e->csize, (unsigned long long)z->cd_start);
    FERRY_TESTCASE(dend == z->cd_start); /* data ends where the directory starts */
    e->local_offset = lh;
    e->data_offset  = data;
    bool eq = lnlen == e->name_len;
    if (eq) FERRY_TRY(same_bytes(ctx, z->src, lh + LOCAL_LEN, e->name, e->name_len, &eq));
    if (!eq) e->anomalies |= FERRY__ZIP_A_NAME_MISMATCH;
    uint16_t lflags = ferry__rd16le(h + 6), lmethod = ferry__rd16le(h + 8);
    uint32_t lcrc = ferry__rd32le(h + 14), lcs = ferry__rd32le(h + 18), lus = ferry__rd32le(h + 22);
    if (lmethod != e->method) e->anomalies |= FERRY__ZIP_A_LOCAL_MISMATCH;
    if (!(lflags & FLAG_DESCRIPTOR) &&
        (lcrc != e->crc32 || (lcs != U32_MAX && lcs != e->csize) ||
         (lus != U32_MAX && lus != e->usize)))
        e->anomalies |= FERRY__ZIP_A_LOCAL_MISMATCH;
    if ((lflags ^ e->flags) & (FLAG_ENCRYPTED | FLAG_STRONG | FLAG_PATCHED))
        e->anomalies |= FERRY__ZIP_A_LOCAL_MISMATCH;
    return FERRY_OK;
}

typedef struct span {
    uint64_t start;
    uint64_t end;
    int64_t  idx;
} span;

static int cmp_span(const void *a, const void *b)
{
    const span *x = a, *y = b;
    if (x->start != y->start) return x->start < y->start ? -1 : 1;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* Flags entries whose local header starts inside an earlier entry's header or data
 * (overlapping entries let a small archive inflate the same bytes many times). */
static int flag_overlaps(ferry__zip *z)
{
    if (z->n < 2) return FERRY_OK;
    span *s = ferry__malloc(z->ctx, sizeof *s * (size_t)z->n);
    if (!s) return z->ctx->err_code;
    for (int64_t i = 0; i < z->n; i++) {
        s[i].start = z->e[i].local_offset;
        s[i].end   = z->e[i].data_offset + z->e[i].csize;
        s[i].idx   = i;
    }
    qsort(s, (size_t)z->n, sizeof *s, cmp_span);
    uint64_t max_end = s[0].end;
    for (int64_t i = 1; i < z->n; i++) {
        if (s[i].start < max_end) z->e[s[i].idx].anomalies |= FERRY__ZIP_A_OVERLAP;
        if (s[i].end > max_end) max_end = s[i].end;
    }
    ferry__free(z->ctx, s, 0);
    return FERRY_OK;
}

/* Builds the name index; later entries with a name already present are duplicates. */
static int index_names(ferry__zip *z)
{
    uint64_t cap = 16;
    while (cap < (uint64_t)z->n * 2) cap *= 2;
    z->hash = ferry__malloc(z->ctx, sizeof(int64_t) * (size_t)cap);
    if (!z->hash) return z->ctx->err_code;
    z->hash_cap = cap;
    for (uint64_t k = 0; k < cap; k++) z->hash[k] = -1;
    for (int64_t i = 0; i < z->n; i++) {
        ferry__zip_entry *e = &z->e[i];
        uint64_t h = hash_bytes(e->name, e->name_len) & (cap - 1);
        bool dup = false;
        while (z->hash[h] >= 0) {
            const ferry__zip_entry *o = &z->e[z->hash[h]];
            if (o->name_len == e->name_len && memcmp(o->name, e->name, e->name_len) == 0) {
                dup = true;
                break;
            }
            h = (h + 1) & (cap - 1);
        }
        if (dup)
            e->anomalies |= FERRY__ZIP_A_DUPLICATE;
        else
            z->hash[h] = i;
    }
    return FERRY_OK;
}

/* Parses the n directory entries in cd (cd_size bytes starting at z->cd_start). */
static int parse_directory(ferry__zip *z, const uint8_t *cd, uint64_t cd_size)
{
    ferry_ctx *ctx = z->ctx;
    uint64_t p = 0;
    size_t npool = 0;
    for (int64_t i = 0; i < z->n; i++) {
        uint64_t at = z->cd_start + p;
        if (cd_size - p < CENTRAL_LEN)
            return ferry__fail_at(ctx, FERRY_E_CORRUPT, z->src, at,
                                  "central directory entry %lld of %lld runs past the end of "
                                  "the directory", (long long)i, (long long)z->n);
        const uint8_t *c = cd + p;
        if (ferry__rd32le(c) != SIG_CENTRAL)
            return ferry__fail_at(ctx, FERRY_E_CORRUPT, z->src, at,
                                  "found 0x%08x, expected the central directory entry "
                                  "signature PK\\1\\2 (entry %lld)", ferry__rd32le(c),
                                  (long long)i);
        uint16_t nlen = ferry__rd16le(c + 28), xlen = ferry__rd16le(c + 30);
        uint16_t clen = ferry__rd16le(c + 32);
        uint64_t total = (uint64_t)CENTRAL_LEN + nlen + xlen + clen;
        if (total > cd_size - p)
            return ferry__fail_at(ctx, FERRY_E_CORRUPT, z->src, at + 28,
                                  "central directory entry %lld (name %u, extra %u, comment "
                                  "%u bytes) runs past the end of the directory",
                                  (long long)i, nlen, xlen, clen);
        ferry__zip_entry *e = &z->e[i];
        memset(e, 0, sizeof *e);
        char *name = z->names + npool;
        memcpy(name, c + CENTRAL_LEN, nlen);
        name[nlen] = 0;
        npool += (size_t)nlen + 1;
        e->name          = name;
        e->name_len      = nlen;
        e->made_by       = ferry__rd16le(c + 4);
        e->flags         = ferry__rd16le(c + 8);
        e->method        = ferry__rd16le(c + 10);
        e->crc32         = ferry__rd32le(c + 16);
        e->csize         = ferry__rd32le(c + 20);
        e->usize         = ferry__rd32le(c + 24);
        e->external_attr = ferry__rd32le(c + 38);
        e->header_offset = ferry__rd32le(c + 42);
        e->cd_offset     = at;
        FERRY_TRY(parse_extra(z, at + CENTRAL_LEN + nlen, c + CENTRAL_LEN + nlen, xlen, e,
                              ferry__rd16le(c + 34)));
        if (e->flags & (FLAG_ENCRYPTED | FLAG_STRONG)) e->anomalies |= FERRY__ZIP_A_ENCRYPTED;
        if (e->flags & FLAG_PATCHED) e->anomalies |= FERRY__ZIP_A_PATCHED;
        if (unsafe_name(e->name, e->name_len)) e->anomalies |= FERRY__ZIP_A_UNSAFE_PATH;
        /* Unix host (3) with S_IFLNK in the high 16 bits of the external attributes. */
        if ((e->made_by >> 8) == 3 && ((e->external_attr >> 16) & 0170000u) == 0120000u)
            e->anomalies |= FERRY__ZIP_A_SYMLINK;
        FERRY_TRY(read_local(z, i, e));
        p += total;
    }
    return FERRY_OK;
}

int ferry__zip_open(ferry_ctx *ctx, ferry_source *src, const ferry__zip_opts *opts,
                    ferry__zip **out)
{
    *out = NULL;
    zip_end end;
    FERRY_TRY(read_end(ctx, src, true, &end));
    if (end.count > ctx->limits.tensor_count)
        return ferry__fail_at(ctx, FERRY_E_LIMIT, src, end.eocd,
                              "zip declares %llu entries (limit tensor_count = %llu)",
                              (unsigned long long)end.count,
                              (unsigned long long)ctx->limits.tensor_count);
    if (end.cd_size > ctx->limits.header_bytes || end.cd_size > SIZE_MAX / 2)
        return ferry__fail_at(ctx, FERRY_E_LIMIT, src, end.cd_start,
                              "central directory of %llu bytes (limit header_bytes = %llu)",
                              (unsigned long long)end.cd_size,
                              (unsigned long long)ctx->limits.header_bytes);
    ferry__zip *z = ferry__calloc(ctx, 1, sizeof *z);
    if (!z) return ctx->err_code;
    z->ctx       = ctx;
    z->src       = ferry__source_ref(src);
    z->n         = (int64_t)end.count;
    z->shift     = end.shift;
    z->cd_start  = end.cd_start;
    z->anomalies = end.anomalies;
    if (opts) z->opts = *opts;
    if (!z->opts.max_ratio) z->opts.max_ratio = FERRY__ZIP_DEFLATE_MAX_RATIO;
    /* Names: at most the directory's bytes, plus a NUL each. */
    z->e     = ferry__calloc(ctx, (size_t)(z->n ? z->n : 1), sizeof *z->e);
    z->names = ferry__malloc(ctx, (size_t)end.cd_size + (size_t)z->n + 1);
    int rc = (!z->e || !z->names) ? ctx->err_code : FERRY_OK;
    if (rc == 0) {
        const uint8_t *cd = ferry_source_map(src, end.cd_start, end.cd_size);
        uint8_t *copy = NULL;
        if (!cd && end.cd_size) {
            copy = ferry__malloc(ctx, (size_t)end.cd_size);
            rc = copy ? ferry_source_read(src, end.cd_start, copy, (size_t)end.cd_size)
                      : ctx->err_code;
            cd = copy;
        }
        if (rc == 0) rc = parse_directory(z, cd, end.cd_size);
        ferry__free(ctx, copy, 0);
    }
    if (rc == 0) rc = index_names(z);
    if (rc == 0) rc = flag_overlaps(z);
    if (rc < 0) {
        ferry__zip_close(z);
        return rc;
    }
    *out = z;
    return FERRY_OK;
}

void ferry__zip_close(ferry__zip *z)
{
    if (!z) return;
    ferry_ctx *ctx = z->ctx;
    ferry_source_close(z->src);
    ferry__free(ctx, z->e, 0);
    ferry__free(ctx, z->names, 0);
    ferry__free(ctx, z->hash, 0);
    ferry__free(ctx, z, sizeof *z);
}

int64_t ferry__zip_count(const ferry__zip *z) { return z ? z->n : 0; }

const ferry__zip_entry *ferry__zip_entry_at(const ferry__zip *z, int64_t i)
{
    return z && i >= 0 && i < z->n ? &z->e[i] : NULL;
}

int64_t ferry__zip_find(const ferry__zip *z, const char *name, size_t len)
{
    if (!z || !z->hash_cap) return -1;
    uint64_t h = hash_bytes(name, len) & (z->hash_cap - 1);
    while (z->hash[h] >= 0) {
        const ferry__zip_entry *e = &z->e[z->hash[h]];
        if (e->name_len == len && memcmp(e->name, name, len) == 0) return z->hash[h];
        h = (h + 1) & (z->hash_cap - 1);
    }
    return -1;
}

uint32_t ferry__zip_anomalies(const ferry__zip *z) { return z ? z->anomalies : 0; }
uint64_t ferry__zip_prefix(const ferry__zip *z) { return z ? z->shift : 0; }
ferry_source *ferry__zip_source(const ferry__zip *z) { return z ? z->src : NULL; }

/* ============================================================================================
 * Entry contents
 * ========================================================================================== */

static const char *root_name(const ferry__zip *z)
{
    const ferry_source *root;
    ferry__source_abs_offset(z->src, 0, &root);
    return root->name;
}

/* Refusals common to every way of reading an entry. */
static int check_readable(ferry__zip *z, int64_t i)
{
    if (i < 0 || i >= z->n)
        return ferry__fail(z->ctx, FERRY_E_ARG, "zip entry index %lld out of range", (long long)i);
    const ferry__zip_entry *e = &z->e[i];
    if ((e->anomalies & (FERRY__ZIP_A_ENCRYPTED | FERRY__ZIP_A_PATCHED)) &&
        !(z->opts.flags & FERRY__ZIP_IGNORE_FLAGS))
        return ferry__fail_at(z->ctx, FERRY_E_UNSUPPORTED, z->src, e->cd_offset + 8,
                              "entry \"%s\" is %s (flags 0x%04x); not read", e->name,
                              (e->anomalies & FERRY__ZIP_A_ENCRYPTED) ? "encrypted"
                                                                       : "patch data",
                              e->flags);
    if (e->method != 0 && e->method != 8)
        return ferry__fail_at(z->ctx, FERRY_E_UNSUPPORTED, z->src, e->cd_offset + 10,
                              "entry \"%s\" uses compression method %u; only stored (0) and "
                              "deflate (8) are supported", e->name, e->method);
    if (e->method == 0 && e->csize != e->usize)
        return ferry__fail_at(z->ctx, FERRY_E_CORRUPT, z->src, e->cd_offset + 20,
                              "stored entry \"%s\" has compressed size %llu but uncompressed "
                              "size %llu", e->name, (unsigned long long)e->csize,
                              (unsigned long long)e->usize);
    return FERRY_OK;
}

/*
 * Inflates entry e. With dst, writes the first n bytes of output there; with exact, the
 * stream must end after exactly n bytes. Without dst, output goes through a window (for
 * CRC checks). *crc receives the CRC-32 of everything produced.
 */
static int inflate_entry(ferry__zip *z, const ferry__zip_entry *e, uint8_t *dst, uint64_t n,
                         bool exact, uint32_t *crc)
{
    ferry_ctx *ctx = z->ctx;
    z_stream s;
    memset(&s, 0, sizeof s);
    s.zalloc = z_alloc;
    s.zfree  = z_free;
    s.opaque = ctx;
    int zr = inflateInit2(&s, -15); /* raw deflate (APPNOTE §4.4.5 method 8) */
    if (zr != Z_OK)
        return ctx->err_code ? ctx->err_code
                             : ferry__fail(ctx, FERRY_E_NOMEM, "cannot initialise zlib");
    const uint8_t *map = ferry_source_map(z->src, e->data_offset, e->csize);
    uint8_t *inbuf = NULL, *window = NULL;
    int rc = FERRY_OK;
    if (!map && !(inbuf = ferry__malloc(ctx, CHUNK))) rc = ctx->err_code;
    if (rc == 0 && !dst && !(window = ferry__malloc(ctx, CHUNK))) rc = ctx->err_code;
    uint64_t in_done = 0, out_done = 0;
    uint8_t spill = 0;
    bool spilling = false;
    *crc = 0;
    while (rc == 0) {
        if (s.avail_in == 0 && in_done < e->csize) {
            uint64_t k = e->csize - in_done;
            if (map) {
                if (k > (1u << 30)) k = 1u << 30;
                s.next_in = (Bytef *)(uintptr_t)(map + in_done);
            } else {
                if (k > CHUNK) k = CHUNK;
                rc = ferry_source_read(z->src, e->data_offset + in_done, inbuf, (size_t)k);
                if (rc) break;
                s.next_in = inbuf;
            }
            s.avail_in = (uInt)k;
            in_done += k;
        }
        if (s.avail_out == 0) {
            if (out_done < n || !dst) {
                uint64_t k = dst ? n - out_done : CHUNK;
                if (k > (1u << 30)) k = 1u << 30;
                s.next_out  = dst ? dst + out_done : window;
                s.avail_out = (uInt)k;
            } else if (!exact) {
                break; /* the prefix is complete */
            } else {
                s.next_out  = &spill;
                s.avail_out = 1;
                spilling    = true;
            }
        }
        uint8_t *before = s.next_out;
        zr = inflate(&s, Z_NO_FLUSH);
        uint64_t made = (uint64_t)(s.next_out - before);
        if (spilling && made) {
            rc = ferry__fail_at(ctx, FERRY_E_CORRUPT, z->src, e->data_offset,
                                "entry \"%s\" inflates to more than its declared %llu bytes",
                                e->name, (unsigned long long)e->usize);
            break;
        }
        if (!spilling) {
            *crc = crc_update(*crc, before, made);
            out_done += made;
            if (!dst && out_done > n) {
                rc = ferry__fail_at(ctx, FERRY_E_CORRUPT, z->src, e->data_offset,
                                    "entry \"%s\" inflates to more than its declared %llu "
                                    "bytes", e->name, (unsigned long long)e->usize);
                break;
            }
        }
        if (zr == Z_STREAM_END) break;
        if (zr == Z_OK) continue;
        /* No progress was possible: fine if output space or more input is coming. */
        if (zr == Z_BUF_ERROR && (s.avail_out == 0 || in_done < e->csize)) continue;
        if (zr == Z_BUF_ERROR)
            rc = ferry__fail_at(ctx, FERRY_E_CORRUPT, z->src, e->data_offset + e->csize,
                                "deflate stream of entry \"%s\" is truncated: its %llu "
                                "compressed bytes end before the stream does", e->name,
                                (unsigned long long)e->csize);
        else if (zr == Z_MEM_ERROR)
            rc = ctx->err_code ? ctx->err_code
                               : ferry__fail(ctx, FERRY_E_NOMEM, "zlib out of memory");
        else
            rc = ferry__fail_at(ctx, FERRY_E_CORRUPT, z->src, e->data_offset + s.total_in,
                                "invalid deflate data in entry \"%s\": %s", e->name,
                                s.msg ? s.msg : "stream error");
    }
    if (rc == 0 && (exact || !dst) && out_done != n)
        rc = ferry__fail_at(ctx, FERRY_E_CORRUPT, z->src, e->data_offset,
                            "entry \"%s\" inflates to %llu bytes; the directory declares %llu",
                            e->name, (unsigned long long)out_done, (unsigned long long)n);
    if (rc == 0 && dst && !exact && out_done < n)
        rc = ferry__fail_at(ctx, FERRY_E_CORRUPT, z->src, e->data_offset,
                            "entry \"%s\" inflates to only %llu bytes, %llu needed", e->name,
                            (unsigned long long)out_done, (unsigned long long)n);
    inflateEnd(&s);
    ferry__free(ctx, inbuf, 0);
    ferry__free(ctx, window, 0);
    return rc;
}

/* CRC-32 of a stored entry, read through the source. */
static int crc_stored(ferry__zip *z, const ferry__zip_entry *e, uint32_t *crc)
{
    *crc = 0;
    const uint8_t *map = ferry_source_map(z->src, e->data_offset, e->csize);
    if (map) {
        *crc = crc_update(0, map, e->csize);
        return FERRY_OK;
    }
    uint8_t *buf = ferry__malloc(z->ctx, CHUNK);
    if (!buf) return z->ctx->err_code;
    int rc = FERRY_OK;
    for (uint64_t off = 0; off < e->csize && rc == 0; off += CHUNK) {
        size_t k = e->csize - off < CHUNK ? (size_t)(e->csize - off) : CHUNK;
        rc = ferry_source_read(z->src, e->data_offset + off, buf, k);
        if (!rc) *crc = crc_update(*crc, buf, k);
    }
    ferry__free(z->ctx, buf, 0);
    return rc;
}

static int crc_mismatch(ferry__zip *z, const ferry__zip_entry *e, uint32_t got)
{
    return ferry__fail_at(z->ctx, FERRY_E_CORRUPT, z->src, e->cd_offset + 16,
                          "entry \"%s\": CRC-32 of the data is 0x%08x, the directory says "
                          "0x%08x", e->name, got, e->crc32);
}

int ferry__zip_entry_source(ferry__zip *z, int64_t i, ferry_source **out)
{
    *out = NULL;
    FERRY_TRY(check_readable(z, i));
    const ferry__zip_entry *e = &z->e[i];
    ferry_ctx *ctx = z->ctx;
    if (e->method == 0) {
        if ((z->opts.flags & FERRY__ZIP_CRC_STORED) && !(z->opts.flags & FERRY__ZIP_NO_CRC)) {
            uint32_t crc;
            FERRY_TRY(crc_stored(z, e, &crc));
            if (crc != e->crc32) return crc_mismatch(z, e, crc);
        }
        return ferry_source_sub(z->src, e->data_offset, e->csize, e->name, out);
    }
    /* Deflated: every bound is checked before the buffer exists (SECURITY.md Z01). */
    FERRY_TESTCASE(e->usize / z->opts.max_ratio == e->csize);
    if (e->usize > FERRY__ZIP_SMALL_MEMBER && e->usize / z->opts.max_ratio > e->csize)
        return ferry__fail_at(ctx, FERRY_E_CORRUPT, z->src, e->cd_offset + 24,
                              "entry \"%s\" declares %llu bytes from %llu compressed bytes, "
                              "more than %u:1 (zip bomb?)", e->name,
                              (unsigned long long)e->usize, (unsigned long long)e->csize,
                              z->opts.max_ratio);
    uint64_t room = ctx->allocated < ctx->limits.total_alloc
                        ? ctx->limits.total_alloc - ctx->allocated
                        : 0;
    if (e->usize > room || e->usize > SIZE_MAX - 64)
        return ferry__fail_at(ctx, FERRY_E_LIMIT, z->src, e->cd_offset + 24,
                              "entry \"%s\" inflates to %llu bytes, more than the allocation "
                              "limit allows (total_alloc = %llu)", e->name,
                              (unsigned long long)e->usize,
                              (unsigned long long)ctx->limits.total_alloc);
    uint8_t *buf = ferry__malloc(ctx, (size_t)(e->usize ? e->usize : 1));
    if (!buf) return ctx->err_code;
    uint32_t crc;
    int rc = inflate_entry(z, e, buf, e->usize, true, &crc);
    if (rc == 0 && !(z->opts.flags & FERRY__ZIP_NO_CRC) && crc != e->crc32)
        rc = crc_mismatch(z, e, crc);
    if (rc) {
        ferry__free(ctx, buf, 0);
        return rc;
    }
    char name[600];
    snprintf(name, sizeof name, "%s: %s", root_name(z), e->name);
    return ferry__source_from_owned(ctx, buf, (size_t)e->usize, name, out);
}

int ferry__zip_entry_prefix(ferry__zip *z, int64_t i, void *dst, size_t n)
{
    FERRY_TRY(check_readable(z, i));
    const ferry__zip_entry *e = &z->e[i];
    if (n > e->usize)
        return ferry__fail_at(z->ctx, FERRY_E_CORRUPT, z->src, e->cd_offset + 24,
                              "entry \"%s\" holds %llu bytes, %zu needed", e->name,
                              (unsigned long long)e->usize, n);
    if (n == 0) return FERRY_OK;
    if (e->method == 0) return ferry_source_read(z->src, e->data_offset, dst, n);
    uint32_t crc;
    return inflate_entry(z, e, dst, n, false, &crc);
}

int ferry__zip_check_crc(ferry__zip *z, int64_t i)
{
    FERRY_TRY(check_readable(z, i));
    const ferry__zip_entry *e = &z->e[i];
    uint32_t crc;
    if (e->method == 0)
        FERRY_TRY(crc_stored(z, e, &crc));
    else
        FERRY_TRY(inflate_entry(z, e, NULL, e->usize, true, &crc));
    return crc == e->crc32 ? FERRY_OK : crc_mismatch(z, e, crc);
}

/* ============================================================================================
 * Non-allocating walk
 * ========================================================================================== */

int64_t ferry__zip_walk(ferry_source *src, uint64_t max_entries, ferry__zip_walk_fn fn,
                        void *ud)
{
    if (!src) return -1;
    zip_end end;
    if (read_end(NULL, src, false, &end) < 0) return -1;
    uint64_t p = end.cd_start, cd_end = end.cd_start + end.cd_size;
    ferry__zip_walk_entry e;
    for (uint64_t i = 0; i < end.count && i < max_entries; i++) {
        uint8_t c[CENTRAL_LEN];
        if (cd_end - p < CENTRAL_LEN || rd(NULL, src, p, c, CENTRAL_LEN) < 0) return -1;
        if (ferry__rd32le(c) != SIG_CENTRAL) return -1;
        uint16_t nlen = ferry__rd16le(c + 28);
        uint64_t total = (uint64_t)CENTRAL_LEN + nlen + ferry__rd16le(c + 30) +
                         ferry__rd16le(c + 32);
        if (total > cd_end - p) return -1;
        memset(&e, 0, sizeof e);
        size_t k = nlen < FERRY__ZIP_WALK_NAME - 1 ? nlen : FERRY__ZIP_WALK_NAME - 1;
        if (rd(NULL, src, p + CENTRAL_LEN, e.name, k) < 0) return -1;
        e.name[k]  = 0;
        e.name_len = nlen;
        e.flags    = ferry__rd16le(c + 8);
        e.method   = ferry__rd16le(c + 10);
        e.csize    = ferry__rd32le(c + 20);
        e.usize    = ferry__rd32le(c + 24);
        if (fn && fn(ud, &e)) break;
        p += total;
    }
    return (int64_t)end.count;
}

/* ============================================================================================
 * Writing
 * ========================================================================================== */

typedef struct wentry {
    uint64_t offset; /* local header */
    uint64_t csize;
    uint64_t usize;
    uint32_t crc;
    uint16_t method;
    uint16_t flags;
    size_t   name_off;
    uint16_t name_len;
    bool     zip64;  /* the local header has a ZIP64 extra (8-byte descriptor sizes) */
} wentry;

struct ferry__zip_writer {
    ferry_ctx  *ctx;
    ferry_sink *sink;
    uint32_t    flags;
    wentry     *e;
    size_t      n;
    size_t      cap;
    char       *names;
    size_t      names_len;
    size_t      names_cap;
    bool        open;     /* an entry is being written (it is e[n], not yet counted) */
    bool        failed;   /* sticky */
    uint64_t    written;  /* uncompressed bytes of the open entry */
    z_stream    zs;
    bool        zs_live;
    uint8_t    *zbuf;
};

/* DOS date 1980-01-01, time 00:00:00 (APPNOTE §4.4.6): reproducible output. */
#define DOS_DATE 0x0021u
#define DOS_TIME 0x0000u
/* Unix host (3), regular file 0644, in the high half of the external attributes. */
#define MADE_BY_UNIX  0x0300u
#define EXT_ATTR_FILE (0100644u << 16)

static int wfail(ferry__zip_writer *w, int rc)
{
    w->failed = true;
    return rc;
}

int ferry__zip_writer_new(ferry_ctx *ctx, ferry_sink *sink, uint32_t flags,
                          ferry__zip_writer **out)
{
    *out = NULL;
    ferry__zip_writer *w = ferry__calloc(ctx, 1, sizeof *w);
    if (!w) return ctx->err_code;
    w->ctx   = ctx;
    w->sink  = sink;
    w->flags = flags;
    *out     = w;
    return FERRY_OK;
}

void ferry__zip_writer_free(ferry__zip_writer *w)
{
    if (!w) return;
    if (w->zs_live) deflateEnd(&w->zs);
    ferry__free(w->ctx, w->zbuf, 0);
    ferry__free(w->ctx, w->e, 0);
    ferry__free(w->ctx, w->names, 0);
    ferry__free(w->ctx, w, sizeof *w);
}

int ferry__zip_writer_begin(ferry__zip_writer *w, const char *name, size_t name_len,
                            int method, uint64_t usize, uint32_t align)
{
    return ferry__zip_writer_begin_at(w, name, name_len, method, usize, align, 0);
}

int ferry__zip_writer_begin_at(ferry__zip_writer *w, const char *name, size_t name_len,
                               int method, uint64_t usize, uint32_t align, uint64_t skew)
{
    ferry_ctx *ctx = w->ctx;
    if (w->failed) return ferry__fail(ctx, FERRY_E_ARG, "zip writer: an earlier write failed");
    if (w->open) return ferry__fail(ctx, FERRY_E_ARG, "zip writer: an entry is still open");
    if (name_len > U16_MAX || unsafe_name(name, name_len))
        return ferry__fail(ctx, FERRY_E_ARG, "zip entry name \"%.*s\" is not a safe relative "
                           "path of at most 65535 bytes", (int)(name_len > 200 ? 200 : name_len),
                           name);
    if ((method != 0 && method != 8) || (align > 1 && (method != 0 || align > 4096 ||
                                                       (align & (align - 1)))))
        return ferry__fail(ctx, FERRY_E_ARG, "zip writer: method %d with alignment %u",
                           method, align);
    if (w->n == w->cap) {
        size_t nc = w->cap ? w->cap * 2 : 16;
        wentry *ne = ferry__realloc(ctx, w->e, 0, nc * sizeof *ne);
        if (!ne) return wfail(w, ctx->err_code);
        w->e   = ne;
        w->cap = nc;
    }
    if (name_len > w->names_cap - w->names_len) {
        size_t nc = w->names_cap ? w->names_cap : 1024;
        while (nc - w->names_len < name_len) nc *= 2;
        char *nn = ferry__realloc(ctx, w->names, 0, nc);
        if (!nn) return wfail(w, ctx->err_code);
        w->names     = nn;
        w->names_cap = nc;
    }
    wentry *e = &w->e[w->n];
    memset(e, 0, sizeof *e);
    e->offset   = ferry_sink_tell(w->sink);
    e->method   = (uint16_t)method;
    e->usize    = usize;
    e->name_off = w->names_len;
    e->name_len = (uint16_t)name_len;
    memcpy(w->names + w->names_len, name, name_len);
    w->names_len += name_len;
    e->flags = FLAG_DESCRIPTOR;
    for (size_t k = 0; k < name_len; k++)
        if ((uint8_t)name[k] >= 0x80) e->flags |= FLAG_UTF8;
    /* Deflate may expand incompressible data slightly (zlib's deflateBound: ~0.03% + a few
     * bytes), so deflated entries switch to ZIP64 a little before 4 GiB, like Python's
     * 1.05 factor. */
    e->zip64 = (w->flags & FERRY__ZIP_W_FORCE_ZIP64) ||
               (method == 0 ? usize >= U32_MAX : usize + (usize >> 10) + 1024 >= U32_MAX);

    /* Local extra: ZIP64 (sizes 0: they follow in the descriptor), then the padding. */
    uint8_t hdr[LOCAL_LEN + 20 + 4];
    size_t xlen = e->zip64 ? 20u : 0u;
    uint64_t pad = 0;
    if (align > 1) {
        uint64_t start = e->offset + LOCAL_LEN + name_len + xlen + 4 + skew % align;
        pad = (align - start % align) % align;
        xlen += 4u + (size_t)pad;
    }
    ferry__wr32le(hdr, SIG_LOCAL);
    ferry__wr16le(hdr + 4, e->zip64 ? 45 : 20);
    ferry__wr16le(hdr + 6, e->flags);
    ferry__wr16le(hdr + 8, e->method);
    ferry__wr16le(hdr + 10, DOS_TIME);
    ferry__wr16le(hdr + 12, DOS_DATE);
    ferry__wr32le(hdr + 14, 0);
    ferry__wr32le(hdr + 18, e->zip64 ? U32_MAX : 0);
    ferry__wr32le(hdr + 22, e->zip64 ? U32_MAX : 0);
    ferry__wr16le(hdr + 26, (uint16_t)name_len);
    ferry__wr16le(hdr + 28, (uint16_t)xlen);
    int rc = ferry_sink_write(w->sink, hdr, LOCAL_LEN);
    if (!rc) rc = ferry_sink_write(w->sink, name, name_len);
    if (!rc && e->zip64) {
        uint8_t x[20];
        ferry__wr16le(x, EXTRA_ZIP64);
        ferry__wr16le(x + 2, 16);
        ferry__wr64le(x + 4, 0);
        ferry__wr64le(x + 12, 0);
        rc = ferry_sink_write(w->sink, x, sizeof x);
    }
    if (!rc && align > 1) {
        uint8_t x[4], filler[64];
        memset(filler, 'Z', sizeof filler);
        ferry__wr16le(x, EXTRA_PADDING);
        ferry__wr16le(x + 2, (uint16_t)pad);
        rc = ferry_sink_write(w->sink, x, 4);
        for (uint64_t left = pad; !rc && left;) {
            size_t k = left < sizeof filler ? (size_t)left : sizeof filler;
            rc = ferry_sink_write(w->sink, filler, k);
            left -= k;
        }
    }
    if (rc) return wfail(w, rc);
    if (method == 8) {
        if (!w->zbuf && !(w->zbuf = ferry__malloc(ctx, CHUNK))) return wfail(w, ctx->err_code);
        memset(&w->zs, 0, sizeof w->zs);
        w->zs.zalloc = z_alloc;
        w->zs.zfree  = z_free;
        w->zs.opaque = ctx;
        if (deflateInit2(&w->zs, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK)
            return wfail(w, ctx->err_code ? ctx->err_code
                                          : ferry__fail(ctx, FERRY_E_NOMEM, "zlib init"));
        w->zs_live = true;
    }
    w->open    = true;
    w->written = 0;
    return FERRY_OK;
}

/* Runs deflate over the pending input with `flush`, writing full output buffers. */
static int pump_deflate(ferry__zip_writer *w, int flush)
{
    wentry *e = &w->e[w->n];
    for (;;) {
        w->zs.next_out  = w->zbuf;
        w->zs.avail_out = CHUNK;
        int zr = deflate(&w->zs, flush);
        size_t made = CHUNK - w->zs.avail_out;
        if (made) {
            FERRY_TRY(ferry_sink_write(w->sink, w->zbuf, made));
            e->csize += made;
        }
        if (zr == Z_STREAM_END) return FERRY_OK;
        if (zr != Z_OK && zr != Z_BUF_ERROR)
            return ferry__fail(w->ctx, FERRY_E_IO, "deflate failed (%d)", zr);
        if (flush == Z_NO_FLUSH && w->zs.avail_in == 0 && w->zs.avail_out > 0) return FERRY_OK;
    }
}

int ferry__zip_writer_write(ferry__zip_writer *w, const void *data, size_t len)
{
    if (w->failed || !w->open)
        return ferry__fail(w->ctx, FERRY_E_ARG, "zip writer: no open entry");
    wentry *e = &w->e[w->n];
    if (len > e->usize - w->written)
        return wfail(w, ferry__fail(w->ctx, FERRY_E_ARG, "zip entry \"%.*s\": more than the "
                                    "declared %llu bytes", (int)e->name_len,
                                    w->names + e->name_off, (unsigned long long)e->usize));
    w->written += len;
    e->crc = crc_update(e->crc, data, len);
    if (e->method == 0) {
        int rc = ferry_sink_write(w->sink, data, len);
        if (rc) return wfail(w, rc);
        e->csize += len;
        return FERRY_OK;
    }
    const uint8_t *p = data;
    while (len) {
        uInt k = len > (1u << 30) ? (1u << 30) : (uInt)len;
        w->zs.next_in  = (Bytef *)(uintptr_t)p;
        w->zs.avail_in = k;
        int rc = pump_deflate(w, Z_NO_FLUSH);
        if (rc) return wfail(w, rc);
        p += k;
        len -= k;
    }
    return FERRY_OK;
}

int ferry__zip_writer_end(ferry__zip_writer *w)
{
    if (w->failed || !w->open)
        return ferry__fail(w->ctx, FERRY_E_ARG, "zip writer: no open entry");
    wentry *e = &w->e[w->n];
    if (w->written != e->usize)
        return wfail(w, ferry__fail(w->ctx, FERRY_E_ARG, "zip entry \"%.*s\": %llu bytes "
                                    "written, %llu declared", (int)e->name_len,
                                    w->names + e->name_off, (unsigned long long)w->written,
                                    (unsigned long long)e->usize));
    if (e->method == 8) {
        w->zs.next_in  = NULL;
        w->zs.avail_in = 0;
        int rc = pump_deflate(w, Z_FINISH);
        deflateEnd(&w->zs);
        w->zs_live = false;
        if (rc) return wfail(w, rc);
    }
    if (!e->zip64 && e->csize >= U32_MAX)
        return wfail(w, ferry__fail(w->ctx, FERRY_E_LIMIT, "zip entry \"%.*s\": compressed "
                                    "data grew past 4 GiB", (int)e->name_len,
                                    w->names + e->name_off));
    uint8_t d[24];
    ferry__wr32le(d, SIG_DESC);
    ferry__wr32le(d + 4, e->crc);
    size_t dl;
    if (e->zip64) {
        ferry__wr64le(d + 8, e->csize);
        ferry__wr64le(d + 16, e->usize);
        dl = 24;
    } else {
        ferry__wr32le(d + 8, (uint32_t)e->csize);
        ferry__wr32le(d + 12, (uint32_t)e->usize);
        dl = 16;
    }
    int rc = ferry_sink_write(w->sink, d, dl);
    if (rc) return wfail(w, rc);
    w->open = false;
    w->n++;
    return FERRY_OK;
}

int ferry__zip_writer_put_tensor(ferry__zip_writer *w, ferry__wplan *plan, int64_t i)
{
    const ferry__wtensor *wt = &plan->t[i];
    ferry_model *m = plan->src;
    const ferry__tensor *t = &m->tensors[wt->src_index];
    const ferry_write_options *o = plan->opt;
    ferry_ctx *ctx = plan->ctx;
    const uint64_t chunk_elems = (uint64_t)1 << 20; /* a multiple of every block size */
    uint64_t chunk;
    if (wt->dtype == t->dtype) {
        const void *p = NULL;
        bool mapped = ferry_tensor_data(m, wt->src_index, &p) == 0;
        if (!mapped) ferry_ctx_clear_error(ctx);
        chunk = mapped ? (uint64_t)64 << 20 : (uint64_t)4 << 20;
        uint8_t *buf = NULL;
        if (!mapped && !(buf = ferry__malloc(ctx, (size_t)chunk))) return ctx->err_code;
        int rc = FERRY_OK;
        for (uint64_t off = 0; off < t->nbytes && rc == 0; off += chunk) {
            size_t k = t->nbytes - off < chunk ? (size_t)(t->nbytes - off) : (size_t)chunk;
            if (mapped) {
                rc = ferry__zip_writer_write(w, (const uint8_t *)p + off, k);
            } else {
                rc = ferry_tensor_read(m, wt->src_index, off, buf, k);
                if (!rc) rc = ferry__zip_writer_write(w, buf, k);
            }
            plan->done_bytes += k;
            if (!rc && o && o->progress && o->progress(o->progress_ud, plan->done_bytes,
                                                       plan->total_bytes))
                rc = ferry__fail(ctx, FERRY_E_IO, "%s: cancelled", plan->out_name);
        }
        ferry__free(ctx, buf, 0);
        return rc;
    }
    if (!ferry__dtype_nbytes(wt->dtype, chunk_elems, 0, &chunk))
        return ferry__fail(ctx, FERRY_E_DTYPE, "%s: cannot size a %s chunk", plan->out_name,
                           ferry_dtype_name(wt->dtype));
    uint8_t *buf = ferry__malloc(ctx, (size_t)chunk);
    if (!buf) return ctx->err_code;
    int rc = FERRY_OK;
    for (uint64_t e0 = 0; e0 < t->nelems && rc == 0; e0 += chunk_elems) {
        uint64_t k = t->nelems - e0 < chunk_elems ? t->nelems - e0 : chunk_elems, ob;
        if (!ferry__dtype_nbytes(wt->dtype, k, 0, &ob)) {
            rc = ferry__fail(ctx, FERRY_E_DTYPE, "tensor \"%s\": %llu elements do not fill "
                             "whole %s blocks", wt->name, (unsigned long long)k,
                             ferry_dtype_name(wt->dtype));
            break;
        }
        rc = ferry_tensor_read_as(m, wt->src_index, e0, k, wt->dtype, buf);
        if (!rc) rc = ferry__zip_writer_write(w, buf, (size_t)ob);
        plan->done_bytes += ob;
        if (!rc && o && o->progress && o->progress(o->progress_ud, plan->done_bytes,
                                                   plan->total_bytes))
            rc = ferry__fail(ctx, FERRY_E_IO, "%s: cancelled", plan->out_name);
    }
    ferry__free(ctx, buf, 0);
    return rc;
}

int ferry__zip_writer_finish(ferry__zip_writer *w)
{
    ferry_ctx *ctx = w->ctx;
    if (w->failed) return ferry__fail(ctx, FERRY_E_ARG, "zip writer: an earlier write failed");
    if (w->open) return ferry__fail(ctx, FERRY_E_ARG, "zip writer: an entry is still open");
    bool force = (w->flags & FERRY__ZIP_W_FORCE_ZIP64) != 0;
    uint64_t cd_start = ferry_sink_tell(w->sink);
    int rc = FERRY_OK;
    for (size_t i = 0; i < w->n && rc == 0; i++) {
        const wentry *e = &w->e[i];
        bool big_u = force || e->usize >= U32_MAX, big_c = force || e->csize >= U32_MAX;
        bool big_o = force || e->offset >= U32_MAX;
        uint8_t x[28];
        size_t xl = 0;
        if (big_u || big_c || big_o) {
            xl = 4;
            const uint64_t v[3] = {e->usize, e->csize, e->offset};
            const bool big[3] = {big_u, big_c, big_o};
            for (int k = 0; k < 3; k++) {
                if (!big[k]) continue;
                ferry__wr64le(x + xl, v[k]);
                xl += 8;
            }
            ferry__wr16le(x, EXTRA_ZIP64);
            ferry__wr16le(x + 2, (uint16_t)(xl - 4));
        }
        uint16_t need = (xl || e->zip64) ? 45 : 20;
        uint8_t c[CENTRAL_LEN];
        ferry__wr32le(c, SIG_CENTRAL);
        ferry__wr16le(c + 4, (uint16_t)(MADE_BY_UNIX | need));
        ferry__wr16le(c + 6, need);
        ferry__wr16le(c + 8, e->flags);
        ferry__wr16le(c + 10, e->method);
        ferry__wr16le(c + 12, DOS_TIME);
        ferry__wr16le(c + 14, DOS_DATE);
        ferry__wr32le(c + 16, e->crc);
        ferry__wr32le(c + 20, big_c ? U32_MAX : (uint32_t)e->csize);
        ferry__wr32le(c + 24, big_u ? U32_MAX : (uint32_t)e->usize);
        ferry__wr16le(c + 28, e->name_len);
        ferry__wr16le(c + 30, (uint16_t)xl);
        ferry__wr16le(c + 32, 0);
        ferry__wr16le(c + 34, 0);
        ferry__wr16le(c + 36, 0);
        ferry__wr32le(c + 38, EXT_ATTR_FILE);
        ferry__wr32le(c + 42, big_o ? U32_MAX : (uint32_t)e->offset);
        rc = ferry_sink_write(w->sink, c, CENTRAL_LEN);
        if (!rc) rc = ferry_sink_write(w->sink, w->names + e->name_off, e->name_len);
        if (!rc && xl) rc = ferry_sink_write(w->sink, x, xl);
    }
    if (rc) return wfail(w, rc);
    uint64_t cd_size = ferry_sink_tell(w->sink) - cd_start;
    bool z64 = force || w->n >= U16_MAX || cd_size >= U32_MAX || cd_start >= U32_MAX;
    if (z64) {
        uint64_t zpos = ferry_sink_tell(w->sink);
        uint8_t r[Z64_EOCD_LEN + Z64_LOC_LEN];
        ferry__wr32le(r, SIG_Z64_EOCD);
        ferry__wr64le(r + 4, Z64_EOCD_LEN - 12);
        ferry__wr16le(r + 12, MADE_BY_UNIX | 45);
        ferry__wr16le(r + 14, 45);
        ferry__wr32le(r + 16, 0);
        ferry__wr32le(r + 20, 0);
        ferry__wr64le(r + 24, w->n);
        ferry__wr64le(r + 32, w->n);
        ferry__wr64le(r + 40, cd_size);
        ferry__wr64le(r + 48, cd_start);
        uint8_t *l = r + Z64_EOCD_LEN;
        ferry__wr32le(l, SIG_Z64_LOC);
        ferry__wr32le(l + 4, 0);
        ferry__wr64le(l + 8, zpos);
        ferry__wr32le(l + 16, 1);
        rc = ferry_sink_write(w->sink, r, sizeof r);
        if (rc) return wfail(w, rc);
    }
    uint8_t d[EOCD_LEN];
    uint16_t cnt = w->n >= U16_MAX ? U16_MAX : (uint16_t)w->n;
    ferry__wr32le(d, SIG_EOCD);
    ferry__wr16le(d + 4, 0);
    ferry__wr16le(d + 6, 0);
    ferry__wr16le(d + 8, cnt);
    ferry__wr16le(d + 10, cnt);
    ferry__wr32le(d + 12, cd_size >= U32_MAX ? U32_MAX : (uint32_t)cd_size);
    ferry__wr32le(d + 16, cd_start >= U32_MAX ? U32_MAX : (uint32_t)cd_start);
    ferry__wr16le(d + 20, 0);
    rc = ferry_sink_write(w->sink, d, sizeof d);
    return rc ? wfail(w, rc) : FERRY_OK;
}
