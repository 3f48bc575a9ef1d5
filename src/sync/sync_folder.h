/* sync_folder.h -- private to src/sync: the syncer's state, the segment
 * entries it keeps, and the helpers for the run folder shared by shipping
 * (ship.c), merging (merge.c) and restore (restore.c); they live in folder.c.
 */
#ifndef TBW_SYNC_FOLDER_H
#define TBW_SYNC_FOLDER_H

#include <stddef.h>
#include <stdint.h>
#include "base/strmap.h"
#include "format/segment.h"
#include "sync/syncer.h"

#define OP_OPEN    "syncer open"
#define OP_PASS    "sync pass"
#define OP_MERGE   "sync merge"
#define OP_RESTORE "sync restore"

#define TMP_PREFIX     ".tmp-seg-"
#define META_NAME      "run.json"
#define META_TMP       "run.json.tmp-"
#define FILE_MAX       TBW_SEG_MAX_FILE

/* One segment file in the run folder, as this syncer knows it. */
typedef struct seg_ent {
	uint64_t first, last;
	uint32_t level;
	uint64_t count;     /* from the header */
	uint64_t raw;       /* uncompressed payload size, from the header */
	uint64_t blocks;    /* blocks, from the header (v1: 1) */
	int      bad;       /* header or body unreadable: never merged */
} seg_ent;

struct tbw_syncer {
	tbw_journal *j;
	char        *run_dir;
	uint8_t      run_id[16];
	uint64_t     ship;        /* ship cursor as last written */
	seg_ent     *ents;        /* sorted by (first, last, level) */
	size_t       nents, capents;
	tbw_jrec    *batch;       /* TBW_SYNC_BATCH records */
	tbw_seg_rec *srecs;       /* TBW_SYNC_BATCH records */
	uint8_t     *bodies;      /* event bodies of the segment being made */
	size_t       bodies_cap;
	tbw_sync_stats st;
	uint32_t     gen;         /* our generation (names, run.json) */
	char         ident[700];  /* our identity in run.json: host and journal creation */
	int          superseded;  /* a newer generation took the folder over */
	tbw_sync_progress_fn progress; /* NULL: none (tbw__syncer_set_progress) */
	void        *progress_ctx;
};

/* The fields of run.json a reader needs. Parsed leniently (our own writer
 * made it, but Drive may hand back anything): a field that does not parse
 * is absent. */
typedef struct runmeta {
	int      present;
	int      have_id;
	uint8_t  run_id[16];
	uint32_t generation;
	char     ident[700];   /* "host" and "created" as written, for comparison */
} runmeta;

/* Tag names numbered in order of first sight (merged and restored
 * segments); the names are borrowed. */
typedef struct namemap {
	tbw_strmap   map;    /* name -> index in tags */
	tbw_seg_tag *tags;
	size_t       n, tcap;
} namemap;

const char *tbw__sync_base_name(const char *path);
int tbw__sync_check_superseded(tbw_syncer *s, const char *op);
int tbw__sync_ent_add(tbw_syncer *s, const seg_ent *e);
int tbw__sync_ent_cmp(const seg_ent *a, const seg_ent *b);
int tbw__sync_ent_qcmp(const void *a, const void *b);
void tbw__sync_ent_del(tbw_syncer *s, const seg_ent *e);
void tbw__sync_json_str(char *out, size_t cap, const char *in);
uint32_t tbw__sync_max_generation(const char *run_dir, int *any);
void tbw__sync_namemap_free(namemap *m);
long tbw__sync_namemap_get(namemap *m, const char *p, size_t n);
/* The name at idx now lives at name (same bytes, new storage). */
void tbw__sync_namemap_move(namemap *m, size_t idx, const char *name);
int tbw__sync_read_file_bounded(const char *path, uint64_t max, uint8_t **out, size_t *len,
                                const char **why, const char *op);
int tbw__sync_read_meta(const char *run_dir, runmeta *m);
void tbw__sync_sanitize_name(char *out, size_t cap, const char *in);
int tbw__sync_sealed(const seg_ent *e);
int tbw__sync_write_durable(tbw_syncer *s, const char *name, const uint8_t *buf, size_t len,
                            const char *op);
int tbw__sync_merge_due(tbw_syncer *s);

#endif
