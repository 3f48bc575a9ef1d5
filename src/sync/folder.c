/* folder.c -- the run folder of a sync folder, shared by shipping, merging and
 * restore: bounded reads, durable writes (temp, fsync, rename), segment
 * entries, run.json (identity and generation), tag-name maps.
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
#include "base/strmap.h"
#include "format/segment.h"
#include "sync/sync_folder.h"
#include "sync/syncer.h"

/* ---- Small helpers ---- */

int tbw__sync_sealed(const seg_ent *e)
{
	return e->count > TBW_SEG_MAX_RECORDS / 2 || e->raw > TBW_SEG_MAX_RAW / 2 ||
	       e->blocks > TBW_SEG_MAX_BLOCKS / 2;
}

int tbw__sync_ent_cmp(const seg_ent *a, const seg_ent *b)
{
	if (a->first != b->first)
		return a->first < b->first ? -1 : 1;
	if (a->last != b->last)
		return a->last < b->last ? -1 : 1;
	if (a->level != b->level)
		return a->level < b->level ? -1 : 1;
	return 0;
}

/* qsort's form of tbw__sync_ent_cmp. */
int tbw__sync_ent_qcmp(const void *a, const void *b) { return tbw__sync_ent_cmp(a, b); }

/* Insert e, replacing an entry of the same name. */
int tbw__sync_ent_add(tbw_syncer *s, const seg_ent *e)
{
	size_t i;
	for (i = 0; i < s->nents; i++) {
		int c = tbw__sync_ent_cmp(&s->ents[i], e);
		if (c == 0) {
			s->ents[i] = *e;
			return TBW_OK;
		}
		if (c > 0)
			break;
	}
	if (s->nents == s->capents) {
		size_t nc = s->capents ? s->capents * 2 : 64;
		seg_ent *ne = tbw__realloc(s->ents, nc * sizeof *ne);
		if (!ne)
			return TBW_ENOMEM;
		s->ents = ne;
		s->capents = nc;
	}
	memmove(s->ents + i + 1, s->ents + i, (s->nents - i) * sizeof *e);
	s->ents[i] = *e;
	s->nents++;
	return TBW_OK;
}

void tbw__sync_ent_del(tbw_syncer *s, const seg_ent *e)
{
	for (size_t i = 0; i < s->nents; i++) {
		if (tbw__sync_ent_cmp(&s->ents[i], e) == 0) {
			memmove(s->ents + i, s->ents + i + 1, (s->nents - i - 1) * sizeof *e);
			s->nents--;
			return;
		}
	}
}

/* Read a whole file of at most max bytes: opened with O_NOFOLLOW and
 * O_NONBLOCK (a FIFO must not block us), and it must be a regular file.
 * On failure *why says what is wrong (for damage reports). */
int tbw__sync_read_file_bounded(const char *path, uint64_t max, uint8_t **out, size_t *len,
                             const char **why, const char *op)
{
	struct stat st;
	int fd, rc;
	size_t got = 0;
	uint8_t *buf;

	*out = NULL;
	*len = 0;
	*why = NULL;
	rc = tbw__open(&fd, path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK, 0, op);
	if (rc) {
		*why = errno == ELOOP ? "symlink, not followed" : "cannot be opened";
		return rc;
	}
	if (tbw__os.fstat(fd, &st) < 0) {
		rc = tbw__error_errno(errno, op, path);
		*why = "cannot be examined";
		tbw__os.close(fd);
		return rc;
	}
	if (!S_ISREG(st.st_mode)) {
		tbw__os.close(fd);
		*why = "not a regular file";
		return tbw__error_set(TBW_ECORRUPT, op, path, "not a regular file");
	}
	if ((uint64_t)st.st_size > max) {
		tbw__os.close(fd);
		*why = "larger than any segment can be";
		return tbw__error_set(TBW_ECORRUPT, op, path, "file of %lld bytes exceeds %llu",
		                      (long long)st.st_size, (unsigned long long)max);
	}
	buf = tbw__malloc(st.st_size ? (size_t)st.st_size : 1);
	if (!buf) {
		tbw__os.close(fd);
		*why = "out of memory";
		return tbw__error_set(TBW_ENOMEM, op, path, "out of memory");
	}
	rc = tbw__pread_full(fd, buf, (size_t)st.st_size, 0, &got, op, path);
	tbw__os.close(fd);
	if (rc) {
		tbw__free(buf);
		*why = "read failed";
		return rc;
	}
	*out = buf;
	*len = got;
	return TBW_OK;
}

