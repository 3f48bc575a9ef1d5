/* segment.c -- encode and decode sync segments (the only user of <zlib.h>).
 *
 * Format: see doc/segment-format.md.
 *
 * DESIGN
 *  A segment is an 88-byte little-endian header followed by one zlib stream.
 *  Before compression the records are laid out column by column (seq deltas,
 *  tag indexes, per-tag step deltas, wall_time bit-pattern deltas, and
 *  per-tag XOR'd values split into byte planes), because each column is
 *  regular on its own and deflate then finds long runs: a realistic mix costs
 *  a few bytes per scalar instead of the ~40 of a row layout.
 *
 * INVARIANTS
 *  - Lossless: wall_time and value are restored bit for bit (NaN payloads,
 *    -0.0, infinities), steps over the whole int64 range (deltas wrap).
 *  - The decoder allocates only after the header's sizes passed their caps
 *    (TBW_SEG_MAX_*), inflates into exactly raw_size bytes, and checks every
 *    varint, index and count against the bytes that are really there.
 */
#include "config.h"
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <zlib.h>
#include "base/alloc.h"
#include "base/bytes.h"
#include "format/crc32c.h"
#include "base/error.h"
#include "format/segment.h"
#include "base/tagname.h"

#define OP_ENC "segment encode"
#define OP_DEC "segment decode"

/* ---- Little-endian and varint helpers ---- */

static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }

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

static uint64_t zigzag(uint64_t delta) /* delta is a wrapped int64 difference */
{
	return (delta << 1) ^ (uint64_t)((int64_t)delta >> 63);
}
static uint64_t unzigzag(uint64_t z)
{
	return (z >> 1) ^ (uint64_t)-(int64_t)(z & 1);
}

static uint64_t dbits(double d) { uint64_t u; memcpy(&u, &d, 8); return u; }
static double bitsd(uint64_t u) { double d; memcpy(&d, &u, 8); return d; }

/* A bounded reader over the inflated payload. */
typedef struct rd {
	const uint8_t *p;
	size_t len, off;
	int bad;
	tbw_seg_damage *d;
} rd;

static void rd_fail(rd *r, const char *why)
{
	if (r->bad)
		return;
	r->bad = 1;
	if (r->d) {
		r->d->offset = r->off;
		r->d->in_payload = 1;
		snprintf(r->d->reason, sizeof r->d->reason, "%s", why);
	}
}

static __attribute__((noinline)) uint64_t rd_varint_long(rd *r, const char *what)
{
	uint64_t v = 0;
	for (int shift = 0; shift < 64; shift += 7) {
		if (r->off >= r->len) {
			rd_fail(r, what);
			return 0;
		}
		uint8_t b = r->p[r->off++];
		if (shift == 63 && b > 1) {
			rd_fail(r, what);
			return 0;
		}
		v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80))
			return v;
	}
	rd_fail(r, what);
	return 0;
}

/* A varint: most columns' values fit one byte (deltas, tag indices). */
static inline uint64_t rd_varint(rd *r, const char *what)
{
	if (__builtin_expect(r->off < r->len && r->p[r->off] < 0x80, 1))
		return r->p[r->off++];
	return rd_varint_long(r, what);
}

/* ---- Names and tags ---- */

void tbw__seg_name(char *buf, uint64_t first, uint64_t last, uint32_t level)
{
	tbw__seg_name_gen(buf, first, last, level, 0);
}

void tbw__seg_name_gen(char *buf, uint64_t first, uint64_t last, uint32_t level, uint32_t gen)
{
	if (gen > TBW_SEG_MAX_GENERATION)
		gen = TBW_SEG_MAX_GENERATION;
	if (gen == 0)
		snprintf(buf, TBW_SEG_NAME_MAX, "seg-%016llx-%016llx-L%u.tbws",
		         (unsigned long long)first, (unsigned long long)last,
		         (unsigned)(level > 99 ? 99 : level));
	else
		snprintf(buf, TBW_SEG_NAME_MAX, "seg-%016llx-%016llx-L%u-g%u.tbws",
		         (unsigned long long)first, (unsigned long long)last,
		         (unsigned)(level > 99 ? 99 : level), (unsigned)gen);
}

static int parse_hex16(const char *s, uint64_t *out)
{
	uint64_t v = 0;
	for (int i = 0; i < 16; i++) {
		char c = s[i];
		int x;
		if (c >= '0' && c <= '9')
			x = c - '0';
		else if (c >= 'a' && c <= 'f')
			x = c - 'a' + 10;
		else
			return 0;
		v = (v << 4) | (uint64_t)x;
	}
	*out = v;
	return 1;
}

int tbw__seg_parse_name(const char *name, uint64_t *first, uint64_t *last,
                        uint32_t *level)
{
	uint32_t gen;
	return tbw__seg_parse_name_gen(name, first, last, level, &gen);
}

int tbw__seg_parse_name_gen(const char *name, uint64_t *first, uint64_t *last,
                            uint32_t *level, uint32_t *gen)
{
	uint32_t g = 0;
	uint64_t a, b;
	uint32_t lv = 0;
	const char *p = name;
	if (strncmp(p, "seg-", 4) != 0)
		return 0;
	p += 4;
	if (!parse_hex16(p, &a) || p[16] != '-')
		return 0;
	p += 17;
	if (!parse_hex16(p, &b) || p[16] != '-' || p[17] != 'L')
		return 0;
	p += 18;
	if (!(p[0] >= '0' && p[0] <= '9'))
		return 0;
	lv = (uint32_t)(p[0] - '0');
	p++;
	if (p[0] >= '0' && p[0] <= '9') {
		if (lv == 0)
			return 0;  /* no leading zeros: one name per level */
		lv = lv * 10 + (uint32_t)(p[0] - '0');
		p++;
	}
	if (p[0] == '-' && p[1] == 'g') {
		p += 2;
		if (!(p[0] >= '1' && p[0] <= '9'))
			return 0;  /* generation 0 has no suffix; no leading zeros */
		for (int k = 0; p[0] >= '0' && p[0] <= '9'; k++, p++) {
			if (k == 8)
				return 0;
			g = g * 10 + (uint32_t)(p[0] - '0');
		}
	}
	if (strcmp(p, ".tbws") != 0 || a > b || a == 0)
		return 0;
	*first = a;
	*last = b;
	*level = lv;
	*gen = g;
	return 1;
}

int tbw__seg_tag_ok(const char *name, size_t len)
{
	return tbw__tagname_check(name, len, NULL, 0) == 0;
}

/* ---- zlib glue: allocations go through tbw__malloc ---- */

static voidpf z_alloc(voidpf opaque, uInt items, uInt size)
{
	(void)opaque;
	if (size && items > SIZE_MAX / size)
		return Z_NULL;
	return tbw__malloc((size_t)items * size);
}
static void z_free(voidpf opaque, voidpf p) { (void)opaque; tbw__free(p); }

/* ---- Encoder ---- */

/* Lay out records recs[0..n) as the columns of one payload (v1's whole
 * payload, v2's one block): raw is tbw__malloc'd, *nused the tags written.
 * map/order are scratch of ntags + 1 entries, zeroed by the caller. */
