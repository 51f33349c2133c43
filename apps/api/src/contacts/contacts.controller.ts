import { Controller } from '@nestjs/common';

/** Contacts and their interactions: the write side (commands). */
@Controller('v1/contacts')
export class ContactsController {}
