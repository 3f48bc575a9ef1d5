/* make_journal_v1.c -- writes tests/golden/journal-v1/data.mdb: a journal
 * of format 1 (scalars only), as tbwal wrote them before event records
 * existed. Build it against that version's src/journal.c (recipe in
 * tests/golden/README.md); it uses only calls both versions have. */
#include "config.h"
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "journal/journal.h"

int main(int argc, char **argv)
{
	tbw_jopen cfg = TBW_JOPEN_INIT;
	tbw_journal *j = NULL;
	uint64_t size = 0;
	char path[4200];

	if (argc != 2) {
		fprintf(stderr, "usage: make_journal_v1 DIR\n");
		return 2;
	}
	cfg.create = 1;
	cfg.logdir = "/golden/logdir";
	if (tbw__journal_open(&j, argv[1], &cfg) != 0) {
		fprintf(stderr, "%s\n", tbw_errmsg());
		return 1;
	}
	for (int i = 0; i < 10; i++) {
		const char *tag = i % 2 ? "acc" : "loss";
		if (tbw__journal_append(j, tag, strlen(tag), (double)i / 4, i, 1.0 + i, NULL) != 0) {
			fprintf(stderr, "%s\n", tbw_errmsg());
			return 1;
		}
	}
	if (tbw__journal_sync(j) != 0 || tbw__journal_file_size(j, &size) != 0)
		return 1;
	tbw__journal_close(j);
	/* drop the preallocated tail: LMDB needs only the pages in use */
	snprintf(path, sizeof path, "%s/data.mdb", argv[1]);
	if (truncate(path, (off_t)size) != 0)
		return 1;
	return 0;
}
