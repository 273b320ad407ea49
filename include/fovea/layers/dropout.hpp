#pragma once

/// @file
/// Dropout(p, seed): inverted dropout, x: [N, C, H, W] -> y: same shape. Active
/// only in training forwards; at inference it is the identity. Each training
/// batch draws one key from the layer's own generator, seeded at construction,
/// so a run is reproducible; the mask of every element follows from that key
/// and the element's place in the batch, so a batch split into training lanes
/// gets the mask it would get whole. Arithmetic: ops/dropout.hpp.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
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
  using Layer<T>::forward;
  using Layer<T>::backward;

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

  std::unique_ptr<LayerContext<T>> make_context() const override { return std::make_unique<DropoutContext>(); }

  /// Draws the batch's mask key: one draw from the layer's generator, whatever
  /// the batch size. While the mask is frozen and a key exists, keeps it.
  void start_batch(Index /*batch*/) override {
    if (mask_frozen_ && has_key_) return;
    mask_key_ = rng_();
    has_key_ = true;
  }

  /// Training: y = x * mask, the mask of the batch's key at x's place in the
  /// batch (context.batch_offset); throws state_error when no batch was
  /// started (start_batch()). Inference: y = x.
  void forward(TensorView<const T, 4> x, TensorView<T, 4> y, LayerContext<T>& context) const override {
    auto& own = this->template context_as<DropoutContext>(context);
    own.record.record(name_, x.shape(), sample_shape(x.shape()), y.shape());
    own.trained = own.training;
    if (!own.training) {
      if (y.data() != x.data()) y.copy_from(x);
      return;
    }
    if (!has_key_) throw state_error(name_ + "::forward: a training forward before start_batch() drew a mask key");
    own.mask.resize(x.shape());  // keeps its storage: no allocation once sized
    const Index first = own.batch_offset * shape_size(sample_shape(x.shape()));
    dropout_mask_from_key(mask_key_, first, p_, own.mask.flatten());
    dropout_forward(x.flatten(), std::as_const(own.mask).flatten(), y.flatten());
  }

  /// dy -> dx = dy * mask after a training forward, dx = dy after an inference one.
  void backward(TensorView<const T, 4> x, TensorView<const T, 4> /*y*/, TensorView<const T, 4> dy, TensorView<T, 4> dx,
                LayerContext<T>& context) const override {
    const auto& own = this->template context_as<DropoutContext>(context);
    own.record.check_backward(name_, x.shape(), dy.shape(), dx.shape());
    if (dx.empty()) return;
    if (!own.trained) {
      if (dx.data() != dy.data()) dx.copy_from(dy);
      return;
    }
    dropout_backward(own.mask.flatten(), dy.flatten(), dx.flatten());
  }

  /// While frozen, training batches keep the current mask key instead of
  /// drawing a new one (a key is drawn first if none exists), so every
  /// training forward of an input shape applies the same mask. Gradient
  /// checks need this: they call forward many times and must see the same
  /// function each time.
  void freeze_mask(bool frozen) { mask_frozen_ = frozen; }
  /// Whether the mask is frozen (see freeze_mask()).
  bool mask_frozen() const { return mask_frozen_; }

 private:
  // What one execution writes: the forward's shapes, its mode and its mask.
  struct DropoutContext : LayerContext<T> {
    Tensor<T, 4> mask;     // the factors of the last training forward: 0 or 1 / (1 - p), x's shape
    bool trained = false;  // whether the last forward trained
  };

  double p_;
  std::uint64_t seed_;
  Rng rng_;
  std::string name_;            // describe(), built once
  std::uint64_t mask_key_ = 0;  // the current batch's: every mask of it follows from this
  bool has_key_ = false;        // whether start_batch() has drawn mask_key_
  bool mask_frozen_ = false;
};

}  // namespace fovea
