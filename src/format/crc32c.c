/* crc32c.c -- CRC-32C (Castagnoli) with a hardware path chosen at run time.
 *
 * Table fallback: slicing-by-8 (eight 256-entry tables, 8 bytes per step).
 * x86-64: the SSE4.2 crc32 instruction, compiled for that one function with
 * __attribute__((target("sse4.2"))) (no global -msse4.2), used only when
 * __builtin_cpu_supports("sse4.2") says so. The crc32 instruction has a
 * latency of 3 cycles and a throughput of 1 per cycle, so long buffers are
 * cut into three interleaved streams whose CRCs are recombined with
 * "append n zero bytes" operators (Mark Adler's method, as in zlib's
 * crc32_combine): one crc32q per cycle instead of one per three.
 * AArch64: the ARMv8 CRC32C instructions, used when getauxval(AT_HWCAP) has
 * HWCAP_CRC32.
 *
 * All tables are built once (pthread_once) on first use.
 */
#include "config.h"
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include "format/crc32c.h"

#if defined(__x86_64__) && defined(__GNUC__)
#define TBW_CRC_X86 1
#include <nmmintrin.h>
#elif defined(__aarch64__) && defined(__GNUC__) && defined(__linux__)
#define TBW_CRC_ARM 1
#include <sys/auxv.h>
#ifdef __clang__                    /* clang: builtins, feature "crc" */
#define TBW_ARM_TARGET __attribute__((target("crc")))
#define crc32cb(c, b) __builtin_arm_crc32cb((c), (b))
#define crc32cd(c, v) __builtin_arm_crc32cd((c), (v))
#else                               /* gcc: ACLE intrinsics, feature "+crc" */
#include <arm_acle.h>
#define TBW_ARM_TARGET __attribute__((target("+crc")))
#define crc32cb(c, b) __crc32cb((c), (b))
#define crc32cd(c, v) __crc32cd((c), (v))
#endif
#ifndef HWCAP_CRC32
#define HWCAP_CRC32 (1 << 7)
#endif
#endif

#define POLY 0x82f63b78u /* CRC-32C, reflected */

/* ---- Tables ---- */

static uint32_t slice[8][256];      /* slicing-by-8 */
#ifdef TBW_CRC_X86
#define LONG_BLOCK 8192             /* bytes per stream in the long loop */
#define SHORT_BLOCK 256             /* bytes per stream in the short loop */
static uint32_t zeros_long[4][256]; /* append LONG_BLOCK zero bytes */
static uint32_t zeros_short[4][256];/* append SHORT_BLOCK zero bytes */
#endif
static int have_hw;
static pthread_once_t once = PTHREAD_ONCE_INIT;

#ifdef TBW_CRC_X86
/* GF(2) 32x32 matrix times vector. */
static uint32_t gf2_times(const uint32_t *mat, uint32_t vec)
{
	uint32_t sum = 0;

	while (vec) {
		if (vec & 1)
			sum ^= *mat;
		vec >>= 1;
		mat++;
	}
	return sum;
}

static void gf2_square(uint32_t *square, const uint32_t *mat)
{
	for (int n = 0; n < 32; n++)
		square[n] = gf2_times(mat, mat[n]);
}

/* Operator that feeds len zero bytes through the raw CRC register; len must
 * be a power of two. */
static void zeros_op(uint32_t *even, size_t len)
{
	uint32_t odd[32];
	uint32_t row = 1;

	odd[0] = POLY;                  /* one zero bit */
	for (int n = 1; n < 32; n++) {
		odd[n] = row;
		row <<= 1;
	}
	gf2_square(even, odd);          /* two zero bits */
	gf2_square(odd, even);          /* four zero bits */
	do {
		gf2_square(even, odd);      /* one zero byte, then 4, 16, ... */
		len >>= 1;
		if (len == 0)
			return;
		gf2_square(odd, even);      /* two zero bytes, then 8, 32, ... */
		len >>= 1;
	} while (len);
	memcpy(even, odd, sizeof odd);
}

static void zeros_tables(uint32_t zeros[4][256], size_t len)
{
	uint32_t op[32];

	zeros_op(op, len);
	for (uint32_t n = 0; n < 256; n++) {
		zeros[0][n] = gf2_times(op, n);
		zeros[1][n] = gf2_times(op, n << 8);
		zeros[2][n] = gf2_times(op, n << 16);
		zeros[3][n] = gf2_times(op, n << 24);
	}
}

