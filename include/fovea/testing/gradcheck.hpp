#pragma once

/// @file
/// A public gradient checker: compares analytic gradients with central finite
/// differences, for one layer or for a whole network with its loss. Run it on
/// your own layers; fovea's tests run it on every layer it ships.
///
/// @code
/// check_gradients(layer, x)                 // d(sum(y * r))/dx and d/d(every parameter), r fixed random
/// check_gradients(net, loss, x, targets)    // d(loss)/dx and d(loss)/d(every parameter of net)
/// @endcode
///
/// For a layer the scalar checked is L = sum(y * r) for a fixed random r, so
/// dL/dy = r and every output element takes part. For a network it is the
/// loss itself, through Sequential's own forward and backward (fused layers
/// included). Keep inputs away from kinks (ReLU at 0, max-pool ties): a
/// finite difference across a kink is not a derivative.
///
/// Both run in double or float. The tolerances differ because a central
/// difference (L(v + h) - L(v - h)) / 2h is off by about h^2 |L'''| / 6 from
/// truncation and by about eps |L| / h from rounding L, and eps is 1.1e-16 in
/// double but 6e-8 in float:
/// @verbatim
///             step h   tolerance   floor    (grad_check_options<T>())
///   double    1e-6     1e-6        1e-3     truncation ~1e-13, rounding ~1e-10
///   float     1e-2     1e-2        1e-2     truncation ~2e-5,  rounding ~1e-5 (times |L| and sqrt(outputs))
/// @endverbatim
/// A float check therefore finds a wrong factor or a missing term, not an
/// error in the fourth digit: check in double for that. In float the
/// difference is divided by the step as actually represented, (v + h) - (v - h)
/// rounded to float, not by 2h.

#include <algorithm>
#include <cmath>
#include <string>
#include <type_traits>
#include <vector>

#include "fovea/core/random.hpp"
#include "fovea/detail/number_format.hpp"
#include "fovea/layers/layer.hpp"
#include "fovea/nn/graph.hpp"
#include "fovea/train/loss.hpp"

/// Tools for testing layers: the public gradient checker.
namespace fovea::testing {

/// How check_gradients perturbs and compares. The defaults suit double;
/// grad_check_options<float>() gives float's (see the file's table).
struct GradCheckOptions {
  double step = 1e-6;         ///< central difference step h
  double tolerance = 1e-6;    ///< largest accepted relative error
  double floor = 1e-3;        ///< |a - n| / max(|a|, |n|, floor): near-zero pairs compare absolutely
  bool training = true;       ///< mode passed to forward (a network with Dropout: check with false)
  std::uint64_t seed = 1234;  ///< for the projection r
};

/// The options a check in element type T uses by default: GradCheckOptions{}
/// for double, step, tolerance and floor 1e-2 for float (see the file's table).
template <class T>
GradCheckOptions grad_check_options() {
  static_assert(std::is_same_v<T, double> || std::is_same_v<T, float>, "check_gradients runs in double or float");
  if constexpr (std::is_same_v<T, float>) {
    return {.step = 1e-2, .tolerance = 1e-2, .floor = 1e-2};
  } else {
    return {};
  }
}

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

// The comparison both checks share: `loss()` evaluates the scalar at the
// current values (forward only, so the gradients stay as backward left them);
// `dx` holds the analytic input gradient, the parameters' grad views the
// analytic parameter gradients.
template <class T, class LossFunction>
GradCheckResult compare_gradients(T* input, const T* dx, Index input_size, const std::vector<Parameter<T>>& params,
                                  const LossFunction& loss, const GradCheckOptions& options) {
  GradCheckResult result;
  auto compare = [&](double analytic, double numeric, const std::string& where) {
    const double err = relative_error(analytic, numeric, options.floor);
    ++result.checked;
    if (err > result.max_relative_error || std::isnan(err)) {
      result.max_relative_error = std::isnan(err) ? INFINITY : err;
      result.worst = where + ": analytic " + fovea::detail::format_number(analytic) + ", numeric " +
                     fovea::detail::format_number(numeric);
    }
  };
  // Divides by the step as represented in T: in float, v + h and v - h round.
  auto numeric_derivative = [&](T& v) {
    const T saved = v;
    const T up = static_cast<T>(static_cast<double>(saved) + options.step);
    const T down = static_cast<T>(static_cast<double>(saved) - options.step);
    v = up;
    const double plus = loss();
    v = down;
    const double minus = loss();
    v = saved;
    return (plus - minus) / (static_cast<double>(up) - static_cast<double>(down));
  };

  for (Index i = 0; i < input_size; ++i) {
    compare(static_cast<double>(dx[i]), numeric_derivative(input[i]), "input[" + std::to_string(i) + "]");
  }
  for (const auto& p : params) {
    const Tensor<T, 1> analytic(p.grad);
    for (Index i = 0; i < p.value.size(); ++i) {
      compare(static_cast<double>(analytic(i)), numeric_derivative(p.value(i)), p.name + "[" + std::to_string(i) + "]");
    }
  }
  result.ok = result.max_relative_error <= options.tolerance;
  return result;
}
}  // namespace detail

