#include "fovea/ops/pool2d.hpp"

#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "fovea/core/random.hpp"
#include "fovea/core/tensor.hpp"

using fovea::Index;
using fovea::Pool2dOptions;
using fovea::PoolKind;
using fovea::Shape;
using fovea::Tensor;

namespace {

constexpr PoolKind all_kinds[] = {PoolKind::max, PoolKind::average, PoolKind::min, PoolKind::sum, PoolKind::l2};

template <class T>
Shape<4> output_shape_for(const Pool2dOptions& options, const Shape<4>& x) {
  const auto out = fovea::pool2d_output_shape(options, {x[1], x[2], x[3]}, "test");
  return {x[0], out[0], out[1], out[2]};
}

// Forward through the op, allocating y and the selected cells.
template <class T>
Tensor<T, 4> pool(const Pool2dOptions& options, const Tensor<T, 4>& x, Tensor<std::int32_t, 4>& selected) {
  Tensor<T, 4> y(output_shape_for<T>(options, x.shape()));
  selected.resize(y.shape());
  fovea::pool2d_forward<T>(options, x, y, selected);
  return y;
}

// The definition, one output at a time in double: visit every window cell,
// treating cells outside the map as padding.
double naive_pool(const Pool2dOptions& o, const Tensor<double, 4>& x, Index n, Index c, Index oh, Index ow) {
  double best_max = -std::numeric_limits<double>::infinity();
  double best_min = std::numeric_limits<double>::infinity();
  double sum = 0, sum_squares = 0;
  for (Index i = 0; i < o.window.h; ++i) {
    for (Index j = 0; j < o.window.w; ++j) {
      const Index h = oh * o.stride.h - o.padding.h + i;
      const Index w = ow * o.stride.w - o.padding.w + j;
      if (h < 0 || h >= x.dim(2) || w < 0 || w >= x.dim(3)) continue;  // padding: zero, never a max or min
      const double v = x(n, c, h, w);
      best_max = std::max(best_max, v);
      best_min = std::min(best_min, v);
      sum += v;
      sum_squares += v * v;
    }
  }
  switch (o.kind) {
    case PoolKind::max:
      return best_max;
    case PoolKind::min:
      return best_min;
    case PoolKind::sum:
      return sum;
    case PoolKind::average:
      return sum / static_cast<double>(o.window.h * o.window.w);
    case PoolKind::l2:
      return std::sqrt(sum_squares);
  }
  return 0;
}

}  // namespace

TEMPLATE_TEST_CASE("pooling a 4x4 map with a 2x2 window and stride 2", "[ops][pool2d]", float, double) {
  using T = TestType;
  // clang-format off
  const Tensor<T, 4> x({1, 1, 4, 4}, {1, 3, 2, 1,
                                      4, 2, 0, 1,
                                      5, 6, 1, 2,
                                      7, 0, 3, 9});
  // clang-format on
  Tensor<std::int32_t, 4> selected;
  Pool2dOptions options{.kind = PoolKind::max, .window = {2, 2}, .stride = {2, 2}};

  auto y = pool(options, x, selected);
  REQUIRE(y.shape() == Shape<4>{1, 1, 2, 2});
  CHECK(std::vector<T>(y.begin(), y.end()) == std::vector<T>{4, 2, 7, 9});
  CHECK(std::vector<std::int32_t>(selected.begin(), selected.end()) == std::vector<std::int32_t>{4, 2, 12, 15});

  // Max backward routes each gradient to its window's winner.
  const Tensor<T, 4> dy({1, 1, 2, 2}, {1, 2, 3, 4});
  Tensor<T, 4> dx(x.shape());
  dx.fill(-7);  // overwritten, not accumulated into
  fovea::pool2d_backward<T>(options, x, y, selected, dy, dx);
  // clang-format off
  CHECK(std::vector<T>(dx.begin(), dx.end()) == std::vector<T>{0, 0, 2, 0,
                                                                1, 0, 0, 0,
                                                                0, 0, 0, 0,
                                                                3, 0, 0, 4});
  // clang-format on

  options.kind = PoolKind::min;
  y = pool(options, x, selected);
  CHECK(std::vector<T>(y.begin(), y.end()) == std::vector<T>{1, 0, 0, 1});
  fovea::pool2d_backward<T>(options, x, y, selected, dy, dx);
  CHECK(dx(0, 0, 0, 0) == 1);
  CHECK(dx(0, 0, 1, 2) == 2);
  CHECK(dx(0, 0, 3, 1) == 3);
  CHECK(dx(0, 0, 2, 2) == 4);

  options.kind = PoolKind::average;
  y = pool(options, x, selected);
  CHECK(std::vector<T>(y.begin(), y.end()) == std::vector<T>{2.5, 1, 4.5, 3.75});
  fovea::pool2d_backward<T>(options, x, y, selected, dy, dx);
  CHECK(dx(0, 0, 0, 1) == T(0.25));
  CHECK(dx(0, 0, 3, 3) == 1);

  options.kind = PoolKind::sum;
  y = pool(options, x, selected);
  CHECK(std::vector<T>(y.begin(), y.end()) == std::vector<T>{10, 4, 18, 15});
  fovea::pool2d_backward<T>(options, x, y, selected, dy, dx);
  CHECK(dx(0, 0, 1, 1) == 1);
  CHECK(dx(0, 0, 2, 3) == 4);

  options.kind = PoolKind::l2;
  y = pool(options, x, selected);
  CHECK(y(0, 0, 0, 0) == Approx(std::sqrt(30.0)));  // 1 + 9 + 16 + 4
  CHECK(y(0, 0, 1, 1) == Approx(std::sqrt(95.0)));  // 1 + 4 + 9 + 81
  fovea::pool2d_backward<T>(options, x, y, selected, dy, dx);
  CHECK(dx(0, 0, 0, 1) == Approx(3 / std::sqrt(30.0)));  // dy * x / y
}

