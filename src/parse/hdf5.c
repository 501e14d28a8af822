/*
 * hdf5.c -- read-only, bounds-checked HDF5 reader (the subset model files use).
 *
 * Spec: HDF5 File Format Specification 3.0: II.A superblock (v0-v3, searched at 0, 512,
 * 1024, ... for user blocks; every address is relative to the superblock's position, which
 * is what libhdf5 does when a user block is present), III.A.1 v1 B-trees (group nodes, type
 * 0, and raw-data chunk nodes, type 1), III.C symbol table nodes, III.D local heaps, III.E
 * global heaps (variable-length strings), III.G fractal heaps, III.A.2 v2 B-trees, fixed
 * arrays (v4 chunk index), IV.A.1 object headers v1 and v2 (continuation blocks; v2
 * Jenkins lookup3 checksums verified),
 * IV.A.2 messages: dataspace 0x01, link info 0x02, datatype 0x03, fill value 0x04/0x05,
 * link 0x06, external storage 0x07, layout 0x08 (v3, v4), filter pipeline 0x0B, attribute
 * 0x0C, continuation 0x10, symbol table 0x11, attribute info 0x15. FORMATS.md §8,
 * SECURITY.md H01 / K06.
 *
 * Decisions
 *   - All file bytes are copied into ferry__malloc'd buffers through ferry_source_read (so
 *     callback sources work) after the range has been checked against the file size and,
 *     for metadata, limits.header_bytes. Every message body is parsed with a cursor that
 *     turns any read past its end into a sticky error: a message whose fields do not fit
 *     its declared size is FERRY_E_CORRUPT, never an out-of-bounds read.
 *   - Nothing that leaves the file is followed: soft links, external links, external
 *     storage (0x07) and virtual layouts are reported through the visitor's note callback.
 *   - The group tree is walked with an explicit stack (depth capped at H5_MAX_DEPTH); every
 *     object header address is recorded in a hash set, so an object reachable twice (a hard
 *     link alias or a cycle) is visited once and the second path is noted. B-tree walks use
 *     explicit stacks too; a child must sit exactly one level below its parent (so no
 *     B-tree cycle is possible) and the number of nodes visited is capped by the file size.
 *   - Dense storage (groups with many links, objects with many attributes, in the latest
 *     format): the name index v2 B-tree (III.A.2, records of type 5 and 8) is walked and
 *     every heap ID resolved in the fractal heap (III.G) by descending its doubling table
 *     (root indirect block -> child indirect blocks -> direct block); header, index and
 *     B-tree node checksums are verified; the widths of a v2 B-tree's child record counts
 *     are derived from its node size as libhdf5 does. Links are sorted by name afterwards.
 *   - Unsupported but valid features (filtered fractal heaps, huge heap objects,
 *     extensible-array and v2 B-tree chunk indexes, filters other than deflate / shuffle /
 *     fletcher32 / LZF (h5py's 32000), shared datatypes, layout messages older than version 3) fail with
 *     FERRY_E_UNSUPPORTED naming the feature and the object path.
 *   - Chunked data is produced by filling the requested element range with the fill value
 *     and overlaying every chunk that intersects it, decoded one at a time (the last decoded
 *     chunk is cached), so memory is bounded by one chunk plus its stored bytes.
 *   - Types: fixed-point and IEEE floating point of sizes 1/2/4/8 (either byte order) map to
 *     ferry dtypes; h5py's bool (enum int8 FALSE=0/TRUE=1) to BOOL and complex (compound of
 *     two equal floats r, i) to C64/C128; fixed strings to BYTES_FIXED; everything else is
 *     listed OPAQUE / STRING (not plain) with a descriptive native name.
 */
#include "hdf5.h"

#include <stdio.h>
#include <stdlib.h>
#include <zlib.h>

/* ============================================================================================
 * Constants and state
 * ========================================================================================== */

#define H5_MAX_DEPTH      256      /* group nesting */
#define H5_MAX_OH_CHUNKS  256      /* continuation blocks of one object header */
#define H5_MAX_MSGS       65536    /* messages of one object header */
#define H5_MAX_BTREE_LVL  64

static const uint8_t H5_SIG[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};

struct ferry__h5 {
    ferry_ctx    *ctx;
    ferry_source *src;
    uint64_t      size;
    uint64_t      base;      /* absolute offset of the superblock */
    unsigned      so, sl;    /* sizes of offsets and lengths */
    int           sbver;
    uint64_t      root;      /* root object header (relative address) */
    /* walk state: visited object headers (open addressing, 0 = empty slot, stored +1) */
    uint64_t     *seen;
    size_t        seen_cap, seen_n;
    /* the last global heap collection read (an attribute of many variable-length strings
     * would otherwise load the same collection once per element) */
    uint64_t      gcol_addr;
    uint8_t      *gcol;
    uint64_t      gcol_len;
};

typedef struct h5_chunk {
    uint64_t addr;   /* absolute */
    uint64_t size;   /* stored bytes */
    uint32_t mask;   /* filters skipped */
} h5_chunk;

struct ferry__h5_chunks {
    size_t    n, cap;
    h5_chunk *c;
    uint64_t *offs;     /* n * ndim element offsets */
    int32_t   ndim;
    uint64_t  cbytes;   /* bytes of one decoded chunk */
    int64_t   cur;      /* chunk decoded in buf, or -1 */
    uint8_t  *buf;
};

/* ============================================================================================
 * Cursor over a buffer: reads past the end set a sticky flag
 * ========================================================================================== */

typedef struct cur {
    const uint8_t *p;
    size_t         n, pos;
    bool           bad;
} cur;

static cur c_make(const uint8_t *p, size_t n)
{
    cur c = {p, n, 0, false};
    return c;
}

static uint64_t c_uint(cur *c, unsigned w)
{
    if (c->bad || w > c->n - c->pos) {
        c->bad = true;
        return 0;
    }
    uint64_t v = 0;
    for (unsigned i = 0; i < w; i++) v |= (uint64_t)c->p[c->pos + i] << (8 * i);
    c->pos += w;
    return v;
}

static uint8_t  c_u8(cur *c) { return (uint8_t)c_uint(c, 1); }
static uint16_t c_u16(cur *c) { return (uint16_t)c_uint(c, 2); }
static uint32_t c_u32(cur *c) { return (uint32_t)c_uint(c, 4); }

static const uint8_t *c_take(cur *c, uint64_t k)
{
    if (c->bad || k > c->n - c->pos) {
        c->bad = true;
        return NULL;
    }
    const uint8_t *r = c->p + c->pos;
    c->pos += (size_t)k;
    return r;
}

static size_t c_left(const cur *c) { return c->bad ? 0 : c->n - c->pos; }

static bool undef_addr(const ferry__h5 *h, uint64_t a)
{
    return h->so >= 8 ? a == UINT64_MAX : a == (((uint64_t)1 << (8 * h->so)) - 1);
}

/* ============================================================================================
 * Checksums (Jenkins lookup3 "hashlittle", Fletcher-32 as HDF5's filter computes it)
 * ========================================================================================== */

#define ROT(x, k) (((x) << (k)) | ((x) >> (32 - (k))))

static uint32_t lookup3(const uint8_t *k, size_t len)
{
    uint32_t a, b, c;
    a = b = c = 0xdeadbeefu + (uint32_t)len;
    while (len > 12) {
        a += ferry__rd32le(k);
        b += ferry__rd32le(k + 4);
        c += ferry__rd32le(k + 8);
        a -= c; a ^= ROT(c, 4);  c += b;
        b -= a; b ^= ROT(a, 6);  a += c;
        c -= b; c ^= ROT(b, 8);  b += a;
        a -= c; a ^= ROT(c, 16); c += b;
        b -= a; b ^= ROT(a, 19); a += c;
        c -= b; c ^= ROT(b, 4);  b += a;
        len -= 12;
        k += 12;
    }
    if (len == 0) return c;
    uint32_t w[3] = {0, 0, 0};
    for (size_t i = 0; i < len; i++) w[i / 4] += (uint32_t)k[i] << (8 * (i % 4));
    a += w[0];
    b += w[1];
    c += w[2];
    c ^= b; c -= ROT(b, 14);
    a ^= c; a -= ROT(c, 11);
    b ^= a; b -= ROT(a, 25);
    c ^= b; c -= ROT(b, 16);
    a ^= c; a -= ROT(c, 4);
    b ^= a; b -= ROT(a, 14);
    c ^= b; c -= ROT(b, 24);
    return c;
}

static uint32_t fletcher32(const uint8_t *d, size_t len)
{
    uint32_t s1 = 0, s2 = 0;
    size_t words = len / 2;
    while (words) {
        size_t t = words > 360 ? 360 : words;
        words -= t;
        while (t--) {
            s1 += (uint32_t)d[0] << 8 | d[1];
            d += 2;
            s2 += s1;
        }
        s1 = (s1 & 0xffff) + (s1 >> 16);
        s2 = (s2 & 0xffff) + (s2 >> 16);
    }
    if (len % 2) {
        s1 += (uint32_t)d[0] << 8;
        s2 += s1;
        s1 = (s1 & 0xffff) + (s1 >> 16);
        s2 = (s2 & 0xffff) + (s2 >> 16);
    }
    s1 = (s1 & 0xffff) + (s1 >> 16);
    s2 = (s2 & 0xffff) + (s2 >> 16);
    return s2 << 16 | s1;
}

/* ============================================================================================
 * File access: every range is checked against the file before anything is allocated
 * ========================================================================================== */

/* Absolute offset of relative address `a` with `len` bytes that must lie inside the file. */
static int h5_abs(ferry__h5 *h, uint64_t a, uint64_t len, const char *what, const char *path,
                  uint64_t *out)
{
    uint64_t abs, end;
    if (undef_addr(h, a))
        return ferry__fail_field(h->ctx, FERRY_E_CORRUPT, h->src, path && *path ? path : "/",
                                 "%s has an undefined address", what);
    if (ferry__add_overflow(h->base, a, &abs) || ferry__add_overflow(abs, len, &end) ||
        end > h->size)
        return ferry__fail_field(h->ctx, FERRY_E_CORRUPT, h->src, path && *path ? path : "/",
                                 "%s at address %llu (+%llu bytes) leaves the file (%llu bytes)",
                                 what, (unsigned long long)a, (unsigned long long)len,
                                 (unsigned long long)h->size);
    *out = abs;
    return FERRY_OK;
}

/* Loads len bytes of metadata at relative address a (capped by limits.header_bytes). */
static int h5_load(ferry__h5 *h, uint64_t a, uint64_t len, const char *what, const char *path,
                   uint8_t **out)
{
    uint64_t abs = 0;
    *out = NULL;
    FERRY_TRY(h5_abs(h, a, len, what, path, &abs));
    if (len > h->ctx->limits.header_bytes)
        return ferry__fail_field(h->ctx, FERRY_E_LIMIT, h->src, path && *path ? path : "/",
                                 "%s of %llu bytes exceeds the header limit (%llu)", what,
                                 (unsigned long long)len,
                                 (unsigned long long)h->ctx->limits.header_bytes);
    uint8_t *b = ferry__malloc(h->ctx, len ? (size_t)len : 1);
    if (!b) return h->ctx->err_code;
    int rc = ferry_source_read(h->src, abs, b, (size_t)len);
    if (rc < 0) {
        ferry__free(h->ctx, b, (size_t)(len ? len : 1));
        return rc;
    }
    *out = b;
    return FERRY_OK;
}

static void h5_unload(ferry__h5 *h, uint8_t *b, uint64_t len)
{
    if (b) ferry__free(h->ctx, b, (size_t)(len ? len : 1));
}

static int bad_field(ferry__h5 *h, const char *path, const char *what)
{
    return ferry__fail_field(h->ctx, FERRY_E_CORRUPT, h->src, path && *path ? path : "/",
                             "%s is truncated or malformed", what);
}

static int unsupported(ferry__h5 *h, const char *path, const char *what)
{
    return ferry__fail_field(h->ctx, FERRY_E_UNSUPPORTED, h->src, path && *path ? path : "/",
                             "%s is not supported", what);
}

/* ============================================================================================
 * Superblock
 * ========================================================================================== */

bool ferry__h5_magic(const uint8_t *head, size_t n)
{
    return n >= 8 && memcmp(head, H5_SIG, 8) == 0;
}

int ferry__h5_version(const ferry__h5 *h) { return h->sbver; }

