/* journal.c -- the LMDB journal (see journal.h, format: doc/journal-format.md).
 *
 * The only file that includes <lmdb.h>. Divisions, in order:
 *   1. encoding (big-endian fields, CRCs) and LMDB error mapping
 *   2. the process-wide registry of shared environments, fork detection
 *   3. the in-memory tag table
 *   4. write transactions: one process mutex, map growth, poisoning
 *   5. open / close / info
 *   6. roles (flock files)
 *   7. writing: append, insert, sync
 *   8. reading, cursors, prune
 *   9. verification (tbrecover's probe)
 *  10. per-tag history
 * Salvage of a damaged journal and the checks of data.mdb before LMDB reads
 * it are in salvage.c; the record encodings in jrecord.c.
 *
 * CONCURRENCY. One `struct jenv` per journal directory per process, shared
 * by every handle (registry keyed by st_dev/st_ino). Write transactions are
 * serialised by env->wmu (a process mutex taken before LMDB's own write
 * lock), which also guards the caches (next sequence, next tag id) and
 * tag-table insertions. env->maplock is a rwlock every read transaction
 * holds for reading; a map resize (growth, or adopting another process's)
 * takes wmu and then maplock for writing, so mdb_env_set_mapsize() runs
 * with no transaction open in this process: write transactions, which run
 * under wmu, need not take maplock (one rwlock round trip less per
 * commit). Reads of records hold wmu too
 * in a process that writes (tbw__journal_read: a read open beside commits
 * keeps the pages they free from reuse). Lock order: gmu alone; wmu, then
 * maplock, then tagmu; no thread holding maplock takes wmu.
 *
 * CACHES AND OTHER PROCESSES. After each commit we note LMDB's last txn id
 * (mdb_env_info). A write txn that finds another id knows another process
 * wrote, and reloads the next sequence and the tags it has not seen.
 */
#include "config.h"
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>
#include <lmdb.h>
#include "base/alloc.h"
#include "base/bytes.h"
#include "format/crc32c.h"
#include "base/error.h"
#include "journal/journal.h"
#include "journal/jrecord.h"
#include "base/tagname.h"
#include "base/os.h"
#include "base/strmap.h"

/* ===================================================================
 * 1. Encoding and error mapping
 * =================================================================== */

#define DEFAULT_MAPSIZE ((size_t)64 << 20)
#define MAX_GROWTHS 48

/* Map an LMDB (or errno) code to TBW_E*, recording op/path/cause. */
static int mdb_err(int rc, const char *op, const char *path)
{
	int code;
	switch (rc) {
	case MDB_MAP_FULL:      code = TBW_EFULL; break;
	case MDB_CORRUPTED:
	case MDB_PAGE_NOTFOUND:
	case MDB_INVALID:
	case MDB_INCOMPATIBLE:
	case MDB_BAD_VALSIZE:   code = TBW_ECORRUPT; break;
	case MDB_VERSION_MISMATCH: code = TBW_EVERSION; break;
	case MDB_PANIC:         code = TBW_EPANIC; break;
	case MDB_READERS_FULL:
	case MDB_TXN_FULL:
	case MDB_MAP_RESIZED:   code = TBW_EBUSY; break;
	case MDB_NOTFOUND:      code = TBW_ENOTFOUND; break;
	default:
		if (rc > 0)
			return tbw__error_errno(rc, op, path);
		code = TBW_EIO;
	}
	return tbw__error_set(code, op, path, "%s", mdb_strerror(rc));
}

/* ===================================================================
 * 2. Registry of shared environments; fork detection
 * =================================================================== */

typedef struct jtag {
	char *name;          /* NUL-terminated, never moves until the env closes */
	size_t len;
} jtag;

typedef struct jenv {
	struct jenv *next;
	dev_t dev;
	ino_t ino;
	unsigned long gen;          /* fork generation it was opened in */
	int refs;
	char *dir;
	MDB_env *env;
	MDB_dbi d_rec, d_tags, d_meta, d_cur;
	int read_only;
	int writemap;
	atomic_int nsync_commit;    /* handles asking for TBW_JSYNC_COMMIT (changed under reg_mu) */
	int body_rc;                /* TBW_E* code of a failed write body (under wmu) */
	int data_fd;                /* LMDB's descriptor of data.mdb (borrowed) */
	size_t psize;               /* LMDB page size */
	uint64_t room_end;          /* data.mdb is allocated on disk up to here */
	uint64_t room_slack;        /* under wmu: room past the headroom at the last check (ensure_room) */
	int room_off;               /* the filesystem cannot preallocate */

	pthread_mutex_t wmu;        /* write transactions + caches */
	pthread_rwlock_t maplock;   /* every read txn and env sync: rd; map resize (under wmu): wr */
	pthread_mutex_t tagmu;      /* tag table */
	pthread_mutex_t rolemu;     /* role fds */
	pthread_cond_t rolecv;      /* an exclusive role was released here */

	/* group commit (section 4b): appends waiting for the next leader */
	pthread_mutex_t gmu;        /* the queue and the leader's state (never held with wmu) */
	pthread_cond_t gcv_done;    /* a leader finished a group */
	pthread_cond_t gcv_lead;    /* a request was queued (a leader waits for more) */
	struct greq *ghead, **gtail;
	size_t gqueued;             /* requests in the queue */
	int gleader, gwaiting;      /* a leader is running a group; it waits for arrivals */
	size_t g_last;              /* requests in the last group */
	uint64_t g_last_ns;         /* its time, from taking wmu to the commit's return */
	uint64_t g_commits, g_calls; /* under wmu: group commits made, calls they carried */

	/* caches, under wmu */
	size_t last_txnid;
	int cache_ok;
	uint64_t next_seq;          /* next sequence to append */
	uint64_t pruned_through;
	uint32_t format;            /* meta/format as last read or written */

	/* tags: by_id[id] for id < ntags; byname: name (by_id's copy) -> id */
	jtag *by_id;
	uint32_t ntags, cap_id;
	uint32_t tag_end;           /* next id to hand out: past every id loaded, added or seen damaged */
	tbw_strmap byname;
	struct { const char *p; uint32_t id; } memo[256]; /* under wmu: last ids by the caller's pointer */

	atomic_int poisoned;
	char poison_msg[512];

	int role_fd[TBW_JROLE_COUNT];
	int role_refs[TBW_JROLE_COUNT];

	/* under wmu: the records the last insert appended, while the snapshot
	 * is the one its commit made (section 8, "Reading your own insert") */
	tbw_jrec *ri_recs;
	size_t ri_n, ri_cap;
	uint64_t ri_base;           /* the last seq stored before them */
	size_t ri_txnid;            /* the insert's transaction */
	int ri_valid;
	uint64_t ri_hits;           /* reads served from them (tests) */
} jenv;

struct tbw_journal {
	jenv *e;
	unsigned long gen;
	int read_only;
	tbw_jsync sync;
	int held[TBW_JROLE_COUNT];
};

static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;
static jenv *reg_head;
static atomic_ulong fork_gen;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void atfork_prepare(void) { pthread_mutex_lock(&reg_mu); }
static void atfork_parent(void) { pthread_mutex_unlock(&reg_mu); }
static void atfork_child(void)
{
	/* The child must never touch the parent's environments (LMDB: no use
	 * after fork). It drops its copies of the role lock fds so that a child
	 * outliving the parent does not keep the parent's roles: closing a copy
	 * does not release the parent's flock. */
	atomic_fetch_add(&fork_gen, 1);
	for (jenv *e = reg_head; e; e = e->next)
		for (int r = 0; r < TBW_JROLE_COUNT; r++)
			if (e->role_fd[r] >= 0)
				close(e->role_fd[r]);
	/* the forking thread locked it in prepare and is this one: unlock,
	 * as the parent does (an init over a held mutex hides the release
	 * from ThreadSanitizer, which then reports a lock-order inversion) */
	pthread_mutex_unlock(&reg_mu);
}
static void atfork_install(void)
{
	pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
}

static const char *role_names[TBW_JROLE_COUNT] = { "writer", "compactor", "syncer", "recover" };

/* Checks every call starts with: fork, closed. */
static int check_handle(const tbw_journal *j, const char *op)
{
	if (!j)
		return tbw__error_set(TBW_EINVAL, op, NULL, "journal handle is NULL");
	if (j->gen != atomic_load_explicit(&fork_gen, memory_order_relaxed))
		return tbw__error_set(TBW_EFORK, op, j->e->dir,
		                      "journal handle opened by the parent process used after fork()");
	return TBW_OK;
}

/* TBW_EPANIC naming the failure that poisoned e. */
static int poisoned_err(jenv *e, const char *op)
{
	char msg[512];

	pthread_mutex_lock(&e->tagmu);
	memcpy(msg, e->poison_msg, sizeof msg);
	pthread_mutex_unlock(&e->tagmu);
	return tbw__error_set(TBW_EPANIC, op, e->dir,
	                      "refusing writes after an earlier failure (%s); close and reopen", msg);
}

static int check_writable_slow(const tbw_journal *j, const char *op)
{
	int rc = check_handle(j, op);
	if (rc)
		return rc;
	if (j->read_only || j->e->read_only)
		return tbw__error_set(TBW_EINVAL, op, j->e->dir, "journal is open read-only");
	if (atomic_load_explicit(&j->e->poisoned, memory_order_acquire))
		return poisoned_err(j->e, op);
	return TBW_OK;
}

/* Checks every write starts with: fork, closed, read-only, poisoned (one
 * test of each on the hot path; the messages out of line). */
static inline int check_writable(const tbw_journal *j, const char *op)
{
	if (__builtin_expect(j && j->gen == atomic_load_explicit(&fork_gen, memory_order_relaxed) &&
	                     !j->read_only && !j->e->read_only &&
	                     !atomic_load_explicit(&j->e->poisoned, memory_order_acquire), 1))
		return TBW_OK;
	return check_writable_slow(j, op);
}

static void poison(jenv *e)
{
	pthread_mutex_lock(&e->tagmu);
	if (!atomic_load(&e->poisoned))
		snprintf(e->poison_msg, sizeof e->poison_msg, "%s", tbw_errmsg());
	atomic_store_explicit(&e->poisoned, 1, memory_order_release);
	pthread_mutex_unlock(&e->tagmu);
}

/* ===================================================================
 * 3. Tag table
 * =================================================================== */

/* id or UINT32_MAX. Caller holds wmu (writers) or tagmu. */
static uint32_t tag_lookup(const jenv *e, const char *s, size_t n)
{
	uint32_t id;
	return tbw__strmap_find(&e->byname, s, n, &id) ? id : UINT32_MAX;
}

/* Add tag id (ids may arrive in any order; holes stay NULL). Takes tagmu. */
static int tag_add(jenv *e, uint32_t id, const char *s, size_t n)
{
	int rc = TBW_ENOMEM;
	char *copy;

	if (id == TBW_JTAG_SESSION_START || id >= (1u << 30))
		return tbw__error_set(TBW_ECORRUPT, "journal tags", e->dir, "tag id %u out of range", id);
	copy = tbw__malloc(n + 1);
	if (!copy)
		return tbw__error_set(TBW_ENOMEM, "journal tags", e->dir, "out of memory");
	memcpy(copy, s, n);
	copy[n] = 0;
	pthread_mutex_lock(&e->tagmu);
	if (id >= e->cap_id) {
		uint32_t nc = e->cap_id ? e->cap_id : 16;
		while (nc <= id)
			nc *= 2;
		jtag *nb = tbw__realloc(e->by_id, nc * sizeof *nb);
		if (!nb)
			goto out;
		memset(nb + e->cap_id, 0, (nc - e->cap_id) * sizeof *nb);
		e->by_id = nb;
		e->cap_id = nc;
	}
	if (e->by_id[id].name) { /* already known */
		rc = TBW_OK;
		goto out;
	}
	if (tbw__strmap_put(&e->byname, copy, n, id) != TBW_OK)
		goto out;
	e->by_id[id].name = copy;
	e->by_id[id].len = n;
	if (id + 1 > e->tag_end)
		e->tag_end = id + 1;
	copy = NULL;
	e->ntags++;
	rc = TBW_OK;
out:
	pthread_mutex_unlock(&e->tagmu);
	tbw__free(copy);
	if (rc == TBW_ENOMEM)
		return tbw__error_set(TBW_ENOMEM, "journal tags", e->dir, "out of memory");
	return rc;
}

/* Forget the tags with id >= from (added in memory by a group commit's
 * transaction that was then aborted: none of them is in the table). Rare:
 * the name map is rebuilt. Takes tagmu. */
static void tag_truncate(jenv *e, uint32_t from)
{
	pthread_mutex_lock(&e->tagmu);
	if (from < e->tag_end) {
		for (uint32_t id = from; id < e->cap_id; id++)
			if (e->by_id[id].name) {
				tbw__free(e->by_id[id].name);
				e->by_id[id].name = NULL;
				e->by_id[id].len = 0;
				e->ntags--;
			}
		/* fewer names than the map held: the puts never allocate */
		tbw__strmap_clear(&e->byname);
		for (uint32_t id = 0; id < from && id < e->cap_id; id++)
			if (e->by_id[id].name)
				(void)tbw__strmap_put(&e->byname, e->by_id[id].name, e->by_id[id].len, id);
		e->tag_end = from;
		memset(e->memo, 0, sizeof e->memo);
	}
	pthread_mutex_unlock(&e->tagmu);
}

/* Load tags with id >= from into memory; *next gets max id + 1. */
static int load_tags(jenv *e, MDB_txn *txn, uint32_t from, uint32_t *next)
{
	MDB_cursor *c;
	MDB_val k, v;
	uint8_t kb[4];
	int rc = mdb_cursor_open(txn, e->d_tags, &c), op = MDB_SET_RANGE;

	if (rc)
		return mdb_err(rc, "journal load tags", e->dir);
	tbw__put_be32(kb, from);
	k.mv_data = kb;
	k.mv_size = 4;
	*next = from;
	while ((rc = mdb_cursor_get(c, &k, &v, op)) == 0) {
		uint32_t id;
		const char *name;
		size_t len;
		op = MDB_NEXT;
		if (tbw__jtag_decode(k.mv_data, k.mv_size, v.mv_data, v.mv_size, &id, &name, &len)) {
			if (k.mv_size == 4 && tbw__get_be32(k.mv_data) + 1 > *next)
				*next = tbw__get_be32(k.mv_data) + 1; /* never reuse a damaged id */
			continue;
		}
		if ((rc = tag_add(e, id, name, len)) != 0) {
			mdb_cursor_close(c);
			return rc;
		}
		if (id + 1 > *next)
			*next = id + 1;
	}
	mdb_cursor_close(c);
	if (rc != MDB_NOTFOUND)
		return mdb_err(rc, "journal load tags", e->dir);
	pthread_mutex_lock(&e->tagmu);
	if (*next > e->tag_end)
		e->tag_end = *next; /* a damaged row's id is never handed out again */
	pthread_mutex_unlock(&e->tagmu);
	return TBW_OK;
}

/* ===================================================================
 * 4. Transactions: map growth, resize adoption
 * =================================================================== */

static size_t env_mapsize(jenv *e)
{
	MDB_envinfo info;
	mdb_env_info(e->env, &info);
	return info.me_mapsize;
}

/* Grow the map. Caller holds wmu (a writer, its transaction ended): no
 * write txn of ours is open, and maplock for writing waits out the reads. */
static int grow_map(jenv *e, const char *op)
{
	int rc;
	pthread_rwlock_wrlock(&e->maplock);
	size_t cur = env_mapsize(e);
	size_t add = cur < ((size_t)1 << 30) ? cur : ((size_t)1 << 30);
	if (add < ((size_t)1 << 20))
		add = (size_t)1 << 20;
	rc = mdb_env_set_mapsize(e->env, cur + add);
	pthread_rwlock_unlock(&e->maplock);
	if (rc)
		return mdb_err(rc, op, e->dir);
	return TBW_OK;
}

/* Adopt the map size another process set (MDB_MAP_RESIZED). held: the
 * caller holds wmu already (a writer, or a pinned read); else it is taken
 * here, so that no write transaction of this process is open either. */
static int adopt_resize(jenv *e, const char *op, int held)
{
	int rc;
	if (!held)
		pthread_mutex_lock(&e->wmu);
	pthread_rwlock_wrlock(&e->maplock);
	rc = mdb_env_set_mapsize(e->env, 0);
	pthread_rwlock_unlock(&e->maplock);
	if (!held)
		pthread_mutex_unlock(&e->wmu);
	return rc ? mdb_err(rc, op, e->dir) : TBW_OK;
}

