/*
 * test_protobuf.c -- the protobuf wire reader and writer (src/parse/protobuf.c).
 *
 * Varints at every length 1..10 and their overflow rules, truncated tags / values / LEN
 * payloads, field numbers and wire types that are invalid, packed and unpacked repeated
 * scalars (mixed in one message), groups skipped (nested, mismatched, unterminated), the
 * depth limit of sub-messages and groups, the signature walk used by bids, and a writer
 * round trip through a memory sink.
 */
#include "parse/protobuf.h"
#include "t.h"

static ferry_ctx *ctx;

static void cur(ferry__pb *r, const uint8_t *b, size_t n)
{
    ferry__pb_init(r, ctx, NULL, b, 0, 0, n, 0);
}

TEST(varint_every_length)
{
    for (int k = 1; k <= 10; k++) {
        // The smallest and the largest value that need exactly k bytes.
        uint64_t lo = k == 1 ? 0 : 1ull << (7 * (k - 1));
        uint64_t hi = k == 10 ? UINT64_MAX : (1ull << (7 * k)) - 1;
        uint64_t vals[2] = {lo, hi};
        for (int j = 0; j < 2; j++) {
            ferry_sink *s = NULL;
            CHECK(ferry_sink_open_memory(ctx, &s) == 0);
            CHECK(ferry__pbw_varint(s, vals[j]) == 0);
            size_t n = 0;
            const uint8_t *p = ferry_sink_memory(s, &n);
            CHECK_EQ_INT(n, k);
            CHECK_EQ_INT(ferry__pb_size_varint(vals[j]), k);
            uint64_t v = 0;
            CHECK_EQ_INT(ferry__pb_varint(p, n, &v), k);
            CHECK(v == vals[j]);
            // One byte short: truncated.
            CHECK_EQ_INT(ferry__pb_varint(p, n - 1, &v), 0);
            ferry_sink_abort(s);
        }
    }
}

TEST(varint_overflow)
{
    uint64_t v;
    const uint8_t eleven[11] = {0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00};
    CHECK_EQ_INT(ferry__pb_varint(eleven, sizeof eleven, &v), -1);
    // Tenth byte 2: bit 64 set.
    const uint8_t big[10] = {0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x02};
    CHECK_EQ_INT(ferry__pb_varint(big, sizeof big, &v), -1);
    const uint8_t max[10] = {0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01};
    CHECK_EQ_INT(ferry__pb_varint(max, sizeof max, &v), 10);
    CHECK(v == UINT64_MAX);
    // Over-long but in range: accepted.
    const uint8_t padded[2] = {0x81, 0x00};
    CHECK_EQ_INT(ferry__pb_varint(padded, 2, &v), 2);
    CHECK_EQ_INT(v, 1);
    // A tag that overflows fails ferry__pb_next with CORRUPT.
    ferry__pb r;
    ferry__pb_field f;
    cur(&r, eleven, sizeof eleven);
    CHECK_EQ_INT(ferry__pb_next(&r, &f), FERRY_E_CORRUPT);
}

TEST(fields_and_truncation)
{
    // 1: varint 150, 2: "hi", 3: fixed32, 4: fixed64
    const uint8_t msg[] = {0x08, 0x96, 0x01, 0x12, 0x02, 'h', 'i', 0x1D, 1, 2, 3, 4,
                           0x21, 1, 0, 0, 0, 0, 0, 0, 0x80};
    ferry__pb r;
    ferry__pb_field f;
    cur(&r, msg, sizeof msg);
    CHECK_EQ_INT(ferry__pb_next(&r, &f), 1);
    CHECK(f.number == 1 && f.wire == 0 && f.value == 150);
    CHECK_EQ_INT(ferry__pb_next(&r, &f), 1);
    CHECK(f.number == 2 && f.wire == 2 && f.off == 5 && f.len == 2);
    CHECK_EQ_INT(ferry__pb_next(&r, &f), 1);
    CHECK(f.number == 3 && f.wire == 5 && f.value == 0x04030201u);
    CHECK_EQ_INT(ferry__pb_next(&r, &f), 1);
    CHECK(f.number == 4 && f.wire == 1 && f.value == 0x8000000000000001ull);
    CHECK_EQ_INT(ferry__pb_next(&r, &f), 0);
    // Every truncation is corrupt, none crashes.
    for (size_t n = 1; n < sizeof msg; n++) {
        int rc;
        cur(&r, msg, n);
        while ((rc = ferry__pb_next(&r, &f)) > 0) {}
        bool boundary = n == 3 || n == 7 || n == 12;
        CHECK_MSG(boundary ? rc == 0 : rc == FERRY_E_CORRUPT, "prefix %zu: rc %d", n, rc);
    }
    // LEN running past the end names the field.
    const uint8_t bad_len[] = {0x0A, 0x05, 'a', 'b'};
    cur(&r, bad_len, sizeof bad_len);
    CHECK_EQ_INT(ferry__pb_next(&r, &f), FERRY_E_CORRUPT);
    CHECK(strstr(ferry_ctx_error(ctx), "length 5 exceeds") != NULL);
    // Huge LEN (2^63).
    const uint8_t huge[] = {0x0A, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01};
    cur(&r, huge, sizeof huge);
    CHECK_EQ_INT(ferry__pb_next(&r, &f), FERRY_E_CORRUPT);
}

