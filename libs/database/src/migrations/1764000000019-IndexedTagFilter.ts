import type { MigrationInterface, QueryRunner } from 'typeorm';
import { GIN_PENDING_LIST_KB } from './1764000000018-SmallerGinPendingLists';

/**
 * The `tag` filter of the contact list as an index lookup under forced row-level security.
 *
 * It was `tags @> ARRAY[$tag]` on the GIN index `contacts_tags`, but `@>` (`arraycontains`) is not
 * LEAKPROOF, so under the row-level policy it could only filter the organisation's rows, walked in
 * sort order: fast when the tag is common, linear in the organisation's contacts when it is rare or
 * absent (46–49 ms for a tag on 20 of 200,000 contacts, or on none: npm run bench:tags).
 *
 * `contact_tags` holds one row per (organisation, tag, contact), kept by triggers on `contacts`:
 * an insert adds the rows' tags and a delete removes them (statement-level, from the transition
 * tables: one statement per batch), an update whose `tags` differ removes those dropped and adds
 * those gained (row-level, only where they differ: the usual update, and every interaction, which
 * moves the contact's revision, costs a comparison; transition tables cost every updated row
 * 3 µs more), and a TRUNCATE (an owner's rebuild from scratch) empties it. Any writer of
 * `contacts` (the projection's batch upserts, its purge after an erasure) keeps it true without
 * knowing of it, in the same transaction. A contact's key never changes: the projection never
 * updates it. The list (contact-list.ts) reads a tag's ids from the primary key with `=`
 * (texteq is LEAKPROOF, so the policy lets the index answer).
 *
 * The GIN index on `tags` goes: under the policy no query of the application could use it, and
 * every projected contact paid for it.
 *
 * The table is tenant data like the others: `org_id` leads its key, row-level security is forced,
 * one policy admits the transaction's organisation. The triggers run as their caller (SECURITY
 * INVOKER), so the projector's rows go in under that policy. Existing contacts' tags are copied in
 * here, with `contacts`' forced row-level security lifted for this transaction only (the owner
 * reads every organisation's rows to copy them, as no application role can).
 */
