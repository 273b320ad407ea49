#include "fovea/models/lenet.hpp"

#include <catch2/catch.hpp>

#include "models/zoo_checks.hpp"

using namespace fovea;
using namespace zoo_checks;

namespace {

// Same names, shapes and values, parameter by parameter.
void check_same_parameters(const Graph<float>& net, const Graph<float>& expected) {
  REQUIRE(net.params().size() == expected.params().size());
  for (std::size_t i = 0; i < net.params().size(); ++i) {
    CHECK(net.params()[i].name == expected.params()[i].name);
    CHECK(net.params()[i].shape == expected.params()[i].shape);
    CHECK(std::equal(net.params()[i].value.begin(), net.params()[i].value.end(), expected.params()[i].value.begin()));
  }
}

}  // namespace

TEST_CASE("models::lenet5 is make_lenet5 behind the zoo's options", "[models][lenet]") {
  auto net = models::lenet5<float>({.seed = 3});
  CHECK(net.parameter_count() == 61'706);
  CHECK(net.input_shape() == SampleShape{1, 28, 28});
  CHECK(net.output_shape() == SampleShape{10, 1, 1});
  check_same_parameters(net, make_lenet5<float>({.seed = 3}));
  auto wide = models::lenet5<float>({.classes = 4, .height = 32, .width = 32});
  CHECK(wide.output_shape() == SampleShape{4, 1, 1});
  CHECK(wide.shape(wide.node("6")) == SampleShape{576, 1, 1});  // 16 x 6 x 6 after the second pooling
  CHECK_THROWS_WITH(models::lenet5<float>({.in_channels = 3}),
                    "models::lenet5: input [3, 28, 28], expected one channel and a square image [1, S, S]");
  CHECK_THROWS_WITH(models::lenet5<float>({.height = 28, .width = 32}), Catch::Contains("[1, 28, 32]"));
}

TEST_CASE("models::lenet5 takes the hidden widths of LeNet5Options", "[models][lenet]") {
  // conv1 156 + conv2 2,416, then the fully connected layers from 400 features.
  auto fc = [](Index in, Index out) { return in * out + out; };
  const Index convolutions = 156 + 2'416;
  CHECK(models::lenet5<float>({}, {}).parameter_count() == 61'706);
  auto other = models::lenet5<float>({.seed = 3}, {.hidden = {120, 100}});
  CHECK(other.parameter_count() == convolutions + fc(400, 120) + fc(120, 100) + fc(100, 10));
  CHECK(other.parameter_count() == 63'802);
  CHECK(other.shape(other.node("9")) == SampleShape{100, 1, 1});
  CHECK(models::lenet5<float>({.classes = 4}, {.hidden = {300}}).parameter_count() ==
        convolutions + fc(400, 300) + fc(300, 4));
  auto direct = models::lenet5<float>({}, {.hidden = {}});
  CHECK(direct.parameter_count() == convolutions + fc(400, 10));
  CHECK(direct.size() == 8);  // conv, ReLU, pool, conv, ReLU, pool, flatten, FC 10
  // The same weights as make_lenet5 with the same widths and seed.
  check_same_parameters(other, make_lenet5<float>({.hidden = {120, 100}, .seed = 3}));
  CHECK_THROWS_AS(models::lenet5<float>({}, {.hidden = {120, 0}}), value_error);
  CHECK_THROWS_WITH(models::lenet5<float>({}, {.hidden = {120, 0}}),
                    "models::lenet5: hidden widths [120, 0], expected each at least 1");
  CHECK_THROWS_WITH(models::lenet5<float>({}, {.hidden = {-5}}),
                    "models::lenet5: hidden widths [-5], expected each at least 1");
}

TEST_CASE("models::lenet5 trains and gives the same scores in float and double", "[models][lenet][train]") {
  auto net = models::lenet5<float>({.seed = 1});
  const auto r = train_steps(net, 8, 10, 1e-2);
  CHECK(r.last_loss < 0.5 * r.first_loss);
  check_float_matches_double([](auto t) { return models::lenet5<decltype(t)>({.seed = 2}); }, 3);
}
