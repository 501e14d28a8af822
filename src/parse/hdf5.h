/*
 * hdf5.h -- a read-only, bounds-checked reader for the subset of HDF5 that model files use
 * (Keras .h5, h5py-written weights). FORMATS.md §8, SECURITY.md H01 / K06; the HDF5 File
 * Format Specification version 3.0 (sections II.A superblock, III.A-B B-trees and heaps,
 * IV.A object headers and the header messages of IV.A.2).
 *
 * The reader never follows anything that leaves the file (external links, soft links,
 * external storage, virtual datasets): these are reported through the visitor's note
 * callback. It walks the group tree with an explicit stack, visits every object once (a
 * second path to an object is noted, never re-entered), and hands every dataset and
 * attribute to the visitor. Datasets are described (type, shape, layout, filters, fill
 * value) and their bytes are produced on demand by ferry__h5_read_elems.
 */
#ifndef FERRY_PARSE_HDF5_H
#define FERRY_PARSE_HDF5_H

#include "../core/internal.h"

#define FERRY__H5_MAX_RANK    32 /* H5S_MAX_RANK */
#define FERRY__H5_MAX_FILTERS 16

typedef struct ferry__h5 ferry__h5;

/* An HDF5 datatype as ferry sees it. */
typedef struct ferry__h5_type {
    uint8_t     cls;         /* HDF5 class: 0 fixed, 1 float, 3 string, 6 compound, 9 vlen... */
    uint32_t    size;        /* bytes per element */
    bool        big_endian;
    bool        vlen_string; /* class 9 string: elements are global-heap references */
    ferry_dtype dtype;       /* ferry dtype (OPAQUE / STRING when not plain) */
    bool        plain;       /* bytes map to dtype after at most a byte swap */
    char        native[48];  /* "<f4", ">i2", "|S10", "vlen-str", "compound(16)", ... */
} ferry__h5_type;

typedef struct ferry__h5_filter {
    uint16_t id;
    uint16_t flags;
    uint32_t nvals;
    uint32_t vals[8];
} ferry__h5_filter;

enum { FERRY__H5_COMPACT = 0, FERRY__H5_CONTIGUOUS = 1, FERRY__H5_CHUNKED = 2,
       FERRY__H5_VIRTUAL = 3 };
enum { FERRY__H5_IDX_BTREE1 = 0, FERRY__H5_IDX_SINGLE = 1, FERRY__H5_IDX_IMPLICIT = 2,
       FERRY__H5_IDX_FARRAY = 3, FERRY__H5_IDX_EARRAY = 4, FERRY__H5_IDX_BTREE2 = 5 };

/* A dataset: everything needed to produce its bytes later. Plain data (no pointers). */
typedef struct ferry__h5_dataset {
    int32_t          ndim;                  /* 0 for scalars */
    uint64_t         dims[FERRY__H5_MAX_RANK];
    uint64_t         maxdims[FERRY__H5_MAX_RANK];
    ferry__h5_type   type;
    int              layout;                /* FERRY__H5_* */
    uint64_t         data_off;              /* absolute offset in the source (compact,
                                               contiguous); UINT64_MAX: not allocated */
    uint64_t         data_size;
    int              index;                 /* FERRY__H5_IDX_* (chunked) */
    uint64_t         index_addr;            /* absolute offset of the index / single chunk */
    uint64_t         single_size;           /* single chunk: stored size */
    uint32_t         single_mask;
    uint32_t         chunk[FERRY__H5_MAX_RANK]; /* chunk dims in elements */
    int              nfilters;
    ferry__h5_filter filters[FERRY__H5_MAX_FILTERS];
    uint64_t         fill_off;              /* absolute offset of the fill value bytes */
    uint32_t         fill_len;              /* 0: zeros */
    uint64_t         header_addr;           /* object header (for messages) */
} ferry__h5_dataset;

/* An attribute, valid during the callback only. */
typedef struct ferry__h5_attr {
    const char     *name;
    size_t          name_len;
    ferry__h5_type  type;
    int32_t         ndim;        /* 0: scalar, -1: null dataspace */
    uint64_t        nelems;
    const uint8_t  *data;        /* nelems * type.size bytes */
} ferry__h5_attr;

typedef struct ferry__h5_visitor {
    void *ud;
    /* path: "a/b/c" (no leading slash); "" is the root group. Nonzero return stops. */
    int (*dataset)(void *ud, const char *path, const ferry__h5_dataset *d);
    int (*attribute)(void *ud, const char *path, const ferry__h5_attr *a);
    int (*note)(void *ud, const char *path, const char *text);
} ferry__h5_visitor;

/* Finds and checks the superblock (at 0, 512, 1024, ...). */
int  ferry__h5_open(ferry_ctx *ctx, ferry_source *src, ferry__h5 **out);
void ferry__h5_close(ferry__h5 *h);
/* Superblock version (0-3). */
int  ferry__h5_version(const ferry__h5 *h);
/* Walks every object reachable from the root group. */
int  ferry__h5_walk(ferry__h5 *h, const ferry__h5_visitor *v);
/* Whether the signature (at offset 0) of an HDF5 file starts `head`. */
bool ferry__h5_magic(const uint8_t *head, size_t n);

/* Reads the string that a variable-length string element (16 bytes for 8-byte offsets)
 * refers to in the global heap. *out is ferry__malloc'd (NUL-terminated, *len bytes). */
int ferry__h5_vlen_string(ferry__h5 *h, const uint8_t *elem, size_t elem_len, char **out,
                          size_t *len);

/* Chunk index cache of one dataset (built on first use). */
typedef struct ferry__h5_chunks ferry__h5_chunks;
void ferry__h5_chunks_free(ferry__h5 *h, ferry__h5_chunks *c);

/* Produces elements [first, first+n) of dataset d in C order, in the file's byte order
 * (the caller swaps), into dst (n * type.size bytes). Chunked data is decoded chunk by chunk
 * (one decoded chunk is cached in *cache). `path` names the dataset in messages. */
int ferry__h5_read_elems(ferry__h5 *h, const ferry__h5_dataset *d, const char *path,
                         ferry__h5_chunks **cache, uint64_t first, uint64_t n, uint8_t *dst);

#endif /* FERRY_PARSE_HDF5_H */
