/* gen_events.c -- writes an event file with the library for the interop test
 * (tests/interop_events.py): a file_version record, simple_value scalars
 * (NaN, infinities, negative, zero, -0, a denormal, a long and a non-ASCII
 * tag), a rank-0 DT_FLOAT tensor scalar and a SessionLog START.
 *
 *   gen_events OUTDIR
 * creates OUTDIR/events.out.tfevents.<secs>.interop.<pid>.<n>.tbwal and prints
 * its path, then one manifest line per record written:
 *   file_version <wall>
 *   simple|tensor <wall> <step> <tag as hex> <float bits as 8 hex digits>
 *   start <wall> <step>
 * Walls are printed with %.17g so Python reads back the same double. */
#include "config.h"
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "base/alloc.h"
#include "base/error.h"
#include "format/event.h"
#include "base/os.h"
#include "format/tfrecord.h"

static int fd = -1;
static const char *path;

static void die(const char *what)
{
	fprintf(stderr, "gen_events: %s: %s\n", what, tbw_errmsg());
	exit(1);
}

static void emit(const uint8_t *ev, size_t n)
{
	uint8_t rec[1024];

	if (n + TBW_TFR_OVERHEAD > sizeof rec)
		die("record too large");
	n = tbw__tfrecord_frame(rec, ev, n);
	if (tbw__write_all(fd, rec, n, "gen_events write", path))
		die("write");
}

static uint32_t bits(float f)
{
	uint32_t b;

	memcpy(&b, &f, 4);
	return b;
}

static void scalar(int tensor, double wall, int64_t step, const char *tag, float v)
{
	uint8_t ev[1024];
	size_t tl = strlen(tag), n;

	if (tbw__event_bound(tl) > sizeof ev)
		die("tag too long");
	n = tensor ? tbw__event_encode_tensor(ev, wall, step, tag, tl, v)
	           : tbw__event_encode_simple(ev, wall, step, tag, tl, v);
	emit(ev, n);
	printf("%s %.17g %" PRId64 " ", tensor ? "tensor" : "simple", wall, step);
	for (size_t i = 0; i < tl; i++)
		printf("%02x", (unsigned char)tag[i]);
	printf(" %08" PRIx32 "\n", bits(v));
}

int main(int argc, char **argv)
{
	static char name[512], full[1024];
	char longtag[301];
	uint8_t ev[128];
	double wall = 1700000000.25;
	size_t n;

	if (argc != 2) {
		fprintf(stderr, "usage: gen_events OUTDIR\n");
		return 2;
	}
	if (tbw__event_file_name(name, sizeof name, (int64_t)wall, "interop", (long)getpid(), 0, ".tbwal"))
		die("file name");
	snprintf(full, sizeof full, "%s/%s", argv[1], name);
	path = full;
	if (tbw__open(&fd, path, O_WRONLY | O_CREAT | O_TRUNC, 0644, "gen_events open"))
		die("open");
	printf("%s\n", path);

	n = tbw__event_encode_file_version(ev, wall);
	emit(ev, n);
	printf("file_version %.17g\n", wall);

	memset(longtag, 'x', 300);
	longtag[300] = '\0';
	scalar(0, wall + 0.5, 0, "loss", 0.25f);
	scalar(0, wall + 1.0, 1, "loss", -3.5f);
	scalar(0, wall + 1.5, 2, "loss", NAN);
	scalar(0, wall + 2.0, 3, "loss", INFINITY);
	scalar(0, wall + 2.5, 4, "loss", -INFINITY);
	scalar(0, wall + 3.0, 5, "loss", 0.0f);
	scalar(0, wall + 3.5, 6, "loss", -0.0f);
	scalar(0, wall + 4.0, 7, "train/acc", 1e-40f);      /* denormal */
	scalar(0, wall + 4.5, 1ll << 40, "train/acc", 3.4028235e38f);
	scalar(0, wall + 5.0, -5, "neg/step", 1.0f);
	scalar(0, wall + 5.5, 8, "d\xc3\xa9j\xc3\xa0/\xe2\x88\x82", 2.0f);  /* UTF-8 */
	scalar(0, wall + 6.0, 9, longtag, 42.0f);
	scalar(1, wall + 6.5, 10, "lr", 0.001f);
	scalar(1, wall + 7.0, 0, "lr", -0.0f);
	scalar(1, wall + 7.5, 11, "lr", NAN);

	n = tbw__event_encode_session_start(ev, wall + 8.0, 100);
	emit(ev, n);
	printf("start %.17g 100\n", wall + 8.0);

	if (tbw__fsync(fd, 0, "gen_events fsync", path) || tbw__close(fd, "gen_events close", path))
		die("close");
	return fflush(stdout) ? 1 : 0;
}
