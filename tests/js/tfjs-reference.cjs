#!/usr/bin/env node
// Reference outputs from TensorFlow.js itself (pure-JS CPU backend) for the C# TensorFlow.js importer tests.
//
//   node tfjs-reference.cjs nsfwjs <MobileNetV2|InceptionV3> <out.json> [--count N] [--seed S] [--layers a,b]
//       Loads the model from nsfwjs' bundled files with tfjs, feeds N deterministic pseudo-random RGB images in [0,1]
//       and writes the inputs, every model output and the outputs of the named layers.
//   node tfjs-reference.cjs tiny <outDir>
//       Builds small models with tfjs-layers (one per case below), gives them seeded weights, writes each as
//       <outDir>/<case>/model.json + weight shards (float32, or quantized uint8/uint16/float16 as the case says),
//       loads that file back with tfjs' own decoder and writes <outDir>/<case>/reference.json.
//   node tfjs-reference.cjs file <model.json> <inputs.json> <out.json> [--batch B]
//       Loads a layers model from disk (model.json + the weight shards it lists, decoded by tfjs' own io), runs it on
//       the "input" tensor of inputs.json (B images at a time, default 16) and writes every model output.
//
// Tensors in the JSON files: {"shape": [...], "data": "<base64 of little-endian float32>"}.
'use strict';

const fs = require('fs');
const path = require('path');
const tf = require('@tensorflow/tfjs');

// ------------------------------------------------------------------ helpers

function mulberry32(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function encode(shape, values) {
  const f = Float32Array.from(values);
  return { shape, data: Buffer.from(f.buffer, f.byteOffset, f.byteLength).toString('base64') };
}

async function encodeTensor(t) {
  return encode(t.shape.map((d) => (d == null ? -1 : d)), await t.data());
}

function parseFlags(args) {
  const flags = {};
  for (let i = 0; i < args.length; i++) {
    if (args[i].startsWith('--')) flags[args[i].slice(2)] = args[++i];
  }
  return flags;
}

/** Images that look a little like photos: smooth colour gradients and blobs plus noise, RGB in [0,1]. */
function makeImages(count, h, w, seed) {
  const rnd = mulberry32(seed);
  const data = new Float32Array(count * h * w * 3);
  for (let n = 0; n < count; n++) {
    const base = [rnd(), rnd(), rnd()];
    const grad = [rnd() - 0.5, rnd() - 0.5, rnd() - 0.5];
    const cy = rnd() * h, cx = rnd() * w, r = (0.15 + 0.3 * rnd()) * Math.min(h, w);
    const blob = [rnd(), rnd(), rnd()];
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const inBlob = (y - cy) ** 2 + (x - cx) ** 2 < r * r;
        for (let c = 0; c < 3; c++) {
          let v = inBlob ? blob[c] : base[c] + grad[c] * (y / h + x / w);
          v += (rnd() - 0.5) * 0.2;
          data[((n * h + y) * w + x) * 3 + c] = Math.min(1, Math.max(0, v));
        }
      }
    }
  }
  return tf.tensor4d(data, [count, h, w, 3]);
}

/** Runs the model and the named layers' outputs in one pass. */
async function runWithLayers(model, input, layerNames) {
  const extra = layerNames.map((n) => model.getLayer(n).output);
  const probe = tf.model({ inputs: model.inputs, outputs: [...model.outputs, ...extra] });
  let ys = probe.predict(input);
  if (!Array.isArray(ys)) ys = [ys];
  const outputs = {};
  const names = [...model.outputs.map((t) => t.sourceLayer.name), ...layerNames];
  for (let i = 0; i < ys.length; i++) outputs[names[i]] = await encodeTensor(ys[i]);
  return outputs;
}

// ------------------------------------------------------------------ nsfwjs

const nsfwjsFolders = { MobileNetV2: 'mobilenet_v2', MobileNetV2Mid: 'mobilenet_v2_mid', InceptionV3: 'inception_v3' };

