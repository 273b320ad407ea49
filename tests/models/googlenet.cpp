#include "fovea/models/googlenet.hpp"

#include <catch2/catch.hpp>

#include "models/zoo_checks.hpp"

using namespace fovea;
using namespace zoo_checks;

TEST_CASE("googlenet is torchvision's (no auxiliary heads): parameters and every module's shape",
          "[models][googlenet]") {
  auto net = models::googlenet<float>();
  CHECK(net.parameter_count() == 6'624'904);
  check_against_torchvision(net, "googlenet");
  // ceil_mode: 112 -> 56, where flooring gives 55.
  CHECK(net.shape(net.node("maxpool1")) == SampleShape{64, 56, 56});
  CHECK(net.shape(net.node("inception5b")) == SampleShape{1024, 7, 7});
  CHECK(net.layer(net.node("conv1.bn")).describe() == "BatchNorm(64, eps=0.001)");
}

TEST_CASE("googlenet trains on small images and gives the same scores in float and double",
          "[models][googlenet][train]") {
  auto net = models::googlenet<float>({.classes = 3, .height = 64, .width = 64, .seed = 1});
  const auto r = train_steps(net, 6, 5, 1e-3);
  CHECK(r.last_loss < 0.8 * r.first_loss);
  check_float_matches_double(
      [](auto t) { return models::googlenet<decltype(t)>({.classes = 4, .height = 64, .width = 64, .seed = 3}); });
}
