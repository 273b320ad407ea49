#include "fovea/io/data/idx.hpp"

#include <catch2/catch.hpp>
#include <cstdlib>
#include <numeric>

#include "support/largest_allocation.hpp"
#include "support/temp_files.hpp"

using Catch::Matchers::Contains;
using Catch::Matchers::StartsWith;
using fovea::idx_images_magic;
using fovea::idx_labels_magic;
using fovea::Index;
using fovea::read_idx_images;
using fovea::read_idx_labels;
using fovea::test::Bytes;
using fovea::test::idx_file;
using fovea::test::image_pixels;

namespace {

const fovea::test::TempFolder folder("idx");

std::string quoted(const std::filesystem::path& path) { return fovea::detail::quoted_path(path); }

// Writes the bytes raw as <name> and gzip-compressed as <name>.gz.
std::pair<std::filesystem::path, std::filesystem::path> write_both(const std::string& name, const Bytes& bytes) {
  const auto raw = folder / name;
  const auto gz = folder / (name + ".gz");
  fovea::test::write_file(raw, bytes);
  fovea::test::write_gzip(gz, bytes);
  return {raw, gz};
}

}  // namespace

TEST_CASE("the real MNIST test set loads: 10000 images of 28x28 and their labels", "[io][idx][mnist]") {
  const std::filesystem::path mnist = std::filesystem::path(FOVEA_SHARED_DATA_DIR) / "mnist";
  const auto images = read_idx_images(mnist / "t10k-images-idx3-ubyte.gz");
  const auto labels = read_idx_labels(mnist / "t10k-labels-idx1-ubyte.gz");
  CHECK(images.shape() == fovea::Shape<3>{10000, 28, 28});
  REQUIRE(labels.shape() == fovea::Shape<1>{10000});
  CHECK(std::vector<int>(labels.begin(), labels.begin() + 5) == std::vector<int>{7, 2, 1, 0, 4});

  std::vector<Index> histogram(10, 0);
  for (std::uint8_t label : labels) {
    REQUIRE(label < 10);
    ++histogram[label];
  }
  CHECK(std::accumulate(histogram.begin(), histogram.end(), Index{0}) == 10000);
  // The published class counts of the MNIST test set.
  CHECK(histogram == std::vector<Index>{980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009});

  // Digits are centred: the border pixels of the first image are blank, its
  // middle is not, and every image uses the full range somewhere.
  CHECK(images(0, 0, 0) == 0);
  CHECK(images(0, 27, 27) == 0);
  Index ink = 0;
  for (Index y = 0; y < 28; ++y) {
    for (Index x = 0; x < 28; ++x) ink += images(0, y, x) > 0 ? 1 : 0;
  }
  CHECK(ink > 50);
  CHECK(*std::max_element(images.begin(), images.end()) == 255);
}

TEST_CASE("Fashion-MNIST's training set loads when Debian's dataset-fashion-mnist is installed", "[io][idx][fashion]") {
  const std::filesystem::path fashion = "/usr/share/datasets/fashion-mnist";
  if (!std::filesystem::exists(fashion / "train-images-idx3-ubyte.gz")) {
    WARN("skipped: " << fashion << " is absent (apt install dataset-fashion-mnist)");
    return;
  }
  const auto images = read_idx_images(fashion / "train-images-idx3-ubyte.gz");
  const auto labels = read_idx_labels(fashion / "train-labels-idx1-ubyte.gz");
  CHECK(images.shape() == fovea::Shape<3>{60000, 28, 28});
  REQUIRE(labels.shape() == fovea::Shape<1>{60000});
  std::vector<Index> histogram(10, 0);
  for (std::uint8_t label : labels) ++histogram[std::min<std::size_t>(label, 9)];
  CHECK(histogram == std::vector<Index>(10, 6000));  // balanced by construction
  CHECK(labels(0) == 9);                             // an ankle boot
}

