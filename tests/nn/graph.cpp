#include "fovea/nn/graph.hpp"

#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "fovea/detail/crc32.hpp"
#include "fovea/io/model_file.hpp"
#include "fovea/layers/add.hpp"
#include "fovea/layers/batch_norm.hpp"
#include "fovea/layers/concat.hpp"
#include "fovea/layers/conv2d.hpp"
#include "fovea/layers/dropout.hpp"
#include "fovea/layers/flatten.hpp"
#include "fovea/layers/global_pool.hpp"
#include "fovea/layers/linear.hpp"
#include "fovea/layers/pool2d.hpp"
#include "fovea/models/mobilenet.hpp"
#include "fovea/models/resnet.hpp"
#include "fovea/nn/fold_batch_norm.hpp"
#include "fovea/nn/init.hpp"
#include "fovea/nn/sequential.hpp"

using namespace fovea;

namespace {

template <class T>
Conv2d<T> conv(Index in, Index out, Index kernel, Index stride = 1) {
  return Conv2d<T>({.in_channels = in, .out_channels = out, .kernel = kernel, .stride = stride, .padding = kernel / 2});
}

// A residual block and an Inception-style join on one graph:
//   input [2, 6, 6] -> stem conv3x3 (4) -> relu ─┬─ conv3x3 -> relu -> conv3x3 ─ add ─ relu ─┬─ conv1x1 (3) ──┐
//                                               └──────────────────────────────┘             ├─ conv3x3 (2) ─ concat
//                                               [9, 6, 6]
//                                                                                            └─ maxpool3 s1 (4) ┘
//   concat -> flatten -> linear (3)
template <class T>
Graph<T> residual_inception(std::uint64_t seed) {
  Graph<T> net({2, 6, 6});
  auto stem = net.add("stem", conv<T>(2, 4, 3), net.input());
  auto stem_relu = net.add("stem_relu", ReLU<T>{}, stem);
  auto a = net.add("a", conv<T>(4, 4, 3), stem_relu);
  auto a_relu = net.add("a_relu", ReLU<T>{}, a);
  auto b = net.add("b", conv<T>(4, 4, 3), a_relu);
  auto sum = net.add("sum", Add<T>{}, {b, stem_relu});
  auto block = net.add("block", ReLU<T>{}, sum);
  auto one = net.add("one", conv<T>(4, 3, 1), block);
  auto three = net.add("three", conv<T>(4, 2, 3), block);
  auto pool = net.add("pool", Pool2d<T>({.kind = PoolKind::max, .window = 3, .stride = 1, .padding = 1}), block);
  auto joined = net.add("joined", Concat<T>{}, {one, three, pool});
  auto flat = net.add("flat", Flatten<T>{}, joined);
  net.add("classifier", Linear<T>(9 * 6 * 6, 3), flat);
  Rng rng(seed);
  initialize_all(net.params(), {.scheme = InitScheme::he_normal}, rng);
  return net;
}

// The same network computed layer by layer with standalone layers sharing
// the graph's weights: the reference for forward.
Tensor<double, 4> by_hand(Graph<double>& net, const Tensor<double, 4>& x) {
  auto run = [&](const char* name, TensorView<const double, 4> in) { return forward(net.layer(net.node(name)), in); };
  auto stem_relu = run("stem_relu", run("stem", x));
  auto b = run("b", run("a_relu", run("a", stem_relu)));
  Tensor<double, 4> sum(b.shape());
  for (Index i = 0; i < sum.size(); ++i) sum.data()[i] = b.data()[i] + stem_relu.data()[i];
  auto block = run("block", sum);
  auto one = run("one", block), three = run("three", block), pool = run("pool", block);
  Tensor<double, 4> joined({x.dim(0), 9, 6, 6});
  for (Index n = 0; n < x.dim(0); ++n) {
    for (Index c = 0; c < 9; ++c) {
      for (Index h = 0; h < 6; ++h) {
        for (Index w = 0; w < 6; ++w) {
          joined(n, c, h, w) = c < 3 ? one(n, c, h, w) : c < 5 ? three(n, c - 3, h, w) : pool(n, c - 5, h, w);
        }
      }
    }
  }
  return run("classifier", run("flat", joined));
}

// L = sum(output * r) and its finite differences in every parameter and every
// input element, against the graph's backward. Returns the largest relative error.
double graph_gradient_error(Graph<double>& net, const Tensor<double, 4>& x, const Tensor<double, 4>& r) {
  auto loss = [&] {
    auto y = net.forward(x);
    double s = 0;
    for (Index i = 0; i < y.size(); ++i) s += y.data()[i] * r.data()[i];
    return s;
  };
  net.set_input_gradient(true);
  net.zero_grad();
  loss();
  net.backward(r);
  auto relative = [](double a, double b) { return std::abs(a - b) / std::max({std::abs(a), std::abs(b), 1e-3}); };
  double worst = 0;
  const double h = 1e-6;
  for (const auto& p : net.params()) {
    for (Index i = 0; i < p.value.size(); ++i) {
      const double keep = p.value(i);
      p.value(i) = keep + h;
      const double up = loss();
      p.value(i) = keep - h;
      const double down = loss();
      p.value(i) = keep;
      worst = std::max(worst, relative(p.grad(i), (up - down) / (2 * h)));
    }
  }
  Tensor<double, 4> dx(net.input_gradient());
  Tensor<double, 4> probe(x);
  for (Index i = 0; i < probe.size(); ++i) {
    const double keep = probe.data()[i];
    auto at = [&](double v) {
      probe.data()[i] = v;
      auto y = net.forward(probe);
      double s = 0;
      for (Index k = 0; k < y.size(); ++k) s += y.data()[k] * r.data()[k];
      return s;
    };
    const double numeric = (at(keep + h) - at(keep - h)) / (2 * h);
    probe.data()[i] = keep;
    worst = std::max(worst, relative(dx.data()[i], numeric));
  }
  return worst;
}

}  // namespace

TEST_CASE("a graph with a residual block and a concat computes what its layers compute", "[nn][graph]") {
  auto net = residual_inception<double>(5);
  Rng rng(9);
  auto x = Tensor<double, 4>::uniform({3, 2, 6, 6}, rng, -1.0, 1.0);
  Tensor<double, 4> y(net.forward(x));
  auto expected = by_hand(net, x);
  REQUIRE(y.shape() == expected.shape());
  for (Index i = 0; i < y.size(); ++i) CHECK(y.data()[i] == Approx(expected.data()[i]).epsilon(1e-12));
  CHECK(net.output_shape() == SampleShape{3, 1, 1});
  CHECK(net.shape(net.node("joined")) == SampleShape{9, 6, 6});
  CHECK(net.params().front().name == "stem.weight");
}

