#pragma once

/// @file
/// Pictures in and out: PNG writing through stb_image_write, reading of PNG,
/// JPEG, BMP, GIF, TGA ... through stb_image, a PGM reader for both the binary
/// (P5) and the plain-text (P2) form that stb_image lacks, and tile grids that
/// lay many small maps (conv1 filters, feature maps) out in one picture.
/// Images are [C, H, W] like every other tensor in fovea: C = 1 gray,
/// 2 gray + alpha, 3 RGB, 4 RGBA.
///
/// Needs Debian's libstb (headers in /usr/include/stb, code in libstb.so):
/// link fovea::io.

#include <stb_image.h>
#include <stb_image_write.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "fovea/core/error.hpp"
#include "fovea/core/tensor.hpp"
#include "fovea/detail/file_io.hpp"
#include "fovea/detail/number_format.hpp"
#include "fovea/detail/quoted_path.hpp"
#include "fovea/io/read_limits.hpp"

namespace fovea {

namespace detail {

inline void require_image_channels(const char* operation, const Shape<3>& shape) {
  if (shape[0] < 1 || shape[0] > 4 || shape[1] < 1 || shape[2] < 1 || shape[1] > std::numeric_limits<int>::max() / 4 ||
      shape[2] > std::numeric_limits<int>::max() / 4) {
    throw shape_error(std::string(operation) + ": image " + to_string(shape) +
                      ", expected [C, H, W] with C = 1 (gray), 2 (gray + alpha), 3 (RGB) or 4 (RGBA) and H, W >= 1");
  }
}

// [C, H, W] in [0, 1] -> the same shape in bytes, rounding to nearest.
template <class T>
Tensor<std::uint8_t, 3> to_bytes(const char* operation, TensorView<const T, 3> image) {
  Tensor<std::uint8_t, 3> bytes(image.shape());
  const T* source = image.data();
  for (Index i = 0; i < image.size(); ++i) {
    const T value = source[i];
    if (!std::isfinite(value)) {
      throw numeric_error(std::string(operation) + ": non-finite value " + format_number(static_cast<double>(value)) +
                          " at element " + std::to_string(i) + " of image " + to_string(image.shape()));
    }
    const T clamped = std::clamp(value, T{0}, T{1});
    bytes.data()[i] = static_cast<std::uint8_t>(std::lround(static_cast<double>(clamped) * 255.0));
  }
  return bytes;
}

// A whole regular file, refused before reading when it is larger than the limit.
inline std::vector<std::uint8_t> read_file_bytes(const char* operation, const std::filesystem::path& path,
                                                 const ReadLimits& limits) {
  return read_regular_file(path, std::string(operation) + ": ", quoted_path(path), limits.max_file_bytes);
}

// Little-endian fields of image headers; the caller checks the length.
inline Index little_u16(const std::vector<std::uint8_t>& bytes, std::size_t at) {
  return Index{bytes[at]} | Index{bytes[at + 1]} << 8;
}
inline Index little_i32(const std::vector<std::uint8_t>& bytes, std::size_t at) {
  return static_cast<std::int32_t>(static_cast<std::uint32_t>(little_u16(bytes, at)) |
                                   static_cast<std::uint32_t>(little_u16(bytes, at + 2)) << 16);
}

// stb_image leaves the pixels of a short TGA (uncompressed or RLE), BMP or
// binary PPM as whatever the allocator held, or zero: refuse such files. The
// pixel data each header promises is checked against the bytes there are.
inline void require_complete_pixels(const std::vector<std::uint8_t>& bytes, const std::filesystem::path& path) {
  const auto size = static_cast<Index>(bytes.size());
  const auto truncated = [&](const char* format, Index width, Index height, Index needed, Index found) {
    return format_error("read_image: " + quoted_path(path) + " is truncated: a " + std::to_string(width) + "x" +
                        std::to_string(height) + " " + format + " needs " + std::to_string(needed) +
                        " bytes of pixels, the file holds " + std::to_string(found));
  };
  const auto starts_with = [&](std::string_view magic) {
    return bytes.size() >= magic.size() && std::equal(magic.begin(), magic.end(), bytes.begin());
  };
  if (starts_with("BM") && size >= 34) {
    const Index offset = little_i32(bytes, 10), header = little_i32(bytes, 14);
    const bool os2 = header == 12;
    const Index width = os2 ? little_u16(bytes, 18) : little_i32(bytes, 18);
    const Index height = std::abs(os2 ? little_u16(bytes, 20) : little_i32(bytes, 22));
    const Index bits = os2 ? little_u16(bytes, 24) : little_u16(bytes, 28);
    const Index compression = os2 ? 0 : little_i32(bytes, 30);
    if ((compression == 0 || compression == 3) && width > 0 && height > 0 && bits > 0 && offset > 0 &&
        width <= (Index{1} << 24) && height <= (Index{1} << 24)) {
      const Index row = (bits * width + 31) / 32 * 4;  // rows are padded to 4 bytes
      if (offset + row * height > size) throw truncated("BMP", width, height, row * height, size - offset);
    }
    return;
  }
  if (starts_with("P6")) {  // binary PPM: header tokens, one whitespace byte, then the pixels
    std::size_t at = 2;
    std::array<Index, 3> values{};  // width, height, maximum value
    for (Index& value : values) {
      while (at < bytes.size() && (std::isspace(bytes[at]) != 0 || bytes[at] == '#')) {
        if (bytes[at] == '#') {
          while (at < bytes.size() && bytes[at] != '\n') ++at;
        } else {
          ++at;
        }
      }
      // Capped at stb_image's largest dimension, 2^24, so the product below stays in range.
      while (at < bytes.size() && bytes[at] >= '0' && bytes[at] <= '9' && value <= (Index{1} << 24)) {
        value = value * 10 + (bytes[at++] - '0');
      }
    }
    const Index needed = values[0] * values[1] * 3 * (values[2] > 255 ? 2 : 1);
    if (values[0] > 0 && values[1] > 0 && at < bytes.size() && needed > size - static_cast<Index>(at) - 1) {
      throw truncated("PPM", values[0], values[1], needed, size - static_cast<Index>(at) - 1);
    }
    return;
  }
  // TGA has no magic number: stb_image tries it last, on whatever no other
  // format claimed. Types 1-3 are raw, 9-11 the same run-length encoded.
  const bool other_format = starts_with("\x89PNG") || starts_with("\xFF\xD8") || starts_with("GIF8") ||
                            starts_with("8BPS") || starts_with("#?R") || starts_with("P5") || starts_with("P2") ||
                            starts_with("\x53\x80\xF6\x34");
  if (other_format || size < 18) return;
  const Index type = bytes[2], bits = bytes[16];
  const Index width = little_u16(bytes, 12), height = little_u16(bytes, 14);
  if ((type & 7) < 1 || (type & 7) > 3 || (type & ~Index{11}) != 0 || width < 1 || height < 1 || bits < 1) return;
  const Index map_bytes = bytes[1] != 0 ? little_u16(bytes, 5) * ((bytes[7] + 7) / 8) : 0;
  const Index start = 18 + bytes[0] + map_bytes;
  const Index pixel_bytes = (bits + 7) / 8;
  const Index pixels = width * height;
  if (type < 8) {
    if (start + pixels * pixel_bytes > size) throw truncated("TGA", width, height, pixels * pixel_bytes, size - start);
    return;
  }
  // Run-length packets: a count byte, then one value repeated (high bit set)
  // or that many literal values.
  Index covered = 0, at = start;
  while (covered < pixels && at < size) {
    const Index count = (bytes[static_cast<std::size_t>(at)] & 0x7F) + 1;
    const bool repeat = (bytes[static_cast<std::size_t>(at)] & 0x80) != 0;
    at += 1 + (repeat ? 1 : count) * pixel_bytes;
    if (at > size) break;
    covered += count;
  }
  if (covered < pixels) {
    throw format_error("read_image: " + quoted_path(path) + " is truncated: a " + std::to_string(width) + "x" +
                       std::to_string(height) + " run-length TGA needs " + std::to_string(pixels) +
                       " pixels, its packets hold " + std::to_string(covered));
  }
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

template <class T>
Tensor<float, 2> tile_grid_impl(TensorView<const T, 3> maps, Index columns, Index border, float border_value,
                                Index scale) {
  const Index count = maps.dim(0), height = maps.dim(1), width = maps.dim(2);
  if (count < 1 || height < 1 || width < 1 || columns < 0 || border < 0 || scale < 1) {
    throw shape_error("tile_grid: maps " + to_string(maps.shape()) + ", columns " + std::to_string(columns) +
                      ", border " + std::to_string(border) + ", scale " + std::to_string(scale) +
                      ": expected at least one non-empty map, columns >= 0, border >= 0, scale >= 1");
  }
  if (columns == 0) columns = static_cast<Index>(std::ceil(std::sqrt(static_cast<double>(count))));
  columns = std::min(columns, count);
  const Index rows = (count + columns - 1) / columns;
  const Index tile_height = height * scale, tile_width = width * scale;
  Tensor<float, 2> grid = Tensor<float, 2>::full(
      {rows * tile_height + (rows + 1) * border, columns * tile_width + (columns + 1) * border}, border_value);

  for (Index k = 0; k < count; ++k) {
    const TensorView<const T, 2> map = maps.item(k);
    // Each tile on its own scale: filters and feature maps differ in range.
    double low = std::numeric_limits<double>::infinity(), high = -low;
    for (const T value : map) {
      if (!std::isfinite(value)) {
        throw numeric_error("tile_grid: non-finite value " + format_number(static_cast<double>(value)) + " in map " +
                            std::to_string(k) + " of " + to_string(maps.shape()));
      }
      low = std::min(low, static_cast<double>(value));
      high = std::max(high, static_cast<double>(value));
    }
    const double range = high - low;
    const Index top = border + (k / columns) * (tile_height + border);
    const Index left = border + (k % columns) * (tile_width + border);
    for (Index y = 0; y < tile_height; ++y) {
      for (Index x = 0; x < tile_width; ++x) {
        const double value = map(y / scale, x / scale);
        // A constant map has no contrast to show: mid gray.
        grid(top + y, left + x) = range > 0 ? static_cast<float>((value - low) / range) : 0.5F;
      }
    }
  }
  return grid;
}

}  // namespace detail

/// Writes a PNG. Bytes are written as they are; floating-point values are
/// taken on the [0, 1] scale, clamped and rounded (NaN/inf throw).
/// Throws shape_error unless the image is [C, H, W] with C in 1..4 and H, W >= 1,
/// io_error when the file cannot be written.
inline void write_png(const std::filesystem::path& path, TensorView<const std::uint8_t, 3> image) {
  detail::require_image_channels("write_png", image.shape());
  const Index channels = image.dim(0), height = image.dim(1), width = image.dim(2);
  // stb wants pixels interleaved (H, W, C); fovea keeps planes (C, H, W).
  std::vector<std::uint8_t> interleaved(static_cast<std::size_t>(image.size()));
  for (Index c = 0; c < channels; ++c) {
    for (Index y = 0; y < height; ++y) {
      for (Index x = 0; x < width; ++x) {
        interleaved[static_cast<std::size_t>((y * width + x) * channels + c)] = image(c, y, x);
      }
    }
  }
  // Encoded in memory, then written like a model file: a full disk or a
  // killed program leaves the previous picture intact.
  std::vector<std::uint8_t> encoded;
  const auto append = [](void* context, void* data, int size) {
    const auto* bytes = static_cast<const std::uint8_t*>(data);
    static_cast<std::vector<std::uint8_t>*>(context)->insert(static_cast<std::vector<std::uint8_t>*>(context)->end(),
                                                             bytes, bytes + size);
  };
  if (stbi_write_png_to_func(append, &encoded, static_cast<int>(width), static_cast<int>(height),
                             static_cast<int>(channels), interleaved.data(), static_cast<int>(width * channels)) == 0) {
    throw io_error("write_png: cannot encode " + detail::quoted_path(path) + " " + to_string(image.shape()));
  }
  if (path.has_parent_path() && !std::filesystem::is_directory(path.parent_path())) {
    throw io_error("write_png: cannot write " + detail::quoted_path(path) + ": its folder does not exist");
  }
  detail::write_file_atomically(path, encoded, "write_png: ");
}
/// A float image [C, H, W] on the [0, 1] scale, clamped and rounded to bytes;
/// throws numeric_error for a NaN or infinite value.
inline void write_png(const std::filesystem::path& path, TensorView<const float, 3> image) {
  detail::require_image_channels("write_png", image.shape());
  write_png(path, detail::to_bytes("write_png", image).view());
}
/// A double image [C, H, W] on the [0, 1] scale, clamped and rounded to bytes;
/// throws numeric_error for a NaN or infinite value.
inline void write_png(const std::filesystem::path& path, TensorView<const double, 3> image) {
  detail::require_image_channels("write_png", image.shape());
  write_png(path, detail::to_bytes("write_png", image).view());
}
/// A gray image [H, W].
inline void write_png(const std::filesystem::path& path, TensorView<const std::uint8_t, 2> gray) {
  write_png(path, gray.reshape(Shape<3>{1, gray.dim(0), gray.dim(1)}));
}
/// A gray image [H, W] on the [0, 1] scale.
inline void write_png(const std::filesystem::path& path, TensorView<const float, 2> gray) {
  write_png(path, gray.reshape(Shape<3>{1, gray.dim(0), gray.dim(1)}));
}
/// A gray image [H, W] on the [0, 1] scale.
inline void write_png(const std::filesystem::path& path, TensorView<const double, 2> gray) {
  write_png(path, gray.reshape(Shape<3>{1, gray.dim(0), gray.dim(1)}));
}

/// A PGM image, binary (P5, 8 or 16 bits) or plain text (P2), as [1, H, W]
/// scaled by its maximum value to [0, 1]. Only the first image of a file is read.
/// Throws io_error when the file cannot be opened or is not a regular file,
/// format_error when it is not a valid PGM (a number must end at whitespace)
/// or is larger than `limits` allow.
inline Tensor<float, 3> read_pgm(const std::filesystem::path& path, const ReadLimits& limits = {}) {
  return detail::PgmParser(detail::read_file_bytes("read_pgm", path, limits), path, limits).parse();
}

/// Any image stb_image decodes (PNG, JPEG, BMP, GIF, TGA, PSD, HDR, PPM) or a
/// PGM (P2/P5), as [C, H, W] in [0, 1] with the file's own channel count.
/// 16-bit PNGs are reduced to 8 bits. Throws io_error when the file cannot be
/// opened or is not a regular file, format_error when it cannot be decoded, is
/// truncated, claims more pixels than it can hold or more than `limits` allow.
inline Tensor<float, 3> read_image(const std::filesystem::path& path, const ReadLimits& limits = {}) {
  std::vector<std::uint8_t> bytes = detail::read_file_bytes("read_image", path, limits);
  if (bytes.size() >= 2 && bytes[0] == 'P' && (bytes[1] == '2' || bytes[1] == '5')) {
    return detail::PgmParser(std::move(bytes), path, limits).parse();
  }
  if (bytes.size() > static_cast<std::size_t>(std::numeric_limits<int>::max())) {
    throw format_error("read_image: " + detail::quoted_path(path) + " is " + std::to_string(bytes.size()) +
                       " bytes, more than stb_image reads");
  }
  int width = 0, height = 0, channels = 0;
  // Check the header's size against the file before decoding: some decoders
  // (TGA, JPEG) fill a short file's missing pixels in, so a 100-byte file
  // claiming 65535x65535 would run for minutes and allocate gigabytes. No
  // format packs more than deflate's 1032:1 at 1 bit a pixel, 8256 pixels a byte.
  constexpr Index max_pixels_per_byte = 8 * 1032;
  const auto byte_count = static_cast<int>(bytes.size());
  if (stbi_info_from_memory(bytes.data(), byte_count, &width, &height, &channels) != 0 &&
      Index{width} * Index{height} > max_pixels_per_byte * byte_count) {
    throw format_error("read_image: " + detail::quoted_path(path) + " claims " + std::to_string(width) + "x" +
                       std::to_string(height) + " pixels, more than its " + std::to_string(bytes.size()) +
                       " bytes can hold");
  }
  if (Index{width} * Index{height} > limits.max_image_pixels) {
    throw format_error("read_image: " + detail::quoted_path(path) + " declares " + std::to_string(width) + "x" +
                       std::to_string(height) + " pixels, more than the limit of " +
                       std::to_string(limits.max_image_pixels) + " (ReadLimits::max_image_pixels)");
  }
  detail::require_complete_pixels(bytes, path);
  const std::unique_ptr<stbi_uc, decltype(&stbi_image_free)> pixels(
      stbi_load_from_memory(bytes.data(), byte_count, &width, &height, &channels, 0), &stbi_image_free);
  if (!pixels) {
    throw format_error("read_image: cannot decode " + detail::quoted_path(path) + " (" + std::to_string(bytes.size()) +
                       " bytes): " + stbi_failure_reason());
  }
  Tensor<float, 3> image({channels, height, width});
  for (Index y = 0; y < height; ++y) {
    for (Index x = 0; x < width; ++x) {
      for (Index c = 0; c < channels; ++c) {
        image(c, y, x) = static_cast<float>(pixels.get()[(y * width + x) * channels + c]) / 255.0F;
      }
    }
  }
  return image;
}

/// The layout of tile_grid().
struct TileGridOptions {
  Index columns = 0;          ///< 0: ceil(sqrt(count)), a near-square grid
  Index border = 1;           ///< pixels between tiles and around the grid
  float border_value = 1.0F;  ///< border (and empty slot) brightness in [0, 1]
  Index scale = 1;            ///< each map pixel becomes scale x scale pixels (5x5 filters are tiny)
};

/// Lays maps [K, H, W] out row by row in a grid, each normalised to [0, 1] by
/// its own min and max (a constant map shows mid gray). The result [rows, cols]
/// goes straight to write_png. Throws shape_error for no maps, empty maps,
/// negative columns or border, or a scale below 1; numeric_error for a NaN or
/// infinite value.
inline Tensor<float, 2> tile_grid(TensorView<const float, 3> maps, const TileGridOptions& options = {}) {
  return detail::tile_grid_impl(maps, options.columns, options.border, options.border_value, options.scale);
}
/// The same for double maps [K, H, W].
inline Tensor<float, 2> tile_grid(TensorView<const double, 3> maps, const TileGridOptions& options = {}) {
  return detail::tile_grid_impl(maps, options.columns, options.border, options.border_value, options.scale);
}

/// Convolution weights [Cout, Cin, KH, KW]: one row per output channel, one
/// column per input channel; with Cin = 1 (conv1) the filters fill a
/// near-square grid instead (or options.columns, when set).
inline Tensor<float, 2> tile_grid(TensorView<const float, 4> filters, TileGridOptions options = {}) {
  if (filters.dim(1) > 1) options.columns = filters.dim(1);
  return tile_grid(filters.reshape(Shape<3>{filters.dim(0) * filters.dim(1), filters.dim(2), filters.dim(3)}), options);
}
/// The same for double weights [Cout, Cin, KH, KW].
inline Tensor<float, 2> tile_grid(TensorView<const double, 4> filters, TileGridOptions options = {}) {
  if (filters.dim(1) > 1) options.columns = filters.dim(1);
  return tile_grid(filters.reshape(Shape<3>{filters.dim(0) * filters.dim(1), filters.dim(2), filters.dim(3)}), options);
}

}  // namespace fovea
