/* test_step_records.c -- step records (journal format 3): the scalars of
 * one tbw_add_scalars() call stored as one LMDB entry and read back as
 * records at their own sequence numbers, whole or in pieces, through read,
 * prune, insert, counts, reopen, damage and the raw salvage scan
 * (doc/journal-format.md, "records value of a step record"); and run
 * records (format 4), the same for a restore's consecutive records, each
 * with its own wall time and step ("records value of a run record"). */
#include "config.h"
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>
#include "test_util.h"
#include "compactor_util.h"
#include "base/bytes.h"
#include "base/error.h"
#include "journal/jrecord.h"
#include "journal/journal.h"
#include "format/event.h"
#include "tbwal.h"
#include "../third_party/lmdb/lmdb.h"

static char tmpdir[256];
static char jdir[300];

static int setup(void **state)
{
	(void)state;
	if (tbw_test_mkdtemp(tmpdir, sizeof tmpdir, "test_step_records") != 0)
		return -1;
	snprintf(jdir, sizeof jdir, "%s/j", tmpdir);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	return tbw_test_rmtree(tmpdir);
}

static tbw_journal *open_rw(void)
{
	tbw_jopen cfg = TBW_JOPEN_INIT;
	tbw_journal *j = NULL;
	cfg.create = 1;
	int rc = tbw__journal_open(&j, jdir, &cfg);
	if (rc)
		fprintf(stderr, "open: %s\n", tbw_errmsg());
	assert_int_equal(rc, TBW_OK);
	return j;
}

/* What the test logged, by sequence number (from 1). */
#define MAXREC 2000
typedef struct expect {
	int64_t step[MAXREC + 1];
	double value[MAXREC + 1];
	char tag[MAXREC + 1][8];
	uint64_t n;      /* records logged */
	uint64_t entries;   /* LMDB entries they should take */
} expect;

static const char *const names[] = { "a", "b", "c", "d", "e", "f", "g", "h" };

/* One step of n scalars (tags round robin over 8 names, from `first`). */
static void log_step(tbw_journal *j, expect *x, size_t n, int64_t step, size_t first)
{
	const char *tags[400];
	size_t lens[400];
	double vals[400];
	uint64_t seq = 0;

	assert_true(n <= 400);
	for (size_t i = 0; i < n; i++) {
		tags[i] = names[(first + i) % 8];
		lens[i] = 1;
		vals[i] = (double)step * 1000 + (double)i + 0.25;
	}
	assert_int_equal(tbw__journal_append_many(j, n, tags, lens, vals, step, 100.0 + (double)step, &seq), TBW_OK);
	assert_int_equal(seq, x->n + 1);
	for (size_t i = 0; i < n; i++) {
		x->n++;
		x->step[x->n] = step;
		x->value[x->n] = vals[i];
		snprintf(x->tag[x->n], 8, "%s", tags[i]);
	}
	/* the entries a call takes: ceil(n / 128), a lone last scalar included */
	x->entries += n == 0 ? 0 : (n + TBW_JSTEP_MAX - 1) / TBW_JSTEP_MAX;
}

static void log_one(tbw_journal *j, expect *x, int64_t step)
{
	uint64_t seq = 0;
	assert_int_equal(tbw__journal_append(j, "h", 1, -1.5 * (double)step, step, 100.0 + (double)step, &seq), TBW_OK);
	assert_int_equal(seq, x->n + 1);
	x->n++;
	x->step[x->n] = step;
	x->value[x->n] = -1.5 * (double)step;
	snprintf(x->tag[x->n], 8, "h");
	x->entries++;
}

static void check_rec(tbw_journal *j, const expect *x, const tbw_jrec *r)
{
	const char *nm;
	size_t len;

	assert_true(r->seq >= 1 && r->seq <= x->n);
	assert_int_equal(r->step, x->step[r->seq]);
	assert_true(r->value == x->value[r->seq]);
	assert_true(r->wall_time == 100.0 + (double)x->step[r->seq]);
	assert_int_equal(r->body_len, 0);
	assert_int_equal(tbw__journal_tag_name(j, r->tag_id, &nm, &len), TBW_OK);
	assert_int_equal(len, strlen(x->tag[r->seq]));
	assert_memory_equal(nm, x->tag[r->seq], len);
}

/* Read everything after `after` in reads of cap records: each record once,
 * in order, equal to what was logged. Returns the records read. */
static uint64_t read_all(tbw_journal *j, const expect *x, uint64_t after, size_t cap)
{
	tbw_jrec buf[64];
	tbw_jread inf;
	uint64_t want = after + 1, got = 0;

	for (;;) {
		assert_int_equal(tbw__journal_read(j, after, buf, cap, &inf), TBW_OK);
		assert_int_equal(inf.ncorrupt, 0);
		for (size_t i = 0; i < inf.n; i++) {
			assert_int_equal(buf[i].seq, want);
			check_rec(j, x, &buf[i]);
			want++;
			got++;
		}
		assert_true(inf.n <= cap);
		if (inf.end)
			break;
		assert_true(inf.n > 0);
		after = inf.next_after;
	}
	assert_int_equal(want, x->n + 1);
	return got;
}

