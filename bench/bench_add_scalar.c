/* bench_add_scalar.c -- per-scalar cost of tbw_add_scalar() in each
 * durability mode, against baselines measured in the same run on the same
 * events:
 *   (a) a buffered stdio TFRecord writer (the floor; survives nothing),
 *   (b) one write() per scalar (survives a process kill; no journal),
 *   (c) write() + fdatasync() per scalar (survives an OS crash).
 * Each call is timed alone (clock_gettime around it); the table gives the
 * median and the 99th percentile, and the ratios the targets speak of:
 *   INTERVAL median <= 1 us, <= 5x (a), faster than (b); ALWAYS <= 1.3x (c).
 *
 * usage: bench_add_scalar [DIR] [N]   (DIR on the disk to measure, default
 * /tmp; N scalars for the fast variants, default 50000; sync variants use
 * N/100, at least 200).
 */
#include "config.h"
#include <fcntl.h>
#include <pthread.h>
#include <lmdb.h>
#include <sys/mman.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "format/crc32c.h"
#include "format/event.h"
#include "format/tfrecord.h"
#include "journal/journal.h"
#include "tbwal.h"

static const char *tags[] = { "loss", "accuracy/top1", "lr", "grad_norm" };

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

typedef struct result {
	const char *name;
	double med_us, p99_us, mean_us;
	size_t n;
} result;

static result summarise(const char *name, uint64_t *t, size_t n)
{
	result r;
	uint64_t sum = 0;
	for (size_t i = 0; i < n; i++)
		sum += t[i];
	qsort(t, n, sizeof *t, cmp_u64);
	r.name = name;
	r.n = n;
	r.med_us = (double)t[n / 2] / 1000.0;
	r.p99_us = (double)t[(n * 99) / 100] / 1000.0;
	r.mean_us = (double)sum / (double)n / 1000.0;
	return r;
}

/* One framed event, as the compactor would write it. */
static size_t frame_event(uint8_t *buf, size_t i)
{
	uint8_t ev[256];
	const char *tag = tags[i % 4];
	size_t n = tbw__event_encode_simple(ev, 1.7e9 + (double)i, (int64_t)i, tag, strlen(tag),
	                                    (float)(1.0 / (double)(i + 1)));
	return tbw__tfrecord_frame(buf, ev, n);
}

enum base { BASE_STDIO, BASE_WRITE, BASE_FDATASYNC };

static result run_baseline(const char *dir, enum base kind, size_t n, uint64_t *t)
{
	char path[4096];
	uint8_t buf[512];
	static const char *names[] = { "(a) stdio TFRecord, buffered", "(b) write() per scalar",
	                               "(c) write()+fdatasync per scalar" };
	FILE *f = NULL;
	int fd = -1;

	snprintf(path, sizeof path, "%s/bench_base_%d.tfevents", dir, (int)kind);
	if (kind == BASE_STDIO)
		f = fopen(path, "wb");
	else
		fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644);
	if (!f && fd < 0) {
		perror(path);
		exit(1);
	}
	for (size_t i = 0; i < n; i++) {
		uint64_t t0 = now_ns();
		size_t len = frame_event(buf, i);
		if (kind == BASE_STDIO) {
			fwrite(buf, 1, len, f);
		} else {
			if (write(fd, buf, len) != (ssize_t)len) {
				perror("write");
				exit(1);
			}
			if (kind == BASE_FDATASYNC)
				fdatasync(fd);
		}
		t[i] = now_ns() - t0;
	}
	if (f)
		fclose(f);
	else
		close(fd);
	unlink(path);
	return summarise(names[kind], t, n);
}

/* (d) the floor for a journal that survives SIGKILL: an append-only log in
 * a shared mmap, one 48-byte record (seq, wall, step, value, tag id, CRC
 * over the rest) per scalar, stored into the map (the kernel keeps it once
 * the store retires); no transaction, no index. */