int ferry__h5_open(ferry_ctx *ctx, ferry_source *src, ferry__h5 **out)
{
    *out = NULL;
    uint64_t size = ferry_source_size(src), at = UINT64_MAX;
    uint8_t sig[8];
    for (uint64_t o = 0; o + 8 <= size; o = o ? o * 2 : 512) {
        FERRY_TRY(ferry_source_read(src, o, sig, 8));
        if (memcmp(sig, H5_SIG, 8) == 0) {
            at = o;
            break;
        }
        if (o > (UINT64_MAX >> 2)) break;
    }
    if (at == UINT64_MAX)
        return ferry__fail_at(ctx, FERRY_E_CORRUPT, src, 0,
                              "no HDF5 signature at offset 0, 512, 1024, ...");
    uint8_t b[128];
    size_t n = size - at < sizeof b ? (size_t)(size - at) : sizeof b;
    FERRY_TRY(ferry_source_read(src, at, b, n));
    cur c = c_make(b, n);
    c_take(&c, 8);
    int ver = c_u8(&c);
    ferry__h5 hh = {.ctx = ctx, .src = src, .size = size, .base = at, .sbver = ver};
    uint64_t eof = 0;
    if (ver == 0 || ver == 1) {
        c_take(&c, 4); /* free-space, root entry, reserved, shared header versions */
        hh.so = c_u8(&c);
        hh.sl = c_u8(&c);
        c_take(&c, 1 + 2 + 2 + 4); /* reserved, leaf K, internal K, flags */
        if (ver == 1) c_take(&c, 4);
        if (!c.bad && (hh.so == 2 || hh.so == 4 || hh.so == 8) &&
            (hh.sl == 2 || hh.sl == 4 || hh.sl == 8)) {
            c_uint(&c, hh.so);          /* base address (see the design note) */
            c_uint(&c, hh.so);          /* free space info */
            eof = c_uint(&c, hh.so);
            c_uint(&c, hh.so);          /* driver info */
            c_uint(&c, hh.so);          /* root entry: link name offset */
            hh.root = c_uint(&c, hh.so);
            c_take(&c, 24);             /* cache type, reserved, scratch pad */
        }
    } else if (ver == 2 || ver == 3) {
        hh.so = c_u8(&c);
        hh.sl = c_u8(&c);
        c_u8(&c);
        size_t start = 0;
        if (!c.bad && (hh.so == 2 || hh.so == 4 || hh.so == 8) &&
            (hh.sl == 2 || hh.sl == 4 || hh.sl == 8)) {
            c_uint(&c, hh.so);
            c_uint(&c, hh.so);          /* superblock extension */
            eof = c_uint(&c, hh.so);
            hh.root = c_uint(&c, hh.so);
            size_t end = c.pos;
            uint32_t ck = c_u32(&c);
            if (!c.bad && lookup3(b + start, end) != ck)
                return ferry__fail_at(ctx, FERRY_E_CORRUPT, src, at + end,
                                      "superblock checksum mismatch");
        }
    } else {
        return ferry__fail_at(ctx, FERRY_E_UNSUPPORTED, src, at + 8,
                              "superblock version %d is not supported (0-3)", ver);
    }
    if (c.bad)
        return ferry__fail_at(ctx, FERRY_E_CORRUPT, src, at, "superblock is truncated");
    if (!(hh.so == 2 || hh.so == 4 || hh.so == 8) || !(hh.sl == 2 || hh.sl == 4 || hh.sl == 8))
        return ferry__fail_at(ctx, FERRY_E_CORRUPT, src, at + 9,
                              "sizes of offsets/lengths %u/%u are not 2, 4 or 8", hh.so, hh.sl);
    /* With a user block, libhdf5 writes the end-of-file address counting the user block
     * (the file's size), so it is compared with the size as is. */
    if (!undef_addr(&hh, eof) && eof > size)
        return ferry__fail_at(ctx, FERRY_E_CORRUPT, src, at,
                              "file is truncated: end-of-file address %llu > size %llu",
                              (unsigned long long)eof, (unsigned long long)size);
    ferry__h5 *h = ferry__malloc(ctx, sizeof *h);
    if (!h) return ctx->err_code;
    *h = hh;
    *out = h;
    return FERRY_OK;
}

void ferry__h5_close(ferry__h5 *h)
{
    if (!h) return;
    if (h->seen) ferry__free(h->ctx, h->seen, h->seen_cap * sizeof *h->seen);
    if (h->gcol) ferry__free(h->ctx, h->gcol, (size_t)h->gcol_len);
    ferry__free(h->ctx, h, sizeof *h);
}

/* ============================================================================================
 * Object headers (v1 and v2, with continuation blocks)
 * ========================================================================================== */

typedef struct h5_msg {
    uint16_t       type;
    uint8_t        flags;
    const uint8_t *p;
    uint32_t       len;
    uint64_t       off;   /* absolute offset of the body in the file */
} h5_msg;

typedef struct h5_oh {
    uint8_t *buf[H5_MAX_OH_CHUNKS];
    uint64_t len[H5_MAX_OH_CHUNKS];
    int      nbuf;
    h5_msg  *m;
    size_t   n, cap;
    int      version;
} h5_oh;

static void oh_free(ferry__h5 *h, h5_oh *oh)
{
    for (int i = 0; i < oh->nbuf; i++) h5_unload(h, oh->buf[i], oh->len[i]);
    if (oh->m) ferry__free(h->ctx, oh->m, oh->cap * sizeof *oh->m);
    memset(oh, 0, sizeof *oh);
}

static int oh_push(ferry__h5 *h, h5_oh *oh, const h5_msg *msg, const char *path)
{
    if (oh->n == oh->cap) {
        if (oh->cap >= H5_MAX_MSGS)
            return ferry__fail_field(h->ctx, FERRY_E_LIMIT, h->src, *path ? path : "/",
                                     "object header has more than %d messages", H5_MAX_MSGS);
        size_t nc = oh->cap ? oh->cap * 2 : 16;
        h5_msg *nm = ferry__realloc(h->ctx, oh->m, oh->cap * sizeof *nm, nc * sizeof *nm);
        if (!nm) return h->ctx->err_code;
        oh->m   = nm;
        oh->cap = nc;
    }
    oh->m[oh->n++] = *msg;
    return FERRY_OK;
}

/* Parses the messages of one chunk [p, p+n) whose first byte is at absolute offset `abs`. */
static int oh_messages(ferry__h5 *h, h5_oh *oh, const uint8_t *p, size_t n, uint64_t abs,
                       bool v2, bool crt_order, const char *path)
{
    cur c = c_make(p, n);
    size_t hdr = v2 ? (crt_order ? 6 : 4) : 8;
    while (c_left(&c) >= hdr) {
        h5_msg m;
        m.type  = v2 ? c_u8(&c) : c_u16(&c);
        uint16_t len = c_u16(&c);
        m.flags = c_u8(&c);
        if (v2 && crt_order) c_u16(&c);
        if (!v2) c_take(&c, 3);
        m.off = abs + c.pos;
        m.p   = c_take(&c, len);
        m.len = len;
        if (c.bad)
            return ferry__fail_at(h->ctx, FERRY_E_CORRUPT, h->src, m.off,
                                  "object header message (type %u, %u bytes) leaves its chunk "
                                  "(object \"%s\")", m.type, len, *path ? path : "/");
        FERRY_TRY(oh_push(h, oh, &m, path));
    }
    return FERRY_OK;
}

static int oh_keep(ferry__h5 *h, h5_oh *oh, uint8_t *b, uint64_t len, const char *path)
{
    if (oh->nbuf >= H5_MAX_OH_CHUNKS) {
        h5_unload(h, b, len);
        return ferry__fail_field(h->ctx, FERRY_E_LIMIT, h->src, *path ? path : "/",
                                 "object header has more than %d continuation blocks",
                                 H5_MAX_OH_CHUNKS);
    }
    oh->buf[oh->nbuf] = b;
    oh->len[oh->nbuf] = len;
    oh->nbuf++;
    return FERRY_OK;
}

static int oh_read_inner(ferry__h5 *h, uint64_t addr, const char *path, h5_oh *oh)
{
    uint64_t abs;
    FERRY_TRY(h5_abs(h, addr, 16, "object header", path, &abs));
    uint8_t pre[40];
    size_t pn = h->size - abs < sizeof pre ? (size_t)(h->size - abs) : sizeof pre;
    FERRY_TRY(ferry_source_read(h->src, abs, pre, pn));
    bool v2 = memcmp(pre, "OHDR", 4) == 0;
    bool crt = false;
    uint64_t plen, clen;
    cur c = c_make(pre, pn);
    if (v2) {
        c_take(&c, 4);
        uint8_t ver = c_u8(&c), fl = c_u8(&c);
        if (ver != 2)
            return ferry__fail_at(h->ctx, FERRY_E_CORRUPT, h->src, abs + 4,
                                  "object header version %u (expected 2)", ver);
        if (fl & 0x20) c_take(&c, 16);
        if (fl & 0x10) c_take(&c, 4);
        crt  = (fl & 0x04) != 0;
        clen = c_uint(&c, 1u << (fl & 3));
        plen = c.pos;
        oh->version = 2;
    } else {
        uint8_t ver = c_u8(&c);
        if (ver != 1)
            return ferry__fail_at(h->ctx, FERRY_E_CORRUPT, h->src, abs,
                                  "no object header at address %llu (version byte %u; object "
                                  "\"%s\")", (unsigned long long)addr, ver, *path ? path : "/");
        c_take(&c, 1 + 2 + 4);
        clen = c_u32(&c);
        plen = 16;
        oh->version = 1;
    }
    if (c.bad) return bad_field(h, path, "object header prefix");
    uint64_t total = plen + clen + (v2 ? 4 : 0);
    uint8_t *b;
    FERRY_TRY(h5_load(h, addr, total, "object header", path, &b));
    FERRY_TRY(oh_keep(h, oh, b, total, path));
    if (v2 && lookup3(b, (size_t)(total - 4)) != ferry__rd32le(b + total - 4))
        return ferry__fail_at(h->ctx, FERRY_E_CORRUPT, h->src, abs + total - 4,
                              "object header checksum mismatch (object \"%s\")",
                              *path ? path : "/");
    FERRY_TRY(oh_messages(h, oh, b + plen, (size_t)clen, abs + plen, v2, crt, path));
    /* Continuations are appended to the message list as they are met, so the loop also
     * walks the messages of every continuation block. */
    for (size_t i = 0; i < oh->n; i++) {
        if (oh->m[i].type != 0x10) continue;
        cur mc = c_make(oh->m[i].p, oh->m[i].len);
        uint64_t ca = c_uint(&mc, h->so), cl = c_uint(&mc, h->sl);
        if (mc.bad) return bad_field(h, path, "continuation message");
        uint8_t *cb;
        uint64_t cabs;
        FERRY_TRY(h5_abs(h, ca, cl, "continuation block", path, &cabs));
        FERRY_TRY(h5_load(h, ca, cl, "continuation block", path, &cb));
        FERRY_TRY(oh_keep(h, oh, cb, cl, path));
        if (v2) {
            if (cl < 8 || memcmp(cb, "OCHK", 4) != 0)
                return ferry__fail_at(h->ctx, FERRY_E_CORRUPT, h->src, cabs,
                                      "continuation block without OCHK signature (object "
                                      "\"%s\")", *path ? path : "/");
            if (lookup3(cb, (size_t)(cl - 4)) != ferry__rd32le(cb + cl - 4))
                return ferry__fail_at(h->ctx, FERRY_E_CORRUPT, h->src, cabs + cl - 4,
                                      "continuation block checksum mismatch (object \"%s\")",
                                      *path ? path : "/");
            FERRY_TRY(oh_messages(h, oh, cb + 4, (size_t)(cl - 8), cabs + 4, true, crt, path));
        } else {
            FERRY_TRY(oh_messages(h, oh, cb, (size_t)cl, cabs, false, false, path));
        }
    }
    return FERRY_OK;
}

static int oh_read(ferry__h5 *h, uint64_t addr, const char *path, h5_oh *oh)
{
    memset(oh, 0, sizeof *oh);
    int rc = oh_read_inner(h, addr, path, oh);
    if (rc < 0) oh_free(h, oh);
    return rc;
}

static const h5_msg *oh_find(const h5_oh *oh, uint16_t type)
{
    for (size_t i = 0; i < oh->n; i++)
        if (oh->m[i].type == type) return &oh->m[i];
    return NULL;
}

/* ============================================================================================
 * Dataspace and datatype messages
 * ========================================================================================== */

/* ndim -1: null dataspace. */
static int parse_space(ferry__h5 *h, const uint8_t *p, size_t n, const char *path,
                       int32_t *ndim, uint64_t *dims, uint64_t *maxdims, uint64_t *nelems)
{
    cur c = c_make(p, n);
    uint8_t ver = c_u8(&c), rank = c_u8(&c), fl = c_u8(&c), kind = 1;
    if (ver == 1) {
        c_take(&c, 5);
        kind = rank ? 1 : 0;
    } else if (ver == 2) {
        kind = c_u8(&c);
    } else if (!c.bad) {
        return ferry__fail_field(h->ctx, FERRY_E_UNSUPPORTED, h->src, *path ? path : "/",
                                 "dataspace message version %u", ver);
    }
    if (c.bad) return bad_field(h, path, "dataspace message");
    if (rank > FERRY__H5_MAX_RANK || rank > h->ctx->limits.dims)
        return ferry__fail_field(h->ctx, FERRY_E_LIMIT, h->src, *path ? path : "/",
                                 "dataspace rank %u exceeds the limit", rank);
    uint64_t ne = 1;
    for (unsigned i = 0; i < rank; i++) {
        dims[i]    = c_uint(&c, h->sl);
        maxdims[i] = dims[i];
        if (ferry__mul_overflow(ne, dims[i], &ne) || dims[i] > (uint64_t)INT64_MAX)
            return ferry__fail_field(h->ctx, FERRY_E_LIMIT, h->src, *path ? path : "/",
                                     "dataspace element count overflows");
    }
    if (fl & 1)
        for (unsigned i = 0; i < rank; i++) maxdims[i] = c_uint(&c, h->sl);
    if (c.bad) return bad_field(h, path, "dataspace message");
    if (kind == 2) {
        *ndim   = -1;
        *nelems = 0;
    } else {
        *ndim   = kind == 0 ? 0 : rank;
        *nelems = kind == 0 ? 1 : ne;
    }
    return FERRY_OK;
}

static void set_native(ferry__h5_type *t, const char *s)
{
    snprintf(t->native, sizeof t->native, "%s", s);
}

/* Reads the fixed 8-byte datatype header and, for fixed-point and floating-point classes,
 * their properties; a short buffer sets c->bad. */
