#pragma once

// Shared by the layer tests: inputs that keep gradient checks away from kinks,
// and the checks every layer's contract implies.

#include <algorithm>
#include <catch2/catch.hpp>
#include <numeric>
#include <string>
#include <vector>

#include "fovea/core/random.hpp"
#include "fovea/layers/layer.hpp"
#include "fovea/testing/gradcheck.hpp"

namespace fovea::test {

// Values in +-[0.1, 1): nothing near 0, where ReLU-like functions bend.
inline Tensor<double, 4> away_from_zero(const Shape<4>& shape, Rng& rng) {
  auto t = Tensor<double, 4>::uniform(shape, rng, 0.1, 1.0);
  for (double& v : t) v = rng.uniform01() < 0.5 ? -v : v;
  return t;
}

// Distinct values 0.05 apart in random order, centred on 0: no two cells tie,
// so a finite-difference step (1e-6) never changes a max or min pool's winner.
inline Tensor<double, 4> distinct_values(const Shape<4>& shape, Rng& rng) {
  Tensor<double, 4> t(shape);
  std::vector<Index> order(static_cast<std::size_t>(t.size()));
  std::iota(order.begin(), order.end(), Index{0});
  rng.shuffle(std::span<Index>(order));
  for (Index i = 0; i < t.size(); ++i) {
    t.data()[i] = 0.05 * static_cast<double>(order[static_cast<std::size_t>(i)] - t.size() / 2);
  }
  return t;
}

// The layer's backward agrees with central differences to 1e-6 relative error.
inline void check_layer_gradients(Layer<double>& layer, const Tensor<double, 4>& x,
                                  const testing::GradCheckOptions& options = {}) {
  const auto result = testing::check_gradients(layer, x, options);
  INFO(layer.describe() << " on input " << to_string(x.shape()) << ", worst " << result.worst);
  CHECK(result.checked == x.size());
  CHECK(result.max_relative_error < 1e-6);
  CHECK(result.ok);
}

// backward before any forward throws state_error; a dy of the wrong shape
// throws shape_error naming both shapes. `x` must be a valid input.
template <class T>
void check_forward_record(Layer<T>& fresh_layer, const Tensor<T, 4>& x) {
  const std::string name = fresh_layer.describe();
  const Shape<4> y_shape = batch_shape(x.dim(0), fresh_layer.output_shape(sample_shape(x.shape())));
  Tensor<T, 4> y(y_shape);
  Tensor<T, 4> dx(x.shape());
  CHECK_THROWS_AS(fresh_layer.backward(x, y, y, dx), state_error);
  CHECK_THROWS_WITH(fresh_layer.backward(x, y, y, dx), name + "::backward: called before forward");

  fresh_layer.forward(x, y, true);
  Shape<4> wrong = y_shape;
  wrong[0] += 1;
  Tensor<T, 4> bad_dy(wrong);
  CHECK_THROWS_AS(fresh_layer.backward(x, y, bad_dy, dx), shape_error);
  CHECK_THROWS_WITH(
      fresh_layer.backward(x, y, bad_dy, dx),
      name + "::backward: gradient " + to_string(wrong) + " does not match the forward output " + to_string(y_shape));
  Tensor<T, 4> bad_y(wrong);
  CHECK_THROWS_WITH(fresh_layer.forward(x, bad_y, true), name + "::forward: output buffer " + to_string(wrong) +
                                                             ", expected " + to_string(y_shape) + " for input " +
                                                             to_string(x.shape()));
  // An empty dx means "not needed": no throw, nothing written.
  fresh_layer.forward(x, y, true);
  CHECK_NOTHROW(fresh_layer.backward(x, y, y, TensorView<T, 4>()));
}

// Parameterless layers: 0 parameters, spec() survives from_spec().
template <class LayerType>
void check_spec_round_trip(LayerType& layer) {
  CHECK(layer.parameter_count() == 0);
  CHECK(layer.params().empty());
  const LayerSpec spec = layer.spec();
  auto rebuilt = LayerType::from_spec(spec);
  CHECK(rebuilt.spec() == spec);
  CHECK(rebuilt.describe() == layer.describe());
}

}  // namespace fovea::test
