#pragma once

/// @file
/// LeNet-5 in the zoo: nn/lenet.hpp's make_lenet5 behind the zoo's options.

#include <string>
#include <utility>

#include "fovea/core/error.hpp"
#include "fovea/models/common.hpp"
#include "fovea/nn/graph.hpp"
#include "fovea/nn/lenet.hpp"

namespace fovea::models {

/// LeNet-5 (LeCun, Bottou, Bengio and Haffner, "Gradient-Based Learning
/// Applied to Document Recognition", 1998) as make_lenet5 builds it, which
/// follows the common modern form rather than the paper: ReLU instead of
/// scaled tanh, max pooling instead of trainable subsampling, a full C3
/// (every map sees all six, not the paper's partial table) and a plain FC 10
/// instead of the RBF output. conv 6@5x5 pad 2, max-pool 2x2, conv 16@5x5,
/// max-pool 2x2, FC 120, FC 84, FC classes. torchvision has no LeNet.
/// Defaults: 10 classes, one channel, 28x28 (MNIST); 61,706 parameters.
/// Initialisation: make_lenet5's LeCun uniform, biases 0. The nodes are named
/// by index ("0", "1", ...), as Sequential names them.
///
/// Throws value_error for anything but one input channel and a square
/// input, the two things make_lenet5 fixes, and shape_error for an input too
/// small for its two convolutions and poolings.
template <class T>
Graph<T> lenet5(const ModelOptions& options = {}) {
  const ResolvedOptions o = resolve(options, {.classes = 10, .in_channels = 1, .height = 28, .width = 28}, "lenet5");
  if (o.in_channels != 1 || o.height != o.width) {
    throw value_error("models::lenet5: input " + to_string(o.input_shape()) +
                      ", expected one channel and a square image [1, S, S]");
  }
  // A Sequential is a Graph with nothing added but how it names its nodes.
  return Graph<T>(make_lenet5<T>({.image_size = o.height, .classes = o.classes, .seed = o.seed}));
}

}  // namespace fovea::models
