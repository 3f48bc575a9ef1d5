/* bench_crc32c.c -- CRC-32C throughput of the hardware and table paths in
 * GB/s on 64 B, 4 KiB and 1 MiB buffers, and the hardware/table ratio
 * measured in this one run (target: >= 5x on 4 KiB buffers).
 *
 *   bench/bench_crc32c [SECONDS_PER_CASE]     (default 0.5) */
#include "config.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "format/crc32c.h"
#include "base/os.h"

typedef uint32_t (*crc_fn)(uint32_t, const void *, size_t);

#if defined(__x86_64__)
#define HW_NAME "SSE4.2 crc32q, 3-way interleaved"
#else
#define HW_NAME "ARMv8 crc32c"
#endif

static volatile uint32_t sink;

/* Bytes per second of f over buffers of size n, run for about secs. */
static double rate(crc_fn f, const uint8_t *buf, size_t n, double secs)
{
	uint64_t iters = 1, t0, t1;
	uint32_t c = 0;

	for (;;) {             /* grow the batch until it takes >= secs */
		t0 = tbw__now_ns();
		for (uint64_t i = 0; i < iters; i++)
			c = f(c, buf, n);
		t1 = tbw__now_ns();
		if ((double)(t1 - t0) >= secs * 1e9 || iters > (1ull << 40))
			break;
		iters *= (t1 - t0) < 1000000 ? 16 : 2;
	}
	sink = c;
	return (double)iters * (double)n / ((double)(t1 - t0) / 1e9);
}

int main(int argc, char **argv)
{
	static const size_t sizes[] = {64, 4096, 1u << 20};
	double secs = argc > 1 ? atof(argv[1]) : 0.5;
	int hw = tbw__crc32c_have_hw(), met = -1;
	uint8_t *buf = malloc(1u << 20);

	if (!buf || secs <= 0) {
		fprintf(stderr, "usage: bench_crc32c [SECONDS_PER_CASE > 0]\n");
		return 2;
	}
	for (size_t i = 0; i < 1u << 20; i++)
		buf[i] = (uint8_t)(i * 2654435761u >> 13);
	printf("CRC-32C throughput, %.2f s per case; hardware path: %s\n", secs,
	       hw ? HW_NAME : "not available on this CPU");
	printf("%10s %14s %14s %10s\n", "buffer", "hw GB/s", "table GB/s", "hw/table");
	for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
		double t = rate(tbw__crc32c_sw, buf, sizes[k], secs);
		double h = hw ? rate(tbw__crc32c_hw, buf, sizes[k], secs) : 0;
		char label[32];

		if (sizes[k] >= (1u << 20))
			snprintf(label, sizeof label, "%zu MiB", sizes[k] >> 20);
		else if (sizes[k] >= 1024)
			snprintf(label, sizeof label, "%zu KiB", sizes[k] >> 10);
		else
			snprintf(label, sizeof label, "%zu B", sizes[k]);
		if (hw)
			printf("%10s %14.2f %14.2f %9.1fx\n", label, h / 1e9, t / 1e9, h / t);
		else
			printf("%10s %14s %14.2f %10s\n", label, "-", t / 1e9, "-");
		if (sizes[k] == 4096 && hw)
			met = h / t >= 5.0;
	}
	if (met < 0)
		printf("target (hw >= 5x table on 4 KiB): not applicable, no CRC instructions\n");
	else
		printf("target (hw >= 5x table on 4 KiB): %s\n", met ? "met" : "NOT met");
	free(buf);
	return 0;
}
