/* bytes.h -- the one copy of the byte-order helpers (big-endian for the
 * journal's keys and values, little-endian for segments, TFRecord and
 * protobuf fixed fields) and of run-id hex formatting. Header-only: every
 * helper is a small static inline function.
 */
#ifndef TBW_BYTES_H
#define TBW_BYTES_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

static inline void tbw__put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);  p[3] = (uint8_t)v;
}

static inline uint32_t tbw__get_be32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static inline void tbw__put_be64(uint8_t *p, uint64_t v)
{
	tbw__put_be32(p, (uint32_t)(v >> 32));
	tbw__put_be32(p + 4, (uint32_t)v);
}

static inline uint64_t tbw__get_be64(const uint8_t *p)
{
	return ((uint64_t)tbw__get_be32(p) << 32) | tbw__get_be32(p + 4);
}

static inline uint16_t tbw__get_le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | (p[1] << 8));
}

static inline void tbw__put_le32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;         p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16); p[3] = (uint8_t)(v >> 24);
}

static inline uint32_t tbw__get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static inline void tbw__put_le64(uint8_t *p, uint64_t v)
{
	tbw__put_le32(p, (uint32_t)v);
	tbw__put_le32(p + 4, (uint32_t)(v >> 32));
}

static inline uint64_t tbw__get_le64(const uint8_t *p)
{
	return (uint64_t)tbw__get_le32(p) | ((uint64_t)tbw__get_le32(p + 4) << 32);
}

/* The bits of a double, and back (IEEE 754 binary64 on every target). */
static inline uint64_t tbw__f64_bits(double d)
{
	uint64_t u;
	memcpy(&u, &d, 8);
	return u;
}

static inline double tbw__bits_f64(uint64_t u)
{
	double d;
	memcpy(&d, &u, 8);
	return d;
}

/* A 16-byte run id as 32 lowercase hex digits and a NUL. */
static inline void tbw__runid_hex(char out[33], const uint8_t id[16])
{
	static const char digits[] = "0123456789abcdef";
	for (int i = 0; i < 16; i++) {
		out[2 * i] = digits[id[i] >> 4];
		out[2 * i + 1] = digits[id[i] & 15];
	}
	out[32] = 0;
}

#endif
