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
#include <structmember.h>
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

/* -- Waiter ---------------------------------------------------------------
 * The C twin of _engine.Waiter (its docstring says what and why): what a
 * waiting send or receive awaits, a minimal Future-like object that asyncio's
 * Task accepts (it has `_asyncio_future_blocking`). Same names, same states,
 * same rules; the engine uses this one when the accelerator is built, and
 * tests/test_engine.py runs the same tests on both. Its whole cycle (made,
 * awaited, called back, woken, resumed) is several Python calls in the
 * Python twin, on every wait. */

enum { W_PENDING, W_READY, W_EXPIRED, W_CANCELLED };

typedef struct {
    PyObject_HEAD
    PyObject *loop;
    PyObject *callback; /* the Task's wake-up, while it waits; else NULL */
    PyObject *context;  /* the context to run it in; NULL: the current one's copy */
    PyObject *cancel_message; /* cancel()'s, which CancelledError carries; NULL: none */
    int state;
    char blocking; /* _asyncio_future_blocking */
    char late;     /* _late: the deadline has passed (set for good) */
    char yielded;  /* this `await` has yielded: its next send resumes it */
} Waiter;

static PyTypeObject WaiterType;
static PyObject *s_call_soon, *context_kwnames; /* "call_soon", ("context",) */

/* asyncio's exception class `name` (cold paths only). */
static PyObject *asyncio_error(const char *name) {
    PyObject *mod = PyImport_ImportModule("asyncio.exceptions");
    if (mod == NULL)
        return NULL;
    PyObject *cls = PyObject_GetAttrString(mod, name);
    Py_DECREF(mod);
    return cls;
}

static PyObject *raise_asyncio_error(const char *name, const char *message) {
    PyObject *cls = asyncio_error(name);
    if (cls != NULL) {
        PyErr_SetString(cls, message);
        Py_DECREF(cls);
    }
    return NULL;
}

/* What a cancelled Future raises: CancelledError(msg), or CancelledError()
   without a message, as asyncio makes it (and the Python twin). */
static PyObject *raise_cancelled(Waiter *self) {
    PyObject *cls = asyncio_error("CancelledError");
    if (cls == NULL)
        return NULL;
    PyObject *exc = self->cancel_message ? PyObject_CallOneArg(cls, self->cancel_message) : PyObject_CallNoArgs(cls);
    if (exc != NULL) {
        PyErr_SetObject(cls, exc);
        Py_DECREF(exc);
    }
    Py_DECREF(cls);
    return NULL;
}

/* loop.call_soon(callback, waiter, context=context) */
static int call_soon(Waiter *self, PyObject *callback, PyObject *context) {
    PyObject *args[5] = {NULL, self->loop, callback, (PyObject *)self, context ? context : Py_None};
    PyObject *result = PyObject_VectorcallMethod(
        s_call_soon, args + 1, 3 | PY_VECTORCALL_ARGUMENTS_OFFSET, context_kwnames);
    if (result == NULL)
        return -1;
    Py_DECREF(result);
    return 0;
}

static PyObject *waiter_vectorcall(PyObject *type, PyObject *const *args, size_t nargsf, PyObject *kwnames) {
    if (PyVectorcall_NARGS(nargsf) != 1 || (kwnames != NULL && PyTuple_GET_SIZE(kwnames))) {
        PyErr_SetString(PyExc_TypeError, "Waiter(loop)");
        return NULL;
    }
    Waiter *self = (Waiter *)((PyTypeObject *)type)->tp_alloc((PyTypeObject *)type, 0);
    if (self == NULL)
        return NULL;
    self->loop = Py_NewRef(args[0]);
    return (PyObject *)self; /* the rest zeroed: pending, no callback */
}

static PyObject *waiter_new(PyTypeObject *type, PyObject *args, PyObject *kwds) {
    if (kwds != NULL && PyDict_GET_SIZE(kwds)) {
        PyErr_SetString(PyExc_TypeError, "Waiter(loop)");
        return NULL;
    }
    return waiter_vectorcall((PyObject *)type, &PyTuple_GET_ITEM(args, 0), (size_t)PyTuple_GET_SIZE(args), NULL);
}

static int waiter_traverse(Waiter *self, visitproc visit, void *arg) {
    Py_VISIT(self->loop);
    Py_VISIT(self->callback);
    Py_VISIT(self->context);
    Py_VISIT(self->cancel_message);
    return 0;
}

static int waiter_clear(Waiter *self) {
    Py_CLEAR(self->loop);
    Py_CLEAR(self->callback);
    Py_CLEAR(self->context);
    Py_CLEAR(self->cancel_message);
    return 0;
}

