/* tsdb._speedups: RESP read and written in C.
 *
 * mrange_add reads a TS.MRANGE reply (RESP3) in one pass: each series' key and labels, and
 * its samples, lines of one fixed shape,
 *     *2\r\n:<timestamp>\r\n,<double>\r\n
 * straight into per-series columns (numpy needs several passes over every byte: line ends,
 * shape checks, the casts). Anything not of the usual shape raises ValueError: the caller
 * then parses the reply another way. madd_args writes the "key t v" arguments of TS.MADD.
 *
 * Doubles are read exactly as Python's float() reads them (correctly rounded). A decimal of
 * at most 19 significant digits, m * 10^e:
 * - m <= 2^53 and |e| <= 22: m * 10^e or m / 10^-e is one correctly rounded IEEE operation
 *   (Clinger's fast path);
 * - else, where long double is x87's (64-bit significand) and |e| <= 27: m and 10^|e| are
 *   exact in it, so the product or quotient x' is x correctly rounded to 64 bits. Rounding
 *   x' to 53 bits gives x correctly rounded too unless x' lies exactly halfway between two
 *   doubles (its 11 extra bits are 100 0000 0000): only then can a double lie between x and
 *   x' at the halfway point, so only then is the text read the slow way.
 * Any other text goes to PyOS_string_to_double (Python's own reader).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#if defined(__x86_64__) && LDBL_MANT_DIG == 64
#define EXTENDED 1
static const long double POW10L[28] = {
    1e0L,  1e1L,  1e2L,  1e3L,  1e4L,  1e5L,  1e6L,  1e7L,  1e8L,  1e9L,
    1e10L, 1e11L, 1e12L, 1e13L, 1e14L, 1e15L, 1e16L, 1e17L, 1e18L, 1e19L,
    1e20L, 1e21L, 1e22L, 1e23L, 1e24L, 1e25L, 1e26L, 1e27L};
#endif

static const double POW10[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                 1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/* The double in s[0:n] into *out; -1 when the text is not one. */
static int read_double(const char *s, Py_ssize_t n, double *out) {
    const char *p = s, *end = s + n;
    int negative = 0;
    if (p < end && (*p == '-' || *p == '+')) {
        negative = *p == '-';
        p++;
    }
    uint64_t m = 0;
    int digits = 0, exp10 = 0, seen = 0;
    while (p < end && *p >= '0' && *p <= '9') {
        if (m || *p != '0') digits++;
        if (digits <= 19) m = m * 10 + (uint64_t)(*p - '0');
        else exp10++;
        p++;
        seen = 1;
    }
    if (p < end && *p == '.') {
        p++;
        while (p < end && *p >= '0' && *p <= '9') {
            if (m || *p != '0') digits++;
            if (digits <= 19) {
                m = m * 10 + (uint64_t)(*p - '0');
                exp10--;
            }
            p++;
            seen = 1;
        }
    }
    int fast = seen && digits <= 19;
    if (fast && p < end && (*p == 'e' || *p == 'E')) {
        p++;
        int eneg = 0, e = 0, edigits = 0;
        if (p < end && (*p == '-' || *p == '+')) {
            eneg = *p == '-';
            p++;
        }
        while (p < end && *p >= '0' && *p <= '9') {
            if (e < 10000) e = e * 10 + (*p - '0');
            p++;
            edigits++;
        }
        if (!edigits) fast = 0;
        exp10 += eneg ? -e : e;
    }
    if (fast && p == end && m <= (1ULL << 53) && exp10 >= -22 && exp10 <= 22) {
        double d = (double)m;
        d = exp10 < 0 ? d / POW10[-exp10] : d * POW10[exp10];
        *out = negative ? -d : d;
        return 0;
    }
#ifdef EXTENDED
    if (fast && p == end && exp10 >= -27 && exp10 <= 27) {
        long double x = (long double)m;
        x = exp10 < 0 ? x / POW10L[-exp10] : x * POW10L[exp10];
        uint64_t significand;
        memcpy(&significand, &x, sizeof significand); /* x87: the low 8 bytes */
        if ((significand & 0x7FF) != 0x400) {
            double d = (double)x;
            *out = negative ? -d : d;
            return 0;
        }
    }
#endif
    /* anything else (long mantissas, big exponents, inf, nan): Python's own reader */
    char text[64];
    if (n <= 0 || n >= (Py_ssize_t)sizeof(text)) return -1;
    memcpy(text, s, (size_t)n);
    text[n] = 0;
    char *stop = NULL;
    double d = PyOS_string_to_double(text, &stop, NULL);
    if (d == -1.0 && PyErr_Occurred()) {
        PyErr_Clear();
        return -1;
    }
    if (stop != text + n) return -1;
    *out = d;
    return 0;
}

