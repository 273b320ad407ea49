// libtorch's ResNet-8, the same network, step and inputs as bench/resnet8.cpp:
// stem conv3x3 1->16 + BN + ReLU; basic blocks of 16, 32 and 64 channels (the
// last two stride 2 with 1x1 conv + BN projection shortcuts); global average
// pooling; FC to 10. Convolutions without bias (BN follows), as torchvision.
// Training step: cross_entropy on the logits, SGD lr 0.1, Nesterov momentum
// 0.9, weight decay 5e-4, batch 128. Threads: torch::set_num_threads.

#include <benchmark/benchmark.h>
#include <torch/torch.h>

namespace {

torch::nn::Conv2d conv(int64_t in, int64_t out, int64_t kernel, int64_t stride) {
  return torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, kernel).stride(stride).padding(kernel / 2).bias(false));
}

struct BasicBlock : torch::nn::Module {
  torch::nn::Conv2d conv1, conv2;
  torch::nn::BatchNorm2d bn1, bn2;
  torch::nn::Conv2d project{nullptr};
  torch::nn::BatchNorm2d project_bn{nullptr};
  BasicBlock(int64_t in, int64_t out, int64_t stride)
      : conv1(conv(in, out, 3, stride)), conv2(conv(out, out, 3, 1)), bn1(out), bn2(out) {
    register_module("conv1", conv1);
    register_module("bn1", bn1);
    register_module("conv2", conv2);
    register_module("bn2", bn2);
    if (stride != 1 || in != out) {
      project = register_module("project", conv(in, out, 1, stride));
      project_bn = register_module("project_bn", torch::nn::BatchNorm2d(out));
    }
  }
  torch::Tensor forward(torch::Tensor x) {
    auto y = torch::relu(bn1->forward(conv1->forward(x)));
    y = bn2->forward(conv2->forward(y));
    auto shortcut = project ? project_bn->forward(project->forward(x)) : x;
    return torch::relu(y + shortcut);
  }
};

struct ResNet8 : torch::nn::Module {
  torch::nn::Conv2d stem{conv(1, 16, 3, 1)};
  torch::nn::BatchNorm2d stem_bn{16};
  std::shared_ptr<BasicBlock> block1, block2, block3;
  torch::nn::Linear fc{64, 10};
  ResNet8()
      : block1(std::make_shared<BasicBlock>(16, 16, 1)),
        block2(std::make_shared<BasicBlock>(16, 32, 2)),
        block3(std::make_shared<BasicBlock>(32, 64, 2)) {
    register_module("stem", stem);
    register_module("stem_bn", stem_bn);
    register_module("block1", block1);
    register_module("block2", block2);
    register_module("block3", block3);
    register_module("fc", fc);
  }
  torch::Tensor forward(torch::Tensor x) {
    x = torch::relu(stem_bn->forward(stem->forward(x)));
    x = block3->forward(block2->forward(block1->forward(x)));
    x = torch::adaptive_avg_pool2d(x, {1, 1}).flatten(1);
    return fc->forward(x);
  }
};

void Resnet8TrainStep(benchmark::State& state) {
  torch::set_num_threads(static_cast<int>(state.range(0)));
  torch::manual_seed(1);
  ResNet8 net;
  torch::optim::SGD sgd(net.parameters(),
                        torch::optim::SGDOptions(0.1).momentum(0.9).nesterov(true).weight_decay(5e-4));
  const auto x = torch::rand({128, 1, 28, 28});
  const auto labels = torch::randint(0, 10, {128}, torch::kLong);
  auto step = [&] {
    sgd.zero_grad();
    auto loss = torch::nn::functional::cross_entropy(net.forward(x), labels);
    loss.backward();
    sgd.step();
    return loss.item<float>();
  };
  step();
  for (auto _ : state) benchmark::DoNotOptimize(step());
  state.SetItemsProcessed(state.iterations() * 128);
}

void Resnet8Inference(benchmark::State& state) {
  torch::set_num_threads(static_cast<int>(state.range(1)));
  torch::manual_seed(1);
  ResNet8 net;
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

BENCHMARK(Resnet8TrainStep)->ArgName("threads")->Arg(1)->Arg(2)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(Resnet8Inference)
    ->ArgNames({"batch", "threads"})
    ->Args({1, 1})
    ->Args({1, 2})
    ->Args({256, 1})
    ->Args({256, 2})
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);