static result run_mmap_log(const char *dir, size_t n, uint64_t *t)
{
	char path[4200];
	size_t len = (n + 64) * 48;
	uint8_t *m;
	int fd;

	snprintf(path, sizeof path, "%s/bench_base_mmap.log", dir);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || ftruncate(fd, (off_t)len) != 0 ||
	    (m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)) == MAP_FAILED) {
		perror(path);
		exit(1);
	}
	for (size_t i = 0; i < n; i++) {
		uint64_t t0 = now_ns();
		uint8_t *r = m + i * 48;
		uint64_t seq = i + 1, step = i;
		double wall = 1.7e9 + (double)i, v = 1.0 / (double)(i + 1);
		uint32_t tag = (uint32_t)(i % 4), crc;
		memcpy(r, &seq, 8);
		memcpy(r + 8, &wall, 8);
		memcpy(r + 16, &step, 8);
		memcpy(r + 24, &v, 8);
		memcpy(r + 32, &tag, 4);
		crc = tbw__crc32c_mask(tbw__crc32c_extend(0, r, 36));
		memcpy(r + 36, &crc, 4);
		t[i] = now_ns() - t0;
	}
	munmap(m, len);
	close(fd);
	unlink(path);
	return summarise("(d) mmap'd log + CRC per record", t, n);
}

/* (e) LMDB alone with INTERVAL's flags (MDB_WRITEMAP|MDB_NOSYNC|MDB_NOTLS):
 * one mdb_put (MDB_APPEND, 8-byte key, 32-byte value) and commit per
 * scalar, nothing encoded (bench/bench_commit_layer measures it against
 * the journal's own calls, in instructions too). */
static result run_raw_lmdb(const char *dir, size_t n, uint64_t *t)
{
	char d[2048], cmd[4200];
	MDB_env *env;
	MDB_dbi dbi;
	MDB_txn *txn;

	snprintf(d, sizeof d, "%s/bench_raw_lmdb", dir);
	snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s'", d, d);
	if (system(cmd) != 0 || mdb_env_create(&env) || mdb_env_set_mapsize(env, (size_t)1 << 30) ||
	    mdb_env_set_maxdbs(env, 8) || mdb_env_open(env, d, MDB_WRITEMAP | MDB_NOSYNC | MDB_NOTLS, 0644) ||
	    mdb_txn_begin(env, NULL, 0, &txn) || mdb_dbi_open(txn, "records", MDB_CREATE, &dbi) ||
	    mdb_txn_commit(txn)) {
		fprintf(stderr, "raw lmdb: cannot open %s\n", d);
		exit(1);
	}
	for (size_t i = 0; i < n; i++) {
		uint8_t kb[8], vb[32];
		uint64_t s = i + 1;
		MDB_val k = { 8, kb }, v = { 32, vb };
		uint64_t t0 = now_ns();
		for (int b = 0; b < 8; b++)
			kb[b] = (uint8_t)(s >> (56 - 8 * b));
		memset(vb, (int)(i & 0xff), sizeof vb);
		if (mdb_txn_begin(env, NULL, 0, &txn) || mdb_put(txn, dbi, &k, &v, MDB_APPEND) ||
		    mdb_txn_commit(txn)) {
			fprintf(stderr, "raw lmdb: put/commit failed\n");
			exit(1);
		}
		t[i] = now_ns() - t0;
	}
	mdb_env_close(env);
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", d);
	if (system(cmd) != 0)
		exit(1);
	return summarise("(e) raw LMDB put+commit, INTERVAL's flags", t, n);
}