/* Disk space for the pages a write transaction may use.
 *
 * LMDB writes pages with pwrite(); a short write on a full disk comes
 * back from LMDB as EIO and poisons the journal. So inside each write
 * transaction, before it writes anything, the part of the file past
 * LMDB's high-water mark that it may use (at least 512 KiB, an eighth of
 * what is used when that is more, within the map) is allocated with
 * posix_fallocate. A full disk is then a plain TBW_EFULL before anything
 * is written: the call wrote nothing and the journal is not poisoned
 * (logging works again once there is room). With MDB_WRITEMAP (the default
 * for INTERVAL and NEVER, see want_writemap) it matters more: LMDB writes a page
 * by storing into its shared map of data.mdb, a sparse file as large as
 * the map, and a store into a hole on a full filesystem kills the process
 * with SIGBUS (tests/test_faults_lmdb.c fills a 2 MiB tmpfs and saw
 * exactly that).
 * Transactions of ours dirty far less than 512 KiB (one record, a prune
 * batch of 8192 deletions, an insert batch of 4096 records). On a
 * filesystem that cannot preallocate, nothing is reserved. */
#define ROOM_MIN   ((uint64_t)512 << 10)
#define ROOM_ROUND ((uint64_t)64 << 10)

/* An append of n small records (no event body) grows data.mdb past its
 * high-water mark by at most this much (its path through the records
 * tree, a split, the main table, a tag row, the free list's records: a
 * few pages; this allows 8 and more per call; one that took more would
 * still find most of the at least 512 KiB of headroom: fewer than 16
 * calls run between two checks). */
#define ROOM_APPEND_BOUND(n) (((uint64_t)32 << 10) + (uint64_t)(n) * 64)

/* small with extra 0: the caller's transaction is an append of that many
 * records (no event body), bounded by ROOM_APPEND_BOUND. Such appends skip the check
 * (and its mdb_env_info) while the room found at the last check covers
 * their bound on top of the headroom: the reserve ahead of every
 * transaction is then at least the headroom, as with a check each time.
 * Any other transaction checks, and makes the next one check too. */
static int ensure_room_check(jenv *e, const char *op, uint64_t extra, size_t small)
{
	MDB_envinfo info;
	uint64_t used, want, end;

	e->room_slack = 0;
	if (e->read_only || e->room_off || e->data_fd < 0 || !e->psize)
		return TBW_OK;
	mdb_env_info(e->env, &info);
	used = ((uint64_t)info.me_last_pgno + 1) * e->psize;
	want = used + (used / 8 > ROOM_MIN ? used / 8 : ROOM_MIN) + extra;
	if (want > info.me_mapsize)
		want = info.me_mapsize;
	if (want <= e->room_end) {
		if (small && extra == 0 && want < info.me_mapsize)
			e->room_slack = e->room_end - want;
		return TBW_OK;
	}
	/* Reserve twice the headroom (fewer calls); on a nearly full disk,
	 * settle for the headroom itself. */
	end = (used + 2 * (want - used) + ROOM_ROUND - 1) / ROOM_ROUND * ROOM_ROUND;
	if (end > info.me_mapsize)
		end = info.me_mapsize;
	if (tbw__os.fallocate(e->data_fd, (off_t)e->room_end, (off_t)(end - e->room_end)) < 0 &&
	    (errno != ENOSPC || (end = want) <= e->room_end ||
	     tbw__os.fallocate(e->data_fd, (off_t)e->room_end, (off_t)(end - e->room_end)) < 0)) {
		int err = errno;
		if (err == EOPNOTSUPP || err == ENOSYS) {
			e->room_off = 1;
			return TBW_OK;
		}
		return tbw__error_set(tbw__error_from_errno(err), op, e->dir,
		                      "cannot reserve disk space for the journal (data.mdb bytes %llu to %llu): %s",
		                      (unsigned long long)e->room_end, (unsigned long long)end, strerror(err));
	}
	e->room_end = end;
	if (small && extra == 0 && want < info.me_mapsize)
		e->room_slack = e->room_end - want;
	return TBW_OK;
}

/* The slack is only ever set by a check that found room (so never when
 * nothing is reserved: read-only, no preallocation). */
static inline int ensure_room_n(jenv *e, const char *op, uint64_t extra, size_t small)
{
	if (small && extra == 0 && e->room_slack >= ROOM_APPEND_BOUND(small)) {
		e->room_slack -= ROOM_APPEND_BOUND(small);
		return TBW_OK;
	}
	return ensure_room_check(e, op, extra, small);
}

static int ensure_room(jenv *e, const char *op, uint64_t extra)
{
	return ensure_room_n(e, op, extra, 0);
}

/* A failed LMDB write on a filesystem with no room left: LMDB turns a
 * short write into EIO; say what it means. */
static int fs_full(const char *dir)
{
	struct statvfs sv;

	return statvfs(dir, &sv) == 0 && (uint64_t)sv.f_bavail * sv.f_frsize < ((uint64_t)64 << 10);
}

/* Begin a read txn holding maplock rd. held: the caller holds wmu. */
static int rtxn_begin_h(jenv *e, MDB_txn **txn, const char *op, int held)
{
	for (int tries = 0;; tries++) {
		pthread_rwlock_rdlock(&e->maplock);
		int rc = mdb_txn_begin(e->env, NULL, MDB_RDONLY, txn);
		if (rc == 0)
			return TBW_OK;
		pthread_rwlock_unlock(&e->maplock);
		if (rc == MDB_MAP_RESIZED && tries < 8) {
			if ((rc = adopt_resize(e, op, held)) != 0)
				return rc;
			continue;
		}
		return mdb_err(rc, op, e->dir);
	}
}

static int rtxn_begin(jenv *e, MDB_txn **txn, const char *op)
{
	return rtxn_begin_h(e, txn, op, 0);
}

static void rtxn_end(jenv *e, MDB_txn *txn)
{
	mdb_txn_abort(txn);
	pthread_rwlock_unlock(&e->maplock);
}

static uint32_t next_tag_id(const jenv *e)
{
	/* O(1): tag_add and load_tags keep tag_end past every id in use */
	return e->tag_end;
}

/* The last sequence number an entry of `records` takes (a step record
 * takes its n; a damaged entry what its shape claims). */
static uint64_t entry_last_seq(const MDB_val *k, const MDB_val *v)
{
	return tbw__get_be64(k->mv_data) + tbw__jrec_claimed(v->mv_data, v->mv_size) - 1;
}

/* Position c on the first entry of `records` holding a sequence number
 * >= seq: the entry keyed seq or after, or the step record before it when
 * that reaches seq. kb: 8 bytes of key buffer. MDB_NOTFOUND if none. */
static int seek_seq(MDB_cursor *c, uint64_t seq, uint8_t kb[8], MDB_val *k, MDB_val *v)
{
	MDB_val pk, pv;
	int rc, prc;

	tbw__put_be64(kb, seq);
	k->mv_data = kb;
	k->mv_size = 8;
	rc = mdb_cursor_get(c, k, v, MDB_SET_RANGE);
	if (rc == 0 && k->mv_size == 8 && tbw__get_be64(k->mv_data) == seq)
		return 0;     /* the usual case: a read continuing where the last ended */
	if (rc != 0 && rc != MDB_NOTFOUND)
		return rc;
	prc = mdb_cursor_get(c, &pk, &pv, rc == 0 ? MDB_PREV : MDB_LAST);
	if (prc == 0 && pk.mv_size == 8 && tbw__get_be64(pk.mv_data) < seq && entry_last_seq(&pk, &pv) >= seq) {
		*k = pk;
		*v = pv;
		return 0;
	}
	if (prc != 0 && prc != MDB_NOTFOUND)
		return prc;
	if (rc == MDB_NOTFOUND)
		return rc;
	tbw__put_be64(kb, seq);     /* back to the entry found first */
	k->mv_data = kb;
	k->mv_size = 8;
	return mdb_cursor_get(c, k, v, MDB_SET_RANGE);
}

/* Reload the caches (another process committed since our last commit, or
 * they were invalidated). */
static int reload_caches(jenv *e, MDB_txn *txn)
{
	MDB_cursor *c;
	MDB_val k, v;
	uint64_t last = 0, pt = 0;
	uint32_t next_tag;
	int rc;

	e->room_slack = 0;   /* another process may have grown the file */
	if ((rc = mdb_cursor_open(txn, e->d_rec, &c)) != 0)
		return mdb_err(rc, "journal", e->dir);
	rc = mdb_cursor_get(c, &k, &v, MDB_LAST);
	if (rc == 0 && k.mv_size == 8)
		last = entry_last_seq(&k, &v);
	mdb_cursor_close(c);
	if (rc && rc != MDB_NOTFOUND)
		return mdb_err(rc, "journal last key", e->dir);
	k.mv_data = (void *)"pruned_through";
	k.mv_size = strlen("pruned_through");
	rc = mdb_get(txn, e->d_meta, &k, &v);
	if (rc == 0 && v.mv_size == 12 &&
	    tbw__get_be32((const uint8_t *)v.mv_data + 8) == tbw__jcrc2(k.mv_data, k.mv_size, v.mv_data, 8))
		pt = tbw__get_be64(v.mv_data);
	else if (rc && rc != MDB_NOTFOUND)
		return mdb_err(rc, "journal meta", e->dir);
	e->pruned_through = pt;
	e->next_seq = (last > pt ? last : pt) + 1;
	if ((rc = load_tags(e, txn, next_tag_id(e), &next_tag)) != 0)
		return rc;
	e->cache_ok = 1;
	return TBW_OK;
}

/* Reload the caches if another process committed since our last commit. */
static inline int refresh_caches(jenv *e, MDB_txn *txn)
{
	/* a write txn's id is the last committed one + 1: no mdb_env_info */
	if (__builtin_expect(e->cache_ok && mdb_txn_id(txn) == e->last_txnid + 1, 1))
		return TBW_OK;
	return reload_caches(e, txn);
}

/* A write body: fills the txn; returns 0, an MDB code (an errno > 0 or
 * MDB_*), or BODY_FAILED after body_fail() stored a TBW_E* code (message
 * recorded) in e->body_rc. Two channels, each of its own type: an LMDB
 * code is never mistaken for ours, nor ours encoded inside an LMDB one. */
typedef int (*wbody_fn)(jenv *e, MDB_txn *txn, void *ctx);
/* After a successful commit, under wmu. */
typedef void (*wdone_fn)(jenv *e, void *ctx);

/* Not an LMDB code: LMDB's are errnos (> 0) or in [MDB_KEYEXIST, MDB_LAST_ERRCODE]. */
#define BODY_FAILED INT_MIN

/* Inside a body (e->wmu held): hand the TBW_E* code rc back to wtxn(). */
static int body_fail(jenv *e, int rc)
{
	e->body_rc = rc;
	return BODY_FAILED;
}

/* One write transaction under wmu: begin, refresh the caches, reserve
 * disk room, body, commit, done; a full map grows and the whole runs
 * again. No maplock: every resize takes wmu first (section 4 above).
 * extra: bytes the body will add beyond a small transaction (an event
 * record's value), reserved on disk before it runs. nrec: records the
 * body appends (0: it may write nothing, and the caches are reloaded by
 * the next transaction). Inlined into its two
 * callers: wtxn_sized (every body) and append_one (the one-scalar append,
 * where body and done are known and inlined in turn). */
static inline __attribute__((always_inline)) int
wtxn_run(jenv *e, const char *op, wbody_fn body, wdone_fn done, void *ctx, uint64_t extra, size_t nrec)
{
	int rc = 0;

	pthread_mutex_lock(&e->wmu);
	for (int growths = 0;;) {
		MDB_txn *txn;
		rc = mdb_txn_begin(e->env, NULL, 0, &txn);
		if (__builtin_expect(rc != 0, 0)) {
			if (rc == MDB_MAP_RESIZED) {
				if ((rc = adopt_resize(e, op, 1)) != 0)
					goto out;
				if (++growths > MAX_GROWTHS)
					break;
				continue;
			}
			rc = mdb_err(rc, op, e->dir);
			goto out;
		}
		if (__builtin_expect((rc = refresh_caches(e, txn)) != 0, 0) ||
		    __builtin_expect((rc = ensure_room_n(e, op, extra, nrec)) != 0, 0)) {
			mdb_txn_abort(txn);
			goto out;
		}
		rc = body(e, txn, ctx);
		if (__builtin_expect(rc == 0, 1)) {
			size_t id = mdb_txn_id(txn);
			rc = mdb_txn_commit(txn);
			if (__builtin_expect(rc == 0, 1)) {
				/* LMDB commits a transaction that wrote nothing
				 * without using its id: the next one gets the same
				 * id, and one another process commits meanwhile would
				 * pass for ours (refresh_caches), its records unseen
				 * (an append then failed with MDB_KEYEXIST). Only a
				 * transaction that appended records surely wrote. */
				e->last_txnid = id;
				if (nrec == 0)
					e->cache_ok = 0;
				if (done)
					done(e, ctx);
				goto out;
			}
			e->cache_ok = 0;
			if (rc == MDB_MAP_FULL && ++growths <= MAX_GROWTHS) {
				if ((rc = grow_map(e, op)) != 0)
					goto out;
				continue;
			}
			if (rc == EIO && fs_full(e->dir))
				rc = ENOSPC;
			rc = mdb_err(rc, op, e->dir);
			poison(e);
			goto out;
		}
		mdb_txn_abort(txn);
		if (rc == MDB_MAP_FULL && ++growths <= MAX_GROWTHS) {
			if ((rc = grow_map(e, op)) != 0)
				goto out;
			continue;
		}
		if (rc == BODY_FAILED)
			rc = e->body_rc;
		else
			rc = mdb_err(rc, op, e->dir);
		goto out;
	}
	rc = tbw__error_set(TBW_EFULL, op, e->dir, "the map could not be grown enough");
out:
	pthread_mutex_unlock(&e->wmu);
	return rc;
}

static __attribute__((noinline)) int
wtxn_sized(jenv *e, const char *op, wbody_fn body, wdone_fn done, void *ctx, uint64_t extra, size_t nrec)
{
	return wtxn_run(e, op, body, done, ctx, extra, nrec);
}

static int wtxn(jenv *e, const char *op, wbody_fn body, wdone_fn done, void *ctx)
{
	return wtxn_sized(e, op, body, done, ctx, 0, 0);
}

/* ===================================================================
 * 4b. Group commit (ALWAYS)
 *
 * With synced commits (TBW_JSYNC_COMMIT) a commit costs two device
 * flushes (LMDB writes the dirty pages, fdatasync, the meta page,
 * fdatasync) whatever it holds. Appends therefore combine: each caller
 * queues a request (its body, done and context) and takes wmu; a caller
 * that finds its request already carried out by another returns its
 * result; otherwise it is the leader and runs every queued request's body
 * in ONE write transaction, commits it (LMDB's own synced commit, the
 * crash safety unchanged: no record is acknowledged before the commit
 * that holds it returned from its second flush) and hands each request
 * its result. Callers that arrive while a commit syncs queue up and share
 * the next one.
 *
 * All or nothing per caller: a body that fails (an invalid tag, ENOMEM,
 * an LMDB error inside its puts) aborts the transaction, that request
 * gets its own error, and the transaction is rebuilt with the others; a
 * full map grows and the whole group runs again; a failed commit fails
 * every request it held (each gets the error; the environment is
 * poisoned, as for a single commit). A request's done() runs right after
 * its body, so the next body sees its sequence numbers and new tags; an
 * aborted transaction rolls those caches back (next_seq, tags, format).
 * =================================================================== */

typedef struct greq {
	struct greq *next;
	const char *op;
	wbody_fn body;
	wdone_fn done;
	void *ctx;
	uint64_t extra;
	size_t nrec;         /* records appended (each request appends at least one); small when extra is 0 (ensure_room_n) */
	int rc;
	int state;           /* under wmu: 0 to do, 1 in this txn, 2 finished (rc final) */
	int fin;             /* under gmu: finished, the owner may return */
	tbw__errsave err;    /* the message when rc != 0 */
} greq;

/* Finish r with the error just recorded in this thread. */
static void greq_fail(greq *r, int rc)
{
	r->rc = rc;
	r->state = 2;
	tbw__error_save(&r->err);
}

