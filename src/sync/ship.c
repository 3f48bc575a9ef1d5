/* ship.c -- the syncer: ship journal records to a sync folder (a Drive mount)
 * as immutable segments (merging is merge.c, restore restore.c, the run
 * folder's helpers folder.c).
 *
 * PROTOCOL (each step crash-safe; see tests/test_crash_sync.c)
 *  1. Read records with seq > ship cursor (short read txns, TBW_SYNC_BATCH
 *     at a time).
 *  2. Encode a level-0 segment; write .tmp-<name>-<pid>, fsync, rename to
 *     <name>, fsync the directory.
 *  3. Advance the ship cursor to the last seq read, in one write txn.
 *  A crash before 3 re-ships the range: same name, same bytes (encoding is
 *  deterministic), or an overlapping range; restore deduplicates by seq.
 *  Merge: write the merged segment as in 2, then unlink its inputs, then
 *  fsync the directory. A crash in between leaves overlapping files.
 *
 * Nothing in the folder is appended to or rewritten in place; no mmap,
 * locks or sparse files there (it is a FUSE mount). Format of the files:
 * doc/segment-format.md.
 */
#include "config.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "base/alloc.h"
#include "base/bytes.h"
#include "base/error.h"
#include "base/os.h"
#include "format/segment.h"
#include "sync/sync_folder.h"
#include "sync/syncer.h"

/* ---- Open ---- */

/* A sync folder under Colab's Drive mount point while Drive is not mounted
 * there: every file would silently land on the VM's own disk and die with
 * it. The mount point and the mount table can be replaced for tests
 * (TBW_DRIVE_ROOT, TBW_MOUNTS_FILE). An unreadable mount table is not a
 * reason to refuse. */
int tbw__sync_check_dir(const char *sync_dir)
{
	const char *root = getenv("TBW_DRIVE_ROOT");
	const char *mounts = getenv("TBW_MOUNTS_FILE");
	char line[8192];
	size_t rl;
	FILE *f;
	int mounted = 0;

	if (!root || !*root)
		root = "/content/drive";
	if (!mounts || !*mounts)
		mounts = "/proc/self/mounts";
	rl = strlen(root);
	while (rl > 1 && root[rl - 1] == '/')
		rl--;
	if (strncmp(sync_dir, root, rl) != 0 || (sync_dir[rl] != '/' && sync_dir[rl] != '\0'))
		return TBW_OK;
	if (!(f = fopen(mounts, "re")))
		return TBW_OK;
	while (!mounted && fgets(line, sizeof line, f)) {
		char mp[4096];
		size_t o = 0;
		const char *p = strchr(line, ' ');
		if (!p)
			continue;
		/* The mount point, with the table's octal escapes (\040 ...) undone. */
		for (p++; *p && *p != ' ' && o + 1 < sizeof mp; p++) {
			if (p[0] == '\\' && p[1] >= '0' && p[1] <= '3' && p[2] >= '0' && p[2] <= '7' &&
			    p[3] >= '0' && p[3] <= '7') {
				mp[o++] = (char)((p[1] - '0') * 64 + (p[2] - '0') * 8 + (p[3] - '0'));
				p += 3;
			} else {
				mp[o++] = *p;
			}
		}
		mp[o] = '\0';
		/* Drive (or anything) mounted at the root or under it, on the
		 * way to sync_dir. */
		size_t ml = strlen(mp);
		if (ml >= rl && strncmp(mp, root, rl) == 0 && (mp[rl] == '\0' || mp[rl] == '/') &&
		    strncmp(sync_dir, mp, ml) == 0 && (sync_dir[ml] == '/' || sync_dir[ml] == '\0'))
			mounted = 1;
	}
	fclose(f);
	if (mounted)
		return TBW_OK;
	return tbw__error_set(TBW_ENOTFOUND, OP_OPEN, sync_dir,
	                      "the sync folder is under %.*s (Google Drive) but Drive is not mounted "
	                      "there: mount it first (from google.colab import drive; drive.mount('%.*s')), "
	                      "else the segments would go to this machine's local disk",
	                      (int)rl, root, (int)rl, root);
}

