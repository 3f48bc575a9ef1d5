/* bench_compact.c -- the compactor's two figures, measured in one run:
 *
 *  1. Export throughput (scalars/s) of the compactor (journal -> event
 *     files, fsync and cursor commit per batch), with and without pruning,
 *     against a plain buffered TFRecord writer (encode + frame + stdio
 *     fwrite, no fsync, as TensorBoard's own writers do) writing the same
 *     events from memory. Target: >= 3e6 scalars/s, <= 2x the plain writer.
 *     Twice: for a writer's journal (one tbw__journal_append per scalar:
 *     an LMDB entry each, what a training run leaves; the targets) and for
 *     a restored one (tbw__journal_insert in batches: run records of 64,
 *     what tbrecover exports).
 *  2. Freshness with a live writer: time from tbw_add_scalar() returning to
 *     the record being complete in an event file (polled with the tfrecord
 *     reader every 0.5 ms), p50 and p99, with the defaults and with
 *     compact_interval_ms = 100. Targets: p99 <= 1 s and <= 200 ms.
 *
 *   bench_compact [N_SCALARS (default 2000000)] [FRESH_SAMPLES (default 300)]
 */
#include "config.h"
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "base/alloc.h"
#include "export/compactor.h"
#include "format/event.h"
#include "journal/journal.h"
#include "base/os.h"
#include "tbwal.h"
#include "format/tfrecord.h"

static const char *tags[] = { "train/loss", "train/accuracy", "train/lr", "eval/loss",
                              "grad/global_norm", "throughput/samples_per_sec" };

static double now_s(void)
{
	return (double)tbw__now_ns() / 1e9;
}

static void die(const char *what)
{
	fprintf(stderr, "bench_compact: %s: %s\n", what, tbw_errmsg());
	exit(1);
}

static void rmrf(const char *d)
{
	char cmd[600];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", d);
	if (system(cmd) != 0)
		fprintf(stderr, "bench_compact: could not remove %s\n", d);
}

static void rm_events(const char *logdir)
{
	DIR *d = opendir(logdir);
	struct dirent *e;
	while (d && (e = readdir(d)) != NULL)
		if (strstr(e->d_name, "tfevents")) {
			char p[1024];
			snprintf(p, sizeof p, "%s/%s", logdir, e->d_name);
			unlink(p);
		}
	if (d)
		closedir(d);
}

/* ---- 1. Throughput ---- */

static double plain_writer(const char *path, const tbw_jrec_named *r, size_t n)
{
	uint8_t scratch[2048], frame[2100];
	double t0 = now_s();
	FILE *f = fopen(path, "wb");
	size_t k;

	if (!f)
		die("fopen plain");
	k = tbw__event_encode_file_version(scratch, 1.7e9);
	fwrite(frame, 1, tbw__tfrecord_frame(frame, scratch, k), f);
	for (size_t i = 0; i < n; i++) {
		k = tbw__event_encode_simple(scratch, r[i].wall_time, r[i].step, r[i].tag, r[i].tag_len,
		                             (float)r[i].value);
		fwrite(frame, 1, tbw__tfrecord_frame(frame, scratch, k), f);
	}
	fclose(f);
	return now_s() - t0;
}

static double compact_once(tbw_journal *j, const char *logdir, uint64_t *nexp)
{
	tbw_compact_cfg cfg = TBW_COMPACT_CFG_INIT;
	tbw_compactor *c = NULL;
	double t0;

	cfg.logdir = logdir;
	t0 = now_s();
	if (tbw__compactor_open(&c, j, &cfg) != TBW_OK)
		die("compactor open");
	if (tbw__compactor_pass(c, nexp) != TBW_OK)
		die("compactor pass");
	tbw__compactor_close(c);
	return now_s() - t0;
}

