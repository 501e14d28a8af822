/*
 * test_pickle.c -- the restricted pickle machine (src/parse/pickle.c), opcode by opcode.
 *
 * Every pickle here is hand-assembled from FORMATS.md §4 (C string literals; a hex escape is
 * always closed by ending the literal, since "\x01a" would be one byte). Covered:
 *   - every opcode of protocols 0-5, its argument encoding and its effect on the stack;
 *   - memo semantics (PUT/BINPUT/LONG_BINPUT, the GET variants, MEMOIZE, overwrites) and
 *     the STACK_GLOBAL-from-memo trick of SECURITY.md P08;
 *   - marks (POP removing a mark, POP_MARK, items since the mark), stack underflow below
 *     a mark, dict/set key semantics (True == 1 == 1.0);
 *   - FRAME as the C unpickler enforces it, and the anomalies pickle.py would refuse;
 *   - errors name the opcode and the offset; records found before an error stay;
 *   - pickles back to back; truncation at every length and a byte-corruption matrix (no
 *     crash, no leak: run under ASan);
 *   - limits (stack, memo, container, nodes, opcodes) and an expansion ("billion laughs");
 *   - the symbolic table: OrderedDict, set/frozenset, bytearray, complex, _codecs.encode,
 *     numpy arrays/dtypes/scalars, torch storages, tensors (v2, v3) and parameters;
 *   - the hostile corpus (picklescan tests): every file parses to the end or to a precise
 *     error, and its dangerous globals are recorded.
 */
#include "internal.h"
#include "parse/pickle.h"
#include "parse/zip.h"
#include "t.h"

#include <dirent.h>

/* ============================================================================================
 * Harness
 * ========================================================================================== */

typedef struct run_t {
    ferry_ctx      *ctx;
    ferry__pickle  *pk;
    ferry__pk_node *root;
    uint64_t        end;
    int             rc;
} run_t;

static run_t run_lim(const char *data, size_t n, const ferry__pk_limits *lim)
{
    run_t r = {0};
    r.ctx = ferry_ctx_new(NULL);
    if (ferry__pickle_new(r.ctx, lim, &r.pk) != 0) abort();
    r.rc = ferry__pickle_run(r.pk, (const uint8_t *)data, n, 0, NULL, 0, &r.root, &r.end);
    return r;
}

static run_t run(const char *data, size_t n) { return run_lim(data, n, NULL); }

static void done(run_t *r)
{
    ferry__pickle_free(r->pk);
    ferry_ctx_free(r->ctx);
}

#define PK(lit) run(lit, sizeof(lit) - 1)

static bool has_record(const ferry__pickle *pk, int kind, const char *module, const char *name)
{
    for (size_t i = 0; i < ferry__pickle_record_count(pk); i++) {
        const ferry__pk_record *r = ferry__pickle_record(pk, i);
        if (r->kind == kind && r->module && r->name && strcmp(r->module, module) == 0 &&
            strcmp(r->name, name) == 0)
            return true;
    }
    return false;
}

static bool str_eq(const ferry__pk_node *n, const char *s, size_t len)
{
    return n && (n->kind == FERRY__PK_STR || n->kind == FERRY__PK_BYTES) && n->v.s.n == len &&
           memcmp(n->v.s.p, s, len) == 0;
}

/* ============================================================================================
 * Scalars
 * ========================================================================================== */

TEST(none_bools_ints)
{
    run_t r = PK("N.");
    CHECK(r.rc == 0 && r.root->kind == FERRY__PK_NONE && r.end == 2);
    done(&r);
    r = PK("\x80\x02\x88.");
    CHECK(r.rc == 0 && r.root->kind == FERRY__PK_BOOL && r.root->v.i == 1);
    done(&r);
    r = PK("\x89.");
    CHECK(r.rc == 0 && r.root->kind == FERRY__PK_BOOL && r.root->v.i == 0);
    done(&r);
    r = PK("I01\n.");
    CHECK(r.rc == 0 && r.root->kind == FERRY__PK_BOOL && r.root->v.i == 1);
    done(&r);
    r = PK("I00\n.");
    CHECK(r.rc == 0 && r.root->kind == FERRY__PK_BOOL && r.root->v.i == 0);
    done(&r);
    r = PK("I-123\n.");
    CHECK(r.rc == 0 && r.root->kind == FERRY__PK_INT && r.root->v.i == -123);
    done(&r);
    r = PK("I 1_000 \n.");
    CHECK(r.rc == 0 && r.root->v.i == 1000);
    done(&r);
    r = PK("I007\n.");
    CHECK(r.rc == FERRY_E_CORRUPT);
    done(&r);
    r = PK("I0x10\n.");
    CHECK(r.rc == FERRY_E_CORRUPT);
    done(&r);
    r = PK("J\xfe\xff\xff\xff.");
    CHECK(r.rc == 0 && r.root->v.i == -2);
    done(&r);
    r = PK("K\xff.");
    CHECK(r.rc == 0 && r.root->v.i == 255);
    done(&r);
    r = PK("M\x01\x02.");
    CHECK(r.rc == 0 && r.root->v.i == 0x0201);
    done(&r);
}

