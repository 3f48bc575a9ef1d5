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

/* Step record value (format 3): the n scalars one tbw_add_scalars() call
 * logged at one step, in one LMDB entry under the key of the first one's
 * sequence number (the entry holds seq .. seq + n - 1):
 * wall f64 | step i64 | n u32 | kind u32 (TBW_JSTEP_KIND) |
 * n x (tag_id u32 | value f64) | CRC(key || all before it).
 * 28 + 12 n bytes, 2 <= n <= TBW_JSTEP_MAX: small enough to stay on its
 * leaf page (LMDB's node limit is about 2 KB with 4 KB pages). */
#define TBW_JSTEP_KIND 2u
#define TBW_JSTEP_HDR 24
#define TBW_JSTEP_ENTRY 12
#define TBW_JSTEP_MAX 128
#define TBW_JSTEP_SIZE(n) (TBW_JSTEP_HDR + TBW_JSTEP_ENTRY * (size_t)(n) + 4)

/* Run record value (format 4): n consecutive records a restore appended
 * (tbw__journal_insert), each with its own wall time and step, in one LMDB
 * entry under the key of the first one's sequence number:
 * wall f64 | step i64 (both record seq's) | n u32 | kind u32 (TBW_JRUN_KIND) |
 * n x (tag_id u32 | value f64 | wall f64 | step i64) | CRC(key || all before it).
 * 28 + 28 n bytes, 2 <= n <= TBW_JRUN_MAX (1820 bytes at most: two to a
 * 4 KiB leaf page, below LMDB's node limit). */
#define TBW_JRUN_KIND 3u
#define TBW_JRUN_ENTRY 28
#define TBW_JRUN_MAX 64
#define TBW_JRUN_SIZE(n) (TBW_JSTEP_HDR + TBW_JRUN_ENTRY * (size_t)(n) + 4)

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

/* A step record of n scalars (2 <= n <= TBW_JSTEP_MAX) into val
 * (TBW_JSTEP_SIZE(n) bytes). */
void tbw__jstep_encode(const uint8_t key[8], uint8_t *val, double wall, int64_t step, size_t n,
                       const uint32_t *tag_ids, const double *values);

/* A run record of n records (2 <= n <= TBW_JRUN_MAX, consecutive sequence
 * numbers from the key's) into val (TBW_JRUN_SIZE(n) bytes). */
void tbw__jrun_encode(const uint8_t key[8], uint8_t *val, size_t n, const uint32_t *tag_ids,
                      const double *values, const double *walls, const int64_t *steps);

/* 0 if the record (scalar or event) is intact and *r filled, -1 if its sizes
 * or its CRC are wrong, or if the entry is a step or run record (not one
 * record: tbw__jrec_decode_entry). */
int tbw__jrec_decode(const void *k, size_t nk, const void *v, size_t nv, tbw_jrec *r);

/* Any entry of `records`: 0 if intact, *count the records it holds (1, or
 * a step or run record's n) and *first the first of them (tbw__jrec_nth
 * gives the others); -1 if damaged, *count then the records it claims
 * (tbw__jrec_claimed). */
int tbw__jrec_decode_entry(const void *k, size_t nk, const void *v, size_t nv, tbw_jrec *first,
                           uint32_t *count);

/* Record i (0 <= i < count) of an entry tbw__jrec_decode_entry found
 * intact, from its value v and its first record. */
void tbw__jrec_nth(const void *v, const tbw_jrec *first, uint32_t i, tbw_jrec *out);

/* The records an entry's value claims to hold, checking nothing but its
 * shape: a step or run record's n when its size, kind and n agree, else 1. The
 * sequence numbers key .. key + claimed - 1 are taken by the entry, intact
 * or not (a damaged step record's scalars are lost, not free numbers). */
uint32_t tbw__jrec_claimed(const void *v, size_t nv);

/* A tags entry: key id (be32), value name || masked crc32c(key || name).
 * 0 and the name borrowed from v, or -1 when damaged. */
int tbw__jtag_decode(const void *k, size_t nk, const void *v, size_t nv, uint32_t *id,
                     const char **name, size_t *len);

#endif
