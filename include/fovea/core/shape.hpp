#pragma once

// Shapes and indices. Sizes and indices are signed (as in Eigen) so that loops
// counting down and differences of sizes need no casts.

#include <array>
#include <cstddef>
#include <span>
#include <string>

namespace fovea {

using Index = std::ptrdiff_t;

// The extent of each dimension, outermost first (row-major).
template <std::size_t Rank>
using Shape = std::array<Index, Rank>;

// Number of elements a shape holds.
template <std::size_t Rank>
constexpr Index shape_size(const std::array<Index, Rank>& shape) {
  Index n = 1;
  for (Index d : shape) n *= d;
  return n;
}

// Two per-axis sizes that also take one number for both: `.kernel = 5`,
// `.kernel = {3, 5}` (height, width).
struct Size2 {
  Index h = 0;
  Index w = 0;
  constexpr Size2() = default;
  constexpr Size2(Index both) : h(both), w(both) {}  // NOLINT(google-explicit-constructor)
  constexpr Size2(Index height, Index width) : h(height), w(width) {}
  bool operator==(const Size2&) const = default;
};

// "[8, 3, 28, 28]": the form every error message uses.
inline std::string to_string(std::span<const Index> shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i > 0) s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

template <std::size_t Rank>
std::string to_string(const std::array<Index, Rank>& shape) {
  return to_string(std::span<const Index>(shape.data(), Rank));
}

}  // namespace fovea