TEST(longs)
{
    run_t r = PK("L123L\n.");
    CHECK(r.rc == 0 && r.root->kind == FERRY__PK_INT && r.root->v.i == 123);
    done(&r);
    r = PK("L-9223372036854775808L\n.");
    CHECK(r.rc == 0 && r.root->kind == FERRY__PK_INT && r.root->v.i == INT64_MIN);
    done(&r);
    r = PK("L-1_23456789012345678901234567890L\n.");
    CHECK(r.rc == 0 && r.root->kind == FERRY__PK_BIGINT &&
          (r.root->flags & FERRY__PK_F_DECIMAL) && r.root->v.s.n == 31 &&
          memcmp(r.root->v.s.p, "-123456789012345678901234567890", 31) == 0);
    done(&r);
    r = PK("L0123L\n."); /* int('0123', 0) is a ValueError */
    CHECK(r.rc == FERRY_E_CORRUPT);
    done(&r);
    r = PK("\x8a\x00.");
    CHECK(r.rc == 0 && r.root->kind == FERRY__PK_INT && r.root->v.i == 0);
    done(&r);
    r = PK("\x8a\x01\xff.");
    CHECK(r.rc == 0 && r.root->v.i == -1);
    done(&r);
    r = PK("\x8a\x02\xff\x00.");
    CHECK(r.rc == 0 && r.root->v.i == 255);
    done(&r);
    r = PK("\x8a\x08\x00\x00\x00\x00\x00\x00\x00\x80.");
    CHECK(r.rc == 0 && r.root->kind == FERRY__PK_INT && r.root->v.i == INT64_MIN);
    done(&r);
    r = PK("\x8a\x09\x00\x00\x00\x00\x00\x00\x00\x80\x00.");
    CHECK(r.rc == 0 && r.root->kind == FERRY__PK_BIGINT && r.root->v.s.n == 9);
    done(&r);
    r = PK("\x8a\x0a\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff.");
    CHECK(r.rc == 0 && r.root->kind == FERRY__PK_INT && r.root->v.i == -1);
    done(&r);
    r = PK("\x8b\x02\x00\x00\x00\x01\x01.");
    CHECK(r.rc == 0 && r.root->v.i == 0x101);
    done(&r);
    r = PK("\x8b\xff\xff\xff\xff.");
    CHECK(r.rc == FERRY_E_CORRUPT && strstr(ferry_ctx_error(r.ctx), "negative byte count"));
    done(&r);
}

TEST(floats)
{
    run_t r = PK("F1.5\n.");
    CHECK(r.rc == 0 && r.root->kind == FERRY__PK_FLOAT && r.root->v.f == 1.5);
    done(&r);
    r = PK("F-inf\n.");
    CHECK(r.rc == 0 && r.root->v.f < -1e308);
    done(&r);
    r = PK("F1.5x\n.");
    CHECK(r.rc == FERRY_E_CORRUPT);
    done(&r);
    r = PK("G\x3f\xf8\x00\x00\x00\x00\x00\x00."); /* big-endian 1.5 */
    CHECK(r.rc == 0 && r.root->v.f == 1.5);
    done(&r);
}

TEST(strings)
{
    run_t r = PK("S'a\\x41\\n\\'\\101\\q'\n.");
    CHECK(r.rc == 0 && r.root->kind == FERRY__PK_STR && (r.root->flags & FERRY__PK_F_PY2) &&
          str_eq(r.root, "aA\n'A\\q", 7));
    done(&r);
    r = PK("S\"dq\"\n.");
    CHECK(r.rc == 0 && str_eq(r.root, "dq", 2) && r.root->v.s.src_off == 2);
    done(&r);
    r = PK("S'unquoted\n.");
    CHECK(r.rc == FERRY_E_CORRUPT && strstr(ferry_ctx_error(r.ctx), "must be quoted"));
    done(&r);
    r = PK("S'\\x4'\n.");
    CHECK(r.rc == FERRY_E_CORRUPT);
    done(&r);
    r = PK("T\x03\x00\x00\x00" "abc.");
    CHECK(r.rc == 0 && str_eq(r.root, "abc", 3) && (r.root->flags & FERRY__PK_F_PY2));
    done(&r);
    r = PK("T\xff\xff\xff\xff.");
    CHECK(r.rc == FERRY_E_CORRUPT);
    done(&r);
    r = PK("U\x02hi.");
    CHECK(r.rc == 0 && str_eq(r.root, "hi", 2));
    done(&r);
    /* raw-unicode-escape: \u after an odd run of backslashes only; latin-1 -> UTF-8 */
    r = PK("Va\\u00e9\\\\u0041\xff\n.");
    CHECK(r.rc == 0 && !(r.root->flags & FERRY__PK_F_PY2) &&
          str_eq(r.root, "a\xc3\xa9\\\\u0041\xc3\xbf", 12));
    done(&r);
    r = PK("V\\U0001F600\n.");
    CHECK(r.rc == 0 && str_eq(r.root, "\xf0\x9f\x98\x80", 4));
    done(&r);
    r = PK("V\\u12\n.");
    CHECK(r.rc == FERRY_E_CORRUPT);
    done(&r);
    r = PK("X\x02\x00\x00\x00\xc3\xa9.");
    CHECK(r.rc == 0 && str_eq(r.root, "\xc3\xa9", 2) && r.root->v.s.src_off == 5);
    done(&r);
    r = PK("X\x01\x00\x00\x00\xc3.");
    CHECK(r.rc == FERRY_E_CORRUPT && strstr(ferry_ctx_error(r.ctx), "UTF-8"));
    done(&r);
    r = PK("X\x03\x00\x00\x00\xed\xa0\x80."); /* a lone surrogate: surrogatepass */
    CHECK(r.rc == 0);
    done(&r);
    r = PK("\x8c\x03" "abc.");
    CHECK(r.rc == 0 && str_eq(r.root, "abc", 3));
    done(&r);
    r = PK("\x8d\x01\x00\x00\x00\x00\x00\x00\x00" "z.");
    CHECK(r.rc == 0 && str_eq(r.root, "z", 1));
    done(&r);
    r = PK("\x8d\x00\x00\x00\x00\x00\x00\x00\x80.");
    CHECK(r.rc == FERRY_E_CORRUPT);
    done(&r);
}

TEST(bytes)
{
    run_t r = PK("B\x02\x00\x00\x00\x00\x01.");
    CHECK(r.rc == 0 && r.root->kind == FERRY__PK_BYTES && str_eq(r.root, "\0\1", 2));
    done(&r);
    r = PK("C\x01\x07.");
    CHECK(r.rc == 0 && r.root->kind == FERRY__PK_BYTES && r.root->v.s.n == 1);
    done(&r);
    r = PK("\x8e\x03\x00\x00\x00\x00\x00\x00\x00" "xyz.");
    CHECK(r.rc == 0 && r.root->kind == FERRY__PK_BYTES && str_eq(r.root, "xyz", 3));
    done(&r);
    r = PK("\x96\x01\x00\x00\x00\x00\x00\x00\x00" "q.");
    CHECK(r.rc == 0 && r.root->kind == FERRY__PK_BYTES &&
          (r.root->flags & FERRY__PK_F_BYTEARRAY));
    done(&r);
    r = PK("B\x10\x00\x00\x00" "short.");
    CHECK(r.rc == FERRY_E_CORRUPT && strstr(ferry_ctx_error(r.ctx), "truncated"));
    done(&r);
}

