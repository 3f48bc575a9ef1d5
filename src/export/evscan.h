/* evscan.h -- read back one of our event files as journal records. The
 * compactor names a file by the sequence number before its first record
 * (tbw__compactor_parse_name) and writes file_version, in an "S" file the
 * run's sacrificial SessionLog START, then one event per journal record,
 * seq base+1, base+2, ... with no gap: scalars and START markers as the
 * compactor encodes them, event records (Event{wall_time, step} + a body
 * tbw_add_event accepts), and purge tombstones (Event{wall_time, step}
 * alone; doc/compactor.md, "Purge"). Used by recovery (event files as a
 * source, and which of them to keep) and by backfill (pruned records back
 * for a late shipper), so both read exactly the same records.
 */
#ifndef TBW_EVSCAN_H
#define TBW_EVSCAN_H

#include <stdint.h>
#include "format/event.h"
#include "journal/journal.h"

/* What a scan of one event file found. */
typedef struct tbw_evscan {
	int status;            /* TBW_TFR_END, _TORN or _CORRUPT (or bad content) */
	uint64_t valid_len;    /* bytes of whole, valid records from the start */
	uint64_t bad_offset;   /* where it stopped being valid */
	uint64_t records;      /* journal records it holds (scalars, markers, events, tombstones) */
	uint64_t last_seq;     /* base + records */
	char why[160];
} tbw_evscan;

/* Called per journal record the file holds, in order; nonzero stops the
 * scan and is returned. ev (and what it points into) lives for the call. */
typedef int (*tbw_evscan_fn)(void *ctx, uint64_t seq, const tbw_event *ev);

/* Scan path, whose first record follows base_seq. 0 with *res saying where
 * and why it stopped (damage is a result, not an error: a file that is not
 * a regular file, a torn or corrupt record, an event tbwal does not write);
 * a negative code when it could not be read at all, or fn's code. */
int tbw__evscan_file(const char *path, uint64_t base_seq, int with_start, tbw_evscan_fn fn, void *ctx,
                     tbw_evscan *res);

/* 1 if ev is a purge tombstone: it holds a record's place, restores nothing. */
int tbw__evscan_is_tombstone(const tbw_event *ev);

/* The journal record ev (read back at seq) stands for, its strings and
 * body borrowed from ev: 0, or 1 for a tombstone (nothing to restore). */
int tbw__evscan_record(uint64_t seq, const tbw_event *ev, tbw_jrec_named *rec);

#endif
