/* fuzz_recover.c -- libFuzzer target: tbrecover's source discovery over a
 * LOGDIR and a sync run folder built from the fuzzer's bytes.
 *
 * Each input runs in a fresh temporary directory T:
 *   T/logdir/               LOGDIR given to tbw__recover_run
 *   T/logdir/.tbwal/        the journal directory (entries may be put there)
 *   T/sync/run-<RUN>/       the sync run folder given as --from
 *   T/outside/              canaries: files and a folder nothing may touch
 * Afterwards every entry of T outside T/logdir (the sync folder included:
 * recovery only reads it) must be exactly as before (type, size, mode,
 * mtime, link target, content), T must hold nothing new, and T is removed.
 *
 * Recipe (the input): one flags byte, then entries until the bytes run out.
 *   flags  bit 0 dry run, bit 1 tensor scalars, bit 2 delete replaced files,
 *          bit 3 purge step 5
 *   entry  byte A: place = A & 3 (0 LOGDIR, 1 journal dir, 2 run folder,
 *                  3 sync root), kind = (A >> 2) & 3 (0 file, 1 directory,
 *                  2 symlink, 3 FIFO)
 *          byte B: name form = B % 6, followed by its bytes:
 *            0 literal: u8 length, bytes ('/' and NUL become '_')
 *            1 segment: u64 first, u64 last, u8 level (tbw__seg_name)
 *            2 our event file: u64 base, u32 secs, u8 (bit 0: "S" form),
 *              named for run RUN as the compactor names them
 *            3 long: u8 letter, u8 length (a name of 1..255 letters)
 *            4 special: u8 index into a list of names recovery knows
 *            5 foreign event file: u8 n ("events.out.tfevents....<n>")
 *          file:    u16 LE length, then the content (cut at the input's end)
 *          symlink: u8 index into a list of targets, all inside T or absent
 * The builder never writes outside T: names are single components, "." and
 * ".." are skipped, symlink targets come from the fixed list. Two names are
 * LOGDIR configuration, trusted by design, and never made hostile: the
 * journal pointer file (it may name any journal directory) and a ".tbwal"
 * symlink (a journal kept elsewhere); the builder makes a plain file or
 * folder of them instead.
 *
 * LMDB's files: LMDB trusts the pages of data.mdb and the reader table of
 * lock.mdb, and crashes on damaged ones (tests/fuzz-known/, doc/fuzzing.md).
 * Until tbrecover keeps LMDB away from a journal it has not vetted, the
 * builder names fuzzer-made "data.mdb" and "lock.mdb" files in the journal
 * folder "*.fuzz" (LMDB never reads them), unless TBW_FUZZ_LMDB=1 is set.
 */
#define _GNU_SOURCE
#include "fuzz_common.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "format/crc32c.h"
#include "base/error.h"
#include "recover/recover.h"
#include "format/segment.h"
#include "api/writer.h"

/* Run id of the seeds (tests/fuzz-corpus/recover was made with it). */
#define RUN_HEX "66757a7a7265636f766572000000002a"
#define RUN8    "66757a7a"

/* ---------- snapshot of everything outside LOGDIR ---------- */

typedef struct snap_ent {
	char path[PATH_MAX];
	mode_t mode;
	off_t size;
	struct timespec mtime;
	uint32_t crc;
	char link[256];
} snap_ent;

typedef struct snap {
	snap_ent *e;
	size_t n, cap;
} snap;

