/* tbwal.h -- public API of libtbwal, a crash-resilient write-ahead logger for
 * TensorBoard scalars.
 *
 * Every scalar logged through tbw_add_scalar() is committed to an LMDB journal
 * before the call returns. A background compactor exports committed records
 * to TensorBoard event files (logdir/events.out.tfevents.*) exactly once, and
 * an optional syncer ships the journal as immutable, checksummed segments to a
 * second folder (a mounted Google Drive). `tbrecover` rebuilds everything after
 * a crash or a lost machine.
 *
 * DURABILITY (what survives once tbw_add_scalar() has returned 0)
 *
 *   mode                      process crash   OS crash / power loss
 *   TBW_DURABILITY_ALWAYS     nothing lost    nothing lost (fsync per commit)
 *   TBW_DURABILITY_INTERVAL   nothing lost    at most the last interval
 *   TBW_DURABILITY_NEVER      nothing lost    whatever the kernel had not written
 *
 * INTERVAL is the default: every call commits to the kernel (so any death of
 * the process loses nothing) and a background thread flushes the journal to
 * disk every durability_interval_ms, like Redis "appendfsync everysec". On
 * Colab the local disk dies with the VM, so what protects against losing the
 * machine is the sync folder, not local fsync. As LMDB documents, without a
 * sync an OS crash can damage the journal, not only lose its tail: tbrecover
 * copes with that by salvaging what reads and falling back to the sync folder.
 *
 * CONVENTIONS
 *  - Every function that can fail returns 0 or a negative TBW_E* code.
 *  - tbw_errmsg() gives this thread's last failure: operation, path, cause.
 *  - Handles are opaque. Option structs carry a version; start from the
 *    matching _INIT macro and set only the fields you need.
 *  - Caveats: keep the journal on a local filesystem (a logdir on FUSE or NFS
 *    gets its journal in a local directory instead); a writer handle belongs
 *    to the process that opened it, and after fork() a child's calls fail
 *    with TBW_EFORK.
 */
#ifndef TBWAL_H
#define TBWAL_H

#include <stdint.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define TBW_EXTERN(type) extern __attribute__((visibility("default"))) type
#else
#define TBW_EXTERN(type) extern type
#endif

/** Library version, as a string and as a number MMmmpp. */
#define TBW_VERSION_STRING "0.1.0"
#define TBW_VERSION_NUMBER 100

/** @defgroup errors Error codes
 * Library codes are small negative numbers; 0 is success. */
typedef enum tbw_error_code {
	TBW_OK        =   0, /**< success */
	TBW_ERROR     =  -1, /**< generic failure; see tbw_errmsg() */
	TBW_EINVAL    =  -2, /**< invalid argument (tag, option, path) */
	TBW_ENOMEM    =  -3, /**< out of memory */
	TBW_EIO       =  -4, /**< an I/O call failed (EIO and other errnos) */
	TBW_EFULL     =  -5, /**< no space left: ENOSPC, quota, or the map cannot grow */
	TBW_ECORRUPT  =  -6, /**< checksum or structure mismatch in stored data */
	TBW_EBUSY     =  -7, /**< another process holds the lock for this role */
	TBW_EPANIC    =  -8, /**< an earlier sync or commit failed; the handle refuses writes */
	TBW_EFORK     =  -9, /**< handle used in a child process after fork() */
	TBW_EVERSION  = -10, /**< stored data has a format version we do not read */
	TBW_ENOTFOUND = -11, /**< the journal, file or folder does not exist */
	TBW_ETRUNCATED= -12, /**< torn tail: the last record is incomplete */
	TBW_ECLOSED   = -13  /**< the handle is closed or closing */
} tbw_error_code;

/** Durability modes; see the DURABILITY table above. */
typedef enum tbw_durability {
	TBW_DURABILITY_INTERVAL = 0, /**< default: commit per call, fsync every interval */
	TBW_DURABILITY_ALWAYS   = 1, /**< fsync before each logging call returns */
	TBW_DURABILITY_NEVER    = 2  /**< never fsync; the kernel decides */
} tbw_durability;

/** How scalars are encoded in event files. Never DT_DOUBLE: TensorBoard's
 * data server drops double tensors. */
typedef enum tbw_scalar_format {
	TBW_SCALAR_SIMPLE = 0, /**< Summary.Value.simple_value (float32), the default */
	TBW_SCALAR_TENSOR = 1  /**< rank-0 DT_FLOAT tensor with plugin "scalars" */
} tbw_scalar_format;

/** Longest tag accepted, in bytes of UTF-8. */
#define TBW_TAG_MAX 1024

