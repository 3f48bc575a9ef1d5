/* test_os.c -- the syscall layer: helpers, error messages, fault injection. */
#include "config.h"
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include "test_util.h"
#include "base/alloc.h"
#include "base/error.h"
#include "base/os.h"

static char tmpdir[256];

static int setup(void **state)
{
	(void)state;
	return tbw_test_mkdtemp(tmpdir, sizeof tmpdir, "test_os");
}

static int teardown(void **state)
{
	(void)state;
	tbw__os_fault_clear();
	return tbw_test_rmtree(tmpdir);
}

static void test_replace_file_writes_whole_content(void **state)
{
	char *p = tbw__path_join(tmpdir, "a.txt");
	char buf[16] = {0};
	FILE *f;
	(void)state;

	assert_int_equal(tbw__replace_file(p, "hello", 5, "test"), TBW_OK);
	assert_int_equal(tbw__replace_file(p, "world!", 6, "test"), TBW_OK);
	f = fopen(p, "rb");
	assert_non_null(f);
	assert_int_equal(fread(buf, 1, sizeof buf, f), 6);
	fclose(f);
	assert_memory_equal(buf, "world!", 6);
	tbw__free(p);
}

static void test_failed_fsync_is_reported_with_op_and_path(void **state)
{
	char *p = tbw__path_join(tmpdir, "b.txt");
	int rc;
	(void)state;

	tbw__os_fault_arm(1u << TBW_OS_FSYNC, 1, 0, EIO);
	rc = tbw__replace_file(p, "x", 1, "replace");
	tbw__os_fault_clear();
	assert_int_equal(rc, TBW_EIO);
	assert_non_null(strstr(tbw_errmsg(), "replace"));
	assert_non_null(strstr(tbw_errmsg(), "b.txt"));
	assert_int_equal(access(p, F_OK), -1); /* the old (absent) file stays */
	tbw__free(p);
}

static void test_enospc_maps_to_efull(void **state)
{
	char *p = tbw__path_join(tmpdir, "c.txt");
	(void)state;

	tbw__os_fault_arm(1u << TBW_OS_WRITE, 1, 1, ENOSPC);
	assert_int_equal(tbw__replace_file(p, "x", 1, "replace"), TBW_EFULL);
	tbw__os_fault_clear();
	tbw__free(p);
}

/* Walk the failure point forward, SQLite style: every N from 1 fails cleanly
 * until the operation completes without meeting a fault. Afterwards the file
 * is either the old content or the new one, never anything else. */
static void test_replace_file_fault_walk_keeps_old_or_new(void **state)
{
	char *p = tbw__path_join(tmpdir, "d.txt");
	unsigned long n;
	(void)state;

	assert_int_equal(tbw__replace_file(p, "old", 3, "t"), TBW_OK);
	for (int persist = 0; persist <= 1; persist++) {
		for (n = 1; ; n++) {
			char buf[8] = {0};
			FILE *f;
			int rc;

			tbw__os_fault_arm(0, n, persist, EIO);
			rc = tbw__replace_file(p, "new", 3, "t");
			unsigned long hits = tbw__os_fault_hits();
			tbw__os_fault_clear();
			f = fopen(p, "rb");
			assert_non_null(f);
			assert_int_equal(fread(buf, 1, sizeof buf, f), 3);
			fclose(f);
			assert_true(!strcmp(buf, "old") || !strcmp(buf, "new"));
			/* Success means the new content; a failure may leave either
			 * (the rename can land before a failing directory fsync). A
			 * fault in a call whose failure is harmless (closing a
			 * read-only directory descriptor) may still end in success. */
			if (rc == TBW_OK)
				assert_string_equal(buf, "new");
			if (hits == 0) {
				assert_int_equal(rc, TBW_OK);
				break;
			}
			assert_int_equal(tbw__replace_file(p, "old", 3, "t"), TBW_OK);
			assert_true(n < 100);
		}
	}
	tbw__free(p);
}

static void test_mkdir_p_creates_nested_and_rejects_file(void **state)
{
	char *d = tbw__path_join(tmpdir, "x/y/z");
	char *f = tbw__path_join(tmpdir, "afile");
	(void)state;

	assert_int_equal(tbw__mkdir_p(d, "mkdir"), TBW_OK);
	assert_int_equal(tbw__mkdir_p(d, "mkdir"), TBW_OK);
	assert_int_equal(tbw__replace_file(f, "1", 1, "t"), TBW_OK);
	assert_int_equal(tbw__mkdir_p(f, "mkdir"), TBW_EINVAL);
	tbw__free(d);
	tbw__free(f);
}

static void test_local_tmp_is_not_remote(void **state)
{
	(void)state;
	assert_int_equal(tbw__fs_is_remote(tmpdir), 0);
	assert_int_equal(tbw__fs_is_remote("/nonexistent/tbw"), TBW_ENOTFOUND);
}

static void test_alloc_fail_at_n(void **state)
{
	void *a, *b, *c;
	(void)state;

	tbw__alloc_fail_at(2, 0);
	a = tbw__malloc(8);
	b = tbw__malloc(8);
	c = tbw__malloc(8);
	tbw__alloc_fail_at(0, 0);
	assert_non_null(a);
	assert_null(b);
	assert_non_null(c);
	tbw__free(a);
	tbw__free(c);
}

static void test_strerror_names_every_code(void **state)
{
	(void)state;
	for (int c = 0; c >= TBW_ECLOSED; c--)
		assert_int_equal(strncmp(tbw_strerror(c), "TBW_", 4), 0);
	assert_non_null(tbw_strerror(12345));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_replace_file_writes_whole_content),
		cmocka_unit_test(test_failed_fsync_is_reported_with_op_and_path),
		cmocka_unit_test(test_enospc_maps_to_efull),
		cmocka_unit_test(test_replace_file_fault_walk_keeps_old_or_new),
		cmocka_unit_test(test_mkdir_p_creates_nested_and_rejects_file),
		cmocka_unit_test(test_local_tmp_is_not_remote),
		cmocka_unit_test(test_alloc_fail_at_n),
		cmocka_unit_test(test_strerror_names_every_code),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
