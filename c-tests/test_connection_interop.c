/*
 * test_connection_interop.c: the wire format and handshake against real Python peers
 * (include/processing.h: pc_listener_*, pc_client_connect): a C Listener with a Python
 * multiprocessing.connection.Client and a Python Listener with a C client, in the unix
 * path, unix abstract and TCP families, with and without an authkey, with a wrong key on
 * either side (PC_ERR_AUTH here, AuthenticationError there), and messages of 0 bytes to
 * several MiB echoed back. The machine's Python (3.11) answers only the legacy HMAC-MD5
 * form, so peers/sha256_peer.py plays a Python 3.12+ peer (the {sha256} form) in both
 * roles, and a legacy peer whose challenge starts with '{'.
 *
 * The peers are the scripts in c-tests/peers (found through $PC_SOURCE_DIR), run with
 * python3 from $PATH; without python3 the test says so and passes.
 *
 * ctest-timeout: 120
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "testutil.h"

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static const char KEY[] = "interop key \x01\x02\xff";
static const char WRONG[] = "not the key";

static char python[PATH_MAX];
static char peers_dir[PATH_MAX];
static char *tmp;

/* ---- running a Python peer ---- */

static bool find_python(void)
{
    const char *path = getenv("PATH");
    if (!path)
        return false;
    char *copy = strdup(path);
    CHECK(copy != NULL);
    bool found = false;
    for (char *save = NULL, *dir = strtok_r(copy, ":", &save); dir && !found;
         dir = strtok_r(NULL, ":", &save)) {
        snprintf(python, sizeof python, "%s/python3", dir);
        found = access(python, X_OK) == 0;
    }
    free(copy);
    return found;
}

static void find_peers(void)
{
    const char *src = getenv("PC_SOURCE_DIR");
    if (src) {
        snprintf(peers_dir, sizeof peers_dir, "%s/c-tests/peers", src);
    } else { /* run by hand: next to this file */
        snprintf(peers_dir, sizeof peers_dir, "%s", __FILE__);
        char *slash = strrchr(peers_dir, '/');
        if (slash)
            snprintf(slash, sizeof peers_dir - (size_t)(slash - peers_dir), "/peers");
        else
            snprintf(peers_dir, sizeof peers_dir, "peers");
    }
    char probe[PATH_MAX + 32];
    snprintf(probe, sizeof probe, "%s/mp_peer.py", peers_dir);
    if (access(probe, R_OK) != 0)
        FAIL("cannot find the Python peers in %s (set PC_SOURCE_DIR)", peers_dir);
}

struct peer {
    pid_t pid;
    int out; /* its stdout */
    char *argv[8];
    int out_w;
};

static int exec_peer(void *arg)
{
    struct peer *p = arg;
    if (dup2(p->out_w, 1) < 0)
        return 126;
    execv(python, p->argv);
    return 127;
}

static char keyhex_buf[4][128];

/* The key as hex for the peers ('-' for none). */
static const char *hex(const char *key, int slot)
{
    if (!key)
        return "-";
    char *out = keyhex_buf[slot];
    out[0] = '\0';
    for (const unsigned char *k = (const unsigned char *)key; *k; k++)
        sprintf(out + strlen(out), "%02x", *k);
    return out;
}

/* Starts `script role address key [form]` (key NULL: none). */
static void peer_start(struct peer *p, const char *script, const char *role, const char *address,
                       const char *key, const char *form)
{
    static char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/%s", peers_dir, script);
    int fds[2];
    CHECK(pipe2(fds, O_CLOEXEC) == 0);
    *p = (struct peer){.out = fds[0], .out_w = fds[1]};
    int n = 0;
    p->argv[n++] = python;
    p->argv[n++] = path;
    p->argv[n++] = (char *)role;
    p->argv[n++] = (char *)address;
    p->argv[n++] = (char *)hex(key, 0);
    if (form)
        p->argv[n++] = (char *)form;
    p->argv[n] = NULL;
    p->pid = fork_sub(exec_peer, p);
    close(fds[1]);
}

