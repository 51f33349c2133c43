import { Worker } from 'node:worker_threads';

/**
 * One payload to open: its key, the associated data it is bound to (bytes, or text taken as its
 * UTF-8 bytes: see associatedDataText), nonce ‖ ciphertext ‖ tag.
 */
export interface SealedItem {
  readonly key: Buffer;
  readonly associatedData: Uint8Array | string;
  readonly sealed: Uint8Array;
}

const NONCE_BYTES = 12;
const TAG_BYTES = 16;
const KEY_BYTES = 32;

// Plain JavaScript, evaluated by the worker itself: no loader or build step in any environment
// (tests, ts-node, the compiled service). It opens each item as aes-gcm.ts `open` does, writing
// the plaintexts into one buffer handed back without a copy; an item that does not open is
// reported by index, and its bytes are never returned.
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { createDecipheriv } = require('node:crypto');
parentPort.on('message', (batch) => {
  const { id, count, keys, keyIndex, input, offsets, aad, aadOffsets } = batch;
  const inBytes = Buffer.from(input);
  const aadBytes = Buffer.from(aad);
  const keyBytes = Buffer.from(keys);
  let size = 0;
  for (let i = 0; i < count; i++) size += offsets[i + 1] - offsets[i] - ${NONCE_BYTES + TAG_BYTES};
  const out = Buffer.alloc(Math.max(size, 1));
  const outOffsets = new Int32Array(count + 1);
  const failed = [];
  let at = 0;
  for (let i = 0; i < count; i++) {
    const start = offsets[i];
    const end = offsets[i + 1];
    outOffsets[i] = at;
    try {
      const decipher = createDecipheriv(
        'aes-256-gcm',
        keyBytes.subarray(keyIndex[i] * ${KEY_BYTES}, (keyIndex[i] + 1) * ${KEY_BYTES}),
        inBytes.subarray(start, start + ${NONCE_BYTES}),
        { authTagLength: ${TAG_BYTES} },
      );
      decipher.setAAD(aadBytes.subarray(aadOffsets[i], aadOffsets[i + 1]));
      decipher.setAuthTag(inBytes.subarray(end - ${TAG_BYTES}, end));
      const head = decipher.update(inBytes.subarray(start + ${NONCE_BYTES}, end - ${TAG_BYTES}));
      decipher.final(); // throws unless authentic: only then is the plaintext kept
      at += head.copy(out, at);
    } catch {
      failed.push(i);
    }
  }
  outOffsets[count] = at;
  keyBytes.fill(0);
  parentPort.postMessage({ id, out: out.buffer, outOffsets, failed }, [out.buffer]);
});`;

interface Reply {
  readonly id: number;
  readonly out: ArrayBuffer;
  readonly outOffsets: Int32Array;
  readonly failed: readonly number[];
}

/**
 * AES-256-GCM opening on a worker thread, for readers that decrypt in bulk (a subscription
 * catching up): the reader's thread packs a batch into three buffers and goes on parsing the next
 * page while the worker opens this one. Opening costs 4-7 µs an event in Node, about as much as
 * reading it; packing and unpacking cost the reader's thread about 1.5 µs (a profile of a cold
 * read, with the associated data still packed as bytes). Keys cross to the worker with the batch
 * (the same process's memory) and are zeroed there after use. The worker starts at the first
 * batch and does not keep the process alive; if it fails, its batches fail (callers open them in
 * place) and the next batch starts another.
 */
export class ThreadedDecryption {
  private worker: Worker | undefined;
  private readonly pending = new Map<
    number,
    { resolve: (reply: Reply) => void; reject: (error: Error) => void }
  >();
  private nextId = 0;
  private closed = false;

  /** Each item's plaintext, or undefined where it does not open (the caller says why, loudly). */
  async open(items: readonly SealedItem[]): Promise<(Buffer | undefined)[]> {
    if (this.closed) throw new Error('ThreadedDecryption is closed');
    const count = items.length;
    const keySlots = new Map<Buffer, number>();
    const keyIndex = new Int32Array(count);
    const offsets = new Int32Array(count + 1);
    const aadOffsets = new Int32Array(count + 1);
    let size = 0;
    let aadSize = 0;
    items.forEach((item, i) => {
      if (item.sealed.length < NONCE_BYTES + TAG_BYTES) throw new RangeError('sealed too short');
      let slot = keySlots.get(item.key);
      if (slot === undefined) keySlots.set(item.key, (slot = keySlots.size));
      keyIndex[i] = slot;
      size += item.sealed.length;
      const context = item.associatedData;
      aadSize += typeof context === 'string' ? Buffer.byteLength(context, 'utf8') : context.length;
    });
    const input = new Uint8Array(size);
    const aad = Buffer.from(new ArrayBuffer(aadSize));
    const keys = new Uint8Array(keySlots.size * KEY_BYTES);
    for (const [key, slot] of keySlots) keys.set(key, slot * KEY_BYTES);
    let at = 0;
    let aadAt = 0;
    items.forEach((item, i) => {
      offsets[i] = at;
      input.set(item.sealed, at);
      at += item.sealed.length;
      aadOffsets[i] = aadAt;
      const context = item.associatedData;
      if (typeof context === 'string') aadAt += aad.write(context, aadAt, 'utf8');
      else {
        aad.set(context, aadAt);
        aadAt += context.length;
      }
    });
    offsets[count] = at;
    aadOffsets[count] = aadAt;

    const id = this.nextId++;
    const reply = await new Promise<Reply>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      const worker = this.start();
      worker.postMessage(
        {
          id,
          count,
          keys: keys.buffer,
          keyIndex,
          input: input.buffer,
          offsets,
          aad: aad.buffer,
          aadOffsets,
        },
        [keys.buffer, input.buffer, aad.buffer],
      );
    });
    const out = Buffer.from(reply.out);
    const failed = new Set(reply.failed);
    const opened = new Array<Buffer | undefined>(count);
    for (let i = 0; i < count; i++) {
      opened[i] = failed.has(i)
        ? undefined
        : out.subarray(reply.outOffsets[i], reply.outOffsets[i + 1]);
    }
    return opened;
  }

  async close(): Promise<void> {
    this.closed = true;
    const worker = this.worker;
    this.worker = undefined;
    this.failAll(new Error('ThreadedDecryption closed'));
    await worker?.terminate();
  }

  private start(): Worker {
    if (this.worker) return this.worker;
    // No preloads: the source needs only Node's own modules, and a worker inherits the process's
    // `-r` options by default (with `-r ts-node/register` the TypeScript compiler loaded first:
    // 190 ms before the first batch could open, a projection lag spike of 200-330 ms under load).
    const worker = new Worker(WORKER_SOURCE, { eval: true, execArgv: [] });
    worker.unref();
    worker.on('message', (reply: Reply) => {
      const waiting = this.pending.get(reply.id);
      this.pending.delete(reply.id);
      waiting?.resolve(reply);
    });
    const lost = (error: Error) => {
      if (this.worker !== worker) return;
      this.worker = undefined;
      this.failAll(error);
    };
    worker.on('error', lost);
    worker.on('exit', (code) => lost(new Error(`The decryption thread exited (${code})`)));
    this.worker = worker;
    return worker;
  }

  private failAll(error: Error): void {
    for (const { reject } of this.pending.values()) reject(error);
    this.pending.clear();
  }
}
