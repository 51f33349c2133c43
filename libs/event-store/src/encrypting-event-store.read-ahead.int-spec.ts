import { randomBytes, randomUUID } from 'node:crypto';
import { Keyring, PostgresKeyStore, type PayloadKeyring } from '@beecastle/crypto';
import { testMasterKeyProvider } from '../../crypto/src/testing/test-master-key';
import { jsonBytes, newEvent, contactSubjectOf } from './contract/test-events';
import { EncryptingEventStore, PayloadDecryptionError } from './encrypting-event-store';
import type { RecordedEvent, SubscriptionMessage } from './event-store.port';
import { PostgresEventStore } from './postgres/postgres-event-store';
import { streamName } from './stream-name';
import { eventually, productKeyring, useEncryptedTestDatabase } from './testing/encrypted-test-log';

jest.setTimeout(30_000);

const subjectOf = contactSubjectOf;

const t = useEncryptedTestDatabase();

/**
 * The encrypted log as the product wires it, on pages of three events so that a subscription
 * reads many batches, recording the key ids each batch looks up ahead.
 */
async function readAheadStore() {
  const inner = new PostgresEventStore(t.db.app, { pollIntervalMs: 100, pageSize: 3 });
  const { keyStore, keyring } = await productKeyring(t.db);
  const lookedUpAhead: string[][] = [];
  const recording: PayloadKeyring = {
    keysForWriting: (o, s) => keyring.keysForWriting(o, s),
    keysForReading: (o, k) => keyring.keysForReading(o, k),
    keysForReadingAhead: (o, k) => {
      lookedUpAhead.push([...k]);
      return keyring.keysForReadingAhead(o, k);
    },
  };
  t.closeAfter(async () => {
    await inner.close();
    await keyring.close();
  });
  return {
    inner,
    keyStore,
    lookedUpAhead,
    store: new EncryptingEventStore(inner, recording, subjectOf),
  };
}

/** One event each in `count` new contact streams, in order; answers the streams' contact ids. */
async function contactsWithOneEvent(
  store: EncryptingEventStore,
  organisationId: string,
  count: number,
): Promise<string[]> {
  const contacts: string[] = [];
  for (let n = 0; n < count; n += 1) {
    const contactId = randomUUID();
    await store.appendToStream(
      streamName('contact', organisationId, contactId),
      [newEvent(organisationId, { data: jsonBytes({ n }) })],
      { expectedRevision: 'no_stream' },
    );
    contacts.push(contactId);
  }
  return contacts;
}

const payload = (event: RecordedEvent) => Buffer.from(event.data).toString('utf8');

describe('an encrypted subscription, keys looked up a batch ahead', () => {
  it('keeps order, and reads as erased a key destroyed after its batch’s lookup began', async () => {
    const { store, keyStore, lookedUpAhead } = await readAheadStore();
    const organisationId = randomUUID();
    const contacts = await contactsWithOneEvent(store, organisationId, 12);

    const subscription = store.subscribeToAll({ filter: { organisationId } });
    const iterator = subscription[Symbol.asyncIterator]();
    const messages: SubscriptionMessage[] = [(await iterator.next()).value as SubscriptionMessage];
    // The next batch is being taken and its keys looked up while this one is consumed.
    await eventually(() => lookedUpAhead.length >= 2, 'the lookup of the next batch');
    await new Promise((resolve) => setTimeout(resolve, 100));
    const victim = lookedUpAhead[1][0].split(':')[0];
    expect(contacts.indexOf(victim)).toBeGreaterThan(0);

    // Another process erases it; this one hears of it before the batch's turn comes.
    const other = new Keyring(new PostgresKeyStore(t.db.app), testMasterKeyProvider());
    const heard = new Promise<void>((resolve) => {
      const stop = keyStore.destructions!.subscribe((o, s) => {
        if (o === organisationId && s === victim) {
          stop();
          resolve();
        }
      });
    });
    await other.destroy(organisationId, victim);
    await heard;
    await other.close();

    for (;;) {
      const { done, value } = await iterator.next();
      if (done || value.kind === 'caughtUp') break;
      messages.push(value);
    }
    await subscription.close();

    const events = messages.flatMap((m) => (m.kind === 'event' ? [m.event] : []));
    expect(events.map((e) => e.streamId)).toEqual(
      contacts.map((c) => streamName('contact', organisationId, c)),
    );
    for (const [n, event] of events.entries()) {
      if (contacts[n] === victim) {
        expect(event.erased).toBe(true);
        expect(event.data).toHaveLength(0);
      } else {
        expect(event.erased).toBeFalsy();
        expect(JSON.parse(payload(event))).toEqual({ n });
      }
    }
  });

  it('fails loudly at a key the key store does not know, having delivered what came before in order', async () => {
    const { store, inner } = await readAheadStore();
    const organisationId = randomUUID();
    await contactsWithOneEvent(store, organisationId, 7);
    const unknown = newEvent(organisationId, {
      data: Buffer.concat([Buffer.from([0x01]), randomBytes(60)]),
      metadata: { keyId: `${randomUUID()}:1` },
    });
    await inner.appendToStream(streamName('contact', organisationId, randomUUID()), [unknown], {
      expectedRevision: 'no_stream',
    });
    await contactsWithOneEvent(store, organisationId, 3);

    const subscription = store.subscribeToAll({ filter: { organisationId } });
    const iterator = subscription[Symbol.asyncIterator]();
    const delivered: unknown[] = [];
    let failure: unknown;
    try {
      for (;;) {
        const { done, value } = await iterator.next();
        if (done || value.kind === 'caughtUp') break;
        if (value.kind === 'event') delivered.push(JSON.parse(payload(value.event)));
      }
    } catch (error) {
      failure = error;
    }
    await subscription.close();

    expect(failure).toBeInstanceOf(PayloadDecryptionError);
    expect((failure as PayloadDecryptionError).eventId).toBe(unknown.eventId);
    // Whole batches before the one that failed, nothing of it or after it.
    expect(delivered).toEqual(Array.from({ length: delivered.length }, (_, n) => ({ n })));
    expect(delivered.length).toBeLessThanOrEqual(7);
  });
});