static int write_meta(tbw_syncer *s, const char *run_name, const tbw_jinfo *info)
{
	char name_j[300], host_j[600], base_j[600], hexid[33], text[2048];
	char *path;
	uint8_t *old = NULL;
	size_t oldlen = 0;
	const char *why;
	int rc, n;

	tbw__runid_hex(hexid, s->run_id);
	tbw__sync_json_str(name_j, sizeof name_j, run_name);
	tbw__sync_json_str(host_j, sizeof host_j, info->host);
	tbw__sync_json_str(base_j, sizeof base_j, tbw__sync_base_name(info->logdir));
	n = snprintf(text, sizeof text,
	             "{\"format\": \"tbwal-sync\", \"version\": 1, \"run_name\": %s, "
	             "\"run_id\": \"%s\", \"host\": %s, \"logdir_basename\": %s, "
	             "\"created\": %.6f, \"generation\": %u}\n",
	             name_j, hexid, host_j, base_j, info->created, (unsigned)s->gen);
	path = tbw__path_join(s->run_dir, META_NAME);
	if (!path)
		return tbw__error_set(TBW_ENOMEM, OP_OPEN, s->run_dir, "out of memory");
	/* Rewrite only when it differs: every rewrite is a new upload on Drive. */
	if (tbw__sync_read_file_bounded(path, 65536, &old, &oldlen, &why, OP_OPEN) == TBW_OK &&
	    oldlen == (size_t)n && memcmp(old, text, (size_t)n) == 0)
		rc = TBW_OK;
	else
		rc = tbw__replace_file(path, text, (size_t)n, OP_OPEN);
	tbw__free(old);
	tbw__free(path);
	return rc;
}

/* List the run folder: drop our stale temp files, learn the segments. */
static int scan_folder(tbw_syncer *s)
{
	DIR *d = opendir(s->run_dir);
	struct dirent *de;
	int rc = TBW_OK;

	if (!d)
		return tbw__error_errno(errno, OP_OPEN, s->run_dir);
	while (rc == TBW_OK && (de = readdir(d)) != NULL) {
		seg_ent e;
		memset(&e, 0, sizeof e);
		if (strncmp(de->d_name, TMP_PREFIX, strlen(TMP_PREFIX)) == 0 ||
		    strncmp(de->d_name, META_TMP, strlen(META_TMP)) == 0) {
			char *p = tbw__path_join(s->run_dir, de->d_name);
			if (!p) {
				rc = tbw__error_set(TBW_ENOMEM, OP_OPEN, s->run_dir, "out of memory");
				break;
			}
			rc = tbw__unlink(p, OP_OPEN);
			tbw__free(p);
			continue;
		}
		uint32_t egen;
		if (!tbw__seg_parse_name_gen(de->d_name, &e.first, &e.last, &e.level, &egen) ||
		    egen != s->gen)
			continue;   /* another generation's segments are never merged with ours */
		/* Read the header only: enough to plan merges. */
		char *p = tbw__path_join(s->run_dir, de->d_name);
		uint8_t hb[TBW_SEG_HEADER_SIZE];
		size_t got = 0;
		int fd;
		tbw_seg_header h;
		if (!p) {
			rc = tbw__error_set(TBW_ENOMEM, OP_OPEN, s->run_dir, "out of memory");
			break;
		}
		e.bad = 1;
		if (tbw__open(&fd, p, O_RDONLY | O_NOFOLLOW | O_NONBLOCK, 0, OP_OPEN) == TBW_OK) {
			if (tbw__pread_full(fd, hb, sizeof hb, 0, &got, OP_OPEN, p) == TBW_OK &&
			    tbw__seg_read_header(hb, got, &h, NULL) == TBW_OK &&
			    memcmp(h.run_id, s->run_id, 16) == 0 && h.first_seq == e.first &&
			    h.last_seq == e.last && h.level == e.level) {
				e.bad = 0;
				e.count = h.count;
				e.raw = h.raw_size;
				e.blocks = h.nblocks ? h.nblocks : 1;
			}
			tbw__os.close(fd);
		}
		tbw__free(p);
		if (e.bad)
			s->st.unmergeable++;
		if (s->nents == s->capents) {
			size_t nc = s->capents ? s->capents * 2 : 64;
			seg_ent *ne = tbw__realloc(s->ents, nc * sizeof *ne);
			if (!ne) {
				rc = tbw__error_set(TBW_ENOMEM, OP_OPEN, s->run_dir, "out of memory");
				break;
			}
			s->ents = ne;
			s->capents = nc;
		}
		s->ents[s->nents++] = e;
	}
	closedir(d);
	if (rc == TBW_OK && s->nents)
		qsort(s->ents, s->nents, sizeof *s->ents, tbw__sync_ent_qcmp);
	if (rc == TBW_OK)
		rc = tbw__fsync_dir(s->run_dir, 1, OP_OPEN);
	return rc;
}

