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
	/* Not set by tbw__event_decode (0): a reader mapping records back to
	 * the journal (recover) sets them for an event record: the bytes after
	 * wall_time and step, as tbw_add_event took them. */
	const uint8_t *body; size_t body_len;
} tbw_event;

/* Decode an Event. Unknown fields are skipped; malformed input (bad varint,
 * length past the end, wrong wire type for a known field) returns
 * TBW_ECORRUPT without reading out of bounds. */
int tbw__event_decode(const uint8_t *buf, size_t len, tbw_event *out);

/* ---- Event records (tbw_add_event) ----
 * A body is a serialized Event without wall_time (1) and step (2); the
 * exported record is Event{wall_time, step} (proto3: defaults left out)
 * followed by the body bytes verbatim, which protobuf parses as one Event
 * (fields 4.. follow 1 and 2, as its serializers order them). */

/* 0 if body is a valid event record body (schema in event.c: known Event
 * fields only, wire types, UTF-8 strings, packed arrays, one oneof member),
 * else -1 with a one-line reason in why (never sets the thread's error). */
int tbw__event_check_body(const uint8_t *body, size_t len, char *why, size_t why_cap);

/* The tag naming a body: its first Summary.Value's tag, else its
 * tagged_run_metadata's tag. 0 and a borrowed pointer into body, or -1. */
int tbw__event_body_tag(const uint8_t *body, size_t len, const char **tag, size_t *tag_len);

/* Largest head (wall_time and step fields) of an event record. */
#define TBW_EVENT_RECORD_HEAD_MAX 20
/* Write the head of an event record: fields 1 and 2 as every encoder here
 * writes them; the body follows. Returns its size. */
size_t tbw__event_encode_record_head(uint8_t *dst, double wall_time, int64_t step);

/* Read back: the leading wall_time and step fields of an encoded Event and
 * the offset where the rest (the body) starts. TBW_ECORRUPT on bad bytes. */
int tbw__event_split(const uint8_t *buf, size_t len, double *wall_time, int64_t *step, size_t *body_off);

/* Event file name: "events.out.tfevents.<10-digit secs>.<host>.<pid>.<n><suffix>"
 * written to dst (size cap). n orders files created by one writer; names made
 * later sort later (secs and n are zero-padded to 10 digits). suffix may be
 * NULL and must not contain '/'; host NULL or "" becomes "localhost". Returns TBW_EINVAL if it does not
 * fit. host is sanitised: '/' and characters outside [A-Za-z0-9._-] become '_'. */
int tbw__event_file_name(char *dst, size_t cap, int64_t secs, const char *host,
                         long pid, uint32_t n, const char *suffix);

#endif
