#pragma once

/// @file
/// A PGM reader for both the binary (P5) and the plain-text (P2) form, which
/// stb_image lacks. Images are [C, H, W] like every other tensor in fovea; a
/// PGM reads as [1, H, W].

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "fovea/core/error.hpp"
#include "fovea/core/tensor.hpp"
#include "fovea/detail/file_io.hpp"
#include "fovea/detail/quoted_path.hpp"
#include "fovea/io/read_limits.hpp"

namespace fovea {

namespace detail {

// A whole regular file, refused before reading when it is larger than the limit.
inline std::vector<std::uint8_t> read_file_bytes(const char* operation, const std::filesystem::path& path,
                                                 const ReadLimits& limits) {
  return read_regular_file(path, std::string(operation) + ": ", quoted_path(path), limits.max_file_bytes);
}

// The netpbm header grammar: tokens separated by whitespace, '#' comments to
// the end of the line.
class PgmParser {
 public:
  PgmParser(std::vector<std::uint8_t> bytes, std::filesystem::path path, const ReadLimits& limits)
      : bytes_(std::move(bytes)), path_(std::move(path)), limits_(limits) {}

  Tensor<float, 3> parse() {
    if (bytes_.size() < 2 || bytes_[0] != 'P' || (bytes_[1] != '2' && bytes_[1] != '5')) {
      throw fail("is not a PGM file: it starts with " + describe_start() + ", expected P2 or P5");
    }
    const bool plain = bytes_[1] == '2';
    position_ = 2;
    const Index width = number("width");
    const Index height = number("height");
    const Index max_value = number("maximum value");
    if (width < 1 || height < 1) {
      throw fail("has size " + std::to_string(width) + "x" + std::to_string(height) + ", expected at least 1x1");
    }
    if (max_value < 1 || max_value > 65535) {
      throw fail("has maximum value " + std::to_string(max_value) + ", expected 1..65535");
    }
    // Check the promised size against the file before allocating.
    const Index remaining = static_cast<Index>(bytes_.size()) - position_;
    const Index bytes_per_value = plain ? 2 : (max_value < 256 ? 1 : 2);  // plain: a digit and a separator
    if (width > remaining / height || width * height > (remaining + 1) / bytes_per_value) {
      throw fail("is truncated: the header promises " + std::to_string(width) + "x" + std::to_string(height) +
                 " pixels, more than the " + std::to_string(remaining) + " bytes left can hold");
    }
    if (width > limits_.max_image_pixels / height) {
      throw fail("declares " + std::to_string(width) + "x" + std::to_string(height) +
                 " pixels, more than the limit of " + std::to_string(limits_.max_image_pixels) +
                 " (ReadLimits::max_image_pixels)");
    }
    Tensor<float, 3> image({1, height, width});
    const auto scale = static_cast<float>(max_value);
    if (plain) {
      for (Index i = 0; i < image.size(); ++i) {
        const Index value = number("pixel");
        if (value > max_value) {
          throw fail("has pixel value " + std::to_string(value) + " at pixel " + std::to_string(i) +
                     ", above its maximum value " + std::to_string(max_value));
        }
        image.data()[i] = static_cast<float>(value) / scale;
      }
      return image;
    }
    // Exactly one whitespace byte separates the header from the binary pixels.
    if (position_ >= size() || !is_space(byte(position_))) {
      throw fail("has no whitespace after the maximum value, at byte " + std::to_string(position_));
    }
    ++position_;
    const Index needed = image.size() * (max_value < 256 ? 1 : 2);
    const Index available = static_cast<Index>(bytes_.size()) - position_;
    if (available < needed) {
      throw fail("is truncated in the pixels: expected " + std::to_string(needed) + " bytes for " +
                 std::to_string(width) + "x" + std::to_string(height) + ", found " + std::to_string(available));
    }
    for (Index i = 0; i < image.size(); ++i) {
      Index value = 0;
      if (max_value < 256) {
        value = bytes_[static_cast<std::size_t>(position_ + i)];
      } else {  // big-endian 16-bit
        value = (Index{bytes_[static_cast<std::size_t>(position_ + 2 * i)]} << 8) |
                bytes_[static_cast<std::size_t>(position_ + 2 * i + 1)];
      }
      if (value > max_value) {
        throw fail("has pixel value " + std::to_string(value) + " at pixel " + std::to_string(i) +
                   ", above its maximum value " + std::to_string(max_value));
      }
      image.data()[i] = static_cast<float>(value) / scale;
    }
    return image;
  }

 private:
  Index number(const char* what) {
    skip_space_and_comments();
    const Index start = position_;
    Index value = 0;
    while (position_ < size() && is_digit(byte(position_))) {
      value = value * 10 + (byte(position_) - '0');
      if (value > std::numeric_limits<int>::max()) throw fail(std::string("has an absurd ") + what);
      ++position_;
    }
    if (position_ == start) {
      if (position_ >= size()) throw fail(std::string("is truncated: expected the ") + what + ", found the end");
      throw fail(std::string("has '") + static_cast<char>(byte(position_)) + "' where the " + what +
                 " should be, at byte " + std::to_string(position_));
    }
    // A number ends at whitespace, a comment or the end: "2.5" or "7abc" is
    // not a number, and reading it as 2 or 7 would hide a damaged file.
    if (position_ < size() && !is_space(byte(position_)) && byte(position_) != '#') {
      throw fail(std::string("has '") + static_cast<char>(byte(position_)) + "' inside the " + what + " at byte " +
                 std::to_string(position_) + ", expected whitespace after a number");
    }
    return value;
  }

  void skip_space_and_comments() {
    while (position_ < size()) {
      const int c = byte(position_);
      if (c == '#') {
        while (position_ < size() && byte(position_) != '\n') ++position_;
      } else if (is_space(c)) {
        ++position_;
      } else {
        return;
      }
    }
  }

  std::string describe_start() const {
    if (bytes_.empty()) return "nothing (empty file)";
    std::string text = "'";
    for (std::size_t i = 0; i < std::min<std::size_t>(2, bytes_.size()); ++i) {
      const auto c = static_cast<char>(bytes_[i]);
      text += (c >= 32 && c < 127) ? std::string(1, c) : "\\x" + std::to_string(bytes_[i]);
    }
    return text + "'";
  }

  static bool is_digit(int c) { return c >= '0' && c <= '9'; }
  static bool is_space(int c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }
  int byte(Index i) const { return bytes_[static_cast<std::size_t>(i)]; }
  Index size() const { return static_cast<Index>(bytes_.size()); }
  format_error fail(const std::string& what) const {
    return format_error{"read_pgm: " + quoted_path(path_) + " " + what};
  }

  std::vector<std::uint8_t> bytes_;
  std::filesystem::path path_;
  ReadLimits limits_;
  Index position_ = 0;
};

}  // namespace detail

/// A PGM image, binary (P5, 8 or 16 bits) or plain text (P2), as [1, H, W]
/// scaled by its maximum value to [0, 1]. Only the first image of a file is read.
/// Throws io_error when the file cannot be opened or is not a regular file,
/// format_error when it is not a valid PGM (a number must end at whitespace)
/// or is larger than `limits` allow.
inline Tensor<float, 3> read_pgm(const std::filesystem::path& path, const ReadLimits& limits = {}) {
  return detail::PgmParser(detail::read_file_bytes("read_pgm", path, limits), path, limits).parse();
}

}  // namespace fovea
