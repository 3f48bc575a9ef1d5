/* test_event.c -- event encoding against the golden records of issue 2 (byte
 * for byte, framed), decoder round trips, unknown fields, malformed input,
 * and event file names. */
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
#include "format/crc32c.h"
#include "base/error.h"
#include "format/event.h"
#include "format/tfrecord.h"

/* ---- helpers ---- */

/* Parse hex (spaces ignored) into out; returns the byte count. */
static size_t unhex(const char *hex, uint8_t *out, size_t cap)
{
	size_t n = 0;

	while (*hex) {
		unsigned v;
		if (*hex == ' ') {
			hex++;
			continue;
		}
		assert_int_equal(sscanf(hex, "%2x", &v), 1);
		assert_true(n < cap);
		out[n++] = (uint8_t)v;
		hex += 2;
	}
	return n;
}

static void assert_hex(const uint8_t *got, size_t n, const char *hex)
{
	uint8_t want[512];
	size_t wn = unhex(hex, want, sizeof want);

	if (n != wn || memcmp(got, want, n)) {
		print_error("got  ");
		for (size_t i = 0; i < n; i++)
			print_error("%02x", got[i]);
		print_error("\nwant %s\n", hex);
	}
	assert_int_equal(n, wn);
	assert_memory_equal(got, want, n);
}

/* Frame an event into a whole TFRecord. */
static size_t frame(uint8_t *dst, const uint8_t *ev, size_t n)
{
	return tbw__tfrecord_frame(dst, ev, n);
}

/* The golden records of issue 2 (from TensorBoard-written files). */
#define GOLD_FILE_VERSION \
	"1800000000000000a37f4b22" "0900000040fc54d9411a0d627261696e2e4576656e743a32" "eced8f9d"
#define GOLD_SIMPLE \
	"1a00000000000000129bd82d" "0900002040fc54d94110072a0d0a0b0a046c6f7373150000803e" "c576518e"
#define GOLD_TENSOR_EVENT \
	"0900002040fc54d94110072a210a1f0a046c6f73734a0b0a090a077363616c617273420a080112002a040000803e"
#define GOLD_SESSION_START \
	"0f000000000000006d532b09" "0900004040fc54d94110643a020801" "964fcd1c"

/* ---- golden vectors ---- */

static void test_event_golden_file_version_record(void **state)
{
	uint8_t ev[128], rec[160];
	size_t n;
	(void)state;

	n = tbw__event_encode_file_version(ev, 1700000000.0);
	assert_true(n <= tbw__event_bound(0));
	assert_hex(rec, frame(rec, ev, n), GOLD_FILE_VERSION);
}

static void test_event_golden_simple_value_record(void **state)
{
	uint8_t ev[128], rec[160];
	size_t n;
	(void)state;

	n = tbw__event_encode_simple(ev, 1700000000.5, 7, "loss", 4, 0.25f);
	assert_true(n <= tbw__event_bound(4));
	assert_hex(rec, frame(rec, ev, n), GOLD_SIMPLE);
}

static void test_event_golden_tensor_scalar_event(void **state)
{
	uint8_t ev[128];
	size_t n;
	(void)state;

	n = tbw__event_encode_tensor(ev, 1700000000.5, 7, "loss", 4, 0.25f);
	assert_true(n <= tbw__event_bound(4));
	assert_hex(ev, n, GOLD_TENSOR_EVENT);
}

static void test_event_golden_session_start_record(void **state)
{
	uint8_t ev[128], rec[160];
	size_t n;
	(void)state;

	n = tbw__event_encode_session_start(ev, 1700000001.0, 100);
	assert_true(n <= tbw__event_bound(0));
	assert_hex(rec, frame(rec, ev, n), GOLD_SESSION_START);
}