static result run_tbw(const char *dir, const char *name, tbw_durability mode, const char *writemap,
                      size_t n, uint64_t *t)
{
	char logdir[4096], cmd[4200];
	tbw_options o = TBW_OPTIONS_INIT;
	tbw_writer *w;

	snprintf(logdir, sizeof logdir, "%s/bench_tbw_%d_%s", dir, (int)mode, writemap ? writemap : "d");
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", logdir);
	if (system(cmd) != 0)
		exit(1);
	if (writemap)
		setenv("TBW_JOURNAL_WRITEMAP", writemap, 1);
	else
		unsetenv("TBW_JOURNAL_WRITEMAP");
	o.durability = mode;
	if (tbw_open(&w, logdir, &o) != 0) {
		fprintf(stderr, "tbw_open: %s\n", tbw_errmsg());
		exit(1);
	}
	/* warm up: intern the tags, touch the first pages */
	for (size_t i = 0; i < 64; i++)
		tbw_add_scalar(w, tags[i % 4], 0.5, -1, 0);
	for (size_t i = 0; i < n; i++) {
		uint64_t t0 = now_ns();
		if (tbw_add_scalar(w, tags[i % 4], 1.0 / (double)(i + 1), (int64_t)i, 0) != 0) {
			fprintf(stderr, "tbw_add_scalar: %s\n", tbw_errmsg());
			exit(1);
		}
		t[i] = now_ns() - t0;
	}
	tbw_close(w);
	if (system(cmd) != 0)
		exit(1);
	unsetenv("TBW_JOURNAL_WRITEMAP");
	return summarise(name, t, n);
}

/* tbw_add_scalars(): k scalars of one step per call, each call timed alone;
 * the figures are per scalar (call time / k). With single (k = 1), the
 * calls alternate with tbw_add_scalar() calls of the same tag on the same
 * writer, whose figures go to *single: the n = 1 target compares the two
 * within one run (separate runs of this shared machine differ by 30 %). */
static result run_tbw_batch(const char *dir, const char *name, size_t k, size_t n, uint64_t *t,
                            result *single)
{
	static const char *step_tags[8] = { "loss", "accuracy/top1", "lr", "grad_norm",
	                                    "val/loss", "val/acc", "throughput", "weight_norm" };
	const char *tg[8];
	double v[8];
	char logdir[4096], cmd[4200];
	tbw_options o = TBW_OPTIONS_INIT;
	tbw_writer *w;
	size_t calls = n / k;

	snprintf(logdir, sizeof logdir, "%s/bench_tbw_batch_%zu", dir, k);
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", logdir);
	if (system(cmd) != 0 || tbw_open(&w, logdir, &o) != 0) {
		fprintf(stderr, "tbw_open: %s\n", tbw_errmsg());
		exit(1);
	}
	for (size_t j = 0; j < k; j++)
		tg[j] = step_tags[j % 8];
	for (size_t i = 0; i < 64; i++)
		tbw_add_scalars(w, k, tg, v, -1, 0);
	if (single)
		calls /= 2;
	for (size_t i = 0; i < calls; i++) {
		for (size_t j = 0; j < k; j++)
			v[j] = 1.0 / (double)(i * k + j + 1);
		uint64_t t0 = now_ns();
		if (tbw_add_scalars(w, k, tg, v, (int64_t)i, 0) != 0) {
			fprintf(stderr, "tbw_add_scalars: %s\n", tbw_errmsg());
			exit(1);
		}
		t[i] = (now_ns() - t0) / k;
		if (single) {
			t0 = now_ns();
			if (tbw_add_scalar(w, tg[0], v[0], (int64_t)i, 0) != 0) {
				fprintf(stderr, "tbw_add_scalar: %s\n", tbw_errmsg());
				exit(1);
			}
			t[calls + i] = now_ns() - t0;
		}
	}
	tbw_close(w);
	if (system(cmd) != 0)
		exit(1);
	if (single)
		*single = summarise("tbw_add_scalar, alternating with it", t + calls, calls);
	return summarise(name, t, calls);
}

/* ALWAYS from k threads at once (group commit, src/journal.c 4b): each
 * thread makes `calls` tbw_add_scalar() calls back to back on one shared
 * writer; throughput in calls per second over the whole run, and the
 * commits LMDB made for them. */
typedef struct mt_arg {
	tbw_writer *w;
	size_t calls, id;
} mt_arg;

static void *mt_thread(void *p)
{
	mt_arg *a = p;
	for (size_t i = 0; i < a->calls; i++)
		if (tbw_add_scalar(a->w, tags[a->id % 4], (double)i, (int64_t)i, 0) != 0) {
			fprintf(stderr, "tbw_add_scalar: %s\n", tbw_errmsg());
			exit(1);
		}
	return NULL;
}

