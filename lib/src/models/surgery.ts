import * as tf from '@tensorflow/tfjs-core';
import { ConfigError, checkKeys } from '../errors';
import { cifarResNet, type ResNetOptions } from './resnet';
import { lstmLanguageModel } from './lstm';
import { sequentialModel, type SeqOp, type SequentialArchitecture } from './sequential';
import type { Model } from './spec';
import { basisRank, lowRankBasis, recombine, type BasisSpec, type HostTensor } from './low-rank';

/**
 * Structure to remove from a model, or (with {@link maskStructure}) to zero in place. Indices refer to the
 * original model. Masking semantics (what "removed" means in the original): a conv filter zeroes its
 * weights, bias and the following batch norm's scale and shift, so the channel is exactly zero downstream;
 * an input channel zeroes that slice of the filters; a fibre (i, j, c) zeroes that weight row for every
 * filter; a neuron zeroes its weight column and bias; a block zeroes its convolutions between shortcuts and their
 * batch-norm scales and shifts (the block becomes the identity, or its projection shortcut alone); an LSTM hidden unit zeroes its gate columns in all four blocks,
 * its recurrent row, and its row in the next layer's input weights; a basis of M replaces the filter bank by
 * its rank-M approximation (truncated SVD by default; see {@link BasisSpec} for PCA and k-means).
 */
export interface StructureRemoval {
  /** Conv output channels, by layer. */
  readonly filters?: Readonly<Record<string, readonly number[]>>;
  /** Conv input channels, by layer (the producing layer's matching filters go too: they feed nothing). */
  readonly channels?: Readonly<Record<string, readonly number[]>>;
  /** Filter-shape fibres by layer, as flat indices (i * kernel + j) * inChannels + c. */
  readonly fibres?: Readonly<Record<string, readonly number[]>>;
  /** Dense-layer output neurons, by layer (not the output layer). */
  readonly neurons?: Readonly<Record<string, readonly number[]>>;
  /**
   * Whole residual blocks, by name: their convolutions between shortcuts (a block with an identity shortcut becomes
   * the identity; a transition block keeps its projection shortcut, ReLU(BN(1x1 conv))).
   */
  readonly blocks?: readonly string[];
  /** LSTM hidden units, by layer (`lstm1`, ...). */
  readonly hiddenUnits?: Readonly<Record<string, readonly number[]>>;
  /**
   * Convolutions replaced by M basis filters followed by a 1x1 convolution, by layer: a rank (truncated SVD) or a
   * {@link BasisSpec} with the method (SVD, PCA, k-means).
   */
  readonly basis?: Readonly<Record<string, number | BasisSpec>>;
}

const KEYS = ['filters', 'channels', 'fibres', 'neurons', 'blocks', 'hiddenUnits', 'basis'];

function read(model: Model, name: string): HostTensor {
  const v = model.params.get(name);
  return { shape: [...v.shape], data: Float32Array.from(v.dataSync()) };
}

function strides(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length).fill(1);
  for (let i = shape.length - 2; i >= 0; i--) s[i] = (s[i + 1] as number) * (shape[i + 1] as number);
  return s;
}

/** Keeps `keep` (in order) along `axis`. */
function take(t: HostTensor, axis: number, keep: readonly number[]): HostTensor {
  const shape = [...t.shape];
  shape[axis] = keep.length;
  const out = new Float32Array(shape.reduce((a, b) => a * b, 1));
  const src = strides(t.shape);
  const dst = strides(shape);
  for (let o = 0; o < out.length; o++) {
    let s = 0;
    let r = o;
    for (let d = 0; d < shape.length; d++) {
      const idx = Math.floor(r / (dst[d] as number));
      r -= idx * (dst[d] as number);
      s += (d === axis ? (keep[idx] as number) : idx) * (src[d] as number);
    }
    out[o] = t.data[s] as number;
  }
  return { shape, data: out };
}

