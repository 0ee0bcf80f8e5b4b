/*
 * test_cpp_process.cpp: processing.hpp's pc::Process: callables of every kind run in a
 * forked child with their captures, exit codes, exceptions, names, timeouts, terminate
 * and kill, the joining destructor, moves, and dummy (thread) processes. Built as C++17
 * (test_cpp_process) and C++20 (test_cpp_process_cxx20).
 *
 * ctest-timeout: 60
 */
#include "cpp_check.hpp"

#include <chrono>
#include <csignal>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

using namespace std::chrono_literals;

namespace {

int plain_function() { return 7; }

struct Functor {
    int code;
    int operator()() const { return code; }
};

void test_callables_and_exit_codes()
{
    pc::Process f(plain_function);
    pc::Process functor(Functor{9});
    pc::Process fn(std::function<int()>([] { return 11; }));
    pc::Process void_lambda([] {});
    auto owned = std::make_unique<int>(13); // a move-only capture
    pc::Process move_only([p = std::move(owned)] { return *p; });
    std::vector<pc::Process *> all{&f, &functor, &fn, &void_lambda, &move_only};
    for (auto *p : all) {
        CHECK(!p->exitcode().has_value()); // before start
        CHECK(!p->is_alive() && p->pid() == 0);
        p->start();
    }
    int want[] = {7, 9, 11, 0, 13};
    for (std::size_t i = 0; i < all.size(); i++) {
        CHECK(all[i]->try_join(10s));
        CHECK(all[i]->exitcode() == want[i]);
    }
    CHECK_THROWS(f.start(), PC_ERR_WRONG_STATE); // once only
}

/* Captures by reference name the child's copy of this memory: the child sees what the
 * parent had when it forked, and its writes stay in the child. */
void test_captures_are_valid_in_the_child()
{
    std::string greeting = "hello";
    std::vector<int> xs{1, 2, 3};
    pc::Value<int> seen(0);
    pc::Process p([&] {
        seen.set(static_cast<int>(greeting.size()) * 100 + xs[0] + xs[1] + xs[2]);
        greeting = "changed in the child";
        return getpid() != 0 ? 0 : 1;
    });
    p.start();
    CHECK(p.try_join(10s) && p.exitcode() == 0);
    CHECK(seen.get() == 506);
    CHECK(greeting == "hello");
}

void test_exception_exits_1()
{
    pc::Process p([]() -> int { throw std::runtime_error("from the child"); });
    p.start();
    CHECK(p.try_join(10s));
    CHECK(p.exitcode() == 1);
    p.close(); // Python's close(): the sentinel goes, the handle stays
    CHECK_THROWS(p.exitcode(), PC_ERR_CLOSED);
    CHECK(!p.is_alive());
}

void test_names_timeouts_terminate_and_kill()
{
    pc::Event forever;
    pc::Process sleeper([&] { return forever.wait_for(30s) ? 0 : 3; });
    CHECK(sleeper.name().rfind("Process-", 0) == 0);
    sleeper.set_name("sleeper");
    CHECK(sleeper.name() == "sleeper");
    sleeper.set_daemon(true);
    CHECK(sleeper.daemon());
    sleeper.start();
    CHECK_THROWS(sleeper.set_daemon(false), PC_ERR_WRONG_STATE);
    CHECK(sleeper.is_alive() && sleeper.pid() > 0);
    auto t0 = std::chrono::steady_clock::now();
    CHECK(!sleeper.try_join(50ms));
    CHECK(std::chrono::steady_clock::now() - t0 >= 45ms);
    CHECK(!sleeper.exitcode().has_value()); // still running
    sleeper.terminate();
    CHECK(sleeper.try_join(10s));
    CHECK(sleeper.exitcode() == -SIGTERM);

    pc::Process stubborn([&] { return forever.wait_for(30s) ? 0 : 3; });
    stubborn.start();
    stubborn.kill();
    stubborn.join();
    CHECK(stubborn.exitcode() == -SIGKILL);
    CHECK(pc::current_process_name() == "MainProcess");
}

/* The destructor joins a started child (std::jthread's rule). */
void test_destructor_joins()
{
    pc::Value<int> done(0);
    auto t0 = std::chrono::steady_clock::now();
    {
        pc::Process p([&] {
            std::this_thread::sleep_for(100ms);
            done.set(1);
            return 0;
        });
        p.start();
    }
    CHECK(std::chrono::steady_clock::now() - t0 >= 95ms);
    CHECK(done.get() == 1);
    std::size_t n = 1;
    CHECK(pc_active_children(nullptr, 0, &n) == PC_OK && n == 0);
    { pc::Process never_started([] { return 0; }); } // no start: nothing to join
}

void test_moves()
{
    pc::Value<int> out(0);
    pc::Process a([&] {
        out.set(42);
        return 5;
    });
    pc::Process b = std::move(a); // the callable moves with the handle
    CHECK(!a.native_handle());    // NOLINT: moved from on purpose
    CHECK_THROWS(a.start(), PC_ERR_INVALID_ARGUMENT);
    std::vector<pc::Process> v;
    v.push_back(std::move(b));
    v.front().start();
    v.reserve(16); // moving a started process keeps it
    CHECK(v.front().try_join(10s));
    CHECK(v.front().exitcode() == 5 && out.get() == 42);
}

/* A dummy process is a thread: it shares this process's memory. */
void test_dummy()
{
    int local = 0;
    auto d = pc::Process::dummy([&] {
        local = 99;
        return 4;
    });
    d.start();
    CHECK(d.try_join(10s));
    CHECK(d.exitcode() == 4);
    CHECK(local == 99);
    CHECK(d.name().rfind("Dummy-", 0) == 0);
    CHECK_THROWS(d.terminate(), PC_ERR_NOT_SUPPORTED);
}

} // namespace

int main()
{
    cpp_check::init();
    RUN(test_callables_and_exit_codes);
    RUN(test_captures_are_valid_in_the_child);
    RUN(test_exception_exits_1);
    RUN(test_names_timeouts_terminate_and_kill);
    RUN(test_destructor_joins);
    RUN(test_moves);
    RUN(test_dummy);
    return cpp_check::done("test_cpp_process");
}
