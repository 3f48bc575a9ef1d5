/* test_syncer.c -- shipping the journal as segments: incremental passes,
 * cursor order, the merge bound over a simulated 24-hour run, merge before
 * unlink, restore (round trip, dedup of overlaps) and a hostile folder. */
#include "config.h"
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>
#include "test_util.h"
#include "base/alloc.h"
#include "base/error.h"
#include "base/os.h"
#include "sync_testutil.h"

static char base[256], jdir[300], sdir[300];

static int setup(void **state)
{
	(void)state;
	/* tmpfs when there is one: the 24-hour simulation fsyncs ~50000 times. */
	if (tbw_test_mkdtemp_shm(base, sizeof base, "test_syncer") != 0)
		return -1;
	snprintf(jdir, sizeof jdir, "%s/journal", base);
	snprintf(sdir, sizeof sdir, "%s/drive", base);
	return mkdir(sdir, 0777);
}

static int teardown(void **state)
{
	(void)state;
	tbw__os_fault_clear();
	tbw__os_fault_hook(NULL);
	if (tbw_test_rmtree(base) != 0)
		fprintf(stderr, "cannot remove %s\n", base);
	return 0;
}

static tbw_syncer *open_syncer(tbw_journal *j, const char *name)
{
	tbw_syncer *s = NULL;
	int rc = tbw__syncer_open(&s, j, sdir, name, 0);
	if (rc)
		fprintf(stderr, "syncer open: %s\n", tbw_errmsg());
	assert_int_equal(rc, TBW_OK);
	return s;
}

static uint64_t ship_cursor(tbw_journal *j)
{
	uint64_t seq = 0;
	int present = 0;
	assert_int_equal(tbw__journal_get_ship(j, &seq, &present), TBW_OK);
	assert_true(present);
	return seq;
}

/* Dry-scan restore with the checking callbacks. */
static void scan(const char *run_dir, uint64_t max, tu_check *c, tbw_sync_report *rep)
{
	tbw_sync_restore_opts o = TBW_SYNC_RESTORE_OPTS_INIT;
	memset(c, 0, sizeof *c);
	c->max = max;
	c->seen = calloc(max / 8 + 1, 1);
	o.on_record = tu_on_record;
	o.on_damage = tu_on_damage;
	o.ctx = c;
	assert_int_equal(tbw__sync_restore(run_dir, NULL, &o, rep), TBW_OK);
}

static void test_syncer_passes_ship_only_new_records(void **state)
{
	tbw_journal *j = tu_open_journal(jdir, 1);
	tbw_syncer *s;
	uint64_t n = 0;
	tu_check c;
	tbw_sync_report rep;
	(void)state;
	assert_non_null(j);
	s = open_syncer(j, NULL);
	assert_int_equal(ship_cursor(j), 0);
	/* run folder: <logdir basename>-<run id hex> */
	assert_non_null(strstr(tbw__syncer_run_dir(s), "/my-run-"));
	assert_int_equal(tu_fill(j, 100), 0);
	assert_int_equal(tbw__syncer_pass(s, &n), TBW_OK);
	assert_int_equal(n, 100);
	assert_int_equal(ship_cursor(j), 100);
	assert_int_equal(tu_count_segments(tbw__syncer_run_dir(s), NULL), 1);
	assert_int_equal(tbw__syncer_pass(s, &n), TBW_OK);
	assert_int_equal(n, 0);
	assert_int_equal(tu_count_segments(tbw__syncer_run_dir(s), NULL), 1);
	assert_int_equal(tu_fill(j, 150), 0);
	assert_int_equal(tbw__syncer_pass(s, &n), TBW_OK);
	assert_int_equal(n, 50);
	assert_int_equal(ship_cursor(j), 150);
	assert_int_equal(tu_count_segments(tbw__syncer_run_dir(s), NULL), 2);

	scan(tbw__syncer_run_dir(s), 200, &c, &rep);
	assert_int_equal(rep.segments_ok, 2);
	assert_int_equal(rep.segments_bad, 0);
	assert_int_equal(rep.records, 150);
	assert_int_equal(rep.duplicates, 0);
	assert_int_equal(rep.first_seq, 1);
	assert_int_equal(rep.last_seq, 150);
	assert_int_equal(rep.missing, 0);
	assert_int_equal(c.bad, 0);
	assert_int_equal(tu_prefix(&c), 150);
	assert_int_equal(rep.ntags, TU_NTAGS);
	/* newest step per tag: seq 150 is "accuracy" (index 1), step 37 */
	for (size_t i = 0; i < rep.ntags; i++) {
		if (strcmp(rep.tags[i].tag, "accuracy") == 0) {
			assert_int_equal(rep.tags[i].seq, 150);
			assert_int_equal(rep.tags[i].step, 37);
		}
		if (strcmp(rep.tags[i].tag, "loss") == 0)
			assert_int_equal(rep.tags[i].seq, 149);
	}
	{
		double v, w;
		int64_t st;
		const char *tg;
		tu_expected(150, &tg, &v, &st, &w);
		assert_memory_equal(&rep.newest_wall_time, &w, 8);
	}
	tbw__sync_report_free(&rep);
	free(c.seen);
	tbw__syncer_close(s);
	tbw__journal_close(j);
}

