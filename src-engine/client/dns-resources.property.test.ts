/**
 * The real client and gateway cores over a tunnel that delivers, drops, duplicates and reorders
 * every packet (AssignedIps, DomainStatus and traffic alike), with the gateway's name lookups
 * answered late and out of order. Whatever happened, once the network is quiet and traffic
 * flows again, the gateway's proxy table equals the client's assignment: every name the client
 * uses is confirmed, and the gateway maps exactly its proxy addresses to that name. The property
 * is the `dns-nat` target of `npm run fuzz` (fuzz/targets/dns-nat.ts).
 */
import fc from 'fast-check';
import { describe, it } from 'vitest';
import { dnsNatActionArb, runDnsNatActions } from '../../fuzz/targets/dns-nat.js';

describe('DNS resources over a lossy, duplicating, reordering tunnel (real client and gateway cores)', () => {
  it('the gateway table ends equal to the client assignment', () => {
    fc.assert(
      fc.property(fc.array(dnsNatActionArb, { minLength: 1, maxLength: 60 }), (actions) =>
        runDnsNatActions(actions),
      ),
      { numRuns: 150 },
    );
  });
});
