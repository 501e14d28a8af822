/*
 * protobuf.c -- schema-free protobuf wire reader and streaming writer.
 *
 * Spec: FORMATS.md section 0.2 (wire types, packed and unpacked repeated scalars, "last one
 * wins", unknown fields skipped) and the protobuf encoding guide (varints are at most 10
 * bytes; the tenth byte may only carry the 64th bit).
 *
 * Decisions
 * ---------
 *   - Zero copy: the reader never copies; LEN fields come back as (offset, length) inside the
 *     caller's buffer, which is normally the source's map. Each LEN length is checked
 *     against the bytes left in the enclosing message before it is returned, so a caller
 *     that only follows returned slices stays inside the buffer.
 *   - Varints: more than 10 bytes, or a tenth byte above 1 (bits beyond 64), is corrupt.
 *     Over-long but in-range encodings (0x80 0x00) are accepted as libprotobuf does.
 *   - Field numbers: 0 and numbers above 2^29 - 1 are corrupt; wire types 6 and 7 are corrupt.
 *   - Groups (wire 3/4) are deprecated and unused by our formats but must be skippable: a
 *     group start is skipped up to its matching end with an explicit stack of field numbers
 *     (no recursion), bounded by the cursor's max_depth. A group end without a start is
 *     corrupt.
 *   - Depth: the reader itself never descends; callers do with ferry__pb_sub, which fails
 *     with FERRY_E_LIMIT beyond max_depth. There is no other size cap: lengths are bounded
 *     by the buffer and by the context limits the caller applies.
 *   - Writer: writes through ferry_sink, a few bytes at a time into the sink's own buffer; a
 *     LEN field's length comes first, computed by the caller with the size helpers.
 */
#include "protobuf.h"

/* ============================================================================================
 * Varints
 * ========================================================================================== */

int ferry__pb_varint(const uint8_t *p, uint64_t avail, uint64_t *v)
{
    uint64_t x = 0;
    for (int i = 0; i < 10; i++) {
        if ((uint64_t)i >= avail) return 0;
        uint8_t b = p[i];
        // The tenth byte holds only bit 63: anything above 1 overflows 64 bits.
        if (i == 9 && b > 1) return -1;
        x |= (uint64_t)(b & 0x7F) << (7 * i);
        if (!(b & 0x80)) {
            *v = x;
            return i + 1;
        }
    }
    return -1;
}

/* ============================================================================================
 * Reader
 * ========================================================================================== */

void ferry__pb_init(ferry__pb *r, ferry_ctx *ctx, const ferry_source *src, const uint8_t *base,
                    uint64_t origin, uint64_t off, uint64_t len, uint32_t max_depth)
{
    r->ctx       = ctx;
    r->src       = src;
    r->base      = base;
    r->origin    = origin;
    r->pos       = off;
    r->end       = off + len;
    r->depth     = 0;
    r->max_depth = max_depth ? max_depth : FERRY__PB_MAX_DEPTH;
}

static int bad(const ferry__pb *r, uint64_t off, const char *what)
{
    return ferry__fail_at(r->ctx, FERRY_E_CORRUPT, r->src, r->origin + off, "protobuf: %s",
                          what);
}

/* Reads a varint at r->pos, advancing. */
static int rd_varint(ferry__pb *r, uint64_t *v, const char *what)
{
    int n = ferry__pb_varint(r->base + r->pos, r->end - r->pos, v);
    if (n == 0) {
        return ferry__fail_at(r->ctx, FERRY_E_CORRUPT, r->src, r->origin + r->pos,
                              "protobuf: %s runs past the end of the message (%llu bytes left)",
                              what, (unsigned long long)(r->end - r->pos));
    }
    if (n < 0) {
        return ferry__fail_at(r->ctx, FERRY_E_CORRUPT, r->src, r->origin + r->pos,
                              "protobuf: %s is longer than 10 bytes or exceeds 64 bits", what);
    }
    r->pos += (uint64_t)n;
    return FERRY_OK;
}

/* Reads one tag and the value it introduces; groups are returned as (SGROUP/EGROUP) with no
 * value so that the caller can skip them. */
