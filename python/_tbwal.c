/* _tbwal.c -- CPython extension module tbwal._tbwal: a thin binding of the
 * public C API (include/tbwal.h) used by the pure-Python SummaryWriter in
 * python/tbwal/__init__.py.
 *
 * It defines:
 *   - the exception hierarchy (tbwal.Error and one subclass per TBW_E* code),
 *     raised with the library's one-line message (tbw_errmsg());
 *   - Writer, a base type owning one tbw_writer*. add_scalar() is implemented
 *     here, argument parsing included, because it is the hot path: the target
 *     is about a microsecond per call, and a Python-level wrapper alone costs
 *     a fair part of that.
 *
 * GIL: tbw_open, tbw_flush and tbw_close run with the GIL released (they
 * fsync and join threads). tbw_add_scalar releases it only in ALWAYS mode,
 * where every call waits for an fsync. In INTERVAL and NEVER modes a call is
 * a memory-mapped LMDB commit of about a microsecond; giving up the GIL for
 * that would let any other busy Python thread take it for up to the switch
 * interval (5 ms) on every call. A call waiting for the LMDB write lock
 * while holding the GIL cannot deadlock: the thread holding that lock never
 * needs the GIL to release it.
 *
 * Fork: a pthread_atfork() child handler bumps a generation counter; a
 * Writer used in a process other than the one that opened it raises
 * tbwal.ForkError without calling into the library (which would refuse with
 * TBW_EFORK anyway), and is detached, never closed, in the child, so the
 * parent's journal and threads are never touched.
 *
 * ABI: the module uses only the stable ABI of CPython 3.9 (Py_LIMITED_API
 * below), so one build (an abi3 wheel, or the autotools-built _tbwal.so)
 * imports in every CPython >= 3.9: a heap type from PyType_FromSpec, no
 * struct access, no macros that read object internals (doc/packaging.md).
 * METH_FASTCALL is in the stable ABI from 3.10 on: add_scalar takes it when
 * the running CPython is 3.10 or newer, METH_VARARGS | METH_KEYWORDS on 3.9
 * (chosen at import, see runtime_has_stable_fastcall); a tag's UTF-8 bytes
 * are cached per writer. The same file builds without the limited API
 * (-DTBW_PY_FULL_API: a per-version module): bench/bench_python.py abi
 * measures what the stable ABI costs against it (doc/packaging.md has the
 * figures); tests/python/varargs.sh runs the binding's tests on the 3.9 path.
 *
 * Tools: the pip build (setup.py, -DTBW_HAVE_TOOLS) compiles the tools'
 * sources into this module with main() renamed; _run_tool(name, argv) runs
 * one (python/tbwal/__main__.py, console scripts).
 */
#if !defined(Py_LIMITED_API) && !defined(TBW_PY_FULL_API)
#define Py_LIMITED_API 0x03090000
#endif
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "tbwal.h"

/* add_scalar's calling convention, chosen at import (PyInit__tbwal):
 * METH_FASTCALL | METH_KEYWORDS when the running CPython is 3.10 or newer,
 * where that convention is part of the stable ABI (its flag value and
 * signature are then fixed for every later version), else METH_VARARGS |
 * METH_KEYWORDS, the 3.9 stable ABI's only one. So the one cp39-abi3 build
 * pays for a tuple per call on 3.9 only (doc/packaging.md, the benchmark).
 * TBW_PY_NO_FASTCALL forces METH_VARARGS (tests/python/varargs.sh runs the
 * binding's tests so on a newer Python). 0x0080 is METH_FASTCALL, which
 * 3.9's limited-API headers do not define. */
#ifndef METH_FASTCALL
#define METH_FASTCALL 0x0080
#endif

/* ---- fork detection ---------------------------------------------------- */

static volatile unsigned long fork_gen;

static void on_fork_child(void)
{
	fork_gen++;
}

/* ---- limited-API helpers ------------------------------------------------- */

static PyObject *str_float;   /* "__float__" */

/* Py_INCREF + PyModule_AddObject (PyModule_AddObjectRef is 3.10). */
static int add_object_ref(PyObject *m, const char *name, PyObject *o)
{
	Py_INCREF(o);
	if (PyModule_AddObject(m, name, o) < 0) {
		Py_DECREF(o);
		return -1;
	}
	return 0;
}

/* The name of o's type as tp_name spells it ("numpy.float64", "str"); new ref. */
static PyObject *type_name(PyObject *o)
{
	PyObject *t = (PyObject *)Py_TYPE(o), *mod = NULL, *name, *r = NULL;
	int heap = (PyType_GetFlags(Py_TYPE(o)) & Py_TPFLAGS_HEAPTYPE) != 0;

	name = PyObject_GetAttrString(t, heap ? "__name__" : "__qualname__");
	if (name != NULL && !heap) {
		mod = PyObject_GetAttrString(t, "__module__");
		if (mod != NULL && PyUnicode_Check(mod) &&
		    PyUnicode_CompareWithASCIIString(mod, "builtins") != 0)
			r = PyUnicode_FromFormat("%U.%U", mod, name);
	}
	if (r == NULL && name != NULL && PyUnicode_Check(name)) {
		Py_INCREF(name);
		r = name;
	}
	Py_XDECREF(mod);
	Py_XDECREF(name);
	if (r == NULL) {
		PyErr_Clear();
		r = PyUnicode_FromString("?");
	}
	return r;
}

/* Raise exc with fmt, whose one %U is the name of o's type; returns -1. */
static int type_error(PyObject *exc, const char *fmt, PyObject *o)
{
	PyObject *tn = type_name(o);

	if (tn == NULL)
		return -1;
	PyErr_Format(exc, fmt, tn);
	Py_DECREF(tn);
	return -1;
}

/* Does o's type define __float__ or __index__ (nb_float, nb_index)? */
static int has_float_or_index(PyObject *o)
{
	return PyIndex_Check(o) || PyObject_HasAttr((PyObject *)Py_TYPE(o), str_float);
}

/* s (a str or NULL) as UTF-8 in buf (surrogate escapes undone), or dflt. */
static const char *str_utf8(PyObject *s, char *buf, size_t n, const char *dflt)
{
	PyObject *b;

	if (s == NULL)
		return dflt;
	b = PyUnicode_AsEncodedString(s, "utf-8", "surrogateescape");
	if (b == NULL) {
		PyErr_Clear();
		return dflt;
	}
	PyOS_snprintf(buf, n, "%s", PyBytes_AsString(b));
	Py_DECREF(b);
	return buf;
}

/* ---- exceptions ---------------------------------------------------------- */

static PyObject *Error;          /* tbwal.Error: base of all library errors */

static struct exc_def {
	int code;
	const char *name;            /* attribute name in the module */
	const char *doc;
	PyObject *extra_base;        /* set at init: builtin also inherited */
	PyObject *type;
} exc_defs[] = {
	{ TBW_EINVAL,     "InvalidArgument", "Invalid argument: tag, option or path (TBW_EINVAL).", NULL, NULL },
	{ TBW_ENOMEM,     "OutOfMemory",     "The library ran out of memory (TBW_ENOMEM).", NULL, NULL },
	{ TBW_EIO,        "IOError",         "An I/O call failed (TBW_EIO).", NULL, NULL },
	{ TBW_EFULL,      "DiskFull",        "No space left, quota exceeded or the journal map cannot grow (TBW_EFULL).", NULL, NULL },
	{ TBW_ECORRUPT,   "Corrupt",         "Stored data failed its checksum or structure check (TBW_ECORRUPT).", NULL, NULL },
	{ TBW_EBUSY,      "JournalBusy",     "Another process holds the journal for this role (TBW_EBUSY).", NULL, NULL },
	{ TBW_EPANIC,     "Panic",           "An earlier sync or commit failed; the writer refuses writes (TBW_EPANIC).", NULL, NULL },
	{ TBW_EFORK,      "ForkError",       "A writer was used in a child process after fork() (TBW_EFORK).", NULL, NULL },
	{ TBW_EVERSION,   "VersionError",    "Stored data has a format version this library does not read (TBW_EVERSION).", NULL, NULL },
	{ TBW_ENOTFOUND,  "NotFound",        "The journal, file or folder does not exist (TBW_ENOTFOUND).", NULL, NULL },
	{ TBW_ETRUNCATED, "Truncated",       "Torn tail: the last record is incomplete (TBW_ETRUNCATED).", NULL, NULL },
	{ TBW_ECLOSED,    "WriterClosed",    "The writer is closed or closing (TBW_ECLOSED).", NULL, NULL },
};