/* Hook: at each rename in the folder, the ship cursor must not yet cover
 * what is being renamed into place. */
static tbw_journal *hook_j;
static uint64_t hook_cursor_at_rename = UINT64_MAX;
static void rename_hook(tbw_os_call call, unsigned long n)
{
	(void)n;
	if (call == TBW_OS_RENAME) {
		uint64_t seq = 0;
		int present = 0;
		tbw__journal_get_ship(hook_j, &seq, &present);
		hook_cursor_at_rename = seq;
	}
}

static void test_syncer_cursor_advances_only_after_rename(void **state)
{
	tbw_journal *j = tu_open_journal(jdir, 1);
	tbw_syncer *s;
	uint64_t n = 0;
	int others = 0;
	(void)state;
	s = open_syncer(j, "cur");
	assert_int_equal(tu_fill(j, 40), 0);
	/* A failing rename: nothing in place, cursor unchanged, no temp left. */
	tbw__os_fault_arm(1u << TBW_OS_RENAME, 1, 0, EIO);
	assert_int_equal(tbw__syncer_pass(s, &n), TBW_EIO);
	tbw__os_fault_clear();
	assert_int_equal(ship_cursor(j), 0);
	assert_int_equal(tu_count_segments(tbw__syncer_run_dir(s), &others), 0);
	assert_int_equal(others, 1); /* run.json only */
	/* A failing fsync of the segment: same. */
	tbw__os_fault_arm(1u << TBW_OS_FSYNC, 1, 0, EIO);
	assert_int_equal(tbw__syncer_pass(s, &n), TBW_EIO);
	tbw__os_fault_clear();
	assert_int_equal(ship_cursor(j), 0);
	assert_int_equal(tu_count_segments(tbw__syncer_run_dir(s), &others), 0);
	assert_int_equal(others, 1);
	/* Then it works, and at the rename the cursor was still 0. */
	hook_j = j;
	tbw__os_fault_arm(1u << TBW_OS_RENAME, (unsigned long)-1, 0, EIO);
	tbw__os_fault_hook(rename_hook);
	assert_int_equal(tbw__syncer_pass(s, &n), TBW_OK);
	tbw__os_fault_hook(NULL);
	tbw__os_fault_clear();
	assert_int_equal(hook_cursor_at_rename, 0);
	assert_int_equal(n, 40);
	assert_int_equal(ship_cursor(j), 40);
	assert_int_equal(tu_count_segments(tbw__syncer_run_dir(s), NULL), 1);
	tbw__syncer_close(s);
	tbw__journal_close(j);
}

/* Hook: at every unlink in the folder during merges, a segment of a higher
 * level covering the file being removed must already be in place. */
static const char *hook_dir;
static int hook_unlinks, hook_violations;
static void unlink_hook(tbw_os_call call, unsigned long n)
{
	(void)n;
	if (call != TBW_OS_UNLINK)
		return;
	hook_unlinks++;
	/* The folder at this moment: the highest-level segment must cover
	 * everything any lower one covers. */
	DIR *d = opendir(hook_dir);
	struct dirent *de;
	uint64_t lo_max = 0, hi_first = UINT64_MAX, hi_last = 0;
	uint32_t top = 0;
	uint64_t a, b;
	uint32_t l;
	while ((de = readdir(d)) != NULL)
		if (tbw__seg_parse_name(de->d_name, &a, &b, &l) && l > top)
			top = l;
	rewinddir(d);
	while ((de = readdir(d)) != NULL) {
		if (!tbw__seg_parse_name(de->d_name, &a, &b, &l))
			continue;
		if (l == top) {
			if (a < hi_first) hi_first = a;
			if (b > hi_last) hi_last = b;
		} else if (l == top - 1 && b > lo_max && a <= hi_last) {
			lo_max = b;
		}
	}
	closedir(d);
	if (top == 0 || hi_first != 1 || lo_max > hi_last)
		hook_violations++;
}