/* The golden records decode to what they say. */
static void test_event_golden_records_decode(void **state)
{
	uint8_t rec[256];
	const uint8_t *d; size_t dl, used;
	tbw_event e;
	size_t n;
	(void)state;

	n = unhex(GOLD_FILE_VERSION, rec, sizeof rec);
	assert_int_equal(tbw__tfrecord_parse(rec, n, &d, &dl, &used, NULL), TBW_TFR_RECORD);
	assert_int_equal(tbw__event_decode(d, dl, &e), 0);
	assert_int_equal(e.kind, TBW_EVENT_FILE_VERSION);
	assert_true(e.wall_time == 1700000000.0);
	assert_int_equal(e.step, 0);
	assert_int_equal(e.file_version_len, 13);
	assert_memory_equal(e.file_version, "brain.Event:2", 13);

	n = unhex(GOLD_SIMPLE, rec, sizeof rec);
	assert_int_equal(tbw__tfrecord_parse(rec, n, &d, &dl, &used, NULL), TBW_TFR_RECORD);
	assert_int_equal(tbw__event_decode(d, dl, &e), 0);
	assert_int_equal(e.kind, TBW_EVENT_SCALAR);
	assert_true(e.wall_time == 1700000000.5);
	assert_int_equal(e.step, 7);
	assert_int_equal(e.tag_len, 4);
	assert_memory_equal(e.tag, "loss", 4);
	assert_true(e.value == 0.25f);
	assert_false(e.is_tensor);

	n = unhex(GOLD_TENSOR_EVENT, rec, sizeof rec);
	assert_int_equal(tbw__event_decode(rec, n, &e), 0);
	assert_int_equal(e.kind, TBW_EVENT_SCALAR);
	assert_int_equal(e.step, 7);
	assert_memory_equal(e.tag, "loss", 4);
	assert_true(e.value == 0.25f);
	assert_true(e.is_tensor);

	n = unhex(GOLD_SESSION_START, rec, sizeof rec);
	assert_int_equal(tbw__tfrecord_parse(rec, n, &d, &dl, &used, NULL), TBW_TFR_RECORD);
	assert_int_equal(tbw__event_decode(d, dl, &e), 0);
	assert_int_equal(e.kind, TBW_EVENT_SESSION_START);
	assert_true(e.wall_time == 1700000001.0);
	assert_int_equal(e.step, 100);
}

/* ---- round trips ---- */

static uint64_t rng = 88172645463325252ull;
static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static int same_float(float a, float b)
{
	return !memcmp(&a, &b, sizeof a);
}

static void test_event_decoder_round_trips(void **state)
{
	static const float specials[] = {0.0f, -0.0f, 1.0f, -1.5f, 3.4e38f, 1e-45f};
	static const int64_t steps[] = {0, 1, 127, 128, -1, INT64_MIN, INT64_MAX, 1ll << 40};
	static const double walls[] = {0.0, -0.0, 1700000000.123, 1e-300, 5e9};
	char tag[400];
	uint8_t a[600], b[600];
	(void)state;

	for (int iter = 0; iter < 3000; iter++) {
		size_t tag_len = iter % 7 == 0 ? 130 + rnd() % 260 : rnd() % 40;
		int64_t step = iter % 3 ? steps[rnd() % 8] : (int64_t)rnd();
		double wall = walls[rnd() % 5];
		float v;
		size_t n, m;
		tbw_event e;

		if (iter % 5 == 0)
			v = specials[rnd() % 6];
		else if (iter % 5 == 1)
			v = (rnd() & 1) ? NAN : (rnd() & 1) ? INFINITY : -INFINITY;
		else {
			uint32_t bits = (uint32_t)rnd();
			memcpy(&v, &bits, 4);       /* any pattern, NaN payloads too */
		}
		for (size_t i = 0; i < tag_len; i++)
			tag[i] = (char)(' ' + rnd() % 95);

		for (int tensor = 0; tensor <= 1; tensor++) {
			n = tensor ? tbw__event_encode_tensor(a, wall, step, tag, tag_len, v)
			           : tbw__event_encode_simple(a, wall, step, tag, tag_len, v);
			m = tensor ? tbw__event_encode_tensor(b, wall, step, tag, tag_len, v)
			           : tbw__event_encode_simple(b, wall, step, tag, tag_len, v);
			assert_true(n <= tbw__event_bound(tag_len));
			assert_int_equal(n, m);             /* deterministic */
			assert_memory_equal(a, b, n);
			assert_int_equal(tbw__event_decode(a, n, &e), 0);
			assert_int_equal(e.kind, TBW_EVENT_SCALAR);
			assert_int_equal(e.is_tensor, tensor);
			assert_true(!memcmp(&e.wall_time, &wall, 8));
			assert_true(e.step == step);
			assert_int_equal(e.tag_len, tag_len);
			if (tag_len)
				assert_memory_equal(e.tag, tag, tag_len);
			assert_true(same_float(e.value, v));
		}
		n = tbw__event_encode_session_start(a, wall, step);
		assert_true(n <= tbw__event_bound(0));
		assert_int_equal(tbw__event_decode(a, n, &e), 0);
		assert_int_equal(e.kind, TBW_EVENT_SESSION_START);
		assert_true(e.step == step);
		n = tbw__event_encode_file_version(a, wall);
		assert_int_equal(tbw__event_decode(a, n, &e), 0);
		assert_int_equal(e.kind, TBW_EVENT_FILE_VERSION);
		assert_true(!memcmp(&e.wall_time, &wall, 8));
	}
}

