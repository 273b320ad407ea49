#pragma once

/// @file
/// NumPy's .npy files (numpy.lib.format): the six bytes "\x93NUMPY", a
/// version, a header that is a Python dict literal
/// `{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }`, then the
/// elements in row-major (C) order. fovea reads and writes float32 ('<f4')
/// and float64 ('<f8'), little-endian, header versions 1.0, 2.0 and 3.0; it
/// is how ONNX test inputs and reference outputs travel between PyTorch,
/// ONNX Runtime and fovea.
///
/// Reading checks everything before the big allocation: the header must
/// promise exactly the bytes that follow it in the file, so a header claiming
/// a terabyte fails at once. Only regular files are read; a FIFO or a device is
/// refused without reading from it (so without blocking). Writing goes through
/// a temporary file renamed over the target, as model files do.

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <limits>
#include <span>
#include <string>
#include <system_error>
#include <type_traits>
#include <vector>

#include "fovea/core/error.hpp"
#include "fovea/core/shape.hpp"
#include "fovea/core/tensor.hpp"
#include "fovea/detail/file_io.hpp"
#include "fovea/detail/quoted_path.hpp"

namespace fovea {

/// The element types a .npy file can hold for fovea: float32 and float64.
template <class T>
concept NpyReal = std::is_same_v<T, float> || std::is_same_v<T, double>;

/// An array of any rank read from a .npy file: its shape and its elements in
/// row-major order, converted to T (float32 and float64 files both read as
/// either type).
template <NpyReal T>
struct NpyArray {
  std::vector<Index> shape;  ///< Extents, outermost first; empty for a 0-d (scalar) array.
  std::vector<T> values;     ///< shape's product elements, row-major.

  /// Number of dimensions (0 for a scalar).
  Index rank() const { return static_cast<Index>(shape.size()); }
  /// Number of elements: the product of the extents (1 for a scalar, 0 when
  /// any extent is 0, however large the others). Throws shape_error when
  /// the product does not fit an Index.
  Index size() const {
    if (std::find(shape.begin(), shape.end(), Index{0}) != shape.end()) return 0;
    Index n = 1;
    for (Index d : shape) {
      if (__builtin_mul_overflow(n, d, &n)) {
        throw shape_error("NpyArray::size: shape " + to_string(shape) + " holds more elements than an Index counts");
      }
    }
    return n;
  }

  /// The array as a Tensor of exactly this rank; shape_error when the array's
  /// rank is another.
  template <std::size_t Rank>
  Tensor<T, Rank> tensor() const {
    if (rank() != static_cast<Index>(Rank)) {
      throw shape_error("NpyArray::tensor<" + std::to_string(Rank) + ">: the array has shape " + to_string(shape) +
                        " (rank " + std::to_string(rank()) + "), expected rank " + std::to_string(Rank));
    }
    Shape<Rank> dims{};
    std::copy(shape.begin(), shape.end(), dims.begin());
    Tensor<T, Rank> t(dims);
    std::copy(values.begin(), values.end(), t.data());
    return t;
  }

