#pragma once

/// @file
/// operator<< for tensors: the shape, then the values nested like the shape,
/// eliding the middle of any dimension longer than a few items so a printed
/// batch of images stays readable.

#include <ostream>
#include <string>

#include "fovea/core/tensor.hpp"

namespace fovea {

/// A count with its thousands separated by commas: 25557032 -> "25,557,032".
inline std::string group_thousands(Index n) {
  std::string digits = std::to_string(n);
  const int first = n < 0 ? 1 : 0;  // the sign is not a digit
  for (int i = static_cast<int>(digits.size()) - 3; i > first; i -= 3) digits.insert(static_cast<std::size_t>(i), ",");
  return digits;
}

namespace detail {

inline constexpr Index print_edge_items = 3;

template <class T, std::size_t Rank>
void print_nested(std::ostream& out, TensorView<const T, Rank> t, int indent) {
  const Index n = t.dim(0);
  const bool elide = n > 2 * print_edge_items;
  out << '[';
  for (Index i = 0; i < n; ++i) {
    if (elide && i == print_edge_items) {
      i = n - print_edge_items;
      if constexpr (Rank == 1) {
        out << "..., ";
      } else {
        out << "...,\n" << std::string(static_cast<std::size_t>(indent + 1), ' ');
      }
    }
    if constexpr (Rank == 1) {
      out << +t(i);
    } else {
      print_nested<T, Rank - 1>(out, t.item(i), indent + 1);
    }
    if (i + 1 < n) {
      if constexpr (Rank == 1) {
        out << ", ";
      } else {
        out << ",\n" << std::string(static_cast<std::size_t>(indent + 1), ' ');
      }
    }
  }
  out << ']';
}

}  // namespace detail

/// Writes "Tensor[2, 3]" and a newline, then the values nested in brackets like
/// the shape; a dimension longer than 6 shows its first and last 3 items around
/// "...". 8-bit integer elements print as numbers, not as characters.
template <class T, std::size_t Rank>
std::ostream& operator<<(std::ostream& out, TensorView<T, Rank> t) {
  out << "Tensor" << to_string(t.shape()) << '\n';
  detail::print_nested<std::remove_const_t<T>, Rank>(out, t, 0);
  return out;
}

/// Prints the tensor's view, in the same form.
template <class T, std::size_t Rank>
std::ostream& operator<<(std::ostream& out, const Tensor<T, Rank>& t) {
  return out << t.view();
}

}  // namespace fovea
