/*
 * zeromq._speedups: the engine's hot calls in C, on the libzmq pyzmq loaded.
 *
 * pyzmq's socket methods re-check the socket with an extra getsockopt on
 * every call, so reading ZMQ_RCVMORE after each part costs more than the
 * receive itself. Here one call receives a whole multipart message with
 * zmq_msg_recv/zmq_msg_more, and one call sends one.
 *
 * Nothing is linked at build time: `init()` is handed the addresses of the
 * libzmq functions (found with ctypes in the copy of libzmq pyzmq already
 * loaded), so the sockets we touch are pyzmq's own. A socket is named by its
 * raw handle (pyzmq's `Socket.underlying`); the engine passes 0 once it has
 * closed the socket, which raises ENOTSOCK instead of touching freed memory.
 *
 * All calls use ZMQ_DONTWAIT and hold the GIL: none of them can block.
 * bytes of 64 KiB or more (or views of bytes) are sent without a copy; received
 * parts can be had without a copy too (recv_parts).
 */
#define PY_SSIZE_T_CLEAN
#ifdef __linux__
#define _GNU_SOURCE /* ppoll */
#include <poll.h>
#include <time.h>
#endif
#include <Python.h>
#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#define ZMQ_DONTWAIT 1
#define ZMQ_SNDMORE 2
#define ZMQ_EVENTS 15

typedef struct {
    unsigned char _[64] __attribute__((aligned(sizeof(void *))));
} zmq_msg_t;

static int (*p_msg_init)(zmq_msg_t *);
static int (*p_msg_init_data)(zmq_msg_t *, void *, size_t, void (*)(void *, void *), void *);
static int (*p_msg_send)(zmq_msg_t *, void *, int);
static int (*p_msg_recv)(zmq_msg_t *, void *, int);
static int (*p_msg_close)(zmq_msg_t *);
static void *(*p_msg_data)(zmq_msg_t *);
static size_t (*p_msg_size)(const zmq_msg_t *);
static int (*p_msg_more)(const zmq_msg_t *);
static int (*p_send)(void *, const void *, size_t, int);
static int (*p_getsockopt)(void *, int, void *, size_t *);
static int (*p_errno)(void);

static PyObject *error_type; /* called with the errno to make the exception */

static PyObject *raise_errno(int number) {
    PyObject *exc = PyObject_CallFunction(error_type, "i", number);
    if (exc != NULL) {
        PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
        Py_DECREF(exc);
    }
    return NULL;
}

static void *handle_of(PyObject *arg) {
    void *handle = PyLong_AsVoidPtr(arg);
    if (handle == NULL && !PyErr_Occurred())
        raise_errno(ENOTSOCK);
    return handle;
}

/* init(addresses: tuple[int, ...], error_type) -> None */
static PyObject *sp_init(PyObject *self, PyObject *args) {
    PyObject *addresses, *err;
    if (!PyArg_ParseTuple(args, "O!O", &PyTuple_Type, &addresses, &err))
        return NULL;
    if (PyTuple_GET_SIZE(addresses) != 11) {
        PyErr_SetString(PyExc_ValueError, "init() needs 11 function addresses");
        return NULL;
    }
    void *fn[11];
    for (Py_ssize_t i = 0; i < 11; i++) {
        fn[i] = PyLong_AsVoidPtr(PyTuple_GET_ITEM(addresses, i));
        if (fn[i] == NULL) {
            if (!PyErr_Occurred())
                PyErr_SetString(PyExc_ValueError, "null function address");
            return NULL;
        }
    }
    p_msg_init = (int (*)(zmq_msg_t *))fn[0];
    p_msg_recv = (int (*)(zmq_msg_t *, void *, int))fn[1];
    p_msg_close = (int (*)(zmq_msg_t *))fn[2];
    p_msg_data = (void *(*)(zmq_msg_t *))fn[3];
    p_msg_size = (size_t(*)(const zmq_msg_t *))fn[4];
    p_msg_more = (int (*)(const zmq_msg_t *))fn[5];
    p_send = (int (*)(void *, const void *, size_t, int))fn[6];
    p_getsockopt = (int (*)(void *, int, void *, size_t *))fn[7];
    p_errno = (int (*)(void))fn[8];
    p_msg_init_data = (int (*)(zmq_msg_t *, void *, size_t, void (*)(void *, void *), void *))fn[9];
    p_msg_send = (int (*)(zmq_msg_t *, void *, int))fn[10];
    Py_XSETREF(error_type, Py_NewRef(err));
    Py_RETURN_NONE;
}

