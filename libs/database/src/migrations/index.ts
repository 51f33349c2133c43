import type { MigrationInterface } from 'typeorm';
import { EventLog1764000000001 } from './1764000000001-EventLog';
import { ProjectionCheckpoints1764000000002 } from './1764000000002-ProjectionCheckpoints';
import { Identity1764000000003 } from './1764000000003-Identity';
import { Authentication1764000000004 } from './1764000000004-Authentication';
import { Contacts1764000000005 } from './1764000000005-Contacts';
import { Idempotency1764000000006 } from './1764000000006-Idempotency';
import { MultiStreamAppend1764000000007 } from './1764000000007-MultiStreamAppend';
import { KeyStore1764000000008 } from './1764000000008-KeyStore';
import { DataKeysForWriting1764000000009 } from './1764000000009-DataKeysForWriting';
import { LeanerAppends1764000000010 } from './1764000000010-LeanerAppends';
import { CheaperDataKeyInserts1764000000011 } from './1764000000011-CheaperDataKeyInserts';
import { DataKeysForReading1764000000012 } from './1764000000012-DataKeysForReading';
import { KeyFunctionsGenericPlans1764000000013 } from './1764000000013-KeyFunctionsGenericPlans';
import { DataKeysWithAppends1764000000014 } from './1764000000014-DataKeysWithAppends';
import { SealedSigningKeys1764000000015 } from './1764000000015-SealedSigningKeys';
import { CheaperIdChecks1764000000016 } from './1764000000016-CheaperIdChecks';
import { IndexedCompanyFilter1764000000017 } from './1764000000017-IndexedCompanyFilter';
import { SmallerGinPendingLists1764000000018 } from './1764000000018-SmallerGinPendingLists';

/**
 * Versioned schema changes, applied in this order at start by the schema owner. Never edit one that
 * has shipped: add another. Class names end in a timestamp, as TypeORM requires.
 */
export const MIGRATIONS: (new () => MigrationInterface)[] = [
  EventLog1764000000001,
  ProjectionCheckpoints1764000000002,
  Identity1764000000003,
  Authentication1764000000004,
  Contacts1764000000005,
  Idempotency1764000000006,
  MultiStreamAppend1764000000007,
  KeyStore1764000000008,
  DataKeysForWriting1764000000009,
  LeanerAppends1764000000010,
  CheaperDataKeyInserts1764000000011,
  DataKeysForReading1764000000012,
  KeyFunctionsGenericPlans1764000000013,
  DataKeysWithAppends1764000000014,
  SealedSigningKeys1764000000015,
  CheaperIdChecks1764000000016,
  IndexedCompanyFilter1764000000017,
  SmallerGinPendingLists1764000000018,
];
