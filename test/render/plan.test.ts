import { readFileSync } from 'node:fs';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { describe, expect, it } from 'vitest';
import type { Plan } from '../../src/plan/types.js';
import { planSummaryLine, renderPlanText } from '../../src/render/plan.js';

const plan: Plan = {
  formatVersion: 1, target: 'lab', pbx: { name: 't', domain: 'pbx.example.com' }, fromRelease: '20261121T100000Z-abcd',
  liveHash: 'a'.repeat(64), desiredHash: 'b'.repeat(64),
  changes: [
    { action: 'create', kind: 'Extension', identity: '1001', label: '1001 "Alice"', changes: [{ path: 'name', after: 'Alice' }], drift: [] },
    { action: 'update', kind: 'Queue', identity: 'support', label: 'support', changes: [{ path: 'strategy', before: 'ring-all', after: 'least-recent' }, { path: 'password', sensitive: true }], drift: [] },
    { action: 'update', kind: 'Extension', identity: '1002', label: '1002 "Bob"', changes: [], drift: [{ id: 'htable/auth/1002', sensitive: true }, { id: 'htable/ext/1002', expected: 'str:maxc=3', live: 'str:maxc=9' }] },
    { action: 'delete', kind: 'Trunk', identity: 'old-carrier', label: 'old-carrier', changes: [{ path: 'hosts', before: [] }], drift: [] },
    { action: 'replace', kind: 'Trunk', identity: 'new', label: 'new', changes: [{ path: 'auth.type', before: 'ip', after: 'registration' }], drift: [] },
    { action: 'update', kind: 'RingGroup', identity: 'sales', label: 'sales', changes: [], drift: [], rerendered: 2 },
  ],
  unmanaged: [{ id: 'htable/dial/1999', live: 'str:t=ext;ext=1999' }],
  summary: { create: 1, update: 3, delete: 1, replace: 1 },
};

describe('plan renderer', () => {
  it('renders Terraform-style lines', () => {
    const text = renderPlanText(plan, { color: false });
    expect(text).toContain('  + extension 1001 "Alice"');
    expect(text).toContain('  ~ queue support\n      ~ strategy: "ring-all" -> "least-recent"\n      ~ password: (sensitive)');
    expect(text).toContain('  ~ extension 1002 "Bob"  (drift)\n      ! htable auth 1002: changed on the node (sensitive)\n      ! htable ext 1002: "str:maxc=9" on the node, will be restored to "str:maxc=3"');
    expect(text).toContain('  - trunk old-carrier');
    expect(text).toContain('  ± trunk new\n      ~ auth.type: "ip" -> "registration"');
    expect(text).toContain('  - node data pbxctl does not own (1)');
    expect(text).toContain('  ~ ring-group sales  (node data re-rendered by this pbxctl: 2 entries)');
    expect(text).toContain('Plan: 2 to add, 3 to change, 2 to destroy (drift corrected in 2).');
  });

  it('says so when there is nothing to do', () => {
    const empty: Plan = { ...plan, changes: [], unmanaged: [], summary: { create: 0, update: 0, delete: 0, replace: 0 } };
    expect(planSummaryLine(empty)).toBe('No changes. The node matches the repo.');
  });

  it('matches schemas/output/plan.schema.json', () => {
    const schema = JSON.parse(readFileSync(new URL('../../schemas/output/plan.schema.json', import.meta.url), 'utf8'));
    const validate = new Ajv2020({ allErrors: true }).compile(schema);
    expect(validate(JSON.parse(JSON.stringify(plan))), JSON.stringify(validate.errors)).toBe(true);
  });
});
