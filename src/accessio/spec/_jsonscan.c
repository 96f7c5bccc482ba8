/*
 * One pass over JSON text that reports what msgspec's decoder does not:
 * duplicate keys in one object, nesting depth, and the largest container per depth.
 *
 * The pass runs before decoding, so it must survive any input: it never reads past
 * the buffer, keeps a fixed-size stack, and on malformed text it stops and says so
 * (the decoder then reports the syntax error with its position).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#define MAX_TRACKED_DEPTH 64
#define SPAN_DEPTHS 8
#define MAX_REPORTED 1000000
#define KEY_SHOWN_MAX 64   /* a key longer than this (in characters) is shown elided in a path */
#define KEY_SHOWN_HEAD 40  /* ... as its first 40 characters and an ellipsis */
#define LINEAR_LIMIT 8

typedef struct {
    uint64_t hash;
    const char *ptr; /* key bytes, unescaped */
    Py_ssize_t len;
} Key;

enum { WATCH_NONE = 0, WATCH_URL = 1, WATCH_TITLE = 2 };

typedef struct {
    char is_object;
    char watch;           /* what the value of the current key is checked for */
    Py_ssize_t open_at;
    Py_ssize_t index;     /* element index in an array */
    const char *key;      /* current key of an object (unescaped) */
    Py_ssize_t key_len;
    Key *keys;            /* keys seen in this object */
    Py_ssize_t nkeys, cap;
    int32_t *table;       /* open addressing over keys once nkeys > LINEAR_LIMIT */
    Py_ssize_t table_size;
    int table_live;       /* the table indexes this object's keys */
} Level;

typedef struct Block {
    struct Block *next;
    Py_ssize_t len, cap;
    char data[];
} Block;

typedef struct {
    Block *head; /* blocks never move, so keys may point into them */
} Arena;

static uint64_t fnv1a(const char *p, Py_ssize_t n) {
    uint64_t h = 1469598103934665603ULL;
    for (Py_ssize_t i = 0; i < n; i++) {
        h ^= (unsigned char)p[i];
        h *= 1099511628211ULL;
    }
    return h;
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static char *arena_reserve(Arena *a, Py_ssize_t need) {
    Block *b = a->head;
    if (b && b->cap - b->len >= need) return b->data + b->len;
    Py_ssize_t cap = need > 65536 ? need : 65536;
    b = PyMem_RawMalloc(sizeof(Block) + cap);
    if (!b) return NULL;
    b->next = a->head;
    b->len = 0;
    b->cap = cap;
    a->head = b;
    return b->data;
}

static void arena_free(Arena *a) {
    while (a->head) {
        Block *next = a->head->next;
        PyMem_RawFree(a->head);
        a->head = next;
    }
}

/* Unescape s[0..n) (a JSON string body) into the arena; NULL on memory error.
   Every escape yields at most as many bytes as it spans, so n bytes suffice. */
static const char *unescape(Arena *a, const char *s, Py_ssize_t n, Py_ssize_t *out_len) {
    char *out = arena_reserve(a, n);
    if (!out) return NULL;
    Py_ssize_t o = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        char c = s[i];
        if (c != '\\' || i + 1 >= n) { out[o++] = c; continue; }
        char e = s[++i];
        switch (e) {
        case 'b': out[o++] = '\b'; break;
        case 'f': out[o++] = '\f'; break;
        case 'n': out[o++] = '\n'; break;
        case 'r': out[o++] = '\r'; break;
        case 't': out[o++] = '\t'; break;
        case 'u': {
            if (i + 4 >= n) { out[o++] = e; break; }
            uint32_t cp = 0;
            int ok = 1;
            for (int k = 1; k <= 4; k++) {
                int v = hexval(s[i + k]);
                if (v < 0) { ok = 0; break; }
                cp = cp * 16 + (uint32_t)v;
            }
            if (!ok) { out[o++] = e; break; }
            i += 4;
            if (cp >= 0xD800 && cp <= 0xDBFF && i + 6 < n && s[i + 1] == '\\' && s[i + 2] == 'u') {
                uint32_t lo = 0;
                int ok2 = 1;
                for (int k = 3; k <= 6; k++) {
                    int v = hexval(s[i + k]);
                    if (v < 0) { ok2 = 0; break; }
                    lo = lo * 16 + (uint32_t)v;
                }
                if (ok2 && lo >= 0xDC00 && lo <= 0xDFFF) {
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                    i += 6;
                }
            }
            /* UTF-8 encode; lone surrogates encode as their 3-byte form. Every
               escape is at least 6 input bytes and yields at most 4 output bytes. */
            if (cp < 0x80) out[o++] = (char)cp;
            else if (cp < 0x800) {
                out[o++] = (char)(0xC0 | (cp >> 6));
                out[o++] = (char)(0x80 | (cp & 0x3F));
            } else if (cp < 0x10000) {
                out[o++] = (char)(0xE0 | (cp >> 12));
                out[o++] = (char)(0x80 | ((cp >> 6) & 0x3F));
                out[o++] = (char)(0x80 | (cp & 0x3F));
            } else {
                out[o++] = (char)(0xF0 | (cp >> 18));
                out[o++] = (char)(0x80 | ((cp >> 12) & 0x3F));
                out[o++] = (char)(0x80 | ((cp >> 6) & 0x3F));
                out[o++] = (char)(0x80 | (cp & 0x3F));
            }
            break;
        }
        default: out[o++] = e; break; /* \" \\ \/ */
        }
    }
    a->head->len += o;
    *out_len = o;
    return out;
}

