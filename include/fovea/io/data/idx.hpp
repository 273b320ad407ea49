#pragma once

/// @file
/// The idx format of the MNIST family (MNIST, Fashion-MNIST, EMNIST, KMNIST):
/// a big-endian header (magic 0x00000803 + N, rows, cols for images; magic
/// 0x00000801 + N for labels) followed by exactly N*rows*cols (or N) bytes.
/// Files are read raw or gzip-compressed; gzip is recognised by its magic bytes
/// 1f 8b, never by the file name. Pixels stay bytes: the 60,000 training images
/// are 47 MB as bytes and four times that as floats.
///
/// Every check happens before the big allocation: the header must promise a
/// size the file can actually hold (its exact length for a raw file; at most
/// deflate's 1032:1 ratio times the compressed length for a .gz), so a header
/// claiming 2^31 images fails at once instead of allocating terabytes.
///
/// Needs zlib: link fovea::io.

#include <sys/stat.h>
#include <zlib.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <memory>
#include <string>
#include <system_error>
#include <utility>

#include "fovea/core/error.hpp"
#include "fovea/core/tensor.hpp"
#include "fovea/detail/file_io.hpp"
#include "fovea/detail/quoted_path.hpp"
#include "fovea/io/read_limits.hpp"

namespace fovea {

inline constexpr std::uint32_t idx_images_magic = 0x00000803;  ///< Image files: unsigned bytes, 3 dimensions.
inline constexpr std::uint32_t idx_labels_magic = 0x00000801;  ///< Label files: unsigned bytes, 1 dimension.

namespace detail {

// Reads a file's bytes in order, decompressing it on the fly when it starts
// with the gzip magic bytes. Every failure names the operation and the file.
class ByteSource {
 public:
  ByteSource(std::filesystem::path path, std::string operation)
      : path_(std::move(path)), operation_(std::move(operation)) {
    std::error_code ec;
    // Only regular files: fopen would wait forever on a FIFO, and a device
    // such as /dev/zero never ends.
    const auto status = std::filesystem::status(path_, ec);
    if (std::filesystem::exists(status) && !std::filesystem::is_regular_file(status)) {
      struct stat info {};
      ::stat(path_.c_str(), &info);
      throw io_error(operation_ + ": cannot open " + quoted_path(path_) + ": it is " +
                     describe_file_type(info.st_mode) + ", expected a regular file");
    }
    raw_.reset(std::fopen(path_.c_str(), "rb"));
    if (!raw_) {
      throw io_error(operation_ + ": cannot open " + quoted_path(path_) + ": " +
                     std::generic_category().message(errno));
    }
    file_bytes_ = static_cast<Index>(std::filesystem::file_size(path_, ec));
    if (ec) throw io_error(operation_ + ": cannot read the size of " + quoted_path(path_) + ": " + ec.message());

    std::array<unsigned char, 2> magic{};
    const std::size_t got = std::fread(magic.data(), 1, magic.size(), raw_.get());
    gzip_ = got == 2 && magic[0] == 0x1f && magic[1] == 0x8b;
    if (gzip_) {
      raw_.reset();
      gz_.reset(gzopen(path_.c_str(), "rb"));
      if (!gz_) throw io_error(operation_ + ": cannot open " + quoted_path(path_) + " as gzip");
      gzbuffer(gz_.get(), 1U << 17);  // fewer, larger reads: zlib decompresses faster in big pieces
    } else {
      std::rewind(raw_.get());
    }
  }

  bool gzip() const { return gzip_; }
  const std::filesystem::path& path() const { return path_; }
  Index file_bytes() const { return file_bytes_; }

  // The most bytes the file can deliver: its length when raw; for gzip, the
  // compressed length times deflate's best ratio (a 258-byte match in 2 bits
  // is 1032:1), an upper bound no honest file exceeds.
  Index max_bytes() const {
    constexpr Index deflate_max_ratio = 1032;
    return gzip_ ? file_bytes_ * deflate_max_ratio : file_bytes_;
  }

