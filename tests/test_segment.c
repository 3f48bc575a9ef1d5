/* test_segment.c -- the sync segment format: bit-exact round trips and
 * every kind of damage (truncation at every offset, bit flips at every
 * byte, garbage, lying headers, zip bombs, crafted payloads). */
#include "config.h"
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "base/alloc.h"
#include "format/crc32c.h"
#include "format/segment.h"
#include "tbwal.h"

static const uint8_t RUN_ID[16] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 };

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static double from_bits(uint64_t u) { double d; memcpy(&d, &u, 8); return d; }
static uint64_t to_bits(double d) { uint64_t u; memcpy(&u, &d, 8); return u; }

static void put32le(uint8_t *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i)); }
static void put64le(uint8_t *p, uint64_t v) { for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i)); }
static void fix_header_crc(uint8_t *f) { put32le(f + 84, tbw__crc32c_value(f, 84)); }

static const tbw_seg_tag TAGS[] = {
	{ "loss", 4 }, { "accuracy/top1", 13 }, { "lr", 2 }, { "unused", 6 },
	{ "\xc3\xa9t\xc3\xa9/\xe2\x82\xac", 9 },
};
#define NTAGS (sizeof TAGS / sizeof TAGS[0])

/* A small, nasty set of records: special doubles, extreme steps, seq gaps,
 * START markers. */
static size_t make_nasty(tbw_seg_rec *r)
{
	static const uint64_t vals[] = {
		0x7ff8000000000000ull, /* quiet NaN */
		0xfff8000000000001ull, /* negative NaN with payload */
		0x7ff0000000000001ull, /* signalling NaN */
		0x7ff0000000000000ull, /* +inf */
		0xfff0000000000000ull, /* -inf */
		0x8000000000000000ull, /* -0.0 */
		0x0000000000000001ull, /* smallest denormal */
		0x7fefffffffffffffull, /* DBL_MAX */
	};
	memset(r, 0, 64 * sizeof *r);   /* scalars: no event body */
	static const int64_t steps[] = { INT64_MIN, INT64_MAX, -1, 0, INT64_MIN + 1, 42, INT64_MAX - 1, 7 };
	size_t n = 0;
	uint64_t seq = 5;
	for (size_t i = 0; i < 40; i++) {
		r[n].seq = seq;
		seq += 1 + (i % 7 == 3 ? 1000 : 0) + (i == 20 ? UINT64_C(1) << 40 : 0);
		r[n].tag = (uint32_t)(i % 6 == 5 ? TBW_SEG_TAG_START : 1 + i % 3 + (i == 11 ? 2 : 0));
		r[n].step = steps[i % 8];
		r[n].value = from_bits(vals[(i * 3) % 8]);
		r[n].wall_time = i == 9 ? from_bits(0x7ff800000000abcdull)
		               : i == 10 ? -1e300 : 1.7e9 + (double)i * 0.001;
		n++;
	}
	return n;
}

static void assert_same(const tbw_seg_rec *a, size_t n, const tbw_seg *s)
{
	assert_int_equal(s->n, n);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(s->recs[i].seq, a[i].seq);
		assert_int_equal(s->recs[i].step, a[i].step);
		assert_int_equal(to_bits(s->recs[i].value), to_bits(a[i].value));
		assert_int_equal(to_bits(s->recs[i].wall_time), to_bits(a[i].wall_time));
		if (a[i].tag == TBW_SEG_TAG_START) {
			assert_int_equal(s->recs[i].tag, TBW_SEG_TAG_START);
		} else {
			const tbw_seg_tag *want = &TAGS[a[i].tag - 1];
			assert_true(s->recs[i].tag >= 1 && s->recs[i].tag <= s->ntags);
			const tbw_seg_tag *got = &s->tags[s->recs[i].tag - 1];
			assert_int_equal(got->len, want->len);
			assert_memory_equal(got->name, want->name, want->len);
		}
	}
}

static uint8_t *encode_nasty(size_t *len, tbw_seg_rec *r, size_t *n)
{
	uint8_t *f = NULL;
	*n = make_nasty(r);
	assert_int_equal(tbw__seg_encode(RUN_ID, 2, r, *n, TAGS, NTAGS, &f, len), TBW_OK);
	return f;
}

static void test_segment_round_trip_is_bit_exact(void **state)
{
	tbw_seg_rec r[64];
	tbw_seg s;
	tbw_seg_damage d;
	size_t n, len;
	(void)state;
	uint8_t *f = encode_nasty(&len, r, &n);
	assert_int_equal(tbw__seg_decode(f, len, &s, &d), TBW_OK);
	assert_same(r, n, &s);
	assert_memory_equal(s.h.run_id, RUN_ID, 16);
	assert_int_equal(s.h.first_seq, r[0].seq);
	assert_int_equal(s.h.last_seq, r[n - 1].seq);
	assert_int_equal(s.h.level, 2);
	/* only used tags are stored: "unused" (index 4) is not */
	for (size_t i = 0; i < s.ntags; i++)
		assert_false(s.tags[i].len == 6 && memcmp(s.tags[i].name, "unused", 6) == 0);
	tbw__seg_release(&s);
	tbw__free(f);
}

static void test_segment_encoding_is_deterministic(void **state)
{
	tbw_seg_rec r[64];
	size_t n, l1, l2;
	(void)state;
	uint8_t *a = encode_nasty(&l1, r, &n);
	uint8_t *b = encode_nasty(&l2, r, &n);
	assert_int_equal(l1, l2);
	assert_memory_equal(a, b, l1);
	tbw__free(a);
	tbw__free(b);
}

