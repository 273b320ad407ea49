#include "fovea/train/data_parallel.hpp"

#include <atomic>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <thread>

#include "fovea/io/data/dataset.hpp"
#include "fovea/layers/batch_norm.hpp"
#include "fovea/nn/lenet.hpp"
#include "fovea/nn/registry.hpp"
#include "fovea/optim/sgd.hpp"
#include "support/small_cnn.hpp"

using namespace fovea;

namespace {

struct ThreadsGuard {
  int saved = max_threads();
  ~ThreadsGuard() { set_threads(saved); }
};

const Dataset& mnist_test_set() {
  static const Dataset data = [] {
    const std::filesystem::path mnist = std::filesystem::path(FOVEA_SHARED_DATA_DIR) / "mnist";
    return load_idx_dataset(mnist / "t10k-images-idx3-ubyte.gz", mnist / "t10k-labels-idx1-ubyte.gz")
        .normalized({0.1325, 0.3105});
  }();
  return data;
}

// `n` real MNIST images and labels, from `first` on, spread over the set.
template <class T>
std::pair<Tensor<T, 4>, std::vector<std::int32_t>> mnist_batch(Index n, Index first) {
  std::vector<Index> indices(static_cast<std::size_t>(n));
  for (Index i = 0; i < n; ++i) indices[static_cast<std::size_t>(i)] = (first + i * 613) % 10000;
  std::pair<Tensor<T, 4>, std::vector<std::int32_t>> batch;
  mnist_test_set().make_batch(std::span<const Index>(indices), batch.first, batch.second);
  return batch;
}

// Every parameter gradient, concatenated.
template <class T>
std::vector<T> gradients(const Sequential<T>& net) {
  std::vector<T> all;
  for (const auto& p : net.params()) all.insert(all.end(), p.grad.begin(), p.grad.end());
  return all;
}

template <class T>
bool same_bits(const std::vector<T>& a, const std::vector<T>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0;
}

// The batch's loss, scores and gradients the plain way: one forward of the
// whole batch, the loss, one backward (on one thread).
template <class T>
struct Reference {
  T loss;
  Tensor<T, 2> scores;
  std::vector<T> grads;
};
template <class T>
Reference<T> reference(Sequential<T>& net, const Tensor<T, 4>& x, const std::vector<std::int32_t>& labels) {
  const int saved = max_threads();
  set_threads(1);
  SoftmaxCrossEntropy<T> loss;
  const Index n = x.dim(0), k = shape_size(net.output_shape());
  net.zero_grad();
  Reference<T> r{T{}, Tensor<T, 2>(net.forward(x).reshape(Shape<2>{n, k})), {}};
  Tensor<T, 2> doutput({n, k});
  r.loss = loss.forward_backward(r.scores, Targets<T>(labels), doutput);
  net.backward(doutput.reshape(batch_shape(n, net.output_shape())));
  r.grads = gradients(net);
  set_threads(saved);
  return r;
}

// A layer of the user's own, which no registry knows.
class Doubling final : public Layer<double> {
 public:
  std::string describe() const override { return "Doubling"; }
  LayerSpec spec() const override { return {"Doubling", {}}; }
  SampleShape output_shape(const SampleShape& input) const override { return input; }
  void forward(TensorView<const double, 4> x, TensorView<double, 4> y, LayerContext<double>&) const override {
    y.array() = 2 * x.array();
  }
  void backward(TensorView<const double, 4>, TensorView<const double, 4>, TensorView<const double, 4> dy,
                TensorView<double, 4> dx, LayerContext<double>&) const override {
    if (!dx.empty()) dx.array() = 2 * dy.array();
  }
  double flops_per_sample(const SampleShape&) const override { return 0; }
};

}  // namespace

