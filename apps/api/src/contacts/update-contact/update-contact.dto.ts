import { ContactFieldsDto } from '../contact-fields.dto';

/** A partial update: the fields present are set (null or [] clears one), the others stay. */
export class UpdateContactDto extends ContactFieldsDto {}
