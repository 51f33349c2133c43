import type { Provider } from '@nestjs/common';
import { ContactHistoryHandler } from './contact-history/contact-history.handler';
import { GetContactHandler } from './get-contact/get-contact.handler';
import { ListContactsHandler } from './list-contacts/list-contacts.handler';
import { ListInteractionsHandler } from './list-interactions/list-interactions.handler';

/** The contact read side's query handlers, one per use case folder. */
export const CONTACT_QUERY_HANDLERS: Provider[] = [
  GetContactHandler,
  ListContactsHandler,
  ContactHistoryHandler,
  ListInteractionsHandler,
];