/** Zeroes `idx` along `axis` in place. */
function zeroAt(t: HostTensor, axis: number, idx: readonly number[]): void {
  const st = strides(t.shape);
  const set = new Set(idx);
  for (let o = 0; o < t.data.length; o++)
    if (set.has(Math.floor(o / (st[axis] as number)) % (t.shape[axis] as number))) t.data[o] = 0;
}

function checkIndices(field: string, idx: readonly number[], size: number): void {
  if (
    !Array.isArray(idx) ||
    idx.some((i) => !Number.isInteger(i) || i < 0 || i >= size) ||
    new Set(idx).size !== idx.length
  ) {
    throw new ConfigError(field, idx, `distinct indices in [0, ${size})`);
  }
}

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);
const without = (n: number, drop: readonly number[] | undefined): number[] => {
  const d = new Set(drop ?? []);
  return range(n).filter((i) => !d.has(i));
};

/**
 * Best rank-M factorisation of a filter bank [k, k, cin, cout] by truncated SVD of its [k k cin, cout]
 * matrix: basis filters [k, k, cin, M] (left singular vectors) and 1x1 coefficients [1, 1, M, cout]
 * (singular values times right singular vectors). `lowRankBasis` offers PCA and k-means too.
 */
export function basisDecomposition(
  w: { shape: readonly number[]; data: Float32Array },
  m: number,
  layer = 'conv',
): { basis: HostTensor; coefficients: HostTensor } {
  return lowRankBasis({ shape: [...w.shape], data: w.data }, m, layer);
}

/** The rank-M approximation of a filter bank, as the dense [k, k, cin, cout] tensor. */
function lowRank(w: HostTensor, spec: number | BasisSpec, layer: string): HostTensor {
  const { basis, coefficients } = lowRankBasis(w, spec, layer);
  return recombine(basis, coefficients);
}

/**
 * A conv's filter bank turned into its layer variant. `full` is [k, k, cin, cout'] with the original input
 * channels (those this layer's mask zeroes are zero), `inKept` the input channels that remain: the plain bank
 * ([k, k, |inKept|, cout']), the kept fibres ([kept, cout']), or basis filters and coefficients. The basis is
 * taken from the full bank, as the masked original's rank-M approximation is, then its rows are sliced.
 */
function convVariant(
  full: HostTensor,
  inKept: readonly number[],
  removedFibres: readonly number[] | undefined,
  m: number | BasisSpec | undefined,
  layer: string,
): { params: Record<string, HostTensor>; fibres?: Int32Array; basis?: number } {
  const [k, kw, cinOrig] = full.shape as [number, number, number];
  const drop = new Set(removedFibres ?? []);
  if (drop.size > 0 && m !== undefined)
    throw new ConfigError(layer, 'fibres and basis', 'one of fibre removal or basis decomposition per layer');
  if (m !== undefined) {
    const { basis, coefficients } = lowRankBasis(full, m, layer);
    return { params: { 'basis/w': take(basis, 2, inKept), w: coefficients }, basis: basisRank(m) };
  }
  const w = take(full, 2, inKept);
  if (drop.size === 0) return { params: { w } };
  // Kept fibres, as rows of the [k k cin, cout] matrix of the channel-sliced bank.
  const kept: number[] = [];
  const cin = inKept.length;
  for (let i = 0; i < k; i++)
    for (let j = 0; j < kw; j++)
      inKept.forEach((c, nc) => {
        if (!drop.has((i * kw + j) * cinOrig + c)) kept.push((i * kw + j) * cin + nc);
      });
  if (kept.length === 0)
    throw new ConfigError(`fibres.${layer}`, [...drop], 'at least one fibre left (remove the filters instead)');
  return {
    params: { w: take({ shape: [k * kw * cin, w.shape[3] as number], data: w.data }, 0, kept) },
    fibres: Int32Array.from(kept),
  };
}

