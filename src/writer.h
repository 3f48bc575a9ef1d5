/* writer.h -- internals of the public writer (src/writer.c) that tests and
 * tools reach: where a journal goes when the logdir is remote.
 */
#ifndef TBW_WRITER_H
#define TBW_WRITER_H

#include "tbwal.h"

/* Name of the file in logdir that records where a redirected journal lives
 * (one line: the absolute journal path). tbrecover and tbstat read it. */
#define TBW_JOURNAL_POINTER ".tbwal-journal"

/* Tests: replaces tbw__fs_is_remote() for the logdir check when set. */
extern int (*tbw__writer_fs_is_remote_hook)(const char *path);

/* The local directory a journal for (absolute) logdir goes to when logdir
 * is on FUSE/NFS: $TBW_LOCAL_DIR/<name>-<hash>, else
 * ${XDG_STATE_HOME:-$HOME/.local/state}/tbwal/<name>-<hash>, where name is
 * the sanitised logdir and hash a CRC-32C of it. New string (tbw__free). */
char *tbw__writer_local_journal_dir(const char *abs_logdir);

/* The journal directory for logdir as tbw_open() would choose it with no
 * journal_dir option: logdir/.tbwal, or the path recorded in
 * logdir/.tbwal-journal if there is one. New string (tbw__free), NULL on
 * ENOMEM. */
char *tbw__writer_find_journal(const char *logdir);

#endif
