#include "fovea/models/resnet.hpp"

#include <catch2/catch.hpp>

#include "models/zoo_checks.hpp"

using namespace fovea;
using namespace zoo_checks;

TEST_CASE("resnet18/34/50/101 are torchvision's: parameters and every module's shape", "[models][resnet]") {
  SECTION("resnet18") {
    auto net = models::resnet18<float>();
    CHECK(net.parameter_count() == 11'689'512);
    check_against_torchvision(net, "resnet18");
    CHECK(net.shape(net.node("layer4.1")) == SampleShape{512, 7, 7});
    CHECK(net.inputs(net.node("layer2.0.add")) ==
          std::vector<Node>{net.node("layer2.0.bn2"), net.node("layer2.0.downsample.1")});
    CHECK(net.inputs(net.node("layer2.1.add")) == std::vector<Node>{net.node("layer2.1.bn2"), net.node("layer2.0")});
  }
  SECTION("resnet34") {
    auto net = models::resnet34<float>();
    CHECK(net.parameter_count() == 21'797'672);
    check_against_torchvision(net, "resnet34");
  }
  SECTION("resnet50") {
    auto net = models::resnet50<float>();
    CHECK(net.parameter_count() == 25'557'032);
    check_against_torchvision(net, "resnet50");
    // torchvision's v1.5: the stride is on the 3x3 convolution.
    CHECK(net.shape(net.node("layer2.0.conv1")) == SampleShape{128, 56, 56});
    CHECK(net.shape(net.node("layer2.0.conv2")) == SampleShape{128, 28, 28});
  }
  SECTION("resnet101") {
    auto net = models::resnet101<float>();
    CHECK(net.parameter_count() == 44'549'160);
    check_against_torchvision(net, "resnet101");
  }
}

TEST_CASE("resnet: Kaiming normal (fan_out) convolutions, BatchNorm 1 and 0, default FC", "[models][resnet]") {
  auto net = models::resnet18<float>({.classes = 10});
  auto rms = [](const Parameter<float>& p) {
    double squares = 0;
    for (float v : p.value) squares += static_cast<double>(v) * v;
    return std::sqrt(squares / static_cast<double>(p.value.size()));
  };
  const auto& params = net.params();
  CHECK(params[0].name == "conv1.weight");
  CHECK(rms(params[0]) == Approx(std::sqrt(2.0 / (64 * 49))).epsilon(0.05));
  CHECK(params[1].name == "bn1.weight");
  for (float v : params[1].value) CHECK(v == 1.0f);
  for (float v : params[2].value) CHECK(v == 0.0f);
  const auto& fc = params[params.size() - 2];
  CHECK(fc.name == "fc.weight");
  // uniform(+-1/sqrt(512)) has rms 1/sqrt(3 * 512)
  CHECK(rms(fc) == Approx(1 / std::sqrt(3.0 * 512)).epsilon(0.05));
}

TEST_CASE("every resnet trains on small images", "[models][resnet][train]") {
  SECTION("resnet18") {
    auto net = models::resnet18<float>({.classes = 3, .height = 32, .width = 32, .seed = 1});
    CHECK(net.shape(net.node("layer4.1")) == SampleShape{512, 1, 1});
    const auto r = train_steps(net, 6, 5, 1e-3);
    CHECK(r.last_loss < 0.8 * r.first_loss);
  }
  SECTION("resnet34") {
    auto net = models::resnet34<float>({.classes = 3, .height = 32, .width = 32, .seed = 1});
    const auto r = train_steps(net, 6, 5, 1e-3);
    CHECK(r.last_loss < 0.8 * r.first_loss);
  }
  SECTION("resnet50") {
    auto net = models::resnet50<float>({.classes = 3, .height = 32, .width = 32, .seed = 1});
    const auto r = train_steps(net, 6, 5, 1e-3);
    CHECK(r.last_loss < 0.8 * r.first_loss);
  }
  SECTION("resnet101") {
    auto net = models::resnet101<float>({.classes = 3, .height = 32, .width = 32, .seed = 1});
    const auto r = train_steps(net, 6, 5, 1e-3);
    CHECK(r.last_loss < 0.8 * r.first_loss);
  }
}

TEST_CASE("resnets give the same scores in float and double", "[models][resnet]") {
  check_float_matches_double(
      [](auto t) { return models::resnet18<decltype(t)>({.classes = 5, .height = 64, .width = 64, .seed = 2}); });
  check_float_matches_double(
      [](auto t) { return models::resnet50<decltype(t)>({.classes = 5, .height = 64, .width = 64, .seed = 2}); });
}

TEST_CASE("resnet8: three basic blocks of 16, 32, 64 channels, 77,754 parameters", "[models][resnet]") {
  auto net = models::resnet8<float>();
  CHECK(net.parameter_count() == 77'754);
  CHECK(net.input_shape() == SampleShape{1, 28, 28});
  CHECK(net.shape(net.node("layer1.0")) == SampleShape{16, 28, 28});
  CHECK(net.shape(net.node("layer2.0")) == SampleShape{32, 14, 14});
  CHECK(net.shape(net.node("layer3.0")) == SampleShape{64, 7, 7});
  CHECK(net.output_shape() == SampleShape{10, 1, 1});
  // The first block keeps its identity shortcut, the other two project theirs.
  CHECK_THROWS_AS(net.node("layer1.0.downsample.0"), index_error);
  CHECK(net.layer(net.node("layer2.0.downsample.0")).describe() == "Conv2d(16->32, k1x1, s2, p0, no bias)");
  CHECK(net.layer(net.node("layer3.0.downsample.0")).describe() == "Conv2d(32->64, k1x1, s2, p0, no bias)");
  auto rgb = models::resnet8<float>({.in_channels = 3, .height = 32, .width = 32});
  CHECK(rgb.parameter_count() == 77'754 + 2 * 16 * 9);
  const auto r = train_steps(net, 10, 8, 1e-2);
  CHECK(r.last_loss < 0.7 * r.first_loss);
  check_float_matches_double([](auto t) { return models::resnet8<decltype(t)>({.seed = 7}); }, 4);
}