static int table_insert(Level *lv, Py_ssize_t idx) {
    Py_ssize_t mask = lv->table_size - 1;
    Py_ssize_t slot = (Py_ssize_t)(lv->keys[idx].hash & (uint64_t)mask);
    while (lv->table[slot] >= 0) slot = (slot + 1) & mask;
    lv->table[slot] = (int32_t)idx;
    return 0;
}

static int table_rebuild(Level *lv, Py_ssize_t want) {
    Py_ssize_t size = 16;
    while (size < want * 2) size *= 2;
    if (size != lv->table_size) {
        int32_t *t = PyMem_RawRealloc(lv->table, sizeof(int32_t) * size);
        if (!t) return -1;
        lv->table = t;
        lv->table_size = size;
    }
    memset(lv->table, 0xff, sizeof(int32_t) * lv->table_size);
    for (Py_ssize_t i = 0; i < lv->nkeys; i++) table_insert(lv, i);
    return 0;
}

/* Add a key to the object at this level; 1 if it was already there, -1 on error. */
static int add_key(Level *lv, const char *p, Py_ssize_t n) {
    uint64_t h = fnv1a(p, n);
    if (!lv->table_live) {
        for (Py_ssize_t i = 0; i < lv->nkeys; i++)
            if (lv->keys[i].hash == h && lv->keys[i].len == n && memcmp(lv->keys[i].ptr, p, n) == 0)
                return 1;
    } else {
        Py_ssize_t mask = lv->table_size - 1;
        Py_ssize_t slot = (Py_ssize_t)(h & (uint64_t)mask);
        while (lv->table[slot] >= 0) {
            Key *k = &lv->keys[lv->table[slot]];
            if (k->hash == h && k->len == n && memcmp(k->ptr, p, n) == 0) return 1;
            slot = (slot + 1) & mask;
        }
    }
    if (lv->nkeys == lv->cap) {
        Py_ssize_t cap = lv->cap ? lv->cap * 2 : 16;
        if (cap > INT32_MAX) return -1;
        Key *k = PyMem_RawRealloc(lv->keys, sizeof(Key) * cap);
        if (!k) return -1;
        lv->keys = k;
        lv->cap = cap;
    }
    lv->keys[lv->nkeys].hash = h;
    lv->keys[lv->nkeys].ptr = p;
    lv->keys[lv->nkeys].len = n;
    lv->nkeys++;
    if (!lv->table_live) {
        if (lv->nkeys > LINEAR_LIMIT) {
            if (table_rebuild(lv, lv->nkeys) < 0) return -1;
            lv->table_live = 1;
        }
    } else if (lv->nkeys * 2 > lv->table_size) {
        if (table_rebuild(lv, lv->nkeys) < 0) return -1;
    } else {
        table_insert(lv, lv->nkeys - 1);
    }
    return 0;
}