/* Entries in `records`, straight from LMDB (the journal closed). */
static uint64_t lmdb_entries(void)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_stat st;

	assert_int_equal(mdb_env_create(&env), 0);
	assert_int_equal(mdb_env_set_maxdbs(env, 16), 0);
	assert_int_equal(mdb_env_open(env, jdir, MDB_RDONLY, 0644), 0);
	assert_int_equal(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn), 0);
	assert_int_equal(mdb_dbi_open(txn, "records", 0, &dbi), 0);
	assert_int_equal(mdb_stat(txn, dbi, &st), 0);
	mdb_txn_abort(txn);
	mdb_env_close(env);
	return st.ms_entries;
}

/* Flip one bit of the value stored under key seq (its CRC then fails). */
static void damage_entry(uint64_t seq, size_t at)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_val k, v, nv;
	uint8_t kb[8], buf[4096];

	tbw__put_be64(kb, seq);
	k.mv_data = kb;
	k.mv_size = 8;
	assert_int_equal(mdb_env_create(&env), 0);
	assert_int_equal(mdb_env_set_maxdbs(env, 16), 0);
	assert_int_equal(mdb_env_open(env, jdir, 0, 0644), 0);
	assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
	assert_int_equal(mdb_dbi_open(txn, "records", 0, &dbi), 0);
	assert_int_equal(mdb_get(txn, dbi, &k, &v), 0);
	assert_true(v.mv_size <= sizeof buf && at < v.mv_size);
	memcpy(buf, v.mv_data, v.mv_size);
	buf[at] ^= 0x10;
	nv.mv_data = buf;
	nv.mv_size = v.mv_size;
	assert_int_equal(mdb_put(txn, dbi, &k, &nv, 0), 0);
	assert_int_equal(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
}

/* Steps of 8 take one entry each; steps of 300 take 128 + 128 + 44, of
 * 129 take 128 + a scalar record; reads of any size, from any sequence
 * number (inside a step record too), return each record once, in order;
 * counts, last seq and the format agree; a reopened journal goes on at
 * the next sequence number. */
static void test_step_records_one_entry_per_step_read_whole_and_from_anywhere(void **state)
{
	static expect x;
	tbw_journal *j = open_rw();
	tbw_jinfo info;
	uint64_t v;
	(void)state;

	memset(&x, 0, sizeof x);
	for (int64_t s = 1; s <= 40; s++)
		log_step(j, &x, 8, s, (size_t)s);
	log_one(j, &x, 41);
	log_step(j, &x, 300, 42, 0);
	log_step(j, &x, 129, 43, 3);
	log_step(j, &x, 2, 44, 5);
	log_one(j, &x, 45);
	assert_int_equal(x.n, 320 + 1 + 300 + 129 + 2 + 1);
	assert_int_equal(tbw__journal_info(j, &info), TBW_OK);
	assert_int_equal(info.format, TBW_JOURNAL_FORMAT_STEPS);
	assert_int_equal(tbw__journal_count(j, &v), TBW_OK);
	assert_int_equal(v, x.n);
	assert_int_equal(tbw__journal_last_seq(j, &v), TBW_OK);
	assert_int_equal(v, x.n);
	assert_int_equal(tbw__journal_first_seq(j, &v), TBW_OK);
	assert_int_equal(v, 1);
	assert_int_equal(read_all(j, &x, 0, 64), x.n);
	for (size_t cap = 1; cap <= 13; cap++)
		assert_int_equal(read_all(j, &x, 0, cap), x.n);
	for (uint64_t after = 0; after <= x.n; after++) {
		tbw_jrec r[3];
		tbw_jread inf;
		assert_int_equal(tbw__journal_read(j, after, r, 3, &inf), TBW_OK);
		assert_int_equal(inf.n, after + 3 <= x.n ? 3 : x.n - after);
		for (size_t i = 0; i < inf.n; i++) {
			assert_int_equal(r[i].seq, after + 1 + i);
			check_rec(j, &x, &r[i]);
		}
		assert_int_equal(inf.end, after + 3 >= x.n);
	}
	tbw__journal_close(j);
	assert_int_equal(lmdb_entries(), x.entries);

	j = open_rw();   /* the next sequence number comes from the last step record */
	log_step(j, &x, 8, 46, 0);
	log_one(j, &x, 47);
	assert_int_equal(read_all(j, &x, 0, 50), x.n);
	tbw__journal_close(j);
}

/* Prune deletes an entry only when all of its records are <= the limit:
 * a step record reaching past the export cursor stays whole, and goes with
 * the next prune that covers it. */
