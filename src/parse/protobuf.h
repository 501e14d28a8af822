/*
 * protobuf.h -- schema-free protobuf wire reader and streaming writer (FORMATS.md section 0.2).
 *
 * Shared by every protobuf-based format (ONNX, TensorFlow, Core ML, Caffe, Paddle). The
 * reader walks the fields of one message held in memory (normally the source's map) and
 * returns each as (number, wire type, value) or, for length-delimited fields, as an
 * (offset, length) slice of the same buffer: nothing is copied. The caller knows its schema
 * and descends into sub-messages with ferry__pb_sub, which counts depth against an explicit
 * limit, so no walk can nest deeper than the caller allows.
 *
 * The writer emits tags, varints, fixed values and length-delimited fields straight into a
 * ferry_sink. A LEN field needs its length before its contents: callers compute the size of
 * a sub-message in a first pass (with the ferry__pb_size_* helpers) and then stream it, so a
 * large message never has to sit whole in memory.
 */
#ifndef FERRY_PARSE_PROTOBUF_H
#define FERRY_PARSE_PROTOBUF_H

#include "internal.h"

/* ============================================================================================
 * Reader
 * ========================================================================================== */

enum {
    FERRY__PB_VARINT = 0,
    FERRY__PB_I64    = 1,
    FERRY__PB_LEN    = 2,
    FERRY__PB_SGROUP = 3,
    FERRY__PB_EGROUP = 4,
    FERRY__PB_I32    = 5,
};

/* Default nesting limit for sub-messages (libprotobuf's default recursion limit is 100). */
#define FERRY__PB_MAX_DEPTH 100

/* A cursor over one message: bytes [pos, end) of base. Offsets are relative to base; origin
 * is base's offset in src (for error messages and for zero-copy tensor offsets). */
typedef struct ferry__pb {
    ferry_ctx          *ctx;
    const ferry_source *src;       /* for messages; may be NULL */
    const uint8_t      *base;
    uint64_t            origin;
    uint64_t            pos;
    uint64_t            end;
    uint32_t            depth;     /* nesting level of this message (top level 0) */
    uint32_t            max_depth;
} ferry__pb;

/* One field. For VARINT/I64/I32 `value` holds the value (fixed ones little-endian decoded);
 * for LEN `off`/`len` give the payload inside base. Groups are skipped by ferry__pb_next and
 * never returned. tag_off is where the field's tag starts (for messages). */
typedef struct ferry__pb_field {
    uint32_t number;
    uint8_t  wire;
    uint64_t value;
    uint64_t off;
    uint64_t len;
    uint64_t tag_off;
} ferry__pb_field;

/* Starts a cursor over base[off, off + len). */
void ferry__pb_init(ferry__pb *r, ferry_ctx *ctx, const ferry_source *src, const uint8_t *base,
                    uint64_t origin, uint64_t off, uint64_t len, uint32_t max_depth);

/* Decodes a varint at p (at most `avail` bytes). Returns the bytes used (1..10), 0 when the
 * varint runs past avail, or -1 when it is longer than 10 bytes or exceeds 64 bits. */
int ferry__pb_varint(const uint8_t *p, uint64_t avail, uint64_t *v);

/* Reads the next field. Returns 1 with *f filled, 0 at the end of the message, or a negative
 * status (FERRY_E_CORRUPT with the offset: bad varint, field number 0 or above 2^29-1, wire
 * type 6/7, a stray group end, a LEN or fixed value running past the message end, groups
 * nested beyond max_depth). */
int ferry__pb_next(ferry__pb *r, ferry__pb_field *f);

/* A cursor over the payload of LEN field f of r, one level deeper. FERRY_E_LIMIT when the
 * depth would exceed r->max_depth. */
int ferry__pb_sub(const ferry__pb *r, const ferry__pb_field *f, ferry__pb *sub);

/* Iterates a repeated scalar field occurrence, whichever encoding it used: an unpacked
 * element (f->wire == elem_wire) yields f->value once; a packed run (f->wire == LEN) yields
 * each element of the payload. Usage:
 *     ferry__pb_rep it; ferry__pb_rep_init(&it, r, f, FERRY__PB_VARINT);
 *     while ((rc = ferry__pb_rep_next(&it, &v)) > 0) ...
 * Returns 1 / 0 (done) / negative (corrupt: wrong wire type, truncated element). */
typedef struct ferry__pb_rep {
    const ferry__pb *r;
    uint64_t         pos;
    uint64_t         end;
    uint64_t         single;
    uint8_t          elem_wire;
    uint8_t          mode;      /* 0 packed, 1 single pending, 2 done, 3 bad wire type */
    uint32_t         number;
} ferry__pb_rep;

void ferry__pb_rep_init(ferry__pb_rep *it, const ferry__pb *r, const ferry__pb_field *f,
                        int elem_wire);
int  ferry__pb_rep_next(ferry__pb_rep *it, uint64_t *v);

/* Counts the elements of one occurrence of a repeated scalar field without decoding them
 * (varints are validated). Adds to *count. Returns 0 or negative as above. */
int ferry__pb_rep_count(const ferry__pb *r, const ferry__pb_field *f, int elem_wire,
                        uint64_t *count);

/* Decodes the top-level fields of buf[0, n) into a signature: wires[k] = wire type of the last
 * occurrence of field k (for k < nwires; 0xFF = absent) and *maxfield the highest number seen.
 * Used by bid functions (Netron's technique, FORMATS.md section 0.2). When `whole` is false a
 * LEN field may run past n (the buffer is a prefix of the file). Returns true when every
 * field decoded; no allocation. */
bool ferry__pb_signature(const uint8_t *buf, size_t n, bool whole, uint8_t *wires,
                         uint32_t nwires, uint32_t *maxfield);

/* ============================================================================================
 * Writer
 * ========================================================================================== */

/* Encoded sizes. */
uint32_t ferry__pb_size_varint(uint64_t v);
uint32_t ferry__pb_size_tag(uint32_t number);
/* Size of a whole LEN field (tag + length varint + payload); false on overflow. */
bool ferry__pb_size_len_field(uint32_t number, uint64_t payload, uint64_t *out);

int ferry__pbw_varint(ferry_sink *s, uint64_t v);
int ferry__pbw_tag(ferry_sink *s, uint32_t number, int wire);
/* Tag + value for VARINT / I32 / I64 fields. */
int ferry__pbw_uint(ferry_sink *s, uint32_t number, uint64_t v);
int ferry__pbw_fixed32(ferry_sink *s, uint32_t number, uint32_t v);
int ferry__pbw_fixed64(ferry_sink *s, uint32_t number, uint64_t v);
/* Tag + length + bytes. */
int ferry__pbw_bytes(ferry_sink *s, uint32_t number, const void *p, size_t n);
/* Tag + length of a LEN field whose `len` payload bytes the caller writes next. */
int ferry__pbw_len_header(ferry_sink *s, uint32_t number, uint64_t len);

#endif /* FERRY_PARSE_PROTOBUF_H */