/* Leader, under wmu: carry out the requests of list (linked by next). */
static void group_run(jenv *e, greq *list)
{
	int growths = 0;
	size_t limit = SIZE_MAX;   /* requests per transaction */

	for (;;) {
		greq *r, *failed = NULL;
		MDB_txn *txn;
		uint64_t extra = 0, seq0;
		uint32_t tag0, fmt0;
		size_t take = 0;
		int rc;

		for (r = list; r; r = r->next)
			if (r->state != 2)
				break;
		if (!r)
			return;
		if (atomic_load_explicit(&e->poisoned, memory_order_acquire)) {
			rc = poisoned_err(e, list->op);
			goto fail_all;
		}
		rc = mdb_txn_begin(e->env, NULL, 0, &txn);   /* under wmu: no maplock */
		if (rc == MDB_MAP_RESIZED) {
			if ((rc = adopt_resize(e, list->op, 1)) != 0)
				goto fail_all;
			if (++growths > MAX_GROWTHS)
				goto map_full;
			continue;
		}
		if (rc) {
			rc = mdb_err(rc, list->op, e->dir);
			goto fail_all;
		}
		if ((rc = refresh_caches(e, txn)) != 0)
			goto abort_fail_all;
		/* disk room for what this transaction may write; when the
		 * group's sum does not fit, one request alone (its own verdict) */
		size_t nrec = 0;
		for (r = list; r; r = r->next)
			if (r->state != 2 && take < limit) {
				extra += r->extra;
				nrec += r->nrec;
				take++;
			}
		if ((rc = ensure_room_n(e, list->op, extra, nrec)) != 0) {
			if (take > 1) {
				mdb_txn_abort(txn);
				limit = 1;
				continue;
			}
			goto abort_fail_all;
		}
		seq0 = e->next_seq;
		tag0 = e->tag_end;
		fmt0 = e->format;
		take = 0;
		for (r = list; r; r = r->next) {
			if (r->state == 2)
				continue;
			if (take == limit || !e->cache_ok)
				break;    /* the rest in the next transaction */
			if ((rc = r->body(e, txn, r->ctx)) != 0) {
				failed = r;
				break;
			}
			r->state = 1;
			take++;
			if (r->done)
				r->done(e, r->ctx);
		}
		if (!failed) {
			size_t id = mdb_txn_id(txn);
			rc = mdb_txn_commit(txn);
			if (rc == 0) {
				e->last_txnid = id;
				e->g_commits++;
				e->g_calls += take;
				for (r = list; r; r = r->next)
					if (r->state == 1) {
						r->rc = 0;
						r->state = 2;
					}
				continue;
			}
		} else {
			mdb_txn_abort(txn);
		}
		/* not committed: roll back the caches the done()s moved */
		e->next_seq = seq0;
		tag_truncate(e, tag0);
		e->format = fmt0;
		e->cache_ok = 0;
		if (!failed && rc != MDB_MAP_FULL) {
			/* the commit failed: every request it held fails; poisoned */
			if (rc == EIO && fs_full(e->dir))
				rc = ENOSPC;
			for (r = list; r; r = r->next)
				if (r->state == 1)
					greq_fail(r, mdb_err(rc, r->op, e->dir));
			poison(e);
			continue;
		}
		for (r = list; r; r = r->next)
			if (r->state == 1)
				r->state = 0;
		if (rc == MDB_MAP_FULL) {
			if (++growths > MAX_GROWTHS)
				goto map_full;
			if ((rc = grow_map(e, list->op)) != 0)
				goto fail_all;
			continue;
		}
		/* failed's body failed: it alone gets the error, the others go on */
		greq_fail(failed, rc == BODY_FAILED ? e->body_rc : mdb_err(rc, failed->op, e->dir));
		continue;
	map_full:
		rc = tbw__error_set(TBW_EFULL, list->op, e->dir, "the map could not be grown enough");
		goto fail_all;
	abort_fail_all:
		mdb_txn_abort(txn);
	fail_all:
		for (r = list; r; r = r->next)
			if (r->state != 2)
				greq_fail(r, rc);
		return;
	}
}

/* How long a leader waits for the callers of the previous group to queue
 * again before it starts a commit: a quarter of the last group commit's
 * time, at most 2 ms, and only when the previous group had more than one
 * caller and fewer are queued now (the calls of a group return together
 * and come back together; without the wait the first one back commits
 * alone and the others wait a whole commit for the next). A lone caller
 * never waits. */
#define GROUP_WAIT_MAX_NS 2000000u

/* An append through the group commit (with synced commits) or alone. */
static int wtxn_append(jenv *e, const char *op, wbody_fn body, wdone_fn done, void *ctx,
                       uint64_t extra, size_t nrec)
{
	greq r;

	if (!atomic_load_explicit(&e->nsync_commit, memory_order_relaxed))
		return wtxn_sized(e, op, body, done, ctx, extra, nrec);
	memset(&r, 0, sizeof r);
	r.op = op; r.body = body; r.done = done; r.ctx = ctx; r.extra = extra; r.nrec = nrec;
	pthread_mutex_lock(&e->gmu);
	*e->gtail = &r;
	e->gtail = &r.next;
	e->gqueued++;
	if (e->gwaiting)
		pthread_cond_signal(&e->gcv_lead);
	while (!r.fin) {
		if (e->gleader) {
			pthread_cond_wait(&e->gcv_done, &e->gmu);
			continue;
		}
		/* lead: every request queued so far (ours too) in one commit */
		e->gleader = 1;
		if (e->g_last > 1 && e->gqueued < e->g_last) {
			uint64_t wait = e->g_last_ns / 4 < GROUP_WAIT_MAX_NS ? e->g_last_ns / 4 : GROUP_WAIT_MAX_NS;
			struct timespec dl;
			clock_gettime(CLOCK_MONOTONIC, &dl);
			dl.tv_nsec += (long)wait;
			if (dl.tv_nsec >= 1000000000L) {
				dl.tv_sec++;
				dl.tv_nsec -= 1000000000L;
			}
			e->gwaiting = 1;
			while (e->gqueued < e->g_last &&
			       pthread_cond_timedwait(&e->gcv_lead, &e->gmu, &dl) == 0)
				;
			e->gwaiting = 0;
		}
		greq *list = e->ghead;
		size_t n = e->gqueued;
		e->ghead = NULL;
		e->gtail = &e->ghead;
		e->gqueued = 0;
		pthread_mutex_unlock(&e->gmu);

		uint64_t t0 = tbw__now_ns();
		pthread_mutex_lock(&e->wmu);
		group_run(e, list);
		pthread_mutex_unlock(&e->wmu);
		uint64_t t1 = tbw__now_ns();

		pthread_mutex_lock(&e->gmu);
		for (greq *q = list, *nx; q; q = nx) {
			nx = q->next;   /* q's owner may return once fin is set */
			q->fin = 1;
		}
		e->g_last = n;
		e->g_last_ns = t1 - t0;
		e->gleader = 0;
		pthread_cond_broadcast(&e->gcv_done);
	}
	pthread_mutex_unlock(&e->gmu);
	if (r.rc)
		tbw__error_restore(&r.err);
	return r.rc;
}

/* ===================================================================
 * 5. Open / close / info
 * =================================================================== */

static int meta_put(jenv *e, MDB_txn *txn, const char *key, const void *p, size_t n)
{
	uint8_t buf[4096 + 8];
	MDB_val k = { strlen(key), (void *)key }, v;
	if (n > sizeof buf - 4)
		n = sizeof buf - 4;
	memcpy(buf, p, n);
	tbw__put_be32(buf + n, tbw__jcrc2(key, k.mv_size, buf, n));
	v.mv_size = n + 4;
	v.mv_data = buf;
	return mdb_put(txn, e->d_meta, &k, &v, 0);
}

/* 0 and *p, *n (borrowed from the txn), MDB_NOTFOUND, another MDB code,
 * or META_BAD if the entry fails its checksum. */
#define META_BAD (-1)
static int meta_get(jenv *e, MDB_txn *txn, MDB_dbi dbi, const char *key, const uint8_t **p, size_t *n)
{
	MDB_val k = { strlen(key), (void *)key }, v;
	int rc = mdb_get(txn, dbi, &k, &v);
	(void)e;
	if (rc)
		return rc;
	if (v.mv_size < 4)
		return META_BAD;
	*n = v.mv_size - 4;
	*p = v.mv_data;
	if (tbw__get_be32(*p + *n) != tbw__jcrc2(key, k.mv_size, *p, *n))
		return META_BAD;
	return 0;
}

/* What an open that does not create says of a journal whose first open
 * died before it wrote the run id (see unfinished_creation). */
#define UNFINISHED_MSG "no journal: its creation was cut short (no run id, no record); " \
                       "a writer or tbrecover starts it over"

typedef struct init_ctx {
	const tbw_jopen *cfg;
	int created;
} init_ctx;

/* A journal without a format record: 1 if it holds nothing at all (its
 * first open committed the tables and died before the second transaction,
 * which writes the run id and format: a creation cut short), 0 if it
 * holds something (damage), negative on an LMDB error. */
static int unfinished_creation(jenv *e, MDB_txn *txn)
{
	MDB_dbi d[4] = { e->d_rec, e->d_tags, e->d_meta, e->d_cur };

	for (int i = 0; i < 4; i++) {
		MDB_stat st;
		int rc = mdb_stat(txn, d[i], &st);
		if (rc)
			return -1;
		if (st.ms_entries)
			return 0;
	}
	return 1;
}

static int init_body(jenv *e, MDB_txn *txn, void *vctx)
{
	init_ctx *ctx = vctx;
	const uint8_t *p;
	size_t n;
	int rc = meta_get(e, txn, e->d_meta, "format", &p, &n);
	if (rc == 0) {
		uint32_t f = n == 4 ? tbw__get_be32(p) : 0;
		if (n != 4)
			return body_fail(e, tbw__error_set(TBW_ECORRUPT, "journal open", e->dir, "meta format is damaged"));
		if (f > TBW_JOURNAL_FORMAT)
			return body_fail(e, tbw__error_set(TBW_EVERSION, "journal open", e->dir,
			              "journal format %u is newer than this build reads (%u)", f, TBW_JOURNAL_FORMAT));
		return 0;
	}
	if (rc == META_BAD)
		return body_fail(e, tbw__error_set(TBW_ECORRUPT, "journal open", e->dir, "meta format fails its checksum"));
	if (rc != MDB_NOTFOUND)
		return rc;
	/* A new journal (or one whose creation was cut short: what holds
	 * nothing can start over), made only when asked: never a run id of
	 * chance for a journal another tool merely opened. Anything in it
	 * without a format record is damage, never written over. */
	switch (unfinished_creation(e, txn)) {
	case 1:
		if (ctx->cfg && ctx->cfg->create)
			break;
		return body_fail(e, tbw__error_set(TBW_ENOTFOUND, "journal open", e->dir, UNFINISHED_MSG));
	case 0:
		return body_fail(e, tbw__error_set(TBW_ECORRUPT, "journal open", e->dir,
		                                   "journal has no format record but holds entries"));
	default:
		return body_fail(e, tbw__error_set(TBW_EIO, "journal open", e->dir, "cannot read the tables' sizes"));
	}
	/* Write the run's metadata once. */
	uint8_t b[16];
	char host[256] = "";
	const char *ld = ctx->cfg && ctx->cfg->logdir ? ctx->cfg->logdir : "";
	if (ctx->cfg && ctx->cfg->run_id) {
		memcpy(b, ctx->cfg->run_id, 16);
	} else {
		size_t got = 0;
		while (got < 16) {
			ssize_t r = getrandom(b + got, 16 - got, 0);
			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0)
				return body_fail(e, tbw__error_errno(errno, "journal open: getrandom", e->dir));
			got += (size_t)r;
		}
	}
	if ((rc = meta_put(e, txn, "run_id", b, 16)) != 0)
		return rc;
	tbw__put_be64(b, tbw__f64_bits(tbw__wall_time()));
	if ((rc = meta_put(e, txn, "created", b, 8)) != 0)
		return rc;
	gethostname(host, sizeof host - 1);
	if ((rc = meta_put(e, txn, "host", host, strlen(host))) != 0)
		return rc;
	if ((rc = meta_put(e, txn, "logdir", ld, strlen(ld))) != 0)
		return rc;
	/* Format 1 until the first event record (see upgrade_format). */
	tbw__put_be32(b, TBW_JOURNAL_FORMAT_SCALARS);
	if ((rc = meta_put(e, txn, "format", b, 4)) != 0)
		return rc;
	e->format = TBW_JOURNAL_FORMAT_SCALARS;
	ctx->created = 1;
	return 0;
}

static int read_format(jenv *e)
{
	MDB_txn *txn;
	const uint8_t *p;
	size_t n;
	int rc = rtxn_begin(e, &txn, "journal open");
	if (rc)
		return rc;
	rc = meta_get(e, txn, e->d_meta, "format", &p, &n);
	if (rc == MDB_NOTFOUND)
		rc = unfinished_creation(e, txn) == 1
		         ? tbw__error_set(TBW_ENOTFOUND, "journal open", e->dir, UNFINISHED_MSG)
		         : tbw__error_set(TBW_ECORRUPT, "journal open", e->dir, "journal has no format record");
	else if (rc == META_BAD || (rc == 0 && n != 4))
		rc = tbw__error_set(TBW_ECORRUPT, "journal open", e->dir, "meta format fails its checksum");
	else if (rc)
		rc = mdb_err(rc, "journal open", e->dir);
	else if (tbw__get_be32(p) > TBW_JOURNAL_FORMAT)
		rc = tbw__error_set(TBW_EVERSION, "journal open", e->dir,
		                    "journal format %u is newer than this build reads (%u)",
		                    tbw__get_be32(p), TBW_JOURNAL_FORMAT);
	if (rc == 0) {
		uint32_t next;
		e->format = tbw__get_be32(p);
		rc = load_tags(e, txn, 0, &next);
	}
	rtxn_end(e, txn);
	return rc;
}

static void jenv_free(jenv *e)
{
	if (!e)
		return;
	if (e->env)
		mdb_env_close(e->env);
	for (int r = 0; r < TBW_JROLE_COUNT; r++)
		if (e->role_fd[r] >= 0)
			close(e->role_fd[r]);
	for (uint32_t i = 0; i < e->cap_id; i++)
		tbw__free(e->by_id[i].name);
	tbw__free(e->by_id);
	tbw__strmap_free(&e->byname);
	tbw__free(e->ri_recs);
	tbw__free(e->dir);
	pthread_mutex_destroy(&e->wmu);
	pthread_rwlock_destroy(&e->maplock);
	pthread_mutex_destroy(&e->tagmu);
	pthread_mutex_destroy(&e->rolemu);
	pthread_cond_destroy(&e->rolecv);
	pthread_mutex_destroy(&e->gmu);
	pthread_cond_destroy(&e->gcv_lead);
	pthread_cond_destroy(&e->gcv_done);
	tbw__free(e);
}

static size_t initial_mapsize(void)
{
	const char *s = getenv("TBW_JOURNAL_MAPSIZE");
	if (s && *s) {
		unsigned long long v = strtoull(s, NULL, 0);
		if (v >= 65536)
			return (size_t)v;
	}
	return DEFAULT_MAPSIZE;
}

/* MDB_WRITEMAP for commits without sync (INTERVAL, NEVER): about ten times
 * cheaper a call than LMDB's pwrite() path (bench/bench_add_scalar).
 * TBW_JOURNAL_WRITEMAP=0/1 overrides (benchmarks).
 *
 * With MDB_WRITEMAP, LMDB commits by storing the new meta page straight
 * into the shared map (mdb_env_write_meta): the root pages, then
 * mm_txnid last. Upstream LMDB puts no barrier between them on x86, and
 * Debian's liblmdb 0.9.24 build stores mm_txnid *before* the last 16
 * bytes of the main table's record (md_entries, md_root): a SIGKILL
 * between the two left a meta page claiming the newest txn over the main
 * root of two txns back, losing an acknowledged commit and reusing pages
 * that snapshot still used (tests/test_crash_writer kills a writer at
 * every instruction of a commit and caught exactly that). The LMDB we
 * build (third_party/lmdb, README.tbwal) has a compiler barrier there, so
 * the store order is the one LMDB intends and x86 keeps. ALWAYS needs
 * LMDB's synced commit, which WRITEMAP would turn into an msync of the
 * map; it keeps the pwrite() path. */
static int want_writemap(tbw_jsync sync)
{
	const char *s = getenv("TBW_JOURNAL_WRITEMAP");
	if (s && (*s == '0' || *s == '1'))
		return *s == '1';
	return sync == TBW_JSYNC_NONE;
}