TEST(bad_numbers_and_wire_types)
{
    ferry__pb r;
    ferry__pb_field f;
    const uint8_t zero[] = {0x00, 0x01};
    cur(&r, zero, sizeof zero);
    CHECK_EQ_INT(ferry__pb_next(&r, &f), FERRY_E_CORRUPT);
    const uint8_t w6[] = {0x0E, 0x01};
    cur(&r, w6, sizeof w6);
    CHECK_EQ_INT(ferry__pb_next(&r, &f), FERRY_E_CORRUPT);
    const uint8_t w7[] = {0x0F};
    cur(&r, w7, sizeof w7);
    CHECK_EQ_INT(ferry__pb_next(&r, &f), FERRY_E_CORRUPT);
    // Field number 2^29 (tag 2^32) is above the maximum.
    const uint8_t big[] = {0x80, 0x80, 0x80, 0x80, 0x10, 0x00};
    cur(&r, big, sizeof big);
    CHECK_EQ_INT(ferry__pb_next(&r, &f), FERRY_E_CORRUPT);
    // The maximum field number 2^29 - 1 is fine.
    const uint8_t maxf[] = {0xF8, 0xFF, 0xFF, 0xFF, 0x0F, 0x07};
    cur(&r, maxf, sizeof maxf);
    CHECK_EQ_INT(ferry__pb_next(&r, &f), 1);
    CHECK(f.number == 0x1FFFFFFFu && f.value == 7);
}

