// The bad-input catalogue, files: idx files cut short in every section, with
// a wrong magic number or absurd dimensions; model files cut short at every
// byte, with any byte damaged, from a future version or for another network;
// images cut short or claiming absurd sizes. The allocation-counting proof
// that absurd idx headers allocate nothing is in tests/io/data/idx.cpp; gzip
// damage is there too. Also: FIFOs, devices and directories given to every
// reader; model files checked for their magic number and size before being
// read; PGM numbers parsed strictly; TGA, BMP and PPM pixels cut short;
// ReadLimits; a full disk while writing pictures, charts and models; CsvWriter
// validating before it truncates. Fuzzing: tests/fuzz/.

#include <sys/resource.h>
#include <sys/stat.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <cmath>
#include <csignal>
#include <string>

#include "fovea/io/data/idx.hpp"
#include "fovea/io/image/pgm.hpp"
#include "fovea/io/image/png.hpp"
#include "fovea/io/image/read_image.hpp"
#include "fovea/io/model_file.hpp"
#include "fovea/io/report/csv.hpp"
#include "fovea/io/report/svg_plot.hpp"
#include "support/small_cnn.hpp"
#include "support/temp_files.hpp"

using namespace fovea;
using Catch::Matchers::Contains;
using Catch::Matchers::StartsWith;
using test::Bytes;

namespace {

const test::TempFolder folder("bad-input-files");

std::string quoted(const std::filesystem::path& path) { return detail::quoted_path(path); }

Bytes joined(const Bytes& a, const Bytes& b) {
  Bytes out(a.size() + b.size());
  std::copy(b.begin(), b.end(), std::copy(a.begin(), a.end(), out.begin()));
  return out;
}

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
    CHECK_THROWS_WITH(load<float>(bad), what + ": format version 7 is newer than this fovea reads (3); update fovea");
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
  // Every cut fails, one inside the closing IEND chunk too (stb_image would
  // read that one): each chunk must fit in the file before decoding.
  for (std::size_t cut = 0; cut < good.size(); ++cut) {
    INFO("cut at " << cut);
    test::write_file(bad, first(good, cut));
    CHECK_THROWS_AS(read_image(bad), format_error);
  }
  test::write_file(bad, first(good, 20));
  CHECK_THROWS_WITH(read_image(bad), "read_image: " + quoted(bad) +
                                         " is truncated: a PNG chunk at byte 8 declares 13 bytes, the file holds 4 "
                                         "after its header");

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

TEST_CASE("bad input: anything but a regular file is refused by every reader", "[bad_input][files]") {
  const auto fifo = folder / "pipe";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  // Each of these blocked forever on the FIFO, or read /dev/zero until memory ran out.
  const std::string pipe = ": it is a FIFO (named pipe), expected a regular file";
  CHECK_THROWS_AS(load<float>(fifo), io_error);
  CHECK_THROWS_WITH(load<float>(fifo), "cannot open model file " + quoted(fifo) + pipe);
  CHECK_THROWS_WITH(read_image(fifo), "read_image: cannot open " + quoted(fifo) + pipe);
  CHECK_THROWS_WITH(read_pgm(fifo), "read_pgm: cannot open " + quoted(fifo) + pipe);
  CHECK_THROWS_WITH(read_idx_images(fifo), "read_idx_images: cannot open " + quoted(fifo) + pipe);
  CHECK_THROWS_AS(CsvWriter(fifo, {"epoch"}), io_error);
  CHECK_THROWS_WITH(CsvWriter(fifo, {"epoch"}),
                    "CsvWriter: cannot open " + quoted(fifo) + " for writing: it exists and is not a regular file");
  CHECK_THROWS_WITH(write_png(fifo, Tensor<float, 3>({1, 2, 2}).view()),
                    "write_png: saving " + quoted(fifo) + " failed: " + quoted(fifo) +
                        " is a FIFO (named pipe), not a regular file: refusing to replace it");
  CHECK_THROWS_WITH(load<float>("/dev/zero"),
                    "cannot open model file '/dev/zero': it is a character device, expected a regular file");
  CHECK_THROWS_WITH(read_image("/dev/zero"),
                    "read_image: cannot open '/dev/zero': it is a character device, expected a regular file");
  // A directory was std::ios_base::failure, not fovea's io_error.
  CHECK_THROWS_AS(load<float>(folder.path()), io_error);
  CHECK_THROWS_WITH(load<float>(folder.path()),
                    "cannot open model file " + quoted(folder.path()) + ": it is a directory, expected a regular file");
  std::filesystem::remove(fifo);
}

TEST_CASE("bad input: a model file's magic number and size are checked before it is read", "[bad_input][model]") {
  // A 3 GB file (sparse: no disk used) that is no model: eight bytes are read, not three gigabytes.
  const auto junk = folder / "junk.fovea";
  test::write_file(junk, std::string("JUNKJUNK"));
  std::filesystem::resize_file(junk, std::uintmax_t{3} << 30);
  const auto start = std::chrono::steady_clock::now();
  CHECK_THROWS_AS(load<float>(junk), format_error);
  CHECK_THROWS_WITH(load<float>(junk), "model file " + quoted(junk) + ": not a fovea model file (wrong magic)");
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(1));
  // With the magic right, the size is bounded by ReadLimits before anything is allocated.
  auto net = test::small_cnn<float>(4, 8);
  const auto model = folder / "model.fovea";
  save(net, model);
  const auto size = std::filesystem::file_size(model);
  CHECK_THROWS_AS(load<float>(model, {.max_file_bytes = 1000}), format_error);
  CHECK_THROWS_WITH(load<float>(model, {.max_file_bytes = 1000}),
                    "model file " + quoted(model) + ": " + std::to_string(size) +
                        " bytes, more than the limit of 1000 (ReadLimits::max_file_bytes)");
  CHECK_NOTHROW(load<float>(model, {.max_file_bytes = static_cast<Index>(size)}));
  std::filesystem::remove(junk);
}

