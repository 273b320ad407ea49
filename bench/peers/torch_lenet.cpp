// libtorch's LeNet-5, the same network, step and inputs as bench/lenet.cpp:
// conv 6@5x5 pad 2 -> ReLU -> max-pool 2 -> conv 16@5x5 -> ReLU -> max-pool 2
// -> FC 120 -> ReLU -> FC 84 -> ReLU -> FC 10, cross_entropy on the logits,
// SGD lr 0.01 momentum 0.9. Threads: torch::set_num_threads (intra-op pool).

#include <benchmark/benchmark.h>
#include <torch/torch.h>

namespace {

struct LeNet : torch::nn::Module {
  torch::nn::Conv2d conv1{torch::nn::Conv2dOptions(1, 6, 5).padding(2)};
  torch::nn::Conv2d conv2{torch::nn::Conv2dOptions(6, 16, 5)};
  torch::nn::Linear fc1{400, 120}, fc2{120, 84}, fc3{84, 10};
  LeNet() {
    register_module("conv1", conv1);
    register_module("conv2", conv2);
    register_module("fc1", fc1);
    register_module("fc2", fc2);
    register_module("fc3", fc3);
  }
  torch::Tensor forward(torch::Tensor x) {
    x = torch::max_pool2d(torch::relu(conv1->forward(x)), 2);
    x = torch::max_pool2d(torch::relu(conv2->forward(x)), 2);
    x = x.flatten(1);
    x = torch::relu(fc1->forward(x));
    x = torch::relu(fc2->forward(x));
    return fc3->forward(x);
  }
};

void LenetTrainStep(benchmark::State& state) {
  torch::set_num_threads(static_cast<int>(state.range(0)));
  torch::manual_seed(1);
  LeNet net;
  torch::optim::SGD sgd(net.parameters(), torch::optim::SGDOptions(0.01).momentum(0.9));
  const auto x = torch::rand({64, 1, 28, 28});
  const auto labels = torch::randint(0, 10, {64}, torch::kLong);
  auto step = [&] {
    sgd.zero_grad();
    auto loss = torch::nn::functional::cross_entropy(net.forward(x), labels);
    loss.backward();
    sgd.step();
    return loss.item<float>();
  };
  step();
  for (auto _ : state) benchmark::DoNotOptimize(step());
  state.SetItemsProcessed(state.iterations() * 64);
}

void LenetInference(benchmark::State& state) {
  torch::set_num_threads(static_cast<int>(state.range(1)));
  torch::manual_seed(1);
  LeNet net;
  net.eval();
  torch::NoGradGuard no_grad;
  const auto x = torch::rand({state.range(0), 1, 28, 28});
  net.forward(x);
  for (auto _ : state) {
    auto y = net.forward(x);
    benchmark::DoNotOptimize(y.data_ptr());
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}

}  // namespace

BENCHMARK(LenetTrainStep)->ArgName("threads")->Arg(1)->Arg(2)->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(LenetInference)
    ->ArgNames({"batch", "threads"})
    ->Args({1, 1})
    ->Args({1, 2})
    ->Args({256, 1})
    ->Args({256, 2})
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);
