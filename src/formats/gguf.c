/* gguf.c -- placeholder until the module lands. */
#include "internal.h"
const ferry_format_ops ferry__format_gguf = { .name = "gguf", .description = "gguf (not yet implemented)", .extensions = ".gguf" };
