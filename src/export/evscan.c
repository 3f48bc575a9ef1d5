/* evscan.c -- read back one of our event files as journal records (see
 * evscan.h): recovery's event-file source and reconciliation, and backfill.
 */
#include "config.h"
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "base/error.h"
#include "base/os.h"
#include "base/tagname.h"
#include "export/evscan.h"
#include "format/event.h"
#include "format/tfrecord.h"

#define OP "read event file"

int tbw__evscan_is_tombstone(const tbw_event *ev)
{
	return ev->kind == TBW_EVENT_OTHER && !ev->tag && !ev->file_version && !ev->body_len;
}

int tbw__evscan_record(uint64_t seq, const tbw_event *ev, tbw_jrec_named *rec)
{
	memset(rec, 0, sizeof *rec);
	if (tbw__evscan_is_tombstone(ev))
		return 1;
	rec->seq = seq;
	rec->wall_time = ev->wall_time;
	rec->step = ev->step;
	if (ev->body_len) {
		/* an event record: its tag as tbw_add_event derives one */
		const char *tag = NULL;
		size_t tl = 0;
		char why[128];
		if (tbw__event_body_tag(ev->body, ev->body_len, &tag, &tl) != 0 ||
		    tbw__tagname_check(tag, tl, why, sizeof why) != 0) {
			tag = NULL;
			tl = 0;
		}
		rec->tag = tag;
		rec->tag_len = tl;
		rec->body = ev->body;
		rec->body_len = ev->body_len;
	} else if (ev->kind != TBW_EVENT_SESSION_START) {
		rec->tag = ev->tag;
		rec->tag_len = ev->tag_len;
		rec->value = (double)ev->value;
	}
	return 0;
}

/* 1 if data (decoded as ev, a scalar or a START) is exactly what the
 * compactor writes for such a journal record, so that restoring it as one
 * exports the same bytes again; else it is an event record. */
static int our_encoding(const uint8_t *data, size_t len, const tbw_event *ev)
{
	uint8_t buf[96 + TBW_TAG_MAX + 64];
	size_t n;

	if (ev->kind == TBW_EVENT_SESSION_START)
		n = tbw__event_encode_session_start(buf, ev->wall_time, ev->step);
	else if (ev->kind == TBW_EVENT_SCALAR && ev->tag_len <= TBW_TAG_MAX)
		n = ev->is_tensor ? tbw__event_encode_tensor(buf, ev->wall_time, ev->step, ev->tag, ev->tag_len, ev->value)
		                  : tbw__event_encode_simple(buf, ev->wall_time, ev->step, ev->tag, ev->tag_len, ev->value);
	else
		return 0;
	return n == len && memcmp(buf, data, len) == 0;
}

int tbw__evscan_file(const char *path, uint64_t base_seq, int with_start, tbw_evscan_fn fn, void *ctx,
                     tbw_evscan *res)
{
	tbw_tfr_reader *r = NULL;
	int fd = -1, rc;
	uint64_t nev = 0, base = base_seq;

	memset(res, 0, sizeof *res);
	res->last_seq = base;
	/* O_NONBLOCK: a FIFO named like an event file must not hang recovery
	 * in open() (found by fuzz/fuzz_recover); only regular files are read. */
	{
		/* A symlink, FIFO or folder named like one of our event files
		 * is damage in LOGDIR, not a reason to stop: report it as a
		 * damaged file (it is moved aside with what follows it). */
		struct stat st;
		if (lstat(path, &st) != 0)
			return tbw__error_errno(errno, OP, path);
		if (!S_ISREG(st.st_mode)) {
			res->status = TBW_TFR_CORRUPT;
			snprintf(res->why, sizeof res->why, "not a regular file (a %s named like an event file of this run)",
			         S_ISLNK(st.st_mode) ? "symlink" : S_ISDIR(st.st_mode) ? "folder" :
			         S_ISFIFO(st.st_mode) ? "FIFO" : "special file");
			return TBW_OK;
		}
	}
	rc = tbw__open(&fd, path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK, 0, OP);
	if (rc != TBW_OK)
		return rc;
	{
		struct stat st;
		if (fstat(fd, &st) != 0)
			rc = tbw__error_errno(errno, OP, path);
		else if (!S_ISREG(st.st_mode))   /* replaced since the lstat */
			rc = tbw__error_set(TBW_EIO, OP, path,
			                    "not a regular file (named like an event file of this run)");
		if (rc != TBW_OK) {
			tbw__os.close(fd);
			return rc;
		}
	}
	rc = tbw__tfr_reader_open(&r, fd, 0, path);
	if (rc != TBW_OK) {
		tbw__os.close(fd);
		return rc;
	}
	for (;;) {
		const uint8_t *data;
		size_t len;
		uint64_t off;
		tbw_event ev;
		int st = tbw__tfr_reader_next(r, &data, &len, &off);

		if (st < 0) {
			rc = st;
			break;
		}
		if (st != TBW_TFR_RECORD) {
			res->status = st;
			res->bad_offset = off;
			if (st == TBW_TFR_CORRUPT)
				snprintf(res->why, sizeof res->why, "%s", tbw_errmsg());
			else if (st == TBW_TFR_TORN)
				snprintf(res->why, sizeof res->why, "incomplete last record");
			break;
		}
		int drc = tbw__event_decode(data, len, &ev);
		if (drc == TBW_OK && nev > 0 && !our_encoding(data, len, &ev)) {
			/* Not a scalar or START as the compactor encodes them: an
			 * event record (Event{wall_time, step} + body), if its body
			 * is one tbw_add_event accepts. */
			size_t boff = 0;
			char why[64];
			if (tbw__event_split(data, len, &ev.wall_time, &ev.step, &boff) != TBW_OK) {
				drc = TBW_ECORRUPT;   /* refused below */
			} else if (boff == len) {
				/* wall_time and step alone: a purge tombstone (is_tombstone) */
				ev.kind = TBW_EVENT_OTHER;
				ev.tag = NULL;
				ev.file_version = NULL;
				ev.body = NULL;
				ev.body_len = 0;
			} else if (tbw__event_check_body(data + boff, len - boff, why, sizeof why) == 0) {
				ev.kind = TBW_EVENT_OTHER;
				ev.body = data + boff;
				ev.body_len = len - boff;
			} else {
				drc = TBW_ECORRUPT;   /* refused below */
			}
		}
		if (drc != TBW_OK ||
		    (nev == 0 && ev.kind != TBW_EVENT_FILE_VERSION) ||
		    (nev > 0 && ev.kind != TBW_EVENT_SCALAR && ev.kind != TBW_EVENT_SESSION_START &&
		     !ev.body_len && !tbw__evscan_is_tombstone(&ev))) {
			res->status = TBW_TFR_CORRUPT;
			res->bad_offset = off;
			snprintf(res->why, sizeof res->why, "record at offset %" PRIu64
			         " is not an event tbwal writes here", off);
			break;
		}
		nev++;
		res->valid_len = tbw__tfr_reader_offset(r);
		if (ev.kind == TBW_EVENT_FILE_VERSION)
			continue;
		if (with_start && nev == 2 && ev.kind == TBW_EVENT_SESSION_START)
			continue;          /* the run's sacrificial START */
		res->records++;
		res->last_seq = base + res->records;
		if (fn && (rc = fn(ctx, res->last_seq, &ev)) != TBW_OK)
			break;
	}
	if (rc == TBW_OK && res->status == 0)
		res->status = TBW_TFR_END;
	tbw__tfr_reader_close(r);
	tbw__os.close(fd);
	return rc;
}