static void test_segment_random_records_round_trip(void **state)
{
	size_t n = 5000;
	tbw_seg_rec *r = calloc(n, sizeof *r);
	uint8_t *f = NULL;
	size_t len;
	tbw_seg s;
	(void)state;
	uint64_t seq = 1 + rnd() % 1000;
	for (size_t i = 0; i < n; i++) {
		r[i].seq = seq;
		seq += 1 + (rnd() % 10 == 0 ? rnd() % 5 : 0);
		r[i].tag = (uint32_t)(rnd() % (NTAGS + 1));
		r[i].step = (int64_t)rnd();
		r[i].value = from_bits(rnd());
		r[i].wall_time = from_bits(rnd());
	}
	assert_int_equal(tbw__seg_encode(RUN_ID, 0, r, n, TAGS, NTAGS, &f, &len), TBW_OK);
	assert_int_equal(tbw__seg_decode(f, len, &s, NULL), TBW_OK);
	assert_same(r, n, &s);
	tbw__seg_release(&s);
	tbw__free(f);
	free(r);
}

static void test_segment_encoder_rejects_bad_input(void **state)
{
	tbw_seg_rec r[3] = { { 1, 0, 0, 0, 1, 0, NULL }, { 2, 0, 0, 0, 1, 0, NULL }, { 3, 0, 0, 0, 1, 0, NULL } };
	tbw_seg_tag bad[] = { { "a\nb", 3 } }, empty[] = { { "", 0 } }, inv[] = { { "\xff", 1 } };
	uint8_t *f = NULL;
	size_t len;
	(void)state;
	assert_int_equal(tbw__seg_encode(RUN_ID, 0, r, 0, TAGS, NTAGS, &f, &len), TBW_EINVAL);
	r[1].seq = 1;
	assert_int_equal(tbw__seg_encode(RUN_ID, 0, r, 3, TAGS, NTAGS, &f, &len), TBW_EINVAL);
	r[1].seq = 2;
	r[0].seq = 0;
	assert_int_equal(tbw__seg_encode(RUN_ID, 0, r, 3, TAGS, NTAGS, &f, &len), TBW_EINVAL);
	r[0].seq = 1;
	r[2].tag = NTAGS + 1;
	assert_int_equal(tbw__seg_encode(RUN_ID, 0, r, 3, TAGS, NTAGS, &f, &len), TBW_EINVAL);
	r[2].tag = 1;
	assert_int_equal(tbw__seg_encode(RUN_ID, 0, r, 3, bad, 1, &f, &len), TBW_EINVAL);
	assert_int_equal(tbw__seg_encode(RUN_ID, 0, r, 3, empty, 1, &f, &len), TBW_EINVAL);
	assert_int_equal(tbw__seg_encode(RUN_ID, 0, r, 3, inv, 1, &f, &len), TBW_EINVAL);
	assert_int_equal(tbw__seg_encode(RUN_ID, 100, r, 3, TAGS, NTAGS, &f, &len), TBW_EINVAL);
	assert_null(f);
	assert_int_equal(tbw__seg_encode(RUN_ID, 0, r, 3, TAGS, NTAGS, &f, &len), TBW_OK);
	tbw__free(f);
}

static void test_segment_truncation_at_every_offset_is_reported(void **state)
{
	tbw_seg_rec r[64];
	size_t n, len;
	(void)state;
	uint8_t *f = encode_nasty(&len, r, &n);
	for (size_t cut = 0; cut < len; cut++) {
		tbw_seg s;
		tbw_seg_damage d;
		memset(&d, 0, sizeof d);
		uint8_t *copy = malloc(cut ? cut : 1); /* exact size: ASan sees overreads */
		memcpy(copy, f, cut);
		if (cut < TBW_SEG_HEADER_SIZE) {
			assert_int_equal(tbw__seg_decode(copy, cut, &s, &d), TBW_ETRUNCATED);
			assert_int_equal(d.offset, cut);
			assert_true(d.reason[0] != 0);
			assert_null(s.recs);
		} else {
			/* Version 2: the header reads; the one block is cut off, and
			 * the loss names its exact range. */
			assert_int_equal(tbw__seg_decode(copy, cut, &s, &d), TBW_OK);
			assert_int_equal(s.n, 0);
			assert_int_equal(s.nlost, 1);
			assert_int_equal(s.lost[0].code, TBW_ETRUNCATED);
			assert_int_equal(s.lost[0].first_seq, r[0].seq);
			assert_int_equal(s.lost[0].last_seq, r[n - 1].seq);
			assert_true(s.lost[0].reason[0] != 0);
			tbw__seg_release(&s);
		}
		free(copy);
	}
	tbw__free(f);
}

static void test_segment_bit_flip_at_every_byte_is_detected(void **state)
{
	tbw_seg_rec r[64];
	size_t n, len;
	(void)state;
	uint8_t *f = encode_nasty(&len, r, &n);
	uint8_t *copy = malloc(len);
	for (size_t i = 0; i < len; i++) {
		for (int bit = 0; bit < 8; bit++) {
			tbw_seg s;
			tbw_seg_damage d;
			memset(&d, 0, sizeof d);
			memcpy(copy, f, len);
			copy[i] ^= (uint8_t)(1u << bit);
			int rc = tbw__seg_decode(copy, len, &s, &d);
			/* Version 2: every flip is found; in the header, the block
			 * still reads on its own; in the block, it is lost whole
			 * with its exact range. */
			assert_int_equal(rc, TBW_OK);
			assert_true(s.nlost >= 1);
			assert_true(s.lost[0].reason[0] != 0);
			if (i < TBW_SEG_HEADER_SIZE) {
				assert_true(s.header_damaged);
				assert_same(r, n, &s);
			} else {
				assert_int_equal(s.n, 0);
				assert_int_equal(s.lost[0].first_seq, r[0].seq);
				assert_int_equal(s.lost[0].last_seq, r[n - 1].seq);
			}
			tbw__seg_release(&s);
		}
	}
	free(copy);
	tbw__free(f);
}

static void test_segment_garbage_is_rejected(void **state)
{
	uint8_t buf[4096];
	(void)state;
	for (int round = 0; round < 2000; round++) {
		size_t len = rnd() % sizeof buf;
		tbw_seg s;
		tbw_seg_damage d;
		for (size_t i = 0; i < len; i++)
			buf[i] = (uint8_t)rnd();
		if (round % 2 && len >= 8)
			memcpy(buf, TBW_SEG_MAGIC, 8);
		if (round % 4 == 3 && len >= TBW_SEG_HEADER_SIZE)
			fix_header_crc(buf); /* get past the header CRC into the bounds checks */
		assert_int_not_equal(tbw__seg_decode(buf, len, &s, &d), TBW_OK);
	}
}

