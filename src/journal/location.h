/* location.h -- where a run's journal lives: the one home of that policy.
 *
 * Every entry point (tbw_open, tbw_recover, tbw_compact, tbw_sync, tbw_stat,
 * the tools through them) asks this module, so a journal the writer put on
 * local disk for a FUSE/NFS logdir is found by everything else.
 *
 * POLICY
 *  1. An explicit journal directory (option journal_dir, --journal DIR) wins;
 *     for a writer it must not be on a FUSE or network filesystem.
 *  2. Else a pointer file LOGDIR/.tbwal-journal (one line: an absolute path)
 *     written by a writer that redirected its journal names it.
 *  3. Else, when LOGDIR is on FUSE/NFS (a Colab Drive mount), the local
 *     directory tbw__location_local_dir() derives from LOGDIR's path.
 *  4. Else LOGDIR/.tbwal.
 * A writer applies 1, 3 (recording the choice in the pointer file) or 4.
 */
#ifndef TBW_LOCATION_H
#define TBW_LOCATION_H

/* Name of the file in logdir that records where a redirected journal lives
 * (one line: the absolute journal path). */
#define TBW_JOURNAL_POINTER ".tbwal-journal"

/* Name of the journal directory inside a logdir on a local filesystem. */
#define TBW_JOURNAL_DEFAULT_NAME ".tbwal"

/* Tests: replaces tbw__fs_is_remote() for the logdir check when set. */
extern int (*tbw__location_fs_is_remote_hook)(const char *path);

/* 1 if path is on a FUSE or network filesystem, 0 if not, negative on error
 * (through the hook when one is set). */
int tbw__location_is_remote(const char *path);

/* The local directory a journal for (absolute) logdir goes to when logdir
 * is on FUSE/NFS: $TBW_LOCAL_DIR/<name>-<hash>, else
 * ${XDG_STATE_HOME:-$HOME/.local/state}/tbwal/<name>-<hash>, where name is
 * the sanitised logdir and hash a CRC-32C of it. New string (tbw__free). */
char *tbw__location_local_dir(const char *abs_logdir);

/* The journal of an existing run (rules 2-4 above). New string (tbw__free),
 * NULL on ENOMEM. Never fails because nothing is there: the caller's open
 * says TBW_ENOTFOUND. */
char *tbw__location_find(const char *logdir);

/* The journal directory a writer opening abs_logdir uses (rules 1, 3, 4);
 * creates a redirected or explicit directory. *redirected = 1 when it moved
 * off a remote filesystem (then tbw__location_record() must be called once
 * the journal is open). 0 or a TBW_E* code with the message set. */
int tbw__location_for_writer(const char *abs_logdir, const char *journal_dir,
                             char **out, int *redirected);

/* Write LOGDIR/.tbwal-journal naming jdir (atomic replace) and tell the
 * user on stderr where the journal went. */
int tbw__location_record(const char *logdir, const char *jdir);

#endif