/* Unknown fields of every wire type, before, between and after the known
 * ones and inside nested messages, are skipped. */
static void test_event_decoder_skips_unknown_fields(void **state)
{
	/* varint f15, fixed64 f16, bytes f20, fixed32 f21 */
	static const char unknown[] = "7801" "8101 0102030405060708" "a20103616263" "ad0104030201";
	/* unknown before, between and after top-level fields */
#define FORM_TOP "%s" "0900002040fc54d941" "%s" "1007" "%s" "2a0d0a0b0a046c6f7373150000803e" "%s"
	/* inside Summary and inside Value */
#define FORM_NESTED "0900002040fc54d9411007" "2a%s" "%s0a%s%s0a046c6f7373150000803e%s"
	uint8_t buf[512], unk[64];
	char hex[1024];
	size_t un = unhex(unknown, unk, sizeof unk), n;
	tbw_event e;
	(void)state;

	snprintf(hex, sizeof hex, FORM_TOP, unknown, unknown, unknown, unknown);
	n = unhex(hex, buf, sizeof buf);
	assert_int_equal(tbw__event_decode(buf, n, &e), 0);
	assert_int_equal(e.kind, TBW_EVENT_SCALAR);
	assert_int_equal(e.step, 7);
	assert_true(e.value == 0.25f);
	assert_memory_equal(e.tag, "loss", 4);

	{
		char vlen[8], slen[8];
		size_t value_len = 11 + 2 * un, summary_len = 2 + value_len + un;
		snprintf(vlen, sizeof vlen, "%02zx", value_len);
		snprintf(slen, sizeof slen, "%02zx", summary_len);
		snprintf(hex, sizeof hex, FORM_NESTED, slen, unknown, vlen, unknown, unknown);
	}
	n = unhex(hex, buf, sizeof buf);
	assert_int_equal(tbw__event_decode(buf, n, &e), 0);
	assert_int_equal(e.kind, TBW_EVENT_SCALAR);
	assert_true(e.value == 0.25f);
	assert_memory_equal(e.tag, "loss", 4);

	/* an Event holding only unknown fields is valid and "other" */
	assert_int_equal(tbw__event_decode(unk, un, &e), 0);
	assert_int_equal(e.kind, TBW_EVENT_OTHER);
}

/* Tensor forms: tensor_content and unpacked float_val are scalars too;
 * DT_DOUBLE, two values, shape [2] and another plugin are not. */
static void test_event_decoder_tensor_variants(void **state)
{
	static const struct { const char *value; int scalar; float v; } cases[] = {
		/* tensor_content 4 bytes */
		{"0a0178420a080112002204000000c0", 1, -2.0f},
		/* unpacked float_val */
		{"0a0178420908011200 2d0000803f", 1, 1.0f},
		/* shape [1] */
		{"0a0178420e0801 1204 12020801 2a040000803f", 1, 1.0f},
		/* DT_DOUBLE (2) with a double_val */
		{"0a0178420e080212003208000000000000f03f", 0, 0},
		/* two float values */
		{"0a017842 0e 080112002a080000803f00000040", 0, 0},
		/* shape [2] */
		{"0a017842 12 0801 1204 12020802 2a080000803f00000040", 0, 0},
		/* plugin "histograms" */
		{"0a01784a0e0a0c0a0a686973746f6772616d73420a080112002a040000803f", 0, 0},
	};
	(void)state;

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		uint8_t val[128], ev[160];
		size_t vn = unhex(cases[i].value, val, sizeof val), n = 0;
		tbw_event e;

		ev[n++] = 0x2a;                 /* Event.summary */
		ev[n++] = (uint8_t)(vn + 2);
		ev[n++] = 0x0a;                 /* Summary.value */
		ev[n++] = (uint8_t)vn;
		memcpy(ev + n, val, vn);
		n += vn;
		print_message("case %zu\n", i);
		assert_int_equal(tbw__event_decode(ev, n, &e), 0);
		assert_int_equal(e.kind, cases[i].scalar ? TBW_EVENT_SCALAR : TBW_EVENT_OTHER);
		if (cases[i].scalar) {
			assert_true(e.is_tensor);
			assert_true(e.value == cases[i].v);
		}
		assert_int_equal(e.tag_len, 1);
		assert_memory_equal(e.tag, "x", 1);
	}
}

