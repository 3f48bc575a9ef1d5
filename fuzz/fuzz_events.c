/* fuzz_events.c -- libFuzzer target: the event-file reader.
 *
 * Input: one mode byte, then the bytes of an event file.
 *   mode bit 0     fix up every TFRecord CRC first (so the mutations reach
 *                  the protobuf decoder instead of dying at a checksum)
 *   mode bits 1-7  the file is written in two parts, the first
 *                  (mode >> 1) / 128 of it, then the rest, as a live writer
 *                  appends while a reader reads
 * Checks: the streaming reader (tbw__tfr_reader over a file) returns the
 * very records, offsets and final status that tbw__tfrecord_parse finds in
 * memory; every record goes through tbw__event_decode, whose borrowed
 * pointers must lie inside the record; a decoded scalar re-encodes and
 * decodes to the same fields, bit for bit; every record also goes through
 * the event-record body checks (tbw__event_check_body, body_tag, split).
 */
#define _GNU_SOURCE
#include "fuzz_common.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "format/crc32c.h"
#include "format/event.h"
#include "format/tfrecord.h"

#define MAX_RECS 4096

typedef struct rec { size_t off, len; } rec;

static void fix_crcs(uint8_t *b, size_t n)
{
	size_t o = 0;

	while (n - o >= TBW_TFR_HEADER) {
		uint64_t len = fuzz_le64(b + o);
		fuzz_put_le32(b + o + 8, tbw__crc32c_mask(tbw__crc32c_value(b + o, 8)));
		if (len > TBW_TFR_MAX_RECORD || n - o - TBW_TFR_HEADER < len + 4)
			return;
		fuzz_put_le32(b + o + TBW_TFR_HEADER + len,
		              tbw__crc32c_mask(tbw__crc32c_value(b + o + TBW_TFR_HEADER, (size_t)len)));
		o += (size_t)len + TBW_TFR_OVERHEAD;
	}
}

static uint64_t bits64(double d) { uint64_t u; memcpy(&u, &d, 8); return u; }
static uint32_t bits32(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }

