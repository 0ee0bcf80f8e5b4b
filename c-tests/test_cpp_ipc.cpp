/*
 * test_cpp_ipc.cpp: processing.hpp's pc::Queue, pc::Pipe, pc::Listener and pc::Client,
 * each with a forked peer, their try_ forms and their errors. Built as C++17
 * (test_cpp_ipc) and C++20 (test_cpp_ipc_cxx20).
 *
 * ctest-timeout: 60
 */
#include "cpp_check.hpp"

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

using namespace std::chrono_literals;

namespace {

struct Job {
    std::uint32_t id;
    std::int32_t a, b;
};

/* A child squares jobs from one queue onto another until an empty message. */
void test_queue_round_trip()
{
    pc::Queue jobs, results;
    pc::Process worker([&] {
        for (;;) {
            std::string msg;
            if (!jobs.try_get(msg, 10s))
                return 2;
            if (msg.empty())
                break;
            Job j;
            std::memcpy(&j, msg.data(), sizeof j);
            results.put_value(Job{j.id, j.a * j.b, 0});
        }
        results.put("bye from " + pc::current_process_name());
        return 0;
    });
    worker.start();
    for (std::uint32_t i = 0; i < 10; i++)
        jobs.put_value(Job{i, static_cast<std::int32_t>(i), 7});
    jobs.put("");
    for (std::uint32_t i = 0; i < 10; i++) {
        Job r{};
        CHECK(results.try_get_value(r, 10s));
        CHECK(r.id == i && r.a == static_cast<std::int32_t>(i) * 7);
    }
    std::string bye;
    CHECK(results.try_get(bye, 10s));
    CHECK(bye == "bye from " + worker.name());
    CHECK(worker.try_join(10s));
    CHECK(worker.exitcode() == 0);
    CHECK(jobs.empty() && results.empty());
}

void test_queue_timeouts_and_sizes()
{
    pc::Queue q(2);
    std::string out = "unchanged";
    auto t0 = std::chrono::steady_clock::now();
    CHECK(!q.try_get(out, 30ms));
    CHECK(std::chrono::steady_clock::now() - t0 >= 25ms);
    CHECK(out == "unchanged");
    CHECK(q.try_put("one", 0s));
    std::vector<std::byte> two{std::byte{0}, std::byte{0xff}};
    q.put(two);
    CHECK(q.full() && q.qsize() == 2);
    CHECK(!q.try_put("three", 20ms));
    CHECK(q.get() == "one");
    CHECK(q.get_bytes() == two);

    // get_value of a message of another size: a longer one stays, a shorter one is taken.
    q.put("0123456789");
    CHECK_THROWS(q.get_value<std::int32_t>(), PC_ERR_BUFFER_TOO_SHORT);
    CHECK(q.qsize() == 1 && q.get() == "0123456789");
    q.put("ab");
    CHECK_THROWS(q.get_value<std::int32_t>(), PC_ERR_VALUE);
    std::int64_t v = 0;
    CHECK(!q.try_get_value(v, 10ms));

    q.close();
    CHECK_THROWS(q.put("late"), PC_ERR_CLOSED);
}

void test_joinable_queue()
{
    auto q = pc::Queue::joinable();
    q.put("a");
    q.put("b");
    CHECK(!q.try_join(20ms));
    pc::Process consumer([&] {
        for (int i = 0; i < 2; i++) {
            std::string m;
            if (!q.try_get(m, 10s))
                return 1;
            q.task_done();
        }
        return 0;
    });
    consumer.start();
    CHECK(q.try_join(10s));
    CHECK(consumer.try_join(10s));
    CHECK(consumer.exitcode() == 0);
    CHECK_THROWS(q.task_done(), PC_ERR_VALUE);
}

/* Messages both ways over a duplex pipe, then EOF once the child's end is closed. */
void test_pipe()
{
    auto [parent_end, child_end] = pc::Pipe();
    pc::Process echo([&, &p = parent_end, &c = child_end] {
        p.close(); // the end this process does not use
        for (;;) {
            std::string m = c.recv();
            if (m == "stop")
                break;
            c.send("echo: " + m);
        }
        c.send_value(std::int64_t{1} << 40);
        return 0;
    });
    echo.start();
    child_end.close(); // so that EOF comes once the child exits
    CHECK(!parent_end.poll());
    parent_end.send("hello");
    CHECK(parent_end.poll(10s));
    CHECK(parent_end.recv() == "echo: hello");
    std::vector<std::byte> bin{std::byte{1}, std::byte{0}, std::byte{2}};
    parent_end.send(bin);
    auto back = parent_end.recv_bytes();
    CHECK(back.size() == 6 + bin.size());
    parent_end.send("stop");
    CHECK(parent_end.recv_value<std::int64_t>() == std::int64_t{1} << 40);
    CHECK(echo.try_join(10s));
    CHECK(echo.exitcode() == 0);
    CHECK_THROWS(parent_end.recv(), PC_ERR_EOF);

    // A one-way pipe: the first end only receives.
    auto [r, w] = pc::Pipe(false);
    CHECK(r.readable() && !r.writable());
    CHECK(w.writable() && !w.readable());
    w.send_value(3.25);
    CHECK_THROWS(r.recv_value<float>(), PC_ERR_VALUE); // 8 bytes, not 4
    CHECK_THROWS(r.send("x"), PC_ERR_INVALID_ARGUMENT);
    r.set_timeout(20ms);
    CHECK_THROWS(r.recv(), PC_ERR_TIMEOUT);
}

/* A listener with an authkey; a forked client connects, one with the wrong key fails. */
void test_listener_and_client()
{
    pc::Listener listener(nullptr, "secret");
    std::string address = listener.address();
    CHECK(address.rfind("unix:", 0) == 0);
    CHECK(!listener.try_accept(20ms).has_value());
    pc::Process client([&] {
        pc::Connection c = pc::Client(address, "secret");
        c.send("ping");
        return c.recv() == "pong" ? 0 : 1;
    });
    client.start();
    auto conn = listener.try_accept(10s);
    CHECK(conn.has_value());
    CHECK(conn->recv() == "ping");
    conn->send("pong");
    CHECK(client.try_join(10s));
    CHECK(client.exitcode() == 0);

    pc::Process intruder([&] {
        try {
            pc::Client(address, "wrong");
        } catch (const pc::error &e) {
            return e.status() == PC_ERR_AUTH ? 0 : 2;
        }
        return 1;
    });
    intruder.start();
    CHECK_THROWS(listener.accept(), PC_ERR_AUTH);
    CHECK(intruder.try_join(10s));
    CHECK(intruder.exitcode() == 0);
    listener.close();
    CHECK_THROWS(listener.accept(), PC_ERR_CLOSED);
}

} // namespace

int main()
{
    cpp_check::init();
    RUN(test_queue_round_trip);
    RUN(test_queue_timeouts_and_sizes);
    RUN(test_joinable_queue);
    RUN(test_pipe);
    RUN(test_listener_and_client);
    return cpp_check::done("test_cpp_ipc");
}
