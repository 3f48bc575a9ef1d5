/* salvage.c -- what can be read of a damaged journal, and the checks that
 * keep a damaged data.mdb away from LMDB (see journal.h):
 *   - tbw__journal_check_files: refuse a data.mdb LMDB would crash or hang on,
 *     or one truncated below what its newest meta page records;
 *   - tbw__journal_drop_unwritten: start over a data.mdb that holds only
 *     zeros (its creation never reached the disk);
 *   - tbw__journal_salvage: every intact record, walked with LMDB through the
 *     public journal calls, else by a raw scan of data.mdb's pages (LMDB 0.9
 *     page layout) that decodes records with jrecord.c, never with LMDB.
 */
#include "config.h"
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "base/alloc.h"
#include "base/bytes.h"
#include "base/error.h"
#include "base/os.h"
#include "journal/jrecord.h"
#include "journal/journal.h"

/* A tag name the raw scan found (by id). */
typedef struct stag {
	char *name;
	size_t len;
} stag;

/* LMDB 0.9 trusts the page size a meta page records: a meta page with a
 * valid magic and a page size of 0 makes mdb_env_open() divide by zero
 * (SIGFPE; found by fuzz/fuzz_recover). Refuse such a data.mdb before LMDB
 * reads it: both meta pages (LMDB reads the second at the first's page
 * size), page size a power of two from 512 to 64 KiB, as in raw_scan().
 * A data.mdb that is not a regular file (a FIFO would block LMDB's open
 * forever) is refused too. */
/* Evidence that a journal was completely created in dir: the mark written
 * after the creating transaction, or (journals made before the mark) a role
 * lock file, which only an opened journal makes. */
static int journal_was_created(const char *dir)
{
	static const char *const names[] = { TBW_JOURNAL_CREATED_MARK, "writer.lock", "compactor.lock",
	                                     "syncer.lock" };
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		char *p = tbw__path_join(dir, names[i]);
		struct stat st;
		int found = p && lstat(p, &st) == 0;
		tbw__free(p);
		if (found)
			return 1;
	}
	return 0;
}

/* 1 if the n bytes of fd from offset 0 are all zero, 0 if not, or TBW_E*
 * (negated, message set) on a read error. */
static int file_all_zero(int fd, uint64_t n, const char *path)
{
	uint8_t buf[65536];
	uint64_t off = 0;

	while (off < n) {
		/* holes read as zeros: skip them (a WRITEMAP journal's file is
		 * as long as its map, mostly holes) */
		off_t d = lseek(fd, (off_t)off, SEEK_DATA);
		if (d < 0 && errno == ENXIO)
			break;
		if (d > (off_t)off)
			off = (uint64_t)d;
		if (off >= n)
			break;
		size_t got, want = n - off < sizeof buf ? (size_t)(n - off) : sizeof buf;
		int rc = tbw__pread_full(fd, buf, want, (off_t)off, &got, "journal open", path);
		if (rc != TBW_OK)
			return -rc;
		if (got == 0)
			break;
		for (size_t i = 0; i < got; i++)
			if (buf[i])
				return 0;
		off += got;
	}
	return 1;
}

