#pragma once

/// @file
/// VGG-11, -13, -16 and -19 (Simonyan and Zisserman, "Very Deep Convolutional
/// Networks for Large-Scale Image Recognition", 2015, configurations A, B, D
/// and E), as torchvision builds them: stacks of 3x3 convolutions (pad 1,
/// with bias) and ReLU, a 2x2 max pooling after each stack, then FC 4096,
/// ReLU, dropout, FC 4096, ReLU, dropout, FC classes. The _bn variants put a
/// BatchNorm (epsilon 1e-5) between each convolution and its ReLU, which the
/// paper did not have (it predates batch normalisation); torchvision keeps
/// the convolutions' biases there.
///
/// @code
/// auto net = fovea::models::vgg16<float>({.classes = 10});
/// @endcode
///
/// torchvision's AdaptiveAvgPool2d((7, 7)) before the classifier is the
/// identity at 224x224 (the default input); inputs whose features are k times
/// 7x7 get a k x k average pooling, and any other size throws value_error.
/// Initialisation as torchvision: convolutions Kaiming normal (fan_out), biases
/// 0; BatchNorm weight 1, bias 0; Linear weights normal(0, 0.01), biases 0.
/// Nodes are named as
/// torchvision's modules ("features.0", "classifier.0").

#include <string>
#include <vector>

#include "fovea/core/error.hpp"
#include "fovea/layers/activation.hpp"
#include "fovea/layers/conv2d.hpp"
#include "fovea/layers/dropout.hpp"
#include "fovea/layers/linear.hpp"
#include "fovea/layers/pool2d.hpp"
#include "fovea/models/common.hpp"
#include "fovea/nn/graph.hpp"

namespace fovea::models {

namespace detail {

// Channels of each convolution, 0 for a max pooling: torchvision's cfgs A, B, D, E.
inline std::vector<Index> vgg_layers(int depth) {
  switch (depth) {
    case 11:
      return {64, 0, 128, 0, 256, 256, 0, 512, 512, 0, 512, 512, 0};
    case 13:
      return {64, 64, 0, 128, 128, 0, 256, 256, 0, 512, 512, 0, 512, 512, 0};
    case 16:
      return {64, 64, 0, 128, 128, 0, 256, 256, 256, 0, 512, 512, 512, 0, 512, 512, 512, 0};
    case 19:
      return {64, 64, 0, 128, 128, 0, 256, 256, 256, 256, 0, 512, 512, 512, 512, 0, 512, 512, 512, 512, 0};
    default:
      throw value_error("models::vgg: depth " + std::to_string(depth) + ", expected 11, 13, 16 or 19");
  }
}

template <class T>
Graph<T> vgg(int depth, bool batch_norm, const ModelOptions& options) {
  const std::string model = "vgg" + std::to_string(depth) + (batch_norm ? "_bn" : "");
  const ResolvedOptions o = resolve(options, {}, model);
  Graph<T> net(o.input_shape());
  Node x = net.input();
  int index = 0;  // torchvision numbers every module of `features`, the ReLUs included
  auto name = [&] { return "features." + std::to_string(index++); };
  for (Index channels : vgg_layers(depth)) {
    if (channels == 0) {
      x = net.add(name(), Pool2d<T>({.kind = PoolKind::max, .window = 2, .stride = 2}), x);
      continue;
    }
    x = conv(net, name(), x, {.out_channels = channels, .kernel = 3, .padding = 1});
    if (batch_norm) x = models::batch_norm(net, name(), x);
    x = net.add(name(), ReLU<T>{}, x);
  }
  x = adaptive_avg_pool(net, model, "avgpool", x, 7, 7);
  x = net.add("classifier.0", Linear<T>(shape_size(net.shape(x)), 4096), x);
  x = net.add("classifier.1", ReLU<T>{}, x);
  x = net.add("classifier.2", Dropout<T>(0.5, o.seed + 1), x);
  x = net.add("classifier.3", Linear<T>(4096, 4096), x);
  x = net.add("classifier.4", ReLU<T>{}, x);
  x = net.add("classifier.5", Dropout<T>(0.5, o.seed + 2), x);
  net.add("classifier.6", Linear<T>(4096, o.classes), x);
  initialize_like_torchvision(net, {.linear = WeightInit::normal_0_01, .linear_bias = BiasInit::zeros}, o.seed);
  return net;
}

}  // namespace detail

/// VGG-11 (configuration A): 8 convolutions; 132,863,336 parameters for 1,000 classes.
template <class T>
Graph<T> vgg11(const ModelOptions& options = {}) {
  return detail::vgg<T>(11, false, options);
}
/// VGG-11 with batch normalisation; 132,868,840 parameters for 1,000 classes.
template <class T>
Graph<T> vgg11_bn(const ModelOptions& options = {}) {
  return detail::vgg<T>(11, true, options);
}
/// VGG-13 (configuration B): 10 convolutions; 133,047,848 parameters for 1,000 classes.
template <class T>
Graph<T> vgg13(const ModelOptions& options = {}) {
  return detail::vgg<T>(13, false, options);
}
/// VGG-13 with batch normalisation; 133,053,736 parameters for 1,000 classes.
template <class T>
Graph<T> vgg13_bn(const ModelOptions& options = {}) {
  return detail::vgg<T>(13, true, options);
}
/// VGG-16 (configuration D): 13 convolutions; 138,357,544 parameters for 1,000 classes.
template <class T>
Graph<T> vgg16(const ModelOptions& options = {}) {
  return detail::vgg<T>(16, false, options);
}
/// VGG-16 with batch normalisation; 138,365,992 parameters for 1,000 classes.
template <class T>
Graph<T> vgg16_bn(const ModelOptions& options = {}) {
  return detail::vgg<T>(16, true, options);
}
/// VGG-19 (configuration E): 16 convolutions; 143,667,240 parameters for 1,000 classes.
template <class T>
Graph<T> vgg19(const ModelOptions& options = {}) {
  return detail::vgg<T>(19, false, options);
}
/// VGG-19 with batch normalisation; 143,678,248 parameters for 1,000 classes.
template <class T>
Graph<T> vgg19_bn(const ModelOptions& options = {}) {
  return detail::vgg<T>(19, true, options);
}

}  // namespace fovea::models
