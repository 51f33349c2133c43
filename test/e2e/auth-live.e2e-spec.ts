import { client, createOrganisation, PASSWORD, useLiveSystem } from './support/live-organisation';

/**
 * Authentication against organisations made the real way (`org:create`, then the user endpoints,
 * with the projector running): what a member may do follows their live state on the next request.
 */
describe('authentication with live organisations', () => {
  const t = useLiveSystem();
  const http = () => client(t.api);

  it('an owner created by org:create signs in without naming the organisation', async () => {
    const created = await createOrganisation(t.db, 'Live Ltd');
    const res = await http().send('POST', '/v1/auth/token', undefined, {
      email: created.owner.email,
      password: PASSWORD,
    });
    expect(res.status).toBe(200);
    const { accessToken } = res.json() as { accessToken: string };
    const me = await http().send('GET', '/v1/me', { authorization: `Bearer ${accessToken}` });
    expect(me.json()).toMatchObject({
      user: { id: created.owner.id, email: created.owner.email },
      organisation: { id: created.organisationId, name: 'Live Ltd' },
      role: 'owner',
    });
  });

  it('role change, deactivation and reactivation bite on the very next request', async () => {
    const created = await createOrganisation(t.db);
    const owner = await http().signIn(created.owner, created.organisationId);
    const editor = await http().addMember(owner, created.organisationId, 'editor');
    const meOf = async (caller: { authorization: string }) => http().send('GET', '/v1/me', caller);
    expect((await meOf(editor)).json()).toMatchObject({ role: 'editor' });

    const changed = await http().send('PATCH', `/v1/users/${editor.id}`, owner, { role: 'viewer' });
    expect(changed.status).toBe(200);
    expect((await meOf(editor)).json()).toMatchObject({
      role: 'viewer',
      permissions: ['contacts:read'],
    });

    const deactivated = await http().send('POST', `/v1/users/${editor.id}/deactivate`, owner);
    expect(deactivated.status).toBe(204);
    const refused = await meOf(editor);
    expect(refused.status).toBe(401);
    expect(refused.headers['www-authenticate']).toBe('Bearer');
    const signIn = await http().send('POST', '/v1/auth/token', undefined, {
      email: editor.email,
      password: PASSWORD,
    });
    expect(signIn.status).toBe(401);

    const reactivated = await http().send('POST', `/v1/users/${editor.id}/reactivate`, owner);
    expect(reactivated.status).toBe(204);
    // Deactivation ended the old session: reactivation does not bring its tokens back.
    expect((await meOf(editor)).status).toBe(401);
    const again = await http().signIn(editor, created.organisationId);
    expect((await meOf(again)).json()).toMatchObject({ role: 'viewer' });
  });
});
