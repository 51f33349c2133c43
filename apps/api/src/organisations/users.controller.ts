import { Body, Controller, Get, HttpCode, Param, Patch, Post } from '@nestjs/common';
import { CommandBus, QueryBus } from '@nestjs/cqrs';
import { ApiTags } from '@nestjs/swagger';
import type { AuthContext } from '../auth/auth-context';
import { CurrentAuth, RequirePermission } from '../auth/auth.decorators';
import { AddUserCommand } from './add-user/add-user.command';
import { AddUserDto } from './add-user/add-user.dto';
import { commandContext } from './command-context';
import { DeactivateUserCommand } from './deactivate-user/deactivate-user.command';
import { ListUsersQuery } from './list-users/list-users.query';
import { ReactivateUserCommand } from './reactivate-user/reactivate-user.command';
import { bodyValidation, ParseIdPipe } from '../http/validation';
import { CurrentRequestOrigin, type RequestOrigin } from './request-origin.decorator';
import { UpdateUserCommand } from './update-user/update-user.command';
import { UpdateUserDto } from './update-user/update-user.dto';

@ApiTags('users')
@Controller('v1/users')
export class UsersController {
  constructor(
    private readonly commands: CommandBus,
    private readonly queries: QueryBus,
  ) {}

  @Get()
  @RequirePermission('users:manage')
  list(@CurrentAuth() auth: AuthContext) {
    return this.queries.execute(new ListUsersQuery(auth));
  }

  @Post()
  @RequirePermission('users:manage')
  add(
    @CurrentAuth() auth: AuthContext,
    @CurrentRequestOrigin() origin: RequestOrigin,
    @Body(bodyValidation) body: AddUserDto,
  ) {
    const { email, name, role, password } = body;
    return this.commands.execute(
      new AddUserCommand(commandContext(auth, origin), email, name, role, password),
    );
  }

  @Patch(':id')
  @RequirePermission('users:manage')
  update(
    @CurrentAuth() auth: AuthContext,
    @CurrentRequestOrigin() origin: RequestOrigin,
    @Param('id', ParseIdPipe) id: string,
    @Body(bodyValidation) body: UpdateUserDto,
  ) {
    const changes = { role: body.role, name: body.name };
    return this.commands.execute(new UpdateUserCommand(commandContext(auth, origin), id, changes));
  }

  @Post(':id/deactivate')
  @HttpCode(204)
  @RequirePermission('users:manage')
  async deactivate(
    @CurrentAuth() auth: AuthContext,
    @CurrentRequestOrigin() origin: RequestOrigin,
    @Param('id', ParseIdPipe) id: string,
  ): Promise<void> {
    await this.commands.execute(new DeactivateUserCommand(commandContext(auth, origin), id));
  }

  @Post(':id/reactivate')
  @HttpCode(204)
  @RequirePermission('users:manage')
  async reactivate(
    @CurrentAuth() auth: AuthContext,
    @CurrentRequestOrigin() origin: RequestOrigin,
    @Param('id', ParseIdPipe) id: string,
  ): Promise<void> {
    await this.commands.execute(new ReactivateUserCommand(commandContext(auth, origin), id));
  }
}
