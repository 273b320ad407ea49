#!/usr/bin/python3
"""Exports the small ONNX models fovea's ONNX tests use, with PyTorch's outputs.

    /usr/bin/python3 scripts/make-onnx-fixtures.py [--out tests/onnx/fixtures]

For each model and opset it writes <out>/<name>_opset<N>/ holding model.onnx,
input.npy (a float32 batch of 2) and expected.npy (PyTorch's float32 output
for that input), and it rewrites <out>/MANIFEST.txt: one line per fixture with
its name, opset, input and output shapes and the graph's operator types.
Every model has a dynamic batch axis (named "batch") and passes
onnx.checker.check_model with full shape inference. Weights and inputs come
from fixed seeds, so a rerun on the same PyTorch writes the same numbers.

Needs Debian's python3-torch, python3-onnx and python3-numpy (tests do not:
the fixtures are committed). tests/onnx/README.md says how to check them
against ONNX Runtime.
"""

import argparse
import os
import shutil
import sys
import tempfile

import numpy as np
import onnx
import onnx.helper
import onnx.numpy_helper
import torch
import torch.nn as nn
import torch.nn.functional as F

BATCH = 2


# --- models ----------------------------------------------------------------


class LeNet5(nn.Module):
    """include/fovea/nn/lenet.hpp: conv 6@5x5 pad 2, ReLU, max-pool 2, conv
    16@5x5, ReLU, max-pool 2, flatten(400), FC 120, ReLU, FC 84, ReLU, FC 10."""

    input_shape = (1, 28, 28)

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 5, padding=2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(400, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = torch.flatten(x, 1)
        return self.fc3(F.relu(self.fc2(F.relu(self.fc1(x)))))


class BasicBlock(nn.Module):
    """torchvision's BasicBlock: conv3x3-BN-ReLU-conv3x3-BN plus the shortcut
    (a 1x1 conv + BN projection when the shape changes), then ReLU."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Identity()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return F.relu(y + self.shortcut(x))


class ResNet8(nn.Module):
    """Stem conv3x3 1->16 + BN + ReLU; basic blocks of 16, 32 (stride 2) and 64
    (stride 2) channels; global average pooling; FC to 10."""

    input_shape = (1, 28, 28)

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU())
        self.stages = nn.Sequential(BasicBlock(16, 16, 1), BasicBlock(16, 32, 2), BasicBlock(32, 64, 2))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(64, 10)

    def forward(self, x):
        x = self.pool(self.stages(self.stem(x)))
        return self.fc(torch.flatten(x, 1))


class DepthwiseSeparable(nn.Module):
    """MobileNet's block: a depthwise 3x3 conv (groups = channels) and a
    pointwise 1x1 conv, each with BN and ReLU6; one of them strided."""

    input_shape = (3, 12, 12)

    def __init__(self):
        super().__init__()

        def separable(cin, cout, stride):
            return [
                nn.Conv2d(cin, cin, 3, stride, 1, groups=cin, bias=False),
                nn.BatchNorm2d(cin),
                nn.ReLU6(),
                nn.Conv2d(cin, cout, 1, bias=False),
                nn.BatchNorm2d(cout),
                nn.ReLU6(),
            ]

        self.features = nn.Sequential(
            nn.Conv2d(3, 8, 3, 1, 1), nn.ReLU6(), *separable(8, 16, 1), *separable(16, 24, 2), nn.AdaptiveAvgPool2d(1)
        )
        self.fc = nn.Linear(24, 5)

    def forward(self, x):
        return self.fc(torch.flatten(self.features(x), 1))


class Inception(nn.Module):
    """GoogLeNet's inception block: 1x1, 1x1->3x3, 1x1->5x5 and 3x3 max-pool->1x1
    branches concatenated along the channels."""

    input_shape = (4, 9, 9)

    def __init__(self):
        super().__init__()
        self.b1 = nn.Conv2d(4, 3, 1)
        self.b2 = nn.Sequential(nn.Conv2d(4, 2, 1), nn.ReLU(), nn.Conv2d(2, 4, 3, padding=1))
        self.b3 = nn.Sequential(nn.Conv2d(4, 2, 1), nn.ReLU(), nn.Conv2d(2, 3, 5, padding=2))
        self.b4 = nn.Sequential(nn.MaxPool2d(3, 1, 1), nn.Conv2d(4, 2, 1))

    def forward(self, x):
        return F.relu(torch.cat([self.b1(x), self.b2(x), self.b3(x), self.b4(x)], 1))


class Lambda(nn.Module):
    """A model that is one function of its input (pooling and activations)."""

    def __init__(self, function, input_shape, **modules):
        super().__init__()
        self.function = function
        self.input_shape = input_shape
        for name, module in modules.items():
            self.add_module(name, module)

    def forward(self, x):
        return self.function(self, x)


class Normalize(nn.Module):
    """Per-channel input normalisation (x - mean) / std by constants, as a
    preprocessing step exported into the graph, then a 3x3 conv."""

    input_shape = (3, 6, 6)

    def __init__(self):
        super().__init__()
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).reshape(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).reshape(1, 3, 1, 1))
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, x):
        return self.conv((x - self.mean) / self.std)


class Flatten(nn.Module):
    """conv -> Flatten(axis=1) -> Gemm."""

    input_shape = (2, 5, 5)

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 3, 3)
        self.fc = nn.Linear(27, 4)

    def forward(self, x):
        return self.fc(torch.flatten(self.conv(x), 1))


class ReshapeConstant(Flatten):
    """conv -> Reshape to the constant shape [-1, 27] -> Gemm."""

    def forward(self, x):
        return self.fc(self.conv(x).reshape(-1, 27))


class ReshapeDynamic(Flatten):
    """conv -> Reshape to [batch, -1], the batch read from the input's Shape
    (Shape -> Gather -> Unsqueeze -> Concat -> Reshape) -> Gemm."""

    def forward(self, x):
        y = self.conv(x)
        return self.fc(y.view(y.size(0), -1))


def pooling_models():
    shape = (3, 8, 8)
    relu_then = lambda pool: (lambda m, x: pool(F.relu(x)))  # noqa: E731
    return {
        "maxpool_ceil": Lambda(relu_then(lambda x: F.max_pool2d(x, 3, 2, ceil_mode=True)), shape),
        "avgpool_ceil": Lambda(lambda m, x: F.avg_pool2d(x, 3, 2, padding=1, ceil_mode=True), shape),
        "avgpool_exclude_pad": Lambda(lambda m, x: F.avg_pool2d(x, 3, 1, padding=1, count_include_pad=False), shape),
        "avgpool_include_pad": Lambda(lambda m, x: F.avg_pool2d(x, 3, 2, padding=1, count_include_pad=True), shape),
        # F.pad's (left, right, top, bottom): pads no pooling attribute can say.
        "maxpool_asymmetric_pad": Lambda(relu_then(lambda x: F.max_pool2d(F.pad(x, (0, 1, 1, 0)), 2, 2)), (3, 7, 7)),
        "avgpool_asymmetric_pad": Lambda(lambda m, x: F.avg_pool2d(F.pad(x, (1, 0, 0, 1)), 2, 2), (3, 7, 7)),
        # adaptive_max_pool2d(x, 1) exports as a MaxPool whose window is the
        # input (global_maxpool, GlobalMaxPool itself, is made by export_node).
        "maxpool_whole_input": Lambda(lambda m, x: F.adaptive_max_pool2d(x, 1), shape),
        "global_avgpool": Lambda(lambda m, x: F.adaptive_avg_pool2d(x, 1), shape),
    }


# ONNX pads of the F.pad calls above: [0, 0, top, left, 0, 0, bottom, right].
ASYMMETRIC_PADS = {
    "maxpool_asymmetric_pad": [0, 0, 1, 0, 0, 0, 0, 1],
    "avgpool_asymmetric_pad": [0, 0, 0, 1, 0, 0, 1, 0],
}


def activation_models():
    shape = (3, 4, 4)
    # Softmax and LogSoftmax over the features of a flattened batch: [N, F].
    flat = lambda f: (lambda m, x: f(torch.flatten(x, 1)))  # noqa: E731
    prelu = nn.PReLU(3)
    prelu.weight.data = torch.tensor([0.1, 0.25, -0.3])  # one slope per channel, one of them negative
    return {
        "relu": Lambda(lambda m, x: F.relu(x), shape),
        "leakyrelu": Lambda(lambda m, x: F.leaky_relu(x, 0.1), shape),
        "prelu": Lambda(lambda m, x: m.prelu(x), shape, prelu=prelu),
        "elu": Lambda(lambda m, x: F.elu(x, 0.7), shape),
        "sigmoid": Lambda(lambda m, x: torch.sigmoid(x), shape),
        "tanh": Lambda(lambda m, x: torch.tanh(x), shape),
        "clip": Lambda(lambda m, x: torch.clamp(x, -0.5, 0.75), shape),
        "softplus": Lambda(lambda m, x: F.softplus(x), shape),
        "softmax": Lambda(flat(lambda x: F.softmax(x, 1)), shape),
        "logsoftmax": Lambda(flat(lambda x: F.log_softmax(x, 1)), shape),
    }


# --- export ----------------------------------------------------------------


def randomize_batch_norm(model, generator):
    """Running statistics and affine parameters away from 0 and 1, so that a
    wrong BatchNormalization cannot pass for an identity."""
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            c = module.num_features
            module.running_mean.copy_(torch.randn(c, generator=generator) * 0.1)
            module.running_var.copy_(torch.rand(c, generator=generator) + 0.5)
            module.weight.data.copy_(torch.rand(c, generator=generator) + 0.5)
            module.bias.data.copy_(torch.randn(c, generator=generator) * 0.1)


def check_and_describe(path, opset):
    model = onnx.load(path)
    onnx.checker.check_model(model, full_check=True)
    imported = {entry.domain: entry.version for entry in model.opset_import}
    if imported.get("", imported.get("ai.onnx")) != opset:
        raise SystemExit(f"{path}: opset {imported}, expected {opset}")
    batch = model.graph.input[0].type.tensor_type.shape.dim[0]
    if batch.dim_param != "batch":
        raise SystemExit(f"{path}: the batch axis is not dynamic")
    return sorted({node.op_type for node in model.graph.node})


def save_npy(path, array):
    np.save(path, np.ascontiguousarray(array, dtype="<f4"))


def export_torch(name, model, opset, out, seed):
    generator = torch.Generator().manual_seed(seed)
    randomize_batch_norm(model, generator)
    model.eval()
    x = torch.randn((BATCH,) + tuple(model.input_shape), generator=generator)
    with torch.no_grad():
        expected = model(x)
    folder = os.path.join(out, f"{name}_opset{opset}")
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, "model.onnx")
    # PRESERVE with a model in eval mode exports inference-mode BatchNormalization
    # nodes; EVAL would fold each into the convolution before it.
    torch.onnx.export(
        model,
        x,
        path,
        opset_version=opset,
        training=torch.onnx.TrainingMode.PRESERVE,
        do_constant_folding=True,
        input_names=["input"],
        output_names=["output"],
        dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}},
    )
    save_npy(os.path.join(folder, "input.npy"), x.numpy())
    save_npy(os.path.join(folder, "expected.npy"), expected.numpy())
    return folder, tuple(x.shape), tuple(expected.shape), check_and_describe(path, opset)


def fold_constant_pads(path, pads):
    """From opset 11 on, PyTorch computes F.pad's pads inside the graph
    (Constant -> ConstantOfShape -> Concat -> Reshape -> Slice -> Transpose ->
    Cast), which its constant folding leaves in place. The fixtures are about
    pooling, so the Pad node gets its pads as one initializer
    ([x1_begin, x2_begin, ..., x1_end, x2_end, ...]) and the dead nodes go."""
    model = onnx.load(path)
    graph = model.graph
    # The Pad fed by that chain (another Pad, of zeros from AveragePool's own
    # padding, may precede the pooling); none before opset 11, where pads is
    # an attribute.
    computed = {node.output[0] for node in graph.node if node.op_type == "Cast"}
    candidates = [node for node in graph.node if node.op_type == "Pad" and node.input[1:2] and node.input[1] in computed]
    if not candidates:
        return
    (pad,) = candidates
    name = pad.input[1] + "_folded"
    graph.initializer.append(onnx.numpy_helper.from_array(np.array(pads, dtype=np.int64), name))
    pad.input[1] = name
    needed = {output.name for output in graph.output}
    kept = []
    for node in reversed(list(graph.node)):
        if any(output in needed for output in node.output):
            kept.append(node)
            needed.update(node.input)
    del graph.node[:]
    graph.node.extend(reversed(kept))
    used = {name for node in graph.node for name in node.input}
    initializers = [t for t in graph.initializer if t.name in used]
    del graph.initializer[:]
    graph.initializer.extend(initializers)
    onnx.save(model, path)


def export_node(name, op, attributes, input_shape, reference, opset, out, seed):
    """A one-operator model made with onnx.helper, for operators PyTorch
    exports otherwise (LocalResponseNorm as a chain of other operators,
    adaptive max pooling as a MaxPool of the input's size); `reference`
    computes the expected output with PyTorch."""
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn((BATCH,) + input_shape, generator=generator)
    expected = reference(x)
    node = onnx.helper.make_node(op, ["input"], ["output"], **attributes)
    value = lambda name, shape: onnx.helper.make_tensor_value_info(  # noqa: E731
        name, onnx.TensorProto.FLOAT, ["batch"] + list(shape[1:])
    )
    graph = onnx.helper.make_graph(
        [node], name, [value("input", x.shape)], [value("output", expected.shape)]
    )
    model = onnx.helper.make_model(
        graph, opset_imports=[onnx.helper.make_opsetid("", opset)], producer_name="make-onnx-fixtures"
    )
    # The IR version of the opset, not the newest one this onnx knows: older
    # runtimes refuse a newer IR.
    model.ir_version = {9: 4, 13: 7, 17: 8}[opset]
    folder = os.path.join(out, f"{name}_opset{opset}")
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, "model.onnx")
    onnx.save(model, path)
    save_npy(os.path.join(folder, "input.npy"), x.numpy())
    save_npy(os.path.join(folder, "expected.npy"), expected.numpy())
    return folder, tuple(x.shape), tuple(expected.shape), check_and_describe(path, opset)


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.path.join(root, "tests", "onnx", "fixtures"))
    args = parser.parse_args()

    torch.manual_seed(0)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)  # the same summation order on every machine

    # (name, constructor, opsets): every model in opset 13; the small ones in
    # 9 and 17 too, to exercise the attribute-to-input moves
    # (Clip's min/max, Softmax's axis semantics) between opsets.
    fixtures = [
        ("lenet5", LeNet5, [13]),
        ("resnet8", ResNet8, [13]),
        ("depthwise_separable", DepthwiseSeparable, [13]),
        ("inception", Inception, [13]),
        ("normalize", Normalize, [9, 13, 17]),
        ("flatten", Flatten, [13]),
        ("reshape_constant", ReshapeConstant, [13]),
        ("reshape_dynamic", ReshapeDynamic, [13]),
    ]
    for name, model in pooling_models().items():
        # MaxPool and AveragePool take ceil_mode from opset 10 on.
        fixtures.append((name, (lambda m=model: m), [13] if "ceil" in name else [9, 13, 17]))
    for name, model in activation_models().items():
        fixtures.append((name, (lambda m=model: m), [9, 13, 17]))

    staging = tempfile.mkdtemp(prefix="onnx-fixtures-")
    manifest = []
    try:
        for index, (name, make, opsets) in enumerate(fixtures):
            for opset in opsets:
                # Same weights in every opset: the seed depends on the model only.
                torch.manual_seed(1000 + index)
                result = export_torch(name, make(), opset, staging, seed=2000 + index)
                if name in ASYMMETRIC_PADS:
                    fold_constant_pads(os.path.join(result[0], "model.onnx"), ASYMMETRIC_PADS[name])
                    result = result[:3] + (check_and_describe(os.path.join(result[0], "model.onnx"), opset),)
                manifest.append((f"{name}_opset{opset}", opset) + result[1:])
        # LRN: ONNX's definition equals PyTorch's for an odd size.
        size, alpha, beta, bias = 3, 1e-2, 0.75, 2.0
        nodes = [
            ("lrn", "LRN", dict(size=size, alpha=alpha, beta=beta, bias=bias), (5, 4, 4),
             nn.LocalResponseNorm(size, alpha, beta, bias)),
            ("global_maxpool", "GlobalMaxPool", {}, (3, 8, 8), lambda x: F.adaptive_max_pool2d(x, 1)),
        ]
        for index, (name, op, attributes, shape, reference) in enumerate(nodes):
            for opset in (9, 13, 17):
                result = export_node(name, op, attributes, shape, reference, opset, staging, seed=3000 + index)
                manifest.append((f"{name}_opset{opset}", opset) + result[1:])
        os.makedirs(args.out, exist_ok=True)
        for entry in os.listdir(args.out):
            if os.path.isdir(os.path.join(args.out, entry)):
                shutil.rmtree(os.path.join(args.out, entry))
        for entry in os.listdir(staging):
            shutil.move(os.path.join(staging, entry), os.path.join(args.out, entry))
    finally:
        shutil.rmtree(staging, ignore_errors=True)

    shape = lambda s: "x".join(str(d) for d in s)  # noqa: E731
    with open(os.path.join(args.out, "MANIFEST.txt"), "w") as f:
        f.write("# name opset input output operators (written by scripts/make-onnx-fixtures.py)\n")
        for name, opset, x, y, ops in sorted(manifest):
            f.write(f"{name} {opset} {shape(x)} {shape(y)} {','.join(ops)}\n")
    total = sum(
        os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(args.out) for f in files
    )
    print(f"{len(manifest)} fixtures, {total / 1024:.0f} KiB in {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
