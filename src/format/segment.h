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
#define TBW_SEG_VERSION      2      /* what the encoder writes */
#define TBW_SEG_VERSION_MIN  1      /* oldest version a reader still reads */
#define TBW_SEG_HEADER_SIZE  88

/* Version 2: the payload is a sequence of blocks, each with its own header
 * (magic, kind, run id, seq and step ranges, sizes, two CRCs), so one
 * damaged block loses only its own records and a reader resyncs on the
 * next block's magic. A block holds records of one kind. */
#define TBW_SEG_BLOCK_MAGIC       "TBWB"   /* 4 bytes */
#define TBW_SEG_BLOCK_HEADER_SIZE 80
#define TBW_SEG_BLOCK_RECORDS     4096u    /* scalar records per block (encoder) */
#define TBW_SEG_MAX_BLOCKS        4096u    /* blocks per segment (reader's bound) */
/* Record kinds (the block header's kind byte). A reader reports a block of
 * a kind it does not know as lost with TBW_EVERSION, and reads the rest. */
#define TBW_SEG_KIND_SCALAR       1u
/* Event records (tbw_add_event): seq, tag, step, wall_time and a body of
 * serialized Event fields per record, in rows (doc/segment-format.md). */
#define TBW_SEG_KIND_EVENT        2u
/* An event block's raw payload is at most TBW_SEG_MAX_RAW, except a block
 * holding one record, which may reach TBW_SEG_EVENT_MAX_RAW (the largest
 * event record, tbwal.h's TBW_RECORD_MAX_LIMIT, plus its row). */
#define TBW_SEG_EVENT_MAX_RAW     ((1u << 30) + 4096u)
/* The encoder starts a new event block past this many raw bytes. */
#define TBW_SEG_EVENT_BLOCK_RAW   (4u << 20)

/* Bounds every reader enforces before allocating anything. The encoder
 * refuses to exceed them, so every segment we write can be read back. */
#define TBW_SEG_MAX_RECORDS  (1u << 18)              /* records per segment */
#define TBW_SEG_MAX_RAW      (16u << 20)             /* uncompressed payload bytes */
/* A whole segment: TBW_SEG_MAX_RAW, plus one event block of one record. */
#define TBW_SEG_MAX_RAW_ALL  ((uint64_t)TBW_SEG_MAX_RAW + TBW_SEG_EVENT_MAX_RAW)
#define TBW_SEG_MAX_COMP     (TBW_SEG_MAX_RAW_ALL + (TBW_SEG_MAX_RAW_ALL >> 10) + 1024 + \
                              (uint64_t)(TBW_SEG_BLOCK_HEADER_SIZE + 64) * TBW_SEG_MAX_BLOCKS)
/* The largest segment file a reader reads at all. */
#define TBW_SEG_MAX_FILE     ((uint64_t)TBW_SEG_HEADER_SIZE + TBW_SEG_MAX_COMP)
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
	/* An event record: body_len > 0 bytes at body (decoded: pointing into
	 * the segment's raw payload); value is 0 and tag 0 means no tag (not
	 * START). A scalar or START: body NULL, body_len 0. */
	uint32_t body_len;
	const uint8_t *body;
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
	uint64_t comp_size;    /* payload bytes in the file (v2: all blocks, headers included) */
	uint64_t raw_size;     /* payload bytes once inflated (v2: sum over the blocks) */
	uint32_t payload_crc;  /* v1: CRC-32C of the comp_size payload bytes */
	uint32_t nblocks;      /* v2: blocks in the file */
} tbw_seg_header;

/* A range of records a v2 segment lost (a damaged, truncated or unknown
 * block, or bytes between blocks that are no block). first_seq..last_seq
 * are exact when the block's own header survived (steps_known, records the
 * block's count); when it did not, they are the gap between the intact
 * neighbours (last_seq UINT64_MAX: up to the end of the segment, which the
 * caller knows from the file name) and records is 0 (unknown). */
