#pragma once

/// @file
/// LeNet-5 in the zoo: nn/lenet.hpp's make_lenet5 behind the zoo's options,
/// plus LeNet5Options for the one thing the trainer varies, the widths of the
/// hidden fully connected layers.

#include <string>
#include <vector>

#include "fovea/core/error.hpp"
#include "fovea/models/common.hpp"
#include "fovea/nn/graph.hpp"
#include "fovea/nn/lenet.hpp"

namespace fovea::models {

/// What lenet5 lets a caller choose beyond ModelOptions.
/// `auto net = fovea::models::lenet5<float>({.seed = 1}, {.hidden = {120, 100}});`
struct LeNet5Options {
  /// Widths of the hidden fully connected layers, one ReLU-activated Linear
  /// layer each, in order; empty: the flattened features (400 at 28x28) go
  /// straight to the classes. The default is make_lenet5's: 120 and 84, the
  /// sizes of the paper's C5 and F6.
  std::vector<Index> hidden = LeNetOptions{}.hidden;
};

/// LeNet-5 (LeCun, Bottou, Bengio and Haffner, "Gradient-Based Learning
/// Applied to Document Recognition", 1998) as make_lenet5 builds it, which
/// follows the common modern form rather than the paper: ReLU instead of
/// scaled tanh, max pooling instead of trainable subsampling, a full C3
/// (every map sees all six, not the paper's partial table) and a plain FC 10
/// instead of the RBF output. conv 6@5x5 pad 2, max-pool 2x2, conv 16@5x5,
/// max-pool 2x2, FC 120, FC 84 (`lenet.hidden`), FC classes. torchvision has
/// no LeNet. Defaults: 10 classes, one channel, 28x28 (MNIST); 61,706
/// parameters. Initialisation: make_lenet5's LeCun uniform, biases 0. The
/// nodes are named by index ("0", "1", ...), as Sequential names them, so the
/// network is saved as a plain chain.
///
/// Throws value_error for anything but one input channel and a square
/// input, the two things make_lenet5 fixes, and for a hidden width below 1;
/// shape_error for an input too small for its two convolutions and poolings.
template <class T>
Graph<T> lenet5(const ModelOptions& options, const LeNet5Options& lenet) {
  const ResolvedOptions o = resolve(options, {.classes = 10, .in_channels = 1, .height = 28, .width = 28}, "lenet5");
  if (o.in_channels != 1 || o.height != o.width) {
    throw value_error("models::lenet5: input " + to_string(o.input_shape()) +
                      ", expected one channel and a square image [1, S, S]");
  }
  for (Index width : lenet.hidden) {
    if (width < 1) {
      std::string widths;
      for (Index w : lenet.hidden) widths += (widths.empty() ? "" : ", ") + std::to_string(w);
      throw value_error("models::lenet5: hidden widths [" + widths + "], expected each at least 1");
    }
  }
  // A Sequential is a Graph with nothing added but how it names its nodes.
  return Graph<T>(
      make_lenet5<T>({.image_size = o.height, .hidden = lenet.hidden, .classes = o.classes, .seed = o.seed}));
}

/// LeNet-5 with the default hidden widths (120, 84): the zoo's builder, see above.
template <class T>
Graph<T> lenet5(const ModelOptions& options = {}) {
  return lenet5<T>(options, LeNet5Options{});
}

}  // namespace fovea::models
