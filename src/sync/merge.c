/* merge.c -- merge a run folder's segments by levels (doc/segment-format.md):
 * write the merged segment durably, then unlink its inputs, then fsync the
 * directory; a crash in between leaves overlapping files restore dedupes.
 */
#include "config.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "base/alloc.h"
#include "base/bytes.h"
#include "base/error.h"
#include "base/os.h"
#include "format/segment.h"
#include "sync/sync_folder.h"
#include "sync/syncer.h"

/* ---- Merging ---- */

static int srec_cmp(const void *a, const void *b)
{
	const tbw_seg_rec *x = a, *y = b;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Merge group[0..g) (copies of entries at one level) into one segment. */
static int merge_group(tbw_syncer *s, const seg_ent *group, size_t g)
{
	tbw_seg *segs = tbw__calloc(g, sizeof *segs);
	namemap nm;
	tbw_seg_rec *all = NULL;
	size_t total = 0, k = 0;
	uint8_t *file = NULL;
	size_t flen = 0;
	int rc = TBW_OK;

	memset(&nm, 0, sizeof nm);
	if (!segs)
		return tbw__error_set(TBW_ENOMEM, OP_MERGE, s->run_dir, "out of memory");
	for (size_t i = 0; i < g; i++) {
		char name[TBW_SEG_NAME_MAX];
		uint8_t *buf = NULL;
		size_t len = 0;
		const char *why;
		tbw__seg_name_gen(name, group[i].first, group[i].last, group[i].level, s->gen);
		char *p = tbw__path_join(s->run_dir, name);
		if (!p) {
			rc = tbw__error_set(TBW_ENOMEM, OP_MERGE, s->run_dir, "out of memory");
			goto out;
		}
		rc = tbw__sync_read_file_bounded(p, FILE_MAX, &buf, &len, &why, OP_MERGE);
		if (rc == TBW_OK)
			rc = tbw__seg_decode(buf, len, &segs[i], NULL);
		if (rc == TBW_OK && (memcmp(segs[i].h.run_id, s->run_id, 16) != 0 || segs[i].nlost ||
		                     segs[i].header_damaged || segs[i].n == 0))
			rc = TBW_ECORRUPT;  /* damaged blocks: leave the file as it is */
		tbw__free(buf);
		tbw__free(p);
		if (rc == TBW_ENOMEM)
			goto out;
		if (rc) {
			/* Damaged in the folder (or removed by someone else): leave
			 * it alone, never merge it, keep the rest going. */
			for (size_t e = 0; e < s->nents; e++)
				if (tbw__sync_ent_cmp(&s->ents[e], &group[i]) == 0)
					s->ents[e].bad = 1;
			s->st.unmergeable++;
			rc = TBW_OK;
			goto out;
		}
		total += segs[i].n;
	}
	all = tbw__malloc(total * sizeof *all);
	if (!all) {
		rc = tbw__error_set(TBW_ENOMEM, OP_MERGE, s->run_dir, "out of memory");
		goto out;
	}
	int sorted = 1;
	for (size_t i = 0; i < g; i++) {
		for (size_t r = 0; r < segs[i].n; r++) {
			tbw_seg_rec rec = segs[i].recs[r];
			if (rec.tag != TBW_SEG_TAG_START) {
				const tbw_seg_tag *t = &segs[i].tags[rec.tag - 1];
				long idx = tbw__sync_namemap_get(&nm, t->name, t->len);
				if (idx < 0) {
					rc = tbw__error_set(TBW_ENOMEM, OP_MERGE, s->run_dir, "out of memory");
					goto out;
				}
				rec.tag = (uint32_t)idx + 1;
			}
			if (k && rec.seq <= all[k - 1].seq)
				sorted = 0;
			all[k++] = rec;
		}
	}
	if (!sorted) {
		/* Overlapping inputs (a re-shipped range after a crash): order by
		 * seq and keep one record per seq. qsort is not stable, but
		 * records with one seq are the same record. */
		qsort(all, k, sizeof *all, srec_cmp);
		size_t u = 0;
		for (size_t i = 0; i < k; i++)
			if (u == 0 || all[u - 1].seq != all[i].seq)
				all[u++] = all[i];
		k = u;
	}
	uint32_t level = group[0].level + 1;
	rc = tbw__seg_encode(s->run_id, level > 99 ? 99 : level, all, k, nm.tags, nm.n, &file, &flen);
	if (rc)
		goto out;
	{
		char name[TBW_SEG_NAME_MAX];
		seg_ent e;
		tbw_seg_header h;
		memset(&e, 0, sizeof e);
		e.first = all[0].seq;
		e.last = all[k - 1].seq;
		e.level = level > 99 ? 99 : level;
		e.count = k;
		e.raw = flen;
		e.blocks = k;   /* upper bounds, refined from the header */
		if (tbw__seg_read_header(file, flen, &h, NULL) == TBW_OK) {
			e.raw = h.raw_size;
			e.blocks = h.nblocks ? h.nblocks : 1;
		}
		tbw__seg_name_gen(name, e.first, e.last, e.level, s->gen);
		/* The merged file is in place (fsynced, renamed, dir fsynced)
		 * before any input goes. */
		rc = tbw__sync_write_durable(s, name, file, flen, OP_MERGE);
		if (rc)
			goto out;
		for (size_t i = 0; i < g; i++)
			tbw__sync_ent_del(s, &group[i]);
		if (tbw__sync_ent_add(s, &e) != TBW_OK) {
			rc = tbw__error_set(TBW_ENOMEM, OP_MERGE, s->run_dir, "out of memory");
			goto out;
		}
		s->st.merges++;
		for (size_t i = 0; i < g; i++) {
			char in[TBW_SEG_NAME_MAX];
			tbw__seg_name_gen(in, group[i].first, group[i].last, group[i].level, s->gen);
			if (strcmp(in, name) == 0)
				continue;
			char *p = tbw__path_join(s->run_dir, in);
			if (!p) {
				rc = tbw__error_set(TBW_ENOMEM, OP_MERGE, s->run_dir, "out of memory");
				goto out;
			}
			int urc = tbw__unlink(p, OP_MERGE);
			tbw__free(p);
			if (urc) {
				rc = urc;
				goto out;
			}
			s->st.segments_removed++;
		}
		/* Not needed for safety (the merged file holds everything), but
		 * it makes the removals durable, so the folder stays small. */
		rc = tbw__fsync_dir(s->run_dir, 1, OP_MERGE);
	}
out:
	for (size_t i = 0; i < g; i++)
		tbw__seg_release(&segs[i]);
	tbw__free(segs);
	tbw__free(all);
	tbw__free(file);
	tbw__sync_namemap_free(&nm);
	return rc;
}

/* Merge while some level holds TBW_SYNC_MERGE_FANIN unsealed segments. */
int tbw__sync_merge_due(tbw_syncer *s)
{
	seg_ent group[TBW_SYNC_MERGE_FANIN];
	for (;;) {
		int merged = 0;
		for (uint32_t level = 0; level < 99 && !merged; level++) {
			size_t cnt = 0;
			for (size_t i = 0; i < s->nents; i++)
				if (s->ents[i].level == level && !s->ents[i].bad && !tbw__sync_sealed(&s->ents[i]))
					cnt++;
			if (cnt < TBW_SYNC_MERGE_FANIN)
				continue;
			/* The oldest ones, as many as fit the caps (each unsealed
			 * one holds at most half, so at least two do). */
			size_t g = 0;
			uint64_t recs = 0, raw = 0, blocks = 0;
			for (size_t i = 0; i < s->nents && g < TBW_SYNC_MERGE_FANIN; i++) {
				const seg_ent *e = &s->ents[i];
				if (e->level != level || e->bad || tbw__sync_sealed(e))
					continue;
				/* (a merge makes at most the blocks of its inputs: it
				 * only joins runs of one kind) */
				if (g >= 2 && (recs + e->count > TBW_SEG_MAX_RECORDS ||
				               raw + e->raw > TBW_SEG_MAX_RAW - 1024 ||
				               blocks + e->blocks > TBW_SEG_MAX_BLOCKS))
					break;
				recs += e->count;
				raw += e->raw;
				blocks += e->blocks;
				group[g++] = *e;
			}
			int rc = merge_group(s, group, g);
			if (rc)
				return rc;
			merged = 1;
		}
		if (!merged)
			return TBW_OK;
	}
}