#define N_EXC (sizeof exc_defs / sizeof exc_defs[0])

static PyObject *exc_for_code(int code)
{
	for (size_t i = 0; i < N_EXC; i++)
		if (exc_defs[i].code == code)
			return exc_defs[i].type;
	return Error;
}

/* Raise the exception for code with message msg; sets .code and .code_name. */
static PyObject *raise_code(int code, const char *msg)
{
	PyObject *type = exc_for_code(code);
	PyObject *exc, *v;
	const char *name = tbw_strerror(code);
	const char *colon = strchr(name, ':');

	exc = PyObject_CallFunction(type, "s", msg);
	if (exc == NULL)
		return NULL;
	v = PyLong_FromLong(code);
	if (v == NULL || PyObject_SetAttrString(exc, "code", v) < 0)
		goto fail;
	Py_DECREF(v);
	v = PyUnicode_FromStringAndSize(name, colon ? colon - name : (Py_ssize_t)strlen(name));
	if (v == NULL || PyObject_SetAttrString(exc, "code_name", v) < 0)
		goto fail;
	Py_DECREF(v);
	PyErr_SetObject(type, exc);
	Py_DECREF(exc);
	return NULL;
fail:
	Py_XDECREF(v);
	Py_DECREF(exc);
	return NULL;
}

/* Raise for a failed library call; read tbw_errmsg() on this thread. */
static PyObject *raise_tbw(int code)
{
	return raise_code(code, tbw_errmsg());
}

/* ---- the Writer type ------------------------------------------------------ */

typedef struct {
	PyObject_HEAD
	tbw_writer *w;
	unsigned long gen;        /* fork_gen when opened */
	long pid;                 /* process that opened it (for messages) */
	int release_gil;          /* ALWAYS mode: release the GIL around add_scalar */
	int inflight;             /* calls running with the GIL released (GIL-protected) */
	PyObject *logdir;         /* str, for messages */
	PyObject *weakreflist;
	PyObject *tag_obj;        /* the last tag str seen by add_scalar ... */
	PyObject *tag_bytes;      /* ... and its UTF-8 bytes */
} WriterObject;

static PyObject *str_reopen;  /* "_reopen" */
static PyObject *kw_names[6]; /* add_scalar's parameter names */

static PyObject *fork_error(WriterObject *self, const char *op)
{
	char buf[768], ld[512];

	PyOS_snprintf(buf, sizeof buf,
	              "%s %s: writer opened by process %ld used in child process %ld after fork(); "
	              "the parent's journal is left untouched. Open a new SummaryWriter with its own "
	              "log_dir in the child.",
	              op, str_utf8(self->logdir, ld, sizeof ld, "?"), self->pid, (long)getpid());
	if (PyErr_Occurred())
		PyErr_Clear();
	return raise_code(TBW_EFORK, buf);
}

/* 0 when self may call into the library, -1 with an exception set. */
static int check_usable(WriterObject *self, const char *op)
{
	if (self->logdir != NULL && self->gen != fork_gen) {
		fork_error(self, op);
		return -1;
	}
	if (self->w == NULL) {
		char buf[768], ld[512];
		PyOS_snprintf(buf, sizeof buf, "%s %s: the writer is closed", op,
		              str_utf8(self->logdir, ld, sizeof ld, "(never opened)"));
		if (PyErr_Occurred())
			PyErr_Clear();
		raise_code(TBW_ECLOSED, buf);
		return -1;
	}
	return 0;
}

static PyObject *Writer_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
	WriterObject *self;

	(void)args;
	(void)kwds;
	self = (WriterObject *)((allocfunc)PyType_GetSlot(type, Py_tp_alloc))(type, 0);
	return (PyObject *)self;
}

/* Close the handle (GIL released), waiting for calls still running with the
 * GIL released. In a forked child the handle is only forgotten. */
static int writer_close_handle(WriterObject *self)
{
	tbw_writer *w = self->w;
	int rc = 0;

	if (w == NULL)
		return 0;
	self->w = NULL;  /* new calls now see a closed writer */
	if (self->gen != fork_gen)
		return 0;  /* inherited: the parent owns it */
	while (self->inflight > 0) {
		Py_BEGIN_ALLOW_THREADS
		sched_yield();
		Py_END_ALLOW_THREADS
	}
	Py_BEGIN_ALLOW_THREADS
	rc = tbw_close(w);
	Py_END_ALLOW_THREADS
	return rc;
}

static void Writer_dealloc(WriterObject *self)
{
	PyTypeObject *tp = Py_TYPE(self);
	PyObject *et, *ev, *tb;

	PyObject_GC_UnTrack(self);
	PyErr_Fetch(&et, &ev, &tb);
	if (self->weakreflist != NULL)
		PyObject_ClearWeakRefs((PyObject *)self);
	if (self->w != NULL && writer_close_handle(self) < 0) {
		/* Nobody can catch it; say so on stderr rather than drop it. */
		PySys_FormatStderr("tbwal: closing writer for %S at garbage collection failed: %s\n",
		                   self->logdir ? self->logdir : Py_None, tbw_errmsg());
	}
	Py_CLEAR(self->logdir);
	Py_CLEAR(self->tag_obj);
	Py_CLEAR(self->tag_bytes);
	PyErr_Restore(et, ev, tb);
	((freefunc)PyType_GetSlot(tp, Py_tp_free))(self);
	Py_DECREF(tp);  /* a heap type: each instance holds a reference */
}

static int Writer_traverse(WriterObject *self, visitproc visit, void *arg)
{
	Py_VISIT(Py_TYPE(self));
	return 0;
}

/* Converter for optional paths: None -> NULL, else os.fsencode(). */
static int opt_path(PyObject *o, void *out)
{
	if (o == NULL) {  /* cleanup call */
		Py_CLEAR(*(PyObject **)out);
		return 1;
	}
	if (o == Py_None) {
		*(PyObject **)out = NULL;
		return 1;
	}
	return PyUnicode_FSConverter(o, out);
}

static int opt_ms(PyObject *o, unsigned int *out, const char *name)
{
	unsigned long v = PyLong_AsUnsignedLong(o);

	if (v == (unsigned long)-1 && PyErr_Occurred()) {
		PyErr_Format(PyExc_ValueError, "%s must be a non-negative int (milliseconds)", name);
		return -1;
	}
	if (v > UINT32_MAX) {
		PyErr_Format(PyExc_ValueError, "%s is too large", name);
		return -1;
	}
	*out = (unsigned int)v;
	return 0;
}

PyDoc_STRVAR(Writer_open_doc,
"_open(logdir, durability=0, durability_interval_ms=1000, compact_interval_ms=1000,\n"
"      scalar_format=0, sync_dir=None, sync_interval_ms=5000, purge_step=None,\n"
"      filename_suffix=None, journal_dir=None, run_name=None)\n"
"Open the journal for logdir (tbw_open). Integers are the C enum values.");

