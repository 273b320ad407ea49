#include "fovea/nn/fold_batch_norm.hpp"

#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>

#include "fovea/layers/activation.hpp"
#include "fovea/layers/add.hpp"
#include "fovea/layers/flatten.hpp"
#include "fovea/models/resnet.hpp"

using namespace fovea;

namespace {

// Moves every BatchNorm's running statistics and scale away from their
// initial values, as training would, so a fold has something to fold.
template <class T>
void train_statistics(Graph<T>& net, std::uint64_t seed) {
  Rng rng(seed);
  Tensor<T, 4> x(batch_shape(8, net.input_shape()));
  for (int step = 0; step < 3; ++step) {
    for (Index i = 0; i < x.size(); ++i) x.data()[i] = static_cast<T>(rng.uniform(-1, 2));
    net.forward(x);
  }
  for (const auto& p : net.params()) {
    for (Index i = 0; i < p.value.size(); ++i) p.value(i) += static_cast<T>(rng.uniform(-0.2, 0.2));
  }
}

template <class T>
double largest_difference(Graph<T>& a, Graph<T>& b, const Tensor<T, 4>& x) {
  const Tensor<T, 4> ya(a.infer(x));
  const auto yb = b.infer(x);
  REQUIRE(ya.shape() == yb.shape());
  double worst = 0, scale = 0;
  for (Index i = 0; i < ya.size(); ++i) {
    worst = std::max(worst, std::abs(static_cast<double>(ya.data()[i]) - static_cast<double>(yb.data()[i])));
    scale = std::max(scale, std::abs(static_cast<double>(ya.data()[i])));
  }
  CHECK(scale > 0.1);  // a network answering zeros would agree trivially
  return worst / scale;
}

}  // namespace

TEMPLATE_TEST_CASE("folding ResNet-8's batch norms into its convolutions keeps its inference function",
                   "[nn][fold_batch_norm]", float, double) {
  using T = TestType;
  auto net = models::resnet8<T>();
  train_statistics(net, 3);
  auto folded = fold_batch_norm(net);
  // Nine convolutions (stem, two per block, two projections) each absorb theirs.
  Index norms = 0;
  for (std::size_t i = 0; i < net.size(); ++i) norms += dynamic_cast<BatchNorm<T>*>(&net.layer(i)) != nullptr;
  CHECK(norms == 9);
  CHECK(folded.size() == net.size() - 9);
  for (std::size_t i = 0; i < folded.size(); ++i) CHECK(dynamic_cast<BatchNorm<T>*>(&folded.layer(i)) == nullptr);
  CHECK(folded.parameter_count() < net.parameter_count());
  Rng rng(9);
  Tensor<T, 4> x({5, 1, 28, 28});
  for (Index i = 0; i < x.size(); ++i) x.data()[i] = static_cast<T>(rng.uniform(0, 1));
  CHECK(largest_difference(net, folded, x) < (std::is_same_v<T, float> ? 1e-5 : 1e-12));
  // The original is untouched and still trains with batch statistics.
  CHECK(net.training());
  CHECK(norms == 9);
}

TEST_CASE("fold_batch_norm folds after Linear, and leaves a BatchNorm whose input has other readers",
          "[nn][fold_batch_norm]") {
  Graph<double> net({3, 6, 6});
  auto conv =
      net.add("conv", Conv2d<double>({.in_channels = 3, .out_channels = 4, .kernel = 3, .padding = 1}), net.input());
  auto norm = net.add("norm", BatchNorm<double>({.channels = 4}), conv);
  auto skip = net.add("sum", Add<double>{}, {norm, conv});  // conv has a second reader: no fold
  auto flat = net.add("flat", Flatten<double>{}, skip);
  auto fc = net.add("fc", Linear<double>(4 * 6 * 6, 5, false), flat);
  auto fc_norm = net.add("fc_norm", BatchNorm<double>({.channels = 5, .affine = false}), fc);
  net.add("relu", ReLU<double>{}, fc_norm);
  train_statistics(net, 5);
  auto folded = fold_batch_norm(net);
  CHECK(folded.size() == net.size() - 1);
  CHECK_NOTHROW(folded.node("norm"));
  CHECK_THROWS_AS(folded.node("fc_norm"), index_error);
  CHECK(folded.layer(folded.node("fc")).params().size() == 2);  // a folded layer gains a bias
  Rng rng(2);
  Tensor<double, 4> x({4, 3, 6, 6});
  for (Index i = 0; i < x.size(); ++i) x.data()[i] = rng.uniform(-1, 1);
  CHECK(largest_difference(net, folded, x) < 1e-12);
}
