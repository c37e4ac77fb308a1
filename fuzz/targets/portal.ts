/**
 * Portal frames: random text, random JSON, random frame-shaped objects and mutations of the real
 * frames a simulated portal sends (captured from a run of the simulation) go through the Phoenix
 * frame decoder into the engine's session core of the matching role, and the same texts go to
 * the simulation portal's signalling core as if a client sent them.
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { decodeFrame, encodeFrame, type Frame } from '../../src-engine/portal/frame.js';
import {
  PortalSessionCore,
  type PortalRole,
  type SessionStats,
} from '../../src-engine/portal/session-core.js';
import { buildIcmpEcho } from '../../src-engine/packet/index.js';
import { parseIpAddress } from '../../src-engine/packet/index.js';
import { SIM_CLIENT_UA } from '../../sim/hosts.js';
import { buildWorld } from '../../sim/world.js';
import type { SimConnection, SimPortal } from '../../src-portal/sim/sim-portal.js';
import type { FuzzTarget } from '../target.js';

/** Frames the portal sent to clients and gateways during a short simulated run. */
function captureFrames(): Frame[] {
  const w = buildWorld({ seed: 'fuzz-portal-capture' });
  const frames: Frame[] = [];
  const signalling = w.portal.signalling;
  const poll = signalling.pollOutput.bind(signalling);
  signalling.pollOutput = () => {
    const output = poll();
    if (output?.kind === 'frame') frames.push(output.frame);
    return output;
  };
  w.run(2_000);
  const src = parseIpAddress(w.client.state.tunnelAddresses?.ipv4 ?? '100.64.0.1')!;
  for (let seq = 1; seq <= 8; seq++) {
    const ping = buildIcmpEcho({
      src,
      dst: parseIpAddress('10.20.1.5')!,
      echo: 'request',
      identifier: 1,
      sequence: seq,
    }) as Uint8Array;
    w.client.send(ping);
    w.run(250);
  }
  signalling.pollOutput = poll;
  return frames.filter((f) => f.topic === 'client' || f.topic === 'gateway');
}

/** Every path into a JSON value (objects and arrays), the root included. */
function paths(value: unknown, prefix: (string | number)[] = []): (string | number)[][] {
  const out = [prefix];
  if (Array.isArray(value)) value.forEach((v, i) => out.push(...paths(v, [...prefix, i])));
  else if (value !== null && typeof value === 'object')
    for (const [k, v] of Object.entries(value)) out.push(...paths(v, [...prefix, k]));
  return out;
}

type JsonEdit = { readonly at: number; readonly op: 'replace' | 'delete'; readonly value: unknown };

/** Applies an edit to a deep copy: replaces or deletes the value at one path. */
function editJson(root: unknown, edit: JsonEdit): unknown {
  if (root === undefined) return edit.op === 'replace' ? edit.value : undefined;
  const copy = JSON.parse(JSON.stringify(root)) as unknown;
  const all = paths(copy);
  const path = all[edit.at % all.length]!;
  if (path.length === 0) return edit.op === 'replace' ? edit.value : undefined;
  let parent = copy as Record<string | number, unknown>;
  for (const key of path.slice(0, -1)) parent = parent[key] as Record<string | number, unknown>;
  const last = path[path.length - 1]!;
  if (edit.op === 'delete') {
    if (Array.isArray(parent)) parent.splice(last as number, 1);
    else Reflect.deleteProperty(parent, last);
  } else parent[last] = edit.value;
  return copy;
}

const jsonValue = fc.oneof(
  fc.jsonValue({ maxDepth: 2 }),
  fc.constantFrom(null, '', 0, -1, 1e308, '::', '1.2.3.4:99999', 'not-a-uuid', [], {}),
);

type Case =
  | { readonly kind: 'text'; readonly role: PortalRole; readonly text: string }
  | { readonly kind: 'edit'; readonly frame: number; readonly edits: readonly JsonEdit[] }
  | {
      readonly kind: 'textEdit';
      readonly frame: number;
      readonly at: number;
      readonly cut: number;
      readonly insert: string;
    };

function caseArb(count: number): fc.Arbitrary<Case> {
  const role = fc.constantFrom<PortalRole>('client', 'gateway');
  const frameIndex = fc.nat(Math.max(0, count - 1));
  return fc.oneof(
    fc.record({
      kind: fc.constant('text' as const),
      role,
      text: fc.oneof(
        fc.string({ maxLength: 200 }),
        fc.json({ maxDepth: 3 }),
        role.chain((r) =>
          fc
            .record({
              topic: fc.oneof(fc.constant(r), fc.string({ maxLength: 10 }), jsonValue),
              event: fc.oneof(
                fc.constantFrom(
                  'init',
                  'phx_reply',
                  'phx_close',
                  'phx_error',
                  'disconnect',
                  'resource_created_or_updated',
                  'authorize_flow',
                  'ice_candidates',
                  'flow_authorized',
                ),
                fc.string({ maxLength: 20 }),
                jsonValue,
              ),
              payload: jsonValue,
              ref: fc.oneof(fc.constant(null), fc.nat(), fc.string({ maxLength: 70 }), jsonValue),
            })
            .map((o) => JSON.stringify(o)),
        ),
      ),
    }),
    {
      weight: 4,
      arbitrary: fc.record({
        kind: fc.constant('edit' as const),
        frame: frameIndex,
        edits: fc.array(
          fc.record({
            at: fc.nat(),
            op: fc.constantFrom('replace' as const, 'delete' as const),
            value: jsonValue,
          }),
          { minLength: 1, maxLength: 3 },
        ),
      }),
    },
    fc.record({
      kind: fc.constant('textEdit' as const),
      frame: frameIndex,
      at: fc.nat(),
      cut: fc.nat(8),
      insert: fc.string({ maxLength: 4 }),
    }),
  );
}

