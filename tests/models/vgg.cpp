#include "fovea/models/vgg.hpp"

#include <catch2/catch.hpp>

#include "models/zoo_checks.hpp"

using namespace fovea;
using namespace zoo_checks;

// Each VGG at 224x224 is a model of 133-144 million parameters (0.5 GB in
// float, as much again for the gradients) and 15-40 GFLOPs per image: every
// depth is built and compared with torchvision, but only VGG-11 is trained and
// run in double. The depths share one builder (detail::vgg) that differs only
// in torchvision's list of layers, which the comparison checks.

TEST_CASE("vgg11/13/16/19 are torchvision's: parameters and every module's shape", "[models][vgg]") {
  // torchvision's AdaptiveAvgPool2d((7, 7)) is the identity at 224x224.
  SECTION("vgg11") {
    auto net = models::vgg11<float>();
    check_against_torchvision(net, "vgg11", {"avgpool"});
    // Kaiming normal (fan_out) convolutions, normal(0, 0.01) classifier, zero biases.
    auto spread = [](const Parameter<float>& p) {
      double squares = 0;
      for (float v : p.value) squares += static_cast<double>(v) * v;
      return std::sqrt(squares / static_cast<double>(p.value.size()));
    };
    const auto& params = net.params();
    CHECK(params[0].name == "features.0.weight");
    CHECK(spread(params[0]) == Approx(std::sqrt(2.0 / (64 * 9))).epsilon(0.05));  // fan_out = 64 * 3 * 3
    CHECK(params[2].name == "features.3.weight");
    CHECK(spread(params[2]) == Approx(std::sqrt(2.0 / (128 * 9))).epsilon(0.05));
    CHECK(params[16].name == "classifier.0.weight");
    CHECK(spread(params[16]) == Approx(0.01).epsilon(0.01));
    for (const auto& p : params) {
      if (p.name.ends_with("bias")) CHECK(spread(p) == 0.0);
    }
  }
  SECTION("vgg13") { check_against_torchvision(models::vgg13<float>(), "vgg13", {"avgpool"}); }
  SECTION("vgg16") {
    auto net = models::vgg16<float>();
    CHECK(net.parameter_count() == 138'357'544);
    check_against_torchvision(net, "vgg16", {"avgpool"});
  }
  SECTION("vgg19") { check_against_torchvision(models::vgg19<float>(), "vgg19", {"avgpool"}); }
}

TEST_CASE("vgg11/13/16/19_bn are torchvision's: parameters and every module's shape", "[models][vgg]") {
  SECTION("vgg11_bn") { check_against_torchvision(models::vgg11_bn<float>(), "vgg11_bn", {"avgpool"}); }
  SECTION("vgg13_bn") { check_against_torchvision(models::vgg13_bn<float>(), "vgg13_bn", {"avgpool"}); }
  SECTION("vgg16_bn") {
    auto net = models::vgg16_bn<float>();
    CHECK(net.parameter_count() == 138'365'992);
    check_against_torchvision(net, "vgg16_bn", {"avgpool"});
  }
  SECTION("vgg19_bn") { check_against_torchvision(models::vgg19_bn<float>(), "vgg19_bn", {"avgpool"}); }
}

TEST_CASE("vgg refuses sizes whose features are not a multiple of 7x7", "[models][vgg]") {
  CHECK_THROWS_WITH(models::vgg11<float>({.classes = 2, .height = 64, .width = 64}),
                    Catch::StartsWith("models::vgg11: the features before 'avgpool' are [512, 2, 2]"));
  CHECK_THROWS_WITH(models::vgg16_bn<float>({.classes = 2, .height = 300, .width = 300}),
                    Catch::StartsWith("models::vgg16_bn: the features before 'avgpool' are [512, 9, 9]"));
}

TEST_CASE("vgg11 and vgg11_bn train at 224x224 and give the same scores in float and double", "[models][vgg][train]") {
  auto plain = models::vgg11<float>({.classes = 2, .seed = 5});
  const auto r = train_steps(plain, 2, 6, 1e-4);
  CHECK(r.last_loss < 0.9 * r.first_loss);
  auto normed = models::vgg11_bn<float>({.classes = 2, .seed = 5});
  const auto q = train_steps(normed, 2, 4, 1e-4);
  CHECK(q.last_loss < 0.9 * q.first_loss);
  check_float_matches_double([](auto t) { return models::vgg11_bn<decltype(t)>({.classes = 4, .seed = 2}); }, 1);
}
