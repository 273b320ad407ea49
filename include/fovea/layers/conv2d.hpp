#pragma once

/// @file
/// Conv2d: a 2-D convolution layer, a thin shell over ops/conv2d.hpp that owns
/// the weights [Cout, Cin/groups, KH, KW], the bias [Cout] and their gradients;
/// each execution context holds its own im2col workspace. Weights and bias
/// start uniform in +-1/sqrt(Cin/groups*KH*KW), drawn from Conv2dOptions::seed
/// (layers/default_init.hpp); nn/init.hpp's initialisers replace that start.
///
/// @code
/// Conv2d<float> conv({.in_channels = 1, .out_channels = 6, .kernel = 5, .padding = Padding::same});
/// @endcode

#include <cstdint>
#include <memory>
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

/// Padding per side as numbers (`2`, `{1, 2}`, `{top, bottom, left, right}`)
/// or as a Padding mode.
struct Conv2dPadding {
  Index top = 0;      ///< Zero rows added above; unused when `same`.
  Index bottom = 0;   ///< Zero rows added below; unused when `same`.
  Index left = 0;     ///< Zero columns added on the left; unused when `same`.
  Index right = 0;    ///< Zero columns added on the right; unused when `same`.
  bool same = false;  ///< Padding::same: the layer derives the padding from the kernel extent.
  /// The same padding on all four sides.
  constexpr Conv2dPadding(Index both)  // NOLINT(google-explicit-constructor)
      : top(both), bottom(both), left(both), right(both) {}
  /// `height` rows above and below, `width` columns left and right.
  constexpr Conv2dPadding(Index height, Index width) : top(height), bottom(height), left(width), right(width) {}
  /// Each side on its own, as in a framework's explicit padding (TensorFlow's "same" at stride 2 pads
  /// one more row below than above).
  constexpr Conv2dPadding(Index top_rows, Index bottom_rows, Index left_columns, Index right_columns)
      : top(top_rows), bottom(bottom_rows), left(left_columns), right(right_columns) {}
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
  /// Channel groups G: filter group g sees input channel group g only, and
  /// the weights are [Cout, Cin/G, KH, KW], as in PyTorch. Cin and Cout must
  /// be multiples of it; G = Cin is a depthwise convolution.
  Index groups = 1;
  bool bias = true;     ///< Whether the layer adds a bias [Cout].
  bool strict = false;  ///< Throw when the window does not tile the padded input exactly.
  /// Seeds the default start of weight and bias (layers/default_init.hpp).
  std::uint64_t seed = default_init_seed;
};

/// A 2-D convolution layer, x: [N, Cin, H, W] -> y: [N, Cout, OH, OW], computed
/// by ops/conv2d.hpp (im2col + GEMM, or a faster algorithm for the shape).
template <class T>
class Conv2d final : public Layer<T> {
 public:
  using Layer<T>::forward;
  using Layer<T>::backward;

  /// Throws value_error for a non-positive channel count, kernel, stride,
  /// dilation or group count, for channel counts that are not multiples of
  /// the groups, for negative padding, and for Padding::same with an even
  /// kernel extent.
  explicit Conv2d(const Conv2dOptions& options)
      : in_(options.in_channels),
        out_(options.out_channels),
        groups_(options.groups),
        bias_on_(options.bias),
        strict_(options.strict) {
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
    require(groups_ > 0, "groups must be positive, got " + std::to_string(groups_));
    require(in_ % groups_ == 0 && out_ % groups_ == 0, "in_channels " + std::to_string(in_) + " and out_channels " +
                                                           std::to_string(out_) + " must be multiples of groups " +
                                                           std::to_string(groups_));
    const Conv2dPadding& p = options.padding;
    window_ = {.kernel_h = options.kernel.h,
               .kernel_w = options.kernel.w,
               .stride_h = options.stride.h,
               .stride_w = options.stride.w,
               .pad_top = p.top,
               .pad_bottom = p.bottom,
               .pad_left = p.left,
               .pad_right = p.right,
               .dilation_h = options.dilation.h,
               .dilation_w = options.dilation.w};
    if (p.same) {
      // Symmetric padding keeps the size only when the extent is odd.
      require(window_.extent_h() % 2 == 1 && window_.extent_w() % 2 == 1,
              std::string("Padding::same needs an odd kernel extent, got ") +
                  pair({window_.extent_h(), window_.extent_w()}));
      window_.pad_top = window_.pad_bottom = (window_.extent_h() - 1) / 2;
      window_.pad_left = window_.pad_right = (window_.extent_w() - 1) / 2;
    }
    require(window_.pad_top >= 0 && window_.pad_bottom >= 0 && window_.pad_left >= 0 && window_.pad_right >= 0,
            std::string("padding must be non-negative, got ") + padding_text(window_));

    // "Conv2d(1->6, k5x5, s1, p2)": one number where both axes (or all four sides) agree.
    auto compact = [&](Index h, Index w) { return h == w ? std::to_string(h) : pair({h, w}); };
    const Window2d& w = window_;
    const bool uniform = w.pad_top == w.pad_bottom && w.pad_top == w.pad_left && w.pad_top == w.pad_right;
    name_ = std::string("Conv2d(") + std::to_string(in_) + "->" + std::to_string(out_) + ", k" + pair(options.kernel) +
            ", s" + compact(w.stride_h, w.stride_w) + ", p" + (uniform ? std::to_string(w.pad_top) : padding_text(w));
    if (window_.dilation_h != 1 || window_.dilation_w != 1) {
      name_ += std::string(", d") + compact(window_.dilation_h, window_.dilation_w);
    }
    if (groups_ != 1) name_ += ", g" + std::to_string(groups_);
    name_ += bias_on_ ? ")" : ", no bias)";

    weight_.resize({out_, in_ / groups_, window_.kernel_h, window_.kernel_w});
    weight_grad_.resize(weight_.shape());
    if (bias_on_) {
      bias_.resize({out_});
      bias_grad_.resize({out_});
    }
    initialize_default<T>(weight_.flatten(), bias_.flatten(), in_ / groups_ * window_.kernel_h * window_.kernel_w,
                          options.seed);
  }