static void snap_walk(snap *s, const char *dir, const char *skip)
{
	DIR *d = opendir(dir);
	struct dirent *de;

	if (!d)
		return;
	while ((de = readdir(d)) != NULL) {
		char p[PATH_MAX];
		struct stat st;
		snap_ent *e;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if ((size_t)snprintf(p, sizeof p, "%s/%s", dir, de->d_name) >= sizeof p)
			continue;
		if (!strcmp(p, skip) || lstat(p, &st) != 0)
			continue;
		if (s->n == s->cap) {
			s->cap = s->cap ? 2 * s->cap : 64;
			s->e = realloc(s->e, s->cap * sizeof *s->e);
			FUZZ_CHECK(s->e != NULL, "out of memory");
		}
		e = &s->e[s->n++];
		memset(e, 0, sizeof *e);
		fuzz_fmt(e->path, sizeof e->path, "%s", p);
		e->mode = st.st_mode;
		e->size = st.st_size;
		e->mtime = st.st_mtim;
		if (S_ISLNK(st.st_mode)) {
			ssize_t k = readlink(p, e->link, sizeof e->link - 1);
			if (k > 0)
				e->link[k] = 0;
		} else if (S_ISREG(st.st_mode)) {
			int fd = open(p, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
			uint8_t buf[4096];
			ssize_t k;
			if (fd >= 0) {
				while ((k = read(fd, buf, sizeof buf)) > 0)
					e->crc = tbw__crc32c_extend(e->crc, buf, (size_t)k);
				close(fd);
			}
		} else if (S_ISDIR(st.st_mode)) {
			snap_walk(s, p, skip);
		}
	}
	closedir(d);
}

static int snap_cmp(const void *a, const void *b)
{
	return strcmp(((const snap_ent *)a)->path, ((const snap_ent *)b)->path);
}

static void snap_take(snap *s, const char *top, const char *skip)
{
	s->n = 0;
	snap_walk(s, top, skip);
	if (s->n > 1)
		qsort(s->e, s->n, sizeof *s->e, snap_cmp);
}

static void snap_compare(const snap *a, const snap *b)
{
	size_t i;

	for (i = 0; i < a->n && i < b->n; i++) {
		const snap_ent *x = &a->e[i], *y = &b->e[i];
		FUZZ_CHECK(!strcmp(x->path, y->path), "outside LOGDIR: %s appeared or %s vanished",
		           strcmp(x->path, y->path) > 0 ? x->path : y->path,
		           strcmp(x->path, y->path) > 0 ? y->path : x->path);
		FUZZ_CHECK(x->mode == y->mode && x->size == y->size && x->crc == y->crc &&
		           !strcmp(x->link, y->link) && x->mtime.tv_sec == y->mtime.tv_sec &&
		           x->mtime.tv_nsec == y->mtime.tv_nsec,
		           "outside LOGDIR: %s was changed", x->path);
	}
	FUZZ_CHECK(a->n == b->n, "outside LOGDIR: %s %s", i < a->n ? a->e[i].path : b->e[i].path,
	           i < a->n ? "vanished" : "appeared");
}

/* ---------- building the tree ---------- */

typedef struct rd {
	const uint8_t *p;
	size_t n;
} rd;

static int get8(rd *r, uint8_t *v)
{
	if (r->n < 1)
		return 0;
	*v = *r->p++;
	r->n--;
	return 1;
}

static uint64_t getn(rd *r, int nbytes)
{
	uint64_t v = 0;
	for (int i = 0; i < nbytes; i++) {
		uint8_t b = 0;
		get8(r, &b);
		v |= (uint64_t)b << (8 * i);
	}
	return v;
}

static const char *const specials[] = {
	"data.mdb", "lock.mdb", ".tbwal", TBW_JOURNAL_POINTER, ".tbwal-recovered", "run.json",
	".tmp-seg-0000000000000001-0000000000000001-L0.tbws-1", ".tbwal-new-0.tmp", "writer.lock",
	"compactor.lock", "recover.lock", "syncer.lock", "tfevents", "events.out.tfevents",
	"seg-0000000000000001-0000000000000001-L0.tbws",
	"seg-0000000000000000-0000000000000001-L0.tbws",
	"seg-ffffffffffffffff-ffffffffffffffff-L99.tbws",
};

/* Reads a name from the recipe into buf; 0 if the entry is to be skipped. */
static int read_name(rd *r, char *buf, size_t cap)
{
	uint8_t form = 0, b = 0, c = 0;

	get8(r, &form);
	switch (form % 6) {
	case 0: {
		size_t len;
		get8(r, &b);
		len = b;
		if (len > r->n)
			len = r->n;
		if (len == 0)
			return 0;
		for (size_t i = 0; i < len; i++)
			buf[i] = (r->p[i] == '/' || r->p[i] == 0) ? '_' : (char)r->p[i];
		buf[len] = 0;
		r->p += len;
		r->n -= len;
		break;
	}
	case 1: {
		uint64_t first = getn(r, 8), last = getn(r, 8);
		get8(r, &b);
		tbw__seg_name(buf, first, last, b % 100);
		break;
	}
	case 2: {
		uint64_t base = getn(r, 8);
		uint32_t secs = (uint32_t)getn(r, 4);
		get8(r, &b);
		fuzz_fmt(buf, cap, "events.out.tfevents.%010" PRIu32 ".fuzzhost.4242.%u.tbwal-" RUN8 "-%s%016" PRIx64,
		         secs, (unsigned)(secs % 7), (b & 1) ? "S" : "", base);
		break;
	}
	case 3:
		get8(r, &c);
		get8(r, &b);
		memset(buf, 'a' + c % 26, (size_t)b + 1 > 255 ? 255 : (size_t)b + 1);
		buf[(size_t)b + 1 > 255 ? 255 : (size_t)b + 1] = 0;
		break;
	case 4:
		get8(r, &b);
		fuzz_fmt(buf, cap, "%s", specials[b % (sizeof specials / sizeof specials[0])]);
		break;
	default:
		get8(r, &b);
		fuzz_fmt(buf, cap, "events.out.tfevents.1700000000.otherhost.1.%u", b);
		break;
	}
	return strcmp(buf, ".") != 0 && strcmp(buf, "..") != 0;
}

static void build(const char *top, const uint8_t *data, size_t size, int lmdb)
{
	char places[4][PATH_MAX], targets[10][PATH_MAX + 32];
	rd r = { data, size };

	fuzz_fmt(places[0], PATH_MAX, "%s/logdir", top);
	fuzz_fmt(places[1], PATH_MAX, "%s/logdir/.tbwal", top);
	fuzz_fmt(places[2], PATH_MAX, "%s/sync/run-" RUN_HEX, top);
	fuzz_fmt(places[3], PATH_MAX, "%s/sync", top);
	fuzz_fmt(targets[0], sizeof targets[0], "%s/outside", top);
	fuzz_fmt(targets[1], sizeof targets[1], "%s/outside/canary", top);
	fuzz_fmt(targets[2], sizeof targets[2], "%s/outside/new-file", top);
	fuzz_fmt(targets[3], sizeof targets[3], "%s/outside/dir", top);
	/* targets 4 and 5 are relative, set per place below (T/outside, T/outside/canary) */
	fuzz_fmt(targets[6], sizeof targets[6], "/nonexistent-tbwal-fuzz/x");
	fuzz_fmt(targets[7], sizeof targets[7], "%s/sync/run-" RUN_HEX, top);
	fuzz_fmt(targets[8], sizeof targets[8], ".");
	fuzz_fmt(targets[9], sizeof targets[9], "self-loop");

	while (r.n > 0) {
		char name[512], path[PATH_MAX + 600];
		uint8_t a = 0, t = 0;
		int place, kind;

		get8(&r, &a);
		place = a & 3;
		kind = (a >> 2) & 3;
		if (!read_name(&r, name, sizeof name))
			continue;
		if (place == 0 && !strcmp(name, TBW_JOURNAL_POINTER))
			kind = 1;                       /* trusted configuration: a folder */
		if (place == 0 && !strcmp(name, ".tbwal") && kind == 2)
			kind = 1;
		if (place == 1 && kind == 0 && !lmdb && (!strcmp(name, "data.mdb") || !strcmp(name, "lock.mdb")))
			strcat(name, ".fuzz");
		if (place == 1)
			mkdir(places[1], 0755);
		/* places 0 and 3 are one level below T, 1 and 2 two levels */
		fuzz_fmt(targets[4], sizeof targets[4], "%soutside", (place == 0 || place == 3) ? "../" : "../../");
		fuzz_fmt(targets[5], sizeof targets[5], "%soutside/canary", (place == 0 || place == 3) ? "../" : "../../");
		fuzz_fmt(path, sizeof path, "%s/%s", places[place], name);
		switch (kind) {
		case 0: {
			size_t len = (size_t)getn(&r, 2);
			int fd;
			if (len > r.n)
				len = r.n;
			fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0644);
			if (fd >= 0) {
				struct stat st;
				if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && len > 0)
					if (write(fd, r.p, len) < 0)
						(void)0;
				close(fd);
			}
			r.p += len;
			r.n -= len;
			break;
		}
		case 1:
			mkdir(path, 0755);
			break;
		case 2:
			get8(&r, &t);
			if (t % 10 == 9)
				(void)!symlink(name, path);
			else
				(void)!symlink(targets[t % 10], path);
			break;
		default:
			mkfifo(path, 0644);
			break;
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *lm = getenv("TBW_FUZZ_LMDB");
	int lmdb = lm && *lm == '1';
	char top[PATH_MAX], p[PATH_MAX + 64], logdir[PATH_MAX + 16], from[PATH_MAX + 64];
	const char *fromv[1];
	tbw_recover_cfg cfg = TBW_RECOVER_CFG_INIT;
	tbw_recover_report rep;
	snap before = { 0 }, after = { 0 };
	struct stat st;
	uint8_t flags;
	int rc;

	if (size < 1)
		return 0;
	flags = data[0];
	fuzz_mkdtemp(top, sizeof top, "recover");
	fuzz_fmt(logdir, sizeof logdir, "%s/logdir", top);
	fuzz_fmt(from, sizeof from, "%s/sync/run-" RUN_HEX, top);
	FUZZ_CHECK(mkdir(logdir, 0755) == 0, "mkdir");
	fuzz_fmt(p, sizeof p, "%s/sync", top);
	FUZZ_CHECK(mkdir(p, 0755) == 0 && mkdir(from, 0755) == 0, "mkdir");
	fuzz_fmt(p, sizeof p, "%s/outside", top);
	FUZZ_CHECK(mkdir(p, 0755) == 0, "mkdir");
	fuzz_fmt(p, sizeof p, "%s/outside/canary", top);
	fuzz_write_file(p, "canary\n", 7);
	fuzz_fmt(p, sizeof p, "%s/outside/dir", top);
	FUZZ_CHECK(mkdir(p, 0755) == 0, "mkdir");
	fuzz_fmt(p, sizeof p, "%s/outside/dir/events.out.tfevents.1.h.1.0.tbwal-" RUN8 "-0000000000000000", top);
	fuzz_write_file(p, "not an event file", 17);

	build(top, data + 1, size - 1, lmdb);
	snap_take(&before, top, logdir);

	fromv[0] = from;
	cfg.logdir = logdir;
	cfg.from = fromv;
	cfg.nfrom = 1;
	cfg.dry_run = flags & 1;
	cfg.scalar_format = (flags & 2) ? TBW_SCALAR_TENSOR : TBW_SCALAR_SIMPLE;
	cfg.delete_replaced = (flags >> 2) & 1;
	if (flags & 8)
		cfg.purge_step = 5;
	rc = tbw__recover_run(&cfg, &rep);
	FUZZ_CHECK(rc <= 0, "rc %d", rc);
	if (getenv("TBW_FUZZ_VERBOSE"))
		fprintf(stderr, "recover: rc %d (%s): %zu sources, %zu damage, exported %llu, last seq %llu, lost %llu\n",
		        rc, rc ? tbw_errmsg() : "ok", rep.nsources, rep.ndamage, (unsigned long long)rep.exported,
		        (unsigned long long)rep.last_seq, (unsigned long long)rep.lost);
	if (rc != 0)
		FUZZ_CHECK(strlen(tbw_errmsg()) > 0, "an error without a message");
	for (size_t i = 0; i < rep.nsources; i++)
		FUZZ_CHECK(memchr(rep.sources[i].path, 0, sizeof rep.sources[i].path) != NULL, "source path");
	for (size_t i = 0; i < rep.ndamage; i++)
		FUZZ_CHECK(memchr(rep.damage[i].what, 0, sizeof rep.damage[i].what) != NULL, "damage text");
	tbw__recover_report_free(&rep);

	snap_take(&after, top, logdir);
	snap_compare(&before, &after);
	FUZZ_CHECK(lstat(logdir, &st) == 0 && S_ISDIR(st.st_mode), "LOGDIR is no longer a folder");
	free(before.e);
	free(after.e);
	fuzz_rmrf(top);
	return 0;
}
