/*
 * write.c -- writing a model in a format: the write plan and the streaming tensor pump.
 *
 * ferry_write() decides, tensor by tensor, what the output will hold (name, dtype, shape),
 * hands that plan to the format's writer, and gives the writer one primitive,
 * ferry__wplan_write_tensor(), that moves a tensor's bytes into the sink in bounded chunks:
 *   - same dtype and the source is mapped: straight from the map to the sink (no copy of
 *     ours; the kernel copies from the page cache);
 *   - otherwise chunks of at most 1 Mi elements are read, converted and written.
 * So the peak memory of a conversion is the sink buffer plus one chunk, whatever the model
 * size, and the output appears at its path only when complete (atomic sink).
 */
#include "internal.h"

#include <stdio.h>

#define CHUNK_ELEMS ((uint64_t)1 << 20) /* a multiple of every block size (<= 256) */
#define MAP_CHUNK   ((uint64_t)64 << 20)

static int progress(ferry__wplan *plan, uint64_t add)
{
    plan->done_bytes += add;
    const ferry_write_options *o = plan->opt;
    if (o && o->progress && o->progress(o->progress_ud, plan->done_bytes, plan->total_bytes))
        return ferry__fail(plan->ctx, FERRY_E_IO, "%s: cancelled", plan->out_name);
    return FERRY_OK;
}

int ferry__wplan_write_tensor(ferry__wplan *plan, int64_t i, ferry_sink *sink)
{
    const ferry__wtensor *w = &plan->t[i];
    ferry_model *m = plan->src;
    const ferry__tensor *t = &m->tensors[w->src_index];
    if (w->dtype == t->dtype) {
        const void *p = NULL;
        int fd;
        uint64_t abs;
        if (!t->mem && t->src && (t->flags & FERRY_TENSOR_ZERO_COPY) &&
            ferry__source_file_range(t->src, t->offset, t->nbytes, &fd, &abs)) {
            /* Stored bytes are the output bytes: let the kernel copy them (as cp does), so
             * they never enter our address space. */
            int rc = FERRY_OK;
            for (uint64_t off = 0; off < t->nbytes && rc == 0; off += MAP_CHUNK) {
                uint64_t k = t->nbytes - off < MAP_CHUNK ? t->nbytes - off : MAP_CHUNK;
                rc = ferry__sink_copy_fd(sink, fd, abs + off, k);
                if (rc == 0) rc = progress(plan, k);
                else if (rc == FERRY_E_UNSUPPORTED && off == 0) break;
            }
            if (rc != FERRY_E_UNSUPPORTED) return rc;
        }
        if (ferry_tensor_data(m, w->src_index, &p) == 0) {
            for (uint64_t off = 0; off < t->nbytes; off += MAP_CHUNK) {
                uint64_t k = t->nbytes - off < MAP_CHUNK ? t->nbytes - off : MAP_CHUNK;
                FERRY_TRY(ferry_sink_write(sink, (const uint8_t *)p + off, (size_t)k));
                if (!t->mem) ferry__source_drop_pages(t->src, t->offset + off, k);
                FERRY_TRY(progress(plan, k));
            }
            return FERRY_OK;
        }
        ferry_ctx_clear_error(plan->ctx);
        const size_t bufsz = 4u << 20;
        uint8_t *buf = ferry__malloc(plan->ctx, bufsz);
        if (!buf) return plan->ctx->err_code;
        int rc = FERRY_OK;
        for (uint64_t off = 0; off < t->nbytes && rc == 0; off += bufsz) {
            size_t k = t->nbytes - off < bufsz ? (size_t)(t->nbytes - off) : bufsz;
            rc = ferry_tensor_read(m, w->src_index, off, buf, k);
            if (!rc) rc = ferry_sink_write(sink, buf, k);
            if (!rc) rc = progress(plan, k);
        }
        ferry__free(plan->ctx, buf, bufsz);
        return rc;
    }
    /* dtype conversion, chunk by chunk */
    uint64_t out_chunk;
    if (!ferry__dtype_nbytes(w->dtype, CHUNK_ELEMS, 0, &out_chunk))
        return ferry__fail(plan->ctx, FERRY_E_DTYPE, "%s: cannot size %s chunk", plan->out_name,
                           ferry_dtype_name(w->dtype));
    uint8_t *buf = ferry__malloc(plan->ctx, (size_t)out_chunk);
    if (!buf) return plan->ctx->err_code;
    int rc = FERRY_OK;
    for (uint64_t e = 0; e < t->nelems && rc == 0; e += CHUNK_ELEMS) {
        uint64_t k = t->nelems - e < CHUNK_ELEMS ? t->nelems - e : CHUNK_ELEMS;
        uint64_t ob;
        if (!ferry__dtype_nbytes(w->dtype, k, 0, &ob)) {
            rc = ferry__fail(plan->ctx, FERRY_E_DTYPE, "tensor \"%s\": %llu elements do not "
                             "fill whole %s blocks", w->name, (unsigned long long)k,
                             ferry_dtype_name(w->dtype));
            break;
        }
        rc = ferry_tensor_read_as(m, w->src_index, e, k, w->dtype, buf);
        if (!rc) rc = ferry_sink_write(sink, buf, (size_t)ob);
        if (!rc) rc = progress(plan, ob);
        uint64_t sb0, sb1;
        if (!rc && t->src && ferry__dtype_nbytes(t->dtype, e, t->itemsize, &sb0) &&
            ferry__dtype_nbytes(t->dtype, e + k, t->itemsize, &sb1))
            ferry__source_drop_pages(t->src, t->offset + sb0, sb1 - sb0);
    }
    ferry__free(plan->ctx, buf, (size_t)out_chunk);
    return rc;
}

