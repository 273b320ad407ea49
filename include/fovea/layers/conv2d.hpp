#pragma once

/// @file
/// Conv2d: a 2-D convolution layer, a thin shell over ops/conv2d.hpp that owns
/// the weights [Cout, Cin, KH, KW], the bias [Cout], their gradients and the
/// im2col workspace. Weights and bias start uniform in +-1/sqrt(Cin*KH*KW),
/// drawn from Conv2dOptions::seed (layers/default_init.hpp); nn/init.hpp's
/// initialisers replace that start.
///
/// @code
/// Conv2d<float> conv({.in_channels = 1, .out_channels = 6, .kernel = 5, .padding = Padding::same});
/// @endcode

#include <cstdint>
#include <string>
#include <vector>

#include "fovea/detail/layer_spec.hpp"
#include "fovea/layers/default_init.hpp"
#include "fovea/layers/layer.hpp"
#include "fovea/ops/conv2d.hpp"

namespace fovea {

/// `same`: output size = input size at stride 1 (ceil(I/S) at stride S), for
/// odd kernel extents. `valid`: no padding.
enum class Padding {
  same,  ///< Pad (extent - 1) / 2 on each side; the kernel extent must be odd.
  valid  ///< No padding: the window stays inside the input.
};

/// Padding per side as numbers (`2`, `{1, 2}`) or as a Padding mode.
struct Conv2dPadding {
  Size2 size;         ///< Zero rows (h) and columns (w) added on each side; unused when `same`.
  bool same = false;  ///< Padding::same: the layer derives the padding from the kernel extent.
  /// The same padding on all four sides.
  constexpr Conv2dPadding(Index both) : size(both) {}  // NOLINT(google-explicit-constructor)
  /// `height` rows above and below, `width` columns left and right.
  constexpr Conv2dPadding(Index height, Index width) : size(height, width) {}
  /// A mode: Padding::same, or Padding::valid (no padding).
  constexpr Conv2dPadding(Padding mode) : same(mode == Padding::same) {}  // NOLINT(google-explicit-constructor)
};

/// The settings of a Conv2d, meant for designated initializers:
/// `{.in_channels = 1, .out_channels = 6, .kernel = 5}`.
struct Conv2dOptions {
  Index in_channels = 0;   ///< Cin, the input's channel count; must be positive.
  Index out_channels = 0;  ///< Cout, the number of filters; must be positive.
  /// KH x KW (one number for a square kernel); required (no default: GCC flags
  /// a designated initializer that leaves it out).
  Size2 kernel;
  Size2 stride = 1;           ///< Step of the window, per axis; must be positive.
  Conv2dPadding padding = 0;  ///< Zero padding per side, or Padding::same.
  Size2 dilation = 1;         ///< Spacing of the kernel taps, per axis; 1 is a plain convolution.
  bool bias = true;           ///< Whether the layer adds a bias [Cout].
  bool strict = false;        ///< Throw when the window does not tile the padded input exactly.
  /// Seeds the default start of weight and bias (layers/default_init.hpp).
  std::uint64_t seed = default_init_seed;
};

/// A 2-D convolution layer, x: [N, Cin, H, W] -> y: [N, Cout, OH, OW], computed
/// as im2col then GEMM by ops/conv2d.hpp.
template <class T>
class Conv2d final : public Layer<T>, public FusesReLU<T> {
 public:
  /// Throws value_error for a non-positive channel count, kernel, stride or
  /// dilation, for negative padding, and for Padding::same with an even kernel extent.
  explicit Conv2d(const Conv2dOptions& options)
      : in_(options.in_channels), out_(options.out_channels), bias_on_(options.bias), strict_(options.strict) {
    auto pair = [](Size2 s) { return std::to_string(s.h) + "x" + std::to_string(s.w); };
    auto require = [](bool ok, const std::string& what) {
      if (!ok) throw value_error(std::string("Conv2d: ") + what);
    };
    require(in_ > 0, std::string("in_channels must be positive, got ") + std::to_string(in_));
    require(out_ > 0, std::string("out_channels must be positive, got ") + std::to_string(out_));
    require(options.kernel.h > 0 && options.kernel.w > 0,
            std::string("kernel must be positive, got ") + pair(options.kernel));
    require(options.stride.h > 0 && options.stride.w > 0,
            std::string("stride must be positive, got ") + pair(options.stride));
    require(options.dilation.h > 0 && options.dilation.w > 0,
            std::string("dilation must be positive, got ") + pair(options.dilation));
    window_ = {.kernel_h = options.kernel.h,
               .kernel_w = options.kernel.w,
               .stride_h = options.stride.h,
               .stride_w = options.stride.w,
               .pad_h = options.padding.size.h,
               .pad_w = options.padding.size.w,
               .dilation_h = options.dilation.h,
               .dilation_w = options.dilation.w};
    if (options.padding.same) {
      // Symmetric padding keeps the size only when the extent is odd.
      require(window_.extent_h() % 2 == 1 && window_.extent_w() % 2 == 1,
              std::string("Padding::same needs an odd kernel extent, got ") +
                  pair({window_.extent_h(), window_.extent_w()}));
      window_.pad_h = (window_.extent_h() - 1) / 2;
      window_.pad_w = (window_.extent_w() - 1) / 2;
    }
    require(window_.pad_h >= 0 && window_.pad_w >= 0,
            std::string("padding must be non-negative, got ") + pair({window_.pad_h, window_.pad_w}));

    // "Conv2d(1->6, k5x5, s1, p2)": one number where both axes agree.
    auto compact = [&](Index h, Index w) { return h == w ? std::to_string(h) : pair({h, w}); };
    name_ = std::string("Conv2d(") + std::to_string(in_) + "->" + std::to_string(out_) + ", k" + pair(options.kernel) +
            ", s" + compact(window_.stride_h, window_.stride_w) + ", p" + compact(window_.pad_h, window_.pad_w);
    if (window_.dilation_h != 1 || window_.dilation_w != 1) {
      name_ += std::string(", d") + compact(window_.dilation_h, window_.dilation_w);
    }
    name_ += bias_on_ ? ")" : ", no bias)";

    weight_.resize({out_, in_, window_.kernel_h, window_.kernel_w});
    weight_grad_.resize(weight_.shape());
    if (bias_on_) {
      bias_.resize({out_});
      bias_grad_.resize({out_});
    }
    initialize_default<T>(weight_.flatten(), bias_.flatten(), in_ * window_.kernel_h * window_.kernel_w, options.seed);
  }

