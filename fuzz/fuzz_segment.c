/* fuzz_segment.c -- libFuzzer target: the segment reader.
 *
 * Input: one mode byte, then bytes.
 *   mode & 3 == 0  the bytes are a segment file, used as they are
 *   mode & 3 == 1  a segment file whose CRCs are fixed up (v1: header and
 *                  payload; v2: every block's two, walking blocks by their
 *                  comp_size, then the header's)
 *   mode & 3 >= 2  v1: an 88-byte header followed by a *raw* (inflated)
 *                  payload; v2: the header, one 80-byte block header, then
 *                  that block's raw payload. The target deflates it and fills
 *                  in the sizes and CRCs, so mutations reach the column decoder
 *   mode & 4       (modes 1-3) also restore into a journal: the header's run
 *                  id is set to the journal's before the CRCs are fixed
 * Checks: tbw__seg_read_header and tbw__seg_decode agree; a decoded segment
 * keeps every promise of doc/segment-format.md (with an intact header: every
 * record it counts is decoded or reported lost) and re-encodes to a segment
 * that decodes to the same records, bit for bit; tbw__sync_restore over a
 * folder holding the file as a segment reports it intact exactly when it
 * decodes, and hands over exactly its records.
 */
#define _GNU_SOURCE
#include "fuzz_common.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <zlib.h>

#include "base/alloc.h"
#include "format/crc32c.h"
#include "journal/journal.h"
#include "format/segment.h"
#include "sync/syncer.h"

static const uint8_t fixed_run[16] = { 0x66, 0x75, 0x7a, 0x7a, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12 };
static char top[PATH_MAX], run_dir[PATH_MAX + 64], jdir[PATH_MAX + 64];
static tbw_journal *jr;
static unsigned long runs_on_journal;

static void cleanup(void)
{
	tbw__journal_close(jr);
	jr = NULL;
	if (top[0])
		fuzz_rmrf(top);
}

static void setup(void)
{
	if (top[0])
		return;
	fuzz_mkdtemp(top, sizeof top, "segment");
	fuzz_fmt(run_dir, sizeof run_dir, "%s/run-66757a7a0102030405060708090a0b0c", top);
	fuzz_fmt(jdir, sizeof jdir, "%s/journal", top);
	FUZZ_CHECK(mkdir(run_dir, 0755) == 0, "mkdir %s", run_dir);
	atexit(cleanup);
}

static tbw_journal *journal(void)
{
	tbw_jopen cfg = TBW_JOPEN_INIT;

	/* A fresh journal now and then, so that one input's records do not
	 * decide another's fate for long. */
	if (jr && ++runs_on_journal % 512 == 0) {
		tbw__journal_close(jr);
		jr = NULL;
	}
	if (!jr) {
		fuzz_rmrf(jdir);
		cfg.create = 1;
		cfg.run_id = fixed_run;
		FUZZ_CHECK(tbw__journal_open(&jr, jdir, &cfg) == 0, "journal open: %s", tbw_errmsg());
	}
	return jr;
}

static void fix_crcs(uint8_t *b, size_t n)
{
	uint64_t comp;
	size_t pay;

	if (n < TBW_SEG_HEADER_SIZE)
		return;
	if (b[8] != 1) {
		/* v2: walk the blocks by their stated sizes, fixing both CRCs. */
		size_t pos = TBW_SEG_HEADER_SIZE;
		while (pos + TBW_SEG_BLOCK_HEADER_SIZE <= n) {
			uint8_t *bh = b + pos;
			size_t c = fuzz_le32(bh + 64), room = n - pos - TBW_SEG_BLOCK_HEADER_SIZE;
			if (c > room)
				c = room;
			fuzz_put_le32(bh + 72, tbw__crc32c_value(bh + TBW_SEG_BLOCK_HEADER_SIZE, c));
			fuzz_put_le32(bh + 76, tbw__crc32c_value(bh, 76));
			pos += TBW_SEG_BLOCK_HEADER_SIZE + c;
			if (c == 0)
				break;
		}
		fuzz_put_le32(b + 84, tbw__crc32c_value(b, 84));
		return;
	}
	comp = fuzz_le64(b + 64);
	pay = n - TBW_SEG_HEADER_SIZE;
	if (comp < pay)
		pay = (size_t)comp;
	fuzz_put_le32(b + 80, tbw__crc32c_value(b + TBW_SEG_HEADER_SIZE, pay));
	fuzz_put_le32(b + 84, tbw__crc32c_value(b, 84));
}