/* A prefix of an event decodes only when it ends exactly on a top-level
 * field boundary; every other cut is TBW_ECORRUPT, never a crash. */
static void test_event_decoder_rejects_truncation_at_every_byte(void **state)
{
	static const struct { const char *hex; size_t ok[4]; } evs[] = {
		{"0900000040fc54d9411a0d627261696e2e4576656e743a32", {0, 9, 24, 24}},
		{"0900002040fc54d94110072a0d0a0b0a046c6f7373150000803e", {0, 9, 11, 26}},
		{GOLD_TENSOR_EVENT, {0, 9, 11, 46}},
		{"0900004040fc54d94110643a020801", {0, 9, 11, 15}},
	};
	(void)state;

	for (size_t k = 0; k < sizeof evs / sizeof evs[0]; k++) {
		uint8_t full[128];
		size_t n = unhex(evs[k].hex, full, sizeof full);
		assert_int_equal(n, evs[k].ok[3]);
		for (size_t cut = 0; cut <= n; cut++) {
			/* a heap copy of exactly cut bytes, so ASan sees any overread */
			uint8_t *p = malloc(cut ? cut : 1);
			tbw_event e;
			int boundary = 0, rc;
			memcpy(p, full, cut);
			for (int j = 0; j < 4; j++)
				boundary |= cut == evs[k].ok[j];
			rc = tbw__event_decode(p, cut, &e);
			assert_int_equal(rc, boundary ? 0 : TBW_ECORRUPT);
			free(p);
		}
	}
}

static void test_event_decoder_rejects_bad_varints_and_lengths(void **state)
{
	static const char *const bad[] = {
		"10ffffffffffffffffff7f",           /* step varint of 11 bytes */
		"10ffffffffffffffffff02",           /* 10th byte overflows 64 bits */
		"10ff",                             /* truncated varint */
		"ffffffffffffffffffff01",           /* key varint too long */
		"00",                               /* field number 0 */
		"1a8080808080808080 80 01",         /* file_version length 2^63 */
		"1a80808080 10 6869",               /* length 2^32 */
		"1a03 6869",                        /* length one past the end */
		"2a04 0a03 0a01 1007",              /* nested length past its parent */
		"2a04 0a02 0a05",                   /* tag length past Value */
		"0807",                             /* wall_time as a varint */
		"1101020304050607 08",              /* step as fixed64 */
		"1d00000000",                       /* file_version as fixed32 */
		"2a05 0d00000000",                  /* Summary.value as fixed32 */
		"2a06 0a04 15010203",               /* simple_value cut short */
		"2a06 0a04 1000 0000",              /* simple_value as varint */
		"3a02 0d00",                        /* SessionLog.status as fixed32 */
		"2a09 0a07 4205 2a03 000000",       /* packed float_val of 3 bytes */
		"7b 7c",                            /* group wire types (3, 4) */
		"7e00", "7f00",                     /* wire types 6 and 7 */
	};
	(void)state;

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		uint8_t buf[64];
		size_t n = unhex(bad[i], buf, sizeof buf);
		uint8_t *p = malloc(n);
		tbw_event e;
		memcpy(p, buf, n);
		print_message("case %zu: %s\n", i, bad[i]);
		tbw__error_clear();
		assert_int_equal(tbw__event_decode(p, n, &e), TBW_ECORRUPT);
		assert_non_null(strstr(tbw_errmsg(), "event decode"));
		free(p);
	}
}

/* Random damage to valid events: the decoder returns 0 or TBW_ECORRUPT and
 * never reads outside the buffer (ASan in the sanitizer build). */
