/* syncer.h -- ship the journal to a sync folder (a Drive mount) as immutable,
 * checksummed segments (format: doc/segment-format.md), and restore a
 * journal from them.
 *
 * FOLDER LAYOUT
 *   SYNC_DIR/<run name>-<run id hex>/seg-<first>-<last>-L<level>.tbws
 *   SYNC_DIR/<run name>-<run id hex>/run.json   (informative metadata)
 * Every file is written under a temporary name (.tmp-..., never containing
 * "tfevents"), fsynced, renamed into place and the directory fsynced; nothing
 * there is ever appended to or rewritten in place, and nothing needs mmap,
 * locks or sparse files, so it works on FUSE (Drive, bindfs).
 *
 * SHIPPING PROTOCOL (each step crash-safe; tests/test_crash_sync.c)
 *  1. Read records with seq > ship cursor from the journal (a short read txn).
 *  2. Encode them as level-0 segments, write temp, fsync, rename, fsync dir.
 *  3. Advance the ship cursor (one write txn) to the last seq shipped.
 * A crash between 2 and 3 ships the same range again next time: overlapping
 * or identical segments are harmless, restore deduplicates by sequence.
 *
 * MERGING (levels, like Litestream)
 *  When TBW_SYNC_MERGE_FANIN unsealed segments share a level L, the oldest
 *  of them are merged into one segment of level L+1: the merged file is in
 *  place (fsynced, renamed, dir fsynced) before the inputs are unlinked. A
 *  segment is sealed (never merged again) once it holds more than half the
 *  per-segment caps (TBW_SEG_MAX_RECORDS / 2 records or TBW_SEG_MAX_RAW / 2
 *  bytes). So a folder holds at most (FANIN - 1) files per level plus the
 *  sealed ones: 17280 passes (24 h every 5 s) leave at most 7 * 5 + 1 files.
 */
#ifndef TBW_SYNCER_H
#define TBW_SYNCER_H

#include <stdint.h>
#include "journal/journal.h"
#include "format/segment.h"

/* Segments of one level merged together (also the per-level file bound + 1). */
#define TBW_SYNC_MERGE_FANIN 8
/* Most records read from the journal and shipped in one level-0 segment. */
#define TBW_SYNC_BATCH 65536

typedef struct tbw_syncer tbw_syncer;

/* Take the syncer role on j (TBW_EBUSY if another process has it, unless
 * wait_lock) and attach the ship cursor, so the compactor prunes only
 * shipped records. Segments go to sync_dir/<run_name>-<run id hex>/;
 * run_name NULL means the basename of the logdir recorded in the journal
 * (characters other than [A-Za-z0-9._+=@,-] become '_', no leading '.', at
 * most 100 bytes, "run" if nothing is left). Creates the folders, removes
 * temporary files a killed syncer left, reads the headers of the segments
 * already there, and writes run.json if it is missing or different.
 * j is borrowed and must outlive the syncer. On failure *out is NULL. */
int tbw__syncer_open(tbw_syncer **out, tbw_journal *j, const char *sync_dir,
                     const char *run_name, int wait_lock);

/* Refuse (TBW_ENOTFOUND, naming the path) a sync folder under Colab's Drive
 * mount point (/content/drive; TBW_DRIVE_ROOT for tests) when nothing is
 * mounted there (per /proc/self/mounts; TBW_MOUNTS_FILE for tests): files
 * would silently go to the machine's local disk. tbw__syncer_open checks;
 * tbw_open checks first, before anything is created. */
int tbw__sync_check_dir(const char *sync_dir);

/* Ship every record committed before the call that is not shipped yet, then
 * merge small segments when due. *nshipped (may be NULL) counts records.
 * Work is proportional to the new records (plus amortised merges), not to
 * the journal's size. On error the ship cursor stays where the last segment
 * that reached the folder left it; the next pass retries. */
int tbw__syncer_pass(tbw_syncer *s, uint64_t *nshipped);

/* Folder this syncer writes to (borrowed). */
const char *tbw__syncer_run_dir(const tbw_syncer *s);