/* mode 2: header || raw payload -> header || deflate(raw payload). */
static uint8_t *deflate_raw(const uint8_t *in, size_t n, size_t *out_len)
{
	uLongf cl;
	uint8_t *b;

	if (n < TBW_SEG_HEADER_SIZE)
		return NULL;
	if (in[8] != 1) {
		/* v2: header || block header || raw -> one deflated block. */
		const size_t hb = TBW_SEG_HEADER_SIZE + TBW_SEG_BLOCK_HEADER_SIZE;
		if (n < hb)
			return NULL;
		cl = compressBound((uLong)(n - hb));
		b = malloc(hb + cl);
		FUZZ_CHECK(b != NULL, "out of memory");
		memcpy(b, in, hb);
		FUZZ_CHECK(compress2(b + hb, &cl, in + hb, (uLong)(n - hb), 6) == Z_OK, "compress2");
		fuzz_put_le32(b + TBW_SEG_HEADER_SIZE + 64, (uint32_t)cl);
		fuzz_put_le32(b + TBW_SEG_HEADER_SIZE + 68, (uint32_t)(n - hb));
		fuzz_put_le64(b + 64, TBW_SEG_BLOCK_HEADER_SIZE + cl);
		fuzz_put_le64(b + 72, n - hb);
		*out_len = hb + cl;
		return b;
	}
	cl = compressBound((uLong)(n - TBW_SEG_HEADER_SIZE));
	b = malloc(TBW_SEG_HEADER_SIZE + cl);
	FUZZ_CHECK(b != NULL, "out of memory");
	memcpy(b, in, TBW_SEG_HEADER_SIZE);
	FUZZ_CHECK(compress2(b + TBW_SEG_HEADER_SIZE, &cl, in + TBW_SEG_HEADER_SIZE,
	                     (uLong)(n - TBW_SEG_HEADER_SIZE), 6) == Z_OK, "compress2");
	fuzz_put_le64(b + 64, cl);
	fuzz_put_le64(b + 72, n - TBW_SEG_HEADER_SIZE);
	*out_len = TBW_SEG_HEADER_SIZE + cl;
	return b;
}

static uint64_t bits64(double d) { uint64_t u; memcpy(&u, &d, 8); return u; }

static int same_rec(const tbw_seg *a, size_t i, const tbw_seg *b, size_t k)
{
	const tbw_seg_rec *x = &a->recs[i], *y = &b->recs[k];

	if (x->seq != y->seq || x->step != y->step || bits64(x->wall_time) != bits64(y->wall_time) ||
	    bits64(x->value) != bits64(y->value) || (x->tag == 0) != (y->tag == 0) ||
	    x->body_len != y->body_len || (x->body_len && memcmp(x->body, y->body, x->body_len) != 0))
		return 0;
	if (x->tag == 0)
		return 1;
	return a->tags[x->tag - 1].len == b->tags[y->tag - 1].len &&
	       memcmp(a->tags[x->tag - 1].name, b->tags[y->tag - 1].name, a->tags[x->tag - 1].len) == 0;
}

