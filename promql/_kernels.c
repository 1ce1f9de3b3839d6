/* promql._kernels: rate, increase and delta over every step's window of one series, in one
 * pass. The same arithmetic, in the same order, as promql/range_functions.py's numpy kernel
 * (_extrapolated_numpy), so the results are the same bits, steps without output included. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

/* extrapolated(t, v, lo, hi, refs, range_ms, counter, rate, values, present): Prometheus'
 * extrapolated rate/increase/delta at each step (int64 t, float64 v, int64 lo/hi/refs;
 * values float64 and present bool written). */
static PyObject *extrapolated(PyObject *self, PyObject *args) {
    Py_buffer tb, vb, lob, hib, rb, outb, presb;
    long long range_ms;
    int counter, rate;
    if (!PyArg_ParseTuple(args, "y*y*y*y*y*Lppw*w*", &tb, &vb, &lob, &hib, &rb, &range_ms,
                          &counter, &rate, &outb, &presb))
        return NULL;
    PyObject *result = NULL;
    double *corr = NULL;
    int64_t *infs = NULL;
    Py_ssize_t n = tb.len / 8, steps = lob.len / 8;
    const int64_t *t = tb.buf, *lo = lob.buf, *hi = hib.buf, *refs = rb.buf;
    const double *v = vb.buf;
    double *out = outb.buf;
    unsigned char *present = presb.buf;
    if (vb.len != n * 8 || hib.len != steps * 8 || rb.len != steps * 8 ||
        outb.len != steps * 8 || presb.len != steps) {
        PyErr_SetString(PyExc_ValueError, "arrays of mismatched sizes");
        goto done;
    }
    for (Py_ssize_t k = 0; k < steps; k++) {
        if (lo[k] < 0 || lo[k] > hi[k] || hi[k] > n) {
            PyErr_SetString(PyExc_ValueError, "window out of range");
            goto done;
        }
    }
    if (n == 0 && steps > 0) { /* every window is empty: numpy would index an empty array */
        PyErr_SetString(PyExc_ValueError, "no samples");
        goto done;
    }
    /* counter resets: the value before each drop, summed (+Inf ones counted apart) */
    int drops = 0, any_inf = 0;
    if (counter) {
        for (Py_ssize_t i = 1; i < n && !drops; i++) drops = v[i] < v[i - 1];
        if (drops) {
            corr = malloc(sizeof(double) * (size_t)n);
            infs = malloc(sizeof(int64_t) * (size_t)n);
            if (!corr || !infs) {
                PyErr_NoMemory();
                goto done;
            }
            corr[0] = 0.0;
            infs[0] = 0;
            for (Py_ssize_t i = 1; i < n; i++) {
                double dropped = v[i] < v[i - 1] ? v[i - 1] : 0.0;
                int inf = isinf(dropped);
                any_inf |= inf;
                corr[i] = corr[i - 1] + (inf ? 0.0 : dropped);
                infs[i] = infs[i - 1] + inf;
            }
        }
    }
    double range_s = (double)range_ms / 1000.0;
    for (Py_ssize_t k = 0; k < steps; k++) {
        int64_t cnt = hi[k] - lo[k];
        int here = cnt >= 2;
        Py_ssize_t first = here ? lo[k] : 0, last = here ? hi[k] - 1 : 0;
        double r = v[last] - v[first];
        if (drops) {
            r = r + (corr[last] - corr[first]);
            if (any_inf && infs[last] > infs[first]) r = r + INFINITY;
        }
        int64_t range_start = refs[k] - range_ms;
        double to_start = (double)(t[first] - range_start) / 1000.0;
        double to_end = (double)(refs[k] - t[last]) / 1000.0;
        double sampled = (double)(t[last] - t[first]) / 1000.0;
        double average = sampled / (double)(cnt - 1 > 1 ? cnt - 1 : 1);
        if (counter) {
            int zero_ok = (r > 0) && (v[first] >= 0);
            double to_zero = sampled * (v[first] / r);
            if (zero_ok && to_zero < to_start) to_start = to_zero;
        }
        double threshold = average * 1.1;
        double interval = sampled + (to_start < threshold ? to_start : average / 2) +
                          (to_end < threshold ? to_end : average / 2);
        double factor = interval / sampled;
        if (rate) factor = factor / range_s;
        out[k] = r * factor;
        present[k] = (unsigned char)here;
    }
    result = Py_None;
    Py_INCREF(result);
done:
    free(corr);
    free(infs);
    PyBuffer_Release(&tb);
    PyBuffer_Release(&vb);
    PyBuffer_Release(&lob);
    PyBuffer_Release(&hib);
    PyBuffer_Release(&rb);
    PyBuffer_Release(&outb);
    PyBuffer_Release(&presb);
    return result;
}

static PyMethodDef methods[] = {
    {"extrapolated", extrapolated, METH_VARARGS,
     "extrapolated(t, v, lo, hi, refs, range_ms, counter, rate, values, present)."},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "promql._kernels",
                                    "PromQL range-function kernels in C.", -1, methods};

PyMODINIT_FUNC PyInit__kernels(void) { return PyModule_Create(&module); }
