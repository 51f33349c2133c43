import { randomUUID } from 'node:crypto';
import { withOrganisation } from '@beecastle/database';
import { createTestDatabase, type TestDatabase } from '../../../database/src/testing/test-database';
import {
  seedMember,
  updateMembership,
  type SeededUser,
} from '../../../../test/e2e/support/identity-fixture';
import { lookUpSessionPrincipal, lookUpSessionPrincipals } from '../principals/principal-lookup';
import { issueRefreshToken, parseRefreshToken } from './refresh-token';
import { SessionStore } from './session-store';

describe('sessions and refresh tokens (PostgreSQL)', () => {
  let db: TestDatabase;
  let sessions: SessionStore;
  let member: SeededUser & { organisationId: string };

  beforeAll(async () => {
    db = await createTestDatabase();
    sessions = new SessionStore(db.app);
  });
  afterAll(() => db.drop());
  beforeEach(async () => {
    member = await seedMember(db.app, 'editor');
  });

  const sessionRow = (sessionId: string) =>
    withOrganisation(db.app, member.organisationId, async (client) => {
      const { rows } = await client.query<{ revoked_reason: string | null; tokens: number }>(
        `SELECT revoked_reason,
                (SELECT count(*)::int FROM refresh_tokens t WHERE t.session_id = s.session_id) AS tokens
           FROM sessions s WHERE session_id = $1`,
        [sessionId],
      );
      return rows[0];
    });
  /** The owner, as tests tamper: row-level security is forced on it too. */
  const asOwner = <R extends object = Record<string, unknown>>(sql: string, values: unknown[]) =>
    withOrganisation(db.owner, member.organisationId, (client) => client.query<R>(sql, values));
  const principal = (sessionId: string) =>
    lookUpSessionPrincipal(db.app, member.organisationId, member.userId, sessionId);

  it('stores only a hash of the refresh token, under the organisation', async () => {
    const started = await sessions.start(member.organisationId, member.userId);
    expect(started.refreshToken).toMatch(/^bcr_[A-Za-z0-9_-]{64}$/);
    expect(parseRefreshToken(started.refreshToken)?.organisationId).toBe(member.organisationId);
    const { rows } = await asOwner<{
      token_hash: Buffer;
      expires_at: Date;
      session_end: Date;
    }>(
      `SELECT t.token_hash, t.expires_at, s.expires_at AS session_end
         FROM refresh_tokens t JOIN sessions s USING (org_id, session_id)
        WHERE t.session_id = $1`,
      [started.sessionId],
    );
    expect(rows).toHaveLength(1);
    expect(rows[0].token_hash.equals(parseRefreshToken(started.refreshToken)!.tokenHash)).toBe(
      true,
    );
    const day = 86_400_000;
    expect(rows[0].expires_at.getTime() - Date.now()).toBeGreaterThan(13.9 * day);
    expect(rows[0].expires_at.getTime() - Date.now()).toBeLessThan(14.1 * day);
    expect(rows[0].session_end.getTime() - Date.now()).toBeGreaterThan(29.9 * day);
    // With no organisation set the application sees none of it.
    expect((await db.app.query('SELECT * FROM refresh_tokens')).rows).toEqual([]);
  });

  it('rotates on every use: the new token works, the session stays live', async () => {
    const started = await sessions.start(member.organisationId, member.userId);
    const first = await sessions.refresh(started.refreshToken);
    expect(first).toMatchObject({
      kind: 'rotated',
      organisationId: member.organisationId,
      userId: member.userId,
      sessionId: started.sessionId,
    });
    if (first.kind !== 'rotated') throw new Error('unreachable');
    expect(first.refreshToken).not.toBe(started.refreshToken);
    const second = await sessions.refresh(first.refreshToken);
    expect(second.kind).toBe('rotated');
    await expect(principal(started.sessionId)).resolves.toMatchObject({ role: 'editor' });
    expect(await sessionRow(started.sessionId)).toEqual({ revoked_reason: null, tokens: 3 });
  });

  it('reuse of a spent token revokes the whole family', async () => {
    const started = await sessions.start(member.organisationId, member.userId);
    const rotated = await sessions.refresh(started.refreshToken);
    if (rotated.kind !== 'rotated') throw new Error('expected a rotation');

    await expect(sessions.refresh(started.refreshToken)).resolves.toEqual({
      kind: 'reused',
      organisationId: member.organisationId,
      sessionId: started.sessionId,
    });
    // The legitimate holder's newer token dies with the family, and so does the session.
    await expect(sessions.refresh(rotated.refreshToken)).resolves.toEqual({ kind: 'refused' });
    expect(await sessionRow(started.sessionId)).toMatchObject({
      revoked_reason: 'refresh_token_reuse',
    });
    await expect(principal(started.sessionId)).resolves.toBeUndefined();
  });

  it('of two concurrent uses of one token, one wins and the family is revoked', async () => {
    const started = await sessions.start(member.organisationId, member.userId);
    const outcomes = await Promise.all([
      sessions.refresh(started.refreshToken),
      sessions.refresh(started.refreshToken),
    ]);
    expect(outcomes.map((o) => o.kind).sort()).toEqual(['reused', 'rotated']);
    const winner = outcomes.find((o) => o.kind === 'rotated');
    if (winner?.kind !== 'rotated') throw new Error('expected a winner');
    await expect(sessions.refresh(winner.refreshToken)).resolves.toEqual({ kind: 'refused' });
    await expect(principal(started.sessionId)).resolves.toBeUndefined();
  });

  it('logout revokes the session: its refresh tokens and its principal stop working', async () => {
    const started = await sessions.start(member.organisationId, member.userId);
    await expect(principal(started.sessionId)).resolves.toBeDefined();
    await sessions.revoke(member.organisationId, started.sessionId, 'logout');
    await expect(principal(started.sessionId)).resolves.toBeUndefined();
    await expect(sessions.refresh(started.refreshToken)).resolves.toEqual({ kind: 'refused' });
    expect(await sessionRow(started.sessionId)).toMatchObject({ revoked_reason: 'logout' });
  });

  it('a deactivated member cannot refresh, and their session ends', async () => {
    const started = await sessions.start(member.organisationId, member.userId);
    await updateMembership(db.app, member.organisationId, member.userId, {
      status: 'deactivated',
    });
    await expect(principal(started.sessionId)).resolves.toBeUndefined();
    await expect(sessions.refresh(started.refreshToken)).resolves.toEqual({ kind: 'refused' });
    expect(await sessionRow(started.sessionId)).toMatchObject({
      revoked_reason: 'user_deactivated',
    });
  });

  it('refuses an expired refresh token, and one whose session passed its absolute end', async () => {
    const idle = await sessions.start(member.organisationId, member.userId);
    await asOwner(
      `UPDATE refresh_tokens SET expires_at = now() - interval '1 second' WHERE session_id = $1`,
      [idle.sessionId],
    );
    await expect(sessions.refresh(idle.refreshToken)).resolves.toEqual({ kind: 'refused' });
    expect(await sessionRow(idle.sessionId)).toMatchObject({ revoked_reason: null });

    const old = await sessions.start(member.organisationId, member.userId);
    await asOwner(
      `UPDATE sessions SET expires_at = now() - interval '1 second' WHERE session_id = $1`,
      [old.sessionId],
    );
    await expect(sessions.refresh(old.refreshToken)).resolves.toEqual({ kind: 'refused' });
    await expect(principal(old.sessionId)).resolves.toBeUndefined();
  });

  it('refuses unknown, malformed, and other-organisation tokens without touching any session', async () => {
    const started = await sessions.start(member.organisationId, member.userId);
    const unknown = issueRefreshToken(member.organisationId).refreshToken;
    const otherOrganisation = issueRefreshToken(randomUUID()).refreshToken;
    for (const token of [unknown, otherOrganisation, 'bcr_short', '', started.refreshToken + 'x']) {
      await expect(sessions.refresh(token)).resolves.toEqual({ kind: 'refused' });
    }
    // The same token body under another organisation's id is a different token.
    const moved = issueRefreshToken(randomUUID()).refreshToken;
    await expect(sessions.refresh(moved)).resolves.toEqual({ kind: 'refused' });
    expect(await sessionRow(started.sessionId)).toEqual({ revoked_reason: null, tokens: 1 });
  });

  it('a principal is checked under its own organisation only', async () => {
    const started = await sessions.start(member.organisationId, member.userId);
    const stranger = await seedMember(db.app, 'owner', 'Other Ltd');
    await expect(
      lookUpSessionPrincipal(db.app, stranger.organisationId, member.userId, started.sessionId),
    ).resolves.toBeUndefined();
    await expect(
      lookUpSessionPrincipal(db.app, member.organisationId, stranger.userId, started.sessionId),
    ).resolves.toBeUndefined();
    // Inside another organisation's transaction the function refuses rather than widen it.
    await expect(
      withOrganisation(db.app, stranger.organisationId, (client) =>
        client.query('SELECT * FROM auth_session_principal($1, $2, $3)', [
          member.organisationId,
          member.userId,
          started.sessionId,
        ]),
      ),
    ).rejects.toThrow(/another organisation/);
  });

  it('a batch of lookups across organisations answers each from its own organisation only', async () => {
    const mine = await sessions.start(member.organisationId, member.userId);
    const stranger = await seedMember(db.app, 'admin', 'Other Ltd');
    const theirs = await sessions.start(stranger.organisationId, stranger.userId);
    const answers = await lookUpSessionPrincipals(db.app, [
      { organisationId: member.organisationId, userId: member.userId, sessionId: mine.sessionId },
      { organisationId: stranger.organisationId, userId: member.userId, sessionId: mine.sessionId },
      {
        organisationId: stranger.organisationId,
        userId: stranger.userId,
        sessionId: theirs.sessionId,
      },
      {
        organisationId: member.organisationId,
        userId: stranger.userId,
        sessionId: theirs.sessionId,
      },
      { organisationId: member.organisationId, userId: member.userId, sessionId: mine.sessionId },
    ]);
    expect(answers.map((a) => a && [a.role, a.organisationName])).toEqual([
      ['editor', 'Acme Ltd'],
      undefined,
      ['admin', 'Other Ltd'],
      undefined,
      ['editor', 'Acme Ltd'],
    ]);
    // The scope does not outlive the statement.
    expect((await db.app.query('SELECT * FROM memberships')).rows).toEqual([]);
  });

  it('the principal carries the live role', async () => {
    const started = await sessions.start(member.organisationId, member.userId);
    await updateMembership(db.app, member.organisationId, member.userId, { role: 'viewer' });
    await expect(principal(started.sessionId)).resolves.toMatchObject({
      role: 'viewer',
      email: member.email,
      organisationName: 'Acme Ltd',
    });
  });
});