/// Compares the layer's backward with central differences of L = sum(y * r),
/// for every input element and every parameter element: one forward and one
/// backward, then two forwards per element. `input` is [N, C, H, W] in the
/// layer's input shape. The parameters' gradients are overwritten (zeroed,
/// then one backward's worth); their values are restored after each
/// perturbation. Throws whatever the layer throws for a bad input.
template <class T>
GradCheckResult check_gradients(Layer<T>& layer, std::type_identity_t<TensorView<const T, 4>> input,
                                const GradCheckOptions& options = grad_check_options<T>()) {
  Tensor<T, 4> x(input);
  Tensor<T, 4> y(batch_shape(x.dim(0), layer.output_shape(sample_shape(x.shape()))));
  Rng rng(options.seed);
  const auto r = Tensor<T, 4>::uniform(y.shape(), rng, T{-1}, T{1});

  auto loss = [&] {
    layer.forward(x, y, options.training);
    return (y.array().template cast<double>() * r.array().template cast<double>()).sum();
  };

  // Analytic gradients: zero the accumulators, one forward, one backward.
  const auto params = layer.params();
  for (const auto& p : params) p.grad.fill(T{0});
  loss();
  Tensor<T, 4> dx(x.shape());
  layer.backward(x, y, r, dx);
  return detail::compare_gradients<T>(x.data(), dx.data(), x.size(), params, loss, options);
}

/// Compares a whole network's backward with central differences of the loss:
/// d(loss)/d(input) for every input element, and d(loss)/d(parameter) for
/// every element of net.params(), through net.forward, the loss and
/// net.backward as training runs them. The loss is the mean over the batch,
/// as fit() minimises it. The network runs in options.training mode (its mode
/// is restored afterwards); its parameter gradients are overwritten (zeroed,
/// then one backward's worth). Throws whatever the network or the loss throws
/// for a bad input or targets.
template <class T>
GradCheckResult check_gradients(Graph<T>& net, Loss<T>& loss, std::type_identity_t<TensorView<const T, 4>> input,
                                const Targets<T>& targets, const GradCheckOptions& options = grad_check_options<T>()) {
  Tensor<T, 4> x(input);
  const Shape<2> scores{x.dim(0), shape_size(net.output_shape())};
  const bool was_training = net.training();
  net.set_training(options.training);
  struct RestoreMode {
    Graph<T>& net;
    bool training;
    ~RestoreMode() { net.set_training(training); }
  } restore{net, was_training};

  auto value = [&] { return static_cast<double>(loss.value(net.forward(x).reshape(scores), targets)); };

  // Analytic gradients: zero the accumulators, one forward, the loss's gradient, one backward.
  net.zero_grad();
  const auto output = net.forward(x);
  Tensor<T, 2> doutput(scores);
  loss.forward_backward(output.reshape(scores), targets, doutput);
  Tensor<T, 4> dx(x.shape());
  net.backward(TensorView<const T, 2>(doutput).reshape(output.shape()), dx);
  return detail::compare_gradients<T>(x.data(), dx.data(), x.size(), net.params(), value, options);
}

}  // namespace fovea::testing
