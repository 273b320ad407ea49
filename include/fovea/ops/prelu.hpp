#pragma once

/// @file
/// PReLU, the leaky ReLU whose negative slope is learned, forward and backward
/// side by side:
///   x: [N, C, H, W] -> y: same shape, y = x for x > 0, slope[c] * x otherwise,
/// with one slope per channel (slope: [C]) or one for all (slope: [1]).

#include <string>

#include "fovea/core/error.hpp"
#include "fovea/core/parallel.hpp"
#include "fovea/core/tensor_view.hpp"

namespace fovea {
namespace detail {

// slope is [1] or [C]; y (or dy) and dx have x's shape (dx may be empty).
template <class T>
void require_prelu_shapes(const char* operation, const Shape<4>& x, Index slopes, const Shape<4>& y) {
  if (slopes != 1 && slopes != x[1]) {
    throw shape_error(std::string(operation) + ": " + std::to_string(slopes) + " slopes for input " + to_string(x) +
                      ", expected 1 or " + std::to_string(x[1]));
  }
  if (y != x) {
    throw shape_error(std::string(operation) + ": " + to_string(y) + " does not match the input " + to_string(x));
  }
}

// Calls body(begin, end) over blocks of the N*C feature maps, across threads
// for a large input (a small one is one block of the same loop, so that the
// body is compiled once).
template <class Body>
void for_each_prelu_map_block(Index maps, Index elements, Body&& body) {
  const int blocks = elements < elementwise_parallel_min ? 1 : chunk_count(maps);
  parallel_blocks(maps, blocks, [&](const Block& block) { body(block.begin, block.end); });
}

}  // namespace detail

/// y = x for x > 0, slope[c] * x otherwise. Throws shape_error when slope is
/// neither [1] nor [C] or y is not x's shape.
template <class T>
void prelu_forward(TensorView<const T, 4> x, TensorView<const T, 1> slope, TensorView<T, 4> y) {
  detail::require_prelu_shapes<T>("prelu_forward", x.shape(), slope.size(), y.shape());
  const Index C = x.dim(1);
  const auto X = x.matrix(2);  // [N*C, H*W]: row n*C + c is a map of channel c
  auto Y = y.matrix(2);
  detail::for_each_prelu_map_block(X.rows(), x.size(), [&](Index begin, Index end) {
    for (Index row = begin; row < end; ++row) {
      const T a = slope(slope.size() == 1 ? 0 : row % C);
      const auto in = X.row(row).array();
      Y.row(row).array() = (in > T{0}).select(in, a * in);
    }
  });
}

/// dx = dy for x > 0, slope[c] * dy otherwise (written unless dx is empty);
/// dslope[c] += the sum of dy * x over the cells of channel c where x <= 0
/// (every channel's into dslope[0] when there is one slope; skipped when
/// dslope is empty). Throws shape_error when a shape disagrees with x.
template <class T>
void prelu_backward(TensorView<const T, 4> x, TensorView<const T, 1> slope, TensorView<const T, 4> dy,
                    TensorView<T, 4> dx, TensorView<T, 1> dslope) {
  detail::require_prelu_shapes<T>("prelu_backward", x.shape(), slope.size(), dy.shape());
  if (!dx.empty() && dx.shape() != x.shape()) {
    throw shape_error("prelu_backward: input gradient " + to_string(dx.shape()) + " does not match the input " +
                      to_string(x.shape()));
  }
  if (!dslope.empty() && dslope.size() != slope.size()) {
    throw shape_error("prelu_backward: slope gradient " + to_string(dslope.shape()) + " does not match the slopes " +
                      to_string(slope.shape()));
  }
  const Index C = x.dim(1);
  const auto X = x.matrix(2);  // [N*C, H*W]
  const auto dY = dy.matrix(2);
  // The slope gradients are sums over the batch: taken on this thread, in
  // order, so the bits do not depend on the thread count.
  for (Index row = 0; row < X.rows() && !dslope.empty(); ++row) {
    const auto in = X.row(row).array();
    dslope(slope.size() == 1 ? 0 : row % C) += (in > T{0}).select(T{0}, dY.row(row).array() * in).sum();
  }
  if (dx.empty()) return;
  auto dX = dx.matrix(2);
  detail::for_each_prelu_map_block(X.rows(), x.size(), [&](Index begin, Index end) {
    for (Index row = begin; row < end; ++row) {
      const T a = slope(slope.size() == 1 ? 0 : row % C);
      const auto g = dY.row(row).array();
      dX.row(row).array() = (X.row(row).array() > T{0}).select(g, a * g);
    }
  });
}

}  // namespace fovea
