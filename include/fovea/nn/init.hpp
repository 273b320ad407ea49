#pragma once

/// @file
/// Weight initialisers, all driven by one explicit seeded generator. Fans
/// follow the usual convention for a weight of shape [out, in, k...]:
/// @verbatim
///   fan_in = in * prod(k), fan_out = out * prod(k).
///   he (Kaiming, for ReLU):  normal(0, sqrt(2 / fan_in))   or uniform(+-sqrt(6 / fan_in))
///   xavier (Glorot):         normal(0, sqrt(2 / (fan_in + fan_out))) or uniform(+-sqrt(6 / (fan_in + fan_out)))
///   lecun:                   normal(0, sqrt(1 / fan_in))   or uniform(+-sqrt(3 / fan_in))
/// @endverbatim
/// Biases start at zero. Layers that are never passed to these start from
/// their own default (layers/default_init.hpp: uniform in +-1/sqrt(fan_in),
/// from a seed in their options), never from zero.

#include <cmath>
#include <string>

#include "fovea/core/error.hpp"
#include "fovea/core/random.hpp"
#include "fovea/detail/number_format.hpp"
#include "fovea/layers/default_init.hpp"
#include "fovea/layers/layer.hpp"

namespace fovea {

/// The distribution a weight is drawn from (see the file's table for the fan-based ones).
enum class InitScheme {
  he_normal,       ///< normal(0, sqrt(2 / fan_in)): Kaiming, for ReLU.
  he_uniform,      ///< uniform(+-sqrt(6 / fan_in)).
  xavier_normal,   ///< normal(0, sqrt(2 / (fan_in + fan_out))): Glorot.
  xavier_uniform,  ///< uniform(+-sqrt(6 / (fan_in + fan_out))).
  lecun_normal,    ///< normal(0, sqrt(1 / fan_in)).
  lecun_uniform,   ///< uniform(+-sqrt(3 / fan_in)).
  uniform,         ///< uniform(low, high) from InitOptions.
  normal,          ///< normal(mean, stddev) from InitOptions.
  zeros            ///< Every value 0.
};

/// The scheme, and the fixed bounds or moments of the two schemes that have them.
struct InitOptions {
  InitScheme scheme = InitScheme::he_normal;  ///< Which distribution.
  double low = -0.05;                         ///< for InitScheme::uniform
  double high = 0.05;                         ///< for InitScheme::uniform; must exceed low
  double mean = 0.0;                          ///< for InitScheme::normal
  double stddev = 0.01;                       ///< for InitScheme::normal; must not be negative
};

/// Fan-in and fan-out of a weight.
struct Fans {
  Index in;   ///< Inputs feeding one output: in * prod(k).
  Index out;  ///< Outputs one input feeds: out * prod(k).
};

/// The fans of a weight of shape [out, in, k...]. A shape of one dimension [n]
/// has fan-in and fan-out n; an empty shape has 1 and 1.
inline Fans fans_of(const std::vector<Index>& shape) {
  if (shape.empty()) return {1, 1};
  if (shape.size() == 1) return {shape[0], shape[0]};
  Index receptive = 1;
  for (std::size_t i = 2; i < shape.size(); ++i) receptive *= shape[i];
  return {shape[1] * receptive, shape[0] * receptive};
}

/// Fills p.value by the scheme, one draw per element in order from `rng`; fans
/// come from p.shape. Throws value_error, for InitScheme::uniform unless
/// low < high, and for InitScheme::normal unless stddev >= 0, all finite (an
/// infinite bound or moment would fill the weights with NaN or infinity).
template <class T>
void initialize(const Parameter<T>& p, const InitOptions& options, Rng& rng) {
  const Fans fans = fans_of(p.shape);
  const double fan_in = static_cast<double>(fans.in);
  const double fan_sum = static_cast<double>(fans.in + fans.out);
  auto fill_normal = [&](double mean, double stddev) {
    for (T& x : p.value) x = static_cast<T>(rng.normal(mean, stddev));
  };
  auto fill_uniform = [&](double lo, double hi) {
    for (T& x : p.value) x = static_cast<T>(rng.uniform(lo, hi));
  };
  switch (options.scheme) {
    case InitScheme::he_normal:
      return fill_normal(0, std::sqrt(2 / fan_in));
    case InitScheme::he_uniform:
      return fill_uniform(-std::sqrt(6 / fan_in), std::sqrt(6 / fan_in));
    case InitScheme::xavier_normal:
      return fill_normal(0, std::sqrt(2 / fan_sum));
    case InitScheme::xavier_uniform:
      return fill_uniform(-std::sqrt(6 / fan_sum), std::sqrt(6 / fan_sum));
    case InitScheme::lecun_normal:
      return fill_normal(0, std::sqrt(1 / fan_in));
    case InitScheme::lecun_uniform:
      return fill_uniform(-std::sqrt(3 / fan_in), std::sqrt(3 / fan_in));
    case InitScheme::uniform:
      if (!(options.low < options.high) || !std::isfinite(options.low) || !std::isfinite(options.high)) {
        throw value_error("initialize: uniform bounds need finite low < high, got [" +
                          detail::format_number(options.low) + ", " + detail::format_number(options.high) + ")");
      }
      return fill_uniform(options.low, options.high);
    case InitScheme::normal:
      if (!(options.stddev >= 0) || !std::isfinite(options.stddev) || !std::isfinite(options.mean)) {
        throw value_error("initialize: normal needs a finite mean and a finite stddev >= 0, got mean " +
                          detail::format_number(options.mean) + ", stddev " + detail::format_number(options.stddev));
      }
      return fill_normal(options.mean, options.stddev);
    case InitScheme::zeros:
      p.value.fill(T{0});
      return;
  }
}

/// Every parameter of a network (or any range of Parameters): weights by the
/// scheme, biases to zero, in parameter order, from one generator. A bias is a
/// parameter whose name ends in "bias".
template <class Params>
void initialize_all(const Params& params, const InitOptions& options, Rng& rng) {
  for (const auto& p : params) {
    const bool is_bias = p.name.size() >= 4 && p.name.compare(p.name.size() - 4, 4, "bias") == 0;
    if (is_bias) {
      p.value.fill(0);
    } else {
      initialize(p, options, rng);
    }
  }
}

}  // namespace fovea
