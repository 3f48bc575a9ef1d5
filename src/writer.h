/* writer.h -- internals of the public writer (src/writer.c) that tests and
 * tools reach. Where a journal goes is src/location.h's policy; the names
 * below are kept for the tests that used them.
 */
#ifndef TBW_WRITER_H
#define TBW_WRITER_H

#include "tbwal.h"
#include "location.h"

#define tbw__writer_fs_is_remote_hook tbw__location_fs_is_remote_hook
#define tbw__writer_local_journal_dir tbw__location_local_dir
#define tbw__writer_find_journal      tbw__location_find

#endif
