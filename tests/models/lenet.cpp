#include "fovea/models/lenet.hpp"

#include <catch2/catch.hpp>

#include "models/zoo_checks.hpp"

using namespace fovea;
using namespace zoo_checks;

TEST_CASE("models::lenet5 is make_lenet5 behind the zoo's options", "[models][lenet]") {
  auto net = models::lenet5<float>({.seed = 3});
  CHECK(net.parameter_count() == 61'706);
  CHECK(net.input_shape() == SampleShape{1, 28, 28});
  CHECK(net.output_shape() == SampleShape{10, 1, 1});
  auto same = make_lenet5<float>({.seed = 3});
  REQUIRE(same.params().size() == net.params().size());
  for (std::size_t i = 0; i < net.params().size(); ++i) {
    CHECK(net.params()[i].name == same.params()[i].name);
    CHECK(std::equal(net.params()[i].value.begin(), net.params()[i].value.end(), same.params()[i].value.begin()));
  }
  auto wide = models::lenet5<float>({.classes = 4, .height = 32, .width = 32});
  CHECK(wide.output_shape() == SampleShape{4, 1, 1});
  CHECK(wide.shape(wide.node("6")) == SampleShape{576, 1, 1});  // 16 x 6 x 6 after the second pooling
  CHECK_THROWS_WITH(models::lenet5<float>({.in_channels = 3}),
                    "models::lenet5: input [3, 28, 28], expected one channel and a square image [1, S, S]");
  CHECK_THROWS_WITH(models::lenet5<float>({.height = 28, .width = 32}), Catch::Contains("[1, 28, 32]"));
}

TEST_CASE("models::lenet5 trains and gives the same scores in float and double", "[models][lenet][train]") {
  auto net = models::lenet5<float>({.seed = 1});
  const auto r = train_steps(net, 8, 10, 1e-2);
  CHECK(r.last_loss < 0.5 * r.first_loss);
  check_float_matches_double([](auto t) { return models::lenet5<decltype(t)>({.seed = 2}); }, 3);
}
