/* crc32c.h -- CRC-32C (Castagnoli), as TFRecord, LevelDB and our journal use it.
 *
 * Usage, incremental:
 *     uint32_t crc = tbw__crc32c_extend(0, NULL, 0);
 *     crc = tbw__crc32c_extend(crc, buf, len);      (repeat)
 * tbw__crc32c_value(buf, len) is the one-shot form. Check value:
 * crc32c("123456789") = 0xE3069283.
 *
 * Masking (TFRecord, LevelDB): a CRC stored next to data that may itself be
 * CRC'd is masked: rotate right by 15 bits, then add 0xa282ead8.
 */
#ifndef TBW_CRC32C_H
#define TBW_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* Extend crc (0 to start) with n bytes at p. p may be NULL when n is 0. */
uint32_t tbw__crc32c_extend(uint32_t crc, const void *p, size_t n);

/* CRC-32C of n bytes at p. */
static inline uint32_t tbw__crc32c_value(const void *p, size_t n)
{
	return tbw__crc32c_extend(0, p, n);
}

/* tbw__crc32c_value() of the 36 bytes a journal record's key and fields
 * fill (one per scalar logged), given as the words a native load of each
 * piece reads: w0..w3 the bytes [0,8) [8,16) [16,24) [24,32), w4 the bytes
 * [32,36). Straight from registers: an encoder that has just computed the
 * fields CRCs them without storing them first and loading them back
 * (which stalled on store forwarding: 13 ns a record, now under 4). */
uint32_t tbw__crc32c_36w(uint64_t w0, uint64_t w1, uint64_t w2, uint64_t w3, uint32_t w4);

#define TBW_CRC32C_MASK_DELTA 0xa282ead8u

static inline uint32_t tbw__crc32c_mask(uint32_t crc)
{
	return ((crc >> 15) | (crc << 17)) + TBW_CRC32C_MASK_DELTA;
}

static inline uint32_t tbw__crc32c_unmask(uint32_t masked)
{
	uint32_t rot = masked - TBW_CRC32C_MASK_DELTA;
	return (rot >> 17) | (rot << 15);
}

/* The two implementations, for tests and benchmarks. tbw__crc32c_extend()
 * picks the hardware one at run time when the CPU has it. */
uint32_t tbw__crc32c_sw(uint32_t crc, const void *p, size_t n);
uint32_t tbw__crc32c_hw(uint32_t crc, const void *p, size_t n); /* only if tbw__crc32c_have_hw() */
int tbw__crc32c_have_hw(void);

#endif