static int encode_cols(const tbw_seg_rec *recs, size_t n, const tbw_seg_tag *tags,
                       size_t ntags, uint32_t *map, uint32_t *order, uint8_t **raw_out,
                       size_t *raw_len, size_t *nused)
{
	uint64_t *pstep = NULL, *pval = NULL;
	uint8_t *raw = NULL;
	size_t used = 0, cap = 16, off = 0, i;
	uint64_t prev_wall = 0;
	int rc = TBW_OK;

	(void)ntags;
	for (i = 0; i < n; i++) {
		uint32_t t = recs[i].tag;
		if (t && !map[t]) {
			if (!tbw__seg_tag_ok(tags[t - 1].name, tags[t - 1].len))
				return tbw__error_set(TBW_EINVAL, OP_ENC, NULL, "tag %u is not a valid tag name",
				                      (unsigned)t);
			map[t] = (uint32_t)++used;
			order[used - 1] = t;
			cap += 10 + tags[t - 1].len;
		}
	}
	cap += n * 43;  /* at most 10+5+10+10 varint bytes and 8 value bytes each */
	raw = tbw__malloc(cap);
	pstep = tbw__calloc(used + 1, sizeof *pstep);
	pval = tbw__calloc(used + 1, sizeof *pval);
	if (!raw || !pstep || !pval) {
		rc = tbw__error_set(TBW_ENOMEM, OP_ENC, NULL, "out of memory");
		goto out;
	}
	/* Tag table. */
	off += put_varint(raw + off, used);
	for (i = 0; i < used; i++) {
		const tbw_seg_tag *t = &tags[order[i] - 1];
		off += put_varint(raw + off, t->len);
		memcpy(raw + off, t->name, t->len);
		off += t->len;
	}
	/* seq: deltas minus one (0 for dense runs). */
	for (i = 1; i < n; i++)
		off += put_varint(raw + off, recs[i].seq - recs[i - 1].seq - 1);
	/* tag index in the payload's table. */
	for (i = 0; i < n; i++)
		off += put_varint(raw + off, recs[i].tag ? map[recs[i].tag] : 0);
	/* step: zigzag of the wrapped delta from the same tag's previous step. */
	for (i = 0; i < n; i++) {
		uint32_t t = recs[i].tag ? map[recs[i].tag] : 0;
		uint64_t s = (uint64_t)recs[i].step;
		off += put_varint(raw + off, zigzag(s - pstep[t]));
		pstep[t] = s;
	}
	/* wall_time: zigzag of the wrapped delta of the IEEE bit patterns. */
	for (i = 0; i < n; i++) {
		uint64_t w = dbits(recs[i].wall_time);
		off += put_varint(raw + off, zigzag(w - prev_wall));
		prev_wall = w;
	}
	/* value: bits XOR the same tag's previous value, as 8 byte planes
	 * (most significant first). */
	{
		uint8_t *planes = raw + off;
		for (i = 0; i < n; i++) {
			uint32_t t = recs[i].tag ? map[recs[i].tag] : 0;
			uint64_t v = dbits(recs[i].value);
			uint64_t x = v ^ pval[t];
			pval[t] = v;
			for (int b = 0; b < 8; b++)
				planes[(size_t)b * n + i] = (uint8_t)(x >> (56 - 8 * b));
		}
		off += 8 * n;
	}
	*raw_out = raw;
	*raw_len = off;
	*nused = used;
	raw = NULL;
out:
	tbw__free(raw);
	tbw__free(pstep);
	tbw__free(pval);
	return rc;
}

/* Deflate src into dst (room for deflateBound bytes); *out_len the size. */
static int deflate_into(const uint8_t *src, size_t len, uint8_t *dst, size_t cap, size_t *out_len)
{
	z_stream z;
	int zr;
	memset(&z, 0, sizeof z);
	z.zalloc = z_alloc;
	z.zfree = z_free;
	if (deflateInit(&z, 6) != Z_OK)
		return tbw__error_set(TBW_ENOMEM, OP_ENC, NULL, "out of memory");
	z.next_in = (Bytef *)(uintptr_t)src;
	z.avail_in = (uInt)len;
	z.next_out = dst;
	z.avail_out = (uInt)cap;
	zr = deflate(&z, Z_FINISH);
	*out_len = (size_t)z.total_out;
	deflateEnd(&z);
	if (zr != Z_STREAM_END)
		return tbw__error_set(zr == Z_MEM_ERROR ? TBW_ENOMEM : TBW_ERROR, OP_ENC, NULL,
		                      "deflate failed (%d)", zr);
	return TBW_OK;
}

static size_t deflate_bound(size_t len)
{
	/* zlib's compressBound plus the zlib wrapper, generously. */
	return len + (len >> 12) + (len >> 14) + (len >> 25) + 13 + 6 + 64;
}

/* Lay out event records recs[0..n) as one kind-2 block's rows:
 * tagtable { [varint(seq delta - 1)] varint(tag) zvarint(step delta)
 * zvarint(wall bits delta) varint(body_len) body }*n. */
static int encode_events(const tbw_seg_rec *recs, size_t n, const tbw_seg_tag *tags,
                         uint32_t *map, uint32_t *order, uint8_t **raw_out,
                         size_t *raw_len, size_t *nused)
{
	uint64_t *pstep = NULL, prev_wall = 0;
	uint8_t *raw = NULL;
	size_t used = 0, cap = 16, off = 0, i;
	int rc = TBW_OK;

	for (i = 0; i < n; i++) {
		uint32_t t = recs[i].tag;
		if (!recs[i].body || recs[i].body_len == 0)
			return tbw__error_set(TBW_EINVAL, OP_ENC, NULL, "event record %llu has no body",
			                      (unsigned long long)recs[i].seq);
		if (t && !map[t]) {
			if (!tbw__seg_tag_ok(tags[t - 1].name, tags[t - 1].len))
				return tbw__error_set(TBW_EINVAL, OP_ENC, NULL, "tag %u is not a valid tag name",
				                      (unsigned)t);
			map[t] = (uint32_t)++used;
			order[used - 1] = t;
			cap += 10 + tags[t - 1].len;
		}
		cap += 45 + (size_t)recs[i].body_len;
	}
	raw = tbw__malloc(cap);
	pstep = tbw__calloc(used + 1, sizeof *pstep);
	if (!raw || !pstep) {
		rc = tbw__error_set(TBW_ENOMEM, OP_ENC, NULL, "out of memory");
		goto out;
	}
	off += put_varint(raw + off, used);
	for (i = 0; i < used; i++) {
		const tbw_seg_tag *t = &tags[order[i] - 1];
		off += put_varint(raw + off, t->len);
		memcpy(raw + off, t->name, t->len);
		off += t->len;
	}
	for (i = 0; i < n; i++) {
		uint32_t t = recs[i].tag ? map[recs[i].tag] : 0;
		uint64_t st = (uint64_t)recs[i].step, w = dbits(recs[i].wall_time);
		if (i)
			off += put_varint(raw + off, recs[i].seq - recs[i - 1].seq - 1);
		off += put_varint(raw + off, t);
		off += put_varint(raw + off, zigzag(st - pstep[t]));
		pstep[t] = st;
		off += put_varint(raw + off, zigzag(w - prev_wall));
		prev_wall = w;
		off += put_varint(raw + off, recs[i].body_len);
		memcpy(raw + off, recs[i].body, recs[i].body_len);
		off += recs[i].body_len;
	}
	*raw_out = raw;
	*raw_len = off;
	*nused = used;
	raw = NULL;
out:
	tbw__free(raw);
	tbw__free(pstep);
	return rc;
}

int tbw__seg_blockcount_add(tbw_seg_blockcount *b, uint32_t body_len)
{
	int ev = body_len > 0;

	if (b->blocks && b->in_block < TBW_SEG_BLOCK_RECORDS && ev == b->ev &&
	    !(ev && b->evbytes + body_len > TBW_SEG_EVENT_BLOCK_RAW)) {
		b->in_block++;
		b->evbytes += body_len;
		return 0;
	}
	b->blocks++;
	b->in_block = 1;
	b->ev = ev;
	b->evbytes = body_len;
	return 1;
}

