#include "fovea/testing/gradcheck.hpp"

#include <catch2/catch.hpp>
#include <cstdint>
#include <vector>

#include "fovea/layers/activation.hpp"
#include "fovea/layers/conv2d.hpp"
#include "fovea/layers/flatten.hpp"
#include "fovea/layers/linear.hpp"
#include "fovea/nn/sequential.hpp"
#include "fovea/train/loss.hpp"

using fovea::Index;
using fovea::LayerSpec;
using fovea::SampleShape;
using fovea::Tensor;
using fovea::TensorView;

namespace {

// y = a * x^2 elementwise with one trainable a. `Bug` picks a deliberately
// wrong backward, so the checker has to find it.
enum class Bug { none, input_gradient, parameter_gradient, overwrites_gradient };

template <class T>
class SquareScaleOf final : public fovea::Layer<T> {
 public:
  explicit SquareScaleOf(Bug bug) : bug_(bug) { a_(0) = T(1.5); }

  std::string describe() const override { return "SquareScale"; }
  LayerSpec spec() const override { return {"SquareScale", {}}; }
  SampleShape output_shape(const SampleShape& input) const override { return input; }
  double flops_per_sample(const SampleShape& input) const override {
    return 2.0 * static_cast<double>(fovea::shape_size(input));
  }

  using fovea::Layer<T>::forward;
  using fovea::Layer<T>::backward;

  void forward(TensorView<const T, 4> x, TensorView<T, 4> y, fovea::LayerContext<T>&) const override {
    y.array() = a_(0) * x.array().square();
  }
  void backward(TensorView<const T, 4> x, TensorView<const T, 4>, TensorView<const T, 4> dy, TensorView<T, 4> dx,
                fovea::LayerContext<T>& context) const override {
    // dL/da = sum(dy * x^2); dL/dx = dy * 2 a x.
    const T da = (dy.array() * x.array().square()).sum();
    if (!context.gradients.empty()) {
      T& grad = context.gradients[0](0);
      if (bug_ == Bug::parameter_gradient) {
        grad += 2 * da;
      } else if (bug_ == Bug::overwrites_gradient) {
        grad = da - 1;  // assigns instead of accumulating, from a stale value
      } else {
        grad += da;
      }
    }
    const T factor = bug_ == Bug::input_gradient ? T(1) : T(2);  // forgets the 2 of d(x^2)/dx
    if (!dx.empty()) dx.array() = dy.array() * factor * a_(0) * x.array();
  }
  std::vector<fovea::Parameter<T>> params() override { return {{"scale", {1}, a_.view(), grad_.view()}}; }

 private:
  Bug bug_;
  Tensor<T, 1> a_{{1}};
  Tensor<T, 1> grad_{{1}};
};
using SquareScale = SquareScaleOf<double>;

// conv -> tanh -> [square-scale] -> flatten -> linear: smooth everywhere, so
// no finite difference crosses a kink, even float's large step.
template <class T>
fovea::Sequential<T> smooth_net(Bug bug, bool with_square) {
  fovea::Sequential<T> net({2, 5, 5});
  net.template emplace<fovea::Conv2d<T>>(fovea::Conv2dOptions{.in_channels = 2, .out_channels = 3, .kernel = 3});
  net.template emplace<fovea::Tanh<T>>();
  if (with_square) net.template emplace<SquareScaleOf<T>>(bug);
  net.template emplace<fovea::Flatten<T>>();
  net.template emplace<fovea::Linear<T>>(27, 4);
  return net;
}

}  // namespace

TEST_CASE("check_gradients accepts a correct backward", "[gradcheck]") {
  fovea::Rng rng(3);
  const auto x = Tensor<double, 4>::uniform({2, 2, 3, 3}, rng, 0.5, 1.5);
  SquareScale layer(Bug::none);
  const auto result = fovea::testing::check_gradients(layer, x);
  INFO(result.worst);
  CHECK(result.ok);
  CHECK(result.max_relative_error < 1e-8);
  CHECK(result.checked == x.size() + 1);
}

TEST_CASE("check_gradients catches a wrong input gradient and says where", "[gradcheck]") {
  fovea::Rng rng(3);
  const auto x = Tensor<double, 4>::uniform({2, 2, 3, 3}, rng, 0.5, 1.5);
  SquareScale layer(Bug::input_gradient);
  const auto result = fovea::testing::check_gradients(layer, x);
  CHECK_FALSE(result.ok);
  CHECK(result.max_relative_error == Approx(0.5).epsilon(1e-6));  // half of the true gradient
  CHECK_THAT(result.worst, Catch::StartsWith("input["));
}

