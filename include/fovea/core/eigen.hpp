#pragma once

// Eigen interop: the only header that includes Eigen. Tensors are row-major,
// and Eigen is column-major by default, so every map says RowMajor here once.

#include <Eigen/Core>
#include <type_traits>

namespace fovea {

template <class T>
using RowMatrix = Eigen::Matrix<std::remove_const_t<T>, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <class T>
using ColVector = Eigen::Matrix<std::remove_const_t<T>, Eigen::Dynamic, 1>;
template <class T>
using FlatArray = Eigen::Array<std::remove_const_t<T>, Eigen::Dynamic, 1>;

namespace detail {
template <class T, class Plain>
using MaybeConst = std::conditional_t<std::is_const_v<T>, const Plain, Plain>;
}  // namespace detail

// Zero-copy views of tensor memory. T may be const-qualified, and then the map is read-only.
template <class T>
using MatrixMap = Eigen::Map<detail::MaybeConst<T, RowMatrix<T>>>;
template <class T>
using VectorMap = Eigen::Map<detail::MaybeConst<T, ColVector<T>>>;
template <class T>
using ArrayMap = Eigen::Map<detail::MaybeConst<T, FlatArray<T>>>;

}  // namespace fovea