int tbw__journal_check_files(const char *dir, int *unwritten)
{
	char *path = tbw__path_join(dir, "data.mdb");
	uint8_t hdr[152];
	uint64_t off = 0;
	size_t got;
	int fd, rc;

	*unwritten = 0;
	if (!path)
		return tbw__error_set(TBW_ENOMEM, "journal open", dir, "out of memory");
	/* O_NONBLOCK: a FIFO named data.mdb must not hang the open. */
	if (tbw__open(&fd, path, O_RDONLY | O_NONBLOCK, 0, "journal open") != TBW_OK) {
		tbw__free(path);
		return TBW_OK;           /* LMDB reports why it cannot open it */
	}
	rc = TBW_OK;
	struct stat st;
	if (fstat(fd, &st) == 0 && !S_ISREG(st.st_mode))
		rc = tbw__error_set(TBW_ECORRUPT, "journal open", path, "not a regular file");
	else if (st.st_size == 0 && journal_was_created(dir))
		/* A journal's data file is never empty once created (LMDB writes
		 * its two meta pages first): 0 bytes after a creation that
		 * completed is damage (a truncation, a file system that lost it),
		 * never a new journal to start over. (0 bytes and no sign of a
		 * completed creation: a creation that failed, which is redone.) */
		rc = tbw__error_set(TBW_ECORRUPT, "journal open", path,
		                    "data.mdb is 0 bytes: the journal is damaged (truncated), not new; "
		                    "run tbrecover on its logdir");
	uint64_t need = 0, best_txn = 0;
	int metas = 0;
	for (int i = 0; rc == TBW_OK && i < 2; i++) {
		uint32_t magic, ps;
		uint64_t last_pg, txnid;
		rc = tbw__pread_full(fd, hdr, sizeof hdr, (off_t)off, &got, "journal open", path);
		if (rc != TBW_OK || got < sizeof hdr)
			break;           /* short: LMDB reports it */
		memcpy(&magic, hdr + 16, 4);
		memcpy(&ps, hdr + 40, 4);
		if (magic != 0xBEEFC0DEu)
			break;           /* not a meta page: LMDB says MDB_INVALID */
		if (ps < 512 || ps > 65536 || (ps & (ps - 1)) != 0) {
			rc = tbw__error_set(TBW_ECORRUPT, "journal open", path,
			                    "meta page %d records an impossible page size %u", i, (unsigned)ps);
			break;
		}
		/* LMDB 0.9's MDB_meta: mm_last_pg at 136, mm_txnid at 144. */
		memcpy(&last_pg, hdr + 136, 8);
		memcpy(&txnid, hdr + 144, 8);
		if (metas == 0 || txnid >= best_txn) {
			best_txn = txnid;
			need = last_pg < (UINT64_MAX / 65536) ? (last_pg + 1) * (uint64_t)ps : UINT64_MAX;
		}
		metas++;
		off = ps;
	}
	if (rc == TBW_OK && metas < 2 && st.st_size > 0 &&
	    (uint64_t)st.st_size < 2 * (metas ? off : 4096) && journal_was_created(dir))
		/* Cut inside its two meta pages (LMDB alone would say "not an
		 * LMDB file"): damage, as for 0 bytes. */
		rc = tbw__error_set(TBW_ECORRUPT, "journal open", path,
		                    "data.mdb is %lld bytes, shorter than its two meta pages: the journal "
		                    "is truncated; run tbrecover on its logdir", (long long)st.st_size);
	else if (rc == TBW_OK && metas == 2 && (uint64_t)st.st_size < need)
		rc = tbw__error_set(TBW_ECORRUPT, "journal open", path,
		                    "data.mdb is %lld bytes but its newest meta page needs %llu: the "
		                    "journal is truncated; run tbrecover on its logdir",
		                    (long long)st.st_size, (unsigned long long)need);
	else if (rc == TBW_OK && metas == 0 && st.st_size > 0) {
		/* no meta page: nothing but zeros is a journal never written */
		int z = file_all_zero(fd, (uint64_t)st.st_size, path);
		if (z < 0)
			rc = -z;
		else
			*unwritten = z;
	}
	tbw__close(fd, "journal open", path);
	tbw__free(path);
	return rc == TBW_ECORRUPT ? rc : TBW_OK;
}