static void test_step_records_prune_keeps_a_step_reaching_past_the_limit(void **state)
{
	static expect x;
	tbw_journal *j = open_rw();
	tbw_jexport c;
	uint64_t n, v;
	(void)state;

	memset(&x, 0, sizeof x);
	for (int64_t s = 1; s <= 3; s++)
		log_step(j, &x, 8, s, 0);     /* seq 1-8, 9-16, 17-24 */
	memset(&c, 0, sizeof c);
	c.seq = 12;
	assert_int_equal(tbw__journal_set_export(j, &c), TBW_OK);
	assert_int_equal(tbw__journal_prune(j, UINT64_MAX, 0, &n), TBW_OK);
	assert_int_equal(n, 8);
	assert_int_equal(tbw__journal_first_seq(j, &v), TBW_OK);
	assert_int_equal(v, 9);
	assert_int_equal(tbw__journal_count(j, &v), TBW_OK);
	assert_int_equal(v, 16);
	assert_int_equal(read_all(j, &x, 12, 5), 12);
	c.seq = 24;
	assert_int_equal(tbw__journal_set_export(j, &c), TBW_OK);
	assert_int_equal(tbw__journal_prune(j, 20, 1, &n), TBW_OK);   /* through 20: 9-16 only */
	assert_int_equal(n, 8);
	assert_int_equal(tbw__journal_first_seq(j, &v), TBW_OK);
	assert_int_equal(v, 17);
	assert_int_equal(tbw__journal_prune(j, UINT64_MAX, 0, &n), TBW_OK);   /* the rest at once */
	assert_int_equal(n, 8);
	assert_int_equal(tbw__journal_count(j, &v), TBW_OK);
	assert_int_equal(v, 0);
	assert_int_equal(tbw__journal_last_seq(j, &v), TBW_OK);   /* pruned_through */
	assert_int_equal(v, 24);
	log_step(j, &x, 4, 4, 0);
	assert_int_equal(read_all(j, &x, 24, 2), 4);
	tbw__journal_close(j);
}

/* A restore inserting records a step record already holds keeps them
 * (deduplication inside the step record), inserts what is missing, and
 * appends after the step record's last sequence number. */
static void test_step_records_insert_dedups_inside_a_step(void **state)
{
	static expect x;
	tbw_journal *j = open_rw();
	tbw_jrec_named recs[10];
	size_t ins;
	(void)state;

	memset(&x, 0, sizeof x);
	log_step(j, &x, 8, 1, 0);    /* 1-8 */
	for (int i = 0; i < 10; i++) {
		uint64_t s = (uint64_t)i + 3;    /* 3-12 */
		recs[i].seq = s;
		recs[i].wall_time = 100.0 + 2;
		recs[i].step = 2;
		recs[i].value = s <= 8 ? 999.0 : (double)s;   /* 3-8: other values, must not win */
		recs[i].tag = "z";
		recs[i].tag_len = 1;
		recs[i].body = NULL;
		recs[i].body_len = 0;
		if (s > 8) {
			x.n = s;
			x.step[s] = 2;
			x.value[s] = (double)s;
			snprintf(x.tag[s], 8, "z");
		}
	}
	assert_int_equal(tbw__journal_insert(j, recs, 10, &ins), TBW_OK);
	assert_int_equal(ins, 4);
	assert_int_equal(read_all(j, &x, 0, 3), 12);
	log_step(j, &x, 3, 5, 0);     /* after the inserted ones: 13-15 */
	assert_int_equal(read_all(j, &x, 0, 64), 15);
	tbw__journal_close(j);
}

/* What a salvage delivered, checked against what was logged. */
typedef struct seen_ctx {
	const expect *x;
	uint64_t seen[64];
	size_t n;
} seen_ctx;

static int seen_cb(void *vc, const tbw_jrec_named *r)
{
	seen_ctx *sc = vc;
	if (r->seq <= sc->x->n && r->seq != 22) {
		assert_int_equal(r->step, sc->x->step[r->seq]);
		assert_true(r->value == sc->x->value[r->seq]);
		assert_int_equal(r->tag_len, 1);
		assert_memory_equal(r->tag, sc->x->tag[r->seq], 1);
	}
	if (sc->n < 64)
		sc->seen[sc->n++] = r->seq;
	return 0;
}

/* A damaged step record: reads skip all of its records and count them,
 * the rest reads on; a reopened journal never hands out its sequence
 * numbers again; a restore of some of its records replaces it; the raw
 * salvage scan reads every intact step record's records. */
static void test_step_records_damaged_step_skipped_counted_and_replaced(void **state)
{
	static expect x;
	tbw_journal *j = open_rw();
	tbw_jrec buf[64];
	tbw_jread inf;
	tbw_jrec_named rec;
	size_t ins;
	(void)state;

	memset(&x, 0, sizeof x);
	log_step(j, &x, 8, 1, 0);     /* 1-8 */
	log_step(j, &x, 8, 2, 0);     /* 9-16 */
	log_step(j, &x, 5, 3, 0);     /* 17-21 */
	tbw__journal_close(j);
	damage_entry(9, TBW_JSTEP_HDR + 12 * 3 + 5);     /* a value inside 9-16 */
	damage_entry(17, TBW_JSTEP_HDR + 2);             /* the last entry: 17-21 */

	j = open_rw();
	assert_int_equal(tbw__journal_read(j, 0, buf, 64, &inf), TBW_OK);
	assert_int_equal(inf.n, 8);
	assert_int_equal(inf.ncorrupt, 8 + 5);
	assert_int_equal(inf.first_corrupt_seq, 9);
	assert_int_equal(inf.next_after, 21);
	for (size_t i = 0; i < 8; i++)
		check_rec(j, &x, &buf[i]);
	assert_int_equal(tbw__journal_read(j, 11, buf, 64, &inf), TBW_OK);   /* from inside it */
	assert_int_equal(inf.n, 0);
	assert_int_equal(inf.ncorrupt, 8 + 5);
	{
		uint64_t seq = 0;   /* 17-21 are taken by the damaged entry */
		assert_int_equal(tbw__journal_append(j, "a", 1, 7.0, 4, 104.0, &seq), TBW_OK);
		assert_int_equal(seq, 22);
	}
	/* a restore brings back 12 alone: the damaged entry keyed 9 goes */
	memset(&rec, 0, sizeof rec);
	rec.seq = 12;
	rec.wall_time = 102.0;
	rec.step = 2;
	rec.value = x.value[12];
	rec.tag = x.tag[12];
	rec.tag_len = 1;
	assert_int_equal(tbw__journal_insert(j, &rec, 1, &ins), TBW_OK);
	assert_int_equal(ins, 1);
	assert_int_equal(tbw__journal_read(j, 0, buf, 64, &inf), TBW_OK);
	assert_int_equal(inf.n, 10);          /* 1-8, 12, 22 */
	assert_int_equal(inf.ncorrupt, 5);    /* 17-21 still */
	assert_int_equal(buf[8].seq, 12);
	check_rec(j, &x, &buf[8]);
	assert_int_equal(buf[9].seq, 22);
	tbw__journal_close(j);

	/* the raw page scan (LMDB never called) decodes step records too */
	{
		seen_ctx sc;
		uint64_t nr = 0, nc = 0;
		tbw_jinfo raw;
		memset(&sc, 0, sizeof sc);
		sc.x = &x;
		assert_int_equal(tbw__journal_salvage_raw(jdir, seen_cb, &sc, &nr, &nc, &raw), TBW_OK);
		assert_int_equal(sc.n, 10);
		assert_int_equal(nr, 10);
		for (size_t i = 0; i < 8; i++)
			assert_int_equal(sc.seen[i], i + 1);
		assert_int_equal(sc.seen[8], 12);
		assert_int_equal(sc.seen[9], 22);
	}
}