/** purge_step value meaning "no purge". */
#define TBW_NO_PURGE INT64_MIN

/** Default and largest per-record cap of tbw_add_event(), in bytes. */
#define TBW_RECORD_MAX_DEFAULT ((size_t)16 << 20)
#define TBW_RECORD_MAX_LIMIT ((size_t)1 << 30)

/** Version 2 added max_record_bytes. tbw_open() accepts any version from 1
 * to this one: fields a caller's version lacks take their defaults. */
#define TBW_OPTIONS_VERSION 2

/** Options for tbw_open(). Initialise with TBW_OPTIONS_INIT. */
typedef struct tbw_options {
	unsigned int version;            /**< TBW_OPTIONS_VERSION */
	tbw_durability durability;       /**< default TBW_DURABILITY_INTERVAL */
	unsigned int durability_interval_ms; /**< INTERVAL flush period, default 1000 */
	const char *journal_dir;         /**< NULL: logdir/.tbwal (or a local dir if logdir is on FUSE/NFS) */
	unsigned int compact_interval_ms; /**< background export period, default 1000; 0 = export only on flush/close */
	tbw_scalar_format scalar_format; /**< default TBW_SCALAR_SIMPLE */
	const char *sync_dir;            /**< NULL: no sync; else ship segments to sync_dir/<run>-<run id>/ */
	unsigned int sync_interval_ms;   /**< sync period, default 5000 */
	int64_t purge_step;              /**< TBW_NO_PURGE, or hide steps >= this from an earlier attempt */
	const char *filename_suffix;     /**< appended to event file names, default "" */
	const char *run_name;            /**< name of the run in the sync folder; NULL: basename of logdir */
	/* version 2 */
	size_t max_record_bytes;         /**< tbw_add_event() body cap; 0: TBW_RECORD_MAX_DEFAULT (16 MiB), at most TBW_RECORD_MAX_LIMIT */
} tbw_options;

#define TBW_OPTIONS_INIT { TBW_OPTIONS_VERSION, TBW_DURABILITY_INTERVAL, 1000, NULL, \
	1000, TBW_SCALAR_SIMPLE, NULL, 5000, TBW_NO_PURGE, NULL, NULL, 0 }

/** A writer: one per run (logdir). Opaque. */
typedef struct tbw_writer tbw_writer;

/**
 * @brief Open (or create) the journal for a logdir and start background work.
 *
 * Creates logdir if needed, opens the journal (logdir/.tbwal unless
 * opts->journal_dir says otherwise), finishes exporting whatever an earlier
 * writer left, and starts the durability, compactor and (with sync_dir) syncer
 * threads. Opening the same journal twice in one process shares it.
 *
 * @param[out] out    the new handle; NULL on failure
 * @param[in]  logdir directory TensorBoard reads
 * @param[in]  opts   options, or NULL for the defaults
 * @return 0 or a negative code. Some possible errors are:
 *  - TBW_EINVAL: bad option or path
 *  - TBW_EBUSY: another process is writing to this journal
 *  - TBW_EIO, TBW_EFULL: the journal could not be created or opened
 * Durability: nothing new is logged; the journal exists on disk.
 */
TBW_EXTERN(int) tbw_open(tbw_writer **out, const char *logdir, const tbw_options *opts);

/**
 * @brief Log one scalar: commit it to the journal before returning.
 *
 * @param[in] w          the writer
 * @param[in] tag        non-empty UTF-8, at most TBW_TAG_MAX bytes, no control characters
 * @param[in] value      any double, NaN and infinities included (exported as float32)
 * @param[in] step       any int64
 * @param[in] wall_time  seconds since the epoch; <= 0 means now
 * @return 0 or a negative code; on error nothing was written. Some possible errors are:
 *  - TBW_EINVAL: bad tag
 *  - TBW_EFULL, TBW_EIO: the commit failed
 *  - TBW_EPANIC: an earlier sync or commit failed; reopen the writer
 *  - TBW_EFORK: called in a child after fork()
 * Durability: on return 0 the scalar is in a committed transaction; with
 * ALWAYS it is also on disk, with INTERVAL it is within one interval.
 * Thread-safe: many threads may log through one writer.
 */
TBW_EXTERN(int) tbw_add_scalar(tbw_writer *w, const char *tag, double value,
                               int64_t step, double wall_time);