TEMPLATE_TEST_CASE("padding cells never win a max or min and count as zeros elsewhere", "[ops][pool2d]", float,
                   double) {
  using T = TestType;
  const Tensor<T, 4> negative({1, 1, 2, 2}, {-1, -2, -3, -4});
  const Tensor<T, 4> positive({1, 1, 2, 2}, {1, 2, 3, 4});
  Tensor<std::int32_t, 4> selected;
  // Window 2, stride 2, padding 1: every window holds exactly one real cell.
  Pool2dOptions options{.kind = PoolKind::max, .window = {2, 2}, .stride = {2, 2}, .padding = {1, 1}};

  auto y = pool(options, negative, selected);
  CHECK(std::vector<T>(y.begin(), y.end()) == std::vector<T>{-1, -2, -3, -4});
  options.kind = PoolKind::min;
  y = pool(options, positive, selected);
  CHECK(std::vector<T>(y.begin(), y.end()) == std::vector<T>{1, 2, 3, 4});
  options.kind = PoolKind::sum;
  y = pool(options, negative, selected);
  CHECK(std::vector<T>(y.begin(), y.end()) == std::vector<T>{-1, -2, -3, -4});
  // count_include_pad: the average divides by the full window, 4.
  options.kind = PoolKind::average;
  y = pool(options, positive, selected);
  CHECK(std::vector<T>(y.begin(), y.end()) == std::vector<T>{0.25, 0.5, 0.75, 1});
  options.kind = PoolKind::l2;
  y = pool(options, negative, selected);
  CHECK(std::vector<T>(y.begin(), y.end()) == std::vector<T>{1, 2, 3, 4});
}

TEST_CASE("the output size is floor((H + 2P - K) / S) + 1 per axis", "[ops][pool2d]") {
  const auto out = [](Pool2dOptions o, Index H, Index W) { return fovea::pool2d_output_shape(o, {3, H, W}, "p"); };
  CHECK(out({.window = {2, 2}, .stride = {2, 2}}, 28, 28) == Shape<3>{3, 14, 14});
  CHECK(out({.window = {3, 3}, .stride = {2, 2}}, 7, 8) == Shape<3>{3, 3, 3});
  CHECK(out({.window = {3, 3}, .stride = {2, 2}, .padding = {1, 1}}, 8, 8) == Shape<3>{3, 4, 4});
  CHECK(out({.window = {3, 1}, .stride = {1, 2}, .padding = {1, 0}}, 5, 5) == Shape<3>{3, 5, 3});
  CHECK(out({.window = {4, 4}, .stride = {1, 1}}, 4, 4) == Shape<3>{3, 1, 1});
}

