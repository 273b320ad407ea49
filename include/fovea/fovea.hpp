#pragma once

/// @file
/// Umbrella header: every public header of fovea that needs nothing but Eigen.
/// The file formats that need zlib or stb (io/data/idx.hpp,
/// io/data/dataset.hpp, io/image/png.hpp, io/image/read_image.hpp) come with
/// the fovea::io target and are included one by one.

/// @namespace fovea
/// Tensors, layers and training for CNNs: row-major tensors and views on Eigen,
/// stateless forward/backward operations, layers, networks, optimisers and a
/// training loop.

#include "fovea/version.hpp"

#include "fovea/core/eigen.hpp"
#include "fovea/core/error.hpp"
#include "fovea/core/parallel.hpp"
#include "fovea/core/print.hpp"
#include "fovea/core/random.hpp"
#include "fovea/core/shape.hpp"
#include "fovea/core/tensor.hpp"
#include "fovea/core/tensor_view.hpp"

#include "fovea/ops/activation.hpp"
#include "fovea/ops/batch_norm.hpp"
#include "fovea/ops/conv2d.hpp"
#include "fovea/ops/dropout.hpp"
#include "fovea/ops/im2col.hpp"
#include "fovea/ops/linear.hpp"
#include "fovea/ops/local_response_norm.hpp"
#include "fovea/ops/loss.hpp"
#include "fovea/ops/merge.hpp"
#include "fovea/ops/pool2d.hpp"
#include "fovea/ops/prelu.hpp"
#include "fovea/ops/softmax.hpp"

#include "fovea/signal/convolve.hpp"
#include "fovea/signal/kernels.hpp"

#include "fovea/layers/activation.hpp"
#include "fovea/layers/add.hpp"
#include "fovea/layers/batch_norm.hpp"
#include "fovea/layers/channel_affine.hpp"
#include "fovea/layers/concat.hpp"
#include "fovea/layers/conv2d.hpp"
#include "fovea/layers/dropout.hpp"
#include "fovea/layers/flatten.hpp"
#include "fovea/layers/global_pool.hpp"
#include "fovea/layers/layer.hpp"
#include "fovea/layers/linear.hpp"
#include "fovea/layers/local_response_norm.hpp"
#include "fovea/layers/pool2d.hpp"
#include "fovea/layers/prelu.hpp"
#include "fovea/layers/softmax.hpp"

#include "fovea/nn/fold_batch_norm.hpp"
#include "fovea/nn/graph.hpp"
#include "fovea/nn/init.hpp"
#include "fovea/nn/lenet.hpp"
#include "fovea/nn/registry.hpp"
#include "fovea/nn/sequential.hpp"

#include "fovea/optim/adagrad.hpp"
#include "fovea/optim/adam.hpp"
#include "fovea/optim/optimizer.hpp"
#include "fovea/optim/rmsprop.hpp"
#include "fovea/optim/schedule.hpp"
#include "fovea/optim/sgd.hpp"

#include "fovea/train/augment.hpp"
#include "fovea/train/data.hpp"
#include "fovea/train/data_parallel.hpp"
#include "fovea/train/fit.hpp"
#include "fovea/train/loss.hpp"
#include "fovea/train/metrics.hpp"
#include "fovea/train/progress.hpp"

#include "fovea/io/data/npy.hpp"
#include "fovea/io/model_file.hpp"

#include "fovea/testing/gradcheck.hpp"
