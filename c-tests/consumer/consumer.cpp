// The README's first C++ program, built by cmake/tests/consumer.sh against an installed
// libprocessing (pkg-config and find_package), with the version line the test checks.
#include <processing.hpp>
#include <cstdio>
#include <mutex>
#include <vector>

int main() {
    pc::Lock lock;
    auto total = pc::Value<long>::raw(0);          // shared memory, no lock of its own
    std::vector<pc::Process> workers;
    for (int w = 0; w < 4; w++)
        workers.emplace_back([&, w] {               // runs in the child
            std::lock_guard<pc::Lock> g(lock);      // Lock is Lockable
            *total.ptr() += w;
            return 0;                               // the child's exit code
        });
    for (auto &p : workers)
        p.start();
    for (auto &p : workers)
        p.join();                                   // or p.try_join(2s)
    std::printf("total %ld, exit code %d\n", total.get(), *workers[0].exitcode());
    std::printf("libprocessing %s\n", pc_version());
    return total.get() == 6 ? 0 : 1;
}