/* ============================================================================================
 * Containers, marks, stack
 * ========================================================================================== */

TEST(containers)
{
    run_t r = PK("(I1\nI2\nl.");
    CHECK(r.rc == 0 && r.root->kind == FERRY__PK_LIST && r.root->v.c.n == 2 &&
          r.root->v.c.items[1]->v.i == 2);
    done(&r);
    r = PK("(I1\nt.");
    CHECK(r.rc == 0 && r.root->kind == FERRY__PK_TUPLE && r.root->v.c.n == 1);
    done(&r);
    r = PK("(S'a'\nI1\nd.");
    CHECK(r.rc == 0 && r.root->kind == FERRY__PK_DICT && r.root->v.c.n == 1);
    done(&r);
    r = PK("(I1\nd.");
    CHECK(r.rc == FERRY_E_CORRUPT && strstr(ferry_ctx_error(r.ctx), "odd number"));
    done(&r);
    r = PK("\x80\x02K\x01K\x02K\x03\x87.");
    CHECK(r.rc == 0 && r.root->kind == FERRY__PK_TUPLE && r.root->v.c.n == 3 &&
          r.root->v.c.items[2]->v.i == 3);
    done(&r);
    r = PK("K\x01\x85.");
    CHECK(r.rc == 0 && r.root->v.c.n == 1);
    done(&r);
    r = PK("K\x01\x86.");
    CHECK(r.rc == FERRY_E_CORRUPT && strstr(ferry_ctx_error(r.ctx), "underflow"));
    done(&r);
    r = PK(").");
    CHECK(r.rc == 0 && r.root->kind == FERRY__PK_TUPLE && r.root->v.c.n == 0);
    done(&r);
    /* items since a mark on a machine that never pushed anything (fuzzer regression) */
    r = PK("(t.");
    CHECK(r.rc == 0 && r.root->kind == FERRY__PK_TUPLE && r.root->v.c.n == 0);
    done(&r);
    r = PK("(imod\nCls\n.");
    CHECK(r.rc == 0 && r.root->kind == FERRY__PK_CALL && r.root->v.call.args->v.c.n == 0);
    done(&r);
    r = PK("]K\x01" "aK\x02" "a(K\x03K\x04" "e.");
    CHECK(r.rc == 0 && r.root->kind == FERRY__PK_LIST && r.root->v.c.n == 4 &&
          r.root->v.c.items[3]->v.i == 4);
    done(&r);
    /* SETITEM / SETITEMS with Python key equality: 1, True and 1.0 are one key */
    r = PK("}K\x01K\x0asI01\nK\x0bs(G\x3f\xf0\x00\x00\x00\x00\x00\x00K\x0cU\x01kK\x0du.");
    CHECK(r.rc == 0 && r.root->kind == FERRY__PK_DICT && r.root->v.c.n == 2 &&
          r.root->v.c.items[0]->v.i == 1 && r.root->v.c.items[1]->v.i == 12);
    done(&r);
    r = PK("}(K\x01u.");
    CHECK(r.rc == FERRY_E_CORRUPT && strstr(ferry_ctx_error(r.ctx), "odd number of items"));
    done(&r);
    /* sets */
    r = PK("\x8f(K\x01K\x02K\x01\x90.");
    CHECK(r.rc == 0 && r.root->kind == FERRY__PK_SET && r.root->v.c.n == 2 &&
          !(r.root->flags & FERRY__PK_F_FROZEN));
    done(&r);
    r = PK("(K\x01K\x01\x91.");
    CHECK(r.rc == 0 && r.root->kind == FERRY__PK_SET && r.root->v.c.n == 1 &&
          (r.root->flags & FERRY__PK_F_FROZEN));
    done(&r);
    /* operations on the wrong kind of target are dropped and flagged */
    r = PK("K\x01K\x02" "a.");
    CHECK(r.rc == 0 && (ferry__pickle_anomalies(r.pk) & FERRY__PK_A_APPEND_NONLIST));
    done(&r);
    r = PK("]K\x01K\x02s.");
    CHECK(r.rc == 0 && (ferry__pickle_anomalies(r.pk) & FERRY__PK_A_SETITEM_NONDICT));
    done(&r);
}

TEST(marks_and_stack)
{
    run_t r = PK("K\x01(0."); /* POP removes the mark on top */
    CHECK(r.rc == 0 && r.root->v.i == 1);
    done(&r);
    r = PK("K\x01(K\x02K\x03" "1.");
    CHECK(r.rc == 0 && r.root->v.i == 1);
    done(&r);
    r = PK("K\x01" "2t.");
    CHECK(r.rc == FERRY_E_CORRUPT && strstr(ferry_ctx_error(r.ctx), "MARK"));
    done(&r);
    r = PK("K\x01(2.");
    CHECK(r.rc == FERRY_E_CORRUPT && strstr(ferry_ctx_error(r.ctx), "underflow"));
    done(&r);
    r = PK("K\x01" "2\x86.");
    CHECK(r.rc == 0 && r.root->v.c.items[0] == r.root->v.c.items[1]);
    done(&r);
    r = PK("0.");
    CHECK(r.rc == FERRY_E_CORRUPT && strstr(ferry_ctx_error(r.ctx), "underflow") &&
          strstr(ferry_ctx_error(r.ctx), "POP") && strstr(ferry_ctx_error(r.ctx), "offset 0"));
    done(&r);
    r = PK(".");
    CHECK(r.rc == FERRY_E_CORRUPT);
    done(&r);
    r = PK("(.");
    CHECK(r.rc == FERRY_E_CORRUPT);
    done(&r);
    r = PK("K\x01");
    CHECK(r.rc == FERRY_E_CORRUPT && strstr(ferry_ctx_error(r.ctx), "without STOP"));
    done(&r);
    r = PK("K\x01\xff.");
    CHECK(r.rc == FERRY_E_CORRUPT && strstr(ferry_ctx_error(r.ctx), "0xFF") &&
          strstr(ferry_ctx_error(r.ctx), "offset 2") && r.end == 2);
    done(&r);
}

