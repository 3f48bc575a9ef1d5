/* writer.h -- internals of the public writer (src/api/writer.c) that tests and
 * tools reach. Where a journal goes is src/journal/location.h's policy; the names
 * below are kept for the tests that used them.
 */
#ifndef TBW_WRITER_H
#define TBW_WRITER_H

#include "tbwal.h"
#include "journal/location.h"

#define tbw__writer_fs_is_remote_hook tbw__location_fs_is_remote_hook
#define tbw__writer_local_journal_dir tbw__location_local_dir
#define tbw__writer_find_journal      tbw__location_find

/* Tests: the options the shared core of w runs with now (strings borrowed),
 * after every open's options took effect (the shared-open rule). */
void tbw__writer_effective(const tbw_writer *w, tbw_options *out);

#endif
