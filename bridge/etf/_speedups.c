/* The common shapes of ETF decoding in C (issue 14: the Python left per bridge call).
 *
 * fast_term(data, pos, mode) decodes the term whose tag byte is at ``pos`` in
 * ``data`` (a bytes object) and returns ``(term, end)``, exactly as
 * bridge.etf.decode._term / the _DEC leaf functions would, or None when it meets
 * anything it does not take on itself: the caller then decodes the whole term in
 * Python, which also produces every error. Never a different result, so nothing
 * here reports an error: any problem (a length past the data, a callback raising)
 * is "not mine" and the Python decoder, which has the error messages, runs.
 *
 * Done here: SMALL_TUPLE/LARGE_TUPLE, NIL, LIST (proper, or improper with a
 * non-list tail: ImproperList), SMALL_INTEGER, INTEGER, BINARY, and the atoms of
 * the SMALL_ATOM_UTF8/ATOM_UTF8 cache and of the NEW_PID_EXT cache. Every other leaf is handed to the Python
 * leaf function of decode._DEC (pids and references keep their caches and their
 * external form that way); maps, funs, a list whose tail is a list or a string,
 * and nesting deeper than MAX_DEPTH go back to Python whole.
 *
 * setup(atoms_utf8, dec_table, improper_list, pids) gives it decode.py's atom
 * cache (raw name bytes -> Atom or bool), its 256-entry leaf table, ImproperList
 * and its pid cache (NEW_PID_EXT body -> Pid).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#define MAX_DEPTH 100

static PyObject *atoms_utf8 = NULL;   /* dict */
static PyObject *dec_table = NULL;    /* list of 256 callables or None */
static PyObject *improper_list = NULL;
static PyObject *pids = NULL;         /* dict: NEW_PID_EXT bodies -> Pid */

/* Sentinel meaning "not mine": distinct from NULL-with-exception, which cannot
 * happen (exceptions are cleared where they arise). */
typedef struct {
    const unsigned char *d;
    Py_ssize_t n;
    PyObject *data;    /* the bytes object, for the leaf callbacks */
    PyObject *mode;    /* the strings mode, as the callbacks take it */
} ctx_t;

static PyObject *term(ctx_t *c, Py_ssize_t *pos, int depth);

static inline uint32_t be32(const unsigned char *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

/* A leaf through its Python function: f(data, pos + 1, mode) -> (term, end). */
static PyObject *leaf(ctx_t *c, Py_ssize_t *pos, unsigned char tag)
{
    PyObject *f = PyList_GET_ITEM(dec_table, tag);
    if (f == Py_None)
        return NULL;   /* a container this file does not build (map, fun) */
    PyObject *at = PyLong_FromSsize_t(*pos + 1);
    if (at == NULL) {
        PyErr_Clear();
        return NULL;
    }
    PyObject *r = PyObject_CallFunctionObjArgs(f, c->data, at, c->mode, NULL);
    Py_DECREF(at);
    if (r == NULL) {
        PyErr_Clear();
        return NULL;
    }
    if (!PyTuple_CheckExact(r) || PyTuple_GET_SIZE(r) != 2 || !PyLong_CheckExact(PyTuple_GET_ITEM(r, 1))) {
        Py_DECREF(r);
        return NULL;
    }
    Py_ssize_t end = PyLong_AsSsize_t(PyTuple_GET_ITEM(r, 1));
    if (end < 0 || end > c->n) {   /* e.g. a cached atom cut short: Python reports it */
        PyErr_Clear();
        Py_DECREF(r);
        return NULL;
    }
    PyObject *v = PyTuple_GET_ITEM(r, 0);
    Py_INCREF(v);
    Py_DECREF(r);
    *pos = end;
    return v;
}

static PyObject *cached_atom(ctx_t *c, Py_ssize_t *pos, Py_ssize_t start, Py_ssize_t len, unsigned char tag)
{
    if (start + len > c->n)
        return NULL;
    PyObject *key = PyBytes_FromStringAndSize((const char *)c->d + start, len);
    if (key == NULL) {
        PyErr_Clear();
        return NULL;
    }
    PyObject *v = PyDict_GetItemWithError(atoms_utf8, key);   /* borrowed */
    Py_DECREF(key);
    if (v != NULL) {
        Py_INCREF(v);
        *pos = start + len;
        return v;
    }
    PyErr_Clear();
    return leaf(c, pos, tag);   /* not cached yet: decode.py makes and caches it */
}

/* decode._new_pid's cache, looked up here; a pid not in it is made there. */
static PyObject *cached_pid(ctx_t *c, Py_ssize_t *pos)
{
    Py_ssize_t p = *pos + 1;   /* the node atom's tag */
    if (p + 2 <= c->n && c->d[p] == 119) {
        Py_ssize_t len = 14 + c->d[p + 1];
        if (p + len <= c->n) {
            PyObject *key = PyBytes_FromStringAndSize((const char *)c->d + p, len);
            if (key == NULL) {
                PyErr_Clear();
                return NULL;
            }
            PyObject *v = PyDict_GetItemWithError(pids, key);   /* borrowed */
            Py_DECREF(key);
            if (v != NULL) {
                Py_INCREF(v);
                *pos = p + len;
                return v;
            }
            PyErr_Clear();
        }
    }
    return leaf(c, pos, 88);
}

static PyObject *seq_items(ctx_t *c, Py_ssize_t *pos, Py_ssize_t count, int depth, PyObject *out, int is_tuple)
{
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *v = term(c, pos, depth + 1);
        if (v == NULL) {
            Py_DECREF(out);
            return NULL;
        }
        if (is_tuple)
            PyTuple_SET_ITEM(out, i, v);
        else
            PyList_SET_ITEM(out, i, v);
    }
    return out;
}

