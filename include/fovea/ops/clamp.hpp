#pragma once

/// @file
/// Clamp: the activations that keep each value within bounds, y = min(max(x,
/// low), high): ReLU is [0, inf), ReLU6 [0, 6], Clip any pair. An op that
/// supports it applies one to its own output as it writes it (an epilogue),
/// and its backward passes the gradient only where the clamped output lies
/// strictly inside the bounds, which is where the input did.

#include <algorithm>
#include <limits>
#include <optional>
#include <type_traits>

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

namespace detail {
// A clamp in the op's scalar type, as a forward applies it to its output
// while writing it, y = min(max(y, low), high); (-inf, inf), the default,
// leaves y as it is.
template <class T>
struct OutputClamp {
  T low = -std::numeric_limits<T>::infinity();
  T high = std::numeric_limits<T>::infinity();

  // The bounds of `epilogue`, or none.
  static OutputClamp of(const std::optional<Clamp>& epilogue) {
    if (!epilogue) return {};
    return {static_cast<T>(epilogue->low), static_cast<T>(epilogue->high)};
  }
  bool active() const { return low > -std::numeric_limits<T>::infinity() || high < std::numeric_limits<T>::infinity(); }
  T operator()(T v) const { return std::min(std::max(v, low), high); }
  // out = v clamped, for Eigen arrays: nothing to do without a clamp, one
  // max for a ReLU.
  template <class Out, class In>
  void write(Out&& out, const In& v) const {
    if (!active()) {
      out = v;
    } else if (high == std::numeric_limits<T>::infinity()) {
      out = v.max(low);
    } else {
      out = v.max(low).min(high);
    }
  }
};

// dx = dy where y, a clamp's output, lies strictly inside its bounds (where
// its input did), else 0: the clamp's backward, read from its output (Eigen
// expressions). Without an upper bound (a ReLU) only y > low counts, so the
// gradient also passes at +inf, as ReLU's own backward lets it.
template <class Dx, class Y, class Dy>
void clamp_mask(Dx&& dx, const Y& y, const Dy& dy, const Clamp& clamp) {
  using Scalar = typename std::remove_cvref_t<Dx>::Scalar;
  const auto low = static_cast<Scalar>(clamp.low), high = static_cast<Scalar>(clamp.high);
  if (clamp.bounded()) {
    dx.array() = (y.array() > low && y.array() < high).select(dy.array(), Scalar{0});
  } else {
    dx.array() = (y.array() > low).select(dy.array(), Scalar{0});
  }
}
}  // namespace detail

}  // namespace fovea
