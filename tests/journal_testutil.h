/* journal_testutil.h -- journals written with LMDB directly, for tests of
 * what a journal's opener must make of a first open cut short or damage.
 * Header-only; include after <cmocka.h> and third_party/lmdb/lmdb.h.
 *   tbw_test_tables_only(dir, with_record)  the tables a journal's first
 *       transaction commits in a new directory dir, and with_record > 0
 *       one record too: what a first open killed before its second
 *       transaction (run id, format) leaves, or damage. with_record < 0:
 *       the environment alone (killed before the first).
 */
#ifndef TBW_JOURNAL_TESTUTIL_H
#define TBW_JOURNAL_TESTUTIL_H

#include <stddef.h>
#include <sys/stat.h>

static void tbw_test_tables_only(const char *dir, int with_record) __attribute__((unused));

static void tbw_test_tables_only(const char *dir, int with_record)
{
	static const char *const tables[] = { "records", "tags", "meta", "cursors" };
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;

	assert_int_equal(mkdir(dir, 0755), 0);
	assert_int_equal(mdb_env_create(&env), 0);
	assert_int_equal(mdb_env_set_maxdbs(env, 8), 0);
	assert_int_equal(mdb_env_open(env, dir, 0, 0644), 0);
	if (with_record < 0) {
		mdb_env_close(env);
		return;
	}
	assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
	for (size_t i = 0; i < 4; i++)
		assert_int_equal(mdb_dbi_open(txn, tables[i], MDB_CREATE, &dbi), 0);
	if (with_record > 0) {
		MDB_val k = { 8, (void *)"\0\0\0\0\0\0\0\1" }, v = { 3, (void *)"rec" };
		assert_int_equal(mdb_dbi_open(txn, "records", 0, &dbi), 0);
		assert_int_equal(mdb_put(txn, dbi, &k, &v, 0), 0);
	}
	assert_int_equal(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
}

#endif
