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
#include "base/error.h"
#include "format/event.h"
#include "base/os.h"
#include "format/tfrecord.h"

#define BATCH 4096

typedef struct bf {
	tbw_journal *j;
	uint64_t through;
	tbw_jrec_named recs[BATCH];
	char *tags[BATCH];          /* owned copies of the tag bytes */
	size_t n;
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
	return rc;
}

static int bf_add(bf *b, uint64_t seq, const tbw_event *ev)
{
	tbw_jrec_named *r = &b->recs[b->n];
	memset(r, 0, sizeof *r);
	r->seq = seq;
	r->wall_time = ev->wall_time;
	r->step = ev->step;
	if (ev->kind == TBW_EVENT_SCALAR) {
		char *t = tbw__malloc(ev->tag_len ? ev->tag_len : 1);
		if (!t)
			return tbw__error_set(TBW_ENOMEM, "backfill", NULL, "out of memory");
		memcpy(t, ev->tag, ev->tag_len);
		b->tags[b->n] = t;
		r->tag = t;
		r->tag_len = ev->tag_len;
		r->value = (double)ev->value;
	} else {
		b->tags[b->n] = NULL;   /* SessionLog START marker */
	}
	if (++b->n == BATCH)
		return bf_flush(b);
	return TBW_OK;
}

/* One event file: file_version, the sacrificial START in an "S" file, then
 * one event per record from base+1. Damage ends the file quietly. */
static int bf_file(bf *b, const char *path, uint64_t base, int with_start)
{
	tbw_tfr_reader *r = NULL;
	uint64_t nev = 0, seq = base;
	struct stat st;
	int fd = -1, rc;

	if (lstat(path, &st) != 0 || !S_ISREG(st.st_mode))
		return TBW_OK;
	if (tbw__open(&fd, path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK, 0, "backfill: read event file") != TBW_OK)
		return TBW_OK;
	if ((rc = tbw__tfr_reader_open(&r, fd, 0, path)) != TBW_OK) {
		tbw__os.close(fd);
		return rc;
	}
	for (;;) {
		const uint8_t *data;
		size_t len;
		tbw_event ev;
		if (tbw__tfr_reader_next(r, &data, &len, NULL) != TBW_TFR_RECORD ||
		    tbw__event_decode(data, len, &ev) != TBW_OK)
			break;
		nev++;
		if (ev.kind == TBW_EVENT_FILE_VERSION)
			continue;
		if (with_start && nev == 2 && ev.kind == TBW_EVENT_SESSION_START)
			continue;
		if (ev.kind != TBW_EVENT_SCALAR && ev.kind != TBW_EVENT_SESSION_START)
			break;
		if (++seq > b->through)
			break;
		if ((rc = bf_add(b, seq, &ev)) != TBW_OK)
			break;
	}
	tbw__tfr_reader_close(r);
	tbw__os.close(fd);
	return rc;
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
