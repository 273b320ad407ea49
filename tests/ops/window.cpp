#include "fovea/ops/window.hpp"

#include <catch2/catch.hpp>

using fovea::Index;
using fovea::Window2d;
using fovea::WindowAxis;
using fovea::WindowFit;

TEST_CASE("window_output_size is floor((I + before + after - E)/S) + 1", "[window]") {
  using fovea::window_output_size;
  CHECK(window_output_size(28, {.kernel = 5, .pad_before = 2, .pad_after = 2}) == 28);
  CHECK(window_output_size(227, {.kernel = 11, .stride = 4}) == 55);  // AlexNet's first layer
  CHECK(window_output_size(10, {.kernel = 3, .stride = 2}) == 4);     // 4.5: floor
  CHECK(window_output_size(7, {.kernel = 3, .dilation = 2}) == 3);    // the kernel spans 5
  // TensorFlow's "same" at stride 2 on an even input: one more row after than before.
  CHECK(window_output_size(8, {.kernel = 3, .stride = 2, .pad_before = 0, .pad_after = 1}) == 4);
  CHECK(window_output_size(5, {.kernel = 2, .pad_before = 3, .pad_after = 0}) == 7);
  CHECK(WindowAxis{.kernel = 3, .dilation = 3}.extent() == 7);
}

TEST_CASE("window_fit_problem says why a window cannot slide, with both paddings", "[window][errors]") {
  using fovea::window_fit_problem;
  CHECK(window_fit_problem(10, {.kernel = 3, .stride = 2}).empty());
  CHECK(window_fit_problem(10, {.kernel = 3, .stride = 2}, WindowFit::exact) ==
        "(10 - 3 + 2*0)/2 + 1 = 4.5 is not an integer");
  CHECK(window_fit_problem(10, {.kernel = 3, .stride = 3, .pad_before = 1, .pad_after = 0}, WindowFit::exact) ==
        "(10 - 3 + 1 + 0)/3 + 1 = 3.66667 is not an integer");
  CHECK(window_fit_problem(10, {.kernel = 3, .stride = 3, .pad_before = 1, .pad_after = 1}, WindowFit::exact).empty());
  CHECK(window_fit_problem(3, {.kernel = 6, .pad_before = 1, .pad_after = 1}) ==
        "kernel extent 6 is larger than the padded input 3 + 2*1 = 5");
  CHECK(window_fit_problem(3, {.kernel = 6, .pad_before = 2, .pad_after = 0}) ==
        "kernel extent 6 is larger than the padded input 3 + 2 + 0 = 5");
  CHECK(window_fit_problem(4, {.kernel = 3, .dilation = 2}) ==
        "kernel extent 5 (3 dilated by 2) is larger than the padded input 4 + 2*0 = 4");
  CHECK(window_fit_problem(0, {}) == "input size must be positive, got 0");
  CHECK(window_fit_problem(5, {.kernel = 0}) == "kernel size must be positive, got 0");
  CHECK(window_fit_problem(5, {.stride = -1}) == "stride must be positive, got -1");
  CHECK(window_fit_problem(5, {.dilation = 0}) == "dilation must be positive, got 0");
  CHECK(window_fit_problem(5, {.pad_before = 0, .pad_after = -1}) == "padding must be non-negative, got 0 and -1");
}

TEST_CASE("Window2d gives each axis its own padding on both sides", "[window]") {
  const Window2d w{.kernel_h = 3, .kernel_w = 3, .stride_h = 2, .stride_w = 2, .pad_bottom = 1, .pad_right = 1};
  CHECK(w.out_h(8) == 4);
  CHECK(w.out_w(8) == 4);
  CHECK(w.fits(8, 8));
  CHECK_FALSE(w.fits(1, 8));  // 1 + 0 + 1 < 3
  CHECK_FALSE(w.unpadded());
  CHECK(w.rows().pad_before == 0);
  CHECK(w.rows().pad_after == 1);
  CHECK(fovea::to_string(w) == "k3x3, s2x2, p(t0, b1, l0, r1), d1x1");
  CHECK(fovea::to_string(
            Window2d{.kernel_h = 5, .kernel_w = 3, .pad_top = 2, .pad_bottom = 2, .pad_left = 1, .pad_right = 1}) ==
        "k5x3, s1x1, p2x1, d1x1");
}
