#include "fovea/layers/channel_affine.hpp"

#include <catch2/catch.hpp>
#include <vector>

#include "fovea/layers/activation.hpp"
#include "support/context_checks.hpp"
#include "support/layer_checks.hpp"

using namespace fovea;

TEMPLATE_TEST_CASE("ChannelAffine and Softplus agree with a naive reference", "[layers][channel_affine][softplus]",
                   float, double) {
  using T = TestType;
  Rng rng(21);
  const auto x = Tensor<T, 4>::uniform({2, 3, 4, 5}, rng, T{-30}, T{30});
  const auto dy = Tensor<T, 4>::uniform(x.shape(), rng, T{-1}, T{1});
  ChannelAffine<T> affine(3);
  for (Index c = 0; c < 3; ++c) {
    affine.scale()(c) = static_cast<T>(0.5 * static_cast<double>(c) - 0.7);
    affine.shift()(c) = static_cast<T>(c + 1);
  }
  const auto y = fovea::forward<T>(affine, x);
  const auto dx = fovea::backward<T>(affine, x, y, dy);
  Softplus<T> softplus;
  const auto s = fovea::forward<T>(softplus, x);
  const auto ds = fovea::backward<T>(softplus, x, s, dy);
  for (Index n = 0; n < 2; ++n)
    for (Index c = 0; c < 3; ++c)
      for (Index h = 0; h < 4; ++h)
        for (Index w = 0; w < 5; ++w) {
          const double a = 0.5 * static_cast<double>(c) - 0.7, v = x(n, c, h, w), g = dy(n, c, h, w);
          CHECK(y(n, c, h, w) == Approx(v * a + static_cast<double>(c + 1)).margin(1e-5));
          CHECK(dx(n, c, h, w) == Approx(g * a).margin(1e-6));
          CHECK(s(n, c, h, w) == Approx(std::log1p(std::exp(v))).margin(1e-6));
          CHECK(ds(n, c, h, w) == Approx(g / (1 + std::exp(-v))).margin(1e-6));
        }
  // Large inputs neither overflow nor lose their value.
  const Tensor<T, 4> big({1, 1, 1, 2}, {T{1000}, T{-1000}});
  const auto b = fovea::forward<T>(softplus, big);
  CHECK(b(0, 0, 0, 0) == T{1000});
  CHECK(b(0, 0, 0, 1) == T{0});
}

TEST_CASE("ChannelAffine and Softplus pass a gradient check and round-trip their specs",
          "[layers][channel_affine][softplus][gradcheck]") {
  Rng rng(22);
  const auto x = fovea::test::away_from_zero({2, 3, 3, 4}, rng);
  ChannelAffine<double> affine(3);
  affine.scale()(1) = -2;
  affine.shift()(2) = 0.5;
  fovea::test::check_layer_gradients(affine, x);
  Softplus<double> softplus;
  fovea::test::check_layer_gradients(softplus, x);
  fovea::test::check_spec_round_trip(softplus);
  fovea::test::check_spec_round_trip(affine);
  CHECK(affine.spec() == LayerSpec{"ChannelAffine", {{"channels", 3}}});
  CHECK(affine.buffers().size() == 2);
  CHECK(affine.params().empty());
  CHECK_THROWS_WITH(ChannelAffine<float>(0), "ChannelAffine: channels must be positive, got 0");
  CHECK_THROWS_WITH(affine.output_shape({2, 3, 3}),
                    "ChannelAffine(3)::output_shape: input [2, 3, 3], expected 3 channel(s)");
  CHECK(softplus.describe() == "Softplus");
}

TEST_CASE("ChannelAffine keeps each execution in its own context", "[layers][channel_affine][context]") {
  Rng rng(23);
  ChannelAffine<float> affine(3);
  affine.scale()(0) = 0.5F;
  affine.shift()(1) = -1;
  test::check_interleaved_contexts<float>(affine, Tensor<float, 4>::uniform({2, 3, 4, 5}, rng, -1, 1),
                                          Tensor<float, 4>::uniform({3, 3, 4, 5}, rng, -1, 1), rng);
}