function assign(model: Model, values: ReadonlyMap<string, HostTensor>): void {
  for (const p of model.params.all()) {
    const v = values.get(p.name);
    if (!v) throw new Error(`model surgery: no value for ${p.name}`);
    if (v.shape.join(',') !== p.variable.shape.join(','))
      throw new Error(`model surgery: ${p.name} is [${v.shape}], the new model has [${p.variable.shape}]`);
    tf.tidy(() => p.variable.assign(tf.tensor(v.data, v.shape, 'float32')));
  }
}

function checkRemoval(r: StructureRemoval): void {
  checkKeys(r, KEYS, 'removal');
}

function unsupported(model: Model, what: string, allowed: string): never {
  throw new ConfigError('removal', what, `${allowed} for ${model.name}`);
}

/** Convs whose input channels come straight from the previous conv (through ReLU and pooling only). */
function sequentialProducer(ops: readonly SeqOp[], i: number): string | undefined {
  for (let j = i - 1; j >= 0; j--) {
    const o = ops[j] as SeqOp;
    if (o.op === 'conv') return o.name;
    if (o.op === 'dense' || o.op === 'flatten') return undefined;
  }
  return undefined;
}

function sequentialShapes(arch: SequentialArchitecture, model: Model): number[][] {
  const shapes: number[][] = [];
  let shape = [...arch.inputShape];
  const spec = new Map(model.layers.map((l) => [l.name, l]));
  for (const o of arch.ops) {
    shapes.push(shape);
    if (o.op === 'conv') shape = [...(spec.get(o.name)?.outShape ?? [])];
    else if (o.op === 'dense') shape = [o.units];
    else if (o.op === 'pool') {
      const f = (n: number) =>
        o.ceil ? Math.ceil((n - o.size) / o.stride) + 1 : Math.floor((n - o.size) / o.stride) + 1;
      shape = [f(shape[0] as number), f(shape[1] as number), shape[2] as number];
    } else if (o.op === 'flatten') shape = [shape.reduce((a, v) => a * v, 1)];
  }
  return shapes;
}