static void test_segment_wrong_magic_and_version_are_reported(void **state)
{
	tbw_seg_rec r[64];
	size_t n, len;
	tbw_seg s;
	tbw_seg_damage d;
	(void)state;
	uint8_t *f = encode_nasty(&len, r, &n);
	tbw_seg_header h;
	f[0] = 'X';
	assert_int_equal(tbw__seg_read_header(f, len, &h, &d), TBW_ECORRUPT);
	assert_int_equal(d.offset, 0);
	assert_non_null(strstr(d.reason, "magic"));
	/* the blocks are self-describing: a damaged header loses nothing */
	assert_int_equal(tbw__seg_decode(f, len, &s, &d), TBW_OK);
	assert_true(s.header_damaged);
	assert_non_null(strstr(s.lost[0].reason, "magic"));
	assert_same(r, n, &s);
	tbw__seg_release(&s);
	f[0] = 'T';
	f[8] = 3; /* a newer format */
	fix_header_crc(f);
	assert_int_equal(tbw__seg_decode(f, len, &s, &d), TBW_EVERSION);
	assert_int_equal(d.offset, 8);
	f[8] = 0;
	fix_header_crc(f);
	assert_int_equal(tbw__seg_read_header(f, len, &h, &d), TBW_ECORRUPT);
	f[8] = 2;
	f[12] = 1; /* unknown flag */
	fix_header_crc(f);
	assert_int_equal(tbw__seg_read_header(f, len, &h, &d), TBW_ECORRUPT);
	assert_int_equal(d.offset, 12);
	/* a block of a record kind this reader does not know is lost with its
	 * range and TBW_EVERSION, the rest still reads */
	f[12] = 0;
	fix_header_crc(f);
	f[TBW_SEG_HEADER_SIZE + 4] = 9;
	put32le(f + TBW_SEG_HEADER_SIZE + 76, tbw__crc32c_value(f + TBW_SEG_HEADER_SIZE, 76));
	assert_int_equal(tbw__seg_decode(f, len, &s, &d), TBW_OK);
	assert_int_equal(s.n, 0);
	assert_int_equal(s.nlost, 1);
	assert_int_equal(s.lost[0].code, TBW_EVERSION);
	assert_int_equal(s.lost[0].kind, 9);
	assert_int_equal(s.lost[0].first_seq, r[0].seq);
	tbw__seg_release(&s);
	f[TBW_SEG_HEADER_SIZE + 4] = TBW_SEG_KIND_SCALAR;
	put32le(f + TBW_SEG_HEADER_SIZE + 76, tbw__crc32c_value(f + TBW_SEG_HEADER_SIZE, 76));
	fix_header_crc(f);
	assert_int_equal(tbw__seg_decode(f, len, &s, &d), TBW_OK);
	tbw__seg_release(&s);
	tbw__free(f);
}

static void test_segment_trailing_bytes_are_corruption(void **state)
{
	tbw_seg_rec r[64];
	size_t n, len;
	tbw_seg s;
	tbw_seg_damage d;
	(void)state;
	uint8_t *f = encode_nasty(&len, r, &n);
	uint8_t *g = malloc(len + 3);
	memcpy(g, f, len);
	memset(g + len, 0, 3);
	assert_int_equal(tbw__seg_decode(g, len + 3, &s, &d), TBW_OK);
	assert_same(r, n, &s);
	assert_int_equal(s.nlost, 1);
	assert_int_equal(s.lost[0].offset, len);
	assert_int_equal(s.lost[0].first_seq, 0); /* no records lost */
	tbw__seg_release(&s);
	free(g);
	tbw__free(f);
}

/* A segment whose header is refused still gives every record of its
 * intact blocks. */
static void check_blocks_alone(const uint8_t *g, size_t len, const tbw_seg_rec *r, size_t n)
{
	tbw_seg s;
	assert_int_equal(tbw__seg_decode(g, len, &s, NULL), TBW_OK);
	assert_true(s.header_damaged);
	assert_same(r, n, &s);
	tbw__seg_release(&s);
}

static void test_segment_header_claiming_huge_sizes_is_refused(void **state)
{
	tbw_seg_rec r[64];
	size_t n, len;
	tbw_seg s;
	tbw_seg_header h;
	tbw_seg_damage d;
	(void)state;
	uint8_t *f = encode_nasty(&len, r, &n);
	uint8_t *g = malloc(len);
	static const uint64_t raws[] = { UINT64_MAX, TBW_SEG_MAX_RAW_ALL + 1 /* v2: room for one event record */, UINT64_C(1) << 50 };
	for (size_t i = 0; i < 3; i++) {
		memcpy(g, f, len);
		put64le(g + 72, raws[i]);
		fix_header_crc(g);
		assert_int_equal(tbw__seg_read_header(g, len, &h, &d), TBW_ECORRUPT);
		check_blocks_alone(g, len, r, n);
		assert_int_equal(d.offset, 72);
	}
	/* within the cap but more than deflate can ever expand this payload */
	memcpy(g, f, len);
	put64le(g + 72, (uint64_t)(len - TBW_SEG_HEADER_SIZE) * TBW_SEG_MAX_RATIO + 1);
	fix_header_crc(g);
	assert_int_equal(tbw__seg_read_header(g, len, &h, &d), TBW_ECORRUPT);
		check_blocks_alone(g, len, r, n);
	assert_int_equal(d.offset, 72);
	/* a compressed size past the cap, and one past the file */
	memcpy(g, f, len);
	put64le(g + 64, UINT64_MAX);
	fix_header_crc(g);
	assert_int_equal(tbw__seg_read_header(g, len, &h, &d), TBW_ECORRUPT);
		check_blocks_alone(g, len, r, n);
	memcpy(g, f, len);
	put64le(g + 64, len);
	fix_header_crc(g);
	/* the file stops short of what the header says, after every block */
	assert_int_equal(tbw__seg_decode(g, len, &s, &d), TBW_OK);
	assert_same(r, n, &s);
	tbw__seg_release(&s);
	/* a record count the range cannot hold, and one past the cap */
	memcpy(g, f, len);
	put64le(g + 48, UINT64_MAX);
	fix_header_crc(g);
	assert_int_equal(tbw__seg_read_header(g, len, &h, &d), TBW_ECORRUPT);
		check_blocks_alone(g, len, r, n);
	assert_int_equal(d.offset, 48);
	free(g);
	tbw__free(f);
}

