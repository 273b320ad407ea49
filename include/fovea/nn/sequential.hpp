#pragma once

/// @file
/// Sequential<T>: a network of layers built at run time. The per-sample input
/// shape is given once; every layer's output shape is inferred the moment the
/// layer is added, so a layer that cannot take its input fails right there.
///
/// Buffers: one activation tensor per layer output and one gradient tensor per
/// layer output, planned for the batch size on first use and reused (resize
/// keeps capacity), so after the first step a training step allocates nothing.
///
/// A Conv2d or Linear followed by a ReLU runs as one fused pass each way
/// (FusesReLU::forward_relu / backward_relu): the ReLU is applied to each
/// thread's part of the output while it is in that core's cache instead of in
/// a second pass over the whole batch, with the same bits as the two layers
/// run apart. A Flatten only reinterprets its input (row-major order already
/// is the flat order): the network passes a reshaped view of the buffer on
/// instead of copying it, both ways.

#include <cstdio>
#include <iomanip>
#include <memory>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "fovea/core/error.hpp"
#include "fovea/core/tensor.hpp"
#include "fovea/layers/activation.hpp"
#include "fovea/layers/flatten.hpp"
#include "fovea/layers/layer.hpp"
#include "fovea/ops/softmax.hpp"

namespace fovea {

/// A chain of layers of element type T, each feeding the next, that owns its
/// layers and its activation and gradient buffers. Movable, not copyable.
template <class T>
class Sequential {
 public:
  /// An empty network for samples of `input_shape` [C, H, W]. Throws
  /// shape_error unless every extent is positive and C*H*W is at most 2^31.
  explicit Sequential(const SampleShape& input_shape) : shapes_{input_shape} {
    double values = 1;
    for (Index d : input_shape) {
      if (d <= 0) throw shape_error("Sequential: input shape " + to_string(input_shape) + " must be positive");
      values *= static_cast<double>(d);
    }
    if (values > 2147483648.0) {
      throw shape_error("Sequential: input shape " + to_string(input_shape) + " exceeds 2^31 values per sample");
    }
  }

  /// Takes over the layers and buffers of another network.
  Sequential(Sequential&&) noexcept = default;
  /// Takes over the layers and buffers of another network.
  Sequential& operator=(Sequential&&) noexcept = default;
  Sequential(const Sequential&) = delete;
  Sequential& operator=(const Sequential&) = delete;
  ~Sequential() = default;

