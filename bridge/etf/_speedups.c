/* The common shapes of ETF decoding (and, below, encoding) in C (issue 14: the
 * Python left per bridge call).
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
 * non-list tail: ImproperList), SMALL_INTEGER, INTEGER, BINARY, and the
 * SMALL_ATOM_UTF8/ATOM_UTF8 atoms and NEW_PID_EXT pids found in decode.py's caches,
 * and NEWER_REFERENCE_EXT references whose node atom is in that cache.
 * Every other leaf (an atom or pid not cached yet, an older reference, a float...) is
 * handed to its Python function in decode._DEC, which keeps the caches and the
 * identifiers' external form; maps, funs, a list whose tail is a list or a string,
 * and nesting deeper than MAX_DEPTH go back to Python whole.
 *
 * setup(atoms_utf8, dec_table, improper_list, pids, Atom, Reference) gives it
 * decode.py's atom cache (raw name bytes -> Atom or bool), its 256-entry leaf table,
 * ImproperList, its pid cache (NEW_PID_EXT body -> Pid) and the classes it checks
 * (Atom) and builds (Reference).
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
static PyObject *mode_list = NULL;    /* decode's strings mode "list" (0) */
static PyObject *atom_type = NULL;    /* bridge.etf.types.Atom */
static PyTypeObject *ref_type = NULL; /* bridge.etf.types.Reference */
static PyObject *r_node, *r_creation, *r_ids, *r_ext;   /* its slots' names */

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

/* cache[data[start:start + len]] (a new reference, *pos moved past it), or NULL
 * when it is not there (or the bytes run past the data) */
static PyObject *cache_hit(ctx_t *c, PyObject *cache, Py_ssize_t *pos, Py_ssize_t start, Py_ssize_t len)
{
    if (start + len > c->n)
        return NULL;
    PyObject *key = PyBytes_FromStringAndSize((const char *)c->d + start, len);
    if (key == NULL) {
        PyErr_Clear();
        return NULL;
    }
    PyObject *v = PyDict_GetItemWithError(cache, key);   /* borrowed */
    Py_DECREF(key);
    if (v == NULL) {
        PyErr_Clear();
        return NULL;
    }
    Py_INCREF(v);
    *pos = start + len;
    return v;
}

static PyObject *cached_atom(ctx_t *c, Py_ssize_t *pos, Py_ssize_t start, Py_ssize_t len, unsigned char tag)
{
    if (start + len > c->n)
        return NULL;   /* cut short: decode.py reports it */
    PyObject *v = cache_hit(c, atoms_utf8, pos, start, len);
    return v != NULL ? v : leaf(c, pos, tag);   /* not cached yet: decode.py makes and caches it */
}

/* decode._new_pid's cache, looked up here; a pid not in it is made there. */
static PyObject *cached_pid(ctx_t *c, Py_ssize_t *pos)
{
    Py_ssize_t p = *pos + 1;   /* the node atom's tag */
    if (p + 2 <= c->n && c->d[p] == 119) {
        PyObject *v = cache_hit(c, pids, pos, p, 14 + c->d[p + 1]);
        if (v != NULL)
            return v;
    }
    return leaf(c, pos, 88);
}

/* NEWER_REFERENCE_EXT whose node is a SMALL_ATOM_UTF8 atom in the cache: every
 * gen call carries two (the socket's, and the call's monitor/alias), so they are
 * built here as decode._newer_reference builds them (reference_with_ext: the slots
 * set directly, the external form kept). Any other node form, or an id count out
 * of 1..5, is that function's. */