int tbw__journal_drop_unwritten(const char *dir, int read_only, int *dropped)
{
	char *path = tbw__path_join(dir, "data.mdb"), *lpath = tbw__path_join(dir, "lock.mdb");
	struct stat st;
	struct flock fl;
	int fd = -1, lfd = -1, rc = TBW_OK, z;

	*dropped = 0;
	if (!path || !lpath) {
		rc = tbw__error_set(TBW_ENOMEM, "journal open", dir, "out of memory");
		goto out;
	}
	if (tbw__open(&fd, path, (read_only ? O_RDONLY : O_RDWR) | O_NONBLOCK, 0, "journal open") != TBW_OK ||
	    fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size == 0)
		goto out;          /* LMDB reports it */
	if (read_only) {
		rc = tbw__error_set(TBW_ECORRUPT, "journal open", path,
		                    "data.mdb is %lld bytes of zeros: a journal whose creation never reached the "
		                    "disk (a power cut?) holds nothing; open it for writing to start it over",
		                    (long long)st.st_size);
		goto out;
	}
	/* Nobody may have the environment open meanwhile: LMDB holds a lock
	 * on byte 0 of lock.mdb while any process has it open (shared) and
	 * takes it exclusively while it sets an environment up (a new one
	 * may be all zeros for a moment). Taken here, no LMDB can be in it;
	 * the file is looked at again under the lock. */
	if (tbw__open(&lfd, lpath, O_RDWR | O_CREAT, 0644, "journal open") != TBW_OK) {
		rc = TBW_OK;       /* LMDB reports what it cannot open */
		goto out;
	}
	memset(&fl, 0, sizeof fl);
	fl.l_type = F_WRLCK;
	fl.l_whence = SEEK_SET;
	fl.l_start = 0;
	fl.l_len = 1;
	if (fcntl(lfd, F_SETLK, &fl) != 0)
		goto out;          /* open elsewhere: leave it to LMDB */
	if ((z = file_all_zero(fd, (uint64_t)st.st_size, path)) < 0) {
		rc = -z;
		goto out;
	}
	if (z && (rc = tbw__ftruncate(fd, 0, "journal open", path)) == TBW_OK)
		*dropped = 1;
out:
	if (lfd >= 0)
		tbw__close(lfd, "journal open", lpath);    /* drops the lock */
	if (fd >= 0)
		tbw__close(fd, "journal open", path);
	tbw__free(path);
	tbw__free(lpath);
	return rc;
}

typedef struct srec {
	tbw_jrec r;
	uint64_t voff;   /* event record: offset of its value in data.mdb */
} srec;

static int srec_cmp(const void *a, const void *b)
{
	uint64_t x = ((const srec *)a)->r.seq, y = ((const srec *)b)->r.seq;
	return x < y ? -1 : x > y;
}

/* Walk with LMDB. Returns 0, TBW_ECORRUPT when the walk hit a damaged page
 * (the raw scan should take over), or another error. */
static int salvage_lmdb(tbw_journal *j, tbw_jsalvage_fn fn, void *ctx,
                        uint64_t *nread, uint64_t *ncorrupt, int *stopped)
{
	tbw_jrec buf[256];
	tbw_jread inf;
	uint64_t after = 0;
	uint8_t *body = NULL;
	size_t bcap = 0;
	int rc;

	for (;;) {
		rc = tbw__journal_read(j, after, buf, 256, &inf);
		if (rc) {
			tbw__free(body);
			return rc;
		}
		*ncorrupt += inf.ncorrupt;
		for (size_t i = 0; i < inf.n; i++) {
			tbw_jrec_named nr;
			nr.seq = buf[i].seq;
			nr.wall_time = buf[i].wall_time;
			nr.step = buf[i].step;
			nr.value = buf[i].value;
			nr.tag = NULL;
			nr.tag_len = 0;
			nr.body = NULL;
			nr.body_len = 0;
			if (buf[i].tag_id != TBW_JTAG_SESSION_START && buf[i].tag_id != TBW_JTAG_NONE &&
			    tbw__journal_tag_name(j, buf[i].tag_id, &nr.tag, &nr.tag_len) != 0) {
				(*ncorrupt)++; /* its tag name is lost */
				continue;
			}
			if (buf[i].body_len) {
				/* one body at a time: memory stays at the largest record */
				size_t got = 0;
				if (buf[i].body_len > bcap) {
					uint8_t *nb = tbw__realloc(body, buf[i].body_len);
					if (!nb) {
						tbw__free(body);
						return tbw__error_set(TBW_ENOMEM, "journal salvage", tbw__journal_dir(j),
						                      "out of memory");
					}
					body = nb;
					bcap = buf[i].body_len;
				}
				rc = tbw__journal_read_body(j, buf[i].seq, body, bcap, &got);
				if (rc == TBW_ECORRUPT || rc == TBW_ENOTFOUND) {
					(*ncorrupt)++;
					continue;
				}
				if (rc) {
					tbw__free(body);
					return rc;
				}
				nr.body = body;
				nr.body_len = got;
			}
			(*nread)++;
			if (fn(ctx, &nr)) {
				*stopped = 1;
				tbw__free(body);
				return TBW_OK;
			}
		}
		if (inf.end || inf.next_after == after) {
			tbw__free(body);
			return TBW_OK;
		}
		after = inf.next_after;
	}
}

