/* test_strmap.c -- the string -> uint32 map (src/base/strmap.c): growth past
 * many rehashes, replacement, keys whose storage moves, lengths that are
 * prefixes of each other, and an allocation failure that changes nothing.
 */
#include "config.h"
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "tbwal.h"
#include "base/alloc.h"
#include "base/strmap.h"

static void test_strmap_100000_keys_each_found_with_its_value(void **state)
{
	enum { N = 100000 };
	char (*keys)[16] = malloc(N * sizeof *keys);
	tbw_strmap m = TBW_STRMAP_INIT;
	uint32_t v;
	(void)state;
	assert_non_null(keys);
	for (uint32_t i = 0; i < N; i++) {
		snprintf(keys[i], sizeof keys[i], "tag/%u", i);
		assert_int_equal(tbw__strmap_put(&m, keys[i], strlen(keys[i]), i * 3), TBW_OK);
	}
	assert_int_equal(m.n, N);
	assert_true(m.cap >= 2 * (size_t)N);
	for (uint32_t i = 0; i < N; i++) {
		assert_int_equal(tbw__strmap_find(&m, keys[i], strlen(keys[i]), &v), 1);
		assert_int_equal(v, i * 3);
	}
	assert_int_equal(tbw__strmap_find(&m, "tag/100000", 10, &v), 0);
	assert_int_equal(tbw__strmap_find(&m, "tag/", 4, &v), 0);
	tbw__strmap_free(&m);
	assert_int_equal(tbw__strmap_find(&m, keys[0], strlen(keys[0]), &v), 0);
	free(keys);
}

static void test_strmap_prefixes_empty_key_and_embedded_nul_are_distinct(void **state)
{
	tbw_strmap m = TBW_STRMAP_INIT;
	uint32_t v = 0;
	(void)state;
	assert_int_equal(tbw__strmap_put(&m, "loss", 4, 1), TBW_OK);
	assert_int_equal(tbw__strmap_put(&m, "loss", 3, 2), TBW_OK);     /* "los" */
	assert_int_equal(tbw__strmap_put(&m, "", 0, 3), TBW_OK);
	assert_int_equal(tbw__strmap_put(&m, "a\0b", 3, 4), TBW_OK);
	assert_int_equal(tbw__strmap_put(&m, "a\0c", 3, 5), TBW_OK);
	assert_int_equal(m.n, 5);
	assert_int_equal(tbw__strmap_find(&m, "loss", 4, &v), 1); assert_int_equal(v, 1);
	assert_int_equal(tbw__strmap_find(&m, "los", 3, &v), 1);  assert_int_equal(v, 2);
	assert_int_equal(tbw__strmap_find(&m, "", 0, &v), 1);     assert_int_equal(v, 3);
	assert_int_equal(tbw__strmap_find(&m, "a\0b", 3, &v), 1); assert_int_equal(v, 4);
	assert_int_equal(tbw__strmap_find(&m, "a\0c", 3, &v), 1); assert_int_equal(v, 5);
	tbw__strmap_free(&m);
}

static void test_strmap_put_again_replaces_the_value_and_borrows_the_new_bytes(void **state)
{
	tbw_strmap m = TBW_STRMAP_INIT;
	char *first = strdup("accuracy"), *second = strdup("accuracy");
	uint32_t v = 0;
	(void)state;
	assert_int_equal(tbw__strmap_put(&m, first, 8, 7), TBW_OK);
	assert_int_equal(tbw__strmap_put(&m, second, 8, 9), TBW_OK);
	assert_int_equal(m.n, 1);
	memset(first, 'x', 8);               /* the old storage may now change */
	free(first);
	assert_int_equal(tbw__strmap_find(&m, "accuracy", 8, &v), 1);
	assert_int_equal(v, 9);
	tbw__strmap_free(&m);
	free(second);
}

static void test_strmap_out_of_memory_while_growing_changes_nothing(void **state)
{
	enum { N = 32 };
	tbw_strmap m = TBW_STRMAP_INIT;
	char keys[200][8];
	uint32_t v;
	size_t n = 0;
	(void)state;
	for (; n < N; n++) {                 /* fills the first 64 slots to half */
		snprintf(keys[n], sizeof keys[n], "k%zu", n);
		assert_int_equal(tbw__strmap_put(&m, keys[n], strlen(keys[n]), (uint32_t)n), TBW_OK);
	}
	snprintf(keys[n], sizeof keys[n], "k%zu", n);
	tbw__alloc_fail_at(1, 0);            /* the growth's allocation fails */
	assert_int_equal(tbw__strmap_put(&m, keys[n], strlen(keys[n]), 99), TBW_ENOMEM);
	tbw__alloc_fail_at(0, 0);
	assert_int_equal(m.n, N);
	assert_int_equal(tbw__strmap_find(&m, keys[n], strlen(keys[n]), &v), 0);
	for (size_t i = 0; i < N; i++) {
		assert_int_equal(tbw__strmap_find(&m, keys[i], strlen(keys[i]), &v), 1);
		assert_int_equal(v, i);
	}
	assert_int_equal(tbw__strmap_put(&m, keys[n], strlen(keys[n]), 99), TBW_OK);
	assert_int_equal(tbw__strmap_find(&m, keys[n], strlen(keys[n]), &v), 1);
	assert_int_equal(v, 99);
	tbw__strmap_free(&m);
}

static void test_strmap_clear_keeps_the_slots_so_puts_again_need_no_memory(void **state)
{
	tbw_strmap m = TBW_STRMAP_INIT;
	char keys[100][8];
	uint32_t v;
	(void)state;
	for (int i = 0; i < 100; i++) {
		snprintf(keys[i], sizeof keys[i], "k%d", i);
		assert_int_equal(tbw__strmap_put(&m, keys[i], strlen(keys[i]), (uint32_t)i), TBW_OK);
	}
	size_t cap = m.cap;
	tbw__strmap_clear(&m);
	assert_int_equal(m.n, 0);
	assert_int_equal(m.cap, cap);
	assert_int_equal(tbw__strmap_find(&m, keys[5], strlen(keys[5]), &v), 0);
	tbw__alloc_fail_at(1, 1);            /* every allocation fails */
	for (int i = 0; i < 100; i++)
		assert_int_equal(tbw__strmap_put(&m, keys[i], strlen(keys[i]), (uint32_t)i + 1), TBW_OK);
	tbw__alloc_fail_at(0, 0);
	for (int i = 0; i < 100; i++) {
		assert_int_equal(tbw__strmap_find(&m, keys[i], strlen(keys[i]), &v), 1);
		assert_int_equal(v, (uint32_t)i + 1);
	}
	tbw__strmap_free(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_strmap_100000_keys_each_found_with_its_value),
		cmocka_unit_test(test_strmap_prefixes_empty_key_and_embedded_nul_are_distinct),
		cmocka_unit_test(test_strmap_put_again_replaces_the_value_and_borrows_the_new_bytes),
		cmocka_unit_test(test_strmap_out_of_memory_while_growing_changes_nothing),
		cmocka_unit_test(test_strmap_clear_keeps_the_slots_so_puts_again_need_no_memory),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