TEST(packed_and_unpacked)
{
    // Field 4 floats: packed run of 2, then one unpacked, then packed varints in field 5
    // mixed with unpacked ones.
    uint8_t msg[] = {0x22, 0x08, 0, 0, 0x80, 0x3F, 0, 0, 0, 0x40,   /* 1.0, 2.0 */
                     0x25, 0, 0, 0x40, 0x40,                          /* 3.0 */
                     0x2A, 0x03, 0x01, 0xAC, 0x02,                    /* 1, 300 */
                     0x28, 0x05};                                     /* 5 */
    ferry__pb r;
    ferry__pb_field f;
    cur(&r, msg, sizeof msg);
    uint64_t nf = 0, ni = 0, sum = 0;
    float fl[3];
    int rc;
    while ((rc = ferry__pb_next(&r, &f)) > 0) {
        if (f.number == 4) {
            CHECK(ferry__pb_rep_count(&r, &f, FERRY__PB_I32, &nf) == 0);
            ferry__pb_rep it;
            ferry__pb_rep_init(&it, &r, &f, FERRY__PB_I32);
            uint64_t v;
            static int k;
            while (ferry__pb_rep_next(&it, &v) > 0 && k < 3) {
                uint32_t b = (uint32_t)v;
                memcpy(&fl[k++], &b, 4);
            }
        } else if (f.number == 5) {
            CHECK(ferry__pb_rep_count(&r, &f, FERRY__PB_VARINT, &ni) == 0);
            ferry__pb_rep it;
            ferry__pb_rep_init(&it, &r, &f, FERRY__PB_VARINT);
            uint64_t v;
            while (ferry__pb_rep_next(&it, &v) > 0) sum += v;
        }
    }
    CHECK_EQ_INT(rc, 0);
    CHECK_EQ_INT(nf, 3);
    CHECK_EQ_INT(ni, 3);
    CHECK_EQ_INT(sum, 306);
    CHECK(fl[0] == 1.0f && fl[1] == 2.0f && fl[2] == 3.0f);
    // A packed fixed32 run of 5 bytes is corrupt; a packed varint cut short too.
    const uint8_t odd[] = {0x22, 0x05, 0, 0, 0, 0, 0};
    cur(&r, odd, sizeof odd);
    CHECK_EQ_INT(ferry__pb_next(&r, &f), 1);
    CHECK_EQ_INT(ferry__pb_rep_count(&r, &f, FERRY__PB_I32, &nf), FERRY_E_CORRUPT);
    const uint8_t cut[] = {0x2A, 0x02, 0x01, 0x80};
    cur(&r, cut, sizeof cut);
    CHECK_EQ_INT(ferry__pb_next(&r, &f), 1);
    CHECK_EQ_INT(ferry__pb_rep_count(&r, &f, FERRY__PB_VARINT, &ni), FERRY_E_CORRUPT);
    // Wrong wire type for the element (fixed64 where varints are expected).
    const uint8_t wrong[] = {0x29, 0, 0, 0, 0, 0, 0, 0, 0};
    cur(&r, wrong, sizeof wrong);
    CHECK_EQ_INT(ferry__pb_next(&r, &f), 1);
    CHECK_EQ_INT(ferry__pb_rep_count(&r, &f, FERRY__PB_VARINT, &ni), FERRY_E_CORRUPT);
}

TEST(groups_skipped)
{
    ferry__pb r;
    ferry__pb_field f;
    // 1: varint, 2: group { 3: varint, 4: group { } }, 5: varint
    const uint8_t msg[] = {0x08, 0x01, 0x13, 0x18, 0x02, 0x23, 0x24, 0x14, 0x28, 0x07};
    cur(&r, msg, sizeof msg);
    CHECK_EQ_INT(ferry__pb_next(&r, &f), 1);
    CHECK_EQ_INT(f.number, 1);
    CHECK_EQ_INT(ferry__pb_next(&r, &f), 1);
    CHECK_EQ_INT(f.number, 5);
    CHECK_EQ_INT(f.value, 7);
    CHECK_EQ_INT(ferry__pb_next(&r, &f), 0);
    const uint8_t stray[] = {0x14};
    cur(&r, stray, sizeof stray);
    CHECK_EQ_INT(ferry__pb_next(&r, &f), FERRY_E_CORRUPT);
    const uint8_t mismatch[] = {0x13, 0x24};
    cur(&r, mismatch, sizeof mismatch);
    CHECK_EQ_INT(ferry__pb_next(&r, &f), FERRY_E_CORRUPT);
    const uint8_t open[] = {0x13, 0x18, 0x01};
    cur(&r, open, sizeof open);
    CHECK_EQ_INT(ferry__pb_next(&r, &f), FERRY_E_CORRUPT);
    // 200 nested group starts: the depth limit answers, not the stack.
    uint8_t deep[400];
    for (int i = 0; i < 200; i++) deep[i] = 0x13;
    for (int i = 0; i < 200; i++) deep[200 + i] = 0x14;
    cur(&r, deep, sizeof deep);
    CHECK_EQ_INT(ferry__pb_next(&r, &f), FERRY_E_LIMIT);
}