TEST_CASE("lanes give the whole batch's loss, scores and gradients (LeNet-5, real MNIST, double)",
          "[train][data_parallel][mnist]") {
  ThreadsGuard guard;
  const auto [x, labels] = mnist_batch<double>(13, 0);  // 13: lanes of unequal size
  auto net = make_lenet5<double>({.seed = 3});
  const Reference<double> want = reference(net, x, labels);
  SoftmaxCrossEntropy<double> loss;
  DataParallel<double> lanes(net);
  for (int threads : {1, 2, 3, 5}) {
    INFO(threads << " threads");
    set_threads(threads);
    CHECK(lanes.lanes(13) == threads);
    net.zero_grad();
    Tensor<double, 2> scores({13, 10});
    const double value = lanes.forward_backward(x, Targets<double>(labels), loss, scores);
    CHECK(value == Approx(want.loss).epsilon(1e-13));
    CHECK((scores.array() - want.scores.array()).abs().maxCoeff() < 1e-12);
    const std::vector<double> got = gradients(net);
    REQUIRE(got.size() == want.grads.size());
    double worst = 0, largest = 0;
    for (std::size_t i = 0; i < got.size(); ++i) {
      worst = std::max(worst, std::abs(got[i] - want.grads[i]));
      largest = std::max(largest, std::abs(want.grads[i]));
    }
    CHECK(largest > 1e-3);  // a gradient that is all zeros would compare equal to nothing useful
    CHECK(worst < 1e-12 * largest);
  }
  // Fewer samples than threads: one lane per sample.
  set_threads(4);
  CHECK(lanes.lanes(3) == 3);
  CHECK(lanes.lanes(1) == 1);
}

TEST_CASE("lanes: gradients accumulate, and every lane computes with the weights the optimizer last wrote",
          "[train][data_parallel][mnist]") {
  ThreadsGuard guard;
  set_threads(2);
  const auto [x, labels] = mnist_batch<double>(16, 5);
  auto plain = test::small_cnn<double>(4, 28, false, /*second_conv=*/true);
  auto laned = test::small_cnn<double>(4, 28, false, true);
  SoftmaxCrossEntropy<double> loss;
  Sgd<double> plain_sgd(plain.params(), {.learning_rate = 0.1, .momentum = 0.9});
  Sgd<double> laned_sgd(laned.params(), {.learning_rate = 0.1, .momentum = 0.9});
  DataParallel<double> lanes(laned);
  Tensor<double, 2> scores({16, 4});
  // A mislabelled copy of MNIST's digits: four classes, label % 4.
  std::vector<std::int32_t> classes(labels);
  for (auto& c : classes) c %= 4;
  for (int step = 0; step < 5; ++step) {
    const Reference<double> want = reference(plain, x, classes);
    laned.zero_grad();
    const double value = lanes.forward_backward(x, Targets<double>(classes), loss, scores);
    CHECK(value == Approx(want.loss).epsilon(1e-12));
    const std::vector<double> got = gradients(laned);
    for (std::size_t i = 0; i < got.size(); ++i) REQUIRE(got[i] == Approx(want.grads[i]).margin(1e-12));
    plain_sgd.step();
    laned_sgd.step();  // every lane must compute with these weights next step
  }
  // Without zero_grad the batch's gradient is added on top.
  const std::vector<double> once = gradients(laned);
  laned.zero_grad();
  lanes.forward_backward(x, Targets<double>(classes), loss, scores);
  const std::vector<double> first = gradients(laned);
  lanes.forward_backward(x, Targets<double>(classes), loss, scores);
  const std::vector<double> twice = gradients(laned);
  for (std::size_t i = 0; i < twice.size(); ++i) REQUIRE(twice[i] == Approx(2 * first[i]).margin(1e-14));
  CHECK_FALSE(same_bits(once, first));  // the weights moved since `once`
}

TEST_CASE("lanes: the same thread count gives the same bits, whatever else runs on the cores",
          "[train][data_parallel][mnist][threads]") {
  ThreadsGuard guard;
  set_threads(2);
  // Not a structured binding: the lambda below captures them (clang 14 cannot).
  const auto batch = mnist_batch<float>(64, 11);
  const auto& x = batch.first;
  const auto& labels = batch.second;
  const auto train = [&] {
    auto net = make_lenet5<float>({.seed = 9});
    SoftmaxCrossEntropy<float> loss;
    Sgd<float> sgd(net.params(), {.learning_rate = 0.01, .momentum = 0.9});
    DataParallel<float> lanes(net);
    Tensor<float, 2> scores({64, 10});
    for (int step = 0; step < 4; ++step) {
      sgd.zero_grad();
      lanes.forward_backward(x, Targets<float>(labels), loss, scores);
      sgd.step();
    }
    std::vector<float> weights;
    for (const auto& p : net.params()) weights.insert(weights.end(), p.value.begin(), p.value.end());
    return weights;
  };
  const std::vector<float> first = train();
  std::atomic<bool> stop{false};
  std::thread noise([&] {
    volatile double sink = 0;
    while (!stop.load()) sink = sink + 1;
  });
  bool all_same = true;
  for (int repeat = 0; repeat < 3; ++repeat) all_same = all_same && same_bits(train(), first);
  stop = true;
  noise.join();
  CHECK(all_same);
  // And the lanes did compute something else than one thread would have (a
  // check that two threads really ran in lanes).
  set_threads(1);
  CHECK_FALSE(same_bits(train(), first));
}

