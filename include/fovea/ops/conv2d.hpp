#pragma once

/// @file
/// 2-D convolution (cross-correlation, as in every CNN library) as
/// im2col -> GEMM, forward and backward side by side; one input channel at
/// stride 1 (a first layer on greyscale images) is convolved directly instead
/// (detail::direct_conv). Stateless: the caller (layers/conv2d.hpp) owns the
/// weights and the workspace.
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
#include "fovea/ops/im2col.hpp"

namespace fovea {

namespace detail {

// Why a window of this size cannot slide over this input ("" when it can).
// Assumes kernel, stride, dilation > 0 and pad >= 0.
inline std::string conv_fit_problem(Index input, Index kernel, Index stride, Index pad, Index dilation, bool strict) {
  const Index extent = dilation * (kernel - 1) + 1;
  if (input <= 0) return std::string("input size must be positive, got ") + std::to_string(input);
  if (extent > input + 2 * pad) {
    std::string what = std::string("kernel extent ") + std::to_string(extent);
    if (dilation != 1)
      what += std::string(" (") + std::to_string(kernel) + " dilated by " + std::to_string(dilation) + ")";
    return what + " is larger than the padded input " + std::to_string(input) + " + 2*" + std::to_string(pad) + " = " +
           std::to_string(input + 2 * pad);
  }
  const Index span = input - extent + 2 * pad;
  if (strict && span % stride != 0) {
    std::ostringstream out;
    out << "(" << input << " - " << extent << " + 2*" << pad << ")/" << stride
        << " + 1 = " << static_cast<double>(span) / static_cast<double>(stride) + 1.0 << " is not an integer";
    return out.str();
  }
  return {};
}

}  // namespace detail

/// Output size of a convolution along one axis:
///   O = floor((I - F_eff + 2P)/S) + 1,  F_eff = D*(F-1) + 1.
/// A window that does not tile the padded input exactly is legal (the last
/// rows are dropped, as in PyTorch) unless `strict`, which throws shape_error
/// showing the arithmetic: "(10 - 3 + 2*0)/2 + 1 = 4.5 is not an integer".
/// Throws value_error for a kernel, stride or dilation below 1 or negative
/// padding, and shape_error for an input below 1 or smaller than the dilated
/// kernel even with padding.
inline Index conv_output_size(Index input, Index kernel, Index stride = 1, Index pad = 0, Index dilation = 1,
                              bool strict = false) {
  auto domain = [](const char* what, Index value, Index least) {
    if (value < least) {
      throw value_error(std::string("conv_output_size: ") + what +
                        (least == 0 ? " must be non-negative" : " must be positive") + ", got " +
                        std::to_string(value));
    }
  };
  domain("kernel size", kernel, 1);
  domain("stride", stride, 1);
  domain("padding", pad, 0);
  domain("dilation", dilation, 1);
  if (const std::string why = detail::conv_fit_problem(input, kernel, stride, pad, dilation, strict); !why.empty()) {
    throw shape_error(std::string("conv_output_size: ") + why);
  }
  return (input - (dilation * (kernel - 1) + 1) + 2 * pad) / stride + 1;
}

/// Everything one sample's convolution needs to know, resolved.
struct Conv2dGeometry {
  Index in_channels = 0;   ///< Cin.
  Index height = 0;        ///< H, input rows.
  Index width = 0;         ///< W, input columns.
  Index out_channels = 0;  ///< Cout.
  Index out_h = 0;         ///< OH, output rows.
  Index out_w = 0;         ///< OW, output columns.
  Window2d window;         ///< Kernel size, stride, padding and dilation.