TEST_CASE("bad input: PGM numbers must end at whitespace", "[bad_input][image]") {
  const auto pgm = folder / "strict.pgm";
  test::write_file(pgm, std::string("P2 2 1 255\n1 2.5\n"));
  CHECK_THROWS_AS(read_pgm(pgm), format_error);
  CHECK_THROWS_WITH(read_pgm(pgm), "read_pgm: " + quoted(pgm) +
                                       " has '.' inside the pixel at byte 14, expected whitespace after a number");
  test::write_file(pgm, std::string("P2 2 1 255\n1 7abc"));
  CHECK_THROWS_WITH(read_pgm(pgm), "read_pgm: " + quoted(pgm) +
                                       " has 'a' inside the pixel at byte 14, expected whitespace after a number");
  test::write_file(pgm, std::string("P2 2x 1 255\n1 7\n"));
  CHECK_THROWS_WITH(read_pgm(pgm), "read_pgm: " + quoted(pgm) +
                                       " has 'x' inside the width at byte 4, expected whitespace after a number");
  // The last number may end the file, and a comment may follow a number directly.
  test::write_file(pgm, std::string("P2 2# width\n1 255\n1 7"));
  const Tensor<float, 3> image = read_pgm(pgm);
  CHECK(image(0, 0, 1) == 7.0F / 255.0F);
}

