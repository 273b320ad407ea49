#include "fovea/io/image/png.hpp"

#include <catch2/catch.hpp>
#include <limits>

#include "support/temp_files.hpp"

using Catch::Matchers::StartsWith;
using fovea::Index;
using fovea::read_image;
using fovea::read_pgm;
using fovea::Shape;
using fovea::Tensor;
using fovea::tile_grid;
using fovea::TileGridOptions;
using fovea::write_png;
using fovea::test::Bytes;

namespace {

const fovea::test::TempFolder folder("png");

std::string quoted(const std::filesystem::path& path) { return fovea::detail::quoted_path(path); }

Bytes text_bytes(const std::string& text) { return {text.begin(), text.end()}; }

}  // namespace

TEST_CASE("a gray byte image survives a PNG round trip exactly", "[io][png]") {
  Tensor<std::uint8_t, 3> image({1, 3, 4});
  for (Index y = 0; y < 3; ++y) {
    for (Index x = 0; x < 4; ++x) image(0, y, x) = static_cast<std::uint8_t>((y * 4 + x) * 23);
  }
  const auto path = folder / "gray.png";
  write_png(path, image);
  const Tensor<float, 3> back = read_image(path);
  REQUIRE(back.shape() == Shape<3>{1, 3, 4});
  for (Index i = 0; i < image.size(); ++i) CHECK(back.data()[i] == static_cast<float>(image.data()[i]) / 255.0F);
}

TEMPLATE_TEST_CASE("RGB and RGBA images keep their channel planes through a PNG round trip", "[io][png]", float,
                   double) {
  for (const Index channels : {Index{3}, Index{4}, Index{2}}) {
    Tensor<TestType, 3> image({channels, 2, 3});
    for (Index c = 0; c < channels; ++c) {
      for (Index y = 0; y < 2; ++y) {
        for (Index x = 0; x < 3; ++x) image(c, y, x) = static_cast<TestType>((c * 60 + y * 30 + x * 7) / 255.0);
      }
    }
    const auto path = folder / ("color" + std::to_string(channels) + ".png");
    write_png(path, image);
    const Tensor<float, 3> back = read_image(path);
    REQUIRE(back.shape() == Shape<3>{channels, 2, 3});
    CHECK(back(0, 1, 2) == static_cast<float>(30 + 14) / 255.0F);
    CHECK(back(1, 0, 0) == static_cast<float>(60) / 255.0F);
    CHECK(back(channels - 1, 1, 1) == static_cast<float>((channels - 1) * 60 + 37) / 255.0F);
  }
}

TEST_CASE("floating-point pixels are clamped to [0, 1] and rounded; NaN is refused", "[io][png]") {
  const auto path = folder / "clamped.png";
  write_png(path, Tensor<float, 2>({1, 4}, {-0.5F, 0.5F, 1.5F, 0.999F}));
  const auto back = read_image(path);
  CHECK(back(0, 0, 0) == 0.0F);
  CHECK(back(0, 0, 1) == 128.0F / 255.0F);
  CHECK(back(0, 0, 2) == 1.0F);
  CHECK(back(0, 0, 3) == 1.0F);

  const Tensor<float, 3> bad({1, 1, 2}, {0.0F, std::numeric_limits<float>::quiet_NaN()});
  CHECK_THROWS_AS(write_png(folder / "nan.png", bad), fovea::numeric_error);
  CHECK_THROWS_WITH(write_png(folder / "nan.png", bad),
                    "write_png: non-finite value nan at element 1 of image [1, 1, 2]");
}

TEST_CASE("write_png names the problem: channel count, missing folder", "[io][png][errors]") {
  CHECK_THROWS_AS(write_png(folder / "five.png", Tensor<std::uint8_t, 3>({5, 2, 2})), fovea::shape_error);
  CHECK_THROWS_WITH(write_png(folder / "five.png", Tensor<std::uint8_t, 3>({5, 2, 2})),
                    "write_png: image [5, 2, 2], expected [C, H, W] with C = 1 (gray), 2 (gray + alpha), 3 (RGB) or "
                    "4 (RGBA) and H, W >= 1");
  CHECK_THROWS_WITH(write_png(folder / "empty.png", Tensor<float, 3>({1, 0, 2})),
                    StartsWith("write_png: image [1, 0, 2], expected [C, H, W]"));
  const auto nowhere = folder / "no-such-folder" / "image.png";
  CHECK_THROWS_AS(write_png(nowhere, Tensor<std::uint8_t, 2>({2, 2})), fovea::io_error);
  CHECK_THROWS_WITH(write_png(nowhere, Tensor<std::uint8_t, 2>({2, 2})),
                    "write_png: cannot write " + quoted(nowhere) + ": its folder does not exist");
}

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
  CHECK_THROWS_WITH(read_image(cut), StartsWith("read_image: cannot decode " + quoted(cut)));
}

