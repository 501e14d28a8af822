/*
 * test_json.c -- the shared JSON reader (src/parse/json.c): grammar, strings and escapes,
 * surrogates, UTF-8, numbers (integer classes, correct rounding, sticky digits, out of range),
 * whitespace and trailing bytes, nesting limits, duplicate keys, the pull reader and skip,
 * the tree it builds, error messages with offsets, failing allocations, and the writer side
 * (string escaping like serde_json, shortest float formatting like Python's repr).
 */
#include "internal.h"
#include "parse/json.h"
#include "t.h"

#include <locale.h>
#include <math.h>

static ferry_ctx *g_ctx;

/* ---- helpers ------------------------------------------------------------------------------- */

/* Parses text (length n) into a fresh model whose root gets the value under key "v". */
static int parse_n(const char *text, size_t n, unsigned flags, ferry_model **out,
                   const ferry_meta **v)
{
    ferry_model *m = NULL;
    *out = NULL;
    if (v) *v = NULL;
    int rc = ferry__model_create(g_ctx, &m);
    if (rc) return rc;
    ferry_meta *slot = ferry__meta_append(m, m->meta, "v", 1);
    if (!slot) {
        ferry_model_close(m);
        return g_ctx->err_code;
    }
    ferry_source *src = NULL;
    ferry_source_from_memory(g_ctx, text, n, "doc.json", &src);
    rc = ferry__json_parse(m, slot, src, 0, text, n, flags);
    ferry_source_close(src);
    if (rc) {
        ferry_model_close(m);
        return rc;
    }
    *out = m;
    if (v) *v = ferry_meta_get(ferry_model_metadata(m), "v");
    return 0;
}

static int parse(const char *text, unsigned flags, ferry_model **out, const ferry_meta **v)
{
    return parse_n(text, strlen(text), flags, out, v);
}

/* Expects text to be refused with status code; the message must name the file and, when
 * want is not NULL, contain it. */
static void reject(const char *text, size_t n, int code, const char *want, int line)
{
    ferry_model *m = NULL;
    int rc = parse_n(text, n, FERRY__JSON_NO_DUP_KEYS, &m, NULL);
    const char *err = ferry_ctx_error(g_ctx);
    if (rc != code || strncmp(err, "doc.json: ", 10) != 0 || (want && !strstr(err, want))) {
        fprintf(stderr, "%s:%d: reject(%.*s): rc %d (want %d), error \"%s\" (want \"%s\")\n",
                __FILE__, line, (int)(n > 60 ? 60 : n), text, rc, code, err, want ? want : "");
        t_cur_failed_++;
    }
    ferry_model_close(m);
}
#define REJECT(text, code, want) reject(text, strlen(text), code, want, __LINE__)
#define REJECT_N(text, n, code, want) reject(text, n, code, want, __LINE__)

static void accept(const char *text, int line)
{
    ferry_model *m = NULL;
    int rc = parse(text, FERRY__JSON_NO_DUP_KEYS, &m, NULL);
    if (rc != 0) {
        fprintf(stderr, "%s:%d: accept(%s) failed: %s\n", __FILE__, line, text,
                ferry_ctx_error(g_ctx));
        t_cur_failed_++;
    }
    ferry_model_close(m);
}
#define ACCEPT(text) accept(text, __LINE__)

/* The double a one-number document parses to (NAN if it is not a FLOAT). */
static double parse_float(const char *text)
{
    ferry_model *m;
    const ferry_meta *v;
    if (parse(text, 0, &m, &v)) return NAN;
    double d = ferry_meta_kind_of(v) == FERRY_META_FLOAT ? ferry_meta_float(v) : NAN;
    ferry_model_close(m);
    return d;
}

static uint64_t bits_of(double d)
{
    uint64_t u;
    memcpy(&u, &d, 8);
    return u;
}

/* ---- values and the tree ------------------------------------------------------------------- */

