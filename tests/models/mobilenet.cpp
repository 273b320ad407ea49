#include "fovea/models/mobilenet.hpp"

#include <catch2/catch.hpp>

#include "models/zoo_checks.hpp"

using namespace fovea;
using namespace zoo_checks;

TEST_CASE("mobilenet_v2 is torchvision's: parameters and every module's shape", "[models][mobilenet]") {
  auto net = models::mobilenet_v2<float>();
  CHECK(net.parameter_count() == 3'504'872);
  check_against_torchvision(net, "mobilenet_v2");
  // Blocks that keep size and channels add their input; the others do not.
  CHECK(net.inputs(net.node("features.3")) ==
        std::vector<Node>{net.node("features.2.conv.3"), net.node("features.3.conv.3")});
  CHECK_THROWS_AS(net.node("features.2"), index_error);
  CHECK(net.layer(net.node("features.2.conv.1.0")).describe().find("g96") != std::string::npos);
}

TEST_CASE("mobilenet_v2 trains on small images and gives the same scores in float and double",
          "[models][mobilenet][train]") {
  auto net = models::mobilenet_v2<float>({.classes = 3, .height = 32, .width = 32, .seed = 1});
  const auto r = train_steps(net, 6, 6, 1e-3);
  CHECK(r.last_loss < 0.8 * r.first_loss);
  check_float_matches_double(
      [](auto t) { return models::mobilenet_v2<decltype(t)>({.classes = 4, .height = 64, .width = 64, .seed = 3}); });
}
