/**
 * The ink UI of `pbxctl calls tail`: header, live table, detail pane, filter, sort, hang-up with
 * confirmation, help. It renders a {@link ModelStore} (the pure live model kept current by the
 * event stream elsewhere) and never does I/O itself except through `hangup`.
 */
import { Box, Text, useApp, useInput, useStdout } from 'ink';
import { useEffect, useRef, useState, useSyncExternalStore } from 'react';
import { queuedCount, type CallView, type LiveModel } from './model/live-model.js';
import { SORTS, columnsFor, fit, formatDuration, mediaGrade, stateLabel, tableLine, visibleCalls, type SortOrder } from './model/view.js';
import { palette, type Palette } from './palette.js';

/** A source of the current model that tells when it changed (React's external-store contract). */
export interface ModelStore {
  get(): LiveModel;
  subscribe(onChange: () => void): () => void;
}

/** Props of {@link CallsApp}. */
export interface CallsAppProps {
  store: ModelStore;
  /** Ends the call; resolves with a short message, rejects with the reason. */
  hangup(call: CallView): Promise<string>;
  color: boolean;
  /** Terminal size override (tests); default: the stdout's columns and rows. */
  width?: number;
  height?: number;
  /** Clock, ms since the epoch (durations tick every `tickMs`, 1000 by default; 0: no ticking). */
  now?: () => number;
  tickMs?: number;
  initialFilter?: string;
}

type Mode = 'table' | 'detail' | 'filter' | 'confirm' | 'help';

const KEYS: readonly [string, string][] = [
  ['↑/↓ j/k', 'move'],
  ['Enter', 'details of the call (its timeline)'],
  ['/', 'filter: number, extension, name, queue, state'],
  ['s', 'change the sort order'],
  ['h', 'hang up the selected call (asks first)'],
  ['Esc', 'back / clear the filter'],
  ['?', 'this help'],
  ['q', 'quit'],
];

function useTerminalSize(w?: number, h?: number): { width: number; height: number } {
  const { stdout } = useStdout();
  const [size, setSize] = useState({ width: stdout.columns || 80, height: stdout.rows || 24 });
  useEffect(() => {
    const onResize = () => setSize({ width: stdout.columns || 80, height: stdout.rows || 24 });
    stdout.on('resize', onResize);
    return () => {
      stdout.off('resize', onResize);
    };
  }, [stdout]);
  return { width: w ?? size.width, height: h ?? size.height };
}

function Header({ m, width, p, now }: { m: LiveModel; width: number; p: Palette; now: number }) {
  const h = m.header;
  const release = h.release ? `${h.release}${h.commit ? ` @${h.commit.slice(0, 8)}` : ''}` : 'no release';
  // A node without a pbxctl inventory has no configured extensions to count against.
  const phones = h.configured ? `phones ${h.registered ?? 0}/${h.configured}` : '';
  const trunks = Object.entries(h.trunks).map(([id, s]) => `${id}:${s}`).join(' ');
  const conn = m.connection === 'live' ? '' : m.connection === 'reconnecting' ? '  RECONNECTING…' : '  connecting…';
  const line1 = `pbxctl calls tail — ${h.node}  ${release}  ${phones}`;
  const line2 = `calls ${m.calls.size}  queued ${queuedCount(m)}${trunks ? `  trunks ${trunks}` : ''}  ${new Date(now).toISOString().slice(11, 19)}Z`;
  return (
    <Box flexDirection="column">
      <Text wrap="truncate" bold color={p.accent}>
        {fit(line1, Math.max(0, width - conn.length)).trimEnd()}
        {conn ? <Text color={p.warn}>{conn}</Text> : null}
      </Text>
      <Text wrap="truncate">{fit(line2, width).trimEnd()}</Text>
    </Box>
  );
}

function Detail({ c, width, height, now, p }: { c: CallView; width: number; height: number; now: number; p: Palette }) {
  const facts = [
    `Call-ID ${c.callId}  (${[c.sources.daemon ? 'daemon' : '', c.sources.kamailio ? 'kamailio' : ''].filter(Boolean).join(' + ')})`,
    `${c.caller.number}${c.caller.name ? ` "${c.caller.name}"` : ''} -> ${c.callee.number}${c.callee.name ? ` "${c.callee.name}"` : ''}${c.did ? `  DID ${c.did}` : ''}${c.trunk ? `  trunk ${c.trunk}` : ''}`,
    `${stateLabel(c)}  ${formatDuration(now - c.startedAt)}${c.answeredAt ? `  talking ${formatDuration(now - c.answeredAt)}` : ''}${c.codec ? `  codec ${c.codec}` : ''}`,
  ];
  const room = Math.max(1, height - facts.length - 2);
  const lines = c.timeline.slice(-room);
  return (
    <Box flexDirection="column">
      {facts.map((f, i) => (
        <Text key={`f${i}`} wrap="truncate" bold={i === 0}>
          {fit(f, width).trimEnd()}
        </Text>
      ))}
      <Text color={p.dim} wrap="truncate">
        {fit('Timeline (Esc: back)', width).trimEnd()}
      </Text>
      {lines.map((t, i) => (
        <Text key={`t${i}`} wrap="truncate">
          {fit(`${new Date(t.at).toISOString().slice(11, 23)}  ${t.text}`, width).trimEnd()}
        </Text>
      ))}
    </Box>
  );
}