int tbw__syncer_open(tbw_syncer **out, tbw_journal *j, const char *sync_dir,
                     const char *run_name, int wait_lock)
{
	tbw_syncer *s;
	tbw_jinfo *info = NULL;
	char name[128], hexid[33], *leaf = NULL;
	struct stat st;
	uint64_t ship = 0;
	int present = 0, rc, locked = 0;

	*out = NULL;
	if (!sync_dir || !*sync_dir)
		return tbw__error_set(TBW_EINVAL, OP_OPEN, NULL, "no sync folder given");
	if ((rc = tbw__sync_check_dir(sync_dir)) != TBW_OK)
		return rc;
	s = tbw__calloc(1, sizeof *s);
	info = tbw__calloc(1, sizeof *info);
	if (!s || !info) {
		rc = tbw__error_set(TBW_ENOMEM, OP_OPEN, sync_dir, "out of memory");
		goto fail;
	}
	s->j = j;
	rc = tbw__journal_lock(j, TBW_JROLE_SYNCER, wait_lock);
	if (rc)
		goto fail;
	locked = 1;
	rc = tbw__journal_info(j, info);
	if (rc)
		goto fail;
	memcpy(s->run_id, info->run_id, 16);
	tbw__sync_sanitize_name(name, sizeof name, run_name ? run_name : tbw__sync_base_name(info->logdir));
	tbw__runid_hex(hexid, s->run_id);
	leaf = tbw__malloc(strlen(name) + 34);
	if (!leaf) {
		rc = tbw__error_set(TBW_ENOMEM, OP_OPEN, sync_dir, "out of memory");
		goto fail;
	}
	sprintf(leaf, "%s-%s", name, hexid);
	s->run_dir = tbw__path_join(sync_dir, leaf);
	if (!s->run_dir) {
		rc = tbw__error_set(TBW_ENOMEM, OP_OPEN, sync_dir, "out of memory");
		goto fail;
	}
	rc = tbw__mkdir_p(s->run_dir, OP_OPEN);
	if (rc)
		goto fail;
	/* The folder may be shared: never follow a symlink planted as our run dir. */
	if (lstat(s->run_dir, &st) < 0) {
		rc = tbw__error_errno(errno, OP_OPEN, s->run_dir);
		goto fail;
	}
	if (!S_ISDIR(st.st_mode)) {
		rc = tbw__error_set(TBW_EINVAL, OP_OPEN, s->run_dir, "not a directory (a symlink?)");
		goto fail;
	}
	rc = tbw__fsync_dir(s->run_dir, 0, OP_OPEN);
	if (rc)
		goto fail;
	/* Attach the ship cursor: from now on the compactor prunes only what
	 * reached the folder. */
	rc = tbw__journal_get_ship(j, &ship, &present);
	if (rc == TBW_OK && !present) {
		/* First attach: what the compactor already pruned can never be
		 * shipped. Say how much, so tools can warn. */
		uint64_t first = 0, last = 0;
		if (tbw__journal_first_seq(j, &first) == TBW_OK && tbw__journal_last_seq(j, &last) == TBW_OK)
			s->st.unshippable = first ? first - 1 : last;
		rc = tbw__journal_set_ship(j, 0);
	}
	if (rc)
		goto fail;
	s->ship = ship;
	s->st.ship_seq = ship;
	/* Generation: ours if run.json names this journal; a new one if the
	 * folder was another journal's (a resumed or recovered run), so the two
	 * never write the same names and restore keeps one history. */
	{
		char host_j[600], created[64];
		runmeta m;
		int any = 0;
		uint32_t maxg;
		tbw__sync_json_str(host_j, sizeof host_j, info->host);
		snprintf(created, sizeof created, "%.6f", info->created);
		snprintf(s->ident, sizeof s->ident, "%s %s", host_j, created);
		if ((rc = tbw__sync_read_meta(s->run_dir, &m)) < 0)
			goto fail;    /* never start a generation over a run.json we could not read */
		maxg = tbw__sync_max_generation(s->run_dir, &any);
		if (m.present && strcmp(m.ident, s->ident) == 0)
			s->gen = m.generation;
		else if (!m.present && !any)
			s->gen = 0;
		else
			s->gen = (m.generation > maxg ? m.generation : maxg) + 1;
		if (s->gen > TBW_SEG_MAX_GENERATION)
			s->gen = TBW_SEG_MAX_GENERATION;
		if (maxg > s->gen) {
			rc = tbw__error_set(TBW_EBUSY, OP_OPEN, s->run_dir,
			                    "generation %u ships this run; this journal's is %u",
			                    (unsigned)maxg, (unsigned)s->gen);
			goto fail;
		}
	}
	rc = scan_folder(s);
	if (rc == TBW_OK)
		rc = write_meta(s, name, info);
	if (rc)
		goto fail;
	s->batch = tbw__malloc(TBW_SYNC_BATCH * sizeof *s->batch);
	s->srecs = tbw__malloc(TBW_SYNC_BATCH * sizeof *s->srecs);
	if (!s->batch || !s->srecs) {
		rc = tbw__error_set(TBW_ENOMEM, OP_OPEN, sync_dir, "out of memory");
		goto fail;
	}
	s->st.files = (uint32_t)s->nents;
	tbw__free(info);
	tbw__free(leaf);
	*out = s;
	return TBW_OK;
fail:
	if (locked)
		tbw__journal_unlock(j, TBW_JROLE_SYNCER);
	if (s) {
		tbw__free(s->run_dir);
		tbw__free(s->ents);
		tbw__free(s->batch);
		tbw__free(s->srecs);
		tbw__free(s);
	}
	tbw__free(info);
	tbw__free(leaf);
	return rc;
}

