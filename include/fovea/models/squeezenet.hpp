#pragma once

/// @file
/// SqueezeNet 1.1 (Iandola et al., "SqueezeNet: AlexNet-level accuracy with
/// 50x fewer parameters and <0.5MB model size", 2016; version 1.1 from the
/// authors' repository) as torchvision builds it.
///
/// @code
/// auto net = fovea::models::squeezenet1_1<float>({.classes = 10});
/// @endcode

#include <string>

#include "fovea/layers/activation.hpp"
#include "fovea/layers/concat.hpp"
#include "fovea/layers/conv2d.hpp"
#include "fovea/layers/dropout.hpp"
#include "fovea/layers/flatten.hpp"
#include "fovea/layers/global_pool.hpp"
#include "fovea/layers/pool2d.hpp"
#include "fovea/models/common.hpp"
#include "fovea/nn/graph.hpp"

namespace fovea::models {

/// A Fire module: squeeze 1x1 to `squeeze` -> ReLU, then 1x1 and 3x3 (pad 1)
/// expansions, each with its ReLU, joined along the channels as node `name`.
/// [C, H, W] -> [expand1x1 + expand3x3, H, W].
template <class T>
Node fire(Graph<T>& net, const std::string& name, Node x, Index squeeze, Index expand1x1, Index expand3x3) {
  x = conv(net, name + ".squeeze", x, {.out_channels = squeeze, .kernel = 1});
  x = net.add(name + ".squeeze_activation", ReLU<T>{}, x);
  Node one = conv(net, name + ".expand1x1", x, {.out_channels = expand1x1, .kernel = 1});
  one = net.add(name + ".expand1x1_activation", ReLU<T>{}, one);
  Node three = conv(net, name + ".expand3x3", x, {.out_channels = expand3x3, .kernel = 3, .padding = 1});
  three = net.add(name + ".expand3x3_activation", ReLU<T>{}, three);
  return net.add(name, Concat<T>{}, {one, three});
}

/// SqueezeNet 1.1: conv 3x3/2 (64) -> ReLU -> max-pool 3/2, Fire 16/64/64 x2,
/// max-pool 3/2, Fire 32/128/128 x2, max-pool 3/2, Fire 48/192/192 x2, Fire
/// 64/256/256 x2, then dropout 0.5, conv 1x1 to the classes, ReLU and global
/// average pooling (no FC layer). Max poolings with ceil_mode, as torchvision
/// (at 224x224 the maps are 111 -> 55 -> 27 -> 13). Version 1.1 moves the
/// first pooling earlier and uses a 3x3 first convolution of 64 filters
/// where 1.0 has 7x7 x 96: 2.4x less computation, the same accuracy.
/// 1,235,496 parameters for 1,000 classes. Initialisation as torchvision:
/// convolutions Kaiming uniform (fan_in), the last one normal(0, 0.01), biases
/// 0. Nodes are named as torchvision's modules ("features.3.expand3x3",
/// "classifier.1").
template <class T>
Graph<T> squeezenet1_1(const ModelOptions& options = {}) {
  const ResolvedOptions o = resolve(options, {}, "squeezenet1_1");
  auto max_pool = [] { return Pool2d<T>({.kind = PoolKind::max, .window = 3, .stride = 2, .ceil_mode = true}); };
  Graph<T> net(o.input_shape());
  Node x = conv(net, "features.0", net.input(), {.out_channels = 64, .kernel = 3, .stride = 2});
  x = net.add("features.1", ReLU<T>{}, x);
  x = net.add("features.2", max_pool(), x);
  x = fire(net, "features.3", x, 16, 64, 64);
  x = fire(net, "features.4", x, 16, 64, 64);
  x = net.add("features.5", max_pool(), x);
  x = fire(net, "features.6", x, 32, 128, 128);
  x = fire(net, "features.7", x, 32, 128, 128);
  x = net.add("features.8", max_pool(), x);
  x = fire(net, "features.9", x, 48, 192, 192);
  x = fire(net, "features.10", x, 48, 192, 192);
  x = fire(net, "features.11", x, 64, 256, 256);
  x = fire(net, "features.12", x, 64, 256, 256);
  x = net.add("classifier.0", Dropout<T>(0.5, o.seed + 1), x);
  x = conv(net, "classifier.1", x, {.out_channels = o.classes, .kernel = 1});
  x = net.add("classifier.2", ReLU<T>{}, x);
  x = net.add("classifier.3", GlobalPool2d<T>(PoolKind::average), x);
  net.add("flatten", Flatten<T>{}, x);
  initialize_like_torchvision(net, {.conv = WeightInit::kaiming_uniform_fan_in}, o.seed);
  // torchvision draws the last convolution apart: normal(0, 0.01).
  Rng rng(o.seed + 2);
  draw_weight(net.layer(net.node("classifier.1")).params()[0], WeightInit::normal_0_01, rng);
  return net;
}

}  // namespace fovea::models