/** The live operator view. */
export function CallsApp(props: CallsAppProps) {
  const { exit } = useApp();
  const m = useSyncExternalStore(props.store.subscribe, props.store.get);
  const { width, height } = useTerminalSize(props.width, props.height);
  const clock = props.now ?? Date.now;
  const [now, setNow] = useState(clock());
  const [mode, setMode] = useState<Mode>('table');
  const [filter, setFilter] = useState(props.initialFilter ?? '');
  const [sort, setSort] = useState<SortOrder>('longest');
  const [selectedId, setSelectedId] = useState<string | undefined>();
  const [message, setMessage] = useState<string>('');
  const p = palette(props.color);

  useEffect(() => {
    const tick = props.tickMs ?? 1000;
    if (tick <= 0) return;
    const t = setInterval(() => setNow(clock()), tick);
    return () => clearInterval(t);
  }, [props.tickMs, clock]);

  const rows = visibleCalls(m, filter, sort);
  let index = rows.findIndex((c) => c.callId === selectedId);
  if (index < 0) index = Math.min(rows.length - 1, 0);
  const selected = index >= 0 ? rows[index] : undefined;
  const select = (i: number) => setSelectedId(rows[Math.max(0, Math.min(rows.length - 1, i))]?.callId);

  // Mode and filter as of the last key: a pasted or fast-typed chunk (`/sales` + Enter arriving as
  // one read) is handled key by key before React re-renders.
  const ui = useRef({ mode, filter });
  ui.current = { mode, filter };
  const goMode = (m: Mode) => {
    ui.current.mode = m;
    setMode(m);
  };
  const putFilter = (f: string) => {
    ui.current.filter = f;
    setFilter(f);
  };

  type KeyInfo = Parameters<Parameters<typeof useInput>[0]>[1];
  const onKey = (input: string, key: KeyInfo) => {
    const mode = ui.current.mode;
    const filter = ui.current.filter;
    if (mode === 'filter') {
      if (key.return) goMode('table');
      else if (key.escape) {
        putFilter('');
        goMode('table');
      } else if (key.backspace || key.delete) putFilter(filter.slice(0, -1));
      else if (input && !key.ctrl && !key.meta) putFilter(filter + input);
      return;
    }
    if (mode === 'confirm') {
      if (input === 'y' || input === 'Y') {
        const c = selected;
        goMode('table');
        if (c) {
          setMessage(`hanging up ${c.callId}…`);
          props.hangup(c).then(
            (msg) => setMessage(msg),
            (e: unknown) => setMessage(`hang-up failed: ${e instanceof Error ? e.message : String(e)}`),
          );
        }
      } else goMode('table');
      return;
    }
    if (input === 'q' || (key.ctrl && input === 'c')) {
      exit();
      return;
    }
    if (key.escape) {
      if (mode === 'table' && filter) putFilter('');
      goMode('table');
      return;
    }
    if (input === '?') goMode(mode === 'help' ? 'table' : 'help');
    else if (key.upArrow || input === 'k') select(index - 1);
    else if (key.downArrow || input === 'j') select(index + 1);
    else if (key.return && selected) goMode(mode === 'detail' ? 'table' : 'detail');
    else if (input === '/') goMode('filter');
    else if (input === 's') setSort((s) => SORTS[(SORTS.indexOf(s) + 1) % SORTS.length]!);
    else if (input === 'h' && selected) {
      setMessage('');
      goMode('confirm');
    }
  };

  useInput((input, key) => {
    const plain = !key.ctrl && !key.meta && !key.escape && !key.upArrow && !key.downArrow;
    if (input.length > 1 && plain) {
      for (const ch of input) onKey(ch === '\r' ? '' : ch, { ...key, return: ch === '\r' });
      return;
    }
    onKey(input, key);
  });

  const cols = columnsFor(width);
  const bodyHeight = Math.max(1, height - 5);
  const first = Math.max(0, Math.min(index - bodyHeight + 1, rows.length - bodyHeight));
  const shown = rows.slice(Math.max(0, first), Math.max(0, first) + bodyHeight);
  const status =
    mode === 'filter'
      ? `/${filter}▏ (Enter: keep, Esc: clear)`
      : mode === 'confirm' && selected
        ? `Hang up ${selected.caller.number} -> ${selected.callee.number} (${selected.callId})? y/N`
        : `${rows.length}/${m.calls.size} calls  sort: ${sort}${filter ? `  filter: ${filter}` : ''}  ${message || '?: keys  q: quit'}`;

  return (
    <Box flexDirection="column" width={width}>
      <Header m={m} width={width} p={p} now={now} />
      {mode === 'help' ? (
        <Box flexDirection="column">
          {KEYS.map(([k, d]) => (
            <Text key={k} wrap="truncate">
              {fit(`${k.padEnd(10)} ${d}`, width).trimEnd()}
            </Text>
          ))}
        </Box>
      ) : mode === 'detail' && selected ? (
        <Detail c={selected} width={width} height={bodyHeight} now={now} p={p} />
      ) : (
        <Box flexDirection="column">
          <Text bold wrap="truncate">
            {`  ${tableLine(cols, undefined, now, width - 2)}`}
          </Text>
          {shown.length === 0 ? <Text color={p.dim}>{filter ? '  no call matches the filter' : '  no calls in progress'}</Text> : null}
          {shown.map((c) => {
            const isSel = c.callId === selected?.callId;
            const grade = mediaGrade(c);
            return (
              <Text key={c.callId} wrap="truncate" inverse={isSel} color={grade === 'bad' || grade === 'fair' ? p.media(grade) : p.phase(c.phase)}>
                {`${isSel ? '>' : ' '} ${tableLine(cols, c, now, width - 2)}`}
              </Text>
            );
          })}
        </Box>
      )}
      <Text wrap="truncate" color={mode === 'confirm' ? p.warn : p.dim}>
        {fit(status, width).trimEnd()}
      </Text>
    </Box>
  );
}
