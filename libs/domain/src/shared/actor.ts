/** Who is acting: a user, an API key, or the system itself (operators' CLI, restore). */
export interface Actor {
  readonly type: 'user' | 'api_key' | 'system';
  readonly id: string;
}
