/*
 * processing.hpp: a header-only C++17 layer over processing.h, in namespace `pc`.
 *
 * It adds no ABI of its own: every type is a thin owner of one C handle, and every call
 * is the C function of the same name, so a program links with -lprocessing alone and may
 * mix the two APIs (native_handle() gives the C handle; the C++ object stays its owner).
 *
 * Rules shared by every type below:
 *
 *   - Ownership. Each type owns its handle and is move-only: the destructor calls the
 *     handle's _free (which never blocks; pc::Process alone waits, see there). A
 *     moved-from object holds no handle; any call on it throws pc::error with
 *     PC_ERR_INVALID_ARGUMENT. pc::LockRef is the one non-owning type.
 *   - Errors. A failing call throws pc::error, which carries the pc_status and the text
 *     of pc_last_error(). Where a timeout is a normal outcome, a try_ form returns false
 *     instead (try_lock, try_acquire, try_get, try_put, try_join, wait_for, poll); it
 *     still throws for any other failure. Destructors never throw.
 *   - Timeouts are std::chrono durations, waited on the monotonic clock. The overloads
 *     without one wait without limit. A zero or negative duration only tries (unlike C,
 *     where a negative timeout means forever).
 *   - Fork. Objects made before a pc::Process starts (or a pc::Pool is made) are the same
 *     objects in the child: the shared memory is the C library's. A Process's callable is
 *     run in the forked child, so its captures are valid there.
 *   - PC_ERR_OWNER_DEAD (a lock taken over from a holder that died) is not an error here:
 *     the lock is held, as the C API says; the data it guards may be half-updated.
 */
#ifndef PROCESSING_HPP
#define PROCESSING_HPP

#include <processing.h>

#include <chrono>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <exception>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace pc {

/// The exception every failing call throws: a pc_status and the library's explanation.
class error : public std::runtime_error {
public:
    /// An error for `status`, with the calling thread's pc_last_error() as its detail.
    explicit error(pc_status status) : error(status, pc_last_error()) {}

    /// An error for `status` with a detail of the caller's.
    error(pc_status status, const std::string &detail)
        : std::runtime_error(std::string(pc_status_str(status)) + ": " + detail),
          status_(status), detail_(detail)
    {
    }

    /// The C status (a negative PC_ERR_*).
    pc_status status() const noexcept { return status_; }

    /// pc_last_error()'s text when the error was thrown.
    const std::string &detail() const noexcept { return detail_; }

private:
    pc_status status_;
    std::string detail_;
};

/// Throws pc::error unless `status` is PC_OK.
inline void check(pc_status status)
{
    if (status != PC_OK)
        throw error(status);
}

namespace detail {

/// A C timeout: seconds as a double, 0 for a zero or negative duration.
template <class Rep, class Period>
double seconds(std::chrono::duration<Rep, Period> d)
{
    double s = std::chrono::duration<double>(d).count();
    return s > 0 ? s : 0.0;
}

/// true for PC_OK, false for `timeout_status`; throws for anything else.
inline bool ok_or(pc_status status, pc_status timeout_status)
{
    if (status == PC_OK)
        return true;
    if (status == timeout_status)
        return false;
    throw error(status);
}

/// A lock's acquire: held on PC_OK and PC_ERR_OWNER_DEAD, false on PC_ERR_TIMEOUT.
inline bool acquired(pc_status status)
{
    return status == PC_ERR_OWNER_DEAD || ok_or(status, PC_ERR_TIMEOUT);
}

/// Tags the private constructors that take a C handle over.
struct adopt_t {};
inline constexpr adopt_t adopt{};

/// Owns one C handle of type H, released by Free; move-only.
template <class H, void (*Free)(H *)>
class owner {
public:
    owner() noexcept = default;
    explicit owner(H *h) noexcept : h_(h) {}
    owner(owner &&o) noexcept : h_(std::exchange(o.h_, nullptr)) {}
    owner &operator=(owner &&o) noexcept
    {
        if (this != &o)
            Free(std::exchange(h_, std::exchange(o.h_, nullptr)));
        return *this;
    }
    owner(const owner &) = delete;
    owner &operator=(const owner &) = delete;
    ~owner() { Free(h_); }

    /// The C handle, still owned by this object (nullptr once moved from).
    H *native_handle() const noexcept { return h_; }

    /// Gives up ownership: the caller must free the handle.
    H *release_handle() noexcept { return std::exchange(h_, nullptr); }

protected:
    H *h_ = nullptr;
};

/// Takes a pc_bytes the library filled and frees it on scope exit.
struct bytes_guard {
    pc_bytes b{nullptr, 0};
    bytes_guard() = default;
    bytes_guard(const bytes_guard &) = delete;
    bytes_guard &operator=(const bytes_guard &) = delete;
    ~bytes_guard() { pc_bytes_free(&b); }
    std::string str() const
    {
        return b.len ? std::string(reinterpret_cast<const char *>(b.data), b.len)
                     : std::string();
    }
    std::vector<std::byte> vec() const
    {
        const std::byte *p = reinterpret_cast<const std::byte *>(b.data);
        return b.len ? std::vector<std::byte>(p, p + b.len) : std::vector<std::byte>();
    }
    template <class T>
    T as() const
    {
        if (b.len != sizeof(T))
            throw error(PC_ERR_VALUE, "a message of " + std::to_string(b.len) +
                                          " bytes, expected " + std::to_string(sizeof(T)));
        T v;
        std::memcpy(&v, b.data, sizeof v);
        return v;
    }
};

template <class T>
constexpr void require_trivially_copyable()
{
    static_assert(std::is_trivially_copyable_v<T>,
                  "pc:: sends and shares trivially copyable types only, as their bytes");
}

} // namespace detail

/// The typecode (Python's) of an arithmetic type T, for pc::Value and pc::Array.
template <class T>
constexpr char typecode() noexcept
{
    using U = std::remove_cv_t<T>;
    if constexpr (std::is_same_v<U, bool>)
        return '?';
    else if constexpr (std::is_same_v<U, char>)
        return 'c';
    else if constexpr (std::is_same_v<U, wchar_t>)
        return 'u';
    else if constexpr (std::is_same_v<U, signed char>)
        return 'b';
    else if constexpr (std::is_same_v<U, unsigned char>)
        return 'B';
    else if constexpr (std::is_same_v<U, short>)
        return 'h';
    else if constexpr (std::is_same_v<U, unsigned short>)
        return 'H';
    else if constexpr (std::is_same_v<U, int>)
        return 'i';
    else if constexpr (std::is_same_v<U, unsigned>)
        return 'I';
    else if constexpr (std::is_same_v<U, long>)
        return 'l';
    else if constexpr (std::is_same_v<U, unsigned long>)
        return 'L';
    else if constexpr (std::is_same_v<U, long long>)
        return 'q';
    else if constexpr (std::is_same_v<U, unsigned long long>)
        return 'Q';
    else if constexpr (std::is_same_v<U, float>)
        return 'f';
    else if constexpr (std::is_same_v<U, double>)
        return 'd';
    else
        return 0;
}