TEST_CASE("backward through branches matches finite differences", "[nn][graph][gradcheck]") {
  auto net = residual_inception<double>(7);
  Rng rng(11);
  auto x = Tensor<double, 4>::uniform({2, 2, 6, 6}, rng, -1.0, 1.0);
  auto r = Tensor<double, 4>::uniform({2, 3, 1, 1}, rng, -1.0, 1.0);
  CHECK(graph_gradient_error(net, x, r) < 1e-6);
}

TEST_CASE("a tensor read by two nodes receives the sum of both gradients", "[nn][graph]") {
  // y = relu(x') + x' with x' = conv(x): d y / d x' = mask + 1, and Add(x', x') doubles it.
  Graph<double> net({1, 4, 4});
  auto c = net.add("c", conv<double>(1, 2, 3), net.input());
  auto relu = net.add("relu", ReLU<double>{}, c);
  auto twice = net.add("twice", Add<double>{}, {c, c});
  net.add("sum", Add<double>{}, {relu, twice, c});
  Rng rng(2);
  initialize_all(net.params(), {.scheme = InitScheme::he_normal}, rng);
  auto x = Tensor<double, 4>::uniform({2, 1, 4, 4}, rng, -1.0, 1.0);
  auto r = Tensor<double, 4>::uniform({2, 2, 4, 4}, rng, -1.0, 1.0);
  CHECK(graph_gradient_error(net, x, r) < 1e-6);
}

TEST_CASE("several outputs each get their own gradient", "[nn][graph]") {
  Graph<double> net({1, 4, 4});
  auto c = net.add("c", conv<double>(1, 2, 3), net.input());
  auto relu = net.add("relu", ReLU<double>{}, c);
  auto head = net.add("head", Linear<double>(32, 2), net.add("flat", Flatten<double>{}, relu));
  net.set_outputs({head, c});  // c is an output and read by relu: it must keep its own buffer
  CHECK(net.outputs().size() == 2);
  Rng rng(4);
  initialize_all(net.params(), {.scheme = InitScheme::he_normal}, rng);
  auto x = Tensor<double, 4>::uniform({2, 1, 4, 4}, rng, -1.0, 1.0);
  auto r0 = Tensor<double, 4>::uniform({2, 2, 1, 1}, rng, -1.0, 1.0);
  auto r1 = Tensor<double, 4>::uniform({2, 2, 4, 4}, rng, -1.0, 1.0);
  auto loss = [&] {
    net.forward(x);
    double s = 0;
    for (Index i = 0; i < r0.size(); ++i) s += net.output(0).data()[i] * r0.data()[i];
    for (Index i = 0; i < r1.size(); ++i) s += net.output(1).data()[i] * r1.data()[i];
    return s;
  };
  net.zero_grad();
  loss();
  std::vector<TensorView<const double, 4>> dys{r0, r1};
  net.backward(dys);
  const double h = 1e-6;
  for (const auto& p : net.params()) {
    for (Index i = 0; i < p.value.size(); ++i) {
      const double keep = p.value(i);
      p.value(i) = keep + h;
      const double up = loss();
      p.value(i) = keep - h;
      const double down = loss();
      p.value(i) = keep;
      CHECK(p.grad(i) == Approx((up - down) / (2 * h)).epsilon(1e-6).margin(1e-8));
    }
  }
  // An empty gradient: the loss does not depend on that output.
  net.zero_grad();
  loss();
  std::vector<TensorView<const double, 4>> only_first{r0, TensorView<const double, 4>()};
  net.backward(only_first);
  CHECK_THROWS_WITH(net.backward(r0), "Graph::backward: 1 output gradient(s) for 2 output(s)");
}

TEST_CASE("any node's feature maps can be read after forward", "[nn][graph]") {
  auto net = residual_inception<float>(3);
  Rng rng(1);
  auto x = Tensor<float, 4>::uniform({2, 2, 6, 6}, rng, -1.0f, 1.0f);
  CHECK_THROWS_WITH(net.activation("block"), "Graph::activation: called before forward");
  Tensor<float, 4> out(net.forward(x));
  CHECK(net.activation("input").data() == x.data());
  CHECK(net.activation("joined").shape() == Shape<4>{2, 9, 6, 6});
  CHECK(net.activation("flat").shape() == Shape<4>{2, 324, 1, 1});  // a view of joined
  CHECK(net.activation("flat").data() == net.activation("joined").data());
  // The stem applies its ReLU itself and keeps only the ReLU's output ...
  CHECK_THROWS_WITH(net.activation("stem"), Catch::Contains("node 'stem' applied the activation of node 'stem_relu'"));
  Tensor<float, 4> after_relu(net.activation("stem_relu"));
  // ... which reads exactly as without fusion, where the stem's own output is kept.
  net.set_fusion(false);
  Tensor<float, 4> unfused(net.forward(x));
  CHECK(unfused.array().isApprox(out.array(), 0));
  CHECK(Tensor<float, 4>(net.activation("stem_relu")).array().isApprox(after_relu.array(), 0));
  auto stem = net.activation("stem");
  for (Index i = 0; i < stem.size(); ++i) CHECK(after_relu.data()[i] == std::max(stem.data()[i], 0.0f));
  CHECK_THROWS_WITH(net.activation("nothing"), "Graph: no node named 'nothing' (13 nodes)");
}

TEST_CASE("fused and unfused passes give the same bits, forward and backward", "[nn][graph]") {
  auto net = residual_inception<float>(8);
  Rng rng(6);
  auto x = Tensor<float, 4>::uniform({4, 2, 6, 6}, rng, -1.0f, 1.0f);
  auto r = Tensor<float, 4>::uniform({4, 3, 1, 1}, rng, -1.0f, 1.0f);
  auto gradients = [&](bool fuse) {
    net.set_fusion(fuse);
    net.zero_grad();
    net.forward(x);
    net.backward(r);
    std::vector<float> all;
    for (const auto& p : net.params()) all.insert(all.end(), p.grad.begin(), p.grad.end());
    return all;
  };
  CHECK(gradients(true) == gradients(false));
}

