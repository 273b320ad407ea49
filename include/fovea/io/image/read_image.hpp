#pragma once

/// @file
/// Pictures in: PNG, JPEG, BMP, GIF, TGA ... through stb_image, and PGM
/// through read_pgm (io/image/pgm.hpp), the format picked by the file's first
/// bytes, never its name. Files that stb_image would decode into garbage or
/// at great cost are refused before decoding: a TGA, BMP or PPM cut short
/// (stb_image fills the missing pixels with stale memory) and a header that
/// claims more pixels than the file can hold. Images are [C, H, W] like every
/// other tensor in fovea: C = 1 gray, 2 gray + alpha, 3 RGB, 4 RGBA.
///
/// Needs Debian's libstb (headers in /usr/include/stb, code in libstb.so):
/// link fovea::io.

#include <stb_image.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "fovea/core/error.hpp"
#include "fovea/core/tensor.hpp"
#include "fovea/detail/quoted_path.hpp"
#include "fovea/io/image/pgm.hpp"
#include "fovea/io/read_limits.hpp"

namespace fovea {

namespace detail {

// Little-endian fields of image headers; the caller checks the length.
inline Index little_u16(const std::vector<std::uint8_t>& bytes, std::size_t at) {
  return Index{bytes[at]} | Index{bytes[at + 1]} << 8;
}
inline Index little_i32(const std::vector<std::uint8_t>& bytes, std::size_t at) {
  return static_cast<std::int32_t>(static_cast<std::uint32_t>(little_u16(bytes, at)) |
                                   static_cast<std::uint32_t>(little_u16(bytes, at + 2)) << 16);
}

// stb_image leaves the pixels of a short TGA (uncompressed or RLE), BMP or
// binary PPM as whatever the allocator held, or zero: refuse such files. The
// pixel data each header promises is checked against the bytes there are.
inline void require_complete_pixels(const std::vector<std::uint8_t>& bytes, const std::filesystem::path& path) {
  const auto size = static_cast<Index>(bytes.size());
  const auto truncated = [&](const char* format, Index width, Index height, Index needed, Index found) {
    return format_error("read_image: " + quoted_path(path) + " is truncated: a " + std::to_string(width) + "x" +
                        std::to_string(height) + " " + format + " needs " + std::to_string(needed) +
                        " bytes of pixels, the file holds " + std::to_string(found));
  };
  const auto starts_with = [&](std::string_view magic) {
    // Byte by byte as unsigned: '\x89' is negative in a char.
    return bytes.size() >= magic.size() &&
           std::equal(magic.begin(), magic.end(), bytes.begin(),
                      [](char expected, std::uint8_t found) { return static_cast<std::uint8_t>(expected) == found; });
  };
  if (starts_with("BM") && size >= 34) {
    const Index offset = little_i32(bytes, 10), header = little_i32(bytes, 14);
    const bool os2 = header == 12;
    const Index width = os2 ? little_u16(bytes, 18) : little_i32(bytes, 18);
    const Index height = std::abs(os2 ? little_u16(bytes, 20) : little_i32(bytes, 22));
    const Index bits = os2 ? little_u16(bytes, 24) : little_u16(bytes, 28);
    const Index compression = os2 ? 0 : little_i32(bytes, 30);
    // stb_image refuses RLE (1, 2) and embedded JPEG/PNG (4, 5) and reads
    // every other value, even a negative one, as rows of plain pixels.
    const bool plain = compression != 1 && compression != 2 && compression != 4 && compression != 5;
    if (plain && width > 0 && height > 0 && bits > 0 && offset > 0 && width <= (Index{1} << 24) &&
        height <= (Index{1} << 24)) {
      const Index row = (bits * width + 31) / 32 * 4;  // rows are padded to 4 bytes
      if (offset + row * height > size) throw truncated("BMP", width, height, row * height, size - offset);
    }
    return;
  }
  if (starts_with("\x89PNG\r\n\x1A\n")) {
    // stb_image grows its buffer to each IDAT chunk's declared length before
    // reading it, so one corrupt length asks for gigabytes: every chunk up to
    // IEND must fit in the bytes that follow it.
    std::size_t at = 8;
    while (true) {
      if (at + 8 > bytes.size()) {
        throw format_error("read_image: " + quoted_path(path) + " is truncated: the PNG ends at byte " +
                           std::to_string(bytes.size()) + " without its IEND chunk");
      }
      const std::uint64_t length = std::uint64_t{bytes[at]} << 24 | std::uint64_t{bytes[at + 1]} << 16 |
                                   std::uint64_t{bytes[at + 2]} << 8 | bytes[at + 3];
      if (length + 12 > bytes.size() - at) {
        throw format_error("read_image: " + quoted_path(path) + " is truncated: a PNG chunk at byte " +
                           std::to_string(at) + " declares " + std::to_string(length) + " bytes, the file holds " +
                           std::to_string(bytes.size() - at - 8) + " after its header");
      }
      if (std::equal(bytes.begin() + static_cast<std::ptrdiff_t>(at) + 4,
                     bytes.begin() + static_cast<std::ptrdiff_t>(at) + 8, "IEND")) {
        break;
      }
      at += 12 + length;
    }
    return;
  }
  if (starts_with("\xFF\xD8")) {
    // stb_image decodes a scan with whatever memory a Huffman table it
    // names but no DHT segment defined holds (and trips an assertion in
    // Debian's build): each scan's tables must be defined before it. Walks
    // the markers, skipping each scan's entropy-coded bytes, and any bytes
    // between segments as stb_image skips them (padding some files have).
    bool defined[2][4] = {};  // [DC = 0, AC = 1][table id]
    std::size_t at = 2;
    const auto segment_length = [&](std::size_t marker) { return Index{bytes[marker + 2]} << 8 | bytes[marker + 3]; };
    while (at + 4 <= bytes.size()) {
      if (bytes[at] != 0xFF) {
        ++at;
        continue;
      }
      const std::uint8_t marker = bytes[at + 1];
      if (marker == 0xD9) return;                                                    // end of image
      if (marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7) || marker == 0xFF) {  // no length
        at += marker == 0xFF ? 1 : 2;
        continue;
      }
      const auto end = std::min(bytes.size(), at + 2 + static_cast<std::size_t>(segment_length(at)));
      if (marker == 0xC4) {  // DHT: tables of 1 + 16 count bytes + the values
        for (std::size_t table = at + 4; table + 17 <= end;) {
          const std::uint8_t class_id = bytes[table];
          if ((class_id >> 4) < 2 && (class_id & 15) < 4) defined[class_id >> 4][class_id & 15] = true;
          std::size_t values = 0;
          for (std::size_t i = 1; i <= 16; ++i) values += bytes[table + i];
          table += 17 + values;
        }
      }
      if (marker == 0xDA && at + 5 <= end) {  // SOS: components, then spectral start and end
        const std::size_t components = bytes[at + 4];
        const std::size_t spectral = at + 5 + 2 * components;
        if (spectral + 2 > end) return;
        const bool dc = bytes[spectral] == 0, ac = bytes[spectral + 1] > 0;
        for (std::size_t c = 0; c < components; ++c) {
          const std::uint8_t tables = bytes[at + 6 + 2 * c];
          if ((dc && ((tables >> 4) > 3 || !defined[0][tables >> 4])) ||
              (ac && ((tables & 15) > 3 || !defined[1][tables & 15]))) {
            throw format_error("read_image: " + quoted_path(path) + " is corrupt: a JPEG scan at byte " +
                               std::to_string(at) + " uses a Huffman table that no DHT segment before it defines");
          }
        }
        at = end;  // the entropy-coded bytes: until a marker other than a stuffed 0xFF00 or a restart
        while (at + 1 < bytes.size() &&
               !(bytes[at] == 0xFF && bytes[at + 1] != 0x00 && (bytes[at + 1] < 0xD0 || bytes[at + 1] > 0xD7))) {
          ++at;
        }
        continue;
      }
      at = end;
    }
    return;
  }
  if (starts_with("P6")) {  // binary PPM: header tokens, one whitespace byte, then the pixels
    std::size_t at = 2;
    std::array<Index, 3> values{};  // width, height, maximum value
    for (Index& value : values) {
      while (at < bytes.size() && (std::isspace(bytes[at]) != 0 || bytes[at] == '#')) {
        if (bytes[at] == '#') {
          while (at < bytes.size() && bytes[at] != '\n') ++at;
        } else {
          ++at;
        }
      }
      // Capped at stb_image's largest dimension, 2^24, so the product below stays in range.
      while (at < bytes.size() && bytes[at] >= '0' && bytes[at] <= '9' && value <= (Index{1} << 24)) {
        value = value * 10 + (bytes[at++] - '0');
      }
    }
    const Index needed = values[0] * values[1] * 3 * (values[2] > 255 ? 2 : 1);
    if (values[0] > 0 && values[1] > 0 && at < bytes.size() && needed > size - static_cast<Index>(at) - 1) {
      throw truncated("PPM", values[0], values[1], needed, size - static_cast<Index>(at) - 1);
    }
    return;
  }
  // TGA has no magic number: stb_image tries it last, on whatever no other
  // format claimed. Types 1-3 are raw, 9-11 the same run-length encoded.
  const bool other_format = starts_with("\x89PNG") || starts_with("\xFF\xD8") || starts_with("GIF8") ||
                            starts_with("8BPS") || starts_with("#?R") || starts_with("P5") || starts_with("P2") ||
                            starts_with("\x53\x80\xF6\x34");
  if (other_format || size < 18) return;
  const Index type = bytes[2], bits = bytes[16];
  const Index width = little_u16(bytes, 12), height = little_u16(bytes, 14);
  if ((type & 7) < 1 || (type & 7) > 3 || (type & ~Index{11}) != 0 || width < 1 || height < 1 || bits < 1) return;
  const Index map_bytes = bytes[1] != 0 ? little_u16(bytes, 5) * ((bytes[7] + 7) / 8) : 0;
  const Index start = 18 + bytes[0] + map_bytes;
  const Index pixel_bytes = (bits + 7) / 8;
  const Index pixels = width * height;
  if (type < 8) {
    if (start + pixels * pixel_bytes > size) throw truncated("TGA", width, height, pixels * pixel_bytes, size - start);
    return;
  }
  // Run-length packets: a count byte, then one value repeated (high bit set)
  // or that many literal values.
  Index covered = 0, at = start;
  while (covered < pixels && at < size) {
    const Index count = (bytes[static_cast<std::size_t>(at)] & 0x7F) + 1;
    const bool repeat = (bytes[static_cast<std::size_t>(at)] & 0x80) != 0;
    at += 1 + (repeat ? 1 : count) * pixel_bytes;
    if (at > size) break;
    covered += count;
  }
  if (covered < pixels) {
    throw format_error("read_image: " + quoted_path(path) + " is truncated: a " + std::to_string(width) + "x" +
                       std::to_string(height) + " run-length TGA needs " + std::to_string(pixels) +
                       " pixels, its packets hold " + std::to_string(covered));
  }
}

/// Throws format_error when a width x height image has more pixels than
/// `byte_count` bytes can hold or than `limits` allow. No format packs more
/// than deflate's 1032:1 at 1 bit a pixel, 8256 pixels a byte. A sign is
/// dropped: stb_image reports a top-down BMP's height as negative.
inline void require_pixels_within(Index width, Index height, std::size_t byte_count, const ReadLimits& limits,
                                  const std::filesystem::path& path) {
  constexpr Index max_pixels_per_byte = 8 * 1032;
  width = std::abs(width), height = std::abs(height);
  const Index pixels = width * height;
  const std::string size = std::to_string(width) + "x" + std::to_string(height);
  if (pixels > max_pixels_per_byte * static_cast<Index>(byte_count)) {
    throw format_error("read_image: " + quoted_path(path) + " claims " + size + " pixels, more than its " +
                       std::to_string(byte_count) + " bytes can hold");
  }
  if (pixels > limits.max_image_pixels) {
    throw format_error("read_image: " + quoted_path(path) + " declares " + size + " pixels, more than the limit of " +
                       std::to_string(limits.max_image_pixels) + " (ReadLimits::max_image_pixels)");
  }
}

}  // namespace detail