TEST_CASE("lanes run Dropout and user-defined layers on the shared weights, one thread in one lane",
          "[train][data_parallel][mnist]") {
  ThreadsGuard guard;
  set_threads(2);
  const auto batch = mnist_batch<double>(8, 2);
  const Tensor<double, 4>& x = batch.first;  // a reference, not a binding: the lambdas below capture it
  SoftmaxCrossEntropy<double> loss;
  Tensor<double, 2> scores({8, 4});
  std::vector<std::int32_t> classes(batch.second);
  for (auto& c : classes) c %= 4;
  // The lanes' gradients are added in another order than one pass's blocks.
  const auto close = [](const std::vector<double>& a, const std::vector<double>& b) {
    REQUIRE(a.size() == b.size());
    for (std::size_t i = 0; i < a.size(); ++i) {
      if (std::abs(a[i] - b[i]) > 1e-12 * (1 + std::abs(b[i]))) return false;
    }
    return true;
  };
  // Plain forward, loss and backward of the whole batch on one network.
  const auto one_pass = [&](Sequential<double>& net) {
    net.zero_grad();
    const auto out = net.forward(x).reshape(Shape<2>{8, 4});
    Tensor<double, 2> doutput({8, 4});
    const double value = loss.forward_backward(out, Targets<double>(classes), doutput);
    net.backward(doutput.reshape(Shape<4>{8, 4, 1, 1}));
    return value;
  };

  // Dropout draws the whole batch's masks before the lanes split it: the
  // lanes drop what one pass of a twin with the same seed drops.
  auto with_dropout = test::small_cnn<double>(6, 28, /*dropout=*/true);
  auto twin = test::small_cnn<double>(6, 28, true);
  DataParallel<double> lanes(with_dropout);
  CHECK(lanes.lanes(8) == 2);
  with_dropout.zero_grad();
  const double value = lanes.forward_backward(x, Targets<double>(classes), loss, scores);
  CHECK(std::abs(one_pass(twin) - value) < 1e-12);
  CHECK(close(gradients(with_dropout), gradients(twin)));

  // A layer of the user's own runs in lanes too.
  const auto make_custom = [] {
    Sequential<double> net({1, 28, 28});
    net.emplace<Flatten<double>>();
    net.emplace<Doubling>();
    net.emplace<Linear<double>>(784, 4, true, 5);
    return net;
  };
  auto custom = make_custom();
  auto custom_twin = make_custom();
  DataParallel<double> custom_lanes(custom);
  CHECK(custom_lanes.lanes(8) == 2);
  custom.zero_grad();
  const double custom_value = custom_lanes.forward_backward(x, Targets<double>(classes), loss, scores);
  CHECK(std::abs(one_pass(custom_twin) - custom_value) < 1e-12);
  CHECK(close(gradients(custom), gradients(custom_twin)));

  // Layers added after the first step are taken into account.
  auto growing = test::small_cnn<double>(8, 28);
  DataParallel<double> growing_lanes(growing);
  CHECK(growing_lanes.lanes(8) == 2);
  growing.emplace<Dropout<double>>(0.5, 1);
  CHECK(growing_lanes.lanes(8) == 2);
  growing.emplace<BatchNorm<double>>(BatchNormOptions{.channels = 4});
  CHECK(growing_lanes.lanes(8) == 1);

  set_threads(1);
  auto plain = test::small_cnn<double>(7, 28);
  CHECK(DataParallel<double>(plain).lanes(8) == 1);
}