/* The dtype the output will hold for a source dtype, or UNKNOWN if it cannot hold it.
 * Preference: the requested dtype (floating tensors only), the source dtype, then a lossless
 * widening, then F32 for anything that converts to F32 (block types: dequantization). */
static ferry_dtype choose_dtype(ferry__wplan *plan, const ferry_format_ops *f,
                                const ferry__tensor *t)
{
    ferry_dtype want = t->dtype;
    const ferry__dtype_desc *d = ferry__dtype(t->dtype);
    ferry_dtype req = plan->opt ? plan->opt->dtype : FERRY_DTYPE_UNKNOWN;
    if (req && d && (d->is_float || ferry_dtype_is_block(t->dtype)) && !d->is_complex)
        want = req;
    if (f->can_write(want)) return want;
    static const struct { ferry_dtype from, to; } widen[] = {
        {FERRY_DTYPE_BOOL, FERRY_DTYPE_U8},   {FERRY_DTYPE_BOOL, FERRY_DTYPE_I8},
        {FERRY_DTYPE_U8, FERRY_DTYPE_I16},    {FERRY_DTYPE_U16, FERRY_DTYPE_I32},
        {FERRY_DTYPE_U32, FERRY_DTYPE_I64},   {FERRY_DTYPE_I8, FERRY_DTYPE_I16},
        {FERRY_DTYPE_I16, FERRY_DTYPE_I32},   {FERRY_DTYPE_I32, FERRY_DTYPE_I64},
        {FERRY_DTYPE_C32, FERRY_DTYPE_C64},   {FERRY_DTYPE_C64, FERRY_DTYPE_C128},
        {FERRY_DTYPE_F16, FERRY_DTYPE_F32},   {FERRY_DTYPE_BF16, FERRY_DTYPE_F32},
        {FERRY_DTYPE_F32, FERRY_DTYPE_F64},
    };
    for (ferry_dtype cur = want;;) {
        ferry_dtype next = FERRY_DTYPE_UNKNOWN;
        for (size_t k = 0; k < FERRY_ARRAY_LEN(widen); k++)
            if (widen[k].from == cur && f->can_write(widen[k].to)) return widen[k].to;
        for (size_t k = 0; k < FERRY_ARRAY_LEN(widen); k++)
            if (widen[k].from == cur) { next = widen[k].to; break; }
        if (!next) break;
        cur = next;
    }
    if (ferry_dtype_is_numeric(want) && !(d && d->is_complex) && f->can_write(FERRY_DTYPE_F32))
        return FERRY_DTYPE_F32;
    return FERRY_DTYPE_UNKNOWN;
}