  /// K: rows of the column matrix, columns of the GEMM view of the weights.
  Index patch_size() const { return in_channels * window.kernel_h * window.kernel_w; }
  /// P: output positions per channel, columns of the column matrix.
  Index positions() const { return out_h * out_w; }
  /// 1x1, stride 1, no padding: the [Cin, H*W] input already is the column matrix.
  bool pointwise() const {
    return window.kernel_h == 1 && window.kernel_w == 1 && window.stride_h == 1 && window.stride_w == 1 &&
           window.pad_h == 0 && window.pad_w == 0;
  }
  /// One input sample: [Cin, H, W].
  Shape<3> input_shape() const { return {in_channels, height, width}; }
  /// One output sample: [Cout, OH, OW].
  Shape<3> output_shape() const { return {out_channels, out_h, out_w}; }
  /// Multiply-adds counted as 2 FLOPs, one sample, bias not counted.
  double flops() const {
    return 2.0 * static_cast<double>(out_channels) * static_cast<double>(patch_size()) *
           static_cast<double>(positions());
  }
};

/// The geometry of a [C, H, W] input under `window` with `out_channels`
/// filters. Checks the window against the sample (conv_output_size's errors).
inline Conv2dGeometry conv2d_geometry(const Shape<3>& input, Index out_channels, const Window2d& window,
                                      bool strict = false) {
  const Window2d& w = window;
  return {input[0],
          input[1],
          input[2],
          out_channels,
          conv_output_size(input[1], w.kernel_h, w.stride_h, w.pad_h, w.dilation_h, strict),
          conv_output_size(input[2], w.kernel_w, w.stride_w, w.pad_w, w.dilation_w, strict),
          window};
}

namespace detail {

// Output positions one register block of the direct convolution covers: 16
// floats (8 doubles), one 512-bit or two 256-bit vectors per output channel,
// so that six channels' accumulators plus the input vector fit in the 16
// (AVX2) or 32 (AVX-512) vector registers.
template <class T>
inline constexpr Index direct_block = static_cast<Index>(64 / sizeof(T));

// One input channel, stride 1, no dilation: the layer a CNN's first
// convolution on greyscale images is. There im2col copies every input value
// KH*KW times to feed a GEMM whose K is only KH*KW, and Eigen then packs that
// copy once more; the direct loops below read the (padded) image in place.
inline bool direct_conv(const Conv2dGeometry& g) {
  const Window2d& w = g.window;
  return g.in_channels == 1 && w.stride_h == 1 && w.stride_w == 1 && w.dilation_h == 1 && w.dilation_w == 1;
}

// The zero-padded copy of one sample the direct loops read. Rows are wide
// enough for the last register block to run past the output's right edge
// (its extra outputs are dropped), so the inner loops test no bounds.
struct DirectLayout {
  Index out_w_padded;  // OW rounded up to a whole number of register blocks
  Index width;         // out_w_padded + KW - 1 >= W + 2*pad_w
  Index height;        // H + 2*pad_h = OH + KH - 1
};
template <class T>
DirectLayout direct_layout(const Conv2dGeometry& g) {
  constexpr Index V = direct_block<T>;
  const Index padded = (g.out_w + V - 1) / V * V;
  return {padded, padded + g.window.kernel_w - 1, g.height + 2 * g.window.pad_h};
}

}  // namespace detail

/// Per-thread scratch, owned by the caller and sized on first use for a shape;
/// afterwards a call with the same shapes and thread count allocates nothing.
template <class T>
struct Conv2dWorkspace {
  /// The scratch of one parallel_for chunk; reserve() sizes only the buffers the path in use needs.
  struct Chunk {
    Tensor<T, 2> cols;     ///< [K, P] one sample's im2col
    Tensor<T, 2> dcols;    ///< [K, P] W^T * dy for one sample
    Tensor<T, 2> dweight;  ///< [Cout, K] this chunk's partial weight gradient
    Tensor<T, 1> dbias;    ///< [Cout]
    Tensor<T, 1> image;    ///< direct path: one zero-padded input sample
    Tensor<T, 1> grad;     ///< direct path: one sample's dy, rows zero-padded to whole blocks
  };
  std::vector<Chunk> chunks;  ///< One per chunk, indexed by the chunk number; never shrinks.

