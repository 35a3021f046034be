import { describe, expect, it } from 'vitest';
import type { Diagnostic } from '../../src/lib/diagnostics.js';
import { renderDiagnosticsGithub, renderDiagnosticsText, renderSummary } from '../../src/render/diagnostics.js';
import { useColor } from '../../src/render/color.js';

const d: Diagnostic = { severity: 'error', rule: 'duplicate-number', file: 'extensions/a.yaml', line: 12, col: 7, message: 'Extension 1001 is also defined at extensions/b.yaml:4:5', hint: 'Renumber one, 100%' };
const w: Diagnostic = { severity: 'warning', rule: 'no-emergency-route', file: 'outbound-routes/x.yaml', line: 1, col: 1, message: 'none, sorry' };

describe('diagnostic renderers', () => {
  it('renders compiler-style text with the repo prefix', () => {
    expect(renderDiagnosticsText([d], { color: false, prefix: 'repo' })).toBe(
      'repo/extensions/a.yaml:12:7 error duplicate-number Extension 1001 is also defined at extensions/b.yaml:4:5\n    hint: Renumber one, 100%',
    );
    expect(renderDiagnosticsText([w], { color: false, prefix: '.' })).toBe('outbound-routes/x.yaml:1:1 warning no-emergency-route none, sorry');
  });

  it('escapes GitHub workflow command data and properties', () => {
    expect(renderDiagnosticsGithub([d, w], 'a,b')).toBe(
      '::error file=a%2Cb/extensions/a.yaml,line=12,col=7,title=duplicate-number::Extension 1001 is also defined at extensions/b.yaml:4:5%0ARenumber one, 100%25\n' +
        '::warning file=a%2Cb/outbound-routes/x.yaml,line=1,col=1,title=no-emergency-route::none, sorry',
    );
  });

  it('summarizes, failing warnings only under strict', () => {
    expect(renderSummary([w], { files: 3, resources: 9 }, { color: false, strict: false })).toBe('✓ valid with 1 warning (3 files, 9 resources)');
    expect(renderSummary([w], { files: 3, resources: 9 }, { color: false, strict: true })).toBe('✗ 0 errors, 1 warning (3 files, 9 resources); --strict fails on warnings');
    expect(renderSummary([d, w], { files: 1, resources: 1 }, { color: false, strict: false })).toBe('✗ 1 error, 1 warning (1 file, 1 resource)');
  });

  it('colors only on a TTY without NO_COLOR', () => {
    expect(useColor({ isTTY: true }, {})).toBe(true);
    expect(useColor({ isTTY: true }, { NO_COLOR: '1' })).toBe(false);
    expect(useColor({ isTTY: false }, {})).toBe(false);
    expect(useColor({ isTTY: false }, { FORCE_COLOR: '1' })).toBe(true);
  });
});
