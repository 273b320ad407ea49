#include "fovea/models/squeezenet.hpp"

#include <catch2/catch.hpp>

#include "models/zoo_checks.hpp"

using namespace fovea;
using namespace zoo_checks;

TEST_CASE("squeezenet1_1 is torchvision's: parameters and every module's shape", "[models][squeezenet]") {
  auto net = models::squeezenet1_1<float>();
  CHECK(net.parameter_count() == 1'235'496);
  check_against_torchvision(net, "squeezenet1_1");
  // The last convolution starts normal(0, 0.01), the others Kaiming uniform.
  auto rms = [](const Parameter<float>& p) {
    double squares = 0;
    for (float v : p.value) squares += static_cast<double>(v) * v;
    return std::sqrt(squares / static_cast<double>(p.value.size()));
  };
  const auto& params = net.params();
  CHECK(params[params.size() - 2].name == "classifier.1.weight");
  CHECK(rms(params[params.size() - 2]) == Approx(0.01).epsilon(0.02));
  CHECK(rms(params[0]) == Approx(std::sqrt(2.0 / 27)).epsilon(0.1));  // uniform(+-sqrt(6/27))
}

TEST_CASE("squeezenet1_1 trains on small images and gives the same scores in float and double",
          "[models][squeezenet][train]") {
  // ceil_mode keeps odd maps: 63 -> 31 -> 15 -> 7 -> 3.
  auto net = models::squeezenet1_1<float>({.classes = 3, .height = 64, .width = 64, .seed = 1});
  CHECK(net.shape(net.node("features.12")) == SampleShape{512, 3, 3});
  const auto r = train_steps(net, 6, 8, 1e-3);
  CHECK(r.last_loss < 0.9 * r.first_loss);
  check_float_matches_double(
      [](auto t) { return models::squeezenet1_1<decltype(t)>({.classes = 4, .height = 64, .width = 64, .seed = 3}); });
}