static PyObject *Writer_open(WriterObject *self, PyObject *args, PyObject *kwds)
{
	static char *kwlist[] = { "logdir", "durability", "durability_interval_ms",
		"compact_interval_ms", "scalar_format", "sync_dir", "sync_interval_ms",
		"purge_step", "filename_suffix", "journal_dir", "run_name", NULL };
	PyObject *logdir = NULL, *sync_dir = NULL, *suffix = NULL, *jdir = NULL, *run = NULL;
	PyObject *o_dint = NULL, *o_cint = NULL, *o_sint = NULL, *o_purge = Py_None, *ret = NULL;
	int durability = TBW_DURABILITY_INTERVAL, fmt = TBW_SCALAR_SIMPLE, rc;
	tbw_options opts = TBW_OPTIONS_INIT;
	tbw_writer *w = NULL;

	if (!PyArg_ParseTupleAndKeywords(args, kwds, "O&|iOOiO&OOO&O&O&:_open", kwlist,
	                                 PyUnicode_FSConverter, &logdir, &durability, &o_dint,
	                                 &o_cint, &fmt, opt_path, &sync_dir, &o_sint, &o_purge,
	                                 opt_path, &suffix, opt_path, &jdir, opt_path, &run))
		goto out;
	if (self->w != NULL) {
		if (check_usable(self, "open") == 0)
			PyErr_SetString(PyExc_RuntimeError, "writer is already open");
		goto out;
	}
	opts.durability = (tbw_durability)durability;
	opts.scalar_format = (tbw_scalar_format)fmt;
	if (o_dint && opt_ms(o_dint, &opts.durability_interval_ms, "durability_interval_ms") < 0)
		goto out;
	if (o_cint && opt_ms(o_cint, &opts.compact_interval_ms, "compact_interval_ms") < 0)
		goto out;
	if (o_sint && opt_ms(o_sint, &opts.sync_interval_ms, "sync_interval_ms") < 0)
		goto out;
	if (o_purge != Py_None) {
		long long p = PyLong_AsLongLong(o_purge);
		if (p == -1 && PyErr_Occurred())
			goto out;
		opts.purge_step = p;
	}
	opts.sync_dir = sync_dir ? PyBytes_AsString(sync_dir) : NULL;
	opts.filename_suffix = suffix ? PyBytes_AsString(suffix) : NULL;
	opts.journal_dir = jdir ? PyBytes_AsString(jdir) : NULL;
	opts.run_name = run ? PyBytes_AsString(run) : NULL;

	Py_BEGIN_ALLOW_THREADS
	rc = tbw_open(&w, PyBytes_AsString(logdir), &opts);
	Py_END_ALLOW_THREADS
	if (rc < 0) {
		raise_tbw(rc);
		goto out;
	}
	self->w = w;
	self->gen = fork_gen;
	self->pid = (long)getpid();
	self->release_gil = opts.durability == TBW_DURABILITY_ALWAYS;
	{
		PyObject *old = self->logdir;
		self->logdir = PyUnicode_DecodeFSDefault(PyBytes_AsString(logdir));
		Py_XDECREF(old);
	}
	if (self->logdir == NULL)
		PyErr_Clear();
	Py_INCREF(Py_None);
	ret = Py_None;
out:
	Py_XDECREF(logdir);
	Py_XDECREF(sync_dir);
	Py_XDECREF(suffix);
	Py_XDECREF(jdir);
	Py_XDECREF(run);
	return ret;
}

/* scalar_value -> double: float, int, or anything with __float__/__index__. */
static int value_as_double(PyObject *o, double *out)
{
	double d;

	if (PyFloat_CheckExact(o)) {
		*out = PyFloat_AsDouble(o);
		return 0;
	}
	if (PyLong_Check(o)) {
		d = PyLong_AsDouble(o);  /* OverflowError past 1.8e308 */
		if (d == -1.0 && PyErr_Occurred())
			return -1;
		*out = d;
		return 0;
	}
	if (!has_float_or_index(o))
		return type_error(PyExc_TypeError,
		                  "scalar_value must be a float, an int or an object with __float__ "
		                  "(numpy scalar, one-element tensor), not %.200U", o);
	d = PyFloat_AsDouble(o);
	if (d == -1.0 && PyErr_Occurred()) {
		/* e.g. a numpy array or tensor with several elements */
		PyObject *et, *ev, *tb;
		PyErr_Fetch(&et, &ev, &tb);
		PyErr_NormalizeException(&et, &ev, &tb);
		{
			PyObject *tn = type_name(o);
			if (tn != NULL) {
				PyErr_Format(PyExc_TypeError,
				             "scalar_value of type %.200U cannot be converted to float: %S",
				             tn, ev ? ev : Py_None);
				Py_DECREF(tn);
			}
		}
		{
			PyObject *et2, *ev2, *tb2;
			PyErr_Fetch(&et2, &ev2, &tb2);
			PyErr_NormalizeException(&et2, &ev2, &tb2);
			if (ev2 != NULL && ev != NULL) {
				Py_INCREF(ev);
				PyException_SetCause(ev2, ev);
			}
			PyErr_Restore(et2, ev2, tb2);
		}
		Py_XDECREF(et);
		Py_XDECREF(ev);
		Py_XDECREF(tb);
		return -1;
	}
	*out = d;
	return 0;
}

static int step_as_int64(PyObject *o, int64_t *out)
{
	long long v;
	int overflow;

	if (o == Py_None) {  /* torch leaves Event.step unset: 0 */
		*out = 0;
		return 0;
	}
	if (PyLong_Check(o)) {
		v = PyLong_AsLongLongAndOverflow(o, &overflow);
	} else {
		PyObject *i;
		/* torch's FileWriter stores int(step): a float step is truncated, a
		 * numeric string parsed. Integers (and __index__ types) go first. */
		if (PyIndex_Check(o))
			i = PyNumber_Index(o);
		else
			i = PyNumber_Long(o);
		if (i == NULL)
			return -1;
		v = PyLong_AsLongLongAndOverflow(i, &overflow);
		Py_DECREF(i);
	}
	if (v == -1 && PyErr_Occurred())
		return -1;
	if (overflow) {
		PyErr_SetString(PyExc_OverflowError, "global_step does not fit in a signed 64-bit int");
		return -1;
	}
	*out = (int64_t)v;
	return 0;
}

static int walltime_as_double(PyObject *o, double *out)
{
	double d;

	if (o == Py_None) {
		*out = 0.0;  /* the library reads the clock */
		return 0;
	}
	if (PyFloat_CheckExact(o)) {
		*out = PyFloat_AsDouble(o);
		return 0;
	}
	if (PyUnicode_Check(o) || PyBytes_Check(o) || !has_float_or_index(o))
		return type_error(PyExc_TypeError,
		                  "walltime must be a number of seconds (or None), not %.200U", o);
	d = PyFloat_AsDouble(o);
	if (d == -1.0 && PyErr_Occurred())
		return -1;
	*out = d;
	return 0;
}

PyDoc_STRVAR(Writer_add_scalar_doc,
"add_scalar(tag, scalar_value, global_step=None, walltime=None, new_style=False,\n"
"           double_precision=False)\n"
"--\n\n"
"Commit one scalar to the journal before returning.\n\n"
"tag: non-empty str (UTF-8, at most 1024 bytes, no control characters).\n"
"scalar_value: float, int, or anything with __float__ (numpy scalar, one-element tensor).\n"
"global_step: int, or anything int() takes, as torch; None is 0. walltime: seconds since the epoch,\n"
"None for now. new_style and double_precision are accepted for torch compatibility;\n"
"the encoding is the writer's scalar_format (never DT_DOUBLE, which TensorBoard drops).\n"
"Raises tbwal.Error subclasses with the library's message; nothing is written then.");

/* The UTF-8 bytes of tag (a str), from the writer's one-entry cache; new ref. */
static PyObject *tag_utf8(WriterObject *self, PyObject *tag)
{
	PyObject *b;

	if (tag != self->tag_obj || self->tag_bytes == NULL) {
		b = PyUnicode_AsUTF8String(tag);
		if (b == NULL)
			return NULL;
		Py_INCREF(tag);
		Py_XDECREF(self->tag_obj);
		Py_XDECREF(self->tag_bytes);
		self->tag_obj = tag;
		self->tag_bytes = b;
	}
	Py_INCREF(self->tag_bytes);
	return self->tag_bytes;
}

/* One keyword argument of add_scalar into its slot of a[6] (nargs
 * positional ones given); 0, or -1 with TypeError. */
static int add_scalar_kwarg(PyObject **a, Py_ssize_t nargs, PyObject *name, PyObject *val)
{
	int slot = -1;

	for (int j = 0; j < 6 && slot < 0; j++)
		if (name == kw_names[j])
			slot = j;
	for (int j = 0; j < 6 && slot < 0; j++)
		if (PyUnicode_Compare(name, kw_names[j]) == 0)
			slot = j;
	if (slot < 0) {
		PyErr_Format(PyExc_TypeError, "add_scalar() got an unexpected keyword argument '%U'", name);
		return -1;
	}
	if (slot < nargs) {
		PyErr_Format(PyExc_TypeError, "add_scalar() got multiple values for argument '%U'", name);
		return -1;
	}
	a[slot] = val;
	return 0;
}

