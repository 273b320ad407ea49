#pragma once

/// @file
/// TensorView<T, Rank>: a non-owning window on contiguous row-major memory, the
/// type every operation reads and writes. Like std::span, copying a view is
/// cheap and its constness is in T (TensorView<const float, 4> is read-only).

#include <algorithm>
#include <cassert>
#include <cstddef>
#include <span>
#include <string>
#include <type_traits>

#include "fovea/core/eigen.hpp"
#include "fovea/core/error.hpp"
#include "fovea/core/shape.hpp"

namespace fovea {

namespace detail {
// The messages of TensorView's and Tensor's errors, built out of line: one
// function for every element type and rank, so that each instantiation's
// members carry a call, not the string code.
[[noreturn, gnu::cold, gnu::noinline]] inline void throw_bad_shape(const char* operation, const char* problem,
                                                                   std::span<const Index> shape) {
  throw shape_error(std::string(operation) + ": " + problem + " shape " + to_string(shape));
}
[[noreturn, gnu::cold, gnu::noinline]] inline void throw_index_error(const char* operation, const std::string& index,
                                                                     std::span<const Index> shape) {
  throw index_error(std::string(operation) + ": " + index + " out of range for shape " + to_string(shape));
}
[[noreturn, gnu::cold, gnu::noinline]] inline void throw_reshape_error(std::span<const Index> from,
                                                                       std::span<const Index> to) {
  const auto elements = [](std::span<const Index> shape) {
    Index n = 1;
    for (Index d : shape) n *= d;
    return std::to_string(n);
  };
  throw shape_error("reshape: cannot view " + to_string(from) + " (" + elements(from) + " elements) as " +
                    to_string(to) + " (" + elements(to) + " elements)");
}
[[noreturn, gnu::cold, gnu::noinline]] inline void throw_shape_mismatch(const char* operation,
                                                                        std::span<const Index> got,
                                                                        std::span<const Index> expected) {
  throw shape_error(std::string(operation) + ": shape " + to_string(got) + " does not match " + to_string(expected));
}
}  // namespace detail

/// A non-owning, contiguous, row-major view of Rank dimensions over T (T may be
/// const: then the view is read-only). Copying it copies a pointer and a shape;
/// the memory must outlive the view. The members are const because they do not
/// change the view itself; whether they may write the elements is up to T.
template <class T, std::size_t Rank>
class TensorView {
  static_assert(Rank >= 1, "a tensor has at least one dimension");
  static_assert(std::is_arithmetic_v<std::remove_const_t<T>>, "tensors hold numbers");

 public:
  using value_type = std::remove_const_t<T>;  ///< The element type without const.
  static constexpr std::size_t rank = Rank;   ///< Number of dimensions.

  /// An empty view: null data, every dimension 0.
  TensorView() = default;
  /// Views `shape` elements starting at `data`. Throws shape_error for a
  /// negative dimension or for null data with a non-empty shape.
  TensorView(T* data, const Shape<Rank>& shape) : data_(data), shape_(shape) {
    for (Index d : shape_) {
      if (d < 0) detail::throw_bad_shape("TensorView", "negative dimension in", shape_);
    }
    if (data_ == nullptr && size() != 0) detail::throw_bad_shape("TensorView", "null data for non-empty", shape_);
  }
  /// A mutable view converts to a read-only one, implicitly (as span does).
  // NOLINTBEGIN(google-explicit-constructor)
  template <class U>
  requires std::is_same_v<const U, T> TensorView(const TensorView<U, Rank>& other)
      : data_(other.data()), shape_(other.shape()) {}
  // NOLINTEND(google-explicit-constructor)

  /// The first element (null for a default-constructed view).
  T* data() const { return data_; }
  /// The extent of every dimension, outermost first.
  const Shape<Rank>& shape() const { return shape_; }
  /// Number of elements: the product of the extents.
  Index size() const { return shape_size(shape_); }
  /// True when the view holds no element (some extent is 0).
  bool empty() const { return size() == 0; }
  /// The extent of dimension `axis`; throws index_error when axis >= Rank.
  Index dim(std::size_t axis) const {
    if (axis >= Rank) detail::throw_index_error("dim", "axis " + std::to_string(axis), shape_);
    return shape_[axis];
  }
  /// Iterates over every element in row-major order.
  T* begin() const { return data_; }
  /// One past the last element.
  T* end() const { return data_ + size(); }

  /// Unchecked element access (asserted in debug builds): the fast path.
  /// Takes one integer index per dimension: x(n, c, h, w).
  template <class... I>
  requires(sizeof...(I) == Rank && (std::is_integral_v<I> && ...)) T& operator()(I... index) const {
    const Index idx[] = {static_cast<Index>(index)...};
    Index offset = 0;
    for (std::size_t a = 0; a < Rank; ++a) {
      assert(idx[a] >= 0 && idx[a] < shape_[a]);
      offset = offset * shape_[a] + idx[a];
    }
    return data_[offset];
  }

