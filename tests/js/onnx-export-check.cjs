// Runs an ONNX file written by `mlnet-transfer export` in onnxruntime-node, one image at a time, and prints
// {"top1": [...], "labels": [...], "scores": [[...], ...]} as JSON on stdout.
// Usage: node onnx-export-check.cjs model.onnx pixels.f32 N H W
// pixels.f32: N images of float32 [3, H, W] (R, G, B planes, 0..255), little-endian, back to back.
'use strict';
const fs = require('fs');
const ort = require('onnxruntime-node');

async function main() {
  const [model, pixelsFile, n, h, w] = process.argv.slice(2);
  const [count, height, width] = [Number(n), Number(h), Number(w)];
  const bytes = fs.readFileSync(pixelsFile);
  const all = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4);
  const per = 3 * height * width;
  if (all.length !== count * per) throw new Error(`${pixelsFile}: ${all.length} floats, expected ${count * per}`);
  const session = await ort.InferenceSession.create(model);
  const result = { inputs: session.inputNames, outputs: session.outputNames, top1: [], labels: [], scores: [] };
  for (let i = 0; i < count; i++) {
    const input = new ort.Tensor('float32', all.slice(i * per, (i + 1) * per), [1, 3, height, width]);
    const out = await session.run({ pixels: input });
    const scores = Array.from(out.Score.data);
    result.scores.push(scores);
    result.top1.push(scores.indexOf(Math.max(...scores)));
    result.labels.push(out.PredictedLabel.data[0]);
  }
  process.stdout.write(JSON.stringify(result));
}

main().catch(e => { console.error(e && e.stack || String(e)); process.exit(1); });