/**
 * @brief Log one TensorBoard Event of any kind (histogram, image, text,
 * hparams, graph, ...): commit it to the journal before returning.
 *
 * body is a serialized tensorboard Event message WITHOUT fields 1
 * (wall_time) and 2 (step): for example field 5 `summary` holding one or
 * more Summary.Value (tag, metadata with plugin_data, tensor/image/histo),
 * field 4 `graph_def`, or field 8 `tagged_run_metadata`. The event files
 * get Event{wall_time, step} followed by the body bytes verbatim, exactly
 * once and in commit order among scalars and other events. The body is
 * checked before anything is written: well-formed protobuf, only Event
 * fields TensorBoard knows (4..10, never 1, 2 or 3 file_version), one
 * member of Event's oneof, known nested fields of the right wire type,
 * string fields valid UTF-8 (a record TensorBoard cannot parse would stop
 * its loader).
 *
 * @param[in] w          the writer
 * @param[in] tag        names the record for tag lists, stats and recovery
 *                       reports (rules of tbw_add_scalar); NULL: the body's
 *                       first Summary.Value tag (else its tagged_run_metadata
 *                       tag, else none)
 * @param[in] step       any int64
 * @param[in] wall_time  seconds since the epoch; <= 0 means now
 * @param[in] body       the serialized Event fields
 * @param[in] len        1 .. max_record_bytes (option, default 16 MiB)
 * @return 0 or a negative code; on error nothing was written. Some possible errors are:
 *  - TBW_EINVAL: bad tag, empty or invalid body (the message says what and
 *    where), or len above max_record_bytes
 *  - TBW_EFULL: the commit found no room
 *  - TBW_EIO, TBW_EPANIC, TBW_EFORK: as tbw_add_scalar
 * Durability, thread safety: as tbw_add_scalar.
 */
TBW_EXTERN(int) tbw_add_event(tbw_writer *w, const char *tag, int64_t step, double wall_time,
                              const void *body, size_t len);

/**
 * @brief Log n scalars of one training step in one commit: all or nothing.
 *
 * The scalars get consecutive sequence numbers in the order given, the same
 * step and the same wall time. One transaction and one journal entry (a
 * step record, doc/journal-format.md) for the whole step cost far less per
 * scalar than n calls of tbw_add_scalar(). A journal that holds a step
 * record is journal format 3, which older builds refuse (TBW_EVERSION)
 * rather than misread.
 *
 * @param[in] w          the writer
 * @param[in] n          number of scalars; 0 is a no-op returning 0
 * @param[in] tags       n tags, each as for tbw_add_scalar(); a tag may repeat
 * @param[in] values     n values
 * @param[in] step       any int64
 * @param[in] wall_time  seconds since the epoch; <= 0 means now
 * @return 0 or a negative code, as tbw_add_scalar(); on error none of the n
 * scalars was written (every tag is checked before anything is).
 * Durability and thread safety: as tbw_add_scalar().
 */
TBW_EXTERN(int) tbw_add_scalars(tbw_writer *w, size_t n, const char *const *tags,
                                const double *values, int64_t step, double wall_time);

/**
 * @brief Make everything logged so far durable, exported and (with a sync
 * folder) shipped, then return.
 * @return 0 or a negative code (TBW_EIO, TBW_EFULL, TBW_EPANIC, TBW_EFORK).
 * Durability: on return 0 every scalar logged before the call is synced to
 * disk, in an event file, and in the sync folder if one is configured.
 */
TBW_EXTERN(int) tbw_flush(tbw_writer *w);

/**
 * @brief Flush, stop background work and release the writer. NULL is a no-op.
 * The handle is freed even when the final flush fails; the error is returned.
 * @return 0 or the flush's error code.
 */
TBW_EXTERN(int) tbw_close(tbw_writer *w);

/** @brief Directory holding this writer's journal (borrowed; valid until tbw_close). */
TBW_EXTERN(const char *) tbw_journal_path(const tbw_writer *w);

/** @brief Static description of a code, starting with the code's name. Never NULL. */
TBW_EXTERN(const char *) tbw_strerror(int code);

/**
 * @brief This thread's last failure in one line: operation, path and cause.
 * Owned by the library, valid until this thread's next failing call. Never NULL.
 */
TBW_EXTERN(const char *) tbw_errmsg(void);

