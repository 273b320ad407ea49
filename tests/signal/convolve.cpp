#include "fovea/signal/convolve.hpp"

#include <algorithm>
#include <array>
#include <catch2/catch.hpp>
#include <cmath>
#include <string>
#include <vector>

using fovea::Index;
using fovea::Shape;
using fovea::Tensor;
using fovea::TensorView;
using fovea::signal::convolve;
using fovea::signal::correlate;
using fovea::signal::flip;
using fovea::signal::Method;
using fovea::signal::Mode;

namespace {

constexpr std::array all_modes = {Mode::full, Mode::same, Mode::valid};
constexpr std::array explicit_methods = {Method::direct, Method::fft};

// Agreement "to rounding": the largest difference against the largest output,
// since an FFT result near zero has only absolute, not relative, accuracy.
template <class T>
double tolerance() {
  return std::is_same_v<T, float> ? 1e-4 : 1e-10;
}

template <class A, class B>
double relative_difference(const A& actual, const B& expected) {
  REQUIRE(actual.shape() == expected.shape());
  double largest = 0;
  double difference = 0;
  for (Index i = 0; i < actual.size(); ++i) {
    largest = std::max(largest, std::abs(static_cast<double>(expected.data()[i])));
    difference =
        std::max(difference, std::abs(static_cast<double>(actual.data()[i]) - static_cast<double>(expected.data()[i])));
  }
  return largest == 0 ? difference : difference / largest;
}

// Where a mode's output starts in the full result, and how long it is (the
// scipy.signal definitions, written out independently of the library).
struct Crop {
  Index start;
  Index length;
};
Crop crop_of(Index n, Index k, Mode mode) {
  if (mode == Mode::full) return {0, n + k - 1};
  if (mode == Mode::same) return {(k - 1) / 2, n};
  return {k - 1, n - k + 1};
}

// Reference in double straight from the definition (f*g)[n] = sum over a + b = n
// of f[a] g[b], in 2D (a 1D signal is one row), then cropped.
template <class T>
Tensor<double, 2> reference_convolve(TensorView<const T, 2> f, TensorView<const T, 2> g, Mode mode) {
  const Index full_rows = f.dim(0) + g.dim(0) - 1;
  const Index full_cols = f.dim(1) + g.dim(1) - 1;
  Tensor<double, 2> full({full_rows, full_cols});
  for (Index a0 = 0; a0 < f.dim(0); ++a0) {
    for (Index a1 = 0; a1 < f.dim(1); ++a1) {
      for (Index b0 = 0; b0 < g.dim(0); ++b0) {
        for (Index b1 = 0; b1 < g.dim(1); ++b1) {
          full(a0 + b0, a1 + b1) += static_cast<double>(f(a0, a1)) * static_cast<double>(g(b0, b1));
        }
      }
    }
  }
  const Crop rows = crop_of(f.dim(0), g.dim(0), mode);
  const Crop cols = crop_of(f.dim(1), g.dim(1), mode);
  Tensor<double, 2> out({rows.length, cols.length});
  for (Index i = 0; i < rows.length; ++i) {
    for (Index j = 0; j < cols.length; ++j) out(i, j) = full(rows.start + i, cols.start + j);
  }
  return out;
}

template <class T>
Tensor<double, 1> reference_convolve(TensorView<const T, 1> f, TensorView<const T, 1> g, Mode mode) {
  const auto as_row = [](TensorView<const T, 1> x) { return x.reshape(Shape<2>{1, x.dim(0)}); };
  const Tensor<double, 2> row = reference_convolve<T>(as_row(f), as_row(g), mode);
  return Tensor<double, 1>(row.reshape(Shape<1>{row.size()}));
}

template <class T, std::size_t Rank>
Tensor<T, Rank> from_values(const Shape<Rank>& shape, std::initializer_list<double> values) {
  Tensor<T, Rank> t(shape);
  std::transform(values.begin(), values.end(), t.begin(), [](double v) { return static_cast<T>(v); });
  return t;
}

template <class T, std::size_t Rank>
void check_values(const Tensor<T, Rank>& actual, const Shape<Rank>& shape, std::initializer_list<double> expected) {
  REQUIRE(actual.shape() == shape);
  Index i = 0;
  for (double value : expected) CHECK(static_cast<double>(actual.data()[i++]) == Approx(value).margin(1e-5));
}

}  // namespace

