#pragma once

/// @file
/// GoogLeNet, Inception v1 (Szegedy et al., "Going Deeper with Convolutions",
/// 2015), as torchvision builds it without its two auxiliary classifiers.
///
/// @code
/// auto net = fovea::models::googlenet<float>({.classes = 10});
/// @endcode

#include <string>

#include "fovea/layers/activation.hpp"
#include "fovea/layers/concat.hpp"
#include "fovea/layers/conv2d.hpp"
#include "fovea/layers/dropout.hpp"
#include "fovea/layers/flatten.hpp"
#include "fovea/layers/global_pool.hpp"
#include "fovea/layers/linear.hpp"
#include "fovea/layers/pool2d.hpp"
#include "fovea/models/common.hpp"
#include "fovea/nn/graph.hpp"

namespace fovea::models {

/// torchvision's BasicConv2d: conv (no bias) -> BatchNorm (epsilon 0.001) ->
/// ReLU; the nodes "<name>.conv", "<name>.bn" and the ReLU, named `name`.
template <class T>
Node basic_conv(Graph<T>& net, const std::string& name, Node x, Index channels, Index kernel, Index stride = 1,
                Index padding = 0) {
  x = conv(net, name + ".conv", x,
           {.out_channels = channels, .kernel = kernel, .stride = stride, .padding = padding, .bias = false});
  x = batch_norm(net, name + ".bn", x, 0.001);
  return net.add(name, ReLU<T>{}, x);
}

/// The output channels of an Inception module's four branches, and the
/// reductions before its 3x3 and "5x5" convolutions (the columns of the
/// paper's table 1).
struct InceptionChannels {
  Index one;           ///< branch 1: 1x1
  Index three_reduce;  ///< branch 2: 1x1 before the 3x3
  Index three;         ///< branch 2: 3x3
  Index five_reduce;   ///< branch 3: 1x1 before the "5x5"
  Index five;          ///< branch 3: the "5x5", a 3x3 in torchvision
  Index pool_proj;     ///< branch 4: 1x1 after the 3x3 max pooling
};

/// An Inception module: four branches joined along the channels, node `name`.
/// [C, H, W] -> [one + three + five + pool_proj, H, W]. Branch 3's second
/// convolution is 3x3 (pad 1), as in torchvision, not the paper's 5x5:
/// torchvision keeps the kernel its first pretrained weights were trained with.
template <class T>
Node inception(Graph<T>& net, const std::string& name, Node x, const InceptionChannels& c) {
  const Node b1 = basic_conv(net, name + ".branch1", x, c.one, 1);
  Node b2 = basic_conv(net, name + ".branch2.0", x, c.three_reduce, 1);
  b2 = basic_conv(net, name + ".branch2.1", b2, c.three, 3, 1, 1);
  Node b3 = basic_conv(net, name + ".branch3.0", x, c.five_reduce, 1);
  b3 = basic_conv(net, name + ".branch3.1", b3, c.five, 3, 1, 1);
  Node b4 = net.add(name + ".branch4.0",
                    Pool2d<T>({.kind = PoolKind::max, .window = 3, .stride = 1, .padding = 1, .ceil_mode = true}), x);
  b4 = basic_conv(net, name + ".branch4.1", b4, c.pool_proj, 1);
  return net.add(name, Concat<T>{}, {b1, b2, b3, b4});
}

/// GoogLeNet: conv 7x7/2 (64), max-pool 3/2, conv 1x1 (64), conv 3x3 (192),
/// max-pool 3/2, Inception 3a-3b, max-pool 3/2, 4a-4e, max-pool 2/2, 5a-5b,
/// global average pooling, dropout 0.2, FC classes; every convolution a
/// BasicConv2d, every max pooling with ceil_mode (as torchvision: the maps
/// are 112 -> 56 -> 28 -> 14 -> 7 at 224x224). Where torchvision differs from
/// the paper: batch normalisation (the paper predates it), branch 3's 3x3
/// kernel, dropout 0.2 instead of 0.4, no auxiliary classifiers and no local
/// response normalisation. 6,624,904 parameters for 1,000 classes.
/// Initialisation as torchvision: convolution and FC weights normal(0, 0.01)
/// (torchvision truncates at +-2, 200 standard deviations: never), BatchNorm
/// weight 1 and bias 0, the FC bias PyTorch's default uniform(+-1/sqrt(1024)).
/// Nodes are named as torchvision's modules ("inception4a.branch2.1.conv").
template <class T>
Graph<T> googlenet(const ModelOptions& options = {}) {
  const ResolvedOptions o = resolve(options, {}, "googlenet");
  auto max_pool = [](Index window, Index stride) {
    return Pool2d<T>({.kind = PoolKind::max, .window = window, .stride = stride, .ceil_mode = true});
  };
  Graph<T> net(o.input_shape());
  Node x = basic_conv(net, "conv1", net.input(), 64, 7, 2, 3);
  x = net.add("maxpool1", max_pool(3, 2), x);
  x = basic_conv(net, "conv2", x, 64, 1);
  x = basic_conv(net, "conv3", x, 192, 3, 1, 1);
  x = net.add("maxpool2", max_pool(3, 2), x);
  x = inception(net, "inception3a", x, {64, 96, 128, 16, 32, 32});
  x = inception(net, "inception3b", x, {128, 128, 192, 32, 96, 64});
  x = net.add("maxpool3", max_pool(3, 2), x);
  x = inception(net, "inception4a", x, {192, 96, 208, 16, 48, 64});
  x = inception(net, "inception4b", x, {160, 112, 224, 24, 64, 64});
  x = inception(net, "inception4c", x, {128, 128, 256, 24, 64, 64});
  x = inception(net, "inception4d", x, {112, 144, 288, 32, 64, 64});
  x = inception(net, "inception4e", x, {256, 160, 320, 32, 128, 128});
  x = net.add("maxpool4", max_pool(2, 2), x);
  x = inception(net, "inception5a", x, {256, 160, 320, 32, 128, 128});
  x = inception(net, "inception5b", x, {384, 192, 384, 48, 128, 128});
  x = net.add("avgpool", GlobalPool2d<T>(PoolKind::average), x);
  x = net.add("flatten", Flatten<T>{}, x);
  x = net.add("dropout", Dropout<T>(0.2, o.seed + 1), x);
  net.add("fc", Linear<T>(net.shape(x)[0], o.classes), x);
  initialize_like_torchvision(net, {.conv = WeightInit::normal_0_01, .linear = WeightInit::normal_0_01}, o.seed);
  return net;
}

}  // namespace fovea::models
