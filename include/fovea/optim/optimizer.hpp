#pragma once

/// @file
/// The optimizer contract: it is built over a network's parameters, reads their
/// accumulated gradients in step(), and keeps per-parameter state (velocity,
/// moments) that checkpoints save and restore so training resumes exactly.

#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "fovea/core/error.hpp"
#include "fovea/core/parallel.hpp"
#include "fovea/core/tensor.hpp"
#include "fovea/detail/number_format.hpp"
#include "fovea/layers/layer.hpp"

namespace fovea {

/// The abstract base of every optimizer over parameters of element type T. It
/// updates the values behind the Parameter views in place.
template <class T>
class Optimizer {
 public:
  /// Works on `params` (views: the layers keep owning the tensors); throws
  /// value_error unless `learning_rate` is positive and finite in T.
  Optimizer(std::vector<Parameter<T>> params, double learning_rate)
      : params_(std::move(params)), learning_rate_(learning_rate) {
    require_rate(learning_rate);
  }
  /// Not copyable: a copy would share the parameter views but not the state.
  Optimizer(const Optimizer&) = delete;
  /// Not copyable: see the copy constructor.
  Optimizer& operator=(const Optimizer&) = delete;
  /// Movable: the parameter views and the state move along.
  Optimizer(Optimizer&&) noexcept = default;
  /// Movable: the parameter views and the state move along.
  Optimizer& operator=(Optimizer&&) noexcept = default;
  /// Virtual: optimizers are used through Optimizer references.
  virtual ~Optimizer() = default;

  /// "SGD(lr=0.01, momentum=0.9)".
  virtual std::string describe() const = 0;
  /// Applies one update from the current gradients.
  virtual void step() = 0;

  /// Sets every parameter's gradient to zero (backward accumulates into them).
  void zero_grad() { zero_gradients(params_); }
  /// The rate the next step() uses.
  double learning_rate() const { return learning_rate_; }
  /// Changes the rate (schedules do this each epoch); throws value_error unless
  /// `rate` is positive and finite in T.
  void set_learning_rate(double rate) {
    require_rate(rate);
    learning_rate_ = rate;
  }
  /// How many updates have been applied (restored from checkpoints).
  Index steps() const { return steps_; }
  /// The parameters this optimizer updates.
  const std::vector<Parameter<T>>& params() const { return params_; }

  /// Per-parameter state buffers, in a fixed order, for checkpoints.
  std::vector<Tensor<T, 1>>& state() { return state_; }
  /// Per-parameter state buffers, in a fixed order, for checkpoints.
  const std::vector<Tensor<T, 1>>& state() const { return state_; }
  /// Sets the step count, e.g. when a checkpoint is restored (Adam's bias correction depends on it).
  void set_steps(Index steps) { steps_ = steps; }

 protected:
  /// Throws value_error unless `rate` is positive and stays finite as a T:
  /// the update multiplies by it in T, and an infinite rate (1e39 in float)
  /// would turn every weight it touches into infinity or NaN.
  static void require_rate(double rate) {
    if (!(rate > 0) || !std::isfinite(static_cast<T>(rate))) {
      throw value_error("optimizer: learning rate must be positive and finite, got " + detail::format_number(rate));
    }
  }
  /// Allocates `buffers_per_param` zeroed state tensors per parameter.
  void allocate_state(int buffers_per_param) {
    for (int b = 0; b < buffers_per_param; ++b) {
      for (const auto& p : params_) state_.emplace_back(Shape<1>{p.value.size()});
    }
  }
  /// Calls update(i, begin, end) over elements [begin, end) of parameter i,
  /// covering every element of every parameter once. Updates are elementwise,
  /// so each thread takes its piece of every parameter
  /// (detail::for_each_parameter_piece), with the same bits as in one pass.
  /// (Updated by one thread, the step would wait while that thread fetches
  /// every gradient the other cores have just written.)
  template <class Update>
  void for_each_parameter_range(Update&& update) {
    detail::for_each_parameter_piece(params_, update);
  }
  /// State buffer b of parameter i, with the parameter's size.
  Tensor<T, 1>& buffer(int b, std::size_t i) { return state_[static_cast<std::size_t>(b) * params_.size() + i]; }

  std::vector<Parameter<T>> params_;  ///< The parameters to update: views of the layers' tensors.
  std::vector<Tensor<T, 1>> state_;   ///< Buffer b of parameter i at index b * params_.size() + i.
  double learning_rate_;              ///< The current rate.
  Index steps_ = 0;                   ///< Updates applied so far; each subclass's step() increments it.
};

namespace detail {
// epsilon: positive (the division stays finite) and finite (an infinite one
// divides every update down to 0: the optimizer would silently do nothing).
inline void require_epsilon(const char* optimizer, double epsilon) {
  if (!(epsilon > 0) || !std::isfinite(epsilon)) {
    throw value_error(std::string(optimizer) + ": epsilon must be positive and finite, got " + std::to_string(epsilon));
  }
}
inline void require_in_range(const char* optimizer, const char* name, double value, double lo, double hi,
                             bool hi_inclusive) {
  const bool ok = value >= lo && (hi_inclusive ? value <= hi : value < hi);
  if (!ok) {
    throw value_error(std::string(optimizer) + ": " + name + " must be in [" + detail::format_number(lo) + ", " +
                      detail::format_number(hi) + (hi_inclusive ? "]" : ")") + ", got " + detail::format_number(value));
  }
}
}  // namespace detail

}  // namespace fovea