TEST_CASE("every pool kind matches the naive definition on random shapes", "[ops][pool2d]") {
  fovea::Rng rng(5);
  for (int trial = 0; trial < 70; ++trial) {
    Pool2dOptions o;
    o.kind = all_kinds[trial % 5];
    o.window = {1 + rng.uniform_index(4), 1 + rng.uniform_index(4)};
    o.stride = {1 + rng.uniform_index(3), 1 + rng.uniform_index(3)};
    o.padding = {rng.uniform_index(o.window.h / 2 + 1), rng.uniform_index(o.window.w / 2 + 1)};
    Shape<4> shape = {1 + rng.uniform_index(3), 1 + rng.uniform_index(3), o.window.h + rng.uniform_index(6),
                      o.window.w + rng.uniform_index(6)};
    // Trials 60-69: the shapes with kernels of their own, 2x2 at stride 2
    // (odd sizes leave a row or column out) and one window over the whole map.
    if (trial >= 60) {
      o = {.kind = all_kinds[trial % 5], .window = {2, 2}, .stride = {2, 2}, .padding = {0, 0}};
      shape[2] = 2 + rng.uniform_index(6);
      shape[3] = 2 + rng.uniform_index(6);
    }
    if (trial >= 65) {
      o.window = {shape[2], shape[3]};
      o.stride = {1, 1};
    }
    const auto x = Tensor<double, 4>::uniform(shape, rng, -1.0, 1.0);
    Tensor<std::int32_t, 4> selected;
    const auto y = pool(o, x, selected);
    INFO(fovea::to_string(o) << " on " << fovea::to_string(shape));
    for (Index n = 0; n < y.dim(0); ++n) {
      for (Index c = 0; c < y.dim(1); ++c) {
        for (Index oh = 0; oh < y.dim(2); ++oh) {
          for (Index ow = 0; ow < y.dim(3); ++ow) {
            CHECK(y(n, c, oh, ow) == Approx(naive_pool(o, x, n, c, oh, ow)).epsilon(1e-12));
          }
        }
      }
    }
  }
}

TEMPLATE_TEST_CASE("2x2 max and min pooling at stride 2 send dy to the first winner, odd sizes included",
                   "[ops][pool2d]", float, double) {
  using T = TestType;
  fovea::Rng rng(31);
  for (const Shape<4>& shape : {Shape<4>{2, 3, 6, 8}, Shape<4>{1, 2, 5, 7}, Shape<4>{3, 1, 2, 3}}) {
    for (const PoolKind kind : {PoolKind::max, PoolKind::min}) {
      const Pool2dOptions o{.kind = kind, .window = {2, 2}, .stride = {2, 2}};
      INFO(fovea::to_string(o) << " on " << fovea::to_string(shape));
      // Values from a small set: ties are common, and the first cell in row-major order must win them.
      Tensor<T, 4> x(shape);
      for (T& v : x) v = static_cast<T>(rng.uniform_index(3));
      Tensor<std::int32_t, 4> selected;
      const auto y = pool(o, x, selected);
      const auto dy = Tensor<T, 4>::uniform(y.shape(), rng, -1, 1);
      Tensor<T, 4> dx(x.shape());
      dx.fill(T{9});  // every cell is written, the ones no window covers too
      fovea::pool2d_backward<T>(o, x, y, selected, dy, dx);
      Tensor<T, 4> expected(x.shape());
      expected.fill(T{0});
      for (Index n = 0; n < y.dim(0); ++n) {
        for (Index c = 0; c < y.dim(1); ++c) {
          for (Index oh = 0; oh < y.dim(2); ++oh) {
            for (Index ow = 0; ow < y.dim(3); ++ow) {
              Index best_h = 2 * oh, best_w = 2 * ow;
              for (Index h = 2 * oh; h < 2 * oh + 2; ++h) {
                for (Index w = 2 * ow; w < 2 * ow + 2; ++w) {
                  const bool better = kind == PoolKind::max ? x(n, c, h, w) > x(n, c, best_h, best_w)
                                                            : x(n, c, h, w) < x(n, c, best_h, best_w);
                  if (better) {
                    best_h = h;
                    best_w = w;
                  }
                }
              }
              CHECK(y(n, c, oh, ow) == x(n, c, best_h, best_w));
              expected(n, c, best_h, best_w) = dy(n, c, oh, ow);
            }
          }
        }
      }
      CHECK(std::vector<T>(dx.begin(), dx.end()) == std::vector<T>(expected.begin(), expected.end()));
    }
  }
}