/* A leaf node seen by the raw scan. */
typedef struct rawscan {
	srec *recs;
	size_t nrec, caprec;
	stag *tags;                 /* by id */
	uint32_t captag;
	uint64_t pruned;
	tbw_jinfo *info;
	int have_runid;
	uint64_t nbad;              /* record-shaped nodes failing their CRC */
	int fd;                     /* data.mdb, kept open to read event bodies again */
	uint8_t *vbuf;              /* one event record's value */
	size_t vcap;
} rawscan;

/* voff: where data starts in data.mdb (event records are read again from
 * there when delivered, one at a time). */
static int raw_node(rawscan *s, const uint8_t *key, size_t ks, const uint8_t *data, size_t ds,
                    uint64_t voff)
{
	if (ks == 8 && ds >= 32 && ds <= TBW_JREC_VAL_SIZE + TBW_JOURNAL_BODY_MAX) {
		tbw_jrec r;
		uint32_t cnt;
		if (tbw__jrec_decode_entry(key, ks, data, ds, &r, &cnt) != 0) {
			s->nbad++;
			return 0;
		}
		/* a step record: each of its records, at its own sequence */
		for (uint32_t i = 0; i < cnt; i++) {
			if (s->nrec == s->caprec) {
				size_t nc = s->caprec ? s->caprec * 2 : 1024;
				srec *nr = tbw__realloc(s->recs, nc * sizeof *nr);
				if (!nr)
					return -1;
				s->recs = nr;
				s->caprec = nc;
			}
			s->recs[s->nrec].voff = voff;
			if (i == 0)
				s->recs[s->nrec++].r = r;
			else
				tbw__jrec_nth(data, &r, i, &s->recs[s->nrec++].r);
		}
		return 0;
	}
	if (ks == 4 && ds >= 5) {
		uint32_t id;
		const char *nm;
		size_t n;
		if (tbw__jtag_decode(key, ks, data, ds, &id, &nm, &n) != 0 || id >= (1u << 24))
			return 0;
		if (id >= s->captag) {
			uint32_t nc = s->captag ? s->captag : 64;
			while (nc <= id)
				nc *= 2;
			stag *nt = tbw__realloc(s->tags, nc * sizeof *nt);
			if (!nt)
				return -1;
			memset(nt + s->captag, 0, (nc - s->captag) * sizeof *nt);
			s->tags = nt;
			s->captag = nc;
		}
		if (!s->tags[id].name) {
			s->tags[id].name = tbw__malloc(n + 1);
			if (!s->tags[id].name)
				return -1;
			memcpy(s->tags[id].name, nm, n);
			s->tags[id].name[n] = 0;
			s->tags[id].len = n;
		}
		return 0;
	}
	/* meta entries: string keys, value = payload || crc(key || payload) */
	if (ks > 0 && ks < 32 && ds >= 4) {
		size_t n = ds - 4;
		if (tbw__get_be32(data + n) != tbw__jcrc2(key, ks, data, n))
			return 0;
		if (ks == 6 && !memcmp(key, "run_id", 6) && n == 16 && s->info) {
			memcpy(s->info->run_id, data, 16);
			tbw__runid_hex(s->info->run_id_hex, data);
			s->have_runid = 1;
		} else if (ks == 14 && !memcmp(key, "pruned_through", 14) && n == 8) {
			uint64_t p = tbw__get_be64(data);
			if (p > s->pruned)
				s->pruned = p;
		} else if (s->info && ks == 7 && !memcmp(key, "created", 7) && n == 8) {
			s->info->created = tbw__bits_f64(tbw__get_be64(data));
		} else if (s->info && ks == 4 && !memcmp(key, "host", 4) && n < sizeof s->info->host) {
			memcpy(s->info->host, data, n);
			s->info->host[n] = 0;
		} else if (s->info && ks == 6 && !memcmp(key, "logdir", 6) && n < sizeof s->info->logdir) {
			memcpy(s->info->logdir, data, n);
			s->info->logdir[n] = 0;
		} else if (s->info && ks == 6 && !memcmp(key, "format", 6) && n == 4) {
			s->info->format = tbw__get_be32(data);
		}
	}
	return 0;
}