static void parse_num_type(cur *c, ferry__h5_type *t)
{
    uint8_t b0 = c_u8(c), b1 = c_u8(c);
    c_u8(c);
    c_u8(c);
    t->cls        = b0 & 15;
    t->size       = c_u32(c);
    t->big_endian = (b1 & 1) != 0;
    t->plain      = false;
    t->dtype      = FERRY_DTYPE_OPAQUE;
    char e = t->big_endian ? '>' : '<';
    if (t->cls == 0) {
        uint16_t off = c_u16(c), prec = c_u16(c);
        bool sgn = (b1 & 8) != 0;
        static const ferry_dtype s[] = {FERRY_DTYPE_I8, FERRY_DTYPE_I16, 0, FERRY_DTYPE_I32, 0,
                                        0, 0, FERRY_DTYPE_I64};
        static const ferry_dtype u[] = {FERRY_DTYPE_U8, FERRY_DTYPE_U16, 0, FERRY_DTYPE_U32, 0,
                                        0, 0, FERRY_DTYPE_U64};
        if ((t->size == 1 || t->size == 2 || t->size == 4 || t->size == 8) && off == 0 &&
            prec == t->size * 8) {
            t->dtype = sgn ? s[t->size - 1] : u[t->size - 1];
            t->plain = true;
            snprintf(t->native, sizeof t->native, "%c%c%u", t->size == 1 ? '|' : e,
                     sgn ? 'i' : 'u', (unsigned)t->size);
        } else {
            snprintf(t->native, sizeof t->native, "int(%u bytes, %u bits at %u)",
                     (unsigned)t->size, prec, off);
        }
    } else if (t->cls == 1) {
        uint16_t off = c_u16(c), prec = c_u16(c);
        c_u8(c);
        uint8_t es = c_u8(c);
        c_u8(c);
        uint8_t ms = c_u8(c);
        c_u32(c);
        bool vax = (b1 & 0x40) != 0, whole = off == 0 && prec == t->size * 8 && !vax;
        if (whole && t->size == 2 && es == 5 && ms == 10) t->dtype = FERRY_DTYPE_F16;
        else if (whole && t->size == 2 && es == 8 && ms == 7) t->dtype = FERRY_DTYPE_BF16;
        else if (whole && t->size == 4 && es == 8 && ms == 23) t->dtype = FERRY_DTYPE_F32;
        else if (whole && t->size == 8 && es == 11 && ms == 52) t->dtype = FERRY_DTYPE_F64;
        if (t->dtype != FERRY_DTYPE_OPAQUE) {
            t->plain = true;
            snprintf(t->native, sizeof t->native, "%c%s%u", e,
                     t->dtype == FERRY_DTYPE_BF16 ? "bf" : "f", (unsigned)t->size);
        } else {
            snprintf(t->native, sizeof t->native, "float(%u bytes, e%u m%u%s)",
                     (unsigned)t->size, es, ms, vax ? ", VAX order" : "");
        }
    }
}

/* Skips a member name of a compound or enum: NUL-terminated, padded to 8 before version 3. */
static const char *member_name(cur *c, int ver, size_t *len)
{
    size_t s = c->pos, k = 0;
    while (!c->bad && s + k < c->n && c->p[s + k]) k++;
    if (s + k >= c->n) {
        c->bad = true;
        return NULL;
    }
    *len = k;
    c_take(c, ver < 3 ? ferry__align_up(k + 1, 8) : k + 1);
    return (const char *)c->p + s;
}

/* h5py's bool: enum over a 1-byte integer with exactly FALSE = 0 and TRUE = 1. */
static bool enum_is_bool(cur *c, int ver, unsigned nmemb)
{
    ferry__h5_type base;
    parse_num_type(c, &base);
    if (c->bad || base.cls != 0 || base.size != 1 || nmemb != 2) return false;
    size_t l0, l1;
    const char *n0 = member_name(c, ver, &l0), *n1 = member_name(c, ver, &l1);
    const uint8_t *v = c_take(c, 2);
    if (c->bad) return false;
    return l0 == 5 && memcmp(n0, "FALSE", 5) == 0 && l1 == 4 && memcmp(n1, "TRUE", 4) == 0 &&
           v[0] == 0 && v[1] == 1;
}

/* h5py's complex: compound {r, i} of two equal IEEE floats, r at 0 and i at size/2. */
static bool compound_is_complex(cur *c, int ver, unsigned nmemb, uint32_t size,
                                ferry__h5_type *t)
{
    if (nmemb != 2 || (size != 8 && size != 16) || ver < 1 || ver > 3) return false;
    ferry__h5_type m[2];
    uint64_t off[2];
    for (int i = 0; i < 2; i++) {
        size_t l;
        const char *nm = member_name(c, ver, &l);
        if (c->bad || l != 1 || nm[0] != (i ? 'i' : 'r')) return false;
        if (ver == 3) {
            unsigned w = size < 256 ? 1 : 2;
            off[i] = c_uint(c, w);
        } else {
            off[i] = c_u32(c);
        }
        if (ver == 1) c_take(c, 28);
        parse_num_type(c, &m[i]);
        if (c->bad || m[i].cls != 1 || !m[i].plain || m[i].size * 2 != size) return false;
    }
    if (off[0] != 0 || off[1] != size / 2 || m[0].big_endian != m[1].big_endian ||
        m[0].dtype != m[1].dtype)
        return false;
    if (m[0].dtype == FERRY_DTYPE_F32) t->dtype = FERRY_DTYPE_C64;
    else if (m[0].dtype == FERRY_DTYPE_F64) t->dtype = FERRY_DTYPE_C128;
    else return false;
    t->big_endian = m[0].big_endian;
    snprintf(t->native, sizeof t->native, "%cc%u", t->big_endian ? '>' : '<', (unsigned)size);
    return true;
}

static int parse_type(ferry__h5 *h, const uint8_t *p, size_t n, const char *path,
                      ferry__h5_type *t)
{
    memset(t, 0, sizeof *t);
    cur c = c_make(p, n);
    if (n < 8) return bad_field(h, path, "datatype message");
    uint8_t cls = p[0] & 15, ver = p[0] >> 4, b1 = p[1], b2 = p[2];
    if (cls <= 1) {
        parse_num_type(&c, t);
        if (c.bad) return bad_field(h, path, "datatype message");
        return FERRY_OK;
    }
    c_take(&c, 4);
    t->cls   = cls;
    t->size  = c_u32(&c);
    t->dtype = FERRY_DTYPE_OPAQUE;
    unsigned nmemb = (unsigned)b1 | (unsigned)b2 << 8;
    switch (cls) {
    case 3:
        t->dtype = FERRY_DTYPE_BYTES_FIXED;
        t->plain = t->size > 0;
        snprintf(t->native, sizeof t->native, "|S%u%s", (unsigned)t->size,
                 (b1 >> 4) == 1 ? " (utf-8)" : "");
        break;
    case 9:
        if ((b1 & 15) == 1) {
            t->vlen_string = true;
            t->dtype       = FERRY_DTYPE_STRING;
            set_native(t, (b1 >> 4 & 15) == 1 ? "vlen-str (utf-8)" : "vlen-str (ascii)");
        } else {
            set_native(t, "vlen-sequence");
        }
        break;
    case 8: {
        cur e = c;
        if (enum_is_bool(&e, ver, nmemb) && t->size == 1) {
            t->dtype = FERRY_DTYPE_BOOL;
            t->plain = true;
            set_native(t, "|b1");
        } else {
            snprintf(t->native, sizeof t->native, "enum(%u bytes, %u members)",
                     (unsigned)t->size, nmemb);
        }
        break;
    }
    case 6: {
        cur e = c;
        if (compound_is_complex(&e, ver, nmemb, t->size, t))
            t->plain = true;
        else
            snprintf(t->native, sizeof t->native, "compound(%u bytes, %u members)",
                     (unsigned)t->size, nmemb);
        break;
    }
    case 2: snprintf(t->native, sizeof t->native, "time(%u)", (unsigned)t->size); break;
    case 4: snprintf(t->native, sizeof t->native, "bitfield(%u)", (unsigned)t->size); break;
    case 5: snprintf(t->native, sizeof t->native, "opaque(%u)", (unsigned)t->size); break;
    case 7: snprintf(t->native, sizeof t->native, "reference(%u)", (unsigned)t->size); break;
    case 10: snprintf(t->native, sizeof t->native, "array(%u bytes)", (unsigned)t->size); break;
    default:
        return ferry__fail_field(h->ctx, FERRY_E_CORRUPT, h->src, *path ? path : "/",
                                 "datatype class %u is not defined", cls);
    }
    if (c.bad) return bad_field(h, path, "datatype message");
    return FERRY_OK;
}

/* ============================================================================================
 * Global heap (variable-length strings)
 * ========================================================================================== */

int ferry__h5_vlen_string(ferry__h5 *h, const uint8_t *elem, size_t elem_len, char **out,
                          size_t *len)
{
    *out = NULL;
    cur c = c_make(elem, elem_len);
    uint32_t slen = c_u32(&c);
    uint64_t coll = c_uint(&c, h->so);
    uint32_t idx = c_u32(&c);
    if (c.bad) return bad_field(h, "", "variable-length string reference");
    if (slen > h->ctx->limits.string_length)
        return ferry__fail(h->ctx, FERRY_E_LIMIT, "%s: variable-length string of %u bytes "
                           "exceeds the string limit", ferry_source_name(h->src), slen);
    if (slen == 0 || undef_addr(h, coll) || coll == 0) {
        *out = ferry__strndup(h->ctx, "", 0);
        *len = 0;
        return *out ? FERRY_OK : h->ctx->err_code;
    }
    uint8_t hd[16];
    uint64_t abs;
    FERRY_TRY(h5_abs(h, coll, 8 + h->sl, "global heap collection", "", &abs));
    if (!h->gcol || h->gcol_addr != coll) {
        FERRY_TRY(ferry_source_read(h->src, abs, hd, 8 + h->sl));
        if (memcmp(hd, "GCOL", 4) != 0)
            return ferry__fail_at(h->ctx, FERRY_E_CORRUPT, h->src, abs,
                                  "global heap collection without GCOL signature");
        cur hc = c_make(hd + 8, h->sl);
        uint64_t csize = c_uint(&hc, h->sl);
        uint8_t *nb;
        FERRY_TRY(h5_load(h, coll, csize, "global heap collection", "", &nb));
        if (h->gcol) ferry__free(h->ctx, h->gcol, (size_t)h->gcol_len);
        h->gcol      = nb;
        h->gcol_len  = csize;
        h->gcol_addr = coll;
    }
    const uint8_t *b = h->gcol;
    uint64_t csize = h->gcol_len;
    cur g = c_make(b, (size_t)csize);
    c_take(&g, 8 + h->sl);
    int rc = FERRY_E_CORRUPT;
    while (c_left(&g) >= 8 + h->sl) {
        uint16_t oi = c_u16(&g);
        c_take(&g, 6);
        uint64_t osz = c_uint(&g, h->sl);
        if (oi == 0) break;
        const uint8_t *d = c_take(&g, osz);
        if (!d) break;
        if (oi == idx) {
            if (slen > osz) break;
            *out = ferry__strndup(h->ctx, (const char *)d, slen);
            *len = slen;
            rc   = *out ? FERRY_OK : h->ctx->err_code;
            return rc;
        }
        c_take(&g, ferry__align_up(osz, 8) - osz);
    }
    return ferry__fail_at(h->ctx, FERRY_E_CORRUPT, h->src, abs,
                          "global heap object %u of %u bytes not found in its collection", idx,
                          slen);
}

/* ============================================================================================
 * Dataset description (layout, filters, fill value)
 * ========================================================================================== */

static int parse_layout(ferry__h5 *h, const h5_msg *m, const char *path, ferry__h5_dataset *d)
{
    cur c = c_make(m->p, m->len);
    uint8_t ver = c_u8(&c), cls = c_u8(&c);
    if (c.bad) return bad_field(h, path, "layout message");
    if (ver < 3 || ver > 4)
        return ferry__fail_field(h->ctx, FERRY_E_UNSUPPORTED, h->src, *path ? path : "/",
                                 "data layout message version %u is not supported (3, 4)", ver);
    d->layout   = cls;
    d->data_off = UINT64_MAX;
    uint64_t a = 0;
    if (cls == 0) {
        uint16_t sz = c_u16(&c);
        size_t at = c.pos;
        if (!c_take(&c, sz)) return bad_field(h, path, "compact layout");
        d->data_off  = m->off + at;
        d->data_size = sz;
    } else if (cls == 1) {
        a            = c_uint(&c, h->so);
        d->data_size = c_uint(&c, h->sl);
        if (c.bad) return bad_field(h, path, "contiguous layout");
        if (!undef_addr(h, a)) FERRY_TRY(h5_abs(h, a, d->data_size, "dataset data", path,
                                                &d->data_off));
    } else if (cls == 2) {
        uint8_t fl = 0, rank, enc = 4;
        if (ver == 4) fl = c_u8(&c);
        rank = c_u8(&c);
        if (ver == 3) a = c_uint(&c, h->so);
        if (ver == 4) enc = c_u8(&c);
        if (c.bad) return bad_field(h, path, "chunked layout");
        if (rank < 1 || (int32_t)rank != d->ndim + 1 || enc < 1 || enc > 8)
            return ferry__fail_field(h->ctx, FERRY_E_CORRUPT, h->src, *path ? path : "/",
                                     "chunked layout has %u dimensions for a rank-%d dataspace",
                                     rank, (int)d->ndim);
        for (unsigned i = 0; i < rank; i++) {
            uint64_t v = c_uint(&c, enc);
            if (i + 1 < rank) {
                if (v == 0 || v > UINT32_MAX)
                    return ferry__fail_field(h->ctx, FERRY_E_CORRUPT, h->src, *path ? path : "/",
                                             "chunk dimension %u is %llu", i,
                                             (unsigned long long)v);
                d->chunk[i] = (uint32_t)v;
            }
        }
        d->index = FERRY__H5_IDX_BTREE1;
        if (ver == 4) {
            uint8_t it = c_u8(&c);
            switch (it) {
            case 1:
                d->index = FERRY__H5_IDX_SINGLE;
                if (fl & 2) {
                    d->single_size = c_uint(&c, h->sl);
                    d->single_mask = c_u32(&c);
                }
                break;
            case 2: d->index = FERRY__H5_IDX_IMPLICIT; break;
            case 3: d->index = FERRY__H5_IDX_FARRAY; c_u8(&c); break;
            case 4: d->index = FERRY__H5_IDX_EARRAY; c_take(&c, 5); break;
            case 5: d->index = FERRY__H5_IDX_BTREE2; c_take(&c, 6); break;
            default:
                return ferry__fail_field(h->ctx, FERRY_E_CORRUPT, h->src, *path ? path : "/",
                                         "chunk index type %u is not defined", it);
            }
            a = c_uint(&c, h->so);
        }
        if (c.bad) return bad_field(h, path, "chunked layout");
        d->index_addr = UINT64_MAX;
        if (!undef_addr(h, a)) FERRY_TRY(h5_abs(h, a, 0, "chunk index", path, &d->index_addr));
    } else if (cls == 3) {
        d->layout = FERRY__H5_VIRTUAL;
    } else {
        return ferry__fail_field(h->ctx, FERRY_E_CORRUPT, h->src, *path ? path : "/",
                                 "layout class %u is not defined", cls);
    }
    return FERRY_OK;
}