static int jenv_open(jenv **out, const char *dir, const struct stat *st, const tbw_jopen *cfg)
{
	jenv *e = tbw__calloc(1, sizeof *e);
	char *data;
	struct stat dst;
	unsigned flags = MDB_NOTLS;
	int rc, exists, unwritten = 0;

	*out = NULL;
	if (!e)
		return tbw__error_set(TBW_ENOMEM, "journal open", dir, "out of memory");
	for (int r = 0; r < TBW_JROLE_COUNT; r++)
		e->role_fd[r] = -1;
	e->data_fd = -1;
	pthread_mutex_init(&e->wmu, NULL);
	{
		pthread_rwlockattr_t a;
		pthread_rwlockattr_init(&a);
		pthread_rwlockattr_setkind_np(&a, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
		pthread_rwlock_init(&e->maplock, &a);
		pthread_rwlockattr_destroy(&a);
	}
	pthread_mutex_init(&e->tagmu, NULL);
	pthread_mutex_init(&e->rolemu, NULL);
	pthread_cond_init(&e->rolecv, NULL);
	pthread_mutex_init(&e->gmu, NULL);
	{
		pthread_condattr_t ca;
		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_init(&e->gcv_lead, &ca);
		pthread_condattr_destroy(&ca);
	}
	pthread_cond_init(&e->gcv_done, NULL);
	e->gtail = &e->ghead;
	e->dev = st->st_dev;
	e->ino = st->st_ino;
	e->gen = atomic_load(&fork_gen);
	e->dir = tbw__strdup(dir);
	e->read_only = cfg->read_only;
	if (!e->dir) {
		jenv_free(e);
		return tbw__error_set(TBW_ENOMEM, "journal open", dir, "out of memory");
	}
	data = tbw__path_join(dir, "data.mdb");
	if (!data) {
		jenv_free(e);
		return tbw__error_set(TBW_ENOMEM, "journal open", dir, "out of memory");
	}
	exists = stat(data, &dst) == 0;
	tbw__free(data);
	if (!exists && (!cfg->create || cfg->read_only)) {
		jenv_free(e);
		return tbw__error_set(TBW_ENOTFOUND, "journal open", dir, "no journal (data.mdb) here");
	}
	if (exists && (rc = tbw__journal_check_files(dir, &unwritten)) != TBW_OK) {
		jenv_free(e);
		return rc;
	}
	if (exists && unwritten) {
		int dropped;
		if ((rc = tbw__journal_drop_unwritten(dir, cfg->read_only, &dropped)) != TBW_OK) {
			jenv_free(e);
			return rc;
		}
		if (dropped)
			exists = 0;   /* a new journal: LMDB creates it in the empty file */
	}
	if ((rc = mdb_env_create(&e->env)) != 0) {
		e->env = NULL;
		jenv_free(e);
		return mdb_err(rc, "journal open: mdb_env_create", dir);
	}
	mdb_env_set_maxdbs(e->env, 8);
	mdb_env_set_maxreaders(e->env, 256);
	if (!exists)
		mdb_env_set_mapsize(e->env, initial_mapsize());
	if (cfg->read_only) {
		flags |= MDB_RDONLY;
	} else {
		e->writemap = want_writemap(cfg->sync);
		if (e->writemap)
			flags |= MDB_WRITEMAP;
		if (cfg->sync == TBW_JSYNC_NONE)
			flags |= MDB_NOSYNC;
	}
	rc = mdb_env_open(e->env, dir, flags, 0644);
	if (rc) {
		if (rc == MDB_INVALID || rc == MDB_CORRUPTED || rc == MDB_PAGE_NOTFOUND)
			rc = tbw__error_set(TBW_ECORRUPT, "journal open", dir,
			                    "LMDB refuses the environment: %s", mdb_strerror(rc));
		else
			rc = mdb_err(rc, "journal open", dir);
		jenv_free(e);
		return rc;
	}
	{
		int dead = 0;
		mdb_reader_check(e->env, &dead); /* clear slots of dead processes */
	}
	if (!cfg->read_only) {
		MDB_stat mst;
		mdb_filehandle_t fd;
		if (mdb_env_get_fd(e->env, &fd) == 0)
			e->data_fd = fd;
		if (mdb_env_stat(e->env, &mst) == 0)
			e->psize = mst.ms_psize;
		if ((rc = ensure_room(e, "journal open", 0)) != 0) {
			jenv_free(e);
			return rc;
		}
	}
	/* Named databases: create them (RW) or open them (RO). */
	{
		MDB_txn *txn;
		unsigned dbf = cfg->read_only ? 0 : MDB_CREATE;
		rc = mdb_txn_begin(e->env, NULL, cfg->read_only ? MDB_RDONLY : 0, &txn);
		if (rc == MDB_MAP_RESIZED) {
			mdb_env_set_mapsize(e->env, 0);
			rc = mdb_txn_begin(e->env, NULL, cfg->read_only ? MDB_RDONLY : 0, &txn);
		}
		if (rc) {
			rc = mdb_err(rc, "journal open", dir);
			jenv_free(e);
			return rc;
		}
		int empty = 0;
		if ((rc = mdb_dbi_open(txn, "records", dbf, &e->d_rec)) == 0 &&
		    (rc = mdb_dbi_open(txn, "tags", dbf, &e->d_tags)) == 0 &&
		    (rc = mdb_dbi_open(txn, "meta", dbf, &e->d_meta)) == 0 &&
		    (rc = mdb_dbi_open(txn, "cursors", dbf, &e->d_cur)) == 0) {
			rc = mdb_txn_commit(txn);
		} else {
			MDB_stat mst;
			MDB_dbi main_db;
			/* no table at all: a first open died before it made them */
			empty = rc == MDB_NOTFOUND && mdb_dbi_open(txn, NULL, 0, &main_db) == 0 &&
			        mdb_stat(txn, main_db, &mst) == 0 && mst.ms_entries == 0;
			mdb_txn_abort(txn);
		}
		if (rc) {
			if (empty)
				rc = tbw__error_set(TBW_ENOTFOUND, "journal open", dir, UNFINISHED_MSG);
			else if (rc == MDB_NOTFOUND)
				rc = tbw__error_set(TBW_ECORRUPT, "journal open", dir,
				                    "not a tbwal journal (a table is missing)");
			else if (rc == MDB_MAP_FULL)
				rc = tbw__error_set(TBW_EFULL, "journal open", dir, "the map is too small to create the tables");
			else
				rc = mdb_err(rc, "journal open", dir);
			jenv_free(e);
			return rc;
		}
	}
	if (cfg->read_only) {
		rc = read_format(e);
	} else {
		init_ctx ictx = { cfg, 0 };
		rc = wtxn(e, "journal open", init_body, NULL, &ictx);
		if (rc == TBW_OK) {
			/* Mark the creation complete (see journal_was_created);
			 * best effort: the role lock files say it too. */
			char *mark = tbw__path_join(dir, TBW_JOURNAL_CREATED_MARK);
			struct stat ms;
			if (mark && lstat(mark, &ms) != 0) {
				int fd = open(mark, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
				if (fd >= 0)
					close(fd);
			}
			tbw__free(mark);
		}
	}
	if (rc) {
		jenv_free(e);
		return rc;
	}
	*out = e;
	return TBW_OK;
}

int tbw__journal_open(tbw_journal **out, const char *dir, const tbw_jopen *cfg_in)
{
	tbw_jopen defcfg = TBW_JOPEN_INIT;
	const tbw_jopen *cfg = cfg_in ? cfg_in : &defcfg;
	struct stat st;
	tbw_journal *j;
	jenv *e;
	int rc;
	unsigned long gen;

	if (!out)
		return tbw__error_set(TBW_EINVAL, "journal open", dir, "out is NULL");
	*out = NULL;
	if (!dir || !*dir)
		return tbw__error_set(TBW_EINVAL, "journal open", NULL, "no directory given");
	pthread_once(&atfork_once, atfork_install);
	if (cfg->create && !cfg->read_only) {
		if ((rc = tbw__mkdir_p(dir, "journal open: mkdir")) != 0)
			return rc;
	}
	if (stat(dir, &st) != 0)
		return tbw__error_errno(errno, "journal open", dir);
	if (!S_ISDIR(st.st_mode))
		return tbw__error_set(TBW_EINVAL, "journal open", dir, "not a directory");
	j = tbw__calloc(1, sizeof *j);
	if (!j)
		return tbw__error_set(TBW_ENOMEM, "journal open", dir, "out of memory");
	j->read_only = cfg->read_only;
	j->sync = cfg->sync;

	pthread_mutex_lock(&reg_mu);
	gen = atomic_load(&fork_gen);
	for (e = reg_head; e; e = e->next)
		if (e->dev == st.st_dev && e->ino == st.st_ino && e->gen == gen)
			break;
	if (e && e->read_only && !cfg->read_only) {
		pthread_mutex_unlock(&reg_mu);
		tbw__free(j);
		return tbw__error_set(TBW_EBUSY, "journal open", dir,
		                      "this process already has the journal open read-only; close it first");
	}
	if (!e) {
		rc = jenv_open(&e, dir, &st, cfg);
		if (rc) {
			pthread_mutex_unlock(&reg_mu);
			tbw__free(j);
			return rc;
		}
		e->next = reg_head;
		reg_head = e;
	}
	e->refs++;
	if (!cfg->read_only && cfg->sync == TBW_JSYNC_COMMIT) {
		if (e->nsync_commit++ == 0)
			mdb_env_set_flags(e->env, MDB_NOSYNC, 0);
	}
	pthread_mutex_unlock(&reg_mu);
	j->e = e;
	j->gen = e->gen;
	*out = j;
	return TBW_OK;
}

void tbw__journal_close(tbw_journal *j)
{
	jenv *e;
	if (!j)
		return;
	e = j->e;
	if (j->gen != atomic_load(&fork_gen)) {
		/* A child closing the parent's handle: touch nothing of LMDB
		 * (mdb_env_close would clear the parent's reader slots). */
		tbw__free(j);
		return;
	}
	for (int r = 0; r < TBW_JROLE_COUNT; r++)
		if (j->held[r])
			tbw__journal_unlock(j, (tbw_jrole)r);
	pthread_mutex_lock(&reg_mu);
	if (!j->read_only && j->sync == TBW_JSYNC_COMMIT && --e->nsync_commit == 0 && !e->read_only)
		mdb_env_set_flags(e->env, MDB_NOSYNC, 1);
	if (--e->refs == 0) {
		jenv **pp;
		for (pp = &reg_head; *pp; pp = &(*pp)->next)
			if (*pp == e) {
				*pp = e->next;
				break;
			}
		/* A normal close syncs what INTERVAL/NEVER left in the page cache
		 * only if asked (tbw__journal_sync); LMDB keeps it consistent. */
		jenv_free(e);
	}
	pthread_mutex_unlock(&reg_mu);
	tbw__free(j);
}

int tbw__journal_forked(const tbw_journal *j)
{
	return j && j->gen != atomic_load_explicit(&fork_gen, memory_order_relaxed);
}

const char *tbw__journal_dir(const tbw_journal *j)
{
	return j ? j->e->dir : "";
}

int tbw__journal_info(tbw_journal *j, tbw_jinfo *out)
{
	MDB_txn *txn;
	const uint8_t *p;
	size_t n;
	int rc = check_handle(j, "journal info");
	jenv *e;

	if (rc)
		return rc;
	e = j->e;
	memset(out, 0, sizeof *out);
	if ((rc = rtxn_begin(e, &txn, "journal info")) != 0)
		return rc;
	rc = meta_get(e, txn, e->d_meta, "run_id", &p, &n);
	if (rc || n != 16) {
		rc = tbw__error_set(TBW_ECORRUPT, "journal info", e->dir, "run id missing or damaged");
		goto out;
	}
	memcpy(out->run_id, p, 16);
	tbw__runid_hex(out->run_id_hex, out->run_id);
	if (meta_get(e, txn, e->d_meta, "created", &p, &n) == 0 && n == 8)
		out->created = tbw__bits_f64(tbw__get_be64(p));
	if (meta_get(e, txn, e->d_meta, "host", &p, &n) == 0) {
		if (n >= sizeof out->host)
			n = sizeof out->host - 1;
		memcpy(out->host, p, n);
	}
	if (meta_get(e, txn, e->d_meta, "logdir", &p, &n) == 0) {
		if (n >= sizeof out->logdir)
			n = sizeof out->logdir - 1;
		memcpy(out->logdir, p, n);
	}
	if (meta_get(e, txn, e->d_meta, "format", &p, &n) == 0 && n == 4)
		out->format = tbw__get_be32(p);
	rc = TBW_OK;
out:
	rtxn_end(e, txn);
	return rc;
}

int tbw__journal_file_size(tbw_journal *j, uint64_t *out)
{
	MDB_envinfo info;
	MDB_stat st;
	int rc = check_handle(j, "journal file size");
	if (rc)
		return rc;
	/* Pages in use up to the high-water mark: the part of data.mdb that
	 * holds data (with MDB_WRITEMAP the file itself is as large as the map,
	 * sparse). */
	mdb_env_info(j->e->env, &info);
	mdb_env_stat(j->e->env, &st);
	*out = ((uint64_t)info.me_last_pgno + 1) * st.ms_psize;
	return TBW_OK;
}

/* ===================================================================
 * 6. Roles
 * =================================================================== */

static char *role_path(const char *dir, tbw_jrole role)
{
	char name[32];
	snprintf(name, sizeof name, "%s.lock", role_names[role]);
	return tbw__path_join(dir, name);
}

int tbw__journal_lock(tbw_journal *j, tbw_jrole role, int wait)
{
	int rc = check_handle(j, "journal lock");
	jenv *e;
	char *path;
	int fd;

	if (rc)
		return rc;
	if ((unsigned)role >= TBW_JROLE_COUNT)
		return tbw__error_set(TBW_EINVAL, "journal lock", j->e->dir, "unknown role %d", (int)role);
	e = j->e;
	if (j->held[role] && role == TBW_JROLE_WRITER)
		return TBW_OK;
	if (j->held[role])   /* an exclusive role taken twice through one handle */
		return tbw__error_set(TBW_EBUSY, "journal lock", e->dir,
		                      "this handle already holds the %s role of this journal", role_names[role]);
	pthread_mutex_lock(&e->rolemu);
	/* Within this process: the writer role is shared by the handles of one
	 * environment (the writer's shared core, and tools that append while
	 * holding it); exporter, shipper and recovery are exclusive here too,
	 * as across processes, so there is never a second one of each. */
	while (role != TBW_JROLE_WRITER && e->role_refs[role] > 0) {
		if (!wait) {
			pthread_mutex_unlock(&e->rolemu);
			return tbw__error_set(TBW_EBUSY, "journal lock", e->dir,
			                      "this process already holds the %s role of this journal "
			                      "(there is never more than one)", role_names[role]);
		}
		pthread_cond_wait(&e->rolecv, &e->rolemu);
	}
	if (e->role_refs[role] > 0) {
		e->role_refs[role]++;
		j->held[role] = 1;
		pthread_mutex_unlock(&e->rolemu);
		return TBW_OK;
	}
	path = role_path(e->dir, role);
	if (!path) {
		pthread_mutex_unlock(&e->rolemu);
		return tbw__error_set(TBW_ENOMEM, "journal lock", e->dir, "out of memory");
	}
	rc = tbw__open(&fd, path, O_RDWR | O_CREAT, 0644, "journal lock");
	if (rc == 0) {
		while (flock(fd, LOCK_EX | (wait ? 0 : LOCK_NB)) < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EWOULDBLOCK)
				rc = tbw__error_set(TBW_EBUSY, "journal lock", path,
				                    "another process holds the %s role of this journal",
				                    role_names[role]);
			else
				rc = tbw__error_errno(errno, "journal lock: flock", path);
			close(fd);
			break;
		}
	}
	if (rc == 0) {
		e->role_fd[role] = fd;
		e->role_refs[role] = 1;
		j->held[role] = 1;
	}
	pthread_mutex_unlock(&e->rolemu);
	tbw__free(path);
	return rc;
}

void tbw__journal_unlock(tbw_journal *j, tbw_jrole role)
{
	jenv *e;
	if (!j || (unsigned)role >= TBW_JROLE_COUNT || !j->held[role])
		return;
	if (j->gen != atomic_load(&fork_gen))
		return;
	e = j->e;
	pthread_mutex_lock(&e->rolemu);
	j->held[role] = 0;
	if (--e->role_refs[role] == 0) {
		close(e->role_fd[role]); /* releases the flock */
		e->role_fd[role] = -1;
		pthread_cond_broadcast(&e->rolecv);
	}
	pthread_mutex_unlock(&e->rolemu);
}

int tbw__journal_role_busy(const char *dir, tbw_jrole role)
{
	struct stat st;
	char *path;
	int fd, rc;

	if ((unsigned)role >= TBW_JROLE_COUNT)
		return tbw__error_set(TBW_EINVAL, "journal role probe", dir, "unknown role %d", (int)role);
	if (stat(dir, &st) != 0)
		return tbw__error_errno(errno, "journal role probe", dir);
	/* Held by this process: then no other process holds it. */
	pthread_mutex_lock(&reg_mu);
	for (jenv *e = reg_head; e; e = e->next)
		if (e->dev == st.st_dev && e->ino == st.st_ino && e->gen == atomic_load(&fork_gen) &&
		    e->role_refs[role] > 0) {
			pthread_mutex_unlock(&reg_mu);
			return 0;
		}
	pthread_mutex_unlock(&reg_mu);
	path = role_path(dir, role);
	if (!path)
		return tbw__error_set(TBW_ENOMEM, "journal role probe", dir, "out of memory");
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		rc = errno == ENOENT ? 0 : tbw__error_errno(errno, "journal role probe", path);
		tbw__free(path);
		return rc;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
		flock(fd, LOCK_UN);
		rc = 0;
	} else {
		rc = errno == EWOULDBLOCK ? 1 : tbw__error_errno(errno, "journal role probe", path);
	}
	close(fd);
	tbw__free(path);
	return rc;
}

