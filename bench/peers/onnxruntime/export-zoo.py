#!/usr/bin/python3
"""Exports torchvision's MobileNetV2 and ResNet-18 as the ONNX benchmark uses them.

    /usr/bin/python3 bench/peers/onnxruntime/export-zoo.py OUT

writes OUT/mobilenet_v2.onnx and OUT/resnet18.onnx (opset 13, input
[batch, 3, 224, 224] with a dynamic batch axis, 1,000 logits) and
OUT/imagenet_input.npy, one float32 [1, 3, 224, 224] image. The weights are
torchvision's random initialisation (weights=None: the time of a forward does
not depend on their values, and pretrained ones need the network), from a
fixed seed. The models are put in eval mode and exported with
TrainingMode.EVAL, as a deployment exports them: each BatchNormalization is
folded into the convolution before it. Together 60 MB, so they are made when
needed (bench/peers/onnx_vs_ort.sh), not committed; LeNet-5 and ResNet-8 come
from tests/onnx/fixtures.

Needs Debian's python3-torch, python3-torchvision, python3-onnx and
python3-numpy.
"""

import argparse
import os

import numpy as np
import onnx
import torch
import torchvision

OPSET = 13


def export(name, model, x, out):
    path = os.path.join(out, f"{name}.onnx")
    model.eval()
    # To a temporary name first: a half-written model is never left at `path`.
    temporary = f"{path}.tmp-{os.getpid()}"
    torch.onnx.export(
        model,
        x,
        temporary,
        opset_version=OPSET,
        training=torch.onnx.TrainingMode.EVAL,
        do_constant_folding=True,
        input_names=["input"],
        output_names=["logits"],
        dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
    )
    exported = onnx.load(temporary)
    onnx.checker.check_model(exported, full_check=True)
    if exported.graph.input[0].type.tensor_type.shape.dim[0].dim_param != "batch":
        raise SystemExit(f"{path}: the batch axis is not dynamic")
    os.replace(temporary, path)
    operators = sorted({node.op_type for node in exported.graph.node})
    size = os.path.getsize(path) / 1e6
    print(f"{path}: {size:.1f} MB, {len(exported.graph.node)} nodes: {','.join(operators)}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", help="folder for the .onnx files and the input .npy")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)

    torch.manual_seed(0)
    torch.set_num_threads(1)
    x = torch.rand(1, 3, 224, 224, generator=torch.Generator().manual_seed(1))
    export("mobilenet_v2", torchvision.models.mobilenet_v2(weights=None), x, args.out)
    export("resnet18", torchvision.models.resnet18(weights=None), x, args.out)
    np.save(os.path.join(args.out, "imagenet_input.npy"), np.ascontiguousarray(x.numpy(), dtype="<f4"))


if __name__ == "__main__":
    main()