/**
 * Loads one of nsfwjs' bundled models the way nsfwjs does (require() of its model.min.js and shard .min.js files,
 * weights decoded by tfjs' own io), minus nsfwjs.load()'s slow base64 path and warm-up prediction.
 */
async function loadNsfwjsModel(name) {
  const folder = nsfwjsFolders[name] ?? name;
  const dir = path.join(path.dirname(require.resolve('nsfwjs')), '..', 'models', folder);
  const modelJson = require(path.join(dir, 'model.min.js'));
  return loadFromManifest(modelJson, (p) => Buffer.from(require(path.join(dir, `${p}.min.js`)), 'base64'));
}

/** A layers model from its model.json object, each weight shard read by readShard(path), decoded by tfjs' own io. */
function loadFromManifest(modelJson, readShard) {
  const weightSpecs = [];
  const shards = [];
  for (const group of modelJson.weightsManifest) {
    weightSpecs.push(...group.weights);
    for (const p of group.paths) shards.push(readShard(p));
  }
  const data = Buffer.concat(shards);
  const weightData = data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength);
  return tf.loadLayersModel(tf.io.fromMemory({ modelTopology: modelJson.modelTopology, weightSpecs, weightData }));
}

async function runNsfwjs(args) {
  const [modelName, outFile, ...rest] = args;
  const flags = parseFlags(rest);
  const count = Number(flags.count ?? 2);
  const seed = Number(flags.seed ?? 1234);
  const layers = flags.layers ? flags.layers.split(',').filter((s) => s) : [];
  const model = await loadNsfwjsModel(modelName);
  const [, h, w] = model.inputs[0].shape;
  const input = makeImages(count, h, w, seed);
  const outputs = await runWithLayers(model, input, layers);
  const result = { model: modelName, tfjs: tf.version.tfjs, backend: tf.getBackend(), input: await encodeTensor(input), outputs };
  fs.writeFileSync(outFile, JSON.stringify(result));
}

// ------------------------------------------------------------------ tiny models

/** Seeded weights in [-0.5, 0.5); batch-norm variances and scales kept positive and away from zero. */
function seedWeights(model, seed) {
  const rnd = mulberry32(seed);
  const values = model.weights.map((w) => {
    const n = w.shape.reduce((a, b) => a * b, 1);
    const v = new Float32Array(n);
    const positive = /moving_variance|gamma/.test(w.originalName ?? w.name);
    for (let i = 0; i < n; i++) v[i] = positive ? 0.5 + rnd() : rnd() - 0.5;
    return tf.tensor(v, w.shape);
  });
  model.setWeights(values);
}

function float32ToFloat16Bits(value) {
  // Round-to-nearest-even conversion, as numpy's float16 does.
  const f = new Float32Array([value]);
  const x = new Uint32Array(f.buffer)[0];
  const sign = (x >>> 16) & 0x8000;
  let exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  exp = exp - 127 + 15;
  if (exp >= 0x1f) return sign | 0x7c00;
  if (exp <= 0) {
    if (exp < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - exp;
    let half = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    if (rem > mid || (rem === mid && (half & 1))) half++;
    return sign | half;
  }
  let half = sign | (exp << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (half & 1))) half++;
  return half;
}

/** Re-encodes float32 weights as the tfjs converter's quantized formats. */
function quantize(weightSpecs, weightData, dtype) {
  const src = new Float32Array(weightData.buffer, weightData.byteOffset, weightData.byteLength / 4);
  const specs = [];
  const chunks = [];
  let offset = 0;
  for (const spec of weightSpecs) {
    const n = spec.shape.reduce((a, b) => a * b, 1);
    const v = src.subarray(offset, offset + n);
    offset += n;
    if (dtype === 'float16') {
      const out = new Uint16Array(n);
      for (let i = 0; i < n; i++) out[i] = float32ToFloat16Bits(v[i]);
      chunks.push(Buffer.from(out.buffer));
      specs.push({ ...spec, quantization: { dtype: 'float16', original_dtype: 'float32' } });
    } else {
      const levels = dtype === 'uint8' ? 255 : 65535;
      let min = Infinity, max = -Infinity;
      for (const x of v) { min = Math.min(min, x); max = Math.max(max, x); }
      const scale = max > min ? (max - min) / levels : 1;
      const out = dtype === 'uint8' ? new Uint8Array(n) : new Uint16Array(n);
      for (let i = 0; i < n; i++) out[i] = Math.round((v[i] - min) / scale);
      chunks.push(Buffer.from(out.buffer));
      // tfjs-converter adds original_dtype; tfjs-core needs only dtype, min and scale. Write both styles.
      specs.push({ ...spec, quantization: dtype === 'uint8' ? { dtype, min, scale } : { dtype, min, scale, original_dtype: 'float32' } });
    }
  }
  return { specs, data: Buffer.concat(chunks) };
}

