/**
 * fast-check arbitraries for repo documents that are mostly schema-valid, with values drawn from
 * small pools of right and wrong ones (dangling references, loops, bad dates and patterns, ...),
 * so random repos get past the schema and exercise the semantic checks.
 */
import fc from 'fast-check';

const pick = <T>(...xs: T[]) => fc.constantFrom(...xs);

const dest = pick(
  'ring-group:a', 'ring-group:b', 'ivr:m', 'ivr:n', 'queue:q', 'queue:r', 'voicemail:1001', 'voicemail:1002', 'extension:1001',
  'extension:1999', 'schedule:s', 'conference:c', 'external:+15551230000', 'hangup', '"not a destination"',
);
const num = pick('"1001"', '1002', '"6000"', '6001', '"7000"', '"8000"', '"9000"', '"2001"', '"97"', '"01"');
const id = pick('a', 'b', 'm', 'n', 'q', 'r', 's', 'c', 'carrier', 'default', 'nope');
const secret = pick('"${secret:pw}"', '"${secret:nope}"', '"${env:PBXCTL_TEST_UNSET}"', 'plaintext');
const bool = pick('true', 'false');
const members = pick('[]', '[{extension: "1001"}]', '[{extension: 1001}, {extension: "1001"}]', '[{extension: "1555"}]', '[{external: "+15551230000"}]', '[{extension: "1001", external: "+15551230000"}]');
const prompt = pick('{text: hi}', '{file: prompts/x.wav}', '{file: prompts/y.wav}', '{file: prompts/ok.wav}', '{}');
const patterns = fc.array(pick('"_X."', '"_011."', '"_NXXNXXXXXX"', '"_1NXXNXXXXXX"', '"911"', '"_9!"', '"/^9/"', '"/(/"', '"_[9-1]"', '"_9.X"', '"_+1NXX."'), { minLength: 1, maxLength: 3 })
  .map((p) => `[${p.join(', ')}]`);
const hours = pick(
  '[]', '[{days: [mon], open: "09:00", close: "17:00"}]', '[{days: [mon], open: "09:00", close: "08:00"}]',
  '[{days: [mon, tue], open: "09:00", close: "12:00"}, {days: [mon], open: "11:00", close: "24:00"}]',
);
const holidays = pick('[{name: x, date: "2026-02-30"}]', '[{name: x, from: "2026-12-31", to: "2026-01-01"}]', '[{name: x, yearly: "02-29"}]', '[{name: x, yearly: "13-01"}]', '[{name: x, date: "2024-02-29"}]');
const overrides = pick('[{date: "2026-01-01", closed: true}]', '[{date: "2026-01-01", closed: true, open: "09:00", close: "10:00"}]', '[{date: "2026-01-01"}]', '[{date: "2026-01-01", closed: true}, {date: "2026-01-01", open: "10:00", close: "09:00"}]');

/** `key: value` lines: required ones always, optional ones sometimes. */
function mapping(kind: string, required: Record<string, fc.Arbitrary<string>>, optional: Record<string, fc.Arbitrary<string>>): fc.Arbitrary<string> {
  const opt = Object.fromEntries(Object.entries(optional).map(([k, a]) => [k, fc.option(a, { nil: undefined })]));
  return fc.record({ ...required, ...opt }).map((r) => [`kind: ${kind}`, ...Object.entries(r).filter(([, v]) => v !== undefined).map(([k, v]) => `${k}: ${v}`)].join('\n'));
}

export const resourceDocument: fc.Arbitrary<string> = fc.oneof(
  mapping('Extension', { number: num, name: pick('A'), password: secret }, {
    voicemail: fc.tuple(bool, secret).map(([e, p]) => `{enabled: ${e}, pin: ${p}}`),
    forward: fc.tuple(dest, dest).map(([a, b]) => `{busy: ${a}, noAnswer: ${b}}`),
    outboundClass: pick('internal', 'premium'),
  }),
  mapping('RingGroup', { id, strategy: pick('random', 'simultaneous'), members }, { number: num, fallback: dest }),
  mapping('Queue', { id, strategy: pick('ring-all'), agents: members.filter((m) => !m.includes('external')) }, {
    number: num, overflow: dest, musicOnHold: id, announcements: prompt.map((p) => `{join: ${p}}`),
  }),
  mapping('IVR', { id, greeting: prompt, options: fc.tuple(dest, dest).map(([a, b]) => `{"1": ${a}, "#": ${b}}`) }, {
    number: num, timeoutDestination: dest, invalidDestination: dest, directDial: bool, invalidPrompt: prompt,
  }),
  mapping('Schedule', { id, timezone: pick('UTC', 'America/New_York', 'Mars/Olympus'), hours }, { holidays, overrides, open: dest, closed: dest }),
  mapping('InboundRoute', { id, dids: pick('["+15551230000"]', '["+15551230000", "+15551230001"]') }, { destination: dest, schedule: id, open: dest, closed: dest, trunk: id }),
  mapping('OutboundRoute', { id, priority: pick('0', '10'), patterns, trunks: pick('[carrier]', '[nope]') }, { emergency: bool, classes: pick('[internal]', '[premium]') }),
  mapping('Trunk', { id, hosts: pick('[{host: sip.example.net}]'), auth: pick('{type: ip, addresses: ["192.0.2.1"]}', '{type: registration, username: u, password: "${secret:nope}"}') }, {}),
  mapping('Conference', { id, number: num }, { pin: secret, musicOnHold: id }),
  mapping('MusicOnHold', { id, files: pick('[prompts/ok.wav]', '[prompts/x.wav, moh/none.wav]') }, {}),
  mapping('Webhook', { id, url: pick('https://example.com/h'), events: pick('["*"]'), secret }, {}),
  mapping('VoicemailSettings', {}, { greeting: prompt, email: secret.map((s) => `{from: vm@example.com, smtp: {host: smtp.example.com, password: ${s}}}`) }),
);

/** One to eight resource documents in one file. */
export const resourceFile: fc.Arbitrary<string> = fc.array(resourceDocument, { minLength: 1, maxLength: 8 }).map((docs) => `${docs.join('\n---\n')}\n`);