TEST_CASE("a ResNet's BatchNorm-then-ReLU pairs fused and apart give the same bits", "[nn][graph]") {
  auto net = fovea::models::resnet8<float>({.classes = 10, .in_channels = 1, .seed = 3});
  Rng rng(7);
  auto x = Tensor<float, 4>::uniform({4, 1, 28, 28}, rng, -1.0f, 1.0f);
  auto r = Tensor<float, 4>::uniform({4, 10, 1, 1}, rng, -1.0f, 1.0f);
  const auto run = [&](bool fuse) {
    net.set_fusion(fuse);
    net.zero_grad();
    Tensor<float, 4> y(net.forward(x));
    net.backward(r);
    std::vector<float> all(y.begin(), y.end());
    for (const auto& p : net.params()) all.insert(all.end(), p.grad.begin(), p.grad.end());
    return all;
  };
  const std::vector<float> fused = run(true);
  CHECK(fused == run(false));
}

// A network built twice (a fresh one each time, so that its Dropout draws the
// same mask), run forward and backward with fusion on and off: the output and
// every parameter gradient of each run, and, with fusion on, how many
// `producer` nodes applied the `activation` node right after them (they kept
// no output of their own).
struct FusedAndApart {
  std::vector<float> fused, apart;
  int applied = 0;
};
template <class Build>
FusedAndApart run_fused_and_apart(Build&& build, const Tensor<float, 4>& x, const Tensor<float, 4>& r,
                                  const std::string& producer, const std::string& activation) {
  FusedAndApart result;
  for (const bool fuse : {true, false}) {
    auto net = build();
    net.set_fusion(fuse);
    Tensor<float, 4> y(net.forward(x));
    net.backward(r);
    std::vector<float>& all = fuse ? result.fused : result.apart;
    all.assign(y.begin(), y.end());
    for (const auto& p : net.params()) all.insert(all.end(), p.grad.begin(), p.grad.end());
    for (std::size_t i = 0; fuse && i + 1 < net.size(); ++i) {
      if (net.layer(i).spec().type != producer || net.layer(i + 1).spec().type != activation) continue;
      try {
        net.activation(Node{static_cast<Index>(i + 1)});
      } catch (const fovea::state_error&) {
        ++result.applied;
      }
    }
  }
  return result;
}

// How many values differ, and where the first does (both runs must give as many).
std::size_t count_differences(const FusedAndApart& run) {
  REQUIRE(run.fused.size() == run.apart.size());
  std::size_t differ = 0, first = run.fused.size();
  for (std::size_t i = 0; i < run.fused.size(); ++i) {
    if (run.fused[i] != run.apart[i] && differ++ == 0) first = i;
  }
  INFO("first difference at " << first << " of " << run.fused.size());
  return differ;
}

TEST_CASE("a MobileNetV2's BatchNorm-then-ReLU6 pairs are fused and give the bits they give apart", "[nn][graph]") {
  Rng rng(8);
  auto x = Tensor<float, 4>::uniform({2, 3, 32, 32}, rng, -1.0f, 1.0f);
  auto r = Tensor<float, 4>::uniform({2, 10, 1, 1}, rng, -1.0f, 1.0f);
  const FusedAndApart run = run_fused_and_apart(
      [] { return fovea::models::mobilenet_v2<float>({.classes = 10, .height = 32, .width = 32, .seed = 3}); }, x, r,
      "BatchNorm", "ReLU6");
  CHECK(run.applied == 35);  // every BatchNorm of the network, each followed by a ReLU6
  CHECK(count_differences(run) == 0);
}

TEST_CASE("a folded MobileNetV2's Conv2d-then-ReLU6 pairs are fused and give the bits they give apart", "[nn][graph]") {
  Rng rng(9);
  auto x = Tensor<float, 4>::uniform({2, 3, 32, 32}, rng, -1.0f, 1.0f);
  auto r = Tensor<float, 4>::uniform({2, 10, 1, 1}, rng, -1.0f, 1.0f);
  const FusedAndApart run = run_fused_and_apart(
      [] {
        auto trained = fovea::models::mobilenet_v2<float>({.classes = 10, .height = 32, .width = 32, .seed = 4});
        trained.set_training(false);
        auto net = fovea::fold_batch_norm(trained);  // each convolution then reads straight into its ReLU6
        net.set_training(false);                     // Dropout passes everything
        return net;
      },
      x, r, "Conv2d", "ReLU6");
  CHECK(run.applied == 35);
  CHECK(count_differences(run) == 0);
}

TEST_CASE("a ResNet's Add-then-ReLU pairs are fused and give the bits they give apart", "[nn][graph]") {
  Rng rng(10);
  auto x = Tensor<float, 4>::uniform({4, 1, 28, 28}, rng, -1.0f, 1.0f);
  auto r = Tensor<float, 4>::uniform({4, 10, 1, 1}, rng, -1.0f, 1.0f);
  const FusedAndApart run = run_fused_and_apart(
      [] { return fovea::models::resnet8<float>({.classes = 10, .in_channels = 1, .seed = 5}); }, x, r, "Add", "ReLU");
  CHECK(run.applied == 3);  // each residual block's sum applies the ReLU after it
  CHECK(count_differences(run) == 0);
}

// How many values of `got` differ from `want` by more than float rounding.
Index count_not_close(const Tensor<float, 4>& got, const Tensor<float, 4>& want) {
  Index differ = 0;
  for (Index i = 0; i < want.size(); ++i) {
    if (std::abs(got.data()[i] - want.data()[i]) > 1e-6f + 1e-5f * std::abs(want.data()[i])) ++differ;
  }
  return differ;
}

