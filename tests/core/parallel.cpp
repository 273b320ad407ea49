#include "fovea/core/parallel.hpp"

#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using fovea::Index;

namespace {
// Restores the thread count a test changed.
struct ThreadsGuard {
  int saved = fovea::max_threads();
  ~ThreadsGuard() { fovea::set_threads(saved); }
};
}  // namespace

TEST_CASE("set_threads sets max_threads within [1, thread_limit()]; the default is the core count", "[parallel]") {
  ThreadsGuard guard;
  CHECK(guard.saved == static_cast<int>(std::max(1U, std::thread::hardware_concurrency())));
  fovea::set_threads(3);
  CHECK(fovea::max_threads() == 3);
  CHECK(fovea::thread_limit() >= 16);
  CHECK(fovea::thread_limit() >= 4 * guard.saved);
  // A count that is not a count, or that would start thousands of workers
  // that stay, is refused and the setting kept.
  const std::string range = "set_threads: the thread count must be in [1, " + std::to_string(fovea::thread_limit());
  for (int bad : {0, -4, fovea::thread_limit() + 1, 10000}) {
    INFO(bad);
    CHECK_THROWS_AS(fovea::set_threads(bad), fovea::value_error);
    CHECK_THROWS_WITH(fovea::set_threads(bad), range + "], got " + std::to_string(bad));
    CHECK(fovea::max_threads() == 3);
  }
  fovea::set_threads(fovea::thread_limit());
  CHECK(fovea::max_threads() == fovea::thread_limit());
}

TEST_CASE("chunk_range cuts [0, n) into contiguous chunks, the first ones one longer", "[parallel]") {
  CHECK(fovea::chunk_range(10, 3, 0).begin == 0);
  CHECK(fovea::chunk_range(10, 3, 0).end == 4);
  CHECK(fovea::chunk_range(10, 3, 1).begin == 4);
  CHECK(fovea::chunk_range(10, 3, 1).end == 7);
  CHECK(fovea::chunk_range(10, 3, 2).begin == 7);
  CHECK(fovea::chunk_range(10, 3, 2).end == 10);
  ThreadsGuard guard;
  fovea::set_threads(4);
  CHECK(fovea::chunk_count(0) == 1);
  CHECK(fovea::chunk_count(3) == 3);
  CHECK(fovea::chunk_count(100) == 4);
}

TEST_CASE("parallel_for visits every item once, each chunk with its static range", "[parallel]") {
  ThreadsGuard guard;
  for (int threads : {1, 2, 3, 8}) {
    fovea::set_threads(threads);
    for (Index n : {1, 2, 7, 1000}) {
      INFO("threads " << threads << ", n " << n);
      std::vector<std::atomic<int>> visits(static_cast<std::size_t>(n));
      std::vector<std::atomic<int>> chunk_seen(static_cast<std::size_t>(threads));
      std::atomic<bool> ranges_ok{true};
      const int chunks = fovea::chunk_count(n);
      for (int repeat = 0; repeat < 20; ++repeat) {
        fovea::parallel_for(n, [&](Index begin, Index end, int chunk) {
          const fovea::Range want = fovea::chunk_range(n, chunks, chunk);
          if (want.begin != begin || want.end != end) ranges_ok = false;
          ++chunk_seen[static_cast<std::size_t>(chunk)];
          for (Index i = begin; i < end; ++i) ++visits[static_cast<std::size_t>(i)];
        });
      }
      CHECK(ranges_ok);
      for (const auto& v : visits) CHECK(v.load() == 20);
      for (int c = 0; c < threads; ++c) CHECK(chunk_seen[static_cast<std::size_t>(c)].load() == (c < chunks ? 20 : 0));
    }
  }
}