/* A real bomb: the most identical records a segment may hold deflate ~1000:1; a header that
 * understates the inflated size must stop inflation at that size. */
static void test_segment_zip_bomb_stops_at_header_size(void **state)
{
	size_t n = TBW_SEG_BLOCK_RECORDS, len;
	tbw_seg_rec *r = calloc(n, sizeof *r);
	uint8_t *f = NULL, *bh;
	tbw_seg s;
	tbw_seg_damage d;
	(void)state;
	for (size_t i = 0; i < n; i++) {
		r[i].seq = i + 1;
		r[i].tag = 1;
		r[i].value = 1.0;
		r[i].wall_time = 1.0;
	}
	assert_int_equal(tbw__seg_encode(RUN_ID, 0, r, n, TAGS, NTAGS, &f, &len), TBW_OK);
	assert_true(len < (size_t)n / 8); /* it really is a bomb (~12 bytes a record inflated) */
	/* keep the block's payload, claim fewer records and bytes (block CRC fixed) */
	bh = f + TBW_SEG_HEADER_SIZE;
	put64le(bh + 32, 1000);
	put32le(bh + 56, 1000);
	put32le(bh + 68, 1000 * 12 + 10);
	put32le(bh + 76, tbw__crc32c_value(bh, 76));
	assert_int_equal(tbw__seg_decode(f, len, &s, &d), TBW_OK);
	assert_int_equal(s.n, 0);
	assert_int_equal(s.nlost, 2); /* the block, and seqs 1001..4096 the header promised */
	assert_non_null(strstr(s.lost[0].reason, "more bytes"));
	assert_int_equal(s.lost[0].first_seq, 1);
	assert_int_equal(s.lost[0].last_seq, 1000);
	tbw__seg_release(&s);
	tbw__free(f);
	free(r);
}

/* Craft payloads by hand (a zlib stream of stored blocks) to reach every
 * validation behind the checksums. */
static size_t zstored(uint8_t *out, const uint8_t *raw, size_t n)
{
	size_t o = 0;
	uint32_t a = 1, b = 0;
	out[o++] = 0x78;
	out[o++] = 0x01;
	out[o++] = 1; /* final stored block */
	out[o++] = (uint8_t)n;
	out[o++] = (uint8_t)(n >> 8);
	out[o++] = (uint8_t)~n;
	out[o++] = (uint8_t)(~n >> 8);
	memcpy(out + o, raw, n);
	o += n;
	for (size_t i = 0; i < n; i++) {
		a = (a + raw[i]) % 65521;
		b = (b + a) % 65521;
	}
	uint32_t ad = (b << 16) | a;
	out[o++] = (uint8_t)(ad >> 24);
	out[o++] = (uint8_t)(ad >> 16);
	out[o++] = (uint8_t)(ad >> 8);
	out[o++] = (uint8_t)ad;
	return o;
}

static int decode_crafted(const uint8_t *raw, size_t rawlen, uint64_t first, uint64_t last,
                          uint64_t count, uint32_t ntags, tbw_seg_damage *d)
{
	uint8_t f[1024];
	tbw_seg s;
	memset(f, 0, TBW_SEG_HEADER_SIZE);
	memcpy(f, TBW_SEG_MAGIC, 8);
	f[8] = 1;
	f[10] = TBW_SEG_HEADER_SIZE;
	memcpy(f + 16, RUN_ID, 16);
	put64le(f + 32, first);
	put64le(f + 40, last);
	put64le(f + 48, count);
	put32le(f + 56, ntags);
	size_t comp = zstored(f + TBW_SEG_HEADER_SIZE, raw, rawlen);
	put64le(f + 64, comp);
	put64le(f + 72, rawlen);
	put32le(f + 80, tbw__crc32c_value(f + TBW_SEG_HEADER_SIZE, comp));
	fix_header_crc(f);
	memset(d, 0, sizeof *d);
	int rc = tbw__seg_decode(f, TBW_SEG_HEADER_SIZE + comp, &s, d);
	if (rc == TBW_OK)
		tbw__seg_release(&s);
	return rc;
}