/* =====================================================================
 * What the tools do: recover, compact, sync, restore, stat, version
 * =====================================================================
 *
 * tbrecover, tbcompact, tbsync and tbstat are thin programs over these
 * calls, and so is the Python binding: none of them reaches inside the
 * library.
 *
 * HOW THE STRUCTS GROW (libgit2's rule)
 *  - Option structs (tbw_*_options) start with `unsigned int version` and
 *    are initialised with their _INIT macro. The library accepts any
 *    version from 1 up to the one it was built with; fields a caller's
 *    older version does not have take their defaults. A version newer than
 *    the library's is refused with TBW_EINVAL (the message says which).
 *  - Fields are only ever appended, never reordered, resized or removed;
 *    each appended field bumps the struct's _VERSION and its meaning at its
 *    default is what the library did before it existed.
 *  - Result structs the caller provides (tbw_*_result) have a version too:
 *    the library fills only the fields of that version.
 *  - Report structs reached through accessors (tbw_recovery_*, tbw_stat_*)
 *    are owned by the library and only read by the caller; they too only
 *    grow at the end, so a program built against an older header reads
 *    the prefix it knows.
 *
 * JOURNAL LOCATION (one policy for every entry point)
 *  A run's journal is, in this order: the journal_dir option if given;
 *  the directory named in LOGDIR/.tbwal-journal (written by a writer that
 *  moved its journal off a FUSE/NFS logdir); for a logdir on FUSE/NFS the
 *  local directory a writer would choose; else LOGDIR/.tbwal.
 *
 * ROLES
 *  A journal has four exclusive roles: writer (tbw_open), exporter
 *  (tbw_compact and a writer's compactor), shipper (tbw_sync and a writer
 *  with sync_dir) and recovery (tbw_recover). A role held by another
 *  process gives TBW_EBUSY (or, with the wait option, a wait); a role held
 *  by a writer of this process gives TBW_EBUSY too, never a second holder.
 */

/** @brief The library's version: returns TBW_VERSION_STRING as built, and
 * stores its parts in any of major, minor, patch that is not NULL. */
TBW_EXTERN(const char *) tbw_version(int *major, int *minor, int *patch);

/**
 * @brief Where the journal of logdir is (see JOURNAL LOCATION above).
 * @param[out] out  buffer for the directory, NUL-terminated
 * @param[in]  cap  size of out in bytes
 * @return 0 (whether or not a journal exists there), TBW_EINVAL if out is
 *  too small (the message gives the length needed), TBW_ENOMEM.
 */
TBW_EXTERN(int) tbw_journal_locate(char *out, size_t cap, const char *logdir);

/** @brief Cooperative stop flag for long calls (tbw_compact and tbw_sync
 * with follow): set it to nonzero (a signal handler may) and the call
 * finishes its current pass, makes one last one, and returns 0. */
typedef volatile int tbw_stop_flag;

/** Progress callback for long work: phase is a short English phrase,
 * done/total count records (total 0 when unknown). */
typedef void (*tbw_progress_fn)(void *ctx, const char *phase, uint64_t done, uint64_t total);

/* ---- Recover ---- */

#define TBW_RECOVER_OPTIONS_VERSION 1

/** Options for tbw_recover(). Initialise with TBW_RECOVER_OPTIONS_INIT. */
typedef struct tbw_recover_options {
	unsigned int version;          /**< TBW_RECOVER_OPTIONS_VERSION */
	const char *journal_dir;       /**< NULL: the run's journal (JOURNAL LOCATION) */
	const char *const *from;       /**< nfrom run folders of a sync folder (SYNC_DIR/<run>-<id>) */
	size_t nfrom;
	int dry_run;                   /**< read and report only: change nothing on disk */
	int64_t purge_step;            /**< TBW_NO_PURGE, or hide steps >= this from the lost attempt */
	tbw_scalar_format scalar_format; /**< format of event files written */
	int delete_replaced;           /**< delete replaced event files instead of moving them aside */
	tbw_progress_fn progress;      /**< NULL: none */
	void *progress_ctx;
} tbw_recover_options;

#define TBW_RECOVER_OPTIONS_INIT { TBW_RECOVER_OPTIONS_VERSION, NULL, NULL, 0, 0, \
	TBW_NO_PURGE, TBW_SCALAR_SIMPLE, 0, NULL, NULL }

/** How a recovery ended. A result, not an error code. */
typedef enum tbw_recover_outcome {
	TBW_RECOVERED = 0,             /**< everything found was recovered */
	TBW_RECOVERED_WITH_LOSSES = 1, /**< recovered, but damage or gaps lost records (see the report) */
	TBW_RECOVER_FAILED = 2,        /**< nothing recovered, or refused (tbw_recover returned < 0) */
} tbw_recover_outcome;

/** The report of one recovery. Opaque; read it with the accessors below. */
typedef struct tbw_recovery tbw_recovery;