/** Keras 3 writes inbound nodes as {"args": [keras tensors], "kwargs": {}} dicts. */
function toKeras3Inbound(topology) {
  const t = JSON.parse(JSON.stringify(topology));
  const tensor = (ref) => ({ class_name: '__keras_tensor__', config: { shape: null, dtype: 'float32', keras_history: [ref[0], ref[1], ref[2]] } });
  for (const layer of t.config.layers) {
    layer.inbound_nodes = layer.inbound_nodes.map((node) => ({
      args: node.length === 1 ? [tensor(node[0])] : [node.map(tensor)],
      kwargs: {},
    }));
  }
  // Keras 3 calls the class Functional and writes a single input/output as one flat reference.
  t.class_name = 'Functional';
  for (const key of ['input_layers', 'output_layers']) if (t.config[key].length === 1) t.config[key] = t.config[key][0];
  return { keras_version: '3.0.0', backend: 'tensorflow', model_config: t };
}

const L = tf.layers;

const cases = {
  // 'same' padding with stride 2 on odd and even sizes (TF pads the extra pixel bottom/right), even kernels,
  // dilation, same-padded pooling (averages exclude padding), then Flatten's NHWC order into Dense.
  same_padding: () => tf.sequential({ layers: [
    L.conv2d({ inputShape: [11, 10, 3], filters: 4, kernelSize: 3, strides: 2, padding: 'same', activation: 'relu', name: 'conv_s2' }),
    L.conv2d({ filters: 5, kernelSize: [4, 2], strides: [2, 1], padding: 'same', name: 'conv_even_kernel' }),
    L.conv2d({ filters: 3, kernelSize: 3, dilationRate: 2, padding: 'same', useBias: false, activation: 'tanh', name: 'conv_dilated' }),
    L.maxPooling2d({ poolSize: 3, strides: 2, padding: 'same', name: 'maxpool_same' }),
    L.averagePooling2d({ poolSize: 2, strides: 1, padding: 'same', name: 'avgpool_same' }),
    L.flatten({ name: 'flatten' }),
    L.dense({ units: 6, activation: 'softmax', name: 'probs' }),
  ] }),
  // Depthwise with a channel multiplier and stride 2, batch norm, ReLU with max_value, global pooling.
  depthwise: () => tf.sequential({ layers: [
    L.depthwiseConv2d({ inputShape: [9, 9, 3], kernelSize: 3, depthMultiplier: 2, strides: 2, padding: 'same', useBias: true, name: 'dw_m2' }),
    L.batchNormalization({ name: 'bn' }),
    L.reLU({ maxValue: 6, name: 'relu6' }),
    L.depthwiseConv2d({ kernelSize: 2, depthMultiplier: 1, padding: 'valid', useBias: false, activation: 'relu6', name: 'dw_valid' }),
    L.globalAveragePooling2d({ name: 'gap' }),
    L.dense({ units: 4, name: 'logits' }),
  ] }),
  // Separable conv (depthwise multiplier, then pointwise with bias), asymmetric zero padding, Dense on a 3-D tensor.
  separable: () => tf.sequential({ layers: [
    L.zeroPadding2d({ inputShape: [7, 8, 3], padding: [[1, 2], [0, 1]], name: 'pad' }),
    L.separableConv2d({ filters: 5, kernelSize: 3, depthMultiplier: 2, padding: 'same', strides: 2, activation: 'swish', name: 'sep_s2' }),
    L.separableConv2d({ filters: 4, kernelSize: [2, 3], padding: 'valid', useBias: false, name: 'sep_valid' }),
    L.reshape({ targetShape: [4, 12], name: 'to_rows' }),
    L.dense({ units: 3, activation: 'sigmoid', name: 'row_scores' }),
    L.flatten({ name: 'scores' }),
  ] }),
  // A functional graph: branches, Add, Concatenate, element-wise merges, activations, softmax over channels
  // on a 4-D map, a reshape back to 4-D feeding a 1×1 conv (mobilenet_v1's head), two outputs.
  functional: () => {
    const x = tf.input({ shape: [8, 8, 3], name: 'image' });
    const a = L.conv2d({ filters: 4, kernelSize: 3, padding: 'same', activation: 'elu', name: 'branch_a' }).apply(x);
    const b = L.conv2d({ filters: 4, kernelSize: 1, activation: 'hardSigmoid', name: 'branch_b' }).apply(x);
    const sum = L.add({ name: 'sum' }).apply([a, b]);
    const prod = L.multiply({ name: 'prod' }).apply([a, b]);
    const cat = L.concatenate({ axis: -1, name: 'cat' }).apply([sum, prod, x]);
    const act = L.activation({ activation: 'sigmoid', name: 'act_sigmoid' }).apply(cat);
    const sm = L.activation({ activation: 'softmax', name: 'channel_softmax' }).apply(act);
    const pooled = L.maxPooling2d({ poolSize: 2, name: 'pool' }).apply(sm);
    const gmp = L.globalMaxPooling2d({ name: 'gmp' }).apply(pooled);
    const gap = L.globalAveragePooling2d({ name: 'gap' }).apply(act);
    const avg = L.average({ name: 'avg' }).apply([gmp, gap]);
    const r = L.reshape({ targetShape: [1, 1, 11], name: 'reshape_1' }).apply(avg);
    const d = L.dropout({ rate: 0.3, name: 'dropout' }).apply(r);
    const preds = L.conv2d({ filters: 5, kernelSize: 1, name: 'conv_preds' }).apply(d);
    const out = L.reshape({ targetShape: [5], name: 'reshape_2' }).apply(preds);
    const dense = L.dense({ units: 3, activation: 'tanh', name: 'dense_tanh' }).apply(avg);
    return tf.model({ inputs: x, outputs: [out, dense], name: 'functional' });
  },
  // A Sequential nested inside a functional model, and a 4-D graph output.
  nested: () => {
    const x = tf.input({ shape: [6, 6, 3], name: 'in' });
    const inner = tf.sequential({ name: 'inner', layers: [
      L.conv2d({ inputShape: [6, 6, 3], filters: 4, kernelSize: 3, padding: 'same', name: 'inner_conv' }),
      L.batchNormalization({ name: 'inner_bn' }),
      L.activation({ activation: 'relu', name: 'inner_relu' }),
    ] });
    const y = inner.apply(x);
    const z = L.conv2d({ filters: 2, kernelSize: 2, strides: 2, name: 'head_conv' }).apply(y);
    return tf.model({ inputs: x, outputs: z, name: 'nested' });
  },
  // The other supported layers and activations: Rescaling, UpSampling2D, Cropping2D, LeakyReLU, ELU, Maximum,
  // Minimum, Concatenate along height, a Softmax layer, selu/gelu/mish/softplus/softsign.
  extras: () => {
    const x = tf.input({ shape: [6, 7, 3], name: 'x' });
    const r = L.rescaling({ scale: 2, offset: -0.5, name: 'rescale' }).apply(x);
    const up = L.upSampling2d({ size: [2, 3], name: 'up' }).apply(r);
    const crop = L.cropping2D({ cropping: [[1, 2], [3, 1]], name: 'crop' }).apply(up);
    const c = L.conv2d({ filters: 4, kernelSize: 3, strides: 2, padding: 'same', activation: 'selu', name: 'conv_selu' }).apply(crop);
    const lr = L.leakyReLU({ alpha: 0.2, name: 'leaky' }).apply(c);
    const el = L.elu({ name: 'elu_layer' }).apply(c);
    const mx = L.maximum({ name: 'max' }).apply([lr, el]);
    const mn = L.minimum({ name: 'min' }).apply([lr, el]);
    const a1 = L.activation({ activation: 'gelu', name: 'act_gelu' }).apply(mx);
    const a2 = L.activation({ activation: 'mish', name: 'act_mish' }).apply(mn);
    const a3 = L.activation({ activation: 'softplus', name: 'act_softplus' }).apply(a1);
    const a4 = L.activation({ activation: 'softsign', name: 'act_softsign' }).apply(a2);
    const cat = L.concatenate({ axis: 1, name: 'cat_h' }).apply([a3, a4]);
    const sm = L.softmax({ axis: -1, name: 'softmax_c' }).apply(cat);
    const g = L.globalAveragePooling2d({ name: 'gap' }).apply(sm);
    const out = L.dense({ units: 3, activation: 'relu', name: 'out' }).apply(g);
    return tf.model({ inputs: x, outputs: out, name: 'extras' });
  },
  // tfjs runs this, the importer must refuse it by name.
  unsupported: () => tf.sequential({ layers: [
    L.conv2d({ inputShape: [5, 5, 2], filters: 2, kernelSize: 3, name: 'conv' }),
    L.conv2dTranspose({ filters: 2, kernelSize: 3, name: 'deconv' }),
  ] }),
};