export class IndexedTagFilter1764000000019 implements MigrationInterface {
  async up(queryRunner: QueryRunner): Promise<void> {
    const q = (sql: string) => queryRunner.query(sql);

    await q(`
      CREATE TABLE contact_tags (
        org_id     uuid NOT NULL,
        tag        text COLLATE "C" NOT NULL,
        contact_id text COLLATE "C" NOT NULL,
        PRIMARY KEY (org_id, tag, contact_id)
      )`);

    await q(`ALTER TABLE contacts NO FORCE ROW LEVEL SECURITY`);
    await q(`
      INSERT INTO contact_tags (org_id, tag, contact_id)
      SELECT c.org_id, t.tag, c.contact_id
        FROM contacts c CROSS JOIN LATERAL unnest(c.tags) AS t(tag)
       WHERE t.tag IS NOT NULL
      ON CONFLICT DO NOTHING`);
    await q(`ALTER TABLE contacts FORCE ROW LEVEL SECURITY`);

    await q(`GRANT SELECT, INSERT, DELETE ON contact_tags TO beecastle_app`);
    await q(`ALTER TABLE contact_tags ENABLE ROW LEVEL SECURITY`);
    await q(`ALTER TABLE contact_tags FORCE ROW LEVEL SECURITY`);
    await q(`
      CREATE POLICY contact_tags_organisation ON contact_tags
      USING (org_id = app_org_id()) WITH CHECK (org_id = app_org_id())`);

    // A contact's tags may repeat or (not from the API) hold a NULL: neither makes a row.
    await q(`
      CREATE FUNCTION contact_tags_after_insert() RETURNS trigger
      LANGUAGE plpgsql SECURITY INVOKER SET search_path = public, pg_temp AS $$
      BEGIN
        INSERT INTO contact_tags (org_id, tag, contact_id)
        SELECT n.org_id, t.tag, n.contact_id
          FROM inserted_contacts n CROSS JOIN LATERAL unnest(n.tags) AS t(tag)
         WHERE t.tag IS NOT NULL
        ON CONFLICT DO NOTHING;
        RETURN NULL;
      END $$`);
    // For a row whose tags changed (the trigger's WHEN); array_position treats NULLs as values, so
    // a tag kept is never taken for one dropped.
    await q(`
      CREATE FUNCTION contact_tags_after_update() RETURNS trigger
      LANGUAGE plpgsql SECURITY INVOKER SET search_path = public, pg_temp AS $$
      BEGIN
        DELETE FROM contact_tags ct
         USING unnest(OLD.tags) AS t(tag)
         WHERE array_position(NEW.tags, t.tag) IS NULL
           AND ct.org_id = OLD.org_id AND ct.tag = t.tag AND ct.contact_id = OLD.contact_id;
        INSERT INTO contact_tags (org_id, tag, contact_id)
        SELECT NEW.org_id, t.tag, NEW.contact_id FROM unnest(NEW.tags) AS t(tag)
         WHERE t.tag IS NOT NULL
        ON CONFLICT DO NOTHING;
        RETURN NULL;
      END $$`);
    await q(`
      CREATE FUNCTION contact_tags_after_delete() RETURNS trigger
      LANGUAGE plpgsql SECURITY INVOKER SET search_path = public, pg_temp AS $$
      BEGIN
        DELETE FROM contact_tags ct
         USING deleted_contacts o CROSS JOIN LATERAL unnest(o.tags) AS t(tag)
         WHERE ct.org_id = o.org_id AND ct.tag = t.tag AND ct.contact_id = o.contact_id;
        RETURN NULL;
      END $$`);
    // Only an owner may empty contacts so (a rebuild from scratch): contact_tags goes with it.
    await q(`
      CREATE FUNCTION contact_tags_after_truncate() RETURNS trigger
      LANGUAGE plpgsql SECURITY INVOKER SET search_path = public, pg_temp AS $$
      BEGIN
        TRUNCATE contact_tags;
        RETURN NULL;
      END $$`);
    await q(`
      CREATE TRIGGER contact_tags_after_insert AFTER INSERT ON contacts
        REFERENCING NEW TABLE AS inserted_contacts
        FOR EACH STATEMENT EXECUTE FUNCTION contact_tags_after_insert()`);
    await q(`
      CREATE TRIGGER contact_tags_after_update AFTER UPDATE OF tags ON contacts
        FOR EACH ROW WHEN (OLD.tags IS DISTINCT FROM NEW.tags)
        EXECUTE FUNCTION contact_tags_after_update()`);
    await q(`
      CREATE TRIGGER contact_tags_after_delete AFTER DELETE ON contacts
        REFERENCING OLD TABLE AS deleted_contacts
        FOR EACH STATEMENT EXECUTE FUNCTION contact_tags_after_delete()`);
    await q(`
      CREATE TRIGGER contact_tags_after_truncate AFTER TRUNCATE ON contacts
        FOR EACH STATEMENT EXECUTE FUNCTION contact_tags_after_truncate()`);

    await q(`DROP INDEX contacts_tags`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    const q = (sql: string) => queryRunner.query(sql);
    await q(`CREATE INDEX contacts_tags ON contacts USING gin (org_id, tags)`);
    await q(`ALTER INDEX contacts_tags SET (gin_pending_list_limit = ${GIN_PENDING_LIST_KB})`);
    for (const fn of ['insert', 'update', 'delete', 'truncate']) {
      await q(`DROP TRIGGER contact_tags_after_${fn} ON contacts`);
      await q(`DROP FUNCTION contact_tags_after_${fn}()`);
    }
    await q(`DROP TABLE contact_tags`);
  }
}