TEST(memo)
{
    run_t r = PK("K\x07p3\n0g3\n.");
    CHECK(r.rc == 0 && r.root->v.i == 7);
    done(&r);
    r = PK("K\x07q\x05" "0h\x05.");
    CHECK(r.rc == 0 && r.root->v.i == 7);
    done(&r);
    r = PK("K\x07r\xff\xff\xff\xff" "0j\xff\xff\xff\xff.");
    CHECK(r.rc == 0 && r.root->v.i == 7);
    done(&r);
    r = PK("K\x07\x94K\x08\x94" "00h\x01.");
    CHECK(r.rc == 0 && r.root->v.i == 8);
    done(&r);
    r = PK("K\x07q\x00K\x08q\x00h\x00.");
    CHECK(r.rc == 0 && r.root->v.i == 8 &&
          (ferry__pickle_anomalies(r.pk) & FERRY__PK_A_MEMO_OVERWRITE));
    done(&r);
    r = PK("h\x09.");
    CHECK(r.rc == FERRY_E_CORRUPT && strstr(ferry_ctx_error(r.ctx), "memo value not found"));
    done(&r);
    r = PK("K\x01p-1\n.");
    CHECK(r.rc == FERRY_E_CORRUPT && strstr(ferry_ctx_error(r.ctx), "negative PUT"));
    done(&r);
    r = PK("q\x01.");
    CHECK(r.rc == FERRY_E_CORRUPT);
    done(&r);
    /* P08: STACK_GLOBAL operands from the memo, after the memo was overwritten */
    r = PK("\x80\x04\x8c\x05torch\x94\x8c\x0bLongStorage\x94" "00"
           "\x8c\x02os\x94\x8c\x06system\x94" "00"
           "h\x02h\x03\x93)R.");
    CHECK(r.rc == 0 && has_record(r.pk, FERRY__PK_R_STACK_GLOBAL, "os", "system") &&
          has_record(r.pk, FERRY__PK_R_REDUCE, "os", "system") &&
          !has_record(r.pk, FERRY__PK_R_STACK_GLOBAL, "torch", "LongStorage"));
    done(&r);
}

/* ============================================================================================
 * Globals and calls
 * ========================================================================================== */

TEST(globals_and_calls)
{
    run_t r = PK("cos\nsystem\n(S'echo'\ntR.");
    CHECK(r.rc == 0 && r.root->kind == FERRY__PK_CALL &&
          has_record(r.pk, FERRY__PK_R_GLOBAL, "os", "system") &&
          has_record(r.pk, FERRY__PK_R_REDUCE, "os", "system"));
    CHECK(ferry__pickle_record(r.pk, 0)->off == 0 && ferry__pickle_record(r.pk, 1)->off == 21);
    done(&r);
    r = PK("(S'x'\nimod\nCls\n.");
    CHECK(r.rc == 0 && r.root->kind == FERRY__PK_CALL && r.root->v.call.args->v.c.n == 1 &&
          has_record(r.pk, FERRY__PK_R_INST, "mod", "Cls"));
    done(&r);
    r = PK("(cmod\nCls\nK\x01o.");
    CHECK(r.rc == 0 && r.root->kind == FERRY__PK_CALL &&
          has_record(r.pk, FERRY__PK_R_OBJ, "mod", "Cls"));
    done(&r);
    r = PK("(o.");
    CHECK(r.rc == FERRY_E_CORRUPT);
    done(&r);
    r = PK("\x80\x02" "cmod\nCls\n)\x81}(U\x01" "aK\x01ub.");
    CHECK(r.rc == 0 && r.root->kind == FERRY__PK_NEWOBJ && r.root->state &&
          r.root->state->kind == FERRY__PK_DICT &&
          has_record(r.pk, FERRY__PK_R_NEWOBJ, "mod", "Cls") &&
          has_record(r.pk, FERRY__PK_R_BUILD, "mod", "Cls"));
    done(&r);
    r = PK("\x80\x04\x8c\x03mod\x8c\x03" "Cls\x93)}\x92.");
    CHECK(r.rc == 0 && r.root->kind == FERRY__PK_NEWOBJ &&
          has_record(r.pk, FERRY__PK_R_NEWOBJ_EX, "mod", "Cls"));
    done(&r);
    r = PK("cmod\nf\nK\x01R.");
    CHECK(r.rc == FERRY_E_CORRUPT && strstr(ferry_ctx_error(r.ctx), "REDUCE") &&
          has_record(r.pk, FERRY__PK_R_REDUCE, "mod", "f"));
    done(&r);
    /* REDUCE on the result of REDUCE (SECURITY P05) */
    r = PK("cmod\nf\n)R)R.");
    CHECK(r.rc == 0 && (ferry__pickle_anomalies(r.pk) & FERRY__PK_A_CALL_RESULT));
    done(&r);
    /* BUILD on a module object (P11) */
    r = PK("cbuiltins\nsys\n}b.");
    CHECK(r.rc == 0 && (ferry__pickle_anomalies(r.pk) & FERRY__PK_A_BUILD_GLOBAL));
    done(&r);
    /* STACK_GLOBAL operands: any string opcode (P10), not ints */
    r = PK("\x80\x04S'os'\nS'system'\n\x93.");
    CHECK(r.rc == 0 && has_record(r.pk, FERRY__PK_R_STACK_GLOBAL, "os", "system"));
    done(&r);
    r = PK("\x80\x04K\x01K\x02\x93.");
    CHECK(r.rc == FERRY_E_CORRUPT && ferry__pickle_record_count(r.pk) == 1 &&
          ferry__pickle_record(r.pk, 0)->module == NULL);
    done(&r);
    r = PK("cos\x00x\nsystem\n.");
    CHECK(r.rc == FERRY_E_CORRUPT);
    done(&r);
    /* payload, then a broken stream (P14): the record survives the error */
    r = PK("cposix\nsystem\n(S'x'\ntR\xff");
    CHECK(r.rc == FERRY_E_CORRUPT && has_record(r.pk, FERRY__PK_R_REDUCE, "posix", "system"));
    done(&r);
}