static void reset_level(Level *lv) {
    lv->table_live = 0; /* table_rebuild clears it before its next use */
    lv->nkeys = 0;
    lv->index = 0;
    lv->key = NULL;
    lv->key_len = 0;
    lv->watch = WATCH_NONE;
}

static char watch_of(const char *k, Py_ssize_t n) {
    if (n == 3 && memcmp(k, "url", 3) == 0) return WATCH_URL;
    if (n == 9 && memcmp(k, "objectUrl", 9) == 0) return WATCH_URL;
    if (n > 10 && memcmp(k, "objectUrl_", 10) == 0) return WATCH_URL;
    if (n == 5 && memcmp(k, "title", 5) == 0) return WATCH_TITLE;
    return WATCH_NONE;
}

/* A URL is plain when every byte is printable ASCII other than space: anything
   else (escapes, controls, non-ASCII that may be a Unicode space) is checked exactly. */
static int plain_url(const unsigned char *p, Py_ssize_t n) {
    unsigned char bad = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        unsigned char c = p[i];
        bad |= (unsigned char)((c <= 0x20) | (c >= 0x7f) | (c == '\\'));
    }
    return !bad;
}

typedef struct {
    Py_ssize_t offset;
    char *path;
    Py_ssize_t path_len;
} Found;

typedef struct {
    Found *items;
    Py_ssize_t n, cap;
} FoundList;

static int put(char **buf, Py_ssize_t *len, Py_ssize_t *cap, const char *p, Py_ssize_t n) {
    if (*len + n > *cap) {
        Py_ssize_t c = *cap ? *cap : 64;
        while (c < *len + n) c *= 2;
        char *b = PyMem_RawRealloc(*buf, c);
        if (!b) return -1;
        *buf = b;
        *cap = c;
    }
    memcpy(*buf + *len, p, n);
    *len += n;
    return 0;
}

/* Append a key as a path shows it: whole, or its first KEY_SHOWN_HEAD characters and
   an ellipsis when it is longer than KEY_SHOWN_MAX characters (a path never copies a
   long key whole, however many duplicates sit under it). */
static int put_key(char **buf, Py_ssize_t *len, Py_ssize_t *cap, const char *key, Py_ssize_t n) {
    Py_ssize_t chars = 0, cut = n;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (((unsigned char)key[i] & 0xC0) == 0x80) continue; /* a continuation byte */
        if (chars == KEY_SHOWN_HEAD) cut = i;
        if (++chars > KEY_SHOWN_MAX) break;
    }
    if (chars <= KEY_SHOWN_MAX) return put(buf, len, cap, key, n);
    if (put(buf, len, cap, key, cut) < 0) return -1;
    return put(buf, len, cap, "\xE2\x80\xA6", 3); /* U+2026 */
}

/* Record a repeated key with its JSONPath-like location ("$.images[12].title"); past
   max_reported, only count it. */
static int record(FoundList *found, Level *levels, int depth, Py_ssize_t offset,
                  const char *key, Py_ssize_t key_len, Py_ssize_t max_reported, Py_ssize_t *total) {
    (*total)++;
    if (found->n >= max_reported) return 0;
    if (found->n == found->cap) {
        Py_ssize_t c = found->cap ? found->cap * 2 : 16;
        Found *f = PyMem_RawRealloc(found->items, sizeof(Found) * c);
        if (!f) return -1;
        found->items = f;
        found->cap = c;
    }
    char *buf = NULL;
    Py_ssize_t len = 0, cap = 0;
    char num[32];
    if (put(&buf, &len, &cap, "$", 1) < 0) goto fail;
    for (int d = 0; d < depth; d++) {
        Level *lv = &levels[d];
        if (lv->is_object) {
            if (put(&buf, &len, &cap, ".", 1) < 0) goto fail;
            if (lv->key && put_key(&buf, &len, &cap, lv->key, lv->key_len) < 0) goto fail;
        } else {
            int k = snprintf(num, sizeof(num), "[%zd]", lv->index);
            if (put(&buf, &len, &cap, num, k) < 0) goto fail;
        }
    }
    if (put(&buf, &len, &cap, ".", 1) < 0 || put_key(&buf, &len, &cap, key, key_len) < 0) goto fail;
    found->items[found->n].offset = offset;
    found->items[found->n].path = buf;
    found->items[found->n].path_len = len;
    found->n++;
    return 0;
fail:
    PyMem_RawFree(buf);
    return -1;
}

