/* backfill.c -- pruned records back into the journal from the event files
 * (see backfill.h). Event files of a run are named by the sequence number
 * before their first record and hold base+1, base+2, ... with no gap
 * (compactor.h), so each event read back has a known sequence number.
 */
#include "config.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "base/alloc.h"
#include "export/backfill.h"
#include "export/compactor.h"
#include "export/evscan.h"
#include "base/error.h"
#include "format/event.h"
#include "base/os.h"
#include "format/tfrecord.h"

#define BATCH 4096
#define BATCH_BYTES ((size_t)32 << 20)   /* event bodies: memory stays bounded */
#define BF_DONE 1                         /* past `through`: stop the file */

typedef struct bf {
	tbw_journal *j;
	uint64_t through;
	tbw_jrec_named recs[BATCH];
	char *tags[BATCH];          /* owned copies of each record's tag and body */
	size_t n;
	size_t bytes;               /* of those copies */
	uint64_t inserted;
} bf;

static void bf_drop(bf *b)
{
	for (size_t i = 0; i < b->n; i++)
		tbw__free(b->tags[i]);
	b->n = 0;
}

static int bf_flush(bf *b)
{
	size_t ins = 0;
	int rc = TBW_OK;
	if (b->n)
		rc = tbw__journal_insert(b->j, b->recs, b->n, &ins);
	b->inserted += ins;
	bf_drop(b);
	b->bytes = 0;
	return rc;
}

/* One record read back (tbw__evscan_record), its tag and body copied: the
 * event it came from lives only for the callback. */
static int bf_add(void *ctx, uint64_t seq, const tbw_event *ev)
{
	bf *b = ctx;
	tbw_jrec_named *r = &b->recs[b->n];

	if (seq > b->through)
		return BF_DONE;
	if (tbw__evscan_record(seq, ev, r) != 0)
		return TBW_OK;       /* a purge tombstone: nothing to put back */
	b->tags[b->n] = NULL;
	if (r->tag_len || r->body_len) {
		char *copy = tbw__malloc(r->tag_len + r->body_len + 1);
		if (!copy)
			return tbw__error_set(TBW_ENOMEM, "backfill", NULL, "out of memory");
		memcpy(copy, r->tag, r->tag_len);
		if (r->body_len)
			memcpy(copy + r->tag_len, r->body, r->body_len);
		r->tag = r->tag ? copy : NULL;
		r->body = r->body_len ? copy + r->tag_len : NULL;
		b->tags[b->n] = copy;
		b->bytes += r->tag_len + r->body_len;
	}
	if (++b->n == BATCH || b->bytes >= BATCH_BYTES)
		return bf_flush(b);
	return TBW_OK;
}

/* One event file: what evscan reads back up to `through`; damage ends the
 * file quietly (the records after it are not put back: recovery's job). */
static int bf_file(bf *b, const char *path, uint64_t base, int with_start)
{
	tbw_evscan res;
	int rc = tbw__evscan_file(path, base, with_start, bf_add, b, &res);
	/* BF_DONE: past `through`. ENOTFOUND: the file went between the listing
	 * and the scan (a rotation or purge rewrite): what it held is found in
	 * its replacement or counted unshippable, as for damage. */
	return rc == BF_DONE || rc == TBW_ENOTFOUND ? TBW_OK : rc;
}

typedef struct evname {
	char *name;
	uint64_t base;
	int with_start;
} evname;

static int by_base(const void *a, const void *b)
{
	const evname *x = a, *y = b;
	return x->base < y->base ? -1 : x->base > y->base;
}

int tbw__backfill_from_events(tbw_journal *j, const char *logdir, uint64_t through, uint64_t *ninserted)
{
	tbw_jinfo *info = NULL;
	bf *b = NULL;
	evname *v = NULL;
	size_t nv = 0, cap = 0;
	DIR *d = NULL;
	struct dirent *de;
	int rc = TBW_OK;

	if (ninserted)
		*ninserted = 0;
	if (through == 0)
		return TBW_OK;
	info = tbw__malloc(sizeof *info);
	b = tbw__calloc(1, sizeof *b);
	if (!info || !b) {
		rc = tbw__error_set(TBW_ENOMEM, "backfill", logdir, "out of memory");
		goto out;
	}
	if ((rc = tbw__journal_info(j, info)) != TBW_OK)
		goto out;
	b->j = j;
	b->through = through;
	if (!(d = opendir(logdir))) {
		rc = tbw__error_errno(errno, "backfill: list logdir", logdir);
		goto out;
	}
	while ((de = readdir(d)) != NULL) {
		char run8[9];
		uint64_t base;
		int ws = 0;
		if (!strstr(de->d_name, "tfevents") ||
		    !tbw__compactor_parse_name(de->d_name, run8, &base, &ws) ||
		    strncmp(run8, info->run_id_hex, 8) != 0 || base >= through)
			continue;
		if (nv == cap) {
			size_t nc = cap ? cap * 2 : 16;
			evname *nvp = tbw__realloc(v, nc * sizeof *nvp);
			if (!nvp) {
				rc = tbw__error_set(TBW_ENOMEM, "backfill", logdir, "out of memory");
				goto out;
			}
			v = nvp;
			cap = nc;
		}
		if (!(v[nv].name = tbw__path_join(logdir, de->d_name))) {
			rc = tbw__error_set(TBW_ENOMEM, "backfill", logdir, "out of memory");
			goto out;
		}
		v[nv].base = base;
		v[nv].with_start = ws;
		nv++;
	}
	qsort(v, nv, sizeof *v, by_base);
	for (size_t i = 0; i < nv && rc == TBW_OK; i++)
		rc = bf_file(b, v[i].name, v[i].base, v[i].with_start);
	if (rc == TBW_OK)
		rc = bf_flush(b);
	if (ninserted)
		*ninserted = b->inserted;
out:
	if (d)
		closedir(d);
	for (size_t i = 0; i < nv; i++)
		tbw__free(v[i].name);
	tbw__free(v);
	if (b)
		bf_drop(b);
	tbw__free(b);
	tbw__free(info);
	return rc;
}