TEMPLATE_TEST_CASE("1D hand-worked examples in every mode (numpy's documented values)", "[signal][convolve]", float,
                   double) {
  const auto f = from_values<TestType>(Shape<1>{3}, {1, 2, 3});
  const auto g = from_values<TestType>(Shape<1>{3}, {0, 1, 0.5});
  for (Method method : explicit_methods) {
    INFO("method " << fovea::signal::to_string(method));
    check_values(convolve(f, g, Mode::full, method), {5}, {0, 1, 2.5, 4, 1.5});
    check_values(convolve(f, g, Mode::same, method), {3}, {1, 2.5, 4});
    check_values(convolve(f, g, Mode::valid, method), {1}, {2.5});
    check_values(correlate(f, g, Mode::full, method), {5}, {0.5, 2, 3.5, 3, 0});
    check_values(correlate(f, g, Mode::same, method), {3}, {2, 3.5, 3});
    check_values(correlate(f, g, Mode::valid, method), {1}, {3.5});
  }
}

TEMPLATE_TEST_CASE("1D hand-worked examples with an even kernel: same mode starts at (k - 1) / 2", "[signal][convolve]",
                   float, double) {
  const auto f = from_values<TestType>(Shape<1>{4}, {1, 2, 3, 4});
  const auto pair_sum = from_values<TestType>(Shape<1>{2}, {1, 1});
  const auto difference = from_values<TestType>(Shape<1>{2}, {1, -1});
  for (Method method : explicit_methods) {
    INFO("method " << fovea::signal::to_string(method));
    check_values(convolve(f, pair_sum, Mode::full, method), {5}, {1, 3, 5, 7, 4});
    check_values(convolve(f, pair_sum, Mode::same, method), {4}, {1, 3, 5, 7});
    check_values(convolve(f, pair_sum, Mode::valid, method), {3}, {3, 5, 7});
    // correlate with [1, -1]: f[m - 1] - f[m].
    check_values(correlate(f, difference, Mode::full, method), {5}, {-1, -1, -1, -1, 4});
    check_values(correlate(f, difference, Mode::same, method), {4}, {-1, -1, -1, -1});
    check_values(correlate(f, difference, Mode::valid, method), {3}, {-1, -1, -1});
  }
}

TEMPLATE_TEST_CASE("2D hand-worked examples in every mode", "[signal][convolve]", float, double) {
  const auto f = from_values<TestType>(Shape<2>{3, 3}, {1, 2, 3, 4, 5, 6, 7, 8, 9});
  // correlate with this kernel: f[i, j] - f[i + 1, j + 1].
  const auto diagonal = from_values<TestType>(Shape<2>{2, 2}, {1, 0, 0, -1});
  const auto ones = Tensor<TestType, 2>::full({3, 3}, 1);
  for (Method method : explicit_methods) {
    INFO("method " << fovea::signal::to_string(method));
    check_values(correlate(f, diagonal, Mode::valid, method), {2, 2}, {-4, -4, -4, -4});
    check_values(correlate(f, diagonal, Mode::full, method), {4, 4},
                 {-1, -2, -3, 0, -4, -4, -4, 3, -7, -4, -4, 6, 0, 7, 8, 9});
    check_values(correlate(f, diagonal, Mode::same, method), {3, 3}, {-1, -2, -3, -4, -4, -4, -7, -4, -4});
    // convolve flips the kernel to [[-1, 0], [0, 1]]: the negated results.
    check_values(convolve(f, diagonal, Mode::valid, method), {2, 2}, {4, 4, 4, 4});
    check_values(convolve(f, diagonal, Mode::full, method), {4, 4},
                 {1, 2, 3, 0, 4, 4, 4, -3, 7, 4, 4, -6, 0, -7, -8, -9});
    check_values(convolve(f, diagonal, Mode::same, method), {3, 3}, {1, 2, 3, 4, 4, 4, 7, 4, 4});
    // A centred 3 x 3 sum of neighbours, zeros outside.
    check_values(correlate(f, ones, Mode::same, method), {3, 3}, {12, 21, 16, 27, 45, 33, 24, 39, 28});
    check_values(correlate(f, ones, Mode::valid, method), {1, 1}, {45});
  }
}

