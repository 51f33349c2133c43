import { Controller, Get, Header } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import type { Permission, Role } from '@beecastle/domain';
import type { AuthContext, AuthProfile } from '../auth-context';
import { CurrentAuth } from '../auth.decorators';

export interface MeResponse extends AuthProfile {
  readonly role: Role;
  readonly permissions: readonly Permission[];
}

/**
 * Who the credential says the caller is, as of this request. For an API key, `user` is the key's
 * creator (whose membership the key's authority rests on and is capped by) and `apiKey` names the
 * key itself, which is the actor recorded on changes made with it; `role` is the key's.
 */
@ApiTags('auth')
@Controller('v1/me')
export class MeController {
  @Get()
  @Header('Cache-Control', 'no-store')
  me(@CurrentAuth() auth: AuthContext): MeResponse {
    if (!auth.profile) throw new Error('The guard chain established no profile');
    return { ...auth.profile, role: auth.role, permissions: auth.permissions };
  }
}