int tbw__seg_encode(const uint8_t run_id[16], uint32_t level,
                    const tbw_seg_rec *recs, size_t n,
                    const tbw_seg_tag *tags, size_t ntags,
                    uint8_t **out, size_t *out_len)
{
	uint32_t *map = NULL;      /* caller tag index -> block tag index (0: unused) */
	uint32_t *order = NULL;    /* block tag index - 1 -> caller tag index */
	uint8_t *file = NULL;
	size_t cap = 0, off = TBW_SEG_HEADER_SIZE, i, nblocks = 0;
	uint64_t raw_total = 0, tags_total = 0;
	int rc = TBW_OK;

	*out = NULL;
	*out_len = 0;
	if (n == 0 || n > TBW_SEG_MAX_RECORDS)
		return tbw__error_set(TBW_EINVAL, OP_ENC, NULL, "%zu records (1..%u allowed)",
		                      n, TBW_SEG_MAX_RECORDS);
	if (level > 99)
		return tbw__error_set(TBW_EINVAL, OP_ENC, NULL, "level %u > 99", (unsigned)level);
	for (i = 0; i < n; i++) {
		if (recs[i].seq == 0 || (i && recs[i].seq <= recs[i - 1].seq))
			return tbw__error_set(TBW_EINVAL, OP_ENC, NULL,
			                      "record %zu: seq %llu not increasing", i,
			                      (unsigned long long)recs[i].seq);
		if (recs[i].tag > ntags)
			return tbw__error_set(TBW_EINVAL, OP_ENC, NULL,
			                      "record %zu: tag index %u out of %zu", i,
			                      (unsigned)recs[i].tag, ntags);
	}
	map = tbw__calloc(ntags + 1, sizeof *map);
	order = tbw__calloc(ntags + 1, sizeof *order);
	if (!map || !order) {
		rc = tbw__error_set(TBW_ENOMEM, OP_ENC, NULL, "out of memory");
		goto out;
	}
	for (size_t b0 = 0, bn; b0 < n; b0 += bn) {
		/* A block: the records tbw__seg_blockcount_add puts in one. */
		const tbw_seg_rec *br = recs + b0;
		tbw_seg_blockcount bc = { 0, 0, 0, 0 };
		int ev;
		uint64_t evbytes;
		uint8_t *raw = NULL, *h;
		size_t rawlen = 0, used = 0, comp = 0, need;
		int64_t mn = br[0].step, mx = br[0].step;

		tbw__seg_blockcount_add(&bc, br[0].body_len);
		for (bn = 1; b0 + bn < n; bn++) {
			tbw_seg_blockcount next = bc;
			if (tbw__seg_blockcount_add(&next, br[bn].body_len))
				break;
			bc = next;
		}
		ev = bc.ev;
		evbytes = bc.evbytes;
		if (ev && (bn > 1 ? evbytes + 45 * (uint64_t)bn > TBW_SEG_MAX_RAW
		                  : evbytes + 64 + 1024 > TBW_SEG_EVENT_MAX_RAW)) {
			rc = tbw__error_set(TBW_EINVAL, OP_ENC, NULL, "event record %llu of %u bytes is too large",
			                    (unsigned long long)br[0].seq, (unsigned)br[0].body_len);
			goto out;
		}
		if (ev)
			rc = encode_events(br, bn, tags, map, order, &raw, &rawlen, &used);
		else
			rc = encode_cols(br, bn, tags, ntags, map, order, &raw, &rawlen, &used);
		for (i = 0; i < used; i++)
			map[order[i]] = 0;  /* scratch back to zero for the next block */
		if (rc)
			goto out;
		need = off + TBW_SEG_BLOCK_HEADER_SIZE + deflate_bound(rawlen);
		if (need > cap) {
			size_t nc = cap ? cap : 4096;
			while (nc < need)
				nc *= 2;
			uint8_t *nf = tbw__realloc(file, nc);
			if (!nf) {
				tbw__free(raw);
				rc = tbw__error_set(TBW_ENOMEM, OP_ENC, NULL, "out of memory");
				goto out;
			}
			file = nf;
			cap = nc;
		}
		h = file + off;
		rc = deflate_into(raw, rawlen, h + TBW_SEG_BLOCK_HEADER_SIZE,
		                  cap - off - TBW_SEG_BLOCK_HEADER_SIZE, &comp);
		tbw__free(raw);
		if (rc)
			goto out;
		for (i = 1; i < bn; i++) {
			if (br[i].step < mn)
				mn = br[i].step;
			if (br[i].step > mx)
				mx = br[i].step;
		}
		memcpy(h, TBW_SEG_BLOCK_MAGIC, 4);
		h[4] = (uint8_t)(ev ? TBW_SEG_KIND_EVENT : TBW_SEG_KIND_SCALAR);
		h[5] = 0;
		put16(h + 6, TBW_SEG_BLOCK_HEADER_SIZE);
		memcpy(h + 8, run_id, 16);
		tbw__put_le64(h + 24, br[0].seq);
		tbw__put_le64(h + 32, br[bn - 1].seq);
		tbw__put_le64(h + 40, (uint64_t)mn);
		tbw__put_le64(h + 48, (uint64_t)mx);
		tbw__put_le32(h + 56, (uint32_t)bn);
		tbw__put_le32(h + 60, (uint32_t)used);
		tbw__put_le32(h + 64, (uint32_t)comp);
		tbw__put_le32(h + 68, (uint32_t)rawlen);
		tbw__put_le32(h + 72, tbw__crc32c_value(h + TBW_SEG_BLOCK_HEADER_SIZE, comp));
		tbw__put_le32(h + 76, tbw__crc32c_value(h, 76));
		off += TBW_SEG_BLOCK_HEADER_SIZE + comp;
		raw_total += rawlen;
		tags_total += used;
		nblocks++;
	}
	if (nblocks > TBW_SEG_MAX_BLOCKS) {
		rc = tbw__error_set(TBW_EINVAL, OP_ENC, NULL, "%zu blocks (records of alternating kinds) exceed "
		                    "the %u a segment may hold", nblocks, TBW_SEG_MAX_BLOCKS);
		goto out;
	}
	if (raw_total > TBW_SEG_MAX_RAW_ALL || off - TBW_SEG_HEADER_SIZE > TBW_SEG_MAX_COMP) {
		rc = tbw__error_set(TBW_EINVAL, OP_ENC, NULL, "payload %llu bytes (%llu compressed) exceeds %llu",
		                    (unsigned long long)raw_total, (unsigned long long)(off - TBW_SEG_HEADER_SIZE),
		                    (unsigned long long)TBW_SEG_MAX_RAW_ALL);
		goto out;
	}
	{
		uint8_t *h = file;
		memcpy(h, TBW_SEG_MAGIC, 8);
		put16(h + 8, TBW_SEG_VERSION);
		put16(h + 10, TBW_SEG_HEADER_SIZE);
		tbw__put_le32(h + 12, 0);
		memcpy(h + 16, run_id, 16);
		tbw__put_le64(h + 32, recs[0].seq);
		tbw__put_le64(h + 40, recs[n - 1].seq);
		tbw__put_le64(h + 48, n);
		tbw__put_le32(h + 56, (uint32_t)tags_total);
		tbw__put_le32(h + 60, level);
		tbw__put_le64(h + 64, off - TBW_SEG_HEADER_SIZE);
		tbw__put_le64(h + 72, raw_total);
		tbw__put_le32(h + 80, (uint32_t)nblocks);
		tbw__put_le32(h + 84, tbw__crc32c_value(h, 84));
	}
	*out = file;
	*out_len = off;
	file = NULL;
out:
	tbw__free(file);
	tbw__free(map);
	tbw__free(order);
	return rc;
}