function removeSequential(model: Model, arch: SequentialArchitecture, r: StructureRemoval): Model {
  if (r.blocks?.length || Object.keys(r.hiddenUnits ?? {}).length)
    unsupported(model, 'blocks/hiddenUnits', 'filters, channels, fibres, neurons and basis');
  const known = new Set(
    arch.ops.filter((o) => o.op === 'conv' || o.op === 'dense').map((o) => (o as { name: string }).name),
  );
  for (const f of ['filters', 'channels', 'fibres', 'neurons', 'basis'] as const)
    for (const n of Object.keys(r[f] ?? {}))
      if (!known.has(n))
        throw new ConfigError(`removal.${f}`, n, `a layer of ${model.name} (${[...known].join(', ')})`);
  // Input channels removed from a conv make the producing conv's filters dead: remove them there.
  const deadFilters = new Map<string, Set<number>>();
  arch.ops.forEach((o, i) => {
    if (o.op !== 'conv') return;
    const ch = r.channels?.[o.name];
    if (!ch?.length) return;
    const prod = sequentialProducer(arch.ops, i);
    if (!prod)
      throw new ConfigError(
        `removal.channels.${o.name}`,
        ch,
        'input channels of a convolution fed by another convolution (not the data)',
      );
    const s = deadFilters.get(prod) ?? new Set<number>();
    ch.forEach((c) => s.add(c));
    deadFilters.set(prod, s);
  });
  const shapes = sequentialShapes(arch, model);
  const values = new Map<string, HostTensor>();
  const ops: SeqOp[] = [];
  let keptIn: number[] | undefined;
  arch.ops.forEach((o, i) => {
    if (o.op === 'conv') {
      if (o.fibres || o.basis !== undefined)
        throw new ConfigError(`removal`, o.name, 'a layer not already lowered or decomposed');
      const w = read(model, `${o.name}/w`);
      const [, , cin, cout] = w.shape as [number, number, number, number];
      const filters = [...(r.filters?.[o.name] ?? []), ...(deadFilters.get(o.name) ?? [])];
      checkIndices(`removal.filters.${o.name}`, [...new Set(filters)], cout);
      const keptOut = without(cout, filters);
      if (keptOut.length === 0) throw new ConfigError(`removal.filters.${o.name}`, filters, 'at least one filter left');
      if (r.channels?.[o.name]) checkIndices(`removal.channels.${o.name}`, r.channels[o.name] as number[], cin);
      if (r.fibres?.[o.name])
        checkIndices(`removal.fibres.${o.name}`, r.fibres[o.name] as number[], w.shape[0]! * w.shape[1]! * cin);
      const explicit = r.channels?.[o.name] ?? [];
      const inKept = (keptIn ?? range(cin)).filter((c) => !explicit.includes(c));
      const full = take(w, 3, keptOut);
      zeroAt(full, 2, explicit);
      const v = convVariant(full, inKept, r.fibres?.[o.name], r.basis?.[o.name], o.name);
      for (const [k, t] of Object.entries(v.params)) values.set(`${o.name}/${k}`, t);
      if (o.bias) values.set(`${o.name}/b`, take(read(model, `${o.name}/b`), 0, keptOut));
      ops.push({
        ...o,
        filters: keptOut.length,
        ...(v.fibres ? { fibres: v.fibres } : {}),
        ...(v.basis !== undefined ? { basis: v.basis } : {}),
      });
      keptIn = keptOut;
    } else if (o.op === 'dense') {
      if (r.basis?.[o.name] !== undefined || r.fibres?.[o.name] || r.channels?.[o.name] || r.filters?.[o.name])
        throw new ConfigError('removal', o.name, 'neurons for a dense layer');
      const w = read(model, `${o.name}/w`);
      const last = i === arch.ops.length - 1;
      const neurons = r.neurons?.[o.name] ?? [];
      if (last && neurons.length)
        throw new ConfigError(
          `removal.neurons.${o.name}`,
          neurons,
          'no neurons of the output layer (its units are the classes)',
        );
      checkIndices(`removal.neurons.${o.name}`, neurons as number[], w.shape[1] as number);
      const keptOut = without(w.shape[1] as number, neurons);
      if (keptOut.length === 0) throw new ConfigError(`removal.neurons.${o.name}`, neurons, 'at least one neuron left');
      values.set(`${o.name}/w`, take(take(w, 0, keptIn ?? range(w.shape[0] as number)), 1, keptOut));
      values.set(`${o.name}/b`, take(read(model, `${o.name}/b`), 0, keptOut));
      ops.push({ ...o, units: keptOut.length });
      keptIn = keptOut;
    } else if (o.op === 'flatten') {
      const s = shapes[i] as number[];
      if (s.length === 3 && keptIn) {
        const [h, w, c] = s as [number, number, number];
        const rows: number[] = [];
        for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) for (const k of keptIn) rows.push((y * w + x) * c + k);
        keptIn = rows;
      }
      ops.push(o);
    } else ops.push(o);
  });
  const out = sequentialModel({ name: arch.name, inputShape: arch.inputShape, ops, seed: arch.seed });
  assign(out, values);
  return out;
}

function blockOf(name: string): { block: string; conv: string } | undefined {
  const m = /^(stage\d+\/block\d+)\/(conv1|conv2|proj)$/.exec(name);
  return m ? { block: m[1] as string, conv: m[2] as string } : undefined;
}

