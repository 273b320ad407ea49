#pragma once

/// @file
/// MobileNetV2 (Sandler, Howard, Zhu, Zhmoginov and Chen, "MobileNetV2:
/// Inverted Residuals and Linear Bottlenecks", 2018) as torchvision builds it
/// at width 1.0.
///
/// @code
/// auto net = fovea::models::mobilenet_v2<float>({.classes = 10});
/// @endcode

#include <string>

#include "fovea/layers/activation.hpp"
#include "fovea/layers/add.hpp"
#include "fovea/layers/conv2d.hpp"
#include "fovea/layers/dropout.hpp"
#include "fovea/layers/flatten.hpp"
#include "fovea/layers/global_pool.hpp"
#include "fovea/layers/linear.hpp"
#include "fovea/models/common.hpp"
#include "fovea/nn/graph.hpp"

namespace fovea::models {

/// torchvision's Conv2dNormActivation with ReLU6: conv k x k (pad (k-1)/2,
/// no bias, `groups`) -> BatchNorm -> ReLU6, nodes "<name>.0", "<name>.1", "<name>.2".
template <class T>
Node conv_bn_relu6(Graph<T>& net, const std::string& name, Node x, Index channels, Index kernel, Index stride = 1,
                   Index groups = 1) {
  x = conv(net, name + ".0", x,
           {.out_channels = channels,
            .kernel = kernel,
            .stride = stride,
            .padding = (kernel - 1) / 2,
            .groups = groups,
            .bias = false});
  x = batch_norm(net, name + ".1", x);
  return net.add(name + ".2", ReLU6<T>{}, x);
}

/// An inverted residual block (torchvision's InvertedResidual): expand 1x1 to
/// `expand` times the channels (left out when expand is 1) -> depthwise 3x3
/// (stride) -> project 1x1 to `channels` -> BatchNorm with no activation (the
/// linear bottleneck); the input is added when the block keeps the size and
/// the channels, in node `name`. [C, H, W] -> [channels, H/stride, W/stride].
template <class T>
Node inverted_residual(Graph<T>& net, const std::string& name, Node x, Index channels, Index stride, Index expand) {
  const Index in = net.shape(x)[0];
  const Index hidden = in * expand;
  int index = 0;  // torchvision numbers the parts of "<name>.conv"
  auto part = [&] { return name + ".conv." + std::to_string(index++); };
  Node y = x;
  if (expand != 1) y = conv_bn_relu6(net, part(), y, hidden, 1);
  y = conv_bn_relu6(net, part(), y, hidden, 3, stride, hidden);
  y = conv(net, part(), y, {.out_channels = channels, .kernel = 1, .bias = false});
  y = batch_norm(net, part(), y);
  if (stride == 1 && in == channels) return net.add(name, Add<T>{}, {x, y});
  return y;
}

/// MobileNetV2 at width 1.0: conv 3x3/2 (32) -> BN -> ReLU6, seventeen
/// inverted residual blocks (expansion t, channels c, repeats n, first
/// stride s: 1,16,1,1 / 6,24,2,2 / 6,32,3,2 / 6,64,4,2 / 6,96,3,1 / 6,160,3,2
/// / 6,320,1,1), conv 1x1 to 1280 -> BN -> ReLU6, global average pooling,
/// dropout 0.2, FC classes. 3,504,872 parameters for 1,000 classes. BatchNorm
/// epsilon 1e-5 (TensorFlow's original uses 0.001). Initialisation as
/// torchvision: convolutions Kaiming normal (fan_out), BatchNorm weight 1 and
/// bias 0, FC weights normal(0, 0.01) and bias 0. Nodes are named as
/// torchvision's modules ("features.2.conv.1.0": the depthwise convolution
/// of the second block).
template <class T>
Graph<T> mobilenet_v2(const ModelOptions& options = {}) {
  const ResolvedOptions o = resolve(options, {}, "mobilenet_v2");
  struct Stage {
    Index expand, channels;
    int repeats;
    Index stride;
  };
  const Stage stages[] = {{1, 16, 1, 1}, {6, 24, 2, 2},  {6, 32, 3, 2}, {6, 64, 4, 2},
                          {6, 96, 3, 1}, {6, 160, 3, 2}, {6, 320, 1, 1}};
  Graph<T> net(o.input_shape());
  Node x = conv_bn_relu6(net, "features.0", net.input(), 32, 3, 2);
  int block = 1;
  for (const Stage& s : stages) {
    for (int i = 0; i < s.repeats; ++i) {
      x = inverted_residual(net, "features." + std::to_string(block++), x, s.channels, i == 0 ? s.stride : 1, s.expand);
    }
  }
  x = conv_bn_relu6(net, "features." + std::to_string(block), x, 1280, 1);
  x = net.add("avgpool", GlobalPool2d<T>(PoolKind::average), x);
  x = net.add("flatten", Flatten<T>{}, x);
  x = net.add("classifier.0", Dropout<T>(0.2, o.seed + 1), x);
  net.add("classifier.1", Linear<T>(net.shape(x)[0], o.classes), x);
  initialize_like_torchvision(net, {.linear = WeightInit::normal_0_01, .linear_bias = BiasInit::zeros}, o.seed);
  return net;
}

}  // namespace fovea::models
