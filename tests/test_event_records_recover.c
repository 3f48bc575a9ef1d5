/* test_event_records_recover.c -- event records (tbw_add_event) beyond the
 * journal: segments (round trip beside scalars, a record larger than a
 * block, one damaged event block), the syncer's shipping and restore, and
 * tbrecover: a writer logging scalars and event records SIGKILLed at random
 * moments, then recovered from its journal and, with the local disk gone,
 * from the sync folder (every acknowledged record exactly once, in order),
 * and tbrecover's memory over segments full of ~1 MiB images. */
#include "config.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>
#include "test_util.h"
#include "base/alloc.h"
#include "compactor_util.h"
#include "base/error.h"
#include "format/event.h"
#include "journal/journal.h"
#include "recover/recover.h"
#include "format/segment.h"
#include "sync/syncer.h"
#include "tbwal.h"
#include "format/tfrecord.h"

static char tmp[256], logdir[300], syncdir[300];

static int setup(void **state)
{
	(void)state;
	if (tbw_test_mkdtemp(tmp, sizeof tmp, "test_event_records_recover") < 0)
		return -1;
	snprintf(logdir, sizeof logdir, "%s/logs", tmp);
	snprintf(syncdir, sizeof syncdir, "%s/sync", tmp);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	(void)tbw_test_rmtree(tmp);
	return 0;
}

/* ---- deterministic records: record i is an event record when i % 3 == 0
 * (an image of a size and content decided by i), else a scalar ---- */