function removeResNet(model: Model, options: ResNetOptions, r: StructureRemoval): Model {
  if (Object.keys(r.neurons ?? {}).length || Object.keys(r.hiddenUnits ?? {}).length)
    unsupported(
      model,
      'neurons/hiddenUnits',
      "filters of a block's conv1, channels of its conv2, fibres, blocks and basis",
    );
  if (options.convs && Object.keys(options.convs).length)
    throw new ConfigError('removal', model.name, 'a ResNet without lowered or decomposed layers');
  const convNames = new Set(model.layers.filter((l) => l.kind === 'conv').map((l) => l.name));
  // Inner channels per block: filters of conv1 or input channels of conv2.
  const innerDrop = new Map<string, Set<number>>();
  const addInner = (block: string, idx: readonly number[]) => {
    const s = innerDrop.get(block) ?? new Set<number>();
    idx.forEach((i) => s.add(i));
    innerDrop.set(block, s);
  };
  for (const [layer, idx] of Object.entries(r.filters ?? {})) {
    const b = blockOf(layer);
    if (b?.conv !== 'conv1')
      throw new ConfigError(
        `removal.filters`,
        layer,
        "filters of a block's conv1 (other filters set the residual stream's width)",
      );
    addInner(b.block, idx);
  }
  for (const [layer, idx] of Object.entries(r.channels ?? {})) {
    const b = blockOf(layer);
    if (b?.conv !== 'conv2') throw new ConfigError(`removal.channels`, layer, "input channels of a block's conv2");
    addInner(b.block, idx);
  }
  for (const f of ['fibres', 'basis'] as const)
    for (const n of Object.keys(r[f] ?? {}))
      if (!convNames.has(n)) throw new ConfigError(`removal.${f}`, n, `a convolution of ${model.name}`);
  const blockNames = model.blocks.map((b) => b.name);
  const inner: number[] = [];
  const values = new Map<string, HostTensor>();
  const convs: Record<string, { fibres?: Int32Array; basis?: number }> = {};
  // Every conv's bank with its original input channels, and the input channels that remain.
  const fullBanks = new Map<string, { full: HostTensor; inKept: number[] }>();
  for (const b of model.blocks) {
    const mid = model.params.get(`${b.name}/conv1/w`).shape[3] as number;
    const drop = [...(innerDrop.get(b.name) ?? [])];
    checkIndices(`removal.filters.${b.name}/conv1`, drop, mid);
    const kept = without(mid, drop);
    if (kept.length === 0)
      throw new ConfigError(
        `removal.filters.${b.name}/conv1`,
        drop,
        'at least one filter left (remove the block instead)',
      );
    inner.push(kept.length);
    if ((r.blocks ?? []).includes(b.name)) continue;
    values.set(`${b.name}/conv1/w`, take(read(model, `${b.name}/conv1/w`), 3, kept));
    for (const s of ['gamma', 'beta', 'mean', 'var'])
      values.set(`${b.name}/bn1/${s}`, take(read(model, `${b.name}/bn1/${s}`), 0, kept));
    const conv2 = read(model, `${b.name}/conv2/w`);
    zeroAt(conv2, 2, r.channels?.[`${b.name}/conv2`] ?? []);
    fullBanks.set(`${b.name}/conv2`, { full: conv2, inKept: kept });
  }
  for (const blk of r.blocks ?? [])
    if (!blockNames.includes(blk)) throw new ConfigError('removal.blocks', blk, `a block of ${model.name}`);
  for (const p of model.params.all()) {
    const blockName = /^(stage\d+\/block\d+)\/(?!proj)/.exec(p.name)?.[1];
    if (blockName && (r.blocks ?? []).includes(blockName)) continue;
    if (!values.has(p.name) && !fullBanks.has(p.name.replace(/\/w$/, ''))) values.set(p.name, read(model, p.name));
  }
  for (const layer of convNames) {
    const bo = blockOf(layer);
    const blk = bo?.block;
    if (blk && bo?.conv !== 'proj' && (r.blocks ?? []).includes(blk)) {
      if (r.fibres?.[layer] || r.basis?.[layer] !== undefined)
        throw new ConfigError('removal', layer, 'a layer of a block that is kept');
      continue;
    }
    const bank = fullBanks.get(layer) ?? {
      full: values.get(`${layer}/w`) as HostTensor,
      inKept: range(model.params.get(`${layer}/w`).shape[2] as number),
    };
    const w = bank.full;
    if (r.fibres?.[layer])
      checkIndices(
        `removal.fibres.${layer}`,
        r.fibres[layer] as number[],
        (w.shape[0] as number) * (w.shape[1] as number) * (w.shape[2] as number),
      );
    const v = convVariant(w, bank.inKept, r.fibres?.[layer], r.basis?.[layer], layer);
    for (const [k, t] of Object.entries(v.params)) values.set(`${layer}/${k}`, t);
    if (v.fibres || v.basis !== undefined)
      convs[layer] = {
        ...(v.fibres ? { fibres: v.fibres } : {}),
        ...(v.basis !== undefined ? { basis: v.basis } : {}),
      };
  }
  const out = cifarResNet({
    ...options,
    innerWidths: inner,
    removedBlocks: [...(options.removedBlocks ?? []), ...(r.blocks ?? [])],
    convs,
  });
  assign(out, values);
  return out;
}

