// Renderer entry. `window.fz` is the IPC contract exposed by the preload (or by the Playwright
// mock, generated from the same schema); nothing else from main is reachable.

import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { StoreProvider } from './app-context.js';
import { App } from './App.js';
import { createAppStore } from './store.js';
import './styles.css';

const root = document.getElementById('root')!;
const api = window.fz;

if (!api) {
  root.textContent = 'This page is the FZ Desktop window and only works inside the app.';
} else {
  const store = createAppStore(api);
  // Report the window's own crashes to main's log (the renderer has no file access).
  window.addEventListener('error', (e) =>
    api.logs.write({ level: 'error', message: `${e.message} (${e.filename}:${e.lineno})` }),
  );
  window.addEventListener('unhandledrejection', (e) =>
    api.logs.write({ level: 'error', message: `unhandled rejection: ${String(e.reason)}` }),
  );
  createRoot(root).render(
    <StrictMode>
      <StoreProvider store={store}>
        <App />
      </StoreProvider>
    </StrictMode>,
  );
  void store.getState().start();
}
