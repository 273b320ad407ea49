#pragma once

/// @file
/// Tensor<T, Rank>: owning, contiguous, row-major, 64-byte aligned storage. All
/// element access and views go through TensorView; a const Tensor hands out
/// read-only views only.

#include <algorithm>
#include <initializer_list>
#include <string>

#include "fovea/core/aligned_buffer.hpp"
#include "fovea/core/random.hpp"
#include "fovea/core/tensor_view.hpp"

namespace fovea {

/// Owns Rank-dimensional, contiguous, row-major, 64-byte aligned storage of T
/// (T not const). Accessors forward to view(); see TensorView for each one's
/// shapes and exceptions. Copying copies the elements; moving leaves the source
/// empty.
template <class T, std::size_t Rank>
class Tensor {
  static_assert(!std::is_const_v<T>, "a Tensor owns mutable storage; use TensorView<const T> for read-only");

 public:
  using value_type = T;                         ///< The element type.
  using View = TensorView<T, Rank>;             ///< A mutable view of the whole tensor.
  using ConstView = TensorView<const T, Rank>;  ///< A read-only view of the whole tensor.
  static constexpr std::size_t rank = Rank;     ///< Number of dimensions.

  /// An empty tensor: every dimension 0.
  Tensor() = default;

  /// Zero-filled, of the given shape; throws shape_error for a negative dimension.
  explicit Tensor(const Shape<Rank>& shape) : shape_(checked(shape, "Tensor")), storage_(shape_size(shape)) {
    std::fill_n(storage_.data(), size(), T{});
  }

  /// Values in row-major order; their count must match the shape (shape_error otherwise).
  Tensor(const Shape<Rank>& shape, std::initializer_list<T> values) : Tensor(shape) {
    if (static_cast<Index>(values.size()) != size()) {
      throw shape_error("Tensor: " + std::to_string(values.size()) + " values given for shape " + to_string(shape) +
                        " (" + std::to_string(size()) + " elements)");
    }
    std::copy(values.begin(), values.end(), storage_.data());
  }

  /// A copy of any view's contents, with its shape.
  explicit Tensor(ConstView source) : Tensor(source.shape()) { view().copy_from(source); }

  /// Every element equal to `value`.
  static Tensor full(const Shape<Rank>& shape, T value) {
    Tensor t(shape);
    t.fill(value);
    return t;
  }
  /// Uniform in [lo, hi) from the given generator (reproducible for a seed).
  static Tensor uniform(const Shape<Rank>& shape, Rng& rng, T lo, T hi) {
    Tensor t(shape);
    for (T& x : t) x = static_cast<T>(rng.uniform(static_cast<double>(lo), static_cast<double>(hi)));
    return t;
  }
  /// Normal(mean, stddev) from the given generator, one Rng::normal draw per
  /// element in row-major order (reproducible for a seed).
  static Tensor normal(const Shape<Rank>& shape, Rng& rng, T mean, T stddev) {
    Tensor t(shape);
    for (T& x : t) x = static_cast<T>(rng.normal(static_cast<double>(mean), static_cast<double>(stddev)));
    return t;
  }

  /// A deep copy: same shape, own storage.
  Tensor(const Tensor& other) : Tensor(other.view()) {}
  /// Takes the storage of `other`, which is left empty (every dimension 0).
  Tensor(Tensor&& other) noexcept
      : shape_(std::exchange(other.shape_, Shape<Rank>{})), storage_(std::move(other.storage_)) {}
  /// Copies the shape and the elements, reusing this tensor's storage when it is large enough.
  Tensor& operator=(const Tensor& other) {
    if (this != &other) {
      resize(other.shape_);
      view().copy_from(other.view());
    }
    return *this;
  }
  /// Takes the storage of `other`, which is left with every dimension 0.
  Tensor& operator=(Tensor&& other) noexcept {
    shape_ = std::exchange(other.shape_, Shape<Rank>{});
    storage_ = std::move(other.storage_);
    return *this;
  }
  ~Tensor() = default;

  /// Gives the tensor a new shape. Nothing happens if the shape is unchanged;
  /// otherwise the contents are zero-filled. Storage only ever grows, so a
  /// workspace resized back and forth allocates once. Throws shape_error for a
  /// negative dimension.
  void resize(const Shape<Rank>& shape) {
    if (shape == shape_) return;
    checked(shape, "resize");
    storage_.reserve(shape_size(shape));
    shape_ = shape;
    std::fill_n(storage_.data(), size(), T{});
  }

  /// A mutable view of the whole tensor; valid while the tensor lives and is neither resized nor assigned to.
  View view() { return View(storage_.data(), shape_); }
  /// A read-only view of the whole tensor.
  ConstView view() const { return ConstView(storage_.data(), shape_); }
  /// Implicit view(): a Tensor converts to its TensorView, e.g. as a function argument.
  operator View() { return view(); }  // NOLINT(google-explicit-constructor)
  /// Implicit read-only view().
  operator ConstView() const { return view(); }  // NOLINT(google-explicit-constructor)

