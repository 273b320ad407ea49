// The bad-input catalogue, files: idx files cut short in every section, with
// a wrong magic number or absurd dimensions; model files cut short at every
// byte, with any byte damaged, from a future version or for another network;
// images cut short or claiming absurd sizes. The allocation-counting proof
// that absurd idx headers allocate nothing is in tests/io/idx.cpp; gzip
// damage is there too. Fuzzing: tests/fuzz/.

#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <string>

#include "fovea/io/idx.hpp"
#include "fovea/io/model_file.hpp"
#include "fovea/io/png.hpp"
#include "support/small_cnn.hpp"
#include "support/temp_files.hpp"

using namespace fovea;
using Catch::Matchers::Contains;
using Catch::Matchers::StartsWith;
using test::Bytes;

namespace {

const test::TempFolder folder("bad-input-files");

std::string quoted(const std::filesystem::path& path) { return detail::quoted_path(path); }

Bytes first(const Bytes& bytes, std::size_t count) {
  return Bytes(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(count));
}

}  // namespace

TEST_CASE("bad input: an idx file truncated at every byte names the section", "[bad_input][idx]") {
  const Bytes images = test::idx_file(idx_images_magic, {3, 4, 5}, test::image_pixels(3, 4, 5));
  REQUIRE(images.size() == 76);
  const auto path = folder / "cut.idx3";
  for (std::size_t cut = 0; cut < images.size(); ++cut) {
    INFO("cut at " << cut);
    test::write_file(path, first(images, cut));
    std::string expected;
    if (cut < 4) {
      expected = " is truncated in the magic number: expected 4 bytes, found " + std::to_string(cut);
    } else if (cut < 16) {
      expected = " is truncated in the dimensions: expected 16 bytes, found " + std::to_string(cut);
    } else {
      expected = " is truncated in the data: expected 76 bytes (16 header + 60 for 3 images of 4x5), found " +
                 std::to_string(cut);
    }
    CHECK_THROWS_AS(read_idx_images(path), format_error);
    CHECK_THROWS_WITH(read_idx_images(path), "read_idx_images: " + quoted(path) + expected);
  }
  const Bytes labels = test::idx_file(idx_labels_magic, {5}, {3, 1, 4, 1, 5});
  for (std::size_t cut = 0; cut < labels.size(); ++cut) {
    INFO("cut at " << cut);
    test::write_file(path, first(labels, cut));
    const char* section = cut < 4 ? "magic number" : cut < 8 ? "dimensions" : "data";
    CHECK_THROWS_AS(read_idx_labels(path), format_error);
    CHECK_THROWS_WITH(read_idx_labels(path),
                      StartsWith("read_idx_labels: " + quoted(path) + " is truncated in the " + section));
  }
}

TEST_CASE("bad input: an idx file with a wrong magic number", "[bad_input][idx]") {
  const auto path = folder / "png-not-idx";
  test::write_file(path, Bytes{0x89, 'P', 'N', 'G', 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0});
  CHECK_THROWS_AS(read_idx_images(path), format_error);
  CHECK_THROWS_WITH(
      read_idx_images(path),
      "read_idx_images: " + quoted(path) + " is not an idx images file: magic number 0x89504e47, expected 0x00000803");
  CHECK_THROWS_WITH(
      read_idx_labels(path),
      "read_idx_labels: " + quoted(path) + " is not an idx labels file: magic number 0x89504e47, expected 0x00000801");
}

TEST_CASE("bad input: an idx header claiming 2^31 images fails at once", "[bad_input][idx]") {
  const auto path = folder / "absurd.idx3";
  test::write_file(path, test::idx_file(idx_images_magic, {1U << 31, 28, 28}, test::image_pixels(1, 28, 28)));
  const auto start = std::chrono::steady_clock::now();
  CHECK_THROWS_AS(read_idx_images(path), format_error);
  CHECK_THROWS_WITH(read_idx_images(path), "read_idx_images: " + quoted(path) +
                                               " is truncated in the data: expected 1683627180048 bytes (16 header + "
                                               "1683627180032 for 2147483648 images of 28x28), found 800");
  // Far less than allocating (let alone zeroing) 1.6 TB would take.
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(1));
}

