/* jrecord.c -- encode and decode the journal's records and tag entries
 * (doc/journal-format.md; see jrecord.h).
 */
#include "config.h"
#include <string.h>
#include "base/bytes.h"
#include "format/crc32c.h"
#include "journal/jrecord.h"

uint32_t tbw__jcrc2(const void *a, size_t na, const void *b, size_t nb)
{
	uint32_t c = tbw__crc32c_extend(0, a, na);
	return tbw__crc32c_mask(tbw__crc32c_extend(c, b, nb));
}

/* v as the 8 (4) bytes of its big-endian encoding would load natively:
 * a byte swap on a little-endian machine, nothing on a big-endian one. */
static inline uint64_t be64_word(uint64_t v)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	return __builtin_bswap64(v);
#else
	return v;
#endif
}

static inline uint32_t be32_word(uint32_t v)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	return __builtin_bswap32(v);
#else
	return v;
#endif
}

static inline uint64_t ld64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return v;
}

static inline uint32_t ld32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return v;
}

void tbw__jrec_encode(uint8_t key[8], uint8_t val[32], uint64_t seq, double wall,
                      int64_t step, double value, uint32_t tag_id)
{
	/* this runs once per scalar logged: the fields are CRC'd from
	 * registers and each stored once (building the record in a buffer
	 * and CRCing that stalled on store forwarding) */
	uint64_t w0 = be64_word(seq), w1 = be64_word(tbw__f64_bits(wall));
	uint64_t w2 = be64_word((uint64_t)step), w3 = be64_word(tbw__f64_bits(value));
	uint32_t w4 = be32_word(tag_id);
	uint32_t crc = be32_word(tbw__crc32c_mask(tbw__crc32c_36w(w0, w1, w2, w3, w4)));

	memcpy(key, &w0, 8);
	memcpy(val, &w1, 8);
	memcpy(val + 8, &w2, 8);
	memcpy(val + 16, &w3, 8);
	memcpy(val + 24, &w4, 4);
	memcpy(val + 28, &crc, 4);
}

void tbw__jevent_encode(const uint8_t key[8], uint8_t *val, double wall, int64_t step,
                        uint32_t tag_id, size_t body_len)
{
	tbw__put_be64(val, tbw__f64_bits(wall));
	tbw__put_be64(val + 8, (uint64_t)step);
	tbw__put_be32(val + 16, (uint32_t)body_len);
	tbw__put_be32(val + 20, TBW_JEV_KIND_EVENT);
	tbw__put_be32(val + 24, tag_id);
	tbw__put_be32(val + TBW_JEV_HDR + body_len, tbw__jcrc2(key, 8, val, TBW_JEV_HDR + body_len));
}

void tbw__jstep_encode(const uint8_t key[8], uint8_t *val, double wall, int64_t step, size_t n,
                       const uint32_t *tag_ids, const double *values)
{
	uint8_t *p = val + TBW_JSTEP_HDR;

	tbw__put_be64(val, tbw__f64_bits(wall));
	tbw__put_be64(val + 8, (uint64_t)step);
	tbw__put_be32(val + 16, (uint32_t)n);
	tbw__put_be32(val + 20, TBW_JSTEP_KIND);
	for (size_t i = 0; i < n; i++, p += TBW_JSTEP_ENTRY) {
		uint32_t id = be32_word(tag_ids[i]);
		uint64_t x = be64_word(tbw__f64_bits(values[i]));
		memcpy(p, &id, 4);
		memcpy(p + 4, &x, 8);
	}
	tbw__put_be32(p, tbw__jcrc2(key, 8, val, (size_t)(p - val)));
}

void tbw__jrun_encode(const uint8_t key[8], uint8_t *val, size_t n, const uint32_t *tag_ids,
                      const double *values, const double *walls, const int64_t *steps)
{
	uint8_t *p = val + TBW_JSTEP_HDR;

	tbw__put_be64(val, tbw__f64_bits(walls[0]));
	tbw__put_be64(val + 8, (uint64_t)steps[0]);
	tbw__put_be32(val + 16, (uint32_t)n);
	tbw__put_be32(val + 20, TBW_JRUN_KIND);
	for (size_t i = 0; i < n; i++, p += TBW_JRUN_ENTRY) {
		uint32_t id = be32_word(tag_ids[i]);
		uint64_t x = be64_word(tbw__f64_bits(values[i]));
		uint64_t w = be64_word(tbw__f64_bits(walls[i]));
		uint64_t st = be64_word((uint64_t)steps[i]);
		memcpy(p, &id, 4);
		memcpy(p + 4, &x, 8);
		memcpy(p + 12, &w, 8);
		memcpy(p + 20, &st, 8);
	}
	tbw__put_be32(p, tbw__jcrc2(key, 8, val, (size_t)(p - val)));
}

