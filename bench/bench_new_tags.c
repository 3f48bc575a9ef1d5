/* bench_new_tags.c -- what a new tag costs as the tag table grows.
 *
 * Logs one scalar under each of N distinct tags (default 100,000) through
 * tbw_add_scalar(), timing each call, and reports the cost of a new tag in
 * the last tenth (at about N tags), against the cost of a scalar under a tag
 * the journal already knows, measured in the same run on the same writer.
 * Target (issue 18): at most 2 us per new tag at 100,000 tags.
 *
 * usage: bench_new_tags [DIR] [N]     (DIR default /tmp)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "tbwal.h"

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

static double median_us(uint64_t *t, size_t n)
{
	qsort(t, n, sizeof *t, cmp_u64);
	return (double)t[n / 2] / 1000.0;
}

static double mean_us(const uint64_t *t, size_t n)
{
	uint64_t s = 0;
	for (size_t i = 0; i < n; i++)
		s += t[i];
	return (double)s / (double)n / 1000.0;
}

int main(int argc, char **argv)
{
	const char *dir = argc > 1 ? argv[1] : "/tmp";
	size_t n = argc > 2 ? (size_t)strtoul(argv[2], NULL, 10) : 100000;
	size_t tail = n / 10 ? n / 10 : 1;
	tbw_options o = TBW_OPTIONS_INIT;
	char logdir[4096], cmd[4200], tag[64];
	uint64_t *t = malloc(n * sizeof *t), *old = malloc(tail * sizeof *old);
	tbw_writer *w;

	if (!t || !old || n < 10)
		return 1;
	snprintf(logdir, sizeof logdir, "%s/bench_new_tags_%d", dir, (int)getpid());
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", logdir);
	if (system(cmd) != 0)
		return 1;
	o.compact_interval_ms = 0;   /* measure the logging call alone */
	if (tbw_open(&w, logdir, &o) != 0) {
		fprintf(stderr, "tbw_open: %s\n", tbw_errmsg());
		return 1;
	}
	for (size_t i = 0; i < n; i++) {
		snprintf(tag, sizeof tag, "layer%06zu/grad_norm", i);
		uint64_t t0 = now_ns();
		if (tbw_add_scalar(w, tag, (double)i, 0, 0) != 0) {
			fprintf(stderr, "tbw_add_scalar: %s\n", tbw_errmsg());
			return 1;
		}
		t[i] = now_ns() - t0;
	}
	/* the baseline: the same writer, tags it already knows */
	for (size_t i = 0; i < tail; i++) {
		snprintf(tag, sizeof tag, "layer%06zu/grad_norm", (i * 7919) % n);
		uint64_t t0 = now_ns();
		if (tbw_add_scalar(w, tag, (double)i, 1, 0) != 0) {
			fprintf(stderr, "tbw_add_scalar: %s\n", tbw_errmsg());
			return 1;
		}
		old[i] = now_ns() - t0;
	}
	if (tbw_close(w) != 0) {
		fprintf(stderr, "tbw_close: %s\n", tbw_errmsg());
		return 1;
	}
	if (system(cmd) != 0)
		return 1;
	{
		double first_mean = mean_us(t, tail), last_mean = mean_us(t + n - tail, tail);
		uint64_t *lt = t + n - tail, slow_sum = 0, sum = 0;
		size_t nslow = 0;
		/* where the last tenth's mean comes from: calls over 10 us */
		for (size_t i = 0; i < tail; i++) {
			sum += lt[i];
			if (lt[i] > 10000) {
				slow_sum += lt[i];
				nslow++;
			}
		}
		double last_med = median_us(lt, tail), known_med = median_us(old, tail);
		printf("bench_new_tags: %zu distinct tags, one scalar each (dir %s)\n", n, dir);
		printf("  new tag, first %zu tags:        mean %7.3f us\n", tail, first_mean);
		printf("  new tag, last %zu (at ~%zu):  mean %7.3f us, median %7.3f us\n",
		       tail, n, last_mean, last_med);
		printf("  last tenth per call: p90 %.2f us, p99 %.2f, p99.9 %.2f, max %.1f; %zu calls over 10 us "
		       "hold %.0f%% of its time (mean without them %.3f us)\n",
		       lt[tail * 9 / 10] / 1e3, lt[tail * 99 / 100] / 1e3, lt[tail * 999 / 1000] / 1e3,
		       lt[tail - 1] / 1e3, nslow, sum ? 100.0 * (double)slow_sum / (double)sum : 0.0,
		       tail > nslow ? (double)(sum - slow_sum) / (double)(tail - nslow) / 1e3 : 0.0);
		printf("  known tag, same writer:          median %7.3f us\n", known_med);
		printf("  new tag at ~%zu tags vs known tag: %.2fx (median)\n", n, last_med / known_med);
		printf("  last tenth vs first tenth (mean):  %.2fx (flat means O(1))\n", last_mean / first_mean);
		printf("target: <= 2 us per new tag at 100,000 tags (mean): %.3f us %s\n", last_mean,
		       last_mean <= 2.0 ? "met" : "MISSED");
	}
	free(t);
	free(old);
	return 0;
}