TEST(tree_of_every_kind)
{
    ferry_model *m;
    const ferry_meta *v;
    const char *doc = " {\"s\":\"x\",\"i\":-5,\"u\":7,\"f\":2.5,\"t\":true,\"n\":null,"
                      "\"a\":[1,2,3],\"mixed\":[1,\"a\"],\"o\":{\"z\":{},\"y\":[]},\"e\":false} ";
    CHECK_EQ_INT(parse(doc, FERRY__JSON_NO_DUP_KEYS, &m, &v), 0);
    if (!v) return;
    CHECK_EQ_INT(ferry_meta_kind_of(v), FERRY_META_MAP);
    CHECK_EQ_INT(ferry_meta_count(v), 10);
    static const char *order[] = {"s", "i", "u", "f", "t", "n", "a", "mixed", "o", "e"};
    for (int i = 0; i < 10; i++) CHECK_EQ_STR(ferry_meta_key_at(v, i), order[i]);
    CHECK_EQ_STR(ferry_meta_string(ferry_meta_get(v, "s"), NULL), "x");
    CHECK_EQ_INT(ferry_meta_kind_of(ferry_meta_get(v, "i")), FERRY_META_INT);
    CHECK_EQ_INT(ferry_meta_int(ferry_meta_get(v, "i")), -5);
    CHECK_EQ_INT(ferry_meta_numtype(ferry_meta_get(v, "i")), FERRY_DTYPE_I64);
    CHECK_EQ_INT(ferry_meta_kind_of(ferry_meta_get(v, "u")), FERRY_META_UINT);
    CHECK_EQ_INT(ferry_meta_numtype(ferry_meta_get(v, "u")), FERRY_DTYPE_U64);
    CHECK(ferry_meta_float(ferry_meta_get(v, "f")) == 2.5);
    CHECK_EQ_INT(ferry_meta_kind_of(ferry_meta_get(v, "t")), FERRY_META_BOOL);
    CHECK_EQ_INT(ferry_meta_bool(ferry_meta_get(v, "t")), 1);
    CHECK_EQ_INT(ferry_meta_bool(ferry_meta_get(v, "e")), 0);
    CHECK_EQ_INT(ferry_meta_kind_of(ferry_meta_get(v, "n")), FERRY_META_NULL);
    const ferry_meta *a = ferry_meta_get(v, "a");
    CHECK_EQ_INT(ferry_meta_kind_of(a), FERRY_META_ARRAY);
    CHECK_EQ_INT(ferry_meta_count(a), 3);
    CHECK_EQ_INT(ferry_meta_numtype(a), FERRY_DTYPE_U64);
    CHECK_EQ_INT(ferry_meta_uint(ferry_meta_at(a, 2)), 3);
    CHECK_EQ_INT(ferry_meta_numtype(ferry_meta_get(v, "mixed")), FERRY_DTYPE_UNKNOWN);
    const ferry_meta *o = ferry_meta_get(v, "o");
    CHECK_EQ_INT(ferry_meta_count(ferry_meta_get(o, "z")), 0);
    CHECK_EQ_INT(ferry_meta_kind_of(ferry_meta_get(o, "z")), FERRY_META_MAP);
    CHECK_EQ_INT(ferry_meta_kind_of(ferry_meta_get(o, "y")), FERRY_META_ARRAY);
    ferry_model_close(m);
}

TEST(scalars_at_top_level)
{
    ferry_model *m;
    const ferry_meta *v;
    CHECK_EQ_INT(parse("\"top\"", 0, &m, &v), 0);
    CHECK_EQ_STR(ferry_meta_string(v, NULL), "top");
    ferry_model_close(m);
    CHECK_EQ_INT(parse("\t\r\n 42 \n", 0, &m, &v), 0);
    CHECK_EQ_INT(ferry_meta_uint(v), 42);
    ferry_model_close(m);
    CHECK_EQ_INT(parse("null", 0, &m, &v), 0);
    CHECK_EQ_INT(ferry_meta_kind_of(v), FERRY_META_NULL);
    ferry_model_close(m);
    CHECK_EQ_INT(parse("[]", 0, &m, &v), 0);
    CHECK_EQ_INT(ferry_meta_kind_of(v), FERRY_META_ARRAY);
    ferry_model_close(m);
}

/* Parsing an object straight into the model root appends to it. */
TEST(parse_into_root)
{
    ferry_model *m;
    CHECK_EQ_INT(ferry__model_create(g_ctx, &m), 0);
    CHECK_EQ_INT(ferry_model_set_meta_string(m, "before", "1"), 0);
    const char *doc = "{\"a\":1,\"b\":[true]}";
    CHECK_EQ_INT(ferry__json_parse(m, m->meta, NULL, 0, doc, strlen(doc), 0), 0);
    const ferry_meta *root = ferry_model_metadata(m);
    CHECK_EQ_INT(ferry_meta_count(root), 3);
    CHECK_EQ_STR(ferry_meta_key_at(root, 0), "before");
    CHECK_EQ_INT(ferry_meta_numtype(ferry_meta_get(root, "b")), FERRY_DTYPE_BOOL);
    /* anything but an object would replace the root MAP: refused */
    CHECK_EQ_INT(ferry__json_parse(m, m->meta, NULL, 0, "[1]", 3, 0), FERRY_E_CORRUPT);
    CHECK_EQ_INT(ferry__json_parse(m, m->meta, NULL, 0, "null", 4, 0), FERRY_E_CORRUPT);
    CHECK_EQ_INT(ferry_meta_kind_of(ferry_model_metadata(m)), FERRY_META_MAP);
    CHECK_EQ_INT(ferry_meta_count(ferry_model_metadata(m)), 3);
    ferry_model_close(m);
}

/* ---- strings ------------------------------------------------------------------------------- */