/* A step or run record's n if v has the shape of one (size, kind, n
 * agree), else 0. */
static uint32_t multi_n(const uint8_t *val, size_t nv)
{
	uint32_t n, k;

	if (nv < TBW_JSTEP_SIZE(2) || nv > TBW_JRUN_SIZE(TBW_JRUN_MAX))
		return 0;
	k = tbw__get_be32(val + 20);
	n = tbw__get_be32(val + 16);
	if (k == TBW_JSTEP_KIND)
		return n >= 2 && n <= TBW_JSTEP_MAX && nv == TBW_JSTEP_SIZE(n) ? n : 0;
	if (k == TBW_JRUN_KIND)
		return n >= 2 && n <= TBW_JRUN_MAX && nv == TBW_JRUN_SIZE(n) ? n : 0;
	return 0;
}

uint32_t tbw__jrec_claimed(const void *v, size_t nv)
{
	uint32_t n = multi_n(v, nv);
	return n ? n : 1;
}

int tbw__jrec_decode_entry(const void *k, size_t nk, const void *v, size_t nv, tbw_jrec *first,
                           uint32_t *count)
{
	const uint8_t *key = k, *val = v;
	uint32_t n = nk == TBW_JREC_KEY_SIZE ? multi_n(val, nv) : 0;

	if (!n) {
		*count = 1;
		return tbw__jrec_decode(k, nk, v, nv, first);
	}
	*count = n;
	if (tbw__get_be32(val + nv - 4) != tbw__jcrc2(key, 8, val, nv - 4))
		return -1;
	first->seq = tbw__get_be64(key);
	first->wall_time = tbw__bits_f64(tbw__get_be64(val));
	first->step = (int64_t)tbw__get_be64(val + 8);
	first->body_len = 0;
	tbw__jrec_nth(v, first, 0, first);
	return 0;
}

void tbw__jrec_nth(const void *v, const tbw_jrec *first, uint32_t i, tbw_jrec *out)
{
	const uint8_t *val = v;
	int run = tbw__get_be32(val + 20) == TBW_JRUN_KIND;
	const uint8_t *p = val + TBW_JSTEP_HDR + (size_t)(run ? TBW_JRUN_ENTRY : TBW_JSTEP_ENTRY) * i;

	if (out != first)
		*out = *first;
	out->seq = first->seq + i;
	out->tag_id = tbw__get_be32(p);
	out->value = tbw__bits_f64(tbw__get_be64(p + 4));
	if (run) {
		out->wall_time = tbw__bits_f64(tbw__get_be64(p + 12));
		out->step = (int64_t)tbw__get_be64(p + 20);
	}
}

int tbw__jrec_decode(const void *k, size_t nk, const void *v, size_t nv, tbw_jrec *r)
{
	const uint8_t *key = k, *val = v;
	if (nk != TBW_JREC_KEY_SIZE || nv < TBW_JREC_VAL_SIZE)
		return -1;
	if (nv == TBW_JREC_VAL_SIZE) {
		uint32_t crc = tbw__crc32c_36w(ld64(key), ld64(val), ld64(val + 8), ld64(val + 16), ld32(val + 24));
		if (tbw__get_be32(val + 28) != tbw__crc32c_mask(crc))
			return -1;
		r->value = tbw__bits_f64(tbw__get_be64(val + 16));
		r->body_len = 0;
	} else {
		size_t bl = nv - TBW_JREC_VAL_SIZE;
		if (bl > TBW_JOURNAL_BODY_MAX || tbw__get_be32(val + 16) != bl ||
		    tbw__get_be32(val + 20) != TBW_JEV_KIND_EVENT ||
		    tbw__get_be32(val + TBW_JEV_HDR + bl) != tbw__jcrc2(key, 8, val, TBW_JEV_HDR + bl))
			return -1;
		r->value = 0;
		r->body_len = (uint32_t)bl;
	}
	r->seq = tbw__get_be64(key);
	r->wall_time = tbw__bits_f64(tbw__get_be64(val));
	r->step = (int64_t)tbw__get_be64(val + 8);
	r->tag_id = tbw__get_be32(val + 24);
	return 0;
}

int tbw__jtag_decode(const void *kp, size_t nk, const void *vp, size_t nv, uint32_t *id,
                     const char **name, size_t *len)
{
	if (nk != 4 || nv < 5)
		return -1;
	const uint8_t *kk = kp, *vv = vp;
	size_t n = nv - 4;
	if (tbw__get_be32(vv + n) != tbw__jcrc2(kk, 4, vv, n))
		return -1;
	*id = tbw__get_be32(kk);
	*name = (const char *)vv;
	*len = n;
	return 0;
}