/* ---- Run records ---- */

/* What a restore inserted, by sequence number (wall time and step differ
 * per record). */
#define RUNMAX 1200
typedef struct rexpect {
	tbw_jrec_named r[RUNMAX + 1];
	int present[RUNMAX + 1];
	uint64_t event_seq;   /* the one event record (its body_len in r[]) */
} rexpect;

static const char *const rnames[] = { "loss", "acc", "lr" };

static void rfill(rexpect *x, tbw_jrec_named *out, uint64_t seq, double salt)
{
	tbw_jrec_named *r = out;
	memset(r, 0, sizeof *r);
	r->seq = seq;
	r->wall_time = 1.7e9 + (double)seq * 0.003 + salt;
	r->step = (int64_t)(seq / 3) - 7;
	r->value = seq % 11 ? (double)seq / 7.0 + salt : -0.0;
	if (seq % 100 == 0) {
		r->tag = NULL;    /* a START marker */
	} else {
		r->tag = rnames[seq % 3];
		r->tag_len = strlen(r->tag);
	}
	if (x && !x->present[seq]) {
		x->r[seq] = *r;
		x->present[seq] = 1;
	}
}

static void rcheck(tbw_journal *j, const rexpect *x, const tbw_jrec *r)
{
	const tbw_jrec_named *w;
	const char *nm;
	size_t len;

	assert_true(r->seq >= 1 && r->seq <= RUNMAX && x->present[r->seq]);
	w = &x->r[r->seq];
	assert_int_equal(tbw__f64_bits(r->wall_time), tbw__f64_bits(w->wall_time));
	assert_int_equal(r->step, w->step);
	assert_int_equal(r->body_len, w->body_len);
	if (r->seq == x->event_seq)
		return;
	assert_int_equal(tbw__f64_bits(r->value), tbw__f64_bits(w->value));
	if (!w->tag) {
		assert_int_equal(r->tag_id, TBW_JTAG_SESSION_START);
		return;
	}
	assert_int_equal(tbw__journal_tag_name(j, r->tag_id, &nm, &len), TBW_OK);
	assert_int_equal(len, w->tag_len);
	assert_memory_equal(nm, w->tag, len);
}

/* Read everything after `after` in reads of cap records: each present
 * record once, in order, as inserted. Returns the records read. */
static uint64_t rread_all(tbw_journal *j, const rexpect *x, uint64_t after, size_t cap)
{
	tbw_jrec buf[64];
	tbw_jread inf;
	uint64_t got = 0, last = after;

	for (;;) {
		assert_int_equal(tbw__journal_read(j, after, buf, cap, &inf), TBW_OK);
		assert_int_equal(inf.ncorrupt, 0);
		for (size_t i = 0; i < inf.n; i++) {
			assert_true(buf[i].seq > last);
			for (uint64_t s = last + 1; s < buf[i].seq; s++)
				assert_false(s <= RUNMAX && x->present[s]);   /* none skipped */
			rcheck(j, x, &buf[i]);
			last = buf[i].seq;
			got++;
		}
		if (inf.end)
			break;
		assert_true(inf.n > 0);
		after = inf.next_after;
	}
	for (uint64_t s = last + 1; s <= RUNMAX; s++)
		assert_false(x->present[s]);
	return got;
}

/* A restore's batch of consecutive scalars goes in as run records of up
 * to 64 (an event record, a gap or the batch's end closes a run; a lone
 * record stays a scalar record): 1,000 records in 18 entries instead of
 * 1,000, the journal format 4; reads of any size from any sequence number
 * (inside a run too) return each record once with its own wall time and
 * step, before and after a reopen; counts and the next sequence agree. */
