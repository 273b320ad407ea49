#pragma once

/// @file
/// The threads behind parallel_for and parallel_blocks (core/parallel.hpp):
/// a small pool fovea owns, and the process-wide thread count.
///
/// Not OpenMP: OpenMP's waiting threads spin for milliseconds by default, and
/// on a machine with as many busy threads as cores that spinning steals the
/// core the calling thread needs (a LeNet step ten times slower,
/// docs/benchmarks.md); the fix, OMP_WAIT_POLICY, is an environment variable
/// a library cannot set. The pool's workers spin for a few
/// microseconds, then sleep on a futex.
///
/// Which thread runs a block does not change what the block computes, so the
/// threads need not wait for each other: each runs its own share of blocks
/// front to back, then takes unstarted blocks from the back of another
/// thread's share. A worker the OS has descheduled therefore never stalls the
/// caller (at worst the caller runs every block itself), and unequal cores (a
/// virtual machine's two vCPUs often run 25-35 % apart while the host's other
/// tenants load one of them) finish together.
///
/// A loop nested in a block (DataParallel runs a whole network in each of a
/// few outer blocks, one per thread, and every layer's loop is nested in one;
/// a batch-1 convolution inside a lane shares its sample the same way) is
/// planned for all threads, like any other, and run by the block's own thread
/// from the front; a thread that has finished its outer blocks takes the
/// nested loop's unstarted blocks from the back. So a lane on a slower core is
/// helped through its last layers, and the bits still depend only on the plan.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <climits>
#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "fovea/core/error.hpp"
#include "fovea/core/partition.hpp"
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

// While this thread runs a block of the pool's job: the slot it runs as
// (where a loop nested in that block is published for others to help), else -1.
inline thread_local int current_slot = -1;
// While this thread runs a block of a nested loop: a loop inside it runs inline.
inline thread_local bool in_nested_block = false;

class ThreadPool {
 public:
  using BlockFunction = void (*)(void* body, Index n, int blocks, int block, int slot, bool first);

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

