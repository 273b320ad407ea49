#pragma once

/// @file
/// Adam with bias correction; weight decay either coupled (L2 added to the
/// gradient, as in the original Adam) or decoupled (AdamW: the weight shrinks
/// directly, independent of the adaptive scaling). At step t:
/// @verbatim
///   g <- g + weight_decay * w                       (coupled only)
///   m <- beta1 * m + (1 - beta1) * g
///   v <- beta2 * v + (1 - beta2) * g^2
///   w <- w - lr * (m / (1 - beta1^t)) / (sqrt(v / (1 - beta2^t)) + epsilon)
///   w <- w - lr * weight_decay * w                   (decoupled only, before the step)
/// @endverbatim

#include <cmath>
#include <sstream>

#include "fovea/optim/optimizer.hpp"

namespace fovea {

/// The settings of Adam and AdamW.
struct AdamOptions {
  double learning_rate = 0.001;  ///< lr; must be positive.
  double beta1 = 0.9;            ///< Decay of the first moment m; in [0, 1).
  double beta2 = 0.999;          ///< Decay of the second moment v; in [0, 1).
  double epsilon = 1e-8;         ///< Added to sqrt(v) so the division stays finite; must be positive.
  double weight_decay = 0.0;     ///< Weight decay factor (coupled: added to the gradient buffer in place); in [0, 1).
  bool decoupled_weight_decay = false;  ///< true: AdamW
};

/// Adam (AdamW with decoupled_weight_decay): two buffers per parameter, the
/// moments m and v.
template <class T>
class Adam : public Optimizer<T> {
 public:
  /// Updates `params`; throws value_error for a learning rate or epsilon that
  /// is not positive and finite, or a beta or weight decay outside [0, 1).
  Adam(std::vector<Parameter<T>> params, const AdamOptions& options)
      : Optimizer<T>(std::move(params), options.learning_rate), options_(options) {
    detail::require_in_range("Adam", "beta1", options.beta1, 0, 1, false);
    detail::require_in_range("Adam", "beta2", options.beta2, 0, 1, false);
    detail::require_in_range("Adam", "weight_decay", options.weight_decay, 0, 1, false);
    detail::require_epsilon("Adam", options.epsilon);
    this->allocate_state(2);
  }

  std::string describe() const override {
    std::ostringstream out;
    out << (options_.decoupled_weight_decay ? "AdamW" : "Adam") << "(lr=" << this->learning_rate_
        << ", betas=" << options_.beta1 << "/" << options_.beta2 << ", weight_decay=" << options_.weight_decay << ")";
    return out.str();
  }

  void step() override {
    ++this->steps_;
    const double t = static_cast<double>(this->steps_);
    const T lr = static_cast<T>(this->learning_rate_);
    const T b1 = static_cast<T>(options_.beta1);
    const T b2 = static_cast<T>(options_.beta2);
    const T correction1 = static_cast<T>(1 - std::pow(options_.beta1, t));
    const T correction2 = static_cast<T>(1 - std::pow(options_.beta2, t));
    const T eps = static_cast<T>(options_.epsilon);
    const T decay = static_cast<T>(options_.weight_decay);
    this->for_each_parameter_range([&](std::size_t i, Index begin, Index end) {
      auto w = this->params_[i].value.slice(begin, end).array();
      auto g = this->params_[i].grad.slice(begin, end).array();
      auto m = this->buffer(0, i).slice(begin, end).array();
      auto v = this->buffer(1, i).slice(begin, end).array();
      if (decay != 0) {
        if (options_.decoupled_weight_decay) {
          w *= T{1} - lr * decay;
        } else {
          g += decay * w;
        }
      }
      m = b1 * m + (T{1} - b1) * g;
      v = b2 * v + (T{1} - b2) * g.square();
      w -= lr * (m / correction1) / ((v / correction2).sqrt() + eps);
    });
  }

 private:
  AdamOptions options_;
};

}  // namespace fovea