static void test_syncer_merged_file_in_place_before_inputs_unlinked(void **state)
{
	tbw_journal *j = tu_open_journal(jdir, 1);
	tbw_syncer *s;
	uint64_t n = 0;
	tu_check c;
	tbw_sync_report rep;
	(void)state;
	s = open_syncer(j, "merge");
	hook_dir = tbw__syncer_run_dir(s);
	for (int pass = 1; pass < TBW_SYNC_MERGE_FANIN; pass++) {
		assert_int_equal(tu_fill(j, (uint64_t)pass * 10), 0);
		assert_int_equal(tbw__syncer_pass(s, &n), TBW_OK);
	}
	assert_int_equal(tu_count_segments(hook_dir, NULL), TBW_SYNC_MERGE_FANIN - 1);
	assert_int_equal(tu_fill(j, TBW_SYNC_MERGE_FANIN * 10), 0);
	hook_unlinks = hook_violations = 0;
	tbw__os_fault_arm(1u << TBW_OS_UNLINK, (unsigned long)-1, 0, EIO);
	tbw__os_fault_hook(unlink_hook);
	assert_int_equal(tbw__syncer_pass(s, &n), TBW_OK);
	tbw__os_fault_hook(NULL);
	tbw__os_fault_clear();
	assert_int_equal(hook_unlinks, TBW_SYNC_MERGE_FANIN);
	assert_int_equal(hook_violations, 0);
	assert_int_equal(tu_count_segments(hook_dir, NULL), 1);
	scan(hook_dir, 100, &c, &rep);
	assert_int_equal(rep.records, TBW_SYNC_MERGE_FANIN * 10);
	assert_int_equal(tu_prefix(&c), TBW_SYNC_MERGE_FANIN * 10);
	assert_int_equal(c.bad, 0);
	tbw__sync_report_free(&rep);
	free(c.seen);
	tbw__syncer_close(s);
	tbw__journal_close(j);
}

/* 24 hours synced every 5 s: 17280 passes, two records each. */
static void test_syncer_day_of_passes_leaves_at_most_200_files(void **state)
{
	tbw_journal *j = tu_open_journal(jdir, 1);
	tbw_syncer *s;
	uint64_t n = 0;
	int maxfiles = 0;
	tbw_sync_stats stt;
	tu_check c;
	tbw_sync_report rep;
	const int passes = 17280;
	(void)state;
	s = open_syncer(j, "day");
	for (int p = 1; p <= passes; p++) {
		assert_int_equal(tu_fill(j, (uint64_t)p * 2), 0);
		assert_int_equal(tbw__syncer_pass(s, &n), TBW_OK);
		assert_int_equal(n, 2);
		tbw__syncer_stats(s, &stt);
		if ((int)stt.files > maxfiles)
			maxfiles = (int)stt.files;
	}
	int on_disk = tu_count_segments(tbw__syncer_run_dir(s), NULL);
	assert_int_equal((uint32_t)on_disk, stt.files);
	printf("24 h simulation: %d passes, at most %d segment files, %d at the end, "
	       "%llu merges, %.1f segment bytes written per record\n",
	       passes, maxfiles, on_disk, (unsigned long long)stt.merges,
	       (double)stt.bytes_written / (double)(2 * passes));
	assert_true(maxfiles <= 200);
	scan(tbw__syncer_run_dir(s), 2 * (uint64_t)passes, &c, &rep);
	assert_int_equal(rep.segments_bad, 0);
	assert_int_equal(rep.records, 2 * (uint64_t)passes);
	assert_int_equal(tu_prefix(&c), 2 * (uint64_t)passes);
	assert_int_equal(c.bad, 0);
	tbw__sync_report_free(&rep);
	free(c.seen);
	tbw__syncer_close(s);
	tbw__journal_close(j);
}

static void write_file(const char *path, const void *buf, size_t len)
{
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(buf, 1, len, f), len);
	fclose(f);
}