static PyObject *add_scalar_args(WriterObject *self, PyObject **a);

/* METH_FASTCALL | METH_KEYWORDS: the arguments arrive as an array, no tuple
 * or dict is built per call (doc/packaging.md, the stable ABI). */
static PyObject *Writer_add_scalar_fast(WriterObject *self, PyObject *const *args, Py_ssize_t nargs,
                                        PyObject *kwnames)
{
	PyObject *a[6] = { NULL, NULL, Py_None, Py_None, NULL, NULL };

	if (nargs > 6) {
		PyErr_Format(PyExc_TypeError, "add_scalar() takes at most 6 arguments (%zd given)", nargs);
		return NULL;
	}
	for (Py_ssize_t i = 0; i < nargs; i++)
		a[i] = args[i];
	if (kwnames != NULL) {
		Py_ssize_t nk = PyTuple_Size(kwnames);
		for (Py_ssize_t k = 0; k < nk; k++)
			if (add_scalar_kwarg(a, nargs, PyTuple_GetItem(kwnames, k), args[nargs + k]) < 0)
				return NULL;
	}
	return add_scalar_args(self, a);
}

/* METH_VARARGS | METH_KEYWORDS (CPython 3.9). */
static PyObject *Writer_add_scalar(WriterObject *self, PyObject *args, PyObject *kwds)
{
	PyObject *a[6] = { NULL, NULL, Py_None, Py_None, NULL, NULL };
	Py_ssize_t nargs = PyTuple_Size(args);

	if (nargs > 6) {
		PyErr_Format(PyExc_TypeError, "add_scalar() takes at most 6 arguments (%zd given)", nargs);
		return NULL;
	}
	for (Py_ssize_t i = 0; i < nargs; i++)
		a[i] = PyTuple_GetItem(args, i);
	if (kwds != NULL) {
		Py_ssize_t pos = 0;
		PyObject *name, *val;
		while (PyDict_Next(kwds, &pos, &name, &val))
			if (add_scalar_kwarg(a, nargs, name, val) < 0)
				return NULL;
	}
	return add_scalar_args(self, a);
}

/* add_scalar with its arguments in a[]: tag, scalar_value, global_step,
 * walltime, new_style, double_precision (NULL: not given). */
static PyObject *add_scalar_args(WriterObject *self, PyObject **a)
{
	PyObject *tagb;
	char *tag;
	Py_ssize_t taglen;
	double value, walltime;
	int64_t step;
	int rc;

	if (a[0] == NULL || a[1] == NULL) {
		PyErr_Format(PyExc_TypeError, "add_scalar() missing required argument '%U'",
		             kw_names[a[0] == NULL ? 0 : 1]);
		return NULL;
	}
	if (!PyUnicode_Check(a[0])) {
		type_error(PyExc_TypeError, "tag must be str, not %.200U", a[0]);
		return NULL;
	}
	if (value_as_double(a[1], &value) < 0 || step_as_int64(a[2], &step) < 0 ||
	    walltime_as_double(a[3], &walltime) < 0)
		return NULL;
	tagb = tag_utf8(self, a[0]);
	if (tagb == NULL)
		return NULL;
	if (PyBytes_AsStringAndSize(tagb, &tag, &taglen) < 0) {
		Py_DECREF(tagb);
		return NULL;
	}
	if ((size_t)taglen != strlen(tag)) {
		char buf[256];
		PyOS_snprintf(buf, sizeof buf, "add_scalar: tag contains a NUL character at byte %zu",
		              strlen(tag));
		Py_DECREF(tagb);
		return raise_code(TBW_EINVAL, buf);
	}

	if (self->w == NULL || self->gen != fork_gen) {
		if (self->w == NULL && self->gen == fork_gen && self->logdir != NULL) {
			/* Closed: like torch, log again by reopening (subclasses define _reopen). */
			PyObject *r = PyObject_CallMethodObjArgs((PyObject *)self, str_reopen, NULL);
			if (r == NULL) {
				if (!PyErr_ExceptionMatches(PyExc_AttributeError)) {
					Py_DECREF(tagb);
					return NULL;
				}
				PyErr_Clear();
			} else {
				Py_DECREF(r);
			}
		}
		if (check_usable(self, "add_scalar") < 0) {
			Py_DECREF(tagb);
			return NULL;
		}
	}
	if (self->release_gil) {
		tbw_writer *w = self->w;
		self->inflight++;
		Py_BEGIN_ALLOW_THREADS
		rc = tbw_add_scalar(w, tag, value, step, walltime);
		Py_END_ALLOW_THREADS
		self->inflight--;
	} else {
		rc = tbw_add_scalar(self->w, tag, value, step, walltime);
	}
	Py_DECREF(tagb);
	if (rc < 0)
		return raise_tbw(rc);
	Py_RETURN_NONE;
}

PyDoc_STRVAR(Writer_add_event_doc,
"add_event(tag, body, step=0, wall_time=None)\n"
"--\n\n"
"Commit one TensorBoard Event of any kind to the journal before returning.\n\n"
"tag: str naming the record (tag rules of add_scalar), or None: the body's first\n"
"Summary.Value tag. body: bytes, a serialized tensorboard Event WITHOUT fields 1\n"
"(wall_time) and 2 (step), e.g. Event(summary=...).SerializeToString(); checked before\n"
"anything is written, at most max_record_bytes (16 MiB by default). step: int (None: 0).\n"
"wall_time: seconds since the epoch, None for now. The event files get\n"
"Event{wall_time, step} followed by body verbatim. The GIL is released during the\n"
"commit. Raises tbwal.Error subclasses with the library's message; nothing is written then.");

static PyObject *Writer_add_event(WriterObject *self, PyObject *args, PyObject *kwds)
{
	static char *kwlist[] = { "tag", "body", "step", "wall_time", NULL };
	PyObject *o_tag, *o_body, *o_step = Py_None, *o_wall = Py_None, *tagb = NULL, *res = NULL;
	char *tag = NULL;
	char *body;
	Py_ssize_t taglen = 0, blen;
	double walltime;
	int64_t step;
	tbw_writer *w;
	int rc;

	if (!PyArg_ParseTupleAndKeywords(args, kwds, "OO|OO:add_event", kwlist, &o_tag, &o_body,
	                                 &o_step, &o_wall))
		return NULL;
	if (o_tag != Py_None && !PyUnicode_Check(o_tag)) {
		type_error(PyExc_TypeError, "tag must be str or None, not %.200U", o_tag);
		return NULL;
	}
	if (!PyBytes_Check(o_body)) {
		type_error(PyExc_TypeError, "body must be bytes, not %.200U", o_body);
		return NULL;
	}
	if (step_as_int64(o_step, &step) < 0 || walltime_as_double(o_wall, &walltime) < 0)
		return NULL;
	if (PyBytes_AsStringAndSize(o_body, &body, &blen) < 0)
		return NULL;
	if (o_tag != Py_None) {
		/* limited API: the UTF-8 bytes as a new bytes object, kept until the commit */
		if ((tagb = PyUnicode_AsUTF8String(o_tag)) == NULL)
			return NULL;
		if (PyBytes_AsStringAndSize(tagb, &tag, &taglen) < 0)
			goto out;
		if ((size_t)taglen != strlen(tag)) {
			char buf[256];
			PyOS_snprintf(buf, sizeof buf, "add_event: tag contains a NUL character at byte %zu",
			              strlen(tag));
			raise_code(TBW_EINVAL, buf);
			goto out;
		}
	}
	if (self->w == NULL || self->gen != fork_gen) {
		if (self->w == NULL && self->gen == fork_gen && self->logdir != NULL) {
			/* Closed: like torch, log again by reopening (subclasses define _reopen). */
			PyObject *r = PyObject_CallMethodObjArgs((PyObject *)self, str_reopen, NULL);
			if (r == NULL) {
				if (!PyErr_ExceptionMatches(PyExc_AttributeError))
					goto out;
				PyErr_Clear();
			} else {
				Py_DECREF(r);
			}
		}
		if (check_usable(self, "add_event") < 0)
			goto out;
	}
	/* o_body (immutable bytes) stays referenced by args, tagb by us, meanwhile */
	w = self->w;
	self->inflight++;
	Py_BEGIN_ALLOW_THREADS
	rc = tbw_add_event(w, tag, step, walltime, body, (size_t)blen);
	Py_END_ALLOW_THREADS
	self->inflight--;
	if (rc < 0) {
		raise_tbw(rc);
		goto out;
	}
	Py_INCREF(Py_None);
	res = Py_None;
out:
	Py_XDECREF(tagb);
	return res;
}

