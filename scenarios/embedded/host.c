/* host.c: a C program that embeds CPython, the way a server written in C
 * hosts Python handlers. Two native threads (pthreads, not Python threads)
 * each take requests and call the Python handler with PyGILState_Ensure.
 * The handler fills a cache with a check-then-act and no lock.
 *
 * Nothing here mentions cachewatch: it is switched on from the environment
 * (CACHEWATCH_OPTIONS), and its report shows this program's own functions,
 * host_handle_request and host_worker, below the Python frames.
 *
 * Usage: host PYTHON [MODULE]   (PYTHON: the interpreter whose installation
 * to use, for its site-packages; MODULE: the handler module, embedded_app) */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <pthread.h>
#include <stdio.h>

#define WORKERS 2
#define REQUESTS 5

static PyObject *handler; /* embedded_app.handle */

__attribute__((noinline)) static void host_handle_request(int request)
{
    PyGILState_STATE gil = PyGILState_Ensure();
    PyObject *result = PyObject_CallFunction(handler, "i", request);
    if (result == NULL)
        PyErr_Print();
    Py_XDECREF(result);
    PyGILState_Release(gil);
}

__attribute__((noinline)) static void *host_worker(void *arg)
{
    (void)arg;
    for (int i = 0; i < REQUESTS; i++)
        host_handle_request(i);
    return NULL;
}

int main(int argc, char **argv)
{
    PyConfig config;
    PyConfig_InitPythonConfig(&config);
    if (argc > 1) /* find that interpreter's installation (and its .pth files) */
        PyConfig_SetBytesString(&config, &config.program_name, argv[1]);
    PyStatus status = Py_InitializeFromConfig(&config);
    PyConfig_Clear(&config);
    if (PyStatus_Exception(status))
        Py_ExitStatusException(status);

    PyObject *module = PyImport_ImportModule(argc > 2 ? argv[2] : "embedded_app");
    if (module == NULL || (handler = PyObject_GetAttrString(module, "handle")) == NULL) {
        PyErr_Print();
        return 2;
    }
    PyThreadState *main_state = PyEval_SaveThread();
    pthread_t workers[WORKERS];
    for (int i = 0; i < WORKERS; i++)
        pthread_create(&workers[i], NULL, host_worker, NULL);
    for (int i = 0; i < WORKERS; i++)
        pthread_join(workers[i], NULL);
    PyEval_RestoreThread(main_state);

    Py_DECREF(handler);
    Py_DECREF(module);
    printf("host: %d requests served\n", WORKERS * REQUESTS);
    return Py_FinalizeEx() < 0 ? 1 : 0;
}