/* A position in a reply; parsing errors set why (ValueError: not of the usual shape). */
typedef struct {
    const char *p, *end;
    const char *why;
} Cursor;

/* The integer of a "<kind><digits>\r\n" line (negative allowed), or -2 with why set. */
static long long read_count(Cursor *c, char kind) {
    if (c->end - c->p < 4 || *c->p != kind) {
        c->why = "unexpected element";
        return -2;
    }
    const char *q = c->p + 1;
    int negative = 0, digits = 0;
    long long n = 0;
    if (*q == '-') {
        negative = 1;
        q++;
    }
    while (q < c->end && *q >= '0' && *q <= '9' && digits < 18) {
        n = n * 10 + (*q - '0');
        digits++;
        q++;
    }
    if (!digits || c->end - q < 2 || q[0] != '\r' || q[1] != '\n') {
        c->why = "bad length";
        return -2;
    }
    c->p = q + 2;
    return negative ? -n : n;
}

/* A "$" bulk string or "+" simple string as str, "_" as None; NULL with why set (or a
 * Python error set by the decoder, turned into why). */
static PyObject *read_text(Cursor *c) {
    if (c->p < c->end && *c->p == '_') {
        if (c->end - c->p < 3 || c->p[1] != '\r' || c->p[2] != '\n') {
            c->why = "bad null";
            return NULL;
        }
        c->p += 3;
        Py_RETURN_NONE;
    }
    const char *start;
    Py_ssize_t n;
    if (c->p < c->end && *c->p == '+') {
        start = c->p + 1;
        const char *cr = memchr(start, '\r', (size_t)(c->end - start));
        if (!cr || c->end - cr < 2 || cr[1] != '\n') {
            c->why = "bad simple string";
            return NULL;
        }
        n = cr - start;
        c->p = cr + 2;
    } else {
        long long len = read_count(c, '$');
        if (len < 0 || c->end - c->p < len + 2 || c->p[len] != '\r' || c->p[len + 1] != '\n') {
            c->why = "not a string";
            return NULL;
        }
        start = c->p;
        n = (Py_ssize_t)len;
        c->p += len + 2;
    }
    PyObject *text = PyUnicode_DecodeUTF8(start, n, NULL);
    if (!text) {
        PyErr_Clear();
        c->why = "not UTF-8";
    }
    return text;
}

/* Past one element of any RESP3 type (headers the caller does not read). */
static int skip_element(Cursor *c, int depth) {
    if (c->p >= c->end || depth > 32) {
        c->why = "truncated";
        return -1;
    }
    char kind = *c->p;
    long long n;
    switch (kind) {
    case '$':
    case '=':
    case '!':
        n = read_count(c, kind);
        if (n == -1 && kind == '$') return 0;
        if (n < 0 || c->end - c->p < n + 2 || c->p[n] != '\r' || c->p[n + 1] != '\n') {
            c->why = "bad string";
            return -1;
        }
        c->p += n + 2;
        return 0;
    case '+':
    case '-':
    case ':':
    case ',':
    case '(':
    case '#':
    case '_': {
        const char *cr = memchr(c->p, '\r', (size_t)(c->end - c->p));
        if (!cr || c->end - cr < 2 || cr[1] != '\n') {
            c->why = "bad line";
            return -1;
        }
        c->p = cr + 2;
        return 0;
    }
    case '*':
    case '~':
    case '>':
    case '%':
    case '|':
        n = read_count(c, kind);
        if (n < 0) {
            c->why = "bad aggregate";
            return -1;
        }
        if (kind == '%' || kind == '|') n *= 2;
        for (long long i = 0; i < n; i++)
            if (skip_element(c, depth + 1) < 0) return -1;
        return 0;
    default:
        c->why = "unknown type";
        return -1;
    }
}

