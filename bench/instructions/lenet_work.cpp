// The LeNet work of bench/lenet.cpp's LenetTrainStep and LenetInference
// without Google Benchmark, for counting instructions under valgrind, which
// is exact where timings on a busy machine are not (docs/benchmarks.md):
//
//   lenet_work train|infer1|infer256 <iterations>
//
// One thread. The difference between two iteration counts removes the setup.

#include <cstdlib>
#include <fovea/fovea.hpp>
#include <iostream>
#include <string>

int main(int argc, char** argv) {
  using namespace fovea;
  if (argc != 3) {
    std::cerr << "usage: lenet_work train|infer1|infer256 <iterations>\n";
    return 2;
  }
  const std::string mode = argv[1];
  const int iters = std::atoi(argv[2]);
  set_threads(1);
  Rng rng(3);
  if (mode == "train") {
    const Index n = 64;
    auto x = Tensor<float, 4>::normal({n, 1, 28, 28}, rng, 0.0, 1.0);
    std::vector<std::int32_t> labels(n);
    for (Index i = 0; i < n; ++i) labels[static_cast<std::size_t>(i)] = static_cast<std::int32_t>(i % 10);
    auto net = make_lenet5<float>({.seed = 7});
    SoftmaxCrossEntropy<float> loss;
    Sgd<float> sgd{net.params(), {.learning_rate = 0.01, .momentum = 0.9}};
    DataParallel<float> lanes{net};
    Tensor<float, 2> scores{{n, 10}};
    float v = 0;
    for (int i = 0; i < iters; ++i) {
      sgd.zero_grad();
      v += lanes.forward_backward(x, Targets<float>(labels), loss, scores);
      sgd.step();
    }
    std::cout << v << '\n';
  } else {
    const Index n = mode == "infer1" ? 1 : 256;
    auto x = Tensor<float, 4>::normal({n, 1, 28, 28}, rng, 0.0, 1.0);
    auto net = make_lenet5<float>({.seed = 7});
    net.set_training(false);
    float v = 0;
    for (int i = 0; i < iters; ++i) v += net.forward(x).data()[0];
    std::cout << v << '\n';
  }
}
