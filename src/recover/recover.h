/* recover.h -- rebuild a run's journal and event files from whatever survived:
 * the local journal (intact or damaged), segments in sync folders, and event
 * files already in the logdir. The library side of `tbrecover`; see
 * doc/recover.md for the procedure and tools/tbrecover.1 for the command.
 */
#ifndef TBW_RECOVER_H
#define TBW_RECOVER_H

#include <stddef.h>
#include <stdint.h>
#include "tbwal.h"

typedef struct tbw_recover_cfg {
	const char *logdir;          /* LOGDIR (created if missing, unless dry_run) */
	const char *journal_dir;     /* NULL: LOGDIR/.tbwal, or the local path a writer recorded */
	const char *const *from;     /* sync run folders (segments), nfrom of them */
	size_t nfrom;
	int dry_run;                 /* read and report only: change nothing on disk */
	int64_t purge_step;          /* TBW_NO_PURGE, or hide steps >= this from the lost attempt */
	tbw_scalar_format scalar_format;
	int delete_replaced;         /* delete replaced event files instead of moving them aside */
	/* Progress for long work (NULL: none). done/total in records; total may be 0 if unknown. */
	void (*progress)(void *ctx, const char *phase, uint64_t done, uint64_t total);
	void *progress_ctx;
} tbw_recover_cfg;

#define TBW_RECOVER_CFG_INIT { NULL, NULL, NULL, 0, 0, TBW_NO_PURGE, TBW_SCALAR_SIMPLE, 0, NULL, NULL }

/* One source that was looked at. */
typedef struct tbw_recover_source {
	char     kind[16];        /* "journal", "segments", "events" */
	char     path[4096];
	int      used;            /* 1 if it contributed (or could have: all duplicates) */
	uint64_t records;         /* intact records read from it */
	uint64_t added;           /* of those, new to the journal */
	uint64_t damaged;         /* records/segments/files found damaged */
	char     note[256];       /* why it was not used, or "" */
} tbw_recover_source;

/* One piece of damage, with where and how much. */
typedef struct tbw_recover_damage {
	char     path[4096];
	uint64_t offset;          /* byte offset, or sequence number when what = "record" */
	uint64_t lost;            /* records known lost here (0 if unknown / none) */
	char     what[256];       /* one line: what was wrong */
} tbw_recover_damage;

typedef struct tbw_recover_tag {
	char    *tag;             /* owned */
	uint64_t count;           /* scalars in the event files */
	int64_t  first_step, last_step;
	int64_t  min_step, max_step;
	double   last_value;
	double   last_wall_time;
} tbw_recover_tag;

typedef struct tbw_recover_report {
	char     journal_dir[4096];
	char     run_id[33];
	int      journal_created;     /* a fresh journal was built */
	int      journal_salvaged;    /* the old journal was damaged and moved aside */
	char     moved_aside[4096];   /* folder holding what was moved aside ("" none) */
	uint64_t exported;            /* records written to event files by this run */
	uint64_t total_scalars;       /* scalars in this run's event files at the end */
	uint64_t last_seq;            /* newest sequence number vouched for */
	uint64_t lost;                /* sequence numbers known to be missing from every source */
	double   newest_shipped_wall_time; /* newest record found in segments (0 none) */
	uint64_t event_files;         /* tbwal event files in LOGDIR at the end */
	uint64_t files_replaced;      /* event files moved aside (or deleted) */
	tbw_recover_source *sources; size_t nsources;
	tbw_recover_damage *damage;  size_t ndamage;
	tbw_recover_tag    *tags;    size_t ntags;   /* sorted by tag */
} tbw_recover_report;

/* Run recovery. Returns 0 when everything found was recovered with no loss,
 * TBW_ECORRUPT when it recovered with losses (the report says where), or
 * another negative code when nothing could be recovered or it was refused
 * (TBW_EBUSY: a writer is running on the journal). The report is filled as
 * far as recovery got, in every case; free it with tbw__recover_report_free. */
int tbw__recover_run(const tbw_recover_cfg *cfg, tbw_recover_report *rep);

void tbw__recover_report_free(tbw_recover_report *rep);

#endif
