#pragma once

// The hand-written kernels behind ops/conv2d.hpp's two non-lowered paths,
// and how each path lays out its scratch: the direct convolution for one
// input channel (conv1 of a network on greyscale images), the "vector"
// implicit GEMM for 2-16 input channels with the output channels in the
// vector lanes (LeNet's conv2), and the full correlation that computes the
// vector path's input gradient without col2im. conv_path() picks the path.
// Implementation detail: callers use conv2d_forward / conv2d_backward.

#include <Eigen/Core>
#include <algorithm>
#include <cstring>
#include <type_traits>

#include "fovea/ops/conv2d_geometry.hpp"

namespace fovea::detail {

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

// One kernel row of KW taps into RB x CB register blocks: acc[r][c] +=
// weights[c * filter_stride + kj] * (the V values at row + r * width + kj),
// for every tap kj. Each weight is broadcast once for all RB rows. Shared by
// the direct convolution and the full correlation of the input gradient.
template <class T, int CB, int RB>
[[gnu::always_inline]] inline void accumulate_kernel_row(const T* row, Index width, const T* weights,
                                                         Index filter_stride, Index KW, DirectBlock<T> (&acc)[RB][CB]) {
  for (Index kj = 0; kj < KW; ++kj) {
    DirectBlock<T> in[RB];
    for (int r = 0; r < RB; ++r) in[r] = Eigen::Map<const DirectBlock<T>>(row + r * width + kj);
    for (int c = 0; c < CB; ++c) {
      const T weight = weights[c * filter_stride + kj];
      for (int r = 0; r < RB; ++r) acc[r][c] += weight * in[r];
    }
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
    accumulate_kernel_row<T, CB, RB>(image + (oh + ki) * layout.width + ow0, layout.width, w + ki * KW, taps, KW, acc);
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

// Cout in blocks of six filters (LeNet's conv1 is one block), the rest in one
// smaller block; each block size is its own instantiation so that its
// accumulators have a compile-time shape.
template <class Body>
void for_filter_blocks(Index filters, Body&& body) {
  for (Index f = 0; f < filters; f += 6) {
    with_count<6>(std::min<Index>(filters - f, 6), [&](auto block) { body(f, block); });
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
      accumulate_kernel_row<T, CB, RB>(grad + co * plane + (ih + a) * layout.width + iw0, layout.width,
                                       wf + (co * KH + a) * KW, taps, KW, acc);
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

}  // namespace fovea::detail
