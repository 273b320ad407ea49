#pragma once

/// @file
/// Sequential<T>: a chain of layers, each reading the one before it: the
/// one-path case of Graph (nn/graph.hpp), on the same engine. The per-sample
/// input shape is given once; every layer's output shape is inferred the
/// moment the layer is added, so a layer that cannot take its input fails
/// right there. Layer i is the graph's node named "i", so its parameters are
/// "<i>.weight", "<i>.bias".

#include <memory>
#include <string>
#include <utility>

#include "fovea/nn/graph.hpp"

namespace fovea {

/// A chain of layers of element type T, each feeding the next, that owns its
/// layers and its activation and gradient buffers. Everything but add() is
/// Graph's. Movable, not copyable.
template <class T>
class Sequential : public Graph<T> {
 public:
  /// An empty network for samples of `input_shape` [C, H, W]. Throws
  /// shape_error unless every extent is positive and C*H*W is at most 2^31.
  explicit Sequential(const SampleShape& input_shape) : Graph<T>(input_shape, "Sequential") {}

  using Graph<T>::add;

  /// Appends a layer after checking it can take the current output shape; the
  /// error names the layer's index and description and both shapes. Throws
  /// shape_error, also when the layer's output would be empty or hold more
  /// than 2^31 values per sample.
  Sequential& add(LayerPtr<T> layer) {
    const std::size_t index = this->size();
    this->add_node(std::to_string(index), std::move(layer), {Node{static_cast<Index>(index)}},
                   "layer " + std::to_string(index));
    return *this;
  }

  /// Constructs the layer in place: net.emplace<Conv2d<float>>(options).
  /// Returns the added layer; throws as add() does.
  template <class L, class... Args>
  L& emplace(Args&&... args) {
    auto layer = std::make_unique<L>(std::forward<Args>(args)...);
    L& ref = *layer;
    add(std::move(layer));
    return ref;
  }
};

}  // namespace fovea
