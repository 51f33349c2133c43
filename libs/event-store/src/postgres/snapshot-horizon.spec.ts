import { endedBefore, newestEndedAboveHorizon, parseSnapshot } from './snapshot-horizon';

describe('snapshot horizon', () => {
  it('parses pg_snapshot text', () => {
    expect(parseSnapshot('795:799:795,797')).toEqual({
      xmin: 795n,
      xmax: 799n,
      running: new Set([795n, 797n]),
    });
    expect(parseSnapshot('800:800:')).toEqual({ xmin: 800n, xmax: 800n, running: new Set() });
    expect(() => parseSnapshot('800')).toThrow(/Not a pg_snapshot/);
  });

  it('finds the newest transaction that ended above the horizon', () => {
    // 795 and 797 still run; 796 and 798 have ended, and 798 hides behind 795 and 797.
    expect(newestEndedAboveHorizon(parseSnapshot('795:799:795,797'))).toBe(798n);
    expect(newestEndedAboveHorizon(parseSnapshot('795:799:795,798'))).toBe(797n);
    // Nothing has ended above the horizon: nothing is hidden, no need to wait.
    expect(newestEndedAboveHorizon(parseSnapshot('795:797:795,796'))).toBeUndefined();
    expect(newestEndedAboveHorizon(parseSnapshot('800:800:'))).toBeUndefined();
  });

  it('tells which transactions had ended when the snapshot was taken', () => {
    const snapshot = parseSnapshot('795:799:795,797');
    expect([794n, 795n, 796n, 797n, 798n, 799n].map((x) => endedBefore(snapshot, x))).toEqual([
      true,
      false,
      true,
      false,
      true,
      false,
    ]);
  });
});
