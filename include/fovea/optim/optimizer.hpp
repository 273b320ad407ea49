#pragma once

// The optimizer contract: it is built over a network's parameters, reads their
// accumulated gradients in step(), and keeps per-parameter state (velocity,
// moments) that checkpoints save and restore so training resumes exactly.

#include <string>
#include <utility>
#include <vector>

#include "fovea/core/error.hpp"
#include "fovea/core/tensor.hpp"
#include "fovea/layers/layer.hpp"

namespace fovea {

template <class T>
class Optimizer {
 public:
  Optimizer(std::vector<Parameter<T>> params, double learning_rate)
      : params_(std::move(params)), learning_rate_(learning_rate) {
    if (!(learning_rate > 0)) {
      throw value_error("optimizer: learning rate must be positive, got " + std::to_string(learning_rate));
    }
  }
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;
  Optimizer(Optimizer&&) noexcept = default;
  Optimizer& operator=(Optimizer&&) noexcept = default;
  virtual ~Optimizer() = default;

  // "SGD(lr=0.01, momentum=0.9)".
  virtual std::string describe() const = 0;
  // Applies one update from the current gradients.
  virtual void step() = 0;

  void zero_grad() {
    for (auto& p : params_) p.grad.fill(T{0});
  }
  double learning_rate() const { return learning_rate_; }
  void set_learning_rate(double rate) {
    if (!(rate > 0)) throw value_error("optimizer: learning rate must be positive, got " + std::to_string(rate));
    learning_rate_ = rate;
  }
  Index steps() const { return steps_; }
  const std::vector<Parameter<T>>& params() const { return params_; }

  // Per-parameter state buffers, in a fixed order, for checkpoints.
  std::vector<Tensor<T, 1>>& state() { return state_; }
  const std::vector<Tensor<T, 1>>& state() const { return state_; }
  void set_steps(Index steps) { steps_ = steps; }

 protected:
  // Allocates `buffers_per_param` zeroed state tensors per parameter.
  void allocate_state(int buffers_per_param) {
    for (int b = 0; b < buffers_per_param; ++b) {
      for (const auto& p : params_) state_.emplace_back(Shape<1>{p.value.size()});
    }
  }
  // State buffer b of parameter i.
  Tensor<T, 1>& buffer(int b, std::size_t i) { return state_[static_cast<std::size_t>(b) * params_.size() + i]; }

  std::vector<Parameter<T>> params_;
  std::vector<Tensor<T, 1>> state_;
  double learning_rate_;
  Index steps_ = 0;
};

namespace detail {
inline void require_in_range(const char* optimizer, const char* name, double value, double lo, double hi,
                             bool hi_inclusive) {
  const bool ok = value >= lo && (hi_inclusive ? value <= hi : value < hi);
  if (!ok) {
    throw value_error(std::string(optimizer) + ": " + name + " must be in [" + std::to_string(lo) + ", " +
                      std::to_string(hi) + (hi_inclusive ? "]" : ")") + ", got " + std::to_string(value));
  }
}
}  // namespace detail

}  // namespace fovea
