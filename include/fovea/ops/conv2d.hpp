#pragma once

/// @file
/// 2-D convolution (cross-correlation, as in every CNN library), forward and
/// backward: the shape checks, the split of the batch across threads, and
/// conv2d_algorithm, which picks one of six algorithms. Each has its own
/// file, with its forward and backward side by side:
///
/// | algorithm | file | for |
/// |-----------|------|-----|
/// | im2col    | ops/conv2d_im2col.hpp    | anything: im2col -> GEMM, group by group |
/// | pointwise | ops/conv2d_pointwise.hpp | 1x1, stride 1, no padding: one GEMM on the input in place |
/// | direct    | ops/conv2d_direct.hpp    | one input channel at stride 1 (a first layer on greyscale images) |
/// | vector    | ops/conv2d_vector.hpp    | 2 to 64 input channels at stride 1 (LeNet's conv2, ResNet-8's 3x3) |
/// | depthwise | ops/conv2d_depthwise.hpp | groups == Cin |
/// | winograd  | ops/conv2d_winograd.hpp  | 3x3 at stride 1 with many channels, forward only |
///
/// Stateless: the caller (layers/conv2d.hpp) owns the weights and the
/// workspace. Batching: samples split across threads, each sample's
/// convolution on its own. On the skinny shapes of small CNNs a per-sample
/// GEMM is as fast as one batched GEMM (its columns stay in L2), and threads
/// over samples scale where threading inside each GEMM does not. With fewer
/// samples than threads (one image at inference) the forward shares each
/// sample among the threads instead, each algorithm by its own cut
/// (conv2d_sample_threads).

#include <cstdint>
#include <string>

#include "fovea/core/eigen.hpp"
#include "fovea/core/parallel.hpp"
#include "fovea/core/tensor.hpp"
#include "fovea/ops/clamp.hpp"
#include "fovea/ops/conv2d_depthwise.hpp"
#include "fovea/ops/conv2d_direct.hpp"
#include "fovea/ops/conv2d_geometry.hpp"
#include "fovea/ops/conv2d_im2col.hpp"
#include "fovea/ops/conv2d_pointwise.hpp"
#include "fovea/ops/conv2d_vector.hpp"
#include "fovea/ops/conv2d_winograd.hpp"
#include "fovea/ops/conv2d_workspace.hpp"