PyDoc_STRVAR(Writer_log_doc,
"_log(metrics, global_step=None, walltime=None)\n--\n\n"
"Commit every (tag, value) of the mapping metrics in one transaction, with one\n"
"step and one wall time (tbw_add_scalars): all or nothing.");

static PyObject *Writer_log(WriterObject *self, PyObject *args)
{
	PyObject *metrics, *stepo = Py_None, *wallo = Py_None, *items, *tagbytes = NULL;
	const char *tags_small[32];
	double values_small[32];
	const char **tags = tags_small;
	double *values = values_small;
	double walltime;
	int64_t step;
	Py_ssize_t n;
	int rc;

	if (!PyArg_ParseTuple(args, "O|OO:log", &metrics, &stepo, &wallo))
		return NULL;
	if (!PyDict_Check(metrics) && !PyObject_HasAttrString(metrics, "items")) {
		type_error(PyExc_TypeError, "log: metrics must be a mapping of tag to value, not %.200U",
		           metrics);
		return NULL;
	}
	if (step_as_int64(stepo, &step) < 0 || walltime_as_double(wallo, &walltime) < 0)
		return NULL;
	if ((items = PyMapping_Items(metrics)) == NULL)
		return NULL;
	n = PyList_Size(items);
	if ((tagbytes = PyList_New(0)) == NULL)  /* keeps the tags' UTF-8 bytes alive */
		goto fail;
	if (n > 32) {
		tags = PyMem_Malloc((size_t)n * sizeof *tags);
		values = PyMem_Malloc((size_t)n * sizeof *values);
		if (!tags || !values) {
			PyErr_NoMemory();
			goto fail;
		}
	}
	for (Py_ssize_t i = 0; i < n; i++) {
		PyObject *kv = PyList_GetItem(items, i), *k, *v;
		Py_ssize_t len;
		if (!PyTuple_Check(kv) || PyTuple_Size(kv) != 2) {
			PyErr_SetString(PyExc_TypeError, "log: metrics items must be (tag, value) pairs");
			goto fail;
		}
		k = PyTuple_GetItem(kv, 0);
		v = PyTuple_GetItem(kv, 1);
		if (!PyUnicode_Check(k)) {
			type_error(PyExc_TypeError, "log: tag must be str, not %.200U", k);
			goto fail;
		}
		{
			PyObject *b = PyUnicode_AsUTF8String(k);
			char *t;
			if (b == NULL)
				goto fail;
			if (PyList_Append(tagbytes, b) < 0 || PyBytes_AsStringAndSize(b, &t, &len) < 0) {
				Py_DECREF(b);
				goto fail;
			}
			Py_DECREF(b);
			tags[i] = t;
		}
		if ((size_t)len != strlen(tags[i])) {
			char buf[256];
			PyOS_snprintf(buf, sizeof buf, "log: tag contains a NUL character at byte %zu",
			              strlen(tags[i]));
			raise_code(TBW_EINVAL, buf);
			goto fail;
		}
		if (value_as_double(v, &values[i]) < 0)
			goto fail;
	}
	if (check_usable(self, "log") < 0)
		goto fail;
	{
		tbw_writer *w = self->w;
		self->inflight++;
		if (self->release_gil) {
			Py_BEGIN_ALLOW_THREADS
			rc = tbw_add_scalars(w, (size_t)n, tags, values, step, walltime);
			Py_END_ALLOW_THREADS
		} else {
			rc = tbw_add_scalars(w, (size_t)n, tags, values, step, walltime);
		}
		self->inflight--;
	}
	if (tags != tags_small)
		PyMem_Free((void *)tags);
	if (values != values_small)
		PyMem_Free(values);
	Py_DECREF(items);
	Py_DECREF(tagbytes);
	if (rc < 0)
		return raise_tbw(rc);
	Py_RETURN_NONE;
fail:
	if (tags != tags_small)
		PyMem_Free((void *)tags);
	if (values != values_small)
		PyMem_Free(values);
	Py_DECREF(items);
	Py_XDECREF(tagbytes);
	return NULL;
}

PyDoc_STRVAR(Writer_flush_doc,
"flush()\n--\n\n"
"Make everything logged so far durable, exported to event files and (with a\n"
"sync folder) shipped, then return. The GIL is released meanwhile.");

static PyObject *Writer_flush(WriterObject *self, PyObject *Py_UNUSED(ignored))
{
	tbw_writer *w;
	int rc;

	if (self->w == NULL && (self->logdir == NULL || self->gen == fork_gen))
		Py_RETURN_NONE;  /* torch: flushing a closed writer does nothing */
	if (check_usable(self, "flush") < 0)
		return NULL;
	w = self->w;
	self->inflight++;
	Py_BEGIN_ALLOW_THREADS
	rc = tbw_flush(w);
	Py_END_ALLOW_THREADS
	self->inflight--;
	if (rc < 0)
		return raise_tbw(rc);
	Py_RETURN_NONE;
}

PyDoc_STRVAR(Writer_close_doc,
"_close()\n--\n\n"
"Flush, stop background work and release the journal (tbw_close). Closing a\n"
"closed writer does nothing; in a child process after fork() the inherited\n"
"handle is only forgotten (the parent owns it).");

static PyObject *Writer_close(WriterObject *self, PyObject *Py_UNUSED(ignored))
{
	int rc = writer_close_handle(self);

	if (rc < 0)
		return raise_tbw(rc);
	Py_RETURN_NONE;
}

PyDoc_STRVAR(Writer_check_fork_doc,
"_check_fork(op)\n--\n\n"
"Raise tbwal.ForkError when this writer was opened by another process (fork).");

static PyObject *Writer_check_fork(WriterObject *self, PyObject *op)
{
	PyObject *b = PyUnicode_AsUTF8String(op), *r;

	if (b == NULL)
		return NULL;
	if (self->logdir != NULL && self->gen != fork_gen) {
		r = fork_error(self, PyBytes_AsString(b));
		Py_DECREF(b);
		return r;
	}
	Py_DECREF(b);
	Py_RETURN_NONE;
}

static PyObject *Writer_get_closed(WriterObject *self, void *closure)
{
	(void)closure;
	return PyBool_FromLong(self->w == NULL);
}

static PyObject *Writer_get_inherited(WriterObject *self, void *closure)
{
	(void)closure;
	return PyBool_FromLong(self->w != NULL && self->gen != fork_gen);
}

static PyObject *Writer_get_release_gil(WriterObject *self, void *closure)
{
	(void)closure;
	return PyBool_FromLong(self->release_gil);
}

static int Writer_set_release_gil(WriterObject *self, PyObject *v, void *closure)
{
	int b;

	(void)closure;
	if (v == NULL || (b = PyObject_IsTrue(v)) < 0) {
		if (!PyErr_Occurred())
			PyErr_SetString(PyExc_AttributeError, "cannot delete _release_gil");
		return -1;
	}
	self->release_gil = b;
	return 0;
}

static PyObject *Writer_get_journal_path(WriterObject *self, void *closure)
{
	(void)closure;
	if (check_usable(self, "journal_path") < 0)
		return NULL;
	return PyUnicode_DecodeFSDefault(tbw_journal_path(self->w));
}

