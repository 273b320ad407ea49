#pragma once

// What each fuzz target does with one input, shared by the libFuzzer entry
// points (tests/fuzz/fuzz_*.cpp, built with clang by tests/fuzz/run.sh) and
// the replay test (tests/fuzz/replay.cpp, part of the normal ctest run).
//
// The contract under test: whatever the bytes, the reader returns a value or
// throws a fovea exception. Anything else (a crash, a sanitizer report, a
// std::bad_alloc, a hang, a leak) is a finding.

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "fovea/core/error.hpp"
#include "fovea/detail/crc32.hpp"
#include "fovea/io/data/idx.hpp"
#include "fovea/io/data/npy.hpp"
#include "fovea/io/image/read_image.hpp"
#include "fovea/io/model_file.hpp"

namespace fovea::fuzz {

using Bytes = std::vector<std::uint8_t>;

// The readers take paths, so each input goes through one scratch file per
// process (in /dev/shm when there is one: no disk traffic).
class ScratchFile {
 public:
  explicit ScratchFile(const std::string& tag) {
    const std::filesystem::path shm = "/dev/shm";
    std::error_code ec;
    const auto folder = std::filesystem::is_directory(shm, ec) ? shm : std::filesystem::temp_directory_path();
    path_ = folder / ("fovea-fuzz-" + tag + "-" + std::to_string(::getpid()));
  }
  ScratchFile(const ScratchFile&) = delete;
  ScratchFile& operator=(const ScratchFile&) = delete;
  ~ScratchFile() {
    std::error_code ignored;
    std::filesystem::remove(path_, ignored);
  }

  const std::filesystem::path& write(std::span<const std::uint8_t> bytes) const {
    std::ofstream out(path_, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    if (!out) throw std::runtime_error("fuzz: cannot write " + path_.string());
    return path_;
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// Runs `read` and swallows exactly the exceptions fovea promises for bad
// input; every other exception escapes and counts as a finding.
template <class Read>
void expect_value_or_fovea_error(Read&& read) {
  try {
    read();
  } catch (const format_error&) {
  } catch (const io_error&) {
  } catch (const shape_error&) {
  } catch (const value_error&) {
  } catch (const index_error&) {
  } catch (const state_error&) {
  } catch (const numeric_error&) {
  }
}

// idx: the same bytes as an image file and as a label file (raw, or gzip when
// they start with 1f 8b).
inline void idx(std::span<const std::uint8_t> bytes) {
  static const ScratchFile file("idx");
  const auto& path = file.write(bytes);
  expect_value_or_fovea_error([&] { (void)read_idx_images(path); });
  expect_value_or_fovea_error([&] { (void)read_idx_labels(path); });
}

// A model file's bytes with its length field and CRC-32 made consistent, so
// that mutations reach the decoder behind the checksum instead of all failing
// on it. Offsets: magic 8, version 4, length 8 (docs/model-format.md).
inline Bytes with_valid_envelope(std::span<const std::uint8_t> bytes) {
  Bytes fixed(bytes.begin(), bytes.end());
  if (fixed.size() < 24) return fixed;
  const std::uint64_t total = fixed.size();
  for (std::size_t i = 0; i < 8; ++i) fixed[12 + i] = static_cast<std::uint8_t>(total >> (8 * i));
  const std::uint32_t crc = detail::crc32(std::span<const std::uint8_t>(fixed.data(), fixed.size() - 4));
  for (std::size_t i = 0; i < 4; ++i) fixed[fixed.size() - 4 + i] = static_cast<std::uint8_t>(crc >> (8 * i));
  return fixed;
}

// Model files: load<float> on the bytes as they are, then again with a
// consistent envelope; a network that loads must also run a forward pass
// (when its activations are small enough for a fuzzer's memory).
inline void model(std::span<const std::uint8_t> bytes) {
  static const ScratchFile file("model");
  expect_value_or_fovea_error([&] { (void)load<float>(file.write(bytes)); });
  const Bytes fixed = with_valid_envelope(bytes);
  expect_value_or_fovea_error([&] {
    Sequential<float> net = load<float>(file.write(fixed));
    Index activations = shape_size(net.input_shape());
    for (std::size_t i = 0; i < net.size(); ++i) activations += shape_size(net.shape_after(i));
    if (activations <= (Index{1} << 20)) {
      Tensor<float, 4> x(batch_shape(1, net.input_shape()));
      (void)net.forward(x);
    }
  });
}

// Images: PNG, JPEG, BMP, GIF, TGA, ... through stb_image, PGM through fovea.
inline void image(std::span<const std::uint8_t> bytes) {
  static const ScratchFile file("image");
  expect_value_or_fovea_error([&] { (void)read_image(file.write(bytes)); });
}

// .npy files: read as float (and as an [N, C, H, W] batch when the rank
// allows), and as a rank-4 double tensor. Whatever reads must survive a round
// trip: written back and read again, the same shape and the same bits.
inline void npy(std::span<const std::uint8_t> bytes) {
  static const ScratchFile file("npy");
  static const ScratchFile again("npy-again");
  const auto& path = file.write(bytes);
  expect_value_or_fovea_error([&] {
    const NpyArray<float> array = read_npy<float>(path);
    if (array.rank() >= 1 && array.rank() <= 4) (void)array.batch();
    write_npy(again.path(), array);
    const NpyArray<float> back = read_npy<float>(again.path());
    // Bits, not values: NaN must come back as the same NaN. (No memcmp of
    // an empty array's null data: that is undefined behaviour.)
    const bool same_bits = back.values.size() == array.values.size() &&
                           (array.values.empty() || std::memcmp(back.values.data(), array.values.data(),
                                                                array.values.size() * sizeof(float)) == 0);
    if (back.shape != array.shape || !same_bits) {
      throw std::logic_error("fuzz: an .npy array changed in a write_npy/read_npy round trip");
    }
  });
  expect_value_or_fovea_error([&] { (void)read_npy<double, 4>(path); });
}

}  // namespace fovea::fuzz
