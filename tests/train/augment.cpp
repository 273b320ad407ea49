#include "fovea/train/augment.hpp"

#include <catch2/catch.hpp>
#include <set>
#include <vector>

using namespace fovea;

namespace {
// Image c, h, w holds 1 + c*100 + h*10 + w: every pixel says where it came from.
TensorDataset<float> numbered(Index count, Index channels, Index side) {
  Tensor<float, 4> x({count, channels, side, side});
  for (Index n = 0; n < count; ++n) {
    for (Index c = 0; c < channels; ++c) {
      for (Index h = 0; h < side; ++h) {
        for (Index w = 0; w < side; ++w) x(n, c, h, w) = static_cast<float>(1 + c * 100 + h * 10 + w);
      }
    }
  }
  return TensorDataset<float>(std::move(x), std::vector<std::int32_t>(static_cast<std::size_t>(count), 3));
}
}  // namespace

TEST_CASE("shift_and_flip moves pixels by the offset, zeros coming in", "[train][augment]") {
  for (Index dy = -2; dy <= 2; ++dy) {
    for (Index dx = -2; dx <= 2; ++dx) {
      for (bool flip : {false, true}) {
        auto data = numbered(1, 2, 5);
        Tensor<float, 3> image(data.samples().item(0));
        shift_and_flip(TensorView<float, 3>(image), dy, dx, flip);
        for (Index c = 0; c < 2; ++c) {
          for (Index h = 0; h < 5; ++h) {
            for (Index w = 0; w < 5; ++w) {
              const Index before_flip = flip ? 4 - w : w;  // the column the shift wrote here
              const Index from_h = h + dy, from_w = before_flip + dx;
              const bool inside = from_h >= 0 && from_h < 5 && from_w >= 0 && from_w < 5;
              const float want = inside ? static_cast<float>(1 + c * 100 + from_h * 10 + from_w) : 0.0f;
              INFO("dy " << dy << " dx " << dx << " flip " << flip << " at " << c << "," << h << "," << w);
              CHECK(image(c, h, w) == want);
            }
          }
        }
      }
    }
  }
}

TEST_CASE("Augmented crops and flips at random, the same way for the same seed", "[train][augment]") {
  auto data = numbered(64, 1, 6);
  Augmented<TensorDataset<float>> a(data, {.crop_padding = 2, .horizontal_flip = true, .seed = 5});
  Augmented<TensorDataset<float>> b(data, {.crop_padding = 2, .horizontal_flip = true, .seed = 5});
  Augmented<TensorDataset<float>> other(data, {.crop_padding = 2, .horizontal_flip = true, .seed = 6});
  CHECK(a.size() == 64);
  CHECK(a.sample_shape() == SampleShape{1, 6, 6});
  std::vector<Index> indices(64);
  for (Index i = 0; i < 64; ++i) indices[static_cast<std::size_t>(i)] = i;
  Tensor<float, 4> xa({64, 1, 6, 6}), xb({64, 1, 6, 6}), xo({64, 1, 6, 6});
  std::vector<std::int32_t> labels(64);
  a.make_batch<float>(indices, xa, labels);
  b.make_batch<float>(indices, xb, labels);
  other.make_batch<float>(indices, xo, labels);
  CHECK(labels[7] == 3);
  CHECK(xa.array().isApprox(xb.array(), 0));
  CHECK(!xa.array().isApprox(xo.array()));
  // Which offsets and flips occurred: the pixel at (2, 2) of an image came from
  // (2 + dy, 2 + dx), or with a flip from column 3 - ... ; count distinct ones.
  std::set<float> centres;
  int flipped = 0;
  for (Index n = 0; n < 64; ++n) {
    centres.insert(xa(n, 0, 2, 2));
    // A flipped image reads its row backwards: column 0 holds a larger value than column 5 when both are inside.
    if (xa(n, 0, 2, 1) > xa(n, 0, 2, 4) && xa(n, 0, 2, 4) != 0) ++flipped;
  }
  CHECK(centres.size() >= 12);  // up to 25 offsets
  CHECK(flipped > 10);
  CHECK(flipped < 54);
  // The next batch draws again.
  a.make_batch<float>(indices, xb, labels);
  CHECK(!xa.array().isApprox(xb.array()));
  CHECK_THROWS_WITH(Augmented<TensorDataset<float>>(data, {.crop_padding = 6}),
                    "Augmented: crop padding 6 must be at least 0 and less than the image's height and width [1, 6, "
                    "6]");
}
