import { serverFlags } from './embedded-postgres';

/** The flags as `name=value` pairs, in order (each follows a `-c`). */
function settingsOf(flags: readonly string[]): string[] {
  const pairs: string[] = [];
  for (let i = 0; i < flags.length; i += 2) {
    expect(flags[i]).toBe('-c');
    pairs.push(flags[i + 1]);
  }
  return pairs;
}

/** What the server ends with: of a setting given twice, the later one. */
function effective(flags: readonly string[]): Map<string, string> {
  return new Map(
    settingsOf(flags).map((pair) => {
      const at = pair.indexOf('=');
      return [pair.slice(0, at), pair.slice(at + 1)];
    }),
  );
}

describe('serverFlags', () => {
  it('creates WAL segments without zero-filling them, and leaves durability alone', () => {
    const flags = effective(serverFlags('/data/cluster', true));
    expect(flags.get('wal_init_zero')).toBe('off');
    for (const durable of ['fsync', 'synchronous_commit', 'full_page_writes', 'wal_sync_method'])
      expect(flags.has(durable)).toBe(false);
    expect(flags.get('ssl')).toBe('on');
    expect(flags.get('ssl_min_protocol_version')).toBe('TLSv1.2');
    expect(flags.get('listen_addresses')).toBe('127.0.0.1');
  });

  it('has no TLS flags without TLS', () => {
    expect([...effective(serverFlags('/data/cluster', false)).keys()]).not.toContain('ssl');
  });

  it('puts settings given at start last, so they win over its own', () => {
    const flags = serverFlags('/data/cluster', true, { wal_init_zero: 'on', work_mem: '8MB' });
    expect(settingsOf(flags).slice(-2)).toEqual(['wal_init_zero=on', 'work_mem=8MB']);
    expect(effective(flags).get('wal_init_zero')).toBe('on');
  });

  it('refuses a setting name that is not one', () => {
    for (const name of ['', 'Work_mem', 'work_mem=1MB', 'a b', '-c'])
      expect(() => serverFlags('/data/cluster', true, { [name]: 'off' })).toThrow(RangeError);
  });
});
