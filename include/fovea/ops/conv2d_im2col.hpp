#pragma once

/// @file
/// Convolution as im2col -> GEMM, forward and backward side by side: the
/// general algorithm, for any stride, padding, dilation and grouping, and
/// the one large layers run at GEMM speed. Group by group, for one sample:
///
///     cols [K, P]          = im2col(x[group channels])         K = Cin/G*KH*KW
///     y[group] [Cout/G, P] = W[group] [Cout/G, K] · cols  (+ b)
///     backward:  dW[group] += dy[group] · colsᵀ,   dx[group] = col2im(W[group]ᵀ · dy[group])
///
/// Per sample; the caller (ops/conv2d.hpp) splits the batch across threads.

#include <algorithm>

#include "fovea/core/gemm.hpp"
#include "fovea/ops/conv2d_geometry.hpp"
#include "fovea/ops/conv2d_workspace.hpp"
#include "fovea/ops/im2col.hpp"

namespace fovea::detail {

// Sets y [rows, P] to the bias of each row when there is one, and says
// whether the GEMM then adds onto it (no second pass over y for the bias).
template <class T>
GemmUpdate start_with_bias(const T* bias, Index rows, Index P, T* y) {
  if (bias == nullptr) return GemmUpdate::overwrite;
  for (Index r = 0; r < rows; ++r) std::fill_n(y + r * P, P, bias[r]);
  return GemmUpdate::accumulate;
}

// x_n: [Cin, H, W] -> y_n: [Cout, OH, OW] (bias: [Cout] or null), through
// scratch.cols ([K, P]).
template <class T>
void im2col_conv_forward(TensorView<const T, 3> x_n, const T* weight, const T* bias, const Conv2dGeometry& g,
                         typename Conv2dWorkspace<T>::ThreadScratch& scratch, T* y_n) {
  const Index Cg = g.group_in_channels(), Fg = g.group_out_channels(), K = g.patch_size(), P = g.positions();
  for (Index group = 0; group < g.groups; ++group) {
    im2col<T>(x_n.slice(group * Cg, (group + 1) * Cg), g.window, scratch.cols);
    T* y_g = y_n + group * Fg * P;  // [Cout/G, P]
    const GemmUpdate update = start_with_bias(bias == nullptr ? nullptr : bias + group * Fg, Fg, P, y_g);
    gemm(gemm_operand(weight + group * Fg * K, Fg, K), gemm_operand(scratch.cols.data(), K, P), gemm_result(y_g, Fg, P),
         update);
  }
}

// dy_n: [Cout, OH, OW] -> dweight [Cout, K] += dy · colsᵀ per group; dx_n
// [Cin, H, W] written unless empty, through scratch.cols and scratch.dcols
// ([K, P] each). cols are made again, not kept from the forward: N of them
// would not fit in L2.
template <class T>
void im2col_conv_backward(TensorView<const T, 3> x_n, const T* weight, const T* dy_n, const Conv2dGeometry& g,
                          typename Conv2dWorkspace<T>::ThreadScratch& scratch, T* dweight, TensorView<T, 3> dx_n) {
  const Index Cg = g.group_in_channels(), Fg = g.group_out_channels(), K = g.patch_size(), P = g.positions();
  if (!dx_n.empty()) dx_n.fill(T{});  // col2im accumulates
  for (Index group = 0; group < g.groups; ++group) {
    const GemmOperand<T> W = gemm_operand(weight + group * Fg * K, Fg, K);
    const GemmOperand<T> dY = gemm_operand(dy_n + group * Fg * P, Fg, P);
    im2col<T>(x_n.slice(group * Cg, (group + 1) * Cg), g.window, scratch.cols);
    gemm(dY, gemm_operand(scratch.cols.data(), K, P).t(), gemm_result(dweight + group * Fg * K, Fg, K),
         GemmUpdate::accumulate);  // [Cout/G, P] x [P, K]
    if (dx_n.empty()) continue;
    gemm(W.t(), dY, gemm_result(scratch.dcols.data(), K, P), GemmUpdate::overwrite);  // [K, Cout/G] x [Cout/G, P]
    col2im<T>(scratch.dcols, g.window, dx_n.slice(group * Cg, (group + 1) * Cg));
  }
}

}  // namespace fovea::detail