static PyMethodDef Writer_methods[] = {
	{ "_open", (PyCFunction)(void (*)(void))Writer_open, METH_VARARGS | METH_KEYWORDS, Writer_open_doc },
	/* PyInit__tbwal switches it to Writer_add_scalar_fast on CPython >= 3.10 */
	{ "add_scalar", (PyCFunction)(void (*)(void))Writer_add_scalar, METH_VARARGS | METH_KEYWORDS,
	  Writer_add_scalar_doc },
	{ "add_event", (PyCFunction)(void (*)(void))Writer_add_event, METH_VARARGS | METH_KEYWORDS,
	  Writer_add_event_doc },
	{ "_log", (PyCFunction)Writer_log, METH_VARARGS, Writer_log_doc },
	{ "_flush", (PyCFunction)Writer_flush, METH_NOARGS, Writer_flush_doc },
	{ "_close", (PyCFunction)Writer_close, METH_NOARGS, Writer_close_doc },
	{ "_check_fork", (PyCFunction)Writer_check_fork, METH_O, Writer_check_fork_doc },
	{ NULL, NULL, 0, NULL }
};

static PyGetSetDef Writer_getset[] = {
	{ "closed", (getter)Writer_get_closed, NULL, "True when no journal is open.", NULL },
	{ "_inherited", (getter)Writer_get_inherited, NULL,
	  "True in a child process that inherited an open writer through fork().", NULL },
	{ "_release_gil", (getter)Writer_get_release_gil, (setter)Writer_set_release_gil,
	  "Whether add_scalar releases the GIL (default: only in ALWAYS mode); for benchmarks.", NULL },
	{ "journal_path", (getter)Writer_get_journal_path, NULL,
	  "Directory holding this writer's journal.", NULL },
	{ NULL, NULL, NULL, NULL, NULL }
};

static PyMemberDef Writer_members[] = {
	{ "__weaklistoffset__", T_PYSSIZET, offsetof(WriterObject, weakreflist), READONLY, NULL },
	{ NULL, 0, 0, 0, NULL }
};

static PyType_Slot Writer_slots[] = {
	{ Py_tp_dealloc, (void *)Writer_dealloc },
	{ Py_tp_doc, (void *)"One tbwal journal writer (tbw_writer). Use tbwal.SummaryWriter." },
	{ Py_tp_traverse, (void *)Writer_traverse },
	{ Py_tp_methods, Writer_methods },
	{ Py_tp_getset, Writer_getset },
	{ Py_tp_members, Writer_members },
	{ Py_tp_new, (void *)Writer_new },
	{ 0, NULL }
};

static PyType_Spec Writer_spec = {
	"tbwal._tbwal.Writer", sizeof(WriterObject), 0,
	Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC, Writer_slots
};

static PyObject *WriterType;  /* a heap type, made from Writer_spec at import */

/* ---- module ---------------------------------------------------------------- */

static PyObject *mod_strerror(PyObject *m, PyObject *arg)
{
	long code = PyLong_AsLong(arg);

	(void)m;
	if (code == -1 && PyErr_Occurred())
		return NULL;
	return PyUnicode_FromString(tbw_strerror((int)code));
}

static PyObject *mod_as_float(PyObject *m, PyObject *arg)
{
	double d;

	(void)m;
	if (value_as_double(arg, &d) < 0)
		return NULL;
	return PyFloat_FromDouble(d);
}

/* ---- tbwal.read_scalars() and tbwal.recover() (python/tbwal/_read.py) ---- */

typedef struct { PyObject *list; int failed; } scalars_ctx;

static int on_scalar(void *vctx, const tbw_scalar_rec *r)
{
	scalars_ctx *x = vctx;
	PyObject *t = Py_BuildValue("(Ks#Ldd)", (unsigned long long)r->seq, r->tag, (Py_ssize_t)r->tag_len,
	                            (long long)r->step, r->value, r->wall_time);
	if (t == NULL || PyList_Append(x->list, t) < 0) {
		Py_XDECREF(t);
		x->failed = 1;
		return 1;
	}
	Py_DECREF(t);
	return 0;
}

static PyObject *mod_journal_scalars(PyObject *m, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = { "logdir", "journal_dir", "after_seq", NULL };
	const char *logdir = NULL, *jdir = NULL;
	unsigned long long after = 0;
	uint64_t exp = 0;
	scalars_ctx x = { NULL, 0 };
	PyObject *res;
	int rc;

	(void)m;
	if (!PyArg_ParseTupleAndKeywords(args, kw, "z|zK", kwlist, &logdir, &jdir, &after))
		return NULL;
	if (!(x.list = PyList_New(0)))
		return NULL;
	rc = tbw_read_journal(logdir, jdir, after, on_scalar, &x, &exp);
	if (x.failed) {
		Py_DECREF(x.list);
		return NULL;
	}
	if (rc != 0) {
		Py_DECREF(x.list);
		return raise_tbw(rc);
	}
	res = Py_BuildValue("(KN)", (unsigned long long)exp, x.list);
	return res;
}

/* d[key] = v (stolen); -1 on failure. */
static int dset(PyObject *d, const char *key, PyObject *v)
{
	int rc;
	if (v == NULL)
		return -1;
	rc = PyDict_SetItemString(d, key, v);
	Py_DECREF(v);
	return rc;
}

static PyObject *recovery_dict(const tbw_recovery *rep, int rc)
{
	const tbw_recovery_info *in = tbw_recovery_get_info(rep);
	PyObject *d = PyDict_New(), *l = NULL;
	static const char *status[] = { "recovered", "recovered with losses", "nothing recovered" };

	if (d == NULL)
		return NULL;
	if (dset(d, "schema", PyUnicode_FromString("tbwal.recover/1")) < 0 ||
	    dset(d, "status", PyUnicode_FromString(rc == TBW_EBUSY ? "refused" :
	                                           status[in->outcome <= TBW_RECOVER_FAILED ? in->outcome : 2])) < 0 ||
	    dset(d, "code", PyLong_FromLong(rc)) < 0 ||
	    dset(d, "message", PyUnicode_FromString(in->message ? in->message : "")) < 0 ||
	    dset(d, "run_id", PyUnicode_FromString(in->run_id ? in->run_id : "")) < 0 ||
	    dset(d, "journal", PyUnicode_FromString(in->journal_dir ? in->journal_dir : "")) < 0 ||
	    dset(d, "journal_created", PyBool_FromLong(in->journal_created)) < 0 ||
	    dset(d, "journal_salvaged", PyBool_FromLong(in->journal_salvaged)) < 0 ||
	    dset(d, "moved_aside", PyUnicode_FromString(in->moved_aside ? in->moved_aside : "")) < 0 ||
	    dset(d, "total_scalars", PyLong_FromUnsignedLongLong(in->total_scalars)) < 0 ||
	    dset(d, "exported", PyLong_FromUnsignedLongLong(in->exported)) < 0 ||
	    dset(d, "last_seq", PyLong_FromUnsignedLongLong(in->last_seq)) < 0 ||
	    dset(d, "lost", PyLong_FromUnsignedLongLong(in->lost)) < 0 ||
	    dset(d, "event_files", PyLong_FromUnsignedLongLong(in->event_files)) < 0 ||
	    dset(d, "files_replaced", PyLong_FromUnsignedLongLong(in->files_replaced)) < 0 ||
	    dset(d, "newest_shipped_wall_time", PyFloat_FromDouble(in->newest_shipped_wall_time)) < 0)
		goto fail;
	if (!(l = PyList_New(0)))
		goto fail;
	for (size_t i = 0; i < tbw_recovery_nsources(rep); i++) {
		const tbw_recovery_source *x = tbw_recovery_get_source(rep, i);
		PyObject *e = Py_BuildValue("{s:s,s:s,s:N,s:K,s:K,s:K,s:s}", "kind", x->kind, "path", x->path,
		                            "used", PyBool_FromLong(x->used), "records", (unsigned long long)x->records,
		                            "added", (unsigned long long)x->added, "damaged",
		                            (unsigned long long)x->damaged, "note", x->note);
		if (!e || PyList_Append(l, e) < 0) {
			Py_XDECREF(e);
			goto fail;
		}
		Py_DECREF(e);
	}
	if (dset(d, "sources", l) < 0) {
		l = NULL;
		goto fail;
	}
	if (!(l = PyList_New(0)))
		goto fail;
	for (size_t i = 0; i < tbw_recovery_ndamage(rep); i++) {
		const tbw_recovery_damage *x = tbw_recovery_get_damage(rep, i);
		PyObject *e = Py_BuildValue("{s:s,s:K,s:K,s:s}", "path", x->path, "offset",
		                            (unsigned long long)x->offset, "lost", (unsigned long long)x->lost,
		                            "what", x->what);
		if (!e || PyList_Append(l, e) < 0) {
			Py_XDECREF(e);
			goto fail;
		}
		Py_DECREF(e);
	}
	if (dset(d, "damage", l) < 0) {
		l = NULL;
		goto fail;
	}
	if (!(l = PyList_New(0)))
		goto fail;
	for (size_t i = 0; i < tbw_recovery_ntags(rep); i++) {
		const tbw_recovery_tag *x = tbw_recovery_get_tag(rep, i);
		PyObject *e = Py_BuildValue("{s:s,s:K,s:L,s:L,s:L,s:L,s:d,s:d}", "tag", x->tag, "count",
		                            (unsigned long long)x->count, "first_step", (long long)x->first_step,
		                            "last_step", (long long)x->last_step, "min_step", (long long)x->min_step,
		                            "max_step", (long long)x->max_step, "last_value", x->last_value,
		                            "last_wall_time", x->last_wall_time);
		if (!e || PyList_Append(l, e) < 0) {
			Py_XDECREF(e);
			goto fail;
		}
		Py_DECREF(e);
	}
	if (dset(d, "tags", l) < 0) {
		l = NULL;
		goto fail;
	}
	return d;
fail:
	Py_XDECREF(l);
	Py_DECREF(d);
	return NULL;
}

