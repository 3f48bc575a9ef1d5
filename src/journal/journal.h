/* journal.h -- the LMDB journal: the only module that includes <lmdb.h>.
 *
 * A journal is an LMDB environment in a directory (by default logdir/.tbwal)
 * holding, per run:
 *   - records: one scalar (or SessionLog START marker) per key, keyed by a
 *     big-endian u64 sequence number appended with MDB_APPEND, each carrying
 *     its own CRC-32C (LMDB does not checksum data pages);
 *   - tags: interned tag names (id <-> name);
 *   - meta: run id (random 128-bit, made once), created time, host, logdir,
 *     format version;
 *   - cursors: export (seq, event file name, byte offset, file number) for the
 *     compactor, ship (seq) for the syncer.
 * Byte layouts: doc/journal-format.md.
 *
 * SHARING AND PROCESSES
 *  - Opening the same directory twice in one process returns handles on one
 *    shared LMDB environment (LMDB's locks break otherwise).
 *  - Roles (writer, compactor, syncer, recover) are exclusive across
 *    processes: tbw__journal_lock() takes an flock on a file per role in the
 *    journal directory and returns TBW_EBUSY, naming the role and path, when
 *    another process holds it. Within one process the compactor, syncer and
 *    recover roles are exclusive too (TBW_EBUSY, or with wait a wait, when
 *    another handle of this process holds one); the writer role is shared
 *    (reference counted) by the handles on the shared environment. This is
 *    the one home of role exclusivity.
 *  - Every call made in a child process after fork() on a handle opened by
 *    the parent returns TBW_EFORK without touching LMDB.
 *  - Stale reader slots are cleared on open (mdb_reader_check).
 *
 * ERRORS: LMDB codes never leave this module. MDB_MAP_FULL is handled by
 * growing the map and retrying; what cannot be handled becomes TBW_EFULL,
 * TBW_EIO, TBW_ECORRUPT... with mdb_strerror() text in tbw_errmsg().
 * A failed commit or sync poisons the shared environment: every later write
 * returns TBW_EPANIC until every handle is closed and the journal reopened.
 */
#ifndef TBW_JOURNAL_H
#define TBW_JOURNAL_H

#include <stddef.h>
#include <stdint.h>
#include "tbwal.h"

typedef struct tbw_journal tbw_journal;

/* tag_id of a SessionLog START marker record (its step is the purge step). */
#define TBW_JTAG_SESSION_START 0xFFFFFFFFu
/* tag_id of an event record that names no tag (a graph, say). */
#define TBW_JTAG_NONE 0xFFFFFFFEu

/* Format version this build reads. A journal is created as format 1 and
 * becomes format 2 (meta/format rewritten in the same transaction) when its
 * first event record is written, so builds that read only scalars refuse it
 * (TBW_EVERSION) instead of skipping event records as damage. Readers
 * refuse newer formats (TBW_EVERSION). */
#define TBW_JOURNAL_FORMAT 4
#define TBW_JOURNAL_FORMAT_SCALARS 1
#define TBW_JOURNAL_FORMAT_EVENTS 2    /* may hold event records */
#define TBW_JOURNAL_FORMAT_STEPS 3     /* may hold step records too (tbw_add_scalars) */
#define TBW_JOURNAL_FORMAT_RUNS 4      /* may hold run records too (restores) */

/* Largest body of an event record the journal stores (the writer's own cap,
 * tbw_options.max_record_bytes, is at most this). */
#define TBW_JOURNAL_BODY_MAX ((size_t)1 << 30)

/* One record as stored (decoded). A scalar or START marker has body_len 0;
 * an event record (tbw_add_event) has body_len > 0 and value 0: its body,
 * a serialized Event without wall_time and step, is read with
 * tbw__journal_read_body(). */
typedef struct tbw_jrec {
	uint64_t seq;       /* sequence number, from 1, dense in append order */
	double   wall_time; /* seconds since the epoch */
	int64_t  step;
	double   value;     /* as logged (exported as float32) */
	uint32_t tag_id;    /* interned tag, TBW_JTAG_SESSION_START or TBW_JTAG_NONE */
	uint32_t body_len;  /* 0, or the event record's body size in bytes */
} tbw_jrec;

typedef enum tbw_jsync {
	TBW_JSYNC_NONE = 0,   /* commit without fsync (INTERVAL, NEVER); tbw__journal_sync() flushes */
	TBW_JSYNC_COMMIT = 1  /* every commit is synced before it returns (ALWAYS) */
} tbw_jsync;

