#pragma once

/// @file
/// im2col / col2im: the lowering that turns a convolution into one GEMM. Column
/// p of `cols` is the receptive field of output position p = oh*OW + ow,
/// flattened in weight order (c, ki, kj), so that
///
///     y[Cout, OH*OW] = W[Cout, Cin*KH*KW] * cols[Cin*KH*KW, OH*OW].
///
/// Zero padding appears as zeros in cols; the input itself is never padded.
/// col2im is the exact adjoint of im2col (it scatters and adds back), which is
/// what the input gradient of a convolution needs.

#include <algorithm>
#include <string>

#include "fovea/core/tensor_view.hpp"
#include "fovea/ops/window.hpp"

namespace fovea {

namespace detail {

[[gnu::cold]] inline void check_lowering(const char* operation, const Shape<3>& sample, const Window2d& window,
                                         const Shape<2>& cols) {
  if (!window.fits(sample[1], sample[2])) {
    throw shape_error(std::string(operation) + ": window (" + to_string(window) + ") does not fit input " +
                      to_string(sample));
  }
  if (cols != window.cols_shape(sample)) {
    throw shape_error(std::string(operation) + ": columns " + to_string(cols) + ", expected " +
                      to_string(window.cols_shape(sample)) + " for input " + to_string(sample) + " and window (" +
                      to_string(window) + ")");
  }
}

// The output positions o in [0, out) whose input index o*stride + offset
// lies in [0, size): always one contiguous run [begin, end), which lets the
// inner loops run without a bounds test per element.
struct Run {
  Index begin;
  Index end;
};
inline Run inside(Index size, Index out, Index stride, Index offset) {
  const Index begin = offset >= 0 ? 0 : (-offset + stride - 1) / stride;
  const Index end = size - offset <= 0 ? 0 : std::min(out, (size - 1 - offset) / stride + 1);
  return {std::min(begin, end), end};
}

}  // namespace detail

/// x: [C, H, W] -> cols: [C*KH*KW, OH*OW] (every element written).
/// Throws shape_error when the window does not fit x or cols has another shape.
template <class T>
void im2col(TensorView<const T, 3> x, const Window2d& w, TensorView<T, 2> cols) {
  detail::check_lowering("im2col", x.shape(), w, cols.shape());
  const Index C = x.dim(0), H = x.dim(1), W = x.dim(2);
  const Index OH = w.out_h(H), OW = w.out_w(W);
  T* out = cols.data();
  for (Index c = 0; c < C; ++c) {
    for (Index ki = 0; ki < w.kernel_h; ++ki) {
      for (Index kj = 0; kj < w.kernel_w; ++kj) {
        const Index offset_w = kj * w.dilation_w - w.pad_left;
        const detail::Run run = detail::inside(W, OW, w.stride_w, offset_w);
        for (Index oh = 0; oh < OH; ++oh, out += OW) {
          const Index ih = oh * w.stride_h - w.pad_top + ki * w.dilation_h;
          if (ih < 0 || ih >= H) {
            std::fill_n(out, OW, T{});
            continue;
          }
          const T* in = x.data() + (c * H + ih) * W;
          std::fill(out, out + run.begin, T{});
          if (w.stride_w == 1) {
            std::copy(in + run.begin + offset_w, in + run.end + offset_w, out + run.begin);
          } else {
            for (Index ow = run.begin; ow < run.end; ++ow) out[ow] = in[ow * w.stride_w + offset_w];
          }
          std::fill(out + run.end, out + OW, T{});
        }
      }
    }
  }
}

/// cols: [C*KH*KW, OH*OW] -> dx: [C, H, W], ACCUMULATED (+=): the adjoint of
/// im2col, so <im2col(x), c> = <x, col2im(c)> when dx starts at zero.
/// Throws shape_error when the window does not fit dx or cols has another shape.
template <class T>
void col2im(TensorView<const T, 2> cols, const Window2d& w, TensorView<T, 3> dx) {
  detail::check_lowering("col2im", dx.shape(), w, cols.shape());
  const Index C = dx.dim(0), H = dx.dim(1), W = dx.dim(2);
  const Index OH = w.out_h(H), OW = w.out_w(W);
  const T* in = cols.data();
  for (Index c = 0; c < C; ++c) {
    for (Index ki = 0; ki < w.kernel_h; ++ki) {
      for (Index kj = 0; kj < w.kernel_w; ++kj) {
        const Index offset_w = kj * w.dilation_w - w.pad_left;
        const detail::Run run = detail::inside(W, OW, w.stride_w, offset_w);
        for (Index oh = 0; oh < OH; ++oh, in += OW) {
          const Index ih = oh * w.stride_h - w.pad_top + ki * w.dilation_h;
          if (ih < 0 || ih >= H) continue;  // padding: its gradient goes nowhere
          T* out = dx.data() + (c * H + ih) * W;
          if (w.stride_w == 1) {
            // Contiguous: a loop the compiler vectorises (the strided one below it cannot).
            T* shifted = out + offset_w;
            for (Index ow = run.begin; ow < run.end; ++ow) shifted[ow] += in[ow];
          } else {
            for (Index ow = run.begin; ow < run.end; ++ow) out[ow * w.stride_w + offset_w] += in[ow];
          }
        }
      }
    }
  }
}

}  // namespace fovea
