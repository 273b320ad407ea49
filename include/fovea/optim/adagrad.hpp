#pragma once

/// @file
/// Adagrad: each weight's step shrinks with the sum of its squared gradients.
/// @verbatim
///   s <- s + g^2
///   w <- w - lr * g / (sqrt(s) + epsilon)
/// @endverbatim

#include <sstream>

#include "fovea/optim/optimizer.hpp"

namespace fovea {

/// The settings of Adagrad.
struct AdagradOptions {
  double learning_rate = 0.01;  ///< lr; must be positive.
  double epsilon = 1e-10;       ///< Added to sqrt(s) so the division stays finite; must be positive.
};

/// Adagrad: one buffer per parameter, the running sum of squared gradients.
template <class T>
class Adagrad : public Optimizer<T> {
 public:
  /// Updates `params`; throws value_error for a learning rate or epsilon that is not positive and finite.
  Adagrad(std::vector<Parameter<T>> params, const AdagradOptions& options)
      : Optimizer<T>(std::move(params), options.learning_rate), options_(options) {
    detail::require_epsilon("Adagrad", options.epsilon);
    this->allocate_state(1);
  }

  std::string describe() const override {
    std::ostringstream out;
    out << "Adagrad(lr=" << this->learning_rate_ << ")";
    return out.str();
  }

  void step() override {
    const T lr = static_cast<T>(this->learning_rate_);
    const T eps = static_cast<T>(options_.epsilon);
    this->for_each_parameter_range([&](std::size_t i, Index begin, Index end) {
      auto w = this->params_[i].value.slice(begin, end).array();
      auto g = this->params_[i].grad.slice(begin, end).array();
      auto s = this->buffer(0, i).slice(begin, end).array();
      s += g.square();
      w -= lr * g / (s.sqrt() + eps);
    });
    ++this->steps_;
  }

 private:
  AdagradOptions options_;
};

}  // namespace fovea
