#pragma once

// Replaces the global operator new and delete of the test binary that
// includes this header (once, in one file) to record the largest single
// allocation since the test last set `largest_allocation` to 0: proof that a
// header promising more than its file holds is refused before a buffer of the
// promised size is allocated.

#include <atomic>
#include <cstddef>
#include <cstdlib>
#include <new>

namespace {
std::atomic<std::size_t> largest_allocation{0};
void note_allocation(std::size_t size) {
  std::size_t previous = largest_allocation.load();
  while (size > previous && !largest_allocation.compare_exchange_weak(previous, size)) {
  }
}
}  // namespace

// GCC pairs these with the library's operator new when it inlines them and
// reports a malloc/free "mismatch" that is exactly the point of a replacement.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif
void* operator new(std::size_t size) {
  note_allocation(size);
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void* operator new(std::size_t size, std::align_val_t alignment) {
  note_allocation(size);
  const auto align = static_cast<std::size_t>(alignment);
  if (void* p = std::aligned_alloc(align, (size + align - 1) / align * align)) return p;
  throw std::bad_alloc();
}
// The nothrow forms too (Catch2 uses them): otherwise the runtime's own
// allocation would meet our free() (AddressSanitizer: alloc-dealloc-mismatch).
void* operator new(std::size_t size, const std::nothrow_t&) noexcept {
  note_allocation(size);
  return std::malloc(size == 0 ? 1 : size);
}
void* operator new(std::size_t size, std::align_val_t alignment, const std::nothrow_t&) noexcept {
  note_allocation(size);
  const auto align = static_cast<std::size_t>(alignment);
  return std::aligned_alloc(align, (size + align - 1) / align * align);
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
