// The translation unit whose compile time bench/compile_time.sh measures: the
// umbrella header and one LeNet-5 trained with SGD (forward, backward, update
// and fit), as a program that uses fovea would be. It runs (a few synthetic
// batches), but the script only compiles it.

#include <fovea/fovea.hpp>
#include <iostream>

int main() {
  using namespace fovea;
  Rng rng(1);
  auto images = Tensor<float, 4>::normal({256, 1, 28, 28}, rng, 0.0, 1.0);
  std::vector<std::int32_t> labels(256);
  for (std::size_t i = 0; i < labels.size(); ++i) labels[i] = static_cast<std::int32_t>(i % 10);
  const TensorDataset<float> train(std::move(images), std::move(labels));

  Sequential<float> net = make_lenet5<float>({.seed = 1});
  SoftmaxCrossEntropy<float> loss;
  Sgd<float> sgd(net.params(), {.learning_rate = 0.05, .momentum = 0.9});
  const History history =
      fit(net, loss, sgd, train, {.epochs = 1, .batch_size = 64, .progress = ProgressStyle::silent});
  std::cout << "loss " << history.epochs.back().train_loss << '\n';
  return 0;
}