  /// The array as an [N, C, H, W] batch: rank 4 as it is, ranks 1 to 3 padded
  /// with trailing extents of 1, so [N, F] becomes [N, F, 1, 1] (fovea's layout
  /// of a batch of feature vectors; the elements keep their order). Throws
  /// shape_error for rank 0 or above 4.
  Tensor<T, 4> batch() const {
    if (rank() < 1 || rank() > 4) {
      throw shape_error("NpyArray::batch: the array has shape " + to_string(shape) + " (rank " +
                        std::to_string(rank()) + "), expected rank 1 to 4");
    }
    Shape<4> dims{1, 1, 1, 1};
    std::copy(shape.begin(), shape.end(), dims.begin());
    Tensor<T, 4> t(dims);
    std::copy(values.begin(), values.end(), t.data());
    return t;
  }
};

namespace detail {

inline constexpr std::array<char, 6> npy_magic = {'\x93', 'N', 'U', 'M', 'P', 'Y'};
// NumPy's own reader refuses headers over 10,000 bytes by default; any
// array of up to 64 dimensions fits in far less. This caps the header
// allocation independently of the file's size.
inline constexpr Index npy_max_header_bytes = Index{1} << 16;
inline constexpr Index npy_max_rank = 64;  // NumPy's NPY_MAXDIMS

// "int64" for '<i8': what a dtype is, for error messages ("" when unknown).
inline std::string npy_dtype_name(const std::string& descr) {
  std::string code = descr;
  if (!code.empty() && (code[0] == '<' || code[0] == '>' || code[0] == '|' || code[0] == '=')) code.erase(0, 1);
  static constexpr std::array<std::pair<const char*, const char*>, 20> names = {{
      {"b1", "bool"},        {"?", "bool"},           {"i1", "int8"},       {"i2", "int16"},       {"i4", "int32"},
      {"i8", "int64"},       {"u1", "uint8"},         {"u2", "uint16"},     {"u4", "uint32"},      {"u8", "uint64"},
      {"f2", "float16"},     {"f4", "float32"},       {"f8", "float64"},    {"f16", "float128"},   {"c8", "complex64"},
      {"c16", "complex128"}, {"O", "Python objects"}, {"M8", "datetime64"}, {"m8", "timedelta64"}, {"V", "raw bytes"},
  }};
  for (const auto& [key, name] : names) {
    if (code == key) return name;
  }
  if (code.starts_with("M8[")) return "datetime64";
  if (code.starts_with("m8[")) return "timedelta64";
  if (code.starts_with('U')) return "unicode strings";
  if (code.starts_with('S')) return "byte strings";
  if (code.starts_with('V')) return "raw bytes";
  return "";
}

// What the header dict says. shape: {} for a scalar.
struct NpyHeader {
  std::string descr;
  bool fortran_order = false;
  std::vector<Index> shape;
};

// Parses the header dict: string keys 'descr', 'fortran_order' and 'shape',
// each exactly once, with a string, a bool and a tuple of integers as values.
// Whitespace and a trailing comma are allowed where Python allows them.
class NpyHeaderParser {
 public:
  NpyHeaderParser(std::string text, std::string where) : text_(std::move(text)), where_(std::move(where)) {}

  NpyHeader parse() {
    NpyHeader header;
    bool seen_descr = false, seen_order = false, seen_shape = false;
    skip_space();
    expect('{');
    for (;;) {
      skip_space();
      if (peek() == '}') break;
      const std::size_t key_at = pos_;
      const std::string key = string_literal();
      skip_space();
      expect(':');
      skip_space();
      auto once = [&](bool& seen) {
        if (seen) fail_at(key_at, "the key '" + key + "' appears twice");
        seen = true;
      };
      if (key == "descr") {
        once(seen_descr);
        if (peek() == '[') {
          throw format_error(where_ +
                             " has a structured dtype (a list of fields), expected '<f4' (float32) or "
                             "'<f8' (float64)");
        }
        header.descr = string_literal();
      } else if (key == "fortran_order") {
        once(seen_order);
        header.fortran_order = boolean();
      } else if (key == "shape") {
        once(seen_shape);
        header.shape = shape_tuple();
      } else {
        fail_at(key_at, "unknown key '" + key + "' (expected 'descr', 'fortran_order' and 'shape')");
      }
      skip_space();
      if (peek() == ',') {
        ++pos_;
        continue;
      }
      if (peek() != '}') fail("expected ',' or '}'");
    }
    ++pos_;  // '}'
    skip_space();
    if (pos_ != text_.size()) fail("unexpected text after the closing '}'");
    if (!seen_descr || !seen_order || !seen_shape) {
      std::string missing;
      for (const auto& [seen, key] :
           {std::pair{seen_descr, "descr"}, std::pair{seen_order, "fortran_order"}, std::pair{seen_shape, "shape"}}) {
        if (!seen) missing += std::string(missing.empty() ? "" : ", ") + "'" + key + "'";
      }
      throw format_error(where_ + " has a header without " + missing + ": " + excerpt());
    }
    return header;
  }

