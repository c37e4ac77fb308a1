import { useMemo, useState } from 'react';
import { LOG_LEVELS, type LogLevel, type LogSource } from '../../src-shared/domain.js';
import { useApp } from '../app-context.js';
import { Alert, ConfirmDialog } from '../components/controls.js';
import { Icon } from '../components/Icon.js';
import { formatBytes, formatClock, plural } from '../model/format.js';

const RANK: Record<LogLevel, number> = { error: 0, warn: 1, info: 2, debug: 3, trace: 4 };
const SHOWN = 500;

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
