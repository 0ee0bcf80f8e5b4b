/*
 * ex_spawn.cpp: a C++17 program that already runs a thread (a logger, as gRPC, CUDA or
 * OpenMP would) and still starts processes safely: with the spawn and forkserver start
 * methods, no process is a fork of this threaded one.
 *
 * What changes from a fork-based program:
 *
 *   - main calls pc_freeze_support(argc, argv) first: a spawned child is this program
 *     started again, and that call runs the child's target (or the forkserver) there.
 *   - A task or target is a function of the program (or of a library it loaded): it is
 *     found again in the fresh process by its module and offset. Captureless lambdas
 *     convert to such functions.
 *   - Arguments cross as bytes (pc_process_new_spawnable, a pool's initarg with its
 *     initarg_len), and handles cross with pc_process_pass_handle: the child gets the
 *     same handle values, so a struct holding handles works unchanged.
 *
 * Forking here instead (the default start method) would log a warning once: a forked
 * child of a threaded program may deadlock on a lock one of the other threads held.
 */
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "processing.h"

namespace {

/* Stops the example with a message when a call fails. */
void check(pc_status status, const char *what)
{
    if (status != PC_OK) {
        std::fprintf(stderr, "%s: %s (%s)\n", what, pc_status_str(status), pc_last_error());
        std::exit(1);
    }
}

/* The pool's configuration, sent to each worker's initializer as bytes. */
struct Config {
    int32_t scale;
};

int32_t scale = 1; /* set in each worker by the initializer */

void configure(void *arg)
{
    Config config;
    std::memcpy(&config, arg, sizeof config);
    scale = config.scale;
}

/* Counts the primes below its argument, times the configured scale. */
int count_primes(const void *arg, size_t len, pc_buffer *result)
{
    int32_t below = 0;
    if (len != sizeof below)
        return 1;
    std::memcpy(&below, arg, sizeof below);
    int32_t count = 0;
    for (int32_t n = 2; n < below; n++) {
        bool prime = true;
        for (int32_t d = 2; d * d <= n && prime; d++)
            prime = n % d != 0;
        count += prime;
    }
    count *= scale;
    return pc_buffer_write(result, &count, sizeof count) == PC_OK ? 0 : 1;
}

/* A process's argument: a handle (the same value in the child) and plain data. */
struct Report {
    pc_queue *queue;
    char greeting[32];
};

int report(void *arg)
{
    const Report *r = static_cast<const Report *>(arg);
    const pc_process *me = nullptr;
    pc_current_process(&me);
    std::string line = std::string(r->greeting) + " from " + pc_process_name(me);
    return pc_queue_put(r->queue, line.data(), line.size(), 5.0) == PC_OK ? 0 : 1;
}

void run_with(const char *method)
{
    /* A pool whose workers start by `method`. */
    Config config{10};
    pc_pool_options options{};
    options.processes = 2;
    options.initializer = configure;
    options.initarg = &config;
    options.initarg_len = sizeof config;
    options.start_method = method;
    pc_pool *pool = nullptr;
    check(pc_pool_new(&options, &pool), "pc_pool_new");

    std::vector<int32_t> limits{10, 100, 1000, 10000};
    std::vector<pc_slice> items;
    for (const int32_t &limit : limits)
        items.push_back(pc_slice{&limit, sizeof limit});
    std::vector<pc_bytes> results(items.size());
    check(pc_pool_map(pool, count_primes, items.data(), items.size(), 1, results.data()),
          "pc_pool_map");
    std::printf("%s pool: primes x%d below", method, config.scale);
    for (size_t i = 0; i < results.size(); i++) {
        int32_t count = 0;
        std::memcpy(&count, results[i].data, sizeof count);
        std::printf(" %d: %d%s", limits[i], count, i + 1 < results.size() ? "," : "\n");
        pc_bytes_free(&results[i]);
    }
    check(pc_pool_close(pool), "pc_pool_close");
    check(pc_pool_join(pool), "pc_pool_join");
    pc_pool_free(pool);

    /* A process by `method`, with a queue passed to it. */
    Report arg{};
    check(pc_queue_new(0, &arg.queue), "pc_queue_new");
    std::snprintf(arg.greeting, sizeof arg.greeting, "hello by %s", method);
    pc_process *child = nullptr;
    check(pc_process_new_spawnable(report, &arg, sizeof arg, &child), "pc_process_new_spawnable");
    check(pc_process_set_start_method(child, method), "pc_process_set_start_method");
    check(pc_process_pass_handle(child, arg.queue), "pc_process_pass_handle");
    check(pc_process_start(child), "pc_process_start");
    pc_bytes line{};
    check(pc_queue_get(arg.queue, 10.0, &line), "pc_queue_get");
    std::printf("%.*s\n", static_cast<int>(line.len), reinterpret_cast<const char *>(line.data));
    pc_bytes_free(&line);
    check(pc_process_join(child, 10.0), "pc_process_join");
    int code = -1;
    check(pc_process_exitcode(child, &code), "pc_process_exitcode");
    std::printf("%s child exit code %d\n", method, code);
    pc_process_free(child);
    pc_queue_free(arg.queue);
}

} // namespace

int main(int argc, char **argv)
{
    pc_freeze_support(argc, argv);

    /* A thread that keeps taking a lock, as a logger would. */
    std::atomic<bool> running{true};
    std::mutex log_lock;
    long lines = 0;
    std::thread logger([&] {
        while (running.load()) {
            std::lock_guard<std::mutex> hold(log_lock);
            lines++;
            std::this_thread::sleep_for(std::chrono::microseconds(100));
        }
    });

    run_with("spawn");
    run_with("forkserver");

    running = false;
    logger.join();
    std::printf("the logger thread ran throughout (%s)\n", lines > 0 ? "yes" : "no");
    return 0;
}
