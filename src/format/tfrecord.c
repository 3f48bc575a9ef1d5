/* tfrecord.c -- TFRecord framing, a buffer parser and a bounded-memory
 * streaming reader that tells a record, a clean end, a torn tail and
 * corruption (with its offset) apart. See doc/tfrecord.md. */
#include "config.h"
#include <sys/stat.h>
#include <inttypes.h>
#include <string.h>
#include "base/alloc.h"
#include "format/crc32c.h"
#include "base/bytes.h"
#include "base/error.h"
#include "base/os.h"
#include "format/tfrecord.h"

#define READ_CHUNK (64u << 10)   /* initial buffer and read size */

size_t tbw__tfrecord_frame(uint8_t *dst, const uint8_t *data, size_t n)
{
	uint64_t len = n;

	tbw__put_le64(dst, len);
	tbw__put_le32(dst + 8, tbw__crc32c_mask(tbw__crc32c_value(dst, 8)));
	if (n && data != dst + TBW_TFR_HEADER)   /* encoded in place: nothing to move */
		memmove(dst + TBW_TFR_HEADER, data, n);
	tbw__put_le32(dst + TBW_TFR_HEADER + n, tbw__crc32c_mask(tbw__crc32c_value(dst + TBW_TFR_HEADER, n)));
	return n + TBW_TFR_OVERHEAD;
}

/* The framed size the header at buf claims, or a corrupt status. Needs
 * TBW_TFR_HEADER bytes. */
static tbw_tfr_status parse_header(const uint8_t *buf, uint64_t *data_len, const char **why)
{
	uint64_t len = tbw__get_le64(buf);

	if (tbw__crc32c_mask(tbw__crc32c_value(buf, 8)) != tbw__get_le32(buf + 8)) {
		*why = "bad length crc";
		return TBW_TFR_CORRUPT;
	}
	if (len > TBW_TFR_MAX_RECORD) {
		*why = "length too large";
		return TBW_TFR_CORRUPT;
	}
	*data_len = len;
	return TBW_TFR_RECORD;
}

tbw_tfr_status tbw__tfrecord_parse(const uint8_t *buf, size_t len,
                                   const uint8_t **data, size_t *data_len,
                                   size_t *consumed, const char **why)
{
	const char *dummy;
	uint64_t n;

	if (!why)
		why = &dummy;
	*why = NULL;
	if (len == 0)
		return TBW_TFR_END;
	if (len < TBW_TFR_HEADER)
		return TBW_TFR_TORN;
	if (parse_header(buf, &n, why) != TBW_TFR_RECORD)
		return TBW_TFR_CORRUPT;
	if (len - TBW_TFR_HEADER < n + 4)
		return TBW_TFR_TORN;
	if (tbw__crc32c_mask(tbw__crc32c_value(buf + TBW_TFR_HEADER, (size_t)n)) !=
	    tbw__get_le32(buf + TBW_TFR_HEADER + n)) {
		*why = "bad data crc";
		return TBW_TFR_CORRUPT;
	}
	*data = buf + TBW_TFR_HEADER;
	*data_len = (size_t)n;
	*consumed = (size_t)n + TBW_TFR_OVERHEAD;
	return TBW_TFR_RECORD;
}

/* ---- Streaming reader ----
 * buf[head .. head+avail) holds the file bytes at [pos .. pos+avail), where
 * pos is the offset just past the last record returned. The buffer starts at
 * READ_CHUNK bytes and grows only to hold one whole record (whose length has
 * passed its CRC and the TBW_TFR_MAX_RECORD bound). */
struct tbw_tfr_reader {
	int fd;
	char *path;
	uint8_t *buf;
	size_t cap, head, avail;
	uint64_t pos;
};