/* Counters since open, for tools and tests. */
typedef struct tbw_sync_stats {
	uint64_t passes;
	uint64_t records_shipped;
	uint64_t segments_written;   /* level 0 */
	uint64_t merges;
	uint64_t segments_removed;   /* inputs unlinked after merges */
	uint64_t bytes_written;      /* segment bytes, merges included */
	uint64_t ship_seq;           /* ship cursor now */
	uint32_t files;              /* segment files in the run folder now */
	uint32_t unmergeable;        /* segments left alone: unreadable when merging */
	uint64_t unshippable;        /* records 1..this were pruned before the first syncer attached */
} tbw_sync_stats;
void tbw__syncer_stats(const tbw_syncer *s, tbw_sync_stats *out);

/* Release the syncer (drops the role; does not ship). NULL is a no-op. */
void tbw__syncer_close(tbw_syncer *s);

/* ---- Restore ----
 *
 * tbw__sync_restore() reads every segment of one run folder and inserts its
 * records into dst, a journal created for this (tbw_jopen.run_id set to the
 * run id tbw__sync_run_id() finds, or any journal of the same run). With dst
 * NULL it only scans and reports (a dry run).
 *
 * Guarantees, for a hostile or half-uploaded folder:
 *  - Only names parsing as segments are read (tbw__seg_parse_name); every
 *    other entry is ignored, and no name ever leads outside run_dir (entries
 *    are opened as run_dir/<name> with a name of 47 fixed characters).
 *  - Entries are opened with O_NOFOLLOW|O_NONBLOCK and must be regular
 *    files: a symlink, FIFO or directory with a segment's name is reported
 *    as damaged, never followed.
 *  - One segment at a time is read and decoded (memory bounded by the
 *    format's caps: at most TBW_SEG_MAX_COMP + TBW_SEG_MAX_RAW bytes plus
 *    TBW_SEG_MAX_RECORDS records), whatever the folder holds.
 *  - A truncated, garbage, bit-flipped or foreign-run segment is reported
 *    through on_damage (with the offset and why) and counted in bad; the
 *    other segments are restored regardless.
 *  - Records are deduplicated by sequence (tbw__journal_insert leaves an
 *    existing seq alone), so overlapping segments are harmless; duplicates
 *    counts them.
 * The run id is that of opts->run_id if set, else of dst if set, else of the
 * first segment (in name order) whose header reads; segments of another run
 * are reported as damaged ("segment belongs to run ...").
 *
 * Returns 0 when the folder could be listed (even if every segment was
 * damaged: look at the report), TBW_ENOTFOUND if run_dir does not exist,
 * or TBW_EIO / TBW_ENOMEM / an insert error (the report then says what was
 * done up to that point).
 */

/* Called once per damaged segment: file is its name inside run_dir, offset
 * a file offset (or with in_payload, an offset into the inflated payload),
 * code the TBW_E* classification (TBW_ECORRUPT, TBW_ETRUNCATED,
 * TBW_EVERSION, TBW_EIO...), reason one line. */
typedef void (*tbw_sync_damage_fn)(void *ctx, const char *file, uint64_t offset,
                                   int in_payload, int code, const char *reason);

/* Called for every intact record read (duplicates included), after its
 * segment passed every check and before it is inserted; return nonzero to
 * stop the restore (it then returns 0 with report.stopped set: stopping is
 * a result, not an error). tag is NULL for a START
 * marker. */
typedef int (*tbw_sync_record_fn)(void *ctx, const tbw_jrec_named *rec);

/* Called after each batch of records is inserted into dst (at most
 * TBW_SYNC_BATCH), with a sequence number through which the journal now
 * holds everything the folder will give: segments are read in order of
 * their first sequence number, so nothing read later falls at or below
 * min(last seq inserted, next segment's first seq - 1). tbrecover exports
 * and prunes through it, so memory stays bounded whatever the folder's size.
 * Return nonzero to stop (report.stopped). */
typedef int (*tbw_sync_batch_fn)(void *ctx, uint64_t safe_through);

/* Called once per lost range of a segment whose other blocks were read
 * (format v2: a damaged, truncated or unknown block, see tbw_seg_lost).
 * When NULL, on_damage is called instead with a reason naming the ranges. */
typedef void (*tbw_sync_lost_fn)(void *ctx, const char *file, const tbw_seg_lost *lost);

/* Called for records restore does not use on purpose: a segment of another
 * run (foreign), or of an older generation superseded by the newest one
 * (see GENERATIONS below). records: how many (0 if unknown), first..last
 * their sequence range, moved_to the path the file was moved to (NULL if it
 * stays in place: a dry run, or a segment only partly superseded), why one
 * line. */