namespace fovea {

/// The window of a convolution and how its channels are grouped: filter
/// group g of `groups` sees input channel group g only (1: every filter sees
/// every channel). A Window2d converts to it with one group.
struct Conv2dParams {
  Window2d window;   ///< Kernel, stride, padding and dilation.
  Index groups = 1;  ///< G: Cin and Cout must be multiples of it; the weights are [Cout, Cin/G, KH, KW].
  /// One group.
  Conv2dParams(const Window2d& w) : window(w) {}  // NOLINT(google-explicit-constructor)
  /// `g` groups.
  Conv2dParams(const Window2d& w, Index g) : window(w), groups(g) {}
};

/// The algorithms a convolution can run on (see this file's overview).
enum class Conv2dAlgorithm {
  im2col,     ///< im2col -> GEMM, group by group: any convolution.
  pointwise,  ///< 1x1 at stride 1 without padding: a GEMM on the input in place.
  direct,     ///< one input channel at stride 1: hand-written loops over the padded image.
  vector,     ///< a few input channels at stride 1: an implicit GEMM with output channels in the vector lanes.
  depthwise,  ///< one group per input channel: loops over each filter's taps.
  winograd    ///< 3x3 at stride 1: Winograd's F(2x2, 3x3), 16 GEMMs on transformed tiles.
};

/// Which part of a convolution runs: the algorithm may depend on it.
enum class Conv2dPass {
  forward,          ///< y from x.
  weight_gradient,  ///< backward without dx (a first layer): weight and bias gradients only.
  backward          ///< backward with dx.
};

/// "im2col", "pointwise", "direct", "vector", "depthwise" or "winograd".
inline std::string to_string(Conv2dAlgorithm algorithm) {
  switch (algorithm) {
    case Conv2dAlgorithm::im2col:
      return "im2col";
    case Conv2dAlgorithm::pointwise:
      return "pointwise";
    case Conv2dAlgorithm::direct:
      return "direct";
    case Conv2dAlgorithm::vector:
      return "vector";
    case Conv2dAlgorithm::depthwise:
      return "depthwise";
    case Conv2dAlgorithm::winograd:
      return "winograd";
  }
  return "?";
}

/// The algorithm conv2d_forward (Conv2dPass::forward) or conv2d_backward
/// runs for geometry `g`:
/// - depthwise when every group is one input channel (groups == Cin > 1);
/// - direct for one input channel at stride 1 without dilation, except a
///   backward that needs dx (the direct loops have no input gradient): then
///   pointwise for a 1x1 kernel, im2col otherwise;
/// - pointwise for 1x1 at stride 1 without padding (x already is the column matrix);
/// - winograd for the forward of a 3x3 at stride 1, one group, with at least
///   winograd_min_channels input channels and an output at least
///   winograd_min_width wide (below, the vector path or the GEMM on the
///   plain sum is faster);
/// - vector for 2 to 64 input channels without dilation, one group, at any
///   stride;
/// - im2col for everything else (strides, dilation, groups, many channels),
///   which the GEMM runs near peak on large K.
inline Conv2dAlgorithm conv2d_algorithm(const Conv2dGeometry& g, Conv2dPass pass = Conv2dPass::forward) {
  const Window2d& w = g.window;
  if (g.depthwise()) return Conv2dAlgorithm::depthwise;
  const bool unit_steps = w.stride_h == 1 && w.stride_w == 1 && w.dilation_h == 1 && w.dilation_w == 1;
  if (unit_steps && g.groups == 1 && g.in_channels == 1 && pass != Conv2dPass::backward) {
    return Conv2dAlgorithm::direct;
  }
  if (g.pointwise()) return Conv2dAlgorithm::pointwise;
  if (pass == Conv2dPass::forward && unit_steps && g.groups == 1 && w.kernel_h == 3 && w.kernel_w == 3 &&
      g.in_channels >= detail::winograd_min_channels && g.out_w >= detail::winograd_min_width) {
    return Conv2dAlgorithm::winograd;
  }
  const bool undilated = w.dilation_h == 1 && w.dilation_w == 1;
  if (undilated && g.groups == 1 && g.in_channels > 1 && g.in_channels <= detail::vector_max_in_channels) {
    return Conv2dAlgorithm::vector;
  }
  return Conv2dAlgorithm::im2col;
}

/// Below this many multiply-adds a sample costs less than waking the other
/// threads (LeNet's layers, about 240k at most, stay on one thread).
inline constexpr Index conv2d_sample_split_min_macs = Index{1} << 19;

/// How many threads conv2d_forward shares each sample among for `samples`
/// samples of geometry `g` on max_threads() threads: all of them when there
/// are fewer samples than threads and a sample is worth splitting, else 1
/// (the threads then split the batch). The direct path (a first layer on one
/// input channel, a few hundred thousand multiply-adds at most) never splits.
inline int conv2d_sample_threads(const Conv2dGeometry& g, Index samples) {
  const int threads = max_threads();
  if (samples >= threads || conv2d_algorithm(g) == Conv2dAlgorithm::direct) return 1;
  const Index macs = g.out_channels * g.patch_size() * g.positions();
  return macs < conv2d_sample_split_min_macs ? 1 : threads;
}

namespace detail {

// The geometry of x under weight [Cout, Cin/G, KH, KW], after checking that
// the weight, bias and window agree with each other and with x.
inline Conv2dGeometry conv2d_checked(const char* operation, const Shape<4>& x, const Shape<4>& weight, Index bias_size,
                                     const Conv2dParams& params) {
  const Conv2dGeometry g = conv2d_geometry({x[1], x[2], x[3]}, weight[0], params.window, params.groups);
  if (weight != g.weight_shape()) {
    const std::string groups = params.groups == 1 ? "" : " in " + std::to_string(params.groups) + " groups";
    throw shape_error(std::string(operation) + ": weight " + to_string(weight) + " for input " + to_string(x) +
                      " and window (" + to_string(params.window) + ")" + groups + ", expected " +
                      to_string(g.weight_shape()));
  }
  if (bias_size != 0 && bias_size != weight[0]) {
    throw shape_error(std::string(operation) + ": bias [" + std::to_string(bias_size) + "], expected [" +
                      std::to_string(weight[0]) + "] or none");
  }
  return g;
}

inline void require_shape(const char* operation, const char* what, const Shape<4>& got, const Shape<4>& want) {
  if (got != want) {
    throw shape_error(std::string(operation) + ": " + what + " " + to_string(got) + ", expected " + to_string(want));
  }
}

// What one call needs from the workspace.
struct Conv2dPlan {
  Conv2dAlgorithm algorithm;
  Conv2dPass pass;
  int threads;           // parallel_blocks slots
  int blocks = 0;        // backward: partial gradients, one per block
  bool clamped = false;  // backward: room for the fused clamp's masked dy
  Index samples = 0;     // winograd: the batch, whose tile rows its passes are cut from
};

// Sizes the buffers `plan` uses: per thread, cols and dcols (im2col; dcols
// only with dx), image (direct, vector; depthwise forward: a channel's phase
// planes and wide output), grad (direct backward, vector),
// full (vector with dx), masked (fused clamp), transformed and products
// (winograd); shared, the vector path's transposed and flipped weights,
// winograd's row of zeros and, backward, a partial dW and db per block
// ([Cout, K], or [K, Cout padded] for vector).
template <class T>
void reserve(Conv2dWorkspace<T>& ws, const Conv2dGeometry& g, const Conv2dPlan& plan) {
  if (static_cast<int>(ws.threads.size()) < plan.threads) ws.threads.resize(static_cast<std::size_t>(plan.threads));
  const bool backward = plan.pass != Conv2dPass::forward, with_dx = plan.pass == Conv2dPass::backward;
  const Index K = g.patch_size(), P = g.positions(), Cout = g.out_channels;
  const Conv2dAlgorithm algorithm = plan.algorithm;
  const VectorLayout vector = vector_layout<T>(g);
  // The vector path's dx by the full correlation (else by Wᵀ·dy and col2im).
  const bool full_dx = with_dx && algorithm == Conv2dAlgorithm::vector && detail::vector_full_input_grad<T>(g);
  if (algorithm == Conv2dAlgorithm::winograd) {
    ws.zero_row.resize({g.width});
    const WinogradLayout winograd = winograd_layout<T>(g, plan.samples);
    for (int t = 0; t < plan.threads; ++t) {
      auto& scratch = ws.threads[static_cast<std::size_t>(t)];
      scratch.transformed.resize({winograd_cells * g.in_channels * winograd.pass_tiles()});
      scratch.products.resize({winograd_cells * Cout * winograd.pass_tiles()});
    }
  }
  if (algorithm == Conv2dAlgorithm::vector) {
    ws.weight_t.resize({K, vector.channels});
    ws.bias_t.resize({vector.channels});
    if (full_dx) {
      ws.weight_flipped.resize({g.in_channels, Cout * g.window.kernel_h * g.window.kernel_w});
    }
  }
  if (backward) {
    ws.dweight.resize({plan.blocks, K * (algorithm == Conv2dAlgorithm::vector ? vector.channels : Cout)});
    ws.dbias.resize({plan.blocks, Cout});
  }
  for (int t = 0; t < plan.threads; ++t) {
    auto& scratch = ws.threads[static_cast<std::size_t>(t)];
    if (algorithm == Conv2dAlgorithm::im2col) {
      scratch.cols.resize({K, P});
      if (with_dx) scratch.dcols.resize({K, P});
    }
    if (algorithm == Conv2dAlgorithm::direct) {
      const DirectLayout direct = direct_layout<T>(g);
      scratch.image.resize({direct.height * direct.width});
      if (backward) scratch.grad.resize({Cout * g.out_h * direct.out_w_padded});
    }
    if (algorithm == Conv2dAlgorithm::depthwise && plan.pass == Conv2dPass::forward) {
      scratch.image.resize({depthwise_layout<T>(g).scratch()});
    }
    if (algorithm == Conv2dAlgorithm::vector) {
      const FullLayout full = full_layout<T>(g);
      scratch.image.resize({g.in_channels * vector.height * vector.width});
      scratch.grad.resize({P * vector.channels});
      if (full_dx) scratch.full.resize({Cout * full.height * full.width});
      if (with_dx && !full_dx) scratch.dcols.resize({K, P});
    }
    if (backward && plan.clamped) scratch.masked.resize({Cout * P});
  }
}

// The padded copies of the direct and vector paths: their borders are zeroed
// once per block of samples; each sample overwrites only the middle. Which
// copies a pass uses: the image always, the direct path's padded dy in its
// weight gradient, the vector path's padded dy for dx.
template <class T>
void zero_padded_copies(typename Conv2dWorkspace<T>::ThreadScratch& scratch, Conv2dAlgorithm algorithm,
                        Conv2dPass pass) {
  if (algorithm != Conv2dAlgorithm::direct && algorithm != Conv2dAlgorithm::vector) return;
  scratch.image.fill(T{});
  if (algorithm == Conv2dAlgorithm::direct && pass != Conv2dPass::forward) scratch.grad.fill(T{});
  if (algorithm == Conv2dAlgorithm::vector && pass == Conv2dPass::backward) scratch.full.fill(T{});
}

}  // namespace detail

/// x: [N, Cin, H, W], weight: [Cout, Cin/G, KH, KW], bias: [Cout] or empty
///   -> y: [N, Cout, OH, OW] (overwritten); with an epilogue, y = min(max(conv,
/// low), high), applied while a sample's output is still in cache (a graph
/// fuses a Conv2d followed by a ReLU, ReLU6 or Clip this way).
/// `constant_weights` nonzero promises that weight and bias stay as they are
/// for every call with that value (Graph::set_constant_weights): the GEMM
/// paths then keep the weights packed in the workspace, and the vector and
/// Winograd paths compare their kept transforms with the weights once
/// instead of on every call; 0 (the default) promises nothing.
/// Throws shape_error, naming the shapes, when weight, bias or y disagree with
/// x and the window, and conv2d_geometry's errors for a bad or ill-fitting
/// window or channels that are not multiples of the groups.
template <class T>
void conv2d_forward(TensorView<const T, 4> x, TensorView<const T, 4> weight, TensorView<const T, 1> bias,
                    const Conv2dParams& params, TensorView<T, 4> y, Conv2dWorkspace<T>& workspace,
                    std::optional<Clamp> epilogue = std::nullopt, std::uint64_t constant_weights = 0) {
  const Conv2dGeometry g = detail::conv2d_checked("conv2d_forward", x.shape(), weight.shape(), bias.size(), params);
  const Index N = x.dim(0), Cout = g.out_channels, P = g.positions();
  detail::require_shape("conv2d_forward", "output", y.shape(), {N, Cout, g.out_h, g.out_w});
  const Conv2dAlgorithm algorithm = conv2d_algorithm(g, Conv2dPass::forward);
  const T* w = weight.data();
  const T* b = bias.empty() ? nullptr : bias.data();
  const auto output = detail::OutputClamp<T>::of(epilogue);
  if (algorithm == Conv2dAlgorithm::winograd) {  // its own cut: passes of tile rows across the batch
    const detail::WinogradCut cut = detail::winograd_cut<T>(g, N);
    detail::reserve(
        workspace, g,
        {.algorithm = algorithm, .pass = Conv2dPass::forward, .threads = block_slots(cut.blocks), .samples = N});
    detail::winograd_prepare(w, g, workspace, constant_weights);
    detail::winograd_conv_forward(x.data(), N, b, g, workspace, output, cut, y.data());
    return;
  }
  // One sample per block: a thread that is ahead takes single samples from
  // the back of the other's share (nothing is summed across samples here).
  // Fewer samples than threads: one block, each sample shared by the threads.
  const int sample_threads = conv2d_sample_threads(g, N);
  const int blocks = sample_threads > 1 ? 1 : blocks_per_thread(N, N);
  // The depthwise path's chunks of one shared sample each need a scratch of their own.
  const int slots = std::max(block_slots(blocks), algorithm == Conv2dAlgorithm::depthwise ? sample_threads : 1);
  detail::reserve(workspace, g, {.algorithm = algorithm, .pass = Conv2dPass::forward, .threads = slots});
  if (algorithm == Conv2dAlgorithm::vector) detail::vector_conv_prepare_forward(w, b, g, workspace, constant_weights);
  const PackedGemmOperand<T>* packed = algorithm == Conv2dAlgorithm::im2col || algorithm == Conv2dAlgorithm::pointwise
                                           ? detail::conv2d_prepare_packed(w, g, workspace, constant_weights)
                                           : nullptr;
  const detail::DepthwiseLayout depthwise = detail::depthwise_layout<T>(g);
  if (algorithm == Conv2dAlgorithm::depthwise) {
    workspace.tap_offsets.resize(static_cast<std::size_t>(g.window.kernel_h * g.window.kernel_w));
    detail::depthwise_tap_offsets(g, depthwise, workspace.tap_offsets.data());
  }
  const Index sample = g.in_channels * g.height * g.width;
  parallel_blocks(N, blocks, [&](const Block& block) {
    auto& scratch = workspace.threads[static_cast<std::size_t>(block.slot)];
    if (block.first) detail::zero_padded_copies<T>(scratch, algorithm, Conv2dPass::forward);
    for (Index n = block.begin; n < block.end; ++n) {
      const T* x_n = x.data() + n * sample;
      T* y_n = y.data() + n * Cout * P;
      switch (algorithm) {
        case Conv2dAlgorithm::im2col:
          detail::im2col_conv_forward<T>(x.item(n), w, packed, b, g, scratch, output, sample_threads, y_n);
          break;
        case Conv2dAlgorithm::pointwise:
          detail::pointwise_conv_forward(x_n, w, packed, b, g, output, sample_threads, y_n);
          break;
        case Conv2dAlgorithm::direct:
          detail::direct_conv_forward(x_n, w, b, g, scratch, y_n);
          if (output.active()) {  // the sample's [Cout, P] output is still in L1/L2
            ArrayMap<T> out(y_n, Cout * P);
            output.write(out, out);
          }
          break;
        case Conv2dAlgorithm::vector:
          detail::vector_conv_forward(x_n, g, workspace, scratch, output, sample_threads, y_n);
          break;
        case Conv2dAlgorithm::depthwise:
          detail::depthwise_conv_forward(
              x_n, w, b, g, depthwise, workspace.tap_offsets.data(),
              [&](int chunk) {
                return workspace.threads[static_cast<std::size_t>(sample_threads > 1 ? chunk : block.slot)]
                    .image.data();
              },
              output, sample_threads, y_n);
          break;
        case Conv2dAlgorithm::winograd:  // run above
          break;
      }
    }
  });
}

/// dy: [N, Cout, OH, OW] -> dx: [N, Cin, H, W] (skipped when dx is empty);
/// dweight [Cout, Cin/G, KH, KW] and dbias [Cout] (skipped when empty) ACCUMULATE.
/// With clamped_output (the forward's y with `epilogue`, [N, Cout, OH, OW]),
/// dy is the gradient after the clamp and is first masked to where low < y <
/// high (y > 0 for a ReLU: exactly the activation's backward, as y lies
/// inside the bounds iff the convolution's output did), per sample in cache.
/// Each block of samples sums its own partial dW, db; the partials are added in
/// a tree whose shape depends only on the block count, and the blocks only on
/// N and the thread count, so a given thread count gives the same bits every
/// run, whichever thread ran which block.
/// dx is overwritten. Throws shape_error, naming the shapes, when any of them
/// disagree, as conv2d_forward does.
template <class T>
void conv2d_backward(TensorView<const T, 4> x, TensorView<const T, 4> weight, TensorView<const T, 4> dy,
                     const Conv2dParams& params, TensorView<T, 4> dx, TensorView<T, 4> dweight, TensorView<T, 1> dbias,
                     Conv2dWorkspace<T>& workspace, TensorView<const T, 4> clamped_output = {},
                     Clamp epilogue = Clamp::relu()) {
  const char* op = "conv2d_backward";
  const Conv2dGeometry g = detail::conv2d_checked(op, x.shape(), weight.shape(), dbias.size(), params);
  const Index N = x.dim(0), Cout = g.out_channels, K = g.patch_size(), P = g.positions();
  detail::require_shape(op, "output gradient", dy.shape(), {N, Cout, g.out_h, g.out_w});
  detail::require_shape(op, "weight gradient", dweight.shape(), weight.shape());
  if (!dx.empty()) detail::require_shape(op, "input gradient", dx.shape(), x.shape());
  const bool clamped = !clamped_output.empty();
  if (clamped) detail::require_shape(op, "clamped output", clamped_output.shape(), dy.shape());
  // Blocks of about four samples: fine enough for a thread that is ahead to
  // take over a fair part of the other's share, few enough that zeroing and
  // adding the partial gradients stays a small part of the pass.
  const int blocks = blocks_per_thread(N, 8);
  const Conv2dPass pass = dx.empty() ? Conv2dPass::weight_gradient : Conv2dPass::backward;
  const Conv2dAlgorithm algorithm = conv2d_algorithm(g, pass);
  detail::reserve(
      workspace, g,
      {.algorithm = algorithm, .pass = pass, .threads = block_slots(blocks), .blocks = blocks, .clamped = clamped});
  workspace.sum.reset(blocks);
  const T* w = weight.data();
  if (algorithm == Conv2dAlgorithm::vector && !dx.empty() && detail::vector_full_input_grad<T>(g)) {
    detail::vector_conv_prepare_backward(w, g, workspace);
  }
  const Index sample = g.in_channels * g.height * g.width, dw_size = workspace.dweight.dim(1);

  parallel_blocks(N, blocks, [&](const Block& block) {
    auto& scratch = workspace.threads[static_cast<std::size_t>(block.slot)];
    // This block's partial dW [Cout, K] (the vector path's is [K, C]) and db.
    T* dw_partial = workspace.dweight.data() + block.index * dw_size;
    VectorMap<T> db(workspace.dbias.data() + block.index * Cout, Cout);
    std::fill_n(dw_partial, dw_size, T{});
    db.setZero();
    if (block.first) detail::zero_padded_copies<T>(scratch, algorithm, pass);
    for (Index n = block.begin; n < block.end; ++n) {
      const T* x_n = x.data() + n * sample;
      T* dx_n = dx.empty() ? nullptr : dx.data() + n * sample;
      const T* dy_n = dy.data() + n * Cout * P;
      if (clamped) {
        detail::clamp_mask(ArrayMap<T>(scratch.masked.data(), Cout * P),
                           ArrayMap<const T>(clamped_output.data() + n * Cout * P, Cout * P),
                           ArrayMap<const T>(dy_n, Cout * P), epilogue);
        dy_n = scratch.masked.data();
      }
      switch (algorithm) {
        case Conv2dAlgorithm::im2col:
          detail::im2col_conv_backward<T>(x.item(n), w, dy_n, g, scratch, dw_partial,
                                          dx.empty() ? TensorView<T, 3>{} : dx.item(n));
          break;
        case Conv2dAlgorithm::pointwise:
          detail::pointwise_conv_backward(x_n, w, dy_n, g, dw_partial, dx_n);
          break;
        case Conv2dAlgorithm::direct:
          detail::direct_conv_weight_grad(x_n, dy_n, g, scratch, dw_partial);
          break;
        case Conv2dAlgorithm::vector:
          detail::vector_conv_backward(x_n, w, dy_n, g, workspace, scratch, dw_partial, dx_n);
          break;
        case Conv2dAlgorithm::depthwise:
          detail::depthwise_conv_backward(x_n, w, dy_n, g, dw_partial, dx_n);
          break;
        case Conv2dAlgorithm::winograd:  // forward only: conv2d_algorithm never picks it here
          break;
      }
      if (!dbias.empty()) db += MatrixMap<const T>(dy_n, Cout, P).rowwise().sum();  // sum over positions
    }
    workspace.sum.finish(block.index, [&](int into, int from) {
      ArrayMap<T>(workspace.dweight.data() + into * dw_size, dw_size) +=
          ArrayMap<const T>(workspace.dweight.data() + from * dw_size, dw_size);
      ArrayMap<T>(workspace.dbias.data() + into * Cout, Cout) +=
          ArrayMap<const T>(workspace.dbias.data() + from * Cout, Cout);
    });
  });
  // Every partial has been added into block 0's.
  MatrixMap<T> dW_total(dweight.data(), Cout, K);
  if (algorithm == Conv2dAlgorithm::vector) {
    const Index C = detail::vector_layout<T>(g).channels;
    dW_total += MatrixMap<const T>(workspace.dweight.data(), K, C).leftCols(Cout).transpose();
  } else {
    dW_total += MatrixMap<const T>(workspace.dweight.data(), Cout, K);
  }
  if (!dbias.empty()) dbias.vector() += VectorMap<const T>(workspace.dbias.data(), Cout);
}

}  // namespace fovea