TEST_CASE("PGM files load in both the plain (P2) and the binary (P5) form", "[io][png][pgm]") {
  SECTION("P2 with comments") {
    const auto path = folder / "plain.pgm";
    fovea::test::write_file(path, std::string("P2\n# made by hand\n3 2\n# max:\n10\n0 5 10\n10  5\t0\n"));
    for (const auto& image : {read_pgm(path), read_image(path)}) {
      REQUIRE(image.shape() == Shape<3>{1, 2, 3});
      CHECK(image(0, 0, 1) == 0.5F);
      CHECK(image(0, 0, 2) == 1.0F);
      CHECK(image(0, 1, 0) == 1.0F);
      CHECK(image(0, 1, 2) == 0.0F);
    }
  }
  SECTION("P5, 8 bits") {
    const auto path = folder / "binary8.pgm";
    Bytes bytes = text_bytes("P5 2 2 255\n");
    bytes.insert(bytes.end(), {0, 128, 255, 32});  // 32 is a space: data, not a separator
    fovea::test::write_file(path, bytes);
    const auto image = read_image(path);
    REQUIRE(image.shape() == Shape<3>{1, 2, 2});
    CHECK(image(0, 0, 1) == 128.0F / 255.0F);
    CHECK(image(0, 1, 0) == 1.0F);
    CHECK(image(0, 1, 1) == 32.0F / 255.0F);
  }
  SECTION("P5, 16 bits big-endian") {
    const auto path = folder / "binary16.pgm";
    Bytes bytes = text_bytes("P5\n2 1\n1000\n");
    bytes.insert(bytes.end(), {0x01, 0xF4, 0x03, 0xE8});  // 500, 1000
    fovea::test::write_file(path, bytes);
    const auto image = read_pgm(path);
    CHECK(image(0, 0, 0) == 0.5F);
    CHECK(image(0, 0, 1) == 1.0F);
  }
}

TEST_CASE("bad PGM files are a format_error naming the file and the problem", "[io][png][pgm][errors]") {
  auto check = [](const std::string& name, const Bytes& bytes, const std::string& expected) {
    const auto path = folder / name;
    fovea::test::write_file(path, bytes);
    CHECK_THROWS_AS(read_pgm(path), fovea::format_error);
    CHECK_THROWS_WITH(read_pgm(path), "read_pgm: " + quoted(path) + " " + expected);
  };
  check("p6.pgm", text_bytes("P6 1 1 255\n..."), "is not a PGM file: it starts with 'P6', expected P2 or P5");
  check("empty.pgm", {}, "is not a PGM file: it starts with nothing (empty file), expected P2 or P5");
  check("word.pgm", text_bytes("P2 3 x 10\n"), "has 'x' where the height should be, at byte 5");
  check("header.pgm", text_bytes("P2 3 2"), "is truncated: expected the maximum value, found the end");
  check("above.pgm", text_bytes("P2 3 1 10\n0 5 11\n"), "has pixel value 11 at pixel 2, above its maximum value 10");
  check("maxval.pgm", text_bytes("P2 1 1 70000\n0\n"), "has maximum value 70000, expected 1..65535");
  check("zero.pgm", text_bytes("P5 0 4 255\n"), "has size 0x4, expected at least 1x1");
  check("plain-cut.pgm", text_bytes("P2 3 3 10\n1 2 3 4 5 6 7 8   "),
        "is truncated: expected the pixel, found the end");
  Bytes cut = text_bytes("P5 4 4 255\n");
  cut.insert(cut.end(), 15, 7);
  check("binary-cut.pgm", cut, "is truncated in the pixels: expected 16 bytes for 4x4, found 15");
  // An absurd size fails before allocating 10^10 floats.
  check("absurd.pgm", text_bytes("P5 100000 100000 255\n\x01\x02"),
        "is truncated: the header promises 100000x100000 pixels, more than the 3 bytes left can hold");
}

