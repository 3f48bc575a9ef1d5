/* compactor_util.c -- see compactor_util.h. */
#include "config.h"
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "compactor_util.h"
#include "format/event.h"
#include "format/tfrecord.h"
#include "tbwal.h"

static int cmp_name(const void *a, const void *b)
{
	return strcmp((const char *)a, (const char *)b);
}

static void note(cu_scan *s, const char *what, const char *path, unsigned long long at)
{
	if (!s->why[0])
		snprintf(s->why, sizeof s->why, "%.80s in %.380s at %llu", what, path, at);
}

int cu_scan_logdir(const char *logdir, cu_scan *s)
{
	DIR *d = opendir(logdir);
	struct dirent *e;
	size_t cap = 0;

	memset(s, 0, sizeof *s);
	if (!d)
		return -1;
	while ((e = readdir(d)) != NULL) {
		char p[4400];
		struct stat st;
		if (!strstr(e->d_name, "tfevents"))
			continue;
		snprintf(p, sizeof p, "%.4000s/%.255s", logdir, e->d_name);
		if (stat(p, &st) < 0 || !S_ISREG(st.st_mode)) {
			s->other_tfevents++;
			continue;
		}
		if (s->nfiles == cap) {
			cap = cap ? cap * 2 : 16;
			s->names = realloc(s->names, cap * sizeof *s->names);
		}
		snprintf(s->names[s->nfiles++], 256, "%s", e->d_name);
	}
	closedir(d);
	if (s->nfiles)
		qsort(s->names, s->nfiles, sizeof *s->names, cmp_name);
	s->sizes = calloc(s->nfiles + 1, sizeof *s->sizes);
	for (size_t f = 0; f < s->nfiles; f++) {
		char p[4400];
		tbw_tfr_reader *r = NULL;
		int fd, st, first = 1;
		const uint8_t *data;
		size_t len;

		snprintf(p, sizeof p, "%.4000s/%.255s", logdir, s->names[f]);
		fd = open(p, O_RDONLY);
		if (fd < 0) {
			s->corrupt++;
			note(s, "cannot open", p, 0);
			continue;
		}
		s->sizes[f] = (uint64_t)lseek(fd, 0, SEEK_END);
		if (tbw__tfr_reader_open(&r, fd, 0, p) != TBW_OK) {
			close(fd);
			s->corrupt++;
			continue;
		}
		while ((st = tbw__tfr_reader_next(r, &data, &len, NULL)) == TBW_TFR_RECORD) {
			tbw_event ev;
			cu_ev *o;
			if (tbw__event_decode(data, len, &ev) != TBW_OK) {
				s->corrupt++;
				note(s, "undecodable event (record index)", p, (unsigned long long)s->n);
				continue;
			}
			if (s->n == s->cap) {
				s->cap = s->cap ? s->cap * 2 : 1024;
				s->ev = realloc(s->ev, s->cap * sizeof *s->ev);
			}
			o = &s->ev[s->n++];
			memset(o, 0, sizeof *o);
			o->kind = ev.kind;
			o->step = ev.step;
			o->wall_time = ev.wall_time;
			o->value = ev.value;
			o->is_tensor = ev.is_tensor;
			o->file = f;
			o->first_in_file = first;
			first = 0;
			if (ev.kind == TBW_EVENT_SCALAR) {
				size_t n = ev.tag_len < sizeof o->tag - 1 ? ev.tag_len : sizeof o->tag - 1;
				memcpy(o->tag, ev.tag, n);
				o->tag[n] = '\0';
			}
		}
		if (st == TBW_TFR_TORN) {
			s->torn++;
			note(s, "torn last record (offset)", p,
			     (unsigned long long)tbw__tfr_reader_offset(r));
		} else if (st != TBW_TFR_END) {
			s->corrupt++;
			note(s, "corrupt record (after offset)", p,
			     (unsigned long long)tbw__tfr_reader_offset(r));
		}
		tbw__tfr_reader_close(r);
		close(fd);
	}
	return 0;
}

void cu_scan_free(cu_scan *s)
{
	free(s->ev);
	free(s->names);
	free(s->sizes);
	memset(s, 0, sizeof *s);
}

long long cu_file_size(const char *path)
{
	struct stat st;
	return stat(path, &st) < 0 ? -1 : (long long)st.st_size;
}
