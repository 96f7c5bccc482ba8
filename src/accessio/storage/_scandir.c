/*
 * One directory of a local walk, read without the interpreter's lock: its entries in
 * name order, split into regular files (with size and modification time) and
 * directories, as accessio.storage.local.walk does it in Python.
 *
 * - a regular file is lstat'ed relative to the directory (fstatat);
 * - a directory is returned to be descended into (not followed when it is a link);
 * - a symlink is kept only when its real path is inside ``inside`` and it resolves to
 *   a regular file (a linked directory is never descended into);
 * - FIFOs, sockets, devices and entries that vanish or fail are left out.
 *
 * A directory that cannot be opened raises OSError (the walk skips it).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct {
    char *name;
    char kind; /* 'f' file, 'd' directory */
    long long size;
    long long mtime_ns;
} Entry;

typedef struct {
    Entry *items;
    size_t len, cap;
} Entries;

static void entries_free(Entries *entries) {
    for (size_t i = 0; i < entries->len; i++) free(entries->items[i].name);
    free(entries->items);
}

static int entries_push(Entries *entries, const char *name) {
    if (entries->len == entries->cap) {
        size_t cap = entries->cap ? entries->cap * 2 : 256;
        Entry *grown = realloc(entries->items, cap * sizeof(Entry));
        if (grown == NULL) return -1;
        entries->items = grown;
        entries->cap = cap;
    }
    char *copy = strdup(name);
    if (copy == NULL) return -1;
    Entry *entry = &entries->items[entries->len++];
    entry->name = copy;
    entry->kind = 0;
    entry->size = 0;
    entry->mtime_ns = 0;
    return 0;
}

static int by_name(const void *a, const void *b) {
    return strcmp(((const Entry *)a)->name, ((const Entry *)b)->name);
}

static long long mtime_ns(const struct stat *status) {
    return (long long)status->st_mtim.tv_sec * 1000000000LL + (long long)status->st_mtim.tv_nsec;
}

/* Reads and classifies the entries of ``parent`` (no Python call: runs without the
 * GIL). Returns 0, or an errno for the directory itself (-1 with errno ENOMEM). */