const classified = (s: SessionStats): number =>
  s.messages + s.invalidMessages + s.unknownEvents + s.ignoredEvents;

/** A session core of `role`, joined. */
function joinedCore(role: PortalRole): PortalSessionCore<PortalRole> {
  const core = new PortalSessionCore<PortalRole>({ role, random: () => 0.5 });
  core.start(0);
  assert.equal(core.pollAction()?.kind, 'connect');
  core.handleSocketOpened(0);
  assert.equal(core.pollAction()?.kind, 'join');
  core.handleJoinReply('ok', {}, 0);
  assert.equal(core.state.status, 'joined');
  while (core.pollAction());
  while (core.pollEvent());
  return core;
}

export const portalTarget: FuzzTarget = {
  name: 'portal',
  invariants: [
    'random text, random JSON, frame-shaped objects with wrong fields, and real portal frames with values replaced or deleted (or their text cut): decodeFrame never throws and returns a frame or a classified error',
    "a decoded frame on the role's topic is classified by the joined session core exactly once (message, invalid with a PortalMessageError, unknown or ignored event; phx_* handled), never thrown",
    "the simulation portal's signalling core takes the same texts from a connected client without throwing",
  ],
  batchRuns: 200,
  ciRuns: 1000,
  create: () => {
    const frames = captureFrames();
    if (frames.length < 4) throw new Error(`captured only ${frames.length} portal frames`);
    const texts = frames.map((f) => encodeFrame(f));
    const cores = { client: joinedCore('client'), gateway: joinedCore('gateway') };
    const w = buildWorld({ seed: 'fuzz-portal-target' });
    const portal: SimPortal = w.portal;
    const token = portal.mintClientToken('alice@acme.test');
    let connection: SimConnection | undefined;
    const portalConnection = (): SimConnection => {
      if (connection && !connection.closed) return connection;
      const result = portal.connect({
        role: 'client',
        token,
        publicKey: Buffer.alloc(32, 9).toString('base64'),
        externalId: 'fuzz-client',
        userAgent: SIM_CLIENT_UA,
      });
      if (!result.ok) throw new Error(`the simulation portal refused the fuzz client: ${result.detail}`);
      connection = result.connection;
      connection.onFrame = () => undefined;
      connection.send(encodeFrame({ topic: 'client', event: 'phx_join', payload: {}, ref: 0 }));
      portal.advanceBy(50);
      return connection;
    };

    const feed = (role: PortalRole, text: string): void => {
      const decoded = decodeFrame(text);
      if (!decoded.ok) {
        assert.ok(['too_large', 'binary', 'invalid_json', 'invalid_frame'].includes(decoded.error.kind));
      } else if (decoded.frame.topic === role && !decoded.frame.event.startsWith('phx_')) {
        let core = cores[role];
        if (core.state.status !== 'joined') core = cores[role] = joinedCore(role);
        const before = classified(core.stats);
        core.handleMessage(decoded.frame.event, decoded.frame.payload, 1);
        assert.equal(classified(core.stats), before + 1, 'a frame was not classified exactly once');
        for (let e = core.pollEvent(); e; e = core.pollEvent()) {
          if (e.type === 'invalid_message')
            assert.ok(e.error.message.length > 0, 'an invalid message without an error');
        }
        while (core.pollAction());
      } else if (decoded.ok) {
        const core = cores[role];
        core.handleMessage(decoded.frame.event, decoded.frame.payload, 1);
        while (core.pollEvent());
        while (core.pollAction());
      }
      // The portal side: the same text from a connected client.
      portalConnection().send(text);
      portal.advanceBy(25);
    };

    return {
      property: fc.property(caseArb(frames.length), (c) => {
        if (c.kind === 'text') {
          feed(c.role, c.text);
          return;
        }
        const frame = frames[c.frame % frames.length]!;
        const role = frame.topic as PortalRole;
        if (c.kind === 'edit') {
          let value: unknown = {
            topic: frame.topic,
            event: frame.event,
            payload: frame.payload,
            ref: frame.ref,
          };
          for (const edit of c.edits) value = editJson(value, edit);
          feed(role, JSON.stringify(value) ?? 'undefined');
        } else {
          const text = texts[c.frame % texts.length]!;
          const at = c.at % (text.length + 1);
          feed(role, text.slice(0, at) + c.insert + text.slice(at + c.cut));
        }
      }),
    };
  },
};