static int build_plan(ferry__wplan *plan, const ferry_format_ops *f)
{
    ferry_model *m = plan->src;
    plan->t = ferry__calloc(plan->ctx, (size_t)(m->n_tensors ? m->n_tensors : 1),
                            sizeof *plan->t);
    if (!plan->t) return plan->ctx->err_code;
    for (int64_t i = 0; i < m->n_tensors; i++) {
        const ferry__tensor *t = &m->tensors[i];
        if (t->status != FERRY_TENSOR_PLAIN) {
            ferry__log(plan->ctx, 1, "%s: skipping tensor \"%s\": %s is not a plain tensor",
                       plan->out_name, t->name,
                       t->native_dtype ? t->native_dtype : ferry_dtype_name(t->dtype));
            continue;
        }
        ferry_dtype dt = choose_dtype(plan, f, t);
        if (!dt)
            return ferry__fail(plan->ctx, FERRY_E_DTYPE,
                               "%s: tensor \"%s\": format %s cannot store %s", plan->out_name,
                               t->name, f->name, ferry_dtype_name(t->dtype));
        if (dt != t->dtype && (!plan->opt || dt != plan->opt->dtype))
            ferry__log(plan->ctx, 0, "tensor \"%s\": %s %s stored as %s", t->name,
                       ferry_dtype_is_block(t->dtype) ? "dequantizing" : "converting",
                       ferry_dtype_name(t->dtype), ferry_dtype_name(dt));
        ferry__wtensor *w = &plan->t[plan->n++];
        w->name         = t->name;
        w->dtype        = dt;
        w->ndim         = t->ndim;
        w->shape        = t->shape;
        w->nelems       = t->nelems;
        w->itemsize     = dt == t->dtype ? t->itemsize : 0;
        w->src_index    = i;
        w->native_dtype = t->native_dtype;
        if (dt == t->dtype) {
            w->nbytes = t->nbytes;
        } else if (!ferry__dtype_nbytes(dt, t->nelems, 0, &w->nbytes)) {
            return ferry__fail(plan->ctx, FERRY_E_DTYPE, "tensor \"%s\": %llu elements cannot "
                               "be stored as %s", t->name, (unsigned long long)t->nelems,
                               ferry_dtype_name(dt));
        }
        if (ferry__add_overflow(plan->total_bytes, w->nbytes, &plan->total_bytes))
            return ferry__fail(plan->ctx, FERRY_E_LIMIT, "total output size overflows");
    }
    return FERRY_OK;
}

static const ferry_format_ops *output_format(ferry_ctx *ctx, const char *path,
                                             const ferry_write_options *opt)
{
    const char *name = opt && opt->format ? opt->format : ferry_format_for_path(path);
    const ferry_format_ops *f = ferry__format_by_name(name);
    if (!name)
        ferry__fail(ctx, FERRY_E_ARG, "%s: cannot tell the output format from the extension; "
                    "name one", path ? path : "(output)");
    else if (!f || !f->write)
        ferry__fail(ctx, FERRY_E_NOTFOUND, "no writer for format \"%s\"", name);
    return f && f->write ? f : NULL;
}

static int write_to(ferry_model *m, const ferry_format_ops *f, const char *out_name,
                    ferry_sink *sink, const ferry_write_options *opt)
{
    ferry__wplan plan;
    memset(&plan, 0, sizeof plan);
    plan.ctx      = m->ctx;
    plan.src      = m;
    plan.opt      = opt;
    plan.out_name = out_name;
    if (opt && opt->struct_size < sizeof(ferry_write_options))
        return ferry__fail(m->ctx, FERRY_E_ARG, "ferry_write_options.struct_size not set");
    int rc = build_plan(&plan, f);
    if (rc == 0) rc = f->write(&plan, sink);
    ferry__free(m->ctx, plan.t, 0);
    return rc;
}

int ferry_write_sink(ferry_model *m, ferry_sink *sink, const ferry_write_options *opt)
{
    if (!m || !sink) return FERRY_E_ARG;
    const ferry_format_ops *f = output_format(m->ctx, NULL, opt);
    if (!f) return m->ctx->err_code;
    return write_to(m, f, "(output)", sink, opt);
}

int ferry_write(ferry_model *m, const char *path, const ferry_write_options *opt)
{
    if (!m || !path) return FERRY_E_ARG;
    const ferry_format_ops *f = output_format(m->ctx, path, opt);
    if (!f) return m->ctx->err_code;
    ferry_sink *sink = NULL;
    FERRY_TRY(ferry_sink_open_file(m->ctx, path, &sink));
    int rc = write_to(m, f, path, sink, opt);
    if (rc) {
        ferry_sink_abort(sink);
        return rc;
    }
    return ferry_sink_commit(sink);
}
