#pragma once

/// @file
/// Depthwise convolution (groups == Cin: each filter sees one input
/// channel, filter co sees channel co / (Cout/Cin)), forward and backward side
/// by side. im2col + GEMM would run Cin GEMMs with K = KH*KW, each packing its
/// operands for a handful of multiply-adds. The forward reads each channel
/// from its phase planes (below), summing every tap of a block of outputs in
/// registers; the backward goes over the taps of a filter and, for each,
/// over the output plane it touches, reading the input in place. Any stride,
/// padding and dilation. Per sample; the caller (ops/conv2d.hpp) splits the
/// batch across threads.

#include <algorithm>
#include <array>

#include "fovea/core/parallel.hpp"
#include "fovea/detail/register_block.hpp"
#include "fovea/ops/clamp.hpp"
#include "fovea/ops/conv2d_geometry.hpp"
#include "fovea/ops/conv2d_workspace.hpp"
#include "fovea/ops/im2col.hpp"

namespace fovea::detail {

// Calls tap(ki, kj, oh, ih, run, offset_w) for each kernel tap and each
// output row whose input row ih lies inside the input: the output columns
// `run` read input columns ow * stride_w + offset_w.
template <class Tap>
void for_each_depthwise_row(const Conv2dGeometry& g, Tap&& tap) {
  const Window2d& w = g.window;
  for (Index ki = 0; ki < w.kernel_h; ++ki) {
    for (Index kj = 0; kj < w.kernel_w; ++kj) {
      const Index offset_w = kj * w.dilation_w - w.pad_left;
      const Run run = inside(g.width, g.out_w, w.stride_w, offset_w);
      for (Index oh = 0; oh < g.out_h; ++oh) {
        const Index ih = oh * w.stride_h - w.pad_top + ki * w.dilation_h;
        if (ih >= 0 && ih < g.height) tap(ki, kj, oh, ih, run, offset_w);
      }
    }
  }
}

// The forward reads each input channel from "phase planes": the zero-padded
// channel split by stride, plane (a, b) holding padded rows a, a + sh, ...
// and columns b, b + sw, ... (one plane, the padded channel itself, at
// stride 1). Every tap then reads one plane at a fixed offset from the
// output it feeds, so the outputs, laid out as rows of the planes' width,
// are one flat run: a tap is a shifted multiply-add over the whole run, in
// register blocks that sum all taps before storing, whatever the output
// width (a 7-wide row fills no vector by itself) or stride. The columns past
// OW in each row are computed and dropped.
struct DepthwiseLayout {
  Index phase_h, phase_w;  // rows and columns of one phase plane
  Index phases;            // stride_h * stride_w
  Index plane;             // values per phase plane, with zeros after it for the dropped columns' reads
  Index wide;              // out_h rows of phase_w, rounded up to whole register blocks
  // One thread's scratch: the phase planes of a channel, then its wide output.
  Index scratch() const { return phases * plane + wide; }
};
inline constexpr Index depthwise_block_vectors = 4;  // accumulators per register block
template <class T>
DepthwiseLayout depthwise_layout(const Conv2dGeometry& g) {
  const Window2d& w = g.window;
  const Index block = depthwise_block_vectors * direct_block<T>;
  const Index padded_h = g.height + w.pad_top + w.pad_bottom, padded_w = g.width + w.pad_left + w.pad_right;
  const Index phase_h = (padded_h + w.stride_h - 1) / w.stride_h, phase_w = (padded_w + w.stride_w - 1) / w.stride_w;
  const Index wide = (g.out_h * phase_w + block - 1) / block * block;
  // The last block reads up to `wide` past a tap's offset, which is at most
  // the plane's size less the last output row's start (phase_w * (out_h - 1)).
  const Index plane = std::max(phase_h * phase_w, wide + phase_h * phase_w - phase_w * (g.out_h - 1));
  return {phase_h, phase_w, w.stride_h * w.stride_w, plane, wide};
}

// Where each tap reads, relative to the start of a channel's phase planes.
inline void depthwise_tap_offsets(const Conv2dGeometry& g, const DepthwiseLayout& l, Index* offsets) {
  const Window2d& w = g.window;
  for (Index ki = 0; ki < w.kernel_h; ++ki) {
    for (Index kj = 0; kj < w.kernel_w; ++kj) {
      const Index rows = ki * w.dilation_h, cols = kj * w.dilation_w;
      const Index phase = (rows % w.stride_h) * w.stride_w + cols % w.stride_w;
      offsets[ki * w.kernel_w + kj] = phase * l.plane + rows / w.stride_h * l.phase_w + cols / w.stride_w;
    }
  }
}

// Input channel `plane` [H, W] into its phase planes; their zero borders are
// written once per call (depthwise_conv_forward), the middle here.
template <class T>
void depthwise_phases(const T* plane, const Conv2dGeometry& g, const DepthwiseLayout& l, T* phases) {
  const Window2d& w = g.window;
  for (Index ih = 0; ih < g.height; ++ih) {
    const Index r = ih + w.pad_top;
    T* rows = phases + (r % w.stride_h) * w.stride_w * l.plane + r / w.stride_h * l.phase_w;
    const T* in = plane + ih * g.width;
    if (w.stride_w == 1) {
      copy_row(in, g.width, rows + w.pad_left);
      continue;
    }
    // Phase b takes the columns iw with (iw + pad_left) % stride_w == b, one
    // after the other (a constant stride of 2, the common one, vectorises).
    const auto deal = [&](auto stride) {
      for (Index b = 0; b < stride; ++b) {
        const Index first = ((b - w.pad_left) % stride + stride) % stride;
        T* phase = rows + b * l.plane + (first + w.pad_left) / stride;
        const Index count = first < g.width ? (g.width - first + stride - 1) / stride : 0;
        for (Index i = 0; i < count; ++i) phase[i] = in[first + i * stride];
      }
    };
    if (w.stride_w == 2) {
      deal(std::integral_constant<Index, 2>{});
    } else {
      deal(w.stride_w);
    }
  }
}

// x_n: [Cin, H, W] -> y_n: [Cout, OH, OW] (bias: [Cout] or null), clamped
// by `clamp`. `threads` > 1 shares the output
// channels among that many threads. scratch(chunk) is chunk's buffer of
// layout.scratch() values; tap_offsets as depthwise_tap_offsets wrote them.
template <class T, class Scratch>
void depthwise_conv_forward(const T* x_n, const T* weight, const T* bias, const Conv2dGeometry& g,
                            const DepthwiseLayout& layout, const Index* tap_offsets, Scratch&& scratch,
                            OutputClamp<T> clamp, int threads, T* y_n) {
  using Block = DirectBlock<T>;
  constexpr Index V = direct_block<T>, B = depthwise_block_vectors;
  const Index multiplier = g.out_channels / g.in_channels, taps = g.window.kernel_h * g.window.kernel_w;
  const Index P = g.positions();
  const auto channels = [&, clamp](Index first, Index last, int chunk) {  // clamp by value: no store aliases it
    T* phases = scratch(chunk);
    T* wide = phases + layout.phases * layout.plane;
    std::fill_n(phases, layout.phases * layout.plane, T{});
    for (Index co = first; co < last; ++co) {
      if (co == first || co % multiplier == 0) {
        depthwise_phases(x_n + (co / multiplier) * g.height * g.width, g, layout, phases);
      }
      const T* filter = weight + co * taps;
      const Block start = Block::Constant(bias == nullptr ? T{} : bias[co]);
      for (Index p = 0; p < layout.wide; p += B * V) {
        Block acc[B];
        for (Index v = 0; v < B; ++v) acc[v] = start;
        for (Index t = 0; t < taps; ++t) {
          const T* in = phases + tap_offsets[t] + p;
          const T w = filter[t];
          for (Index v = 0; v < B; ++v) acc[v] += w * Eigen::Map<const Block>(in + v * V);
        }
        for (Index v = 0; v < B; ++v) {
          clamp.write(Eigen::Map<Block>(wide + p + v * V), acc[v]);
        }
      }
      T* out = y_n + co * P;
      for (Index oh = 0; oh < g.out_h; ++oh) copy_row(wide + oh * layout.phase_w, g.out_w, out + oh * g.out_w);
    }
  };
  parallel_for(g.out_channels, threads, channels);
}

// dy_n: [Cout, OH, OW] -> dweight [Cout, KH*KW] += each tap's correlation of
// dy with x; dx_n [Cin, H, W] written unless null.
template <class T>
void depthwise_conv_backward(const T* x_n, const T* weight, const T* dy_n, const Conv2dGeometry& g, T* dweight,
                             T* dx_n) {
  const Index multiplier = g.out_channels / g.in_channels, KW = g.window.kernel_w, sw = g.window.stride_w;
  const Index taps = g.window.kernel_h * KW, P = g.positions(), plane_size = g.height * g.width;
  if (dx_n != nullptr) std::fill_n(dx_n, g.in_channels * plane_size, T{});
  for (Index co = 0; co < g.out_channels; ++co) {
    const Index c = co / multiplier;
    const T* plane = x_n + c * plane_size;
    const T* filter = weight + co * taps;
    const T* grad = dy_n + co * P;
    T* dfilter = dweight + co * taps;
    for_each_depthwise_row(g, [&](Index ki, Index kj, Index oh, Index ih, Run run, Index offset_w) {
      const T* in = plane + ih * g.width + offset_w;
      const T* d = grad + oh * g.out_w;
      T sum{};
      for (Index ow = run.begin; ow < run.end; ++ow) sum += d[ow] * in[ow * sw];
      dfilter[ki * KW + kj] += sum;
      if (dx_n == nullptr) return;
      const T w = filter[ki * KW + kj];
      T* dx_row = dx_n + c * plane_size + ih * g.width + offset_w;
      for (Index ow = run.begin; ow < run.end; ++ow) dx_row[ow * sw] += w * d[ow];
    });
  }
}

}  // namespace fovea::detail
