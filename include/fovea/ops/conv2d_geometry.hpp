#pragma once

/// @file
/// The shapes of a 2-D convolution, without the convolution: conv_output_size
/// along one axis (with the error message that shows why a window does not
/// fit) and Conv2dGeometry, the resolved shapes of one sample's convolution
/// that every algorithm of ops/conv2d.hpp works from. The window arithmetic
/// itself is ops/window.hpp's.

#include <string>
#include <utility>

#include "fovea/core/error.hpp"
#include "fovea/core/shape.hpp"
#include "fovea/ops/window.hpp"

namespace fovea {

/// Output size of a convolution along one axis, with the same padding on both sides:
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
  const WindowAxis axis{kernel, stride, pad, pad, dilation};
  if (const std::string why = window_fit_problem(input, axis, strict ? WindowFit::exact : WindowFit::floor);
      !why.empty()) {
    throw shape_error(std::string("conv_output_size: ") + why);
  }
  return window_output_size(input, axis);
}

/// Everything one sample's convolution needs to know, resolved. With
/// `groups` G, the input channels and the filters are split into G equal
/// groups and filter group g sees input group g only: the weights are
/// [Cout, Cin/G, KH, KW], as in PyTorch.
struct Conv2dGeometry {
  Index in_channels = 0;   ///< Cin.
  Index height = 0;        ///< H, input rows.
  Index width = 0;         ///< W, input columns.
  Index out_channels = 0;  ///< Cout.
  Index out_h = 0;         ///< OH, output rows.
  Index out_w = 0;         ///< OW, output columns.
  Window2d window;         ///< Kernel size, stride, padding and dilation.
  Index groups = 1;        ///< G: Cin and Cout are multiples of it.

  /// Input channels one filter sees: Cin/G.
  Index group_in_channels() const { return in_channels / groups; }
  /// Filters per group: Cout/G.
  Index group_out_channels() const { return out_channels / groups; }
  /// K: weights per filter, rows of a group's column matrix: Cin/G*KH*KW.
  Index patch_size() const { return group_in_channels() * window.kernel_h * window.kernel_w; }
  /// P: output positions per channel, columns of the column matrix.
  Index positions() const { return out_h * out_w; }
  /// 1x1, stride 1, no padding: the [Cin, H*W] input already is the column matrix.
  bool pointwise() const {
    return window.kernel_h == 1 && window.kernel_w == 1 && window.stride_h == 1 && window.stride_w == 1 &&
           window.unpadded();
  }
  /// One group per input channel: each filter sees one channel.
  bool depthwise() const { return groups > 1 && groups == in_channels; }
  /// The weight shape: [Cout, Cin/G, KH, KW].
  Shape<4> weight_shape() const { return {out_channels, group_in_channels(), window.kernel_h, window.kernel_w}; }
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
/// filters in `groups` groups. Throws shape_error naming the sizes when C or
/// `out_channels` is not a multiple of `groups` (value_error for groups below
/// 1), and conv_output_size's errors for a window that does not fit (with
/// WindowFit::exact: tile) the padded sample.
inline Conv2dGeometry conv2d_geometry(const Shape<3>& input, Index out_channels, const Window2d& window,
                                      Index groups = 1, WindowFit fit = WindowFit::floor) {
  if (groups < 1) throw value_error("conv2d_geometry: groups must be positive, got " + std::to_string(groups));
  if (input[0] % groups != 0 || out_channels % groups != 0) {
    throw shape_error("conv2d_geometry: " + std::to_string(groups) + " groups for input " + to_string(input) + " and " +
                      std::to_string(out_channels) + " filters: both channel counts must be multiples of it");
  }
  for (const auto& [size, axis] : {std::pair{input[1], window.rows()}, std::pair{input[2], window.cols()}}) {
    if (const std::string why = window_fit_problem(size, axis, fit); !why.empty()) {
      throw shape_error("conv_output_size: " + why);
    }
  }
  return {input[0],
          input[1],
          input[2],
          out_channels,
          window_output_size(input[1], window.rows()),
          window_output_size(input[2], window.cols()),
          window,
          groups};
}

}  // namespace fovea
