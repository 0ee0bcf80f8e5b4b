/*
 * bench_manager_server.c: a libprocessing manager server for Python clients, the C side
 * of the row "A Python client's dict round trip: C server vs Python server" (peers.py's
 * manager_py_client_rtt_c_server starts it and times its own `d[k] = i; d[k]`).
 *
 *     bench_manager_server AUTHKEY [ADDRESS]
 *
 * Starts a manager on ADDRESS (default tcp://127.0.0.1:0, a free port) with the bytes of
 * AUTHKEY as its key, prints the address it got (`tcp://127.0.0.1:PORT`) on one line, and
 * serves until its standard input ends (the client closes it, or dies); then it shuts the
 * server down and exits with 0. Unmodified Python clients use it as a SyncManager:
 * `SyncManager(("127.0.0.1", PORT), AUTHKEY).connect()`, then `m.dict()`.
 */
#include "bench_lib.h"

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: %s AUTHKEY [ADDRESS]\n", argv[0]);
        return 2;
    }
    const char *address = argc > 2 ? argv[2] : "tcp://127.0.0.1:0";
    pc_manager *m = NULL;
    PC_CHECK(pc_manager_new(address, argv[1], strlen(argv[1]), &m));
    PC_CHECK(pc_manager_start(m));
    printf("%s\n", pc_manager_address(m));
    fflush(stdout);
    char buf[256];
    while (fread(buf, 1, sizeof buf, stdin) > 0)
        ;
    PC_CHECK(pc_manager_shutdown(m));
    pc_manager_free(m);
    return 0;
}
