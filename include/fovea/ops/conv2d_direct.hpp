#pragma once

/// @file
/// Direct convolution for one input channel (a CNN's first layer on
/// greyscale images, LeNet's conv1), forward and weight gradient side by side.
/// im2col would copy every input value KH*KW times to feed a GEMM whose K is
/// only KH*KW, and the GEMM would pack that copy once more; these loops read a
/// zero-padded copy of the sample in place, CB filters x V positions x two
/// rows in registers. Stride 1, no dilation, one group. It has no input
/// gradient of its own: a caller that needs dx (not a first layer) takes the
/// im2col path (ops/conv2d.hpp's conv2d_algorithm). Per sample; the caller
/// splits the batch across threads.

#include <algorithm>

#include "fovea/detail/register_block.hpp"
#include "fovea/ops/conv2d_geometry.hpp"
#include "fovea/ops/conv2d_workspace.hpp"

namespace fovea::detail {

// The zero-padded copy of one sample the direct loops read. Rows are wide
// enough for the last register block to run past the output's right edge
// (its extra outputs are dropped), and there is one zero row more than the
// padding needs, so that a single output row can run as a pair; the inner
// loops test no bounds.
struct DirectLayout {
  Index out_w_padded;  // OW rounded up to a whole number of register blocks
  Index width;         // out_w_padded + KW - 1 >= W + pad_left + pad_right
  Index height;        // H + pad_top + pad_bottom + 1 = OH + KH
};
template <class T>
DirectLayout direct_layout(const Conv2dGeometry& g) {
  constexpr Index V = direct_block<T>;
  const Index padded = (g.out_w + V - 1) / V * V;
  return {padded, padded + g.window.kernel_w - 1, g.out_h + g.window.kernel_h};
}

// y[c, oh + r, ow0 .. ow0+V) for the CB filters at w ([CB, KH*KW]) and the
// two output rows r (the second dropped past OH), plus bias: each weight is
// broadcast once for both rows.
template <class T, int CB>
void direct_forward_block(const T* image, const DirectLayout& layout, const Conv2dGeometry& g, const T* w,
                          const T* bias, Index oh, Index ow0, T* y) {
  using Block = DirectBlock<T>;
  const Index KH = g.window.kernel_h, KW = g.window.kernel_w, taps = KH * KW, OW = g.out_w, P = g.positions();
  constexpr int RB = 2;
  Block acc[RB][CB];
  for (int r = 0; r < RB; ++r) {
    for (int c = 0; c < CB; ++c) acc[r][c].setConstant(bias == nullptr ? T{} : bias[c]);
  }
  for (Index ki = 0; ki < KH; ++ki) {
    accumulate_kernel_row<T, CB, RB>(image + (oh + ki) * layout.width + ow0, layout.width, w + ki * KW, taps, KW, acc);
  }
  const Index count = std::min(direct_block<T>, OW - ow0);
  for (int c = 0; c < CB; ++c) store_block<T>(acc[0][c], count, y + c * P + oh * OW + ow0);
  if (oh + 1 == g.out_h) return;  // a single output row: the second ran over the spare zero row
  for (int c = 0; c < CB; ++c) store_block<T>(acc[1][c], count, y + c * P + (oh + 1) * OW + ow0);
}

// The whole output of the CB filters at w, two rows at a time (an odd last
// row overlaps the pair before it, or, alone, runs beside the spare zero
// row). In a row at least one block wide, the last block ends at the row's
// end (overlapping the one before it). Overlaps are computed and stored
// twice, the same values: whole-vector stores, one instantiation per CB.
template <class T, int CB>
void direct_forward_rows(const T* image, const DirectLayout& layout, const Conv2dGeometry& g, const T* w, const T* bias,
                         T* y) {
  constexpr Index V = direct_block<T>;
  for (Index oh0 = 0; oh0 < g.out_h; oh0 += 2) {
    const Index oh = oh0 + 2 > g.out_h && g.out_h >= 2 ? g.out_h - 2 : oh0;
    for (Index ow0 = 0; ow0 < g.out_w; ow0 += V) {
      const Index start = ow0 + V > g.out_w && g.out_w >= V ? g.out_w - V : ow0;
      direct_forward_block<T, CB>(image, layout, g, w, bias, oh, start, y);
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

// Copies sample x ([H, W]) into the middle of `image`, whose border the
// caller zeroed once for all samples of a chunk (only the middle changes).
template <class T>
void pad_image(const T* x, const DirectLayout& layout, const Conv2dGeometry& g, T* image) {
  for (Index ih = 0; ih < g.height; ++ih) {
    copy_row(x + ih * g.width, g.width, image + (ih + g.window.pad_top) * layout.width + g.window.pad_left);
  }
}

// x_n: [1, H, W] -> y_n: [Cout, OH, OW] (bias: [Cout] or null). scratch.image
// must hold direct_layout's padded sample with its border zero.
template <class T>
void direct_conv_forward(const T* x_n, const T* weight, const T* bias, const Conv2dGeometry& g,
                         typename Conv2dWorkspace<T>::ThreadScratch& scratch, T* y_n) {
  const DirectLayout layout = direct_layout<T>(g);
  const Index K = g.patch_size(), P = g.positions();
  T* image = scratch.image.data();
  pad_image(x_n, layout, g, image);
  for_filter_blocks(g.out_channels, [&](Index f, auto block) {
    direct_forward_rows<T, decltype(block)::value>(image, layout, g, weight + f * K,
                                                   bias == nullptr ? nullptr : bias + f, y_n + f * P);
  });
}

// dweight [Cout, KH*KW] += dy_n [Cout, OH, OW] correlated with x_n [1, H, W].
// scratch.image and scratch.grad ([Cout, OH, out_w_padded]) must have their
// borders zero.
template <class T>
void direct_conv_weight_grad(const T* x_n, const T* dy_n, const Conv2dGeometry& g,
                             typename Conv2dWorkspace<T>::ThreadScratch& scratch, T* dweight) {
  const DirectLayout layout = direct_layout<T>(g);
  const Index K = g.patch_size();
  T* image = scratch.image.data();
  T* grad = scratch.grad.data();
  pad_image(x_n, layout, g, image);
  // dy rows copied to whole register blocks, zeros past OW, so the blocks
  // that run past the edge add nothing.
  for (Index row = 0; row < g.out_channels * g.out_h; ++row) {
    copy_row(dy_n + row * g.out_w, g.out_w, grad + row * layout.out_w_padded);
  }
  for_filter_blocks(g.out_channels, [&](Index f, auto block) {
    direct_weight_grad<T, decltype(block)::value>(image, grad + f * g.out_h * layout.out_w_padded, layout, g,
                                                  dweight + f * K);
  });
}

}  // namespace fovea::detail