TEST(escapes)
{
    ferry_model *m;
    const ferry_meta *v;
    size_t n;
    CHECK_EQ_INT(parse("\"\\\"\\\\\\/\\b\\f\\n\\r\\t\\u0041\\u00e9\\u20AC\\ud83d\\ude00\"", 0, &m,
                       &v), 0);
    const char *s = ferry_meta_string(v, &n);
    static const char want[] = "\"\\/\b\f\n\r\tA\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80";
    CHECK_EQ_INT(n, sizeof want - 1);
    CHECK(s && memcmp(s, want, sizeof want - 1) == 0);
    ferry_model_close(m);
    /* \u0000 is a NUL byte inside the string; the length says so */
    CHECK_EQ_INT(parse("\"a\\u0000b\"", 0, &m, &v), 0);
    s = ferry_meta_string(v, &n);
    CHECK_EQ_INT(n, 3);
    CHECK(s && s[0] == 'a' && s[1] == 0 && s[2] == 'b');
    ferry_model_close(m);
    /* raw DEL and raw multi-byte UTF-8 need no escape */
    CHECK_EQ_INT(parse("\"\x7f\xc3\xa9\xf4\x8f\xbf\xbf\"", 0, &m, &v), 0);
    s = ferry_meta_string(v, &n);
    CHECK_EQ_INT(n, 7);
    ferry_model_close(m);
}

TEST(bad_escapes_and_surrogates)
{
    REJECT("\"\\x\"", FERRY_E_CORRUPT, "invalid escape");
    REJECT("\"\\U0041\"", FERRY_E_CORRUPT, "invalid escape");
    REJECT("\"\\'\"", FERRY_E_CORRUPT, "invalid escape");
    REJECT("\"\\u12\"", FERRY_E_CORRUPT, "four hex digits");
    REJECT("\"\\u12G4\"", FERRY_E_CORRUPT, "four hex digits");
    REJECT("\"\\", FERRY_E_CORRUPT, NULL);
    /* serde_json refuses every unpaired surrogate when it builds a String */
    REJECT("\"\\ud800\"", FERRY_E_CORRUPT, "unpaired high surrogate");
    REJECT("\"\\ud800x\"", FERRY_E_CORRUPT, "unpaired high surrogate");
    REJECT("\"\\ud800\\n\"", FERRY_E_CORRUPT, "unpaired high surrogate");
    REJECT("\"\\ud800\\u0041\"", FERRY_E_CORRUPT, "unpaired high surrogate");
    REJECT("\"\\ud800\\ud800\"", FERRY_E_CORRUPT, "unpaired high surrogate");
    REJECT("\"\\udc00\"", FERRY_E_CORRUPT, "unpaired low surrogate");
    REJECT("\"\\udfff\\ud800\"", FERRY_E_CORRUPT, "unpaired low surrogate");
    /* boundaries that are fine */
    ACCEPT("\"\\ud7ff\\ue000\\uffff\"");
    ACCEPT("\"\\udbff\\udfff\"");
    ACCEPT("\"\\uD800\\uDC00\"");
}

TEST(control_characters_and_utf8)
{
    for (int c = 0; c < 0x20; c++) {
        char doc[4] = {'"', (char)c, '"', 0};
        REJECT_N(doc, 3, FERRY_E_CORRUPT, "control character");
    }
    static const char *bad[] = {
        "\"\x80\"",             /* lone continuation */
        "\"\xc0\x80\"",         /* overlong NUL */
        "\"\xc1\xbf\"",         /* overlong */
        "\"\xe0\x80\xaf\"",     /* overlong 3-byte */
        "\"\xed\xa0\x80\"",     /* encoded surrogate U+D800 */
        "\"\xf0\x80\x80\xaf\"", /* overlong 4-byte */
        "\"\xf4\x90\x80\x80\"", /* above U+10FFFF */
        "\"\xf5\x80\x80\x80\"",
        "\"\xff\"",
        "\"\xc3\"",             /* truncated */
        "\"\xe2\x82\"",
    };
    for (size_t i = 0; i < FERRY_ARRAY_LEN(bad); i++)
        REJECT(bad[i], FERRY_E_CORRUPT, "UTF-8");
    ACCEPT("\"\xc2\x80\xdf\xbf\xe0\xa0\x80\xed\x9f\xbf\xee\x80\x80\xf0\x90\x80\x80\"");
    size_t at = 99;
    CHECK(ferry__utf8_valid((const uint8_t *)"ab\xe2\x82\xac", 5, &at));
    CHECK(!ferry__utf8_valid((const uint8_t *)"ab\xe2\x82", 4, &at));
    CHECK_EQ_INT(at, 2);
    CHECK(!ferry__utf8_valid((const uint8_t *)"\xed\xbf\xbf", 3, &at));
    CHECK_EQ_INT(at, 0);
    REJECT("\"abc", FERRY_E_CORRUPT, "unterminated string");
}

TEST(string_length_limit)
{
    ferry_limits l = {.struct_size = sizeof l, .string_length = 4};
    ferry_ctx_set_limits(g_ctx, &l);
    ACCEPT("\"abcd\"");
    ACCEPT("\"\\u0041\\u0042\\u0043\\u0044\""); /* 24 raw bytes, 4 decoded */
    REJECT("\"abcde\"", FERRY_E_LIMIT, "string_length");
    REJECT("{\"abcde\":1}", FERRY_E_LIMIT, "string_length");
    l.string_length = 1u << 30;
    ferry_ctx_set_limits(g_ctx, &l);
}