TEST_CASE("raw and gzip files with the same content read the same", "[io][idx]") {
  const Bytes pixels = image_pixels(3, 4, 5);
  const auto [raw, gz] = write_both("three.idx3", idx_file(idx_images_magic, {3, 4, 5}, pixels));
  for (const auto& path : {raw, gz}) {
    const auto images = read_idx_images(path);
    REQUIRE(images.shape() == fovea::Shape<3>{3, 4, 5});
    CHECK(Bytes(images.begin(), images.end()) == pixels);
    CHECK(images(2, 3, 4) == (2 * 31 + 3 * 7 + 4) % 256);
  }
  const auto [raw_labels, gz_labels] = write_both("five.idx1", idx_file(idx_labels_magic, {5}, {3, 1, 4, 1, 5}));
  for (const auto& path : {raw_labels, gz_labels}) {
    const auto labels = read_idx_labels(path);
    CHECK(Bytes(labels.begin(), labels.end()) == Bytes{3, 1, 4, 1, 5});
  }
  // gzip is recognised by its magic bytes, not by the name.
  const auto disguised = folder / "disguised.idx3";
  std::filesystem::copy_file(gz, disguised);
  CHECK(read_idx_images(disguised).shape() == fovea::Shape<3>{3, 4, 5});
}

TEST_CASE("an empty set (N = 0) is valid", "[io][idx]") {
  const auto [raw, gz] = write_both("empty.idx3", idx_file(idx_images_magic, {0, 28, 28}, {}));
  CHECK(read_idx_images(raw).shape() == fovea::Shape<3>{0, 28, 28});
  CHECK(read_idx_images(gz).shape() == fovea::Shape<3>{0, 28, 28});
}

TEST_CASE("a missing file is an io_error naming the path", "[io][idx][errors]") {
  const auto missing = folder / "missing.idx3";
  CHECK_THROWS_AS(read_idx_images(missing), fovea::io_error);
  CHECK_THROWS_WITH(read_idx_images(missing),
                    "read_idx_images: cannot open " + quoted(missing) + ": No such file or directory");
  CHECK_THROWS_WITH(read_idx_labels(missing),
                    "read_idx_labels: cannot open " + quoted(missing) + ": No such file or directory");
  CHECK_THROWS_WITH(read_idx_images(folder.path()), "read_idx_images: cannot open " + quoted(folder.path()) +
                                                        ": it is a directory, expected a regular file");
}

TEST_CASE("a wrong magic number is a format_error naming both numbers", "[io][idx][errors]") {
  const auto [raw, gz] = write_both("labels-not-images", idx_file(idx_labels_magic, {5}, {0, 1, 2, 3, 4}));
  CHECK_THROWS_AS(read_idx_images(raw), fovea::format_error);
  CHECK_THROWS_WITH(
      read_idx_images(raw),
      "read_idx_images: " + quoted(raw) + " is not an idx images file: magic number 0x00000801, expected 0x00000803");
  CHECK_THROWS_WITH(read_idx_images(gz), "read_idx_images: " + quoted(gz) +
                                             " is not an idx images file: magic number 0x00000801, expected 0x00000803"
                                             " (after gunzip)");
  const auto [images_raw, images_gz] = write_both("images-not-labels", idx_file(idx_images_magic, {1, 1, 1}, {9}));
  CHECK_THROWS_WITH(read_idx_labels(images_raw),
                    "read_idx_labels: " + quoted(images_raw) +
                        " is not an idx labels file: magic number 0x00000803, expected 0x00000801");
}

