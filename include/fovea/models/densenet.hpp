#pragma once

/// @file
/// DenseNet-121 (Huang, Liu, van der Maaten and Weinberger, "Densely Connected
/// Convolutional Networks", 2017, the DenseNet-BC of its table 1) as
/// torchvision builds it.
///
/// @code
/// auto net = fovea::models::densenet121<float>({.classes = 10});
/// @endcode

#include <string>
#include <vector>

#include "fovea/layers/activation.hpp"
#include "fovea/layers/concat.hpp"
#include "fovea/layers/conv2d.hpp"
#include "fovea/layers/flatten.hpp"
#include "fovea/layers/global_pool.hpp"
#include "fovea/layers/linear.hpp"
#include "fovea/layers/pool2d.hpp"
#include "fovea/models/common.hpp"
#include "fovea/nn/graph.hpp"

namespace fovea::models {

/// A dense layer (torchvision's _DenseLayer, "BC" form): BN -> ReLU -> conv
/// 1x1 to 4 * growth -> BN -> ReLU -> conv 3x3 p1 to `growth`; returns the
/// `growth` new channels. [C, H, W] -> [growth, H, W].
template <class T>
Node dense_layer(Graph<T>& net, const std::string& name, Node x, Index growth) {
  Node y = batch_norm(net, name + ".norm1", x);
  y = net.add(name + ".relu1", ReLU<T>{}, y);
  y = conv(net, name + ".conv1", y, {.out_channels = 4 * growth, .kernel = 1, .bias = false});
  y = batch_norm(net, name + ".norm2", y);
  y = net.add(name + ".relu2", ReLU<T>{}, y);
  return conv(net, name + ".conv2", y, {.out_channels = growth, .kernel = 3, .padding = 1, .bias = false});
}

/// Dense block `name` of `layers` dense layers, each reading the block's input
/// and every earlier layer's new channels joined in that order (torchvision's
/// torch.cat of all earlier features). The joins are chained, each adding one
/// layer's channels to the previous join ("<name>.cat2", ...), which gives
/// the same tensors. [C, H, W] -> [C + layers * growth, H, W], node `name`.
template <class T>
Node dense_block(Graph<T>& net, const std::string& name, Node x, int layers, Index growth) {
  for (int i = 1; i <= layers; ++i) {
    const std::string layer = name + ".denselayer" + std::to_string(i);
    const Node fresh = dense_layer(net, layer, x, growth);
    x = net.add(i == layers ? name : name + ".cat" + std::to_string(i + 1), Concat<T>{}, {x, fresh});
  }
  return x;
}

/// A transition (torchvision's _Transition): BN -> ReLU -> conv 1x1 to half
/// the channels -> 2x2 average pooling, stride 2. [C, H, W] -> [C/2, H/2, W/2].
template <class T>
Node transition(Graph<T>& net, const std::string& name, Node x) {
  Node y = batch_norm(net, name + ".norm", x);
  y = net.add(name + ".relu", ReLU<T>{}, y);
  y = conv(net, name + ".conv", y, {.out_channels = net.shape(y)[0] / 2, .kernel = 1, .bias = false});
  return net.add(name + ".pool", Pool2d<T>({.kind = PoolKind::average, .window = 2, .stride = 2}), y);
}

/// DenseNet-121: stem conv 7x7/2 (64, no bias) -> BN -> ReLU -> max-pool 3/2
/// p1, dense blocks of 6, 12, 24 and 16 layers (growth 32, bottleneck 4 x 32)
/// with a transition halving the channels between them, BN, ReLU, global
/// average pooling, FC classes. 7,978,856 parameters for 1,000 classes. No
/// dropout (torchvision's drop_rate 0). Initialisation as torchvision:
/// convolutions Kaiming normal with fan_in (kaiming_normal_'s default, unlike
/// ResNet's fan_out), BatchNorm weight 1 and bias 0, FC weights PyTorch's
/// default uniform(+-1/sqrt(fan_in)) and biases 0. Nodes are named as
/// torchvision's modules ("features.denseblock1.denselayer1.conv1",
/// "features.transition1.pool", "classifier").
template <class T>
Graph<T> densenet121(const ModelOptions& options = {}) {
  const ResolvedOptions o = resolve(options, {}, "densenet121");
  Graph<T> net(o.input_shape());
  Node x = conv(net, "features.conv0", net.input(),
                {.out_channels = 64, .kernel = 7, .stride = 2, .padding = 3, .bias = false});
  x = batch_norm(net, "features.norm0", x);
  x = net.add("features.relu0", ReLU<T>{}, x);
  x = net.add("features.pool0", Pool2d<T>({.kind = PoolKind::max, .window = 3, .stride = 2, .padding = 1}), x);
  const std::vector<int> layers = {6, 12, 24, 16};
  for (std::size_t b = 0; b < layers.size(); ++b) {
    const std::string number = std::to_string(b + 1);
    x = dense_block(net, "features.denseblock" + number, x, layers[b], 32);
    if (b + 1 < layers.size()) x = transition(net, "features.transition" + number, x);
  }
  x = batch_norm(net, "features.norm5", x);
  x = net.add("relu", ReLU<T>{}, x);  // F.relu in torchvision's forward
  x = net.add("avgpool", GlobalPool2d<T>(PoolKind::average), x);
  x = net.add("flatten", Flatten<T>{}, x);
  net.add("classifier", Linear<T>(net.shape(x)[0], o.classes), x);
  initialize_like_torchvision(net, {.conv = WeightInit::kaiming_normal_fan_in, .linear_bias = BiasInit::zeros}, o.seed);
  return net;
}

}  // namespace fovea::models
