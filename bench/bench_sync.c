/* bench_sync.c -- what syncing costs.
 *
 *  1. Bytes shipped per scalar on a realistic mix (4 tags per step: a noisy
 *     double loss, a float32-derived accuracy, a stepped learning rate, a
 *     noisy gradient norm; steps counting up; wall_time advancing ~ms with
 *     jitter), per segment size, and through the real syncer (what stays in
 *     the folder, and what was written including merges). Target <= 12.
 *  2. A sync pass's time against the number of new records, at several
 *     journal sizes: it must not grow with the journal's total size.
 *
 * usage: bench_sync [DIR] [--max-journal N]   (DIR default /tmp; not run by make check)
 */
#include "config.h"
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "base/alloc.h"
#include "journal/journal.h"
#include "base/os.h"
#include "format/segment.h"
#include "sync/syncer.h"

static const char *TAGS[] = { "train/loss", "train/accuracy", "train/lr", "train/grad_norm" };
#define NT 4

static uint64_t rs = 88172645463325252ull;
static double urand(void)
{
	rs ^= rs << 13; rs ^= rs >> 7; rs ^= rs << 17;
	return (double)(rs >> 11) / 9007199254740992.0;
}
static double gauss(void)
{
	double u = urand() + 1e-300, v = urand();
	return sqrt(-2 * log(u)) * cos(6.283185307179586 * v);
}

/* The i-th scalar (0-based) of the mix. */
static void mix(uint64_t i, uint32_t *tag, int64_t *step, double *value, double *wall)
{
	static double wall_now = 1700000000.123456;
	int64_t s = (int64_t)(i / NT);
	int t = (int)(i % NT);
	*tag = (uint32_t)t;
	*step = s;
	if (t == 0) {
		wall_now += 0.004 + 0.002 * urand(); /* a step every ~5 ms */
		*value = 2.5 * exp(-(double)s / 20000.0) + 0.05 * gauss();
	} else if (t == 1) {
		*value = (double)(float)(0.5 + 0.45 * (1 - exp(-(double)s / 30000.0)) + 0.01 * gauss());
	} else if (t == 2) {
		*value = 1e-3 * pow(0.5, (double)(s / 10000));
	} else {
		*value = fabs(1.0 + 0.3 * gauss());
	}
	*wall = wall_now + (double)t * 1e-5 * urand();
}

static void rm_rf(const char *d)
{
	char cmd[1024];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", d);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", d);
}

