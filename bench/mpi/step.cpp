// Training-step time of LeNet-5 or ResNet-8 across MPI ranks, with the
// gradient buckets sent during backward (overlap) and after it. Not a Google Benchmark: every
// rank must run the same steps in lockstep, which benchmark's adaptive
// iteration counts would break. Rank 0 prints; bench/mpi/run.sh runs the
// configurations docs/benchmarks.md reports in one go.
//
//   mpirun -np 2 bench_mpi_step [steps] [batch] [threads] [lenet|resnet8]   # 2 ranks x threads
//   bench_mpi_step [steps] [batch] [threads] [lenet|resnet8]                # alone: 1 rank x threads

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fovea/fovea.hpp>
#include <fovea/models/resnet.hpp>
#include <fovea/mpi.hpp>
#include <string>
#include <vector>

namespace {

// Seconds for `steps` training steps of LeNet-5 or ResNet-8 on random 28x28 images.
double time_steps(fovea::mpi::Session& session, const std::string& model, fovea::Index steps, fovea::Index batch,
                  int threads, bool overlap) {
  using namespace fovea;
  Rng rng(1);
  Tensor<float, 4> x(Shape<4>{steps * batch, 1, 28, 28});
  for (Index i = 0; i < x.size(); ++i) x.data()[i] = static_cast<float>(rng.uniform(0, 1));
  std::vector<std::int32_t> labels(static_cast<std::size_t>(steps * batch));
  for (auto& label : labels) label = static_cast<std::int32_t>(rng() % 10);
  const TensorDataset<float> data(std::move(x), std::move(labels));
  Graph<float> net = model == "resnet8" ? models::resnet8<float>({.seed = 1}) : make_lenet5<float>({.seed = 1});
  SoftmaxCrossEntropy<float> loss;
  Sgd<float> sgd(net.params(), SgdOptions{.learning_rate = 0.01, .momentum = 0.9});
  const FitOptions options{.epochs = 1, .batch_size = batch, .seed = 1, .threads = threads, .log = nullptr};
  const auto start = std::chrono::steady_clock::now();
  mpi::fit(session, net, loss, sgd, data, options, mpi::Options{.overlap = overlap});
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

int main(int argc, char** argv) {
  fovea::mpi::Session session(argc, argv);
  const fovea::Index steps = argc > 1 ? std::atoll(argv[1]) : 100;
  const fovea::Index batch = argc > 2 ? std::atoll(argv[2]) : 64;
  const int threads = argc > 3 ? std::atoi(argv[3]) : 1;
  const std::string model = argc > 4 ? argv[4] : "lenet";
  return session.run([&] {
    time_steps(session, model, 10, batch, threads, true);  // warm-up: pages, caches, connections
    // Alternated, best of 3 each: the machine's other load hits both alike.
    double with = 1e300, without = 1e300;
    for (int round = 0; round < 3; ++round) {
      with = std::min(with, time_steps(session, model, steps, batch, threads, true));
      without = std::min(without, time_steps(session, model, steps, batch, threads, false));
    }
    // The communication alone: LeNet's gradient (61,706 floats) summed over the ranks.
    double allreduce = 0;
    if (session.size() > 1) {
      std::vector<float> gradient(61706, 1.0f);
      const auto start = std::chrono::steady_clock::now();
      for (int i = 0; i < 200; ++i) {
        MPI_Allreduce(MPI_IN_PLACE, gradient.data(), static_cast<int>(gradient.size()), MPI_FLOAT, MPI_SUM,
                      MPI_COMM_WORLD);
      }
      allreduce = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() / 200;
    }
    if (session.is_root()) {
      if (session.size() > 1) std::printf("allreduce of 61,706 floats: %.1f us\n", 1e6 * allreduce);
      const double images = static_cast<double>(steps * batch);
      std::printf(
          "%s, %d rank(s) x %d thread(s), batch %lld: overlap %.2f ms/step (%.0f img/s), after backward %.2f "
          "ms/step (%.0f img/s)\n",
          model.c_str(), session.size(), threads, static_cast<long long>(batch),
          1e3 * with / static_cast<double>(steps), images / with, 1e3 * without / static_cast<double>(steps),
          images / without);
    }
    return 0;
  });
}
