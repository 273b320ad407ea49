#include "fovea/ops/linear.hpp"

#include <array>
#include <catch2/catch.hpp>
#include <vector>

#include "fovea/core/tensor.hpp"
#include "fovea/ops/activation.hpp"

using fovea::Index;
using fovea::Tensor;

TEMPLATE_TEST_CASE("linear_forward computes x W^T + b", "[linear]", float, double) {
  const Tensor<TestType, 2> x({2, 2}, {1, 1, 2, -1});
  const Tensor<TestType, 2> w({3, 2}, {1, 2, 3, 4, 5, 6});
  const Tensor<TestType, 1> b({3}, {1, 0, -1});
  Tensor<TestType, 2> y({2, 3});
  fovea::linear_forward<TestType>(x, w, b, y);
  const Tensor<TestType, 2> expected({2, 3}, {4, 7, 10, 1, 2, 3});
  CHECK(y.matrix() == expected.matrix());
  fovea::linear_forward<TestType>(x, w, {}, y);
  const Tensor<TestType, 2> no_bias({2, 3}, {3, 7, 11, 0, 2, 4});
  CHECK(y.matrix() == no_bias.matrix());
}

TEST_CASE("linear_backward agrees with the chain rule written out", "[linear]") {
  fovea::Rng rng(4);
  const Index N = 5, in = 7, out = 3;
  const auto x = Tensor<double, 2>::uniform({N, in}, rng, -1, 1);
  const auto w = Tensor<double, 2>::uniform({out, in}, rng, -1, 1);
  const auto dy = Tensor<double, 2>::uniform({N, out}, rng, -1, 1);
  Tensor<double, 2> dx({N, in}), dw = Tensor<double, 2>::full({out, in}, 1.0);
  Tensor<double, 1> db = Tensor<double, 1>::full({out}, 2.0);
  fovea::linear_backward<double>(x, w, dy, dx, dw, db);
  for (Index o = 0; o < out; ++o) {
    double sum = 2.0;
    for (Index n = 0; n < N; ++n) sum += dy(n, o);
    CHECK(db(o) == Approx(sum).epsilon(1e-12));
    for (Index i = 0; i < in; ++i) {
      double g = 1.0;  // accumulated onto the starting value
      for (Index n = 0; n < N; ++n) g += dy(n, o) * x(n, i);
      CHECK(dw(o, i) == Approx(g).epsilon(1e-12));
    }
  }
  for (Index n = 0; n < N; ++n) {
    for (Index i = 0; i < in; ++i) {
      double g = 0;
      for (Index o = 0; o < out; ++o) g += dy(n, o) * w(o, i);
      CHECK(dx(n, i) == Approx(g).epsilon(1e-12));
    }
  }
  // No input gradient wanted: dx empty is skipped.
  fovea::linear_backward<double>(x, w, dy, {}, dw, db);
}

TEMPLATE_TEST_CASE("linear ops name the shapes they cannot take", "[linear][errors]", float, double) {
  Tensor<TestType, 2> x({4, 400}), w({120, 401}), y({4, 120});
  Tensor<TestType, 1> b({120});
  CHECK_THROWS_AS(fovea::linear_forward<TestType>(x, w, b, y), fovea::shape_error);
  CHECK_THROWS_WITH(fovea::linear_forward<TestType>(x, w, b, y),
                    "linear_forward: input [4, 400] has 400 features, weight [120, 401] expects 401");
  Tensor<TestType, 2> w_ok({120, 400}), y_wrong({4, 121});
  CHECK_THROWS_WITH(fovea::linear_forward<TestType>(x, w_ok, b, y_wrong),
                    "linear_forward: output [4, 121], expected [4, 120]");
  Tensor<TestType, 1> b_wrong({7});
  CHECK_THROWS_WITH(fovea::linear_forward<TestType>(x, w_ok, b_wrong, y),
                    "linear_forward: bias [7], expected [120] or none");
  Tensor<TestType, 2> dx({4, 400}), dw({120, 400}), dw_wrong({400, 120}), dx_wrong({4, 401});
  CHECK_THROWS_WITH(fovea::linear_backward<TestType>(x, w_ok, y_wrong, dx, dw, b),
                    "linear_backward: output gradient [4, 121], expected [4, 120]");
  CHECK_THROWS_WITH(fovea::linear_backward<TestType>(x, w_ok, y, dx, dw_wrong, b),
                    "linear_backward: weight gradient [400, 120], expected [120, 400]");
  CHECK_THROWS_WITH(fovea::linear_backward<TestType>(x, w_ok, y, dx_wrong, dw, b),
                    "linear_backward: input gradient [4, 401], expected [4, 400]");
}

