/*
 * A fast reader for whitespace-separated tables of plain decimal numbers (the GAS file).
 *
 * Written by hand because no maintained library covers this case well: pandas' C
 * parser (the benchmark's baseline) is single-threaded, NumPy's text parsers hold the
 * GIL, and the multi-threaded readers (pyarrow, polars) need a single-character
 * separator, while the UCI file separates its columns with runs of spaces.
 *
 * parse(src, dst, ncols) reads the rows of `src` (a bytes-like object) into `dst` (a
 * writable float64 buffer) with the GIL released, so that several threads can parse
 * pieces of one file at once. It only accepts what it can convert exactly: tokens of
 * the form [+-]digits[.digits] with at most 15 significant digits and 22 decimals,
 * converted as mantissa / 10^decimals. Both operands are exact doubles, so the one
 * IEEE division is correctly rounded and the result equals strtod's bit for bit.
 * Anything else stops the scan and is reported back, and the Python side falls back
 * to NumPy's general parser (or to its exact error messages).
 *
 * Returns (status, rows, offset): status 0 = done, 1 = a token this reader does not
 * convert (exponent, nan, too many digits, or not a number at all), 2 = a row without
 * `ncols` values, 3 = `dst` too small; offset = where in `src` the scan stopped.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

static const double POW10[23] = {
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
    1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

enum { DONE = 0, UNUSUAL = 1, BAD_ROW = 2, FULL = 3 };

static int scan(const char *s, Py_ssize_t n, double *dst, Py_ssize_t capacity, int ncols,
                Py_ssize_t *rows_out, Py_ssize_t *offset_out) {
    Py_ssize_t i = 0, rows = 0, k = 0; /* k: values stored so far */
    int col = 0;
    int status = DONE;
    while (i < n) {
        char c = s[i];
        if (c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f') {
            i++;
            continue;
        }
        if (c == '\n') {
            if (col != 0) {
                if (col != ncols) { status = BAD_ROW; break; }
                rows++;
                col = 0;
            }
            i++;
            continue;
        }
        /* a token: [+-]digits[.digits] */
        Py_ssize_t start = i;
        int negative = 0;
        if (c == '-' || c == '+') {
            negative = (c == '-');
            i++;
        }
        uint64_t mantissa = 0;
        int digits = 0, significant = 0, decimals = 0;
        while (i < n && (unsigned)(s[i] - '0') < 10u) {
            mantissa = mantissa * 10u + (uint64_t)(s[i] - '0');
            if (mantissa) significant++;
            digits++;
            i++;
        }
        if (i < n && s[i] == '.') {
            i++;
            while (i < n && (unsigned)(s[i] - '0') < 10u) {
                mantissa = mantissa * 10u + (uint64_t)(s[i] - '0');
                if (mantissa) significant++;
                digits++;
                decimals++;
                i++;
            }
        }
        int ends_cleanly = (i == n || s[i] == ' ' || s[i] == '\t' || s[i] == '\n' ||
                            s[i] == '\r' || s[i] == '\v' || s[i] == '\f');
        if (digits == 0 || !ends_cleanly || significant > 15 || decimals > 22) {
            i = start;
            status = UNUSUAL;
            break;
        }
        if (col == ncols) { i = start; status = BAD_ROW; break; }
        if (k >= capacity) { i = start; status = FULL; break; }
        double v = (double)mantissa / POW10[decimals];
        dst[k++] = negative ? -v : v;
        col++;
    }
    if (status == DONE && col != 0) {
        if (col != ncols) status = BAD_ROW;
        else rows++;
    }
    *rows_out = rows;
    *offset_out = i;
    return status;
}

static PyObject *parse(PyObject *self, PyObject *args) {
    Py_buffer src, dst;
    int ncols;
    if (!PyArg_ParseTuple(args, "y*w*i", &src, &dst, &ncols)) return NULL;
    if (ncols < 1 || dst.itemsize != (Py_ssize_t)sizeof(double)) {
        PyBuffer_Release(&src);
        PyBuffer_Release(&dst);
        PyErr_SetString(PyExc_ValueError, "parse: ncols must be >= 1 and dst a float64 buffer");
        return NULL;
    }
    Py_ssize_t rows = 0, offset = 0;
    int status;
    Py_BEGIN_ALLOW_THREADS
    status = scan((const char *)src.buf, src.len, (double *)dst.buf,
                  dst.len / (Py_ssize_t)sizeof(double), ncols, &rows, &offset);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&src);
    PyBuffer_Release(&dst);
    return Py_BuildValue("inn", status, rows, offset);
}

/* count_lines(src) -> number of '\n' bytes in src (GIL released). */
static PyObject *count_lines(PyObject *self, PyObject *args) {
    Py_buffer src;
    if (!PyArg_ParseTuple(args, "y*", &src)) return NULL;
    Py_ssize_t count = 0;
    Py_BEGIN_ALLOW_THREADS
    const char *p = (const char *)src.buf, *end = p + src.len;
    while (p < end && (p = memchr(p, '\n', (size_t)(end - p))) != NULL) {
        count++;
        p++;
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&src);
    return PyLong_FromSsize_t(count);
}

static PyMethodDef METHODS[] = {
    {"count_lines", count_lines, METH_VARARGS, "count_lines(src) -> number of newline bytes"},
    {"parse", parse, METH_VARARGS,
     "parse(src, dst, ncols) -> (status, rows, offset); see tfp_flows/_gasparse.c"},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef MODULE = {PyModuleDef_HEAD_INIT, "_gasparse",
                                    "Fast exact parser for whitespace-separated decimal tables.",
                                    -1, METHODS};

PyMODINIT_FUNC PyInit__gasparse(void) { return PyModule_Create(&MODULE); }
