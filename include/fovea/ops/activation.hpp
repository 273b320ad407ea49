#pragma once

/// @file
/// Elementwise activations, forward and backward side by side. Every function
/// works on flat views (any tensor's flatten()): x, y, dy, dx all have [n]
/// elements. Backward takes whichever of x and y gives the derivative most
/// cheaply: ReLU-like functions look at x, the smooth ones reuse y.
/// Forward may write y over x and backward dx over dy (same memory): each
/// element is read before it is written.
/// Every function throws shape_error when the sizes of its views differ.

#include <cmath>
#include <string>
#include <type_traits>

#include "fovea/core/error.hpp"
#include "fovea/core/parallel.hpp"
#include "fovea/core/tensor_view.hpp"

namespace fovea {
namespace detail {

template <class A, class B>
void require_same_size(const char* operation, const char* first, const A& a, const char* second, const B& b) {
  if (a.size() != b.size()) {
    throw shape_error(std::string(operation) + ": " + second + " " + to_string(b.shape()) + " does not match " + first +
                      " " + to_string(a.shape()));
  }
}

// ReLU's backward on Eigen expressions of any shape: dx = dy where y > 0, else
// 0. y may be the ReLU's input or its output (positive at the same places);
// the fused layers (Conv2d, Linear) mask their gradient blocks with it.
template <class Dx, class Y, class Dy>
void relu_mask(Dx&& dx, const Y& y, const Dy& dy) {
  using Scalar = typename std::remove_cvref_t<Dx>::Scalar;
  dx.array() = (y.array() > Scalar{0}).select(dy.array(), Scalar{0});
}
}  // namespace detail

/// x -> y: [n], y = max(0, x). Split across threads for large n.
template <class T>
void relu_forward(TensorView<const T, 1> x, TensorView<T, 1> y) {
  detail::require_same_size("relu_forward", "x", x, "y", y);
  detail::for_each_element_chunk(
      x.size(), [&](Index begin, Index end) { y.slice(begin, end).array() = x.slice(begin, end).array().max(T{0}); });
}
/// dx = dy where x > 0, else 0 (at the kink x = 0 the gradient is taken as 0).
template <class T>
void relu_backward(TensorView<const T, 1> x, TensorView<const T, 1> dy, TensorView<T, 1> dx) {
  detail::require_same_size("relu_backward", "x", x, "dy", dy);
  detail::require_same_size("relu_backward", "x", x, "dx", dx);
  detail::for_each_element_chunk(x.size(), [&](Index begin, Index end) {
    detail::relu_mask(dx.slice(begin, end).array(), x.slice(begin, end).array(), dy.slice(begin, end).array());
  });
}

/// y = x for x > 0, slope * x otherwise.
template <class T>
void leaky_relu_forward(TensorView<const T, 1> x, TensorView<T, 1> y, std::type_identity_t<T> slope) {
  detail::require_same_size("leaky_relu_forward", "x", x, "y", y);
  detail::for_each_element_chunk(x.size(), [&](Index begin, Index end) {
    const auto in = x.slice(begin, end).array();
    y.slice(begin, end).array() = (in > T{0}).select(in, slope * in);
  });
}
/// dx = dy where x > 0, slope * dy otherwise.
template <class T>
void leaky_relu_backward(TensorView<const T, 1> x, TensorView<const T, 1> dy, TensorView<T, 1> dx,
                         std::type_identity_t<T> slope) {
  detail::require_same_size("leaky_relu_backward", "x", x, "dy", dy);
  detail::require_same_size("leaky_relu_backward", "x", x, "dx", dx);
  detail::for_each_element_chunk(x.size(), [&](Index begin, Index end) {
    const auto g = dy.slice(begin, end).array();
    dx.slice(begin, end).array() = (x.slice(begin, end).array() > T{0}).select(g, slope * g);
  });
}

/// y = 1 / (1 + e^-x). For very negative x, e^-x overflows to infinity and y
/// is exactly 0: no NaN.
template <class T>
void sigmoid_forward(TensorView<const T, 1> x, TensorView<T, 1> y) {
  detail::require_same_size("sigmoid_forward", "x", x, "y", y);
  detail::for_each_element_chunk(x.size(), [&](Index begin, Index end) {
    y.slice(begin, end).array() = T{1} / (T{1} + (-x.slice(begin, end).array()).exp());
  });
}
/// dx = dy * y (1 - y): the derivative dy/dx = y (1 - y) from the forward output y.
template <class T>
void sigmoid_backward(TensorView<const T, 1> y, TensorView<const T, 1> dy, TensorView<T, 1> dx) {
  detail::require_same_size("sigmoid_backward", "y", y, "dy", dy);
  detail::require_same_size("sigmoid_backward", "y", y, "dx", dx);
  detail::for_each_element_chunk(y.size(), [&](Index begin, Index end) {
    const auto out = y.slice(begin, end).array();
    dx.slice(begin, end).array() = dy.slice(begin, end).array() * out * (T{1} - out);
  });
}

/// y = tanh(x).
template <class T>
void tanh_forward(TensorView<const T, 1> x, TensorView<T, 1> y) {
  detail::require_same_size("tanh_forward", "x", x, "y", y);
  detail::for_each_element_chunk(
      x.size(), [&](Index begin, Index end) { y.slice(begin, end).array() = x.slice(begin, end).array().tanh(); });
}
/// dx = dy * (1 - y^2): the derivative of tanh from its output y.
template <class T>
void tanh_backward(TensorView<const T, 1> y, TensorView<const T, 1> dy, TensorView<T, 1> dx) {
  detail::require_same_size("tanh_backward", "y", y, "dy", dy);
  detail::require_same_size("tanh_backward", "y", y, "dx", dx);
  detail::for_each_element_chunk(y.size(), [&](Index begin, Index end) {
    dx.slice(begin, end).array() = dy.slice(begin, end).array() * (T{1} - y.slice(begin, end).array().square());
  });
}

/// y = x for x > 0, alpha (e^x - 1) otherwise; expm1 keeps precision near 0.
/// Written as max(x, 0) + alpha expm1(min(x, 0)), which equals that for every
/// x (expm1(0) = 0) and runs on SIMD packets: Eigen evaluates select() one
/// element at a time, and a scalar expm1 per element cost 9 ns (NaN stays NaN).
template <class T>
void elu_forward(TensorView<const T, 1> x, TensorView<T, 1> y, std::type_identity_t<T> alpha) {
  detail::require_same_size("elu_forward", "x", x, "y", y);
  detail::for_each_element_chunk(x.size(), [&](Index begin, Index end) {
    const auto in = x.slice(begin, end).array();
    const auto zero = decltype(in)::PlainObject::Zero(end - begin);
    // max and min that return NaN for a NaN input (Eigen's plain ones may return the 0).
    using Max = Eigen::internal::scalar_max_op<T, T, Eigen::PropagateNaN>;
    using Min = Eigen::internal::scalar_min_op<T, T, Eigen::PropagateNaN>;
    y.slice(begin, end).array() = in.binaryExpr(zero, Max()) + alpha * in.binaryExpr(zero, Min()).expm1();
  });
}
/// dy/dx = 1 for x > 0, alpha e^x = y + alpha otherwise; dx = dy times that.
template <class T>
void elu_backward(TensorView<const T, 1> x, TensorView<const T, 1> y, TensorView<const T, 1> dy, TensorView<T, 1> dx,
                  std::type_identity_t<T> alpha) {
  detail::require_same_size("elu_backward", "x", x, "y", y);
  detail::require_same_size("elu_backward", "x", x, "dy", dy);
  detail::require_same_size("elu_backward", "x", x, "dx", dx);
  detail::for_each_element_chunk(x.size(), [&](Index begin, Index end) {
    const auto g = dy.slice(begin, end).array();
    dx.slice(begin, end).array() =
        (x.slice(begin, end).array() > T{0}).select(g, g * (y.slice(begin, end).array() + alpha));
  });
}

/// y = min(max(x, lo), hi) (ReLU6 is lo = 0, hi = 6); NaN stays NaN, as in
/// PyTorch's hardtanh.
template <class T>
void clip_forward(TensorView<const T, 1> x, TensorView<T, 1> y, std::type_identity_t<T> lo,
                  std::type_identity_t<T> hi) {
  detail::require_same_size("clip_forward", "x", x, "y", y);
  detail::for_each_element_chunk(x.size(), [&](Index begin, Index end) {
    using Max = Eigen::internal::scalar_max_op<T, T, Eigen::PropagateNaN>;
    using Min = Eigen::internal::scalar_min_op<T, T, Eigen::PropagateNaN>;
    const auto in = x.slice(begin, end).array();
    const auto low = decltype(in)::PlainObject::Constant(end - begin, lo);
    const auto high = decltype(in)::PlainObject::Constant(end - begin, hi);
    y.slice(begin, end).array() = in.binaryExpr(low, Max()).binaryExpr(high, Min());
  });
}
/// dx = dy where lo < x < hi, else 0: at the bounds, as at ReLU's kink, the
/// gradient is taken as 0 (PyTorch's choice too).
template <class T>
void clip_backward(TensorView<const T, 1> x, TensorView<const T, 1> dy, TensorView<T, 1> dx, std::type_identity_t<T> lo,
                   std::type_identity_t<T> hi) {
  detail::require_same_size("clip_backward", "x", x, "dy", dy);
  detail::require_same_size("clip_backward", "x", x, "dx", dx);
  detail::for_each_element_chunk(x.size(), [&](Index begin, Index end) {
    const auto in = x.slice(begin, end).array();
    dx.slice(begin, end).array() = (in > lo && in < hi).select(dy.slice(begin, end).array(), T{0});
  });
}

/// y = log(1 + e^x), computed as max(x, 0) + log1p(e^-|x|) so that a large x
/// neither overflows nor loses its digits.
template <class T>
void softplus_forward(TensorView<const T, 1> x, TensorView<T, 1> y) {
  detail::require_same_size("softplus_forward", "x", x, "y", y);
  detail::for_each_element_chunk(x.size(), [&](Index begin, Index end) {
    const auto in = x.slice(begin, end).array();
    y.slice(begin, end).array() = in.max(T{0}) + (-in.abs()).exp().log1p();
  });
}
/// dx = dy * sigmoid(x), the derivative of softplus.
template <class T>
void softplus_backward(TensorView<const T, 1> x, TensorView<const T, 1> dy, TensorView<T, 1> dx) {
  detail::require_same_size("softplus_backward", "x", x, "dy", dy);
  detail::require_same_size("softplus_backward", "x", x, "dx", dx);
  detail::for_each_element_chunk(x.size(), [&](Index begin, Index end) {
    const auto in = x.slice(begin, end).array();
    dx.slice(begin, end).array() = dy.slice(begin, end).array() / (T{1} + (-in).exp());
  });
}

}  // namespace fovea