/** Totals of a recovery (owned by the report). */
typedef struct tbw_recovery_info {
	tbw_recover_outcome outcome;
	const char *logdir;
	const char *journal_dir;       /**< the journal used or rebuilt */
	const char *run_id;            /**< 32 hex digits, "" if unknown */
	int journal_created;           /**< a fresh journal was built */
	int journal_salvaged;          /**< the old journal was damaged and moved aside */
	const char *moved_aside;       /**< folder holding what was moved aside ("" none) */
	uint64_t exported;             /**< records written to event files by this recovery */
	uint64_t total_scalars;        /**< scalars in this run's event files at the end */
	uint64_t last_seq;             /**< newest sequence number vouched for */
	uint64_t lost;                 /**< sequence numbers known missing from every source */
	double newest_shipped_wall_time; /**< newest record found in segments (0 none) */
	uint64_t event_files;          /**< tbwal event files in LOGDIR at the end */
	uint64_t files_replaced;       /**< event files moved aside (or deleted) */
	const char *message;           /**< why it failed or lost records ("" when recovered) */
} tbw_recovery_info;

/** One source looked at (owned by the report). */
typedef struct tbw_recovery_source {
	const char *kind;              /**< "journal", "segments" or "events" */
	const char *path;
	int used;                      /**< 1 if it contributed (or could have: all duplicates) */
	uint64_t records;              /**< intact records read from it */
	uint64_t added;                /**< of those, new */
	uint64_t damaged;              /**< records, segments or files found damaged */
	const char *note;              /**< why it was not used, or "" */
} tbw_recovery_source;

/** One piece of damage: where, and how many records it lost. */
typedef struct tbw_recovery_damage {
	const char *path;
	uint64_t offset;               /**< byte offset, or sequence number when what is about a record */
	uint64_t lost;                 /**< records known lost here (0 if none or unknown) */
	const char *what;              /**< one line */
} tbw_recovery_damage;

/** What the event files hold per tag after recovery, sorted by tag. A
 * record lost from every source has no known tag: losses are counted per
 * source and per damage, and last_step is the newest step vouched for. */
typedef struct tbw_recovery_tag {
	const char *tag;
	uint64_t count;                /**< scalars in the event files */
	int64_t first_step, last_step;
	int64_t min_step, max_step;
	double last_value;
	double last_wall_time;
} tbw_recovery_tag;

/**
 * @brief Recover a run: gather what survived (journal, sync folders, event
 * files), restore, export, and report (what tbrecover does).
 *
 * @param[out] out    the report, in every case but TBW_ENOMEM and TBW_EINVAL
 *                    options (then NULL); free it with tbw_recovery_free()
 * @param[in]  logdir the run's logdir (created unless dry_run)
 * @param[in]  opts   options, or NULL for the defaults
 * @return 0 when recovery ran: the outcome (TBW_RECOVERED or
 *  TBW_RECOVERED_WITH_LOSSES) is in tbw_recovery_get_info(). A negative
 *  code when nothing could be recovered or it was refused; the report
 *  (outcome TBW_RECOVER_FAILED) says how far it got. Some possible errors:
 *  - TBW_EBUSY: a writer (or another recovery) holds the journal
 *  - TBW_ENOTFOUND: nothing to recover from
 *  - TBW_EIO, TBW_EFULL: reading sources or writing the logdir failed
 * Durability: on 0, the event files and the journal are on disk.
 */
TBW_EXTERN(int) tbw_recover(tbw_recovery **out, const char *logdir, const tbw_recover_options *opts);

/** @brief Totals of a report (borrowed, valid until tbw_recovery_free). */
TBW_EXTERN(const tbw_recovery_info *) tbw_recovery_get_info(const tbw_recovery *r);
/** @brief Number of sources, and source i (NULL past the end). */
TBW_EXTERN(size_t) tbw_recovery_nsources(const tbw_recovery *r);
TBW_EXTERN(const tbw_recovery_source *) tbw_recovery_get_source(const tbw_recovery *r, size_t i);
/** @brief Number of damage entries, and entry i (NULL past the end). */
TBW_EXTERN(size_t) tbw_recovery_ndamage(const tbw_recovery *r);
TBW_EXTERN(const tbw_recovery_damage *) tbw_recovery_get_damage(const tbw_recovery *r, size_t i);
/** @brief Number of tags, and tag i in tag order (NULL past the end). */
TBW_EXTERN(size_t) tbw_recovery_ntags(const tbw_recovery *r);
TBW_EXTERN(const tbw_recovery_tag *) tbw_recovery_get_tag(const tbw_recovery *r, size_t i);
/** @brief Free a report. NULL is a no-op. */
TBW_EXTERN(void) tbw_recovery_free(tbw_recovery *r);

