#include "fovea/io/image/png.hpp"

#include <catch2/catch.hpp>
#include <limits>

#include "support/temp_files.hpp"

#include "fovea/io/image/read_image.hpp"

using Catch::Matchers::StartsWith;
using fovea::Index;
using fovea::read_image;
using fovea::Shape;
using fovea::Tensor;
using fovea::write_png;

namespace {

const fovea::test::TempFolder folder("png");

std::string quoted(const std::filesystem::path& path) { return fovea::detail::quoted_path(path); }

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
