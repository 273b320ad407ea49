#pragma once

/// @file
/// The start a Conv2d or Linear gets when it is constructed, as in PyTorch:
/// @verbatim
///   weight and bias uniform in [-1/sqrt(fan_in), 1/sqrt(fan_in)),  fan_in = Cin * KH * KW (Linear: in)
/// @endverbatim
/// drawn from Rng(seed), the weights first, then the bias, in memory order.
/// The seed comes from the layer's options (Conv2dOptions::seed, Linear's
/// `seed` argument; default_init_seed unless set), so the same construction
/// gives the same weights on every platform. A layer left at zero would never
/// learn: every unit of a layer would get the same gradient, and behind a
/// ReLU none at all. The initialisers of nn/init.hpp replace this start.

#include <cmath>
#include <cstdint>
#include <string>

#include "fovea/core/error.hpp"
#include "fovea/core/random.hpp"
#include "fovea/core/tensor_view.hpp"

namespace fovea {

/// The seed of a layer's default start unless its options name another.
inline constexpr std::uint64_t default_init_seed = 0;

/// Fills `weight` then `bias` (may be empty) uniformly in +-1/sqrt(fan_in)
/// from Rng(seed). Throws value_error unless fan_in is positive.
template <class T>
void initialize_default(TensorView<T, 1> weight, TensorView<T, 1> bias, Index fan_in, std::uint64_t seed) {
  if (fan_in <= 0) throw value_error("initialize_default: fan_in must be positive, got " + std::to_string(fan_in));
  Rng rng(seed);
  const double bound = 1 / std::sqrt(static_cast<double>(fan_in));
  for (T& w : weight) w = static_cast<T>(rng.uniform(-bound, bound));
  for (T& b : bias) b = static_cast<T>(rng.uniform(-bound, bound));
}

}  // namespace fovea