// ---------------------------------------------------------------------------------------
// Locks
// ---------------------------------------------------------------------------------------

/// A non-owning view of a lock (a pc_lock handle someone else owns, e.g. the lock a
/// pc::Value lends): Lockable, so std::lock_guard and std::unique_lock work. Valid as long
/// as its owner. Throws pc::error (PC_ERR_INVALID_ARGUMENT) on a null or freed handle.
class LockRef {
public:
    /// A view of `h` (not freed by this object).
    explicit LockRef(pc_lock *h) noexcept : h_(h) {}

    /// Acquires the lock, waiting without limit.
    void lock() { detail::acquired(pc_lock_acquire(h_, PC_FOREVER)); }

    /// Tries once: true when acquired.
    bool try_lock() { return detail::acquired(pc_lock_acquire(h_, 0.0)); }

    /// Waits at most `d`: true when acquired, false on timeout.
    template <class Rep, class Period>
    bool try_lock_for(std::chrono::duration<Rep, Period> d)
    {
        return detail::acquired(pc_lock_acquire(h_, detail::seconds(d)));
    }

    /// Waits until `t` (any clock): true when acquired, false on timeout.
    template <class Clock, class Duration>
    bool try_lock_until(std::chrono::time_point<Clock, Duration> t)
    {
        return try_lock_for(t - Clock::now());
    }

    /// Releases it; throws PC_ERR_NOT_OWNER for a Lock not held or an RLock this thread
    /// does not hold (misuse only: from std::lock_guard's destructor that terminates).
    void unlock() { check(pc_lock_release(h_)); }

    /// The C handle (not owned by this view).
    pc_lock *native_handle() const noexcept { return h_; }

protected:
    /// The C handle (null once a Lock was moved from).
    pc_lock *h_;
};

/// Python's Lock(): not recursive; any process or thread may release it while held.
/// Owns its handle (pc_lock_free); a Condition, Value or Array made with it keeps the
/// lock itself alive. Throws pc::error if shared memory cannot be mapped.
class Lock : public LockRef {
public:
    Lock() : LockRef(nullptr) { check(pc_lock_new(&h_)); }
    /// Takes `o`'s lock; `o` is left empty.
    Lock(Lock &&o) noexcept : LockRef(std::exchange(o.h_, nullptr)) {}
    /// Frees this lock (pc_lock_free) and takes `o`'s; `o` is left empty.
    Lock &operator=(Lock &&o) noexcept
    {
        if (this != &o)
            pc_lock_free(std::exchange(h_, std::exchange(o.h_, nullptr)));
        return *this;
    }
    ~Lock() { pc_lock_free(h_); }

protected:
    struct recursive {};
    /// For pc::RLock: a recursive lock (pc_rlock_new).
    explicit Lock(recursive) : LockRef(nullptr) { check(pc_rlock_new(&h_)); }
};

/// Python's RLock(): the holding thread may acquire it again and must release it as many
/// times; only it may release it. Otherwise as pc::Lock.
class RLock : public Lock {
public:
    RLock() : Lock(recursive{}) {}
};

/// Python's Semaphore (or BoundedSemaphore, from bounded()). Owns its handle.
class Semaphore : public detail::owner<pc_semaphore, pc_semaphore_free> {
public:
    /// A semaphore whose counter starts at `value`.
    explicit Semaphore(unsigned value = 1) { check(pc_semaphore_new(value, &h_)); }

    /// A BoundedSemaphore: releasing it above `value` throws pc::error (PC_ERR_VALUE).
    static Semaphore bounded(unsigned value = 1)
    {
        pc_semaphore *h = nullptr;
        check(pc_bounded_semaphore_new(value, &h));
        return Semaphore(detail::adopt, h);
    }

    /// Decrements the counter, waiting without limit while it is 0.
    void acquire() { check(pc_semaphore_acquire(h_, PC_FOREVER)); }

    /// Tries once: true when decremented.
    bool try_acquire() { return detail::ok_or(pc_semaphore_acquire(h_, 0.0), PC_ERR_TIMEOUT); }

    /// Waits at most `d`: true when decremented, false on timeout.
    template <class Rep, class Period>
    bool try_acquire(std::chrono::duration<Rep, Period> d)
    {
        return detail::ok_or(pc_semaphore_acquire(h_, detail::seconds(d)), PC_ERR_TIMEOUT);
    }

    /// Increments the counter and wakes a waiter.
    void release() { check(pc_semaphore_release(h_)); }

    /// The counter now (it may change at once).
    int value() const
    {
        int32_t v = 0;
        check(pc_semaphore_value(h_, &v));
        return v;
    }

    /// BasicLockable spelling of acquire/release, for std::lock_guard.
    void lock() { acquire(); }
    /// As release().
    void unlock() { release(); }
    /// As try_acquire(): true when decremented.
    bool try_lock() { return try_acquire(); }

private:
    Semaphore(detail::adopt_t, pc_semaphore *h) : owner(h) {}
};

/// Python's Condition, on a pc::Lock/RLock given to it or on an RLock of its own. It is
/// Lockable itself (it takes its lock), so `std::unique_lock lk(cond); cond.wait();`
/// works, and so does holding the lock it was made with through that lock's object.
/// Owns its handle; keeps its lock alive.
class Condition : public detail::owner<pc_condition, pc_condition_free> {
public:
    /// A condition on a new RLock of its own.
    Condition() { check(pc_condition_new(nullptr, &h_)); }

    /// A condition on `lock` (a pc::Lock or pc::RLock; not a manager's).
    explicit Condition(LockRef lock) { check(pc_condition_new(lock.native_handle(), &h_)); }

    /// Acquires its lock, waiting without limit (pc_condition_acquire).
    void lock() { detail::acquired(pc_condition_acquire(h_, PC_FOREVER)); }
    /// Tries once to acquire its lock: true when acquired.
    bool try_lock() { return detail::acquired(pc_condition_acquire(h_, 0.0)); }
    /// Waits at most `d` for its lock: true when acquired, false on timeout.
    template <class Rep, class Period>
    bool try_lock_for(std::chrono::duration<Rep, Period> d)
    {
        return detail::acquired(pc_condition_acquire(h_, detail::seconds(d)));
    }
    /// Releases its lock; throws PC_ERR_NOT_OWNER when not held by this thread.
    void unlock() { check(pc_condition_release(h_)); }

    /// Waits to be notified, the lock held by the caller (released while waiting, held
    /// again on return, also when it throws).
    void wait() { wait_status(pc_condition_wait(h_, PC_FOREVER)); }

    /// As wait(), at most `d`: false on timeout.
    template <class Rep, class Period>
    bool wait_for(std::chrono::duration<Rep, Period> d)
    {
        return wait_status(pc_condition_wait(h_, detail::seconds(d)));
    }

    /// Waits until `pred()` is true (called with the lock held). Exceptions from `pred`
    /// propagate (the lock still held).
    template <class Pred>
    void wait(Pred pred)
    {
        wait_pred(pred, PC_FOREVER);
    }

    /// As wait(pred), at most `d` in all: false when `pred()` is still false.
    template <class Rep, class Period, class Pred>
    bool wait_for(std::chrono::duration<Rep, Period> d, Pred pred)
    {
        return wait_pred(pred, detail::seconds(d));
    }

