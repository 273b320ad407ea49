#pragma once

/// @file
/// Shapes and indices. Sizes and indices are signed (as in Eigen) so that loops
/// counting down and differences of sizes need no casts.

#include <array>
#include <cstddef>
#include <span>
#include <string>

namespace fovea {

/// The signed type of every size, index and extent (std::ptrdiff_t, Eigen's Index).
using Index = std::ptrdiff_t;

/// The extent of each dimension, outermost first (row-major).
template <std::size_t Rank>
using Shape = std::array<Index, Rank>;

/// Number of elements a shape holds: the product of its extents (1 for Rank 0).
template <std::size_t Rank>
constexpr Index shape_size(const std::array<Index, Rank>& shape) {
  Index n = 1;
  for (Index d : shape) n *= d;
  return n;
}

/// Two per-axis sizes that also take one number for both: `.kernel = 5`,
/// `.kernel = {3, 5}` (height, width).
struct Size2 {
  Index h = 0;  ///< Height (rows).
  Index w = 0;  ///< Width (columns).
  /// Both sizes 0.
  constexpr Size2() = default;
  /// The same size on both axes; implicit, so that `.kernel = 5` reads as 5x5.
  constexpr Size2(Index both) : h(both), w(both) {}  // NOLINT(google-explicit-constructor)
  /// Height and width, in that order.
  constexpr Size2(Index height, Index width) : h(height), w(width) {}
  /// Equal when both height and width are.
  bool operator==(const Size2&) const = default;
};

/// "[8, 3, 28, 28]": the form every error message uses.
inline std::string to_string(std::span<const Index> shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i > 0) s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

/// A Shape in the same "[8, 3, 28, 28]" form.
template <std::size_t Rank>
std::string to_string(const std::array<Index, Rank>& shape) {
  return to_string(std::span<const Index>(shape.data(), Rank));
}

}  // namespace fovea