static PyObject *newer_reference(ctx_t *c, Py_ssize_t *pos)
{
    const unsigned char *d = c->d;
    Py_ssize_t p = *pos;
    if (ref_type == NULL || p + 5 > c->n)
        return leaf(c, pos, 90);
    Py_ssize_t n = ((Py_ssize_t)d[p + 1] << 8) | d[p + 2];
    if (n < 1 || n > 5 || d[p + 3] != 119)
        return leaf(c, pos, 90);
    Py_ssize_t name_len = d[p + 4];
    Py_ssize_t after_node = p + 5 + name_len;
    Py_ssize_t end = after_node + 4 + 4 * n;
    if (end > c->n)
        return leaf(c, pos, 90);
    Py_ssize_t at;
    PyObject *node = cache_hit(c, atoms_utf8, &at, p + 5, name_len);
    if (node == NULL)
        return leaf(c, pos, 90);
    if ((PyObject *)Py_TYPE(node) != atom_type) {   /* 'true'/'false' cache to bools */
        Py_DECREF(node);
        return leaf(c, pos, 90);
    }
    PyObject *creation = PyLong_FromUnsignedLong(be32(d + after_node));
    PyObject *ids = PyTuple_New(n);
    PyObject *ext = PyBytes_FromStringAndSize((const char *)d + p, end - p);
    PyObject *ref = ref_type->tp_alloc(ref_type, 0);
    int ok = creation != NULL && ids != NULL && ext != NULL && ref != NULL;
    for (Py_ssize_t i = 0; ok && i < n; i++) {
        PyObject *id = PyLong_FromUnsignedLong(be32(d + after_node + 4 + 4 * i));
        if (id == NULL)
            ok = 0;
        else
            PyTuple_SET_ITEM(ids, i, id);
    }
    /* through the slots' descriptors, past the frozen dataclass's __setattr__ */
    ok = ok && PyObject_GenericSetAttr(ref, r_node, node) == 0
        && PyObject_GenericSetAttr(ref, r_creation, creation) == 0
        && PyObject_GenericSetAttr(ref, r_ids, ids) == 0
        && PyObject_GenericSetAttr(ref, r_ext, ext) == 0;
    Py_DECREF(node);
    Py_XDECREF(creation);
    Py_XDECREF(ids);
    Py_XDECREF(ext);
    if (!ok) {
        PyErr_Clear();
        Py_XDECREF(ref);
        return NULL;
    }
    *pos = end;
    return ref;
}

/* a tuple or list of the ``count`` terms at *pos (checked to fit the data first:
 * each element takes a byte at least), or NULL */
static PyObject *seq(ctx_t *c, Py_ssize_t *pos, Py_ssize_t count, int depth, int is_tuple)
{
    if (count > c->n - *pos)
        return NULL;
    PyObject *out = is_tuple ? PyTuple_New(count) : PyList_New(count);
    if (out == NULL) {
        PyErr_Clear();
        return NULL;
    }
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
        PyObject *t = seq(c, &at, count, depth, 1);
        if (t != NULL)
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
        PyObject *l = seq(c, &at, count, depth, 0);
        if (l == NULL)
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
    case 90:   /* NEWER_REFERENCE_EXT */
        return newer_reference(c, pos);
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

/* fast_body(body, with_payload) -> (control, payload), or None: a distribution
 * message body (bridge.node.protocol.parse_body): 'p', the control message (a
 * tuple whose first element is an int) and, when that tag is in the set
 * ``with_payload``, the payload; exactly to the end. None where parse_body's
 * Python has something to say (an error, a compressed term, a shape not taken
 * on here), which then parses the body itself. The caller keeps big bodies
 * (over decode._FAST_MAX) to Python, which decodes them in steps. */
static PyObject *fast_body(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2 || !PyBytes_CheckExact(args[0]) || !PyAnySet_Check(args[1]) || atoms_utf8 == NULL)
        Py_RETURN_NONE;
    ctx_t c;
    c.data = args[0];
    c.d = (const unsigned char *)PyBytes_AS_STRING(args[0]);
    c.n = PyBytes_GET_SIZE(args[0]);
    c.mode = mode_list;
    if (c.n < 3 || c.d[0] != 112 || c.d[1] != 131 || c.d[2] == 80)
        Py_RETURN_NONE;
    Py_ssize_t pos = 2;
    PyObject *control = term(&c, &pos, 0);
    if (control == NULL) {
        PyErr_Clear();
        Py_RETURN_NONE;
    }
    PyObject *payload = Py_None;
    Py_INCREF(payload);
    int has = 0;
    if (!PyTuple_CheckExact(control) || PyTuple_GET_SIZE(control) == 0
            || !PyLong_CheckExact(PyTuple_GET_ITEM(control, 0))
            || (has = PySet_Contains(args[1], PyTuple_GET_ITEM(control, 0))) < 0)
        goto not_mine;
    if (has) {
        if (pos + 1 >= c.n || c.d[pos] != 131 || c.d[pos + 1] == 80)
            goto not_mine;
        pos++;
        Py_DECREF(payload);
        payload = term(&c, &pos, 0);
        if (payload == NULL)
            goto not_mine;
    }
    if (pos != c.n)
        goto not_mine;
    PyObject *r = PyTuple_New(2);
    if (r == NULL)
        goto not_mine;
    PyTuple_SET_ITEM(r, 0, control);
    PyTuple_SET_ITEM(r, 1, payload);
    return r;
not_mine:
    PyErr_Clear();
    Py_DECREF(control);
    Py_XDECREF(payload);
    Py_RETURN_NONE;
}