TEST_CASE("a file truncated in the magic number, the dimensions or the data is a format_error", "[io][idx][errors]") {
  const Bytes whole = idx_file(idx_images_magic, {3, 4, 5}, image_pixels(3, 4, 5));  // 16 + 60 bytes

  SECTION("in the magic number") {
    const auto [raw, gz] = write_both("cut-magic", Bytes(whole.begin(), whole.begin() + 2));
    CHECK_THROWS_AS(read_idx_images(raw), fovea::format_error);
    CHECK_THROWS_WITH(read_idx_images(raw), "read_idx_images: " + quoted(raw) +
                                                " is truncated in the magic number: expected 4 bytes, found 2");
    CHECK_THROWS_WITH(
        read_idx_images(gz),
        "read_idx_images: " + quoted(gz) + " is truncated in the magic number: expected 4 bytes, found 2 after gunzip");
    const auto empty = folder / "empty-file";
    fovea::test::write_file(empty, Bytes{});
    CHECK_THROWS_WITH(read_idx_images(empty), "read_idx_images: " + quoted(empty) +
                                                  " is truncated in the magic number: expected 4 bytes, found 0");
  }
  SECTION("in the dimensions") {
    const auto [raw, gz] = write_both("cut-dims", Bytes(whole.begin(), whole.begin() + 10));
    CHECK_THROWS_WITH(read_idx_images(raw), "read_idx_images: " + quoted(raw) +
                                                " is truncated in the dimensions: expected 16 bytes, found 10");
    CHECK_THROWS_WITH(
        read_idx_images(gz),
        "read_idx_images: " + quoted(gz) + " is truncated in the dimensions: expected 16 bytes, found 10 after gunzip");
    const auto [labels_raw, labels_gz] = write_both("cut-label-dims", idx_file(idx_labels_magic, {}, {0, 0}));
    CHECK_THROWS_WITH(read_idx_labels(labels_raw), "read_idx_labels: " + quoted(labels_raw) +
                                                       " is truncated in the dimensions: expected 8 bytes, found 6");
  }
  SECTION("in the data") {
    const auto [raw, gz] = write_both("cut-data", Bytes(whole.begin(), whole.end() - 10));
    const std::string expected =
        " is truncated in the data: expected 76 bytes (16 header + 60 for 3 images of 4x5), found 66";
    CHECK_THROWS_AS(read_idx_images(raw), fovea::format_error);
    CHECK_THROWS_WITH(read_idx_images(raw), "read_idx_images: " + quoted(raw) + expected);
    CHECK_THROWS_WITH(read_idx_images(gz), "read_idx_images: " + quoted(gz) + expected + " after gunzip");
    const auto [labels_raw, labels_gz] = write_both("cut-labels", idx_file(idx_labels_magic, {5}, {1, 2}));
    CHECK_THROWS_WITH(
        read_idx_labels(labels_gz),
        "read_idx_labels: " + quoted(labels_gz) +
            " is truncated in the data: expected 13 bytes (8 header + 5 for 5 labels), found 10 after gunzip");
  }
}

TEST_CASE("trailing bytes after the data are a format_error", "[io][idx][errors]") {
  Bytes bytes = idx_file(idx_images_magic, {3, 4, 5}, image_pixels(3, 4, 5));
  bytes.insert(bytes.end(), {1, 2, 3});
  const auto [raw, gz] = write_both("trailing", bytes);
  const std::string expected =
      " has 3 trailing bytes: expected 76 bytes (16 header + 60 for 3 images of 4x5), found 79";
  CHECK_THROWS_AS(read_idx_images(raw), fovea::format_error);
  CHECK_THROWS_WITH(read_idx_images(raw), "read_idx_images: " + quoted(raw) + expected);
  CHECK_THROWS_WITH(read_idx_images(gz), "read_idx_images: " + quoted(gz) + expected + " after gunzip");
  const auto [labels_raw, labels_gz] = write_both("trailing-labels", idx_file(idx_labels_magic, {2}, {1, 2, 3}));
  CHECK_THROWS_WITH(read_idx_labels(labels_raw),
                    "read_idx_labels: " + quoted(labels_raw) +
                        " has 1 trailing bytes: expected 10 bytes (8 header + 2 for 2 labels), found 11");
}

