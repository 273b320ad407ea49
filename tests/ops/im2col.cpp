#include "fovea/ops/im2col.hpp"

#include <catch2/catch.hpp>

#include "fovea/core/tensor.hpp"

using fovea::Index;
using fovea::Shape;
using fovea::Tensor;
using fovea::Window2d;

TEMPLATE_TEST_CASE("im2col lays each receptive field out as a column", "[im2col]", float, double) {
  // x: [1, 3, 3] = 1..9, 2x2 kernel, stride 1 -> cols [4, 4]: row (ki, kj), column (oh, ow).
  const Tensor<TestType, 3> x({1, 3, 3}, {1, 2, 3, 4, 5, 6, 7, 8, 9});
  const Window2d w{.kernel_h = 2, .kernel_w = 2};
  Tensor<TestType, 2> cols(w.cols_shape(x.shape()));
  REQUIRE(cols.shape() == Shape<2>{4, 4});
  fovea::im2col<TestType>(x, w, cols);
  const Tensor<TestType, 2> expected({4, 4}, {1, 2, 4, 5,  //
                                              2, 3, 5, 6,  //
                                              4, 5, 7, 8,  //
                                              5, 6, 8, 9});
  CHECK(cols.matrix() == expected.matrix());
}

TEMPLATE_TEST_CASE("im2col writes zeros for the padding and honours stride and dilation", "[im2col]", float, double) {
  const Tensor<TestType, 3> x({1, 3, 3}, {1, 2, 3, 4, 5, 6, 7, 8, 9});
  SECTION("padding 1, stride 2, 3x3 kernel: the four corners of the padded image") {
    const Window2d w{.kernel_h = 3,
                     .kernel_w = 3,
                     .stride_h = 2,
                     .stride_w = 2,
                     .pad_top = 1,
                     .pad_bottom = 1,
                     .pad_left = 1,
                     .pad_right = 1};
    Tensor<TestType, 2> cols(w.cols_shape(x.shape()));
    REQUIRE(cols.shape() == Shape<2>{9, 4});
    fovea::im2col<TestType>(x, w, cols);
    // Column 0 is the window centred on x(0,0); its top row and left column are padding.
    const TestType first[] = {0, 0, 0, 0, 1, 2, 0, 4, 5};
    const TestType last[] = {5, 6, 0, 8, 9, 0, 0, 0, 0};
    for (Index r = 0; r < 9; ++r) {
      CHECK(cols(r, 0) == first[r]);
      CHECK(cols(r, 3) == last[r]);
    }
  }
  SECTION("padding on one side only: one row above, one column on the right") {
    const Window2d w{.kernel_h = 2, .kernel_w = 2, .pad_top = 1, .pad_right = 1};
    Tensor<TestType, 2> cols(w.cols_shape(x.shape()));
    REQUIRE(cols.shape() == Shape<2>{4, 9});
    fovea::im2col<TestType>(x, w, cols);
    // The padded image is [0 0 0 0; 1 2 3 0; 4 5 6 0; 7 8 9 0]; columns (0, 0), (0, 2) and (2, 2).
    const TestType first[] = {0, 0, 1, 2}, corner[] = {0, 0, 3, 0}, last[] = {6, 0, 9, 0};
    for (Index r = 0; r < 4; ++r) {
      CHECK(cols(r, 0) == first[r]);
      CHECK(cols(r, 2) == corner[r]);
      CHECK(cols(r, 8) == last[r]);
    }
  }
  SECTION("dilation 2: a 2x2 kernel reads the four corners") {
    const Window2d w{.kernel_h = 2, .kernel_w = 2, .dilation_h = 2, .dilation_w = 2};
    Tensor<TestType, 2> cols(w.cols_shape(x.shape()));
    REQUIRE(cols.shape() == Shape<2>{4, 1});
    fovea::im2col<TestType>(x, w, cols);
    CHECK(cols(0, 0) == 1);
    CHECK(cols(1, 0) == 3);
    CHECK(cols(2, 0) == 7);
    CHECK(cols(3, 0) == 9);
  }
}