TEST(ext_persid_buffers_proto)
{
    run_t r = PK("\x82\x05.");
    CHECK(r.rc == 0 && r.root->kind == FERRY__PK_EXT && r.root->v.i == 5 &&
          ferry__pickle_record(r.pk, 0)->kind == FERRY__PK_R_EXT &&
          ferry__pickle_record(r.pk, 0)->ext_code == 5);
    done(&r);
    r = PK("\x83\x01\x01.");
    CHECK(r.rc == 0 && r.root->v.i == 257);
    done(&r);
    r = PK("\x84\x00\x00\x00\x00.");
    CHECK(r.rc == FERRY_E_CORRUPT && strstr(ferry_ctx_error(r.ctx), "code <= 0"));
    done(&r);
    r = PK("Pkey1\n.");
    CHECK(r.rc == 0 && r.root->kind == FERRY__PK_PERSID &&
          str_eq(r.root->v.call.args, "key1", 4));
    done(&r);
    r = PK("K\x01Q.");
    CHECK(r.rc == 0 && r.root->kind == FERRY__PK_PERSID);
    done(&r);
    r = PK("\x80\x05\x97\x98.");
    CHECK(r.rc == 0 && r.root->kind == FERRY__PK_BUFFER &&
          (r.root->flags & FERRY__PK_F_READONLY) &&
          (ferry__pickle_anomalies(r.pk) & FERRY__PK_A_OOB_BUFFER));
    done(&r);
    r = PK("\x80\x06N.");
    CHECK(r.rc == FERRY_E_UNSUPPORTED && strstr(ferry_ctx_error(r.ctx), "protocol: 6"));
    done(&r);
    r = PK("\x80\x05N.");
    CHECK(r.rc == 0 && ferry__pickle_protocol(r.pk) == 5);
    done(&r);
}

TEST(frames)
{
    run_t r = PK("\x80\x04\x95\x02\x00\x00\x00\x00\x00\x00\x00K\x01.");
    CHECK(r.rc == 0 && r.root->v.i == 1 && ferry__pickle_anomalies(r.pk) == 0);
    done(&r);
    r = PK("\x80\x04\x95\x09\x00\x00\x00\x00\x00\x00\x00K\x01.");
    CHECK(r.rc == FERRY_E_CORRUPT && strstr(ferry_ctx_error(r.ctx), "FRAME") &&
          strstr(ferry_ctx_error(r.ctx), "truncated"));
    done(&r);
    /* a frame ending inside BININT: fine for C, refused by pickle.py */
    r = PK("\x80\x04\x95\x02\x00\x00\x00\x00\x00\x00\x00J\x01\x00\x00\x00.");
    CHECK(r.rc == 0 && (ferry__pickle_anomalies(r.pk) & FERRY__PK_A_FRAME_CROSS));
    done(&r);
    r = PK("\x95\x0a\x00\x00\x00\x00\x00\x00\x00\x95\x01\x00\x00\x00\x00\x00\x00\x00N.");
    CHECK(r.rc == 0 && (ferry__pickle_anomalies(r.pk) & FERRY__PK_A_FRAME_EARLY));
    done(&r);
    r = PK("\x95\x01\x00\x00");
    CHECK(r.rc == FERRY_E_CORRUPT);
    done(&r);
}

TEST(back_to_back)
{
    static const char two[] = "K\x01.\x80\x02K\x02.cos\nsystem\n.";
    ferry_ctx *ctx = ferry_ctx_new(NULL);
    ferry__pickle *pk = NULL;
    CHECK(ferry__pickle_new(ctx, NULL, &pk) == 0);
    ferry__pk_node *root = NULL;
    uint64_t end = 0, pos = 0;
    int vals[2] = {0, 0};
    for (int i = 0; i < 3; i++) {
        CHECK(ferry__pickle_run(pk, (const uint8_t *)two, sizeof two - 1, pos, NULL, 0, &root,
                                &end) == 0);
        if (i < 2 && root) vals[i] = (int)root->v.i;
        pos = end;
    }
    CHECK(vals[0] == 1 && vals[1] == 2 && end == sizeof two - 1);
    CHECK(has_record(pk, FERRY__PK_R_GLOBAL, "os", "system") &&
          ferry__pickle_record(pk, 0)->pickle == 2 && ferry__pickle_record(pk, 0)->off == 8);
    /* the memo does not survive from one pickle to the next */
    CHECK(ferry__pickle_run(pk, (const uint8_t *)"K\x01q\x00.h\x00.", 8, 0, NULL, 0, &root,
                            &end) == 0);
    CHECK(ferry__pickle_run(pk, (const uint8_t *)"K\x01q\x00.h\x00.", 8, end, NULL, 0, &root,
                            &end) == FERRY_E_CORRUPT);
    ferry__pickle_free(pk);
    ferry_ctx_free(ctx);
}

/* ============================================================================================
 * Limits and expansion
 * ========================================================================================== */

TEST(limits)
{
    ferry__pk_limits lim = {.max_stack = 4};
    run_t r = run_lim("K\x01K\x01K\x01K\x01K\x01.", 11, &lim);
    CHECK(r.rc == FERRY_E_LIMIT && strstr(ferry_ctx_error(r.ctx), "stack"));
    done(&r);
    r = run_lim("((((((.", 7, &lim);
    CHECK(r.rc == FERRY_E_LIMIT);
    done(&r);
    lim = (ferry__pk_limits){.max_memo = 2};
    r = run_lim("K\x01q\x01q\x02q\x03.", 9, &lim);
    CHECK(r.rc == FERRY_E_LIMIT && strstr(ferry_ctx_error(r.ctx), "memo"));
    done(&r);
    lim = (ferry__pk_limits){.max_container = 2};
    r = run_lim("(K\x01K\x02K\x03l.", 9, &lim);
    CHECK(r.rc == FERRY_E_LIMIT);
    done(&r);
    r = run_lim("](K\x01K\x02K\x03" "e.", 10, &lim);
    CHECK(r.rc == FERRY_E_LIMIT);
    done(&r);
    lim = (ferry__pk_limits){.max_nodes = 3};
    r = run_lim("K\x01K\x01K\x01K\x01.", 9, &lim);
    CHECK(r.rc == FERRY_E_LIMIT);
    done(&r);
    lim = (ferry__pk_limits){.max_ops = 3};
    r = run_lim("NNNN.", 5, &lim);
    CHECK(r.rc == FERRY_E_LIMIT && strstr(ferry_ctx_error(r.ctx), "opcodes"));
    done(&r);
    /* string longer than the context's string limit: refused before anything else */
    ferry_ctx *ctx = ferry_ctx_new(NULL);
    ferry_limits cl = {.struct_size = sizeof cl, .string_length = 2};
    ferry_ctx_set_limits(ctx, &cl);
    ferry__pickle *pk = NULL;
    ferry__pk_node *root;
    uint64_t end;
    CHECK(ferry__pickle_new(ctx, NULL, &pk) == 0);
    CHECK(ferry__pickle_run(pk, (const uint8_t *)"C\x03" "abc.", 6, 0, NULL, 0, &root, &end) ==
          FERRY_E_LIMIT);
    ferry__pickle_free(pk);
    ferry_ctx_free(ctx);
}