TEST_CASE("bad input: images whose pixels are cut short are refused", "[bad_input][image]") {
  // stb_image returned these with uninitialised memory (TGA, PPM) or zeros (BMP) in the missing pixels.
  const auto tga = folder / "short.tga";
  const Bytes header = {0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 0, 4, 0, 24, 0};  // 4x4 RGB, uncompressed
  test::write_file(tga, joined(header, Bytes(10, 0x55)));
  CHECK_THROWS_AS(read_image(tga), format_error);
  CHECK_THROWS_WITH(read_image(tga), "read_image: " + quoted(tga) +
                                         " is truncated: a 4x4 TGA needs 48 bytes of pixels, the file holds 10");
  test::write_file(tga, joined(header, Bytes(48, 0x55)));
  const Tensor<float, 3> complete = read_image(tga);
  CHECK(complete.shape() == Shape<3>{3, 4, 4});
  CHECK(complete(2, 3, 3) == 0x55 / 255.0F);

  Bytes rle_header = header;
  rle_header[2] = 10;                                                                // run-length RGB
  test::write_file(tga, joined(rle_header, {0x80 | 9, 1, 2, 3, 0x02, 4, 5, 6, 7}));  // 10 pixels + 2 of 3 literals
  CHECK_THROWS_WITH(read_image(tga), "read_image: " + quoted(tga) +
                                         " is truncated: a 4x4 run-length TGA needs 16 pixels, its packets hold 10");

  const auto ppm = folder / "short.ppm";
  test::write_file(ppm, std::string("P6\n4 4\n255\n") + std::string(20, 'x'));
  CHECK_THROWS_WITH(read_image(ppm), "read_image: " + quoted(ppm) +
                                         " is truncated: a 4x4 PPM needs 48 bytes of pixels, the file holds 20");

  // A 4x4 24-bit BMP: 14-byte file header, 40-byte info header, rows of 12 bytes.
  const auto bmp = folder / "short.bmp";
  Bytes bitmap_header(54, 0);
  const Bytes fields = {'B', 'M', 0, 0, 0, 0, 0, 0, 0, 0, 54, 0, 0, 0,  40,
                        0,   0,   0, 4, 0, 0, 0, 4, 0, 0, 0,  1, 0, 24, 0};
  std::copy(fields.begin(), fields.end(), bitmap_header.begin());
  // Cut short, refused with the sizes; whole, read.
  const auto cut_and_whole = [&](const Bytes& header) {
    test::write_file(bmp, joined(header, Bytes(20, 0x33)));
    CHECK_THROWS_WITH(read_image(bmp), "read_image: " + quoted(bmp) +
                                           " is truncated: a 4x4 BMP needs 48 bytes of pixels, the file holds 20");
    test::write_file(bmp, joined(header, Bytes(48, 0x33)));
    CHECK(read_image(bmp).shape() == Shape<3>{3, 4, 4});
  };
  cut_and_whole(bitmap_header);

  // Top-down (negative height) with a compression value stb_image does not
  // know, which it reads as plain rows: still 48 bytes needed.
  Bytes top_down = bitmap_header;
  top_down[22] = 0xFC, top_down[23] = top_down[24] = top_down[25] = 0xFF;  // height -4
  top_down[33] = 0xA9;                                                     // compression 0xA9000000
  cut_and_whole(top_down);
  // The same, 1048581 pixels wide: stb_image's header pass reports the
  // height as -253, which once slipped past the size check and let it
  // decode 265 million zero pixels out of 68 bytes.
  Bytes wide = top_down;
  wide[18] = 0x05, wide[20] = 0x10;  // width 0x100005
  wide[22] = 0x03;                   // height -253
  test::write_file(bmp, joined(wide, Bytes(14, 0x33)));
  CHECK_THROWS_WITH(read_image(bmp),
                    "read_image: " + quoted(bmp) + " claims 1048581x253 pixels, more than its 68 bytes can hold");
}

TEST_CASE("bad input: an image larger than ReadLimits allow is refused before decoding", "[bad_input][image]") {
  const auto png = folder / "limits.png";
  write_png(png, Tensor<float, 3>({1, 4, 5}).view());
  CHECK(read_image(png).shape() == Shape<3>{1, 4, 5});
  CHECK_THROWS_AS(read_image(png, {.max_image_pixels = 19}), format_error);
  CHECK_THROWS_WITH(
      read_image(png, {.max_image_pixels = 19}),
      "read_image: " + quoted(png) + " declares 5x4 pixels, more than the limit of 19 (ReadLimits::max_image_pixels)");
  const auto pgm = folder / "limits.pgm";
  test::write_file(pgm, std::string("P5 5 4 255\n") + std::string(20, '\x10'));
  CHECK_THROWS_WITH(
      read_pgm(pgm, {.max_image_pixels = 19}),
      "read_pgm: " + quoted(pgm) + " declares 5x4 pixels, more than the limit of 19 (ReadLimits::max_image_pixels)");
  CHECK_THROWS_WITH(
      read_pgm(pgm, {.max_file_bytes = 30}),
      "read_pgm: " + quoted(pgm) + " is 31 bytes, more than the limit of 30 (ReadLimits::max_file_bytes)");
  // The default: 8192 x 8192. A 2-byte-per-pixel-row BMP claiming 20000 x 20000 is refused before stb allocates.
  ReadLimits defaults;
  CHECK(defaults.max_image_pixels == 8192 * 8192);
  const auto idx = folder / "limits.idx3";
  test::write_file(idx, test::idx_file(idx_images_magic, {3, 4, 5}, test::image_pixels(3, 4, 5)));
  CHECK_THROWS_WITH(read_idx_images(idx, {.max_file_bytes = 59}),
                    "read_idx_images: " + quoted(idx) +
                        " claims 3 images of 4x5 = 60 bytes, more than the limit of 59 (ReadLimits::max_file_bytes)");
}