/* ---- numbers ------------------------------------------------------------------------------- */

TEST(integer_classes)
{
    ferry_model *m;
    const ferry_meta *v;
    CHECK_EQ_INT(parse("18446744073709551615", 0, &m, &v), 0);
    CHECK_EQ_INT(ferry_meta_kind_of(v), FERRY_META_UINT);
    CHECK(ferry_meta_uint(v) == UINT64_MAX);
    ferry_model_close(m);
    CHECK_EQ_INT(parse("-9223372036854775808", 0, &m, &v), 0);
    CHECK_EQ_INT(ferry_meta_kind_of(v), FERRY_META_INT);
    CHECK(ferry_meta_int(v) == INT64_MIN);
    ferry_model_close(m);
    CHECK_EQ_INT(parse("0", 0, &m, &v), 0);
    CHECK_EQ_INT(ferry_meta_kind_of(v), FERRY_META_UINT);
    ferry_model_close(m);
    /* out of the integer ranges: floats (serde_json does the same) */
    CHECK(parse_float("18446744073709551616") == 18446744073709551616.0);
    CHECK(parse_float("-9223372036854775809") == -9223372036854775808.0);
    /* "-0" is the float -0.0, "1.0" and "1e2" are floats */
    double z = parse_float("-0");
    CHECK(z == 0 && signbit(z));
    CHECK(parse_float("1.0") == 1.0);
    CHECK(parse_float("1e2") == 100.0);
    CHECK(parse_float("1E+2") == 100.0);
    CHECK(parse_float("-1.5e-2") == -0.015);
    CHECK(parse_float("0.0") == 0.0);
}

TEST(float_rounding)
{
    CHECK(parse_float("0.1") == 0.1);
    CHECK(parse_float("3.141592653589793") == 3.141592653589793);
    CHECK(parse_float("2.2250738585072011e-308") == 2.2250738585072011e-308);
    CHECK(parse_float("2.2250738585072014e-308") == 2.2250738585072014e-308);
    CHECK(bits_of(parse_float("4.9406564584124654e-324")) == 1);
    CHECK(bits_of(parse_float("2.4703282292062328e-324")) == 1); /* just above half: rounds up */
    CHECK(bits_of(parse_float("2.4703282292062327e-324")) == 0); /* below half: zero */
    CHECK(parse_float("1e-400") == 0.0);
    CHECK(parse_float("1.7976931348623157e308") == 1.7976931348623157e308);
    CHECK(parse_float("1.7976931348623158e308") == 1.7976931348623157e308);
    CHECK(parse_float("9007199254740993.0") == 9007199254740992.0); /* tie: to even */
    CHECK(parse_float("9007199254740995.0") == 9007199254740996.0);
    CHECK(parse_float("0.000000000000000000000000000000000000001e39") == 1.0);
    CHECK(parse_float("1000000000000000000000000000000000000000e-39") == 1.0);
    /* numbers too large for a double are errors, as in serde_json */
    REJECT("1.7976931348623159e308", FERRY_E_CORRUPT, "out of range");
    REJECT("1e400", FERRY_E_CORRUPT, "out of range");
    REJECT("-1e99999999999999999999", FERRY_E_CORRUPT, "out of range");
    CHECK(parse_float("1e-99999999999999999999") == 0.0);
}

/* 2^53 + 1 is exactly halfway between two doubles: ties-to-even gives 2^53, but any nonzero
 * digit far past the 800th must tip it up. */
TEST(float_sticky_digits)
{
    char *doc = malloc(3000);
    strcpy(doc, "9007199254740993.");
    size_t n = strlen(doc);
    memset(doc + n, '0', 1500);
    doc[n + 1500] = 0;
    CHECK(parse_float(doc) == 9007199254740992.0);
    doc[n + 1500] = '1';
    doc[n + 1501] = 0;
    CHECK(parse_float(doc) == 9007199254740994.0);
    /* the same with the extra digits in the integer part */
    strcpy(doc, "9007199254740993");
    n = strlen(doc);
    memset(doc + n, '0', 1200);
    strcpy(doc + n + 1200, "e-1200");
    CHECK(parse_float(doc) == 9007199254740992.0);
    memset(doc + n, '0', 1200);
    doc[n + 1100] = '5';
    strcpy(doc + n + 1200, "e-1200");
    CHECK(parse_float(doc) == 9007199254740994.0);
    free(doc);
}

TEST(bad_numbers)
{
    static const char *bad[] = {"01", "-01", "00", "-", "-a", "1.", "1.e5", ".5", "+1", "1e",
                                "1e+", "1E-", "--1", "0x10", "NaN", "Infinity", "-Infinity",
                                "1.5.2", "1e5.5", "- 1"};
    for (size_t i = 0; i < FERRY_ARRAY_LEN(bad); i++) REJECT(bad[i], FERRY_E_CORRUPT, NULL);
    REJECT("01", FERRY_E_CORRUPT, "leading zero");
    REJECT("1.", FERRY_E_CORRUPT, "after '.'");
    REJECT("[1e]", FERRY_E_CORRUPT, "exponent");
}

