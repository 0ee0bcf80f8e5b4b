/*
 * test_cpp_pool.cpp: processing.hpp's pc::Pool: apply and apply_value of C tasks, map,
 * map_array over std::vector with captureless and value-capturing lambdas, failures as
 * pc::error, close/join/terminate, and a thread pool. Built as C++17 (test_cpp_pool) and
 * C++20 (test_cpp_pool_cxx20).
 *
 * ctest-timeout: 60
 */
#include "cpp_check.hpp"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace {

/* A C task: the square of an int64. */
int square(const void *arg, std::size_t len, pc_buffer *result)
{
    std::int64_t x;
    if (len != sizeof x)
        return 2;
    std::memcpy(&x, arg, sizeof x);
    std::int64_t y = x * x;
    return pc_buffer_write(result, &y, sizeof y) == PC_OK ? 0 : 3;
}

/* A C task: its argument upper-cased, with the worker's name. */
int shout(const void *arg, std::size_t len, pc_buffer *result)
{
    std::string s(static_cast<const char *>(arg), len);
    for (char &c : s)
        c = static_cast<char>(c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c);
    s += " from " + pc::current_process_name();
    return pc_buffer_write(result, s.data(), s.size()) == PC_OK ? 0 : 3;
}

int fail_on_five(const void *arg, std::size_t len, pc_buffer *result)
{
    if (len == 1 && *static_cast<const char *>(arg) == '5') {
        static const char why[] = "five is right out";
        pc_buffer_write(result, why, sizeof why - 1);
        return 1;
    }
    return pc_buffer_write(result, arg, len) == PC_OK ? 0 : 3;
}

struct In {
    double x;
    std::int32_t k;
};
struct Out {
    double y;
    std::int32_t k2;
};

void test_apply_and_map()
{
    pc::Pool pool(3);
    CHECK(pool.apply_value<std::int64_t>(square, std::int64_t{12}) == 144);
    std::string s = pool.apply(shout, "abc");
    CHECK(s.rfind("ABC from PoolWorker-", 0) == 0);
    std::vector<std::string> items{"a", "", "xyz"};
    auto out = pool.map(shout, items, 1);
    CHECK(out.size() == 3);
    CHECK(out[0].rfind("A from PoolWorker-", 0) == 0);
    CHECK(out[1].rfind(" from PoolWorker-", 0) == 0);
    CHECK(out[2].rfind("XYZ from PoolWorker-", 0) == 0);
    CHECK(pool.map(shout, {}).empty());

    try {
        pool.apply(fail_on_five, "5");
        CHECK(false);
    } catch (const pc::error &e) {
        CHECK(e.status() == PC_ERR_TASK_FAILED);
        CHECK(e.detail().find("five is right out") != std::string::npos);
    }
    std::vector<std::string> digits;
    for (char c = '0'; c <= '9'; c++)
        digits.emplace_back(1, c);
    CHECK_THROWS(pool.map(fail_on_five, digits), PC_ERR_TASK_FAILED);
    digits.erase(digits.begin() + 5);
    CHECK(pool.map(fail_on_five, digits) == digits);
    CHECK_THROWS(pool.apply_value<std::int32_t>(square, std::int64_t{2}), PC_ERR_VALUE);
}

void test_map_array()
{
    pc::Pool pool(4);
    std::vector<std::int64_t> xs(10000);
    for (std::size_t i = 0; i < xs.size(); i++)
        xs[i] = static_cast<std::int64_t>(i);
    auto cubes = pool.map_array([](std::int64_t x) { return x * x * x; }, xs);
    CHECK(cubes.size() == xs.size());
    bool same = true;
    for (std::size_t i = 0; i < xs.size(); i++)
        same = same && cubes[i] == xs[i] * xs[i] * xs[i];
    CHECK(same);

    // A lambda capturing plain values: its bytes are the call's context.
    double scale = 0.5;
    std::int32_t offset = 3;
    std::vector<In> in{{1.0, 1}, {4.0, 2}, {9.0, 3}};
    auto out = pool.map_array(
        [scale, offset](const In &v) { return Out{scale * std::sqrt(v.x), v.k * 2 + offset}; },
        in, 1);
    CHECK(out.size() == 3);
    CHECK(out[0].y == 0.5 && out[1].y == 1.0 && out[2].y == 1.5);
    CHECK(out[0].k2 == 5 && out[2].k2 == 9);

    // Another result type, and an empty input.
    auto halves = pool.map_array([](int x) { return x / 2.0; }, std::vector<int>{1, 2, 3});
    CHECK((halves == std::vector<double>{0.5, 1.0, 1.5}));
    CHECK(pool.map_array([](int x) { return x; }, std::vector<int>{}).empty());

    // An exception in the function fails the element, and the call.
    std::vector<int> few{1, 2, 3, 4, 5, 6};
    CHECK_THROWS(pool.map_array(
                     [](int x) {
                         if (x == 5)
                             throw std::runtime_error("five");
                         return x;
                     },
                     few),
                 PC_ERR_TASK_FAILED);
    // The pool still works after it.
    CHECK(pool.map_array([](int x) { return x + 1; }, few)[5] == 7);
}

void test_close_join_terminate()
{
    pc::Pool pool(2);
    pool.close();
    CHECK_THROWS(pool.apply(shout, "late"), PC_ERR_CLOSED);
    pool.join();
    std::size_t n = 1;
    CHECK(pc_active_children(nullptr, 0, &n) == PC_OK && n == 0);

    pc::Pool other(2);
    CHECK_THROWS(other.join(), PC_ERR_WRONG_STATE); // before close or terminate
    other.terminate();
    other.join();
}

void test_thread_pool()
{
    pc_pool_options opts{};
    opts.processes = 2;
    opts.threads = true;
    pc::Pool pool(opts);
    CHECK(pool.apply_value<std::int64_t>(square, std::int64_t{-3}) == 9);
    auto r = pool.map_array([](float x) { return x * 2; }, std::vector<float>{1.5f, 2.5f});
    CHECK(r[0] == 3.0f && r[1] == 5.0f);
}

} // namespace

int main()
{
    cpp_check::init();
    RUN(test_apply_and_map);
    RUN(test_map_array);
    RUN(test_close_join_terminate);
    RUN(test_thread_pool);
    CHECK(pc::cpu_count() >= 1);
    return cpp_check::done("test_cpp_pool");
}