/* ---- Decoder ---- */

static int damage(tbw_seg_damage *d, int code, uint64_t off, int in_payload,
                  const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static int damage(tbw_seg_damage *d, int code, uint64_t off, int in_payload,
                  const char *fmt, ...)
{
	char why[160];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, sizeof why, fmt, ap);
	va_end(ap);
	if (d) {
		d->offset = off;
		d->in_payload = in_payload;
		snprintf(d->reason, sizeof d->reason, "%s", why);
	}
	return tbw__error_set(code, OP_DEC, NULL, "%s at %s offset %llu", why,
	                      in_payload ? "payload" : "file", (unsigned long long)off);
}

int tbw__seg_read_header(const uint8_t *buf, size_t len, tbw_seg_header *h,
                         tbw_seg_damage *d)
{
	size_t m = len < 8 ? len : 8;
	memset(h, 0, sizeof *h);
	if (memcmp(buf, TBW_SEG_MAGIC, m) != 0)
		return damage(d, TBW_ECORRUPT, 0, 0, "bad magic");
	if (len < TBW_SEG_HEADER_SIZE)
		return damage(d, TBW_ETRUNCATED, len, 0, "file ends inside the %d-byte header",
		              TBW_SEG_HEADER_SIZE);
	if (tbw__get_le32(buf + 84) != tbw__crc32c_value(buf, 84))
		return damage(d, TBW_ECORRUPT, 84, 0, "header checksum mismatch");
	h->version = tbw__get_le16(buf + 8);
	if (h->version < TBW_SEG_VERSION_MIN || h->version > TBW_SEG_VERSION)
		return damage(d, h->version > TBW_SEG_VERSION ? TBW_EVERSION : TBW_ECORRUPT, 8, 0,
		              "format version %u (this reader knows %u..%u)", h->version,
		              TBW_SEG_VERSION_MIN, TBW_SEG_VERSION);
	if (tbw__get_le16(buf + 10) != TBW_SEG_HEADER_SIZE)
		return damage(d, TBW_ECORRUPT, 10, 0, "header size %u", tbw__get_le16(buf + 10));
	if (tbw__get_le32(buf + 12) != 0)
		return damage(d, TBW_ECORRUPT, 12, 0, "unknown flags 0x%x", tbw__get_le32(buf + 12));
	memcpy(h->run_id, buf + 16, 16);
	h->first_seq = tbw__get_le64(buf + 32);
	h->last_seq = tbw__get_le64(buf + 40);
	h->count = tbw__get_le64(buf + 48);
	h->ntags = tbw__get_le32(buf + 56);
	h->level = tbw__get_le32(buf + 60);
	h->comp_size = tbw__get_le64(buf + 64);
	h->raw_size = tbw__get_le64(buf + 72);
	if (h->version == 1)
		h->payload_crc = tbw__get_le32(buf + 80);
	else
		h->nblocks = tbw__get_le32(buf + 80);
	if (h->first_seq == 0 || h->first_seq > h->last_seq)
		return damage(d, TBW_ECORRUPT, 32, 0, "bad sequence range");
	if (h->count == 0 || h->count > TBW_SEG_MAX_RECORDS ||
	    h->count - 1 > h->last_seq - h->first_seq)
		return damage(d, TBW_ECORRUPT, 48, 0, "record count %llu does not fit the range",
		              (unsigned long long)h->count);
	if (h->ntags > h->count)
		return damage(d, TBW_ECORRUPT, 56, 0, "%u tags for %llu records",
		              (unsigned)h->ntags, (unsigned long long)h->count);
	if (h->level > 99)
		return damage(d, TBW_ECORRUPT, 60, 0, "level %u", (unsigned)h->level);
	if (h->comp_size == 0 || h->comp_size > TBW_SEG_MAX_COMP)
		return damage(d, TBW_ECORRUPT, 64, 0, "compressed size %llu out of bounds",
		              (unsigned long long)h->comp_size);
	/* Each record needs at least 12 payload bytes (5 one-byte varints minus
	 * the first seq's, 8 value bytes) and each tag at least 2. */
	/* Version 2 may hold event records (kind 2 blocks): at least 4 bytes
	 * each, and one block of one record may reach TBW_SEG_EVENT_MAX_RAW. */
	if (h->raw_size > (h->version == 1 ? TBW_SEG_MAX_RAW : TBW_SEG_MAX_RAW_ALL) ||
	    h->raw_size < (h->version == 1 ? 12 : 4) * h->count + 2 * (uint64_t)h->ntags ||
	    h->raw_size > h->comp_size * TBW_SEG_MAX_RATIO)
		return damage(d, TBW_ECORRUPT, 72, 0, "uncompressed size %llu out of bounds",
		              (unsigned long long)h->raw_size);
	if (h->version >= 2 &&
	    (h->nblocks == 0 || h->nblocks > TBW_SEG_MAX_BLOCKS || h->nblocks > h->count ||
	     h->comp_size < (uint64_t)h->nblocks * (TBW_SEG_BLOCK_HEADER_SIZE + 1)))
		return damage(d, TBW_ECORRUPT, 80, 0, "block count %u out of bounds",
		              (unsigned)h->nblocks);
	return TBW_OK;
}

void tbw__seg_release(tbw_seg *s)
{
	if (!s)
		return;
	tbw__free(s->lost);
	tbw__free(s->recs);
	tbw__free(s->tags);
	tbw__free(s->raw);
	memset(s, 0, sizeof *s);
}

/* s's record array (n, zeroed) and payload buffer (raw bytes): old's when
 * they are big enough (old gives them up), else new. 0 or TBW_ENOMEM. */
static int take_arrays(tbw_seg *s, tbw_seg *old, size_t n, size_t raw)
{
	if (old && old->recs && old->recs_cap >= n) {
		s->recs = old->recs;
		s->recs_cap = old->recs_cap;
		old->recs = NULL;
		memset(s->recs, 0, n * sizeof *s->recs);
	} else if ((s->recs = tbw__calloc(n, sizeof *s->recs)) != NULL) {
		s->recs_cap = n;
	}
	if (old && old->raw && old->raw_cap >= raw) {
		s->raw = old->raw;
		s->raw_cap = old->raw_cap;
		old->raw = NULL;
	} else if ((s->raw = tbw__malloc(raw)) != NULL) {
		s->raw_cap = raw;
	}
	return s->recs && s->raw ? TBW_OK : TBW_ENOMEM;
}

/* base: file offset of src, for damage reports. */
static int inflate_payload(const uint8_t *src, size_t comp, uint8_t *dst, size_t raw,
                           uint64_t base, tbw_seg_damage *d)
{
	z_stream z;
	int zr;
	memset(&z, 0, sizeof z);
	z.zalloc = z_alloc;
	z.zfree = z_free;
	if (inflateInit(&z) != Z_OK)
		return tbw__error_set(TBW_ENOMEM, OP_DEC, NULL, "out of memory");
	z.next_in = (Bytef *)(uintptr_t)src;
	z.avail_in = (uInt)comp;
	z.next_out = dst;
	z.avail_out = (uInt)raw;
	zr = inflate(&z, Z_FINISH);
	if (zr == Z_STREAM_END && (z.total_out != raw || z.total_in != comp)) {
		uint64_t at = base + z.total_in;
		int short_out = z.total_out != raw;
		inflateEnd(&z);
		return damage(d, TBW_ECORRUPT, at, 0, short_out
		              ? "payload inflates to fewer bytes than the header says"
		              : "bytes after the end of the compressed stream");
	}
	if (zr != Z_STREAM_END) {
		uint64_t at = base + z.total_in;
		const char *msg = z.msg ? z.msg : "stream does not end where the header says";
		inflateEnd(&z);
		if (zr == Z_MEM_ERROR)
			return tbw__error_set(TBW_ENOMEM, OP_DEC, NULL, "out of memory");
		if (z.avail_out == 0 && zr != Z_DATA_ERROR && zr != Z_NEED_DICT)
			msg = "payload inflates to more bytes than the header says";
		return damage(d, TBW_ECORRUPT, at, 0, "zlib: %s", msg);
	}
	inflateEnd(&z);
	return TBW_OK;
}

