#pragma once

// Small files for file-format tests: a private temporary folder per test
// program, raw and gzip writers, and idx files built byte by byte.

#include <unistd.h>
#include <zlib.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <vector>

namespace fovea::test {

using Bytes = std::vector<std::uint8_t>;

// <tmp>/fovea-<tag>-<pid>, created on first use and emptied on exit.
class TempFolder {
 public:
  explicit TempFolder(const std::string& tag)
      : path_(std::filesystem::temp_directory_path() / ("fovea-" + tag + "-" + std::to_string(::getpid()))) {
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  TempFolder(const TempFolder&) = delete;
  TempFolder& operator=(const TempFolder&) = delete;
  ~TempFolder() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

inline void write_file(const std::filesystem::path& path, const Bytes& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  if (!out) throw std::runtime_error("test: cannot write " + path.string());
}

inline void write_file(const std::filesystem::path& path, const std::string& text) {
  write_file(path, Bytes(text.begin(), text.end()));
}

inline Bytes read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return Bytes(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

inline void write_gzip(const std::filesystem::path& path, const Bytes& bytes) {
  gzFile file = gzopen(path.c_str(), "wb9");
  if (file == nullptr) throw std::runtime_error("test: cannot write " + path.string());
  if (!bytes.empty() && gzwrite(file, bytes.data(), static_cast<unsigned>(bytes.size())) == 0) {
    gzclose(file);
    throw std::runtime_error("test: gzwrite failed for " + path.string());
  }
  gzclose(file);
}

inline void append_big_endian(Bytes& bytes, std::uint32_t value) {
  for (int shift = 24; shift >= 0; shift -= 8) bytes.push_back(static_cast<std::uint8_t>(value >> shift));
}

// An idx file: magic, dimensions, then the data as given (which may
// deliberately disagree with the dimensions).
inline Bytes idx_file(std::uint32_t magic, const std::vector<std::uint32_t>& dims, const Bytes& data) {
  Bytes bytes;
  append_big_endian(bytes, magic);
  for (std::uint32_t d : dims) append_big_endian(bytes, d);
  bytes.insert(bytes.end(), data.begin(), data.end());
  return bytes;
}

// count images of rows x cols whose pixel (n, y, x) is (n * 31 + y * 7 + x) % 256.
inline Bytes image_pixels(std::uint32_t count, std::uint32_t rows, std::uint32_t cols) {
  Bytes pixels;
  for (std::uint32_t n = 0; n < count; ++n) {
    for (std::uint32_t y = 0; y < rows; ++y) {
      for (std::uint32_t x = 0; x < cols; ++x) pixels.push_back(static_cast<std::uint8_t>((n * 31 + y * 7 + x) % 256));
    }
  }
  return pixels;
}

}  // namespace fovea::test
