import { Body, Controller, Delete, Get, HttpCode, Param, Post } from '@nestjs/common';
import { CommandBus, QueryBus } from '@nestjs/cqrs';
import { ApiTags } from '@nestjs/swagger';
import type { AuthContext } from '../auth/auth-context';
import { CurrentAuth, RequirePermission } from '../auth/auth.decorators';
import { commandContext } from './command-context';
import { IssueApiKeyCommand } from './issue-api-key/issue-api-key.command';
import { IssueApiKeyDto } from './issue-api-key/issue-api-key.dto';
import { ListApiKeysQuery } from './list-api-keys/list-api-keys.query';
import { bodyValidation, ParseIdPipe } from '../http/validation';
import { CurrentRequestOrigin, type RequestOrigin } from './request-origin.decorator';
import { RevokeApiKeyCommand } from './revoke-api-key/revoke-api-key.command';

@ApiTags('api-keys')
@Controller('v1/api-keys')
export class ApiKeysController {
  constructor(
    private readonly commands: CommandBus,
    private readonly queries: QueryBus,
  ) {}

  @Get()
  @RequirePermission('apikeys:manage')
  list(@CurrentAuth() auth: AuthContext) {
    return this.queries.execute(new ListApiKeysQuery(auth));
  }

  @Post()
  @RequirePermission('apikeys:manage')
  issue(
    @CurrentAuth() auth: AuthContext,
    @CurrentRequestOrigin() origin: RequestOrigin,
    @Body(bodyValidation) body: IssueApiKeyDto,
  ) {
    const expiresAt = body.expiresAt ? new Date(body.expiresAt).toISOString() : null;
    return this.commands.execute(
      new IssueApiKeyCommand(commandContext(auth, origin), body.name, body.role, expiresAt),
    );
  }

  @Delete(':id')
  @HttpCode(204)
  @RequirePermission('apikeys:manage')
  async revoke(
    @CurrentAuth() auth: AuthContext,
    @CurrentRequestOrigin() origin: RequestOrigin,
    @Param('id', ParseIdPipe) id: string,
  ): Promise<void> {
    await this.commands.execute(new RevokeApiKeyCommand(commandContext(auth, origin), id));
  }
}
