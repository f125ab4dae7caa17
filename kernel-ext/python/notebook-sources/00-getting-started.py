import nbformat, sys
md = nbformat.v4.new_markdown_cell
def code(src, tags=None):
    c = nbformat.v4.new_code_cell(src)
    if tags: c.metadata['tags'] = tags
    return c

cells = [
md("""# 00 · Getting started with ecotrain

**What this notebook shows.** The plumbing every other notebook stands on: the compute backend the session uses,
real CIFAR-10 read from its official binary distribution, a seeded data pipeline, a small CNN trained for a few
hundred steps with a live progress bar, the loss curve as an interactive plotly figure, per-class accuracy as a
danfo table, and a findings table that puts claims beside measured values.

**Scales** (set by the `scale` parameter below; the headless runner injects it):

| scale | train images | test images | steps | batch | purpose |
| --- | --- | --- | --- | --- | --- |
| `smoke` | 1,000 | 500 | 40 | 32 | CI: plumbing and accounting only, well under a minute |
| `lite` | 20,000 | 2,000 | 1,500 | 64 | this 2-core machine, about 2 minutes, real data |
| `paper` | 50,000 | 10,000 | 4,000 | 128 | the full training set; for a bigger machine |

The committed outputs are from a `lite` run (header of the report: `out/lite/REPORT.md`).

**Display API** (`ecotrain-kernel`):
- `await figure(fig, { name })`: a plotly figure (`{ data, layout }`), interactive in JupyterLab; headless runs also save
  PNG and SVG to `out/<scale>/figures/` and embed the PNG.
- `table(dfOrRows, { name, caption })`: a danfo `DataFrame` (or an array of row objects) as an HTML table; headless runs save a CSV to `out/<scale>/tables/`.
- `progress({ total, label })`: `tick(n, info)` / `done(info)`; one bar updated in place in JupyterLab, a line per 10% in a headless log.
- `findings(claims, { seeds, setting })`: the claims table. `exact` claims (accounting that follows from the method) are asserted and
  throw when they fail; `measured` claims (accuracies) are reported as held or not, never asserted.

**Data.** Datasets are found through `ECOTRAIN_DATA_DIR` (cache, default `data/cache`), then `ECOTRAIN_DATA_MIRROR`
(a folder laid out as the official downloads), then the official URL with SHA-256 verification. If none works this
notebook falls back to the synthetic CIFAR-shaped set and says so loudly."""),
code("""import type { Scale } from "ecotrain";
let scale: Scale = "lite";
let seed: number = 0;""", ["parameters"]),
code("""import * as dfd from "danfojs-node";
import {
  tf, initBackend, settingsFromEnv, loadImageDataset, balancedSubset, channelStats, batches, classCounts, createRng,
  type ImageDataset,
} from "ecotrain";
import { figure, table, progress, findings, type Claim } from "ecotrain-kernel";

const backend = await initBackend();
// (tslab does not resolve shorthand properties of cell variables: write `scale: scale`)
const settings = { ...settingsFromEnv(), scale: scale, seed: seed };
const config = {
  smoke: { train: 1000, test: 500, steps: 40, batch: 32, lr: 0.05 },
  lite: { train: 20000, test: 2000, steps: 1500, batch: 64, lr: 0.05 },
  paper: { train: 50000, test: 10000, steps: 4000, batch: 128, lr: 0.05 },
}[scale];
console.log(`backend ${backend.name}, scale ${scale}, seed ${seed}`, config);"""),
md("## Data: CIFAR-10 from the official binary format"),
code("""const rng = createRng(seed);
const fullTrain = await loadImageDataset("cifar10", "train", settings, { fallbackToSynthetic: true });
const fullTest = await loadImageDataset("cifar10", "test", settings, { fallbackToSynthetic: true });
const train = balancedSubset(fullTrain, config.train, rng.fork("train-subset"));
const test = balancedSubset(fullTest, config.test, rng.fork("test-subset"));
const stats = channelStats(train);
console.log(`${fullTrain.name}: ${fullTrain.count} images (${fullTrain.origin}); using ${train.count} train / ${test.count} test`);
console.log("per-channel mean", stats.mean.map((v) => v.toFixed(3)), "std", stats.std.map((v) => v.toFixed(3)));"""),
code("""// One sample image per class, as a 2 x 5 grid.
function grid(ds: ImageDataset, perRow: number): number[][][] {
  const firsts = ds.classNames.map((_, c) => ds.labels.indexOf(c));
  const rows = Math.ceil(firsts.length / perRow);
  const z: number[][][] = [];
  for (let gy = 0; gy < rows * 34; gy++) {
    const row: number[][] = [];
    for (let gx = 0; gx < perRow * 34; gx++) {
      const k = Math.floor(gy / 34) * perRow + Math.floor(gx / 34);
      const y = (gy % 34) - 1, x = (gx % 34) - 1, i = firsts[k];
      if (i === undefined || i < 0 || y < 0 || y >= 32 || x < 0 || x >= 32) { row.push([255, 255, 255]); continue; }
      const o = ((i * 32 + y) * 32 + x) * 3;
      row.push([ds.images[o], ds.images[o + 1], ds.images[o + 2]]);
    }
    z.push(row);
  }
  return z;
}
await figure({
  data: [{ type: "image", z: grid(fullTrain, 5) }],
  layout: {
    title: { text: `${fullTrain.name} (${fullTrain.origin}): one image per class` },
    xaxis: { visible: false }, yaxis: { visible: false }, margin: { t: 40, l: 10, r: 10, b: 10 },
  },
}, { name: "samples", width: 700, height: 330 });"""),
md("""## A small CNN, trained with SGD + momentum

Three 3x3 convolutions (16, 32, 64 filters) with ReLU and 2x2 max-pooling, global average pooling and a dense layer;
He-normal initialisation from the seed; cross-entropy loss; SGD with momentum 0.9; CIFAR augmentation (pad 4, random crop, flip).
Every step runs inside `tf.tidy` (through `optimizer.minimize`), so the number of live tensors stays flat."""),
code("""function he(shape: number[], fanIn: number, s: number) {
  return tf.variable(tf.randomNormal(shape, 0, Math.sqrt(2 / fanIn), "float32", s));
}
const params = {
  c1: he([3, 3, 3, 16], 27, seed + 1), b1: tf.variable(tf.zeros([16])),
  c2: he([3, 3, 16, 32], 144, seed + 2), b2: tf.variable(tf.zeros([32])),
  c3: he([3, 3, 32, 64], 288, seed + 3), b3: tf.variable(tf.zeros([64])),
  w: he([64, 10], 64, seed + 4), b: tf.variable(tf.zeros([10])),
};
function convRelu(h: tf.Tensor4D, w: tf.Variable, b: tf.Variable): tf.Tensor4D {
  return tf.relu(tf.add(tf.conv2d(h, w as tf.Tensor4D, 1, "same"), b)) as tf.Tensor4D;
}
function forward(x: tf.Tensor4D): tf.Tensor2D {
  let h = tf.maxPool(convRelu(x, params.c1, params.b1), 2, 2, "valid");
  h = tf.maxPool(convRelu(h, params.c2, params.b2), 2, 2, "valid");
  h = convRelu(h, params.c3, params.b3);
  return tf.add(tf.matMul(tf.mean(h, [1, 2]) as tf.Tensor2D, params.w as tf.Tensor2D), params.b) as tf.Tensor2D;
}
const nParams = Object.values(params).reduce((a, v) => a + v.size, 0);
console.log(`parameters: ${nParams}`);"""),
code("""const optimizer = tf.train.momentum(config.lr, 0.9);
const losses: number[] = [];
const tensorsPerStep: number[] = [];
const dataRng = rng.fork("batches");
const bar = progress({ total: config.steps, label: "training" });
const t0 = Date.now();
let step = 0, imagesSeen = 0;
while (step < config.steps) {
  for (const batch of batches(train, { batchSize: config.batch, rng: dataRng, augment: true, normalize: stats, dropLast: true })) {
    if (step >= config.steps) { tf.dispose([batch.x, batch.y]); break; }
    const loss = optimizer.minimize(() => {
      const logits = forward(batch.x);
      return tf.losses.softmaxCrossEntropy(tf.oneHot(batch.y, 10), logits) as tf.Scalar;
    }, true) as tf.Scalar;
    imagesSeen += batch.x.shape[0];
    losses.push((await loss.data())[0]);
    tf.dispose([loss, batch.x, batch.y]);
    tensorsPerStep.push(tf.memory().numTensors);
    step++;
    const recent = losses.slice(-20);
    bar.tick(1, { loss: recent.reduce((a, b) => a + b, 0) / recent.length });
  }
}
const trainSeconds = (Date.now() - t0) / 1000;
bar.done({ "img/s": Math.round(imagesSeen / trainSeconds) });"""),
code("""const smooth = losses.map((_, i) => { const w = losses.slice(Math.max(0, i - 19), i + 1); return w.reduce((a, b) => a + b, 0) / w.length; });
await figure({
  data: [
    { type: "scatter", mode: "lines", name: "loss per step", y: losses, line: { width: 1, color: "rgba(31,119,180,0.35)" } },
    { type: "scatter", mode: "lines", name: "moving average (20 steps)", y: smooth, line: { width: 2, color: "rgb(31,119,180)" } },
  ],
  layout: { title: { text: `Training loss, ${train.name}, batch ${config.batch}` }, xaxis: { title: { text: "step" } }, yaxis: { title: { text: "cross-entropy" } } },
}, { name: "loss-curve" });"""),
md("## Test accuracy per class"),
code("""const predicted: number[] = [], truth: number[] = [];
for (const batch of batches(test, { batchSize: 250, rng: dataRng, shuffle: false, normalize: stats })) {
  const pred = tf.tidy(() => tf.argMax(forward(batch.x), 1));
  predicted.push(...(await pred.data()));
  truth.push(...(await batch.y.data()));
  tf.dispose([pred, batch.x, batch.y]);
}
const perClass = test.classNames.map((name, c) => {
  const idx = truth.map((t, i) => (t === c ? i : -1)).filter((i) => i >= 0);
  const correct = idx.filter((i) => predicted[i] === c).length;
  return { class: name, images: idx.length, correct, accuracy: correct / idx.length };
});
const accuracy = predicted.filter((p, i) => p === truth[i]).length / truth.length;
const df = new dfd.DataFrame(perClass);
table(df, { name: "per-class-accuracy", caption: `Test accuracy per class (${test.count} images): overall ${(100 * accuracy).toFixed(1)}%` });"""),
md("""## Findings

The exact claims check the plumbing (balanced subsets; no tensor leak over the training loop); the measured claims
say whether the network learned at this scale. Accuracy at `smoke` scale (40 steps) is expected to be near chance and is only reported."""),
code("""const firstLoss = losses.slice(0, 10).reduce((a, b) => a + b, 0) / Math.min(10, losses.length);
const lastLoss = losses.slice(-10).reduce((a, b) => a + b, 0) / Math.min(10, losses.length);
const trainCounts = classCounts(train);
const leak = tensorsPerStep[tensorsPerStep.length - 1] - tensorsPerStep[0];
const claims: Claim[] = [
  { id: "balanced", claim: "balanced subset: every class has the same number of training images", source: "data pipeline",
    paper: `${config.train / 10} per class`, measured: `${Math.min(...trainCounts)}..${Math.max(...trainCounts)}`, kind: "exact",
    holds: Math.min(...trainCounts) === config.train / 10 && Math.max(...trainCounts) === config.train / 10 },
  { id: "no-leak", claim: "live tensors flat over the training loop", source: "engineering standard",
    paper: "0 tensors gained", measured: `${leak} gained over ${tensorsPerStep.length} steps (${tensorsPerStep[0]} live)`, kind: "exact", holds: leak === 0 },
  { id: "images-seen", claim: "images processed = steps x batch", source: "trainer accounting",
    paper: `${config.steps * config.batch}`, measured: imagesSeen, kind: "exact", holds: imagesSeen === config.steps * config.batch },
  { id: "loss-falls", claim: "training loss falls (mean of last 10 steps below first 10)", source: "sanity",
    paper: "falls", measured: `${firstLoss.toFixed(3)} -> ${lastLoss.toFixed(3)}`, kind: "measured", holds: lastLoss < firstLoss },
  { id: "above-chance", claim: "test accuracy above chance (10%)", source: "sanity", paper: "> 10%",
    measured: `${(100 * accuracy).toFixed(1)}%`, kind: "measured", holds: accuracy > 0.1, checkedAt: ["lite", "paper"] },
];
findings(claims, { seeds: 1, setting: `${fullTrain.name} (${fullTrain.origin}), ${train.count} train / ${test.count} test images, 3-conv CNN, ${config.steps} steps, backend ${backend.name}, ${Math.round(imagesSeen / trainSeconds)} img/s` });"""),
]
nb = nbformat.v4.new_notebook()
nb.cells = cells
nb.metadata['kernelspec'] = {'name': 'ecotrain', 'display_name': 'TypeScript (ecotrain)', 'language': 'typescript'}
nb.metadata['language_info'] = {'name': 'typescript', 'file_extension': '.ts', 'mimetype': 'text/typescript'}
nbformat.write(nb, sys.argv[1])
