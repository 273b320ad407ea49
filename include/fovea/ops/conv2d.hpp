#pragma once

/// @file
/// 2-D convolution (cross-correlation, as in every CNN library) as
/// im2col -> GEMM, forward and backward side by side. Two shapes small CNNs are
/// made of skip the lowering (detail::conv_path): one input channel at stride 1
/// (a first layer on greyscale images) is convolved directly, and a few input
/// channels at stride 1 (LeNet's second layer) run as an implicit GEMM whose
/// kernels read the padded input in place. Stateless: the caller
/// (layers/conv2d.hpp) owns the weights and the workspace.
///
/// Batching: one GEMM per sample, samples split across threads. On the skinny
/// shapes of small CNNs a per-sample GEMM is as fast as one batched GEMM (its
/// columns stay in L2), and threads over samples scale where threading inside
/// each GEMM does not (docs: DESIGN.md, "Measured on this kind of machine").

#include <algorithm>
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>

#include "fovea/core/parallel.hpp"
#include "fovea/core/tensor.hpp"
#include "fovea/detail/conv2d_kernels.hpp"
#include "fovea/ops/activation.hpp"
#include "fovea/ops/conv2d_geometry.hpp"
#include "fovea/ops/im2col.hpp"

namespace fovea {

/// Per-thread scratch and per-block partial gradients, owned by the caller and
/// sized on first use for a shape; afterwards a call with the same shapes and
/// thread count allocates nothing.
template <class T>
struct Conv2dWorkspace {
  /// The scratch of one thread (a parallel_blocks slot); reserve() sizes only the buffers the path in use needs.
  struct ThreadScratch {
    Tensor<T, 2> cols;   ///< [K, P] one sample's im2col
    Tensor<T, 2> dcols;  ///< [K, P] W^T * dy for one sample
    Tensor<T, 1> image;  ///< direct and vector paths: one zero-padded input sample
    /// direct path: one sample's dy, rows zero-padded to whole blocks;
    /// vector path: one sample's y or dy as [P, Cout padded]
    Tensor<T, 1> grad;
    Tensor<T, 1> full;    ///< vector path: one sample's dy padded for the full correlation
    Tensor<T, 1> masked;  ///< fused ReLU: one sample's dy where y > 0
  };
  std::vector<ThreadScratch> threads;  ///< One per thread, indexed by the slot number; never shrinks.
  /// [blocks, Cout*K]: each block's partial weight gradient ([K, Cout padded] on the vector path)
  Tensor<T, 2> dweight;
  Tensor<T, 2> dbias;           ///< [blocks, Cout]: each block's partial bias gradient
  detail::BlockReduction sum;   ///< adds the partials up while the blocks run
  Tensor<T, 2> weight_t;        ///< vector path: [K, Cout padded], the weights transposed
  Tensor<T, 1> bias_t;          ///< vector path: [Cout padded]
  Tensor<T, 2> weight_flipped;  ///< vector path: [Cin, Cout*KH*KW], each filter turned by 180 degrees

