// A user of the file formats: fovea::io from an installed fovea must bring
// zlib and stb with it. Writes a PNG, reads it back, and compares.
#include <cstdio>
#include <filesystem>
#include <fovea/io/data/idx.hpp>
#include <fovea/io/image/png.hpp>
#include <fovea/io/image/read_image.hpp>
#include <iostream>

int main() {
  const std::filesystem::path path = std::filesystem::temp_directory_path() / "fovea_consumer_io.png";
  fovea::Tensor<float, 3> image({1, 2, 3}, {0, 0.2F, 0.4F, 0.6F, 0.8F, 1});
  fovea::write_png(path, image.view());
  const fovea::Tensor<float, 3> back = fovea::read_image(path);
  std::filesystem::remove(path);
  std::cout << "PNG round trip: " << back.shape()[1] << "x" << back.shape()[2] << ", zlib " << zlibVersion() << '\n';
  return back.shape() == image.shape() && back(0, 1, 2) == 1.0F ? 0 : 1;
}