/* A labels map: {name: value or None}. */
static PyObject *read_labels(Cursor *c) {
    long long n = read_count(c, '%');
    if (n < 0) return NULL;
    PyObject *labels = PyDict_New();
    if (!labels) return NULL;
    for (long long i = 0; i < n; i++) {
        PyObject *name = read_text(c);
        if (!name) goto fail;
        PyObject *value = read_text(c);
        if (!value) {
            Py_DECREF(name);
            goto fail;
        }
        int bad = name == Py_None || PyDict_SetItem(labels, name, value) < 0;
        Py_DECREF(name);
        Py_DECREF(value);
        if (bad) {
            if (!PyErr_Occurred()) c->why = "a label without a name";
            goto fail;
        }
    }
    return labels;
fail:
    Py_DECREF(labels);
    return NULL;
}

/* The count sample lines at the cursor into t and v. */
static int read_samples(Cursor *c, Py_ssize_t count, int64_t *t, double *v) {
    const char *p = c->p, *end = c->end;
    for (Py_ssize_t i = 0; i < count; i++) {
        if (end - p < 5 || memcmp(p, "*2\r\n:", 5) != 0) {
            c->why = "not a sample";
            return -1;
        }
        p += 5;
        uint64_t ts = 0;
        int digits = 0;
        while (p < end && *p >= '0' && *p <= '9') {
            if (digits == 18) { /* past what tsapi stores: left to the general reader */
                c->why = "timestamp out of range";
                return -1;
            }
            ts = ts * 10 + (uint64_t)(*p - '0');
            digits++;
            p++;
        }
        if (!digits || end - p < 3 || memcmp(p, "\r\n,", 3) != 0) {
            c->why = "not a timestamp";
            return -1;
        }
        p += 3;
        const char *cr = memchr(p, '\r', (size_t)(end - p));
        if (!cr || end - cr < 2 || cr[1] != '\n' || read_double(p, cr - p, &v[i]) < 0) {
            c->why = "not a double";
            return -1;
        }
        t[i] = (int64_t)ts;
        p = cr + 2;
    }
    c->p = p;
    return 0;
}

/* Room for need samples in an entry's two bytearrays (capacity: their length / 8). */
static int reserve(PyObject *entry, Py_ssize_t need, Py_ssize_t hint) {
    PyObject *tb = PyList_GET_ITEM(entry, 1), *vb = PyList_GET_ITEM(entry, 2);
    Py_ssize_t cap = PyByteArray_GET_SIZE(tb) / 8;
    if (need <= cap) return 0;
    Py_ssize_t grown = cap + cap / 2;
    Py_ssize_t size = need > grown ? need : grown;
    if (hint > size) size = hint;
    if (PyByteArray_Resize(tb, size * 8) < 0 || PyByteArray_Resize(vb, size * 8) < 0) return -1;
    return 0;
}

/* mrange_add(raw, end, series, labels, expect): the series of the TS.MRANGE reply raw[:end]
 * (RESP3) added to series, {key: [labels, t bytearray, v bytearray, count]}: samples are
 * appended after the count already there (int64 and float64, native order). With labels
 * true, the reply carries them (WITHLABELS) and new keys are added, with room for expect
 * times their samples; otherwise a key not in series raises KeyError. ValueError when the
 * reply is not of the usual shape; series is then partly filled. */
