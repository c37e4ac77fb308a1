import { describe, expect, it } from 'vitest';
import { PortalSessionCore, type SessionAction, type SessionEvent } from './session-core.js';

const UUID = '733e8d14-c18d-4931-af30-3639fa09c0c0';

function drainActions(core: PortalSessionCore): SessionAction[] {
  const out: SessionAction[] = [];
  for (let action = core.pollAction(); action; action = core.pollAction()) out.push(action);
  return out;
}

function drainEvents<R extends 'client' | 'gateway'>(core: PortalSessionCore<R>): SessionEvent<R>[] {
  const out: SessionEvent<R>[] = [];
  for (let event = core.pollEvent(); event; event = core.pollEvent()) out.push(event);
  return out;
}

/** A client core driven to `joined` at time 0. */
function joined(options: { capabilities?: boolean } = {}): PortalSessionCore<'client'> {
  const core = new PortalSessionCore({
    role: 'client',
    random: () => 0.5,
    ...(options.capabilities ? { snownetCapabilities: { iceless: false } } : {}),
  });
  core.start(0);
  core.handleSocketOpened(0);
  core.handleJoinReply('ok', {}, 0);
  drainActions(core);
  drainEvents(core);
  return core;
}

describe('PortalSessionCore', () => {
  it('connects, joins the topic and sends nothing else before the join reply', () => {
    const core = new PortalSessionCore({ role: 'gateway', snownetCapabilities: { iceless: true } });
    core.start(0);
    expect(drainActions(core)).toEqual([{ kind: 'connect', attempt: 1 }]);
    expect(core.state).toEqual({ status: 'connecting', phase: 'socket', attempt: 1 });
    expect(core.send('no_relays', {})).toBe(true);
    expect(core.send('no_relays', {})).toBe(true); // an exact duplicate is dropped from the queue
    core.handleSocketOpened(10);
    expect(drainActions(core)).toEqual([{ kind: 'join', topic: 'gateway' }]);
    core.handleJoinReply('ok', {}, 20);
    expect(core.state).toEqual({ status: 'joined', since: 20 });
    expect(drainActions(core)).toEqual([
      { kind: 'push', event: 'set_snownet_capabilities', payload: { iceless: true } },
      { kind: 'push', event: 'no_relays', payload: {} },
    ]);
    expect(drainEvents(core).map((event) => event.type)).toContain('joined');
  });

  it('refuses to send while reconnecting and validates payloads', () => {
    const core = joined();
    expect(() => core.send('request_authorization', { resource_id: 'nope' } as never)).toThrow(
      /request_authorization: field "resource_id"/,
    );
    core.handleSocketClosed('network down', 100);
    expect(core.state.status).toBe('reconnecting');
    expect(core.send('request_authorization', { resource_id: UUID })).toBe(false);
    expect(core.stats.droppedOutbound).toBe(1);
  });

  it('signs out on 401 invalid_token or missing_token, and fails on other 401s', () => {
    for (const code of ['invalid_token', 'missing_token']) {
      const core = new PortalSessionCore({ role: 'client' });
      core.start(0);
      core.handleConnectFailed({ kind: 'http', status: 401, code }, 5);
      expect(core.state).toMatchObject({ status: 'signed_out', reason: 'invalid_token' });
      expect(core.pollTimeout()).toBeUndefined(); // no more attempts
    }
    const core = new PortalSessionCore({ role: 'client' });
    core.start(0);
    core.handleConnectFailed({ kind: 'http', status: 401, code: 'unauthenticated' }, 5);
    expect(core.state).toMatchObject({ status: 'failed', error: { kind: 'http', status: 401 } });
  });

  it('retries every other status, honouring Retry-After', () => {
    const core = joined();
    core.handleSocketClosed('gone', 1_000);
    drainActions(core);
    const state = core.state;
    if (state.status !== 'reconnecting') throw new Error('expected reconnecting');
    expect(state.delayMs).toBe(500); // first exponential delay after having been connected
    core.handleTimeout(state.retryAt);
    expect(drainActions(core)).toEqual([{ kind: 'connect', attempt: 2 }]);
    core.handleConnectFailed({ kind: 'http', status: 503, code: 'rate_limit', retryAfterMs: 30_000 }, 2_000);
    expect(core.state).toMatchObject({ status: 'reconnecting', delayMs: 30_000, retryAt: 32_000 });
    // The driver disposes of the failed attempt (closing is idempotent).
    expect(drainActions(core)).toEqual([{ kind: 'close', reason: 'HTTP 503 (rate_limit)' }]);
    core.handleTimeout(31_999);
    expect(drainActions(core)).toEqual([]);
    core.handleTimeout(32_000);
    core.handleConnectFailed({ kind: 'http', status: 403, code: 'account_disabled' }, 32_100);
    expect(core.state.status).toBe('reconnecting');
  });

  it('gives up before the first join after the initial budget', () => {
    const core = new PortalSessionCore({ role: 'client' });
    core.start(0);
    let now = 0;
    for (let i = 0; i < 100 && core.state.status !== 'failed'; i += 1) {
      core.handleConnectFailed({ kind: 'network', message: 'ECONNREFUSED' }, now);
      const state = core.state;
      if (state.status === 'reconnecting') {
        now = state.retryAt;
        core.handleTimeout(now);
      }
    }
    expect(core.state).toMatchObject({ status: 'failed', error: { kind: 'budget_exhausted' } });
    expect(now).toBeGreaterThanOrEqual(15_000);
  });

  it('reconnects when the join is not answered within 5 s and treats a join error as fatal', () => {
    const core = new PortalSessionCore({ role: 'client' });
    core.start(0);
    core.handleSocketOpened(0);
    drainActions(core);
    expect(core.pollTimeout()).toBe(5_000);
    core.handleTimeout(5_000);
    expect(drainActions(core)).toEqual([{ kind: 'close', reason: 'join not answered in time' }]);
    expect(core.state).toMatchObject({ status: 'reconnecting', lastError: { kind: 'join_timeout' } });

    const refused = new PortalSessionCore({ role: 'client' });
    refused.start(0);
    refused.handleSocketOpened(0);
    refused.handleJoinReply('error', { reason: 'unauthorized' }, 1);
    expect(refused.state).toEqual({
      status: 'failed',
      error: { kind: 'join_error', reason: 'unauthorized' },
    });
  });

  it('joins again on "unmatched topic"', () => {
    const core = new PortalSessionCore({ role: 'client' });
    core.start(0);
    core.handleSocketOpened(0);
    drainActions(core);
    core.handleJoinReply('error', { reason: 'unmatched topic' }, 1);
    expect(drainActions(core)).toEqual([{ kind: 'join', topic: 'client' }]);
    expect(core.state.status).toBe('connecting');
  });

  it('sends a heartbeat every 10 s and reconnects when more than 3 are unanswered', () => {
    const core = joined();
    expect(core.pollTimeout()).toBe(10_000);
    core.handleTimeout(10_000);
    expect(drainActions(core)).toEqual([{ kind: 'heartbeat' }]);
    core.handleHeartbeatReply(10_050);
    for (const t of [20_000, 30_000, 40_000]) {
      core.handleTimeout(t);
      expect(drainActions(core)).toEqual([{ kind: 'heartbeat' }]);
    }
    core.handleTimeout(50_000);
    expect(drainActions(core)).toEqual([{ kind: 'close', reason: 'heartbeats not answered' }]);
    expect(core.state).toMatchObject({ status: 'reconnecting', lastError: { kind: 'heartbeat_timeout' } });
  });

  it('signs out on disconnect token_expired and reconnects on phx_close', () => {
    const core = joined();
    core.handleMessage('phx_close', {}, 5);
    expect(core.state.status).toBe('reconnecting');

    const other = joined();
    other.handleMessage('disconnect', { reason: 'token_expired' }, 5);
    expect(other.state).toMatchObject({ status: 'signed_out', reason: 'token_expired' });
    expect(drainActions(other)).toEqual([{ kind: 'close', reason: 'signed out: token_expired' }]);
  });

  it('delivers valid messages and reports invalid or unknown ones once per event name', () => {
    const core = joined();
    core.handleMessage('resource_deleted', UUID, 1);
    core.handleMessage('resource_deleted', 42, 2);
    core.handleMessage('resource_deleted', 43, 3);
    core.handleMessage('warp_drive', {}, 4);
    core.handleMessage('warp_drive', {}, 5);
    const events = drainEvents(core);
    expect(events).toContainEqual({ type: 'message', message: { event: 'resource_deleted', payload: UUID } });
    expect(
      events.filter((e) => e.type === 'invalid_message').map((e) => e.type === 'invalid_message' && e.first),
    ).toEqual([true, false]);
    expect(
      events.filter((e) => e.type === 'unknown_event').map((e) => e.type === 'unknown_event' && e.first),
    ).toEqual([true, false]);
    expect(core.stats).toMatchObject({ messages: 1, invalidMessages: 2, unknownEvents: 2 });
    expect(core.state.status).toBe('joined');
  });

  it('reconnects at once when asked (new public key) and stops for good', () => {
    const core = joined({ capabilities: true });
    core.reconnectNow(7);
    expect(drainActions(core)).toEqual([
      { kind: 'close', reason: 'reset' },
      { kind: 'connect', attempt: 2 },
    ]);
    core.stop(8);
    expect(drainActions(core)).toEqual([{ kind: 'close', reason: 'stopped' }]);
    expect(core.state).toEqual({ status: 'stopped' });
    expect(core.pollTimeout()).toBeUndefined();
    core.start(9);
    expect(drainActions(core)).toEqual([{ kind: 'connect', attempt: 3 }]);
  });

  it('reports failed pushes without leaving the channel', () => {
    const core = joined();
    core.handlePushReply('request_authorization', 'error', { reason: 'unknown_message' });
    expect(drainEvents(core)).toEqual([
      { type: 'push_failed', event: 'request_authorization', reason: 'unknown_message' },
    ]);
    expect(core.state.status).toBe('joined');
  });
});