static void check_decoded(const tbw_seg *s)
{
	tbw_seg s2;
	tbw_seg_damage d;
	uint8_t *enc = NULL;
	size_t elen = 0;
	int rc;

	if (s->nlost == 0 && !s->header_damaged) {
		FUZZ_CHECK(s->n == s->h.count && s->n >= 1 && s->ntags == s->h.ntags, "counts");
		FUZZ_CHECK(s->recs[0].seq == s->h.first_seq && s->recs[s->n - 1].seq == s->h.last_seq,
		           "seq range");
	}
	for (size_t l = 0; l < s->nlost; l++)
		FUZZ_CHECK(s->lost[l].first_seq <= s->lost[l].last_seq && s->lost[l].reason[0],
		           "lost range %zu", l);
	if (!s->header_damaged) {
		/* Every record an intact header counts is decoded or named as
		 * lost (unless damaged bytes left a lost count unknown). */
		uint64_t named = s->n;
		int unknown = 0;
		for (size_t l = 0; l < s->nlost; l++) {
			named += s->lost[l].records;
			if (s->lost[l].first_seq && !s->lost[l].records)
				unknown = 1;
		}
		FUZZ_CHECK(unknown || named >= s->h.count, "%llu of the header's %llu records decoded or reported lost",
		           (unsigned long long)named, (unsigned long long)s->h.count);
	}
	if (s->n == 0)
		return;   /* every block lost: nothing to re-encode */
	for (size_t i = 0; i < s->n; i++) {
		FUZZ_CHECK(i == 0 || s->recs[i].seq > s->recs[i - 1].seq, "seq order at %zu", i);
		FUZZ_CHECK(s->recs[i].tag <= s->ntags, "tag index %u of %zu", s->recs[i].tag, s->ntags);
		/* an event record's body lies inside the inflated payload. With a
		 * block lost, the header's raw_size no longer measures the buffer
		 * (the intact blocks are inflated back to back); the re-encode
		 * below reads every body, so ASan checks the bound there. */
		FUZZ_CHECK(!s->recs[i].body_len || (s->recs[i].body && s->recs[i].body >= s->raw &&
		           (s->nlost > 0 || s->header_damaged ||
		            s->recs[i].body + s->recs[i].body_len <= s->raw + s->h.raw_size)),
		           "event body of record %zu outside the payload", i);
	}
	for (size_t t = 0; t < s->ntags; t++)
		FUZZ_CHECK(tbw__seg_tag_ok(s->tags[t].name, s->tags[t].len), "tag %zu accepted but not ok", t);

	rc = tbw__seg_encode(s->h.run_id, s->h.level, s->recs, s->n, s->tags, s->ntags, &enc, &elen);
	FUZZ_CHECK(rc == 0, "a decoded segment does not re-encode: %s", tbw_errmsg());
	rc = tbw__seg_decode(enc, elen, &s2, &d);
	FUZZ_CHECK(rc == 0, "a re-encoded segment does not decode: %s", d.reason);
	/* Against the records, not s->h: with a block lost or the header
	 * damaged, the header's range is wider than what survived (the intact
	 * case was checked against the header above). */
	FUZZ_CHECK(s2.n == s->n && s2.h.first_seq == s->recs[0].seq && s2.h.last_seq == s->recs[s->n - 1].seq,
	           "re-encoded header");
	for (size_t i = 0; i < s->n; i++)
		FUZZ_CHECK(same_rec(s, i, &s2, i), "record %zu does not round-trip", i);
	tbw__seg_release(&s2);
	tbw__free(enc);
}

typedef struct rctx { uint64_t records; int damaged; } rctx;

static void on_damage(void *ctx, const char *file, uint64_t offset, int in_payload, int code,
                      const char *reason)
{
	(void)file; (void)offset; (void)in_payload; (void)code;
	FUZZ_CHECK(strlen(reason) < 4096, "reason");
	((rctx *)ctx)->damaged++;
}