static int parse_filters(ferry__h5 *h, const h5_msg *m, const char *path, ferry__h5_dataset *d)
{
    cur c = c_make(m->p, m->len);
    uint8_t ver = c_u8(&c), nf = c_u8(&c);
    if (ver == 1) c_take(&c, 6);
    else if (ver != 2 && !c.bad)
        return ferry__fail_field(h->ctx, FERRY_E_UNSUPPORTED, h->src, *path ? path : "/",
                                 "filter pipeline message version %u", ver);
    if (nf > FERRY__H5_MAX_FILTERS)
        return ferry__fail_field(h->ctx, FERRY_E_LIMIT, h->src, *path ? path : "/",
                                 "%u filters in the pipeline (at most %d)", nf,
                                 FERRY__H5_MAX_FILTERS);
    for (unsigned i = 0; i < nf && !c.bad; i++) {
        ferry__h5_filter *f = &d->filters[i];
        f->id = c_u16(&c);
        uint16_t nl = (ver == 1 || f->id >= 256) ? c_u16(&c) : 0;
        f->flags = c_u16(&c);
        uint16_t nv = c_u16(&c);
        c_take(&c, ver == 1 ? ferry__align_up(nl, 8) : nl);
        f->nvals = nv < 8 ? nv : 8;
        for (unsigned k = 0; k < nv; k++) {
            uint32_t v = c_u32(&c);
            if (k < 8) f->vals[k] = v;
        }
        if (ver == 1 && (nv & 1)) c_take(&c, 4);
    }
    if (c.bad) return bad_field(h, path, "filter pipeline message");
    d->nfilters = nf;
    return FERRY_OK;
}

static int parse_fill(ferry__h5 *h, const h5_msg *m, const char *path, ferry__h5_dataset *d)
{
    cur c = c_make(m->p, m->len);
    uint32_t sz = 0;
    bool have = false;
    if (m->type == 0x04) {
        sz   = c_u32(&c);
        have = true;
    } else {
        uint8_t ver = c_u8(&c);
        if (ver == 1 || ver == 2) {
            c_take(&c, 2);
            uint8_t def = c_u8(&c);
            if (ver == 1 || def) {
                sz   = c_u32(&c);
                have = true;
            }
        } else if (ver == 3) {
            uint8_t fl = c_u8(&c);
            if (fl & 0x20) {
                sz   = c_u32(&c);
                have = true;
            }
        } else if (!c.bad) {
            return ferry__fail_field(h->ctx, FERRY_E_UNSUPPORTED, h->src, *path ? path : "/",
                                     "fill value message version %u", ver);
        }
    }
    size_t at = c.pos;
    if (have && sz) c_take(&c, sz);
    if (c.bad) return bad_field(h, path, "fill value message");
    if (have && sz) {
        if (sz != d->type.size)
            return ferry__fail_field(h->ctx, FERRY_E_CORRUPT, h->src, *path ? path : "/",
                                     "fill value of %u bytes for %u-byte elements", sz,
                                     (unsigned)d->type.size);
        d->fill_off = m->off + at;
        d->fill_len = sz;
    }
    return FERRY_OK;
}

/* ============================================================================================
 * Chunk indexes
 * ========================================================================================== */

void ferry__h5_chunks_free(ferry__h5 *h, ferry__h5_chunks *c)
{
    if (!c) return;
    ferry_ctx *ctx = h->ctx;
    if (c->c) ferry__free(ctx, c->c, c->cap * sizeof *c->c);
    if (c->offs) ferry__free(ctx, c->offs, c->cap * (size_t)(c->ndim ? c->ndim : 1) * 8);
    if (c->buf) ferry__free(ctx, c->buf, (size_t)c->cbytes);
    ferry__free(ctx, c, sizeof *c);
}

static int chunks_add(ferry__h5 *h, ferry__h5_chunks *cs, const h5_chunk *ch,
                      const uint64_t *offs, uint64_t max_chunks, const char *path)
{
    if (cs->n >= max_chunks)
        return ferry__fail_field(h->ctx, FERRY_E_CORRUPT, h->src, path,
                                 "chunk index lists more chunks than the dataset has (%llu)",
                                 (unsigned long long)max_chunks);
    size_t nd = (size_t)(cs->ndim ? cs->ndim : 1);
    if (cs->n == cs->cap) {
        size_t nc = cs->cap ? cs->cap * 2 : 16;
        h5_chunk *c2 = ferry__realloc(h->ctx, cs->c, cs->cap * sizeof *c2, nc * sizeof *c2);
        if (!c2) return h->ctx->err_code;
        cs->c = c2;
        uint64_t *o2 = ferry__realloc(h->ctx, cs->offs, cs->cap * nd * 8, nc * nd * 8);
        if (!o2) return h->ctx->err_code;
        cs->offs = o2;
        cs->cap  = nc;
    }
    cs->c[cs->n] = *ch;
    memcpy(cs->offs + cs->n * nd, offs, nd * 8);
    cs->n++;
    return FERRY_OK;
}

/* Chunk grid: chunks along each axis (from the maximum dims, as the index addresses them). */
static uint64_t grid_count(const ferry__h5_dataset *d, uint64_t *grid)
{
    uint64_t total = 1;
    for (int32_t i = 0; i < d->ndim; i++) {
        uint64_t md = d->maxdims[i] == UINT64_MAX || d->maxdims[i] < d->dims[i] ? d->dims[i]
                                                                                : d->maxdims[i];
        grid[i] = (md + d->chunk[i] - 1) / d->chunk[i];
        if (ferry__mul_overflow(total, grid[i] ? grid[i] : 1, &total)) return UINT64_MAX;
    }
    return total;
}

static void grid_offsets(const ferry__h5_dataset *d, const uint64_t *grid, uint64_t idx,
                         uint64_t *offs)
{
    for (int32_t i = d->ndim - 1; i >= 0; i--) {
        uint64_t g = grid[i] ? grid[i] : 1;
        offs[i] = idx % g * d->chunk[i];
        idx /= g;
    }
}

typedef struct bt_item {
    uint64_t addr;
    int      level;
} bt_item;

static int btree1_chunks(ferry__h5 *h, const ferry__h5_dataset *d, const char *path,
                         ferry__h5_chunks *cs, uint64_t max_chunks)
{
    size_t keylen = 8 + 8 * (size_t)(d->ndim + 1);
    size_t cap = 64, n = 0;
    uint64_t visits = 0, max_visits = h->size / 24 + 1;
    bt_item *st = ferry__malloc(h->ctx, cap * sizeof *st);
    if (!st) return h->ctx->err_code;
    int rc = FERRY_OK;
    st[n++] = (bt_item){d->index_addr - h->base, -1};
    uint64_t offs[FERRY__H5_MAX_RANK + 1];
    while (n && rc == 0) {
        bt_item it = st[--n];
        if (++visits > max_visits) {
            rc = ferry__fail_field(h->ctx, FERRY_E_CORRUPT, h->src, path,
                                   "chunk B-tree has more nodes than the file can hold");
            break;
        }
        uint8_t hd[24];
        uint64_t abs;
        size_t hl = 8 + 2 * h->so;
        if ((rc = h5_abs(h, it.addr, hl, "chunk B-tree node", path, &abs)) < 0) break;
        if ((rc = ferry_source_read(h->src, abs, hd, hl)) < 0) break;
        if (memcmp(hd, "TREE", 4) != 0 || hd[4] != 1) {
            rc = ferry__fail_at(h->ctx, FERRY_E_CORRUPT, h->src, abs,
                                "chunk B-tree node without TREE signature / type 1 (dataset "
                                "\"%s\")", path);
            break;
        }
        int level = hd[5];
        unsigned used = ferry__rd16le(hd + 6);
        if ((it.level >= 0 && level != it.level) || level > H5_MAX_BTREE_LVL) {
            rc = ferry__fail_at(h->ctx, FERRY_E_CORRUPT, h->src, abs,
                                "chunk B-tree node at level %d where level %d was expected",
                                level, it.level);
            break;
        }
        uint64_t body = (uint64_t)used * (keylen + h->so) + keylen;
        uint8_t *b;
        if ((rc = h5_load(h, it.addr + hl, body, "chunk B-tree node", path, &b)) < 0) break;
        cur c = c_make(b, (size_t)body);
        for (unsigned e = 0; e < used && rc == 0; e++) {
            h5_chunk ch;
            ch.size = c_u32(&c);
            ch.mask = c_u32(&c);
            for (int32_t k = 0; k <= d->ndim; k++) offs[k] = c_uint(&c, 8);
            uint64_t child = c_uint(&c, h->so);
            if (c.bad) break;
            if (level == 0) {
                bool inside = true;
                for (int32_t k = 0; k < d->ndim; k++)
                    if (offs[k] % d->chunk[k] || offs[k] >= d->dims[k]) inside = false;
                if (!inside) continue; /* chunks beyond the current extent are ignored */
                rc = h5_abs(h, child, ch.size, "chunk", path, &ch.addr);
                if (rc == 0) rc = chunks_add(h, cs, &ch, offs, max_chunks, path);
            } else {
                if (n == cap) {
                    bt_item *ns = ferry__realloc(h->ctx, st, cap * sizeof *st,
                                                 cap * 2 * sizeof *st);
                    if (!ns) {
                        rc = h->ctx->err_code;
                        break;
                    }
                    st = ns;
                    cap *= 2;
                }
                st[n++] = (bt_item){child, level - 1};
            }
        }
        h5_unload(h, b, body);
    }
    ferry__free(h->ctx, st, cap * sizeof *st);
    return rc;
}

static int farray_chunks(ferry__h5 *h, const ferry__h5_dataset *d, const char *path,
                         ferry__h5_chunks *cs, const uint64_t *grid, uint64_t max_chunks)
{
    uint64_t hl = 4 + 1 + 1 + 1 + 1 + h->sl + h->so + 4;
    uint8_t *b;
    FERRY_TRY(h5_load(h, d->index_addr - h->base, hl, "fixed array header", path, &b));
    cur c = c_make(b, (size_t)hl);
    bool ok = memcmp(b, "FAHD", 4) == 0 && lookup3(b, (size_t)hl - 4) == ferry__rd32le(b + hl - 4);
    c_take(&c, 5);
    uint8_t client = c_u8(&c), esize = c_u8(&c), pbits = c_u8(&c);
    uint64_t nent = c_uint(&c, h->sl), dblk = c_uint(&c, h->so);
    h5_unload(h, b, hl);
    if (!ok || c.bad)
        return ferry__fail_field(h->ctx, FERRY_E_CORRUPT, h->src, path,
                                 "fixed array header: bad signature or checksum");
    unsigned need = client ? h->so + 4 + 1 : h->so;
    if (client > 1 || esize < need || esize > h->so + 8 + 4 || pbits > 32 || nent > max_chunks)
        return ferry__fail_field(h->ctx, FERRY_E_CORRUPT, h->src, path,
                                 "fixed array header: client %u, entry size %u, %llu entries",
                                 client, esize, (unsigned long long)nent);
    if (undef_addr(h, dblk)) return FERRY_OK;
    uint64_t page = (uint64_t)1 << pbits, npages = nent > page ? (nent + page - 1) / page : 0;
    uint64_t pre = 4 + 1 + 1 + h->so + (npages + 7) / 8;
    uint64_t body = npages ? pre + 4 + nent * esize + npages * 4 : pre + nent * esize + 4;
    FERRY_TRY(h5_load(h, dblk, body, "fixed array data block", path, &b));
    int rc = FERRY_OK;
    if (memcmp(b, "FADB", 4) != 0 ||
        (!npages && lookup3(b, (size_t)body - 4) != ferry__rd32le(b + body - 4)))
        rc = ferry__fail_field(h->ctx, FERRY_E_CORRUPT, h->src, path,
                               "fixed array data block: bad signature or checksum");
    uint64_t offs[FERRY__H5_MAX_RANK + 1] = {0};
    uint64_t pos = npages ? pre + 4 : pre;
    for (uint64_t i = 0; i < nent && rc == 0; i++) {
        if (npages && i % page == 0) {
            uint64_t p = i / page;
            if (i) pos += 4;
            if (!(b[4 + 1 + 1 + h->so + p / 8] & (0x80 >> (p % 8)))) {
                uint64_t k = nent - i < page ? nent - i : page;
                pos += k * esize;
                i += k - 1;
                continue;
            }
        }
        cur e = c_make(b + pos, esize);
        pos += esize;
        uint64_t a = c_uint(&e, h->so);
        h5_chunk ch;
        ch.size = cs->cbytes;
        ch.mask = 0;
        if (client) {
            ch.size = c_uint(&e, esize - h->so - 4);
            ch.mask = c_u32(&e);
        }
        if (undef_addr(h, a)) continue;
        grid_offsets(d, grid, i, offs);
        bool inside = true;
        for (int32_t k = 0; k < d->ndim; k++)
            if (offs[k] >= d->dims[k]) inside = false;
        if (!inside) continue;
        rc = h5_abs(h, a, ch.size, "chunk", path, &ch.addr);
        if (rc == 0) rc = chunks_add(h, cs, &ch, offs, max_chunks, path);
    }
    h5_unload(h, b, body);
    return rc;
}

