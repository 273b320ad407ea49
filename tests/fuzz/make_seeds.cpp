// Writes the generated seed corpora: make_seeds <folder> creates
// <folder>/<target>/<seed> for the targets idx, model, image and npy.

#include <filesystem>
#include <iostream>

#include "fuzz/seeds.hpp"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: make_seeds <folder>\n";
    return 2;
  }
  for (const char* target : {"idx", "model", "image", "npy"}) {
    const std::filesystem::path folder = std::filesystem::path(argv[1]) / target;
    std::filesystem::create_directories(folder);
    for (const auto& [name, bytes] : fovea::fuzz::seeds_for(target)) fovea::test::write_file(folder / name, bytes);
  }
  return 0;
}
