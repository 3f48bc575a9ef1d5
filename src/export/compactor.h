/* compactor.h -- export committed journal records to TensorBoard event files,
 * exactly once, whatever crashes (protocol: doc/compactor.md).
 */
#ifndef TBW_COMPACTOR_H
#define TBW_COMPACTOR_H

#include <stdint.h>
#include "tbwal.h"
#include "journal/journal.h"

typedef struct tbw_compactor tbw_compactor;

typedef struct tbw_compact_cfg {
	const char *logdir;               /* where event files go */
	tbw_scalar_format scalar_format;  /* simple_value or DT_FLOAT tensor */
	const char *filename_suffix;      /* appended to event file names ("" / NULL) */
	uint64_t rotate_bytes;            /* start a new file past this size; 0: default */
	int wait_lock;                    /* wait for another compactor instead of TBW_EBUSY */
	int pipeline_sync;                /* a pass returns with its last fsync running (below) */
} tbw_compact_cfg;

#define TBW_COMPACT_CFG_INIT { NULL, TBW_SCALAR_SIMPLE, NULL, 0, 0, 0 }

/* Default rotation size: a new event file once the current one has passed
 * this many bytes (checked after each batch, so a file ends a little past
 * it). About 350,000 scalars with short tags. */
#define TBW_COMPACT_ROTATE_DEFAULT (16u << 20)

/* Temporary files of the compactor in logdir start with this prefix (they
 * never contain "tfevents", so TensorBoard never reads them). */
#define TBW_COMPACT_TMP_PREFIX ".tbwal-new-"

/* Take the compactor role on j (TBW_EBUSY if another process, or another
 * compactor of this process, has it; with cfg->wait_lock, wait), repair
 * the current event file (cut a torn or unacknowledged tail back to the
 * cursor's offset, then export again into it what the cut tail held) and
 * arrange a new file for this session: it is created when the session's
 * first record is exported. j is borrowed and must outlive the compactor.
 * Problems that do not stop export (a damaged event file, damaged journal
 * records) are reported in tbw__compactor_stats().problem. */
int tbw__compactor_open(tbw_compactor **out, tbw_journal *j, const tbw_compact_cfg *cfg);

/* Export every record committed before the call, then prune what is exported
 * (and shipped, when a syncer is attached). *nexported (may be NULL) counts
 * the records written. Thread-safe against concurrent appends to j; calls on
 * one compactor must not overlap. */
int tbw__compactor_pass(tbw_compactor *c, uint64_t *nexported);

/* The same, exporting only records with seq <= through (tbrecover exports
 * what it has restored so far while later segments are still being read). */
int tbw__compactor_pass_through(tbw_compactor *c, uint64_t through, uint64_t *nexported);

/* With cfg->pipeline_sync (tbrecover), a pass writes its last buffer and
 * returns while a thread fsyncs it, so the caller's next work (restoring
 * the next batch, encoding the next buffer) overlaps the disk's flush. The
 * cursor that covers those bytes is committed only once the fsync has
 * returned, at the next flush or settle, never before, so exactly-once
 * holds as without it (a crash leaves the bytes past the cursor, which open
 * cuts back). At most one buffer waits so. *nexported of a pass counts what
 * it committed: the buffers whose fsync it waited for (the previous pass's
 * last one, and its own but its last). Settle waits for that fsync and
 * commits the cursor (*nexported, may be NULL: the records it covered);
 * close only waits. While faults are armed (tbw__os_faults_armed) the fsync
 * is made at the wait, on the caller's thread. Without pipeline_sync
 * settle is a no-op. */
int tbw__compactor_settle(tbw_compactor *c, uint64_t *nexported);

/* Tests: with on, the pipelined fsync runs on its thread even while faults
 * are armed (a test whose thread makes the only call of its kind between
 * the pass and the settle, so the walk stays deterministic). */
void tbw__compactor_test_thread_with_faults(int on);

/* For a big export in chunks (progress reports): the `through` of the next
 * chunk of about `chunk` records, counted from the first record stored
 * after the cursor (sequence numbers need not be dense: a chunk counted
 * from the cursor stepped over a gap of 2^55 262,144 numbers at a time);
 * UINT64_MAX for the rest when less than a chunk is left before `last`. */
uint64_t tbw__compactor_next_chunk(tbw_compactor *c, uint64_t last, uint64_t chunk);

/* What a compactor did and found (all counters since open). */
typedef struct tbw_compact_stats {
	uint64_t exported;        /* journal records written to event files */
	uint64_t skipped_corrupt; /* damaged journal records skipped, never exported */
	uint64_t pruned;          /* records deleted from the journal */
	uint32_t files_created;   /* event files started */
	uint32_t damaged_files;   /* event files found shorter than their cursor */
	uint64_t repaired_bytes;  /* bytes past the cursor cut back (torn/unacknowledged tails) */
	tbw_jexport cursor;       /* export cursor as last committed */
	char problem[512];        /* latest problem worth telling a user about ("" if none) */
} tbw_compact_stats;

void tbw__compactor_stats(const tbw_compactor *c, tbw_compact_stats *out);

/* Our event file names end in ".tbwal-<run8>-[S]<base, 16 hex><user suffix>":
 * run8 is the first 8 hex digits of the run id, base the sequence number
 * before the file's first record (the file holds base+1, base+2, ... with no
 * gap), and S marks a file that opens with the run's sacrificial SessionLog
 * START (after file_version, before the first record). Returns 1 and fills
 * the outputs if name is one of ours, else 0. with_start may be NULL. */
int tbw__compactor_parse_name(const char *name, char run8[9], uint64_t *base, int *with_start);

/* tbrecover's repair (doc/recover.md, "A running TensorBoard"): the next
 * file this compactor starts sorts after sort_after (a name moved out of
 * logdir that a running TensorBoard may still be reading; NULL or "" for
 * none) and, with with_start, holds a SessionLog START at step right after
 * its file_version (the file is named "S"; before the run's first record
 * that START stands in for the sacrificial one). Call before the export. */
void tbw__compactor_set_repair(tbw_compactor *c, const char *sort_after, int with_start, int64_t step);

/* tbrecover's report: from now on fn is called for every record this
 * compactor writes (a scalar with its tag; an event record or a START with
 * tag NULL), in sequence order, as it is encoded into the write buffer. A
 * failed export is an error of the pass that fails the whole recovery, so
 * nothing is taken back. Not called by a purge rewrite's copies. fn NULL:
 * no more calls. */
typedef void (*tbw_compact_on_export)(void *ctx, const tbw_jrec *r, const char *tag, size_t tag_len);
void tbw__compactor_set_on_export(tbw_compactor *c, tbw_compact_on_export fn, void *ctx);

/* Release the role and the file (after waiting for a pipelined fsync,
 * whose records the next open exports again). NULL is a no-op. */
void tbw__compactor_close(tbw_compactor *c);

#endif
