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
#include <cstdint>

#include "fovea/core/gemm_bands.hpp"
#include "fovea/core/parallel.hpp"
#include "fovea/ops/clamp.hpp"
#include "fovea/ops/conv2d_geometry.hpp"
#include "fovea/ops/conv2d_workspace.hpp"
#include "fovea/ops/im2col.hpp"

namespace fovea::detail {

// y [F, P] = W [F, K] · cols [K, P] (+ bias [F]), clamped by `clamp`, on
// `threads` threads (gemm_in_bands): each band writes its own bias and
// clamps its own part while it is in cache. W: a GemmOperand, or packed
// (PackedGemmRows) when the weights are kept that way (conv2d_prepare_packed).
template <class T, class Weights>
void conv_gemm(const Weights& weight, const T* cols, const T* bias, Index F, Index K, Index P, OutputClamp<T> clamp,
               int threads, T* y) {
  gemm_in_bands(
      weight, gemm_operand(cols, K, P), gemm_result(y, F, P), threads,
      [&](const GemmBand& band) {
        if (bias == nullptr) return GemmUpdate::overwrite;
        for (Index r = band.rows.begin; r < band.rows.end; ++r) {
          std::fill(y + r * P + band.cols.begin, y + r * P + band.cols.end, bias[r]);
        }
        return GemmUpdate::accumulate;
      },
      [&, clamp](const GemmBand& band) {  // by value: no store to y aliases it
        if (!clamp.active()) return;
        for (Index r = band.rows.begin; r < band.rows.end; ++r) {
          T* row = y + r * P;
          for (Index p = band.cols.begin; p < band.cols.end; ++p) row[p] = clamp(row[p]);
        }
      });
}

// Group `group`'s weights [Cout/G, K] as the left operand of its GEMM: the
// packed copy when there is one (packed: one per group), else in place.
template <class T, class Body>
void with_group_weights(const T* weight, const PackedGemmOperand<T>* packed, Index group, Index Fg, Index K,
                        Body&& body) {
  if (packed != nullptr) {
    body(packed[group].all());
  } else {
    body(gemm_operand(weight + group * Fg * K, Fg, K));
  }
}

// Packs each group's weights [Cout/G, K] into ws.packed_weight for the
// forward's GEMMs, unless they were packed under the same promise that the
// weights stay constant (`constant`, Graph::set_constant_weights): only
// then are the packed copies used, so without the promise nothing is
// packed and the GEMM reads the weights in place.
template <class T>
const PackedGemmOperand<T>* conv2d_prepare_packed(const T* weight, const Conv2dGeometry& g, Conv2dWorkspace<T>& ws,
                                                  std::uint64_t constant) {
  if (constant == 0) return nullptr;
  const Index Fg = g.group_out_channels(), K = g.patch_size();
  if (ws.packed_constant != constant || static_cast<Index>(ws.packed_weight.size()) != g.groups) {
    ws.packed_weight.resize(static_cast<std::size_t>(g.groups));
    for (Index group = 0; group < g.groups; ++group) {
      ws.packed_weight[static_cast<std::size_t>(group)].pack(weight + group * Fg * K, Fg, K, K, max_threads());
    }
    ws.packed_constant = constant;
  }
  return ws.packed_weight.data();
}

// x_n: [Cin, H, W] -> y_n: [Cout, OH, OW] (bias: [Cout] or null), through
// scratch.cols ([K, P]); y clamped by `clamp`. The weights in place, or
// packed per group (conv2d_prepare_packed) unless null. `threads` > 1
// shares the sample among that many threads: im2col by input channels, the
// GEMM in bands.
template <class T>
void im2col_conv_forward(TensorView<const T, 3> x_n, const T* weight, const PackedGemmOperand<T>* packed, const T* bias,
                         const Conv2dGeometry& g, typename Conv2dWorkspace<T>::ThreadScratch& scratch,
                         OutputClamp<T> clamp, int threads, T* y_n) {
  const Index Cg = g.group_in_channels(), Fg = g.group_out_channels(), K = g.patch_size(), P = g.positions();
  const Index taps = g.window.kernel_h * g.window.kernel_w;
  for (Index group = 0; group < g.groups; ++group) {
    parallel_for(Cg, threads, [&](Index first, Index last, int /*chunk*/) {  // the group's input channels
      im2col<T>(x_n.slice(group * Cg + first, group * Cg + last), g.window,
                TensorView<T, 2>(scratch.cols).slice(first * taps, last * taps));
    });
    with_group_weights(weight, packed, group, Fg, K, [&](const auto& w) {
      conv_gemm(w, scratch.cols.data(), bias == nullptr ? nullptr : bias + group * Fg, Fg, K, P, clamp, threads,
                y_n + group * Fg * P);
    });
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
