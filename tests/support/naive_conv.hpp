#pragma once

// The reference every fast convolution path is checked against: the
// definition of a (cross-correlation) convolution as direct loops in double,
// sharing no code with fovea's ops. Forward and backward.

#include <algorithm>
#include <sstream>
#include <string>
#include <vector>

#include "fovea/core/random.hpp"
#include "fovea/core/tensor.hpp"
#include "fovea/ops/im2col.hpp"

namespace naive {

using fovea::Index;
using fovea::Tensor;

// pad_h, pad_w: top and left; pad_bottom, pad_right: -1 for the same as the
// opposite side. Filter f of `groups` sees input channels
// [g * Cin/groups, (g+1) * Cin/groups) with g = f / (Cout/groups).
struct ConvSettings {
  Index stride_h = 1, stride_w = 1;
  Index pad_h = 0, pad_w = 0;
  Index dilation_h = 1, dilation_w = 1;
  Index pad_bottom = -1, pad_right = -1;
  Index groups = 1;

  Index bottom() const { return pad_bottom < 0 ? pad_h : pad_bottom; }
  Index right() const { return pad_right < 0 ? pad_w : pad_right; }
};

inline Index out_size(Index in, Index k, Index s, Index before, Index after, Index d) {
  return (in + before + after - d * (k - 1) - 1) / s + 1;
}

// Input position a window tap reads, or -1 when it falls in the padding.
inline Index tap(Index o, Index k, Index s, Index p, Index d, Index size) {
  const Index i = o * s - p + k * d;
  return i >= 0 && i < size ? i : -1;
}

// x: [N, Cin, H, W], w: [Cout, Cin/groups, KH, KW], b: [Cout] or empty -> [N, Cout, OH, OW]
template <class T>
Tensor<double, 4> conv2d(const Tensor<T, 4>& x, const Tensor<T, 4>& w, const Tensor<T, 1>& b, const ConvSettings& s) {
  const Index N = x.dim(0), H = x.dim(2), W = x.dim(3);
  const Index F = w.dim(0), C = w.dim(1), KH = w.dim(2), KW = w.dim(3), per_group = F / s.groups;
  const Index OH = out_size(H, KH, s.stride_h, s.pad_h, s.bottom(), s.dilation_h);
  const Index OW = out_size(W, KW, s.stride_w, s.pad_w, s.right(), s.dilation_w);
  Tensor<double, 4> y({N, F, OH, OW});
  for (Index n = 0; n < N; ++n)
    for (Index f = 0; f < F; ++f)
      for (Index oh = 0; oh < OH; ++oh)
        for (Index ow = 0; ow < OW; ++ow) {
          double sum = b.empty() ? 0.0 : static_cast<double>(b(f));
          for (Index c = 0; c < C; ++c)
            for (Index i = 0; i < KH; ++i)
              for (Index j = 0; j < KW; ++j) {
                const Index ih = tap(oh, i, s.stride_h, s.pad_h, s.dilation_h, H);
                const Index iw = tap(ow, j, s.stride_w, s.pad_w, s.dilation_w, W);
                if (ih >= 0 && iw >= 0)
                  sum += static_cast<double>(x(n, f / per_group * C + c, ih, iw)) * static_cast<double>(w(f, c, i, j));
              }
          y(n, f, oh, ow) = sum;
        }
  return y;
}

struct ConvGradients {
  Tensor<double, 4> dx;
  Tensor<double, 4> dw;
  Tensor<double, 1> db;
};

// The chain rule written out element by element: every product in the
// forward sum sends dy back to the input and the weight it multiplied.
template <class T>
ConvGradients conv2d_backward(const Tensor<T, 4>& x, const Tensor<T, 4>& w, const Tensor<T, 4>& dy,
                              const ConvSettings& s) {
  const Index N = x.dim(0), H = x.dim(2), W = x.dim(3);
  const Index F = w.dim(0), C = w.dim(1), KH = w.dim(2), KW = w.dim(3), per_group = F / s.groups;
  const Index OH = dy.dim(2), OW = dy.dim(3);
  ConvGradients g{Tensor<double, 4>(x.shape()), Tensor<double, 4>(w.shape()), Tensor<double, 1>({F})};
  for (Index n = 0; n < N; ++n)
    for (Index f = 0; f < F; ++f)
      for (Index oh = 0; oh < OH; ++oh)
        for (Index ow = 0; ow < OW; ++ow) {
          const double d = static_cast<double>(dy(n, f, oh, ow));
          g.db(f) += d;
          for (Index c = 0; c < C; ++c)
            for (Index i = 0; i < KH; ++i)
              for (Index j = 0; j < KW; ++j) {
                const Index ih = tap(oh, i, s.stride_h, s.pad_h, s.dilation_h, H);
                const Index iw = tap(ow, j, s.stride_w, s.pad_w, s.dilation_w, W);
                if (ih < 0 || iw < 0) continue;
                const Index channel = f / per_group * C + c;
                g.dx(n, channel, ih, iw) += d * static_cast<double>(w(f, c, i, j));
                g.dw(f, c, i, j) += d * static_cast<double>(x(n, channel, ih, iw));
              }
        }
  return g;
}

// One convolution configuration of the randomised sweeps.
struct ConvCase {
  Index N, Cin, Cout, H, W, KH, KW;
  ConvSettings s;
  bool bias;