TEST(locale_independent)
{
    const char *loc = setlocale(LC_NUMERIC, "de_DE.UTF-8");
    if (!loc) loc = setlocale(LC_NUMERIC, "fr_FR.UTF-8");
    if (!loc) {
        t_skip("no locale with a decimal comma installed");
    }
    CHECK(parse_float("1.5") == 1.5);
    char out[32];
    ferry__json_format_double(1.5, out);
    CHECK_EQ_STR(out, "1.5");
    ferry__json_format_double(0.1, out);
    CHECK_EQ_STR(out, "0.1");
    setlocale(LC_NUMERIC, "C");
}

/* ---- grammar ------------------------------------------------------------------------------- */

TEST(literals_and_whitespace)
{
    ACCEPT("true");
    ACCEPT(" \t\r\nfalse \t\r\n");
    REJECT("tru", FERRY_E_CORRUPT, "invalid literal");
    REJECT("nul", FERRY_E_CORRUPT, "invalid literal");
    REJECT("True", FERRY_E_CORRUPT, "expected a JSON value");
    REJECT("truex", FERRY_E_CORRUPT, "after the JSON value");
    /* only space, tab, LF and CR are whitespace */
    REJECT("\f1", FERRY_E_CORRUPT, NULL);
    REJECT("\v1", FERRY_E_CORRUPT, NULL);
    REJECT("1\f", FERRY_E_CORRUPT, NULL);
    REJECT("\xc2\xa0" "1", FERRY_E_CORRUPT, NULL);
    REJECT("", FERRY_E_CORRUPT, "end of input");
    REJECT("   ", FERRY_E_CORRUPT, "end of input");
}

TEST(trailing_bytes)
{
    REJECT("{} x", FERRY_E_CORRUPT, "after the JSON value");
    REJECT("{}}", FERRY_E_CORRUPT, "after the JSON value");
    REJECT("1 2", FERRY_E_CORRUPT, "after the JSON value");
    REJECT_N("{}\0", 3, FERRY_E_CORRUPT, "byte 0x00");
    ACCEPT("{}   \n");
}

TEST(structure_errors)
{
    REJECT("[1,]", FERRY_E_CORRUPT, "trailing comma");
    REJECT("{\"a\":1,}", FERRY_E_CORRUPT, "trailing comma");
    REJECT("{,}", FERRY_E_CORRUPT, "expected a string key");
    REJECT("[,1]", FERRY_E_CORRUPT, "expected a JSON value");
    REJECT("{\"a\" 1}", FERRY_E_CORRUPT, "expected ':'");
    REJECT("{1:2}", FERRY_E_CORRUPT, "expected a string key");
    REJECT("[1 2]", FERRY_E_CORRUPT, "expected ',' or ']'");
    REJECT("{\"a\":1 \"b\":2}", FERRY_E_CORRUPT, "expected ',' or '}'");
    REJECT("[1}", FERRY_E_CORRUPT, "expected ',' or ']'");
    REJECT("{\"a\":1]", FERRY_E_CORRUPT, "expected ',' or '}'");
    REJECT("{", FERRY_E_CORRUPT, "end of input");
    REJECT("[", FERRY_E_CORRUPT, "end of input");
    REJECT("{\"a\":", FERRY_E_CORRUPT, "end of input");
    REJECT("[1,", FERRY_E_CORRUPT, "end of input");
    REJECT("]", FERRY_E_CORRUPT, "expected a JSON value");
    ACCEPT("[[],[[]],{}]");
    ACCEPT("{\"\":\"\"}");
}

TEST(error_names_file_and_offset)
{
    ferry_model *m;
    CHECK(parse("[1, 2, x]", 0, &m, NULL) == FERRY_E_CORRUPT);
    CHECK_EQ_STR(ferry_ctx_error(g_ctx), "doc.json: offset 7: found 'x', expected a JSON value");
    /* a base offset shifts the reported offsets (headers embedded in a file) */
    ferry_model *mm;
    ferry__model_create(g_ctx, &mm);
    ferry_source *src;
    static const char text[] = "\x00\x00\x00\x00{\"a\":tru}";
    ferry_source_from_memory(g_ctx, text, sizeof text - 1, "f.bin", &src);
    ferry_meta *slot = ferry__meta_append(mm, mm->meta, "v", 1);
    CHECK(ferry__json_parse(mm, slot, src, 4, text + 4, sizeof text - 5, 0) == FERRY_E_CORRUPT);
    CHECK_EQ_STR(ferry_ctx_error(g_ctx), "f.bin: offset 9: invalid literal, expected \"true\"");
    ferry_source_close(src);
    ferry_model_close(mm);
}

/* ---- limits -------------------------------------------------------------------------------- */

