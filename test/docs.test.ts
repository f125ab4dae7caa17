import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';

/** Rows of a Markdown table split by a blank line: the rows after it render as text, not as the table's rows. */
function brokenTables(markdown: string): number[] {
  const lines = markdown.split('\n');
  const broken: number[] = [];
  for (let i = 1; i + 1 < lines.length; i++) {
    const prev = lines[i - 1] as string;
    const next = lines[i + 1] as string;
    if (
      (lines[i] as string).trim() === '' &&
      prev.startsWith('|') &&
      next.startsWith('|') &&
      !/^\|\s*-/.test(lines[i + 2] ?? '')
    )
      broken.push(i + 2);
  }
  return broken;
}

describe('README', () => {
  it('has no table split by a blank line (a row after it would not render)', () => {
    expect(brokenTables('| a |\n| --- |\n| 1 |\n\n| 2 |\n')).toEqual([5]);
    expect(brokenTables('| a |\n| --- |\n| 1 |\n\n| b |\n| --- |\n')).toEqual([]);
    const readme = fs.readFileSync(path.join(__dirname, '..', 'README.md'), 'utf8');
    expect(brokenTables(readme)).toEqual([]);
  });
});