TEST_CASE("check_gradients catches a wrong parameter gradient and names the parameter", "[gradcheck]") {
  fovea::Rng rng(3);
  const auto x = Tensor<double, 4>::uniform({1, 1, 4, 4}, rng, 0.5, 1.5);
  for (Bug bug : {Bug::parameter_gradient, Bug::overwrites_gradient}) {
    SquareScale layer(bug);
    const auto result = fovea::testing::check_gradients(layer, x);
    CHECK_FALSE(result.ok);
    CHECK(result.max_relative_error > 1e-3);
    CHECK_THAT(result.worst, Catch::StartsWith("scale[0]"));
  }
}

TEST_CASE("check_gradients runs on float layers with float's tolerances", "[gradcheck]") {
  fovea::Rng rng(3);
  const auto x = Tensor<float, 4>::uniform({2, 2, 3, 3}, rng, 0.5F, 1.5F);
  const auto options = fovea::testing::grad_check_options<float>();
  CHECK(options.step == 1e-2);
  CHECK(options.tolerance == 1e-2);
  SquareScaleOf<float> good(Bug::none);
  const auto result = fovea::testing::check_gradients(good, x);  // float's options by default
  INFO(result.worst);
  CHECK(result.ok);
  CHECK(result.max_relative_error < 1e-3);
  CHECK(result.checked == x.size() + 1);
  SquareScaleOf<float> bad(Bug::input_gradient);
  const auto caught = fovea::testing::check_gradients(bad, x);
  CHECK_FALSE(caught.ok);
  CHECK(caught.max_relative_error == Approx(0.5).epsilon(1e-2));
  CHECK_THAT(caught.worst, Catch::StartsWith("input["));
}

TEMPLATE_TEST_CASE("check_gradients checks a whole network with its loss", "[gradcheck]", float, double) {
  using T = TestType;
  fovea::Rng rng(8);
  const auto x = Tensor<T, 4>::uniform({3, 2, 5, 5}, rng, T(-1), T(1));
  const std::vector<std::int32_t> labels = {0, 3, 1};
  fovea::SoftmaxCrossEntropy<T> loss;
  auto net = smooth_net<T>(Bug::none, true);
  const auto result = fovea::testing::check_gradients(net, loss, x, fovea::Targets<T>(labels));
  INFO(result.worst);
  CHECK(result.ok);
  // d(loss)/d(input) and d(loss)/d(every parameter): conv 54 + 3, scale 1, linear 108 + 4.
  CHECK(result.checked == x.size() + net.parameter_count());
  CHECK(net.parameter_count() == 54 + 3 + 1 + 108 + 4);

  // Soft targets and another loss go through the same interface.
  Tensor<T, 2> soft({3, 4});
  soft.fill(T(0.25));
  fovea::SquaredError<T> squared;
  CHECK(fovea::testing::check_gradients(net, loss, x, fovea::Targets<T>(soft)).ok);
  CHECK(fovea::testing::check_gradients(net, squared, x, fovea::Targets<T>(labels)).ok);
}

TEMPLATE_TEST_CASE("check_gradients finds a wrong layer inside a network and names its parameter", "[gradcheck]", float,
                   double) {
  using T = TestType;
  fovea::Rng rng(9);
  const auto x = Tensor<T, 4>::uniform({2, 2, 5, 5}, rng, T(-1), T(1));
  const std::vector<std::int32_t> labels = {2, 1};
  fovea::SoftmaxCrossEntropy<T> loss;
  auto wrong_scale = smooth_net<T>(Bug::parameter_gradient, true);
  const auto scale = fovea::testing::check_gradients(wrong_scale, loss, x, fovea::Targets<T>(labels));
  CHECK_FALSE(scale.ok);
  CHECK_THAT(scale.worst, Catch::StartsWith("2.scale[0]"));
  // A wrong input gradient in layer 2 shows in every gradient below it: the
  // convolution's parameters and the network's input.
  auto wrong_input = smooth_net<T>(Bug::input_gradient, true);
  const auto input = fovea::testing::check_gradients(wrong_input, loss, x, fovea::Targets<T>(labels));
  CHECK_FALSE(input.ok);
  CHECK(input.max_relative_error > 0.1);
}
