#!/usr/bin/python3
"""Lists ONNX's node test cases for the operators fovea's importer targets.

    /usr/bin/python3 scripts/onnx-conformance-cases.py [NODE_DIR] > cases.md

NODE_DIR defaults to /usr/share/libonnx-testdata/data/node (Debian's
libonnx-testdata). Prints the Markdown tables of docs/onnx-conformance.md
from "## Cases by operator" on: for each operator, its cases, each with what
it needs beyond a plain float NCHW graph (ranks, 1-D or 3-D windows, dilation,
auto_pad, other data types, training mode, ...). A case belongs to an operator
when every node of its graph is one of the targeted operators; the
"_expanded" cases (a function operator written out in primitive ones) are
counted apart. Needs python3-onnx only.
"""

import collections
import glob
import os
import sys

import onnx
from onnx import numpy_helper

OPERATORS = [
    "Conv", "ConvTranspose", "Gemm", "MatMul", "Add", "Relu", "LeakyRelu", "PRelu", "Elu", "Sigmoid", "Tanh",
    "Clip", "Softplus", "Softmax", "LogSoftmax", "MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool",
    "BatchNormalization", "LRN", "Mul", "Sub", "Div", "Concat", "Flatten", "Reshape", "Squeeze", "Unsqueeze",
    "Pad", "Dropout", "Identity", "Constant", "Shape", "Gather", "Slice", "ConstantOfShape", "Cast", "Transpose",
]
SPATIAL = {"Conv", "ConvTranspose", "MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool",
           "BatchNormalization", "LRN"}
ELEMENTWISE = {"Add", "Sub", "Mul", "Div"}
# Operators whose meaning depends on the data's axes: "plain" for them means [N, C, H, W] data.
AXES = {"Concat", "Flatten", "Squeeze", "Unsqueeze", "Gather", "Transpose", "Reshape", "Slice", "Pad"}
FUNCTIONS = "Functions written out in these operators"
TYPE_NAMES = {value: name.lower() for name, value in onnx.TensorProto.DataType.items()}


def tensor_infos(values):
    """(data type name, rank or None) of graph inputs or outputs."""
    out = []
    for value in values:
        kind = value.type.WhichOneof("value")
        if kind != "tensor_type":
            out.append((kind.replace("_type", "") if kind else "untyped", None))  # sequence, optional, map
            continue
        t = value.type.tensor_type
        rank = len(t.shape.dim) if t.HasField("shape") else None
        out.append((TYPE_NAMES.get(t.elem_type, "?"), rank))
    return out


def attribute(node, name, default=None):
    for a in node.attribute:
        if a.name == name:
            return onnx.helper.get_attribute_value(a)
    return default


def needs(model):
    """What the case asks beyond float NCHW with default attributes."""
    graph = model.graph
    notes = []
    inputs = tensor_infos(graph.input)
    outputs = tensor_infos(graph.output)
    # The data's type: the first input's and the outputs'. Later inputs
    # (weights, shapes, axes, pads, indices) become initializers in the runner,
    # so an int64 shape there is a constant, not data fovea must hold.
    types = sorted({t for t, _ in inputs[:1] + outputs if t != "float"})
    if types:
        notes.append("/".join(types))
    for node in graph.node:
        op = node.op_type
        first_rank = inputs[0][1] if inputs else None
        if op in SPATIAL and first_rank is not None and first_rank != 4:
            notes.append(f"{first_rank - 2}-D (rank {first_rank})" if first_rank >= 3 else f"rank {first_rank}")
        kernel = attribute(node, "kernel_shape")
        if kernel is not None and len(kernel) != 2 and first_rank is None:
            notes.append(f"{len(kernel)}-D window")
        dilations = attribute(node, "dilations")
        if dilations is not None and any(d != 1 for d in dilations):
            notes.append("dilation")
        auto_pad = attribute(node, "auto_pad")
        if auto_pad not in (None, b"NOTSET"):
            notes.append("auto_pad " + auto_pad.decode())
        if attribute(node, "ceil_mode", 0):
            notes.append("ceil_mode")
        if op == "AveragePool" and attribute(node, "count_include_pad", 0):
            notes.append("count_include_pad")
        if attribute(node, "storage_order", 0):
            notes.append("storage_order")
        if op == "MaxPool" and len(node.output) > 1:
            notes.append("Indices output")
        group = attribute(node, "group", 1)
        if group != 1:
            notes.append(f"group {group}")
        if op == "ConvTranspose":
            for name in ("output_padding", "output_shape"):
                if attribute(node, name) is not None:
                    notes.append(name)
        if op == "BatchNormalization" and (attribute(node, "training_mode", 0) or len(node.output) > 1):
            notes.append("training mode")
        if op == "Dropout" and (len(node.input) > 1 or len(node.output) > 1):
            notes.append("ratio/training/mask")
        if op in ("Softmax", "LogSoftmax"):
            axis = attribute(node, "axis")
            notes.append(f"axis {axis if axis is not None else 'default'} of rank {first_rank}")
        if op == "Gemm":
            for name in ("transA", "transB"):
                if attribute(node, name, 0):
                    notes.append(name)
            if attribute(node, "alpha", 1.0) != 1.0 or attribute(node, "beta", 1.0) != 1.0:
                notes.append("alpha/beta")
            if len(node.input) < 3:
                notes.append("no C")
        if op in ELEMENTWISE or op == "PRelu":
            ranks = [rank for _, rank in inputs]
            if len(set(ranks)) > 1:
                notes.append("broadcast ranks " + "/".join(str(r) for r in ranks))
            elif ranks and ranks[0] not in (None, 4):
                notes.append(f"rank {ranks[0]}")
        if op == "Pad":
            mode = attribute(node, "mode", b"constant")
            if mode != b"constant":
                notes.append("mode " + mode.decode())
        if op == "MatMul" and first_rank not in (None, 2):
            notes.append(f"rank {first_rank}")
        if op in AXES and first_rank not in (None, 4):
            notes.append(f"rank {first_rank}")
    if len({n.op_type for n in graph.node}) > 1 or len(graph.node) > 1:
        notes.append(f"{len(graph.node)} nodes")
    seen = []
    for n in notes:
        if n not in seen:
            seen.append(n)
    return ", ".join(seen)