static PyObject *setup(PyObject *self, PyObject *args)
{
    PyObject *atoms, *table, *il, *pid_cache, *atom_cls, *ref_cls;
    if (!PyArg_ParseTuple(args, "O!O!OO!OO!", &PyDict_Type, &atoms, &PyList_Type, &table, &il,
                          &PyDict_Type, &pid_cache, &atom_cls, &PyType_Type, &ref_cls))
        return NULL;
    if (mode_list == NULL && (mode_list = PyLong_FromLong(0)) == NULL)
        return NULL;
    if (r_node == NULL) {
        r_node = PyUnicode_InternFromString("node");
        r_creation = PyUnicode_InternFromString("creation");
        r_ids = PyUnicode_InternFromString("ids");
        r_ext = PyUnicode_InternFromString("_ext");
        if (r_node == NULL || r_creation == NULL || r_ids == NULL || r_ext == NULL)
            return NULL;
    }
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
    Py_INCREF(atom_cls);
    Py_INCREF(ref_cls);
    Py_XSETREF(atom_type, atom_cls);
    Py_XSETREF(ref_type, (PyTypeObject *)ref_cls);
    Py_RETURN_NONE;
}

/* ---- encoding ------------------------------------------------------------
 *
 * fast_encode(term) -> bytes (its encoding without the 131 byte, exactly what
 * bridge.etf.encode.encode_into writes), or None: encode it in Python. Done here:
 * tuples, lists (a list of ints 0..255 as STRING_EXT, as Erlang and encode.py write
 * it), ImproperLists, atoms (encode.py's cache, or its _atom_bytes), ints of 32
 * bits, bools, None (undefined), binaries up to BIN_MAX bytes, pids and references
 * (their cached external form, or encode.py's _pid_ext/_ref_ext). Anything else,
 * an error, nesting past MAX_DEPTH, more than ELEMENTS_MAX elements or an
 * encoding over OUT_MAX bytes: None, and Python writes it (with its errors, its
 * budget and its pieces that keep big binaries uncopied).
 */
#define BIN_MAX 1024
#define ELEMENTS_MAX 4096
#define OUT_MAX 65536

static PyObject *e_atom_bytes = NULL;     /* dict Atom -> bytes */
static PyObject *e_atom_fn = NULL;        /* _atom_bytes(atom) -> bytes */
static PyObject *e_pid_fn = NULL;         /* _pid_ext(pid) -> bytes */
static PyObject *e_ref_fn = NULL;         /* _ref_ext(ref) -> bytes */
static PyObject *e_atom_t = NULL, *e_pid_t = NULL, *e_ref_t = NULL, *e_il_t = NULL;
static PyObject *e_true = NULL, *e_false = NULL, *e_undef = NULL;
static PyObject *s_ext = NULL, *s_elements = NULL, *s_tail = NULL;

typedef struct {
    char *buf;
    Py_ssize_t len, cap;
    Py_ssize_t elements;
} out_t;