typedef struct tbw_jopen {
	int create;              /* create the directory and environment if missing */
	int read_only;           /* open for reading only (tbstat, inspection) */
	tbw_jsync sync;          /* commit durability for writes through this env */
	const char *logdir;      /* recorded in meta on creation (may be NULL) */
	const uint8_t *run_id;   /* 16 bytes to use on creation (restore); NULL: random */
} tbw_jopen;

#define TBW_JOPEN_INIT { 0, 0, TBW_JSYNC_NONE, NULL, NULL }

/* Open (or with cfg->create, create) the journal in dir. On failure *out is
 * NULL and nothing leaks. Errors: TBW_ENOTFOUND (no journal, create off),
 * TBW_ECORRUPT (LMDB refuses the environment or meta fails its checksum),
 * TBW_EVERSION, TBW_EIO, TBW_EFULL, TBW_ENOMEM. */
int tbw__journal_open(tbw_journal **out, const char *dir, const tbw_jopen *cfg);

/* Release this handle (the environment closes with its last handle) and any
 * roles it holds. NULL is a no-op. */
void tbw__journal_close(tbw_journal *j);

/* The journal directory (borrowed, valid until close). */
const char *tbw__journal_dir(const tbw_journal *j);

/* 1 if j was opened by a parent process of this one (fork()), else 0.
 * No system call: a pthread_atfork() child handler counts forks. */
int tbw__journal_forked(const tbw_journal *j);

/* ---- Roles ---- */
typedef enum tbw_jrole {
	TBW_JROLE_WRITER = 0,
	TBW_JROLE_COMPACTOR,
	TBW_JROLE_SYNCER,
	TBW_JROLE_RECOVER,
	TBW_JROLE_COUNT
} tbw_jrole;

/* Take role for this handle; with wait, block until the other process lets
 * go. TBW_EBUSY when it is held by another process and !wait. */
int tbw__journal_lock(tbw_journal *j, tbw_jrole role, int wait);
/* Drop a role this handle holds (close drops them all). */
void tbw__journal_unlock(tbw_journal *j, tbw_jrole role);
/* 1 if another process holds role (a probe; takes and releases the lock), 0
 * if free, negative on error. */
int tbw__journal_role_busy(const char *dir, tbw_jrole role);

/* ---- Writing ---- */

/* Validate a tag: non-empty, at most TBW_TAG_MAX bytes, valid UTF-8, no
 * control characters. Returns 0 or TBW_EINVAL with a message naming op. */
int tbw__journal_check_tag(const char *tag, size_t len, const char *op);

/* Append one scalar in its own write transaction, interning tag on first use.
 * Returns after the commit (and, with TBW_JSYNC_COMMIT, the sync). On error
 * nothing was written. *seq_out (may be NULL) gets the record's sequence.
 * With TBW_JSYNC_COMMIT the appends of threads that wait while a commit
 * syncs share the next transaction (group commit, see
 * tbw__journal_group_stats): each still returns after the synced commit
 * holding its record, with its own result, all or nothing (the same holds
 * for the other appends below). */
int tbw__journal_append(tbw_journal *j, const char *tag, size_t tag_len,
                        double value, int64_t step, double wall_time,
                        uint64_t *seq_out);

/* Append one event record (body: a serialized Event without fields 1 and 2,
 * 1..TBW_JOURNAL_BODY_MAX bytes, validated by the caller) in its own write
 * transaction. tag NULL (tag_len 0) names no tag. Same guarantees as
 * tbw__journal_append; the first one makes the journal format 2. */
int tbw__journal_append_event(tbw_journal *j, const char *tag, size_t tag_len,
                              int64_t step, double wall_time,
                              const void *body, size_t body_len, uint64_t *seq_out);

/* Append n scalars (one step, one wall time) in one write transaction:
 * all or nothing. Every tag is validated before the transaction starts; a
 * tag may repeat. *first_seq_out (may be NULL) gets the first record's
 * sequence; the others follow densely. */
int tbw__journal_append_many(tbw_journal *j, size_t n, const char *const *tags,
                             const size_t *lens, const double *values, int64_t step,
                             double wall_time, uint64_t *first_seq_out);

/* Append a SessionLog START marker at step (purge_step). */
int tbw__journal_append_start(tbw_journal *j, int64_t step, double wall_time,
                              uint64_t *seq_out);

/* A record to insert at a given sequence (restore from segments). */
typedef struct tbw_jrec_named {
	uint64_t seq;
	double   wall_time;
	int64_t  step;
	double   value;
	const char *tag;     /* NULL for a START marker (or an event record without tag) */
	size_t   tag_len;
	const void *body;    /* event record: its body (body_len > 0); else NULL */
	size_t   body_len;   /* 0 for a scalar or START marker */
} tbw_jrec_named;

