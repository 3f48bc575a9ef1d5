/* event.c -- deterministic protobuf encoding and a defensive decoder for the
 * few TensorBoard Event fields tbwal writes and reads back, and event file
 * names. Field numbers and byte layout: src/format/event.h and doc/tfrecord.md. */
#include "config.h"
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "base/bytes.h"
#include "base/error.h"
#include "format/event.h"

/* Wire types */
#define WT_VARINT 0
#define WT_I64 1
#define WT_LEN 2
#define WT_I32 5

#define KEY(field, wt) ((uint8_t)(((field) << 3) | (wt)))

static const char file_version[] = "brain.Event:2";
static const char plugin_scalars[] = "scalars";

/* ---- Encoding ---- */

static size_t varint_len(uint64_t v)
{
	size_t n = 1;

	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

static uint8_t *put_varint(uint8_t *p, uint64_t v)
{
	while (v >= 0x80) {
		*p++ = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	*p++ = (uint8_t)v;
	return p;
}

/* (unrolled, so that the compiler merges the bytes into one store) */
static uint8_t *put_fixed64(uint8_t *p, uint64_t v)
{
	tbw__put_le64(p, v);
	return p + 8;
}

static uint8_t *put_fixed32(uint8_t *p, uint32_t v)
{
	tbw__put_le32(p, v);
	return p + 4;
}

static uint64_t double_bits(double d)
{
	uint64_t b;

	memcpy(&b, &d, 8);
	return b;
}

static uint32_t float_bits(float f)
{
	uint32_t b;

	memcpy(&b, &f, 4);
	return b;
}

/* Length-delimited field: key, length, then the caller writes len bytes. */
static uint8_t *put_len(uint8_t *p, unsigned field, size_t len)
{
	*p++ = KEY(field, WT_LEN);
	return put_varint(p, len);
}

static size_t len_field_size(size_t len)
{
	return 1 + varint_len(len) + len;
}

/* Event header fields, proto3 style: a field holding its default value (all
 * bits zero) is left out, as protobuf's own serializers do. */
static uint8_t *put_wall_step(uint8_t *p, double wall_time, int64_t step)
{
	uint64_t wb = double_bits(wall_time);

	if (wb) {
		*p++ = KEY(1, WT_I64);
		p = put_fixed64(p, wb);
	}
	if (step) {
		*p++ = KEY(2, WT_VARINT);
		p = put_varint(p, (uint64_t)step);
	}
	return p;
}

size_t tbw__event_bound(size_t tag_len)
{
	/* wall 9, step 11, five nested length fields of at most 11 bytes of
	 * overhead each, metadata 11, tensor 12: 76 + tag_len. */
	return 96 + tag_len;
}

size_t tbw__event_encode_file_version(uint8_t *dst, double wall_time)
{
	uint8_t *p = put_wall_step(dst, wall_time, 0);

	p = put_len(p, 3, sizeof file_version - 1);
	memcpy(p, file_version, sizeof file_version - 1);
	return (size_t)(p + sizeof file_version - 1 - dst);
}

/* Summary { value { tag; <body> } } where body is body_len bytes the caller
 * writes at the returned pointer. */
static uint8_t *put_summary(uint8_t *p, const char *tag, size_t tag_len, size_t body_len)
{
	size_t value_len = len_field_size(tag_len) + body_len;
	size_t summary_len = len_field_size(value_len);

	p = put_len(p, 5, summary_len);         /* Event.summary */
	p = put_len(p, 1, value_len);           /* Summary.value */
	p = put_len(p, 1, tag_len);             /* Value.tag */
	if (tag_len)
		memcpy(p, tag, tag_len);
	return p + tag_len;
}

size_t tbw__event_encode_simple(uint8_t *dst, double wall_time, int64_t step,
                                const char *tag, size_t tag_len, float value)
{
	uint8_t *p = put_wall_step(dst, wall_time, step);

	p = put_summary(p, tag, tag_len, 5);
	*p++ = KEY(2, WT_I32);                  /* Value.simple_value */
	p = put_fixed32(p, float_bits(value));
	return (size_t)(p - dst);
}

/* Value { metadata = 9 { plugin_data = 1 { plugin_name = 1 "scalars" } }
 *         tensor = 8 { dtype = 1: DT_FLOAT; tensor_shape = 2: {};
 *                      float_val = 5 (packed): [value] } }
 * metadata precedes tensor, as in TensorBoard's own records (the golden
 * vector in issue 2). */
#define PLUGIN_DATA_LEN (2 + sizeof plugin_scalars - 1)     /* 9 */
#define METADATA_LEN (2 + PLUGIN_DATA_LEN)                  /* 11 */
#define TENSOR_LEN (2 + 2 + 2 + 4)                          /* 10 */
#define TENSOR_BODY (2 + METADATA_LEN + 2 + TENSOR_LEN)     /* 25 */

size_t tbw__event_encode_tensor(uint8_t *dst, double wall_time, int64_t step,
                                const char *tag, size_t tag_len, float value)
{
	uint8_t *p = put_wall_step(dst, wall_time, step);

	p = put_summary(p, tag, tag_len, TENSOR_BODY);
	p = put_len(p, 9, METADATA_LEN);        /* Value.metadata */
	p = put_len(p, 1, PLUGIN_DATA_LEN);     /* SummaryMetadata.plugin_data */
	p = put_len(p, 1, sizeof plugin_scalars - 1); /* PluginData.plugin_name */
	memcpy(p, plugin_scalars, sizeof plugin_scalars - 1);
	p += sizeof plugin_scalars - 1;
	p = put_len(p, 8, TENSOR_LEN);          /* Value.tensor */
	*p++ = KEY(1, WT_VARINT);               /* TensorProto.dtype */
	*p++ = 1;                               /* DT_FLOAT */
	p = put_len(p, 2, 0);                   /* tensor_shape: rank 0 */
	p = put_len(p, 5, 4);                   /* float_val, packed */
	p = put_fixed32(p, float_bits(value));
	return (size_t)(p - dst);
}

size_t tbw__event_encode_session_start(uint8_t *dst, double wall_time, int64_t step)
{
	uint8_t *p = put_wall_step(dst, wall_time, step);

	p = put_len(p, 7, 2);                   /* Event.session_log */
	*p++ = KEY(1, WT_VARINT);               /* SessionLog.status */
	*p++ = 1;                               /* START */
	return (size_t)(p - dst);
}

/* ---- Decoding ----
 * A cursor over [p, end). Every read checks the bytes left first; every
 * failure is TBW_ECORRUPT with the offset from the start of the event. */

typedef struct cur {
	const uint8_t *p, *end, *base;
} cur;

static int bad(const cur *c, const char *what)
{
	return tbw__error_set(TBW_ECORRUPT, "event decode", NULL, "%s at byte %zu",
	                      what, (size_t)(c->p - c->base));
}

static int get_varint(cur *c, uint64_t *out)
{
	uint64_t v = 0;

	*out = 0;
	for (int i = 0; i < 10; i++) {
		uint8_t b;
		if (c->p >= c->end)
			return bad(c, "truncated varint");
		b = *c->p++;
		if (i == 9 && b > 1)
			return bad(c, "varint overflows 64 bits");
		v |= (uint64_t)(b & 0x7f) << (7 * i);
		if (!(b & 0x80)) {
			*out = v;
			return 0;
		}
	}
	return bad(c, "varint longer than 10 bytes");
}

static int get_key(cur *c, uint32_t *field, int *wt)
{
	uint64_t k;
	int rc = get_varint(c, &k);

	*field = 0;
	*wt = 0;
	if (rc)
		return rc;
	if ((k >> 3) == 0 || (k >> 3) > 0x1fffffff)
		return bad(c, "bad field number");
	*field = (uint32_t)(k >> 3);
	*wt = (int)(k & 7);
	return 0;
}

static int get_bytes(cur *c, size_t n, const uint8_t **out)
{
	*out = c->p;
	if ((size_t)(c->end - c->p) < n)
		return bad(c, "field runs past the end");
	*out = c->p;
	c->p += n;
	return 0;
}

/* A length-delimited field: a sub-cursor over its bytes. */
static int get_sub(cur *c, cur *sub)
{
	uint64_t n;
	int rc = get_varint(c, &n);

	if (rc)
		return rc;
	if (n > (uint64_t)(c->end - c->p))
		return bad(c, "length runs past the end");
	sub->p = c->p;
	sub->end = c->p + n;
	sub->base = c->base;
	c->p += n;
	return 0;
}

static int skip(cur *c, int wt)
{
	const uint8_t *dummy;
	uint64_t v;
	cur sub;

	switch (wt) {
	case WT_VARINT: return get_varint(c, &v);
	case WT_I64:    return get_bytes(c, 8, &dummy);
	case WT_LEN:    return get_sub(c, &sub);
	case WT_I32:    return get_bytes(c, 4, &dummy);
	default:        return bad(c, "unsupported wire type");
	}
}

static float to_float(uint32_t b)
{
	float f;

	memcpy(&f, &b, 4);
	return f;
}

#define EXPECT(c, wt, want) do { if ((wt) != (want)) return bad((c), "wrong wire type"); } while (0)

/* The next length-delimited field number `field` of c into *sub, skipping
 * every other field: 1 found, 0 at the end of c, or a negative code (a
 * damaged key, or that field with another wire type). */
static int next_sub(cur *c, uint32_t field, cur *sub)
{
	while (c->p < c->end) {
		uint32_t f;
		int wt, rc;
		if ((rc = get_key(c, &f, &wt)))
			return rc;
		if (f != field) {
			if ((rc = skip(c, wt)))
				return rc;
			continue;
		}
		EXPECT(c, wt, WT_LEN);
		if ((rc = get_sub(c, sub)))
			return rc;
		return 1;
	}
	return 0;
}

/* PluginData / SummaryMetadata: is_scalars is set to 1 or 0 when a
 * plugin_name is present. */
static int decode_metadata(cur *c, int *is_scalars)
{
	cur pd, name;
	int rc;

	while ((rc = next_sub(c, 1, &pd)) == 1) {              /* plugin_data */
		while ((rc = next_sub(&pd, 1, &name)) == 1)      /* plugin_name */
			*is_scalars = (size_t)(name.end - name.p) == sizeof plugin_scalars - 1 &&
			              !memcmp(name.p, plugin_scalars, sizeof plugin_scalars - 1);
		if (rc < 0)
			return rc;
	}
	return rc;
}

/* TensorProto: *ok when it is DT_FLOAT with exactly one value and no
 * dimension other than 1 (rank 0 as we write it). */
static int decode_tensor(cur *c, int *ok, float *value)
{
	uint64_t dtype = 0;
	size_t nvals = 0;
	int content = 0, big_dim = 0;
	float fv = 0, cv = 0;

	while (c->p < c->end) {
		uint32_t f; int wt, rc;
		cur sub;
		const uint8_t *b;
		switch ((rc = get_key(c, &f, &wt)) ? 0 : f) {
		case 0:
			return rc;
		case 1:         /* dtype */
			EXPECT(c, wt, WT_VARINT);
			if ((rc = get_varint(c, &dtype)))
				return rc;
			break;
		case 2:         /* tensor_shape { repeated Dim dim = 2 { int64 size = 1 } } */
			EXPECT(c, wt, WT_LEN);
			if ((rc = get_sub(c, &sub)))
				return rc;
			cur dim;
			while ((rc = next_sub(&sub, 2, &dim)) == 1) {
				uint64_t size = 0;
				while (dim.p < dim.end) {
					if ((rc = get_key(&dim, &f, &wt)))
						return rc;
					if (f == 1) {
						EXPECT(&dim, wt, WT_VARINT);
						if ((rc = get_varint(&dim, &size)))
							return rc;
					} else if ((rc = skip(&dim, wt))) {
						return rc;
					}
				}
				if (size != 1)
					big_dim = 1;
			}
			if (rc < 0)
				return rc;
			break;
		case 4:         /* tensor_content: raw little-endian values */
			EXPECT(c, wt, WT_LEN);
			if ((rc = get_sub(c, &sub)))
				return rc;
			content = (sub.end - sub.p == 4) ? 1 : 2;
			if (content == 1)
				cv = to_float(tbw__get_le32(sub.p));
			break;
		case 5:         /* float_val, packed or not */
			if (wt == WT_I32) {
				if ((rc = get_bytes(c, 4, &b)))
					return rc;
				fv = to_float(tbw__get_le32(b));
				nvals++;
			} else {
				EXPECT(c, wt, WT_LEN);
				if ((rc = get_sub(c, &sub)))
					return rc;
				if ((sub.end - sub.p) % 4)
					return bad(c, "packed float_val length not a multiple of 4");
				if (sub.end > sub.p)
					fv = to_float(tbw__get_le32(sub.p));
				nvals += (size_t)(sub.end - sub.p) / 4;
			}
			break;
		default:
			if ((rc = skip(c, wt)))
				return rc;
		}
	}
	*ok = 0;
	if (dtype != 1 || big_dim)
		return 0;
	if (content) {              /* tensor_content wins over float_val */
		*ok = content == 1;
		*value = cv;
	} else if (nvals == 1) {
		*ok = 1;
		*value = fv;
	}
	return 0;
}

/* Summary.Value: fills tag and, when it holds a scalar, value. */
static int decode_value(cur *c, tbw_event *ev, int first)
{
	int kind = 0, is_scalars = -1, tensor_ok = 0;
	float simple = 0, tval = 0;
	const char *tag = NULL;
	size_t tag_len = 0;

	while (c->p < c->end) {
		uint32_t f; int wt, rc;
		cur sub;
		const uint8_t *b;
		switch ((rc = get_key(c, &f, &wt)) ? 0 : f) {
		case 0:
			return rc;
		case 1:         /* tag */
			EXPECT(c, wt, WT_LEN);
			if ((rc = get_sub(c, &sub)))
				return rc;
			tag = (const char *)sub.p;
			tag_len = (size_t)(sub.end - sub.p);
			break;
		case 2:         /* simple_value */
			EXPECT(c, wt, WT_I32);
			if ((rc = get_bytes(c, 4, &b)))
				return rc;
			simple = to_float(tbw__get_le32(b));
			kind = 2;
			break;
		case 8:         /* tensor */
			EXPECT(c, wt, WT_LEN);
			if ((rc = get_sub(c, &sub)) || (rc = decode_tensor(&sub, &tensor_ok, &tval)))
				return rc;
			kind = 8;
			break;
		case 9:         /* metadata */
			EXPECT(c, wt, WT_LEN);
			if ((rc = get_sub(c, &sub)) || (rc = decode_metadata(&sub, &is_scalars)))
				return rc;
			break;
		case 3: case 4: case 5: case 6: /* image, histo, audio, ...: oneof */
			if ((rc = skip(c, wt)))
				return rc;
			kind = 0;
			break;
		default:
			if ((rc = skip(c, wt)))
				return rc;
		}
	}
	if (!first)
		return 0;
	ev->tag = tag;
	ev->tag_len = tag_len;
	ev->kind = TBW_EVENT_OTHER;
	if (kind == 2) {
		ev->kind = TBW_EVENT_SCALAR;
		ev->value = simple;
		ev->is_tensor = 0;
	} else if (kind == 8 && tensor_ok && is_scalars != 0) {
		ev->kind = TBW_EVENT_SCALAR;
		ev->value = tval;
		ev->is_tensor = 1;
	}
	return 0;
}

static int decode_summary(cur *c, tbw_event *ev)
{
	int first = 1;

	ev->kind = TBW_EVENT_OTHER;
	ev->tag = NULL;
	ev->tag_len = 0;
	cur sub;
	int rc;

	while ((rc = next_sub(c, 1, &sub)) == 1) {             /* value */
		if ((rc = decode_value(&sub, ev, first)))
			return rc;
		first = 0;
	}
	return rc;
}

static int decode_session_log(cur *c, tbw_event *ev)
{
	uint64_t status = 0;

	while (c->p < c->end) {
		uint32_t f; int wt, rc;
		if ((rc = get_key(c, &f, &wt)))
			return rc;
		if (f == 1) {
			EXPECT(c, wt, WT_VARINT);
			if ((rc = get_varint(c, &status)))
				return rc;
		} else if ((rc = skip(c, wt))) {
			return rc;
		}
	}
	ev->kind = status == 1 ? TBW_EVENT_SESSION_START : TBW_EVENT_OTHER;
	return 0;
}

int tbw__event_decode(const uint8_t *buf, size_t len, tbw_event *out)
{
	cur c = {buf, buf + len, buf};
	tbw_event ev;

	memset(&ev, 0, sizeof ev);
	ev.kind = TBW_EVENT_OTHER;
	if (!buf && len)
		return tbw__error_set(TBW_EINVAL, "event decode", NULL, "no buffer");
	while (c.p < c.end) {
		uint32_t f; int wt, rc;
		const uint8_t *b;
		uint64_t v;
		cur sub;
		switch ((rc = get_key(&c, &f, &wt)) ? 0 : f) {
		case 0:
			return rc;
		case 1:         /* wall_time */
			EXPECT(&c, wt, WT_I64);
			if ((rc = get_bytes(&c, 8, &b)))
				return rc;
			v = tbw__get_le64(b);
			memcpy(&ev.wall_time, &v, 8);
			break;
		case 2:         /* step */
			EXPECT(&c, wt, WT_VARINT);
			if ((rc = get_varint(&c, &v)))
				return rc;
			ev.step = (int64_t)v;
			break;
		case 3:         /* file_version */
			EXPECT(&c, wt, WT_LEN);
			if ((rc = get_sub(&c, &sub)))
				return rc;
			ev.kind = TBW_EVENT_FILE_VERSION;
			ev.file_version = (const char *)sub.p;
			ev.file_version_len = (size_t)(sub.end - sub.p);
			break;
		case 5:         /* summary */
			EXPECT(&c, wt, WT_LEN);
			if ((rc = get_sub(&c, &sub)) || (rc = decode_summary(&sub, &ev)))
				return rc;
			break;
		case 7:         /* session_log */
			EXPECT(&c, wt, WT_LEN);
			if ((rc = get_sub(&c, &sub)) || (rc = decode_session_log(&sub, &ev)))
				return rc;
			break;
		case 4: case 6: case 8: case 9: /* other members of Event's oneof */
			if ((rc = skip(&c, wt)))
				return rc;
			ev.kind = TBW_EVENT_OTHER;
			break;
		default:
			if ((rc = skip(&c, wt)))
				return rc;
		}
	}
	*out = ev;
	return 0;
}

/* ---- File names ---- */

int tbw__event_file_name(char *dst, size_t cap, int64_t secs, const char *host,
                         long pid, uint32_t n, const char *suffix)
{
	char h[256];
	size_t k = 0;
	int w;

	if (secs < 0 || secs > 9999999999LL || pid < 0)
		return tbw__error_set(TBW_EINVAL, "event file name", NULL,
		                      "seconds %" PRId64 " or pid %ld out of range", secs, pid);
	if (suffix && strchr(suffix, '/'))
		return tbw__error_set(TBW_EINVAL, "event file name", NULL, "suffix contains '/'");
	if (!host || !*host)
		host = "localhost";
	for (; host[k] && k < sizeof h - 1; k++) {
		char ch = host[k];
		int okc = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		          (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-';
		h[k] = okc ? ch : '_';
	}
	h[k] = '\0';
	/* n is zero-padded too, so a writer's 10th file sorts after its 9th. */
	w = snprintf(dst, cap, "events.out.tfevents.%010" PRId64 ".%s.%ld.%010" PRIu32 "%s",
	             secs, h, pid, n, suffix ? suffix : "");
	if (w < 0 || (size_t)w >= cap)
		return tbw__error_set(TBW_EINVAL, "event file name", NULL,
		                      "name does not fit in %zu bytes", cap);
	return 0;
}

/* ---- Event records (tbw_add_event): validation and framing ----
 * A body is a serialized Event without wall_time (1) and step (2). It is
 * checked against the schema of the Event fields TensorBoard knows
 * (event.proto, summary.proto, tensor.proto, as of TensorBoard 2.x): a
 * record with a valid CRC that TensorBoard's Python loader cannot parse
 * kills its reload thread, so nothing unparseable may reach an event file.
 * Checked: wire format (varints, lengths, no groups), the wire type of every
 * known field, UTF-8 of every proto3 string field (protobuf's parser
 * rejects invalid UTF-8 there), packed arrays, no unknown top-level field,
 * at most one member of Event's oneof. Unknown fields inside nested
 * messages are skipped (protobuf keeps them as unknown fields), except in
 * Event and Summary. */

enum { K_NUM, K_BYTES, K_STRING, K_MSG, K_PACKED, K_DENY };

typedef struct mdesc mdesc;
typedef struct fdesc {
	uint32_t field;
	uint8_t kind;
	uint8_t wt;           /* wire type of K_NUM / element of K_PACKED */
	const mdesc *sub;     /* K_MSG */
	const char *name;
} fdesc;
struct mdesc {
	const char *name;
	const fdesc *f;
	size_t n;
	int strict;           /* unknown fields are an error */
};

#define MD(nm, arr, strict) { nm, arr, sizeof arr / sizeof arr[0], strict }

static const fdesc f_plugin[] = {
	{1, K_STRING, 0, NULL, "plugin_name"}, {2, K_BYTES, 0, NULL, "content"} };
static const mdesc m_plugin = MD("PluginData", f_plugin, 0);
static const fdesc f_meta[] = {
	{1, K_MSG, 0, &m_plugin, "plugin_data"}, {2, K_STRING, 0, NULL, "display_name"},
	{3, K_STRING, 0, NULL, "summary_description"}, {4, K_NUM, WT_VARINT, NULL, "data_class"} };
static const mdesc m_meta = MD("SummaryMetadata", f_meta, 0);
static const fdesc f_image[] = {
	{1, K_NUM, WT_VARINT, NULL, "height"}, {2, K_NUM, WT_VARINT, NULL, "width"},
	{3, K_NUM, WT_VARINT, NULL, "colorspace"}, {4, K_BYTES, 0, NULL, "encoded_image_string"} };
static const mdesc m_image = MD("Image", f_image, 0);
static const fdesc f_histo[] = {
	{1, K_NUM, WT_I64, NULL, "min"}, {2, K_NUM, WT_I64, NULL, "max"}, {3, K_NUM, WT_I64, NULL, "num"},
	{4, K_NUM, WT_I64, NULL, "sum"}, {5, K_NUM, WT_I64, NULL, "sum_squares"},
	{6, K_PACKED, WT_I64, NULL, "bucket_limit"}, {7, K_PACKED, WT_I64, NULL, "bucket"} };
static const mdesc m_histo = MD("HistogramProto", f_histo, 0);
static const fdesc f_audio[] = {
	{1, K_NUM, WT_I32, NULL, "sample_rate"}, {2, K_NUM, WT_VARINT, NULL, "num_channels"},
	{3, K_NUM, WT_VARINT, NULL, "length_frames"}, {4, K_BYTES, 0, NULL, "encoded_audio_string"},
	{5, K_STRING, 0, NULL, "content_type"} };
static const mdesc m_audio = MD("Audio", f_audio, 0);
static const fdesc f_dim[] = { {1, K_NUM, WT_VARINT, NULL, "size"}, {2, K_STRING, 0, NULL, "name"} };
static const mdesc m_dim = MD("TensorShapeProto.Dim", f_dim, 0);
static const fdesc f_shape[] = { {2, K_MSG, 0, &m_dim, "dim"}, {3, K_NUM, WT_VARINT, NULL, "unknown_rank"} };
static const mdesc m_shape = MD("TensorShapeProto", f_shape, 0);
static const fdesc f_tensor[] = {
	{1, K_NUM, WT_VARINT, NULL, "dtype"}, {2, K_MSG, 0, &m_shape, "tensor_shape"},
	{3, K_NUM, WT_VARINT, NULL, "version_number"}, {4, K_BYTES, 0, NULL, "tensor_content"},
	{5, K_PACKED, WT_I32, NULL, "float_val"}, {6, K_PACKED, WT_I64, NULL, "double_val"},
	{7, K_PACKED, WT_VARINT, NULL, "int_val"}, {8, K_BYTES, 0, NULL, "string_val"},
	{9, K_PACKED, WT_I32, NULL, "scomplex_val"}, {10, K_PACKED, WT_VARINT, NULL, "int64_val"},
	{11, K_PACKED, WT_VARINT, NULL, "bool_val"}, {12, K_PACKED, WT_I64, NULL, "dcomplex_val"},
	{13, K_PACKED, WT_VARINT, NULL, "half_val"},
	{14, K_DENY, 0, NULL, "resource_handle_val"}, {15, K_DENY, 0, NULL, "variant_val"},
	{16, K_PACKED, WT_VARINT, NULL, "uint32_val"}, {17, K_PACKED, WT_VARINT, NULL, "uint64_val"} };
static const mdesc m_tensor = MD("TensorProto", f_tensor, 0);
static const fdesc f_value[] = {
	{1, K_STRING, 0, NULL, "tag"}, {2, K_NUM, WT_I32, NULL, "simple_value"},
	{3, K_BYTES, 0, NULL, "obsolete_old_style_histogram"}, {4, K_MSG, 0, &m_image, "image"},
	{5, K_MSG, 0, &m_histo, "histo"}, {6, K_MSG, 0, &m_audio, "audio"},
	{7, K_STRING, 0, NULL, "node_name"}, {8, K_MSG, 0, &m_tensor, "tensor"},
	{9, K_MSG, 0, &m_meta, "metadata"} };
static const mdesc m_value = MD("Summary.Value", f_value, 0);
static const fdesc f_summary[] = { {1, K_MSG, 0, &m_value, "value"} };
static const mdesc m_summary = MD("Summary", f_summary, 1);
static const fdesc f_logmsg[] = { {1, K_NUM, WT_VARINT, NULL, "level"}, {2, K_STRING, 0, NULL, "message"} };
static const mdesc m_logmsg = MD("LogMessage", f_logmsg, 0);
static const fdesc f_sesslog[] = {
	{1, K_NUM, WT_VARINT, NULL, "status"}, {2, K_STRING, 0, NULL, "checkpoint_path"},
	{3, K_STRING, 0, NULL, "msg"} };
static const mdesc m_sesslog = MD("SessionLog", f_sesslog, 0);
static const fdesc f_trm[] = { {1, K_STRING, 0, NULL, "tag"}, {2, K_BYTES, 0, NULL, "run_metadata"} };
static const mdesc m_trm = MD("TaggedRunMetadata", f_trm, 0);
static const fdesc f_srcmeta[] = { {1, K_STRING, 0, NULL, "writer"} };
static const mdesc m_srcmeta = MD("SourceMetadata", f_srcmeta, 0);
static const fdesc f_event[] = {
	{4, K_BYTES, 0, NULL, "graph_def"}, {5, K_MSG, 0, &m_summary, "summary"},
	{6, K_MSG, 0, &m_logmsg, "log_message"}, {7, K_MSG, 0, &m_sesslog, "session_log"},
	{8, K_MSG, 0, &m_trm, "tagged_run_metadata"}, {9, K_BYTES, 0, NULL, "meta_graph_def"},
	{10, K_MSG, 0, &m_srcmeta, "source_metadata"} };
static const mdesc m_event = MD("Event", f_event, 1);

typedef struct vctx {
	char *why;
	size_t cap;
	const uint8_t *base;
	int failed;
} vctx;

static int vfail(vctx *v, const uint8_t *at, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int vfail(vctx *v, const uint8_t *at, const char *fmt, ...)
{
	va_list ap;
	size_t n;

	if (v->failed)
		return -1;
	v->failed = 1;
	va_start(ap, fmt);
	vsnprintf(v->why, v->cap, fmt, ap);
	va_end(ap);
	n = strlen(v->why);
	if (n < v->cap)
		snprintf(v->why + n, v->cap - n, " (at byte %zu of the body)", (size_t)(at - v->base));
	return -1;
}

/* Strict UTF-8 (no overlongs, no surrogates, at most U+10FFFF), as
 * protobuf's parsers require of string fields. */
static int utf8_ok(const uint8_t *p, size_t n)
{
	size_t i = 0;

	while (i < n) {
		uint8_t c = p[i];
		size_t k;
		uint32_t cp;
		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) { k = 1; cp = c & 0x1f; }
		else if (c >= 0xe0 && c <= 0xef) { k = 2; cp = c & 0x0f; }
		else if (c >= 0xf0 && c <= 0xf4) { k = 3; cp = c & 0x07; }
		else return 0;
		if (n - i <= k)
			return 0;
		for (size_t j = 1; j <= k; j++) {
			if ((p[i + j] & 0xc0) != 0x80)
				return 0;
			cp = (cp << 6) | (p[i + j] & 0x3f);
		}
		if ((k == 2 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
		    (k == 3 && (cp < 0x10000 || cp > 0x10ffff)))
			return 0;
		i += k + 1;
	}
	return 1;
}

static const char *wt_name(int wt)
{
	switch (wt) {
	case WT_VARINT: return "varint";
	case WT_I64: return "fixed64";
	case WT_LEN: return "length-delimited";
	case WT_I32: return "fixed32";
	default: return "group/invalid";
	}
}

static int check_msg(vctx *v, cur *c, const mdesc *m, int depth);

static int check_packed(vctx *v, cur *sub, int ewt, const mdesc *m, const fdesc *fd)
{
	size_t n = (size_t)(sub->end - sub->p);
	uint64_t x;

	if (ewt == WT_I32 && n % 4)
		return vfail(v, sub->p, "%s.%s: packed fixed32 array of %zu bytes", m->name, fd->name, n);
	if (ewt == WT_I64 && n % 8)
		return vfail(v, sub->p, "%s.%s: packed fixed64 array of %zu bytes", m->name, fd->name, n);
	if (ewt == WT_VARINT)
		while (sub->p < sub->end)
			if (get_varint(sub, &x))
				return vfail(v, sub->p, "%s.%s: bad varint in packed array", m->name, fd->name);
	return 0;
}

static int check_msg(vctx *v, cur *c, const mdesc *m, int depth)
{
	uint32_t oneof_seen = 0;

	if (depth > 16)
		return vfail(v, c->p, "%s nested too deeply", m->name);
	while (c->p < c->end) {
		const uint8_t *at = c->p;
		const fdesc *fd = NULL;
		uint32_t f;
		int wt;
		cur sub;

		if (get_key(c, &f, &wt))
			return vfail(v, at, "%s: bad field key", m->name);
		for (size_t i = 0; i < m->n; i++)
			if (m->f[i].field == f) {
				fd = &m->f[i];
				break;
			}
		if (m == &m_event && (f == 1 || f == 2))
			return vfail(v, at, "Event field %u (%s) is not part of a body: pass it as an argument",
			             f, f == 1 ? "wall_time" : "step");
		if (m == &m_event && f == 3)
			return vfail(v, at, "Event field 3 (file_version) is written by tbwal itself");
		if (!fd) {
			if (m->strict)
				return vfail(v, at, "%s has no field %u that TensorBoard knows", m->name, f);
			if (wt != WT_VARINT && wt != WT_I64 && wt != WT_LEN && wt != WT_I32)
				return vfail(v, at, "%s field %u: wire type %d (groups are not accepted)", m->name, f, wt);
			if (skip(c, wt))
				return vfail(v, at, "%s field %u: truncated or malformed", m->name, f);
			continue;
		}
		if (m == &m_event && f >= 4 && f <= 9) {
			if (oneof_seen && oneof_seen != f)
				return vfail(v, at, "Event sets both field %u and field %u of its oneof", oneof_seen, f);
			oneof_seen = f;
		}
		switch (fd->kind) {
		case K_DENY:
			return vfail(v, at, "%s.%s is not accepted in event records", m->name, fd->name);
		case K_NUM:
			if (wt != fd->wt)
				return vfail(v, at, "%s.%s: wire type %s, expected %s", m->name, fd->name,
				             wt_name(wt), wt_name(fd->wt));
			if (skip(c, wt))
				return vfail(v, at, "%s.%s: truncated or malformed", m->name, fd->name);
			break;
		case K_PACKED:
			if (wt == fd->wt) {
				if (skip(c, wt))
					return vfail(v, at, "%s.%s: truncated or malformed", m->name, fd->name);
				break;
			}
			if (wt != WT_LEN)
				return vfail(v, at, "%s.%s: wire type %s, expected %s or packed", m->name, fd->name,
				             wt_name(wt), wt_name(fd->wt));
			if (get_sub(c, &sub))
				return vfail(v, at, "%s.%s: length runs past the end", m->name, fd->name);
			if (check_packed(v, &sub, fd->wt, m, fd))
				return -1;
			break;
		default:   /* K_BYTES, K_STRING, K_MSG */
			if (wt != WT_LEN)
				return vfail(v, at, "%s.%s: wire type %s, expected length-delimited", m->name, fd->name,
				             wt_name(wt));
			if (get_sub(c, &sub))
				return vfail(v, at, "%s.%s: length runs past the end", m->name, fd->name);
			if (fd->kind == K_STRING && !utf8_ok(sub.p, (size_t)(sub.end - sub.p)))
				return vfail(v, sub.p, "%s.%s is not valid UTF-8", m->name, fd->name);
			if (fd->kind == K_MSG && check_msg(v, &sub, fd->sub, depth + 1))
				return -1;
		}
	}
	return 0;
}

int tbw__event_check_body(const uint8_t *body, size_t len, char *why, size_t why_cap)
{
	vctx v = { why, why_cap, body, 0 };
	cur c = { body, body + len, body };

	if (why_cap)
		why[0] = '\0';
	if (!body || len == 0) {
		snprintf(why, why_cap, "the body is empty");
		return -1;
	}
	return check_msg(&v, &c, &m_event, 0) ? -1 : 0;
}

/* First string field `field` of the message in c. */
static int find_string(cur c, uint32_t field, const uint8_t **p, size_t *n)
{
	while (c.p < c.end) {
		uint32_t f;
		int wt;
		cur sub;
		if (get_key(&c, &f, &wt))
			return -1;
		if (wt != WT_LEN) {
			if (skip(&c, wt))
				return -1;
			continue;
		}
		if (get_sub(&c, &sub))
			return -1;
		if (f == field) {
			*p = sub.p;
			*n = (size_t)(sub.end - sub.p);
			return 0;
		}
	}
	return -1;
}

int tbw__event_body_tag(const uint8_t *body, size_t len, const char **tag, size_t *tag_len)
{
	cur c = { body, body + len, body };

	*tag = NULL;
	*tag_len = 0;
	while (c.p < c.end) {
		uint32_t f;
		int wt;
		cur sub, val;
		const uint8_t *p;
		size_t n;
		if (get_key(&c, &f, &wt))
			return -1;
		if (wt != WT_LEN) {
			if (skip(&c, wt))
				return -1;
			continue;
		}
		if (get_sub(&c, &sub))
			return -1;
		if (f == 5) {       /* summary: first value's tag */
			const uint8_t *vp;
			size_t vn;
			if (find_string(sub, 1, &vp, &vn) == 0) {
				val.p = vp; val.end = vp + vn; val.base = body;
				if (find_string(val, 1, &p, &n) == 0) {
					*tag = (const char *)p;
					*tag_len = n;
					return 0;
				}
			}
		} else if (f == 8 && find_string(sub, 1, &p, &n) == 0) {   /* tagged_run_metadata.tag */
			*tag = (const char *)p;
			*tag_len = n;
			return 0;
		}
	}
	return -1;
}

size_t tbw__event_encode_record_head(uint8_t *dst, double wall_time, int64_t step)
{
	return (size_t)(put_wall_step(dst, wall_time, step) - dst);
}

int tbw__event_split(const uint8_t *buf, size_t len, double *wall_time, int64_t *step, size_t *body_off)
{
	cur c = { buf, buf + len, buf };
	int seen = 0;

	*wall_time = 0;
	*step = 0;
	*body_off = 0;
	while (c.p < c.end) {
		const uint8_t *at = c.p, *b;
		uint32_t f;
		int wt;
		uint64_t v;
		if (get_key(&c, &f, &wt))
			return TBW_ECORRUPT;
		if (f == 1 && wt == WT_I64 && seen < 1) {
			if (get_bytes(&c, 8, &b))
				return TBW_ECORRUPT;
			v = tbw__get_le64(b);
			memcpy(wall_time, &v, 8);
			seen = 1;
		} else if (f == 2 && wt == WT_VARINT && seen < 2) {
			if (get_varint(&c, &v))
				return TBW_ECORRUPT;
			*step = (int64_t)v;
			seen = 2;
		} else {
			c.p = at;
			break;
		}
	}
	*body_off = (size_t)(c.p - buf);
	return TBW_OK;
}
