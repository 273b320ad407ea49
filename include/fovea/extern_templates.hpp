#pragma once

/// @file
/// Compiled once instead of in every file: fovea's layer, network, loss and
/// optimizer class templates for float and double, and fit and evaluate over
/// a TensorDataset with the training lanes (DataParallel), as explicit
/// instantiations.
///
/// fovea is header-only, so every translation unit that uses a Conv2d<float>
/// compiles all of it again. A project with many such files (fovea's own
/// tests are one) can include this header instead of fovea/fovea.hpp: it
/// declares the instantiations `extern`, and the compiler then leaves their
/// member functions to the file (or files) that define FOVEA_INSTANTIATE
/// before including it and then list the element types to compile:
/// @code
///   // fovea_instances.cpp, compiled once and linked in
///   #define FOVEA_INSTANTIATE
///   #include <fovea/extern_templates.hpp>
///   FOVEA_INSTANCES_FOR(float)
///   FOVEA_INSTANCES_FOR(double)  // or in a second file, to compile both at once
/// @endcode
/// Nothing changes in behaviour; an optimising build may still inline the
/// small members where it sees fit. With the sanitizers at -O0 a test that
/// saves and loads models compiled in 14 s instead of 99 s; for the -O3
/// figures of a LeNet training program with and without it see
/// docs/benchmarks.md, "Compile time" (bench/compile_time.sh).

#include "fovea/fovea.hpp"

#ifdef FOVEA_INSTANTIATE
/// Defines (with FOVEA_INSTANTIATE) or declares extern (without) one explicit instantiation.
#define FOVEA_INSTANCE(...) template __VA_ARGS__;
#else
/// Defines (with FOVEA_INSTANTIATE) or declares extern (without) one explicit instantiation.
#define FOVEA_INSTANCE(...) extern template __VA_ARGS__;
#endif

// T is a type: it cannot take the parentheses bugprone-macro-parentheses asks for.
// NOLINTBEGIN(bugprone-macro-parentheses)
/// Every class template this header instantiates, for element type T, and
/// fit and evaluate over a TensorDataset.
#define FOVEA_INSTANCES_FOR(T)                                                                                         \
  FOVEA_INSTANCE(class fovea::Conv2d<T>)                                                                               \
  FOVEA_INSTANCE(class fovea::Linear<T>)                                                                               \
  FOVEA_INSTANCE(class fovea::Pool2d<T>)                                                                               \
  FOVEA_INSTANCE(class fovea::GlobalPool2d<T>)                                                                         \
  FOVEA_INSTANCE(class fovea::ReLU<T>)                                                                                 \
  FOVEA_INSTANCE(class fovea::LeakyReLU<T>)                                                                            \
  FOVEA_INSTANCE(class fovea::Sigmoid<T>)                                                                              \
  FOVEA_INSTANCE(class fovea::Tanh<T>)                                                                                 \
  FOVEA_INSTANCE(class fovea::ELU<T>)                                                                                  \
  FOVEA_INSTANCE(class fovea::ReLU6<T>)                                                                                \
  FOVEA_INSTANCE(class fovea::Clip<T>)                                                                                 \
  FOVEA_INSTANCE(class fovea::PReLU<T>)                                                                                \
  FOVEA_INSTANCE(class fovea::BatchNorm<T>)                                                                            \
  FOVEA_INSTANCE(class fovea::LocalResponseNorm<T>)                                                                    \
  FOVEA_INSTANCE(class fovea::Dropout<T>)                                                                              \
  FOVEA_INSTANCE(class fovea::Flatten<T>)                                                                              \
  FOVEA_INSTANCE(class fovea::Softmax<T>)                                                                              \
  FOVEA_INSTANCE(class fovea::LogSoftmax<T>)                                                                           \
  FOVEA_INSTANCE(class fovea::Add<T>)                                                                                  \
  FOVEA_INSTANCE(class fovea::Concat<T>)                                                                               \
  FOVEA_INSTANCE(class fovea::Graph<T>)                                                                                \
  FOVEA_INSTANCE(class fovea::Sequential<T>)                                                                           \
  FOVEA_INSTANCE(class fovea::LayerRegistry<T>)                                                                        \
  FOVEA_INSTANCE(class fovea::SoftmaxCrossEntropy<T>)                                                                  \
  FOVEA_INSTANCE(class fovea::CrossEntropy<T>)                                                                         \
  FOVEA_INSTANCE(class fovea::SquaredError<T>)                                                                         \
  FOVEA_INSTANCE(class fovea::Sgd<T>)                                                                                  \
  FOVEA_INSTANCE(class fovea::Adam<T>)                                                                                 \
  FOVEA_INSTANCE(class fovea::Rmsprop<T>)                                                                              \
  FOVEA_INSTANCE(class fovea::Adagrad<T>)                                                                              \
  FOVEA_INSTANCE(class fovea::TensorDataset<T>)                                                                        \
  FOVEA_INSTANCE(class fovea::DataParallel<T>)                                                                         \
  FOVEA_INSTANCE(                                                                                                      \
      fovea::History fovea::fit<T, fovea::TensorDataset<T>>(fovea::Graph<T>&, fovea::Loss<T>&, fovea::Optimizer<T>&,   \
                                                            const fovea::TensorDataset<T>&, const fovea::FitOptions&)) \
  FOVEA_INSTANCE(fovea::History fovea::fit<T, fovea::TensorDataset<T>, fovea::TensorDataset<T>>(                       \
      fovea::Graph<T>&, fovea::Loss<T>&, fovea::Optimizer<T>&, const fovea::TensorDataset<T>&,                         \
      const fovea::TensorDataset<T>&, const fovea::FitOptions&))                                                       \
  FOVEA_INSTANCE(fovea::Evaluation fovea::evaluate<T, fovea::TensorDataset<T>>(                                        \
      fovea::Graph<T>&, fovea::Loss<T>&, const fovea::TensorDataset<T>&, fovea::Index))
// NOLINTEND(bugprone-macro-parentheses)

#ifndef FOVEA_INSTANTIATE
FOVEA_INSTANCES_FOR(float)
FOVEA_INSTANCES_FOR(double)
#endif
