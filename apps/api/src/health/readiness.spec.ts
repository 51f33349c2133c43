import pino from 'pino';
import { ReadinessService, type ReadinessCheck } from './readiness';

const silent = pino({ level: 'silent' });

function check(name: string, run: () => Promise<void>): ReadinessCheck {
  return { name, check: run };
}

describe('ReadinessService', () => {
  it('is ready when every check passes', async () => {
    const service = new ReadinessService(
      [check('database', () => Promise.resolve()), check('projector', () => Promise.resolve())],
      silent,
    );
    await expect(service.report()).resolves.toEqual({
      ready: true,
      checks: { database: 'up', projector: 'up' },
    });
  });

  it('is not ready when one check fails, and says which', async () => {
    const service = new ReadinessService(
      [
        check('database', () => Promise.reject(new Error('ECONNREFUSED'))),
        check('projector', () => Promise.resolve()),
      ],
      silent,
    );
    await expect(service.report()).resolves.toEqual({
      ready: false,
      checks: { database: 'down', projector: 'up' },
    });
  });

  it('counts a check that hangs as down once the timeout passes', async () => {
    const service = new ReadinessService(
      [check('database', () => new Promise<void>(() => undefined))],
      silent,
      20,
    );
    await expect(service.report()).resolves.toEqual({
      ready: false,
      checks: { database: 'down' },
    });
  });

  it('logs why a check failed (the answer itself does not say)', async () => {
    const lines: string[] = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => lines.push(line) });
    await new ReadinessService(
      [check('database', () => Promise.reject(new Error('password authentication failed')))],
      logger,
    ).report();
    expect(lines.join('')).toContain('password authentication failed');
  });
});