const char *tbw__syncer_run_dir(const tbw_syncer *s)
{
	return s->run_dir;
}

void tbw__syncer_stats(const tbw_syncer *s, tbw_sync_stats *out)
{
	*out = s->st;
	out->files = (uint32_t)s->nents;
}

void tbw__syncer_close(tbw_syncer *s)
{
	if (!s)
		return;
	tbw__journal_unlock(s->j, TBW_JROLE_SYNCER);
	tbw__free(s->run_dir);
	tbw__free(s->ents);
	tbw__free(s->batch);
	tbw__free(s->srecs);
	tbw__free(s->bodies);
	tbw__free(s);
}

/* ---- Shipping ---- */

typedef struct tagmap {
	uint32_t id;
	uint32_t idx;  /* 1-based index into the segment's tag array */
} tagmap;

static int tagmap_cmp(const void *a, const void *b)
{
	uint32_t x = ((const tagmap *)a)->id, y = ((const tagmap *)b)->id;
	return x < y ? -1 : x > y;
}

/* Event bodies gathered for one level-0 segment: a new segment starts
 * once this many bytes are in (one record may go past it). Segments of
 * events stay small, so merges and restores hold little in memory. */
#define SHIP_EVENT_BYTES ((uint64_t)8 << 20)

/* Ship batch[0..n) as one level-0 segment. */
static int ship_batch(tbw_syncer *s, const tbw_jrec *batch, size_t n, size_t *nout)
{
	tagmap *tm = tbw__malloc((n ? n : 1) * sizeof *tm);
	tbw_seg_tag *tags = tbw__malloc((n ? n : 1) * sizeof *tags);
	size_t ntm = 0, m = 0;
	uint8_t *file = NULL;
	size_t flen = 0;
	int rc = TBW_OK;

	*nout = 0;
	if (!tm || !tags) {
		rc = tbw__error_set(TBW_ENOMEM, OP_PASS, s->run_dir, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		if (batch[i].tag_id != TBW_JTAG_SESSION_START && batch[i].tag_id != TBW_JTAG_NONE)
			tm[ntm++].id = batch[i].tag_id;
	{
		/* room for every event body, read one by one below */
		uint64_t need = 0;
		for (size_t i = 0; i < n; i++)
			need += batch[i].body_len;
		if (need > s->bodies_cap) {
			uint8_t *nb = tbw__realloc(s->bodies, (size_t)need);
			if (!nb) {
				rc = tbw__error_set(TBW_ENOMEM, OP_PASS, s->run_dir, "out of memory");
				goto out;
			}
			s->bodies = nb;
			s->bodies_cap = (size_t)need;
		}
	}
	qsort(tm, ntm, sizeof *tm, tagmap_cmp);
	{
		size_t u = 0;
		for (size_t i = 0; i < ntm; i++)
			if (u == 0 || tm[u - 1].id != tm[i].id)
				tm[u++] = tm[i];
		ntm = u;
	}
	for (size_t i = 0; i < ntm; i++) {
		const char *nm = NULL;
		size_t len = 0;
		if (tbw__journal_tag_name(s->j, tm[i].id, &nm, &len) != TBW_OK ||
		    !tbw__seg_tag_ok(nm, len)) {
			tm[i].idx = 0;  /* unreadable tag: its records cannot be shipped */
			continue;
		}
		tags[m].name = nm;
		tags[m].len = len;
		tm[i].idx = (uint32_t)++m;
	}
	size_t k = 0, boff = 0;
	for (size_t i = 0; i < n; i++) {
		const tbw_jrec *r = &batch[i];
		uint32_t idx = TBW_SEG_TAG_START;   /* for an event record: no tag */
		s->srecs[k].body = NULL;
		s->srecs[k].body_len = 0;
		if (r->body_len) {
			size_t got = 0;
			int brc = tbw__journal_read_body(s->j, r->seq, s->bodies + boff, s->bodies_cap - boff, &got);
			if (brc == TBW_ECORRUPT || brc == TBW_ENOTFOUND)
				continue;   /* damaged: cannot be shipped, like an unreadable tag */
			if (brc) {
				rc = brc;
				goto out;
			}
			s->srecs[k].body = s->bodies + boff;
			s->srecs[k].body_len = (uint32_t)got;
			boff += got;
		}
		if (r->tag_id != TBW_JTAG_SESSION_START && r->tag_id != TBW_JTAG_NONE) {
			tagmap key = { r->tag_id, 0 };
			tagmap *f = bsearch(&key, tm, ntm, sizeof *tm, tagmap_cmp);
			if (!f || !f->idx)
				continue;
			idx = f->idx;
		}
		s->srecs[k].seq = r->seq;
		s->srecs[k].wall_time = r->wall_time;
		s->srecs[k].step = r->step;
		s->srecs[k].value = r->value;
		s->srecs[k].tag = idx;
		k++;
	}
	if (k) {
		char name[TBW_SEG_NAME_MAX];
		seg_ent e;
		rc = tbw__seg_encode(s->run_id, 0, s->srecs, k, tags, m, &file, &flen);
		if (rc)
			goto out;
		tbw__seg_name_gen(name, s->srecs[0].seq, s->srecs[k - 1].seq, 0, s->gen);
		rc = tbw__sync_write_durable(s, name, file, flen, OP_PASS);
		if (rc)
			goto out;
		memset(&e, 0, sizeof e);
		e.first = s->srecs[0].seq;
		e.last = s->srecs[k - 1].seq;
		e.level = 0;
		e.count = k;
		e.raw = flen; /* an upper bound would do; refined below */
		e.blocks = k;
		{
			tbw_seg_header h;
			if (tbw__seg_read_header(file, flen, &h, NULL) == TBW_OK) {
				e.raw = h.raw_size;
				e.blocks = h.nblocks ? h.nblocks : 1;
			}
		}
		if (tbw__sync_ent_add(s, &e) != TBW_OK) {
			rc = tbw__error_set(TBW_ENOMEM, OP_PASS, s->run_dir, "out of memory");
			goto out;
		}
		s->st.segments_written++;
	}
	*nout = k;
out:
	tbw__free(file);
	tbw__free(tm);
	tbw__free(tags);
	return rc;
}

void tbw__syncer_set_progress(tbw_syncer *s, tbw_sync_progress_fn fn, void *ctx)
{
	s->progress = fn;
	s->progress_ctx = ctx;
}

int tbw__syncer_pass(tbw_syncer *s, uint64_t *nshipped)
{
	uint64_t until = 0, cursor = s->ship, start = s->ship, shipped = 0;
	int rc, backlog;

	if (nshipped)
		*nshipped = 0;
	rc = tbw__sync_check_superseded(s, OP_PASS);
	if (rc)
		return rc;
	rc = tbw__journal_last_seq(s->j, &until);
	if (rc)
		return rc;
	backlog = s->progress && until > start && until - start > TBW_SYNC_BATCH;
	while (cursor < until) {
		tbw_jread info;
		size_t k = 0;
		memset(&info, 0, sizeof info);
		rc = tbw__journal_read(s->j, cursor, s->batch, TBW_SYNC_BATCH, &info);
		if (rc)
			return rc;
		if (info.n == 0 && info.next_after <= cursor)
			break;
		for (size_t i0 = 0, i1; i0 < info.n; i0 = i1) {
			/* cut where the event bodies pass SHIP_EVENT_BYTES, or
			 * the blocks half a segment's cap (records of alternating
			 * kinds: so merges can still join two) */
			uint64_t bytes = 0;
			tbw_seg_blockcount bc = { 0, 0, 0, 0 };
			size_t kk = 0;
			for (i1 = i0; i1 < info.n; i1++) {
				if (i1 > i0 && s->batch[i1].body_len && bytes + s->batch[i1].body_len > SHIP_EVENT_BYTES)
					break;
				if (tbw__seg_blockcount_add(&bc, s->batch[i1].body_len) && bc.blocks > TBW_SEG_MAX_BLOCKS / 2)
					break;
				bytes += s->batch[i1].body_len;
			}
			rc = ship_batch(s, s->batch + i0, i1 - i0, &kk);
			if (rc)
				return rc;
			k += kk;
			if (i1 < info.n) {
				/* this segment is in place: the cursor may move to it */
				rc = tbw__journal_set_ship(s->j, s->batch[i1 - 1].seq);
				if (rc)
					return rc;
				s->ship = s->batch[i1 - 1].seq;
				s->st.ship_seq = s->ship;
			}
		}
		/* The segment is in place: now, and only now, the cursor moves
		 * (past skipped damaged records too, so they do not pin the
		 * journal forever). */
		if (info.next_after > cursor) {
			rc = tbw__journal_set_ship(s->j, info.next_after);
			if (rc)
				return rc;
			cursor = info.next_after;
			s->ship = cursor;
			s->st.ship_seq = cursor;
		}
		shipped += k;
		if (backlog)   /* info.end: nothing is left before until */
			s->progress(s->progress_ctx, "shipping",
			            info.end || cursor >= until ? until - start : cursor - start, until - start);
		if (info.end)
			break;
	}
	s->st.passes++;
	s->st.records_shipped += shipped;
	if (nshipped)
		*nshipped = shipped;
	rc = tbw__sync_merge_due(s);
	s->st.files = (uint32_t)s->nents;
	return rc;
}