/* Insert records at their own sequence numbers in one write transaction.
 * A sequence already present is left as it is (deduplication), unless the
 * stored record fails its checksum: then it is replaced. *ninserted (may be
 * NULL) counts the records written. */
int tbw__journal_insert(tbw_journal *j, const tbw_jrec_named *recs, size_t n,
                        size_t *ninserted);

/* Group commit (synced commits only: TBW_JSYNC_COMMIT): appends made by
 * threads that wait while a commit syncs share the next commit; each call
 * still returns after the commit holding its records (and its two device
 * flushes), with its own result. *commits counts the commits made this way
 * since the environment opened, *calls the appends they carried
 * (benchmarks and tests). */
int tbw__journal_group_stats(tbw_journal *j, uint64_t *commits, uint64_t *calls);

/* fsync the environment (mdb_env_sync force). A failure poisons the env. */
int tbw__journal_sync(tbw_journal *j);

/* TBW_OK, or TBW_EPANIC if a commit or sync failed earlier (with the message). */
int tbw__journal_check_poisoned(tbw_journal *j);

/* ---- Reading ---- */

typedef struct tbw_jread {
	size_t   n;                 /* records returned */
	uint64_t next_after;        /* pass back as after_seq to continue */
	size_t   ncorrupt;          /* records skipped: checksum or length mismatch */
	uint64_t first_corrupt_seq; /* key of the first of them (0 if none) */
	int      end;               /* 1 if nothing followed at read time */
} tbw_jread;

/* Read up to cap records with seq > after_seq, in order, in one short read
 * transaction. Damaged records are skipped and counted in info. In a
 * process with the journal open for writing, no commit of this process
 * runs meanwhile (so the pages commits free are reused: a bounded
 * journal); keep cap moderate (the compactor reads 4096). */
int tbw__journal_read(tbw_journal *j, uint64_t after_seq, tbw_jrec *out,
                      size_t cap, tbw_jread *info);

/* Copy the body of event record seq into dst (cap bytes), checking its CRC
 * again, in one read transaction. *len gets the body size. TBW_ENOTFOUND if
 * seq is not stored, TBW_ECORRUPT if it fails its checksum, TBW_EINVAL if it
 * is not an event record or cap is smaller than its body (*len set). */
int tbw__journal_read_body(tbw_journal *j, uint64_t seq, void *dst, size_t cap, size_t *len);

/* Name of tag id (borrowed: valid until the journal is closed). TBW_ENOTFOUND
 * for an unknown id, TBW_ECORRUPT if its entry fails its checksum. */
int tbw__journal_tag_name(tbw_journal *j, uint32_t id, const char **name, size_t *len);

/* Highest sequence ever appended (0 for an empty journal), pruned ones included. */
int tbw__journal_last_seq(tbw_journal *j, uint64_t *out);

/* Sequence of the oldest record still stored (0 if none). */
int tbw__journal_first_seq(tbw_journal *j, uint64_t *out);

/* Number of records stored now. */
int tbw__journal_count(tbw_journal *j, uint64_t *out);

typedef struct tbw_jinfo {
	uint8_t  run_id[16];
	char     run_id_hex[33];
	double   created;        /* wall time of creation */
	char     host[256];
	char     logdir[4096];   /* as given at creation ("" if none) */
	uint32_t format;
} tbw_jinfo;

int tbw__journal_info(tbw_journal *j, tbw_jinfo *out);

/* ---- Cursors ---- */

typedef struct tbw_jexport {
	uint64_t seq;        /* every record <= seq is in the event files */
	uint64_t offset;     /* bytes of file that hold them (the valid length) */
	uint32_t file_no;    /* counter used in file names, increasing */
	char     file[256];  /* current event file name inside logdir ("" none yet) */
} tbw_jexport;

/* Get the export cursor; all zero if the compactor never ran. */
int tbw__journal_get_export(tbw_journal *j, tbw_jexport *out);
/* Set the export cursor in one write transaction (durable per the env's sync
 * mode; the compactor calls tbw__journal_sync() if it needs more). */
int tbw__journal_set_export(tbw_journal *j, const tbw_jexport *c);

/* Get the ship cursor; *present = 0 if no syncer was ever attached. */
int tbw__journal_get_ship(tbw_journal *j, uint64_t *seq, int *present);
int tbw__journal_set_ship(tbw_journal *j, uint64_t seq);

/* Delete records with seq <= through in transactions of at most batch
 * records each (or, when every record stored is prunable, in one
 * transaction that empties the table). Never deletes past the export cursor, nor past the ship
 * cursor when one is present. *npruned (may be NULL) counts deletions. */