namespace {

// conv -> BatchNorm -> ReLU -> pool -> linear, the same weights every call.
Sequential<double> cnn_with_batch_norm() {
  auto net = test::small_cnn<double>(9, 28);
  Sequential<double> with_norm({1, 28, 28});
  with_norm.add(make_layer<double>(net.layer(0).spec()));
  with_norm.emplace<BatchNorm<double>>(BatchNormOptions{.channels = 4});
  for (std::size_t i = 1; i < net.size(); ++i) with_norm.add(make_layer<double>(net.layer(i).spec()));
  const auto& from = net.params();
  for (std::size_t i = 0; i < from.size(); ++i) with_norm.params()[i + (i < 2 ? 0 : 2)].value.copy_from(from[i].value);
  return with_norm;
}

}  // namespace

TEST_CASE("lanes with per-lane statistics normalise each lane's samples alone; the first moves the running ones",
          "[train][data_parallel][mnist]") {
  ThreadsGuard guard;
  set_threads(2);
  const auto batch = mnist_batch<double>(8, 6);
  const Tensor<double, 4>& x = batch.first;
  std::vector<std::int32_t> classes(batch.second);
  for (auto& c : classes) c %= 4;
  SoftmaxCrossEntropy<double> loss;
  Tensor<double, 2> scores({8, 4});
  auto net = cnn_with_batch_norm();
  DataParallel<double> lanes(net, LaneStatistics::per_lane);
  CHECK(lanes.lanes(8) == 2);
  net.zero_grad();
  const double value = lanes.forward_backward(x, Targets<double>(classes), loss, scores);

  // The same as the two halves run apart on a twin, each half's loss weighted 1/2.
  auto twin = cnn_with_batch_norm();
  twin.zero_grad();
  double twin_value = 0;
  for (Index half = 0; half < 2; ++half) {
    const auto out = twin.forward(x.slice(4 * half, 4 * half + 4)).reshape(Shape<2>{4, 4});
    Tensor<double, 2> doutput({4, 4});
    twin_value += 0.5 * loss.forward_backward(out, Targets<double>(classes).slice(4 * half, 4 * half + 4), doutput);
    doutput.array() *= 0.5;
    twin.backward(doutput.reshape(Shape<4>{4, 4, 1, 1}));
  }
  CHECK(value == Approx(twin_value).epsilon(1e-12));
  const std::vector<double> got = gradients(net), want = gradients(twin);
  for (std::size_t i = 0; i < got.size(); ++i) REQUIRE(got[i] == Approx(want[i]).margin(1e-12));
  // A per-lane normalisation is not the whole batch's: the default differs.
  auto whole = cnn_with_batch_norm();
  DataParallel<double> whole_lanes(whole);
  CHECK(whole_lanes.lanes(8) == 1);
  CHECK(whole_lanes.forward_backward(x, Targets<double>(classes), loss, scores) != Approx(value).epsilon(1e-9));

  // The running statistics moved once, with the first lane's samples only.
  auto first_half = cnn_with_batch_norm();
  first_half.forward(x.slice(0, 4));
  const auto& norm = dynamic_cast<const BatchNorm<double>&>(net.layer(1));
  const auto& first_norm = dynamic_cast<const BatchNorm<double>&>(first_half.layer(1));
  for (Index c = 0; c < 4; ++c) {
    CHECK(norm.running_mean()(c) == first_norm.running_mean()(c));
    CHECK(norm.running_var()(c) == first_norm.running_var()(c));
  }
}

TEST_CASE("lanes fall back to the whole network for BatchNorm: its statistics are the whole batch's",
          "[train][data_parallel][mnist]") {
  ThreadsGuard guard;
  set_threads(2);
  const auto [x, labels] = mnist_batch<double>(8, 4);
  SoftmaxCrossEntropy<double> loss;
  Tensor<double, 2> scores({8, 4});
  std::vector<std::int32_t> classes(labels);
  for (auto& c : classes) c %= 4;
  // conv -> BatchNorm -> ReLU -> pool -> linear, twice with the same weights.
  auto net = cnn_with_batch_norm();
  auto twin = cnn_with_batch_norm();
  DataParallel<double> lanes(net);
  CHECK(lanes.lanes(8) == 1);
  net.zero_grad();
  const double value = lanes.forward_backward(x, Targets<double>(classes), loss, scores);

  twin.zero_grad();
  const auto out = twin.forward(x).reshape(Shape<2>{8, 4});
  Tensor<double, 2> doutput({8, 4});
  CHECK(loss.forward_backward(out, Targets<double>(classes), doutput) == value);
  twin.backward(doutput.reshape(Shape<4>{8, 4, 1, 1}));
  CHECK(same_bits(gradients(net), gradients(twin)));
  // The running statistics moved once, with the whole batch's statistics.
  const auto& norm = dynamic_cast<const BatchNorm<double>&>(net.layer(1));
  const auto& twin_norm = dynamic_cast<const BatchNorm<double>&>(twin.layer(1));
  for (Index c = 0; c < 4; ++c) {
    CHECK(norm.running_mean()(c) == twin_norm.running_mean()(c));
    CHECK(norm.running_var()(c) == twin_norm.running_var()(c));
    CHECK(norm.running_var()(c) != 1.0);
  }
}