function removeLstm(model: Model, options: import('./lstm').LstmLmOptions, r: StructureRemoval): Model {
  for (const f of ['filters', 'channels', 'fibres', 'neurons', 'blocks', 'basis'] as const) {
    const v = r[f];
    if (v && (Array.isArray(v) ? v.length : Object.keys(v).length)) unsupported(model, f, 'hiddenUnits');
  }
  const L = options.hidden.length;
  for (const n of Object.keys(r.hiddenUnits ?? {}))
    if (!/^lstm\d+$/.test(n) || Number(n.slice(4)) < 1 || Number(n.slice(4)) > L)
      throw new ConfigError('removal.hiddenUnits', n, `a layer lstm1..lstm${L}`);
  const kept = options.hidden.map((h, l) => {
    const drop = r.hiddenUnits?.[`lstm${l + 1}`] ?? [];
    checkIndices(`removal.hiddenUnits.lstm${l + 1}`, drop as number[], h);
    const k = without(h, drop);
    if (k.length === 0) throw new ConfigError(`removal.hiddenUnits.lstm${l + 1}`, drop, 'at least one unit left');
    return k;
  });
  const values = new Map<string, HostTensor>();
  values.set('embedding', read(model, 'embedding'));
  options.hidden.forEach((h, l) => {
    const cols = [0, 1, 2, 3].flatMap((g) => (kept[l] as number[]).map((k) => g * h + k));
    const rowsIn = l === 0 ? range(options.embedding) : (kept[l - 1] as number[]);
    values.set(`lstm${l + 1}/wx`, take(take(read(model, `lstm${l + 1}/wx`), 0, rowsIn), 1, cols));
    values.set(`lstm${l + 1}/wh`, take(take(read(model, `lstm${l + 1}/wh`), 0, kept[l] as number[]), 1, cols));
    values.set(`lstm${l + 1}/b`, take(read(model, `lstm${l + 1}/b`), 0, cols));
  });
  values.set('output/w', take(read(model, 'output/w'), 0, kept[L - 1] as number[]));
  values.set('output/b', read(model, 'output/b'));
  const out = lstmLanguageModel({ ...options, hidden: kept.map((k) => k.length) });
  assign(out, values);
  return out;
}

/**
 * Removes structure from a model (SSL, ISS, Force Regularization): returns a smaller dense model of the
 * same family whose layer specs and MACs describe what it computes, and whose outputs equal those of the
 * original with the same structure masked by {@link maskStructure} (within float tolerance). Supported:
 * sequential models (LeNet-5, CifarNet, MLPs): filters, input channels, fibres, neurons, basis; CIFAR
 * ResNets: filters of a block's first conv (input channels of its second), fibres, whole blocks, basis;
 * LSTM language models: hidden units. The original is left unchanged.
 */
export function removeStructure(model: Model, removal: StructureRemoval): Model {
  checkRemoval(removal);
  const a = model.architecture;
  if (!a)
    throw new ConfigError(
      'model',
      model.name,
      'a model built by ecotrain with its architecture recorded (sequential, ResNet or LSTM)',
    );
  if (a.family === 'sequential') return removeSequential(model, a, removal);
  if (a.family === 'resnet') return removeResNet(model, a.options, removal);
  return removeLstm(model, a.options, removal);
}

