/* report_signal.c: the report signal, heard whatever the main thread does.
 *
 * Python runs a signal's handler in the main thread, when that thread next
 * runs Python code: a server whose main thread waits in C (uWSGI's worker
 * core 0 in accept) never would. The C handler here posts a semaphore (safe
 * in a signal handler) that a reporter thread waits on with the GIL
 * released, and then calls the handler it replaced (Python's, which still
 * runs the Python one when the main thread gets to it). */
#include "binding.h"

#include <errno.h>
#include <semaphore.h>
#include <signal.h>
#include <string.h>

static sem_t posted;
static int ready;                 /* guarded by the GIL */
static struct sigaction replaced; /* the handler before ours */

static void on_report_signal(int signo, siginfo_t *info, void *context)
{
    int saved = errno;
    sem_post(&posted);
    if (replaced.sa_flags & SA_SIGINFO) {
        if (replaced.sa_sigaction != NULL)
            replaced.sa_sigaction(signo, info, context);
    } else if (replaced.sa_handler != SIG_DFL && replaced.sa_handler != SIG_IGN) {
        replaced.sa_handler(signo); /* never the default action: it ends the process */
    }
    errno = saved;
}

/* hear_report_signal(signum): route signum through the semaphore too. */
static PyObject *py_hear_report_signal(PyObject *self, PyObject *arg)
{
    (void)self;
    int signum = PyLong_AsLong(arg);
    if (signum == -1 && PyErr_Occurred())
        return NULL;
    if (!ready) {
        if (sem_init(&posted, 0, 0) != 0)
            return PyErr_SetFromErrno(PyExc_OSError);
        ready = 1;
    }
    struct sigaction ours, old;
    memset(&ours, 0, sizeof(ours));
    ours.sa_sigaction = on_report_signal;
    ours.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(&ours.sa_mask);
    if (sigaction(signum, NULL, &old) != 0)
        return PyErr_SetFromErrno(PyExc_OSError);
    if (old.sa_sigaction == on_report_signal) /* a second start: keep the first's */
        Py_RETURN_NONE;
    replaced = old;
    if (sigaction(signum, &ours, NULL) != 0)
        return PyErr_SetFromErrno(PyExc_OSError);
    Py_RETURN_NONE;
}

/* wait_report_signal(): block (GIL released) until the signal arrived. */
static PyObject *py_wait_report_signal(PyObject *self, PyObject *noargs)
{
    (void)self;
    (void)noargs;
    if (!ready)
        Py_RETURN_FALSE;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    do {
        rc = sem_wait(&posted);
    } while (rc != 0 && errno == EINTR);
    Py_END_ALLOW_THREADS
    if (rc != 0)
        Py_RETURN_FALSE;
    while (sem_trywait(&posted) == 0) {
        /* a storm of signals is one report */
    }
    Py_RETURN_TRUE;
}

PyMethodDef cw_report_signal_methods[] = {
    {"hear_report_signal", py_hear_report_signal, METH_O,
     "hear_report_signal(signum): the signal also wakes wait_report_signal(), in any thread."},
    {"wait_report_signal", py_wait_report_signal, METH_NOARGS,
     "Block until the report signal arrives; False if it is not heard."},
    {NULL, NULL, 0, NULL},
};
