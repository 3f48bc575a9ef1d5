/* restore.c -- a journal from a run folder's segments (see syncer.h):
 * identity from run.json, generations, damage reported per block, records
 * deduplicated by sequence.
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

/* ---- Restore ---- */

/* Sorted, disjoint, non-adjacent closed intervals of sequence numbers. */
typedef struct ivset {
	uint64_t (*iv)[2];
	size_t n, cap;
} ivset;

static int iv_contains(const ivset *s, uint64_t x)
{
	size_t lo = 0, hi = s->n;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (s->iv[mid][1] < x)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < s->n && s->iv[lo][0] <= x;
}

/* Union with the sorted runs add[0..m): one linear merge. */
static int iv_union(ivset *s, uint64_t (*add)[2], size_t m)
{
	size_t cap = s->n + m, o = 0, i = 0, j = 0;
	uint64_t (*out)[2] = tbw__malloc((cap ? cap : 1) * sizeof *out);
	if (!out)
		return TBW_ENOMEM;
	while (i < s->n || j < m) {
		uint64_t *next;
		if (j >= m || (i < s->n && s->iv[i][0] <= add[j][0]))
			next = s->iv[i++];
		else
			next = add[j++];
		if (o && next[0] <= out[o - 1][1] + 1 && out[o - 1][1] != UINT64_MAX) {
			if (next[1] > out[o - 1][1])
				out[o - 1][1] = next[1];
		} else if (o && out[o - 1][1] == UINT64_MAX) {
			/* already covers everything above */
		} else {
			out[o][0] = next[0];
			out[o][1] = next[1];
			o++;
		}
	}
	tbw__free(s->iv);
	s->iv = out;
	s->n = o;
	s->cap = cap;
	return TBW_OK;
}

typedef struct rstate {
	const char *run_dir;
	tbw_journal *dst;
	const tbw_sync_restore_opts *o;
	tbw_sync_report *rep;
	namemap tagmap;     /* names owned by tagnames[] */
	size_t tagcap;
	ivset seen;
	uint64_t next_first; /* first seq of the next segment by name, or UINT64_MAX */
	/* restore_seg's arrays, kept from segment to segment */
	uint64_t (*runs)[2];
	size_t runs_cap;
	tbw_jrec_named *named;
} rstate;

static void report_damage(rstate *st, const char *file, uint64_t off, int in_payload,
                          int code, const char *why)
{
	st->rep->segments_bad++;
	if (st->o->on_damage)
		st->o->on_damage(st->o->ctx, file, off, in_payload, code, why);
}

#define ASIDE_DIR ".tbwal-set-aside"

/* Set a segment aside: moved into run_dir/.tbwal-set-aside/ (with dst and
 * opts->set_aside), or left in place; reported either way. */
static void set_aside(rstate *st, const char *file, uint64_t first, uint64_t last,
                      uint64_t records, const char *why)
{
	char *moved = NULL;
	st->rep->records_set_aside += records;
	if (st->dst && st->o->set_aside) {
		char *dir = tbw__path_join(st->run_dir, ASIDE_DIR);
		char *from = tbw__path_join(st->run_dir, file);
		char *to = dir ? tbw__path_join(dir, file) : NULL;
		struct stat sb;
		if (dir && from && to && (mkdir(dir, 0777) == 0 || errno == EEXIST) &&
		    lstat(dir, &sb) == 0 && S_ISDIR(sb.st_mode) &&
		    tbw__rename_durable(from, to, OP_RESTORE) == TBW_OK) {
			moved = to;
			to = NULL;
		}
		tbw__error_clear();
		tbw__free(dir);
		tbw__free(from);
		tbw__free(to);
	}
	if (st->o->on_aside)
		st->o->on_aside(st->o->ctx, file, first, last, records, moved, why);
	else if (st->o->on_damage)
		st->o->on_damage(st->o->ctx, file, 0, 0, TBW_ECORRUPT, why);
	tbw__free(moved);
}