def main():
    folder = sys.argv[1] if len(sys.argv) > 1 else "/usr/share/libonnx-testdata/data/node"
    targeted = set(OPERATORS)
    by_operator = collections.defaultdict(list)
    expanded = collections.Counter()
    for path in sorted(glob.glob(os.path.join(folder, "test_*", "model.onnx"))):
        name = os.path.basename(os.path.dirname(path))
        model = onnx.load(path)
        ops = [node.op_type for node in model.graph.node]
        if not ops or not set(ops) <= targeted:
            continue
        # The operator under test: the only one, else the one the name starts with.
        distinct = sorted(set(ops), key=ops.index)
        main_op = distinct[0]
        if len(distinct) > 1:
            # A function operator written out (test_celu_expanded: Constant,
            # Div, Elu, Mul) files under the function's name.
            main_op = FUNCTIONS
            for op in distinct:
                if name.replace("_", "").lower().startswith("test" + op.lower()):
                    main_op = op
        if name.endswith("_expanded"):
            expanded[main_op] += 1
        sets = len(glob.glob(os.path.join(os.path.dirname(path), "test_data_set_*")))
        opset = next(e.version for e in model.opset_import if e.domain in ("", "ai.onnx"))
        by_operator[main_op].append((name, opset, sets, needs(model)))

    total = sum(len(v) for v in by_operator.values())
    print("## Cases by operator\n")
    print(f"{total} cases in {folder} use only the {len(OPERATORS)} operators above "
          f"({sum(expanded.values())} of them `_expanded`).\n")
    print("| Operator | Cases | Plain float NCHW | Needs more |")
    print("|---|---:|---:|---|")
    for op in OPERATORS:
        cases = by_operator.get(op, [])
        plain = sum(1 for c in cases if not c[3])
        kinds = collections.Counter()
        for c in cases:
            for note in c[3].split(", "):
                if note:
                    kinds[note.split(" of ")[0] if note.startswith("axis") else note] += 1
        summary = ", ".join(f"{k} ({n})" for k, n in sorted(kinds.items(), key=lambda kv: (-kv[1], kv[0]))[:8])
        print(f"| {op} | {len(cases)} | {plain} | {summary} |")
    functions = by_operator.get(FUNCTIONS, [])
    if functions:
        print(f"| {FUNCTIONS} | {len(functions)} | | |")
    for op in OPERATORS + [FUNCTIONS]:
        cases = by_operator.get(op, [])
        if not cases:
            continue
        print(f"\n### {op} ({len(cases)})\n")
        print("| Case | Opset | Data sets | Needs beyond float NCHW |")
        print("|---|---:|---:|---|")
        for name, opset, sets, note in cases:
            print(f"| `{name}` | {opset} | {sets} | {note or '—'} |")


if __name__ == "__main__":
    main()