TEST_CASE("infer runs a large batch of a small network in pieces, with the answers of the whole batch", "[nn][graph]") {
  // ResNet-8 on 28x28 images: 0.3 MB of weights and about 150 KB of pooled
  // activations per image, so a batch of 40 runs in pieces of a few images.
  auto net = fovea::models::resnet8<float>({.classes = 10, .in_channels = 1, .seed = 11});
  net.set_training(false);
  Rng rng(12);
  auto x = Tensor<float, 4>::uniform({40, 1, 28, 28}, rng, -1.0f, 1.0f);
  net.infer(x.view().slice(0, 1));  // plans the pool that sets the piece size
  const Index piece = net.infer_piece(40);
  INFO("piece " << piece);
  REQUIRE(piece > 1);
  REQUIRE(piece < 40);
  CHECK(40 % piece != 0);                  // a shorter last piece too
  CHECK(net.infer_piece(piece) == piece);  // a batch that fits runs whole
  // Every sample in one pass, no pieces. The pieces' products are shorter (the
  // classifier's GEMM has 6 rows instead of 40), so Eigen's kernel may round
  // a few values in another order: the same answers within float rounding,
  // and the same bits on any thread count (the pieces do not depend on it).
  const Tensor<float, 4> whole(net.forward(x));
  std::vector<Tensor<float, 4>> by_threads;
  for (const int threads : {1, 2}) {
    INFO(threads << " threads");
    fovea::set_threads(threads);
    const Tensor<float, 4> pieces(net.infer(x));
    REQUIRE(pieces.shape() == whole.shape());
    CHECK(count_not_close(pieces, whole) == 0);
    CHECK((Tensor<float, 4>(net.output(0)).array() == pieces.array()).all());
    by_threads.push_back(pieces);
  }
  fovea::set_threads(static_cast<int>(std::max(1U, std::thread::hardware_concurrency())));
  CHECK((by_threads[0].array() == by_threads[1].array()).all());

  // Every output is gathered, a convolution's maps as well as the head's.
  Graph<float> two({1, 4, 4});
  auto c = two.add("c", conv<float>(1, 2, 3), two.input());
  auto head =
      two.add("head", Linear<float>(32, 3), two.add("flat", Flatten<float>{}, two.add("relu", ReLU<float>{}, c)));
  two.set_outputs({head, c});
  initialize_all(two.params(), {.scheme = InitScheme::he_normal}, rng);
  // About 100 bytes of activations per sample: pieces of about 10,000.
  auto many = Tensor<float, 4>::uniform({25000, 1, 4, 4}, rng, -1.0f, 1.0f);
  two.infer(many.view().slice(0, 1));
  REQUIRE(two.infer_piece(25000) < 25000);
  const Tensor<float, 4> head_whole(two.forward(many)), maps_whole(two.output(1));
  const Tensor<float, 4> head_pieces(two.infer(many)), maps_pieces(two.output(1));
  REQUIRE(head_pieces.shape() == head_whole.shape());
  REQUIRE(maps_pieces.shape() == maps_whole.shape());
  CHECK(count_not_close(head_pieces, head_whole) == 0);
  CHECK((maps_pieces.array() == maps_whole.array()).all());     // a convolution per sample: the same bits
  CHECK_THROWS_AS(two.activation("relu"), fovea::state_error);  // infer keeps no inner activations
}

TEST_CASE("a promise of constant weights keeps them packed and gives the answers of the weights", "[nn][graph]") {
  // A convolution on each forward path that keeps something made from the
  // weights: vector (8 channels), Winograd (72 channels at 10x10), pointwise
  // (1x1) and im2col (stride 2, two groups).
  Graph<float> net({8, 10, 10});
  auto a =
      net.add("vector", Conv2d<float>({.in_channels = 8, .out_channels = 72, .kernel = 3, .padding = 1}), net.input());
  auto b = net.add("winograd", Conv2d<float>({.in_channels = 72, .out_channels = 64, .kernel = 3, .padding = 1}), a);
  auto c = net.add("pointwise", Conv2d<float>({.in_channels = 64, .out_channels = 80, .kernel = 1}),
                   net.add("relu", ReLU<float>{}, b));
  net.add("im2col",
          Conv2d<float>({.in_channels = 80, .out_channels = 96, .kernel = 3, .stride = 2, .padding = 1, .groups = 2}),
          c);
  Rng rng(13);
  initialize_all(net.params(), {.scheme = InitScheme::he_normal}, rng);
  net.set_training(false);
  for (const Index batch : {Index{1}, Index{3}}) {  // one image shared by the threads, and a batch split by samples
    INFO("batch " << batch);
    auto x = Tensor<float, 4>::uniform({batch, 8, 10, 10}, rng, -1.0f, 1.0f);
    net.set_constant_weights(false);
    const Tensor<float, 4> checked(net.infer(x));
    net.set_constant_weights(true);
    const Tensor<float, 4> first(net.infer(x)), again(net.infer(x));
    CHECK(count_not_close(first, checked) == 0);
    CHECK((again.array() == first.array()).all());
    // New weights under a new promise: the packed copies are made again.
    for (const auto& p : net.params()) {
      for (float& v : p.value) v = -v;
    }
    net.set_constant_weights(false);
    const Tensor<float, 4> negated(net.infer(x));
    net.set_constant_weights(true);
    CHECK(count_not_close(Tensor<float, 4>(net.infer(x)), negated) == 0);
    for (const auto& p : net.params()) {
      for (float& v : p.value) v = -v;
    }
    net.set_constant_weights(true);
    CHECK(count_not_close(Tensor<float, 4>(net.infer(x)), checked) == 0);
    // Training would change the weights: refused while the promise holds.
    net.set_training(true);
    CHECK_THROWS_WITH(net.forward(x), Catch::Contains("promised constant"));
    net.set_training(false);
  }
  CHECK(net.constant_weights());
  net.set_constant_weights(false);
  CHECK_FALSE(net.constant_weights());
}

TEST_CASE("the backward hook reports each node once its parameter gradients are final", "[nn][graph]") {
  auto net = residual_inception<float>(8);
  Rng rng(6);
  auto x = Tensor<float, 4>::uniform({4, 2, 6, 6}, rng, -1.0f, 1.0f);
  auto r = Tensor<float, 4>::uniform({4, 3, 1, 1}, rng, -1.0f, 1.0f);
  std::vector<std::size_t> order;
  std::vector<std::vector<float>> at_report(net.size());
  net.set_backward_hook([&](std::size_t i) {
    order.push_back(i);
    for (const auto& p : net.layer(i).params()) at_report[i].insert(at_report[i].end(), p.grad.begin(), p.grad.end());
  });
  net.zero_grad();
  net.forward(x);
  net.backward(r);
  // Last node first; "flat" (11) only reshapes; a convolution or sum that
  // applies its ReLU is reported with it, itself first (5 and 6, 2 and 3, 0 and 1).
  CHECK(order == std::vector<std::size_t>{12, 10, 9, 8, 7, 5, 6, 4, 2, 3, 0, 1});
  for (std::size_t i = 0; i < net.size(); ++i) {
    std::vector<float> final_gradients;
    for (const auto& p : net.layer(i).params())
      final_gradients.insert(final_gradients.end(), p.grad.begin(), p.grad.end());
    CHECK(at_report[i] == final_gradients);
  }
  net.set_backward_hook({});
  order.clear();
  net.forward(x);
  net.backward(r);
  CHECK(order.empty());
}

