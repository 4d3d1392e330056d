/*
 * snap_int.h - inside persist/: the array encoding of a spec and the
 * content hash, shared by snap.c (create, restore), the hash and the tests.
 *
 * A spec's big arrays are stored as "kinds": each kind is an array of items,
 * either fixed-width little-endian numbers or NUL-terminated strings, cut
 * into rows of at most SNAP__ROW_BYTES that never split an item. The order
 * of enum snap__kind is the order in which kinds are hashed: never reorder,
 * only append (and bump SNAP_SCHEMA).
 */
#ifndef VOLLEY_PERSIST_SNAP_INT_H
#define VOLLEY_PERSIST_SNAP_INT_H

#include "snap.h"

#include <stddef.h>
#include <stdint.h>

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
               "volley.db arrays are little-endian and copied as is");

#define SNAP__ROW_BYTES ((size_t)4 << 20) /* 4 MiB: measured in bench/persist */
/* The row size in use: SNAP__ROW_BYTES; tests lower it to cut many rows. */
extern size_t snap__row_bytes;
/* Settings the benchmark compares (bench/persist); the defaults are the
 * measured choices. */
extern int snap__sync_full;     /* checkpoints: 1 synchronous=FULL (default), 0 NORMAL */
extern int64_t snap__cache_kib; /* checkpoint cache; 0: sized to the job table */
extern int snap__page_size;     /* page size of a new volley.db (default 4096) */
extern int snap__prefault;      /* restore pre-faults its big arrays (default 1) */
#define SNAP__APP_ID 0x566c4442 /* PRAGMA application_id: "VlDB" */

enum snap__kind {
    SNAP__JOB_NAME,      /* str, njobs */
    SNAP__JOB_CMD,       /* str, njobs */
    SNAP__JOB_NPAR,      /* u32, njobs: in-degree (the iterator needs it) */
    SNAP__JOB_NKIDS,     /* u32, njobs: out-degree, kid_off's differences */
    SNAP__JOB_KIDS,      /* u32, nedges */
    SNAP__JOB_RR,        /* u16, njobs */
    SNAP__JOB_FH,        /* u16, njobs */
    SNAP__JOB_FLAGS,     /* u8, njobs */
    SNAP__JOB_NINS,      /* u32, njobs if nfiles else 0 */
    SNAP__JOB_INS,       /* u32 */
    SNAP__JOB_NOUTS,     /* u32, njobs if nfiles else 0 */
    SNAP__JOB_OUTS,      /* u32 */
    SNAP__FILE_NAME,     /* str, nfiles */
    SNAP__FILE_PATH,     /* str, nfiles */
    SNAP__FILE_PRODUCER, /* u32, nfiles */
    SNAP__FILE_FLAGS,    /* u32, nfiles */
    SNAP__NKINDS
};

struct snap__kind_desc {
    const char *name; /* spec_array.kind and spec_chunk.kind */
    unsigned width;   /* bytes per item; 0: NUL-terminated strings */
};
extern const struct snap__kind_desc snap__kinds[SNAP__NKINDS];

/* Items of kind k in spec s. */
uint64_t snap__kind_items(const struct spec *s, int k);

/* A streaming 64-bit hash (4 lanes of multiply-rotate, 32-byte stripes). */
struct snap__hash {
    uint64_t v[4];
    uint64_t total;
    uint8_t buf[32];
    unsigned nbuf;
};
void snap__hash_init(struct snap__hash *h);
void snap__hash_add(struct snap__hash *h, const void *data, size_t len);
void snap__hash_u64(struct snap__hash *h, uint64_t v);
uint64_t snap__hash_end(const struct snap__hash *h);

/* The trailer hashed after kind k's payload. */
void snap__hash_kind_end(struct snap__hash *h, int k, uint64_t items, uint64_t bytes);
/* Hashes what is not in kinds: the small tables and name/description. */
void snap__hash_rest(struct snap__hash *h, const struct spec *s);

/* Receives one row of kind k: items [first, first + count), len bytes. */
typedef int (*snap__sink)(void *ctx, int k, uint64_t seq, uint64_t first, uint64_t count,
                          const void *data, size_t len);

/*
 * Cuts every kind of s into rows, in kind order, hashing each (payload,
 * then trailer) into h, and hands each row to sink (may be NULL: hash
 * only). bytes[k] gets each kind's payload size. Returns 0 or the sink's
 * first error. Allocates one row buffer.
 */
int snap__encode(const struct spec *s, struct snap__hash *h, snap__sink sink, void *ctx,
                 uint64_t bytes[SNAP__NKINDS]);

#endif /* VOLLEY_PERSIST_SNAP_INT_H */