  // Runs blocks [0, blocks) of [0, n) through `run` on `slots` threads, the
  // calling thread as slot 0; slot s owns blocks chunk_range(blocks, slots, s).
  // Returns false without running anything when the pool is busy (a parallel
  // loop inside a block, or one from another thread), and the caller then runs
  // the blocks itself. Rethrows the exception of the lowest-numbered block that
  // threw, after every block has finished.
  bool run(Index n, int blocks, int slots, BlockFunction run, void* body) {
    if (on_pool_worker || busy_.exchange(true, std::memory_order_acquire)) return false;
    struct Release {
      std::atomic<bool>& busy;
      ~Release() { busy.store(false, std::memory_order_release); }
    } release{busy_};
    grow(slots - 1);
    slots = std::min(slots, static_cast<int>(workers_.size()) + 1);

    function_ = run;
    body_ = body;
    n_ = n;
    blocks_ = blocks;
    slots_ = slots;
    for (int s = 0; s < slots; ++s) {
      const Range share = chunk_range(blocks, slots, s);
      queue(s).store(pack(share.begin, share.end), std::memory_order_relaxed);
    }
    done_.store(0);
    error_ = nullptr;
    error_block_ = INT_MAX;
    open_.store(true);
    for (int s = 1; s < slots; ++s) {
      Worker& worker = *workers_[static_cast<std::size_t>(s - 1)];
      worker.epoch.fetch_add(1);
      worker.epoch.notify_one();
    }

    run_blocks(0);
    help_nested(0);
    // Only a worker in the middle of a block can still be busy here.
    for (std::uint32_t finished;
         (finished = done_.load(std::memory_order_acquire)) != static_cast<std::uint32_t>(blocks);) {
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
  // A loop started inside one of the job's blocks (a lane's convolution, say):
  // its blocks are run by that block's thread from the front and, from the
  // back, by any thread that has run out of the job's blocks. One per slot,
  // reused: a thread publishes its nested loop here by setting `open`.
  struct Nested {
    BlockFunction function = nullptr;
    void* body = nullptr;
    Index n = 0;
    int blocks = 0;
    int slots = 0;
    alignas(64) std::atomic<std::uint64_t> queue{0};  // unstarted blocks, see pack()
    alignas(64) std::atomic<std::uint32_t> done{0};   // blocks finished
    std::atomic<int> next_slot{1};                    // the slot number the next helper gets
    std::atomic<std::uint32_t> users{0};              // helpers looking at the loop
    std::atomic<bool> open{false};
    std::mutex error_mutex;
    std::exception_ptr error;
    int error_block = INT_MAX;
  };

  struct Worker {
    alignas(64) std::atomic<std::uint32_t> epoch{0};  // bumped to wake the worker; own cache line
    alignas(64) std::atomic<std::uint64_t> queue{0};  // its slot's unstarted blocks, see pack()
    Nested nested;                                    // a loop nested in the block it runs
    std::thread thread;
  };

  // A slot's unstarted blocks [front, back) in one word, so that its owner
  // taking the front and a thief taking the back never both get the last one.
  static std::uint64_t pack(Index front, Index back) {
    return (static_cast<std::uint64_t>(front) << 32) | static_cast<std::uint64_t>(back);
  }
  std::atomic<std::uint64_t>& queue(int slot) {
    return slot == 0 ? caller_queue_ : workers_[static_cast<std::size_t>(slot - 1)]->queue;
  }
  Nested& nested(int slot) { return slot == 0 ? caller_nested_ : workers_[static_cast<std::size_t>(slot - 1)]->nested; }
  // The next block of a queue, from the front (its owner) or the back (a
  // thief); -1 when it is empty.
  static int claim(std::atomic<std::uint64_t>& q, bool from_back) {
    std::uint64_t word = q.load(std::memory_order_acquire);
    for (;;) {
      const auto front = static_cast<int>(word >> 32), back = static_cast<int>(word & 0xffffffffU);
      if (front >= back) return -1;
      const std::uint64_t next = from_back ? pack(front, back - 1) : pack(front + 1, back);
      if (q.compare_exchange_weak(word, next, std::memory_order_acq_rel, std::memory_order_acquire)) {
        return from_back ? back - 1 : front;
      }
    }
  }

  ThreadPool() = default;

  // Workers are started on first need and kept; a failure to start one only
  // means fewer helpers (the caller runs whatever nobody claims).
  void grow(int wanted) {
    while (static_cast<int>(workers_.size()) < wanted) {
      auto worker = std::make_unique<Worker>();
      try {
        const int slot = static_cast<int>(workers_.size()) + 1;
        worker->thread = std::thread([this, w = worker.get(), slot] { work(*w, slot); });
      } catch (const std::system_error&) {
        return;
      }
      workers_.push_back(std::move(worker));
    }
  }

  void work(Worker& self, int slot) {
    on_pool_worker = true;
    std::uint32_t seen = 0;
    for (;;) {
      wait_while_equal(self.epoch, seen, worker_spin);
      seen = self.epoch.load(std::memory_order_acquire);
      if (stop_.load()) return;
      // Enter, then look: with both sequentially consistent, either the caller
      // sees this worker inside or this worker sees the job closed.
      users_.fetch_add(1);
      if (open_.load() && slot < slots_) {
        run_blocks(slot);
        help_nested(slot);
      }
      if (users_.fetch_sub(1) == 1) users_.notify_one();
    }
  }

  // The slot's own blocks front to back, then the other slots' from the back.
  void run_blocks(int slot) {
    bool first = true;
    for (int k = 0; k < slots_; ++k) {
      const int owner = (slot + k) % slots_;
      for (int b; (b = claim(queue(owner), k != 0)) >= 0; first = false) run_block(b, slot, first);
    }
  }

  void run_block(int block, int slot, bool first) {
    current_slot = slot;
    struct Leave {
      ~Leave() { current_slot = -1; }
    } leave;
    try {
      function_(body_, n_, blocks_, block, slot, first);
    } catch (...) {
      const std::lock_guard<std::mutex> lock(error_mutex_);
      if (block < error_block_) {
        error_block_ = block;
        error_ = std::current_exception();
      }
    }
    if (done_.fetch_add(1, std::memory_order_acq_rel) + 1 == static_cast<std::uint32_t>(blocks_)) done_.notify_one();
  }

  void run_nested_block(Nested& job, int block, int slot, bool first) {
    in_nested_block = true;
    struct Leave {
      ~Leave() { in_nested_block = false; }
    } leave;
    try {
      job.function(job.body, job.n, job.blocks, block, slot, first);
    } catch (...) {
      const std::lock_guard<std::mutex> lock(job.error_mutex);
      if (block < job.error_block) {
        job.error_block = block;
        job.error = std::current_exception();
      }
    }
    if (job.done.fetch_add(1, std::memory_order_acq_rel) + 1 == static_cast<std::uint32_t>(job.blocks)) {
      job.done.notify_one();
    }
  }

  // After `slot` has run out of the job's blocks: helps the other slots'
  // nested loops, taking their unstarted blocks from the back, until every
  // block of the job has finished, or until none has been open for a while.
  void help_nested(int slot) {
    auto idle_since = std::chrono::steady_clock::now();
    while (done_.load(std::memory_order_acquire) != static_cast<std::uint32_t>(blocks_)) {
      bool helped = false;
      for (int s = 0; s < slots_; ++s) {
        Nested& job = nested(s);
        if (s == slot || !job.open.load(std::memory_order_relaxed)) continue;
        // Enter, then look, as workers do with the job (see work()).
        job.users.fetch_add(1);
        if (job.open.load()) {
          const int helper = job.next_slot.fetch_add(1, std::memory_order_relaxed);
          bool first = true;
          for (int b; helper < job.slots && (b = claim(job.queue, true)) >= 0; first = false) {
            run_nested_block(job, b, helper, first);
            helped = true;
          }
        }
        if (job.users.fetch_sub(1) == 1) job.users.notify_one();
      }
      if (helped) {
        idle_since = std::chrono::steady_clock::now();
      } else if (std::chrono::steady_clock::now() - idle_since > worker_spin) {
        return;
      } else {
        cpu_relax();
      }
    }
  }

 public:
  // Runs a loop started inside a block of the pool's job on this thread,
  // published so that threads with nothing left of the job help with it.
  // Returns false without running anything when this thread is not inside a
  // block of the job, or already inside a nested loop's block.
  bool run_nested(Index n, int blocks, int slots, BlockFunction function, void* body) {
    if (current_slot < 0 || in_nested_block) return false;
    Nested& job = nested(current_slot);
    job.function = function;
    job.body = body;
    job.n = n;
    job.blocks = blocks;
    job.slots = slots;
    job.queue.store(pack(0, blocks), std::memory_order_relaxed);
    job.done.store(0, std::memory_order_relaxed);
    job.next_slot.store(1, std::memory_order_relaxed);
    job.error = nullptr;
    job.error_block = INT_MAX;
    job.open.store(true);
    bool first = true;
    for (int b; (b = claim(job.queue, false)) >= 0; first = false) run_nested_block(job, b, 0, first);
    for (std::uint32_t finished;
         (finished = job.done.load(std::memory_order_acquire)) != static_cast<std::uint32_t>(blocks);) {
      wait_while_equal(job.done, finished, caller_spin);
    }
    // As run() closes the job: no helper touches `body` after this returns.
    job.open.store(false);
    for (std::uint32_t inside; (inside = job.users.load(std::memory_order_acquire)) != 0;) {
      wait_while_equal(job.users, inside, caller_spin);
    }
    if (job.error) std::rethrow_exception(job.error);
    return true;
  }

 private:
  std::vector<std::unique_ptr<Worker>> workers_;
  std::atomic<bool> busy_{false};  // a parallel_for is running
  std::atomic<bool> stop_{false};
  // The job: written by the caller before open_ is set, read after.
  BlockFunction function_ = nullptr;
  void* body_ = nullptr;
  Index n_ = 0;
  int blocks_ = 0;
  int slots_ = 0;
  std::atomic<bool> open_{false};
  alignas(64) std::atomic<std::uint64_t> caller_queue_{0};  // slot 0's unstarted blocks
  Nested caller_nested_;                                    // a loop nested in slot 0's block
  alignas(64) std::atomic<std::uint32_t> done_{0};          // blocks finished
  alignas(64) std::atomic<std::uint32_t> users_{0};         // workers inside the job
  std::mutex error_mutex_;
  std::exception_ptr error_;
  int error_block_ = INT_MAX;
};

}  // namespace detail

/// Threads parallel_for will use (set_threads' value; the core count by default).
inline int max_threads() { return detail::thread_setting().load(std::memory_order_relaxed); }

/// The largest thread count set_threads accepts: four per core, at least 16.
/// The pool's workers, once started, stay for the rest of the program, and
/// more threads than cores only take turns on them, so a count far beyond this
/// (threads = 10000) is a mistake, not a setting.
inline int thread_limit() { return static_cast<int>(std::max(16U, 4 * std::thread::hardware_concurrency())); }

/// Sets the thread count for fovea's parallel loops. One process-wide
/// setting: it affects every thread's later parallel_for calls. Throws
/// value_error, leaving the setting as it was, unless 1 <= threads <= thread_limit().
inline void set_threads(int threads) {
  if (threads < 1 || threads > thread_limit()) {
    throw value_error("set_threads: the thread count must be in [1, " + std::to_string(thread_limit()) + "], got " +
                      std::to_string(threads));
  }
  detail::thread_setting().store(threads);
}

}  // namespace fovea
