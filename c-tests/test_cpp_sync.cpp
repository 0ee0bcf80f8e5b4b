/*
 * test_cpp_sync.cpp: processing.hpp's locks, semaphores, conditions, events, barriers,
 * shared values and arrays, each used across real forks (pc::Process), and its errors.
 * Built as C++17 (test_cpp_sync) and C++20 (test_cpp_sync_cxx20).
 *
 * ctest-timeout: 60
 */
#include "cpp_check.hpp"

#include <chrono>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

using namespace std::chrono_literals;

namespace {

/* Runs `f` in a child and returns its exit code (waits at most 10 s). */
template <class F>
int in_child(F f)
{
    pc::Process p(std::move(f));
    p.start();
    CHECK(p.try_join(10s));
    auto code = p.exitcode();
    CHECK(code.has_value());
    return *code;
}

/* Four children add 500 each to a raw value under a pc::Lock with std::lock_guard. */
void test_lock_guard_counts_across_processes()
{
    pc::Lock lock;
    auto counter = pc::Value<int>::raw(0);
    CHECK(!counter.get_lock().native_handle()); // a raw value has no lock
    std::vector<pc::Process> workers;
    for (int w = 0; w < 4; w++)
        workers.emplace_back([&] {
            for (int i = 0; i < 500; i++) {
                std::lock_guard<pc::Lock> g(lock);
                int v = *counter.ptr(); // a read-modify-write the lock makes atomic
                *counter.ptr() = v + 1;
            }
            return 0;
        });
    for (auto &w : workers)
        w.start();
    for (auto &w : workers) {
        CHECK(w.try_join(10s));
        CHECK(w.exitcode() == 0);
    }
    CHECK(counter.get() == 2000);
}

/* try_lock and try_lock_for time out while a child holds the lock, then succeed. */
void test_lock_timeouts()
{
    pc::Lock lock;
    pc::Event held, go;
    pc::Process holder([&] {
        std::lock_guard<pc::Lock> g(lock);
        held.set();
        return go.wait_for(10s) ? 0 : 1;
    });
    holder.start();
    CHECK(held.wait_for(10s));
    CHECK(!lock.try_lock());
    auto t0 = std::chrono::steady_clock::now();
    CHECK(!lock.try_lock_for(50ms));
    CHECK(std::chrono::steady_clock::now() - t0 >= 45ms);
    std::unique_lock<pc::Lock> ul(lock, std::defer_lock);
    CHECK(!ul.try_lock_for(10ms));
    go.set();
    CHECK(ul.try_lock_for(10s));
    CHECK(ul.owns_lock());
    ul.unlock();
    CHECK(holder.try_join(10s));
    CHECK(holder.exitcode() == 0);
    // try_lock_until with a deadline in the past only tries.
    CHECK(lock.try_lock_until(std::chrono::steady_clock::now() - 1s));
    lock.unlock();
}

/* An RLock is recursive for its holder and refuses another process. */
void test_rlock()
{
    pc::RLock r;
    r.lock();
    CHECK(r.try_lock()); // again, same thread
    CHECK(in_child([&] { return r.try_lock_for(20ms) ? 1 : 0; }) == 0);
    r.unlock();
    r.unlock();
    CHECK_THROWS(r.unlock(), PC_ERR_NOT_OWNER);
    CHECK(in_child([&] {
              if (!r.try_lock())
                  return 1;
              r.unlock();
              return 0;
          }) == 0);
}

void test_semaphore()
{
    pc::Semaphore s(0);
    CHECK(!s.try_acquire());
    CHECK(!s.try_acquire(20ms));
    pc::Process releaser([&] {
        s.release();
        s.release();
        return 0;
    });
    releaser.start();
    CHECK(s.try_acquire(10s));
    s.acquire();
    CHECK(releaser.try_join(10s));
    CHECK(s.value() == 0);
    s.release();
    {
        std::lock_guard<pc::Semaphore> g(s); // lock() is acquire(), unlock() release()
        CHECK(s.value() == 0);
    }
    CHECK(s.value() == 1);
    auto b = pc::Semaphore::bounded(1);
    CHECK_THROWS(b.release(), PC_ERR_VALUE);
    b.acquire();
    b.release();
    CHECK(b.value() == 1);
}

/* A child changes a shared value under the condition's lock and notifies; the parent
 * waits with a predicate. */
void test_condition()
{
    pc::Lock lock;
    pc::Condition cond(lock);
    pc::Value<int> state(0);
    {
        std::unique_lock<pc::Condition> lk(cond);
        CHECK(!cond.wait_for(20ms)); // nobody notifies
        CHECK(!cond.wait_for(20ms, [&] { return state.get() == 1; }));
    }
    CHECK_THROWS(cond.notify(), PC_ERR_NOT_OWNER); // the lock is not held
    pc::Process setter([&] {
        std::lock_guard<pc::Lock> g(lock); // the condition's lock, through its own object
        state.set(1);
        cond.notify_all();
        return 0;
    });
    std::unique_lock<pc::Condition> lk(cond);
    setter.start();
    CHECK(cond.wait_for(10s, [&] { return state.get() == 1; }));
    lk.unlock();
    CHECK(setter.try_join(10s));
    CHECK(setter.exitcode() == 0);

    // An exception from the predicate comes out of wait, the lock still held.
    pc::Condition own; // on an RLock of its own
    std::lock_guard<pc::Condition> g(own);
    bool thrown = false;
    try {
        own.wait([]() -> bool { throw std::runtime_error("predicate"); });
    } catch (const std::runtime_error &e) {
        thrown = std::string(e.what()) == "predicate";
    }
    CHECK(thrown);
    own.notify(); // still held: no PC_ERR_NOT_OWNER
}

void test_event_and_barrier()
{
    pc::Event e;
    CHECK(!e.is_set());
    CHECK(!e.wait_for(20ms));
    pc::Barrier b(2);
    CHECK(b.parties() == 2);
    pc::Process child([&] {
        e.set();
        return b.wait(10s) < 2 ? 0 : 1;
    });
    child.start();
    CHECK(e.wait_for(10s));
    CHECK(e.is_set());
    std::size_t i = b.wait(10s);
    CHECK(i < 2);
    CHECK(child.try_join(10s));
    CHECK(child.exitcode() == 0);
    e.clear();
    CHECK(!e.is_set());
    b.abort();
    CHECK(b.broken());
    CHECK_THROWS(b.wait(1s), PC_ERR_BROKEN);
}

struct Point {
    int x;
    double y;
};

void test_values_and_arrays()
{
    pc::Value<double> d(1.5);
    CHECK(d.get() == 1.5);
    CHECK(in_child([&] {
              d.add(2.0);
              return 0;
          }) == 0);
    CHECK(d.get() == 3.5);
    {
        std::lock_guard<pc::Value<double>> g(d); // the value's own RLock
        *d.ptr() *= 2;                           // direct access under it
        CHECK(d.get() == 7.0);                   // get() takes the RLock again
    }
    {
        pc::LockRef dl = d.get_lock();
        std::lock_guard<pc::LockRef> g(dl);
        *d.ptr() += 1;
    }
    CHECK(d.get() == 8.0);

    pc::Lock shared;
    pc::Value<unsigned long long> big(1ULL << 40, shared);
    CHECK(big.get() == 1ULL << 40);
    CHECK(pc::typecode<long long>() == 'q' && pc::typecode<bool>() == '?');

    pc::Array<int> a(std::vector<int>{0, 0, 0, 0, 0});
    CHECK(a.size() == 5);
    CHECK(in_child([&] {
              std::lock_guard<pc::Array<int>> g(a);
              for (std::size_t i = 0; i < a.size(); i++)
                  a[i] = static_cast<int>(i * i);
              return 0;
          }) == 0);
    CHECK((a.read() == std::vector<int>{0, 1, 4, 9, 16}));
    int sum = 0;
    for (int v : a)
        sum += v;
    CHECK(sum == 30);
    a.set(1, 100);
    CHECK(a.get(1) == 100);
    a.write({7, 8}, 3);
    CHECK(a[3] == 7 && a[4] == 8);
    CHECK_THROWS(a.get(5), PC_ERR_INDEX);

    auto points = pc::Array<Point>::raw(3); // no typecode: a sized raw array
    CHECK(points.size() == 3 && points[2].x == 0);
    CHECK(in_child([&] {
              for (std::size_t i = 0; i < points.size(); i++)
                  points[i] = Point{static_cast<int>(i) + 1, 0.5 * static_cast<double>(i)};
              return 0;
          }) == 0);
    CHECK(points[2].x == 3 && points[2].y == 1.0);
    pc::Array<Point> init(std::vector<Point>{{4, 4.0}});
    CHECK(init.get(0).x == 4);
}

void test_errors()
{
    pc::Lock l;
    try {
        l.unlock(); // not held
        CHECK(false);
    } catch (const pc::error &e) {
        CHECK(e.status() == PC_ERR_NOT_OWNER);
        CHECK(!e.detail().empty());
        CHECK(std::string(e.what()).find(pc_status_str(PC_ERR_NOT_OWNER)) == 0);
    }
    pc::Lock moved = std::move(l);
    CHECK_THROWS(l.lock(), PC_ERR_INVALID_ARGUMENT); // NOLINT: moved from on purpose
    CHECK(moved.try_lock());
    moved.unlock();
    pc::Event e1;
    pc::Event e2 = std::move(e1);
    CHECK(!e1.native_handle() && e2.native_handle());
    CHECK_THROWS(e1.set(), PC_ERR_INVALID_ARGUMENT);
    CHECK_THROWS(pc::check(PC_ERR_TIMEOUT), PC_ERR_TIMEOUT);
    pc::check(PC_OK);
}

} // namespace

int main()
{
    cpp_check::init();
    RUN(test_lock_guard_counts_across_processes);
    RUN(test_lock_timeouts);
    RUN(test_rlock);
    RUN(test_semaphore);
    RUN(test_condition);
    RUN(test_event_and_barrier);
    RUN(test_values_and_arrays);
    RUN(test_errors);
    return cpp_check::done("test_cpp_sync");
}