TEST(depth_limit)
{
    char doc[300];
    ferry_limits l = {.struct_size = sizeof l, .metadata_depth = 5};
    ferry_ctx_set_limits(g_ctx, &l);
    ACCEPT("[[[[[]]]]]");
    ACCEPT("{\"a\":{\"b\":[{\"c\":[1]}]}}");
    REJECT("[[[[[[]]]]]]", FERRY_E_LIMIT, "metadata_depth");
    REJECT("{\"a\":{\"b\":[{\"c\":[[1]]}]}}", FERRY_E_LIMIT, "metadata_depth");
    l.metadata_depth = 64;
    ferry_ctx_set_limits(g_ctx, &l);
    memset(doc, '[', 64);
    memset(doc + 64, ']', 64);
    doc[128] = 0;
    ACCEPT(doc);
    memset(doc, '[', 65);
    memset(doc + 65, ']', 65);
    doc[130] = 0;
    REJECT(doc, FERRY_E_LIMIT, "64 levels");
    /* a huge run of '[' is refused quickly, without recursion */
    size_t big = 1000000;
    char *deep = malloc(big + 1);
    memset(deep, '[', big);
    deep[big] = 0;
    REJECT(deep, FERRY_E_LIMIT, "metadata_depth");
    free(deep);
}

TEST(metadata_items_limit)
{
    ferry_limits l = {.struct_size = sizeof l, .metadata_items = 5};
    ferry_ctx_set_limits(g_ctx, &l);
    /* root + "v" (the array) + 3 elements = 5 */
    ACCEPT("[1,2,3]");
    REJECT("[1,2,3,4]", FERRY_E_LIMIT, "metadata_items");
    l.metadata_items = 1u << 28;
    ferry_ctx_set_limits(g_ctx, &l);
}

/* ---- duplicate keys ------------------------------------------------------------------------ */

TEST(duplicate_keys)
{
    REJECT("{\"a\":1,\"a\":2}", FERRY_E_CORRUPT, "duplicate key \"a\"");
    REJECT("{\"a\":1,\"b\":{\"c\":1},\"a\":2}", FERRY_E_CORRUPT, "duplicate key \"a\"");
    REJECT("{\"a\":1,\"\\u0061\":2}", FERRY_E_CORRUPT, "duplicate key \"a\"");
    REJECT("{\"\":1,\"\":2}", FERRY_E_CORRUPT, "duplicate key");
    REJECT("[{\"x\":{\"y\":1,\"y\":1}}]", FERRY_E_CORRUPT, "duplicate key \"y\"");
    /* the same key in different objects is fine, also after a nested object closed */
    ACCEPT("{\"a\":{\"a\":1},\"b\":{\"a\":2}}");
    ACCEPT("{\"a\":{\"x\":1},\"x\":2}");
    ACCEPT("[{\"a\":1},{\"a\":2}]");
    /* without the flag duplicates are kept; lookup returns the last */
    ferry_model *m;
    const ferry_meta *v;
    CHECK_EQ_INT(parse("{\"a\":1,\"a\":2}", 0, &m, &v), 0);
    CHECK_EQ_INT(ferry_meta_count(v), 2);
    CHECK_EQ_INT(ferry_meta_uint(ferry_meta_get(v, "a")), 2);
    ferry_model_close(m);
}

/* Thousands of keys (rehashing, nested objects popping keys) with a duplicate at the end. */
TEST(duplicate_keys_many)
{
    size_t cap = 1 << 20, n = 0;
    char *doc = malloc(cap);
    n += (size_t)sprintf(doc + n, "{");
    for (int i = 0; i < 20000; i++)
        n += (size_t)sprintf(doc + n, "%s\"k%d\":{\"k%d\":%d}", i ? "," : "", i, i + 1, i);
    strcpy(doc + n, "}");
    ACCEPT(doc);
    n += (size_t)sprintf(doc + n, ",\"k7777\":0}");
    REJECT(doc, FERRY_E_CORRUPT, "duplicate key \"k7777\"");
    free(doc);
}

TEST(nul_in_key)
{
    REJECT("{\"a\\u0000b\":1}", FERRY_E_UNSUPPORTED, "U+0000");
}

/* ---- the pull reader ----------------------------------------------------------------------- */