/* ===================================================================
 * 7. Writing
 * =================================================================== */

int tbw__journal_check_tag(const char *tag, size_t len, const char *op)
{
	char why[128];

	if (tbw__tagname_check(tag, len, why, sizeof why) != 0)
		return tbw__error_set(TBW_EINVAL, op, NULL, "%s", why);
	return TBW_OK;
}

/* Intern tag inside a write txn: id (fresh, when new), adding a tags row if
 * new (the in-memory entry is added by the caller after the commit). Name ->
 * id lookups use the in-memory table loaded from `tags`; no on-disk index
 * (journals written before may hold an unused `tagids` table). */
static int intern_lookup(jenv *e, MDB_txn *txn, const char *tag, size_t len, uint32_t fresh,
                         uint32_t *id, int *isnew, unsigned slot, const char *op);

/* Callers log a few tags over and over from the same strings: a memo
 * keyed by the caller's pointer skips the name map (a hash of the name);
 * the name is still compared. */
static inline unsigned memo_slot(const char *tag)
{
	/* 256 slots: the 8-odd tags of a training step rarely share one */
	return (unsigned)(((uint64_t)(uintptr_t)tag * 0x9E3779B97F4A7C15ull) >> 56);
}

/* a and b hold len bytes each: equal? Tags are mostly short: 8-byte
 * (or 4-byte) loads from both ends, no call, for up to 16 bytes. */
static inline int name_eq(const char *a, const char *b, size_t len)
{
	uint64_t x, y, x2, y2;
	uint32_t u, v, u2, v2;

	if (len >= 8 && len <= 16) {
		memcpy(&x, a, 8); memcpy(&y, b, 8);
		memcpy(&x2, a + len - 8, 8); memcpy(&y2, b + len - 8, 8);
		return ((x ^ y) | (x2 ^ y2)) == 0;
	}
	if (len >= 4 && len < 8) {
		memcpy(&u, a, 4); memcpy(&v, b, 4);
		memcpy(&u2, a + len - 4, 4); memcpy(&v2, b + len - 4, 4);
		return ((u ^ v) | (u2 ^ v2)) == 0;
	}
	return memcmp(a, b, len) == 0;
}

static inline int intern_in_txn(jenv *e, MDB_txn *txn, const char *tag, size_t len, uint32_t fresh,
                                uint32_t *id, int *isnew, const char *op)
{
	unsigned slot = memo_slot(tag);
	uint32_t found = e->memo[slot].id;

	*isnew = 0;
	if (e->memo[slot].p == tag && found < e->cap_id && e->by_id[found].len == len &&
	    name_eq(e->by_id[found].name, tag, len)) {
		*id = found;
		return 0;
	}
	return intern_lookup(e, txn, tag, len, fresh, id, isnew, slot, op);
}

/* A new tag's row in the tags table: id -> name + CRC. id is past every
 * id in the table (tag_end), so the row goes last: MDB_APPEND skips the
 * search and fills pages instead of splitting them in halves. A table
 * whose last key is not a plain id (damage) refuses the append: then an
 * ordinary put. MDB_RESERVE: the row is written in LMDB's page, no buffer
 * of ours. */
static int put_tag_row(jenv *e, MDB_txn *txn, uint32_t id, const char *tag, size_t len)
{
	uint8_t ib[4], *vb;
	MDB_val k, v;
	int rc;

	tbw__put_be32(ib, id);
	k.mv_data = ib; k.mv_size = 4;
	v.mv_size = len + 4;
	rc = mdb_put(txn, e->d_tags, &k, &v, MDB_APPEND | MDB_RESERVE);
	if (rc == MDB_KEYEXIST) {
		v.mv_size = len + 4;
		rc = mdb_put(txn, e->d_tags, &k, &v, MDB_NOOVERWRITE | MDB_RESERVE);
	}
	if (rc)
		return rc;
	vb = v.mv_data;
	memcpy(vb, tag, len);
	tbw__put_be32(vb + len, tbw__jcrc2(ib, 4, tag, len));
	return 0;
}

/* intern_in_txn past the memo: the name map, else a new tag. */
static int intern_lookup(jenv *e, MDB_txn *txn, const char *tag, size_t len, uint32_t fresh,
                         uint32_t *id, int *isnew, unsigned slot, const char *op)
{
	uint32_t found;
	int rc;

	found = tag_lookup(e, tag, len);
	if (found != UINT32_MAX) {
		e->memo[slot].p = tag;
		e->memo[slot].id = found;
		*id = found;
		return 0;
	}
	/* Only valid tags are ever interned, so a hit needs no validation. */
	if ((rc = tbw__journal_check_tag(tag, len, op)) != 0)
		return body_fail(e, rc);
	*id = fresh;
	*isnew = 1;
	return put_tag_row(e, txn, fresh, tag, len);
}

/* Inside a write txn that stores the first record of a kind an older
 * format lacks (an event record: 2, a step record: 3): make the journal's
 * format at least `want` first (older builds then refuse it rather than
 * skip those records as damage). The cache is updated by the caller after
 * the commit. */
static int upgrade_format(jenv *e, MDB_txn *txn, uint32_t want)
{
	const uint8_t *p;
	size_t n;
	uint8_t b[4];

	if (e->format >= want)
		return 0;
	/* this process's copy may be older than the journal (another process
	 * wrote a step record since): never lower the format */
	if (meta_get(e, txn, e->d_meta, "format", &p, &n) == 0 && n == 4 && tbw__get_be32(p) >= want)
		return 0;
	tbw__put_be32(b, want);
	return meta_put(e, txn, "format", b, 4);
}

typedef struct append_ctx {
	const char *op;    /* the call, for the message of a bad new tag */
	const char *tag;
	size_t len;
	uint32_t tag_id;   /* fixed id (START) or UINT32_MAX to intern */
	int isnew;
	double value, wall;
	int64_t step;
	uint64_t seq;
} append_ctx;

static inline __attribute__((always_inline)) int append_body(jenv *e, MDB_txn *txn, void *vctx)
{
	append_ctx *a = vctx;
	uint8_t kb[8], vb[32];
	MDB_val k = { 8, kb }, v = { 32, vb };
	int rc;

	a->isnew = 0;
	if (a->tag) {
		if ((rc = intern_in_txn(e, txn, a->tag, a->len, next_tag_id(e), &a->tag_id, &a->isnew, a->op)) != 0)
			return rc;
	}
	a->seq = e->next_seq;
	tbw__jrec_encode(kb, vb, a->seq, a->wall, a->step, a->value, a->tag_id);
	return mdb_put(txn, e->d_rec, &k, &v, MDB_APPEND);
}

static inline __attribute__((always_inline)) void append_done(jenv *e, void *vctx)
{
	append_ctx *a = vctx;
	e->next_seq = a->seq + 1;
	if (a->isnew && tag_add(e, a->tag_id, a->tag, a->len) != 0)
		e->cache_ok = 0; /* reload tags from the table next time */
}

/* One scalar (or START marker) in its own transaction: wtxn_run inlined
 * with append_body and append_done when commits are not synced (the hot
 * path of tbw_add_scalar), else the group commit. */
static int append_one(jenv *e, const char *op, append_ctx *a)
{
	if (!atomic_load_explicit(&e->nsync_commit, memory_order_relaxed))
		return wtxn_run(e, op, append_body, append_done, a, 0, 1);
	return wtxn_append(e, op, append_body, append_done, a, 0, 1);
}

int tbw__journal_append(tbw_journal *j, const char *tag, size_t tag_len,
                        double value, int64_t step, double wall_time,
                        uint64_t *seq_out)
{
	append_ctx a;
	int rc = check_writable(j, "add_scalar");
	if (rc)
		return rc;
	if (!tag || tag_len == 0 || tag_len > TBW_TAG_MAX)
		return tbw__journal_check_tag(tag, tag_len, "add_scalar");
	a.op = "add_scalar"; a.tag = tag; a.len = tag_len; a.tag_id = UINT32_MAX;
	a.value = value; a.wall = wall_time; a.step = step; a.seq = 0;
	rc = append_one(j->e, "add_scalar", &a);
	if (rc == 0 && seq_out)
		*seq_out = a.seq;
	return rc;
}

typedef struct append_many_ctx {
	size_t n;
	const char *const *tags;
	const size_t *lens;
	const double *values;
	double wall;
	int64_t step;
	uint32_t *ids;      /* per record */
	uint8_t *isnew;     /* per record: first use of a tag new in this txn */
	uint64_t seq;       /* of the first record */
} append_many_ctx;

static int append_many_body(jenv *e, MDB_txn *txn, void *vctx)
{
	append_many_ctx *a = vctx;
	uint32_t fresh = next_tag_id(e);
	size_t nnew = 0;
	int rc;

	a->seq = e->next_seq;
	for (size_t i = 0; i < a->n; i++) {
		int isnew = 0;
		uint32_t id = UINT32_MAX;

		a->isnew[i] = 0;
		/* a tag new in this txn is not in memory yet: look among earlier ones */
		for (size_t t = 0; nnew && t < i; t++)
			if (a->isnew[t] && a->lens[t] == a->lens[i] &&
			    memcmp(a->tags[t], a->tags[i], a->lens[i]) == 0) {
				id = a->ids[t];
				break;
			}
		if (id == UINT32_MAX) {
			/* a new tag is validated here (a known one was when it
			 * was new); a bad one fails the body: the transaction is
			 * aborted, nothing written */
			if ((rc = intern_in_txn(e, txn, a->tags[i], a->lens[i], fresh, &id, &isnew, "add_scalars")) != 0)
				return rc;
			if (isnew) {
				fresh++;
				nnew++;
				a->isnew[i] = 1;
			}
		}
		a->ids[i] = id;
	}
	/* the n scalars as step records of up to TBW_JSTEP_MAX each, one
	 * LMDB entry apiece (a lone last scalar as a scalar record): one put
	 * per step instead of one per scalar, 12 bytes a scalar instead of 40 */
	if ((rc = upgrade_format(e, txn, TBW_JOURNAL_FORMAT_STEPS)) != 0)
		return rc;
	for (size_t i = 0; i < a->n;) {
		size_t m = a->n - i < TBW_JSTEP_MAX ? a->n - i : TBW_JSTEP_MAX;
		uint8_t kb[8], vb[32];
		MDB_val k = { 8, kb }, v;

		if (m == 1) {
			tbw__jrec_encode(kb, vb, a->seq + i, a->wall, a->step, a->values[i], a->ids[i]);
			v.mv_size = 32;
			v.mv_data = vb;
			if ((rc = mdb_put(txn, e->d_rec, &k, &v, MDB_APPEND)) != 0)
				return rc;
		} else {
			tbw__put_be64(kb, a->seq + i);
			v.mv_size = TBW_JSTEP_SIZE(m);
			v.mv_data = NULL;
			if ((rc = mdb_put(txn, e->d_rec, &k, &v, MDB_APPEND | MDB_RESERVE)) != 0)
				return rc;
			tbw__jstep_encode(kb, v.mv_data, a->wall, a->step, m, a->ids + i, a->values + i);
		}
		i += m;
	}
	return 0;
}

static void append_many_done(jenv *e, void *vctx)
{
	append_many_ctx *a = vctx;
	if (e->format < TBW_JOURNAL_FORMAT_STEPS)
		e->format = TBW_JOURNAL_FORMAT_STEPS;
	e->next_seq = a->seq + a->n;
	for (size_t i = 0; i < a->n; i++)
		if (a->isnew[i] && tag_add(e, a->ids[i], a->tags[i], a->lens[i]) != 0)
			e->cache_ok = 0; /* reload tags from the table next time */
}

int tbw__journal_append_many(tbw_journal *j, size_t n, const char *const *tags,
                             const size_t *lens, const double *values, int64_t step,
                             double wall_time, uint64_t *first_seq_out)
{
	append_many_ctx a;
	uint32_t ids_small[16];
	uint8_t new_small[16];
	int rc = check_writable(j, "add_scalars");
	if (rc)
		return rc;
	if (n == 0)
		return TBW_OK;
	if (n == 1) {   /* one scalar: the path of tbw__journal_append */
		if (!tags[0] || lens[0] == 0 || lens[0] > TBW_TAG_MAX)
			return tbw__journal_check_tag(tags[0], lens[0], "add_scalars");
		append_ctx one;
		one.op = "add_scalars"; one.tag = tags[0]; one.len = lens[0]; one.tag_id = UINT32_MAX;
		one.value = values[0]; one.wall = wall_time; one.step = step; one.seq = 0;
		rc = append_one(j->e, "add_scalars", &one);
		if (rc == 0 && first_seq_out)
			*first_seq_out = one.seq;
		return rc;
	}
	/* all or nothing: a tag new to the journal is validated inside the
	 * transaction (intern_in_txn), whose abort then writes nothing; the
	 * ones that cannot be a name are refused here */
	for (size_t i = 0; i < n; i++)
		if (!tags[i] || lens[i] == 0 || lens[i] > TBW_TAG_MAX)
			return tbw__journal_check_tag(tags[i], lens[i], "add_scalars");
	a.n = n; a.tags = tags; a.lens = lens; a.values = values;
	a.wall = wall_time; a.step = step; a.seq = 0;
	if (n <= 16) {
		a.ids = ids_small;
		a.isnew = new_small;
	} else {
		a.ids = tbw__malloc(n * sizeof *a.ids);
		a.isnew = tbw__malloc(n);
		if (!a.ids || !a.isnew) {
			tbw__free(a.ids);
			tbw__free(a.isnew);
			return tbw__error_set(TBW_ENOMEM, "add_scalars", j->e->dir, "out of memory");
		}
	}
	rc = wtxn_append(j->e, "add_scalars", append_many_body, append_many_done, &a, 0, n);
	if (rc == 0 && first_seq_out)
		*first_seq_out = a.seq;
	if (n > 16) {
		tbw__free(a.ids);
		tbw__free(a.isnew);
	}
	return rc;
}

int tbw__journal_append_start(tbw_journal *j, int64_t step, double wall_time,
                              uint64_t *seq_out)
{
	append_ctx a;
	int rc = check_writable(j, "append start marker");
	if (rc)
		return rc;
	a.op = "append start marker"; a.tag = NULL; a.len = 0; a.tag_id = TBW_JTAG_SESSION_START;
	a.value = 0; a.wall = wall_time; a.step = step; a.seq = 0;
	rc = append_one(j->e, "append start marker", &a);
	if (rc == 0 && seq_out)
		*seq_out = a.seq;
	return rc;
}

/* Store an event record's value (32 + body_len bytes) under key, written in
 * place in LMDB's page (MDB_RESERVE: no copy of the body on our side). */
static int put_event(jenv *e, MDB_txn *txn, const uint8_t key[8], double wall, int64_t step,
                     uint32_t tag_id, const void *body, size_t body_len, unsigned flags)
{
	MDB_val k = { 8, (void *)key }, v = { TBW_JREC_VAL_SIZE + body_len, NULL };
	int rc = mdb_put(txn, e->d_rec, &k, &v, flags | MDB_RESERVE);

	if (rc)
		return rc;
	memcpy((uint8_t *)v.mv_data + TBW_JEV_HDR, body, body_len);
	tbw__jevent_encode(key, v.mv_data, wall, step, tag_id, body_len);
	return 0;
}

typedef struct event_ctx {
	append_ctx a;
	const void *body;
	size_t body_len;
} event_ctx;