  /// The first element, 64-byte aligned.
  T* data() { return storage_.data(); }
  /// The first element, read-only.
  const T* data() const { return storage_.data(); }
  /// The extent of every dimension, outermost first.
  const Shape<Rank>& shape() const { return shape_; }
  /// Number of elements: the product of the extents.
  Index size() const { return shape_size(shape_); }
  /// True when the tensor holds no element.
  bool empty() const { return size() == 0; }
  /// The extent of dimension `axis`; throws index_error when axis >= Rank.
  Index dim(std::size_t axis) const { return view().dim(axis); }
  /// Iterates over every element in row-major order.
  T* begin() { return data(); }
  /// One past the last element.
  T* end() { return data() + size(); }
  /// Read-only iteration in row-major order.
  const T* begin() const { return data(); }
  /// One past the last element, read-only.
  const T* end() const { return data() + size(); }

  /// Unchecked element access, one index per dimension (asserted in debug builds).
  template <class... I>
  T& operator()(I... index) {
    return view()(index...);
  }
  /// Unchecked read-only element access.
  template <class... I>
  const T& operator()(I... index) const {
    return view()(index...);
  }
  /// Checked element access: throws index_error naming the index and the shape.
  template <class... I>
  T& at(I... index) {
    return view().at(index...);
  }
  /// Checked read-only element access.
  template <class... I>
  const T& at(I... index) const {
    return view().at(index...);
  }

  /// Item i of the leading dimension as a TensorView of rank Rank - 1 (Rank > 1).
  auto item(Index i) { return view().item(i); }
  /// Item i of the leading dimension as a read-only view.
  auto item(Index i) const { return view().item(i); }
  /// Items [begin, end) of the leading dimension, without copying.
  View slice(Index begin, Index end) { return view().slice(begin, end); }
  /// Items [begin, end) of the leading dimension, read-only.
  ConstView slice(Index begin, Index end) const { return view().slice(begin, end); }
  /// The storage seen with another shape of the same element count (shape_error otherwise).
  template <std::size_t NewRank>
  TensorView<T, NewRank> reshape(const Shape<NewRank>& shape) {
    return view().reshape(shape);
  }
  /// The storage seen read-only with another shape of the same element count.
  template <std::size_t NewRank>
  TensorView<const T, NewRank> reshape(const Shape<NewRank>& shape) const {
    return view().reshape(shape);
  }
  /// The storage as one dimension of size() elements.
  TensorView<T, 1> flatten() { return view().flatten(); }
  /// The storage as one read-only dimension of size() elements.
  TensorView<const T, 1> flatten() const { return view().flatten(); }

  /// Row-major matrix map; see TensorView::matrix for `split`.
  MatrixMap<T> matrix(std::size_t split = 1) { return view().matrix(split); }
  /// Read-only row-major matrix map; see TensorView::matrix for `split`.
  MatrixMap<const T> matrix(std::size_t split = 1) const { return view().matrix(split); }
  /// All elements as an Eigen column vector, without copying.
  VectorMap<T> vector() { return view().vector(); }
  /// All elements as a read-only Eigen column vector.
  VectorMap<const T> vector() const { return view().vector(); }
  /// All elements as a flat Eigen array, for elementwise expressions.
  ArrayMap<T> array() { return view().array(); }
  /// All elements as a read-only flat Eigen array.
  ArrayMap<const T> array() const { return view().array(); }

  /// Sets every element to `value`.
  Tensor& fill(T value) {
    view().fill(value);
    return *this;
  }
  /// Copies `source` element by element; throws shape_error unless the shapes are
  /// equal (use resize first, or the converting constructor, to take its shape).
  Tensor& copy_from(ConstView source) {
    view().copy_from(source);
    return *this;
  }
  /// Adds `other` elementwise; throws shape_error unless the shapes are equal.
  Tensor& operator+=(ConstView other) {
    view() += other;
    return *this;
  }
  /// Subtracts `other` elementwise; throws shape_error unless the shapes are equal.
  Tensor& operator-=(ConstView other) {
    view() -= other;
    return *this;
  }
  /// Multiplies every element by `scale`.
  Tensor& operator*=(T scale) {
    view() *= scale;
    return *this;
  }

 private:
  static const Shape<Rank>& checked(const Shape<Rank>& shape, const char* operation) {
    for (Index d : shape) {
      if (d < 0) detail::throw_bad_shape(operation, "negative dimension in", shape);
    }
    return shape;
  }

  Shape<Rank> shape_{};
  detail::AlignedBuffer<T> storage_;
};

}  // namespace fovea
