#pragma once

/// @file
/// A public gradient checker: compares a layer's backward (input gradient and
/// every parameter gradient) with central finite differences. Run it in double
/// on your own layers; fovea's tests run it on every layer it ships.
///
/// The scalar checked is L = sum(y * r) for a fixed random r, so dL/dy = r and
/// every output element takes part. Keep inputs away from kinks (ReLU at 0,
/// max-pool ties): a finite difference across a kink is not a derivative.

#include <algorithm>
#include <cmath>
#include <string>

#include "fovea/core/random.hpp"
#include "fovea/detail/number_format.hpp"
#include "fovea/layers/layer.hpp"

/// Tools for testing layers: the public gradient checker.
namespace fovea::testing {

/// How check_gradients perturbs and compares.
struct GradCheckOptions {
  double step = 1e-6;         ///< central difference step h
  double tolerance = 1e-6;    ///< largest accepted relative error
  double floor = 1e-3;        ///< |a - n| / max(|a|, |n|, floor): near-zero pairs compare absolutely
  bool training = true;       ///< mode passed to forward
  std::uint64_t seed = 1234;  ///< for the projection r
};

/// What check_gradients found.
struct GradCheckResult {
  double max_relative_error = 0;  ///< The largest relative error seen; infinity if one was NaN.
  /// Where the largest error is, with both values: "input[17]: analytic 0.500000, numeric 0.490000"
  /// ("weight[3]: ..." for a parameter); empty when no error exceeded 0.
  std::string worst;
  Index checked = 0;  ///< number of partial derivatives compared
  bool ok = true;     ///< max_relative_error <= tolerance
};

namespace detail {
inline double relative_error(double analytic, double numeric, double floor) {
  return std::abs(analytic - numeric) / std::max({std::abs(analytic), std::abs(numeric), floor});
}
}  // namespace detail

/// Compares the layer's backward with central differences of L = sum(y * r),
/// for every input element and every parameter element: one forward and one
/// backward, then two forwards per element. `input` is [N, C, H, W] in the
/// layer's input shape. The parameters' gradients are overwritten (zeroed,
/// then one backward's worth); their values are restored after each
/// perturbation. Throws whatever the layer throws for a bad input.
inline GradCheckResult check_gradients(Layer<double>& layer, TensorView<const double, 4> input,
                                       const GradCheckOptions& options = {}) {
  Tensor<double, 4> x(input);
  Tensor<double, 4> y(batch_shape(x.dim(0), layer.output_shape(sample_shape(x.shape()))));
  Rng rng(options.seed);
  const auto r = Tensor<double, 4>::uniform(y.shape(), rng, -1.0, 1.0);

  auto loss = [&] {
    layer.forward(x, y, options.training);
    return (y.array() * r.array()).sum();
  };

  // Analytic gradients: zero the accumulators, one forward, one backward.
  auto params = layer.params();
  for (auto& p : params) p.grad.fill(0);
  loss();
  Tensor<double, 4> dx(x.shape());
  layer.backward(x, y, r, dx);

  GradCheckResult result;
  auto compare = [&](double analytic, double numeric, const std::string& where) {
    const double err = detail::relative_error(analytic, numeric, options.floor);
    ++result.checked;
    if (err > result.max_relative_error || std::isnan(err)) {
      result.max_relative_error = std::isnan(err) ? INFINITY : err;
      result.worst = where + ": analytic " + fovea::detail::format_number(analytic) + ", numeric " +
                     fovea::detail::format_number(numeric);
    }
  };
  auto numeric_derivative = [&](double& v) {
    const double saved = v;
    v = saved + options.step;
    const double plus = loss();
    v = saved - options.step;
    const double minus = loss();
    v = saved;
    return (plus - minus) / (2 * options.step);
  };

  for (Index i = 0; i < x.size(); ++i) {
    compare(dx.data()[i], numeric_derivative(x.data()[i]), "input[" + std::to_string(i) + "]");
  }
  for (auto& p : params) {
    // Gradients are compared against a copy: the loss evaluations below run
    // forward only, so the accumulated gradient stays as backward left it.
    Tensor<double, 1> analytic(p.grad);
    for (Index i = 0; i < p.value.size(); ++i) {
      compare(analytic(i), numeric_derivative(p.value(i)), p.name + "[" + std::to_string(i) + "]");
    }
  }
  result.ok = result.max_relative_error <= options.tolerance;
  return result;
}

}  // namespace fovea::testing