    /// Wakes the `n` longest-waiting waiters; the caller holds the lock.
    void notify(std::size_t n = 1) { check(pc_condition_notify(h_, n)); }

    /// Wakes every waiter; the caller holds the lock.
    void notify_all() { check(pc_condition_notify_all(h_)); }

private:
    static bool wait_status(pc_status s)
    {
        return s == PC_ERR_OWNER_DEAD || detail::ok_or(s, PC_ERR_TIMEOUT);
    }

    template <class Pred>
    struct pred_ctx {
        Pred *pred;
        std::exception_ptr failure;
    };

    template <class Pred>
    static bool call_pred(void *ctx)
    {
        auto *c = static_cast<pred_ctx<Pred> *>(ctx);
        if (c->failure)
            return true;
        try {
            return static_cast<bool>((*c->pred)());
        } catch (...) {
            c->failure = std::current_exception();
            return true; // ends the wait; rethrown below
        }
    }

    template <class Pred>
    bool wait_pred(Pred &pred, double timeout)
    {
        pred_ctx<Pred> ctx{&pred, nullptr};
        pc_status s = pc_condition_wait_for(h_, &call_pred<Pred>, &ctx, timeout);
        if (ctx.failure)
            std::rethrow_exception(ctx.failure);
        return wait_status(s);
    }
};

/// Python's Event: a flag processes wait on. Owns its handle.
class Event : public detail::owner<pc_event, pc_event_free> {
public:
    Event() { check(pc_event_new(&h_)); }
    /// Sets the flag and wakes every waiter (pc_event_set).
    void set() { check(pc_event_set(h_)); }
    /// Clears the flag.
    void clear() { check(pc_event_clear(h_)); }
    /// Whether the flag is set now.
    bool is_set() const { return pc_event_is_set(h_); }
    /// Waits until the flag is set.
    void wait() { check(pc_event_wait(h_, PC_FOREVER)); }
    /// Waits at most `d`: true once set, false on timeout.
    template <class Rep, class Period>
    bool wait_for(std::chrono::duration<Rep, Period> d)
    {
        return detail::ok_or(pc_event_wait(h_, detail::seconds(d)), PC_ERR_TIMEOUT);
    }
};

/// Python 3's Barrier for `parties` waiters. Owns its handle.
class Barrier : public detail::owner<pc_barrier, pc_barrier_free> {
public:
    /// A barrier that releases its waiters once `parties` of them wait.
    explicit Barrier(std::size_t parties) { check(pc_barrier_new(parties, &h_)); }
    /// Waits for every party; returns this waiter's arrival index. Throws PC_ERR_BROKEN.
    std::size_t wait()
    {
        std::size_t i = 0;
        check(pc_barrier_wait(h_, PC_FOREVER, &i));
        return i;
    }
    /// As wait(), at most `d`: a timeout throws PC_ERR_TIMEOUT (and breaks the barrier,
    /// as in Python, so it is no try_ form).
    template <class Rep, class Period>
    std::size_t wait(std::chrono::duration<Rep, Period> d)
    {
        std::size_t i = 0;
        check(pc_barrier_wait(h_, detail::seconds(d), &i));
        return i;
    }
    /// Breaks the barrier: waiters now and later throw PC_ERR_BROKEN until reset().
    void abort() { check(pc_barrier_abort(h_)); }
    /// Returns it to its initial state; waiters now throw PC_ERR_BROKEN.
    void reset() { check(pc_barrier_reset(h_)); }
    /// The number of parties it waits for.
    std::size_t parties() const { return pc_barrier_parties(h_); }
    /// The number of waiters now waiting for it to fill (0 while released or reset).
    std::size_t n_waiting() const { return pc_barrier_n_waiting(h_); }
    /// Whether it is broken (abort(), or a wait timed out).
    bool broken() const { return pc_barrier_broken(h_); }
};

// ---------------------------------------------------------------------------------------
// Shared values and arrays
// ---------------------------------------------------------------------------------------

/// Python's Value (or RawValue, from raw()) of an arithmetic type T, in shared memory.
/// get() and set() each take its lock; for a read-modify-write, hold the value (it is
/// Lockable: its lock() takes get_lock()) around *ptr(), or use add(). Owns its handle.
template <class T>
class Value : public detail::owner<pc_value, pc_value_free> {
    static_assert(typecode<T>() != 0,
                  "pc::Value<T> needs an arithmetic T (a typecode); for other trivially "
                  "copyable types use pc::Array<T> of one element");

public:
    /// A value guarded by an RLock of its own.
    explicit Value(T init = T{}) { check(pc_value_new(typecode<T>(), &init, &h_)); }

    /// A value guarded by `lock` (kept alive by the value).
    Value(T init, LockRef lock)
    {
        check(pc_value_new_with_lock(typecode<T>(), &init, lock.native_handle(), &h_));
    }

    /// Python's RawValue: no lock (get_lock() is then a null view).
    static Value raw(T init = T{})
    {
        pc_value *h = nullptr;
        check(pc_raw_value_new(typecode<T>(), &init, &h));
        return Value(detail::adopt, h);
    }

    /// Reads it under its lock.
    T get() const
    {
        T v;
        check(pc_value_get(h_, &v));
        return v;
    }

    /// Writes it under its lock.
    void set(T v) { check(pc_value_set(h_, &v)); }

    /// `value += delta` as one step under its lock.
    void add(T delta) { check(pc_value_add(h_, static_cast<double>(delta))); }

    /// Its address in shared memory (the same in forked children), for direct access
    /// under get_lock().
    T *ptr() const
    {
        void *p = pc_value_ptr(h_);
        if (!p)
            throw error(PC_ERR_INVALID_ARGUMENT);
        return static_cast<T *>(p);
    }

    /// The lock guarding it, lent by the value (valid while the value lives); a null view
    /// for a raw value.
    LockRef get_lock() const noexcept { return LockRef(pc_value_lock(h_)); }

    /// Lockable through its lock (`std::lock_guard g(value); *value.ptr() += 1;`); a raw
    /// value has none (PC_ERR_INVALID_ARGUMENT).
    void lock() { get_lock().lock(); }
    /// Tries once to take its lock: true when acquired.
    bool try_lock() { return get_lock().try_lock(); }
    /// Releases its lock.
    void unlock() { get_lock().unlock(); }

private:
    Value(detail::adopt_t, pc_value *h) : owner(h) {}
};

/// Python's Array (or RawArray, from raw()) of trivially copyable T, in shared memory;
/// span-like: data(), size(), operator[] and iterators reach the shared elements
/// directly (hold get_lock() as needed); get(), set(), read() and write() take the lock.
/// An arithmetic T gets its typecode; any other T is a RawArray of sizeof(T) elements
/// (pc_raw_array_new_sized: zeroed, no lock). Owns its handle.
template <class T>
class Array : public detail::owner<pc_array, pc_array_free> {
public:
    /// The element type.
    using value_type = T;
    /// An iterator over the shared elements.
    using iterator = T *;
    /// A read-only iterator over the shared elements.
    using const_iterator = const T *;

