#pragma once

/// @file
/// Dropout(p, seed): inverted dropout, x: [N, C, H, W] -> y: same shape. Active
/// only when forward is called with training = true; at inference it is the
/// identity. The mask comes from the layer's own generator, seeded at
/// construction, so a run is reproducible. Arithmetic: ops/dropout.hpp.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <utility>

#include "fovea/core/random.hpp"
#include "fovea/detail/layer_spec.hpp"
#include "fovea/detail/number_format.hpp"
#include "fovea/layers/layer.hpp"
#include "fovea/ops/dropout.hpp"

namespace fovea {

/// Inverted dropout: in training each element is zeroed with probability p and
/// the survivors scaled by 1 / (1 - p), so inference needs no rescaling.
template <class T>
class Dropout final : public Layer<T> {
 public:
  /// Drops with probability `p`, which must be in [0, 1) (value_error
  /// otherwise); `seed` seeds the layer's own generator.
  explicit Dropout(double p = 0.5, std::uint64_t seed = 0)
      : p_(p), seed_(seed), rng_(seed), name_("Dropout(" + detail::format_number(p) + ")") {
    validate_dropout_probability("Dropout", p);
  }

  /// Settings p and seed. A double holds whole numbers up to 2^53 exactly, so
  /// a larger seed is written as its two 32-bit halves, "seed" (low) and
  /// "seed_high". Throws format_error for a spec of another type, a missing
  /// setting or a seed (or half) that is not a whole number in range.
  static Dropout from_spec(const LayerSpec& spec) {
    detail::require_spec_type(spec, "Dropout");
    const bool halves = std::any_of(spec.values.begin(), spec.values.end(),
                                    [](const auto& setting) { return setting.first == "seed_high"; });
    // Below `limit`, exclusive; files of earlier versions may hold any whole
    // "seed" below 2^64 that a double can hold.
    const auto whole = [&](const char* key, double limit, const char* range) {
      const double value = spec.get(key);
      if (!(value >= 0 && value < limit) || value != std::trunc(value)) {
        throw format_error(std::string("Dropout: setting '") + key + "' is " + detail::format_number(value) +
                           ", expected a whole number in " + range);
      }
      return static_cast<std::uint64_t>(value);
    };
    const std::uint64_t seed =
        halves ? (whole("seed_high", 4294967296.0, "[0, 2^32)") << 32) | whole("seed", 4294967296.0, "[0, 2^32)")
               : whole("seed", 18446744073709551616.0, "[0, 2^64)");
    return Dropout(spec.get("p"), seed);
  }

  std::string describe() const override { return name_; }
  LayerSpec spec() const override {
    constexpr std::uint64_t exact = std::uint64_t{1} << 53;  // every whole double up to here is exact
    if (seed_ <= exact) return {"Dropout", {{"p", p_}, {"seed", static_cast<double>(seed_)}}};
    return {"Dropout",
            {{"p", p_},
             {"seed", static_cast<double>(seed_ & 0xFFFFFFFFU)},
             {"seed_high", static_cast<double>(seed_ >> 32)}}};
  }
  /// The drop probability.
  double p() const { return p_; }

  SampleShape output_shape(const SampleShape& input) const override { return input; }
  Rng* rng() override { return &rng_; }
  double flops_per_sample(const SampleShape& input) const override {
    return static_cast<double>(shape_size(input));  // one multiply per element
  }

  void forward(TensorView<const T, 4> x, TensorView<T, 4> y, bool training) override {
    record_.record(name_, x.shape(), sample_shape(x.shape()), y.shape());
    last_forward_trained_ = training;
    if (!training) {
      if (y.data() != x.data()) y.copy_from(x);
      return;
    }
    if (!(mask_frozen_ && mask_.shape() == x.shape())) {
      mask_.resize(x.shape());  // keeps its storage: no allocation once sized
      dropout_mask(rng_, p_, mask_.flatten());
    }
    dropout_forward(x.flatten(), std::as_const(mask_).flatten(), y.flatten());
  }

  void backward(TensorView<const T, 4> x, TensorView<const T, 4> /*y*/, TensorView<const T, 4> dy,
                TensorView<T, 4> dx) override {
    record_.check_backward(name_, x.shape(), dy.shape(), dx.shape());
    if (dx.empty()) return;
    if (!last_forward_trained_) {
      if (dx.data() != dy.data()) dx.copy_from(dy);
      return;
    }
    dropout_backward(std::as_const(mask_).flatten(), dy.flatten(), dx.flatten());
  }

  /// While frozen, training forwards reuse the current mask instead of drawing
  /// a new one (a mask is drawn first if none of the input's shape exists).
  /// Gradient checks need this: they call forward many times and must see the
  /// same function each time.
  void freeze_mask(bool frozen) { mask_frozen_ = frozen; }
  /// Whether the mask is frozen (see freeze_mask()).
  bool mask_frozen() const { return mask_frozen_; }
  /// The factors of the last training forward: 0 or 1 / (1 - p), x's shape.
  TensorView<const T, 4> mask() const { return mask_.view(); }

 private:
  double p_;
  std::uint64_t seed_;
  Rng rng_;
  std::string name_;  // describe(), built once
  Tensor<T, 4> mask_;
  bool mask_frozen_ = false;
  bool last_forward_trained_ = false;
  ForwardRecord record_;
};

}  // namespace fovea