/* Reads one line of the peer's output (without the newline), at most `timeout` s. */
static void peer_line(struct peer *p, char *line, size_t cap, double timeout)
{
    double deadline = now() + timeout;
    size_t n = 0;
    while (n + 1 < cap) {
        double left = deadline - now();
        char ch;
        if (left <= 0 || !read_exact(p->out, &ch, 1, left))
            FAIL("no line from the Python peer (so far: \"%.*s\")", (int)n, line);
        if (ch == '\n')
            break;
        line[n++] = ch;
    }
    line[n] = '\0';
}

/* Waits for the peer to end (exit status 0) and returns the rest of its output. */
static const char *peer_finish(struct peer *p)
{
    static char out[4096];
    read_until_eof(p->out, out, sizeof out, 20.0);
    close(p->out);
    int st = wait_sub(p->pid, 10.0);
    if (!(WIFEXITED(st) && WEXITSTATUS(st) == 0))
        FAIL("the Python peer ended with %s; it said:\n%s", status_text(st), out);
    tu_checks++;
    return out;
}

static void check_said(const char *out, const char *what)
{
    if (!tu_contains(out, what))
        FAIL("the Python peer did not say \"%s\"; it said:\n%s", what, out);
    tu_checks++;
}

/* ---- messages ---- */

static const size_t sizes[] = {0, 1, 16384, 16385, 65536, 5u << 20};
#define NSIZES (sizeof sizes / sizeof sizes[0])

/* The peer greets, then echoes each message; we close; it reports what it echoed.
 * Returns all it printed. */
static const char *echo_through(pc_connection *c, struct peer *p, bool greeting)
{
    if (greeting) {
        pc_bytes m = {NULL, 0};
        CHECK_OK(pc_connection_recv_bytes(c, 0, &m));
        if (m.len < 18 || memcmp(m.data, "hello from python ", 18) != 0)
            FAIL("the Python greeting is %zu bytes: %.*s", m.len, (int)m.len, (char *)m.data);
        pc_bytes_free(&m);
    }
    static uint8_t buf[5u << 20];
    size_t total = 0;
    for (size_t i = 0; i < NSIZES; i++) {
        fill_pattern(buf, sizes[i], (unsigned)(100 + i));
        CHECK_OK(pc_connection_send_bytes(c, buf, sizes[i]));
        recv_pattern(c, sizes[i], (unsigned)(100 + i));
        total += sizes[i];
    }
    /* Two at once before reading, into one buffer with recv_bytes_into. */
    CHECK_OK(pc_connection_send_bytes(c, "first", 5));
    CHECK_OK(pc_connection_send_bytes(c, "second", 6));
    size_t len = 0;
    CHECK_STATUS(pc_connection_recv_bytes_into(c, buf, 3, 0, &len), PC_ERR_BUFFER_TOO_SHORT);
    CHECK(len == 5);
    CHECK_OK(pc_connection_recv_bytes_into(c, buf, 64, 0, &len));
    CHECK(len == 5 && memcmp(buf, "first", 5) == 0);
    recv_expect(c, "second", 6);
    total += 11;
    CHECK_OK(pc_connection_close(c));
    const char *out = peer_finish(p);
    char want[64];
    snprintf(want, sizeof want, "ECHOED %zu %zu", NSIZES + 2, total);
    check_said(out, want);
    return out;
}

/* ---- addresses ---- */

enum family { ABSTRACT, PATH, TCP };
static const char *family_name[] = {"unix abstract", "unix path", "tcp"};

static const char *address_for(enum family f, char *buf, size_t cap)
{
    static int n;
    n++;
    switch (f) {
    case ABSTRACT:
        snprintf(buf, cap, "unix:@pc-test-interop-%d-%d", (int)getpid(), n);
        break;
    case PATH:
        snprintf(buf, cap, "unix:%s/interop-%d.sock", tmp, n);
        break;
    case TCP:
        snprintf(buf, cap, "tcp://127.0.0.1:0");
        break;
    }
    return buf;
}

/* ---- C listener, Python client ---- */