static void test_run_records_restore_packs_runs_read_whole_and_from_anywhere(void **state)
{
	static rexpect x;
	static tbw_jrec_named recs[RUNMAX];
	static const uint8_t body[] = { 0x2a, 0x03, 0x0a, 0x01, 0x78 };
	tbw_journal *j = open_rw();
	tbw_jinfo info;
	size_t n = 0, ins;
	uint64_t v, seq;
	(void)state;

	memset(&x, 0, sizeof x);
	/* 1-300, an event record at 301, 302-500, a gap at 501, 502-1001:
	 * runs 1-300 (4 of 64, one of 44), 302-500 (3 of 64, one of 7),
	 * 502-1001 (7 of 64, one of 52) and the event: 18 entries */
	for (uint64_t s = 1; s <= 1001; s++) {
		if (s == 501)
			continue;
		rfill(&x, &recs[n], s, 0.0);
		if (s == 301) {
			recs[n].body = body;
			recs[n].body_len = sizeof body;
			x.r[s] = recs[n];
			x.event_seq = s;
		}
		n++;
	}
	assert_int_equal(tbw__journal_insert(j, recs, n, &ins), TBW_OK);
	assert_int_equal(ins, n);
	assert_int_equal(tbw__journal_info(j, &info), TBW_OK);
	assert_int_equal(info.format, TBW_JOURNAL_FORMAT_RUNS);
	assert_int_equal(tbw__journal_count(j, &v), TBW_OK);
	assert_int_equal(v, n);
	{
		static const uint64_t from[] = { 0, 1, 37, 63, 64, 65, 299, 300, 301, 499, 500, 501, 990, 1001 };
		static const size_t caps[] = { 1, 7, 64 };
		for (size_t f = 0; f < sizeof from / sizeof from[0]; f++)
			for (size_t c = 0; c < 3; c++) {
				uint64_t want = 0;
				for (uint64_t s = from[f] + 1; s <= 1001; s++)
					want += x.present[s];
				assert_int_equal(rread_all(j, &x, from[f], caps[c]), want);
			}
	}
	assert_int_equal(tbw__journal_append(j, "acc", 3, 0.5, 9, 2e9, &seq), TBW_OK);
	assert_int_equal(seq, 1002);
	tbw__journal_close(j);
	assert_int_equal(lmdb_entries(), 18 + 1);

	j = open_rw();   /* from LMDB alone */
	memset(&x.r[1002], 0, sizeof x.r[1002]);
	x.r[1002].seq = 1002;
	x.r[1002].wall_time = 2e9;
	x.r[1002].step = 9;
	x.r[1002].value = 0.5;
	x.r[1002].tag = "acc";
	x.r[1002].tag_len = 3;
	x.present[1002] = 1;
	assert_int_equal(rread_all(j, &x, 0, 64), n + 1);
	assert_int_equal(rread_all(j, &x, 130, 5), n + 1 - 130);
	tbw__journal_close(j);
}

/* A restore inserting records that run records already hold keeps them
 * (other values must not win), inserts what is missing around them, and
 * prune keeps a run record that reaches past the limit whole. */
static void test_run_records_insert_dedups_and_prune_keeps_a_run_whole(void **state)
{
	static rexpect x;
	static tbw_jrec_named recs[RUNMAX];
	tbw_journal *j = open_rw();
	tbw_jexport c;
	size_t n = 0, ins;
	uint64_t v;
	(void)state;

	memset(&x, 0, sizeof x);
	for (uint64_t s = 101; s <= 300; s++)      /* 101-164, 165-228, 229-292, 293-300 */
		rfill(&x, &recs[n++], s, 0.0);
	assert_int_equal(tbw__journal_insert(j, recs, n, &ins), TBW_OK);
	assert_int_equal(ins, n);
	/* again, with other values, and 1-100 and 301-400 around them */
	n = 0;
	for (uint64_t s = 1; s <= 400; s++)
		rfill(&x, &recs[n++], s, 0.5);
	assert_int_equal(tbw__journal_insert(j, recs, n, &ins), TBW_OK);
	assert_int_equal(ins, 200);
	assert_int_equal(rread_all(j, &x, 0, 64), 400);
	assert_int_equal(rread_all(j, &x, 150, 3), 250);
	assert_int_equal(tbw__journal_count(j, &v), TBW_OK);
	assert_int_equal(v, 400);

	/* prune through 200: 101-164 goes, 165-228 reaches past it and stays */
	memset(&c, 0, sizeof c);
	c.seq = 200;
	assert_int_equal(tbw__journal_set_export(j, &c), TBW_OK);
	assert_int_equal(tbw__journal_prune(j, UINT64_MAX, 0, &v), TBW_OK);
	assert_int_equal(tbw__journal_first_seq(j, &v), TBW_OK);
	assert_int_equal(v, 165);
	for (uint64_t s = 1; s < 165; s++)
		x.present[s] = 0;
	assert_int_equal(rread_all(j, &x, 200, 7), 200);
	assert_int_equal(rread_all(j, &x, 0, 64), 236);
	tbw__journal_close(j);
}

/* Flip one bit of the value stored under key seq where it lies in
 * data.mdb (no LMDB commit, so no intact copy-on-write copy is left
 * behind): found by its key and the first record's wall time. */
