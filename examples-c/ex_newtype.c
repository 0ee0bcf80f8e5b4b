/*
 * ex_newtype.c: custom types in a manager, the C version of the seed's ex_newtype.py:
 *
 *     class Foo(object):
 *         def f(self): print 'you called Foo.f()'
 *         def g(self): print 'you called Foo.g()'
 *         def _h(self): print 'you called Foo._h()'
 *
 *     def baz():                      # a generator, served through GeneratorProxy
 *         for i in xrange(10): yield i*i
 *
 *     class MyManager(BaseManager):
 *         Foo1 = CreatorMethod(Foo)                        # exposes f and g
 *         Foo2 = CreatorMethod(Foo, exposed=('g', '_h'))   # exposes g and _h
 *         baz = CreatorMethod(baz, proxytype=GeneratorProxy)
 *
 * A C type is a pc_type_vtable: `create` makes an object inside the manager's server,
 * `call` runs one of its methods there, `destroy` frees it, and `exposed` lists the
 * methods clients may call (any other is refused with PC_ERR_NOT_SUPPORTED before it
 * reaches the server). The objects live in the server process: the client only holds
 * proxies (pc_proxy), and every call is a round trip.
 *
 * The server is a fork of this program, so it has the same functions. Its output (the
 * "you called" lines) goes to the same terminal; the client checks every result.
 *
 * Build: cc ex_newtype.c -lprocessing
 */
#include <processing.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(expr)                                                                       \
    do {                                                                                  \
        int status_ = (expr);                                                             \
        if (status_ != PC_OK) {                                                           \
            fprintf(stderr, "%s:%d: %s: %s (%s)\n", __FILE__, __LINE__, #expr,            \
                    pc_status_str(status_), pc_last_error());                             \
            exit(1);                                                                      \
        }                                                                                 \
    } while (0)

#define EXPECT(cond)                                                                      \
    do {                                                                                  \
        if (!(cond)) {                                                                    \
            fprintf(stderr, "%s:%d: expected %s\n", __FILE__, __LINE__, #cond);           \
            exit(1);                                                                      \
        }                                                                                 \
    } while (0)

/* ---- Foo: its methods answer with the text they print ---- */

struct foo {
    int calls;
};

static void *foo_create(const pc_item *args, size_t nargs, void *ctx)
{
    (void)args, (void)nargs, (void)ctx;
    return calloc(1, sizeof(struct foo));
}

static int foo_call(void *obj, const char *method, const pc_item *args, size_t nargs,
                    pc_item_builder *result, void *ctx)
{
    (void)args, (void)nargs, (void)ctx;
    struct foo *foo = obj;
    char text[64];
    snprintf(text, sizeof text, "you called Foo.%s()", method);
    printf("%s\n", text);
    fflush(stdout);
    foo->calls++;
    return pc_item_builder_set(result, pc_item_str(text)) == PC_OK ? 0 : 1;
}

static void foo_destroy(void *obj, void *ctx)
{
    (void)ctx;
    free(obj);
}

static const char *const foo1_exposed[] = {"f", "g", NULL};
static const char *const foo2_exposed[] = {"g", "_h", NULL};

/* ---- baz: the squares 0, 1, 4, … 81; `next` past the end fails, like StopIteration ---- */

static void *baz_create(const pc_item *args, size_t nargs, void *ctx)
{
    (void)args, (void)nargs, (void)ctx;
    return calloc(1, sizeof(int));
}

static int baz_call(void *obj, const char *method, const pc_item *args, size_t nargs,
                    pc_item_builder *result, void *ctx)
{
    (void)method, (void)args, (void)nargs, (void)ctx;
    int *i = obj;
    if (*i >= 10) {
        pc_item_builder_fail(result, "StopIteration");
        return 1;
    }
    pc_item_builder_set(result, pc_item_int((int64_t)*i * *i));
    ++*i;
    return 0;
}

static const char *const baz_exposed[] = {"next", NULL};

/* Calls `method` on `p` and checks the answer is the text Foo prints. */
static void call_foo(pc_proxy *p, const char *method)
{
    pc_item answer;
    CHECK(pc_proxy_call(p, method, NULL, 0, &answer));
    char expected[64];
    snprintf(expected, sizeof expected, "you called Foo.%s()", method);
    EXPECT(answer.kind == PC_KIND_STR && answer.len == strlen(expected) &&
           memcmp(answer.data, expected, answer.len) == 0);
    pc_item_release(&answer);
}

int main(void)
{
    pc_manager *manager;
    CHECK(pc_manager_new(NULL, NULL, 0, &manager));
    pc_type_vtable foo1 = {foo_create, foo_call, foo_destroy, foo1_exposed, NULL};
    pc_type_vtable foo2 = {foo_create, foo_call, foo_destroy, foo2_exposed, NULL};
    pc_type_vtable baz = {baz_create, baz_call, foo_destroy, baz_exposed, NULL};
    CHECK(pc_manager_register(manager, "Foo1", &foo1));
    CHECK(pc_manager_register(manager, "Foo2", &foo2));
    CHECK(pc_manager_register(manager, "baz", &baz));
    CHECK(pc_manager_start(manager));

    printf("-------------------- Testing Foo1 --------------------\n");
    pc_proxy *f1;
    CHECK(pc_manager_create(manager, "Foo1", NULL, NULL, 0, &f1));
    call_foo(f1, "f");
    call_foo(f1, "g");
    EXPECT(pc_proxy_call(f1, "_h", NULL, 0, NULL) == PC_ERR_NOT_SUPPORTED);
    printf("calling _h: %s\n", pc_last_error());
    pc_proxy_free(f1);

    printf("-------------------- Testing Foo2 --------------------\n");
    pc_proxy *f2;
    CHECK(pc_manager_create(manager, "Foo2", NULL, NULL, 0, &f2));
    call_foo(f2, "g");
    call_foo(f2, "_h");
    EXPECT(pc_proxy_call(f2, "f", NULL, 0, NULL) == PC_ERR_NOT_SUPPORTED);
    printf("calling f: %s\n", pc_last_error());
    pc_proxy_free(f2);

    printf("-------------------- Testing baz --------------------\n");
    pc_proxy *it;
    CHECK(pc_manager_create(manager, "baz", NULL, NULL, 0, &it));
    pc_item square;
    int64_t expected = 0;
    int n = 0;
    while (pc_proxy_call(it, "next", NULL, 0, &square) == PC_OK) {
        EXPECT(square.kind == PC_KIND_INT && square.i == expected);
        printf("%lld\n", (long long)square.i);
        n++;
        expected = (int64_t)n * n;
    }
    EXPECT(n == 10);
    printf("then: %s\n", pc_last_error());
    pc_proxy_free(it);

    CHECK(pc_manager_shutdown(manager));
    pc_manager_free(manager);
    return 0;
}