/* Scan every page of data.mdb for leaf nodes (LMDB 0.9 page layout: a
 * 16-byte header pgno/pad/flags/lower/upper, then u16 node offsets; a node
 * is lo/hi data size, flags, key size, key, data). */
static int raw_scan(const char *dir, rawscan *s)
{
	char *path = tbw__path_join(dir, "data.mdb");
	uint8_t *page = NULL;
	size_t psize = 4096, got;
	off_t off;
	int fd, rc;

	if (!path)
		return tbw__error_set(TBW_ENOMEM, "journal salvage", dir, "out of memory");
	rc = tbw__open(&fd, path, O_RDONLY | O_NONBLOCK, 0, "journal salvage");  /* a FIFO must not hang */
	if (rc) {
		tbw__free(path);
		return rc;
	}
	{
		uint8_t hdr[64];
		if (tbw__pread_full(fd, hdr, sizeof hdr, 0, &got, "journal salvage", path) == 0 && got == sizeof hdr) {
			uint32_t magic, ps;
			memcpy(&magic, hdr + 16, 4);
			memcpy(&ps, hdr + 40, 4);
			if (magic == 0xBEEFC0DEu && ps >= 512 && ps <= 65536 && (ps & (ps - 1)) == 0)
				psize = ps;
		}
	}
	page = tbw__malloc(psize);
	if (!page) {
		tbw__close(fd, "journal salvage", path);
		tbw__free(path);
		return tbw__error_set(TBW_ENOMEM, "journal salvage", dir, "out of memory");
	}
	for (off = 0;; off += (off_t)psize) {
		rc = tbw__pread_full(fd, page, psize, off, &got, "journal salvage", path);
		if (rc || got < psize)
			break;
		uint16_t flags, lower, upper;
		memcpy(&flags, page + 10, 2);
		memcpy(&lower, page + 12, 2);
		memcpy(&upper, page + 14, 2);
		if ((flags & 0x7f) != 0x02 || lower < 16 || lower > psize || upper > psize || lower > upper)
			continue; /* only plain leaf pages */
		for (size_t i = 0; i < (size_t)(lower - 16) / 2; i++) {
			uint16_t noff, lo, hi, nf, ks;
			memcpy(&noff, page + 16 + 2 * i, 2);
			if (noff < upper || (size_t)noff + 8 > psize)
				continue;
			memcpy(&lo, page + noff, 2);
			memcpy(&hi, page + noff + 2, 2);
			memcpy(&nf, page + noff + 4, 2);
			memcpy(&ks, page + noff + 6, 2);
			size_t ds = (size_t)lo | ((size_t)hi << 16);
			if (nf == 1 && ks == 8 && (size_t)noff + 16 + 8 <= psize && ds > TBW_JREC_VAL_SIZE &&
			    ds <= TBW_JREC_VAL_SIZE + TBW_JOURNAL_BODY_MAX) {
				/* F_BIGDATA: an event record on overflow pages; the node
				 * holds their first page number. Read it whole (one at a
				 * time) to check its CRC. */
				uint64_t pg, voff;
				size_t vgot = 0;
				memcpy(&pg, page + noff + 8 + 8, 8);
				if (pg == 0 || pg > ((uint64_t)1 << 40) / psize)
					continue;
				voff = pg * psize + 16;
				if (ds > s->vcap) {
					uint8_t *nb = tbw__realloc(s->vbuf, ds);
					if (!nb) {
						rc = tbw__error_set(TBW_ENOMEM, "journal salvage", dir, "out of memory");
						goto out;
					}
					s->vbuf = nb;
					s->vcap = ds;
				}
				if (tbw__pread_full(fd, s->vbuf, ds, (off_t)voff, &vgot, "journal salvage", path) != 0 ||
				    vgot != ds)
					continue;
				if (raw_node(s, page + noff + 8, ks, s->vbuf, ds, voff) != 0) {
					rc = tbw__error_set(TBW_ENOMEM, "journal salvage", dir, "out of memory");
					goto out;
				}
				continue;
			}
			if (nf != 0 || (size_t)noff + 8 + ks + ds > psize)
				continue;
			if (raw_node(s, page + noff + 8, ks, page + noff + 8 + ks, ds,
			             (uint64_t)off + noff + 8 + ks) != 0) {
				rc = tbw__error_set(TBW_ENOMEM, "journal salvage", dir, "out of memory");
				goto out;
			}
		}
	}
out:
	tbw__free(page);
	if (rc == 0 && s->nrec) {
		s->fd = fd;     /* raw_body reads event bodies again */
	} else {
		tbw__close(fd, "journal salvage", path);
	}
	tbw__free(path);
	return rc;
}