TEMPLATE_TEST_CASE("convolve(f, g) == correlate(f, flip(g)) in every mode", "[signal][convolve]", float, double) {
  fovea::Rng rng(11);
  const auto f1 = Tensor<TestType, 1>::uniform({23}, rng, -1, 1);
  const auto g1 = Tensor<TestType, 1>::uniform({6}, rng, -1, 1);
  const auto f2 = Tensor<TestType, 2>::uniform({9, 12}, rng, -1, 1);
  const auto g2 = Tensor<TestType, 2>::uniform({4, 3}, rng, -1, 1);
  const auto flipped = flip(g2);
  CHECK(flipped(0, 0) == g2(3, 2));
  CHECK(flipped(3, 2) == g2(0, 0));
  CHECK(flipped(1, 2) == g2(2, 0));
  for (Mode mode : all_modes) {
    for (Method method : explicit_methods) {
      INFO("mode " << fovea::signal::to_string(mode) << ", method " << fovea::signal::to_string(method));
      CHECK(relative_difference(convolve(f1, g1, mode, method), correlate(f1, flip(g1), mode, method)) == 0);
      CHECK(relative_difference(convolve(f2, g2, mode, method), correlate(f2, flipped, mode, method)) == 0);
    }
  }
}

TEMPLATE_TEST_CASE("convolution is commutative, associative and linear", "[signal][convolve]", float, double) {
  fovea::Rng rng(12);
  const auto f = Tensor<TestType, 1>::uniform({17}, rng, -1, 1);
  const auto g = Tensor<TestType, 1>::uniform({5}, rng, -1, 1);
  const auto h = Tensor<TestType, 1>::uniform({8}, rng, -1, 1);
  const auto image = Tensor<TestType, 2>::uniform({7, 9}, rng, -1, 1);
  const auto kernel = Tensor<TestType, 2>::uniform({3, 4}, rng, -1, 1);
  const auto other = Tensor<TestType, 2>::uniform({2, 5}, rng, -1, 1);
  const double tol = 10 * std::numeric_limits<TestType>::epsilon();

  SECTION("f * g == g * f (full mode)") {
    CHECK(relative_difference(convolve(f, g), convolve(g, f)) <= tol);
    CHECK(relative_difference(convolve(image, kernel), convolve(kernel, image)) <= tol);
  }
  SECTION("(f * g) * h == f * (g * h)") {
    CHECK(relative_difference(convolve(convolve(f, g), h), convolve(f, convolve(g, h))) <= tol);
    CHECK(relative_difference(convolve(convolve(image, kernel), other), convolve(image, convolve(kernel, other))) <=
          tol);
  }
  SECTION("(a f1 + b f2) * g == a (f1 * g) + b (f2 * g), for every mode and method") {
    const auto f2 = Tensor<TestType, 1>::uniform({17}, rng, -1, 1);
    const TestType a = 2.5;
    const TestType b = -0.75;
    Tensor<TestType, 1> mixed(f);
    mixed *= a;
    Tensor<TestType, 1> scaled_f2(f2);
    scaled_f2 *= b;
    mixed += scaled_f2;
    for (Mode mode : all_modes) {
      for (Method method : explicit_methods) {
        auto expected = convolve(f, g, mode, method);
        expected *= a;
        auto second = convolve(f2, g, mode, method);
        second *= b;
        expected += second;
        CHECK(relative_difference(convolve(mixed, g, mode, method), expected) <= 10 * tolerance<TestType>());
      }
    }
  }
}

TEMPLATE_TEST_CASE("a unit impulse is the identity; a delayed impulse delays", "[signal][convolve]", float, double) {
  fovea::Rng rng(13);
  const auto f = Tensor<TestType, 1>::uniform({10}, rng, -5, 5);
  const auto image = Tensor<TestType, 2>::uniform({6, 8}, rng, -5, 5);
  const auto unit = from_values<TestType>(Shape<1>{1}, {1});
  const auto centred = from_values<TestType>(Shape<1>{3}, {0, 1, 0});
  const auto centred_2d = from_values<TestType>(Shape<2>{3, 3}, {0, 0, 0, 0, 1, 0, 0, 0, 0});
  const auto delay_two = from_values<TestType>(Shape<1>{3}, {0, 0, 1});

  CHECK(relative_difference(convolve(f, unit), f) == 0);
  CHECK(relative_difference(convolve(unit, f), f) == 0);
  CHECK(relative_difference(convolve(f, centred, Mode::same), f) == 0);
  CHECK(relative_difference(correlate(f, centred, Mode::same), f) == 0);
  CHECK(relative_difference(convolve(image, centred_2d, Mode::same), image) == 0);
  CHECK(relative_difference(correlate(image, centred_2d, Mode::same, Method::fft), image) <= tolerance<TestType>());

  const auto delayed = convolve(f, delay_two, Mode::full);
  REQUIRE(delayed.size() == 12);
  CHECK(delayed(0) == 0);
  CHECK(delayed(1) == 0);
  for (Index i = 0; i < 10; ++i) CHECK(delayed(i + 2) == f(i));
}

