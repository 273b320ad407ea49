#include "fovea/layers/pool2d.hpp"

#include <catch2/catch.hpp>
#include <vector>

#include "support/context_checks.hpp"
#include "support/layer_checks.hpp"

using fovea::Index;
using fovea::LayerSpec;
using fovea::Pool2d;
using fovea::Pool2dOptions;
using fovea::PoolKind;
using fovea::Shape;
using fovea::Tensor;

TEMPLATE_TEST_CASE("Pool2d max-pools a 4x4 map and routes the gradient to the winners", "[layers][pool2d]", float,
                   double) {
  using T = TestType;
  // clang-format off
  const Tensor<T, 4> x({1, 1, 4, 4}, {1, 3, 2, 1,
                                      4, 2, 0, 1,
                                      5, 6, 1, 2,
                                      7, 0, 3, 9});
  // clang-format on
  Pool2d<T> pool({.kind = PoolKind::max, .window = {2, 2}, .stride = {2, 2}});
  const auto y = fovea::forward<T>(pool, x);
  CHECK(std::vector<T>(y.begin(), y.end()) == std::vector<T>{4, 2, 7, 9});
  const Tensor<T, 4> dy({1, 1, 2, 2}, {1, 2, 3, 4});
  const auto dx = fovea::backward<T>(pool, x, y, dy);
  CHECK(dx(0, 0, 1, 0) == 1);
  CHECK(dx(0, 0, 0, 2) == 2);
  CHECK(dx(0, 0, 3, 0) == 3);
  CHECK(dx(0, 0, 3, 3) == 4);
  CHECK(dx.array().sum() == 10);
}

TEST_CASE("Pool2d describes itself, counts FLOPs and rebuilds from its spec", "[layers][pool2d]") {
  Pool2d<float> max_pool;
  CHECK(max_pool.describe() == "MaxPool2d(2x2, s2)");
  CHECK(max_pool.output_shape({6, 28, 28}) == fovea::SampleShape{6, 14, 14});
  CHECK(max_pool.flops_per_sample({6, 28, 28}) == 4.0 * 6 * 14 * 14);
  CHECK(max_pool.spec() == LayerSpec{"MaxPool2d", {{"kh", 2}, {"kw", 2}, {"sh", 2}, {"sw", 2}, {"ph", 0}, {"pw", 0}}});
  fovea::test::check_spec_round_trip(max_pool);

  Pool2d<float> avg_pool({.kind = PoolKind::average, .window = {3, 2}, .stride = {2, 1}, .padding = {1, 1}});
  CHECK(avg_pool.describe() == "AvgPool2d(3x2, s2x1, p1)");
  CHECK(avg_pool.options().kind == PoolKind::average);
  fovea::test::check_spec_round_trip(avg_pool);
  for (PoolKind kind : {PoolKind::min, PoolKind::sum, PoolKind::l2}) {
    Pool2d<float> pool({.kind = kind, .window = {2, 3}, .stride = {1, 2}});
    fovea::test::check_spec_round_trip(pool);
  }
  CHECK_THROWS_AS(Pool2d<float>::from_spec({"ReLU", {}}), fovea::format_error);
  CHECK_THROWS_WITH(Pool2d<float>::from_spec({"ReLU", {}}), "Pool2d::from_spec: spec is for a 'ReLU' layer");
  CHECK_THROWS_WITH(Pool2d<float>::from_spec({"MaxPool2d", {{"kh", 2}}}), "MaxPool2d: missing setting 'kw'");
}

TEST_CASE("Pool2d rejects bad options and inputs smaller than its window", "[layers][pool2d]") {
  CHECK_THROWS_AS(Pool2d<float>({.window = {2, 0}}), fovea::value_error);
  CHECK_THROWS_WITH(Pool2d<float>({.window = {2, 0}}), "MaxPool2d: window must be positive, got 2x0");
  CHECK_THROWS_WITH(Pool2d<float>({.kind = PoolKind::sum, .stride = {0, 0}}),
                    "SumPool2d: stride must be positive, got 0x0");
  CHECK_THROWS_WITH(Pool2d<float>({.padding = {0, -2}}), "MaxPool2d: padding must not be negative, got 0x-2");
  CHECK_THROWS_WITH(Pool2d<float>({.window = {2, 2}, .stride = {2, 2}, .padding = {2, 1}}),
                    "MaxPool2d: padding 2x1 is more than half the window 2x2");
  CHECK_THROWS_WITH(
      Pool2d<float>::from_spec({"MaxPool2d", {{"kh", 2}, {"kw", 2}, {"sh", 0}, {"sw", 2}, {"ph", 0}, {"pw", 0}}}),
      "MaxPool2d: stride must be positive, got 0x2");

  Pool2d<float> pool({.window = {3, 3}, .stride = {2, 2}});
  CHECK_THROWS_AS(pool.output_shape({1, 2, 8}), fovea::shape_error);
  CHECK_THROWS_WITH(pool.output_shape({1, 2, 8}),
                    "MaxPool2d(3x3, s2)::output_shape: input [1, 2, 8] is smaller than the window 3x3");
  Tensor<float, 4> x({1, 1, 2, 8});
  Tensor<float, 4> y({1, 1, 1, 3});
  CHECK_THROWS_WITH(pool.forward(x, y, true),
                    "MaxPool2d(3x3, s2)::output_shape: input [1, 2, 8] is smaller than the window 3x3");
}

