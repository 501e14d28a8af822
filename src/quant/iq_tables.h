/*
 * iq_tables.h -- lattice tables of the GGML "i-quant" types (private to src/quant/).
 *
 * The IQ2_* and IQ1_* types store indices into fixed sets of 8-dimensional points, the IQ3_*
 * types into sets of 4-dimensional points. The tables are format constants defined by ggml
 * (ggml-common.h: iq2xxs_grid, iq2xs_grid, iq2s_grid, iq1s_grid, iq3xxs_grid, iq3s_grid).
 *
 * The 8-dimensional sets are kept in the compact form ggml's quantizer uses (ggml-quants.c,
 * iq2xs_init_impl: kgrid_2bit_256 / _512 / _1024, kgrid_1bit_2048): entry k packs the level
 * l_j (0, 1 or 2) of coordinate j in bits 2j..2j+1. The coordinate values are, for the IQ2
 * sets, {0x08, 0x19, 0x2b}[l_j] (= 8, 25, 43), and for the IQ1 set l_j - 1 (-1, 0, +1); this
 * reproduces ggml-common.h's tables entry for entry. The 4-dimensional IQ3 sets are kept as
 * ggml-common.h spells them: four coordinate bytes in a little-endian uint32.
 */
#ifndef FERRY_IQ_TABLES_H
#define FERRY_IQ_TABLES_H

#include <stdint.h>

extern const uint16_t ferry__iq2xxs_kgrid[256];
extern const uint16_t ferry__iq2xs_kgrid[512];
extern const uint16_t ferry__iq2s_kgrid[1024];
extern const uint16_t ferry__iq1s_kgrid[2048];
extern const uint32_t ferry__iq3xxs_grid[256];
extern const uint32_t ferry__iq3s_grid[512];

/* Non-linear 4-bit levels (ggml-common.h kvalues_iq4nl; FORMATS.md A2.1) and the E2M1 levels
 * doubled so that they are integers (kvalues_mxfp4: index 8 is -0). Shared with the
 * quantizers in quantize_*.c. */
extern const int8_t ferry__kvalues_iq4nl[16];
extern const int8_t ferry__kvalues_mxfp4[16];

#endif /* FERRY_IQ_TABLES_H */
