/* crash_compactor_child.c -- the compactor in a process of its own, for
 * tests/test_crash_compactor.c to SIGKILL.
 *
 *   crash_compactor_child LOGDIR JOURNAL ROTATE_BYTES KILL_AT_FSYNC [tensor]
 *
 * Opens the journal, runs the compactor (open, one pass, close) and exits 0.
 * With KILL_AT_FSYNC = K > 0 it kills itself with SIGKILL at the K-th fsync
 * the syscall layer makes, right after fsyncing every open event file: the
 * bytes of the batch are on disk and the cursor commit has not happened,
 * which is the window the protocol must survive. */
#include "config.h"
#include <dirent.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "export/compactor.h"
#include "journal/journal.h"
#include "base/os.h"

static unsigned long kill_at;

static void hook(tbw_os_call call, unsigned long n)
{
	DIR *d;
	struct dirent *e;

	(void)n;
	if (call != TBW_OS_FSYNC || --kill_at != 0)
		return;
	/* Sync the event files first (the fsync about to happen, done here),
	 * then die before the syscall layer returns to the compactor. */
	d = opendir("/proc/self/fd");
	while (d && (e = readdir(d)) != NULL) {
		char lp[300], target[PATH_MAX];
		ssize_t k;
		snprintf(lp, sizeof lp, "/proc/self/fd/%.255s", e->d_name);
		k = readlink(lp, target, sizeof target - 1);
		if (k <= 0)
			continue;
		target[k] = '\0';
		if (strstr(target, "tfevents"))
			fsync(atoi(e->d_name));
	}
	raise(SIGKILL);
}

int main(int argc, char **argv)
{
	tbw_jopen jo = TBW_JOPEN_INIT;
	tbw_compact_cfg cfg = TBW_COMPACT_CFG_INIT;
	tbw_journal *j = NULL;
	tbw_compactor *c = NULL;
	int rc;

	if (argc < 5) {
		fprintf(stderr, "usage: %s LOGDIR JOURNAL ROTATE KILL_AT_FSYNC [tensor]\n", argv[0]);
		return 2;
	}
	cfg.logdir = argv[1];
	cfg.rotate_bytes = strtoull(argv[3], NULL, 10);
	cfg.wait_lock = 1;
	cfg.scalar_format = argc > 5 && !strcmp(argv[5], "tensor") ? TBW_SCALAR_TENSOR : TBW_SCALAR_SIMPLE;
	kill_at = strtoul(argv[4], NULL, 10);
	if (kill_at) {
		tbw__os_fault_arm(1u << TBW_OS_FSYNC, 0, 0, 0);   /* count only, never fail */
		tbw__os_fault_hook(hook);
	}
	rc = tbw__journal_open(&j, argv[2], &jo);
	if (rc == TBW_OK)
		rc = tbw__compactor_open(&c, j, &cfg);
	if (rc == TBW_OK)
		rc = tbw__compactor_pass(c, NULL);
	if (rc != TBW_OK)
		fprintf(stderr, "crash_compactor_child: %s\n", tbw_errmsg());
	tbw__compactor_close(c);
	tbw__journal_close(j);
	return rc == TBW_OK ? 0 : 1;
}
