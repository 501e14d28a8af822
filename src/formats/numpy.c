/* numpy.c -- placeholder until the module lands. */
#include "internal.h"
const ferry_format_ops ferry__format_npy = { .name = "npy", .description = "NumPy (not yet implemented)", .extensions = ".npy" };
const ferry_format_ops ferry__format_npz = { .name = "npz", .description = "NumPy zip (not yet implemented)", .extensions = ".npz" };
