#pragma once

// What the zoo's tests share: torchvision's reference for a model (parsed
// from torchvision_reference.inc, written by torchvision_reference.py), the
// comparison of a built network with it, and a few training steps on random data.

#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "fovea/nn/graph.hpp"
#include "fovea/ops/loss.hpp"
#include "fovea/optim/adam.hpp"
#include "models/torchvision_reference.inc"

namespace zoo_checks {

using fovea::Index;

struct ModuleShape {
  std::string name;
  fovea::SampleShape shape;
  bool leaf;  // a module without submodules
};

struct Reference {
  Index parameters = -1;
  std::vector<std::pair<std::string, std::vector<Index>>> params;  // in torchvision's order
  std::vector<ModuleShape> modules;                                // output shapes at 3x224x224
};

inline Reference torchvision(const std::string& model) {
  for (const char* text : torchvision_reference) {
    std::istringstream in(text);
    std::string kind, name;
    in >> kind >> name;
    if (name != model) continue;
    Reference ref;
    in >> ref.parameters;
    std::string line;
    std::getline(in, line);
    while (std::getline(in, line)) {
      std::istringstream fields(line);
      fields >> kind >> name;
      std::vector<Index> dims;
      for (Index d = 0; fields >> d;) dims.push_back(d);
      if (kind == "param") {
        ref.params.emplace_back(name, dims);
      } else {
        ref.modules.push_back({name, {dims.at(0), dims.at(1), dims.at(2)}, kind == "leaf"});
      }
    }
    return ref;
  }
  FAIL("no torchvision reference for " << model);
  return {};
}

// The network built for 3x224x224 and 1,000 classes has torchvision's
// parameters (names, shapes and order) and count, and every node named as a
// torchvision module has that module's output shape. Every module without
// submodules is a node, except those in `absent` (torchvision modules that
// are the identity here).
template <class T>
void check_against_torchvision(const fovea::Graph<T>& net, const std::string& model,
                               const std::vector<std::string>& absent = {}) {
  const Reference ref = torchvision(model);
  INFO(model);
  CHECK(net.parameter_count() == ref.parameters);
  std::vector<std::pair<std::string, std::vector<Index>>> params;
  for (const auto& p : net.params()) params.emplace_back(p.name, p.shape);
  REQUIRE(params.size() == ref.params.size());
  for (std::size_t i = 0; i < params.size(); ++i) {
    INFO("parameter " << i);
    CHECK(params[i] == ref.params[i]);
  }
  int compared = 0;
  for (const ModuleShape& m : ref.modules) {
    INFO("module " << m.name);
    bool is_node = true;
    try {
      net.node(m.name);
    } catch (const fovea::index_error&) {
      is_node = false;
    }
    if (!is_node) {
      if (m.leaf) CHECK(std::find(absent.begin(), absent.end(), m.name) != absent.end());
      continue;
    }
    CHECK(net.shape(net.node(m.name)) == m.shape);
    ++compared;
  }
  CHECK(compared > 0);
  CHECK(net.output_shape() == fovea::SampleShape{1000, 1, 1});
}

struct TrainResult {
  double first_loss;
  double last_loss;
};

// `steps` Adam steps on one fixed batch of random images, sample i of class
// i mod classes: noise in [-0.5, 0.5) plus that class's colour, a random
// value in [-1, 1) per channel (a signal every architecture can pick up in a
// few steps: noise patterns are averaged away by the pooling).
// Returns the loss before the first step and after the last. Adam, because
// the deep networks start with scores near 0 and gradients too small for a
// few plain SGD steps to move them (AlexNet's last layer sees activations
// shrunk by every layer before it); Adam's steps do not depend on the
// gradients' scale.
template <class T>
TrainResult train_steps(fovea::Graph<T>& net, Index batch, int steps, double learning_rate = 1e-3,
                        std::uint64_t seed = 1) {
  fovea::Rng rng(seed);
  const fovea::SampleShape in = net.input_shape();
  const Index classes = fovea::shape_size(net.output_shape());
  const auto colours = fovea::Tensor<T, 2>::uniform({classes, in[0]}, rng, T(-1), T(1));
  auto x = fovea::Tensor<T, 4>::uniform({batch, in[0], in[1], in[2]}, rng, T(-0.5), T(0.5));
  for (Index i = 0; i < batch; ++i) {
    for (Index c = 0; c < in[0]; ++c) {
      for (Index h = 0; h < in[1]; ++h) {
        for (Index w = 0; w < in[2]; ++w) x(i, c, h, w) += colours(i % classes, c);
      }
    }
  }
  std::vector<std::int32_t> labels;
  for (Index i = 0; i < batch; ++i) labels.push_back(static_cast<std::int32_t>(i % classes));
  fovea::Tensor<T, 4> dlogits({batch, classes, 1, 1});
  fovea::Adam<T> adam(net.params(), {.learning_rate = learning_rate});
  auto loss = [&] {
    const auto y = net.forward(x);
    return static_cast<double>(fovea::softmax_cross_entropy<T>(
        y.reshape(fovea::Shape<2>{batch, classes}), labels, dlogits.view().reshape(fovea::Shape<2>{batch, classes})));
  };
  TrainResult result{0, 0};
  for (int step = 0; step < steps; ++step) {
    const double l = loss();
    if (step == 0) result.first_loss = l;
    REQUIRE(std::isfinite(l));
    net.zero_grad();
    net.backward(dlogits);
    adam.step();
  }
  result.last_loss = loss();
  CAPTURE(result.first_loss, result.last_loss);
  return result;
}

// The same model built in float and double from one seed gives the same
// scores for the same input, up to float rounding.
template <class Build>
void check_float_matches_double(Build build, Index batch = 2) {
  auto net_f = build(float{});
  auto net_d = build(double{});
  fovea::Rng rng(3);
  const fovea::SampleShape in = net_d.input_shape();
  const auto x = fovea::Tensor<double, 4>::uniform({batch, in[0], in[1], in[2]}, rng, -1.0, 1.0);
  fovea::Tensor<float, 4> x_f(x.shape());
  for (Index i = 0; i < x.size(); ++i) x_f.data()[i] = static_cast<float>(x.data()[i]);
  net_f.set_training(false);
  net_d.set_training(false);
  const fovea::Tensor<double, 4> y_d(net_d.forward(x));
  const fovea::Tensor<float, 4> y_f(net_f.forward(x_f));
  REQUIRE(y_f.shape() == y_d.shape());
  double scale = 0;
  for (Index i = 0; i < y_d.size(); ++i) scale = std::max(scale, std::abs(y_d.data()[i]));
  REQUIRE(scale > 0);
  for (Index i = 0; i < y_d.size(); ++i) {
    CHECK(std::abs(static_cast<double>(y_f.data()[i]) - y_d.data()[i]) <= 1e-3 * scale);
  }
}

}  // namespace zoo_checks