TEST(expansion)
{
    /* "billion laughs" (SECURITY P18): each step doubles the logical size, the machine stays
     * linear because values are shared, never copied. */
    char buf[4096];
    size_t n = 0;
    buf[n++] = 'N';
    for (int i = 0; i < 200; i++) {
        buf[n++] = '2';
        buf[n++] = (char)0x86; /* TUPLE2 of the same value twice */
    }
    buf[n++] = '.';
    run_t r = run(buf, n);
    CHECK(r.rc == 0 && r.root->kind == FERRY__PK_TUPLE);
    done(&r);
}

/* ============================================================================================
 * The symbolic table
 * ========================================================================================== */

TEST(symbolic_builtins)
{
    run_t r = PK("\x80\x02" "ccollections\nOrderedDict\n)R(U\x01" "aK\x01u}b.");
    CHECK(r.rc == 0 && r.root->kind == FERRY__PK_DICT && (r.root->flags & FERRY__PK_F_ORDERED));
    done(&r);
    r = PK("c__builtin__\nset\n(]K\x01" "aK\x01" "atR.");
    CHECK(r.rc == 0 && r.root->kind == FERRY__PK_SET && r.root->v.c.n == 1);
    done(&r);
    r = PK("cbuiltins\nfrozenset\n(]tR.");
    CHECK(r.rc == 0 && r.root->kind == FERRY__PK_SET && (r.root->flags & FERRY__PK_F_FROZEN));
    done(&r);
    r = PK("cbuiltins\nbytearray\n(C\x02hit\x85R.");
    CHECK(r.rc == FERRY_E_CORRUPT || r.rc == 0);
    done(&r);
    r = PK("cbuiltins\nbytearray\nC\x02hi\x85R.");
    CHECK(r.rc == 0 && r.root->kind == FERRY__PK_BYTES && (r.root->flags & FERRY__PK_F_BYTEARRAY));
    done(&r);
    r = PK("cbuiltins\ncomplex\nG\x3f\xf8\x00\x00\x00\x00\x00\x00K\x02\x86R.");
    CHECK(r.rc == 0 && r.root->kind == FERRY__PK_COMPLEX && r.root->v.cx[0] == 1.5 &&
          r.root->v.cx[1] == 2.0);
    done(&r);
    /* _codecs.encode(latin-1 text): how protocol 2 pickles bytes */
    r = PK("\x80\x02" "c_codecs\nencode\nX\x04\x00\x00\x00" "a\xc3\xbf"
           "bX\x06\x00\x00\x00latin1\x86R.");
    CHECK(r.rc == 0 && r.root->kind == FERRY__PK_BYTES && str_eq(r.root, "a\xff" "b", 3));
    done(&r);
    r = PK("\x80\x02" "c_codecs\nencode\nX\x02\x00\x00\x00\xc4\x80X\x06\x00\x00\x00latin1\x86R.");
    CHECK(r.rc == 0 && r.root->kind == FERRY__PK_CALL); /* U+0100 is not latin-1 */
    done(&r);
}

TEST(symbolic_numpy)
{
    /* np.arange(3, dtype='<i2') pickled with protocol 2 (numpy 1.x module names) */
    static const char p[] =
        "\x80\x02" "cnumpy.core.multiarray\n_reconstruct\nq\x00"
        "cnumpy\nndarray\nq\x01K\x00\x85q\x02" "C\x01" "b\x87R"
        "(K\x01K\x03\x85" "cnumpy\ndtype\nX\x02\x00\x00\x00i2\x89\x88\x87R"
        "(K\x03X\x01\x00\x00\x00<NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb"
        "\x89" "C\x06\x00\x00\x01\x00\x02\x00tb.";
    run_t r = PK(p);
    CHECK(r.rc == 0 && r.root && r.root->kind == FERRY__PK_ARRAY);
    if (r.rc == 0 && r.root->kind == FERRY__PK_ARRAY) {
        const ferry__pk_array *a = r.root->v.arr;
        ferry_dtype dt;
        uint32_t isz;
        bool big;
        CHECK(a->built && a->ndim == 1 && a->shape[0] == 3 && !a->fortran);
        CHECK(ferry__pk_numpy_dtype(a->dtype, &dt, &isz, &big) && dt == FERRY_DTYPE_I16 &&
              isz == 2 && !big);
        CHECK(a->data->v.s.n == 6 && a->data->v.s.src_off > 0);
    }
    done(&r);
    r = PK("cnumpy._core.multiarray\nscalar\ncnumpy\ndtype\n(S'f8'\nI00\nI01\ntR"
           "(I3\nS'>'\nNNNI-1\nI-1\nI0\ntbC\x08\x3f\xf0\x00\x00\x00\x00\x00\x00\x86R.");
    CHECK(r.rc == 0 && r.root->kind == FERRY__PK_ARRAY && r.root->v.arr->ndim == 0);
    if (r.rc == 0 && r.root->kind == FERRY__PK_ARRAY) {
        ferry_dtype dt;
        uint32_t isz;
        bool big;
        CHECK(ferry__pk_numpy_dtype(r.root->v.arr->dtype, &dt, &isz, &big) &&
              dt == FERRY_DTYPE_F64 && big);
    }
    done(&r);
}