static int rd_field(ferry__pb *r, ferry__pb_field *f)
{
    uint64_t tag;
    f->tag_off = r->pos;
    FERRY_TRY(rd_varint(r, &tag, "field tag"));
    uint64_t number = tag >> 3;
    f->wire   = (uint8_t)(tag & 7);
    f->value  = 0;
    f->off    = 0;
    f->len    = 0;
    if (number == 0 || number > 0x1FFFFFFFu) {
        return ferry__fail_at(r->ctx, FERRY_E_CORRUPT, r->src, r->origin + f->tag_off,
                              "protobuf: invalid field number %llu", (unsigned long long)number);
    }
    f->number = (uint32_t)number;
    switch (f->wire) {
    case FERRY__PB_VARINT: return rd_varint(r, &f->value, "varint value");
    case FERRY__PB_I64:
        if (r->end - r->pos < 8) return bad(r, r->pos, "fixed64 value runs past the message end");
        f->value = ferry__rd64le(r->base + r->pos);
        r->pos += 8;
        return FERRY_OK;
    case FERRY__PB_I32:
        if (r->end - r->pos < 4) return bad(r, r->pos, "fixed32 value runs past the message end");
        f->value = ferry__rd32le(r->base + r->pos);
        r->pos += 4;
        return FERRY_OK;
    case FERRY__PB_LEN: {
        uint64_t len;
        FERRY_TRY(rd_varint(r, &len, "length"));
        if (len > r->end - r->pos) {
            return ferry__fail_at(r->ctx, FERRY_E_CORRUPT, r->src, r->origin + f->tag_off,
                                  "protobuf: field %u: length %llu exceeds the %llu bytes left "
                                  "in the message", f->number, (unsigned long long)len,
                                  (unsigned long long)(r->end - r->pos));
        }
        f->off = r->pos;
        f->len = len;
        r->pos += len;
        return FERRY_OK;
    }
    case FERRY__PB_SGROUP:
    case FERRY__PB_EGROUP: return FERRY_OK;
    default:
        return ferry__fail_at(r->ctx, FERRY_E_CORRUPT, r->src, r->origin + f->tag_off,
                              "protobuf: field %u has invalid wire type %u", f->number,
                              (unsigned)f->wire);
    }
}

/* Skips a group whose start tag (field `number`) was just read, up to its matching end. */
static int skip_group(ferry__pb *r, uint32_t number, uint64_t start)
{
    uint32_t stack[FERRY__PB_MAX_DEPTH];
    uint32_t cap = r->max_depth < FERRY__PB_MAX_DEPTH ? r->max_depth : FERRY__PB_MAX_DEPTH;
    uint32_t n = 0;
    if (r->depth + 1 > r->max_depth || cap == 0) {
        return ferry__fail_at(r->ctx, FERRY_E_LIMIT, r->src, r->origin + start,
                              "protobuf: group nested deeper than %u levels", r->max_depth);
    }
    stack[n++] = number;
    while (n > 0) {
        if (r->pos >= r->end) return bad(r, start, "group without an end tag");
        ferry__pb_field f;
        FERRY_TRY(rd_field(r, &f));
        if (f.wire == FERRY__PB_SGROUP) {
            if (n >= cap || r->depth + n + 1 > r->max_depth) {
                return ferry__fail_at(r->ctx, FERRY_E_LIMIT, r->src, r->origin + f.tag_off,
                                      "protobuf: group nested deeper than %u levels",
                                      r->max_depth);
            }
            stack[n++] = f.number;
        } else if (f.wire == FERRY__PB_EGROUP) {
            if (stack[n - 1] != f.number) {
                return ferry__fail_at(r->ctx, FERRY_E_CORRUPT, r->src, r->origin + f.tag_off,
                                      "protobuf: group end for field %u closes a group of "
                                      "field %u", f.number, stack[n - 1]);
            }
            n--;
        }
    }
    return FERRY_OK;
}

int ferry__pb_next(ferry__pb *r, ferry__pb_field *f)
{
    while (r->pos < r->end) {
        FERRY_TRY(rd_field(r, f));
        if (f->wire == FERRY__PB_SGROUP) {
            FERRY_TRY(skip_group(r, f->number, f->tag_off));
            continue;
        }
        if (f->wire == FERRY__PB_EGROUP)
            return bad(r, f->tag_off, "group end without a group start");
        return 1;
    }
    return 0;
}

