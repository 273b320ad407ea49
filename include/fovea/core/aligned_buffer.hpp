#pragma once

/// @file
/// Owning, 64-byte aligned storage (one cache line, one AVX-512 register) that
/// grows but never shrinks, so a workspace resized to a shape it already had
/// room for does not touch the heap.

#include <algorithm>
#include <cstddef>
#include <new>
#include <type_traits>
#include <utility>

#include "fovea/core/shape.hpp"

namespace fovea::detail {

template <class T>
class AlignedBuffer {
  static_assert(std::is_trivially_copyable_v<T>, "AlignedBuffer holds plain numbers only");

 public:
  static constexpr std::size_t alignment = 64;

  AlignedBuffer() = default;
  explicit AlignedBuffer(Index count) { reserve(count); }
  AlignedBuffer(const AlignedBuffer& other) : AlignedBuffer(other.capacity_) {
    std::copy_n(other.data_, other.capacity_, data_);
  }
  AlignedBuffer(AlignedBuffer&& other) noexcept
      : data_(std::exchange(other.data_, nullptr)), capacity_(std::exchange(other.capacity_, 0)) {}
  AlignedBuffer& operator=(AlignedBuffer other) noexcept {
    swap(other);
    return *this;
  }
  ~AlignedBuffer() { release(); }

  void swap(AlignedBuffer& other) noexcept {
    std::swap(data_, other.data_);
    std::swap(capacity_, other.capacity_);
  }

  // Ensures room for count elements; existing contents are not preserved on growth.
  void reserve(Index count) {
    if (count <= capacity_) return;
    release();
    data_ = static_cast<T*>(::operator new (static_cast<std::size_t>(count) * sizeof(T), std::align_val_t{alignment}));
    capacity_ = count;
  }

  T* data() { return data_; }
  const T* data() const { return data_; }
  Index capacity() const { return capacity_; }

 private:
  void release() {
    if (data_ != nullptr) ::operator delete (data_, std::align_val_t{alignment});
    data_ = nullptr;
    capacity_ = 0;
  }

  T* data_ = nullptr;
  Index capacity_ = 0;
};

}  // namespace fovea::detail
