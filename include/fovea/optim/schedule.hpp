#pragma once

// Learning-rate schedules: the rate for an epoch (counted from 0) as a factor
// of the base rate. The training loop applies it before each epoch.
//   constant:  1
//   step:      gamma ^ floor(epoch / every)
//   cosine:    floor + (1 - floor) * (1 + cos(pi * epoch / epochs)) / 2

#include <cmath>
#include <numbers>
#include <string>

#include "fovea/core/error.hpp"

namespace fovea {

class Schedule {
 public:
  static Schedule constant() { return Schedule(Kind::constant, 1, 1.0, 0.0); }
  static Schedule step(int every, double gamma) {
    if (every <= 0) throw value_error("Schedule::step: every must be positive, got " + std::to_string(every));
    if (!(gamma > 0 && gamma <= 1))
      throw value_error("Schedule::step: gamma must be in (0, 1], got " + std::to_string(gamma));
    return Schedule(Kind::step, every, gamma, 0.0);
  }
  // Anneals from the base rate to floor_fraction * base over `epochs` epochs.
  static Schedule cosine(int epochs, double floor_fraction = 0.0) {
    if (epochs <= 0) throw value_error("Schedule::cosine: epochs must be positive, got " + std::to_string(epochs));
    if (!(floor_fraction >= 0 && floor_fraction <= 1)) {
      throw value_error("Schedule::cosine: floor_fraction must be in [0, 1], got " + std::to_string(floor_fraction));
    }
    return Schedule(Kind::cosine, epochs, 0.0, floor_fraction);
  }

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

  std::string describe() const {
    switch (kind_) {
      case Kind::constant:
        return "constant";
      case Kind::step:
        return "step(every=" + std::to_string(period_) + ", gamma=" + std::to_string(gamma_) + ")";
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