TEST_CASE("L2 pooling of an all-zero window has gradient 0, not NaN", "[ops][pool2d]") {
  const Pool2dOptions options{.kind = PoolKind::l2, .window = {2, 2}, .stride = {2, 2}};
  Tensor<double, 4> x({1, 1, 2, 4}, {0, 0, 1, 2, 0, 0, 2, 4});
  Tensor<std::int32_t, 4> selected;
  const auto y = pool(options, x, selected);
  CHECK(y(0, 0, 0, 0) == 0);
  CHECK(y(0, 0, 0, 1) == Approx(5));
  const Tensor<double, 4> dy({1, 1, 1, 2}, {1, 1});
  Tensor<double, 4> dx(x.shape());
  fovea::pool2d_backward<double>(options, x, y, selected, dy, dx);
  CHECK(std::vector<double>(dx.begin(), dx.end()) == std::vector<double>{0, 0, 0.2, 0.4, 0, 0, 0.4, 0.8});
}

TEST_CASE("pool options describe themselves", "[ops][pool2d]") {
  CHECK(fovea::to_string(Pool2dOptions{}) == "MaxPool2d(2x2, s2)");
  CHECK(fovea::to_string({.kind = PoolKind::average, .window = {3, 3}, .stride = {2, 2}, .padding = {1, 1}}) ==
        "AvgPool2d(3x3, s2, p1)");
  CHECK(fovea::to_string({.kind = PoolKind::min, .window = {3, 1}, .stride = {2, 1}, .padding = {1, 0}}) ==
        "MinPool2d(3x1, s2x1, p1x0)");
  CHECK(fovea::to_string({.kind = PoolKind::sum, .window = {2, 2}, .stride = {1, 1}}) == "SumPool2d(2x2, s1)");
  CHECK(fovea::to_string({.kind = PoolKind::l2, .window = {2, 2}, .stride = {2, 2}}) == "L2Pool2d(2x2, s2)");
  CHECK(fovea::pool2d_flops_per_sample({.kind = PoolKind::max}, {3, 14, 14}) == 4 * 3 * 14 * 14);
  CHECK(fovea::pool2d_flops_per_sample({.kind = PoolKind::average}, {1, 2, 2}) == 5 * 4);
  CHECK(fovea::pool2d_flops_per_sample({.kind = PoolKind::l2}, {1, 2, 2}) == 9 * 4);
}