static int event_body(jenv *e, MDB_txn *txn, void *vctx)
{
	event_ctx *x = vctx;
	uint8_t kb[8];
	int rc;

	x->a.isnew = 0;
	if (x->a.tag && (rc = intern_in_txn(e, txn, x->a.tag, x->a.len, next_tag_id(e), &x->a.tag_id, &x->a.isnew, x->a.op)) != 0)
		return rc;
	if ((rc = upgrade_format(e, txn, TBW_JOURNAL_FORMAT_EVENTS)) != 0)
		return rc;
	x->a.seq = e->next_seq;
	tbw__put_be64(kb, x->a.seq);
	return put_event(e, txn, kb, x->a.wall, x->a.step, x->a.tag_id, x->body, x->body_len, MDB_APPEND);
}

static void event_done(jenv *e, void *vctx)
{
	if (e->format < TBW_JOURNAL_FORMAT_EVENTS)
		e->format = TBW_JOURNAL_FORMAT_EVENTS;
	append_done(e, &((event_ctx *)vctx)->a);
}

int tbw__journal_append_event(tbw_journal *j, const char *tag, size_t tag_len,
                              int64_t step, double wall_time,
                              const void *body, size_t body_len, uint64_t *seq_out)
{
	event_ctx x;
	int rc = check_writable(j, "add_event");
	if (rc)
		return rc;
	if (tag && (tag_len == 0 || tag_len > TBW_TAG_MAX))
		return tbw__journal_check_tag(tag, tag_len, "add_event");
	if (!body || body_len == 0 || body_len > TBW_JOURNAL_BODY_MAX)
		return tbw__error_set(TBW_EINVAL, "add_event", j->e->dir,
		                      "event body of %zu bytes: it must hold 1 to %zu bytes", body_len,
		                      (size_t)TBW_JOURNAL_BODY_MAX);
	memset(&x, 0, sizeof x);
	x.a.op = "add_event"; x.a.tag = tag; x.a.len = tag ? tag_len : 0;
	x.a.tag_id = tag ? UINT32_MAX : TBW_JTAG_NONE;
	x.a.wall = wall_time; x.a.step = step;
	x.body = body; x.body_len = body_len;
	rc = wtxn_append(j->e, "add_event", event_body, event_done, &x, body_len + TBW_JREC_VAL_SIZE + 4096, 1);
	if (rc == 0 && seq_out)
		*seq_out = x.a.seq;
	return rc;
}

typedef struct insert_ctx {
	const tbw_jrec_named *recs;
	size_t n, ninserted;
	uint32_t *new_ids;      /* tags interned in this txn, added after commit */
	const tbw_jrec_named **new_src;
	size_t nnew;
	tbw_strmap new_index;   /* tag name -> index in new_ids (keys: the records') */
	uint64_t max_seq;
	int upgraded;           /* an event record made the journal format 2 */
	uint64_t bytes;         /* event bodies in the batch (disk reserved for them) */
	int upgraded_runs;      /* a run record made the journal format 4 */
	int ri_fill;            /* every record so far appended, a scalar, kept in e->ri_recs */
	uint64_t ri_base;
	size_t txnid;
} insert_ctx;

/* Tag ids of the batch's tag pointers, by pointer: restored records point
 * into their segment's one tag table, so a segment's few tags hit here
 * instead of hashing each record's name. */
#define TAG_MEMO 16
/* The most records of one insert kept for reading back (e->ri_recs):
 * a restore's batch (TBW_SYNC_BATCH), 40 bytes each. */
#define RI_MAX 65536
typedef struct tag_memo {
	const char *tag;
	size_t len;
	uint32_t id;
} tag_memo;

static int insert_loop(jenv *e, MDB_txn *txn, insert_ctx *c, MDB_cursor *cur, uint64_t top,
                       tag_memo *memo);

static int insert_body(jenv *e, MDB_txn *txn, void *vctx)
{
	insert_ctx *c = vctx;
	int rc;

	uint64_t top = 0;   /* highest key stored: above it, no lookup and MDB_APPEND */

	tag_memo memo[TAG_MEMO];
	MDB_cursor *cur;

	c->ninserted = 0;
	c->nnew = 0;
	c->max_seq = 0;
	c->upgraded = 0;
	c->upgraded_runs = 0;
	c->txnid = mdb_txn_id(txn);
	memset(memo, 0, sizeof memo);
	e->ri_valid = 0;
	e->ri_n = 0;
	c->ri_fill = c->n <= RI_MAX;
	if (c->ri_fill && e->ri_cap < c->n) {
		tbw_jrec *a = tbw__realloc(e->ri_recs, c->n * sizeof *a);
		if (a) {
			e->ri_recs = a;
			e->ri_cap = c->n;
		} else {
			c->ri_fill = 0;   /* an optimisation only: reads go to LMDB */
		}
	}
	tbw__strmap_clear(&c->new_index);
	{
		MDB_val lk, lv;
		if ((rc = mdb_cursor_open(txn, e->d_rec, &cur)) != 0)
			return rc;
		rc = mdb_cursor_get(cur, &lk, &lv, MDB_LAST);
		if (rc == 0 && lk.mv_size == 8)
			top = entry_last_seq(&lk, &lv);
		c->ri_base = top;
		if (rc != 0 && rc != MDB_NOTFOUND) {
			mdb_cursor_close(cur);
			return rc;
		}
	}
	/* Scalar records go in through the one cursor, which also finds
	 * what is already stored below top (seek_seq). */
	rc = insert_loop(e, txn, c, cur, top, memo);
	mdb_cursor_close(cur);
	return rc;
}

/* The tag id of restored record r (TBW_JTAG_SESSION_START when it names
 * none), interning its tag in this txn when the journal lacks it. */
static int insert_tag(jenv *e, MDB_txn *txn, insert_ctx *c, const tbw_jrec_named *r, tag_memo *memo,
                      uint32_t *out)
{
	uint32_t id = TBW_JTAG_SESSION_START;
	int rc;
	tag_memo *m = &memo[(uint64_t)(uintptr_t)r->tag * 0x9E3779B97F4A7C15ull >> 60];   /* 16 slots */

	if (r->tag && r->tag == m->tag && r->tag_len == m->len) {
		id = m->id;
	} else if (r->tag) {
		/* a tag new in this txn is not in memory yet: look among them */
		uint32_t found = UINT32_MAX, idx;
		if (c->nnew && tbw__strmap_find(&c->new_index, r->tag, r->tag_len, &idx))
			found = c->new_ids[idx];
		if (found != UINT32_MAX) {
			id = found;
		} else {
			/* next id must skip the ones taken in this txn */
			uint32_t base = next_tag_id(e);
			if (c->nnew)
				base = c->new_ids[c->nnew - 1] + 1 > base ? c->new_ids[c->nnew - 1] + 1 : base;
			found = tag_lookup(e, r->tag, r->tag_len);
			if (found != UINT32_MAX) {
				id = found;
			} else {
				if ((rc = tbw__journal_check_tag(r->tag, r->tag_len, "journal insert")) != 0)
					return body_fail(e, rc);
				id = base;
				if ((rc = put_tag_row(e, txn, id, r->tag, r->tag_len)) != 0)
					return rc;
				if (tbw__strmap_put(&c->new_index, r->tag, r->tag_len, (uint32_t)c->nnew) != 0)
					return body_fail(e, tbw__error_set(TBW_ENOMEM, "journal insert", e->dir, "out of memory"));
				c->new_ids[c->nnew] = id;
				c->new_src[c->nnew] = r;
				c->nnew++;
			}
		}
		m->tag = r->tag;
		m->len = r->tag_len;
		m->id = id;
	}
	*out = id;
	return 0;
}

/* Keep an appended scalar as tbw__journal_read would return it (section
 * 8, "Reading your own insert"). */
static void ri_keep(jenv *e, uint64_t seq, double wall, int64_t step, double value, uint32_t id)
{
	tbw_jrec *o = &e->ri_recs[e->ri_n++];
	o->seq = seq;
	o->wall_time = wall;
	o->step = step;
	o->value = value;
	o->tag_id = id;
	o->body_len = 0;
}

/* Records from i on that can go into one run record: consecutive
 * sequence numbers from recs[i].seq, all above top (appended), all
 * scalars (a START included); at most TBW_JRUN_MAX. */
static size_t run_length(const insert_ctx *c, size_t i, uint64_t top)
{
	size_t m = 0;

	if (c->recs[i].seq <= top)
		return 0;
	while (m < TBW_JRUN_MAX && i + m < c->n && !c->recs[i + m].body_len &&
	       c->recs[i + m].seq == c->recs[i].seq + m)
		m++;
	return m;
}

/* Append recs[i .. i + m) (run_length) as one run record. */
static int insert_run(jenv *e, MDB_txn *txn, insert_ctx *c, MDB_cursor *cur, size_t i, size_t m,
                      tag_memo *memo)
{
	uint8_t kb[8], vb[TBW_JRUN_SIZE(TBW_JRUN_MAX)];
	uint32_t ids[TBW_JRUN_MAX];
	double values[TBW_JRUN_MAX], walls[TBW_JRUN_MAX];
	int64_t steps[TBW_JRUN_MAX];
	MDB_val k = { 8, kb }, v = { TBW_JRUN_SIZE(m), vb };
	int rc;

	for (size_t t = 0; t < m; t++) {
		const tbw_jrec_named *r = &c->recs[i + t];
		if ((rc = insert_tag(e, txn, c, r, memo, &ids[t])) != 0)
			return rc;
		values[t] = r->value;
		walls[t] = r->wall_time;
		steps[t] = r->step;
	}
	if ((rc = upgrade_format(e, txn, TBW_JOURNAL_FORMAT_RUNS)) != 0)
		return rc;
	c->upgraded_runs = 1;
	tbw__put_be64(kb, c->recs[i].seq);
	tbw__jrun_encode(kb, vb, m, ids, values, walls, steps);
	if ((rc = mdb_cursor_put(cur, &k, &v, MDB_APPEND)) != 0)
		return rc;
	if (c->ri_fill)
		for (size_t t = 0; t < m; t++)
			ri_keep(e, c->recs[i + t].seq, walls[t], steps[t], values[t], ids[t]);
	c->ninserted += m;
	if (c->recs[i + m - 1].seq > c->max_seq)
		c->max_seq = c->recs[i + m - 1].seq;
	return 0;
}

static int insert_loop(jenv *e, MDB_txn *txn, insert_ctx *c, MDB_cursor *cur, uint64_t top,
                       tag_memo *memo)
{
	int rc;

	for (size_t i = 0; i < c->n; i++) {
		const tbw_jrec_named *r = &c->recs[i];
		uint8_t kb[8], vb[32];
		MDB_val k = { 8, kb }, v;
		uint32_t id = TBW_JTAG_SESSION_START;
		int append = r->seq > top;

		if (r->seq == 0)
			return body_fail(e, tbw__error_set(TBW_EINVAL, "journal insert", e->dir, "sequence 0 is not valid"));
		size_t m = run_length(c, i, top);
		if (m >= 2) {
			/* one LMDB entry for the run (LMDB's put costs about as
			 * much as the rest of a restored record's way) */
			if ((rc = insert_run(e, txn, c, cur, i, m, memo)) != 0)
				return rc;
			top = c->recs[i + m - 1].seq;
			i += m - 1;
			continue;
		}
		rc = append ? MDB_NOTFOUND : seek_seq(cur, r->seq, kb, &k, &v);
		if (rc == 0 && k.mv_size == 8 && tbw__get_be64(k.mv_data) <= r->seq) {
			/* an entry holds r->seq (itself, or a step record from
			 * before it): keep it (deduplication), unless it fails its
			 * checksum: then the restored copy replaces it, and a
			 * damaged step record keyed before r->seq goes (its
			 * records are restored or lost; ranges never overlap) */
			tbw_jrec old;
			uint32_t cnt;
			if (tbw__jrec_decode_entry(k.mv_data, k.mv_size, v.mv_data, v.mv_size, &old, &cnt) == 0)
				continue;
			if (tbw__get_be64(k.mv_data) != r->seq && (rc = mdb_cursor_del(cur, 0)) != 0)
				return rc;
		} else if (rc != 0 && rc != MDB_NOTFOUND) {
			return rc;
		}
		tbw__put_be64(kb, r->seq);
		k.mv_data = kb;
		k.mv_size = 8;
		if ((rc = insert_tag(e, txn, c, r, memo, &id)) != 0)
			return rc;
		if (r->body_len) {
			if (!r->body || r->body_len > TBW_JOURNAL_BODY_MAX)
				return body_fail(e, tbw__error_set(TBW_EINVAL, "journal insert", e->dir,
				                                   "event record %llu has a body of %zu bytes",
				                                   (unsigned long long)r->seq, r->body_len));
			if (!r->tag)
				id = TBW_JTAG_NONE;
			if ((rc = upgrade_format(e, txn, TBW_JOURNAL_FORMAT_EVENTS)) != 0)
				return rc;
			c->upgraded = 1;
			if ((rc = put_event(e, txn, kb, r->wall_time, r->step, id, r->body, r->body_len,
			                    append ? MDB_APPEND : 0)) != 0)
				return rc;
		} else {
			tbw__jrec_encode(kb, vb, r->seq, r->wall_time, r->step, r->value, id);
			v.mv_data = vb;
			v.mv_size = 32;
			if ((rc = mdb_cursor_put(cur, &k, &v, append ? MDB_APPEND : 0)) != 0)
				return rc;
		}
		if (c->ri_fill && append && !r->body_len)
			ri_keep(e, r->seq, r->wall_time, r->step, r->value, id);
		else
			c->ri_fill = 0;
		if (append)
			top = r->seq;
		c->ninserted++;
		if (r->seq > c->max_seq)
			c->max_seq = r->seq;
	}
	return 0;
}

static void insert_done(jenv *e, void *vctx)
{
	insert_ctx *c = vctx;
	/* every record appended and kept (a record kept back by deduplication
	 * is not); such a transaction used its id (see wtxn_run) */
	if (c->ri_fill && e->ri_n == c->n) {
		e->ri_valid = 1;
		e->ri_txnid = c->txnid;
		e->ri_base = c->ri_base;
	}
	if (c->upgraded && e->format < TBW_JOURNAL_FORMAT_EVENTS)
		e->format = TBW_JOURNAL_FORMAT_EVENTS;
	if (c->upgraded_runs && e->format < TBW_JOURNAL_FORMAT_RUNS)
		e->format = TBW_JOURNAL_FORMAT_RUNS;
	if (c->max_seq >= e->next_seq)
		e->next_seq = c->max_seq + 1;
	for (size_t t = 0; t < c->nnew; t++)
		if (tag_add(e, c->new_ids[t], c->new_src[t]->tag, c->new_src[t]->tag_len) != 0)
			e->cache_ok = 0;
}

int tbw__journal_insert(tbw_journal *j, const tbw_jrec_named *recs, size_t n,
                        size_t *ninserted)
{
	insert_ctx c;
	int rc = check_writable(j, "journal insert");
	if (ninserted)
		*ninserted = 0;
	if (rc)
		return rc;
	if (n == 0)
		return TBW_OK;
	memset(&c, 0, sizeof c);
	c.recs = recs;
	c.n = n;
	c.new_ids = tbw__calloc(n, sizeof *c.new_ids);
	c.new_src = tbw__calloc(n, sizeof *c.new_src);
	if (!c.new_ids || !c.new_src) {
		tbw__free(c.new_ids);
		tbw__free(c.new_src);
		return tbw__error_set(TBW_ENOMEM, "journal insert", j->e->dir, "out of memory");
	}
	for (size_t i = 0; i < n; i++)
		c.bytes += recs[i].body_len ? recs[i].body_len + TBW_JREC_VAL_SIZE : 0;
	rc = wtxn_sized(j->e, "journal insert", insert_body, insert_done, &c, c.bytes, 0);
	if (rc == 0 && ninserted)
		*ninserted = c.ninserted;
	tbw__free(c.new_ids);
	tbw__free(c.new_src);
	tbw__strmap_free(&c.new_index);
	return rc;
}

int tbw__journal_sync(tbw_journal *j)
{
	int rc = check_writable(j, "journal sync");
	jenv *e;
	if (rc)
		return rc;
	e = j->e;
	pthread_rwlock_rdlock(&e->maplock);
	rc = mdb_env_sync(e->env, 1);
	pthread_rwlock_unlock(&e->maplock);
	if (rc) {
		rc = mdb_err(rc, "journal sync", e->dir);
		poison(e);
	}
	return rc;
}

int tbw__journal_check_poisoned(tbw_journal *j)
{
	int rc = check_handle(j, "journal");
	if (rc)
		return rc;
	if (!atomic_load_explicit(&j->e->poisoned, memory_order_acquire))
		return TBW_OK;
	return check_writable(j, "journal");
}