  /// Rebuilds a layer from spec() (model files, registries): settings in, out,
  /// kh, kw, sh, sw, ph, pw, dh, dw, bias, strict. Throws format_error for a
  /// spec of another type or a missing or malformed setting.
  static Conv2d from_spec(const LayerSpec& spec) {
    detail::require_spec_type(spec, "Conv2d");
    return Conv2d({.in_channels = spec.get_index("in"),
                   .out_channels = spec.get_index("out"),
                   .kernel = {spec.get_index("kh"), spec.get_index("kw")},
                   .stride = {spec.get_index("sh"), spec.get_index("sw")},
                   .padding = {spec.get_index("ph"), spec.get_index("pw")},
                   .dilation = {spec.get_index("dh"), spec.get_index("dw")},
                   .bias = spec.get("bias") != 0,
                   .strict = spec.get("strict") != 0});
  }

  std::string describe() const override { return name_; }

  LayerSpec spec() const override {
    auto number = [](Index v) { return static_cast<double>(v); };
    const Window2d& w = window_;
    return {"Conv2d",
            {{"in", number(in_)},
             {"out", number(out_)},
             {"kh", number(w.kernel_h)},
             {"kw", number(w.kernel_w)},
             {"sh", number(w.stride_h)},
             {"sw", number(w.stride_w)},
             {"ph", number(w.pad_h)},
             {"pw", number(w.pad_w)},
             {"dh", number(w.dilation_h)},
             {"dw", number(w.dilation_w)},
             {"bias", bias_on_ ? 1.0 : 0.0},
             {"strict", strict_ ? 1.0 : 0.0}}};
  }

  /// [Cin, H, W] -> [Cout, OH, OW]. Throws shape_error when the input does not
  /// have Cin channels or the window does not fit (with `strict`: tile) the padded input.
  SampleShape output_shape(const SampleShape& input) const override {
    if (input[0] != in_) {
      throw shape_error(name_ + ": input " + to_string(input) + ", expected " + std::to_string(in_) + " channel(s)");
    }
    const Window2d& w = window_;
    const std::string height =
        detail::conv_fit_problem(input[1], w.kernel_h, w.stride_h, w.pad_h, w.dilation_h, strict_);
    const std::string width =
        detail::conv_fit_problem(input[2], w.kernel_w, w.stride_w, w.pad_w, w.dilation_w, strict_);
    if (!height.empty()) throw shape_error(name_ + ": input " + to_string(input) + ", height: " + height);
    if (!width.empty()) throw shape_error(name_ + ": input " + to_string(input) + ", width: " + width);
    return {out_, w.out_h(input[1]), w.out_w(input[2])};
  }