static void test_segment_crafted_payloads_are_validated(void **state)
{
	/* Valid: one tag "a", two records seq 1,2. */
	uint8_t ok[] = { 1, 1, 'a', /* seq */ 0, /* tag */ 1, 1, /* step */ 2, 2, /* wall */ 0, 0,
	                 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 };
	uint8_t b[sizeof ok + 4];
	tbw_seg_damage d;
	(void)state;
	memset(b, 0, sizeof b);
	assert_int_equal(decode_crafted(ok, sizeof ok, 1, 2, 2, 1, &d), TBW_OK);
	/* seq delta past the header's last seq */
	memcpy(b, ok, sizeof ok);
	b[3] = 5;
	assert_int_equal(decode_crafted(b, sizeof ok, 1, 2, 2, 1, &d), TBW_ECORRUPT);
	assert_true(d.in_payload);
	assert_int_equal(d.offset, 4);
	/* last seq short of the header's */
	assert_int_equal(decode_crafted(ok, sizeof ok, 1, 3, 2, 1, &d), TBW_ECORRUPT);
	assert_non_null(strstr(d.reason, "last record"));
	/* tag index out of range */
	memcpy(b, ok, sizeof ok);
	b[5] = 2;
	assert_int_equal(decode_crafted(b, sizeof ok, 1, 2, 2, 1, &d), TBW_ECORRUPT);
	assert_non_null(strstr(d.reason, "tag index"));
	/* invalid tag name (control character) */
	memcpy(b, ok, sizeof ok);
	b[2] = '\n';
	assert_int_equal(decode_crafted(b, sizeof ok, 1, 2, 2, 1, &d), TBW_ECORRUPT);
	assert_int_equal(d.offset, 1);
	/* tag length running past the payload */
	memcpy(b, ok, sizeof ok);
	b[1] = 100;
	assert_int_equal(decode_crafted(b, 4 + 12 * 2, 1, 2, 2, 1, &d), TBW_ECORRUPT);
	/* tag count differing from the header */
	memcpy(b, ok, sizeof ok);
	b[0] = 0;
	assert_int_equal(decode_crafted(b, sizeof ok, 1, 2, 2, 1, &d), TBW_ECORRUPT);
	/* an overlong varint (11 bytes) in the step column */
	{
		uint8_t v[64];
		size_t o = 0;
		v[o++] = 1; v[o++] = 1; v[o++] = 'a';
		v[o++] = 0; v[o++] = 1; v[o++] = 1;
		for (int i = 0; i < 10; i++) v[o++] = 0xff;
		v[o++] = 0x01;
		while (o < 40) v[o++] = 0;
		assert_int_equal(decode_crafted(v, o, 1, 2, 2, 1, &d), TBW_ECORRUPT);
		assert_non_null(strstr(d.reason, "step"));
	}
	/* bytes left over after the value planes */
	memcpy(b, ok, sizeof ok);
	memset(b + sizeof ok, 0, 4);
	assert_int_equal(decode_crafted(b, sizeof ok + 4, 1, 2, 2, 1, &d), TBW_ECORRUPT);
	assert_non_null(strstr(d.reason, "left"));
	/* value planes cut short */
	assert_int_equal(decode_crafted(ok, sizeof ok - 1, 1, 2, 2, 1, &d), TBW_ECORRUPT);
}

/* Mutate a valid segment, then repair both CRCs so the damage reaches zlib
 * and the payload checks: the decoder may accept or refuse, never crash,
 * and what it accepts is well-formed. */
static void test_segment_mutations_with_fixed_crcs_never_crash(void **state)
{
	tbw_seg_rec r[64];
	size_t n, len;
	(void)state;
	uint8_t *f = encode_nasty(&len, r, &n);
	uint8_t *g = malloc(len);
	for (int round = 0; round < 20000; round++) {
		tbw_seg s;
		tbw_seg_damage d;
		memcpy(g, f, len);
		int k = 1 + (int)(rnd() % 4);
		/* The nasty segment is one block: mutate its payload (and now and
		 * then its header), then repair the block's two CRCs. */
		const size_t pay = TBW_SEG_HEADER_SIZE + TBW_SEG_BLOCK_HEADER_SIZE;
		uint8_t *bh = g + TBW_SEG_HEADER_SIZE;
		for (int i = 0; i < k; i++)
			g[pay + rnd() % (len - pay)] ^= (uint8_t)(1 + rnd() % 255);
		if (round % 8 == 7)
			bh[24 + rnd() % 48] ^= (uint8_t)(1 + rnd() % 255);
		put32le(bh + 72, tbw__crc32c_value(g + pay, len - pay));
		put32le(bh + 76, tbw__crc32c_value(bh, 76));
		if (tbw__seg_decode(g, len, &s, &d) == TBW_OK) {
			for (size_t i = 1; i < s.n; i++)
				assert_true(s.recs[i].seq > s.recs[i - 1].seq);
			for (size_t i = 0; i < s.n; i++)
				assert_true(s.recs[i].tag <= s.ntags);
			tbw__seg_release(&s);
		} else {
			assert_true(d.reason[0] != 0);
		}
	}
	free(g);
	tbw__free(f);
}