int ferry__pb_sub(const ferry__pb *r, const ferry__pb_field *f, ferry__pb *sub)
{
    if (r->depth + 1 > r->max_depth) {
        return ferry__fail_at(r->ctx, FERRY_E_LIMIT, r->src, r->origin + f->tag_off,
                              "protobuf: messages nested deeper than %u levels", r->max_depth);
    }
    *sub       = *r;
    sub->pos   = f->off;
    sub->end   = f->off + f->len;
    sub->depth = r->depth + 1;
    return FERRY_OK;
}

/* ============================================================================================
 * Repeated scalars (packed or not)
 * ========================================================================================== */

void ferry__pb_rep_init(ferry__pb_rep *it, const ferry__pb *r, const ferry__pb_field *f,
                        int elem_wire)
{
    it->r         = r;
    it->elem_wire = (uint8_t)elem_wire;
    it->number    = f->number;
    it->pos       = f->off;
    it->end       = f->off + f->len;
    it->single    = f->value;
    if (f->wire == FERRY__PB_LEN) it->mode = 0;
    else it->mode = f->wire == elem_wire ? 1 : 3;
}

int ferry__pb_rep_next(ferry__pb_rep *it, uint64_t *v)
{
    const ferry__pb *r = it->r;
    switch (it->mode) {
    case 1:
        *v       = it->single;
        it->mode = 2;
        return 1;
    case 2: return 0;
    case 3:
        it->mode = 2;
        return ferry__fail_at(r->ctx, FERRY_E_CORRUPT, r->src, r->origin + it->pos,
                              "protobuf: field %u has the wrong wire type for its scalar type",
                              it->number);
    default: break;
    }
    if (it->pos >= it->end) return 0;
    uint64_t left = it->end - it->pos;
    const uint8_t *p = r->base + it->pos;
    switch (it->elem_wire) {
    case FERRY__PB_VARINT: {
        int n = ferry__pb_varint(p, left, v);
        if (n <= 0) {
            return ferry__fail_at(r->ctx, FERRY_E_CORRUPT, r->src, r->origin + it->pos,
                                  "protobuf: field %u: packed varint %s", it->number,
                                  n == 0 ? "runs past the end of its run"
                                         : "is longer than 10 bytes or exceeds 64 bits");
        }
        it->pos += (uint64_t)n;
        return 1;
    }
    case FERRY__PB_I32:
    case FERRY__PB_I64: {
        uint64_t w = it->elem_wire == FERRY__PB_I32 ? 4 : 8;
        if (left < w) {
            return ferry__fail_at(r->ctx, FERRY_E_CORRUPT, r->src, r->origin + it->pos,
                                  "protobuf: field %u: packed run of %llu-byte values has %llu "
                                  "trailing bytes", it->number, (unsigned long long)w,
                                  (unsigned long long)left);
        }
        *v = w == 4 ? ferry__rd32le(p) : ferry__rd64le(p);
        it->pos += w;
        return 1;
    }
    default:
        return ferry__fail_at(r->ctx, FERRY_E_ARG, r->src, r->origin + it->pos,
                              "protobuf: bad element wire type");
    }
}

int ferry__pb_rep_count(const ferry__pb *r, const ferry__pb_field *f, int elem_wire,
                        uint64_t *count)
{
    if (f->wire != FERRY__PB_LEN) {
        if (f->wire != elem_wire) {
            return ferry__fail_at(r->ctx, FERRY_E_CORRUPT, r->src, r->origin + f->tag_off,
                                  "protobuf: field %u has the wrong wire type for its scalar "
                                  "type", f->number);
        }
        (*count)++;
        return FERRY_OK;
    }
    if (elem_wire == FERRY__PB_I32 || elem_wire == FERRY__PB_I64) {
        uint64_t w = elem_wire == FERRY__PB_I32 ? 4 : 8;
        if (f->len % w) {
            return ferry__fail_at(r->ctx, FERRY_E_CORRUPT, r->src, r->origin + f->tag_off,
                                  "protobuf: field %u: packed run of %llu bytes is not a "
                                  "multiple of %llu", f->number, (unsigned long long)f->len,
                                  (unsigned long long)w);
        }
        *count += f->len / w;
        return FERRY_OK;
    }
    // Varints: each ends with a byte below 0x80; validate lengths while counting.
    ferry__pb_rep it;
    ferry__pb_rep_init(&it, r, f, elem_wire);
    uint64_t v;
    int rc;
    while ((rc = ferry__pb_rep_next(&it, &v)) > 0) (*count)++;
    return rc;
}