TEST_CASE("Pool2d keeps the forward record contract", "[layers][pool2d]") {
  const Tensor<float, 4> x({2, 3, 6, 5});
  for (PoolKind kind : {PoolKind::max, PoolKind::average, PoolKind::l2}) {
    Pool2d<float> pool({.kind = kind, .window = {3, 2}, .stride = {2, 2}, .padding = {1, 1}});
    fovea::test::check_forward_record(pool, x);
  }
}

TEST_CASE("Pool2d reuses its workspace across batches", "[layers][pool2d]") {
  Pool2d<float> pool;
  Tensor<float, 4> big({4, 2, 8, 8}), big_y({4, 2, 4, 4});
  Tensor<float, 4> small({2, 2, 8, 8}), small_y({2, 2, 4, 4});
  fovea::Rng rng(2);
  big = Tensor<float, 4>::uniform(big.shape(), rng, -1, 1);
  small.copy_from(big.slice(0, 2));
  pool.forward(big, big_y, true);
  pool.forward(small, small_y, true);
  // The same maps give the same maxima whatever the batch.
  for (Index i = 0; i < small_y.size(); ++i) CHECK(small_y.data()[i] == big_y.data()[i]);
  Tensor<float, 4> dx(small.shape());
  pool.backward(small, small_y, small_y, dx);
  CHECK(dx.array().abs().sum() == Approx(small_y.array().abs().sum()));
}

TEMPLATE_TEST_CASE("Pool2d's inference forward keeps no winners and gives the training forward's bits",
                   "[layers][pool2d]", float, double) {
  using T = TestType;
  fovea::Rng rng(8);
  // ResNet's stem pooling, a ceil-mode one, and LeNet's 2x2: the same maxima
  // and minima, and a backward after inference that finds the same winners.
  for (const Pool2dOptions& o :
       {Pool2dOptions{.window = {3, 3}, .stride = {2, 2}, .padding = {1, 1}},
        Pool2dOptions{
            .kind = PoolKind::min, .window = {3, 3}, .stride = {2, 2}, .padding = {0, 1, 1, 0}, .ceil_mode = true},
        Pool2dOptions{}}) {
    INFO(fovea::to_string(o));
    Pool2d<T> pool(o);
    Tensor<T, 4> x({2, 3, 11, 12});
    for (T& v : x) v = static_cast<T>(rng.uniform_index(4));  // ties everywhere
    const auto out = pool.output_shape({3, 11, 12});
    Tensor<T, 4> trained({2, out[0], out[1], out[2]}), inferred(trained.shape());
    pool.forward(x, trained, true);
    const auto dy = Tensor<T, 4>::uniform(trained.shape(), rng, -1, 1);
    Tensor<T, 4> dx_trained(x.shape()), dx_inferred(x.shape());
    pool.backward(x, trained, dy, dx_trained);
    pool.forward(x, inferred, false);
    pool.backward(x, inferred, dy, dx_inferred);
    CHECK(std::vector<T>(inferred.begin(), inferred.end()) == std::vector<T>(trained.begin(), trained.end()));
    CHECK(std::vector<T>(dx_inferred.begin(), dx_inferred.end()) ==
          std::vector<T>(dx_trained.begin(), dx_trained.end()));
  }
}

TEMPLATE_TEST_CASE("Pool2d runs in two contexts at once as in one alone", "[layers][pool2d][context]", float, double) {
  using T = TestType;
  fovea::Rng rng(31);
  const auto xa = Tensor<T, 4>::uniform({3, 2, 8, 8}, rng, -1, 1);
  const auto xb = Tensor<T, 4>::uniform({2, 2, 7, 9}, rng, -1, 1);
  for (PoolKind kind : {PoolKind::max, PoolKind::min, PoolKind::average}) {
    // 2x2 stride 2 (its own kernels) and 3x3 stride 2 padded (the general loops).
    Pool2d<T> tiles({.kind = kind});
    Pool2d<T> overlapping({.kind = kind, .window = {3, 3}, .stride = {2, 2}, .padding = {1, 1}});
    for (Pool2d<T>* pool : {&tiles, &overlapping}) {
      fovea::test::check_interleaved_contexts<T>(*pool, xa, xb);
      fovea::test::check_interleaved_contexts<T>(*pool, xa, xb, {.training = false});
    }
  }
}