TEMPLATE_TEST_CASE("two dice: the distribution of the sum is the triangle 1..6..1 / 36", "[signal][convolve]", float,
                   double) {
  // die(i) = P(face i + 1); the sum of two dice is then index + 2.
  const auto die = Tensor<TestType, 1>::full({6}, TestType{1} / 6);
  for (Method method : explicit_methods) {
    const auto sum = convolve(die, die, Mode::full, method);
    REQUIRE(sum.size() == 11);
    const std::array<double, 11> ways = {1, 2, 3, 4, 5, 6, 5, 4, 3, 2, 1};
    for (Index i = 0; i < 11; ++i) {
      INFO("P(sum = " << i + 2 << ")");
      CHECK(sum(i) == Approx(ways[static_cast<std::size_t>(i)] / 36).margin(1e-6));
    }
    CHECK(sum.array().template cast<double>().sum() == Approx(1).margin(1e-6));
    CHECK(std::max_element(sum.begin(), sum.end()) - sum.begin() == 5);  // 7 is the likeliest sum
  }
}

TEMPLATE_TEST_CASE("two box functions make a triangle", "[signal][convolve]", float, double) {
  for (Index width : {1, 2, 4, 7}) {
    const auto box = Tensor<TestType, 1>::full({width}, 1);
    const auto triangle = convolve(box, box);
    REQUIRE(triangle.size() == 2 * width - 1);
    for (Index i = 0; i < triangle.size(); ++i)
      CHECK(triangle(i) == static_cast<TestType>(width - std::abs(i - (width - 1))));
  }
  // Two boxes of different widths: a trapezoid rising 1..3, flat at 3, falling.
  const auto narrow = Tensor<TestType, 1>::full({3}, 1);
  const auto wide = Tensor<TestType, 1>::full({6}, 1);
  check_values(convolve(wide, narrow), {8}, {1, 2, 3, 3, 3, 3, 2, 1});
}

TEMPLATE_TEST_CASE("a kernel of two spikes adds a delayed, scaled echo", "[signal][convolve]", float, double) {
  fovea::Rng rng(14);
  const auto sound = Tensor<TestType, 1>::uniform({40}, rng, -1, 1);
  constexpr Index delay = 7;
  constexpr TestType decay = 0.5;
  Tensor<TestType, 1> echo({delay + 1});
  echo(0) = 1;
  echo(delay) = decay;
  for (Method method : explicit_methods) {
    const auto heard = convolve(sound, echo, Mode::full, method);
    REQUIRE(heard.size() == 40 + delay);
    for (Index i = 0; i < heard.size(); ++i) {
      const double direct = i < 40 ? sound(i) : 0.0;
      const double echoed = i >= delay ? decay * sound(i - delay) : 0.0;
      CHECK(heard(i) == Approx(direct + echoed).margin(1e-5));
    }
  }
}

