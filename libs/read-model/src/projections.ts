import { AccessProjection } from './access/access.projection';
import { ContactsProjection } from './contacts/contacts.projection';
import type { Projection } from './projection';

/** The read models the projector maintains. Each is added here as its use cases land. */
export const PROJECTIONS: readonly Projection[] = [
  new AccessProjection(),
  new ContactsProjection(),
];