static int build_chunks(ferry__h5 *h, const ferry__h5_dataset *d, const char *path,
                        ferry__h5_chunks **out)
{
    ferry__h5_chunks *cs = ferry__calloc(h->ctx, 1, sizeof *cs);
    if (!cs) return h->ctx->err_code;
    cs->ndim = d->ndim;
    cs->cur  = -1;
    uint64_t cb = d->type.size;
    for (int32_t i = 0; i < d->ndim; i++)
        if (ferry__mul_overflow(cb, d->chunk[i], &cb)) cb = UINT64_MAX;
    cs->cbytes = cb;
    int rc = FERRY_OK;
    uint64_t grid[FERRY__H5_MAX_RANK];
    uint64_t maxc = grid_count(d, grid);
    uint64_t zero[FERRY__H5_MAX_RANK + 1] = {0};
    if (cb > UINT32_MAX || cb == 0)
        rc = ferry__fail_field(h->ctx, FERRY_E_CORRUPT, h->src, path,
                               "chunk of %llu bytes (HDF5 chunks are below 4 GiB)",
                               (unsigned long long)cb);
    else if (d->index_addr == UINT64_MAX)
        rc = FERRY_OK; /* nothing written yet: all fill value */
    else if (d->index == FERRY__H5_IDX_BTREE1)
        rc = btree1_chunks(h, d, path, cs, maxc);
    else if (d->index == FERRY__H5_IDX_SINGLE) {
        h5_chunk ch = {0, d->nfilters ? d->single_size : cb, d->single_mask};
        rc = h5_abs(h, d->index_addr - h->base, ch.size, "chunk", path, &ch.addr);
        if (rc == 0) rc = chunks_add(h, cs, &ch, zero, 1, path);
    } else if (d->index == FERRY__H5_IDX_IMPLICIT) {
        for (uint64_t i = 0; i < maxc && rc == 0; i++) {
            h5_chunk ch = {0, cb, 0};
            uint64_t rel = d->index_addr - h->base, o;
            if (ferry__mul_overflow(i, cb, &o) || ferry__add_overflow(rel, o, &rel)) {
                rc = bad_field(h, path, "implicit chunk index");
                break;
            }
            /* The address is checked first: it grows with i, so the loop ends within the
             * file's size even when huge maximum dims make most chunks lie outside. */
            rc = h5_abs(h, rel, cb, "chunk", path, &ch.addr);
            if (rc < 0) break;
            grid_offsets(d, grid, i, zero);
            bool inside = true;
            for (int32_t k = 0; k < d->ndim; k++)
                if (zero[k] >= d->dims[k]) inside = false;
            if (inside) rc = chunks_add(h, cs, &ch, zero, maxc, path);
        }
    } else if (d->index == FERRY__H5_IDX_FARRAY) {
        rc = farray_chunks(h, d, path, cs, grid, maxc);
    } else {
        rc = unsupported(h, path, d->index == FERRY__H5_IDX_EARRAY
                                      ? "extensible-array chunk index (a dataset with one "
                                        "unlimited dimension in the latest file format)"
                                      : "v2 B-tree chunk index (a dataset with several "
                                        "unlimited dimensions in the latest file format)");
    }
    if (rc == 0 && cb <= UINT32_MAX) {
        cs->buf = ferry__malloc(h->ctx, (size_t)cb);
        if (!cs->buf) rc = h->ctx->err_code;
    }
    if (rc < 0) {
        if (!cs->buf) cs->cbytes = 0;
        ferry__h5_chunks_free(h, cs);
        return rc;
    }
    *out = cs;
    return FERRY_OK;
}

/* ============================================================================================
 * Filters
 * ========================================================================================== */

static int inflate_buf(ferry__h5 *h, const char *path, const uint8_t *in, uint64_t n,
                       uint8_t *out, uint64_t cap, uint64_t *outn)
{
    z_stream s;
    memset(&s, 0, sizeof s);
    if (inflateInit2(&s, 15 + 32) != Z_OK)
        return ferry__fail(h->ctx, FERRY_E_NOMEM, "zlib initialisation failed");
    s.next_in   = (Bytef *)(uintptr_t)in;
    s.avail_in  = (uInt)n;
    s.next_out  = out;
    s.avail_out = (uInt)cap;
    int zr = inflate(&s, Z_FINISH);
    *outn = s.total_out;
    inflateEnd(&s);
    if (zr != Z_STREAM_END)
        return ferry__fail_field(h->ctx, FERRY_E_CORRUPT, h->src, path,
                                 "deflate stream of a chunk is %s", zr == Z_BUF_ERROR
                                     ? "truncated or larger than the chunk" : "corrupt");
    return FERRY_OK;
}

/* LZF (h5py's filter 32000): raw liblzf blocks. A control byte below 32 starts a literal
 * run of ctrl + 1 bytes; otherwise it is a back reference of length (ctrl >> 5) + 2 (an
 * extra length byte when that field is 7) at distance ((ctrl & 31) << 8 | next byte) + 1.
 * Every read and write is checked against its buffer. */
static int unlzf(ferry__h5 *h, const char *path, const uint8_t *in, uint64_t n, uint8_t *out,
                 uint64_t cap, uint64_t *outn)
{
    uint64_t i = 0, o = 0;
    while (i < n) {
        unsigned ctrl = in[i++];
        if (ctrl < 32) {
            uint64_t len = ctrl + 1u;
            if (len > n - i || len > cap - o) goto bad;
            memcpy(out + o, in + i, (size_t)len);
            i += len;
            o += len;
            continue;
        }
        uint64_t len = ctrl >> 5;
        if (len == 7) {
            if (i >= n) goto bad;
            len += in[i++];
        }
        len += 2;
        if (i >= n) goto bad;
        uint64_t dist = ((uint64_t)(ctrl & 31) << 8 | in[i++]) + 1;
        if (dist > o || len > cap - o) goto bad;
        for (uint64_t k = 0; k < len; k++, o++) out[o] = out[o - dist];
    }
    *outn = o;
    return FERRY_OK;
bad:
    return ferry__fail_field(h->ctx, FERRY_E_CORRUPT, h->src, path,
                             "LZF stream of a chunk is corrupt or larger than the chunk");
}

/* Decodes chunk k of cs into cs->buf (cbytes bytes). */
static int decode_chunk(ferry__h5 *h, const ferry__h5_dataset *d, const char *path,
                        ferry__h5_chunks *cs, size_t k)
{
    const h5_chunk *ch = &cs->c[k];
    uint64_t cap = cs->cbytes + 64 * (uint64_t)FERRY__H5_MAX_FILTERS;
    uint64_t bsz = ch->size > cap ? ch->size : cap;
    if (ch->size > 2 * cs->cbytes + 65536 && d->nfilters)
        return ferry__fail_field(h->ctx, FERRY_E_CORRUPT, h->src, path,
                                 "chunk stores %llu bytes for %llu decoded bytes",
                                 (unsigned long long)ch->size, (unsigned long long)cs->cbytes);
    if (!d->nfilters || ch->mask == ((1u << d->nfilters) - 1)) {
        if (ch->size < cs->cbytes)
            return ferry__fail_field(h->ctx, FERRY_E_CORRUPT, h->src, path,
                                     "unfiltered chunk of %llu bytes (expected %llu)",
                                     (unsigned long long)ch->size,
                                     (unsigned long long)cs->cbytes);
        FERRY_TRY(ferry_source_read(h->src, ch->addr, cs->buf, (size_t)cs->cbytes));
        cs->cur = (int64_t)k;
        return FERRY_OK;
    }
    uint8_t *a = ferry__malloc(h->ctx, (size_t)bsz), *b = ferry__malloc(h->ctx, (size_t)bsz);
    int rc = a && b ? FERRY_OK : h->ctx->err_code;
    uint64_t n = ch->size;
    if (rc == 0) rc = ferry_source_read(h->src, ch->addr, a, (size_t)n);
    for (int i = d->nfilters - 1; i >= 0 && rc == 0; i--) {
        if (ch->mask & (1u << i)) continue;
        const ferry__h5_filter *f = &d->filters[i];
        if (f->id == 1) {
            uint64_t on = 0;
            rc = inflate_buf(h, path, a, n, b, cap, &on);
            uint8_t *t = a;
            a = b;
            b = t;
            n = on;
        } else if (f->id == 32000) {
            uint64_t on = 0;
            rc = unlzf(h, path, a, n, b, cap, &on);
            uint8_t *t = a;
            a = b;
            b = t;
            n = on;
        } else if (f->id == 2) {
            uint64_t es = f->nvals >= 1 && f->vals[0] ? f->vals[0] : d->type.size;
            uint64_t cnt = n / es;
            /* An element size above the chunk's bytes (cnt 0) leaves the bytes as they are;
             * the loop must not then count to a file-chosen element size. */
            for (uint64_t j = 0; cnt && j < es; j++)
                for (uint64_t e = 0; e < cnt; e++) b[e * es + j] = a[j * cnt + e];
            memcpy(b + cnt * es, a + cnt * es, (size_t)(n - cnt * es));
            uint8_t *t = a;
            a = b;
            b = t;
        } else if (f->id == 3) {
            if (n < 4) {
                rc = bad_field(h, path, "fletcher32 chunk");
                break;
            }
            uint32_t want = ferry__rd32le(a + n - 4), got = fletcher32(a, (size_t)(n - 4));
            uint32_t swapped = (got >> 24) | ((got >> 8) & 0xff00) | ((got << 8) & 0xff0000) |
                               (got << 24);
            if (want != got && want != swapped)
                rc = ferry__fail_field(h->ctx, FERRY_E_CORRUPT, h->src, path,
                                       "Fletcher-32 checksum mismatch in the chunk at offset "
                                       "%llu", (unsigned long long)ch->addr);
            n -= 4;
        } else {
            char what[96];
            snprintf(what, sizeof what, "filter %u (%s)", f->id,
                     f->id == 4 ? "szip" : f->id == 5 ? "nbit" : f->id == 6 ? "scaleoffset"
                     : f->id == 32001 ? "blosc"
                     : f->id == 32004 ? "lz4" : f->id == 32008 ? "bitshuffle"
                     : f->id == 32015 ? "zstd" : "unknown");
            rc = unsupported(h, path, what);
        }
    }
    if (rc == 0 && n != cs->cbytes)
        rc = ferry__fail_field(h->ctx, FERRY_E_CORRUPT, h->src, path,
                               "chunk decodes to %llu bytes (expected %llu)",
                               (unsigned long long)n, (unsigned long long)cs->cbytes);
    if (rc == 0) {
        memcpy(cs->buf, a, (size_t)n);
        cs->cur = (int64_t)k;
    } else {
        cs->cur = -1;
    }
    if (a) ferry__free(h->ctx, a, (size_t)bsz);
    if (b) ferry__free(h->ctx, b, (size_t)bsz);
    return rc;
}

/* ============================================================================================
 * Reading elements
 * ========================================================================================== */

static int fill_elems(ferry__h5 *h, const ferry__h5_dataset *d, uint64_t n, uint8_t *dst)
{
    size_t E = d->type.size;
    if (!d->fill_len) {
        memset(dst, 0, (size_t)(n * E));
        return FERRY_OK;
    }
    if (n == 0) return FERRY_OK;
    FERRY_TRY(ferry_source_read(h->src, d->fill_off, dst, E));
    for (uint64_t i = 1; i < n; i++) memcpy(dst + i * E, dst, E);
    return FERRY_OK;
}

int ferry__h5_read_elems(ferry__h5 *h, const ferry__h5_dataset *d, const char *path,
                         ferry__h5_chunks **cache, uint64_t first, uint64_t n, uint8_t *dst)
{
    const uint64_t E = d->type.size;
    if (n == 0) return FERRY_OK;
    if (d->layout != FERRY__H5_CHUNKED) {
        if (d->data_off == UINT64_MAX) return fill_elems(h, d, n, dst);
        return ferry_source_read(h->src, d->data_off + first * E, dst, (size_t)(n * E));
    }
    if (!*cache) FERRY_TRY(build_chunks(h, d, path, cache));
    ferry__h5_chunks *cs = *cache;
    FERRY_TRY(fill_elems(h, d, n, dst));
    const int32_t nd = d->ndim;
    uint64_t stride[FERRY__H5_MAX_RANK], cstride[FERRY__H5_MAX_RANK];
    uint64_t ext[FERRY__H5_MAX_RANK], idx[FERRY__H5_MAX_RANK];
    uint64_t s = 1, cst = 1;
    for (int32_t i = nd - 1; i >= 0; i--) {
        stride[i]  = s;
        cstride[i] = cst;
        s *= d->dims[i];
        cst *= d->chunk[i];
    }
    const uint64_t last = first + n;
    for (size_t k = 0; k < cs->n; k++) {
        const uint64_t *o = cs->offs + k * (size_t)(nd ? nd : 1);
        uint64_t lo = 0, hi = 0;
        for (int32_t i = 0; i < nd; i++) {
            ext[i] = d->dims[i] - o[i] < d->chunk[i] ? d->dims[i] - o[i] : d->chunk[i];
            lo += o[i] * stride[i];
            hi += (o[i] + ext[i] - 1) * stride[i];
        }
        if (hi < first || lo >= last) continue;
        if (cs->cur != (int64_t)k) FERRY_TRY(decode_chunk(h, d, path, cs, k));
        /* Rows along the innermost axis; idx counts over the outer axes of the chunk. */
        memset(idx, 0, sizeof idx);
        const uint64_t rowlen = nd ? ext[nd - 1] : 1;
        for (;;) {
            uint64_t ds = 0, cp = 0;
            for (int32_t i = 0; i < nd; i++) {
                ds += (o[i] + idx[i]) * stride[i];
                cp += idx[i] * cstride[i];
            }
            uint64_t a = ds > first ? ds : first, b = ds + rowlen < last ? ds + rowlen : last;
            if (a < b)
                memcpy(dst + (a - first) * E, cs->buf + (cp + (a - ds)) * E,
                       (size_t)((b - a) * E));
            int32_t ax = nd - 2;
            for (; ax >= 0; ax--) {
                if (++idx[ax] < ext[ax]) break;
                idx[ax] = 0;
            }
            if (ax < 0) break;
        }
    }
    return FERRY_OK;
}

