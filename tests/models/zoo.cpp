#include "fovea/models/zoo.hpp"

#include <catch2/catch.hpp>

using namespace fovea;

TEST_CASE("make builds every zoo model by name", "[models][zoo]") {
  const auto names = models::names();
  REQUIRE(!names.empty());
  CHECK(names.front() == "lenet5");
  CHECK(std::find(names.begin(), names.end(), "vgg16") != names.end());
  auto net = models::make<float>("alexnet", {.classes = 7});
  CHECK(net.parameter_count() == 61'100'840 - 993 * 4097);  // 1,000 -> 7 classes: 993 fewer rows of 4096 + 1
  CHECK(net.output_shape() == SampleShape{7, 1, 1});
  auto lenet = models::make<double>("lenet5");
  CHECK(lenet.parameter_count() == 61'706);
}

TEST_CASE("make names the known models for an unknown one", "[models][zoo]") {
  CHECK_THROWS_AS(models::make<float>("resnet1000"), value_error);
  CHECK_THROWS_WITH(models::make<float>("resnet1000"),
                    Catch::StartsWith("models::make: unknown model 'resnet1000'; known: lenet5, alexnet, zfnet"));
}