    /// `n` zeroed elements (guarded by an RLock of their own for an arithmetic T).
    explicit Array(std::size_t n) { make(n, nullptr, true); }

    /// A copy of `init`.
    explicit Array(const std::vector<T> &init) { make(init.size(), init.data(), true); }

    /// Python's RawArray: `n` zeroed elements without a lock.
    static Array raw(std::size_t n)
    {
        Array a;
        a.make(n, nullptr, false);
        return a;
    }

    /// The number of elements.
    std::size_t size() const noexcept { return pc_array_len(h_); }
    /// Whether it has no element.
    bool empty() const noexcept { return size() == 0; }

    /// The first element in shared memory (the same address in forked children).
    T *data() const
    {
        void *p = pc_array_ptr(h_);
        if (!p)
            throw error(PC_ERR_INVALID_ARGUMENT);
        return static_cast<T *>(p);
    }
    /// Element `i` in shared memory, unchecked and without the lock.
    T &operator[](std::size_t i) const { return data()[i]; }
    /// The first element (see data()).
    iterator begin() const { return data(); }
    /// One past the last element.
    iterator end() const { return data() + size(); }

    /// Element `i` under the lock; throws PC_ERR_INDEX out of range.
    T get(std::size_t i) const
    {
        T v;
        check(pc_array_get(h_, i, &v));
        return v;
    }

    /// Sets element `i` under the lock; throws PC_ERR_INDEX out of range.
    void set(std::size_t i, const T &v) { check(pc_array_set(h_, i, &v)); }

    /// Every element, read as one step under the lock.
    std::vector<T> read() const
    {
        std::vector<T> out(size());
        check(pc_array_read(h_, 0, out.size(), out.data()));
        return out;
    }

    /// Writes `in` from element `start` on as one step under the lock.
    void write(const std::vector<T> &in, std::size_t start = 0)
    {
        check(pc_array_write(h_, start, in.size(), in.data()));
    }

    /// The lock guarding it, lent by the array; a null view for a raw array.
    LockRef get_lock() const noexcept { return LockRef(pc_array_lock(h_)); }

    /// Lockable through its lock, as pc::Value; a raw array has none.
    void lock() { get_lock().lock(); }
    /// Tries once to take its lock: true when acquired.
    bool try_lock() { return get_lock().try_lock(); }
    /// Releases its lock.
    void unlock() { get_lock().unlock(); }

private:
    Array() = default;

    void make(std::size_t n, const T *init, bool locked)
    {
        detail::require_trivially_copyable<T>();
        if constexpr (typecode<T>() != 0) {
            check(locked ? pc_array_new(typecode<T>(), n, init, &h_)
                         : pc_raw_array_new(typecode<T>(), n, init, &h_));
        } else {
            check(pc_raw_array_new_sized(sizeof(T), n, &h_));
            if (init && n)
                std::memcpy(pc_array_ptr(h_), init, n * sizeof(T));
        }
    }
};

// ---------------------------------------------------------------------------------------
// Queues
// ---------------------------------------------------------------------------------------

/// Python's Queue (or JoinableQueue, from joinable()) of byte messages, in shared memory.
/// A message is a std::string / std::vector<std::byte>, or the bytes of one trivially
/// copyable T (put_value / get_value<T>). Owns its handle.
class Queue : public detail::owner<pc_queue, pc_queue_free> {
public:
    /// A queue of at most `maxsize` messages (0: unbounded, put never waits).
    explicit Queue(std::size_t maxsize = 0) { check(pc_queue_new(maxsize, &h_)); }

    /// A JoinableQueue: task_done() and join() count the messages got.
    static Queue joinable(std::size_t maxsize = 0)
    {
        pc_queue *h = nullptr;
        check(pc_joinable_queue_new(maxsize, &h));
        return Queue(detail::adopt, h);
    }

    /// Puts a copy of `len` bytes at `data`, waiting without limit for room.
    void put_bytes(const void *data, std::size_t len)
    {
        check(pc_queue_put(h_, data, len, PC_FOREVER));
    }
    /// Puts a copy of `msg`, waiting without limit for room.
    void put(std::string_view msg) { put_bytes(msg.data(), msg.size()); }
    /// As put(std::string_view), from bytes.
    void put(const std::vector<std::byte> &msg) { put_bytes(msg.data(), msg.size()); }

    /// Puts the bytes of `v`.
    template <class T>
    void put_value(const T &v)
    {
        detail::require_trivially_copyable<T>();
        put_bytes(&v, sizeof v);
    }

    /// Waits at most `d` for room: false when the queue stayed full.
    template <class Rep, class Period>
    bool try_put(std::string_view msg, std::chrono::duration<Rep, Period> d)
    {
        return detail::ok_or(pc_queue_put(h_, msg.data(), msg.size(), detail::seconds(d)),
                             PC_ERR_FULL);
    }

    /// Takes the oldest message, waiting without limit.
    std::string get()
    {
        detail::bytes_guard g;
        check(pc_queue_get(h_, PC_FOREVER, &g.b));
        return g.str();
    }

    /// As get(), as bytes.
    std::vector<std::byte> get_bytes()
    {
        detail::bytes_guard g;
        check(pc_queue_get(h_, PC_FOREVER, &g.b));
        return g.vec();
    }

    /// Waits at most `d`: true with the message in `out`, false when the queue stayed
    /// empty (`out` unchanged).
    template <class Rep, class Period>
    bool try_get(std::string &out, std::chrono::duration<Rep, Period> d)
    {
        detail::bytes_guard g;
        if (!detail::ok_or(pc_queue_get(h_, detail::seconds(d), &g.b), PC_ERR_EMPTY))
            return false;
        out = g.str();
        return true;
    }

    /// Takes a message of exactly sizeof(T) bytes, waiting without limit. A message of
    /// another size throws (PC_ERR_BUFFER_TOO_SHORT leaves a longer one in the queue;
    /// PC_ERR_VALUE for a shorter one, which is consumed).
    template <class T>
    T get_value()
    {
        T v;
        get_value_into(v, PC_FOREVER);
        return v;
    }

    /// As get_value<T>(), at most `d`: false when the queue stayed empty.
    template <class T, class Rep, class Period>
    bool try_get_value(T &out, std::chrono::duration<Rep, Period> d)
    {
        return get_value_into(out, detail::seconds(d));
    }

    /// The approximate number of messages in it (pc_queue_qsize).
    std::size_t qsize() const
    {
        std::size_t n = 0;
        check(pc_queue_qsize(h_, &n));
        return n;
    }
    /// Whether it holds no message now (it may change at once).
    bool empty() const { return pc_queue_empty(h_); }
    /// Whether a bounded queue holds `maxsize` messages now (never for an unbounded one).
    bool full() const { return pc_queue_full(h_); }

    /// This process puts no more (put then throws PC_ERR_CLOSED); it may still get.
    void close() { check(pc_queue_close(h_)); }

    /// JoinableQueue: one message got is finished.
    void task_done() { check(pc_queue_task_done(h_)); }