TEMPLATE_TEST_CASE("FFT and direct paths agree with a double reference on many sizes, prime ones included",
                   "[signal][convolve][fft]", float, double) {
  fovea::Rng rng(15);
  const double tol = tolerance<TestType>();
  SECTION("1D") {
    for (Index n : {1, 2, 3, 7, 13, 31, 64, 97, 101, 257, 1009}) {
      for (Index k : {1, 2, 3, 5, 17, 64, 211}) {
        const auto f = Tensor<TestType, 1>::uniform({n}, rng, -1, 1);
        const auto g = Tensor<TestType, 1>::uniform({k}, rng, -1, 1);
        for (Mode mode : all_modes) {
          if (mode == Mode::valid && k > n) continue;
          INFO("n " << n << ", k " << k << ", mode " << fovea::signal::to_string(mode));
          const auto direct = correlate(f, g, mode, Method::direct);
          const auto fft = correlate(f, g, mode, Method::fft);
          CHECK(relative_difference(fft, direct) <= tol);
          CHECK(relative_difference(direct, reference_convolve<TestType>(f, flip(g), mode)) <= tol);
          CHECK(relative_difference(convolve(f, g, mode, Method::fft), reference_convolve<TestType>(f, g, mode)) <=
                tol);
        }
      }
    }
  }
  SECTION("2D") {
    const std::array<Shape<2>, 7> images = {Shape<2>{1, 1}, {3, 5}, {7, 13}, {17, 31}, {37, 11}, {64, 64}, {1, 29}};
    const std::array<Shape<2>, 6> kernels = {Shape<2>{1, 1}, {2, 3}, {5, 5}, {7, 2}, {13, 13}, {1, 4}};
    for (const auto& image_shape : images) {
      for (const auto& kernel_shape : kernels) {
        const auto f = Tensor<TestType, 2>::uniform(image_shape, rng, -1, 1);
        const auto g = Tensor<TestType, 2>::uniform(kernel_shape, rng, -1, 1);
        for (Mode mode : all_modes) {
          if (mode == Mode::valid && (kernel_shape[0] > image_shape[0] || kernel_shape[1] > image_shape[1])) continue;
          INFO("f " << fovea::to_string(image_shape) << ", g " << fovea::to_string(kernel_shape) << ", mode "
                    << fovea::signal::to_string(mode));
          const auto direct = correlate(f, g, mode, Method::direct);
          const auto fft = correlate(f, g, mode, Method::fft);
          CHECK(relative_difference(fft, direct) <= tol);
          CHECK(relative_difference(direct, reference_convolve<TestType>(f, flip(g), mode)) <= tol);
          CHECK(relative_difference(convolve(f, g, mode, Method::fft), reference_convolve<TestType>(f, g, mode)) <=
                tol);
        }
      }
    }
  }
}

TEMPLATE_TEST_CASE("Method::automatic picks direct for small kernels and the FFT for large ones",
                   "[signal][convolve][fft]", float, double) {
  fovea::Rng rng(16);
  const auto image = Tensor<TestType, 2>::uniform({128, 128}, rng, -1, 1);
  const auto small = Tensor<TestType, 2>::uniform({3, 3}, rng, -1, 1);
  const auto large = Tensor<TestType, 2>::uniform({41, 41}, rng, -1, 1);
  CHECK(fovea::signal::automatic_method(image, small, Mode::same) == Method::direct);
  CHECK(fovea::signal::automatic_method(image, large, Mode::same) == Method::fft);
  CHECK(relative_difference(correlate(image, large, Mode::same), correlate(image, large, Mode::same, Method::direct)) <=
        tolerance<TestType>());

  const auto signal = Tensor<TestType, 1>::uniform({8192}, rng, -1, 1);
  const auto short_kernel = Tensor<TestType, 1>::uniform({16}, rng, -1, 1);
  const auto long_kernel = Tensor<TestType, 1>::uniform({4096}, rng, -1, 1);
  CHECK(fovea::signal::automatic_method(signal, short_kernel) == Method::direct);
  CHECK(fovea::signal::automatic_method(signal, long_kernel) == Method::fft);
  CHECK(relative_difference(convolve(signal, long_kernel), convolve(signal, long_kernel, Mode::full, Method::direct)) <=
        tolerance<TestType>());
}

TEMPLATE_TEST_CASE("same mode with a kernel longer than the signal keeps the signal's size", "[signal][convolve]",
                   float, double) {
  fovea::Rng rng(17);
  const auto f = Tensor<TestType, 1>::uniform({4}, rng, -1, 1);
  const auto g = Tensor<TestType, 1>::uniform({9}, rng, -1, 1);
  for (Method method : explicit_methods) {
    const auto out = convolve(f, g, Mode::same, method);
    CHECK(out.shape() == Shape<1>{4});
    CHECK(relative_difference(out, reference_convolve<TestType>(f, g, Mode::same)) <= tolerance<TestType>());
  }
}