/* Deliver event record i of the scan: read its value again from data.mdb
 * into s->vbuf and check it (the page may have been reused since: then it
 * is skipped as damage unless another copy is intact). */
static int raw_body(rawscan *s, const char *dir, size_t i, tbw_jrec_named *n)
{
	const srec *sr = &s->recs[i];
	size_t ds = TBW_JREC_VAL_SIZE + sr->r.body_len, got = 0;
	uint8_t kb[8];
	tbw_jrec r;

	if (s->fd < 0)
		return -1;
	if (ds > s->vcap) {
		uint8_t *nb = tbw__realloc(s->vbuf, ds);
		if (!nb)
			return -1;
		s->vbuf = nb;
		s->vcap = ds;
	}
	if (tbw__pread_full(s->fd, s->vbuf, ds, (off_t)sr->voff, &got, "journal salvage", dir) != 0 || got != ds)
		return -1;
	tbw__put_be64(kb, sr->r.seq);
	if (tbw__jrec_decode(kb, 8, s->vbuf, ds, &r) != 0)
		return -1;
	n->body = s->vbuf + TBW_JEV_HDR;
	n->body_len = r.body_len;
	return 0;
}

static int raw_salvage(const char *dir, tbw_jsalvage_fn fn, void *ctx,
                       uint64_t *nread, uint64_t *ncorrupt, tbw_jinfo *info);

