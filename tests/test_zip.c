/*
 * test_zip.c -- the shared ZIP reader/writer (src/parse/zip.c).
 *
 * A tiny archive builder below writes zips byte by byte (local headers, data, central
 * directory, ZIP64 records, end record) with knobs for every field, so the corruption
 * matrix can break one rule at a time: for every rejection rule there is an input that must
 * fail with the right status and a message naming the file and the offset, and the
 * boundary input that must still open. Then: anomalies (duplicates, name mismatch, unsafe
 * paths, symlinks, overlaps, encryption), bounded inflate (bombs refused before
 * allocating), CRC policies, the non-allocating walker, the streaming writer (stored,
 * deflated, aligned, ZIP64, 70000 entries) read back by the reader, and every zip in the
 * shared corpus.
 */
#include "internal.h"
#include "parse/zip.h"
#include "t.h"

#include <dirent.h>
#include <zlib.h>

/* ============================================================================================
 * Helpers: a growable byte buffer and a zip builder
 * ========================================================================================== */

typedef struct buf {
    uint8_t *p;
    size_t   n;
    size_t   cap;
} buf;

static void put(buf *b, const void *d, size_t n)
{
    if (b->n + n > b->cap) {
        size_t nc = b->cap ? b->cap : 256;
        while (nc < b->n + n) nc *= 2;
        b->p   = realloc(b->p, nc);
        b->cap = nc;
    }
    if (n) memcpy(b->p + b->n, d, n);
    b->n += n;
}
static void put16(buf *b, uint32_t v)
{
    uint8_t x[2] = {(uint8_t)v, (uint8_t)(v >> 8)};
    put(b, x, 2);
}
static void put32(buf *b, uint32_t v)
{
    uint8_t x[4];
    ferry__wr32le(x, v);
    put(b, x, 4);
}
static void put64(buf *b, uint64_t v)
{
    uint8_t x[8];
    ferry__wr64le(x, v);
    put(b, x, 8);
}

/* Raw deflate of d (as zip method 8 stores it). */
static buf deflate_raw(const void *d, size_t n)
{
    buf out = {0};
    z_stream s;
    memset(&s, 0, sizeof s);
    deflateInit2(&s, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY);
    size_t cap = deflateBound(&s, (uLong)n) + 16;
    out.p = malloc(cap);
    out.cap = cap;
    s.next_in = (Bytef *)(uintptr_t)d;
    s.avail_in = (uInt)n;
    s.next_out = out.p;
    s.avail_out = (uInt)cap;
    deflate(&s, Z_FINISH);
    out.n = cap - s.avail_out;
    deflateEnd(&s);
    return out;
}

typedef struct zspec {
    const char *name;
    const char *cd_name;     /* directory name if different from the local one */
    const void *data;        /* uncompressed bytes */
    size_t      len;
    int         method;      /* 0 / 8 / other (stored bytes, method field set) */
    uint16_t    flags;
    bool        zip64;       /* sizes and offset via ZIP64 extras (local and CD) */
    bool        bad_crc;
    int64_t     usize_over;  /* if >= 0: CD uncompressed size */
    int64_t     csize_over;  /* if >= 0: CD compressed size */
    int64_t     lho_over;    /* if >= 0: CD local header offset */
    uint32_t    ext_attr;
    uint16_t    made_by;
} zspec;

typedef struct zbuilt {
    buf      b;
    size_t   local[8];
    size_t   data[8];
    size_t   cd[8];
    size_t   cd_start;
    size_t   z64;           /* ZIP64 end record (0 if none) */
    size_t   eocd;
} zbuilt;

/* Builds a zip of n entries; zip64_end adds ZIP64 end records; prefix bytes come first. */
static zbuilt build(const zspec *e, int n, bool zip64_end, size_t prefix, const char *comment)
{
    zbuilt z;
    memset(&z, 0, sizeof z);
    for (size_t i = 0; i < prefix; i++) put(&z.b, "X", 1);
    buf comp[8];
    for (int i = 0; i < n; i++) {
        comp[i] = (e[i].method == 8) ? deflate_raw(e[i].data, e[i].len) : (buf){0};
        if (e[i].method != 8) put(&comp[i], e[i].data, e[i].len);
        uint32_t crc = (uint32_t)crc32(0, e[i].data, (uInt)e[i].len) ^ (e[i].bad_crc ? 1u : 0u);
        z.local[i] = z.b.n;
        put32(&z.b, 0x04034b50);
        put16(&z.b, 20);
        put16(&z.b, e[i].flags);
        put16(&z.b, (uint32_t)e[i].method);
        put16(&z.b, 0);
        put16(&z.b, 0x21);
        put32(&z.b, crc);
        put32(&z.b, e[i].zip64 ? 0xFFFFFFFFu : (uint32_t)comp[i].n);
        put32(&z.b, e[i].zip64 ? 0xFFFFFFFFu : (uint32_t)e[i].len);
        put16(&z.b, (uint32_t)strlen(e[i].name));
        put16(&z.b, e[i].zip64 ? 20 : 0);
        put(&z.b, e[i].name, strlen(e[i].name));
        if (e[i].zip64) {
            put16(&z.b, 1);
            put16(&z.b, 16);
            put64(&z.b, e[i].len);
            put64(&z.b, comp[i].n);
        }
        z.data[i] = z.b.n;
        put(&z.b, comp[i].p, comp[i].n);
    }
    z.cd_start = z.b.n;
    for (int i = 0; i < n; i++) {
        const char *nm = e[i].cd_name ? e[i].cd_name : e[i].name;
        uint32_t crc = (uint32_t)crc32(0, e[i].data, (uInt)e[i].len) ^ (e[i].bad_crc ? 1u : 0u);
        uint64_t us = e[i].usize_over >= 0 ? (uint64_t)e[i].usize_over : e[i].len;
        uint64_t cs = e[i].csize_over >= 0 ? (uint64_t)e[i].csize_over : comp[i].n;
        uint64_t lo = e[i].lho_over >= 0 ? (uint64_t)e[i].lho_over : z.local[i] - prefix;
        z.cd[i] = z.b.n;
        put32(&z.b, 0x02014b50);
        put16(&z.b, e[i].made_by ? e[i].made_by : 0x0314);
        put16(&z.b, 20);
        put16(&z.b, e[i].flags);
        put16(&z.b, (uint32_t)e[i].method);
        put16(&z.b, 0);
        put16(&z.b, 0x21);
        put32(&z.b, crc);
        put32(&z.b, e[i].zip64 ? 0xFFFFFFFFu : (uint32_t)cs);
        put32(&z.b, e[i].zip64 ? 0xFFFFFFFFu : (uint32_t)us);
        put16(&z.b, (uint32_t)strlen(nm));
        put16(&z.b, e[i].zip64 ? 28 : 0);
        put16(&z.b, 0);
        put16(&z.b, 0);
        put16(&z.b, 0);
        put32(&z.b, e[i].ext_attr);
        put32(&z.b, e[i].zip64 ? 0xFFFFFFFFu : (uint32_t)lo);
        put(&z.b, nm, strlen(nm));
        if (e[i].zip64) {
            put16(&z.b, 1);
            put16(&z.b, 24);
            put64(&z.b, us);
            put64(&z.b, cs);
            put64(&z.b, lo);
        }
        free(comp[i].p);
    }
    size_t cd_size = z.b.n - z.cd_start;
    if (zip64_end) {
        z.z64 = z.b.n;
        put32(&z.b, 0x06064b50);
        put64(&z.b, 44);
        put16(&z.b, 45);
        put16(&z.b, 45);
        put32(&z.b, 0);
        put32(&z.b, 0);
        put64(&z.b, (uint64_t)n);
        put64(&z.b, (uint64_t)n);
        put64(&z.b, cd_size);
        put64(&z.b, z.cd_start - prefix);
        put32(&z.b, 0x07064b50);
        put32(&z.b, 0);
        put64(&z.b, z.z64 - prefix);
        put32(&z.b, 1);
    }
    z.eocd = z.b.n;
    size_t cl = comment ? strlen(comment) : 0;
    put32(&z.b, 0x06054b50);
    put16(&z.b, 0);
    put16(&z.b, 0);
    put16(&z.b, zip64_end ? 0xFFFF : (uint32_t)n);
    put16(&z.b, zip64_end ? 0xFFFF : (uint32_t)n);
    put32(&z.b, zip64_end ? 0xFFFFFFFFu : (uint32_t)cd_size);
    put32(&z.b, zip64_end ? 0xFFFFFFFFu : (uint32_t)(z.cd_start - prefix));
    put16(&z.b, (uint32_t)cl);
    if (cl) put(&z.b, comment, cl);
    return z;
}

