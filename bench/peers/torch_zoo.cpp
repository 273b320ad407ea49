// libtorch's ResNet-18, ResNet-50, MobileNetV2 and GoogLeNet, written with
// torch::nn modules as torchvision defines them, timed as bench/zoo.cpp times
// fovea's: inference at 3x224x224, batch 1 and 32, 1 and 2 threads
// (torch::set_num_threads), eval mode under torch::NoGradGuard.
//
//   OPENBLAS_NUM_THREADS=1 bench_peer_torch_zoo
//   bench/peers/zoo.sh build     # both programs, libtorch's best settings, ratio table
//
// Debian's libtorch runs its batch-1 1x1 convolutions and its FC layers
// through libblas.so.3, netlib's reference BLAS unless OpenBLAS is installed,
// and glibc gives its large activations back to the kernel after each
// forward: docs/benchmarks.md ("Model zoo inference") says how the figures
// were taken fairly.
//
// As torchvision: ResNet-18 of basic blocks, ResNet-50 of bottlenecks that
// stride on the 3x3 (v1.5), both with 1x1 conv + BN projection shortcuts and
// a 3x3/2 max pool (pad 1) after the stem; MobileNetV2 of inverted residuals
// with ReLU6; GoogLeNet without its auxiliary classifiers, BasicConv2d = conv
// (no bias) + BN (eps 0.001) + ReLU, a 3x3 kernel in the "5x5" branch and
// every max pool with ceil_mode. ReLUs in place as torchvision's. Each
// model's parameter count is checked against torchvision's; a mismatch fails
// the case. Weights are drawn as torchvision draws them (the time does not
// depend on them, but tiny values could run into denormals).

#include <benchmark/benchmark.h>
#include <torch/torch.h>

#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <string>

namespace {

namespace nn = torch::nn;

nn::Conv2d conv(int64_t in, int64_t out, int64_t kernel, int64_t stride = 1, int64_t padding = 0, int64_t groups = 1) {
  return nn::Conv2d(nn::Conv2dOptions(in, out, kernel).stride(stride).padding(padding).groups(groups).bias(false));
}

// ---------------------------------------------------------------- ResNet

struct BasicBlock : nn::Module {
  static constexpr int64_t expansion = 1;
  nn::Conv2d conv1, conv2;
  nn::BatchNorm2d bn1, bn2;
  nn::Sequential downsample{nullptr};
  BasicBlock(int64_t in, int64_t planes, int64_t stride)
      : conv1(conv(in, planes, 3, stride, 1)), conv2(conv(planes, planes, 3, 1, 1)), bn1(planes), bn2(planes) {
    register_module("conv1", conv1);
    register_module("bn1", bn1);
    register_module("conv2", conv2);
    register_module("bn2", bn2);
  }
  torch::Tensor forward(const torch::Tensor& x) {
    auto out = bn1(conv1(x)).relu_();
    out = bn2(conv2(out));
    out += downsample ? downsample->forward(x) : x;
    return out.relu_();
  }
};

struct Bottleneck : nn::Module {
  static constexpr int64_t expansion = 4;
  nn::Conv2d conv1, conv2, conv3;
  nn::BatchNorm2d bn1, bn2, bn3;
  nn::Sequential downsample{nullptr};
  Bottleneck(int64_t in, int64_t planes, int64_t stride)
      : conv1(conv(in, planes, 1)),
        conv2(conv(planes, planes, 3, stride, 1)),  // v1.5: the stride on the 3x3
        conv3(conv(planes, planes * expansion, 1)),
        bn1(planes),
        bn2(planes),
        bn3(planes * expansion) {
    register_module("conv1", conv1);
    register_module("bn1", bn1);
    register_module("conv2", conv2);
    register_module("bn2", bn2);
    register_module("conv3", conv3);
    register_module("bn3", bn3);
  }
  torch::Tensor forward(const torch::Tensor& x) {
    auto out = bn1(conv1(x)).relu_();
    out = bn2(conv2(out)).relu_();
    out = bn3(conv3(out));
    out += downsample ? downsample->forward(x) : x;
    return out.relu_();
  }
};

template <class Block>
struct ResNet : nn::Module {
  nn::Conv2d conv1{conv(3, 64, 7, 2, 3)};
  nn::BatchNorm2d bn1{64};
  std::vector<std::shared_ptr<Block>> blocks;
  nn::Linear fc{512 * Block::expansion, 1000};

