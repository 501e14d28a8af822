/*
 * fuzz_pickle.c -- libFuzzer harness for the restricted pickle machine (src/parse/pickle.c).
 *
 * Runs pickles back to back over the input (as a scanner does: until the end, an error, or
 * 64 pickles), then touches every record and walks every result with a bounded explicit
 * stack, so that dangling or cyclic node pointers show up under ASan. Limits are lowered
 * so that hostile sizes fail fast. Invariants checked with abort():
 *   - a failed run leaves a context error that names an offset;
 *   - every record's kind is known and its module/name are both set or both NULL;
 *   - a successful run ends after its STOP, inside the input.
 * Seeds (fuzz/seeds/pickle/): pickle.dumps of plain values for protocols 0-5 (Python 3),
 * pickled numpy arrays (protocols 2 and 5), hand-assembled memo/frame/STACK_GLOBAL cases,
 * back-to-back pickles, and a legacy torch header.
 */
#include "internal.h"
#include "parse/pickle.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void touch(const ferry__pk_node *root)
{
    const ferry__pk_node *stack[256];
    size_t sp = 0, visits = 0;
    stack[sp++] = root;
    while (sp && visits < 100000) {
        const ferry__pk_node *n = stack[--sp];
        visits++;
        switch (n->kind) {
        case FERRY__PK_TUPLE: case FERRY__PK_LIST: case FERRY__PK_SET: case FERRY__PK_DICT: {
            size_t k = n->kind == FERRY__PK_DICT ? 2 * n->v.c.n : n->v.c.n;
            for (size_t i = 0; i < k && sp < 256; i++) stack[sp++] = n->v.c.items[i];
            break;
        }
        case FERRY__PK_STR: case FERRY__PK_BYTES: case FERRY__PK_BIGINT: {
            volatile uint8_t x = 0;
            for (size_t i = 0; i < n->v.s.n; i++) x ^= n->v.s.p[i];
            (void)x;
            break;
        }
        case FERRY__PK_CALL: case FERRY__PK_NEWOBJ:
            if (n->v.call.fn && sp < 256) stack[sp++] = n->v.call.fn;
            if (n->v.call.args && sp < 256) stack[sp++] = n->v.call.args;
            break;
        case FERRY__PK_TENSOR:
            if (n->v.ten->storage && sp < 256) stack[sp++] = n->v.ten->storage;
            for (int32_t d = 0; d < n->v.ten->ndim; d++)
                if (n->v.ten->shape[d] < 0 || n->v.ten->stride[d] < 0) abort();
            break;
        case FERRY__PK_ARRAY:
            if (n->v.arr->data && sp < 256) stack[sp++] = n->v.arr->data;
            break;
        case FERRY__PK_GLOBAL:
            if (!n->v.g.module || !n->v.g.name) abort();
            break;
        default:
            break;
        }
        if (n->state && sp < 256) stack[sp++] = n->state;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ferry_ctx *ctx = ferry_ctx_new(NULL);
    if (!ctx) return 0;
    ferry_limits lim = {.struct_size = sizeof lim, .total_alloc = (uint64_t)256 << 20,
                        .metadata_items = 1u << 20, .string_length = 1u << 24};
    ferry_ctx_set_limits(ctx, &lim);
    ferry__pk_limits pl = {.max_stack = 1u << 14, .max_memo = 1u << 14};
    ferry__pickle *pk = NULL;
    if (ferry__pickle_new(ctx, &pl, &pk) != 0) {
        ferry_ctx_free(ctx);
        return 0;
    }
    uint64_t pos = 0;
    for (int i = 0; i < 64 && pos < size; i++) {
        ferry__pk_node *root = NULL;
        uint64_t end = 0;
        int rc = ferry__pickle_run(pk, data, size, pos, NULL, 0, &root, &end);
        if (rc < 0) {
            if (!strstr(ferry_ctx_error(ctx), "offset")) abort();
            break;
        }
        if (!root || end <= pos || end > size) abort();
        touch(root);
        pos = end;
    }
    for (size_t i = 0; i < ferry__pickle_record_count(pk); i++) {
        const ferry__pk_record *r = ferry__pickle_record(pk, i);
        if (r->kind < FERRY__PK_R_GLOBAL || r->kind > FERRY__PK_R_PERSID) abort();
        if ((r->module == NULL) != (r->name == NULL)) abort();
        if (r->module) {
            volatile size_t n = strlen(r->module) + strlen(r->name);
            (void)n;
        }
    }
    ferry__pickle_free(pk);
    ferry_ctx_free(ctx);
    return 0;
}