static zspec spec(const char *name, const char *data, int method)
{
    zspec s;
    memset(&s, 0, sizeof s);
    s.name = name;
    s.data = data;
    s.len = strlen(data);
    s.method = method;
    s.usize_over = s.csize_over = s.lho_over = -1;
    return s;
}

/* The standard two-entry archive: stored "a.txt", deflated "b.txt". */
static zbuilt basic(void)
{
    zspec e[2] = {spec("a.txt", "hello, zip", 0),
                  spec("b.txt", "deflated deflated deflated deflated deflated", 8)};
    return build(e, 2, false, 0, NULL);
}

static void patch16(zbuilt *z, size_t off, uint16_t v) { ferry__wr16le(z->b.p + off, v); }
static void patch32(zbuilt *z, size_t off, uint32_t v) { ferry__wr32le(z->b.p + off, v); }
static void patch64(zbuilt *z, size_t off, uint64_t v) { ferry__wr64le(z->b.p + off, v); }

/* Opens bytes as "t.zip"; returns the status; *zo gets the archive on success. */
static int open_bytes(ferry_ctx *ctx, const void *p, size_t n, const ferry__zip_opts *o,
                      ferry__zip **zo)
{
    ferry_source *s;
    if (ferry_source_from_memory(ctx, p, n, "t.zip", &s)) return -100;
    ferry__zip *z = NULL;
    int rc = ferry__zip_open(ctx, s, o, &z);
    ferry_source_close(s);
    if (zo) *zo = z;
    else ferry__zip_close(z);
    return rc;
}

/* Checks that opening fails with `code` and a message naming t.zip and `needle`. */
static void expect_open_fail(const char *what, const void *p, size_t n, int code,
                             const char *needle)
{
    ferry_ctx *ctx = ferry_ctx_new(NULL);
    int rc = open_bytes(ctx, p, n, NULL, NULL);
    const char *msg = ferry_ctx_error(ctx);
    CHECK_MSG(rc == code, "%s: rc %d, want %d (%s)", what, rc, code, msg);
    CHECK_MSG(strstr(msg, "t.zip") != NULL, "%s: message lacks the file: %s", what, msg);
    CHECK_MSG(strstr(msg, needle) != NULL, "%s: message lacks \"%s\": %s", what, needle, msg);
    CHECK_MSG(ctx->allocated == 0, "%s: leaked %llu bytes", what,
              (unsigned long long)ctx->allocated);
    ferry_ctx_free(ctx);
}

static void expect_open_ok(const char *what, const void *p, size_t n)
{
    ferry_ctx *ctx = ferry_ctx_new(NULL);
    int rc = open_bytes(ctx, p, n, NULL, NULL);
    CHECK_MSG(rc == 0, "%s: rc %d: %s", what, rc, ferry_ctx_error(ctx));
    ferry_ctx_free(ctx);
}

/* Reads entry i completely into a malloc'd buffer (NULL on failure, status in *rc). */
static uint8_t *read_entry(ferry__zip *z, int64_t i, size_t *len, int *rc)
{
    ferry_source *s;
    *rc = ferry__zip_entry_source(z, i, &s);
    if (*rc) return NULL;
    *len = (size_t)ferry_source_size(s);
    uint8_t *p = malloc(*len + 1);
    *rc = ferry_source_read(s, 0, p, *len);
    ferry_source_close(s);
    return p;
}

/* ============================================================================================
 * Positive vectors
 * ========================================================================================== */

TEST(basic_archive)
{
    zbuilt zb = basic();
    ferry_ctx *ctx = ferry_ctx_new(NULL);
    ferry__zip *z;
    CHECK_EQ_INT(open_bytes(ctx, zb.b.p, zb.b.n, NULL, &z), 0);
    CHECK_EQ_INT(ferry__zip_count(z), 2);
    const ferry__zip_entry *a = ferry__zip_entry_at(z, 0), *b = ferry__zip_entry_at(z, 1);
    CHECK_EQ_STR(a->name, "a.txt");
    CHECK_EQ_INT(a->method, 0);
    CHECK_EQ_INT(a->data_offset, zb.data[0]);
    CHECK_EQ_INT(b->method, 8);
    CHECK_EQ_INT(b->usize, strlen("deflated deflated deflated deflated deflated"));
    CHECK_EQ_INT(a->anomalies | b->anomalies, 0);
    CHECK_EQ_INT(ferry__zip_anomalies(z), 0);
    CHECK_EQ_INT(ferry__zip_find(z, "b.txt", 5), 1);
    CHECK_EQ_INT(ferry__zip_find(z, "c.txt", 5), -1);
    CHECK(ferry__zip_entry_at(z, 2) == NULL);
    size_t n;
    int rc;
    uint8_t *d = read_entry(z, 0, &n, &rc);
    CHECK(rc == 0 && n == 10 && memcmp(d, "hello, zip", 10) == 0);
    free(d);
    d = read_entry(z, 1, &n, &rc);
    CHECK(rc == 0 && n == 44 && memcmp(d, "deflated deflated", 17) == 0);
    free(d);
    /* Stored entries are zero-copy views of the archive. */
    ferry_source *s;
    CHECK_EQ_INT(ferry__zip_entry_source(z, 0, &s), 0);
    CHECK(ferry_source_map(s, 0, 10) == zb.b.p + zb.data[0]);
    ferry_source_close(s);
    char pre[8];
    CHECK_EQ_INT(ferry__zip_entry_prefix(z, 1, pre, 8), 0);
    CHECK(memcmp(pre, "deflated", 8) == 0);
    CHECK_EQ_INT(ferry__zip_entry_prefix(z, 1, pre, 0), 0);
    CHECK_EQ_INT(ferry__zip_entry_prefix(z, 0, pre, 5), 0);
    CHECK(memcmp(pre, "hello", 5) == 0);
    CHECK_EQ_INT(ferry__zip_check_crc(z, 0), 0);
    CHECK_EQ_INT(ferry__zip_check_crc(z, 1), 0);
    ferry__zip_close(z);
    CHECK_EQ_INT(ctx->allocated, 0);
    ferry_ctx_free(ctx);
    free(zb.b.p);
}