static PyObject *mod_recover(PyObject *m, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = { "logdir", "from_", "journal_dir", "dry_run", "purge_step", "tensor",
	                          "delete_replaced", NULL };
	const char *logdir, *jdir = NULL;
	PyObject *from = NULL, *seq = NULL, *res = NULL, *purge = Py_None;
	int dry = 0, tensor = 0, del = 0, rc;
	tbw_recover_options o = TBW_RECOVER_OPTIONS_INIT;
	tbw_recovery *rep = NULL;
	const char **paths = NULL;
	Py_ssize_t n = 0;

	(void)m;
	if (!PyArg_ParseTupleAndKeywords(args, kw, "s|OzpOpp", kwlist, &logdir, &from, &jdir, &dry, &purge,
	                                 &tensor, &del))
		return NULL;
	if (from && from != Py_None) {
		/* the limited API (abi3): bytes copies of the paths, kept in seq */
		Py_ssize_t k = PySequence_Size(from);
		if (k < 0 || !(seq = PyList_New(0)))
			return NULL;
		if (k && !(paths = PyMem_Malloc((size_t)k * sizeof *paths))) {
			Py_DECREF(seq);
			return PyErr_NoMemory();
		}
		for (Py_ssize_t i = 0; i < k; i++) {
			PyObject *item = PySequence_GetItem(from, i), *b;
			if (!item)
				goto out;
			b = PyUnicode_Check(item) ? PyUnicode_AsUTF8String(item) : PyOS_FSPath(item);
			Py_DECREF(item);
			if (b && PyUnicode_Check(b)) {
				PyObject *b2 = PyUnicode_AsUTF8String(b);
				Py_DECREF(b);
				b = b2;
			}
			if (!b || !PyBytes_Check(b) || PyList_Append(seq, b) < 0) {
				if (b && !PyBytes_Check(b))
					PyErr_SetString(PyExc_TypeError, "from_ must be a list of paths");
				Py_XDECREF(b);
				goto out;
			}
			paths[i] = PyBytes_AsString(b);
			Py_DECREF(b);
			n++;
		}
	}
	if (purge != Py_None) {
		o.purge_step = PyLong_AsLongLong(purge);
		if (o.purge_step == -1 && PyErr_Occurred())
			goto out;
	}
	o.journal_dir = jdir;
	o.from = paths;
	o.nfrom = (size_t)n;
	o.dry_run = dry;
	o.scalar_format = tensor ? TBW_SCALAR_TENSOR : TBW_SCALAR_SIMPLE;
	o.delete_replaced = del;
	Py_BEGIN_ALLOW_THREADS
	rc = tbw_recover(&rep, logdir, &o);
	Py_END_ALLOW_THREADS
	if (!rep) {
		raise_tbw(rc);
		goto out;
	}
	res = recovery_dict(rep, rc);
	tbw_recovery_free(rep);
out:
	PyMem_Free(paths);
	Py_XDECREF(seq);
	return res;
}

#ifdef TBW_HAVE_TOOLS
/* ---- the command-line tools, built in (setup.py) ---------------------------- */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include "tbw_tools.h"     /* written by setup.py: TBW_TOOLS_TABLE */

static const struct tool_def {
	const char *name;
	int (*main)(int argc, char **argv);
} tool_defs[] = { TBW_TOOLS_TABLE { NULL, NULL } };

static pthread_mutex_t tool_lock = PTHREAD_MUTEX_INITIALIZER;

/* _run_tool(name, argv) -> int: main() of tool name with argv (argv[0]
 * included), with SIGINT and SIGPIPE at their defaults as in a C program
 * and the GIL released; one tool at a time (getopt's state is global). */
static PyObject *mod_run_tool(PyObject *m, PyObject *args)
{
	const char *name;
	PyObject *list, *seq = NULL, *ret = NULL;
	const struct tool_def *t;
	char **argv = NULL;
	Py_ssize_t argc = 0, i;
	struct sigaction dfl, old_int, old_pipe;
	int rc;

	(void)m;
	if (!PyArg_ParseTuple(args, "sO:_run_tool", &name, &list))
		return NULL;
	for (t = tool_defs; t->name != NULL && strcmp(t->name, name) != 0; t++)
		;
	if (t->name == NULL)
		return PyErr_Format(PyExc_ValueError, "_run_tool: no tool named %s", name);
	seq = PySequence_Tuple(list);
	if (seq == NULL)
		return NULL;
	argc = PyTuple_Size(seq);
	argv = calloc((size_t)argc + 1, sizeof *argv);
	if (argv == NULL) {
		PyErr_NoMemory();
		goto out;
	}
	for (i = 0; i < argc; i++) {
		PyObject *b = NULL;
		if (!PyUnicode_FSConverter(PyTuple_GetItem(seq, i), &b))
			goto out;
		argv[i] = strdup(PyBytes_AsString(b));
		Py_DECREF(b);
		if (argv[i] == NULL) {
			PyErr_NoMemory();
			goto out;
		}
	}
	Py_BEGIN_ALLOW_THREADS
	pthread_mutex_lock(&tool_lock);
	memset(&dfl, 0, sizeof dfl);
	dfl.sa_handler = SIG_DFL;
	sigemptyset(&dfl.sa_mask);
	sigaction(SIGINT, &dfl, &old_int);
	sigaction(SIGPIPE, &dfl, &old_pipe);
	optind = 0;  /* glibc: restart getopt's scan */
	rc = t->main((int)argc, argv);
	fflush(stdout);
	fflush(stderr);
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGPIPE, &old_pipe, NULL);
	pthread_mutex_unlock(&tool_lock);
	Py_END_ALLOW_THREADS
	ret = PyLong_FromLong(rc);
out:
	if (argv != NULL)
		for (i = 0; i < argc; i++)
			free(argv[i]);
	free(argv);
	Py_XDECREF(seq);
	return ret;
}

static int add_tools(PyObject *m)
{
	PyObject *names = PyTuple_New((Py_ssize_t)(sizeof tool_defs / sizeof tool_defs[0] - 1));

	if (names == NULL)
		return -1;
	for (size_t i = 0; tool_defs[i].name != NULL; i++) {
		PyObject *s = PyUnicode_FromString(tool_defs[i].name);
		if (s == NULL || PyTuple_SetItem(names, (Py_ssize_t)i, s) < 0) {
			Py_DECREF(names);
			return -1;
		}
	}
	return PyModule_AddObject(m, "_TOOLS", names) < 0 ? (Py_DECREF(names), -1) : 0;
}
#endif /* TBW_HAVE_TOOLS */

