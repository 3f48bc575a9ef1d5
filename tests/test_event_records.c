/* test_event_records.c -- variable-size event records (tbw_add_event):
 * journal round trip beside scalars (overflow pages, map growth, restore by
 * insert, salvage), the format upgrade and scalar-only journals, the size
 * cap and invalid bodies (nothing written), options of version 1, and the
 * compactor's export in commit order, decoded back, rewritten byte for byte
 * after a cut-back. */
#include "config.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>
#include "test_util.h"
#include "base/alloc.h"
#include "export/compactor.h"
#include "compactor_util.h"
#include "format/crc32c.h"
#include "base/error.h"
#include "format/event.h"
#include "journal/journal.h"
#include "base/os.h"
#include "tbwal.h"
#include "format/tfrecord.h"

static char tmp[256], jdir[300], logdir[300];

static int setup(void **state)
{
	(void)state;
	if (tbw_test_mkdtemp(tmp, sizeof tmp, "test_event_records") < 0)
		return -1;
	snprintf(jdir, sizeof jdir, "%s/j", tmp);
	snprintf(logdir, sizeof logdir, "%s/logs", tmp);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	unsetenv("TBW_JOURNAL_MAPSIZE");
	(void)tbw_test_rmtree(tmp);
	return 0;
}

/* ---- a few protobuf encoders for building bodies ---- */

typedef struct pb {
	uint8_t *p;
	size_t n, cap;
} pb;

static void pb_raw(pb *b, const void *d, size_t n)
{
	if (b->n + n > b->cap) {
		size_t nc = b->cap ? b->cap : 256;
		while (nc < b->n + n)
			nc *= 2;
		b->p = realloc(b->p, nc);
		assert_non_null(b->p);
		b->cap = nc;
	}
	if (n)
		memcpy(b->p + b->n, d, n);
	b->n += n;
}