/* ============================================================================================
 * Group walk
 * ========================================================================================== */

/* Marks an object header address as visited; false if it already was. */
static int seen_add(ferry__h5 *h, uint64_t addr, bool *fresh)
{
    if (h->seen_n * 2 >= h->seen_cap) {
        size_t nc = h->seen_cap ? h->seen_cap * 2 : 64;
        uint64_t *ns = ferry__calloc(h->ctx, nc, sizeof *ns);
        if (!ns) return h->ctx->err_code;
        for (size_t i = 0; i < h->seen_cap; i++) {
            uint64_t v = h->seen[i];
            if (!v) continue;
            size_t j = (size_t)(v * 0x9E3779B97F4A7C15ull >> 7) & (nc - 1);
            while (ns[j]) j = (j + 1) & (nc - 1);
            ns[j] = v;
        }
        if (h->seen) ferry__free(h->ctx, h->seen, h->seen_cap * sizeof *h->seen);
        h->seen     = ns;
        h->seen_cap = nc;
    }
    uint64_t v = addr + 1;
    size_t j = (size_t)(v * 0x9E3779B97F4A7C15ull >> 7) & (h->seen_cap - 1);
    while (h->seen[j]) {
        if (h->seen[j] == v) {
            *fresh = false;
            return FERRY_OK;
        }
        j = (j + 1) & (h->seen_cap - 1);
    }
    h->seen[j] = v;
    h->seen_n++;
    *fresh = true;
    return FERRY_OK;
}

typedef struct h5_link {
    char    *name;     /* ferry__malloc'd */
    size_t   name_len;
    uint64_t addr;
    int      kind;     /* 0 hard, 1 soft, 2 external */
    char    *target;   /* soft / external: ferry__malloc'd text */
    size_t   target_len;
} h5_link;

typedef struct h5_links {
    h5_link *v;
    size_t   n, cap;
} h5_links;

static void links_free(ferry__h5 *h, h5_links *l)
{
    for (size_t i = 0; i < l->n; i++) {
        ferry__free(h->ctx, l->v[i].name, l->v[i].name_len + 1);
        if (l->v[i].target) ferry__free(h->ctx, l->v[i].target, l->v[i].target_len + 1);
    }
    if (l->v) ferry__free(h->ctx, l->v, l->cap * sizeof *l->v);
    memset(l, 0, sizeof *l);
}

static int links_add(ferry__h5 *h, h5_links *l, const char *name, size_t nl, uint64_t addr,
                     int kind, const char *target, size_t tl)
{
    if (l->n >= h->ctx->limits.tensor_count)
        return ferry__fail(h->ctx, FERRY_E_LIMIT, "%s: a group has more links than the tensor "
                           "limit", ferry_source_name(h->src));
    if (l->n == l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 16;
        h5_link *nv = ferry__realloc(h->ctx, l->v, l->cap * sizeof *nv, nc * sizeof *nv);
        if (!nv) return h->ctx->err_code;
        l->v   = nv;
        l->cap = nc;
    }
    h5_link *k = &l->v[l->n];
    memset(k, 0, sizeof *k);
    k->name = ferry__strndup(h->ctx, name, nl);
    if (!k->name) return h->ctx->err_code;
    k->name_len = nl;
    k->addr     = addr;
    k->kind     = kind;
    l->n++;
    if (target) {
        k->target = ferry__strndup(h->ctx, target, tl);
        if (!k->target) return h->ctx->err_code;
        k->target_len = tl;
    }
    return FERRY_OK;
}

/* Old-style group: symbol table message -> v1 B-tree (type 0) of SNOD nodes + local heap. */
static int symtab_links(ferry__h5 *h, const h5_msg *m, const char *path, h5_links *out)
{
    cur c = c_make(m->p, m->len);
    uint64_t bt = c_uint(&c, h->so), hp = c_uint(&c, h->so);
    if (c.bad) return bad_field(h, path, "symbol table message");
    uint8_t hh[32];
    uint64_t abs;
    size_t hl = 8 + 2 * h->sl + h->so;
    FERRY_TRY(h5_abs(h, hp, hl, "local heap", path, &abs));
    FERRY_TRY(ferry_source_read(h->src, abs, hh, hl));
    if (memcmp(hh, "HEAP", 4) != 0)
        return ferry__fail_at(h->ctx, FERRY_E_CORRUPT, h->src, abs,
                              "local heap without HEAP signature (group \"%s\")",
                              *path ? path : "/");
    cur hc = c_make(hh + 8, hl - 8);
    uint64_t dsz = c_uint(&hc, h->sl);
    c_uint(&hc, h->sl);
    uint64_t daddr = c_uint(&hc, h->so);
    uint8_t *heap;
    FERRY_TRY(h5_load(h, daddr, dsz, "local heap data", path, &heap));
    size_t cap = 32, n = 0;
    bt_item *st = ferry__malloc(h->ctx, cap * sizeof *st);
    int rc = st ? FERRY_OK : h->ctx->err_code;
    uint64_t visits = 0, max_visits = h->size / 24 + 1;
    if (st) st[n++] = (bt_item){bt, -1};
    const size_t ent = 2 * h->so + 24;
    while (n && rc == 0) {
        bt_item it = st[--n];
        if (++visits > max_visits) {
            rc = bad_field(h, path, "group B-tree (too many nodes)");
            break;
        }
        uint8_t hd[24];
        size_t hdl = 8 + 2 * h->so;
        if ((rc = h5_abs(h, it.addr, hdl, "group B-tree node", path, &abs)) < 0) break;
        if ((rc = ferry_source_read(h->src, abs, hd, hdl)) < 0) break;
        if (memcmp(hd, "TREE", 4) != 0 || hd[4] != 0) {
            rc = ferry__fail_at(h->ctx, FERRY_E_CORRUPT, h->src, abs,
                                "group B-tree node without TREE signature / type 0 (group "
                                "\"%s\")", *path ? path : "/");
            break;
        }
        int level = hd[5];
        unsigned used = ferry__rd16le(hd + 6);
        if ((it.level >= 0 && level != it.level) || level > H5_MAX_BTREE_LVL) {
            rc = ferry__fail_at(h->ctx, FERRY_E_CORRUPT, h->src, abs,
                                "group B-tree node at level %d where level %d was expected",
                                level, it.level);
            break;
        }
        uint64_t body = (uint64_t)used * (h->sl + h->so) + h->sl;
        uint8_t *b;
        if ((rc = h5_load(h, it.addr + hdl, body, "group B-tree node", path, &b)) < 0) break;
        cur bc = c_make(b, (size_t)body);
        /* Children are pushed in reverse so they pop in key (name) order. */
        uint64_t kids[1024];
        unsigned nk = 0;
        for (unsigned e = 0; e < used; e++) {
            c_uint(&bc, h->sl);
            uint64_t child = c_uint(&bc, h->so);
            if (bc.bad) break;
            if (nk < FERRY_ARRAY_LEN(kids)) kids[nk++] = child;
        }
        h5_unload(h, b, body);
        if (bc.bad || nk < used) {
            rc = bad_field(h, path, "group B-tree node");
            break;
        }
        if (level > 0) {
            for (unsigned e = nk; e-- > 0 && rc == 0;) {
                if (n == cap) {
                    bt_item *ns = ferry__realloc(h->ctx, st, cap * sizeof *st,
                                                 cap * 2 * sizeof *st);
                    if (!ns) {
                        rc = h->ctx->err_code;
                        break;
                    }
                    st = ns;
                    cap *= 2;
                }
                st[n++] = (bt_item){kids[e], level - 1};
            }
            continue;
        }
        for (unsigned e = 0; e < nk && rc == 0; e++) {
            uint8_t sh[8];
            if ((rc = h5_abs(h, kids[e], 8, "symbol table node", path, &abs)) < 0) break;
            if ((rc = ferry_source_read(h->src, abs, sh, 8)) < 0) break;
            if (memcmp(sh, "SNOD", 4) != 0) {
                rc = ferry__fail_at(h->ctx, FERRY_E_CORRUPT, h->src, abs,
                                    "symbol table node without SNOD signature (group \"%s\")",
                                    *path ? path : "/");
                break;
            }
            unsigned ns = ferry__rd16le(sh + 6);
            uint8_t *sb;
            uint64_t sl = (uint64_t)ns * ent;
            if ((rc = h5_load(h, kids[e] + 8, sl, "symbol table node", path, &sb)) < 0) break;
            cur sc = c_make(sb, (size_t)sl);
            for (unsigned i = 0; i < ns && rc == 0; i++) {
                uint64_t no = c_uint(&sc, h->so), oa = c_uint(&sc, h->so);
                uint32_t ct = c_u32(&sc);
                c_u32(&sc);
                const uint8_t *scratch = c_take(&sc, 16);
                if (sc.bad || no >= dsz) {
                    rc = bad_field(h, path, "symbol table entry");
                    break;
                }
                const char *nm = (const char *)heap + no;
                const char *z = memchr(nm, 0, (size_t)(dsz - no));
                if (!z) {
                    rc = bad_field(h, path, "link name in the local heap");
                    break;
                }
                if (ct == 2) {
                    uint32_t lo = ferry__rd32le(scratch);
                    const char *tz = lo < dsz ? memchr(heap + lo, 0, (size_t)(dsz - lo)) : NULL;
                    if (!tz) {
                        rc = bad_field(h, path, "soft link value");
                        break;
                    }
                    rc = links_add(h, out, nm, (size_t)(z - nm), 0, 1, (const char *)heap + lo,
                                   (size_t)(tz - ((const char *)heap + lo)));
                } else {
                    rc = links_add(h, out, nm, (size_t)(z - nm), oa, 0, NULL, 0);
                }
            }
            h5_unload(h, sb, sl);
        }
    }
    if (st) ferry__free(h->ctx, st, cap * sizeof *st);
    h5_unload(h, heap, dsz);
    return rc;
}

static int link_msg(ferry__h5 *h, const h5_msg *m, const char *path, h5_links *out)
{
    cur c = c_make(m->p, m->len);
    uint8_t ver = c_u8(&c), fl = c_u8(&c), lt = 0;
    if (ver != 1 && !c.bad)
        return ferry__fail_field(h->ctx, FERRY_E_UNSUPPORTED, h->src, *path ? path : "/",
                                 "link message version %u", ver);
    if (fl & 0x08) lt = c_u8(&c);
    if (fl & 0x04) c_take(&c, 8);
    if (fl & 0x10) c_u8(&c);
    uint64_t nl = c_uint(&c, 1u << (fl & 3));
    const char *nm = (const char *)c_take(&c, nl);
    if (c.bad) return bad_field(h, path, "link message");
    if (lt == 0) {
        uint64_t a = c_uint(&c, h->so);
        if (c.bad) return bad_field(h, path, "link message");
        return links_add(h, out, nm, (size_t)nl, a, 0, NULL, 0);
    }
    uint16_t tl = c_u16(&c);
    const char *tg = (const char *)c_take(&c, tl);
    if (c.bad) return bad_field(h, path, "link message");
    if (lt == 1) return links_add(h, out, nm, (size_t)nl, 0, 1, tg, tl);
    if (lt == 64 && tl >= 1) {
        /* flags byte, then "file\0object\0": shown as file:object */
        char buf[512];
        size_t k = 0;
        for (size_t i = 1; i < tl && k + 1 < sizeof buf; i++) buf[k++] = tg[i] ? tg[i] : ':';
        while (k && buf[k - 1] == ':') k--;
        return links_add(h, out, nm, (size_t)nl, 0, 2, buf, k);
    }
    return links_add(h, out, nm, (size_t)nl, 0, 3, "", 0);
}

static int cmp_links(const void *a, const void *b)
{
    const h5_link *x = a, *y = b;
    return strcmp(x->name, y->name);
}

/* ============================================================================================
 * Dense storage: fractal heap (III.G) + v2 B-tree (III.A.2) of links and attributes
 * ========================================================================================== */

#define H5_MAX_FH_DEPTH 16
#define H5_MAX_BT2_DEPTH 16

typedef struct h5_fheap {
    uint64_t addr;        /* relative address of the header */
    uint16_t id_len;
    uint8_t  flags;
    uint16_t width;
    uint64_t start, maxd; /* starting block size, maximum direct block size */
    uint16_t cur_rows;
    uint64_t root;
    unsigned off_size, len_size;
    unsigned max_drows;   /* rows of direct blocks in an indirect block */
    unsigned log_start;
} h5_fheap;

static unsigned log2_floor(uint64_t v)
{
    unsigned r = 0;
    while (v >>= 1) r++;
    return r;
}

static bool pow2(uint64_t v) { return v && !(v & (v - 1)); }

