/*
 * registry.c -- the list of formats. Adding a format is one line here plus its module file.
 */
#include "internal.h"

extern const ferry_format_ops ferry__format_safetensors;
extern const ferry_format_ops ferry__format_gguf;
extern const ferry_format_ops ferry__format_npy;
extern const ferry_format_ops ferry__format_npz;
extern const ferry_format_ops ferry__format_pytorch;
extern const ferry_format_ops ferry__format_onnx;
extern const ferry_format_ops ferry__format_hdf5;

const ferry_format_ops *const ferry__formats[] = {
    &ferry__format_safetensors,
    &ferry__format_gguf,
    &ferry__format_npy,
    &ferry__format_npz,
    &ferry__format_pytorch,
    &ferry__format_onnx,
    &ferry__format_hdf5,
};

const int ferry__n_formats = (int)FERRY_ARRAY_LEN(ferry__formats);
