import type { Actor, Permission, Role } from '@beecastle/domain';

/**
 * Who is calling, as the guard chain established it from a verified credential. The organisation
 * comes from here and nowhere else: never from a header, the path, the query or the body.
 */
export interface AuthContext {
  readonly organisationId: string;
  /** The actor recorded on every change: the user, or the API key itself. */
  readonly actor: Actor & { readonly type: 'user' | 'api_key' };
  /** The live role in this organisation (for a key: its role, capped by its creator's). */
  readonly role: Role;
  readonly permissions: readonly Permission[];
  /** The signed-in user, or the key's creator. */
  readonly userId: string;
  readonly apiKeyId?: string;
  /** The sign-in session behind an access token; absent for API keys. */
  readonly sessionId?: string;
  /** Names as the database had them when the credential was checked (what `GET /v1/me` shows). */
  readonly profile?: AuthProfile;
}

export interface AuthProfile {
  readonly user: { readonly id: string; readonly email: string; readonly name: string };
  readonly organisation: { readonly id: string; readonly name: string };
  readonly apiKey?: { readonly id: string; readonly name: string };
}

/** The request after authentication: the guard (or passport, for tokens) puts the caller on `user`. */
export interface AuthenticatedRequest {
  user?: AuthContext;
  /**
   * Who a successful sign-in or refresh was for. Those routes are public, so no guard sets `user`;
   * this lets the request log attribute them to the member and organisation all the same.
   */
  signedIn?: SignedIn;
}

export interface SignedIn {
  readonly organisationId: string;
  readonly userId: string;
}
