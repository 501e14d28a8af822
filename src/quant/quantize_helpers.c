/*
 * quantize_helpers.c -- the scale searches shared by the K-quants and by the importance-matrix
 * paths of the legacy types (ggml-quants.c: make_qx_quants, make_q3_quants, make_qkx2_quants,
 * make_qkx3_quants, make_qp_quants; described in words in FORMATS.md A2.3).
 *
 * These searches decide the bytes of most K-quant blocks, so every expression keeps ggml's
 * evaluation order: products are written left to right exactly as ggml writes them
 * (`w * x * l` is `(w * x) * l`), sums run from element 0 upwards in binary32, and an integer
 * code is converted to float where ggml's expression converts it. Comparisons that choose
 * between candidates are strict in the same direction as ggml's, so ties keep the earlier
 * candidate.
 */
#include "quant.h"

/* ============================================================================================
 * Symmetric searches
 * ========================================================================================== */

static inline float qx_weight(const float *qw, const float *x, int i)
{
    return qw ? qw[i] : x[i] * x[i];
}

static inline int clamp_i(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

/*
 * make_qx_quants with rmse_type 1: start from iscale = -nmax / max, fit the least-squares
 * scale, then try 18 nearby iscales and keep the one maximising (sum w x l)^2 / sum w l^2.
 * An (almost) all-zero group gets codes 0 -- not nmax -- and scale 0, as in ggml.
 */
float ferry__make_qx(int n, int nmax, const float *x, int8_t *L, const float *qw)
{
    float amax;
    float max = ferry__signed_max(x, n, &amax);
    if (amax < FERRY__GROUP_MAX_EPS) {
        memset(L, 0, (size_t)n);
        return 0.f;
    }
    float iscale = (float)(-nmax) / max;
    float sumlx  = 0;
    float suml2  = 0;
    for (int i = 0; i < n; i++) {
        int l = clamp_i(ferry__nearest_int(iscale * x[i]), -nmax, nmax - 1);
        L[i]  = (int8_t)(l + nmax);
        float w = qx_weight(qw, x, i);
        sumlx += w * x[i] * (float)l;
        suml2 += w * (float)l * (float)l;
    }
    float scale = suml2 != 0.f ? sumlx / suml2 : 0.0f;
    float best  = scale * sumlx;
    for (int is = -9; is <= 9; is++) {
        if (is == 0) continue;
        iscale = -((float)nmax + 0.1f * (float)is) / max;
        sumlx = suml2 = 0;
        for (int i = 0; i < n; i++) {
            int l   = clamp_i(ferry__nearest_int(iscale * x[i]), -nmax, nmax - 1);
            float w = qx_weight(qw, x, i);
            sumlx += w * x[i] * (float)l;
            suml2 += w * (float)l * (float)l;
        }
        if (suml2 > 0 && sumlx * sumlx > best * suml2) {
            for (int i = 0; i < n; i++) {
                int l = clamp_i(ferry__nearest_int(iscale * x[i]), -nmax, nmax - 1);
                L[i]  = (int8_t)(nmax + l);
            }
            scale = sumlx / suml2;
            best  = scale * sumlx;
        }
    }
    return scale;
}

/*
 * make_q3_quants with do_rmse: initial codes from -nmax / max, weights x^2, then up to five
 * passes of coordinate descent that move one code at a time when that raises
 * (sum w x l)^2 / sum w l^2. Codes are returned offset by nmax.
 */
float ferry__make_q3(int n, int nmax, const float *x, int8_t *L)
{
    float amax;
    float max = ferry__signed_max(x, n, &amax);
    if (amax < FERRY__GROUP_MAX_EPS) {
        memset(L, 0, (size_t)n);
        return 0.f;
    }
    float iscale = (float)(-nmax) / max;
    float sumlx  = 0;
    float suml2  = 0;
    for (int i = 0; i < n; i++) {
        int l = clamp_i(ferry__nearest_int(iscale * x[i]), -nmax, nmax - 1);
        L[i]  = (int8_t)l;
        float w = x[i] * x[i];
        sumlx += w * x[i] * (float)l;
        suml2 += w * (float)l * (float)l;
    }
    for (int itry = 0; itry < 5; itry++) {
        int n_changed = 0;
        for (int i = 0; i < n; i++) {
            float w   = x[i] * x[i];
            float slx = sumlx - w * x[i] * (float)L[i];
            if (slx > 0) {
                float sl2   = suml2 - w * (float)L[i] * (float)L[i];
                int   new_l = clamp_i(ferry__nearest_int(x[i] * sl2 / slx), -nmax, nmax - 1);
                if (new_l != L[i]) {
                    slx += w * x[i] * (float)new_l;
                    sl2 += w * (float)new_l * (float)new_l;
                    if (sl2 > 0 && slx * slx * suml2 > sumlx * sumlx * sl2) {
                        L[i]  = (int8_t)new_l;
                        sumlx = slx;
                        suml2 = sl2;
                        n_changed++;
                    }
                }
            }
        }
        if (!n_changed) break;
    }
    for (int i = 0; i < n; i++) L[i] = (int8_t)(L[i] + nmax);
    return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
}

/* ============================================================================================
 * Asymmetric searches (scale and min)
 * ========================================================================================== */

/*
 * make_qkx2_quants: codes in [0, nmax] for x = scale * l + min with min <= 0. The start is the
 * plain min/max fit; then nstep + 1 iscales are tried, each followed by a weighted
 * least-squares fit of (scale, min), and the first one with a strictly smaller weighted error
 * (absolute when use_mad, else squared) wins.
 */
float ferry__make_qkx2(int n, int nmax, const float *x, const float *w, uint8_t *L,
                       float *the_min, uint8_t *Laux, float rmin, float rdelta, int nstep,
                       bool use_mad)
{
    float min   = x[0];
    float max   = x[0];
    float sum_w = w[0];
    float sum_x = sum_w * x[0];
    for (int i = 1; i < n; i++) {
        if (x[i] < min) min = x[i];
        if (x[i] > max) max = x[i];
        sum_w += w[i];
        sum_x += w[i] * x[i];
    }
    if (min > 0) min = 0;
    if (max == min) {
        memset(L, 0, (size_t)n);
        *the_min = -min;
        return 0.f;
    }
    float iscale     = (float)nmax / (max - min);
    float scale      = 1 / iscale;
    float best_error = 0;
    for (int i = 0; i < n; i++) {
        int l = ferry__nearest_int(iscale * (x[i] - min));
        L[i]  = (uint8_t)clamp_i(l, 0, nmax);
        float diff = scale * (float)L[i] + min - x[i];
        diff = use_mad ? fabsf(diff) : diff * diff;
        best_error += w[i] * diff;
    }
    if (nstep < 1) {
        *the_min = -min;
        return scale;
    }
    for (int is = 0; is <= nstep; is++) {
        iscale = (rmin + rdelta * (float)is + (float)nmax) / (max - min);
        float sum_l = 0, sum_l2 = 0, sum_xl = 0;
        for (int i = 0; i < n; i++) {
            int l   = clamp_i(ferry__nearest_int(iscale * (x[i] - min)), 0, nmax);
            Laux[i] = (uint8_t)l;
            sum_l  += w[i] * (float)l;
            sum_l2 += w[i] * (float)l * (float)l;
            sum_xl += w[i] * (float)l * x[i];
        }
        float D = sum_w * sum_l2 - sum_l * sum_l;
        if (D > 0) {
            float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
            float this_min   = (sum_l2 * sum_x - sum_l * sum_xl) / D;
            if (this_min > 0) {
                this_min   = 0;
                this_scale = sum_xl / sum_l2;
            }
            float cur_error = 0;
            for (int i = 0; i < n; i++) {
                float diff = this_scale * (float)Laux[i] + this_min - x[i];
                diff = use_mad ? fabsf(diff) : diff * diff;
                cur_error += w[i] * diff;
            }
            if (cur_error < best_error) {
                memcpy(L, Laux, (size_t)n);
                best_error = cur_error;
                scale      = this_scale;
                min        = this_min;
            }
        }
    }
    *the_min = -min;
    return scale;
}

/*
 * make_qkx3_quants: the variant used with an importance matrix. Differences from qkx2: the
 * weights default to x^2, a degenerate range is max <= min, and trial codes are formed from
 * the clamped real value (v > 0 ? nearest_int(min(v, nmax)) : 0), which equals ggml's clamp
 * of the rounded value for finite input and stays defined when the current min makes v huge.
 */
float ferry__make_qkx3(int n, int nmax, const float *x, const float *w, uint8_t *L,
                       float *the_min, uint8_t *Laux, float rmin, float rdelta, int nstep,
                       bool use_mad)
{
    float min   = x[0];
    float max   = x[0];
    float sum_w = w ? w[0] : x[0] * x[0];
    float sum_x = sum_w * x[0];
    for (int i = 1; i < n; i++) {
        if (x[i] < min) min = x[i];
        if (x[i] > max) max = x[i];
        float wi = w ? w[i] : x[i] * x[i];
        sum_w += wi;
        sum_x += wi * x[i];
    }
    if (min > 0) min = 0;
    if (max <= min) {
        memset(L, 0, (size_t)n);
        *the_min = -min;
        return 0.f;
    }
    float iscale   = (float)nmax / (max - min);
    float scale    = 1 / iscale;
    float best_mad = 0;
    for (int i = 0; i < n; i++) {
        int l = ferry__nearest_int(iscale * (x[i] - min));
        L[i]  = (uint8_t)clamp_i(l, 0, nmax);
        float diff = scale * (float)L[i] + min - x[i];
        diff = use_mad ? fabsf(diff) : diff * diff;
        float wi = w ? w[i] : x[i] * x[i];
        best_mad += wi * diff;
    }
    if (nstep < 1) {
        *the_min = -min;
        return scale;
    }
    for (int is = 0; is <= nstep; is++) {
        iscale = (rmin + rdelta * (float)is + (float)nmax) / (max - min);
        float sum_l = 0, sum_l2 = 0, sum_xl = 0;
        for (int i = 0; i < n; i++) {
            const float v = iscale * (x[i] - min);
            const int   l = v > 0 ? ferry__nearest_int(v < (float)nmax ? v : (float)nmax) : 0;
            Laux[i] = (uint8_t)l;
            float wi = w ? w[i] : x[i] * x[i];
            sum_l  += wi * (float)l;
            sum_l2 += wi * (float)l * (float)l;
            sum_xl += wi * (float)l * x[i];
        }
        float D = sum_w * sum_l2 - sum_l * sum_l;
        if (D > 0) {
            float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
            float this_min   = (sum_l2 * sum_x - sum_l * sum_xl) / D;
            if (this_min > 0) {
                this_min   = 0;
                this_scale = sum_xl / sum_l2;
            }
            float mad = 0;
            for (int i = 0; i < n; i++) {
                float diff = this_scale * (float)Laux[i] + this_min - x[i];
                diff = use_mad ? fabsf(diff) : diff * diff;
                float wi = w ? w[i] : x[i] * x[i];
                mad += wi * diff;
            }
            if (mad < best_mad) {
                memcpy(L, Laux, (size_t)n);
                best_mad = mad;
                scale    = this_scale;
                min      = this_min;
            }
        }
    }
    *the_min = -min;
    return scale;
}

/* ============================================================================================
 * Sub-scale quantization
 * ========================================================================================== */

/*
 * make_qp_quants: quantizes non-negative sub-scales to [0, nmax] with weights qw. Eight
 * alternative iscales are scored by weighted squared error; the winner is refined by up to
 * five passes of coordinate descent. The codes are kept in bytes as ggml does (the first
 * assignment stores nearest_int unclamped, which for the scales it sees is in range).
 */
float ferry__make_qp(int n, int nmax, const float *x, uint8_t *L, const float *qw)
{
    float max = 0;
    for (int i = 0; i < n; i++) max = max > x[i] ? max : x[i];
    if (max < FERRY__GROUP_MAX_EPS) {
        memset(L, 0, (size_t)n);
        return 0.f;
    }
    float iscale = (float)nmax / max;
    for (int i = 0; i < n; i++) L[i] = (uint8_t)ferry__nearest_int(iscale * x[i]);
    float scale    = 1 / iscale;
    float best_mse = 0;
    for (int i = 0; i < n; i++) {
        float diff = x[i] - scale * (float)L[i];
        best_mse += qw[i] * diff * diff;
    }
    for (int is = -4; is <= 4; is++) {
        if (is == 0) continue;
        float iscale_is = (0.1f * (float)is + (float)nmax) / max;
        float scale_is  = 1 / iscale_is;
        float mse       = 0;
        for (int i = 0; i < n; i++) {
            int l = ferry__nearest_int(iscale_is * x[i]);
            l     = l < nmax ? l : nmax;
            float diff = x[i] - scale_is * (float)l;
            mse += qw[i] * diff * diff;
        }
        if (mse < best_mse) {
            best_mse = mse;
            iscale   = iscale_is;
        }
    }
    float sumlx = 0;
    float suml2 = 0;
    for (int i = 0; i < n; i++) {
        int l = ferry__nearest_int(iscale * x[i]);
        l     = l < nmax ? l : nmax;
        L[i]  = (uint8_t)l;
        sumlx += qw[i] * x[i] * (float)l;
        suml2 += qw[i] * (float)l * (float)l;
    }
    for (int itry = 0; itry < 5; itry++) {
        int n_changed = 0;
        for (int i = 0; i < n; i++) {
            float w   = qw[i];
            float slx = sumlx - w * x[i] * (float)L[i];
            float sl2 = suml2 - w * (float)L[i] * (float)L[i];
            if (slx > 0 && sl2 > 0) {
                int new_l = ferry__nearest_int(x[i] * sl2 / slx);
                new_l     = new_l < nmax ? new_l : nmax;
                if (new_l != L[i]) {
                    slx += w * x[i] * (float)new_l;
                    sl2 += w * (float)new_l * (float)new_l;
                    if (slx * slx * suml2 > sumlx * sumlx * sl2) {
                        L[i]  = (uint8_t)new_l;
                        sumlx = slx;
                        suml2 = sl2;
                        n_changed++;
                    }
                }
            }
        }
        if (!n_changed) break;
    }
    return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
}