typedef struct mt_result {
	size_t threads, calls;
	double per_s, commits_per_call;
} mt_result;

typedef struct mt_env {
	char logdir[4096], cmd[4200];
	tbw_writer *w;
	tbw_journal *j;
	uint64_t ns, calls, commits, grouped;
} mt_env;

static void mt_open(mt_env *m, const char *dir, size_t k)
{
	char jdir[4200];
	tbw_options o = TBW_OPTIONS_INIT;
	memset(m, 0, sizeof *m);
	snprintf(m->logdir, sizeof m->logdir, "%s/bench_tbw_mt_%zu", dir, k);
	snprintf(jdir, sizeof jdir, "%s/.tbwal", m->logdir);
	snprintf(m->cmd, sizeof m->cmd, "rm -rf '%s'", m->logdir);
	o.durability = TBW_DURABILITY_ALWAYS;
	if (system(m->cmd) != 0 || tbw_open(&m->w, m->logdir, &o) != 0 ||
	    tbw__journal_open(&m->j, jdir, NULL) != 0) {
		fprintf(stderr, "open: %s\n", tbw_errmsg());
		exit(1);
	}
	for (size_t i = 0; i < 16; i++)
		tbw_add_scalar(m->w, tags[i % 4], 0.5, -1, 0);
}

/* One round: k threads, `calls` each, on m's writer. */
static void mt_round(mt_env *m, size_t k, size_t calls)
{
	pthread_t th[16];
	mt_arg args[16];
	uint64_t c0, n0, c1, n1, t0;

	tbw__journal_group_stats(m->j, &c0, &n0);
	t0 = now_ns();
	for (size_t i = 0; i < k; i++) {
		args[i].w = m->w;
		args[i].calls = calls;
		args[i].id = i;
		pthread_create(&th[i], NULL, mt_thread, &args[i]);
	}
	for (size_t i = 0; i < k; i++)
		pthread_join(th[i], NULL);
	m->ns += now_ns() - t0;
	tbw__journal_group_stats(m->j, &c1, &n1);
	m->calls += k * calls;
	m->commits += c1 - c0;
	m->grouped += n1 - n0;
}

static mt_result mt_close(mt_env *m, size_t k)
{
	mt_result r;
	tbw__journal_close(m->j);
	tbw_close(m->w);
	if (system(m->cmd) != 0)
		exit(1);
	r.threads = k;
	r.calls = m->calls;
	r.per_s = (double)m->calls / ((double)m->ns / 1e9);
	r.commits_per_call = m->grouped ? (double)m->commits / (double)m->grouped : 0;
	return r;
}

static void row(const result *r, const result *a)
{
	printf("  %-44s %9.3f %9.3f %9.3f %8.1fx\n", r->name, r->med_us, r->p99_us, r->mean_us,
	       r->med_us / a->med_us);
}

