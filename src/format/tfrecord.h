/* tfrecord.h -- TFRecord framing, as TensorBoard reads event files.
 *
 *   record := u64 length (LE) | u32 masked_crc32c(length bytes) (LE)
 *             | data[length]  | u32 masked_crc32c(data) (LE)
 *
 * The reader tells four outcomes apart (doc/tfrecord.md):
 *   TBW_TFR_RECORD   a whole, valid record
 *   TBW_TFR_END      clean end of data
 *   TBW_TFR_TORN     the last record is incomplete: the writer may still be
 *                    writing; try again later (not an error)
 *   TBW_TFR_CORRUPT  bad length CRC or data CRC at a byte offset
 * A corrupt or absurd length never drives a huge allocation: lengths above
 * TBW_TFR_MAX_RECORD are reported as corrupt.
 */
#ifndef TBW_TFRECORD_H
#define TBW_TFRECORD_H

#include <stddef.h>
#include <stdint.h>

#define TBW_TFR_HEADER 12          /* length + its CRC */
#define TBW_TFR_OVERHEAD 16        /* header + data CRC */
/* Larger lengths are corruption for us: the largest event record
 * (TBW_RECORD_MAX_LIMIT, tbwal.h) with room for its head. A length within
 * the bound is buffered only once the file holds that many bytes. */
#define TBW_TFR_MAX_RECORD ((1u << 30) + (1u << 20))

/* Frame n bytes of data into dst (at least n + TBW_TFR_OVERHEAD bytes).
 * data may already lie where the frame puts it (dst + TBW_TFR_HEADER: the
 * compactor encodes in place) or overlap it. Returns the framed size. */
size_t tbw__tfrecord_frame(uint8_t *dst, const uint8_t *data, size_t n);

typedef enum tbw_tfr_status {
	TBW_TFR_RECORD = 0,
	TBW_TFR_END,
	TBW_TFR_TORN,
	TBW_TFR_CORRUPT
} tbw_tfr_status;

/* Parse the record at buf[0..len). On TBW_TFR_RECORD, *data and *data_len
 * borrow from buf and *consumed is the framed size. On TBW_TFR_CORRUPT, *why
 * (why may be NULL) is a static description ("bad length crc", "bad data crc",
 * "length too large"). */
tbw_tfr_status tbw__tfrecord_parse(const uint8_t *buf, size_t len,
                                   const uint8_t **data, size_t *data_len,
                                   size_t *consumed, const char **why);

/* Streaming reader over a file descriptor (event files can be large).
 * Memory is bounded by the largest record (at most TBW_TFR_MAX_RECORD). */
typedef struct tbw_tfr_reader tbw_tfr_reader;

/* fd is borrowed; reading starts at offset start. */
int tbw__tfr_reader_open(tbw_tfr_reader **out, int fd, uint64_t start, const char *path);
/* Next record: returns a status; on RECORD, *data (borrowed until the next
 * call) and *len are set. *offset (may be NULL) is the record's start offset
 * (for TORN, END and CORRUPT: the offset of the incomplete or damaged record,
 * i.e. tbw__tfr_reader_offset()). After TORN or END, calling again later
 * reads what a writer appended meanwhile; CORRUPT repeats (no skipping).
 * On CORRUPT, tbw_errmsg() names the path, the offset and why. A read error
 * is reported as a negative TBW_E* code. */
int tbw__tfr_reader_next(tbw_tfr_reader *r, const uint8_t **data, size_t *len,
                         uint64_t *offset);
/* Offset just past the last whole record returned. */
uint64_t tbw__tfr_reader_offset(const tbw_tfr_reader *r);
void tbw__tfr_reader_close(tbw_tfr_reader *r);

#endif
