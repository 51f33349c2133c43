import { streamName } from '../../libs/event-store/src';
import { CONTACT_STATES, type ContactStates } from '../../apps/api/src/contacts/contact-states';
import { client, createOrganisation, useLiveSystem } from './support/live-organisation';

/**
 * CONTACT_STATE_CACHE_SIZE reaches the running API: with the default the process remembers the
 * contacts it writes; at 0 it remembers none, and every command reads the stream it changes.
 * (What remembering may and may not answer is contact-states.spec's and the handler spec's.)
 */
describe.each([
  ['the default', {}, true],
  ['0', { CONTACT_STATE_CACHE_SIZE: '0' }, false],
])('CONTACT_STATE_CACHE_SIZE: %s', (_name, env: Record<string, string>, remembers) => {
  const t = useLiveSystem({ env });

  it(remembers ? 'remembers a contact the API wrote' : 'remembers nothing', async () => {
    const { organisationId, owner } = await createOrganisation(t.db);
    const http = client(t.api);
    const caller = await http.signIn(owner, organisationId);
    const created = await http.send('POST', '/v1/contacts', caller, { firstName: 'Ada' });
    expect(created.status).toBe(201);
    const { id, version } = created.json() as { id: string; version: number };
    const patched = await http.send(
      'PATCH',
      `/v1/contacts/${id}`,
      caller,
      { lastName: 'L' },
      {
        'if-match': `"${version}"`,
      },
    );
    expect(patched.status).toBe(200);
    const written = (patched.json() as { version: number }).version;

    const states = t.api.app.get<ContactStates>(CONTACT_STATES);
    const remembered = states.get(streamName('contact', organisationId, id));
    if (remembers) {
      expect(remembered?.revision).toBe(BigInt(written));
      expect(states.size).toBe(1);
    } else {
      expect(remembered).toBeUndefined();
      expect(states.size).toBe(0);
    }
  });
});