// Which cases are written in which weight format, and in which topology form.
const variants = [
  { name: 'same_padding', build: 'same_padding', shards: 1 },
  { name: 'depthwise', build: 'depthwise', shards: 1 },
  { name: 'separable', build: 'separable', shards: 2 },
  { name: 'functional', build: 'functional', shards: 1 },
  { name: 'nested', build: 'nested', shards: 1 },
  { name: 'extras', build: 'extras', shards: 1 },
  { name: 'unsupported', build: 'unsupported', shards: 1 },
  { name: 'same_padding_uint8', build: 'same_padding', shards: 1, quantize: 'uint8' },
  { name: 'depthwise_float16', build: 'depthwise', shards: 1, quantize: 'float16' },
  { name: 'separable_uint16', build: 'separable', shards: 1, quantize: 'uint16' },
  { name: 'functional_keras3', build: 'functional', shards: 1, keras3: true },
];

async function saveArtifacts(model) {
  let saved;
  await model.save({ save: async (a) => { saved = a; return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } }; } });
  // tfjs-layers 4.x leaves depth_multiplier out of SeparableConv2D's config (Keras writes it); put it back.
  for (const entry of saved.modelTopology.config.layers) {
    if (entry.class_name === 'SeparableConv2D') entry.config.depth_multiplier = model.getLayer(entry.config.name).depthMultiplier;
  }
  return saved;
}

