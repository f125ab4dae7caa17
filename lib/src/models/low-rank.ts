import { Matrix, SingularValueDecomposition } from 'ml-matrix';
import { kmeans } from 'ml-kmeans';
import { ConfigError } from '../errors';
import type { LayerSpec, Model } from './spec';

/** A filter bank or matrix on the host, row-major. */
export interface HostTensor {
  shape: number[];
  data: Float32Array;
}

/**
 * Low-rank approximations of a conv layer's filter bank as M basis filters and 1x1 coefficients (thesis ch. 3, Fig. 3.2,
 * Table 3.3), on the N filters of [k, k, cin, N] as vectors of length D = k k cin:
 * - `'svd'`: truncated SVD of the [D, N] matrix (best rank-M approximation in Frobenius norm; the same subspace as the
 *   thesis's PCA of Sec. 3.3.2, whose covariance W W^T / (CHW - 1) is not centred);
 * - `'pca'`: PCA of the filters about their mean: the mean filter and the first M - 1 principal directions;
 * - `'kmeans'`: k-means of the normalised filters into M clusters (the thesis's Fig. 3.1); each filter is its scale
 *   times its cluster's unit centroid (the projection onto it).
 */
export type LowRankMethod = 'svd' | 'pca' | 'kmeans';

/** A basis decomposition: rank M and method (default SVD); `seed` drives k-means++'s initialisation. */
export interface BasisSpec {
  readonly rank: number;
  readonly method?: LowRankMethod;
  readonly seed?: number;
}

function bankMatrix(w: HostTensor, layer: string): { rows: number; cout: number; k: number; kw: number; cin: number } {
  if (w.shape.length !== 4) throw new ConfigError(`basis.${layer}`, w.shape, 'a conv filter bank [k, k, cin, cout]');
  const [k, kw, cin, cout] = w.shape as [number, number, number, number];
  return { rows: k * kw * cin, cout, k, kw, cin };
}

/** The rank M of a spec (a number is an SVD of that rank). */
export function basisRank(spec: number | BasisSpec): number {
  return typeof spec === 'number' ? spec : spec.rank;
}

/**
 * M basis filters [k, k, cin, M] and 1x1 coefficients [1, 1, M, cout] whose product approximates the filter bank `w`
 * [k, k, cin, cout] by `spec`'s method (see {@link LowRankMethod}). At full rank (M = cout, or D) every method
 * reproduces the bank (k-means: each filter its own cluster).
 */
export function lowRankBasis(
  w: HostTensor,
  spec: number | BasisSpec,
  layer = 'conv',
): { basis: HostTensor; coefficients: HostTensor } {
  const { rows, cout, k, kw, cin } = bankMatrix(w, layer);
  const m = basisRank(spec);
  const method = typeof spec === 'number' ? 'svd' : (spec.method ?? 'svd');
  if (!['svd', 'pca', 'kmeans'].includes(method))
    throw new ConfigError(`basis.${layer}.method`, method, 'svd, pca or kmeans');
  const maxRank = method === 'kmeans' ? cout : Math.min(rows, cout);
  if (!Number.isInteger(m) || m < 1 || m > maxRank)
    throw new ConfigError(
      `basis.${layer}`,
      m,
      `a rank in 1..${maxRank} (${method === 'kmeans' ? `clusters of ${cout} filters` : `min of k*k*cin = ${rows} and filters = ${cout}`})`,
    );
  const at = (r: number, c: number) => w.data[r * cout + c] as number;
  const basis = new Float32Array(rows * m);
  const coef = new Float32Array(m * cout);
  if (method === 'svd') {
    const mat = new Matrix(rows, cout);
    for (let r = 0; r < rows; r++) for (let c = 0; c < cout; c++) mat.set(r, c, at(r, c));
    const svd = new SingularValueDecomposition(mat, { autoTranspose: true });
    const U = svd.leftSingularVectors;
    const V = svd.rightSingularVectors;
    const s = svd.diagonal;
    for (let r = 0; r < rows; r++) for (let j = 0; j < m; j++) basis[r * m + j] = U.get(r, j);
    for (let j = 0; j < m; j++) for (let c = 0; c < cout; c++) coef[j * cout + c] = (s[j] as number) * V.get(c, j);
  } else if (method === 'pca') {
    // Mean filter as the first basis filter (coefficient 1 for every filter), then principal directions of the centred filters.
    const mean = new Float64Array(rows);
    for (let r = 0; r < rows; r++) {
      let s = 0;
      for (let c = 0; c < cout; c++) s += at(r, c);
      mean[r] = s / cout;
    }
    for (let r = 0; r < rows; r++) basis[r * m] = mean[r] as number;
    for (let c = 0; c < cout; c++) coef[c] = 1;
    if (m > 1) {
      const centred = new Matrix(rows, cout);
      for (let r = 0; r < rows; r++) for (let c = 0; c < cout; c++) centred.set(r, c, at(r, c) - (mean[r] as number));
      const svd = new SingularValueDecomposition(centred, { autoTranspose: true });
      const U = svd.leftSingularVectors;
      const V = svd.rightSingularVectors;
      const s = svd.diagonal;
      const avail = Math.min(U.columns, V.columns, s.length);
      for (let j = 1; j < m; j++) {
        if (j - 1 >= avail) break;
        for (let r = 0; r < rows; r++) basis[r * m + j] = U.get(r, j - 1);
        for (let c = 0; c < cout; c++) coef[j * cout + c] = (s[j - 1] as number) * V.get(c, j - 1);
      }
    }
  } else {
    const filters = Array.from({ length: cout }, (_, c) => Array.from({ length: rows }, (_, r) => at(r, c)));
    const norms = filters.map((f) => Math.hypot(...f));
    const unit = filters.map((f, c) => (norms[c]! > 0 ? f.map((x) => x / norms[c]!) : f.map(() => 0)));
    const seed = typeof spec === 'number' ? 0 : (spec.seed ?? 0);
    const res =
      m === cout
        ? { clusters: unit.map((_, c) => c), centroids: unit }
        : kmeans(unit, m, { seed: seed + 1, initialization: 'kmeans++', maxIterations: 300 });
    const cents = res.centroids.map((c) => {
      const n = Math.hypot(...c);
      return n > 0 ? c.map((x) => x / n) : c.map(() => 0);
    });
    for (let j = 0; j < m; j++) for (let r = 0; r < rows; r++) basis[r * m + j] = cents[j]![r] as number;
    filters.forEach((f, c) => {
      const j = res.clusters[c] as number;
      coef[j * cout + c] = f.reduce((a, x, r) => a + x * (cents[j]![r] as number), 0);
    });
  }
  return { basis: { shape: [k, kw, cin, m], data: basis }, coefficients: { shape: [1, 1, m, cout], data: coef } };
}