TEST(empty_and_comment)
{
    /* The smallest archive: an end record alone (22 bytes, the boundary of "too short"). */
    zbuilt zb = build(NULL, 0, false, 0, NULL);
    CHECK_EQ_INT(zb.b.n, 22);
    expect_open_ok("empty archive", zb.b.p, zb.b.n);
    expect_open_fail("21 bytes", zb.b.p + 1, 21, FERRY_E_CORRUPT, "offset 0");
    free(zb.b.p);
    /* A comment of the maximum length: the end record is still found. */
    char *comment = malloc(65536);
    memset(comment, 'c', 65535);
    comment[65535] = 0;
    zspec e[1] = {spec("a.txt", "x", 0)};
    zb = build(e, 1, false, 0, comment);
    expect_open_ok("65535-byte comment", zb.b.p, zb.b.n);
    /* Its end record cut by one byte: no end record within reach. */
    expect_open_fail("truncated end record", zb.b.p, zb.eocd + 21, FERRY_E_CORRUPT,
                     "no zip end of central directory");
    /* One byte of garbage after the maximal comment puts the record out of reach. */
    buf big = {0};
    put(&big, zb.b.p, zb.b.n);
    put(&big, "!", 1);
    expect_open_fail("end record beyond 64 KiB", big.p, big.n, FERRY_E_CORRUPT,
                     "no zip end of central directory");
    free(big.p);
    free(zb.b.p);
    free(comment);
}

TEST(prefix_data)
{
    zspec e[2] = {spec("a.txt", "hello", 0), spec("b.txt", "world world world", 8)};
    zbuilt zb = build(e, 2, false, 100, NULL);
    ferry_ctx *ctx = ferry_ctx_new(NULL);
    ferry__zip *z;
    CHECK_EQ_INT(open_bytes(ctx, zb.b.p, zb.b.n, NULL, &z), 0);
    CHECK_EQ_INT(ferry__zip_prefix(z), 100);
    CHECK(ferry__zip_anomalies(z) & FERRY__ZIP_Z_PREFIX);
    CHECK_EQ_INT(ferry__zip_entry_at(z, 1)->local_offset, zb.local[1]);
    size_t n;
    int rc;
    uint8_t *d = read_entry(z, 1, &n, &rc);
    CHECK(rc == 0 && n == 17 && memcmp(d, "world", 5) == 0);
    free(d);
    ferry__zip_close(z);
    ferry_ctx_free(ctx);
    free(zb.b.p);
}

TEST(zip64_records)
{
    zspec e[2] = {spec("a.txt", "sixty-four", 0), spec("b.txt", "bbbbbbbbbbbbbbbbbbbbbb", 8)};
    e[0].zip64 = e[1].zip64 = true;
    zbuilt zb = build(e, 2, true, 0, NULL);
    ferry_ctx *ctx = ferry_ctx_new(NULL);
    ferry__zip *z;
    CHECK_EQ_INT(open_bytes(ctx, zb.b.p, zb.b.n, NULL, &z), 0);
    CHECK(ferry__zip_anomalies(z) & FERRY__ZIP_Z_ZIP64);
    CHECK(!(ferry__zip_anomalies(z) & FERRY__ZIP_Z_EOCD_MISMATCH));
    CHECK_EQ_INT(ferry__zip_count(z), 2);
    CHECK_EQ_INT(ferry__zip_entry_at(z, 0)->usize, 10);
    CHECK_EQ_INT(ferry__zip_entry_at(z, 1)->local_offset, zb.local[1]);
    size_t n;
    int rc;
    uint8_t *d = read_entry(z, 1, &n, &rc);
    CHECK(rc == 0 && n == 22);
    free(d);
    ferry__zip_close(z);
    ferry_ctx_free(ctx);
    /* The 16-bit count disagreeing with the ZIP64 record is an anomaly, not an error. */
    patch16(&zb, zb.eocd + 10, 3);
    ctx = ferry_ctx_new(NULL);
    CHECK_EQ_INT(open_bytes(ctx, zb.b.p, zb.b.n, NULL, &z), 0);
    CHECK(ferry__zip_anomalies(z) & FERRY__ZIP_Z_EOCD_MISMATCH);
    ferry__zip_close(z);
    ferry_ctx_free(ctx);
    free(zb.b.p);
}

/* ============================================================================================
 * Corruption matrix: one rule at a time, each with its accepted boundary
 * ========================================================================================== */

