#pragma once

/// @file
/// Eigen interop: the only header that includes Eigen. Tensors are row-major,
/// and Eigen is column-major by default, so every map says RowMajor here once.

#include <Eigen/Core>
#include <type_traits>

namespace fovea {

/// A dynamic-size, row-major Eigen matrix of T (const stripped): the layout of a tensor's matrix().
template <class T>
using RowMatrix = Eigen::Matrix<std::remove_const_t<T>, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
/// A dynamic-size Eigen column vector of T (const stripped).
template <class T>
using ColVector = Eigen::Matrix<std::remove_const_t<T>, Eigen::Dynamic, 1>;
/// A dynamic-size, one-dimensional Eigen array of T (const stripped), for elementwise arithmetic.
template <class T>
using FlatArray = Eigen::Array<std::remove_const_t<T>, Eigen::Dynamic, 1>;

namespace detail {
template <class T, class Plain>
using MaybeConst = std::conditional_t<std::is_const_v<T>, const Plain, Plain>;
}  // namespace detail

/// Zero-copy views of tensor memory. T may be const-qualified, and then the map is read-only.
/// This one sees the memory as a row-major [rows, cols] matrix.
template <class T>
using MatrixMap = Eigen::Map<detail::MaybeConst<T, RowMatrix<T>>>;
/// The memory as a column vector (read-only when T is const).
template <class T>
using VectorMap = Eigen::Map<detail::MaybeConst<T, ColVector<T>>>;
/// The memory as a flat array for elementwise expressions (read-only when T is const).
template <class T>
using ArrayMap = Eigen::Map<detail::MaybeConst<T, FlatArray<T>>>;

}  // namespace fovea