/** The dense [k, k, cin, cout] bank a basis decomposition computes (basis times coefficients). */
export function recombine(basis: HostTensor, coefficients: HostTensor): HostTensor {
  const m = basis.shape[3] as number;
  const cout = coefficients.shape[3] as number;
  const rows = basis.data.length / m;
  const out = new Float32Array(rows * cout);
  for (let r = 0; r < rows; r++)
    for (let c = 0; c < cout; c++) {
      let v = 0;
      for (let j = 0; j < m; j++) v += (basis.data[r * m + j] as number) * (coefficients.data[j * cout + c] as number);
      out[r * cout + c] = v;
    }
  return { shape: [...basis.shape.slice(0, 3), cout], data: out };
}

/** What {@link filterRank} reports for one layer. */
export interface FilterRank {
  /** The smallest M whose reconstruction error share e_M / e_0 is at most the bound. */
  readonly rank: number;
  /** Filters N (full rank is min(N, D)). */
  readonly filters: number;
  /** M / N, the thesis's rank ratio. */
  readonly rankRatio: number;
  /** e_M / e_0 for M = 0 .. min(N, D): the eigenvalues of W W^T beyond the M largest over their sum. */
  readonly errorShare: readonly number[];
}

/**
 * The rank M of a conv layer as the thesis defines it (Sec. 3.3.2): with the filters as the N rows of W [N, k k cin],
 * the reconstruction error of keeping M components is e_M = sum of the eigenvalues of W W^T / (CHW - 1) beyond the
 * M largest, and M is the smallest rank with e_M / e_0 <= `maxErrorShare` (default 5%). The eigenvalues are the squared
 * singular values of W (ml-matrix's SVD on the host).
 */
export function filterRank(w: HostTensor, options: { maxErrorShare?: number; layer?: string } = {}): FilterRank {
  const layer = options.layer ?? 'conv';
  const bound = options.maxErrorShare ?? 0.05;
  if (!(Number.isFinite(bound) && bound >= 0 && bound < 1))
    throw new ConfigError('filterRank.maxErrorShare', bound, 'a share in [0, 1)');
  const { rows, cout } = bankMatrix(w, layer);
  const mat = new Matrix(rows, cout);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cout; c++) mat.set(r, c, w.data[r * cout + c] as number);
  const s = new SingularValueDecomposition(mat, {
    autoTranspose: true,
    computeLeftSingularVectors: false,
    computeRightSingularVectors: false,
  }).diagonal;
  const eig = s.map((x) => x * x).sort((a, b) => b - a);
  const total = eig.reduce((a, x) => a + x, 0);
  const errorShare: number[] = [];
  let tail = total;
  errorShare.push(total > 0 ? 1 : 0);
  for (const e of eig) {
    tail -= e;
    errorShare.push(total > 0 ? Math.max(0, tail) / total : 0);
  }
  const rank = errorShare.findIndex((x) => x <= bound);
  return { rank, filters: cout, rankRatio: rank / cout, errorShare };
}

