import * as fs from 'node:fs';
import type { Browser, Page } from 'playwright-core';
import { findChromium } from '../setup/jupyter';
import type { PlotlyFigure } from './figure';

let page: Promise<Page> | undefined;
let browser: Browser | undefined;

/** True when static export can run (Debian's chromium is installed). */
export function staticExportAvailable(): boolean {
  return findChromium() !== undefined;
}

async function openPage(): Promise<Page> {
  const executablePath = findChromium();
  if (!executablePath)
    throw new Error('static figure export needs chromium (apt-get install chromium), which was not found');
  const { chromium } = await import('playwright-core');
  browser = await chromium.launch({
    executablePath,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
  const p = await browser.newPage();
  await p.setContent('<!doctype html><html><body><div id="fig"></div></body></html>');
  await p.addScriptTag({ content: fs.readFileSync(require.resolve('plotly.js/dist/plotly.min.js'), 'utf8') });
  return p;
}

/** Renders `fig` to PNG bytes and SVG text with plotly.js in headless chromium (browser reused across calls). */
export async function renderStatic(
  fig: PlotlyFigure,
  width: number,
  height: number,
): Promise<{ png: Buffer; svg: string }> {
  page ??= openPage();
  const p = await page;
  const urls = await p.evaluate(
    async ({ f, w, h }) => {
      const P = (globalThis as unknown as { Plotly: { toImage(fig: unknown, o: object): Promise<string> } }).Plotly;
      const fig = { data: f.data, layout: { ...(f.layout ?? {}), width: w, height: h } };
      return {
        png: await P.toImage(fig, { format: 'png', width: w, height: h }),
        svg: await P.toImage(fig, { format: 'svg', width: w, height: h }),
      };
    },
    { f: fig, w: width, h: height },
  );
  const png = Buffer.from(urls.png.slice(urls.png.indexOf(',') + 1), 'base64');
  const svgData = urls.svg.slice(urls.svg.indexOf(',') + 1);
  const svg = urls.svg.startsWith('data:image/svg+xml;base64,')
    ? Buffer.from(svgData, 'base64').toString('utf8')
    : decodeURIComponent(svgData);
  return { png, svg };
}

/** Closes the export browser, if one was started. */
export async function closeFigureExporter(): Promise<void> {
  const b = browser;
  page = undefined;
  browser = undefined;
  await b?.close();
}
