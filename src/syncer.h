/* syncer.h -- ship the journal to a sync folder (a Drive mount) as immutable,
 * checksummed segments (format: doc/segment-format.md), and restore a
 * journal from them.
 */
#ifndef TBW_SYNCER_H
#define TBW_SYNCER_H

#include <stdint.h>
#include "journal.h"

typedef struct tbw_syncer tbw_syncer;

/* Take the syncer role on j (TBW_EBUSY if another process has it) and
 * attach the ship cursor, so the compactor prunes only shipped records.
 * Segments go to sync_dir/<run_name>-<run id hex>/; run_name NULL means the
 * basename of the logdir recorded in the journal. j is borrowed. */
int tbw__syncer_open(tbw_syncer **out, tbw_journal *j, const char *sync_dir,
                     const char *run_name, int wait_lock);

/* Ship every record committed before the call that is not shipped yet, then
 * merge small segments when due. *nshipped (may be NULL) counts records. */
int tbw__syncer_pass(tbw_syncer *s, uint64_t *nshipped);

/* Folder this syncer writes to (borrowed). */
const char *tbw__syncer_run_dir(const tbw_syncer *s);

void tbw__syncer_close(tbw_syncer *s);

#endif
