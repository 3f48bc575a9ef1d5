/* test_tfrecord.c -- TFRecord framing and the reader's four outcomes
 * (record, end, torn tail, corrupt at an offset), LevelDB log_test style. */
#include "config.h"
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include "test_util.h"
#include "base/alloc.h"
#include "format/crc32c.h"
#include "base/error.h"
#include "base/os.h"
#include "format/tfrecord.h"

static char tmpdir[256];
static char fpath[300];

static int setup(void **state)
{
	(void)state;
	if (tbw_test_mkdtemp(tmpdir, sizeof tmpdir, "test_tfrecord") != 0)
		return -1;
	snprintf(fpath, sizeof fpath, "%s/events.tfrecord", tmpdir);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	tbw__os_fault_clear();
	tbw__alloc_fail_at(0, 0);
	unlink(fpath);
	return rmdir(tmpdir);
}

/* ---- helpers ---- */

typedef struct buf { uint8_t *p; size_t n, cap; } buf;

static void buf_add(buf *b, const void *p, size_t n)
{
	if (b->n + n > b->cap) {
		b->cap = (b->n + n) * 2 + 64;
		b->p = realloc(b->p, b->cap);
		assert_non_null(b->p);
	}
	memcpy(b->p + b->n, p, n);
	b->n += n;
}

/* Payload i: length varies (0, small, > the reader's 64 KiB chunk), the
 * content depends on i so records cannot be confused. */
static size_t payload_len(size_t i)
{
	static const size_t lens[] = {0, 1, 7, 100, 4096, 70000, 13, 200000, 3};
	return lens[i % (sizeof lens / sizeof lens[0])];
}

static void payload(size_t i, uint8_t *dst)
{
	for (size_t k = 0; k < payload_len(i); k++)
		dst[k] = (uint8_t)(i * 31 + k * 7 + (k >> 8));
}

/* Append framed record i to b; return its start offset. */
static size_t add_record(buf *b, size_t i)
{
	size_t n = payload_len(i), start = b->n;
	uint8_t *data = malloc(n + 1), *framed = malloc(n + TBW_TFR_OVERHEAD);

	assert_non_null(data);
	assert_non_null(framed);
	payload(i, data);
	assert_int_equal(tbw__tfrecord_frame(framed, data, n), n + TBW_TFR_OVERHEAD);
	buf_add(b, framed, n + TBW_TFR_OVERHEAD);
	free(data);
	free(framed);
	return start;
}

static void check_payload(size_t i, const uint8_t *data, size_t len)
{
	uint8_t *want = malloc(payload_len(i) + 1);

	assert_non_null(want);
	assert_int_equal(len, payload_len(i));
	payload(i, want);
	if (len)
		assert_memory_equal(data, want, len);
	free(want);
}

static void write_file(const uint8_t *p, size_t n)
{
	int fd = open(fpath, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, p, n), (ssize_t)n);
	close(fd);
}

static void append_file(const uint8_t *p, size_t n)
{
	int fd = open(fpath, O_WRONLY | O_APPEND);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, p, n), (ssize_t)n);
	close(fd);
}

static tbw_tfr_reader *open_reader(int *fd, uint64_t start)
{
	tbw_tfr_reader *r;

	*fd = open(fpath, O_RDONLY);
	assert_true(*fd >= 0);
	assert_int_equal(tbw__tfr_reader_open(&r, *fd, start, fpath), TBW_OK);
	return r;
}