  /// Checked element access: throws index_error naming the index and the shape.
  template <class... I>
  requires(sizeof...(I) == Rank && (std::is_integral_v<I> && ...)) T& at(I... index) const {
    const Shape<Rank> idx = {static_cast<Index>(index)...};
    Index offset = 0;
    for (std::size_t a = 0; a < Rank; ++a) {
      if (idx[a] < 0 || idx[a] >= shape_[a]) detail::throw_index_error("at", "index " + to_string(idx), shape_);
      offset = offset * shape_[a] + idx[a];
    }
    return data_[offset];
  }

  /// Item i of the leading dimension (one sample of a batch), without copying.
  /// Rank > 1 only; throws index_error when i is outside [0, dim(0)).
  TensorView<T, Rank - 1> item(Index i) const requires(Rank > 1) {
    if (i < 0 || i >= shape_[0]) detail::throw_index_error("item", "index " + std::to_string(i), shape_);
    Shape<Rank - 1> inner;
    std::copy(shape_.begin() + 1, shape_.end(), inner.begin());
    return TensorView<T, Rank - 1>(data_ + i * shape_size(inner), inner);
  }

  /// Items [begin, end) of the leading dimension (a minibatch), without copying.
  /// Throws index_error unless 0 <= begin <= end <= dim(0).
  TensorView slice(Index begin, Index end) const {
    if (begin < 0 || end < begin || end > shape_[0]) {
      detail::throw_index_error("slice", "range [" + std::to_string(begin) + ", " + std::to_string(end) + ")", shape_);
    }
    Shape<Rank> sliced = shape_;
    sliced[0] = end - begin;
    const Index stride = shape_[0] == 0 ? 0 : size() / shape_[0];
    return TensorView(data_ + begin * stride, sliced);
  }

  /// The same memory seen with another shape of the same element count;
  /// throws shape_error when the counts differ.
  template <std::size_t NewRank>
  TensorView<T, NewRank> reshape(const Shape<NewRank>& new_shape) const {
    if (shape_size(new_shape) != size()) detail::throw_reshape_error(shape_, new_shape);
    return TensorView<T, NewRank>(data_, new_shape);
  }

  /// The same memory as one dimension of size() elements.
  TensorView<T, 1> flatten() const { return TensorView<T, 1>(data_, {size()}); }

  /// Row-major matrix view: rows are the product of the dimensions before
  /// `split`, columns the product of the rest. [N, C, H, W].matrix(1) is
  /// [N, C*H*W]; matrix(2) is [N*C, H*W]. Throws shape_error when split > Rank.
  MatrixMap<T> matrix(std::size_t split = 1) const {
    if (split > Rank) {
      throw shape_error("matrix: split " + std::to_string(split) + " is past the rank of " + to_string(shape_));
    }
    Index rows = 1;
    for (std::size_t a = 0; a < split; ++a) rows *= shape_[a];
    return MatrixMap<T>(data_, rows, rows == 0 ? 0 : size() / rows);
  }
  /// All elements as an Eigen column vector of size() entries, without copying.
  VectorMap<T> vector() const { return VectorMap<T>(data_, size()); }
  /// All elements as a flat Eigen array, for elementwise expressions, without copying.
  ArrayMap<T> array() const { return ArrayMap<T>(data_, size()); }

  /// The few elementwise helpers a layer author needs; Eigen maps do the rest.
  /// This one sets every element to `value`.
  const TensorView& fill(value_type value) const {
    std::fill(begin(), end(), value);
    return *this;
  }
  /// Copies `source` element by element; throws shape_error unless the shapes are equal.
  const TensorView& copy_from(TensorView<const value_type, Rank> source) const {
    require_same_shape("copy_from", source.shape());
    std::copy(source.begin(), source.end(), begin());
    return *this;
  }
  /// Adds `other` elementwise; throws shape_error unless the shapes are equal.
  const TensorView& operator+=(TensorView<const value_type, Rank> other) const {
    require_same_shape("operator+=", other.shape());
    array() += other.array();
    return *this;
  }
  /// Subtracts `other` elementwise; throws shape_error unless the shapes are equal.
  const TensorView& operator-=(TensorView<const value_type, Rank> other) const {
    require_same_shape("operator-=", other.shape());
    array() -= other.array();
    return *this;
  }
  /// Multiplies every element by `scale`.
  const TensorView& operator*=(value_type scale) const {
    array() *= scale;
    return *this;
  }

 private:
  void require_same_shape(const char* operation, const Shape<Rank>& other) const {
    if (other != shape_) detail::throw_shape_mismatch(operation, other, shape_);
  }

  T* data_ = nullptr;
  Shape<Rank> shape_{};
};

}  // namespace fovea
