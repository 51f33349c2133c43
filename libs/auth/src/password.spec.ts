import { decoyHash, hashPassword, needsRehash, verifyPassword } from './password-hasher';
import { passwordProblem } from './password-policy';

const FAST = { log2N: 10, r: 8, p: 1 }; // tests only: the format and checks, not the cost

describe('password hashing', () => {
  it('verifies the right password and refuses a wrong one', async () => {
    const encoded = await hashPassword('correct horse battery staple', FAST);
    expect(encoded).toMatch(/^scrypt\$10\$8\$1\$/);
    await expect(verifyPassword('correct horse battery staple', encoded)).resolves.toBe(true);
    await expect(verifyPassword('correct horse battery stapler', encoded)).resolves.toBe(false);
  });

  it('salts every hash', async () => {
    expect(await hashPassword('same password here', FAST)).not.toBe(
      await hashPassword('same password here', FAST),
    );
  });

  it('refuses a malformed stored hash rather than throwing', async () => {
    await expect(verifyPassword('anything at all', 'plaintext')).resolves.toBe(false);
  });

  it('treats canonically equal Unicode spellings as the same password', async () => {
    const encoded = await hashPassword('ﬁnancial ledger', FAST); // ﬁ ligature
    await expect(verifyPassword('financial ledger', encoded)).resolves.toBe(true);
  });

  it('asks for a rehash when the stored parameters are weaker than the defaults', async () => {
    expect(needsRehash(await hashPassword('some long password', FAST))).toBe(true);
    expect(needsRehash(await decoyHash())).toBe(false);
  });
});

describe('password policy', () => {
  it.each([
    ['short', 'too_short'],
    ['123456789012', 'too_common'],
    ['Password1234', 'too_common'],
    ['aaaaaaaaaaaaaaaa', 'too_common'],
    ['abcabcabcabcabc', 'too_common'],
    ['x'.repeat(257), 'too_long'],
  ])('refuses %j as %s', (password, problem) => {
    expect(passwordProblem(password)).toBe(problem);
  });

  it('refuses a password built on the account’s email', () => {
    expect(passwordProblem('ada.lovelace-2026', 'ada.lovelace@example.com')).toBe('contains_email');
  });

  it('accepts a long, unremarkable passphrase', () => {
    expect(passwordProblem('tangerine orbit cello 42', 'ada@example.com')).toBeUndefined();
  });
});
