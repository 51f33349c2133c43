import { Body, Controller, Delete, HttpCode, Param, Patch, Post, Res } from '@nestjs/common';
import { CommandBus } from '@nestjs/cqrs';
import { ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import type { AuthContext } from '../auth/auth-context';
import { CurrentAuth, RequirePermission } from '../auth/auth.decorators';
import { bodyValidation, ParseIdPipe } from '../http/validation';
import { commandContext } from '../organisations/command-context';
import {
  CurrentRequestOrigin,
  type RequestOrigin,
} from '../organisations/request-origin.decorator';
import { ArchiveContactCommand } from './archive-contact/archive-contact.command';
import { toContactInput } from './contact-fields.dto';
import { contactFieldsValidation } from './contact-fields.validation';
import type { ContactWritten } from './contact-written';
import { CreateContactCommand } from './create-contact/create-contact.command';
import { CreateContactDto } from './create-contact/create-contact.dto';
import { EraseContactCommand } from './erase-contact/erase-contact.command';
import { IfMatch } from './if-match.decorator';
import { toInteractionInput } from './interaction-fields.dto';
import { LogInteractionCommand } from './log-interaction/log-interaction.command';
import { LogInteractionDto } from './log-interaction/log-interaction.dto';
import { MergeContactsCommand } from './merge-contacts/merge-contacts.command';
import { MergeContactsDto } from './merge-contacts/merge-contacts.dto';
import { RemoveInteractionCommand } from './remove-interaction/remove-interaction.command';
import { UnarchiveContactCommand } from './unarchive-contact/unarchive-contact.command';
import { UpdateContactCommand } from './update-contact/update-contact.command';
import { UpdateContactDto } from './update-contact/update-contact.dto';
import { UpdateInteractionCommand } from './update-interaction/update-interaction.command';
import { UpdateInteractionDto } from './update-interaction/update-interaction.dto';

/** The contact's version as a strong validator: what GET answers and If-Match sends back. */
function withVersion(
  res: FastifyReply,
  written: ContactWritten,
  location?: string,
): ContactWritten {
  res.header('ETag', `"${written.version}"`);
  if (location !== undefined) res.header('Location', location);
  return written;
}

/** Contacts and their interactions: the write side. Every answer carries the contact's version. */
@ApiTags('contacts')
@Controller('v1/contacts')
export class ContactsController {
  constructor(private readonly commands: CommandBus) {}

  @Post()
  @RequirePermission('contacts:write')
  async create(
    @CurrentAuth() auth: AuthContext,
    @CurrentRequestOrigin() origin: RequestOrigin,
    @Body(contactFieldsValidation) body: CreateContactDto,
    @Res({ passthrough: true }) res: FastifyReply,
  ): Promise<ContactWritten> {
    const context = commandContext(auth, origin);
    const command = new CreateContactCommand(context, auth.role, toContactInput(body));
    const written = await this.commands.execute(command);
    return withVersion(res, written, `/v1/contacts/${written.id}`);
  }

  @Patch(':id')
  @RequirePermission('contacts:write')
  async update(
    @CurrentAuth() auth: AuthContext,
    @CurrentRequestOrigin() origin: RequestOrigin,
    @Param('id', ParseIdPipe) id: string,
    @IfMatch({ required: true }) ifMatch: number,
    @Body(contactFieldsValidation) body: UpdateContactDto,
    @Res({ passthrough: true }) res: FastifyReply,
  ): Promise<ContactWritten> {
    const context = commandContext(auth, origin);
    const command = new UpdateContactCommand(context, auth.role, id, ifMatch, toContactInput(body));
    return withVersion(res, await this.commands.execute(command));
  }

  /** Archives (reversibly): 204, also when it was archived already. */
  @Delete(':id')
  @HttpCode(204)
  @RequirePermission('contacts:write')
  async archive(
    @CurrentAuth() auth: AuthContext,
    @CurrentRequestOrigin() origin: RequestOrigin,
    @Param('id', ParseIdPipe) id: string,
    @IfMatch() ifMatch: number | undefined,
  ): Promise<void> {
    const context = commandContext(auth, origin);
    await this.commands.execute(new ArchiveContactCommand(context, auth.role, id, ifMatch));
  }

  @Post(':id/unarchive')
  @HttpCode(200)
  @RequirePermission('contacts:write')
  async unarchive(
    @CurrentAuth() auth: AuthContext,
    @CurrentRequestOrigin() origin: RequestOrigin,
    @Param('id', ParseIdPipe) id: string,
    @IfMatch() ifMatch: number | undefined,
    @Res({ passthrough: true }) res: FastifyReply,
  ): Promise<ContactWritten> {
    const context = commandContext(auth, origin);
    const command = new UnarchiveContactCommand(context, auth.role, id, ifMatch);
    return withVersion(res, await this.commands.execute(command));
  }

  /**
   * GDPR erasure (crypto-shredding): 204, also when it was erased already. Afterwards the contact
   * answers 404 and its history shows `[erased]` values; nothing can decrypt it again.
   */
  @Post(':id/erase')
  @HttpCode(204)
  @RequirePermission('contacts:erase')
  async erase(
    @CurrentAuth() auth: AuthContext,
    @CurrentRequestOrigin() origin: RequestOrigin,
    @Param('id', ParseIdPipe) id: string,
    @IfMatch() ifMatch: number | undefined,
  ): Promise<void> {
    const context = commandContext(auth, origin);
    await this.commands.execute(new EraseContactCommand(context, auth.role, id, ifMatch));
  }

  /** Merges the body's `sourceId` into this contact; answers this contact's new version. */
  @Post(':id/merge')
  @HttpCode(200)
  @RequirePermission('contacts:write')
  async merge(
    @CurrentAuth() auth: AuthContext,
    @CurrentRequestOrigin() origin: RequestOrigin,
    @Param('id', ParseIdPipe) id: string,
    @IfMatch() ifMatch: number | undefined,
    @Body(bodyValidation) body: MergeContactsDto,
    @Res({ passthrough: true }) res: FastifyReply,
  ): Promise<ContactWritten> {
    const context = commandContext(auth, origin);
    const command = new MergeContactsCommand(context, auth.role, id, body.sourceId, ifMatch);
    return withVersion(res, await this.commands.execute(command));
  }

  /** Answers the interaction's id and the contact's new version. */
  @Post(':id/interactions')
  @RequirePermission('contacts:write')
  async logInteraction(
    @CurrentAuth() auth: AuthContext,
    @CurrentRequestOrigin() origin: RequestOrigin,
    @Param('id', ParseIdPipe) id: string,
    @IfMatch() ifMatch: number | undefined,
    @Body(bodyValidation) body: LogInteractionDto,
    @Res({ passthrough: true }) res: FastifyReply,
  ): Promise<ContactWritten> {
    const context = commandContext(auth, origin);
    const interaction = { ...toInteractionInput(body), type: body.type };
    const command = new LogInteractionCommand(context, auth.role, id, ifMatch, interaction);
    const written = await this.commands.execute(command);
    return withVersion(res, written, `/v1/contacts/${id}/interactions/${written.id}`);
  }

  /** If-Match names the contact's version, as for any change to the contact. */
  @Patch(':id/interactions/:interactionId')
  @RequirePermission('contacts:write')
  async updateInteraction(
    @CurrentAuth() auth: AuthContext,
    @CurrentRequestOrigin() origin: RequestOrigin,
    @Param('id', ParseIdPipe) id: string,
    @Param('interactionId', ParseIdPipe) interactionId: string,
    @IfMatch({ required: true }) ifMatch: number,
    @Body(bodyValidation) body: UpdateInteractionDto,
    @Res({ passthrough: true }) res: FastifyReply,
  ): Promise<ContactWritten> {
    const context = commandContext(auth, origin);
    const changes = toInteractionInput(body);
    const command = new UpdateInteractionCommand(
      context,
      auth.role,
      id,
      interactionId,
      ifMatch,
      changes,
    );
    return withVersion(res, await this.commands.execute(command));
  }

  @Delete(':id/interactions/:interactionId')
  @HttpCode(204)
  @RequirePermission('contacts:write')
  async removeInteraction(
    @CurrentAuth() auth: AuthContext,
    @CurrentRequestOrigin() origin: RequestOrigin,
    @Param('id', ParseIdPipe) id: string,
    @Param('interactionId', ParseIdPipe) interactionId: string,
    @IfMatch() ifMatch: number | undefined,
  ): Promise<void> {
    const context = commandContext(auth, origin);
    const command = new RemoveInteractionCommand(context, auth.role, id, interactionId, ifMatch);
    await this.commands.execute(command);
  }
}