/* Write a file into the folder: temp name, fsync, rename, fsync dir. */
int tbw__sync_write_durable(tbw_syncer *s, const char *name, const uint8_t *buf, size_t len,
                            const char *op)
{
	char tmpname[TBW_SEG_NAME_MAX + 32];
	char *tmp, *dst;
	int rc;

	snprintf(tmpname, sizeof tmpname, ".tmp-%s-%ld", name, (long)getpid());
	tmp = tbw__path_join(s->run_dir, tmpname);
	dst = tbw__path_join(s->run_dir, name);
	if (!tmp || !dst) {
		tbw__free(tmp);
		tbw__free(dst);
		return tbw__error_set(TBW_ENOMEM, op, s->run_dir, "out of memory");
	}
	rc = tbw__write_durable(tmp, dst, buf, len, O_NOFOLLOW, NULL, op);
	if (rc == TBW_OK)
		s->st.bytes_written += len;
	tbw__free(tmp);
	tbw__free(dst);
	return rc;
}

/* Run names become one directory name: no '/', no "..", no leading '.'. */
void tbw__sync_sanitize_name(char *out, size_t cap, const char *in)
{
	size_t o = 0;
	for (const char *p = in; *p && o + 1 < cap && o < 100; p++) {
		unsigned char c = (unsigned char)*p;
		int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		         c == '.' || c == '_' || c == '-' || c == '+' || c == '=' || c == '@' || c == ',';
		if (o == 0 && c == '.')
			continue;
		out[o++] = ok ? (char)c : '_';
	}
	out[o] = '\0';
	if (o == 0)
		snprintf(out, cap, "run");
}

const char *tbw__sync_base_name(const char *path)
{
	static __thread char buf[256];
	size_t n = strlen(path);
	while (n > 1 && path[n - 1] == '/')
		n--;
	size_t b = n;
	while (b > 0 && path[b - 1] != '/')
		b--;
	size_t l = n - b;
	if (l >= sizeof buf)
		l = sizeof buf - 1;
	memcpy(buf, path + b, l);
	buf[l] = '\0';
	return buf;
}

void tbw__sync_json_str(char *out, size_t cap, const char *in)
{
	size_t o = 0;
	out[o++] = '"';
	for (const unsigned char *p = (const unsigned char *)in; *p && o + 8 < cap; p++) {
		if (*p == '"' || *p == '\\') {
			out[o++] = '\\';
			out[o++] = (char)*p;
		} else if (*p < 0x20 || *p == 0x7f) {
			o += (size_t)snprintf(out + o, cap - o, "\\u%04x", *p);
		} else {
			out[o++] = (char)*p;
		}
	}
	out[o++] = '"';
	out[o] = '\0';
}

/* ---- run.json: identity and generation ---- */

/* Pointer to the value of "key" in text, or NULL. */
static const char *json_value(const char *text, const char *key)
{
	char pat[64];
	const char *p;
	snprintf(pat, sizeof pat, "\"%s\"", key);
	if (!(p = strstr(text, pat)))
		return NULL;
	p += strlen(pat);
	while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
		p++;
	if (*p++ != ':')
		return NULL;
	while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
		p++;
	return p;
}

/* The raw text of a JSON string or number value (quotes kept), into out. */
static void json_raw(const char *v, char *out, size_t cap)
{
	size_t n = 0;
	if (!v) {
		out[0] = '\0';
		return;
	}
	if (*v == '"') {
		n = 1;
		while (v[n] && v[n] != '"') {
			if (v[n] == '\\' && v[n + 1])
				n++;
			n++;
		}
		if (v[n] == '"')
			n++;
	} else {
		while (v[n] && v[n] != ',' && v[n] != '}' && v[n] != ' ' && v[n] != '\n')
			n++;
	}
	if (n >= cap)
		n = cap - 1;
	memcpy(out, v, n);
	out[n] = '\0';
}

static int parse_hex_id(const char *h, uint8_t id[16])
{
	for (int i = 0; i < 32; i++) {
		char c = h[i];
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return 0;
	}
	for (int i = 0; i < 16; i++) {
		int v = 0;
		for (int k = 0; k < 2; k++) {
			char c = h[2 * i + k];
			v = (v << 4) | (c <= '9' ? c - '0' : c - 'a' + 10);
		}
		id[i] = (uint8_t)v;
	}
	return 1;
}



/* 1: read (m filled), 0: there is no run.json, < 0: it could not be read
 * (the error is set). */
