/**
 * ecotrain-kernel: the notebook side of ecotrain. Display helpers (plotly figures, tables,
 * progress, findings), the session environment, and results output. Notebooks import it as
 * `ecotrain-kernel`.
 * @packageDocumentation
 */
export {
  figure,
  figureFiles,
  type PlotlyFigure,
  type PlotlyTrace,
  type FigureOptions,
  type FigureFiles,
} from './display/figure';
export { closeFigureExporter, staticExportAvailable } from './display/figure-export';
export {
  table,
  tableFile,
  tableData,
  toCsv,
  toHtml,
  toText,
  formatCell,
  type Row,
  type Cell,
  type DataFrameLike,
  type TableOptions,
} from './display/table';
export { progress, type Progress, type ProgressInfo, type ProgressOptions } from './display/progress';
export {
  findings,
  findingRows,
  statisticalOutcome,
  verdict,
  FindingsError,
  type Claim,
  type FindingRow,
  type FindingsContext,
  type Verdict,
} from './display/findings';
export { ladderTable, protocolTable } from './display/diagnosis';
export {
  type AccuracyCurvesOptions,
  type CurveAxis,
  accuracyCurves,
  accuracyCurveTraces,
  runsTable,
  runsTableRows,
} from './display/curves';
export { saveResults, notebookName, outputDirs } from './display/outputs';
export { runArms, type RunArmsOptions } from './experiments/run-arms';
export { type GridArm, type HeldOutGrid, heldOutGrid, heldOutGridRows } from './experiments/held-out-grid';
export { inKernel, sendDisplay, type MimeBundle } from './display/channel';
export { kernelEnvironment, environmentBanner, isHeadless, type KernelEnvironment } from './kernel/environment';
export { endOfNotebook, type SessionRecord } from './session';
