#include "fovea/models/densenet.hpp"

#include <catch2/catch.hpp>

#include "models/zoo_checks.hpp"

using namespace fovea;
using namespace zoo_checks;

TEST_CASE("densenet121 is torchvision's: parameters and every module's shape", "[models][densenet]") {
  auto net = models::densenet121<float>();
  CHECK(net.parameter_count() == 7'978'856);
  check_against_torchvision(net, "densenet121");
  // Each layer reads the block's input and every earlier layer's 32 channels.
  CHECK(net.shape(net.node("features.denseblock1.cat2")) == SampleShape{96, 56, 56});
  CHECK(net.shape(net.node("features.denseblock1")) == SampleShape{64 + 6 * 32, 56, 56});
  CHECK(net.shape(net.node("features.denseblock4")) == SampleShape{1024, 7, 7});
  CHECK(net.inputs(net.node("features.denseblock2.denselayer3.norm1")) ==
        std::vector<Node>{net.node("features.denseblock2.cat3")});
}

TEST_CASE("densenet121 trains on small images and gives the same scores in float and double",
          "[models][densenet][train]") {
  auto net = models::densenet121<float>({.classes = 3, .height = 32, .width = 32, .seed = 1});
  const auto r = train_steps(net, 6, 5, 1e-3);
  CHECK(r.last_loss < 0.8 * r.first_loss);
  check_float_matches_double(
      [](auto t) { return models::densenet121<decltype(t)>({.classes = 4, .height = 64, .width = 64, .seed = 3}); });
}