/**
 * Zeroes the given structure in place (see {@link StructureRemoval} for what each kind zeroes); basis entries
 * replace the filter bank by its rank-M approximation. Useful to threshold groups to exact zeros during
 * training, and as the reference that {@link removeStructure}'s output must match.
 */
export function maskStructure(model: Model, removal: StructureRemoval): void {
  checkRemoval(removal);
  const values = new Map<string, HostTensor>();
  const get = (name: string): HostTensor => {
    let v = values.get(name);
    if (!v) {
      if (!model.params.has(name))
        throw new ConfigError('removal', name.replace(/\/(w|b|gamma|beta)$/, ''), `a layer of ${model.name}`);
      v = read(model, name);
      values.set(name, v);
    }
    return v;
  };
  const bnAfter = (layer: string): string | undefined => {
    const b = blockOf(layer);
    const bn = b
      ? `${b.block}/${b.conv === 'conv1' ? 'bn1' : b.conv === 'conv2' ? 'bn2' : 'proj-bn'}`
      : layer === 'conv1'
        ? 'bn1'
        : undefined;
    return bn && model.params.has(`${bn}/gamma`) ? bn : undefined;
  };
  for (const [layer, idx] of Object.entries(removal.filters ?? {})) {
    zeroAt(get(`${layer}/w`), 3, idx);
    if (model.params.has(`${layer}/b`)) zeroAt(get(`${layer}/b`), 0, idx);
    const bn = bnAfter(layer);
    if (bn) for (const s of ['gamma', 'beta']) zeroAt(get(`${bn}/${s}`), 0, idx);
  }
  for (const [layer, idx] of Object.entries(removal.channels ?? {})) zeroAt(get(`${layer}/w`), 2, idx);
  for (const [layer, idx] of Object.entries(removal.fibres ?? {})) {
    const w = get(`${layer}/w`);
    const cout = w.shape[3] as number;
    for (const f of idx) w.data.fill(0, f * cout, (f + 1) * cout);
  }
  for (const [layer, idx] of Object.entries(removal.neurons ?? {})) {
    zeroAt(get(`${layer}/w`), 1, idx);
    zeroAt(get(`${layer}/b`), 0, idx);
  }
  for (const blk of removal.blocks ?? []) {
    const spec = model.blocks.find((b) => b.name === blk);
    if (!spec) throw new ConfigError('removal.blocks', blk, `a block of ${model.name}`);
    // The convolutions between shortcuts and their batch norms; a projection shortcut stays.
    for (const l of spec.layers) if (!l.endsWith('/proj')) get(`${l}/w`).data.fill(0);
    for (const p of model.params.all())
      if (
        p.name.startsWith(`${blk}/`) &&
        !p.name.startsWith(`${blk}/proj`) &&
        (p.role === 'bn-scale' || p.role === 'bn-shift')
      )
        get(p.name).data.fill(0);
  }
  for (const [layer, idx] of Object.entries(removal.hiddenUnits ?? {})) {
    const l = Number(layer.slice(4));
    const h = model.params.get(`${layer}/wh`).shape[0] as number;
    const cols = [0, 1, 2, 3].flatMap((g) => idx.map((k) => g * h + k));
    zeroAt(get(`${layer}/wx`), 1, cols);
    zeroAt(get(`${layer}/wh`), 1, cols);
    zeroAt(get(`${layer}/b`), 0, cols);
    zeroAt(get(`${layer}/wh`), 0, idx);
    zeroAt(get(model.params.has(`lstm${l + 1}/wx`) ? `lstm${l + 1}/wx` : 'output/w'), 0, idx);
  }
  for (const [layer, m] of Object.entries(removal.basis ?? {}))
    values.set(`${layer}/w`, lowRank(get(`${layer}/w`), m, layer));
  for (const [name, v] of values) tf.tidy(() => model.params.get(name).assign(tf.tensor(v.data, v.shape, 'float32')));
}