TEMPLATE_TEST_CASE("views and tensors mix; views of a batch item work in place", "[signal][convolve]", float, double) {
  Tensor<TestType, 3> batch({2, 3, 3});
  for (Index i = 0; i < batch.size(); ++i) batch.data()[i] = static_cast<TestType>(i);
  const auto ones = Tensor<TestType, 2>::full({3, 3}, 1);
  TensorView<TestType, 2> second = batch.item(1);
  TensorView<const TestType, 2> read_only = second;
  check_values(correlate(second, ones, Mode::valid), {1, 1}, {117});  // 9 + 10 + ... + 17
  check_values(correlate(read_only, ones.view(), Mode::valid), {1, 1}, {117});
  check_values(convolve(ones, read_only, Mode::valid), {1, 1}, {117});
}

TEST_CASE("output_shape follows the mode and is pure", "[signal][convolve]") {
  using fovea::signal::output_shape;
  CHECK(output_shape(Shape<1>{10}, Shape<1>{3}, Mode::full) == Shape<1>{12});
  CHECK(output_shape(Shape<1>{10}, Shape<1>{3}, Mode::same) == Shape<1>{10});
  CHECK(output_shape(Shape<1>{10}, Shape<1>{3}, Mode::valid) == Shape<1>{8});
  CHECK(output_shape(Shape<2>{28, 30}, Shape<2>{5, 4}, Mode::valid) == Shape<2>{24, 27});
  CHECK(output_shape(Shape<2>{28, 30}, Shape<2>{5, 4}, Mode::full) == Shape<2>{32, 33});
  CHECK(output_shape(Shape<2>{3, 3}, Shape<2>{5, 5}, Mode::same) == Shape<2>{3, 3});
  CHECK(fovea::signal::to_string(Mode::valid) == "valid");
  CHECK(fovea::signal::to_string(Method::fft) == "fft");
}

TEMPLATE_TEST_CASE("bad input throws shape_error naming the operation, the mode and both shapes",
                   "[signal][convolve][errors]", float, double) {
  const Tensor<TestType, 1> empty;
  const auto three = Tensor<TestType, 1>::full({3}, 1);
  const auto five = Tensor<TestType, 1>::full({5}, 1);
  const auto image = Tensor<TestType, 2>::full({4, 6}, 1);
  const auto tall = Tensor<TestType, 2>::full({5, 3}, 1);
  const Tensor<TestType, 2> no_rows({0, 3});

  CHECK_THROWS_AS(convolve(empty, three), fovea::shape_error);
  CHECK_THROWS_WITH(convolve(empty, three), "convolve(full): signal f [0] and kernel g [3] must both be non-empty");
  CHECK_THROWS_WITH(correlate(three, empty, Mode::same),
                    "correlate(same): signal f [3] and kernel g [0] must both be non-empty");
  CHECK_THROWS_WITH(correlate(no_rows, image, Mode::full, Method::fft),
                    "correlate(full): signal f [0, 3] and kernel g [4, 6] must both be non-empty");

  CHECK_THROWS_AS(correlate(three, five, Mode::valid), fovea::shape_error);
  CHECK_THROWS_WITH(correlate(three, five, Mode::valid),
                    "correlate(valid): kernel g [5] is larger than signal f [3]; valid mode needs g no larger than f "
                    "in every dimension");
  CHECK_THROWS_WITH(convolve(image, tall, Mode::valid, Method::fft),
                    "convolve(valid): kernel g [5, 3] is larger than signal f [4, 6]; valid mode needs g no larger "
                    "than f in every dimension");
  CHECK_THROWS_WITH(fovea::signal::output_shape(Shape<1>{2}, Shape<1>{3}, Mode::valid),
                    "output_shape(valid): kernel g [3] is larger than signal f [2]; valid mode needs g no larger than "
                    "f in every dimension");
  // A larger kernel is fine outside valid mode.
  CHECK(correlate(three, five, Mode::full).size() == 7);

  CHECK_THROWS_AS(correlate(three, three, static_cast<Mode>(7)), fovea::value_error);
  CHECK_THROWS_WITH(correlate(three, three, static_cast<Mode>(7)),
                    "correlate: unknown mode 7, expected full, same or valid");
  CHECK_THROWS_WITH(correlate(three, three, Mode::full, static_cast<Method>(9)),
                    "correlate: unknown method 9, expected automatic, direct or fft");
}