static PyObject *mrange_add(PyObject *self, PyObject *args) {
    Py_buffer raw;
    Py_ssize_t end;
    PyObject *series;
    int with_labels;
    double expect;
    if (!PyArg_ParseTuple(args, "y*nO!pd", &raw, &end, &PyDict_Type, &series, &with_labels,
                          &expect))
        return NULL;
    Cursor c = {(const char *)raw.buf, (const char *)raw.buf, NULL};
    int ok = 0;
    if (end < 0 || end > raw.len) {
        c.why = "bad end";
        goto done;
    }
    c.end = c.p + end;
    long long n = read_count(&c, '%');
    if (n < 0) goto done;
    for (long long i = 0; i < n; i++) {
        PyObject *key = read_text(&c);
        if (!key) goto done;
        if (key == Py_None) {
            Py_DECREF(key);
            c.why = "a series without a key";
            goto done;
        }
        PyObject *entry = PyDict_GetItemWithError(series, key); /* borrowed */
        long long parts = read_count(&c, '*');
        if (parts < 1) {
            Py_DECREF(key);
            if (!c.why) c.why = "no samples";
            goto done;
        }
        if (!entry && PyErr_Occurred()) {
            Py_DECREF(key);
            goto done;
        }
        if (!entry && !with_labels) {
            PyErr_SetObject(PyExc_KeyError, key);
            Py_DECREF(key);
            goto done;
        }
        if (!entry) {
            PyObject *labels = read_labels(&c);
            if (!labels) {
                Py_DECREF(key);
                goto done;
            }
            entry = Py_BuildValue("[NNNn]", labels, PyByteArray_FromStringAndSize(NULL, 0),
                                  PyByteArray_FromStringAndSize(NULL, 0), (Py_ssize_t)0);
            int bad = !entry || PyDict_SetItem(series, key, entry) < 0;
            Py_XDECREF(entry); /* the dict holds it */
            if (bad) {
                Py_DECREF(key);
                goto done;
            }
        } else if (skip_element(&c, 0) < 0) {
            Py_DECREF(key);
            goto done;
        }
        Py_DECREF(key);
        for (long long k = 1; k < parts - 1; k++)
            if (skip_element(&c, 0) < 0) goto done;
        long long count = read_count(&c, '*');
        if (count < 0) goto done;
        Py_ssize_t have = PyLong_AsSsize_t(PyList_GET_ITEM(entry, 3));
        if (have < 0) goto done;
        Py_ssize_t hint = have == 0 ? (Py_ssize_t)(count * expect) + 16 : 0;
        if (reserve(entry, have + count, hint) < 0) goto done;
        int64_t *t = (int64_t *)PyByteArray_AS_STRING(PyList_GET_ITEM(entry, 1)) + have;
        double *v = (double *)PyByteArray_AS_STRING(PyList_GET_ITEM(entry, 2)) + have;
        if (read_samples(&c, (Py_ssize_t)count, t, v) < 0) goto done;
        PyObject *total = PyLong_FromSsize_t(have + (Py_ssize_t)count);
        if (!total || PyList_SetItem(entry, 3, total) < 0) goto done;
    }
    if (c.p != c.end) c.why = "more after the reply";
    else ok = 1;
done:
    PyBuffer_Release(&raw);
    if (c.why && !PyErr_Occurred()) PyErr_SetString(PyExc_ValueError, c.why);
    if (!ok) {
        if (!PyErr_Occurred()) PyErr_SetString(PyExc_ValueError, "unusual reply");
        return NULL;
    }
    Py_RETURN_NONE;
}

/* Decimal digits of v at out; returns their count. */
static int write_uint(char *out, uint64_t v) {
    char tmp[20];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (int i = 0; i < n; i++) out[i] = tmp[n - 1 - i];
    return n;
}

/* "$<n>\r\n" at out; returns its length. */
static int write_head(char *out, Py_ssize_t n) {
    out[0] = '$';
    int k = 1 + write_uint(out + 1, (uint64_t)n);
    out[k] = '\r';
    out[k + 1] = '\n';
    return k + 2;
}

/* madd_args(keys, codes, ts, vs, start, end, offsets) -> bytes: the RESP bulk strings
 * "key t v" of samples start:end (keys[codes[i]], ts[i], vs[i]), and in offsets (int64,
 * end - start + 1 of them) where each sample's begins. Values are written exactly: an
 * integer below 2^53 as its digits, any other as Python's repr (the shortest text that
 * reads back as the same double). */
