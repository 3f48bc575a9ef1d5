/* syncer.c -- ship journal records to a sync folder (a Drive mount) as
 * immutable segments, merge them by levels, and restore a journal from them.
 *
 * PROTOCOL (each step crash-safe; see tests/test_crash_sync.c)
 *  1. Read records with seq > ship cursor (short read txns, TBW_SYNC_BATCH
 *     at a time).
 *  2. Encode a level-0 segment; write .tmp-<name>-<pid>, fsync, rename to
 *     <name>, fsync the directory.
 *  3. Advance the ship cursor to the last seq read, in one write txn.
 *  A crash before 3 re-ships the range: same name, same bytes (encoding is
 *  deterministic), or an overlapping range; restore deduplicates by seq.
 *  Merge: write the merged segment as in 2, then unlink its inputs, then
 *  fsync the directory. A crash in between leaves overlapping files.
 *
 * Nothing in the folder is appended to or rewritten in place; no mmap,
 * locks or sparse files there (it is a FUSE mount). Format of the files:
 * doc/segment-format.md.
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
#include "alloc.h"
#include "error.h"
#include "os.h"
#include "segment.h"
#include "syncer.h"

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

/* ---- Small helpers ---- */

static void hex16(char out[33], const uint8_t id[16])
{
	static const char hx[] = "0123456789abcdef";
	for (int i = 0; i < 16; i++) {
		out[2 * i] = hx[id[i] >> 4];
		out[2 * i + 1] = hx[id[i] & 15];
	}
	out[32] = '\0';
}

static int sealed(const seg_ent *e)
{
	return e->count > TBW_SEG_MAX_RECORDS / 2 || e->raw > TBW_SEG_MAX_RAW / 2;
}

static int ent_cmp(const seg_ent *a, const seg_ent *b)
{
	if (a->first != b->first)
		return a->first < b->first ? -1 : 1;
	if (a->last != b->last)
		return a->last < b->last ? -1 : 1;
	if (a->level != b->level)
		return a->level < b->level ? -1 : 1;
	return 0;
}

static int ent_qcmp(const void *a, const void *b) { return ent_cmp(a, b); }