/* Write a segment of the mix for seqs [a, b] at level into dir. */
static void put_segment(const char *dir, const uint8_t run_id[16], uint64_t a, uint64_t b,
                        uint32_t level, char *name_out)
{
	tbw_seg_rec *r = calloc(b - a + 1, sizeof *r);
	tbw_seg_tag tags[TU_NTAGS];
	uint8_t *f = NULL;
	size_t len;
	char name[TBW_SEG_NAME_MAX], path[600];
	for (int i = 0; i < TU_NTAGS; i++) {
		tags[i].name = TU_TAGS[i];
		tags[i].len = strlen(TU_TAGS[i]);
	}
	for (uint64_t s = a; s <= b; s++) {
		const char *tag;
		tbw_seg_rec *x = &r[s - a];
		tu_expected(s, &tag, &x->value, &x->step, &x->wall_time);
		x->seq = s;
		x->tag = (uint32_t)((s - 1) % TU_NTAGS + 1);
	}
	assert_int_equal(tbw__seg_encode(run_id, level, r, b - a + 1, tags, TU_NTAGS, &f, &len), TBW_OK);
	tbw__seg_name(name, a, b, level);
	snprintf(path, sizeof path, "%s/%s", dir, name);
	write_file(path, f, len);
	if (name_out)
		strcpy(name_out, name);
	tbw__free(f);
	free(r);
}

/* A scalar and an event record every step (add_scalar and add_histogram
 * in one training loop): a segment's block holds one kind, so the kinds
 * alternate block by block. Shipping 12,000 such records at once, or
 * merging many small segments of them, would make a segment of more blocks
 * than a reader takes (TBW_SEG_MAX_BLOCKS): every sync pass then failed,
 * for good. Ship and merge keep each segment within it. */
typedef struct alt_check {
	uint64_t n, last, bad, events;
} alt_check;

static int alt_on_record(void *ctx, const tbw_jrec_named *r)
{
	alt_check *c = ctx;
	if (r->seq != c->last + 1 || (r->body_len > 0) != (r->seq % 2 == 0))
		c->bad++;
	c->events += r->body_len > 0;
	c->last = r->seq;
	c->n++;
	return 0;
}

static void alternate_kinds(tbw_journal *j, uint64_t upto)
{
	uint64_t last = 0;
	assert_int_equal(tbw__journal_last_seq(j, &last), TBW_OK);
	for (uint64_t q = last + 1; q <= upto; q++) {
		if (q % 2)
			assert_int_equal(tbw__journal_append(j, "loss", 4, 0.5, (int64_t)q / 2, 1e9 + q, NULL), TBW_OK);
		else
			assert_int_equal(tbw__journal_append_event(j, "hist", 4, (int64_t)q / 2, 1e9 + q, "\x0a\x02hi", 4,
			                                          NULL), TBW_OK);
	}
}

static void alternating_kinds_case(int in_small_passes)
{
	const uint64_t total = 12000;
	tbw_journal *j = tu_open_journal(jdir, 1);
	tbw_syncer *s;
	tbw_sync_restore_opts o = TBW_SYNC_RESTORE_OPTS_INIT;
	tbw_sync_report rep;
	alt_check c = { 0, 0, 0, 0 };
	uint64_t n = 0, shipped = 0;

	assert_non_null(j);
	s = open_syncer(j, NULL);
	for (uint64_t upto = in_small_passes ? 150 : total; upto <= total; upto += 150) {
		alternate_kinds(j, upto);
		if (tbw__syncer_pass(s, &n) != TBW_OK)
			fail_msg("sync pass through seq %llu: %s", (unsigned long long)upto, tbw_errmsg());
		shipped += n;
	}
	assert_int_equal(shipped, total);
	assert_int_equal(ship_cursor(j), total);
	o.on_record = alt_on_record;
	o.ctx = &c;
	assert_int_equal(tbw__sync_restore(tbw__syncer_run_dir(s), NULL, &o, &rep), TBW_OK);
	assert_int_equal(rep.segments_bad, 0);
	assert_int_equal(c.n, total);
	assert_int_equal(c.events, total / 2);
	assert_int_equal(c.bad, 0);
	tbw__sync_report_free(&rep);
	tbw__syncer_close(s);
	tbw__journal_close(j);
}

static void test_syncer_alternating_kinds_ship_in_segments_a_reader_takes(void **state)
{
	(void)state;
	alternating_kinds_case(0);
}

static void test_syncer_alternating_kinds_merge_into_segments_a_reader_takes(void **state)
{
	(void)state;
	alternating_kinds_case(1);
}

