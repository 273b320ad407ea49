#!/usr/bin/python3
"""Writes the .npy files tests/io/data/npy.cpp reads, with NumPy's own writer.

Run from anywhere: /usr/bin/python3 tests/io/data/make_npy.py
The files are committed; the tests do not need NumPy.
"""
import os

import numpy as np

here = os.path.dirname(os.path.abspath(__file__))


def save(name, array, version=None):
    with open(os.path.join(here, name + ".npy"), "wb") as f:
        np.lib.format.write_array(f, array, version=version)


save("f32_2x3", np.arange(6, dtype="<f4").reshape(2, 3) / 4 - 0.5)
save("f64_1x2x2x2", np.array([1.5, -2.25, 1e-300, 3e300, 0.0, -0.0, np.pi, -7], dtype="<f8").reshape(1, 2, 2, 2))
save("f32_v2_5", np.array([1, 2, 3, 4, 5], dtype="<f4"), version=(2, 0))
save("f32_scalar", np.float32(2.5).reshape(()))
save("f32_empty_0x3", np.zeros((0, 3), dtype="<f4"))
save("f32_fortran_2x3", np.asfortranarray(np.arange(6, dtype="<f4").reshape(2, 3)))
save("i64_3", np.array([1, 2, 3], dtype="<i8"))
save("f32_big_endian_2", np.array([1, 2], dtype=">f4"))