static void damage_in_place(uint64_t seq, const tbw_jrec_named *first, size_t at)
{
	char path[400];
	uint8_t pat[16], *buf;
	FILE *f;
	long len;
	size_t hits = 0, where = 0;

	snprintf(path, sizeof path, "%s/data.mdb", jdir);
	tbw__put_be64(pat, seq);
	tbw__put_be64(pat + 8, tbw__f64_bits(first->wall_time));
	f = fopen(path, "r+b");
	assert_non_null(f);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	len = ftell(f);
	buf = malloc((size_t)len);
	assert_non_null(buf);
	rewind(f);
	assert_int_equal(fread(buf, 1, (size_t)len, f), (size_t)len);
	for (size_t i = 0; i + sizeof pat <= (size_t)len; i++)
		if (memcmp(buf + i, pat, sizeof pat) == 0) {
			hits++;
			where = i + 8;   /* the value starts after the key */
		}
	assert_int_equal(hits, 1);
	buf[where + at] ^= 0x10;
	assert_int_equal(fseek(f, (long)(where + at), SEEK_SET), 0);
	assert_int_equal(fwrite(buf + where + at, 1, 1, f), 1);
	assert_int_equal(fclose(f), 0);
	free(buf);
}

/* A damaged run record: reads skip all of its records and count them; a
 * restore bringing back one of them replaces it; the raw page scan (LMDB
 * never called) decodes the intact run records record by record. */
static void test_run_records_damaged_run_skipped_counted_replaced_and_salvaged(void **state)
{
	static rexpect x;
	static tbw_jrec_named recs[RUNMAX];
	tbw_journal *j = open_rw();
	tbw_jrec buf[64];
	tbw_jread inf;
	size_t n = 0, ins;
	(void)state;

	memset(&x, 0, sizeof x);
	for (uint64_t s = 1; s <= 150; s++)        /* 1-64, 65-128, 129-150 */
		rfill(&x, &recs[n++], s, 0.0);
	assert_int_equal(tbw__journal_insert(j, recs, n, &ins), TBW_OK);
	tbw__journal_close(j);
	damage_in_place(65, &x.r[65], TBW_JSTEP_HDR + TBW_JRUN_ENTRY * 10 + 14);   /* record 75's wall time */

	j = open_rw();
	assert_int_equal(tbw__journal_read(j, 60, buf, 64, &inf), TBW_OK);
	assert_int_equal(inf.n, 4 + 22);
	assert_int_equal(inf.ncorrupt, 64);
	assert_int_equal(inf.first_corrupt_seq, 65);
	assert_int_equal(buf[4].seq, 129);
	assert_int_equal(tbw__journal_read(j, 80, buf, 64, &inf), TBW_OK);   /* from inside it */
	assert_int_equal(inf.ncorrupt, 64);
	assert_int_equal(buf[0].seq, 129);
	for (uint64_t s = 65; s <= 128; s++)
		x.present[s] = 0;
	{
		seen_ctx sc;
		uint64_t nr = 0, nc = 0;
		tbw_jinfo raw;
		static expect none;
		memset(&sc, 0, sizeof sc);
		memset(&none, 0, sizeof none);
		sc.x = &none;   /* (seen_cb checks step records' values only up to x->n) */
		tbw__journal_close(j);
		assert_int_equal(tbw__journal_salvage_raw(jdir, seen_cb, &sc, &nr, &nc, &raw), TBW_OK);
		assert_int_equal(nr, 86);
		assert_true(nc >= 1);
		assert_int_equal(sc.n, 64);   /* the first 64 seen, in the scan's order */
		j = open_rw();
	}
	/* a restore brings back 70 alone: the damaged entry goes */
	rfill(NULL, &recs[0], 70, 0.0);
	assert_int_equal(tbw__journal_insert(j, recs, 1, &ins), TBW_OK);
	assert_int_equal(ins, 1);
	x.present[70] = 1;
	assert_int_equal(rread_all(j, &x, 0, 64), 64 + 1 + 22);
	tbw__journal_close(j);
}

/* The worked example of doc/journal-format.md for a run record, byte for
 * byte: a restore's first two records, seq 7 and 8 (the CRC computed
 * independently, with Python's crc32c package). */