    /// JoinableQueue: waits until every message put was marked task_done().
    void join() { check(pc_queue_join(h_, PC_FOREVER)); }

    /// As join(), at most `d`: false on timeout.
    template <class Rep, class Period>
    bool try_join(std::chrono::duration<Rep, Period> d)
    {
        return detail::ok_or(pc_queue_join(h_, detail::seconds(d)), PC_ERR_TIMEOUT);
    }

private:
    Queue(detail::adopt_t, pc_queue *h) : owner(h) {}

    template <class T>
    bool get_value_into(T &out, double timeout)
    {
        detail::require_trivially_copyable<T>();
        T v;
        std::size_t len = 0;
        if (!detail::ok_or(pc_queue_get_into(h_, &v, sizeof v, &len, timeout), PC_ERR_EMPTY))
            return false;
        if (len != sizeof v)
            throw error(PC_ERR_VALUE, "a message of " + std::to_string(len) +
                                          " bytes, expected " + std::to_string(sizeof v));
        out = v;
        return true;
    }
};

// ---------------------------------------------------------------------------------------
// Connections
// ---------------------------------------------------------------------------------------

/// One end of a connection (Python's Connection): a pipe's end, an accepted client, or a
/// Client. Messages are bytes. Owns its handle (closing the socket when the last handle
/// goes; close() closes it now).
class Connection : public detail::owner<pc_connection, pc_connection_free> {
public:
    /// Takes ownership of a C handle.
    explicit Connection(pc_connection *h) noexcept : owner(h) {}

    /// Sends `len` bytes at `data` as one message; throws PC_ERR_EOF when the peer closed its end
    /// and PC_ERR_TIMEOUT past set_timeout().
    void send_bytes(const void *data, std::size_t len)
    {
        check(pc_connection_send_bytes(h_, data, len));
    }
    /// Sends `msg` as one message, as send_bytes().
    void send(std::string_view msg) { send_bytes(msg.data(), msg.size()); }
    /// As send(std::string_view), from bytes.
    void send(const std::vector<std::byte> &msg) { send_bytes(msg.data(), msg.size()); }

    /// Sends the bytes of `v`.
    template <class T>
    void send_value(const T &v)
    {
        detail::require_trivially_copyable<T>();
        send_bytes(&v, sizeof v);
    }

    /// Receives one message; throws PC_ERR_EOF when the peer closed its end.
    std::string recv()
    {
        detail::bytes_guard g;
        check(pc_connection_recv_bytes(h_, 0, &g.b));
        return g.str();
    }

    /// As recv(), as bytes.
    std::vector<std::byte> recv_bytes()
    {
        detail::bytes_guard g;
        check(pc_connection_recv_bytes(h_, 0, &g.b));
        return g.vec();
    }

    /// Receives a message of exactly sizeof(T) bytes (else throws PC_ERR_VALUE).
    template <class T>
    T recv_value()
    {
        detail::require_trivially_copyable<T>();
        detail::bytes_guard g;
        check(pc_connection_recv_bytes(h_, 0, &g.b));
        return g.as<T>();
    }

    /// Whether a message (or EOF) can be received now.
    bool poll() { return detail::ok_or(pc_connection_poll(h_, 0.0), PC_ERR_TIMEOUT); }

    /// Waits at most `d` until a message (or EOF) can be received: false on timeout.
    template <class Rep, class Period>
    bool poll(std::chrono::duration<Rep, Period> d)
    {
        return detail::ok_or(pc_connection_poll(h_, detail::seconds(d)), PC_ERR_TIMEOUT);
    }

    /// A deadline for each whole send or receive (PC_ERR_TIMEOUT past it).
    template <class Rep, class Period>
    void set_timeout(std::chrono::duration<Rep, Period> d)
    {
        check(pc_connection_set_timeout(h_, detail::seconds(d)));
    }

    /// Closes this end in this process.
    void close() { check(pc_connection_close(h_)); }

    /// The socket's fd (owned by the connection), -1 once closed.
    int fileno() const noexcept { return pc_connection_fileno(h_); }

    /// Whether this end receives (Python's `readable`): false for a one-way pipe's sender.
    bool readable() const noexcept { return pc_connection_readable(h_); }

    /// Whether this end sends (Python's `writable`): false for a one-way pipe's receiver.
    bool writable() const noexcept { return pc_connection_writable(h_); }
};

/// Python's Pipe(duplex): two connected ends. With `duplex` false, the first only
/// receives and the second only sends.
inline std::pair<Connection, Connection> Pipe(bool duplex = true)
{
    pc_connection *a = nullptr, *b = nullptr;
    check(pc_pipe(duplex, &a, &b));
    return {Connection(a), Connection(b)};
}

/// Python's Listener: "unix:PATH", "unix:@NAME", "tcp://HOST:PORT", or nullptr for a
/// fresh private name; with a non-empty `authkey`, every client must authenticate.
/// Owns its handle.
class Listener : public detail::owner<pc_listener, pc_listener_free> {
public:
    /// Listens at `address` (nullptr: a fresh private name), queueing up to `backlog`
    /// clients; throws pc::error (PC_ERR_OS) when it cannot bind.
    explicit Listener(const char *address = nullptr, std::string_view authkey = {},
                      int backlog = 1)
    {
        check(pc_listener_new(address, backlog, authkey.data(), authkey.size(), &h_));
    }

    /// Waits without limit for a client.
    Connection accept()
    {
        pc_connection *c = nullptr;
        check(pc_listener_accept(h_, PC_FOREVER, &c));
        return Connection(c);
    }

    /// Waits at most `d` for a client: an empty optional on timeout.
    template <class Rep, class Period>
    std::optional<Connection> try_accept(std::chrono::duration<Rep, Period> d)
    {
        pc_connection *c = nullptr;
        if (!detail::ok_or(pc_listener_accept(h_, detail::seconds(d), &c), PC_ERR_TIMEOUT))
            return std::nullopt;
        return Connection(c);
    }

    /// The bound address, in the forms the constructor takes.
    std::string address() const
    {
        const char *a = pc_listener_address(h_);
        if (!a)
            throw error(PC_ERR_INVALID_ARGUMENT);
        return a;
    }

    /// Stops listening (removing a unix socket file it bound); later accepts throw
    /// PC_ERR_CLOSED. Twice is fine.
    void close() { check(pc_listener_close(h_)); }
};

/// Python's Client: connects to a listener at `address`, authenticating with `authkey`.
inline Connection Client(const std::string &address, std::string_view authkey = {})
{
    pc_connection *c = nullptr;
    check(pc_client_connect(address.c_str(), authkey.data(), authkey.size(), &c));
    return Connection(c);
}

// ---------------------------------------------------------------------------------------
// Processes
// ---------------------------------------------------------------------------------------

