// The ResNet-8 trainer: Fashion-MNIST's first 55,000 training images train,
// the last 5,000 are the validation set reported every epoch, and the test
// set is evaluated once, at the end. SGD with Nesterov momentum, weight decay
// and a cosine learning-rate schedule; random crops (zero padding 2) and
// horizontal flips. Writes the model, the loss and accuracy curves and
// feature maps of each stage into --out.
//
//   resnet_fashion                          # the default run (docs/resnet-fashion.md)
//   resnet_fashion --epochs 3 --train-limit 5000
//   mpirun -np 2 resnet_fashion             # built with fovea::mpi: 2 processes share each batch

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <fovea/fovea.hpp>
#include <fovea/io/data/dataset.hpp>
#include <fovea/io/image/png.hpp>
#include <fovea/io/report/csv.hpp>
#include <fovea/io/report/svg_plot.hpp>
#include <fovea/io/report/tile_grid.hpp>
#include <fovea/models/resnet.hpp>
#include <iostream>

#include "mnist_source.hpp"
#ifdef FOVEA_WITH_MPI
#include <fovea/mpi.hpp>
#endif

namespace {

struct Settings {
  std::string data_folder;
  int epochs = 15;
  fovea::Index batch_size = 128;
  double learning_rate = 0.1;
  double momentum = 0.9;
  double weight_decay = 5e-4;
  fovea::Index validation = 5000;
  fovea::Index crop_padding = 2;
  bool flip = true;
  bool lane_statistics = false;
  int threads = 0;
  std::uint64_t seed = 1;
  fovea::Index train_limit = 0;
  std::string out = "resnet-out";
  std::string progress = "auto";
};

// The feature maps of node `name` for one image, as a PNG grid.
void write_feature_maps(fovea::Graph<float>& net, const std::string& name, fovea::TensorView<const float, 4> image,
                        const fs::path& path) {
  const bool training = net.training();
  net.set_training(false);
  net.forward(image);
  net.set_training(training);
  fovea::write_png(path, fovea::tile_grid(net.activation(name).item(0), {.scale = 4}));
}

}  // namespace