static size_t put_varint(uint8_t *p, uint64_t v)
{
	size_t n = 0;
	while (v >= 0x80) {
		p[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	p[n++] = (uint8_t)v;
	return n;
}

/* Event{summary{value{tag "img"; image{encoded_image_string: n bytes}}}}
 * without fields 1/2, into a new buffer. */
static uint8_t *image_body(uint64_t seed, size_t n, size_t *len)
{
	uint8_t t[16], *b, *p;
	size_t img_len = 1 + put_varint(t, n) + n;
	size_t val_len = 5 + 1 + put_varint(t, img_len) + img_len;
	size_t sum_len = 1 + put_varint(t, val_len) + val_len;

	b = malloc(1 + 10 + sum_len);
	assert_non_null(b);
	p = b;
	*p++ = 0x2a;                       /* Event.summary */
	p += put_varint(p, sum_len);
	*p++ = 0x0a;                       /* Summary.value */
	p += put_varint(p, val_len);
	*p++ = 0x0a; *p++ = 3; memcpy(p, "img", 3); p += 3;   /* Value.tag */
	*p++ = 0x22;                       /* Value.image */
	p += put_varint(p, img_len);
	*p++ = 0x22;                       /* Image.encoded_image_string */
	p += put_varint(p, n);
	for (size_t i = 0; i < n; i++) {
		seed ^= seed << 13; seed ^= seed >> 7; seed ^= seed << 17;
		*p++ = (uint8_t)seed;
	}
	*len = (size_t)(p - b);
	return b;
}

static int is_event(uint64_t i) { return i % 3 == 0; }
static size_t event_size(uint64_t i) { return i % 7 == 0 ? 100000 + (size_t)(i % 5) * 3000 : 50 + (size_t)(i % 400); }
static double wall_of(uint64_t i) { return 1700000000.0 + (double)i; }

static int log_record(tbw_writer *w, uint64_t i)
{
	if (is_event(i)) {
		size_t len;
		uint8_t *b = image_body(i + 1, event_size(i), &len);
		int rc = tbw_add_event(w, NULL, (int64_t)i, wall_of(i), b, len);
		free(b);
		return rc;
	}
	return tbw_add_scalar(w, i % 2 ? "loss" : "acc", (double)i * 0.5, (int64_t)i, wall_of(i));
}

/* Read every event file of logdir in name order: records must be records
 * 0, 1, 2, ... (each exactly once, in order, content as logged). Returns
 * how many; -1 on any problem (printed). */
static long read_back(const char *dir)
{
	cu_scan s;
	long k = 0;

	memset(&s, 0, sizeof s);
	if (cu_scan_logdir(dir, &s) != 0)
		return -1;
	if (s.corrupt) {
		fprintf(stderr, "read back: %zu corrupt: %s\n", s.corrupt, s.why);
		cu_scan_free(&s);
		return -1;
	}
	for (size_t f = 0; f < s.nfiles; f++) {
		char path[700];
		tbw_tfr_reader *r = NULL;
		const uint8_t *d;
		size_t len;
		int st, fd;
		snprintf(path, sizeof path, "%s/%s", dir, s.names[f]);
		fd = open(path, O_RDONLY);
		if (fd < 0 || tbw__tfr_reader_open(&r, fd, 0, path) != TBW_OK)
			return -1;
		while ((st = tbw__tfr_reader_next(r, &d, &len, NULL)) == TBW_TFR_RECORD) {
			tbw_event ev;
			double wall;
			int64_t step;
			size_t off;
			if (tbw__event_decode(d, len, &ev) != TBW_OK)
				goto bad;
			if (ev.kind == TBW_EVENT_FILE_VERSION || ev.kind == TBW_EVENT_SESSION_START)
				continue;
			if (tbw__event_split(d, len, &wall, &step, &off) != TBW_OK || step != k || wall != wall_of((uint64_t)k))
				goto bad;
			if (is_event((uint64_t)k)) {
				size_t blen;
				uint8_t *b = image_body((uint64_t)k + 1, event_size((uint64_t)k), &blen);
				int same = blen == len - off && memcmp(b, d + off, blen) == 0;
				free(b);
				if (!same)
					goto bad;
			} else if (ev.kind != TBW_EVENT_SCALAR || ev.value != (float)((double)k * 0.5)) {
				goto bad;
			}
			k++;
		}
		tbw__tfr_reader_close(r);
		close(fd);
		if (st == TBW_TFR_CORRUPT)
			return -1;
		continue;
bad:
		fprintf(stderr, "read back: %s: record %ld is not what was logged\n", s.names[f], k);
		tbw__tfr_reader_close(r);
		close(fd);
		cu_scan_free(&s);
		return -1;
	}
	cu_scan_free(&s);
	return k;
}

static char *run_dir(void)
{
	static char path[700];
	DIR *d = opendir(syncdir);
	struct dirent *e;

	path[0] = '\0';
	if (!d)
		return path;
	while ((e = readdir(d)) != NULL)
		if (strncmp(e->d_name, "run-", 4) == 0)
			snprintf(path, sizeof path, "%s/%s", syncdir, e->d_name);
	closedir(d);
	return path;
}

static int recover(const char *from)
{
	tbw_recover_cfg cfg = TBW_RECOVER_CFG_INIT;
	tbw_recover_report rep;
	const char *f[1] = { from };
	int rc;

	memset(&rep, 0, sizeof rep);
	cfg.logdir = logdir;
	cfg.from = from ? f : NULL;
	cfg.nfrom = from ? 1 : 0;
	rc = tbw__recover_run(&cfg, &rep);
	if (rc)
		fprintf(stderr, "recover: %s\n", tbw_errmsg());
	tbw__recover_report_free(&rep);
	return rc;
}

/* ---- segments ---- */

static void test_event_records_segment_round_trip_beside_scalars(void **state)
{
	static const uint8_t run_id[16] = { 1, 2, 3 };
	tbw_seg_tag tags[2] = { { "loss", 4 }, { "img", 3 } };
	tbw_seg_rec r[40];
	uint8_t *bodies[40] = { 0 }, *f = NULL;
	size_t n = 40, len = 0;
	tbw_seg s;
	tbw_seg_damage d;
	(void)state;

	memset(r, 0, sizeof r);
	for (size_t i = 0; i < n; i++) {
		r[i].seq = i + 1 + (i > 20 ? 5 : 0);   /* a gap */
		r[i].step = (int64_t)i - 3;
		r[i].wall_time = wall_of(i);
		if (is_event(i)) {
			size_t bl;
			bodies[i] = image_body(i, i == 9 ? (5u << 20) : event_size(i), &bl);   /* one > a block's 4 MiB */
			r[i].body = bodies[i];
			r[i].body_len = (uint32_t)bl;
			r[i].tag = i % 2 ? 2 : 0;          /* 0: an event record naming no tag */
		} else {
			r[i].value = (double)i / 3;
			r[i].tag = i == 4 ? TBW_SEG_TAG_START : 1;
		}
	}
	assert_int_equal(tbw__seg_encode(run_id, 0, r, n, tags, 2, &f, &len), TBW_OK);
	memset(&s, 0, sizeof s);
	assert_int_equal(tbw__seg_decode(f, len, &s, &d), TBW_OK);
	assert_int_equal(s.n, n);
	assert_int_equal(s.nlost, 0);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(s.recs[i].seq, r[i].seq);
		assert_int_equal(s.recs[i].step, r[i].step);
		assert_true(s.recs[i].wall_time == r[i].wall_time);
		assert_int_equal(s.recs[i].body_len, r[i].body_len);
		if (r[i].body_len) {
			assert_memory_equal(s.recs[i].body, r[i].body, r[i].body_len);
			if (r[i].tag)
				assert_memory_equal(s.tags[s.recs[i].tag - 1].name, "img", 3);
			else
				assert_int_equal(s.recs[i].tag, 0);
		} else {
			assert_true(s.recs[i].value == r[i].value);
		}
	}
	assert_true(s.h.nblocks >= 20);        /* blocks alternate with the kind */
	/* deterministic */
	{
		uint8_t *f2 = NULL;
		size_t len2 = 0;
		assert_int_equal(tbw__seg_encode(run_id, 0, r, n, tags, 2, &f2, &len2), TBW_OK);
		assert_int_equal(len2, len);
		assert_memory_equal(f2, f, len);
		tbw__free(f2);
	}
	/* damage inside the big event block: that block alone is lost */
	{
		size_t off = 0;
		for (size_t i = 0; i + 4 < len; i++)
			if (memcmp(f + i, "TBWB", 4) == 0 && f[i + 4] == TBW_SEG_KIND_EVENT &&
			    f[i + 24] == (uint8_t)r[9].seq) {
				off = i;
				break;
			}
		assert_true(off > 0);
		tbw__seg_release(&s);
		f[off + TBW_SEG_BLOCK_HEADER_SIZE + 1000] ^= 0x40;
		assert_int_equal(tbw__seg_decode(f, len, &s, &d), TBW_OK);
		assert_int_equal(s.n, n - 1);
		assert_int_equal(s.nlost, 1);
		assert_int_equal(s.lost[0].first_seq, r[9].seq);
		assert_int_equal(s.lost[0].last_seq, r[9].seq);
		assert_int_equal(s.lost[0].kind, TBW_SEG_KIND_EVENT);
	}
	tbw__seg_release(&s);
	tbw__free(f);
	for (size_t i = 0; i < n; i++)
		free(bodies[i]);
}

/* ---- syncer and tbrecover ---- */

static tbw_writer *wopen(void)
{
	tbw_options o = TBW_OPTIONS_INIT;
	tbw_writer *w = NULL;
	o.sync_dir = syncdir;
	o.run_name = "run";
	o.compact_interval_ms = 20;
	o.sync_interval_ms = 20;
	if (tbw_open(&w, logdir, &o) != TBW_OK)
		fprintf(stderr, "open: %s\n", tbw_errmsg());
	assert_non_null(w);
	return w;
}

static void test_event_records_are_shipped_and_restored_from_the_sync_folder(void **state)
{
	tbw_writer *w = wopen();
	const uint64_t n = 300;
	(void)state;

	for (uint64_t i = 0; i < n; i++)
		assert_int_equal(log_record(w, i), TBW_OK);
	assert_int_equal(tbw_close(w), TBW_OK);
	assert_int_equal(read_back(logdir), (long)n);
	/* the journal was pruned once exported and shipped */
	{
		char jd[400];
		tbw_jopen cfg = TBW_JOPEN_INIT;
		tbw_journal *j = NULL;
		uint64_t left = 1;
		snprintf(jd, sizeof jd, "%s/.tbwal", logdir);
		uint64_t pruned = 0;
		assert_int_equal(tbw__journal_open(&j, jd, &cfg), TBW_OK);
		/* prune stops at the export and ship cursors: all of it goes */
		assert_int_equal(tbw__journal_prune(j, UINT64_MAX, 8192, &pruned), TBW_OK);
		assert_int_equal(tbw__journal_count(j, &left), TBW_OK);
		assert_int_equal(left, 0);
		tbw__journal_close(j);
	}
	/* the machine is lost: everything comes back from the segments */
	(void)tbw_test_rmtree(logdir);
	assert_int_equal(recover(run_dir()), TBW_OK);
	assert_int_equal(read_back(logdir), (long)n);
	/* a second run changes nothing */
	assert_int_equal(recover(run_dir()), TBW_OK);
	assert_int_equal(read_back(logdir), (long)n);
}

/* The Colab re-run pattern with event records: a writer without a sync
 * folder exported and pruned everything; a shipper attached later (tbw_sync
 * with backfill, or a second open with sync_dir) puts every pruned record
 * back from the event files, event records included, and ships them all, so
 * losing the machine then loses nothing. */
static void test_event_records_sync_attached_late_ships_every_record(void **state)
{
	tbw_options o = TBW_OPTIONS_INIT;
	tbw_sync_options so = TBW_SYNC_OPTIONS_INIT;
	tbw_sync_result sr;
	tbw_writer *w = NULL;
	const uint64_t n = 300;
	(void)state;

	o.run_name = "run";
	o.compact_interval_ms = 20;
	assert_int_equal(tbw_open(&w, logdir, &o), TBW_OK);
	for (uint64_t i = 0; i < n; i++)
		assert_int_equal(log_record(w, i), TBW_OK);
	assert_int_equal(tbw_close(w), TBW_OK);     /* exported, and pruned: no shipper */
	assert_int_equal(read_back(logdir), (long)n);
	memset(&sr, 0, sizeof sr);
	sr.version = TBW_SYNC_RESULT_VERSION;
	so.backfill = 1;
	so.run_name = "run";
	assert_int_equal(tbw_sync(logdir, syncdir, &so, &sr), TBW_OK);
	assert_int_equal(sr.unshippable, 0);
	assert_int_equal(sr.records_shipped, n);
	/* the machine is lost: everything comes back from the segments */
	(void)tbw_test_rmtree(logdir);
	assert_int_equal(recover(run_dir()), TBW_OK);
	assert_int_equal(read_back(logdir), (long)n);
}

static void test_event_records_come_back_from_event_files_read_back(void **state)
{
	const uint64_t n = 120;
	tbw_recover_cfg cfg = TBW_RECOVER_CFG_INIT;
	tbw_recover_report rep;
	const char *from[1];
	cu_scan s;
	char path[700];
	int fd, rc;
	(void)state;

	/* three sessions, three event files */
	for (uint64_t i = 0; i < n; i++) {
		static tbw_writer *w;
		if (i % 40 == 0)
			w = wopen();
		assert_int_equal(log_record(w, i), TBW_OK);
		if (i % 40 == 39)
			assert_int_equal(tbw_close(w), TBW_OK);
	}
	memset(&s, 0, sizeof s);
	assert_int_equal(cu_scan_logdir(logdir, &s), 0);
	assert_int_equal(s.nfiles, 3);
	/* damage the first file's last byte (an event record's data CRC): the
	 * files after it are then read back as a source (event records
	 * mapped back to their sequence numbers) and written again */
	snprintf(path, sizeof path, "%s/%s", logdir, s.names[0]);
	fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	{
		uint8_t c;
		off_t end = lseek(fd, 0, SEEK_END);
		assert_int_equal(pread(fd, &c, 1, end - 1), 1);
		c ^= 0x55;
		assert_int_equal(pwrite(fd, &c, 1, end - 1), 1);
	}
	close(fd);
	cu_scan_free(&s);
	memset(&rep, 0, sizeof rep);
	cfg.logdir = logdir;
	from[0] = run_dir();
	cfg.from = from;
	cfg.nfrom = 1;
	rc = tbw__recover_run(&cfg, &rep);
	if (rc)
		fprintf(stderr, "recover: %s\n", tbw_errmsg());
	assert_int_equal(rc, TBW_OK);
	{
		uint64_t from_events = 0;
		for (size_t i = 0; i < rep.nsources; i++)
			if (strcmp(rep.sources[i].kind, "events") == 0)
				from_events += rep.sources[i].records;
		for (size_t i = 0; i < rep.ndamage; i++)
			fprintf(stderr, "damage: %s: %s\n", rep.damage[i].path, rep.damage[i].what);
		/* the two whole files after the damaged one: 80 records */
		assert_true(from_events >= 80);
		assert_int_equal(rep.ndamage, 1);
	}
	tbw__recover_report_free(&rep);
	assert_int_equal(read_back(logdir), (long)n);
}

/* A child logs records 0, 1, 2, ... (scalars and event records) with a
 * sync folder, writing each acknowledged index (and, after a flush, that
 * everything so far was shipped) into a pipe; it is SIGKILLed at a random
 * moment. */
static void test_event_records_survive_sigkill_locally_and_from_the_sync_folder(void **state)
{
	int rounds = getenv("TBW_SLOW_TESTS") ? 30 : 6;
	unsigned seed = getenv("TBW_CRASH_SEED") ? (unsigned)atoi(getenv("TBW_CRASH_SEED")) : (unsigned)time(NULL);
	(void)state;

	fprintf(stderr, "crash seed %u (TBW_CRASH_SEED replays)\n", seed);
	srand(seed);
	for (int round = 0; round < rounds; round++) {
		int pfd[2];
		uint64_t v, acked = 0, flushed = 0;
		long got;
		pid_t pid;

		(void)tbw_test_rmtree(logdir);
		(void)tbw_test_rmtree(syncdir);
		assert_int_equal(pipe(pfd), 0);
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			tbw_writer *w;
			close(pfd[0]);
			w = wopen();
			for (uint64_t i = 0;; i++) {
				if (log_record(w, i) != TBW_OK)
					_exit(3);
				v = i + 1;
				if (i % 41 == 40) {
					if (tbw_flush(w) != TBW_OK)
						_exit(4);
					v |= 1ull << 63;
				}
				if (write(pfd[1], &v, sizeof v) != sizeof v)
					_exit(5);
			}
		}
		close(pfd[1]);
		usleep(50000 + (useconds_t)(rand() % 400000));
		kill(pid, SIGKILL);
		while (read(pfd[0], &v, sizeof v) == sizeof v) {
			acked = v & ~(1ull << 63);
			if (v >> 63)
				flushed = acked;
		}
		close(pfd[0]);
		waitpid(pid, NULL, 0);
		fprintf(stderr, "round %d: %llu acknowledged, %llu flushed\n", round, (unsigned long long)acked,
		        (unsigned long long)flushed);

		/* From the local journal (and the event files beside it). */
		if (recover(NULL) != TBW_OK) {
			assert_int_equal(acked, 0);   /* killed before its first commit */
			continue;
		}
		got = read_back(logdir);
		if (got < (long)acked || got > (long)acked + 1)
			fail_msg("round %d: %ld records back from the journal, %llu acknowledged", round, got,
			         (unsigned long long)acked);
		/* The machine is lost: from the sync folder alone. */
		if (run_dir()[0]) {
			(void)tbw_test_rmtree(logdir);
			if (recover(run_dir()) != TBW_OK) {
				/* nothing shipped yet (the folder holds no segment) */
				if (flushed != 0)
					fail_msg("round %d: recovery from the sync folder failed after %llu flushed records",
					         round, (unsigned long long)flushed);
				continue;
			}
			got = read_back(logdir);
			if (got < (long)flushed || got > (long)acked + 1)
				fail_msg("round %d: %ld records back from the sync folder, %llu flushed, %llu acknowledged",
				         round, got, (unsigned long long)flushed, (unsigned long long)acked);
		} else {
			assert_int_equal(flushed, 0);
		}
	}
}