TEST(symbolic_torch)
{
    /* _rebuild_tensor_v2(('storage', FloatStorage, '0', 'cpu', 6), 1, (2, 2), (2, 1), False,
     * OrderedDict()), wrapped by _rebuild_parameter */
    static const char p[] =
        "\x80\x02" "ctorch._utils\n_rebuild_parameter\n"
        "ctorch._utils\n_rebuild_tensor_v2\n"
        "((X\x07\x00\x00\x00storagectorch\nFloatStorage\nX\x01\x00\x00\x00" "0"
        "X\x03\x00\x00\x00" "cpuK\x06tQ"
        "K\x01K\x02K\x02\x86K\x02K\x01\x86\x89" "ccollections\nOrderedDict\n)Rt"
        "R\x88" "ccollections\nOrderedDict\n)R\x87R.";
    run_t r = PK(p);
    CHECK(r.rc == 0 && r.root && r.root->kind == FERRY__PK_TENSOR);
    if (r.rc == 0 && r.root->kind == FERRY__PK_TENSOR) {
        const ferry__pk_tensor *t = r.root->v.ten;
        CHECK(t->version == 2 && t->dtype == FERRY_DTYPE_F32 && t->offset == 1 &&
              t->ndim == 2 && t->shape[0] == 2 && t->stride[0] == 2 && t->parameter &&
              t->requires_grad);
        CHECK(t->storage->kind == FERRY__PK_STORAGE &&
              strcmp(t->storage->v.st->key, "0") == 0 && t->storage->v.st->numel == 6 &&
              strcmp(t->storage->v.st->location, "cpu") == 0);
    }
    done(&r);
    static const char v3[] =
        "\x80\x02" "ctorch._utils\n_rebuild_tensor_v3\n"
        "((X\x07\x00\x00\x00storagectorch\nUntypedStorage\nX\x01\x00\x00\x00" "3"
        "X\x03\x00\x00\x00" "cpuK\x04tQ"
        "K\x00K\x04\x85K\x01\x85\x89" "ccollections\nOrderedDict\n)R"
        "ctorch\nfloat8_e4m3fn\nNt"
        "R.";
    r = PK(v3);
    CHECK(r.rc == 0 && r.root && r.root->kind == FERRY__PK_TENSOR);
    if (r.rc == 0 && r.root->kind == FERRY__PK_TENSOR)
        CHECK(r.root->v.ten->version == 3 && r.root->v.ten->dtype == FERRY_DTYPE_F8_E4M3FN &&
              r.root->v.ten->storage->v.st->dtype == FERRY_DTYPE_UNKNOWN);
    done(&r);
    /* a negative size leaves the call opaque (the format module refuses it) */
    r = PK("ctorch._utils\n_rebuild_tensor_v2\n(K\x01K\x00J\xff\xff\xff\xff\x85K\x01\x85tR.");
    CHECK(r.rc == 0 && r.root->kind == FERRY__PK_CALL);
    done(&r);
    CHECK(ferry__pk_torch_dtype("bfloat16") == FERRY_DTYPE_BF16);
    CHECK(ferry__pk_torch_dtype("ComplexFloatStorage") == FERRY_DTYPE_C64);
    CHECK(ferry__pk_torch_dtype("QInt8Storage") == FERRY_DTYPE_UNKNOWN);
}

/* ============================================================================================
 * Robustness: truncation and corruption matrices
 * ========================================================================================== */

static const char sample[] =
    "\x80\x04\x95\x5e\x00\x00\x00\x00\x00\x00\x00}\x94(\x8c\x01" "a\x94K\x01\x8c\x01" "b\x94"
    "]\x94(G\x3f\xf8\x00\x00\x00\x00\x00\x00\x8a\x09\x00\x00\x00\x00\x00\x00\x00\x00\x01"
    "C\x02hi\x8c\x03mod\x94\x8c\x03" "Cls\x94\x93)\x81}b\x88\x89N\x8f(K\x01\x90h\x01"
    "\x8c\x01" "c\x94\x8c\x01" "de\x8c\x01" "e\x94" "cos\nsystem\n)Ru.";

TEST(sample_parses)
{
    run_t r = run(sample, sizeof sample - 1);
    CHECK_MSG(r.rc == 0, "%s", ferry_ctx_error(r.ctx));
    CHECK(r.rc == 0 && r.root->kind == FERRY__PK_DICT && r.root->v.c.n == 3);
    done(&r);
}

TEST(truncation_matrix)
{
    size_t n = sizeof sample - 1;
    for (size_t k = 0; k < n; k++) {
        char *b = malloc(k ? k : 1); /* exact size: ASan sees any overread */
        memcpy(b, sample, k);
        run_t r = run(b, k);
        CHECK_MSG(r.rc < 0, "truncated at %zu parsed", k);
        CHECK(strstr(ferry_ctx_error(r.ctx), "offset") != NULL);
        done(&r);
        free(b);
    }
}

TEST(corruption_matrix)
{
    static const uint8_t vals[] = {0x00, 0x01, 0x28, 0x2e, 0x30, 0x7f, 0x80, 0x93, 0x95, 0xff};
    size_t n = sizeof sample - 1;
    int ok = 0, bad = 0;
    for (size_t k = 0; k < n; k++)
        for (size_t v = 0; v < sizeof vals; v++) {
            char *b = malloc(n);
            memcpy(b, sample, n);
            b[k] = (char)vals[v];
            run_t r = run(b, n);
            if (r.rc == 0) ok++;
            else {
                bad++;
                CHECK(strstr(ferry_ctx_error(r.ctx), "offset") != NULL);
            }
            done(&r);
            free(b);
        }
    CHECK(ok > 0 && bad > 0);
}

/* ============================================================================================
 * The hostile corpus: parse only, record the globals
 * ========================================================================================== */

typedef struct corpus_stats {
    int files;
    int pickles;
    int errors;
    int dangerous;
} corpus_stats;

static bool is_dangerous(const ferry__pickle *pk)
{
    static const char *const bad[][2] = {{"os", "system"}, {"posix", "system"},
                                         {"builtins", "eval"}, {"__builtin__", "eval"},
                                         {"builtins", "exec"}, {"subprocess", "Popen"},
                                         {"nt", "system"}, {"runpy", "_run_code"},
                                         {"builtins", "getattr"}, {"webbrowser", "open"}};
    for (size_t i = 0; i < ferry__pickle_record_count(pk); i++) {
        const ferry__pk_record *r = ferry__pickle_record(pk, i);
        if (!r->module) continue;
        for (size_t j = 0; j < FERRY_ARRAY_LEN(bad); j++)
            if (strcmp(r->module, bad[j][0]) == 0 && strcmp(r->name, bad[j][1]) == 0)
                return true;
    }
    return false;
}