static void test_run_records_golden_vector(void **state)
{
	static const uint8_t want[] = {
		0x41, 0xd9, 0x54, 0xfc, 0x40, 0x20, 0x00, 0x00,   /* wall_time of seq 7: 1700000000.5 */
		0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x2a,   /* step of seq 7: 42 */
		0x00, 0x00, 0x00, 0x02,                           /* n = 2 */
		0x00, 0x00, 0x00, 0x03,                           /* kind 3: run record */
		0x00, 0x00, 0x00, 0x00,                           /* seq 7: tag_id 0 */
		0x3f, 0xe0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,   /* value 0.5 */
		0x41, 0xd9, 0x54, 0xfc, 0x40, 0x20, 0x00, 0x00,   /* wall_time 1700000000.5 */
		0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x2a,   /* step 42 */
		0x00, 0x00, 0x00, 0x01,                           /* seq 8: tag_id 1 */
		0xc0, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,   /* value -2.5 */
		0x41, 0xd9, 0x54, 0xfc, 0x40, 0x60, 0x00, 0x00,   /* wall_time 1700000001.5 */
		0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x2b,   /* step 43 */
		0x0b, 0x4b, 0x54, 0x0b,                           /* masked CRC-32C of key || the 80 bytes before */
	};
	uint8_t key[8], val[TBW_JRUN_SIZE(2)];
	const uint32_t ids[] = { 0, 1 };
	const double values[] = { 0.5, -2.5 }, walls[] = { 1700000000.5, 1700000001.5 };
	const int64_t steps[] = { 42, 43 };
	tbw_jrec first, r;
	uint32_t cnt;
	(void)state;

	assert_int_equal(sizeof want, TBW_JRUN_SIZE(2));
	tbw__put_be64(key, 7);
	tbw__jrun_encode(key, val, 2, ids, values, walls, steps);
	assert_memory_equal(val, want, sizeof want);
	assert_int_equal(tbw__jrec_decode_entry(key, 8, val, sizeof val, &first, &cnt), 0);
	assert_int_equal(cnt, 2);
	assert_int_equal(first.seq, 7);
	assert_true(first.wall_time == 1700000000.5 && first.step == 42 && first.value == 0.5);
	tbw__jrec_nth(val, &first, 1, &r);
	assert_int_equal(r.seq, 8);
	assert_int_equal(r.tag_id, 1);
	assert_true(r.wall_time == 1700000001.5 && r.step == 43 && r.value == -2.5);
	assert_int_equal(tbw__jrec_claimed(val, sizeof val), 2);
	val[60] ^= 1;   /* seq 8's wall time */
	assert_int_equal(tbw__jrec_decode_entry(key, 8, val, sizeof val, &first, &cnt), -1);
	assert_int_equal(cnt, 2);
}

/* The worked example of doc/journal-format.md, byte for byte: two scalars
 * logged by one tbw_add_scalars() call as the journal's first records. */
static void test_step_records_golden_vector(void **state)
{
	static const uint8_t want[] = {
		0x41, 0xd9, 0x54, 0xfc, 0x40, 0x20, 0x00, 0x00,   /* wall_time 1700000000.5 */
		0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x2a,   /* step 42 */
		0x00, 0x00, 0x00, 0x02,                           /* n 2 */
		0x00, 0x00, 0x00, 0x02,                           /* kind 2 */
		0x00, 0x00, 0x00, 0x00,                           /* tag id 0 */
		0x3f, 0xd0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,   /* 0.25 */
		0x00, 0x00, 0x00, 0x01,                           /* tag id 1 */
		0xc0, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,   /* -2.5 */
		0x81, 0x56, 0x50, 0xdd,                           /* masked crc32c(key || the 48 bytes before) */
	};
	uint8_t key[8], val[TBW_JSTEP_SIZE(2)];
	uint32_t ids[2] = { 0, 1 };
	double vals[2] = { 0.25, -2.5 };
	tbw_jrec first, r;
	uint32_t cnt;
	(void)state;

	assert_int_equal(sizeof want, TBW_JSTEP_SIZE(2));
	tbw__put_be64(key, 1);
	tbw__jstep_encode(key, val, 1700000000.5, 42, 2, ids, vals);
	assert_memory_equal(val, want, sizeof want);
	assert_int_equal(tbw__jrec_decode_entry(key, 8, val, sizeof val, &first, &cnt), 0);
	assert_int_equal(cnt, 2);
	tbw__jrec_nth(val, &first, 1, &r);
	assert_int_equal(r.seq, 2);
	assert_int_equal(r.tag_id, 1);
	assert_true(r.value == -2.5);
	assert_int_equal(r.step, 42);
	assert_int_equal(tbw__jrec_decode(key, 8, val, sizeof val, &r), -1);   /* not one record */
	val[sizeof val - 1] ^= 1;
	assert_int_equal(tbw__jrec_decode_entry(key, 8, val, sizeof val, &first, &cnt), -1);
	assert_int_equal(cnt, 2);     /* what it claims, damaged or not */
}

#define E2E_STEPS 700
#define E2E_N 7

/* The event files of logdir hold exactly the scalars the run logged:
 * each once, in the order logged (steps of 7 through step records, a
 * scalar alone every third step, so the compactor's reads of 4096 end
 * inside step records). */
static void check_event_files(const char *logdir)
{
	cu_scan sc;
	size_t k = 0;

	assert_int_equal(cu_scan_logdir(logdir, &sc), 0);
	assert_int_equal(sc.corrupt, 0);
	assert_int_equal(sc.torn, 0);
	for (int64_t s = 0; s < E2E_STEPS; s++) {
		for (int i = 0; i <= E2E_N; i++) {
			char tag[8];
			if (i == E2E_N && s % 3)
				continue;
			snprintf(tag, sizeof tag, i == E2E_N ? "one" : "s%d", i);
			while (k < sc.n && sc.ev[k].kind != TBW_EVENT_SCALAR)
				k++;
			assert_true(k < sc.n);
			assert_string_equal(sc.ev[k].tag, tag);
			assert_int_equal(sc.ev[k].step, s);
			assert_true(sc.ev[k].value == (float)((double)s + 0.125 * i));
			k++;
		}
	}
	while (k < sc.n && sc.ev[k].kind != TBW_EVENT_SCALAR)
		k++;
	assert_int_equal(k, sc.n);    /* nothing more, nothing twice */
	cu_scan_free(&sc);
}