// Written out with plain loops in double: what every thread count must match.
namespace {
struct LinearReference {
  Tensor<double, 2> y, dx, dw;
  Tensor<double, 1> db;
};
LinearReference linear_by_loops(const Tensor<double, 2>& x, const Tensor<double, 2>& w, const Tensor<double, 1>& b,
                                const Tensor<double, 2>& dy) {
  const Index N = x.dim(0), in = x.dim(1), out = w.dim(0);
  LinearReference r{Tensor<double, 2>({N, out}), Tensor<double, 2>({N, in}), Tensor<double, 2>({out, in}),
                    Tensor<double, 1>({out})};
  for (Index n = 0; n < N; ++n) {
    for (Index o = 0; o < out; ++o) {
      double sum = b(o);
      for (Index i = 0; i < in; ++i) sum += x(n, i) * w(o, i);
      r.y(n, o) = sum;
      r.db(o) += dy(n, o);
      for (Index i = 0; i < in; ++i) {
        r.dw(o, i) += dy(n, o) * x(n, i);
        r.dx(n, i) += dy(n, o) * w(o, i);
      }
    }
  }
  return r;
}
double max_abs_difference(const Eigen::Ref<const Eigen::MatrixXd>& a, const Eigen::Ref<const Eigen::MatrixXd>& b) {
  return (a - b).cwiseAbs().maxCoeff();
}
}  // namespace

