/* event.h -- deterministic protobuf encoding (and decoding) of the few
 * TensorBoard Event fields tbwal writes.
 *
 * Field numbers (tensorflow/core/util/event.proto, summary.proto):
 *   Event   { double wall_time = 1; int64 step = 2; string file_version = 3;
 *             Summary summary = 5; SessionLog session_log = 7; }
 *   Summary { repeated Value value = 1; }
 *   Value   { string tag = 1; float simple_value = 2; TensorProto tensor = 8;
 *             SummaryMetadata metadata = 9; }
 *   SummaryMetadata { PluginData plugin_data = 1; }  PluginData { string plugin_name = 1; }
 *   TensorProto { DataType dtype = 1 (DT_FLOAT = 1); TensorShapeProto tensor_shape = 2;
 *                 repeated float float_val = 5; bytes tensor_content = 4 }
 *   SessionLog { SessionStatus status = 1 (START = 1); }
 * Encoding is deterministic: fields in number order (except that
 * Value.metadata precedes Value.tensor, as in TensorBoard's own records), fields
 * at their proto3 default (step 0, wall_time +0.0) left out, so the same event
 * always encodes to the same bytes (the compactor relies on this to rewrite
 * a torn tail with exactly the bytes a reader may already have seen).
 */
#ifndef TBW_EVENT_H
#define TBW_EVENT_H

#include <stddef.h>
#include <stdint.h>

/* Largest encoding of any event below for a tag of tag_len bytes. */
size_t tbw__event_bound(size_t tag_len);

/* Each encoder writes into dst (at least tbw__event_bound() bytes) and
 * returns the number of bytes written. */
size_t tbw__event_encode_file_version(uint8_t *dst, double wall_time);  /* "brain.Event:2" */
size_t tbw__event_encode_simple(uint8_t *dst, double wall_time, int64_t step,
                                const char *tag, size_t tag_len, float value);
size_t tbw__event_encode_tensor(uint8_t *dst, double wall_time, int64_t step,
                                const char *tag, size_t tag_len, float value);
size_t tbw__event_encode_session_start(uint8_t *dst, double wall_time, int64_t step);

/* What the decoder found. Borrowed pointers point into the input buffer. */
typedef enum tbw_event_kind {
	TBW_EVENT_OTHER = 0,        /* a valid Event we do not interpret */
	TBW_EVENT_FILE_VERSION,
	TBW_EVENT_SCALAR,           /* simple_value or rank-0 DT_FLOAT tensor */
	TBW_EVENT_SESSION_START
} tbw_event_kind;

typedef struct tbw_event {
	tbw_event_kind kind;
	double   wall_time;
	int64_t  step;
	const char *file_version; size_t file_version_len;
	const char *tag; size_t tag_len;   /* first Summary.Value's tag */
	float    value;
	int      is_tensor;               /* value came from a tensor */
} tbw_event;

/* Decode an Event. Unknown fields are skipped; malformed input (bad varint,
 * length past the end, wrong wire type for a known field) returns
 * TBW_ECORRUPT without reading out of bounds. */
int tbw__event_decode(const uint8_t *buf, size_t len, tbw_event *out);

/* Event file name: "events.out.tfevents.<10-digit secs>.<host>.<pid>.<n><suffix>"
 * written to dst (size cap). n orders files created by one writer; names made
 * later sort later (secs and n are zero-padded to 10 digits). suffix may be
 * NULL and must not contain '/'; host NULL or "" becomes "localhost". Returns TBW_EINVAL if it does not
 * fit. host is sanitised: '/' and characters outside [A-Za-z0-9._-] become '_'. */
int tbw__event_file_name(char *dst, size_t cap, int64_t secs, const char *host,
                         long pid, uint32_t n, const char *suffix);

#endif