static PyObject *term(ctx_t *c, Py_ssize_t *pos, int depth)
{
    const unsigned char *d = c->d;
    Py_ssize_t p = *pos;
    if (p >= c->n || depth > MAX_DEPTH)
        return NULL;
    unsigned char tag = d[p];
    switch (tag) {
    case 97:   /* SMALL_INTEGER_EXT */
        if (p + 2 > c->n)
            return NULL;
        *pos = p + 2;
        return PyLong_FromLong(d[p + 1]);
    case 98:   /* INTEGER_EXT */
        if (p + 5 > c->n)
            return NULL;
        *pos = p + 5;
        return PyLong_FromLong((long)(int32_t)be32(d + p + 1));
    case 109: {   /* BINARY_EXT */
        if (p + 5 > c->n)
            return NULL;
        Py_ssize_t len = be32(d + p + 1);
        if (len > c->n - p - 5)
            return NULL;
        *pos = p + 5 + len;
        return PyBytes_FromStringAndSize((const char *)d + p + 5, len);
    }
    case 119:   /* SMALL_ATOM_UTF8_EXT */
        if (p + 2 > c->n)
            return NULL;
        return cached_atom(c, pos, p + 2, d[p + 1], tag);
    case 118:   /* ATOM_UTF8_EXT */
        if (p + 3 > c->n)
            return NULL;
        return cached_atom(c, pos, p + 3, ((Py_ssize_t)d[p + 1] << 8) | d[p + 2], tag);
    case 104:     /* SMALL_TUPLE_EXT */
    case 105: {   /* LARGE_TUPLE_EXT */
        Py_ssize_t count, at;
        if (tag == 104) {
            if (p + 2 > c->n)
                return NULL;
            count = d[p + 1];
            at = p + 2;
        } else {
            if (p + 5 > c->n)
                return NULL;
            count = be32(d + p + 1);
            at = p + 5;
        }
        if (count > c->n - at)   /* each element takes a byte at least */
            return NULL;
        PyObject *t = PyTuple_New(count);
        if (t == NULL) {
            PyErr_Clear();
            return NULL;
        }
        if (seq_items(c, &at, count, depth, t, 1) == NULL)
            return NULL;
        *pos = at;
        return t;
    }
    case 106:   /* NIL_EXT */
        *pos = p + 1;
        return PyList_New(0);
    case 108: {   /* LIST_EXT */
        if (p + 5 > c->n)
            return NULL;
        Py_ssize_t count = be32(d + p + 1);
        Py_ssize_t at = p + 5;
        if (count > c->n - at)
            return NULL;
        PyObject *l = PyList_New(count);
        if (l == NULL) {
            PyErr_Clear();
            return NULL;
        }
        if (seq_items(c, &at, count, depth, l, 0) == NULL)
            return NULL;
        if (at >= c->n) {
            Py_DECREF(l);
            return NULL;
        }
        unsigned char tail_tag = d[at];
        if (tail_tag == 106) {
            *pos = at + 1;
            return l;
        }
        if (tail_tag == 108 || tail_tag == 107) {   /* the list goes on: Python's */
            Py_DECREF(l);
            return NULL;
        }
        PyObject *tail = term(c, &at, depth + 1);
        if (tail == NULL) {
            Py_DECREF(l);
            return NULL;
        }
        if (count == 0) {   /* [|T] is T, as decode.py gives it */
            Py_DECREF(l);
            *pos = at;
            return tail;
        }
        PyObject *heads = PyList_AsTuple(l);
        Py_DECREF(l);
        if (heads == NULL) {
            PyErr_Clear();
            Py_DECREF(tail);
            return NULL;
        }
        PyObject *v = PyObject_CallFunctionObjArgs(improper_list, heads, tail, NULL);
        Py_DECREF(heads);
        Py_DECREF(tail);
        if (v == NULL) {
            PyErr_Clear();
            return NULL;
        }
        *pos = at;
        return v;
    }
    case 88:   /* NEW_PID_EXT */
        return cached_pid(c, pos);
    default:
        return leaf(c, pos, tag);
    }
}

