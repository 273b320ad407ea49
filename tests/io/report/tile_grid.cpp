#include "fovea/io/report/tile_grid.hpp"

#include <catch2/catch.hpp>
#include <limits>

#include "support/temp_files.hpp"

#include "fovea/io/image/png.hpp"
#include "fovea/io/image/read_image.hpp"

using fovea::Index;
using fovea::read_image;
using fovea::Shape;
using fovea::Tensor;
using fovea::tile_grid;
using fovea::write_png;

namespace {

const fovea::test::TempFolder folder("tile-grid");

}  // namespace

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
