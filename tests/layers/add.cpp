#include "fovea/layers/add.hpp"

#include <algorithm>
#include <catch2/catch.hpp>
#include <vector>

#include "fovea/layers/activation.hpp"
#include "fovea/nn/registry.hpp"
#include "support/context_checks.hpp"

using namespace fovea;

TEMPLATE_TEST_CASE("Add sums its inputs and passes the gradient to each", "[layers][add]", float, double) {
  using T = TestType;
  Rng rng(3);
  auto a = Tensor<T, 4>::uniform({2, 3, 4, 5}, rng, T(-1), T(1));
  auto b = Tensor<T, 4>::uniform({2, 3, 4, 5}, rng, T(-1), T(1));
  auto c = Tensor<T, 4>::uniform({2, 3, 4, 5}, rng, T(-1), T(1));
  Add<T> add;
  std::vector<SampleShape> shapes{{3, 4, 5}, {3, 4, 5}, {3, 4, 5}};
  CHECK(add.merged_output_shape(shapes) == SampleShape{3, 4, 5});
  std::vector<TensorView<const T, 4>> x{a, b, c};
  Tensor<T, 4> y({2, 3, 4, 5});
  add.forward_merged(x, y, true);
  for (Index i = 0; i < y.size(); ++i) CHECK(y.data()[i] == (a.data()[i] + b.data()[i]) + c.data()[i]);  // in order

  auto dy = Tensor<T, 4>::uniform({2, 3, 4, 5}, rng, T(-1), T(1));
  Tensor<T, 4> da({2, 3, 4, 5}), dc({2, 3, 4, 5});
  std::vector<TensorView<T, 4>> dx{da, TensorView<T, 4>(), dc};  // b's gradient not wanted
  add.backward_merged(x, y, dy, dx);
  CHECK(da.array().isApprox(dy.array(), 0));
  CHECK(dc.array().isApprox(dy.array(), 0));

  // One input: the identity, through the one-input members too.
  Tensor<T, 4> same({2, 3, 4, 5});
  add.forward(a, same, true);
  CHECK(same.array().isApprox(a.array(), 0));
}

TEMPLATE_TEST_CASE("Add's clamp epilogue gives the bits of Add then ReLU, ReLU6 or Clip", "[layers][add]", float,
                   double) {
  using T = TestType;
  Rng rng(19);
  // Three inputs, so that a sum runs through the extra-input loop too, and
  // enough values that the pieces of the sum and its threads' chunks both
  // have several parts.
  const Shape<4> shape{3, 8, 20, 20};
  const auto a = Tensor<T, 4>::uniform(shape, rng, T(-3), T(3));
  const auto b = Tensor<T, 4>::uniform(shape, rng, T(-3), T(3));
  const auto c = Tensor<T, 4>::uniform(shape, rng, T(-3), T(3));
  const auto dy = Tensor<T, 4>::uniform(shape, rng, T(-1), T(1));
  const std::vector<TensorView<const T, 4>> x{a, b, c};
  Add<T> add;
  for (const fovea::Clamp clamp :
       {*fovea::ReLU<T>().clamp(), *fovea::ReLU6<T>().clamp(), *fovea::Clip<T>(-0.5, 0.75).clamp()}) {
    INFO("clamp [" << clamp.low << ", " << clamp.high << "]");
    REQUIRE(add.supports_epilogue(clamp));
    const auto low = static_cast<T>(clamp.low), high = static_cast<T>(clamp.high);
    // Apart: the sum, then the clamp, whose backward passes dy where low < y < high.
    Tensor<T, 4> sum(shape), clamped(shape), clamped_dy(shape);
    add.forward_merged(x, sum, true);
    for (Index i = 0; i < sum.size(); ++i) {
      clamped.data()[i] = std::min(std::max(sum.data()[i], low), high);
      clamped_dy.data()[i] = sum.data()[i] > low && sum.data()[i] < high ? dy.data()[i] : T{0};
    }
    // Fused: the layer clamps its sum and takes y and dy after the clamp.
    const auto context = add.make_context();
    context->training = true;
    context->epilogue = clamp;
    Tensor<T, 4> y(shape), da(shape), dc(shape);
    add.forward_merged(x, y, *context);
    std::vector<TensorView<T, 4>> dx{da, TensorView<T, 4>(), dc};  // b's gradient not wanted
    add.backward_merged(x, y, dy, dx, *context);
    CHECK((y.array() == clamped.array()).all());
    CHECK((da.array() == clamped_dy.array()).all());
    CHECK((dc.array() == clamped_dy.array()).all());
    CHECK((clamped.array() == low).any());
    if (clamp.bounded()) CHECK((clamped.array() == high).any());
  }
}

TEST_CASE("Add refuses inputs of different shapes, naming both", "[layers][add]") {
  Add<float> add;
  std::vector<SampleShape> shapes{{3, 4, 5}, {3, 4, 5}, {3, 4, 6}};
  CHECK_THROWS_WITH(add.merged_output_shape(shapes), "Add: input 2 [3, 4, 6] differs from input 0 [3, 4, 5]");
  Tensor<float, 4> a({2, 3, 4, 5}), b({3, 3, 4, 5}), y({2, 3, 4, 5});
  std::vector<TensorView<const float, 4>> x{a, b};
  CHECK_THROWS_WITH(add.forward_merged(x, y, true),
                    "Add::forward: inputs [2, 3, 4, 5] and [3, 3, 4, 5] have different batch sizes");
  Tensor<float, 4> dy({2, 3, 4, 5});
  std::vector<TensorView<float, 4>> dx{TensorView<float, 4>()};
  std::vector<TensorView<const float, 4>> one{a};
  CHECK_THROWS_WITH(add.backward_merged(one, y, dy, dx), "Add::backward: called before forward");
}

TEST_CASE("Add is rebuilt from its spec", "[layers][add]") {
  Add<float> add;
  CHECK(add.spec() == LayerSpec{"Add", {}});
  auto rebuilt = LayerRegistry<float>::global().make(add.spec());
  CHECK(rebuilt->merges_inputs());
  CHECK(rebuilt->describe() == "Add");
  CHECK_THROWS_AS(Add<float>::from_spec({"Concat", {}}), format_error);
}

TEST_CASE("Add keeps each execution in its own context", "[layers][add][context]") {
  Rng rng(22);
  Add<float> add;
  auto inputs = [&](Index batch) {
    return std::vector<Tensor<float, 4>>{Tensor<float, 4>::uniform({batch, 3, 4, 5}, rng, -1, 1),
                                         Tensor<float, 4>::uniform({batch, 3, 4, 5}, rng, -1, 1)};
  };
  test::check_interleaved_contexts<float>(add, inputs(2), inputs(3), rng);
  // A context another layer type made is refused.
  Tensor<float, 4> x({2, 3, 4, 5}), y({2, 3, 4, 5});
  const auto relu_context = ReLU<float>().make_context();
  CHECK_THROWS_WITH(add.forward(x, y, *relu_context), "Add: given an execution context another layer made");
}
