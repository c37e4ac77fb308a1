/**
 * What the dev portal sends that Firezone's own gateway and clients read: the `subject` of
 * `create_authorization` carries the fields of Firezone's portal (`Authentication.Subject.to_map`).
 */
import { afterEach, describe, expect, it } from 'vitest';
import {
  CLIENT_UA,
  configYaml,
  GATEWAY_TOKEN,
  openSession,
  removeDir,
  startPortal,
  tempDir,
} from './test-support.js';
import { authProviderOf } from './portal.js';
import { FIREZONE_PROTOCOL_VERSION } from '../src-engine/portal/constants.js';
import { userAgentPartsFor } from '../src-engine/portal/host-user-agent.js';
import { buildUserAgent } from '../src-engine/portal/user-agent.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describe('dev portal: Firezone compatibility', () => {
  it("sends the gateway the subject fields of Firezone's portal", async () => {
    const dir = tempDir();
    const portal = await startPortal(dir, { config: await configYaml() });
    cleanups.push(() => removeDir(dir));
    cleanups.push(() => portal.portal.stop());
    const gateway = openSession(portal.portal.url, 'gateway', GATEWAY_TOKEN);
    const client = openSession(
      portal.portal.url,
      'client',
      portal.portal.mintClientToken('alice@acme.test').token,
    );
    for (const s of [gateway, client]) {
      cleanups.push(() => s.session.stop());
      s.session.start();
    }
    await gateway.next('init');
    const init = await client.next('init');
    const lan = init.payload.resources.find((resource) => resource.name === 'LAN')!;
    client.session.send('request_authorization', { resource_id: lan.id });
    const create = await gateway.next('create_authorization');
    const subject = create.payload.subject as Record<string, unknown>;
    expect(Object.keys(subject).sort()).toEqual(
      [
        'actor_email',
        'actor_id',
        'actor_name',
        'actor_type',
        'auth_provider_id',
        'ip',
        'ip_city',
        'ip_lat',
        'ip_lon',
        'ip_region',
        'user_agent',
      ].sort(),
    );
    expect(subject).toMatchObject({
      actor_email: 'alice@acme.test',
      actor_type: 'account_user',
      ip: '127.0.0.1',
      user_agent: CLIENT_UA,
    });
    expect(subject.auth_provider_id).toMatch(
      /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/,
    );
  });

  it('pairs clients and gateways that announce FIREZONE_PROTOCOL_VERSION and offers the Internet resource', async () => {
    const dir = tempDir();
    const portal = await startPortal(dir, {
      config: await configYaml({
        extraResources: '  - name: Internet\n    type: internet\n    site: HQ\n',
        extraPolicies: '  - group: engineering\n    resource: Internet\n',
      }),
    });
    cleanups.push(() => removeDir(dir));
    cleanups.push(() => portal.portal.stop());
    const clientUa = buildUserAgent(userAgentPartsFor('gui-client'));
    const gatewayUa = buildUserAgent(userAgentPartsFor('gateway'));
    expect(clientUa).toContain(`gui-client/${FIREZONE_PROTOCOL_VERSION} `);
    const gateway = openSession(portal.portal.url, 'gateway', GATEWAY_TOKEN, { userAgent: gatewayUa });
    const client = openSession(
      portal.portal.url,
      'client',
      portal.portal.mintClientToken('alice@acme.test').token,
      {
        userAgent: clientUa,
      },
    );
    for (const s of [gateway, client]) {
      cleanups.push(() => s.session.stop());
      s.session.start();
    }
    await gateway.next('init');
    const init = await client.next('init');
    const internet = init.payload.resources.find((resource) => resource.type === 'internet');
    expect(internet).toBeDefined();
    client.session.send('request_authorization', { resource_id: internet!.id });
    const create = await gateway.next('create_authorization');
    expect((create.payload.subject as Record<string, unknown>).user_agent).toBe(clientUa);
  });

  it('names the identity provider a token came from', () => {
    expect(authProviderOf('sign-in:gui-client')).toBe('email');
    expect(authProviderOf('sign-in:gui-client:oidc:okta')).toBe('oidc:okta');
    expect(authProviderOf('cli')).toBe('email');
  });
});