TEST_CASE("building a graph checks names, inputs and shapes, naming both nodes", "[nn][graph]") {
  Graph<float> net({3, 8, 8});
  auto a = net.add("a", conv<float>(3, 4, 3), net.input());
  auto b = net.add("b", conv<float>(4, 8, 3, 2), a);
  CHECK_THROWS_WITH(net.add("sum", Add<float>{}, {a, b}),
                    "node 'sum' with inputs 'a' [4, 8, 8], 'b' [8, 4, 4]: Add: input 1 [8, 4, 4] differs from "
                    "input 0 [4, 8, 8]");
  CHECK_THROWS_WITH(net.add("cat", Concat<float>{}, {a, b}),
                    "node 'cat' with inputs 'a' [4, 8, 8], 'b' [8, 4, 4]: Concat: input 1 [8, 4, 4] differs in "
                    "height or width from input 0 [4, 8, 8]");
  CHECK_THROWS_WITH(net.add("c", conv<float>(3, 4, 3), b),
                    Catch::StartsWith("node 'c' with input 'b' [8, 4, 4]: Conv2d(3->4"));
  CHECK_THROWS_WITH(net.add("two", conv<float>(4, 4, 3), {a, a}), Catch::Contains("takes one input, got 2"));
  CHECK_THROWS_WITH(net.add("a", ReLU<float>{}, a), "Graph::add: a node named 'a' exists already");
  CHECK_THROWS_WITH(net.add("input", ReLU<float>{}, a), "Graph::add: a node named 'input' exists already");
  CHECK_THROWS_WITH(net.add("", ReLU<float>{}, a), "Graph::add: a node needs a name");
  CHECK_THROWS_WITH(net.add("far", ReLU<float>{}, Node{7}),
                    Catch::Contains("reads tensor 7, which is not in this Graph"));
  CHECK_THROWS_WITH(net.add("none", Add<float>{}, std::vector<Node>{}), "Graph::add: node 'none' has no input");
  CHECK_THROWS_WITH(net.set_outputs({net.input()}), "Graph::set_outputs: tensor 0 is the input");
  CHECK(net.size() == 2);  // nothing failed was added
  CHECK_THROWS_AS(Graph<float>({0, 8, 8}), shape_error);
  Graph<float> empty({1, 2, 2});
  CHECK_THROWS_WITH(empty.forward(Tensor<float, 4>({1, 1, 2, 2})), "Graph::forward: the network has no layers");
  CHECK_THROWS_WITH(net.backward(Tensor<float, 4>({1, 8, 4, 4})), "Graph::backward: called before forward");
  CHECK_THROWS_WITH(net.input_gradient(), Catch::Contains("set_input_gradient(true)"));
}

TEST_CASE("summary lists branches with their inputs", "[nn][graph]") {
  auto net = residual_inception<float>(1);
  const std::string text = net.summary(8);
  CHECK(text.find("Inputs") != std::string::npos);
  CHECK(text.find("sum Add") != std::string::npos);
  CHECK(text.find("b, stem_relu") != std::string::npos);
  CHECK(text.find("one, three, pool") != std::string::npos);
  // 2*4*9+4 + 2*(4*4*9+4) + 4*3+3 + 4*2*9+2 + 324*3+3
  CHECK(text.find("Total parameters: 1,436") != std::string::npos);
  CHECK(net.parameter_count() == 1436);
  // A chain has no Inputs column.
  Sequential<float> chain({1, 4, 4});
  chain.emplace<ReLU<float>>();
  CHECK(chain.summary().find("Inputs") == std::string::npos);
}

TEST_CASE("a Sequential is a graph whose layers are nodes named by their index", "[nn][graph]") {
  Sequential<float> net({1, 4, 4});
  net.emplace<Conv2d<float>>(Conv2dOptions{.in_channels = 1, .out_channels = 2, .kernel = 3, .padding = 1});
  net.emplace<ReLU<float>>();
  Graph<float>& graph = net;
  CHECK(graph.name(graph.outputs().front()) == "1");
  CHECK(net.params().front().name == "0.weight");
  // Graph nodes can extend it: a residual over the chain.
  auto sum = graph.add("sum", Add<float>{}, {graph.node("1"), graph.node("0")});
  graph.set_outputs({sum});
  Tensor<float, 4> x({1, 1, 4, 4});
  x.fill(1.0f);
  CHECK(net.forward(x).shape() == Shape<4>{1, 2, 4, 4});
}

TEST_CASE("infer reuses activation memory along the graph and matches forward", "[nn][graph]") {
  auto net = residual_inception<float>(12);
  Rng rng(13);
  auto x = Tensor<float, 4>::uniform({3, 2, 6, 6}, rng, -1.0f, 1.0f);
  net.set_training(false);
  Tensor<float, 4> kept(net.forward(x));
  net.set_training(true);
  Tensor<float, 4> pooled(net.infer(x));
  CHECK(pooled.array().isApprox(kept.array(), 0));
  CHECK(net.training());
  CHECK_THROWS_WITH(net.activation("block"), Catch::Contains("infer and predict keep no inner activations"));
  CHECK_THROWS_WITH(net.backward(Tensor<float, 4>({3, 3, 1, 1})), "Graph::backward: called before forward");
  CHECK(Tensor<float, 4>(net.output(0)).array().isApprox(kept.array(), 0));
  // A second call (same shapes) reuses the same buffers.
  const Index bytes = net.inference_bytes();
  net.infer(x);
  CHECK(net.inference_bytes() == bytes);

  // A deep chain: every node's memory is handed on once its reader has run, so
  // infer holds two activations' worth whatever the depth.
  Sequential<float> deep({4, 16, 16});
  for (int i = 0; i < 20; ++i) {
    deep.emplace<Conv2d<float>>(Conv2dOptions{.in_channels = 4, .out_channels = 4, .kernel = 3, .padding = 1});
    deep.emplace<Tanh<float>>();
  }
  Rng init(2);
  initialize_all(deep.params(), {.scheme = InitScheme::he_normal}, init);
  auto image = Tensor<float, 4>::uniform({2, 4, 16, 16}, rng, -1.0f, 1.0f);
  Tensor<float, 4> all(deep.forward(image));
  Tensor<float, 4> reused(deep.infer(image));
  CHECK(reused.array().isApprox(all.array(), 0));
  const Index one = 2 * 4 * 16 * 16 * static_cast<Index>(sizeof(float));
  CHECK(deep.inference_bytes() == 2 * one);
}

