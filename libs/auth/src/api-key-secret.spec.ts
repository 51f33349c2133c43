import { randomUUID } from 'node:crypto';
import {
  apiKeySecretMatches,
  issueApiKeySecret,
  looksLikeApiKey,
  parseApiKey,
} from './api-key-secret';

describe('API key secrets', () => {
  const org = randomUUID();
  const keyId = randomUUID();

  it('round-trips the organisation and key id, and matches its own hash only', () => {
    const issued = issueApiKeySecret(org, keyId);
    expect(looksLikeApiKey(issued.key)).toBe(true);
    const parsed = parseApiKey(issued.key)!;
    expect(parsed).toMatchObject({ organisationId: org, apiKeyId: keyId });
    expect(apiKeySecretMatches(parsed, Buffer.from(issued.secretHash, 'hex'))).toBe(true);
    const other = issueApiKeySecret(org, keyId);
    expect(apiKeySecretMatches(parsed, Buffer.from(other.secretHash, 'hex'))).toBe(false);
  });

  it('never repeats a secret', () => {
    const keys = new Set(Array.from({ length: 100 }, () => issueApiKeySecret(org, keyId).key));
    expect(keys.size).toBe(100);
  });

  it('refuses anything that is not exactly a key', () => {
    const { key } = issueApiKeySecret(org, keyId);
    for (const bad of [
      '',
      'bck_',
      key.slice(0, -1),
      `${key}A`,
      key.replace('bck_', 'bcx_'),
      `${key.slice(0, -2)}+/`,
    ]) {
      expect(parseApiKey(bad)).toBeUndefined();
    }
  });

  it('compares against a stored hash of the wrong length as a mismatch, not an error', () => {
    const parsed = parseApiKey(issueApiKeySecret(org, keyId).key)!;
    expect(apiKeySecretMatches(parsed, Buffer.alloc(16))).toBe(false);
  });
});