static void check_event(const uint8_t *d, size_t n)
{
	tbw_event ev, ev2;
	uint8_t *enc;
	size_t m;

	/* The event-record checks tbw_add_event and tbrecover run on bodies:
	 * they never read outside the bytes; a body they accept decodes, and
	 * the head + body framing splits back to the same body. */
	{
		char why[256];
		const char *tag;
		size_t tl, off;
		double w;
		int64_t st;
		if (tbw__event_check_body(d, n, why, sizeof why) == 0) {
			uint8_t *framed = malloc(n + TBW_EVENT_RECORD_HEAD_MAX);
			size_t h;
			FUZZ_CHECK(framed != NULL, "out of memory");
			h = tbw__event_encode_record_head(framed, 1700000000.5, 42);
			FUZZ_CHECK(h <= TBW_EVENT_RECORD_HEAD_MAX, "record head overran its bound");
			memcpy(framed + h, d, n);
			FUZZ_CHECK(tbw__event_decode(framed, h + n, &ev) == 0, "an accepted body does not decode");
			FUZZ_CHECK(tbw__event_split(framed, h + n, &w, &st, &off) == 0 && off == h && st == 42 &&
			           w == 1700000000.5, "an event record does not split back");
			free(framed);
		}
		if (tbw__event_body_tag(d, n, &tag, &tl) == 0)
			FUZZ_CHECK((const uint8_t *)tag >= d && (const uint8_t *)tag + tl <= d + n,
			           "body tag points outside the body");
		if (tbw__event_split(d, n, &w, &st, &off) == 0)
			FUZZ_CHECK(off <= n, "split offset past the record");
	}
	if (tbw__event_decode(d, n, &ev) != 0)
		return;
	if (ev.file_version)
		FUZZ_CHECK(ev.file_version_len <= n && (const uint8_t *)ev.file_version >= d &&
		           (const uint8_t *)ev.file_version + ev.file_version_len <= d + n,
		           "file_version points outside the record");
	if (ev.tag)
		FUZZ_CHECK(ev.tag_len <= n && (const uint8_t *)ev.tag >= d &&
		           (const uint8_t *)ev.tag + ev.tag_len <= d + n, "tag points outside the record");
	if (ev.kind != TBW_EVENT_SCALAR || !ev.tag || ev.tag_len > 65536)
		return;
	enc = malloc(tbw__event_bound(ev.tag_len));
	FUZZ_CHECK(enc != NULL, "out of memory");
	if (ev.is_tensor)
		m = tbw__event_encode_tensor(enc, ev.wall_time, ev.step, ev.tag, ev.tag_len, ev.value);
	else
		m = tbw__event_encode_simple(enc, ev.wall_time, ev.step, ev.tag, ev.tag_len, ev.value);
	FUZZ_CHECK(m <= tbw__event_bound(ev.tag_len), "encoding overran its bound");
	FUZZ_CHECK(tbw__event_decode(enc, m, &ev2) == 0, "re-encoded scalar does not decode");
	FUZZ_CHECK(ev2.kind == TBW_EVENT_SCALAR && ev2.is_tensor == ev.is_tensor &&
	           ev2.step == ev.step && bits64(ev2.wall_time) == bits64(ev.wall_time) &&
	           bits32(ev2.value) == bits32(ev.value) && ev2.tag_len == ev.tag_len &&
	           memcmp(ev2.tag, ev.tag, ev.tag_len) == 0,
	           "scalar does not round-trip (step %lld)", (long long)ev.step);
	free(enc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static rec recs[MAX_RECS];
	size_t nrec = 0, o = 0, split, next = 0;
	tbw_tfr_status final;
	tbw_tfr_reader *r = NULL;
	uint8_t *b;
	uint8_t mode;
	int fd;

	if (size < 1)
		return 0;
	mode = data[0];
	size--;
	b = malloc(size ? size : 1);
	FUZZ_CHECK(b != NULL, "out of memory");
	memcpy(b, data + 1, size);
	if (mode & 1)
		fix_crcs(b, size);

	/* In memory: the reference answer. */
	for (;;) {
		const uint8_t *d;
		size_t dl, used;
		const char *why;
		final = tbw__tfrecord_parse(b + o, size - o, &d, &dl, &used, &why);
		if (final != TBW_TFR_RECORD)
			break;
		FUZZ_CHECK(d == b + o + TBW_TFR_HEADER && used == dl + TBW_TFR_OVERHEAD && used <= size - o,
		           "parse returned a record outside its frame");
		check_event(d, dl);
		if (nrec < MAX_RECS)
			recs[nrec] = (rec){ o, dl };
		nrec++;
		o += used;
	}
	if (nrec > MAX_RECS) {          /* too many to compare; the parse ran */
		free(b);
		return 0;
	}

	/* Through a file, written in two parts. */
	fd = memfd_create("tbw_fuzz_events", MFD_CLOEXEC);
	FUZZ_CHECK(fd >= 0, "memfd_create");
	split = (size_t)((uint64_t)size * (mode >> 1) / 128);
	FUZZ_CHECK(pwrite(fd, b, split, 0) == (ssize_t)split, "pwrite");
	FUZZ_CHECK(tbw__tfr_reader_open(&r, fd, 0, "fuzz.tfevents") == 0, "reader open");
	for (int part = 0; part < 2; part++) {
		size_t have = part ? size : split;
		for (;;) {
			const uint8_t *d;
			size_t dl;
			uint64_t off;
			int st = tbw__tfr_reader_next(r, &d, &dl, &off);
			FUZZ_CHECK(st >= 0, "read error on a memfd");
			if (st == TBW_TFR_RECORD) {
				FUZZ_CHECK(next < nrec, "reader found a record the parser did not");
				FUZZ_CHECK(off == recs[next].off && dl == recs[next].len &&
				           memcmp(d, b + off + TBW_TFR_HEADER, dl) == 0,
				           "record %zu differs (offset %llu)", next, (unsigned long long)off);
				FUZZ_CHECK(tbw__tfr_reader_offset(r) == off + dl + TBW_TFR_OVERHEAD, "offset");
				next++;
				continue;
			}
			FUZZ_CHECK(off == tbw__tfr_reader_offset(r), "status offset");
			if (part == 0 && have < size) {
				/* A prefix: anything but a CORRUPT the whole file lacks. */
				if (st == TBW_TFR_CORRUPT)
					FUZZ_CHECK(final == TBW_TFR_CORRUPT && off == o,
					           "prefix reports corruption at %llu", (unsigned long long)off);
			} else {
				FUZZ_CHECK(next == nrec && off == o && st == (int)final,
				           "reader ends with %d at %llu after %zu records, parser %d at %zu after %zu",
				           st, (unsigned long long)off, next, (int)final, o, nrec);
			}
			/* END and TORN repeat, CORRUPT repeats: ask once more. */
			{
				uint64_t off2;
				int st2 = tbw__tfr_reader_next(r, &d, &dl, &off2);
				FUZZ_CHECK(st2 == st && off2 == off, "status does not repeat");
			}
			break;
		}
		if (part == 0 && size > split)
			FUZZ_CHECK(pwrite(fd, b + split, size - split, (off_t)split) == (ssize_t)(size - split),
			           "pwrite");
	}
	tbw__tfr_reader_close(r);
	close(fd);
	free(b);
	return 0;
}