TEST_CASE("col2im is the exact adjoint of im2col: <im2col(x), c> = <x, col2im(c)>", "[im2col]") {
  fovea::Rng rng(7);
  for (int trial = 0; trial < 200; ++trial) {
    Window2d w{.kernel_h = 1 + rng.uniform_index(4),
               .kernel_w = 1 + rng.uniform_index(4),
               .stride_h = 1 + rng.uniform_index(3),
               .stride_w = 1 + rng.uniform_index(3),
               .pad_top = rng.uniform_index(3),
               .pad_bottom = rng.uniform_index(3),
               .pad_left = rng.uniform_index(3),
               .pad_right = rng.uniform_index(3),
               .dilation_h = 1 + rng.uniform_index(2),
               .dilation_w = 1 + rng.uniform_index(2)};
    const Index C = 1 + rng.uniform_index(3);
    const Index H = std::max<Index>(1, w.extent_h() - w.pad_top - w.pad_bottom) + rng.uniform_index(6);
    const Index W = std::max<Index>(1, w.extent_w() - w.pad_left - w.pad_right) + rng.uniform_index(6);
    INFO("window " << fovea::to_string(w) << ", input [" << C << ", " << H << ", " << W << "]");
    REQUIRE(w.fits(H, W));

    const auto x = Tensor<double, 3>::uniform({C, H, W}, rng, -1, 1);
    const auto c = Tensor<double, 2>::uniform(w.cols_shape(x.shape()), rng, -1, 1);
    Tensor<double, 2> cols(c.shape());
    fovea::im2col<double>(x, w, cols);
    Tensor<double, 3> back(x.shape());
    fovea::col2im<double>(c, w, back);
    const double lhs = (cols.array() * c.array()).sum();
    const double rhs = (x.array() * back.array()).sum();
    CHECK(lhs == Approx(rhs).epsilon(1e-12).margin(1e-12));

    // Accumulates: a second call adds the same again (up to rounding: the sums run in another order).
    Tensor<double, 3> twice(back);
    fovea::col2im<double>(c, w, twice);
    CHECK(twice.array().isApprox(2 * back.array(), 1e-12));
  }
}

TEMPLATE_TEST_CASE("im2col and col2im name the shapes they cannot take", "[im2col][errors]", float, double) {
  const Tensor<TestType, 3> x({2, 4, 4});
  const Window2d w{.kernel_h = 3, .kernel_w = 3};
  Tensor<TestType, 2> wrong({18, 3});
  CHECK_THROWS_AS(fovea::im2col<TestType>(x, w, wrong), fovea::shape_error);
  CHECK_THROWS_WITH(
      fovea::im2col<TestType>(x, w, wrong),
      "im2col: columns [18, 3], expected [18, 4] for input [2, 4, 4] and window (k3x3, s1x1, p0x0, d1x1)");
  Tensor<TestType, 3> dx({2, 4, 4});
  CHECK_THROWS_WITH(
      fovea::col2im<TestType>(wrong, w, dx),
      "col2im: columns [18, 3], expected [18, 4] for input [2, 4, 4] and window (k3x3, s1x1, p0x0, d1x1)");

  const Window2d big{.kernel_h = 5, .kernel_w = 5};
  Tensor<TestType, 2> cols({50, 1});
  CHECK_THROWS_WITH(fovea::im2col<TestType>(x, big, cols),
                    "im2col: window (k5x5, s1x1, p0x0, d1x1) does not fit input [2, 4, 4]");
  const Window2d zero_stride{.kernel_h = 3, .kernel_w = 3, .stride_h = 0};
  CHECK_THROWS_WITH(fovea::im2col<TestType>(x, zero_stride, cols),
                    "im2col: window (k3x3, s0x1, p0x0, d1x1) does not fit input [2, 4, 4]");
}