static void pb_varint(pb *b, uint64_t v)
{
	uint8_t t[10];
	size_t n = 0;
	while (v >= 0x80) {
		t[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	t[n++] = (uint8_t)v;
	pb_raw(b, t, n);
}

static void pb_key(pb *b, unsigned f, unsigned wt) { pb_varint(b, ((uint64_t)f << 3) | wt); }

static void pb_lenf(pb *b, unsigned f, const void *d, size_t n)
{
	pb_key(b, f, 2);
	pb_varint(b, n);
	pb_raw(b, d, n);
}

static void pb_free(pb *b) { free(b->p); memset(b, 0, sizeof *b); }

/* Event body: summary { value { tag; metadata{plugin_data{plugin_name}};
 * tensor{dtype DT_STRING; string_val payload} } } */
static pb body_text(const char *tag, const char *plugin, const void *payload, size_t n)
{
	pb pd = {0}, md = {0}, tn = {0}, val = {0}, sum = {0}, ev = {0};
	pb_lenf(&pd, 1, plugin, strlen(plugin));
	pb_lenf(&md, 1, pd.p, pd.n);
	pb_key(&tn, 1, 0);
	pb_varint(&tn, 7);                 /* DT_STRING */
	pb_lenf(&tn, 8, payload, n);
	pb_lenf(&val, 1, tag, strlen(tag));
	pb_lenf(&val, 9, md.p, md.n);
	pb_lenf(&val, 8, tn.p, tn.n);
	pb_lenf(&sum, 1, val.p, val.n);
	pb_lenf(&ev, 5, sum.p, sum.n);
	pb_free(&pd); pb_free(&md); pb_free(&tn); pb_free(&val); pb_free(&sum);
	return ev;
}

/* An image summary of n pseudo-random "encoded" bytes. */
static pb body_image(const char *tag, size_t n, unsigned seed)
{
	pb img = {0}, val = {0}, sum = {0}, ev = {0};
	uint8_t *d = malloc(n ? n : 1);
	assert_non_null(d);
	for (size_t i = 0; i < n; i++) {
		seed = seed * 1103515245u + 12345u;
		d[i] = (uint8_t)(seed >> 16);
	}
	pb_key(&img, 1, 0); pb_varint(&img, 64);
	pb_key(&img, 2, 0); pb_varint(&img, 48);
	pb_key(&img, 3, 0); pb_varint(&img, 3);
	pb_lenf(&img, 4, d, n);
	free(d);
	pb_lenf(&val, 1, tag, strlen(tag));
	pb_lenf(&val, 4, img.p, img.n);
	pb_lenf(&sum, 1, val.p, val.n);
	pb_lenf(&ev, 5, sum.p, sum.n);
	pb_free(&img); pb_free(&val); pb_free(&sum);
	return ev;
}

static tbw_journal *jopen_rw(const char *dir)
{
	tbw_jopen cfg = TBW_JOPEN_INIT;
	tbw_journal *j = NULL;
	cfg.create = 1;
	if (tbw__journal_open(&j, dir, &cfg) != 0)
		fprintf(stderr, "open: %s\n", tbw_errmsg());
	assert_non_null(j);
	return j;
}

static uint64_t jcount(const char *dir)
{
	tbw_jopen cfg = TBW_JOPEN_INIT;
	tbw_journal *j = NULL;
	uint64_t n = 0;
	assert_int_equal(tbw__journal_open(&j, dir, &cfg), TBW_OK);
	assert_int_equal(tbw__journal_count(j, &n), TBW_OK);
	tbw__journal_close(j);
	return n;
}

/* ---- journal ---- */

static void check_body(tbw_journal *j, uint64_t seq, const pb *want)
{
	uint8_t *got = malloc(want->n);
	size_t len = 0;
	assert_non_null(got);
	assert_int_equal(tbw__journal_read_body(j, seq, got, want->n, &len), TBW_OK);
	assert_int_equal(len, want->n);
	assert_memory_equal(got, want->p, want->n);
	free(got);
}

static void test_event_records_round_trip_beside_scalars_and_grow_the_map(void **state)
{
	(void)state;
	/* a 1 MiB map: the 16 MiB record must grow it (MDB_MAP_FULL path) */
	setenv("TBW_JOURNAL_MAPSIZE", "1048576", 1);
	tbw_journal *j = jopen_rw(jdir);
	pb small = body_text("text/a", "text", "hello", 5);
	pb mid = body_image("img/b", 1u << 20, 7);
	pb big = body_image("img/c", (16u << 20) - 64, 9);
	tbw_jrec r[16];
	tbw_jread inf;
	tbw_jinfo info;
	uint64_t seq = 0;
	uint8_t tiny[4];
	size_t len;

	assert_int_equal(tbw__journal_append(j, "loss", 4, 0.5, 1, 100.0, NULL), TBW_OK);
	assert_int_equal(tbw__journal_append_event(j, "text/a", 6, 2, 101.0, small.p, small.n, &seq), TBW_OK);
	assert_int_equal(seq, 2);
	assert_int_equal(tbw__journal_append(j, "loss", 4, 0.25, 3, 102.0, NULL), TBW_OK);
	assert_int_equal(tbw__journal_append_event(j, "img/b", 5, 4, 103.0, mid.p, mid.n, NULL), TBW_OK);
	assert_int_equal(tbw__journal_append_event(j, NULL, 0, 5, 104.0, big.p, big.n, &seq), TBW_OK);
	assert_int_equal(seq, 5);
	assert_int_equal(tbw__journal_append_start(j, 6, 105.0, NULL), TBW_OK);
	assert_int_equal(tbw__journal_info(j, &info), TBW_OK);
	assert_int_equal(info.format, TBW_JOURNAL_FORMAT_EVENTS);
	tbw__journal_close(j);
	unsetenv("TBW_JOURNAL_MAPSIZE");

	j = jopen_rw(jdir);
	assert_int_equal(tbw__journal_read(j, 0, r, 16, &inf), TBW_OK);
	assert_int_equal(inf.n, 6);
	assert_int_equal(inf.ncorrupt, 0);
	assert_int_equal(r[0].body_len, 0);
	assert_true(r[0].value == 0.5);
	assert_int_equal(r[1].body_len, small.n);
	assert_int_equal(r[1].step, 2);
	assert_true(r[1].wall_time == 101.0);
	assert_int_equal(r[2].body_len, 0);
	assert_int_equal(r[3].body_len, mid.n);
	assert_int_equal(r[4].body_len, big.n);
	assert_int_equal(r[4].tag_id, TBW_JTAG_NONE);
	assert_int_equal(r[5].tag_id, TBW_JTAG_SESSION_START);
	{
		const char *name;
		size_t n;
		assert_int_equal(tbw__journal_tag_name(j, r[1].tag_id, &name, &n), TBW_OK);
		assert_int_equal(n, 6);
		assert_memory_equal(name, "text/a", 6);
		assert_int_equal(r[0].tag_id, r[2].tag_id);
	}
	check_body(j, 2, &small);
	check_body(j, 4, &mid);
	check_body(j, 5, &big);
	/* a buffer too small, a scalar, a missing record */
	assert_int_equal(tbw__journal_read_body(j, 2, tiny, sizeof tiny, &len), TBW_EINVAL);
	assert_int_equal(len, small.n);
	assert_int_equal(tbw__journal_read_body(j, 1, tiny, sizeof tiny, &len), TBW_EINVAL);
	assert_int_equal(tbw__journal_read_body(j, 99, tiny, sizeof tiny, &len), TBW_ENOTFOUND);

	/* restore into another journal by insert (what tbrecover does) */
	{
		char j2dir[340];
		tbw_journal *j2;
		tbw_jrec_named nr[3];
		size_t ins = 0;
		snprintf(j2dir, sizeof j2dir, "%s/j2", tmp);
		j2 = jopen_rw(j2dir);
		memset(nr, 0, sizeof nr);
		nr[0].seq = 4; nr[0].step = 4; nr[0].wall_time = 103.0; nr[0].tag = "img/b"; nr[0].tag_len = 5;
		nr[0].body = mid.p; nr[0].body_len = mid.n;
		nr[1].seq = 2; nr[1].step = 2; nr[1].wall_time = 101.0; nr[1].tag = "text/a"; nr[1].tag_len = 6;
		nr[1].body = small.p; nr[1].body_len = small.n;
		nr[2].seq = 3; nr[2].step = 3; nr[2].wall_time = 102.0; nr[2].value = 0.25; nr[2].tag = "loss";
		nr[2].tag_len = 4;
		assert_int_equal(tbw__journal_insert(j2, nr, 3, &ins), TBW_OK);
		assert_int_equal(ins, 3);
		assert_int_equal(tbw__journal_insert(j2, nr, 3, &ins), TBW_OK);
		assert_int_equal(ins, 0);   /* deduplicated by sequence */
		check_body(j2, 2, &small);
		check_body(j2, 4, &mid);
		assert_int_equal(tbw__journal_read(j2, 0, r, 16, &inf), TBW_OK);
		assert_int_equal(inf.n, 3);
		assert_int_equal(r[1].body_len, 0);
		assert_true(r[1].value == 0.25);
		assert_int_equal(tbw__journal_info(j2, &info), TBW_OK);
		assert_int_equal(info.format, TBW_JOURNAL_FORMAT_EVENTS);
		tbw__journal_close(j2);
	}
	tbw__journal_close(j);
	pb_free(&small); pb_free(&mid); pb_free(&big);
}

typedef struct salv {
	uint64_t seqs[16];
	size_t bodies[16];
	uint32_t crcs[16];
	size_t n;
} salv;

static int salv_cb(void *ctx, const tbw_jrec_named *r)
{
	salv *s = ctx;
	if (s->n < 16) {
		s->seqs[s->n] = r->seq;
		s->bodies[s->n] = r->body_len;
		s->crcs[s->n] = r->body_len ? tbw__crc32c_value(r->body, r->body_len) : 0;
		s->n++;
	}
	return 0;
}

static void test_event_records_salvage_lmdb_and_raw_scan_deliver_bodies(void **state)
{
	(void)state;
	tbw_journal *j = jopen_rw(jdir);
	pb small = body_text("t", "text", "abc", 3);
	pb big = body_image("img", 300000, 3);
	salv s1, s2;
	uint64_t nr = 0, nc = 0;

	assert_int_equal(tbw__journal_append(j, "loss", 4, 1.0, 1, 1.0, NULL), TBW_OK);
	assert_int_equal(tbw__journal_append_event(j, "t", 1, 2, 2.0, small.p, small.n, NULL), TBW_OK);
	assert_int_equal(tbw__journal_append_event(j, "img", 3, 3, 3.0, big.p, big.n, NULL), TBW_OK);
	assert_int_equal(tbw__journal_sync(j), TBW_OK);
	tbw__journal_close(j);

	memset(&s1, 0, sizeof s1);
	assert_int_equal(tbw__journal_salvage(jdir, salv_cb, &s1, &nr, &nc, NULL), TBW_OK);
	assert_int_equal(nr, 3);
	assert_int_equal(nc, 0);
	memset(&s2, 0, sizeof s2);
	assert_int_equal(tbw__journal_salvage_raw(jdir, salv_cb, &s2, &nr, &nc, NULL), TBW_OK);
	assert_int_equal(nr, 3);
	for (size_t i = 0; i < 3; i++) {
		assert_int_equal(s1.seqs[i], i + 1);
		assert_int_equal(s2.seqs[i], i + 1);
		assert_int_equal(s1.bodies[i], s2.bodies[i]);
		assert_int_equal(s1.crcs[i], s2.crcs[i]);
	}
	assert_int_equal(s1.bodies[1], small.n);
	assert_int_equal(s1.crcs[1], tbw__crc32c_value(small.p, small.n));
	assert_int_equal(s1.bodies[2], big.n);
	assert_int_equal(s1.crcs[2], tbw__crc32c_value(big.p, big.n));
	pb_free(&small); pb_free(&big);
}

static void test_event_records_a_scalar_journal_stays_format_1_until_the_first_event(void **state)
{
	(void)state;
	tbw_journal *j = jopen_rw(jdir);
	tbw_jinfo info;
	pb b = body_text("x", "text", "y", 1);

	assert_int_equal(tbw__journal_append(j, "loss", 4, 1.0, 1, 1.0, NULL), TBW_OK);
	assert_int_equal(tbw__journal_info(j, &info), TBW_OK);
	assert_int_equal(info.format, TBW_JOURNAL_FORMAT_SCALARS);
	tbw__journal_close(j);
	j = jopen_rw(jdir);
	assert_int_equal(tbw__journal_append_event(j, "x", 1, 2, 2.0, b.p, b.n, NULL), TBW_OK);
	assert_int_equal(tbw__journal_info(j, &info), TBW_OK);
	assert_int_equal(info.format, TBW_JOURNAL_FORMAT_EVENTS);
	tbw__journal_close(j);
	pb_free(&b);
}

/* A journal written by tbwal before event records existed (format 1,
 * tests/golden/journal-v1, made by tests/golden/README's recipe): read as
 * it is, then extended with event records. */
static void test_event_records_a_golden_format_1_journal_is_read_and_extended(void **state)
{
	(void)state;
	char cmd[1024], gdir[400];
	const char *src = getenv("srcdir");
	tbw_journal *j;
	tbw_jrec r[64];
	tbw_jread inf;
	tbw_jinfo info;
	tbw_jexport x;
	pb b = body_text("note", "text", "after upgrade", 13);

	snprintf(gdir, sizeof gdir, "%s/golden", tmp);
	snprintf(cmd, sizeof cmd, "mkdir -p '%s' && cp '%s/tests/golden/journal-v1/data.mdb' '%s/'", gdir,
	         src ? src : ".", gdir);
	assert_int_equal(system(cmd), 0);
	j = jopen_rw(gdir);
	assert_int_equal(tbw__journal_info(j, &info), TBW_OK);
	assert_int_equal(info.format, 1);
	assert_int_equal(tbw__journal_read(j, 0, r, 64, &inf), TBW_OK);
	assert_int_equal(inf.ncorrupt, 0);
	assert_int_equal(inf.n, 10);
	for (size_t i = 0; i < inf.n; i++) {
		const char *name;
		size_t n;
		assert_int_equal(r[i].seq, i + 1);
		assert_int_equal(r[i].body_len, 0);
		assert_int_equal(r[i].step, (int64_t)i);
		assert_true(r[i].value == (double)i / 4);
		assert_int_equal(tbw__journal_tag_name(j, r[i].tag_id, &name, &n), TBW_OK);
		assert_memory_equal(name, i % 2 ? "acc" : "loss", n);
	}
	assert_int_equal(tbw__journal_get_export(j, &x), TBW_OK);
	assert_int_equal(x.seq, 0);
	assert_int_equal(tbw__journal_append_event(j, "note", 4, 10, 11.0, b.p, b.n, NULL), TBW_OK);
	assert_int_equal(tbw__journal_read(j, 0, r, 64, &inf), TBW_OK);
	assert_int_equal(inf.n, 11);
	assert_int_equal(r[10].seq, 11);
	assert_int_equal(r[10].body_len, b.n);
	check_body(j, 11, &b);
	assert_int_equal(tbw__journal_info(j, &info), TBW_OK);
	assert_int_equal(info.format, TBW_JOURNAL_FORMAT_EVENTS);
	tbw__journal_close(j);
	pb_free(&b);
}

/* ---- the public call: cap, validation, options ---- */

static tbw_writer *wopen(size_t cap, unsigned version)
{
	tbw_options o = TBW_OPTIONS_INIT;
	tbw_writer *w = NULL;
	o.compact_interval_ms = 0;
	o.version = version;
	o.max_record_bytes = cap;
	if (tbw_open(&w, logdir, &o) != 0)
		fprintf(stderr, "open: %s\n", tbw_errmsg());
	assert_non_null(w);
	return w;
}

static void test_event_records_above_the_size_cap_are_refused_and_nothing_is_written(void **state)
{
	(void)state;
	tbw_writer *w = wopen(4096, TBW_OPTIONS_VERSION);
	char jd[400];
	pb ok, over;
	size_t pay;

	snprintf(jd, sizeof jd, "%s", tbw_journal_path(w));
	/* the largest body within the cap, and one byte more (in this range
	 * the body's size is the payload's plus a constant) */
	{
		uint8_t *d = calloc(1, 5000);
		ok = body_text("t", "text", d, 4000);
		pay = 4096 - (ok.n - 4000);
		pb_free(&ok);
		ok = body_text("t", "text", d, pay);
		free(d);
	}
	assert_int_equal(ok.n, 4096);
	assert_int_equal(tbw_add_scalar(w, "loss", 1.0, 1, 0), TBW_OK);
	{
		uint8_t *d = calloc(1, pay + 1);
		over = body_text("t", "text", d, pay + 1);
		free(d);
	}
	assert_true(over.n > 4096);
	assert_int_equal(tbw_add_event(w, "t", 2, 0, over.p, over.n), TBW_EINVAL);
	assert_non_null(strstr(tbw_errmsg(), "max_record_bytes"));
	assert_non_null(strstr(tbw_errmsg(), "nothing written"));
	assert_int_equal(jcount(jd), 1);
	assert_int_equal(tbw_add_event(w, "t", 2, 0, ok.p, ok.n), TBW_OK);
	assert_int_equal(jcount(jd), 2);
	assert_int_equal(tbw_close(w), TBW_OK);
	pb_free(&ok); pb_free(&over);

	/* the default cap is 16 MiB */
	w = wopen(0, TBW_OPTIONS_VERSION);
	{
		pb at = body_image("img", (16u << 20) - 32, 1), above;
		size_t n = at.n;
		assert_true(n <= TBW_RECORD_MAX_DEFAULT);
		assert_int_equal(tbw_add_event(w, "img", 3, 0, at.p, at.n), TBW_OK);
		pb_free(&at);
		above = body_image("img", TBW_RECORD_MAX_DEFAULT, 1);
		assert_int_equal(tbw_add_event(w, "img", 4, 0, above.p, above.n), TBW_EINVAL);
		pb_free(&above);
	}
	assert_int_equal(tbw_close(w), TBW_OK);
	/* a cap above the hard limit is a bad option */
	{
		tbw_options o = TBW_OPTIONS_INIT;
		tbw_writer *w2 = NULL;
		o.max_record_bytes = TBW_RECORD_MAX_LIMIT + 1;
		assert_int_equal(tbw_open(&w2, logdir, &o), TBW_EINVAL);
		assert_null(w2);
	}
}

static void test_event_records_options_of_version_1_are_accepted_with_defaults(void **state)
{
	(void)state;
	/* A version-1 caller's struct ends before max_record_bytes: whatever
	 * lies there must be ignored (the default cap applies). */
	tbw_writer *w = wopen(1, 1);
	pb b = body_text("t", "text", "a version-1 caller", 18);
	assert_int_equal(tbw_add_event(w, "t", 1, 0, b.p, b.n), TBW_OK);
	assert_int_equal(tbw_close(w), TBW_OK);
	pb_free(&b);
	{
		tbw_options o = TBW_OPTIONS_INIT;
		tbw_writer *w2 = NULL;
		o.version = TBW_OPTIONS_VERSION + 1;
		assert_int_equal(tbw_open(&w2, logdir, &o), TBW_EINVAL);
		o.version = 0;
		assert_int_equal(tbw_open(&w2, logdir, &o), TBW_EINVAL);
	}
}

/* Golden bad bodies: each is refused with TBW_EINVAL and writes nothing. */
typedef struct bad_body {
	const char *name;
	const char *bytes;
	size_t n;
	const char *why;   /* a word the message must hold */
} bad_body;

#define B(s) s, sizeof(s) - 1

static const bad_body bad_bodies[] = {
	{ "wall_time field", B("\x09\x00\x00\x00\x00\x00\x00\xf0\x3f"), "wall_time" },
	{ "step field", B("\x10\x05"), "step" },
	{ "file_version", B("\x1a\x02" "ab"), "file_version" },
	{ "unknown top-level field 11", B("\x5a\x00"), "no field 11" },
	{ "unknown top-level field 15 (varint)", B("\x78\x01"), "no field 15" },
	{ "truncated key varint", B("\x8a"), "key" },
	{ "length past the end", B("\x2a\x05\x0a\x01"), "past the end" },
	{ "summary as varint", B("\x28\x01"), "wire type" },
	{ "graph_def as fixed64", B("\x21\x00\x00\x00\x00\x00\x00\x00\x00"), "wire type" },
	{ "two oneof members", B("\x22\x01x\x2a\x00"), "oneof" },
	{ "unknown Summary field", B("\x2a\x02\x12\x00"), "Summary has no field 2" },
	{ "Value.tag invalid UTF-8", B("\x2a\x05\x0a\x03\x0a\x01\xff"), "UTF-8" },
	{ "Value.tag overlong UTF-8", B("\x2a\x06\x0a\x04\x0a\x02\xc0\x80"), "UTF-8" },
	{ "Value.tag truncated UTF-8", B("\x2a\x06\x0a\x04\x0a\x02\xe2\x82"), "UTF-8" },
	{ "Value.tag surrogate", B("\x2a\x07\x0a\x05\x0a\x03\xed\xa0\x80"), "UTF-8" },
	{ "plugin_name invalid UTF-8", B("\x2a\x09\x0a\x07\x4a\x05\x0a\x03\x0a\x01\x80"), "UTF-8" },
	{ "simple_value as varint", B("\x2a\x04\x0a\x02\x10\x01"), "simple_value" },
	{ "packed float_val of 5 bytes",
	  B("\x2a\x0b\x0a\x09\x42\x07\x2a\x05\x01\x02\x03\x04\x05"), "fixed32" },
	{ "histogram bucket packed 7 bytes",
	  B("\x2a\x0d\x0a\x0b\x2a\x09\x3a\x07\x01\x02\x03\x04\x05\x06\x07"), "fixed64" },
	{ "group in a nested message", B("\x2a\x04\x0a\x02\x63\x64"), "group" },
	{ "resource handle tensor", B("\x2a\x06\x0a\x04\x42\x02\x72\x00"), "resource_handle_val" },
	{ "tagged_run_metadata tag invalid UTF-8", B("\x42\x03\x0a\x01\xfe"), "UTF-8" },
	{ "session_log status as length", B("\x3a\x02\x0a\x00"), "status" },
	{ "varint longer than 10 bytes in Image",
	  B("\x2a\x10\x0a\x0e\x22\x0c\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01"), "malformed" },
};

static void test_event_records_invalid_bodies_are_refused_and_nothing_is_written(void **state)
{
	(void)state;
	tbw_writer *w = wopen(0, TBW_OPTIONS_VERSION);
	char jd[400];

	snprintf(jd, sizeof jd, "%s", tbw_journal_path(w));
	for (size_t i = 0; i < sizeof bad_bodies / sizeof bad_bodies[0]; i++) {
		const bad_body *b = &bad_bodies[i];
		int rc = tbw_add_event(w, "t", 1, 0, b->bytes, b->n);
		if (rc != TBW_EINVAL || !strstr(tbw_errmsg(), b->why))
			fail_msg("%s: rc %d, message \"%s\" (want \"%s\")", b->name, rc, tbw_errmsg(), b->why);
	}
	assert_int_equal(tbw_add_event(w, "t", 1, 0, "", 0), TBW_EINVAL);
	assert_int_equal(tbw_add_event(w, "t", 1, 0, NULL, 3), TBW_EINVAL);
	assert_int_equal(tbw_add_event(w, "bad\ntag", 1, 0, "\x22\x00", 2), TBW_EINVAL);
	assert_int_equal(tbw_add_event(NULL, "t", 1, 0, "\x22\x00", 2), TBW_EINVAL);
	assert_int_equal(jcount(jd), 0);
	assert_int_equal(tbw_close(w), TBW_OK);
}

static const struct { const char *name; const char *bytes; size_t n; } good_bodies[] = {
	{ "empty graph_def", B("\x22\x00") },
	{ "meta_graph_def", B("\x4a\x03xyz") },
	{ "tagged_run_metadata", B("\x42\x08\x0a\x03" "abc" "\x12\x01z") },
	{ "summary with no value", B("\x2a\x00") },
	{ "two summaries (merged by protobuf)", B("\x2a\x00\x2a\x00") },
	{ "simple value", B("\x2a\x0a\x0a\x08\x0a\x01" "a" "\x15\x00\x00\x80\x3f") },
	{ "histogram unpacked bucket", B("\x2a\x0d\x0a\x0b\x2a\x09\x39\x00\x00\x00\x00\x00\x00\xf0\x3f") },
	{ "unknown field inside Value (kept as unknown)", B("\x2a\x04\x0a\x02\x58\x01") },
	{ "source_metadata", B("\x52\x03\x0a\x01w") },
	{ "session_log", B("\x3a\x02\x08\x01") },
	{ "UTF-8 tag", B("\x2a\x09\x0a\x07\x0a\x05\xc3\xa9\xe2\x82\xac") },
};

static void test_event_records_valid_bodies_of_every_kind_are_accepted(void **state)
{
	(void)state;
	tbw_writer *w = wopen(0, TBW_OPTIONS_VERSION);
	char why[256];
	size_t accepted = 0;

	for (size_t i = 0; i < sizeof good_bodies / sizeof good_bodies[0]; i++) {
		int v = tbw__event_check_body((const uint8_t *)good_bodies[i].bytes, good_bodies[i].n, why, sizeof why);
		if (v != 0)
			fail_msg("%s refused: %s", good_bodies[i].name, why);
		assert_int_equal(tbw_add_event(w, NULL, (int64_t)i, 0, good_bodies[i].bytes, good_bodies[i].n), TBW_OK);
		accepted++;
	}
	{
		pb t = body_text("text/summary", "text", "some text", 9), im = body_image("images/x", 5000, 2);
		assert_int_equal(tbw_add_event(w, NULL, 100, 0, t.p, t.n), TBW_OK);
		assert_int_equal(tbw_add_event(w, "explicit", 101, 0, im.p, im.n), TBW_OK);
		accepted += 2;
		pb_free(&t); pb_free(&im);
	}
	assert_int_equal(jcount(tbw_journal_path(w)), accepted);
	assert_int_equal(tbw_close(w), TBW_OK);
}

static void test_event_records_name_their_tag_from_the_body_when_none_is_given(void **state)
{
	(void)state;
	pb t = body_text("text/derived", "text", "x", 1);
	const char *tag;
	size_t n;
	tbw_jrec r[4];
	tbw_jread inf;
	tbw_journal *j;
	tbw_writer *w = wopen(0, TBW_OPTIONS_VERSION);
	char jd[400];

	snprintf(jd, sizeof jd, "%s", tbw_journal_path(w));
	assert_int_equal(tbw__event_body_tag(t.p, t.n, &tag, &n), 0);
	assert_int_equal(n, 12);
	assert_memory_equal(tag, "text/derived", 12);
	assert_int_equal(tbw_add_event(w, NULL, 1, 0, t.p, t.n), TBW_OK);
	assert_int_equal(tbw_add_event(w, NULL, 2, 0, "\x22\x01g", 3), TBW_OK);   /* a graph: no tag */
	assert_int_equal(tbw_add_event(w, NULL, 3, 0, "\x42\x07\x0a\x03run\x12\x00", 9), TBW_OK);
	j = jopen_rw(jd);
	assert_int_equal(tbw__journal_read(j, 0, r, 4, &inf), TBW_OK);
	assert_int_equal(inf.n, 3);
	assert_int_equal(tbw__journal_tag_name(j, r[0].tag_id, &tag, &n), TBW_OK);
	assert_memory_equal(tag, "text/derived", 12);
	assert_int_equal(r[1].tag_id, TBW_JTAG_NONE);
	assert_int_equal(tbw__journal_tag_name(j, r[2].tag_id, &tag, &n), TBW_OK);
	assert_memory_equal(tag, "run", 3);
	tbw__journal_close(j);
	assert_int_equal(tbw_close(w), TBW_OK);
	pb_free(&t);
}

static int count_scalar(void *ctx, const tbw_scalar_rec *r)
{
	size_t *n = ctx;
	if (r->value != 1.0 && r->value != 2.0)
		return 1;   /* an event record read as a scalar */
	(*n)++;
	return 0;
}

static void test_event_records_are_no_scalars_to_read_journal_and_stat(void **state)
{
	(void)state;
	tbw_options o = TBW_OPTIONS_INIT;
	tbw_writer *w = NULL;
	tbw_stat *st = NULL;
	pb t = body_text("loss", "text", "same tag as a scalar", 20);
	size_t n = 0;

	o.compact_interval_ms = 1000000;   /* nothing exported: the journal keeps every record */
	assert_int_equal(tbw_open(&w, logdir, &o), TBW_OK);
	assert_int_equal(tbw_add_scalar(w, "loss", 1.0, 1, 0), TBW_OK);
	assert_int_equal(tbw_add_event(w, "loss", 2, 0, t.p, t.n), TBW_OK);
	assert_int_equal(tbw_add_event(w, NULL, 3, 0, "\x22\x01g", 3), TBW_OK);   /* no tag */
	assert_int_equal(tbw_add_scalar(w, "loss", 2.0, 4, 0), TBW_OK);
	assert_int_equal(tbw_read_journal(logdir, NULL, 0, count_scalar, &n, NULL), TBW_OK);
	assert_int_equal(n, 2);
	assert_int_equal(tbw_stat_read(&st, logdir, NULL), TBW_OK);
	for (size_t i = 0; i < tbw_stat_ntags(st); i++)
		assert_true(tbw_stat_get_tag(st, i) != NULL);
	tbw_stat_free(st);
	assert_int_equal(tbw_close(w), TBW_OK);
	pb_free(&t);
}

/* ---- the compactor ---- */

typedef struct logged {
	int is_event;
	int64_t step;
	double wall;
	double value;
	pb body;
} logged;

/* Read every record of every event file in name order; check the file
 * starts, then that the records after file_version and the run's START are
 * exactly what was logged, in order. */
static void check_export(const logged *lg, size_t n, size_t *nfiles_out)
{
	cu_scan s;
	size_t k = 0;

	memset(&s, 0, sizeof s);
	assert_int_equal(cu_scan_logdir(logdir, &s), 0);
	if (s.corrupt || s.torn)
		fail_msg("event files: %zu corrupt, %zu torn: %s", s.corrupt, s.torn, s.why);
	for (size_t f = 0; f < s.nfiles; f++) {
		char path[700];
		int fd;
		tbw_tfr_reader *r = NULL;
		const uint8_t *d;
		size_t len;
		int st, idx = 0;
		snprintf(path, sizeof path, "%s/%s", logdir, s.names[f]);
		fd = open(path, O_RDONLY);
		assert_true(fd >= 0);
		assert_int_equal(tbw__tfr_reader_open(&r, fd, 0, path), TBW_OK);
		while ((st = tbw__tfr_reader_next(r, &d, &len, NULL)) == TBW_TFR_RECORD) {
			tbw_event ev;
			double wall;
			int64_t step;
			size_t off;
			assert_int_equal(tbw__event_decode(d, len, &ev), TBW_OK);
			if (idx++ == 0) {
				assert_int_equal(ev.kind, TBW_EVENT_FILE_VERSION);
				continue;
			}
			if (ev.kind == TBW_EVENT_SESSION_START && f == 0 && idx == 2)
				continue;   /* the run's sacrificial START */
			assert_true(k < n);
			assert_int_equal(tbw__event_split(d, len, &wall, &step, &off), TBW_OK);
			assert_int_equal(step, lg[k].step);
			assert_true(wall == lg[k].wall);
			if (lg[k].is_event) {
				assert_int_equal(len - off, lg[k].body.n);
				assert_memory_equal(d + off, lg[k].body.p, lg[k].body.n);
			} else {
				assert_int_equal(ev.kind, TBW_EVENT_SCALAR);
				assert_true(ev.value == (float)lg[k].value);
			}
			k++;
		}
		assert_int_equal(st, TBW_TFR_END);
		tbw__tfr_reader_close(r);
		close(fd);
	}
	assert_int_equal(k, n);
	if (nfiles_out)
		*nfiles_out = s.nfiles;
	cu_scan_free(&s);
}

static void test_event_records_are_exported_in_commit_order_among_scalars(void **state)
{
	(void)state;
	char j2[400];
	tbw_journal *j;
	tbw_compactor *c = NULL;
	tbw_compact_cfg cfg = TBW_COMPACT_CFG_INIT;
	logged lg[200];
	size_t n = 0, nfiles = 0;
	uint64_t nexp = 0;

	snprintf(j2, sizeof j2, "%s/.tbwal", logdir);
	j = jopen_rw(j2);
	cfg.logdir = logdir;
	cfg.rotate_bytes = 256 << 10;   /* several files */
	memset(lg, 0, sizeof lg);
	for (int i = 0; i < 200; i++) {
		logged *l = &lg[n++];
		l->step = i;
		l->wall = 1000.0 + i;
		if (i % 3 == 0) {
			l->is_event = 1;
			l->body = i % 2 ? body_text("text/t", "text", "abcdef", 6)
			                : body_image("img/x", (size_t)(i * 997) % 70000 + 1, (unsigned)i);
			assert_int_equal(tbw__journal_append_event(j, i % 2 ? "text/t" : "img/x", 5 + (i % 2),
			                                           i, l->wall, l->body.p, l->body.n, NULL), TBW_OK);
		} else {
			l->value = i * 0.5;
			assert_int_equal(tbw__journal_append(j, "loss", 4, l->value, i, l->wall, NULL), TBW_OK);
		}
		if (i == 99) {
			assert_int_equal(tbw__compactor_open(&c, j, &cfg), TBW_OK);
			assert_int_equal(tbw__compactor_pass(c, &nexp), TBW_OK);
			assert_int_equal(nexp, 100);
		}
	}
	assert_int_equal(tbw__compactor_pass(c, &nexp), TBW_OK);
	assert_int_equal(nexp, 100);
	{
		tbw_compact_stats st;
		tbw__compactor_stats(c, &st);
		assert_int_equal(st.skipped_corrupt, 0);
		assert_string_equal(st.problem, "");
	}
	tbw__compactor_close(c);
	check_export(lg, n, &nfiles);
	assert_true(nfiles >= 2);   /* one per session at least (rotation is checked per batch) */
	{
		uint64_t left = 1;
		assert_int_equal(tbw__journal_count(j, &left), TBW_OK);
		assert_int_equal(left, 0);   /* pruned once exported */
	}
	tbw__journal_close(j);
	for (size_t i = 0; i < n; i++)
		pb_free(&lg[i].body);
}

static uint8_t *slurp(const char *path, size_t *n)
{
	struct stat st;
	uint8_t *b;
	int fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	b = malloc((size_t)st.st_size + 1);
	assert_int_equal(read(fd, b, (size_t)st.st_size), st.st_size);
	close(fd);
	*n = (size_t)st.st_size;
	return b;
}

static void test_event_records_cut_back_tail_is_rewritten_byte_for_byte(void **state)
{
	(void)state;
	char j2[400], path[700];
	tbw_journal *j;
	tbw_compactor *c = NULL;
	tbw_compact_cfg cfg = TBW_COMPACT_CFG_INIT;
	tbw_jexport mid, end;
	uint8_t *before, *after;
	size_t nb, na;
	pb bodies[6];

	snprintf(j2, sizeof j2, "%s/.tbwal", logdir);
	j = jopen_rw(j2);
	assert_int_equal(tbw__journal_set_ship(j, 0), TBW_OK);   /* keep every record (no pruning) */
	cfg.logdir = logdir;
	assert_int_equal(tbw__compactor_open(&c, j, &cfg), TBW_OK);
	for (int i = 0; i < 6; i++) {
		bodies[i] = body_image("img", 20000u * (unsigned)(i + 1), (unsigned)i);
		assert_int_equal(tbw__journal_append(j, "loss", 4, i, i, 10.0 + i, NULL), TBW_OK);
		assert_int_equal(tbw__journal_append_event(j, "img", 3, i, 10.5 + i, bodies[i].p, bodies[i].n, NULL),
		                 TBW_OK);
		if (i == 2) {
			assert_int_equal(tbw__compactor_pass(c, NULL), TBW_OK);
			assert_int_equal(tbw__journal_get_export(j, &mid), TBW_OK);
		}
	}
	assert_int_equal(tbw__compactor_pass(c, NULL), TBW_OK);
	tbw__compactor_close(c);
	assert_int_equal(tbw__journal_get_export(j, &end), TBW_OK);
	assert_string_equal(mid.file, end.file);
	snprintf(path, sizeof path, "%s/%s", logdir, end.file);
	before = slurp(path, &nb);
	assert_int_equal(nb, end.offset);
	/* the cursor goes back (a crash between fsync and cursor commit) and a
	 * torn record (part of a header) follows the whole ones */
	assert_int_equal(tbw__journal_set_export(j, &mid), TBW_OK);
	{
		int fd = open(path, O_WRONLY | O_APPEND);
		assert_true(fd >= 0);
		assert_int_equal(write(fd, before + mid.offset, 10), 10);
		close(fd);
	}
	assert_int_equal(tbw__compactor_open(&c, j, &cfg), TBW_OK);
	{
		tbw_compact_stats st;
		tbw__compactor_stats(c, &st);
		assert_string_equal(st.problem, "");
		assert_true(st.repaired_bytes > 0);
		assert_int_equal(st.cursor.seq, end.seq);
	}
	tbw__compactor_close(c);
	after = slurp(path, &na);
	assert_int_equal(na, nb);
	assert_memory_equal(after, before, nb);
	free(before);
	free(after);
	tbw__journal_close(j);
	for (int i = 0; i < 6; i++)
		pb_free(&bodies[i]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_event_records_round_trip_beside_scalars_and_grow_the_map, setup, teardown),
		cmocka_unit_test_setup_teardown(test_event_records_salvage_lmdb_and_raw_scan_deliver_bodies, setup, teardown),
		cmocka_unit_test_setup_teardown(test_event_records_a_scalar_journal_stays_format_1_until_the_first_event, setup, teardown),
		cmocka_unit_test_setup_teardown(test_event_records_a_golden_format_1_journal_is_read_and_extended, setup, teardown),
		cmocka_unit_test_setup_teardown(test_event_records_above_the_size_cap_are_refused_and_nothing_is_written, setup, teardown),
		cmocka_unit_test_setup_teardown(test_event_records_options_of_version_1_are_accepted_with_defaults, setup, teardown),
		cmocka_unit_test_setup_teardown(test_event_records_invalid_bodies_are_refused_and_nothing_is_written, setup, teardown),
		cmocka_unit_test_setup_teardown(test_event_records_valid_bodies_of_every_kind_are_accepted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_event_records_name_their_tag_from_the_body_when_none_is_given, setup, teardown),
		cmocka_unit_test_setup_teardown(test_event_records_are_no_scalars_to_read_journal_and_stat, setup, teardown),
		cmocka_unit_test_setup_teardown(test_event_records_are_exported_in_commit_order_among_scalars, setup, teardown),
		cmocka_unit_test_setup_teardown(test_event_records_cut_back_tail_is_rewritten_byte_for_byte, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
