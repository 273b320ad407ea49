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

// Which loops convolve a layer:
// - direct: one input channel, stride 1, no dilation: the layer a CNN's first
//   convolution on greyscale images is. There im2col copies every input value
//   KH*KW times to feed a GEMM whose K is only KH*KW, and Eigen then packs
//   that copy once more; the direct loops read the (padded) image in place.
// - vector: a few input channels (2..16), stride 1, no dilation: LeNet's conv2 (6 -> 16,
//   5x5 on 14x14). Its GEMMs are small (K = 150, 100 positions), so im2col,
//   col2im and Eigen's packing of both cost as much as the multiply-adds. The
//   vector kernels put output channels in the vector lanes instead of
//   positions, so a 10-wide output row wastes no lanes, and broadcast each
//   input value straight from the padded sample: an implicit GEMM with no
//   column matrix. The input gradient is a direct "full" correlation.
// - lowered: everything else (strides, dilation, many input channels, 1x1
//   without padding) is im2col + GEMM, which Eigen runs near peak on large K.
inline constexpr Index vector_max_in_channels = 16;

enum class ConvPath { lowered, direct, vector };

inline ConvPath conv_path(const Conv2dGeometry& g) {
  const Window2d& w = g.window;
  if (w.stride_h != 1 || w.stride_w != 1 || w.dilation_h != 1 || w.dilation_w != 1) return ConvPath::lowered;
  if (g.in_channels == 1) return ConvPath::direct;
  // 1x1 without padding reads x as its column matrix already: nothing to save.
  if (g.in_channels <= vector_max_in_channels && !g.pointwise()) return ConvPath::vector;
  return ConvPath::lowered;
}

// The vector path's zero-padded sample [Cin, H + 2*pad_h, W + 2*pad_w] and
// its channel-major rows: [positions, Cout rounded up to whole vectors], the
// lanes past Cout zero.
struct VectorLayout {
  Index height;
  Index width;
  Index channels;
};
template <class T>
VectorLayout vector_layout(const Conv2dGeometry& g) {
  constexpr Index V = direct_block<T>;
  return {g.height + 2 * g.window.pad_h, g.width + 2 * g.window.pad_w, (g.out_channels + V - 1) / V * V};
}

