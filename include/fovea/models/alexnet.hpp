#pragma once

/// @file
/// AlexNet and ZFNet: five convolutions with max pooling, then three fully
/// connected layers with dropout.
///
/// @code
/// auto net = fovea::models::alexnet<float>({.classes = 10});
/// @endcode

#include <string>

#include "fovea/layers/activation.hpp"
#include "fovea/layers/conv2d.hpp"
#include "fovea/layers/dropout.hpp"
#include "fovea/layers/flatten.hpp"
#include "fovea/layers/linear.hpp"
#include "fovea/layers/pool2d.hpp"
#include "fovea/models/common.hpp"
#include "fovea/nn/graph.hpp"

namespace fovea::models {

namespace detail {

// The classifier AlexNet and ZFNet share: dropout before each of the two
// hidden layers of 4096 (torchvision's order), then the class scores.
template <class T>
Node alexnet_classifier(Graph<T>& net, Node x, Index classes, std::uint64_t seed) {
  x = net.add("flatten", Flatten<T>{}, x);  // torch.flatten in torchvision's forward
  x = net.add("classifier.0", Dropout<T>(0.5, seed + 1), x);
  x = net.add("classifier.1", Linear<T>(shape_size(net.shape(x)), 4096), x);
  x = net.add("classifier.2", ReLU<T>{}, x);
  x = net.add("classifier.3", Dropout<T>(0.5, seed + 2), x);
  x = net.add("classifier.4", Linear<T>(4096, 4096), x);
  x = net.add("classifier.5", ReLU<T>{}, x);
  return net.add("classifier.6", Linear<T>(4096, classes), x);
}

template <class T>
Node max_pool(Graph<T>& net, const std::string& name, Node x, Index padding = 0) {
  return net.add(name, Pool2d<T>({.kind = PoolKind::max, .window = 3, .stride = 2, .padding = padding}), x);
}

}  // namespace detail

/// AlexNet as torchvision builds it (Krizhevsky, Sutskever and Hinton,
/// "ImageNet Classification with Deep Convolutional Neural Networks", 2012,
/// in the one-GPU form of Krizhevsky's "One weird trick", 2014): conv 64@11x11
/// s4 p2, max-pool 3/2, conv 192@5x5 p2, max-pool 3/2, conv 384, 256, 256 @3x3
/// p1, max-pool 3/2, then dropout, FC 4096, dropout, FC 4096, FC classes, ReLU
/// after every convolution and hidden FC. Where the paper differs: 64/192
/// filters instead of 96/256, no local response normalisation, no grouped
/// (two-GPU) convolutions. 61,100,840 parameters for 1,000 classes.
///
/// torchvision's AdaptiveAvgPool2d((6, 6)) before the classifier is the
/// identity at 224x224 (the default input); inputs whose features are k times
/// 6x6 get a k x k average pooling, and any other size throws value_error.
/// Initialisation: PyTorch's defaults, as torchvision leaves them: weights and
/// biases uniform(+-1/sqrt(fan_in)). Nodes are named as torchvision's modules
/// ("features.0", "classifier.1").
template <class T>
Graph<T> alexnet(const ModelOptions& options = {}) {
  const ResolvedOptions o = resolve(options, {}, "alexnet");
  Graph<T> net(o.input_shape());
  Node x = conv(net, "features.0", net.input(), {.out_channels = 64, .kernel = 11, .stride = 4, .padding = 2});
  x = net.add("features.1", ReLU<T>{}, x);
  x = detail::max_pool(net, "features.2", x);
  x = conv(net, "features.3", x, {.out_channels = 192, .kernel = 5, .padding = 2});
  x = net.add("features.4", ReLU<T>{}, x);
  x = detail::max_pool(net, "features.5", x);
  x = conv(net, "features.6", x, {.out_channels = 384, .kernel = 3, .padding = 1});
  x = net.add("features.7", ReLU<T>{}, x);
  x = conv(net, "features.8", x, {.out_channels = 256, .kernel = 3, .padding = 1});
  x = net.add("features.9", ReLU<T>{}, x);
  x = conv(net, "features.10", x, {.out_channels = 256, .kernel = 3, .padding = 1});
  x = net.add("features.11", ReLU<T>{}, x);
  x = detail::max_pool(net, "features.12", x);
  x = adaptive_avg_pool(net, "alexnet", "avgpool", x, 6, 6);
  detail::alexnet_classifier(net, x, o.classes, o.seed);
  initialize_like_torchvision(net,
                              {.conv = WeightInit::pytorch_default,
                               .conv_bias = BiasInit::pytorch_default,
                               .linear = WeightInit::pytorch_default,
                               .linear_bias = BiasInit::pytorch_default},
                              o.seed);
  return net;
}

/// ZFNet (Zeiler and Fergus, "Visualizing and Understanding Convolutional
/// Networks", 2014, the network of their figure 3). torchvision has no ZFNet,
/// so this follows the paper: conv 96@7x7 s2, max-pool 3/2, conv 256@5x5 s2,
/// max-pool 3/2, conv 384, 384, 256 @3x3 s1, max-pool 3/2, then AlexNet's
/// classifier (dropout, FC 4096, dropout, FC 4096, FC classes). The paper
/// gives the map sizes (224 -> 110 -> 55 -> 26 -> 13 -> 13 -> 13 -> 6) but not
/// the paddings; these reproduce them: conv1 pads 1, the first two poolings
/// pad 1, conv3-5 pad 1, the rest 0. Left out: the local contrast
/// normalisation after the first two poolings (as torchvision's AlexNet
/// leaves out its LRN). Initialisation as the paper: weights normal(0, 0.01),
/// biases 0. 62,357,608 parameters for 1,000 classes. Input sizes: as alexnet
/// (6x6 features at 224x224; k times that get an average pooling).
template <class T>
Graph<T> zfnet(const ModelOptions& options = {}) {
  const ResolvedOptions o = resolve(options, {}, "zfnet");
  Graph<T> net(o.input_shape());
  Node x = conv(net, "features.0", net.input(), {.out_channels = 96, .kernel = 7, .stride = 2, .padding = 1});
  x = net.add("features.1", ReLU<T>{}, x);
  x = detail::max_pool(net, "features.2", x, 1);
  x = conv(net, "features.3", x, {.out_channels = 256, .kernel = 5, .stride = 2});
  x = net.add("features.4", ReLU<T>{}, x);
  x = detail::max_pool(net, "features.5", x, 1);
  x = conv(net, "features.6", x, {.out_channels = 384, .kernel = 3, .padding = 1});
  x = net.add("features.7", ReLU<T>{}, x);
  x = conv(net, "features.8", x, {.out_channels = 384, .kernel = 3, .padding = 1});
  x = net.add("features.9", ReLU<T>{}, x);
  x = conv(net, "features.10", x, {.out_channels = 256, .kernel = 3, .padding = 1});
  x = net.add("features.11", ReLU<T>{}, x);
  x = detail::max_pool(net, "features.12", x);
  x = adaptive_avg_pool(net, "zfnet", "avgpool", x, 6, 6);
  detail::alexnet_classifier(net, x, o.classes, o.seed);
  initialize_like_torchvision(net,
                              {.conv = WeightInit::normal_0_01,
                               .conv_bias = BiasInit::zeros,
                               .linear = WeightInit::normal_0_01,
                               .linear_bias = BiasInit::zeros},
                              o.seed);
  return net;
}

}  // namespace fovea::models