/* recv(handle) -> list[bytes] | None: a whole message, or None for EAGAIN. */
static PyObject *sp_recv(PyObject *self, PyObject *arg) {
    void *handle = handle_of(arg);
    if (handle == NULL)
        return NULL;
    zmq_msg_t msg;
    PyObject *parts = NULL;
    for (;;) {
        p_msg_init(&msg);
        if (p_msg_recv(&msg, handle, ZMQ_DONTWAIT) < 0) {
            int number = p_errno();
            p_msg_close(&msg);
            if (parts == NULL && number == EAGAIN)
                Py_RETURN_NONE;
            /* A multipart message is delivered whole, so only a closing
               socket can fail here; what was read is dropped with it. */
            Py_XDECREF(parts);
            return raise_errno(number);
        }
        PyObject *part = PyBytes_FromStringAndSize(p_msg_data(&msg), (Py_ssize_t)p_msg_size(&msg));
        int more = p_msg_more(&msg);
        p_msg_close(&msg);
        if (part == NULL) {
            Py_XDECREF(parts);
            return NULL;
        }
        if (parts == NULL) {
            parts = PyList_New(1);
            if (parts == NULL) {
                Py_DECREF(part);
                return NULL;
            }
            PyList_SET_ITEM(parts, 0, part);
        } else {
            int rc = PyList_Append(parts, part);
            Py_DECREF(part);
            if (rc < 0) {
                Py_DECREF(parts);
                return NULL;
            }
        }
        if (!more)
            return parts;
    }
}

/* -- sending large read-only buffers without a copy ---------------------
 *
 * libzmq calls the free function of a zero-copy message on its I/O thread,
 * which must not take the GIL (it would stall all I/O behind Python). So the
 * free function only pushes the buffer onto a locked list, and the Python
 * thread releases what is on it at its next call into this module.
 */
typedef struct loan {
    Py_buffer view;
    struct loan *next;
} loan;

static pthread_mutex_t returned_lock = PTHREAD_MUTEX_INITIALIZER;
static loan *returned; /* guarded by returned_lock */

static void give_back(void *data, void *hint) {
    loan *item = (loan *)hint;
    pthread_mutex_lock(&returned_lock);
    item->next = returned;
    returned = item;
    pthread_mutex_unlock(&returned_lock);
}

static void release_returned(void) {
    if (__atomic_load_n(&returned, __ATOMIC_ACQUIRE) == NULL)
        return;
    pthread_mutex_lock(&returned_lock);
    loan *item = returned;
    returned = NULL;
    pthread_mutex_unlock(&returned_lock);
    while (item != NULL) {
        loan *next = item->next;
        PyBuffer_Release(&item->view);
        free(item);
        item = next;
    }
}

#define ZERO_COPY_MIN 65536

static int send_part(void *handle, PyObject *part, int flags) {
    Py_buffer view;
    if (PyObject_GetBuffer(part, &view, PyBUF_SIMPLE) < 0)
        return -2;
    PyObject *base = PyMemoryView_Check(part) ? PyMemoryView_GET_BASE(part) : part;
    if (view.len < ZERO_COPY_MIN || base == NULL || !PyBytes_CheckExact(base)) {
        /* Small, or memory that can change (even behind a read-only view):
           copy, so later changes cannot alter a queued message. */
        int rc = p_send(handle, view.buf, (size_t)view.len, flags);
        PyBuffer_Release(&view);
        return rc < 0 ? -1 : 0;
    }
    loan *item = (loan *)malloc(sizeof(loan));
    if (item == NULL) {
        PyBuffer_Release(&view);
        PyErr_NoMemory();
        return -2;
    }
    item->view = view;
    zmq_msg_t msg;
    p_msg_init_data(&msg, view.buf, (size_t)view.len, give_back, item);
    if (p_msg_send(&msg, handle, flags) < 0) {
        int number = p_errno();
        p_msg_close(&msg); /* calls give_back */
        release_returned();
        errno = number; /* zmq_errno() reads errno */
        return -1;
    }
    return 0;
}