static void c_listener_python_client(enum family f, const char *key)
{
    fprintf(stderr, "   %s, %s\n", family_name[f], key ? "with an authkey" : "without");
    char address[256];
    pc_listener *l;
    CHECK_OK(pc_listener_new(f == ABSTRACT && !key ? NULL : address_for(f, address, sizeof address),
                             1, key, key ? strlen(key) : 0, &l));
    struct peer p;
    peer_start(&p, "mp_peer.py", "client", pc_listener_address(l), key, NULL);
    pc_connection *c;
    CHECK_OK(pc_listener_accept(l, 20.0, &c));
    echo_through(c, &p, true);
    pc_connection_free(c);

    if (key) {
        /* A Python client with the wrong key: refused on both sides... */
        peer_start(&p, "mp_peer.py", "client", pc_listener_address(l), WRONG, NULL);
        c = NULL;
        CHECK_STATUS(pc_listener_accept(l, 20.0, &c), PC_ERR_AUTH);
        CHECK(c == NULL);
        check_said(peer_finish(&p), "AUTH_ERROR");
        /* ...and the next good one is accepted. */
        peer_start(&p, "mp_peer.py", "client", pc_listener_address(l), key, NULL);
        CHECK_OK(pc_listener_accept(l, 20.0, &c));
        echo_through(c, &p, true);
        pc_connection_free(c);
    }
    pc_listener_free(l);
}

static void test_c_listener_python_client(void)
{
    for (enum family f = ABSTRACT; f <= TCP; f++) {
        c_listener_python_client(f, NULL);
        c_listener_python_client(f, KEY);
    }
}

/* ---- Python listener, C client ---- */

/* Starts a listening peer and reads the address it bound. */
static void listening_peer(struct peer *p, const char *script, enum family f, const char *key,
                           const char *form, char *bound, size_t cap)
{
    char address[256];
    peer_start(p, script, "listen", address_for(f, address, sizeof address), key, form);
    char line[512];
    peer_line(p, line, sizeof line, 20.0);
    if (strncmp(line, "ADDRESS ", 8) != 0)
        FAIL("the Python listener said \"%s\"", line);
    if (strlen(line + 8) >= cap)
        FAIL("the Python listener's address is too long: \"%s\"", line + 8);
    memcpy(bound, line + 8, strlen(line + 8) + 1);
    if (f == TCP)
        CHECK(strncmp(bound, "tcp://127.0.0.1:", 16) == 0);
    else
        CHECK(strcmp(bound, address) == 0);
}

static void python_listener_c_client(enum family f, const char *key)
{
    fprintf(stderr, "   %s, %s\n", family_name[f], key ? "with an authkey" : "without");
    struct peer p;
    char bound[256];
    listening_peer(&p, "mp_peer.py", f, key, NULL, bound, sizeof bound);
    pc_connection *c;
    CHECK_OK(pc_client_connect(bound, key, key ? strlen(key) : 0, &c));
    echo_through(c, &p, true);
    pc_connection_free(c);

    if (key) {
        listening_peer(&p, "mp_peer.py", f, key, NULL, bound, sizeof bound);
        c = NULL;
        CHECK_STATUS(pc_client_connect(bound, WRONG, strlen(WRONG), &c), PC_ERR_AUTH);
        CHECK_ERRMSG("pc_client_connect");
        CHECK(c == NULL);
        check_said(peer_finish(&p), "AUTH_ERROR");
    }
}

static void test_python_listener_c_client(void)
{
    for (enum family f = ABSTRACT; f <= TCP; f++) {
        python_listener_c_client(f, NULL);
        python_listener_c_client(f, KEY);
    }
}

/* ---- the {sha256} form (Python 3.12+) ---- */