static int read_directory(const char *parent, const char *inside, size_t inside_len, Entries *entries) {
    int fd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return errno;
    DIR *dir = fdopendir(fd);
    if (dir == NULL) {
        int error = errno;
        close(fd);
        return error;
    }
    /* d_type of each name, kept beside the entries in the same order */
    unsigned char *types = NULL;
    size_t types_cap = 0;
    struct dirent *found;
    errno = 0;
    while ((found = readdir(dir)) != NULL) {
        const char *name = found->d_name;
        if (name[0] == '.' && (name[1] == 0 || (name[1] == '.' && name[2] == 0))) continue;
        if (entries_push(entries, name) < 0) goto no_memory;
        if (entries->len > types_cap) {
            size_t cap = entries->cap;
            unsigned char *grown = realloc(types, cap);
            if (grown == NULL) goto no_memory;
            types = grown;
            types_cap = cap;
        }
        types[entries->len - 1] = found->d_type;
    }
    for (size_t i = 0; i < entries->len; i++) {
        Entry *entry = &entries->items[i];
        struct stat status;
        unsigned char type = types[i];
        if (type == DT_UNKNOWN) {
            if (fstatat(fd, entry->name, &status, AT_SYMLINK_NOFOLLOW) != 0) continue;
            type = S_ISDIR(status.st_mode) ? DT_DIR : S_ISREG(status.st_mode) ? DT_REG : S_ISLNK(status.st_mode) ? DT_LNK : 0;
        }
        if (type == DT_DIR) {
            entry->kind = 'd';
        } else if (type == DT_REG) {
            if (fstatat(fd, entry->name, &status, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(status.st_mode)) continue;
            entry->kind = 'f';
            entry->size = (long long)status.st_size;
            entry->mtime_ns = mtime_ns(&status);
        } else if (type == DT_LNK) {
            size_t parent_len = strlen(parent), name_len = strlen(entry->name);
            char *path = malloc(parent_len + name_len + 2);
            if (path == NULL) goto no_memory;
            memcpy(path, parent, parent_len);
            size_t at = parent_len;
            if (at == 0 || path[at - 1] != '/') path[at++] = '/';
            memcpy(path + at, entry->name, name_len + 1);
            char *real = realpath(path, NULL);
            free(path);
            if (real == NULL) continue; /* dangling */
            int within = strncmp(real, inside, inside_len) == 0;
            int ok = within && stat(real, &status) == 0 && S_ISREG(status.st_mode);
            free(real);
            if (!ok) continue;
            entry->kind = 'f';
            entry->size = (long long)status.st_size;
            entry->mtime_ns = mtime_ns(&status);
        }
    }
    free(types);
    closedir(dir);
    qsort(entries->items, entries->len, sizeof(Entry), by_name);
    return 0;
no_memory:
    free(types);
    closedir(dir);
    errno = ENOMEM;
    return -1;
}

PyDoc_STRVAR(scan_doc,
             "scan(parent, inside, /) -> (files, directories)\n\n"
             "The regular files of directory ``parent`` as (path, size, mtime_ns) and its\n"
             "directories as paths, in name order; symlinks kept only when their real path\n"
             "starts with ``inside`` and they resolve to a regular file.");

static PyObject *scan(PyObject *self, PyObject *args) {
    PyObject *parent_obj, *inside_obj;
    if (!PyArg_ParseTuple(args, "O&O&:scan", PyUnicode_FSConverter, &parent_obj, PyUnicode_FSConverter, &inside_obj))
        return NULL;
    const char *parent = PyBytes_AS_STRING(parent_obj);
    const char *inside = PyBytes_AS_STRING(inside_obj);
    size_t inside_len = (size_t)PyBytes_GET_SIZE(inside_obj);
    size_t parent_len = (size_t)PyBytes_GET_SIZE(parent_obj);
    Entries entries = {NULL, 0, 0};
    int error;
    Py_BEGIN_ALLOW_THREADS
    error = read_directory(parent, inside, inside_len, &entries);
    Py_END_ALLOW_THREADS
    PyObject *result = NULL, *files = NULL, *directories = NULL;
    char *path = NULL;
    if (error != 0) {
        if (error == -1 || error == ENOMEM) PyErr_NoMemory();
        else {
            errno = error;
            PyErr_SetFromErrnoWithFilenameObject(PyExc_OSError, parent_obj);
        }
        goto done;
    }
    files = PyList_New(0);
    directories = PyList_New(0);
    if (files == NULL || directories == NULL) goto done;
    size_t path_cap = parent_len + 258;
    path = malloc(path_cap);
    if (path == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    memcpy(path, parent, parent_len);
    size_t base = parent_len;
    if (base == 0 || path[base - 1] != '/') path[base++] = '/';
    for (size_t i = 0; i < entries.len; i++) {
        Entry *entry = &entries.items[i];
        if (entry->kind == 0) continue;
        size_t name_len = strlen(entry->name);
        if (base + name_len + 1 > path_cap) {
            path_cap = base + name_len + 1;
            char *grown = realloc(path, path_cap);
            if (grown == NULL) {
                PyErr_NoMemory();
                goto done;
            }
            path = grown;
        }
        memcpy(path + base, entry->name, name_len);
        PyObject *text = PyUnicode_DecodeFSDefaultAndSize(path, (Py_ssize_t)(base + name_len));
        if (text == NULL) goto done;
        int failed;
        if (entry->kind == 'd') {
            failed = PyList_Append(directories, text);
        } else {
            PyObject *row = Py_BuildValue("(OLL)", text, entry->size, entry->mtime_ns);
            failed = row == NULL || PyList_Append(files, row) < 0;
            Py_XDECREF(row);
        }
        Py_DECREF(text);
        if (failed) goto done;
    }
    result = PyTuple_Pack(2, files, directories);
done:
    free(path);
    entries_free(&entries);
    Py_XDECREF(files);
    Py_XDECREF(directories);
    Py_DECREF(parent_obj);
    Py_DECREF(inside_obj);
    return result;
}

static PyMethodDef methods[] = {
    {"scan", scan, METH_VARARGS, scan_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_scandir", "One directory of a local walk, read without the GIL.", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__scandir(void) { return PyModule_Create(&module); }