/* ---- Compact (export a journal to event files) ---- */

#define TBW_COMPACT_OPTIONS_VERSION 2

/** What a tbw_compact() notification is about. */
typedef enum tbw_compact_event {
	TBW_COMPACT_WAITING = 0,  /**< another exporter holds the journal; waiting (opts.wait) */
	TBW_COMPACT_PASS    = 1,  /**< a pass exported records (res holds the totals so far) */
	TBW_COMPACT_PROBLEM = 2,  /**< damage that did not stop export; msg says what */
	TBW_COMPACT_PURGED  = 3   /**< the purge marker was appended (res->purge_seq) */
} tbw_compact_event;

struct tbw_compact_result;
typedef void (*tbw_compact_notify_fn)(void *ctx, tbw_compact_event ev,
                                      const struct tbw_compact_result *res, const char *msg);

/** Options for tbw_compact(). Initialise with TBW_COMPACT_OPTIONS_INIT. */
typedef struct tbw_compact_options {
	unsigned int version;          /**< TBW_COMPACT_OPTIONS_VERSION */
	const char *journal_dir;       /**< NULL: the run's journal (JOURNAL LOCATION) */
	tbw_scalar_format scalar_format;
	uint64_t rotate_bytes;         /**< new event file past this size; 0: the default (16 MiB) */
	int wait;                      /**< wait for another exporter instead of TBW_EBUSY */
	int follow;                    /**< keep exporting every interval_ms until *stop */
	unsigned int interval_ms;      /**< period with follow (default 1000) */
	int64_t purge_step;            /**< TBW_NO_PURGE, or first append a SessionLog START at this
	                                    step (takes the writer role: TBW_EBUSY with a live writer) */
	tbw_stop_flag *stop;           /**< follow stops when *stop becomes nonzero (NULL: never) */
	tbw_compact_notify_fn notify;  /**< NULL: none */
	void *notify_ctx;
	/* version 2 */
	tbw_progress_fn progress;      /**< NULL: none; else a big backlog is exported in chunks,
	                                    with progress ("exporting", done, total) between them */
	void *progress_ctx;
} tbw_compact_options;

#define TBW_COMPACT_OPTIONS_INIT { TBW_COMPACT_OPTIONS_VERSION, NULL, TBW_SCALAR_SIMPLE, 0, 0, 0, \
	1000, TBW_NO_PURGE, NULL, NULL, NULL, NULL, NULL }

#define TBW_COMPACT_RESULT_VERSION 1

/** What tbw_compact() did. Set version = TBW_COMPACT_RESULT_VERSION. */
typedef struct tbw_compact_result {
	unsigned int version;
	const char *stage;             /**< on failure, the step that failed: "journal" (opening it),
	                                    "purge", "open" (taking the exporter role), "export", "sync" */
	uint64_t exported;             /**< records written to event files */
	uint64_t pruned;               /**< records deleted from the journal */
	uint64_t cursor_seq;           /**< export cursor at the end */
	char cursor_file[256];         /**< current event file ("" none) */
	uint64_t purge_seq;            /**< sequence of the purge marker (0 none) */
	int problems;                  /**< 1 if damage was found and reported through notify */
	char journal_dir[4096];        /**< the journal used */
} tbw_compact_result;

/**
 * @brief Export a journal's committed records to TensorBoard event files in
 * logdir, exactly once, and prune what is exported: once, or with follow
 * until *opts->stop (what tbcompact does).
 * @param[out] res    may be NULL
 * @return 0 when everything committed (before the stop) was exported, even
 *  if damage was found (res->problems). Some possible errors are:
 *  - TBW_ENOTFOUND: no journal where the policy looked
 *  - TBW_EBUSY: another exporter (or, for purge_step, a writer) holds it
 *  - TBW_EIO, TBW_EFULL, TBW_ECORRUPT
 * Durability: on 0 the event files and the cursor are on disk.
 */
TBW_EXTERN(int) tbw_compact(const char *logdir, const tbw_compact_options *opts, tbw_compact_result *res);

/* ---- Sync (ship a journal to a sync folder) and restore ---- */

#define TBW_SYNC_OPTIONS_VERSION 2

typedef enum tbw_sync_event {
	TBW_SYNC_SHIPPED     = 0,  /**< a pass shipped records (res: totals so far) */
	TBW_SYNC_PASS_FAILED = 1,  /**< a pass failed (msg says why); follow retries */
	TBW_SYNC_UNSHIPPABLE = 2   /**< records 1..res->unshippable were pruned before any shipper */
} tbw_sync_event;