static int on_record(void *ctx, const tbw_jrec_named *r)
{
	volatile char sink = 0;

	if (r->tag) {
		FUZZ_CHECK(r->tag_len >= 1 && r->tag_len <= 1024, "tag length %zu", r->tag_len);
		for (size_t i = 0; i < r->tag_len; i++)
			sink ^= r->tag[i];
	}
	(void)sink;
	((rctx *)ctx)->records++;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	tbw_seg_header h;
	tbw_seg_damage d;
	tbw_seg s;
	tbw_sync_restore_opts o = TBW_SYNC_RESTORE_OPTS_INIT;
	tbw_sync_report rep;
	rctx rc_ctx = { 0, 0 };
	char name[TBW_SEG_NAME_MAX], path[PATH_MAX + 128];
	uint8_t *b;
	size_t n;
	int mode, hrc, drc, rrc, into_journal;

	if (size < 1)
		return 0;
	setup();
	mode = data[0];
	data++;
	size--;
	into_journal = (mode & 4) && (mode & 3) != 0 && size >= TBW_SEG_HEADER_SIZE;
	if ((mode & 3) >= 2) {
		b = deflate_raw(data, size, &n);
		if (!b)
			return 0;
	} else {
		n = size;
		b = malloc(n ? n : 1);
		FUZZ_CHECK(b != NULL, "out of memory");
		memcpy(b, data, n);
	}
	if (into_journal) {
		memcpy(b + 16, fixed_run, 16);
		if (b[8] != 1) {
			/* v2: every block names the run too */
			size_t pos = TBW_SEG_HEADER_SIZE;
			while (pos + TBW_SEG_BLOCK_HEADER_SIZE <= n && !memcmp(b + pos, TBW_SEG_BLOCK_MAGIC, 4)) {
				size_t c = fuzz_le32(b + pos + 64), room = n - pos - TBW_SEG_BLOCK_HEADER_SIZE;
				memcpy(b + pos + 8, fixed_run, 16);
				if (c == 0 || c > room)
					break;
				pos += TBW_SEG_BLOCK_HEADER_SIZE + c;
			}
		}
	}
	if (mode & 3)
		fix_crcs(b, n);

	hrc = tbw__seg_read_header(b, n, &h, &d);
	drc = tbw__seg_decode(b, n, &s, &d);
	size_t dn = 0, dlost = 0;
	int ours = 0;
	if (drc == 0) {
		FUZZ_CHECK(hrc == 0 || s.header_damaged, "decodes but its header does not read");
		check_decoded(&s);
		dn = s.n;
		dlost = s.nlost;
		/* The folder is named for fixed_run: restore takes its run from
		 * the name, and a segment of another run is foreign. */
		ours = memcmp(s.h.run_id, fixed_run, 16) == 0;
		tbw__seg_release(&s);
	}

	/* The same bytes as a file of a sync folder. */
	if (hrc == 0 && h.first_seq >= 1 && h.first_seq <= h.last_seq && h.level <= 99)
		tbw__seg_name(name, h.first_seq, h.last_seq, h.level);
	else
		tbw__seg_name(name, 1, 1, 0);
	fuzz_fmt(path, sizeof path, "%s/%s", run_dir, name);
	fuzz_write_file(path, b, n);
	o.on_damage = on_damage;
	o.on_record = on_record;
	o.ctx = &rc_ctx;
	rrc = tbw__sync_restore(run_dir, into_journal ? journal() : NULL, &o, &rep);
	FUZZ_CHECK(rrc == 0, "restore failed: %s", tbw_errmsg());
	FUZZ_CHECK(rep.segments_ok + rep.segments_bad + rep.segments_foreign >= 1 &&
	           rep.segments_ok + rep.segments_bad + rep.segments_foreign <= 2 &&
	           rep.files_ignored == 0,
	           "one segment file: %u ok, %u bad, %u ignored", rep.segments_ok, rep.segments_bad,
	           rep.files_ignored);
	if (drc == 0 && !ours) {
		FUZZ_CHECK(rep.segments_foreign == 1 && rc_ctx.records == 0,
		           "a segment of another run is not set aside");
	} else if (drc == 0 && dlost == 0) {
		FUZZ_CHECK(rep.segments_ok == 1 && rc_ctx.damaged == 0, "a segment that decodes is damaged to restore");
		FUZZ_CHECK(rep.records == h.count && rc_ctx.records == h.count, "restore read %llu of %llu records",
		           (unsigned long long)rep.records, (unsigned long long)h.count);
	} else if (drc == 0 && dlost) {
		/* v2 with lost blocks: each lost range reported, the rest read
		 * (unless the run id or a tag name is refused: then nothing). */
		FUZZ_CHECK(rep.segments_bad >= 1 && rep.blocks_lost == dlost && rc_ctx.damaged >= (int)dlost,
		           "lost blocks not reported: %u of %zu", rep.blocks_lost, dlost);
		FUZZ_CHECK(rc_ctx.records == 0 || rc_ctx.records == dn, "restore read %llu of %zu records",
		           (unsigned long long)rc_ctx.records, dn);
	} else {
		FUZZ_CHECK(rep.segments_bad == 1 && rc_ctx.damaged == 1 && rc_ctx.records == 0,
		           "a segment that does not decode is restored");
	}
	tbw__sync_report_free(&rep);
	unlink(path);
	free(b);
	return 0;
}
