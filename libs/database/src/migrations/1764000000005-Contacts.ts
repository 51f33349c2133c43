import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The contacts and interactions read models (issue 4), written by the `contacts` projection and
 * read by the query handlers. Tenant tables as in the identity migration: `org_id` leads every key
 * and index, row-level security is forced, and the one policy admits the transaction's
 * organisation only.
 *
 * Contact and interaction ids are the domain's identifiers (1–64 of `[A-Za-z0-9_-]`), not UUIDs.
 * They and the sort key use the "C" collation: byte order is the same on every server whatever
 * its locale, so keyset cursors compare exactly as the indexes order.
 */
export class Contacts1764000000005 implements MigrationInterface {
  async up(queryRunner: QueryRunner): Promise<void> {
    const q = (sql: string) => queryRunner.query(sql);

    // Both are trusted extensions (PostgreSQL 13+): the database's owner, which runs migrations,
    // may create them without a superuser. pg_trgm indexes substring search; btree_gin lets the
    // same GIN index lead with org_id, so a search or tag filter reads one organisation's entries
    // instead of every organisation's matches.
    await q(`CREATE EXTENSION IF NOT EXISTS pg_trgm`);
    await q(`CREATE EXTENSION IF NOT EXISTS btree_gin`);

    // `revision` is the contact stream's revision last applied (the API's `version`, also moved by
    // interaction events); an event at or below it changes nothing. `name_key` and `search_text`
    // are derived by the projection (contacts/contact-search.ts): lower-cased, accents folded.
    await q(`
      CREATE TABLE contacts (
        org_id        uuid NOT NULL,
        contact_id    text COLLATE "C" NOT NULL CHECK (contact_id ~ '^[A-Za-z0-9_-]{1,64}$'),
        revision      bigint NOT NULL CHECK (revision >= 0),
        first_name    text,
        last_name     text,
        emails        jsonb NOT NULL DEFAULT '[]',
        phones        jsonb NOT NULL DEFAULT '[]',
        company       text,
        job_title     text,
        address       jsonb,
        tags          text[] NOT NULL DEFAULT '{}',
        notes         text,
        owner_user_id text,
        archived      boolean NOT NULL DEFAULT false,
        merged_into   text COLLATE "C",
        name_key      text COLLATE "C" NOT NULL,
        search_text   text NOT NULL,
        created_at    timestamptz NOT NULL,
        updated_at    timestamptz NOT NULL,
        created_by    text NOT NULL,
        updated_by    text NOT NULL,
        PRIMARY KEY (org_id, contact_id),
        CHECK (merged_into IS NULL OR archived)
      )`);
    // q: a case-insensitive substring of name, email or company, as LIKE on the folded text.
    // Trigrams answer fragments of three characters or more from the index (shorter ones scan the
    // organisation's rows); the heap recheck keeps the answer exact.
    await q(
      `CREATE INDEX contacts_search ON contacts USING gin (org_id, search_text gin_trgm_ops)`,
    );
    // tag: tags @> ARRAY[$tag].
    await q(`CREATE INDEX contacts_tags ON contacts USING gin (org_id, tags)`);
    // company: lower(company) = lower($company); few rows per company, sorted after the lookup.
    await q(`CREATE INDEX contacts_company ON contacts (org_id, lower(company))`);
    // One per sort (name, updatedAt, createdAt), either direction (scanned backwards for `-`),
    // with `archived` second: the list always names it (default false), so each page is a range
    // scan in order, with the contact id breaking ties for the keyset cursor.
    await q(`CREATE INDEX contacts_by_name ON contacts (org_id, archived, name_key, contact_id)`);
    await q(
      `CREATE INDEX contacts_by_updated ON contacts (org_id, archived, updated_at, contact_id)`,
    );
    await q(
      `CREATE INDEX contacts_by_created ON contacts (org_id, archived, created_at, contact_id)`,
    );

    // A contact's live interactions; a removed one's row is deleted (the contact's revision guards
    // replays, and its history stays in the log).
    await q(`
      CREATE TABLE interactions (
        org_id           uuid NOT NULL,
        contact_id       text COLLATE "C" NOT NULL,
        interaction_id   text COLLATE "C" NOT NULL
                         CHECK (interaction_id ~ '^[A-Za-z0-9_-]{1,64}$'),
        revision         bigint NOT NULL CHECK (revision >= 0),
        type             text NOT NULL CHECK (type IN ('call', 'email', 'meeting', 'note', 'task')),
        occurred_at      timestamptz NOT NULL,
        subject          text,
        body             text,
        direction        text CHECK (direction IN ('inbound', 'outbound')),
        duration_seconds integer CHECK (duration_seconds >= 0),
        due_at           timestamptz,
        completed        boolean,
        created_at       timestamptz NOT NULL,
        updated_at       timestamptz NOT NULL,
        created_by       text NOT NULL,
        updated_by       text NOT NULL,
        PRIMARY KEY (org_id, contact_id, interaction_id)
      )`);
    // Newest first per contact, ties by id: the keyset of GET /v1/contacts/{id}/interactions.
    await q(`
      CREATE INDEX interactions_newest ON interactions
        (org_id, contact_id, occurred_at DESC, interaction_id DESC)`);

    for (const table of ['contacts', 'interactions']) {
      // The projector writes them with the application role; the API only reads them.
      await q(`GRANT SELECT, INSERT, UPDATE, DELETE ON ${table} TO beecastle_app`);
      await q(`ALTER TABLE ${table} ENABLE ROW LEVEL SECURITY`);
      await q(`ALTER TABLE ${table} FORCE ROW LEVEL SECURITY`);
      await q(`
        CREATE POLICY ${table}_organisation ON ${table}
        USING (org_id = app_org_id()) WITH CHECK (org_id = app_org_id())`);
    }
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE interactions`);
    await queryRunner.query(`DROP TABLE contacts`);
    await queryRunner.query(`DROP EXTENSION IF EXISTS btree_gin`);
    await queryRunner.query(`DROP EXTENSION IF EXISTS pg_trgm`);
  }
}