static void test_segment_names_parse_strictly(void **state)
{
	char name[TBW_SEG_NAME_MAX];
	uint64_t a, b;
	uint32_t l;
	(void)state;
	tbw__seg_name(name, 1, 0xabcdef, 12);
	assert_string_equal(name, "seg-0000000000000001-0000000000abcdef-L12.tbws");
	assert_int_equal(tbw__seg_parse_name(name, &a, &b, &l), 1);
	assert_int_equal(a, 1);
	assert_int_equal(b, 0xabcdef);
	assert_int_equal(l, 12);
	static const char *bad[] = {
		"seg-0000000000000001-0000000000ABCDEF-L1.tbws",
		"seg-0000000000000002-0000000000000001-L0.tbws", /* first > last */
		"seg-0000000000000000-0000000000000001-L0.tbws", /* seq 0 */
		"seg-0000000000000001-0000000000000001-L01.tbws",
		"seg-0000000000000001-0000000000000001-L100.tbws",
		"seg-0000000000000001-0000000000000001-L1.tbws.tmp",
		"seg-0000000000000001-0000000000000001-L.tbws",
		"seg-000000000000001-0000000000000001-L1.tbws",
		".tmp-seg-0000000000000001-0000000000000001-L1.tbws-12",
		"seg-0000000000000001-0000000000000001-L1.tbws/..",
		"../seg-0000000000000001-0000000000000001-L1.tbws",
		"run.json", "", "seg-",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		assert_int_equal(tbw__seg_parse_name(bad[i], &a, &b, &l), 0);
}

static void test_segment_tag_names_must_be_utf8_without_controls(void **state)
{
	char big[1025];
	(void)state;
	assert_true(tbw__seg_tag_ok("loss/train", 10));
	assert_true(tbw__seg_tag_ok("\xc3\xa9", 2));
	assert_true(tbw__seg_tag_ok("\xf0\x9f\x98\x80", 4));
	assert_false(tbw__seg_tag_ok("", 0));
	assert_false(tbw__seg_tag_ok("a\x7f", 2));
	assert_false(tbw__seg_tag_ok("a\0b", 3));
	assert_false(tbw__seg_tag_ok("\xc3", 1));          /* truncated sequence */
	assert_false(tbw__seg_tag_ok("\xc0\xaf", 2));      /* overlong */
	assert_false(tbw__seg_tag_ok("\xed\xa0\x80", 3));  /* surrogate */
	assert_false(tbw__seg_tag_ok("\xc2\x85", 2));      /* C1 control */
	memset(big, 'a', sizeof big);
	assert_true(tbw__seg_tag_ok(big, 1024));
	assert_false(tbw__seg_tag_ok(big, 1025));
}

/* The worked example of doc/segment-format.md, made by an independent
 * Python encoder (struct + zlib.compress(raw, 6) + python3-crc32c). */
static const char GOLDEN_HEX[] =
	"5442575345470d0a0200580000000000000102030405060708090a0b0c0d0e0f"
	"0100000000000000030000000000000003000000000000000200000000000000"
	"7f00000000000000370000000000000001000000a76232415442574201005000"
	"000102030405060708090a0b0c0d0e0f01000000000000000300000000000000"
	"0000000000000000010000000000000003000000020000002f00000037000000"
	"a4e92469627e2db3789c6362c9c92f2e664e4c4e66606064646260626a00828e"
	"fdab6e36331e7164b067b07f60f081010300008fb50bcb";

static void test_segment_worked_example_matches_doc(void **state)
{
	static const tbw_seg_tag tg[] = { { "loss", 4 }, { "acc", 3 } };
	tbw_seg_rec r[3] = {
		{ 1, 1700000000.0, 0, 0.5, 1, 0, NULL },
		{ 2, 1700000000.001, 1, 0.25, 1, 0, NULL },
		{ 3, 1700000000.001, 1, 1.0, 2, 0, NULL },
	};
	uint8_t id[16], want[300];
	uint8_t *f = NULL;
	size_t len, wlen = strlen(GOLDEN_HEX) / 2;
	tbw_seg s;
	(void)state;
	for (int i = 0; i < 16; i++)
		id[i] = (uint8_t)i;
	for (size_t i = 0; i < wlen; i++) {
		unsigned x;
		sscanf(GOLDEN_HEX + 2 * i, "%2x", &x);
		want[i] = (uint8_t)x;
	}
	assert_int_equal(tbw__seg_encode(id, 0, r, 3, tg, 2, &f, &len), TBW_OK);
	assert_int_equal(len, wlen);
	assert_memory_equal(f, want, wlen);
	assert_int_equal(tbw__seg_decode(want, wlen, &s, NULL), TBW_OK);
	assert_int_equal(s.n, 3);
	assert_int_equal(to_bits(s.recs[1].wall_time), to_bits(1700000000.001));
	assert_int_equal(s.recs[2].tag, 2);
	assert_memory_equal(s.tags[1].name, "acc", 3);
	tbw__seg_release(&s);
	tbw__free(f);
}

static void test_segment_names_carry_a_generation(void **state)
{
	char name[TBW_SEG_NAME_MAX];
	uint64_t a, b;
	uint32_t l, g;
	(void)state;
	tbw__seg_name_gen(name, 1, 0x3e8, 2, 12);
	assert_string_equal(name, "seg-0000000000000001-00000000000003e8-L2-g12.tbws");
	assert_true(tbw__seg_parse_name_gen(name, &a, &b, &l, &g));
	assert_int_equal(a, 1);
	assert_int_equal(b, 0x3e8);
	assert_int_equal(l, 2);
	assert_int_equal(g, 12);
	assert_true(tbw__seg_parse_name(name, &a, &b, &l));
	tbw__seg_name_gen(name, 1, 2, 0, 0);   /* generation 0: the old name */
	assert_string_equal(name, "seg-0000000000000001-0000000000000002-L0.tbws");
	assert_true(tbw__seg_parse_name_gen(name, &a, &b, &l, &g));
	assert_int_equal(g, 0);
	assert_false(tbw__seg_parse_name_gen("seg-0000000000000001-0000000000000002-L0-g0.tbws", &a, &b, &l, &g));
	assert_false(tbw__seg_parse_name_gen("seg-0000000000000001-0000000000000002-L0-g01.tbws", &a, &b, &l, &g));
	assert_false(tbw__seg_parse_name_gen("seg-0000000000000001-0000000000000002-L0-g.tbws", &a, &b, &l, &g));
	assert_false(tbw__seg_parse_name_gen("seg-0000000000000001-0000000000000002-L0-g123456789.tbws", &a, &b, &l, &g));
	assert_false(tbw__seg_parse_name_gen("seg-0000000000000001-0000000000000002-L0-g1x.tbws", &a, &b, &l, &g));
}

/* ---- Version 2: blocks ---- */

/* 9000 records (three blocks), a second tag set per block so tag tables differ. */
static size_t make_many(tbw_seg_rec *r, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		r[i].seq = 100 + i + (i > 5000 ? 7 : 0);
		r[i].tag = (uint32_t)(i % 97 == 0 ? TBW_SEG_TAG_START : 1 + (i + i / 4096) % 3);
		r[i].step = (int64_t)(i / 3);
		r[i].wall_time = 1.7e9 + (double)i * 0.001;
		r[i].value = (double)(float)((double)(i % 1013) / 7.0);
	}
	return n;
}

/* A reader of many segments hands each decode the last segment's arrays:
 * a smaller segment decodes into them (they are cleared first), a bigger one
 * gets its own, a damaged one that fails leaks nothing (ASan), and every
 * result is bit for bit what a fresh decode gives. */
static void test_segment_decode_reusing_the_last_ones_arrays(void **state)
{
	size_t sizes[] = { 9000, 3000, 3000, 12000, 1 };
	tbw_seg_rec *r = calloc(12000, sizeof *r);
	tbw_seg prev, s;
	(void)state;

	memset(&prev, 0, sizeof prev);
	for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
		size_t n = make_many(r, sizes[k]), len;
		uint8_t *f = NULL;
		void *old_recs = prev.recs;
		for (size_t i = 0; i < n; i++)      /* a different history each time */
			r[i].step += (int64_t)k;
		assert_int_equal(tbw__seg_encode(RUN_ID, 0, r, n, TAGS, NTAGS, &f, &len), TBW_OK);
		if (k == 2) {
			/* damaged: fails (or loses blocks); nothing leaks either way */
			f[len / 2] ^= 0x40;
			f[len / 3] ^= 0x40;
			f[TBW_SEG_HEADER_SIZE + 20] ^= 0x40;
		}
		int rc = tbw__seg_decode_reusing(f, len, &s, NULL, &prev);
		if (k == 2 && rc != TBW_OK) {
			tbw__free(f);
			continue;
		}
		assert_int_equal(rc, TBW_OK);
		if (k == 1)
			assert_ptr_equal(s.recs, old_recs);   /* 3000 fit in 9000's */
		if (k == 3)
			assert_ptr_not_equal(s.recs, old_recs);
		tbw__seg_release(&prev);
		if (s.nlost == 0)
			assert_same(r, n, &s);
		else
			assert_true(s.n < n);
		prev = s;
		tbw__free(f);
	}
	tbw__seg_release(&prev);
	free(r);
}

