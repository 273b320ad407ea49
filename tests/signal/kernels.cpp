#include "fovea/signal/kernels.hpp"

#include <catch2/catch.hpp>
#include <cmath>
#include <set>
#include <string>

#include "fovea/signal/convolve.hpp"

using fovea::Index;
using fovea::Shape;
using fovea::Tensor;
using fovea::signal::correlate;
using fovea::signal::Mode;

namespace {

template <class T>
double sum_of(const Tensor<T, 2>& t) {
  return t.array().template cast<double>().sum();
}

template <class T>
bool is_flip_symmetric(const Tensor<T, 2>& t) {
  const auto flipped = fovea::signal::flip(t);
  return std::equal(t.begin(), t.end(), flipped.begin());
}

// A 6 x 6 image: 0 on the left, 10 from column 3 on (a vertical step edge).
template <class T>
Tensor<T, 2> step_right() {
  Tensor<T, 2> image({6, 6});
  for (Index y = 0; y < 6; ++y) {
    for (Index x = 3; x < 6; ++x) image(y, x) = 10;
  }
  return image;
}

}  // namespace

TEMPLATE_TEST_CASE("blurs are normalised and symmetric", "[signal][kernels]", float, double) {
  const auto box = fovea::signal::box_blur<TestType>();
  CHECK(box.shape() == Shape<2>{3, 3});
  for (TestType w : box) CHECK(w == Approx(1.0 / 9));
  CHECK(sum_of(box) == Approx(1));
  CHECK(sum_of(fovea::signal::box_blur<TestType>(5)) == Approx(1));

  for (auto [size, sigma] : {std::pair<Index, double>{3, 0.5}, {5, 1.0}, {7, 1.5}, {11, 3.0}}) {
    const auto gaussian = fovea::signal::gaussian_blur<TestType>(size, sigma);
    INFO("size " << size << ", sigma " << sigma);
    CHECK(gaussian.shape() == Shape<2>{size, size});
    CHECK(sum_of(gaussian) == Approx(1).epsilon(1e-6));
    CHECK(is_flip_symmetric(gaussian));
    const Index centre = size / 2;
    // The peak is the centre, and weights fall off as exp(-d^2 / (2 sigma^2)).
    CHECK(*std::max_element(gaussian.begin(), gaussian.end()) == gaussian(centre, centre));
    CHECK(gaussian(centre, centre + 1) / gaussian(centre, centre) == Approx(std::exp(-1 / (2 * sigma * sigma))));
    CHECK(gaussian(centre + 1, centre + 1) / gaussian(centre, centre) == Approx(std::exp(-2 / (2 * sigma * sigma))));
    CHECK(gaussian(0, centre) == gaussian(centre, 0));
  }
}

TEMPLATE_TEST_CASE("edge detectors sum to 0 and have the textbook values", "[signal][kernels]", float, double) {
  using namespace fovea::signal;
  CHECK(difference_x<TestType>().shape() == Shape<2>{1, 2});
  CHECK(difference_y<TestType>().shape() == Shape<2>{2, 1});
  CHECK(difference_x<TestType>()(0, 0) == -1);
  CHECK(difference_x<TestType>()(0, 1) == 1);
  CHECK(difference_y<TestType>()(1, 0) == 1);
  for (const auto& kernel : {difference_x<TestType>(), difference_y<TestType>(), sobel_x<TestType>(),
                             sobel_y<TestType>(), laplacian<TestType>()}) {
    CHECK(sum_of(kernel) == 0);
  }
  const auto sx = sobel_x<TestType>();
  const auto sy = sobel_y<TestType>();
  const TestType expected_x[3][3] = {{-1, 0, 1}, {-2, 0, 2}, {-1, 0, 1}};
  for (Index y = 0; y < 3; ++y) {
    for (Index x = 0; x < 3; ++x) {
      CHECK(sx(y, x) == expected_x[y][x]);
      CHECK(sy(y, x) == expected_x[x][y]);  // Sobel y is Sobel x transposed
    }
  }
  const auto lap = laplacian<TestType>();
  CHECK(lap(1, 1) == -4);
  CHECK(lap(0, 1) == 1);
  CHECK(lap(0, 0) == 0);
  CHECK(is_flip_symmetric(lap));
  CHECK(!is_flip_symmetric(sx));  // so convolve and correlate differ for Sobel: the sign flips
}

