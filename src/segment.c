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
#include "alloc.h"
#include "crc32c.h"
#include "error.h"
#include "segment.h"
#include "tagname.h"

#define OP_ENC "segment encode"
#define OP_DEC "segment decode"

/* ---- Little-endian and varint helpers ---- */

static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}
static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}
static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static uint32_t get32(const uint8_t *p)
{
	uint32_t v = 0;
	for (int i = 3; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}
static uint64_t get64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

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

static uint64_t rd_varint(rd *r, const char *what)
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

/* ---- Names and tags ---- */

void tbw__seg_name(char *buf, uint64_t first, uint64_t last, uint32_t level)
{
	snprintf(buf, TBW_SEG_NAME_MAX, "seg-%016llx-%016llx-L%u.tbws",
	         (unsigned long long)first, (unsigned long long)last,
	         (unsigned)(level > 99 ? 99 : level));
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
	if (strcmp(p, ".tbws") != 0 || a > b || a == 0)
		return 0;
	*first = a;
	*last = b;
	*level = lv;
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

int tbw__seg_encode(const uint8_t run_id[16], uint32_t level,
                    const tbw_seg_rec *recs, size_t n,
                    const tbw_seg_tag *tags, size_t ntags,
                    uint8_t **out, size_t *out_len)
{
	uint32_t *map = NULL;      /* caller tag index -> segment tag index (0: unused) */
	uint32_t *order = NULL;    /* segment tag index - 1 -> caller tag index */
	uint64_t *pstep = NULL, *pval = NULL;
	uint8_t *raw = NULL, *file = NULL;
	size_t used = 0, cap, off = 0, i;
	uint64_t prev_wall = 0;
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
		rc = TBW_ENOMEM;
		goto nomem;
	}
	cap = 16;
	for (i = 0; i < n; i++) {
		uint32_t t = recs[i].tag;
		if (t && !map[t]) {
			if (!tbw__seg_tag_ok(tags[t - 1].name, tags[t - 1].len)) {
				rc = tbw__error_set(TBW_EINVAL, OP_ENC, NULL, "tag %u is not a valid tag name",
				                    (unsigned)t);
				goto out;
			}
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
		rc = TBW_ENOMEM;
		goto nomem;
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
	/* tag index in the segment's table. */
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
	if (off > TBW_SEG_MAX_RAW) {
		rc = tbw__error_set(TBW_EINVAL, OP_ENC, NULL, "payload %zu bytes exceeds %u",
		                    off, TBW_SEG_MAX_RAW);
		goto out;
	}
	{
		z_stream z;
		uLong bound;
		memset(&z, 0, sizeof z);
		z.zalloc = z_alloc;
		z.zfree = z_free;
		if (deflateInit(&z, 6) != Z_OK) {
			rc = TBW_ENOMEM;
			goto nomem;
		}
		bound = deflateBound(&z, (uLong)off);
		file = tbw__malloc(TBW_SEG_HEADER_SIZE + bound);
		if (!file) {
			deflateEnd(&z);
			rc = TBW_ENOMEM;
			goto nomem;
		}
		z.next_in = raw;
		z.avail_in = (uInt)off;
		z.next_out = file + TBW_SEG_HEADER_SIZE;
		z.avail_out = (uInt)bound;
		int zr = deflate(&z, Z_FINISH);
		size_t comp = (size_t)z.total_out;
		deflateEnd(&z);
		if (zr != Z_STREAM_END) {
			rc = tbw__error_set(zr == Z_MEM_ERROR ? TBW_ENOMEM : TBW_ERROR, OP_ENC, NULL,
			                    "deflate failed (%d)", zr);
			goto out;
		}
		uint8_t *h = file;
		memcpy(h, TBW_SEG_MAGIC, 8);
		put16(h + 8, TBW_SEG_VERSION);
		put16(h + 10, TBW_SEG_HEADER_SIZE);
		put32(h + 12, 0);
		memcpy(h + 16, run_id, 16);
		put64(h + 32, recs[0].seq);
		put64(h + 40, recs[n - 1].seq);
		put64(h + 48, n);
		put32(h + 56, (uint32_t)used);
		put32(h + 60, level);
		put64(h + 64, comp);
		put64(h + 72, off);
		put32(h + 80, tbw__crc32c_value(h + TBW_SEG_HEADER_SIZE, comp));
		put32(h + 84, tbw__crc32c_value(h, 84));
		*out = file;
		*out_len = TBW_SEG_HEADER_SIZE + comp;
		file = NULL;
	}
	goto out;
nomem:
	tbw__error_set(TBW_ENOMEM, OP_ENC, NULL, "out of memory");
out:
	tbw__free(file);
	tbw__free(raw);
	tbw__free(pstep);
	tbw__free(pval);
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
	if (get32(buf + 84) != tbw__crc32c_value(buf, 84))
		return damage(d, TBW_ECORRUPT, 84, 0, "header checksum mismatch");
	h->version = get16(buf + 8);
	if (h->version != TBW_SEG_VERSION)
		return damage(d, h->version > TBW_SEG_VERSION ? TBW_EVERSION : TBW_ECORRUPT, 8, 0,
		              "format version %u (this reader knows %u)", h->version,
		              TBW_SEG_VERSION);
	if (get16(buf + 10) != TBW_SEG_HEADER_SIZE)
		return damage(d, TBW_ECORRUPT, 10, 0, "header size %u", get16(buf + 10));
	if (get32(buf + 12) != 0)
		return damage(d, TBW_ECORRUPT, 12, 0, "unknown flags 0x%x", get32(buf + 12));
	memcpy(h->run_id, buf + 16, 16);
	h->first_seq = get64(buf + 32);
	h->last_seq = get64(buf + 40);
	h->count = get64(buf + 48);
	h->ntags = get32(buf + 56);
	h->level = get32(buf + 60);
	h->comp_size = get64(buf + 64);
	h->raw_size = get64(buf + 72);
	h->payload_crc = get32(buf + 80);
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
	if (h->raw_size > TBW_SEG_MAX_RAW || h->raw_size < 12 * h->count + 2 * (uint64_t)h->ntags ||
	    h->raw_size > h->comp_size * TBW_SEG_MAX_RATIO)
		return damage(d, TBW_ECORRUPT, 72, 0, "uncompressed size %llu out of bounds",
		              (unsigned long long)h->raw_size);
	return TBW_OK;
}

void tbw__seg_release(tbw_seg *s)
{
	if (!s)
		return;
	tbw__free(s->recs);
	tbw__free(s->tags);
	tbw__free(s->raw);
	memset(s, 0, sizeof *s);
}

static int inflate_payload(const uint8_t *src, size_t comp, uint8_t *dst, size_t raw,
                           tbw_seg_damage *d)
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
		uint64_t at = TBW_SEG_HEADER_SIZE + z.total_in;
		int short_out = z.total_out != raw;
		inflateEnd(&z);
		return damage(d, TBW_ECORRUPT, at, 0, short_out
		              ? "payload inflates to fewer bytes than the header says"
		              : "bytes after the end of the compressed stream");
	}
	if (zr != Z_STREAM_END) {
		uint64_t at = TBW_SEG_HEADER_SIZE + z.total_in;
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

int tbw__seg_decode(const uint8_t *buf, size_t len, tbw_seg *out, tbw_seg_damage *d)
{
	tbw_seg s;
	rd r;
	uint64_t *pstep = NULL, *pval = NULL;
	size_t i, n;
	int rc;

	memset(out, 0, sizeof *out);
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
	s.raw = tbw__malloc((size_t)s.h.raw_size);
	s.recs = tbw__calloc(n, sizeof *s.recs);
	s.tags = tbw__calloc(s.h.ntags ? s.h.ntags : 1, sizeof *s.tags);
	pstep = tbw__calloc((size_t)s.h.ntags + 1, sizeof *pstep);
	pval = tbw__calloc((size_t)s.h.ntags + 1, sizeof *pval);
	if (!s.raw || !s.recs || !s.tags || !pstep || !pval) {
		rc = tbw__error_set(TBW_ENOMEM, OP_DEC, NULL, "out of memory");
		goto fail;
	}
	rc = inflate_payload(buf + TBW_SEG_HEADER_SIZE, (size_t)s.h.comp_size, s.raw,
	                     (size_t)s.h.raw_size, d);
	if (rc)
		goto fail;

	r.p = s.raw;
	r.len = (size_t)s.h.raw_size;
	r.off = 0;
	r.bad = 0;
	r.d = d;
	/* Tag table. */
	if (rd_varint(&r, "tag count truncated") != s.h.ntags && !r.bad)
		rd_fail(&r, "tag count differs from the header");
	for (i = 0; i < s.h.ntags && !r.bad; i++) {
		size_t at = r.off;
		uint64_t tl = rd_varint(&r, "tag length truncated");
		if (r.bad)
			break;
		if (tl > r.len - r.off) {
			rd_fail(&r, "tag name runs past the payload");
			break;
		}
		if (!tbw__seg_tag_ok((const char *)r.p + r.off, (size_t)tl)) {
			r.off = at;
			rd_fail(&r, "invalid tag name");
			break;
		}
		s.tags[i].name = (const char *)r.p + r.off;
		s.tags[i].len = (size_t)tl;
		r.off += (size_t)tl;
	}
	/* seq */
	if (!r.bad)
		s.recs[0].seq = s.h.first_seq;
	for (i = 1; i < n && !r.bad; i++) {
		uint64_t dl = rd_varint(&r, "seq column truncated");
		uint64_t prev = s.recs[i - 1].seq;
		if (!r.bad && (dl >= s.h.last_seq - prev))
			rd_fail(&r, "seq delta past the last sequence");
		s.recs[i].seq = prev + dl + 1;
	}
	if (!r.bad && s.recs[n - 1].seq != s.h.last_seq)
		rd_fail(&r, "last record's seq differs from the header");
	/* tag */
	for (i = 0; i < n && !r.bad; i++) {
		uint64_t t = rd_varint(&r, "tag column truncated");
		if (!r.bad && t > s.h.ntags)
			rd_fail(&r, "tag index out of range");
		s.recs[i].tag = (uint32_t)t;
	}
	/* step */
	for (i = 0; i < n && !r.bad; i++) {
		uint32_t t = s.recs[i].tag;
		uint64_t z = rd_varint(&r, "step column truncated");
		pstep[t] += unzigzag(z);
		s.recs[i].step = (int64_t)pstep[t];
	}
	/* wall_time */
	{
		uint64_t w = 0;
		for (i = 0; i < n && !r.bad; i++) {
			w += unzigzag(rd_varint(&r, "wall_time column truncated"));
			s.recs[i].wall_time = bitsd(w);
		}
	}
	/* value planes */
	if (!r.bad && r.len - r.off < 8 * n)
		rd_fail(&r, "value column truncated");
	if (!r.bad) {
		const uint8_t *planes = r.p + r.off;
		for (i = 0; i < n; i++) {
			uint32_t t = s.recs[i].tag;
			uint64_t x = 0;
			for (int b = 0; b < 8; b++)
				x = (x << 8) | planes[(size_t)b * n + i];
			pval[t] ^= x;
			s.recs[i].value = bitsd(pval[t]);
		}
		r.off += 8 * n;
		if (r.off != r.len)
			rd_fail(&r, "bytes left after the last column");
	}
	if (r.bad) {
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
