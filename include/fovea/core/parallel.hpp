#pragma once

/// @file
/// parallel_for with a static partition: item range [0, n) is cut into one
/// contiguous chunk per thread, the same cut for the same thread count, so a
/// caller that keeps one partial result per chunk and reduces them in chunk
/// order gets bit-identical results run after run.
///
/// Threads come from a small pool fovea owns (not OpenMP): OpenMP's waiting
/// threads spin for milliseconds by default, and on a machine with as many
/// busy threads as cores that spinning stole the core the calling thread
/// needed (a 2-thread LeNet step took 95 ms instead of 9, docs/benchmarks.md);
/// the fix, OMP_WAIT_POLICY, is an environment variable a library cannot set.
/// The pool's workers spin for a few microseconds, then sleep on a futex.
///
/// Which thread runs a chunk does not change what the chunk computes, so the
/// chunks are handed out first come, first served: the calling thread runs
/// chunk 0, then any chunk no worker has claimed yet. A worker the OS has
/// descheduled therefore never stalls the caller; at worst the caller runs
/// every chunk itself.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <climits>
#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>
#include <system_error>
#include <thread>
#include <type_traits>
#include <vector>

#include "fovea/core/shape.hpp"

namespace fovea {

namespace detail {

// The thread count parallel_for cuts work into; one process-wide setting, as
// OpenMP's was (a library-wide knob, not state of any computation).
inline std::atomic<int>& thread_setting() {
  static std::atomic<int> threads{static_cast<int>(std::max(1U, std::thread::hardware_concurrency()))};
  return threads;
}

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#else
  std::this_thread::yield();
#endif
}

// Spins until value != old or about `budget` has passed; returns the last
// value read. Long enough to catch the next parallel region of a training
// step (they follow each other within microseconds), short enough that an
// idle worker gives its core back almost at once.
inline std::uint32_t spin_while_equal(const std::atomic<std::uint32_t>& value, std::uint32_t old,
                                      std::chrono::nanoseconds budget) {
  const auto start = std::chrono::steady_clock::now();
  for (;;) {
    for (int i = 0; i < 32; ++i) {
      const std::uint32_t now = value.load(std::memory_order_acquire);
      if (now != old) return now;
      cpu_relax();
    }
    if (std::chrono::steady_clock::now() - start > budget) return value.load(std::memory_order_acquire);
  }
}

// Blocks until value != old: a bounded spin, then a futex wait.
inline void wait_while_equal(std::atomic<std::uint32_t>& value, std::uint32_t old, std::chrono::nanoseconds spin) {
  std::uint32_t now = spin_while_equal(value, old, spin);
  while (now == old) {
    value.wait(old, std::memory_order_acquire);
    now = value.load(std::memory_order_acquire);
  }
}

inline constexpr std::chrono::microseconds worker_spin{50};
inline constexpr std::chrono::microseconds caller_spin{20};

// True on a pool worker: a parallel_for inside a chunk runs inline there.
inline thread_local bool on_pool_worker = false;

class ThreadPool {
 public:
  using ChunkFunction = void (*)(void* body, Index n, int chunks, int chunk);

  static ThreadPool& instance() {
    static ThreadPool pool;
    return pool;
  }

  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  ~ThreadPool() {
    stop_.store(true);
    for (auto& worker : workers_) {
      worker->epoch.fetch_add(1);
      worker->epoch.notify_one();
    }
    for (auto& worker : workers_) worker->thread.join();
  }

  // Runs chunks [0, chunks) of [0, n) through `run`, the calling thread
  // included; returns false without running anything when the pool is busy
  // (a parallel_for inside a chunk, or one from another thread), and the
  // caller then runs the chunks itself. Rethrows the exception of the
  // lowest-numbered chunk that threw, after every chunk has finished.
  bool run(Index n, int chunks, ChunkFunction run, void* body) {
    if (on_pool_worker || busy_.exchange(true, std::memory_order_acquire)) return false;
    struct Release {
      std::atomic<bool>& busy;
      ~Release() { busy.store(false, std::memory_order_release); }
    } release{busy_};
    grow(chunks - 1);

    function_ = run;
    body_ = body;
    n_ = n;
    chunks_ = chunks;
    next_.store(1);
    done_.store(0);
    error_ = nullptr;
    error_chunk_ = INT_MAX;
    open_.store(true);
    const auto helpers = std::min<std::size_t>(static_cast<std::size_t>(chunks - 1), workers_.size());
    for (std::size_t w = 0; w < helpers; ++w) {
      workers_[w]->epoch.fetch_add(1);
      workers_[w]->epoch.notify_one();
    }

    run_chunk(0);
    run_unclaimed_chunks();
    // Only a worker in the middle of a chunk can still be busy here.
    for (std::uint32_t finished;
         (finished = done_.load(std::memory_order_acquire)) != static_cast<std::uint32_t>(chunks);) {
      wait_while_equal(done_, finished, caller_spin);
    }
    // A worker that wakes from now on finds the job closed and leaves it alone;
    // wait for those that entered before, so none touches `body` after we return.
    open_.store(false);
    for (std::uint32_t inside; (inside = users_.load(std::memory_order_acquire)) != 0;) {
      wait_while_equal(users_, inside, caller_spin);
    }
    if (error_) std::rethrow_exception(error_);
    return true;
  }

 private:
  struct Worker {
    alignas(64) std::atomic<std::uint32_t> epoch{0};  // bumped to wake the worker; own cache line
    std::thread thread;
  };

  ThreadPool() = default;

  // Workers are started on first need and kept; a failure to start one only
  // means fewer helpers (the caller runs whatever nobody claims).
  void grow(int wanted) {
    while (static_cast<int>(workers_.size()) < wanted) {
      auto worker = std::make_unique<Worker>();
      try {
        worker->thread = std::thread([this, w = worker.get()] { work(*w); });
      } catch (const std::system_error&) {
        return;
      }
      workers_.push_back(std::move(worker));
    }
  }

