import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { AUTH_SETTINGS, retiredKeyVerifiableSeconds } from '@beecastle/config';
import type { Keyring } from '@beecastle/crypto';
import type { Pool } from 'pg';
import type { PublicSigningJwk } from './signing-key';
import { openPrivateKey } from './signing-key-seal';

export interface SigningKeyStoreOptions {
  readonly reloadIntervalMs?: number;
  readonly unknownKidReloadIntervalMs?: number;
  /** How long after retirement a key still verifies. */
  readonly verifiableSeconds?: number;
  readonly now?: () => number;
}

interface LoadedKey {
  readonly keyId: string;
  readonly jwk: PublicSigningJwk;
  readonly publicKey: KeyObject;
  /** Milliseconds since the epoch; undefined while the key is the active one. */
  readonly retiredAt: number | undefined;
}

export interface ActiveSigningKey {
  readonly keyId: string;
  readonly privateKey: KeyObject;
}

interface KeyRow {
  key_id: string;
  /** In the clear: a key written before migration SealedSigningKeys, until the API seals it. */
  private_key: string | null;
  sealed_private_key: Buffer | null;
  private_key_data_key: string | null;
  public_jwk: PublicSigningJwk;
  retired_at: Date | null;
}

/**
 * The platform's signing keys as one API instance sees them: the active key (to sign) and every
 * key whose tokens may still be alive (to verify and to publish). Loaded from `signing_keys`,
 * reloaded periodically so that a rotation made elsewhere reaches every instance, and at once (but
 * at most every few seconds) when a token names a key this instance has not seen. The active key's
 * private half is stored sealed (signing-key-seal.ts) and opened here with the keyring.
 */
export class SigningKeyStore {
  private keys = new Map<string, LoadedKey>();
  private active: ActiveSigningKey | undefined;
  private loading: Promise<void> | undefined;
  private lastLoadedAt = Number.NEGATIVE_INFINITY;
  private timer: NodeJS.Timeout | undefined;
  private readonly reloadIntervalMs: number;
  private readonly unknownKidReloadIntervalMs: number;
  private readonly verifiableMs: number;
  private readonly now: () => number;

  constructor(
    private readonly pool: Pool,
    private readonly keyring: Keyring,
    options: SigningKeyStoreOptions = {},
  ) {
    this.reloadIntervalMs = options.reloadIntervalMs ?? AUTH_SETTINGS.signingKeys.reloadIntervalMs;
    this.unknownKidReloadIntervalMs =
      options.unknownKidReloadIntervalMs ?? AUTH_SETTINGS.signingKeys.unknownKidReloadIntervalMs;
    this.verifiableMs = (options.verifiableSeconds ?? retiredKeyVerifiableSeconds()) * 1000;
    this.now = options.now ?? Date.now;
  }

  /** Loads the keys and keeps reloading them until stop(). */
  async start(): Promise<void> {
    await this.reload();
    this.timer = setInterval(() => {
      // A failed periodic reload keeps the keys already loaded; the next one tries again.
      this.reload().catch(() => undefined);
    }, this.reloadIntervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Reads the key set now (concurrent callers share one query). */
  reload(): Promise<void> {
    this.loading ??= this.load().finally(() => {
      this.loading = undefined;
    });
    return this.loading;
  }

  /** The key to sign with; throws when there is none (the API creates one at start). */
  signingKey(): ActiveSigningKey {
    if (!this.active) throw new Error('No active signing key: none was loaded');
    return this.active;
  }

  /**
   * The public key for a token's `kid`, or undefined when no key by that id may verify a token
   * now: unknown, or retired longer ago than any token it signed can live.
   */
  async verificationKey(keyId: string): Promise<KeyObject | undefined> {
    if (
      !this.keys.has(keyId) &&
      this.now() - this.lastLoadedAt >= this.unknownKidReloadIntervalMs
    ) {
      await this.reload();
    }
    const key = this.keys.get(keyId);
    return key && this.verifiable(key) ? key.publicKey : undefined;
  }

  /** The JWKS document: the active key and retired keys whose tokens may still be alive. */
  jwks(): { keys: PublicSigningJwk[] } {
    return { keys: [...this.keys.values()].filter((k) => this.verifiable(k)).map((k) => k.jwk) };
  }

  private verifiable(key: LoadedKey): boolean {
    return key.retiredAt === undefined || this.now() - key.retiredAt < this.verifiableMs;
  }

  private async load(): Promise<void> {
    // The attempt counts even when it fails: a database outage must not turn every token with an
    // unknown kid into a query.
    this.lastLoadedAt = this.now();
    const { rows } = await this.pool.query<KeyRow>(
      `SELECT key_id,
              CASE WHEN retired_at IS NULL THEN private_key END AS private_key,
              CASE WHEN retired_at IS NULL THEN sealed_private_key END AS sealed_private_key,
              private_key_data_key, public_jwk, retired_at
         FROM signing_keys
        WHERE retired_at IS NULL OR retired_at > now() - make_interval(secs => $1)
        ORDER BY activated_at DESC`,
      [this.verifiableMs / 1000],
    );
    const keys = new Map<string, LoadedKey>();
    let active: ActiveSigningKey | undefined;
    for (const row of rows) {
      const previous = this.keys.get(row.key_id);
      keys.set(row.key_id, {
        keyId: row.key_id,
        jwk: row.public_jwk,
        // Parsed once per key, not per reload.
        publicKey: previous?.publicKey ?? createPublicKey({ key: row.public_jwk, format: 'jwk' }),
        retiredAt: row.retired_at?.getTime(),
      });
      if (active === undefined && (row.private_key ?? row.sealed_private_key) !== null) {
        active =
          this.active?.keyId === row.key_id
            ? this.active
            : { keyId: row.key_id, privateKey: createPrivateKey(await this.privateHalf(row)) };
      }
    }
    this.keys = keys;
    this.active = active;
  }

  private privateHalf(row: KeyRow): Promise<string> | string {
    if (row.sealed_private_key === null || row.private_key_data_key === null) {
      return row.private_key!;
    }
    return openPrivateKey(this.keyring, row.key_id, {
      sealed: row.sealed_private_key,
      dataKeyId: row.private_key_data_key,
    });
  }
}
