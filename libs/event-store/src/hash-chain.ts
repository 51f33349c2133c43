import { createHash } from 'node:crypto';

/**
 * Tamper evidence: each stream is a hash chain.
 *
 *   hash(n) = SHA-256( prevHash ‖ u32be(len(header)) ‖ header ‖ u32be(len(metadata)) ‖ metadata ‖ data )
 *   header  = UTF-8 of stream ⏎ revision ⏎ eventId ⏎ type ⏎ schemaVersion ⏎ organisationId ⏎ recordedAtMicros
 *
 * prevHash of revision 0 is 32 zero bytes. It covers the stored bytes (ciphertext once payloads are
 * encrypted), so verification needs no keys and survives crypto-shredding. The PostgreSQL adapter
 * computes the same function in SQL inside the append (see the events migration); `verify` always
 * recomputes it here, independently of whoever wrote it.
 */
export const GENESIS_HASH = Buffer.alloc(32);

export interface ChainedFields {
  readonly streamId: string;
  readonly revision: bigint;
  readonly eventId: string;
  readonly type: string;
  readonly schemaVersion: number;
  readonly organisationId: string;
  /** Microseconds since the epoch, as stored. */
  readonly recordedAtMicros: bigint;
  readonly metadata: Uint8Array;
  readonly data: Uint8Array;
}

function u32be(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}

export function computeEventHash(prevHash: Uint8Array, e: ChainedFields): Buffer {
  const header = Buffer.from(
    [
      e.streamId,
      e.revision.toString(),
      e.eventId,
      e.type,
      String(e.schemaVersion),
      e.organisationId,
      e.recordedAtMicros.toString(),
    ].join('\n'),
    'utf8',
  );
  return createHash('sha256')
    .update(prevHash)
    .update(u32be(header.length))
    .update(header)
    .update(u32be(e.metadata.length))
    .update(e.metadata)
    .update(e.data)
    .digest();
}

export interface StoredChainLink extends ChainedFields {
  readonly prevHash: Uint8Array;
  readonly hash: Uint8Array;
}

export type ChainBreak = 'hash_mismatch' | 'prev_hash_mismatch' | 'revision_gap' | 'head_mismatch';

export interface BrokenEvent {
  readonly streamId: string;
  readonly revision: bigint;
  readonly eventId: string | null;
  readonly reason: ChainBreak;
}

export interface VerifyResult {
  readonly ok: boolean;
  readonly eventsChecked: number;
  readonly streamsChecked: number;
  readonly firstBrokenEvent?: BrokenEvent;
}

/**
 * Walks one stream's links in revision order (as stored) and names the first one that does not
 * follow from its predecessor. `expectedHead`, when the store keeps one, catches a truncated tail.
 */
export class StreamChainVerifier {
  private expectedRevision = 0n;
  private previous: Uint8Array = GENESIS_HASH;
  checked = 0;

  constructor(readonly streamId: string) {}

  next(link: StoredChainLink): BrokenEvent | undefined {
    this.checked += 1;
    const at = (reason: ChainBreak): BrokenEvent => ({
      streamId: this.streamId,
      revision: link.revision,
      eventId: link.eventId,
      reason,
    });
    if (link.revision !== this.expectedRevision) return at('revision_gap');
    if (!Buffer.from(link.prevHash).equals(this.previous)) return at('prev_hash_mismatch');
    const recomputed = computeEventHash(this.previous, link);
    if (!recomputed.equals(link.hash)) return at('hash_mismatch');
    this.previous = recomputed;
    this.expectedRevision += 1n;
    return undefined;
  }

  /** Compare the end of the walk with the head the store recorded for this stream. */
  finish(head?: { lastRevision: bigint; lastHash: Uint8Array }): BrokenEvent | undefined {
    if (!head) return undefined;
    const lastRevision = this.expectedRevision - 1n;
    if (head.lastRevision !== lastRevision || !Buffer.from(head.lastHash).equals(this.previous)) {
      return {
        streamId: this.streamId,
        revision: lastRevision + 1n,
        eventId: null,
        reason: 'head_mismatch',
      };
    }
    return undefined;
  }
}
