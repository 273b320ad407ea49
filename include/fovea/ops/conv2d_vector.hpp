#pragma once

/// @file
/// The "vector" convolution for a few input channels (2 to 64) at any
/// stride: LeNet's conv2 (6 -> 16, 5x5 on 14x14), forward, weight gradient
/// and input gradient side by side. Its GEMMs would be small (K = 150, 100 positions),
/// so im2col, col2im and the GEMM's packing of both cost as much as the
/// multiply-adds. These kernels put output channels in the vector lanes
/// instead of positions, so a 10-wide output row wastes no lanes, and
/// broadcast each input value straight from the zero-padded sample: an
/// implicit GEMM with no column matrix. The input gradient is a direct "full"
/// correlation of dy with the flipped kernels, without col2im, at stride 1,
/// and weight^T dy with col2im at larger strides. No dilation, one group. Per sample; the caller splits the batch
/// across threads.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include "fovea/core/eigen.hpp"
#include "fovea/core/gemm.hpp"
#include "fovea/core/parallel.hpp"
#include "fovea/detail/register_block.hpp"
#include "fovea/ops/clamp.hpp"
#include "fovea/ops/conv2d_geometry.hpp"
#include "fovea/ops/conv2d_workspace.hpp"
#include "fovea/ops/im2col.hpp"