int tbw__journal_salvage(const char *dir, tbw_jsalvage_fn fn, void *ctx,
                         uint64_t *nread, uint64_t *ncorrupt, tbw_jinfo *info)
{
	tbw_journal *j = NULL;
	tbw_jopen cfg = TBW_JOPEN_INIT;
	uint64_t nr = 0, nc = 0;
	int rc, stopped = 0;

	if (nread)
		*nread = 0;
	if (ncorrupt)
		*ncorrupt = 0;
	if (info)
		memset(info, 0, sizeof *info);
	cfg.read_only = 1;
	rc = tbw__journal_open(&j, dir, &cfg);
	if (rc == TBW_ENOTFOUND)
		return rc;
	if (rc == 0) {
		if (info)
			tbw__journal_info(j, info);
		rc = salvage_lmdb(j, fn, ctx, &nr, &nc, &stopped);
		tbw__journal_close(j);
		if (rc == 0 || stopped) {
			if (nread)
				*nread = nr;
			if (ncorrupt)
				*ncorrupt = nc;
			return TBW_OK;
		}
		if (rc != TBW_ECORRUPT && rc != TBW_EIO)
			return rc;
		/* The tree is damaged: scan the pages instead. Records already
		 * passed to fn are passed again; callers dedupe by sequence. */
	}
	return raw_salvage(dir, fn, ctx, nread, ncorrupt, info);
}

/* The raw page scan of data.mdb and the delivery of what it found, sorted
 * and deduplicated by sequence (salvage's fallback when LMDB fails). */
static int raw_salvage(const char *dir, tbw_jsalvage_fn fn, void *ctx,
                       uint64_t *nread, uint64_t *ncorrupt, tbw_jinfo *info)
{
	uint64_t nr, nc;
	int rc;
	rawscan s;

	memset(&s, 0, sizeof s);
	s.info = info;
	s.fd = -1;
	rc = raw_scan(dir, &s);
	if (rc == 0 && info && !s.have_runid)
		rc = tbw__error_set(TBW_ECORRUPT, "journal salvage", dir,
		                    "LMDB cannot open the journal and no intact run id was found in data.mdb");
	if (rc == 0) {
		if (s.nrec > 1)     /* qsort's base must not be NULL, even for 0 items */
			qsort(s.recs, s.nrec, sizeof *s.recs, srec_cmp);
		nr = 0;
		nc = s.nbad;
		for (size_t i = 0; i < s.nrec; i++) {
			const tbw_jrec *r = &s.recs[i].r;
			tbw_jrec_named n;
			if (i > 0 && s.recs[i - 1].r.seq == r->seq)
				continue; /* an older copy of the same record (COW) */
			if (r->seq <= s.pruned)
				continue; /* pruned: its page was freed, not wiped */
			n.seq = r->seq;
			n.wall_time = r->wall_time;
			n.step = r->step;
			n.value = r->value;
			n.tag = NULL;
			n.tag_len = 0;
			n.body = NULL;
			n.body_len = 0;
			if (r->body_len) {
				/* an event record: its body is read again from data.mdb */
				if (raw_body(&s, dir, i, &n) != 0) {
					nc++;
					continue;
				}
			}
			if (r->tag_id != TBW_JTAG_SESSION_START && r->tag_id != TBW_JTAG_NONE) {
				if (r->tag_id >= s.captag || !s.tags[r->tag_id].name) {
					nc++;
					continue;
				}
				n.tag = s.tags[r->tag_id].name;
				n.tag_len = s.tags[r->tag_id].len;
			}
			nr++;
			if (fn(ctx, &n))
				break;
		}
		if (nread)
			*nread = nr;
		if (ncorrupt)
			*ncorrupt = nc;
	}
	for (uint32_t i = 0; i < s.captag; i++)
		tbw__free(s.tags[i].name);
	if (s.fd >= 0)
		tbw__os.close(s.fd);
	tbw__free(s.vbuf);
	tbw__free(s.tags);
	tbw__free(s.recs);
	return rc;
}

/* Tests (fuzzing) only: the raw page scan alone, without LMDB. */
int tbw__journal_salvage_raw(const char *dir, tbw_jsalvage_fn fn, void *ctx,
                             uint64_t *nread, uint64_t *ncorrupt, tbw_jinfo *info)
{
	if (nread)
		*nread = 0;
	if (ncorrupt)
		*ncorrupt = 0;
	if (info)
		memset(info, 0, sizeof *info);
	return raw_salvage(dir, fn, ctx, nread, ncorrupt, info);
}
