/*
 * quant_bench.c -- throughput of ferry_quantize_elems per type (not a test: numbers only).
 *
 * Input: 64 rows x 4096 f32 values drawn like LLM weights (N(0, 0.02) with rare +-1
 * outliers, the golden set's "weights" distribution in spirit), 1 MiB in all. For every
 * quantizable type the matrix is quantized repeatedly for at least BENCH_SECONDS (default
 * 0.5 s) with 1 thread and with all online CPUs; the best pass rate is reported as MB/s of
 * f32 input (10^6 bytes), without and with an importance matrix. For the lattice types
 * (IQ1_*, IQ2_*, IQ3_*) each call includes building the search tables (one call per pass).
 *
 * Reference (issue "GGML quantization"; ggml's quantize_chunk, one thread, same machine type):
 * Q4_0 3.6 GB/s, Q8_0 1.14 GB/s, Q4_K 0.053 GB/s, Q6_K 0.116 GB/s, IQ4_XS 0.016 GB/s.
 *
 * Built by bench/run_quant.sh against build/lib/libferry.a.
 */
#define _POSIX_C_SOURCE 200809L
#include "ferry.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ROWS 64
#define NPR  4096

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Deterministic normal-ish values (sum of uniforms) with rare outliers. */
static void fill(float *x, size_t n)
{
    uint64_t s = 0x9E3779B97F4A7C15ull;
    for (size_t i = 0; i < n; i++) {
        double acc = 0;
        for (int k = 0; k < 4; k++) {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            acc += (double)(s >> 11) * 0x1p-53;
        }
        x[i] = (float)((acc - 2.0) * 0.0346);
        if (s % 1000 == 0) x[i] = (s >> 32) & 1 ? 1.f : -1.f;
    }
}

/* Best MB/s over passes lasting at least `secs` in total. */
static double rate(ferry_dtype dt, const float *x, void *dst, const float *imat, int nt,
                   double secs)
{
    double best = 0, t_end = now() + secs;
    int passes = 0;
    do {
        double t0 = now();
        if (ferry_quantize_elems(dt, x, dst, ROWS, NPR, imat, nt) != FERRY_OK) return -1;
        double dt_s = now() - t0;
        double r = (double)ROWS * NPR * 4 / dt_s / 1e6;
        if (r > best) best = r;
        passes++;
    } while (now() < t_end || passes < 2);
    return best;
}

int main(void)
{
    static const struct { const char *name; int id; } types[] = {
        {"Q4_0", 2},   {"Q4_1", 3},   {"Q5_0", 6},   {"Q5_1", 7},   {"Q8_0", 8},
        {"Q2_K", 10},  {"Q3_K", 11},  {"Q4_K", 12},  {"Q5_K", 13},  {"Q6_K", 14},
        {"IQ4_NL", 20}, {"IQ4_XS", 23}, {"TQ1_0", 34}, {"TQ2_0", 35}, {"MXFP4", 39},
        {"NVFP4", 40}, {"Q1_0", 41},  {"Q2_0", 42},  {"IQ2_XXS", 16}, {"IQ2_XS", 17},
        {"IQ2_S", 22}, {"IQ3_XXS", 18}, {"IQ3_S", 21}, {"IQ1_S", 19}, {"IQ1_M", 29},
    };
    const char *env = getenv("BENCH_SECONDS");
    double secs = env ? atof(env) : 0.5;
    float *x = malloc(sizeof(float) * ROWS * NPR);
    float *imat = malloc(sizeof(float) * NPR);
    void *dst = malloc(sizeof(float) * ROWS * NPR);
    if (!x || !imat || !dst) return 1;
    fill(x, (size_t)ROWS * NPR);
    for (int j = 0; j < NPR; j++) imat[j] = 0.25f + (float)((j * 7919) % 97) / 24.0f;

    printf("%-8s %12s %12s %12s %12s   (MB/s of f32 input, %d x %d)\n", "type", "1 thread",
           "all threads", "1t imatrix", "all imatrix", ROWS, NPR);
    for (size_t t = 0; t < sizeof types / sizeof types[0]; t++) {
        ferry_dtype dt = FERRY_DTYPE_GGML(types[t].id);
        if (!ferry_dtype_can_quantize(dt)) continue;
        /* "-" where ggml requires an importance matrix (IQ2_XXS, IQ2_XS, IQ1_S). */
        if (ferry_dtype_needs_imatrix(dt))
            printf("%-8s %12s %12s %12.1f %12.1f\n", types[t].name, "-", "-",
                   rate(dt, x, dst, imat, 1, secs), rate(dt, x, dst, imat, 0, secs));
        else
            printf("%-8s %12.1f %12.1f %12.1f %12.1f\n", types[t].name,
                   rate(dt, x, dst, NULL, 1, secs), rate(dt, x, dst, NULL, 0, secs),
                   rate(dt, x, dst, imat, 1, secs), rate(dt, x, dst, imat, 0, secs));
        fflush(stdout);
    }
    free(x);
    free(imat);
    free(dst);
    return 0;
}
