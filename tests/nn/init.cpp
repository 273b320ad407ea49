#include "fovea/nn/init.hpp"

#include <catch2/catch.hpp>
#include <cmath>
#include <limits>

using fovea::InitScheme;
using fovea::Parameter;
using fovea::Tensor;

namespace {
// A conv-like weight [64, 32, 3, 3]: fan_in = 288, fan_out = 576.
struct Weight {
  Tensor<double, 1> value{{64 * 32 * 9}};
  Tensor<double, 1> grad{{64 * 32 * 9}};
  Parameter<double> param() { return {"weight", {64, 32, 3, 3}, value, grad}; }
  double stddev() const {
    const double mean = value.array().mean();
    return std::sqrt((value.array() - mean).square().mean());
  }
};
}  // namespace

TEST_CASE("fans follow the [out, in, k...] convention", "[init]") {
  auto f = fovea::fans_of({64, 32, 3, 3});
  CHECK(f.in == 288);
  CHECK(f.out == 576);
  auto linear = fovea::fans_of({120, 400});
  CHECK(linear.in == 400);
  CHECK(linear.out == 120);
}

TEST_CASE("each initialiser has the documented spread and is reproducible", "[init]") {
  struct Case {
    InitScheme scheme;
    double stddev;
  };
  const double fan_in = 288, fan_sum = 288 + 576;
  for (const Case& c : {Case{InitScheme::he_normal, std::sqrt(2 / fan_in)},
                        Case{InitScheme::he_uniform, std::sqrt(6 / fan_in) / std::sqrt(3.0)},
                        Case{InitScheme::xavier_normal, std::sqrt(2 / fan_sum)},
                        Case{InitScheme::xavier_uniform, std::sqrt(6 / fan_sum) / std::sqrt(3.0)},
                        Case{InitScheme::lecun_normal, std::sqrt(1 / fan_in)},
                        Case{InitScheme::lecun_uniform, std::sqrt(3 / fan_in) / std::sqrt(3.0)}}) {
    Weight w, again;
    fovea::Rng rng(5), rng2(5);
    fovea::initialize(w.param(), {.scheme = c.scheme}, rng);
    fovea::initialize(again.param(), {.scheme = c.scheme}, rng2);
    CHECK(w.stddev() == Approx(c.stddev).epsilon(0.03));
    CHECK(w.value.array().isApprox(again.value.array(), 0));
  }
  Weight u;
  fovea::Rng rng(1);
  fovea::initialize(u.param(), {.scheme = InitScheme::uniform, .low = 2, .high = 3}, rng);
  CHECK(u.value.array().minCoeff() >= 2);
  CHECK(u.value.array().maxCoeff() < 3);
  fovea::initialize(u.param(), {.scheme = InitScheme::normal, .mean = 5, .stddev = 0.5}, rng);
  CHECK(u.value.array().mean() == Approx(5).margin(0.02));
  CHECK(u.stddev() == Approx(0.5).epsilon(0.03));
  fovea::initialize(u.param(), {.scheme = InitScheme::zeros}, rng);
  CHECK(u.value.array().abs().maxCoeff() == 0);
  CHECK_THROWS_WITH(fovea::initialize(u.param(), {.scheme = InitScheme::uniform, .low = 1, .high = 1}, rng),
                    "initialize: uniform bounds need finite low < high, got [1, 1)");
  // Infinite bounds or moments would fill the weights with NaN or infinity.
  const double inf = std::numeric_limits<double>::infinity();
  CHECK_THROWS_WITH(fovea::initialize(u.param(), {.scheme = InitScheme::uniform, .low = -inf, .high = inf}, rng),
                    "initialize: uniform bounds need finite low < high, got [-inf, inf)");
  CHECK_THROWS_WITH(fovea::initialize(u.param(), {.scheme = InitScheme::normal, .stddev = inf}, rng),
                    "initialize: normal needs a finite mean and a finite stddev >= 0, got mean 0, stddev inf");
  CHECK_THROWS_WITH(fovea::initialize(u.param(), {.scheme = InitScheme::normal, .mean = -inf}, rng),
                    "initialize: normal needs a finite mean and a finite stddev >= 0, got mean -inf, stddev 0.01");
  CHECK(u.value.array().allFinite());  // a refused call leaves the values as they were
}

TEST_CASE("initialize_all zeroes biases and draws weights", "[init]") {
  Tensor<float, 1> w({100}), wg({100}), b = Tensor<float, 1>::full({10}, 3), bg({10});
  std::vector<Parameter<float>> params = {{"0.weight", {10, 10}, w, wg}, {"0.bias", {10}, b, bg}};
  fovea::Rng rng(3);
  fovea::initialize_all(params, {}, rng);
  CHECK(b.array().abs().maxCoeff() == 0);
  CHECK(w.array().abs().maxCoeff() > 0);
}