async function runTiny(args) {
  const outDir = args[0];
  fs.mkdirSync(outDir, { recursive: true });
  for (const [index, v] of variants.entries()) {
    const model = cases[v.build]();
    seedWeights(model, 1000 + Object.keys(cases).indexOf(v.build));
    const saved = await saveArtifacts(model);
    let specs = saved.weightSpecs;
    let data = Buffer.from(saved.weightData);
    if (v.quantize) ({ specs, data } = quantize(specs, data, v.quantize));

    const dir = path.join(outDir, v.name);
    fs.mkdirSync(dir, { recursive: true });
    const paths = [];
    const per = Math.ceil(data.length / v.shards);
    for (let s = 0; s < v.shards; s++) {
      const p = `group1-shard${s + 1}of${v.shards}.bin`;
      fs.writeFileSync(path.join(dir, p), data.subarray(s * per, Math.min(data.length, (s + 1) * per)));
      paths.push(p);
    }
    const modelTopology = v.keras3 ? toKeras3Inbound(saved.modelTopology) : saved.modelTopology;
    const modelJson = { format: 'layers-model', generatedBy: `TensorFlow.js tfjs-layers v${tf.version.tfjs}`, convertedBy: null,
      modelTopology, weightsManifest: [{ paths, weights: specs }] };
    fs.writeFileSync(path.join(dir, 'model.json'), JSON.stringify(modelJson));

    // Reference: the list-form model read back from the files just written, decoded by tfjs itself.
    const readBack = {
      load: async () => ({
        modelTopology: saved.modelTopology,
        weightSpecs: specs,
        weightData: new Uint8Array(Buffer.concat(paths.map((p) => fs.readFileSync(path.join(dir, p))))).buffer,
      }),
    };
    const loaded = await tf.loadLayersModel(readBack);
    const shape = loaded.inputs[0].shape.slice(1);
    const rnd = mulberry32(77 + index);
    const n = 2 * shape.reduce((a, b) => a * b, 1);
    const input = tf.tensor(Float32Array.from({ length: n }, () => rnd() * 2 - 1), [2, ...shape]);
    const outputLayerNames = loaded.outputs.map((t) => t.sourceLayer.name);
    const layerNames = loaded.layers
      .filter((l) => !(l instanceof tf.LayersModel) && l.getClassName() !== 'InputLayer' && !outputLayerNames.includes(l.name))
      .map((l) => l.name);
    const outputs = await runWithLayers(loaded, input, layerNames);
    fs.writeFileSync(path.join(dir, 'reference.json'), JSON.stringify({ case: v.name, input: await encodeTensor(input), outputs }));
  }
}