TEST_CASE("bad input: a full disk leaves the previous picture, chart and model intact", "[bad_input][files]") {
  // RLIMIT_FSIZE makes every write past 2 KB fail (EFBIG) as a full disk would (ENOSPC).
  const auto png = folder / "full.png";
  const auto svg = folder / "full.svg";
  const auto model = folder / "full.fovea";
  const auto csv = folder / "full.csv";
  write_png(png, Tensor<float, 3>({1, 2, 2}).view());
  write_csv(csv, {"epoch", "loss"}, {{1, 0.5}});
  write_svg(svg, {.series = {{"loss", {1, 2}}}});
  auto small = test::small_cnn<float>(4, 8);
  save(small, model);
  const Bytes old_png = test::read_file(png), old_svg = test::read_file(svg), old_model = test::read_file(model);
  const Bytes old_csv = test::read_file(csv);
  const std::vector<std::vector<double>> long_history(300, {1.0 / 3, 2.0 / 3});

  Tensor<float, 3> noise({3, 64, 64});
  Rng rng(5);
  for (float& v : noise) v = static_cast<float>(rng.uniform(0.0, 1.0));
  LineChart big{.series = {{"loss", std::vector<double>(500, 0.5)}}};
  for (std::size_t i = 0; i < big.series[0].y.size(); ++i) big.series[0].y[i] = std::sin(static_cast<double>(i));
  auto large = test::small_cnn<float>(4, 16);

  ::signal(SIGXFSZ, SIG_IGN);
  rlimit old_limit{};
  ::getrlimit(RLIMIT_FSIZE, &old_limit);
  rlimit limit = old_limit;
  limit.rlim_cur = 2048;
  REQUIRE(::setrlimit(RLIMIT_FSIZE, &limit) == 0);
  std::string png_error, svg_error, model_error, csv_error;
  try {
    write_csv(csv, {"epoch", "loss"}, long_history);
  } catch (const io_error& e) {
    csv_error = e.what();
  }
  try {
    write_png(png, noise.view());
  } catch (const io_error& e) {
    png_error = e.what();
  }
  try {
    write_svg(svg, big);
  } catch (const io_error& e) {
    svg_error = e.what();
  }
  try {
    save(large, model);
  } catch (const io_error& e) {
    model_error = e.what();
  }
  ::setrlimit(RLIMIT_FSIZE, &old_limit);
  ::signal(SIGXFSZ, SIG_DFL);

  CHECK(png_error ==
        "write_png: saving " + quoted(png) + " failed while writing: File too large (the previous file is intact)");
  CHECK(svg_error ==
        "write_svg: saving " + quoted(svg) + " failed while writing: File too large (the previous file is intact)");
  CHECK(model_error ==
        "saving " + quoted(model) + " failed while writing: File too large (the previous file is intact)");
  CHECK(csv_error ==
        "write_csv: saving " + quoted(csv) + " failed while writing: File too large (the previous file is intact)");
  CHECK(test::read_file(csv) == old_csv);
  CHECK(test::read_file(png) == old_png);
  CHECK(test::read_file(svg) == old_svg);
  CHECK(test::read_file(model) == old_model);
  for (const auto& entry : std::filesystem::directory_iterator(folder.path())) {
    CHECK_FALSE(entry.path().filename().string().find(".tmp-") != std::string::npos);
  }
}

TEST_CASE("bad input: CsvWriter and write_csv with bad arguments leave an existing file alone", "[bad_input][files]") {
  const auto csv = folder / "log.csv";
  test::write_file(csv, std::string("epoch,loss\n1,0.5\n"));
  CHECK_THROWS_AS(CsvWriter(csv, {}), value_error);
  CHECK_THROWS_WITH(CsvWriter(csv, {}), "CsvWriter: " + quoted(csv) + " needs at least one column");
  CHECK_THROWS_AS(write_csv(csv, {"epoch", "loss"}, {{2, 0.25}, {3}}), value_error);
  CHECK_THROWS_WITH(write_csv(csv, {"epoch", "loss"}, {{2, 0.25}, {3}}),
                    "write_csv: row 1 has 1 values for the 2 columns of " + quoted(csv));
  const Bytes after = test::read_file(csv);
  CHECK(std::string(after.begin(), after.end()) == "epoch,loss\n1,0.5\n");
}