/* Through the public API: a writer logging steps with tbw_add_scalars
 * exports and ships them; the event files hold every scalar once, in
 * order; a lost machine (logdir and journal gone) recovered from the sync
 * folder gives the same event files' records. */
static void test_step_records_export_ship_and_recover_each_scalar_once(void **state)
{
	char logdir[400], sd[400], rd[800];
	tbw_options o = TBW_OPTIONS_INIT;
	tbw_writer *w = NULL;
	const char *tags[E2E_N] = { "s0", "s1", "s2", "s3", "s4", "s5", "s6" };
	(void)state;

	snprintf(logdir, sizeof logdir, "%s/run", tmpdir);
	snprintf(sd, sizeof sd, "%s/sync", tmpdir);
	assert_int_equal(mkdir(sd, 0755), 0);
	o.sync_dir = sd;
	assert_int_equal(tbw_open(&w, logdir, &o), TBW_OK);
	for (int64_t s = 0; s < E2E_STEPS; s++) {
		double v[E2E_N];
		for (int i = 0; i < E2E_N; i++)
			v[i] = (double)s + 0.125 * i;
		assert_int_equal(tbw_add_scalars(w, E2E_N, tags, v, s, 1000.0 + (double)s), TBW_OK);
		if (s % 3 == 0)
			assert_int_equal(tbw_add_scalar(w, "one", (double)s + 0.125 * E2E_N, s, 1000.0 + (double)s), TBW_OK);
	}
	assert_int_equal(tbw_close(w), TBW_OK);
	check_event_files(logdir);

	/* the machine is lost: recover from the sync folder alone */
	assert_int_equal(tbw_test_rmtree(logdir), 0);
	tbw_test_run_dir_of(sd, rd, sizeof rd);
	{
		tbw_recover_options ro = TBW_RECOVER_OPTIONS_INIT;
		tbw_recovery *rep = NULL;
		const char *from[1] = { rd };
		ro.from = from;
		ro.nfrom = 1;
		assert_int_equal(tbw_recover(&rep, logdir, &ro), TBW_OK);
		assert_int_equal(tbw_recovery_get_info(rep)->outcome, TBW_RECOVERED);
		assert_int_equal(tbw_recovery_get_info(rep)->lost, 0);
		assert_int_equal(tbw_recovery_get_info(rep)->total_scalars,
		                 (uint64_t)E2E_STEPS * E2E_N + (E2E_STEPS + 2) / 3);
		tbw_recovery_free(rep);
	}
	check_event_files(logdir);
}

/* Another process writes the first step record (format 3) into a journal
 * this process opened as format 1: an event record appended here
 * afterwards must not lower the format to 2 (a format-2 build would then
 * read the step records as damage). */
static void test_step_records_format_never_lowered_by_a_process_that_saw_an_older_one(void **state)
{
	tbw_journal *j = open_rw();
	tbw_jinfo info;
	uint64_t seq;
	pid_t pid;
	int st;
	(void)state;

	assert_int_equal(tbw__journal_append(j, "a", 1, 1.0, 1, 1.0, &seq), TBW_OK);
	assert_int_equal(tbw__journal_info(j, &info), TBW_OK);
	assert_int_equal(info.format, TBW_JOURNAL_FORMAT_SCALARS);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* a handle must not cross fork(): the child opens its own */
		tbw_jopen cfg = TBW_JOPEN_INIT;
		tbw_journal *cj = NULL;
		const char *tags[2] = { "a", "b" };
		size_t lens[2] = { 1, 1 };
		double v[2] = { 2.0, 3.0 };
		if (tbw__journal_open(&cj, jdir, &cfg) != TBW_OK ||
		    tbw__journal_append_many(cj, 2, tags, lens, v, 2, 2.0, NULL) != TBW_OK)
			_exit(1);
		tbw__journal_close(cj);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	assert_int_equal(tbw__journal_append_event(j, "e", 1, 3, 3.0, "\x08\x01", 2, &seq), TBW_OK);
	assert_int_equal(seq, 4);
	assert_int_equal(tbw__journal_info(j, &info), TBW_OK);
	assert_int_equal(info.format, TBW_JOURNAL_FORMAT_STEPS);
	tbw__journal_close(j);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_step_records_one_entry_per_step_read_whole_and_from_anywhere, setup, teardown),
		cmocka_unit_test_setup_teardown(test_step_records_prune_keeps_a_step_reaching_past_the_limit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_step_records_insert_dedups_inside_a_step, setup, teardown),
		cmocka_unit_test_setup_teardown(test_step_records_damaged_step_skipped_counted_and_replaced, setup, teardown),
		cmocka_unit_test_setup_teardown(test_step_records_export_ship_and_recover_each_scalar_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_step_records_format_never_lowered_by_a_process_that_saw_an_older_one, setup, teardown),
		cmocka_unit_test(test_step_records_golden_vector),
		cmocka_unit_test_setup_teardown(test_run_records_restore_packs_runs_read_whole_and_from_anywhere, setup, teardown),
		cmocka_unit_test_setup_teardown(test_run_records_insert_dedups_and_prune_keeps_a_run_whole, setup, teardown),
		cmocka_unit_test_setup_teardown(test_run_records_damaged_run_skipped_counted_replaced_and_salvaged, setup, teardown),
		cmocka_unit_test(test_run_records_golden_vector),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
