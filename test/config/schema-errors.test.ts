import { describe, expect, it } from 'vitest';
import { pointerToPath, schemaDiagnostics } from '../../src/config/schema-errors.js';
import { validateAgainst } from '../../src/config/schema-registry.js';
import { parseYamlFile } from '../../src/config/yaml-source.js';
import type { Diagnostic } from '../../src/lib/diagnostics.js';

/** Schema diagnostics of the single document `text` against schema `name`. */
function check(name: string, text: string, label = 'R'): Diagnostic[] {
  const { documents, diagnostics } = parseYamlFile('r.yaml', new TextEncoder().encode(text));
  expect(diagnostics).toEqual([]);
  const sd = documents[0]!;
  return schemaDiagnostics(sd, validateAgainst(name, sd.value), label);
}

const EXT = 'kind: Extension\nnumber: "1001"\nname: Alice\npassword: ${secret:pw}\n';
const TRUNK = 'kind: Trunk\nid: c\nhosts: [{host: sip.example.net}]\n';
const IVR = 'kind: IVR\nid: main\n';

describe('pointerToPath', () => {
  it('splits JSON pointers and unescapes ~1 and ~0', () => {
    expect(pointerToPath('')).toEqual([]);
    expect(pointerToPath('/a/0/b')).toEqual(['a', '0', 'b']);
    expect(pointerToPath('/options/~1x~0y')).toEqual(['options', '/x~y']);
  });
});