TEST_CASE("summary gives each node's multiply-adds and memory, with totals", "[nn][graph]") {
  auto net = residual_inception<float>(1);
  const std::string text = net.summary(1);
  // stem: 4 channels x 36 positions x 2*9 multiply-adds -> 2,592 MACs ...
  CHECK(text.find("2,592") != std::string::npos);
  CHECK(text.find("576 B") != std::string::npos);  // ... and a [4, 6, 6] float output
  CHECK(text.find("view") != std::string::npos);   // the Flatten
  CHECK(text.find("Multiply-adds per image:") != std::string::npos);
  CHECK(text.find("Activation memory per image:") != std::string::npos);
}

namespace {
// A private folder for the model files of one test, removed afterwards.
struct ScratchFolder {
  std::filesystem::path path =
      std::filesystem::temp_directory_path() /
      ("fovea-graph-" + std::to_string(std::hash<std::string>{}(Catch::getResultCapture().getCurrentTestName())));
  ScratchFolder() { std::filesystem::create_directories(path); }
  ~ScratchFolder() {
    std::error_code ignored;
    std::filesystem::remove_all(path, ignored);
  }
};

std::uint32_t file_version(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  unsigned char bytes[12] = {};
  in.read(reinterpret_cast<char*>(bytes), 12);
  return bytes[8] | bytes[9] << 8 | bytes[10] << 16 | static_cast<std::uint32_t>(bytes[11]) << 24;
}
}  // namespace

TEST_CASE("a graph round-trips through a model file with its names, inputs and outputs", "[nn][graph][io]") {
  ScratchFolder folder;
  auto net = residual_inception<float>(21);
  Rng rng(4);
  auto x = Tensor<float, 4>::uniform({2, 2, 6, 6}, rng, -1.0f, 1.0f);
  Tensor<float, 4> expected(net.forward(x));
  const auto path = folder.path / "graph.fovea";
  save(net, path);
  CHECK(file_version(path) == 3);

  Graph<float> loaded = load_graph<float>(path);
  CHECK(loaded.size() == net.size());
  CHECK(loaded.inputs(loaded.node("joined")) ==
        std::vector<Node>{loaded.node("one"), loaded.node("three"), loaded.node("pool")});
  CHECK(Tensor<float, 4>(loaded.forward(x)).array().isApprox(expected.array(), 0));
  CHECK(loaded.params()[0].name == "stem.weight");

  // Into a network built the same way with other weights: the file's weights.
  auto other = residual_inception<float>(22);
  CHECK(!Tensor<float, 4>(other.forward(x)).array().isApprox(expected.array()));
  load_into(other, path);
  CHECK(Tensor<float, 4>(other.forward(x)).array().isApprox(expected.array(), 0));

  // A Sequential cannot hold it; a network wired differently does not match.
  CHECK_THROWS_WITH(load<float>(path), Catch::Contains("holds a graph network, not a chain of layers; load it with "
                                                       "load_graph"));
  Graph<float> rewired({2, 6, 6});
  {
    auto stem = rewired.add("stem", conv<float>(2, 4, 3), rewired.input());
    auto stem_relu = rewired.add("stem_relu", ReLU<float>{}, stem);
    auto a = rewired.add("a", conv<float>(4, 4, 3), stem_relu);
    auto a_relu = rewired.add("a_relu", ReLU<float>{}, a);
    auto b = rewired.add("b", conv<float>(4, 4, 3), a_relu);
    auto sum = rewired.add("sum", Add<float>{}, {b, a_relu});  // not stem_relu
    auto block = rewired.add("block", ReLU<float>{}, sum);
    auto one = rewired.add("one", conv<float>(4, 3, 1), block);
    auto three = rewired.add("three", conv<float>(4, 2, 3), block);
    auto pool =
        rewired.add("pool", Pool2d<float>({.kind = PoolKind::max, .window = 3, .stride = 1, .padding = 1}), block);
    auto joined = rewired.add("joined", Concat<float>{}, {one, three, pool});
    auto flat = rewired.add("flat", Flatten<float>{}, joined);
    rewired.add("classifier", Linear<float>(9 * 6 * 6, 3), flat);
  }
  CHECK_THROWS_WITH(load_into(rewired, path),
                    Catch::Contains("node 5 is 'sum' reading [5, 2] in the file but 'sum' reading [5, 4]"));

  // A Sequential is still written as a chain (version 1, as before graphs) and loads both ways.
  Sequential<float> chain({1, 4, 4});
  chain.emplace<Conv2d<float>>(Conv2dOptions{.in_channels = 1, .out_channels = 2, .kernel = 3});
  chain.emplace<ReLU<float>>();
  save(chain, folder.path / "chain.fovea");
  CHECK(file_version(folder.path / "chain.fovea") == 1);
  CHECK(load<float>(folder.path / "chain.fovea").size() == 2);
  CHECK(load_graph<float>(folder.path / "chain.fovea").name(Node{2}) == "1");
}

TEST_CASE("a graph with batch norm keeps its running statistics in the file", "[nn][graph][io]") {
  ScratchFolder folder;
  Graph<double> net({2, 4, 4});
  auto c = net.add("c", conv<double>(2, 3, 3), net.input());
  auto bn = net.add("bn", BatchNorm<double>({.channels = 3}), c);
  net.add("sum", Add<double>{}, {bn, c});
  Rng rng(6);
  initialize_all(net.params(), {.scheme = InitScheme::he_normal}, rng);
  auto x = Tensor<double, 4>::uniform({4, 2, 4, 4}, rng, -1.0, 1.0);
  for (int i = 0; i < 3; ++i) net.forward(x);  // training mode: the running statistics move
  net.set_training(false);
  Tensor<double, 4> expected(net.forward(x));
  save(net, folder.path / "bn.fovea");
  Graph<double> loaded = load_graph<double>(folder.path / "bn.fovea");
  loaded.set_training(false);
  CHECK(Tensor<double, 4>(loaded.forward(x)).array().isApprox(expected.array(), 0));
}

