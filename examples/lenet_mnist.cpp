// The LeNet-5 trainer: reads MNIST-format data, holds the last part of the
// training images out for validation, trains, reports per-epoch loss and
// accuracy on both, evaluates the test set once at the end (confusion matrix),
// saves the model, and writes pictures (conv1 filters, feature maps, training
// curves) into --out. The test set plays no part in choosing settings: only
// the validation figures do.
//
//   lenet_mnist                             # first data source found, 10 epochs
//   lenet_mnist --data ../shared/data/mnist --split 8000
//   lenet_mnist --dataset fashion --epochs 10 --optimizer adam --lr 0.001
//   mpirun -np 4 lenet_mnist ...           # built with fovea::mpi: 4 processes share each batch
//                                          # (same results as one; docs/distributed.md)

#include <CLI/CLI.hpp>
#include <chrono>
#include <fovea/fovea.hpp>
#include <fovea/io/data/dataset.hpp>
#include <fovea/io/image/png.hpp>
#include <fovea/io/report/csv.hpp>
#include <fovea/io/report/svg_plot.hpp>
#include <fovea/io/report/tile_grid.hpp>
#include <fovea/models/lenet.hpp>
#include <iostream>
#include <limits>
#include <memory>

#include "mnist_source.hpp"
#ifdef FOVEA_WITH_MPI
#include <fovea/mpi.hpp>
#endif

namespace {

struct Settings {
  std::string data_folder;
  std::string dataset = "auto";
  int epochs = 10;
  fovea::Index batch_size = 64;
  double learning_rate = 0.05;
  std::string optimizer = "momentum";
  double momentum = 0.9;
  double weight_decay = 0.0005;  // L2 pull towards 0: +0.3 to +0.9 points on Fashion-MNIST (docs/lenet-mnist.md)
  std::string schedule = "cosine";
  std::vector<fovea::Index> hidden = {120, 84};
  int threads = 0;
  std::uint64_t seed = 1;
  fovea::Index train_limit = 0;
  fovea::Index test_limit = 0;
  fovea::Index split = 8000;
  fovea::Index validation = -1;  // -1: 1/12 of the training images (5,000 of Fashion-MNIST's 60,000)
  std::string out = "lenet-out";
  std::string progress = "auto";
  bool normalize = false;
};

std::unique_ptr<fovea::Optimizer<float>> make_optimizer(const Settings& s,
                                                        std::vector<fovea::Parameter<float>> params) {
  if (s.optimizer == "sgd")
    return std::make_unique<fovea::Sgd<float>>(
        params, fovea::SgdOptions{.learning_rate = s.learning_rate, .weight_decay = s.weight_decay});
  if (s.optimizer == "momentum" || s.optimizer == "nesterov") {
    return std::make_unique<fovea::Sgd<float>>(params, fovea::SgdOptions{.learning_rate = s.learning_rate,
                                                                         .momentum = s.momentum,
                                                                         .nesterov = s.optimizer == "nesterov",
                                                                         .weight_decay = s.weight_decay});
  }
  if (s.optimizer == "adam" || s.optimizer == "adamw") {
    return std::make_unique<fovea::Adam<float>>(params,
                                                fovea::AdamOptions{.learning_rate = s.learning_rate,
                                                                   .weight_decay = s.weight_decay,
                                                                   .decoupled_weight_decay = s.optimizer == "adamw"});
  }
  if (s.optimizer == "rmsprop")
    return std::make_unique<fovea::Rmsprop<float>>(params, fovea::RmspropOptions{.learning_rate = s.learning_rate});
  return std::make_unique<fovea::Adagrad<float>>(params, fovea::AdagradOptions{.learning_rate = s.learning_rate});
}

fovea::Schedule make_schedule(const Settings& s) {
  if (s.schedule == "cosine") return fovea::Schedule::cosine(s.epochs, 0.05);
  if (s.schedule == "step") return fovea::Schedule::step(std::max(1, s.epochs / 3), 0.3);
  return fovea::Schedule::constant();
}

// Feature maps of the layer at `index` for one image, as a PNG grid.
void write_feature_maps(fovea::Graph<float>& net, std::size_t index, fovea::TensorView<const float, 4> image,
                        const fs::path& path) {
  net.set_training(false);
  net.forward(image);
  net.set_training(true);
  // Run the layers up to `index` again to reach the intermediate activation.
  fovea::Tensor<float, 4> current(image);
  for (std::size_t i = 0; i <= index; ++i) {
    current = fovea::forward(net.layer(i), fovea::TensorView<const float, 4>(current), false);
  }
  const auto maps = current.view().item(0);
  fovea::write_png(path, fovea::tile_grid(maps, {.scale = 4}));
}

}  // namespace

