#pragma once

/// @file
/// Learning-rate schedules: the rate for an epoch (counted from 0) as a factor
/// of the base rate. The training loop applies it before each epoch.
/// @verbatim
///   constant:  1
///   step:      gamma ^ floor(epoch / every)
///   cosine:    floor + (1 - floor) * (1 + cos(pi * epoch / epochs)) / 2
/// @endverbatim

#include <cmath>
#include <numbers>
#include <string>

#include "fovea/core/error.hpp"
#include "fovea/detail/number_format.hpp"

namespace fovea {

/// A learning-rate schedule: one of the kinds above, built by its named constructor.
class Schedule {
 public:
  /// The base rate throughout.
  static Schedule constant() { return Schedule(Kind::constant, 1, 1.0, 0.0); }
  /// Multiplies the rate by `gamma` every `every` epochs; throws value_error
  /// unless every > 0 and gamma is in (0, 1].
  static Schedule step(int every, double gamma) {
    if (every <= 0) throw value_error("Schedule::step: every must be positive, got " + std::to_string(every));
    if (!(gamma > 0 && gamma <= 1))
      throw value_error("Schedule::step: gamma must be in (0, 1], got " + detail::format_number(gamma));
    return Schedule(Kind::step, every, gamma, 0.0);
  }
  /// Anneals from the base rate to floor_fraction * base over `epochs` epochs
  /// and stays there; throws value_error unless epochs > 0 and floor_fraction is in [0, 1].
  static Schedule cosine(int epochs, double floor_fraction = 0.0) {
    if (epochs <= 0) throw value_error("Schedule::cosine: epochs must be positive, got " + std::to_string(epochs));
    if (!(floor_fraction >= 0 && floor_fraction <= 1)) {
      throw value_error("Schedule::cosine: floor_fraction must be in [0, 1], got " +
                        detail::format_number(floor_fraction));
    }
    return Schedule(Kind::cosine, epochs, 0.0, floor_fraction);
  }

  /// The factor for `epoch` (counted from 0) that multiplies the base rate.
  double factor(int epoch) const {
    switch (kind_) {
      case Kind::constant:
        return 1.0;
      case Kind::step:
        return std::pow(gamma_, epoch / period_);
      case Kind::cosine: {
        const double progress = std::min(1.0, static_cast<double>(epoch) / period_);
        return floor_ + (1 - floor_) * 0.5 * (1 + std::cos(std::numbers::pi * progress));
      }
    }
    return 1.0;
  }

  /// "constant", "step(every=..., gamma=...)" or "cosine(epochs=...)".
  std::string describe() const {
    switch (kind_) {
      case Kind::constant:
        return "constant";
      case Kind::step:
        return "step(every=" + std::to_string(period_) + ", gamma=" + detail::format_number(gamma_) + ")";
      case Kind::cosine:
        return "cosine(epochs=" + std::to_string(period_) + ")";
    }
    return "";
  }

 private:
  enum class Kind { constant, step, cosine };
  Schedule(Kind kind, int period, double gamma, double floor)
      : kind_(kind), period_(period), gamma_(gamma), floor_(floor) {}

  Kind kind_;
  int period_;
  double gamma_;
  double floor_;
};

}  // namespace fovea
