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

namespace fovea {

/// A sliding window over one [C, H, W] sample: kernel size, stride, zero
/// padding (each side) and dilation, per axis.
struct Window2d {
  Index kernel_h = 1;    ///< Kernel rows (KH).
  Index kernel_w = 1;    ///< Kernel columns (KW).
  Index stride_h = 1;    ///< Step between output rows, in input rows.
  Index stride_w = 1;    ///< Step between output columns, in input columns.
  Index pad_h = 0;       ///< Zero rows added above and below.
  Index pad_w = 0;       ///< Zero columns added left and right.
  Index dilation_h = 1;  ///< Distance between kernel rows on the input (1: adjacent).
  Index dilation_w = 1;  ///< Distance between kernel columns on the input (1: adjacent).

  /// Span of the dilated kernel on the input: D*(F-1)+1. This one: rows.
  Index extent_h() const { return dilation_h * (kernel_h - 1) + 1; }
  /// Span of the dilated kernel on the input, in columns.
  Index extent_w() const { return dilation_w * (kernel_w - 1) + 1; }

  /// Every setting in its domain and the window inside the padded input
  /// of `height` x `width` (which must be positive).
  bool fits(Index height, Index width) const {
    return kernel_h > 0 && kernel_w > 0 && stride_h > 0 && stride_w > 0 && pad_h >= 0 && pad_w >= 0 && dilation_h > 0 &&
           dilation_w > 0 && height > 0 && width > 0 && extent_h() <= height + 2 * pad_h &&
           extent_w() <= width + 2 * pad_w;
  }

  /// Output grid, floor((I - F_eff + 2P)/S) + 1; meaningful once fits() holds.
  /// This one: output rows for an input of `height` rows.
  Index out_h(Index height) const { return (height + 2 * pad_h - extent_h()) / stride_h + 1; }
  /// Output columns for an input of `width` columns; meaningful once fits() holds.
  Index out_w(Index width) const { return (width + 2 * pad_w - extent_w()) / stride_w + 1; }

  /// cols for a [C, H, W] sample: [C*KH*KW, OH*OW].
  Shape<2> cols_shape(const Shape<3>& sample) const {
    return {sample[0] * kernel_h * kernel_w, out_h(sample[1]) * out_w(sample[2])};
  }

  /// Equal when every setting is.
  bool operator==(const Window2d&) const = default;
};

/// "k3x3, s1x1, p0x0, d1x1": kernel, stride, padding and dilation, height x width.
inline std::string to_string(const Window2d& w) {
  auto pair = [](Index h, Index v) { return std::to_string(h) + "x" + std::to_string(v); };
  return std::string("k") + pair(w.kernel_h, w.kernel_w) + ", s" + pair(w.stride_h, w.stride_w) + ", p" +
         pair(w.pad_h, w.pad_w) + ", d" + pair(w.dilation_h, w.dilation_w);
}

namespace detail {

inline void check_lowering(const char* operation, const Shape<3>& sample, const Window2d& window,
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
        const Index offset_w = kj * w.dilation_w - w.pad_w;
        const detail::Run run = detail::inside(W, OW, w.stride_w, offset_w);
        for (Index oh = 0; oh < OH; ++oh, out += OW) {
          const Index ih = oh * w.stride_h - w.pad_h + ki * w.dilation_h;
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
        const Index offset_w = kj * w.dilation_w - w.pad_w;
        const detail::Run run = detail::inside(W, OW, w.stride_w, offset_w);
        for (Index oh = 0; oh < OH; ++oh, in += OW) {
          const Index ih = oh * w.stride_h - w.pad_h + ki * w.dilation_h;
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