TEST(depth_limit)
{
    // 150 nested LEN fields (field 1), innermost empty.
    enum { N = 150 };
    uint8_t buf[N * 3];
    size_t n = 0;
    // Build from the inside out: each level is tag + 1-2 byte length + inner.
    uint8_t tmp[N * 3];
    size_t tl = 0;
    for (int i = 0; i < N; i++) {
        uint8_t hdr[3];
        size_t hl = 0;
        hdr[hl++] = 0x0A;
        if (tl < 128) hdr[hl++] = (uint8_t)tl;
        else {
            hdr[hl++] = (uint8_t)(tl | 0x80);
            hdr[hl++] = (uint8_t)(tl >> 7);
        }
        memmove(tmp + hl, tmp, tl);
        memcpy(tmp, hdr, hl);
        tl += hl;
    }
    memcpy(buf, tmp, tl);
    n = tl;
    ferry__pb r, sub;
    ferry__pb_field f;
    ferry__pb_init(&r, ctx, NULL, buf, 0, 0, n, 100);
    int depth = 0, rc = 0;
    for (;;) {
        rc = ferry__pb_next(&r, &f);
        if (rc <= 0) break;
        rc = ferry__pb_sub(&r, &f, &sub);
        if (rc < 0) break;
        r = sub;
        depth++;
    }
    CHECK_EQ_INT(rc, FERRY_E_LIMIT);
    CHECK_EQ_INT(depth, 100);
}

TEST(signature)
{
    uint8_t w[16];
    uint32_t maxf;
    const uint8_t msg[] = {0x08, 0x07, 0x12, 0x03, 'a', 'b', 'c', 0x3A, 0x7F, 0x00};
    CHECK(ferry__pb_signature(msg, sizeof msg, false, w, 16, &maxf));
    CHECK(w[1] == 0 && w[2] == 2 && w[7] == 2 && w[3] == 0xFF && maxf == 7);
    CHECK(!ferry__pb_signature(msg, sizeof msg, true, w, 16, &maxf));
    const uint8_t grp[] = {0x0B};
    CHECK(!ferry__pb_signature(grp, 1, false, w, 16, &maxf));
}

TEST(writer_round_trip)
{
    ferry_sink *s = NULL;
    CHECK(ferry_sink_open_memory(ctx, &s) == 0);
    CHECK(ferry__pbw_uint(s, 1, 300) == 0);
    CHECK(ferry__pbw_bytes(s, 2, "name", 4) == 0);
    CHECK(ferry__pbw_fixed32(s, 3, 0x3F800000u) == 0);
    CHECK(ferry__pbw_fixed64(s, 4, 42) == 0);
    // A sub-message streamed after its length header: {1: 5}
    uint64_t sz;
    CHECK(ferry__pb_size_len_field(5, 2, &sz) && sz == 4);
    CHECK(ferry__pbw_len_header(s, 5, 2) == 0);
    CHECK(ferry__pbw_uint(s, 1, 5) == 0);
    CHECK(ferry__pbw_uint(s, 1000, UINT64_MAX) == 0);
    CHECK_EQ_INT(ferry__pb_size_tag(1000), 2);
    size_t n = 0;
    const uint8_t *p = ferry_sink_memory(s, &n);
    ferry__pb r, sub;
    ferry__pb_field f;
    cur(&r, p, n);
    CHECK(ferry__pb_next(&r, &f) == 1 && f.number == 1 && f.value == 300);
    CHECK(ferry__pb_next(&r, &f) == 1 && f.number == 2 && f.len == 4 &&
          memcmp(p + f.off, "name", 4) == 0);
    CHECK(ferry__pb_next(&r, &f) == 1 && f.number == 3 && f.wire == 5 && f.value == 0x3F800000u);
    CHECK(ferry__pb_next(&r, &f) == 1 && f.number == 4 && f.wire == 1 && f.value == 42);
    CHECK(ferry__pb_next(&r, &f) == 1 && f.number == 5 && f.len == 2);
    CHECK(ferry__pb_sub(&r, &f, &sub) == 0);
    CHECK(ferry__pb_next(&sub, &f) == 1 && f.number == 1 && f.value == 5);
    CHECK(ferry__pb_next(&sub, &f) == 0);
    CHECK(ferry__pb_next(&r, &f) == 1 && f.number == 1000 && f.value == UINT64_MAX);
    CHECK(ferry__pb_next(&r, &f) == 0);
    ferry_sink_abort(s);
}

int main(void)
{
    ctx = ferry_ctx_new(NULL);
    RUN(varint_every_length);
    RUN(varint_overflow);
    RUN(fields_and_truncation);
    RUN(bad_numbers_and_wire_types);
    RUN(packed_and_unpacked);
    RUN(groups_skipped);
    RUN(depth_limit);
    RUN(signature);
    RUN(writer_round_trip);
    ferry_ctx_free(ctx);
    return t_finish("protobuf");
}
