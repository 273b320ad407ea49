// fovea's class templates for double, compiled once for every test and docs
// page (fovea/extern_templates.hpp; they see them declared extern through
// the tests' precompiled header or -include).
#define FOVEA_INSTANTIATE
#include "fovea/extern_templates.hpp"

FOVEA_INSTANCES_FOR(double)