/* -- receiving without a copy ----------------------------------------------
 *
 * A Part owns one received zmq_msg_t and exports its bytes through the
 * buffer protocol, so memoryview(part) is the message's own memory. The
 * message is closed when the Part and every view of it are gone.
 */
typedef struct {
    PyObject_HEAD
    zmq_msg_t msg;
} Part;

static void part_dealloc(Part *self) {
    p_msg_close(&self->msg);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int part_getbuffer(Part *self, Py_buffer *view, int flags) {
    return PyBuffer_FillInfo(view, (PyObject *)self, p_msg_data(&self->msg),
                             (Py_ssize_t)p_msg_size(&self->msg), 1, flags);
}

static PyBufferProcs part_as_buffer = {(getbufferproc)part_getbuffer, NULL};

static PyTypeObject PartType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "zeromq._speedups.Part",
    .tp_basicsize = sizeof(Part),
    .tp_dealloc = (destructor)part_dealloc,
    .tp_as_buffer = &part_as_buffer,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "One received message part, shared with libzmq without a copy.",
};

/* send(handle, parts: bytes | list) -> bool: False if the first part would wait. */
static PyObject *sp_send(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "send(handle, parts)");
        return NULL;
    }
    release_returned();
    void *handle = handle_of(args[0]);
    if (handle == NULL)
        return NULL;
    PyObject *parts = args[1];
    if (!PyList_CheckExact(parts)) {
        int rc = send_part(handle, parts, ZMQ_DONTWAIT);
        if (rc == 0)
            Py_RETURN_TRUE;
        if (rc == -2)
            return NULL;
        int number = p_errno();
        if (number == EAGAIN)
            Py_RETURN_FALSE;
        return raise_errno(number);
    }
    Py_ssize_t last = PyList_GET_SIZE(parts) - 1;
    for (Py_ssize_t i = 0; i <= last; i++) {
        int flags = ZMQ_DONTWAIT | (i < last ? ZMQ_SNDMORE : 0);
        int rc = send_part(handle, PyList_GET_ITEM(parts, i), flags);
        if (rc == -2)
            return NULL; /* parts are checked before sending: cannot happen mid-message */
        if (rc < 0) {
            int number = p_errno();
            /* libzmq counts whole messages against the high water mark, so
               once the first part is queued the rest cannot hit EAGAIN. */
            if (i == 0 && number == EAGAIN)
                Py_RETURN_FALSE;
            return raise_errno(number);
        }
    }
    Py_RETURN_TRUE;
}

/* send_plain(handle, message) -> bool | None: send() of a message that needs
   no conversion: bytes, or a non-empty list or tuple of bytes (checked
   whole before anything is sent); None, having sent nothing, for any other
   message (the caller converts it with to_parts() and calls send()). */
static PyObject *sp_send_plain(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "send_plain(handle, message)");
        return NULL;
    }
    PyObject *message = args[1];
    if (PyBytes_CheckExact(message))
        return sp_send(self, args, 2);
    PyObject **items;
    Py_ssize_t size;
    if (PyList_CheckExact(message)) {
        items = ((PyListObject *)message)->ob_item;
        size = PyList_GET_SIZE(message);
    } else if (PyTuple_CheckExact(message)) {
        items = ((PyTupleObject *)message)->ob_item;
        size = PyTuple_GET_SIZE(message);
    } else {
        Py_RETURN_NONE;
    }
    if (size == 0)
        Py_RETURN_NONE;
    for (Py_ssize_t i = 0; i < size; i++)
        if (!PyBytes_CheckExact(items[i]))
            Py_RETURN_NONE;
    release_returned();
    void *handle = handle_of(args[0]);
    if (handle == NULL)
        return NULL;
    /* Parts of bytes cannot fail to export a buffer, and sending runs no
       Python code: the list cannot change under us. */
    for (Py_ssize_t i = 0; i < size; i++) {
        int flags = ZMQ_DONTWAIT | (i < size - 1 ? ZMQ_SNDMORE : 0);
        int rc = send_part(handle, items[i], flags);
        if (rc == -2)
            return NULL;
        if (rc < 0) {
            int number = p_errno();
            /* As in send(): only the first part can hit EAGAIN. */
            if (i == 0 && number == EAGAIN)
                Py_RETURN_FALSE;
            return raise_errno(number);
        }
    }
    Py_RETURN_TRUE;
}