static uint64_t folder_bytes(const char *dir, int *files)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	uint64_t total = 0, a, b;
	uint32_t l;
	*files = 0;
	if (!d)
		return 0;
	while ((de = readdir(d)) != NULL) {
		char p[2048];
		struct stat st;
		if (!tbw__seg_parse_name(de->d_name, &a, &b, &l))
			continue;
		snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
		if (stat(p, &st) == 0) {
			total += (uint64_t)st.st_size;
			(*files)++;
		}
	}
	closedir(d);
	return total;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static int fill(tbw_journal *j, uint64_t from, uint64_t n)
{
	for (uint64_t i = from; i < from + n; i++) {
		uint32_t t;
		int64_t st;
		double v, w;
		mix(i, &t, &st, &v, &w);
		if (tbw__journal_append(j, TAGS[t], strlen(TAGS[t]), v, st, w, NULL))
			return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	const char *where = "/tmp";
	uint64_t maxj = 1000000;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--max-journal") && i + 1 < argc)
			maxj = strtoull(argv[++i], NULL, 10);
		else
			where = argv[i];
	}
	char base[512];
	snprintf(base, sizeof base, "%s/tbw_bench_sync.XXXXXX", where);
	if (!mkdtemp(base)) {
		perror("mkdtemp");
		return 1;
	}

	/* ---- 1. bytes per scalar, by segment size ---- */
	printf("== bytes per scalar (mix: 4 tags/step, noisy values, steps +1, wall ~5 ms/step)\n");
	printf("   a plain row (seq 8 + wall 8 + step 8 + value 8 + tag id 4) is 36 bytes; a TFRecord Event ~45\n");
	printf("%12s %12s %14s\n", "records/seg", "bytes/seg", "bytes/scalar");
	{
		const size_t sizes[] = { 100, 400, 3200, 25600, 204800 };
		tbw_seg_tag tags[NT];
		uint8_t id[16] = { 1 };
		for (int t = 0; t < NT; t++) {
			tags[t].name = TAGS[t];
			tags[t].len = strlen(TAGS[t]);
		}
		for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
			size_t n = sizes[k], total = 0, nsegs = 0;
			size_t scalars = 409600; /* the same stream cut into segments of n */
			tbw_seg_rec *r = calloc(n, sizeof *r);
			rs = 88172645463325252ull;
			for (size_t done = 0; done < scalars; done += n) {
				for (size_t i = 0; i < n; i++) {
					uint32_t t;
					mix(done + i, &t, &r[i].step, &r[i].value, &r[i].wall_time);
					r[i].seq = done + i + 1;
					r[i].tag = t + 1;
				}
				uint8_t *f = NULL;
				size_t len = 0;
				if (tbw__seg_encode(id, 0, r, n, tags, NT, &f, &len)) {
					fprintf(stderr, "encode: %s\n", tbw_errmsg());
					return 1;
				}
				total += len;
				nsegs++;
				tbw__free(f);
			}
			printf("%12zu %12.0f %14.2f\n", n, (double)total / (double)nsegs,
			       (double)total / (double)scalars);
			free(r);
		}
	}

	/* through the syncer: 12 h of a run logging 4 scalars every 50 ms, synced every 5 s */
	{
		char jd[600], sd[600];
		snprintf(jd, sizeof jd, "%s/j-mix", base);
		snprintf(sd, sizeof sd, "%s/s-mix", base);
		mkdir(sd, 0777);
		tbw_jopen cfg = TBW_JOPEN_INIT;
		tbw_journal *j = NULL;
		tbw_syncer *s = NULL;
		cfg.create = 1;
		if (tbw__journal_open(&j, jd, &cfg) || tbw__syncer_open(&s, j, sd, "mix", 0)) {
			fprintf(stderr, "open: %s\n", tbw_errmsg());
			return 1;
		}
		const uint64_t per_pass = 400, passes = 8640; /* 12 h at 5 s */
		rs = 88172645463325252ull;
		uint64_t t0 = tbw__now_ns();
		for (uint64_t p = 0; p < passes; p++) {
			if (fill(j, p * per_pass, per_pass) || tbw__syncer_pass(s, NULL)) {
				fprintf(stderr, "pass: %s\n", tbw_errmsg());
				return 1;
			}
		}
		double secs = (double)(tbw__now_ns() - t0) / 1e9;
		tbw_sync_stats st;
		int files;
		tbw__syncer_stats(s, &st);
		uint64_t kept = folder_bytes(tbw__syncer_run_dir(s), &files);
		double n = (double)(per_pass * passes);
		printf("\n== through the syncer: %llu passes of %llu scalars (12 h at 5 s), in %.1f s\n",
		       (unsigned long long)passes, (unsigned long long)per_pass, secs);
		printf("   in the folder at the end: %d files, %.2f bytes/scalar   (target <= 12)\n",
		       files, (double)kept / n);
		printf("   written incl. merges:     %.2f bytes/scalar (%llu merges; total upload)\n",
		       (double)st.bytes_written / n, (unsigned long long)st.merges);
		tbw__syncer_close(s);
		tbw__journal_close(j);
	}

	/* ---- 2. pass time vs new records, at several journal sizes ---- */
	printf("\n== sync pass time (median of 15 passes, ms) vs new records, by journal size (%s)\n", where);
	{
		uint64_t jsizes[] = { 10000, 100000, 1000000 };
		const uint64_t news[] = { 10, 100, 1000, 10000 };
		double med[3][4];
		int nj = 0;
		printf("%12s", "journal");
		for (int k = 0; k < 4; k++)
			printf(" %9llu new", (unsigned long long)news[k]);
		printf("\n");
		for (int a = 0; a < 3 && jsizes[a] <= maxj; a++, nj++) {
			char jd[600], sd[600];
			snprintf(jd, sizeof jd, "%s/j-%d", base, a);
			snprintf(sd, sizeof sd, "%s/s-%d", base, a);
			mkdir(sd, 0777);
			tbw_jopen cfg = TBW_JOPEN_INIT;
			tbw_journal *j = NULL;
			tbw_syncer *s = NULL;
			cfg.create = 1;
			if (tbw__journal_open(&j, jd, &cfg) || tbw__syncer_open(&s, j, sd, "size", 0)) {
				fprintf(stderr, "open: %s\n", tbw_errmsg());
				return 1;
			}
			rs = 88172645463325252ull;
			uint64_t next = 0;
			if (fill(j, next, jsizes[a]) || tbw__syncer_pass(s, NULL)) {
				fprintf(stderr, "fill: %s\n", tbw_errmsg());
				return 1;
			}
			next += jsizes[a];
			printf("%12llu", (unsigned long long)jsizes[a]);
			for (int k = 0; k < 4; k++) {
				uint64_t t[15];
				for (int r = 0; r < 15; r++) {
					if (fill(j, next, news[k])) {
						fprintf(stderr, "fill: %s\n", tbw_errmsg());
						return 1;
					}
					next += news[k];
					uint64_t t0 = tbw__now_ns();
					if (tbw__syncer_pass(s, NULL)) {
						fprintf(stderr, "pass: %s\n", tbw_errmsg());
						return 1;
					}
					t[r] = tbw__now_ns() - t0;
				}
				qsort(t, 15, sizeof t[0], cmp_u64);
				med[a][k] = (double)t[7] / 1e6;
				printf(" %13.3f", med[a][k]);
			}
			printf("\n");
			fflush(stdout);
			tbw__syncer_close(s);
			tbw__journal_close(j);
		}
		if (nj >= 2) {
			printf("ratio largest/smallest journal:");
			for (int k = 0; k < 4; k++)
				printf(" %.2f", med[nj - 1][k] / med[0][k]);
			printf("   (~1 means a pass does not grow with the journal)\n");
		}
	}
	rm_rf(base);
	return 0;
}