static void throughput(const char *tmp, size_t n, int restored)
{
	char logdir[512], jdir[600], plain[600];
	tbw_jopen jo = TBW_JOPEN_INIT;
	tbw_journal *j = NULL;
	tbw_jrec_named *r = tbw__calloc(n, sizeof *r);
	tbw_jexport zero;
	uint64_t exp1 = 0, exp2 = 0;
	double tp, tc, tcp, t0, tr = 0, tr0;
	const size_t batch = 10000;

	if (!r)
		die("calloc");
	snprintf(logdir, sizeof logdir, "%s/tp%d", tmp, restored);
	snprintf(jdir, sizeof jdir, "%s/.tbwal", logdir);
	snprintf(plain, sizeof plain, "%s/plain.events", tmp);
	tbw__mkdir_p(logdir, "bench");
	for (size_t i = 0; i < n; i++) {
		const char *t = tags[i % 6];
		r[i].seq = i + 1;
		r[i].wall_time = 1.7e9 + (double)i * 1e-3;
		r[i].step = (int64_t)(i / 6);
		r[i].value = 1.0 / (1.0 + (double)i);
		r[i].tag = t;
		r[i].tag_len = strlen(t);
	}
	jo.create = 1;
	jo.logdir = logdir;
	if (tbw__journal_open(&j, jdir, &jo) != TBW_OK)
		die("journal open");
	t0 = now_s();
	if (restored) {
		for (size_t i = 0; i < n; i += batch)
			if (tbw__journal_insert(j, r + i, n - i < batch ? n - i : batch, NULL) != TBW_OK)
				die("journal insert");
	} else {
		for (size_t i = 0; i < n; i++)
			if (tbw__journal_append(j, r[i].tag, r[i].tag_len, r[i].value, r[i].step, r[i].wall_time,
			                        NULL) != TBW_OK)
				die("journal append");
	}
	fprintf(stderr, "journal filled with %zu scalars in %.2f s (%s)\n", n, now_s() - t0,
	        restored ? "restored: tbw__journal_insert" : "a writer's: tbw__journal_append");

	/* a ship cursor at 0 keeps the records: export without pruning */
	if (tbw__journal_set_ship(j, 0) != TBW_OK)
		die("set ship");
	{
		tbw_jrec *recs = tbw__calloc(4096, sizeof *recs);
		tbw_jread inf;
		uint64_t pos = 0;
		t0 = now_s();
		do {
			if (tbw__journal_read(j, pos, recs, 4096, &inf) != TBW_OK)
				die("journal read");
			pos = inf.next_after;
		} while (inf.n);
		tr0 = now_s() - t0;
		tbw__free(recs);
	}
	tc = compact_once(j, logdir, &exp1);
	/* again from scratch, now pruning everything as it goes */
	memset(&zero, 0, sizeof zero);
	rm_events(logdir);
	if (tbw__journal_set_export(j, &zero) != TBW_OK || tbw__journal_set_ship(j, n) != TBW_OK)
		die("reset cursors");
	tcp = compact_once(j, logdir, &exp2);
	tp = plain_writer(plain, r, n);
	{
		/* the floor the journal sets: reading every record, nothing else */
		tbw_jrec *recs = tbw__calloc(4096, sizeof *recs);
		tbw_jread inf;
		uint64_t pos = 0, got = 0;
		t0 = now_s();
		do {
			if (tbw__journal_read(j, pos, recs, 4096, &inf) != TBW_OK)
				die("journal read");
			pos = inf.next_after;
			got += inf.n;
		} while (inf.n);
		tr = now_s() - t0;
		tbw__free(recs);
		if (got)
			fprintf(stderr, "journal still holds %" PRIu64 " records after pruning!\n", got);
	}
	if (exp1 != n || exp2 != n)
		fprintf(stderr, "bench_compact: exported %" PRIu64 " / %" PRIu64 " of %zu!\n", exp1, exp2, n);
	printf("export throughput, %zu scalars, %s:\n", n,
	       restored ? "a restored journal (run records)" : "a writer's journal (an entry per scalar)");
	printf("  plain buffered TFRecord writer (memory -> file, no fsync): %8.3f s  %6.2f M scalars/s\n",
	       tp, (double)n / tp / 1e6);
	printf("  compactor, journal -> event files, no pruning:            %8.3f s  %6.2f M scalars/s  ratio %.2fx\n",
	       tc, (double)n / tc / 1e6, tc / tp);
	printf("  compactor, journal -> event files, with pruning:          %8.3f s  %6.2f M scalars/s  ratio %.2fx\n",
	       tcp, (double)n / tcp / 1e6, tcp / tp);
	printf("  (journal read alone, the floor:                           %8.3f s  %6.2f M scalars/s  ratio %.2fx)\n",
	       tr0, (double)n / tr0 / 1e6, tr0 / tp);
	if (!restored)
		printf("  targets: >= 3.00 M scalars/s, ratio <= 2.00x\n");
	(void)tr;
	tbw__journal_close(j);
	tbw__free(r);
}

/* ---- 2. Freshness ---- */

typedef struct fresh {
	const char *logdir;
	size_t n;
	double *t_ret;          /* when tbw_add_scalar returned, per step */
	double *t_seen;         /* when the poller first saw it complete */
	atomic_size_t seen;
	atomic_int stop;
} fresh;

typedef struct fpos { char name[256]; uint64_t off; } fpos;