/* A flipped bit anywhere in a multi-block segment loses at most the one
 * block it hit (<= TBW_SEG_BLOCK_RECORDS records), with its exact sequence
 * range and, when the block's header survived, its exact step range; every
 * other record comes back bit for bit. */
static void test_segment_one_flipped_bit_loses_at_most_one_block(void **state)
{
	const size_t n = 9000;
	tbw_seg_rec *r = calloc(n, sizeof *r);
	uint8_t *f = NULL, *g;
	size_t len;
	uint64_t worst = 0;
	(void)state;
	make_many(r, n);
	assert_int_equal(tbw__seg_encode(RUN_ID, 3, r, n, TAGS, NTAGS, &f, &len), TBW_OK);
	g = malloc(len);
	size_t stride = getenv("TBW_SLOW_TESTS") ? 1 : 11;
	for (size_t i = 0; i < len; i += stride) {
		tbw_seg s;
		memcpy(g, f, len);
		g[i] ^= (uint8_t)(1u << (i % 8));
		assert_int_equal(tbw__seg_decode(g, len, &s, NULL), TBW_OK);
		assert_true(s.nlost >= 1);
		assert_true(s.n + TBW_SEG_BLOCK_RECORDS >= n);
		if (n - s.n > worst)
			worst = n - s.n;
		/* every decoded record is the original one with its seq */
		size_t k = 0;
		for (size_t j = 0; j < s.n; j++) {
			while (k < n && r[k].seq < s.recs[j].seq)
				k++;
			assert_true(k < n && r[k].seq == s.recs[j].seq);
			assert_int_equal(s.recs[j].step, r[k].step);
			assert_int_equal(to_bits(s.recs[j].value), to_bits(r[k].value));
			assert_int_equal(to_bits(s.recs[j].wall_time), to_bits(r[k].wall_time));
		}
		/* every missing record is inside a lost range, steps included */
		for (size_t q = 0, j = 0; q < n; q++) {
			if (j < s.n && s.recs[j].seq == r[q].seq) {
				j++;
				continue;
			}
			int covered = 0;
			for (size_t l = 0; l < s.nlost; l++) {
				const tbw_seg_lost *x = &s.lost[l];
				if (x->first_seq && r[q].seq >= x->first_seq && r[q].seq <= x->last_seq) {
					covered = 1;
					if (x->steps_known)
						assert_true(r[q].step >= x->min_step && r[q].step <= x->max_step);
				}
			}
			assert_true(covered);
		}
		if (i >= TBW_SEG_HEADER_SIZE) {
			/* the lost range is exact: as many seqs as records lost */
			uint64_t span = 0;
			for (size_t l = 0; l < s.nlost; l++)
				if (s.lost[l].first_seq)
					span += s.lost[l].last_seq - s.lost[l].first_seq + 1;
			assert_true(span >= n - s.n);
			assert_true(span <= n - s.n + 7); /* the one seq gap (5001..5007) may fall inside */
		}
		tbw__seg_release(&s);
	}
	assert_true(worst <= TBW_SEG_BLOCK_RECORDS);
	free(g);
	tbw__free(f);
	free(r);
}

/* An intact header (its CRC holds) that promises other than its blocks
 * hold is damage the decoder names, never a silent difference: more
 * records than the blocks hold are lost records (within the header's
 * range, seqs unknown), a first block starting after the header's
 * first_seq loses that exact range, and other fields (tags, blocks, raw
 * bytes) are one entry that loses nothing. The blocks' records are still
 * read. A merged segment's header counts every block's own tag table (the
 * sum, not the distinct names), so an intact one agrees.
 * (fuzz_segment, tests/fuzz-regress/segment/counts-differ-from-the-header-without-a-lost-block) */
