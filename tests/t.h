/*
 * t.h -- the smallest test harness that does the job.
 *
 * A test program defines test functions with TEST(name) and lists them in main():
 *
 *     TEST(parses_header) { CHECK(x == 1); CHECK_EQ_INT(a, b); }
 *     int main(void) { RUN(parses_header); return t_finish("safetensors"); }
 *
 * CHECK failures print file:line and the expression and count as failed checks; a test
 * passes when none of its checks failed. t_finish prints "<suite>: N passed, N failed"
 * (the closing line CI reads) and returns nonzero if anything failed.
 *
 * t_shared(rel) returns the path of ../shared/<rel> relative to the repository root (the
 * tests run from the build directory; FERRY_SOURCE_DIR is set by CMake), or NULL with a
 * "skipped" message when the shared folder is absent.
 */
#ifndef FERRY_T_H
#define FERRY_T_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int t_passed_;
static int t_failed_;
static int t_skipped_;
static int t_cur_failed_;

#define TEST(name) static void test_##name(void)

#define RUN(name)                                                                              \
    do {                                                                                       \
        t_cur_failed_ = 0;                                                                     \
        test_##name();                                                                         \
        if (t_cur_failed_) {                                                                   \
            t_failed_++;                                                                       \
            fprintf(stderr, "FAIL %s\n", #name);                                               \
        } else {                                                                               \
            t_passed_++;                                                                       \
        }                                                                                      \
    } while (0)

#define CHECK(cond)                                                                            \
    do {                                                                                       \
        if (!(cond)) {                                                                         \
            fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond);           \
            t_cur_failed_++;                                                                   \
        }                                                                                      \
    } while (0)

#define CHECK_MSG(cond, ...)                                                                   \
    do {                                                                                       \
        if (!(cond)) {                                                                         \
            fprintf(stderr, "%s:%d: CHECK(%s) failed: ", __FILE__, __LINE__, #cond);           \
            fprintf(stderr, __VA_ARGS__);                                                      \
            fputc('\n', stderr);                                                               \
            t_cur_failed_++;                                                                   \
        }                                                                                      \
    } while (0)

#define CHECK_EQ_INT(a, b)                                                                     \
    do {                                                                                       \
        long long t_a_ = (long long)(a), t_b_ = (long long)(b);                                \
        if (t_a_ != t_b_) {                                                                    \
            fprintf(stderr, "%s:%d: %s == %s failed: %lld != %lld\n", __FILE__, __LINE__, #a,  \
                    #b, t_a_, t_b_);                                                           \
            t_cur_failed_++;                                                                   \
        }                                                                                      \
    } while (0)

#define CHECK_EQ_STR(a, b)                                                                     \
    do {                                                                                       \
        const char *t_a_ = (a), *t_b_ = (b);                                                   \
        if (!t_a_ || !t_b_ || strcmp(t_a_, t_b_) != 0) {                                       \
            fprintf(stderr, "%s:%d: %s == %s failed: \"%s\" != \"%s\"\n", __FILE__, __LINE__,  \
                    #a, #b, t_a_ ? t_a_ : "(null)", t_b_ ? t_b_ : "(null)");                   \
            t_cur_failed_++;                                                                   \
        }                                                                                      \
    } while (0)

static inline void t_skip(const char *why)
{
    fprintf(stderr, "skipped: %s\n", why);
    t_skipped_++;
}

static inline int t_finish(const char *suite)
{
    printf("%s: %d passed, %d failed", suite, t_passed_, t_failed_);
    if (t_skipped_) printf(", %d skipped", t_skipped_);
    printf("\n");
    return t_failed_ ? 1 : 0;
}

#ifndef FERRY_SOURCE_DIR
#define FERRY_SOURCE_DIR "."
#endif

/* Path of ../shared/<rel> next to the repository, or NULL (prints a skip notice) if absent. */
static inline const char *t_shared(const char *rel)
{
    static char buf[4096];
    struct stat st;
    const char *env = getenv("FERRY_SHARED");
    if (env && *env)
        snprintf(buf, sizeof buf, "%s/%s", env, rel);
    else
        snprintf(buf, sizeof buf, "%s/../shared/%s", FERRY_SOURCE_DIR, rel);
    if (stat(buf, &st) != 0) {
        char msg[4200];
        snprintf(msg, sizeof msg, "%s not found (../shared absent?)", buf);
        t_skip(msg);
        return NULL;
    }
    return buf;
}

/* A fresh temporary directory for a test run (mkdtemp under $TMPDIR or /tmp). */
static inline const char *t_tmpdir(void)
{
    static char dir[512];
    if (!dir[0]) {
        const char *base = getenv("TMPDIR");
        snprintf(dir, sizeof dir, "%s/ferry-test-XXXXXX", base && *base ? base : "/tmp");
        if (!mkdtemp(dir)) {
            perror("mkdtemp");
            exit(2);
        }
    }
    return dir;
}

#endif