TEST(matrix_end_records)
{
    zbuilt zb = basic();
    size_t cd_size = zb.eocd - zb.cd_start;
    zbuilt m = basic();

    /* Multi-disk: refused as unsupported. */
    patch16(&m, m.eocd + 4, 1);
    expect_open_fail("disk number", m.b.p, m.b.n, FERRY_E_UNSUPPORTED, "offset");
    memcpy(m.b.p, zb.b.p, zb.b.n);

    /* Directory size larger than the bytes before the end record. */
    patch32(&m, m.eocd + 12, (uint32_t)m.eocd + 1);
    expect_open_fail("cd size", m.b.p, m.b.n, FERRY_E_CORRUPT, "central directory size");
    memcpy(m.b.p, zb.b.p, zb.b.n);

    /* Directory offset past the directory's actual position ("CD offset out of range"). */
    patch32(&m, m.eocd + 16, (uint32_t)zb.cd_start + 1);
    expect_open_fail("cd offset", m.b.p, m.b.n, FERRY_E_CORRUPT, "directory offset");
    /* Boundary: the exact offset opens (a smaller one is a prefix, see prefix_data). */
    patch32(&m, m.eocd + 16, (uint32_t)zb.cd_start);
    expect_open_ok("cd offset exact", m.b.p, m.b.n);

    /* More entries than the directory can hold (46 bytes each). */
    patch16(&m, m.eocd + 8, (uint16_t)(cd_size / 46 + 1));
    patch16(&m, m.eocd + 10, (uint16_t)(cd_size / 46 + 1));
    expect_open_fail("count vs size", m.b.p, m.b.n, FERRY_E_CORRUPT, "cannot fit");
    memcpy(m.b.p, zb.b.p, zb.b.n);

    /* Fewer entries than the directory holds: fine (trailing directory bytes ignored). */
    patch16(&m, m.eocd + 8, 1);
    patch16(&m, m.eocd + 10, 1);
    expect_open_ok("count smaller", m.b.p, m.b.n);
    memcpy(m.b.p, zb.b.p, zb.b.n);

    /* Entry count over limits.tensor_count, and the boundary. */
    {
        ferry_ctx *ctx = ferry_ctx_new(NULL);
        ferry_limits lim = {.struct_size = sizeof lim, .tensor_count = 1};
        ferry_ctx_set_limits(ctx, &lim);
        int rc = open_bytes(ctx, m.b.p, m.b.n, NULL, NULL);
        CHECK_EQ_INT(rc, FERRY_E_LIMIT);
        CHECK(strstr(ferry_ctx_error(ctx), "tensor_count") != NULL);
        lim.tensor_count = 2;
        ferry_ctx_set_limits(ctx, &lim);
        CHECK_EQ_INT(open_bytes(ctx, m.b.p, m.b.n, NULL, NULL), 0);
        /* Directory larger than limits.header_bytes. */
        lim.header_bytes = cd_size - 1;
        ferry_ctx_set_limits(ctx, &lim);
        CHECK_EQ_INT(open_bytes(ctx, m.b.p, m.b.n, NULL, NULL), FERRY_E_LIMIT);
        CHECK(strstr(ferry_ctx_error(ctx), "header_bytes") != NULL);
        lim.header_bytes = cd_size;
        ferry_ctx_set_limits(ctx, &lim);
        CHECK_EQ_INT(open_bytes(ctx, m.b.p, m.b.n, NULL, NULL), 0);
        ferry_ctx_free(ctx);
    }
    free(m.b.p);
    free(zb.b.p);
}

TEST(matrix_zip64)
{
    zspec e[1] = {spec("a.txt", "zip64", 0)};
    e[0].zip64 = true;
    zbuilt zb = build(e, 1, true, 0, NULL);
    zbuilt m = build(e, 1, true, 0, NULL);
    /* The ZIP64 record's signature broken and the locator pointing nowhere. */
    patch32(&m, m.z64, 0x06064b51);
    patch64(&m, m.eocd - 20 + 8, 3);
    expect_open_fail("no zip64 record", m.b.p, m.b.n, FERRY_E_CORRUPT, "ZIP64 locator");
    /* Boundary: a wrong recorded offset is harmless while the record sits right before
     * the locator, where Python looks for it. */
    memcpy(m.b.p, zb.b.p, zb.b.n);
    patch64(&m, m.eocd - 20 + 8, 0);
    expect_open_ok("zip64 found before locator", m.b.p, m.b.n);
    memcpy(m.b.p, zb.b.p, zb.b.n);

    /* A record size below the 44 bytes of the fixed fields. */
    patch64(&m, m.z64 + 4, 43);
    expect_open_fail("zip64 record size", m.b.p, m.b.n, FERRY_E_CORRUPT, "ZIP64 end record");
    memcpy(m.b.p, zb.b.p, zb.b.n);

    /* A ZIP64 extra too short for the fields whose 32-bit value is the escape. */
    patch16(&m, m.cd[0] + 46 + 5 + 2, 8);
    expect_open_fail("zip64 extra short", m.b.p, m.b.n, FERRY_E_CORRUPT, "ZIP64 extra");
    memcpy(m.b.p, zb.b.p, zb.b.n);

    /* An extra record longer than the extra area. */
    patch16(&m, m.cd[0] + 46 + 5 + 2, 40);
    expect_open_fail("extra overrun", m.b.p, m.b.n, FERRY_E_CORRUPT, "extra field");
    memcpy(m.b.p, zb.b.p, zb.b.n);

    /* Spanned archive through the locator. */
    patch32(&m, m.eocd - 20 + 16, 2);
    expect_open_fail("zip64 disks", m.b.p, m.b.n, FERRY_E_UNSUPPORTED, "disks");
    free(m.b.p);
    free(zb.b.p);
}

TEST(matrix_entries)
{
    zbuilt zb = basic();
    zbuilt m = basic();

    /* A directory entry signature broken. */
    patch32(&m, m.cd[1], 0x02014b51);
    expect_open_fail("cd signature", m.b.p, m.b.n, FERRY_E_CORRUPT, "PK\\1\\2");
    memcpy(m.b.p, zb.b.p, zb.b.n);

    /* An entry's name running past the directory. */
    patch16(&m, m.cd[1] + 28, 200);
    expect_open_fail("cd name overrun", m.b.p, m.b.n, FERRY_E_CORRUPT, "runs past");
    memcpy(m.b.p, zb.b.p, zb.b.n);

    /* Local header offset out of range; boundary: the last valid offset. */
    patch32(&m, m.cd[1] + 42, (uint32_t)zb.cd_start);
    expect_open_fail("lho range", m.b.p, m.b.n, FERRY_E_CORRUPT, "local header offset");
    memcpy(m.b.p, zb.b.p, zb.b.n);

    /* Local header signature wrong ("local header mismatch"). */
    patch32(&m, m.local[1], 0x04034b51);
    expect_open_fail("local signature", m.b.p, m.b.n, FERRY_E_CORRUPT, "PK\\3\\4");
    memcpy(m.b.p, zb.b.p, zb.b.n);

    /* Local extra length running into the directory. */
    patch16(&m, m.local[1] + 28, 0xFFFF);
    expect_open_fail("local extra overrun", m.b.p, m.b.n, FERRY_E_CORRUPT,
                     "runs into the central directory");
    memcpy(m.b.p, zb.b.p, zb.b.n);

    /* Entry data past the start of the directory; boundary: ending exactly there. */
    uint32_t cs = (uint32_t)(zb.cd_start - zb.data[1]);
    patch32(&m, m.cd[1] + 20, cs + 1);
    expect_open_fail("data past end", m.b.p, m.b.n, FERRY_E_CORRUPT, "runs past the start");
    patch32(&m, m.cd[1] + 20, cs);
    expect_open_ok("data to the directory", m.b.p, m.b.n);
    free(m.b.p);
    free(zb.b.p);
}

