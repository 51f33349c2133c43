import type { ContactInput } from '@beecastle/domain';
import { ProblemException } from '../../http/problem.exception';
import { RefusePrototypeKeysPipe } from '../../http/prototype-keys.pipe';
import { bodyValidation } from '../../http/validation';
import { toContactInput } from '../contact-fields.dto';
import { CreateContactDto } from '../create-contact/create-contact.dto';

const prototypeKeys = new RefusePrototypeKeysPipe();

/**
 * One contact of an import file, given as `POST /v1/contacts` takes its body, and checked and
 * normalised by the same pipes (unknown fields, limits, emails, phones to E.164). Refusals are the
 * ProblemException that request would have answered with.
 */
export async function parseContactLine(line: string): Promise<ContactInput> {
  let body: unknown;
  try {
    body = JSON.parse(line);
  } catch {
    throw new ProblemException(400, 'VALIDATION_FAILED', 'The line is not valid JSON.', {
      fields: [],
    });
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    throw new ProblemException(400, 'VALIDATION_FAILED', 'The line is not a JSON object.', {
      fields: [],
    });
  prototypeKeys.transform(body);
  const dto = (await bodyValidation.transform(body, {
    type: 'body',
    metatype: CreateContactDto,
  })) as CreateContactDto;
  return toContactInput(dto);
}
