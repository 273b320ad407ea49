// dlib's LeNet-5, the same network, step and inputs as bench/lenet.cpp:
// conv 6@5x5 pad 2 -> ReLU -> max-pool 2 -> conv 16@5x5 -> ReLU -> max-pool 2
// -> FC 120 -> ReLU -> FC 84 -> ReLU -> FC 10, loss_multiclass_log (softmax
// cross-entropy), SGD momentum 0.9 at lr 0.01, stepped by hand (forward,
// backward, update) rather than through dnn_trainer's background thread.
// dlib's CPU layers run on one thread (its GEMMs may use a BLAS's threads).

#include <benchmark/benchmark.h>
#include <dlib/dnn.h>

#include <random>
#include <vector>

namespace {

using namespace dlib;

template <class SUBNET>
using conv_pad2 = add_layer<con_<6, 5, 5, 1, 1, 2, 2>, SUBNET>;
template <class SUBNET>
using conv_valid = add_layer<con_<16, 5, 5, 1, 1, 0, 0>, SUBNET>;
using lenet = loss_multiclass_log<fc<
    10,
    relu<fc<84,
            relu<fc<120, max_pool<2, 2, 2, 2,
                                  relu<conv_valid<max_pool<2, 2, 2, 2, relu<conv_pad2<input<matrix<float>>>>>>>>>>>>>>;

struct Data {
  std::vector<matrix<float>> images;
  std::vector<unsigned long> labels;
  explicit Data(std::size_t n) {
    std::mt19937 rng(1);
    std::uniform_real_distribution<float> pixel(0, 1);
    for (std::size_t i = 0; i < n; ++i) {
      matrix<float> image(28, 28);
      for (long r = 0; r < 28; ++r) {
        for (long c = 0; c < 28; ++c) image(r, c) = pixel(rng);
      }
      images.push_back(image);
      labels.push_back(rng() % 10);
    }
  }
};

void LenetTrainStep(benchmark::State& state) {
  const Data data(64);
  lenet net;
  std::vector<sgd> solvers(lenet::num_computational_layers, sgd(0, 0.9));
  resizable_tensor x;
  net.to_tensor(data.images.begin(), data.images.end(), x);
  auto step = [&] {
    const double loss = net.compute_parameter_gradients(x, data.labels.begin());
    net.update_parameters(solvers, 0.01);
    return loss;
  };
  step();
  for (auto _ : state) benchmark::DoNotOptimize(step());
  state.SetItemsProcessed(state.iterations() * 64);
}

void LenetInference(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  const Data data(n);
  lenet net;
  resizable_tensor x;
  net.to_tensor(data.images.begin(), data.images.end(), x);
  net.subnet().forward(x);
  for (auto _ : state) {
    const tensor& y = net.subnet().forward(x);  // the logits
    benchmark::DoNotOptimize(y.host());
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(n));
}

}  // namespace

BENCHMARK(LenetTrainStep)->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(LenetInference)->ArgName("batch")->Arg(1)->Arg(256)->UseRealTime()->Unit(benchmark::kMicrosecond);