static void test_syncer_restore_dedups_overlapping_segments(void **state)
{
	static const uint8_t rid[16] = { 0xaa, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 0xbb };
	char rdir[400];
	tbw_jopen cfg = TBW_JOPEN_INIT;
	tbw_journal *dst = NULL;
	tbw_sync_report rep;
	tbw_sync_restore_opts o = TBW_SYNC_RESTORE_OPTS_INIT;
	uint8_t got[16];
	(void)state;
	snprintf(rdir, sizeof rdir, "%s/run-aa0102030405060708090a0b0c0d0ebb", sdir);
	assert_int_equal(mkdir(rdir, 0777), 0);
	put_segment(rdir, rid, 1, 100, 1, NULL);
	put_segment(rdir, rid, 51, 150, 0, NULL);   /* overlaps 51..100 */
	put_segment(rdir, rid, 91, 95, 0, NULL);    /* inside */
	put_segment(rdir, rid, 151, 160, 0, NULL);
	put_segment(rdir, rid, 151, 160, 2, NULL);  /* same range, other level */
	assert_int_equal(tbw__sync_run_id(rdir, got), TBW_OK);
	assert_memory_equal(got, rid, 16);
	cfg.create = 1;
	cfg.run_id = got;
	assert_int_equal(tbw__journal_open(&dst, jdir, &cfg), TBW_OK);
	assert_int_equal(tbw__sync_restore(rdir, dst, &o, &rep), TBW_OK);
	assert_int_equal(rep.segments_ok, 5);
	assert_int_equal(rep.records, 100 + 100 + 5 + 10 + 10);
	assert_int_equal(rep.records_new, 160);
	assert_int_equal(rep.duplicates, 65);
	assert_int_equal(rep.first_seq, 1);
	assert_int_equal(rep.last_seq, 160);
	assert_int_equal(rep.missing, 0);
	tbw__sync_report_free(&rep);
	/* the journal holds each record once, bit for bit, with its tag */
	{
		tbw_jrec *recs = calloc(200, sizeof *recs);
		tbw_jread info;
		tbw_jinfo ji;
		assert_int_equal(tbw__journal_read(dst, 0, recs, 200, &info), TBW_OK);
		assert_int_equal(info.n, 160);
		for (size_t i = 0; i < info.n; i++) {
			const char *tag, *name;
			size_t nl;
			double v, w;
			int64_t st;
			tu_expected(i + 1, &tag, &v, &st, &w);
			assert_int_equal(recs[i].seq, i + 1);
			assert_memory_equal(&recs[i].value, &v, 8);
			assert_memory_equal(&recs[i].wall_time, &w, 8);
			assert_int_equal(recs[i].step, st);
			assert_int_equal(tbw__journal_tag_name(dst, recs[i].tag_id, &name, &nl), TBW_OK);
			assert_int_equal(nl, strlen(tag));
			assert_memory_equal(name, tag, nl);
		}
		assert_int_equal(tbw__journal_info(dst, &ji), TBW_OK);
		assert_memory_equal(ji.run_id, rid, 16);
		free(recs);
	}
	/* a second restore into the same journal inserts nothing new */
	assert_int_equal(tbw__sync_restore(rdir, dst, &o, &rep), TBW_OK);
	assert_int_equal(rep.records_new, 0);
	assert_int_equal(rep.duplicates, rep.records);
	tbw__sync_report_free(&rep);
	tbw__journal_close(dst);
}

