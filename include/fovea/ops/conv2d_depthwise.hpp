#pragma once

/// @file
/// Depthwise convolution (groups == Cin: each filter sees one input
/// channel, filter co sees channel co / (Cout/Cin)), forward and backward side
/// by side. im2col + GEMM would run Cin GEMMs with K = KH*KW, each packing its
/// operands for a handful of multiply-adds; these loops go over the taps of a
/// filter and, for each, over the output plane it touches, reading the input
/// in place (contiguous rows at stride 1, which the compiler vectorises). Any
/// stride, padding and dilation. Per sample; the caller (ops/conv2d.hpp)
/// splits the batch across threads.

#include <algorithm>
#include <array>

#include "fovea/core/parallel.hpp"
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

// x_n: [Cin, H, W] -> y_n: [Cout, OH, OW] (bias: [Cout] or null); with
// OutputRelu::apply, y = max(conv, 0). `threads` > 1 shares the output
// channels among that many threads.
template <class T>
void depthwise_conv_forward(const T* x_n, const T* weight, const T* bias, const Conv2dGeometry& g, OutputRelu relu,
                            int threads, T* y_n) {
  const Window2d& win = g.window;
  const Index multiplier = g.out_channels / g.in_channels, KW = win.kernel_w, sw = win.stride_w;
  const Index taps = win.kernel_h * KW, P = g.positions();
  // The output columns each kernel column kj reaches inside the input, for
  // the first columns_kept kernel columns (no allocation: a call allocates
  // nothing); wider kernels work out the rest in the loop.
  constexpr Index columns_kept = 16;
  std::array<Run, columns_kept> runs{};
  const auto run_of = [&](Index kj) {
    const Index offset_w = kj * win.dilation_w - win.pad_left;
    return kj < columns_kept ? runs[static_cast<std::size_t>(kj)] : inside(g.width, g.out_w, sw, offset_w);
  };
  for (Index kj = 0; kj < std::min(KW, columns_kept); ++kj) {
    runs[static_cast<std::size_t>(kj)] = inside(g.width, g.out_w, sw, kj * win.dilation_w - win.pad_left);
  }
  const auto channels = [&](Index first, Index last) {
    for (Index co = first; co < last; ++co) {
      const T* plane = x_n + (co / multiplier) * g.height * g.width;
      const T* filter = weight + co * taps;
      T* out = y_n + co * P;
      std::fill_n(out, P, bias == nullptr ? T{} : bias[co]);
      // Output row by output row, every tap into the row while it is in L1
      // (a 112x112 plane is not): each output gets its taps in the order
      // for_each_depthwise_row gives them, so the bits are the same.
      for (Index oh = 0; oh < g.out_h; ++oh) {
        T* row = out + oh * g.out_w;
        for (Index ki = 0; ki < win.kernel_h; ++ki) {
          const Index ih = oh * win.stride_h - win.pad_top + ki * win.dilation_h;
          if (ih < 0 || ih >= g.height) continue;
          for (Index kj = 0; kj < KW; ++kj) {
            const Index offset_w = kj * win.dilation_w - win.pad_left;
            const Run run = run_of(kj);
            const T w = filter[ki * KW + kj];
            const T* in = plane + ih * g.width + offset_w;
            if (sw == 1) {
              for (Index ow = run.begin; ow < run.end; ++ow) row[ow] += w * in[ow];
            } else {
              for (Index ow = run.begin; ow < run.end; ++ow) row[ow] += w * in[ow * sw];
            }
          }
        }
      }
      if (relu == OutputRelu::apply) {
        for (Index p = 0; p < P; ++p) out[p] = std::max(out[p], T{0});
      }
    }
  };
  parallel_for(g.out_channels, threads, [&](Index first, Index last, int /*chunk*/) { channels(first, last); });
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