TEST_CASE("tile_grid lays maps out in a near-square grid, each normalised by its own range", "[io][png][tiles]") {
  // Six 5x5 maps with values 100k + 5y + x: each tile runs 0 -> 1.
  Tensor<float, 3> maps({6, 5, 5});
  for (Index k = 0; k < 6; ++k) {
    for (Index y = 0; y < 5; ++y) {
      for (Index x = 0; x < 5; ++x) maps(k, y, x) = static_cast<float>(100 * k + 5 * y + x);
    }
  }
  const Tensor<float, 2> grid = tile_grid(maps);
  // ceil(sqrt(6)) = 3 columns, 2 rows, 1-pixel borders.
  REQUIRE(grid.shape() == Shape<2>{2 * 5 + 3, 3 * 5 + 4});
  CHECK(grid(0, 0) == 1.0F);  // border
  CHECK(grid(6, 3) == 1.0F);  // border between the rows
  for (Index k = 0; k < 6; ++k) {
    const Index top = 1 + (k / 3) * 6, left = 1 + (k % 3) * 6;
    CHECK(grid(top, left) == 0.0F);
    CHECK(grid(top + 4, left + 4) == 1.0F);
    CHECK(grid(top + 2, left + 2) == Approx(0.5));
  }
  CHECK(grid.array().minCoeff() == 0.0F);
  CHECK(grid.array().maxCoeff() == 1.0F);

  // Explicit columns, no border, every map pixel 2x2; a constant map is mid gray.
  maps.item(1).fill(3.0F);
  const Tensor<float, 2> wide = tile_grid(maps, {.columns = 6, .border = 0, .scale = 2});
  REQUIRE(wide.shape() == Shape<2>{10, 60});
  CHECK(wide(0, 10) == 0.5F);
  CHECK(wide(9, 9) == 1.0F);  // map 0's last pixel, scaled
  CHECK(wide(8, 8) == 1.0F);

  // Seven maps in 3x3: the two empty slots take the border value.
  const Tensor<float, 2> seven = tile_grid(Tensor<double, 3>({7, 2, 2}), {.border = 1, .border_value = 0.25F});
  REQUIRE(seven.shape() == Shape<2>{3 * 2 + 4, 3 * 2 + 4});
  CHECK(seven(8, 5) == 0.25F);
  CHECK(seven(1, 1) == 0.5F);  // an all-zero map

  // The grid goes straight to a PNG.
  const auto path = folder / "grid.png";
  write_png(path, grid);
  CHECK(read_image(path).shape() == Shape<3>{1, 13, 19});
}

TEST_CASE("tile_grid of convolution weights puts filters in rows and input channels in columns", "[io][png][tiles]") {
  CHECK(tile_grid(Tensor<float, 4>({16, 6, 5, 5})).shape() == Shape<2>{16 * 5 + 17, 6 * 5 + 7});
  CHECK(tile_grid(Tensor<float, 4>({6, 1, 5, 5})).shape() == Shape<2>{2 * 5 + 3, 3 * 5 + 4});  // conv1: near-square
  CHECK(tile_grid(Tensor<double, 4>({6, 1, 5, 5}), {.columns = 6, .scale = 4}).shape() == Shape<2>{22, 127});
}

TEST_CASE("tile_grid refuses empty input and non-finite values", "[io][png][tiles][errors]") {
  CHECK_THROWS_AS(tile_grid(Tensor<float, 3>({0, 5, 5})), fovea::shape_error);
  CHECK_THROWS_WITH(tile_grid(Tensor<float, 3>({2, 5, 5}), {.scale = 0}),
                    "tile_grid: maps [2, 5, 5], columns 0, border 1, scale 0: expected at least one non-empty map, "
                    "columns >= 0, border >= 0, scale >= 1");
  Tensor<float, 3> maps({3, 2, 2});
  maps(1, 0, 1) = std::numeric_limits<float>::infinity();
  CHECK_THROWS_AS(tile_grid(maps), fovea::numeric_error);
  CHECK_THROWS_WITH(tile_grid(maps), "tile_grid: non-finite value inf in map 1 of [3, 2, 2]");
}