  /// Adds a layer after checking it can take the current output shape; the
  /// error names the layer's index and description and both shapes.
  /// Throws shape_error, also when the layer's output would be empty or hold
  /// more than 2^31 values per sample. Its parameters join params() renamed
  /// "<index>.<name>".
  Sequential& add(LayerPtr<T> layer) {
    const std::size_t index = layers_.size();
    SampleShape out;
    try {
      out = layer->output_shape(shapes_.back());
    } catch (const shape_error& e) {
      throw shape_error("layer " + std::to_string(index) + " " + e.what());
    }
    // Keeps every later size product (buffers, summaries) far from overflow.
    const double values = static_cast<double>(out[0]) * static_cast<double>(out[1]) * static_cast<double>(out[2]);
    if (out[0] < 1 || out[1] < 1 || out[2] < 1 || values > 2147483648.0) {
      throw shape_error("layer " + std::to_string(index) + " " + layer->describe() + ": output " + to_string(out) +
                        " is empty or larger than 2^31 values per sample");
    }
    for (auto& p : layer->params()) {
      p.name = std::to_string(index) + "." + p.name;
      params_.push_back(std::move(p));
    }
    // A ReLU right after a layer that can apply it: that layer does (see above).
    FusesReLU<T>* fusing = layers_.empty() ? nullptr : dynamic_cast<FusesReLU<T>*>(layers_.back().get());
    if (fusing != nullptr && dynamic_cast<ReLU<T>*>(layer.get()) != nullptr) {
      fused_relu_.back() = fusing;
    }
    reshape_only_.push_back(dynamic_cast<Flatten<T>*>(layer.get()) != nullptr);
    layers_.push_back(std::move(layer));
    fused_relu_.push_back(nullptr);
    shapes_.push_back(out);
    activations_.emplace_back();
    outputs_.emplace_back();
    gradients_.emplace_back();
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

  /// Number of layers.
  std::size_t size() const { return layers_.size(); }
  /// Layer i, in the order added; throws std::out_of_range when i >= size().
  Layer<T>& layer(std::size_t i) { return *layers_.at(i); }
  /// Layer i, read-only; throws std::out_of_range when i >= size().
  const Layer<T>& layer(std::size_t i) const { return *layers_.at(i); }
  /// The per-sample input shape [C, H, W] given to the constructor.
  const SampleShape& input_shape() const { return shapes_.front(); }
  /// The per-sample output shape of the last layer (the input shape while there is none).
  const SampleShape& output_shape() const { return shapes_.back(); }
  /// Output shape of layer i (shape_after(0) is the first layer's output);
  /// throws std::out_of_range when i >= size().
  const SampleShape& shape_after(std::size_t i) const { return shapes_.at(i + 1); }

  /// Every trainable tensor, named "<layer index>.<name>" ("0.weight").
  /// The views write into the layers, so an optimiser can update them through a const network.
  const std::vector<Parameter<T>>& params() const { return params_; }
  /// Total number of trainable values, over every parameter.
  Index parameter_count() const {
    Index n = 0;
    for (const auto& p : params_) n += p.value.size();
    return n;
  }
  /// Sets every parameter gradient to zero (backward accumulates into them).
  void zero_grad() { zero_gradients(params_); }

  /// Training mode turns on Dropout and makes forward keep what backward needs.
  /// A new network is in training mode.
  void set_training(bool training) { training_ = training; }
  /// True in training mode.
  bool training() const { return training_; }

  /// x: [N, ...input_shape] -> [N, ...output_shape]. The result is a view of a
  /// buffer the network owns, valid until the next forward. x must stay alive
  /// until backward (the first layer's backward reads it).
  /// Throws state_error for a network with no layers and shape_error for an
  /// input of another sample shape or N = 0.
  TensorView<const T, 4> forward(TensorView<const T, 4> x) {
    if (layers_.empty()) throw state_error("Sequential::forward: the network has no layers");
    if (sample_shape(x.shape()) != input_shape() || x.dim(0) <= 0) {
      throw shape_error("Sequential::forward: input " + to_string(x.shape()) + ", expected [N, " +
                        std::to_string(input_shape()[0]) + ", " + std::to_string(input_shape()[1]) + ", " +
                        std::to_string(input_shape()[2]) + "] with N > 0");
    }
    input_ = x;
    TensorView<const T, 4> current = x;
    for (std::size_t i = 0; i < layers_.size(); ++i) {
      const Shape<4> shape = batch_shape(x.dim(0), shapes_[i + 1]);
      if (reshape_only_[i]) {
        current = current.reshape(shape);
      } else if (fused_relu_[i] != nullptr) {
        // Layer i + ReLU i+1: layer i's own output is never written, backward
        // needs only the ReLU's.
        FusesReLU<T>* fusing = fused_relu_[i++];
        activations_[i].resize(batch_shape(x.dim(0), shapes_[i + 1]));
        fusing->forward_relu(current, activations_[i]);
        current = activations_[i];
      } else {
        activations_[i].resize(shape);
        layers_[i]->forward(current, activations_[i], training_);
        current = activations_[i];
      }
      outputs_[i] = current;
    }
    forwarded_ = true;
    return current;
  }

  /// Class probabilities [N, K] in inference mode: the softmax of the output,
  /// unless the network already ends in a Softmax layer. Allocates the result.
  /// K is the output's C*H*W; the training mode is restored afterwards, and
  /// errors are forward's.
  Tensor<T, 2> predict(TensorView<const T, 4> x) {
    const bool was_training = training_;
    training_ = false;
    TensorView<const T, 4> out;
    try {
      out = forward(x);
    } catch (...) {
      training_ = was_training;
      throw;
    }
    training_ = was_training;
    const Index classes = shape_size(output_shape());
    auto scores = out.reshape(Shape<2>{x.dim(0), classes});
    Tensor<T, 2> probabilities(scores.shape());
    if (layers_.back()->spec().type == "Softmax") {
      probabilities.copy_from(scores);
    } else {
      softmax_forward<T>(scores, probabilities);
    }
    return probabilities;
  }

  /// From the gradient of the loss with respect to the last forward's output:
  /// accumulates every parameter gradient (call zero_grad() between steps).
  /// Throws state_error before any forward and shape_error when doutput's
  /// shape is not the last output's.
  void backward(TensorView<const T, 4> doutput) { backward(doutput, TensorView<T, 4>()); }

  /// As backward(doutput), and also writes the gradient with respect to the
  /// last forward's input into `dinput` (its shape; empty: not wanted), for
  /// gradient checks and saliency maps. Throws as backward(doutput), and
  /// shape_error when dinput is neither empty nor of the input's shape.
  void backward(TensorView<const T, 4> doutput, TensorView<T, 4> dinput) {
    if (!forwarded_) throw state_error("Sequential::backward: called before forward");
    const Shape<4> expected = outputs_.back().shape();
    if (doutput.shape() != expected) {
      throw shape_error("Sequential::backward: gradient " + to_string(doutput.shape()) + " does not match the output " +
                        to_string(expected));
    }
    if (!dinput.empty() && dinput.shape() != input_.shape()) {
      throw shape_error("Sequential::backward: input gradient " + to_string(dinput.shape()) +
                        " does not match the input " + to_string(input_.shape()));
    }
    // A reshape-only layer has no backward: the layer after it writes its dx
    // straight into the gradient buffer of the layer before it.
    bool last = true;  // no layer after k computes anything yet
    for (std::size_t k = layers_.size(); k-- > 0;) {
      if (reshape_only_[k]) continue;
      const TensorView<const T, 4> output = outputs_[k];
      const TensorView<const T, 4> dy = last ? doutput.reshape(output.shape()) : TensorView<const T, 4>(gradients_[k]);
      last = false;
      const bool fused = k > 0 && fused_relu_[k - 1] != nullptr;  // layer k: a ReLU that layer k-1 applied
      if (fused) --k;
      const TensorView<const T, 4> x = k == 0 ? input_ : outputs_[k - 1];
      std::size_t below = k;  // the layer whose output gradient dx is, past reshapes
      while (below > 0 && reshape_only_[below - 1]) --below;
      TensorView<T, 4> dx;  // empty: nobody needs the gradient of the input data
      if (below > 0) {
        gradients_[below - 1].resize(batch_shape(x.dim(0), shapes_[below]));
        dx = TensorView<T, 4>(gradients_[below - 1]).reshape(x.shape());
      } else if (!dinput.empty()) {
        dx = dinput.reshape(x.shape());
      }
      if (fused) {
        fused_relu_[k]->backward_relu(x, output, dy, dx);
      } else {
        layers_[k]->backward(x, output, dy, dx);
      }
    }
    // Only reshapes: the input's gradient is the output's, reshaped.
    if (last && !dinput.empty()) dinput.copy_from(doutput.reshape(dinput.shape()));
  }

  /// Keras-style table: layer, output shape, parameters, FLOPs; then totals.
  /// The totals give parameter memory, the activation memory of training at
  /// `batch_size` (the input and every output the network stores, each with
  /// its gradient: a Flatten's is a view of its input, and a layer that
  /// applies the ReLU after it keeps only the ReLU's) and forward FLOPs per image.
  std::string summary(Index batch_size = 1) const {
    std::ostringstream out;
    const int name_width = 40;
    auto shape_text = [](const SampleShape& s) {
      // A feature vector [F, 1, 1] reads better as [F].
      if (s[1] == 1 && s[2] == 1) return "[" + std::to_string(s[0]) + "]";
      return to_string(s);
    };
    auto row = [&](const std::string& name, const std::string& shape, const std::string& params,
                   const std::string& flops) {
      out << std::left << std::setw(name_width) << name << std::setw(16) << shape << std::right << std::setw(12)
          << params << std::setw(14) << flops << '\n';
    };
    row("Layer", "Output shape", "Params", "FLOPs");
    out << std::string(name_width + 42, '-') << '\n';
    row("input", shape_text(input_shape()), "0", "0");
    double total_flops = 0;
    Index activation_values = shape_size(input_shape());
    for (std::size_t i = 0; i < layers_.size(); ++i) {
      const double flops = layers_[i]->flops_per_sample(shapes_[i]);
      total_flops += flops;
      if (!reshape_only_[i] && fused_relu_[i] == nullptr) activation_values += shape_size(shapes_[i + 1]);
      row(std::to_string(i) + " " + layers_[i]->describe(), shape_text(shapes_[i + 1]),
          grouped(layer_parameter_count(i)), grouped(static_cast<Index>(flops)));
    }
    out << std::string(name_width + 42, '=') << '\n';
    out << "Total parameters: " << grouped(parameter_count()) << " (" << format_bytes(parameter_count() * sizeof(T))
        << ")\n";
    // Training keeps each activation and its gradient: two values per element.
    out << "Activation memory, batch " << batch_size << ": "
        << format_bytes(2 * activation_values * batch_size * static_cast<Index>(sizeof(T)))
        << " (forward + backward)\n";
    out << "Forward FLOPs per image: " << grouped(static_cast<Index>(total_flops)) << '\n';
    return out.str();
  }

 private:
  Index layer_parameter_count(std::size_t i) const {
    const std::string prefix = std::to_string(i) + ".";
    Index n = 0;
    for (const auto& p : params_) {
      if (p.name.compare(0, prefix.size(), prefix) == 0) n += p.value.size();
    }
    return n;
  }
  static std::string grouped(Index n) {
    std::string digits = std::to_string(n);
    for (int i = static_cast<int>(digits.size()) - 3; i > 0; i -= 3) digits.insert(static_cast<std::size_t>(i), ",");
    return digits;
  }
  static std::string format_bytes(Index bytes) {
    char text[32];
    if (bytes >= (1 << 20)) {
      std::snprintf(text, sizeof text, "%.2f MB", static_cast<double>(bytes) / (1 << 20));
    } else {
      std::snprintf(text, sizeof text, "%.1f KB", static_cast<double>(bytes) / (1 << 10));
    }
    return text;
  }

  std::vector<LayerPtr<T>> layers_;
  std::vector<FusesReLU<T>*> fused_relu_;  // [i]: layer i, when it applies the ReLU that is layer i+1
  std::vector<bool> reshape_only_;         // [i]: layer i is a Flatten, passed as a view
  std::vector<SampleShape> shapes_;        // shapes_[0] is the input, shapes_[i + 1] layer i's output
  std::vector<Parameter<T>> params_;
  std::vector<Tensor<T, 4>> activations_;        // output of layer i (unused for a reshape or a fused layer)
  std::vector<TensorView<const T, 4>> outputs_;  // layer i's output as the next layer sees it, from forward
  std::vector<Tensor<T, 4>> gradients_;          // loss gradient with respect to layer i's output
  TensorView<const T, 4> input_;
  bool training_ = true;
  bool forwarded_ = false;
};

}  // namespace fovea
