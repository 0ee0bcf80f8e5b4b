/*
 * ex_workers.cpp: ex_workers.c in C++17 with processing.hpp, the seed's ex_workers.py:
 *
 *     def worker(input, output):
 *         for func, args in iter(input.get, 'STOP'):
 *             output.put('%s says that %s%s = %s' % (
 *                 currentProcess().getName(), func.__name__, args, func(*args)))
 *
 * Four pc::Process workers, each a lambda, take tasks from one pc::Queue and answer on
 * another. A task is a small trivially copyable struct sent as its bytes (put_value); a
 * result is a header struct followed by its text; the 4-byte message "STOP" ends a
 * worker. The lambdas capture the queues by reference: each worker is a fork of this
 * program, so the references name the same pc::Queue objects, whose memory is shared.
 *
 * Errors throw pc::error (status and pc_last_error()); main catches it. Every wait is
 * bounded (try_ forms with a timeout), so a bug cannot hang the example. Each worker is
 * joined by its destructor at the latest (pc::Process joins like std::jthread).
 *
 * Build: c++ -std=c++17 ex_workers.cpp -lprocessing
 */
#include <processing.hpp>

#include <array>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

using namespace std::chrono_literals;

namespace {

constexpr int NUMBER_OF_PROCESSES = 4;
constexpr int NTASKS1 = 20; // mul(i, 7), put before the workers start
constexpr int NTASKS2 = 10; // plus(i, 8), put once the first results are in
constexpr int NTASKS = NTASKS1 + NTASKS2;
constexpr auto WAIT = 10s;  // the longest any single wait may take here

enum Func : std::uint32_t { MUL, PLUS };
const char *const func_names[] = {"mul", "plus"};

struct Task {
    std::uint32_t id; // lets the parent match each result to its task
    std::uint32_t func;
    std::int32_t a, b;
};

struct Result { // then the text, up to the end of the message
    std::uint32_t id;
    std::int32_t value;
};

const std::string STOP = "STOP";

std::int32_t compute(const Task &t) { return t.func == MUL ? t.a * t.b : t.a + t.b; }

std::string describe(const std::string &who, const Task &t, std::int32_t value)
{
    return who + " says that " + func_names[t.func] + "(" + std::to_string(t.a) + ", " +
           std::to_string(t.b) + ") = " + std::to_string(value);
}

/* A worker's body: tasks until STOP; its return value is its exit code. */
int worker(pc::Queue &tasks, pc::Queue &done)
{
    std::mt19937 rng(static_cast<unsigned>(getpid()));
    std::uniform_int_distribution<int> nap_ms(0, 20);
    const std::string me = pc::current_process_name();
    for (;;) {
        std::string msg;
        if (!tasks.try_get(msg, WAIT))
            return 2;
        if (msg == STOP)
            break;
        Task t;
        if (msg.size() != sizeof t)
            return 3;
        std::memcpy(&t, msg.data(), sizeof t);
        std::this_thread::sleep_for(std::chrono::milliseconds(nap_ms(rng)));
        Result r{t.id, compute(t)};
        std::string answer(reinterpret_cast<const char *>(&r), sizeof r);
        done.put(answer + describe(me, t, r.value));
    }
    done.close(); // Python's idiom; each put is in the queue already
    return 0;
}

int run()
{
    pc::Queue tasks, done; // unbounded: put never waits
    std::array<Task, NTASKS> all{};
    for (int i = 0; i < NTASKS1; i++)
        all[i] = Task{static_cast<std::uint32_t>(i), MUL, i, 7};
    for (int i = 0; i < NTASKS2; i++)
        all[NTASKS1 + i] = Task{static_cast<std::uint32_t>(NTASKS1 + i), PLUS, i, 8};

    for (int i = 0; i < NTASKS1; i++)
        tasks.put_value(all[i]);
    std::printf("%zu tasks waiting\n", tasks.qsize());

    std::fflush(stdout); // or the children inherit (and print again) what stdout holds
    std::vector<pc::Process> workers;
    for (int i = 0; i < NUMBER_OF_PROCESSES; i++)
        workers.emplace_back([&] { return worker(tasks, done); });
    for (auto &w : workers)
        w.start();

    std::array<int, NTASKS> answers{};
    std::vector<int> per_worker(NUMBER_OF_PROCESSES);
    auto collect = [&](int count) {
        for (int i = 0; i < count; i++) {
            std::string msg;
            if (!done.try_get(msg, WAIT))
                throw pc::error(PC_ERR_TIMEOUT, "no result within 10 s");
            Result r;
            if (msg.size() < sizeof r)
                throw pc::error(PC_ERR_VALUE, "a short result");
            std::memcpy(&r, msg.data(), sizeof r);
            std::string text = msg.substr(sizeof r);
            std::printf("\t%s\n", text.c_str());
            if (r.id >= NTASKS || ++answers[r.id] != 1 || r.value != compute(all[r.id]))
                throw pc::error(PC_ERR_VALUE, "wrong or duplicate result for " + text);
            int who = -1;
            for (int w = 0; w < NUMBER_OF_PROCESSES; w++)
                if (text == describe(workers[w].name(), all[r.id], r.value))
                    who = w;
            if (who < 0)
                throw pc::error(PC_ERR_VALUE, "not one of our workers: " + text);
            per_worker[who]++;
        }
    };

    std::printf("Unordered results:\n");
    collect(NTASKS1);
    for (int i = NTASKS1; i < NTASKS; i++) // more work for the same workers
        tasks.put_value(all[i]);
    collect(NTASKS2);
    for (int i = 0; i < NUMBER_OF_PROCESSES; i++) // one sentinel each
        tasks.put(STOP);

    for (auto &w : workers) {
        if (!w.try_join(WAIT)) {
            w.kill();
            throw pc::error(PC_ERR_TIMEOUT, w.name() + " did not stop");
        }
        if (w.exitcode() != 0)
            throw pc::error(PC_ERR_VALUE, w.name() + " failed");
    }
    if (!tasks.empty() || !done.empty())
        throw pc::error(PC_ERR_VALUE, "messages left in a queue");
    std::printf("Tasks per worker:");
    for (int i = 0; i < NUMBER_OF_PROCESSES; i++)
        std::printf(" %s %d%s", workers[i].name().c_str(), per_worker[i],
                    i + 1 < NUMBER_OF_PROCESSES ? "," : "\n");
    std::printf("all %d results checked\n", NTASKS);
    return 0;
}

} // namespace

int main()
{
    try {
        return run();
    } catch (const pc::error &e) {
        // The workers still running are stopped by their destructors' joins: they time
        // out on the empty task queue within WAIT.
        std::fprintf(stderr, "ex_workers: %s\n", e.what());
        return 1;
    }
}
