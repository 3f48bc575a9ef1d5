/* jrecord.h -- the journal's record and tag encodings (doc/journal-format.md),
 * shared by the LMDB wrapper (journal.c) and salvage's raw page scan
 * (salvage.c), which must decode exactly what the wrapper wrote.
 */
#ifndef TBW_JRECORD_H
#define TBW_JRECORD_H

#include <stddef.h>
#include <stdint.h>
#include "journal/journal.h"

#define TBW_JREC_KEY_SIZE 8
#define TBW_JREC_VAL_SIZE 32

/* Event record value (format 2): wall f64 | step i64 | body_len u32 |
 * kind u32 (TBW_JEV_KIND_EVENT) | tag_id u32 | body | CRC(key || all before it).
 * 32 + body_len bytes, body_len >= 1, so never the 32 bytes of a scalar. */
#define TBW_JEV_HDR 28
#define TBW_JEV_KIND_EVENT 1u

/* The file a journal's creating transaction leaves behind when it completed. */
#define TBW_JOURNAL_CREATED_MARK "journal.created"

/* masked CRC-32C of a || b */
uint32_t tbw__jcrc2(const void *a, size_t na, const void *b, size_t nb);

/* A scalar record: key (seq) and 32-byte value with its CRC. */
void tbw__jrec_encode(uint8_t key[8], uint8_t val[32], uint64_t seq, double wall,
                      int64_t step, double value, uint32_t tag_id);

/* The header and CRC of an event record into val (body_len + 32 bytes, the
 * body already at val + TBW_JEV_HDR). */
void tbw__jevent_encode(const uint8_t key[8], uint8_t *val, double wall, int64_t step,
                        uint32_t tag_id, size_t body_len);

/* 0 if the record (scalar or event) is intact and *r filled, -1 if its sizes
 * or its CRC are wrong. */
int tbw__jrec_decode(const void *k, size_t nk, const void *v, size_t nv, tbw_jrec *r);

/* A tags entry: key id (be32), value name || masked crc32c(key || name).
 * 0 and the name borrowed from v, or -1 when damaged. */
int tbw__jtag_decode(const void *k, size_t nk, const void *v, size_t nv, uint32_t *id,
                     const char **name, size_t *len);

#endif
