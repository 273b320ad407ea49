#pragma once

/// @file
/// Fully connected: y = x W^T + b over the whole batch as one GEMM, forward and
/// backward side by side. Stateless: layers/linear.hpp owns the parameters.

#include <string>

#include "fovea/core/tensor_view.hpp"

namespace fovea {

namespace detail {
inline void check_linear(const char* operation, const Shape<2>& x, const Shape<2>& weight, Index bias_size,
                         const Shape<2>& y, const char* y_name) {
  const Shape<2> want = {x[0], weight[0]};
  if (x[1] != weight[1]) {
    throw shape_error(std::string(operation) + ": input " + to_string(x) + " has " + std::to_string(x[1]) +
                      " features, weight " + to_string(weight) + " expects " + std::to_string(weight[1]));
  }
  if (bias_size != 0 && bias_size != weight[0]) {
    throw shape_error(std::string(operation) + ": bias [" + std::to_string(bias_size) + "], expected [" +
                      std::to_string(weight[0]) + "] or none");
  }
  if (y != want) {
    throw shape_error(std::string(operation) + ": " + y_name + " " + to_string(y) + ", expected " + to_string(want));
  }
}
}  // namespace detail

/// x: [N, in], weight: [out, in], bias: [out] or empty -> y: [N, out] (overwritten).
/// Throws shape_error, naming both shapes, when any of them disagree.
template <class T>
void linear_forward(TensorView<const T, 2> x, TensorView<const T, 2> weight, TensorView<const T, 1> bias,
                    TensorView<T, 2> y) {
  detail::check_linear("linear_forward", x.shape(), weight.shape(), bias.size(), y.shape(), "output");
  MatrixMap<T> Y = y.matrix();
  if (bias.empty()) {
    Y.noalias() = x.matrix() * weight.matrix().transpose();
  } else {
    Y.rowwise() = bias.vector().transpose();  // the GEMM accumulates onto the bias
    Y.noalias() += x.matrix() * weight.matrix().transpose();
  }
}

/// dy: [N, out] -> dx: [N, in] (skipped when empty); dweight [out, in] and
/// dbias [out] (skipped when empty) ACCUMULATE. dx is overwritten. Throws
/// shape_error, naming both shapes, when any of them disagree.
template <class T>
void linear_backward(TensorView<const T, 2> x, TensorView<const T, 2> weight, TensorView<const T, 2> dy,
                     TensorView<T, 2> dx, TensorView<T, 2> dweight, TensorView<T, 1> dbias) {
  detail::check_linear("linear_backward", x.shape(), weight.shape(), dbias.size(), dy.shape(), "output gradient");
  if (dweight.shape() != weight.shape()) {
    throw shape_error(std::string("linear_backward: weight gradient ") + to_string(dweight.shape()) + ", expected " +
                      to_string(weight.shape()));
  }
  if (!dx.empty() && dx.shape() != x.shape()) {
    throw shape_error(std::string("linear_backward: input gradient ") + to_string(dx.shape()) + ", expected " +
                      to_string(x.shape()));
  }
  dweight.matrix().noalias() += dy.matrix().transpose() * x.matrix();  // [out, N] x [N, in]
  if (!dbias.empty()) dbias.vector() += dy.matrix().colwise().sum().transpose();
  if (!dx.empty()) dx.matrix().noalias() = dy.matrix() * weight.matrix();  // [N, out] x [out, in]
}

}  // namespace fovea