/* Decode the columns of one payload (v1's, or one v2 block's) from r into
 * recs[0..n) and tags[0..ntags). pstep/pval: ntags + 1 zeroed entries.
 * Returns nonzero (r->bad) on damage. */
static int decode_cols(rd *r, uint64_t first_seq, uint64_t last_seq, size_t n, uint32_t ntags,
                       tbw_seg_rec *recs, tbw_seg_tag *tags, uint64_t *pstep, uint64_t *pval)
{
	size_t i;
	/* Tag table. */
	if (rd_varint(r, "tag count truncated") != ntags && !r->bad)
		rd_fail(r, "tag count differs from the header");
	for (i = 0; i < ntags && !r->bad; i++) {
		size_t at = r->off;
		uint64_t tl = rd_varint(r, "tag length truncated");
		if (r->bad)
			break;
		if (tl > r->len - r->off) {
			rd_fail(r, "tag name runs past the payload");
			break;
		}
		if (!tbw__seg_tag_ok((const char *)r->p + r->off, (size_t)tl)) {
			r->off = at;
			rd_fail(r, "invalid tag name");
			break;
		}
		tags[i].name = (const char *)r->p + r->off;
		tags[i].len = (size_t)tl;
		r->off += (size_t)tl;
	}
	/* seq */
	if (!r->bad)
		recs[0].seq = first_seq;
	for (i = 1; i < n && !r->bad; i++) {
		uint64_t dl = rd_varint(r, "seq column truncated");
		uint64_t prev = recs[i - 1].seq;
		if (!r->bad && (dl >= last_seq - prev))
			rd_fail(r, "seq delta past the last sequence");
		recs[i].seq = prev + dl + 1;
	}
	if (!r->bad && recs[n - 1].seq != last_seq)
		rd_fail(r, "last record's seq differs from the header");
	/* tag */
	for (i = 0; i < n && !r->bad; i++) {
		uint64_t t = rd_varint(r, "tag column truncated");
		if (!r->bad && t > ntags)
			rd_fail(r, "tag index out of range");
		recs[i].tag = (uint32_t)t;
		/* a scalar row: no body. Every field is set here, as in
		 * decode_events: the slots may hold what a block that failed
		 * to decode wrote there before this one took them over. */
		recs[i].body = NULL;
		recs[i].body_len = 0;
	}
	/* step */
	for (i = 0; i < n && !r->bad; i++) {
		uint32_t t = recs[i].tag;
		uint64_t z = rd_varint(r, "step column truncated");
		pstep[t] += unzigzag(z);
		recs[i].step = (int64_t)pstep[t];
	}
	/* wall_time */
	{
		uint64_t w = 0;
		for (i = 0; i < n && !r->bad; i++) {
			w += unzigzag(rd_varint(r, "wall_time column truncated"));
			recs[i].wall_time = bitsd(w);
		}
	}
	/* value planes */
	if (!r->bad && r->len - r->off < 8 * n)
		rd_fail(r, "value column truncated");
	if (!r->bad) {
		const uint8_t *planes = r->p + r->off;
		for (i = 0; i < n; i++) {
			uint32_t t = recs[i].tag;
			uint64_t x = 0;
			for (int b = 0; b < 8; b++)
				x = (x << 8) | planes[(size_t)b * n + i];
			pval[t] ^= x;
			recs[i].value = bitsd(pval[t]);
		}
		r->off += 8 * n;
		if (r->off != r->len)
			rd_fail(r, "bytes left after the last column");
	}
	return r->bad;
}

/* A kind-2 block's rows (encode_events); bodies point into r->p. */
static int decode_events(rd *r, uint64_t first_seq, uint64_t last_seq, size_t n, uint32_t ntags,
                         tbw_seg_rec *recs, tbw_seg_tag *tags, uint64_t *pstep)
{
	uint64_t w = 0;
	size_t i;

	if (rd_varint(r, "tag count truncated") != ntags && !r->bad)
		rd_fail(r, "tag count differs from the header");
	for (i = 0; i < ntags && !r->bad; i++) {
		size_t at = r->off;
		uint64_t tl = rd_varint(r, "tag length truncated");
		if (r->bad)
			break;
		if (tl > r->len - r->off) {
			rd_fail(r, "tag name runs past the payload");
			break;
		}
		if (!tbw__seg_tag_ok((const char *)r->p + r->off, (size_t)tl)) {
			r->off = at;
			rd_fail(r, "invalid tag name");
			break;
		}
		tags[i].name = (const char *)r->p + r->off;
		tags[i].len = (size_t)tl;
		r->off += (size_t)tl;
	}
	for (i = 0; i < n && !r->bad; i++) {
		uint64_t t, bl;
		if (i == 0) {
			recs[0].seq = first_seq;
		} else {
			uint64_t dl = rd_varint(r, "seq truncated"), prev = recs[i - 1].seq;
			if (!r->bad && dl >= last_seq - prev)
				rd_fail(r, "seq delta past the last sequence");
			recs[i].seq = prev + dl + 1;
		}
		t = rd_varint(r, "tag truncated");
		if (!r->bad && t > ntags)
			rd_fail(r, "tag index out of range");
		if (r->bad)
			break;
		recs[i].tag = (uint32_t)t;
		pstep[t] += unzigzag(rd_varint(r, "step truncated"));
		recs[i].step = (int64_t)pstep[t];
		w += unzigzag(rd_varint(r, "wall_time truncated"));
		recs[i].wall_time = bitsd(w);
		recs[i].value = 0;
		bl = rd_varint(r, "body length truncated");
		if (r->bad)
			break;
		if (bl == 0 || bl > r->len - r->off || bl > UINT32_MAX) {
			rd_fail(r, "event body length out of bounds");
			break;
		}
		recs[i].body = r->p + r->off;
		recs[i].body_len = (uint32_t)bl;
		r->off += (size_t)bl;
	}
	if (!r->bad && recs[n - 1].seq != last_seq)
		rd_fail(r, "last record's seq differs from the header");
	if (!r->bad && r->off != r->len)
		rd_fail(r, "bytes left after the last record");
	return r->bad;
}