  explicit ResNet(const std::vector<int>& layers) {
    register_module("conv1", conv1);
    register_module("bn1", bn1);
    int64_t in = 64;
    for (std::size_t stage = 0; stage < layers.size(); ++stage) {
      const int64_t planes = int64_t{64} << stage;
      for (int i = 0; i < layers[stage]; ++i) {
        const int64_t stride = (i == 0 && stage > 0) ? 2 : 1;
        auto block = std::make_shared<Block>(in, planes, stride);
        if (stride != 1 || in != planes * Block::expansion) {
          block->downsample =
              block->register_module("downsample", nn::Sequential(conv(in, planes * Block::expansion, 1, stride),
                                                                  nn::BatchNorm2d(planes * Block::expansion)));
        }
        blocks.push_back(register_module("layer" + std::to_string(stage + 1) + "_" + std::to_string(i), block));
        in = planes * Block::expansion;
      }
    }
    register_module("fc", fc);
    for (auto& module : modules(false)) {
      if (auto* c = module->as<nn::Conv2d>()) nn::init::kaiming_normal_(c->weight, 0, torch::kFanOut, torch::kReLU);
    }
  }
  torch::Tensor forward(torch::Tensor x) {
    x = bn1(conv1(x)).relu_();
    x = torch::max_pool2d(x, 3, 2, 1);
    for (auto& block : blocks) x = block->forward(x);
    x = torch::adaptive_avg_pool2d(x, {1, 1}).flatten(1);
    return fc(x);
  }
};

// ---------------------------------------------------------------- MobileNetV2

// Conv2dNormActivation with ReLU6: conv (pad (k-1)/2, no bias) -> BN -> ReLU6.
struct ConvBnRelu6 : nn::Module {
  nn::Conv2d conv_;
  nn::BatchNorm2d bn;
  ConvBnRelu6(int64_t in, int64_t out, int64_t kernel, int64_t stride = 1, int64_t groups = 1)
      : conv_(conv(in, out, kernel, stride, (kernel - 1) / 2, groups)), bn(out) {
    register_module("0", conv_);
    register_module("1", bn);
  }
  torch::Tensor forward(const torch::Tensor& x) {
    auto y = bn(conv_(x));
    return torch::hardtanh_(y, 0, 6);
  }
};

struct InvertedResidual : nn::Module {
  std::shared_ptr<ConvBnRelu6> expand{nullptr}, depthwise{nullptr};
  nn::Conv2d project{nullptr};
  nn::BatchNorm2d project_bn{nullptr};
  bool residual;
  InvertedResidual(int64_t in, int64_t out, int64_t stride, int64_t expand_ratio) : residual(stride == 1 && in == out) {
    const int64_t hidden = in * expand_ratio;
    if (expand_ratio != 1) expand = register_module("expand", std::make_shared<ConvBnRelu6>(in, hidden, 1));
    depthwise = register_module("depthwise", std::make_shared<ConvBnRelu6>(hidden, hidden, 3, stride, hidden));
    project = register_module("project", conv(hidden, out, 1));
    project_bn = register_module("project_bn", nn::BatchNorm2d(out));
  }
  torch::Tensor forward(const torch::Tensor& x) {
    auto y = expand ? expand->forward(x) : x;
    y = project_bn(project(depthwise->forward(y)));
    return residual ? x + y : y;
  }
};

struct MobileNetV2 : nn::Module {
  nn::Sequential features;
  nn::Dropout dropout{0.2};
  nn::Linear fc{1280, 1000};
  MobileNetV2() {
    features->push_back(ConvBnRelu6(3, 32, 3, 2));
    const int64_t settings[][4] = {{1, 16, 1, 1}, {6, 24, 2, 2},  {6, 32, 3, 2}, {6, 64, 4, 2},
                                   {6, 96, 3, 1}, {6, 160, 3, 2}, {6, 320, 1, 1}};
    int64_t in = 32;
    for (const auto& s : settings) {
      for (int64_t i = 0; i < s[2]; ++i) {
        features->push_back(InvertedResidual(in, s[1], i == 0 ? s[3] : 1, s[0]));
        in = s[1];
      }
    }
    features->push_back(ConvBnRelu6(in, 1280, 1));
    register_module("features", features);
    register_module("dropout", dropout);
    register_module("fc", fc);
    for (auto& module : modules(false)) {
      if (auto* c = module->as<nn::Conv2d>()) nn::init::kaiming_normal_(c->weight, 0, torch::kFanOut, torch::kReLU);
    }
    nn::init::normal_(fc->weight, 0, 0.01);
    nn::init::zeros_(fc->bias);
  }
  torch::Tensor forward(torch::Tensor x) {
    x = features->forward(x);
    x = torch::adaptive_avg_pool2d(x, {1, 1}).flatten(1);
    return fc(dropout(x));
  }
};

// ---------------------------------------------------------------- GoogLeNet

struct BasicConv2d : nn::Module {
  nn::Conv2d conv_;
  nn::BatchNorm2d bn;
  BasicConv2d(int64_t in, int64_t out, int64_t kernel, int64_t stride = 1, int64_t padding = 0)
      : conv_(conv(in, out, kernel, stride, padding)), bn(nn::BatchNorm2dOptions(out).eps(0.001)) {
    register_module("conv", conv_);
    register_module("bn", bn);
  }
  torch::Tensor forward(const torch::Tensor& x) { return bn(conv_(x)).relu_(); }
};

torch::Tensor max_pool_ceil(const torch::Tensor& x, int64_t kernel, int64_t stride, int64_t padding = 0) {
  return torch::max_pool2d(x, kernel, stride, padding, 1, /*ceil_mode=*/true);
}

struct Inception : nn::Module {
  std::shared_ptr<BasicConv2d> b1, b2a, b2b, b3a, b3b, b4;
  Inception(int64_t in, int64_t one, int64_t three_reduce, int64_t three, int64_t five_reduce, int64_t five,
            int64_t pool_proj)
      : b1(std::make_shared<BasicConv2d>(in, one, 1)),
        b2a(std::make_shared<BasicConv2d>(in, three_reduce, 1)),
        b2b(std::make_shared<BasicConv2d>(three_reduce, three, 3, 1, 1)),
        b3a(std::make_shared<BasicConv2d>(in, five_reduce, 1)),
        b3b(std::make_shared<BasicConv2d>(five_reduce, five, 3, 1, 1)),  // torchvision's 3x3
        b4(std::make_shared<BasicConv2d>(in, pool_proj, 1)) {
    register_module("branch1", b1);
    register_module("branch2_0", b2a);
    register_module("branch2_1", b2b);
    register_module("branch3_0", b3a);
    register_module("branch3_1", b3b);
    register_module("branch4_1", b4);
  }
  torch::Tensor forward(const torch::Tensor& x) {
    return torch::cat({b1->forward(x), b2b->forward(b2a->forward(x)), b3b->forward(b3a->forward(x)),
                       b4->forward(max_pool_ceil(x, 3, 1, 1))},
                      1);
  }
};

struct GoogLeNet : nn::Module {
  std::shared_ptr<BasicConv2d> conv1, conv2, conv3;
  std::shared_ptr<Inception> i3a, i3b, i4a, i4b, i4c, i4d, i4e, i5a, i5b;
  nn::Dropout dropout{0.2};
  nn::Linear fc{1024, 1000};
  GoogLeNet() {
    conv1 = register_module("conv1", std::make_shared<BasicConv2d>(3, 64, 7, 2, 3));
    conv2 = register_module("conv2", std::make_shared<BasicConv2d>(64, 64, 1));
    conv3 = register_module("conv3", std::make_shared<BasicConv2d>(64, 192, 3, 1, 1));
    i3a = register_module("inception3a", std::make_shared<Inception>(192, 64, 96, 128, 16, 32, 32));
    i3b = register_module("inception3b", std::make_shared<Inception>(256, 128, 128, 192, 32, 96, 64));
    i4a = register_module("inception4a", std::make_shared<Inception>(480, 192, 96, 208, 16, 48, 64));
    i4b = register_module("inception4b", std::make_shared<Inception>(512, 160, 112, 224, 24, 64, 64));
    i4c = register_module("inception4c", std::make_shared<Inception>(512, 128, 128, 256, 24, 64, 64));
    i4d = register_module("inception4d", std::make_shared<Inception>(512, 112, 144, 288, 32, 64, 64));
    i4e = register_module("inception4e", std::make_shared<Inception>(528, 256, 160, 320, 32, 128, 128));
    i5a = register_module("inception5a", std::make_shared<Inception>(832, 256, 160, 320, 32, 128, 128));
    i5b = register_module("inception5b", std::make_shared<Inception>(832, 384, 192, 384, 48, 128, 128));
    register_module("dropout", dropout);
    register_module("fc", fc);
    // torchvision: trunc_normal_(std=0.01, a=-2, b=2) for conv and linear
    // weights, the cut 200 standard deviations out.
    for (auto& module : modules(false)) {
      if (auto* c = module->as<nn::Conv2d>()) nn::init::normal_(c->weight, 0, 0.01);
    }
    nn::init::normal_(fc->weight, 0, 0.01);
  }
  torch::Tensor forward(torch::Tensor x) {
    x = max_pool_ceil(conv1->forward(x), 3, 2);
    x = conv3->forward(conv2->forward(x));
    x = max_pool_ceil(x, 3, 2);
    x = i3b->forward(i3a->forward(x));
    x = max_pool_ceil(x, 3, 2);
    x = i4e->forward(i4d->forward(i4c->forward(i4b->forward(i4a->forward(x)))));
    x = max_pool_ceil(x, 2, 2);
    x = i5b->forward(i5a->forward(x));
    x = torch::adaptive_avg_pool2d(x, {1, 1}).flatten(1);
    return fc(dropout(x));
  }
};

// ---------------------------------------------------------------- benchmark

// A model behind one forward, with torchvision's published parameter count.
struct Model {
  std::shared_ptr<nn::Module> module;
  std::function<torch::Tensor(const torch::Tensor&)> forward;
  int64_t expected_parameters;
};

template <class Net, class... Args>
Model wrap(int64_t expected, Args&&... args) {
  auto net = std::make_shared<Net>(std::forward<Args>(args)...);
  return {net, [net](const torch::Tensor& x) { return net->forward(x); }, expected};
}

Model build(const std::string& model) {
  torch::manual_seed(7);
  if (model == "resnet18") return wrap<ResNet<BasicBlock>>(11'689'512, std::vector<int>{2, 2, 2, 2});
  if (model == "resnet50") return wrap<ResNet<Bottleneck>>(25'557'032, std::vector<int>{3, 4, 6, 3});
  if (model == "mobilenet_v2") return wrap<MobileNetV2>(3'504'872);
  return wrap<GoogLeNet>(6'624'904);
}

int64_t parameter_count(const nn::Module& module) {
  int64_t n = 0;
  for (const auto& p : module.parameters()) n += p.numel();
  return n;
}

void TorchZooInference(benchmark::State& state, const std::string& model, int64_t batch, int threads) {
  torch::set_num_threads(threads);
  torch::NoGradGuard no_grad;
  static std::map<std::string, Model> models;  // drawn once per model: the weights do not change
  auto found = models.find(model);
  if (found == models.end()) found = models.emplace(model, build(model)).first;
  Model& m = found->second;
  m.module->eval();
  const int64_t parameters = parameter_count(*m.module);
  if (parameters != m.expected_parameters) {
    const std::string message = model + ": " + std::to_string(parameters) + " parameters, torchvision has " +
                                std::to_string(m.expected_parameters);
    std::fprintf(stderr, "warning: %s\n", message.c_str());
    state.SkipWithError(message.c_str());
    return;
  }
  torch::manual_seed(2);
  const auto x = torch::rand({batch, 3, 224, 224});
  m.forward(x);
  for (auto _ : state) {
    auto y = m.forward(x);
    benchmark::DoNotOptimize(y.data_ptr());
  }
  state.SetItemsProcessed(state.iterations() * batch);
}

// As bench/zoo.cpp: batch 1 for a second per case, batch 32 for 3 calls.
[[maybe_unused]] const bool registered = [] {
  for (const char* model : {"resnet18", "resnet50", "mobilenet_v2", "googlenet"}) {
    for (int64_t batch : {int64_t{1}, int64_t{32}}) {
      for (int threads : {1, 2}) {
        const std::string name = std::string("TorchZooInference/model:") + model + "/batch:" + std::to_string(batch) +
                                 "/threads:" + std::to_string(threads);
        auto* bench = benchmark::RegisterBenchmark(name.c_str(), TorchZooInference, std::string(model), batch, threads);
        bench->UseRealTime()->Unit(benchmark::kMillisecond);
        if (batch == 1) {
          bench->MinTime(1.0);
        } else {
          bench->Iterations(3);
        }
      }
    }
  }
  return true;
}();

}  // namespace
