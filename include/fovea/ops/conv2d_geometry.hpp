#pragma once

/// @file
/// The arithmetic of a 2-D convolution's window, without the convolution:
/// conv_output_size along one axis (with the error message that shows why a
/// window does not fit) and Conv2dGeometry, the resolved shapes of one
/// sample's convolution that every path of ops/conv2d.hpp works from.

#include <string>

#include "fovea/core/error.hpp"
#include "fovea/core/shape.hpp"
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

}  // namespace fovea
