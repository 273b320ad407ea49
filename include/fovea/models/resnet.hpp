#pragma once

/// @file
/// Residual networks (He, Zhang, Ren and Sun, "Deep Residual Learning for
/// Image Recognition", 2016) as torchvision builds them: ResNet-18, -34, -50
/// and -101, and the small ResNet-8 of the paper's CIFAR section. A block is
/// written once (basic_block, bottleneck), make_stage repeats it, and each
/// builder is a stem and a list of stages.
///
/// @code
/// auto net = fovea::models::resnet18<float>({.classes = 10, .in_channels = 3});
/// @endcode
///
/// Shared choices, torchvision's: every convolution is without bias and
/// followed by a BatchNorm (epsilon 1e-5); a block that changes the size or
/// the channels projects its shortcut with a 1x1 convolution + BatchNorm
/// (the paper's option B); the bottleneck strides on its 3x3 convolution
/// (ResNet v1.5; the paper strides on the first 1x1). Initialisation:
/// convolutions Kaiming normal (fan_out), BatchNorm weight 1 and bias 0 (no
/// zero-initialised last BatchNorm), the FC layer PyTorch's default
/// (weights and biases uniform(+-1/sqrt(fan_in))). Global average pooling
/// makes any input size that survives the strides work. Nodes are named as
/// torchvision's modules ("layer2.0.conv1", "layer2.0.downsample.0"); a
/// block's output is the node named after the block ("layer2.0").

#include <string>
#include <vector>

#include "fovea/layers/activation.hpp"
#include "fovea/layers/add.hpp"
#include "fovea/layers/conv2d.hpp"
#include "fovea/layers/flatten.hpp"
#include "fovea/layers/global_pool.hpp"
#include "fovea/layers/linear.hpp"
#include "fovea/layers/pool2d.hpp"
#include "fovea/models/common.hpp"
#include "fovea/nn/graph.hpp"

