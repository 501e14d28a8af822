/*
 * fuzz_protobuf.c -- libFuzzer harness for the protobuf wire reader (src/parse/protobuf.c).
 *
 * Walks the input as a message, descending into every LEN field that parses as a message
 * (an explicit stack of cursors, bounded by the reader's depth limit), and iterates every
 * scalar field as packed varints, fixed32 and fixed64 runs. Invariants (abort on failure):
 * every returned slice lies inside the input and inside its parent; element counts from
 * ferry__pb_rep_count equal the number of elements ferry__pb_rep_next yields. The
 * signature walk runs over the input as a whole file and as a prefix. Seeds live in
 * fuzz/seeds/protobuf/.
 */
#include "parse/protobuf.h"

#include <stdlib.h>

static void iterate(const ferry__pb *r, const ferry__pb_field *f, int wire)
{
    uint64_t n = 0, k = 0, v;
    int rc = ferry__pb_rep_count(r, f, wire, &n);
    ferry__pb_rep it;
    ferry__pb_rep_init(&it, r, f, wire);
    int rc2;
    while ((rc2 = ferry__pb_rep_next(&it, &v)) > 0) k++;
    if ((rc == 0) != (rc2 == 0)) abort();
    if (rc == 0 && k != n) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ferry_ctx *ctx = ferry_ctx_new(NULL);
    if (!ctx) return 0;
    enum { MAXS = 64 };
    ferry__pb stack[MAXS];
    int n = 0;
    ferry__pb_init(&stack[n++], ctx, NULL, data, 0, 0, size, 32);
    long budget = 100000;
    while (n > 0 && budget-- > 0) {
        ferry__pb *r = &stack[n - 1];
        ferry__pb_field f;
        int rc = ferry__pb_next(r, &f);
        if (rc <= 0) {
            n--;
            continue;
        }
        if (f.wire != FERRY__PB_LEN) {
            iterate(r, &f, f.wire == FERRY__PB_VARINT ? FERRY__PB_VARINT : f.wire);
            continue;
        }
        if (f.off + f.len != r->pos || r->pos > r->end || r->end > size) abort();
        iterate(r, &f, FERRY__PB_VARINT);
        iterate(r, &f, FERRY__PB_I32);
        iterate(r, &f, FERRY__PB_I64);
        uint8_t w[32];
        uint32_t maxf;
        if (n < MAXS && f.len &&
            ferry__pb_signature(data + f.off, (size_t)f.len, true, w, 32, &maxf)) {
            ferry__pb sub;
            if (ferry__pb_sub(r, &f, &sub) == 0) stack[n++] = sub;
        }
    }
    uint8_t w[32];
    uint32_t maxf;
    ferry__pb_signature(data, size, true, w, 32, &maxf);
    ferry__pb_signature(data, size, false, w, 32, &maxf);
    ferry_ctx_free(ctx);
    return 0;
}