int tbw__journal_group_stats(tbw_journal *j, uint64_t *commits, uint64_t *calls)
{
	int rc = check_handle(j, "journal group stats");
	if (rc)
		return rc;
	pthread_mutex_lock(&j->e->wmu);
	*commits = j->e->g_commits;
	*calls = j->e->g_calls;
	pthread_mutex_unlock(&j->e->wmu);
	return TBW_OK;
}

/* ===================================================================
 * 8. Reading, cursors, prune
 * =================================================================== */

/* Reading your own insert. tbrecover inserts a batch of restored records
 * and its compactor reads the same records back at once to export them:
 * a cursor walk and a decode (checksum included) per record, about a
 * tenth of a recovery's CPU. The insert keeps what it appended, and a read
 * whose snapshot is the one the insert's commit made (same transaction
 * id: nothing was committed since, by this process or another) takes the
 * records after after_seq from there, when after_seq is at or past the
 * last record stored before the insert: the table then holds exactly
 * those. Only inserts that appended every record, all scalars, count. */
static void read_own_insert(jenv *e, uint64_t after_seq, tbw_jrec *out, size_t cap, tbw_jread *inf)
{
	size_t lo = 0, hi = e->ri_n;

	while (lo < hi) {   /* the first record after after_seq */
		size_t mid = lo + (hi - lo) / 2;
		if (e->ri_recs[mid].seq <= after_seq)
			lo = mid + 1;
		else
			hi = mid;
	}
	inf->n = e->ri_n - lo < cap ? e->ri_n - lo : cap;
	if (inf->n) {
		memcpy(out, e->ri_recs + lo, inf->n * sizeof *out);
		inf->next_after = out[inf->n - 1].seq;
	}
	inf->end = lo + inf->n == e->ri_n;
	e->ri_hits++;
}

int tbw__journal_read(tbw_journal *j, uint64_t after_seq, tbw_jrec *out,
                      size_t cap, tbw_jread *info)
{
	MDB_txn *txn;
	MDB_cursor *c;
	MDB_val k, v;
	uint8_t kb[8];
	tbw_jread inf;
	int rc = check_handle(j, "journal read");
	jenv *e;

	memset(&inf, 0, sizeof inf);
	inf.next_after = after_seq;
	if (info)
		*info = inf;
	if (rc)
		return rc;
	e = j->e;
	if (after_seq == UINT64_MAX) {
		inf.end = 1;
		if (info)
			*info = inf;
		return TBW_OK;
	}
	/* A read transaction pins its snapshot: every page a commit frees
	 * while it is open stays unusable until it ends, and each append's
	 * commit copies its path of the tree (3-4 pages). With a writer
	 * committing a million times a second beside the compactor's reads,
	 * that made the journal grow by megabytes per pinned millisecond and
	 * never stop (bench_long_run: 59 -> 128 MB over 10 M scalars). So in a
	 * process that writes, reads of records take wmu: no commit of this
	 * process runs while one is open and freed pages are reused at once
	 * (bench_long_run: flat). Readers in other processes (tbw_compact,
	 * tbstat) still pin: their reads are their own. */
	int pin = !e->read_only;
	if (pin)
		pthread_mutex_lock(&e->wmu);
	if ((rc = rtxn_begin_h(e, &txn, "journal read", pin)) != 0) {
		if (pin)
			pthread_mutex_unlock(&e->wmu);
		return rc;
	}
	if (pin && e->ri_valid && mdb_txn_id(txn) == e->ri_txnid && after_seq >= e->ri_base) {
		read_own_insert(e, after_seq, out, cap, &inf);
		rtxn_end(e, txn);
		pthread_mutex_unlock(&e->wmu);
		if (info)
			*info = inf;
		return TBW_OK;
	}
	if ((rc = mdb_cursor_open(txn, e->d_rec, &c)) != 0) {
		rtxn_end(e, txn);
		if (pin)
			pthread_mutex_unlock(&e->wmu);
		return mdb_err(rc, "journal read", e->dir);
	}
	rc = seek_seq(c, after_seq + 1, kb, &k, &v);
	while (rc == 0) {
		tbw_jrec first;
		uint32_t cnt, i = 0;

		if (inf.n == cap)
			break;    /* this entry is for the next read */
		if (tbw__jrec_decode_entry(k.mv_data, k.mv_size, v.mv_data, v.mv_size, &first, &cnt) != 0) {
			/* damaged: its records (all it claims) are skipped */
			uint64_t s = k.mv_size == 8 ? tbw__get_be64(k.mv_data) : inf.next_after + 1;
			if (!inf.ncorrupt)
				inf.first_corrupt_seq = s;
			inf.ncorrupt += cnt;
			if (s + cnt - 1 > inf.next_after)
				inf.next_after = s + cnt - 1;
		} else if (cnt == 1) {
			out[inf.n++] = first;
			inf.next_after = first.seq;
		} else {
			/* a step record: its records after after_seq, as many as fit */
			if (first.seq <= after_seq)
				i = (uint32_t)(after_seq + 1 - first.seq);
			for (; i < cnt && inf.n < cap; i++) {
				tbw__jrec_nth(v.mv_data, &first, i, &out[inf.n]);
				inf.next_after = out[inf.n++].seq;
			}
			if (i < cnt)
				break;    /* the rest of it for the next read */
		}
		rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
	}
	if (rc == MDB_NOTFOUND) {
		inf.end = 1;
		rc = 0;
	}
	mdb_cursor_close(c);
	rtxn_end(e, txn);
	if (pin)
		pthread_mutex_unlock(&e->wmu);
	if (info)
		*info = inf;
	return rc ? mdb_err(rc, "journal read", e->dir) : TBW_OK;
}

int tbw__journal_read_body(tbw_journal *j, uint64_t seq, void *dst, size_t cap, size_t *len)
{
	MDB_txn *txn;
	MDB_val k, v;
	uint8_t kb[8];
	tbw_jrec r;
	uint32_t cnt;
	int rc = check_handle(j, "journal read event body");
	jenv *e;

	if (len)
		*len = 0;
	if (rc)
		return rc;
	e = j->e;
	if (!e->read_only)
		pthread_mutex_lock(&e->wmu);   /* as in tbw__journal_read */
	if ((rc = rtxn_begin_h(e, &txn, "journal read event body", !e->read_only)) != 0) {
		if (!e->read_only)
			pthread_mutex_unlock(&e->wmu);
		return rc;
	}
	tbw__put_be64(kb, seq);
	k.mv_data = kb;
	k.mv_size = 8;
	rc = mdb_get(txn, e->d_rec, &k, &v);
	if (rc == MDB_NOTFOUND) {
		rc = tbw__error_set(TBW_ENOTFOUND, "journal read event body", e->dir,
		                    "record %llu is not in the journal", (unsigned long long)seq);
	} else if (rc) {
		rc = mdb_err(rc, "journal read event body", e->dir);
	} else if (tbw__jrec_decode_entry(k.mv_data, k.mv_size, v.mv_data, v.mv_size, &r, &cnt) != 0) {
		rc = tbw__error_set(TBW_ECORRUPT, "journal read event body", e->dir,
		                    "record %llu fails its checksum", (unsigned long long)seq);
	} else if (!r.body_len || cnt > 1) {
		rc = tbw__error_set(TBW_EINVAL, "journal read event body", e->dir,
		                    "record %llu is a scalar, not an event record", (unsigned long long)seq);
	} else {
		if (len)
			*len = r.body_len;
		if (cap < r.body_len)
			rc = tbw__error_set(TBW_EINVAL, "journal read event body", e->dir,
			                    "record %llu holds %u bytes, more than the %zu given",
			                    (unsigned long long)seq, r.body_len, cap);
		else
			memcpy(dst, (const uint8_t *)v.mv_data + TBW_JEV_HDR, r.body_len);
	}
	rtxn_end(e, txn);
	if (!e->read_only)
		pthread_mutex_unlock(&e->wmu);
	return rc;
}

int tbw__journal_tag_name(tbw_journal *j, uint32_t id, const char **name, size_t *len)
{
	int rc = check_handle(j, "journal tag name");
	jenv *e;
	MDB_txn *txn;
	MDB_val k, v;
	uint8_t kb[4];

	if (rc)
		return rc;
	e = j->e;
	pthread_mutex_lock(&e->tagmu);
	if (id < e->cap_id && e->by_id[id].name) {
		*name = e->by_id[id].name;
		if (len)
			*len = e->by_id[id].len;
		pthread_mutex_unlock(&e->tagmu);
		return TBW_OK;
	}
	pthread_mutex_unlock(&e->tagmu);
	if (id == TBW_JTAG_SESSION_START)
		return tbw__error_set(TBW_ENOTFOUND, "journal tag name", e->dir, "id %u is the START marker, not a tag", id);
	/* Written by another process since we loaded: look it up. The table
	 * grows under wmu too (lock order: wmu, maplock, tagmu), as every other
	 * addition does: this process's writers read it under wmu alone. */
	pthread_mutex_lock(&e->wmu);
	if ((rc = rtxn_begin_h(e, &txn, "journal tag name", 1)) != 0) {
		pthread_mutex_unlock(&e->wmu);
		return rc;
	}
	tbw__put_be32(kb, id);
	k.mv_data = kb;
	k.mv_size = 4;
	rc = mdb_get(txn, e->d_tags, &k, &v);
	if (rc == 0) {
		uint32_t gid;
		const char *nm;
		size_t n;
		if (tbw__jtag_decode(k.mv_data, k.mv_size, v.mv_data, v.mv_size, &gid, &nm, &n) != 0)
			rc = tbw__error_set(TBW_ECORRUPT, "journal tag name", e->dir, "tag %u fails its checksum", id);
		else
			rc = tag_add(e, id, nm, n);
	} else if (rc == MDB_NOTFOUND) {
		rc = tbw__error_set(TBW_ENOTFOUND, "journal tag name", e->dir, "no tag with id %u", id);
	} else {
		rc = mdb_err(rc, "journal tag name", e->dir);
	}
	rtxn_end(e, txn);
	pthread_mutex_unlock(&e->wmu);
	if (rc)
		return rc;
	pthread_mutex_lock(&e->tagmu);
	*name = e->by_id[id].name;
	if (len)
		*len = e->by_id[id].len;
	pthread_mutex_unlock(&e->tagmu);
	return TBW_OK;
}

/* How many records `records` holds in txn: its entries, or with step
 * records (format 3) the sum of what each entry holds, by a walk. An MDB
 * code. */
static int count_records(jenv *e, MDB_txn *txn, uint64_t *count)
{
	const uint8_t *p;
	size_t n;
	MDB_stat st;
	int rc;

	*count = 0;
	if (meta_get(e, txn, e->d_meta, "format", &p, &n) == 0 && n == 4 &&
	    tbw__get_be32(p) >= TBW_JOURNAL_FORMAT_STEPS) {
		MDB_cursor *c;
		MDB_val k, v;
		MDB_cursor_op step = MDB_FIRST;
		if ((rc = mdb_cursor_open(txn, e->d_rec, &c)) != 0)
			return rc;
		while ((rc = mdb_cursor_get(c, &k, &v, step)) == 0) {
			*count += tbw__jrec_claimed(v.mv_data, v.mv_size);
			step = MDB_NEXT;
		}
		mdb_cursor_close(c);
		return rc == MDB_NOTFOUND ? 0 : rc;
	}
	if ((rc = mdb_stat(txn, e->d_rec, &st)) == 0)
		*count = st.ms_entries;
	return rc;
}

/* the first and last sequence numbers records holds (0 if none),
 * pruned_through and, when count is not NULL, how many records it holds
 * (with step records, a walk of the table) */
static int edge_keys(tbw_journal *j, const char *op, uint64_t *first, uint64_t *last,
                     uint64_t *pruned, uint64_t *count)
{
	MDB_txn *txn;
	MDB_cursor *c;
	MDB_val k, v;
	const uint8_t *p;
	size_t n;
	int rc = check_handle(j, op);
	jenv *e;

	if (rc)
		return rc;
	e = j->e;
	*first = *last = *pruned = 0;
	if (count)
		*count = 0;
	if ((rc = rtxn_begin(e, &txn, op)) != 0)
		return rc;
	if ((rc = mdb_cursor_open(txn, e->d_rec, &c)) != 0)
		goto out;
	rc = mdb_cursor_get(c, &k, &v, MDB_FIRST);
	if (rc == 0 && k.mv_size == 8)
		*first = tbw__get_be64(k.mv_data);
	if (rc == 0)
		rc = mdb_cursor_get(c, &k, &v, MDB_LAST);
	if (rc == 0 && k.mv_size == 8)
		*last = entry_last_seq(&k, &v);
	mdb_cursor_close(c);
	if (rc == MDB_NOTFOUND)
		rc = 0;
	if (rc)
		goto out;
	if (meta_get(e, txn, e->d_meta, "pruned_through", &p, &n) == 0 && n == 8)
		*pruned = tbw__get_be64(p);
	if (count)
		rc = count_records(e, txn, count);
out:
	rtxn_end(e, txn);
	return rc ? mdb_err(rc, op, e->dir) : TBW_OK;
}

int tbw__journal_last_seq(tbw_journal *j, uint64_t *out)
{
	uint64_t f, l, p;
	int rc = edge_keys(j, "journal last seq", &f, &l, &p, NULL);
	*out = rc ? 0 : (l > p ? l : p);
	return rc;
}

int tbw__journal_first_seq(tbw_journal *j, uint64_t *out)
{
	uint64_t f, l, p;
	int rc = edge_keys(j, "journal first seq", &f, &l, &p, NULL);
	*out = rc ? 0 : f;
	return rc;
}

int tbw__journal_count(tbw_journal *j, uint64_t *out)
{
	uint64_t f, l, p, c;
	int rc = edge_keys(j, "journal count", &f, &l, &p, &c);
	*out = rc ? 0 : c;
	return rc;
}

/* export cursor value: seq u64 | offset u64 | file_no u32 | name bytes | crc */
static int get_export_txn(jenv *e, MDB_txn *txn, tbw_jexport *out)
{
	const uint8_t *p;
	size_t n;
	int rc = meta_get(e, txn, e->d_cur, "export", &p, &n);
	memset(out, 0, sizeof *out);
	if (rc == MDB_NOTFOUND)
		return TBW_OK;
	if (rc == META_BAD || (rc == 0 && (n < 20 || n - 20 >= sizeof out->file)))
		return tbw__error_set(TBW_ECORRUPT, "journal export cursor", e->dir, "the export cursor fails its checksum");
	if (rc)
		return mdb_err(rc, "journal export cursor", e->dir);
	out->seq = tbw__get_be64(p);
	out->offset = tbw__get_be64(p + 8);
	out->file_no = tbw__get_be32(p + 16);
	memcpy(out->file, p + 20, n - 20);
	out->file[n - 20] = 0;
	return TBW_OK;
}

static int get_ship_txn(jenv *e, MDB_txn *txn, uint64_t *seq, int *present)
{
	const uint8_t *p;
	size_t n;
	int rc = meta_get(e, txn, e->d_cur, "ship", &p, &n);
	*seq = 0;
	*present = 0;
	if (rc == MDB_NOTFOUND)
		return TBW_OK;
	if (rc == META_BAD || (rc == 0 && n != 8))
		return tbw__error_set(TBW_ECORRUPT, "journal ship cursor", e->dir, "the ship cursor fails its checksum");
	if (rc)
		return mdb_err(rc, "journal ship cursor", e->dir);
	*seq = tbw__get_be64(p);
	*present = 1;
	return TBW_OK;
}

int tbw__journal_get_export(tbw_journal *j, tbw_jexport *out)
{
	MDB_txn *txn;
	int rc = check_handle(j, "journal export cursor");
	if (rc)
		return rc;
	if ((rc = rtxn_begin(j->e, &txn, "journal export cursor")) != 0)
		return rc;
	rc = get_export_txn(j->e, txn, out);
	rtxn_end(j->e, txn);
	return rc;
}

int tbw__journal_get_ship(tbw_journal *j, uint64_t *seq, int *present)
{
	MDB_txn *txn;
	int rc = check_handle(j, "journal ship cursor");
	if (rc)
		return rc;
	if ((rc = rtxn_begin(j->e, &txn, "journal ship cursor")) != 0)
		return rc;
	rc = get_ship_txn(j->e, txn, seq, present);
	rtxn_end(j->e, txn);
	return rc;
}

typedef struct cur_ctx {
	const char *key;
	uint8_t buf[300];
	size_t n;
} cur_ctx;

