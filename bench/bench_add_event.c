/* bench_add_event.c -- per-call cost of tbw_add_event() against
 * tbw_add_scalar() in the same run, same writer settings (INTERVAL, the
 * default): a scalar, then event records of a scalar-sized summary, a
 * 1 KiB text, a 64 KiB and a 1 MiB image-like body. Each call is timed
 * alone; the table gives the median and p99 and the ratio to add_scalar.
 * The scalar path itself is what bench_add_scalar measures against its
 * baselines; this one shows what a variable-size record costs beside it.
 *
 * usage: bench_add_event [DIR] [N]   (default /tmp, N = 20000 small calls;
 * the large bodies use N/100, at least 50).
 */
#include "config.h"
#include <stdint.h>
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
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* summary { value { tag "img"; image { encoded_image_string: n bytes } } } */
static uint8_t *body_of(size_t n, size_t *len)
{
	uint8_t *b = malloc(n + 64), *p = b;
	size_t img = 1 + 4 + n, val = 5 + 1 + 4 + img, sum = 1 + 4 + val;
#define V4(x) do { size_t v_ = (x); *p++ = (uint8_t)(v_ | 0x80); *p++ = (uint8_t)((v_ >> 7) | 0x80); \
	*p++ = (uint8_t)((v_ >> 14) | 0x80); *p++ = (uint8_t)(v_ >> 21); } while (0)
	*p++ = 0x2a; V4(sum);
	*p++ = 0x0a; V4(val);
	memcpy(p, "\x0a\x03img", 5); p += 5;
	*p++ = 0x22; V4(img);
	*p++ = 0x22; V4(n);
	for (size_t i = 0; i < n; i++)
		*p++ = (uint8_t)(i * 2654435761u >> 13);
	*len = (size_t)(p - b);
	return b;
}

static void run(tbw_writer *w, const char *name, size_t body, size_t n, double *base)
{
	uint64_t *t = malloc(n * sizeof *t);
	uint8_t *b = NULL;
	size_t len = 0;
	double med;

	if (body)
		b = body_of(body, &len);
	for (size_t i = 0; i < n; i++) {
		uint64_t t0 = now_ns();
		int rc = body ? tbw_add_event(w, "img", (int64_t)i, 0, b, len)
		              : tbw_add_scalar(w, "loss", (double)i, (int64_t)i, 0);
		t[i] = now_ns() - t0;
		if (rc) {
			fprintf(stderr, "%s: %s\n", name, tbw_errmsg());
			exit(1);
		}
	}
	qsort(t, n, sizeof *t, cmp_u64);
	med = (double)t[n / 2] / 1000.0;
	if (!*base)
		*base = med;
	printf("%-28s %8zu calls  median %9.2f us  p99 %9.2f us  x%.1f add_scalar\n", name, n, med,
	       (double)t[n * 99 / 100] / 1000.0, med / *base);
	free(t);
	free(b);
}

int main(int argc, char **argv)
{
	const char *dir = argc > 1 ? argv[1] : "/tmp";
	size_t n = argc > 2 ? (size_t)atol(argv[2]) : 20000, nb = n / 100 < 50 ? 50 : n / 100;
	char logdir[4096];
	tbw_options o = TBW_OPTIONS_INIT;
	tbw_writer *w = NULL;
	double base = 0;

	snprintf(logdir, sizeof logdir, "%s/bench_add_event.%ld", dir, (long)getpid());
	o.compact_interval_ms = 1000;
	if (tbw_open(&w, logdir, &o)) {
		fprintf(stderr, "open: %s\n", tbw_errmsg());
		return 1;
	}
	run(w, "add_scalar", 0, n, &base);
	run(w, "add_event 16 B summary", 16, n, &base);
	run(w, "add_event 1 KiB", 1024, n, &base);
	run(w, "add_event 64 KiB", 64 << 10, nb, &base);
	run(w, "add_event 1 MiB", 1 << 20, nb, &base);
	run(w, "add_scalar (again)", 0, n, &base);
	tbw_close(w);
	{
		char cmd[4200];
		snprintf(cmd, sizeof cmd, "rm -rf '%s'", logdir);
		if (system(cmd) != 0)
			return 1;
	}
	return 0;
}