/* recv_parts(handle) -> list[Part] | None: recv() without copying the parts. */
static PyObject *sp_recv_parts(PyObject *self, PyObject *arg) {
    void *handle = handle_of(arg);
    if (handle == NULL)
        return NULL;
    PyObject *parts = NULL;
    for (;;) {
        Part *part = PyObject_New(Part, &PartType);
        if (part == NULL) {
            Py_XDECREF(parts);
            return NULL;
        }
        p_msg_init(&part->msg);
        if (p_msg_recv(&part->msg, handle, ZMQ_DONTWAIT) < 0) {
            int number = p_errno();
            Py_DECREF(part);
            if (parts == NULL && number == EAGAIN)
                Py_RETURN_NONE;
            Py_XDECREF(parts);
            return raise_errno(number);
        }
        int more = p_msg_more(&part->msg);
        if (parts == NULL) {
            parts = PyList_New(0);
            if (parts == NULL) {
                Py_DECREF(part);
                return NULL;
            }
        }
        int rc = PyList_Append(parts, (PyObject *)part);
        Py_DECREF(part);
        if (rc < 0) {
            Py_DECREF(parts);
            return NULL;
        }
        if (!more)
            return parts;
    }
}

/* release() -> None: give back the buffers libzmq is done with. */
static PyObject *sp_release(PyObject *self, PyObject *unused) {
    release_returned();
    Py_RETURN_NONE;
}

/* events(handle) -> int: ZMQ_EVENTS, which also consumes the fd's edge. */
static PyObject *sp_events(PyObject *self, PyObject *arg) {
    void *handle = handle_of(arg);
    if (handle == NULL)
        return NULL;
    int events = 0;
    size_t size = sizeof(events);
    if (p_getsockopt(handle, ZMQ_EVENTS, &events, &size) < 0)
        return raise_errno(p_errno());
    return PyLong_FromLong(events);
}

/* bytes_parts(message) -> list | None: a new list of the parts when
   `message` is a list or tuple of bytes (nothing to convert), else None. */
static PyObject *sp_bytes_parts(PyObject *self, PyObject *message) {
    if (!PyList_CheckExact(message) && !PyTuple_CheckExact(message))
        Py_RETURN_NONE;
    PyObject *items = PySequence_Fast(message, "");
    if (items == NULL)
        return NULL;
    Py_ssize_t size = PySequence_Fast_GET_SIZE(items);
    PyObject **parts = PySequence_Fast_ITEMS(items);
    PyObject *result = NULL;
    if (size == 0)
        goto done;
    for (Py_ssize_t i = 0; i < size; i++)
        if (!PyBytes_CheckExact(parts[i]))
            goto done;
    result = PyList_New(size);
    if (result == NULL) {
        Py_DECREF(items);
        return NULL;
    }
    for (Py_ssize_t i = 0; i < size; i++)
        PyList_SET_ITEM(result, i, Py_NewRef(parts[i]));
done:
    Py_DECREF(items);
    if (result == NULL)
        Py_RETURN_NONE;
    return result;
}