int main(int argc, char** argv) {
#ifdef FOVEA_WITH_MPI
  // MPI only when started by mpirun or srun; then every rank loads the data
  // and trains on its share of each batch, and rank 0 alone prints and writes.
  fovea::mpi::Session session(argc, argv);
  const int ranks = session.size();
  // A rank that stops early must take the others with it, or they would wait for it.
  const auto stop = [&](int code) {
    if (ranks > 1) MPI_Abort(MPI_COMM_WORLD, code);
    return code;
  };
  if (!session.is_root()) static_cast<void>(std::freopen("/dev/null", "w", stdout));
#else
  const int ranks = 1;
  const auto stop = [](int code) { return code; };
#endif
  Settings s;
  CLI::App app{"Train ResNet-8 on Fashion-MNIST with fovea"};
  app.add_option("--data", s.data_folder,
                 "Folder with the idx files (default: $FOVEA_DATA, ./data/mnist, /usr/share/datasets/fashion-mnist)");
  app.add_option("--epochs", s.epochs, "Training epochs")->check(CLI::PositiveNumber);
  app.add_option("--batch-size", s.batch_size, "Minibatch size")->check(CLI::PositiveNumber);
  app.add_option("--lr", s.learning_rate, "Peak learning rate (cosine schedule)")->check(CLI::PositiveNumber);
  app.add_option("--momentum", s.momentum, "Nesterov momentum")->check(CLI::Range(0.0, 0.999));
  app.add_option("--weight-decay", s.weight_decay, "Weight decay")->check(CLI::Range(0.0, 0.5));
  app.add_option("--val", s.validation, "Training images held out (the last N) as the validation set")
      ->check(CLI::PositiveNumber);
  app.add_option("--crop-padding", s.crop_padding, "Random crops after this much zero padding (0: no crops)")
      ->check(CLI::NonNegativeNumber);
  app.add_flag("!--no-flip", s.flip, "No random horizontal flips");
  app.add_option("--threads", s.threads, "Threads (0: all cores)")->check(CLI::NonNegativeNumber);
  app.add_flag("--lane-statistics", s.lane_statistics,
               "Each thread's lane normalises with its own samples' batch statistics (faster; see docs)");
  app.add_option("--seed", s.seed, "Seed for initialisation, shuffling and augmentation");
  app.add_option("--train-limit", s.train_limit, "Use only the first N training images (0: all)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--out", s.out, "Folder for the model, pictures and curves");
  app.add_option("--progress", s.progress, "auto (bar on a terminal), bar, lines or none")
      ->check(CLI::IsMember({"auto", "bar", "lines", "none"}));
  CLI11_PARSE(app, argc, argv);

  try {
    // Data: the training files' last `validation` images validate, the test files test.
    const std::optional<MnistFiles> files = find_training_files(candidate_folders(s.data_folder));
    if (!files) return stop(2);
    fovea::Dataset all_train = fovea::load_idx_dataset(*files->train_images, *files->train_labels);
    const fovea::Dataset test = fovea::load_idx_dataset(files->test_images, files->test_labels);
    if (s.validation >= all_train.size()) {
      std::cerr << "error: --val " << s.validation << " leaves no training images out of " << all_train.size() << "\n";
      return stop(2);
    }
    auto [train, validation] = all_train.split(all_train.size() - s.validation);
    if (s.train_limit > 0 && s.train_limit < train.size()) train = train.slice(0, s.train_limit);
    // Statistics of the training images only.
    const auto norm = train.mean_std();
    train = train.normalized(norm);
    validation = validation.normalized(norm);
    const fovea::Dataset test_set = test.normalized(norm);
    const fovea::Augmented<fovea::Dataset> augmented(
        train, {.crop_padding = s.crop_padding, .horizontal_flip = s.flip, .seed = s.seed});
    std::cout << "data: " << files->folder.string() << ", " << train.size() << " train / " << validation.size()
              << " validation / " << test_set.size() << " test images, normalised (mean " << norm.mean << ", std "
              << norm.stddev << ")\n";

    // Network, loss, optimizer.
#ifdef FOVEA_WITH_MPI
    // Ranks on one machine share its cores.
    if (s.threads == 0 && session.local_size() > 1) {
      s.threads = std::max(1, fovea::max_threads() / session.local_size());
    }
#endif
    auto net = fovea::models::resnet8<float>({.classes = 10, .in_channels = 1, .seed = s.seed});
    std::cout << net.summary(s.batch_size) << "\n";
    fovea::SoftmaxCrossEntropy<float> loss;
    fovea::Sgd<float> sgd(
        net.params(),
        {.learning_rate = s.learning_rate, .momentum = s.momentum, .nesterov = true, .weight_decay = s.weight_decay});
    const fovea::Schedule schedule = fovea::Schedule::cosine(s.epochs, 0.0);
    std::cout << "optimizer: " << sgd.describe() << ", schedule " << schedule.describe() << ", batch " << s.batch_size
              << ", augmentation: crop padding " << s.crop_padding << (s.flip ? ", flips" : "");
    if (ranks > 1) std::cout << ", " << ranks << " ranks";
    std::cout << "\n";

    const fovea::FitOptions options{
        .epochs = s.epochs,
        .batch_size = s.batch_size,
        .seed = s.seed,
        .threads = s.threads,
        .lane_statistics = s.lane_statistics ? fovea::LaneStatistics::per_lane : fovea::LaneStatistics::whole_batch,
        .schedule = schedule,
        .progress = s.progress == "bar"     ? fovea::ProgressStyle::bar
                    : s.progress == "lines" ? fovea::ProgressStyle::lines
                    : s.progress == "none"  ? fovea::ProgressStyle::silent
                                            : fovea::ProgressStyle::automatic,
    };
    const auto started = std::chrono::steady_clock::now();
#ifdef FOVEA_WITH_MPI
    const fovea::History history = fovea::mpi::fit(session, net, loss, sgd, augmented, validation, options);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    // The test set, once, split across the ranks.
    const fovea::Evaluation result = fovea::mpi::evaluate(session, net, loss, test_set);
#else
    const fovea::History history = fovea::fit(net, loss, sgd, augmented, validation, options);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    // The test set, once.
    const fovea::Evaluation result = fovea::evaluate(net, loss, test_set);
#endif
    std::cout << "\nconfusion matrix on " << test_set.size() << " test images (rows: true class):\n"
              << result.confusion.to_string(class_names(true));

    // Model and pictures: rank 0's (every rank holds the same weights), then the last line.
    const auto correct = static_cast<fovea::Index>(std::lround(result.accuracy * static_cast<double>(test_set.size())));
    const auto last_lines = [&] {
      std::printf("%d epochs in %.1f s\n", static_cast<int>(history.epochs.size()), seconds);
      std::printf("test accuracy %.2f%% (%s/%s)\n", 100 * result.accuracy, fovea::group_thousands(correct).c_str(),
                  fovea::group_thousands(test_set.size()).c_str());
    };
#ifdef FOVEA_WITH_MPI
    if (!session.is_root()) {
      last_lines();  // to /dev/null: rank 0 prints it
      return 0;
    }
#endif
    const fs::path out(s.out);
    fs::create_directories(out);
    fovea::save(net, out / "resnet8.fovea");
    fovea::Tensor<float, 4> one_image({1, 1, 28, 28});
    std::vector<std::int32_t> one_label(1);
    const fovea::Index first = 0;
    test_set.make_batch(std::span<const fovea::Index>(&first, 1), one_image.view(), std::span<std::int32_t>(one_label));
    fovea::write_png(out / "input.png", fovea::tile_grid(one_image.view().item(0), {.scale = 4}));
    for (const char* stage : {"relu", "layer1.0", "layer2.0", "layer3.0"}) {
      write_feature_maps(net, stage, one_image, out / (std::string(stage) + "_maps.png"));
    }
    std::vector<double> train_loss, val_loss, train_acc, val_acc;
    std::vector<std::vector<double>> rows;
    for (const auto& e : history.epochs) {
      train_loss.push_back(e.train_loss);
      val_loss.push_back(*e.validation_loss);
      train_acc.push_back(100 * e.train_accuracy);
      val_acc.push_back(100 * *e.validation_accuracy);
      rows.push_back({static_cast<double>(e.epoch + 1), e.learning_rate, e.train_loss, e.train_accuracy,
                      *e.validation_loss, *e.validation_accuracy, e.seconds, e.images_per_second});
    }
    fovea::write_svg(out / "loss.svg", {.title = "ResNet-8 loss",
                                        .y_label = "cross-entropy",
                                        .series = {{"train", train_loss}, {"validation", val_loss}}});
    fovea::write_svg(out / "accuracy.svg", {.title = "ResNet-8 accuracy",
                                            .y_label = "accuracy (%)",
                                            .series = {{"train", train_acc}, {"validation", val_acc}}});
    fovea::write_csv(out / "history.csv",
                     {"epoch", "learning_rate", "train_loss", "train_accuracy", "validation_loss",
                      "validation_accuracy", "seconds", "images_per_second"},
                     rows);
    std::cout << "wrote " << (out / "resnet8.fovea").string()
              << ", input.png, relu_maps.png, layer1.0_maps.png, layer2.0_maps.png, layer3.0_maps.png, loss.svg, "
                 "accuracy.svg, history.csv\n";
    last_lines();
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return stop(1);
  }
}
