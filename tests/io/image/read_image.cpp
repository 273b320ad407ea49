#include "fovea/io/image/read_image.hpp"

#include <catch2/catch.hpp>
#include <string>

#include "support/temp_files.hpp"

#include <stb_image_write.h>

#include <algorithm>
#include <vector>

#include "fovea/io/image/png.hpp"

using Catch::Matchers::StartsWith;
using fovea::read_image;
using fovea::Tensor;
using fovea::write_png;
using fovea::test::Bytes;

namespace {

const fovea::test::TempFolder folder("read-image");

std::string quoted(const std::filesystem::path& path) { return fovea::detail::quoted_path(path); }

}  // namespace

TEST_CASE("read_image reports missing and undecodable files as io_error", "[io][png][errors]") {
  const auto missing = folder / "missing.png";
  CHECK_THROWS_AS(read_image(missing), fovea::io_error);
  CHECK_THROWS_WITH(read_image(missing), "read_image: cannot open " + quoted(missing) + ": No such file or directory");
  CHECK_THROWS_WITH(read_image(folder.path()), "read_image: cannot open " + quoted(folder.path()) +
                                                   ": it is a directory, expected a regular file");

  const auto garbage = folder / "garbage.png";
  fovea::test::write_file(garbage, std::string("this is not an image"));
  CHECK_THROWS_AS(read_image(garbage), fovea::format_error);
  CHECK_THROWS_WITH(read_image(garbage), StartsWith("read_image: cannot decode " + quoted(garbage) + " (20 bytes): "));

  // A PNG cut in half.
  const auto whole = folder / "whole.png";
  write_png(whole, Tensor<float, 2>::full({16, 16}, 0.25F));
  const Bytes bytes = fovea::test::read_file(whole);
  const auto cut = folder / "cut.png";
  fovea::test::write_file(cut, Bytes(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(bytes.size() / 2)));
  CHECK_THROWS_AS(read_image(cut), fovea::format_error);
  CHECK_THROWS_WITH(read_image(cut), "read_image: " + quoted(cut) + " is truncated: the PNG ends at byte " +
                                         std::to_string(bytes.size() / 2) + " without its IEND chunk");
}

TEST_CASE("read_image refuses a PNG chunk longer than the file before decoding", "[io][png][errors]") {
  // stb_image would first grow its buffer to the declared 1 GiB.
  const auto whole = folder / "whole.png";
  write_png(whole, Tensor<float, 2>::full({5, 3}, 0.5F));
  Bytes bytes = fovea::test::read_file(whole);
  const std::size_t idat = 8 + 12 + 13;  // signature, then the 13-byte IHDR chunk
  REQUIRE(std::string(bytes.begin() + idat + 4, bytes.begin() + idat + 8) == "IDAT");
  const auto data_bytes = bytes.size() - idat - 12 - 12;  // less this chunk's frame and IEND
  bytes[idat] = 0x40;
  const auto corrupt = folder / "long-chunk.png";
  fovea::test::write_file(corrupt, bytes);
  CHECK_THROWS_AS(read_image(corrupt), fovea::format_error);
  CHECK_THROWS_WITH(read_image(corrupt),
                    "read_image: " + quoted(corrupt) + " is truncated: a PNG chunk at byte 33 declares " +
                        std::to_string((std::uint64_t{0x40} << 24) + data_bytes) + " bytes, the file holds " +
                        std::to_string(bytes.size() - idat - 8) + " after its header");
  bytes[idat] = 0;
  fovea::test::write_file(corrupt, bytes);
  CHECK(read_image(corrupt).shape() == fovea::Shape<3>{1, 5, 3});
}

TEST_CASE("read_image refuses a JPEG scan whose Huffman table no DHT segment defines", "[io][errors]") {
  // stb_image would decode it with whatever memory the missing table holds.
  std::vector<unsigned char> pixels(5 * 3 * 3);
  for (std::size_t i = 0; i < pixels.size(); ++i) pixels[i] = static_cast<unsigned char>(i * 17);
  Bytes jpeg;
  const auto append = [](void* to, void* data, int size) {
    auto* bytes = static_cast<Bytes*>(to);
    const auto* first = static_cast<const std::uint8_t*>(data);
    bytes->insert(bytes->end(), first, first + size);
  };
  REQUIRE(stbi_write_jpg_to_func(append, &jpeg, 5, 3, 3, pixels.data(), 90) != 0);
  const auto good = folder / "good.jpg";
  fovea::test::write_file(good, jpeg);
  CHECK(read_image(good).shape() == fovea::Shape<3>{3, 3, 5});
  // The first table of the DHT segment is the luma DC table 0: call it 3.
  const std::uint8_t dht[] = {0xFF, 0xC4};
  const auto segment = std::search(jpeg.begin(), jpeg.end(), std::begin(dht), std::end(dht));
  REQUIRE(segment != jpeg.end());
  REQUIRE(segment[4] == 0x00);
  segment[4] = 0x03;
  const auto bad = folder / "undefined-table.jpg";
  fovea::test::write_file(bad, jpeg);
  CHECK_THROWS_AS(read_image(bad), fovea::format_error);
  CHECK_THROWS_WITH(read_image(bad), StartsWith("read_image: " + quoted(bad) + " is corrupt: a JPEG scan at byte ") &&
                                         Catch::Matchers::EndsWith(" uses a Huffman table that no DHT segment before "
                                                                   "it defines"));
  // The same behind bytes that are no marker before the frame header
  // (SOF0), which stb_image skips as padding (the check once stopped at
  // them), and a good file with that padding still reads.
  const auto with_padding = [&](const Bytes& file) {
    const std::uint8_t sof[] = {0xFF, 0xC0};
    const auto frame = std::search(file.begin(), file.end(), std::begin(sof), std::end(sof));
    REQUIRE(frame != file.end());
    Bytes padded(file.begin(), frame);
    padded.insert(padded.end(), {0x7C, 0x7C, 0x01, 0x00, 0x7C});
    padded.insert(padded.end(), frame, file.end());
    return padded;
  };
  const auto hidden = folder / "undefined-table-after-padding.jpg";
  fovea::test::write_file(hidden, with_padding(jpeg));
  CHECK_THROWS_WITH(read_image(hidden),
                    Catch::Matchers::EndsWith(" uses a Huffman table that no DHT segment before it defines"));
  segment[4] = 0x00;
  fovea::test::write_file(good, with_padding(jpeg));
  CHECK(read_image(good).shape() == fovea::Shape<3>{3, 3, 5});
}
