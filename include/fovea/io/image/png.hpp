#pragma once

/// @file
/// PNG writing through stb_image_write. Images are [C, H, W] like every other
/// tensor in fovea: C = 1 gray, 2 gray + alpha, 3 RGB, 4 RGBA.
///
/// Needs Debian's libstb (headers in /usr/include/stb, code in libstb.so):
/// link fovea::io.

#include <stb_image_write.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <string>
#include <vector>

#include "fovea/core/error.hpp"
#include "fovea/core/tensor.hpp"
#include "fovea/detail/file_io.hpp"
#include "fovea/detail/number_format.hpp"
#include "fovea/detail/quoted_path.hpp"

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

}  // namespace fovea
