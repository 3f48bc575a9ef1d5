/* gen_compactor_events.c -- for tests/interop_events.py --compactor: runs
 * the compactor on a journal of known records (two sessions, small rotation,
 * a purge marker, odd values and tags) in both scalar forms, and prints
 * what the event files must hold, for Google's protobuf runtime to check.
 *
 *   gen_compactor_events DIR
 * Output: per form, a line "logdir PATH FORM", then one line per event after
 * the file_version records, in order: "start WALL STEP",
 * "FORM WALL STEP TAGHEX F32BITSHEX", or for an event record (tbw_add_event)
 * "event WALL STEP BODYHEX". */
#include "config.h"
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "export/compactor.h"
#include "journal/journal.h"
#include "base/os.h"

static void die(const char *what)
{
	fprintf(stderr, "gen_compactor_events: %s: %s\n", what, tbw_errmsg());
	exit(1);
}

static void emit_scalar(const char *form, double wall, int64_t step, const char *tag, double v)
{
	float f = (float)v;
	uint32_t bits;
	memcpy(&bits, &f, 4);
	printf("%s %.17g %" PRId64 " ", form, wall, step);
	for (const char *p = tag; *p; p++)
		printf("%02x", (unsigned char)*p);
	printf(" %08" PRIx32 "\n", bits);
}

/* Event record bodies (Event fields after 1 and 2), canonical protobuf:
 * a graph_def, a two-value summary, a large histogram-like summary. */
static void emit_event(tbw_journal *j, int i, double wall, int64_t step)
{
	static uint8_t big[70000];
	const uint8_t *body;
	size_t n;

	if (i % 3 == 0) {
		body = (const uint8_t *)"\x22\x05graph";
		n = 7;
	} else if (i % 3 == 1) {
		/* summary { value { tag "a" simple_value 1.5 } value { tag "b/c" simple_value -2 } } */
		body = (const uint8_t *)"\x2a\x16\x0a\x08\x0a\x01" "a" "\x15\x00\x00\xc0\x3f"
		       "\x0a\x0a\x0a\x03" "b/c" "\x15\x00\x00\x00\xc0";
		n = 24;
	} else {
		/* graph_def of 69,996 bytes: records past the 4 KiB rotation size */
		size_t m = sizeof big - 4;
		big[0] = 0x22;
		big[1] = (uint8_t)(m | 0x80);
		big[2] = (uint8_t)((m >> 7) | 0x80);
		big[3] = (uint8_t)(m >> 14);
		for (size_t k = 4; k < sizeof big; k++)
			big[k] = (uint8_t)(k * 7u + (unsigned)i);
		body = big;
		n = sizeof big;
	}
	if (tbw__journal_append_event(j, NULL, 0, step, wall, body, n, NULL))
		die("append event");
	printf("event %.17g %" PRId64 " ", wall, step);
	for (size_t k = 0; k < n; k++)
		printf("%02x", body[k]);
	printf("\n");
}

static tbw_compactor *copen(tbw_journal *j, const char *logdir, tbw_scalar_format fmt)
{
	tbw_compact_cfg cfg = TBW_COMPACT_CFG_INIT;
	tbw_compactor *c = NULL;

	cfg.logdir = logdir;
	cfg.scalar_format = fmt;
	cfg.rotate_bytes = 4096;
	if (tbw__compactor_open(&c, j, &cfg))
		die("compactor open");
	return c;
}

static void run(const char *dir, const char *form, tbw_scalar_format fmt)
{
	static const char *tags[] = { "loss", "eval/accuracy", "\xce\xbb/\xe5\xad\xa6\xe7\xbf\x92\xe7\x8e\x87", "x" };
	char logdir[1024], jdir[1100];
	tbw_jopen jo = TBW_JOPEN_INIT;
	tbw_journal *j = NULL;
	double wall = 1700000000.125;
	int first = 1;

	snprintf(logdir, sizeof logdir, "%s/%s", dir, form);
	snprintf(jdir, sizeof jdir, "%s/.tbwal", logdir);
	jo.create = 1;
	if (tbw__mkdir_p(logdir, "gen") || tbw__journal_open(&j, jdir, &jo))
		die("journal");
	printf("logdir %s %s\n", logdir, form);
	for (int s = 0; s < 2; s++) {
		tbw_compactor *c = copen(j, logdir, fmt);
		for (int i = 0; i < 150; i++) {
			const char *tag = tags[i % 4];
			int64_t step = s * 100 + i / 4 - (s ? 20 : 0);
			double v = i == 7 ? NAN : i == 11 ? -INFINITY : i == 13 ? 1e300 : (double)i / 7.0 - 3.0;
			wall += 0.0625;
			if (s == 1 && i == 0) {
				if (tbw__journal_append_start(j, step, wall, NULL))
					die("append start");
				printf("start %.17g %" PRId64 "\n", wall, step);
				wall += 0.0625;
			}
			if (tbw__journal_append(j, tag, strlen(tag), v, step, wall, NULL))
				die("append");
			if (first) {   /* the run's first START precedes its first record */
				printf("start %.17g %" PRId64 "\n", wall, step);
				first = 0;
			}
			emit_scalar(form, wall, step, tag, v);
			if (i % 10 == 5) {     /* event records among the scalars */
				wall += 0.0625;
				emit_event(j, i, wall, step);
			}
			if (i % 25 == 24 && tbw__compactor_pass(c, NULL))
				die("compactor pass");   /* small batches: rotation within a session */
		}
		tbw__compactor_close(c);
	}
	tbw__journal_close(j);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: gen_compactor_events DIR\n");
		return 2;
	}
	run(argv[1], "simple", TBW_SCALAR_SIMPLE);
	run(argv[1], "tensor", TBW_SCALAR_TENSOR);
	return 0;
}
