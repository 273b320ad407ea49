// A first look at fovea's Tensor: shapes, views of a batch, and Eigen maps
// that turn a tensor into a matrix for GEMM without copying.
#include <fovea/fovea.hpp>
#include <iostream>

int main() {
  fovea::Rng rng(7);
  // A batch of 4 single-channel 3x3 "images", NCHW.
  auto batch = fovea::Tensor<float, 4>::uniform({4, 1, 3, 3}, rng, 0.0f, 1.0f);
  std::cout << "batch " << fovea::to_string(batch.shape()) << ", " << batch.size() << " values\n";

  // One image of the batch, as a view that shares memory.
  auto second = batch.item(1);
  std::cout << "second image:\n" << second << "\n";

  // The batch as a [4, 9] matrix: one row per image, multiplied by [9, 2].
  fovea::Tensor<float, 2> weights = fovea::Tensor<float, 2>::normal({9, 2}, rng, 0.0f, 0.1f);
  fovea::Tensor<float, 2> scores({4, 2});
  scores.matrix().noalias() = batch.matrix(1) * weights.matrix();
  std::cout << "scores:\n" << scores << "\n";
}