 private:
  char peek() const { return pos_ < text_.size() ? text_[pos_] : '\0'; }
  void skip_space() {
    while (pos_ < text_.size() &&
           (text_[pos_] == ' ' || text_[pos_] == '\t' || text_[pos_] == '\n' || text_[pos_] == '\r')) {
      ++pos_;
    }
  }
  void expect(char c) {
    if (peek() != c) fail(std::string("expected '") + c + "'");
    ++pos_;
  }
  // Python string literal in single or double quotes, without escapes (no
  // valid key or float dtype has one).
  std::string string_literal() {
    const char quote = peek();
    if (quote != '\'' && quote != '"') fail("expected a quoted string");
    const std::size_t start = ++pos_;
    while (pos_ < text_.size() && text_[pos_] != quote) {
      if (text_[pos_] == '\\') fail("escape sequences are not supported");
      ++pos_;
    }
    if (pos_ == text_.size()) fail_at(start - 1, "unterminated string");
    return text_.substr(start, pos_++ - start);
  }
  bool boolean() {
    if (text_.compare(pos_, 4, "True") == 0) {
      pos_ += 4;
      return true;
    }
    if (text_.compare(pos_, 5, "False") == 0) {
      pos_ += 5;
      return false;
    }
    fail("expected True or False");
  }
  // (2, 3) or (5,) or (); Python 2's long suffix (3L) is accepted.
  std::vector<Index> shape_tuple() {
    std::vector<Index> shape;
    bool comma = false;
    expect('(');
    for (;;) {
      skip_space();
      if (peek() == ')') break;
      if (static_cast<Index>(shape.size()) == npy_max_rank) {
        fail("more than " + std::to_string(npy_max_rank) + " dimensions");
      }
      shape.push_back(extent());
      skip_space();
      if (peek() == ',') {
        comma = true;
        ++pos_;
        continue;
      }
      if (peek() != ')') fail("expected ',' or ')' in the shape");
    }
    // "(5)" is the integer 5 in Python, not a tuple; NumPy never writes it.
    if (shape.size() == 1 && !comma) fail("a one-dimensional shape needs a trailing comma, as in (5,)");
    ++pos_;  // ')'
    return shape;
  }
  Index extent() {
    const std::size_t start = pos_;
    if (peek() == '-') fail("a negative extent");
    Index value = 0;
    while (pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9') {
      const int digit = text_[pos_] - '0';
      if (value > (std::numeric_limits<Index>::max() - digit) / 10) fail_at(start, "an extent beyond 2^63");
      value = value * 10 + digit;
      ++pos_;
    }
    if (pos_ == start) fail("expected an integer extent");
    if (peek() == 'L') ++pos_;
    return value;
  }
  std::string excerpt() const {
    constexpr std::size_t shown = 160;
    std::string text = text_.substr(0, shown);
    while (!text.empty() && (text.back() == ' ' || text.back() == '\n')) text.pop_back();
    for (char& c : text) {
      if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f) c = '?';
    }
    return text + (text_.size() > shown ? "..." : "");
  }
  [[noreturn]] void fail(const std::string& what) const { fail_at(pos_, what); }
  [[noreturn]] void fail_at(std::size_t at, const std::string& what) const {
    throw format_error(where_ + " has a malformed header at character " + std::to_string(at) + ": " + what + ": " +
                       excerpt());
  }

  std::string text_;
  std::string where_;
  std::size_t pos_ = 0;
};

// A regular file opened for reading; anything else (a directory, a FIFO, a
// device, a socket) is refused before a single byte is read. O_NONBLOCK makes
// opening a FIFO return at once instead of waiting for a writer.
class NpyInput {
 public:
  NpyInput(std::filesystem::path path, std::string operation)
      : path_(std::move(path)),
        operation_(std::move(operation)),
        fd_(::open(path_.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC)) {
    if (fd_ < 0) {
      throw io_error(operation_ + ": cannot open " + quoted_path(path_) + ": " +
                     std::generic_category().message(errno));
    }
    struct stat info {};
    if (::fstat(fd_, &info) != 0) {
      const int error = errno;
      ::close(fd_);
      throw io_error(operation_ + ": cannot read the size of " + quoted_path(path_) + ": " +
                     std::generic_category().message(error));
    }
    if (!S_ISREG(info.st_mode)) {
      ::close(fd_);
      const char* kind = S_ISDIR(info.st_mode)    ? "a directory"
                         : S_ISFIFO(info.st_mode) ? "a FIFO"
                         : S_ISCHR(info.st_mode)  ? "a character device"
                         : S_ISBLK(info.st_mode)  ? "a block device"
                         : S_ISSOCK(info.st_mode) ? "a socket"
                                                  : "not a regular file";
      throw io_error(operation_ + ": cannot read " + quoted_path(path_) + ": it is " + kind +
                     ", expected a regular file");
    }
    size_ = static_cast<Index>(info.st_size);
  }
  NpyInput(const NpyInput&) = delete;
  NpyInput& operator=(const NpyInput&) = delete;
  ~NpyInput() { ::close(fd_); }

