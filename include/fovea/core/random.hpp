#pragma once

/// @file
/// The one source of randomness: an explicit, seeded generator whose output is
/// the same on every platform and compiler. The standard distributions are
/// implementation-defined, so fovea derives uniform and normal numbers itself;
/// that is what makes "same seed -> same weights, bit for bit" hold everywhere.

#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numbers>
#include <span>
#include <utility>

#include "fovea/core/error.hpp"
#include "fovea/core/shape.hpp"

namespace fovea {

/// xoshiro256** seeded through splitmix64: fast, 256 bits of state, and a state
/// that can be saved and restored (checkpoints resume the exact sequence).
/// Meets UniformRandomBitGenerator, so it also drives standard algorithms.
class Rng {
 public:
  using result_type = std::uint64_t;           ///< One raw draw: 64 random bits.
  using State = std::array<std::uint64_t, 4>;  ///< The full generator state, as saved in checkpoints.

  /// A generator whose sequence is fixed by `seed` (reseed(seed)).
  explicit Rng(std::uint64_t seed = 0) { reseed(seed); }

  /// Restarts the sequence: the state becomes four splitmix64 outputs from `seed`.
  void reseed(std::uint64_t seed) {
    for (auto& word : state_) {
      seed += 0x9E3779B97F4A7C15ULL;
      std::uint64_t z = seed;
      z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
      z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
      word = z ^ (z >> 31);
    }
  }

  /// Smallest raw draw: 0.
  static constexpr result_type min() { return 0; }
  /// Largest raw draw: 2^64 - 1.
  static constexpr result_type max() { return std::numeric_limits<result_type>::max(); }

  /// The next 64 random bits; advances the state by one step.
  result_type operator()() {
    const std::uint64_t result = rotl(state_[1] * 5, 7) * 9;
    const std::uint64_t t = state_[1] << 17;
    state_[2] ^= state_[0];
    state_[3] ^= state_[1];
    state_[1] ^= state_[2];
    state_[0] ^= state_[3];
    state_[2] ^= t;
    state_[3] = rotl(state_[3], 45);
    return result;
  }

  /// Uniform in [0, 1) with 53 random bits (one raw draw).
  double uniform01() { return static_cast<double>((*this)() >> 11) * 0x1.0p-53; }

  /// Uniform in [lo, hi) (one raw draw).
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform01(); }

  /// Normal by Box-Muller; the second variate is discarded so that the state
  /// alone (no cached value) determines the sequence. Two raw draws per value.
  double normal(double mean = 0.0, double stddev = 1.0) {
    const double u1 = 1.0 - uniform01();  // (0, 1]: log(u1) is finite
    const double u2 = uniform01();
    return mean + stddev * std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
  }

  /// Uniform integer in [0, n), unbiased (rejection of the short last bucket).
  /// Throws value_error when n <= 0.
  Index uniform_index(Index n) {
    if (n <= 0) throw value_error("Rng::uniform_index: n must be positive, got " + std::to_string(n));
    const auto range = static_cast<std::uint64_t>(n);
    const std::uint64_t limit = max() - max() % range;
    std::uint64_t x = (*this)();
    while (x >= limit) x = (*this)();
    return static_cast<Index>(x % range);
  }

  /// Shuffles `items` in place: Fisher-Yates, driven by this generator only.
  template <class T>
  void shuffle(std::span<T> items) {
    for (Index i = static_cast<Index>(items.size()) - 1; i > 0; --i) {
      const Index j = uniform_index(i + 1);
      std::swap(items[static_cast<std::size_t>(i)], items[static_cast<std::size_t>(j)]);
    }
  }

  /// The current state; set_state() with it resumes the sequence from here.
  const State& state() const { return state_; }
  /// Resumes from a saved state; throws value_error for the all-zero state,
  /// which xoshiro can never leave.
  void set_state(const State& state) {
    if (state == State{}) throw value_error("Rng::set_state: the all-zero state is invalid");
    state_ = state;
  }

  /// Equal when the states are: the two will produce the same sequence.
  friend bool operator==(const Rng&, const Rng&) = default;

 private:
  static constexpr std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

  State state_{};
};

}  // namespace fovea