#ifdef __linux__
/* Sleep, without the GIL, until the socket's ZMQ_EVENTS has a bit of `want`,
   `loop_fd` is readable, or the CLOCK_MONOTONIC time `deadline` (seconds;
   negative: none) has come: 1 in the first case (or when ZMQ_EVENTS cannot
   be read: the caller's retry raises the error), 0 otherwise (also when a
   signal interrupted the wait: its Python handler runs on return).

   `fd` is the socket's ZMQ_FD: readable while libzmq has commands queued
   for the socket. Reading ZMQ_EVENTS processes them (and clears the fd);
   a send's own attempt would not do that reliably (libzmq throttles command
   processing in send), and waking on every command would spin. See
   zeromq/_idle.py for why and when. */
static int sleep_until_ready(void *handle, int fd, int loop_fd, double deadline, int want) {
    int ready = 0;
    Py_BEGIN_ALLOW_THREADS
    for (;;) {
        struct timespec limit, *limitp = NULL;
        if (deadline >= 0) {
            struct timespec now;
            clock_gettime(CLOCK_MONOTONIC, &now);
            double left = deadline - ((double)now.tv_sec + (double)now.tv_nsec * 1e-9);
            if (left <= 0)
                break;
            limit.tv_sec = (time_t)left;
            limit.tv_nsec = (long)((left - (double)limit.tv_sec) * 1e9);
            limitp = &limit;
        }
        struct pollfd fds[2] = {{fd, POLLIN, 0}, {loop_fd, POLLIN, 0}};
        int rc = ppoll(fds, 2, limitp, NULL);
        if (rc <= 0 || fds[0].revents == 0)
            break; /* timeout, signal, error, or the loop has work */
        int events = 0;
        size_t size = sizeof(events);
        if (p_getsockopt(handle, ZMQ_EVENTS, &events, &size) < 0 || (events & want)) {
            ready = 1;
            break;
        }
        /* Not what we wait for. The loop's fd may have been readable only
           because it watches this fd too: poll again, which returns at once
           if it has other work. */
    }
    Py_END_ALLOW_THREADS
    return ready;
}

/* wait_ready(handle, fd, loop_fd, deadline, want) -> bool: sleep_until_ready. */
static PyObject *sp_wait_ready(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 5) {
        PyErr_SetString(PyExc_TypeError, "wait_ready(handle, fd, loop_fd, deadline, want)");
        return NULL;
    }
    void *handle = PyLong_AsVoidPtr(args[0]);
    long fd = PyLong_AsLong(args[1]);
    long loop_fd = PyLong_AsLong(args[2]);
    double deadline = PyFloat_AsDouble(args[3]);
    long want = PyLong_AsLong(args[4]);
    if (PyErr_Occurred())
        return NULL;
    if (handle == NULL)
        Py_RETURN_TRUE; /* closed: let the retry raise ENOTSOCK */
    return PyBool_FromLong(sleep_until_ready(handle, (int)fd, (int)loop_fd, deadline, (int)want));
}

/* The attributes of asyncio's stock loop that loop_is_idle() reads;
   zeromq/_idle.py checks at a loop's first use that they are what it
   relies on, and only then hands the loop to recv_idle(). */
static PyObject *s_thread_id, *s_ready, *s_stopping, *s_debug, *s_scheduled, *s_when;

/* asyncio's set of the tasks running their eager first step (Python 3.12+),
   handed over by zeromq/_idle.py; NULL where there is none. Such a step runs
   inside the step of the task that created it, which is in no ready queue:
   an empty `_ready` does not mean the loop has nothing to do then. */
static PyObject *eager_tasks;

/* watch_eager_tasks(tasks: set) -> None */
static PyObject *sp_watch_eager_tasks(PyObject *self, PyObject *tasks) {
    if (!PySet_CheckExact(tasks)) {
        PyErr_SetString(PyExc_TypeError, "watch_eager_tasks() needs asyncio's set of eager tasks");
        return NULL;
    }
    Py_XSETREF(eager_tasks, Py_NewRef(tasks));
    Py_RETURN_NONE;
}

/* 1 when `loop` runs in this thread and has nothing to do before its next
   timer (whose time goes to *deadline, or -1), 0 when it has, -1 on error. */