/* Version 1: one payload; any damage fails the whole segment. */
static int decode_v1(const uint8_t *buf, size_t len, tbw_seg *out, tbw_seg_damage *d, tbw_seg *old)
{
	tbw_seg s;
	rd r;
	uint64_t *pstep = NULL, *pval = NULL;
	size_t n;
	int rc;

	memset(&s, 0, sizeof s);
	rc = tbw__seg_read_header(buf, len, &s.h, d);
	if (rc)
		return rc;
	if (len < TBW_SEG_HEADER_SIZE + s.h.comp_size)
		return damage(d, TBW_ETRUNCATED, len, 0,
		              "file is %zu bytes, header says %llu", len,
		              (unsigned long long)(TBW_SEG_HEADER_SIZE + s.h.comp_size));
	if (len > TBW_SEG_HEADER_SIZE + s.h.comp_size)
		return damage(d, TBW_ECORRUPT, TBW_SEG_HEADER_SIZE + s.h.comp_size, 0,
		              "%llu bytes after the payload",
		              (unsigned long long)(len - TBW_SEG_HEADER_SIZE - s.h.comp_size));
	if (tbw__crc32c_value(buf + TBW_SEG_HEADER_SIZE, s.h.comp_size) != s.h.payload_crc)
		return damage(d, TBW_ECORRUPT, TBW_SEG_HEADER_SIZE, 0, "payload checksum mismatch");

	n = (size_t)s.h.count;
	take_arrays(&s, old, n, (size_t)s.h.raw_size);
	s.tags = tbw__calloc(s.h.ntags ? s.h.ntags : 1, sizeof *s.tags);
	pstep = tbw__calloc((size_t)s.h.ntags + 1, sizeof *pstep);
	pval = tbw__calloc((size_t)s.h.ntags + 1, sizeof *pval);
	if (!s.raw || !s.recs || !s.tags || !pstep || !pval) {
		rc = tbw__error_set(TBW_ENOMEM, OP_DEC, NULL, "out of memory");
		goto fail;
	}
	rc = inflate_payload(buf + TBW_SEG_HEADER_SIZE, (size_t)s.h.comp_size, s.raw,
	                     (size_t)s.h.raw_size, TBW_SEG_HEADER_SIZE, d);
	if (rc)
		goto fail;

	r.p = s.raw;
	r.len = (size_t)s.h.raw_size;
	r.off = 0;
	r.bad = 0;
	r.d = d;
	if (decode_cols(&r, s.h.first_seq, s.h.last_seq, n, s.h.ntags, s.recs, s.tags, pstep, pval)) {
		rc = tbw__error_set(TBW_ECORRUPT, OP_DEC, NULL, "%s at payload offset %llu",
		                    d ? d->reason : "bad payload",
		                    (unsigned long long)(d ? d->offset : r.off));
		goto fail;
	}
	s.n = n;
	s.ntags = s.h.ntags;
	tbw__free(pstep);
	tbw__free(pval);
	*out = s;
	return TBW_OK;
fail:
	tbw__free(pstep);
	tbw__free(pval);
	tbw__seg_release(&s);
	return rc;
}

/* ---- Version 2: blocks ---- */

typedef struct bhdr {
	uint32_t kind;
	uint8_t  run_id[16];
	uint64_t first, last;
	int64_t  min_step, max_step;
	uint32_t count, ntags, comp, raw, pcrc;
} bhdr;

/* 1 if p[0..avail) starts with an intact block header (magic, CRC, every
 * bound that does not depend on the rest of the file). */
static int read_bhdr(const uint8_t *p, size_t avail, bhdr *b)
{
	if (avail < TBW_SEG_BLOCK_HEADER_SIZE || memcmp(p, TBW_SEG_BLOCK_MAGIC, 4) != 0)
		return 0;
	if (tbw__get_le32(p + 76) != tbw__crc32c_value(p, 76))
		return 0;
	b->kind = p[4];
	memcpy(b->run_id, p + 8, 16);
	b->first = tbw__get_le64(p + 24);
	b->last = tbw__get_le64(p + 32);
	b->min_step = (int64_t)tbw__get_le64(p + 40);
	b->max_step = (int64_t)tbw__get_le64(p + 48);
	b->count = tbw__get_le32(p + 56);
	b->ntags = tbw__get_le32(p + 60);
	b->comp = tbw__get_le32(p + 64);
	b->raw = tbw__get_le32(p + 68);
	b->pcrc = tbw__get_le32(p + 72);
	if (p[5] != 0 || tbw__get_le16(p + 6) != TBW_SEG_BLOCK_HEADER_SIZE || b->kind == 0)
		return 0;
	if (b->first == 0 || b->first > b->last || b->count == 0 ||
	    b->count > TBW_SEG_MAX_RECORDS || b->count - 1 > b->last - b->first ||
	    b->ntags > b->count || b->min_step > b->max_step || b->comp == 0 ||
	    (b->raw > TBW_SEG_MAX_RAW &&
	     (b->kind != TBW_SEG_KIND_EVENT || b->count != 1 || b->raw > TBW_SEG_EVENT_MAX_RAW)) ||
	    (uint64_t)b->raw > (uint64_t)b->comp * TBW_SEG_MAX_RATIO)
		return 0;
	if (b->kind == TBW_SEG_KIND_EVENT && b->raw < 4 * (uint64_t)b->count + 2 * (uint64_t)b->ntags)
		return 0;
	if (b->kind == TBW_SEG_KIND_SCALAR && b->raw < 12 * (uint64_t)b->count + 2 * (uint64_t)b->ntags)
		return 0;
	return 1;
}

/* One piece of the file, in file order: an intact block or a lost range. */
typedef struct span {
	int          good;
	uint64_t     off;     /* good: offset of the block header */
	bhdr         b;       /* good, or lost with a readable header */
	tbw_seg_lost lost;
} span;

typedef struct spans {
	span  *v;
	size_t n, cap;
} spans;

static span *span_push(spans *sp)
{
	if (sp->n == sp->cap) {
		size_t nc = sp->cap ? sp->cap * 2 : 16;
		span *nv = tbw__realloc(sp->v, nc * sizeof *nv);
		if (!nv)
			return NULL;
		sp->v = nv;
		sp->cap = nc;
	}
	memset(&sp->v[sp->n], 0, sizeof sp->v[0]);
	return &sp->v[sp->n++];
}

