/* compactor_util.h -- test helpers shared by the compactor's tests: read
 * every event file of a logdir back (CRCs checked by the tfrecord reader,
 * payloads decoded by the event decoder) and compare with what was logged. */
#ifndef TBW_COMPACTOR_UTIL_H
#define TBW_COMPACTOR_UTIL_H

#include <stddef.h>
#include <stdint.h>

typedef struct cu_ev {
	int kind;              /* TBW_EVENT_* */
	char tag[160];
	int64_t step;
	float value;
	double wall_time;
	int is_tensor;
	size_t file;           /* index into cu_scan.names */
	int first_in_file;     /* 1 for the first record of its file */
} cu_ev;

typedef struct cu_scan {
	cu_ev *ev;
	size_t n, cap;
	char (*names)[256];    /* files holding "tfevents", sorted by name */
	uint64_t *sizes;
	size_t nfiles;
	size_t torn;           /* files whose last record is incomplete */
	size_t corrupt;        /* bad CRCs or undecodable payloads */
	size_t other_tfevents; /* non-regular entries holding "tfevents" */
	char why[512];         /* first problem seen */
} cu_scan;

/* Scan logdir; returns 0, or -1 if it cannot be listed. */
int cu_scan_logdir(const char *logdir, cu_scan *out);
void cu_scan_free(cu_scan *s);

/* Size of a file (or -1). */
long long cu_file_size(const char *path);

#endif
