#pragma once

/// @file
/// Turns a LayerSpec (as stored in a model file) back into a layer. Built-in
/// layers are known by their type names; programs with layers of their own
/// register a factory for each under its type name before loading.

#include <functional>
#include <map>
#include <string>

#include "fovea/layers/activation.hpp"
#include "fovea/layers/add.hpp"
#include "fovea/layers/batch_norm.hpp"
#include "fovea/layers/channel_affine.hpp"
#include "fovea/layers/concat.hpp"
#include "fovea/layers/conv2d.hpp"
#include "fovea/layers/dropout.hpp"
#include "fovea/layers/flatten.hpp"
#include "fovea/layers/global_pool.hpp"
#include "fovea/layers/linear.hpp"
#include "fovea/layers/local_response_norm.hpp"
#include "fovea/layers/pool2d.hpp"
#include "fovea/layers/prelu.hpp"
#include "fovea/layers/softmax.hpp"

namespace fovea {

/// Builds one layer from its spec; throws format_error (or another fovea
/// exception) when the spec's settings are missing or invalid.
template <class T>
using LayerFactory = std::function<LayerPtr<T>(const LayerSpec&)>;

/// Layer factories by type name, for layers of element type T. Built in:
/// Conv2d, Linear, Flatten, Add, Concat, ReLU, LeakyReLU, Sigmoid, Tanh, ELU,
/// ReLU6, Clip, PReLU, BatchNorm, LocalResponseNorm, Dropout, Softmax,
/// LogSoftmax, the five Pool2d kinds (MaxPool2d, ...) and their
/// global versions (GlobalMaxPool2d, ...). Not synchronised: register before
/// loading on several threads.
template <class T>
class LayerRegistry {
 public:
  /// The registry every load uses: the built-in layers plus anything added.
  static LayerRegistry& global() {
    static LayerRegistry registry;
    return registry;
  }

  /// Registers `factory` under `type`, replacing any factory of that name (a built-in one too).
  void add(const std::string& type, LayerFactory<T> factory) { factories_[type] = std::move(factory); }

  /// A new layer built by the factory for spec.type; throws format_error for an
  /// unknown type, and whatever the factory throws for bad settings.
  LayerPtr<T> make(const LayerSpec& spec) const {
    const auto it = factories_.find(spec.type);
    if (it == factories_.end()) {
      throw format_error("unknown layer type '" + spec.type + "' (register a factory for it in LayerRegistry)");
    }
    return it->second(spec);
  }

 private:
  template <class L>
  static LayerFactory<T> factory_of() {
    return [](const LayerSpec& spec) -> LayerPtr<T> { return std::make_unique<L>(L::from_spec(spec)); };
  }

  LayerRegistry() {
    add("Conv2d", factory_of<Conv2d<T>>());
    add("Linear", factory_of<Linear<T>>());
    add("Flatten", factory_of<Flatten<T>>());
    add("ReLU", factory_of<ReLU<T>>());
    add("LeakyReLU", factory_of<LeakyReLU<T>>());
    add("Sigmoid", factory_of<Sigmoid<T>>());
    add("Tanh", factory_of<Tanh<T>>());
    add("ELU", factory_of<ELU<T>>());
    add("ReLU6", factory_of<ReLU6<T>>());
    add("Clip", factory_of<Clip<T>>());
    add("Softplus", factory_of<Softplus<T>>());
    add("ChannelAffine", factory_of<ChannelAffine<T>>());
    add("PReLU", factory_of<PReLU<T>>());
    add("BatchNorm", factory_of<BatchNorm<T>>());
    add("LocalResponseNorm", factory_of<LocalResponseNorm<T>>());
    add("Dropout", factory_of<Dropout<T>>());
    add("Softmax", factory_of<Softmax<T>>());
    add("LogSoftmax", factory_of<LogSoftmax<T>>());
    add("Add", factory_of<Add<T>>());
    add("Concat", factory_of<Concat<T>>());
    for (PoolKind kind : {PoolKind::max, PoolKind::average, PoolKind::min, PoolKind::sum, PoolKind::l2}) {
      add(pool2d_type_name(kind), factory_of<Pool2d<T>>());
      add(std::string("Global") + pool2d_type_name(kind), factory_of<GlobalPool2d<T>>());
    }
  }

  std::map<std::string, LayerFactory<T>> factories_;
};

/// LayerRegistry<T>::global().make(spec): the layer a model file describes.
template <class T>
LayerPtr<T> make_layer(const LayerSpec& spec) {
  return LayerRegistry<T>::global().make(spec);
}

/// A layer built from `spec` (by default `from`'s own: a copy) holding
/// `from`'s parameter values and buffers, pairwise in their order; a
/// parameter the new layer has beyond `from`'s (a bias switched on in the
/// spec) keeps its initial value. Throws as make_layer.
template <class T>
LayerPtr<T> copy_layer(Layer<T>& from, const LayerSpec& spec) {
  LayerPtr<T> copy = make_layer<T>(spec);
  const auto params = from.params(), copied_params = copy->params();
  for (std::size_t i = 0; i < params.size() && i < copied_params.size(); ++i) {
    copied_params[i].value.copy_from(params[i].value);
  }
  const auto buffers = from.buffers(), copied_buffers = copy->buffers();
  for (std::size_t i = 0; i < buffers.size() && i < copied_buffers.size(); ++i) {
    copied_buffers[i].value.copy_from(buffers[i].value);
  }
  return copy;
}
/// A copy of `from`, made through its spec (a custom layer must be registered).
template <class T>
LayerPtr<T> copy_layer(Layer<T>& from) {
  return copy_layer(from, from.spec());
}

}  // namespace fovea