static void lost_set(tbw_seg_lost *l, int code, uint64_t off, uint64_t bytes, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
static void lost_set(tbw_seg_lost *l, int code, uint64_t off, uint64_t bytes, const char *fmt, ...)
{
	va_list ap;
	l->code = code;
	l->offset = off;
	l->bytes = bytes;
	va_start(ap, fmt);
	vsnprintf(l->reason, sizeof l->reason, fmt, ap);
	va_end(ap);
}

static void lost_from_block(tbw_seg_lost *l, const bhdr *b)
{
	l->first_seq = b->first;
	l->last_seq = b->last;
	l->steps_known = 1;
	l->min_step = b->min_step;
	l->max_step = b->max_step;
	l->records = b->count;
	l->kind = b->kind;
}

/* Offset of the next block magic after from, or end. */
static size_t next_magic(const uint8_t *buf, size_t from, size_t end)
{
	while (from + 4 <= end) {
		const uint8_t *q = memchr(buf + from, 'T', end - from - 3);
		if (!q)
			break;
		size_t at = (size_t)(q - buf);
		if (memcmp(q, TBW_SEG_BLOCK_MAGIC, 4) == 0)
			return at;
		from = at + 1;
	}
	return end;
}

/* An intact segment header promises what its blocks hold (the encoder,
 * merges included, writes the sums): records from first_seq on, count
 * records, ntags tag-table entries, nblocks blocks, raw_size bytes. A
 * block range that starts after first_seq is a lost range of its own (the
 * first record, at least, is missing); any other disagreement is one entry
 * naming the fields, which loses count - held records when the blocks hold
 * fewer than the header counts. Damaged bytes where a block header was
 * expected (a span without a block) leave the counts unknown: their entry
 * already reports the loss. Both CRCs held, so such a header was made so
 * on purpose or by a bug; the blocks' records are still the ones used. */
static void check_against_header(tbw_seg *s, const tbw_seg_header *fh, const spans *sp)
{
	uint64_t held = 0, tags = 0, raw = 0, blocks = 0;
	char what[128] = "";
	size_t w = 0;
	tbw_seg_lost *l;

	if (sp->n && sp->v[0].b.first > fh->first_seq) {
		memmove(s->lost + 1, s->lost, s->nlost * sizeof *s->lost);
		l = &s->lost[0];
		memset(l, 0, sizeof *l);
		l->first_seq = fh->first_seq;
		l->last_seq = sp->v[0].b.first - 1;
		lost_set(l, TBW_ECORRUPT, 32, 0, "the first block starts at seq %llu, the segment header at %llu",
		         (unsigned long long)sp->v[0].b.first, (unsigned long long)fh->first_seq);
		s->nlost++;
	}
	for (size_t i = 0; i < sp->n; i++) {
		if (sp->v[i].b.first == 0) {
			if (sp->v[i].lost.first_seq)
				return;     /* damaged bytes that may have held records */
			continue;           /* bytes that cannot hold any (no seq room) */
		}
		held += sp->v[i].b.count;
		tags += sp->v[i].b.ntags;
		raw += sp->v[i].b.raw;
		blocks++;
	}
	if (held != fh->count)
		w += (size_t)snprintf(what + w, sizeof what - w, "%s%llu records, not %llu", w ? "; " : "",
		                      (unsigned long long)held, (unsigned long long)fh->count);
	if (tags != fh->ntags && w < sizeof what)
		w += (size_t)snprintf(what + w, sizeof what - w, "%s%llu tags, not %u", w ? "; " : "",
		                      (unsigned long long)tags, (unsigned)fh->ntags);
	if (blocks != fh->nblocks && w < sizeof what)
		w += (size_t)snprintf(what + w, sizeof what - w, "%s%llu blocks, not %u", w ? "; " : "",
		                      (unsigned long long)blocks, (unsigned)fh->nblocks);
	if (raw != fh->raw_size && w < sizeof what)
		w += (size_t)snprintf(what + w, sizeof what - w, "%s%llu raw bytes, not %llu", w ? "; " : "",
		                      (unsigned long long)raw, (unsigned long long)fh->raw_size);
	if (!w)
		return;
	l = &s->lost[s->nlost++];
	memset(l, 0, sizeof *l);
	if (held < fh->count) {
		/* Where the missing records were is unknown: within the range. */
		l->first_seq = fh->first_seq;
		l->last_seq = fh->last_seq;
		l->records = fh->count - held;
	}
	lost_set(l, TBW_ECORRUPT, 48, 0, "the segment header disagrees with its blocks: they hold %s", what);
}

static int decode_v2(const uint8_t *buf, size_t len, int hdr_ok, const tbw_seg_header *fh,
                     tbw_seg *out, tbw_seg_damage *d, int hdr_rc, const tbw_seg_damage *hdr_d,
                     tbw_seg *old)
{
	tbw_seg s;
	spans sp = { NULL, 0, 0 };
	uint64_t prev_last = hdr_ok ? fh->first_seq - 1 : 0, want_end;
	size_t end, pos = TBW_SEG_HEADER_SIZE, gap = SIZE_MAX;
	uint64_t total = 0, rawtot = 0, tagtot = 0, maxtags = 0;
	uint64_t *pstep = NULL, *pval = NULL;
	int rc = TBW_OK, have_run = 0;
	span *x;

	memset(&s, 0, sizeof s);
	want_end = hdr_ok ? TBW_SEG_HEADER_SIZE + fh->comp_size : len;
	end = want_end < len ? (size_t)want_end : len;
	if (hdr_ok) {
		s.h = *fh;
		have_run = 1;
	}
	while (pos < end) {
		bhdr b;
		if (read_bhdr(buf + pos, end - pos, &b) &&
		    (!have_run || memcmp(b.run_id, s.h.run_id, 16) == 0) && b.first > prev_last &&
		    (!hdr_ok || b.last <= fh->last_seq)) {
			if (!have_run) {
				memcpy(s.h.run_id, b.run_id, 16);
				have_run = 1;
			}
			if (gap != SIZE_MAX) {
				if (!(x = span_push(&sp)))
					goto nomem;
				if (prev_last + 1 <= b.first - 1) {
					x->lost.first_seq = prev_last + 1;
					x->lost.last_seq = b.first - 1;
				}
				lost_set(&x->lost, TBW_ECORRUPT, gap, pos - gap,
				         "%zu damaged bytes where a block header was expected", pos - gap);
				gap = SIZE_MAX;
			}
			if (!(x = span_push(&sp)))
				goto nomem;
			x->b = b;
			x->off = pos;
			prev_last = b.last;
			if ((uint64_t)b.comp > end - pos - TBW_SEG_BLOCK_HEADER_SIZE) {
				lost_from_block(&x->lost, &b);
				lost_set(&x->lost, TBW_ETRUNCATED, pos, end - pos,
				         "block truncated: the file ends at %zu", len);
				pos = end;
				break;
			}
			if (b.kind != TBW_SEG_KIND_SCALAR && b.kind != TBW_SEG_KIND_EVENT) {
				lost_from_block(&x->lost, &b);
				lost_set(&x->lost, TBW_EVERSION, pos, TBW_SEG_BLOCK_HEADER_SIZE + (uint64_t)b.comp,
				         "block of record kind %u (unknown to this reader)", (unsigned)b.kind);
			} else if (tbw__crc32c_value(buf + pos + TBW_SEG_BLOCK_HEADER_SIZE, b.comp) != b.pcrc) {
				lost_from_block(&x->lost, &b);
				lost_set(&x->lost, TBW_ECORRUPT, pos, TBW_SEG_BLOCK_HEADER_SIZE + (uint64_t)b.comp,
				         "block payload checksum mismatch");
			} else {
				x->good = 1;
				total += b.count;
				rawtot += b.raw;
				tagtot += b.ntags;
				if (b.ntags > maxtags)
					maxtags = b.ntags;
			}
			pos += TBW_SEG_BLOCK_HEADER_SIZE + (size_t)b.comp;
			continue;
		}
		if (gap == SIZE_MAX)
			gap = pos;
		pos = next_magic(buf, pos + 1, end);
	}
	if (gap != SIZE_MAX) {
		uint64_t hi = hdr_ok ? fh->last_seq : UINT64_MAX;
		if (!(x = span_push(&sp)))
			goto nomem;
		if (prev_last < hi) {
			x->lost.first_seq = prev_last + 1;
			x->lost.last_seq = hi;
		}
		if (hdr_ok && len < want_end)
			lost_set(&x->lost, TBW_ETRUNCATED, gap, end - gap,
			         "file is %zu bytes, header says %llu", len, (unsigned long long)want_end);
		else
			lost_set(&x->lost, TBW_ECORRUPT, gap, end - gap,
			         "%zu damaged bytes where a block header was expected", end - gap);
	} else if (hdr_ok && prev_last < fh->last_seq) {
		if (!(x = span_push(&sp)))
			goto nomem;
		x->lost.first_seq = prev_last + 1;
		x->lost.last_seq = fh->last_seq;
		if (len < want_end)
			lost_set(&x->lost, TBW_ETRUNCATED, len, 0, "file is %zu bytes, header says %llu",
			         len, (unsigned long long)want_end);
		else
			lost_set(&x->lost, TBW_ECORRUPT, end, 0,
			         "the blocks end before the header's last sequence number");
	}
	if (hdr_ok && len > want_end) {
		if (!(x = span_push(&sp)))
			goto nomem;
		lost_set(&x->lost, TBW_ECORRUPT, want_end, len - want_end,
		         "%llu bytes after the last block", (unsigned long long)(len - want_end));
	}
	if (!hdr_ok && !have_run) {
		/* Not one block: the header's own damage is the answer. */
		tbw__free(sp.v);
		if (d && hdr_d)
			*d = *hdr_d;
		return tbw__error_set(hdr_rc, OP_DEC, NULL, "%s at file offset %llu",
		                      hdr_d ? hdr_d->reason : "bad header",
		                      (unsigned long long)(hdr_d ? hdr_d->offset : 0));
	}

	/* Pass 2: inflate and decode the intact blocks. */
	take_arrays(&s, old, total ? (size_t)total : 1, rawtot ? (size_t)rawtot : 1);
	s.tags = tbw__calloc(tagtot ? (size_t)tagtot : 1, sizeof *s.tags);
	pstep = tbw__calloc((size_t)maxtags + 1, sizeof *pstep);
	pval = tbw__calloc((size_t)maxtags + 1, sizeof *pval);
	/* + the header's own entry, or (header intact) a missing head and
	 * the header's disagreement with its blocks */
	s.lost = tbw__calloc(sp.n + 2, sizeof *s.lost);
	if (!s.recs || !s.tags || !s.raw || !pstep || !pval || !s.lost)
		goto nomem;
	{
		size_t ro = 0, to = 0, no = 0;
		for (size_t i = 0; i < sp.n; i++) {
			span *q = &sp.v[i];
			if (q->good) {
				tbw_seg_damage bd;
				rd r;
				uint64_t boff = q->off + TBW_SEG_BLOCK_HEADER_SIZE;
				memset(&bd, 0, sizeof bd);
				rc = inflate_payload(buf + boff, q->b.comp, s.raw + ro, q->b.raw, boff, &bd);
				if (rc == TBW_ENOMEM)
					goto fail;
				if (rc == TBW_OK) {
					memset(pstep, 0, ((size_t)q->b.ntags + 1) * sizeof *pstep);
					memset(pval, 0, ((size_t)q->b.ntags + 1) * sizeof *pval);
					r.p = s.raw + ro;
					r.len = q->b.raw;
					r.off = 0;
					r.bad = 0;
					r.d = &bd;
					if (q->b.kind == TBW_SEG_KIND_EVENT
					    ? decode_events(&r, q->b.first, q->b.last, q->b.count, q->b.ntags,
					                    s.recs + no, s.tags + to, pstep)
					    : decode_cols(&r, q->b.first, q->b.last, q->b.count, q->b.ntags,
					                  s.recs + no, s.tags + to, pstep, pval))
						rc = TBW_ECORRUPT;
				}
				if (rc) {
					/* Passed its CRC but does not decode: made so on
					 * purpose or by a bug. Lose this block only. */
					q->good = 0;
					lost_from_block(&q->lost, &q->b);
					lost_set(&q->lost, TBW_ECORRUPT, q->off,
					         TBW_SEG_BLOCK_HEADER_SIZE + (uint64_t)q->b.comp,
					         "block does not decode (%s%s)", bd.reason,
					         bd.in_payload ? ", in the inflated payload" : "");
					rc = TBW_OK;
					tbw__error_clear();
				} else {
					for (size_t k = 0; k < q->b.count; k++)
						if (s.recs[no + k].tag)
							s.recs[no + k].tag += (uint32_t)to;
					no += q->b.count;
					to += q->b.ntags;
					ro += q->b.raw;
				}
			}
			if (!q->good)
				s.lost[s.nlost++] = q->lost;
		}
		s.n = no;
		s.ntags = to;
	}
	if (hdr_ok)
		check_against_header(&s, fh, &sp);
	if (!hdr_ok) {
		s.header_damaged = 1;
		s.h.version = TBW_SEG_VERSION;
		s.h.count = s.n;
		s.h.ntags = (uint32_t)s.ntags;
		s.h.comp_size = len - TBW_SEG_HEADER_SIZE;
		s.h.raw_size = rawtot;
		s.h.first_seq = s.n ? s.recs[0].seq : 0;
		s.h.last_seq = s.n ? s.recs[s.n - 1].seq : 0;
		for (size_t i = 0; i < sp.n; i++) {
			const span *q = &sp.v[i];
			if (q->lost.steps_known) {
				if (!s.h.first_seq || q->b.first < s.h.first_seq)
					s.h.first_seq = q->b.first;
				if (q->b.last > s.h.last_seq)
					s.h.last_seq = q->b.last;
			}
		}
		/* The file header's own damage is one more entry. */
		if (hdr_d) {
			memmove(s.lost + 1, s.lost, s.nlost * sizeof *s.lost);
			memset(&s.lost[0], 0, sizeof s.lost[0]);
			lost_set(&s.lost[0], hdr_rc, hdr_d->offset, TBW_SEG_HEADER_SIZE,
			         "segment header damaged (%s); blocks read on their own", hdr_d->reason);
			s.nlost++;
		}
	}
	tbw__free(sp.v);
	tbw__free(pstep);
	tbw__free(pval);
	*out = s;
	return TBW_OK;
nomem:
	rc = tbw__error_set(TBW_ENOMEM, OP_DEC, NULL, "out of memory");
fail:
	tbw__free(sp.v);
	tbw__free(pstep);
	tbw__free(pval);
	tbw__seg_release(&s);
	return rc;
}

int tbw__seg_decode(const uint8_t *buf, size_t len, tbw_seg *out, tbw_seg_damage *d)
{
	return tbw__seg_decode_reusing(buf, len, out, d, NULL);
}

int tbw__seg_decode_reusing(const uint8_t *buf, size_t len, tbw_seg *out, tbw_seg_damage *d,
                            tbw_seg *old)
{
	tbw_seg_header h;
	tbw_seg_damage hd;
	int rc;

	memset(out, 0, sizeof *out);
	memset(&hd, 0, sizeof hd);
	rc = tbw__seg_read_header(buf, len, &h, &hd);
	if (rc == TBW_OK && h.version == 1)
		return decode_v1(buf, len, out, d, old);
	if (rc == TBW_OK)
		return decode_v2(buf, len, 1, &h, out, d, 0, NULL, old);
	if (rc == TBW_ENOMEM || rc == TBW_EVERSION || len < TBW_SEG_HEADER_SIZE + TBW_SEG_BLOCK_HEADER_SIZE) {
		if (d)
			*d = hd;
		return rc;
	}
	/* The header is damaged: the blocks may still read on their own. */
	return decode_v2(buf, len, 0, &h, out, d, rc, &hd, old);
}

void tbw__seg_lost_describe(const tbw_seg_lost *l, char *buf, size_t cap)
{
	char steps[96] = "";
	if (l->steps_known)
		snprintf(steps, sizeof steps, ", steps %lld..%lld", (long long)l->min_step,
		         (long long)l->max_step);
	if (l->first_seq == 0)
		snprintf(buf, cap, "no records lost at offset %llu: %s",
		         (unsigned long long)l->offset, l->reason);
	else if (l->last_seq == UINT64_MAX)
		snprintf(buf, cap, "records from seq %llu to the end of the segment lost at offset %llu: %s",
		         (unsigned long long)l->first_seq, (unsigned long long)l->offset, l->reason);
	else if (l->records && !l->steps_known)
		snprintf(buf, cap, "%llu records at unknown seqs within %llu..%llu lost at offset %llu: %s",
		         (unsigned long long)l->records, (unsigned long long)l->first_seq,
		         (unsigned long long)l->last_seq, (unsigned long long)l->offset, l->reason);
	else if (l->records)
		snprintf(buf, cap, "records seq %llu..%llu (%llu records%s) lost at offset %llu: %s",
		         (unsigned long long)l->first_seq, (unsigned long long)l->last_seq,
		         (unsigned long long)l->records, steps, (unsigned long long)l->offset, l->reason);
	else
		snprintf(buf, cap, "records seq %llu..%llu (count and steps unknown) lost at offset %llu: %s",
		         (unsigned long long)l->first_seq, (unsigned long long)l->last_seq,
		         (unsigned long long)l->offset, l->reason);
}
