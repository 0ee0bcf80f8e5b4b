/*
 * ex_pool.cpp: a representative part of ex_pool.c in C++17 with processing.hpp (the
 * seed's ex_pool.py): a pool of four worker processes, apply, map, map_array over a
 * std::vector, the error of f(x) = 1.0/(x-5.0) coming out of each as pc::error, then
 * close() + join() and terminate(). ex_pool.c also shows apply_async, imap, callbacks
 * and timeouts, which processing.hpp does not wrap yet (the C API works from C++ too).
 *
 * Tasks for apply and map are C functions over bytes (pc_task_fn), as in C: they run in
 * the workers, which are forks of this program made with the pool. map_array takes any
 * trivially copyable callable (a captureless lambda, or one capturing plain values): its
 * bytes are copied to the workers with each call.
 *
 * Every result is checked (a mismatch exits 1); every wait is bounded.
 *
 * Build: c++ -std=c++17 ex_pool.cpp -lprocessing
 */
#include <processing.hpp>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

namespace {

constexpr std::size_t PROCESSES = 4;
constexpr std::size_t M = 1000000; // the map_array benchmark

/* Throws when a result is wrong: main prints it and exits 1. */
void expect(bool ok, const std::string &what)
{
    if (!ok)
        throw pc::error(PC_ERR_VALUE, "wrong result: " + what);
}

std::int64_t pow3(std::int64_t x) { return x * x * x; }

/* pow3 over an int64, as a C task. */
int task_pow3(const void *arg, std::size_t len, pc_buffer *result)
{
    std::int64_t x;
    if (len != sizeof x)
        return 2;
    std::memcpy(&x, arg, sizeof x);
    std::int64_t y = pow3(x);
    return pc_buffer_write(result, &y, sizeof y) == PC_OK ? 0 : 3;
}

/* The seed's f(x) = 1.0 / (x - 5.0), over a one-character decimal digit: at 5 it fails,
 * as Python's raises ZeroDivisionError; what it wrote travels with the error. */
int task_f(const void *arg, std::size_t len, pc_buffer *result)
{
    if (len != 1)
        return 2;
    int x = *static_cast<const char *>(arg) - '0';
    if (x == 5) {
        static const char why[] = "ZeroDivisionError: float division by zero";
        pc_buffer_write(result, why, sizeof why - 1);
        return 1;
    }
    std::string y = std::to_string(1.0 / (x - 5.0));
    return pc_buffer_write(result, y.data(), y.size()) == PC_OK ? 0 : 3;
}

/* Sleeps 10 s: a task terminate() does not wait for. */
int task_sleep(const void *, std::size_t, pc_buffer *)
{
    std::this_thread::sleep_for(10s);
    return 0;
}

double seconds_since(std::chrono::steady_clock::time_point t)
{
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

void apply_and_map(pc::Pool &pool)
{
    std::printf("pool.apply_value(task_pow3, 7) = ");
    auto y = pool.apply_value<std::int64_t>(task_pow3, std::int64_t{7});
    std::printf("%lld\n", static_cast<long long>(y));
    expect(y == 343, "pow3(7)");

    // map over messages: each item is a string of bytes, each result too.
    std::vector<std::string> digits;
    for (char c = '0'; c <= '9'; c++)
        if (c != '5')
            digits.emplace_back(1, c);
    auto out = pool.map(task_f, digits);
    std::printf("pool.map(f, 0..9 without 5) =");
    for (const auto &s : out)
        std::printf(" %s", s.c_str());
    std::printf("\n\n");
    expect(out.size() == 9 && out[0] == std::to_string(-0.2) && out[5] == "1.000000",
           "map(f)");
}

void benchmark(pc::Pool &pool)
{
    std::vector<double> xs(M);
    for (std::size_t i = 0; i < M; i++)
        xs[i] = static_cast<double>(i) / M;
    double scale = 2.0; // captured by value: part of the call's context

    auto t = std::chrono::steady_clock::now();
    std::vector<double> serial(M);
    for (std::size_t i = 0; i < M; i++)
        serial[i] = scale * xs[i] * xs[i] * xs[i];
    std::printf("map over %zu doubles in this process: %.3f s\n", M, seconds_since(t));

    t = std::chrono::steady_clock::now();
    auto cubes = pool.map_array([scale](double x) { return scale * x * x * x; }, xs);
    std::printf("pool.map_array over %zu doubles: %.3f s\n\n", M, seconds_since(t));
    expect(cubes == serial, "map_array(cube)");
}

void errors(pc::Pool &pool)
{
    std::printf("Testing error handling:\n");
    try {
        pool.apply(task_f, "5");
        expect(false, "apply(f, 5) did not fail");
    } catch (const pc::error &e) {
        expect(e.status() == PC_ERR_TASK_FAILED, "apply(f, 5)'s status");
        std::printf("\tGot pc::error from pool.apply(f, 5):\n\t\t%s\n", e.what());
    }
    std::vector<std::string> all;
    for (char c = '0'; c <= '9'; c++)
        all.emplace_back(1, c);
    try {
        pool.map(task_f, all);
        expect(false, "map(f, 0..9) did not fail");
    } catch (const pc::error &e) {
        expect(e.status() == PC_ERR_TASK_FAILED, "map(f)'s status");
        std::printf("\tGot pc::error from pool.map(f, 0..9)\n");
    }
    try {
        pool.map_array(
            [](int x) {
                if (x == 5)
                    throw std::domain_error("division by zero");
                return 1.0 / (x - 5.0);
            },
            std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9});
        expect(false, "map_array(f) did not fail");
    } catch (const pc::error &e) {
        expect(e.status() == PC_ERR_TASK_FAILED, "map_array(f)'s status");
        std::printf("\tGot pc::error from pool.map_array(f):\n\t\t%s\n\n", e.what());
    }
}

void close_and_terminate(pc::Pool &pool)
{
    std::printf("Testing close():\n");
    pool.close();
    try {
        pool.apply(task_pow3, "");
        expect(false, "apply after close");
    } catch (const pc::error &e) {
        expect(e.status() == PC_ERR_CLOSED, "apply after close's status");
    }
    pool.join();
    std::printf("\tclose() + join() succeeded\n\n");

    std::printf("Testing terminate():\n");
    pc::Pool busy(2);
    std::thread submitter([&] { // apply blocks: submit the long task from a thread
        try {
            busy.apply(task_sleep);
        } catch (const pc::error &) { // PC_ERR_CLOSED once terminated
        }
    });
    std::this_thread::sleep_for(100ms); // the task is now running
    auto t = std::chrono::steady_clock::now();
    busy.terminate();
    busy.join();
    submitter.join();
    double took = seconds_since(t);
    expect(took < 3.0, "terminate waited " + std::to_string(took) + " s");
    std::printf("\tterminate() with a 10 s task running took %.3f s: succeeded\n", took);
}

} // namespace

int main()
{
    try {
        std::printf("pc::cpu_count() = %d\n\nCreating pool with %zu processes\n\n",
                    pc::cpu_count(), PROCESSES);
        pc::Pool pool(PROCESSES);
        apply_and_map(pool);
        benchmark(pool);
        errors(pool);
        close_and_terminate(pool);
        std::printf("every result checked\n");
        return 0;
    } catch (const pc::error &e) {
        std::fprintf(stderr, "ex_pool: %s\n", e.what());
        return 1;
    }
}
