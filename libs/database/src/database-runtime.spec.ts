import { loadConfiguration } from '@beecastle/config';
import { insecureDatabaseWarnings, openDatabase } from './database-runtime';

describe('a database connection ALLOW_INSECURE_DATABASE let through', () => {
  const insecure = 'postgres://app:pw@db.internal/beecastle';
  const verified = 'postgres://owner:pw@db.internal/beecastle?sslmode=verify-full';

  it('is named in a warning at boot, one per connection string without verified TLS', async () => {
    const config = loadConfiguration({
      DATABASE_URL: insecure,
      ALLOW_INSECURE_DATABASE: 'true',
    });
    const info: string[] = [];
    const warnings: string[] = [];
    // No owner URL: nothing to migrate, so nothing connects.
    await openDatabase(
      config,
      (m) => info.push(m),
      (m) => warnings.push(m),
    );
    expect(warnings).toEqual([
      'DATABASE_URL connects without verified TLS because ALLOW_INSECURE_DATABASE=true: whoever is on the network path can read and alter the traffic, passwords included',
    ]);
    expect(info).toEqual([]);
    expect(warnings.join('\n')).not.toContain('pw@');
  });

  it('says nothing of a verified or socket connection, and nothing without the setting', () => {
    expect(
      insecureDatabaseWarnings(
        loadConfiguration({
          DATABASE_URL: 'postgres://app@localhost/beecastle?host=/var/run/postgresql',
          DATABASE_OWNER_URL: verified,
          ALLOW_INSECURE_DATABASE: 'true',
        }),
      ),
    ).toEqual([]);
    expect(insecureDatabaseWarnings(loadConfiguration({ DATABASE_URL: verified }))).toEqual([]);
    expect(
      insecureDatabaseWarnings(
        loadConfiguration({
          DATABASE_URL: verified,
          DATABASE_OWNER_URL: insecure,
          ALLOW_INSECURE_DATABASE: 'true',
        }),
      ).map((w) => w.split(' ')[0]),
    ).toEqual(['DATABASE_OWNER_URL']);
  });
});
