/*
 * cpp_check.hpp: the checks of the C++ tests (c-tests/test_cpp_*.cpp), which test
 * include/processing.hpp. testutil.h is C11; this is its small C++ counterpart.
 *
 * CHECK(cond) and CHECK_THROWS(expr, status) count themselves; the first failing one
 * prints file:line and the expression, kills this process's children and exits 1.
 * cpp_check::init() arms alarm(50) as a safety net; cpp_check::done() checks that no
 * child is left and prints the summary. RUN(test) names each test as it starts. Code
 * running in a child must not CHECK: it reports through its exit code or a pc:: object.
 */
#ifndef CPP_CHECK_HPP
#define CPP_CHECK_HPP

#include <processing.hpp>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <exception>

#include <unistd.h>

namespace cpp_check {

inline int checks = 0;

[[noreturn]] inline void fail(const char *file, int line, const char *what, const char *why)
{
    std::fprintf(stderr, "%s:%d: FAILED: %s%s%s\n", file, line, what, why ? ": " : "",
                 why ? why : "");
    std::fflush(stderr);
    pc_process *kids[64];
    std::size_t n = 0;
    if (pc_active_children(kids, 64, &n) == PC_OK)
        for (std::size_t i = 0; i < n && i < 64; i++)
            (void)pc_process_kill(kids[i]);
    std::_Exit(1);
}

inline void init(unsigned seconds = 50) { alarm(seconds); }

inline int done(const char *program)
{
    std::size_t n = 0;
    if (pc_active_children(nullptr, 0, &n) != PC_OK || n != 0)
        fail(__FILE__, __LINE__, "no child left at the end", nullptr);
    std::printf("%s: %d checks passed\n", program, checks);
    return 0;
}

} // namespace cpp_check

#define CHECK(cond)                                                                          \
    do {                                                                                     \
        cpp_check::checks++;                                                                 \
        if (!(cond))                                                                         \
            cpp_check::fail(__FILE__, __LINE__, #cond, nullptr);                             \
    } while (0)

/* Checks that `expr` throws pc::error with status `want`. */
#define CHECK_THROWS(expr, want)                                                             \
    do {                                                                                     \
        cpp_check::checks++;                                                                 \
        bool thrown_ = false;                                                                \
        try {                                                                                \
            (void)(expr);                                                                    \
        } catch (const pc::error &e_) {                                                      \
            thrown_ = true;                                                                  \
            if (e_.status() != (want))                                                       \
                cpp_check::fail(__FILE__, __LINE__, #expr, e_.what());                       \
        }                                                                                    \
        if (!thrown_)                                                                        \
            cpp_check::fail(__FILE__, __LINE__, #expr, "did not throw");                     \
    } while (0)

/* Runs a test function, turning an unexpected exception into a failure. */
#define RUN(test)                                                                            \
    do {                                                                                     \
        try {                                                                                \
            std::printf("%s\n", #test);                                                      \
            std::fflush(stdout);                                                             \
            test();                                                                          \
        } catch (const std::exception &e_) {                                                 \
            cpp_check::fail(__FILE__, __LINE__, #test, e_.what());                           \
        }                                                                                    \
    } while (0)

#endif