// ------------------------------------------------------------------ a model on disk, given inputs

/** Reads a tensor written by encode(): {shape, data: base64 float32}. */
function decode(t) {
  const bytes = Buffer.from(t.data, 'base64');
  const values = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
  return tf.tensor(Float32Array.from(values), t.shape);
}

async function runFile(args) {
  const [modelFile, inputsFile, outFile, ...rest] = args;
  const flags = parseFlags(rest);
  const batch = Number(flags.batch ?? 16);
  const dir = path.dirname(modelFile);
  const modelJson = JSON.parse(fs.readFileSync(modelFile, 'utf8'));
  const model = await loadFromManifest(modelJson, (p) => fs.readFileSync(path.join(dir, p)));
  const input = decode(JSON.parse(fs.readFileSync(inputsFile, 'utf8')).input);
  const names = model.outputs.map((t) => t.sourceLayer.name);
  const parts = names.map(() => []);
  for (let start = 0; start < input.shape[0]; start += batch) {
    const size = Math.min(batch, input.shape[0] - start);
    const slice = input.slice(start, size);
    let ys = model.predict(slice);
    if (!Array.isArray(ys)) ys = [ys];
    for (let i = 0; i < ys.length; i++) { parts[i].push(ys[i].clone()); ys[i].dispose(); }
    slice.dispose();
  }
  const outputs = {};
  for (let i = 0; i < names.length; i++) outputs[names[i]] = await encodeTensor(tf.concat(parts[i], 0));
  fs.writeFileSync(outFile, JSON.stringify({ model: modelFile, tfjs: tf.version.tfjs, backend: tf.getBackend(), outputs }));
}

// ------------------------------------------------------------------ main

(async () => {
  await tf.setBackend('cpu');
  const [command, ...args] = process.argv.slice(2);
  if (command === 'nsfwjs') await runNsfwjs(args);
  else if (command === 'tiny') await runTiny(args);
  else if (command === 'file') await runFile(args);
  else {
    console.error('usage: tfjs-reference.cjs nsfwjs <model> <out.json> [--count N] [--seed S] [--layers a,b] | tiny <outDir> | file <model.json> <inputs.json> <out.json> [--batch B]');
    process.exit(2);
  }
})().catch((e) => {
  console.error(e && e.stack ? e.stack : e);
  process.exit(1);
});
