#pragma once

// Where the LeNet trainer finds MNIST-format data. Tried in order:
// --data DIR, $FOVEA_DATA, ./data/mnist, and Debian's dataset-fashion-mnist.
// A folder with train-* and t10k-* files gives the official split; a folder
// with only the t10k-* files (10,000 images) is split first-k / rest.

#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

namespace fs = std::filesystem;

struct MnistFiles {
  fs::path folder;
  std::optional<fs::path> train_images, train_labels;
  fs::path test_images, test_labels;
  bool fashion = false;  // Fashion-MNIST: class names are clothes
};

inline std::optional<fs::path> find_idx(const fs::path& folder, const std::string& stem) {
  for (const std::string suffix : {"", ".gz"}) {
    const fs::path p = folder / (stem + suffix);
    if (fs::is_regular_file(p)) return p;
  }
  return std::nullopt;
}

inline std::optional<MnistFiles> probe_folder(const fs::path& folder) {
  auto test_images = find_idx(folder, "t10k-images-idx3-ubyte");
  auto test_labels = find_idx(folder, "t10k-labels-idx1-ubyte");
  if (!test_images || !test_labels) return std::nullopt;
  MnistFiles files{folder, find_idx(folder, "train-images-idx3-ubyte"), find_idx(folder, "train-labels-idx1-ubyte"),
                   *test_images, *test_labels};
  if (!files.train_images || !files.train_labels) files.train_images = files.train_labels = std::nullopt;
  files.fashion = folder.string().find("fashion") != std::string::npos;
  return files;
}

// The places searched, in order, for error messages and --help.
inline std::vector<fs::path> candidate_folders(const std::string& explicit_folder) {
  std::vector<fs::path> folders;
  if (!explicit_folder.empty()) return {fs::path(explicit_folder)};
  if (const char* env = std::getenv("FOVEA_DATA"); env != nullptr && *env != '\0') folders.emplace_back(env);
  folders.emplace_back("data/mnist");
  folders.emplace_back("/usr/share/datasets/fashion-mnist");
  return folders;
}

// The first folder of `folders` with all four idx files, training ones
// included; none: says on stderr where it looked and how to get
// Fashion-MNIST (the trainers that need the 60,000 training images).
inline std::optional<MnistFiles> find_training_files(const std::vector<fs::path>& folders) {
  for (const auto& folder : folders) {
    if (auto files = probe_folder(folder); files && files->train_images) return files;
  }
  std::cerr << "error: no folder with the four Fashion-MNIST idx files found. Searched:\n";
  for (const auto& folder : folders) std::cerr << "  " << folder.string() << "\n";
  std::cerr << "Install Debian's Fashion-MNIST: apt-get install dataset-fashion-mnist\n";
  return std::nullopt;
}

inline const std::vector<std::string>& class_names(bool fashion) {
  static const std::vector<std::string> digits = {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"};
  static const std::vector<std::string> clothes = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                                   "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
  return fashion ? clothes : digits;
}
