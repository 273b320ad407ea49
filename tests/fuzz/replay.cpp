// Replays every input the fuzzers ever found (tests/fuzz/regressions/<target>/)
// and every generated seed through the same code the fuzz targets run, in the
// normal build: each must give a value or a fovea exception, never a crash.

#include <catch2/catch.hpp>
#include <filesystem>
#include <string>

#include "fuzz/seeds.hpp"
#include "fuzz/targets.hpp"

namespace {

void run_target(const std::string& target, std::span<const std::uint8_t> bytes) {
  if (target == "idx") fovea::fuzz::idx(bytes);
  if (target == "model") fovea::fuzz::model(bytes);
  if (target == "image") fovea::fuzz::image(bytes);
  if (target == "npy") fovea::fuzz::npy(bytes);
}

}  // namespace

TEST_CASE("every saved fuzz finding is rejected cleanly or read", "[fuzz][regression]") {
  const std::filesystem::path root = FOVEA_FUZZ_REGRESSIONS_DIR;
  for (const std::string target : {"idx", "model", "image", "npy"}) {
    const std::filesystem::path folder = root / target;
    if (!std::filesystem::is_directory(folder)) continue;
    for (const auto& entry : std::filesystem::directory_iterator(folder)) {
      if (!entry.is_regular_file()) continue;
      INFO(target << ": " << entry.path());
      const auto bytes = fovea::test::read_file(entry.path());
      CHECK_NOTHROW(run_target(target, bytes));
    }
  }
}

TEST_CASE("the generated seeds are valid files of their kind", "[fuzz][seeds]") {
  for (const auto& [name, bytes] : fovea::fuzz::idx_seeds()) {
    INFO(name);
    const fovea::fuzz::ScratchFile file("replay-idx");
    const auto& path = file.write(bytes);
    if (name.starts_with("labels")) {
      CHECK(fovea::read_idx_labels(path).size() == 5);
    } else {
      CHECK_NOTHROW(fovea::read_idx_images(path));
    }
  }
  for (const auto& [name, bytes] : fovea::fuzz::model_seeds()) {
    INFO(name);
    const fovea::fuzz::ScratchFile file("replay-model");
    const auto net = fovea::load<float>(file.write(bytes));
    CHECK(net.size() >= 5);
  }
  for (const auto& [name, bytes] : fovea::fuzz::npy_seeds()) {
    INFO(name);
    const fovea::fuzz::ScratchFile file("replay-npy");
    const auto array = fovea::read_npy<float>(file.write(bytes));
    CHECK(array.values.size() == static_cast<std::size_t>(array.size()));
    CHECK_NOTHROW(fovea::fuzz::npy(bytes));
  }
  for (const auto& [name, bytes] : fovea::fuzz::image_seeds()) {
    INFO(name);
    const fovea::fuzz::ScratchFile file("replay-image");
    const auto image = fovea::read_image(file.write(bytes));
    CHECK(image.dim(1) * image.dim(2) >= 2);
  }
}