static int fheap_open(ferry__h5 *h, uint64_t addr, const char *path, h5_fheap *fh)
{
    const unsigned so = h->so, sl = h->sl;
    uint64_t hl = 4 + 1 + 2 + 2 + 1 + 4 + sl + so + sl + so + 8 * (uint64_t)sl + 2 + sl + sl +
                  2 + 2 + so + 2 + 4;
    uint8_t *b;
    FERRY_TRY(h5_load(h, addr, hl, "fractal heap header", path, &b));
    cur c = c_make(b, (size_t)hl);
    bool sig = memcmp(b, "FRHP", 4) == 0;
    c_take(&c, 5);
    memset(fh, 0, sizeof *fh);
    fh->addr   = addr;
    fh->id_len = c_u16(&c);
    uint16_t filt = c_u16(&c);
    fh->flags = c_u8(&c);
    uint32_t max_man = c_u32(&c);
    c_take(&c, sl + so + sl + so + 8 * (size_t)sl);
    fh->width = c_u16(&c);
    fh->start = c_uint(&c, sl);
    fh->maxd  = c_uint(&c, sl);
    uint16_t max_bits = c_u16(&c);
    c_u16(&c);
    fh->root     = c_uint(&c, so);
    fh->cur_rows = c_u16(&c);
    bool ck = !c.bad && !filt && lookup3(b, c.pos) == ferry__rd32le(b + c.pos);
    h5_unload(h, b, hl);
    if (!sig || c.bad)
        return ferry__fail_field(h->ctx, FERRY_E_CORRUPT, h->src, *path ? path : "/",
                                 "fractal heap header: bad signature or truncated");
    if (filt) return unsupported(h, path, "filtered fractal heap (dense storage)");
    if (!ck)
        return ferry__fail_field(h->ctx, FERRY_E_CORRUPT, h->src, *path ? path : "/",
                                 "fractal heap header checksum mismatch");
    if (!fh->width || !pow2(fh->width) || !pow2(fh->start) || !pow2(fh->maxd) ||
        fh->maxd < fh->start || max_bits < 8 || max_bits > 64 || fh->id_len < 2 ||
        fh->id_len > 64 || !max_man || fh->cur_rows > 64)
        return ferry__fail_field(h->ctx, FERRY_E_CORRUPT, h->src, *path ? path : "/",
                                 "fractal heap header: inconsistent table parameters");
    fh->off_size  = (max_bits + 7u) / 8u;
    unsigned dsz  = (log2_floor(fh->maxd) + 7u) / 8u, msz = log2_floor(max_man) / 8u + 1u;
    fh->len_size  = dsz < msz ? dsz : msz;
    fh->log_start = log2_floor(fh->start);
    fh->max_drows = log2_floor(fh->maxd) - fh->log_start + 2;
    if (1 + fh->off_size + fh->len_size > fh->id_len)
        return ferry__fail_field(h->ctx, FERRY_E_CORRUPT, h->src, *path ? path : "/",
                                 "fractal heap ID of %u bytes is too short", fh->id_len);
    return FERRY_OK;
}

/* Block size and offset of row r of a doubling table. */
static uint64_t row_size(const h5_fheap *fh, unsigned r)
{
    return r < 2 ? fh->start : fh->start << (r - 1);
}

static uint64_t row_start(const h5_fheap *fh, unsigned r)
{
    return r == 0 ? 0 : (uint64_t)fh->width * fh->start << (r - 1);
}

/* Copies the managed object `id` refers to into a ferry__malloc'd buffer. */
static int fheap_get(ferry__h5 *h, const h5_fheap *fh, const uint8_t *id, const char *path,
                     uint8_t **out, uint64_t *outlen)
{
    *out = NULL;
    unsigned type = id[0] >> 4 & 3;
    if ((id[0] >> 6) != 0)
        return ferry__fail_field(h->ctx, FERRY_E_CORRUPT, h->src, *path ? path : "/",
                                 "fractal heap ID version %u", id[0] >> 6);
    if (type == 2) {
        uint64_t n = (id[0] & 15u) + 1u;
        if (n > (uint64_t)fh->id_len - 1) return bad_field(h, path, "tiny heap object");
        *out = ferry__malloc(h->ctx, (size_t)n);
        if (!*out) return h->ctx->err_code;
        memcpy(*out, id + 1, (size_t)n);
        *outlen = n;
        return FERRY_OK;
    }
    if (type != 0) return unsupported(h, path, "huge object in a fractal heap");
    cur c = c_make(id + 1, fh->id_len - 1u);
    uint64_t off = c_uint(&c, fh->off_size), len = c_uint(&c, fh->len_size);
    uint64_t baddr = fh->root, boff = 0, bsize = fh->start;
    unsigned rows = fh->cur_rows;
    if (undef_addr(h, baddr)) return bad_field(h, path, "fractal heap without a root block");
    for (int depth = 0; rows; depth++) {
        if (depth > H5_MAX_FH_DEPTH) return bad_field(h, path, "fractal heap (too deep)");
        uint64_t rel = off - boff;
        if (off < boff) return bad_field(h, path, "fractal heap ID");
        unsigned r = 0;
        while (r + 1 < rows && r + 1 < 64 && row_start(fh, r + 1) <= rel) r++;
        uint64_t col = (rel - row_start(fh, r)) / row_size(fh, r);
        if (col >= fh->width) return bad_field(h, path, "fractal heap ID (offset)");
        unsigned ndrows = rows < fh->max_drows ? rows : fh->max_drows;
        uint64_t idx = r < fh->max_drows ? (uint64_t)r * fh->width + col
                                         : (uint64_t)ndrows * fh->width +
                                               (uint64_t)(r - fh->max_drows) * fh->width + col;
        uint64_t epos = 4 + 1 + h->so + fh->off_size + idx * h->so;
        uint8_t e[8];
        uint64_t abs;
        FERRY_TRY(h5_abs(h, baddr, epos + h->so, "fractal heap indirect block", path, &abs));
        uint8_t sig[4];
        FERRY_TRY(ferry_source_read(h->src, abs, sig, 4));
        if (memcmp(sig, "FHIB", 4) != 0)
            return ferry__fail_at(h->ctx, FERRY_E_CORRUPT, h->src, abs,
                                  "fractal heap indirect block without FHIB signature");
        FERRY_TRY(ferry_source_read(h->src, abs + epos, e, h->so));
        cur ec = c_make(e, h->so);
        baddr = c_uint(&ec, h->so);
        boff += row_start(fh, r) + col * row_size(fh, r);
        bsize = row_size(fh, r);
        if (undef_addr(h, baddr)) return bad_field(h, path, "fractal heap ID (no block)");
        if (r < fh->max_drows) break;
        rows = log2_floor(bsize) - log2_floor(fh->start * fh->width) + 1;
    }
    uint64_t hdr = 4 + 1 + h->so + fh->off_size + ((fh->flags & 2) ? 4 : 0);
    uint64_t pos = off - boff;
    if (off < boff || pos < hdr || len > bsize || pos > bsize - len)
        return ferry__fail_field(h->ctx, FERRY_E_CORRUPT, h->src, *path ? path : "/",
                                 "fractal heap object (offset %llu, %llu bytes) leaves its "
                                 "block", (unsigned long long)off, (unsigned long long)len);
    uint8_t sig[4];
    uint64_t abs;
    FERRY_TRY(h5_abs(h, baddr, pos + len, "fractal heap direct block", path, &abs));
    FERRY_TRY(ferry_source_read(h->src, abs, sig, 4));
    if (memcmp(sig, "FHDB", 4) != 0)
        return ferry__fail_at(h->ctx, FERRY_E_CORRUPT, h->src, abs,
                              "fractal heap direct block without FHDB signature");
    FERRY_TRY(h5_load(h, baddr + pos, len, "fractal heap object", path, out));
    *outlen = len;
    return FERRY_OK;
}

typedef int (*bt2_fn)(ferry__h5 *h, void *ud, const uint8_t *rec, size_t rlen);

typedef struct bt2_item {
    uint64_t addr, nrec;
    int      depth;
} bt2_item;

/* Calls fn for every record of the v2 B-tree at addr (in no particular order). */
static int btree2_walk(ferry__h5 *h, uint64_t addr, const char *path, bt2_fn fn, void *ud)
{
    const unsigned so = h->so, sl = h->sl;
    uint64_t hl = 4 + 1 + 1 + 4 + 2 + 2 + 1 + 1 + so + 2 + sl + 4;
    uint8_t *b;
    FERRY_TRY(h5_load(h, addr, hl, "v2 B-tree header", path, &b));
    cur c = c_make(b, (size_t)hl);
    bool sig = memcmp(b, "BTHD", 4) == 0;
    c_take(&c, 6);
    uint32_t nsize = c_u32(&c);
    uint16_t rsize = c_u16(&c), depth = c_u16(&c);
    c_take(&c, 2);
    uint64_t root = c_uint(&c, so);
    uint16_t rnrec = c_u16(&c);
    c_uint(&c, sl);
    bool ck = !c.bad && lookup3(b, c.pos) == ferry__rd32le(b + c.pos);
    h5_unload(h, b, hl);
    if (!sig || !ck)
        return ferry__fail_field(h->ctx, FERRY_E_CORRUPT, h->src, *path ? path : "/",
                                 "v2 B-tree header: bad signature or checksum");
    if (nsize < 16 || nsize > (1u << 20) || rsize == 0 || depth > H5_MAX_BT2_DEPTH)
        return ferry__fail_field(h->ctx, FERRY_E_CORRUPT, h->src, *path ? path : "/",
                                 "v2 B-tree header: node size %u, record size %u, depth %u",
                                 nsize, rsize, depth);
    if (undef_addr(h, root) || rnrec == 0) return FERRY_OK;
    /* Widths of the child record counts, as libhdf5 derives them from the node size. */
    uint64_t max_nrec[H5_MAX_BT2_DEPTH + 1], cum[H5_MAX_BT2_DEPTH + 1];
    unsigned nrec_size, cum_size[H5_MAX_BT2_DEPTH + 1];
    max_nrec[0] = (nsize - 10u) / rsize;
    cum[0]      = max_nrec[0];
    if (max_nrec[0] == 0) return bad_field(h, path, "v2 B-tree header");
    nrec_size   = log2_floor(max_nrec[0]) / 8 + 1;
    cum_size[0] = nrec_size;
    for (unsigned d = 1; d <= depth; d++) {
        uint64_t ptr = so + nrec_size + (d > 1 ? cum_size[d - 1] : 0);
        if (nsize < 10 + ptr) return bad_field(h, path, "v2 B-tree header");
        max_nrec[d] = (nsize - 10 - ptr) / (rsize + ptr);
        if (ferry__mul_overflow(max_nrec[d] + 1, cum[d - 1], &cum[d]) ||
            ferry__add_overflow(cum[d], max_nrec[d], &cum[d]))
            return bad_field(h, path, "v2 B-tree header");
        cum_size[d] = log2_floor(cum[d]) / 8 + 1;
    }
    size_t cap = 32, n = 0;
    bt2_item *st = ferry__malloc(h->ctx, cap * sizeof *st);
    if (!st) return h->ctx->err_code;
    st[n++] = (bt2_item){root, rnrec, depth};
    uint64_t visits = 0, max_visits = h->size / 16 + 1;
    int rc = FERRY_OK;
    while (n && rc == 0) {
        bt2_item it = st[--n];
        if (++visits > max_visits || it.nrec > max_nrec[it.depth]) {
            rc = bad_field(h, path, "v2 B-tree node");
            break;
        }
        uint64_t ptr = it.depth ? so + nrec_size + (it.depth > 1 ? cum_size[it.depth - 1] : 0)
                                : 0;
        uint64_t used = 6 + it.nrec * rsize + (it.depth ? (it.nrec + 1) * ptr : 0);
        if (used + 4 > nsize) {
            rc = bad_field(h, path, "v2 B-tree node");
            break;
        }
        if ((rc = h5_load(h, it.addr, used + 4, "v2 B-tree node", path, &b)) < 0) break;
        if (memcmp(b, it.depth ? "BTIN" : "BTLF", 4) != 0 ||
            lookup3(b, (size_t)used) != ferry__rd32le(b + used)) {
            h5_unload(h, b, used + 4);
            rc = ferry__fail_field(h->ctx, FERRY_E_CORRUPT, h->src, *path ? path : "/",
                                   "v2 B-tree node: bad signature or checksum");
            break;
        }
        for (uint64_t i = 0; i < it.nrec && rc == 0; i++)
            rc = fn(h, ud, b + 6 + i * rsize, rsize);
        cur pc = c_make(b + 6 + it.nrec * rsize, (size_t)(it.depth ? (it.nrec + 1) * ptr : 0));
        for (uint64_t i = 0; it.depth && i <= it.nrec && rc == 0; i++) {
            uint64_t ca = c_uint(&pc, so), cn = c_uint(&pc, nrec_size);
            if (it.depth > 1) c_uint(&pc, cum_size[it.depth - 1]);
            if (pc.bad) {
                rc = bad_field(h, path, "v2 B-tree node");
                break;
            }
            if (n == cap) {
                bt2_item *ns = ferry__realloc(h->ctx, st, cap * sizeof *st,
                                              cap * 2 * sizeof *st);
                if (!ns) {
                    rc = h->ctx->err_code;
                    break;
                }
                st = ns;
                cap *= 2;
            }
            st[n++] = (bt2_item){ca, cn, it.depth - 1};
        }
        h5_unload(h, b, used + 4);
    }
    ferry__free(h->ctx, st, cap * sizeof *st);
    return rc;
}

typedef struct dense_ctx {
    const h5_fheap          *fh;
    const char              *path;
    h5_links                *links;
    const ferry__h5_visitor *v;
} dense_ctx;