/* The RSS bound is for the real build: ASan's shadow memory and
 * quarantine make any figure meaningless there. */
#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif

/* tbrecover over segments full of ~1 MiB images stays within 64 MB. */
static void test_event_records_tbrecover_memory_bounded_over_segments_of_images(void **state)
{
	static const uint8_t run_id[16] = { 0x1a, 0x6e };
	const size_t per = 8, nseg = 8;
	char rdir[700];
	long rss;
	(void)state;

	snprintf(rdir, sizeof rdir, "%s/img-1a6e0000000000000000000000000000", syncdir);
	{
		char cmd[800];
		snprintf(cmd, sizeof cmd, "mkdir -p '%s'", rdir);
		assert_int_equal(system(cmd), 0);
	}
	for (size_t k = 0; k < nseg; k++) {
		tbw_seg_rec r[8];
		uint8_t *b[8], *img = NULL;
		size_t len;
		char name[TBW_SEG_NAME_MAX], path[800];
		tbw_seg_tag tg = { "img", 3 };
		memset(r, 0, sizeof r);
		for (size_t i = 0; i < per; i++) {
			size_t bl;
			b[i] = image_body(k * per + i + 7, (1u << 20) - 200, &bl);
			r[i].seq = k * per + i + 1;
			r[i].step = (int64_t)r[i].seq;
			r[i].wall_time = wall_of(r[i].seq);
			r[i].tag = 1;
			r[i].body = b[i];
			r[i].body_len = (uint32_t)bl;
		}
		assert_int_equal(tbw__seg_encode(run_id, 0, r, per, &tg, 1, &img, &len), TBW_OK);
		for (size_t i = 0; i < per; i++)
			free(b[i]);
		tbw__seg_name(name, k * per + 1, (k + 1) * per, 0);
		snprintf(path, sizeof path, "%s/%s", rdir, name);
		tbw_test_write_file(path, img, len);
		tbw__free(img);
	}
	rss = tbw_test_tbrecover_rss(rdir, logdir);
	fprintf(stderr, "tbrecover over %zu segments of %zu ~1 MiB images: peak RSS %.1f MB\n", nseg, per,
	        (double)rss / 1024.0);
#ifndef UNDER_ASAN
	assert_true(rss <= 64 * 1024);
#endif
	{
		cu_scan s;
		size_t nrec = 0;
		memset(&s, 0, sizeof s);
		assert_int_equal(cu_scan_logdir(logdir, &s), 0);
		assert_int_equal(s.corrupt, 0);
		for (size_t i = 0; i < s.n; i++)
			nrec += s.ev[i].kind != TBW_EVENT_FILE_VERSION && s.ev[i].kind != TBW_EVENT_SESSION_START;
		assert_int_equal(nrec, per * nseg);
		cu_scan_free(&s);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_event_records_segment_round_trip_beside_scalars, setup, teardown),
		cmocka_unit_test_setup_teardown(test_event_records_are_shipped_and_restored_from_the_sync_folder, setup, teardown),
		cmocka_unit_test_setup_teardown(test_event_records_sync_attached_late_ships_every_record, setup, teardown),
		cmocka_unit_test_setup_teardown(test_event_records_come_back_from_event_files_read_back, setup, teardown),
		cmocka_unit_test_setup_teardown(test_event_records_survive_sigkill_locally_and_from_the_sync_folder, setup, teardown),
		cmocka_unit_test_setup_teardown(test_event_records_tbrecover_memory_bounded_over_segments_of_images, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
