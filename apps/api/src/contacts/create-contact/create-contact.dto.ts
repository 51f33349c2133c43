import { ContactFieldsDto } from '../contact-fields.dto';

/** A new contact: any of its fields, at least one. */
export class CreateContactDto extends ContactFieldsDto {}