  /// Sizes the first `count` chunks for geometry `g`, forward only or also
  /// backward (dweight, dbias and, by path, dcols or grad).
  /// `lowered`: the im2col path runs (cols, dcols); otherwise the direct one.
  void reserve(const Conv2dGeometry& g, int count, bool backward, bool lowered = true) {
    if (static_cast<int>(chunks.size()) < count) chunks.resize(static_cast<std::size_t>(count));
    const Index K = g.patch_size(), P = g.positions();
    const detail::DirectLayout direct = detail::direct_layout<T>(g);
    for (int c = 0; c < count; ++c) {
      Chunk& chunk = chunks[static_cast<std::size_t>(c)];
      if (lowered && !g.pointwise()) chunk.cols.resize({K, P});
      if (!lowered) chunk.image.resize({direct.height * direct.width});
      if (backward) {
        if (lowered && !g.pointwise()) chunk.dcols.resize({K, P});
        if (!lowered) chunk.grad.resize({g.out_channels * g.out_h * direct.out_w_padded});
        chunk.dweight.resize({g.out_channels, K});
        chunk.dbias.resize({g.out_channels});
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

// The direct convolution for one input channel (detail::direct_conv).
// Accumulators are fixed-size Eigen arrays, which the compiler keeps in
// vector registers: CB output channels x one block of V output positions,
// each input vector loaded once and multiplied by CB broadcast weights.
template <class T>
using DirectBlock = Eigen::Array<T, direct_block<T>, 1>;

// y[c, oh, ow0 .. ow0+V) for the CB filters at w ([CB, KH*KW]), plus bias.
template <class T, int CB>
void direct_forward_rows(const T* image, const DirectLayout& layout, const Conv2dGeometry& g, const T* w, const T* bias,
                         T* y) {
  using Block = DirectBlock<T>;
  constexpr Index V = direct_block<T>;
  const Index KH = g.window.kernel_h, KW = g.window.kernel_w, taps = KH * KW, OW = g.out_w, P = g.positions();
  for (Index oh = 0; oh < g.out_h; ++oh) {
    for (Index ow0 = 0; ow0 < OW; ow0 += V) {
      Block acc[CB];
      for (int c = 0; c < CB; ++c) acc[c].setConstant(bias == nullptr ? T{} : bias[c]);
      for (Index ki = 0; ki < KH; ++ki) {
        const T* row = image + (oh + ki) * layout.width + ow0;
        const T* weights = w + ki * KW;
        for (Index kj = 0; kj < KW; ++kj) {
          const Block in = Eigen::Map<const Block>(row + kj);
          for (int c = 0; c < CB; ++c) acc[c] += weights[c * taps + kj] * in;
        }
      }
      // A block past the right edge computed outputs that do not exist:
      // store only the real ones.
      const Index count = std::min(V, OW - ow0);
      for (int c = 0; c < CB; ++c) {
        T* out = y + c * P + oh * OW + ow0;
        if (count == V) {
          Eigen::Map<Block> whole(out);
          whole = acc[c];
        } else {
          alignas(64) T last[V];
          Eigen::Map<Block> spill(last);
          spill = acc[c];
          std::copy_n(last, count, out);
        }
      }
    }
  }
}

// dW[c, ki, kj] += sum over positions of dy[c, oh, ow] * x[oh + ki, ow + kj]
// for the CB channels of grad ([CB, OH, out_w_padded], zero past OW).
template <class T, int CB>
void direct_weight_grad(const T* image, const T* grad, const DirectLayout& layout, const Conv2dGeometry& g, T* dw) {
  using Block = DirectBlock<T>;
  constexpr Index V = direct_block<T>;
  const Index KH = g.window.kernel_h, KW = g.window.kernel_w, taps = KH * KW;
  const Index OWp = layout.out_w_padded, plane = g.out_h * OWp;
  for (Index ki = 0; ki < KH; ++ki) {
    for (Index kj = 0; kj < KW; ++kj) {
      Block acc[CB];
      for (int c = 0; c < CB; ++c) acc[c].setZero();
      for (Index oh = 0; oh < g.out_h; ++oh) {
        const T* in = image + (oh + ki) * layout.width + kj;
        const T* d = grad + oh * OWp;
        for (Index ow0 = 0; ow0 < OWp; ow0 += V) {
          const Block x = Eigen::Map<const Block>(in + ow0);
          for (int c = 0; c < CB; ++c) acc[c] += Eigen::Map<const Block>(d + c * plane + ow0) * x;
        }
      }
      for (int c = 0; c < CB; ++c) dw[c * taps + ki * KW + kj] += acc[c].sum();
    }
  }
}

// Cout in blocks of six filters (LeNet's conv1 is one block), the rest in one
// smaller block; each block size is its own instantiation so that its
// accumulators have a compile-time shape.
template <class Body>
void for_filter_blocks(Index filters, Body&& body) {
  for (Index f = 0; f < filters; f += 6) {
    switch (std::min<Index>(filters - f, 6)) {
      case 1:
        body(f, std::integral_constant<int, 1>{});
        break;
      case 2:
        body(f, std::integral_constant<int, 2>{});
        break;
      case 3:
        body(f, std::integral_constant<int, 3>{});
        break;
      case 4:
        body(f, std::integral_constant<int, 4>{});
        break;
      case 5:
        body(f, std::integral_constant<int, 5>{});
        break;
      default:
        body(f, std::integral_constant<int, 6>{});
        break;
    }
  }
}

// Copies sample x ([H, W]) into the middle of the zeroed buffer `image`.
template <class T>
void pad_image(const T* x, const DirectLayout& layout, const Conv2dGeometry& g, T* image) {
  std::fill_n(image, layout.height * layout.width, T{});
  for (Index ih = 0; ih < g.height; ++ih) {
    std::copy_n(x + ih * g.width, g.width, image + (ih + g.window.pad_h) * layout.width + g.window.pad_w);
  }
}

}  // namespace detail

/// x: [N, Cin, H, W], weight: [Cout, Cin, KH, KW], bias: [Cout] or empty
///   -> y: [N, Cout, OH, OW] (overwritten).
/// Throws shape_error, naming the shapes, when weight, bias or y disagree with
/// x and the window, and conv_output_size's errors for a bad or ill-fitting window.
template <class T>
void conv2d_forward(TensorView<const T, 4> x, TensorView<const T, 4> weight, TensorView<const T, 1> bias,
                    const Window2d& window, TensorView<T, 4> y, Conv2dWorkspace<T>& workspace) {
  const Conv2dGeometry g = detail::conv2d_checked("conv2d_forward", x.shape(), weight.shape(), bias.size(), window);
  const Index N = x.dim(0), Cout = g.out_channels, K = g.patch_size(), P = g.positions();
  detail::require_shape("conv2d_forward", "output", y.shape(), {N, Cout, g.out_h, g.out_w});
  const bool direct = detail::direct_conv(g);
  workspace.reserve(g, chunk_count(N), false, !direct);

  if (direct) {
    const detail::DirectLayout layout = detail::direct_layout<T>(g);
    parallel_for(N, [&](Index begin, Index end, int chunk) {
      T* image = workspace.chunks[static_cast<std::size_t>(chunk)].image.data();
      for (Index n = begin; n < end; ++n) {
        detail::pad_image(x.data() + n * g.height * g.width, layout, g, image);
        detail::for_filter_blocks(Cout, [&](Index f, auto block) {
          detail::direct_forward_rows<T, decltype(block)::value>(image, layout, g, weight.data() + f * K,
                                                                 bias.empty() ? nullptr : bias.data() + f,
                                                                 y.data() + (n * Cout + f) * P);
        });
      }
    });
    return;
  }

  const MatrixMap<const T> W(weight.data(), Cout, K);
  const VectorMap<const T> b(bias.data(), bias.size());
  parallel_for(N, [&](Index begin, Index end, int chunk) {
    Tensor<T, 2>& cols = workspace.chunks[static_cast<std::size_t>(chunk)].cols;
    for (Index n = begin; n < end; ++n) {
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
    }
  });
}

/// dy: [N, Cout, OH, OW] -> dx: [N, Cin, H, W] (skipped when dx is empty);
/// dweight [Cout, Cin, KH, KW] and dbias [Cout] (skipped when empty) ACCUMULATE.
/// Each chunk of samples sums its own partial dW, db; the partials are added in
/// chunk order, so a given thread count gives the same bits every run.
/// dx is overwritten. Throws shape_error, naming the shapes, when any of them
/// disagree, as conv2d_forward does.
template <class T>
void conv2d_backward(TensorView<const T, 4> x, TensorView<const T, 4> weight, TensorView<const T, 4> dy,
                     const Window2d& window, TensorView<T, 4> dx, TensorView<T, 4> dweight, TensorView<T, 1> dbias,
                     Conv2dWorkspace<T>& workspace) {
  const char* op = "conv2d_backward";
  const Conv2dGeometry g = detail::conv2d_checked(op, x.shape(), weight.shape(), dbias.size(), window);
  const Index N = x.dim(0), Cout = g.out_channels, K = g.patch_size(), P = g.positions();
  detail::require_shape(op, "output gradient", dy.shape(), {N, Cout, g.out_h, g.out_w});
  detail::require_shape(op, "weight gradient", dweight.shape(), weight.shape());
  if (!dx.empty()) detail::require_shape(op, "input gradient", dx.shape(), x.shape());
  const int chunks = chunk_count(N);
  // The direct path has no input gradient of its own: a caller that wants dx
  // (not the first layer) takes the im2col path, whose col2im provides it.
  const bool direct = dx.empty() && detail::direct_conv(g);
  workspace.reserve(g, chunks, true, !direct);

  const MatrixMap<const T> W(weight.data(), Cout, K);
  const detail::DirectLayout layout = detail::direct_layout<T>(g);
  parallel_for(N, [&](Index begin, Index end, int chunk) {
    auto& scratch = workspace.chunks[static_cast<std::size_t>(chunk)];
    MatrixMap<T> dW = scratch.dweight.matrix();  // [Cout, K]
    dW.setZero();
    scratch.dbias.fill(T{});
    for (Index n = begin; n < end; ++n) {
      const MatrixMap<const T> dY(dy.data() + n * Cout * P, Cout, P);
      if (direct) {
        T* image = scratch.image.data();
        T* grad = scratch.grad.data();
        detail::pad_image(x.data() + n * g.height * g.width, layout, g, image);
        // dy rows copied to whole register blocks, zeros past OW, so the
        // blocks that run past the edge add nothing.
        for (Index row = 0; row < Cout * g.out_h; ++row) {
          T* out = grad + row * layout.out_w_padded;
          std::copy_n(dy.data() + n * Cout * P + row * g.out_w, g.out_w, out);
          std::fill(out + g.out_w, out + layout.out_w_padded, T{});
        }
        detail::for_filter_blocks(Cout, [&](Index f, auto block) {
          detail::direct_weight_grad<T, decltype(block)::value>(image, grad + f * g.out_h * layout.out_w_padded, layout,
                                                                g, dW.data() + f * K);
        });
        if (!dbias.empty()) scratch.dbias.vector() += dY.rowwise().sum();
        continue;
      }
      const T* columns = x.data() + n * K * P;
      if (!g.pointwise()) {
        im2col<T>(x.item(n), window, scratch.cols);  // redone, not kept from forward: N of them would not fit in L2
        columns = scratch.cols.data();
      }
      const MatrixMap<const T> C(columns, K, P);
      dW.noalias() += dY * C.transpose();                                // [Cout, P] x [P, K]
      if (!dbias.empty()) scratch.dbias.vector() += dY.rowwise().sum();  // sum over positions
      if (dx.empty()) continue;
      if (g.pointwise()) {
        MatrixMap<T>(dx.data() + n * K * P, K, P).noalias() = W.transpose() * dY;
      } else {
        scratch.dcols.matrix().noalias() = W.transpose() * dY;  // [K, Cout] x [Cout, P]
        TensorView<T, 3> dx_n = dx.item(n);
        dx_n.fill(T{});
        col2im<T>(scratch.dcols, window, dx_n);
      }
    }
  });
  MatrixMap<T> dW_total(dweight.data(), Cout, K);
  for (int c = 0; c < chunks; ++c) {
    const auto& scratch = workspace.chunks[static_cast<std::size_t>(c)];
    dW_total += scratch.dweight.matrix();
    if (!dbias.empty()) dbias.vector() += scratch.dbias.vector();
  }
}

}  // namespace fovea
