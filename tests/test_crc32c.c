/* test_crc32c.c -- CRC-32C: published vectors, TFRecord masking, and the
 * hardware path agreeing with the table path on every length and alignment. */
#include "config.h"
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "format/crc32c.h"

typedef uint32_t (*crc_fn)(uint32_t, const void *, size_t);

/* Every implementation the machine has: the table path always, the
 * hardware path when the CPU offers it, and the dispatching entry point. */
static size_t impls(crc_fn *out, const char **names)
{
	size_t k = 0;

	out[k] = tbw__crc32c_sw; names[k++] = "table";
	if (tbw__crc32c_have_hw()) {
		out[k] = tbw__crc32c_hw; names[k++] = "hardware";
	}
	out[k] = tbw__crc32c_extend; names[k++] = "dispatch";
	return k;
}

/* Deterministic xorshift bytes, so a failure can be reproduced. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint8_t rnd8(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint8_t)(rng_state >> 32);
}

static void test_crc32c_check_value_123456789(void **state)
{
	crc_fn f[3]; const char *nm[3];
	size_t k = impls(f, nm);
	(void)state;

	for (size_t i = 0; i < k; i++) {
		print_message("%s\n", nm[i]);
		assert_int_equal(f[i](0, "123456789", 9), 0xE3069283u);
	}
	assert_int_equal(tbw__crc32c_value("123456789", 9), 0xE3069283u);
}

static void test_crc32c_zeros_and_masked_zeros(void **state)
{
	uint8_t z[32] = {0};
	crc_fn f[3]; const char *nm[3];
	size_t k = impls(f, nm);
	(void)state;

	for (size_t i = 0; i < k; i++)
		assert_int_equal(f[i](0, z, sizeof z), 0x8a9136aau);
	assert_int_equal(tbw__crc32c_mask(tbw__crc32c_value(z, sizeof z)), 0x0fd7fffau);
}

/* TensorBoard's masked_crc test: bytes 1a 11 then "CRC test, one two". */
static void test_crc32c_masked_tensorboard_vector(void **state)
{
	uint8_t b[2 + 17] = {0x1a, 0x11};
	(void)state;

	memcpy(b + 2, "CRC test, one two", 17);
	assert_int_equal(tbw__crc32c_mask(tbw__crc32c_value(b, sizeof b)), 0x5794d08au);
}

static void test_crc32c_mask_unmask_round_trip(void **state)
{
	(void)state;
	for (int i = 0; i < 100000; i++) {
		uint32_t c = (uint32_t)rnd8() << 24 | (uint32_t)rnd8() << 16 |
		             (uint32_t)rnd8() << 8 | rnd8();
		assert_int_equal(tbw__crc32c_unmask(tbw__crc32c_mask(c)), c);
	}
	assert_int_equal(tbw__crc32c_unmask(0x0fd7fffau), 0x8a9136aau);
	assert_int_equal(tbw__crc32c_mask(0), 0xa282ead8u);
}

/* Hardware and table paths agree on random buffers of every length 0..1024
 * at every alignment 0..15, and on a few long buffers that reach the
 * interleaved loops (3 x 8 KiB and 3 x 256 B blocks). */
static void test_crc32c_hw_equals_sw_every_length_and_alignment(void **state)
{
	static uint8_t buf[3 * 8192 * 2 + 64];
	(void)state;

	if (!tbw__crc32c_have_hw())
		print_message("no CRC instructions on this CPU: comparing dispatch with table only\n");
	for (size_t i = 0; i < sizeof buf; i++)
		buf[i] = rnd8();
	for (size_t align = 0; align < 16; align++)
		for (size_t len = 0; len <= 1024; len++) {
			uint32_t sw = tbw__crc32c_sw(0, buf + align, len);
			uint32_t seed = (uint32_t)(len * 2654435761u);
			if (tbw__crc32c_have_hw()) {
				assert_int_equal(tbw__crc32c_hw(0, buf + align, len), sw);
				assert_int_equal(tbw__crc32c_hw(seed, buf + align, len),
				                 tbw__crc32c_sw(seed, buf + align, len));
			}
			assert_int_equal(tbw__crc32c_extend(0, buf + align, len), sw);
			if (len == 36) {   /* the word form the journal's records use */
				uint64_t w[4];
				uint32_t w4;
				memcpy(w, buf + align, 32);
				memcpy(&w4, buf + align + 32, 4);
				assert_int_equal(tbw__crc32c_36w(w[0], w[1], w[2], w[3], w4), sw);
			}
		}
	for (size_t len = 3 * 8192 - 1; len <= sizeof buf - 16; len += 4099)
		for (size_t align = 0; align < 16; align += 5) {
			uint32_t sw = tbw__crc32c_sw(0, buf + align, len);
			assert_int_equal(tbw__crc32c_extend(0, buf + align, len), sw);
			if (tbw__crc32c_have_hw())
				assert_int_equal(tbw__crc32c_hw(0, buf + align, len), sw);
		}
}

/* Extending piece by piece gives the one-shot CRC, for every split point. */
static void test_crc32c_incremental_equals_one_shot(void **state)
{
	static uint8_t buf[3000];
	crc_fn f[3]; const char *nm[3];
	size_t k = impls(f, nm);
	(void)state;

	for (size_t i = 0; i < sizeof buf; i++)
		buf[i] = rnd8();
	for (size_t i = 0; i < k; i++) {
		uint32_t whole = f[i](0, buf, sizeof buf);
		assert_int_equal(whole, tbw__crc32c_sw(0, buf, sizeof buf));
		assert_int_equal(f[i](0, NULL, 0), 0);
		for (size_t cut = 0; cut <= sizeof buf; cut += 7) {
			uint32_t c = f[i](0, NULL, 0);
			c = f[i](c, buf, cut);
			c = f[i](c, buf + cut, sizeof buf - cut);
			assert_int_equal(c, whole);
		}
		/* byte at a time */
		uint32_t c = 0;
		for (size_t j = 0; j < sizeof buf; j++)
			c = f[i](c, buf + j, 1);
		assert_int_equal(c, whole);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crc32c_check_value_123456789),
		cmocka_unit_test(test_crc32c_zeros_and_masked_zeros),
		cmocka_unit_test(test_crc32c_masked_tensorboard_vector),
		cmocka_unit_test(test_crc32c_mask_unmask_round_trip),
		cmocka_unit_test(test_crc32c_hw_equals_sw_every_length_and_alignment),
		cmocka_unit_test(test_crc32c_incremental_equals_one_shot),
	};
	printf("crc32c: hardware path %s\n", tbw__crc32c_have_hw() ? "available" : "not available");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
