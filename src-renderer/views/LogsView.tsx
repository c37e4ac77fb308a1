import { useMemo, useState } from 'react';
import {
  LOG_LEVELS,
  type CaptureEndReason,
  type CaptureState,
  type LogLevel,
  type LogSource,
  type UserError,
} from '../../src-shared/domain.js';
import { useApp, useNow } from '../app-context.js';
import { Alert, ConfirmDialog, Spinner } from '../components/controls.js';
import { Icon } from '../components/Icon.js';
import { formatBytes, formatClock, formatCountdown, plural } from '../model/format.js';

const RANK: Record<LogLevel, number> = { error: 0, warn: 1, info: 2, debug: 3, trace: 4 };
const SHOWN = 500;
const CAPTURE_DURATIONS = [10, 30, 60] as const;
const CAPTURE_ENDS: Record<CaptureEndReason, string> = {
  time: 'the chosen duration ran out',
  size: 'the file reached its size limit',
  stopped: 'stopped early',
};

export function LogsView() {
  const logs = useApp((s) => s.logs);
  const logDir = useApp((s) => s.info?.logDirectory ?? '');
  const level = useApp((s) => s.settings?.values.logLevel ?? 'info');
  const exportLogs = useApp((s) => s.exportLogs);
  const clearLogs = useApp((s) => s.clearLogs);
  const openFolder = useApp((s) => s.openLogFolder);
  const setView = useApp((s) => s.setView);
  const [minLevel, setMinLevel] = useState<LogLevel>('trace');
  const [source, setSource] = useState<LogSource | 'all'>('all');
  const [text, setText] = useState('');
  const [confirmClear, setConfirmClear] = useState(false);
  const [exported, setExported] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const filtered = useMemo(() => {
    const q = text.trim().toLowerCase();
    return logs.filter(
      (e) =>
        RANK[e.level] <= RANK[minLevel] &&
        (source === 'all' || e.source === source) &&
        (!q || e.message.toLowerCase().includes(q)),
    );
  }, [logs, minLevel, source, text]);
  const shown = filtered.slice(-SHOWN).reverse();

  return (
    <main className="page page-logs" aria-labelledby="logs-title">
      <header className="page-head">
        <div>
          <h1 id="logs-title">Logs</h1>
          <p className="muted">
            Recording at level <strong>{level}</strong> (
            <button type="button" className="link" onClick={() => setView('settings')}>
              change
            </button>
            ). Files are kept in <span className="mono small">{logDir}</span>.
          </p>
        </div>
        <div className="button-row">
          <button
            type="button"
            className="btn btn-primary"
            disabled={busy}
            onClick={() => {
              setBusy(true);
              void exportLogs().then((r) => {
                setBusy(false);
                if (r)
                  setExported(`Saved ${plural(r.files, 'log file')} (${formatBytes(r.bytes)}) to ${r.path}`);
              });
            }}
          >
            <Icon name="download" size={16} />
            Export…
          </button>
          <button type="button" className="btn" onClick={() => void openFolder()}>
            <Icon name="folder" size={16} />
            Open folder
          </button>
          <button type="button" className="btn btn-danger-ghost" onClick={() => setConfirmClear(true)}>
            <Icon name="trash" size={16} />
            Clear…
          </button>
        </div>
      </header>

      {exported ? (
        <Alert tone="info" title="Logs exported">
          {exported}
        </Alert>
      ) : null}

      <PacketCapture />

      <div className="toolbar" role="group" aria-label="Filter logs">
        <label className="inline-field">
          <span>Level</span>
          <select
            className="input"
            value={minLevel}
            onChange={(e) => setMinLevel(e.target.value as LogLevel)}
          >
            {LOG_LEVELS.map((l) => (
              <option key={l} value={l}>
                {l === 'trace'
                  ? 'All levels'
                  : l === 'error'
                    ? 'Errors'
                    : `${l[0]!.toUpperCase()}${l.slice(1)} and above`}
              </option>
            ))}
          </select>
        </label>
        <label className="inline-field">
          <span>Source</span>
          <select
            className="input"
            value={source}
            onChange={(e) => setSource(e.target.value as LogSource | 'all')}
          >
            <option value="all">All</option>
            <option value="main">App</option>
            <option value="engine">Tunnel engine</option>
            <option value="renderer">Window</option>
          </select>
        </label>
        <label className="inline-field grow">
          <span>Find</span>
          <input
            type="search"
            className="input"
            value={text}
            onChange={(e) => setText(e.target.value)}
            placeholder="Text in the message"
            spellCheck={false}
          />
        </label>
      </div>

      <p className="small muted" aria-live="polite">
        {filtered.length > SHOWN
          ? `Showing the newest ${SHOWN} of ${filtered.length} entries. Export the logs to see everything.`
          : `${plural(filtered.length, 'entry', 'entries')}, newest first.`}
      </p>
      {shown.length === 0 ? (
        <div className="empty">
          <Icon name="list" size={32} />
          <h2>No log entries</h2>
          <p className="muted">{logs.length ? 'Nothing matches the filter.' : 'The log is empty.'}</p>
        </div>
      ) : (
        <div className="log-wrap" tabIndex={0} role="region" aria-label="Log entries">
          <table className="log-table">
            <thead>
              <tr>
                <th scope="col">Time</th>
                <th scope="col">Level</th>
                <th scope="col">Source</th>
                <th scope="col">Message</th>
              </tr>
            </thead>
            <tbody>
              {shown.map((e) => (
                <tr key={e.seq} className={`log-${e.level}`}>
                  <td className="mono nowrap">{formatClock(e.time)}</td>
                  <td>
                    <span className={`level level-${e.level}`}>{e.level}</span>
                  </td>
                  <td className="nowrap">{e.source}</td>
                  <td className="mono log-msg">{e.message}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}

      <ConfirmDialog
        open={confirmClear}
        title="Clear the logs?"
        body="This deletes the log files on this computer. Export them first if you want to send them to support."
        confirmLabel="Clear logs"
        danger
        onCancel={() => setConfirmClear(false)}
        onConfirm={() => {
          setConfirmClear(false);
          setExported(null);
          void clearLogs();
        }}
      />
    </main>
  );
}

/** "Capture packets": the tunnel's packets to a pcap file, with main asking where to save. */
function PacketCapture() {
  const capture = useApp((s) => s.capture);
  const connected = useApp((s) => s.tunnel.state === 'connected');
  const startCapture = useApp((s) => s.startCapture);
  const stopCapture = useApp((s) => s.stopCapture);
  const [seconds, setSeconds] = useState<number>(CAPTURE_DURATIONS[1]);
  const [starting, setStarting] = useState(false);
  const [refused, setRefused] = useState<UserError | null>(null);
  const running = capture.state === 'running';
  const error = refused ?? (capture.state === 'failed' ? capture.error : null);

  return (
    <section className="card capture" aria-labelledby="capture-title">
      <div className="capture-row">
        <div className="capture-text">
          <h2 id="capture-title">Packet capture</h2>
          <p className="small muted" id="capture-description">
            Records the tunnel’s packets (both directions, including the peer-to-peer control packets) to a
            pcap file for Wireshark or tcpdump. The file holds your traffic unencrypted: share it only with
            the people troubleshooting.
          </p>
        </div>
        <div className="capture-controls">
          <label className="inline-field">
            <span>Duration</span>
            <select
              className="input"
              value={seconds}
              disabled={running || starting}
              onChange={(e) => setSeconds(Number(e.target.value))}
            >
              {CAPTURE_DURATIONS.map((d) => (
                <option key={d} value={d}>
                  {d} s
                </option>
              ))}
            </select>
          </label>
          {running ? (
            <button type="button" className="btn btn-danger-ghost" onClick={() => void stopCapture()}>
              <Icon name="close" size={16} />
              Stop capture
            </button>
          ) : (
            <button
              type="button"
              className="btn"
              disabled={!connected || starting}
              aria-describedby="capture-description"
              onClick={() => {
                setStarting(true);
                setRefused(null);
                void startCapture(seconds).then((e) => {
                  setStarting(false);
                  setRefused(e);
                });
              }}
            >
              <Icon name="download" size={16} />
              Capture packets…
            </button>
          )}
        </div>
      </div>
      <div className="capture-status" role="status">
        <CaptureStatus capture={capture} starting={starting} />
        {!connected && !running ? <p className="small muted">Connect to capture packets.</p> : null}
      </div>
      {error ? (
        <Alert tone="error" title="Packet capture failed">
          {error.message}
        </Alert>
      ) : null}
    </section>
  );
}

function CaptureStatus({ capture, starting }: { capture: CaptureState; starting: boolean }) {
  if (starting) return <p className="small muted">Choose where to save the capture…</p>;
  switch (capture.state) {
    case 'running':
      return <CaptureProgress capture={capture} />;
    case 'finished': {
      const r = capture.result;
      return (
        <p className="inline-status tone-ok">
          <Icon name="check" size={16} />
          <span>
            Saved {plural(r.packets, 'packet')} ({formatBytes(r.bytes)}) to{' '}
            <span className="mono">{r.path}</span> — {CAPTURE_ENDS[r.reason]}
            {r.dropped ? `; ${plural(r.dropped, 'packet')} dropped` : ''}.
          </span>
        </p>
      );
    }
    case 'failed': // shown as an alert below
    case 'idle':
      return null;
  }
}

function CaptureProgress({ capture }: { capture: Extract<CaptureState, { state: 'running' }> }) {
  const now = useNow(1000);
  const left = capture.startedAt + capture.seconds * 1000 - now;
  return (
    <p className="inline-status">
      <Spinner />
      <span>
        Capturing to <span className="mono">{capture.path}</span>: {plural(capture.packets, 'packet')} (
        {formatBytes(capture.bytes)}), {formatCountdown(left)} left.
      </span>
    </p>
  );
}