  // Reads up to `count` bytes; fewer only at the end of the data.
  Index read(std::uint8_t* destination, Index count) {
    Index done = 0;
    while (done < count) {
      const Index chunk = std::min<Index>(count - done, Index{1} << 30);  // gzread counts in unsigned int
      Index got = 0;
      if (gzip_) {
        const int result = gzread(gz_.get(), destination + done, static_cast<unsigned>(chunk));
        if (result < 0) throw corrupt();
        got = result;
      } else {
        got = static_cast<Index>(std::fread(destination + done, 1, static_cast<std::size_t>(chunk), raw_.get()));
        if (got < chunk && std::ferror(raw_.get())) {
          throw io_error(operation_ + ": read error in " + quoted_path(path_) + ": " +
                         std::generic_category().message(errno));
        }
      }
      done += got;
      if (got < chunk) break;
    }
    // A gzip stream cut short reads as a short count with the error set.
    if (gzip_ && done < count) {
      int code = Z_OK;
      gzerror(gz_.get(), &code);
      if (code != Z_OK) throw corrupt();
    }
    return done;
  }

  // Reads everything that is left and returns how many bytes that was.
  Index skip_to_end() {
    std::array<std::uint8_t, 1 << 16> scratch{};
    Index total = 0;
    for (;;) {
      const Index got = read(scratch.data(), static_cast<Index>(scratch.size()));
      total += got;
      if (got < static_cast<Index>(scratch.size())) return total;
    }
  }

 private:
  format_error corrupt() const {
    int code = Z_OK;
    std::string message = gzerror(gz_.get(), &code);
    // zlib prefixes the file name, which our message already leads with.
    const std::string prefix = path_.string() + ": ";
    if (message.starts_with(prefix)) message.erase(0, prefix.size());
    return format_error{operation_ + ": " + quoted_path(path_) + " is not a valid gzip stream: " + message};
  }

  struct CloseFile {
    void operator()(std::FILE* file) const { std::fclose(file); }
  };
  struct CloseGz {
    void operator()(gzFile file) const { gzclose(file); }
  };

  std::filesystem::path path_;
  std::string operation_;
  std::unique_ptr<std::FILE, CloseFile> raw_;
  std::unique_ptr<gzFile_s, CloseGz> gz_;
  Index file_bytes_ = 0;
  bool gzip_ = false;
};

inline std::uint32_t big_endian_u32(const std::uint8_t* bytes) {
  return (std::uint32_t{bytes[0]} << 24) | (std::uint32_t{bytes[1]} << 16) | (std::uint32_t{bytes[2]} << 8) |
         std::uint32_t{bytes[3]};
}

inline std::string hex32(std::uint32_t value) {
  std::array<char, 11> text{};
  std::snprintf(text.data(), text.size(), "0x%08x", value);
  return text.data();
}

// An idx file whose header has been read and checked; the data comes next.
// dims: {N} for labels, {N, rows, cols} for images.
template <std::size_t Rank>
class IdxReader {
 public:
  IdxReader(const std::filesystem::path& path, std::uint32_t magic, const char* operation, const char* kind,
            const ReadLimits& limits)
      : source_(path, operation), operation_(operation) {
    std::array<std::uint8_t, 4> word{};
    read_section(word.data(), 4, "magic number", 4);
    const std::uint32_t found = big_endian_u32(word.data());
    if (found != magic) {
      throw format_error(operation_ + ": " + quoted_path(path) + " is not an idx " + kind + " file: magic number " +
                         hex32(found) + ", expected " + hex32(magic) + (source_.gzip() ? " (after gunzip)" : ""));
    }
    for (std::size_t axis = 0; axis < Rank; ++axis) {
      read_section(word.data(), 4, "dimensions", header_bytes);
      dims_[axis] = big_endian_u32(word.data());
    }
    if constexpr (Rank == 3) {
      if (dims_[1] == 0 || dims_[2] == 0) {
        throw format_error(operation_ + ": " + quoted_path(path) + " claims images of " + std::to_string(dims_[1]) +
                           "x" + std::to_string(dims_[2]) + ", expected at least 1x1");
      }
    }

    // Three 32-bit factors may overflow 63 bits; check before multiplying.
    data_bytes_ = 1;
    for (Index d : dims_) {
      if (d != 0 && data_bytes_ > (std::numeric_limits<Index>::max() - header_bytes) / d) {
        throw format_error(operation_ + ": " + quoted_path(path) + " claims " + describe() +
                           ", a size that overflows 64 bits");
      }
      data_bytes_ *= d;
    }
    if (header_bytes + data_bytes_ > source_.max_bytes()) {
      if (!source_.gzip()) throw truncated_data(source_.file_bytes());
      throw format_error(operation_ + ": " + quoted_path(path) + " claims " + describe() + " = " +
                         std::to_string(data_bytes_) + " bytes, more than its " + std::to_string(source_.file_bytes()) +
                         " compressed bytes can hold (at most " + std::to_string(source_.max_bytes()) + ")");
    }
    if (data_bytes_ > limits.max_file_bytes) {
      throw format_error(operation_ + ": " + quoted_path(path) + " claims " + describe() + " = " +
                         std::to_string(data_bytes_) + " bytes, more than the limit of " +
                         std::to_string(limits.max_file_bytes) + " (ReadLimits::max_file_bytes)");
    }
  }

