/* location.c -- where a run's journal lives (policy: see location.h). */
#include "config.h"
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/alloc.h"
#include "format/crc32c.h"
#include "base/error.h"
#include "journal/location.h"
#include "base/os.h"

int (*tbw__location_fs_is_remote_hook)(const char *path);

int tbw__location_is_remote(const char *path)
{
	if (tbw__location_fs_is_remote_hook)
		return tbw__location_fs_is_remote_hook(path);
	return tbw__fs_is_remote(path);
}

char *tbw__location_local_dir(const char *abs_logdir)
{
	const char *base = getenv("TBW_LOCAL_DIR");
	char name[80], *root = NULL, *out;
	size_t n = 0, len = strlen(abs_logdir);
	const char *start = abs_logdir;

	/* the last 48 bytes of the path name it well enough; the hash keeps
	 * two logdirs with the same tail apart */
	if (len > 48)
		start = abs_logdir + len - 48;
	for (const char *p = start; *p && n < 48; p++) {
		char ch = *p;
		int ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		         (ch >= '0' && ch <= '9') || ch == '-' || ch == '.' || ch == '_';
		if (n == 0 && (ch == '/' || ch == '.'))
			continue;
		name[n++] = ok ? ch : '_';
	}
	snprintf(name + n, sizeof name - n, "%s%08x", n ? "-" : "",
	         tbw__crc32c_value(abs_logdir, len));
	if (base && *base) {
		root = tbw__strdup(base);
	} else {
		const char *xdg = getenv("XDG_STATE_HOME");
		if (xdg && *xdg) {
			root = tbw__path_join(xdg, "tbwal");
		} else {
			const char *home = getenv("HOME");
			char *st = tbw__path_join(home && *home ? home : "/tmp", ".local/state");
			if (st)
				root = tbw__path_join(st, "tbwal");
			tbw__free(st);
		}
	}
	if (!root)
		return NULL;
	out = tbw__path_join(root, name);
	tbw__free(root);
	return out;
}

char *tbw__location_find(const char *logdir)
{
	char *ptr = tbw__path_join(logdir, TBW_JOURNAL_POINTER);
	FILE *f;
	char line[PATH_MAX + 2];

	if (!ptr)
		return NULL;
	f = fopen(ptr, "r");
	tbw__free(ptr);
	if (f) {
		if (fgets(line, sizeof line, f)) {
			size_t n = strcspn(line, "\n");
			line[n] = 0;
			if (n > 0 && line[0] == '/') {
				fclose(f);
				return tbw__strdup(line);
			}
		}
		fclose(f);
	}
	/* No pointer (lost, or never written): a remote logdir's journal is
	 * still where a writer would have put it. */
	if (tbw__location_is_remote(logdir) == 1) {
		char *alog = tbw__realpath(logdir), *local;
		if (alog) {
			local = tbw__location_local_dir(alog);
			tbw__free(alog);
			return local;
		}
	}
	return tbw__path_join(logdir, TBW_JOURNAL_DEFAULT_NAME);
}

int tbw__location_for_writer(const char *logdir, const char *journal_dir, char **out, int *redirected)
{
	int rc;
	*out = NULL;
	*redirected = 0;
	if (journal_dir) {
		if ((rc = tbw__mkdir_p(journal_dir, "open: mkdir journal_dir")) != 0)
			return rc;
		rc = tbw__location_is_remote(journal_dir);
		if (rc < 0)
			return rc;
		if (rc == 1)
			return tbw__error_set(TBW_EINVAL, "open", journal_dir,
			                      "journal_dir is on a FUSE or network filesystem, where LMDB must not live");
		*out = tbw__realpath(journal_dir);
		if (!*out)
			return tbw__error_errno(errno, "open: realpath", journal_dir);
		return TBW_OK;
	}
	rc = tbw__location_is_remote(logdir);
	if (rc < 0)
		return rc;
	if (rc == 0) {
		*out = tbw__path_join(logdir, TBW_JOURNAL_DEFAULT_NAME);
		return *out ? TBW_OK : tbw__error_set(TBW_ENOMEM, "open", logdir, "out of memory");
	}
	*out = tbw__location_local_dir(logdir);
	if (!*out)
		return tbw__error_set(TBW_ENOMEM, "open", logdir, "out of memory");
	if ((rc = tbw__mkdir_p(*out, "open: mkdir local journal dir")) != 0) {
		tbw__free(*out);
		*out = NULL;
		return rc;
	}
	rc = tbw__location_is_remote(*out);
	if (rc != 0) {
		if (rc > 0)
			rc = tbw__error_set(TBW_EINVAL, "open", *out,
			                    "the local journal directory is itself remote: set TBW_LOCAL_DIR or journal_dir");
		tbw__free(*out);
		*out = NULL;
		return rc;
	}
	*redirected = 1;
	return TBW_OK;
}

int tbw__location_record(const char *logdir, const char *jdir)
{
	char *ptr = tbw__path_join(logdir, TBW_JOURNAL_POINTER);
	char line[PATH_MAX + 2];
	int n = snprintf(line, sizeof line, "%s\n", jdir), rc;

	if (!ptr)
		return tbw__error_set(TBW_ENOMEM, "open", logdir, "out of memory");
	rc = tbw__replace_file(ptr, line, (size_t)n, "open: record journal location");
	tbw__free(ptr);
	if (rc)
		return rc;
	fprintf(stderr, "tbwal: %s is on a FUSE or network filesystem; its journal is kept "
	        "on local disk at %s (recorded in %s/%s)\n", logdir, jdir, logdir, TBW_JOURNAL_POINTER);
	return TBW_OK;
}
