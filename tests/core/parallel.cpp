#include "fovea/core/parallel.hpp"

#include <atomic>
#include <catch2/catch.hpp>
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

TEST_CASE("set_threads sets max_threads, at least 1; the default is the core count", "[parallel]") {
  ThreadsGuard guard;
  CHECK(guard.saved == static_cast<int>(std::max(1U, std::thread::hardware_concurrency())));
  fovea::set_threads(3);
  CHECK(fovea::max_threads() == 3);
  fovea::set_threads(0);
  CHECK(fovea::max_threads() == 1);
  fovea::set_threads(-4);
  CHECK(fovea::max_threads() == 1);
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
