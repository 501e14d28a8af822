/* safetensors.c -- placeholder until the module lands. */
#include "internal.h"
const ferry_format_ops ferry__format_safetensors = { .name = "safetensors", .description = "safetensors (not yet implemented)", .extensions = ".safetensors" };