static int put(out_t *o, const void *src, Py_ssize_t n)
{
    if (o->len + n > OUT_MAX)
        return -1;
    if (o->len + n > o->cap) {
        Py_ssize_t cap = o->cap * 2;
        while (cap < o->len + n)
            cap *= 2;
        char *b = PyMem_Realloc(o->buf, cap);
        if (b == NULL)
            return -1;
        o->buf = b;
        o->cap = cap;
    }
    memcpy(o->buf + o->len, src, n);
    o->len += n;
    return 0;
}

static int put_byte(out_t *o, unsigned char b)
{
    return put(o, &b, 1);
}

static int put_tag32(out_t *o, unsigned char tag, uint32_t v)
{
    unsigned char b[5] = {tag, (unsigned char)(v >> 24), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 8), (unsigned char)v};
    return put(o, b, 5);
}

static int put_bytes_obj(out_t *o, PyObject *b)
{
    if (b == NULL || !PyBytes_CheckExact(b))
        return -1;
    return put(o, PyBytes_AS_STRING(b), PyBytes_GET_SIZE(b));
}

/* the cached external form (v._ext) of a pid or reference, else make_fn(v)'s */
static int put_ext(out_t *o, PyObject *v, PyObject *make_fn)
{
    PyObject *ext = PyObject_GetAttr(v, s_ext);
    if (ext == NULL)
        return -1;
    if (ext == Py_None) {
        Py_DECREF(ext);
        ext = PyObject_CallOneArg(make_fn, v);
        if (ext == NULL)
            return -1;
    }
    int r = put_bytes_obj(o, ext);
    Py_DECREF(ext);
    return r;
}

static int enc(out_t *o, PyObject *v, int depth);

static int enc_items(out_t *o, PyObject *const *items, Py_ssize_t n, int depth)
{
    for (Py_ssize_t i = 0; i < n; i++)
        if (enc(o, items[i], depth + 1) < 0)
            return -1;
    return 0;
}

static int enc_list(out_t *o, PyObject *v, int depth)
{
    Py_ssize_t n = PyList_GET_SIZE(v);
    if (n == 0)
        return put_byte(o, 106);
    PyObject **items = ((PyListObject *)v)->ob_item;
    if (PyLong_CheckExact(items[0])) {
        if (n > 65535)
            return -1;   /* encode.py's long-run path */
        if (PyLong_CheckExact(items[n - 1])) {
            /* all ints 0..255 (not bools): STRING_EXT, as encode.py's _small_int_bytes */
            int all_small = 1;
            for (Py_ssize_t i = 0; i < n && all_small; i++) {
                PyObject *x = items[i];
                if (!PyLong_CheckExact(x)) {
                    all_small = 0;
                    break;
                }
                int overflow;
                long val = PyLong_AsLongAndOverflow(x, &overflow);
                if (overflow || val < 0 || val > 255)
                    all_small = 0;
            }
            if (all_small) {
                unsigned char h[3] = {107, (unsigned char)(n >> 8), (unsigned char)n};
                if (put(o, h, 3) < 0 || o->len + n > OUT_MAX)
                    return -1;
                for (Py_ssize_t i = 0; i < n; i++)
                    if (put_byte(o, (unsigned char)PyLong_AsLong(items[i])) < 0)
                        return -1;
                return 0;
            }
        }
    }
    o->elements += n;
    if (o->elements > ELEMENTS_MAX)
        return -1;
    if (put_tag32(o, 108, (uint32_t)n) < 0)
        return -1;
    /* the list may change under a callback (an atom's first encoding): index it anew */
    for (Py_ssize_t i = 0; i < n; i++) {
        if (i >= PyList_GET_SIZE(v))
            return -1;
        PyObject *x = PyList_GET_ITEM(v, i);
        Py_INCREF(x);
        int r = enc(o, x, depth + 1);
        Py_DECREF(x);
        if (r < 0)
            return -1;
    }
    if (PyList_GET_SIZE(v) != n)
        return -1;
    return put_byte(o, 106);
}

