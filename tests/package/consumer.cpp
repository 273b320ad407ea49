// A program a fovea user would write: it must build against an installed or
// embedded fovea with nothing but fovea::fovea on its link line.
#include <fovea/fovea.hpp>
#include <iostream>

int main() {
  fovea::Tensor<float, 2> a({2, 3}, {1, 2, 3, 4, 5, 6});
  fovea::Tensor<float, 2> b = fovea::Tensor<float, 2>::full({3, 2}, 1.0f);
  Eigen::MatrixXf product = a.matrix() * b.matrix();
  std::cout << a << "\nrow sums via GEMM: " << product(0, 0) << ' ' << product(1, 0) << '\n';
  return (product(0, 0) == 6.0f && product(1, 1) == 15.0f) ? 0 : 1;
}
