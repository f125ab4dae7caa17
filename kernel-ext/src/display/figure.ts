import * as path from 'node:path';
import { writeFileAtomic } from 'ecotrain/base';
import { isHeadless } from '../kernel/environment';
import { sendDisplay } from './channel';
import { renderStatic, staticExportAvailable } from './figure-export';
import { checkArtifactName, notebookName, outputDirs } from './outputs';

/** One plotly trace (`scatter`, `bar`, `heatmap`, ...): its attributes as in plotly.js. */
export type PlotlyTrace = { readonly type?: string } & Readonly<Record<string, unknown>>;

/** A plotly.js figure: traces, layout and optional config, as plotly.js and JupyterLab take them. */
export interface PlotlyFigure {
  readonly data: readonly PlotlyTrace[];
  readonly layout?: Readonly<Record<string, unknown>>;
  readonly config?: Readonly<Record<string, unknown>>;
}

/** Options of {@link figure}. */
export interface FigureOptions {
  /** File-name stem for the exported images (required when they are saved). */
  readonly name: string;
  readonly width?: number;
  readonly height?: number;
  /** Save PNG and SVG even in an interactive session (headless runs always save). */
  readonly save?: boolean;
}

/** Where {@link figure} wrote the static images, when it did. */
export interface FigureFiles {
  readonly png: string;
  readonly svg: string;
}

/**
 * Shows a plotly figure: interactive in JupyterLab (MIME `application/vnd.plotly.v1+json`,
 * rendered offline by the plotly extension). In a headless run (or with `save: true`) it also
 * renders PNG and SVG with plotly.js in headless chromium into `out/<scale>/figures/<notebook>-<name>.{png,svg}`
 * and embeds the PNG in the output, so the executed notebook shows the figure without JavaScript.
 * Without chromium the export is skipped with a message.
 */
export async function figure(fig: PlotlyFigure, options: FigureOptions): Promise<void> {
  await figureFiles(fig, options);
}

/** {@link figure}, returning where the static images were written (undefined when not saved). */
export async function figureFiles(fig: PlotlyFigure, options: FigureOptions): Promise<FigureFiles | undefined> {
  const name = checkArtifactName(options.name, 'figure name');
  if (!Array.isArray(fig.data)) throw new TypeError(`figure ${name}: fig.data must be an array of traces`);
  const width = options.width ?? 800;
  const height = options.height ?? 450;
  const bundle: Record<string, unknown> = {
    'application/vnd.plotly.v1+json': {
      data: fig.data,
      layout: { width, height, ...(fig.layout ?? {}) },
      config: fig.config ?? {},
    },
    'text/plain': `<plotly figure ${name}: ${fig.data.length} trace(s)>`,
  };
  let files: FigureFiles | undefined;
  if (isHeadless() || options.save) {
    if (staticExportAvailable()) {
      const { png, svg } = await renderStatic(fig, width, height);
      const stem = path.join(outputDirs().figures, `${notebookName()}-${name}`);
      files = { png: `${stem}.png`, svg: `${stem}.svg` };
      writeFileAtomic(files.png, png);
      writeFileAtomic(files.svg, svg);
      bundle['image/png'] = png.toString('base64');
    } else {
      console.log(`figure ${name}: static export skipped (chromium not installed: apt-get install chromium)`);
    }
  }
  if (!sendDisplay(bundle)) console.log(bundle['text/plain']);
  return files;
}