static int enc(out_t *o, PyObject *v, int depth)
{
    if (depth > MAX_DEPTH)
        return -1;
    PyTypeObject *t = Py_TYPE(v);
    if ((PyObject *)t == e_atom_t) {
        PyObject *b = PyDict_GetItemWithError(e_atom_bytes, v);   /* borrowed */
        if (b != NULL)
            return put_bytes_obj(o, b);
        if (PyErr_Occurred())
            return -1;
        b = PyObject_CallOneArg(e_atom_fn, v);
        int r = put_bytes_obj(o, b);
        Py_XDECREF(b);
        return r;
    }
    if (t == &PyLong_Type) {
        int overflow;
        long val = PyLong_AsLongAndOverflow(v, &overflow);
        if (overflow || val < -2147483648L || val > 2147483647L)
            return -1;   /* a big: encode.py's */
        if (val >= 0 && val < 256) {
            unsigned char b[2] = {97, (unsigned char)val};
            return put(o, b, 2);
        }
        return put_tag32(o, 98, (uint32_t)(int32_t)val);
    }
    if (t == &PyTuple_Type) {
        Py_ssize_t n = PyTuple_GET_SIZE(v);
        o->elements += n;
        if (o->elements > ELEMENTS_MAX)
            return -1;
        if (n < 256) {
            unsigned char h[2] = {104, (unsigned char)n};
            if (put(o, h, 2) < 0)
                return -1;
        } else if (put_tag32(o, 105, (uint32_t)n) < 0) {
            return -1;
        }
        return enc_items(o, ((PyTupleObject *)v)->ob_item, n, depth);
    }
    if (t == &PyBytes_Type) {
        Py_ssize_t n = PyBytes_GET_SIZE(v);
        if (n > BIN_MAX)
            return -1;
        if (put_tag32(o, 109, (uint32_t)n) < 0)
            return -1;
        return put(o, PyBytes_AS_STRING(v), n);
    }
    if ((PyObject *)t == e_pid_t)
        return put_ext(o, v, e_pid_fn);
    if ((PyObject *)t == e_ref_t)
        return put_ext(o, v, e_ref_fn);
    if (t == &PyList_Type)
        return enc_list(o, v, depth);
    if ((PyObject *)t == e_il_t) {
        PyObject *els = PyObject_GetAttr(v, s_elements);
        PyObject *tail = PyObject_GetAttr(v, s_tail);
        int r = -1;
        if (els != NULL && tail != NULL && PyTuple_CheckExact(els) && PyTuple_GET_SIZE(els) > 0
                && !PyList_Check(tail) && Py_TYPE(tail) != (PyTypeObject *)e_il_t
                && !PyObject_TypeCheck(tail, (PyTypeObject *)e_il_t)) {
            Py_ssize_t n = PyTuple_GET_SIZE(els);
            o->elements += n;
            if (o->elements <= ELEMENTS_MAX && put_tag32(o, 108, (uint32_t)n) == 0
                    && enc_items(o, ((PyTupleObject *)els)->ob_item, n, depth) == 0)
                r = enc(o, tail, depth + 1);
        }
        Py_XDECREF(els);
        Py_XDECREF(tail);
        return r;
    }
    if (t == &PyBool_Type)
        return put_bytes_obj(o, v == Py_True ? e_true : e_false);
    if (v == Py_None)
        return put_bytes_obj(o, e_undef);
    return -1;
}

/* a fresh output buffer (-1: no memory) */
static int out_open(out_t *o)
{
    o->cap = 256;
    o->len = 0;
    o->elements = 0;
    o->buf = PyMem_Malloc(o->cap);
    return o->buf == NULL ? -1 : 0;
}

/* what ``o`` holds as bytes when ``r`` is 0, else None; frees the buffer */
static PyObject *out_close(out_t *o, int r)
{
    PyObject *res = r == 0 ? PyBytes_FromStringAndSize(o->buf, o->len) : NULL;
    PyMem_Free(o->buf);
    if (res == NULL) {
        PyErr_Clear();
        Py_RETURN_NONE;
    }
    return res;
}