static int dense_link_rec(ferry__h5 *h, void *ud, const uint8_t *rec, size_t rlen)
{
    dense_ctx *d = ud;
    if (rlen < 4u + d->fh->id_len) return bad_field(h, d->path, "link name index record");
    uint8_t *obj;
    uint64_t len;
    FERRY_TRY(fheap_get(h, d->fh, rec + 4, d->path, &obj, &len));
    h5_msg m = {0x06, 0, obj, (uint32_t)len, 0};
    int rc = len > UINT16_MAX ? bad_field(h, d->path, "dense link") :
                                link_msg(h, &m, d->path, d->links);
    h5_unload(h, obj, len);
    return rc;
}

/* Links of a group in dense storage: the name index v2 B-tree over the fractal heap. */
static int dense_links(ferry__h5 *h, uint64_t fheap, uint64_t bt, const char *path,
                       h5_links *out)
{
    h5_fheap fh;
    FERRY_TRY(fheap_open(h, fheap, path, &fh));
    dense_ctx d = {&fh, path, out, NULL};
    return btree2_walk(h, bt, path, dense_link_rec, &d);
}

typedef struct walk_item {
    uint64_t addr;
    char    *path;
    size_t   path_len;
    int      depth;
} walk_item;

static char *join_path(ferry__h5 *h, const char *dir, size_t dl, const char *name, size_t nl,
                       size_t *len)
{
    size_t n = dl + (dl ? 1 : 0) + nl;
    if (n > h->ctx->limits.string_length) {
        ferry__fail(h->ctx, FERRY_E_LIMIT, "%s: object path longer than the string limit",
                    ferry_source_name(h->src));
        return NULL;
    }
    char *p = ferry__malloc(h->ctx, n + 1);
    if (!p) return NULL;
    memcpy(p, dir, dl);
    if (dl) p[dl] = '/';
    memcpy(p + dl + (dl ? 1 : 0), name, nl);
    p[n] = 0;
    *len = n;
    return p;
}

static int note(ferry__h5 *h, const ferry__h5_visitor *v, const char *path, const char *fmt,
                const char *arg)
{
    (void)h;
    if (!v->note) return FERRY_OK;
    char buf[1024];
    snprintf(buf, sizeof buf, fmt, arg);
    return v->note(v->ud, path, buf);
}

/* Parses one attribute message body and hands it to the visitor. */
static int attr_one(ferry__h5 *h, const uint8_t *p, size_t len, uint64_t off, const char *path,
                    const ferry__h5_visitor *v)
{
    cur c = c_make(p, len);
    uint8_t ver = c_u8(&c), fl = c_u8(&c);
    uint16_t nl = c_u16(&c), tl = c_u16(&c), sl = c_u16(&c);
    if (ver == 3) c_u8(&c);
    if (ver < 1 || ver > 3) {
        if (c.bad) return bad_field(h, path, "attribute message");
        return ferry__fail_field(h->ctx, FERRY_E_UNSUPPORTED, h->src, *path ? path : "/",
                                 "attribute message version %u", ver);
    }
    bool pad = ver == 1;
    const uint8_t *np = c_take(&c, pad ? ferry__align_up(nl, 8) : nl);
    const uint8_t *tp = c_take(&c, pad ? ferry__align_up(tl, 8) : tl);
    const uint8_t *sp = c_take(&c, pad ? ferry__align_up(sl, 8) : sl);
    if (c.bad || nl == 0) return bad_field(h, path, "attribute message");
    ferry__h5_attr a;
    memset(&a, 0, sizeof a);
    a.name     = (const char *)np;
    a.name_len = strnlen(a.name, nl);
    if (ver > 1 && (fl & 3)) {
        char nm[256];
        snprintf(nm, sizeof nm, "%.*s", (int)(a.name_len < 200 ? a.name_len : 200), a.name);
        return note(h, v, path, "attribute \"%s\" uses a shared datatype or dataspace: "
                    "not read", nm);
    }
    FERRY_TRY(parse_type(h, tp, tl, path, &a.type));
    uint64_t dims[FERRY__H5_MAX_RANK], md[FERRY__H5_MAX_RANK];
    FERRY_TRY(parse_space(h, sp, sl, path, &a.ndim, dims, md, &a.nelems));
    uint64_t need;
    if (ferry__mul_overflow(a.nelems, a.type.size, &need) || need > c_left(&c))
        return ferry__fail_at(h->ctx, FERRY_E_CORRUPT, h->src, off,
                              "attribute data (%llu elements of %u bytes) leaves its "
                              "message (object \"%s\")", (unsigned long long)a.nelems,
                              (unsigned)a.type.size, *path ? path : "/");
    a.data = c.p + c.pos;
    return v->attribute(v->ud, path, &a);
}

static int dense_attr_rec(ferry__h5 *h, void *ud, const uint8_t *rec, size_t rlen)
{
    dense_ctx *d = ud;
    if (rlen < d->fh->id_len) return bad_field(h, d->path, "attribute name index record");
    uint8_t *obj;
    uint64_t len;
    FERRY_TRY(fheap_get(h, d->fh, rec, d->path, &obj, &len));
    int rc = attr_one(h, obj, (size_t)len, 0, d->path, d->v);
    h5_unload(h, obj, len);
    return rc;
}

static int visit_attrs(ferry__h5 *h, const h5_oh *oh, const char *path,
                       const ferry__h5_visitor *v)
{
    if (!v->attribute) return FERRY_OK;
    for (size_t i = 0; i < oh->n; i++) {
        const h5_msg *m = &oh->m[i];
        if (m->type == 0x15) {
            /* Attribute info: dense attributes in a fractal heap + name index v2 B-tree. */
            cur c = c_make(m->p, m->len);
            c_u8(&c);
            uint8_t fl = c_u8(&c);
            if (fl & 1) c_u16(&c);
            uint64_t fa = c_uint(&c, h->so), bt = c_uint(&c, h->so);
            if (c.bad) return bad_field(h, path, "attribute info message");
            if (undef_addr(h, fa)) continue;
            h5_fheap fh;
            FERRY_TRY(fheap_open(h, fa, path, &fh));
            dense_ctx d = {&fh, path, NULL, v};
            FERRY_TRY(btree2_walk(h, bt, path, dense_attr_rec, &d));
            continue;
        }
        if (m->type == 0x0C) FERRY_TRY(attr_one(h, m->p, m->len, m->off, path, v));
    }
    return FERRY_OK;
}

static int describe_dataset(ferry__h5 *h, const h5_oh *oh, uint64_t addr, const char *path,
                            const ferry__h5_visitor *v)
{
    ferry__h5_dataset *d = ferry__calloc(h->ctx, 1, sizeof *d);
    if (!d) return h->ctx->err_code;
    int rc = FERRY_OK;
    const h5_msg *ms = oh_find(oh, 0x01), *mt = oh_find(oh, 0x03), *ml = oh_find(oh, 0x08);
    const h5_msg *mf = oh_find(oh, 0x05), *mp = oh_find(oh, 0x0B);
    if (!mf) mf = oh_find(oh, 0x04);
    d->header_addr = addr;
    d->data_off    = UINT64_MAX;
    uint64_t ne = 0;
    if (!ms || !mt)
        rc = ferry__fail_field(h->ctx, FERRY_E_CORRUPT, h->src, path,
                               "dataset without dataspace or datatype message");
    else if (mt->flags & 2)
        rc = unsupported(h, path, "committed (shared) datatype of a dataset");
    else if (ms->flags & 2)
        rc = unsupported(h, path, "shared dataspace of a dataset");
    if (rc == 0) rc = parse_space(h, ms->p, ms->len, path, &d->ndim, d->dims, d->maxdims, &ne);
    if (rc == 0) rc = parse_type(h, mt->p, mt->len, path, &d->type);
    if (rc == 0) rc = parse_layout(h, ml, path, d);
    if (rc == 0 && mp) rc = parse_filters(h, mp, path, d);
    if (rc == 0 && mf) rc = parse_fill(h, mf, path, d);
    if (rc == 0 && d->ndim < 0) d->ndim = 0, ne = 0;
    if (rc == 0 && oh_find(oh, 0x07))
        rc = note(h, v, path, "external storage (data in another file): not followed%s", "");
    if (rc == 0 && d->layout == FERRY__H5_VIRTUAL)
        rc = note(h, v, path, "virtual dataset (data in other datasets/files): not followed%s",
                  "");
    if (rc == 0 && (d->layout == FERRY__H5_COMPACT || d->layout == FERRY__H5_CONTIGUOUS) &&
        !oh_find(oh, 0x07) && d->type.size) {
        uint64_t need;
        if (ferry__mul_overflow(ne, d->type.size, &need) ||
            (d->data_off != UINT64_MAX && need > d->data_size))
            rc = ferry__fail_field(h->ctx, FERRY_E_CORRUPT, h->src, path,
                                   "dataset needs %llu x %u bytes but stores %llu",
                                   (unsigned long long)ne, (unsigned)d->type.size,
                                   (unsigned long long)d->data_size);
    }
    if (rc == 0 && d->layout == FERRY__H5_CHUNKED && d->nfilters == 0 &&
        d->index == FERRY__H5_IDX_SINGLE)
        d->single_size = 0;
    if (rc == 0 && oh_find(oh, 0x07)) d->data_off = UINT64_MAX, d->layout = FERRY__H5_VIRTUAL;
    if (rc == 0 && v->dataset) rc = v->dataset(v->ud, path, d);
    ferry__free(h->ctx, d, sizeof *d);
    return rc;
}

int ferry__h5_walk(ferry__h5 *h, const ferry__h5_visitor *v)
{
    size_t cap = 16, n = 0;
    walk_item *st = ferry__malloc(h->ctx, cap * sizeof *st);
    if (!st) return h->ctx->err_code;
    int rc = FERRY_OK;
    char *rp = ferry__strndup(h->ctx, "", 0);
    if (!rp) rc = h->ctx->err_code;
    else st[n++] = (walk_item){h->root, rp, 0, 0};
    bool fresh;
    if (rc == 0) rc = seen_add(h, h->root, &fresh);
    while (n && rc == 0) {
        walk_item it = st[--n];
        h5_oh oh;
        h5_links links = {0};
        /* Marked when visited (not when found), so the first path in depth-first name order
         * wins, as in h5py's visititems. */
        if (it.depth > 0) {
            rc = seen_add(h, it.addr, &fresh);
            if (rc == 0 && !fresh) {
                rc = note(h, v, it.path, "%shard link to an object already listed under "
                          "another path: not visited again", "");
                ferry__free(h->ctx, it.path, it.path_len + 1);
                continue;
            }
            if (rc < 0) {
                ferry__free(h->ctx, it.path, it.path_len + 1);
                break;
            }
        }
        rc = oh_read(h, it.addr, it.path, &oh);
        if (rc == 0) rc = visit_attrs(h, &oh, it.path, v);
        const h5_msg *li = rc == 0 ? oh_find(&oh, 0x02) : NULL;
        if (rc == 0 && oh_find(&oh, 0x08)) {
            rc = describe_dataset(h, &oh, it.addr, it.path, v);
        } else if (rc == 0) {
            const h5_msg *stm = oh_find(&oh, 0x11);
            if (stm) rc = symtab_links(h, stm, it.path, &links);
            if (li && rc == 0) {
                cur c = c_make(li->p, li->len);
                c_u8(&c);
                uint8_t fl = c_u8(&c);
                if (fl & 1) c_take(&c, 8);
                uint64_t fh = c_uint(&c, h->so), bt = c_uint(&c, h->so);
                if (c.bad) rc = bad_field(h, it.path, "link info message");
                else if (!undef_addr(h, fh)) rc = dense_links(h, fh, bt, it.path, &links);
            }
            for (size_t i = 0; i < oh.n && rc == 0; i++)
                if (oh.m[i].type == 0x06) rc = link_msg(h, &oh.m[i], it.path, &links);
        }
        if (rc == 0 && links.n > 1) qsort(links.v, links.n, sizeof *links.v, cmp_links);
        /* Push in reverse so children pop in name order (as h5py's visititems lists them). */
        for (size_t i = links.n; i-- > 0 && rc == 0;) {
            h5_link *k = &links.v[i];
            size_t pl;
            char *cp = join_path(h, it.path, it.path_len, k->name, k->name_len, &pl);
            if (!cp) {
                rc = h->ctx->err_code;
                break;
            }
            if (k->kind != 0) {
                char buf[600];
                snprintf(buf, sizeof buf, "%s link to \"%.500s\": not followed",
                         k->kind == 1 ? "soft" : k->kind == 2 ? "external" : "user-defined",
                         k->target ? k->target : "");
                if (v->note) rc = v->note(v->ud, cp, buf);
                ferry__free(h->ctx, cp, pl + 1);
                continue;
            }
            if (rc == 0 && it.depth + 1 > H5_MAX_DEPTH)
                rc = ferry__fail_field(h->ctx, FERRY_E_LIMIT, h->src, cp,
                                       "groups nested deeper than %d", H5_MAX_DEPTH);
            if (rc == 0 && n == cap) {
                walk_item *ns = ferry__realloc(h->ctx, st, cap * sizeof *st,
                                               cap * 2 * sizeof *st);
                if (!ns) rc = h->ctx->err_code;
                else st = ns, cap *= 2;
            }
            if (rc < 0) {
                ferry__free(h->ctx, cp, pl + 1);
                break;
            }
            st[n++] = (walk_item){k->addr, cp, pl, it.depth + 1};
        }
        links_free(h, &links);
        oh_free(h, &oh);
        ferry__free(h->ctx, it.path, it.path_len + 1);
    }
    while (n) {
        n--;
        ferry__free(h->ctx, st[n].path, st[n].path_len + 1);
    }
    ferry__free(h->ctx, st, cap * sizeof *st);
    return rc;
}
