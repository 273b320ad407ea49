// Runs as `mpirun -np 2` (tests/CMakeLists.txt): every rank runs every test
// case in the same order, so their collectives meet. Each rank also trains
// the single-process reference itself, with fovea::fit.

#include "fovea/mpi.hpp"

#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <filesystem>

#include "fovea/io/data/dataset.hpp"
#include "fovea/io/model_file.hpp"
#include "fovea/nn/lenet.hpp"
#include "fovea/optim/adam.hpp"
#include "fovea/optim/sgd.hpp"
#include "support/small_cnn.hpp"

using namespace fovea;

namespace {

mpi::Session& session() {
  static mpi::Session s(true);
  return s;
}

// `n` random samples [1, 8, 8] with labels in [0, 4).
template <class T>
TensorDataset<T> noise_samples(Index n, std::uint64_t seed) {
  Rng rng(seed);
  Tensor<T, 4> x(Shape<4>{n, 1, 8, 8});
  for (Index i = 0; i < x.size(); ++i) x.data()[i] = static_cast<T>(rng.uniform(-1, 1));
  std::vector<std::int32_t> labels(static_cast<std::size_t>(n));
  for (auto& label : labels) label = static_cast<std::int32_t>(rng() % 4);
  return TensorDataset<T>(std::move(x), std::move(labels));
}

template <class T>
std::vector<T> weights(const Graph<T>& net) {
  std::vector<T> all;
  for (const auto& p : net.params()) all.insert(all.end(), p.value.data(), p.value.data() + p.value.size());
  return all;
}

// max |a - b| / max |b|
template <class T>
double relative_difference(const std::vector<T>& a, const std::vector<T>& b) {
  double diff = 0;
  double scale = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    diff = std::max(diff, std::abs(static_cast<double>(a[i]) - static_cast<double>(b[i])));
    scale = std::max(scale, std::abs(static_cast<double>(b[i])));
  }
  return diff / scale;
}

// How many ranks hold weights other than rank 0's (the same answer on every rank).
template <class T>
int ranks_differing_from_root(const Graph<T>& net) {
  std::vector<T> mine = weights(net);
  std::vector<T> root = mine;
  MPI_Bcast(root.data(), static_cast<int>(root.size()), mpi::detail::datatype<T>(), 0, MPI_COMM_WORLD);
  std::array<double, 1> differs{mine == root ? 0.0 : 1.0};
  session().sum(differs);
  return static_cast<int>(differs[0]);
}

// 789 samples in batches of 16: 50 steps, the last batch of 5 shared 2 + 3.
FitOptions fifty_steps(int threads) {
  return {.epochs = 1, .batch_size = 16, .seed = 3, .threads = threads, .log = nullptr};
}

}  // namespace

TEMPLATE_TEST_CASE("mpi::fit on 2 ranks gives the weights of one process with the same global batch", "[mpi]", float,
                   double) {
  using T = TestType;
  REQUIRE(session().size() == 2);
  const auto data = noise_samples<T>(789, 11);
  SoftmaxCrossEntropy<T> loss;
  const SgdOptions sgd{.learning_rate = 0.05, .momentum = 0.9};

  auto alone = test::small_cnn<T>(7, 8, false, true);
  Sgd<T> alone_sgd(alone.params(), sgd);
  const History alone_history = fit(alone, loss, alone_sgd, data, fifty_steps(1));
  REQUIRE(alone_sgd.steps() == 50);

  // Rank 1 starts from other weights: fit broadcasts rank 0's.
  auto shared = test::small_cnn<T>(session().rank() == 0 ? 7 : 99, 8, false, true);
  Sgd<T> shared_sgd(shared.params(), sgd);
  // Buckets of at least 64 values: the three layers' gradients travel apart,
  // each sent while the earlier layers' backward runs.
  const mpi::Options small_buckets{.bucket_values = 64};
  const History history = mpi::fit(session(), shared, loss, shared_sgd, data, fifty_steps(1), small_buckets);
  CHECK(shared_sgd.steps() == 50);
  CHECK(ranks_differing_from_root(shared) == 0);
  const double tolerance = std::is_same_v<T, float> ? 1e-5 : 1e-12;
  CHECK(relative_difference(weights(shared), weights(alone)) <= tolerance);
  CHECK(std::abs(history.epochs[0].train_loss - alone_history.epochs[0].train_loss) <=
        tolerance * alone_history.epochs[0].train_loss);
  CHECK(history.epochs[0].train_accuracy == alone_history.epochs[0].train_accuracy);

  SECTION("a second run with the same number of ranks gives the same bits") {
    auto again = test::small_cnn<T>(7, 8, false, true);
    Sgd<T> again_sgd(again.params(), sgd);
    mpi::fit(session(), again, loss, again_sgd, data, fifty_steps(1), small_buckets);
    CHECK(weights(again) == weights(shared));
  }
  SECTION("without overlap, one bucket after backward, the same bits") {
    auto plain = test::small_cnn<T>(7, 8, false, true);
    Sgd<T> plain_sgd(plain.params(), sgd);
    mpi::fit(session(), plain, loss, plain_sgd, data, fifty_steps(1), mpi::Options{.overlap = false});
    CHECK(weights(plain) == weights(shared));
  }
}

