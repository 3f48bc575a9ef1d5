/* compactor.h -- export committed journal records to TensorBoard event files,
 * exactly once, whatever crashes (protocol: doc/compactor.md).
 */
#ifndef TBW_COMPACTOR_H
#define TBW_COMPACTOR_H

#include <stdint.h>
#include "tbwal.h"
#include "journal.h"

typedef struct tbw_compactor tbw_compactor;

typedef struct tbw_compact_cfg {
	const char *logdir;               /* where event files go */
	tbw_scalar_format scalar_format;  /* simple_value or DT_FLOAT tensor */
	const char *filename_suffix;      /* appended to event file names ("" / NULL) */
	uint64_t rotate_bytes;            /* start a new file past this size; 0: default */
	int wait_lock;                    /* wait for another compactor instead of TBW_EBUSY */
} tbw_compact_cfg;

#define TBW_COMPACT_CFG_INIT { NULL, TBW_SCALAR_SIMPLE, NULL, 0, 0 }

/* Take the compactor role on j (TBW_EBUSY if another process has it), repair
 * the current event file (cut a torn or unacknowledged tail back to the
 * cursor's offset) and start a new file for this session. j is borrowed and
 * must outlive the compactor. */
int tbw__compactor_open(tbw_compactor **out, tbw_journal *j, const tbw_compact_cfg *cfg);

/* Export every record committed before the call, then prune what is exported
 * (and shipped, when a syncer is attached). *nexported (may be NULL) counts
 * the records written. Thread-safe against concurrent appends to j; calls on
 * one compactor must not overlap. */
int tbw__compactor_pass(tbw_compactor *c, uint64_t *nexported);

/* Release the role and the file. NULL is a no-op. */
void tbw__compactor_close(tbw_compactor *c);

#endif
