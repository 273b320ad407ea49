#!/usr/bin/env node
// ONNX Runtime as a peer for fovea's ONNX tests and benchmarks.
//
//   node run.mjs MODEL.onnx INPUT.npy OUTPUT.npy [--threads N]
//       runs the model on the input (float32 or float64 .npy, fed as float32 to
//       the model's first input) and writes its first output as float32 .npy.
//   node run.mjs --check [FIXTURES]
//       runs every <fixture>/model.onnx on its input.npy and compares with its
//       expected.npy (PyTorch's output): |ort - torch| <= 1e-4 * max|torch| for
//       every element; FIXTURES defaults to tests/onnx/fixtures. Exit 1 on a miss.
//   node run.mjs --bench MODEL.onnx INPUT.npy [--threads N] [--runs R] [--batch-runs B]
//       batch-1 latency and batch-256 throughput (the first sample of INPUT.npy,
//       repeated), the medians of R runs (default 200) after 20 untimed ones and
//       of B runs (default R / 10, at least 5) after one untimed, each with the
//       process's CPU time per call (all threads, mean over the runs), and Node's
//       per-call overhead: the median latency of a Relu on [1, 3, 4, 4]
//       (tests/onnx/fixtures/relu_opset13), a model with next to no arithmetic.
//       Prints a table and one JSON line.
//
// --threads sets ONNX Runtime's intra-op threads (default 1, so that runs are
// comparable with single-threaded fovea; 0 lets ONNX Runtime choose) and one
// inter-op thread. Install with ./setup.sh.

import { readFileSync, writeFileSync, readdirSync, existsSync, renameSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { performance } from "node:perf_hooks";
import { createRequire } from "node:module";

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const ort = require("onnxruntime-node");
const fixturesDefault = resolve(here, "../../../tests/onnx/fixtures");

// --- .npy (numpy.lib.format): little-endian float32/float64, C order ---------

function readNpy(path) {
  const bytes = readFileSync(path);
  const magic = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]);
  if (bytes.length < 10 || !bytes.subarray(0, 6).equals(magic)) throw new Error(`${path}: not a .npy file`);
  const major = bytes[6];
  const lengthBytes = major === 1 ? 2 : 4;
  const headerLength = lengthBytes === 2 ? bytes.readUInt16LE(8) : bytes.readUInt32LE(8);
  const start = 8 + lengthBytes + headerLength;
  const header = bytes.subarray(8 + lengthBytes, start).toString("latin1");
  const descr = /'descr':\s*'([^']*)'/.exec(header)?.[1];
  const fortran = /'fortran_order':\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined) {
    throw new Error(`${path}: malformed .npy header ${header.trim()}`);
  }
  if (fortran !== "False") throw new Error(`${path}: Fortran order is not supported`);
  const shape = shapeText.split(",").map((s) => s.trim()).filter((s) => s !== "").map(Number);
  const count = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(count);
  const view = new DataView(bytes.buffer, bytes.byteOffset + start);
  if (descr === "<f4") {
    if (bytes.length - start !== count * 4) throw new Error(`${path}: ${count} floats expected`);
    for (let i = 0; i < count; ++i) data[i] = view.getFloat32(4 * i, true);
  } else if (descr === "<f8") {
    if (bytes.length - start !== count * 8) throw new Error(`${path}: ${count} doubles expected`);
    for (let i = 0; i < count; ++i) data[i] = view.getFloat64(8 * i, true);
  } else {
    throw new Error(`${path}: dtype '${descr}', expected '<f4' or '<f8'`);
  }
  return { shape, data };
}

// Version 1.0, header padded to a multiple of 64 bytes as NumPy pads it;
// written to a temporary file and renamed, so a reader never sees half a file.
function writeNpy(path, shape, data) {
  const tuple = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(", ")})`;
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': ${tuple}, }`;
  header += " ".repeat(63 - ((10 + header.length) % 64)) + "\n";
  const out = Buffer.alloc(10 + header.length + 4 * data.length);
  Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]).copy(out, 0);
  out.writeUInt16LE(header.length, 8);
  out.write(header, 10, "latin1");
  for (let i = 0; i < data.length; ++i) out.writeFloatLE(data[i], 10 + header.length + 4 * i);
  const temp = `${path}.tmp-${process.pid}`;
  writeFileSync(temp, out);
  renameSync(temp, path);
}

// --- ONNX Runtime ---------------------------------------------------------------

async function openSession(model, threads) {
  return ort.InferenceSession.create(model, {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: "sequential",
    graphOptimizationLevel: "all",
  });
}

async function run(session, input) {
  const feeds = { [session.inputNames[0]]: new ort.Tensor("float32", input.data, input.shape) };
  const results = await session.run(feeds);
  const output = results[session.outputNames[0]];
  return { shape: output.dims.map(Number), data: output.data };
}

// --- modes ------------------------------------------------------------------------

