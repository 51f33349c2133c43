import { Controller, Get, Param, Query, Res } from '@nestjs/common';
import { QueryBus } from '@nestjs/cqrs';
import { ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import type { AuthContext } from '../auth/auth-context';
import { CurrentAuth, RequirePermission } from '../auth/auth.decorators';
import { ProblemException } from '../http/problem.exception';
import { ParseIdPipe, queryValidation } from '../http/validation';
import { ContactHistoryQuery } from './contact-history/contact-history.query';
import type { ContactView } from './contact.view';
import { asOfInstant, GetContactDto } from './get-contact/get-contact.dto';
import { GetContactQuery } from './get-contact/get-contact.query';
import { contactListOf, ListContactsDto } from './list-contacts/list-contacts.dto';
import { ListContactsQuery } from './list-contacts/list-contacts.query';
import { ListInteractionsDto } from './list-interactions/list-interactions.dto';
import { ListInteractionsQuery } from './list-interactions/list-interactions.query';

const DEFAULT_LIMIT = 50;

/** Contacts and their interactions: the read side. The organisation only from the credential. */
@ApiTags('contacts')
@Controller('v1/contacts')
export class ContactQueriesController {
  constructor(private readonly queries: QueryBus) {}

  @Get()
  @RequirePermission('contacts:read')
  list(@CurrentAuth() auth: AuthContext, @Query(queryValidation) query: ListContactsDto) {
    return this.queries.execute(new ListContactsQuery(auth, contactListOf(query)));
  }

  /** With `ETag: "<version>"`, the value If-Match sends back. */
  @Get(':id')
  @RequirePermission('contacts:read')
  async get(
    @CurrentAuth() auth: AuthContext,
    @Param('id', ParseIdPipe) id: string,
    @Query(queryValidation) query: GetContactDto,
    @Res({ passthrough: true }) res: FastifyReply,
  ): Promise<ContactView> {
    const asOf = query.asOf === undefined ? undefined : asOfInstant(query.asOf);
    if (query.asOf !== undefined && !asOf)
      throw new ProblemException(400, 'VALIDATION_FAILED', 'asOf must name a real moment.', {
        fields: ['asOf'],
      });
    const contact = await this.queries.execute(new GetContactQuery(auth, id, asOf));
    res.header('ETag', `"${contact.version}"`);
    return contact;
  }

  @Get(':id/history')
  @RequirePermission('contacts:read')
  history(@CurrentAuth() auth: AuthContext, @Param('id', ParseIdPipe) id: string) {
    return this.queries.execute(new ContactHistoryQuery(auth, id));
  }

  /** Newest first (occurredAt, then id, descending). */
  @Get(':id/interactions')
  @RequirePermission('contacts:read')
  interactions(
    @CurrentAuth() auth: AuthContext,
    @Param('id', ParseIdPipe) id: string,
    @Query(queryValidation) query: ListInteractionsDto,
  ) {
    const limit = query.limit === undefined ? DEFAULT_LIMIT : Number(query.limit);
    return this.queries.execute(new ListInteractionsQuery(auth, id, limit, query.cursor));
  }
}