/* Runs pickles back to back over bytes until the end, an error, or a non-pickle byte. */
static void scan_bytes(ferry_ctx *ctx, const uint8_t *d, size_t n, corpus_stats *st,
                       const char *name)
{
    ferry__pickle *pk = NULL;
    if (ferry__pickle_new(ctx, NULL, &pk) != 0) return;
    if (getenv("FERRY_TEST_VERBOSE")) fprintf(stderr, "%s\n", name);
    uint64_t pos = 0;
    for (int i = 0; i < 16 && pos < n; i++) {
        ferry__pk_node *root;
        uint64_t end;
        int rc = ferry__pickle_run(pk, d, n, pos, NULL, 0, &root, &end);
        if (rc < 0) {
            st->errors++;
            if (getenv("FERRY_TEST_VERBOSE")) fprintf(stderr, "  %s\n", ferry_ctx_error(ctx));
            CHECK(strstr(ferry_ctx_error(ctx), "pickle") != NULL);
            break;
        }
        st->pickles++;
        pos = end;
    }
    if (is_dangerous(pk)) st->dangerous++;
    ferry__pickle_free(pk);
}

static void scan_file(const char *path, corpus_stats *st)
{
    ferry_ctx *ctx = ferry_ctx_new(NULL);
    ferry_source *src = NULL;
    if (ferry_source_open_file(ctx, path, &src) != 0) {
        ferry_ctx_free(ctx);
        return;
    }
    st->files++;
    uint64_t size = ferry_source_size(src);
    const uint8_t *d = ferry_source_map(src, 0, size);
    if (d && size >= 4 && d[0] == 'P' && d[1] == 'K') {
        ferry__zip *z = NULL;
        if (ferry__zip_open(ctx, src, NULL, &z) == 0) {
            for (int64_t i = 0; i < ferry__zip_count(z); i++) {
                const ferry__zip_entry *e = ferry__zip_entry_at(z, i);
                size_t l = e->name_len;
                if (l < 4 || strcmp(e->name + l - 4, ".pkl") != 0) continue;
                ferry_source *ms = NULL;
                if (ferry__zip_entry_source(z, i, &ms) == 0) {
                    uint64_t ms_n = ferry_source_size(ms);
                    const uint8_t *md = ferry_source_map(ms, 0, ms_n);
                    if (md) scan_bytes(ctx, md, (size_t)ms_n, st, e->name);
                    ferry_source_close(ms);
                }
            }
            ferry__zip_close(z);
        }
    } else if (d && size) {
        scan_bytes(ctx, d, (size_t)size, st, path);
    }
    ferry_source_close(src);
    ferry_ctx_free(ctx);
}

static void walk_dir(const char *dir, int depth, corpus_stats *st)
{
    DIR *dp = opendir(dir);
    if (!dp) return;
    struct dirent *e;
    while ((e = readdir(dp)) != NULL) {
        if (e->d_name[0] == '.') continue;
        char p[4096];
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        struct stat sb;
        if (stat(p, &sb) != 0) continue;
        if (S_ISDIR(sb.st_mode)) {
            if (depth < 8) walk_dir(p, depth + 1, st);
        } else if (S_ISREG(sb.st_mode)) {
            scan_file(p, st);
        }
    }
    closedir(dp);
}

TEST(hostile_corpus)
{
    const char *base = t_shared("corpus/pickle");
    if (!base) return;
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", base);
    corpus_stats st = {0};
    walk_dir(dir, 0, &st);
    fprintf(stderr, "pickle corpus: %d files, %d pickles, %d errors, %d with dangerous calls\n",
            st.files, st.pickles, st.errors, st.dangerous);
    CHECK(st.files > 50);
    CHECK(st.dangerous >= 10);
}

TEST(generated_pickles)
{
    static const char *const files[] = {"pickle_proto0.pkl", "pickle_proto1.pkl",
                                        "pickle_proto2.pkl", "pickle_proto3.pkl",
                                        "pickle_proto4.pkl", "pickle_proto5.pkl",
                                        "pickle_numpy_proto2.pkl",
                                        "pickle_numpy_proto5_oob.pkl", "dill_lambda.pkl",
                                        "sklearn_logreg.pkl"};
    for (size_t i = 0; i < FERRY_ARRAY_LEN(files); i++) {
        char rel[256];
        snprintf(rel, sizeof rel, "corpus/generated/%s", files[i]);
        const char *path = t_shared(rel);
        if (!path) return;
        ferry_ctx *ctx = ferry_ctx_new(NULL);
        ferry_source *src = NULL;
        CHECK(ferry_source_open_file(ctx, path, &src) == 0);
        uint64_t n = ferry_source_size(src);
        const uint8_t *d = ferry_source_map(src, 0, n);
        ferry__pickle *pk = NULL;
        CHECK(ferry__pickle_new(ctx, NULL, &pk) == 0);
        ferry__pk_node *root = NULL;
        uint64_t end = 0;
        int rc = ferry__pickle_run(pk, d, (size_t)n, 0, src, 0, &root, &end);
        CHECK_MSG(rc == 0 && end == n, "%s: %s", files[i], ferry_ctx_error(ctx));
        if (rc == 0 && strstr(files[i], "numpy_proto2"))
            CHECK(has_record(pk, FERRY__PK_R_REDUCE, "numpy.core.multiarray", "_reconstruct"));
        ferry__pickle_free(pk);
        ferry_source_close(src);
        ferry_ctx_free(ctx);
    }
}

int main(void)
{
    RUN(none_bools_ints);
    RUN(longs);
    RUN(floats);
    RUN(strings);
    RUN(bytes);
    RUN(containers);
    RUN(marks_and_stack);
    RUN(memo);
    RUN(globals_and_calls);
    RUN(ext_persid_buffers_proto);
    RUN(frames);
    RUN(back_to_back);
    RUN(limits);
    RUN(expansion);
    RUN(symbolic_builtins);
    RUN(symbolic_numpy);
    RUN(symbolic_torch);
    RUN(sample_parses);
    RUN(truncation_matrix);
    RUN(corruption_matrix);
    RUN(hostile_corpus);
    RUN(generated_pickles);
    return t_finish("pickle");
}