typedef void (*tbw_sync_aside_fn)(void *ctx, const char *file, uint64_t first, uint64_t last,
                                  uint64_t records, const char *moved_to, const char *why);

typedef struct tbw_sync_restore_opts {
	tbw_sync_damage_fn on_damage;   /* may be NULL */
	tbw_sync_record_fn on_record;   /* may be NULL */
	void *ctx;
	const uint8_t *run_id;          /* 16 bytes, or NULL (see above) */
	tbw_sync_batch_fn on_batch;     /* may be NULL; only with dst */
	tbw_sync_lost_fn on_lost;       /* may be NULL */
	tbw_sync_aside_fn on_aside;     /* may be NULL */
	int set_aside;                  /* with dst: move foreign and superseded segments
	                                   into run_dir/.tbwal-set-aside/ (never deleted) */
} tbw_sync_restore_opts;

#define TBW_SYNC_RESTORE_OPTS_INIT { NULL, NULL, NULL, NULL, NULL, NULL, NULL, 0 }

/* GENERATIONS (split brain). A syncer ships under a generation recorded in
 * run.json and in its segment names (tbw__seg_name_gen): the generation of
 * the journal that wrote run.json, or a new one (the highest seen + 1) when
 * another journal of the same run (resumed or recovered on another machine)
 * opens the folder. A syncer whose generation is no longer run.json's stops
 * shipping (TBW_EBUSY), so a live old writer can neither overwrite nor
 * interleave with the new one. Restore keeps one history: the newest
 * generation G holds every sequence number from its first one F on; older
 * generations give only records below F, and their records at or above F
 * are set aside and reported (on_aside), never silently dropped. */

/* Newest record per tag (highest seq), for "the newest step per tag we can
 * vouch for". */
typedef struct tbw_sync_tag_last {
	char    *tag;          /* NUL-terminated, owned by the report */
	uint64_t seq;
	int64_t  step;
	double   wall_time;
	uint64_t records;      /* distinct records of this tag */
} tbw_sync_tag_last;

typedef struct tbw_sync_report {
	uint8_t  run_id[16];
	int      have_run_id;
	uint32_t files_ignored;     /* entries whose names do not parse */
	uint32_t segments_ok;
	uint32_t segments_bad;      /* damaged segments (with lost blocks too) */
	uint32_t blocks_lost;       /* lost ranges in segments whose other blocks were read */
	uint32_t segments_foreign;  /* segments of another run, set aside */
	uint32_t segments_superseded; /* segments of older generations set aside (whole) */
	uint64_t records_set_aside; /* records of foreign or superseded segments not used */
	uint32_t generation;        /* the newest generation, the one restored */
	uint64_t records_lost;      /* records those ranges are known to have held */
	uint64_t records;           /* intact records read, duplicates included */
	uint64_t records_new;       /* distinct seqs (inserted into dst, or seen in a dry run) */
	uint64_t duplicates;        /* records - records_new */
	uint64_t first_seq, last_seq;   /* range of distinct seqs (0, 0 if none) */
	uint64_t missing;           /* seqs in [first_seq, last_seq] no segment held */
	uint64_t starts;            /* SessionLog START markers (distinct) */
	double   newest_wall_time;  /* largest wall_time (NaN ignored), 0 if none */
	int      stopped;           /* a callback asked to stop: the rest was not read */
	tbw_sync_tag_last *tags;    /* ntags entries, sorted by name */
	size_t   ntags;
} tbw_sync_report;

int tbw__sync_restore(const char *run_dir, tbw_journal *dst,
                      const tbw_sync_restore_opts *opts, tbw_sync_report *rep);

/* Free what a report owns (tags). */
void tbw__sync_report_free(tbw_sync_report *rep);

/* The run a sync folder belongs to: the run_id in its run.json, else the
 * id in its name (<run name>-<32 hex>); never a segment's (a segment of
 * another run copied in must not decide). 0, or TBW_ENOTFOUND when neither
 * says. */
int tbw__sync_run_id(const char *run_dir, uint8_t run_id[16]);

/* Split a run folder's name "<run name>-<32 hex>" into its run id (and, if
 * name_out is not NULL, the run name, NUL-terminated, cap bytes). 1 if it
 * parses, else 0. */
int tbw__sync_parse_run_dir(const char *dirname, uint8_t run_id[16],
                            char *name_out, size_t cap);

#endif