/* Insert e, replacing an entry of the same name. */
static int ent_add(tbw_syncer *s, const seg_ent *e)
{
	size_t i;
	for (i = 0; i < s->nents; i++) {
		int c = ent_cmp(&s->ents[i], e);
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

static void ent_del(tbw_syncer *s, const seg_ent *e)
{
	for (size_t i = 0; i < s->nents; i++) {
		if (ent_cmp(&s->ents[i], e) == 0) {
			memmove(s->ents + i, s->ents + i + 1, (s->nents - i - 1) * sizeof *e);
			s->nents--;
			return;
		}
	}
}

/* Read a whole file of at most max bytes: opened with O_NOFOLLOW and
 * O_NONBLOCK (a FIFO must not block us), and it must be a regular file.
 * On failure *why says what is wrong (for damage reports). */
static int read_file_bounded(const char *path, uint64_t max, uint8_t **out, size_t *len,
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
static int write_durable(tbw_syncer *s, const char *name, const uint8_t *buf, size_t len,
                         const char *op)
{
	char tmpname[TBW_SEG_NAME_MAX + 32];
	char *tmp, *dst;
	int fd, rc;

	snprintf(tmpname, sizeof tmpname, ".tmp-%s-%ld", name, (long)getpid());
	tmp = tbw__path_join(s->run_dir, tmpname);
	dst = tbw__path_join(s->run_dir, name);
	if (!tmp || !dst) {
		tbw__free(tmp);
		tbw__free(dst);
		return tbw__error_set(TBW_ENOMEM, op, s->run_dir, "out of memory");
	}
	rc = tbw__open(&fd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW, 0666, op);
	if (rc == TBW_OK) {
		rc = tbw__write_all(fd, buf, len, op, tmp);
		if (rc == TBW_OK)
			rc = tbw__fsync(fd, 0, op, tmp);
		int crc = tbw__close(fd, op, tmp);
		if (rc == TBW_OK)
			rc = crc;
		if (rc == TBW_OK)
			rc = tbw__rename_durable(tmp, dst, op);
		if (rc != TBW_OK)
			tbw__os.unlink(tmp);
	}
	if (rc == TBW_OK)
		s->st.bytes_written += len;
	tbw__free(tmp);
	tbw__free(dst);
	return rc;
}

/* Run names become one directory name: no '/', no "..", no leading '.'. */
static void sanitize_name(char *out, size_t cap, const char *in)
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

static const char *base_name(const char *path)
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

static void json_str(char *out, size_t cap, const char *in)
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

static int read_file_bounded(const char *path, uint64_t max, uint8_t **out, size_t *len,
                             const char **why, const char *op);

/* 1: read (m filled), 0: there is no run.json, < 0: it could not be read
 * (the error is set). */
static int read_meta(const char *run_dir, runmeta *m)
{
	char *path = tbw__path_join(run_dir, META_NAME), *text;
	uint8_t *buf = NULL;
	size_t len = 0;
	const char *why, *v;
	char host[340], created[340];

	memset(m, 0, sizeof m[0]);
	if (!path)
		return tbw__error_set(TBW_ENOMEM, OP_OPEN, run_dir, "out of memory");
	int rc = read_file_bounded(path, 65536, &buf, &len, &why, OP_OPEN);
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
static uint32_t max_generation(const char *run_dir, int *any)
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
static int check_superseded(tbw_syncer *s, const char *op)
{
	runmeta m;
	if (s->superseded)
		return tbw__error_set(TBW_EBUSY, op, s->run_dir,
		                      "a newer generation ships this run; this writer (generation %u) "
		                      "ships no more", (unsigned)s->gen);
	if (read_meta(s->run_dir, &m) <= 0) {
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

/* ---- Open ---- */

/* A sync folder under Colab's Drive mount point while Drive is not mounted
 * there: every file would silently land on the VM's own disk and die with
 * it. The mount point and the mount table can be replaced for tests
 * (TBW_DRIVE_ROOT, TBW_MOUNTS_FILE). An unreadable mount table is not a
 * reason to refuse. */
int tbw__sync_check_dir(const char *sync_dir)
{
	const char *root = getenv("TBW_DRIVE_ROOT");
	const char *mounts = getenv("TBW_MOUNTS_FILE");
	char line[8192];
	size_t rl;
	FILE *f;
	int mounted = 0;

	if (!root || !*root)
		root = "/content/drive";
	if (!mounts || !*mounts)
		mounts = "/proc/self/mounts";
	rl = strlen(root);
	while (rl > 1 && root[rl - 1] == '/')
		rl--;
	if (strncmp(sync_dir, root, rl) != 0 || (sync_dir[rl] != '/' && sync_dir[rl] != '\0'))
		return TBW_OK;
	if (!(f = fopen(mounts, "re")))
		return TBW_OK;
	while (!mounted && fgets(line, sizeof line, f)) {
		char mp[4096];
		size_t o = 0;
		const char *p = strchr(line, ' ');
		if (!p)
			continue;
		/* The mount point, with the table's octal escapes (\040 ...) undone. */
		for (p++; *p && *p != ' ' && o + 1 < sizeof mp; p++) {
			if (p[0] == '\\' && p[1] >= '0' && p[1] <= '3' && p[2] >= '0' && p[2] <= '7' &&
			    p[3] >= '0' && p[3] <= '7') {
				mp[o++] = (char)((p[1] - '0') * 64 + (p[2] - '0') * 8 + (p[3] - '0'));
				p += 3;
			} else {
				mp[o++] = *p;
			}
		}
		mp[o] = '\0';
		/* Drive (or anything) mounted at the root or under it, on the
		 * way to sync_dir. */
		size_t ml = strlen(mp);
		if (ml >= rl && strncmp(mp, root, rl) == 0 && (mp[rl] == '\0' || mp[rl] == '/') &&
		    strncmp(sync_dir, mp, ml) == 0 && (sync_dir[ml] == '/' || sync_dir[ml] == '\0'))
			mounted = 1;
	}
	fclose(f);
	if (mounted)
		return TBW_OK;
	return tbw__error_set(TBW_ENOTFOUND, OP_OPEN, sync_dir,
	                      "the sync folder is under %.*s (Google Drive) but Drive is not mounted "
	                      "there: mount it first (from google.colab import drive; drive.mount('%.*s')), "
	                      "else the segments would go to this machine's local disk",
	                      (int)rl, root, (int)rl, root);
}

static int write_meta(tbw_syncer *s, const char *run_name, const tbw_jinfo *info)
{
	char name_j[300], host_j[600], base_j[600], hexid[33], text[2048];
	char *path;
	uint8_t *old = NULL;
	size_t oldlen = 0;
	const char *why;
	int rc, n;

	hex16(hexid, s->run_id);
	json_str(name_j, sizeof name_j, run_name);
	json_str(host_j, sizeof host_j, info->host);
	json_str(base_j, sizeof base_j, base_name(info->logdir));
	n = snprintf(text, sizeof text,
	             "{\"format\": \"tbwal-sync\", \"version\": 1, \"run_name\": %s, "
	             "\"run_id\": \"%s\", \"host\": %s, \"logdir_basename\": %s, "
	             "\"created\": %.6f, \"generation\": %u}\n",
	             name_j, hexid, host_j, base_j, info->created, (unsigned)s->gen);
	path = tbw__path_join(s->run_dir, META_NAME);
	if (!path)
		return tbw__error_set(TBW_ENOMEM, OP_OPEN, s->run_dir, "out of memory");
	/* Rewrite only when it differs: every rewrite is a new upload on Drive. */
	if (read_file_bounded(path, 65536, &old, &oldlen, &why, OP_OPEN) == TBW_OK &&
	    oldlen == (size_t)n && memcmp(old, text, (size_t)n) == 0)
		rc = TBW_OK;
	else
		rc = tbw__replace_file(path, text, (size_t)n, OP_OPEN);
	tbw__free(old);
	tbw__free(path);
	return rc;
}

/* List the run folder: drop our stale temp files, learn the segments. */
static int scan_folder(tbw_syncer *s)
{
	DIR *d = opendir(s->run_dir);
	struct dirent *de;
	int rc = TBW_OK;

	if (!d)
		return tbw__error_errno(errno, OP_OPEN, s->run_dir);
	while (rc == TBW_OK && (de = readdir(d)) != NULL) {
		seg_ent e;
		memset(&e, 0, sizeof e);
		if (strncmp(de->d_name, TMP_PREFIX, strlen(TMP_PREFIX)) == 0 ||
		    strncmp(de->d_name, META_TMP, strlen(META_TMP)) == 0) {
			char *p = tbw__path_join(s->run_dir, de->d_name);
			if (!p) {
				rc = tbw__error_set(TBW_ENOMEM, OP_OPEN, s->run_dir, "out of memory");
				break;
			}
			rc = tbw__unlink(p, OP_OPEN);
			tbw__free(p);
			continue;
		}
		uint32_t egen;
		if (!tbw__seg_parse_name_gen(de->d_name, &e.first, &e.last, &e.level, &egen) ||
		    egen != s->gen)
			continue;   /* another generation's segments are never merged with ours */
		/* Read the header only: enough to plan merges. */
		char *p = tbw__path_join(s->run_dir, de->d_name);
		uint8_t hb[TBW_SEG_HEADER_SIZE];
		size_t got = 0;
		int fd;
		tbw_seg_header h;
		if (!p) {
			rc = tbw__error_set(TBW_ENOMEM, OP_OPEN, s->run_dir, "out of memory");
			break;
		}
		e.bad = 1;
		if (tbw__open(&fd, p, O_RDONLY | O_NOFOLLOW | O_NONBLOCK, 0, OP_OPEN) == TBW_OK) {
			if (tbw__pread_full(fd, hb, sizeof hb, 0, &got, OP_OPEN, p) == TBW_OK &&
			    tbw__seg_read_header(hb, got, &h, NULL) == TBW_OK &&
			    memcmp(h.run_id, s->run_id, 16) == 0 && h.first_seq == e.first &&
			    h.last_seq == e.last && h.level == e.level) {
				e.bad = 0;
				e.count = h.count;
				e.raw = h.raw_size;
			}
			tbw__os.close(fd);
		}
		tbw__free(p);
		if (e.bad)
			s->st.unmergeable++;
		if (s->nents == s->capents) {
			size_t nc = s->capents ? s->capents * 2 : 64;
			seg_ent *ne = tbw__realloc(s->ents, nc * sizeof *ne);
			if (!ne) {
				rc = tbw__error_set(TBW_ENOMEM, OP_OPEN, s->run_dir, "out of memory");
				break;
			}
			s->ents = ne;
			s->capents = nc;
		}
		s->ents[s->nents++] = e;
	}
	closedir(d);
	if (rc == TBW_OK && s->nents)
		qsort(s->ents, s->nents, sizeof *s->ents, ent_qcmp);
	if (rc == TBW_OK)
		rc = tbw__fsync_dir(s->run_dir, 1, OP_OPEN);
	return rc;
}

int tbw__syncer_open(tbw_syncer **out, tbw_journal *j, const char *sync_dir,
                     const char *run_name, int wait_lock)
{
	tbw_syncer *s;
	tbw_jinfo *info = NULL;
	char name[128], hexid[33], *leaf = NULL;
	struct stat st;
	uint64_t ship = 0;
	int present = 0, rc, locked = 0;

	*out = NULL;
	if (!sync_dir || !*sync_dir)
		return tbw__error_set(TBW_EINVAL, OP_OPEN, NULL, "no sync folder given");
	if ((rc = tbw__sync_check_dir(sync_dir)) != TBW_OK)
		return rc;
	s = tbw__calloc(1, sizeof *s);
	info = tbw__calloc(1, sizeof *info);
	if (!s || !info) {
		rc = tbw__error_set(TBW_ENOMEM, OP_OPEN, sync_dir, "out of memory");
		goto fail;
	}
	s->j = j;
	rc = tbw__journal_lock(j, TBW_JROLE_SYNCER, wait_lock);
	if (rc)
		goto fail;
	locked = 1;
	rc = tbw__journal_info(j, info);
	if (rc)
		goto fail;
	memcpy(s->run_id, info->run_id, 16);
	sanitize_name(name, sizeof name, run_name ? run_name : base_name(info->logdir));
	hex16(hexid, s->run_id);
	leaf = tbw__malloc(strlen(name) + 34);
	if (!leaf) {
		rc = tbw__error_set(TBW_ENOMEM, OP_OPEN, sync_dir, "out of memory");
		goto fail;
	}
	sprintf(leaf, "%s-%s", name, hexid);
	s->run_dir = tbw__path_join(sync_dir, leaf);
	if (!s->run_dir) {
		rc = tbw__error_set(TBW_ENOMEM, OP_OPEN, sync_dir, "out of memory");
		goto fail;
	}
	rc = tbw__mkdir_p(s->run_dir, OP_OPEN);
	if (rc)
		goto fail;
	/* The folder may be shared: never follow a symlink planted as our run dir. */
	if (lstat(s->run_dir, &st) < 0) {
		rc = tbw__error_errno(errno, OP_OPEN, s->run_dir);
		goto fail;
	}
	if (!S_ISDIR(st.st_mode)) {
		rc = tbw__error_set(TBW_EINVAL, OP_OPEN, s->run_dir, "not a directory (a symlink?)");
		goto fail;
	}
	rc = tbw__fsync_dir(s->run_dir, 0, OP_OPEN);
	if (rc)
		goto fail;
	/* Attach the ship cursor: from now on the compactor prunes only what
	 * reached the folder. */
	rc = tbw__journal_get_ship(j, &ship, &present);
	if (rc == TBW_OK && !present) {
		/* First attach: what the compactor already pruned can never be
		 * shipped. Say how much, so tools can warn. */
		uint64_t first = 0, last = 0;
		if (tbw__journal_first_seq(j, &first) == TBW_OK && tbw__journal_last_seq(j, &last) == TBW_OK)
			s->st.unshippable = first ? first - 1 : last;
		rc = tbw__journal_set_ship(j, 0);
	}
	if (rc)
		goto fail;
	s->ship = ship;
	s->st.ship_seq = ship;
	/* Generation: ours if run.json names this journal; a new one if the
	 * folder was another journal's (a resumed or recovered run), so the two
	 * never write the same names and restore keeps one history. */
	{
		char host_j[600], created[64];
		runmeta m;
		int any = 0;
		uint32_t maxg;
		json_str(host_j, sizeof host_j, info->host);
		snprintf(created, sizeof created, "%.6f", info->created);
		snprintf(s->ident, sizeof s->ident, "%s %s", host_j, created);
		if ((rc = read_meta(s->run_dir, &m)) < 0)
			goto fail;    /* never start a generation over a run.json we could not read */
		maxg = max_generation(s->run_dir, &any);
		if (m.present && strcmp(m.ident, s->ident) == 0)
			s->gen = m.generation;
		else if (!m.present && !any)
			s->gen = 0;
		else
			s->gen = (m.generation > maxg ? m.generation : maxg) + 1;
		if (s->gen > TBW_SEG_MAX_GENERATION)
			s->gen = TBW_SEG_MAX_GENERATION;
		if (maxg > s->gen) {
			rc = tbw__error_set(TBW_EBUSY, OP_OPEN, s->run_dir,
			                    "generation %u ships this run; this journal's is %u",
			                    (unsigned)maxg, (unsigned)s->gen);
			goto fail;
		}
	}
	rc = scan_folder(s);
	if (rc == TBW_OK)
		rc = write_meta(s, name, info);
	if (rc)
		goto fail;
	s->batch = tbw__malloc(TBW_SYNC_BATCH * sizeof *s->batch);
	s->srecs = tbw__malloc(TBW_SYNC_BATCH * sizeof *s->srecs);
	if (!s->batch || !s->srecs) {
		rc = tbw__error_set(TBW_ENOMEM, OP_OPEN, sync_dir, "out of memory");
		goto fail;
	}
	s->st.files = (uint32_t)s->nents;
	tbw__free(info);
	tbw__free(leaf);
	*out = s;
	return TBW_OK;
fail:
	if (locked)
		tbw__journal_unlock(j, TBW_JROLE_SYNCER);
	if (s) {
		tbw__free(s->run_dir);
		tbw__free(s->ents);
		tbw__free(s->batch);
		tbw__free(s->srecs);
		tbw__free(s);
	}
	tbw__free(info);
	tbw__free(leaf);
	return rc;
}

const char *tbw__syncer_run_dir(const tbw_syncer *s)
{
	return s->run_dir;
}

void tbw__syncer_stats(const tbw_syncer *s, tbw_sync_stats *out)
{
	*out = s->st;
	out->files = (uint32_t)s->nents;
}

void tbw__syncer_close(tbw_syncer *s)
{
	if (!s)
		return;
	tbw__journal_unlock(s->j, TBW_JROLE_SYNCER);
	tbw__free(s->run_dir);
	tbw__free(s->ents);
	tbw__free(s->batch);
	tbw__free(s->srecs);
	tbw__free(s->bodies);
	tbw__free(s);
}

/* ---- Shipping ---- */

typedef struct tagmap {
	uint32_t id;
	uint32_t idx;  /* 1-based index into the segment's tag array */
} tagmap;

static int tagmap_cmp(const void *a, const void *b)
{
	uint32_t x = ((const tagmap *)a)->id, y = ((const tagmap *)b)->id;
	return x < y ? -1 : x > y;
}

/* Event bodies gathered for one level-0 segment: a new segment starts
 * once this many bytes are in (one record may go past it). Segments of
 * events stay small, so merges and restores hold little in memory. */
#define SHIP_EVENT_BYTES ((uint64_t)8 << 20)

/* Ship batch[0..n) as one level-0 segment. */
static int ship_batch(tbw_syncer *s, const tbw_jrec *batch, size_t n, size_t *nout)
{
	tagmap *tm = tbw__malloc((n ? n : 1) * sizeof *tm);
	tbw_seg_tag *tags = tbw__malloc((n ? n : 1) * sizeof *tags);
	size_t ntm = 0, m = 0;
	uint8_t *file = NULL;
	size_t flen = 0;
	int rc = TBW_OK;

	*nout = 0;
	if (!tm || !tags) {
		rc = tbw__error_set(TBW_ENOMEM, OP_PASS, s->run_dir, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		if (batch[i].tag_id != TBW_JTAG_SESSION_START && batch[i].tag_id != TBW_JTAG_NONE)
			tm[ntm++].id = batch[i].tag_id;
	{
		/* room for every event body, read one by one below */
		uint64_t need = 0;
		for (size_t i = 0; i < n; i++)
			need += batch[i].body_len;
		if (need > s->bodies_cap) {
			uint8_t *nb = tbw__realloc(s->bodies, (size_t)need);
			if (!nb) {
				rc = tbw__error_set(TBW_ENOMEM, OP_PASS, s->run_dir, "out of memory");
				goto out;
			}
			s->bodies = nb;
			s->bodies_cap = (size_t)need;
		}
	}
	qsort(tm, ntm, sizeof *tm, tagmap_cmp);
	{
		size_t u = 0;
		for (size_t i = 0; i < ntm; i++)
			if (u == 0 || tm[u - 1].id != tm[i].id)
				tm[u++] = tm[i];
		ntm = u;
	}
	for (size_t i = 0; i < ntm; i++) {
		const char *nm = NULL;
		size_t len = 0;
		if (tbw__journal_tag_name(s->j, tm[i].id, &nm, &len) != TBW_OK ||
		    !tbw__seg_tag_ok(nm, len)) {
			tm[i].idx = 0;  /* unreadable tag: its records cannot be shipped */
			continue;
		}
		tags[m].name = nm;
		tags[m].len = len;
		tm[i].idx = (uint32_t)++m;
	}
	size_t k = 0, boff = 0;
	for (size_t i = 0; i < n; i++) {
		const tbw_jrec *r = &batch[i];
		uint32_t idx = TBW_SEG_TAG_START;   /* for an event record: no tag */
		s->srecs[k].body = NULL;
		s->srecs[k].body_len = 0;
		if (r->body_len) {
			size_t got = 0;
			int brc = tbw__journal_read_body(s->j, r->seq, s->bodies + boff, s->bodies_cap - boff, &got);
			if (brc == TBW_ECORRUPT || brc == TBW_ENOTFOUND)
				continue;   /* damaged: cannot be shipped, like an unreadable tag */
			if (brc) {
				rc = brc;
				goto out;
			}
			s->srecs[k].body = s->bodies + boff;
			s->srecs[k].body_len = (uint32_t)got;
			boff += got;
		}
		if (r->tag_id != TBW_JTAG_SESSION_START && r->tag_id != TBW_JTAG_NONE) {
			tagmap key = { r->tag_id, 0 };
			tagmap *f = bsearch(&key, tm, ntm, sizeof *tm, tagmap_cmp);
			if (!f || !f->idx)
				continue;
			idx = f->idx;
		}
		s->srecs[k].seq = r->seq;
		s->srecs[k].wall_time = r->wall_time;
		s->srecs[k].step = r->step;
		s->srecs[k].value = r->value;
		s->srecs[k].tag = idx;
		k++;
	}
	if (k) {
		char name[TBW_SEG_NAME_MAX];
		seg_ent e;
		rc = tbw__seg_encode(s->run_id, 0, s->srecs, k, tags, m, &file, &flen);
		if (rc)
			goto out;
		tbw__seg_name_gen(name, s->srecs[0].seq, s->srecs[k - 1].seq, 0, s->gen);
		rc = write_durable(s, name, file, flen, OP_PASS);
		if (rc)
			goto out;
		memset(&e, 0, sizeof e);
		e.first = s->srecs[0].seq;
		e.last = s->srecs[k - 1].seq;
		e.level = 0;
		e.count = k;
		e.raw = flen; /* an upper bound would do; refined below */
		{
			tbw_seg_header h;
			if (tbw__seg_read_header(file, flen, &h, NULL) == TBW_OK)
				e.raw = h.raw_size;
		}
		if (ent_add(s, &e) != TBW_OK) {
			rc = tbw__error_set(TBW_ENOMEM, OP_PASS, s->run_dir, "out of memory");
			goto out;
		}
		s->st.segments_written++;
	}
	*nout = k;
out:
	tbw__free(file);
	tbw__free(tm);
	tbw__free(tags);
	return rc;
}

/* ---- Merging ---- */

/* Open-addressing map from tag name to index in a tag array. */
typedef struct namemap {
	uint32_t *slot;      /* 0 empty, else index + 1 */
	size_t    cap;
	tbw_seg_tag *tags;
	size_t    n, tcap;
} namemap;

static uint64_t hash_name(const char *p, size_t n)
{
	uint64_t h = 1469598103934665603ull;
	for (size_t i = 0; i < n; i++)
		h = (h ^ (uint8_t)p[i]) * 1099511628211ull;
	return h;
}

static void namemap_free(namemap *m)
{
	tbw__free(m->slot);
	tbw__free(m->tags);
	memset(m, 0, sizeof *m);
}

/* Index (0-based) of name, adding it if new; -1 on ENOMEM. */
static long namemap_get(namemap *m, const char *p, size_t n)
{
	if ((m->n + 1) * 2 > m->cap) {
		size_t nc = m->cap ? m->cap * 2 : 64;
		uint32_t *ns = tbw__calloc(nc, sizeof *ns);
		if (!ns)
			return -1;
		for (size_t i = 0; i < m->cap; i++) {
			if (!m->slot[i])
				continue;
			const tbw_seg_tag *t = &m->tags[m->slot[i] - 1];
			size_t h = (size_t)hash_name(t->name, t->len) & (nc - 1);
			while (ns[h])
				h = (h + 1) & (nc - 1);
			ns[h] = m->slot[i];
		}
		tbw__free(m->slot);
		m->slot = ns;
		m->cap = nc;
	}
	size_t h = (size_t)hash_name(p, n) & (m->cap - 1);
	while (m->slot[h]) {
		const tbw_seg_tag *t = &m->tags[m->slot[h] - 1];
		if (t->len == n && memcmp(t->name, p, n) == 0)
			return (long)m->slot[h] - 1;
		h = (h + 1) & (m->cap - 1);
	}
	if (m->n == m->tcap) {
		size_t nc = m->tcap ? m->tcap * 2 : 32;
		tbw_seg_tag *nt = tbw__realloc(m->tags, nc * sizeof *nt);
		if (!nt)
			return -1;
		m->tags = nt;
		m->tcap = nc;
	}
	m->tags[m->n].name = p;
	m->tags[m->n].len = n;
	m->slot[h] = (uint32_t)++m->n;
	return (long)m->n - 1;
}

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
		rc = read_file_bounded(p, FILE_MAX, &buf, &len, &why, OP_MERGE);
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
				if (ent_cmp(&s->ents[e], &group[i]) == 0)
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
				long idx = namemap_get(&nm, t->name, t->len);
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
		e.raw = tbw__seg_read_header(file, flen, &h, NULL) == TBW_OK ? h.raw_size : flen;
		tbw__seg_name_gen(name, e.first, e.last, e.level, s->gen);
		/* The merged file is in place (fsynced, renamed, dir fsynced)
		 * before any input goes. */
		rc = write_durable(s, name, file, flen, OP_MERGE);
		if (rc)
			goto out;
		for (size_t i = 0; i < g; i++)
			ent_del(s, &group[i]);
		if (ent_add(s, &e) != TBW_OK) {
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
	namemap_free(&nm);
	return rc;
}

/* Merge while some level holds TBW_SYNC_MERGE_FANIN unsealed segments. */
static int merge_due(tbw_syncer *s)
{
	seg_ent group[TBW_SYNC_MERGE_FANIN];
	for (;;) {
		int merged = 0;
		for (uint32_t level = 0; level < 99 && !merged; level++) {
			size_t cnt = 0;
			for (size_t i = 0; i < s->nents; i++)
				if (s->ents[i].level == level && !s->ents[i].bad && !sealed(&s->ents[i]))
					cnt++;
			if (cnt < TBW_SYNC_MERGE_FANIN)
				continue;
			/* The oldest ones, as many as fit the caps (each unsealed
			 * one holds at most half, so at least two do). */
			size_t g = 0;
			uint64_t recs = 0, raw = 0;
			for (size_t i = 0; i < s->nents && g < TBW_SYNC_MERGE_FANIN; i++) {
				const seg_ent *e = &s->ents[i];
				if (e->level != level || e->bad || sealed(e))
					continue;
				if (g >= 2 && (recs + e->count > TBW_SEG_MAX_RECORDS ||
				               raw + e->raw > TBW_SEG_MAX_RAW - 1024))
					break;
				recs += e->count;
				raw += e->raw;
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

void tbw__syncer_set_progress(tbw_syncer *s, tbw_sync_progress_fn fn, void *ctx)
{
	s->progress = fn;
	s->progress_ctx = ctx;
}

int tbw__syncer_pass(tbw_syncer *s, uint64_t *nshipped)
{
	uint64_t until = 0, cursor = s->ship, start = s->ship, shipped = 0;
	int rc, backlog;

	if (nshipped)
		*nshipped = 0;
	rc = check_superseded(s, OP_PASS);
	if (rc)
		return rc;
	rc = tbw__journal_last_seq(s->j, &until);
	if (rc)
		return rc;
	backlog = s->progress && until > start && until - start > TBW_SYNC_BATCH;
	while (cursor < until) {
		tbw_jread info;
		size_t k = 0;
		memset(&info, 0, sizeof info);
		rc = tbw__journal_read(s->j, cursor, s->batch, TBW_SYNC_BATCH, &info);
		if (rc)
			return rc;
		if (info.n == 0 && info.next_after <= cursor)
			break;
		for (size_t i0 = 0, i1; i0 < info.n; i0 = i1) {
			/* cut where the event bodies pass SHIP_EVENT_BYTES */
			uint64_t bytes = 0;
			size_t kk = 0;
			for (i1 = i0; i1 < info.n; i1++) {
				if (i1 > i0 && s->batch[i1].body_len && bytes + s->batch[i1].body_len > SHIP_EVENT_BYTES)
					break;
				bytes += s->batch[i1].body_len;
			}
			rc = ship_batch(s, s->batch + i0, i1 - i0, &kk);
			if (rc)
				return rc;
			k += kk;
			if (i1 < info.n) {
				/* this segment is in place: the cursor may move to it */
				rc = tbw__journal_set_ship(s->j, s->batch[i1 - 1].seq);
				if (rc)
					return rc;
				s->ship = s->batch[i1 - 1].seq;
				s->st.ship_seq = s->ship;
			}
		}
		/* The segment is in place: now, and only now, the cursor moves
		 * (past skipped damaged records too, so they do not pin the
		 * journal forever). */
		if (info.next_after > cursor) {
			rc = tbw__journal_set_ship(s->j, info.next_after);
			if (rc)
				return rc;
			cursor = info.next_after;
			s->ship = cursor;
			s->st.ship_seq = cursor;
		}
		shipped += k;
		if (backlog)   /* info.end: nothing is left before until */
			s->progress(s->progress_ctx, "shipping",
			            info.end || cursor >= until ? until - start : cursor - start, until - start);
		if (info.end)
			break;
	}
	s->st.passes++;
	s->st.records_shipped += shipped;
	if (nshipped)
		*nshipped = shipped;
	rc = merge_due(s);
	s->st.files = (uint32_t)s->nents;
	return rc;
}

/* ---- Restore ---- */

/* Sorted, disjoint, non-adjacent closed intervals of sequence numbers. */
typedef struct ivset {
	uint64_t (*iv)[2];
	size_t n, cap;
} ivset;

static int iv_contains(const ivset *s, uint64_t x)
{
	size_t lo = 0, hi = s->n;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (s->iv[mid][1] < x)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < s->n && s->iv[lo][0] <= x;
}

/* Union with the sorted runs add[0..m): one linear merge. */
static int iv_union(ivset *s, uint64_t (*add)[2], size_t m)
{
	size_t cap = s->n + m, o = 0, i = 0, j = 0;
	uint64_t (*out)[2] = tbw__malloc((cap ? cap : 1) * sizeof *out);
	if (!out)
		return TBW_ENOMEM;
	while (i < s->n || j < m) {
		uint64_t *next;
		if (j >= m || (i < s->n && s->iv[i][0] <= add[j][0]))
			next = s->iv[i++];
		else
			next = add[j++];
		if (o && next[0] <= out[o - 1][1] + 1 && out[o - 1][1] != UINT64_MAX) {
			if (next[1] > out[o - 1][1])
				out[o - 1][1] = next[1];
		} else if (o && out[o - 1][1] == UINT64_MAX) {
			/* already covers everything above */
		} else {
			out[o][0] = next[0];
			out[o][1] = next[1];
			o++;
		}
	}
	tbw__free(s->iv);
	s->iv = out;
	s->n = o;
	s->cap = cap;
	return TBW_OK;
}

typedef struct rstate {
	const char *run_dir;
	tbw_journal *dst;
	const tbw_sync_restore_opts *o;
	tbw_sync_report *rep;
	namemap tagmap;     /* names owned by tagnames[] */
	size_t tagcap;
	ivset seen;
	uint64_t next_first; /* first seq of the next segment by name, or UINT64_MAX */
} rstate;

static void report_damage(rstate *st, const char *file, uint64_t off, int in_payload,
                          int code, const char *why)
{
	st->rep->segments_bad++;
	if (st->o->on_damage)
		st->o->on_damage(st->o->ctx, file, off, in_payload, code, why);
}

#define ASIDE_DIR ".tbwal-set-aside"

/* Set a segment aside: moved into run_dir/.tbwal-set-aside/ (with dst and
 * opts->set_aside), or left in place; reported either way. */
static void set_aside(rstate *st, const char *file, uint64_t first, uint64_t last,
                      uint64_t records, const char *why)
{
	char *moved = NULL;
	st->rep->records_set_aside += records;
	if (st->dst && st->o->set_aside) {
		char *dir = tbw__path_join(st->run_dir, ASIDE_DIR);
		char *from = tbw__path_join(st->run_dir, file);
		char *to = dir ? tbw__path_join(dir, file) : NULL;
		struct stat sb;
		if (dir && from && to && (mkdir(dir, 0777) == 0 || errno == EEXIST) &&
		    lstat(dir, &sb) == 0 && S_ISDIR(sb.st_mode) &&
		    tbw__rename_durable(from, to, OP_RESTORE) == TBW_OK) {
			moved = to;
			to = NULL;
		}
		tbw__error_clear();
		tbw__free(dir);
		tbw__free(from);
		tbw__free(to);
	}
	if (st->o->on_aside)
		st->o->on_aside(st->o->ctx, file, first, last, records, moved, why);
	else if (st->o->on_damage)
		st->o->on_damage(st->o->ctx, file, 0, 0, TBW_ECORRUPT, why);
	tbw__free(moved);
}

/* A segment that decoded with lost blocks: one report per lost range. */
static void report_lost(rstate *st, const char *file, const tbw_seg *seg)
{
	st->rep->segments_bad++;
	for (size_t i = 0; i < seg->nlost; i++) {
		const tbw_seg_lost *l = &seg->lost[i];
		st->rep->blocks_lost++;
		st->rep->records_lost += l->records;
		if (st->o->on_lost) {
			st->o->on_lost(st->o->ctx, file, l);
		} else if (st->o->on_damage) {
			char why[400];
			tbw__seg_lost_describe(l, why, sizeof why);
			st->o->on_damage(st->o->ctx, file, l->offset, 0, l->code, why);
		}
	}
}

/* Per-tag "newest record" bookkeeping; the report owns NUL-terminated copies. */
static int tag_note(rstate *st, const char *name, size_t len, const tbw_seg_rec *r, int dup)
{
	tbw_sync_report *rep = st->rep;
	long idx;
	/* The map's keys point at the report's own copies. */
	size_t before = st->tagmap.n;
	idx = namemap_get(&st->tagmap, name, len);
	if (idx < 0)
		return TBW_ENOMEM;
	if ((size_t)idx == before) {
		char *copy = tbw__malloc(len + 1);
		if (!copy)
			return TBW_ENOMEM;
		memcpy(copy, name, len);
		copy[len] = '\0';
		if (rep->ntags == st->tagcap) {
			size_t nc = st->tagcap ? st->tagcap * 2 : 16;
			tbw_sync_tag_last *nt = tbw__realloc(rep->tags, nc * sizeof *nt);
			if (!nt) {
				tbw__free(copy);
				return TBW_ENOMEM;
			}
			rep->tags = nt;
			st->tagcap = nc;
		}
		memset(&rep->tags[rep->ntags], 0, sizeof rep->tags[0]);
		rep->tags[rep->ntags].tag = copy;
		rep->ntags++;
		st->tagmap.tags[idx].name = copy;
	}
	tbw_sync_tag_last *t = &rep->tags[idx];
	if (!dup)
		t->records++;
	if (r->seq > t->seq) {
		t->seq = r->seq;
		t->step = r->step;
		t->wall_time = r->wall_time;
	}
	return TBW_OK;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int tag_last_cmp(const void *a, const void *b)
{
	return strcmp(((const tbw_sync_tag_last *)a)->tag, ((const tbw_sync_tag_last *)b)->tag);
}

static void free_names(char **names, size_t nn)
{
	for (size_t i = 0; i < nn; i++)
		tbw__free(names[i]);
	tbw__free(names);
}

/* The names in run_dir that parse as segments, sorted; the folder itself
 * is opened with O_NOFOLLOW (it must not be a symlink either). */
static int list_segments(const char *run_dir, char ***out, size_t *nout, uint32_t *ignored)
{
	DIR *d;
	struct dirent *de;
	char **names = NULL;
	size_t nn = 0, cn = 0;
	int fd, rc;

	*out = NULL;
	*nout = 0;
	rc = tbw__open(&fd, run_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW, 0, OP_RESTORE);
	if (rc)
		return rc;
	d = fdopendir(fd);
	if (!d) {
		rc = tbw__error_errno(errno, OP_RESTORE, run_dir);
		tbw__os.close(fd);
		return rc;
	}
	while ((de = readdir(d)) != NULL) {
		uint64_t a, b;
		uint32_t l;
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (!tbw__seg_parse_name(de->d_name, &a, &b, &l)) {
			(*ignored)++;
			continue;
		}
		if (nn == cn) {
			size_t nc = cn ? cn * 2 : 64;
			char **nv = tbw__realloc(names, nc * sizeof *nv);
			if (!nv) {
				rc = TBW_ENOMEM;
				break;
			}
			names = nv;
			cn = nc;
		}
		if (!(names[nn] = tbw__strdup(de->d_name))) {
			rc = TBW_ENOMEM;
			break;
		}
		nn++;
	}
	closedir(d);
	if (rc) {
		free_names(names, nn);
		return tbw__error_set(TBW_ENOMEM, OP_RESTORE, run_dir, "out of memory");
	}
	if (nn)
		qsort(names, nn, sizeof *names, name_cmp);
	*out = names;
	*nout = nn;
	return TBW_OK;
}

/* Restore one decoded segment. */
static int restore_seg(rstate *st, const char *fname, const tbw_seg *seg, tbw_journal *dst)
{
	tbw_sync_report *rep = st->rep;
	uint64_t (*runs)[2] = NULL;
	size_t nruns = 0;
	tbw_jrec_named *named = NULL;
	int rc = TBW_OK;
	size_t rejected = 0;

	runs = tbw__malloc(seg->n * sizeof *runs);
	named = tbw__malloc((seg->n < TBW_SYNC_BATCH ? seg->n : TBW_SYNC_BATCH) * sizeof *named);
	if (!runs || !named) {
		rc = tbw__error_set(TBW_ENOMEM, OP_RESTORE, fname, "out of memory");
		goto out;
	}
	/* Validate tags against the journal's rules first. */
	if (dst) {
		for (size_t t = 0; t < seg->ntags; t++)
			if (tbw__journal_check_tag(seg->tags[t].name, seg->tags[t].len, OP_RESTORE) != TBW_OK)
				rejected++;
		if (rejected) {
			report_damage(st, fname, 0, 1, TBW_ECORRUPT, "tag name refused by the journal");
			goto out;
		}
	}
	size_t fill = 0;
	for (size_t i = 0; i < seg->n; i++) {
		const tbw_seg_rec *r = &seg->recs[i];
		int dup = iv_contains(&st->seen, r->seq);
		tbw_jrec_named *jn = &named[fill];
		jn->seq = r->seq;
		jn->wall_time = r->wall_time;
		jn->step = r->step;
		jn->value = r->value;
		jn->body = r->body_len ? r->body : NULL;
		jn->body_len = r->body_len;
		if (r->body_len && r->tag == 0) {
			jn->tag = NULL;     /* an event record naming no tag */
			jn->tag_len = 0;
		} else if (r->tag == TBW_SEG_TAG_START) {
			jn->tag = NULL;
			jn->tag_len = 0;
			if (!dup)
				rep->starts++;
		} else {
			jn->tag = seg->tags[r->tag - 1].name;
			jn->tag_len = seg->tags[r->tag - 1].len;
			rc = tag_note(st, jn->tag, jn->tag_len, r, dup);
			if (rc) {
				rc = tbw__error_set(TBW_ENOMEM, OP_RESTORE, fname, "out of memory");
				goto out;
			}
		}
		rep->records++;
		if (!dup && !dst)
			rep->records_new++;
		if (!isnan(r->wall_time) && (rep->newest_wall_time == 0 || r->wall_time > rep->newest_wall_time))
			rep->newest_wall_time = r->wall_time;
		if (nruns && runs[nruns - 1][1] + 1 == r->seq)
			runs[nruns - 1][1] = r->seq;
		else {
			runs[nruns][0] = runs[nruns][1] = r->seq;
			nruns++;
		}
		if (st->o->on_record && st->o->on_record(st->o->ctx, jn)) {
			st->rep->stopped = 1;   /* a result, not an error */
			goto out;
		}
		fill++;
		if (dst && (fill == TBW_SYNC_BATCH || i + 1 == seg->n)) {
			size_t ins = 0;
			rc = tbw__journal_insert(dst, named, fill, &ins);
			if (rc)
				goto out;
			rep->records_new += ins;
			if (st->o->on_batch) {
				uint64_t safe = r->seq < st->next_first ? r->seq : st->next_first - 1;
				if (st->o->on_batch(st->o->ctx, safe)) {
					st->rep->stopped = 1;
					goto out;
				}
			}
		}
		if (fill == TBW_SYNC_BATCH)
			fill = 0;
	}
	if (iv_union(&st->seen, runs, nruns) != TBW_OK)
		rc = tbw__error_set(TBW_ENOMEM, OP_RESTORE, fname, "out of memory");
	rep->segments_ok++;
out:
	tbw__free(runs);
	tbw__free(named);
	return rc;
}

int tbw__sync_restore(const char *run_dir, tbw_journal *dst,
                      const tbw_sync_restore_opts *opts, tbw_sync_report *rep)
{
	static const tbw_sync_restore_opts none = TBW_SYNC_RESTORE_OPTS_INIT;
	rstate st;
	char **names = NULL;
	size_t nn = 0;
	int rc = TBW_OK;

	memset(rep, 0, sizeof *rep);
	memset(&st, 0, sizeof st);
	st.o = opts ? opts : &none;
	st.rep = rep;
	if (st.o->run_id) {
		memcpy(rep->run_id, st.o->run_id, 16);
		rep->have_run_id = 1;
	} else if (!dst && tbw__sync_run_id(run_dir, rep->run_id) == TBW_OK) {
		rep->have_run_id = 1;   /* the folder's own run (run.json or name) */
	} else if (dst) {
		tbw_jinfo *info = tbw__malloc(sizeof *info);
		if (!info)
			return tbw__error_set(TBW_ENOMEM, OP_RESTORE, run_dir, "out of memory");
		rc = tbw__journal_info(dst, info);
		if (rc == TBW_OK) {
			memcpy(rep->run_id, info->run_id, 16);
			rep->have_run_id = 1;
		}
		tbw__free(info);
		if (rc)
			return rc;
	}
	rc = list_segments(run_dir, &names, &nn, &rep->files_ignored);
	if (rc)
		goto out;
	st.run_dir = run_dir;
	st.dst = dst;
	/* The newest generation, and the first sequence number it holds. */
	uint32_t gmax = 0;
	uint64_t gfirst = UINT64_MAX;
	for (size_t i = 0; i < nn; i++) {
		uint64_t f, l;
		uint32_t lv, g;
		if (tbw__seg_parse_name_gen(names[i], &f, &l, &lv, &g) && g > gmax)
			gmax = g;
	}
	for (size_t i = 0; i < nn; i++) {
		uint64_t f, l;
		uint32_t lv, g;
		if (tbw__seg_parse_name_gen(names[i], &f, &l, &lv, &g) && g == gmax && f < gfirst)
			gfirst = f;
	}
	rep->generation = gmax;

	for (size_t i = 0; i < nn && rc == TBW_OK && !rep->stopped; i++) {
		uint64_t nfirst = 0, nlast = 0;
		uint32_t nlevel = 0, ngen = 0;
		tbw__seg_parse_name_gen(names[i], &nfirst, &nlast, &nlevel, &ngen);
		if (ngen < gmax && nfirst >= gfirst) {
			char why[200];
			tbw_seg_header sh;
			uint64_t recs = 0;
			{
				/* Its record count, from the header, if it reads. */
				char *p = tbw__path_join(run_dir, names[i]);
				int fd;
				if (p && tbw__open(&fd, p, O_RDONLY | O_NOFOLLOW | O_NONBLOCK, 0, OP_RESTORE) == TBW_OK) {
					uint8_t hb[TBW_SEG_HEADER_SIZE];
					size_t got = 0;
					if (tbw__pread_full(fd, hb, sizeof hb, 0, &got, OP_RESTORE, p) == TBW_OK &&
					    tbw__seg_read_header(hb, got, &sh, NULL) == TBW_OK)
						recs = sh.count;
					tbw__os.close(fd);
				}
				tbw__error_clear();
				tbw__free(p);
			}
			snprintf(why, sizeof why, "generation %u superseded: generation %u holds this run "
			         "from seq %llu on (resumed or recovered elsewhere)", (unsigned)ngen,
			         (unsigned)gmax, (unsigned long long)gfirst);
			rep->segments_superseded++;
			set_aside(&st, names[i], nfirst, nlast, recs, why);
			continue;
		}
		char *path = tbw__path_join(run_dir, names[i]);
		uint8_t *buf = NULL;
		size_t len = 0;
		const char *why = NULL;
		tbw_seg seg;
		tbw_seg_damage dmg;
		if (!path) {
			rc = tbw__error_set(TBW_ENOMEM, OP_RESTORE, run_dir, "out of memory");
			break;
		}
		int frc = read_file_bounded(path, FILE_MAX, &buf, &len, &why, OP_RESTORE);
		tbw__free(path);
		if (frc == TBW_ENOMEM) {
			rc = frc;
			break;
		}
		if (frc) {
			report_damage(&st, names[i], 0, 0, frc, why ? why : "unreadable");
			continue;
		}
		memset(&dmg, 0, sizeof dmg);
		frc = tbw__seg_decode(buf, len, &seg, &dmg);
		tbw__free(buf);
		if (frc == TBW_ENOMEM) {
			rc = frc;
			break;
		}
		if (frc) {
			report_damage(&st, names[i], dmg.offset, dmg.in_payload, frc, dmg.reason);
			continue;
		}
		if (!rep->have_run_id) {
			memcpy(rep->run_id, seg.h.run_id, 16);
			rep->have_run_id = 1;
		}
		if (seg.nlost)
			report_lost(&st, names[i], &seg);
		if (memcmp(seg.h.run_id, rep->run_id, 16) != 0) {
			char hx[33], why2[120];
			hex16(hx, seg.h.run_id);
			snprintf(why2, sizeof why2, "foreign: a segment of run %s, not of this run", hx);
			rep->segments_foreign++;
			set_aside(&st, names[i], seg.h.first_seq, seg.h.last_seq, seg.n, why2);
			tbw__seg_release(&seg);
			continue;
		}
		if (ngen < gmax && seg.n && seg.recs[seg.n - 1].seq >= gfirst) {
			/* Partly superseded: keep what lies below the newest
			 * generation's first record, report the rest. */
			size_t keep = 0;
			char why2[200];
			while (keep < seg.n && seg.recs[keep].seq < gfirst)
				keep++;
			snprintf(why2, sizeof why2, "generation %u superseded from seq %llu on by generation "
			         "%u; the segment's records below it are used", (unsigned)ngen,
			         (unsigned long long)gfirst, (unsigned)gmax);
			{
				tbw_sync_aside_fn f = st.o->on_aside;
				st.rep->records_set_aside += seg.n - keep;
				if (f)
					f(st.o->ctx, names[i], seg.recs[keep].seq, seg.recs[seg.n - 1].seq,
					  seg.n - keep, NULL, why2);
			}
			seg.n = keep;
		}
		/* Names sort by first sequence number: the next one's bounds
		 * what later segments can still add (see tbw_sync_batch_fn). */
		st.next_first = UINT64_MAX;
		if (i + 1 < nn) {
			uint64_t f, l;
			uint32_t lv;
			if (tbw__seg_parse_name(names[i + 1], &f, &l, &lv) && f > 0)
				st.next_first = f;
		}
		if (seg.n)
			rc = restore_seg(&st, names[i], &seg, dst);
		tbw__seg_release(&seg);
	}
	if (st.seen.n) {
		uint64_t have = 0;
		rep->first_seq = st.seen.iv[0][0];
		rep->last_seq = st.seen.iv[st.seen.n - 1][1];
		for (size_t i = 0; i < st.seen.n; i++)
			have += st.seen.iv[i][1] - st.seen.iv[i][0] + 1;
		rep->missing = rep->last_seq - rep->first_seq + 1 - have;
	}
	rep->duplicates = rep->records - rep->records_new;
	if (rep->ntags)
		qsort(rep->tags, rep->ntags, sizeof *rep->tags, tag_last_cmp);
out:
	free_names(names, nn);
	namemap_free(&st.tagmap);
	tbw__free(st.seen.iv);
	return rc;
}

void tbw__sync_report_free(tbw_sync_report *rep)
{
	if (!rep)
		return;
	for (size_t i = 0; i < rep->ntags; i++)
		tbw__free(rep->tags[i].tag);
	tbw__free(rep->tags);
	rep->tags = NULL;
	rep->ntags = 0;
}

int tbw__sync_run_id(const char *run_dir, uint8_t run_id[16])
{
	runmeta m;
	char base[256];
	size_t n = strlen(run_dir);

	if (read_meta(run_dir, &m) < 0)
		tbw__error_clear();
	if (m.have_id) {
		memcpy(run_id, m.run_id, 16);
		return TBW_OK;
	}
	while (n > 1 && run_dir[n - 1] == '/')
		n--;
	size_t b = n;
	while (b > 0 && run_dir[b - 1] != '/')
		b--;
	if (n - b < sizeof base) {
		memcpy(base, run_dir + b, n - b);
		base[n - b] = '\0';
		if (tbw__sync_parse_run_dir(base, run_id, NULL, 0))
			return TBW_OK;
	}
	return tbw__error_set(TBW_ENOTFOUND, OP_RESTORE, run_dir,
	                      "no run.json with a run_id, and the folder's name is not <run>-<run id>");
}

int tbw__sync_parse_run_dir(const char *dirname, uint8_t run_id[16], char *name_out, size_t cap)
{
	size_t n = strlen(dirname);
	if (n < 34 || dirname[n - 33] != '-')
		return 0;
	const char *h = dirname + n - 32;
	for (int i = 0; i < 16; i++) {
		int v = 0;
		for (int k = 0; k < 2; k++) {
			char c = h[2 * i + k];
			v <<= 4;
			if (c >= '0' && c <= '9')
				v |= c - '0';
			else if (c >= 'a' && c <= 'f')
				v |= c - 'a' + 10;
			else
				return 0;
		}
		run_id[i] = (uint8_t)v;
	}
	if (name_out && cap) {
		size_t l = n - 33;
		if (l >= cap)
			l = cap - 1;
		memcpy(name_out, dirname, l);
		name_out[l] = '\0';
	}
	return 1;
}