  Index size() const { return size_; }

  // Reads up to `count` bytes; fewer only at the end of the file.
  Index read(void* destination, Index count) {
    auto* out = static_cast<char*>(destination);
    Index done = 0;
    while (done < count) {
      const ssize_t got = ::read(fd_, out + done, static_cast<std::size_t>(std::min<Index>(count - done, 1 << 30)));
      if (got < 0) {
        if (errno == EINTR) continue;
        throw io_error(operation_ + ": read error in " + quoted_path(path_) + ": " +
                       std::generic_category().message(errno));
      }
      if (got == 0) break;
      done += got;
    }
    return done;
  }

 private:
  std::filesystem::path path_;
  std::string operation_;
  int fd_;
  Index size_ = 0;
};

inline std::uint32_t npy_little_u32(const std::uint8_t* bytes) {
  return std::uint32_t{bytes[0]} | (std::uint32_t{bytes[1]} << 8) | (std::uint32_t{bytes[2]} << 16) |
         (std::uint32_t{bytes[3]} << 24);
}

// Decodes `count` little-endian float32 or float64 values into `out`,
// independent of the host's byte order.
template <class T>
void npy_decode(const std::uint8_t* bytes, Index count, Index item_bytes, T* out) {
  for (Index i = 0; i < count; ++i) {
    const std::uint8_t* p = bytes + i * item_bytes;
    if (item_bytes == 4) {
      out[i] = static_cast<T>(std::bit_cast<float>(npy_little_u32(p)));
    } else {
      const std::uint64_t bits = std::uint64_t{npy_little_u32(p)} | (std::uint64_t{npy_little_u32(p + 4)} << 32);
      out[i] = static_cast<T>(std::bit_cast<double>(bits));
    }
  }
}

// The header dict NumPy writes, padded with spaces and a newline so that the
// data starts at a multiple of 64 bytes.
inline std::vector<std::uint8_t> npy_encode_header(const char* descr, std::span<const Index> shape) {
  std::string dict = std::string("{'descr': '") + descr + "', 'fortran_order': False, 'shape': (";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i > 0) dict += ", ";
    dict += std::to_string(shape[i]);
  }
  dict += shape.size() == 1 ? ",), }" : "), }";
  // Version 1.0 counts the header in 2 bytes; 2.0 in 4 (only for huge headers).
  const bool version2 = dict.size() + 1 + 10 + 64 > 65535;
  const std::size_t preamble = version2 ? 12 : 10;
  const std::size_t padded = (preamble + dict.size() + 1 + 63) / 64 * 64 - preamble;
  dict.append(padded - dict.size() - 1, ' ');
  dict += '\n';
  std::vector<std::uint8_t> bytes(npy_magic.begin(), npy_magic.end());
  bytes.push_back(version2 ? 2 : 1);
  bytes.push_back(0);
  for (std::size_t i = 0; i < (version2 ? 4U : 2U); ++i) bytes.push_back(static_cast<std::uint8_t>(padded >> (8 * i)));
  bytes.insert(bytes.end(), dict.begin(), dict.end());
  return bytes;
}

// `count`: the shape's element count, which the caller has (the product of
// all extents can overflow when one of them is 0).
template <class T>
void write_npy_values(const std::filesystem::path& path, std::span<const Index> shape, Index count, const T* values) {
  constexpr const char* descr = std::is_same_v<T, float> ? "<f4" : "<f8";
  std::vector<std::uint8_t> bytes = npy_encode_header(descr, shape);
  const std::size_t data_start = bytes.size();
  bytes.resize(data_start + static_cast<std::size_t>(count) * sizeof(T));
  for (Index i = 0; i < count; ++i) {
    using Bits = std::conditional_t<std::is_same_v<T, float>, std::uint32_t, std::uint64_t>;
    const auto bits = std::bit_cast<Bits>(values[i]);
    for (std::size_t b = 0; b < sizeof(T); ++b) {
      bytes[data_start + static_cast<std::size_t>(i) * sizeof(T) + b] = static_cast<std::uint8_t>(bits >> (8 * b));
    }
  }
  try {
    write_file_atomically(path, bytes);
  } catch (const io_error& error) {
    throw io_error(std::string("write_npy: ") + error.what());
  }
}

}  // namespace detail