PyDoc_STRVAR(scan_doc,
"scan(data, depth_limit=64, url_max=16384, title_max=300, max_reported=1000000)\n"
"-> (complete, max_depth, too_deep_at, duplicates, spans, suspects, duplicate_count)\n\n"
"complete: False when the text is malformed (the scan stopped early).\n"
"max_depth: deepest nesting seen (capped at the tracked limit + 1).\n"
"too_deep_at: byte offset where nesting passed the limit, or -1.\n"
"duplicates: list of (byte_offset, path) for the first max_reported repeated keys;\n"
"keys longer than 64 characters appear in paths as their first 40 and an ellipsis.\n"
"spans: tuple of the largest container size in bytes at depths 0..7.\n"
"suspects: values under url/objectUrl/objectUrl_N/title keys that may break a rule:\n"
"not a string (null titles excepted), empty, too long in bytes, escaped, or holding\n"
"bytes other than printable ASCII. None of them means every such value is sound.\n"
"duplicate_count: every repeated key, reported or not.");

static PyObject *scan(PyObject *Py_UNUSED(self), PyObject *args) {
    Py_buffer view;
    int limit = MAX_TRACKED_DEPTH;
    Py_ssize_t url_max = 16384, title_max = 300, suspects = 0, max_reported = MAX_REPORTED, dup_total = 0;
    if (!PyArg_ParseTuple(args, "y*|innn", &view, &limit, &url_max, &title_max, &max_reported)) return NULL;
    if (max_reported < 0 || max_reported > MAX_REPORTED) max_reported = MAX_REPORTED;
    FoundList found = {NULL, 0, 0};
    if (limit < 1 || limit > MAX_TRACKED_DEPTH) limit = MAX_TRACKED_DEPTH;
    const char *s = view.buf;
    Py_ssize_t n = view.len;
    Level levels[MAX_TRACKED_DEPTH + 1];
    memset(levels, 0, sizeof(levels));
    Arena arena = {NULL};
    Py_ssize_t spans[SPAN_DEPTHS] = {0};
    int depth = 0, max_depth = 0, complete = 0, failed = 0;
    Py_ssize_t too_deep_at = -1;
    int expect_key = 0;
    Py_ssize_t i = 0;
    Py_BEGIN_ALLOW_THREADS
    while (i < n) {
        char c = s[i];
        if (c == '"') {
            Py_ssize_t start = ++i;
            int escaped = 0;
            while (i < n) {
                const char *q = memchr(s + i, '"', n - i);
                const char *b = memchr(s + i, '\\', (q ? q : s + n) - (s + i));
                if (b) { escaped = 1; i = (b - s) + 2; continue; }
                if (!q) { i = n; break; }
                i = q - s;
                break;
            }
            if (i >= n) goto done; /* unterminated string */
            Py_ssize_t len = i - start;
            i++;
            if (depth >= 1 && depth <= limit && levels[depth - 1].is_object && expect_key) {
                Level *lv = &levels[depth - 1];
                const char *kp = s + start;
                Py_ssize_t kl = len;
                if (escaped) {
                    kp = unescape(&arena, s + start, len, &kl);
                    if (!kp) { failed = 1; goto done; }
                }
                int r = add_key(lv, kp, kl);
                if (r < 0) { failed = 1; goto done; }
                if (r == 1 && record(&found, levels, depth - 1, start - 1, kp, kl, max_reported, &dup_total) < 0) {
                    failed = 1;
                    goto done;
                }
                lv->key = kp;
                lv->key_len = kl;
                lv->watch = watch_of(kp, kl);
                expect_key = 0;
            } else if (depth >= 1 && depth <= limit && levels[depth - 1].watch) {
                Level *lv = &levels[depth - 1];
                if (lv->watch == WATCH_URL) {
                    if (len == 0 || len > url_max || !plain_url((const unsigned char *)s + start, len))
                        suspects++;
                } else if (len == 0 || len > title_max || escaped) {
                    suspects++;
                }
                lv->watch = WATCH_NONE;
            }
            continue;
        }
        switch (c) {
        case '{':
        case '[':
            if (depth >= 1 && depth <= MAX_TRACKED_DEPTH && levels[depth - 1].watch) {
                suspects++; /* a URL or title that is not a string */
                levels[depth - 1].watch = WATCH_NONE;
            }
            if (depth < MAX_TRACKED_DEPTH) {
                Level *lv = &levels[depth];
                reset_level(lv);
                lv->is_object = (c == '{');
                lv->open_at = i;
            }
            depth++;
            if (depth > max_depth) max_depth = depth;
            if (depth > limit && too_deep_at < 0) { too_deep_at = i; goto done; }
            expect_key = (c == '{');
            break;
        case '}':
        case ']':
            if (depth == 0) goto done;
            depth--;
            if (depth < MAX_TRACKED_DEPTH) {
                Py_ssize_t span = i - levels[depth].open_at + 1;
                if (depth < SPAN_DEPTHS && span > spans[depth]) spans[depth] = span;
            }
            expect_key = 0;
            break;
        case ',':
            if (depth >= 1 && depth <= MAX_TRACKED_DEPTH) {
                Level *lv = &levels[depth - 1];
                lv->watch = WATCH_NONE;
                if (lv->is_object) expect_key = 1;
                else lv->index++;
            }
            break;
        case ' ': case '\t': case '\n': case '\r': case ':':
            break;
        default:
            /* the first byte of a number, true, false or null */
            if (depth >= 1 && depth <= MAX_TRACKED_DEPTH && levels[depth - 1].watch) {
                Level *lv = &levels[depth - 1];
                if (lv->watch == WATCH_URL || c != 'n') suspects++;
                lv->watch = WATCH_NONE;
            }
            break;
        }
        i++;
    }
    complete = (depth == 0);
done:
    for (int d = 0; d <= MAX_TRACKED_DEPTH; d++) {
        PyMem_RawFree(levels[d].keys);
        PyMem_RawFree(levels[d].table);
    }
    arena_free(&arena);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&view);
    PyObject *result = NULL, *dups = NULL, *sp = NULL;
    if (failed) {
        PyErr_NoMemory();
        goto out;
    }
    dups = PyList_New(found.n);
    sp = PyTuple_New(SPAN_DEPTHS);
    if (!dups || !sp) goto out;
    for (Py_ssize_t k = 0; k < found.n; k++) {
        PyObject *t = Py_BuildValue("(nN)", found.items[k].offset,
            PyUnicode_DecodeUTF8(found.items[k].path, found.items[k].path_len, "replace"));
        if (!t) goto out;
        PyList_SET_ITEM(dups, k, t);
    }
    for (int d = 0; d < SPAN_DEPTHS; d++) {
        PyObject *v = PyLong_FromSsize_t(spans[d]);
        if (!v) goto out;
        PyTuple_SET_ITEM(sp, d, v);
    }
    result = Py_BuildValue("(OinOOnn)", complete ? Py_True : Py_False, max_depth, too_deep_at, dups, sp,
                           suspects, dup_total);
out:
    Py_XDECREF(dups);
    Py_XDECREF(sp);
    for (Py_ssize_t k = 0; k < found.n; k++) PyMem_RawFree(found.items[k].path);
    PyMem_RawFree(found.items);
    return result;
}

static PyMethodDef methods[] = {
    {"scan", scan, METH_VARARGS, scan_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_jsonscan", "Structural checks of JSON text the decoder skips.", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__jsonscan(void) { return PyModule_Create(&module); }