TEST(matrix_contents)
{
    const char *text = "the quick brown fox jumps over the lazy dog, the quick brown fox";
    ferry_ctx *ctx = ferry_ctx_new(NULL);
    ferry__zip *z;
    size_t n;
    int rc;

    /* Unknown method: listed, reading refused as unsupported. */
    zspec e[1] = {spec("a.bin", text, 12)};
    zbuilt zb = build(e, 1, false, 0, NULL);
    CHECK_EQ_INT(open_bytes(ctx, zb.b.p, zb.b.n, NULL, &z), 0);
    CHECK(read_entry(z, 0, &n, &rc) == NULL && rc == FERRY_E_UNSUPPORTED);
    CHECK(strstr(ferry_ctx_error(ctx), "method 12") && strstr(ferry_ctx_error(ctx), "t.zip"));
    ferry__zip_close(z);
    free(zb.b.p);

    /* Stored with compressed size != uncompressed size. */
    e[0] = spec("a.bin", text, 0);
    e[0].usize_over = 3;
    zb = build(e, 1, false, 0, NULL);
    CHECK_EQ_INT(open_bytes(ctx, zb.b.p, zb.b.n, NULL, &z), 0);
    CHECK(read_entry(z, 0, &n, &rc) == NULL && rc == FERRY_E_CORRUPT);
    CHECK(strstr(ferry_ctx_error(ctx), "offset"));
    ferry__zip_close(z);
    free(zb.b.p);

    /* Deflated, declared one byte longer / shorter than the stream produces. */
    for (int d = -1; d <= 1; d += 2) {
        e[0] = spec("a.bin", text, 8);
        e[0].usize_over = (int64_t)strlen(text) + d;
        zb = build(e, 1, false, 0, NULL);
        CHECK_EQ_INT(open_bytes(ctx, zb.b.p, zb.b.n, NULL, &z), 0);
        CHECK(read_entry(z, 0, &n, &rc) == NULL && rc == FERRY_E_CORRUPT);
        CHECK(strstr(ferry_ctx_error(ctx), "inflates to"));
        ferry__zip_close(z);
        free(zb.b.p);
    }

    /* Truncated deflate stream: the compressed size cut short. */
    e[0] = spec("a.bin", text, 8);
    zb = build(e, 1, false, 0, NULL);
    uint32_t cs = ferry__rd32le(zb.b.p + zb.cd[0] + 20);
    patch32(&zb, zb.cd[0] + 20, cs - 3);
    CHECK_EQ_INT(open_bytes(ctx, zb.b.p, zb.b.n, NULL, &z), 0);
    CHECK(read_entry(z, 0, &n, &rc) == NULL && rc == FERRY_E_CORRUPT);
    CHECK(strstr(ferry_ctx_error(ctx), "truncated") != NULL);
    ferry__zip_close(z);
    /* Garbage deflate data. */
    patch32(&zb, zb.cd[0] + 20, cs);
    memset(zb.b.p + zb.data[0], 0xFF, cs);
    CHECK_EQ_INT(open_bytes(ctx, zb.b.p, zb.b.n, NULL, &z), 0);
    CHECK(read_entry(z, 0, &n, &rc) == NULL && rc == FERRY_E_CORRUPT);
    CHECK(strstr(ferry_ctx_error(ctx), "invalid deflate") != NULL);
    ferry__zip_close(z);
    free(zb.b.p);

    /* CRC mismatch: deflated refused by default, accepted with NO_CRC; stored accepted by
     * default and refused with CRC_STORED; check_crc reports both. */
    zspec c[2] = {spec("s.bin", text, 0), spec("d.bin", text, 8)};
    c[0].bad_crc = c[1].bad_crc = true;
    zb = build(c, 2, false, 0, NULL);
    CHECK_EQ_INT(open_bytes(ctx, zb.b.p, zb.b.n, NULL, &z), 0);
    uint8_t *p = read_entry(z, 0, &n, &rc);
    CHECK(p && rc == 0);
    free(p);
    CHECK(read_entry(z, 1, &n, &rc) == NULL && rc == FERRY_E_CORRUPT);
    CHECK(strstr(ferry_ctx_error(ctx), "CRC-32") != NULL);
    CHECK_EQ_INT(ferry__zip_check_crc(z, 0), FERRY_E_CORRUPT);
    CHECK_EQ_INT(ferry__zip_check_crc(z, 1), FERRY_E_CORRUPT);
    ferry__zip_close(z);
    ferry__zip_opts o = {FERRY__ZIP_NO_CRC, 0};
    CHECK_EQ_INT(open_bytes(ctx, zb.b.p, zb.b.n, &o, &z), 0);
    p = read_entry(z, 1, &n, &rc);
    CHECK(p && rc == 0 && n == strlen(text));
    free(p);
    ferry__zip_close(z);
    o.flags = FERRY__ZIP_CRC_STORED;
    CHECK_EQ_INT(open_bytes(ctx, zb.b.p, zb.b.n, &o, &z), 0);
    CHECK(read_entry(z, 0, &n, &rc) == NULL && rc == FERRY_E_CORRUPT);
    ferry__zip_close(z);
    free(zb.b.p);
    CHECK_EQ_INT(ctx->allocated, 0);
    ferry_ctx_free(ctx);
}

/* An allocator that records the largest single request. */
typedef struct track {
    size_t max;
} track;
static void *track_realloc(void *ud, void *p, size_t n)
{
    track *t = ud;
    if (n > t->max) t->max = n;
    return realloc(p, n);
}
static void track_free(void *ud, void *p)
{
    (void)ud;
    free(p);
}