  static constexpr Index header_bytes = 4 + 4 * static_cast<Index>(Rank);
  const Shape<Rank>& dims() const { return dims_; }
  Index data_bytes() const { return data_bytes_; }

  // Reads exactly data_bytes() into destination and checks nothing follows.
  void read_data(std::uint8_t* destination) {
    const Index got = source_.read(destination, data_bytes_);
    if (got < data_bytes_) throw truncated_data(header_bytes + got);
    const Index trailing = source_.skip_to_end();
    if (trailing > 0) {
      throw format_error(operation_ + ": " + quoted_path(source_.path()) + " has " + std::to_string(trailing) +
                         " trailing bytes: expected " + std::to_string(header_bytes + data_bytes_) + " bytes (" +
                         std::to_string(header_bytes) + " header + " + std::to_string(data_bytes_) + " for " +
                         describe() + "), found " + std::to_string(header_bytes + data_bytes_ + trailing) +
                         (source_.gzip() ? " after gunzip" : ""));
    }
  }

 private:
  std::string describe() const {
    if constexpr (Rank == 1) {
      return std::to_string(dims_[0]) + " labels";
    } else {
      return std::to_string(dims_[0]) + " images of " + std::to_string(dims_[1]) + "x" + std::to_string(dims_[2]);
    }
  }

  void read_section(std::uint8_t* destination, Index count, const char* section, Index expected_bytes) {
    const Index got = source_.read(destination, count);
    position_ += got;
    if (got < count) {
      throw format_error(operation_ + ": " + quoted_path(source_.path()) + " is truncated in the " + section +
                         ": expected " + std::to_string(expected_bytes) + " bytes, found " + std::to_string(position_) +
                         (source_.gzip() ? " after gunzip" : ""));
    }
  }

  format_error truncated_data(Index found_bytes) const {
    return format_error(operation_ + ": " + quoted_path(source_.path()) + " is truncated in the data: expected " +
                        std::to_string(header_bytes + data_bytes_) + " bytes (" + std::to_string(header_bytes) +
                        " header + " + std::to_string(data_bytes_) + " for " + describe() + "), found " +
                        std::to_string(found_bytes) + (source_.gzip() ? " after gunzip" : ""));
  }

  ByteSource source_;
  std::string operation_;
  Shape<Rank> dims_{};
  Index data_bytes_ = 0;
  Index position_ = 0;
};

}  // namespace detail

/// Images [N, rows, cols] as bytes 0..255, from an idx3 file (raw or .gz).
/// Throws io_error when the file cannot be opened, format_error when its
/// contents are not exactly what the header promises or are larger than
/// `limits` allow. Anything but a regular file is an io_error.
inline Tensor<std::uint8_t, 3> read_idx_images(const std::filesystem::path& path, const ReadLimits& limits = {}) {
  detail::IdxReader<3> reader(path, idx_images_magic, "read_idx_images", "images", limits);
  Tensor<std::uint8_t, 3> images(reader.dims());
  reader.read_data(images.data());
  return images;
}

/// Labels [N] as bytes, from an idx1 file (raw or .gz). Throws as
/// read_idx_images() does.
inline Tensor<std::uint8_t, 1> read_idx_labels(const std::filesystem::path& path, const ReadLimits& limits = {}) {
  detail::IdxReader<1> reader(path, idx_labels_magic, "read_idx_labels", "labels", limits);
  Tensor<std::uint8_t, 1> labels(reader.dims());
  reader.read_data(labels.data());
  return labels;
}

}  // namespace fovea
