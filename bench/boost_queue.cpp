/*
 * boost_queue.cpp: the Boost.Interprocess message_queue behind raw_queue.c's
 * queue_1to1_64b_boost floor, as four C functions. The workload itself (fork, start line,
 * messages, checks) is raw_queue.c's, compiled with PC_BENCH_BOOST into the program
 * boost_queue together with this file; CMake builds it only where Boost's headers are.
 *
 * The queue lives in named shared memory (Boost maps a /dev/shm object): it is created in
 * the parent under a name unique to the process (any stale one removed first), used by
 * a forked child through the inherited mapping, and removed when the run ends.
 */
#include <boost/interprocess/ipc/message_queue.hpp>

#include <cstdio>
#include <memory>
#include <string>

#include <unistd.h>

namespace bip = boost::interprocess;

namespace {

std::unique_ptr<bip::message_queue> queue;
std::string queue_name;

// Runs fn, turning a Boost exception into -1 (and a message on stderr).
template <class Fn> long guarded(const char *what, Fn fn)
{
    try {
        return fn();
    } catch (const std::exception &e) {
        std::fprintf(stderr, "boost message_queue %s: %s\n", what, e.what());
        return -1;
    }
}

} // namespace

extern "C" {

// Creates the queue: at most `max_messages` messages of at most `message_size` bytes.
int boost_mq_open(size_t max_messages, size_t message_size)
{
    queue_name = "pc_bench_queue_" + std::to_string(getpid());
    return (int)guarded("create", [&] {
        bip::message_queue::remove(queue_name.c_str());
        queue = std::make_unique<bip::message_queue>(bip::create_only, queue_name.c_str(),
                                                     max_messages, message_size);
        return 0L;
    });
}

// Sends one message, waiting while the queue is full.
int boost_mq_send(const void *buf, size_t len)
{
    return (int)guarded("send", [&] {
        queue->send(buf, len, 0);
        return 0L;
    });
}

// Receives one message into buf (cap bytes, at least the message size); its length.
long boost_mq_receive(void *buf, size_t cap)
{
    return guarded("receive", [&] {
        bip::message_queue::size_type len = 0;
        unsigned priority = 0;
        queue->receive(buf, cap, len, priority);
        return (long)len;
    });
}

// In the parent, after the children exited: closes and removes the queue.
void boost_mq_close(void)
{
    queue.reset();
    bip::message_queue::remove(queue_name.c_str());
}

} // extern "C"
