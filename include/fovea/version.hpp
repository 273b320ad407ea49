#pragma once

/// @file
/// The one place the version is defined; CMakeLists.txt reads these lines.

/// Major version number (major.minor.patch).
#define FOVEA_VERSION_MAJOR 0
/// Minor version number; the installed CMake package accepts requests for the same major.minor only.
#define FOVEA_VERSION_MINOR 1
/// Patch version number.
#define FOVEA_VERSION_PATCH 0

namespace fovea {
/// The major version number as a constant (FOVEA_VERSION_MAJOR).
inline constexpr int version_major = FOVEA_VERSION_MAJOR;
/// The minor version number as a constant (FOVEA_VERSION_MINOR).
inline constexpr int version_minor = FOVEA_VERSION_MINOR;
/// The patch version number as a constant (FOVEA_VERSION_PATCH).
inline constexpr int version_patch = FOVEA_VERSION_PATCH;
}  // namespace fovea
