/* fuzz_journal.c -- libFuzzer target: the journal record decoder, through
 * salvage's raw page scanner (the reader most exposed to a damaged journal:
 * it walks data.mdb page by page without trusting LMDB's tree).
 *
 * Input: one mode byte, then the bytes of a data.mdb.
 *   mode bit 0  fix up the CRC of every leaf node the scanner would read as
 *               a record (8-byte key, 32-byte value), a step or run record
 *               (8-byte key, kind 2 or 3), a tag (4-byte key) or
 *               a meta entry, so mutations reach the decoders past the CRCs
 *   mode bit 1  with TBW_FUZZ_LMDB=1 in the environment, run the whole
 *               tbw__journal_salvage (LMDB first) instead of the raw scan
 *               alone. Off by default: LMDB itself trusts its page structure
 *               and is not ours to harden (see doc/fuzzing.md).
 * Checks: records come out in strictly increasing sequence order (duplicate
 * copies dropped), each with a non-empty NUL-terminated tag or none (a START
 * marker); the counts returned match the records delivered; the run id's
 * hex form is terminated.
 */
#define _GNU_SOURCE
#include "fuzz_common.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "format/crc32c.h"
#include "journal/journal.h"

static char top[PATH_MAX], dbpath[PATH_MAX + 16];

static void cleanup(void)
{
	if (top[0])
		fuzz_rmrf(top);
}

static void setup(void)
{
	if (top[0])
		return;
	fuzz_mkdtemp(top, sizeof top, "journal");
	fuzz_fmt(dbpath, sizeof dbpath, "%s/data.mdb", top);
	atexit(cleanup);
}

static uint16_t le16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}

static uint32_t crc2(const uint8_t *a, size_t na, const uint8_t *b, size_t nb)
{
	return tbw__crc32c_mask(tbw__crc32c_extend(tbw__crc32c_extend(0, a, na), b, nb));
}

/* Mirrors the page walk of raw_scan() in src/journal/salvage.c. */
static void fix_crcs(uint8_t *b, size_t n)
{
	size_t psize = 4096;

	if (n >= 64 && fuzz_le32(b + 16) == 0xBEEFC0DEu) {
		uint32_t ps = fuzz_le32(b + 40);
		if (ps >= 512 && ps <= 65536 && (ps & (ps - 1)) == 0)
			psize = ps;
	}
	for (size_t off = 0; off + psize <= n; off += psize) {
		uint8_t *page = b + off;
		uint16_t flags = le16(page + 10), lower = le16(page + 12), upper = le16(page + 14);
		if ((flags & 0x7f) != 0x02 || lower < 16 || lower > psize || upper > psize || lower > upper)
			continue;
		for (size_t i = 0; i < (size_t)(lower - 16) / 2; i++) {
			uint16_t noff = le16(page + 16 + 2 * i);
			if (noff < upper || (size_t)noff + 8 > psize)
				continue;
			size_t ds = (size_t)le16(page + noff) | (size_t)le16(page + noff + 2) << 16;
			uint16_t nf = le16(page + noff + 4), ks = le16(page + noff + 6);
			if (nf != 0 || (size_t)noff + 8 + ks + ds > psize)
				continue;
			uint8_t *key = page + noff + 8, *val = key + ks;
			if (ks == 8 && ds == 32)
				put_be32(val + 28, crc2(key, 8, val, 28));
			else if (ks == 8 && ds >= 52 && (be32(val + 20) == 2 || be32(val + 20) == 3))   /* a step or run record */
				put_be32(val + ds - 4, crc2(key, 8, val, ds - 4));
			else if ((ks == 4 && ds >= 5) || (ks > 0 && ks < 32 && ds >= 4))
				put_be32(val + ds - 4, crc2(key, ks, val, ds - 4));
		}
	}
}

typedef struct sctx { uint64_t n, last; } sctx;

static int on_rec(void *ctx, const tbw_jrec_named *r)
{
	sctx *c = ctx;

	FUZZ_CHECK(c->n == 0 || r->seq > c->last, "seq %llu after %llu",
	           (unsigned long long)r->seq, (unsigned long long)c->last);
	if (r->tag) {
		FUZZ_CHECK(r->tag_len >= 1 && r->tag[r->tag_len] == 0, "tag of record %llu",
		           (unsigned long long)r->seq);
		FUZZ_CHECK(strlen(r->tag) <= r->tag_len, "tag length");
	}
	if (r->body_len) {
		/* an event record's body is readable whole (ASan checks the bytes) */
		volatile uint8_t x = 0;
		const uint8_t *b = r->body;
		FUZZ_CHECK(b != NULL && r->body_len <= ((size_t)1 << 30), "event body of record %llu",
		           (unsigned long long)r->seq);
		for (size_t i = 0; i < r->body_len; i += 512)
			x ^= b[i];
		x ^= b[r->body_len - 1];
		(void)x;
	}
	c->n++;
	c->last = r->seq;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int lmdb = -1;
	tbw_jinfo info;
	uint64_t nread = 99, ncorrupt = 99;
	sctx c = { 0, 0 };
	uint8_t *b;
	int rc;

	if (size < 1)
		return 0;
	if (lmdb < 0) {
		const char *e = getenv("TBW_FUZZ_LMDB");
		lmdb = e && *e == '1';
	}
	setup();
	b = malloc(size);
	FUZZ_CHECK(b != NULL, "out of memory");
	memcpy(b, data + 1, size - 1);
	if (data[0] & 1)
		fix_crcs(b, size - 1);
	fuzz_write_file(dbpath, b, size - 1);
	free(b);

	if ((data[0] & 2) && lmdb)
		rc = tbw__journal_salvage(top, on_rec, &c, &nread, &ncorrupt, &info);
	else
		rc = tbw__journal_salvage_raw(top, on_rec, &c, &nread, &ncorrupt, &info);
	FUZZ_CHECK(memchr(info.run_id_hex, 0, sizeof info.run_id_hex) != NULL, "run id hex");
	FUZZ_CHECK(memchr(info.host, 0, sizeof info.host) != NULL, "host");
	FUZZ_CHECK(memchr(info.logdir, 0, sizeof info.logdir) != NULL, "logdir");
	if (rc == 0)
		FUZZ_CHECK(nread == c.n, "nread %llu, delivered %llu",
		           (unsigned long long)nread, (unsigned long long)c.n);
	else
		FUZZ_CHECK(rc < 0, "rc %d", rc);
	return 0;
}
