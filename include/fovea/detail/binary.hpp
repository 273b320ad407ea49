#pragma once

// Explicit little-endian encoding for fovea's files, independent of the host's
// byte order, and a reader that checks every read against the bytes that are
// actually there (a truncated or lying file is an error, never an overread).

#include <bit>
#include <cstdint>
#include <cstring>
#include <string>
#include <type_traits>
#include <vector>

#include "fovea/core/error.hpp"

namespace fovea::detail {

class ByteWriter {
 public:
  template <class U>
  requires std::is_integral_v<U>
  void put(U value) {
    using Unsigned = std::make_unsigned_t<U>;
    auto bits = static_cast<Unsigned>(value);
    for (std::size_t i = 0; i < sizeof(U); ++i) {
      bytes_.push_back(static_cast<std::uint8_t>(bits & 0xFFU));
      if constexpr (sizeof(U) > 1) bits = static_cast<Unsigned>(bits >> 8);
    }
  }
  void put_float(float value) { put(std::bit_cast<std::uint32_t>(value)); }
  void put_double(double value) { put(std::bit_cast<std::uint64_t>(value)); }
  template <class T>
  void put_real(T value) {
    if constexpr (std::is_same_v<T, float>) {
      put_float(value);
    } else {
      put_double(static_cast<double>(value));
    }
  }
  void put_string(const std::string& s) {
    put(static_cast<std::uint32_t>(s.size()));
    bytes_.insert(bytes_.end(), s.begin(), s.end());
  }
  std::vector<std::uint8_t>& bytes() { return bytes_; }

 private:
  std::vector<std::uint8_t> bytes_;
};

class ByteReader {
 public:
  // `what` names the source in error messages ("model file 'lenet.fovea'").
  ByteReader(const std::uint8_t* data, std::size_t size, std::string what)
      : data_(data), size_(size), what_(std::move(what)) {}

  template <class U>
  requires std::is_integral_v<U> U get(const char* field) {
    need(sizeof(U), field);
    std::make_unsigned_t<U> bits = 0;
    for (std::size_t i = 0; i < sizeof(U); ++i) {
      bits = static_cast<std::make_unsigned_t<U>>(bits |
                                                  (static_cast<std::make_unsigned_t<U>>(data_[pos_ + i]) << (8 * i)));
    }
    pos_ += sizeof(U);
    return static_cast<U>(bits);
  }
  template <class T>
  T get_real(const char* field) {
    if constexpr (std::is_same_v<T, float>) {
      return std::bit_cast<float>(get<std::uint32_t>(field));
    } else {
      return static_cast<T>(std::bit_cast<double>(get<std::uint64_t>(field)));
    }
  }
  std::string get_string(const char* field, std::size_t max_length = 4096) {
    const auto length = get<std::uint32_t>(field);
    if (length > max_length) {
      throw format_error(what_ + ": " + field + " claims " + std::to_string(length) + " bytes (at most " +
                         std::to_string(max_length) + " allowed): file is corrupt");
    }
    need(length, field);
    std::string s(reinterpret_cast<const char*>(data_ + pos_), length);
    pos_ += length;
    return s;
  }
  // Fails unless `count` more bytes are there.
  void need(std::size_t count, const char* field) const {
    if (count > size_ - pos_) {
      throw format_error(what_ + ": truncated in " + field + " (needs " + std::to_string(count) + " bytes at offset " +
                         std::to_string(pos_) + ", " + std::to_string(size_ - pos_) + " left)");
    }
  }
  std::size_t position() const { return pos_; }
  std::size_t remaining() const { return size_ - pos_; }
  const std::string& what() const { return what_; }

 private:
  const std::uint8_t* data_;
  std::size_t size_;
  std::size_t pos_ = 0;
  std::string what_;
};

}  // namespace fovea::detail
