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
using fovea::Size2;
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
// treating cells outside the map as padding (inside the padded map) or as
// beyond it (a ceil-mode window's overhang). Returns the output and adds
// dy * d(output)/d(cell) into dx.
template <class T>
double naive_pool(const Pool2dOptions& o, const Tensor<T, 4>& x, Index n, Index c, Index oh, Index ow, double dy = 0,
                  Tensor<double, 4>* dx = nullptr) {
  const Index H = x.dim(2), W = x.dim(3);
  double best_max = -std::numeric_limits<double>::infinity();
  double best_min = std::numeric_limits<double>::infinity();
  Index max_h = -1, max_w = -1, min_h = -1, min_w = -1;
  double sum = 0, sum_squares = 0;
  Index padded = 0, real = 0;
  for (Index i = 0; i < o.window.h; ++i) {
    for (Index j = 0; j < o.window.w; ++j) {
      const Index h = oh * o.stride.h - o.padding.top + i;
      const Index w = ow * o.stride.w - o.padding.left + j;
      if (h < H + o.padding.bottom && w < W + o.padding.right) ++padded;
      if (h < 0 || h >= H || w < 0 || w >= W) continue;  // padding: zero, never a max or min
      ++real;
      const double v = x(n, c, h, w);
      // PyTorch: a NaN wins, a later NaN over an earlier one; ties go to the first.
      if (max_h < 0 || v > best_max || std::isnan(v)) {
        best_max = v;
        max_h = h;
        max_w = w;
      }
      if (min_h < 0 || v < best_min || std::isnan(v)) {
        best_min = v;
        min_h = h;
        min_w = w;
      }
      sum += v;
      sum_squares += v * v;
    }
  }
  const double divisor = static_cast<double>(o.count_include_pad ? padded : real);
  double y = 0;
  switch (o.kind) {
    case PoolKind::max:
      y = best_max;
      if (dx) (*dx)(n, c, max_h, max_w) += dy;
      return y;
    case PoolKind::min:
      y = best_min;
      if (dx) (*dx)(n, c, min_h, min_w) += dy;
      return y;
    case PoolKind::sum:
      y = sum;
      break;
    case PoolKind::average:
      y = sum / divisor;
      break;
    case PoolKind::l2:
      y = std::sqrt(sum_squares);
      break;
  }
  if (dx) {
    for (Index i = 0; i < o.window.h; ++i) {
      for (Index j = 0; j < o.window.w; ++j) {
        const Index h = oh * o.stride.h - o.padding.top + i;
        const Index w = ow * o.stride.w - o.padding.left + j;
        if (h < 0 || h >= H || w < 0 || w >= W) continue;
        const double v = x(n, c, h, w);
        (*dx)(n, c, h, w) += o.kind == PoolKind::sum       ? dy
                             : o.kind == PoolKind::average ? dy / divisor
                                                           : (y > 0 ? dy * v / y : 0.0);
      }
    }
  }
  return y;
}

