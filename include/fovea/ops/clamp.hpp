#pragma once

/// @file
/// Clamp: the activations that keep each value within bounds, y = min(max(x,
/// low), high): ReLU is [0, inf), ReLU6 [0, 6], Clip any pair. An op that
/// supports it applies one to its own output as it writes it (an epilogue),
/// and its backward passes the gradient only where the clamped output lies
/// strictly inside the bounds, which is where the input did.

#include <limits>

namespace fovea {

/// The bounds of a clamping activation.
struct Clamp {
  double low = 0;                                         ///< Lower bound.
  double high = std::numeric_limits<double>::infinity();  ///< Upper bound; infinite for a ReLU.

  /// max(x, 0).
  static Clamp relu() { return {}; }
  /// Whether these are a ReLU's bounds.
  bool is_relu() const { return low == 0 && !bounded(); }
  /// Whether there is an upper bound.
  bool bounded() const { return high < std::numeric_limits<double>::infinity(); }
  /// The same bounds.
  bool operator==(const Clamp&) const = default;
};

}  // namespace fovea