static void test_syncer_hostile_folder_is_reported_and_the_rest_restored(void **state)
{
	static const uint8_t rid[16] = { 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7 };
	static const uint8_t other[16] = { 9 };
	char rdir[400], outside[400], path[800], name[TBW_SEG_NAME_MAX];
	tu_check c;
	tbw_sync_report rep;
	(void)state;
	snprintf(rdir, sizeof rdir, "%s/run-07070707070707070707070707070707", sdir);
	snprintf(outside, sizeof outside, "%s/outside", base);
	assert_int_equal(mkdir(rdir, 0777), 0);
	assert_int_equal(mkdir(outside, 0777), 0);
	/* good segments: 1..100, 201..300 */
	put_segment(rdir, rid, 1, 100, 0, NULL);
	put_segment(rdir, rid, 201, 300, 0, NULL);
	/* truncated: 101..150 cut in half */
	{
		char tmp[TBW_SEG_NAME_MAX];
		struct stat st;
		put_segment(rdir, rid, 101, 150, 0, tmp);
		snprintf(path, sizeof path, "%s/%s", rdir, tmp);
		assert_int_equal(stat(path, &st), 0);
		assert_int_equal(truncate(path, st.st_size / 2), 0);
	}
	/* bit-flipped: 151..200 */
	{
		char tmp[TBW_SEG_NAME_MAX];
		put_segment(rdir, rid, 151, 200, 0, tmp);
		snprintf(path, sizeof path, "%s/%s", rdir, tmp);
		FILE *f = fopen(path, "r+b");
		fseek(f, 120, SEEK_SET);
		int ch = fgetc(f);
		fseek(f, 120, SEEK_SET);
		fputc(ch ^ 0x10, f);
		fclose(f);
	}
	/* garbage under a segment name */
	tbw__seg_name(name, 301, 310, 0);
	snprintf(path, sizeof path, "%s/%s", rdir, name);
	write_file(path, "TBWSEG\r\nthis is not a segment at all................................................................................", 100);
	/* a foreign run's segment */
	put_segment(rdir, other, 311, 320, 0, NULL);
	/* a symlink named as a segment, pointing at a valid segment outside */
	put_segment(outside, rid, 401, 410, 0, name);
	{
		char target[900], link[900];
		snprintf(target, sizeof target, "%s/%s", outside, name);
		snprintf(link, sizeof link, "%s/%s", rdir, name);
		assert_int_equal(symlink(target, link), 0);
	}
	/* a FIFO and a directory with segment names (must not hang or crash) */
	tbw__seg_name(name, 501, 510, 0);
	snprintf(path, sizeof path, "%s/%s", rdir, name);
	assert_int_equal(mkfifo(path, 0666), 0);
	tbw__seg_name(name, 601, 610, 0);
	snprintf(path, sizeof path, "%s/%s", rdir, name);
	assert_int_equal(mkdir(path, 0777), 0);
	/* names that do not parse are ignored, even with valid content */
	put_segment(outside, rid, 701, 710, 0, name);
	{
		char from[900], to[900];
		snprintf(from, sizeof from, "%s/%s", outside, name);
		snprintf(to, sizeof to, "%s/..%s", rdir, name);
		assert_int_equal(rename(from, to), 0);
	}
	snprintf(path, sizeof path, "%s/notes.txt", rdir);
	write_file(path, "hello", 5);
	snprintf(path, sizeof path, "%s/seg-0000000000000001-0000000000000002-L0.tbws.tmp", rdir);
	write_file(path, "x", 1);

	scan(rdir, 1000, &c, &rep);
	printf("last damage: %s\n", c.last_damage);
	assert_int_equal(rep.segments_ok, 2);
	assert_int_equal(rep.segments_bad, 6); /* trunc, flip, garbage, symlink, fifo, dir */
	assert_int_equal(rep.segments_foreign, 1); /* another run's: set aside, reported */
	assert_int_equal(c.damaged, 7);
	assert_int_equal(rep.files_ignored, 3);
	assert_int_equal(rep.records, 200);
	assert_int_equal(rep.first_seq, 1);
	assert_int_equal(rep.last_seq, 300);
	assert_int_equal(rep.missing, 100);
	assert_int_equal(c.bad, 0);
	assert_int_equal(tu_count_seen(&c), 200);
	assert_int_equal(tu_prefix(&c), 100);
	assert_memory_equal(rep.run_id, rid, 16);
	tbw__sync_report_free(&rep);
	free(c.seen);
}

static int damage_files;
static char damage_log[4096];
static void log_damage(void *ctx, const char *file, uint64_t off, int in_payload, int code,
                       const char *why)
{
	(void)ctx; (void)in_payload;
	damage_files++;
	size_t l = strlen(damage_log);
	snprintf(damage_log + l, sizeof damage_log - l, "%s@%llu:%d:%s\n", file,
	         (unsigned long long)off, code, why);
}

static void test_syncer_damage_reports_offset_and_reason(void **state)
{
	static const uint8_t rid[16] = { 3 };
	char rdir[400], path[800], name[TBW_SEG_NAME_MAX];
	tbw_sync_report rep;
	tbw_sync_restore_opts o = TBW_SYNC_RESTORE_OPTS_INIT;
	struct stat st;
	(void)state;
	snprintf(rdir, sizeof rdir, "%s/r-03000000000000000000000000000000", sdir);
	assert_int_equal(mkdir(rdir, 0777), 0);
	put_segment(rdir, rid, 1, 10, 0, name);
	snprintf(path, sizeof path, "%s/%s", rdir, name);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(truncate(path, st.st_size - 1), 0);
	o.on_damage = log_damage;
	damage_files = 0;
	damage_log[0] = 0;
	assert_int_equal(tbw__sync_restore(rdir, NULL, &o, &rep), TBW_OK);
	assert_int_equal(damage_files, 1);
	char want[200];
	/* Format v2: the cut block is reported at its own offset, with the
	 * exact range of records it held. */
	snprintf(want, sizeof want, "%s@%d:%d:", name, TBW_SEG_HEADER_SIZE, TBW_ETRUNCATED);
	assert_non_null(strstr(damage_log, want));
	assert_non_null(strstr(damage_log, "records seq 1..10 (10 records"));
	assert_int_equal(rep.blocks_lost, 1);
	assert_int_equal(rep.records_lost, 10);
	tbw__sync_report_free(&rep);
}