/* A segment that decoded with lost blocks: one report per lost range. */
static void report_lost(rstate *st, const char *file, const tbw_seg *seg)
{
	st->rep->segments_bad++;
	for (size_t i = 0; i < seg->nlost; i++) {
		const tbw_seg_lost *l = &seg->lost[i];
		st->rep->blocks_lost++;
		st->rep->records_lost += l->records;
		if (st->o->on_lost) {
			st->o->on_lost(st->o->ctx, file, l);
		} else if (st->o->on_damage) {
			char why[400];
			tbw__seg_lost_describe(l, why, sizeof why);
			st->o->on_damage(st->o->ctx, file, l->offset, 0, l->code, why);
		}
	}
}

/* Per-tag "newest record" bookkeeping; the report owns NUL-terminated copies. */
/* *slot: the tag's index in the report once known (1 + index; 0: look it
 * up), so a segment looks each of its tags up once. */
static int tag_note(rstate *st, const char *name, size_t len, const tbw_seg_rec *r, int dup, long *slot)
{
	tbw_sync_report *rep = st->rep;
	long idx;
	size_t before = st->tagmap.n;

	if (*slot) {
		idx = *slot - 1;
		goto count;
	}
	/* The map's keys point at the report's own copies. */
	idx = tbw__sync_namemap_get(&st->tagmap, name, len);
	if (idx < 0)
		return TBW_ENOMEM;
	if ((size_t)idx == before) {
		char *copy = tbw__malloc(len + 1);
		if (!copy)
			return TBW_ENOMEM;
		memcpy(copy, name, len);
		copy[len] = '\0';
		if (rep->ntags == st->tagcap) {
			size_t nc = st->tagcap ? st->tagcap * 2 : 16;
			tbw_sync_tag_last *nt = tbw__realloc(rep->tags, nc * sizeof *nt);
			if (!nt) {
				tbw__free(copy);
				return TBW_ENOMEM;
			}
			rep->tags = nt;
			st->tagcap = nc;
		}
		memset(&rep->tags[rep->ntags], 0, sizeof rep->tags[0]);
		rep->tags[rep->ntags].tag = copy;
		rep->ntags++;
		tbw__sync_namemap_move(&st->tagmap, (size_t)idx, copy);
	}
	*slot = idx + 1;
count:;
	tbw_sync_tag_last *t = &rep->tags[idx];
	if (!dup)
		t->records++;
	if (r->seq > t->seq) {
		t->seq = r->seq;
		t->step = r->step;
		t->wall_time = r->wall_time;
	}
	return TBW_OK;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int tag_last_cmp(const void *a, const void *b)
{
	return strcmp(((const tbw_sync_tag_last *)a)->tag, ((const tbw_sync_tag_last *)b)->tag);
}

static void free_names(char **names, size_t nn)
{
	for (size_t i = 0; i < nn; i++)
		tbw__free(names[i]);
	tbw__free(names);
}

/* The names in run_dir that parse as segments, sorted; the folder itself
 * is opened with O_NOFOLLOW (it must not be a symlink either). */
static int list_segments(const char *run_dir, char ***out, size_t *nout, uint32_t *ignored)
{
	DIR *d;
	struct dirent *de;
	char **names = NULL;
	size_t nn = 0, cn = 0;
	int fd, rc;

	*out = NULL;
	*nout = 0;
	rc = tbw__open(&fd, run_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW, 0, OP_RESTORE);
	if (rc)
		return rc;
	d = fdopendir(fd);
	if (!d) {
		rc = tbw__error_errno(errno, OP_RESTORE, run_dir);
		tbw__os.close(fd);
		return rc;
	}
	while ((de = readdir(d)) != NULL) {
		uint64_t a, b;
		uint32_t l;
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (!tbw__seg_parse_name(de->d_name, &a, &b, &l)) {
			(*ignored)++;
			continue;
		}
		if (nn == cn) {
			size_t nc = cn ? cn * 2 : 64;
			char **nv = tbw__realloc(names, nc * sizeof *nv);
			if (!nv) {
				rc = TBW_ENOMEM;
				break;
			}
			names = nv;
			cn = nc;
		}
		if (!(names[nn] = tbw__strdup(de->d_name))) {
			rc = TBW_ENOMEM;
			break;
		}
		nn++;
	}
	closedir(d);
	if (rc) {
		free_names(names, nn);
		return tbw__error_set(TBW_ENOMEM, OP_RESTORE, run_dir, "out of memory");
	}
	if (nn)
		qsort(names, nn, sizeof *names, name_cmp);
	*out = names;
	*nout = nn;
	return TBW_OK;
}

/* Restore one decoded segment. */
static int restore_seg(rstate *st, const char *fname, const tbw_seg *seg, tbw_journal *dst)
{
	tbw_sync_report *rep = st->rep;
	uint64_t (*runs)[2];
	size_t nruns = 0;
	tbw_jrec_named *named;
	long *slot = NULL;   /* segment tag -> 1 + index in the report's tags */
	int rc = TBW_OK;
	size_t rejected = 0;

	if (st->runs_cap < seg->n) {
		tbw__free(st->runs);
		st->runs = tbw__malloc(seg->n * sizeof *st->runs);
		st->runs_cap = st->runs ? seg->n : 0;
	}
	if (!st->named)
		st->named = tbw__malloc(TBW_SYNC_BATCH * sizeof *st->named);
	runs = st->runs;
	named = st->named;
	slot = tbw__calloc(seg->ntags + 1, sizeof *slot);
	if (!runs || !named || !slot) {
		rc = tbw__error_set(TBW_ENOMEM, OP_RESTORE, fname, "out of memory");
		goto out;
	}
	/* Validate tags against the journal's rules first. */
	if (dst) {
		for (size_t t = 0; t < seg->ntags; t++)
			if (tbw__journal_check_tag(seg->tags[t].name, seg->tags[t].len, OP_RESTORE) != TBW_OK)
				rejected++;
		if (rejected) {
			report_damage(st, fname, 0, 1, TBW_ECORRUPT, "tag name refused by the journal");
			goto out;
		}
	}
	size_t fill = 0;
	for (size_t i = 0; i < seg->n; i++) {
		const tbw_seg_rec *r = &seg->recs[i];
		int dup = iv_contains(&st->seen, r->seq);
		tbw_jrec_named *jn = &named[fill];
		jn->seq = r->seq;
		jn->wall_time = r->wall_time;
		jn->step = r->step;
		jn->value = r->value;
		jn->body = r->body_len ? r->body : NULL;
		jn->body_len = r->body_len;
		if (r->body_len && r->tag == 0) {
			jn->tag = NULL;     /* an event record naming no tag */
			jn->tag_len = 0;
		} else if (r->tag == TBW_SEG_TAG_START) {
			jn->tag = NULL;
			jn->tag_len = 0;
			if (!dup)
				rep->starts++;
		} else {
			jn->tag = seg->tags[r->tag - 1].name;
			jn->tag_len = seg->tags[r->tag - 1].len;
			rc = tag_note(st, jn->tag, jn->tag_len, r, dup, &slot[r->tag - 1]);
			if (rc) {
				rc = tbw__error_set(TBW_ENOMEM, OP_RESTORE, fname, "out of memory");
				goto out;
			}
		}
		rep->records++;
		if (!dup && !dst)
			rep->records_new++;
		if (!isnan(r->wall_time) && (rep->newest_wall_time == 0 || r->wall_time > rep->newest_wall_time))
			rep->newest_wall_time = r->wall_time;
		if (nruns && runs[nruns - 1][1] + 1 == r->seq)
			runs[nruns - 1][1] = r->seq;
		else {
			runs[nruns][0] = runs[nruns][1] = r->seq;
			nruns++;
		}
		if (st->o->on_record && st->o->on_record(st->o->ctx, jn)) {
			st->rep->stopped = 1;   /* a result, not an error */
			goto out;
		}
		fill++;
		if (dst && (fill == TBW_SYNC_BATCH || i + 1 == seg->n)) {
			size_t ins = 0;
			rc = tbw__journal_insert(dst, named, fill, &ins);
			if (rc)
				goto out;
			rep->records_new += ins;
			if (st->o->on_batch) {
				uint64_t safe = r->seq < st->next_first ? r->seq : st->next_first - 1;
				if (st->o->on_batch(st->o->ctx, safe)) {
					st->rep->stopped = 1;
					goto out;
				}
			}
		}
		if (fill == TBW_SYNC_BATCH)
			fill = 0;
	}
	if (iv_union(&st->seen, runs, nruns) != TBW_OK)
		rc = tbw__error_set(TBW_ENOMEM, OP_RESTORE, fname, "out of memory");
	rep->segments_ok++;
out:
	tbw__free(slot);
	return rc;
}

/* An older generation's segment, wholly above the newest generation's
 * first record, that does not read: set aside whole (its record count from
 * its header, if that reads). */
static void set_aside_superseded(rstate *st, const char *name, uint64_t nfirst, uint64_t nlast,
                                 uint32_t ngen, uint32_t gmax, uint64_t gfirst)
{
	char why[200];
	tbw_seg_header sh;
	uint64_t recs = 0;
	char *p = tbw__path_join(st->run_dir, name);
	int fd;

	if (p && tbw__open(&fd, p, O_RDONLY | O_NOFOLLOW | O_NONBLOCK, 0, OP_RESTORE) == TBW_OK) {
		uint8_t hb[TBW_SEG_HEADER_SIZE];
		size_t got = 0;
		if (tbw__pread_full(fd, hb, sizeof hb, 0, &got, OP_RESTORE, p) == TBW_OK &&
		    tbw__seg_read_header(hb, got, &sh, NULL) == TBW_OK)
			recs = sh.count;
		tbw__os.close(fd);
	}
	tbw__error_clear();
	tbw__free(p);
	snprintf(why, sizeof why, "generation %u superseded: generation %u holds this run "
	         "from seq %llu on (resumed or recovered elsewhere)", (unsigned)ngen,
	         (unsigned)gmax, (unsigned long long)gfirst);
	st->rep->segments_superseded++;
	set_aside(st, name, nfirst, nlast, recs, why);
}

/* ---- Split brain: one history ---- */

/* Is record x of segment a the same as record y of segment b (tag, step,
 * value, wall time and body, bit for bit)? */
static int same_record(const tbw_seg *a, const tbw_seg_rec *x, const tbw_seg *b, const tbw_seg_rec *y)
{
	if (y->step != x->step || tbw__f64_bits(y->value) != tbw__f64_bits(x->value) ||
	    tbw__f64_bits(y->wall_time) != tbw__f64_bits(x->wall_time) || (y->tag == 0) != (x->tag == 0) ||
	    y->body_len != x->body_len || (x->body_len && memcmp(x->body, y->body, x->body_len) != 0))
		return 0;
	return x->tag == 0 ||
	       (a->tags[x->tag - 1].len == b->tags[y->tag - 1].len &&
	        memcmp(a->tags[x->tag - 1].name, b->tags[y->tag - 1].name, a->tags[x->tag - 1].len) == 0);
}

/* Mark (same[i] = 1) the records of seg at or above gfirst that generation
 * gmax holds identically at the same seq. Its segments are decoded one at
 * a time (memory: one more segment); one that does not read is skipped
 * (its own pass reports it). */
static int mark_identical(const char *run_dir, char **names, size_t nn, uint32_t gmax,
                          uint64_t gfirst, const tbw_seg *seg, uint8_t *same)
{
	uint64_t lo = gfirst > seg->recs[0].seq ? gfirst : seg->recs[0].seq, hi = seg->recs[seg->n - 1].seq;

	for (size_t i = 0; i < nn; i++) {
		uint64_t f, l;
		uint32_t lv, g;
		uint8_t *buf = NULL;
		size_t len = 0, k = 0;
		const char *why;
		char *path;
		tbw_seg b;
		int rc;
		if (!tbw__seg_parse_name_gen(names[i], &f, &l, &lv, &g) || g != gmax || l < lo || f > hi)
			continue;
		if (!(path = tbw__path_join(run_dir, names[i])))
			return tbw__error_set(TBW_ENOMEM, OP_RESTORE, run_dir, "out of memory");
		rc = tbw__sync_read_file_bounded(path, FILE_MAX, &buf, &len, &why, OP_RESTORE);
		tbw__free(path);
		if (rc == TBW_OK)
			rc = tbw__seg_decode(buf, len, &b, NULL);
		tbw__free(buf);
		if (rc == TBW_ENOMEM)
			return rc;
		if (rc) {
			tbw__error_clear();
			continue;
		}
		/* Both sorted by seq: one merge walk. */
		for (size_t j = 0; j < seg->n; j++) {
			const tbw_seg_rec *x = &seg->recs[j];
			if (x->seq < lo)
				continue;
			while (k < b.n && b.recs[k].seq < x->seq)
				k++;
			if (k == b.n)
				break;
			if (b.recs[k].seq == x->seq && same_record(seg, x, &b, &b.recs[k]))
				same[j] = 1;
		}
		tbw__seg_release(&b);
	}
	return TBW_OK;
}

/* An older generation's segment reaching gfirst: keep its records below
 * gfirst and those identical to the newest generation's at the same seq
 * (one history); the rest conflict. Compacts seg->recs to the kept ones;
 * *conflicts, *cfirst, *clast: how many conflict and their seq range. */
static int split_superseded(const char *run_dir, char **names, size_t nn, uint32_t gmax,
                            uint64_t gfirst, tbw_seg *seg, uint64_t *conflicts,
                            uint64_t *cfirst, uint64_t *clast)
{
	uint8_t *same = tbw__calloc(seg->n, 1);
	size_t keep = 0;
	int rc;

	*conflicts = *cfirst = *clast = 0;
	if (!same)
		return tbw__error_set(TBW_ENOMEM, OP_RESTORE, run_dir, "out of memory");
	rc = mark_identical(run_dir, names, nn, gmax, gfirst, seg, same);
	if (rc) {
		tbw__free(same);
		return rc;
	}
	for (size_t i = 0; i < seg->n; i++) {
		const tbw_seg_rec *r = &seg->recs[i];
		if (r->seq < gfirst || same[i]) {
			seg->recs[keep++] = *r;
			continue;
		}
		if (!*conflicts)
			*cfirst = r->seq;
		*clast = r->seq;
		++*conflicts;
	}
	seg->n = keep;
	tbw__free(same);
	return TBW_OK;
}

int tbw__sync_restore(const char *run_dir, tbw_journal *dst,
                      const tbw_sync_restore_opts *opts, tbw_sync_report *rep)
{
	static const tbw_sync_restore_opts none = TBW_SYNC_RESTORE_OPTS_INIT;
	rstate st;
	char **names = NULL;
	size_t nn = 0;
	int rc = TBW_OK;

	memset(rep, 0, sizeof *rep);
	memset(&st, 0, sizeof st);
	st.o = opts ? opts : &none;
	st.rep = rep;
	if (st.o->run_id) {
		memcpy(rep->run_id, st.o->run_id, 16);
		rep->have_run_id = 1;
	} else if (!dst && tbw__sync_run_id(run_dir, rep->run_id) == TBW_OK) {
		rep->have_run_id = 1;   /* the folder's own run (run.json or name) */
	} else if (dst) {
		tbw_jinfo *info = tbw__malloc(sizeof *info);
		if (!info)
			return tbw__error_set(TBW_ENOMEM, OP_RESTORE, run_dir, "out of memory");
		rc = tbw__journal_info(dst, info);
		if (rc == TBW_OK) {
			memcpy(rep->run_id, info->run_id, 16);
			rep->have_run_id = 1;
		}
		tbw__free(info);
		if (rc)
			return rc;
	}
	rc = list_segments(run_dir, &names, &nn, &rep->files_ignored);
	if (rc)
		goto out;
	st.run_dir = run_dir;
	st.dst = dst;
	/* The newest generation, and the first sequence number it holds. */
	uint32_t gmax = 0;
	uint64_t gfirst = UINT64_MAX;
	for (size_t i = 0; i < nn; i++) {
		uint64_t f, l;
		uint32_t lv, g;
		if (tbw__seg_parse_name_gen(names[i], &f, &l, &lv, &g) && g > gmax)
			gmax = g;
	}
	for (size_t i = 0; i < nn; i++) {
		uint64_t f, l;
		uint32_t lv, g;
		if (tbw__seg_parse_name_gen(names[i], &f, &l, &lv, &g) && g == gmax && f < gfirst)
			gfirst = f;
	}
	rep->generation = gmax;

	tbw_seg prev;   /* the last segment restored: its big arrays are reused */
	memset(&prev, 0, sizeof prev);
	for (size_t i = 0; i < nn && rc == TBW_OK && !rep->stopped; i++) {
		uint64_t nfirst = 0, nlast = 0;
		uint32_t nlevel = 0, ngen = 0;
		tbw__seg_parse_name_gen(names[i], &nfirst, &nlast, &nlevel, &ngen);
		/* Wholly above the newest generation's first record: set aside
		 * whole if it does not read (its records are the newest's to
		 * give); if it reads, its conflicting records only (below). */
		int whole = ngen < gmax && nfirst >= gfirst;
		char *path = tbw__path_join(run_dir, names[i]);
		uint8_t *buf = NULL;
		size_t len = 0;
		const char *why = NULL;
		tbw_seg seg;
		tbw_seg_damage dmg;
		if (!path) {
			rc = tbw__error_set(TBW_ENOMEM, OP_RESTORE, run_dir, "out of memory");
			break;
		}
		int frc = tbw__sync_read_file_bounded(path, FILE_MAX, &buf, &len, &why, OP_RESTORE);
		tbw__free(path);
		if (frc == TBW_ENOMEM) {
			rc = frc;
			break;
		}
		if (frc && whole) {
			set_aside_superseded(&st, names[i], nfirst, nlast, ngen, gmax, gfirst);
			continue;
		}
		if (frc) {
			report_damage(&st, names[i], 0, 0, frc, why ? why : "unreadable");
			continue;
		}
		memset(&dmg, 0, sizeof dmg);
		frc = tbw__seg_decode_reusing(buf, len, &seg, &dmg, &prev);
		tbw__seg_release(&prev);   /* what the decode did not take over */
		tbw__free(buf);
		if (frc == TBW_ENOMEM) {
			rc = frc;
			break;
		}
		if (whole && (frc || seg.nlost || seg.n == 0)) {
			/* Damaged: which of its records were the newest
			 * generation's cannot be told. */
			if (frc == TBW_OK)
				tbw__seg_release(&seg);
			tbw__error_clear();
			set_aside_superseded(&st, names[i], nfirst, nlast, ngen, gmax, gfirst);
			continue;
		}
		if (frc) {
			report_damage(&st, names[i], dmg.offset, dmg.in_payload, frc, dmg.reason);
			continue;
		}
		if (!rep->have_run_id) {
			memcpy(rep->run_id, seg.h.run_id, 16);
			rep->have_run_id = 1;
		}
		if (seg.nlost)
			report_lost(&st, names[i], &seg);
		if (memcmp(seg.h.run_id, rep->run_id, 16) != 0) {
			char hx[33], why2[120];
			tbw__runid_hex(hx, seg.h.run_id);
			snprintf(why2, sizeof why2, "foreign: a segment of run %s, not of this run", hx);
			rep->segments_foreign++;
			set_aside(&st, names[i], seg.h.first_seq, seg.h.last_seq, seg.n, why2);
			tbw__seg_release(&seg);
			continue;
		}
		if (ngen < gmax && seg.n && seg.recs[seg.n - 1].seq >= gfirst) {
			/* Superseded from gfirst on: what lies below it, and what
			 * is identical to the newest generation's record at the
			 * same seq (one history), is used; only the rest is set
			 * aside, and said. */
			uint64_t nc, cf, cl, held = seg.n;
			char why2[300];
			rc = split_superseded(run_dir, names, nn, gmax, gfirst, &seg, &nc, &cf, &cl);
			if (rc) {
				tbw__seg_release(&seg);
				break;
			}
			if (nc) {
				snprintf(why2, sizeof why2, "generation %u superseded by generation %u from seq %llu "
				         "(resumed elsewhere), these differ from it; %llu below it or identical used",
				         (unsigned)ngen, (unsigned)gmax, (unsigned long long)gfirst,
				         (unsigned long long)(held - nc));
				if (whole) {
					rep->segments_superseded++;
					set_aside(&st, names[i], cf, cl, nc, why2);
				} else {
					st.rep->records_set_aside += nc;
					if (st.o->on_aside)
						st.o->on_aside(st.o->ctx, names[i], cf, cl, nc, NULL, why2);
				}
			}
		}
		/* Names sort by first sequence number: the next one's bounds
		 * what later segments can still add (see tbw_sync_batch_fn). */
		st.next_first = UINT64_MAX;
		if (i + 1 < nn) {
			uint64_t f, l;
			uint32_t lv;
			if (tbw__seg_parse_name(names[i + 1], &f, &l, &lv) && f > 0)
				st.next_first = f;
		}
		if (seg.n)
			rc = restore_seg(&st, names[i], &seg, dst);
		prev = seg;   /* its arrays serve the next segment */
	}
	tbw__seg_release(&prev);
	if (st.seen.n) {
		uint64_t have = 0;
		rep->first_seq = st.seen.iv[0][0];
		rep->last_seq = st.seen.iv[st.seen.n - 1][1];
		for (size_t i = 0; i < st.seen.n; i++)
			have += st.seen.iv[i][1] - st.seen.iv[i][0] + 1;
		rep->missing = rep->last_seq - rep->first_seq + 1 - have;
	}
	rep->duplicates = rep->records - rep->records_new;
	if (rep->ntags)
		qsort(rep->tags, rep->ntags, sizeof *rep->tags, tag_last_cmp);
out:
	free_names(names, nn);
	tbw__sync_namemap_free(&st.tagmap);
	tbw__free(st.seen.iv);
	tbw__free(st.runs);
	tbw__free(st.named);
	return rc;
}

void tbw__sync_report_free(tbw_sync_report *rep)
{
	if (!rep)
		return;
	for (size_t i = 0; i < rep->ntags; i++)
		tbw__free(rep->tags[i].tag);
	tbw__free(rep->tags);
	rep->tags = NULL;
	rep->ntags = 0;
}

int tbw__sync_run_id(const char *run_dir, uint8_t run_id[16])
{
	runmeta m;
	char base[256];
	size_t n = strlen(run_dir);

	if (tbw__sync_read_meta(run_dir, &m) < 0)
		tbw__error_clear();
	if (m.have_id) {
		memcpy(run_id, m.run_id, 16);
		return TBW_OK;
	}
	while (n > 1 && run_dir[n - 1] == '/')
		n--;
	size_t b = n;
	while (b > 0 && run_dir[b - 1] != '/')
		b--;
	if (n - b < sizeof base) {
		memcpy(base, run_dir + b, n - b);
		base[n - b] = '\0';
		if (tbw__sync_parse_run_dir(base, run_id, NULL, 0))
			return TBW_OK;
	}
	return tbw__error_set(TBW_ENOTFOUND, OP_RESTORE, run_dir,
	                      "no run.json with a run_id, and the folder's name is not <run>-<run id>");
}

int tbw__sync_parse_run_dir(const char *dirname, uint8_t run_id[16], char *name_out, size_t cap)
{
	size_t n = strlen(dirname);
	if (n < 34 || dirname[n - 33] != '-')
		return 0;
	const char *h = dirname + n - 32;
	for (int i = 0; i < 16; i++) {
		int v = 0;
		for (int k = 0; k < 2; k++) {
			char c = h[2 * i + k];
			v <<= 4;
			if (c >= '0' && c <= '9')
				v |= c - '0';
			else if (c >= 'a' && c <= 'f')
				v |= c - 'a' + 10;
			else
				return 0;
		}
		run_id[i] = (uint8_t)v;
	}
	if (name_out && cap) {
		size_t l = n - 33;
		if (l >= cap)
			l = cap - 1;
		memcpy(name_out, dirname, l);
		name_out[l] = '\0';
	}
	return 1;
}