struct tbw_sync_result;
typedef void (*tbw_sync_notify_fn)(void *ctx, tbw_sync_event ev, uint64_t nshipped,
                                   const struct tbw_sync_result *res, const char *msg);

/** Options for tbw_sync(). Initialise with TBW_SYNC_OPTIONS_INIT. */
typedef struct tbw_sync_options {
	unsigned int version;          /**< TBW_SYNC_OPTIONS_VERSION */
	const char *journal_dir;       /**< NULL: the run's journal (JOURNAL LOCATION) */
	const char *run_name;          /**< NULL: basename of the logdir recorded in the journal */
	int wait;                      /**< wait for another shipper instead of TBW_EBUSY */
	int follow;                    /**< keep shipping every interval_ms until *stop */
	unsigned int interval_ms;      /**< period with follow (default 5000; 0: back to back) */
	tbw_stop_flag *stop;
	tbw_sync_notify_fn notify;
	void *notify_ctx;
	int backfill;                  /**< 1: records the exporter pruned before any shipper
	                                    attached are read back from the event files and shipped
	                                    too (values as exported: float32); 0 (tbsync): they are
	                                    reported as unshippable (res->unshippable) */
	/* version 2 */
	tbw_progress_fn progress;      /**< NULL: none; else a pass with a backlog of more than
	                                    65536 records reports ("shipping", done, total) after
	                                    each segment of it is in place */
	void *progress_ctx;
} tbw_sync_options;

#define TBW_SYNC_OPTIONS_INIT { TBW_SYNC_OPTIONS_VERSION, NULL, NULL, 0, 0, 5000, NULL, NULL, NULL, 0, \
	NULL, NULL }

#define TBW_SYNC_RESULT_VERSION 1

typedef struct tbw_sync_result {
	unsigned int version;
	char run_dir[4096];            /**< SYNC_DIR/<run name>-<run id> */
	char journal_dir[4096];
	uint64_t passes;
	uint64_t records_shipped;
	uint64_t ship_seq;             /**< ship cursor at the end */
	uint64_t segments_written;
	uint64_t merges;
	uint32_t files;                /**< segment files in the run folder */
	uint64_t bytes_written;
	uint64_t unshippable;          /**< records 1..this were pruned before any shipper attached */
} tbw_sync_result;

/**
 * @brief Ship a journal to sync_dir/<run>-<run id>/ as immutable,
 * checksummed segments: once, or with follow until *opts->stop (what tbsync
 * does). Safe beside a live writer.
 * @return 0 when the last pass succeeded. With follow, a failed pass is
 *  reported through notify and retried; its code is returned only if it
 *  was the last. Errors: TBW_ENOTFOUND (no journal), TBW_EBUSY (another
 *  shipper), TBW_EIO, TBW_EFULL.
 * Durability: on 0, what was shipped is fsynced in the sync folder.
 */
TBW_EXTERN(int) tbw_sync(const char *logdir, const char *sync_dir, const tbw_sync_options *opts,
                         tbw_sync_result *res);

#define TBW_RESTORE_RESULT_VERSION 1

typedef struct tbw_restore_result {
	unsigned int version;
	char run_id[33];
	uint32_t segments_ok, segments_bad;
	uint64_t records;              /**< intact records read, duplicates included */
	uint64_t records_new;          /**< distinct records inserted */
	uint64_t first_seq, last_seq;
	uint64_t missing;              /**< sequence numbers in [first, last] no segment held */
} tbw_restore_result;

/**
 * @brief Restore a journal from one run folder of a sync folder: create (or
 * add to, for the same run) the journal in journal_dir with every intact
 * record. Damaged segments are skipped and counted. Export is a separate
 * step (tbw_compact, or tbw_recover which does both and reports).
 * @return 0 when the folder was read (look at segments_bad and missing),
 *  TBW_ENOTFOUND (no such folder or no readable segment), TBW_EBUSY, TBW_EIO.
 */
TBW_EXTERN(int) tbw_restore(const char *run_dir, const char *journal_dir, tbw_restore_result *res);

/* ---- Stat (what a journal holds) ---- */

#define TBW_STAT_OPTIONS_VERSION 1

typedef struct tbw_stat_options {
	unsigned int version;          /**< TBW_STAT_OPTIONS_VERSION */
	const char *journal_dir;       /**< NULL: the run's journal (JOURNAL LOCATION) */
} tbw_stat_options;

#define TBW_STAT_OPTIONS_INIT { TBW_STAT_OPTIONS_VERSION, NULL }

typedef struct tbw_stat tbw_stat;

