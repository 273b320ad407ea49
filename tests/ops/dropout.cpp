#include "fovea/ops/dropout.hpp"

#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>

#include "fovea/core/tensor.hpp"

using fovea::Index;
using fovea::Tensor;

TEMPLATE_TEST_CASE("dropout masks keep 1 - p of the units, scaled by 1 / (1 - p)", "[ops][dropout]", float, double) {
  using T = TestType;
  fovea::Rng rng(9);
  Tensor<T, 1> mask({100000});
  fovea::dropout_mask<T>(rng, 0.3, mask);
  Index kept = 0;
  for (T m : mask) {
    if (m != 0) {
      CHECK(m == static_cast<T>(1 / 0.7));
      ++kept;
    }
  }
  CHECK(static_cast<double>(kept) / 100000 == Approx(0.7).margin(0.01));
  // The expected value of a unit is unchanged.
  CHECK(mask.array().template cast<double>().mean() == Approx(1).margin(0.015));

  fovea::Rng same(9);
  Tensor<T, 1> again({100000});
  fovea::dropout_mask<T>(same, 0.3, again);
  CHECK(mask.array().isApprox(again.array(), 0));

  fovea::dropout_mask<T>(rng, 0.0, mask);
  CHECK((mask.array() == 1).all());
}

TEST_CASE("dropout_mask draws the mask uniform01() < p would, one draw per element", "[ops][dropout]") {
  // The mask compares raw bits with a threshold; this is the definition it must match,
  // including p whose p * 2^53 is a whole number (0.5, 0.25) and extremes.
  for (double p : {0.0, 0.5, 0.25, 0.3, 1e-9, 0.1234567, 0.999999}) {
    INFO("p = " << p);
    fovea::Rng rng(11), reference(11);
    Tensor<double, 1> mask({20000});
    fovea::dropout_mask<double>(rng, p, mask);
    Index mismatches = 0;
    for (double m : mask) mismatches += (reference.uniform01() < p) != (m == 0);
    CHECK(mismatches == 0);
    CHECK(rng() == reference());  // the generator advanced once per element
  }
}

TEST_CASE("dropout_mask_from_key keeps 1 - p and gives any part of a mask the whole's bits", "[ops][dropout]") {
  const std::uint64_t key = 0x0123456789ABCDEFULL;
  Tensor<double, 1> whole({100000});
  fovea::dropout_mask_from_key<double>(key, 0, 0.3, whole);
  Index kept = 0;
  for (double m : whole) {
    if (m != 0) {
      CHECK(m == 1 / 0.7);
      ++kept;
    }
  }
  CHECK(static_cast<double>(kept) / 100000 == Approx(0.7).margin(0.01));
  // Element e is decided by the 53 top bits of splitmix64's (e + 1)-th output from the key.
  for (Index e : {0, 1, 2, 31337, 99999}) {
    std::uint64_t z = key + static_cast<std::uint64_t>(e + 1) * 0x9E3779B97F4A7C15ULL;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    z ^= z >> 31;
    CHECK((static_cast<double>(z >> 11) * 0x1.0p-53 < 0.3) == (whole(e) == 0));
  }
  // A part drawn alone, from its first element on, is that part of the whole.
  Tensor<double, 1> part({1000});
  fovea::dropout_mask_from_key<double>(key, 40000, 0.3, part);
  CHECK((part.array() == whole.slice(40000, 41000).array()).all());
  // Another key, another mask; p = 0 keeps everything.
  Tensor<double, 1> other({100000});
  fovea::dropout_mask_from_key<double>(key + 1, 0, 0.3, other);
  CHECK((other.array() != whole.array()).count() > 30000);
  fovea::dropout_mask_from_key<double>(key, 0, 0.0, other);
  CHECK((other.array() == 1).all());
  CHECK_THROWS_WITH(fovea::dropout_mask_from_key<double>(key, 0, 1.0, other),
                    "dropout_mask_from_key: p must be in [0, 1), got 1");
}

TEMPLATE_TEST_CASE("dropout forward and backward multiply by the mask", "[ops][dropout]", float, double) {
  using T = TestType;
  const Tensor<T, 1> x({4}, {1, 2, 3, 4});
  const Tensor<T, 1> mask({4}, {0, 2, 2, 0});
  Tensor<T, 1> y({4}), dx({4});
  fovea::dropout_forward<T>(x, mask, y);
  CHECK(std::vector<T>(y.begin(), y.end()) == std::vector<T>{0, 4, 6, 0});
  fovea::dropout_backward<T>(mask, x, dx);
  CHECK(std::vector<T>(dx.begin(), dx.end()) == std::vector<T>{0, 4, 6, 0});
}

TEST_CASE("dropout ops reject a bad p and mismatched shapes", "[ops][dropout]") {
  fovea::Rng rng(1);
  Tensor<float, 1> mask({4});
  CHECK_THROWS_AS(fovea::dropout_mask<float>(rng, 1.0, mask), fovea::value_error);
  CHECK_THROWS_WITH(fovea::dropout_mask<float>(rng, 1.0, mask), "dropout_mask: p must be in [0, 1), got 1");
  CHECK_THROWS_WITH(fovea::dropout_mask<float>(rng, -0.25, mask), "dropout_mask: p must be in [0, 1), got -0.25");
  CHECK_THROWS_WITH(fovea::dropout_mask<float>(rng, std::nan(""), mask), "dropout_mask: p must be in [0, 1), got nan");
  Tensor<float, 1> x({4}), y({3});
  CHECK_THROWS_AS(fovea::dropout_forward<float>(x, mask, y), fovea::shape_error);
  CHECK_THROWS_WITH(fovea::dropout_forward<float>(x, mask, y),
                    "dropout_forward: x [4], mask [4] and y [3] must have one shape");
  CHECK_THROWS_WITH(fovea::dropout_backward<float>(mask, y, x),
                    "dropout_backward: dy [3], mask [4] and dx [4] must have one shape");
}
