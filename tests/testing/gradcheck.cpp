#include "fovea/testing/gradcheck.hpp"

#include <catch2/catch.hpp>

using fovea::Index;
using fovea::LayerSpec;
using fovea::SampleShape;
using fovea::Tensor;
using fovea::TensorView;

namespace {

// y = a * x^2 elementwise with one trainable a. `Bug` picks a deliberately
// wrong backward, so the checker has to find it.
enum class Bug { none, input_gradient, parameter_gradient, overwrites_gradient };

class SquareScale final : public fovea::Layer<double> {
 public:
  explicit SquareScale(Bug bug) : bug_(bug) { a_(0) = 1.5; }

  std::string describe() const override { return "SquareScale"; }
  LayerSpec spec() const override { return {"SquareScale", {}}; }
  SampleShape output_shape(const SampleShape& input) const override { return input; }
  double flops_per_sample(const SampleShape& input) const override {
    return 2.0 * static_cast<double>(fovea::shape_size(input));
  }

  void forward(TensorView<const double, 4> x, TensorView<double, 4> y, bool) override {
    y.array() = a_(0) * x.array().square();
  }
  void backward(TensorView<const double, 4> x, TensorView<const double, 4>, TensorView<const double, 4> dy,
                TensorView<double, 4> dx) override {
    // dL/da = sum(dy * x^2); dL/dx = dy * 2 a x.
    const double da = (dy.array() * x.array().square()).sum();
    if (bug_ == Bug::parameter_gradient) {
      grad_(0) += 2 * da;
    } else if (bug_ == Bug::overwrites_gradient) {
      grad_(0) = da - 1;  // assigns instead of accumulating, from a stale value
    } else {
      grad_(0) += da;
    }
    const double factor = bug_ == Bug::input_gradient ? 1.0 : 2.0;  // forgets the 2 of d(x^2)/dx
    dx.array() = dy.array() * factor * a_(0) * x.array();
  }
  std::vector<fovea::Parameter<double>> params() override { return {{"scale", {1}, a_.view(), grad_.view()}}; }

 private:
  Bug bug_;
  Tensor<double, 1> a_{{1}};
  Tensor<double, 1> grad_{{1}};
};

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