/** The facts tbstat prints (owned by the report). */
typedef struct tbw_stat_info {
	const char *journal_dir;
	const char *run_id;            /**< 32 hex digits */
	const char *logdir;            /**< as recorded at creation */
	const char *host;
	double created;
	unsigned int format;
	uint64_t records;              /**< stored now */
	uint64_t first_seq, last_seq;  /**< oldest stored; newest ever appended */
	uint64_t corrupt;              /**< records failing their checksum */
	uint64_t start_markers;        /**< SessionLog START markers stored */
	uint64_t export_seq, export_offset;
	unsigned int export_file_no;
	const char *export_file;       /**< "" none yet */
	uint64_t export_lag_records;
	double export_lag_seconds;
	int ship_present;              /**< 0: no shipper ever attached */
	uint64_t ship_seq, ship_lag_records;
	double ship_lag_seconds;
	/* The run's whole history (kept by the exporter in the journal, so it
	 * survives pruning and close(); doc/journal-format.md, tag history). */
	int history_kept;              /**< the exporter keeps per-tag history in this journal */
	int history_complete;          /**< every record ever logged is counted in the tags */
	uint64_t history_from_seq;     /**< records <= this were exported before history was kept */
	uint64_t history_records;      /**< records counted over all tags */
} tbw_stat_info;

typedef struct tbw_stat_tag {
	const char *tag;               /**< not NUL-terminated: tag_len bytes */
	size_t tag_len;
	uint64_t count;                /**< records logged: the whole history (stored + exported and pruned) */
	int64_t first_step, last_step; /**< of the first and the last record logged */
	double last_value, last_wall_time;
	uint64_t stored;               /**< of count, still in the journal */
	int64_t min_step, max_step;
} tbw_stat_tag;

/**
 * @brief Read what a journal holds (read-only; safe beside a live writer).
 * logdir may be NULL when opts->journal_dir is set.
 * @return 0, TBW_ENOTFOUND (no journal), TBW_ECORRUPT, TBW_EVERSION, TBW_EIO.
 */
TBW_EXTERN(int) tbw_stat_read(tbw_stat **out, const char *logdir, const tbw_stat_options *opts);
TBW_EXTERN(const tbw_stat_info *) tbw_stat_get_info(const tbw_stat *s);
/** @brief Tags in the order they were first logged (NULL past the end). */
TBW_EXTERN(size_t) tbw_stat_ntags(const tbw_stat *s);
TBW_EXTERN(const tbw_stat_tag *) tbw_stat_get_tag(const tbw_stat *s, size_t i);
TBW_EXTERN(void) tbw_stat_free(tbw_stat *s);

/**
 * @brief Stop logging on w without freeing it: like tbw_close(), but the
 * handle stays valid, so calls racing the shutdown in other threads (or
 * made after it) return TBW_ECLOSED instead of touching freed memory.
 * Every call that returned 0 before is flushed. tbw_close() still frees it.
 * @return 0 or the final flush's error code; TBW_ECLOSED if already shut.
 */
TBW_EXTERN(int) tbw_shutdown(tbw_writer *w);

/* ---- Read a journal's scalars (tbwal.read_scalars) ---- */

/** One scalar as the journal stores it (borrowed during the callback). */
typedef struct tbw_scalar_rec {
	uint64_t seq;                  /**< sequence number, from 1 */
	const char *tag;               /**< not NUL-terminated: tag_len bytes */
	size_t tag_len;
	int64_t step;
	double value;
	double wall_time;
} tbw_scalar_rec;

/** Called per scalar, in sequence order; return nonzero to stop. */
typedef int (*tbw_scalar_fn)(void *ctx, const tbw_scalar_rec *rec);

/**
 * @brief Read the scalars a journal still stores with seq > after_seq, in
 * order (read-only; safe beside a live writer). SessionLog START markers and
 * records failing their checksum are skipped.
 * @param[in]  logdir      the run's logdir (NULL when journal_dir is given)
 * @param[in]  journal_dir NULL: the run's journal (JOURNAL LOCATION)
 * @param[out] export_seq  may be NULL: the export cursor, every record <= it
 *                         is in the event files
 * @return 0 (also when fn stopped it), TBW_ENOTFOUND (no journal),
 *  TBW_ECORRUPT, TBW_EVERSION, TBW_EIO, TBW_ENOMEM.
 */
TBW_EXTERN(int) tbw_read_journal(const char *logdir, const char *journal_dir, uint64_t after_seq,
                                 tbw_scalar_fn fn, void *ctx, uint64_t *export_seq);

#ifdef __cplusplus
}
#endif
#endif /* TBWAL_H */
