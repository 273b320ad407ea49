#pragma once

/// @file
/// The exceptions fovea throws. Bad input is always reported by exception (never
/// by abort or assert); every message names the operation, what it expected and
/// what it got, with shapes where shapes are involved.

#include <stdexcept>
#include <string>

namespace fovea {

/// A tensor has the wrong shape, rank or element count for an operation.
struct shape_error : std::invalid_argument {
  using std::invalid_argument::invalid_argument;
};

/// A value is outside its domain: a zero stride, a probability outside [0, 1),
/// a class label out of range, an unknown option name.
struct value_error : std::invalid_argument {
  using std::invalid_argument::invalid_argument;
};

/// An element index is outside the tensor (the checked at() accessors).
struct index_error : std::out_of_range {
  using std::out_of_range::out_of_range;
};

/// An operation was called in the wrong order, e.g. backward before forward.
struct state_error : std::logic_error {
  using std::logic_error::logic_error;
};

/// A file could not be opened, read or written.
struct io_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// A file was read but its contents are wrong: bad magic, truncated, corrupt,
/// from a future version, or for another architecture.
struct format_error : io_error {
  using io_error::io_error;
};

/// A computation produced NaN or infinity where a finite number was required.
struct numeric_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

}  // namespace fovea
