import nbformat, sys
md = nbformat.v4.new_markdown_cell
def code(src, tags=None):
    c = nbformat.v4.new_code_cell(src)
    if tags: c.metadata['tags'] = tags
    return c
cells = [
md("""# 01 · The cost and energy model

**What this notebook shows.** The accounting every technique notebook uses to compare training runs:

1. per-operation energies of the default profile (Horowitz, ISSCC 2014, 45 nm) and the saving of 8-bit
   fixed point over 32-bit float for multiply, add and data movement, which E²-Train quotes (Sec. 3.3): **95%, 97%, 75%**;
2. the MAC breakdown of CIFAR ResNets by stage and by the three convolutions of a training step
   (forward, input gradient, weight gradient);
3. FracTrain's **computational cost** (effective MACs = MACs × Bit_a/32 × Bit_b/32, Sec. 4.1) of a standard CIFAR
   training run at FP32, FW-8/BW-8 and FW-8/BW-16, beside the numbers FracTrain's Table 3 reports for SBM;
4. the energy split between computation and data movement, and the latency on a BitFusion-style accelerator;
5. a check that the **energy ledger** attached to a real training step (real CIFAR-10 batch, native backend) charges
   exactly what the analytic model predicts.

Everything here is accounting, so the claims are exact and asserted at every scale; `smoke` and `lite` differ only in
the batch used for the ledger check. Parameters: the energy `profile`, the `depths` of the ResNets, the `precisions`,
the on-chip `bufferKB` of the data-movement split, and the run length (`iterations` x `batchSize`)."""),
code("""import type { Scale } from "ecotrain";
let scale: Scale = "lite";
let seed: number = 0;
let profile: string = "horowitz45nm";
let depths: number[] = [20, 38, 56, 74, 110];
let precisions: string[] = ["FP32", "FW-8/BW-16", "FW-8/BW-8", "FW-6/BW-8", "FW-4/BW-6"];
let iterations: number = 64000;
let batchSize: number = 128;
let bufferKB: number = 1024;""", ["parameters"]),
code("""import * as dfd from "danfojs-node";
import {
  initBackend, settingsFromEnv, energyProfile, multiplyEnergy, addEnergy, dramEnergy, sramEnergy, macEnergy, saving,
  cifarResNet, forwardMacs, layerStepMacs, trainingCost, parsePrecision, formatPrecision, FP32, EnergyLedger,
  trafficEnergy, bitFusionStep, loadImageDataset, balancedSubset, channelStats, createRng, train, type Model, type LayerPrecision,
} from "ecotrain";
import { figure, table, findings, saveResults, type Claim } from "ecotrain-kernel";

const backend = await initBackend();
const settings = { ...settingsFromEnv(), scale: scale, seed: seed };
const p = energyProfile(profile);
const parsed = precisions.map((s) => (s.toUpperCase() === "FP32" ? FP32 : parsePrecision(s)));
const images = iterations * batchSize;
console.log(`profile ${p.name} (${p.source}); backend ${backend.name}; a standard run = ${iterations} iterations x batch ${batchSize} = ${images.toLocaleString()} images`);"""),
md("## 1. Energy per operation and the 8-bit saving"),
code("""const opRows = [
  { operation: "add", format: "INT8", pJ: p.add.int8 }, { operation: "add", format: "INT16", pJ: p.add.int16 },
  { operation: "add", format: "INT32", pJ: p.add.int32 }, { operation: "add", format: "FP16", pJ: p.add.fp16 },
  { operation: "add", format: "FP32", pJ: p.add.fp32 }, { operation: "multiply", format: "INT8", pJ: p.multiply.int8 },
  { operation: "multiply", format: "INT32", pJ: p.multiply.int32 }, { operation: "multiply", format: "FP16", pJ: p.multiply.fp16 },
  { operation: "multiply", format: "FP32", pJ: p.multiply.fp32 },
  ...p.sram64.map((l) => ({ operation: "SRAM read, 64 bit", format: `${l.bytes / 1024} KB buffer`, pJ: l.pj })),
  { operation: "DRAM access, 64 bit", format: "low", pJ: p.dram64.low }, { operation: "DRAM access, 64 bit", format: "high", pJ: p.dram64.high },
];
table(new dfd.DataFrame(opRows), { name: "energy-per-operation", caption: `Energy per operation, ${p.name}` });
const s8 = {
  multiply: saving(multiplyEnergy(p, 8, 8), multiplyEnergy(p, 32, 32)),
  add: saving(addEnergy(p, 8), addEnergy(p, 32, true)),
  movement: saving(dramEnergy(p, 8), dramEnergy(p, 32)),
};
console.log(`8-bit fixed point vs 32-bit float: multiply -${(100 * s8.multiply).toFixed(1)}%, add -${(100 * s8.add).toFixed(1)}%, data movement -${(100 * s8.movement).toFixed(1)}%`);"""),
md("## 2. Where the MACs of a CIFAR ResNet are"),
code("""const models = new Map<number, Model>(depths.map((d) => [d, cifarResNet({ depth: d, seed: seed })]));
const stageRows: Array<Record<string, string | number>> = [];
for (const [d, m] of models) {
  const byStage = [0, 0, 0, 0, 0];
  for (const l of m.layers) {
    const stage = l.name.startsWith("stage") ? Number(l.name[5]) : l.name === "fc" ? 4 : 0;
    byStage[stage] += l.macs;
  }
  const steps = m.layers.map(layerStepMacs);
  stageRows.push({
    model: m.name, "params (M)": m.params.count() / 1e6, "forward MMACs": forwardMacs(m) / 1e6,
    stem: byStage[0] / 1e6, stage1: byStage[1] / 1e6, stage2: byStage[2] / 1e6, stage3: byStage[3] / 1e6, fc: byStage[4] / 1e6,
    "input-grad MMACs": steps.reduce((a, s) => a + s.inputGrad, 0) / 1e6, "weight-grad MMACs": steps.reduce((a, s) => a + s.weightGrad, 0) / 1e6,
  });
}
table(new dfd.DataFrame(stageRows), { name: "resnet-macs", caption: "Per-image MACs (millions) of CIFAR ResNets, by stage and by training convolution", digits: 4 });
await figure({
  data: ["stem", "stage1", "stage2", "stage3", "fc"].map((k) => ({ type: "bar", name: k, x: stageRows.map((r) => r.model), y: stageRows.map((r) => r[k]) })),
  layout: { barmode: "stack", title: { text: "Forward MACs per 32x32 image by stage" }, yaxis: { title: { text: "million MACs" } } },
}, { name: "macs-by-stage" });"""),
md("""## 3. Computational cost of a standard CIFAR training run

One training step costs three products per layer (the first layer needs no input gradient). FracTrain's Table 3 reports
the cost of SBM at FW-8/BW-8 for ResNet-38 (1.18E+14) and ResNet-74 (2.62E+14) on CIFAR-10; its exact counting
conventions (number of images, first layer, batch norm) are not given, so the comparison below is reported, not asserted."""),
code("""const costRows: Array<Record<string, string | number>> = [];
const costs = new Map<string, number>();
for (const [d, m] of models) {
  for (const pr of parsed) {
    const c = trainingCost(m, { iterations: iterations, batchSize: batchSize }, pr);
    costs.set(`${d}/${formatPrecision(pr)}`, c.effective.total);
    costRows.push({ model: m.name, precision: formatPrecision(pr), "raw MACs": c.macs.total, "effective MACs": c.effective.total, "vs FP32": c.effective.total / c.macs.total });
  }
}
table(new dfd.DataFrame(costRows), { name: "training-cost", caption: `Computational cost of ${images.toLocaleString()} training images`, digits: 4 });
await figure({
  data: parsed.map((pr) => ({ type: "bar", name: formatPrecision(pr), x: [...models.values()].map((m) => m.name), y: [...models.keys()].map((d) => costs.get(`${d}/${formatPrecision(pr)}`)) })),
  layout: { barmode: "group", title: { text: "Computational cost of a standard CIFAR run (effective MACs)" }, yaxis: { type: "log", title: { text: "effective MACs" } } },
}, { name: "training-cost" });"""),
md("## 4. Compute versus data movement, and accelerator latency, for one training step"),
code("""const r20 = cifarResNet({ depth: 20, seed: seed });
const splitRows: Array<Record<string, string | number>> = [];
for (const pr of parsed) {
  let compute = 0, sram = 0, dram = 0, latency = 0;
  for (const l of r20.layers) {
    const m = layerStepMacs(l);
    compute += (m.forward * macEnergy(p, pr.weight, pr.activation) + m.inputGrad * macEnergy(p, pr.gradError, pr.weight) + m.weightGrad * macEnergy(p, pr.gradWeight, pr.activationWeightGrad)) * batchSize;
    const t = trafficEnergy(l, batchSize, pr, p, { bufferBytes: bufferKB * 1024 });
    sram += t.sram; dram += t.dram;
    latency += bitFusionStep(l, batchSize, pr).seconds;
  }
  splitRows.push({ precision: formatPrecision(pr), "compute (mJ)": compute * 1e-9, "SRAM (mJ)": sram * 1e-9, "DRAM (mJ)": dram * 1e-9, "movement share": (sram + dram) / (compute + sram + dram), "latency (ms)": latency * 1e3 });
}
table(new dfd.DataFrame(splitRows), { name: "energy-split", caption: `ResNet-20, one training step of batch ${batchSize}, buffer ${bufferKB} KB` });
await figure({
  data: ["compute (mJ)", "SRAM (mJ)", "DRAM (mJ)"].map((k) => ({ type: "bar", name: k, x: splitRows.map((r) => r.precision), y: splitRows.map((r) => r[k]) })),
  layout: { barmode: "stack", title: { text: `Energy of one ResNet-20 training step (batch ${batchSize})` }, yaxis: { title: { text: "mJ" } } },
}, { name: "energy-split" });"""),
md("""## 5. The ledger on a real training step

A real training step of ResNet-20 on a CIFAR-10 batch (FW-8/BW-8, native backend) with the ledger attached: what the
ledger charged must equal the analytic cost of the same number of images."""),
code("""const stepBatch = scale === "smoke" ? 16 : 128;
const cifar = await loadImageDataset("cifar10", "train", settings, { fallbackToSynthetic: true });
const subset = balancedSubset(cifar, stepBatch * 2, createRng(seed));
const ledger = new EnergyLedger({ profile: p, bufferBytes: bufferKB * 1024 });
const q88 = parsePrecision("FW-8/BW-8");
const stepModel = cifarResNet({ depth: 20, seed: seed });
const run = await train({
  model: stepModel, train: subset, batchSize: stepBatch, epochs: 1, lr: 0.1, seed: seed, normalize: channelStats(subset),
  optimizer: { kind: "sgd", momentum: 0.9, weightDecay: 5e-4 }, schedule: { kind: "constant" }, precision: q88, ledger: ledger, stopAfter: 1,
});
const charged = ledger.totals();
const predicted = trainingCost(stepModel, { images: stepBatch }, q88);
console.log(`ledger: ${charged.macs.total.toExponential(4)} MACs, ${charged.effectiveMacs.toExponential(4)} effective; model: ${predicted.macs.total.toExponential(4)}, ${predicted.effective.total.toExponential(4)}`);
const resultsFile = saveResults("accounting", { savings8bit: s8, stageRows: stageRows, costRows: costRows, splitRows: splitRows, ledger: charged });"""),
md("## Findings"),
code("""const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
const c38 = costs.get("38/FW-8/BW-8"), c74 = costs.get("74/FW-8/BW-8");
const fp = (d: number) => costs.get(`${d}/FP32`) ?? NaN;
const claims: Claim[] = [
  { id: "mult", claim: "8-bit multiply saves 95% over 32-bit float", source: "E²-Train Sec. 3.3 (Horowitz [59])", paper: "95%", measured: pct(s8.multiply), kind: "exact", holds: Math.round(100 * s8.multiply) === 95 },
  { id: "add", claim: "8-bit add saves 97% over 32-bit float", source: "E²-Train Sec. 3.3", paper: "97%", measured: pct(s8.add), kind: "exact", holds: Math.round(100 * s8.add) === 97 },
  { id: "move", claim: "8-bit data movement saves 75% over 32-bit", source: "E²-Train Sec. 3.3", paper: "75%", measured: pct(s8.movement), kind: "exact", holds: Math.round(100 * s8.movement) === 75 },
  { id: "r20", claim: "ResNet-20 has about 0.27 M parameters and 41 M forward MACs", source: "He et al. 2016", paper: "0.27 M / ~41 M",
    measured: `${(r20.params.count() / 1e6).toFixed(3)} M / ${(forwardMacs(r20) / 1e6).toFixed(1)} M`, kind: "exact",
    holds: Math.abs(r20.params.count() / 0.27e6 - 1) < 0.02 && Math.abs(forwardMacs(r20) / 41e6 - 1) < 0.02 },
  { id: "fw8bw8", claim: "FW-8/BW-8 costs 1/16 of FP32 (effective MACs)", source: "FracTrain Sec. 4.1 definition", paper: "1/16",
    measured: depths.map((d) => (costs.get(`${d}/FW-8/BW-8`)! / fp(d)).toFixed(4)).join(", "), kind: "exact",
    holds: depths.every((d) => Math.abs(costs.get(`${d}/FW-8/BW-8`)! / fp(d) - 1 / 16) < 1e-12), checkedAt: precisions.includes("FW-8/BW-8") ? undefined : [] },
  { id: "ledger", claim: "the ledger of a real training step charges the analytic cost", source: "ecotrain accounting", paper: `${predicted.effective.total.toExponential(4)} effective MACs`,
    measured: `${charged.effectiveMacs.toExponential(4)}`, kind: "exact", holds: charged.macs.total === predicted.macs.total && Math.abs(charged.effectiveMacs / predicted.effective.total - 1) < 1e-9 },
  { id: "sbm38", claim: "SBM FW-8/BW-8 cost of ResNet-38 on CIFAR-10", source: "FracTrain Table 3", paper: "1.18E+14", measured: c38 === undefined ? undefined : c38.toExponential(2),
    kind: "measured", holds: c38 === undefined ? undefined : Math.abs(c38 / 1.18e14 - 1) <= 0.15, note: c38 === undefined ? "" : `ratio ${(c38 / 1.18e14).toFixed(2)}; counting conventions of the paper not stated` },
  { id: "sbm74", claim: "SBM FW-8/BW-8 cost of ResNet-74 on CIFAR-10", source: "FracTrain Table 3", paper: "2.62E+14", measured: c74 === undefined ? undefined : c74.toExponential(2),
    kind: "measured", holds: c74 === undefined ? undefined : Math.abs(c74 / 2.62e14 - 1) <= 0.15, note: c74 === undefined ? "" : `ratio ${(c74 / 2.62e14).toFixed(2)}; counting conventions of the paper not stated` },
];
findings(claims, { seeds: 1, setting: `${p.name}; ${iterations} iterations x batch ${batchSize}; ledger check on ${cifar.name} (${cifar.origin}), batch ${stepBatch}, backend ${backend.name}` });"""),
]
nb = nbformat.v4.new_notebook()
nb.cells = cells
nb.metadata['kernelspec'] = {'name': 'ecotrain', 'display_name': 'TypeScript (ecotrain)', 'language': 'typescript'}
nb.metadata['language_info'] = {'name': 'typescript', 'file_extension': '.ts', 'mimetype': 'text/typescript'}
nbformat.write(nb, sys.argv[1])
