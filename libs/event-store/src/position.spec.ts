import { comparePositions, formatPosition, MAX_PREPARE, parsePosition, START } from './position';

describe('positions', () => {
  it('order by commit first, then prepare', () => {
    const sorted = [
      { commit: 2n, prepare: 1n },
      { commit: 1n, prepare: 9n },
      { commit: 1n, prepare: 3n },
      START,
    ].sort(comparePositions);

    expect(sorted).toEqual([
      START,
      { commit: 1n, prepare: 3n },
      { commit: 1n, prepare: 9n },
      { commit: 2n, prepare: 1n },
    ]);
    expect(comparePositions({ commit: 5n, prepare: 5n }, { commit: 5n, prepare: 5n })).toBe(0);
  });

  it('round-trip through text, up to 64-bit values', () => {
    for (const position of [
      START,
      { commit: 12n, prepare: 7n },
      { commit: 2n ** 64n - 1n, prepare: MAX_PREPARE },
    ]) {
      expect(parsePosition(formatPosition(position))).toEqual(position);
    }
    expect(formatPosition({ commit: 12n, prepare: 7n })).toBe('12/7');
  });

  it.each(['', '12', '12/', '/7', '-1/2', '1/2/3', '1.5/2', ' 1/2', '123456789012345678901/1'])(
    'refuse to parse %j',
    (text) => {
      expect(() => parsePosition(text)).toThrow('Not a log position');
    },
  );

  it('keep START immutable', () => {
    expect(Object.isFrozen(START)).toBe(true);
  });
});
