#include "fovea/core/gemm_packed.hpp"

#include <catch2/catch.hpp>
#include <cmath>
#include <vector>

#include "fovea/core/gemm_bands.hpp"
#include "fovea/core/random.hpp"

using namespace fovea;

namespace {

// c = a b in double, the reference: a [M, K] row-major, b [K, N] stored as
// is or, `b_transposed`, as the row-major [N, K] it is the transpose of.
std::vector<double> reference_product(const std::vector<double>& a, const std::vector<double>& b, Index M, Index K,
                                      Index N, bool b_transposed) {
  std::vector<double> c(static_cast<std::size_t>(M * N), 0.0);
  for (Index i = 0; i < M; ++i) {
    for (Index j = 0; j < N; ++j) {
      double sum = 0;
      for (Index k = 0; k < K; ++k) {
        const double bv =
            b_transposed ? b[static_cast<std::size_t>(j * K + k)] : b[static_cast<std::size_t>(k * N + j)];
        sum += a[static_cast<std::size_t>(i * K + k)] * bv;
      }
      c[static_cast<std::size_t>(i * N + j)] = sum;
    }
  }
  return c;
}

template <class T>
std::vector<T> random_values(Index n, Rng& rng) {
  std::vector<T> v(static_cast<std::size_t>(n));
  for (T& x : v) x = static_cast<T>(rng.uniform(-1.0, 1.0));
  return v;
}

}  // namespace

TEMPLATE_TEST_CASE("a packed left operand gives the product of the matrix it was packed from", "[core][gemm]", float,
                   double) {
  using T = TestType;
  Rng rng(31);
  // Rows that fill no whole panel, a depth longer than one slice, a single
  // column, a single row, and b read transposed.
  struct Case {
    Index M, K, N;
    bool b_transposed;
  };
  const Index deep = 3 * PackedGemmOperand<T>::depth_block_for(70, 4000) / 2 + 5;
  for (const Case& s : {Case{7, 5, 9, false}, Case{70, deep, 33, false}, Case{64, 300, 1, false},
                        Case{1, 50, 40, false}, Case{37, 129, 61, true}}) {
    INFO("M " << s.M << ", K " << s.K << ", N " << s.N << (s.b_transposed ? ", b transposed" : ""));
    const std::vector<T> a = random_values<T>(s.M * s.K, rng), b = random_values<T>(s.K * s.N, rng);
    const std::vector<double> a64(a.begin(), a.end()), b64(b.begin(), b.end());
    const std::vector<double> want = reference_product(a64, b64, s.M, s.K, s.N, s.b_transposed);
    PackedGemmOperand<T> packed;
    packed.pack(a.data(), s.M, s.K, s.K, 2);
    REQUIRE(packed.rows() == s.M);
    REQUIRE(packed.cols() == s.K);
    const GemmOperand<T> b_operand =
        s.b_transposed ? gemm_operand(b.data(), s.N, s.K).t() : gemm_operand(b.data(), s.K, s.N);
    const double tolerance = std::is_same_v<T, float> ? 1e-4 : 1e-12;
    auto check = [&](const std::vector<T>& c, double scale) {
      Index off = 0;
      for (Index i = 0; i < s.M * s.N; ++i) {
        const double w = scale * want[static_cast<std::size_t>(i)];
        if (std::abs(c[static_cast<std::size_t>(i)] - w) > tolerance * (1 + std::abs(w)) * std::sqrt(double(s.K)))
          ++off;
      }
      return off;
    };
    // Overwrite, then accumulate onto it: 2 a b.
    std::vector<T> c(static_cast<std::size_t>(s.M * s.N), T{7});
    gemm(packed.all(), b_operand, gemm_result(c.data(), s.M, s.N), GemmUpdate::overwrite);
    CHECK(check(c, 1) == 0);
    gemm(packed.all(), b_operand, gemm_result(c.data(), s.M, s.N), GemmUpdate::accumulate);
    CHECK(check(c, 2) == 0);
    // In bands of rows or columns, as threads share one product.
    std::vector<T> whole(c.size()), banded(c.size());
    gemm(packed.all(), b_operand, gemm_result(whole.data(), s.M, s.N), GemmUpdate::overwrite);
    gemm_in_bands(
        packed.all(), b_operand, gemm_result(banded.data(), s.M, s.N), 3,
        [](const GemmBand&) { return GemmUpdate::overwrite; }, [](const GemmBand&) {});
    CHECK(check(banded, 1) == 0);
    // A band of rows on its own: the rows of the whole product.
    if (s.M > PackedGemmOperand<T>::row_panel) {
      const Index first = PackedGemmOperand<T>::row_panel, count = s.M - first;
      std::vector<T> part(static_cast<std::size_t>(count * s.N));
      gemm(packed.band(first, s.M), b_operand, gemm_result(part.data(), count, s.N), GemmUpdate::overwrite);
      for (Index i = 0; i < count * s.N; ++i) {
        CHECK(part[static_cast<std::size_t>(i)] == whole[static_cast<std::size_t>(first * s.N + i)]);
      }
    }
  }
}

TEST_CASE("packing a matrix of a size the operand has held allocates no more storage", "[core][gemm]") {
  Rng rng(32);
  const std::vector<float> big = random_values<float>(40 * 50, rng), small = random_values<float>(10 * 20, rng);
  PackedGemmOperand<float> packed;
  packed.pack(big.data(), 40, 50, 50);
  const float* storage = packed.data();
  packed.pack(small.data(), 10, 20, 20);
  CHECK(packed.data() == storage);
  CHECK(packed.rows() == 10);
  CHECK(packed.cols() == 20);
}
