#pragma once

/// @file
/// 1x1 convolution at stride 1 without padding, forward and backward side by
/// side: a sample [Cin, H*W] already is im2col's column matrix, so each group
/// is one GEMM on the input in place,
///
///     y[group] [Cout/G, P] = W[group] [Cout/G, Cin/G] · x[group] [Cin/G, P]  (+ b)
///     backward:  dW[group] += dy[group] · x[group]ᵀ,   dx[group] = W[group]ᵀ · dy[group]
///
/// Per sample; the caller (ops/conv2d.hpp) splits the batch across threads.

#include "fovea/core/gemm.hpp"
#include "fovea/ops/clamp.hpp"
#include "fovea/ops/conv2d_geometry.hpp"
#include "fovea/ops/conv2d_im2col.hpp"

namespace fovea::detail {

// x_n: [Cin, H, W] -> y_n: [Cout, H, W] (bias: [Cout] or null), clamped by
// `clamp`. The weights in place, or packed per group (conv2d_prepare_packed)
// unless null. `threads` > 1 shares the sample's GEMMs among that many
// threads (gemm_in_bands).
template <class T>
void pointwise_conv_forward(const T* x_n, const T* weight, const PackedGemmOperand<T>* packed, const T* bias,
                            const Conv2dGeometry& g, OutputClamp<T> clamp, int threads, T* y_n) {
  const Index K = g.group_in_channels(), Fg = g.group_out_channels(), P = g.positions();
  for (Index group = 0; group < g.groups; ++group) {
    with_group_weights(weight, packed, group, Fg, K, [&](const auto& w) {
      conv_gemm(w, x_n + group * K * P, bias == nullptr ? nullptr : bias + group * Fg, Fg, K, P, clamp, threads,
                y_n + group * Fg * P);
    });
  }
}

// dy_n: [Cout, H, W] -> dweight [Cout, Cin/G] += dy · xᵀ per group; dx_n
// [Cin, H, W] written unless null.
template <class T>
void pointwise_conv_backward(const T* x_n, const T* weight, const T* dy_n, const Conv2dGeometry& g, T* dweight,
                             T* dx_n) {
  const Index K = g.group_in_channels(), Fg = g.group_out_channels(), P = g.positions();
  for (Index group = 0; group < g.groups; ++group) {
    const GemmOperand<T> dY = gemm_operand(dy_n + group * Fg * P, Fg, P);
    gemm(dY, gemm_operand(x_n + group * K * P, K, P).t(), gemm_result(dweight + group * Fg * K, Fg, K),
         GemmUpdate::accumulate);
    if (dx_n == nullptr) continue;
    gemm(gemm_operand(weight + group * Fg * K, Fg, K).t(), dY, gemm_result(dx_n + group * K * P, K, P),
         GemmUpdate::overwrite);
  }
}

}  // namespace fovea::detail
