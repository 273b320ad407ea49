#include "fovea/layers/global_pool.hpp"

#include <algorithm>
#include <catch2/catch.hpp>
#include <vector>

#include "support/context_checks.hpp"
#include "support/layer_checks.hpp"

using fovea::GlobalPool2d;
using fovea::Index;
using fovea::LayerSpec;
using fovea::PoolKind;
using fovea::Shape;
using fovea::Tensor;

TEMPLATE_TEST_CASE("global pooling reduces every map to one value", "[layers][global_pool]", float, double) {
  using T = TestType;
  // Two samples, two channels, 2x3 maps.
  const Tensor<T, 4> x({2, 2, 2, 3}, {1,  2, 3, 4, 5, 6,   //
                                      -1, 0, 7, 2, 2, 2,   //
                                      0,  0, 0, 0, 0, 12,  //
                                      9,  8, 7, 6, 5, 4});
  GlobalPool2d<T> average(PoolKind::average);
  auto y = fovea::forward<T>(average, x);
  REQUIRE(y.shape() == Shape<4>{2, 2, 1, 1});
  CHECK(std::vector<T>(y.begin(), y.end()) == std::vector<T>{3.5, 2, 2, 6.5});
  const Tensor<T, 4> dy({2, 2, 1, 1}, {6, 12, 18, 24});
  auto dx = fovea::backward<T>(average, x, y, dy);
  CHECK(dx(0, 0, 1, 2) == 1);
  CHECK(dx(1, 1, 0, 0) == 4);

  GlobalPool2d<T> max(PoolKind::max);
  y = fovea::forward<T>(max, x);
  CHECK(std::vector<T>(y.begin(), y.end()) == std::vector<T>{6, 7, 12, 9});
  dx = fovea::backward<T>(max, x, y, dy);
  CHECK(dx(0, 0, 1, 2) == 6);
  CHECK(dx(0, 1, 0, 2) == 12);
  CHECK(dx(1, 0, 1, 2) == 18);
  CHECK(dx(1, 1, 0, 0) == 24);
  CHECK(dx.array().sum() == 60);
}

TEST_CASE("global pooling takes any map size, including 1x1", "[layers][global_pool]") {
  GlobalPool2d<float> pool;
  CHECK(pool.output_shape({16, 5, 5}) == fovea::SampleShape{16, 1, 1});
  CHECK(pool.output_shape({3, 1, 1}) == fovea::SampleShape{3, 1, 1});
  CHECK(pool.output_shape({3, 1, 37}) == fovea::SampleShape{3, 1, 1});
  CHECK_THROWS_AS(pool.output_shape({3, 0, 4}), fovea::shape_error);
  CHECK_THROWS_WITH(pool.output_shape({3, 0, 4}),
                    "GlobalAvgPool2d::output_shape: input [3, 0, 4] has empty feature maps");
  const Tensor<float, 4> x({2, 3, 1, 1}, {1, 2, 3, 4, 5, 6});
  const auto y = fovea::forward<float>(pool, x);
  CHECK(std::vector<float>(y.begin(), y.end()) == std::vector<float>{1, 2, 3, 4, 5, 6});
  // The same layer takes another map size in the next batch.
  const Tensor<float, 4> wide({1, 1, 2, 2}, {1, 2, 3, 6});
  CHECK(fovea::forward<float>(pool, wide)(0, 0, 0, 0) == 3);
}