TEST(pull_tokens_and_skip)
{
    static const char doc[] = "{\"a\":[1,{\"x\":[true,null]},\"s\"],\"b\":-2,\"c\":1.5}";
    ferry__json_reader r;
    ferry__json_reader_init(&r, g_ctx, NULL, 0, doc, sizeof doc - 1, FERRY__JSON_NO_DUP_KEYS);
    static const int want[] = {
        FERRY__JSON_OBJECT, FERRY__JSON_KEY, FERRY__JSON_ARRAY, FERRY__JSON_UINT,
        FERRY__JSON_OBJECT, FERRY__JSON_KEY, FERRY__JSON_ARRAY, FERRY__JSON_TRUE,
        FERRY__JSON_NULL, FERRY__JSON_ARRAY_END, FERRY__JSON_OBJECT_END, FERRY__JSON_STRING,
        FERRY__JSON_ARRAY_END, FERRY__JSON_KEY, FERRY__JSON_INT, FERRY__JSON_KEY,
        FERRY__JSON_FLOAT, FERRY__JSON_OBJECT_END, FERRY__JSON_END, FERRY__JSON_END};
    for (size_t i = 0; i < FERRY_ARRAY_LEN(want); i++) {
        int t = ferry__json_next(&r);
        CHECK_MSG(t == want[i], "token %zu: %d, want %d", i, t, want[i]);
        if (t == FERRY__JSON_INT) CHECK(r.i == -2);
        if (t == FERRY__JSON_FLOAT) CHECK(r.f == 1.5);
    }
    ferry__json_reader_free(&r);

    ferry__json_reader_init(&r, g_ctx, NULL, 0, doc, sizeof doc - 1, 0);
    CHECK_EQ_INT(ferry__json_next(&r), FERRY__JSON_OBJECT);
    CHECK_EQ_INT(ferry__json_next(&r), FERRY__JSON_KEY);
    CHECK_EQ_INT(ferry__json_next(&r), FERRY__JSON_ARRAY);
    CHECK_EQ_INT(ferry__json_skip(&r), 0);
    CHECK_EQ_INT(ferry__json_next(&r), FERRY__JSON_KEY);
    CHECK(r.str_len == 1 && r.str[0] == 'b');
    CHECK_EQ_INT(ferry__json_next(&r), FERRY__JSON_INT);
    CHECK_EQ_INT(ferry__json_skip(&r), 0); /* a scalar: nothing to skip */
    CHECK_EQ_INT(ferry__json_next(&r), FERRY__JSON_KEY);
    CHECK(r.tok_off == 38);
    ferry__json_reader_free(&r);
    ferry__json_reader_free(&r); /* twice is fine */

    /* errors are sticky */
    ferry__json_reader_init(&r, g_ctx, NULL, 0, "[x", 2, 0);
    CHECK_EQ_INT(ferry__json_next(&r), FERRY__JSON_ARRAY);
    CHECK_EQ_INT(ferry__json_next(&r), FERRY_E_CORRUPT);
    CHECK_EQ_INT(ferry__json_next(&r), FERRY_E_CORRUPT);
    ferry__json_reader_free(&r);
}

/* ---- failing allocations ------------------------------------------------------------------- */

typedef struct {
    long calls;
    long fail_at;
} fail_alloc;

static void *fa_realloc(void *ud, void *p, size_t n)
{
    fail_alloc *f = ud;
    if (++f->calls == f->fail_at) return NULL;
    return realloc(p, n);
}

static void fa_free(void *ud, void *p)
{
    (void)ud;
    free(p);
}

TEST(fail_every_allocation)
{
    static const char doc[] = "{\"a\\u0041\":[1,2,{\"b\":\"x\\ny\",\"c\":[[],{}]}],"
                              "\"d\":\"\\ud83d\\ude00\",\"e\":1.5}";
    int saw_nomem = 0;
    for (long k = 1; k < 300; k++) {
        fail_alloc fa = {0, k};
        ferry_allocator a = {fa_realloc, fa_free, &fa};
        ferry_ctx *ctx = ferry_ctx_new(&a);
        if (!ctx) continue;
        ferry_model *m = NULL;
        int rc = ferry__model_create(ctx, &m);
        if (rc == 0) rc = ferry__json_parse(m, m->meta, NULL, 0, doc, sizeof doc - 1,
                                            FERRY__JSON_NO_DUP_KEYS);
        CHECK(rc == 0 || rc == FERRY_E_NOMEM);
        if (rc == FERRY_E_NOMEM) saw_nomem++;
        ferry_model_close(m);
        CHECK_EQ_INT(ctx->allocated, 0);
        ferry_ctx_free(ctx);
    }
    CHECK(saw_nomem > 3);
}

/* ---- writing ------------------------------------------------------------------------------- */

static const char *escaped(const char *s, size_t n, int *rc)
{
    static char out[512];
    ferry__strbuf b;
    ferry__strbuf_init(&b, g_ctx);
    *rc = ferry__json_write_string(&b, s, n);
    snprintf(out, sizeof out, "%.*s", (int)b.n, b.p ? b.p : "");
    ferry__strbuf_free(&b);
    return out;
}