function option(args, name, fallback) {
  const at = args.indexOf(name);
  if (at < 0) return fallback;
  const value = Number(args[at + 1]);
  if (!Number.isInteger(value) || value < 0) throw new Error(`${name} needs a whole number, got '${args[at + 1]}'`);
  args.splice(at, 2);
  return value;
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

// `runs` calls after `warmup` untimed ones: the median milliseconds of a call,
// and the process's CPU milliseconds (every thread's, user and system) per
// call on average, which a busy machine inflates less than the wall time.
async function time(session, input, warmup, runs) {
  for (let i = 0; i < warmup; ++i) await run(session, input);
  const times = [];
  const cpuBefore = process.cpuUsage();
  for (let i = 0; i < runs; ++i) {
    const start = performance.now();
    await run(session, input);
    times.push(performance.now() - start);
  }
  const cpu = process.cpuUsage(cpuBefore);
  return { ms: median(times), cpuMs: (cpu.user + cpu.system) / 1000 / runs };
}

// The first sample of `input` repeated `batch` times.
function batchOf(input, batch) {
  const sample = input.data.length / input.shape[0];
  const data = new Float32Array(sample * batch);
  for (let n = 0; n < batch; ++n) data.set(input.data.subarray(0, sample), n * sample);
  return { shape: [batch, ...input.shape.slice(1)], data };
}

async function bench(model, inputPath, threads, runs, batchRuns) {
  if (runs < 1 || batchRuns < 1) throw new Error(`--runs and --batch-runs need at least 1, got ${runs} and ${batchRuns}`);
  const input = readNpy(inputPath);
  const session = await openSession(model, threads);
  const latency = await time(session, batchOf(input, 1), 20, runs);
  const big = batchOf(input, 256);
  const batch = await time(session, big, 1, batchRuns);
  const batchMs = batch.ms;
  const trivial = await openSession(join(fixturesDefault, "relu_opset13", "model.onnx"), threads);
  const overhead = (await time(trivial, { shape: [1, 3, 4, 4], data: new Float32Array(48).fill(0.5) }, 100, 1000)).ms;
  const result = {
    peer: "onnxruntime-node",
    version: ort.env.versions?.common ?? "unknown",
    model,
    threads,
    batch1_latency_ms: latency.ms,
    batch1_cpu_ms: latency.cpuMs,
    batch256_ms: batchMs,
    batch256_cpu_ms: batch.cpuMs,
    batch256_samples_per_s: 256 / (batchMs / 1000),
    node_call_overhead_ms: overhead,
  };
  console.log(`onnxruntime-node ${result.version}, ${threads} intra-op thread(s), ${model}`);
  console.log(`  batch 1 latency     ${latency.ms.toFixed(4)} ms (median of ${runs}), CPU ${latency.cpuMs.toFixed(4)} ms`);
  console.log(`  batch 256           ${batchMs.toFixed(3)} ms = ${result.batch256_samples_per_s.toFixed(0)} samples/s` +
              ` (median of ${batchRuns}), CPU ${batch.cpuMs.toFixed(3)} ms`);
  console.log(`  per-call overhead   ${overhead.toFixed(4)} ms (Relu on [1, 3, 4, 4], median of 1000)`);
  console.log(JSON.stringify(result));
}

async function check(folder) {
  let failures = 0;
  const names = readdirSync(folder).filter((name) => existsSync(join(folder, name, "model.onnx"))).sort();
  for (const name of names) {
    const session = await openSession(join(folder, name, "model.onnx"), 1);
    const output = await run(session, readNpy(join(folder, name, "input.npy")));
    const expected = readNpy(join(folder, name, "expected.npy"));
    const sameShape = output.shape.join("x") === expected.shape.join("x");
    let scale = 0;
    let worst = 0;
    for (let i = 0; i < expected.data.length; ++i) scale = Math.max(scale, Math.abs(expected.data[i]));
    for (let i = 0; sameShape && i < expected.data.length; ++i) {
      worst = Math.max(worst, Math.abs(output.data[i] - expected.data[i]));
    }
    const relative = worst / Math.max(scale, Number.MIN_VALUE);
    const ok = sameShape && relative <= 1e-4;
    if (!ok) ++failures;
    console.log(
      `${ok ? "ok  " : "FAIL"} ${name.padEnd(32)} [${output.shape.join(", ")}]` +
        (sameShape ? ` max|ort - torch| = ${worst.toExponential(2)} (${relative.toExponential(2)} of max|torch|)` :
                     ` expected [${expected.shape.join(", ")}]`),
    );
  }
  console.log(`${names.length - failures} of ${names.length} fixtures within 1e-4 of PyTorch`);
  return failures === 0;
}

async function main() {
  const args = process.argv.slice(2);
  const threads = option(args, "--threads", 1);
  const runs = option(args, "--runs", 200);
  const batchRuns = option(args, "--batch-runs", Math.max(5, Math.round(runs / 10)));
  if (args[0] === "--check") {
    process.exit((await check(resolve(args[1] ?? fixturesDefault))) ? 0 : 1);
  }
  if (args[0] === "--bench" && args.length === 3) {
    await bench(args[1], args[2], threads, runs, batchRuns);
    return;
  }
  if (args.length !== 3 || args[0].startsWith("--")) {
    console.error("usage: run.mjs MODEL.onnx INPUT.npy OUTPUT.npy [--threads N]\n" +
                  "       run.mjs --check [FIXTURES]\n" +
                  "       run.mjs --bench MODEL.onnx INPUT.npy [--threads N] [--runs R] [--batch-runs B]");
    process.exit(2);
  }
  const session = await openSession(args[0], threads);
  const output = await run(session, readNpy(args[1]));
  writeNpy(args[2], output.shape, output.data);
}

main().catch((error) => {
  console.error(`run.mjs: ${error.message}`);
  process.exit(1);
});