typedef struct tbw_seg_lost {
	uint64_t first_seq, last_seq;
	int      steps_known;
	int64_t  min_step, max_step;
	uint64_t records;
	uint64_t offset;       /* file offset of the damaged bytes */
	uint64_t bytes;        /* how many bytes were skipped */
	int      code;         /* TBW_ECORRUPT, TBW_ETRUNCATED or TBW_EVERSION */
	uint32_t kind;         /* block kind if known, else 0 */
	char     reason[160];
} tbw_seg_lost;

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
	/* v2 only: what was lost (nlost ranges, in file order). A segment
	 * with lost blocks still decodes (returns 0) with the intact blocks'
	 * records in recs. header_damaged: the file header did not read; h
	 * then comes from the blocks (run id, first/last seq, count, level 0)
	 * and the caller should take the range and level from the name. */
	tbw_seg_lost  *lost;
	size_t         nlost;
	int            header_damaged;
	size_t         recs_cap, raw_cap;   /* allocated sizes of recs and raw */
} tbw_seg;

/* The blocks tbw__seg_encode makes of a run of records, counted one record
 * at a time by its body length (0: a scalar or START): a block holds up to
 * TBW_SEG_BLOCK_RECORDS records of one kind and, for event records, about
 * TBW_SEG_EVENT_BLOCK_RAW bytes. A writer's records can alternate kinds
 * (a scalar and a histogram every step): then every record is a block, and
 * a segment must end before TBW_SEG_MAX_BLOCKS. Start from {0}. */
typedef struct tbw_seg_blockcount {
	uint64_t blocks;     /* blocks so far */
	uint32_t in_block;   /* records in the last one */
	int      ev;         /* the last one holds event records */
	uint64_t evbytes;    /* ... of these many body bytes */
} tbw_seg_blockcount;

/* Count one more record; returns 1 if it opened a new block. */
int tbw__seg_blockcount_add(tbw_seg_blockcount *b, uint32_t body_len);

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

/* Decode a whole segment file image. Version 1: checks the header, that
 * the file is exactly header + comp_size bytes (TBW_ETRUNCATED if shorter),
 * the payload CRC, inflates into at most raw_size bytes, and validates
 * every field; any damage fails the whole segment. Version 2: block by
 * block; a damaged block (or damaged bytes between blocks, or a truncated
 * tail) is listed in out->lost and the other blocks are returned, so the
 * call fails only when no block at all could be read (then as for v1).
 * Returns 0 (out filled), TBW_ETRUNCATED, TBW_EVERSION, TBW_ECORRUPT (d
 * says where and why) or TBW_ENOMEM. On error out holds nothing to release. */
int tbw__seg_decode(const uint8_t *buf, size_t len, tbw_seg *out,
                    tbw_seg_damage *d);

/* The same, taking old's record and payload arrays for out's when they are
 * big enough (old keeps what it does not give up; release it after). A
 * reader of many segments pays for its big arrays once instead of having
 * fresh pages faulted in and cleared for every segment. old may be NULL. */
int tbw__seg_decode_reusing(const uint8_t *buf, size_t len, tbw_seg *out,
                            tbw_seg_damage *d, tbw_seg *old);

void tbw__seg_release(tbw_seg *s);

/* One line for a lost range: "records seq A..B (N records, steps C..D)
 * lost: <reason>". */
void tbw__seg_lost_describe(const tbw_seg_lost *l, char *buf, size_t cap);

/* File names: seg-<first 16 hex>-<last 16 hex>-L<level>.tbws (lowercase
 * hex, level 0..99). tbw__seg_name writes it (needs TBW_SEG_NAME_MAX bytes);
 * tbw__seg_parse_name returns 1 and fills the fields if name is exactly
 * such a name with first <= last, else 0. */
#define TBW_SEG_NAME_MAX 64
void tbw__seg_name(char *buf, uint64_t first, uint64_t last, uint32_t level);
int tbw__seg_parse_name(const char *name, uint64_t *first, uint64_t *last,
                        uint32_t *level);

/* With a generation (doc/segment-format.md "Generations"): generation 0 is
 * the name above; generation g >= 1 is seg-<first>-<last>-L<level>-g<g
 * decimal, no leading zeros>.tbws. tbw__seg_parse_name accepts both forms
 * (and ignores the generation); tbw__seg_parse_name_gen returns it. */
#define TBW_SEG_MAX_GENERATION 99999999u
void tbw__seg_name_gen(char *buf, uint64_t first, uint64_t last, uint32_t level, uint32_t gen);
int tbw__seg_parse_name_gen(const char *name, uint64_t *first, uint64_t *last,
                            uint32_t *level, uint32_t *gen);

/* 1 if the bytes are acceptable as a tag name inside a segment: 1 to
 * 1024 bytes of valid UTF-8 without control characters. */
int tbw__seg_tag_ok(const char *name, size_t len);

#endif