int main(int argc, char** argv) {
#ifdef FOVEA_WITH_MPI
  // MPI only when started by mpirun or srun; then every rank loads the data
  // and trains on its share of each batch, and rank 0 alone prints and writes.
  fovea::mpi::Session session(argc, argv);
  const int rank = session.rank();
  const int ranks = session.size();
  // A rank that stops early must take the others with it, or they would wait for it.
  const auto stop = [&](int code) {
    if (ranks > 1) MPI_Abort(MPI_COMM_WORLD, code);
    return code;
  };
  if (!session.is_root()) static_cast<void>(std::freopen("/dev/null", "w", stdout));
#else
  const int rank = 0;
  const int ranks = 1;
  const auto stop = [](int code) { return code; };
#endif
  Settings s;
  CLI::App app{"Train LeNet-5 on MNIST or Fashion-MNIST with fovea"};
  app.add_option("--data", s.data_folder,
                 "Folder with the idx files (default: $FOVEA_DATA, ./data/mnist, /usr/share/datasets/fashion-mnist)");
  app.add_option("--dataset", s.dataset, "Class names to print: mnist, fashion or auto (from the folder name)")
      ->check(CLI::IsMember({"auto", "mnist", "fashion"}));
  app.add_option("--epochs", s.epochs, "Training epochs")->check(CLI::PositiveNumber);
  app.add_option("--batch-size", s.batch_size, "Minibatch size")->check(CLI::PositiveNumber);
  app.add_option("--lr", s.learning_rate, "Learning rate")->check(CLI::PositiveNumber);
  app.add_option("--optimizer", s.optimizer, "sgd, momentum, nesterov, adam, adamw, rmsprop or adagrad")
      ->check(CLI::IsMember({"sgd", "momentum", "nesterov", "adam", "adamw", "rmsprop", "adagrad"}));
  app.add_option("--momentum", s.momentum, "Momentum for momentum/nesterov")->check(CLI::Range(0.0, 0.999));
  app.add_option("--weight-decay", s.weight_decay, "Weight decay")->check(CLI::Range(0.0, 0.5));
  app.add_option("--schedule", s.schedule, "Learning-rate schedule: constant, step or cosine")
      ->check(CLI::IsMember({"constant", "step", "cosine"}));
  app.add_option("--fc", s.hidden, "Widths of the hidden fully connected layers, e.g. --fc 120 84 or --fc 120 100")
      ->expected(1, 8);
  app.add_option("--threads", s.threads, "Threads (0: all cores)")->check(CLI::NonNegativeNumber);
  app.add_option("--seed", s.seed, "Seed for initialisation and shuffling");
  app.add_option("--train-limit", s.train_limit, "Use only the first N training images (0: all)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--test-limit", s.test_limit, "Use only the first N test images (0: all)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--split", s.split, "With only the t10k files: the first N train, the rest test")
      ->check(CLI::PositiveNumber);
  app.add_option("--val", s.validation,
                 "Hold the last N training images out for validation (default: 1/12 of them, 5,000 of 60,000; "
                 "0: none)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--out", s.out, "Folder for the model, pictures and curves");
  app.add_option("--progress", s.progress, "auto (bar on a terminal), bar, lines or none")
      ->check(CLI::IsMember({"auto", "bar", "lines", "none"}));
  app.add_flag("--normalize", s.normalize,
               "Normalise pixels by the training set's mean and std (default: scale to [0, 1])");
  CLI11_PARSE(app, argc, argv);

  try {
    // Data.
    std::optional<MnistFiles> files;
    const auto folders = candidate_folders(s.data_folder);
    for (const auto& folder : folders) {
      if ((files = probe_folder(folder))) break;
    }
    if (!files) {
      std::cerr << "error: no MNIST-format data found. Searched:\n";
      for (const auto& folder : folders) std::cerr << "  " << folder.string() << "\n";
      std::cerr << "Get real MNIST with scripts/get-mnist (needs internet), or install Debian's Fashion-MNIST:\n"
                   "  apt-get install dataset-fashion-mnist\n";
      return stop(2);
    }
    const bool fashion = s.dataset == "auto" ? files->fashion : s.dataset == "fashion";
    fovea::Dataset train, test;
    if (files->train_images) {
      train = fovea::load_idx_dataset(*files->train_images, *files->train_labels);
      test = fovea::load_idx_dataset(files->test_images, files->test_labels);
    } else {
      auto all = fovea::load_idx_dataset(files->test_images, files->test_labels);
      if (s.split >= all.size()) {
        std::cerr << "error: --split " << s.split << " leaves no test images out of " << all.size() << "\n";
        return stop(2);
      }
      std::tie(train, test) = all.split(s.split);
    }
    if (s.train_limit > 0 && s.train_limit < train.size()) train = train.slice(0, s.train_limit);
    if (s.test_limit > 0 && s.test_limit < test.size()) test = test.slice(0, s.test_limit);
    // The validation images come from the training set, never from the test
    // set: settings are chosen on them, and the test set is looked at once.
    const fovea::Index validation_count = s.validation >= 0 ? s.validation : train.size() / 12;
    if (validation_count >= train.size()) {
      std::cerr << "error: --val " << validation_count << " leaves no training images out of " << train.size() << "\n";
      return stop(2);
    }
    fovea::Dataset validation;
    std::tie(train, validation) = train.split(train.size() - validation_count);
    if (s.normalize) {
      // Statistics of the training images only; classify needs the same two numbers.
      const auto norm = train.mean_std();
      train = train.normalized(norm);
      validation = validation.normalized(norm);
      test = test.normalized(norm);
      std::printf("normalised with the training set's mean %.4f and std %.4f (pass --mean/--std to classify)\n",
                  norm.mean, norm.stddev);
    }
    std::cout << "data: " << files->folder.string() << (fashion ? " (Fashion-MNIST)" : " (MNIST)") << ", "
              << train.size() << " train / " << validation.size() << " validation / " << test.size()
              << " test images\n";

    // Network, loss, optimizer.
    if (s.threads > 0) fovea::set_threads(s.threads);
#ifdef FOVEA_WITH_MPI
    // Ranks on one machine share its cores.
    if (s.threads == 0 && session.local_size() > 1) {
      fovea::set_threads(std::max(1, fovea::max_threads() / session.local_size()));
    }
#endif
    const fovea::SampleShape sample = train.sample_shape();
    auto net = fovea::models::lenet5<float>(
        {.classes = 10, .in_channels = sample[0], .height = sample[1], .width = sample[2], .seed = s.seed},
        {.hidden = s.hidden});
    std::cout << net.summary(s.batch_size) << "\n";
    fovea::SoftmaxCrossEntropy<float> loss;
    auto optimizer = make_optimizer(s, net.params());
    std::cout << "optimizer: " << optimizer->describe() << ", schedule " << make_schedule(s).describe() << ", batch "
              << s.batch_size << ", threads " << fovea::max_threads();
    if (ranks > 1) std::cout << " in each of " << ranks << " ranks";
    std::cout << "\n";

    const fovea::FitOptions options{
        .epochs = s.epochs,
        .batch_size = s.batch_size,
        .seed = s.seed,
        .schedule = make_schedule(s),
        .progress = s.progress == "bar"     ? fovea::ProgressStyle::bar
                    : s.progress == "lines" ? fovea::ProgressStyle::lines
                    : s.progress == "none"  ? fovea::ProgressStyle::silent
                                            : fovea::ProgressStyle::automatic,
    };
    const auto started = std::chrono::steady_clock::now();
#ifdef FOVEA_WITH_MPI
    const fovea::History history = validation.size() > 0
                                       ? fovea::mpi::fit(session, net, loss, *optimizer, train, validation, options)
                                       : fovea::mpi::fit(session, net, loss, *optimizer, train, options);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    const fovea::Evaluation result = fovea::mpi::evaluate(session, net, loss, test);
#else
    const fovea::History history = validation.size() > 0 ? fovea::fit(net, loss, *optimizer, train, validation, options)
                                                         : fovea::fit(net, loss, *optimizer, train, options);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    const fovea::Evaluation result = fovea::evaluate(net, loss, test);
#endif
    std::cout << "\nconfusion matrix on " << test.size() << " test images (rows: true class):\n"
              << result.confusion.to_string(class_names(fashion));
    double train_seconds = 0;
    for (const auto& e : history.epochs) train_seconds += e.seconds;
    std::printf("\ntest accuracy %.2f%%, test loss %.4f, %d epochs in %.1f s (%.0f train images/s)\n",
                100 * result.accuracy, result.loss, static_cast<int>(history.epochs.size()), seconds,
                static_cast<double>(train.size()) * static_cast<double>(history.epochs.size()) / train_seconds);

    // Model and pictures: rank 0's (every rank holds the same weights).
#ifdef FOVEA_WITH_MPI
    if (!session.is_root()) return 0;
#endif
    const fs::path out(s.out);
    fs::create_directories(out);
    fovea::save(net, out / "lenet.fovea");
    fovea::write_png(out / "conv1_filters.png",
                     fovea::tile_grid(net.params()[0].value.reshape(fovea::Shape<4>{6, 1, 5, 5}), {.scale = 8}));
    fovea::Tensor<float, 4> one_image({1, 1, train.sample_shape()[1], train.sample_shape()[2]});
    std::vector<std::int32_t> one_label(1);
    const fovea::Index first = 0;
    test.make_batch(std::span<const fovea::Index>(&first, 1), one_image.view(), std::span<std::int32_t>(one_label));
    fovea::write_png(out / "input.png", fovea::tile_grid(one_image.view().item(0), {.scale = 4}));
    write_feature_maps(net, 1, one_image, out / "conv1_maps.png");
    write_feature_maps(net, 4, one_image, out / "conv2_maps.png");

    // Without a validation set its columns hold NaN (the charts leave those out).
    const double none = std::numeric_limits<double>::quiet_NaN();
    std::vector<double> train_loss, validation_loss, train_acc, validation_acc;
    std::vector<std::vector<double>> rows;
    for (const auto& e : history.epochs) {
      train_loss.push_back(e.train_loss);
      validation_loss.push_back(e.validation_loss.value_or(none));
      train_acc.push_back(100 * e.train_accuracy);
      validation_acc.push_back(100 * e.validation_accuracy.value_or(none));
      rows.push_back({static_cast<double>(e.epoch + 1), e.learning_rate, e.train_loss, e.train_accuracy,
                      e.validation_loss.value_or(none), e.validation_accuracy.value_or(none), e.seconds,
                      e.images_per_second});
    }
    fovea::write_svg(out / "loss.svg", {.title = "LeNet-5 loss",
                                        .y_label = "cross-entropy",
                                        .series = {{"train", train_loss}, {"validation", validation_loss}}});
    fovea::write_svg(out / "accuracy.svg", {.title = "LeNet-5 accuracy",
                                            .y_label = "accuracy (%)",
                                            .series = {{"train", train_acc}, {"validation", validation_acc}}});
    fovea::write_csv(out / "history.csv",
                     {"epoch", "learning_rate", "train_loss", "train_accuracy", "validation_loss",
                      "validation_accuracy", "seconds", "images_per_second"},
                     rows);
    std::cout
        << "wrote " << (out / "lenet.fovea").string()
        << ", conv1_filters.png, input.png, conv1_maps.png, conv2_maps.png, loss.svg, accuracy.svg, history.csv\n";
    return 0;
  } catch (const std::exception& e) {
    if (ranks > 1) std::cerr << "rank " << rank << " of " << ranks << ": ";
    std::cerr << "error: " << e.what() << "\n";
    return stop(1);
  }
}