  /// Rebuilds a layer from spec() (model files, registries): settings in, out,
  /// kh, kw, sh, sw, ph (top), pw (left), pb (bottom), pr (right), dh, dw,
  /// groups, bias, strict. Files written before asymmetric padding and groups
  /// have no pb, pr or groups: pb = ph, pr = pw and one group. Throws
  /// format_error for a spec of another type or a missing or malformed setting.
  static Conv2d from_spec(const LayerSpec& spec) {
    detail::require_spec_type(spec, "Conv2d");
    auto optional = [&](const std::string& key, Index otherwise) {
      for (const auto& [name, value] : spec.values) {
        if (name == key) return spec.get_index(key);
      }
      return otherwise;
    };
    // Read in the order spec() writes, so that a file missing several settings names the first.
    const Index in = spec.get_index("in"), out = spec.get_index("out");
    const Size2 kernel{spec.get_index("kh"), spec.get_index("kw")};
    const Size2 stride{spec.get_index("sh"), spec.get_index("sw")};
    const Index top = spec.get_index("ph"), left = spec.get_index("pw");
    const Index bottom = optional("pb", top), right = optional("pr", left);
    const Size2 dilation{spec.get_index("dh"), spec.get_index("dw")};
    const Index groups = optional("groups", 1);
    return Conv2d({.in_channels = in,
                   .out_channels = out,
                   .kernel = kernel,
                   .stride = stride,
                   .padding = {top, bottom, left, right},
                   .dilation = dilation,
                   .groups = groups,
                   .bias = spec.get("bias") != 0,
                   .strict = spec.get("strict") != 0});
  }
  /// The parameter values a layer built from `spec` holds, from the spec
  /// alone: a model file is checked against it before the layer is built.
  static double declared_values(const LayerSpec& spec) {
    const double out = static_cast<double>(spec.get_index("out"));
    const double groups = static_cast<double>(std::max<Index>(spec.get_index_or("groups", 1), 1));
    const double weights = out * static_cast<double>(spec.get_index("in")) / groups *
                           static_cast<double>(spec.get_index("kh")) * static_cast<double>(spec.get_index("kw"));
    return weights + (spec.get("bias") != 0 ? out : 0.0);
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
             {"ph", number(w.pad_top)},
             {"pw", number(w.pad_left)},
             {"pb", number(w.pad_bottom)},
             {"pr", number(w.pad_right)},
             {"dh", number(w.dilation_h)},
             {"dw", number(w.dilation_w)},
             {"groups", number(groups_)},
             {"bias", bias_on_ ? 1.0 : 0.0},
             {"strict", strict_ ? 1.0 : 0.0}}};
  }

  /// [Cin, H, W] -> [Cout, OH, OW]. Throws shape_error when the input does not
  /// have Cin channels or the window does not fit (with `strict`: tile) the padded input.
  SampleShape output_shape(const SampleShape& input) const override {
    if (input[0] != in_) {
      throw shape_error(name_ + ": input " + to_string(input) + ", expected " + std::to_string(in_) + " channel(s)");
    }
    const WindowFit fit = strict_ ? WindowFit::exact : WindowFit::floor;
    const std::string height = window_fit_problem(input[1], window_.rows(), fit);
    const std::string width = window_fit_problem(input[2], window_.cols(), fit);
    if (!height.empty()) throw shape_error(name_ + ": input " + to_string(input) + ", height: " + height);
    if (!width.empty()) throw shape_error(name_ + ": input " + to_string(input) + ", width: " + width);
    return {out_, window_.out_h(input[1]), window_.out_w(input[2])};
  }

  std::unique_ptr<LayerContext<T>> make_context() const override { return std::make_unique<Conv2dContext>(); }
  /// Any: Conv2d followed by a ReLU, ReLU6 or Clip runs as one pass, the
  /// activation applied to each sample's output while it is in cache.
  bool supports_epilogue(const Clamp& /*clamp*/) const override { return true; }

  /// x: [N, Cin, H, W] -> y: [N, Cout, OH, OW]; with context.epilogue, y =
  /// min(max(conv(x), low), high). With context.constant_weights, the
  /// context keeps the weights packed for the GEMM paths (conv2d_forward).
  void forward(TensorView<const T, 4> x, TensorView<T, 4> y, LayerContext<T>& context) const override {
    auto& own = this->template context_as<Conv2dContext>(context);
    own.record.record(name_, x.shape(), output_shape(sample_shape(x.shape())), y.shape());
    conv2d_forward<T>(x, weight_, bias_, {window_, groups_}, y, own.workspace, own.epilogue, own.constant_weights);
  }

  /// dy: [N, Cout, OH, OW] -> dx: [N, Cin, H, W]; weight and bias gradients
  /// accumulate into context.gradients. With context.epilogue, y and dy
  /// are after the ReLU and dy is first masked to y > 0.
  void backward(TensorView<const T, 4> x, TensorView<const T, 4> y, TensorView<const T, 4> dy, TensorView<T, 4> dx,
                LayerContext<T>& context) const override {
    auto& own = this->template context_as<Conv2dContext>(context);
    own.record.check_backward(name_, x.shape(), dy.shape(), dx.shape());
    const TensorView<T, 4> dweight = weight_gradient(own);
    const TensorView<T, 1> dbias = bias_on_ && !own.gradients.empty() ? own.gradients[1] : TensorView<T, 1>();
    conv2d_backward<T>(x, weight_, dy, {window_, groups_}, dx, dweight, dbias, own.workspace,
                       own.epilogue ? y : TensorView<const T, 4>(), own.epilogue.value_or(Clamp::relu()));
  }

  std::vector<Parameter<T>> params() override {
    std::vector<Parameter<T>> list;
    list.push_back({"weight",
                    {out_, in_ / groups_, window_.kernel_h, window_.kernel_w},
                    weight_.flatten(),
                    weight_grad_.flatten()});
    if (bias_on_) list.push_back({"bias", {out_}, bias_.flatten(), bias_grad_.flatten()});
    return list;
  }

  double flops_per_sample(const SampleShape& input) const override {
    const SampleShape out = output_shape(input);
    return 2.0 * static_cast<double>(shape_size(out)) *
           static_cast<double>(in_ / groups_ * window_.kernel_h * window_.kernel_w);
  }

  Index in_channels() const { return in_; }    ///< Cin.
  Index out_channels() const { return out_; }  ///< Cout.
  Index groups() const { return groups_; }     ///< G, the channel groups.
  bool has_bias() const { return bias_on_; }   ///< Whether the layer adds a bias.
  /// Kernel, stride, padding (resolved when Padding::same was asked for) and dilation.
  const Window2d& window() const { return window_; }
  TensorView<T, 4> weight() { return weight_; }            ///< The weights [Cout, Cin/G, KH, KW], writable.
  TensorView<T, 1> bias() { return bias_; }                ///< The bias [Cout], writable; empty without bias.
  TensorView<T, 4> weight_grad() { return weight_grad_; }  ///< Accumulated weight gradient [Cout, Cin/G, KH, KW].
  TensorView<T, 1> bias_grad() { return bias_grad_; }      ///< Accumulated bias gradient [Cout]; empty without bias.

 private:
  // What one execution writes: the forward's shapes and the convolution's
  // scratch (im2col columns, per-thread buffers, partial gradients).
  struct Conv2dContext : LayerContext<T> {
    Conv2dWorkspace<T> workspace;
    // The weight gradient when the caller wants none (empty gradients): the
    // convolution computes it with dx, and it lands here unused.
    Tensor<T, 4> unused_weight_grad;
  };

  // Where backward accumulates the weight gradient: context.gradients[0] seen
  // as [Cout, Cin/G, KH, KW] (and [1] is the bias's), or scratch when the
  // caller asked for no parameter gradients.
  TensorView<T, 4> weight_gradient(Conv2dContext& context) const {
    if (!this->wants_gradients(context, bias_on_ ? 2 : 1)) {
      context.unused_weight_grad.resize(weight_.shape());  // keeps its storage: no allocation once sized
      return context.unused_weight_grad;
    }
    return context.gradients[0].reshape(weight_.shape());
  }

  // "1x2" (rows x columns, the same on opposite sides) or "(t1, b2, l0, r1)".
  static std::string padding_text(const Window2d& w) {
    if (w.pad_top == w.pad_bottom && w.pad_left == w.pad_right) {
      return std::to_string(w.pad_top) + "x" + std::to_string(w.pad_left);
    }
    return "(t" + std::to_string(w.pad_top) + ", b" + std::to_string(w.pad_bottom) + ", l" +
           std::to_string(w.pad_left) + ", r" + std::to_string(w.pad_right) + ")";
  }

  Index in_;
  Index out_;
  Index groups_;
  bool bias_on_;
  bool strict_;
  Window2d window_;
  std::string name_;  // describe(), built once: forward must not allocate
  Tensor<T, 4> weight_;
  Tensor<T, 4> weight_grad_;
  Tensor<T, 1> bias_;  // [Cout], or empty when bias is off
  Tensor<T, 1> bias_grad_;
};

}  // namespace fovea