/// Any image stb_image decodes (PNG, JPEG, BMP, GIF, TGA, PSD, HDR, PPM) or a
/// PGM (P2/P5), as [C, H, W] in [0, 1] with the file's own channel count.
/// 16-bit PNGs are reduced to 8 bits. Throws io_error when the file cannot be
/// opened or is not a regular file, format_error when it cannot be decoded, is
/// truncated, claims more pixels than it can hold or more than `limits` allow.
inline Tensor<float, 3> read_image(const std::filesystem::path& path, const ReadLimits& limits = {}) {
  std::vector<std::uint8_t> bytes = detail::read_file_bytes("read_image", path, limits);
  if (bytes.size() >= 2 && bytes[0] == 'P' && (bytes[1] == '2' || bytes[1] == '5')) {
    return detail::PgmParser(std::move(bytes), path, limits).parse();
  }
  if (bytes.size() > static_cast<std::size_t>(std::numeric_limits<int>::max())) {
    throw format_error("read_image: " + detail::quoted_path(path) + " is " + std::to_string(bytes.size()) +
                       " bytes, more than stb_image reads");
  }
  int width = 0, height = 0, channels = 0;
  const auto byte_count = static_cast<int>(bytes.size());
  // Check the header's size against the file before decoding: some decoders
  // (TGA, JPEG, BMP) fill a short file's missing pixels in, so a 100-byte file
  // claiming 65535x65535 would run for minutes and allocate gigabytes.
  if (stbi_info_from_memory(bytes.data(), byte_count, &width, &height, &channels) != 0) {
    detail::require_pixels_within(width, height, bytes.size(), limits, path);
  }
  detail::require_complete_pixels(bytes, path);
  const std::unique_ptr<stbi_uc, decltype(&stbi_image_free)> pixels(
      stbi_load_from_memory(bytes.data(), byte_count, &width, &height, &channels, 0), &stbi_image_free);
  if (!pixels) {
    throw format_error("read_image: cannot decode " + detail::quoted_path(path) + " (" + std::to_string(bytes.size()) +
                       " bytes): " + stbi_failure_reason());
  }
  // Again on what the decoder found: its header pass and its decoder can
  // disagree (a top-down BMP's height is negative in the first).
  detail::require_pixels_within(width, height, bytes.size(), limits, path);
  Tensor<float, 3> image({channels, height, width});
  for (Index y = 0; y < height; ++y) {
    for (Index x = 0; x < width; ++x) {
      for (Index c = 0; c < channels; ++c) {
        image(c, y, x) = static_cast<float>(pixels.get()[(y * width + x) * channels + c]) / 255.0F;
      }
    }
  }
  return image;
}

}  // namespace fovea