int tbw__journal_prune(tbw_journal *j, uint64_t through, size_t batch,
                       uint64_t *npruned);

/* ---- Salvage (recover; src/journal/salvage.c) ----
 * Walk every key of a journal whose environment may be damaged, reading
 * with checks; for each intact record call fn (return nonzero to stop).
 * Reports corrupt records via *ncorrupt. tbrecover does not use it (LMDB
 * may crash on damaged pages): it uses tbw__journal_salvage_raw below;
 * this one is exercised by tests/test_journal.c and fuzz/fuzz_journal. */
typedef int (*tbw_jsalvage_fn)(void *ctx, const tbw_jrec_named *rec);
int tbw__journal_salvage(const char *dir, tbw_jsalvage_fn fn, void *ctx,
                         uint64_t *nread, uint64_t *ncorrupt, tbw_jinfo *info);

/* Salvage's raw page scan of dir/data.mdb alone, never calling LMDB
 * (which trusts the file's page structure and may crash on damaged pages):
 * what tbrecover uses when LMDB died reading the journal. */
int tbw__journal_salvage_raw(const char *dir, tbw_jsalvage_fn fn, void *ctx,
                             uint64_t *nread, uint64_t *ncorrupt, tbw_jinfo *info);

/* Before LMDB opens an existing dir/data.mdb (journal open): TBW_ECORRUPT
 * with a one-line message when it is not a regular file, 0 bytes after a
 * completed creation, a meta page with an impossible page size, or shorter
 * than its newest meta page records (a truncation); else 0, and
 * *unwritten = 1 when it has no meta page and holds only zeros (its
 * creation, or the first commits, never reached the disk: a power cut, or
 * a file system that lost the data but kept the size or space
 * preallocated for it), which has no record to lose. */
int tbw__journal_check_files(const char *dir, int *unwritten);

/* After check_files found dir/data.mdb unwritten. Opened for writing, and
 * with no process holding the environment, it is truncated to start over
 * (*dropped = 1); opened read-only, TBW_ECORRUPT saying so. Else 0 and
 * nothing done. */
int tbw__journal_drop_unwritten(const char *dir, int read_only, int *dropped);

/* Walk every table, the free list included, with LMDB. 0, or TBW_ECORRUPT
 * (and others) when LMDB reports damage. On some damage LMDB crashes
 * instead: run it in a child process (tbrecover's probe does). *nentries
 * (may be NULL) counts the entries walked. */
int tbw__journal_verify(tbw_journal *j, uint64_t *nentries);

/* Size in bytes of the data file (for tests of bounded growth): the pages
 * in use up to LMDB's high-water mark (with MDB_WRITEMAP the file itself is
 * as large as the map, sparse). */
int tbw__journal_file_size(tbw_journal *j, uint64_t *out);

/* Tests only: begin a read transaction and leak it, holding a reader slot
 * (what a process killed inside a read leaves behind). */
int tbw__journal_test_hold_reader(tbw_journal *j);

/* Tests only: how many tbw__journal_read calls this process's environment
 * served from the records its last insert appended (journal.c, "Reading
 * your own insert"), not from LMDB. */
uint64_t tbw__journal_test_own_insert_reads(tbw_journal *j);

/* ---- Per-tag history (tbwal stat) ----
 * Cumulative figures per tag of every record exported, kept in meta
 * ("tagstat:<id>", "tagstats_from") by the compactor, merged in the same
 * transaction that advances the export cursor (doc/journal-format.md). */
typedef struct tbw_jtagstat {
	uint32_t tag_id;
	uint64_t count;
	int64_t  first_step, last_step, min_step, max_step;
	double   first_wall, last_wall, last_value;
} tbw_jtagstat;

/* One record (after all of t's) into t. */
void tbw__jtagstat_add(tbw_jtagstat *t, int64_t step, double value, double wall_time);

/* Fold later (records after into's) into into. */
void tbw__jtagstat_merge(tbw_jtagstat *into, const tbw_jtagstat *later);

/* Set the export cursor and merge n per-tag deltas (records the cursor now
 * covers and did not before) in one write transaction. n = 0 is
 * tbw__journal_set_export(). */
int tbw__journal_set_export_stats(tbw_journal *j, const tbw_jexport *c,
                                  const tbw_jtagstat *d, size_t n);

/* Every tag's figures (*out: tbw__free it). *present = 0 if the compactor
 * never merged any; *from_seq: records <= it were exported before the
 * journal kept history and are not in the figures. */
int tbw__journal_get_tagstats(tbw_journal *j, tbw_jtagstat **out, size_t *n,
                              uint64_t *from_seq, int *present);

#endif