namespace fovea::detail {

// Input channels up to which the vector kernels beat im2col + GEMM. im2col
// copies each input value KH*KW times for a GEMM that does only Cout
// multiply-adds per copied value; with few output channels (ResNet-8's 16 to
// 64) the copy costs as much as the product, and the vector kernels, which
// read the input in place, run 1.5-2x faster forward and backward. Beyond 64
// channels their [K, Cout] weights outgrow the L2 cache and the GEMM's
// blocking wins (docs/benchmarks.md).
inline constexpr Index vector_max_in_channels = 64;

// The zero-padded sample [Cin, H + pad_top + pad_bottom, W + pad_left +
// pad_right] and the channel-major rows: [positions, Cout rounded up to whole
// vectors], the lanes past Cout zero.
struct VectorLayout {
  Index height;
  Index width;
  Index channels;
};
template <class T>
VectorLayout vector_layout(const Conv2dGeometry& g) {
  constexpr Index V = direct_block<T>;
  const Window2d& w = g.window;
  return {g.height + w.pad_top + w.pad_bottom, g.width + w.pad_left + w.pad_right, (g.out_channels + V - 1) / V * V};
}

// The input gradient is the "full" correlation of dy with the flipped
// kernel, dx[c, ih, iw] = sum over co, a, b of
// dy[co, ih + a - qh, iw + b - qw] * W[co, c, KH-1-a, KW-1-b], with
// qh = KH-1-pad_top, qw = KW-1-pad_left: the direct loops of
// ops/conv2d_direct.hpp with the roles of x and dy exchanged. dy is copied
// into a zeroed [Cout, H + KH, W rounded up to blocks + KW - 1] buffer at
// (qh, qw) (a negative offset drops dy rows or columns no input position
// reaches; the spare last row lets a single input row run as a pair).
struct FullLayout {
  Index height;  // H + KH
  Index width;   // W rounded up to whole register blocks, + KW - 1
  Index top;     // qh
  Index left;    // qw
};
template <class T>
FullLayout full_layout(const Conv2dGeometry& g) {
  constexpr Index V = direct_block<T>;
  const Window2d& w = g.window;
  return {g.height + w.kernel_h, (g.width + V - 1) / V * V + w.kernel_w - 1, w.kernel_h - 1 - w.pad_top,
          w.kernel_w - 1 - w.pad_left};
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
// The forward of a 3x3 window keeps up to 8 positions beside two vectors
// (16 accumulators): a 7x7 map's row is then one block instead of 4 + 3,
// and each tap's two weight vectors serve 8 positions instead of 4. One
// vector keeps 12: 16 measured slower on 28x28 maps.
#if defined(__AVX512F__)
template <int CV>
inline constexpr int vector_registers = 12 / CV;  // of 32 registers
template <int CV>
inline constexpr int vector_3x3_positions = CV == 2 ? 8 : vector_registers<CV>;
#else
template <int CV>
inline constexpr int vector_registers = 6 / CV;  // a 16-float block is two of the 16 AVX registers
template <int CV>
inline constexpr int vector_3x3_positions = vector_registers<CV>;
#endif

// Copies one sample's dy ([Cout, OH, OW]) into the full-correlation buffer
// (zeroed once per block of samples: only the middle changes).
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
// filters are at wf ([CB, Cout*KH*KW]) and the two rows r (the second
// dropped past H). Kernel rows that read only the zero rows above or below
// dy (for both rows) are skipped.
template <class T, int CB>
void full_input_grad_block(const T* grad, const FullLayout& layout, const Conv2dGeometry& g, const T* wf, Index ih,
                           Index iw0, T* dx) {
  using Block = DirectBlock<T>;
  const Index KH = g.window.kernel_h, KW = g.window.kernel_w, Cout = g.out_channels;
  const Index taps = Cout * KH * KW, plane = layout.height * layout.width;
  constexpr int RB = 2;
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
  T* row = dx + ih * g.width + iw0;
  for (int c = 0; c < CB; ++c) store_block<T>(acc[0][c], count, row + c * g.height * g.width);
  if (ih + 1 == g.height) return;  // a single input row: the second ran over the spare zero row
  for (int c = 0; c < CB; ++c) store_block<T>(acc[1][c], count, row + g.width + c * g.height * g.width);
}

// The whole dx of CB input channels, two rows at a time (an odd last row
// overlaps the pair before it, or, alone, runs beside the spare zero row).
template <class T, int CB>
void full_input_grad_rows(const T* grad, const FullLayout& layout, const Conv2dGeometry& g, const T* wf, T* dx) {
  constexpr Index V = direct_block<T>;
  for (Index ih0 = 0; ih0 < g.height; ih0 += 2) {
    const Index ih = ih0 + 2 > g.height && g.height >= 2 ? g.height - 2 : ih0;
    for (Index iw0 = 0; iw0 < g.width; iw0 += V) full_input_grad_block<T, CB>(grad, layout, g, wf, ih, iw0, dx);
  }
}

// Copies sample x ([Cin, H, W]) into the middle of `image`
// (vector_layout's, its border zeroed once per block of samples).
template <class T>
void pad_channels(const T* x, const VectorLayout& layout, const Conv2dGeometry& g, T* image) {
  for (Index c = 0; c < g.in_channels; ++c) {
    T* plane = image + c * layout.height * layout.width;
    for (Index ih = 0; ih < g.height; ++ih) {
      copy_row(x + (c * g.height + ih) * g.width, g.width,
               plane + (ih + g.window.pad_top) * layout.width + g.window.pad_left);
    }
  }
}

// y_t[p, co] for PB consecutive positions of one output row (origin: the
// padded input at the first one's window corner; the next one's is
// stride_w further) and the CV * V channels of
// weight_t ([K, channels]) and bias from `co` on: each tap loads CV weight
// vectors once and adds each of the PB input values, broadcast, times them.
// Kernel: 3 for a 3x3 window, whose nine taps per channel the compiler then
// unrolls (loops that run three times cost more than their multiply-adds
// at these sizes; docs/benchmarks.md), 0 for any other size, read from g.
template <class T, int CV, int PB, int Kernel>
void vector_forward_block(const T* origin, const VectorLayout& layout, const Conv2dGeometry& g, const T* weight_t,
                          const T* bias, T* y_t) {
  using Block = DirectBlock<T>;
  constexpr Index V = direct_block<T>;
  const Index KH = Kernel != 0 ? Kernel : g.window.kernel_h, KW = Kernel != 0 ? Kernel : g.window.kernel_w;
  const Index sw = g.window.stride_w;
  const Index plane = layout.height * layout.width;
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
          const T in = row[kj + i * sw];
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
  const Index stride = layout.channels, sh = g.window.stride_h, sw = g.window.stride_w;
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
    const T* row = image + oh * sh * layout.width;
    const T* d = grad_t + oh * g.out_w * stride;
    for (Index ow = 0; ow < g.out_w; ++ow, d += stride) {
      Block dv[CV];
      for (int v = 0; v < CV; ++v) dv[v] = Eigen::Map<const Block>(d + v * V);
      for (int i = 0; i < TB; ++i) {
        const T in = row[ow * sw + offset[i]];
        for (int v = 0; v < CV; ++v) acc[i][v] += in * dv[v];
      }
    }
  }
  for (int i = 0; i < TB; ++i) {
    for (int v = 0; v < CV; ++v) Eigen::Map<Block>(dweight_t + (t0 + i) * stride + v * V) += acc[i][v];
  }
}

// Before the forward of a batch: weight_t [K, C] = W^T with zero columns
// past Cout, and bias_t likewise (bias: [Cout] or null). Under a promise
// that the weights stay constant (`constant` nonzero,
// Graph::set_constant_weights) they are checked once, not on every call.
template <class T>
void vector_conv_prepare_forward(const T* weight, const T* bias, const Conv2dGeometry& g, Conv2dWorkspace<T>& ws,
                                 std::uint64_t constant) {
  const Index Cout = g.out_channels, K = g.patch_size(), C = vector_layout<T>(g).channels;
  if (constant != 0 && ws.vector_constant == constant && ws.weight_t_source.size() == Cout * K + Cout) return;
  ws.vector_constant = constant;
  // At inference the weights stay the same from call to call, and comparing
  // them costs a fraction of transposing them again (a tenth of a batch-1
  // ResNet-8 forward). The source's size, Cout * K + Cout, also pins Cout and
  // K, so weight_t (which reserve() keeps while the shape stays) still fits.
  const Index count = Cout * K;
  const Tensor<T, 1>& source = ws.weight_t_source;
  const bool prepared = source.size() == count + Cout && kept_copy_matches(source, 0, weight, count) &&
                        (bias != nullptr ? kept_copy_matches(source, count, bias, Cout)
                                         : std::all_of(source.data() + count, source.data() + count + Cout,
                                                       [](T v) { return v == T{} && !std::signbit(v); }));
  if (prepared) return;
  ws.weight_t_source.resize({count + Cout});
  T* kept = ws.weight_t_source.data();
  std::copy_n(weight, count, kept);
  if (bias != nullptr) {
    std::copy_n(bias, Cout, kept + count);
  } else {
    std::fill_n(kept + count, Cout, T{});
  }
  MatrixMap<T> Wt = ws.weight_t.matrix();
  Wt.leftCols(Cout) = MatrixMap<const T>(weight, Cout, K).transpose();
  Wt.rightCols(C - Cout).setZero();
  ws.bias_t.fill(T{});
  if (bias != nullptr) std::copy_n(bias, Cout, ws.bias_t.data());
}

// y [Cout, P] positions [p_begin, p_end) = y_t [P, C] transposed (its first
// Cout columns), clamped by `clamp`. A tile of one vector of positions by
// one of channels is transposed in registers: read and written a vector at
// a time, where a value at a time cost a sixth of a batch-256 ResNet-8
// forward. Positions past the last whole vector go one by one. (Eigen's
// packet types carry vector attributes that a template argument drops,
// which GCC warns about; the packets here never leave registers.)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wignored-attributes"
template <class T>
using TilePacket = typename Eigen::internal::packet_traits<T>::type;
template <class T>
inline constexpr Index tile_size = Eigen::internal::unpacket_traits<TilePacket<T>>::size;

// A square tile of tile_size<T> rows, row i at from + i * stride, transposed
// in registers: packet j holds the tile's column j.
template <class T>
Eigen::internal::PacketBlock<TilePacket<T>, tile_size<T>> transposed_tile(const T* from, Index stride) {
  Eigen::internal::PacketBlock<TilePacket<T>, tile_size<T>> tile;
  for (Index i = 0; i < tile_size<T>; ++i) tile.packet[i] = Eigen::internal::ploadu<TilePacket<T>>(from + i * stride);
  Eigen::internal::ptranspose(tile);
  return tile;
}

template <class T>
void transpose_rows(const T* y_t, Index C, Index p_begin, Index p_end, Index Cout, Index P, OutputClamp<T> clamp,
                    T* y) {
  using Eigen::internal::pmax;
  using Eigen::internal::pmin;
  using Packet = TilePacket<T>;
  constexpr Index L = tile_size<T>;
  static_assert(direct_block<T> % L == 0, "C, whole blocks, must be whole packets");
  const T low = clamp.low, high = clamp.high;  // locals: no store to y aliases them
  const Packet lows = Eigen::internal::pset1<Packet>(low), highs = Eigen::internal::pset1<Packet>(high);
  Index p0 = p_begin;
  for (; p0 + L <= p_end; p0 += L) {
    for (Index c0 = 0; c0 < Cout; c0 += L) {  // y_t's rows hold C >= c0 + L values
      const auto tile = transposed_tile(y_t + p0 * C + c0, C);
      for (Index c = 0; c < std::min(L, Cout - c0); ++c) {
        Eigen::internal::pstoreu(y + (c0 + c) * P + p0, pmin(pmax(tile.packet[c], lows), highs));
      }
    }
  }
  for (Index c = 0; c < Cout; ++c) {
    for (Index p = p0; p < p_end; ++p) y[c * P + p] = std::min(std::max(y_t[p * C + c], low), high);
  }
}

// dy_t [P, C] = dy [Cout, P] transposed, its lanes past Cout zero: the
// inverse of transpose_rows, by tiles of one vector of channels by one of
// positions transposed in registers (Eigen's transpose expression went a
// value at a time: an eighth of a batch's backward of 16 -> 16 at 28x28).
template <class T>
void transpose_to_positions(const T* dy, Index Cout, Index P, Index C, T* dy_t) {
  constexpr Index L = tile_size<T>;
  const Index whole_channels = Cout / L * L;
  Index p0 = 0;
  for (; p0 + L <= P; p0 += L) {
    for (Index c0 = 0; c0 < whole_channels; c0 += L) {
      const auto tile = transposed_tile(dy + c0 * P + p0, P);
      for (Index i = 0; i < L; ++i) Eigen::internal::pstoreu(dy_t + (p0 + i) * C + c0, tile.packet[i]);
    }
  }
  // What the tiles left: channels past the last whole vector, then every
  // channel of the positions past the last whole tile; and the zero lanes.
  for (Index p = 0; p < P; ++p) {
    T* row = dy_t + p * C;
    for (Index c = p < p0 ? whole_channels : 0; c < Cout; ++c) row[c] = dy[c * P + p];
    std::fill(row + Cout, row + C, T{});
  }
}
#pragma GCC diagnostic pop

// x_n: [Cin, H, W] -> y_n: [Cout, OH, OW], through scratch.grad as y_t [P, C];
// y clamped by `clamp` in the same pass that turns y_t
// into y. scratch.image must hold vector_layout's padded sample with its
// border zero. `threads` > 1 shares the output rows among that many threads.
template <class T>
void vector_conv_forward(const T* x_n, const Conv2dGeometry& g, const Conv2dWorkspace<T>& ws,
                         typename Conv2dWorkspace<T>::ThreadScratch& scratch, OutputClamp<T> clamp, int threads,
                         T* y_n) {
  const VectorLayout layout = vector_layout<T>(g);
  const Index C = layout.channels, P = g.positions(), sh = g.window.stride_h, sw = g.window.stride_w;
  const bool three_by_three = g.window.kernel_h == 3 && g.window.kernel_w == 3;
  T* image = scratch.image.data();
  T* y_t = scratch.grad.data();  // [P, C]
  pad_channels(x_n, layout, g, image);
  const auto rows = [&](Index first, Index last) {  // output rows [first, last)
    for (Index oh = first; oh < last; ++oh) {
      for_channel_vectors<T>(C, [&](Index co, auto vectors) {
        constexpr int CV = decltype(vectors)::value;
        constexpr int most = vector_registers<CV>, most_3x3 = vector_3x3_positions<CV>;
        const auto block = [&](Index ow, auto positions, auto kernel) {
          vector_forward_block<T, CV, decltype(positions)::value, decltype(kernel)::value>(
              image + oh * sh * layout.width + ow * sw, layout, g, ws.weight_t.data() + co, ws.bias_t.data() + co,
              y_t + (oh * g.out_w + ow) * C + co);
        };
        // 3x3 rows at least half a block wide (all of ResNet-8's) take the
        // unrolled kernel, in block sizes from half to whole: half the
        // instances that every size would compile.
        if (three_by_three && g.out_w >= most_3x3 / 2) {
          for_even_blocks<most_3x3, most_3x3 / 2>(
              g.out_w, [&](Index ow, auto positions) { block(ow, positions, std::integral_constant<int, 3>{}); });
        } else {
          for_even_blocks<most>(
              g.out_w, [&](Index ow, auto positions) { block(ow, positions, std::integral_constant<int, 0>{}); });
        }
      });
    }
    transpose_rows(y_t, C, first * g.out_w, last * g.out_w, g.out_channels, P, clamp, y_n);
  };
  parallel_for(g.out_h, threads, [&](Index first, Index last, int /*chunk*/) { rows(first, last); });
}

// Before a backward with dx: weight_flipped[c, co, a, b] = W[co, c, KH-1-a, KW-1-b].
template <class T>
void vector_conv_prepare_backward(const T* weight, const Conv2dGeometry& g, Conv2dWorkspace<T>& ws) {
  const Index taps = g.window.kernel_h * g.window.kernel_w;
  T* wf = ws.weight_flipped.data();
  for (Index c = 0; c < g.in_channels; ++c) {
    for (Index co = 0; co < g.out_channels; ++co) {
      const T* filter = weight + (co * g.in_channels + c) * taps;
      for (Index t = 0; t < taps; ++t) *wf++ = filter[taps - 1 - t];
    }
  }
}

// Whether the input gradient runs as the full correlation (stride 1) or as
// weight^T dy and col2im: at larger strides the correlation would multiply
// the zeros between a strided dy's values (three in four at stride 2), and
// on maps at most half a register block wide (ResNet-8's 7x7) it would
// compute a whole block of columns for half a block of them.
template <class T>
bool vector_full_input_grad(const Conv2dGeometry& g) {
  constexpr Index V = direct_block<T>;
  return g.window.stride_h == 1 && g.window.stride_w == 1 && g.width > V / 2;
}

// dy_n: [Cout, OH, OW] -> dweight_t [K, C] += x_n read as columns x dy_n^T;
// dx_n [Cin, H, W] written unless null: at stride 1 from the flipped weights
// (vector_conv_prepare_backward first; scratch.full's border zero), else
// from weight [Cout, K] through scratch.dcols [K, P]. scratch.image must
// have its border zero.
template <class T>
void vector_conv_backward(const T* x_n, const T* weight, const T* dy_n, const Conv2dGeometry& g,
                          const Conv2dWorkspace<T>& ws, typename Conv2dWorkspace<T>::ThreadScratch& scratch,
                          T* dweight_t, T* dx_n) {
  const VectorLayout layout = vector_layout<T>(g);
  const Index C = layout.channels, P = g.positions(), K = g.patch_size(), Cout = g.out_channels;
  T* image = scratch.image.data();
  T* grad_t = scratch.grad.data();
  pad_channels(x_n, layout, g, image);
  transpose_to_positions(dy_n, Cout, P, C, grad_t);  // dy^T with zero lanes past Cout
  for_channel_vectors<T>(C, [&](Index co, auto vectors) {
    constexpr int CV = decltype(vectors)::value;
    for_even_blocks<vector_registers<CV>>(K, [&](Index t0, auto taps) {
      vector_weight_grad_block<T, CV, decltype(taps)::value>(image, layout, g, grad_t + co, t0, dweight_t + co);
    });
  });
  if (dx_n == nullptr) return;
  if (!vector_full_input_grad<T>(g)) {
    gemm(gemm_operand(weight, Cout, K).t(), gemm_operand(dy_n, Cout, P), gemm_result(scratch.dcols.data(), K, P),
         GemmUpdate::overwrite);  // [K, Cout] x [Cout, P]
    TensorView<T, 3> dx(dx_n, {g.in_channels, g.height, g.width});
    dx.fill(T{});  // col2im accumulates
    col2im<T>(scratch.dcols, g.window, dx);
    return;
  }
  const FullLayout full = full_layout<T>(g);
  T* padded_dy = scratch.full.data();
  pad_full(dy_n, full, g, padded_dy);
  const Index filter_taps = Cout * g.window.kernel_h * g.window.kernel_w;
  for_filter_blocks(g.in_channels, [&](Index c, auto block) {
    full_input_grad_rows<T, decltype(block)::value>(padded_dy, full, g, ws.weight_flipped.data() + c * filter_taps,
                                                    dx_n + c * g.height * g.width);
  });
}

}  // namespace fovea::detail