TEMPLATE_TEST_CASE("sharpen, emboss and identity keep flat regions unchanged", "[signal][kernels]", float, double) {
  using namespace fovea::signal;
  CHECK(sum_of(sharpen<TestType>()) == 1);
  CHECK(sharpen<TestType>()(1, 1) == 5);
  CHECK(sum_of(emboss<TestType>()) == 1);
  CHECK(emboss<TestType>()(0, 0) == -2);
  CHECK(emboss<TestType>()(2, 2) == 2);
  const auto id = identity<TestType>(5);
  CHECK(sum_of(id) == 1);
  CHECK(id(2, 2) == 1);

  fovea::Rng rng(21);
  const auto image = Tensor<TestType, 2>::uniform({8, 9}, rng, 0, 255);
  const auto same = correlate(image, identity<TestType>(), Mode::same);
  CHECK(std::equal(same.begin(), same.end(), image.begin()));
}

TEMPLATE_TEST_CASE("applied with correlate, the kernels do what their names say", "[signal][kernels]", float, double) {
  using namespace fovea::signal;
  const auto step = step_right<TestType>();
  // The step sits between columns 2 and 3: the forward difference fires at column 2 only.
  const auto dx = correlate(step, difference_x<TestType>(), Mode::valid);
  CHECK(dx.shape() == Shape<2>{6, 5});
  for (Index y = 0; y < 6; ++y) {
    for (Index x = 0; x < 5; ++x) CHECK(dx(y, x) == (x == 2 ? 10 : 0));
  }
  // Sobel x: 4 x the step on the two columns either side of it, and no response along y.
  const auto sx = correlate(step, sobel_x<TestType>(), Mode::valid);
  const auto sy = correlate(step, sobel_y<TestType>(), Mode::valid);
  for (Index y = 0; y < 4; ++y) {
    for (Index x = 0; x < 4; ++x) {
      CHECK(sx(y, x) == ((x == 1 || x == 2) ? 40 : 0));
      CHECK(sy(y, x) == 0);
    }
  }
  // A flat image: every edge detector gives exactly 0, every blur the same level.
  const auto flat = Tensor<TestType, 2>::full({7, 7}, 42);
  for (const auto& kernel : {sobel_x<TestType>(), sobel_y<TestType>(), laplacian<TestType>()}) {
    const auto edges = correlate(flat, kernel, Mode::valid);
    for (TestType v : edges) CHECK(v == 0);
  }
  for (const auto& kernel : {box_blur<TestType>(), gaussian_blur<TestType>(5, 1.0)}) {
    const auto blurred = correlate(flat, kernel, Mode::valid);
    for (TestType v : blurred) CHECK(v == Approx(42).epsilon(1e-6));
  }
}

TEMPLATE_TEST_CASE("the kernel bank names every kernel once", "[signal][kernels]", float, double) {
  const auto bank = fovea::signal::classic_kernels<TestType>();
  std::set<std::string> names;
  for (const auto& entry : bank) {
    names.insert(entry.name);
    CHECK(!entry.kernel.empty());
  }
  CHECK(names.size() == bank.size());
  CHECK(names.count("identity") == 1);
  CHECK(names.count("sobel_x") == 1);
  CHECK(names.count("gaussian_blur") == 1);
}

TEST_CASE("bad kernel parameters throw value_error with the value", "[signal][kernels][errors]") {
  CHECK_THROWS_AS(fovea::signal::box_blur<float>(4), fovea::value_error);
  CHECK_THROWS_WITH(fovea::signal::box_blur<float>(4),
                    "box_blur: size must be odd and positive (so the kernel has a centre), got 4");
  CHECK_THROWS_WITH(fovea::signal::gaussian_blur<double>(0, 1.0),
                    "gaussian_blur: size must be odd and positive (so the kernel has a centre), got 0");
  CHECK_THROWS_WITH(fovea::signal::gaussian_blur<double>(5, -1.0),
                    "gaussian_blur: sigma must be positive and finite, got -1");
  CHECK_THROWS_WITH(fovea::signal::identity<float>(-3),
                    "identity: size must be odd and positive (so the kernel has a centre), got -3");
}
