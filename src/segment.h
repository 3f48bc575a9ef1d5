/* segment.h -- the sync file format: an immutable, self-contained,
 * checksummed, zlib-compressed range of journal records.
 *
 * Format: see doc/segment-format.md. This module is pure (no file I/O) and
 * the only one that includes <zlib.h>. The syncer writes what
 * tbw__seg_encode() returns into the sync folder; restore hands a file's
 * bytes to tbw__seg_decode(), which checks everything and never trusts a
 * size it has not bounded: hostile input is reported, never crashes.
 */
#ifndef TBW_SEGMENT_H
#define TBW_SEGMENT_H

#include <stddef.h>
#include <stdint.h>

#define TBW_SEG_MAGIC        "TBWSEG\r\n"  /* 8 bytes */
#define TBW_SEG_VERSION      1
#define TBW_SEG_HEADER_SIZE  88

/* Bounds every reader enforces before allocating anything. The encoder
 * refuses to exceed them, so every segment we write can be read back. */
#define TBW_SEG_MAX_RECORDS  (1u << 18)              /* records per segment */
#define TBW_SEG_MAX_RAW      (16u << 20)             /* uncompressed payload bytes */
#define TBW_SEG_MAX_COMP     (TBW_SEG_MAX_RAW + (TBW_SEG_MAX_RAW >> 10) + 1024)
/* deflate cannot expand more than 1032:1; a header claiming more is lying. */
#define TBW_SEG_MAX_RATIO    1032u

/* Tag index of a SessionLog START marker in tbw_seg_rec.tag. */
#define TBW_SEG_TAG_START    0u

/* One record. tag is TBW_SEG_TAG_START or k >= 1 for tags[k - 1]. wall_time
 * and value round-trip bit for bit (NaN payloads included). */
typedef struct tbw_seg_rec {
	uint64_t seq;
	double   wall_time;
	int64_t  step;
	double   value;
	uint32_t tag;
} tbw_seg_rec;

/* A tag name (not NUL-terminated in decoded segments). */
typedef struct tbw_seg_tag {
	const char *name;
	size_t      len;
} tbw_seg_tag;

typedef struct tbw_seg_header {
	uint16_t version;
	uint8_t  run_id[16];
	uint64_t first_seq;
	uint64_t last_seq;
	uint64_t count;        /* records */
	uint32_t ntags;        /* tags in the payload's table */
	uint32_t level;        /* merge level (0: written by a pass) */
	uint64_t comp_size;    /* payload bytes in the file */
	uint64_t raw_size;     /* payload bytes once inflated */
	uint32_t payload_crc;  /* CRC-32C of the comp_size payload bytes */
} tbw_seg_header;

/* Where and why a segment is damaged. offset is a file offset, or with
 * in_payload an offset into the inflated payload (whose compressed bytes
 * passed their CRC: such damage was made on purpose or by a bug). */
typedef struct tbw_seg_damage {
	uint64_t offset;
	int      in_payload;
	char     reason[160];
} tbw_seg_damage;

/* A decoded segment. recs and tags (which point into raw) are owned;
 * release with tbw__seg_release(). */
typedef struct tbw_seg {
	tbw_seg_header h;
	tbw_seg_rec   *recs;
	size_t         n;
	tbw_seg_tag   *tags;
	size_t         ntags;
	uint8_t       *raw;
} tbw_seg;

/* Encode n records (strictly increasing seq >= 1, 1 <= n <=
 * TBW_SEG_MAX_RECORDS) into a whole segment file image. rec.tag indexes
 * tags[] (1-based, 0 = START); only the tags the records use are written,
 * in order of first use. *out is tbw__malloc'd (tbw__free it).
 * Deterministic: the same input always gives the same bytes.
 * Errors: TBW_EINVAL (order, tag index or name, size caps), TBW_ENOMEM. */
int tbw__seg_encode(const uint8_t run_id[16], uint32_t level,
                    const tbw_seg_rec *recs, size_t n,
                    const tbw_seg_tag *tags, size_t ntags,
                    uint8_t **out, size_t *out_len);

/* Parse and check the header at buf[0..len) (len may be the file size or
 * just TBW_SEG_HEADER_SIZE): magic, version, header CRC, every bound.
 * Returns 0, TBW_ETRUNCATED (shorter than a header), TBW_EVERSION or
 * TBW_ECORRUPT, with d (may be NULL) saying where and why. */
int tbw__seg_read_header(const uint8_t *buf, size_t len, tbw_seg_header *h,
                         tbw_seg_damage *d);

/* Decode a whole segment file image. Checks the header, that the file is
 * exactly header + comp_size bytes (TBW_ETRUNCATED if shorter), the payload
 * CRC, inflates into at most raw_size bytes, and validates every field.
 * Returns 0 (out filled), TBW_ETRUNCATED, TBW_EVERSION, TBW_ECORRUPT (d
 * says where and why) or TBW_ENOMEM. On error out holds nothing to release. */
int tbw__seg_decode(const uint8_t *buf, size_t len, tbw_seg *out,
                    tbw_seg_damage *d);

void tbw__seg_release(tbw_seg *s);

/* File names: seg-<first 16 hex>-<last 16 hex>-L<level>.tbws (lowercase
 * hex, level 0..99). tbw__seg_name writes it (needs TBW_SEG_NAME_MAX bytes);
 * tbw__seg_parse_name returns 1 and fills the fields if name is exactly
 * such a name with first <= last, else 0. */
#define TBW_SEG_NAME_MAX 48
void tbw__seg_name(char *buf, uint64_t first, uint64_t last, uint32_t level);
int tbw__seg_parse_name(const char *name, uint64_t *first, uint64_t *last,
                        uint32_t *level);

/* 1 if the bytes are acceptable as a tag name inside a segment: 1 to
 * 1024 bytes of valid UTF-8 without control characters. */
int tbw__seg_tag_ok(const char *name, size_t len);

#endif