// The vector path's input gradient is the "full" correlation of dy with the
// flipped kernel, dx[c, ih, iw] = sum over co, a, b of
// dy[co, ih + a - qh, iw + b - qw] * W[co, c, KH-1-a, KW-1-b], with
// qh = KH-1-pad_h, qw = KW-1-pad_w: the direct loops of the first layer with
// the roles of x and dy exchanged and no col2im. dy is copied into a zeroed
// [Cout, H + KH - 1, W rounded up to blocks + KW - 1] buffer at (qh, qw) (a
// negative offset drops dy rows or columns no input position reaches).
struct FullLayout {
  Index height;  // H + KH - 1
  Index width;   // W rounded up to whole register blocks, + KW - 1
  Index top;     // qh
  Index left;    // qw
};
template <class T>
FullLayout full_layout(const Conv2dGeometry& g) {
  constexpr Index V = direct_block<T>;
  const Window2d& w = g.window;
  return {g.height + w.kernel_h - 1, (g.width + V - 1) / V * V + w.kernel_w - 1, w.kernel_h - 1 - w.pad_h,
          w.kernel_w - 1 - w.pad_w};
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
    Tensor<T, 2> dweight;  ///< [Cout, K] this chunk's partial weight gradient ([K, Cout padded] on the vector path)
    Tensor<T, 1> dbias;    ///< [Cout]
    Tensor<T, 1> image;    ///< direct and vector paths: one zero-padded input sample
    /// direct path: one sample's dy, rows zero-padded to whole blocks;
    /// vector path: one sample's y or dy as [P, Cout padded]
    Tensor<T, 1> grad;
    Tensor<T, 1> full;    ///< vector path: one sample's dy padded for the full correlation
    Tensor<T, 1> masked;  ///< fused ReLU: one sample's dy where y > 0
  };
  std::vector<Chunk> chunks;    ///< One per chunk, indexed by the chunk number; never shrinks.
  Tensor<T, 2> weight_t;        ///< vector path: [K, Cout padded], the weights transposed
  Tensor<T, 1> bias_t;          ///< vector path: [Cout padded]
  Tensor<T, 2> weight_flipped;  ///< vector path: [Cin, Cout*KH*KW], each filter turned by 180 degrees

  /// Sizes the first `count` chunks for geometry `g` on `path`, forward only or
  /// also backward. What each path needs: cols and dcols (im2col, not
  /// pointwise), image and grad (direct, vector), full (vector backward), a
  /// partial dW per chunk ([Cout, K], or [K, Cout padded] on the vector path);
  /// `relu`: room for the fused ReLU's masked dy.
  void reserve(const Conv2dGeometry& g, int count, bool backward, detail::ConvPath path, bool relu = false) {
    using detail::ConvPath;
    if (static_cast<int>(chunks.size()) < count) chunks.resize(static_cast<std::size_t>(count));
    const Index K = g.patch_size(), P = g.positions();
    const detail::DirectLayout direct = detail::direct_layout<T>(g);
    const detail::VectorLayout vector = detail::vector_layout<T>(g);
    const detail::FullLayout full = detail::full_layout<T>(g);
    if (path == ConvPath::vector) {
      weight_t.resize({K, vector.channels});
      bias_t.resize({vector.channels});
      if (backward) weight_flipped.resize({g.in_channels, g.out_channels * g.window.kernel_h * g.window.kernel_w});
    }
    for (int c = 0; c < count; ++c) {
      Chunk& chunk = chunks[static_cast<std::size_t>(c)];
      if (path == ConvPath::lowered && !g.pointwise()) chunk.cols.resize({K, P});
      if (path == ConvPath::direct) chunk.image.resize({direct.height * direct.width});
      if (path == ConvPath::vector) {
        chunk.image.resize({g.in_channels * vector.height * vector.width});
        chunk.grad.resize({P * vector.channels});
      }
      if (backward) {
        if (path == ConvPath::lowered && !g.pointwise()) chunk.dcols.resize({K, P});
        if (path == ConvPath::direct) chunk.grad.resize({g.out_channels * g.out_h * direct.out_w_padded});
        if (path == ConvPath::vector) {
          chunk.full.resize({g.out_channels * full.height * full.width});
          chunk.dweight.resize({K, vector.channels});
        } else {
          chunk.dweight.resize({g.out_channels, K});
        }
        chunk.dbias.resize({g.out_channels});
        if (relu) chunk.masked.resize({g.out_channels * P});
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

// Copies a short run of values (a row of a small feature map, 1 to a few
// dozen) with fixed-size vector moves: whole blocks, then two overlapping
// pieces of the widest size that fits. std::copy_n calls memmove, whose
// per-call cost was 7-9 % of the LeNet step over ~700 short rows per sample.
template <class T, Index Width>
void copy_pieces(const T* from, Index count, T* to) {
  using Piece = Eigen::Array<T, Width, 1>;
  if constexpr (Width > 1) {
    if (count < Width) {
      copy_pieces<T, Width / 2>(from, count, to);
      return;
    }
    Eigen::Map<Piece> head(to), tail(to + count - Width);
    const Piece first = Eigen::Map<const Piece>(from), last = Eigen::Map<const Piece>(from + count - Width);
    head = first;
    tail = last;
  } else {
    if (count == 1) *to = *from;
  }
}
template <class T>
void copy_row(const T* from, Index count, T* to) {
  constexpr Index V = direct_block<T>;
  Index i = 0;
  for (; i + V <= count; i += V) {
    Eigen::Map<DirectBlock<T>> block(to + i);
    block = Eigen::Map<const DirectBlock<T>>(from + i);
  }
  if (i == count) return;
  if (i > 0) {  // the last whole block, overlapping the previous one
    Eigen::Map<DirectBlock<T>> block(to + count - V);
    block = Eigen::Map<const DirectBlock<T>>(from + count - V);
    return;
  }
  copy_pieces<T, V / 2>(from, count, to);
}

// Stores the first `count` of a block's V values (a block past the right
// edge computed outputs that do not exist).
template <class T>
void store_block(const DirectBlock<T>& block, Index count, T* out) {
  if (count == direct_block<T>) {
    Eigen::Map<DirectBlock<T>> whole(out);
    whole = block;
  } else {
    alignas(64) T last[direct_block<T>];
    Eigen::Map<DirectBlock<T>> spill(last);
    spill = block;
    copy_row(last, count, out);
  }
}

// y[c, oh + r, ow0 .. ow0+V) for the CB filters at w ([CB, KH*KW]) and RB
// output rows r, plus bias: each weight is broadcast once for RB rows.
template <class T, int CB, int RB>
void direct_forward_block(const T* image, const DirectLayout& layout, const Conv2dGeometry& g, const T* w,
                          const T* bias, Index oh, Index ow0, T* y) {
  using Block = DirectBlock<T>;
  const Index KH = g.window.kernel_h, KW = g.window.kernel_w, taps = KH * KW, OW = g.out_w, P = g.positions();
  Block acc[RB][CB];
  for (int r = 0; r < RB; ++r) {
    for (int c = 0; c < CB; ++c) acc[r][c].setConstant(bias == nullptr ? T{} : bias[c]);
  }
  for (Index ki = 0; ki < KH; ++ki) {
    const T* row = image + (oh + ki) * layout.width + ow0;
    const T* weights = w + ki * KW;
    for (Index kj = 0; kj < KW; ++kj) {
      Block in[RB];
      for (int r = 0; r < RB; ++r) in[r] = Eigen::Map<const Block>(row + r * layout.width + kj);
      for (int c = 0; c < CB; ++c) {
        const T weight = weights[c * taps + kj];
        for (int r = 0; r < RB; ++r) acc[r][c] += weight * in[r];
      }
    }
  }
  const Index count = std::min(direct_block<T>, OW - ow0);
  for (int r = 0; r < RB; ++r) {
    for (int c = 0; c < CB; ++c) store_block<T>(acc[r][c], count, y + c * P + (oh + r) * OW + ow0);
  }
}

// The whole output of the CB filters at w, two rows at a time. In a row at
// least one block wide, the last block ends at the row's end (overlapping
// the one before it; the overlap is computed twice and stored twice, the same
// values): whole-vector stores, no partial store through a spill buffer.
template <class T, int CB>
void direct_forward_rows(const T* image, const DirectLayout& layout, const Conv2dGeometry& g, const T* w, const T* bias,
                         T* y) {
  constexpr Index V = direct_block<T>;
  for (Index oh = 0; oh < g.out_h; oh += 2) {
    for (Index ow0 = 0; ow0 < g.out_w; ow0 += V) {
      const Index start = ow0 + V > g.out_w && g.out_w >= V ? g.out_w - V : ow0;
      if (oh + 1 < g.out_h) {
        direct_forward_block<T, CB, 2>(image, layout, g, w, bias, oh, start, y);
      } else {
        direct_forward_block<T, CB, 1>(image, layout, g, w, bias, oh, start, y);
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

// Copies sample x ([H, W]) into the middle of `image`, whose border the
// caller zeroed once for all samples of a chunk (only the middle changes).
template <class T>
void pad_image(const T* x, const DirectLayout& layout, const Conv2dGeometry& g, T* image) {
  for (Index ih = 0; ih < g.height; ++ih) {
    copy_row(x + ih * g.width, g.width, image + (ih + g.window.pad_h) * layout.width + g.window.pad_w);
  }
}

// Calls body(std::integral_constant<int, n>{}) for a run-time 1 <= n <= Max:
// each block size is its own instantiation, with accumulators the compiler
// keeps in registers.
template <int Max, class Body>
void with_count(Index n, Body&& body) {
  if constexpr (Max > 1) {
    if (n < Max) {
      with_count<Max - 1>(n, body);
      return;
    }
  }
  body(std::integral_constant<int, Max>{});
}

// Splits [0, total) into the fewest blocks of at most Max items, as even as
// possible (a 10-wide row is one block of 10, a 28-wide one 10 + 9 + 9), and
// calls body(begin, block) for each.
template <int Max, class Body>
void for_even_blocks(Index total, Body&& body) {
  const Index blocks = (total + Max - 1) / Max;
  for (Index b = 0, begin = 0; b < blocks; ++b) {
    const Index size = total / blocks + (b < total % blocks ? 1 : 0);
    with_count<Max>(size, [&](auto count) { body(begin, count); });
    begin += size;
  }
}

// Output channels per vector-path kernel call: one or two vectors (16 or 32
// floats), and the positions (forward) or taps (weight gradient) a call keeps
// in registers beside them: 12 x 1 or 6 x 2 accumulators.
template <class T, class Body>
void for_channel_vectors(Index channels_padded, Body&& body) {
  constexpr Index V = direct_block<T>;
  Index co = 0;
  for (; co + 2 * V <= channels_padded; co += 2 * V) body(co, std::integral_constant<int, 2>{});
  if (co < channels_padded) body(co, std::integral_constant<int, 1>{});
}
#if defined(__AVX512F__)
template <int CV>
inline constexpr int vector_registers = 12 / CV;  // of 32 registers
#else
template <int CV>
inline constexpr int vector_registers = 6 / CV;  // a 16-float block is two of the 16 AVX registers
#endif

// Copies one sample's dy ([Cout, OH, OW]) into the full-correlation buffer
// (zeroed once per chunk, as pad_image's).
template <class T>
void pad_full(const T* dy, const FullLayout& layout, const Conv2dGeometry& g, T* out) {
  // Rows r of the buffer hold dy row r - top; columns s hold dy column s - left.
  const Index r0 = std::max<Index>(0, layout.top), r1 = std::min(layout.height, g.out_h + layout.top);
  const Index s0 = std::max<Index>(0, layout.left), s1 = std::min(layout.width, g.out_w + layout.left);
  if (r0 >= r1 || s0 >= s1) return;
  for (Index co = 0; co < g.out_channels; ++co) {
    for (Index r = r0; r < r1; ++r) {
      const T* src = dy + (co * g.out_h + r - layout.top) * g.out_w + (s0 - layout.left);
      copy_row(src, s1 - s0, out + (co * layout.height + r) * layout.width + s0);
    }
  }
}

// dx[c, ih + r, iw0 .. iw0+V) for the CB input channels whose flipped
// filters are at wf ([CB, Cout*KH*KW]) and RB rows r. Kernel rows that read
// only the zero rows above or below dy (for every one of the RB rows) are
// skipped; the rows read stay inside the buffer (ih + RB - 1 < H).
template <class T, int CB, int RB>
void full_input_grad_block(const T* grad, const FullLayout& layout, const Conv2dGeometry& g, const T* wf, Index ih,
                           Index iw0, T* dx) {
  using Block = DirectBlock<T>;
  const Index KH = g.window.kernel_h, KW = g.window.kernel_w, Cout = g.out_channels;
  const Index taps = Cout * KH * KW, plane = layout.height * layout.width;
  // Buffer row ih + r + a holds dy row ih + r + a - top: some r must keep 0 <= that < OH.
  const Index a0 = std::max<Index>(0, layout.top - ih - (RB - 1)), a1 = std::min(KH, g.out_h + layout.top - ih);
  Block acc[RB][CB];
  for (int r = 0; r < RB; ++r) {
    for (int c = 0; c < CB; ++c) acc[r][c].setZero();
  }
  for (Index co = 0; co < Cout; ++co) {
    for (Index a = a0; a < a1; ++a) {
      const T* row = grad + co * plane + (ih + a) * layout.width + iw0;
      const T* weights = wf + (co * KH + a) * KW;
      for (Index b = 0; b < KW; ++b) {
        Block in[RB];
        for (int r = 0; r < RB; ++r) in[r] = Eigen::Map<const Block>(row + r * layout.width + b);
        for (int c = 0; c < CB; ++c) {
          const T weight = weights[c * taps + b];
          for (int r = 0; r < RB; ++r) acc[r][c] += weight * in[r];
        }
      }
    }
  }
  const Index count = std::min(direct_block<T>, g.width - iw0);
  for (int r = 0; r < RB; ++r) {
    for (int c = 0; c < CB; ++c)
      store_block<T>(acc[r][c], count, dx + c * g.height * g.width + (ih + r) * g.width + iw0);
  }
}

// The whole dx of CB input channels, two rows at a time.
template <class T, int CB>
void full_input_grad_rows(const T* grad, const FullLayout& layout, const Conv2dGeometry& g, const T* wf, T* dx) {
  constexpr Index V = direct_block<T>;
  for (Index ih = 0; ih < g.height; ih += 2) {
    for (Index iw0 = 0; iw0 < g.width; iw0 += V) {
      if (ih + 1 < g.height) {
        full_input_grad_block<T, CB, 2>(grad, layout, g, wf, ih, iw0, dx);
      } else {
        full_input_grad_block<T, CB, 1>(grad, layout, g, wf, ih, iw0, dx);
      }
    }
  }
}

// Copies sample x ([Cin, H, W]) into the middle of `image`
// ([Cin, H + 2*pad_h, W + 2*pad_w], zeroed once per chunk, as pad_image's).
template <class T>
void pad_channels(const T* x, const VectorLayout& layout, const Conv2dGeometry& g, T* image) {
  for (Index c = 0; c < g.in_channels; ++c) {
    T* plane = image + c * layout.height * layout.width;
    for (Index ih = 0; ih < g.height; ++ih) {
      copy_row(x + (c * g.height + ih) * g.width, g.width,
               plane + (ih + g.window.pad_h) * layout.width + g.window.pad_w);
    }
  }
}

// y_t[p, co] for PB consecutive positions of one output row (origin: the
// padded input at the first one's window corner) and the CV * V channels of
// weight_t ([K, channels]) and bias from `co` on: each tap loads CV weight
// vectors once and adds each of the PB input values, broadcast, times them.
template <class T, int CV, int PB>
void vector_forward_block(const T* origin, const VectorLayout& layout, const Conv2dGeometry& g, const T* weight_t,
                          const T* bias, T* y_t) {
  using Block = DirectBlock<T>;
  constexpr Index V = direct_block<T>;
  const Index KH = g.window.kernel_h, KW = g.window.kernel_w, plane = layout.height * layout.width;
  const Index stride = layout.channels;
  Block acc[PB][CV];
  for (int v = 0; v < CV; ++v) {
    const Block b = Eigen::Map<const Block>(bias + v * V);
    for (int i = 0; i < PB; ++i) acc[i][v] = b;
  }
  const T* w = weight_t;
  for (Index c = 0; c < g.in_channels; ++c) {
    for (Index ki = 0; ki < KH; ++ki) {
      const T* row = origin + c * plane + ki * layout.width;
      for (Index kj = 0; kj < KW; ++kj, w += stride) {
        Block weights[CV];
        for (int v = 0; v < CV; ++v) weights[v] = Eigen::Map<const Block>(w + v * V);
        for (int i = 0; i < PB; ++i) {
          const T in = row[kj + i];
          for (int v = 0; v < CV; ++v) acc[i][v] += in * weights[v];
        }
      }
    }
  }
  for (int i = 0; i < PB; ++i) {
    for (int v = 0; v < CV; ++v) Eigen::Map<Block>(y_t + i * stride + v * V) = acc[i][v];
  }
}

// dW_t[t, co] += sum over positions p of x[p + offset(t)] * dy_t[p, co] for
// TB taps t0 .. t0+TB (weight order c, ki, kj) and CV * V channels: each
// position loads CV dy vectors once and multiplies them by TB broadcast
// input values.
template <class T, int CV, int TB>
void vector_weight_grad_block(const T* image, const VectorLayout& layout, const Conv2dGeometry& g, const T* grad_t,
                              Index t0, T* dweight_t) {
  using Block = DirectBlock<T>;
  constexpr Index V = direct_block<T>;
  const Index KH = g.window.kernel_h, KW = g.window.kernel_w, plane = layout.height * layout.width;
  const Index stride = layout.channels;
  Index offset[TB];
  for (int i = 0; i < TB; ++i) {
    const Index t = t0 + i, c = t / (KH * KW), r = t % (KH * KW);
    offset[i] = c * plane + (r / KW) * layout.width + r % KW;
  }
  Block acc[TB][CV];
  for (int i = 0; i < TB; ++i) {
    for (int v = 0; v < CV; ++v) acc[i][v].setZero();
  }
  for (Index oh = 0; oh < g.out_h; ++oh) {
    const T* row = image + oh * layout.width;
    const T* d = grad_t + oh * g.out_w * stride;
    for (Index ow = 0; ow < g.out_w; ++ow, d += stride) {
      Block dv[CV];
      for (int v = 0; v < CV; ++v) dv[v] = Eigen::Map<const Block>(d + v * V);
      for (int i = 0; i < TB; ++i) {
        const T in = row[ow + offset[i]];
        for (int v = 0; v < CV; ++v) acc[i][v] += in * dv[v];
      }
    }
  }
  for (int i = 0; i < TB; ++i) {
    for (int v = 0; v < CV; ++v) Eigen::Map<Block>(dweight_t + (t0 + i) * stride + v * V) += acc[i][v];
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
  workspace.reserve(g, chunk_count(N), false, path);

  if (path == detail::ConvPath::vector) {
    const detail::VectorLayout layout = detail::vector_layout<T>(g);
    const Index C = layout.channels;
    // weight_t [K, C] = W^T with zero columns past Cout; bias_t likewise.
    MatrixMap<T> Wt = workspace.weight_t.matrix();
    Wt.leftCols(Cout) = MatrixMap<const T>(weight.data(), Cout, K).transpose();
    Wt.rightCols(C - Cout).setZero();
    workspace.bias_t.fill(T{});
    if (!bias.empty()) std::copy_n(bias.data(), Cout, workspace.bias_t.data());
    parallel_for(N, [&](Index begin, Index end, int chunk) {
      auto& scratch = workspace.chunks[static_cast<std::size_t>(chunk)];
      scratch.image.fill(T{});  // the padding; each sample overwrites the middle
      T* image = scratch.image.data();
      T* y_t = scratch.grad.data();  // [P, C]
      for (Index n = begin; n < end; ++n) {
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
    parallel_for(N, [&](Index begin, Index end, int chunk) {
      Tensor<T, 1>& padded = workspace.chunks[static_cast<std::size_t>(chunk)].image;
      padded.fill(T{});  // the padding; each sample overwrites the middle
      T* image = padded.data();
      for (Index n = begin; n < end; ++n) {
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
      if (relu) Y = Y.cwiseMax(T{0});
    }
  });
}

/// dy: [N, Cout, OH, OW] -> dx: [N, Cin, H, W] (skipped when dx is empty);
/// dweight [Cout, Cin, KH, KW] and dbias [Cout] (skipped when empty) ACCUMULATE.
/// With relu_output (the forward's y with `relu`, [N, Cout, OH, OW]), dy is
/// the gradient after the ReLU and is first masked to where y > 0 (exactly
/// ReLU's backward: y > 0 iff the convolution's output was), per sample in cache.
/// Each chunk of samples sums its own partial dW, db; the partials are added in
/// chunk order, so a given thread count gives the same bits every run.
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
  const int chunks = chunk_count(N);
  // The direct path has no input gradient of its own: a caller that wants dx
  // (not the first layer) takes the im2col path, whose col2im provides it.
  detail::ConvPath path = detail::conv_path(g);
  if (path == detail::ConvPath::direct && !dx.empty()) path = detail::ConvPath::lowered;
  const bool direct = path == detail::ConvPath::direct;
  workspace.reserve(g, chunks, true, path, relu);

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
  parallel_for(N, [&](Index begin, Index end, int chunk) {
    auto& scratch = workspace.chunks[static_cast<std::size_t>(chunk)];
    MatrixMap<T> dW = scratch.dweight.matrix();  // [Cout, K]; the vector path's is [K, C]
    dW.setZero();
    scratch.dbias.fill(T{});
    // Padded copies: zero borders once, each sample overwrites the middle.
    if (path != detail::ConvPath::lowered) {
      scratch.image.fill(T{});
      if (path == detail::ConvPath::direct) scratch.grad.fill(T{});
      if (path == detail::ConvPath::vector && !dx.empty()) scratch.full.fill(T{});
    }
    for (Index n = begin; n < end; ++n) {
      const T* dy_n = dy.data() + n * Cout * P;
      if (relu) {
        ArrayMap<T> masked(scratch.masked.data(), Cout * P);
        masked = (ArrayMap<const T>(relu_output.data() + n * Cout * P, Cout * P) > T{0})
                     .select(ArrayMap<const T>(dy_n, Cout * P), T{0});
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
        if (!dbias.empty()) scratch.dbias.vector() += dY.rowwise().sum();
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
                                                                           scratch.dweight.data() + co);
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
      if (!dbias.empty()) scratch.dbias.vector() += dY.rowwise().sum();  // sum over positions
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
  });
  MatrixMap<T> dW_total(dweight.data(), Cout, K);
  for (int c = 0; c < chunks; ++c) {
    const auto& scratch = workspace.chunks[static_cast<std::size_t>(c)];
    if (path == detail::ConvPath::vector) {
      dW_total += scratch.dweight.matrix().leftCols(Cout).transpose();
    } else {
      dW_total += scratch.dweight.matrix();
    }
    if (!dbias.empty()) dbias.vector() += scratch.dbias.vector();
  }
}

}  // namespace fovea
