/* backfill.h -- put records the compactor already pruned back into the
 * journal from this run's event files, so a shipper attached late (the
 * Colab re-run: a second open of the logdir with sync_dir) ships every
 * scalar, not only those logged after it attached. Export layer: reads the
 * compactor's event files (names: tbw__compactor_parse_name()).
 */
#ifndef TBW_BACKFILL_H
#define TBW_BACKFILL_H

#include <stdint.h>
#include "journal/journal.h"

/* Insert into j every record with seq in [1, through] that j no longer
 * holds and that this run's event files in logdir hold (values as the
 * event files store them: float32). Call it only once a ship cursor is
 * attached below them (the compactor then cannot prune them again before
 * they are shipped). *ninserted (may be NULL) counts the records put back.
 * Damaged or missing event files are skipped: what they held stays
 * unshippable. 0 or a TBW_E* code (I/O, journal insert). */
int tbw__backfill_from_events(tbw_journal *j, const char *logdir, uint64_t through,
                              uint64_t *ninserted);

#endif
