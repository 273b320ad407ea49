#pragma once

/// @file
/// The arithmetic of a window sliding over an input, for every op that has
/// one and every shape check (im2col, the convolutions, Conv2d; a pooling
/// window is the same with dilation 1): the output size along one axis,
/// written once,
///
///     O = floor((I + pad_before + pad_after - E) / S) + 1,   E = D*(K-1) + 1,
///
/// the reason a window cannot slide over an input (for error messages), and
/// Window2d, a window over [H, W].

#include <sstream>
#include <string>

#include "fovea/core/shape.hpp"

namespace fovea {

/// One axis of a sliding window: kernel taps, step, zero padding before and
/// after the input, and the distance between taps.
struct WindowAxis {
  Index kernel = 1;      ///< Taps (K).
  Index stride = 1;      ///< Step between outputs, in input positions (S).
  Index pad_before = 0;  ///< Zeros added before the input (top or left).
  Index pad_after = 0;   ///< Zeros added after the input (bottom or right).
  Index dilation = 1;    ///< Distance between taps on the input (D; 1: adjacent).

  /// Span of the dilated kernel on the input: E = D*(K-1) + 1.
  Index extent() const { return dilation * (kernel - 1) + 1; }
};

/// Whether a window that does not tile the padded input exactly is legal.
enum class WindowFit {
  floor,  ///< The last positions that do not fill a window are dropped (as in PyTorch).
  exact   ///< The last window must end at the padded input's end.
};

/// The output size along one axis, floor((I + before + after - E)/S) + 1:
/// the one place fovea computes it. Meaningful when window_fit_problem() is
/// empty for the same arguments.
inline Index window_output_size(Index input, const WindowAxis& axis) {
  return (input + axis.pad_before + axis.pad_after - axis.extent()) / axis.stride + 1;
}

/// Why `axis` cannot slide over an input of `input` positions, as a phrase
/// for an error message ("" when it can): an input below 1, a setting out of
/// its domain (kernel, stride or dilation below 1, negative padding), a kernel
/// extent larger than the padded input, or, with WindowFit::exact, a window
/// that does not tile it: "(10 - 3 + 2*0)/2 + 1 = 4.5 is not an integer".
[[gnu::cold]] inline std::string window_fit_problem(Index input, const WindowAxis& axis,
                                                    WindowFit fit = WindowFit::floor) {
  const auto number = [](Index v) { return std::to_string(v); };
  if (axis.kernel < 1) return "kernel size must be positive, got " + number(axis.kernel);
  if (axis.stride < 1) return "stride must be positive, got " + number(axis.stride);
  if (axis.dilation < 1) return "dilation must be positive, got " + number(axis.dilation);
  if (axis.pad_before < 0 || axis.pad_after < 0) {
    return "padding must be non-negative, got " + number(axis.pad_before) + " and " + number(axis.pad_after);
  }
  if (input <= 0) return "input size must be positive, got " + number(input);
  // "2*p" for the usual symmetric padding, "a + b" otherwise (built only for a message).
  const auto padding = [&] {
    return axis.pad_before == axis.pad_after ? "2*" + number(axis.pad_before)
                                             : number(axis.pad_before) + " + " + number(axis.pad_after);
  };
  const Index extent = axis.extent(), padded = input + axis.pad_before + axis.pad_after;
  if (extent > padded) {
    std::string what = "kernel extent " + number(extent);
    if (axis.dilation != 1) what += " (" + number(axis.kernel) + " dilated by " + number(axis.dilation) + ")";
    return what + " is larger than the padded input " + number(input) + " + " + padding() + " = " + number(padded);
  }
  if (fit == WindowFit::exact && (padded - extent) % axis.stride != 0) {
    std::ostringstream out;
    out << "(" << input << " - " << extent << " + " << padding() << ")/" << axis.stride
        << " + 1 = " << static_cast<double>(padded - extent) / static_cast<double>(axis.stride) + 1.0
        << " is not an integer";
    return out.str();
  }
  return {};
}

/// A sliding window over one [C, H, W] sample: kernel size, stride, zero
/// padding on each of the four sides, and dilation.
struct Window2d {
  Index kernel_h = 1;    ///< Kernel rows (KH).
  Index kernel_w = 1;    ///< Kernel columns (KW).
  Index stride_h = 1;    ///< Step between output rows, in input rows.
  Index stride_w = 1;    ///< Step between output columns, in input columns.
  Index pad_top = 0;     ///< Zero rows added above.
  Index pad_bottom = 0;  ///< Zero rows added below.
  Index pad_left = 0;    ///< Zero columns added on the left.
  Index pad_right = 0;   ///< Zero columns added on the right.
  Index dilation_h = 1;  ///< Distance between kernel rows on the input (1: adjacent).
  Index dilation_w = 1;  ///< Distance between kernel columns on the input (1: adjacent).

  /// The window along the rows.
  WindowAxis rows() const { return {kernel_h, stride_h, pad_top, pad_bottom, dilation_h}; }
  /// The window along the columns.
  WindowAxis cols() const { return {kernel_w, stride_w, pad_left, pad_right, dilation_w}; }

  /// Span of the dilated kernel on the input: D*(F-1)+1. This one: rows.
  Index extent_h() const { return rows().extent(); }
  /// Span of the dilated kernel on the input, in columns.
  Index extent_w() const { return cols().extent(); }
  /// Whether every side has no padding.
  bool unpadded() const { return pad_top == 0 && pad_bottom == 0 && pad_left == 0 && pad_right == 0; }

  /// Every setting in its domain and the window inside the padded input
  /// of `height` x `width` (which must be positive).
  bool fits(Index height, Index width) const {
    return window_fit_problem(height, rows()).empty() && window_fit_problem(width, cols()).empty();
  }

  /// Output rows for an input of `height` rows (window_output_size); meaningful once fits() holds.
  Index out_h(Index height) const { return window_output_size(height, rows()); }
  /// Output columns for an input of `width` columns; meaningful once fits() holds.
  Index out_w(Index width) const { return window_output_size(width, cols()); }

  /// cols for a [C, H, W] sample: [C*KH*KW, OH*OW].
  Shape<2> cols_shape(const Shape<3>& sample) const {
    return {sample[0] * kernel_h * kernel_w, out_h(sample[1]) * out_w(sample[2])};
  }

  /// Equal when every setting is.
  bool operator==(const Window2d&) const = default;
};

/// "k3x3, s1x1, p0x0, d1x1": kernel, stride, padding and dilation, height x
/// width; padding that differs between opposite sides is written
/// "p(t1, b2, l0, r1)".
inline std::string to_string(const Window2d& w) {
  // A stream, not string concatenation: GCC 12 warns (falsely) about the
  // latter once it is inlined (GCC bug 105329).
  std::ostringstream out;
  out << "k" << w.kernel_h << "x" << w.kernel_w << ", s" << w.stride_h << "x" << w.stride_w << ", p";
  if (w.pad_top == w.pad_bottom && w.pad_left == w.pad_right) {
    out << w.pad_top << "x" << w.pad_left;
  } else {
    out << "(t" << w.pad_top << ", b" << w.pad_bottom << ", l" << w.pad_left << ", r" << w.pad_right << ")";
  }
  out << ", d" << w.dilation_h << "x" << w.dilation_w;
  return out.str();
}

}  // namespace fovea
