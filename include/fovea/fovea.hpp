#pragma once

// Umbrella header: every public header of fovea.

#include "fovea/version.hpp"
#include "fovea/core/error.hpp"
#include "fovea/core/shape.hpp"
#include "fovea/core/random.hpp"
#include "fovea/core/eigen.hpp"
#include "fovea/core/tensor_view.hpp"
#include "fovea/core/tensor.hpp"
#include "fovea/core/print.hpp"