TEST(bombs)
{
    /* 4 MiB of zeros deflates ~1000:1: accepted (below deflate's own maximum). */
    size_t big = (size_t)4 << 20;
    char *zeros = calloc(1, big);
    zspec e[1] = {spec("z.bin", "", 8)};
    e[0].data = zeros;
    e[0].len = big;
    zbuilt zb = build(e, 1, false, 0, NULL);
    ferry_ctx *ctx = ferry_ctx_new(NULL);
    ferry__zip *z;
    size_t n;
    int rc;
    CHECK_EQ_INT(open_bytes(ctx, zb.b.p, zb.b.n, NULL, &z), 0);
    uint8_t *p = read_entry(z, 0, &n, &rc);
    CHECK(p && rc == 0 && n == big);
    free(p);
    ferry__zip_close(z);
    ferry_ctx_free(ctx);

    /* The same stream declaring 1 TiB: refused before any large allocation. */
    patch32(&zb, zb.cd[0] + 24, 0xFFFFFFFFu); /* 4 GiB - 1 > 1032 x csize */
    track tr = {0};
    ferry_allocator al = {track_realloc, track_free, &tr};
    ctx = ferry_ctx_new(&al);
    CHECK_EQ_INT(open_bytes(ctx, zb.b.p, zb.b.n, NULL, &z), 0);
    tr.max = 0;
    CHECK(read_entry(z, 0, &n, &rc) == NULL && rc == FERRY_E_CORRUPT);
    CHECK(strstr(ferry_ctx_error(ctx), "zip bomb") != NULL);
    CHECK_MSG(tr.max < (1u << 20), "allocated %zu bytes before refusing", tr.max);
    ferry__zip_close(z);
    /* A plausible ratio but over total_alloc: a limit error, again before allocating. */
    patch32(&zb, zb.cd[0] + 24, (uint32_t)big);
    ferry_limits lim = {.struct_size = sizeof lim, .total_alloc = big / 2};
    ferry_ctx_set_limits(ctx, &lim);
    CHECK_EQ_INT(open_bytes(ctx, zb.b.p, zb.b.n, NULL, &z), 0);
    tr.max = 0;
    CHECK(read_entry(z, 0, &n, &rc) == NULL && rc == FERRY_E_LIMIT);
    CHECK(strstr(ferry_ctx_error(ctx), "total_alloc") != NULL);
    CHECK(tr.max < (1u << 20));
    /* The CRC check streams through a window: it works under the same limit. */
    CHECK_EQ_INT(ferry__zip_check_crc(z, 0), 0);
    ferry__zip_close(z);
    /* A lower ratio option refuses it. */
    lim.total_alloc = (uint64_t)1 << 30;
    ferry_ctx_set_limits(ctx, &lim);
    ferry__zip_opts o = {0, 100};
    CHECK_EQ_INT(open_bytes(ctx, zb.b.p, zb.b.n, &o, &z), 0);
    CHECK(read_entry(z, 0, &n, &rc) == NULL && rc == FERRY_E_CORRUPT);
    ferry__zip_close(z);
    ferry_ctx_free(ctx);
    free(zb.b.p);
    free(zeros);
}

/* ============================================================================================
 * Anomalies
 * ========================================================================================== */

TEST(anomalies)
{
    zspec e[7] = {spec("dup.txt", "first", 0),   spec("dup.txt", "second", 0),
                  spec("real.txt", "x", 0),      spec("../evil.txt", "y", 0),
                  spec("link", "target", 0),     spec("enc.bin", "secret", 0),
                  spec("over.txt", "zzz", 0)};
    e[2].cd_name = "fake.txt";                  /* local name differs (SECURITY C02) */
    e[4].made_by = 0x0314;
    e[4].ext_attr = 0120777u << 16;             /* symlink */
    e[5].flags = 1;                             /* encrypted (SECURITY C03) */
    zbuilt zb = build(e, 7, false, 0, NULL);
    /* Make the last entry point at the first entry's local header (overlap). */
    patch32(&zb, zb.cd[6] + 42, 0);
    patch32(&zb, zb.cd[6] + 20, 5);
    patch32(&zb, zb.cd[6] + 24, 5);
    ferry_ctx *ctx = ferry_ctx_new(NULL);
    ferry__zip *z;
    CHECK_EQ_INT(open_bytes(ctx, zb.b.p, zb.b.n, NULL, &z), 0);
    CHECK_EQ_INT(ferry__zip_count(z), 7);
    CHECK(!(ferry__zip_entry_at(z, 0)->anomalies & FERRY__ZIP_A_DUPLICATE));
    CHECK(ferry__zip_entry_at(z, 1)->anomalies & FERRY__ZIP_A_DUPLICATE);
    CHECK_EQ_INT(ferry__zip_find(z, "dup.txt", 7), 0); /* first wins, like PyTorch */
    CHECK(ferry__zip_entry_at(z, 2)->anomalies & FERRY__ZIP_A_NAME_MISMATCH);
    CHECK_EQ_STR(ferry__zip_entry_at(z, 2)->name, "fake.txt");
    CHECK(ferry__zip_entry_at(z, 3)->anomalies & FERRY__ZIP_A_UNSAFE_PATH);
    CHECK(ferry__zip_entry_at(z, 4)->anomalies & FERRY__ZIP_A_SYMLINK);
    CHECK(ferry__zip_entry_at(z, 5)->anomalies & FERRY__ZIP_A_ENCRYPTED);
    CHECK(ferry__zip_entry_at(z, 6)->anomalies & FERRY__ZIP_A_OVERLAP);
    CHECK(!(ferry__zip_entry_at(z, 0)->anomalies & FERRY__ZIP_A_OVERLAP));
    size_t n;
    int rc;
    uint8_t *p = read_entry(z, 1, &n, &rc);
    CHECK(p && n == 6 && memcmp(p, "second", 6) == 0);
    free(p);
    CHECK(read_entry(z, 5, &n, &rc) == NULL && rc == FERRY_E_UNSUPPORTED);
    CHECK(strstr(ferry_ctx_error(ctx), "encrypted") != NULL);
    ferry__zip_close(z);
    /* Loader emulation (miniz ignores the flags): the bytes are read. */
    ferry__zip_opts o = {FERRY__ZIP_IGNORE_FLAGS, 0};
    CHECK_EQ_INT(open_bytes(ctx, zb.b.p, zb.b.n, &o, &z), 0);
    p = read_entry(z, 5, &n, &rc);
    CHECK(p && rc == 0 && memcmp(p, "secret", 6) == 0);
    free(p);
    ferry__zip_close(z);
    ferry_ctx_free(ctx);
    free(zb.b.p);

    /* Unsafe names of every kind. */
    const char *bad[] = {"/abs", "a/../b", "..", "c:x", "a\\b"};
    for (size_t k = 0; k < FERRY_ARRAY_LEN(bad); k++) {
        zspec s[1] = {spec(bad[k], "q", 0)};
        zb = build(s, 1, false, 0, NULL);
        ctx = ferry_ctx_new(NULL);
        CHECK_EQ_INT(open_bytes(ctx, zb.b.p, zb.b.n, NULL, &z), 0);
        CHECK_MSG(ferry__zip_entry_at(z, 0)->anomalies & FERRY__ZIP_A_UNSAFE_PATH, "%s", bad[k]);
        ferry__zip_close(z);
        ferry_ctx_free(ctx);
        free(zb.b.p);
    }

    /* Two end records: the last one is used and the other flagged; a comment length that
     * stops short of the end of the file is flagged. */
    zbuilt a = basic();
    buf two = {0};
    put(&two, a.b.p, a.b.n);
    put(&two, a.b.p + a.eocd, 22); /* a second, later record (same contents, wrong place) */
    ctx = ferry_ctx_new(NULL);
    int r2 = open_bytes(ctx, two.p, two.n, NULL, &z);
    CHECK(r2 == 0 || r2 == FERRY_E_CORRUPT);
    if (r2 == 0) ferry__zip_close(z);
    free(two.p);
    two = (buf){0};
    put(&two, a.b.p, a.b.n);
    put(&two, "tail", 4);
    CHECK_EQ_INT(open_bytes(ctx, two.p, two.n, NULL, &z), 0);
    CHECK(ferry__zip_anomalies(z) & FERRY__ZIP_Z_COMMENT_LENGTH);
    ferry__zip_close(z);
    free(two.p);
    /* A prefix holding an (empty) end record: flagged as multiple. */
    two = (buf){0};
    put(&two, a.b.p + a.eocd, 22);
    put(&two, a.b.p, a.b.n);
    CHECK_EQ_INT(open_bytes(ctx, two.p, two.n, NULL, &z), 0);
    CHECK(ferry__zip_anomalies(z) & FERRY__ZIP_Z_MULTIPLE_EOCD);
    CHECK(ferry__zip_anomalies(z) & FERRY__ZIP_Z_PREFIX);
    ferry__zip_close(z);
    free(two.p);
    ferry_ctx_free(ctx);
    free(a.b.p);
}

