import { randomUUID } from 'node:crypto';
import { jsonBytes, newContactStream, newEvents } from './contract/test-events';
import type { RecordedEvent } from './event-store.port';
import {
  computeEventHash,
  GENESIS_HASH,
  StreamChainVerifier,
  type BrokenEvent,
  type ChainedFields,
  type StoredChainLink,
} from './hash-chain';
import { InMemoryEventStore } from './memory/memory-event-store';

// What the store persisted, rebuilt from a read: metadata bytes are the JSON in key order.
function toLink(e: RecordedEvent): StoredChainLink {
  return {
    streamId: e.streamId,
    revision: e.revision,
    eventId: e.eventId,
    type: e.type,
    schemaVersion: e.schemaVersion,
    organisationId: e.metadata.organisationId,
    recordedAtMicros: BigInt(e.recordedAt.getTime()) * 1000n,
    metadata: Buffer.from(JSON.stringify(e.metadata), 'utf8'),
    data: e.data,
    prevHash: Buffer.from(e.prevHash, 'hex'),
    hash: Buffer.from(e.hash, 'hex'),
  };
}

function verify(
  stream: string,
  links: readonly StoredChainLink[],
  head?: { lastRevision: bigint; lastHash: Uint8Array },
): BrokenEvent | undefined {
  const verifier = new StreamChainVerifier(stream);
  for (const link of links) {
    const broken = verifier.next(link);
    if (broken) return broken;
  }
  return verifier.finish(head);
}

describe('StreamChainVerifier', () => {
  const organisationId = randomUUID();
  let stream: string;
  let links: StoredChainLink[];
  let head: { lastRevision: bigint; lastHash: Uint8Array };

  beforeEach(async () => {
    const store = new InMemoryEventStore();
    stream = newContactStream(organisationId);
    await store.appendToStream(stream, newEvents(organisationId, 3), {
      expectedRevision: 'no_stream',
    });
    await store.appendToStream(stream, newEvents(organisationId, 2), { expectedRevision: 2n });
    links = (await store.readStream(stream)).map(toLink);
    head = { lastRevision: 4n, lastHash: links[4].hash };
  });

  it('accepts the chain the in-memory store wrote, head included', () => {
    expect(verify(stream, links, head)).toBeUndefined();
  });

  it('names the event whose payload was edited', () => {
    links[2] = { ...links[2], data: jsonBytes({ note: 'edited' }) };
    expect(verify(stream, links, head)).toEqual({
      streamId: stream,
      revision: 2n,
      eventId: links[2].eventId,
      reason: 'hash_mismatch',
    });
  });

  it('names the event whose metadata was edited', () => {
    links[1] = { ...links[1], metadata: jsonBytes({ organisationId, actorId: 'x' }) };
    expect(verify(stream, links, head)).toMatchObject({ revision: 1n, reason: 'hash_mismatch' });
  });

  it('names the event after a gap', () => {
    const withGap = [...links.slice(0, 2), ...links.slice(3)];
    expect(verify(stream, withGap, head)).toEqual({
      streamId: stream,
      revision: 3n,
      eventId: links[3].eventId,
      reason: 'revision_gap',
    });
  });

  it('names the first event out of place when two are swapped', () => {
    const reordered = [links[0], links[2], links[1], links[3], links[4]];
    expect(verify(stream, reordered, head)).toMatchObject({
      revision: 2n,
      eventId: links[2].eventId,
      reason: 'revision_gap',
    });
  });

  it('names an event relinked to another predecessor', () => {
    links[3] = { ...links[3], prevHash: links[1].hash };
    expect(verify(stream, links, head)).toMatchObject({
      revision: 3n,
      reason: 'prev_hash_mismatch',
    });
  });

  it('names the first missing revision when the head was truncated', () => {
    expect(verify(stream, links.slice(0, 3), head)).toEqual({
      streamId: stream,
      revision: 3n,
      eventId: null,
      reason: 'head_mismatch',
    });
  });

  it('cannot see a truncated head without the recorded head', () => {
    expect(verify(stream, links.slice(0, 3))).toBeUndefined();
  });
});

describe('computeEventHash', () => {
  const fields: ChainedFields = {
    streamId: `contact-${randomUUID()}.c1`,
    revision: 0n,
    eventId: randomUUID(),
    type: 'ContactCreated',
    schemaVersion: 1,
    organisationId: randomUUID(),
    recordedAtMicros: 1_700_000_000_000_123n,
    metadata: jsonBytes({ actorId: 'u' }),
    data: jsonBytes({ name: 'Ada' }),
  };

  it('is deterministic', () => {
    expect(computeEventHash(GENESIS_HASH, fields).toString('hex')).toBe(
      computeEventHash(GENESIS_HASH, { ...fields }).toString('hex'),
    );
  });

  it.each<[string, Partial<ChainedFields>]>([
    ['revision', { revision: 1n }],
    ['type', { type: 'ContactArchived' }],
    ['schema version', { schemaVersion: 2 }],
    ['recordedAt', { recordedAtMicros: fields.recordedAtMicros + 1n }],
    ['data', { data: jsonBytes({ name: 'Adb' }) }],
    // Length prefixes stop bytes moving between metadata and data unnoticed.
    [
      'the boundary between metadata and data',
      {
        metadata: Buffer.concat([fields.metadata, fields.data.subarray(0, 1)]),
        data: fields.data.subarray(1),
      },
    ],
  ])('changes when the %s changes', (_, change) => {
    expect(computeEventHash(GENESIS_HASH, { ...fields, ...change }).toString('hex')).not.toBe(
      computeEventHash(GENESIS_HASH, fields).toString('hex'),
    );
  });

  it('depends on the previous hash', () => {
    expect(
      computeEventHash(Buffer.alloc(32, 1), fields).equals(computeEventHash(GENESIS_HASH, fields)),
    ).toBe(false);
  });
});