/**
 * {@link filterRank} of every conv layer of `model` (or those `layers` picks) that stores its filters densely, read
 * from the device (call between steps).
 */
export function modelFilterRanks(
  model: Model,
  options: { maxErrorShare?: number; layers?: (layer: LayerSpec) => boolean } = {},
): Array<FilterRank & { layer: string }> {
  const pick = options.layers ?? (() => true);
  return model.layers
    .filter((l) => l.kind === 'conv' && !l.fibres && !l.basis && pick(l))
    .map((l) => {
      const v = model.params.get(l.weight);
      return {
        layer: l.name,
        ...filterRank(
          { shape: [...v.shape], data: Float32Array.from(v.dataSync()) },
          { maxErrorShare: options.maxErrorShare, layer: l.name },
        ),
      };
    });
}

/**
 * MACs of a conv layer over those of its cross-filter decomposition at rank M (thesis Sec. 3.1, Fig. 3.2), per output
 * position: N C k^2 / (M C k^2 + N M), per group for grouped convolutions (AlexNet's conv2, conv4, conv5 have 2 groups;
 * M is then the sum over groups, split evenly). Above 1 exactly when M < N C k^2 / (C k^2 + N).
 */
export function lowRankSpeedup(o: {
  filters: number;
  channels: number;
  kernel: number;
  rank: number;
  groups?: number;
}): number {
  const g = o.groups ?? 1;
  const n = o.filters / g;
  const c = o.channels;
  const m = o.rank / g;
  const k2 = o.kernel * o.kernel;
  return (n * c * k2) / (m * c * k2 + n * m);
}

/** The basis removal of a decomposition at `ranks`, for the layers where it lowers the MACs (M < N C k^2 / (C k^2 + N)). */
export function decompositionAt(
  model: Model,
  ranks: ReadonlyArray<{ layer: string; rank: number }>,
  method: LowRankMethod = 'svd',
  seed = 0,
): Record<string, BasisSpec> {
  const out: Record<string, BasisSpec> = {};
  for (const { layer, rank } of ranks) {
    const l = model.layers.find((x) => x.name === layer);
    if (l?.kind !== 'conv') throw new ConfigError('decompositionAt.layer', layer, `a conv layer of ${model.name}`);
    const [k, , c, n] = model.params.get(l.weight).shape as [number, number, number, number];
    if (rank >= 1 && lowRankSpeedup({ filters: n, channels: c, kernel: k, rank }) > 1)
      out[layer] = { rank, method, seed };
  }
  return out;
}

/**
 * The picture of thesis Fig. 3.1: the filters of a bank normalised to unit vectors, clustered by k-means (`clusters`,
 * k-means++ from `seed`), and projected onto their first two principal directions (PCA of the unit filters about
 * their mean; the thesis projects by LDA of the clusters, which needs more filters than dimensions to be defined).
 */
export function filterProjection(
  w: HostTensor,
  options: { clusters?: number; seed?: number } = {},
): Array<{ x: number; y: number; cluster: number }> {
  const { rows, cout } = bankMatrix(w, 'filterProjection');
  const k = options.clusters ?? 4;
  if (!Number.isInteger(k) || k < 1 || k > cout)
    throw new ConfigError('filterProjection.clusters', k, `1..${cout} clusters`);
  const unit = Array.from({ length: cout }, (_, c) => {
    const f = Array.from({ length: rows }, (_, r) => w.data[r * cout + c] as number);
    const n = Math.hypot(...f);
    return n > 0 ? f.map((x) => x / n) : f;
  });
  const labels = kmeans(unit, k, {
    seed: (options.seed ?? 0) + 1,
    initialization: 'kmeans++',
    maxIterations: 300,
  }).clusters;
  const mean = Array.from({ length: rows }, (_, r) => unit.reduce((a, f) => a + (f[r] as number), 0) / cout);
  const centred = new Matrix(unit.map((f) => f.map((x, r) => x - (mean[r] as number))));
  const svd = new SingularValueDecomposition(centred, { autoTranspose: true });
  const U = svd.leftSingularVectors;
  const s = svd.diagonal;
  return unit.map((_, c) => ({
    x: U.get(c, 0) * (s[0] ?? 0),
    y: U.columns > 1 ? U.get(c, 1) * (s[1] ?? 0) : 0,
    cluster: labels[c] as number,
  }));
}
