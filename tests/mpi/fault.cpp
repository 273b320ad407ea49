// One rank fails while the other waits in a collective: run by fault.sh under
// `mpirun -np 2`, which checks that both stop within seconds with the failing
// rank's message.
//
//   test_mpi_fault missing-file   rank 1 cannot open its data file
//   test_mpi_fault bad-label      a label out of range in rank 1's share of a batch

#include <fovea/fovea.hpp>
#include <fovea/mpi.hpp>
#include <string>

#include "../support/small_cnn.hpp"

int main(int argc, char** argv) {
  fovea::mpi::Session session(argc, argv);
  const std::string mode = argc > 1 ? argv[1] : "";
  return session.run([&] {
    using namespace fovea;
    if (mode == "missing-file" && session.rank() == 1) {
      throw io_error("load_idx_dataset: cannot open '/data/mnist/train-images-idx3-ubyte.gz' (No such file)");
    }
    Tensor<float, 4> x(Shape<4>{64, 1, 8, 8});
    x.fill(0.5f);
    std::vector<std::int32_t> labels(64, 1);
    if (mode == "bad-label") labels[37] = 9;  // 4 classes
    const TensorDataset<float> data(std::move(x), std::move(labels));
    auto net = test::small_cnn<float>(7, 8);
    SoftmaxCrossEntropy<float> loss;
    Sgd<float> sgd(net.params(), SgdOptions{.learning_rate = 0.05});
    // One shuffled batch of all 64 samples: sample 37 falls in one rank's half,
    // which fails while the other waits to sum the gradients.
    mpi::fit(session, net, loss, sgd, data, FitOptions{.epochs = 1000, .batch_size = 64, .seed = 1, .log = nullptr});
    return 0;
  });
}