static PyMethodDef module_methods[] = {
#ifdef TBW_HAVE_TOOLS
	{ "_run_tool", mod_run_tool, METH_VARARGS,
	  "_run_tool(name, argv)\n--\n\nRun the built-in tool name (argv[0] included); its exit status." },
#endif
	{ "_as_float", mod_as_float, METH_O,
	  "_as_float(value)\n--\n\nvalue as add_scalar converts it; TypeError naming the type otherwise." },
	{ "strerror", mod_strerror, METH_O, "strerror(code)\n--\n\nThe library's description of a TBW_E* code." },
	{ "_journal_scalars", (PyCFunction)(void (*)(void))mod_journal_scalars, METH_VARARGS | METH_KEYWORDS,
	  "_journal_scalars(logdir, journal_dir=None, after_seq=0)\n--\n\n"
	  "(export_seq, [(seq, tag, step, value, wall_time), ...]): the scalars the journal stores after after_seq." },
	{ "_recover", (PyCFunction)(void (*)(void))mod_recover, METH_VARARGS | METH_KEYWORDS,
	  "_recover(logdir, from_=(), journal_dir=None, dry_run=False, purge_step=None, tensor=False, "
	  "delete_replaced=False)\n--\n\nRun tbw_recover; the report as a dict (tbwal.recover/1)." },
	{ NULL, NULL, 0, NULL }
};

static struct PyModuleDef tbwal_module = {
	PyModuleDef_HEAD_INIT, "tbwal._tbwal",
	"C binding of libtbwal's public API; use the tbwal package.", -1, module_methods,
	NULL, NULL, NULL, NULL
};

/* 1 when add_scalar is METH_FASTCALL in this process (chosen at import). */
static int use_fastcall;

/* May add_scalar be METH_FASTCALL: is the running CPython 3.10 or newer
 * (METH_FASTCALL in its stable ABI)? */
static int runtime_has_stable_fastcall(void)
{
#if defined(TBW_PY_NO_FASTCALL)
	return 0;
#elif !defined(Py_LIMITED_API)
	return 1;   /* a per-version build (TBW_PY_FULL_API): every CPython >= 3.7 has it */
#else
	int major = 0, minor = 0;

	if (sscanf(Py_GetVersion(), "%d.%d", &major, &minor) != 2)   /* "3.12.1 (main, ..." */
		return 0;
	return major > 3 || (major == 3 && minor >= 10);
#endif
}

PyMODINIT_FUNC PyInit__tbwal(void);

PyMODINIT_FUNC PyInit__tbwal(void)
{
	static const char *names[6] = { "tag", "scalar_value", "global_step", "walltime",
	                                "new_style", "double_precision" };
	static int atfork_done;
	PyObject *m = NULL;

	if (!atfork_done) {
		if (pthread_atfork(NULL, NULL, on_fork_child) != 0) {
			PyErr_SetString(PyExc_RuntimeError, "pthread_atfork failed");
			return NULL;
		}
		atfork_done = 1;
	}
	if (WriterType == NULL && runtime_has_stable_fastcall()) {
		/* before the type exists: its method descriptors point into the table */
		for (PyMethodDef *d = Writer_methods; d->ml_name != NULL; d++)
			if (strcmp(d->ml_name, "add_scalar") == 0) {
				d->ml_meth = (PyCFunction)(void (*)(void))Writer_add_scalar_fast;
				d->ml_flags = METH_FASTCALL | METH_KEYWORDS;
				use_fastcall = 1;
			}
	}
	if (WriterType == NULL && (WriterType = PyType_FromSpec(&Writer_spec)) == NULL)
		return NULL;
	m = PyModule_Create(&tbwal_module);
	if (m == NULL)
		return NULL;
	for (int i = 0; i < 6; i++)
		if ((kw_names[i] = PyUnicode_InternFromString(names[i])) == NULL)
			goto fail;
	if ((str_reopen = PyUnicode_InternFromString("_reopen")) == NULL ||
	    (str_float = PyUnicode_InternFromString("__float__")) == NULL)
		goto fail;

	Error = PyErr_NewExceptionWithDoc("tbwal.Error",
		"Base of every error the tbwal library reports. str() is the library's one-line\n"
		"message (operation, path, cause); .code is the TBW_E* code, .code_name its name.",
		NULL, NULL);
	if (Error == NULL || add_object_ref(m, "Error", Error) < 0)
		goto fail;
	for (size_t i = 0; i < N_EXC; i++) {
		struct exc_def *d = &exc_defs[i];
		PyObject *bases, *extra = NULL;
		int sub = 0;  /* extra is a tbwal class, itself derived from Error */
		char qual[64];

		switch (d->code) {
		case TBW_EINVAL:    extra = PyExc_ValueError; break;
		case TBW_ENOMEM:    extra = PyExc_MemoryError; break;
		case TBW_EIO:       extra = PyExc_OSError; break;
		case TBW_ENOTFOUND: extra = PyExc_FileNotFoundError; break;
		case TBW_ECLOSED:   extra = PyExc_ValueError; break;  /* like I/O on a closed file */
		default: break;
		}
		if (d->code == TBW_EFULL) {  /* a DiskFull is a tbwal.IOError */
			extra = exc_for_code(TBW_EIO);
			sub = 1;
		}
		if (d->code == TBW_ETRUNCATED) {
			extra = exc_for_code(TBW_ECORRUPT);
			sub = 1;
		}
		if (sub)
			bases = PyTuple_Pack(1, extra);
		else if (extra)
			bases = PyTuple_Pack(2, Error, extra);
		else
			bases = PyTuple_Pack(1, Error);
		if (bases == NULL)
			goto fail;
		PyOS_snprintf(qual, sizeof qual, "tbwal.%s", d->name);
		d->type = PyErr_NewExceptionWithDoc(qual, d->doc, bases, NULL);
		Py_DECREF(bases);
		if (d->type == NULL || add_object_ref(m, d->name, d->type) < 0)
			goto fail;
	}
	if (add_object_ref(m, "Writer", WriterType) < 0 ||
	    PyModule_AddStringConstant(m, "LIBRARY_VERSION", TBW_VERSION_STRING) < 0 ||
	    PyModule_AddIntConstant(m, "DURABILITY_INTERVAL", TBW_DURABILITY_INTERVAL) < 0 ||
	    PyModule_AddIntConstant(m, "DURABILITY_ALWAYS", TBW_DURABILITY_ALWAYS) < 0 ||
	    PyModule_AddIntConstant(m, "DURABILITY_NEVER", TBW_DURABILITY_NEVER) < 0 ||
	    PyModule_AddIntConstant(m, "SCALAR_SIMPLE", TBW_SCALAR_SIMPLE) < 0 ||
	    PyModule_AddIntConstant(m, "SCALAR_TENSOR", TBW_SCALAR_TENSOR) < 0 ||
	    PyModule_AddIntConstant(m, "TAG_MAX", TBW_TAG_MAX) < 0 ||
	    /* how this build was made (tests, bench/bench_python.py abi) */
	    PyModule_AddIntConstant(m, "_fastcall", use_fastcall) < 0 ||
#ifdef Py_LIMITED_API
	    PyModule_AddIntConstant(m, "_limited_api", Py_LIMITED_API) < 0)
#else
	    PyModule_AddIntConstant(m, "_limited_api", 0) < 0)
#endif
		goto fail;
	for (size_t i = 0; i < N_EXC; i++) {
		const char *n = tbw_strerror(exc_defs[i].code);
		const char *colon = strchr(n, ':');
		char cname[32];
		size_t len = colon ? (size_t)(colon - n) : strlen(n);
		if (len >= sizeof cname)
			len = sizeof cname - 1;
		memcpy(cname, n, len);
		cname[len] = '\0';
		if (PyModule_AddIntConstant(m, cname + 4 /* skip "TBW_" */, exc_defs[i].code) < 0)
			goto fail;
	}
#ifdef TBW_HAVE_TOOLS
	if (add_tools(m) < 0)
		goto fail;
#endif
	return m;
fail:
	Py_XDECREF(m);
	return NULL;
}