static void test_event_decoder_survives_random_damage(void **state)
{
	static const char *const base[] = {GOLD_TENSOR_EVENT,
		"0900002040fc54d94110072a0d0a0b0a046c6f7373150000803e",
		"0900004040fc54d94110643a020801"};
	(void)state;

	for (int iter = 0; iter < 60000; iter++) {
		uint8_t buf[128];
		size_t n = unhex(base[iter % 3], buf, sizeof buf), flips = 1 + rnd() % 4;
		tbw_event e;
		for (size_t f = 0; f < flips; f++)
			buf[rnd() % n] ^= (uint8_t)(1u << (rnd() % 8));
		if (rnd() % 4 == 0)
			n = rnd() % (n + 1);
		uint8_t *p = malloc(n ? n : 1);
		memcpy(p, buf, n);
		int rc = tbw__event_decode(p, n, &e);
		assert_true(rc == 0 || rc == TBW_ECORRUPT);
		if (rc == 0 && e.kind == TBW_EVENT_SCALAR)
			assert_true(e.tag_len == 0 || (e.tag >= (const char *)p &&
			            e.tag + e.tag_len <= (const char *)p + n));
		free(p);
	}
}

/* ---- file names ---- */

static void test_event_file_name_format(void **state)
{
	char name[256];
	(void)state;

	assert_int_equal(tbw__event_file_name(name, sizeof name, 1700000000, "colab-vm.local",
	                                      4242, 3, ".tbwal"), 0);
	assert_string_equal(name, "events.out.tfevents.1700000000.colab-vm.local.4242.0000000003.tbwal");
	assert_int_equal(tbw__event_file_name(name, sizeof name, 5, "a/b c:d", 1, 0, NULL), 0);
	assert_string_equal(name, "events.out.tfevents.0000000005.a_b_c_d.1.0000000000");
	assert_int_equal(tbw__event_file_name(name, sizeof name, 5, "", 1, 0, ""), 0);
	assert_string_equal(name, "events.out.tfevents.0000000005.localhost.1.0000000000");
	/* does not fit, bad arguments */
	assert_int_equal(tbw__event_file_name(name, 20, 1700000000, "h", 1, 0, NULL), TBW_EINVAL);
	assert_int_equal(tbw__event_file_name(name, sizeof name, -1, "h", 1, 0, NULL), TBW_EINVAL);
	assert_int_equal(tbw__event_file_name(name, sizeof name, 10000000000LL, "h", 1, 0, NULL), TBW_EINVAL);
	assert_int_equal(tbw__event_file_name(name, sizeof name, 1, "h", -1, 0, NULL), TBW_EINVAL);
	assert_int_equal(tbw__event_file_name(name, sizeof name, 1, "h", 1, 0, "/x"), TBW_EINVAL);
}

/* Names made later (a later second, or a higher n in the same second) sort
 * later, across digit-count changes of both. */
static void test_event_file_names_sort_in_creation_order(void **state)
{
	static const int64_t secs[] = {0, 9, 10, 999999999, 1000000000, 1700000000, 9999999999LL};
	static const uint32_t ns[] = {0, 1, 9, 10, 99, 100, 12345, UINT32_MAX};
	char prev[256] = "", cur[256];
	(void)state;

	for (size_t i = 0; i < sizeof secs / sizeof secs[0]; i++)
		for (size_t j = 0; j < sizeof ns / sizeof ns[0]; j++) {
			assert_int_equal(tbw__event_file_name(cur, sizeof cur, secs[i], "host",
			                                      99999, ns[j], ".tbwal"), 0);
			assert_non_null(strstr(cur, "tfevents"));
			if (*prev)
				assert_true(strcmp(prev, cur) < 0);
			strcpy(prev, cur);
		}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_event_golden_file_version_record),
		cmocka_unit_test(test_event_golden_simple_value_record),
		cmocka_unit_test(test_event_golden_tensor_scalar_event),
		cmocka_unit_test(test_event_golden_session_start_record),
		cmocka_unit_test(test_event_golden_records_decode),
		cmocka_unit_test(test_event_decoder_round_trips),
		cmocka_unit_test(test_event_decoder_skips_unknown_fields),
		cmocka_unit_test(test_event_decoder_tensor_variants),
		cmocka_unit_test(test_event_decoder_rejects_truncation_at_every_byte),
		cmocka_unit_test(test_event_decoder_rejects_bad_varints_and_lengths),
		cmocka_unit_test(test_event_decoder_survives_random_damage),
		cmocka_unit_test(test_event_file_name_format),
		cmocka_unit_test(test_event_file_names_sort_in_creation_order),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
