#include "fovea/layers/concat.hpp"

#include <catch2/catch.hpp>
#include <vector>

#include "fovea/layers/activation.hpp"
#include "fovea/nn/registry.hpp"
#include "support/context_checks.hpp"

using namespace fovea;

TEMPLATE_TEST_CASE("Concat stacks inputs along the channels and splits the gradient back", "[layers][concat]", float,
                   double) {
  using T = TestType;
  Rng rng(5);
  auto a = Tensor<T, 4>::uniform({2, 1, 3, 2}, rng, T(-1), T(1));
  auto b = Tensor<T, 4>::uniform({2, 3, 3, 2}, rng, T(-1), T(1));
  auto c = Tensor<T, 4>::uniform({2, 2, 3, 2}, rng, T(-1), T(1));
  Concat<T> concat;
  std::vector<SampleShape> shapes{{1, 3, 2}, {3, 3, 2}, {2, 3, 2}};
  CHECK(concat.merged_output_shape(shapes) == SampleShape{6, 3, 2});
  std::vector<TensorView<const T, 4>> x{a, b, c};
  Tensor<T, 4> y({2, 6, 3, 2});
  concat.forward_merged(x, y, true);
  // Naive reference: channel k of y is channel k - offset of the input that holds it.
  for (Index n = 0; n < 2; ++n) {
    for (Index k = 0; k < 6; ++k) {
      for (Index h = 0; h < 3; ++h) {
        for (Index w = 0; w < 2; ++w) {
          const T want = k < 1 ? a(n, k, h, w) : k < 4 ? b(n, k - 1, h, w) : c(n, k - 4, h, w);
          CHECK(y(n, k, h, w) == want);
        }
      }
    }
  }
  auto dy = Tensor<T, 4>::uniform({2, 6, 3, 2}, rng, T(-1), T(1));
  Tensor<T, 4> da(a.shape()), dc(c.shape());
  std::vector<TensorView<T, 4>> dx{da, TensorView<T, 4>(), dc};  // b's gradient not wanted
  concat.backward_merged(x, y, dy, dx);
  for (Index n = 0; n < 2; ++n) {
    for (Index h = 0; h < 3; ++h) {
      for (Index w = 0; w < 2; ++w) {
        CHECK(da(n, 0, h, w) == dy(n, 0, h, w));
        for (Index k = 0; k < 2; ++k) CHECK(dc(n, k, h, w) == dy(n, 4 + k, h, w));
      }
    }
  }
}

TEST_CASE("Concat refuses inputs of other heights or widths, naming both", "[layers][concat]") {
  Concat<float> concat;
  std::vector<SampleShape> shapes{{1, 3, 2}, {3, 3, 3}};
  CHECK_THROWS_WITH(concat.merged_output_shape(shapes),
                    "Concat: input 1 [3, 3, 3] differs in height or width from input 0 [1, 3, 2]");
  Tensor<float, 4> a({2, 1, 3, 2}), b({2, 3, 3, 2}), y({2, 5, 3, 2}), dy({2, 4, 3, 2});
  std::vector<TensorView<const float, 4>> x{a, b};
  std::vector<TensorView<float, 4>> dx{TensorView<float, 4>(), TensorView<float, 4>()};
  CHECK_THROWS_WITH(concat.backward_merged(x, y, dy, dx), "Concat::backward: called before forward");
  Tensor<float, 4> wrong({2, 5, 3, 2});
  CHECK_THROWS_AS(concat.forward_merged(x, wrong, true), shape_error);  // 1 + 3 channels, not 5
  Tensor<float, 4> right({2, 4, 3, 2});
  concat.forward_merged(x, right, true);
  CHECK_THROWS_WITH(concat.backward_merged(x, right, Tensor<float, 4>({2, 5, 3, 2}), dx),
                    Catch::Contains("does not match the forward output [2, 4, 3, 2]"));
}

TEST_CASE("Concat is rebuilt from its spec", "[layers][concat]") {
  CHECK(Concat<double>().spec() == LayerSpec{"Concat", {}});
  auto rebuilt = LayerRegistry<double>::global().make({"Concat", {}});
  CHECK(rebuilt->merges_inputs());
}

TEST_CASE("Concat keeps each execution in its own context", "[layers][concat][context]") {
  Rng rng(23);
  Concat<float> concat;
  auto inputs = [&](Index batch) {
    return std::vector<Tensor<float, 4>>{Tensor<float, 4>::uniform({batch, 1, 3, 2}, rng, -1, 1),
                                         Tensor<float, 4>::uniform({batch, 3, 3, 2}, rng, -1, 1)};
  };
  test::check_interleaved_contexts<float>(concat, inputs(2), inputs(3), rng);
  Tensor<float, 4> x({2, 1, 3, 2}), y({2, 1, 3, 2});
  const auto relu_context = ReLU<float>().make_context();
  CHECK_THROWS_WITH(concat.forward(x, y, *relu_context), "Concat: given an execution context another layer made");
}
