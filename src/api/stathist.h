/* stathist.h -- what `tbwal stat` and `tbwal watch` (through tbw_stat_read) read from a journal: its
 * identity, cursors and lags, and each tag's whole history (the compactor's
 * per-tag figures of what was exported and pruned, plus what is stored and
 * not exported yet). Read-only; safe beside a live writer.
 */
#ifndef TBW_STATHIST_H
#define TBW_STATHIST_H

#include <stdint.h>
#include "journal/journal.h"

typedef struct tbw_stathist_tag {
	uint32_t id;
	const char *tag;   /* borrowed from the journal */
	size_t tag_len;
	uint64_t count;    /* whole history */
	uint64_t stored;   /* still in the journal */
	int64_t first_step, last_step, min_step, max_step;
	double last_value, last_wall;
	int seen;
} tbw_stathist_tag;

typedef struct tbw_stathist {
	tbw_jinfo info;
	tbw_jexport ex;
	uint64_t ship;
	int ship_present;
	uint64_t stored, first_seq, last_seq, ncorrupt, nstart;
	double newest_wall;               /* newest stored record (0: none) */
	uint64_t exp_lag, ship_lag;       /* records */
	double exp_secs, ship_secs;       /* seconds behind the newest commit */
	int hist_kept;                    /* the compactor keeps tag history */
	int hist_complete;                /* every record ever logged is counted */
	uint64_t hist_from;               /* records <= this exported before history was kept */
	uint64_t total;                   /* records counted (all tags) */
	tbw_stathist_tag *tags;                 /* indexed by tag id; ntags slots */
	uint32_t ntags;
} tbw_stathist;

/* Fill st from j. 0 or a TBW_E* code (message set). */
int tbw__stathist_read(tbw_journal *j, tbw_stathist *st);
void tbw__stathist_free(tbw_stathist *st);

#endif