TEST_CASE("parallel_for runs chunks on more than one thread", "[parallel]") {
  if (std::thread::hardware_concurrency() < 2) return;
  ThreadsGuard guard;
  fovea::set_threads(2);
  std::set<std::thread::id> ids;
  // A worker may be descheduled and the caller then runs both chunks: retry.
  for (int attempt = 0; attempt < 200 && ids.size() < 2; ++attempt) {
    std::thread::id who[2];
    std::atomic<int> arrived{0};
    fovea::parallel_for(2, [&](Index, Index, int chunk) {
      who[chunk] = std::this_thread::get_id();
      ++arrived;
      // Hold the chunk a little so the other thread has time to claim its own.
      for (int spin = 0; spin < 1'000'000 && arrived.load() < 2; ++spin) std::this_thread::yield();
    });
    ids.insert(who[0]);
    ids.insert(who[1]);
  }
  CHECK(ids.size() == 2);
}

TEST_CASE("an exception thrown in a chunk reaches the caller, the lowest chunk's first", "[parallel]") {
  ThreadsGuard guard;
  fovea::set_threads(4);
  std::atomic<int> ran{0};
  auto throwing = [&](Index, Index, int chunk) {
    ++ran;
    if (chunk >= 1) throw std::runtime_error("chunk " + std::to_string(chunk));
  };
  CHECK_THROWS_WITH(fovea::parallel_for(8, throwing), "chunk 1");
  CHECK(ran.load() == 4);  // every chunk still ran
  CHECK_THROWS_WITH(fovea::parallel_for(8, [](Index, Index, int) { throw std::logic_error("all"); }), "all");
  // The pool is usable afterwards.
  std::atomic<Index> sum{0};
  fovea::parallel_for(100, [&](Index begin, Index end, int) {
    for (Index i = begin; i < end; ++i) sum += i;
  });
  CHECK(sum.load() == 4950);
}

TEST_CASE("a parallel_for inside a chunk runs its chunks inline, same ranges", "[parallel]") {
  ThreadsGuard guard;
  fovea::set_threads(2);
  std::atomic<Index> total{0};
  fovea::parallel_for(4, [&](Index begin, Index end, int) {
    for (Index i = begin; i < end; ++i) {
      fovea::parallel_for(10, [&](Index b, Index e, int) { total += e - b; });
    }
  });
  CHECK(total.load() == 40);
}

TEST_CASE("parallel_for may be called from several threads at once", "[parallel]") {
  ThreadsGuard guard;
  fovea::set_threads(2);
  std::atomic<Index> total{0};
  auto caller = [&] {
    for (int repeat = 0; repeat < 200; ++repeat) {
      fovea::parallel_for(16, [&](Index begin, Index end, int) { total += end - begin; });
    }
  };
  std::thread a(caller), b(caller);
  a.join();
  b.join();
  CHECK(total.load() == 2 * 200 * 16);
}

TEST_CASE("parallel_blocks runs every block once, with its fixed range, one at a time per slot", "[parallel]") {
  ThreadsGuard guard;
  for (int threads : {1, 2, 3, 8}) {
    fovea::set_threads(threads);
    for (Index n : {1, 7, 64, 1000}) {
      for (int blocks : {1, 3, 16, 64, 5000}) {
        INFO("threads " << threads << ", n " << n << ", blocks " << blocks);
        const int used = static_cast<int>(std::min<Index>(blocks, n));  // at most one block per item
        const int slots = fovea::block_slots(used);
        CHECK(slots == std::min(threads, used));
        std::vector<std::atomic<int>> visits(static_cast<std::size_t>(n));
        std::vector<std::atomic<int>> block_runs(static_cast<std::size_t>(used));
        std::vector<std::atomic<int>> busy(static_cast<std::size_t>(slots)), firsts(static_cast<std::size_t>(slots)),
            ran(static_cast<std::size_t>(slots));
        std::atomic<bool> ok{true};
        fovea::parallel_blocks(n, blocks, [&](const fovea::Block& b) {
          if (b.index < 0 || b.index >= used || b.slot < 0 || b.slot >= slots) {
            ok = false;
            return;
          }
          const fovea::Range want = fovea::chunk_range(n, used, b.index);
          if (want.begin != b.begin || want.end != b.end) ok = false;
          if (busy[static_cast<std::size_t>(b.slot)].exchange(1) != 0) ok = false;  // two blocks of one slot at once
          const auto slot = static_cast<std::size_t>(b.slot);
          if (b.first != (ran[slot]++ == 0)) ok = false;
          if (b.first) ++firsts[slot];
          ++block_runs[static_cast<std::size_t>(b.index)];
          for (Index i = b.begin; i < b.end; ++i) ++visits[static_cast<std::size_t>(i)];
          busy[static_cast<std::size_t>(b.slot)] = 0;
        });
        CHECK(ok);
        for (const auto& v : visits) CHECK(v.load() == 1);
        for (const auto& r : block_runs) CHECK(r.load() == 1);
        // first marks each slot's first block (a slot may run none: another
        // that was ahead took its whole share).
        int slots_used = 0;
        for (const auto& f : firsts) slots_used += f.load();
        CHECK(slots_used >= 1);
      }
    }
  }
}