int tbw__tfr_reader_open(tbw_tfr_reader **out, int fd, uint64_t start, const char *path)
{
	tbw_tfr_reader *r;

	*out = NULL;
	r = tbw__calloc(1, sizeof *r);
	if (!r)
		return tbw__error_set(TBW_ENOMEM, "tfrecord open", path, "out of memory");
	r->fd = fd;
	r->pos = start;
	r->cap = READ_CHUNK;
	r->buf = tbw__malloc(r->cap);
	r->path = tbw__strdup(path ? path : "(fd)");
	if (!r->buf || !r->path) {
		tbw__tfr_reader_close(r);
		return tbw__error_set(TBW_ENOMEM, "tfrecord open", path, "out of memory");
	}
	*out = r;
	return TBW_OK;
}

/* Read more bytes so that at least want bytes are buffered (or the file
 * ends). Returns 0 or TBW_E*; *grew tells whether any byte arrived. */
static int fill(tbw_tfr_reader *r, size_t want, int *grew)
{
	size_t got;
	int rc;

	*grew = 0;
	if (want > r->cap) {
		/* A record longer than the file (torn, or a damaged length that
		 * passed its CRC) allocates nothing: it is torn for now. */
		struct stat st;
		uint8_t *nb;
		if (fstat(r->fd, &st) == 0 && S_ISREG(st.st_mode) && (uint64_t)st.st_size < r->pos + want)
			return TBW_OK;
		nb = tbw__malloc(want);
		if (!nb)
			return tbw__error_set(TBW_ENOMEM, "tfrecord read", r->path,
			                      "out of memory for a %zu-byte record at offset %" PRIu64,
			                      want, r->pos);
		memcpy(nb, r->buf + r->head, r->avail);
		tbw__free(r->buf);
		r->buf = nb;
		r->cap = want;
		r->head = 0;
	} else if (r->head + want > r->cap || r->head + r->avail == r->cap) {
		memmove(r->buf, r->buf + r->head, r->avail);
		r->head = 0;
	}
	if (r->head + r->avail == r->cap)
		return TBW_OK;
	rc = tbw__pread_full(r->fd, r->buf + r->head + r->avail, r->cap - r->head - r->avail,
	                     (off_t)(r->pos + r->avail), &got, "tfrecord read", r->path);
	if (rc)
		return rc;
	r->avail += got;
	*grew = got > 0;
	return TBW_OK;
}

int tbw__tfr_reader_next(tbw_tfr_reader *r, const uint8_t **data, size_t *len,
                         uint64_t *offset)
{
	int grew = 1;

	for (int attempt = 0; ; attempt++) {
		const uint8_t *p = r->buf + r->head;
		const char *why = NULL;
		size_t consumed = 0, want = TBW_TFR_HEADER;
		uint64_t n;
		int rc;
		tbw_tfr_status st;

		if (offset)
			*offset = r->pos;
		st = tbw__tfrecord_parse(p, r->avail, data, len, &consumed, &why);
		if (st == TBW_TFR_RECORD) {
			r->head += consumed;
			r->avail -= consumed;
			r->pos += consumed;
			return TBW_TFR_RECORD;
		}
		if (st == TBW_TFR_CORRUPT) {
			tbw__error_set(TBW_ECORRUPT, "tfrecord read", r->path,
			               "%s in the record at offset %" PRIu64, why, r->pos);
			return TBW_TFR_CORRUPT;
		}
		/* END or TORN: read more; once a read brings nothing new, that
		 * is the answer (a writer may still append: call again later). */
		if (attempt > 0 && !grew)
			return st;
		if (r->avail >= TBW_TFR_HEADER && parse_header(p, &n, &why) == TBW_TFR_RECORD)
			want = (size_t)n + TBW_TFR_OVERHEAD;
		rc = fill(r, want > READ_CHUNK ? want : READ_CHUNK, &grew);
		if (rc)
			return rc;
	}
}

uint64_t tbw__tfr_reader_offset(const tbw_tfr_reader *r)
{
	return r->pos;
}

void tbw__tfr_reader_close(tbw_tfr_reader *r)
{
	if (!r)
		return;
	tbw__free(r->buf);
	tbw__free(r->path);
	tbw__free(r);
}