namespace detail {

struct target_base {
    virtual ~target_base() = default;
    virtual int run() = 0;
};

template <class F>
struct target final : target_base {
    F f;
    explicit target(F fn) : f(std::move(fn)) {}
    int run() override
    {
        if constexpr (std::is_void_v<std::invoke_result_t<F &>>) {
            f();
            return 0;
        } else {
            return static_cast<int>(f());
        }
    }
};

/// The C target: runs the callable; an escaping exception prints its what() and exits 1,
/// as an exception in Python's child exits 1.
inline int run_target(void *arg)
{
    try {
        return static_cast<target_base *>(arg)->run();
    } catch (const std::exception &e) {
        std::fprintf(stderr, "pc::Process: uncaught exception: %s\n", e.what());
    } catch (...) {
        std::fprintf(stderr, "pc::Process: uncaught exception\n");
    }
    return 1;
}

} // namespace detail

/// Python's Process, running any callable in a forked child:
///
///     pc::Process p([&] { counter.add(1); return 0; });
///     p.start();
///     p.join();
///
/// The callable (returning an int exit code, or void for 0) is moved to the heap and run
/// by a C trampoline in the child, a fork of this process: its captures, references too,
/// are valid there (they name the child's copy of this memory; share results through
/// pc:: objects). An exception escaping it prints its what() and exits 1. Fork only: the
/// spawn and forkserver start methods cannot carry a callable (start throws
/// PC_ERR_NOT_SUPPORTED); use the C API's pc_process_new_spawnable there.
/// dummy() makes a thread instead (Python's multiprocessing.dummy.Process).
///
/// Destruction, like std::jthread: a process started and not yet joined is joined (waited
/// for without limit) by the destructor, in the process that made it; terminate() or
/// kill() it first to not wait. Owns its handle and the callable.
class Process : public detail::owner<pc_process, pc_process_free> {
public:
    /// A process that will run `f` in a forked child once started (pc_process_new).
    template <class F, class = std::enable_if_t<!std::is_same_v<std::decay_t<F>, Process>>>
    explicit Process(F &&f)
        : target_(std::make_unique<detail::target<std::decay_t<F>>>(std::forward<F>(f)))
    {
        check(pc_process_new(&detail::run_target, target_.get(), &h_));
    }

    /// A dummy process: start() runs the callable on a new thread of this process.
    template <class F>
    static Process dummy(F &&f)
    {
        Process p;
        p.target_ = std::make_unique<detail::target<std::decay_t<F>>>(std::forward<F>(f));
        check(pc_dummy_process_new(&detail::run_target, p.target_.get(), &p.h_));
        return p;
    }

    /// Takes `o`'s process and callable.
    Process(Process &&) noexcept = default;
    /// Joins this process if started and not joined, then takes `o`'s.
    Process &operator=(Process &&o) noexcept
    {
        if (this != &o) {
            join_quietly();
            owner::operator=(std::move(o));
            target_ = std::move(o.target_);
        }
        return *this;
    }
    ~Process() { join_quietly(); }

    /// Starts the child (once; only from the process that made it).
    void start() { check(pc_process_start(h_)); }

    /// Waits without limit until the child ended.
    void join() { check(pc_process_join(h_, PC_FOREVER)); }

    /// Waits at most `d`: true once the child ended, false on timeout.
    template <class Rep, class Period>
    bool try_join(std::chrono::duration<Rep, Period> d)
    {
        return detail::ok_or(pc_process_join(h_, detail::seconds(d)), PC_ERR_TIMEOUT);
    }

    /// Whether the child is running now: false before start and after it ended.
    bool is_alive() const { return pc_process_is_alive(h_); }

    /// The exit code once the child ended (0-255, or -N when signal N killed it); empty
    /// before start and while it runs.
    std::optional<int> exitcode() const
    {
        int code = 0;
        pc_status s = pc_process_exitcode(h_, &code);
        if (s == PC_ERR_WRONG_STATE)
            return std::nullopt;
        check(s);
        return code;
    }

    /// Sends SIGTERM (PC_ERR_NOT_SUPPORTED for a dummy process).
    void terminate() { check(pc_process_terminate(h_)); }

    /// Sends SIGKILL (PC_ERR_NOT_SUPPORTED for a dummy process).
    void kill() { check(pc_process_kill(h_)); }

    /// Releases the child's sentinel once it ended (Python's `close()`): throws
    /// PC_ERR_WRONG_STATE while it runs; afterwards join, exitcode, terminate and kill
    /// throw PC_ERR_CLOSED.
    void close() { check(pc_process_close(h_)); }

    /// The child's pid, 0 before start.
    int pid() const noexcept { return pc_process_pid(h_); }

    /// Its name (Python's `name`: "Process-1", ... unless set).
    std::string name() const
    {
        const char *n = pc_process_name(h_);
        if (!n)
            throw error(PC_ERR_INVALID_ARGUMENT);
        return n;
    }
    /// Sets its name, any time.
    void set_name(const std::string &name) { check(pc_process_set_name(h_, name.c_str())); }

    /// The daemon flag (Python's `daemon`).
    bool daemon() const { return pc_process_daemon(h_); }
    /// Before start() only.
    void set_daemon(bool daemon) { check(pc_process_set_daemon(h_, daemon)); }

private:
    Process() = default;

    void join_quietly() noexcept
    {
        if (h_ && pc_process_pid(h_) != 0)
            (void)pc_process_join(h_, PC_FOREVER); // WRONG_STATE elsewhere: ignored
    }

    std::unique_ptr<detail::target_base> target_;
};

/// The name of the running process ("MainProcess", "Process-1", ...).
inline std::string current_process_name()
{
    const pc_process *me = nullptr;
    check(pc_current_process(&me));
    const char *n = pc_process_name(me);
    return n ? n : "";
}

// ---------------------------------------------------------------------------------------
// Pools
// ---------------------------------------------------------------------------------------

namespace detail {

/// pc_pool_map_array's element function for a callable F: F's bytes are the call's ctx.
template <class F, class T, class R>
int map_element(const void *in, void *out, const void *ctx)
{
    try {
        alignas(F) unsigned char fbuf[sizeof(F)];
        std::memcpy(fbuf, ctx, sizeof(F));
        const F &f = *reinterpret_cast<const F *>(fbuf);
        T x;
        std::memcpy(&x, in, sizeof x);
        R r = f(x);
        std::memcpy(out, &r, sizeof r);
        return 0;
    } catch (...) {
        return 1;
    }
}

} // namespace detail

/// Python's Pool of worker processes (forks of this process, made now), or of threads
/// (options.threads). Only the process that made it may use it. The destructor
/// terminates a pool still running (pc_pool_free); close() then join() first to let
/// queued tasks finish. Owns its handle.
class Pool : public detail::owner<pc_pool, pc_pool_free> {
public:
    /// `processes` workers (0: the CPU count).
    explicit Pool(std::size_t processes = 0)
    {
        pc_pool_options opts{};
        opts.processes = processes;
        check(pc_pool_new(&opts, &h_));
    }

    /// Every option of pc_pool_new.
    explicit Pool(const pc_pool_options &opts) { check(pc_pool_new(&opts, &h_)); }

    /// Runs the C task `fn` on `arg`'s bytes in a worker and returns what it wrote.
    /// A failing task throws PC_ERR_TASK_FAILED (its code and output in the detail).
    std::string apply(pc_task_fn fn, std::string_view arg = {})
    {
        detail::bytes_guard g;
        check(pc_pool_apply(h_, fn, arg.data(), arg.size(), &g.b));
        return g.str();
    }

