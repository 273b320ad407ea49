#include "fovea/io/image/pgm.hpp"

#include <catch2/catch.hpp>
#include <string>

#include "support/temp_files.hpp"

#include "fovea/io/image/read_image.hpp"

using fovea::read_image;
using fovea::read_pgm;
using fovea::Shape;
using fovea::test::Bytes;

namespace {

const fovea::test::TempFolder folder("pgm");

std::string quoted(const std::filesystem::path& path) { return fovea::detail::quoted_path(path); }

Bytes text_bytes(const std::string& text) { return {text.begin(), text.end()}; }

}  // namespace

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
