#pragma once

/// @file
/// What every builder of the model zoo shares: the options a caller may set
/// (ModelOptions), the way torchvision initialises each kind of layer
/// (TorchvisionInit), and two helpers that keep the builders short lists of
/// layers: conv() and batch_norm() read their channels from the graph, adaptive_avg_pool()
/// stands for torchvision's AdaptiveAvgPool2d where it is exact.
///
/// Nodes are named after torchvision's modules ("layer1.0.conv1",
/// "features.3"), so parameters carry torchvision's names
/// ("layer1.0.conv1.weight") and tests/models/torchvision_reference.py can
/// compare every parameter and every module's output shape.

#include <cmath>
#include <cstdint>
#include <string>

#include "fovea/core/error.hpp"
#include "fovea/core/random.hpp"
#include "fovea/layers/batch_norm.hpp"
#include "fovea/layers/conv2d.hpp"
#include "fovea/layers/linear.hpp"
#include "fovea/layers/pool2d.hpp"
#include "fovea/nn/graph.hpp"
#include "fovea/nn/init.hpp"

namespace fovea::models {

/// What a caller may choose about a zoo model; 0 means "the architecture's
/// own": 1,000 classes, 3 channels and 224x224 for the ImageNet models.
/// `auto net = fovea::models::resnet18<float>({.classes = 10, .in_channels = 3});`
struct ModelOptions {
  Index classes = 0;       ///< Outputs of the last layer (logits); 0: the architecture's own.
  Index in_channels = 0;   ///< Channels of the input image; 0: the architecture's own.
  Index height = 0;        ///< Input height; 0: the architecture's own. Some builders allow only some sizes.
  Index width = 0;         ///< Input width; 0: the architecture's own.
  std::uint64_t seed = 0;  ///< Seeds the weights and each Dropout's generator.
};

/// A model's own sizes, which fill in the zeros of ModelOptions.
struct ModelDefaults {
  Index classes = 1000;   ///< ImageNet's classes.
  Index in_channels = 3;  ///< RGB.
  Index height = 224;     ///< ImageNet's crop.
  Index width = 224;      ///< ImageNet's crop.
};

/// ModelOptions with every zero replaced by the model's own size.
struct ResolvedOptions {
  Index classes;       ///< Outputs of the last layer.
  Index in_channels;   ///< Input channels.
  Index height;        ///< Input height.
  Index width;         ///< Input width.
  std::uint64_t seed;  ///< As given.
  /// The input shape [in_channels, height, width].
  SampleShape input_shape() const { return {in_channels, height, width}; }
};

/// Fills the zeros of `options` from `defaults`; throws value_error, naming
/// the builder `model`, for a negative count or size.
inline ResolvedOptions resolve(const ModelOptions& options, const ModelDefaults& defaults, const std::string& model) {
  auto pick = [&](Index given, Index fallback, const char* what) {
    if (given < 0) {
      throw value_error("models::" + model + ": " + what + " must be positive (or 0 for " + std::to_string(fallback) +
                        "), got " + std::to_string(given));
    }
    return given == 0 ? fallback : given;
  };
  return {pick(options.classes, defaults.classes, "classes"),
          pick(options.in_channels, defaults.in_channels, "in_channels"),
          pick(options.height, defaults.height, "height"), pick(options.width, defaults.width, "width"), options.seed};
}

/// How torchvision draws the weights of a kind of layer (fans as in nn/init.hpp).
enum class WeightInit {
  pytorch_default,         ///< PyTorch's reset_parameters: uniform(+-1/sqrt(fan_in)).
  kaiming_normal_fan_out,  ///< normal(0, sqrt(2 / fan_out)): kaiming_normal_(mode="fan_out", nonlinearity="relu").
  kaiming_normal_fan_in,   ///< normal(0, sqrt(2 / fan_in)): kaiming_normal_() with its defaults.
  kaiming_uniform_fan_in,  ///< uniform(+-sqrt(6 / fan_in)): kaiming_uniform_() with its defaults.
  normal_0_01              ///< normal(0, 0.01).
};

/// How torchvision draws the biases of a kind of layer.
enum class BiasInit {
  zeros,           ///< constant_(bias, 0).
  pytorch_default  ///< PyTorch's reset_parameters: uniform(+-1/sqrt(fan_in)) of the weight's fan_in.
};

/// A model's initialisation, per kind of layer. BatchNorm layers start at
/// weight 1 and bias 0, as every torchvision model sets them.
struct TorchvisionInit {
  WeightInit conv = WeightInit::kaiming_normal_fan_out;  ///< Conv2d weights.
  BiasInit conv_bias = BiasInit::zeros;                  ///< Conv2d biases (when the layer has one).
  WeightInit linear = WeightInit::pytorch_default;       ///< Linear weights.
  BiasInit linear_bias = BiasInit::pytorch_default;      ///< Linear biases.
};

/// Draws the values of a weight by `rule`, its fans from its shape.
template <class T>
void draw_weight(const Parameter<T>& p, WeightInit rule, Rng& rng) {
  const Fans fans = fans_of(p.shape);
  const double fan_in = static_cast<double>(fans.in), fan_out = static_cast<double>(fans.out);
  auto normal = [&](double stddev) {
    for (T& v : p.value) v = static_cast<T>(rng.normal(0.0, stddev));
  };
  auto uniform = [&](double bound) {
    for (T& v : p.value) v = static_cast<T>(rng.uniform(-bound, bound));
  };
  switch (rule) {
    case WeightInit::pytorch_default:
      return uniform(1 / std::sqrt(fan_in));
    case WeightInit::kaiming_normal_fan_out:
      return normal(std::sqrt(2 / fan_out));
    case WeightInit::kaiming_normal_fan_in:
      return normal(std::sqrt(2 / fan_in));
    case WeightInit::kaiming_uniform_fan_in:
      return uniform(std::sqrt(6 / fan_in));
    case WeightInit::normal_0_01:
      return normal(0.01);
  }
}

/// Initialises every Conv2d and Linear of `net` by `rules`, node by node in
/// the order added, weight before bias, from one generator seeded with `seed`.
/// Other layers keep their own start (BatchNorm: weight 1, bias 0).
template <class T>
void initialize_like_torchvision(Graph<T>& net, const TorchvisionInit& rules, std::uint64_t seed) {
  Rng rng(seed);
  for (std::size_t i = 0; i < net.size(); ++i) {
    Layer<T>& layer = net.layer(i);
    const bool is_conv = dynamic_cast<Conv2d<T>*>(&layer) != nullptr;
    if (!is_conv && dynamic_cast<Linear<T>*>(&layer) == nullptr) continue;
    const auto params = layer.params();  // [weight, bias?]: views into the layer
    draw_weight(params[0], is_conv ? rules.conv : rules.linear, rng);
    if (params.size() < 2) continue;
    if ((is_conv ? rules.conv_bias : rules.linear_bias) == BiasInit::zeros) {
      params[1].value.fill(T{0});
    } else {
      const double bound = 1 / std::sqrt(static_cast<double>(fans_of(params[0].shape).in));
      for (T& v : params[1].value) v = static_cast<T>(rng.uniform(-bound, bound));
    }
  }
}

/// Adds node `name`, a Conv2d reading `x` with `options` whose in_channels is
/// taken from x's shape: the builders then list only what torchvision's
/// constructors list after the input channels.
template <class T>
Node conv(Graph<T>& net, const std::string& name, Node x, Conv2dOptions options) {
  options.in_channels = net.shape(x)[0];
  return net.add(name, Conv2d<T>(options), x);
}

/// Adds node `name`, a BatchNorm over the channels of `x` (momentum 0.1, as
/// PyTorch's default; `epsilon` 1e-5 unless the model says otherwise).
template <class T>
Node batch_norm(Graph<T>& net, const std::string& name, Node x, double epsilon = 1e-5) {
  return net.add(name, BatchNorm<T>({.channels = net.shape(x)[0], .epsilon = epsilon}), x);
}

/// torchvision's AdaptiveAvgPool2d((out_h, out_w)) where it is a plain
/// pooling: the input itself when its maps already are out_h x out_w (the
/// ImageNet case: AlexNet and VGG at 224x224), an average pooling of k x k
/// windows at stride k when they are k times larger (node `name`). Any other
/// size throws value_error naming `model`, the input and the sizes it accepts.
template <class T>
Node adaptive_avg_pool(Graph<T>& net, const std::string& model, const std::string& name, Node x, Index out_h,
                       Index out_w) {
  const SampleShape& in = net.shape(x);
  if (in[1] == out_h && in[2] == out_w) return x;
  if (in[1] % out_h == 0 && in[2] % out_w == 0 && in[1] / out_h == in[2] / out_w) {
    const Index k = in[1] / out_h;
    return net.add(name, Pool2d<T>({.kind = PoolKind::average, .window = k, .stride = k}), x);
  }
  throw value_error("models::" + model + ": the features before '" + name + "' are " + to_string(in) +
                    "; torchvision's adaptive pooling to " + std::to_string(out_h) + "x" + std::to_string(out_w) +
                    " is supported only where it is exact: maps of " + std::to_string(out_h) + "x" +
                    std::to_string(out_w) + " or k times that on both axes (224x224 input gives " +
                    std::to_string(out_h) + "x" + std::to_string(out_w) + ")");
}

}  // namespace fovea::models