TEST_CASE("parallel_blocks: a slot that is ahead takes the other's blocks from the back", "[parallel]") {
  if (std::thread::hardware_concurrency() < 2) return;
  ThreadsGuard guard;
  fovea::set_threads(2);
  // Slot 1's blocks are slow; slot 0 runs its own 8 in order, then takes slot
  // 1's unstarted ones last first. A descheduled worker only means slot 0 takes more.
  std::vector<int> order;  // blocks slot 0 ran, in order (only slot 0 appends)
  std::atomic<int> slot1_ran{0};
  fovea::parallel_blocks(16, 16, [&](const fovea::Block& b) {
    if (b.slot == 0) {
      order.push_back(b.index);
    } else {
      ++slot1_ran;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  });
  REQUIRE(order.size() >= 12);  // slot 1 got through at most a few 20 ms blocks meanwhile
  CHECK(static_cast<int>(order.size()) + slot1_ran.load() == 16);
  for (int i = 0; i < 8; ++i) CHECK(order[static_cast<std::size_t>(i)] == i);
  for (std::size_t i = 8; i < order.size(); ++i) CHECK(order[i] == static_cast<int>(23 - i));  // 15, 14, ...
}

TEST_CASE("parallel_blocks: errors reach the caller, the lowest block's first; nested calls run inline", "[parallel]") {
  ThreadsGuard guard;
  fovea::set_threads(2);
  std::atomic<int> ran{0};
  CHECK_THROWS_WITH(fovea::parallel_blocks(32, 8,
                                           [&](const fovea::Block& b) {
                                             ++ran;
                                             if (b.index >= 3)
                                               throw std::runtime_error("block " + std::to_string(b.index));
                                           }),
                    "block 3");
  CHECK(ran.load() == 8);
  std::atomic<Index> total{0};
  std::atomic<bool> inner_slots_valid{true};
  fovea::parallel_blocks(4, 4, [&](const fovea::Block&) {
    fovea::parallel_blocks(10, 5, [&](const fovea::Block& inner) {
      if (inner.slot < 0 || inner.slot >= fovea::block_slots(5)) inner_slots_valid = false;
      total += inner.end - inner.begin;
    });
  });
  CHECK(total.load() == 40);
  CHECK(inner_slots_valid);
}

TEST_CASE("a loop nested in a block is helped from the back by a thread that has run out of blocks", "[parallel]") {
  ThreadsGuard guard;
  fovea::set_threads(2);
  for (int repeat = 0; repeat < 20; ++repeat) {
    struct Run {
      int block;
      int slot;
      std::thread::id thread;
    };
    std::vector<Run> runs(16, Run{-1, -1, {}});
    std::atomic<int> count{0};
    std::atomic<bool> helped{false};
    std::thread::id owner;
    fovea::parallel_blocks(2, 2, [&](const fovea::Block& outer) {
      if (outer.index == 0) return;  // this thread is free at once: it should help
      owner = std::this_thread::get_id();
      fovea::parallel_blocks(16, 16, [&](const fovea::Block& inner) {
        runs[static_cast<std::size_t>(count++)] = {inner.index, inner.slot, std::this_thread::get_id()};
        if (std::this_thread::get_id() != owner) helped = true;
        // The owner's first block waits until a helper has taken one: without
        // help this test times out and fails instead of passing by luck.
        const auto start = std::chrono::steady_clock::now();
        while (inner.index == 0 && !helped && std::chrono::steady_clock::now() - start < std::chrono::seconds(5)) {
          std::this_thread::yield();
        }
      });
    });
    REQUIRE(count.load() == 16);
    REQUIRE(helped);
    std::set<int> seen;
    int owner_next = 0, helper_last = 16;
    for (const Run& r : runs) {
      seen.insert(r.block);
      if (r.thread == owner) {
        CHECK(r.slot == 0);
        CHECK(r.block == owner_next++);  // the owner: from the front, in order
      } else {
        CHECK(r.slot == 1);
        CHECK(r.block < helper_last);  // a helper: from the back, downwards
        helper_last = r.block;
      }
    }
    CHECK(seen.size() == 16);
  }
}

TEST_CASE("a nested loop's errors reach its caller, the lowest block's; deeper loops run inline", "[parallel]") {
  ThreadsGuard guard;
  fovea::set_threads(2);
  std::atomic<int> ran{0};
  CHECK_THROWS_WITH(fovea::parallel_blocks(2, 2,
                                           [&](const fovea::Block& outer) {
                                             if (outer.index == 0) return;
                                             fovea::parallel_blocks(16, 16, [&](const fovea::Block& inner) {
                                               ++ran;
                                               if (inner.index == 7 || inner.index == 12) {
                                                 throw std::runtime_error("inner " + std::to_string(inner.index));
                                               }
                                             });
                                           }),
                    "inner 7");
  CHECK(ran.load() == 16);
  // A loop inside a nested loop's block runs there, in order, as slot 0.
  std::atomic<bool> inline_only{true};
  std::atomic<Index> total{0};
  fovea::parallel_blocks(2, 2, [&](const fovea::Block&) {
    fovea::parallel_blocks(8, 8, [&](const fovea::Block&) {
      const std::thread::id here = std::this_thread::get_id();
      int expected = 0;
      fovea::parallel_blocks(6, 3, [&](const fovea::Block& deepest) {
        if (std::this_thread::get_id() != here || deepest.slot != 0 || deepest.index != expected++) {
          inline_only = false;
        }
        total += deepest.end - deepest.begin;
      });
    });
  });
  CHECK(inline_only);
  CHECK(total.load() == 2 * 8 * 6);
}

TEST_CASE("BlockReduction sums the blocks' partials in one fixed tree, whichever thread finishes what", "[parallel]") {
  ThreadsGuard guard;
  fovea::set_threads(2);
  for (int blocks : {1, 2, 3, 5, 8, 16, 17}) {
    INFO("blocks " << blocks);
    // Values of very different sizes, so that another order of the sums
    // would round differently.
    std::vector<float> values(static_cast<std::size_t>(blocks));
    for (int b = 0; b < blocks; ++b) values[static_cast<std::size_t>(b)] = (b % 2 == 0 ? 1e7F : 0.75F) * (1 + b % 5);
    // The tree, level by level: pairs (0,1), (2,3), ..., then (0,2), (4,6), ...
    std::vector<float> want = values;
    for (int half = 1; half < blocks; half *= 2) {
      for (int left = 0; left + half < blocks; left += 2 * half) {
        want[static_cast<std::size_t>(left)] += want[static_cast<std::size_t>(left + half)];
      }
    }
    // From 5 blocks on, the values tell this tree from a sum left to right.
    float left_to_right = 0;
    for (float v : values) left_to_right += v;
    if (blocks >= 5) CHECK(left_to_right != want[0]);
    fovea::detail::BlockReduction sum;
    for (int repeat = 0; repeat < 50; ++repeat) {
      std::vector<float> partials(static_cast<std::size_t>(blocks));
      std::atomic<int> completed{0};
      sum.reset(blocks);
      fovea::parallel_blocks(blocks, blocks, [&](const fovea::Block& b) {
        if (b.index % 2 == 1) std::this_thread::yield();  // vary who finishes which half first
        partials[static_cast<std::size_t>(b.index)] = values[static_cast<std::size_t>(b.index)];
        const bool last = sum.finish(b.index, [&](int into, int from) {
          partials[static_cast<std::size_t>(into)] += partials[static_cast<std::size_t>(from)];
        });
        if (last) ++completed;
      });
      CHECK(completed.load() == 1);
      CHECK(partials[0] == want[0]);
    }
  }
}