static inline uint32_t shift(uint32_t zeros[4][256], uint32_t crc)
{
	return zeros[0][crc & 0xff] ^ zeros[1][(crc >> 8) & 0xff] ^
	       zeros[2][(crc >> 16) & 0xff] ^ zeros[3][crc >> 24];
}
#endif

static void init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = (c & 1) ? (c >> 1) ^ POLY : c >> 1;
		slice[0][i] = c;
	}
	for (uint32_t i = 0; i < 256; i++)
		for (int t = 1; t < 8; t++)
			slice[t][i] = (slice[t - 1][i] >> 8) ^ slice[0][slice[t - 1][i] & 0xff];
#if defined(TBW_CRC_X86)
	__builtin_cpu_init();
	if (__builtin_cpu_supports("sse4.2")) {
		zeros_tables(zeros_long, LONG_BLOCK);
		zeros_tables(zeros_short, SHORT_BLOCK);
		have_hw = 1;
	}
#elif defined(TBW_CRC_ARM)
	have_hw = (getauxval(AT_HWCAP) & HWCAP_CRC32) != 0;
#endif
}

static atomic_int inited;

static void init_once(void)
{
	init();
	atomic_store_explicit(&inited, 1, memory_order_release);
}

static inline void ensure_init(void)
{
	/* pthread_once on every call cost more than a short CRC itself */
	if (!atomic_load_explicit(&inited, memory_order_acquire))
		pthread_once(&once, init_once);
}

/* ---- Table path ---- */

static inline uint64_t load64le(const unsigned char *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	v = __builtin_bswap64(v);
#endif
	return v;
}

uint32_t tbw__crc32c_sw(uint32_t crc, const void *p, size_t n)
{
	const unsigned char *b = p;

	ensure_init();
	crc = ~crc;
	while (n && ((uintptr_t)b & 7)) {
		crc = slice[0][(crc ^ *b++) & 0xff] ^ (crc >> 8);
		n--;
	}
	while (n >= 8) {
		uint64_t v = load64le(b) ^ crc;
		crc = slice[7][v & 0xff] ^ slice[6][(v >> 8) & 0xff] ^
		      slice[5][(v >> 16) & 0xff] ^ slice[4][(v >> 24) & 0xff] ^
		      slice[3][(v >> 32) & 0xff] ^ slice[2][(v >> 40) & 0xff] ^
		      slice[1][(v >> 48) & 0xff] ^ slice[0][v >> 56];
		b += 8;
		n -= 8;
	}
	while (n--)
		crc = slice[0][(crc ^ *b++) & 0xff] ^ (crc >> 8);
	return ~crc;
}

/* ---- Hardware paths ---- */

#if defined(TBW_CRC_X86)
__attribute__((target("sse4.2")))
static uint32_t crc_sse42(uint32_t crc, const unsigned char *next, size_t len)
{
	uint64_t crc0 = crc ^ 0xffffffffu, crc1, crc2, v;
	const unsigned char *end;

	if (len < 3 * SHORT_BLOCK)
		goto words;   /* short (a record, a length): no byte loop to align */
	while (len && ((uintptr_t)next & 7)) {
		crc0 = _mm_crc32_u8((uint32_t)crc0, *next++);
		len--;
	}
	/* Three streams of LONG_BLOCK bytes, then three of SHORT_BLOCK: crc1
	 * and crc2 start from 0, and crc0 is moved past the next stream by the
	 * zeros operator before the stream's CRC is xored in. */
	while (len >= 3 * LONG_BLOCK) {
		crc1 = crc2 = 0;
		end = next + LONG_BLOCK;
		do {
			memcpy(&v, next, 8);
			crc0 = _mm_crc32_u64(crc0, v);
			memcpy(&v, next + LONG_BLOCK, 8);
			crc1 = _mm_crc32_u64(crc1, v);
			memcpy(&v, next + 2 * LONG_BLOCK, 8);
			crc2 = _mm_crc32_u64(crc2, v);
			next += 8;
		} while (next < end);
		crc0 = shift(zeros_long, (uint32_t)crc0) ^ crc1;
		crc0 = shift(zeros_long, (uint32_t)crc0) ^ crc2;
		next += 2 * LONG_BLOCK;
		len -= 3 * LONG_BLOCK;
	}
	while (len >= 3 * SHORT_BLOCK) {
		crc1 = crc2 = 0;
		end = next + SHORT_BLOCK;
		do {
			memcpy(&v, next, 8);
			crc0 = _mm_crc32_u64(crc0, v);
			memcpy(&v, next + SHORT_BLOCK, 8);
			crc1 = _mm_crc32_u64(crc1, v);
			memcpy(&v, next + 2 * SHORT_BLOCK, 8);
			crc2 = _mm_crc32_u64(crc2, v);
			next += 8;
		} while (next < end);
		crc0 = shift(zeros_short, (uint32_t)crc0) ^ crc1;
		crc0 = shift(zeros_short, (uint32_t)crc0) ^ crc2;
		next += 2 * SHORT_BLOCK;
		len -= 3 * SHORT_BLOCK;
	}
words:
	while (len >= 8) {
		memcpy(&v, next, 8);
		crc0 = _mm_crc32_u64(crc0, v);
		next += 8;
		len -= 8;
	}
	/* the last 0..7 bytes in at most three steps (a journal record's
	 * 36 bytes end in one 4-byte step) */
	if (len & 4) {
		uint32_t w;
		memcpy(&w, next, 4);
		crc0 = _mm_crc32_u32((uint32_t)crc0, w);
		next += 4;
	}
	if (len & 2) {
		uint16_t h;
		memcpy(&h, next, 2);
		crc0 = _mm_crc32_u16((uint32_t)crc0, h);
		next += 2;
	}
	if (len & 1)
		crc0 = _mm_crc32_u8((uint32_t)crc0, *next);
	return (uint32_t)crc0 ^ 0xffffffffu;
}