TEST_CASE("absurd dimensions fail before anything of their size is allocated", "[io][idx][errors]") {
  constexpr std::size_t small = 1 << 20;  // the reader's own buffers stay far below this

  SECTION("2^31 images in a raw file") {
    const auto path = folder / "absurd.idx3";
    fovea::test::write_file(path, idx_file(idx_images_magic, {1U << 31, 28, 28}, image_pixels(1, 28, 28)));
    largest_allocation = 0;
    CHECK_THROWS_WITH(read_idx_images(path),
                      "read_idx_images: " + quoted(path) +
                          " is truncated in the data: expected 1683627180048 bytes (16 header + 1683627180032 for "
                          "2147483648 images of 28x28), found 800");
    CHECK(largest_allocation < small);
  }
  SECTION("2^31 images in a gzip file") {
    const auto path = folder / "absurd.idx3.gz";
    fovea::test::write_gzip(path, idx_file(idx_images_magic, {1U << 31, 28, 28}, image_pixels(1, 28, 28)));
    const auto compressed = std::filesystem::file_size(path);
    largest_allocation = 0;
    CHECK_THROWS_WITH(read_idx_images(path),
                      "read_idx_images: " + quoted(path) +
                          " claims 2147483648 images of 28x28 = 1683627180032 bytes, more than its " +
                          std::to_string(compressed) + " compressed bytes can hold (at most " +
                          std::to_string(compressed * 1032) + ")");
    CHECK(largest_allocation < small);
  }
  SECTION("2^31 labels") {
    const auto path = folder / "absurd.idx1.gz";
    fovea::test::write_gzip(path, idx_file(idx_labels_magic, {1U << 31}, {1, 2, 3}));
    largest_allocation = 0;
    CHECK_THROWS_WITH(read_idx_labels(path), StartsWith("read_idx_labels: " + quoted(path) +
                                                        " claims 2147483648 labels = 2147483648 bytes, more than its"));
    CHECK(largest_allocation < small);
  }
  SECTION("dimensions whose product overflows 64 bits") {
    const auto path = folder / "overflow.idx3";
    fovea::test::write_file(path, idx_file(idx_images_magic, {0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF}, {}));
    largest_allocation = 0;
    CHECK_THROWS_WITH(read_idx_images(path),
                      "read_idx_images: " + quoted(path) +
                          " claims 4294967295 images of 4294967295x4294967295, a size that overflows 64 bits");
    CHECK(largest_allocation < small);
  }
  SECTION("images of zero width") {
    const auto path = folder / "zero-width.idx3";
    fovea::test::write_file(path, idx_file(idx_images_magic, {10, 28, 0}, {}));
    CHECK_THROWS_WITH(read_idx_images(path),
                      "read_idx_images: " + quoted(path) + " claims images of 28x0, expected at least 1x1");
  }
}

TEST_CASE("a corrupt gzip stream is a format_error carrying zlib's diagnosis", "[io][idx][errors]") {
  const Bytes content = idx_file(idx_images_magic, {3, 4, 5}, image_pixels(3, 4, 5));
  const auto good = folder / "good.idx3.gz";
  fovea::test::write_gzip(good, content);
  const Bytes compressed = fovea::test::read_file(good);
  REQUIRE(compressed.size() > 30);

  SECTION("a damaged checksum") {
    Bytes damaged = compressed;
    damaged[damaged.size() - 8] ^= 0xFF;  // the CRC-32 of the gzip trailer
    const auto path = folder / "bad-crc.idx3.gz";
    fovea::test::write_file(path, damaged);
    CHECK_THROWS_AS(read_idx_images(path), fovea::format_error);
    CHECK_THROWS_WITH(read_idx_images(path), StartsWith("read_idx_images: " + quoted(path) +
                                                        " is not a valid gzip stream: incorrect data check"));
  }
  SECTION("a damaged deflate stream") {
    Bytes damaged = compressed;
    for (std::size_t i = 12; i < damaged.size() - 8; ++i) damaged[i] = static_cast<std::uint8_t>(damaged[i] * 7 + 1);
    const auto path = folder / "bad-deflate.idx3.gz";
    fovea::test::write_file(path, damaged);
    CHECK_THROWS_AS(read_idx_images(path), fovea::format_error);
    CHECK_THROWS_WITH(read_idx_images(path),
                      StartsWith("read_idx_images: " + quoted(path) + " is not a valid gzip stream: "));
  }
  SECTION("a gzip stream cut short") {
    const Bytes cut(compressed.begin(), compressed.end() - 12);
    const auto path = folder / "cut.idx3.gz";
    fovea::test::write_file(path, cut);
    CHECK_THROWS_WITH(read_idx_images(path), StartsWith("read_idx_images: " + quoted(path) +
                                                        " is not a valid gzip stream: unexpected end of file"));
  }
}