  /// Sizes the scratch of the first `count` threads for geometry `g` on
  /// `path`, forward only or also backward (then with `blocks` partial
  /// gradients). What each path needs: cols and dcols (im2col, not
  /// pointwise), image and grad (direct, vector), full (vector backward), a
  /// partial dW per block ([Cout, K], or [K, Cout padded] on the vector path);
  /// `relu`: room for the fused ReLU's masked dy.
  void reserve(const Conv2dGeometry& g, int count, bool backward, detail::ConvPath path, bool relu = false,
               int blocks = 0) {
    using detail::ConvPath;
    if (static_cast<int>(threads.size()) < count) threads.resize(static_cast<std::size_t>(count));
    const Index K = g.patch_size(), P = g.positions();
    const detail::DirectLayout direct = detail::direct_layout<T>(g);
    const detail::VectorLayout vector = detail::vector_layout<T>(g);
    const detail::FullLayout full = detail::full_layout<T>(g);
    if (path == ConvPath::vector) {
      weight_t.resize({K, vector.channels});
      bias_t.resize({vector.channels});
      if (backward) weight_flipped.resize({g.in_channels, g.out_channels * g.window.kernel_h * g.window.kernel_w});
    }
    if (backward) {
      dweight.resize({blocks, K * (path == ConvPath::vector ? vector.channels : g.out_channels)});
      dbias.resize({blocks, g.out_channels});
    }
    for (int c = 0; c < count; ++c) {
      ThreadScratch& scratch = threads[static_cast<std::size_t>(c)];
      if (path == ConvPath::lowered && !g.pointwise()) scratch.cols.resize({K, P});
      if (path == ConvPath::direct) scratch.image.resize({direct.height * direct.width});
      if (path == ConvPath::vector) {
        scratch.image.resize({g.in_channels * vector.height * vector.width});
        scratch.grad.resize({P * vector.channels});
      }
      if (backward) {
        if (path == ConvPath::lowered && !g.pointwise()) scratch.dcols.resize({K, P});
        if (path == ConvPath::direct) scratch.grad.resize({g.out_channels * g.out_h * direct.out_w_padded});
        if (path == ConvPath::vector) scratch.full.resize({g.out_channels * full.height * full.width});
        if (relu) scratch.masked.resize({g.out_channels * P});
      }
    }
  }
};

namespace detail {

// The geometry of x under weight [Cout, Cin, KH, KW], after checking that the
// weight, bias and window agree with each other and with x.
inline Conv2dGeometry conv2d_checked(const char* operation, const Shape<4>& x, const Shape<4>& weight, Index bias_size,
                                     const Window2d& window) {
  const Shape<4> want = {weight[0], x[1], window.kernel_h, window.kernel_w};
  if (weight != want) {
    throw shape_error(std::string(operation) + ": weight " + to_string(weight) + " for input " + to_string(x) +
                      " and window (" + to_string(window) + "), expected " + to_string(want));
  }
  if (bias_size != 0 && bias_size != weight[0]) {
    throw shape_error(std::string(operation) + ": bias [" + std::to_string(bias_size) + "], expected [" +
                      std::to_string(weight[0]) + "] or none");
  }
  return conv2d_geometry({x[1], x[2], x[3]}, weight[0], window);
}

inline void require_shape(const char* operation, const char* what, const Shape<4>& got, const Shape<4>& want) {
  if (got != want) {
    throw shape_error(std::string(operation) + ": " + what + " " + to_string(got) + ", expected " + to_string(want));
  }
}

}  // namespace detail

/// x: [N, Cin, H, W], weight: [Cout, Cin, KH, KW], bias: [Cout] or empty
///   -> y: [N, Cout, OH, OW] (overwritten); with `relu`, y = max(conv, 0),
/// applied while a sample's output is still in registers or cache (Sequential
/// fuses a Conv2d followed by a ReLU this way).
/// Throws shape_error, naming the shapes, when weight, bias or y disagree with
/// x and the window, and conv_output_size's errors for a bad or ill-fitting window.
template <class T>
void conv2d_forward(TensorView<const T, 4> x, TensorView<const T, 4> weight, TensorView<const T, 1> bias,
                    const Window2d& window, TensorView<T, 4> y, Conv2dWorkspace<T>& workspace, bool relu = false) {
  const Conv2dGeometry g = detail::conv2d_checked("conv2d_forward", x.shape(), weight.shape(), bias.size(), window);
  const Index N = x.dim(0), Cout = g.out_channels, K = g.patch_size(), P = g.positions();
  detail::require_shape("conv2d_forward", "output", y.shape(), {N, Cout, g.out_h, g.out_w});
  const detail::ConvPath path = detail::conv_path(g);
  // One sample per block: a thread that is ahead takes single samples from
  // the back of the other's share (nothing is summed across samples here).
  const int blocks = blocks_per_thread(N, N);
  workspace.reserve(g, block_slots(blocks), false, path);

  if (path == detail::ConvPath::vector) {
    const detail::VectorLayout layout = detail::vector_layout<T>(g);
    const Index C = layout.channels;
    // weight_t [K, C] = W^T with zero columns past Cout; bias_t likewise.
    MatrixMap<T> Wt = workspace.weight_t.matrix();
    Wt.leftCols(Cout) = MatrixMap<const T>(weight.data(), Cout, K).transpose();
    Wt.rightCols(C - Cout).setZero();
    workspace.bias_t.fill(T{});
    if (!bias.empty()) std::copy_n(bias.data(), Cout, workspace.bias_t.data());
    parallel_blocks(N, blocks, [&](const Block& block) {
      auto& scratch = workspace.threads[static_cast<std::size_t>(block.slot)];
      if (block.first) scratch.image.fill(T{});  // the padding; each sample overwrites the middle
      T* image = scratch.image.data();
      T* y_t = scratch.grad.data();  // [P, C]
      for (Index n = block.begin; n < block.end; ++n) {
        detail::pad_channels(x.data() + n * g.in_channels * g.height * g.width, layout, g, image);
        for (Index oh = 0; oh < g.out_h; ++oh) {
          detail::for_channel_vectors<T>(C, [&](Index co, auto vectors) {
            constexpr int CV = decltype(vectors)::value;
            detail::for_even_blocks<detail::vector_registers<CV>>(g.out_w, [&](Index ow, auto positions) {
              detail::vector_forward_block<T, CV, decltype(positions)::value>(
                  image + oh * layout.width + ow, layout, g, workspace.weight_t.data() + co,
                  workspace.bias_t.data() + co, y_t + (oh * g.out_w + ow) * C + co);
            });
          });
        }
        // [P, C] -> y's [Cout, P]
        MatrixMap<T> Y(y.data() + n * Cout * P, Cout, P);
        if (relu) {
          Y = MatrixMap<const T>(y_t, P, C).leftCols(Cout).transpose().cwiseMax(T{0});
        } else {
          Y = MatrixMap<const T>(y_t, P, C).leftCols(Cout).transpose();
        }
      }
    });
    return;
  }

  if (path == detail::ConvPath::direct) {
    const detail::DirectLayout layout = detail::direct_layout<T>(g);
    parallel_blocks(N, blocks, [&](const Block& block) {
      Tensor<T, 1>& padded = workspace.threads[static_cast<std::size_t>(block.slot)].image;
      if (block.first) padded.fill(T{});  // the padding; each sample overwrites the middle
      T* image = padded.data();
      for (Index n = block.begin; n < block.end; ++n) {
        detail::pad_image(x.data() + n * g.height * g.width, layout, g, image);
        detail::for_filter_blocks(Cout, [&](Index f, auto block) {
          detail::direct_forward_rows<T, decltype(block)::value>(image, layout, g, weight.data() + f * K,
                                                                 bias.empty() ? nullptr : bias.data() + f,
                                                                 y.data() + (n * Cout + f) * P);
        });
        if (relu) {  // the sample's [Cout, P] output is still in L1/L2
          ArrayMap<T> out(y.data() + n * Cout * P, Cout * P);
          out = out.max(T{0});
        }
      }
    });
    return;
  }

  const MatrixMap<const T> W(weight.data(), Cout, K);
  const VectorMap<const T> b(bias.data(), bias.size());
  parallel_blocks(N, blocks, [&](const Block& block) {
    Tensor<T, 2>& cols = workspace.threads[static_cast<std::size_t>(block.slot)].cols;
    for (Index n = block.begin; n < block.end; ++n) {
      const T* columns = x.data() + n * g.in_channels * g.height * g.width;  // [K, P]
      if (!g.pointwise()) {
        im2col<T>(x.item(n), window, cols);
        columns = cols.data();
      }
      MatrixMap<T> Y(y.data() + n * Cout * P, Cout, P);  // [Cout, P]
      const MatrixMap<const T> C(columns, K, P);
      if (bias.empty()) {
        Y.noalias() = W * C;
      } else {
        Y.colwise() = b;  // the GEMM accumulates onto the bias: no second pass
        Y.noalias() += W * C;
      }
      if (relu) Y = Y.cwiseMax(T{0});
    }
  });
}

/// dy: [N, Cout, OH, OW] -> dx: [N, Cin, H, W] (skipped when dx is empty);
/// dweight [Cout, Cin, KH, KW] and dbias [Cout] (skipped when empty) ACCUMULATE.
/// With relu_output (the forward's y with `relu`, [N, Cout, OH, OW]), dy is
/// the gradient after the ReLU and is first masked to where y > 0 (exactly
/// ReLU's backward: y > 0 iff the convolution's output was), per sample in cache.
/// Each block of samples sums its own partial dW, db; the partials are added in
/// a tree whose shape depends only on the block count, and the blocks only on
/// N and the thread count, so a given thread count gives the same bits every
/// run, whichever thread ran which block.
/// dx is overwritten. Throws shape_error, naming the shapes, when any of them
/// disagree, as conv2d_forward does.
template <class T>
void conv2d_backward(TensorView<const T, 4> x, TensorView<const T, 4> weight, TensorView<const T, 4> dy,
                     const Window2d& window, TensorView<T, 4> dx, TensorView<T, 4> dweight, TensorView<T, 1> dbias,
                     Conv2dWorkspace<T>& workspace, TensorView<const T, 4> relu_output = {}) {
  const char* op = "conv2d_backward";
  const Conv2dGeometry g = detail::conv2d_checked(op, x.shape(), weight.shape(), dbias.size(), window);
  const Index N = x.dim(0), Cout = g.out_channels, K = g.patch_size(), P = g.positions();
  detail::require_shape(op, "output gradient", dy.shape(), {N, Cout, g.out_h, g.out_w});
  detail::require_shape(op, "weight gradient", dweight.shape(), weight.shape());
  if (!dx.empty()) detail::require_shape(op, "input gradient", dx.shape(), x.shape());
  const bool relu = !relu_output.empty();
  if (relu) detail::require_shape(op, "ReLU output", relu_output.shape(), dy.shape());
  // Blocks of about four samples: fine enough for a thread that is ahead to
  // take over a fair part of the other's share, few enough that zeroing and
  // adding the partial gradients stays a small part of the pass.
  const int blocks = blocks_per_thread(N, 8);
  // The direct path has no input gradient of its own: a caller that wants dx
  // (not the first layer) takes the im2col path, whose col2im provides it.
  detail::ConvPath path = detail::conv_path(g);
  if (path == detail::ConvPath::direct && !dx.empty()) path = detail::ConvPath::lowered;
  const bool direct = path == detail::ConvPath::direct;
  workspace.reserve(g, block_slots(blocks), true, path, relu, blocks);
  workspace.sum.reset(blocks);

  const MatrixMap<const T> W(weight.data(), Cout, K);
  const detail::DirectLayout layout = detail::direct_layout<T>(g);
  const detail::VectorLayout vlayout = detail::vector_layout<T>(g);
  const detail::FullLayout full = detail::full_layout<T>(g);
  const Index C = vlayout.channels;
  if (path == detail::ConvPath::vector && !dx.empty()) {
    // weight_flipped[c, co, a, b] = W[co, c, KH-1-a, KW-1-b]
    const Index KH = window.kernel_h, KW = window.kernel_w;
    T* wf = workspace.weight_flipped.data();
    for (Index c = 0; c < g.in_channels; ++c) {
      for (Index co = 0; co < Cout; ++co) {
        const T* filter = weight.data() + (co * g.in_channels + c) * KH * KW;
        for (Index t = 0; t < KH * KW; ++t) *wf++ = filter[KH * KW - 1 - t];
      }
    }
  }
  parallel_blocks(N, blocks, [&](const Block& block) {
    auto& scratch = workspace.threads[static_cast<std::size_t>(block.slot)];
    // This block's partial dW [Cout, K] (the vector path's is [K, C]) and db.
    T* dw_partial = workspace.dweight.data() + block.index * workspace.dweight.dim(1);
    MatrixMap<T> dW(dw_partial, Cout, K);
    VectorMap<T> db(workspace.dbias.data() + block.index * Cout, Cout);
    std::fill_n(dw_partial, workspace.dweight.dim(1), T{});
    db.setZero();
    // Padded copies: zero borders once per thread, each sample overwrites the middle.
    if (block.first && path != detail::ConvPath::lowered) {
      scratch.image.fill(T{});
      if (path == detail::ConvPath::direct) scratch.grad.fill(T{});
      if (path == detail::ConvPath::vector && !dx.empty()) scratch.full.fill(T{});
    }
    for (Index n = block.begin; n < block.end; ++n) {
      const T* dy_n = dy.data() + n * Cout * P;
      if (relu) {
        detail::relu_mask(ArrayMap<T>(scratch.masked.data(), Cout * P),
                          ArrayMap<const T>(relu_output.data() + n * Cout * P, Cout * P),
                          ArrayMap<const T>(dy_n, Cout * P));
        dy_n = scratch.masked.data();
      }
      const MatrixMap<const T> dY(dy_n, Cout, P);
      if (direct) {
        T* image = scratch.image.data();
        T* grad = scratch.grad.data();
        detail::pad_image(x.data() + n * g.height * g.width, layout, g, image);
        // dy rows copied to whole register blocks, zeros past OW, so the
        // blocks that run past the edge add nothing.
        for (Index row = 0; row < Cout * g.out_h; ++row) {
          detail::copy_row(dy_n + row * g.out_w, g.out_w, grad + row * layout.out_w_padded);
        }
        detail::for_filter_blocks(Cout, [&](Index f, auto block) {
          detail::direct_weight_grad<T, decltype(block)::value>(image, grad + f * g.out_h * layout.out_w_padded, layout,
                                                                g, dW.data() + f * K);
        });
        if (!dbias.empty()) db += dY.rowwise().sum();
        continue;
      }
      if (path == detail::ConvPath::vector) {
        // dW_t [K, C] += (padded x read as columns) x dy_t, dy_t = dy^T [P, C]
        T* image = scratch.image.data();
        T* grad_t = scratch.grad.data();
        detail::pad_channels(x.data() + n * g.in_channels * g.height * g.width, vlayout, g, image);
        MatrixMap<T> dY_t(grad_t, P, C);
        dY_t.leftCols(Cout) = dY.transpose();
        dY_t.rightCols(C - Cout).setZero();
        detail::for_channel_vectors<T>(C, [&](Index co, auto vectors) {
          constexpr int CV = decltype(vectors)::value;
          detail::for_even_blocks<detail::vector_registers<CV>>(K, [&](Index t0, auto taps) {
            detail::vector_weight_grad_block<T, CV, decltype(taps)::value>(image, vlayout, g, grad_t + co, t0,
                                                                           dw_partial + co);
          });
        });
      } else {
        const T* columns = x.data() + n * K * P;
        if (!g.pointwise()) {
          im2col<T>(x.item(n), window, scratch.cols);  // redone, not kept from forward: N of them would not fit in L2
          columns = scratch.cols.data();
        }
        const MatrixMap<const T> cols(columns, K, P);
        dW.noalias() += dY * cols.transpose();  // [Cout, P] x [P, K]
      }
      if (!dbias.empty()) db += dY.rowwise().sum();  // sum over positions
      if (dx.empty()) continue;
      if (path == detail::ConvPath::vector) {
        T* grad = scratch.full.data();
        detail::pad_full(dy_n, full, g, grad);
        detail::for_filter_blocks(g.in_channels, [&](Index c, auto block) {
          detail::full_input_grad_rows<T, decltype(block)::value>(
              grad, full, g, workspace.weight_flipped.data() + c * Cout * window.kernel_h * window.kernel_w,
              dx.data() + (n * g.in_channels + c) * g.height * g.width);
        });
      } else if (g.pointwise()) {
        MatrixMap<T>(dx.data() + n * K * P, K, P).noalias() = W.transpose() * dY;
      } else {
        scratch.dcols.matrix().noalias() = W.transpose() * dY;  // [K, Cout] x [Cout, P]
        TensorView<T, 3> dx_n = dx.item(n);
        dx_n.fill(T{});
        col2im<T>(scratch.dcols, window, dx_n);
      }
    }
    workspace.sum.finish(block.index, [&](int into, int from) {
      const Index dw_size = workspace.dweight.dim(1);
      ArrayMap<T>(workspace.dweight.data() + into * dw_size, dw_size) +=
          ArrayMap<const T>(workspace.dweight.data() + from * dw_size, dw_size);
      ArrayMap<T>(workspace.dbias.data() + into * Cout, Cout) +=
          ArrayMap<const T>(workspace.dbias.data() + from * Cout, Cout);
    });
  });
  // Every partial has been added into block 0's.
  MatrixMap<T> dW_total(dweight.data(), Cout, K);
  if (path == detail::ConvPath::vector) {
    dW_total += MatrixMap<const T>(workspace.dweight.data(), K, C).leftCols(Cout).transpose();
  } else {
    dW_total += MatrixMap<const T>(workspace.dweight.data(), Cout, K);
  }
  if (!dbias.empty()) dbias.vector() += VectorMap<const T>(workspace.dbias.data(), Cout);
}

}  // namespace fovea