TEST_CASE("lanes: bad input is a clear error", "[train][data_parallel][mnist][errors]") {
  ThreadsGuard guard;
  set_threads(2);
  const auto [x, labels] = mnist_batch<double>(8, 3);
  auto net = make_lenet5<double>({.seed = 1});
  SoftmaxCrossEntropy<double> loss;
  DataParallel<double> lanes(net);
  Tensor<double, 2> scores({8, 10});
  CHECK_THROWS_WITH(
      lanes.forward_backward(x, Targets<double>(std::span<const std::int32_t>(labels).first(7)), loss, scores),
      "DataParallel: 7 targets for a batch of [8, 1, 28, 28]");
  Tensor<double, 2> narrow({8, 9});
  CHECK_THROWS_WITH(lanes.forward_backward(x, Targets<double>(labels), loss, narrow),
                    "DataParallel: scores [8, 9], expected [8, 10] for a batch of [8, 1, 28, 28]");
  Tensor<double, 4> small({8, 1, 14, 14});
  Tensor<double, 2> scores_small({8, 10});
  CHECK_THROWS_AS(lanes.forward_backward(small, Targets<double>(labels), loss, scores_small), shape_error);
  // A bad label among lane 1's samples is reported as the loss reports it,
  // by its index in the batch (not its index in lane 1, 2).
  std::vector<std::int32_t> bad(labels);
  bad[6] = 10;
  CHECK_THROWS_AS(lanes.forward_backward(x, Targets<double>(bad), loss, scores), value_error);
  CHECK_THROWS_WITH(lanes.forward_backward(x, Targets<double>(bad), loss, scores),
                    "SoftmaxCrossEntropy: label 10 at index 6 is out of range for 10 classes");
  Tensor<double, 2> wide_target({8, 11});
  CHECK_THROWS_WITH(lanes.forward_backward(x, Targets<double>(wide_target), loss, scores),
                    "SoftmaxCrossEntropy: target [8, 11] does not match output [8, 10]");
  // Afterwards the lanes still work.
  net.zero_grad();
  CHECK(std::isfinite(lanes.forward_backward(x, Targets<double>(labels), loss, scores)));
}

TEST_CASE("Targets::slice views a range of labels or rows", "[train][loss]") {
  const std::vector<std::int32_t> labels{3, 1, 4, 1, 5};
  const Targets<float> targets{std::span<const std::int32_t>(labels)};
  const Targets<float> middle = targets.slice(1, 4);
  CHECK(middle.count() == 3);
  middle.visit(
      [](std::span<const std::int32_t> s) {
        CHECK(s[0] == 1);
        CHECK(s[2] == 1);
      },
      [](TensorView<const float, 2>) { FAIL("labels expected"); });
  Tensor<float, 2> rows({4, 2});
  for (Index i = 0; i < 8; ++i) rows.data()[i] = static_cast<float>(i);
  const Targets<float> tail = Targets<float>(TensorView<const float, 2>(rows)).slice(2, 4);
  CHECK(tail.count() == 2);
  tail.visit([](std::span<const std::int32_t>) { FAIL("rows expected"); },
             [](TensorView<const float, 2> r) { CHECK(r(0, 0) == 4.0F); });
  CHECK_THROWS_WITH(targets.slice(2, 6), "Targets::slice: range [2, 6) of 5 targets");
  CHECK_THROWS_AS(targets.slice(3, 2), index_error);
}