  /// x: [N, Cin, H, W] -> y: [N, Cout, OH, OW]
  void forward(TensorView<const T, 4> x, TensorView<T, 4> y, bool /*training*/) override {
    record_.record(name_, x.shape(), output_shape(sample_shape(x.shape())), y.shape());
    conv2d_forward<T>(x, weight_, bias_, window_, y, workspace_);
  }

  /// dy: [N, Cout, OH, OW] -> dx: [N, Cin, H, W]; weight and bias gradients accumulate.
  void backward(TensorView<const T, 4> x, TensorView<const T, 4> /*y*/, TensorView<const T, 4> dy,
                TensorView<T, 4> dx) override {
    record_.check_backward(name_, x.shape(), dy.shape(), dx.shape());
    conv2d_backward<T>(x, weight_, dy, window_, dx, weight_grad_, bias_grad_, workspace_);
  }

  /// Conv2d followed by ReLU in one pass (Sequential fuses the pair):
  /// x: [N, Cin, H, W] -> y = max(conv(x), 0): [N, Cout, OH, OW].
  void forward_relu(TensorView<const T, 4> x, TensorView<T, 4> y) override {
    record_.record(name_, x.shape(), output_shape(sample_shape(x.shape())), y.shape());
    conv2d_forward<T>(x, weight_, bias_, window_, y, workspace_, true);
  }
  /// Backward of forward_relu: takes its y and dy after the ReLU ([N, Cout, OH, OW]),
  /// masks dy to y > 0, then as backward (dx written, weight and bias gradients accumulate).
  void backward_relu(TensorView<const T, 4> x, TensorView<const T, 4> y, TensorView<const T, 4> dy,
                     TensorView<T, 4> dx) override {
    record_.check_backward(name_, x.shape(), dy.shape(), dx.shape());
    conv2d_backward<T>(x, weight_, dy, window_, dx, weight_grad_, bias_grad_, workspace_, y);
  }

  std::vector<Parameter<T>> params() override {
    std::vector<Parameter<T>> list;
    list.push_back(
        {"weight", {out_, in_, window_.kernel_h, window_.kernel_w}, weight_.flatten(), weight_grad_.flatten()});
    if (bias_on_) list.push_back({"bias", {out_}, bias_.flatten(), bias_grad_.flatten()});
    return list;
  }

  double flops_per_sample(const SampleShape& input) const override {
    const SampleShape out = output_shape(input);
    return 2.0 * static_cast<double>(shape_size(out)) * static_cast<double>(in_ * window_.kernel_h * window_.kernel_w);
  }

  Index in_channels() const { return in_; }    ///< Cin.
  Index out_channels() const { return out_; }  ///< Cout.
  bool has_bias() const { return bias_on_; }   ///< Whether the layer adds a bias.
  /// Kernel, stride, padding (resolved when Padding::same was asked for) and dilation.
  const Window2d& window() const { return window_; }
  TensorView<T, 4> weight() { return weight_; }            ///< The weights [Cout, Cin, KH, KW], writable.
  TensorView<T, 1> bias() { return bias_; }                ///< The bias [Cout], writable; empty without bias.
  TensorView<T, 4> weight_grad() { return weight_grad_; }  ///< Accumulated weight gradient [Cout, Cin, KH, KW].
  TensorView<T, 1> bias_grad() { return bias_grad_; }      ///< Accumulated bias gradient [Cout]; empty without bias.

 private:
  Index in_;
  Index out_;
  bool bias_on_;
  bool strict_;
  Window2d window_;
  std::string name_;  // describe(), built once: forward must not allocate
  Tensor<T, 4> weight_;
  Tensor<T, 4> weight_grad_;
  Tensor<T, 1> bias_;  // [Cout], or empty when bias is off
  Tensor<T, 1> bias_grad_;
  Conv2dWorkspace<T> workspace_;
  ForwardRecord record_;
};

}  // namespace fovea
