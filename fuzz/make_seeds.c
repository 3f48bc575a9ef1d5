/* make_seeds.c -- writes the fuzz targets' seed corpora from the library's
 * own output: a journal logged through tbw__journal_append, its data.mdb,
 * the segments the syncer ships from it, the event files the compactor
 * exports from it, and tbrecover recipes (fuzz_recover.c) that lay them out
 * as a LOGDIR and a sync folder, with a few hostile entries beside them.
 *
 *   fuzz/fuzz_make_seeds OUTDIR      (OUTDIR: tests/fuzz-corpus)
 * Writes OUTDIR/{events,segment,journal,recover}/seed-*.
 */
#define _GNU_SOURCE
#include "fuzz_common.h"

#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "export/compactor.h"
#include "journal/journal.h"
#include "base/os.h"
#include "format/segment.h"
#include "sync/syncer.h"

static const uint8_t run_id[16] = { 0x66, 0x75, 0x7a, 0x7a, 0x72, 0x65, 0x63, 0x6f,
                                    0x76, 0x65, 0x72, 0, 0, 0, 0, 0x2a };
static const char *outdir;

#define OK(call) do { int rc_ = (call); FUZZ_CHECK(rc_ == 0, "%s: %s", #call, tbw_errmsg()); } while (0)

typedef struct buf { uint8_t *p; size_t n, cap; } buf;

static void put(buf *b, const void *p, size_t n)
{
	if (b->n + n > b->cap) {
		b->cap = (b->n + n) * 2;
		b->p = realloc(b->p, b->cap);
		FUZZ_CHECK(b->p != NULL, "out of memory");
	}
	memcpy(b->p + b->n, p, n);
	b->n += n;
}

static void put8(buf *b, uint8_t v) { put(b, &v, 1); }

static uint8_t *slurp(const char *path, size_t *n)
{
	FILE *f = fopen(path, "rb");
	uint8_t *p;
	long sz;

	FUZZ_CHECK(f != NULL, "%s", path);
	fseek(f, 0, SEEK_END);
	sz = ftell(f);
	fseek(f, 0, SEEK_SET);
	p = malloc((size_t)sz + 1);
	FUZZ_CHECK(p && fread(p, 1, (size_t)sz, f) == (size_t)sz, "read %s", path);
	fclose(f);
	*n = (size_t)sz;
	return p;
}

static void seed(const char *target, const char *name, uint8_t mode, const void *p, size_t n)
{
	char path[PATH_MAX];
	buf b = { 0 };

	fuzz_fmt(path, sizeof path, "%s/%s", outdir, target);
	mkdir(path, 0755);
	fuzz_fmt(path, sizeof path, "%s/%s/%s", outdir, target, name);
	put8(&b, mode);
	put(&b, p, n);
	fuzz_write_file(path, b.p, b.n);
	free(b.p);
	printf("%s (%zu bytes)\n", path, b.n);
}

/* Files of dir whose names contain pat, sorted. */
static size_t list(const char *dir, const char *pat, char names[][256], size_t cap)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	size_t n = 0;

	FUZZ_CHECK(d != NULL, "%s", dir);
	while ((e = readdir(d)) != NULL && n < cap)
		if (strstr(e->d_name, pat) && e->d_name[0] != '.')
			fuzz_fmt(names[n++], 256, "%s", e->d_name);
	closedir(d);
	for (size_t i = 1; i < n; i++)
		for (size_t k = i; k > 0 && strcmp(names[k - 1], names[k]) > 0; k--) {
			char t[256];
			memcpy(t, names[k], 256);
			memcpy(names[k], names[k - 1], 256);
			memcpy(names[k - 1], t, 256);
		}
	return n;
}

static void log_some(tbw_journal *j, int from, int to)
{
	static const char *tags[] = { "loss", "accuracy", "lr/group 0", "\xe6\x90\x8d\xe5\xa4\xb1" };
	for (int i = from; i < to; i++) {
		const char *t = tags[i % 4];
		OK(tbw__journal_append(j, t, strlen(t), 1.0 / (i + 1), i / 2, 1700000000.0 + i * 0.25, NULL));
	}
}

/* Recipe entries (see fuzz_recover.c). */
static void r_file(buf *r, int place, const char *name, const uint8_t *p, size_t n)
{
	FUZZ_CHECK(strlen(name) <= 255 && n <= 65535, "recipe entry too large: %s", name);
	put8(r, (uint8_t)place);          /* kind 0: file */
	put8(r, 0);                       /* literal name */
	put8(r, (uint8_t)strlen(name));
	put(r, name, strlen(name));
	put8(r, (uint8_t)n);
	put8(r, (uint8_t)(n >> 8));
	put(r, p, n);
}