TEST_CASE("Pool2d gradients agree with finite differences", "[layers][pool2d][gradcheck]") {
  fovea::Rng rng(21);
  const PoolKind kinds[] = {PoolKind::max, PoolKind::average, PoolKind::min, PoolKind::sum, PoolKind::l2};
  for (int trial = 0; trial < 35; ++trial) {
    Pool2dOptions o;
    o.kind = kinds[trial % 5];
    o.window = {1 + rng.uniform_index(3), 1 + rng.uniform_index(3)};
    o.stride = {1 + rng.uniform_index(3), 1 + rng.uniform_index(3)};
    o.padding = {rng.uniform_index(o.window.h / 2 + 1), rng.uniform_index(o.window.w / 2 + 1)};
    if (trial < 5) o = {.kind = kinds[trial], .window = {3, 3}, .stride = {2, 2}, .padding = {1, 1}};
    if (trial >= 25)
      o = {.kind = kinds[trial % 5], .window = {2, 2}, .stride = {2, 2}, .padding = {0, 0}};  // own kernels
    const Shape<4> shape = {1 + rng.uniform_index(3), 1 + rng.uniform_index(2), o.window.h + rng.uniform_index(5),
                            o.window.w + rng.uniform_index(5)};
    // Distinct, spaced values: no max/min ties, no all-zero L2 window.
    const auto x = fovea::test::distinct_values(shape, rng);
    Pool2d<double> pool(o);
    fovea::test::check_layer_gradients(pool, x);
  }
}

TEST_CASE("Pool2d's new settings survive its spec, and specs without them mean today's defaults", "[layers][pool2d]") {
  // A spec as fovea wrote it before ceil mode, asymmetric padding and count_include_pad existed.
  const LayerSpec old{"AvgPool2d", {{"kh", 3}, {"kw", 3}, {"sh", 2}, {"sw", 2}, {"ph", 1}, {"pw", 1}}};
  const auto from_old = Pool2d<float>::from_spec(old);
  CHECK(from_old.options() ==
        Pool2dOptions{.kind = PoolKind::average, .window = {3, 3}, .stride = {2, 2}, .padding = 1});
  CHECK(from_old.spec() == old);  // unchanged: files of earlier fovea still match

  Pool2d<float> asymmetric({.kind = PoolKind::average,
                            .window = {3, 2},
                            .stride = {2, 1},
                            .padding = {0, 1, 1, 0},
                            .ceil_mode = true,
                            .count_include_pad = false});
  CHECK(asymmetric.describe() == "AvgPool2d(3x2, s2x1, p[t0, b1, l1, r0], ceil, exclude pad)");
  CHECK(asymmetric.spec() == LayerSpec{"AvgPool2d",
                                       {{"kh", 3},
                                        {"kw", 2},
                                        {"sh", 2},
                                        {"sw", 1},
                                        {"ph", 0},
                                        {"pw", 1},
                                        {"pb", 1},
                                        {"pr", 0},
                                        {"ceil", 1},
                                        {"count_pad", 0}}});
  fovea::test::check_spec_round_trip(asymmetric);
  CHECK(Pool2d<float>::from_spec(asymmetric.spec()).options() == asymmetric.options());
  Pool2d<float> ceil_max({.window = {3, 3}, .stride = {2, 2}, .ceil_mode = true});
  CHECK(ceil_max.output_shape({64, 112, 112}) == fovea::SampleShape{64, 56, 56});
  fovea::test::check_spec_round_trip(ceil_max);
  CHECK_THROWS_WITH(Pool2d<float>::from_spec(
                        {"MaxPool2d", {{"kh", 2}, {"kw", 2}, {"sh", 2}, {"sw", 2}, {"ph", 0}, {"pw", 0}, {"pb", 0.5}}}),
                    "MaxPool2d: setting 'pb' is 0.5, expected a whole number");
  CHECK_THROWS_WITH(Pool2d<float>({.padding = {0, 0, 0, 2}}),
                    "MaxPool2d: padding [t0, b0, l0, r2] is more than half the window 2x2");
}

TEST_CASE(
    "Pool2d gradients agree with finite differences with ceil mode, asymmetric padding and averages "
    "without the padding",
    "[layers][pool2d][gradcheck]") {
  fovea::Rng rng(22);
  const PoolKind kinds[] = {PoolKind::max, PoolKind::average, PoolKind::min, PoolKind::sum, PoolKind::l2};
  for (int trial = 0; trial < 40; ++trial) {
    Pool2dOptions o;
    o.kind = kinds[trial % 5];
    o.window = {1 + rng.uniform_index(3), 1 + rng.uniform_index(3)};
    o.stride = {1 + rng.uniform_index(3), 1 + rng.uniform_index(3)};
    o.padding = {rng.uniform_index(o.window.h / 2 + 1), rng.uniform_index(o.window.h / 2 + 1),
                 rng.uniform_index(o.window.w / 2 + 1), rng.uniform_index(o.window.w / 2 + 1)};
    o.ceil_mode = trial % 2 == 0;
    o.count_include_pad = o.kind != PoolKind::average || trial % 4 == 1;
    const Shape<4> shape = {1 + rng.uniform_index(2), 1 + rng.uniform_index(2), o.window.h + rng.uniform_index(5),
                            o.window.w + rng.uniform_index(5)};
    const auto x = fovea::test::distinct_values(shape, rng);
    Pool2d<double> pool(o);
    fovea::test::check_layer_gradients(pool, x);
  }
}