static int cur_body(jenv *e, MDB_txn *txn, void *vctx)
{
	cur_ctx *c = vctx;
	uint8_t b[320];
	MDB_val k = { strlen(c->key), (void *)c->key }, v = { c->n + 4, b };
	memcpy(b, c->buf, c->n);
	tbw__put_be32(b + c->n, tbw__jcrc2(c->key, k.mv_size, c->buf, c->n));
	return mdb_put(txn, e->d_cur, &k, &v, 0);
}

int tbw__journal_set_export(tbw_journal *j, const tbw_jexport *x)
{
	cur_ctx c;
	size_t fl;
	int rc = check_writable(j, "journal set export cursor");
	if (rc)
		return rc;
	fl = strnlen(x->file, sizeof x->file);
	if (fl >= sizeof x->file)
		return tbw__error_set(TBW_EINVAL, "journal set export cursor", j->e->dir, "file name too long");
	c.key = "export";
	tbw__put_be64(c.buf, x->seq);
	tbw__put_be64(c.buf + 8, x->offset);
	tbw__put_be32(c.buf + 16, x->file_no);
	memcpy(c.buf + 20, x->file, fl);
	c.n = 20 + fl;
	return wtxn(j->e, "journal set export cursor", cur_body, NULL, &c);
}

int tbw__journal_set_ship(tbw_journal *j, uint64_t seq)
{
	cur_ctx c;
	int rc = check_writable(j, "journal set ship cursor");
	if (rc)
		return rc;
	c.key = "ship";
	tbw__put_be64(c.buf, seq);
	c.n = 8;
	return wtxn(j->e, "journal set ship cursor", cur_body, NULL, &c);
}

typedef struct prune_ctx {
	uint64_t through;
	size_t batch;
	uint64_t n;      /* this batch */
	int more;
} prune_ctx;

static int prune_body(jenv *e, MDB_txn *txn, void *vctx)
{
	prune_ctx *p = vctx;
	tbw_jexport x;
	uint64_t ship, limit, lastdel = 0, pt = e->pruned_through;
	int present, rc;
	MDB_cursor *c;
	MDB_val k, v;
	uint8_t b[8];

	p->n = 0;
	p->more = 0;
	if ((rc = get_export_txn(e, txn, &x)) != 0 || (rc = get_ship_txn(e, txn, &ship, &present)) != 0)
		return body_fail(e, rc);
	limit = p->through < x.seq ? p->through : x.seq;
	if (present && ship < limit)
		limit = ship;
	if (limit == 0)
		return 0;
	if ((rc = mdb_cursor_open(txn, e->d_rec, &c)) != 0)
		return rc;
	/* Every record stored is prunable (restore and tbrecover export each
	 * batch whole, a compactor that caught up with an idle writer): empty
	 * the table at once. mdb_drop frees its pages without visiting each
	 * record; deleting records one by one from the front shifts the rest
	 * of each page and rebalances the tree (a third of tbrecover's time). */
	{
		MDB_val fk, lk;
		uint64_t held;
		if (mdb_cursor_get(c, &fk, &v, MDB_FIRST) == 0 && mdb_cursor_get(c, &lk, &v, MDB_LAST) == 0 &&
		    fk.mv_size == 8 && lk.mv_size == 8 && entry_last_seq(&lk, &v) <= limit &&
		    count_records(e, txn, &held) == 0) {
			uint64_t last = entry_last_seq(&lk, &v);
			mdb_cursor_close(c);
			if ((rc = mdb_drop(txn, e->d_rec, 0)) != 0)
				return rc;
			p->n = held;
			if (last > pt) {
				tbw__put_be64(b, last);
				if ((rc = meta_put(e, txn, "pruned_through", b, 8)) != 0)
					return rc;
			}
			return 0;
		}
	}
	/* an entry goes only when every record it holds is <= limit: a step
	 * record reaching past it stays whole (pruned_through then ends below
	 * its key) */
	size_t ndel = 0;
	while (ndel < p->batch && (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST)) == 0) {
		uint64_t s = k.mv_size == 8 ? entry_last_seq(&k, &v) : UINT64_MAX;
		uint32_t held = tbw__jrec_claimed(v.mv_data, v.mv_size);
		if (s > limit)
			break;
		if ((rc = mdb_cursor_del(c, 0)) != 0)
			break;
		lastdel = s;
		p->n += held;
		ndel++;
	}
	mdb_cursor_close(c);
	if (rc && rc != MDB_NOTFOUND)
		return rc;
	if (rc == 0 && ndel == p->batch)
		p->more = 1;
	if (lastdel > pt) {
		tbw__put_be64(b, lastdel);
		if ((rc = meta_put(e, txn, "pruned_through", b, 8)) != 0)
			return rc;
	}
	return 0;
}

static void prune_done(jenv *e, void *vctx)
{
	(void)vctx;
	e->cache_ok = 0; /* reread pruned_through next time (cheap, rare) */
}

int tbw__journal_prune(tbw_journal *j, uint64_t through, size_t batch,
                       uint64_t *npruned)
{
	prune_ctx p;
	uint64_t total = 0;
	int rc = check_writable(j, "journal prune");
	if (npruned)
		*npruned = 0;
	if (rc)
		return rc;
	if (batch == 0)
		batch = 1000;
	p.through = through;
	p.batch = batch;
	do {
		rc = wtxn(j->e, "journal prune", prune_body, prune_done, &p);
		if (rc)
			break;
		total += p.n;
	} while (p.more);
	if (npruned)
		*npruned = total;
	return rc;
}

/* ===================================================================
 * 9. Verification
 * =================================================================== */

/* Tests only: begin a read transaction and never end it (a reader slot that
 * stays taken, as when a process dies inside a read). */
int tbw__journal_test_hold_reader(tbw_journal *j)
{
	MDB_txn *txn;
	int rc = check_handle(j, "journal test reader");
	if (rc)
		return rc;
	rc = mdb_txn_begin(j->e->env, NULL, MDB_RDONLY, &txn);
	return rc ? mdb_err(rc, "journal test reader", j->e->dir) : TBW_OK;
}

uint64_t tbw__journal_test_own_insert_reads(tbw_journal *j)
{
	uint64_t n;
	if (check_handle(j, "journal test") != TBW_OK)
		return 0;
	pthread_mutex_lock(&j->e->wmu);
	n = j->e->ri_hits;
	pthread_mutex_unlock(&j->e->wmu);
	return n;
}

/* ---- Verification (tbrecover's probe) ----
 * Walk every table with LMDB, the free list (FREE_DBI = 0) and the main
 * table (MAIN_DBI = 1) included: every branch and leaf page LMDB follows
 * when it reads or allocates. LMDB reports some damage (MDB_CORRUPTED,
 * MDB_PAGE_NOTFOUND); other damage makes it crash, which is why tbrecover
 * runs this in a child process. */
int tbw__journal_verify(tbw_journal *j, uint64_t *nentries)
{
	int rc = check_handle(j, "journal verify");
	jenv *e;
	MDB_txn *txn;
	uint64_t n = 0;

	if (nentries)
		*nentries = 0;
	if (rc)
		return rc;
	e = j->e;
	if ((rc = rtxn_begin(e, &txn, "journal verify")) != 0)
		return rc;
	{
		MDB_dbi dbis[6] = { 0, 1, e->d_rec, e->d_tags, e->d_meta, e->d_cur };
		for (int d = 0; d < 6 && rc == 0; d++) {
			MDB_cursor *cur;
			MDB_val k, v;
			int op = MDB_FIRST;

			if ((rc = mdb_cursor_open(txn, dbis[d], &cur)) != 0)
				break;
			while ((rc = mdb_cursor_get(cur, &k, &v, op)) == 0) {
				n++;
				op = MDB_NEXT;
			}
			mdb_cursor_close(cur);
			if (rc == MDB_NOTFOUND)
				rc = 0;
		}
	}
	rtxn_end(e, txn);
	if (rc)
		return mdb_err(rc, "journal verify", e->dir);
	if (nentries)
		*nentries = n;
	return TBW_OK;
}

/* ===================================================================
 * 10. Per-tag history (tbwal stat): cumulative figures per tag of every
 *     record the compactor exported, merged in the transaction that
 *     advances the export cursor, so they count each record exactly once
 *     and survive pruning (doc/journal-format.md, "meta: tag history").
 * =================================================================== */

#define TAGSTAT_PREFIX "tagstat:"
#define TAGSTAT_VLEN 64

static void tagstat_key(char key[20], uint32_t id)
{
	snprintf(key, 20, TAGSTAT_PREFIX "%08" PRIx32, id);
}

static void tagstat_enc(uint8_t b[TAGSTAT_VLEN], const tbw_jtagstat *s)
{
	tbw__put_be64(b, s->count);
	tbw__put_be64(b + 8, (uint64_t)s->first_step);
	tbw__put_be64(b + 16, (uint64_t)s->last_step);
	tbw__put_be64(b + 24, (uint64_t)s->min_step);
	tbw__put_be64(b + 32, (uint64_t)s->max_step);
	tbw__put_be64(b + 40, tbw__f64_bits(s->first_wall));
	tbw__put_be64(b + 48, tbw__f64_bits(s->last_wall));
	tbw__put_be64(b + 56, tbw__f64_bits(s->last_value));
}

static void tagstat_dec(const uint8_t *b, uint32_t id, tbw_jtagstat *s)
{
	s->tag_id = id;
	s->count = tbw__get_be64(b);
	s->first_step = (int64_t)tbw__get_be64(b + 8);
	s->last_step = (int64_t)tbw__get_be64(b + 16);
	s->min_step = (int64_t)tbw__get_be64(b + 24);
	s->max_step = (int64_t)tbw__get_be64(b + 32);
	s->first_wall = tbw__bits_f64(tbw__get_be64(b + 40));
	s->last_wall = tbw__bits_f64(tbw__get_be64(b + 48));
	s->last_value = tbw__bits_f64(tbw__get_be64(b + 56));
}

void tbw__jtagstat_add(tbw_jtagstat *t, int64_t step, double value, double wall_time)
{
	if (t->count == 0) {
		t->first_step = t->min_step = t->max_step = step;
		t->first_wall = wall_time;
	}
	t->count++;
	t->last_step = step;
	t->last_value = value;
	t->last_wall = wall_time;
	if (step < t->min_step)
		t->min_step = step;
	if (step > t->max_step)
		t->max_step = step;
}

void tbw__jtagstat_merge(tbw_jtagstat *into, const tbw_jtagstat *later)
{
	if (later->count == 0)
		return;
	if (into->count == 0) {
		*into = *later;
		return;
	}
	into->count += later->count;
	into->last_step = later->last_step;
	into->last_wall = later->last_wall;
	into->last_value = later->last_value;
	if (later->min_step < into->min_step)
		into->min_step = later->min_step;
	if (later->max_step > into->max_step)
		into->max_step = later->max_step;
}

typedef struct xstat_ctx {
	cur_ctx cur;
	const tbw_jtagstat *d;
	size_t n;
} xstat_ctx;

static int xstat_body(jenv *e, MDB_txn *txn, void *vctx)
{
	xstat_ctx *x = vctx;
	const uint8_t *p;
	size_t n;
	int rc = meta_get(e, txn, e->d_meta, "tagstats_from", &p, &n);

	if (rc == MDB_NOTFOUND) {
		/* first merge into this journal: what the cursor covered before
		 * it is not in the figures (a journal older than tag history) */
		tbw_jexport old;
		uint8_t b[8];
		if ((rc = get_export_txn(e, txn, &old)) != 0)
			return body_fail(e, rc);
		tbw__put_be64(b, old.seq);
		if ((rc = meta_put(e, txn, "tagstats_from", b, 8)) != 0)
			return rc;
	} else if (rc) {
		return rc == META_BAD ? body_fail(e, tbw__error_set(TBW_ECORRUPT, "journal tag history", e->dir,
		                                              "tagstats_from fails its checksum")) : rc;
	}
	for (size_t i = 0; i < x->n; i++) {
		char key[20];
		tbw_jtagstat s;
		uint8_t b[TAGSTAT_VLEN];
		tagstat_key(key, x->d[i].tag_id);
		memset(&s, 0, sizeof s);
		rc = meta_get(e, txn, e->d_meta, key, &p, &n);
		if (rc == 0 && n == TAGSTAT_VLEN)
			tagstat_dec(p, x->d[i].tag_id, &s);
		else if (rc != 0 && rc != MDB_NOTFOUND && rc != META_BAD)
			return rc;
		/* a damaged entry starts again from this batch: figures are a
		 * summary, never what export depends on */
		tbw__jtagstat_merge(&s, &x->d[i]);
		tagstat_enc(b, &s);
		if ((rc = meta_put(e, txn, key, b, TAGSTAT_VLEN)) != 0)
			return rc;
	}
	return cur_body(e, txn, &x->cur);
}

int tbw__journal_set_export_stats(tbw_journal *j, const tbw_jexport *c, const tbw_jtagstat *d, size_t n)
{
	xstat_ctx x;
	size_t fl;
	int rc;

	if (n == 0)
		return tbw__journal_set_export(j, c);
	if ((rc = check_writable(j, "journal set export cursor")) != 0)
		return rc;
	fl = strnlen(c->file, sizeof c->file);
	if (fl >= sizeof c->file)
		return tbw__error_set(TBW_EINVAL, "journal set export cursor", j->e->dir, "file name too long");
	x.cur.key = "export";
	tbw__put_be64(x.cur.buf, c->seq);
	tbw__put_be64(x.cur.buf + 8, c->offset);
	tbw__put_be32(x.cur.buf + 16, c->file_no);
	memcpy(x.cur.buf + 20, c->file, fl);
	x.cur.n = 20 + fl;
	x.d = d;
	x.n = n;
	return wtxn(j->e, "journal set export cursor", xstat_body, NULL, &x);
}

int tbw__journal_get_tagstats(tbw_journal *j, tbw_jtagstat **out, size_t *nout,
                              uint64_t *from_seq, int *present)
{
	MDB_txn *txn;
	MDB_cursor *cur = NULL;
	MDB_val k, v;
	const uint8_t *p;
	size_t n, cap = 0, cnt = 0, plen = strlen(TAGSTAT_PREFIX);
	tbw_jtagstat *arr = NULL;
	int rc = check_handle(j, "journal tag history"), op = MDB_SET_RANGE;

	*out = NULL;
	*nout = 0;
	*from_seq = 0;
	*present = 0;
	if (rc)
		return rc;
	if ((rc = rtxn_begin(j->e, &txn, "journal tag history")) != 0)
		return rc;
	rc = meta_get(j->e, txn, j->e->d_meta, "tagstats_from", &p, &n);
	if (rc == 0 && n == 8) {
		*present = 1;
		*from_seq = tbw__get_be64(p);
	}
	rc = mdb_cursor_open(txn, j->e->d_meta, &cur);
	k.mv_size = plen;
	k.mv_data = (void *)TAGSTAT_PREFIX;
	while (rc == 0 && (rc = mdb_cursor_get(cur, &k, &v, op)) == 0) {
		char key[20];
		unsigned int id;
		op = MDB_NEXT;
		if (k.mv_size < plen || memcmp(k.mv_data, TAGSTAT_PREFIX, plen) != 0)
			break;
		if (k.mv_size >= sizeof key || v.mv_size != TAGSTAT_VLEN + 4)
			continue;
		memcpy(key, k.mv_data, k.mv_size);
		key[k.mv_size] = 0;
		if (sscanf(key + plen, "%8x", &id) != 1 ||
		    tbw__get_be32((const uint8_t *)v.mv_data + TAGSTAT_VLEN) != tbw__jcrc2(key, k.mv_size, v.mv_data, TAGSTAT_VLEN))
			continue;   /* damaged: that tag's figures are skipped */
		if (cnt == cap) {
			size_t nc = cap ? cap * 2 : 16;
			tbw_jtagstat *na = tbw__realloc(arr, nc * sizeof *na);
			if (!na) {
				rc = ENOMEM;
				break;
			}
			arr = na;
			cap = nc;
		}
		tagstat_dec(v.mv_data, id, &arr[cnt++]);
	}
	if (cur)
		mdb_cursor_close(cur);
	rtxn_end(j->e, txn);
	if (rc == MDB_NOTFOUND)
		rc = 0;
	if (rc) {
		tbw__free(arr);
		if (rc == ENOMEM)
			return tbw__error_set(TBW_ENOMEM, "journal tag history", j->e->dir, "out of memory");
		return mdb_err(rc, "journal tag history", j->e->dir);
	}
	*out = arr;
	*nout = cnt;
	return TBW_OK;
}