static void test_segment_header_disagreeing_with_its_blocks_is_reported(void **state)
{
	const size_t n = 9000;
	tbw_seg_rec *r = calloc(n, sizeof *r);
	uint8_t *f = NULL, *g;
	size_t len;
	tbw_seg s;
	char why[400];
	(void)state;
	make_many(r, n);
	assert_int_equal(tbw__seg_encode(RUN_ID, 1, r, n, TAGS, NTAGS, &f, &len), TBW_OK);
	assert_int_equal(tbw__seg_decode(f, len, &s, NULL), TBW_OK);
	assert_int_equal(s.nlost, 0);
	assert_int_equal(s.n, n);
	assert_int_equal(s.h.nblocks, 3);
	assert_int_equal(s.ntags, 9);          /* 3 tags in each of 3 blocks */
	assert_int_equal(s.ntags, s.h.ntags);
	tbw__seg_release(&s);
	g = malloc(len);

	static const struct { size_t off, width; uint64_t v; const char *says; } lie[] = {
		{ 48, 8, 9005, "9000 records, not 9005" },
		{ 48, 8, 8999, "9000 records, not 8999" },
		{ 56, 4, 10, "9 tags, not 10" },
		{ 80, 4, 2, "3 blocks, not 2" },
		{ 72, 8, 0, "raw bytes, not" },     /* raw_size + 1, below */
	};
	for (size_t k = 0; k < sizeof lie / sizeof lie[0]; k++) {
		memcpy(g, f, len);
		if (lie[k].off == 72) {
			uint64_t raw = 0;
			for (int b = 0; b < 8; b++)
				raw |= (uint64_t)g[72 + b] << (8 * b);
			put64le(g + 72, raw + 1);
		} else if (lie[k].width == 8) {
			put64le(g + lie[k].off, lie[k].v);
		} else {
			put32le(g + lie[k].off, (uint32_t)lie[k].v);
		}
		fix_header_crc(g);
		assert_int_equal(tbw__seg_decode(g, len, &s, NULL), TBW_OK);
		assert_false(s.header_damaged);
		assert_int_equal(s.n, n);
		assert_int_equal(s.nlost, 1);
		assert_non_null(strstr(s.lost[0].reason, lie[k].says));
		assert_int_equal(s.lost[0].code, TBW_ECORRUPT);
		tbw__seg_lost_describe(&s.lost[0], why, sizeof why);
		if (lie[k].v == 9005) {
			assert_int_equal(s.lost[0].records, 5);
			assert_int_equal(s.lost[0].first_seq, r[0].seq);
			assert_int_equal(s.lost[0].last_seq, r[n - 1].seq);
			assert_false(s.lost[0].steps_known);
			assert_non_null(strstr(why, "5 records at unknown seqs within 100..9106 lost"));
		} else {
			assert_int_equal(s.lost[0].first_seq, 0);
			assert_int_equal(s.lost[0].records, 0);
			assert_non_null(strstr(why, "no records lost"));
		}
		tbw__seg_release(&s);
	}

	/* The header's range starts ten seqs before the first block. */
	memcpy(g, f, len);
	put64le(g + 32, 90);
	fix_header_crc(g);
	assert_int_equal(tbw__seg_decode(g, len, &s, NULL), TBW_OK);
	assert_int_equal(s.n, n);
	assert_int_equal(s.nlost, 1);
	assert_int_equal(s.lost[0].first_seq, 90);
	assert_int_equal(s.lost[0].last_seq, 99);
	assert_non_null(strstr(s.lost[0].reason, "the first block starts at seq 100"));
	tbw__seg_release(&s);
	free(g);
	tbw__free(f);
	free(r);
}

/* A segment written by version 1 (before blocks; tests/data/seg-v1-golden.tbws
 * was made by the v1 encoder, see the generator below) still reads. */
static void test_segment_version_1_golden_file_still_reads(void **state)
{
	char path[4096];
	FILE *fp;
	uint8_t *buf = malloc(1 << 20);
	size_t len;
	tbw_seg s;
	tbw_seg_damage d;
	uint64_t st = 0x9E3779B97F4A7C15ull, seq = 1;
	(void)state;
	snprintf(path, sizeof path, "%s/tests/data/seg-v1-golden.tbws", TBW_TEST_SRCDIR);
	fp = fopen(path, "rb");
	assert_non_null(fp);
	len = fread(buf, 1, 1 << 20, fp);
	fclose(fp);
	assert_int_equal(buf[8], 1);       /* really version 1 */
	assert_int_equal(tbw__seg_decode(buf, len, &s, &d), TBW_OK);
	assert_int_equal(s.n, 5000);
	assert_int_equal(s.nlost, 0);
	assert_int_equal(s.h.level, 1);
	for (size_t i = 0; i < 5000; i++) {
		/* the generator: xorshift values, a START every 500, a gap of 2 every 1000 */
		st ^= st << 13;
		st ^= st >> 7;
		st ^= st << 17;
		assert_int_equal(s.recs[i].seq, seq);
		seq += (i % 1000 == 999) ? 3 : 1;
		assert_int_equal(s.recs[i].step, (int64_t)(i / 3));
		assert_int_equal(to_bits(s.recs[i].wall_time), to_bits(1.7e9 + (double)i * 0.001));
		assert_int_equal(to_bits(s.recs[i].value),
		                 to_bits((double)(float)((double)(st >> 11) / 9007199254740992.0)));
		if (i % 500 == 0) {
			assert_int_equal(s.recs[i].tag, TBW_SEG_TAG_START);
		} else {
			static const char *names[] = { "loss", "accuracy/top1", "lr" };
			const tbw_seg_tag *t = &s.tags[s.recs[i].tag - 1];
			const char *want = names[i % 3];
			assert_int_equal(t->len, strlen(want));
			assert_memory_equal(t->name, want, t->len);
		}
	}
	tbw__seg_release(&s);
	/* and one flipped bit still fails the whole v1 segment, as it always did */
	buf[len / 2] ^= 4;
	assert_int_equal(tbw__seg_decode(buf, len, &s, &d), TBW_ECORRUPT);
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_segment_round_trip_is_bit_exact),
		cmocka_unit_test(test_segment_encoding_is_deterministic),
		cmocka_unit_test(test_segment_worked_example_matches_doc),
		cmocka_unit_test(test_segment_random_records_round_trip),
		cmocka_unit_test(test_segment_encoder_rejects_bad_input),
		cmocka_unit_test(test_segment_truncation_at_every_offset_is_reported),
		cmocka_unit_test(test_segment_bit_flip_at_every_byte_is_detected),
		cmocka_unit_test(test_segment_garbage_is_rejected),
		cmocka_unit_test(test_segment_wrong_magic_and_version_are_reported),
		cmocka_unit_test(test_segment_trailing_bytes_are_corruption),
		cmocka_unit_test(test_segment_header_claiming_huge_sizes_is_refused),
		cmocka_unit_test(test_segment_zip_bomb_stops_at_header_size),
		cmocka_unit_test(test_segment_crafted_payloads_are_validated),
		cmocka_unit_test(test_segment_mutations_with_fixed_crcs_never_crash),
		cmocka_unit_test(test_segment_names_parse_strictly),
		cmocka_unit_test(test_segment_tag_names_must_be_utf8_without_controls),
		cmocka_unit_test(test_segment_one_flipped_bit_loses_at_most_one_block),
		cmocka_unit_test(test_segment_header_disagreeing_with_its_blocks_is_reported),
		cmocka_unit_test(test_segment_names_carry_a_generation),
		cmocka_unit_test(test_segment_version_1_golden_file_still_reads),
		cmocka_unit_test(test_segment_decode_reusing_the_last_ones_arrays),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