static PyObject *fast_encode(PyObject *self, PyObject *term)
{
    out_t o;
    if (e_atom_bytes == NULL || out_open(&o) < 0)
        Py_RETURN_NONE;
    return out_close(&o, enc(&o, term, 0));
}

/* fast_frame(control[, payload]) -> bytes, or None: a whole distribution frame,
 * as bridge.node.protocol.encode_frame writes it (4-byte size, 'p', 131 and the
 * control message, then 131 and the payload when one is given), where both
 * terms are shapes fast_encode takes; None: encode_frame writes it in Python. */
static PyObject *fast_frame(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    out_t o;
    if (e_atom_bytes == NULL || nargs < 1 || nargs > 2 || out_open(&o) < 0)
        Py_RETURN_NONE;
    static const unsigned char head[6] = {0, 0, 0, 0, 112, 131};
    int r = put(&o, head, 6);
    if (r == 0)
        r = enc(&o, args[0], 0);
    if (r == 0 && nargs == 2) {
        r = put_byte(&o, 131);
        if (r == 0)
            r = enc(&o, args[1], 0);
    }
    if (r == 0) {
        uint32_t size = (uint32_t)(o.len - 4);
        o.buf[0] = (char)(size >> 24);
        o.buf[1] = (char)(size >> 16);
        o.buf[2] = (char)(size >> 8);
        o.buf[3] = (char)size;
    }
    return out_close(&o, r);
}

static PyObject *setup_encode(PyObject *self, PyObject *args)
{
    PyObject *a[11];
    if (!PyArg_ParseTuple(args, "O!OOOOOOOSSS", &PyDict_Type, &a[0], &a[1], &a[2], &a[3], &a[4],
                          &a[5], &a[6], &a[7], &a[8], &a[9], &a[10]))
        return NULL;
    PyObject **slots[11] = {&e_atom_bytes, &e_atom_fn, &e_pid_fn, &e_ref_fn, &e_atom_t, &e_pid_t,
                            &e_ref_t, &e_il_t, &e_true, &e_false, &e_undef};
    for (int i = 0; i < 11; i++) {
        Py_INCREF(a[i]);
        Py_XSETREF(*slots[i], a[i]);
    }
    if (s_ext == NULL) {
        s_ext = PyUnicode_InternFromString("_ext");
        s_elements = PyUnicode_InternFromString("elements");
        s_tail = PyUnicode_InternFromString("tail");
        if (s_ext == NULL || s_elements == NULL || s_tail == NULL)
            return NULL;
    }
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"fast_term", (PyCFunction)(void (*)(void))fast_term, METH_FASTCALL,
     "fast_term(data, pos, mode) -> (term, end), or None: decode it in Python"},
    {"fast_body", (PyCFunction)(void (*)(void))fast_body, METH_FASTCALL,
     "fast_body(body, with_payload) -> (control, payload), or None: parse it in Python"},
    {"fast_frame", (PyCFunction)(void (*)(void))fast_frame, METH_FASTCALL,
     "fast_frame(control[, payload]) -> the frame's bytes, or None: encode it in Python"},
    {"setup", setup, METH_VARARGS, "setup(atoms_utf8, dec_table, improper_list, pids, Atom, Reference)"},
    {"fast_encode", fast_encode, METH_O,
     "fast_encode(term) -> bytes without the 131 byte, or None: encode it in Python"},
    {"setup_encode", setup_encode, METH_VARARGS,
     "setup_encode(atom_bytes, atom_bytes_fn, pid_ext_fn, ref_ext_fn, Atom, Pid, Reference, "
     "ImproperList, true_bytes, false_bytes, undefined_bytes)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "bridge.etf._speedups",
    "ETF decoding and encoding of the common shapes in C (see bridge/etf/decode.py, encode.py).", -1, methods,
};

PyMODINIT_FUNC PyInit__speedups(void)
{
    return PyModule_Create(&module);
}