TEST_CASE("a corrupt graph section is refused, naming the node", "[nn][graph][io]") {
  ScratchFolder folder;
  auto net = residual_inception<float>(2);
  save(net, folder.path / "graph.fovea");
  std::ifstream in(folder.path / "graph.fovea", std::ios::binary);
  const std::vector<std::uint8_t> good((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // The node record of "sum": u32 length 3, "sum", u32 2 inputs, u32 5, u32 2.
  const std::string needle = "sum";
  auto at = std::search(good.begin(), good.end(), needle.begin(), needle.end());
  REQUIRE(at != good.end());
  const auto name = static_cast<std::size_t>(at - good.begin());
  auto corrupt = [&](std::size_t offset, const std::vector<std::uint8_t>& bytes) {
    auto changed = good;
    std::copy(bytes.begin(), bytes.end(), changed.begin() + static_cast<std::ptrdiff_t>(offset));
    const std::uint32_t crc = detail::crc32(std::span(changed.data(), changed.size() - 4));
    for (std::size_t i = 0; i < 4; ++i) changed[changed.size() - 4 + i] = static_cast<std::uint8_t>(crc >> (8 * i));
    std::ofstream(folder.path / "bad.fovea", std::ios::binary)
        .write(reinterpret_cast<const char*>(changed.data()), static_cast<std::streamsize>(changed.size()));
    return folder.path / "bad.fovea";
  };
  CHECK_THROWS_WITH(load_graph<float>(corrupt(name + 7, {9})),
                    Catch::Contains("node 'sum' reads tensor 9, which is not made before it (corrupt file)"));
  CHECK_THROWS_WITH(load_graph<float>(corrupt(name + 3, {0, 0, 0, 0})),
                    Catch::Contains("node 'sum' reads 0 tensors (corrupt file)"));
  const std::string one = "one";
  const auto one_at =
      static_cast<std::size_t>(std::search(good.begin(), good.end(), one.begin(), one.end()) - good.begin());
  CHECK_THROWS_WITH(load_graph<float>(corrupt(one_at, {'s', 'u', 'm'})),
                    Catch::Contains("node 7 has the name 'sum' of an earlier node (corrupt file)"));
  auto unchanged = residual_inception<float>(3);
  const std::vector<float> before(unchanged.params()[0].value.begin(), unchanged.params()[0].value.end());
  CHECK_THROWS_AS(load_into(unchanged, corrupt(name + 7, {9})), format_error);
  CHECK(std::vector<float>(unchanged.params()[0].value.begin(), unchanged.params()[0].value.end()) == before);
}

namespace {

// A residual network with batch norm and dropout, trained a few steps so its
// running statistics and weights are not the initial ones.
Graph<float> trained_residual_net() {
  Graph<float> net({3, 12, 12});
  auto stem = net.add("stem", conv<float>(3, 8, 3), net.input());
  auto stem_bn = net.add("stem_bn", BatchNorm<float>({.channels = 8}), stem);
  auto stem_relu = net.add("stem_relu", ReLU<float>{}, stem_bn);
  auto a = net.add("a", conv<float>(8, 8, 3), stem_relu);
  auto a_relu = net.add("a_relu", ReLU<float>{}, a);
  auto sum = net.add("sum", Add<float>{}, {a_relu, stem_relu});
  auto pool = net.add("pool", Pool2d<float>({.kind = PoolKind::max, .window = 2, .stride = 2}), sum);
  auto drop = net.add("drop", Dropout<float>(0.3, 7), pool);
  auto flat = net.add("flat", Flatten<float>{}, drop);
  net.add("classifier", Linear<float>(8 * 6 * 6, 5), flat);
  Rng rng(11);
  initialize_all(net.params(), {.scheme = InitScheme::he_normal}, rng);
  Tensor<float, 4> x({6, 3, 12, 12});
  Rng data(3);
  for (Index i = 0; i < x.size(); ++i) x.data()[i] = static_cast<float>(data.uniform(-1, 1));
  Tensor<float, 4> dy({6, 5, 1, 1});
  for (Index i = 0; i < dy.size(); ++i) dy.data()[i] = static_cast<float>(data.uniform(-1, 1));
  for (int step = 0; step < 3; ++step) {
    net.zero_grad();
    net.forward(x);
    net.backward(dy);
    for (const auto& p : net.params()) p.value.array() -= 0.01f * p.grad.array();
  }
  // Smaller logits: probabilities far from 0 and 1, where every bit shows.
  net.layer(net.node("classifier")).params()[0].value.array() *= 0.02f;
  return net;
}

}  // namespace

TEST_CASE("predict from 8 threads on one shared network gives every thread the right answer", "[nn][graph][threads]") {
  const Graph<float> net = trained_residual_net();
  constexpr int threads = 8;
  std::vector<Tensor<float, 4>> inputs;
  std::vector<Tensor<float, 2>> expected;
  Rng rng(5);
  for (int t = 0; t < threads; ++t) {
    // Each thread its own batch size, so a shared buffer would show.
    Tensor<float, 4> x({1 + t % 3, 3, 12, 12});
    for (Index i = 0; i < x.size(); ++i) x.data()[i] = static_cast<float>(rng.uniform(-1, 1));
    expected.push_back(net.predict(x));
    inputs.push_back(std::move(x));
  }
  // The answers do differ between inputs and are not saturated (a network
  // answering a constant would pass trivially).
  CHECK(expected[0](0, 0) != expected[1](0, 0));
  CHECK(expected[0](0, 0) < 0.99f);
  std::vector<int> wrong(threads, 0);
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      for (int round = 0; round < 40; ++round) {
        const Tensor<float, 2> got = net.predict(inputs[static_cast<std::size_t>(t)]);
        const Tensor<float, 2>& want = expected[static_cast<std::size_t>(t)];
        if (got.shape() != want.shape() ||
            !std::equal(got.data(), got.data() + got.size(), want.data(), want.data() + want.size())) {
          ++wrong[static_cast<std::size_t>(t)];
        }
      }
    });
  }
  for (auto& thread : pool) thread.join();
  for (int t = 0; t < threads; ++t) CHECK(wrong[static_cast<std::size_t>(t)] == 0);
}