TEST_CASE("gradient buckets go out while backward still runs", "[mpi][overlap]") {
  REQUIRE(session().size() == 2);  // MPI is up, also when this test runs alone
  // conv1 (40 values) -> relu -> conv2 (296) -> relu -> pool -> flatten -> linear (516)
  auto net = test::small_cnn<double>(7, 8, false, true);
  mpi::detail::GradientReducer<double> reducer(net, 64);
  REQUIRE(reducer.buckets() == 3);                              // one per layer with parameters, last first
  std::vector<std::pair<std::size_t, std::size_t>> sent_after;  // (layer, buckets sent by then)
  net.set_backward_hook([&](std::size_t layer) {
    reducer.layer_done(layer);
    sent_after.emplace_back(layer, reducer.sent());
  });
  const auto data = noise_samples<double>(6, 3);
  SoftmaxCrossEntropy<double> loss;
  Tensor<double, 2> doutput(Shape<2>{6, 4});
  net.zero_grad();
  reducer.begin(0.5);
  const auto scores = net.forward(data.samples()).reshape(Shape<2>{6, 4});
  loss.forward_backward(scores, Targets<double>(std::span<const std::int32_t>(data.labels())), doutput);
  net.backward(TensorView<const double, 2>(doutput).reshape(Shape<4>{6, 4, 1, 1}));
  // The linear layer's bucket left before the convolutions' backward ran.
  REQUIRE(sent_after.size() >= 3);
  CHECK(sent_after.front() == std::pair<std::size_t, std::size_t>{6, 1});
  CHECK(sent_after.back().second == 3);
  std::vector<double> local;
  for (const auto& p : net.params()) local.insert(local.end(), p.grad.begin(), p.grad.end());
  reducer.finish();
  // Both ranks ran the same samples: half of each, summed, is the gradient itself.
  std::vector<double> summed;
  for (const auto& p : net.params()) summed.insert(summed.end(), p.grad.begin(), p.grad.end());
  CHECK(relative_difference(summed, local) <= 1e-15);
  net.set_backward_hook({});
}

TEST_CASE("mpi::fit with 2 threads in each rank keeps the ranks identical", "[mpi][threads]") {
  const auto data = noise_samples<float>(200, 5);
  SoftmaxCrossEntropy<float> loss;
  auto alone = test::small_cnn<float>(7, 8, false, true);
  Adam<float> alone_adam(alone.params(), AdamOptions{.learning_rate = 0.01});
  fit(alone, loss, alone_adam, data, fifty_steps(2));

  auto shared = test::small_cnn<float>(7, 8, false, true);
  Adam<float> shared_adam(shared.params(), AdamOptions{.learning_rate = 0.01});
  mpi::fit(session(), shared, loss, shared_adam, data, fifty_steps(2));
  CHECK(ranks_differing_from_root(shared) == 0);
  CHECK(relative_difference(weights(shared), weights(alone)) <= 1e-5);
}

TEST_CASE("mpi::fit refuses ranks that differ, on every rank", "[mpi][faults]") {
  SoftmaxCrossEntropy<float> loss;
  const bool other = session().rank() == 1;
  SECTION("a different data size") {
    const auto data = noise_samples<float>(other ? 788 : 789, 11);
    auto net = test::small_cnn<float>(7, 8);
    Sgd<float> sgd(net.params(), SgdOptions{.learning_rate = 0.05});
    CHECK_THROWS_WITH(mpi::fit(session(), net, loss, sgd, data, fifty_steps(1)),
                      "mpi::fit: rank 1 differs from rank 0 in its training samples (788 instead of 789); every rank "
                      "must run the same program on the same data");
    CHECK(sgd.steps() == 0);
  }
  SECTION("a different network") {
    const auto data = noise_samples<float>(100, 11);
    auto net = test::small_cnn<float>(7, 8, false, other);
    Sgd<float> sgd(net.params(), SgdOptions{.learning_rate = 0.05});
    CHECK_THROWS_WITH(mpi::fit(session(), net, loss, sgd, data, fifty_steps(1)),
                      Catch::Contains("rank 1 differs from rank 0 in its network;"));
  }
  SECTION("different settings") {
    const auto data = noise_samples<float>(100, 11);
    auto net = test::small_cnn<float>(7, 8);
    Sgd<float> sgd(net.params(), SgdOptions{.learning_rate = 0.05});
    FitOptions options = fifty_steps(1);
    options.batch_size = other ? 32 : 16;
    CHECK_THROWS_WITH(mpi::fit(session(), net, loss, sgd, data, options),
                      Catch::Contains("rank 1 differs from rank 0 in its batch_size (32 instead of 16)"));
  }
}