static void test_syncer_damaged_segment_in_folder_does_not_stop_shipping(void **state)
{
	tbw_journal *j = tu_open_journal(jdir, 1);
	tbw_syncer *s;
	uint64_t n = 0;
	tbw_sync_stats st;
	(void)state;
	s = open_syncer(j, "dmg");
	assert_int_equal(tu_fill(j, 10), 0);
	assert_int_equal(tbw__syncer_pass(s, &n), TBW_OK);
	/* someone garbles the first segment on the shared drive */
	{
		char path[800], name[TBW_SEG_NAME_MAX];
		tbw__seg_name(name, 1, 10, 0);
		snprintf(path, sizeof path, "%s/%s", tbw__syncer_run_dir(s), name);
		write_file(path, "garbage", 7);
	}
	for (int p = 2; p <= 3 * TBW_SYNC_MERGE_FANIN; p++) {
		assert_int_equal(tu_fill(j, (uint64_t)p * 10), 0);
		assert_int_equal(tbw__syncer_pass(s, &n), TBW_OK);
	}
	tbw__syncer_stats(s, &st);
	assert_int_equal(st.unmergeable, 1);
	assert_true(st.merges >= 2);
	assert_true(st.files <= 1 + 2 + (TBW_SYNC_MERGE_FANIN - 1)); /* bad + L1s + L0s */
	tbw__syncer_close(s);
	tbw__journal_close(j);
}

static void test_syncer_reopen_cleans_temp_files_and_resumes(void **state)
{
	tbw_journal *j = tu_open_journal(jdir, 1);
	tbw_syncer *s;
	uint64_t n = 0;
	int others;
	char path[800], rdir[600];
	(void)state;
	s = open_syncer(j, "resume");
	assert_int_equal(tu_fill(j, 30), 0);
	assert_int_equal(tbw__syncer_pass(s, &n), TBW_OK);
	snprintf(rdir, sizeof rdir, "%s", tbw__syncer_run_dir(s));
	tbw__syncer_close(s);
	/* what a killed syncer leaves */
	snprintf(path, sizeof path, "%s/.tmp-seg-000000000000001f-0000000000000028-L0.tbws-99999", rdir);
	write_file(path, "partial", 7);
	snprintf(path, sizeof path, "%s/run.json.tmp-99999", rdir);
	write_file(path, "{", 1);
	assert_int_equal(tu_fill(j, 40), 0);
	s = open_syncer(j, "resume");
	assert_int_equal(tu_count_segments(rdir, &others), 1);
	assert_int_equal(others, 1); /* run.json */
	assert_int_equal(tbw__syncer_pass(s, &n), TBW_OK);
	assert_int_equal(n, 10);
	assert_int_equal(ship_cursor(j), 40);
	tbw__syncer_close(s);
	tbw__journal_close(j);
}

static void test_syncer_run_names_stay_inside_the_sync_folder(void **state)
{
	tbw_journal *j = tu_open_journal(jdir, 1);
	tbw_syncer *s;
	uint8_t id[16];
	char nm[64];
	tbw_jinfo info;
	(void)state;
	s = open_syncer(j, "../../evil/x y");
	const char *rd = tbw__syncer_run_dir(s);
	assert_int_equal(strncmp(rd, sdir, strlen(sdir)), 0);
	assert_int_equal(rd[strlen(sdir)], '/');
	assert_null(strchr(rd + strlen(sdir) + 1, '/'));
	assert_int_equal(tbw__sync_parse_run_dir(rd + strlen(sdir) + 1, id, nm, sizeof nm), 1);
	assert_string_equal(nm, "_.._evil_x_y");
	assert_int_equal(tbw__journal_info(j, &info), TBW_OK);
	assert_memory_equal(id, info.run_id, 16);
	assert_int_equal(tbw__sync_parse_run_dir("x-0123", id, NULL, 0), 0);
	assert_int_equal(tbw__sync_parse_run_dir("x-0123456789ABCDEF0123456789abcdef", id, NULL, 0), 0);
	tbw__syncer_close(s);
	/* a symlink planted as the run folder is refused */
	{
		char evil[600], target[600];
		snprintf(target, sizeof target, "%s/elsewhere", base);
		assert_int_equal(mkdir(target, 0777), 0);
		snprintf(evil, sizeof evil, "%s/planted-%s", sdir, info.run_id_hex);
		assert_int_equal(symlink(target, evil), 0);
		tbw_syncer *s2 = NULL;
		assert_int_not_equal(tbw__syncer_open(&s2, j, sdir, "planted", 0), TBW_OK);
		assert_null(s2);
		tbw_sync_report rep;
		assert_int_not_equal(tbw__sync_restore(evil, NULL, NULL, &rep), TBW_OK);
	}
	tbw__journal_close(j);
}

