/* libprocessing-mpi: the MPI back end's calls into MPI, as a plugin.
 *
 * libprocessing never links MPI: it loads this module (built where CMake's FindMPI found
 * an MPI) with dlopen when a program runs under mpiexec, and calls MPI only through the
 * table below. So the library itself depends on no MPI, a program that does not use MPI
 * never loads one, and the MPI-specific constants (MPI_COMM_WORLD is a pointer in Open
 * MPI and an int in MPICH) stay on this side. Everything else (the protocol, the
 * polling, the pool) is the library's, in src/mpi/.
 *
 * Every function returns an MPI error code (MPI_SUCCESS is 0); errors come back rather
 * than abort, since MPI_COMM_WORLD gets MPI_ERRORS_RETURN. Messages are bytes, at most
 * INT_MAX of them (the library splits larger ones).
 */
#include <limits.h>
#include <mpi.h>
#include <stddef.h>
#include <string.h>

/* The table's layout; the library checks `version` before using the rest. */
struct pc_mpi_plugin {
    unsigned version;
    /* MPI_Init_thread, asking for MPI_THREAD_MULTIPLE, unless the program initialized
     * MPI itself; then the rank, the size and whether threads may call MPI at once. */
    int (*init)(int *rank, int *size, int *multiple, int *serialized);
    /* MPI_Finalize, if init initialized MPI. */
    int (*finalize)(void);
    int (*send)(const void *data, int len, int dest, int tag);
    /* MPI_Iprobe from `source` (-1: any), any tag: *found, and the message's length,
     * source and tag. */
    int (*probe)(int source, int *found, int *len, int *from, int *tag);
    int (*recv)(void *data, int len, int source, int tag);
    /* MPI_Error_string into `text` (at least MPI_MAX_ERROR_STRING bytes: 512). */
    void (*error_text)(int code, char *text, int len);
    /* MPI_Get_library_version, for messages. */
    void (*library)(char *text, int len);
};

static int initialized_here;

static int plugin_init(int *rank, int *size, int *multiple, int *serialized) {
    int already = 0;
    int rc = MPI_Initialized(&already);
    int provided = MPI_THREAD_SINGLE;
    if (rc == MPI_SUCCESS && already) {
        rc = MPI_Query_thread(&provided);
    } else if (rc == MPI_SUCCESS) {
        rc = MPI_Init_thread(NULL, NULL, MPI_THREAD_MULTIPLE, &provided);
        initialized_here = rc == MPI_SUCCESS;
    }
    if (rc == MPI_SUCCESS) {
        rc = MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    }
    if (rc == MPI_SUCCESS) {
        rc = MPI_Comm_rank(MPI_COMM_WORLD, rank);
    }
    if (rc == MPI_SUCCESS) {
        rc = MPI_Comm_size(MPI_COMM_WORLD, size);
    }
    *multiple = provided >= MPI_THREAD_MULTIPLE;
    *serialized = provided >= MPI_THREAD_SERIALIZED;
    return rc;
}

static int plugin_finalize(void) {
    if (!initialized_here) {
        return MPI_SUCCESS;
    }
    initialized_here = 0;
    return MPI_Finalize();
}

static int plugin_send(const void *data, int len, int dest, int tag) {
    return MPI_Send(data, len, MPI_BYTE, dest, tag, MPI_COMM_WORLD);
}

static int plugin_probe(int source, int *found, int *len, int *from, int *tag) {
    MPI_Status status;
    int rc = MPI_Iprobe(source < 0 ? MPI_ANY_SOURCE : source, MPI_ANY_TAG, MPI_COMM_WORLD,
                        found, &status);
    if (rc == MPI_SUCCESS && *found) {
        rc = MPI_Get_count(&status, MPI_BYTE, len);
        *from = status.MPI_SOURCE;
        *tag = status.MPI_TAG;
    }
    return rc;
}

static int plugin_recv(void *data, int len, int source, int tag) {
    return MPI_Recv(data, len, MPI_BYTE, source, tag, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
}

static void plugin_error_text(int code, char *text, int len) {
    char buf[MPI_MAX_ERROR_STRING];
    int n = 0;
    if (len <= 0) {
        return;
    }
    if (MPI_Error_string(code, buf, &n) != MPI_SUCCESS) {
        n = 0;
    }
    if (n >= len) {
        n = len - 1;
    }
    memcpy(text, buf, (size_t)n);
    text[n] = '\0';
}

static void plugin_library(char *text, int len) {
    char buf[MPI_MAX_LIBRARY_VERSION_STRING];
    int n = 0;
    if (len <= 0) {
        return;
    }
    if (MPI_Get_library_version(buf, &n) != MPI_SUCCESS) {
        n = 0;
    }
    /* The first line only. */
    const char *eol = memchr(buf, '\n', (size_t)n);
    if (eol) {
        n = (int)(eol - buf);
    }
    if (n >= len) {
        n = len - 1;
    }
    memcpy(text, buf, (size_t)n);
    text[n] = '\0';
}

static const struct pc_mpi_plugin plugin = {
    1, plugin_init, plugin_finalize, plugin_send, plugin_probe, plugin_recv,
    plugin_error_text, plugin_library,
};

/* The one symbol the library looks up. */
__attribute__((visibility("default"))) const struct pc_mpi_plugin *pc_mpi_plugin_v1(void) {
    return &plugin;
}