  fovea::Window2d window() const {
    return {.kernel_h = KH,
            .kernel_w = KW,
            .stride_h = s.stride_h,
            .stride_w = s.stride_w,
            .pad_top = s.pad_h,
            .pad_bottom = s.bottom(),
            .pad_left = s.pad_w,
            .pad_right = s.right(),
            .dilation_h = s.dilation_h,
            .dilation_w = s.dilation_w};
  }
  std::string describe() const {
    std::ostringstream out;
    out << "x [" << N << ", " << Cin << ", " << H << ", " << W << "], " << Cout << " filters " << KH << "x" << KW
        << ", stride " << s.stride_h << "x" << s.stride_w << ", pad t" << s.pad_h << " b" << s.bottom() << " l"
        << s.pad_w << " r" << s.right() << ", dilation " << s.dilation_h << "x" << s.dilation_w << ", groups "
        << s.groups << (bias ? ", bias" : ", no bias");
    return out.str();
  }
};

// Hand-picked corners (1x1 fast path, 1x1 with stride, same padding,
// non-square kernels, dilation, a batch that splits unevenly) followed by
// `random_count` random configurations from a fixed seed.
inline std::vector<ConvCase> conv_cases(int random_count, std::uint64_t seed = 2024) {
  std::vector<ConvCase> cases = {
      {2, 3, 4, 5, 7, 1, 1, {}, true},                    // pointwise: no im2col
      {2, 3, 2, 5, 7, 1, 1, {2, 2, 0, 0, 1, 1}, false},   // 1x1 with stride: im2col
      {3, 2, 3, 6, 6, 1, 1, {1, 1, 1, 1, 1, 1}, true},    // 1x1 with padding
      {2, 1, 3, 8, 8, 5, 5, {1, 1, 2, 2, 1, 1}, true},    // LeNet's first layer, small
      {5, 2, 2, 7, 5, 3, 3, {1, 1, 1, 1, 1, 1}, false},   // same padding, odd batch
      {2, 2, 3, 6, 9, 1, 3, {1, 2, 0, 1, 1, 1}, true},    // 1x3 kernel
      {1, 2, 2, 9, 7, 3, 2, {2, 1, 1, 0, 2, 3}, true},    // dilation, non-square everything
      {3, 3, 2, 11, 10, 3, 3, {3, 2, 0, 1, 1, 1}, true},  // stride does not tile: floor
  };
  fovea::Rng rng(seed);
  auto pick = [&](Index lo, Index hi) { return lo + rng.uniform_index(hi - lo + 1); };
  for (int i = 0; i < random_count; ++i) {
    ConvCase c{};
    c.N = pick(1, 3);
    c.Cin = pick(1, 3);
    c.Cout = pick(1, 4);
    c.KH = pick(1, 4);
    c.KW = pick(1, 4);
    c.s = {pick(1, 3), pick(1, 3), pick(0, 2), pick(0, 2), pick(1, 2), pick(1, 2)};
    const Index extent_h = c.s.dilation_h * (c.KH - 1) + 1, extent_w = c.s.dilation_w * (c.KW - 1) + 1;
    c.H = std::max<Index>(1, extent_h - 2 * c.s.pad_h) + pick(0, 5);
    c.W = std::max<Index>(1, extent_w - 2 * c.s.pad_w) + pick(0, 5);
    c.bias = rng.uniform01() < 0.5;
    cases.push_back(c);
  }
  return cases;
}

// One input channel, stride 1, no dilation: the shapes fovea convolves
// directly, without im2col. Widths around the 16-float register block (15,
// 16, 17, 33), filter counts across the blocks of six (1, 5, 6, 7, 13) and
// paddings that are zero, one-sided wide and asymmetric per axis.
inline std::vector<ConvCase> direct_cases() {
  return {
      {2, 1, 6, 28, 28, 5, 5, {1, 1, 2, 2, 1, 1}, true},  // LeNet's conv1
      {3, 1, 1, 5, 5, 3, 3, {}, false},                   // the smallest: one filter, no padding
      {1, 1, 5, 9, 15, 3, 3, {1, 1, 1, 1, 1, 1}, true},   // one partial block per row
      {2, 1, 7, 6, 16, 2, 4, {1, 1, 0, 3, 1, 1}, false},  // even kernel, wide left/right pad
      {1, 1, 13, 4, 17, 1, 1, {}, true},                  // 1x1, two blocks of six and one of one
      {2, 1, 3, 11, 33, 7, 3, {1, 1, 3, 0, 1, 1}, true},  // tall kernel, three blocks per row
      {5, 1, 6, 3, 40, 3, 5, {1, 1, 2, 1, 1, 1}, false},  // odd batch for two threads
      {1, 1, 2, 1, 6, 1, 6, {1, 1, 0, 0, 1, 1}, true},    // one row, kernel as wide as the input
  };
}

// A few input channels (2..16), stride 1, no dilation: the shapes fovea runs
// as an implicit GEMM with output channels in the vector lanes (the "vector"
// path). Output widths that split into position blocks of 1..12 (1, 5, 10,
// 13, 28), filter counts around the 16-float vector (1, 6, 16, 17, 33: one or
// two vectors, zero lanes), paddings zero, same, wider than the kernel (dy
// rows no input reaches) and asymmetric, 1x1 with padding (not pointwise),
// and the largest channel count the path takes.
inline std::vector<ConvCase> vector_cases() {
  return {
      {2, 6, 16, 14, 14, 5, 5, {}, true},                      // LeNet's conv2
      {3, 2, 1, 5, 5, 3, 3, {}, false},                        // one filter: fifteen zero lanes
      {1, 3, 6, 9, 10, 3, 3, {1, 1, 1, 1, 1, 1}, true},        // same padding, 6 filters
      {2, 4, 17, 6, 13, 2, 4, {1, 1, 0, 3, 1, 1}, false},      // wide left/right pad, 17 filters
      {1, 2, 33, 4, 28, 3, 1, {1, 1, 2, 0, 1, 1}, true},       // two vectors + one, 28 = 10 + 9 + 9
      {5, 16, 5, 7, 7, 3, 3, {1, 1, 1, 1, 1, 1}, true},        // 16 input channels, odd batch
      {1, 3, 4, 3, 3, 2, 2, {1, 1, 3, 2, 1, 1}, true},         // padding wider than the kernel
      {2, 2, 3, 5, 1, 3, 1, {}, true},                         // one column
      {1, 5, 16, 1, 12, 1, 5, {1, 1, 0, 2, 1, 1}, false},      // one row, 1x5 kernel
      {2, 3, 7, 4, 6, 1, 1, {1, 1, 1, 1, 1, 1}, true},         // 1x1 with padding: not pointwise
      {2, 40, 5, 4, 3, 3, 3, {1, 1, 1, 1, 1, 1}, true},        // 40 input channels (ResNet-8's are 16 to 64)
      {1, 64, 17, 3, 4, 3, 2, {1, 1, 1, 0, 1, 1}, false},      // 64 input channels, 17 filters
      {2, 4, 6, 9, 9, 3, 3, {2, 2, 1, 1, 1, 1}, true},         // stride 2 (dx through col2im)
      {1, 3, 5, 8, 7, 3, 2, {3, 2, 1, 0, 1, 1, 0, 1}, false},  // unequal strides, one-sided padding
      {2, 5, 4, 6, 6, 1, 1, {2, 2, 0, 0, 1, 1}, true},         // a 1x1 projection at stride 2
      // 3x3 rows at least half a register block wide take the unrolled
      // kernel: two vectors + one over 14 = 7 + 7 positions, and at stride 2
      // over 7 positions in one block.
      {1, 8, 40, 6, 14, 3, 3, {1, 1, 1, 1, 1, 1}, true},
      {2, 4, 33, 13, 13, 3, 3, {2, 2, 1, 1, 1, 1}, false},
  };
}

// 3x3 at stride 1 with enough channels for Winograd's F(2x2, 3x3) forward:
// even and odd output sizes (a last tile row or column half outside), no,
// same and one-sided padding, an input a few rows high (tiles reading the
// rows of zeros above and below it), and passes that span samples.
inline std::vector<ConvCase> winograd_cases() {
  return {
      {2, 64, 32, 8, 8, 3, 3, {1, 1, 1, 1}, true},                // same padding, 8x8
      {3, 72, 17, 9, 11, 3, 3, {1, 1, 1, 1}, false},              // odd sizes, odd filter count
      {1, 64, 64, 12, 10, 3, 3, {}, true},                        // no padding: 10x8
      {2, 65, 20, 10, 13, 3, 3, {1, 1, 2, 0, 1, 1, 0, 2}, true},  // top 2 / bottom 0, left 0 / right 2
      {2, 64, 8, 3, 9, 3, 3, {1, 1, 1, 1}, false},                // three rows high
      {3, 128, 160, 20, 20, 3, 3, {1, 1, 1, 1}, true},            // several passes, across samples
      {1, 96, 24, 16, 17, 3, 3, {1, 1, 2, 2, 1, 1, 0, 3}, true},  // padding wider than one
  };
}

// Grouped and depthwise convolutions: groups through im2col (with stride,
// dilation, one-sided padding), through the pointwise GEMMs, and depthwise
// (groups == Cin) with channel multipliers 1 and 2, strides, dilation,
// one-sided padding and 1x1.
inline std::vector<ConvCase> grouped_cases() {
  return {
      {2, 4, 6, 7, 8, 3, 3, {1, 1, 1, 1, 1, 1, -1, -1, 2}, true},    // 2 groups, same padding
      {1, 6, 4, 9, 9, 3, 2, {2, 1, 1, 0, 2, 1, 0, 2, 2}, false},     // stride, dilation, one-sided padding
      {3, 6, 9, 5, 5, 1, 1, {1, 1, 0, 0, 1, 1, -1, -1, 3}, true},    // pointwise, 3 groups
      {2, 3, 3, 8, 9, 3, 3, {1, 1, 1, 1, 1, 1, -1, -1, 3}, true},    // depthwise
      {3, 4, 8, 10, 7, 3, 3, {2, 2, 0, 1, 1, 2, 2, 0, 4}, true},     // depthwise x2, stride, dilation
      {1, 5, 5, 4, 4, 1, 1, {1, 1, 0, 0, 1, 1, -1, -1, 5}, false},   // depthwise 1x1
      {2, 6, 6, 14, 14, 5, 5, {1, 1, 2, 2, 1, 1, -1, -1, 6}, true},  // depthwise 5x5 on 14x14
      {5, 2, 4, 6, 5, 2, 3, {1, 2, 0, 2, 1, 1, 1, 0, 2}, true},      // depthwise x2, odd batch
      {1, 4, 4, 11, 13, 3, 3, {3, 3, 2, 1, 1, 1, 0, 3, 4}, true},    // depthwise, stride 3, wide right padding
      {2, 3, 3, 1, 17, 1, 3, {1, 2, 0, 1, 1, 3, -1, -1, 3}, false},  // depthwise, one row, stride 2, dilation 3
  };
}

// Padding that differs between opposite sides, on every algorithm: direct
// (one input channel), vector (a few), im2col (stride 2, TensorFlow's "same"),
// and a padded 1x1 kernel.
inline std::vector<ConvCase> asymmetric_cases() {
  return {
      {2, 1, 6, 9, 12, 5, 5, {1, 1, 2, 2, 1, 1, 0, 3}, true},    // direct
      {1, 1, 3, 6, 7, 3, 3, {1, 1, 0, 4, 1, 1, 3, 0}, false},    // direct, wide one-sided padding
      {2, 6, 16, 10, 10, 5, 5, {1, 1, 1, 2, 1, 1, 3, 0}, true},  // vector
      {1, 3, 5, 5, 4, 3, 2, {1, 1, 4, 0, 1, 1, 0, 2}, true},     // vector, padding wider than the kernel
      {2, 3, 4, 8, 8, 3, 3, {2, 2, 0, 0, 1, 1, 1, 1}, true},     // im2col, stride 2
      {3, 20, 4, 6, 7, 3, 3, {1, 1, 0, 1, 1, 1, 1, 0}, false},   // im2col, many channels
      {1, 2, 3, 4, 5, 1, 1, {1, 1, 0, 1, 1, 1, 1, 0}, true},     // padded 1x1
  };
}

// max |a - b| / max |b|: the error relative to the result's scale, so that
// outputs which cancel to near zero are not held to a relative bound.
template <class A, std::size_t Rank>
double relative_error(const fovea::Tensor<A, Rank>& a, const fovea::Tensor<double, Rank>& b) {
  const double scale = std::max(b.array().abs().maxCoeff(), 1e-30);
  return (a.array().template cast<double>() - b.array()).abs().maxCoeff() / scale;
}

}  // namespace naive
