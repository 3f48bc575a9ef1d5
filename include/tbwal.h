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

#define TBW_OPTIONS_VERSION 1

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
} tbw_options;

#define TBW_OPTIONS_INIT { TBW_OPTIONS_VERSION, TBW_DURABILITY_INTERVAL, 1000, NULL, \
	1000, TBW_SCALAR_SIMPLE, NULL, 5000, TBW_NO_PURGE, NULL, NULL }

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
 * @brief Log n scalars of one training step in one commit: all or nothing.
 *
 * The scalars get consecutive sequence numbers in the order given, the same
 * step and the same wall time. One transaction for the whole step costs far
 * less per scalar than n calls of tbw_add_scalar().
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

#ifdef __cplusplus
}
#endif
#endif /* TBWAL_H */
