#pragma once

/// @file
/// LeNet-5 as the trainer builds it (the classic layout with ReLU and max
/// pooling): conv 6@5x5 pad 2 -> ReLU -> max-pool 2x2 -> conv 16@5x5 -> ReLU ->
/// max-pool 2x2 -> flatten(400) -> FC 120 -> ReLU -> FC 84 -> ReLU -> FC 10.
/// The output is logits; train it with SoftmaxCrossEntropy. The model zoo's
/// models::lenet5 (models/lenet.hpp) builds it behind the zoo's options.

#include <vector>

#include "fovea/layers/activation.hpp"
#include "fovea/layers/conv2d.hpp"
#include "fovea/layers/flatten.hpp"
#include "fovea/layers/linear.hpp"
#include "fovea/layers/pool2d.hpp"
#include "fovea/nn/init.hpp"
#include "fovea/nn/sequential.hpp"

namespace fovea {

/// The sizes make_lenet5 may vary; the defaults give the classic network for 28x28 digits.
struct LeNetOptions {
  Index image_size = 28;                  ///< square single-channel input
  std::vector<Index> hidden = {120, 84};  ///< widths of the fully connected hidden layers
  Index classes = 10;                     ///< outputs of the last layer (logits)
  std::uint64_t seed = 0;                 ///< LeCun-uniform initialisation of the weights
};

/// The network described above, for [N, 1, image_size, image_size] input, with
/// one ReLU-activated Linear layer per entry of `hidden`, weights initialised
/// LeCun-uniform from `seed` and biases zero. Throws shape_error when the image
/// is too small for the two convolutions and poolings, and value_error for a
/// hidden width or class count below 1.
template <class T>
Sequential<T> make_lenet5(const LeNetOptions& options = {}) {
  Sequential<T> net({1, options.image_size, options.image_size});
  net.template emplace<Conv2d<T>>(Conv2dOptions{.in_channels = 1, .out_channels = 6, .kernel = 5, .padding = 2});
  net.template emplace<ReLU<T>>();
  net.template emplace<Pool2d<T>>(Pool2dOptions{.kind = PoolKind::max, .window = {2, 2}, .stride = {2, 2}});
  net.template emplace<Conv2d<T>>(Conv2dOptions{.in_channels = 6, .out_channels = 16, .kernel = 5});
  net.template emplace<ReLU<T>>();
  net.template emplace<Pool2d<T>>(Pool2dOptions{.kind = PoolKind::max, .window = {2, 2}, .stride = {2, 2}});
  net.template emplace<Flatten<T>>();
  Index features = shape_size(net.output_shape());
  for (Index width : options.hidden) {
    net.template emplace<Linear<T>>(features, width);
    net.template emplace<ReLU<T>>();
    features = width;
  }
  net.template emplace<Linear<T>>(features, options.classes);
  Rng rng(options.seed);
  initialize_all(net.params(), {.scheme = InitScheme::lecun_uniform}, rng);
  return net;
}

}  // namespace fovea