static void r_other(buf *r, int place, int kind, uint8_t form, const void *nb, size_t nn, int target)
{
	put8(r, (uint8_t)(place | kind << 2));
	put8(r, form);
	put(r, nb, nn);
	if (kind == 2)
		put8(r, (uint8_t)target);
}

int main(int argc, char **argv)
{
	char top[PATH_MAX], logdir[PATH_MAX + 16], jdir[PATH_MAX + 32], sync[PATH_MAX + 16], p[PATH_MAX * 2];
	char segs[16][256], evs[16][256];
	tbw_jopen jo = TBW_JOPEN_INIT;
	tbw_journal *j;
	tbw_syncer *s;
	tbw_compactor *c;
	tbw_compact_cfg cc = TBW_COMPACT_CFG_INIT;
	uint8_t *mdb, *f;
	size_t mdb_len, n, nsegs, nevs;
	uint64_t used;
	buf r1 = { 0 }, r2 = { 0 }, r3 = { 0 }, r4 = { 0 };

	if (argc != 2) {
		fprintf(stderr, "usage: %s OUTDIR\n", argv[0]);
		return 2;
	}
	outdir = argv[1];
	mkdir(outdir, 0755);
	fuzz_mkdtemp(top, sizeof top, "seeds");
	fuzz_fmt(logdir, sizeof logdir, "%s/logdir", top);
	fuzz_fmt(jdir, sizeof jdir, "%s/.tbwal", logdir);
	fuzz_fmt(sync, sizeof sync, "%s/sync", top);

	/* A journal, two sync passes, a START marker between them. */
	jo.create = 1;
	jo.logdir = logdir;
	jo.run_id = run_id;
	OK(tbw__mkdir_p(logdir, "seeds"));
	OK(tbw__journal_open(&j, jdir, &jo));
	OK(tbw__syncer_open(&s, j, sync, "run", 0));
	log_some(j, 0, 10);
	OK(tbw__syncer_pass(s, NULL));
	OK(tbw__journal_append_start(j, 3, 1700000100.0, NULL));
	log_some(j, 10, 24);
	OK(tbw__syncer_pass(s, NULL));
	OK(tbw__journal_sync(j));

	/* data.mdb before any pruning, compacted by mdb_copy -c (lmdb-utils):
	 * a valid environment with no free pages (8 pages instead of 19). */
	OK(tbw__journal_file_size(j, &used));
	{
		char cmd[PATH_MAX * 3];
		fuzz_fmt(p, sizeof p, "%s/compact", top);
		OK(tbw__mkdir_p(p, "seeds"));
		fuzz_fmt(cmd, sizeof cmd, "mdb_copy -c '%s' '%s'", jdir, p);
		FUZZ_CHECK(system(cmd) == 0, "%s", cmd);
		fuzz_fmt(p, sizeof p, "%s/compact/data.mdb", top);
	}
	mdb = slurp(p, &mdb_len);
	seed("journal", "seed-data-mdb", 0, mdb, mdb_len);
	seed("journal", "seed-data-mdb-fixcrc", 1, mdb, mdb_len);

	/* Event files: a simple_value session, then a tensor one. */
	cc.logdir = logdir;
	OK(tbw__compactor_open(&c, j, &cc));
	OK(tbw__compactor_pass(c, NULL));
	tbw__compactor_close(c);
	log_some(j, 24, 30);
	cc.scalar_format = TBW_SCALAR_TENSOR;
	OK(tbw__compactor_open(&c, j, &cc));
	OK(tbw__compactor_pass(c, NULL));
	tbw__compactor_close(c);
	OK(tbw__syncer_pass(s, NULL));
	tbw__syncer_close(s);
	tbw__journal_close(j);

	nevs = list(logdir, "tfevents", evs, 16);
	FUZZ_CHECK(nevs >= 2, "%zu event files", nevs);
	for (size_t i = 0; i < nevs && i < 2; i++) {
		char nm[64];
		fuzz_fmt(p, sizeof p, "%s/%s", logdir, evs[i]);
		f = slurp(p, &n);
		fuzz_fmt(nm, sizeof nm, "seed-events-%zu", i);
		seed("events", nm, 0, f, n);
		fuzz_fmt(nm, sizeof nm, "seed-events-%zu-split", i);
		seed("events", nm, 1 | (64 << 1), f, n);
		r_file(&r1, 0, evs[i], f, n);
		r_file(&r3, 0, evs[i], f, n);
		free(f);
	}

	fuzz_fmt(sync, sizeof sync, "%s/sync/run-66757a7a7265636f766572000000002a", top);
	nsegs = list(sync, "seg-", segs, 16);
	FUZZ_CHECK(nsegs >= 2, "%zu segments", nsegs);
	for (size_t i = 0; i < nsegs && i < 3; i++) {
		tbw_seg_header h;
		uint8_t *raw;
		uLongf rl;
		char nm[64];

		fuzz_fmt(p, sizeof p, "%s/%s", sync, segs[i]);
		f = slurp(p, &n);
		fuzz_fmt(nm, sizeof nm, "seed-seg-%zu", i);
		seed("segment", nm, 0, f, n);
		if (i == 0) {
			/* header || first block header || its inflated payload
			 * (modes 2 and 6; format v2) */
			const size_t hb = TBW_SEG_HEADER_SIZE + TBW_SEG_BLOCK_HEADER_SIZE;
			OK(tbw__seg_read_header(f, n, &h, NULL));
			FUZZ_CHECK(h.version == 2 && n > hb, "a v2 segment");
			rl = (uLongf)fuzz_le32(f + TBW_SEG_HEADER_SIZE + 68);
			raw = malloc(hb + rl);
			memcpy(raw, f, hb);
			FUZZ_CHECK(uncompress(raw + hb, &rl, f + hb, (uLong)fuzz_le32(f + TBW_SEG_HEADER_SIZE + 64)) == Z_OK,
			           "inflate");
			seed("segment", "seed-seg-raw", 2, raw, hb + rl);
			seed("segment", "seed-seg-raw-restore", 6, raw, hb + rl);
			seed("segment", "seed-seg-fixcrc-restore", 5, f, n);
			free(raw);
		}
		r_file(&r1, 2, segs[i], f, n);
		r_file(&r2, 2, segs[i], f, n);
		r_file(&r3, 2, segs[i], f, n);
		if (i == 0)
			r_file(&r4, 2, segs[i], f, n);
		free(f);
	}

	/* r3 also holds the journal; r4 is hostile around one good segment. */
	r_file(&r3, 1, "data.mdb", mdb, mdb_len);
	{
		static const uint8_t special_recovered = 4;   /* ".tbwal-recovered" */
		static const uint8_t seg_name[17] = { 1, 0, 0, 0, 0, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 0 };
		static const uint8_t ev_name[13] = { 0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4, 1 };
		static const uint8_t long_name[2] = { 3, 254 };
		static const uint8_t dotdot[3] = { 2, '.', '.' };
		r_other(&r4, 0, 2, 4, &special_recovered, 1, 0);   /* .tbwal-recovered -> T/outside */
		r_other(&r4, 2, 2, 1, seg_name, sizeof seg_name, 1); /* a segment name -> canary */
		r_other(&r4, 0, 2, 2, ev_name, sizeof ev_name, 1);   /* our event name -> canary */
		r_other(&r4, 2, 1, 3, long_name, sizeof long_name, 0);
		r_other(&r4, 0, 1, 0, dotdot, sizeof dotdot, 0);
	}
	seed("recover", "seed-sync-and-events", 0, r1.p, r1.n);
	seed("recover", "seed-sync-only", 0, r2.p, r2.n);
	seed("recover", "seed-journal-sync-events", 2, r3.p, r3.n);
	seed("recover", "seed-hostile", 0, r4.p, r4.n);
	seed("recover", "seed-hostile-dry-run", 1, r4.p, r4.n);
	free(mdb);
	free(r1.p); free(r2.p); free(r3.p); free(r4.p);

	/* Event records (tbw_add_event): a second journal with scalars,
	 * event records (one on overflow pages) and a step record, its event
	 * file, a segment with kind-2 blocks, and data.mdb. */
	{
		static const uint8_t text[] = "\x2a\x1d\x0a\x1b\x0a\x04note\x4a\x08\x0a\x06\x0a\x04text"
		                              "\x42\x09\x08\x07\x12\x00\x42\x03" "abc";
		static const uint8_t graph[] = "\x22\x03g\x00" "d";
		uint8_t *big = malloc(6000);
		char l2[PATH_MAX + 16], j2[PATH_MAX + 32], s2[PATH_MAX + 16];
		fuzz_fmt(l2, sizeof l2, "%s/logdir2", top);
		fuzz_fmt(j2, sizeof j2, "%s/.tbwal", l2);
		fuzz_fmt(s2, sizeof s2, "%s/sync2", top);
		FUZZ_CHECK(big != NULL, "out of memory");
		/* an image summary of 6,000 bytes (payload 5,983): too big for
		 * one LMDB page; all lengths are 2-byte varints */
		{
			size_t pl = 5983, img = 1 + 2 + pl, val = 5 + 1 + 2 + img, sum = 1 + 2 + val, o = 0;
			big[o++] = 0x2a; big[o++] = (uint8_t)(sum | 0x80); big[o++] = (uint8_t)(sum >> 7);
			big[o++] = 0x0a; big[o++] = (uint8_t)(val | 0x80); big[o++] = (uint8_t)(val >> 7);
			memcpy(big + o, "\x0a\x03img", 5); o += 5;
			big[o++] = 0x22; big[o++] = (uint8_t)(img | 0x80); big[o++] = (uint8_t)(img >> 7);
			big[o++] = 0x22; big[o++] = (uint8_t)(pl | 0x80); big[o++] = (uint8_t)(pl >> 7);
			for (size_t i = 0; i < pl; i++)
				big[o++] = (uint8_t)(i * 131u);
			FUZZ_CHECK(o == 6000, "image body of %zu bytes", o);
		}
		jo.logdir = l2;
		OK(tbw__mkdir_p(l2, "seeds"));
		OK(tbw__journal_open(&j, j2, &jo));
		OK(tbw__syncer_open(&s, j, s2, "run", 0));
		log_some(j, 0, 4);
		OK(tbw__journal_append_event(j, "note", 4, 4, 1700000004.0, text, sizeof text - 1, NULL));
		OK(tbw__journal_append_event(j, NULL, 0, 5, 1700000005.0, graph, sizeof graph - 1, NULL));
		OK(tbw__journal_append_event(j, "img", 3, 6, 1700000006.0, big, 6000, NULL));
		log_some(j, 7, 10);
		{
			/* a step record (tbw_add_scalars): five scalars, one entry */
			static const char *const st[5] = { "loss", "lr", "acc", "loss", "grad" };
			static const size_t sl[5] = { 4, 2, 3, 4, 4 };
			static const double sv[5] = { 0.5, 1e-3, 0.75, 0.25, -2.0 };
			OK(tbw__journal_append_many(j, 5, st, sl, sv, 11, 1700000011.0, NULL));
		}
		{
			/* a restore's run (tbw__journal_insert): three records, one entry */
			tbw_jrec_named rr[3];
			size_t ins = 0;
			uint64_t last = 0;
			OK(tbw__journal_last_seq(j, &last));
			memset(rr, 0, sizeof rr);
			for (int i = 0; i < 3; i++) {
				rr[i].seq = last + 1 + (uint64_t)i;   /* no gap: one event file */
				rr[i].wall_time = 1700000100.0 + i * 0.5;
				rr[i].step = 100 + i;
				rr[i].value = 0.125 * (i + 1);
				rr[i].tag = i == 1 ? NULL : "loss";   /* a START in the middle */
				rr[i].tag_len = i == 1 ? 0 : 4;
			}
			OK(tbw__journal_insert(j, rr, 3, &ins));
			FUZZ_CHECK(ins == 3, "%zu of 3 inserted", ins);
		}
		OK(tbw__syncer_pass(s, NULL));
		OK(tbw__journal_sync(j));
		tbw__syncer_close(s);
		fuzz_fmt(p, sizeof p, "%s/data.mdb", j2);
		{
			char cmd[PATH_MAX * 3];
			fuzz_fmt(p, sizeof p, "%s/compact2", top);
			OK(tbw__mkdir_p(p, "seeds"));
			fuzz_fmt(cmd, sizeof cmd, "mdb_copy -c '%s' '%s'", j2, p);
			FUZZ_CHECK(system(cmd) == 0, "%s", cmd);
			fuzz_fmt(p, sizeof p, "%s/compact2/data.mdb", top);
		}
		mdb = slurp(p, &mdb_len);
		seed("journal", "seed-data-mdb-events", 0, mdb, mdb_len);
		free(mdb);
		cc.logdir = l2;
		cc.scalar_format = TBW_SCALAR_SIMPLE;
		OK(tbw__compactor_open(&c, j, &cc));
		OK(tbw__compactor_pass(c, NULL));
		tbw__compactor_close(c);
		tbw__journal_close(j);
		nevs = list(l2, "tfevents", evs, 16);
		FUZZ_CHECK(nevs == 1, "%zu event files", nevs);
		fuzz_fmt(p, sizeof p, "%s/%s", l2, evs[0]);
		f = slurp(p, &n);
		seed("events", "seed-events-records", 0, f, n);
		free(f);
		fuzz_fmt(s2, sizeof s2, "%s/sync2/run-66757a7a7265636f766572000000002a", top);
		nsegs = list(s2, "seg-", segs, 16);
		FUZZ_CHECK(nsegs == 1, "%zu segments", nsegs);
		fuzz_fmt(p, sizeof p, "%s/%s", s2, segs[0]);
		f = slurp(p, &n);
		seed("segment", "seed-seg-events", 0, f, n);
		seed("segment", "seed-seg-events-fixcrc-restore", 5, f, n);
		free(f);
		free(big);
	}
	fuzz_rmrf(top);
	return 0;
}
