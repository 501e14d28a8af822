/*
 * fuzz_zip.c -- libFuzzer harness for the shared ZIP reader and writer (src/parse/zip.c).
 *
 * The input is walked without allocation (the bid path), then opened twice: with the
 * default options and with the loader-emulation ones (flags ignored, stored CRCs checked).
 * Every entry is opened (stored: a view; deflated: bounded inflate), read completely,
 * prefix-read and CRC-checked. The readable entries are then written to a new archive with
 * the streaming writer (alternately stored with 64-byte alignment and deflated, ZIP64 forced
 * on every other input) and that archive must re-open with the same names and bytes. Any
 * violation aborts; nothing may leak.
 */
#include "internal.h"
#include "parse/zip.h"

#include <stdlib.h>

#define MAX_ENTRIES 256

static int count_cb(void *ud, const ferry__zip_walk_entry *e)
{
    (void)e;
    ++*(int *)ud;
    return 0;
}

/* Copies every readable entry of z into a new archive and checks it reads back the same. */
static void rewrite(ferry_ctx *ctx, ferry__zip *z, uint32_t wflags)
{
    ferry_sink *sink = NULL;
    ferry__zip_writer *w = NULL;
    ferry__zip *back = NULL;
    ferry_source *bs = NULL;
    int64_t idx[MAX_ENTRIES], n = 0;
    if (ferry_sink_open_memory(ctx, &sink) != 0) return;
    if (ferry__zip_writer_new(ctx, sink, wflags, &w) != 0) goto out;
    for (int64_t i = 0; i < ferry__zip_count(z) && n < MAX_ENTRIES; i++) {
        const ferry__zip_entry *e = ferry__zip_entry_at(z, i);
        if (e->anomalies & (FERRY__ZIP_A_DUPLICATE | FERRY__ZIP_A_UNSAFE_PATH)) continue;
        ferry_source *es;
        if (ferry__zip_entry_source(z, i, &es) != 0) continue;
        size_t len = (size_t)ferry_source_size(es);
        const void *p = ferry_source_map(es, 0, len);
        int method = (n % 2) ? 8 : 0;
        int rc = p ? ferry__zip_writer_begin(w, e->name, e->name_len, method, len,
                                             method ? 0 : 64)
                   : -1;
        if (rc == 0) rc = ferry__zip_writer_write(w, p, len);
        if (rc == 0) rc = ferry__zip_writer_end(w);
        ferry_source_close(es);
        if (rc != 0) goto out; /* e.g. a name with a NUL byte: refused up front */
        idx[n++] = i;
    }
    if (ferry__zip_writer_finish(w) != 0) abort();
    size_t blen;
    const void *b = ferry_sink_memory(sink, &blen);
    if (ferry_source_from_memory(ctx, b, blen, "rewritten.zip", &bs) != 0) goto out;
    if (ferry__zip_open(ctx, bs, NULL, &back) != 0) abort();
    if (ferry__zip_count(back) != n) abort();
    for (int64_t k = 0; k < n; k++) {
        const ferry__zip_entry *a = ferry__zip_entry_at(z, idx[k]);
        const ferry__zip_entry *c = ferry__zip_entry_at(back, k);
        if (a->name_len != c->name_len || memcmp(a->name, c->name, a->name_len) != 0) abort();
        if (c->anomalies != 0 || (c->method == 0 && c->data_offset % 64 != 0)) abort();
        ferry_source *x, *y;
        if (ferry__zip_entry_source(z, idx[k], &x) != 0) abort();
        if (ferry__zip_entry_source(back, k, &y) != 0) abort();
        size_t len = (size_t)ferry_source_size(x);
        if (ferry_source_size(y) != len ||
            memcmp(ferry_source_map(x, 0, len), ferry_source_map(y, 0, len), len) != 0)
            abort();
        ferry_source_close(x);
        ferry_source_close(y);
        if (ferry__zip_check_crc(back, k) != 0) abort();
    }
out:
    ferry__zip_close(back);
    ferry_source_close(bs);
    ferry__zip_writer_free(w);
    ferry_sink_abort(sink);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ferry_ctx *ctx = ferry_ctx_new(NULL);
    if (!ctx) return 0;
    ferry_limits l = {.struct_size = sizeof l, .total_alloc = 256u << 20,
                      .tensor_count = 100000, .header_bytes = 4u << 20};
    ferry_ctx_set_limits(ctx, &l);
    ferry_source *src = NULL;
    if (ferry_source_from_memory(ctx, data, size, "fuzz.zip", &src) != 0) goto out;

    int seen = 0;
    uint64_t before = ctx->allocated;
    int64_t declared = ferry__zip_walk(src, 1000, count_cb, &seen);
    if (ctx->allocated != before) abort();
    if (declared >= 0 && seen > declared) abort();

    const ferry__zip_opts variants[2] = {
        {0, 0},
        {FERRY__ZIP_IGNORE_FLAGS | FERRY__ZIP_CRC_STORED, 100},
    };
    for (int v = 0; v < 2; v++) {
        ferry__zip *z;
        if (ferry__zip_open(ctx, src, &variants[v], &z) != 0) continue;
        for (int64_t i = 0; i < ferry__zip_count(z) && i < MAX_ENTRIES; i++) {
            const ferry__zip_entry *e = ferry__zip_entry_at(z, i);
            if (!e || ferry__zip_find(z, e->name, e->name_len) < 0) abort();
            ferry_source *es;
            if (ferry__zip_entry_source(z, i, &es) == 0) {
                uint64_t n = ferry_source_size(es);
                if (n != e->usize) abort();
                uint8_t buf[4096];
                for (uint64_t off = 0; off < n; off += sizeof buf) {
                    size_t k = n - off < sizeof buf ? (size_t)(n - off) : sizeof buf;
                    if (ferry_source_read(es, off, buf, k) != 0) abort();
                }
                ferry_source_close(es);
            }
            uint8_t head[16];
            size_t k = e->usize < sizeof head ? (size_t)e->usize : sizeof head;
            (void)ferry__zip_entry_prefix(z, i, head, k);
            (void)ferry__zip_check_crc(z, i);
        }
        rewrite(ctx, z, (size & 1) ? FERRY__ZIP_W_FORCE_ZIP64 : 0);
        ferry__zip_close(z);
    }
out:
    ferry_source_close(src);
    if (ctx->allocated != 0) abort();
    ferry_ctx_free(ctx);
    return 0;
}