/* Issue 17: a sync folder on Colab's Drive path while Drive is not mounted
 * is refused at open, naming the path; nothing is made on the local disk. */
static void test_syncer_refuses_an_unmounted_drive_path(void **state)
{
	char root[400], mounts[400], dir[500];
	tbw_journal *j = tu_open_journal(jdir, 1);
	tbw_syncer *s = NULL;
	struct stat st;
	FILE *f;
	(void)state;
	snprintf(root, sizeof root, "%s/content/drive", base);
	snprintf(mounts, sizeof mounts, "%s/mounts", base);
	snprintf(dir, sizeof dir, "%s/MyDrive/tbwal", root);
	f = fopen(mounts, "w");
	assert_non_null(f);
	fprintf(f, "overlay / overlay rw 0 0\n/dev/sda1 /content ext4 rw 0 0\n");
	fclose(f);
	setenv("TBW_DRIVE_ROOT", root, 1);
	setenv("TBW_MOUNTS_FILE", mounts, 1);
	assert_int_equal(tbw__syncer_open(&s, j, dir, "r", 0), TBW_ENOTFOUND);
	assert_null(s);
	assert_non_null(strstr(tbw_errmsg(), dir));
	assert_non_null(strstr(tbw_errmsg(), "not mounted"));
	assert_int_not_equal(stat(root, &st), 0);          /* nothing was created */
	/* The writer refuses at open, before making its journal or logdir. */
	{
		char logd[500];
		tbw_writer *w = NULL;
		tbw_options o = TBW_OPTIONS_INIT;
		snprintf(logd, sizeof logd, "%s/drive-logs", base);
		o.sync_dir = dir;
		assert_int_equal(tbw_open(&w, logd, &o), TBW_ENOTFOUND);
		assert_null(w);
		assert_non_null(strstr(tbw_errmsg(), dir));
		assert_int_not_equal(stat(logd, &st), 0);
		assert_int_not_equal(stat(root, &st), 0);
	}
	/* Once Drive is mounted there, it opens. */
	f = fopen(mounts, "a");
	fprintf(f, "drive %s fuse.drive rw,nosuid 0 0\n", root);
	fclose(f);
	assert_int_equal(tbw__syncer_open(&s, j, dir, "r", 0), TBW_OK);
	tbw__syncer_close(s);
	/* Paths elsewhere are never checked. */
	f = fopen(mounts, "w");
	fclose(f);
	s = open_syncer(j, "elsewhere");
	tbw__syncer_close(s);
	unsetenv("TBW_DRIVE_ROOT");
	unsetenv("TBW_MOUNTS_FILE");
	tbw__journal_close(j);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_syncer_passes_ship_only_new_records, setup, teardown),
		cmocka_unit_test_setup_teardown(test_syncer_cursor_advances_only_after_rename, setup, teardown),
		cmocka_unit_test_setup_teardown(test_syncer_merged_file_in_place_before_inputs_unlinked, setup, teardown),
		cmocka_unit_test_setup_teardown(test_syncer_day_of_passes_leaves_at_most_200_files, setup, teardown),
		cmocka_unit_test_setup_teardown(test_syncer_alternating_kinds_ship_in_segments_a_reader_takes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_syncer_alternating_kinds_merge_into_segments_a_reader_takes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_syncer_restore_dedups_overlapping_segments, setup, teardown),
		cmocka_unit_test_setup_teardown(test_syncer_hostile_folder_is_reported_and_the_rest_restored, setup, teardown),
		cmocka_unit_test_setup_teardown(test_syncer_damage_reports_offset_and_reason, setup, teardown),
		cmocka_unit_test_setup_teardown(test_syncer_damaged_segment_in_folder_does_not_stop_shipping, setup, teardown),
		cmocka_unit_test_setup_teardown(test_syncer_reopen_cleans_temp_files_and_resumes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_syncer_run_names_stay_inside_the_sync_folder, setup, teardown),
		cmocka_unit_test_setup_teardown(test_syncer_refuses_an_unmounted_drive_path, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