TEST_CASE("bad input: model files truncated, damaged, from the future, for another network", "[bad_input][model]") {
  auto net = test::small_cnn<float>(4, 8);
  const auto path = folder / "good.fovea";
  save(net, path);
  const Bytes good = test::read_file(path);
  const auto bad = folder / "bad.fovea";
  const std::string what = "model file '" + bad.string() + "'";

  SECTION("truncated at every byte") {
    for (std::size_t cut = 0; cut < good.size(); ++cut) {
      INFO("cut at " << cut);
      test::write_file(bad, first(good, cut));
      CHECK_THROWS_AS(load<float>(bad), format_error);
    }
    test::write_file(bad, first(good, 4));
    CHECK_THROWS_WITH(load<float>(bad), what + ": truncated in magic (needs 8 bytes at offset 0, 4 left)");
    test::write_file(bad, first(good, good.size() - 1));
    CHECK_THROWS_WITH(load<float>(bad), what + ": the header promises " + std::to_string(good.size()) +
                                            " bytes but the file has " + std::to_string(good.size() - 1) +
                                            " (truncated)");
  }
  SECTION("one bit flipped in every byte") {
    for (std::size_t at = 0; at < good.size(); ++at) {
      INFO("bit flipped in byte " << at);
      Bytes flipped = good;
      flipped[at] ^= 0x01;
      test::write_file(bad, flipped);
      CHECK_THROWS_AS(load<float>(bad), format_error);
    }
    Bytes flipped = good;
    flipped[good.size() / 2] ^= 0x01;
    test::write_file(bad, flipped);
    CHECK_THROWS_WITH(load<float>(bad), what + ": checksum mismatch: the file is corrupt");
  }
  SECTION("from a future version") {
    Bytes future = good;
    future[8] = 7;
    test::write_file(bad, future);
    CHECK_THROWS_AS(load<float>(bad), format_error);
    CHECK_THROWS_WITH(load<float>(bad), what + ": format version 7 is newer than this fovea reads (2); update fovea");
  }
  SECTION("with a setting that is not a whole number") {
    // A consistent envelope around a damaged setting: Conv2d's "in" becomes -inf.
    Bytes damaged = good;
    const std::string key = "in";
    auto at = std::search(damaged.begin(), damaged.end(), key.begin(), key.end()) + 2;
    const Bytes minus_inf = {0, 0, 0, 0, 0, 0, 0xF0, 0xFF};
    std::copy(minus_inf.begin(), minus_inf.end(), at);
    const std::uint32_t crc = detail::crc32(std::span<const std::uint8_t>(damaged.data(), damaged.size() - 4));
    for (std::size_t i = 0; i < 4; ++i) damaged[damaged.size() - 4 + i] = static_cast<std::uint8_t>(crc >> (8 * i));
    test::write_file(bad, damaged);
    CHECK_THROWS_AS(load<float>(bad), format_error);
    CHECK_THROWS_WITH(load<float>(bad), what +
                                            ": layer 0 cannot be rebuilt: Conv2d: setting 'in' is -inf, expected "
                                            "a whole number");
  }
  SECTION("for another architecture") {
    Sequential<float> other({1, 8, 8});
    other.emplace<Flatten<float>>();
    other.emplace<Linear<float>>(64, 4);
    save(other, bad);
    CHECK_THROWS_AS(load_into(net, bad), format_error);
    CHECK_THROWS_WITH(load_into(net, bad), what + ": the file's network has 2 layers, this network has 5");
    auto wider = test::small_cnn<float>(4, 10);
    save(wider, bad);
    CHECK_THROWS_WITH(load_into(net, bad),
                      what + ": the file's network takes [1, 10, 10], this network takes [1, 8, 8]");
  }
}

TEST_CASE("bad input: images truncated or claiming absurd sizes", "[bad_input][image]") {
  const auto png = folder / "good.png";
  write_png(png, Tensor<float, 3>({3, 4, 5}).view());
  const Bytes good = test::read_file(png);
  const auto bad = folder / "bad.png";
  // Every cut that loses pixel data fails; stb_image does not need the
  // closing 12-byte IEND chunk, so a PNG cut inside it still reads.
  for (std::size_t cut = 0; cut + 12 < good.size(); ++cut) {
    INFO("cut at " << cut);
    test::write_file(bad, first(good, cut));
    CHECK_THROWS_AS(read_image(bad), format_error);
  }
  test::write_file(bad, first(good, 20));
  CHECK_THROWS_WITH(read_image(bad), StartsWith("read_image: cannot decode " + quoted(bad) + " (20 bytes): "));

  // A TGA header claiming 65535x65535 in 22 bytes (stb_image would fill the
  // missing pixels in for minutes): rejected before decoding.
  const auto tga = folder / "absurd.tga";
  test::write_file(tga, Bytes{0, 0, 10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 24, 0, 0xFF, 1, 2, 3});
  CHECK_THROWS_AS(read_image(tga), format_error);
  CHECK_THROWS_WITH(read_image(tga),
                    "read_image: " + quoted(tga) + " claims 65535x65535 pixels, more than its 22 bytes can hold");

  const auto pgm = folder / "absurd.pgm";
  test::write_file(pgm, std::string("P5 2000000000 2000000000 255\n\x01\x02"));
  CHECK_THROWS_AS(read_image(pgm), format_error);
  CHECK_THROWS_WITH(read_image(pgm), "read_pgm: " + quoted(pgm) +
                                         " is truncated: the header promises 2000000000x2000000000 pixels, more than "
                                         "the 3 bytes left can hold");
}
