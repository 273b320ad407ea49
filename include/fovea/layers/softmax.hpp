#pragma once

/// @file
/// Softmax and LogSoftmax over the channels of a feature vector,
/// x: [N, C, 1, 1] -> y: [N, C, 1, 1] (flatten image features first). The
/// arithmetic, on the [N, C] view, is ops/softmax.hpp. To train a classifier
/// prefer SoftmaxCrossEntropy on the logits (train/loss.hpp): it fuses the two
/// steps and stays finite where softmax underflows.

#include <string>

#include "fovea/detail/layer_spec.hpp"
#include "fovea/layers/layer.hpp"
#include "fovea/ops/softmax.hpp"

namespace fovea {
namespace detail {

// The shared shell: shape checks and the [N, C, 1, 1] <-> [N, C] views.
// `Log` picks log-softmax.
template <class T, bool Log>
class SoftmaxLayer : public Layer<T> {
 public:
  std::string describe() const override { return name(); }
  LayerSpec spec() const override { return {name(), {}}; }

  SampleShape output_shape(const SampleShape& input) const override {
    if (input[1] != 1 || input[2] != 1) {
      throw shape_error(std::string(name()) + "::output_shape: input " + to_string(input) +
                        ", expected [C, 1, 1] (flatten the features first)");
    }
    return input;
  }
  // exp, subtract, add and divide (or log) per element.
  double flops_per_sample(const SampleShape& input) const override {
    return 4 * static_cast<double>(shape_size(input));
  }

  using Layer<T>::forward;
  using Layer<T>::backward;

  void forward(TensorView<const T, 4> x, TensorView<T, 4> y, LayerContext<T>& context) const override {
    context.record.record(name(), x.shape(), output_shape(sample_shape(x.shape())), y.shape());
    if constexpr (Log) {
      log_softmax_forward(rows(x), rows(y));
    } else {
      softmax_forward(rows(x), rows(y));
    }
  }
  void backward(TensorView<const T, 4> x, TensorView<const T, 4> y, TensorView<const T, 4> dy, TensorView<T, 4> dx,
                LayerContext<T>& context) const override {
    context.record.check_backward(name(), x.shape(), dy.shape(), dx.shape());
    if (dx.empty()) return;
    if constexpr (Log) {
      log_softmax_backward(rows(y), rows(dy), rows(dx));
    } else {
      softmax_backward(rows(y), rows(dy), rows(dx));
    }
  }

 private:
  static const char* name() { return Log ? "LogSoftmax" : "Softmax"; }
  // [N, C, 1, 1] -> [N, C], no copy.
  template <class U>
  static TensorView<U, 2> rows(TensorView<U, 4> t) {
    return t.reshape(Shape<2>{t.dim(0), t.dim(1)});
  }
};

}  // namespace detail

/// y = exp(x - max) / sum(exp(x - max)) over C for each sample.
template <class T>
class Softmax final : public detail::SoftmaxLayer<T, false> {
 public:
  /// Rebuilds from spec(); throws format_error for a spec of another type.
  static Softmax from_spec(const LayerSpec& spec) {
    detail::require_spec_type(spec, "Softmax");
    return {};
  }
  /// Its outputs are class probabilities: predict() passes them on as they are.
  bool outputs_probabilities() const override { return true; }
};

/// y = x - max - log(sum(exp(x - max))) over C for each sample.
template <class T>
class LogSoftmax final : public detail::SoftmaxLayer<T, true> {
 public:
  /// Rebuilds from spec(); throws format_error for a spec of another type.
  static LogSoftmax from_spec(const LayerSpec& spec) {
    detail::require_spec_type(spec, "LogSoftmax");
    return {};
  }
};

}  // namespace fovea