static int loop_is_idle(PyObject *loop, double *deadline) {
    PyObject *value = PyObject_GetAttr(loop, s_thread_id);
    if (value == NULL)
        return -1;
    int here = PyLong_Check(value) && PyLong_AsUnsignedLong(value) == PyThread_get_thread_ident();
    Py_DECREF(value);
    if (!here) {
        PyErr_Clear(); /* an overflowing id is simply not this thread's */
        return 0;
    }
    if (eager_tasks != NULL && PySet_GET_SIZE(eager_tasks) > 0)
        return 0; /* inside another task's step: see eager_tasks */
    PyObject *names[3] = {s_ready, s_stopping, s_debug};
    for (int i = 0; i < 3; i++) {
        value = PyObject_GetAttr(loop, names[i]);
        if (value == NULL)
            return -1;
        int busy = PyObject_IsTrue(value);
        Py_DECREF(value);
        if (busy != 0)
            return busy < 0 ? -1 : 0;
    }
    *deadline = -1.0;
    value = PyObject_GetAttr(loop, s_scheduled);
    if (value == NULL)
        return -1;
    if (PyList_Check(value) && PyList_GET_SIZE(value) > 0) {
        /* The head of the heap is the next timer (a cancelled one at worst,
           which only wakes us early). */
        PyObject *when = PyObject_GetAttr(PyList_GET_ITEM(value, 0), s_when);
        Py_DECREF(value);
        if (when == NULL)
            return -1;
        *deadline = PyFloat_AsDouble(when);
        Py_DECREF(when);
        if (*deadline == -1.0 && PyErr_Occurred())
            return -1;
        if (*deadline < 0)
            *deadline = 0; /* due already: do not sleep */
        return 1;
    }
    Py_DECREF(value);
    return 1;
}

/* Sleep, without the GIL, until `fd` or `loop_fd` is readable or the
   CLOCK_MONOTONIC time `deadline` (seconds; negative: none) has come:
   whether `fd` was readable. */
static int sleep_once(int fd, int loop_fd, double deadline) {
    int rc = 0;
    struct pollfd fds[2] = {{fd, POLLIN, 0}, {loop_fd, POLLIN, 0}};
    Py_BEGIN_ALLOW_THREADS
    struct timespec limit, *limitp = NULL;
    if (deadline >= 0) {
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        double left = deadline - ((double)now.tv_sec + (double)now.tv_nsec * 1e-9);
        if (left < 0)
            left = 0;
        limit.tv_sec = (time_t)left;
        limit.tv_nsec = (long)((left - (double)limit.tv_sec) * 1e9);
        limitp = &limit;
    }
    rc = ppoll(fds, 2, limitp, NULL);
    Py_END_ALLOW_THREADS
    return rc > 0 && fds[0].revents != 0;
}

static double monotonic_now(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)now.tv_sec + (double)now.tv_nsec * 1e-9;
}

/* recv_idle(handle, fd, loop, loop_fd, timeout_ms) -> list[bytes] | float | None:
   recv(), and while it finds no message and `loop` (asyncio's stock loop,
   checked by zeromq/_idle.py) runs in this thread with nothing else to do,
   sleep in the loop's place until the socket's fd signals (or the loop's
   next timer is due), and receive again. A message: done. None: no message,
   and no time was spent asleep: the caller waits through the loop as usual.
   A float: no message after a sleep; the CLOCK_MONOTONIC time (the stock
   loop's clock) at which the receive's `timeout_ms` ends, counted from the
   first attempt, which the caller keeps (-1 without a timeout).

   Unlike a send, a receive that finds no message processes all of libzmq's
   pending commands before it gives up (zmq_msg_recv with ZMQ_DONTWAIT), so
   it consumes the fd's signal: retrying at each signal cannot spin, and no
   ZMQ_EVENTS read is needed in between. */