    /// As apply(), with the bytes of `arg` in and a result of exactly sizeof(R) bytes out.
    template <class R, class A>
    R apply_value(pc_task_fn fn, const A &arg)
    {
        detail::require_trivially_copyable<A>();
        detail::require_trivially_copyable<R>();
        detail::bytes_guard g;
        check(pc_pool_apply(h_, fn, &arg, sizeof arg, &g.b));
        return g.as<R>();
    }

    /// Runs the C task `fn` on each message of `items` and returns their results in order.
    std::vector<std::string> map(pc_task_fn fn, const std::vector<std::string> &items,
                                 std::size_t chunksize = 0)
    {
        std::vector<pc_slice> in(items.size());
        for (std::size_t i = 0; i < items.size(); i++)
            in[i] = pc_slice{items[i].data(), items[i].size()};
        std::vector<pc_bytes> res(items.size(), pc_bytes{nullptr, 0});
        pc_status s = pc_pool_map(h_, fn, in.data(), in.size(), chunksize, res.data());
        std::vector<std::string> out;
        if (s == PC_OK) {
            out.reserve(res.size());
            for (pc_bytes &b : res)
                out.emplace_back(reinterpret_cast<const char *>(b.data), b.len);
        }
        for (pc_bytes &b : res)
            pc_bytes_free(&b);
        check(s);
        return out;
    }

    /// `out[i] = f(in[i])` in the workers, through pc_pool_map_array: the inputs are
    /// copied into shared memory once and the outputs out of it once. T and the result
    /// must be trivially copyable, and so must `f` (a captureless lambda, or one that
    /// captures plain values): its bytes are the call's context, copied to the workers,
    /// so pointers it captures must point to memory the workers see. An exception from
    /// `f`, or an element that fails, throws PC_ERR_TASK_FAILED.
    template <class F, class T>
    auto map_array(F f, const std::vector<T> &in, std::size_t chunksize = 0)
        -> std::vector<std::decay_t<std::invoke_result_t<const F &, const T &>>>
    {
        using R = std::decay_t<std::invoke_result_t<const F &, const T &>>;
        detail::require_trivially_copyable<T>();
        detail::require_trivially_copyable<R>();
        static_assert(std::is_trivially_copyable_v<F>,
                      "map_array's function must be trivially copyable (a captureless "
                      "lambda, or one capturing plain values)");
        std::vector<R> out(in.size());
        check(pc_pool_map_array(h_, &detail::map_element<F, T, R>, &f, sizeof f, in.data(),
                                sizeof(T), out.data(), sizeof(R), in.size(), chunksize));
        return out;
    }

    /// No more tasks: the workers end once the queued ones are done.
    void close() { check(pc_pool_close(h_)); }

    /// Stops at once: kills the workers, failing unfinished tasks with PC_ERR_CLOSED.
    void terminate() { check(pc_pool_terminate(h_)); }

    /// Waits until the workers ended, after close() or terminate().
    void join() { check(pc_pool_join(h_)); }
};

/// The number of CPUs online (at least 1).
inline int cpu_count() noexcept { return pc_cpu_count(); }

// ---------------------------------------------------------------------------------------
// Managers
// ---------------------------------------------------------------------------------------

/// One value in a managed container (a pc_item): None, bool, int (int64), float, bytes,
/// str (UTF-8) or, from a Python peer, any other value as its opaque pickle. Built from a
/// C++ value; read back with kind() and the as_ accessor of that kind (another kind
/// throws PC_ERR_TYPE).
class Item {
public:
    /// None.
    Item() noexcept = default;
    /// None.
    Item(std::nullptr_t) noexcept {}
    /// bool.
    Item(bool b) noexcept : kind_(PC_KIND_BOOL), i_(b) {}
    /// Any integer but bool: int.
    template <class I, std::enable_if_t<std::is_integral_v<I> && !std::is_same_v<I, bool> &&
                                            !std::is_same_v<I, char>,
                                        int> = 0>
    Item(I i) noexcept : kind_(PC_KIND_INT), i_(static_cast<std::int64_t>(i))
    {
    }
    /// float.
    Item(double f) noexcept : kind_(PC_KIND_FLOAT), f_(f) {}
    /// str.
    Item(std::string_view s) : kind_(PC_KIND_STR), data_(s) {}
    /// str, from a NUL-terminated string.
    Item(const char *s) : Item(std::string_view(s)) {}
    /// str.
    Item(const std::string &s) : Item(std::string_view(s)) {}
    /// bytes.
    Item(const std::vector<std::byte> &b)
        : kind_(PC_KIND_BYTES), data_(reinterpret_cast<const char *>(b.data()), b.size())
    {
    }

    /// A copy of an item the library filled.
    static Item from_c(const pc_item &c)
    {
        Item it;
        it.kind_ = static_cast<pc_kind>(c.kind);
        it.i_ = c.i;
        it.f_ = c.f;
        if (c.len)
            it.data_.assign(static_cast<const char *>(c.data), c.len);
        return it;
    }

    /// A pc_item borrowing this item's bytes (valid while this item lives, unchanged).
    pc_item to_c() const noexcept
    {
        pc_item c{};
        c.kind = kind_;
        c.i = i_;
        c.f = f_;
        c.data = data_.empty() ? nullptr : data_.data();
        c.len = data_.size();
        return c;
    }

    /// Its kind (PC_KIND_NONE, PC_KIND_BOOL, ...).
    pc_kind kind() const noexcept { return kind_; }
    /// Whether it is None.
    bool is_none() const noexcept { return kind_ == PC_KIND_NONE; }
    /// A bool item's value; another kind throws PC_ERR_TYPE.
    bool as_bool() const { return want(PC_KIND_BOOL).i_ != 0; }
    /// An int item's value; another kind throws PC_ERR_TYPE.
    std::int64_t as_int() const { return want(PC_KIND_INT).i_; }
    /// A float item's value; another kind throws PC_ERR_TYPE.
    double as_float() const { return want(PC_KIND_FLOAT).f_; }
    /// A str item's UTF-8 text; another kind throws PC_ERR_TYPE.
    const std::string &as_str() const { return want(PC_KIND_STR).data_; }
    /// A bytes item's bytes; another kind throws PC_ERR_TYPE.
    std::vector<std::byte> as_bytes() const
    {
        const std::string &d = want(PC_KIND_BYTES).data_;
        const std::byte *p = reinterpret_cast<const std::byte *>(d.data());
        return std::vector<std::byte>(p, p + d.size());
    }
    /// A PC_KIND_PICKLE item's pickle.
    const std::string &pickle() const { return want(PC_KIND_PICKLE).data_; }

    /// Whether `a` and `b` have the same kind and value.
    friend bool operator==(const Item &a, const Item &b) noexcept
    {
        return a.kind_ == b.kind_ && a.i_ == b.i_ && a.f_ == b.f_ && a.data_ == b.data_;
    }
    /// !(a == b).
    friend bool operator!=(const Item &a, const Item &b) noexcept { return !(a == b); }

private:
    const Item &want(pc_kind k) const
    {
        if (kind_ != k)
            throw error(PC_ERR_TYPE, "an item of kind " + std::to_string(kind_) +
                                         ", asked for kind " + std::to_string(k));
        return *this;
    }

