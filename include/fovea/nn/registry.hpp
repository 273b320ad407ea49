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

/// How many parameter and buffer values a layer built from a spec will hold,
/// from the spec alone (a layer's static `declared_values`): a loader refuses
/// a file that stores fewer before building the layer, so a corrupt size
/// cannot make it allocate gigabytes.
using DeclaredValues = double (*)(const LayerSpec&);

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

  /// Registers `factory` under `type`, replacing any factory of that name (a
  /// built-in one too); `values`, when given, says how many parameter values
  /// the layer of a spec will hold (see DeclaredValues).
  void add(const std::string& type, LayerFactory<T> factory, DeclaredValues values = nullptr) {
    factories_[type] = {std::move(factory), values};
  }

  /// A new layer built by the factory for spec.type; throws format_error for an
  /// unknown type, and whatever the factory throws for bad settings.
  LayerPtr<T> make(const LayerSpec& spec) const {
    const auto it = factories_.find(spec.type);
    if (it == factories_.end()) {
      throw format_error("unknown layer type '" + spec.type + "' (register a factory for it in LayerRegistry)");
    }
    return it->second.make(spec);
  }

  /// The parameter and buffer values the layer of `spec` will hold, as its
  /// type declares them; 0 for a type that declares none (or is unknown).
  double declared_values(const LayerSpec& spec) const {
    const auto it = factories_.find(spec.type);
    return it == factories_.end() || it->second.values == nullptr ? 0.0 : it->second.values(spec);
  }

 private:
  struct Entry {
    LayerFactory<T> make;
    DeclaredValues values = nullptr;
  };

  // Registers L under `type`, with its declared_values when it has parameters.
  template <class L>
  void add_layer(const std::string& type) {
    DeclaredValues values = nullptr;
    if constexpr (requires(const LayerSpec& spec) { L::declared_values(spec); }) values = &L::declared_values;
    add(
        type, [](const LayerSpec& spec) -> LayerPtr<T> { return std::make_unique<L>(L::from_spec(spec)); }, values);
  }

  LayerRegistry() {
    add_layer<Conv2d<T>>("Conv2d");
    add_layer<Linear<T>>("Linear");
    add_layer<Flatten<T>>("Flatten");
    add_layer<ReLU<T>>("ReLU");
    add_layer<LeakyReLU<T>>("LeakyReLU");
    add_layer<Sigmoid<T>>("Sigmoid");
    add_layer<Tanh<T>>("Tanh");
    add_layer<ELU<T>>("ELU");
    add_layer<ReLU6<T>>("ReLU6");
    add_layer<Clip<T>>("Clip");
    add_layer<Softplus<T>>("Softplus");
    add_layer<ChannelAffine<T>>("ChannelAffine");
    add_layer<PReLU<T>>("PReLU");
    add_layer<BatchNorm<T>>("BatchNorm");
    add_layer<LocalResponseNorm<T>>("LocalResponseNorm");
    add_layer<Dropout<T>>("Dropout");
    add_layer<Softmax<T>>("Softmax");
    add_layer<LogSoftmax<T>>("LogSoftmax");
    add_layer<Add<T>>("Add");
    add_layer<Concat<T>>("Concat");
    for (PoolKind kind : {PoolKind::max, PoolKind::average, PoolKind::min, PoolKind::sum, PoolKind::l2}) {
      add_layer<Pool2d<T>>(pool2d_type_name(kind));
      add_layer<GlobalPool2d<T>>(std::string("Global") + pool2d_type_name(kind));
    }
  }

  std::map<std::string, Entry> factories_;
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
