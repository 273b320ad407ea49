#!/usr/bin/env python3
"""Where the code of a compiled translation unit comes from: the bytes of
machine code per area of fovea (and Eigen, and the standard library), read
from `nm -S -C` of the object. At -O3 the compiler's time follows the code it
optimises and emits, so this is where bench/compile_time.sh's seconds go.

    bench/compile_breakdown.py lenet_sgd.o

Each function is counted once (a constructor's complete and base-object
symbols, which demangle alike, count once), in the first
area whose pattern its name (without the argument list) matches.
"""
import re
import subprocess
import sys
from collections import Counter

AREAS = [
    ("Eigen (GEMM, GEMV, other)", r"^(void )?Eigen::"),
    ("gemm entry point", r"gemm"),
    ("pooling", r"pool2d|Pool2d|pool2x2|GlobalPool"),
    ("convolution kernels", r"direct_|vector_|full_input|pad_full|pad_image|pad_channels|depthwise|pointwise|"
                            r"im2col|col2im|copy_row|copy_pieces|store_block|for_filter_blocks|with_count|for_even"),
    ("convolution (dispatch, layer)", r"conv2d|Conv2d"),
    ("layers a LeNet does not use", r"Sigmoid|Tanh|ELU|LeakyReLU|Dropout|dropout|LogSoftmax|sigmoid|tanh|elu_|leaky|"
                                    r"Softmax<"),
    ("linear", r"linear|Linear"),
    ("losses, softmax", r"softmax|Softmax|cross_entropy|CrossEntropy|SquaredError|loss"),
    ("optimizer", r"Sgd|Adam|Rmsprop|Adagrad|Optimizer"),
    ("training loop, DataParallel", r"fit|evaluate|DataParallel|Progress|TensorDataset|format_epoch"),
    ("network, registry, init", r"Sequential|LayerRegistry|make_layer|make_lenet|initialize"),
    ("standard library", r"^(void )?std::|^__gnu"),
]


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    listing = subprocess.run(["nm", "-S", "-C", sys.argv[1]], check=True, capture_output=True, text=True).stdout
    sizes: Counter = Counter()
    counts: Counter = Counter()
    total = 0
    seen = set()
    for line in listing.splitlines():
        match = re.match(r"^([0-9a-f]+) ([0-9a-f]+) ([tTwW]) (.*)$", line)
        if not match:
            continue
        # Addresses are per section (functions in COMDAT groups all sit at 0),
        # so the address and the demangled name together identify a function;
        # a constructor's two symbols demangle alike.
        key = (match.group(1), match.group(4))
        if key in seen:
            continue
        seen.add(key)
        size, name = int(match.group(2), 16), match.group(4)
        head = name.split("(")[0]
        area = next((label for label, pattern in AREAS if re.search(pattern, head)), "other fovea code")
        sizes[area] += size
        counts[area] += 1
        total += size
    print(f"{'area':34} {'bytes':>8} {'share':>6} {'functions':>9}")
    for area, size in sizes.most_common():
        print(f"{area:34} {size:8d} {100 * size / total:5.1f}% {counts[area]:9d}")
    print(f"{'total':34} {total:8d}")


if __name__ == "__main__":
    main()