    pc_kind kind_ = PC_KIND_NONE;
    std::int64_t i_ = 0;
    double f_ = 0.0;
    std::string data_;
};

namespace detail {

/// Takes an item the library filled: copies it out and releases it.
inline Item take_item(pc_item &c)
{
    struct release {
        pc_item *c;
        ~release() { pc_item_release(c); }
    } guard{&c};
    return Item::from_c(c);
}

/// Takes an array of items the library filled.
inline std::vector<Item> take_items(pc_item *items, std::size_t n)
{
    struct release {
        pc_item *items;
        std::size_t n;
        ~release() { pc_items_release(items, n); }
    } guard{items, n};
    std::vector<Item> out;
    out.reserve(n);
    for (std::size_t i = 0; i < n; i++)
        out.push_back(Item::from_c(items[i]));
    return out;
}

} // namespace detail

/// A managed dict (each call one round trip to the manager's server). Any process holding
/// it may use it, children forked after it too. Owns its handle (this process's reference).
class Dict : public detail::owner<pc_dict, pc_dict_free> {
public:
    /// Takes ownership of a C handle (e.g. from pc_manager_dict).
    Dict(detail::adopt_t, pc_dict *h) noexcept : owner(h) {}

    /// d[key] = val.
    void set(const Item &key, const Item &val) { check(pc_dict_set(h_, key.to_c(), val.to_c())); }

    /// d[key]; throws PC_ERR_KEY when missing.
    Item get(const Item &key)
    {
        pc_item out{};
        check(pc_dict_get(h_, key.to_c(), &out));
        return detail::take_item(out);
    }

    /// d.get(key): empty when missing.
    std::optional<Item> find(const Item &key)
    {
        pc_item out{};
        if (!detail::ok_or(pc_dict_get(h_, key.to_c(), &out), PC_ERR_KEY))
            return std::nullopt;
        return detail::take_item(out);
    }

    /// key in d.
    bool contains(const Item &key)
    {
        bool in = false;
        check(pc_dict_contains(h_, key.to_c(), &in));
        return in;
    }

    /// del d[key]; throws PC_ERR_KEY when missing.
    void erase(const Item &key) { check(pc_dict_del(h_, key.to_c())); }

    /// d.pop(key); throws PC_ERR_KEY when missing.
    Item pop(const Item &key)
    {
        pc_item out{};
        check(pc_dict_pop(h_, key.to_c(), &out));
        return detail::take_item(out);
    }

    /// len(d).
    std::size_t size()
    {
        std::size_t n = 0;
        check(pc_dict_len(h_, &n));
        return n;
    }

    /// One snapshot of every (key, value), in the dict's order.
    std::vector<std::pair<Item, Item>> items()
    {
        pc_item *keys = nullptr, *vals = nullptr;
        std::size_t n = 0;
        check(pc_dict_items(h_, &keys, &vals, &n));
        std::vector<Item> k = detail::take_items(keys, n), v = detail::take_items(vals, n);
        std::vector<std::pair<Item, Item>> out;
        out.reserve(n);
        for (std::size_t i = 0; i < n; i++)
            out.emplace_back(std::move(k[i]), std::move(v[i]));
        return out;
    }

    /// d.clear().
    void clear() { check(pc_dict_clear(h_)); }
};

/// A managed list; as pc::Dict. Negative indexes count from the end (Python's rules).
class List : public detail::owner<pc_list, pc_list_free> {
public:
    /// Takes ownership of a C handle (e.g. from pc_manager_list).
    List(detail::adopt_t, pc_list *h) noexcept : owner(h) {}

    /// l.append(val).
    void append(const Item &val) { check(pc_list_append(h_, val.to_c())); }
    /// l.insert(index, val) (Python's rules: an index past either end inserts there).
    void insert(std::ptrdiff_t index, const Item &val)
    {
        check(pc_list_insert(h_, index, val.to_c()));
    }
    /// l[index] = val; throws PC_ERR_INDEX out of range.
    void set(std::ptrdiff_t index, const Item &val) { check(pc_list_set(h_, index, val.to_c())); }

    /// l[index]; throws PC_ERR_INDEX out of range.
    Item get(std::ptrdiff_t index)
    {
        pc_item out{};
        check(pc_list_get(h_, index, &out));
        return detail::take_item(out);
    }

    /// l.pop(index) (-1: the last); throws PC_ERR_INDEX when out of range or empty.
    Item pop(std::ptrdiff_t index = -1)
    {
        pc_item out{};
        check(pc_list_pop(h_, index, &out));
        return detail::take_item(out);
    }

    /// len(l).
    std::size_t size()
    {
        std::size_t n = 0;
        check(pc_list_len(h_, &n));
        return n;
    }

    /// One snapshot of every item.
    std::vector<Item> items()
    {
        pc_item *items = nullptr;
        std::size_t n = 0;
        check(pc_list_items(h_, &items, &n));
        return detail::take_items(items, n);
    }

    /// l.clear().
    void clear() { check(pc_list_clear(h_)); }
};

/// Python's manager: start() forks a server this process owns (shut down by shutdown() or
/// the destructor), connect() joins one already running at the address. nullptr: a
/// private unix address; an empty authkey: this process's (which children inherit).
/// Owns its handle.
class Manager : public detail::owner<pc_manager, pc_manager_free> {
public:
    /// A manager for `address` with `authkey`, neither started nor connected yet.
    explicit Manager(const char *address = nullptr, std::string_view authkey = {})
    {
        check(pc_manager_new(address, authkey.empty() ? nullptr : authkey.data(),
                             authkey.size(), &h_));
    }

    /// Forks the server and binds its address; throws PC_ERR_WRONG_STATE if already
    /// started or connected, PC_ERR_OS when the address cannot be bound.
    void start() { check(pc_manager_start(h_)); }
    /// Connects to a server already running at the address; throws PC_ERR_EOF when
    /// nothing answers, PC_ERR_AUTH for a wrong authkey.
    void connect() { check(pc_manager_connect(h_)); }
    /// Stops the server (a connected one too); every proxy's calls then throw PC_ERR_EOF.
    /// Twice is fine.
    void shutdown() { check(pc_manager_shutdown(h_)); }

    /// The server's address, once started or connected.
    std::string address() const
    {
        const char *a = pc_manager_address(h_);
        if (!a)
            throw error(PC_ERR_WRONG_STATE, "the manager is not started or connected");
        return a;
    }

    /// A new dict, or with a `name` the server's dict of that name (made on first use).
    Dict dict(const char *name = nullptr)
    {
        pc_dict *d = nullptr;
        check(pc_manager_dict(h_, name, &d));
        return Dict(detail::adopt, d);
    }

    /// A new list, or the server's list of that name.
    List list(const char *name = nullptr)
    {
        pc_list *l = nullptr;
        check(pc_manager_list(h_, name, &l));
        return List(detail::adopt, l);
    }
};

} // namespace pc

#endif // PROCESSING_HPP
