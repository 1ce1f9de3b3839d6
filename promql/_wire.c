/* promql._wire: a Prometheus remote-write body (a decompressed WriteRequest) in its canonical
 * layout, walked in C. promql/wire.py's walker reads any other layout (and says why). */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

typedef struct {
    const unsigned char *p, *end;
} Proto;

/* A varint; -1 when truncated or longer than 10 bytes. */
static int varint(Proto *b, uint64_t *out) {
    uint64_t v = 0;
    for (int shift = 0; shift < 70; shift += 7) {
        if (b->p >= b->end) return -1;
        unsigned char byte = *b->p++;
        v |= (uint64_t)(byte & 0x7F) << shift;
        if (byte < 0x80) {
            *out = v;
            return 0;
        }
    }
    return -1;
}

/* A length-delimited field's body: [*start, *stop) within b; -1 if it overruns. */
static int delimited(Proto *b, const unsigned char **start, const unsigned char **stop) {
    uint64_t n;
    if (varint(b, &n) < 0 || n > (uint64_t)(b->end - b->p)) return -1;
    *start = b->p;
    *stop = b->p + n;
    b->p += n;
    return 0;
}

typedef struct {
    Py_ssize_t series, samples, exemplars, histograms, metadata;
    const unsigned char *base;
    int64_t *spans, *offsets, *t; /* NULL while counting */
    double *v;
} Walk;

/* One Sample message: "double value = 1; int64 timestamp = 2", nothing else. */
static int sample(const unsigned char *p, const unsigned char *end, int64_t *t, double *v) {
    Proto b = {p, end};
    *t = 0;
    *v = 0.0;
    while (b.p < b.end) {
        uint64_t tag;
        if (varint(&b, &tag) < 0) return -1;
        if (tag == 0x09) {
            if (b.end - b.p < 8) return -1;
            memcpy(v, b.p, 8); /* little-endian, as x86-64 and arm64 are */
            b.p += 8;
        } else if (tag == 0x10) {
            uint64_t x;
            if (varint(&b, &x) < 0) return -1;
            *t = (int64_t)x;
        } else {
            return -1; /* another field: left to the general reader */
        }
    }
    return 0;
}

/* One TimeSeries: label records first (their span is kept), then samples, exemplars and
 * histograms (counted); any other field or order is not the canonical layout. */
static int series(Walk *w, const unsigned char *p, const unsigned char *end) {
    Proto b = {p, end};
    const unsigned char *labels_end = p, *start, *stop;
    int seen_other = 0;
    while (b.p < b.end) {
        uint64_t tag;
        if (varint(&b, &tag) < 0) return -1;
        if (tag == 0x0A) {
            if (seen_other || delimited(&b, &start, &stop) < 0) return -1;
            labels_end = b.p;
        } else if (tag == 0x12) {
            seen_other = 1;
            if (delimited(&b, &start, &stop) < 0) return -1;
            if (w->t) {
                if (sample(start, stop, &w->t[w->samples], &w->v[w->samples]) < 0) return -1;
            } else if (sample(start, stop, &(int64_t){0}, &(double){0}) < 0) {
                return -1;
            }
            w->samples++;
        } else if (tag == 0x1A || tag == 0x22) {
            seen_other = 1;
            if (delimited(&b, &start, &stop) < 0) return -1;
            if (tag == 0x1A) w->exemplars++;
            else w->histograms++;
        } else {
            return -1;
        }
    }
    if (w->spans) {
        w->spans[2 * w->series] = p - w->base;
        w->spans[2 * w->series + 1] = labels_end - w->base;
        w->offsets[w->series + 1] = w->samples;
    }
    w->series++;
    return 0;
}

static int request(Walk *w, const unsigned char *p, const unsigned char *end) {
    Proto b = {p, end};
    const unsigned char *start, *stop;
    while (b.p < b.end) {
        uint64_t tag;
        if (varint(&b, &tag) < 0) return -1;
        if (tag == 0x0A) {
            if (delimited(&b, &start, &stop) < 0 || series(w, start, stop) < 0) return -1;
        } else if (tag == 0x1A) {
            if (delimited(&b, &start, &stop) < 0) return -1;
            w->metadata++;
        } else {
            return -1;
        }
    }
    return 0;
}

/* write_request(raw) -> (spans, offsets, t, v, exemplars, histograms, metadata) of a
 * decompressed WriteRequest in its canonical layout (as Prometheus and its prompb
 * clients write it), or None for anything else (the caller reads it the general way).
 * spans: per series the byte span of its leading label records (int64 pairs); offsets:
 * where each series' samples start in t and v (series + 1 of them). */
static PyObject *write_request(PyObject *self, PyObject *args) {
    Py_buffer raw;
    if (!PyArg_ParseTuple(args, "y*", &raw)) return NULL;
    const unsigned char *p = (const unsigned char *)raw.buf, *end = p + raw.len;
    PyObject *result = NULL;
    Walk count = {0};
    count.base = p;
    if (request(&count, p, end) < 0) {
        PyBuffer_Release(&raw);
        Py_RETURN_NONE;
    }
    PyObject *spans = PyByteArray_FromStringAndSize(NULL, (count.series * 2 + 1) * 8);
    PyObject *offsets = PyByteArray_FromStringAndSize(NULL, (count.series + 1) * 8);
    PyObject *t = PyByteArray_FromStringAndSize(NULL, (count.samples + 1) * 8);
    PyObject *v = PyByteArray_FromStringAndSize(NULL, (count.samples + 1) * 8);
    if (spans && offsets && t && v) {
        Walk fill = {0};
        fill.base = p;
        fill.spans = (int64_t *)PyByteArray_AS_STRING(spans);
        fill.offsets = (int64_t *)PyByteArray_AS_STRING(offsets);
        fill.t = (int64_t *)PyByteArray_AS_STRING(t);
        fill.v = (double *)PyByteArray_AS_STRING(v);
        fill.offsets[0] = 0;
        if (request(&fill, p, end) == 0 && fill.series == count.series) {
            result = Py_BuildValue("OOOOnnn", spans, offsets, t, v, fill.exemplars,
                                   fill.histograms, fill.metadata);
        } else {
            PyErr_SetString(PyExc_RuntimeError, "the second walk differs from the first");
        }
    }
    Py_XDECREF(spans);
    Py_XDECREF(offsets);
    Py_XDECREF(t);
    Py_XDECREF(v);
    PyBuffer_Release(&raw);
    return result;
}

static PyMethodDef methods[] = {
    {"write_request", write_request, METH_VARARGS,
     "write_request(raw) -> the columns of a remote-write body, or None."},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "promql._wire",
                                    "Remote-write bodies walked in C.", -1, methods};

PyMODINIT_FUNC PyInit__wire(void) { return PyModule_Create(&module); }