TEST_CASE("infer in caller-owned contexts matches the network's own, from several threads", "[nn][graph][threads]") {
  Graph<float> net = trained_residual_net();
  Tensor<float, 4> x({4, 3, 12, 12});
  Rng rng(8);
  for (Index i = 0; i < x.size(); ++i) x.data()[i] = static_cast<float>(rng.uniform(-1, 1));
  const Tensor<float, 4> want(net.infer(x));
  const Graph<float>& shared = net;
  std::vector<ExecutionContext<float>> contexts(4);
  std::vector<int> same(4, 0);
  std::vector<std::thread> pool;
  for (std::size_t t = 0; t < contexts.size(); ++t) {
    pool.emplace_back([&, t] {
      for (int round = 0; round < 20; ++round) {
        const auto y = shared.infer(x, contexts[t]);
        same[t] += std::equal(y.data(), y.data() + y.size(), want.data()) ? 1 : 0;
      }
    });
  }
  for (auto& thread : pool) thread.join();
  for (int s : same) CHECK(s == 20);
}

TEST_CASE("forward and backward in a context with its own gradients equal the network's own pass", "[nn][graph]") {
  Graph<double> net = residual_inception<double>(21);
  Tensor<double, 4> x({3, 2, 6, 6});
  Tensor<double, 4> r({3, 3, 1, 1});
  Rng rng(4);
  for (Index i = 0; i < x.size(); ++i) x.data()[i] = rng.uniform(-1, 1);
  for (Index i = 0; i < r.size(); ++i) r.data()[i] = rng.uniform(-1, 1);
  net.zero_grad();
  const Tensor<double, 4> y(net.forward(x));
  net.backward(r);

  // Another context, interleaved with a pass of the network's own on other
  // data: neither disturbs the other.
  ExecutionContext<double> lane(ExecutionContext<double>::Gradients::own);
  CHECK_THROWS_AS(lane.gradient(0), state_error);
  const auto lane_y = net.forward(x, lane);
  Tensor<double, 4> other(x.shape());
  other.fill(0.5);
  net.forward(other);
  CHECK(std::equal(lane_y.data(), lane_y.data() + lane_y.size(), y.data()));
  net.backward(r, lane);
  for (std::size_t j = 0; j < net.params().size(); ++j) {
    const auto mine = lane.gradient(j);
    const auto own = net.params()[j].grad;
    REQUIRE(mine.size() == own.size());
    for (Index i = 0; i < own.size(); ++i) REQUIRE(mine(i) == own(i));
  }
  // A context made for another structure refits itself.
  net.add("extra", ReLU<double>{}, net.node("classifier"));
  CHECK(net.forward(x, lane).shape() == Shape<4>{3, 3, 1, 1});
  // Backward in a fresh context before its forward is refused.
  ExecutionContext<double> fresh;
  CHECK_THROWS_AS(net.backward(r, fresh), state_error);
}

TEST_CASE("set_input_shape runs a network with global pooling on images of another size", "[nn][graph]") {
  Graph<double> net({2, 8, 8});
  auto c = net.add("conv", conv<double>(2, 4, 3), net.input());
  auto r = net.add("relu", ReLU<double>{}, c);
  auto g = net.add("gap", GlobalPool2d<double>(PoolKind::average), r);
  auto flat = net.add("flat", Flatten<double>{}, g);
  net.add("fc", Linear<double>(4, 3), flat);
  Rng rng(6);
  initialize_all(net.params(), {.scheme = InitScheme::he_normal}, rng);
  Tensor<double, 4> x({2, 2, 11, 7});
  for (Index i = 0; i < x.size(); ++i) x.data()[i] = rng.uniform(-1, 1);
  CHECK_THROWS_AS(net.infer(x), shape_error);
  net.set_input_shape({2, 11, 7});
  CHECK(net.input_shape() == SampleShape{2, 11, 7});
  CHECK(net.shape(c) == SampleShape{4, 11, 7});
  const Tensor<double, 4> y(net.infer(x));
  CHECK(y.shape() == Shape<4>{2, 3, 1, 1});
  // The same as the layers computed one by one at that size.
  auto maps = forward(net.layer(r), forward(net.layer(c), x));
  auto by_layers = forward(net.layer(net.node("fc")), forward(net.layer(flat), forward(net.layer(g), maps)));
  for (Index i = 0; i < y.size(); ++i) CHECK(y.data()[i] == Approx(by_layers.data()[i]).epsilon(1e-14));
  // Training works at the new size too.
  net.zero_grad();
  net.forward(x);
  Tensor<double, 4> dy({2, 3, 1, 1});
  dy.fill(1.0);
  CHECK_NOTHROW(net.backward(dy));
}

TEST_CASE("set_input_shape refuses a size a node cannot take and leaves the network as it was", "[nn][graph]") {
  Graph<float> net({1, 6, 6});
  auto c = net.add("conv", conv<float>(1, 2, 3), net.input());
  auto flat = net.add("flat", Flatten<float>{}, c);
  net.add("fc", Linear<float>(2 * 6 * 6, 4), flat);
  CHECK_THROWS_WITH(net.set_input_shape({1, 8, 8}), Catch::Contains("node 'fc'") && Catch::Contains("'flat' [128") &&
                                                        Catch::Contains("set_input_shape([1, 8, 8])"));
  CHECK_THROWS_WITH(net.set_input_shape({1, 0, 8}), Catch::Contains("must be positive"));
  CHECK(net.input_shape() == SampleShape{1, 6, 6});
  CHECK(net.shape(flat) == SampleShape{72, 1, 1});
  Tensor<float, 4> x({1, 1, 6, 6});
  x.fill(0.5f);
  CHECK(net.infer(x).shape() == Shape<4>{1, 4, 1, 1});
}

TEST_CASE("summary counts each node's own parameters, whatever the names", "[nn][graph]") {
  Graph<float> net({1, 4, 4});
  auto c = net.add("block.conv", conv<float>(1, 2, 3), net.input());
  net.add("block", ReLU<float>{}, c);  // a prefix of the convolution's name
  std::istringstream rows(net.summary());
  std::string row;
  int seen = 0;
  while (std::getline(rows, row)) {
    // "<node> <layer> [C, H, W] <params> ...": the parameter count follows the shape.
    const auto shape_end = row.find(']');
    if (shape_end == std::string::npos) continue;
    std::istringstream after(row.substr(shape_end + 1));
    std::string params;
    after >> params;
    if (row.rfind("block ", 0) == 0) {
      CHECK(params == "0");
      ++seen;
    }
    if (row.rfind("block.conv ", 0) == 0) {
      CHECK(params == "20");
      ++seen;
    }
  }
  CHECK(seen == 2);
}