/// Reads a .npy file of float32 or float64 elements in C order, of any rank
/// up to 64, converting the elements to T. Throws io_error when the file
/// cannot be opened or is not a regular file (a directory, a FIFO, a device:
/// never read, so never waited on), and format_error, naming the file, when it
/// is not a .npy file, is in Fortran order, holds another dtype (named in the
/// message) or big-endian values, or its header does not promise exactly the
/// bytes that follow it (a truncated file, trailing bytes, an absurd shape).
template <NpyReal T>
NpyArray<T> read_npy(const std::filesystem::path& path) {
  const std::string operation = "read_npy";
  const std::string where = operation + ": " + detail::quoted_path(path);
  detail::NpyInput file(path, operation);

  // Preamble: magic (6), version (2), header length (2 in 1.0, 4 in 2.0 and 3.0).
  std::array<std::uint8_t, 12> preamble{};
  const Index got = file.read(preamble.data(), 8);
  if (got == 0) throw format_error(where + " is empty, expected a .npy file");
  if (std::memcmp(preamble.data(), detail::npy_magic.data(), static_cast<std::size_t>(std::min<Index>(got, 6))) != 0) {
    throw format_error(where + " is not a .npy file: it does not start with \\x93NUMPY");
  }
  if (got < 8) {
    throw format_error(where + " is truncated in the preamble: " + std::to_string(file.size()) +
                       " bytes, a .npy file starts with at least 10");
  }
  const int major = preamble[6];
  const int minor = preamble[7];
  if ((major != 1 && major != 2 && major != 3) || minor != 0) {
    throw format_error(where + " has .npy format version " + std::to_string(major) + "." + std::to_string(minor) +
                       ", expected 1.0, 2.0 or 3.0");
  }
  const Index length_bytes = major == 1 ? 2 : 4;
  if (file.read(preamble.data() + 8, length_bytes) < length_bytes) {
    throw format_error(where + " is truncated in the preamble: " + std::to_string(file.size()) + " bytes, expected " +
                       std::to_string(8 + length_bytes) + " before the header");
  }
  const Index preamble_bytes = 8 + length_bytes;
  const Index header_bytes = major == 1 ? Index{preamble[8]} | (Index{preamble[9]} << 8)
                                        : static_cast<Index>(detail::npy_little_u32(preamble.data() + 8));
  if (header_bytes > file.size() - preamble_bytes) {
    throw format_error(where + " is truncated in the header: the preamble promises a " + std::to_string(header_bytes) +
                       "-byte header, the file has " + std::to_string(file.size() - preamble_bytes) +
                       " bytes after the preamble");
  }
  if (header_bytes > detail::npy_max_header_bytes) {
    throw format_error(where + " claims a " + std::to_string(header_bytes) + "-byte header, more than the " +
                       std::to_string(detail::npy_max_header_bytes) + " bytes any array's header needs");
  }
  std::string text(static_cast<std::size_t>(header_bytes), '\0');
  if (file.read(text.data(), header_bytes) < header_bytes) {
    throw format_error(where + " is truncated in the header: it ended while reading the header");
  }
  const detail::NpyHeader header = detail::NpyHeaderParser(std::move(text), where).parse();

  Index item_bytes = 0;
  if (header.descr == "<f4") item_bytes = 4;
  if (header.descr == "<f8") item_bytes = 8;
  if (item_bytes == 0) {
    const std::string name = detail::npy_dtype_name(header.descr);
    const std::string named = "'" + header.descr + "'" + (name.empty() ? "" : " (" + name + ")");
    if (header.descr == ">f4" || header.descr == ">f8") {
      throw format_error(where + " holds big-endian " + named +
                         " values; fovea reads little-endian '<f4' and '<f8' "
                         "(convert with array.astype('<f4'))");
    }
    throw format_error(where + " holds dtype " + named + ", expected '<f4' (float32) or '<f8' (float64)");
  }
  if (header.fortran_order) {
    throw format_error(where +
                       " is in Fortran (column-major) order, expected C order (save numpy.ascontiguousarray"
                       "(array), or pass fortran_order=False)");
  }

  // The data must be exactly what is left of the file: checked before the
  // allocation, with the product bounded as it is formed so it cannot overflow.
  const Index data_offset = preamble_bytes + header_bytes;
  const Index data_bytes = file.size() - data_offset;
  const std::string dtype = item_bytes == 4 ? "float32" : "float64";
  Index count = 1;
  bool overflows = false;
  for (Index d : header.shape) count = d == 0 ? 0 : count;
  for (Index d : header.shape) {
    if (count == 0) break;
    overflows = count > std::numeric_limits<Index>::max() / item_bytes / d;
    if (overflows) break;
    count *= d;
  }
  if (overflows) {
    throw format_error(where + " claims shape " + to_string(header.shape) + " of " + dtype +
                       ", a size that overflows 64 bits (the file has " + std::to_string(file.size()) + " bytes)");
  }
  if (count * item_bytes != data_bytes) {
    throw format_error(where + (count * item_bytes > data_bytes ? " is truncated" : " has trailing bytes") +
                       ": shape " + to_string(header.shape) + " of " + dtype + " needs " +
                       std::to_string(count * item_bytes) + " bytes after the " + std::to_string(data_offset) +
                       "-byte header, the file has " + std::to_string(data_bytes));
  }

  NpyArray<T> array;
  array.shape = header.shape;
  array.values.resize(static_cast<std::size_t>(count));
  // Decoded in 64 KB pieces: the file's bytes never sit in memory twice.
  std::vector<std::uint8_t> piece(static_cast<std::size_t>(std::min<Index>(data_bytes, Index{1} << 16)));
  const Index items_per_piece = std::max<Index>(1, static_cast<Index>(piece.size()) / item_bytes);
  for (Index done = 0; done < count;) {
    const Index items = std::min(items_per_piece, count - done);
    if (file.read(piece.data(), items * item_bytes) < items * item_bytes) {
      throw format_error(where + " is truncated: it ended while reading element " + std::to_string(done) + " of " +
                         std::to_string(count) + " (the file shrank while being read)");
    }
    detail::npy_decode(piece.data(), items, item_bytes, array.values.data() + done);
    done += items;
  }
  return array;
}