static void put64le(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put32le(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* ---- scenarios ---- */

/* The framing reproduces the golden record byte for byte. */
static void test_tfrecord_frame_matches_golden_record(void **state)
{
	static const uint8_t event[] = {
		0x09, 0x00, 0x00, 0x00, 0x40, 0xfc, 0x54, 0xd9, 0x41, 0x1a, 0x0d,
		'b', 'r', 'a', 'i', 'n', '.', 'E', 'v', 'e', 'n', 't', ':', '2'};
	static const uint8_t want[] = {
		0x18, 0, 0, 0, 0, 0, 0, 0, 0xa3, 0x7f, 0x4b, 0x22,
		0x09, 0x00, 0x00, 0x00, 0x40, 0xfc, 0x54, 0xd9, 0x41, 0x1a, 0x0d,
		'b', 'r', 'a', 'i', 'n', '.', 'E', 'v', 'e', 'n', 't', ':', '2',
		0xec, 0xed, 0x8f, 0x9d};
	uint8_t out[sizeof event + TBW_TFR_OVERHEAD];
	(void)state;

	assert_int_equal(tbw__tfrecord_frame(out, event, sizeof event), sizeof want);
	assert_memory_equal(out, want, sizeof want);
}

static void test_tfrecord_round_trip(void **state)
{
	buf b = {0};
	size_t off[20], pos = 0;
	int fd;
	(void)state;

	for (size_t i = 0; i < 20; i++)
		off[i] = add_record(&b, i);
	/* buffer parser */
	for (size_t i = 0; i < 20; i++) {
		const uint8_t *d; size_t dl, used; const char *why;
		assert_int_equal(pos, off[i]);
		assert_int_equal(tbw__tfrecord_parse(b.p + pos, b.n - pos, &d, &dl, &used, &why),
		                 TBW_TFR_RECORD);
		check_payload(i, d, dl);
		pos += used;
	}
	assert_int_equal(pos, b.n);
	{
		const uint8_t *d; size_t dl, used;
		assert_int_equal(tbw__tfrecord_parse(b.p + pos, 0, &d, &dl, &used, NULL), TBW_TFR_END);
	}
	/* streaming reader */
	write_file(b.p, b.n);
	tbw_tfr_reader *r = open_reader(&fd, 0);
	for (size_t i = 0; i < 20; i++) {
		const uint8_t *d; size_t dl; uint64_t o;
		assert_int_equal(tbw__tfr_reader_next(r, &d, &dl, &o), TBW_TFR_RECORD);
		assert_int_equal(o, off[i]);
		check_payload(i, d, dl);
		assert_int_equal(tbw__tfr_reader_offset(r), off[i] + dl + TBW_TFR_OVERHEAD);
	}
	{
		const uint8_t *d; size_t dl;
		assert_int_equal(tbw__tfr_reader_next(r, &d, &dl, NULL), TBW_TFR_END);
		assert_int_equal(tbw__tfr_reader_next(r, &d, &dl, NULL), TBW_TFR_END);
	}
	assert_int_equal(tbw__tfr_reader_offset(r), b.n);
	tbw__tfr_reader_close(r);
	close(fd);
	free(b.p);
}

/* A file cut anywhere inside its last record reads as: the whole records,
 * then TORN (END when the cut falls on a record boundary); appending the
 * rest later yields the record, as TensorBoard's retry expects. */
static void test_tfrecord_truncated_trailing_record_is_torn(void **state)
{
	buf b = {0};
	size_t second;
	(void)state;

	add_record(&b, 3);                 /* 100-byte payload */
	second = add_record(&b, 4);        /* 4096-byte payload */
	for (size_t cut = second; cut < b.n; cut++) {
		const uint8_t *d; size_t dl, used; uint64_t o;
		tbw_tfr_status want = cut == second ? TBW_TFR_END : TBW_TFR_TORN;
		int fd;

		assert_int_equal(tbw__tfrecord_parse(b.p + second, cut - second, &d, &dl, &used, NULL), want);
		/* Check the reader at every cut in the header and a spread of cuts
		 * in the data (every one would be 4 K file rewrites). */
		if (cut - second > 40 && (cut - second) % 97 != 0 && cut + 8 < b.n)
			continue;
		write_file(b.p, cut);
		tbw_tfr_reader *r = open_reader(&fd, 0);
		assert_int_equal(tbw__tfr_reader_next(r, &d, &dl, NULL), TBW_TFR_RECORD);
		check_payload(3, d, dl);
		assert_int_equal(tbw__tfr_reader_next(r, &d, &dl, &o), want);
		assert_int_equal(o, second);
		assert_int_equal(tbw__tfr_reader_offset(r), second);
		/* the writer finishes the record: the same reader picks it up */
		append_file(b.p + cut, b.n - cut);
		assert_int_equal(tbw__tfr_reader_next(r, &d, &dl, &o), TBW_TFR_RECORD);
		assert_int_equal(o, second);
		check_payload(4, d, dl);
		assert_int_equal(tbw__tfr_reader_next(r, &d, &dl, NULL), TBW_TFR_END);
		tbw__tfr_reader_close(r);
		close(fd);
	}
	free(b.p);
}

static void expect_corrupt_at(const buf *b, size_t bad, size_t nbefore, const char *why)
{
	const uint8_t *d; size_t dl, used; const char *w = NULL; uint64_t o;
	char offs[32];
	int fd;

	assert_int_equal(tbw__tfrecord_parse(b->p + bad, b->n - bad, &d, &dl, &used, &w), TBW_TFR_CORRUPT);
	assert_string_equal(w, why);
	write_file(b->p, b->n);
	tbw_tfr_reader *r = open_reader(&fd, 0);
	for (size_t i = 0; i < nbefore; i++) {
		assert_int_equal(tbw__tfr_reader_next(r, &d, &dl, NULL), TBW_TFR_RECORD);
		check_payload(i, d, dl);
	}
	tbw__error_clear();
	assert_int_equal(tbw__tfr_reader_next(r, &d, &dl, &o), TBW_TFR_CORRUPT);
	assert_int_equal(o, bad);
	assert_int_equal(tbw__tfr_reader_offset(r), bad);
	snprintf(offs, sizeof offs, "offset %zu", bad);
	assert_non_null(strstr(tbw_errmsg(), offs));
	assert_non_null(strstr(tbw_errmsg(), why));
	assert_non_null(strstr(tbw_errmsg(), fpath));
	/* it stays corrupt: the reader never skips past damage by itself */
	assert_int_equal(tbw__tfr_reader_next(r, &d, &dl, &o), TBW_TFR_CORRUPT);
	assert_int_equal(o, bad);
	tbw__tfr_reader_close(r);
	close(fd);
}

static void test_tfrecord_bad_length_crc_reports_offset(void **state)
{
	(void)state;
	for (int byte = 0; byte < 12; byte++) {
		buf b = {0};
		size_t bad;
		add_record(&b, 0);
		add_record(&b, 1);
		bad = add_record(&b, 2);
		add_record(&b, 3);
		b.p[bad + byte] ^= 0x20;
		expect_corrupt_at(&b, bad, 2, "bad length crc");
		free(b.p);
	}
}

static void test_tfrecord_bad_data_crc_reports_offset(void **state)
{
	(void)state;
	/* a flipped data byte, and a flipped stored data CRC byte */
	for (int where = 0; where < 2; where++) {
		buf b = {0};
		size_t bad;
		add_record(&b, 0);
		add_record(&b, 1);
		bad = add_record(&b, 3);    /* payload_len(3) = 100 */
		add_record(&b, 4);
		b.p[bad + (where ? TBW_TFR_HEADER + 100 + 2 : TBW_TFR_HEADER + 50)] ^= 0x01;
		expect_corrupt_at(&b, bad, 2, "bad data crc");
		free(b.p);
	}
}

/* A header whose CRC is right but whose length is absurd (2^50, or just over
 * the limit) is corruption, reported without allocating anything. */
static void test_tfrecord_absurd_length_is_corrupt_without_allocating(void **state)
{
	static const uint64_t lens[] = {1ull << 50, (uint64_t)TBW_TFR_MAX_RECORD + 1, UINT64_MAX};
	(void)state;

	for (size_t k = 0; k < sizeof lens / sizeof lens[0]; k++) {
		buf b = {0};
		uint8_t h[TBW_TFR_HEADER + 64] = {0};
		const uint8_t *d; size_t dl, used; const char *w; uint64_t o;
		size_t bad;
		int fd;

		add_record(&b, 1);
		bad = b.n;
		put64le(h, lens[k]);
		put32le(h + 8, tbw__crc32c_mask(tbw__crc32c_value(h, 8)));
		buf_add(&b, h, sizeof h);
		assert_int_equal(tbw__tfrecord_parse(b.p + bad, b.n - bad, &d, &dl, &used, &w), TBW_TFR_CORRUPT);
		assert_string_equal(w, "length too large");

		write_file(b.p, b.n);
		tbw_tfr_reader *r = open_reader(&fd, 0);
		assert_int_equal(tbw__tfr_reader_next(r, &d, &dl, NULL), TBW_TFR_RECORD);
		tbw__alloc_fail_at((unsigned long)-1, 0);   /* count, never fail */
		assert_int_equal(tbw__tfr_reader_next(r, &d, &dl, &o), TBW_TFR_CORRUPT);
		assert_int_equal(tbw__alloc_count(), 0);
		tbw__alloc_fail_at(0, 0);
		assert_int_equal(o, bad);
		assert_non_null(strstr(tbw_errmsg(), "length too large"));
		tbw__tfr_reader_close(r);
		close(fd);
		free(b.p);
	}
}

/* A crash after the file grew but before its data reached the disk leaves
 * zeros: a zero header fails its CRC, so the tail is corrupt (never a record
 * of length 0), and a zero tail shorter than a header is torn. */
static void test_tfrecord_zero_filled_tail(void **state)
{
	static const size_t tails[] = {4096, 12, 11, 1};
	(void)state;

	for (size_t k = 0; k < sizeof tails / sizeof tails[0]; k++) {
		buf b = {0};
		uint8_t zeros[4096] = {0};
		const uint8_t *d; size_t dl; uint64_t o;
		size_t tail;
		int fd;

		add_record(&b, 0);
		add_record(&b, 1);
		tail = b.n;
		buf_add(&b, zeros, tails[k]);
		write_file(b.p, b.n);
		tbw_tfr_reader *r = open_reader(&fd, 0);
		assert_int_equal(tbw__tfr_reader_next(r, &d, &dl, NULL), TBW_TFR_RECORD);
		assert_int_equal(tbw__tfr_reader_next(r, &d, &dl, NULL), TBW_TFR_RECORD);
		assert_int_equal(tbw__tfr_reader_next(r, &d, &dl, &o),
		                 tails[k] >= TBW_TFR_HEADER ? TBW_TFR_CORRUPT : TBW_TFR_TORN);
		assert_int_equal(o, tail);
		tbw__tfr_reader_close(r);
		close(fd);
		free(b.p);
	}
}

static void test_tfrecord_empty_file_is_end(void **state)
{
	const uint8_t *d; size_t dl, used; uint64_t o = 99;
	int fd;
	(void)state;

	assert_int_equal(tbw__tfrecord_parse((const uint8_t *)"", 0, &d, &dl, &used, NULL), TBW_TFR_END);
	write_file((const uint8_t *)"", 0);
	tbw_tfr_reader *r = open_reader(&fd, 0);
	assert_int_equal(tbw__tfr_reader_next(r, &d, &dl, &o), TBW_TFR_END);
	assert_int_equal(o, 0);
	assert_int_equal(tbw__tfr_reader_offset(r), 0);
	tbw__tfr_reader_close(r);
	close(fd);
}

/* Mostly small payloads, with a large one now and then (a few MB in all). */
static size_t many_idx(size_t i)
{
	if (payload_len(i) > 10000 && i % 45 != 5)
		return 6;
	return i;
}

/* Thousands of records of mixed sizes, read back in order through the
 * bounded buffer (records straddle every read boundary). */
static void test_tfrecord_reader_over_many_records(void **state)
{
	enum { N = 5000 };
	buf b = {0};
	size_t *off = malloc(N * sizeof *off);
	const uint8_t *d; size_t dl; uint64_t o;
	int fd;
	(void)state;

	assert_non_null(off);
	for (size_t i = 0; i < N; i++)
		off[i] = add_record(&b, many_idx(i));
	write_file(b.p, b.n);
	tbw_tfr_reader *r = open_reader(&fd, 0);
	for (size_t i = 0; i < N; i++) {
		assert_int_equal(tbw__tfr_reader_next(r, &d, &dl, &o), TBW_TFR_RECORD);
		assert_int_equal(o, off[i]);
		check_payload(many_idx(i), d, dl);
	}
	assert_int_equal(tbw__tfr_reader_next(r, &d, &dl, NULL), TBW_TFR_END);
	tbw__tfr_reader_close(r);
	close(fd);
	free(off);
	free(b.p);
}

static void test_tfrecord_reader_started_at_an_offset(void **state)
{
	buf b = {0};
	size_t off[12];
	const uint8_t *d; size_t dl; uint64_t o;
	(void)state;

	for (size_t i = 0; i < 12; i++)
		off[i] = add_record(&b, i);
	write_file(b.p, b.n);
	for (size_t k = 0; k < 12; k++) {
		int fd;
		tbw_tfr_reader *r = open_reader(&fd, off[k]);
		assert_int_equal(tbw__tfr_reader_offset(r), off[k]);
		for (size_t i = k; i < 12; i++) {
			assert_int_equal(tbw__tfr_reader_next(r, &d, &dl, &o), TBW_TFR_RECORD);
			assert_int_equal(o, off[i]);
			check_payload(i, d, dl);
		}
		assert_int_equal(tbw__tfr_reader_next(r, &d, &dl, NULL), TBW_TFR_END);
		tbw__tfr_reader_close(r);
		close(fd);
	}
	/* starting past the end is a clean end */
	{
		int fd;
		tbw_tfr_reader *r = open_reader(&fd, b.n + 100);
		assert_int_equal(tbw__tfr_reader_next(r, &d, &dl, NULL), TBW_TFR_END);
		tbw__tfr_reader_close(r);
		close(fd);
	}
	free(b.p);
}

/* A failing read is an error code naming the path, not a status. */
static void test_tfrecord_read_error_is_reported(void **state)
{
	buf b = {0};
	const uint8_t *d; size_t dl;
	int fd;
	(void)state;

	add_record(&b, 1);
	write_file(b.p, b.n);
	tbw_tfr_reader *r = open_reader(&fd, 0);
	tbw__os_fault_arm(1u << TBW_OS_PREAD, 1, 1, EIO);
	assert_int_equal(tbw__tfr_reader_next(r, &d, &dl, NULL), TBW_EIO);
	tbw__os_fault_clear();
	assert_non_null(strstr(tbw_errmsg(), fpath));
	/* the reader is still usable once reads work again */
	assert_int_equal(tbw__tfr_reader_next(r, &d, &dl, NULL), TBW_TFR_RECORD);
	check_payload(1, d, dl);
	tbw__tfr_reader_close(r);
	close(fd);
	free(b.p);
}

/* Every allocation failure (opening, and growing for a large record) is a
 * clean TBW_ENOMEM. */
static void test_tfrecord_allocation_failures_are_enomem(void **state)
{
	buf b = {0};
	(void)state;

	add_record(&b, 5);   /* 70000 bytes: the buffer must grow */
	write_file(b.p, b.n);
	for (unsigned long n = 1; ; n++) {
		const uint8_t *d; size_t dl;
		tbw_tfr_reader *r = NULL;
		int fd = open(fpath, O_RDONLY), rc;
		assert_true(fd >= 0);
		tbw__alloc_fail_at(n, 0);
		rc = tbw__tfr_reader_open(&r, fd, 0, fpath);
		if (rc == TBW_OK)
			rc = tbw__tfr_reader_next(r, &d, &dl, NULL);
		unsigned long fails = tbw__alloc_failures();
		tbw__alloc_fail_at(0, 0);
		tbw__tfr_reader_close(r);
		close(fd);
		if (fails == 0) {
			assert_int_equal(rc, TBW_TFR_RECORD);
			break;
		}
		assert_int_equal(rc, TBW_ENOMEM);
		assert_true(n < 20);
	}
	free(b.p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tfrecord_frame_matches_golden_record),
		cmocka_unit_test(test_tfrecord_round_trip),
		cmocka_unit_test(test_tfrecord_truncated_trailing_record_is_torn),
		cmocka_unit_test(test_tfrecord_bad_length_crc_reports_offset),
		cmocka_unit_test(test_tfrecord_bad_data_crc_reports_offset),
		cmocka_unit_test(test_tfrecord_absurd_length_is_corrupt_without_allocating),
		cmocka_unit_test(test_tfrecord_zero_filled_tail),
		cmocka_unit_test(test_tfrecord_empty_file_is_end),
		cmocka_unit_test(test_tfrecord_reader_over_many_records),
		cmocka_unit_test(test_tfrecord_reader_started_at_an_offset),
		cmocka_unit_test(test_tfrecord_read_error_is_reported),
		cmocka_unit_test(test_tfrecord_allocation_failures_are_enomem),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
