/* replay_main.c -- a tiny driver that replays fuzz inputs through a target's
 * LLVMFuzzerTestOneInput without libFuzzer: make check builds one per target
 * (tests/fuzz_replay_<target>) so every committed seed (tests/fuzz-corpus/)
 * and every past crash (tests/fuzz-regress/) is run on every build, the
 * sanitizer build included.
 *
 *   fuzz_replay_<target> [FILE|DIR]...
 * With no argument: $TBW_SRCDIR/tests/fuzz-corpus/<target> and
 * $TBW_SRCDIR/tests/fuzz-regress/<target> (the corpus must not be empty);
 * built with FUZZ_KNOWN: $TBW_SRCDIR/tests/fuzz-known/<target>, inputs that
 * still crash (an XFAIL test: it fails the suite once they stop crashing).
 * A failed check or a sanitizer report aborts, naming the input first.
 * TBW_FUZZ_LMDB=1 is set (unless set already): the committed inputs may
 * reach LMDB, which fuzzing sessions keep away from fuzzer-made bytes.
 */
#define _GNU_SOURCE
#include "fuzz_common.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef FUZZ_TARGET
#error FUZZ_TARGET must name the target
#endif

static unsigned long passed;

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	size_t n = 0, cap = 0, k;

	if (!f) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		exit(1);
	}
	do {
		if (n == cap) {
			cap = cap ? 2 * cap : 65536;
			buf = realloc(buf, cap);
			if (!buf)
				abort();
		}
		k = fread(buf + n, 1, cap - n, f);
		n += k;
	} while (k > 0);
	fclose(f);
	printf("replay " FUZZ_TARGET ": %s (%zu bytes)\n", path, n);
	fflush(stdout);
	alarm(120);                 /* a hang is a finding too */
	LLVMFuzzerTestOneInput(buf, n);
	alarm(0);
	free(buf);
	passed++;
}

/* Returns the number of files run. */
static size_t run_path(const char *path)
{
	struct stat st;
	DIR *d;
	struct dirent *e;
	char **names = NULL;
	size_t n = 0;

	if (stat(path, &st) != 0)
		return 0;
	if (!S_ISDIR(st.st_mode)) {
		run_file(path);
		return 1;
	}
	d = opendir(path);
	if (!d)
		return 0;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		names = realloc(names, (n + 1) * sizeof *names);
		if (!names || asprintf(&names[n], "%s/%s", path, e->d_name) < 0)
			abort();
		n++;
	}
	closedir(d);
	qsort(names, n, sizeof *names, name_cmp);
	for (size_t i = 0; i < n; i++) {
		run_file(names[i]);
		free(names[i]);
	}
	free(names);
	return n;
}

int main(int argc, char **argv)
{
	setenv("TBW_FUZZ_LMDB", "1", 0);
	if (argc > 1) {
		for (int i = 1; i < argc; i++)
			if (run_path(argv[i]) == 0) {
				fprintf(stderr, "replay: %s: nothing to run\n", argv[i]);
				return 1;
			}
	} else {
		const char *src = getenv("TBW_SRCDIR");
		char p[PATH_MAX];
		if (!src)
			src = ".";
#ifdef FUZZ_KNOWN
		snprintf(p, sizeof p, "%s/tests/fuzz-known/" FUZZ_TARGET, src);
		if (run_path(p) == 0) {
			fprintf(stderr, "replay: %s is missing or empty\n", p);
			return 1;
		}
#else
		snprintf(p, sizeof p, "%s/tests/fuzz-corpus/" FUZZ_TARGET, src);
		if (run_path(p) == 0) {
			fprintf(stderr, "replay: the seed corpus %s is missing or empty\n", p);
			return 1;
		}
		snprintf(p, sizeof p, "%s/tests/fuzz-regress/" FUZZ_TARGET, src);
		run_path(p);
#endif
	}
	printf(FUZZ_TARGET ": %lu passed, 0 failed\n", passed);
	return 0;
}
