#pragma once

/// @file
/// fold_batch_norm: an inference copy of a network in which every BatchNorm
/// that reads a Conv2d or Linear (and is that layer's only reader) is folded
/// into it. In inference a batch norm is an affine map per channel,
///   y = gamma * (x - mean) / sqrt(var + eps) + beta = a * x + b,
/// so the layer before it can produce a * (W x + bias) + b directly: its
/// filters for channel c scaled by a[c] and its bias set to
/// a[c] * (bias[c] - mean[c]) + beta[c]. One pass over the activations fewer
/// per folded pair (ResNet has one after every convolution), and the same
/// function up to rounding.
/// @code
/// const Graph<float> deploy = fold_batch_norm(net);  // net stays as it is, trainable
/// auto probabilities = deploy.predict(x);
/// @endcode

#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "fovea/layers/batch_norm.hpp"
#include "fovea/layers/conv2d.hpp"
#include "fovea/layers/linear.hpp"
#include "fovea/nn/graph.hpp"
#include "fovea/nn/registry.hpp"

namespace fovea {

namespace detail {

// Whether node `k` (a Conv2d or Linear) feeds only the BatchNorm node `norm`
// and is not an output itself.
template <class T>
bool feeds_only(const Graph<T>& net, Node k, Node norm) {
  for (const Node& out : net.outputs()) {
    if (out == k) return false;
  }
  for (std::size_t i = 0; i < net.size(); ++i) {
    const Node reader{static_cast<Index>(i) + 1};
    if (reader == norm) continue;
    for (const Node& in : net.inputs(reader)) {
      if (in == k) return false;
    }
  }
  return true;
}

// A copy of `layer` with its bias switched on and zero where it had none (a
// folded layer needs one).
template <class T>
LayerPtr<T> copy_with_bias(Layer<T>& layer) {
  LayerSpec spec = layer.spec();
  for (auto& [key, value] : spec.values) {
    if (key == "bias") value = 1;
  }
  LayerPtr<T> copy = copy_layer(layer, spec);
  const auto params = copy->params();
  if (layer.params().size() == 1 && params.size() == 2) params[1].value.fill(T{0});
  return copy;
}

// Folds `norm`'s inference map into `folded`, a copy (with bias) of the
// Conv2d or Linear before it: rows of the weight are output channels.
template <class T>
void fold_into(Layer<T>& folded, BatchNorm<T>& norm) {
  const auto params = folded.params();
  const auto norm_params = norm.params();
  const Index channels = norm.options().channels;
  TensorView<T, 1> weight = params[0].value;
  TensorView<T, 1> bias = params[1].value;
  const Index per_channel = weight.size() / channels;
  for (Index c = 0; c < channels; ++c) {
    const double gamma = norm_params.empty() ? 1.0 : static_cast<double>(norm_params[0].value(c));
    const double beta = norm_params.empty() ? 0.0 : static_cast<double>(norm_params[1].value(c));
    const double scale = gamma / std::sqrt(static_cast<double>(norm.running_var()(c)) + norm.options().epsilon);
    for (Index i = c * per_channel; i < (c + 1) * per_channel; ++i) {
      weight(i) = static_cast<T>(static_cast<double>(weight(i)) * scale);
    }
    bias(c) =
        static_cast<T>((static_cast<double>(bias(c)) - static_cast<double>(norm.running_mean()(c))) * scale + beta);
  }
}

}  // namespace detail

/// A copy of `net` for inference with each BatchNorm folded into the Conv2d
/// or Linear it reads, where that layer has no other reader and is not an
/// output (the folded layer keeps its own name; later nodes reading the
/// BatchNorm read it). Every other node is copied as it is, with its weights
/// and buffers, under its name and with its inputs; the outputs are the same
/// tensors. The copy computes net's inference function up to rounding; it
/// does not train like net (a folded pair has no batch statistics), and net
/// is not changed. Layers are copied through the layer registry (nn/registry.hpp):
/// a custom layer must be registered. Throws what make_layer throws for an
/// unregistered layer type.
template <class T>
Graph<T> fold_batch_norm(Graph<T>& net) {
  Graph<T> folded(net.input_shape());
  // Where each tensor of net lives in the copy (a folded BatchNorm: its layer's node).
  std::vector<Node> moved(net.size() + 1);
  moved[0] = folded.input();
  // folds_into[k]: the BatchNorm node folded into node k's layer (0: none).
  std::vector<std::size_t> folds_into(net.size() + 1, 0);
  std::vector<char> absorbed(net.size() + 1, 0);  // [k]: node k is a BatchNorm folded into its input's layer
  for (std::size_t i = 0; i < net.size(); ++i) {
    const Node norm{static_cast<Index>(i) + 1};
    if (dynamic_cast<BatchNorm<T>*>(&net.layer(i)) == nullptr) continue;
    const Node in = net.inputs(norm)[0];
    if (in.id == 0) continue;
    Layer<T>& before = net.layer(in);
    const bool foldable = dynamic_cast<Conv2d<T>*>(&before) != nullptr || dynamic_cast<Linear<T>*>(&before) != nullptr;
    if (foldable && detail::feeds_only(net, in, norm)) {
      absorbed[static_cast<std::size_t>(norm.id)] = 1;
      folds_into[static_cast<std::size_t>(in.id)] = static_cast<std::size_t>(norm.id);
    }
  }
  for (std::size_t i = 0; i < net.size(); ++i) {
    const Node node{static_cast<Index>(i) + 1};
    const auto k = static_cast<std::size_t>(node.id);
    if (absorbed[k] != 0) {  // its layer's node stands for it
      moved[k] = moved[static_cast<std::size_t>(net.inputs(node)[0].id)];
      continue;
    }
    std::vector<Node> inputs;
    for (const Node& in : net.inputs(node)) inputs.push_back(moved[static_cast<std::size_t>(in.id)]);
    LayerPtr<T> copy = folds_into[k] != 0 ? detail::copy_with_bias(net.layer(i)) : copy_layer(net.layer(i));
    if (folds_into[k] != 0) detail::fold_into(*copy, dynamic_cast<BatchNorm<T>&>(net.layer(folds_into[k] - 1)));
    moved[k] = folded.add(net.name(node), std::move(copy), inputs);
  }
  std::vector<Node> outputs;
  for (const Node& out : net.outputs()) outputs.push_back(moved[static_cast<std::size_t>(out.id)]);
  folded.set_outputs(outputs);
  folded.set_training(false);
  return folded;
}

}  // namespace fovea
