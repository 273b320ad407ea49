#pragma once

/// @file
/// Stochastic gradient descent with momentum, Nesterov momentum and (coupled,
/// L2) weight decay. With g the gradient, w the weight, v the velocity:
/// @verbatim
///   g <- g + weight_decay * w
///   v <- momentum * v + g
///   w <- w - lr * (g + momentum * v)   (Nesterov)
///   w <- w - lr * v                    (classical momentum; plain SGD when momentum = 0)
/// @endverbatim

#include <sstream>

#include "fovea/optim/optimizer.hpp"

namespace fovea {

/// The settings of SGD.
struct SgdOptions {
  double learning_rate = 0.01;  ///< lr; must be positive.
  double momentum = 0.0;        ///< Velocity decay; in [0, 1), 0 for plain SGD.
  bool nesterov = false;        ///< Nesterov momentum; needs momentum > 0.
  double weight_decay = 0.0;    ///< L2 factor, added to the gradient buffer in place; in [0, 1).
};

/// SGD: one buffer per parameter, the velocity v (unused while momentum is 0).
template <class T>
class Sgd : public Optimizer<T> {
 public:
  /// Updates `params`; throws value_error for a learning rate that is not
  /// positive, a momentum or weight decay outside [0, 1), or Nesterov without momentum.
  Sgd(std::vector<Parameter<T>> params, const SgdOptions& options)
      : Optimizer<T>(std::move(params), options.learning_rate), options_(options) {
    detail::require_in_range("SGD", "momentum", options.momentum, 0, 1, false);
    detail::require_in_range("SGD", "weight_decay", options.weight_decay, 0, 1, false);
    if (options.nesterov && options.momentum == 0) throw value_error("SGD: Nesterov momentum needs momentum > 0");
    this->allocate_state(1);
  }

  std::string describe() const override {
    std::ostringstream out;
    out << "SGD(lr=" << this->learning_rate_ << ", momentum=" << options_.momentum
        << (options_.nesterov ? ", nesterov" : "") << ", weight_decay=" << options_.weight_decay << ")";
    return out.str();
  }

  void step() override {
    const T lr = static_cast<T>(this->learning_rate_);
    const T mu = static_cast<T>(options_.momentum);
    const T decay = static_cast<T>(options_.weight_decay);
    this->for_each_parameter_range([&](std::size_t i, Index begin, Index end) {
      auto w = this->params_[i].value.slice(begin, end).array();
      auto g = this->params_[i].grad.slice(begin, end).array();
      auto v = this->buffer(0, i).slice(begin, end).array();
      if (decay != 0) g += decay * w;
      if (mu == 0) {
        w -= lr * g;
      } else if (options_.nesterov) {
        v = mu * v + g;
        w -= lr * (g + mu * v);
      } else {
        v = mu * v + g;
        w -= lr * v;
      }
    });
    ++this->steps_;
  }

  /// The settings this optimizer was built with (the learning rate there is
  /// the initial one; see learning_rate()).
  const SgdOptions& options() const { return options_; }

 private:
  SgdOptions options_;
};

}  // namespace fovea