/* ============================================================================================
 * Walker
 * ========================================================================================== */

typedef struct walk_acc {
    int  n;
    char names[8][FERRY__ZIP_WALK_NAME];
} walk_acc;

static int walk_cb(void *ud, const ferry__zip_walk_entry *e)
{
    walk_acc *w = ud;
    if (w->n < 8) memcpy(w->names[w->n], e->name, sizeof e->name);
    w->n++;
    return 0;
}

static int stop_cb(void *ud, const ferry__zip_walk_entry *e)
{
    (void)e;
    ((walk_acc *)ud)->n++;
    return 1;
}

TEST(walker)
{
    zbuilt zb = basic();
    track tr = {0};
    ferry_allocator al = {track_realloc, track_free, &tr};
    ferry_ctx *ctx = ferry_ctx_new(&al);
    ferry_source *s;
    ferry_source_from_memory(ctx, zb.b.p, zb.b.n, "t.zip", &s);
    uint64_t before = ctx->allocated;
    tr.max = 0;
    walk_acc w = {0};
    CHECK_EQ_INT(ferry__zip_walk(s, 100, walk_cb, &w), 2);
    CHECK_EQ_INT(w.n, 2);
    CHECK_EQ_STR(w.names[0], "a.txt");
    CHECK_EQ_STR(w.names[1], "b.txt");
    CHECK_EQ_INT(tr.max, 0);            /* no allocation at all */
    CHECK_EQ_INT(ctx->allocated, before);
    memset(&w, 0, sizeof w);
    CHECK_EQ_INT(ferry__zip_walk(s, 1, walk_cb, &w), 2);
    CHECK_EQ_INT(w.n, 1);
    memset(&w, 0, sizeof w);
    CHECK_EQ_INT(ferry__zip_walk(s, 100, stop_cb, &w), 2);
    CHECK_EQ_INT(w.n, 1);
    ferry_source_close(s);
    /* Not a zip: -1, and no error left on the context. */
    ferry_ctx_clear_error(ctx);
    static const char junk[64] = "this is not a zip archive at all";
    ferry_source_from_memory(ctx, junk, sizeof junk, "j", &s);
    CHECK_EQ_INT(ferry__zip_walk(s, 100, walk_cb, &w), -1);
    CHECK_EQ_INT(ferry_ctx_error_code(ctx), 0);
    ferry_source_close(s);
    ferry_source_from_memory(ctx, junk, 3, "j", &s);
    CHECK_EQ_INT(ferry__zip_walk(s, 100, walk_cb, &w), -1);
    ferry_source_close(s);
    /* A broken directory entry: -1. */
    patch32(&zb, zb.cd[1], 0);
    ferry_source_from_memory(ctx, zb.b.p, zb.b.n, "t.zip", &s);
    CHECK_EQ_INT(ferry__zip_walk(s, 100, walk_cb, &w), -1);
    ferry_source_close(s);
    ferry_ctx_free(ctx);
    free(zb.b.p);
}

/* ============================================================================================
 * Writer
 * ========================================================================================== */

static int write_zip(ferry_ctx *ctx, ferry_sink *sink, uint32_t flags, int n, int method,
                     uint32_t align)
{
    ferry__zip_writer *w;
    int rc = ferry__zip_writer_new(ctx, sink, flags, &w);
    for (int i = 0; i < n && rc == 0; i++) {
        char name[32], data[128];
        snprintf(name, sizeof name, "dir/m%d.bin", i);
        int len = snprintf(data, sizeof data, "entry %d %s", i,
                           i % 2 ? "padding padding padding padding" : "");
        rc = ferry__zip_writer_begin(w, name, strlen(name), method, (uint64_t)len, align);
        if (!rc) rc = ferry__zip_writer_write(w, data, (size_t)len);
        if (!rc) rc = ferry__zip_writer_end(w);
    }
    if (!rc) rc = ferry__zip_writer_finish(w);
    ferry__zip_writer_free(w);
    return rc;
}

static void check_written(ferry_ctx *ctx, ferry_sink *sink, int n, uint32_t align, bool z64)
{
    size_t len;
    const void *p = ferry_sink_memory(sink, &len);
    ferry__zip *z;
    int rc = open_bytes(ctx, p, len, NULL, &z);
    CHECK_MSG(rc == 0, "reopen: %s", ferry_ctx_error(ctx));
    if (rc) return;
    CHECK_EQ_INT(ferry__zip_count(z), n);
    CHECK_EQ_INT(!!(ferry__zip_anomalies(z) & FERRY__ZIP_Z_ZIP64), z64);
    for (int i = 0; i < n; i += (n > 100 ? 997 : 1)) {
        const ferry__zip_entry *e = ferry__zip_entry_at(z, i);
        char want[128];
        int wl = snprintf(want, sizeof want, "entry %d %s", i,
                          i % 2 ? "padding padding padding padding" : "");
        CHECK(e->flags & 8);
        CHECK_EQ_INT(e->anomalies, 0);
        if (align > 1) CHECK_EQ_INT(e->data_offset % align, 0);
        size_t k;
        uint8_t *d = read_entry(z, i, &k, &rc);
        CHECK(d && rc == 0 && k == (size_t)wl && memcmp(d, want, k) == 0);
        free(d);
        CHECK_EQ_INT(ferry__zip_check_crc(z, i), 0);
    }
    ferry__zip_close(z);
}

