// Icons drawn inline (no icon font, no remote assets: the CSP allows neither).

const PATHS = {
  shield: 'M12 2.5 20 5.3v6c0 5-3.4 8.7-8 10.2C7.4 20 4 16.3 4 11.3v-6Z',
  key: 'M12 6.2a2.6 2.6 0 1 1 0 5.2 2.6 2.6 0 0 1 0-5.2Zm0 5.2v7m0-3.4h2.2m-2.2 2.3h1.6',
  search: 'M10.5 4a6.5 6.5 0 1 1 0 13 6.5 6.5 0 0 1 0-13Zm4.7 11.2L20 20',
  star: 'm12 3.6 2.6 5.3 5.8.8-4.2 4.1 1 5.8-5.2-2.7-5.2 2.7 1-5.8-4.2-4.1 5.8-.8Z',
  copy: 'M9 9h10v11H9Zm-4 6V4h10',
  chevron: 'm9 6 6 6-6 6',
  down: 'm6 9 6 6 6-6',
  close: 'M6 6l12 12M18 6 6 18',
  lock: 'M7 11V8a5 5 0 0 1 10 0v3M5.5 11h13v9.5h-13Z',
  info: 'M12 3a9 9 0 1 1 0 18 9 9 0 0 1 0-18Zm0 7.5V16m0-8.2v.1',
  alert: 'M12 3.5 21.5 20h-19Zm0 6.5v4.5m0 2.7v.1',
  check: 'm5 12.5 4.5 4.5L19 7.5',
  globe:
    'M12 3a9 9 0 1 1 0 18 9 9 0 0 1 0-18Zm-9 9h18M12 3c2.5 2.6 3.7 5.6 3.7 9s-1.2 6.4-3.7 9c-2.5-2.6-3.7-5.6-3.7-9S9.5 5.6 12 3Z',
  grid: 'M4 4h7v7H4Zm9 0h7v7h-7ZM4 13h7v7H4Zm9 0h7v7h-7Z',
  gear: 'M12 8.8a3.2 3.2 0 1 1 0 6.4 3.2 3.2 0 0 1 0-6.4Zm7.4 4.6.1-1.4-.1-1.4 2-1.6-2-3.4-2.4 1a7.6 7.6 0 0 0-2.4-1.4L14.2 2.7h-4l-.4 2.5c-.9.3-1.7.8-2.4 1.4l-2.4-1-2 3.4 2 1.6-.1 1.4.1 1.4-2 1.6 2 3.4 2.4-1c.7.6 1.5 1.1 2.4 1.4l.4 2.5h4l.4-2.5c.9-.3 1.7-.8 2.4-1.4l2.4 1 2-3.4Z',
  list: 'M8 6h12M8 12h12M8 18h12M4 6h.01M4 12h.01M4 18h.01',
  about: 'M12 3a9 9 0 1 1 0 18 9 9 0 0 1 0-18Zm0 7.5V16m0-8.2v.1',
  power: 'M12 3v8m5.7-4.7a8 8 0 1 1-11.4 0',
  external: 'M14 4h6v6m0-6-9 9M19 14v6H4V5h6',
  folder: 'M3.5 6.5h6l2 2h9v10h-17Z',
  download: 'M12 4v11m-5-5 5 5 5-5M5 20h14',
  trash: 'M5 7h14M10 7V4.5h4V7m-7.5 0 1 13h9l1-13',
  refresh: 'M19.5 12a7.5 7.5 0 1 1-2.2-5.3M19.5 4v4h-4',
  signout: 'M14 4h5v16h-5M10 8l-4 4 4 4M6 12h10',
  route: 'M6 19a2 2 0 1 0 0-.01ZM18 5a2 2 0 1 0 0-.01ZM6 17V9a3 3 0 0 1 3-3h7M18 7v8a3 3 0 0 1-3 3H8',
} as const;

export type IconName = keyof typeof PATHS;

export function Icon({
  name,
  size = 18,
  filled = false,
  className,
}: {
  name: IconName;
  size?: number;
  filled?: boolean;
  className?: string;
}) {
  return (
    <svg
      className={className ? `icon ${className}` : 'icon'}
      width={size}
      height={size}
      viewBox="0 0 24 24"
      aria-hidden="true"
      focusable="false"
      fill={filled ? 'currentColor' : 'none'}
      stroke="currentColor"
      strokeWidth={1.8}
      strokeLinecap="round"
      strokeLinejoin="round"
    >
      <path d={PATHS[name]} />
    </svg>
  );
}

/** The app mark: a shield with a key, as in resources/icon.svg. */
export function Logo({ size = 28 }: { size?: number }) {
  return (
    <svg
      width={size}
      height={size}
      viewBox="0 0 512 512"
      aria-hidden="true"
      focusable="false"
      className="logo"
    >
      <path
        d="M256 28 L440 92 V236 C440 356 366 440 256 486 C146 440 72 356 72 236 V92 Z"
        fill="var(--brand)"
        stroke="var(--brand-rim)"
        strokeWidth="14"
        strokeLinejoin="round"
      />
      <g fill="none" stroke="#fff" strokeLinecap="round" strokeLinejoin="round">
        <circle cx="256" cy="178" r="58" strokeWidth="30" />
        <path d="M256 236 V392" strokeWidth="30" />
        <path d="M256 318 H306 M256 370 H292" strokeWidth="26" />
      </g>
    </svg>
  );
}