TEST_CASE("global pooling describes itself and rebuilds from its spec", "[layers][global_pool]") {
  GlobalPool2d<float> average;
  CHECK(average.describe() == "GlobalAvgPool2d");
  CHECK(average.kind() == PoolKind::average);
  CHECK(average.spec() == LayerSpec{"GlobalAvgPool2d", {}});
  CHECK(average.flops_per_sample({8, 4, 4}) == 8 * 17);  // 16 additions and a division per map
  fovea::test::check_spec_round_trip(average);
  GlobalPool2d<float> max(PoolKind::max);
  CHECK(max.describe() == "GlobalMaxPool2d");
  CHECK(max.flops_per_sample({8, 4, 4}) == 8 * 16);
  fovea::test::check_spec_round_trip(max);
  for (PoolKind kind : {PoolKind::min, PoolKind::sum, PoolKind::l2}) {
    GlobalPool2d<float> pool(kind);
    fovea::test::check_spec_round_trip(pool);
  }
  CHECK(GlobalPool2d<float>(PoolKind::l2).describe() == "GlobalL2Pool2d");
  CHECK_THROWS_AS(GlobalPool2d<float>::from_spec({"MaxPool2d", {}}), fovea::format_error);
  CHECK_THROWS_WITH(GlobalPool2d<float>::from_spec({"MaxPool2d", {}}),
                    "GlobalPool2d::from_spec: spec is for a 'MaxPool2d' layer");
}

TEST_CASE("global pooling keeps the forward record contract", "[layers][global_pool]") {
  const Tensor<float, 4> x({3, 2, 4, 5});
  GlobalPool2d<float> average;
  fovea::test::check_forward_record(average, x);
  GlobalPool2d<float> max(PoolKind::max);
  fovea::test::check_forward_record(max, x);
}

TEMPLATE_TEST_CASE("global pooling runs in two contexts at once as in one alone", "[layers][global_pool][context]",
                   float, double) {
  using T = TestType;
  fovea::Rng rng(12);
  const auto xa = Tensor<T, 4>::uniform({3, 4, 5, 5}, rng, -1, 1);
  const auto xb = Tensor<T, 4>::uniform({2, 4, 3, 6}, rng, -1, 1);
  for (PoolKind kind : {PoolKind::max, PoolKind::min, PoolKind::average, PoolKind::l2}) {
    GlobalPool2d<T> pool(kind);
    fovea::test::check_interleaved_contexts<T>(pool, xa, xb);
  }
}

TEST_CASE("global pooling gradients agree with finite differences", "[layers][global_pool][gradcheck]") {
  fovea::Rng rng(8);
  const PoolKind kinds[] = {PoolKind::average, PoolKind::max, PoolKind::min, PoolKind::sum, PoolKind::l2};
  for (int trial = 0; trial < 10; ++trial) {
    const Shape<4> shape = {1 + rng.uniform_index(3), 1 + rng.uniform_index(3), 1 + rng.uniform_index(5),
                            1 + rng.uniform_index(6)};
    const auto x = fovea::test::distinct_values(shape, rng);
    GlobalPool2d<double> pool(kinds[trial % 5]);
    fovea::test::check_layer_gradients(pool, x);
  }
}

TEST_CASE("GlobalPool2d takes any height and width, one batch after another", "[layers][global_pool]") {
  for (PoolKind kind : {PoolKind::average, PoolKind::max}) {
    fovea::GlobalPool2d<double> pool(kind);
    fovea::Rng rng(23);
    for (const Shape<4> shape :
         {Shape<4>{2, 3, 7, 7}, Shape<4>{2, 3, 1, 1}, Shape<4>{1, 3, 13, 4}, Shape<4>{4, 3, 2, 9}}) {
      const auto x = fovea::test::distinct_values(shape, rng);
      CHECK(pool.output_shape(fovea::sample_shape(shape)) == fovea::SampleShape{3, 1, 1});
      const auto y = fovea::forward<double>(pool, x);
      REQUIRE(y.shape() == Shape<4>{shape[0], 3, 1, 1});
      for (Index n = 0; n < shape[0]; ++n) {
        for (Index c = 0; c < 3; ++c) {
          double sum = 0, best = -1e300;
          for (Index h = 0; h < shape[2]; ++h) {
            for (Index w = 0; w < shape[3]; ++w) {
              sum += x(n, c, h, w);
              best = std::max(best, x(n, c, h, w));
            }
          }
          CHECK(y(n, c, 0, 0) ==
                Approx(kind == PoolKind::average ? sum / static_cast<double>(shape[2] * shape[3]) : best));
        }
      }
      fovea::test::check_layer_gradients(pool, x);
    }
  }
}