TEST(writer_roundtrip)
{
    struct {
        uint32_t flags;
        int      n;
        int      method;
        uint32_t align;
        bool     z64;
    } cases[] = {
        {0, 3, 0, 0, false},  {0, 3, 8, 0, false},    {0, 5, 0, 64, false},
        {0, 2, 0, 4096, false}, {FERRY__ZIP_W_FORCE_ZIP64, 3, 0, 64, true},
        {FERRY__ZIP_W_FORCE_ZIP64, 3, 8, 0, true}, {0, 0, 0, 0, false},
        {0, 70000, 0, 0, true}, /* more than 65535 entries: ZIP64 end records */
    };
    for (size_t c = 0; c < FERRY_ARRAY_LEN(cases); c++) {
        ferry_ctx *ctx = ferry_ctx_new(NULL);
        ferry_sink *sink;
        ferry_sink_open_memory(ctx, &sink);
        int rc = write_zip(ctx, sink, cases[c].flags, cases[c].n, cases[c].method,
                           cases[c].align);
        CHECK_MSG(rc == 0, "case %zu: %s", c, ferry_ctx_error(ctx));
        if (rc == 0) check_written(ctx, sink, cases[c].n, cases[c].align, cases[c].z64);
        ferry_sink_abort(sink);
        CHECK_MSG(ctx->allocated == 0, "case %zu leaked", c);
        ferry_ctx_free(ctx);
    }
}

TEST(writer_misuse)
{
    ferry_ctx *ctx = ferry_ctx_new(NULL);
    ferry_sink *sink;
    ferry_sink_open_memory(ctx, &sink);
    ferry__zip_writer *w;
    CHECK_EQ_INT(ferry__zip_writer_new(ctx, sink, 0, &w), 0);
    const char *bad[] = {"/abs", "../up", "a/../b", "c:\\x", "a\\b", ""};
    for (size_t k = 0; k < FERRY_ARRAY_LEN(bad); k++)
        CHECK_EQ_INT(ferry__zip_writer_begin(w, bad[k], strlen(bad[k]), 0, 1, 0), FERRY_E_ARG);
    CHECK_EQ_INT(ferry__zip_writer_begin(w, "a", 1, 8, 1, 64), FERRY_E_ARG); /* align+deflate */
    CHECK_EQ_INT(ferry__zip_writer_begin(w, "a", 1, 0, 1, 48), FERRY_E_ARG); /* not pow2 */
    CHECK_EQ_INT(ferry__zip_writer_begin(w, "a", 1, 3, 1, 0), FERRY_E_ARG);
    CHECK_EQ_INT(ferry__zip_writer_write(w, "x", 1), FERRY_E_ARG);           /* no entry */
    CHECK_EQ_INT(ferry__zip_writer_begin(w, "a", 1, 0, 2, 0), 0);
    CHECK_EQ_INT(ferry__zip_writer_begin(w, "b", 1, 0, 2, 0), FERRY_E_ARG);  /* still open */
    CHECK_EQ_INT(ferry__zip_writer_finish(w), FERRY_E_ARG);
    CHECK_EQ_INT(ferry__zip_writer_write(w, "x", 1), 0);
    CHECK_EQ_INT(ferry__zip_writer_end(w), FERRY_E_ARG);                      /* short */
    CHECK_EQ_INT(ferry__zip_writer_finish(w), FERRY_E_ARG);                   /* sticky */
    ferry__zip_writer_free(w);
    ferry_sink_abort(sink);
    ferry_sink_open_memory(ctx, &sink);
    CHECK_EQ_INT(ferry__zip_writer_new(ctx, sink, 0, &w), 0);
    CHECK_EQ_INT(ferry__zip_writer_begin(w, "a", 1, 8, 2, 0), 0);
    CHECK_EQ_INT(ferry__zip_writer_write(w, "xyz", 3), FERRY_E_ARG);         /* too long */
    ferry__zip_writer_free(w);                                                /* mid-entry */
    ferry_sink_abort(sink);
    CHECK_EQ_INT(ctx->allocated, 0);
    ferry_ctx_free(ctx);
}

/* ============================================================================================
 * Conformance: every zip in the shared corpus
 * ========================================================================================== */

static int corpus_files, corpus_entries;

static void corpus_walk(const char *dir, int depth)
{
    DIR *d = opendir(dir);
    if (!d || depth > 12) {
        if (d) closedir(d);
        return;
    }
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.') continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        struct stat st;
        if (stat(path, &st) != 0) continue;
        if (S_ISDIR(st.st_mode)) {
            corpus_walk(path, depth + 1);
            continue;
        }
        FILE *f = fopen(path, "rb");
        char head[2] = {0};
        size_t got = f ? fread(head, 1, 2, f) : 0;
        if (f) fclose(f);
        if (got != 2 || head[0] != 'P' || head[1] != 'K') continue;
        ferry_ctx *ctx = ferry_ctx_new(NULL);
        ferry_source *s;
        ferry__zip *z;
        CHECK(ferry_source_open_file(ctx, path, &s) == 0);
        int rc = ferry__zip_open(ctx, s, NULL, &z);
        ferry_source_close(s);
        CHECK_MSG(rc == 0, "%s: %s", path, ferry_ctx_error(ctx));
        if (rc == 0) {
            corpus_files++;
            for (int64_t i = 0; i < ferry__zip_count(z); i++) {
                const ferry__zip_entry *e = ferry__zip_entry_at(z, i);
                ferry_source *es;
                rc = ferry__zip_entry_source(z, i, &es);
                if (e->anomalies & (FERRY__ZIP_A_ENCRYPTED | FERRY__ZIP_A_PATCHED)) {
                    /* picklescan's flag-bit samples: refused by default. */
                    CHECK_EQ_INT(rc, FERRY_E_UNSUPPORTED);
                    continue;
                }
                CHECK_MSG(rc == 0, "%s: %s: %s", path, e->name, ferry_ctx_error(ctx));
                if (rc == 0) {
                    CHECK_EQ_INT(ferry_source_size(es), e->usize);
                    ferry_source_close(es);
                }
                CHECK_MSG(ferry__zip_check_crc(z, i) == 0, "%s: %s", path, ferry_ctx_error(ctx));
                corpus_entries++;
            }
            ferry__zip_close(z);
        }
        CHECK_MSG(ctx->allocated == 0, "%s leaked", path);
        ferry_ctx_free(ctx);
    }
    closedir(d);
}

TEST(corpus)
{
    const char *root = t_shared("corpus");
    if (!root) return;
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", root);
    corpus_walk(dir, 0);
    CHECK_MSG(corpus_files >= 10, "only %d zips found in the corpus", corpus_files);
    fprintf(stderr, "corpus: %d zips, %d entries read\n", corpus_files, corpus_entries);
}

int main(void)
{
    RUN(basic_archive);
    RUN(empty_and_comment);
    RUN(prefix_data);
    RUN(zip64_records);
    RUN(matrix_end_records);
    RUN(matrix_zip64);
    RUN(matrix_entries);
    RUN(matrix_contents);
    RUN(bombs);
    RUN(anomalies);
    RUN(walker);
    RUN(writer_roundtrip);
    RUN(writer_misuse);
    RUN(corpus);
    return t_finish("zip");
}
