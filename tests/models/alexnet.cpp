#include "fovea/models/alexnet.hpp"

#include <catch2/catch.hpp>

#include "models/zoo_checks.hpp"

using namespace fovea;
using namespace zoo_checks;

TEST_CASE("alexnet is torchvision's AlexNet: parameters and every module's shape", "[models][alexnet]") {
  auto net = models::alexnet<float>();
  CHECK(net.parameter_count() == 61'100'840);
  CHECK(net.input_shape() == SampleShape{3, 224, 224});
  // torchvision's AdaptiveAvgPool2d((6, 6)) is the identity at 224x224.
  check_against_torchvision(net, "alexnet", {"avgpool"});
  CHECK(net.shape(net.node("features.12")) == SampleShape{256, 6, 6});
}

TEST_CASE("alexnet: sizes other than 6x6 features pool exactly or are refused", "[models][alexnet]") {
  // 448x448 gives 13x13 features: not a multiple of 6.
  CHECK_THROWS_WITH(models::alexnet<float>({.classes = 2, .height = 448, .width = 448}),
                    "models::alexnet: the features before 'avgpool' are [256, 13, 13]; torchvision's adaptive "
                    "pooling to 6x6 is supported only where it is exact: maps of 6x6 or k times that on both axes "
                    "(224x224 input gives 6x6)");
  // 417x417 gives 12x12 features: a 2x2 average pooling, as AdaptiveAvgPool2d((6, 6)) computes it.
  auto net = models::alexnet<float>({.classes = 2, .height = 417, .width = 417});
  CHECK(net.shape(net.node("features.12")) == SampleShape{256, 12, 12});
  CHECK(net.shape(net.node("avgpool")) == SampleShape{256, 6, 6});
  CHECK(net.layer(net.node("avgpool")).describe() == "AvgPool2d(2x2, s2)");
  CHECK_THROWS_WITH(models::alexnet<float>({.classes = -1}),
                    "models::alexnet: classes must be positive (or 0 for 1000), got -1");
}

TEST_CASE("alexnet trains: the loss falls in a few steps", "[models][alexnet][train]") {
  auto net = models::alexnet<float>({.classes = 3, .seed = 1});
  const auto r = train_steps(net, 6, 6, 1e-4);
  CHECK(r.last_loss < 0.95 * r.first_loss);
}

TEST_CASE("alexnet gives the same scores in float and double", "[models][alexnet]") {
  check_float_matches_double([](auto t) { return models::alexnet<decltype(t)>({.classes = 5, .seed = 4}); }, 1);
}

TEST_CASE("zfnet follows Zeiler and Fergus: the paper's map sizes and 62,357,608 parameters", "[models][zfnet]") {
  auto net = models::zfnet<float>();
  CHECK(net.parameter_count() == 62'357'608);
  // Figure 3: 224 -> 110 -> 55 -> 26 -> 13 -> 13 -> 13 -> 6.
  CHECK(net.shape(net.node("features.0")) == SampleShape{96, 110, 110});
  CHECK(net.shape(net.node("features.2")) == SampleShape{96, 55, 55});
  CHECK(net.shape(net.node("features.3")) == SampleShape{256, 26, 26});
  CHECK(net.shape(net.node("features.5")) == SampleShape{256, 13, 13});
  CHECK(net.shape(net.node("features.6")) == SampleShape{384, 13, 13});
  CHECK(net.shape(net.node("features.8")) == SampleShape{384, 13, 13});
  CHECK(net.shape(net.node("features.10")) == SampleShape{256, 13, 13});
  CHECK(net.shape(net.node("features.12")) == SampleShape{256, 6, 6});
  CHECK(net.shape(net.node("classifier.1")) == SampleShape{4096, 1, 1});
  CHECK(net.output_shape() == SampleShape{1000, 1, 1});
  // The paper's start: weights normal(0, 0.01), biases 0.
  const auto& w = net.params()[0];
  double sum = 0, squares = 0;
  for (float v : w.value) {
    sum += v;
    squares += static_cast<double>(v) * v;
  }
  const double n = static_cast<double>(w.value.size());
  CHECK(std::abs(sum / n) < 1e-3);
  CHECK(std::sqrt(squares / n) == Approx(0.01).epsilon(0.05));
  for (float v : net.params()[1].value) CHECK(v == 0.0f);
}

TEST_CASE("zfnet trains and gives the same scores in float and double", "[models][zfnet][train]") {
  auto net = models::zfnet<float>({.classes = 3, .seed = 2});
  const auto r = train_steps(net, 6, 12, 1e-4);  // slower than AlexNet: the paper's normal(0, 0.01) start
  CHECK(r.last_loss < 0.97 * r.first_loss);
  check_float_matches_double([](auto t) { return models::zfnet<decltype(t)>({.classes = 5, .seed = 4}); }, 1);
}
