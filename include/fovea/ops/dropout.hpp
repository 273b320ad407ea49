#pragma once

/// @file
/// Inverted dropout, forward and backward side by side. In training each unit
/// is kept with probability 1 - p and scaled by 1 / (1 - p), so its expected
/// value is unchanged and inference is the plain identity. The mask holds the
/// factor itself (0 or 1 / (1 - p)), so forward and backward are one multiply.
///
/// Two ways to draw a mask: from a generator, element after element
/// (dropout_mask), or from a key and each element's index (dropout_mask_from_key),
/// so that any part of a batch, drawn alone, gets the bits the whole would.

#include <cmath>
#include <cstdint>
#include <string>

#include "fovea/core/error.hpp"
#include "fovea/core/parallel.hpp"
#include "fovea/core/random.hpp"
#include "fovea/core/tensor_view.hpp"
#include "fovea/detail/number_format.hpp"

namespace fovea {

/// Throws value_error unless 0 <= p < 1 (p = 1 would drop everything and
/// divide by zero; NaN fails too). `operation` starts the message.
inline void validate_dropout_probability(const char* operation, double p) {
  if (!(p >= 0 && p < 1)) {
    throw value_error(std::string(operation) + ": p must be in [0, 1), got " + detail::format_number(p));
  }
}

/// mask: [n] <- 0 with probability p, 1 / (1 - p) otherwise, one draw per
/// element from rng in order (reproducible from the generator's seed).
/// Throws value_error unless 0 <= p < 1.
template <class T>
void dropout_mask(Rng& rng, double p, TensorView<T, 1> mask) {
  validate_dropout_probability("dropout_mask", p);
  const T keep_scale = static_cast<T>(1.0 / (1.0 - p));
  // Branch-free: a kept-or-dropped branch on random bits mispredicts half the
  // time at p = 0.5 (7 ns per element). uniform01() is (bits >> 11) * 2^-53
  // exactly, so uniform01() < p just when bits >> 11 < ceil(p * 2^53): the
  // same mask as that comparison, draw for draw. A local copy of the
  // generator keeps its state in registers.
  const auto threshold = static_cast<std::uint64_t>(std::ceil(std::ldexp(p, 53)));
  Rng local = rng;
  T* m = mask.data();
  const T factor[2] = {T{0}, keep_scale};  // indexed by "kept": compilers turn a ?: here back into a branch
  for (Index i = 0, n = mask.size(); i < n; ++i) m[i] = factor[(local() >> 11) >= threshold];
  rng = local;
}

namespace detail {
// The (index + 1)-th output of splitmix64 started at `key`: a counter-based
// hash whose outputs pass the same statistical tests as the generator's, so
// element `index` of a mask needs no draw before it.
constexpr std::uint64_t splitmix64_at(std::uint64_t key, std::uint64_t index) {
  std::uint64_t z = key + (index + 1) * 0x9E3779B97F4A7C15ULL;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}
}  // namespace detail

/// mask: [n] <- elements first .. first + n - 1 of the mask that `key`
/// defines: element e is 0 when the top 53 bits of splitmix64_at(key, e),
/// as a fraction in [0, 1), fall below p, and 1 / (1 - p) otherwise. Each
/// element depends only on key and e, so a batch cut into parts (training
/// lanes, each passing its first element) gets the mask of the whole, for
/// any thread count. Throws value_error unless 0 <= p < 1.
template <class T>
void dropout_mask_from_key(std::uint64_t key, Index first, double p, TensorView<T, 1> mask) {
  validate_dropout_probability("dropout_mask_from_key", p);
  const T keep_scale = static_cast<T>(1.0 / (1.0 - p));
  // fraction < p just when bits >> 11 < ceil(p * 2^53), as in dropout_mask.
  const auto threshold = static_cast<std::uint64_t>(std::ceil(std::ldexp(p, 53)));
  const T factor[2] = {T{0}, keep_scale};  // indexed by "kept": branch-free (see dropout_mask)
  T* m = mask.data();
  detail::for_each_element_chunk(mask.size(), [&](Index begin, Index end) {
    for (Index i = begin; i < end; ++i) {
      m[i] = factor[(detail::splitmix64_at(key, static_cast<std::uint64_t>(first + i)) >> 11) >= threshold];
    }
  });
}

/// x, mask -> y: [n], y = x * mask. Throws shape_error unless all three shapes agree.
template <class T>
void dropout_forward(TensorView<const T, 1> x, TensorView<const T, 1> mask, TensorView<T, 1> y) {
  if (x.shape() != mask.shape() || y.shape() != x.shape()) {
    throw shape_error("dropout_forward: x " + to_string(x.shape()) + ", mask " + to_string(mask.shape()) + " and y " +
                      to_string(y.shape()) + " must have one shape");
  }
  detail::for_each_element_chunk(x.size(), [&](Index begin, Index end) {
    y.slice(begin, end).array() = x.slice(begin, end).array() * mask.slice(begin, end).array();
  });
}
/// dy, mask -> dx: [n], dx = dy * mask (dropped units pass no gradient).
/// Throws shape_error unless all three shapes agree.
template <class T>
void dropout_backward(TensorView<const T, 1> mask, TensorView<const T, 1> dy, TensorView<T, 1> dx) {
  if (dy.shape() != mask.shape() || dx.shape() != dy.shape()) {
    throw shape_error("dropout_backward: dy " + to_string(dy.shape()) + ", mask " + to_string(mask.shape()) +
                      " and dx " + to_string(dx.shape()) + " must have one shape");
  }
  detail::for_each_element_chunk(dy.size(), [&](Index begin, Index end) {
    dx.slice(begin, end).array() = dy.slice(begin, end).array() * mask.slice(begin, end).array();
  });
}

}  // namespace fovea
