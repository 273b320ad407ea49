#pragma once

/// @file
/// RMSprop: divide the step by a running root-mean-square of recent gradients.
/// @verbatim
///   s <- alpha * s + (1 - alpha) * g^2
///   w <- w - lr * g / (sqrt(s) + epsilon)
/// @endverbatim

#include <sstream>

#include "fovea/optim/optimizer.hpp"

namespace fovea {

/// The settings of RMSprop.
struct RmspropOptions {
  double learning_rate = 0.01;  ///< lr; must be positive.
  double alpha = 0.99;          ///< Decay of the running mean of g^2; in [0, 1).
  double epsilon = 1e-8;        ///< Added to sqrt(s) so the division stays finite; must be positive.
};

/// RMSprop: one buffer per parameter, the running mean of squared gradients.
template <class T>
class Rmsprop : public Optimizer<T> {
 public:
  /// Updates `params`; throws value_error for a learning rate or epsilon that
  /// is not positive and finite, or an alpha outside [0, 1).
  Rmsprop(std::vector<Parameter<T>> params, const RmspropOptions& options)
      : Optimizer<T>(std::move(params), options.learning_rate), options_(options) {
    detail::require_in_range("RMSprop", "alpha", options.alpha, 0, 1, false);
    detail::require_epsilon("RMSprop", options.epsilon);
    this->allocate_state(1);
  }

  std::string describe() const override {
    std::ostringstream out;
    out << "RMSprop(lr=" << this->learning_rate_ << ", alpha=" << options_.alpha << ")";
    return out.str();
  }

  void step() override {
    const T lr = static_cast<T>(this->learning_rate_);
    const T alpha = static_cast<T>(options_.alpha);
    const T eps = static_cast<T>(options_.epsilon);
    this->for_each_parameter_range([&](std::size_t i, Index begin, Index end) {
      auto w = this->params_[i].value.slice(begin, end).array();
      auto g = this->params_[i].grad.slice(begin, end).array();
      auto s = this->buffer(0, i).slice(begin, end).array();
      s = alpha * s + (T{1} - alpha) * g.square();
      w -= lr * g / (s.sqrt() + eps);
    });
    ++this->steps_;
  }

 private:
  RmspropOptions options_;
};

}  // namespace fovea