static void test_sha256_peer(void)
{
    /* C listener, 3.12 client: the C side challenges in the {sha256} form and answers
     * the client's {sha256} challenge in kind. */
    pc_listener *l;
    CHECK_OK(pc_listener_new(NULL, 1, KEY, strlen(KEY), &l));
    struct peer p;
    fprintf(stderr, "   C listener, {sha256} client\n");
    peer_start(&p, "sha256_peer.py", "client", pc_listener_address(l), KEY, "sha256");
    pc_connection *c;
    CHECK_OK(pc_listener_accept(l, 20.0, &c));
    const char *out = echo_through(c, &p, false);
    check_said(out, "CHALLENGE_RECEIVED sha256 48");
    check_said(out, "ANSWER_RECEIVED ok 40");
    pc_connection_free(c);

    fprintf(stderr, "   C listener, {sha256} client with a wrong key\n");
    peer_start(&p, "sha256_peer.py", "client", pc_listener_address(l), WRONG, "sha256");
    c = NULL;
    CHECK_STATUS(pc_listener_accept(l, 20.0, &c), PC_ERR_AUTH);
    check_said(peer_finish(&p), "AUTH_ERROR digest sent was rejected");

    fprintf(stderr, "   C listener, a client with a legacy challenge\n");
    peer_start(&p, "sha256_peer.py", "client", pc_listener_address(l), KEY, "legacy");
    CHECK_OK(pc_listener_accept(l, 20.0, &c));
    CHECK_OK(pc_connection_close(c));
    out = peer_finish(&p);
    check_said(out, "ANSWER_RECEIVED ok 16");
    check_said(out, "ECHOED 0 0");
    pc_connection_free(c);
    pc_listener_free(l);

    /* 3.12 listener, C client. */
    fprintf(stderr, "   {sha256} listener, C client\n");
    char bound[256];
    listening_peer(&p, "sha256_peer.py", TCP, KEY, "sha256", bound, sizeof bound);
    CHECK_OK(pc_client_connect(bound, KEY, strlen(KEY), &c));
    out = echo_through(c, &p, false);
    check_said(out, "ANSWER_RECEIVED ok 40");
    check_said(out, "CHALLENGE_RECEIVED sha256 48");
    pc_connection_free(c);
    listening_peer(&p, "sha256_peer.py", PATH, KEY, "sha256", bound, sizeof bound);
    CHECK_OK(pc_client_connect(bound, KEY, strlen(KEY), &c));
    CHECK_OK(pc_connection_close(c));
    out = peer_finish(&p);
    check_said(out, "ANSWER_RECEIVED ok 40");
    check_said(out, "ECHOED 0 0");
    pc_connection_free(c);

    fprintf(stderr, "   {sha256} listener, C client with a wrong key\n");
    listening_peer(&p, "sha256_peer.py", ABSTRACT, KEY, "sha256", bound, sizeof bound);
    c = NULL;
    CHECK_STATUS(pc_client_connect(bound, WRONG, strlen(WRONG), &c), PC_ERR_AUTH);
    CHECK(c == NULL);
    check_said(peer_finish(&p), "AUTH_ERROR digest received was wrong");

    fprintf(stderr, "   legacy listener, C client\n");
    listening_peer(&p, "sha256_peer.py", ABSTRACT, KEY, "legacy", bound, sizeof bound);
    CHECK_OK(pc_client_connect(bound, KEY, strlen(KEY), &c));
    CHECK_OK(pc_connection_close(c));
    out = peer_finish(&p);
    check_said(out, "ANSWER_RECEIVED ok 16");
    check_said(out, "CHALLENGE_RECEIVED sha256 48");
    pc_connection_free(c);
}

/* A legacy (3.11) challenge is 20 random bytes; 1 in 256 starts with '{'. The answer is
 * still the raw 16-byte HMAC-MD5: the length alone tells the legacy form (CPython's
 * _get_digest_name_and_payload). Last, as it may fail (see the report). */
static void test_legacy_challenge_with_brace(void)
{
    struct peer p;
    char bound[256];
    listening_peer(&p, "sha256_peer.py", ABSTRACT, KEY, "legacy-brace", bound, sizeof bound);
    pc_connection *c = NULL;
    int st = pc_client_connect(bound, KEY, strlen(KEY), &c);
    pc_connection_free(c); /* the peer then sees EOF and ends */
    const char *out = peer_finish(&p);
    check_said(out, "ANSWER_RECEIVED ok 16");
    CHECK_STATUS(st, PC_OK);
    check_said(out, "ECHOED 0 0");
}

int main(void)
{
    tu_init("test_connection_interop", 110);
    if (!find_python()) {
        fprintf(stderr, "test_connection_interop: SKIP: python3 is not in PATH\n");
        return tu_done();
    }
    find_peers();
    tmp = temp_dir_new("pc-test-interop");
    RUN(test_c_listener_python_client);
    RUN(test_python_listener_c_client);
    RUN(test_sha256_peer);
    temp_dir_free(tmp);
    RUN(test_legacy_challenge_with_brace);
    return tu_done();
}
