// fovea's class templates for float and double, compiled once for every
// test (fovea/extern_templates.hpp; the tests see them declared extern
// through their precompiled header).
#define FOVEA_INSTANTIATE
#include "fovea/extern_templates.hpp"
