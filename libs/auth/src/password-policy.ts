/**
 * What a new password must be: long enough (12–256 characters, counted in code points), not one
 * of the passwords attackers try first, and not the account's own email. Length does most of the
 * work (NIST SP 800-63B); the list catches the long-but-famous ones.
 */
export const MIN_PASSWORD_LENGTH = 12;
export const MAX_PASSWORD_LENGTH = 256;

// Passwords of 12+ characters that top the public breach-frequency lists, in lower case.
const COMMON = new Set([
  '123456789012',
  '1234567890123',
  '12345678901234',
  '123456789123',
  '123123123123',
  '111111111111',
  '000000000000',
  '123321123321',
  'qwertyuiopas',
  'qwertyuiop123',
  'qwerty123456',
  '1q2w3e4r5t6y',
  '1qaz2wsx3edc',
  'zaq12wsxcde3',
  'asdfghjkl123',
  'password1234',
  'password12345',
  'password123!',
  'passwordpassword',
  'iloveyou1234',
  'letmein12345',
  'welcome12345',
  'welcome123456',
  'administrator',
  'adminadmin123',
  'changeme1234',
  'abcdefghijkl',
  'abc123abc123',
  'trustno1trustno1',
  'football1234',
  'baseball1234',
  'superman1234',
  'princess1234',
  'sunshine1234',
  'monkey123456',
  'dragon123456',
  'starwars1234',
  'whatever1234',
  'computer1234',
  'michael12345',
  'jennifer1234',
  'basketball12',
  'liverpool123',
  'chocolate123',
  'qwertyqwerty',
  'asdfasdfasdf',
  'zxcvbnm12345',
  'p@ssw0rd1234',
  'passw0rd1234',
]);

export type PasswordProblem = 'too_short' | 'too_long' | 'too_common' | 'contains_email';

export function passwordProblem(password: string, email?: string): PasswordProblem | undefined {
  const length = [...password].length;
  if (length < MIN_PASSWORD_LENGTH) return 'too_short';
  if (length > MAX_PASSWORD_LENGTH) return 'too_long';
  const lower = password.toLowerCase();
  if (COMMON.has(lower) || /^(.)\1+$/u.test(password) || /^(.{1,4})\1+$/u.test(lower))
    return 'too_common';
  const local = email?.split('@')[0]?.toLowerCase();
  if (local && local.length >= 4 && lower.includes(local)) return 'contains_email';
  return undefined;
}