namespace fovea::models {

/// A residual block: adds block `name` reading `x` with `planes` channels
/// inside and stride `stride`, and returns its output.
template <class T>
using ResidualBlock = Node (*)(Graph<T>& net, const std::string& name, Node x, Index planes, Index stride);

namespace detail {

// The projection shortcut: conv 1x1 (stride) + BatchNorm, where the block
// changes the size or the channels.
template <class T>
Node shortcut(Graph<T>& net, const std::string& block, Node x, Index channels, Index stride) {
  if (stride == 1 && net.shape(x)[0] == channels) return x;
  const Node y =
      conv(net, block + ".downsample.0", x, {.out_channels = channels, .kernel = 1, .stride = stride, .bias = false});
  return batch_norm(net, block + ".downsample.1", y);
}

}  // namespace detail

/// torchvision's BasicBlock (ResNet-18/34): conv 3x3 (stride) -> BN -> ReLU
/// -> conv 3x3 -> BN, plus the shortcut, then ReLU. [C, H, W] -> [planes, H/stride, W/stride].
template <class T>
Node basic_block(Graph<T>& net, const std::string& name, Node x, Index planes, Index stride) {
  Node y = conv(net, name + ".conv1", x,
                {.out_channels = planes, .kernel = 3, .stride = stride, .padding = 1, .bias = false});
  y = batch_norm(net, name + ".bn1", y);
  y = net.add(name + ".relu", ReLU<T>{}, y);
  y = conv(net, name + ".conv2", y, {.out_channels = planes, .kernel = 3, .padding = 1, .bias = false});
  y = batch_norm(net, name + ".bn2", y);
  const Node sum = net.add(name + ".add", Add<T>{}, {y, detail::shortcut(net, name, x, planes, stride)});
  return net.add(name, ReLU<T>{}, sum);
}

/// torchvision's Bottleneck (ResNet-50/101): conv 1x1 -> BN -> ReLU -> conv
/// 3x3 (stride) -> BN -> ReLU -> conv 1x1 to 4 * planes -> BN, plus the
/// shortcut, then ReLU. [C, H, W] -> [4 * planes, H/stride, W/stride].
template <class T>
Node bottleneck(Graph<T>& net, const std::string& name, Node x, Index planes, Index stride) {
  Node y = conv(net, name + ".conv1", x, {.out_channels = planes, .kernel = 1, .bias = false});
  y = batch_norm(net, name + ".bn1", y);
  y = net.add(name + ".relu", ReLU<T>{}, y);
  y = conv(net, name + ".conv2", y,
           {.out_channels = planes, .kernel = 3, .stride = stride, .padding = 1, .bias = false});
  y = batch_norm(net, name + ".bn2", y);
  y = net.add(name + ".relu2", ReLU<T>{}, y);
  y = conv(net, name + ".conv3", y, {.out_channels = 4 * planes, .kernel = 1, .bias = false});
  y = batch_norm(net, name + ".bn3", y);
  const Node sum = net.add(name + ".add", Add<T>{}, {y, detail::shortcut(net, name, x, 4 * planes, stride)});
  return net.add(name, ReLU<T>{}, sum);
}

/// Stage `name` ("layer1"): `blocks` blocks named "<name>.0", "<name>.1", ...,
/// the first with stride `stride`, the others 1. Returns the last one's output.
template <class T>
Node make_stage(Graph<T>& net, ResidualBlock<T> block, const std::string& name, Node x, Index planes, int blocks,
                Index stride) {
  for (int i = 0; i < blocks; ++i) x = block(net, name + "." + std::to_string(i), x, planes, i == 0 ? stride : 1);
  return x;
}

namespace detail {

// torchvision's ResNet: stem conv 7x7/2 (64) -> BN -> ReLU -> max-pool 3/2 p1,
// four stages of 64, 128, 256, 512 planes (strides 1, 2, 2, 2), global
// average pooling, FC classes.
template <class T>
Graph<T> resnet(ResidualBlock<T> block, const std::vector<int>& blocks, const std::string& model,
                const ModelOptions& options) {
  const ResolvedOptions o = resolve(options, {}, model);
  Graph<T> net(o.input_shape());
  Node x = conv(net, "conv1", net.input(), {.out_channels = 64, .kernel = 7, .stride = 2, .padding = 3, .bias = false});
  x = batch_norm(net, "bn1", x);
  x = net.add("relu", ReLU<T>{}, x);
  x = net.add("maxpool", Pool2d<T>({.kind = PoolKind::max, .window = 3, .stride = 2, .padding = 1}), x);
  x = make_stage(net, block, "layer1", x, 64, blocks[0], 1);
  x = make_stage(net, block, "layer2", x, 128, blocks[1], 2);
  x = make_stage(net, block, "layer3", x, 256, blocks[2], 2);
  x = make_stage(net, block, "layer4", x, 512, blocks[3], 2);
  x = net.add("avgpool", GlobalPool2d<T>(PoolKind::average), x);
  x = net.add("flatten", Flatten<T>{}, x);
  net.add("fc", Linear<T>(net.shape(x)[0], o.classes), x);
  initialize_like_torchvision(net, {}, o.seed);
  return net;
}

}  // namespace detail

/// ResNet-18: basic blocks 2, 2, 2, 2; 11,689,512 parameters for 1,000 classes.
template <class T>
Graph<T> resnet18(const ModelOptions& options = {}) {
  return detail::resnet<T>(&basic_block<T>, {2, 2, 2, 2}, "resnet18", options);
}
/// ResNet-34: basic blocks 3, 4, 6, 3; 21,797,672 parameters for 1,000 classes.
template <class T>
Graph<T> resnet34(const ModelOptions& options = {}) {
  return detail::resnet<T>(&basic_block<T>, {3, 4, 6, 3}, "resnet34", options);
}
/// ResNet-50: bottlenecks 3, 4, 6, 3; 25,557,032 parameters for 1,000 classes.
template <class T>
Graph<T> resnet50(const ModelOptions& options = {}) {
  return detail::resnet<T>(&bottleneck<T>, {3, 4, 6, 3}, "resnet50", options);
}
/// ResNet-101: bottlenecks 3, 4, 23, 3; 44,549,160 parameters for 1,000 classes.
template <class T>
Graph<T> resnet101(const ModelOptions& options = {}) {
  return detail::resnet<T>(&bottleneck<T>, {3, 4, 23, 3}, "resnet101", options);
}

/// ResNet-8: the 6n + 2 network of the paper's CIFAR-10 section with n = 1,
/// torchvision has none. Stem conv 3x3 (16) -> BN -> ReLU, three basic blocks
/// of 16, 32 and 64 channels (strides 1, 2, 2; the last two with 1x1 conv +
/// BN projection shortcuts, where the paper's CIFAR networks pad the identity
/// with zeros), global average pooling, FC classes. Defaults: 10 classes,
/// one channel, 28x28 (MNIST); 77,754 parameters. Initialisation and names
/// as the other ResNets ("conv1", "layer2.0", "fc").
template <class T>
Graph<T> resnet8(const ModelOptions& options = {}) {
  const ResolvedOptions o = resolve(options, {.classes = 10, .in_channels = 1, .height = 28, .width = 28}, "resnet8");
  Graph<T> net(o.input_shape());
  Node x = conv(net, "conv1", net.input(), {.out_channels = 16, .kernel = 3, .padding = 1, .bias = false});
  x = batch_norm(net, "bn1", x);
  x = net.add("relu", ReLU<T>{}, x);
  x = make_stage(net, &basic_block<T>, "layer1", x, 16, 1, 1);
  x = make_stage(net, &basic_block<T>, "layer2", x, 32, 1, 2);
  x = make_stage(net, &basic_block<T>, "layer3", x, 64, 1, 2);
  x = net.add("avgpool", GlobalPool2d<T>(PoolKind::average), x);
  x = net.add("flatten", Flatten<T>{}, x);
  net.add("fc", Linear<T>(net.shape(x)[0], o.classes), x);
  initialize_like_torchvision(net, {}, o.seed);
  return net;
}

}  // namespace fovea::models