int main(int argc, char **argv)
{
	const char *dir = argc > 1 ? argv[1] : "/tmp";
	size_t n = argc > 2 ? (size_t)strtoul(argv[2], NULL, 10) : 50000;
	size_t ns = n / 100 < 200 ? 200 : n / 100;
	uint64_t *t = malloc((n > ns ? n : ns) * sizeof *t);
	result a, b, c, d, e, iv, iv_wm, nv, al, al_wm, b1, b1s, b8;

	if (!t)
		return 1;
	printf("bench_add_scalar: dir %s, %zu scalars (sync variants: %zu)\n", dir, n, ns);
	a = run_baseline(dir, BASE_STDIO, n, t);
	b = run_baseline(dir, BASE_WRITE, n, t);
	c = run_baseline(dir, BASE_FDATASYNC, ns, t);
	d = run_mmap_log(dir, n, t);
	e = run_raw_lmdb(dir, n, t);
	iv = run_tbw(dir, "tbw INTERVAL (default: WRITEMAP|NOSYNC)", TBW_DURABILITY_INTERVAL, NULL, n, t);
	/* what WRITEMAP saves (want_writemap() in src/journal/journal.c) */
	iv_wm = run_tbw(dir, "tbw INTERVAL without WRITEMAP (NOSYNC)", TBW_DURABILITY_INTERVAL, "0", n, t);
	nv = run_tbw(dir, "tbw NEVER", TBW_DURABILITY_NEVER, NULL, n, t);
	b1 = run_tbw_batch(dir, "tbw_add_scalars, 1 per call", 1, n, t, &b1s);
	b8 = run_tbw_batch(dir, "tbw_add_scalars, 8 per call (per scalar)", 8, n, t, NULL);
	al = run_tbw(dir, "tbw ALWAYS (default: LMDB sync commits)", TBW_DURABILITY_ALWAYS, NULL, ns, t);
	al_wm = run_tbw(dir, "tbw ALWAYS with WRITEMAP (msync)", TBW_DURABILITY_ALWAYS, "1", ns, t);

	printf("\n  %-44s %9s %9s %9s %9s\n", "per scalar (us)", "median", "p99", "mean", "vs (a)");
	row(&a, &a);
	row(&b, &a);
	row(&c, &a);
	row(&d, &a);
	row(&e, &a);
	row(&iv, &a);
	row(&iv_wm, &a);
	row(&nv, &a);
	row(&b1, &a);
	row(&b1s, &a);
	row(&b8, &a);
	row(&al, &a);
	row(&al_wm, &a);
	{
		/* 1 and 4 threads in alternating rounds: the disk's sync time
		 * drifts by 10x over a run on this shared machine */
		mt_env e1, e4;
		mt_result m1, m4;
		size_t rounds = 6, per = ns / rounds ? ns / rounds : 1;
		mt_open(&e1, dir, 1);
		mt_open(&e4, dir, 4);
		for (size_t r = 0; r < rounds; r++) {
			mt_round(&e1, 1, per);
			mt_round(&e4, 4, per);
		}
		m1 = mt_close(&e1, 1);
		m4 = mt_close(&e4, 4);
		printf("\n  ALWAYS throughput (group commit; %zu alternating rounds)  calls/s  commits/call\n", rounds);
		printf("  1 thread                              %9.0f  %8.2f\n", m1.per_s, m1.commits_per_call);
		printf("  4 threads, one writer                 %9.0f  %8.2f\n", m4.per_s, m4.commits_per_call);
		printf("  (c) write()+fdatasync, 1 thread       %9.0f\n", 1e6 / c.mean_us);
		printf("  4 threads >= 3x 1 thread:  %.2fx     %s\n", m4.per_s / m1.per_s,
		       m4.per_s >= 3 * m1.per_s ? "met" : "NOT met");
	}
	printf("\ntargets (medians):\n");
	printf("  INTERVAL <= 1 us:          %.3f us   %s\n", iv.med_us, iv.med_us <= 1.0 ? "met" : "NOT met");
	printf("  INTERVAL <= 5x (a):        %.1fx     %s\n", iv.med_us / a.med_us,
	       iv.med_us <= 5 * a.med_us ? "met" : "NOT met");
	printf("  INTERVAL faster than (b):  %.2fx of (b) %s\n", iv.med_us / b.med_us,
	       iv.med_us < b.med_us ? "met" : "NOT met");
	printf("  INTERVAL vs (d) mmap log floor: %.1fx; vs (e) raw LMDB commit (one table): %.2fx\n"
	       "    (the <= 1.10x target for tbwal's own layer is judged by bench_commit_layer)\n",
	       iv.med_us / d.med_us, iv.med_us / e.med_us);
	printf("  add_scalars n=8 <= 2x (a): %.1fx     %s\n", b8.med_us / a.med_us,
	       b8.med_us <= 2 * a.med_us ? "met" : "NOT met");
	printf("  add_scalars n=1 <= add_scalar (alternating calls): %.2fx %s\n", b1.med_us / b1s.med_us,
	       b1.med_us <= b1s.med_us * 1.02 ? "met" : "NOT met");
	printf("  ALWAYS <= 1.3x (c):        %.2fx     %s\n", al.med_us / c.med_us,
	       al.med_us <= 1.3 * c.med_us ? "met" : "NOT met");
	free(t);
	return 0;
}
