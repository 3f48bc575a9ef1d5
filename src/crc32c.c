/* crc32c.c -- CRC-32C, table-driven (placeholder for the hardware path). */
#include "config.h"
#include "crc32c.h"

static uint32_t table[256];
static int table_ready;

static void make_table(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = (c & 1) ? (c >> 1) ^ 0x82f63b78u : c >> 1;
		table[i] = c;
	}
	__atomic_store_n(&table_ready, 1, __ATOMIC_RELEASE);
}

uint32_t tbw__crc32c_sw(uint32_t crc, const void *p, size_t n)
{
	const unsigned char *b = p;

	if (!__atomic_load_n(&table_ready, __ATOMIC_ACQUIRE))
		make_table();
	crc = ~crc;
	while (n--)
		crc = table[(crc ^ *b++) & 0xff] ^ (crc >> 8);
	return ~crc;
}

int tbw__crc32c_have_hw(void) { return 0; }

uint32_t tbw__crc32c_hw(uint32_t crc, const void *p, size_t n)
{
	return tbw__crc32c_sw(crc, p, n);
}

uint32_t tbw__crc32c_extend(uint32_t crc, const void *p, size_t n)
{
	return tbw__crc32c_sw(crc, p, n);
}