static PyObject *fast_term(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3 || !PyBytes_CheckExact(args[0]) || !PyLong_CheckExact(args[1]))
        Py_RETURN_NONE;
    if (atoms_utf8 == NULL)
        Py_RETURN_NONE;
    ctx_t c;
    c.data = args[0];
    c.d = (const unsigned char *)PyBytes_AS_STRING(args[0]);
    c.n = PyBytes_GET_SIZE(args[0]);
    c.mode = args[2];
    Py_ssize_t pos = PyLong_AsSsize_t(args[1]);
    if (pos < 0 || pos >= c.n) {
        PyErr_Clear();
        Py_RETURN_NONE;
    }
    PyObject *v = term(&c, &pos, 0);
    if (v == NULL) {
        PyErr_Clear();
        Py_RETURN_NONE;
    }
    PyObject *end = PyLong_FromSsize_t(pos);
    if (end == NULL) {
        PyErr_Clear();
        Py_DECREF(v);
        Py_RETURN_NONE;
    }
    PyObject *r = PyTuple_New(2);
    if (r == NULL) {
        PyErr_Clear();
        Py_DECREF(v);
        Py_DECREF(end);
        Py_RETURN_NONE;
    }
    PyTuple_SET_ITEM(r, 0, v);
    PyTuple_SET_ITEM(r, 1, end);
    return r;
}

static PyObject *setup(PyObject *self, PyObject *args)
{
    PyObject *atoms, *table, *il, *pid_cache;
    if (!PyArg_ParseTuple(args, "O!O!OO!", &PyDict_Type, &atoms, &PyList_Type, &table, &il,
                          &PyDict_Type, &pid_cache))
        return NULL;
    if (PyList_GET_SIZE(table) != 256) {
        PyErr_SetString(PyExc_ValueError, "the leaf table must have 256 entries");
        return NULL;
    }
    Py_INCREF(atoms);
    Py_INCREF(table);
    Py_INCREF(il);
    Py_INCREF(pid_cache);
    Py_XSETREF(atoms_utf8, atoms);
    Py_XSETREF(dec_table, table);
    Py_XSETREF(improper_list, il);
    Py_XSETREF(pids, pid_cache);
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"fast_term", (PyCFunction)(void (*)(void))fast_term, METH_FASTCALL,
     "fast_term(data, pos, mode) -> (term, end), or None: decode it in Python"},
    {"setup", setup, METH_VARARGS, "setup(atoms_utf8, dec_table, improper_list, pids)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "bridge.etf._speedups",
    "ETF decoding of the common shapes in C (see bridge/etf/decode.py).", -1, methods,
};

PyMODINIT_FUNC PyInit__speedups(void)
{
    return PyModule_Create(&module);
}
