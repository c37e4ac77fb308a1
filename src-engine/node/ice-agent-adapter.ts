/**
 * Makes the node's `AgentPort` from the ICE agent of `../ice/agent/`: the portal's credentials
 * become ufrag/pwd, and local candidates are remembered by address so the node can withdraw them
 * (and signal the withdrawal) when an allocation or interface goes away.
 */
import { IceAgent } from '../ice/agent/agent.js';
import { parseCandidate, type LocalCandidateKind } from '../ice/agent/candidate.js';
import type { RandomSource } from '../ice/stun/header.js';
import { formatTransportAddress, type TransportAddress } from '../ice/transport-address.js';
import type { AgentFactory, AgentPort } from './agent-port.js';

export function iceAgentFactory(options: { readonly random?: RandomSource } = {}): AgentFactory {
  return ({ role, localCredentials, remoteCredentials, now }) => {
    const agent = new IceAgent({
      role,
      local: { ufrag: localCredentials.username, pwd: localCredentials.password },
      remote: { ufrag: remoteCredentials.username, pwd: remoteCredentials.password },
      now,
      ...(options.random ? { random: options.random } : {}),
    });
    const locals = new Map<string, { kind: LocalCandidateKind; line: string }>();
    const port: AgentPort = {
      get localUfrag() {
        return agent.localUfrag;
      },
      get nominated() {
        const n = agent.snapshot().nominated;
        return n && { local: n.local, remote: n.remote, localKind: n.localKind, remoteKind: n.remoteKind };
      },
      get rttMs() {
        return agent.snapshot().nominated?.rttMs;
      },
      addLocalCandidate(init, at) {
        const line = agent.addLocalCandidate(init, at);
        if (line !== undefined) locals.set(formatTransportAddress(init.address), { kind: init.kind, line });
        return line;
      },
      removeLocalCandidate(address: TransportAddress, at) {
        const key = formatTransportAddress(address);
        const known = locals.get(key);
        if (!known) return undefined;
        locals.delete(key);
        agent.removeLocalCandidate({ kind: known.kind, address }, at);
        return known.line;
      },
      addRemoteCandidate(sdp, at) {
        const parsed = parseCandidate(sdp);
        if (!parsed.ok || !agent.addRemoteCandidate(sdp, at)) return undefined;
        return { kind: parsed.candidate.kind, address: parsed.candidate.address };
      },
      removeRemoteCandidate(sdp, at) {
        agent.removeRemoteCandidate(sdp, at);
      },
      handleStun: (message, from, local, at) => agent.handleStun(message, from, local, at),
      ownsTransaction: (message) => agent.ownsTransaction(message.transactionId),
      localCandidateLines: () => agent.localCandidates(),
      pollTransmit: () => agent.pollTransmit(),
      pollEvent: () => agent.pollEvent(),
      pollTimeout: () => agent.pollTimeout(),
      handleTimeout: (at) => agent.handleTimeout(at),
    };
    return port;
  };
}
