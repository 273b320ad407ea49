#pragma once

// Seed inputs for the fuzz targets, generated rather than stored: small valid
// files of every kind each reader accepts. tests/fuzz/make_seeds writes them
// as the starting corpora; the replay test checks each one still loads.

#include <cstdint>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "fovea/io/data/npy.hpp"
#include "fovea/io/image/png.hpp"
#include "fovea/io/model_file.hpp"
#include "fovea/layers/activation.hpp"
#include "fovea/layers/global_pool.hpp"
#include "fovea/layers/softmax.hpp"
#include "fovea/optim/adam.hpp"
#include "fuzz/targets.hpp"
#include "support/small_cnn.hpp"
#include "support/temp_files.hpp"

namespace fovea::fuzz {

using Seed = std::pair<std::string, Bytes>;

inline std::vector<Seed> idx_seeds() {
  const test::TempFolder folder("fuzz-seeds-idx");
  auto gzip = [&](const Bytes& bytes) {
    test::write_gzip(folder / "seed.gz", bytes);
    return test::read_file(folder / "seed.gz");
  };
  const Bytes images = test::idx_file(idx_images_magic, {3, 4, 5}, test::image_pixels(3, 4, 5));
  const Bytes labels = test::idx_file(idx_labels_magic, {5}, {3, 1, 4, 1, 5});
  const Bytes empty = test::idx_file(idx_images_magic, {0, 28, 28}, {});
  return {{"images-3x4x5", images},
          {"images-3x4x5.gz", gzip(images)},
          {"labels-5", labels},
          {"labels-5.gz", gzip(labels)},
          {"images-empty", empty}};
}

inline std::vector<Seed> model_seeds() {
  const test::TempFolder folder("fuzz-seeds-model");
  const auto path = folder / "seed.fovea";
  std::vector<Seed> seeds;
  auto net = test::small_cnn<float>(1, 8, /*dropout=*/true);
  save(net, path);
  seeds.emplace_back("small-cnn-float", test::read_file(path));

  Adam<float> adam(net.params(), {.learning_rate = 0.01});
  save_checkpoint(net, adam, {.next_epoch = 2, .seed = 5}, path);
  seeds.emplace_back("small-cnn-checkpoint", test::read_file(path));

  Sequential<double> mixed({2, 4, 4});
  mixed.emplace<Conv2d<double>>(Conv2dOptions{.in_channels = 2, .out_channels = 3, .kernel = 2, .stride = 2});
  mixed.emplace<Tanh<double>>();
  mixed.emplace<GlobalPool2d<double>>(PoolKind::max);
  mixed.emplace<Flatten<double>>();
  mixed.emplace<Linear<double>>(3, 2);
  mixed.emplace<LeakyReLU<double>>(0.1);
  mixed.emplace<Softmax<double>>();
  save(mixed, path);
  seeds.emplace_back("mixed-double", test::read_file(path));
  return seeds;
}

inline std::vector<Seed> image_seeds() {
  std::vector<Seed> seeds;
  // stb_image_write into memory: one PNG per channel count, and the other
  // formats stb_image reads (and stb_image_write writes).
  Bytes pixels;
  for (int i = 0; i < 4 * 5 * 3; ++i) pixels.push_back(static_cast<std::uint8_t>(i * 17));
  auto into = [](void* context, void* data, int size) {
    auto* out = static_cast<Bytes*>(context);
    const auto* bytes = static_cast<const std::uint8_t*>(data);
    out->insert(out->end(), bytes, bytes + size);
  };
  for (int channels = 1; channels <= 4; ++channels) {
    Bytes png;
    stbi_write_png_to_func(into, &png, 5, 3, channels, pixels.data(), 5 * channels);
    seeds.emplace_back("png-" + std::to_string(channels), png);
  }
  Bytes bmp, tga, jpg;
  stbi_write_bmp_to_func(into, &bmp, 5, 3, 3, pixels.data());
  stbi_write_tga_to_func(into, &tga, 5, 3, 4, pixels.data());
  stbi_write_jpg_to_func(into, &jpg, 5, 3, 3, pixels.data(), 90);
  seeds.emplace_back("bmp", bmp);
  seeds.emplace_back("tga", tga);
  seeds.emplace_back("jpg", jpg);
  // PGM, read by fovea itself: binary 8 and 16 bits, plain text with a comment.
  const std::string p5 = "P5 3 2 255\n";
  Bytes pgm8(p5.begin(), p5.end());
  pgm8.insert(pgm8.end(), {0, 50, 100, 150, 200, 255});
  seeds.emplace_back("pgm-8", pgm8);
  const std::string p5_16 = "P5\n2 1\n65535\n";
  Bytes pgm16(p5_16.begin(), p5_16.end());
  pgm16.insert(pgm16.end(), {0x12, 0x34, 0xFF, 0xFF});
  seeds.emplace_back("pgm-16", pgm16);
  const std::string p2 = "P2\n# plain\n3 2\n9\n0 1 2\n3 4 9\n";
  seeds.emplace_back("pgm-plain", Bytes(p2.begin(), p2.end()));
  return seeds;
}

// .npy files as write_npy writes them (version 1.0), plus one with a version
// 2.0 header, as NumPy writes for np.lib.format.write_array(..., version=(2, 0)).
inline std::vector<Seed> npy_seeds() {
  const test::TempFolder folder("fuzz-seeds-npy");
  const auto path = folder / "seed.npy";
  std::vector<Seed> seeds;
  Rng rng(3);
  write_npy(path, Tensor<float, 2>::normal({2, 3}, rng, 0, 1));
  seeds.emplace_back("f32-2x3", test::read_file(path));
  write_npy(path, Tensor<double, 4>::normal({1, 2, 3, 2}, rng, 0, 1));
  seeds.emplace_back("f64-1x2x3x2", test::read_file(path));
  write_npy(path, NpyArray<float>{{}, {2.5F}});
  seeds.emplace_back("f32-scalar", test::read_file(path));
  write_npy(path, NpyArray<float>{{0, 3}, {}});
  seeds.emplace_back("f32-empty", test::read_file(path));
  write_npy(path, Tensor<float, 1>::normal({5}, rng, 0, 1));
  Bytes version2 = test::read_file(path);  // 10-byte preamble, 118-byte header, 20 bytes of data
  version2[6] = 2;
  version2.insert(version2.begin() + 10, {0, 0});  // the length grows to 4 bytes; 118 stays its value
  seeds.emplace_back("f32-5-version2", version2);
  return seeds;
}

inline std::vector<Seed> seeds_for(const std::string& target) {
  if (target == "idx") return idx_seeds();
  if (target == "npy") return npy_seeds();
  if (target == "model") return model_seeds();
  return image_seeds();
}

}  // namespace fovea::fuzz