static void *poller(void *arg)
{
	fresh *f = arg;
	fpos files[512];
	size_t nf = 0;

	while (!atomic_load(&f->stop)) {
		DIR *d = opendir(f->logdir);
		struct dirent *e;
		while (d && (e = readdir(d)) != NULL) {
			size_t k;
			if (!strstr(e->d_name, "tfevents"))
				continue;
			for (k = 0; k < nf && strcmp(files[k].name, e->d_name); k++)
				;
			if (k == nf && nf < 512) {
				snprintf(files[nf].name, sizeof files[nf].name, "%s", e->d_name);
				files[nf++].off = 0;
			}
		}
		if (d)
			closedir(d);
		for (size_t k = 0; k < nf; k++) {
			char p[1400];
			tbw_tfr_reader *r = NULL;
			const uint8_t *data;
			size_t len;
			int fd;
			snprintf(p, sizeof p, "%.1000s/%.255s", f->logdir, files[k].name);
			if ((fd = open(p, O_RDONLY)) < 0)
				continue;
			if (tbw__tfr_reader_open(&r, fd, files[k].off, p) == TBW_OK) {
				while (tbw__tfr_reader_next(r, &data, &len, NULL) == TBW_TFR_RECORD) {
					tbw_event ev;
					double t = now_s();
					if (tbw__event_decode(data, len, &ev) == TBW_OK && ev.kind == TBW_EVENT_SCALAR &&
					    ev.step >= 0 && (size_t)ev.step < f->n && f->t_seen[ev.step] == 0) {
						f->t_seen[ev.step] = t;
						atomic_fetch_add(&f->seen, 1);
					}
				}
				files[k].off = tbw__tfr_reader_offset(r);
				tbw__tfr_reader_close(r);
			}
			close(fd);
		}
		usleep(500);
	}
	return NULL;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static void freshness(const char *tmp, size_t n, unsigned interval_ms, double target_ms)
{
	char logdir[512];
	tbw_options o = TBW_OPTIONS_INIT;
	tbw_writer *w = NULL;
	fresh f;
	pthread_t th;
	double *lat, t_end;
	size_t nl = 0;

	snprintf(logdir, sizeof logdir, "%s/fresh%u", tmp, interval_ms);
	memset(&f, 0, sizeof f);
	f.logdir = logdir;
	f.n = n;
	f.t_ret = calloc(n, sizeof *f.t_ret);
	f.t_seen = calloc(n, sizeof *f.t_seen);
	lat = calloc(n, sizeof *lat);
	if (interval_ms)
		o.compact_interval_ms = interval_ms;
	if (tbw_open(&w, logdir, interval_ms ? &o : NULL) != TBW_OK)
		die("tbw_open");
	pthread_create(&th, NULL, poller, &f);
	for (size_t i = 0; i < n; i++) {
		struct timespec ts = { 0, (long)(2 + rand() % 18) * 1000000L };
		if (tbw_add_scalar(w, "fresh", (double)i, (int64_t)i, 0) != TBW_OK)
			die("tbw_add_scalar");
		f.t_ret[i] = now_s();
		nanosleep(&ts, NULL);
	}
	t_end = now_s() + 5.0;
	while (atomic_load(&f.seen) < n && now_s() < t_end)
		usleep(1000);
	atomic_store(&f.stop, 1);
	pthread_join(th, NULL);
	tbw_close(w);
	for (size_t i = 0; i < n; i++)
		if (f.t_seen[i] > 0)
			lat[nl++] = (f.t_seen[i] - f.t_ret[i]) * 1e3;
	qsort(lat, nl, sizeof *lat, cmp_d);
	printf("freshness, compact_interval_ms=%u%s, %zu scalars (%zu seen before close):\n",
	       interval_ms ? interval_ms : 1000, interval_ms ? "" : " (default options)", n, nl);
	if (nl)
		printf("  p50 %7.1f ms   p99 %7.1f ms   max %7.1f ms   target p99 <= %.0f ms: %s\n",
		       lat[nl / 2], lat[(nl * 99) / 100 < nl ? (nl * 99) / 100 : nl - 1], lat[nl - 1], target_ms,
		       nl == n && lat[(nl * 99) / 100] <= target_ms ? "met" : "MISSED");
	free(f.t_ret);
	free(f.t_seen);
	free(lat);
}

int main(int argc, char **argv)
{
	size_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 2000000;
	size_t m = argc > 2 ? strtoull(argv[2], NULL, 10) : 300;
	char tmp[] = "/tmp/tbw_bench_compact.XXXXXX";

	if (!mkdtemp(tmp)) {
		perror("mkdtemp");
		return 1;
	}
	srand(1);
	throughput(tmp, n, 0);
	throughput(tmp, n, 1);
	freshness(tmp, m, 0, 1000);
	freshness(tmp, m, 100, 200);
	rmrf(tmp);
	return 0;
}