TEST_CASE("linear ops large enough to split across threads agree with the loops, and repeat bit for bit",
          "[linear][threads]") {
  // Each shape also runs with a fused ReLU, checked against the loops with dy
  // masked to y > 0 and, bit for bit, against the unfused op plus the ReLU ops.
  const int saved = fovea::max_threads();
  fovea::Rng rng(9);
  // LeNet's 400->120 at batch 64; one sample into a wide layer (only the
  // feature split has work for a second thread); an odd batch and width.
  const std::vector<std::array<Index, 3>> shapes = {{64, 400, 120}, {1, 1024, 512}, {37, 301, 97}};
  for (const auto& [N, in, out] : shapes) {
    const auto x = Tensor<double, 2>::uniform({N, in}, rng, -1, 1);
    const auto w = Tensor<double, 2>::uniform({out, in}, rng, -1, 1);
    const auto b = Tensor<double, 1>::uniform({out}, rng, -1, 1);
    const auto dy = Tensor<double, 2>::uniform({N, out}, rng, -1, 1);
    const LinearReference ref = linear_by_loops(x, w, b, dy);
    Tensor<double, 2> dy_masked({N, out});
    dy_masked.array() = (ref.y.array() > 0).select(dy.array(), 0.0);
    const LinearReference ref_relu = linear_by_loops(x, w, b, dy_masked);
    // 5 threads: the input-gradient half gets more chunks than one sample has rows.
    for (int threads : {1, 2, 3, 5}) {
      INFO("[" << N << ", " << in << "] -> " << out << ", " << threads << " thread(s)");
      fovea::set_threads(threads);
      std::array<LinearReference, 2> runs;
      for (auto& run : runs) {
        run = {Tensor<double, 2>({N, out}), Tensor<double, 2>({N, in}), Tensor<double, 2>::full({out, in}, 1.0),
               Tensor<double, 1>::full({out}, 2.0)};
        fovea::linear_forward<double>(x, w, b, run.y);
        fovea::linear_backward<double>(x, w, dy, run.dx, run.dw, run.db);
      }
      CHECK(max_abs_difference(runs[0].y.matrix(), ref.y.matrix()) < 1e-10);
      CHECK(max_abs_difference(runs[0].dx.matrix(), ref.dx.matrix()) < 1e-10);
      CHECK(max_abs_difference((runs[0].dw.matrix().array() - 1.0).matrix(), ref.dw.matrix()) < 1e-10);
      CHECK(max_abs_difference((runs[0].db.vector().array() - 2.0).matrix(), ref.db.vector()) < 1e-10);
      CHECK(runs[0].y.matrix() == runs[1].y.matrix());
      CHECK(runs[0].dx.matrix() == runs[1].dx.matrix());
      CHECK(runs[0].dw.matrix() == runs[1].dw.matrix());
      CHECK(runs[0].db.vector() == runs[1].db.vector());

      LinearReference fused{Tensor<double, 2>({N, out}), Tensor<double, 2>({N, in}),
                            Tensor<double, 2>::full({out, in}, 1.0), Tensor<double, 1>::full({out}, 2.0)};
      Tensor<double, 3> scratch({2, N, out});
      fovea::linear_forward<double>(x, w, b, fused.y, true);
      fovea::linear_backward<double>(x, w, dy, fused.dx, fused.dw, fused.db,
                                     {fused.y, scratch.item(0), scratch.item(1)});
      CHECK(max_abs_difference(fused.y.matrix(), ref.y.matrix().cwiseMax(0.0)) < 1e-10);
      CHECK(max_abs_difference(fused.dx.matrix(), ref_relu.dx.matrix()) < 1e-10);
      CHECK(max_abs_difference((fused.dw.matrix().array() - 1.0).matrix(), ref_relu.dw.matrix()) < 1e-10);
      CHECK(max_abs_difference((fused.db.vector().array() - 2.0).matrix(), ref_relu.db.vector()) < 1e-10);
      LinearReference apart{Tensor<double, 2>({N, out}), Tensor<double, 2>({N, in}),
                            Tensor<double, 2>::full({out, in}, 1.0), Tensor<double, 1>::full({out}, 2.0)};
      Tensor<double, 2> z({N, out}), dz({N, out});
      fovea::linear_forward<double>(x, w, b, z);
      fovea::relu_forward<double>(z.flatten(), apart.y.flatten());
      fovea::relu_backward<double>(z.flatten(), dy.flatten(), dz.flatten());
      fovea::linear_backward<double>(x, w, dz, apart.dx, apart.dw, apart.db);
      CHECK(fused.y.matrix() == apart.y.matrix());
      CHECK(fused.dx.matrix() == apart.dx.matrix());
      CHECK(fused.dw.matrix() == apart.dw.matrix());
      CHECK(fused.db.vector() == apart.db.vector());
    }
  }
  fovea::set_threads(saved);
}

TEST_CASE("linear_backward with a fused ReLU rejects an output or scratch of another shape", "[linear]") {
  const Tensor<double, 2> x({4, 3}), w({2, 3}), dy({4, 2}), y({4, 2}), wrong({4, 3});
  Tensor<double, 2> dx({4, 3}), dw({2, 3}), rows({4, 2}), features({4, 2}), scratch_wrong({2, 4});
  Tensor<double, 1> db({2});
  CHECK_THROWS_WITH(fovea::linear_backward<double>(x, w, dy, dx, dw, db, {wrong, rows, features}),
                    "linear_backward: ReLU output or scratch [4, 3], expected the output gradient's [4, 2]");
  CHECK_THROWS_WITH(fovea::linear_backward<double>(x, w, dy, dx, dw, db, {y, rows, scratch_wrong}),
                    "linear_backward: ReLU output or scratch [2, 4], expected the output gradient's [4, 2]");
}
