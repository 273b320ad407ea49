#pragma once

// The one place the version is defined; CMakeLists.txt reads these lines.
#define FOVEA_VERSION_MAJOR 0
#define FOVEA_VERSION_MINOR 1
#define FOVEA_VERSION_PATCH 0

namespace fovea {
inline constexpr int version_major = FOVEA_VERSION_MAJOR;
inline constexpr int version_minor = FOVEA_VERSION_MINOR;
inline constexpr int version_patch = FOVEA_VERSION_PATCH;
}  // namespace fovea