describe('schemaDiagnostics', () => {
  it('reports nothing for a valid document', () => {
    expect(check('extension', EXT)).toEqual([]);
  });

  it('points unknown properties at the key, with a did-you-mean hint', () => {
    const d = check('extension', `${EXT}voicemial:\n  enabled: true\n`, 'Extension 1001');
    expect(d).toHaveLength(1);
    expect(d[0]).toMatchObject({ severity: 'error', rule: 'unknown-property', file: 'r.yaml', line: 5, col: 1, message: 'Extension 1001 has unknown property "voicemial"' });
    expect(d[0]!.hint).toMatch(/^Did you mean "voicemail"\? Allowed: kind, number, name/);
  });

  it('names the nested path of unknown properties', () => {
    const d = check('extension', `${EXT}forward:\n  noAnswr: hangup\n`, 'Extension 1001');
    expect(d).toMatchObject([{ rule: 'unknown-property', line: 6, col: 3, message: 'Extension 1001 forward has unknown property "noAnswr"' }]);
    expect(d[0]!.hint).toMatch(/Did you mean "noAnswer"\?/);
  });

  it('points missing properties at the mapping that lacks them, with the property description', () => {
    const d = check('extension', 'kind: Extension\nnumber: "1001"\npassword: ${secret:pw}\n', 'Extension 1001');
    expect(d).toEqual([expect.objectContaining({ rule: 'missing-property', line: 1, col: 1, message: 'Extension 1001 is missing required property "name"', hint: "Display name, e.g. 'Alice Example'." })]);
    const nested = check('extension', `${EXT}device:\n  vendor: yealink\n`);
    expect(nested).toMatchObject([{ rule: 'missing-property', line: 6, col: 3, message: 'R device is missing required property "mac"' }]);
  });

  it('reports each missing property once', () => {
    const d = check('extension', 'kind: Extension\n');
    expect(d.map((x) => x.message).sort()).toEqual(['R is missing required property "name"', 'R is missing required property "number"', 'R is missing required property "password"']);
  });

  it('points dependent properties at the key that needs them', () => {
    const d = check('inbound-route', 'kind: InboundRoute\nid: main\ndids: ["+15551230000"]\ndestination: hangup\nclosed: hangup\n');
    expect(d).toMatchObject([{ rule: 'missing-property', line: 5, col: 1, message: 'R: "closed" needs "schedule" too' }]);
  });

  it('reports wrong types in words, at the value', () => {
    expect(check('extension', `${EXT}doNotDisturb: "yes"\n`)).toMatchObject([{ rule: 'invalid-type', line: 5, col: 15, message: 'R doNotDisturb must be true or false, not string' }]);
    expect(check('extension', `${EXT}forward: [hangup]\n`)).toMatchObject([{ rule: 'invalid-type', line: 5, col: 10, message: 'R forward must be a mapping, not list' }]);
    expect(check('extension', `${EXT}noAnswerTimeout: 1.5\n`)).toMatchObject([{ rule: 'invalid-type', message: 'R noAnswerTimeout must be a whole number, not number' }]);
  });

  it('explains pattern failures with the schema title and description', () => {
    const d = check('extension', `${EXT}forward:\n  busy: queue:Sales!\n`);
    expect(d).toMatchObject([{ rule: 'invalid-value', line: 6, col: 9, message: 'R forward.busy is "queue:Sales!", which is not a valid Destination' }]);
    expect(d[0]!.hint).toMatch(/^Where a call goes, written as KIND:REF/);
  });

  it('suggests the closest enum value', () => {
    const d = check('ring-group', 'kind: RingGroup\nid: g\nstrategy: simultanous\nmembers: []\n');
    expect(d).toMatchObject([{ rule: 'invalid-value', line: 3, col: 11, message: 'R strategy is "simultanous"; allowed: simultaneous, sequential, round-robin, random, least-recent', hint: 'Did you mean "simultaneous"?' }]);
  });

  it('shortens long values in messages', () => {
    const d = check('extension', `${EXT}forward:\n  busy: ${'x'.repeat(100)}\n`);
    expect(d[0]!.message).toContain(`"${'x'.repeat(57)}..."`);
  });

  describe('oneOf/anyOf folding', () => {
    it('folds a value union (string or integer number) into one diagnostic', () => {
      const d = check('extension', 'kind: Extension\nnumber: "1"\nname: A\npassword: ${secret:pw}\n');
      expect(d).toHaveLength(1);
      expect(d[0]).toMatchObject({ rule: 'invalid-value', line: 2, col: 9, message: 'R number is "1", which is not a valid Internal number' });
      expect(d[0]!.hint).toMatch(/2 to 8 digits/);
    });

    it('calls a union failing only on types invalid-type', () => {
      expect(check('extension', 'kind: Extension\nnumber: true\nname: A\npassword: ${secret:pw}\n')).toMatchObject([{ rule: 'invalid-type', line: 2, col: 9, message: 'R number is true, which is not a valid Internal number' }]);
    });

    it('says which alternatives a required-only oneOf wants', () => {
      expect(check('ivr', `${IVR}greeting: {}\noptions: {}\n`)).toMatchObject([{ rule: 'missing-property', line: 3, col: 11, message: 'R greeting needs exactly one of: file, text' }]);
      expect(check('schedule', 'kind: Schedule\nid: s\ntimezone: UTC\nhours: []\nholidays:\n  - name: x\n')).toMatchObject([{ rule: 'missing-property', line: 6, col: 5, message: 'R holidays.0 needs exactly one of: date, from + to, yearly' }]);
    });

    it('reports two alternatives at once as conflicting-properties', () => {
      expect(check('ivr', `${IVR}greeting: {text: hi, file: a.wav}\noptions: {}\n`)).toMatchObject([{ rule: 'conflicting-properties', line: 3, col: 11, message: 'R greeting sets more than one of: file, text' }]);
      expect(check('ring-group', 'kind: RingGroup\nid: g\nstrategy: random\nmembers:\n  - extension: "1001"\n    external: "+15551230000"\n')).toMatchObject([{ rule: 'conflicting-properties', line: 5, col: 5, message: 'R members.0 sets more than one of: extension, external' }]);
    });

    it('keeps errors outside the union next to the folded one', () => {
      const d = check('ivr', `${IVR}greeting: {txt: hi}\noptions: {}\n`);
      expect(d.map((x) => x.rule).sort()).toEqual(['missing-property', 'unknown-property']);
      expect(d.find((x) => x.rule === 'unknown-property')).toMatchObject({ line: 3, col: 12, hint: expect.stringMatching(/Did you mean "text"/) });
    });
  });

  describe('discriminated unions (trunk auth)', () => {
    it('checks the branch the tag selects', () => {
      const d = check('trunk', `${TRUNK}auth:\n  type: ip\n  addresses: ["192.0.2.1"]\n  username: x\n`);
      expect(d).toMatchObject([{ rule: 'unknown-property', line: 7, col: 3, message: 'R auth has unknown property "username"' }]);
      expect(check('trunk', `${TRUNK}auth:\n  type: registration\n  username: u\n`)).toMatchObject([{ rule: 'missing-property', line: 5, col: 3, message: 'R auth is missing required property "password"' }]);
    });

    it('reports an unknown tag value at the tag', () => {
      expect(check('trunk', `${TRUNK}auth:\n  type: ipp\n  addresses: ["192.0.2.1"]\n`)).toMatchObject([{ rule: 'invalid-value', line: 5, col: 9, message: 'R auth.type is "ipp", not one of the allowed types' }]);
    });

    it('reports a missing tag once', () => {
      expect(check('trunk', `${TRUNK}auth:\n  addresses: ["192.0.2.1"]\n`)).toMatchObject([{ rule: 'missing-property', line: 5, col: 3, message: 'R auth is missing required property "type"' }]);
    });
  });

  it('reports invalid keys once, at the key', () => {
    const d = check('ivr', `${IVR}greeting: {text: hi}\noptions:\n  "1": hangup\n  "x": hangup\n  "12": hangup\n`);
    // (integer-like keys come first in JS objects; validate sorts diagnostics by position later)
    expect(d.sort((a, b) => a.line - b.line)).toMatchObject([
      { rule: 'invalid-value', line: 6, col: 3, message: 'R options has invalid key "x"' },
      { rule: 'invalid-value', line: 7, col: 3, message: 'R options has invalid key "12"' },
    ]);
  });

  it('applies conditional requirements without reporting the if itself', () => {
    const pbx = 'name: t\ndomain: pbx.example.com\nnumberPlan:\n  extensions: ["1000-1999"]\nnodes:\n  - name: n\n    type: ssh\n    host: h\n';
    const d = check('pbx', pbx, 'pbx.yaml');
    expect(d).toMatchObject([{ rule: 'missing-property', line: 6, col: 5, message: 'pbx.yaml nodes.0 is missing required property "user"' }]);
  });

  it('reports a wrong const (kind) as invalid-value', () => {
    expect(check('extension', EXT.replace('Extension', 'Queue'))).toMatchObject([{ rule: 'invalid-value', line: 1, col: 7, message: 'R kind must be "Extension"' }]);
  });
});