static void waiter_dealloc(Waiter *self) {
    PyObject_GC_UnTrack(self);
    waiter_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* Complete the wait (a no-op once done); `now` resumes the task at once. */
static PyObject *do_wake(Waiter *self, int expired, int now) {
    if (self->state != W_PENDING)
        Py_RETURN_NONE;
    self->state = expired ? W_EXPIRED : W_READY;
    PyObject *callback = self->callback;
    self->callback = NULL;
    if (callback == NULL)
        Py_RETURN_NONE;
    /* The task's own context, even empty, is where it must run (as in the
       Python twin); only a callback added without one gets a copy. */
    PyObject *context = self->context ? Py_NewRef(self->context) : PyContext_CopyCurrent();
    int failed;
    if (context == NULL) {
        failed = 1;
    } else if (now) {
        failed = PyContext_Enter(context) < 0;
        if (!failed) {
            PyObject *result = PyObject_CallOneArg(callback, (PyObject *)self);
            failed = result == NULL;
            Py_XDECREF(result);
            if (PyContext_Exit(context) < 0)
                failed = 1;
        }
    } else {
        failed = call_soon(self, callback, context) < 0;
    }
    Py_DECREF(callback);
    Py_XDECREF(context);
    if (failed)
        return NULL;
    Py_RETURN_NONE;
}

/* wake(expired=False, now=False) */
static PyObject *waiter_wake(Waiter *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames) {
    int flags[2] = {0, 0}; /* expired, now */
    Py_ssize_t nkw = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
    if (nargs > 2) {
        PyErr_SetString(PyExc_TypeError, "wake(expired=False, now=False)");
        return NULL;
    }
    for (Py_ssize_t i = 0; i < nargs + nkw; i++) {
        int which = (int)i;
        if (i >= nargs) {
            PyObject *name = PyTuple_GET_ITEM(kwnames, i - nargs);
            if (PyUnicode_CompareWithASCIIString(name, "expired") == 0)
                which = 0;
            else if (PyUnicode_CompareWithASCIIString(name, "now") == 0)
                which = 1;
            else {
                PyErr_Format(PyExc_TypeError, "wake() got an unexpected keyword argument '%U'", name);
                return NULL;
            }
        }
        if ((flags[which] = PyObject_IsTrue(args[i])) < 0)
            return NULL;
    }
    return do_wake(self, flags[0], flags[1]);
}

/* rearm(): pending again, for the task's next wait; a wake that comes
   before that `await` makes it return at once. */
static PyObject *waiter_rearm(Waiter *self, PyObject *unused) {
    self->state = W_PENDING;
    self->blocking = 0;
    Py_RETURN_NONE;
}

static PyObject *waiter_done(Waiter *self, PyObject *unused) {
    return PyBool_FromLong(self->state != W_PENDING);
}

static PyObject *waiter_cancelled(Waiter *self, PyObject *unused) {
    return PyBool_FromLong(self->state == W_CANCELLED);
}

static PyObject *waiter_result(Waiter *self, PyObject *unused) {
    if (self->state == W_CANCELLED)
        return raise_cancelled(self);
    if (self->state == W_PENDING)
        return raise_asyncio_error("InvalidStateError", "the wait is not over");
    return PyBool_FromLong(self->state == W_EXPIRED);
}

static PyObject *waiter_exception(Waiter *self, PyObject *unused) {
    if (self->state == W_CANCELLED)
        return raise_cancelled(self);
    Py_RETURN_NONE;
}

/* add_done_callback(callback, *, context=None) */
static PyObject *waiter_add_done_callback(Waiter *self, PyObject *const *args, Py_ssize_t nargs,
                                          PyObject *kwnames) {
    PyObject *context = NULL;
    Py_ssize_t nkw = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
    if (nargs != 1 || nkw > 1 ||
        (nkw == 1 && PyUnicode_CompareWithASCIIString(PyTuple_GET_ITEM(kwnames, 0), "context") != 0)) {
        PyErr_SetString(PyExc_TypeError, "add_done_callback(callback, *, context=None)");
        return NULL;
    }
    if (nkw == 1 && args[1] != Py_None)
        context = args[1];
    if (self->state != W_PENDING) {
        if (call_soon(self, args[0], context) < 0)
            return NULL;
        Py_RETURN_NONE;
    }
    Py_XSETREF(self->callback, Py_NewRef(args[0]));
    Py_XSETREF(self->context, Py_XNewRef(context));
    Py_RETURN_NONE;
}

static PyObject *waiter_remove_done_callback(Waiter *self, PyObject *callback) {
    if (self->callback != NULL) {
        int equal = PyObject_RichCompareBool(self->callback, callback, Py_EQ);
        if (equal < 0)
            return NULL;
        if (equal) {
            Py_CLEAR(self->callback);
            return PyLong_FromLong(1);
        }
    }
    return PyLong_FromLong(0);
}

/* cancel(msg=None) -> bool (a Task passes its own cancel()'s message) */
static PyObject *waiter_cancel(Waiter *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames) {
    Py_ssize_t nkw = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
    if (nargs + nkw > 1 ||
        (nkw == 1 && PyUnicode_CompareWithASCIIString(PyTuple_GET_ITEM(kwnames, 0), "msg") != 0)) {
        PyErr_SetString(PyExc_TypeError, "cancel(msg=None)");
        return NULL;
    }
    if (self->state != W_PENDING)
        Py_RETURN_FALSE;
    self->state = W_CANCELLED;
    if (nargs + nkw == 1 && args[0] != Py_None)
        Py_XSETREF(self->cancel_message, Py_NewRef(args[0]));
    PyObject *callback = self->callback;
    self->callback = NULL;
    if (callback != NULL) {
        int failed = call_soon(self, callback, self->context);
        Py_DECREF(callback);
        if (failed < 0)
            return NULL;
    }
    Py_RETURN_TRUE;
}

/* `await waiter`: yields itself once while pending; then returns whether
   the wait expired. (A cancelled task is resumed by a throw at the yield.) */
static PySendResult waiter_send(Waiter *self, PyObject *arg, PyObject **result) {
    if (!self->yielded && self->state == W_PENDING) {
        self->yielded = 1;
        self->blocking = 1;
        *result = Py_NewRef(self);
        return PYGEN_NEXT;
    }
    if (!self->yielded && self->state == W_CANCELLED) {
        *result = raise_cancelled(self);
        return PYGEN_ERROR;
    }
    self->yielded = 0;
    *result = PyBool_FromLong(self->state == W_EXPIRED);
    return PYGEN_RETURN;
}

static PyObject *waiter_iternext(Waiter *self) {
    PyObject *result;
    switch (waiter_send(self, Py_None, &result)) {
    case PYGEN_NEXT:
        return result;
    case PYGEN_RETURN:
        PyErr_SetObject(PyExc_StopIteration, result);
        Py_DECREF(result);
        return NULL;
    default:
        return NULL;
    }
}

/* Each `await` starts afresh, as each call of the Python twin's __await__
   makes a new generator: one left by an exception thrown in at its yield (a
   cancellation) must not make the next `await` return as if woken. */
static PyObject *waiter_await(Waiter *self) {
    self->yielded = 0;
    return Py_NewRef(self);
}

static PyAsyncMethods waiter_as_async = {
    .am_await = (unaryfunc)waiter_await,
    .am_send = (sendfunc)waiter_send,
};

static PyMethodDef waiter_methods[] = {
    {"wake", (PyCFunction)(void (*)(void))waiter_wake, METH_FASTCALL | METH_KEYWORDS,
     "wake(expired=False, now=False): complete the wait (a no-op once done); `now` resumes the task at once."},
    {"rearm", (PyCFunction)waiter_rearm, METH_NOARGS, "rearm(): pending again, for the task's next wait."},
    {"done", (PyCFunction)waiter_done, METH_NOARGS, NULL},
    {"cancelled", (PyCFunction)waiter_cancelled, METH_NOARGS, NULL},
    {"result", (PyCFunction)waiter_result, METH_NOARGS, "result() -> bool: whether the wait expired."},
    {"exception", (PyCFunction)waiter_exception, METH_NOARGS, NULL},
    {"add_done_callback", (PyCFunction)(void (*)(void))waiter_add_done_callback, METH_FASTCALL | METH_KEYWORDS,
     NULL},
    {"remove_done_callback", (PyCFunction)waiter_remove_done_callback, METH_O, NULL},
    {"cancel", (PyCFunction)(void (*)(void))waiter_cancel, METH_FASTCALL | METH_KEYWORDS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyMemberDef waiter_members[] = {
    {"_asyncio_future_blocking", T_BOOL, offsetof(Waiter, blocking), 0, NULL},
    {"_late", T_BOOL, offsetof(Waiter, late), 0, NULL},
    {"_loop", T_OBJECT, offsetof(Waiter, loop), READONLY, NULL},
    {NULL, 0, 0, 0, NULL},
};

static PyTypeObject WaiterType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "zeromq._speedups.Waiter",
    .tp_basicsize = sizeof(Waiter),
    .tp_dealloc = (destructor)waiter_dealloc,
    .tp_as_async = &waiter_as_async,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "Waiter(loop): what a waiting send or receive awaits (the C twin of _engine.Waiter).",
    .tp_traverse = (traverseproc)waiter_traverse,
    .tp_clear = (inquiry)waiter_clear,
    .tp_iter = (getiterfunc)waiter_await,
    .tp_iternext = (iternextfunc)waiter_iternext,
    .tp_methods = waiter_methods,
    .tp_members = waiter_members,
    .tp_new = waiter_new,
    .tp_vectorcall = waiter_vectorcall,
};

/* -- the fd callback ------------------------------------------------------
 * on_readable(ref): the C twin of _engine._on_readable and Engine._poll(now=True),
 * for engines that read readiness with ZMQ_EVENTS (the engine registers it
 * only for those; the DRAFT thread-safe sockets keep the Python path). It
 * runs on every wake-up of every waiting operation. */

static PyObject *s_receivers, *s_senders, *s_target, *s_unwatch, *s_wake, *now_kwnames;

#define ZMQ_POLLIN 1
#define ZMQ_POLLOUT 2

/* Wake the head of `line` (a deque) at once, if there is one. */
static int wake_head(PyObject *line) {
    Py_ssize_t size = PyObject_Length(line);
    if (size <= 0)
        return (int)size;
    PyObject *head = PySequence_GetItem(line, 0);
    if (head == NULL)
        return -1;
    PyObject *result;
    if (Py_IS_TYPE(head, &WaiterType)) {
        result = do_wake((Waiter *)head, 0, 1);
    } else {
        PyObject *args[2] = {head, Py_True};
        result = PyObject_VectorcallMethod(s_wake, args, 1 | PY_VECTORCALL_ARGUMENTS_OFFSET, now_kwnames);
    }
    Py_DECREF(head);
    if (result == NULL)
        return -1;
    Py_DECREF(result);
    return 0;
}

static PyObject *sp_on_readable(PyObject *self, PyObject *ref) {
    PyObject *engine;
#if PY_VERSION_HEX >= 0x030D0000
    if (PyWeakref_GetRef(ref, &engine) < 0)
        return NULL;
    if (engine == NULL)
        Py_RETURN_NONE;
#else
    engine = PyWeakref_GetObject(ref);
    if (engine == NULL)
        return NULL;
    if (engine == Py_None)
        Py_RETURN_NONE;
    Py_INCREF(engine);
#endif
    PyObject *result = NULL, *receivers = NULL, *senders = NULL, *target = NULL;
    if ((receivers = PyObject_GetAttr(engine, s_receivers)) == NULL ||
        (senders = PyObject_GetAttr(engine, s_senders)) == NULL)
        goto done;
    Py_ssize_t waiting = PyObject_Length(receivers), sending = PyObject_Length(senders);
    if (waiting < 0 || sending < 0)
        goto done;
    if (waiting == 0 && sending == 0) {
        /* Nobody waits: stop watching (see _on_readable). */
        result = PyObject_CallMethodNoArgs(engine, s_unwatch);
        goto done;
    }
    if ((target = PyObject_GetAttr(engine, s_target)) == NULL)
        goto done;
    void *handle = PyLong_AsVoidPtr(target);
    int events = 0;
    size_t size = sizeof(events);
    if (handle == NULL || p_getsockopt(handle, ZMQ_EVENTS, &events, &size) < 0) {
        /* Closed: close() has woken the waiters. */
        PyErr_Clear();
        result = Py_NewRef(Py_None);
        goto done;
    }
    if ((events & ZMQ_POLLIN) && wake_head(receivers) < 0)
        goto done;
    /* The head resumed just now may have changed the lines: look afresh. */
    if ((events & ZMQ_POLLOUT) && wake_head(senders) < 0)
        goto done;
    result = Py_NewRef(Py_None);
done:
    Py_XDECREF(receivers);
    Py_XDECREF(senders);
    Py_XDECREF(target);
    Py_DECREF(engine);
    return result;
}

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
    {"on_readable", sp_on_readable, METH_O,
     "on_readable(ref): the event loop's callback for an engine's fd: wake the heads that can go on."},
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
    if (PyType_Ready(&PartType) < 0 || PyType_Ready(&WaiterType) < 0)
        return NULL;
    if ((s_call_soon = PyUnicode_InternFromString("call_soon")) == NULL ||
        (context_kwnames = Py_BuildValue("(s)", "context")) == NULL ||
        (now_kwnames = Py_BuildValue("(s)", "now")) == NULL)
        return NULL;
    const char *names[5] = {"_receivers", "_senders", "_target", "_unwatch", "wake"};
    PyObject **interned[5] = {&s_receivers, &s_senders, &s_target, &s_unwatch, &s_wake};
    for (int i = 0; i < 5; i++)
        if ((*interned[i] = PyUnicode_InternFromString(names[i])) == NULL)
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
    if (PyModule_AddObjectRef(mod, "Part", (PyObject *)&PartType) < 0 ||
        PyModule_AddObjectRef(mod, "Waiter", (PyObject *)&WaiterType) < 0) {
        Py_DECREF(mod);
        return NULL;
    }
    return mod;
}