int tbw__sync_read_meta(const char *run_dir, runmeta *m)
{
	char *path = tbw__path_join(run_dir, META_NAME), *text;
	uint8_t *buf = NULL;
	size_t len = 0;
	const char *why, *v;
	char host[340], created[340];

	memset(m, 0, sizeof m[0]);
	if (!path)
		return tbw__error_set(TBW_ENOMEM, OP_OPEN, run_dir, "out of memory");
	int rc = tbw__sync_read_file_bounded(path, 65536, &buf, &len, &why, OP_OPEN);
	if (rc != TBW_OK) {
		struct stat st;
		int absent = lstat(path, &st) != 0 && errno == ENOENT;
		tbw__free(path);
		if (absent) {
			tbw__error_clear();
			return 0;
		}
		return rc;
	}
	tbw__free(path);
	text = tbw__malloc(len + 1);
	if (!text) {
		tbw__free(buf);
		return tbw__error_set(TBW_ENOMEM, OP_OPEN, run_dir, "out of memory");
	}
	memcpy(text, buf, len);
	text[len] = '\0';
	tbw__free(buf);
	m->present = 1;
	v = json_value(text, "run_id");
	if (v && *v == '"' && strlen(v) >= 34 && v[33] == '"' && parse_hex_id(v + 1, m->run_id))
		m->have_id = 1;
	v = json_value(text, "generation");
	if (v && *v >= '0' && *v <= '9') {
		unsigned long g = strtoul(v, NULL, 10);
		m->generation = g > TBW_SEG_MAX_GENERATION ? TBW_SEG_MAX_GENERATION : (uint32_t)g;
	}
	json_raw(json_value(text, "host"), host, sizeof host);
	json_raw(json_value(text, "created"), created, sizeof created);
	snprintf(m->ident, sizeof m->ident, "%s %s", host, created);
	tbw__free(text);
	return 1;
}

/* Highest generation among the segment names in run_dir (0 if none);
 * *any says whether there is a segment at all. */
uint32_t tbw__sync_max_generation(const char *run_dir, int *any)
{
	DIR *d = opendir(run_dir);
	struct dirent *de;
	uint32_t g = 0;
	*any = 0;
	if (!d)
		return 0;
	while ((de = readdir(d)) != NULL) {
		uint64_t a, b;
		uint32_t lv, gen;
		if (tbw__seg_parse_name_gen(de->d_name, &a, &b, &lv, &gen)) {
			*any = 1;
			if (gen > g)
				g = gen;
		}
	}
	closedir(d);
	return g;
}

/* Has a newer generation (or another journal in ours) taken the folder? */
int tbw__sync_check_superseded(tbw_syncer *s, const char *op)
{
	runmeta m;
	if (s->superseded)
		return tbw__error_set(TBW_EBUSY, op, s->run_dir,
		                      "a newer generation ships this run; this writer (generation %u) "
		                      "ships no more", (unsigned)s->gen);
	if (tbw__sync_read_meta(s->run_dir, &m) <= 0) {
		tbw__error_clear();   /* unreadable now: the next pass looks again */
		return TBW_OK;
	}
	if (m.generation > s->gen || (m.generation == s->gen && strcmp(m.ident, s->ident) != 0)) {
		s->superseded = 1;
		return tbw__error_set(TBW_EBUSY, op, s->run_dir,
		                      "generation %u (%s) now ships this run (resumed or recovered "
		                      "elsewhere); this writer (generation %u) ships no more",
		                      (unsigned)m.generation, m.ident, (unsigned)s->gen);
	}
	return TBW_OK;
}

/* ---- Tag names of merged and restored segments ---- */

void tbw__sync_namemap_free(namemap *m)
{
	tbw__strmap_free(&m->map);
	tbw__free(m->tags);
	memset(m, 0, sizeof *m);
}

/* Index (0-based) of name, adding it if new; -1 on ENOMEM. */
long tbw__sync_namemap_get(namemap *m, const char *p, size_t n)
{
	uint32_t idx;

	if (tbw__strmap_find(&m->map, p, n, &idx))
		return (long)idx;
	if (m->n == m->tcap) {
		size_t nc = m->tcap ? m->tcap * 2 : 32;
		tbw_seg_tag *nt = tbw__realloc(m->tags, nc * sizeof *nt);
		if (!nt)
			return -1;
		m->tags = nt;
		m->tcap = nc;
	}
	if (tbw__strmap_put(&m->map, p, n, (uint32_t)m->n) != TBW_OK)
		return -1;
	m->tags[m->n].name = p;
	m->tags[m->n].len = n;
	return (long)m->n++;
}

void tbw__sync_namemap_move(namemap *m, size_t idx, const char *name)
{
	m->tags[idx].name = name;
	(void)tbw__strmap_put(&m->map, name, m->tags[idx].len, (uint32_t)idx);   /* found: no allocation */
}
