/* bench_long_run.c -- a long run through the public API: N scalars (default
 * 10 million) logged with the default options, the background compactor
 * exporting and pruning every second (and every 131072 appends, see
 * KICK_RECORDS in src/writer.c). Prints the curve: every N/20 scalars the
 * journal's disk use (allocated blocks of data.mdb, which is sparse at the
 * map size under MDB_WRITEMAP, plus the room ensure_room reserves), LMDB's
 * high-water mark, and the most records the journal held meanwhile; then
 * whether disk use stopped growing after the first prunings (issue 18),
 * and add_scalar's latency percentiles with the compactor beside it.
 *
 *   bench_long_run [N] [TMPDIR]      (TBW_BENCH_KEEP=1 keeps the journal)
 */
#include "config.h"
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include "journal/journal.h"
#include "tbwal.h"

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* per-call latency histogram: 100 ns buckets up to 1 ms, then one */
#define HB 10001
static uint64_t hist[HB];

static double pct(uint64_t total, double q)
{
	uint64_t want = (uint64_t)((double)total * q), acc = 0;
	for (int b = 0; b < HB; b++)
		if ((acc += hist[b]) > want)
			return (double)b * 0.1;
	return 1000.0;
}

static uint64_t allocated(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 ? (uint64_t)st.st_blocks * 512 : 0;
}

int main(int argc, char **argv)
{
	uint64_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 10000000ull;
	const char *tmp = argc > 2 ? argv[2] : "/tmp";
	static const char *tags[] = { "loss", "accuracy", "lr", "grad_norm" };
	char root[PATH_MAX], data[PATH_MAX + 64], cmd[PATH_MAX + 32];
	uint64_t sizes[10], peak = 0, hwm[20], alloc[20], held[20], held_max = 0;
	char jdir[PATH_MAX + 16];
	tbw_journal *j = NULL;
	tbw_writer *w;
	double t0, t1;
	int grew = 0;

	snprintf(root, sizeof root, "%s/tbw_bench_long.XXXXXX", tmp);
	if (!mkdtemp(root)) { perror("mkdtemp"); return 2; }
	snprintf(data, sizeof data, "%s/.tbwal/data.mdb", root);
	if (tbw_open(&w, root, NULL) != 0) {
		fprintf(stderr, "open: %s\n", tbw_errmsg());
		return 2;
	}
	snprintf(jdir, sizeof jdir, "%s/.tbwal", root);
	if (tbw__journal_open(&j, jdir, NULL) != 0) {
		fprintf(stderr, "journal open: %s\n", tbw_errmsg());
		return 2;
	}
	printf("bench_long_run: %" PRIu64 " scalars, default options (compactor every 1 s), %s\n", n, root);
	t0 = now_s();
	for (uint64_t i = 0; i < n; i++) {
		uint64_t c0 = now_ns(), dt;
		if (tbw_add_scalar(w, tags[i % 4], (double)i * 1e-3, (int64_t)(i / 4), 0) != 0) {
			fprintf(stderr, "add_scalar: %s\n", tbw_errmsg());
			return 2;
		}
		dt = (now_ns() - c0) / 100;
		hist[dt < HB - 1 ? dt : HB - 1]++;
		if ((i + 1) % (n / 20) == 0 && (i + 1) / (n / 20) <= 20) {
			size_t q = (size_t)((i + 1) / (n / 20)) - 1;
			alloc[q] = allocated(data);
			tbw__journal_file_size(j, &hwm[q]);
			held[q] = held_max;
			held_max = 0;
		}
		if ((i & 4095) == 0) {
			uint64_t h = 0;
			tbw__journal_count(j, &h);
			if (h > held_max)
				held_max = h;
		}
		if ((i + 1) % (n / 10) == 0 && (i + 1) / (n / 10) <= 10) {
			uint64_t a = allocated(data);
			sizes[(i + 1) / (n / 10) - 1] = a;
			if (a > peak)
				peak = a;
		}
	}
	tbw__journal_close(j);
	if (tbw_close(w) != 0) {
		fprintf(stderr, "close: %s\n", tbw_errmsg());
		return 2;
	}
	t1 = now_s();
	printf("logged and exported in %.1f s (%.2f us per scalar, export included)\n",
	       t1 - t0, (t1 - t0) * 1e6 / (double)n);
	printf("add_scalar latency (us, while the compactor runs beside it): p50 %.1f  p99 %.1f  "
	       "p99.9 %.1f  p99.99 %.1f\n", pct(n, 0.5), pct(n, 0.99), pct(n, 0.999), pct(n, 0.9999));
	printf("journal disk use (MB) after each tenth:");
	for (int k = 0; k < 10; k++) {
		printf(" %.1f", (double)sizes[k] / 1048576.0);
		if (k >= 2 && sizes[k] > sizes[1])
			grew = 1;
	}
	printf("\ncurve (every %" PRIu64 " scalars): disk use MB, LMDB high-water mark MB, most records\n"
	       "held unexported/unpruned in the journal during the interval (sampled every 4096 calls)\n", n / 20);
	for (int k = 0; k < 20; k++)
		printf("  %6.1f M  %7.1f  %7.1f  %9" PRIu64 "\n", (double)(k + 1) * (double)(n / 20) / 1e6,
		       (double)alloc[k] / 1048576.0, (double)hwm[k] / 1048576.0, held[k]);
	printf("\nafter close: %.1f MB; a journal holding all %" PRIu64 " records would take about %.0f MB\n",
	       (double)allocated(data) / 1048576.0, n, (double)n * 48.0 / 1048576.0);
	printf("target: no growth after the first prunings (from the 2nd tenth on): %s\n",
	       grew ? "MISSED" : "met");
	if (getenv("TBW_BENCH_KEEP")) {
		printf("kept %s (TBW_BENCH_KEEP)\n", root);
		return 0;
	}
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
	return system(cmd) == 0 ? 0 : 2;
}