static PyObject *madd_args(PyObject *self, PyObject *args) {
    PyObject *keys_arg;
    Py_buffer cb, tb, vb, ob;
    Py_ssize_t start, end;
    if (!PyArg_ParseTuple(args, "Oy*y*y*nnw*", &keys_arg, &cb, &tb, &vb, &start, &end, &ob))
        return NULL;
    PyObject *result = NULL, *keys = NULL;
    const int64_t *codes = (const int64_t *)cb.buf, *ts = (const int64_t *)tb.buf;
    const double *vs = (const double *)vb.buf;
    int64_t *offsets = (int64_t *)ob.buf;
    Py_ssize_t n = end - start;
    if (start < 0 || n < 0 || cb.len < end * 8 || tb.len < end * 8 || vb.len < end * 8 ||
        ob.len < (n + 1) * 8) {
        PyErr_SetString(PyExc_ValueError, "bad arguments");
        goto done;
    }
    keys = PySequence_Fast(keys_arg, "keys must be a sequence");
    if (!keys) goto done;
    Py_ssize_t nkeys = PySequence_Fast_GET_SIZE(keys);
    /* the most bytes: per sample the key and its head (klen + 24), the time (27) and the
     * value (46, as text below may hold 39 characters) */
    Py_ssize_t bound = 0;
    for (Py_ssize_t i = start; i < end; i++) {
        int64_t code = codes[i];
        if (code < 0 || code >= nkeys) {
            PyErr_SetString(PyExc_ValueError, "bad key code");
            goto done;
        }
        Py_ssize_t klen;
        if (!PyUnicode_AsUTF8AndSize(PySequence_Fast_GET_ITEM(keys, code), &klen)) goto done;
        bound += klen + 24 + 27 + 46;
    }
    result = PyBytes_FromStringAndSize(NULL, bound);
    if (!result) goto done;
    char *base = PyBytes_AS_STRING(result), *out = base;
    for (Py_ssize_t i = start; i < end; i++) {
        offsets[i - start] = out - base;
        Py_ssize_t klen;
        const char *key = PyUnicode_AsUTF8AndSize(PySequence_Fast_GET_ITEM(keys, codes[i]), &klen);
        out += write_head(out, klen);
        memcpy(out, key, (size_t)klen);
        out += klen;
        *out++ = '\r';
        *out++ = '\n';
        char digits[24];
        int dn = 0;
        if (ts[i] < 0) digits[dn++] = '-';
        dn += write_uint(digits + dn, ts[i] < 0 ? (uint64_t)0 - (uint64_t)ts[i] : (uint64_t)ts[i]);
        out += write_head(out, dn);
        memcpy(out, digits, (size_t)dn);
        out += dn;
        *out++ = '\r';
        *out++ = '\n';
        double v = vs[i];
        char text[40];
        int tn;
        if (v > -9007199254740992.0 && v < 9007199254740992.0 && v == (double)(int64_t)v &&
            !(v == 0 && signbit(v))) {
            int64_t iv = (int64_t)v;
            tn = 0;
            if (iv < 0) {
                text[tn++] = '-';
                iv = -iv;
            }
            tn += write_uint(text + tn, (uint64_t)iv);
        } else {
            char *repr = PyOS_double_to_string(v, 'r', 0, 0, NULL);
            if (!repr) goto fail;
            size_t len = strlen(repr);
            if (len >= sizeof text) {
                PyMem_Free(repr);
                PyErr_SetString(PyExc_ValueError, "value text too long");
                goto fail;
            }
            memcpy(text, repr, len);
            PyMem_Free(repr);
            tn = (int)len;
        }
        out += write_head(out, tn);
        memcpy(out, text, (size_t)tn);
        out += tn;
        *out++ = '\r';
        *out++ = '\n';
    }
    offsets[n] = out - base;
    if (_PyBytes_Resize(&result, out - base) < 0) result = NULL;
    goto done;
fail:
    Py_CLEAR(result);
done:
    Py_XDECREF(keys);
    PyBuffer_Release(&cb);
    PyBuffer_Release(&tb);
    PyBuffer_Release(&vb);
    PyBuffer_Release(&ob);
    return result;
}

static PyMethodDef methods[] = {
    {"mrange_add", mrange_add, METH_VARARGS,
     "mrange_add(raw, end, series, labels, expect): a TS.MRANGE reply's series added."},
    {"madd_args", madd_args, METH_VARARGS,
     "madd_args(keys, codes, ts, vs, start, end, offsets) -> the TS.MADD arguments' RESP."},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "tsdb._speedups",
                                    "RESP read and written in C: TS.MRANGE replies, TS.MADD arguments.", -1, methods};

PyMODINIT_FUNC PyInit__speedups(void) { return PyModule_Create(&module); }