TEST_CASE("bad pool options and shapes are reported with the numbers", "[ops][pool2d]") {
  using fovea::validate_pool2d;
  CHECK_THROWS_AS(validate_pool2d({.window = {0, 2}}), fovea::value_error);
  CHECK_THROWS_WITH(validate_pool2d({.window = {0, 2}}), "MaxPool2d: window must be positive, got 0x2");
  CHECK_THROWS_WITH(validate_pool2d({.kind = PoolKind::average, .stride = {2, 0}}),
                    "AvgPool2d: stride must be positive, got 2x0");
  CHECK_THROWS_WITH(validate_pool2d({.kind = PoolKind::l2, .padding = {-1, 0}}),
                    "L2Pool2d: padding must not be negative, got -1x0");
  CHECK_THROWS_WITH(validate_pool2d({.window = {3, 3}, .stride = {1, 1}, .padding = {2, 2}}),
                    "MaxPool2d: padding 2x2 is more than half the window 3x3");
  CHECK_NOTHROW(validate_pool2d({.window = {2, 2}, .stride = {1, 1}, .padding = {1, 1}}));

  const Pool2dOptions three{.window = {3, 3}, .stride = {1, 1}};
  CHECK_THROWS_AS(fovea::pool2d_output_shape(three, {1, 2, 5}, "MaxPool2d(3x3, s1)"), fovea::shape_error);
  CHECK_THROWS_WITH(fovea::pool2d_output_shape(three, {1, 2, 5}, "MaxPool2d(3x3, s1)"),
                    "MaxPool2d(3x3, s1)::output_shape: input [1, 2, 5] is smaller than the window 3x3");
  const Pool2dOptions padded{.window = {5, 5}, .stride = {1, 1}, .padding = {1, 1}};
  CHECK_THROWS_WITH(fovea::pool2d_output_shape(padded, {1, 2, 2}, "P"),
                    "P::output_shape: input [1, 2, 2] is smaller than the window 5x5 even with padding 1x1");
  CHECK_THROWS_WITH(fovea::pool2d_output_shape(three, {4, 0, 5}, "P"),
                    "P::output_shape: input [4, 0, 5] has empty feature maps");

  const Tensor<float, 4> x({2, 3, 4, 4});
  Tensor<float, 4> wrong_y({2, 3, 3, 2});
  Tensor<std::int32_t, 4> selected({2, 3, 2, 2});
  CHECK_THROWS_WITH(fovea::pool2d_forward<float>(Pool2dOptions{}, x, wrong_y, selected),
                    "pool2d_forward: output [2, 3, 3, 2], expected [2, 3, 2, 2] for input [2, 3, 4, 4]");
  Tensor<float, 4> y({2, 3, 2, 2});
  Tensor<std::int32_t, 4> no_selected;
  CHECK_THROWS_WITH(fovea::pool2d_forward<float>(Pool2dOptions{}, x, y, no_selected),
                    "pool2d_forward: selected-cell indices [0, 0, 0, 0], expected [2, 3, 2, 2]");
  CHECK_NOTHROW(fovea::pool2d_forward<float>({.kind = PoolKind::sum}, x, y, no_selected));
  CHECK_THROWS_WITH(fovea::pool2d_forward<float>({.stride = {0, 1}}, x, y, selected),
                    "MaxPool2d: stride must be positive, got 0x1");

  Tensor<float, 4> dx(x.shape());
  Tensor<float, 4> wrong_dy({2, 3, 2, 3});
  Tensor<float, 4> wrong_dx({2, 3, 4, 5});
  fovea::pool2d_forward<float>(Pool2dOptions{}, x, y, selected);
  CHECK_THROWS_WITH(fovea::pool2d_backward<float>(Pool2dOptions{}, x, y, selected, wrong_dy, dx),
                    "pool2d_backward: gradient [2, 3, 2, 3] does not match the output [2, 3, 2, 2]");
  CHECK_THROWS_WITH(fovea::pool2d_backward<float>(Pool2dOptions{}, x, y, selected, y, wrong_dx),
                    "pool2d_backward: input gradient [2, 3, 4, 5] does not match the input [2, 3, 4, 4]");
}

TEST_CASE("global pooling options cover the whole map", "[ops][pool2d]") {
  const auto o = fovea::global_pool2d_options(PoolKind::average, 5, 7);
  CHECK(fovea::pool2d_output_shape(o, {3, 5, 7}, "g") == Shape<3>{3, 1, 1});
  Tensor<double, 4> x({1, 1, 5, 7});
  for (Index i = 0; i < x.size(); ++i) x.data()[i] = static_cast<double>(i);
  Tensor<double, 4> y({1, 1, 1, 1});
  fovea::pool2d_forward<double>(o, x, y, {});
  CHECK(y(0, 0, 0, 0) == Approx(17));  // mean of 0..34
}

TEST_CASE("a large batch, split across threads, matches sample-by-sample pooling", "[ops][pool2d]") {
  fovea::Rng rng(17);
  const auto x = Tensor<double, 4>::uniform({8, 8, 32, 32}, rng, -1, 1);  // above the parallel threshold
  REQUIRE(x.size() >= fovea::detail::pool2d_parallel_min_elements);
  for (PoolKind kind : all_kinds) {
    const Pool2dOptions o{.kind = kind, .window = {3, 3}, .stride = {2, 2}, .padding = {1, 1}};
    Tensor<std::int32_t, 4> selected;
    const auto y = pool(o, x, selected);
    const auto dy = Tensor<double, 4>::uniform(y.shape(), rng, -1, 1);
    Tensor<double, 4> dx(x.shape());
    fovea::pool2d_backward<double>(o, x, y, selected, dy, dx);
    INFO(fovea::to_string(o));
    for (Index n = 0; n < x.dim(0); ++n) {
      const Tensor<double, 4> sample(x.slice(n, n + 1));
      Tensor<std::int32_t, 4> sample_selected;
      const auto sample_y = pool(o, sample, sample_selected);
      Tensor<double, 4> sample_dx(sample.shape());
      fovea::pool2d_backward<double>(o, sample, sample_y, sample_selected, dy.slice(n, n + 1), sample_dx);
      CHECK(sample_y.array().isApprox(Tensor<double, 4>(y.slice(n, n + 1)).array(), 0));
      CHECK(sample_dx.array().isApprox(Tensor<double, 4>(dx.slice(n, n + 1)).array(), 0));
    }
  }
}
