#include "fovea/io/image/read_image.hpp"

#include <catch2/catch.hpp>
#include <string>

#include "support/temp_files.hpp"

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
  CHECK_THROWS_WITH(read_image(cut), StartsWith("read_image: cannot decode " + quoted(cut)));
}