TEST_CASE("mpi::evaluate and fit's validation split real MNIST images across the ranks", "[mpi][mnist]") {
  const std::filesystem::path mnist = std::filesystem::path(FOVEA_SHARED_DATA_DIR) / "mnist";
  const Dataset test_set = load_idx_dataset(mnist / "t10k-images-idx3-ubyte.gz", mnist / "t10k-labels-idx1-ubyte.gz")
                               .normalized({0.1325, 0.3105});
  const Dataset train = test_set.slice(0, 480);
  const Dataset validation = test_set.slice(9000, 9999);  // 999: ranks evaluate 499 and 500
  SoftmaxCrossEntropy<float> loss;
  const FitOptions options{.epochs = 1, .batch_size = 32, .seed = 1, .threads = 1, .log = nullptr};

  auto alone = make_lenet5<float>({.seed = 2});
  Sgd<float> alone_sgd(alone.params(), SgdOptions{.learning_rate = 0.05, .momentum = 0.9});
  const History alone_history = fit(alone, loss, alone_sgd, train, validation, options);
  auto shared = make_lenet5<float>({.seed = 2});
  Sgd<float> shared_sgd(shared.params(), SgdOptions{.learning_rate = 0.05, .momentum = 0.9});
  const History history = mpi::fit(session(), shared, loss, shared_sgd, train, validation, options);
  CHECK(ranks_differing_from_root(shared) == 0);
  CHECK(relative_difference(weights(shared), weights(alone)) <= 1e-5);
  CHECK(*history.epochs[0].validation_loss == Approx(*alone_history.epochs[0].validation_loss).epsilon(1e-4));
  CHECK(*history.epochs[0].validation_accuracy > 0.5);  // it learned, on real digits

  const Evaluation mine = mpi::evaluate(session(), shared, loss, validation);
  const Evaluation whole = evaluate(shared, loss, validation);
  CHECK(mine.confusion.total() == 999);
  CHECK(mine.loss == Approx(whole.loss).epsilon(1e-6));  // float batch means, summed in other groups
  CHECK(mine.accuracy == whole.accuracy);
  for (Index t = 0; t < 10; ++t)
    for (Index p = 0; p < 10; ++p) CHECK(mine.confusion.count(t, p) == whole.confusion.count(t, p));
}

TEST_CASE("a checkpoint written alone resumes on 2 ranks as the run alone goes on", "[mpi][checkpoint]") {
  const auto data = noise_samples<float>(200, 5);
  SoftmaxCrossEntropy<float> loss;
  FitOptions options = fifty_steps(1);
  options.epochs = 2;
  const std::filesystem::path path = "mpi_fit_test_checkpoint.fovea";

  auto alone = test::small_cnn<float>(7, 8, false, true);
  Adam<float> alone_adam(alone.params(), AdamOptions{.learning_rate = 0.01});
  options.on_epoch_end = [&](const EpochReport& report) {
    if (report.epoch == 0 && session().is_root()) save_checkpoint(alone, alone_adam, {.next_epoch = 1}, path);
    return true;
  };
  fit(alone, loss, alone_adam, data, options);
  MPI_Barrier(MPI_COMM_WORLD);  // rank 0's file is written

  auto resumed = test::small_cnn<float>(8, 8, false, true);
  Adam<float> resumed_adam(resumed.params(), AdamOptions{.learning_rate = 0.01});
  options.on_epoch_end = {};
  options.start_epoch = load_checkpoint(resumed, resumed_adam, path).next_epoch;
  CHECK(options.start_epoch == 1);
  mpi::fit(session(), resumed, loss, resumed_adam, data, options);
  CHECK(resumed_adam.steps() == alone_adam.steps());
  CHECK(ranks_differing_from_root(resumed) == 0);
  CHECK(relative_difference(weights(resumed), weights(alone)) <= 1e-5);
  MPI_Barrier(MPI_COMM_WORLD);
  if (session().is_root()) std::filesystem::remove(path);
}