TEST(write_string_like_serde)
{
    int rc;
    CHECK_EQ_STR(escaped("plain", 5, &rc), "\"plain\"");
    CHECK_EQ_STR(escaped("a\"b\\c/d", 7, &rc), "\"a\\\"b\\\\c/d\"");
    CHECK_EQ_STR(escaped("\b\f\n\r\t", 5, &rc), "\"\\b\\f\\n\\r\\t\"");
    CHECK_EQ_STR(escaped("\x01\x1f\x7f", 3, &rc), "\"\\u0001\\u001f\x7f\"");
    CHECK_EQ_STR(escaped("\0z", 2, &rc), "\"\\u0000z\"");
    CHECK_EQ_STR(escaped("\xc3\xa9\xf0\x9f\x98\x80", 6, &rc), "\"\xc3\xa9\xf0\x9f\x98\x80\"");
    CHECK_EQ_STR(escaped("", 0, &rc), "\"\"");
    CHECK_EQ_INT(rc, 0);
    escaped("\xff", 1, &rc);
    CHECK_EQ_INT(rc, FERRY_E_UNSUPPORTED);
    escaped("\xed\xa0\x80", 3, &rc);
    CHECK_EQ_INT(rc, FERRY_E_UNSUPPORTED);
    /* every byte value below 0x80 survives write -> parse */
    char all[128];
    for (int i = 0; i < 128; i++) all[i] = (char)i;
    ferry__strbuf b;
    ferry__strbuf_init(&b, g_ctx);
    CHECK_EQ_INT(ferry__json_write_string(&b, all, 128), 0);
    ferry_model *m;
    const ferry_meta *v;
    CHECK_EQ_INT(parse_n(b.p, b.n, 0, &m, &v), 0);
    size_t n = 0;
    const char *s = ferry_meta_string(v, &n);
    CHECK(n == 128 && s && memcmp(s, all, 128) == 0);
    ferry_model_close(m);
    ferry__strbuf_free(&b);
}

static const char *fmt(double d)
{
    static char out[32];
    ferry__json_format_double(d, out);
    return out;
}

TEST(format_double_like_python_repr)
{
    CHECK_EQ_STR(fmt(0.1), "0.1");
    CHECK_EQ_STR(fmt(1.0), "1.0");
    CHECK_EQ_STR(fmt(100.0), "100.0");
    CHECK_EQ_STR(fmt(-2.5), "-2.5");
    CHECK_EQ_STR(fmt(0.0001), "0.0001");
    CHECK_EQ_STR(fmt(0.00001), "1e-05");
    CHECK_EQ_STR(fmt(1e15), "1000000000000000.0");
    CHECK_EQ_STR(fmt(1e16), "1e+16");
    CHECK_EQ_STR(fmt(1.5e300), "1.5e+300");
    CHECK_EQ_STR(fmt(123456789012345680.0), "1.2345678901234568e+17");
    CHECK_EQ_STR(fmt(5e-324), "5e-324");
    CHECK_EQ_STR(fmt(1.7976931348623157e308), "1.7976931348623157e+308");
    CHECK_EQ_STR(fmt(0.30000000000000004), "0.30000000000000004");
    CHECK_EQ_STR(fmt(1.0 / 3), "0.3333333333333333");
    CHECK_EQ_STR(fmt(-0.0), "-0.0");
    CHECK_EQ_STR(fmt(0.0), "0.0");
    CHECK_EQ_STR(fmt(INFINITY), "inf");
    CHECK_EQ_STR(fmt(-INFINITY), "-inf");
    CHECK_EQ_STR(fmt(NAN), "nan");
    char o32[32];
    static const struct {
        float       v;
        const char *s;
    } f32[] = {{1e-5f, "1e-05"},       {0.1f, "0.1"},           {3.4028235e38f, "3.4028235e+38"},
               {16777216.0f, "16777216.0"}, {1.17549435e-38f, "1.1754944e-38"},
               {1.4e-45f, "1e-45"},     {-2.5f, "-2.5"}};
    for (size_t i = 0; i < FERRY_ARRAY_LEN(f32); i++) {
        ferry__json_format_float32(f32[i].v, o32);
        CHECK_EQ_STR(o32, f32[i].s);
    }
    /* shortest round trip for many bit patterns */
    uint64_t x = 0x9E3779B97F4A7C15ull;
    int bad = 0;
    for (int i = 0; i < 20000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        double d;
        memcpy(&d, &x, 8);
        if (!isfinite(d)) continue;
        const char *s = fmt(d);
        double back;
        /* Python's repr output is a valid JSON number except for the "-0.0"/"inf" cases */
        if (!ferry__json_number_to_double(s, strlen(s), &back) || bits_of(back) != bits_of(d))
            bad++;
    }
    CHECK_EQ_INT(bad, 0);
}

int main(void)
{
    g_ctx = ferry_ctx_new(NULL);
    RUN(tree_of_every_kind);
    RUN(scalars_at_top_level);
    RUN(parse_into_root);
    RUN(escapes);
    RUN(bad_escapes_and_surrogates);
    RUN(control_characters_and_utf8);
    RUN(string_length_limit);
    RUN(integer_classes);
    RUN(float_rounding);
    RUN(float_sticky_digits);
    RUN(bad_numbers);
    RUN(locale_independent);
    RUN(literals_and_whitespace);
    RUN(trailing_bytes);
    RUN(structure_errors);
    RUN(error_names_file_and_offset);
    RUN(depth_limit);
    RUN(metadata_items_limit);
    RUN(duplicate_keys);
    RUN(duplicate_keys_many);
    RUN(nul_in_key);
    RUN(pull_tokens_and_skip);
    RUN(fail_every_allocation);
    RUN(write_string_like_serde);
    RUN(format_double_like_python_repr);
    CHECK(g_ctx->allocated == 0);
    ferry_ctx_free(g_ctx);
    return t_finish("json");
}