/* 36 bytes from 0 as five words (tbw__crc32c_36w). */
__attribute__((target("sse4.2")))
static uint32_t crc36w_sse42(uint64_t w0, uint64_t w1, uint64_t w2, uint64_t w3, uint32_t w4)
{
	uint64_t c = 0xffffffffu;

	c = _mm_crc32_u64(c, w0);
	c = _mm_crc32_u64(c, w1);
	c = _mm_crc32_u64(c, w2);
	c = _mm_crc32_u64(c, w3);
	return _mm_crc32_u32((uint32_t)c, w4) ^ 0xffffffffu;
}
#elif defined(TBW_CRC_ARM)
TBW_ARM_TARGET
static uint32_t crc_armv8(uint32_t crc, const unsigned char *next, size_t len)
{
	uint64_t v;

	crc = ~crc;
	while (len && ((uintptr_t)next & 7)) {
		crc = crc32cb(crc, *next++);
		len--;
	}
	while (len >= 32) {
		memcpy(&v, next, 8);      crc = crc32cd(crc, v);
		memcpy(&v, next + 8, 8);  crc = crc32cd(crc, v);
		memcpy(&v, next + 16, 8); crc = crc32cd(crc, v);
		memcpy(&v, next + 24, 8); crc = crc32cd(crc, v);
		next += 32;
		len -= 32;
	}
	while (len >= 8) {
		memcpy(&v, next, 8);
		crc = crc32cd(crc, v);
		next += 8;
		len -= 8;
	}
	while (len--)
		crc = crc32cb(crc, *next++);
	return ~crc;
}
#endif

int tbw__crc32c_have_hw(void)
{
	ensure_init();
	return have_hw;
}

uint32_t tbw__crc32c_hw(uint32_t crc, const void *p, size_t n)
{
	ensure_init();
#if defined(TBW_CRC_X86)
	if (have_hw)
		return crc_sse42(crc, p, n);
#elif defined(TBW_CRC_ARM)
	if (have_hw)
		return crc_armv8(crc, p, n);
#endif
	return tbw__crc32c_sw(crc, p, n);
}

uint32_t tbw__crc32c_extend(uint32_t crc, const void *p, size_t n)
{
	ensure_init();
#if defined(TBW_CRC_X86)
	if (have_hw)
		return crc_sse42(crc, p, n);
#elif defined(TBW_CRC_ARM)
	if (have_hw)
		return crc_armv8(crc, p, n);
#endif
	return tbw__crc32c_sw(crc, p, n);
}

uint32_t tbw__crc32c_36w(uint64_t w0, uint64_t w1, uint64_t w2, uint64_t w3, uint32_t w4)
{
	unsigned char b[36];

	ensure_init();
#if defined(TBW_CRC_X86)
	if (have_hw)
		return crc36w_sse42(w0, w1, w2, w3, w4);
#endif
	/* the words back into the bytes they were loaded from */
	memcpy(b, &w0, 8);
	memcpy(b + 8, &w1, 8);
	memcpy(b + 16, &w2, 8);
	memcpy(b + 24, &w3, 8);
	memcpy(b + 32, &w4, 4);
#if defined(TBW_CRC_ARM)
	if (have_hw)
		return crc_armv8(0, b, 36);
#endif
	return tbw__crc32c_sw(0, b, 36);
}
