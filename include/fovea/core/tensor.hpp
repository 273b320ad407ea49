#pragma once

// Tensor<T, Rank>: owning, contiguous, row-major, 64-byte aligned storage. All
// element access and views go through TensorView; a const Tensor hands out
// read-only views only.

#include <algorithm>
#include <initializer_list>
#include <string>

#include "fovea/core/aligned_buffer.hpp"
#include "fovea/core/random.hpp"
#include "fovea/core/tensor_view.hpp"

namespace fovea {

template <class T, std::size_t Rank>
class Tensor {
  static_assert(!std::is_const_v<T>, "a Tensor owns mutable storage; use TensorView<const T> for read-only");

 public:
  using value_type = T;
  using View = TensorView<T, Rank>;
  using ConstView = TensorView<const T, Rank>;
  static constexpr std::size_t rank = Rank;

  // An empty tensor: every dimension 0.
  Tensor() = default;

  // Zero-filled.
  explicit Tensor(const Shape<Rank>& shape) : shape_(checked(shape, "Tensor")), storage_(shape_size(shape)) {
    std::fill_n(storage_.data(), size(), T{});
  }

  // Values in row-major order; their count must match the shape.
  Tensor(const Shape<Rank>& shape, std::initializer_list<T> values) : Tensor(shape) {
    if (static_cast<Index>(values.size()) != size()) {
      throw shape_error("Tensor: " + std::to_string(values.size()) + " values given for shape " + to_string(shape) +
                        " (" + std::to_string(size()) + " elements)");
    }
    std::copy(values.begin(), values.end(), storage_.data());
  }

  // A copy of any view's contents.
  explicit Tensor(ConstView source) : Tensor(source.shape()) { view().copy_from(source); }

  static Tensor full(const Shape<Rank>& shape, T value) {
    Tensor t(shape);
    t.fill(value);
    return t;
  }
  // Uniform in [lo, hi) from the given generator (reproducible for a seed).
  static Tensor uniform(const Shape<Rank>& shape, Rng& rng, T lo, T hi) {
    Tensor t(shape);
    for (T& x : t) x = static_cast<T>(rng.uniform(static_cast<double>(lo), static_cast<double>(hi)));
    return t;
  }
  static Tensor normal(const Shape<Rank>& shape, Rng& rng, T mean, T stddev) {
    Tensor t(shape);
    for (T& x : t) x = static_cast<T>(rng.normal(static_cast<double>(mean), static_cast<double>(stddev)));
    return t;
  }

  Tensor(const Tensor& other) : Tensor(other.view()) {}
  Tensor(Tensor&& other) noexcept
      : shape_(std::exchange(other.shape_, Shape<Rank>{})), storage_(std::move(other.storage_)) {}
  Tensor& operator=(const Tensor& other) {
    if (this != &other) {
      resize(other.shape_);
      view().copy_from(other.view());
    }
    return *this;
  }
  Tensor& operator=(Tensor&& other) noexcept {
    shape_ = std::exchange(other.shape_, Shape<Rank>{});
    storage_ = std::move(other.storage_);
    return *this;
  }
  ~Tensor() = default;

  // Gives the tensor a new shape. Nothing happens if the shape is unchanged;
  // otherwise the contents are zero-filled. Storage only ever grows, so a
  // workspace resized back and forth allocates once.
  void resize(const Shape<Rank>& shape) {
    if (shape == shape_) return;
    checked(shape, "resize");
    storage_.reserve(shape_size(shape));
    shape_ = shape;
    std::fill_n(storage_.data(), size(), T{});
  }

  View view() { return View(storage_.data(), shape_); }
  ConstView view() const { return ConstView(storage_.data(), shape_); }
  operator View() { return view(); }             // NOLINT(google-explicit-constructor)
  operator ConstView() const { return view(); }  // NOLINT(google-explicit-constructor)

  T* data() { return storage_.data(); }
  const T* data() const { return storage_.data(); }
  const Shape<Rank>& shape() const { return shape_; }
  Index size() const { return shape_size(shape_); }
  bool empty() const { return size() == 0; }
  Index dim(std::size_t axis) const { return view().dim(axis); }
  T* begin() { return data(); }
  T* end() { return data() + size(); }
  const T* begin() const { return data(); }
  const T* end() const { return data() + size(); }

  template <class... I>
  T& operator()(I... index) {
    return view()(index...);
  }
  template <class... I>
  const T& operator()(I... index) const {
    return view()(index...);
  }
  template <class... I>
  T& at(I... index) {
    return view().at(index...);
  }
  template <class... I>
  const T& at(I... index) const {
    return view().at(index...);
  }

  auto item(Index i) { return view().item(i); }
  auto item(Index i) const { return view().item(i); }
  View slice(Index begin, Index end) { return view().slice(begin, end); }
  ConstView slice(Index begin, Index end) const { return view().slice(begin, end); }
  template <std::size_t NewRank>
  TensorView<T, NewRank> reshape(const Shape<NewRank>& shape) {
    return view().reshape(shape);
  }
  template <std::size_t NewRank>
  TensorView<const T, NewRank> reshape(const Shape<NewRank>& shape) const {
    return view().reshape(shape);
  }
  TensorView<T, 1> flatten() { return view().flatten(); }
  TensorView<const T, 1> flatten() const { return view().flatten(); }

  MatrixMap<T> matrix(std::size_t split = 1) { return view().matrix(split); }
  MatrixMap<const T> matrix(std::size_t split = 1) const { return view().matrix(split); }
  VectorMap<T> vector() { return view().vector(); }
  VectorMap<const T> vector() const { return view().vector(); }
  ArrayMap<T> array() { return view().array(); }
  ArrayMap<const T> array() const { return view().array(); }

  Tensor& fill(T value) {
    view().fill(value);
    return *this;
  }
  Tensor& copy_from(ConstView source) {
    view().copy_from(source);
    return *this;
  }
  Tensor& operator+=(ConstView other) {
    view() += other;
    return *this;
  }
  Tensor& operator-=(ConstView other) {
    view() -= other;
    return *this;
  }
  Tensor& operator*=(T scale) {
    view() *= scale;
    return *this;
  }

 private:
  static const Shape<Rank>& checked(const Shape<Rank>& shape, const char* operation) {
    for (Index d : shape) {
      if (d < 0) throw shape_error(std::string(operation) + ": negative dimension in shape " + to_string(shape));
    }
    return shape;
  }

  Shape<Rank> shape_{};
  detail::AlignedBuffer<T> storage_;
};

}  // namespace fovea