// The output size by counting windows: floor mode takes the windows that fit
// in the padded map; ceil mode also the partial last one, if it starts
// inside the input or the top (left) padding.
Index naive_output_size(Index input, Index window, Index stride, Index before, Index after, bool ceil_mode) {
  Index count = 0;
  for (Index start = 0;; start += stride) {  // in padded coordinates
    const bool fits = start + window <= before + input + after;
    const bool partial = ceil_mode && start < before + input && start + window > before + input + after &&
                         start - stride + window < before + input + after;
    if (!fits && !partial) break;
    ++count;
    if (!fits) break;
  }
  return count;
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

TEST_CASE("the output size is floor((H + top + bottom - K) / S) + 1 per axis", "[ops][pool2d]") {
  const auto out = [](Pool2dOptions o, Index H, Index W) { return fovea::pool2d_output_shape(o, {3, H, W}, "p"); };
  CHECK(out({.window = {2, 2}, .stride = {2, 2}}, 28, 28) == Shape<3>{3, 14, 14});
  CHECK(out({.window = {3, 3}, .stride = {2, 2}}, 7, 8) == Shape<3>{3, 3, 3});
  CHECK(out({.window = {3, 3}, .stride = {2, 2}, .padding = {1, 1}}, 8, 8) == Shape<3>{3, 4, 4});
  CHECK(out({.window = {3, 1}, .stride = {1, 2}, .padding = {1, 0}}, 5, 5) == Shape<3>{3, 5, 3});
  CHECK(out({.window = {4, 4}, .stride = {1, 1}}, 4, 4) == Shape<3>{3, 1, 1});
}

TEMPLATE_TEST_CASE("every pool kind matches the naive definition on random shapes, forward and backward",
                   "[ops][pool2d]", float, double) {
  using T = TestType;
  const double tolerance = std::is_same_v<T, float> ? 1e-5 : 1e-12;
  fovea::Rng rng(5);
  for (int trial = 0; trial < 110; ++trial) {
    Pool2dOptions o;
    o.kind = all_kinds[trial % 5];
    o.window = {1 + rng.uniform_index(4), 1 + rng.uniform_index(4)};
    o.stride = {1 + rng.uniform_index(3), 1 + rng.uniform_index(3)};
    o.padding = {rng.uniform_index(o.window.h / 2 + 1), rng.uniform_index(o.window.w / 2 + 1)};
    // Trials 70-109: each side's padding on its own, ceil mode, averages without the padding.
    if (trial >= 70) {
      o.padding = {rng.uniform_index(o.window.h / 2 + 1), rng.uniform_index(o.window.h / 2 + 1),
                   rng.uniform_index(o.window.w / 2 + 1), rng.uniform_index(o.window.w / 2 + 1)};
      o.ceil_mode = rng.uniform_index(2) == 1;
      o.count_include_pad = o.kind != PoolKind::average || rng.uniform_index(2) == 1;
    }
    Shape<4> shape = {1 + rng.uniform_index(3), 1 + rng.uniform_index(3), o.window.h + rng.uniform_index(6),
                      o.window.w + rng.uniform_index(6)};
    // Trials 60-69: the shapes with kernels of their own, 2x2 at stride 2
    // (odd sizes leave a row or column out) and one window over the whole map.
    if (trial >= 60) {
      o = {.kind = all_kinds[trial % 5], .window = {2, 2}, .stride = {2, 2}, .padding = {0, 0}};
      shape[2] = 2 + rng.uniform_index(6);
      shape[3] = 2 + rng.uniform_index(6);
    }
    if (trial >= 65 && trial < 70) {
      o.window = {shape[2], shape[3]};
      o.stride = {1, 1};
    }
    const auto x = Tensor<T, 4>::uniform(shape, rng, T{-1}, T{1});
    Tensor<std::int32_t, 4> selected;
    const auto y = pool(o, x, selected);
    INFO(fovea::to_string(o) << " on " << fovea::to_string(shape));
    REQUIRE(y.dim(2) ==
            naive_output_size(shape[2], o.window.h, o.stride.h, o.padding.top, o.padding.bottom, o.ceil_mode));
    REQUIRE(y.dim(3) ==
            naive_output_size(shape[3], o.window.w, o.stride.w, o.padding.left, o.padding.right, o.ceil_mode));
    const auto dy = Tensor<T, 4>::uniform(y.shape(), rng, T{-1}, T{1});
    Tensor<T, 4> dx(x.shape());
    fovea::pool2d_backward<T>(o, x, y, selected, dy, dx);
    Tensor<double, 4> want_dx(x.shape());
    want_dx.fill(0);
    for (Index n = 0; n < y.dim(0); ++n) {
      for (Index c = 0; c < y.dim(1); ++c) {
        for (Index oh = 0; oh < y.dim(2); ++oh) {
          for (Index ow = 0; ow < y.dim(3); ++ow) {
            const double want = naive_pool(o, x, n, c, oh, ow, dy(n, c, oh, ow), &want_dx);
            CHECK(y(n, c, oh, ow) == Approx(want).epsilon(tolerance).margin(tolerance));
          }
        }
      }
    }
    for (Index i = 0; i < x.size(); ++i) {
      CHECK(dx.data()[i] == Approx(want_dx.data()[i]).epsilon(tolerance).margin(tolerance));
    }
    if (o.kind == PoolKind::max || o.kind == PoolKind::min) {
      // Without kept winners (inference): the same bits forward, and a
      // backward that finds the same winners in x.
      const Tensor<std::int32_t, 4> none;
      Tensor<T, 4> y_unkept(y.shape());
      fovea::pool2d_forward<T>(o, x, y_unkept, Tensor<std::int32_t, 4>{});
      CHECK(std::vector<T>(y_unkept.begin(), y_unkept.end()) == std::vector<T>(y.begin(), y.end()));
      Tensor<T, 4> dx_found(x.shape());
      fovea::pool2d_backward<T>(o, x, y, none, dy, dx_found);
      CHECK(std::vector<T>(dx_found.begin(), dx_found.end()) == std::vector<T>(dx.begin(), dx.end()));
    }
  }
}

TEST_CASE("ceil mode rounds the output up, but a window must start inside the input or top/left padding",
          "[ops][pool2d]") {
  const auto out = [](Pool2dOptions o, Index H, Index W) { return fovea::pool2d_output_shape(o, {1, H, W}, "p"); };
  // PyTorch: MaxPool2d(3, 2, ceil_mode=True) on 112x112 gives 56x56 (floor: 55).
  CHECK(out({.window = {3, 3}, .stride = {2, 2}}, 112, 112) == Shape<3>{1, 55, 55});
  CHECK(out({.window = {3, 3}, .stride = {2, 2}, .ceil_mode = true}, 112, 112) == Shape<3>{1, 56, 56});
  // 5 cells, window 2, stride 2, padding 1: ceil((5 + 2 - 2) / 2) + 1 = 4, but
  // window 3 would start at padded 6 = past the input and the left padding.
  CHECK(out({.window = {2, 2}, .stride = {2, 2}, .padding = 1, .ceil_mode = true}, 5, 5) == Shape<3>{1, 3, 3});
  CHECK(out({.window = {2, 2}, .stride = {2, 2}, .ceil_mode = true}, 5, 4) == Shape<3>{1, 3, 2});
  // Asymmetric padding: rows 4 + 0 + 1, columns 4 + 1 + 0.
  CHECK(out({.window = {2, 2}, .stride = {1, 1}, .padding = {0, 1, 1, 0}}, 4, 4) == Shape<3>{1, 4, 4});
  CHECK(out({.window = {3, 3}, .stride = {2, 2}, .padding = {0, 1, 0, 1}}, 6, 6) == Shape<3>{1, 3, 3});
}

TEMPLATE_TEST_CASE("ceil mode, asymmetric padding and count_include_pad on hand-worked maps", "[ops][pool2d]", float,
                   double) {
  using T = TestType;
  // clang-format off
  const Tensor<T, 4> x({1, 1, 3, 3}, {1, 2, 3,
                                      4, 5, 6,
                                      7, 8, 9});
  // clang-format on
  Tensor<std::int32_t, 4> selected;
  // 2x2, stride 2, ceil: windows {1,2,4,5}, {3,6}, {7,8}, {9}.
  Pool2dOptions o{.kind = PoolKind::average, .window = {2, 2}, .stride = {2, 2}, .ceil_mode = true};
  auto y = pool(o, x, selected);
  // A window hanging over the edge without padding counts only its cells inside the padded (= real) map.
  CHECK(std::vector<T>(y.begin(), y.end()) == std::vector<T>{3, 4.5, 7.5, 9});
  o.kind = PoolKind::max;
  y = pool(o, x, selected);
  CHECK(std::vector<T>(y.begin(), y.end()) == std::vector<T>{5, 6, 8, 9});
  // Padding 1 all round, 3x3 windows at stride 2: the corner windows hold 4 real cells of 9.
  o = {.kind = PoolKind::average, .window = {3, 3}, .stride = {2, 2}, .padding = 1};
  y = pool(o, x, selected);
  CHECK(std::vector<T>(y.begin(), y.end()) == std::vector<T>{12 / T{9}, 16 / T{9}, 24 / T{9}, 28 / T{9}});
  o.count_include_pad = false;
  y = pool(o, x, selected);
  CHECK(std::vector<T>(y.begin(), y.end()) == std::vector<T>{3, 4, 6, 7});
  const Tensor<T, 4> dy({1, 1, 2, 2}, {4, 4, 4, 4});
  Tensor<T, 4> dx(x.shape());
  fovea::pool2d_backward<T>(o, x, y, selected, dy, dx);
  // Each corner is in one window of 4 real cells; the centre in all four.
  CHECK(dx(0, 0, 0, 0) == 1);
  CHECK(dx(0, 0, 1, 1) == 4);
  CHECK(dx(0, 0, 0, 1) == 2);
  // Padding only on the bottom and right (TensorFlow's SAME for an even window): [t0, b1, l0, r1].
  o = {.kind = PoolKind::max, .window = {2, 2}, .stride = {2, 2}, .padding = {0, 1, 0, 1}};
  y = pool(o, x, selected);
  CHECK(std::vector<T>(y.begin(), y.end()) == std::vector<T>{5, 6, 8, 9});
  CHECK(fovea::to_string(o) == "MaxPool2d(2x2, s2, p[t0, b1, l0, r1])");
}

TEMPLATE_TEST_CASE("a NaN anywhere in a window gives NaN, and max/min backward routes to it", "[ops][pool2d]", float,
                   double) {
  using T = TestType;
  const T nan = std::numeric_limits<T>::quiet_NaN();
  for (const PoolKind kind : all_kinds) {
    // A NaN in every position of a 2x2 window (the 2x2 kernel) and of a 3x3
    // window at stride 1 (the general loop), never first only.
    for (const Size2 window : {Size2{2, 2}, Size2{3, 3}}) {
      for (Index at = 0; at < window.h * window.w; ++at) {
        const Pool2dOptions o{.kind = kind, .window = window, .stride = window};
        Tensor<T, 4> x({1, 1, window.h, window.w});
        for (Index i = 0; i < x.size(); ++i) x.data()[i] = static_cast<T>(i + 1);
        x.data()[at] = nan;
        Tensor<std::int32_t, 4> selected;
        const auto y = pool(o, x, selected);
        INFO(fovea::to_string(o) << ", NaN at " << at);
        CHECK(std::isnan(y(0, 0, 0, 0)));
        if (kind == PoolKind::max || kind == PoolKind::min) {
          CHECK(selected(0, 0, 0, 0) == at);
          const Tensor<T, 4> dy({1, 1, 1, 1}, {3});
          Tensor<T, 4> dx(x.shape());
          fovea::pool2d_backward<T>(o, x, y, selected, dy, dx);
          for (Index i = 0; i < x.size(); ++i) CHECK(dx.data()[i] == (i == at ? 3 : 0));
          // Without kept winners: NaN forward, and backward finds the NaN.
          Tensor<T, 4> y_unkept(y.shape());
          fovea::pool2d_forward<T>(o, x, y_unkept, Tensor<std::int32_t, 4>{});
          CHECK(std::isnan(y_unkept(0, 0, 0, 0)));
          fovea::pool2d_backward<T>(o, x, y, Tensor<std::int32_t, 4>{}, dy, dx);
          for (Index i = 0; i < x.size(); ++i) CHECK(dx.data()[i] == (i == at ? 3 : 0));
        }
      }
    }
  }
  // Two NaNs: the gradient goes to the last, as in PyTorch's CPU kernel.
  Tensor<T, 4> x({1, 1, 3, 3}, {1, nan, 3, 4, 5, nan, 7, 8, 9});
  Tensor<std::int32_t, 4> selected;
  const auto y = pool<T>({.window = {3, 3}, .stride = {1, 1}}, x, selected);
  CHECK(std::isnan(y(0, 0, 0, 0)));
  CHECK(selected(0, 0, 0, 0) == 5);
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
      dx.fill(T{9});
      fovea::pool2d_backward<T>(o, x, y, Tensor<std::int32_t, 4>{}, dy, dx);  // winners found again: ties alike
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
  CHECK(fovea::to_string({.window = {3, 3}, .stride = {2, 2}, .ceil_mode = true}) == "MaxPool2d(3x3, s2, ceil)");
  CHECK(fovea::to_string(
            {.kind = PoolKind::average, .window = {3, 3}, .stride = 1, .padding = 1, .count_include_pad = false}) ==
        "AvgPool2d(3x3, s1, p1, exclude pad)");
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
  CHECK_THROWS_WITH(validate_pool2d({.window = {3, 3}, .stride = {1, 1}, .padding = {0, 2, 1, 1}}),
                    "MaxPool2d: padding [t0, b2, l1, r1] is more than half the window 3x3");
  CHECK_THROWS_WITH(validate_pool2d({.padding = {0, 0, -1, 0}}),
                    "MaxPool2d: padding must not be negative, got [t0, b0, l-1, r0]");
  CHECK_THROWS_AS(validate_pool2d({.kind = PoolKind::max, .count_include_pad = false}), fovea::value_error);
  CHECK_THROWS_WITH(validate_pool2d({.kind = PoolKind::sum, .count_include_pad = false}),
                    "SumPool2d: count_include_pad = false applies to average pooling only");
  CHECK_NOTHROW(validate_pool2d({.kind = PoolKind::average, .count_include_pad = false}));
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
  Tensor<std::int32_t, 4> wrong_selected({2, 3, 2, 3});
  CHECK_THROWS_WITH(fovea::pool2d_forward<float>(Pool2dOptions{}, x, y, wrong_selected),
                    "pool2d_forward: selected-cell indices [2, 3, 2, 3], expected [2, 3, 2, 2]");
  Tensor<std::int32_t, 4> no_selected;
  CHECK_NOTHROW(fovea::pool2d_forward<float>(Pool2dOptions{}, x, y, no_selected));
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