static PyObject *sp_recv_idle(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 5) {
        PyErr_SetString(PyExc_TypeError, "recv_idle(handle, fd, loop, loop_fd, timeout_ms)");
        return NULL;
    }
    long fd = PyLong_AsLong(args[1]);
    long loop_fd = PyLong_AsLong(args[3]);
    long timeout_ms = PyLong_AsLong(args[4]);
    if (PyErr_Occurred())
        return NULL;
    double ends = -1.0; /* when the timeout ends, once slept */
    int slept = 0;
    for (;;) {
        PyObject *message = sp_recv(self, args[0]);
        if (message != Py_None)
            return message; /* a message, or NULL with the error set */
        double deadline;
        int idle = loop_is_idle(args[2], &deadline);
        if (idle < 0) {
            Py_DECREF(message);
            return NULL;
        }
        if (idle && !slept && timeout_ms > 0)
            ends = monotonic_now() + (double)timeout_ms / 1000;
        if (idle && ends >= 0 && (deadline < 0 || ends < deadline))
            deadline = ends;
        if (!idle || deadline == 0 || !sleep_once((int)fd, (int)loop_fd, deadline)) {
            /* The loop has work, its next timer or our timeout is due. */
            if (!slept && !idle)
                return message;
            Py_DECREF(message);
            return PyFloat_FromDouble(ends);
        }
        slept = 1;
        Py_DECREF(message);
    }
}
#endif

static PyMethodDef methods[] = {
    {"init", sp_init, METH_VARARGS, "init(addresses, error_type): bind to libzmq's functions."},
    {"recv", sp_recv, METH_O, "recv(handle) -> list[bytes] | None: one whole message, or None."},
    {"send", (PyCFunction)(void (*)(void))sp_send, METH_FASTCALL,
     "send(handle, parts) -> bool: queue one message; False if it must wait."},
    {"send_plain", (PyCFunction)(void (*)(void))sp_send_plain, METH_FASTCALL,
     "send_plain(handle, message) -> bool | None: send() of bytes or a list or tuple of bytes; None for others."},
    {"events", sp_events, METH_O, "events(handle) -> int: the socket's ZMQ_EVENTS."},
    {"recv_parts", sp_recv_parts, METH_O, "recv_parts(handle) -> list[Part] | None: without copies."},
    {"bytes_parts", sp_bytes_parts, METH_O,
     "bytes_parts(message) -> list | None: a copy of a list or tuple of bytes, else None."},
    {"release", sp_release, METH_NOARGS, "release(): give back buffers libzmq is done with."},
#ifdef __linux__
    {"wait_ready", (PyCFunction)(void (*)(void))sp_wait_ready, METH_FASTCALL,
     "wait_ready(handle, fd, loop_fd, deadline, want) -> bool: whether the socket became ready first."},
    {"recv_idle", (PyCFunction)(void (*)(void))sp_recv_idle, METH_FASTCALL,
     "recv_idle(handle, fd, loop, loop_fd, timeout_ms) -> list[bytes] | float | None: recv(), sleeping in an idle loop's place."},
    {"watch_eager_tasks", sp_watch_eager_tasks, METH_O,
     "watch_eager_tasks(tasks): asyncio's set of eager tasks; recv_idle() never sleeps while one runs."},
#endif
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "zeromq._speedups", "The engine's hot calls in C.", -1, methods,
};

/* A forked child starts with one thread: the lock may have been held by an
   I/O thread that does not exist there, and the loans are the parent's. */
static void after_fork_in_child(void) {
    pthread_mutex_init(&returned_lock, NULL);
    returned = NULL;
}

PyMODINIT_FUNC PyInit__speedups(void) {
    if (PyType_Ready(&PartType) < 0)
        return NULL;
    pthread_atfork(NULL, NULL, after_fork_in_child);
#ifdef __linux__
    const char *attrs[6] = {"_thread_id", "_ready", "_stopping", "_debug", "_scheduled", "_when"};
    PyObject **slots[6] = {&s_thread_id, &s_ready, &s_stopping, &s_debug, &s_scheduled, &s_when};
    for (int i = 0; i < 6; i++)
        if ((*slots[i] = PyUnicode_InternFromString(attrs[i])) == NULL)
            return NULL;
#endif
    PyObject *mod = PyModule_Create(&module);
    if (mod == NULL)
        return NULL;
    if (PyModule_AddObjectRef(mod, "Part", (PyObject *)&PartType) < 0) {
        Py_DECREF(mod);
        return NULL;
    }
    return mod;
}
