#pragma once

// Counting every heap allocation of a benchmark program: how a benchmark
// proves a steady-state step allocates nothing. Include it in exactly one
// file of a program: it replaces the global operator new and delete.

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <new>

// The number of allocations so far.
inline std::atomic<std::int64_t> allocation_count{0};

// All out of line: inlined into a caller, GCC would see malloc() meet operator
// delete and report a mismatch (-Wmismatched-new-delete) that is not one.
[[gnu::noinline]] void* operator new(std::size_t size) {
  allocation_count.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
[[gnu::noinline]] void* operator new(std::size_t size, std::align_val_t align) {
  allocation_count.fetch_add(1, std::memory_order_relaxed);
  const auto alignment = static_cast<std::size_t>(align);
  const std::size_t rounded = (size + alignment - 1) / alignment * alignment;
  if (void* p = std::aligned_alloc(alignment, rounded == 0 ? alignment : rounded)) return p;
  throw std::bad_alloc();
}
[[gnu::noinline]] void operator delete(void* p) noexcept { std::free(p); }
[[gnu::noinline]] void operator delete(void* p, std::size_t) noexcept { std::free(p); }
[[gnu::noinline]] void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
[[gnu::noinline]] void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