/// Reads a .npy file whose rank must be exactly Rank, as a Tensor; throws as
/// read_npy(path) does, and format_error naming the file's shape when its rank
/// is another.
template <NpyReal T, std::size_t Rank>
Tensor<T, Rank> read_npy(const std::filesystem::path& path) {
  NpyArray<T> array = read_npy<T>(path);
  if (array.rank() != static_cast<Index>(Rank)) {
    throw format_error("read_npy: " + detail::quoted_path(path) + " holds shape " + to_string(array.shape) + " (rank " +
                       std::to_string(array.rank()) + "), expected rank " + std::to_string(Rank));
  }
  return array.template tensor<Rank>();
}

/// Writes the elements of `values` as a little-endian, C-order .npy file
/// (version 1.0; '<f4' for float, '<f8' for double) that NumPy reads with
/// numpy.load. The bytes go to a temporary file in the same folder, which is
/// then renamed over `path`: an existing file is replaced whole or left as it
/// was. Throws io_error when the file cannot be written.
template <class T, std::size_t Rank>
requires NpyReal<std::remove_const_t<T>>
void write_npy(const std::filesystem::path& path, TensorView<T, Rank> values) {
  const Shape<Rank>& shape = values.shape();
  detail::write_npy_values<std::remove_const_t<T>>(path, std::span<const Index>(shape.data(), Rank), values.size(),
                                                   values.data());
}

/// Writes a Tensor as write_npy(path, view) does.
template <NpyReal T, std::size_t Rank>
void write_npy(const std::filesystem::path& path, const Tensor<T, Rank>& values) {
  write_npy(path, values.view());
}

/// Writes an array of any rank as write_npy(path, view) does; throws
/// shape_error when its element count does not match its shape.
template <NpyReal T>
void write_npy(const std::filesystem::path& path, const NpyArray<T>& array) {
  for (Index d : array.shape) {
    if (d < 0) throw shape_error("write_npy: negative extent in shape " + to_string(array.shape));
  }
  if (static_cast<Index>(array.values.size()) != array.size()) {
    throw shape_error("write_npy: shape " + to_string(array.shape) + " holds " + std::to_string(array.size()) +
                      " elements, the array has " + std::to_string(array.values.size()));
  }
  detail::write_npy_values<T>(path, array.shape, array.size(), array.values.data());
}

}  // namespace fovea