/* ============================================================================================
 * Signatures (bidding)
 * ========================================================================================== */

bool ferry__pb_signature(const uint8_t *buf, size_t n, bool whole, uint8_t *wires,
                         uint32_t nwires, uint32_t *maxfield)
{
    for (uint32_t i = 0; i < nwires; i++) wires[i] = 0xFF;
    *maxfield = 0;
    size_t pos = 0;
    while (pos < n) {
        uint64_t tag, v;
        int k = ferry__pb_varint(buf + pos, n - pos, &tag);
        if (k == 0 && !whole) return true; // the prefix ends inside a tag
        if (k <= 0) return false;
        pos += (size_t)k;
        uint64_t number = tag >> 3;
        unsigned wire = (unsigned)(tag & 7);
        if (number == 0 || number > 0x1FFFFFFFu || wire > 5 || wire == 3 || wire == 4)
            return false;
        switch (wire) {
        case FERRY__PB_VARINT:
            k = ferry__pb_varint(buf + pos, n - pos, &v);
            if (k == 0 && !whole) return true;
            if (k <= 0) return false;
            pos += (size_t)k;
            break;
        case FERRY__PB_I64:
        case FERRY__PB_I32: {
            size_t w = wire == FERRY__PB_I64 ? 8 : 4;
            if (n - pos < w) return !whole;
            pos += w;
            break;
        }
        default:
            k = ferry__pb_varint(buf + pos, n - pos, &v);
            if (k == 0 && !whole) return true;
            if (k <= 0) return false;
            pos += (size_t)k;
            if (v > n - pos) {
                if (whole) return false;
                pos = n;
            } else {
                pos += (size_t)v;
            }
            break;
        }
        if (number < nwires) wires[number] = (uint8_t)wire;
        if (number > *maxfield) *maxfield = (uint32_t)number;
    }
    return true;
}

/* ============================================================================================
 * Writer
 * ========================================================================================== */

uint32_t ferry__pb_size_varint(uint64_t v)
{
    uint32_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

uint32_t ferry__pb_size_tag(uint32_t number)
{
    return ferry__pb_size_varint((uint64_t)number << 3);
}

bool ferry__pb_size_len_field(uint32_t number, uint64_t payload, uint64_t *out)
{
    uint64_t hdr = ferry__pb_size_tag(number) + ferry__pb_size_varint(payload);
    return !ferry__add_overflow(hdr, payload, out);
}

int ferry__pbw_varint(ferry_sink *s, uint64_t v)
{
    uint8_t b[10];
    size_t n = 0;
    while (v >= 0x80) {
        b[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    b[n++] = (uint8_t)v;
    return ferry_sink_write(s, b, n);
}

int ferry__pbw_tag(ferry_sink *s, uint32_t number, int wire)
{
    return ferry__pbw_varint(s, (uint64_t)number << 3 | (uint64_t)(wire & 7));
}

int ferry__pbw_uint(ferry_sink *s, uint32_t number, uint64_t v)
{
    FERRY_TRY(ferry__pbw_tag(s, number, FERRY__PB_VARINT));
    return ferry__pbw_varint(s, v);
}

int ferry__pbw_fixed32(ferry_sink *s, uint32_t number, uint32_t v)
{
    uint8_t b[4];
    ferry__wr32le(b, v);
    FERRY_TRY(ferry__pbw_tag(s, number, FERRY__PB_I32));
    return ferry_sink_write(s, b, 4);
}

int ferry__pbw_fixed64(ferry_sink *s, uint32_t number, uint64_t v)
{
    uint8_t b[8];
    ferry__wr64le(b, v);
    FERRY_TRY(ferry__pbw_tag(s, number, FERRY__PB_I64));
    return ferry_sink_write(s, b, 8);
}

int ferry__pbw_len_header(ferry_sink *s, uint32_t number, uint64_t len)
{
    FERRY_TRY(ferry__pbw_tag(s, number, FERRY__PB_LEN));
    return ferry__pbw_varint(s, len);
}

int ferry__pbw_bytes(ferry_sink *s, uint32_t number, const void *p, size_t n)
{
    FERRY_TRY(ferry__pbw_len_header(s, number, n));
    return n ? ferry_sink_write(s, p, n) : FERRY_OK;
}