  void work(Worker& self) {
    on_pool_worker = true;
    std::uint32_t seen = 0;
    for (;;) {
      wait_while_equal(self.epoch, seen, worker_spin);
      seen = self.epoch.load(std::memory_order_acquire);
      if (stop_.load()) return;
      // Enter, then look: with both sequentially consistent, either the caller
      // sees this worker inside or this worker sees the job closed.
      users_.fetch_add(1);
      if (open_.load()) run_unclaimed_chunks();
      if (users_.fetch_sub(1) == 1) users_.notify_one();
    }
  }

  void run_unclaimed_chunks() {
    for (int c; (c = next_.fetch_add(1)) < chunks_;) run_chunk(c);
  }

  void run_chunk(int chunk) {
    try {
      function_(body_, n_, chunks_, chunk);
    } catch (...) {
      const std::lock_guard<std::mutex> lock(error_mutex_);
      if (chunk < error_chunk_) {
        error_chunk_ = chunk;
        error_ = std::current_exception();
      }
    }
    if (done_.fetch_add(1, std::memory_order_acq_rel) + 1 == static_cast<std::uint32_t>(chunks_)) done_.notify_one();
  }

  std::vector<std::unique_ptr<Worker>> workers_;
  std::atomic<bool> busy_{false};  // a parallel_for is running
  std::atomic<bool> stop_{false};
  // The job: written by the caller before open_ is set, read after.
  ChunkFunction function_ = nullptr;
  void* body_ = nullptr;
  Index n_ = 0;
  int chunks_ = 0;
  std::atomic<bool> open_{false};
  alignas(64) std::atomic<int> next_{0};             // next chunk to claim
  alignas(64) std::atomic<std::uint32_t> done_{0};   // chunks finished
  alignas(64) std::atomic<std::uint32_t> users_{0};  // workers inside the job
  std::mutex error_mutex_;
  std::exception_ptr error_;
  int error_chunk_ = INT_MAX;
};

}  // namespace detail

/// Threads parallel_for will use (set_threads' value; the core count by default).
inline int max_threads() { return detail::thread_setting().load(std::memory_order_relaxed); }

/// Sets the thread count for fovea's parallel loops (values below 1 count as 1).
/// One process-wide setting: it affects every thread's later parallel_for calls.
inline void set_threads(int threads) { detail::thread_setting().store(std::max(1, threads)); }

/// A half-open item range [begin, end): one chunk of a parallel_for.
struct Range {
  Index begin;  ///< First item of the chunk.
  Index end;    ///< One past the last item of the chunk.
};
/// The chunk of [0, n) that chunk `c` of `chunks` covers: contiguous, in order,
/// sizes differing by at most one (the first n % chunks chunks get the extra item).
inline Range chunk_range(Index n, int chunks, int c) {
  const Index base = n / chunks;
  const Index extra = n % chunks;
  const Index begin = c * base + std::min<Index>(c, extra);
  return {begin, begin + base + (c < extra ? 1 : 0)};
}

/// How many chunks parallel_for will cut n items into: n clamped to [1, max_threads()].
inline int chunk_count(Index n) { return static_cast<int>(std::clamp<Index>(n, 1, max_threads())); }

/// Calls body(begin, end, chunk) once per chunk, chunks in parallel. An
/// exception thrown by a chunk reaches the caller once every chunk has ended
/// (the lowest-numbered chunk's, if several threw). A parallel_for inside a
/// chunk, or one started while another thread's is running, runs the same
/// chunks in order on the calling thread.
template <class Body>
void parallel_for(Index n, Body&& body) {
  const int chunks = chunk_count(n);
  if (chunks == 1) {
    body(Index{0}, n, 0);
    return;
  }
  using Function = std::remove_reference_t<Body>;
  const auto run = [](void* erased, Index items, int count, int chunk) {
    const Range r = chunk_range(items, count, chunk);
    (*static_cast<Function*>(erased))(r.begin, r.end, chunk);
  };
  void* erased = const_cast<void*>(static_cast<const void*>(std::addressof(body)));
  if (detail::ThreadPool::instance().run(n, chunks, run, erased)) return;
  // Pool busy (nested or concurrent call): the same chunks, in order, here.
  for (int c = 0; c < chunks; ++c) {
    const Range r = chunk_range(n, chunks, c);
    body(r.begin, r.end, c);
  }
}

namespace detail {

// Calls body(begin, end) over [0, n): split across threads when n is large
// (LeNet's first ReLU sees 300k values per batch, its first Linear layer has
// 48k weights to update), on this thread when a pass costs less than waking
// the others. For elementwise work. The cuts fall on multiples of
// element_chunk_align elements: Eigen runs whole SIMD packets over the middle
// of a range and scalar code over its ends, and the two can round differently
// (sqrt, tanh, a contracted multiply-add), so a cut mid-packet would change
// the bits of the elements beside it. Aligned cuts give every element the code
// path it gets in one pass: the same bits for any thread count.
inline constexpr Index elementwise_parallel_min = Index{1} << 15;
inline constexpr Index element_chunk_align = 64;  // whole packets of float and double, whole cache lines
template <class Body>
void for_each_element_chunk(Index n, Body&& body) {
  if (n < elementwise_parallel_min) {
    body(Index{0}, n);
    return;
  }
  const Index blocks = (n + element_chunk_align - 1) / element_chunk_align;
  parallel_for(blocks, [&](Index begin, Index end, int /*chunk*/) {
    body(begin * element_chunk_align, std::min(end * element_chunk_align, n));
  });
}

}  // namespace detail

}  // namespace fovea
